"""Crash recovery and injected I/O faults, black-box.

Every failpoint of the server (GET /api/v1/admin/failpoints, served with --failpoints-api) has
a crash case here: a server makes some acknowledged writes (the baseline), the point is armed
with `crash` through the API, the write that reaches it is sent, and the process must SIGKILL
itself there (exit -9: the point was reached). A new server on the same data directory must be
ready within RESTART_BUDGET_S and then show:

  - everything acknowledged before the crash intact (versions ready and downloadable byte for
    byte, messages present once and in order per key, deployments serving, cron runs once);
  - the write in flight whole or absent, never half (no version left `pending`: ready with its
    artifact, or `failed` with reason "interrupted"; a blob downloadable or 404);
  - no orphans: data_dir/blobs/tmp empty, and whatever the crash left unreferenced is freed by
    GC (grace_s 0);
  - new writes of the same kind accepted.

Then injected errors (not crashes: disk full while spooling an upload, EIO on a blob fsync, on
a partition fsync, on a metadata commit, on storing a deployment) and plain kill -9 cases with
no failpoint (a tar upload streaming in, gRPC publish and inference streams, the JetStream
broker).

Scenarios are shared between the points whose write they reach: `registry_upload_scenario`
(db.*, blob.*, upload.*, registry.*), `blob_upload_scenario`, `mq_publish_scenario`,
`mq_ack_scenario`, `mq_topic_scenario`, `cron_scenario`, `serving_scenario`.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import requests

import models
from crowd_helpers import STREAMS, frames_tar, synthetic_frames, wait_state
from conftest import ADMIN_PASSWORD, assert_error, clean_env, describe, free_port, unique, wait_for
from datasets_helpers import create_dataset, push, wait_ready
from mq_helpers import ack, fetch, make_sub, make_topic, publish

FAILPOINTS = "/api/v1/admin/failpoints"
BLOBS = "/api/v1/blobs"
DEPLOYMENTS = "/api/v1/deployments"
OCTETS = {"Content-Type": "application/octet-stream"}
TAR = {"Content-Type": "application/x-tar"}

# The scheduler renews its lease in the metadata store every second: off wherever a db.* point
# may be armed, so that the write under test is the one that reaches it.
BASE_ARGS = ("--failpoints-api", "--set", "scheduler.enabled=false")
CRON_ARGS = ("--failpoints-api", "--set", "scheduler.lease_ttl_s=1")

CRASH_TIMEOUT_S = 15     # from arming/sending to the process being gone
RESTART_BUDGET_S = 10    # from spawning the new process to /readyz answering 200
LOAD_TIMEOUT_S = 120     # deployment create/patch answers once the version is loaded

MLP_SIG = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
           "outputs": [{"name": "probs", "datatype": "FP32", "shape": [-1, 3]}]}
MLP_X = (np.arange(-4, 4, dtype=np.float32).reshape(2, 4) / 4).astype(np.float32)
ATOL = 1e-5
INTERRUPTED_BY_CRASH = "the process running it stopped before it finished"


# --------------------------------------------------------------------------------------------
# Test models


@dataclass
class Mlp:
    path: Path
    data: bytes
    ref: np.ndarray  # what PyTorch answers for MLP_X


@pytest.fixture(scope="module")
def mlps(tmp_path_factory) -> dict[int, Mlp]:
    """TorchScript MLPs with different weights (and so different bytes), by seed."""
    d = tmp_path_factory.mktemp("fault-models")
    out = {}
    for seed in (1, 2, 3, 4):
        path = models.torchscript_mlp(d / f"mlp{seed}.pt", seed=seed)
        out[seed] = Mlp(path, path.read_bytes(), models.torch_reference(path, MLP_X))
    assert len({m.data for m in out.values()}) == len(out)
    assert np.abs(out[1].ref - out[2].ref).max() > 1e-2, "the versions must answer differently"
    return out


# --------------------------------------------------------------------------------------------
# Failpoints, crashes and restarts


def arm(srv, point: str, action: str) -> dict:
    resp = srv.admin.put(f"{FAILPOINTS}/{point}", json={"action": action})
    assert resp.status_code == 200, describe(resp)
    body = resp.json()
    assert body["name"] == point and body["action"] == action, body
    return body


def point_state(srv, point: str) -> dict:
    resp = srv.admin.get(FAILPOINTS)
    assert resp.status_code == 200, describe(resp)
    return {p["name"]: p for p in resp.json()["failpoints"]}[point]


def attempt(call: Callable[[], requests.Response]):
    """The response, or the exception a crash mid-request gives the client."""
    try:
        return call()
    except requests.RequestException as exc:
        return exc


def expect_crash(srv, point: str, outcome=None, in_request: bool = True,
                 timeout: float = CRASH_TIMEOUT_S) -> None:
    """Asserts that the process killed itself at `point` (exit -9, its line on stderr) and,
    for a point inside a request, that the request got no answer."""
    try:
        srv.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            state = point_state(srv, point)
        except Exception as exc:  # noqa: BLE001 (only for the message)
            state = f"unknown ({exc})"
        srv.proc.kill()
        srv.wait_exit(10)
        pytest.fail(f"failpoint {point} was not reached within {timeout}s "
                    f"(state {state}; request outcome {outcome!r})\n{srv.logs()}", pytrace=False)
    rc = srv.wait_exit(1)
    assert rc == -signal.SIGKILL, f"exit code {rc}\n{srv.logs()}"
    assert f"failpoint {point}: crash" in srv.stderr_text(), srv.logs()
    if in_request:
        assert isinstance(outcome, requests.RequestException), \
            f"the request was answered although the process crashed in it: {describe(outcome)}"


def kill_9(srv) -> None:
    srv.proc.send_signal(signal.SIGKILL)
    assert srv.wait_exit(10) == -signal.SIGKILL


def tmp_dir(data_dir: Path) -> Path:
    return data_dir / "blobs" / "tmp"


def restart(make_server, srv, *args, env=None):
    """A new server on the same data dir; asserts it was ready in time and left no temp files."""
    started = time.monotonic()
    again = make_server(*args, data_dir=srv.data_dir, env=env)
    took = time.monotonic() - started
    assert took < RESTART_BUDGET_S, f"restart took {took:.1f}s\n{again.logs()}"
    leftovers = sorted(p.name for p in tmp_dir(srv.data_dir).iterdir())
    assert leftovers == [], f"temp files survived the restart: {leftovers}"
    return again


def wait_tmp_empty(data_dir: Path, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := sorted(p.name for p in tmp_dir(data_dir).iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == [], f"temp files left behind: {left}"


# --------------------------------------------------------------------------------------------
# Blobs


def hexdigest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_file(data_dir: Path, hex_: str) -> Path:
    return data_dir / "blobs" / "objects" / "sha256" / hex_[:2] / hex_


def gc(client) -> dict:
    resp = client.post(f"{BLOBS}/gc", json={"grace_s": 0})
    assert resp.status_code == 200, describe(resp)
    body = resp.json()
    assert {"scanned", "deleted", "bytes_freed"} <= set(body), body
    return body


def upload_blob(client, data: bytes) -> requests.Response:
    return client.post(BLOBS, data=data, headers=OCTETS)


def assert_blob(client, data: bytes) -> None:
    got = client.get(f"{BLOBS}/sha256:{hexdigest(data)}")
    assert got.status_code == 200, describe(got)
    assert got.content == data
    assert got.headers["X-Content-Sha256"].split(":")[-1] == hexdigest(data)


# --------------------------------------------------------------------------------------------
# Registry


def create_model(client) -> str:
    name = unique("fmodel")
    resp = client.post("/api/v1/models", json={"name": name})
    assert resp.status_code == 201, describe(resp)
    return name


def make_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Artifact:
    """A version's content: one file (`data`) or a directory uploaded as a tar (`files`)."""
    data: bytes | None = None
    files: dict[str, bytes] | None = None
    metadata: dict | None = None

    @property
    def stored(self) -> list[bytes]:
        """The blobs the version stores."""
        return list(self.files.values()) if self.files else [self.data]

    def push(self, client, model: str, timeout: float = 60) -> requests.Response:
        headers = dict(TAR if self.files else OCTETS)
        if self.metadata is not None:
            headers["X-Model-Metadata"] = json.dumps(self.metadata)
        body = make_tar(self.files) if self.files else self.data
        return client.post(f"/api/v1/models/{model}/versions?framework=torchscript", data=body,
                           headers=headers, timeout=timeout)

    def check_downloads(self, client, model: str, version: int) -> None:
        base = f"/api/v1/models/{model}/versions/{version}"
        if not self.files:
            got = client.get(f"{base}/artifact")
            assert got.status_code == 200, describe(got)
            assert got.content == self.data, f"{base} is not byte-identical"
            return
        listing = client.get(f"{base}/files")
        assert listing.status_code == 200, describe(listing)
        assert sorted(f["path"] for f in listing.json()["files"]) == sorted(self.files)
        for path, data in self.files.items():
            got = client.get(f"{base}/files/{path}")
            assert got.status_code == 200, describe(got)
            assert got.content == data, f"{base}/files/{path} is not byte-identical"


