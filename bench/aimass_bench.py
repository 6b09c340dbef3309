"""What the Python benchmarks share: a free port, and an aimass server of the build started
on loopback with its own data directory, logged in as admin."""
from __future__ import annotations

import json
import os
import socket
import subprocess
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
