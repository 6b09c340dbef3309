#!/usr/bin/env bash
# Claims (gateway issue), one run, the same upstream (nginx answering a fixed 1 KB body) and the
# same wrk load (threads, connections, duration) through:
#   (a) nginx proxy_pass with upstream keepalive,
#   (b) the aimass gateway, a plain route,
#   (c) the aimass gateway with JWT (a consumer's HS256 token) + a rate limit (never reached) +
#       its metrics, which are always on;
# then each again at half of (a)'s peak rate (wrk paced with a per-connection delay), next to
# the upstream asked directly, for the added p99 (nginx's proxy too, for reference). Goals: (b) >= 1.0x (a) in req/s; (c) >= 0.8x
# (b); added p99 <= 1 ms at half of peak. The rows run ROUNDS times, interleaved (each round in a
# different order): on a shared VM a row's speed swings by a fifth within minutes, so rows run
# once, one after the other, compare the machine's moments as much as the proxies. A throughput
# verdict is the median over the rounds of the ratio within each round (rows next to each other
# see the same machine); the p99 verdicts use each row's median.
#   bench/gateway.sh                      (DURATION=5 s per row, ROUNDS=5, THREADS=2, CONNECTIONS=64)
#   SERVER_CPUS=0 CLIENT_CPUS=1 bench/gateway.sh   (proxies and upstream on SERVER_CPUS, wrk on CLIENT_CPUS)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
AIMASS=${AIMASS_BIN:-build/aimass}
NGINX=${NGINX:-/usr/sbin/nginx}
PY=/usr/bin/python3
SERVER_CPUS=${SERVER_CPUS:-} CLIENT_CPUS=${CLIENT_CPUS:-}
srv=() cli=()
[[ -n $SERVER_CPUS ]] && srv=(taskset -c "$SERVER_CPUS")
[[ -n $CLIENT_CPUS ]] && cli=(taskset -c "$CLIENT_CPUS")
for tool in wrk "$NGINX" "$AIMASS" curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps --bench and make build" >&2; exit 1; }
done

source bench/common.sh
bench_start gateway
cores=$("${srv[@]}" nproc)

# --- the upstream and the nginx proxy: one nginx, two servers ---------------------------------
up_port=$(free_port)
px_port=$(free_port)
body=$(head -c 1024 /dev/zero | tr '\0' 'x')
nginx_config "$cores" "  upstream backend { server 127.0.0.1:$up_port; keepalive 64; }
  server {
    listen 127.0.0.1:$up_port;
    location / { default_type text/plain; return 200 '$body'; }
  }
  server {
    listen 127.0.0.1:$px_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
"${srv[@]}" "$NGINX" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
wait_http "http://127.0.0.1:$up_port/x"
wait_http "http://127.0.0.1:$px_port/x"

# --- aimass: access log off, as nginx's --------------------------------------------------------
a_port=$(free_port)
AIMASS_ADMIN_PASSWORD=bench-password-1 "${srv[@]}" "$AIMASS" server --listen "127.0.0.1:$a_port" \
  --grpc-listen "127.0.0.1:$(free_port)" --data-dir "$work/aimass" --log-level warn --set log.access=false \
  >"$work/aimass.log" 2>&1 &
pids+=($!)
a="http://127.0.0.1:$a_port"
wait_http "$a/readyz" "$work/aimass.log"
admin=$(curl -sf "$a/api/v1/auth/login" -d '{"username":"admin","password":"bench-password-1"}' |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
api() { curl -sf -X "$1" "$a$2" -H "Authorization: Bearer $admin" -d "$3" >/dev/null || { echo "setup $2 failed" >&2; exit 1; }; }
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
api POST /api/v1/gateway/upstreams "{\"name\":\"backend\",\"targets\":[{\"url\":\"http://127.0.0.1:$up_port\"}]}"
api POST /api/v1/gateway/routes '{"name":"plain","paths":["/plain"],"upstream":"backend","anonymous":true}'
api POST /api/v1/gateway/consumers "{\"name\":\"bench\",\"jwt\":[{\"key\":\"bench\",\"algorithm\":\"HS256\",\"secret\":\"$secret\"}]}"
api POST /api/v1/gateway/routes '{"name":"secured","paths":["/secured"],"upstream":"backend","auth":["jwt"],
  "plugins":{"rate_limit":{"rate":1000000000,"per":"second","key":"consumer"}}}'
token=$("$PY" - "$secret" <<'PY'
import base64, hashlib, hmac, json, sys, time
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
head = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b(json.dumps({"iss": "bench", "sub": "bench", "exp": int(time.time()) + 3600}).encode())
sig = hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b(sig)}")
PY
)
# Every path answers the same 1 KB body.
for u in "http://127.0.0.1:$up_port/plain" "http://127.0.0.1:$px_port/plain" "$a/plain"; do
  [[ $(curl -sf "$u" | wc -c) == 1024 ]] || { echo "no 1 KB answer from $u" >&2; exit 1; }
done
[[ $(curl -sf "$a/secured" -H "Authorization: Bearer $token" | wc -c) == 1024 ]] || { echo "secured route failed" >&2; exit 1; }

