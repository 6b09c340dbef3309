#!/usr/bin/env bash
# Claims (issue 39: language-model serving), side by side in one run on this machine: a ~100M-
# parameter Llama-shaped decoder with random F32 weights (hidden 768, intermediate 2048, 12 layers,
# 12 heads, 4 KV heads, vocab_size 16000, untied; made by tests/e2e/llm_model.py and kept in WORK)
# served by an `aimass server` on loopback with its own data directory (a registry version of
# framework llm, deployed with llm.threads=THREADS), through POST /v1/completions, against the
# same weights run by llm_model.Reference (plain PyTorch, torch.set_num_threads(THREADS)):
#   (a) single-stream decode tokens/s (16-token prompt, 128 tokens, greedy, ignore_eos, streamed:
#       tokens after the first / time from the first token event to the last); goal >= 2x PyTorch's
#       greedy decode with its KV cache;
#   (b) aggregate tokens/s of STREAMS (16) concurrent streams of 128 tokens (different 16-token
#       prompts; all generated tokens / first request sent to last answer); goal >= 4x PyTorch's
#       static batch of 16 (prefill + 127 decode steps with the cache);
#   (c) time to first token of a 512-token prompt (max_tokens 1, streamed) against PyTorch's
#       forward pass of that prompt;
#   (d) (a) again on a second deployment with llm.int8=true;
#   the read bandwidth of this machine (torch on THREADS threads over a 1 GiB float32 tensor: its
#   sum, and torch.mv with it as a 16384 x 16384 matrix; the best of BW_REPEAT runs of either) and
#   the fraction of it that decoding uses (weight bytes per token x tokens/s; goal >= 50%); and correctness: AI Mass's greedy tokens (32, prompt as token ids) against the
#   reference's (token pieces and log-probabilities step by step; exit 1 if they differ);
#   then a summary block for docs/benchmarks.md (machine, date, command, medians, ratios).
# Results on stdout, progress on stderr. The server and the run's directory go on exit (KEEP=1 keeps it).
#   bench/llm.sh
#   AIMASS_BIN=build/aimass REPEAT=3 THREADS=2 STREAMS=16 MAX_TOKENS=128 PROMPT_TOKENS=16 LONG_PROMPT=512
#   CHECK_TOKENS=32 KV_CACHE_MB=1024 BW_REPEAT=7 SEED=0 WORK=/tmp/aimass-bench-llm (the model's files are kept
#   there) KEEP=1 QUIET_WAIT_S=300 QUIET_CORES=0.3 (before each timed run, wait up to that long for other processes
#   to use under that many cores; "others" in the output says how busy the machine was during each run)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
run_python_bench llm bench/llm.py "$@"
