"""`aimass model …`: the registry from the command line, as a user would drive it."""

from __future__ import annotations

import hashlib
import json

import pytest

import models
from conftest import unique
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)


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


def test_a_directory_is_pushed_as_a_tree_and_pulled_back_file_by_file(admin_cli, tmp_path):
    name = unique("clitree")
    src = tmp_path / "src"
    (src / "config").mkdir(parents=True)
    models.torchscript_mlp(src / "model.pt")
    (src / "config" / "labels.txt").write_text("a\nb\nc\n")
    (src / "run.sh").write_text("#!/bin/sh\necho ok\n")
    (src / "run.sh").chmod(0o755)
    admin_cli.run("model", "create", name)
    pushed = admin_cli.json("model", "push", name, str(src), "--framework", "torchscript")
    assert pushed["status"] == "ready"
    assert pushed["artifact"] == {"kind": "directory", "entry": "model.pt"}
    admin_cli.run("model", "alias", name, "staging", "1")

    out = tmp_path / "pulled"
    pulled = admin_cli.json("model", "pull", f"{name}@staging", "--output", str(out))
    assert pulled["version"] == 1 and pulled["digest"] == pushed["digest"]
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == ["config/labels.txt", "model.pt", "run.sh"]
    for rel in got:
        assert (out / rel).read_bytes() == (src / rel).read_bytes()
    assert (out / "run.sh").stat().st_mode & 0o111


def test_pushing_a_directory_with_a_link_is_refused_before_upload(admin_cli, tmp_path):
    name = unique("clitree")
    src = tmp_path / "src"
    src.mkdir()
    models.torchscript_mlp(src / "model.pt")
    (src / "passwd").symlink_to("/etc/passwd")
    admin_cli.run("model", "create", name)
    res = admin_cli.run("model", "push", name, str(src), "--framework", "torchscript", expect=1)
    assert "link" in res.stderr
    assert admin_cli.json("model", "versions", name) == []
