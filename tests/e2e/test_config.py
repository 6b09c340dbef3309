"""Configuration layering (defaults < YAML file < env < flags), secret masking, JSON logs."""

import json
import subprocess

import pytest
import yaml

from conftest import clean_env

SECRET_MASK = "***"


def lookup(config: dict, dotted_key: str):
    """Reads `a.b` from nested YAML (a: {b: ..}) or from a flat `a.b:` key."""
    if dotted_key in config:
        return config[dotted_key]
    node = config
    for part in dotted_key.split("."):
        assert isinstance(node, dict) and part in node, f"{dotted_key} missing from {config}"
        node = node[part]
    return node


@pytest.fixture
def print_config(aimass_bin, tmp_path):
    """print_config(*flags, env={}) -> (parsed YAML, raw stdout)."""

    def run(*flags: str, env: dict | None = None):
        proc = subprocess.run(
            [str(aimass_bin), "server", "--print-config", "--data-dir", str(tmp_path / "data"),
             *flags],
            env=clean_env(HOME=str(tmp_path), **(env or {})),
            capture_output=True, text=True, timeout=20,
        )
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        config = yaml.safe_load(proc.stdout)
        assert isinstance(config, dict), proc.stdout
        return config, proc.stdout

    return run


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "aimass.yaml"
    path.write_text(yaml.safe_dump({
        "listen": "127.0.0.1:1111",
        "http": {"max_body_bytes": 1111},
    }))
    return path


ENV_LAYER = {"AIMASS_LISTEN": "127.0.0.1:2222", "AIMASS_HTTP_MAX_BODY_BYTES": "2222"}
FLAG_LAYER = ["--listen", "127.0.0.1:3333", "--set", "http.max_body_bytes=3333"]


def test_defaults(print_config):
    config, _ = print_config()
    assert lookup(config, "http.max_body_bytes") == 1 << 20
    assert lookup(config, "http.max_upload_bytes") == 1 << 30


def test_yaml_file_beats_defaults(print_config, config_file):
    config, _ = print_config("--config", str(config_file))
    assert lookup(config, "listen") == "127.0.0.1:1111"
    assert lookup(config, "http.max_body_bytes") == 1111


def test_env_beats_yaml_file(print_config, config_file):
    config, _ = print_config("--config", str(config_file), env=ENV_LAYER)
    assert lookup(config, "listen") == "127.0.0.1:2222"
    assert lookup(config, "http.max_body_bytes") == 2222


def test_flags_beat_env_and_yaml_file(print_config, config_file):
    config, _ = print_config("--config", str(config_file), *FLAG_LAYER, env=ENV_LAYER)
    assert lookup(config, "listen") == "127.0.0.1:3333"
    assert lookup(config, "http.max_body_bytes") == 3333


def test_secrets_are_masked(print_config, tmp_path):
    file_secret = "jwt-from-file-0a9b8c7d6e5f"
    path = tmp_path / "secret.yaml"
    path.write_text(yaml.safe_dump({"auth": {"jwt_secret": file_secret}}))

    config, raw = print_config("--config", str(path), env={"AIMASS_ADMIN_PASSWORD": "supersecret"})
    assert "supersecret" not in raw
    assert file_secret not in raw
    assert lookup(config, "auth.jwt_secret") == SECRET_MASK

    flag_secret = "jwt-from-flag-1f2e3d4c5b6a"
    config, raw = print_config("--set", f"auth.jwt_secret={flag_secret}",
                               env={"AIMASS_ADMIN_PASSWORD": "supersecret"})
    assert flag_secret not in raw and "supersecret" not in raw
    assert lookup(config, "auth.jwt_secret") == SECRET_MASK


def test_invalid_log_format_is_refused(aimass_bin, tmp_path):
    proc = subprocess.run(
        [str(aimass_bin), "server", "--data-dir", str(tmp_path / "data"),
         "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--log-format", "xml"],
        env=clean_env(HOME=str(tmp_path), AIMASS_ADMIN_PASSWORD="Admin-e2e-Pa55word!"),
        capture_output=True, text=True, timeout=20,
    )
    assert proc.returncode != 0


def test_json_logs_are_one_object_per_line_with_request_ids(make_server):
    srv = make_server("--log-format", "json", "--log-level", "info")
    rid = "json-log-probe-5e6f7a"
    assert srv.anonymous.get("/healthz", headers={"X-Request-Id": rid}).status_code == 200
    srv.stop()

    lines = [line for line in srv.stderr_text().splitlines() if line.strip()]
    assert lines, "no log output at all"
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"log line is not JSON: {line!r}")
        assert isinstance(record, dict), line
        assert {"level", "msg"} <= set(record), line
        records.append(record)
    assert any(r.get("request_id") == rid for r in records), "no access log line for the request"
