#!/usr/bin/env bash
# Claims (assist issue), measured in one run on this machine:
#   (a) CLINC150 (data_full): a bot defined through the API from the train and val parts (with
#       their out-of-scope examples as the out_of_scope intent), trained as a pipeline run, then
#       asked the test part: in-scope accuracy and out-of-scope recall (goals: >= 93.5 and >= 50),
#       the training time (goal: under five minutes on 2 cores), and the same for bots limited to
#       each classifier kind (linear, fasttext) and for a TF-IDF + logistic regression baseline
#       computed here;
#   (b) messages through the API to the trained bot: p50/p99 latency of one client sending
#       LATENCY_MESSAGES messages one after another (goal: p99 < 10 ms), and messages per second
#       with wrk (CONNECTIONS connections for SECONDS s, goal: 1,000/s);
#   (c) VOICE_MESSAGES in-scope test messages said by espeak-ng and sent as WAV: the intent
#       accuracy by voice against the same messages as text, transcripts right word for word,
#       and the latency.
#   bench/assist.sh        (LATENCY_MESSAGES=2000 CONNECTIONS=16 SECONDS=20 VOICE_MESSAGES=200)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/assist.py "$@"
