#!/usr/bin/env bash
# Claims (tracking issue), side by side in one run on this machine:
#   (a) metric points logged per second through POST /api/v1/runs/{id}/log, acknowledged only
#       once durable (CLIENTS connections, BATCH points per call), against the same points
#       inserted into SQLite (WAL, synchronous=FULL) in one transaction per batch, into a table
#       keyed as MLflow's SQL store keys its metrics (goal >= 200,000 points/s);
#   (b) run search with a filter on a param and a metric, 100 runs a page, p50/p99 over QUERIES
#       queries at RUNS runs (created and logged through the API), against the same query as
#       MLflow's SQL store builds it on its own schema in SQLite, in process (goal p99 < 100 ms).
#   bench/tracking.sh        (CLIENTS=4 BATCH=10000 SECONDS=10 RUNS=200000 QUERIES=200)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/tracking.py "$@"
