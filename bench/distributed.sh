#!/usr/bin/env bash
# Claims (distributed-mode issue), one run on this machine: the path through several processes
# works and what its hop costs, not scaling (two cores run everything here).
#   Inference (TorchScript CNN, OIP v2 JSON, wrk closed loop) to:
#     (a) the monolith (SQLite, every module in one process), asked directly;
#     (b) one serving process of the distributed layout (PostgreSQL), asked directly;
#     (c) a gateway process in front of that one serving process;
#     (d) a gateway process in front of two serving processes.
#   Rows at concurrency 1 (latency: the hop's added p50/p99 = (c) - (b), against (a)) and 8
#   (throughput). Each row runs ROUNDS times, interleaved; medians are quoted.
#   Registry writes (bench/distributed_registry.py, THREADS clients): model creations/s and
#   version pushes/s on the monolith's SQLite against a registry process on PostgreSQL.
#   bench/distributed.sh                       (DURATION=5 s per row, ROUNDS=3, REG_SECONDS=5, THREADS=4)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
REG_SECONDS=${REG_SECONDS:-5}
THREADS=${THREADS:-4}
AIMASS=$(realpath "${AIMASS_BIN:-build/aimass}")
PY=/usr/bin/python3
PASSWORD=bench-password-1
SECRET=bench-distributed-secret-bench-distributed-0123456789
for tool in wrk "$AIMASS" "$PY" curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps --bench and make build" >&2; exit 1; }
done

source bench/common.sh
bench_start distributed
# PostgreSQL runs as its own user (never root): its directory sits outside $work, which is 0700.
pgdir=$(mktemp -d /tmp/bench-pg.XXXXXX)
trap 'bench_cleanup; scripts/test-postgres stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$pgdir"' EXIT
m=$work/models
mkdir -p "$m"
"$PY" bench/serving_model.py "$m" >/dev/null

dsn=$(scripts/test-postgres start "$pgdir")
dist_env=(AIMASS_STORAGE_DRIVER=postgres "AIMASS_STORAGE_DSN=$dsn" "AIMASS_STORAGE_BLOB_DIR=$work/blobs"
          "AIMASS_AUTH_JWT_SECRET=$SECRET" AIMASS_ADMIN_PASSWORD=$PASSWORD AIMASS_LOG_ACCESS=false)

# start NAME ARGS…: an aimass server on a free port; sets port_NAME.
start() {
  local name=$1
  shift
  local port
  port=$(free_port)
  env "$@" "$AIMASS" server --listen "127.0.0.1:$port" --grpc-listen "127.0.0.1:$(free_port)" \
    --data-dir "$work/$name" >"$work/$name.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/readyz" "$work/$name.log"
  printf -v "port_$name" '%s' "$port"
}

start mono AIMASS_ADMIN_PASSWORD=$PASSWORD AIMASS_LOG_ACCESS=false "AIMASS_AUTH_JWT_SECRET=$SECRET"
start rs1 "${dist_env[@]}" AIMASS_TARGET=registry,serving
start gw1 "${dist_env[@]}" AIMASS_TARGET=gateway
mono=http://127.0.0.1:$port_mono rs1=http://127.0.0.1:$port_rs1 gw1=http://127.0.0.1:$port_gw1

sig='{"inputs":[{"name":"x","datatype":"FP32","shape":[-1,1,28,28]}],"outputs":[{"name":"output__0","datatype":"FP32","shape":[-1,10]}]}'
for url in "$mono" "$rs1"; do
  token=$("$PY" bench/serving_setup.py login "$url" "$PASSWORD")
  "$PY" bench/serving_setup.py push "$url" "$token" cnn "$m/cnn.pt" "$sig"
  "$PY" bench/serving_setup.py deploy "$url" "$token" '{"name":"cnn","model":"cnn","version":1}'
done
# One admin per database: a token of the monolith's is not one of the distributed layout's.
tok_mono=$("$PY" bench/serving_setup.py login "$mono" "$PASSWORD")
tok_dist=$("$PY" bench/serving_setup.py login "$gw1" "$PASSWORD")
token_for() { [[ $1 == "$mono" ]] && echo "$tok_mono" || echo "$tok_dist"; }
for url in "$mono" "$rs1" "$gw1"; do "$PY" bench/serving_setup.py check "$url" "$(token_for "$url")" cnn "$m" cnn json >/dev/null; done

