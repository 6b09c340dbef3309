#!/usr/bin/env bash
# Diagnostic beside bench/gateway.sh (not a claim): CPU time per proxied request of the proxy
# process alone, user and system, for nginx proxy_pass and the aimass gateway under the same
# wrk load, read from /proc/<pid>/stat (threads and nginx's workers included). The upstream is
# an nginx of its own (one worker, a fixed 1 KB body), so its time is in neither row. On a
# shared VM the requests per second of one row move by ±20% with its neighbours' luck; the
# time a proxy spends per request moves much less, and says where a gap is (user or kernel).
#   bench/gateway_cpu.sh                     ROUNDS=3 (alternating rows), DURATION=6 s each
#   AIMASS_BIN=… bench/gateway_cpu.sh        another aimass binary
set -euo pipefail
cd "$(dirname "$0")/.."

AIMASS=${AIMASS_BIN:-build/aimass}
NGINX=${NGINX:-/usr/sbin/nginx}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6}
for tool in wrk "$NGINX" "$AIMASS" curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps --bench and make build" >&2; exit 1; }
done
source bench/common.sh
bench_start gateway-cpu
tick_ns=$((1000000000 / $(getconf CLK_TCK)))

up_port=$(free_port)
px_port=$(free_port)
body=$(head -c 1024 /dev/zero | tr '\0' 'x')
nginx_config 1 "  server { listen 127.0.0.1:$up_port; location / { default_type text/plain; return 200 '$body'; } }" upstream
"$NGINX" -c "$work/upstream/nginx.conf" -e "$work/upstream/error.log" &
pids+=($!)
nginx_config "$(nproc)" "  upstream backend { server 127.0.0.1:$up_port; keepalive 64; }
  server {
    listen 127.0.0.1:$px_port;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }"
"$NGINX" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
pids+=($nginx_pid)
wait_http "http://127.0.0.1:$up_port/x"
wait_http "http://127.0.0.1:$px_port/x"

a_port=$(free_port)
AIMASS_ADMIN_PASSWORD=bench-password-1 "$AIMASS" server --listen "127.0.0.1:$a_port" \
  --grpc-listen "127.0.0.1:$(free_port)" --data-dir "$work/aimass" --log-level warn --set log.access=false \
  >"$work/aimass.log" 2>&1 &
aimass_pid=$!
pids+=($aimass_pid)
a="http://127.0.0.1:$a_port"
wait_http "$a/readyz" "$work/aimass.log"
admin=$(curl -sf "$a/api/v1/auth/login" -d '{"username":"admin","password":"bench-password-1"}' |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
api() { curl -sf -X POST "$a$1" -H "Authorization: Bearer $admin" -d "$2" >/dev/null || { echo "setup $1 failed" >&2; exit 1; }; }
api /api/v1/gateway/upstreams "{\"name\":\"backend\",\"targets\":[{\"url\":\"http://127.0.0.1:$up_port\"}]}"
api /api/v1/gateway/routes '{"name":"plain","paths":["/plain"],"upstream":"backend","anonymous":true}'
[[ $(curl -sf "$a/plain" | wc -c) == 1024 ]] || { echo "no 1 KB answer through the gateway" >&2; exit 1; }

# utime and stime, in clock ticks, of a process and its children (nginx's workers).
ticks() {
  local u=0 s=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    read -r pu ps < <(awk '{print $14, $15}' "/proc/$p/stat")
    u=$((u + pu)) s=$((s + ps))
  done
  echo "$u $s"
}
row() {  # NAME URL PID: one measured wrk run after a warm-up
  wrk -t2 -c64 -d2s "$2" >/dev/null
  read -r u0 s0 < <(ticks "$3")
  local n
  n=$(wrk -t2 -c64 -d"${DURATION}s" "$2" | awk '/requests in/ {print $1}')
  read -r u1 s1 < <(ticks "$3")
  local user=$(((u1 - u0) * tick_ns / n)) sys=$(((s1 - s0) * tick_ns / n))
  printf "%-7s %8d req/s   CPU per request: user %6d ns  system %6d ns  total %6d ns\n" \
    "$1" $((n / DURATION)) "$user" "$sys" $((user + sys))
  echo "$1 $user $sys" >>"$work/rows"
}
echo "machine: $(nproc --all) cores; load: wrk -t2 -c64 -d${DURATION}s, GET of a 1 KB body; $ROUNDS rounds"
for _ in $(seq "$ROUNDS"); do
  row nginx "http://127.0.0.1:$px_port/plain" "$nginx_pid"
  row aimass "$a/plain" "$aimass_pid"
done
/usr/bin/python3 - "$work/rows" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, user, sys_ = line.split()
    rows.setdefault(name, []).append((int(user), int(sys_)))
med = {k: (statistics.median(u for u, _ in v), statistics.median(s for _, s in v)) for k, v in rows.items()}
for k, (u, s) in med.items():
    print(f"median {k:7s} user {u:8.0f} ns  system {s:8.0f} ns  total {u + s:8.0f} ns")
(nu, ns), (au, as_) = med["nginx"], med["aimass"]
print(f"aimass / nginx CPU per request: user {au / nu:.2f}x, system {as_ / ns:.2f}x, total {(au + as_) / (nu + ns):.2f}x")
PY