def file_artifact(mlp: Mlp, **kw) -> Artifact:
    return Artifact(data=mlp.data, **kw)


def tree_artifact(mlp: Mlp, tag: str) -> Artifact:
    """A directory whose every file is its own (no blob shared with another artifact)."""
    return Artifact(files={
        "model.pt": mlp.data,
        "tokenizer.json": json.dumps({"vocab": ["a", "b"], "tag": tag}).encode(),
        "config/labels.txt": f"setosa\nversicolor\nvirginica\n# {tag}\n".encode(),
    })


def push_ready(client, model: str, art: Artifact) -> dict:
    resp = art.push(client, model)
    assert resp.status_code == 201, describe(resp)
    v = resp.json()
    assert v["status"] == "ready", v
    return v


def versions(client, model: str) -> dict[int, dict]:
    resp = client.get(f"/api/v1/models/{model}/versions")
    assert resp.status_code == 200, describe(resp)
    return {v["version"]: v for v in resp.json()["versions"]}


def version_outcome(client, model: str, number: int, art: Artifact, reason: str = "interrupted") -> str:
    """'absent', 'ready' (checked byte for byte) or 'failed' (with `reason`); never pending."""
    resp = client.get(f"/api/v1/models/{model}/versions/{number}")
    if resp.status_code == 404:
        return "absent"
    assert resp.status_code == 200, describe(resp)
    v = resp.json()
    assert v["status"] in ("ready", "failed"), f"version {number} left {v['status']}: {v}"
    if v["status"] == "ready":
        if not art.files:
            assert v["digest"] == "sha256:" + hexdigest(art.data), v
        art.check_downloads(client, model, number)
        return "ready"
    assert v["status_reason"] == reason, v
    assert_error(client.get(f"/api/v1/models/{model}/versions/{number}/artifact"), 409, "conflict")
    return "failed"


# --------------------------------------------------------------------------------------------
# Message queue


