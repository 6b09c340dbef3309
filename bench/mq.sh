#!/usr/bin/env bash
# Claims (message-queue issue), one run, the same load (aimass-mq-load: PRODUCERS producers and
# CONSUMERS consumers, MESSAGES messages of 100 B and of 1 KB, batches of BATCH with WINDOW
# unanswered) through:
#   aimass   a topic with fsync `interval` (acked after write, synced every 100 ms) and one with
#            `always` (acked after an fdatasync), over the gRPC streams;
#   redis    Streams (XADD / XREADGROUP / XACK) with appendonly, appendfsync everysec and always;
#   nats     nats-server -js, JetStream file storage, a durable pull consumer with explicit acks.
# Prints publish and end-to-end msgs/s, p50/p99 end-to-end latency and the ratios. Goals:
# aimass >= 1.0x Redis Streams at the same durability (interval vs everysec, always vs
# always), >= 0.5x JetStream. The compared aimass topics have one partition, as a Redis stream
# and a JetStream stream are one ordered log each; rows with WIDE partitions follow for
# information (each partition is its own file: under `always`, its own fdatasync), and so does
# aimass-on-jetstream: a second aimass with mq.driver=jetstream on the same nats-server.
#   bench/mq.sh                       (MESSAGES=200000, PRODUCERS=4, CONSUMERS=4, PARTITIONS=1, WIDE=4)
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${MESSAGES:-200000}
PRODUCERS=${PRODUCERS:-4}
CONSUMERS=${CONSUMERS:-4}
BATCH=${BATCH:-64}
WINDOW=${WINDOW:-8}
PARTITIONS=${PARTITIONS:-1}
WIDE=${WIDE:-4}
SIZES=${SIZES:-"100 1024"}
AIMASS=${AIMASS_BIN:-build/aimass}
LOAD=${LOAD_BIN:-build/aimass-mq-load}
PY=/usr/bin/python3
for tool in redis-server nats-server "$AIMASS" "$LOAD" curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps --bench and make build" >&2; exit 1; }
done

source bench/common.sh
bench_start mq

# --- the peers ------------------------------------------------------------------------------
redis_start() {  # NAME APPENDFSYNC PORT
  mkdir -p "$work/$1"
  redis-server --port "$3" --bind 127.0.0.1 --dir "$work/$1" --appendonly yes --appendfsync "$2" \
    --save "" --daemonize no --logfile "$work/$1/redis.log" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$3" ping >/dev/null 2>&1 && break; sleep 0.1; done
}
redis_everysec=$(free_port)
redis_always=$(free_port)
redis_start redis-everysec everysec "$redis_everysec"
redis_start redis-always always "$redis_always"
nats_port=$(free_port)
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$nats_port") 2>/dev/null && break; sleep 0.1; done

# --- aimass ---------------------------------------------------------------------------------
a_port=$(free_port)
g_port=$(free_port)
AIMASS_ADMIN_PASSWORD=bench-password-1 "$AIMASS" server --listen "127.0.0.1:$a_port" --grpc-listen "127.0.0.1:$g_port" \
  --data-dir "$work/aimass" --log-level warn --set log.access=false >"$work/aimass.log" 2>&1 &
pids+=($!)
a="http://127.0.0.1:$a_port"
wait_http "$a/readyz" "$work/aimass.log"
login() { curl -sf "$1/api/v1/auth/login" -d '{"username":"admin","password":"bench-password-1"}' |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }
token=$(login "$a")
api() {  # PATH BODY [BASE TOKEN]
  curl -sf -X POST "${3:-$a}$1" -H "Authorization: Bearer ${4:-$token}" -d "$2" >/dev/null || { echo "setup $1 failed" >&2; exit 1; }
}

# A second aimass with mq.driver=jetstream on the same nats-server, for information: what the
# platform's layer (HTTP/gRPC, auth, delays, dead letters) costs over JetStream itself.
j_port=$(free_port)
jg_port=$(free_port)
AIMASS_ADMIN_PASSWORD=bench-password-1 "$AIMASS" server --listen "127.0.0.1:$j_port" --grpc-listen "127.0.0.1:$jg_port" \
  --data-dir "$work/aimass-js" --log-level warn --set log.access=false --set mq.driver=jetstream \
  --set "mq.nats_url=nats://127.0.0.1:$nats_port" --set mq.jetstream_prefix=BENCH >"$work/aimass-js.log" 2>&1 &
