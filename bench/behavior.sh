#!/usr/bin/env bash
# Claims (behavior issue 36), side by side in one run on this machine, on the same EVENTS events (a seeded
# product-analytics shape: bench/behavior_data.py, cached under /tmp/aimass-bench-behavior): (a) capture
# acknowledged durable (behavior.fsync=always) at >= 100,000 events/s (CAPTURE_THREADS=8 keep-alive clients,
# CAPTURE_BATCH=2000 events a request, bodies made beforehand); (b) a funnel of four steps, a 12-week
# first-time retention table and a weekly lifecycle each under one second at 10M events, >= 10x SQLite
# (Python's sqlite3, in process) and within 2x of DuckDB (@duckdb/node-api, in process, threads=2), the same
# questions written in SQL to docs/guide/behavior.md's definitions, every answer checked equal across the three.
#   bench/behavior.sh [EVENTS]     (default 10000000; 1000000 for a quick run)
#   REPEAT=5 WORK=/tmp/aimass-bench-behavior KEEP=1 (keeps the server's data) SQLITE_BUDGET_S=120 (per query:
#   no further SQLite runs once past it) FSYNC=never (for comparison: not the claim) AIMASS_BIN=build/aimass
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/behavior.py "$@"
