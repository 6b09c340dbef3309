#!/usr/bin/env bash
# Claims (cube issue), side by side in one run on this machine, on the same ROWS rows (UCI Online Retail
# repeated with shifted dates, customers and invoices: bench/cube_data.py) and the same 15 queries
# (group-bys from ~38 to ~80,000 groups, filters, count distinct, time rollups, top-N, a ratio), every
# answer checked equal across the three: the cube's query on its base table (cube.threads=2, took_ms)
# (a) >= 20x faster than SQLite in process (Python's sqlite3) and (b) within 2x of DuckDB in process
# (@duckdb/node-api, threads=2) on the median query; (c) with pre-aggregations, p99 < 10 ms.
#   bench/cube.sh     (ROWS=10000000 REPEAT=5 WORK=/tmp/aimass-bench-cube KEEP=1 keeps the server's data)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/cube.py "$@"