pids+=($!)
j="http://127.0.0.1:$j_port"
wait_http "$j/readyz" "$work/aimass-js.log"
jtoken=$(login "$j")

echo "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(redis-server --version | cut -d' ' -f1-3); nats-server $(nats-server --version | sed 's/.*v//')"
echo "load: $MESSAGES messages per row, $PRODUCERS producers, $CONSUMERS consumers, batches of $BATCH, $WINDOW batches in flight; aimass topics have $PARTITIONS partition(s), the -${WIDE}p rows $WIDE"
echo
results="$work/results"
: >"$results"
num() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }
row() {  # NAME SIZE SYSTEM TARGET [TOPIC TOKEN]
  local line topic=${5:-bench$RANDOM$RANDOM}
  line=$("$LOAD" --system "$3" --target "$4" --token "${6:-$token}" --topic "$topic" --subscription "$topic-sub" \
    --producers "$PRODUCERS" --consumers "$CONSUMERS" --messages "$MESSAGES" --size "$2" --batch "$BATCH" \
    --window "$WINDOW" 2>"$work/load.err" | grep '^MQLOAD ') || { echo "$1: load failed:" >&2; cat "$work/load.err" >&2; exit 1; }
  printf "%-24s %6s %12.0f %12.0f %9s %9s\n" "$1" "$2" "$(num publish_rps "$line")" "$(num e2e_rps "$line")" \
    "$(num p50_us "$line")" "$(num p99_us "$line")"
  echo "$1 $2 $(num publish_rps "$line") $(num e2e_rps "$line") $(num p50_us "$line") $(num p99_us "$line")" >>"$results"
}
aimass_row() {  # NAME SIZE FSYNC [PARTITIONS]
  local topic="bench-$3-$2-$RANDOM"
  api /api/v1/mq/topics "{\"name\":\"$topic\",\"partitions\":${4:-$PARTITIONS},\"fsync\":\"$3\"}"
  api /api/v1/mq/subscriptions "{\"name\":\"$topic-sub\",\"topic\":\"$topic\"}"
  row "$1" "$2" aimass "127.0.0.1:$g_port" "$topic"
}
jetstream_row() {  # NAME SIZE
  local topic="bench-js-$2-$RANDOM"
  api /api/v1/mq/topics "{\"name\":\"$topic\",\"partitions\":$PARTITIONS}" "$j" "$jtoken"
  api /api/v1/mq/subscriptions "{\"name\":\"$topic-sub\",\"topic\":\"$topic\"}" "$j" "$jtoken"
  row "$1" "$2" aimass "127.0.0.1:$jg_port" "$topic" "$jtoken"
}
printf "%-24s %6s %12s %12s %9s %9s\n" row bytes "publish/s" "e2e msgs/s" "p50 µs" "p99 µs"
for size in $SIZES; do
  aimass_row aimass-interval "$size" interval
  row redis-everysec "$size" redis "127.0.0.1:$redis_everysec"
  aimass_row aimass-always "$size" always
  row redis-always "$size" redis "127.0.0.1:$redis_always"
  row nats-jetstream "$size" nats "nats://127.0.0.1:$nats_port"
  jetstream_row aimass-on-jetstream "$size"
  aimass_row "aimass-interval-${WIDE}p" "$size" interval "$WIDE"
  aimass_row "aimass-always-${WIDE}p" "$size" always "$WIDE"
done

echo
"$PY" - "$results" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, size, pub, e2e, p50, p99 = line.split()
    rows[(name, size)] = (float(pub), float(e2e))
verdict = lambda ok: "PASS" if ok else "FAIL"
for size in sorted({s for _, s in rows}, key=int):
    for ours, peer, goal in (("aimass-interval", "redis-everysec", 1.0), ("aimass-always", "redis-always", 1.0),
                             ("aimass-interval", "nats-jetstream", 0.5)):
        a, p = rows[(ours, size)], rows[(peer, size)]
        print(f"{size:>5} B  {ours} / {peer}: publish {a[0] / p[0]:.2f}x, end-to-end {a[1] / p[1]:.2f}x  "
              f"(goal >= {goal}x)  {verdict(min(a[0] / p[0], a[1] / p[1]) >= goal)}")
    a, p = rows[("aimass-on-jetstream", size)], rows[("nats-jetstream", size)]
    print(f"{size:>5} B  aimass-on-jetstream / nats-jetstream: publish {a[0] / p[0]:.2f}x, "
          f"end-to-end {a[1] / p[1]:.2f}x  (for information: the platform's layer over JetStream)")
PY
