#!/usr/bin/env bash
# Claims (datasets issue), side by side in one run on this machine:
#   (a) loading online_retail.csv (541,909 rows, 45 MB) into a dataset version — upload, parse,
#       schema inference, columnar write, profile — against SQLite's `.import --csv` of the same
#       file into a fresh database (goal: faster than the import alone, profile included);
#   (b) profiling 1,000,000 rows × 20 columns (8 integer, 6 float, 3 categorical, 2 string,
#       1 timestamp, some missing) against pandas' describe(include="all") + nunique() +
#       quantile() on the same data, already loaded on both sides (goal >= 3x);
#   (c) HTTP push ingest rows/s with a durable acknowledgement (POST /api/v1/collect, fsynced to
#       the collector's spool), and until the rows are in dataset versions (goal >= 100,000 rows/s).
# Medians of REPS runs (default 5 for a, 3 for b).
#   bench/datasets.sh        (REPS=5 PROFILE_REPS=3 ROWS=1000000 CLIENTS=4 BATCH=1000 SECONDS=10)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/datasets.py "$@"
