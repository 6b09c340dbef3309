"""`aimass assist …`: a bot created from a file, trained (waiting for it), talked to over a form
and by voice, measured on labelled messages, a second version rolled back, bad files refused."""
from __future__ import annotations

import json

from conftest import unique
from test_assist import diner_bot, spoken
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from test_cli_mq import row_of


def test_assist_from_the_command_line(admin_cli, server, tmp_path):
    index = unique("clifaq").replace(".", "-").lower()
    assert server.admin.post("/api/v1/search/indexes", json={"name": index, "fields": {"title": {"type": "text"},
                                                                                        "body": {"type": "text"}}}).status_code == 201
    bot = unique("clibot").replace(".", "-").lower()
    definition = tmp_path / "bot.json"
    definition.write_text(json.dumps(diner_bot(bot, index)))
    assert f"Bot {bot} version 1 stored" in admin_cli.run("assist", "create", str(definition)).stdout
    assert row_of(admin_cli.run("assist", "list").stdout, bot)["STATE"] == "draft"

    out = admin_cli.run("assist", "train", bot, timeout=600).stdout
    assert f"Bot {bot} version 1 trained and serving" in out and "(kept)" in out and "IN SCOPE" in out, out

    c = unique("c").replace(".", "-").lower()
    out = admin_cli.run("assist", "chat", bot, "-c", c, "-m", "book a table for friday").stdout
    assert "bot> For how many people?" in out and "(book_table" in out, out
    answer = admin_cli.json("assist", "chat", bot, "-c", c, "-m", "for 3")
    assert answer["slots"] == {"day": "friday", "people": "3"} and answer["state"]["confirming"]

    # By voice: a WAV in, what was heard and the replies out, the replies spoken into a file.
    (tmp_path / "said.wav").write_bytes(spoken("I want to talk to a person"))
    out = admin_cli.run("assist", "chat", bot, "--audio", str(tmp_path / "said.wav"), "--speak", str(tmp_path / "reply.wav")).stdout
    assert "heard> i want to talk to a person" in out and "with a person" in out, out
    reply = (tmp_path / "reply.wav").read_bytes()
    assert reply[:4] == b"RIFF" and len(reply) > 22050, len(reply)

    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("\n".join(json.dumps(x) for x in [
        {"text": "hello there", "intent": "greet"}, {"text": "goodbye now", "intent": "goodbye"},
        {"text": "I'd like to reserve a table", "intent": "book_table"}, {"text": "let me talk to a human", "intent": "human_handoff"},
        {"text": "what is the capital of france", "intent": "out_of_scope"}]) + "\n")
    report = admin_cli.json("assist", "test", bot, str(labelled))
    assert report["messages"] == 5 and report["accuracy"] >= 0.6, report
    out = admin_cli.run("assist", "test", bot, str(labelled)).stdout
    assert "accuracy" in out and "on 5 messages" in out and "PRECISION" in out, out

    # A second version, then back to the first.
    d = diner_bot(bot, index)
    d["responses"]["greet"] = "Welcome back!"
    definition.write_text(json.dumps(d))
    assert f"Bot {bot} version 2 stored" in admin_cli.run("assist", "create", str(definition)).stdout
    admin_cli.run("assist", "train", bot, timeout=600)
    assert "bot> Welcome back!" in admin_cli.run("assist", "chat", bot, "-m", "hello").stdout
    admin_cli.run("assist", "rollback", bot, "1")
    shown = admin_cli.json("assist", "show", bot)
    assert shown["serving_version"] == 1 and shown["latest_version"] == 2

    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert "not a bot definition" in admin_cli.run("assist", "create", str(bad), expect=1).stderr
    bad.write_text(json.dumps({"name": "x-bad", "intents": []}))
    assert "intents" in admin_cli.run("assist", "create", str(bad), expect=1).stderr
    bad.write_text("greet hello\n")
    assert "intent<TAB>text" in admin_cli.run("assist", "test", bot, str(bad), expect=1).stderr