# row NAME CONCURRENCY URL: one wrk run; appends "NAME c rps p50 p99" to $work/rows.
row() {
  local line
  line=$(BODY_FILE=$m/cnn.json TOKEN=$(token_for "$3") wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"${DURATION}s" --timeout 10s \
    -s bench/serving_request.lua "$3/v2/models/cnn/infer" 2>&1 | grep '^WRK ')
  [[ $line =~ errors=([0-9]+)\ non2xx=([0-9]+)\ rps=([0-9.]+)\ p50_us=([0-9]+)\ p99_us=([0-9]+) ]] || { echo "wrk: $line" >&2; exit 1; }
  (( BASH_REMATCH[1] + BASH_REMATCH[2] == 0 )) || { echo "row $1 c=$2 had errors: $line" >&2; exit 1; }
  echo "$1 $2 ${BASH_REMATCH[3]} ${BASH_REMATCH[4]} ${BASH_REMATCH[5]}" >>"$work/rows"
}

rounds() {  # rounds NAME:URL…  (each round in a rotated order)
  local rows=("$@") n=$#
  for ((r = 0; r < ROUNDS; r++)); do
    for c in 1 8; do
      for ((k = 0; k < n; k++)); do
        local spec=${rows[(k + r) % n]}
        row "${spec%%=*}" "$c" "${spec#*=}"
      done
    done
  done
}

rounds "a-monolith=$mono" "b-serving-direct=$rs1" "c-gateway-1-serving=$gw1"
start rs2 "${dist_env[@]}" AIMASS_TARGET=registry,serving
# The second serving process loads the deployment from the database; the gateway finds it.
for _ in $(seq 100); do
  [[ $(curl -s "http://127.0.0.1:$port_gw1/api/v1/gateway/services" -H "Authorization: Bearer $tok_dist" |
       "$PY" -c 'import sys,json; d=json.load(sys.stdin); print(sum(len(s["instances"]) for s in d["services"] if s["name"]=="aimass-serving"))') == 2 ]] && break
  sleep 0.2
done
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$port_rs2/v2/models/cnn/ready" -H "Authorization: Bearer $tok_dist" && break
  sleep 0.2
done
sleep 2  # the gateway's next refresh routes to it
rounds "d-gateway-2-serving=$gw1"

echo
echo "inference, TorchScript CNN, JSON; medians over $ROUNDS rounds of ${DURATION}s (machine: $(nproc) cores)"
"$PY" - "$work/rows" <<'PYEOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, c, rps, p50, p99 = line.split()
    rows.setdefault((name, int(c)), []).append((float(rps), int(p50), int(p99)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
print(f"{'row':24} {'conc':>4} {'req/s':>9} {'p50 µs':>8} {'p99 µs':>8}")
for (name, c), (rps, p50, p99) in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{name:24} {c:>4} {rps:>9.1f} {p50:>8.0f} {p99:>8.0f}")
b, cc, a = med[("b-serving-direct", 1)], med[("c-gateway-1-serving", 1)], med[("a-monolith", 1)]
print(f"hop added at concurrency 1: p50 {cc[1] - b[1]:.0f} µs, p99 {cc[2] - b[2]:.0f} µs "
      f"(gateway -> serving vs serving direct); vs the monolith: p50 {cc[1] - a[1]:.0f} µs, p99 {cc[2] - a[2]:.0f} µs")
for c in (8,):
    d, g1, mono = med[("d-gateway-2-serving", c)], med[("c-gateway-1-serving", c)], med[("a-monolith", c)]
    print(f"throughput at concurrency {c}: gateway->1 serving {g1[0] / mono[0]:.2f}x the monolith, "
          f"gateway->2 serving {d[0] / mono[0]:.2f}x the monolith, {d[0] / g1[0]:.2f}x gateway->1")
PYEOF

echo
echo "registry writes, $THREADS clients, ${REG_SECONDS}s each"
echo "sqlite (monolith):   $("$PY" bench/distributed_registry.py "$mono" "$tok_mono" "$m/trivial.pt" "$THREADS" "$REG_SECONDS")"
echo "postgres (registry): $("$PY" bench/distributed_registry.py "$rs1" "$tok_dist" "$m/trivial.pt" "$THREADS" "$REG_SECONDS")"
