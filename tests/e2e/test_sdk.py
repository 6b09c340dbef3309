"""The Python SDK (sdk/python/aimass, standard library only) against the real server."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

import models
from conftest import ADMIN_PASSWORD, REPO_ROOT, unique

sys.path.insert(0, str(REPO_ROOT / "sdk" / "python"))
from aimass import AimassError, Client  # noqa: E402


@pytest.fixture
def client(server) -> Client:
    c = Client(server.url)
    c.login("admin", ADMIN_PASSWORD)
    return c


def test_sdk_push_alias_pull_search(client, tmp_path):
    name = unique("sdkmodel")
    client.create_model(name, task="tabular-classification", tags=["sdk"])
    onnx = models.onnx_mlp(tmp_path / "m.onnx")
    v = client.push(name, onnx, "onnx", metrics={"accuracy": 0.88}, lineage={"dataset": "iris@1"})
    assert v["status"] == "ready" and v["metrics"] == {"accuracy": 0.88}
    client.set_alias(name, "staging", v["version"])
    got = client.pull(f"{name}@staging", tmp_path / "out.onnx")
    assert got["version"] == v["version"]
    assert (tmp_path / "out.onnx").read_bytes() == onnx.read_bytes()
    assert got["sha256"] == hashlib.sha256(onnx.read_bytes()).hexdigest()
    found = client.search(f"name = '{name}' AND tag = 'sdk'")
    assert [(x["model"], x["version"]) for x in found] == [(name, v["version"])]
    assert [m["name"] for m in client.list_models(prefix=name)] == [name]


def test_sdk_errors_carry_the_error_model(client, tmp_path):
    name = unique("sdkerr")
    client.create_model(name)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(AimassError) as e:
        client.push(name, bad, "torchscript")
    assert e.value.status == 422 and e.value.code == "unprocessable" and e.value.request_id
    assert e.value.body["error"]["version"]["status"] == "failed"
    with pytest.raises(AimassError) as e:
        client.get_model("no-such-model")
    assert e.value.status == 404 and e.value.code == "not_found"
    anonymous = Client(client.url)
    with pytest.raises(AimassError) as e:
        anonymous.whoami()
    assert e.value.status == 401


def test_sdk_pushes_and_pulls_a_directory(client, tmp_path):
    name = unique("sdktree")
    client.create_model(name)
    src = tmp_path / "src"
    (src / "weights").mkdir(parents=True)
    onnx = models.onnx_mlp(src / "weights" / "net.onnx")
    (src / "vocab.txt").write_text("x\ny\n")
    v = client.push(name, src, "onnx", entry="weights/net.onnx", metrics={"f1": 0.7})
    assert v["status"] == "ready" and v["artifact"] == {"kind": "directory", "entry": "weights/net.onnx"}
    listing = client.files(f"{name}:{v['version']}")
    assert {f["path"] for f in listing["files"]} == {"weights/net.onnx", "vocab.txt"}
    client.set_alias(name, "champion", v["version"])
    got = client.pull(f"{name}@champion", tmp_path / "out")
    assert got["files"] == 2 and got["digest"] == v["digest"]
    assert (tmp_path / "out" / "weights" / "net.onnx").read_bytes() == onnx.read_bytes()
    assert (tmp_path / "out" / "vocab.txt").read_text() == "x\ny\n"


def test_sdk_message_queue_round_trip_and_dead_letters(client):
    topic, sub = unique("sdkt"), unique("sdks")
    assert client.create_topic(topic, partitions=2)["partitions"] == 2
    client.subscribe(sub, topic, max_deliveries=1, start="earliest")
    results = client.publish(topic, "one", {"body": "two", "key": "k"}, key="a", headers={"h": "v"})
    assert len(results) == 2 and not any(r["duplicate"] for r in results)
    got = []
    for _ in range(20):
        got += client.fetch(sub, max=10, wait_ms=200)
        if len(got) == 2:
            break
    by_body = {m["body"]: m for m in got}
    assert set(by_body) == {"one", "two"}
    assert by_body["one"]["key"] == "a" and by_body["one"]["headers"] == {"h": "v"}
    assert client.ack(sub, [by_body["one"]["id"]])["acked"] == 1
    assert client.nack(sub, [by_body["two"]["id"]])["nacked"] == 1  # max_deliveries 1: dead
    dead = client.dead_letters(sub)
    assert [d["body"] for d in dead] == ["two"] and dead[0]["reason"] == "max_deliveries"
    assert client.replay_dead_letters(sub) == 1
    again = client.fetch(sub, max=10, wait_ms=2000)
    assert [m["body"] for m in again] == ["two"]
    with pytest.raises(AimassError) as e:
        client.publish(unique("missing"), "x")
    assert e.value.status == 404 and e.value.code == "not_found"
    seen = []
    client.publish(topic, "three")
    client.consume(sub, lambda m: seen.append(m["body"]), wait_ms=500, stop=lambda: "three" in seen)
    assert "three" in seen


def test_sdk_cron_job_runs_now_and_keeps_history(client):
    topic, sub, job = unique("sdkt"), unique("sdks"), unique("sdkjob")
    client.create_topic(topic)
    client.subscribe(sub, topic, start="earliest")
    made = client.create_cron(job, "0 3 * * *", {"type": "mq", "topic": topic, "body": "from-cron"},
                              time_zone="Asia/Tokyo", concurrency_policy="Forbid")
    assert made["next_run"].endswith("T18:00:00.000Z")  # 03:00 in Tokyo
    assert client.run_cron(job)["status"] == "queued"
    msgs = []
    for _ in range(20):
        msgs += client.fetch(sub, max=10, wait_ms=500)
        if msgs:
            break
    assert [m["body"] for m in msgs] == ["from-cron"] and msgs[0]["headers"]["x-cron-job"] == job
    runs = client.cron_runs(job)
    assert runs[0]["trigger"] == "manual"
    assert client.pause_cron(job)["paused"] is True and client.resume_cron(job)["paused"] is False
    assert job in [j["name"] for j in client.list_cron()]
    client.delete_cron(job)
    assert job not in [j["name"] for j in client.list_cron()]