echo "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///')"
[[ -n $SERVER_CPUS ]] && echo "pinned: nginx and aimass on CPUs $SERVER_CPUS, wrk on CPUs ${CLIENT_CPUS:-any}"
echo "load: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, GET of a 1 KB body; paced rows: each connection waits between requests; $ROUNDS rounds, interleaved"
echo
results="$work/results"
: >"$results"
num() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }
row() {  # NAME ROUND URL [TOKEN] [DELAY_MS]
  local name=$1 round=$2 url=$3 line
  TOKEN=${4:-} DELAY_MS=${5:-} "${cli[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
    -s bench/gateway_request.lua "$url" >"$work/wrk.out" 2>&1 || true
  line=$(grep '^WRK ' "$work/wrk.out" || true)
  [[ -n $line ]] || { echo "wrk gave no result for $name:" >&2; cat "$work/wrk.out" >&2; exit 1; }
  if [[ $(num errors "$line") != 0 || $(num non2xx "$line") != 0 ]]; then echo "$name: errors: $line" >&2; exit 1; fi
  printf "%-34s %5s %10.0f %9s %9s\n" "$name" "$round" "$(num rps "$line")" "$(num p50_us "$line")" "$(num p99_us "$line")"
  echo "$name $round $(num rps "$line") $(num p50_us "$line") $(num p99_us "$line")" >>"$results"
}
# Runs the rows given as "NAME|URL|TOKEN" ROUNDS times, round r starting at row r (mod the
# count): no row always runs first or after the same one. DELAY_MS paces them when set.
rounds() {
  local -a specs=("$@")
  local r i k name url tok
  for ((r = 0; r < ROUNDS; r++)); do
    for ((i = 0; i < ${#specs[@]}; i++)); do
      k=$(((i + r) % ${#specs[@]}))
      IFS='|' read -r name url tok <<<"${specs[$k]}"
      row "$name" "$((r + 1))" "$url" "$tok" "${DELAY_MS:-}"
    done
  done
}
printf "%-34s %5s %10s %9s %9s\n" row round "req/s" "p50 µs" "p99 µs"
rounds "nginx-proxy|http://127.0.0.1:$px_port/plain|" "aimass-plain|$a/plain|" "aimass-jwt-ratelimit|$a/secured|$token"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
peak=$(awk '$1 == "nginx-proxy" { print $3 }' "$results" | median)
# Half of nginx's (median) peak: each of the connections sends one request every DELAY_MS (plus
# the request's own time, which the direct row shows). nginx's own proxy at the same pacing
# shows what the peer adds, beside what the goal allows.
delay=$("$PY" -c "print(max(1, round($CONNECTIONS / ($peak / 2) * 1000)))")
DELAY_MS=$delay rounds "direct-upstream-half|http://127.0.0.1:$up_port/plain|" "nginx-proxy-half|http://127.0.0.1:$px_port/plain|" \
  "aimass-plain-half|$a/plain|" "aimass-jwt-ratelimit-half|$a/secured|$token"

echo
"$PY" - "$results" "$delay" "$CONNECTIONS" <<'PY'
import statistics, sys
runs = {}
for l in open(sys.argv[1]):
    name, rnd, *vals = l.split()
    runs.setdefault(name, {})[int(rnd)] = [float(x) for x in vals]
# Each row's median of rps, p50 and p99 over the rounds.
rows = {name: [statistics.median(v[i] for v in by_round.values()) for i in range(3)] for name, by_round in runs.items()}
print("medians over the rounds:")
for name, (rps, p50, p99) in rows.items():
    print(f"  {name:32} {rps:10.0f} {p50:9.0f} {p99:9.0f}")
ratios = lambda x, y: [runs[x][r][0] / runs[y][r][0] for r in sorted(runs[x])]
verdict = lambda ok: "PASS" if ok else "FAIL"
for x, y, label, goal in (("aimass-plain", "nginx-proxy", "plain proxy, aimass / nginx:              ", 1.0),
                          ("aimass-jwt-ratelimit", "aimass-plain", "JWT + rate limit + metrics / aimass plain:", 0.8)):
    r = ratios(x, y)
    m = statistics.median(r)
    print(f"{label}    {m:.2f}x  (goal >= {goal}x)  {verdict(m >= goal)}  [rounds: {', '.join(f'{v:.2f}' for v in r)};"
          f" ratio of the medians {rows[x][0] / rows[y][0]:.2f}x]")
d = rows["direct-upstream-half"]
for name in ("aimass-plain-half", "aimass-jwt-ratelimit-half", "nginx-proxy-half"):
    r = rows[name]
    added = (r[2] - d[2]) / 1000
    goal = f"(goal <= 1 ms)  {verdict(added <= 1)}" if name.startswith("aimass") else "(the peer, for reference)"
    print(f"added p99 at half of nginx's peak, {name.replace('-half', '')}: {added:.3f} ms "
          f"({r[0]:.0f} req/s; p99 {r[2] / 1000:.3f} ms vs upstream direct {d[2] / 1000:.3f} ms)  {goal}")
print(f"(paced: {sys.argv[3]} connections, {sys.argv[2]} ms between each one's requests)")
PY
