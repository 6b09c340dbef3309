"""`aimass behavior …`: a project created and listed, events captured from a JSON-lines file (a
retry stores nothing twice), a dataset version imported with an expression property, insights
printed as tables whose numbers are computed here from the same events, a person after an
alias, a cohort saved from a file, and bad input refused with a clear message."""
from __future__ import annotations

import json
import random

from conftest import unique
from datasets_helpers import create_dataset, push, wait_ready
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from test_cli_mq import row_of, table


def events() -> list[dict]:
    """Forty persons over three days: all open the app, some sign up, fewer buy."""
    rng = random.Random(11)
    out = []
    for p in range(40):
        day = 1 + p % 3
        out.append({"event": "open", "distinct_id": f"p{p}", "timestamp": f"2024-03-0{day}T08:00:00Z", "uuid": f"o{p}"})
        if rng.random() < 0.6:
            out.append({"event": "signup", "distinct_id": f"p{p}", "timestamp": f"2024-03-0{day}T08:05:00Z", "uuid": f"s{p}"})
            if rng.random() < 0.5:
                out.append({"event": "buy", "distinct_id": f"p{p}", "timestamp": f"2024-03-0{day}T09:00:00Z",
                            "properties": {"amount": p}, "uuid": f"b{p}"})
    return out


def test_behavior_from_the_command_line(admin_cli, server, tmp_path):
    project = unique("cli-shop").replace(".", "-").lower()
    created = admin_cli.json("behavior", "create", project, "--description", "from the CLI")
    assert created["name"] == project
    evs = events()
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in evs) + "\n")
    out = admin_cli.run("behavior", "capture", project, str(path), "--batch", "7").stdout
    assert f"{len(evs)} events stored, 0 duplicates skipped" in out, out
    out = admin_cli.run("behavior", "capture", project, str(path)).stdout
    assert f"0 events stored, {len(evs)} duplicates skipped" in out, out
    row = row_of(admin_cli.run("behavior", "projects").stdout, project)
    assert row["EVENTS"] == str(len(evs)) and row["DISTINCT IDS"] == "40", row

    # A funnel as a table: persons per step, as counted here.
    signed = {e["distinct_id"] for e in evs if e["event"] == "signup"}
    bought = {e["distinct_id"] for e in evs if e["event"] == "buy"}
    query = json.dumps({"steps": ["open", "signup", "buy"], "date_from": "2024-03-01", "date_to": "2024-03-03"})
    out = admin_cli.run("behavior", "insight", project, "funnels", query).stdout
    header, rows = table(out.rsplit("\n", 2)[0])
    assert header[:3] == ["STEP", "EVENT", "PERSONS"], out
    assert [r[2] for r in rows] == ["40", str(len(signed)), str(len(bought))], out
    # Trends by day, from a file.
    (tmp_path / "trends.json").write_text(json.dumps({"event": "buy", "math": "sum", "math_property": "amount", "interval": "day",
                                                      "date_from": "2024-03-01", "date_to": "2024-03-03"}))
    answer = admin_cli.json("behavior", "insight", project, "trends", "@" + str(tmp_path / "trends.json"))
    by_day = [sum(e["properties"]["amount"] for e in evs if e["event"] == "buy" and e["timestamp"].startswith(f"2024-03-0{d}"))
              for d in (1, 2, 3)]
    assert answer["series"][0]["data"] == by_day, answer

    # An alias merges two ids into one person.
    assert admin_cli.json("behavior", "alias", project, "p1", "anon-1")["distinct_ids"] == ["p1", "anon-1"]
    assert admin_cli.json("behavior", "person", project, "anon-1")["distinct_id"] == "p1"

    # A dataset version as events, with an expression property.
    a = server.admin
    ds = create_dataset(a)
    push(a, ds, b"who,when,qty,price\nx1,2024-03-01T10:00:00Z,2,1.5\nx2,2024-03-02T10:00:00Z,3,2\n,2024-03-02T11:00:00Z,1,1\n", status=201)
    wait_ready(a, ds, 1)
    out = admin_cli.run("behavior", "import", project, "--dataset", ds, "--event", "order", "--distinct-id", "who",
                        "--timestamp", "when", "-p", "value=qty * price").stdout
    assert f"2 events stored from {ds} version 1, 1 rows skipped" in out, out
    total = admin_cli.json("behavior", "insight", project, "trends", json.dumps(
        {"event": "order", "math": "sum", "math_property": "value", "interval": "month", "date_from": "2024-03-01", "date_to": "2024-03-31"}))
    assert total["series"][0]["total"] == 9, total

    # A cohort from a file, with its size.
    (tmp_path / "cohort.json").write_text(json.dumps({"name": "buyers", "criteria": {"conditions": [
        {"type": "behavior", "event": "buy", "min_count": 1, "date_from": "2024-03-01", "date_to": "2024-03-31"}]}}))
    out = admin_cli.run("behavior", "cohort", project, str(tmp_path / "cohort.json")).stdout
    assert f"Cohort buyers: {len(bought)} persons" in out, out
    assert row_of(admin_cli.run("behavior", "cohorts", project).stdout, "buyers")["KIND"] == "dynamic"

    bad = admin_cli.run("behavior", "insight", project, "funnels", '{"steps": ["open"]}', expect=None)
    assert bad.returncode != 0 and "steps is a list of 2-20 steps" in bad.stderr
    bad = admin_cli.run("behavior", "insight", project, "trends", "{not json", expect=None)
    assert bad.returncode != 0
    (tmp_path / "bad.jsonl").write_text('{"event": "x", "distinct_id": "y"}\nnot json\n')
    bad = admin_cli.run("behavior", "capture", project, str(tmp_path / "bad.jsonl"), expect=None)
    assert bad.returncode != 0 and "line 2 is not a JSON object" in bad.stderr
    assert admin_cli.run("behavior", "delete", project).returncode == 0
    assert project not in admin_cli.run("behavior", "projects").stdout