def drain_all(client, sub: str, timeout: float = 20.0, idle_ms: int = 400) -> list[dict]:
    """Fetches and acks until a fetch waits idle_ms for nothing; the messages in delivery order."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = fetch(client, sub, max=100, wait_ms=idle_ms)
        if not batch:
            return got
        res = ack(client, sub, [m["id"] for m in batch])
        assert res["acked"] == len(batch), res
        got += batch
    pytest.fail(f"subscription {sub} still delivering after {timeout}s ({len(got)} messages)")


def bodies_by_key(msgs: list[dict]) -> dict[str, list[str]]:
    out = collections.defaultdict(list)
    for m in msgs:
        out[m.get("key", "")].append(m["body"])
    return dict(out)


@dataclass
class MqBaseline:
    topic: str
    audit: str            # a subscription nothing reads before the crash: it sees everything
    worker: str           # a subscription that acked `acked` before the crash
    by_key: dict[str, list[str]]
    acked: list[str] = field(default_factory=list)

    @property
    def bodies(self) -> set[str]:
        return {b for bs in self.by_key.values() for b in bs}


def mq_baseline(client) -> MqBaseline:
    """A 2-partition fsync=always topic with 12 keyed messages published (acknowledged) and the
    first of each key acked by the worker subscription, its state saved."""
    topic = make_topic(client, partitions=2, fsync="always")
    base = MqBaseline(topic, make_sub(client, topic), make_sub(client, topic), {})
    msgs = [{"key": f"k{i % 3}", "body": f"k{i % 3}:{i}"} for i in range(12)]
    for start in range(0, len(msgs), 4):
        publish(client, topic, msgs[start:start + 4])
    base.by_key = bodies_by_key(msgs)
    first = fetch(client, base.worker, max=10)
    assert first, "nothing delivered"
    assert ack(client, base.worker, [m["id"] for m in first])["acked"] == len(first)
    base.acked = [m["body"] for m in first]
    time.sleep(0.35)  # subscription state is saved every 100 ms
    return base


def mq_verify(client, base: MqBaseline, inflight: dict[str, int] | None = None,
              redelivered: list[str] = ()) -> None:
    """After the restart: every baseline message once and in key order on the audit
    subscription, `inflight` (body -> expected count) as given, the worker's acked messages not
    redelivered except `redelivered`, and the topic taking publishes again."""
    inflight = inflight or {}
    seen = drain_all(client, base.audit)
    counts = collections.Counter(m["body"] for m in seen)
    positions = collections.Counter((m["partition"], m["offset"]) for m in seen)
    assert all(n == 1 for n in positions.values()), f"a message delivered twice: {positions}"
    got_by_key = bodies_by_key(seen)
    for key, want in base.by_key.items():
        assert got_by_key.get(key) == want, f"key {key}: {got_by_key.get(key)} != {want}"
    for body, want in inflight.items():
        assert counts[body] == want, f"in-flight message {body!r}: {counts[body]} copies, want {want}"
    assert set(counts) <= base.bodies | set(inflight), set(counts) - base.bodies

    rest = [m["body"] for m in drain_all(client, base.worker)]
    again = set(rest) & set(base.acked)
    assert again == set(redelivered) & set(base.acked), f"acked before the crash, redelivered: {again}"
    assert set(rest) | set(base.acked) == set(counts), "the worker lost messages"

    topic = client.get(f"/api/v1/mq/topics/{base.topic}").json()
    r = publish(client, base.topic, [{"key": "after", "body": "after"}])[0]
    assert r["offset"] == topic["next_offsets"][r["partition"]], (r, topic)
    assert [m["body"] for m in drain_all(client, base.audit)] == ["after"]


# --------------------------------------------------------------------------------------------
# Serving


def infer(client, deployment: str) -> requests.Response:
    body = {"inputs": [{"name": "features", "shape": list(MLP_X.shape), "datatype": "FP32",
                        "data": MLP_X.ravel().tolist()}]}
    return client.post(f"/v2/models/{deployment}/infer", json=body)


def assert_served_by(client, deployment: str, version: int, mlp: Mlp) -> None:
    resp = infer(client, deployment)
    assert resp.status_code == 200, describe(resp)
    body = resp.json()
    assert str(body["model_version"]) == str(version), body
    out = body["outputs"][0]
    got = np.array(out["data"], dtype=np.float64).reshape(out["shape"])
    assert np.allclose(got, mlp.ref, rtol=0, atol=ATOL), f"{got} is not version {version}'s answer"


def get_deployment(client, name: str) -> dict:
    resp = client.get(f"{DEPLOYMENTS}/{name}")
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def wait_deployment_ready(client, name: str, timeout: float = 60) -> dict:
    return wait_for(lambda: (d := get_deployment(client, name))["state"] == "ready" and d,
                    timeout, f"deployment {name} to be ready")


def serving_versions(d: dict) -> list[int]:
    return sorted(int(s["version"]) for s in d["serving"])


def two_version_deployment(client, mlps) -> tuple[str, str]:
    """A model with versions 1 and 2 (mlps[1], mlps[2]) and a deployment serving version 1."""
    model = create_model(client)
    for seed in (1, 2):
        push_ready(client, model, file_artifact(mlps[seed], metadata={"signature": MLP_SIG}))
    name = unique("fdep")
    resp = client.post(DEPLOYMENTS, json={"name": name, "model": model, "version": 1},
                       timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 201, describe(resp)
    assert resp.json()["state"] == "ready", describe(resp)
    assert_served_by(client, name, 1, mlps[1])
    return model, name


# --------------------------------------------------------------------------------------------
# Crash scenarios


def registry_upload_scenario(make_server, point: str, expect: str, mlps, tree: bool = False):
    """A model version upload (POST /api/v1/models/{m}/versions) crashes at `point`; `expect`
    is what the version in flight must be after the restart: absent, ready or failed."""
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    model = create_model(c)
    baseline = tree_artifact(mlps[1], "baseline") if tree else file_artifact(mlps[1])
    inflight = tree_artifact(mlps[2], "inflight") if tree else file_artifact(mlps[2])
    assert push_ready(c, model, baseline)["version"] == 1

    arm(srv, point, "crash")
    outcome = attempt(lambda: inflight.push(c, model))
    expect_crash(srv, point, outcome)

    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    listed = versions(a, model)
    assert all(v["status"] in ("ready", "failed") for v in listed.values()), listed
    assert set(listed) <= {1, 2}, listed
    assert version_outcome(a, model, 1, baseline) == "ready"
    got = version_outcome(a, model, 2, inflight)
    assert got == expect, f"the upload cut short at {point} is {got}, expected {expect}"

    # Nothing of the version in flight outlives it: deleted (or failed), its blobs go at GC.
    if got == "ready":
        resp = a.delete(f"/api/v1/models/{model}/versions/2")
        assert resp.status_code == 204, describe(resp)
    present = [d for d in inflight.stored if blob_file(srv.data_dir, hexdigest(d)).exists()]
    freed = gc(a)
    for data in inflight.stored:
        assert not blob_file(srv.data_dir, hexdigest(data)).exists(), f"orphan blob kept after GC ({point})"
    assert freed["deleted"] >= len(present), freed
    for data in baseline.stored:
        assert blob_file(srv.data_dir, hexdigest(data)).exists(), "GC removed a live version's blob"
    baseline.check_downloads(a, model, 1)

    # The same upload goes through now.
    v = push_ready(a, model, inflight)
    inflight.check_downloads(a, model, v["version"])
    assert v["version"] == (2 if got == "absent" else 3), v


def blob_upload_scenario(make_server, point: str, expect: str, mlps=None):
    """A raw blob upload (POST /api/v1/blobs) crashes at `point`; after the restart its bytes
    are downloadable whole (`present`) or 404 (`absent`)."""
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    keep, inflight = os.urandom(50_000), os.urandom(70_000)
    assert upload_blob(c, keep).status_code == 201

    arm(srv, point, "crash")
    outcome = attempt(lambda: upload_blob(c, inflight))
    expect_crash(srv, point, outcome)

    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    assert_blob(a, keep)
    resp = a.get(f"{BLOBS}/sha256:{hexdigest(inflight)}")
    if resp.status_code == 200:
        assert resp.content == inflight, "a blob came back with other bytes"
        got = "present"
        dropped = a.delete(f"{BLOBS}/sha256:{hexdigest(inflight)}")
        assert dropped.status_code in (200, 204), describe(dropped)
    else:
        assert_error(resp, 404, "not_found")
        got = "absent"
    assert got == expect, f"the blob upload cut short at {point} is {got}, expected {expect}"
    gc(a)
    assert not blob_file(srv.data_dir, hexdigest(inflight)).exists(), "orphan blob kept after GC"
    assert_blob(a, keep)
    resp = upload_blob(a, inflight)
    assert resp.status_code == 201, describe(resp)
    assert resp.json()["digest"] == "sha256:" + hexdigest(inflight)
    assert_blob(a, inflight)


def mq_publish_scenario(make_server, point: str, expect: str, mlps=None):
    """A publish to an fsync=always topic crashes at `point`; the unacknowledged message is in
    the log after the restart (`present`: it was written) or not (`absent`), once at most."""
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    base = mq_baseline(c)

    arm(srv, point, "crash")
    outcome = attempt(lambda: c.post(f"/api/v1/mq/topics/{base.topic}/messages",
                                     json={"messages": [{"key": "inflight", "body": "inflight"}]}))
    expect_crash(srv, point, outcome)

    again = restart(make_server, srv, *BASE_ARGS)
    mq_verify(again.admin, base, inflight={"inflight": 1 if expect == "present" else 0})


def mq_ack_scenario(make_server, point: str, expect: str, mlps=None):
    """An ack crashes at `point` before the subscription's state is saved: after the restart
    the messages it acked come again (at least once), nothing acked earlier does."""
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    base = mq_baseline(c)
    second = fetch(c, base.worker, max=10)
    assert second and not {m["body"] for m in second} & set(base.acked)
    time.sleep(0.35)  # the deliveries are saved: the next save is the ack's

    arm(srv, point, "crash")
    outcome = attempt(lambda: c.post(f"/api/v1/mq/subscriptions/{base.worker}/ack",
                                     json={"ids": [m["id"] for m in second]}))
    # mq.after_ack is in the request; the state save is the saver thread's, after the answer.
    expect_crash(srv, point, outcome, in_request=point == "mq.after_ack")
    if point != "mq.after_ack" and isinstance(outcome, requests.Response):
        assert outcome.status_code == 200 and outcome.json()["acked"] == len(second), describe(outcome)

    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    rest = drain_all(a, base.worker)
    by_body = {m["body"]: m for m in rest}
    for m in second:
        assert m["body"] in by_body, f"{m['body']} was acked after the last state save: it must come again"
        assert by_body[m["body"]]["deliveries"] >= 2, by_body[m["body"]]
    assert not set(by_body) & set(base.acked), "acked before the last state save, yet redelivered"
    assert set(by_body) | set(base.acked) == base.bodies
    # The audit subscription still has everything; the worker is drained, so only it is checked.
    base.acked = base.acked + list(by_body)
    mq_verify(a, base, redelivered=[])


def mq_topic_scenario(make_server, point: str, expect: str, mlps=None):
    """Creating a topic crashes while its topic.json is written (file.before_rename): after the
    restart the topic does not exist, can be made again under its name, and nothing else moved."""
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    base = mq_baseline(c)
    name = unique("tcrash")

    arm(srv, point, "crash")
    outcome = attempt(lambda: c.post("/api/v1/mq/topics",
                                     json={"name": name, "partitions": 1, "fsync": "always"}))
    expect_crash(srv, point, outcome)

    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    assert_error(a.get(f"/api/v1/mq/topics/{name}"), 404, "not_found")
    mq_verify(a, base)
    resp = a.post("/api/v1/mq/topics", json={"name": name, "partitions": 1, "fsync": "always"})
    assert resp.status_code == 201, describe(resp)
    assert publish(a, name, [{"body": "first"}])[0]["offset"] == 0
    sub = make_sub(a, name)
    assert [m["body"] for m in drain_all(a, sub)] == ["first"]
    listed = [t["name"] for t in a.get("/api/v1/mq/topics").json()["topics"]]
    assert listed.count(name) == 1 and listed.count(base.topic) == 1


def cron_runs(client, job: str) -> list[dict]:
    resp = client.get(f"/api/v1/cron/{job}/runs", params={"page_size": 1000})
    assert resp.status_code == 200, describe(resp)
    return list(reversed(resp.json()["runs"]))  # oldest first


def cron_scenario(make_server, point: str, expect: str, mlps=None):
    """A cron job publishing one message per second crashes at `point` (after claiming a run,
    or after firing it); the next leader fails the run the crash cut short, and no scheduled
    time is ever fired twice (`expect`: whether that run's message was published)."""
    srv = make_server(*CRON_ARGS)
    c = srv.admin
    topic = make_topic(c, fsync="always")
    sub = make_sub(c, topic)
    job = unique("fjob")
    resp = c.post("/api/v1/cron", json={"name": job, "schedule": "* * * * * *",
                                        "target": {"type": "mq", "topic": topic, "body": "tick"}})
    assert resp.status_code == 201, describe(resp)
    before = wait_for(lambda: (rs := cron_runs(c, job)) and
                      sum(r["status"] == "succeeded" for r in rs) >= 2 and rs, 15, "two cron runs")
    old_node = before[-1]["node"]

    arm(srv, point, "crash")
    expect_crash(srv, point, in_request=False)

    again = restart(make_server, srv, *CRON_ARGS)
    a = again.admin

    def settled():
        rs = cron_runs(a, job)
        stale = [r for r in rs if r["node"] == old_node and r["status"] in ("running", "queued")]
        fresh = [r for r in rs if r["node"] != old_node and r["status"] == "succeeded"]
        return not stale and fresh and rs

    wait_for(settled, 20, "the new leader to fail the interrupted run and fire again")
    assert a.post(f"/api/v1/cron/{job}/pause").status_code == 200
    rs = wait_for(lambda: (rs := cron_runs(a, job)) and
                  not any(r["status"] in ("running", "queued") for r in rs) and rs, 15, "runs to end")

    msgs = drain_all(a, sub)
    fired = collections.Counter(m["headers"]["x-cron-scheduled"] for m in msgs)
    assert all(n == 1 for n in fired.values()), f"a scheduled time fired twice: {fired}"
    scheduled = collections.Counter(r["scheduled"] for r in rs if r["trigger"] == "schedule")
    assert all(n == 1 for n in scheduled.values()), f"a scheduled time has two runs: {scheduled}"
    assert set(fired) <= set(scheduled), f"fired without a run: {set(fired) - set(scheduled)}"
    for r in rs:
        if r["status"] == "succeeded":
            assert fired[r["scheduled"]] == 1, f"succeeded run not fired: {r}"
    interrupted = [r for r in rs if r["status"] == "failed" and r.get("error") == INTERRUPTED_BY_CRASH]
    assert interrupted, f"no run was failed as interrupted: {[(r['status'], r.get('error')) for r in rs]}"
    assert all(r["node"] == old_node for r in interrupted), interrupted
    newest = max(interrupted, key=lambda r: r["scheduled"])
    if expect == "fired":
        assert fired[newest["scheduled"]] == 1, f"the run cut short after firing was not fired: {newest}"
    else:
        assert fired[newest["scheduled"]] == 0, f"a run cut short before firing was fired: {newest}"
    assert any(r["node"] != old_node and r["status"] == "succeeded" for r in rs)


def serving_scenario(make_server, point: str, expect: str, mlps):
    """A PATCH moving a deployment from version 1 to 2 crashes while the change is stored:
    after the restart the deployment serves the old version (`old`, not stored) or the new one
    (`new`, stored), loaded and answering, and takes changes again."""
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    model, name = two_version_deployment(c, mlps)

    arm(srv, point, "crash")
    outcome = attempt(lambda: c.patch(f"{DEPLOYMENTS}/{name}", json={"version": 2},
                                      timeout=LOAD_TIMEOUT_S))
    expect_crash(srv, point, outcome)

    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    want = 1 if expect == "old" else 2
    d = wait_deployment_ready(a, name)
    assert d["version"] == want and serving_versions(d) == [want], d
    assert_served_by(a, name, want, mlps[want])
    other = 3 - want
    resp = a.patch(f"{DEPLOYMENTS}/{name}", json={"version": other}, timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 200, describe(resp)
    assert_served_by(a, name, other, mlps[other])


def tree_upload_scenario(make_server, point: str, expect: str, mlps):
    """registry_upload_scenario with directory (tar) versions: their files are unpacked into
    blob temp files (blob.write) and adopted one by one."""
    registry_upload_scenario(make_server, point, expect, mlps, tree=True)


def blob_objects(data_dir: Path) -> set[str]:
    root = data_dir / "blobs" / "objects"
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def dataset_upload_scenario(make_server, point: str, expect: str, mlps=None):
    """A table version upload (POST /api/v1/datasets/{d}/versions, three segments) crashes at
    `point`; after the restart the version in flight is `failed` (interrupted, its segments freed
    at GC) or `ready` (written whole: its profile is finished by the new process)."""
    args = (*BASE_ARGS, "--set", "datasets.segment_rows=2")
    srv = make_server(*args)
    c = srv.admin
    name = create_dataset(c)
    baseline = b"k,v\na,1\nb,2\nc,3\n"
    push(c, name, baseline, status=201)
    assert wait_ready(c, name, 1)["status"] == "ready"
    assert c.get(f"/api/v1/datasets/{name}/versions/1/download").content == baseline  # kept as a blob too
    kept = blob_objects(srv.data_dir)
    inflight = b"k,v\nd,4\ne,5\nf,6\ng,7\nh,8\ni,9\n"

    arm(srv, point, "crash")
    outcome = attempt(lambda: c.post(f"/api/v1/datasets/{name}/versions", data=inflight, headers={"Content-Type": "text/csv"}))
    # The profile is written after the upload is answered, on the module's worker.
    expect_crash(srv, point, outcome, in_request=point != "datasets.before_ready")

    again = restart(make_server, srv, *args)
    a = again.admin
    assert a.get(f"/api/v1/datasets/{name}/versions/1/download").content == baseline
    listed = {v["version"]: v for v in a.get(f"/api/v1/datasets/{name}/versions").json()["versions"]}
    assert set(listed) == {1, 2}, listed
    got = wait_ready(a, name, 2)
    assert got["status"] == expect, got
    if expect == "failed":
        assert "interrupted" in got["status_reason"], got
        gc(a)
        assert blob_objects(srv.data_dir) == kept, "segments of the failed version outlived GC"
    else:
        assert got["row_count"] == 6
        assert a.get(f"/api/v1/datasets/{name}/versions/2/profile").json()["row_count"] == 6
        assert a.get(f"/api/v1/datasets/{name}/versions/2/download").content == inflight
    # The same upload goes through now.
    v = push(a, name, inflight, status=(200, 201))
    assert v["version"] == (3 if expect == "failed" else 2), v


def collector_push_scenario(make_server, point: str, expect: str, mlps=None):
    """A push to an http collector (POST /api/v1/collect/{c}) crashes at `point`, its rows
    written to the spool and not yet synced; after the restart they are stored whole
    (`present`: the file survived the process) or not at all, never in part, and the rows
    acknowledged before are stored once."""
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    ds = create_dataset(c)
    resp = c.post("/api/v1/collectors", json={"name": unique("col"), "dataset": ds, "source": {"type": "http"},
                                              "batch": {"max_rows": 100, "max_wait_s": 0.1}})
    assert resp.status_code == 201, describe(resp)
    name = resp.json()["name"]
    push_url = f"/api/v1/collect/{name}"
    assert c.post(push_url, data="\n".join(json.dumps({"id": i}) for i in range(10))).json()["accepted"] == 10

    def stored() -> list[int]:
        versions = c.get(f"/api/v1/datasets/{ds}/versions").json()["versions"]
        if not versions or versions[0]["status"] != "ready":
            return []
        got = c.get(f"/api/v1/datasets/{ds}/versions/latest/download", params={"format": "jsonl"})
        return [json.loads(line)["id"] for line in got.text.splitlines()]
    wait_for(lambda: stored() == list(range(10)), 20, "the acknowledged rows stored")

    arm(srv, point, "crash")
    outcome = attempt(lambda: c.post(push_url, data="\n".join(json.dumps({"id": i}) for i in range(10, 15))))
    expect_crash(srv, point, outcome)
    again = restart(make_server, srv, *BASE_ARGS)
    c = again.admin
    time.sleep(1.5)
    got = wait_for(lambda: (ids := stored()) and ids, 20, "the rows after the restart")
    assert got in (list(range(10)), list(range(15))), f"rows after the crash: {got}"
    assert ("present" if got == list(range(15)) else "absent") == expect, got
    assert c.post(push_url, data=json.dumps({"id": 99})).json()["accepted"] == 1
    wait_for(lambda: stored()[-1:] == [99], 20, "a new push stored")


def tracking_scenario(make_server, point: str, expect: str, mlps=None):
    """A run's logging call (one transaction) or artifact upload (a pending reference, then the
    bytes, then the artifact) crashes at `point`; after the restart what was acknowledged is
    all there, and the call in flight is there whole (`present`) or not at all (`absent`)."""
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    exp = unique("exp")
    assert c.post("/api/v1/experiments", json={"name": exp}).status_code == 201
    run = c.post("/api/v1/runs", json={"experiment": exp, "params": {"lr": "0.1"}}).json()["id"]
    first = [{"key": "loss", "value": 1.0 / (i + 1), "step": i} for i in range(100)]
    assert c.post(f"/api/v1/runs/{run}/log", json={"metrics": first}).status_code == 200
    assert c.put(f"/api/v1/runs/{run}/artifacts/kept.txt", data=b"kept").status_code == 201
    more = [{"key": "loss", "value": -1.0 - i, "step": 100 + i} for i in range(50)]
    inflight = os.urandom(50_000)

    arm(srv, point, "crash")
    if point == "tracking.after_artifact_pending":
        outcome = attempt(lambda: c.put(f"/api/v1/runs/{run}/artifacts/new.bin", data=inflight))
    else:
        outcome = attempt(lambda: c.post(f"/api/v1/runs/{run}/log", json={"metrics": more, "tags": {"t": "x"}}))
    expect_crash(srv, point, outcome)

    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    r = a.get(f"/api/v1/runs/{run}").json()
    history = a.get(f"/api/v1/runs/{run}/metrics/loss", params={"page_size": 1000}).json()["metrics"]
    assert a.get(f"/api/v1/runs/{run}/artifacts/kept.txt").content == b"kept"
    if point == "tracking.after_artifact_pending":
        paths = [x["path"] for x in a.get(f"/api/v1/runs/{run}/artifacts").json()["artifacts"]]
        got = "present" if "new.bin" in paths else "absent"
        assert got == expect, paths
        gc(a)  # the dropped reference holds nothing back
        assert not blob_file(srv.data_dir, hexdigest(inflight)).exists()
        assert a.put(f"/api/v1/runs/{run}/artifacts/new.bin", data=inflight).status_code == 201
        assert a.get(f"/api/v1/runs/{run}/artifacts/new.bin").content == inflight
        return
    values = [p["value"] for p in history]
    whole = [p["value"] for p in first + more]
    assert values in ([p["value"] for p in first], whole), f"a batch in part: {len(values)} points"
    got = "present" if values == whole else "absent"
    assert got == expect, got
    assert (r["tags"] == {"t": "x"}) == (got == "present"), r["tags"]  # the tag went with its batch
    assert r["metrics"]["loss"]["count"] == len(values)


def search_scenario(make_server, point: str, expect: str, mlps=None):
    """A batch of search documents crashes before its Xapian commit; after the restart the
    batches acknowledged before are all there and searchable, the one in flight not at all,
    and the index takes writes again."""
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    ix = unique("ix")
    assert c.post("/api/v1/search/indexes", json={"name": ix, "fields": {"title": {"type": "text"}}}).status_code == 201
    docs = f"/api/v1/search/indexes/{ix}/documents"
    kept = [{"id": f"k{i}", "title": f"acknowledged scarf {i}"} for i in range(100)]
    assert c.post(docs, json=kept).status_code == 200
    arm(srv, point, "crash")
    outcome = attempt(lambda: c.post(docs, json=[{"id": f"n{i}", "title": f"in flight coat {i}"} for i in range(100)]))
    expect_crash(srv, point, outcome)
    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    assert a.get(f"/api/v1/search/indexes/{ix}").json()["documents"] == (200 if expect == "present" else 100)
    hits = a.post(f"/api/v1/search/indexes/{ix}/search", json={"q": "coat"}).json()["total"]
    assert ("present" if hits == 100 else "absent") == expect and hits in (0, 100), hits
    assert a.post(f"/api/v1/search/indexes/{ix}/search", json={"q": "scarf"}).json()["total"] == 100
    # The vocabulary of typos was never saved (the process died): it is rebuilt from the documents.
    assert a.post(f"/api/v1/search/indexes/{ix}/search", json={"q": "scraf"}).json()["total"] == 100
    assert a.post(docs, json=[{"id": "after", "title": "written after the restart"}]).json()["added"] == 1


def assist_scenario(make_server, point: str, expect: str, mlps=None):
    """A customer's message that hands the conversation to a person crashes the server at
    `point`; after the restart the exchange acknowledged before is there, and the message in
    flight either whole (its turns, the new state and the handoff, which an agent's `next` finds
    in the store since its queue message was never sent) or not at all (sent again, it is
    answered and queued)."""
    from test_assist import diner_bot, say, train  # noqa: PLC0415
    srv = make_server(*BASE_ARGS)
    a = srv.admin
    bot = unique("fbot").replace(".", "-").lower()
    definition = diner_bot(bot, "none")
    definition.pop("faq")
    assert a.post("/api/v1/assist/bots", json=definition).status_code == 201
    train(a, bot)
    c = "in-flight"
    assert say(a, bot, c, "hello")["intent"]["name"] == "greet"
    arm(srv, point, "crash")
    outcome = attempt(lambda: a.post(f"/api/v1/assist/bots/{bot}/messages",
                                     json={"conversation_id": c, "text": "I want to talk to a person"}))
    expect_crash(srv, point, outcome)
    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    conv = a.get(f"/api/v1/assist/bots/{bot}/conversations/{c}").json()
    said = [t["text"] for t in conv["turns"] if t["role"] == "user"]
    agent = again.create_user(["developer"], prefix="agent")
    if expect == "present":
        assert said == ["hello", "I want to talk to a person"] and conv["status"] == "handoff", conv
        assert len(conv["turns"]) == 4
    else:
        assert said == ["hello"] and conv["status"] == "bot" and len(conv["turns"]) == 2, conv
        assert a.get("/api/v1/assist/handoffs", params={"bot": bot}).json()["handoffs"] == []
        assert_error(agent.client.post("/api/v1/assist/handoffs/next", json={"bot": bot}), 404, "not_found")
        assert say(a, bot, c, "I want to talk to a person")["handoff"] == {"reason": "requested"}
    taken = agent.client.post("/api/v1/assist/handoffs/next", json={"bot": bot})
    assert taken.status_code == 200, describe(taken)
    assert taken.json()["conversation_id"] == c and taken.json()["status"] == "handoff"
    assert agent.client.post(f"/api/v1/assist/bots/{bot}/conversations/{c}/agent-messages",
                             json={"text": "How can I help?"}).status_code == 201


def recommend_scenario(make_server, point: str, expect: str, mlps=None):
    """A batch of feedback crashes the server at `point`; after the restart the batches
    acknowledged before are there, the one in flight whole or not at all, and the live state
    rebuilt from the store answers with it (or without it)."""
    srv = make_server(*BASE_ARGS)
    a = srv.admin
    app = unique("frec")
    assert a.post("/api/v1/recommend/apps", json={"name": app, "feedback_types": {"buy": 1}}).status_code == 201
    feedback = f"/api/v1/recommend/apps/{app}/feedback"
    kept = [{"user": f"u{k}", "item": "kept", "type": "buy"} for k in range(50)]
    assert a.post(feedback, json=kept).status_code == 200
    arm(srv, point, "crash")
    outcome = attempt(lambda: a.post(feedback, json=[{"user": f"v{k}", "item": "flight", "type": "buy"} for k in range(80)]))
    expect_crash(srv, point, outcome)
    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    count = a.get(f"/api/v1/recommend/apps/{app}").json()["counts"]["feedback"]
    assert count in (50, 130), count
    assert ("present" if count == 130 else "absent") == expect
    top = [i["id"] for i in a.get(f"/api/v1/recommend/apps/{app}/users/new/recommendations?n=2").json()["items"]]
    assert top == (["flight", "kept"] if expect == "present" else ["kept"]), top
    assert a.post(feedback, json=[{"user": "w", "item": "after", "type": "buy"}]).status_code == 200


def cube_scenario(make_server, point: str, expect: str, mlps=None):
    """A cube's refresh from an appended version crashes at `point` while it saves the new
    table; after the restart the cube loads what its manifest names (the old table, refreshed
    again: "rebuilt"; or the new one as it is: "loaded"), answers with every row of both
    versions, and keeps no file the manifest does not name."""
    srv = make_server(*BASE_ARGS)
    a = srv.admin
    ds = create_dataset(a)
    push(a, ds, b"day,shop,amount\n2024-01-01,a,1\n2024-01-02,b,2\n", status=201)
    wait_ready(a, ds, 1)
    cube = unique("fcube")
    assert a.post("/api/v1/cubes", json={"name": cube, "source": {"dataset": ds}, "dimensions": [
        {"name": "shop", "column": "shop"}, {"name": "day", "column": "day", "type": "time"}],
        "measures": [{"name": "amount", "column": "amount", "agg": "sum"}]}).status_code == 201
    wait_for(lambda: a.get(f"/api/v1/cubes/{cube}").json()["state"] == "ready", 30, "cube built")
    arm(srv, point, "crash")
    resp = a.post(f"/api/v1/datasets/{ds}/versions", params={"append": "latest"},
                  data=b"day,shop,amount\n2024-01-03,a,5\n", headers={"Content-Type": "text/csv"})
    assert resp.status_code in (200, 201), describe(resp)
    expect_crash(srv, point, in_request=False)  # the refresh runs on the module's worker
    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin

    def refreshed():
        c = a.get(f"/api/v1/cubes/{cube}").json()
        return c if c["state"] == "ready" and c["source"]["built_version"] == 2 else None
    wait_for(refreshed, 30, "cube at version 2")
    answer = a.post(f"/api/v1/cubes/{cube}/query", json={"measures": ["amount"], "dimensions": ["shop"]}).json()
    assert [(r["shop"], r["amount"]) for r in answer["rows"]] == [("a", 6), ("b", 2)], answer
    rebuilt = f"cube {cube}: built from {ds} v2" in again.stderr_text()
    assert ("rebuilt" if rebuilt else "loaded") == expect, again.stderr_text()[-2000:]
    files = {p.name for p in (again.data_dir / "cubes" / cube / "base").iterdir()}
    manifest = json.loads((again.data_dir / "cubes" / cube / "base" / "manifest.json").read_text())
    named = {"manifest.json", *manifest["dictionaries"], *(c["file"] for c in manifest["chunks"])}
    assert files == named or not rebuilt and files >= named, (files, named)


def behavior_scenario(make_server, point: str, expect: str, mlps=None):
    """Events captured into a behaviour project crash the server at `point`: in a capture, after
    its record is written and before it is synced and acknowledged, or in the checkpoint after an
    acknowledged capture. After the restart every acknowledged event is there once, the capture
    in flight whole or not at all, retrying it stores nothing twice (its event ids are kept), and
    no file the manifest does not name is left."""
    args = (*BASE_ARGS, "--set", "behavior.checkpoint_s=1")
    srv = make_server(*args)
    a = srv.admin
    project = unique("fbeh")
    assert a.post("/api/v1/behavior/projects", json={"name": project}).status_code == 201
    capture = f"/api/v1/behavior/{project}/capture"

    def batch(prefix, n):
        return {"batch": [{"event": "open", "distinct_id": f"{prefix}{k}", "timestamp": "2024-01-01T00:00:00Z",
                           "uuid": f"{prefix}-{k}"} for k in range(n)]}
    assert a.post(capture, json=batch("kept", 50)).json()["stored"] == 50
    time.sleep(2.5)  # checkpointed: the next checkpoint has only the flight's events to write
    arm(srv, point, "crash")
    if point == "behavior.after_capture_write":
        outcome = attempt(lambda: a.post(capture, json=batch("flight", 80)))
        expect_crash(srv, point, outcome)
    else:
        assert a.post(capture, json=batch("flight", 80)).json()["stored"] == 80
        expect_crash(srv, point, in_request=False)  # the checkpoint runs on the module's thread
    again = restart(make_server, srv, *args)
    a = again.admin
    count = a.get(f"/api/v1/behavior/projects/{project}").json()["stats"]["events"]
    assert count in (50, 130), count
    assert ("present" if count == 130 else "absent") == expect
    retried = a.post(capture, json=batch("flight", 80)).json()
    assert retried["stored"] == (0 if count == 130 else 80), retried
    trend = a.post(f"/api/v1/behavior/{project}/insights/trends", json={
        "event": "open", "math": "unique", "interval": "day", "date_from": "2024-01-01", "date_to": "2024-01-01"}).json()
    assert trend["series"][0]["total"] == 130, trend
    again.stop()  # a last checkpoint; then the directory holds what its manifest names and nothing else
    manifest = json.loads((again.data_dir / "behavior" / project / "manifest.json").read_text())
    named = {"manifest.json", "log", manifest["state"], *(f"part-{p}.bin" for p in manifest["parts"])}
    assert {p.name for p in (again.data_dir / "behavior" / project).iterdir()} == named


def crowd_scenario(make_server, point: str, expect: str, mlps=None):
    """A crowd stream (70 frames of figures as a files dataset, read at their frame rate: 7 s)
    crashes the server at `point` in one of its worker's reports: before the report's
    transaction commits, or after it commits and before it is answered. After the restart the
    stream's worker is replaced, goes on from the frame the platform reached, and the stream
    finishes with every frame tallied exactly once: the report in flight applied whole
    ("present") or not at all ("absent"), never twice, nothing lost."""
    # The restarted server listens on another port, which the surviving worker cannot know: it is
    # replaced once silent for crowd.stall_s.
    args = (*BASE_ARGS, "--set", "crowd.stall_s=3")
    srv = make_server(*args)
    a = srv.admin
    dataset = unique("fcrowd-frames")
    assert a.post("/api/v1/datasets", json={"name": dataset, "kind": "files"}).status_code == 201
    resp = a.post(f"/api/v1/datasets/{dataset}/versions", data=frames_tar(synthetic_frames()), headers={"Content-Type": "application/x-tar"})
    assert resp.status_code == 201, describe(resp)
    name = unique("fcrowd")
    resp = a.post(STREAMS, json={"name": name, "dataset": {"name": dataset, "version": "1"}, "fps": 10, "realtime": True,
                                 "detector": {"every": 5, "scale": 0.5}})
    assert resp.status_code == 201, describe(resp)
    wait_for(lambda: a.get(f"{STREAMS}/{name}").json()["frames"] >= 10, 60, "the first reports")
    arm(srv, point, "crash")
    expect_crash(srv, point, in_request=False)  # the worker's request, not this test's
    again = restart(make_server, srv, *args)
    a = again.admin
    assert a.get(f"{STREAMS}/{name}").json()["frames"] >= 10
    s = wait_state(a, name, ("finished", "failed"), 120)
    assert s["state"] == "finished" and s["frames"] == 70, s
    assert s["run"] >= 2, s  # another worker went on
    counts = a.get(f"{STREAMS}/{name}/counts").json()
    assert counts["people"]["frames"] == 70, counts["people"]
    rows = wait_for(lambda: (r := a.get(f"/api/v1/datasets/crowd-{name}/versions/latest/rows?limit=1000")).status_code == 200
                    and r.json()["rows"], 90, "the stream's minutes in its dataset")
    assert {r["stream"] for r in rows} == {name}


def mining_scenario(make_server, point: str, expect: str, mlps=None):
    """A mining job (association rules over 300 baskets) crashes the server after its result is
    computed and before it is written: the job is left running in the table. After the restart
    it is queued again, runs again from its pinned version and succeeds with the full result."""
    srv = make_server(*BASE_ARGS)
    a = srv.admin
    name = unique("fmine")
    assert a.post("/api/v1/datasets", json={"name": name}).status_code == 201
    lines = ["basket,item"] + [f"b{b},i{(b * 7 + k) % 11}" for b in range(300) for k in range(3)]
    resp = a.post(f"/api/v1/datasets/{name}/versions", data="\n".join(lines).encode(), headers={"Content-Type": "text/csv"})
    assert resp.status_code == 201, describe(resp)
    wait_ready(a, name, 1)
    arm(srv, point, "crash")
    resp = a.post("/api/v1/analysis/mining", json={"kind": "association_rules", "source": {"dataset": name},
                                                   "params": {"transaction_column": "basket", "item_column": "item", "min_support": 0.05}})
    assert resp.status_code == 202, describe(resp)
    job = resp.json()["id"]
    expect_crash(srv, point, in_request=False)
    again = restart(make_server, srv, *BASE_ARGS)
    done = wait_for(lambda: (j := again.admin.get(f"/api/v1/analysis/mining/{job}").json())["state"] in ("succeeded", "failed") and j,
                    60, "the job to run again")
    assert done["state"] == expect, done
    assert done["result"]["transactions"] == 300 and done["result"]["itemset_count"] > 0, done["result"]


# point -> (scenario, expected outcome of the write in flight)
CRASH_CASES = [
    ("db.before_commit", registry_upload_scenario, "absent"),
    ("db.after_commit", registry_upload_scenario, "failed"),
    ("blob.write", tree_upload_scenario, "absent"),        # a tar member being unpacked
    ("blob.before_fsync", registry_upload_scenario, "failed"),
    ("blob.before_rename", registry_upload_scenario, "failed"),
    ("blob.after_rename", registry_upload_scenario, "ready"),
    ("upload.spool_write", registry_upload_scenario, "absent"),
    ("file.before_rename", mq_topic_scenario, "absent"),
    ("blobs.after_upload_row", blob_upload_scenario, "absent"),
    ("registry.after_version_insert", registry_upload_scenario, "failed"),
    ("registry.after_blob_rename", registry_upload_scenario, "ready"),
    ("registry.before_status_commit", registry_upload_scenario, "ready"),
    ("registry.after_status_commit", registry_upload_scenario, "ready"),
    ("datasets.after_version_insert", dataset_upload_scenario, "failed"),
    ("datasets.after_segment", dataset_upload_scenario, "failed"),
    ("datasets.before_ready", dataset_upload_scenario, "ready"),
    ("collector.before_spool_sync", collector_push_scenario, "present"),
    ("tracking.after_artifact_pending", tracking_scenario, "absent"),
    ("search.before_commit", search_scenario, "absent"),
    ("assist.before_turns_commit", assist_scenario, "absent"),
    ("assist.after_turns_commit", assist_scenario, "present"),
    ("recommend.before_feedback_commit", recommend_scenario, "absent"),
    ("recommend.after_feedback_commit", recommend_scenario, "present"),
    ("cube.before_manifest", cube_scenario, "rebuilt"),
    ("cube.after_manifest", cube_scenario, "loaded"),
    ("behavior.after_capture_write", behavior_scenario, "present"),
    ("behavior.before_checkpoint_manifest", behavior_scenario, "present"),
    ("behavior.before_log_drop", behavior_scenario, "present"),
    ("crowd.before_report_commit", crowd_scenario, "absent"),
    ("crowd.after_report_commit", crowd_scenario, "present"),
    ("analysis.before_mining_result", mining_scenario, "succeeded"),
    ("mq.before_append", mq_publish_scenario, "absent"),
    ("mq.after_append", mq_publish_scenario, "present"),
    ("mq.before_fsync", mq_publish_scenario, "present"),
    ("mq.after_fsync", mq_publish_scenario, "present"),
    ("mq.after_ack", mq_ack_scenario, "redelivered"),
    ("mq.before_state_save", mq_ack_scenario, "redelivered"),
    ("scheduler.after_claim", cron_scenario, "not fired"),
    ("scheduler.after_fire", cron_scenario, "fired"),
    ("serving.before_persist", serving_scenario, "old"),
    ("serving.after_persist", serving_scenario, "new"),
]

# The same points met by other writes: the blob API's uploads and directory (tar) versions.
MORE_CRASH_CASES = [
    ("db.after_commit", blob_upload_scenario, "absent"),
    ("upload.spool_write", blob_upload_scenario, "absent"),
    ("blob.before_rename", blob_upload_scenario, "absent"),
    ("blob.after_rename", blob_upload_scenario, "present"),
    ("blob.after_rename", "tree", "failed"),               # one file of the tree in place
    ("registry.after_blob_rename", "tree", "ready"),        # every file in place
    ("db.before_commit", tracking_scenario, "absent"),      # a run's logging call
    ("db.after_commit", tracking_scenario, "present"),
]

def _crash_params():
    params = []
    for point, scenario, expect in CRASH_CASES:
        params.append(pytest.param(point, scenario, expect, id=point))
    for point, scenario, expect in MORE_CRASH_CASES:
        if scenario == "tree":
            params.append(pytest.param(point, "tree", expect, id=f"{point}@tree"))
        else:
            where = "tracking" if scenario is tracking_scenario else "blobs"
            params.append(pytest.param(point, scenario, expect, id=f"{point}@{where}"))
    return params


def test_every_failpoint_has_a_crash_case(make_server):
    srv = make_server("--failpoints-api", "--set", "scheduler.enabled=false")
    resp = srv.admin.get(FAILPOINTS)
    assert resp.status_code == 200, describe(resp)
    points = resp.json()["failpoints"]
    names = [p["name"] for p in points]
    assert len(names) == len(set(names)), names
    covered = {point for point, _, _ in CRASH_CASES}
    assert set(names) == covered, (f"points without a crash case: {sorted(set(names) - covered)}; "
                                   f"cases for points that do not exist: {sorted(covered - set(names))}")
    for p in points:
        assert p["action"] == "off" and p["hits"] == 0 and p["guards"], p

    # The API checks what it is given and is for admins only.
    assert_error(srv.admin.put(f"{FAILPOINTS}/no.such.point", json={"action": "crash"}), 404, "not_found")
    for bad in ("explode", "error(EWHAT)", "0*crash", "sleep(x)", "crash(1)"):
        assert_error(srv.admin.put(f"{FAILPOINTS}/db.after_commit", json={"action": bad}), 400, "bad_request")
    assert point_state(srv, "db.after_commit")["action"] == "off"
    assert arm(srv, "mq.after_ack", "2*sleep(1)")["hits"] == 0
    resp = srv.admin.delete(f"{FAILPOINTS}/mq.after_ack")
    assert resp.status_code == 204, describe(resp)
    assert point_state(srv, "mq.after_ack")["action"] == "off"
    dev = srv.create_user(["developer"], prefix="fpdev")
    assert_error(dev.client.get(FAILPOINTS), 403, "forbidden")
    assert_error(dev.client.put(f"{FAILPOINTS}/db.after_commit", json={"action": "crash"}), 403, "forbidden")

    # Without --failpoints-api the routes do not exist.
    plain = make_server("--set", "scheduler.enabled=false")
    assert_error(plain.admin.get(FAILPOINTS), 404, "not_found")
    assert_error(plain.admin.put(f"{FAILPOINTS}/db.after_commit", json={"action": "crash"}), 404, "not_found")


@pytest.mark.parametrize("point,scenario,expect", _crash_params())
def test_crash_at_failpoint(make_server, mlps, point, scenario, expect):
    if scenario == "tree":
        registry_upload_scenario(make_server, point, expect, mlps, tree=True)
    else:
        scenario(make_server, point, expect, mlps)


def test_crash_writing_the_jwt_secret_at_first_start(make_server, aimass_bin, tmp_path):
    """Armed from the environment (AIMASS_FAILPOINTS) on an empty data dir: the first start
    dies writing its JWT secret; the next start makes one and works."""
    data_dir = tmp_path / "data"
    args = [str(aimass_bin), "server", "--listen", f"127.0.0.1:{free_port()}",
            "--grpc-listen", f"127.0.0.1:{free_port()}", "--data-dir", str(data_dir),
            "--set", "scheduler.enabled=false"]
    env = clean_env(HOME=str(tmp_path), AIMASS_ADMIN_PASSWORD=ADMIN_PASSWORD,
                    AIMASS_FAILPOINTS="file.before_rename=crash")
    proc = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode(errors="replace")[-3000:]
    assert b"failpoint file.before_rename: crash" in proc.stderr
    assert not (data_dir / "jwt-secret").exists()

    srv = make_server("--set", "scheduler.enabled=false", data_dir=data_dir)
    secret = data_dir / "jwt-secret"
    assert secret.stat().st_size > 0 and secret.stat().st_mode & 0o777 == 0o600
    assert srv.admin.get("/api/v1/auth/whoami").status_code == 200
    token = srv.admin_token
    srv.stop()
    # The secret is kept: a token from the first run still works after a restart.
    again = make_server("--set", "scheduler.enabled=false", data_dir=data_dir)
    assert again.client(token).get("/api/v1/auth/whoami").status_code == 200


# --------------------------------------------------------------------------------------------
# Injected I/O errors


def test_disk_full_while_spooling_a_model_upload_is_507_and_creates_nothing(make_server, mlps):
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    model = create_model(c)
    push_ready(c, model, file_artifact(mlps[1]))
    arm(srv, "upload.spool_write", "1*error(ENOSPC)")
    err = assert_error(file_artifact(mlps[2]).push(c, model), 507, "insufficient_storage")
    assert "/blobs/" not in err["message"], "the server's paths must not leak"
    state = point_state(srv, "upload.spool_write")
    assert state["hits"] == 1 and state["action"] == "off", state
    assert sorted(versions(c, model)) == [1]
    assert not blob_file(srv.data_dir, hexdigest(mlps[2].data)).exists()
    wait_tmp_empty(srv.data_dir)
    v = push_ready(c, model, file_artifact(mlps[2]))
    assert v["version"] == 2
    file_artifact(mlps[2]).check_downloads(c, model, 2)


def test_disk_full_while_spooling_a_blob_upload_is_507_and_stores_nothing(make_server):
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    data = os.urandom(40_000)
    arm(srv, "upload.spool_write", "1*error(EDQUOT)")
    assert_error(upload_blob(c, data), 507, "insufficient_storage")
    assert_error(c.get(f"{BLOBS}/sha256:{hexdigest(data)}"), 404, "not_found")
    wait_tmp_empty(srv.data_dir)
    assert upload_blob(c, data).status_code == 201
    assert_blob(c, data)


def test_eio_syncing_a_model_artifact_fails_the_version_and_leaves_nothing_pending(make_server, mlps):
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    model = create_model(c)
    push_ready(c, model, file_artifact(mlps[1]))
    arm(srv, "blob.before_fsync", "1*error(EIO)")
    assert_error(file_artifact(mlps[2]).push(c, model), 500, "internal")
    v2 = c.get(f"/api/v1/models/{model}/versions/2").json()
    assert v2["status"] == "failed" and v2["status_reason"], v2
    assert_error(c.get(f"/api/v1/models/{model}/versions/2/artifact"), 409, "conflict")
    assert not blob_file(srv.data_dir, hexdigest(mlps[2].data)).exists()
    wait_tmp_empty(srv.data_dir)
    v3 = push_ready(c, model, file_artifact(mlps[2]))
    assert v3["version"] == 3
    file_artifact(mlps[2]).check_downloads(c, model, 3)

    srv.stop()
    again = restart(make_server, srv, *BASE_ARGS)
    listed = versions(again.admin, model)
    assert [listed[n]["status"] for n in (1, 2, 3)] == ["ready", "failed", "ready"], listed
    assert listed[2]["status_reason"] == v2["status_reason"]


def test_fsync_failure_fences_the_partition_until_restart(make_server):
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    topic = make_topic(c, partitions=1, fsync="always")
    other = make_topic(c, partitions=1, fsync="always")
    acked = [f"m{i}" for i in range(5)]
    publish(c, topic, [{"key": "k", "body": b} for b in acked])

    arm(srv, "mq.before_fsync", "1*error(EIO)")
    url = f"/api/v1/mq/topics/{topic}/messages"
    assert_error(c.post(url, json={"messages": [{"key": "k", "body": "failed-sync"}]}), 500, "internal")
    for _ in range(2):
        err = assert_error(c.post(url, json={"messages": [{"key": "k", "body": "refused"}]}), (500, 507))
        assert "until the server restarts" in err["message"], err
    # Reads go on, other partitions take writes.
    sub = make_sub(c, topic)
    got = [m["body"] for m in drain_all(c, sub)]
    assert got[:5] == acked and "refused" not in got, got
    assert publish(c, other, [{"body": "elsewhere"}])[0]["offset"] == 0

    srv.stop()
    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    fresh = make_sub(a, topic)
    got = [m["body"] for m in drain_all(a, fresh)]
    assert got[:5] == acked and "refused" not in got and len(got) <= 6, got
    r = publish(a, topic, [{"key": "k", "body": "after-restart"}])[0]
    assert r["offset"] == len(got)
    assert [m["body"] for m in drain_all(a, fresh)] == ["after-restart"]


def test_metadata_commit_error_creates_nothing_and_reads_go_on(make_server):
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    name = unique("fuser")
    body = {"username": name, "password": "Pw-0a1b2c3d4e5f-Aa1!", "roles": ["viewer"]}
    arm(srv, "db.before_commit", "1*error(EIO)")
    assert_error(c.post("/api/v1/users", json=body), 500, "internal")
    assert point_state(srv, "db.before_commit")["hits"] == 1
    assert_error(c.get(f"/api/v1/users/{name}"), 404, "not_found")
    resp = c.get("/api/v1/users", params={"page_size": 1000})
    assert resp.status_code == 200 and name not in {u["username"] for u in resp.json()["users"]}
    assert c.post("/api/v1/users", json=body).status_code == 201
    assert srv.login(name, body["password"])

    model = unique("fmodel")
    arm(srv, "db.before_commit", "1*error(EIO)")
    assert_error(c.post("/api/v1/models", json={"name": model}), 500, "internal")
    assert_error(c.get(f"/api/v1/models/{model}"), 404, "not_found")
    assert c.get("/api/v1/models").status_code == 200
    assert c.post("/api/v1/models", json={"name": model}).status_code == 201


def test_deployment_store_error_keeps_the_old_version_serving(make_server, mlps):
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    model, name = two_version_deployment(c, mlps)
    arm(srv, "serving.before_persist", "1*error")
    assert_error(c.patch(f"{DEPLOYMENTS}/{name}", json={"version": 2}, timeout=LOAD_TIMEOUT_S), 500, "internal")
    d = get_deployment(c, name)
    assert d["version"] == 1 and d["state"] == "ready", d
    d = wait_for(lambda: (d := get_deployment(c, name)) and serving_versions(d) == [1] and d, 10,
                 "the refused version to be unloaded")
    assert_served_by(c, name, 1, mlps[1])

    srv.stop()
    again = restart(make_server, srv, *BASE_ARGS)
    d = wait_deployment_ready(again.admin, name)
    assert d["version"] == 1 and serving_versions(d) == [1], d
    assert_served_by(again.admin, name, 1, mlps[1])


# --------------------------------------------------------------------------------------------
# kill -9 with no failpoint


def test_kill_9_while_a_tar_upload_streams_in(make_server, mlps):
    srv = make_server(*BASE_ARGS)
    c = srv.admin
    model = create_model(c)
    baseline = tree_artifact(mlps[1], "baseline")
    push_ready(c, model, baseline)
    files = dict(tree_artifact(mlps[2], "big").files, **{"weights.bin": os.urandom(24 << 20)})
    body = make_tar(files)

    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        sock.sendall((f"POST /api/v1/models/{model}/versions?framework=torchscript HTTP/1.1\r\n"
                      f"Host: x\r\nAuthorization: Bearer {srv.admin_token}\r\n"
                      f"Content-Type: application/x-tar\r\nContent-Length: {len(body)}\r\n\r\n").encode())
        sock.sendall(body[: len(body) // 3])
        tmp = tmp_dir(srv.data_dir)
        wait_for(lambda: any(p.stat().st_size > 0 for p in tmp.iterdir()), 5, "the upload to be spooled")
        kill_9(srv)
    finally:
        sock.close()

    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    assert sorted(versions(a, model)) == [1]
    assert version_outcome(a, model, 1, baseline) == "ready"
    assert not blob_file(srv.data_dir, hexdigest(files["weights.bin"])).exists()
    v = push_ready(a, model, Artifact(files=files))
    Artifact(files=files).check_downloads(a, model, v["version"])


def test_kill_9_during_a_grpc_publish_stream_loses_no_acknowledged_batch(make_server):
    import grpc

    from mq_grpc import MESSAGES as M
    from mq_grpc import publish_stream

    srv = make_server(*BASE_ARGS)
    c = srv.admin
    topic = make_topic(c, partitions=2)  # fsync interval: a process crash still loses nothing acked
    keys = [f"k{i}" for i in range(16)]
    sent: dict[int, list[tuple[str, str]]] = {}
    acked: dict[tuple[int, int], tuple[str, str]] = {}
    stop = threading.Event()
    errors: list = []

    def batches():
        seq = 0
        while not stop.is_set():
            seq += 1
            msgs = [(k, f"{k}:{seq}") for k in keys]
            sent[seq] = msgs
            yield M["PublishRequest"](seq=seq, topic=topic, messages=[
                M["OutgoingMessage"](key=k, body=b.encode()) for k, b in msgs])
            time.sleep(0.01)

    def producer():
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}")
        try:
            for reply in publish_stream(channel, batches(), srv.admin_token):
                if reply.error_code:
                    errors.append(reply.error_message)
                    continue
                for msg, r in zip(sent[reply.seq], reply.results, strict=True):
                    acked[(r.partition, r.offset)] = msg
        except grpc.RpcError as exc:
            errors.append(exc.code())
        finally:
            channel.close()

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    wait_for(lambda: len(acked) >= 300, 15, "300 acknowledged messages")
    kill_9(srv)
    stop.set()
    t.join(15)
    assert not t.is_alive(), "the publish stream did not end when the server died"
    assert errors and all(not isinstance(e, str) for e in errors), errors

    again = restart(make_server, srv, *BASE_ARGS)
    a = again.admin
    sub = make_sub(a, topic)
    got = drain_all(a, sub, timeout=60)
    at = {(m["partition"], m["offset"]): (m["key"], m["body"]) for m in got}
    assert len(at) == len(got)
    lost = [pos for pos, msg in acked.items() if at.get(pos) != msg]
    assert not lost, f"{len(lost)} acknowledged messages lost or changed, e.g. {lost[:5]}"
    for key, bodies in bodies_by_key(got).items():
        seqs = [int(b.split(":")[1]) for b in bodies]
        assert seqs == sorted(set(seqs)), f"key {key} out of order or duplicated"
    channel = grpc.insecure_channel(f"127.0.0.1:{again.grpc_port}")
    replies = list(publish_stream(channel, iter([M["PublishRequest"](seq=1, topic=topic, messages=[
        M["OutgoingMessage"](key="k0", body=b"after")])]), again.admin_token))
    channel.close()
    assert len(replies) == 1 and not replies[0].error_code, replies


def test_kill_9_during_grpc_inference_comes_back_serving(make_server, mlps):
    from oip_grpc import MESSAGES, V2Client, output_values, pack

    srv = make_server(*BASE_ARGS)
    c = srv.admin
    model, name = two_version_deployment(c, mlps)

    def request():
        req = MESSAGES["ModelInferRequest"](model_name=name)
        req.inputs.add(name="features", datatype="FP32", shape=list(MLP_X.shape))
        req.raw_input_contents.append(pack("FP32", [float(v) for v in MLP_X.ravel()]))
        return req

    answered, failures = [], []
    stop = threading.Event()

    def client_loop():
        client = V2Client(f"127.0.0.1:{srv.grpc_port}", srv.admin_token, timeout=5)
        try:
            while not stop.is_set():
                try:
                    answered.append(output_values(client.model_infer(request()), 0))
                except client.grpc.RpcError as exc:
                    failures.append(exc.code())
                    time.sleep(0.05)
        finally:
            client.close()

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    wait_for(lambda: len(answered) >= 20, 15, "gRPC answers before the kill")
    kill_9(srv)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(10)
    assert failures, "the clients should have seen the server go"
    for values in answered:
        assert np.allclose(np.array(values).reshape(mlps[1].ref.shape), mlps[1].ref, atol=ATOL)

    again = restart(make_server, srv, *BASE_ARGS)
    d = wait_deployment_ready(again.admin, name)
    assert d["version"] == 1 and serving_versions(d) == [1], d
    client = V2Client(f"127.0.0.1:{again.grpc_port}", again.admin_token)
    try:
        resp = client.model_infer(request())
    finally:
        client.close()
    assert resp.model_version == "1"
    got = np.array(output_values(resp, 0)).reshape(mlps[1].ref.shape)
    assert np.allclose(got, mlps[1].ref, atol=ATOL)
    assert_served_by(again.admin, name, 1, mlps[1])


def test_kill_9_with_the_jetstream_broker_loses_no_acknowledged_message(make_server, tmp_path):
    from test_mq_jetstream import NatsServer, js_args, js_prefix

    nats = NatsServer(tmp_path / "nats").start()
    try:
        args = (*BASE_ARGS, *js_args(nats, js_prefix()))
        srv = make_server(*args)
        c = srv.admin
        topic = make_topic(c, partitions=2)
        audit = make_sub(c, topic)
        worker = make_sub(c, topic)
        publish(c, topic, [{"key": f"base-{i % 3}", "body": f"base-{i % 3}:{i}"} for i in range(9)])
        early = fetch(c, worker, max=4)
        assert early and ack(c, worker, [m["id"] for m in early])["acked"] == len(early)

        acked: list[tuple[str, str]] = []
        stop = threading.Event()

        def producer(n):
            client = srv.client(srv.admin_token)
            i = 0
            while not stop.is_set():
                key, body = f"p{n}-{i % 4}", f"p{n}-{i % 4}:{i}"
                try:
                    resp = client.post(f"/api/v1/mq/topics/{topic}/messages",
                                       json={"messages": [{"key": key, "body": body}]}, timeout=5)
                except requests.RequestException:
                    return
                if resp.status_code == 200:
                    acked.append((key, body))
                i += 1

        threads = [threading.Thread(target=producer, args=(n,), daemon=True) for n in range(2)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 100, 15, "100 acknowledged publishes")
        kill_9(srv)
        stop.set()
        for t in threads:
            t.join(10)

        again = restart(make_server, srv, *args)
        a = again.admin
        got = drain_all(a, audit, timeout=60)
        counts = collections.Counter((m.get("key", ""), m["body"]) for m in got)
        assert all(n == 1 for n in counts.values()), [k for k, n in counts.items() if n > 1][:5]
        lost = [m for m in acked if m not in counts]
        assert not lost, f"{len(lost)} acknowledged messages lost, e.g. {lost[:5]}"
        for key, bodies in bodies_by_key(got).items():
            seqs = [int(b.split(":")[1]) for b in bodies]
            assert seqs == sorted(seqs), f"key {key} out of order"
        base = {b for (k, b) in counts if k.startswith("base-")}
        assert base == {f"base-{i % 3}:{i}" for i in range(9)}
        rest = drain_all(a, worker, timeout=60)
        assert {m["body"] for m in rest} | {m["body"] for m in early} == {b for _, b in counts}
        assert publish(a, topic, [{"key": "after", "body": "after"}])
        assert [m["body"] for m in drain_all(a, audit)] == ["after"]
        again.stop()
    finally:
        nats.kill()
