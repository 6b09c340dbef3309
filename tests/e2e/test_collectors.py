"""Collectors, black-box: an HTTP push collector (durable acknowledgement, rejected lines,
pause), file_tail across rotation and truncation with JSON, CSV and regex lines, a directory of
CSV files, a SQLite table read by a cursor on a schedule, a message-queue topic; rows that do
not fit the dataset's schema on the rejected list; bad documents refused; and kill -9 in the
middle of collecting from a file, a topic and pushes: after the restart every row is stored
exactly once."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time

import pytest

from conftest import assert_error, describe, unique, wait_for
from datasets_helpers import create_dataset
from mq_helpers import make_topic, publish

COLLECTORS = "/api/v1/collectors"


def make_collector(client, dataset: str, source: dict, status: int = 201, **extra) -> dict:
    name = unique("col")
    resp = client.post(COLLECTORS, json={"name": name, "dataset": dataset, "source": source,
                                         "batch": {"max_rows": 500, "max_wait_s": 0.2}, **extra})
    assert resp.status_code == status, describe(resp)
    return resp.json()


def all_rows(client, dataset: str) -> list[dict]:
    resp = client.get(f"/api/v1/datasets/{dataset}/versions/latest/download", params={"format": "jsonl"})
    if resp.status_code == 404:
        return []
    assert resp.status_code == 200, describe(resp)
    return [json.loads(line) for line in resp.text.splitlines()]


def whole_rows(client, dataset: str) -> int:
    """Rows of the newest version whose data is whole (ready or being profiled)."""
    versions = client.get(f"/api/v1/datasets/{dataset}/versions").json()["versions"]
    done = [v for v in versions if v["status"] != "failed"]
    return done[0]["row_count"] if done else 0


def wait_rows(client, dataset: str, n: int, timeout: float = 30.0) -> list[dict]:
    wait_for(lambda: whole_rows(client, dataset) >= n, timeout, f"{n} rows in {dataset}")
    # The version holding them profiled, so that `latest` names it.
    wait_for(lambda: (v := client.get(f"/api/v1/datasets/{dataset}/versions").json()["versions"][0])["status"] == "ready",
             timeout, "the newest version to be ready")
    return all_rows(client, dataset)


def collector(client, name: str) -> dict:
    resp = client.get(f"{COLLECTORS}/{name}")
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def test_http_push_rejects_and_pause(server):
    c = server.admin
    ds = create_dataset(c)
    col = make_collector(c, ds, {"type": "http"},
                         schema=[{"name": "user", "type": "string", "nullable": False}, {"name": "n", "type": "integer"}])
    name = col["name"]
    assert col["push_url"] == f"/api/v1/collect/{name}" and col["status"]["state"] == "running"
    body = "\n".join([json.dumps({"user": f"u{i}", "n": i}) for i in range(100)] + ["{not json", "[1,2]"])
    resp = c.post(f"/api/v1/collect/{name}", data=body)
    assert resp.status_code == 200 and resp.json() == {"accepted": 100, "rejected": 2}, describe(resp)
    rows = wait_rows(c, ds, 100)
    assert sorted(r["n"] for r in rows) == list(range(100))
    # A row that does not fit the schema: rejected by the collector with the reason.
    resp = c.post(f"/api/v1/collect/{name}", json=[{"user": "x", "n": "many"}, {"user": "y", "n": 5}, {"n": 6}])
    assert resp.json() == {"accepted": 3, "rejected": 0}
    wait_for(lambda: collector(c, name)["rejected"] == 4, 10, "the rows that do not fit to be rejected")
    rejected = c.get(f"{COLLECTORS}/{name}/rejected").json()["rejected"]
    reasons = {r["row"]: r["reason"] for r in rejected}
    assert reasons['{"n":"many","user":"x"}'] == "'n': 'many' is not an integer"
    assert reasons['{"n":6}'] == "'user' is missing and the column is not nullable"
    assert reasons["{not json"] == "not valid JSON" and reasons["[1,2]"] == "not a JSON object"
    assert [r["user"] for r in wait_rows(c, ds, 101)][-1] == "y"
    # Paused: pushes are still taken (spooled), and stored once it resumes.
    assert c.post(f"{COLLECTORS}/{name}/pause").json()["status"]["state"] == "paused"
    time.sleep(1)  # a pull in progress ends its batch first
    assert c.post(f"/api/v1/collect/{name}", json=[{"user": "late", "n": 1}]).status_code == 200
    time.sleep(1)
    assert whole_rows(c, ds) == 101
    assert collector(c, name)["status"]["lag"]["bytes"] > 0
    assert c.post(f"{COLLECTORS}/{name}/resume").json()["status"]["state"] == "running"
    assert wait_rows(c, ds, 102)[-1]["user"] == "late"
    info = collector(c, name)
    assert info["status"]["rows"] >= 1 and info["status"]["offset"]["position"] > 0 and info["status"]["lag"]["bytes"] == 0
    versions = c.get(f"/api/v1/datasets/{ds}/versions").json()["versions"]
    assert versions[0]["lineage"]["collector"] == name and versions[0]["parent"] == versions[1]["version"]


def test_file_tail_follows_rotation_and_truncation(server, tmp_path):
    c = server.admin
    ds = create_dataset(c)
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"seq": i, "msg": "start"}) + "\n" for i in range(5)))
    col = make_collector(c, ds, {"type": "file_tail", "path": str(log), "format": "json"})
    assert [r["seq"] for r in wait_rows(c, ds, 5)] == list(range(5))
    with log.open("a") as f:
        f.write(json.dumps({"seq": 5, "msg": "more"}) + "\n")
        f.write('{"seq": 6, "msg": "half a li')  # no newline yet: not taken
    wait_rows(c, ds, 6)
    time.sleep(0.5)
    assert whole_rows(c, ds) == 6
    with log.open("a") as f:
        f.write('ne"}\n')
    wait_rows(c, ds, 7)
    # Rotation: the file is renamed (the rest of it still read) and a new one starts.
    with log.open("a") as f:
        f.write(json.dumps({"seq": 7, "msg": "before rotation"}) + "\n")
    log.rename(tmp_path / "app.log.1")
    log.write_text(json.dumps({"seq": 8, "msg": "new file"}) + "\n")
    rows = wait_rows(c, ds, 9)
    assert [r["seq"] for r in rows] == list(range(9))
    # Truncation in place (copytruncate): read again from the start.
    log.write_text(json.dumps({"seq": 9, "msg": "after truncate"}) + "\n")
    assert [r["seq"] for r in wait_rows(c, ds, 10)] == list(range(10))
    assert collector(c, col["name"])["status"]["lag"]["bytes"] == 0


def test_file_tail_csv_and_regex_lines(server, tmp_path):
    c = server.admin
    csv_ds, re_ds = create_dataset(c), create_dataset(c)
    data = tmp_path / "m.csv"
    data.write_text("sensor,value\ns1,20.5\ns2,21\nbroken line with, too, many\n")
    make_collector(c, csv_ds, {"type": "file_tail", "path": str(data), "format": "csv"})
    rows = wait_rows(c, csv_ds, 2)
    assert rows == [{"sensor": "s1", "value": 20.5}, {"sensor": "s2", "value": 21.0}]
    access = tmp_path / "access.log"
    access.write_text('127.0.0.1 - - [05/Dec/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 512\n'
                      '10.0.0.2 - - [05/Dec/2026:10:00:01 +0000] "POST /b HTTP/1.1" 404 0\n'
                      'garbage\n')
    pattern = r'^(?P<ip>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>\S+) (?P<path>\S+) \S+" (?P<status>\d+) (?P<bytes>\d+)$'
    col = make_collector(c, re_ds, {"type": "file_tail", "path": str(access), "format": "regex", "pattern": pattern})
    rows = wait_rows(c, re_ds, 2)
    assert rows[1] == {"ip": "10.0.0.2", "method": "POST", "path": "/b", "status": 404, "bytes": 0}
    wait_for(lambda: collector(c, col["name"])["rejected"] == 1, 10, "the garbage line to be rejected")
    assert c.get(f"{COLLECTORS}/{col['name']}/rejected").json()["rejected"][0]["reason"] == "the line does not match the pattern"


def test_directory_of_csv_files(server, tmp_path):
    c = server.admin
    ds = create_dataset(c)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("id,city\n1,Oslo\n2,Lima\n")
    (inbox / "ignored.txt").write_text("not matched\n")
    old = time.time() - 5
    os.utime(inbox / "a.csv", (old, old))
    make_collector(c, ds, {"type": "directory", "path": str(inbox), "glob": "*.csv", "format": "csv"})
    assert wait_rows(c, ds, 2) == [{"id": 1, "city": "Oslo"}, {"id": 2, "city": "Lima"}]
    (inbox / "b.csv").write_text("id,city\n3,Pune\n")  # taken once it has settled for a second
    assert [r["id"] for r in wait_rows(c, ds, 3)] == [1, 2, 3]
    time.sleep(1.5)
    assert whole_rows(c, ds) == 3  # each file once


def test_sql_table_by_cursor_on_a_schedule(server, tmp_path):
    c = server.admin
    ds = create_dataset(c)
    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL, placed TEXT)")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, i * 1.5, f"2024-01-0{i}T00:00:00Z") for i in range(1, 4)])
    con.commit()
    make_collector(c, ds, {"type": "sql", "driver": "sqlite", "path": str(db), "query": "SELECT id, amount, placed FROM orders",
                           "cursor_column": "id"}, schedule="* * * * * *")
    rows = wait_rows(c, ds, 3)
    assert rows[0] == {"id": 1, "amount": 1.5, "placed": "2024-01-01T00:00:00Z"}
    con.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, i * 1.5, f"2024-01-0{i}T00:00:00Z") for i in range(4, 6)])
    con.commit()
    assert [r["id"] for r in wait_rows(c, ds, 5)] == [1, 2, 3, 4, 5]  # only the new ones added
    con.close()


def test_mq_topic(server):
    c = server.admin
    ds = create_dataset(c)
    topic = make_topic(c)
    col = make_collector(c, ds, {"type": "mq", "topic": topic})
    publish(c, topic, [{"body": json.dumps({"device": "d1", "t": 20 + i})} for i in range(10)] + [{"body": "oops"}])
    rows = wait_rows(c, ds, 10)
    assert [r["t"] for r in rows] == list(range(20, 30))
    wait_for(lambda: collector(c, col["name"])["rejected"] == 1, 10, "the non-JSON message to be rejected")
    wait_for(lambda: collector(c, col["name"])["status"]["lag"]["messages"] == 0, 10, "the backlog to be acknowledged")


def test_bad_documents_are_refused(server, tmp_path):
    c = server.admin
    ds = create_dataset(c)
    bad = [
        {"name": "x", "dataset": ds, "source": {"type": "ftp"}},
        {"name": "x", "dataset": ds, "source": {"type": "file_tail", "path": "relative.log"}},
        {"name": "x", "dataset": ds, "source": {"type": "file_tail", "path": "/tmp/a", "format": "regex", "pattern": "("}},
        {"name": "x", "dataset": ds, "source": {"type": "file_tail", "path": "/tmp/a", "format": "regex", "pattern": "no groups"}},
        {"name": "x", "dataset": ds, "source": {"type": "sql", "driver": "oracle", "query": "q", "cursor_column": "id"}},
        {"name": "x", "dataset": ds, "source": {"type": "sql", "driver": "sqlite", "path": "/a.db", "query": "q", "cursor_column": "id"}},
        {"name": "x", "dataset": ds, "source": {"type": "http"}, "batch": {"max_rows": 0}},
        {"name": "x", "dataset": ds, "source": {"type": "http", "extra": 1}},
        {"name": "../x", "dataset": ds, "source": {"type": "http"}},
    ]
    for doc in bad:
        assert_error(c.post(COLLECTORS, json=doc), 400, "bad_request")
    assert_error(c.post(COLLECTORS, json={"name": unique("x"), "dataset": "no-such", "source": {"type": "http"}}), 404, "not_found")
    tail = make_collector(c, ds, {"type": "file_tail", "path": str(tmp_path / "none.log")})
    assert_error(c.post(f"/api/v1/collect/{tail['name']}", data="{}"), 400, "bad_request")
    assert_error(c.post("/api/v1/collect/no-such", data="{}"), 404, "not_found")
    viewer = server.create_user(["viewer"], prefix="colview").client
    assert viewer.get(COLLECTORS).status_code == 200
    assert_error(viewer.post(COLLECTORS, json={"name": unique("v"), "dataset": ds, "source": {"type": "http"}}), 403, "forbidden")
    # Developers collect pushes and topics; the host's files need collectors:files (admins).
    dev = server.create_user(["developer"], prefix="coldev").client
    assert dev.post(COLLECTORS, json={"name": unique("d"), "dataset": ds, "source": {"type": "http"}}).status_code == 201
    resp = dev.post(COLLECTORS, json={"name": unique("d"), "dataset": ds, "source": {"type": "file_tail", "path": "/etc/passwd"}})
    assert_error(resp, 403, "forbidden")
    assert "collectors:files" in resp.json()["error"]["message"]
    # Nobody collects the platform's own data (its database holds users and tokens).
    for path in (str(server.data_dir / "metadata.db"), str(server.data_dir)):
        resp = c.post(COLLECTORS, json={"name": unique("d"), "dataset": ds, "source": {"type": "file_tail", "path": path}})
        assert_error(resp, 403, "forbidden")
    assert c.delete(f"{COLLECTORS}/{tail['name']}").status_code == 204
    assert_error(c.get(f"{COLLECTORS}/{tail['name']}"), 404, "not_found")
    # A DSN's password is never shown.
    pg = make_collector(c, ds, {"type": "sql", "driver": "postgres", "dsn": "host=127.0.0.1 port=1 password=s3cret user=u",
                                "query": "SELECT 1 AS id", "cursor_column": "id"}, schedule="@daily", paused=True)
    assert "s3cret" not in json.dumps(pg) and "password=***" in pg["source"]["dsn"]


def kill_and_restart(srv):
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    srv.start()


def assert_exactly_once(client, dataset: str, n: int, timeout: float = 60.0):
    rows = wait_rows(client, dataset, n, timeout)
    ids = [r["id"] for r in rows]
    assert len(ids) == n and sorted(ids) == list(range(n)), f"{len(ids)} rows, {len(set(ids))} distinct, expected {n}"


def test_kill_9_while_tailing_a_file_loses_and_repeats_nothing(make_server, tmp_path):
    srv = make_server()
    c = srv.admin
    ds = create_dataset(c)
    log = tmp_path / "feed.log"
    log.write_text("")
    make_collector(c, ds, {"type": "file_tail", "path": str(log)})
    n = 6000
    done = threading.Event()

    def write():
        with log.open("a") as f:
            for i in range(n):
                f.write(json.dumps({"id": i, "pad": "x" * 50}) + "\n")
                if i % 200 == 0:
                    f.flush()
                    time.sleep(0.02)
        done.set()
    writer = threading.Thread(target=write)
    writer.start()
    wait_for(lambda: whole_rows(c, ds) > 1000, 30, "some rows stored")
    kill_and_restart(srv)
    writer.join()
    assert_exactly_once(srv.admin, ds, n)


def test_kill_9_while_collecting_a_topic_loses_and_repeats_nothing(make_server):
    srv = make_server()
    c = srv.admin
    ds = create_dataset(c)
    topic = make_topic(c)
    make_collector(c, ds, {"type": "mq", "topic": topic})
    n = 3000
    for start in range(0, n, 500):
        publish(c, topic, [{"body": json.dumps({"id": i})} for i in range(start, start + 500)])
        if start == 1000:
            wait_for(lambda: whole_rows(c, ds) > 0, 30, "some rows stored")
            kill_and_restart(srv)
            c = srv.admin
    assert_exactly_once(srv.admin, ds, n)


def test_kill_9_after_acknowledged_pushes_loses_and_repeats_nothing(make_server):
    srv = make_server()
    c = srv.admin
    ds = create_dataset(c)
    name = make_collector(c, ds, {"type": "http"})["name"]
    n = 5000
    for start in range(0, n, 250):
        resp = c.post(f"/api/v1/collect/{name}", data="\n".join(json.dumps({"id": i}) for i in range(start, start + 250)))
        assert resp.json()["accepted"] == 250, describe(resp)
        if start == 2500:
            kill_and_restart(srv)  # acknowledged pushes are in the spool, stored or not yet
            c = srv.admin
    assert_exactly_once(srv.admin, ds, n)
