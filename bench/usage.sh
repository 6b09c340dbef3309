#!/usr/bin/env bash
# Claim (analysis issue: usage analysis): counting every call through the gateway (a per-second
# tally by route, application, consumer and status, taken on the request path, flushed to the
# dataset platform-usage every usage.flush_s) costs under 5% of the gateway's throughput.
# Side by side in one run, the same upstream (nginx answering a fixed 1 KB body, as
# bench/gateway.sh) behind three aimass servers alive together, each with its own data directory:
#   usage-off      --set usage.enabled=false (the baseline)
#   usage-on-60s   the defaults (usage.enabled=true, usage.flush_s=60)
#   usage-on-5s    --set usage.flush_s=5 (flushes, each a new dataset version, inside every run)
#   (CONTROL=1 adds usage-off-b, a second baseline: the A/A noise of the setup)
# and the same wrk load (-t2 -c64, as bench/gateway.sh) for DURATION seconds against a route of
# each kind: `token` (auth platform, the default: a login token, so that calls have a consumer)
# and `anonymous` (no consumer: the cheapest proxied path, where counting weighs most), every
# route with an application. ROUNDS rounds, each round every kind on every server, the servers'
# order rotated round by round; before each run, a wait for a quiet machine (as bench/mining.py:
# other processes under QUIET_CORES cores, at most QUIET_WAIT_S). Per server and kind: the medians
# of req/s, p50 and p99 latency and the server's CPU per request. A round's runs of a kind are run
# again (up to TRIES attempts, the least disturbed kept) when other processes took more than
# RETRY_CORES cores during one of them. On/off = the median over the
# rounds of the ratio within each round (runs next to each other see the same machine), overhead
# = 1 - on/off, and the goal's verdict. Each run has a route of its own; after the runs (and a
# flush) GET /api/v1/usage/series?by=route&value=<route>&step_s=60 must count wrk's requests
# (+0 to CONNECTIONS in flight when wrk stopped), and nothing on usage-off; else exit 1.
# Then a summary block for docs/benchmarks.md. Results on stdout, progress on stderr.
#   bench/usage.sh
#   AIMASS_BIN=build/aimass DURATION=15 ROUNDS=3 THREADS=2 CONNECTIONS=64 WARMUP=3 KINDS=token,anonymous
#   (apikey: a platform API key) CONTROL=1 TRIES=3 RETRY_CORES=0.4 QUIET_WAIT_S=300 QUIET_CORES=0.3
#   KEEP=1 (keeps the run's directory)
set -euo pipefail
cd "$(dirname "$0")/.."
export AIMASS_BIN=${AIMASS_BIN:-build/aimass}
NGINX=${NGINX:-/usr/sbin/nginx}
for tool in wrk "$NGINX" "$AIMASS_BIN" curl /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps --bench and make build" >&2; exit 1; }
done

source bench/common.sh
bench_start usage
py=
cleanup() {
  local rc=$? pid f
  if [[ -n $py ]] && kill -0 "$py" 2>/dev/null; then
    kill -TERM "$py" 2>/dev/null || true
    wait "$py" 2>/dev/null || true
  fi
  # The servers, should Python not have stopped them (their pid files, checked to be those servers).
  for f in "$work"/*/aimass.pid; do
    [[ -f $f ]] || continue
    pid=$(<"$f")
    if grep -qF -- "$work" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  if [[ ${KEEP:-} == 1 ]]; then
    echo "kept: $work" >&2
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
  else
    bench_cleanup  # nginx, and the directory
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the upstream: nginx answering 1 KB, as bench/gateway.sh's ----------------------------------
up_port=$(free_port)
body=$(head -c 1024 /dev/zero | tr '\0' 'x')
nginx_config "$(nproc)" "  server {
    listen 127.0.0.1:$up_port;
    location / { default_type text/plain; return 200 '$body'; }
  }"
"$NGINX" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
wait_http "http://127.0.0.1:$up_port/x"
[[ $(curl -sf "http://127.0.0.1:$up_port/x" | wc -c) == 1024 ]] || { echo "no 1 KB answer from nginx" >&2; exit 1; }

UPSTREAM="http://127.0.0.1:$up_port" NGINX_PID=${pids[-1]} RUN_DIR=$work /usr/bin/python3 bench/usage.py &
py=$!
wait "$py"
