"""Black-box end-to-end fixtures for the aimass server and CLI.

Everything here talks to a real `aimass` binary over HTTP (or runs it as a CLI); nothing
imports or builds the C++ code. The binary comes from $AIMASS_BIN, else <repo>/build/aimass.

Fixtures:
  server       one server per test module (started once, stopped with SIGTERM at the end,
               which must exit 0)
  make_server  factory for extra servers with extra flags / env / an existing data dir;
               every server it started is stopped (and must exit 0) when the test ends
  aimass_bin   path to the binary (the test fails when it is missing)

With AIMASS_E2E_STORAGE=postgres every server keeps its metadata in PostgreSQL instead of
SQLite: one throwaway server for the session (scripts/test-postgres), one database per data
dir (a restart on the same data dir finds its data again), unless a test sets the storage
itself. `postgres_server()` starts such a server for the tests that need one regardless.

Helpers (importable from tests as `from conftest import ...`):
  assert_error, unique, strong_password, parse_metrics, metric_value, read_raw_response, wait_for
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pytest
import requests

# scikit-learn and SciPy from Debian's packages, unpacked beside the system by scripts/install-deps
# (python3-scipy cannot be installed next to libboost1.81-dev): the mining tests compare with them.
SKLEARN_DIR = Path("/opt/aimass-sklearn/usr/lib/python3/dist-packages")
if SKLEARN_DIR.is_dir() and str(SKLEARN_DIR) not in sys.path:
    sys.path.append(str(SKLEARN_DIR))

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[1]
DEFAULT_BIN = REPO_ROOT / "build" / "aimass"

ADMIN_USER = "admin"
ADMIN_PASSWORD = "Admin-e2e-Pa55word!"

READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 30
HTTP_TIMEOUT_S = 15

# Environment variables that must never leak from the developer's shell into the processes
# under test (they would change the configuration or route localhost through a proxy).
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


class PostgresServer:
    """A throwaway PostgreSQL server on loopback (scripts/test-postgres), and its databases."""

    SCRIPT = REPO_ROOT / "scripts" / "test-postgres"

    def __init__(self, directory: Path):
        self.dir = directory
        out = subprocess.run([str(self.SCRIPT), "start", str(directory)], check=True,
                             capture_output=True, text=True, timeout=120)
        self.admin_dsn = out.stdout.strip().splitlines()[-1]
        self.port = int(re.search(r"port=(\d+)", self.admin_dsn).group(1))

    def sql(self, statement: str, database: str = "aimass") -> str:
        out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", "aimass", "-d", database,
                              "-c", statement], check=True, capture_output=True, text=True, timeout=60)
        return out.stdout.strip()

    def database(self, name: str) -> str:
        """The DSN of database `name`, created when it does not exist yet."""
        if not self.sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
            self.sql(f'CREATE DATABASE "{name}"')
        return f"host=127.0.0.1 port={self.port} user=aimass dbname={name}"

    def stop(self) -> None:
        subprocess.run([str(self.SCRIPT), "stop", str(self.dir)], check=False, timeout=60)

    def remove(self) -> None:
        """Stops it and deletes its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def resume(self) -> None:
        """Starts it again after stop(), on the same port, with its data."""
        subprocess.run([str(self.SCRIPT), "resume", str(self.dir)], check=True, timeout=120)


_POSTGRES: PostgresServer | None = None


def postgres_server(tmp_factory: pytest.TempPathFactory | None = None) -> PostgresServer:
    """The session's PostgreSQL server, started on first use and stopped at exit."""
    global _POSTGRES
    if _POSTGRES is None:
        import tempfile
        directory = Path(tempfile.mkdtemp(prefix="aimass-e2e-pg-"))
        _POSTGRES = PostgresServer(directory)
        atexit.register(_POSTGRES.remove)
    return _POSTGRES


def e2e_on_postgres() -> bool:
    return os.environ.get("AIMASS_E2E_STORAGE") == "postgres"


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without AIMASS_* settings, proxies and XDG_CONFIG_HOME, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIMASS_")
        and k.lower() not in _PROXY_VARS
        and k != "XDG_CONFIG_HOME"
    }
    env.update(extra)
    return env


def binary_path() -> Path:
    return Path(os.environ.get("AIMASS_BIN", str(DEFAULT_BIN)))


@pytest.fixture(scope="session")
def aimass_bin() -> Path:
    path = binary_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"aimass binary not found at {path}: build it or set AIMASS_BIN", pytrace=False)
    return path


# --------------------------------------------------------------------------------------------
# Small helpers


def unique(prefix: str) -> str:
    """A fresh lowercase alphanumeric name, e.g. 'viewer3fa9c2d1'."""
    return f"{prefix}{secrets.token_hex(4)}"


