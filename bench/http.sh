#!/usr/bin/env bash
# Claim: aimass answers a trivial route at >= 0.8x the requests/s of nginx returning a fixed 200,
# on the same machine, with the same wrk load.
# Runs both side by side, alternating rounds, and prints each round, the medians and the ratio.
#   bench/http.sh                      (defaults: 3 rounds x 10 s, 2 wrk threads, 64 connections)
#   ROUNDS=5 DURATION=20s CONNECTIONS=256 bench/http.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
AIMASS=${AIMASS_BIN:-build/aimass}
NGINX=${NGINX:-/usr/sbin/nginx}
for tool in wrk "$NGINX" "$AIMASS"; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps --bench and make build" >&2; exit 1; }
done

source bench/common.sh
bench_start http

cores=$(nproc)
a_port=$(free_port)
n_port=$(free_port)

# aimass: access log off, as nginx below; one I/O thread per core, as nginx's workers.
AIMASS_ADMIN_PASSWORD=bench-password-1 "$AIMASS" server --listen "127.0.0.1:$a_port" \
  --data-dir "$work/aimass" --log-level warn --set log.access=false \
  --set http.io_threads="$cores" >"$work/aimass.log" 2>&1 &
pids+=($!)

nginx_config "$cores" "  server {
    listen 127.0.0.1:$n_port;
    location / { default_type application/json; return 200 '{\"status\":\"ok\"}'; }
  }"
"$NGINX" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)

wait_http "http://127.0.0.1:$a_port/healthz"
wait_http "http://127.0.0.1:$n_port/healthz"

# Prints "rps p99_ms" for one wrk run.
measure() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$1" >"$work/wrk.out" 2>&1
  /usr/bin/python3 - "$work/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors:
    sys.exit(f"wrk saw {errors.group(1)} error responses:\n{text}")
print(f"{rps:.0f} {float(m.group(1)) * scale:.3f}")
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds, alternating"
printf "%-6s %-8s %12s %10s\n" round server "req/s" "p99 ms"
a_rps=(); n_rps=(); a_p99=(); n_p99=()
for r in $(seq "$ROUNDS"); do
  read -r rps p99 < <(measure "http://127.0.0.1:$n_port/healthz")
  n_rps+=("$rps"); n_p99+=("$p99")
  printf "%-6s %-8s %12s %10s\n" "$r" nginx "$rps" "$p99"
  read -r rps p99 < <(measure "http://127.0.0.1:$a_port/healthz")
  a_rps+=("$rps"); a_p99+=("$p99")
  printf "%-6s %-8s %12s %10s\n" "$r" aimass "$rps" "$p99"
done

/usr/bin/python3 - "${a_rps[*]}" "${n_rps[*]}" "${a_p99[*]}" "${n_p99[*]}" <<'PY'
import statistics, sys
a, n, ap, np_ = ([float(x) for x in s.split()] for s in sys.argv[1:5])
ma, mn = statistics.median(a), statistics.median(n)
print(f"median  aimass {ma:.0f} req/s (p99 {statistics.median(ap):.3f} ms)   "
      f"nginx {mn:.0f} req/s (p99 {statistics.median(np_):.3f} ms)")
print(f"ratio aimass/nginx: {ma / mn:.2f}x  (goal >= 0.80x)")
PY
