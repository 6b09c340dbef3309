"""Scheduled jobs, black-box: HTTP, MQ and shell targets fire on time as their owner; Forbid
skips an overlapping run; pause/resume; manual runs; timeouts; who may create what; two
processes sharing one metadata store fire each scheduled second exactly once, also across
the leader's kill -9; and the `aimass cron` CLI."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from conftest import assert_error, describe, metric_value, unique
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from mq_helpers import ack, fetch, make_sub, make_topic


def create(client, **spec):
    spec.setdefault("name", unique("job"))
    resp = client.post("/api/v1/cron", json=spec)
    assert resp.status_code == 201, describe(resp)
    return resp.json()


def runs(client, job):
    resp = client.get(f"/api/v1/cron/{job}/runs", params={"page_size": 1000})
    assert resp.status_code == 200, describe(resp)
    return list(reversed(resp.json()["runs"]))  # oldest first


def wait_runs(client, job, pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        got = runs(client, job)
        if pred(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def finished(rs):
    return [r for r in rs if r["status"] not in ("running", "queued")]


def test_http_target_calls_the_platform_as_the_owner(server):
    dev = server.create_user(["developer"], prefix="crondev")
    job = create(dev.client, schedule="* * * * * *", target={"type": "http", "method": "GET", "path": "/api/v1/auth/whoami"})
    assert job["owner"] == dev.username and job["next_run"]
    got = wait_runs(dev.client, job["name"], lambda rs: len(finished(rs)) >= 2)
    done = finished(got)
    assert len(done) >= 2
    assert all(r["status"] == "succeeded" and r["trigger"] == "schedule" for r in done), done
    assert dev.username in done[0]["output"]  # whoami answered for the owner
    # Each run belongs to its own second.
    assert len({r["scheduled"] for r in got}) == len(got)
    assert dev.client.delete(f"/api/v1/cron/{job['name']}").status_code == 204
    assert_error(dev.client.get(f"/api/v1/cron/{job['name']}"), 404, "not_found")


def test_http_target_without_the_owners_permission_fails_the_run(server):
    viewer_role = server.create_role(["cron:read", "cron:write"], prefix="cronrole")
    user = server.create_user([viewer_role], prefix="cronv")
    job = create(user.client, schedule="* * * * * *", target={"type": "http", "method": "POST", "path": "/api/v1/mq/topics",
                                                              "body": {"name": unique("t")}})
    got = wait_runs(user.client, job["name"], lambda rs: len(finished(rs)) >= 1)
    run = finished(got)[0]
    assert run["status"] == "failed" and "403" in run["error"], run
    user.client.delete(f"/api/v1/cron/{job['name']}")


def test_mq_target_publishes_with_the_schedule_in_its_headers(server):
    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    job = create(c, schedule="* * * * * *", target={"type": "mq", "topic": topic, "key": "k", "body": "tick",
                                                    "headers": {"src": "cron"}})
    deadline = time.monotonic() + 10
    msgs = []
    while len(msgs) < 2 and time.monotonic() < deadline:
        got = fetch(c, sub, max=10, wait_ms=500)
        if got:  # acked, or the next message with the same key is held back behind it
            ack(c, sub, [m["id"] for m in got])
        msgs += got
    c.post(f"/api/v1/cron/{job['name']}/pause")
    assert len(msgs) >= 2
    assert msgs[0]["body"] == "tick" and msgs[0]["key"] == "k"
    assert msgs[0]["headers"]["src"] == "cron" and msgs[0]["headers"]["x-cron-job"] == job["name"]
    assert msgs[0]["headers"]["x-cron-scheduled"] != msgs[1]["headers"]["x-cron-scheduled"]


def test_forbid_skips_runs_while_the_previous_one_is_going_and_timeouts_stop_it(server):
    c = server.admin
    job = create(c, schedule="* * * * * *", concurrency_policy="Forbid", timeout_seconds=2,
                 target={"type": "shell", "command": "echo started; sleep 30"})
    got = wait_runs(c, job["name"], lambda rs: any(r["status"] == "timed_out" for r in rs))
    c.post(f"/api/v1/cron/{job['name']}/pause")
    statuses = [r["status"] for r in got]
    assert "timed_out" in statuses and "skipped" in statuses, statuses
    first = got[0]
    assert first["status"] == "timed_out" and first["output"] == "started\n"
    assert 2000 <= first["duration_ms"] < 6000, first
    skipped = [r for r in got if r["status"] == "skipped"]
    assert "Forbid" in skipped[0]["error"]
    # While the first one ran, nothing else started.
    started = [r for r in got if r["status"] in ("timed_out", "running", "succeeded")]
    assert started[0]["id"] == first["id"] and all(r["scheduled"] > first["scheduled"] for r in started[1:])


def test_pause_resume_and_run_now(server):
    c = server.admin
    job = create(c, schedule="0 0 1 1 *", time_zone="Europe/Berlin", paused=True,
                 target={"type": "shell", "command": "echo manual $AIMASS_CRON_JOB"})
    assert job["paused"] is True and job["next_run"] is None
    resumed = c.post(f"/api/v1/cron/{job['name']}/resume").json()
    assert resumed["paused"] is False and resumed["next_run"].endswith("-12-31T23:00:00.000Z")  # midnight in Berlin
    queued = c.post(f"/api/v1/cron/{job['name']}/run")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    got = wait_runs(c, job["name"], lambda rs: len(finished(rs)) == 1)
    assert got[0]["trigger"] == "manual" and got[0]["status"] == "succeeded"
    assert got[0]["output"] == f"manual {job['name']}\n"
    m = server.metrics()
    assert metric_value(m, "aimass_scheduler_runs_total", job=job["name"], status="succeeded") == 1
    assert metric_value(m, "aimass_scheduler_run_duration_seconds_count", job=job["name"]) == 1
    assert metric_value(m, "aimass_scheduler_leader") == 1
    one = c.get(f"/api/v1/cron/{job['name']}/runs/{got[0]['id']}").json()
    assert one["id"] == got[0]["id"] and one["output"] == got[0]["output"]
    paused = c.post(f"/api/v1/cron/{job['name']}/pause").json()
    assert paused["paused"] is True
    listed = [j["name"] for j in c.get("/api/v1/cron").json()["jobs"]]
    assert job["name"] in listed


def test_who_may_create_what_and_bad_input(server):
    dev = server.create_user(["developer"], prefix="crondev")
    viewer = server.create_user(["viewer"], prefix="cronview")
    shell = {"schedule": "@hourly", "target": {"type": "shell", "command": "true"}}
    assert_error(dev.client.post("/api/v1/cron", json={"name": unique("j"), **shell}), 403, "forbidden")
    assert_error(viewer.client.post("/api/v1/cron", json={"name": unique("j"), "schedule": "@daily",
                                                          "target": {"type": "mq", "topic": "x"}}), 403, "forbidden")
    assert viewer.client.get("/api/v1/cron").status_code == 200
    c = server.admin
    good = {"schedule": "*/5 * * * *", "target": {"type": "mq", "topic": "x"}}
    for bad in ({"schedule": "61 * * * *"}, {"schedule": "* * *"}, {"time_zone": "Mars/Olympus"},
                {"time_zone": "../../etc/passwd"}, {"concurrency_policy": "Sometimes"}, {"timeout_seconds": 0},
                {"target": {"type": "http", "path": "http://example.com/"}}, {"target": {"type": "ftp"}},
                {"name": "Bad/Name"}, {"extra": 1}):
        body = {"name": unique("j"), **good, **bad}
        resp = c.post("/api/v1/cron", json=body)
        assert_error(resp, 400)
        assert body["name"] not in [j["name"] for j in c.get("/api/v1/cron").json()["jobs"]]
    assert_error(c.post("/api/v1/cron", data="{nope", headers={"Content-Type": "application/json"}), 400, "invalid_json")
    name = create(c, **good)["name"]
    assert_error(c.post("/api/v1/cron", json={"name": name, **good}), 409, "conflict")
    assert_error(c.get(f"/api/v1/cron/{name}/runs/abc"), 400)
    assert_error(c.get(f"/api/v1/cron/{name}/runs/999999"), 404)
    assert_error(c.put(f"/api/v1/cron/{name}", json={"name": "other", **good}), 400)
    replaced = c.put(f"/api/v1/cron/{name}", json={**good, "schedule": "@daily"})
    assert replaced.status_code == 200 and replaced.json()["schedule"] == "@daily"
    assert_error(server.anonymous.get("/api/v1/cron"), 401)


def test_two_processes_sharing_the_store_fire_each_second_once_even_across_kill_9(make_server, tmp_path):
    db = tmp_path / "shared-metadata.db"
    ledger = tmp_path / "ledger.txt"
    common = ["--set", f"storage.sqlite_path={db}", "--set", "scheduler.lease_ttl_s=2",
              "--set", "auth.jwt_secret=" + "s" * 40]
    a = make_server(*common, "--set", "scheduler.node=node-a")
    b = make_server(*common, "--set", "scheduler.node=node-b")
    job = create(a.admin, schedule="* * * * * *",
                 target={"type": "shell", "command": f"echo $AIMASS_CRON_SCHEDULED_AT >> {ledger}"})
    time.sleep(4)
    # The leader dies without letting the lease go; the other takes over once it expires.
    rs = runs(b.admin, job["name"])
    leader = a if rs[-1]["node"] == "node-a" else b
    other = b if leader is a else a
    leader.proc.send_signal(signal.SIGKILL)
    leader.proc.wait()
    leader.returncode = 0  # killed on purpose: not a failed shutdown
    time.sleep(5)
    other.admin.post(f"/api/v1/cron/{job['name']}/pause")
    time.sleep(1.2)

    lines = ledger.read_text().split()
    assert len(lines) == len(set(lines)), "a scheduled second fired twice"
    got = runs(other.admin, job["name"])
    scheduled = [r["scheduled"] for r in got if r["trigger"] == "schedule"]
    assert len(scheduled) == len(set(scheduled))
    nodes = {r["node"] for r in got}
    assert nodes == {"node-a", "node-b"}, nodes
    fences = sorted({r["fence"] for r in got if r["status"] != "missed"})
    assert len(fences) == 2 and fences[1] > fences[0]
    # Every second from the first run to the pause fired, except those in the takeover gap
    # (recorded as one `missed` run), and each is in the ledger.
    fired = [r for r in got if r["status"] == "succeeded"]
    assert len(fired) >= 6
    assert {r["scheduled"] for r in fired} <= set(lines)


def test_cli_add_list_runs_pause_resume_delete(admin_cli, server):
    name = unique("clijob")
    made = admin_cli.json("cron", "add", name, "--schedule", "*/2 * * * * *", "--tz", "Asia/Tokyo", "--policy", "Forbid",
                          "--shell", "echo from-cli")
    assert made["time_zone"] == "Asia/Tokyo" and made["concurrency_policy"] == "Forbid"
    listed = admin_cli.run("cron", "list").stdout
    assert name in listed and "Asia/Tokyo" in listed and "shell" in listed
    deadline = time.monotonic() + 10
    done = []
    while not done and time.monotonic() < deadline:
        done = [r for r in admin_cli.json("cron", "runs", name) if r["status"] == "succeeded"]
        time.sleep(0.2)
    assert done and done[0]["output"] == "from-cli\n"
    table = admin_cli.run("cron", "runs", name).stdout
    assert "succeeded" in table and "schedule" in table
    assert admin_cli.json("cron", "pause", name)["paused"] is True
    assert admin_cli.json("cron", "resume", name)["paused"] is False
    assert admin_cli.json("cron", "run", name)["status"] == "queued"
    refused = admin_cli.run("cron", "add", unique("j"), "--schedule", "@hourly", expect=1)
    assert "exactly one target" in refused.stderr
    refused = admin_cli.run("cron", "add", unique("j"), "--schedule", "nope", "--mq", "x", expect=1)
    assert "cron" in refused.stderr
    admin_cli.run("cron", "delete", name)
    assert name not in admin_cli.run("cron", "list").stdout
    admin_cli.run("cron", "show", name, expect=1)
    admin_cli.run("cron", "frobnicate", expect=2)


def test_runs_are_announced_on_scheduler_topics(server):
    c = server.admin
    sub = unique("s")
    assert c.post("/api/v1/mq/subscriptions", json={"name": sub, "topic": "scheduler.run.*"}).status_code == 201
    job = create(c, schedule="@yearly", target={"type": "shell", "command": "true"})
    c.post(f"/api/v1/cron/{job['name']}/run")
    seen = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "scheduler.run.finished" not in seen:
        for m in fetch(c, sub, max=50, wait_ms=500):
            body = json.loads(m["body"])
            if body["job"] == job["name"]:
                seen[m["topic"]] = body
    assert seen["scheduler.run.started"]["status"] == "running"
    assert seen["scheduler.run.finished"]["status"] == "succeeded"
    assert seen["scheduler.run.finished"]["trigger"] == "manual"
