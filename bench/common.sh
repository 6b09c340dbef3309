# Sourced by the bench/*.sh scripts: a scratch directory removed on exit, the servers each
# script starts (stopped on exit), and loopback helpers.
#   bench_start NAME            $work = a fresh directory under $BENCH_DIR or $TMPDIR
#   pids+=($!)                  after starting a server in the background
#   free_port                   a free TCP port on 127.0.0.1
#   wait_http URL [LOG]         waits up to 30 s for URL to answer 2xx (shows LOG on failure)
#   stop_last                   stops the server started last
#   run_python_bench NAME SCRIPT [ARGS…]
#                               runs SCRIPT with RUN_DIR, a fresh directory under $WORK (default
#                               /tmp/aimass-bench-NAME, kept for the script's own files); on exit
#                               stops it and the aimass server RUN_DIR/aimass.pid names, and removes
#                               RUN_DIR (KEEP=1 keeps it); exits with the script's status
#   nginx_config CORES SERVERS [NAME]
#                               writes $work/NAME/nginx.conf (NAME: nginx by default): CORES
#                               workers, no logs, pid and temp paths in that directory, the
#                               http block holding SERVERS

pids=()
bench_start() {
  work=$(mktemp -d -p "${BENCH_DIR:-${TMPDIR:-/tmp}}" "bench-$1.XXXXXX")
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 300); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  [[ -n ${2:-} ]] && cat "$2" >&2
  exit 1
}
stop_last() { local p=${pids[-1]}; kill -TERM "$p"; wait "$p" || true; unset 'pids[-1]'; }
nginx_config() {
  local dir="$work/${3:-nginx}"
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<CONF
worker_processes $1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
$2
}
CONF
}

run_python_bench() {
  local name=$1 script=$2
  shift 2
  export WORK=${WORK:-/tmp/aimass-bench-$name}
  mkdir -p "$WORK"
  py_run=$(mktemp -d -p "$WORK" run.XXXXXX)
  py_pid=
  trap py_bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  RUN_DIR=$py_run /usr/bin/python3 "$script" "$@" &
  py_pid=$!
  wait "$py_pid"
}
py_bench_cleanup() {
  local rc=$? pid
  if [[ -n $py_pid ]] && kill -0 "$py_pid" 2>/dev/null; then
    kill -TERM "$py_pid" 2>/dev/null || true
    wait "$py_pid" 2>/dev/null || true
  fi
  # The server, should Python not have stopped it (its pid file, checked to be that server).
  if [[ -f $py_run/aimass.pid ]]; then
    pid=$(<"$py_run/aimass.pid")
    if grep -qF -- "$py_run" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if [[ ${KEEP:-} == 1 ]]; then echo "kept: $py_run" >&2; else rm -rf "$py_run"; fi
  exit "$rc"
}
