#!/usr/bin/env bash
# Claims (issue 3): a search over 100,000 versions answers well under 50 ms, and uploading a
# 500 MB artifact runs at >= 0.7x the speed of copying the same file on the same disk.
#   bench/registry.sh            (MODELS=1000 VERSIONS=100 QUERIES=100 SIZE_MB=500)
# The 100,000 versions are loaded straight into the metadata store with the server stopped
# (a fixture: loading them through uploads would take most of an hour on 2 cores); every
# measurement then goes through the HTTP API of a running server.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-1000} VERSIONS=${VERSIONS:-100} QUERIES=${QUERIES:-100} SIZE_MB=${SIZE_MB:-500}
AIMASS=${AIMASS_BIN:-build/aimass}
work=$(mktemp -d -p "${BENCH_DIR:-$PWD}" bench-registry.XXXXXX)
pid=""
cleanup() { [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() {
  AIMASS_ADMIN_PASSWORD=bench-password-1 "$AIMASS" server --listen "127.0.0.1:$port" \
    --data-dir "$work/data" --log-level warn --set log.access=false >>"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start" >&2; cat "$work/server.log" >&2; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid"; pid=""; }

start; stop   # creates the schema
/usr/bin/python3 bench/registry_load.py "$work/data/metadata.db" "$MODELS" "$VERSIONS"
start
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); disk: $(df -h "$work" | awk 'NR==2{print $1}')"
/usr/bin/python3 bench/registry_measure.py "http://127.0.0.1:$port" "$QUERIES" "$SIZE_MB" "$work"
