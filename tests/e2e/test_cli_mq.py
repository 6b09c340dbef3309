"""`aimass mq …`: topics, publish, subscriptions (pull, ack, nack, seek) and dead letters from
the command line, against a live server."""
from __future__ import annotations

import json
import re
import subprocess
import time

from conftest import clean_env, unique
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)


def table(stdout: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a table printed by the CLI, split on runs of 2+ spaces."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    split = [re.split(r"\s{2,}", ln.strip()) for ln in lines]
    return split[0], split[1:]


def row_of(stdout: str, first: str) -> dict[str, str]:
    header, rows = table(stdout)
    found = [r for r in rows if r[0] == first]
    assert len(found) == 1, f"no single row for {first!r} in:\n{stdout}"
    return dict(zip(header, found[0]))


def make_topic(cli, *extra) -> str:
    name = unique("t")
    cli.run("mq", "topic", "add", name, *extra)
    return name


def make_sub(cli, topic, *extra) -> str:
    name = unique("s")
    cli.run("mq", "sub", "add", name, "--topic", topic, "--start", "earliest", *extra)
    return name


def pull_until(cli, sub, want=1, timeout=10.0):
    """Pulls (JSON) until `want` messages came or the time is up."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += cli.json("mq", "sub", "pull", sub, "--wait-ms", "500")
    return got


def dead_letters(cli, sub, want=1, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        dlq = cli.json("mq", "dlq", "list", sub)
        if len(dlq) >= want or time.monotonic() > deadline:
            return dlq
        time.sleep(0.05)


def test_topic_add_list_show_delete(admin_cli):
    topic = unique("t")
    made = admin_cli.json("mq", "topic", "add", topic, "--partitions", "3", "--fsync", "always",
                          "--set", '{"dedup_window_ms": 5000}')
    assert made["name"] == topic and made["partitions"] == 3 and made["fsync"] == "always"
    assert made["dedup_window_ms"] == 5000 and made["next_offsets"] == [0, 0, 0]

    # a table with a row per topic
    out = admin_cli.run("mq", "topic", "list").stdout
    assert table(out)[0] == ["NAME", "PARTITIONS", "FSYNC", "MESSAGES", "BYTES"]
    assert row_of(out, topic) == {"NAME": topic, "PARTITIONS": "3", "FSYNC": "always", "MESSAGES": "0", "BYTES": "0"}
    # --json: the list of topic documents
    listed = {t["name"]: t for t in admin_cli.json("mq", "topic", "list")}
    assert listed[topic]["partitions"] == 3

    admin_cli.run("mq", "pub", topic, "x", "--key", "k")
    shown = admin_cli.json("mq", "topic", "show", topic)
    assert shown["messages"] == 1 and sum(shown["next_offsets"]) == 1
    # without --json, show prints the same document, indented
    assert json.loads(admin_cli.run("mq", "topic", "show", topic).stdout)["messages"] == 1

    # creating it again is refused by the server: exit 1 with its reason
    again = admin_cli.run("mq", "topic", "add", topic, expect=1)
    assert again.stderr.startswith("error: ") and topic in again.stderr

    assert admin_cli.run("mq", "topic", "delete", topic).stdout == f"Deleted topic {topic}\n"
    gone = admin_cli.run("mq", "topic", "show", topic, expect=1)
    assert gone.stderr.startswith("error: not_found") and topic in gone.stderr
    assert topic not in {t["name"] for t in admin_cli.json("mq", "topic", "list")}


def test_pub_with_key_and_headers_then_pull_shows_the_body_and_ack(admin_cli):
    topic = make_topic(admin_cli)
    sub = make_sub(admin_cli, topic)

    res = admin_cli.json("mq", "pub", topic, "hello world", "--key", "k1", "--header", "trace=abc",
                         "--header", "kind=greeting")
    assert res == {"topic": topic, "results": [{"partition": 0, "offset": 0, "duplicate": False}]}
    out = admin_cli.run("mq", "pub", topic, "second\nline").stdout
    assert out == f"Published to {topic}: partition 0, offset 1\n"

    pulled = admin_cli.run("mq", "sub", "pull", sub, "--max", "10").stdout
    assert table(pulled)[0] == ["ID", "KEY", "DELIVERIES", "HEADERS", "BODY"]
    first = row_of(pulled, f"{topic}:0:0")
    assert first == {"ID": f"{topic}:0:0", "KEY": "k1", "DELIVERIES": "1",
                     "HEADERS": "kind=greeting,trace=abc", "BODY": "hello world"}
    # a body's newline is shown escaped, so one message stays one row
    assert f"{topic}:0:1" in pulled and "second\\nline" in pulled

    # both in flight: nothing more to pull until they are acked or time out
    assert admin_cli.run("mq", "sub", "pull", sub).stdout == "No messages\n"
    assert admin_cli.json("mq", "sub", "show", sub)["in_flight"] == 2

    acked = admin_cli.json("mq", "sub", "ack", sub, f"{topic}:0:0", f"{topic}:0:1")
    assert acked == {"acked": 2, "unknown": []}
    info = admin_cli.json("mq", "sub", "show", sub)
    assert info["in_flight"] == 0 and info["backlog"] == 0

    # an id no longer in flight: exit 1, naming it
    twice = admin_cli.run("mq", "sub", "ack", sub, f"{topic}:0:0", expect=1)
    assert twice.stdout == "Acknowledged 0 messages\n"
    assert "not in flight" in twice.stderr and f"{topic}:0:0" in twice.stderr


def test_pull_json_with_ack_acknowledges_what_it_printed(admin_cli):
    topic = make_topic(admin_cli)
    sub = make_sub(admin_cli, topic)
    admin_cli.run("mq", "pub", topic, '{"n": 1}', "--key", "order-7", "--header", "a=b")
    got = admin_cli.json("mq", "sub", "pull", sub, "--ack", "--wait-ms", "2000")
    assert len(got) == 1
    m = got[0]
    assert m["body"] == '{"n": 1}' and m["key"] == "order-7" and m["headers"] == {"a": "b"}
    assert m["id"] == f"{topic}:0:0" and m["deliveries"] == 1 and m["topic"] == topic
    info = admin_cli.json("mq", "sub", "show", sub)
    assert info["in_flight"] == 0 and info["backlog"] == 0
    assert admin_cli.json("mq", "sub", "pull", sub) == []


def test_pub_body_from_a_file_and_from_stdin(admin_cli, tmp_path):
    topic = make_topic(admin_cli)
    sub = make_sub(admin_cli, topic)
    f = tmp_path / "body.txt"
    f.write_text("line one\nline two\n")
    admin_cli.run("mq", "pub", topic, "--file", str(f))
    proc = subprocess.run([str(admin_cli.binary), "mq", "pub", topic, "-", "--json"],
                          env=clean_env(HOME=str(admin_cli.home)), input="from stdin\n",
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["offset"] == 1
    bodies = [m["body"] for m in pull_until(admin_cli, sub, 2)]
    assert bodies == ["line one\nline two\n", "from stdin\n"]

    # a file that is not there: exit 1; BODY and --file together, or neither: usage, exit 2
    assert admin_cli.run("mq", "pub", topic, "--file", str(tmp_path / "nope"), expect=1).stderr.startswith("error: ")
    admin_cli.run("mq", "pub", topic, "x", "--file", str(f), expect=2)
    assert "--file" in admin_cli.run("mq", "pub", topic, expect=2).stderr


def test_subscription_list_show_and_delete(admin_cli):
    topic = make_topic(admin_cli)
    sub = unique("s")
    made = admin_cli.json("mq", "sub", "add", sub, "--topic", topic, "--max-deliveries", "3",
                          "--ack-timeout-ms", "5000", "--set", '{"backoff_ms": 10}')
    assert made["name"] == sub and made["topic"] == topic and made["max_deliveries"] == 3
    assert made["ack_timeout_ms"] == 5000 and made["backoff_ms"] == 10 and made["start"] == "latest"
    admin_cli.run("mq", "pub", topic, "a")
    out = admin_cli.run("mq", "sub", "list").stdout
    assert table(out)[0] == ["NAME", "TOPIC", "BACKLOG", "IN FLIGHT", "DEAD LETTERS", "MAX DELIVERIES"]
    assert row_of(out, sub) == {"NAME": sub, "TOPIC": topic, "BACKLOG": "1", "IN FLIGHT": "0",
                                "DEAD LETTERS": "0", "MAX DELIVERIES": "3"}
    assert sub in {s["name"] for s in admin_cli.json("mq", "sub", "list")}
    assert admin_cli.json("mq", "sub", "delete", sub) == {"deleted": sub}
    assert admin_cli.run("mq", "sub", "show", sub, expect=1).stderr.startswith("error: not_found")


def test_nack_with_delay_redelivers_later(admin_cli):
    topic = make_topic(admin_cli)
    sub = make_sub(admin_cli, topic)
    admin_cli.run("mq", "pub", topic, "retry me")
    first = pull_until(admin_cli, sub)
    assert len(first) == 1
    # The delay leaves room for a slow CLI start on a loaded machine (each call loads the runtimes).
    nacked = admin_cli.json("mq", "sub", "nack", sub, first[0]["id"], "--delay-ms", "6000")
    assert nacked == {"nacked": 1, "unknown": []}
    assert admin_cli.json("mq", "sub", "pull", sub) == []  # not visible yet
    again = pull_until(admin_cli, sub, timeout=20)
    assert [(m["id"], m["body"], m["deliveries"]) for m in again] == [(first[0]["id"], "retry me", 2)]


def test_max_deliveries_to_dlq_then_replay_and_purge(admin_cli):
    topic = make_topic(admin_cli)
    sub = make_sub(admin_cli, topic, "--max-deliveries", "1")
    admin_cli.run("mq", "pub", topic, "poison", "--key", "a")
    got = pull_until(admin_cli, sub)
    assert len(got) == 1
    assert admin_cli.run("mq", "sub", "nack", sub, got[0]["id"]).stdout == "Gave back 1 message\n"

    dlq = dead_letters(admin_cli, sub)
    assert len(dlq) == 1
    d = dlq[0]
    assert d["reason"] == "max_deliveries" and d["body"] == "poison" and d["key"] == "a"
    assert d["headers"]["x-original-topic"] == topic and d["headers"]["x-delivery-count"] == "1"
    out = admin_cli.run("mq", "dlq", "list", sub).stdout
    assert table(out)[0] == ["ID", "REASON", "DELIVERIES", "FROM", "KEY", "BODY"]
    assert row_of(out, str(d["id"])) == {"ID": str(d["id"]), "REASON": "max_deliveries", "DELIVERIES": "1",
                                          "FROM": f"{topic}:0:0", "KEY": "a", "BODY": "poison"}
    assert admin_cli.json("mq", "sub", "show", sub)["dead_letters"] == 1
    assert admin_cli.json("mq", "sub", "pull", sub) == []  # dead: not delivered

    # replay by id: out of the queue, delivered again
    assert admin_cli.json("mq", "dlq", "replay", sub, str(d["id"])) == {"replayed": 1}
    assert admin_cli.json("mq", "dlq", "list", sub) == []
    back = pull_until(admin_cli, sub)
    assert [(m["body"], m["key"], m["topic"]) for m in back] == [("poison", "a", topic)]

    # it fails again: dead again, then purged (no ids: all)
    admin_cli.run("mq", "sub", "nack", sub, back[0]["id"])
    assert len(dead_letters(admin_cli, sub)) == 1
    assert admin_cli.run("mq", "dlq", "purge", sub).stdout == "Purged 1 dead letter\n"
    assert admin_cli.json("mq", "dlq", "list", sub) == []
    assert admin_cli.run("mq", "dlq", "list", sub).stdout == "No dead letters\n"
    assert admin_cli.json("mq", "sub", "show", sub)["dead_letters"] == 0


def test_dlq_replay_all_and_list_limits(admin_cli):
    topic = make_topic(admin_cli)
    sub = make_sub(admin_cli, topic, "--max-deliveries", "1")
    for body in ("m0", "m1", "m2"):
        admin_cli.run("mq", "pub", topic, body)
    got = pull_until(admin_cli, sub, 3)
    assert len(got) == 3
    admin_cli.run("mq", "sub", "nack", sub, *[m["id"] for m in got])
    dlq = dead_letters(admin_cli, sub, 3)
    assert sorted(d["body"] for d in dlq) == ["m0", "m1", "m2"]
    ids = sorted(d["id"] for d in dlq)
    # --max and --from page through the queue
    assert [d["id"] for d in admin_cli.json("mq", "dlq", "list", sub, "--max", "2")] == ids[:2]
    assert [d["id"] for d in admin_cli.json("mq", "dlq", "list", sub, "--from", str(ids[1]))] == ids[1:]
    # purge one by id, replay the rest (no ids: all)
    assert admin_cli.json("mq", "dlq", "purge", sub, str(ids[0])) == {"purged": 1}
    # purging it again handles nothing, and says so (exit 0)
    again = admin_cli.run("mq", "dlq", "purge", sub, str(ids[0])).stdout
    assert again == "Purged 0 dead letters; 1 of the ids given was not in the queue\n"
    assert admin_cli.run("mq", "dlq", "replay", sub).stdout == "Replayed 2 dead letters\n"
    assert sorted(m["body"] for m in pull_until(admin_cli, sub, 2)) == sorted(
        d["body"] for d in dlq if d["id"] != ids[0])


def test_seek_earliest_offset_time_and_latest(admin_cli):
    topic = make_topic(admin_cli)
    for body in ("a", "b", "c"):
        admin_cli.run("mq", "pub", topic, body)
    sub = unique("s")
    admin_cli.run("mq", "sub", "add", sub, "--topic", topic)  # from the latest: sees none of them
    assert admin_cli.json("mq", "sub", "pull", sub) == []

    moved = admin_cli.json("mq", "sub", "seek", sub, "--earliest")
    assert moved["name"] == sub and moved["backlog"] == 3
    got = admin_cli.json("mq", "sub", "pull", sub, "--ack")
    assert [m["body"] for m in got] == ["a", "b", "c"]

    # an offset: the topic and partition default to the subscription's only ones
    assert admin_cli.run("mq", "sub", "seek", sub, "--offset", "1").stdout == f"Moved subscription {sub}: backlog 2\n"
    assert [m["body"] for m in admin_cli.json("mq", "sub", "pull", sub, "--ack")] == ["b", "c"]

    admin_cli.json("mq", "sub", "seek", sub, "--time", "2000-01-01T00:00:00Z")
    assert [m["body"] for m in admin_cli.json("mq", "sub", "pull", sub, "--ack")] == ["a", "b", "c"]
    admin_cli.json("mq", "sub", "seek", sub, "--time", "2000-01-01T01:00:00.5+01:00")  # same instant, other zone
    assert len(admin_cli.json("mq", "sub", "pull", sub)) == 3
    assert admin_cli.json("mq", "sub", "seek", sub, "--latest")["backlog"] == 0
    assert admin_cli.json("mq", "sub", "pull", sub) == []
    admin_cli.json("mq", "sub", "seek", sub, "--time", "2999-01-01T00:00:00Z")
    assert admin_cli.json("mq", "sub", "pull", sub) == []

    # a many-partition topic: --offset needs --partition
    wide = make_topic(admin_cli, "--partitions", "2")
    wsub = make_sub(admin_cli, wide)
    assert "--partition is needed" in admin_cli.run("mq", "sub", "seek", wsub, "--offset", "0", expect=1).stderr
    assert admin_cli.json("mq", "sub", "seek", wsub, "--offset", "0", "--partition", "1")["name"] == wsub
    # exactly one target; a time must be RFC 3339
    admin_cli.run("mq", "sub", "seek", sub, expect=2)
    admin_cli.run("mq", "sub", "seek", sub, "--earliest", "--latest", expect=2)
    admin_cli.run("mq", "sub", "seek", sub, "--time", "yesterday", expect=2)
    admin_cli.run("mq", "sub", "seek", sub, "--time", "2026-02-30T00:00:00Z", expect=2)


def test_errors_exit_1_with_the_servers_message(admin_cli):
    missing = unique("nosuch")
    err = admin_cli.run("mq", "pub", missing, "hi", expect=1).stderr
    assert err.startswith("error: not_found") and missing in err
    err = admin_cli.run("mq", "sub", "add", unique("s"), "--topic", missing, "--max-deliveries", "0", expect=1).stderr
    assert err.startswith("error: bad_request") and "max_deliveries" in err
    assert missing in admin_cli.run("mq", "sub", "pull", missing, expect=1).stderr
    assert missing in admin_cli.run("mq", "dlq", "list", missing, expect=1).stderr
    assert "partitions" in admin_cli.run("mq", "topic", "add", unique("t"), "--partitions", "0", expect=1).stderr
    assert "--set must be a JSON object" in admin_cli.run("mq", "topic", "add", unique("t"), "--set", "[1]",
                                                         expect=1).stderr


def test_usage_errors_exit_2(admin_cli):
    topic = make_topic(admin_cli)
    refused_topic, refused_sub = unique("t"), unique("s")
    admin_cli.run("mq", expect=2)                                          # no subcommand
    admin_cli.run("mq", "frobnicate", expect=2)
    admin_cli.run("mq", "topic", "add", expect=2)                          # no name
    assert "sometimes" in admin_cli.run("mq", "topic", "add", refused_topic, "--fsync", "sometimes", expect=2).stderr
    admin_cli.run("mq", "topic", "add", refused_topic, "--partitions", "many", expect=2)
    assert "NAME=VALUE" in admin_cli.run("mq", "pub", topic, "x", "--header", "novalue", expect=2).stderr
    admin_cli.run("mq", "sub", "add", refused_sub, expect=2)               # no --topic
    admin_cli.run("mq", "sub", "add", refused_sub, "--topic", topic, "--start", "middle", expect=2)
    admin_cli.run("mq", "sub", "ack", refused_sub, expect=2)               # no ids
    admin_cli.run("mq", "dlq", "purge", refused_sub, "not-a-number", expect=2)
    # a usage error sends nothing: neither the topic nor the subscription exists, nor was a message published
    assert refused_topic not in {t["name"] for t in admin_cli.json("mq", "topic", "list")}
    assert refused_sub not in {s["name"] for s in admin_cli.json("mq", "sub", "list")}
    assert admin_cli.json("mq", "topic", "show", topic)["messages"] == 0
