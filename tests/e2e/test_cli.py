"""The `aimass` command-line client against a live server."""

import json
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import ADMIN_PASSWORD, ADMIN_USER, clean_env, strong_password, unique


@dataclass
class Cli:
    """Runs `aimass ...` with HOME pointing at a private directory."""

    binary: Path
    home: Path

    @property
    def config_path(self) -> Path:
        return self.home / ".config" / "aimass" / "config.yaml"

    def run(self, *args: str, env: dict | None = None, expect: int | None = 0, timeout: float = 30):
        proc = subprocess.run([str(self.binary), *args],
                              env=clean_env(HOME=str(self.home), **(env or {})),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if expect is not None:
            assert proc.returncode == expect, (
                f"aimass {' '.join(args)}: exit {proc.returncode}, expected {expect}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def json(self, *args: str, **kw):
        proc = self.run(*args, "--json", **kw)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            pytest.fail(f"aimass {' '.join(args)} --json printed no JSON: {proc.stdout!r}")

    def login(self, server, username=ADMIN_USER, password=ADMIN_PASSWORD):
        return self.run("login", "--server", server.url, "--username", username,
                        "--password", password)


@pytest.fixture
def cli(aimass_bin, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return Cli(aimass_bin, home)


@pytest.fixture
def admin_cli(cli, server):
    cli.login(server)
    return cli


def test_login_writes_a_private_config_file(cli, server):
    cli.login(server)
    assert cli.config_path.is_file()
    assert stat.S_IMODE(cli.config_path.stat().st_mode) == 0o600
    config = yaml.safe_load(cli.config_path.read_text())
    assert config["server"] == server.url
    assert config["token"]
    assert ADMIN_PASSWORD not in cli.config_path.read_text()


def test_login_takes_the_password_from_the_environment(cli, server):
    cli.run("login", "--server", server.url, "--username", ADMIN_USER,
            env={"AIMASS_PASSWORD": ADMIN_PASSWORD})
    assert cli.json("whoami")["username"] == ADMIN_USER


def test_login_with_a_wrong_password_fails_and_stores_no_token(cli, server):
    cli.run("login", "--server", server.url, "--username", ADMIN_USER,
            "--password", "wrong-password", expect=1)
    if cli.config_path.exists():
        assert not (yaml.safe_load(cli.config_path.read_text()) or {}).get("token")


def test_whoami_json(admin_cli):
    me = admin_cli.json("whoami")
    assert me["username"] == ADMIN_USER
    assert "admin" in me["roles"]


def test_whoami_without_login_exits_1(cli):
    cli.run("whoami", expect=1)


def test_whoami_with_a_revoked_token_exits_1(admin_cli, server):
    token = yaml.safe_load(admin_cli.config_path.read_text())["token"]
    assert server.client(token).post("/api/v1/auth/logout").status_code == 200
    admin_cli.run("whoami", expect=1)


def test_unknown_subcommand_exits_2(cli):
    cli.run("frobnicate", expect=2)


def test_unknown_flag_exits_2(cli):
    cli.run("whoami", "--frobnicate", expect=2)


def test_global_server_and_token_options_need_no_config(cli, server):
    me = cli.json("whoami", "--server", server.url, "--token", server.admin_token)
    assert me["username"] == ADMIN_USER
    assert not cli.config_path.exists()


def test_user_add_list_delete(admin_cli, server):
    name = unique("cliuser")
    password = strong_password()
    admin_cli.run("user", "add", name, "--password", password, "--role", "viewer")

    listed = {u["username"]: u for u in admin_cli.json("user", "list")}
    assert listed[name]["roles"] == ["viewer"]
    assert server.login(name, password), "the CLI-created user can log in"

    admin_cli.run("user", "delete", name)
    assert name not in {u["username"] for u in admin_cli.json("user", "list")}
    assert server.admin.get(f"/api/v1/users/{name}").status_code == 404
    admin_cli.run("user", "delete", name, expect=1)


def test_user_add_with_several_roles(admin_cli, server):
    name = unique("multirole")
    admin_cli.run("user", "add", name, "--password", strong_password(),
                  "--role", "viewer", "--role", "developer")
    listed = {u["username"]: u for u in admin_cli.json("user", "list")}
    assert sorted(listed[name]["roles"]) == ["developer", "viewer"]


def test_viewer_cannot_add_users_via_cli(cli, server):
    viewer = server.create_user(["viewer"], prefix="cliviewer")
    cli.login(server, viewer.username, viewer.password)
    name = unique("forbidden")
    cli.run("user", "add", name, "--password", strong_password(), "--role", "viewer", expect=1)
    assert server.admin.get(f"/api/v1/users/{name}").status_code == 404


def test_apikey_create_list_revoke(admin_cli, server):
    created = admin_cli.json("apikey", "create", "--name", unique("clikey"))
    assert created["key"].startswith("amk_")
    as_key = server.client(created["key"])
    assert as_key.get("/api/v1/auth/whoami").json()["auth"] == "apikey"

    listing = admin_cli.run("apikey", "list", "--json").stdout
    assert created["id"] in listing
    assert created["key"] not in listing
    json.loads(listing)

    admin_cli.run("apikey", "revoke", str(created["id"]))
    assert as_key.get("/api/v1/auth/whoami").status_code == 401


def test_revoking_an_unknown_apikey_exits_1(admin_cli):
    admin_cli.run("apikey", "revoke", "nosuchkey", expect=1)


def test_saved_token_is_never_sent_to_another_server(admin_cli):
    """`--server` pointing elsewhere must not carry the token saved for the logged-in server."""
    import http.server
    import threading

    seen = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error":{"code":"unauthenticated","message":"x","request_id":"r"}}')

        def log_message(self, *args):
            pass

    other = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    t = threading.Thread(target=other.serve_forever, daemon=True)
    t.start()
    try:
        proc = admin_cli.run("whoami", "--server", f"http://127.0.0.1:{other.server_port}", expect=1)
        assert "not logged in" in proc.stderr
        assert seen == []  # it did not even ask, for want of a token for that server
    finally:
        other.shutdown()


def test_user_add_reads_the_password_from_the_environment(admin_cli, server):
    name = unique("envpw")
    admin_cli.run("user", "add", name, "--role", "viewer", env={"AIMASS_PASSWORD": "from-the-env-123"})
    assert server.login_response(name, "from-the-env-123").status_code == 200


def test_failpoint_commands_arm_list_and_clear_a_point(cli, make_server):
    srv = make_server("--failpoints-api")
    cli.login(srv)
    out = cli.run("failpoint", "set", "mq.before_fsync", "2*error(ENOSPC)").stdout
    assert "mq.before_fsync" in out and "2*error(ENOSPC)" in out
    armed = cli.json("failpoint", "list", "--armed")
    assert [(p["name"], p["action"], p["hits"]) for p in armed] == [("mq.before_fsync", "2*error(ENOSPC)", 0)]
    everything = cli.json("failpoint", "list")
    assert len(everything) > len(armed) and all(p["guards"] for p in everything)
    assert "error" in cli.run("failpoint", "set", "no.such.point", "crash", expect=1).stderr
    assert "error" in cli.run("failpoint", "set", "mq.before_fsync", "explode", expect=1).stderr
    cli.run("failpoint", "clear", "mq.before_fsync")
    assert cli.json("failpoint", "list", "--armed") == []


def test_failpoint_commands_need_the_flag(admin_cli):
    # The module's shared server runs without --failpoints-api: the routes do not exist.
    assert "error" in admin_cli.run("failpoint", "list", expect=1).stderr
