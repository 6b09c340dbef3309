#!/usr/bin/env bash
# Claim (failpoints issue): failpoints cost nothing measurable on the hot paths. The same source
# built twice: build/aimass (failpoints in, as shipped) and a build with -DAIMASS_FAILPOINTS=OFF
# (every point compiled to a constant 0), side by side in one run:
#   gateway  user-space instructions per proxied request, counted by callgrind
#            (bench/gateway_callgrind.sh on each binary; deterministic, so any difference is real)
#   mq       publish and end-to-end msgs/s through the gRPC streams (aimass-mq-load) on a topic
#            with fsync `interval` and one with `always` (the append and fsync points sit on this
#            path), ROUNDS alternating rounds per binary; medians and the with/without ratio.
#   cmake -S . -B build-nofp -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIMASS_FAILPOINTS=OFF \
#     -DAIMASS_TESTS=OFF && cmake --build build-nofp --target aimass
#   bench/failpoints.sh                 (ROUNDS=5, MESSAGES=100000, SKIP_CALLGRIND=1 to skip it)
set -euo pipefail
cd "$(dirname "$0")/.."

WITH=${AIMASS_BIN:-build/aimass}
WITHOUT=${NOFP_BIN:-build-nofp/aimass}
LOAD=${LOAD_BIN:-build/aimass-mq-load}
ROUNDS=${ROUNDS:-5}
MESSAGES=${MESSAGES:-100000}
PY=/usr/bin/python3
for tool in "$WITH" "$WITHOUT" "$LOAD" curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (see the header of this script)" >&2; exit 1; }
done
source bench/common.sh
bench_start failpoints

echo "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "with: $WITH   without: $WITHOUT"
if [[ -z ${SKIP_CALLGRIND:-} ]]; then
  count() { AIMASS_BIN="$1" bench/gateway_callgrind.sh | sed -n 's/.*per proxied request: \([0-9]*\).*/\1/p'; }
  gw_with=$(count "$WITH")
  gw_without=$(count "$WITHOUT")
  echo "gateway instructions per proxied request: with $gw_with, without $gw_without, ratio $($PY -c "print(f'{$gw_with / $gw_without:.4f}')")"
fi

start() {  # NAME BINARY -> sets port_NAME, grpc_NAME, token_NAME
  local port grpc
  port=$(free_port)
  grpc=$(free_port)
  AIMASS_ADMIN_PASSWORD=bench-password-1 "$2" server --listen "127.0.0.1:$port" --grpc-listen "127.0.0.1:$grpc" \
    --data-dir "$work/$1" --log-level warn --set log.access=false --set scheduler.enabled=false >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/readyz" "$work/$1.log"
  printf -v "port_$1" %s "$port"
  printf -v "grpc_$1" %s "$grpc"
  printf -v "token_$1" %s "$(curl -sf "http://127.0.0.1:$port/api/v1/auth/login" \
    -d '{"username":"admin","password":"bench-password-1"}' | $PY -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
}
start with "$WITH"
start without "$WITHOUT"

results="$work/results"
: >"$results"
num() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }
round() {  # NAME FSYNC
  local port=port_$1 grpc=grpc_$1 token=token_$1 topic="fp-$2-$RANDOM$RANDOM" line
  for path in topics subscriptions; do
    body="{\"name\":\"$topic\",\"partitions\":1,\"fsync\":\"$2\"}"
    [[ $path == subscriptions ]] && body="{\"name\":\"$topic-sub\",\"topic\":\"$topic\"}"
    curl -sf -X POST "http://127.0.0.1:${!port}/api/v1/mq/$path" -H "Authorization: Bearer ${!token}" -d "$body" >/dev/null
  done
  line=$("$LOAD" --system aimass --target "127.0.0.1:${!grpc}" --token "${!token}" --topic "$topic" \
    --subscription "$topic-sub" --producers 4 --consumers 4 --messages "$MESSAGES" --size 100 --batch 64 \
    --window 8 2>"$work/load.err" | grep '^MQLOAD ') || { echo "load failed:" >&2; cat "$work/load.err" >&2; exit 1; }
  echo "$1 $2 $(num publish_rps "$line") $(num e2e_rps "$line")" | tee -a "$results"
}
for r in $(seq "$ROUNDS"); do
  for fsync in interval always; do
    # Alternate which binary goes first, so that drift in the machine falls on both.
    if ((r % 2)); then round with "$fsync"; round without "$fsync"; else round without "$fsync"; round with "$fsync"; fi
  done
done

"$PY" - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, fsync, pub, e2e = line.split()
    rows.setdefault((name, fsync), []).append((float(pub), float(e2e)))
for fsync in ("interval", "always"):
    w, o = rows[("with", fsync)], rows[("without", fsync)]
    mw, mo = [statistics.median(x[i] for x in w) for i in (0, 1)], [statistics.median(x[i] for x in o) for i in (0, 1)]
    print(f"mq {fsync:8}: publish/s median with {mw[0]:.0f}, without {mo[0]:.0f}, ratio {mw[0] / mo[0]:.3f}; "
          f"end-to-end with {mw[1]:.0f}, without {mo[1]:.0f}, ratio {mw[1] / mo[1]:.3f}  ({len(w)} rounds each)")
PY
