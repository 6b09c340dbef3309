"""What the Python benchmarks share: a free port, an aimass server of the build started on
loopback with its own data directory, logged in as admin; a keep-alive client that times one
request; the machine's description; a DuckDB script of bench/ run over the same data; and the
CPU accounting of a shared machine (wait for it to be quiet before a timed run, then say how
busy other processes kept it during the run)."""
from __future__ import annotations

import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = os.environ.get("AIMASS_BIN", "build/aimass")
PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Aimass:
    def __init__(self, work: Path, extra_args: list[str] = ()):
        self.port = free_port()
        self.data_dir = work / "aimass"
        args = [BIN, "server", "--listen", f"127.0.0.1:{self.port}", "--grpc-listen", "", "--data-dir",
                str(self.data_dir), "--log-level", "warn", "--set", "log.access=false",
                "--set", "scheduler.enabled=false", *extra_args]
        self.log = open(work / "aimass.log", "ab")
        self.proc = subprocess.Popen(args, env=dict(os.environ, AIMASS_ADMIN_PASSWORD=PASSWORD), stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(self.url + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        self.token = self.call("POST", "/api/v1/auth/login", {"username": "admin", "password": PASSWORD})["access_token"]

    def call(self, method, path, body=None, data=None, headers=None):
        h = {"Authorization": f"Bearer {getattr(self, 'token', '')}", **(headers or {})}
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, method=method, data=data, headers=h)
        with urllib.request.urlopen(req, timeout=600) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


class Client:
    """Keep-alive HTTP to the server: the round trip of one query, from sending to the body read."""

    def __init__(self, srv: Aimass):
        self.srv = srv
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)

    def post(self, path, body):
        data = json.dumps(body).encode()
        h = {"Authorization": f"Bearer {self.srv.token}", "Content-Type": "application/json"}
        t0 = time.perf_counter()
        self.conn.request("POST", path, body=data, headers=h)
        r = self.conn.getresponse()
        raw = r.read()
        ms = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            raise RuntimeError(f"POST {path} {json.dumps(body)}: HTTP {r.status}: {raw[:500]!r}")
        return json.loads(raw), ms


def machine() -> str:
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return f"nproc {len(os.sched_getaffinity(0))}, {model}, {mem} RAM"


def run_duckdb(script: str, data: Path, queries: list[dict], work: Path, repeat: int) -> dict:
    """Runs bench/<script> (DuckDB from npm, bench/duckdb's lock) over `data` with `queries`
    ([{name, sql}]) and returns what it printed."""
    qfile = work / "duckdb_queries.json"
    qfile.write_text(json.dumps(queries))
    here = Path(__file__).resolve().parent
    if not (here / "duckdb" / "node_modules" / "@duckdb" / "node-api").exists():
        sys.exit("bench/duckdb/node_modules is missing: scripts/install-deps --bench (npm ci --prefix bench/duckdb)")
    p = subprocess.run(["node", str(here / script), str(data), str(qfile)], capture_output=True, text=True,
                       env=dict(os.environ, REPEAT=str(repeat)))
    if p.returncode != 0:
        sys.exit(f"{script} failed ({p.returncode}): {p.stderr[-3000:]}")
    return json.loads(p.stdout)


# ---------------------------------------------------------------- CPU accounting on a shared machine
# The same measure as bench/mining.py's and bench/crowd.py's (which keep their own copies), with
# the benchmark's own processes given: a benchmark that runs servers and a load generator of its
# own counts them as its own, not as "others".

CLK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """All CPUs' busy time since boot (user, nice, system, irq, softirq, steal), seconds."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] if len(f) > 7 else 0)) / CLK


def proc_cpu_s(pid: int) -> float:
    """A process's CPU time, all its threads (utime + stime); 0 once it is gone."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / CLK


def tree_cpu_s(pid: int) -> float:
    """A process's CPU time and its live descendants' (nginx's master and workers)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += proc_cpu_s(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except OSError:
            pass
    return total


def self_cpu_s() -> float:
    """This process's CPU time and that of its children it waited for (a load generator run to its end)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def wait_quiet(what: str, wait_s: float, max_cores: float, own=lambda: 0.0, say=None) -> float:
    """Waits (up to wait_s) until other processes use under max_cores cores over 3 s: on a shared
    machine, a build beside a timed run slows it. own() is the CPU time (s) of the benchmark's
    processes besides this one and its waited-for children (its servers), not counted as others.
    Returns the others' cores of the last 3 s."""
    if wait_s <= 0:
        return float("nan")
    t0 = time.perf_counter()
    while True:
        b0, s0, o0 = machine_busy_s(), self_cpu_s(), own()
        time.sleep(3)
        cores = max(0.0, machine_busy_s() - b0 - (self_cpu_s() - s0) - (own() - o0)) / 3
        waited = time.perf_counter() - t0
        if cores < max_cores or waited >= wait_s:
            if waited > 4:
                (say or (lambda m: print(m, file=sys.stderr, flush=True)))(
                    f"  (waited {waited:.0f} s for a quiet machine before {what}: others at {cores:.2f} cores)")
            return cores


class Meter:
    """Wall time, the CPU time of given processes (each alone, by pid), of this process with its
    waited-for children, and other processes' CPU use (cores) over one timed run. own() as for
    wait_quiet: everything of the benchmark's beside this process."""

    def __init__(self, pids: dict[str, int], own=lambda: 0.0):
        self.pids, self.own = pids, own

    def __enter__(self):
        self.b0, self.s0, self.o0 = machine_busy_s(), self_cpu_s(), self.own()
        self.c0 = {k: proc_cpu_s(p) for k, p in self.pids.items()}
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.cpu = {k: proc_cpu_s(p) - self.c0[k] for k, p in self.pids.items()}
        self.self_cpu = self_cpu_s() - self.s0
        self.own_cpu = self.own() - self.o0
        self.others = max(0.0, machine_busy_s() - self.b0 - self.self_cpu - self.own_cpu) / self.wall
        return False
