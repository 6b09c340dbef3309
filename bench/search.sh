#!/usr/bin/env bash
# Claims (search issue), side by side in one run on this machine, against SQLite FTS5 (bm25(),
# in process through Python's sqlite3, one transaction per load):
#   (a) relevance on Cranfield (1,400 abstracts, 225 judged queries): nDCG@10 and MAP of the
#       index's default configuration and of FTS5 with its porter tokenizer and the same
#       column weights (goal: above FTS5);
#   (b) indexing documents/s: the documents POSTed as JSON in batches of BATCH (durable when
#       answered) against FTS5 inserts (goal: faster than FTS5);
#   (c) query latency p50/p99 over QUERIES queries of one to three words drawn from the corpus,
#       at DOCS documents of Debian's package descriptions and changelog entries: the engine's
#       took_ms, the HTTP round trip, and FTS5's in-process time (goal: p99 < 10 ms).
#   bench/search.sh        (DOCS=100000 BATCH=5000 QUERIES=1000)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/search.py "$@"
