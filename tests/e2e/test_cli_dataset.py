"""`aimass dataset …` against a live server: create, push (gzip, append, declared schema),
list, versions, show, profile, drift, alias, expect, validation, pull."""
from __future__ import annotations

import csv
import gzip
import io
import json

from conftest import unique
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from test_cli_mq import row_of


def test_dataset_lifecycle_from_the_command_line(admin_cli, tmp_path):
    name = unique("clids")
    admin_cli.run("dataset", "create", name, "--description", "orders")
    first = tmp_path / "orders.csv.gz"
    first.write_bytes(gzip.compress(b"id,amount,country\n1,9.5,UK\n2,3.25,FR\n3,,UK\n"))
    out = admin_cli.run("dataset", "push", name, str(first)).stdout
    assert f"Pushed {name} version 1 (3 rows, ready" in out, out
    # The same file again is the same version.
    assert "Unchanged" in admin_cli.run("dataset", "push", name, str(first)).stdout
    more = tmp_path / "more.jsonl"
    more.write_text('{"id": 4, "amount": 7, "country": "DE"}\n')
    v2 = admin_cli.json("dataset", "push", name, str(more), "--append", "latest", "-m", "late orders")
    assert v2["version"] == 2 and v2["row_count"] == 4 and v2["parent"] == 1 and v2["message"] == "late orders"

    listed = row_of(admin_cli.run("dataset", "list").stdout, name)
    assert listed["LATEST"] == "2" and listed["ROWS"] == "4", listed
    versions = admin_cli.run("dataset", "versions", name).stdout
    assert row_of(versions, "2")["PARENT"] == "1"
    shown = admin_cli.json("dataset", "show", name, "1")
    assert [c["name"] for c in shown["schema"]] == ["id", "amount", "country"]
    profile = admin_cli.run("dataset", "profile", name, "2").stdout
    amount = row_of(profile, "amount")
    assert amount["TYPE"] == "float" and amount["MISSING"] == "1" and amount["MIN"] == "3.25", amount
    assert "4 rows, 0 duplicate rows" in profile

    admin_cli.run("dataset", "alias", name, "train", "1")
    assert admin_cli.json("dataset", "show", name)["aliases"] == {"train": 1}
    drift = admin_cli.json("dataset", "drift", name, "latest", "--against", "train")
    assert drift["version"] == 2 and drift["against"] == 1

    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"expectations": [
        {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}}]}))
    assert "Set 1 expectations" in admin_cli.run("dataset", "expect", name, str(suite)).stdout
    third = tmp_path / "third.csv"
    third.write_text("id,amount,country\n5,,UK\n")
    assert "expectations failed" in admin_cli.run("dataset", "push", name, str(third), "--append", "2").stdout
    failing = admin_cli.run("dataset", "validation", name, "3", expect=1).stdout
    assert "FAIL" in failing and "0 of 1 passed" in failing

    out = tmp_path / "pulled.csv"
    admin_cli.run("dataset", "pull", name, "train", "-o", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows == [{"id": "1", "amount": "9.5", "country": "UK"}, {"id": "2", "amount": "3.25", "country": "FR"},
                    {"id": "3", "amount": "", "country": "UK"}]
    jl = admin_cli.run("dataset", "pull", name, "2", "--format", "jsonl", "-o", "-").stdout
    assert json.loads(jl.splitlines()[-1]) == {"id": 4, "amount": 7.0, "country": "DE"}

    # Errors: a file whose format cannot be told, an unknown dataset.
    odd = tmp_path / "data.bin"
    odd.write_bytes(b"x")
    assert "--format" in admin_cli.run("dataset", "push", name, str(odd), expect=1).stderr
    assert "not_found" in admin_cli.run("dataset", "show", unique("none"), expect=1).stderr


def test_collector_commands(admin_cli, tmp_path):
    ds = unique("clicol")
    admin_cli.run("dataset", "create", ds)
    name = unique("push")
    out = admin_cli.run("collector", "create", name, "--dataset", ds, "--source", '{"type":"http"}',
                        "--batch-rows", "100", "--batch-wait", "0.2").stdout
    assert f"Created collector {name} (http into {ds}); push to /api/v1/collect/{name}" in out, out
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": 1, "ok": true}\n{"id": 2, "ok": false}\nnot json\n')
    assert "Accepted 2 rows, rejected 1" in admin_cli.run("collector", "push", name, str(rows)).stdout
    import time
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = row_of(admin_cli.run("collector", "list").stdout, name)
        if listed["ROWS"] == "2":
            break
        time.sleep(0.2)
    assert listed["STATE"] == "running" and listed["SOURCE"] == "http" and listed["REJECTED"] == "1", listed
    rejected = admin_cli.run("collector", "rejected", name).stdout
    assert "not valid JSON" in rejected and "not json" in rejected
    assert "is paused" in admin_cli.run("collector", "pause", name).stdout
    assert admin_cli.json("collector", "show", name)["status"]["state"] == "paused"
    assert "is running" in admin_cli.run("collector", "resume", name).stdout
    src = tmp_path / "src.json"
    src.write_text(json.dumps({"type": "file_tail", "path": "relative"}))
    assert "must be absolute" in admin_cli.run("collector", "create", unique("bad"), "-d", ds, "-s", f"@{src}", expect=1).stderr
    admin_cli.run("collector", "delete", name)
    assert "not_found" in admin_cli.run("collector", "show", name, expect=1).stderr