def strong_password() -> str:
    return f"Pw-{secrets.token_hex(6)}-Aa1!"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe(resp: requests.Response) -> str:
    req = resp.request
    return f"{req.method} {req.url} -> {resp.status_code}: {resp.text[:800]!r}"


def assert_error(resp: requests.Response, status: int | Iterable[int], code: str | None = None):
    """Asserts `resp` is an error in the documented model and returns its `error` object."""
    allowed = {status} if isinstance(status, int) else set(status)
    assert resp.status_code in allowed, describe(resp)
    assert "application/json" in resp.headers.get("Content-Type", ""), describe(resp)
    body = resp.json()
    assert set(body) == {"error"}, describe(resp)
    err = body["error"]
    assert {"code", "message", "request_id"} <= set(err), describe(resp)
    assert isinstance(err["message"], str) and err["message"], describe(resp)
    if code is not None:
        assert err["code"] == code, describe(resp)
    assert err["request_id"] == resp.headers.get("X-Request-Id"), describe(resp)
    return err


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Polls `predicate` until it returns something truthy (returned), or fails the test after
    `timeout` seconds naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Prometheus text format -------------------------------------------------------------------

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape_label(value: str) -> str:
    return value.replace(r"\\", "\x00").replace(r"\"", '"').replace(r"\n", "\n").replace("\x00", "\\")


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    """{(metric name, frozenset of (label, value))): sample value}; label order is irrelevant."""
    samples: dict[tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        name, labels_text, value = m.groups()
        labels = frozenset(
            (k, _unescape_label(v)) for k, v in _LABEL_RE.findall(labels_text or "")
        )
        samples[(name, labels)] = float(value)
    return samples


def metric_value(samples: dict, name: str, **labels: str) -> float:
    """The sample with exactly these labels, 0 when the series does not exist yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


# Raw HTTP -------------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


def read_raw_response(sock: socket.socket) -> RawResponse | None:
    """Reads one complete HTTP response from `sock`; None when the peer closed (or reset)
    the connection before sending a status line. A response cut short raises IncompleteRead."""
    resp = http.client.HTTPResponse(sock)
    try:
        resp.begin()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        return None
    body = resp.read()  # raises http.client.IncompleteRead on a truncated body
    return RawResponse(resp.status, resp.headers, body)


# --------------------------------------------------------------------------------------------
# Server and client objects


class Client:
    """HTTP client bound to one server and (optionally) one bearer token."""

    def __init__(self, server: "AimassServer", token: str | None = None):
        self.server = server
        self.token = token
        self.session = requests.Session()
        self.session.trust_env = False  # never route localhost through a proxy

    def request(self, method: str, path: str, *, headers=None, **kwargs) -> requests.Response:
        headers = dict(headers or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        kwargs.setdefault("timeout", HTTP_TIMEOUT_S)
        return self.session.request(method, self.server.url + path, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@dataclass
class User:
    username: str
    password: str
    roles: list[str]
    client: Client  # logged in as this user

    @property
    def token(self) -> str:
        return self.client.token


_RUNNING: list["AimassServer"] = []


class AimassServer:
    """One `aimass server` process with its own data dir, ports and log files."""

    def __init__(self, binary: Path, workdir: Path, args: list[str] = (), env: dict | None = None,
                 data_dir: Path | None = None, name: str = "server"):
        self.binary = binary
        self.workdir = workdir
        self.name = name
        self.extra_args = list(args)
        self.extra_env = dict(env or {})
        self.data_dir = data_dir or (workdir / "data")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = workdir / f"{name}.stdout.log"
        self.stderr_path = workdir / f"{name}.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.grpc_port = 0
        self.returncode: int | None = None
        self._admin: Client | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AimassServer":
        for attempt in range(3):
            self.port, self.grpc_port = free_port(), free_port()
            args = [
                str(self.binary), "server",
                "--listen", f"127.0.0.1:{self.port}",
                "--grpc-listen", f"127.0.0.1:{self.grpc_port}",
                "--data-dir", str(self.data_dir),
                *self.extra_args,
            ]
            env = clean_env(HOME=str(self.workdir), AIMASS_ADMIN_PASSWORD=ADMIN_PASSWORD)
            # A binary copied out of build/ (to test it while building the next) finds no
            # console beside it: take the tree's build.
            if not (self.binary.parent / "console" / "index.html").exists() and \
                    (REPO_ROOT / "build" / "console" / "index.html").exists():
                env["AIMASS_CONSOLE_DIR"] = str(REPO_ROOT / "build" / "console")
            if e2e_on_postgres() and not any("storage." in a for a in self.extra_args) \
                    and "AIMASS_STORAGE_DRIVER" not in self.extra_env:
                name = "d" + hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:20]
                env["AIMASS_STORAGE_DRIVER"] = "postgres"
                env["AIMASS_STORAGE_DSN"] = postgres_server().database(name)
            env.update(self.extra_env)
            with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
                self.proc = subprocess.Popen(args, stdout=out, stderr=err, env=env,
                                             stdin=subprocess.DEVNULL)
            self.returncode = None
            if self._wait_ready():
                _RUNNING.append(self)
                return self
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if "in use" not in self.stderr_text() or attempt == 2:
                break
        pytest.fail(f"aimass {self.name} did not become ready within {READY_TIMEOUT_S}s "
                    f"(exit code {self.proc.returncode})\n{self.logs()}", pytrace=False)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        session = requests.Session()
        session.trust_env = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if session.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return False

    def terminate(self) -> None:
        """Sends SIGTERM without waiting."""
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Waits for the process to end; fails the test (after killing it) on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"aimass {self.name} still running {timeout}s after SIGTERM\n{self.logs()}",
                        pytrace=False)
        finally:
            if self in _RUNNING:
                _RUNNING.remove(self)
        return self.returncode

    def stop(self) -> int:
        """SIGTERM, wait, and assert a clean exit (code 0)."""
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.terminate()
        rc = self.wait_exit()
        assert rc == 0, f"aimass {self.name} exited with {rc} after SIGTERM\n{self.logs()}"
        return rc

    # -- logs -----------------------------------------------------------------------------

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def logs(self, tail: int = 6000) -> str:
        return (f"--- {self.name} stdout ({self.stdout_path}) ---\n{self.stdout_text()[-tail:]}\n"
                f"--- {self.name} stderr ({self.stderr_path}) ---\n{self.stderr_text()[-tail:]}")

    # -- API helpers ----------------------------------------------------------------------

    def client(self, token: str | None = None) -> Client:
        return Client(self, token)

    @property
    def anonymous(self) -> Client:
        return Client(self)

    @property
    def admin(self) -> Client:
        if self._admin is None:
            self._admin = Client(self, self.login(ADMIN_USER, ADMIN_PASSWORD))
        return self._admin

    @property
    def admin_token(self) -> str:
        return self.admin.token

    def request(self, method: str, path: str, token: str | None = None, **kwargs):
        return Client(self, token).request(method, path, **kwargs)

    def login_response(self, username: str, password: str, **kwargs) -> requests.Response:
        return self.anonymous.post("/api/v1/auth/login",
                                   json={"username": username, "password": password}, **kwargs)

    def login(self, username: str, password: str) -> str:
        resp = self.login_response(username, password)
        assert resp.status_code == 200, describe(resp)
        return resp.json()["access_token"]

    def create_user(self, roles: list[str] = ("viewer",), prefix: str = "user",
                    username: str | None = None) -> User:
        """Creates a user as admin and returns it logged in."""
        username = username or unique(prefix)
        password = strong_password()
        resp = self.admin.post("/api/v1/users", json={
            "username": username, "password": password, "roles": list(roles)})
        assert resp.status_code == 201, describe(resp)
        return User(username, password, list(roles), Client(self, self.login(username, password)))

    def create_role(self, permissions: list[str], prefix: str = "role") -> str:
        name = unique(prefix)
        resp = self.admin.post("/api/v1/roles", json={"name": name, "permissions": permissions})
        assert resp.status_code == 201, describe(resp)
        return name

    def metrics(self) -> dict:
        resp = self.admin.get("/metrics")
        assert resp.status_code == 200, describe(resp)
        return parse_metrics(resp.text)


# --------------------------------------------------------------------------------------------
# Fixtures


class ServerFactory:
    def __init__(self, binary: Path, tmp_factory: pytest.TempPathFactory, label: str):
        self.binary = binary
        self.tmp_factory = tmp_factory
        self.label = label
        self.started: list[AimassServer] = []

    def __call__(self, *args: str, env: dict | None = None,
                 data_dir: Path | None = None) -> AimassServer:
        workdir = self.tmp_factory.mktemp(f"aimass-{self.label}")
        srv = AimassServer(self.binary, workdir, list(args), env, data_dir,
                           name=f"{self.label}-{len(self.started) + 1}")
        self.started.append(srv)
        return srv.start()

    def stop_all(self) -> None:
        failures = []
        for srv in self.started:
            try:
                srv.stop()
            except BaseException as exc:  # keep stopping the others
                failures.append(str(exc))
        assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def server(aimass_bin, tmp_path_factory, request):
    """A server shared by every test of one module."""
    factory = ServerFactory(aimass_bin, tmp_path_factory, request.module.__name__)
    srv = factory()
    yield srv
    factory.stop_all()


@pytest.fixture
def make_server(aimass_bin, tmp_path_factory, request):
    """make_server(*extra_args, env=None, data_dir=None) -> a started AimassServer."""
    label = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:40]
    factory = ServerFactory(aimass_bin, tmp_path_factory, label)
    yield factory
    factory.stop_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the logs of every running server to a failed test's report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in list(_RUNNING):
            rep.sections.append((f"aimass {srv.name} logs", srv.logs()))
