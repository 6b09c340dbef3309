#!/usr/bin/env bash
# Diagnostic beside bench/gateway.sh (not a claim): the aimass gateway's user-space instructions
# per proxied request, counted by callgrind. Timings on a shared 2-core VM move by ±15% from
# run to run; this count does not, so it tells whether a change to the hot path helped.
# The upstream is nginx answering a fixed 1 KB body, as in bench/gateway.sh; the load is a
# short wrk run at 4 connections (the proxy runs ~30x slower under callgrind).
#   bench/gateway_callgrind.sh                      (AIMASS_BIN=… to count another binary)
#   PEER=nginx bench/gateway_callgrind.sh           counts nginx's proxy_pass (one worker, upstream
#                                                   keepalive, as bench/gateway.sh configures it)
#   KEEP=1 bench/gateway_callgrind.sh               keeps the callgrind output for callgrind_annotate
set -euo pipefail
cd "$(dirname "$0")/.."

AIMASS=${AIMASS_BIN:-build/aimass}
NGINX=${NGINX:-/usr/sbin/nginx}
for tool in wrk valgrind callgrind_control cc "$NGINX" "$AIMASS" curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps --bench and make build" >&2; exit 1; }
done
source bench/common.sh
bench_start gateway-callgrind

up_port=$(free_port)
body=$(head -c 1024 /dev/zero | tr '\0' 'x')
nginx_config 1 "  server {
    listen 127.0.0.1:$up_port;
    location / { default_type text/plain; return 200 '$body'; }
  }"
"$NGINX" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
wait_http "http://127.0.0.1:$up_port/x"

proxy_port=$(free_port)
if [[ ${PEER:-} == nginx ]]; then
  # One process (no master), one worker: everything it does per request is counted.
  nginx_config 1 "  upstream backend { server 127.0.0.1:$up_port; keepalive 64; }
  server {
    listen 127.0.0.1:$proxy_port;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }" proxy
  sed -i '1i master_process off;' "$work/proxy/nginx.conf"
  counted="$NGINX"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out" \
    "$NGINX" -c "$work/proxy/nginx.conf" -e "$work/proxy/error.log" >"$work/proxy.log" 2>&1 &
  vg=$!
  pids+=($vg)
  url="http://127.0.0.1:$proxy_port/plain"
  for _ in $(seq 300); do curl -sf -o /dev/null "$url" && break; sleep 0.2; done
else
  counted="$AIMASS"
  # libhwy's load-time rdtscp stops valgrind on some CPUs: see bench/hwy_timer_shim.c.
  echo 'HWY_0 { global: _ZN3hwy8platform15TimerResolutionEv; };' >"$work/hwy.map"
  cc -shared -fPIC -O2 -Wl,--version-script="$work/hwy.map" bench/hwy_timer_shim.c -o "$work/hwy_timer_shim.so"
  LD_PRELOAD="$work/hwy_timer_shim.so" AIMASS_ADMIN_PASSWORD=bench-password-1 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$work/callgrind.out" "$AIMASS" server --listen "127.0.0.1:$proxy_port" \
    --grpc-listen "127.0.0.1:$(free_port)" --data-dir "$work/aimass" --log-level warn --set log.access=false \
    >"$work/proxy.log" 2>&1 &
  vg=$!
  pids+=($vg)
  a="http://127.0.0.1:$proxy_port"
  for _ in $(seq 900); do curl -sf -o /dev/null "$a/readyz" && break; sleep 0.2; done
  curl -sf -o /dev/null "$a/readyz" || { echo "aimass did not start under valgrind" >&2; cat "$work/proxy.log" >&2; exit 1; }
  admin=$(curl -sf "$a/api/v1/auth/login" -d '{"username":"admin","password":"bench-password-1"}' |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  api() { curl -sf -X POST "$a$1" -H "Authorization: Bearer $admin" -d "$2" >/dev/null || { echo "setup $1 failed" >&2; exit 1; }; }
  api /api/v1/gateway/upstreams "{\"name\":\"backend\",\"targets\":[{\"url\":\"http://127.0.0.1:$up_port\"}]}"
  api /api/v1/gateway/routes '{"name":"plain","paths":["/plain"],"upstream":"backend","anonymous":true}'
  url="$a/plain"
fi
[[ $(curl -sf "$url" | wc -c) == 1024 ]] || { echo "no 1 KB answer through the proxy" >&2; exit 1; }

wrk -t1 -c4 -d3s "$url" >/dev/null  # warm: pooled connections, metric series
callgrind_control -i on "$vg" >/dev/null
requests=$(wrk -t1 -c4 -d10s "$url" | awk '/requests in/ {print $1}')
callgrind_control -i off "$vg" >/dev/null
callgrind_control -d "$vg" >/dev/null
sleep 1
total=0
for f in "$work"/callgrind.out.*; do  # the dumps (the main file is written at exit)
  t=$(grep -m1 '^totals:' "$f" | awk '{print $2}' || true)
  total=$((total + ${t:-0}))
done
echo "binary: $counted"
echo "requests counted: $requests; instructions: $total; per proxied request: $((total / requests))"
if [[ -n ${KEEP:-} ]]; then
  mkdir -p bench-out && cp "$work"/callgrind.out.* bench-out/
  echo "callgrind output in bench-out/ (callgrind_annotate bench-out/callgrind.out.1)"
fi
