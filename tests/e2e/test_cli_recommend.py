"""`aimass recommend …`: an app created from a file, its catalogue and feedback sent from JSON
lines files (in batches), trained (waiting for it), asked for a user's recommendations, similar
items and a session's next item, evaluated offline, and an A/B experiment started, read and
stopped; bad files refused."""
from __future__ import annotations

import json
import random

from conftest import unique
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from test_cli_mq import row_of

DAY_MS = 86_400_000


def shop(tmp_path, app: str):
    """Forty users in two tastes over sixty days: books or garden, each user mostly one."""
    rng = random.Random(7)
    items = [{"id": f"b{k}", "categories": ["books"], "properties": {"title": f"Book {k}"}} for k in range(15)]
    items += [{"id": f"g{k}", "categories": ["garden"], "properties": {"title": f"Garden tool {k}"}} for k in range(15)]
    feedback = []
    for u in range(40):
        taste = "b" if u % 2 else "g"
        for visit in range(6):
            t = 1_700_000_000_000 + (visit * 10 + u % 10) * DAY_MS
            for step in range(3):
                feedback.append({"user": f"u{u}", "item": f"{taste}{rng.randrange(15)}", "type": "purchase" if step == 2 else "view",
                                 "timestamp": t + step * 60_000, "session": f"u{u}-{visit}"})
    (tmp_path / "app.json").write_text(json.dumps({"name": app, "feedback_types": {"view": 1, "purchase": 5},
                                                   "training": {"ranker_days": 10, "recent_days": 10}}))
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\n")
    (tmp_path / "feedback.jsonl").write_text("\n".join(json.dumps(f) for f in feedback) + "\n")
    return items, feedback


def test_recommend_from_the_command_line(admin_cli, tmp_path):
    app = unique("cli-shop").replace(".", "-").lower()
    items, feedback = shop(tmp_path, app)
    assert f"App {app} created" in admin_cli.run("recommend", "create", str(tmp_path / "app.json")).stdout
    assert "30 items sent" in admin_cli.run("recommend", "items", app, str(tmp_path / "items.jsonl")).stdout
    assert f"{len(feedback)} feedback sent" in admin_cli.run("recommend", "feedback", app, str(tmp_path / "feedback.jsonl")).stdout
    row = row_of(admin_cli.run("recommend", "list").stdout, app)
    assert row["STATE"] == "untrained" and row["ITEMS"] == "30" and row["FEEDBACK"] == str(len(feedback)), row

    out = admin_cli.run("recommend", "train", app, timeout=600).stdout
    assert f"App {app} serves model version 1" in out, out

    # A books reader gets books, each with its reason.
    answer = admin_cli.json("recommend", "for", app, "u1", "-n", "5")
    assert answer["algorithm"] == "ranker" and len(answer["items"]) == 5
    assert sum(i["categories"] == ["books"] for i in answer["items"]) >= 4, answer
    out = admin_cli.run("recommend", "for", app, "u1", "-n", "5", "--algorithm", "item_knn").stdout
    assert "WHY" in out and "by item_knn" in out and "chosen by the people who chose Book" in out, out
    similar = admin_cli.json("recommend", "similar", app, "g3", "-n", "3")
    assert len(similar["items"]) == 3 and all(i["id"].startswith("g") for i in similar["items"]), similar
    nxt = admin_cli.json("recommend", "next", app, "u2-5", "-n", "3")
    assert nxt["session_items"] and len(nxt["items"]) == 3

    out = admin_cli.run("recommend", "evaluate", app, "--test-days", "15", "-k", "5", timeout=600).stdout
    assert "NDCG@5" in out and "(best)" in out and "popular" in out and "the popularity baseline" in out, out

    (tmp_path / "exp.json").write_text(json.dumps({"name": "knn-vs-pop", "variants": [
        {"name": "control", "algorithm": "popular"}, {"name": "knn", "algorithm": "item_knn"}]}))
    assert "Experiment knn-vs-pop: running" in admin_cli.run("recommend", "experiment", "start", app, str(tmp_path / "exp.json")).stdout
    for u in range(10):
        admin_cli.json("recommend", "for", app, f"u{u}")
    shown = admin_cli.json("recommend", "experiment", "show", app, "knn-vs-pop")
    assert sum(v["exposures"] for v in shown["variants"]) == 100, shown
    assert "stopped" in admin_cli.run("recommend", "experiment", "stop", app, "knn-vs-pop").stdout

    # Bad files change nothing.
    (tmp_path / "bad.jsonl").write_text('{"user": "u1", "item": "b1", "type": "view"}\nnot json\n')
    bad = admin_cli.run("recommend", "feedback", app, str(tmp_path / "bad.jsonl"), expect=None)
    assert bad.returncode != 0 and "line 2" in bad.stderr, bad.stderr
    (tmp_path / "wrong.jsonl").write_text('{"user": "u1", "item": "b1", "type": "like"}\n')
    wrong = admin_cli.run("recommend", "feedback", app, str(tmp_path / "wrong.jsonl"), expect=None)
    assert wrong.returncode != 0 and "feedback types" in wrong.stderr, wrong.stderr
    assert row_of(admin_cli.run("recommend", "list").stdout, app)["FEEDBACK"] == str(len(feedback))
