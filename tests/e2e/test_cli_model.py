"""`aimass model …`: the registry from the command line, as a user would drive it."""

from __future__ import annotations

import hashlib
import json

import pytest

import models
from conftest import unique
from test_cli import Cli


@pytest.fixture
def admin_cli(aimass_bin, tmp_path, server):
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(aimass_bin, home)
    cli.login(server)
    return cli


def test_create_push_alias_pull_round_trip(admin_cli, tmp_path):
    name = unique("climodel")
    pt = models.torchscript_mlp(tmp_path / "mlp.pt")
    created = admin_cli.json("model", "create", name, "--task", "tabular-classification",
                             "--tag", "demo")
    assert created["name"] == name and created["tags"] == ["demo"]

    meta = json.dumps({"metrics": {"accuracy": 0.9}})
    pushed = admin_cli.json("model", "push", name, str(pt), "--framework", "torchscript",
                            "--metadata", meta)
    assert pushed["status"] == "ready" and pushed["version"] == 1
    assert pushed["digest"] == "sha256:" + hashlib.sha256(pt.read_bytes()).hexdigest()

    admin_cli.run("model", "alias", name, "production", "1")
    out = tmp_path / "pulled.pt"
    pulled = admin_cli.json("model", "pull", f"{name}@production", "--output", str(out))
    assert pulled["version"] == 1
    assert out.read_bytes() == pt.read_bytes()

    versions = admin_cli.json("model", "versions", name)
    assert [v["version"] for v in versions] == [1]
    found = admin_cli.json("model", "search", f"name = '{name}' AND metrics.accuracy > 0.5")
    assert [(v["model"], v["version"]) for v in found] == [(name, 1)]
    table = admin_cli.run("model", "list").stdout
    assert name in table and "NAME" in table.splitlines()[0]


def test_push_of_a_broken_file_exits_1_with_the_reason(admin_cli, tmp_path):
    name = unique("clibroken")
    admin_cli.run("model", "create", name)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    proc = admin_cli.run("model", "push", name, str(junk), "--framework", "torchscript", expect=1)
    assert "unprocessable" in proc.stderr and "not a loadable TorchScript file" in proc.stderr


def test_pull_of_an_unknown_alias_exits_1_and_writes_nothing(admin_cli, tmp_path):
    name = unique("clinoalias")
    admin_cli.run("model", "create", name)
    out = tmp_path / "never.bin"
    proc = admin_cli.run("model", "pull", f"{name}@staging", "--output", str(out), expect=1)
    assert "not_found" in proc.stderr
    assert not out.exists()


def test_delete_and_bad_usage(admin_cli, tmp_path):
    name = unique("clidelete")
    admin_cli.run("model", "create", name)
    xgb = models.xgboost_model(tmp_path / "m.json")
    admin_cli.run("model", "push", name, str(xgb), "-f", "xgboost")
    admin_cli.run("model", "delete", name, "--version", "1")
    assert admin_cli.json("model", "versions", name) == []
    admin_cli.run("model", "push", name, str(tmp_path / "missing.bin"), "-f", "onnx", expect=2)
    admin_cli.run("model", "pull", "no-separator", expect=1)
