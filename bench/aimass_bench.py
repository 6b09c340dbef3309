"""What the Python benchmarks share: a free port, an aimass server of the build started on
loopback with its own data directory, logged in as admin; a keep-alive client that times one
request; the machine's description; and a DuckDB script of bench/ run over the same data."""
from __future__ import annotations

import http.client
import json
import os
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
