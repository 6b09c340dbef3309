"""The distributed mode as a user meets it: PostgreSQL 15 (initdb + pg_ctl on a free port), a
nats-server with JetStream, etcd, and four aimass processes on loopback — a gateway; two
registry + serving processes; an mq + scheduler process — sharing the database, one blob
directory, one JWT secret and etcd for discovery. Everything goes through the gateway. Then the
failures: a serving process killed with -9 under a load of requests, and the scheduler process
killed with -9; each comes back. And four processes that share only the database: each reaches
the module it needs in another over HTTP (serving downloads artifacts from the registry, the
scheduler publishes into the mq process's embedded log and calls the registry)."""
from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

import models
from conftest import describe, free_port, postgres_server, unique, wait_for
from mq_helpers import ack, fetch, make_sub, make_topic, publish
from test_mq_jetstream import NatsServer
from test_registry_tree import make_tar
from test_serving import MLP_SIG, MLP_X, assert_matches, create_model, deploy, infer, output_array, push, stats_totals

LEASE_TTL_S = 3
JWT_SECRET = "distributed-e2e-secret-distributed-e2e-0123456789"


class Etcd:
    """A one-member etcd on loopback (Debian's etcd-server), data under `workdir`."""

    def __init__(self, workdir: Path):
        self.binary = shutil.which("etcd") or "/usr/bin/etcd"
        if not Path(self.binary).is_file():
            pytest.fail("etcd not found: scripts/install-deps installs etcd-server for the tests", pytrace=False)
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.peer_port = free_port(), free_port()
        self.log_path = workdir / "etcd.log"
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Etcd":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--name", "e2e", "--data-dir", str(self.workdir / "data"),
                 "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                 "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                 "--initial-cluster", f"e2e=http://127.0.0.1:{self.peer_port}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def up():
            try:
                return requests.get(self.url + "/health", timeout=1).json().get("health") == "true"
            except (requests.RequestException, ValueError):
                return False

        wait_for(up, 30, "etcd to answer /health")
        return self

    def keys(self, prefix: str) -> list[str]:
        import base64
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        body = {"key": base64.b64encode(prefix.encode()).decode(), "range_end": base64.b64encode(end.encode()).decode(),
                "keys_only": True}
        got = requests.post(self.url + "/v3/kv/range", json=body, timeout=5).json()
        return [base64.b64decode(kv["key"]).decode() for kv in got.get("kvs", [])]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def cluster(make_server, tmp_path):
    pg = postgres_server()
    nats = NatsServer(tmp_path / "nats")
    etcd = Etcd(tmp_path / "etcd")
    started = []
    try:
        nats.start()
        etcd.start()
        yield from _cluster(make_server, tmp_path, pg, nats, etcd, started)
    finally:
        # The aimass processes stop (and must exit 0) while the engines they use still run.
        for srv in reversed(started):
            srv.stop()
        nats.stop()
        etcd.stop()


def _cluster(make_server, tmp_path, pg, nats, etcd, started):
    env = {
        "AIMASS_STORAGE_DRIVER": "postgres",
        "AIMASS_STORAGE_DSN": pg.database(unique("dist").lower()),
        "AIMASS_STORAGE_BLOB_DIR": str(tmp_path / "shared-blobs"),
        "AIMASS_AUTH_JWT_SECRET": JWT_SECRET,
        "AIMASS_CLUSTER_DISCOVERY": "etcd",
        "AIMASS_CLUSTER_ETCD_ENDPOINTS": etcd.url,
        "AIMASS_CLUSTER_LEASE_TTL_S": str(LEASE_TTL_S),
        "AIMASS_MQ_DRIVER": "jetstream",
        "AIMASS_MQ_NATS_URL": nats.url,
        "AIMASS_MQ_JETSTREAM_PREFIX": unique("dist").lower(),
        "AIMASS_SCHEDULER_LEASE_TTL_S": "2",
    }
    # The back ends first, so that the gateway finds them announced when it starts.
    for target in ("registry,serving", "registry,serving", "mq,scheduler", "gateway"):
        started.append(make_server("--target", target, env=env))
    rs1, rs2, ms, gw = started
    yield {"gw": gw, "rs1": rs1, "rs2": rs2, "ms": ms, "etcd": etcd}


def instances(gw, service):
    got = gw.admin.get("/api/v1/gateway/services")
    assert got.status_code == 200, describe(got)
    for s in got.json()["services"]:
        if s["name"] == service:
            return sorted(i["url"] for i in s["instances"])
    return []


def killed(srv):
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    srv.returncode = 0  # killed on purpose: not a failed shutdown


def test_a_user_works_through_the_gateway_and_the_cluster_survives_a_death_of_each_role(cluster, tmp_path):
    gw, rs1, rs2, ms, etcd = cluster["gw"], cluster["rs1"], cluster["rs2"], cluster["ms"], cluster["etcd"]
    ready = requests.get(gw.url + "/readyz", timeout=5).json()
    assert set(ready["target"]) == {"auth", "blobs", "console", "events", "discovery", "gateway"}, ready
    assert set(ready["remote"]) == {"registry", "serving", "mq", "scheduler", "cluster", "datasets", "collector", "tracking", "pipeline", "search", "assist", "recommend", "cube", "behavior", "crowd", "analysis"}, ready
    assert set(requests.get(rs1.url + "/readyz", timeout=5).json()["remote"]) == {"gateway", "mq", "scheduler", "cluster", "datasets", "collector", "tracking", "pipeline", "search", "assist", "recommend", "cube", "behavior", "crowd", "analysis"}
    announced = etcd.keys("/aimass/services/")
    assert sum(k.startswith("/aimass/services/aimass-serving/") for k in announced) == 2, announced
    # The platform's own services cannot be added to, renewed or removed through the API: the
    # built-in routes pass every caller's credentials to them.
    services = "/api/v1/gateway/services"
    r = gw.admin.post(f"{services}/aimass-registry/instances", json={"url": "http://127.0.0.1:9"})
    assert r.status_code == 403, describe(r)
    victim = announced[0].rsplit("/", 1)[1]
    assert gw.admin.delete(f"{services}/aimass-serving/instances/{victim}").status_code == 403
    assert gw.admin.put(f"{services}/aimass-serving/instances/{victim}", json={}).status_code == 403

    # As a user: log in through the gateway, push, deploy, infer.
    c = gw.admin
    model = create_model(c)
    v1 = models.torchscript_mlp(tmp_path / "v1.pt", seed=1)
    push(c, model, v1, "torchscript", MLP_SIG)
    dep = deploy(c, model)["name"]
    reference = models.torch_reference(v1, MLP_X)

    def both_serve():
        for srv in (rs1, rs2):
            r = infer(srv.admin, dep, "features", MLP_X)
            if r.status_code != 200:
                return False
        return True

    wait_for(both_serve, 60, "both serving processes to load the deployment")
    r = infer(c, dep, "features", MLP_X)
    assert r.status_code == 200, describe(r)
    assert_matches(output_array(r.json()), reference)

    # Publish and consume through the gateway (JetStream behind the mq process).
    topic = make_topic(c)
    sub = make_sub(c, topic)
    publish(c, topic, [{"key": "k", "body": "hello"}])
    got = fetch(c, sub, max=10, wait_ms=3000)
    assert [m["body"] for m in got] == ["hello"]
    ack(c, sub, [m["id"] for m in got])

    # A cron job fires each second into a topic: exactly once per second.
    ticks_topic = make_topic(c)
    ticks = make_sub(c, ticks_topic)
    job = unique("tick")
    r = c.post("/api/v1/cron", json={"name": job, "schedule": "* * * * * *",
                                     "target": {"type": "mq", "topic": ticks_topic, "body": "tick"}})
    assert r.status_code == 201, describe(r)

    def scheduled_times(messages):
        return [m["headers"]["x-cron-scheduled"] for m in messages]

    seen = []
    deadline = time.monotonic() + 15
    while len(seen) < 3 and time.monotonic() < deadline:
        batch = fetch(c, ticks, max=50, wait_ms=1000)
        if batch:
            ack(c, ticks, [m["id"] for m in batch])
        seen += batch
    assert len(seen) >= 3, seen

    # kill -9 one serving process under load: idempotent requests never fail (the gateway
    # retries them on the other), inference fails at most for the requests in flight.
    stop = threading.Event()
    results = []  # (kind, status, time)
    lock = threading.Lock()

    def load(kind):
        s = requests.Session()
        headers = {"Authorization": f"Bearer {gw.admin_token}"}
        body = {"inputs": [{"name": "features", "shape": list(MLP_X.shape), "datatype": "FP32",
                            "data": MLP_X.flatten().tolist()}]}
        while not stop.is_set():
            try:
                if kind == "get":
                    resp = s.get(f"{gw.url}/v2/models/{dep}", headers=headers, timeout=15)
                else:
                    resp = s.post(f"{gw.url}/v2/models/{dep}/infer", headers=headers, json=body, timeout=15)
                code = resp.status_code
            except requests.RequestException:
                code = -1
            with lock:
                results.append((kind, code, time.monotonic()))

    threads = [threading.Thread(target=load, args=(k,)) for k in ("get", "get", "post", "post")]
    for t in threads:
        t.start()
    time.sleep(1.5)
    killed_at = time.monotonic()
    killed(rs1)
    # etcd drops the dead process's announcements when its lease runs out.
    wait_for(lambda: len(instances(gw, "aimass-serving")) == 1, LEASE_TTL_S + 5,
             "etcd to drop the killed serving process")
    dropped_after = time.monotonic() - killed_at
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join(30)
    gets = [r for r in results if r[0] == "get"]
    posts = [r for r in results if r[0] == "post"]
    assert gets and posts
    assert all(code == 200 for _, code, _ in gets), sorted({code for _, code, _ in gets})
    failed_posts = [r for r in posts if r[1] != 200]
    assert len(failed_posts) <= 2, failed_posts  # at most the two in flight when it died
    assert dropped_after <= LEASE_TTL_S + 5
    assert instances(gw, "aimass-serving") == [rs2.url]
    for _ in range(10):
        r = infer(c, dep, "features", MLP_X)
        assert r.status_code == 200, describe(r)

    # It comes back (its deployment with it), announces itself, and takes traffic again.
    rs1.start()
    wait_for(lambda: sorted(instances(gw, "aimass-serving")) == sorted([rs1.url, rs2.url]), 30,
             "the restarted serving process to be routed to")
    wait_for(lambda: infer(rs1.admin, dep, "features", MLP_X).status_code == 200, 60,
             "the restarted process to load the deployment")
    before = stats_totals(rs1.admin, dep)["success"]

    def routed_to_restarted():
        for _ in range(10):
            assert infer(c, dep, "features", MLP_X).status_code == 200
        return stats_totals(rs1.admin, dep)["success"] > before

    # The gateway routes to it once its next refresh sees the new announcement.
    wait_for(routed_to_restarted, 15, "the gateway to send traffic to the restarted process")

    # kill -9 the scheduler process: nothing fires twice; after a restart the job fires again.
    killed(ms)
    time.sleep(2)
    ms.start()
    restarted = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())  # Rfc3339Ms sorts as text, in UTC
    deadline = time.monotonic() + 20
    after_restart = []
    while len(after_restart) < 2 and time.monotonic() < deadline:
        # Until the gateway's next refresh routes to the restarted process, it answers 502/503.
        resp = c.get(f"/api/v1/mq/subscriptions/{ticks}/messages", params={"max": 50, "wait_ms": 1000})
        if resp.status_code in (502, 503):
            time.sleep(0.2)
            continue
        assert resp.status_code == 200, describe(resp)
        batch = resp.json()["messages"]
        if batch:
            ack(c, ticks, [m["id"] for m in batch])
        seen += batch
        after_restart += [m for m in batch if m["headers"]["x-cron-scheduled"] >= restarted]
    assert c.post(f"/api/v1/cron/{job}/pause").status_code == 200
    times = scheduled_times(seen)
    assert len(times) == len(set(times)), "a scheduled second fired twice"
    runs = c.get(f"/api/v1/cron/{job}/runs", params={"page_size": 1000}).json()["runs"]
    fired = [r["scheduled"] for r in runs if r["trigger"] == "schedule" and r["status"] == "succeeded"]
    assert len(fired) == len(set(fired)), "a scheduled second ran twice"
    assert len(after_restart) >= 2, "the job did not fire after the scheduler came back"


@pytest.fixture
def split(make_server, tmp_path):
    """Four processes on one PostgreSQL with discovery in it, each with its own data directory
    and nothing else shared: registry; serving; mq on its embedded log; scheduler."""
    pg = postgres_server()
    env = {
        "AIMASS_STORAGE_DRIVER": "postgres",
        "AIMASS_STORAGE_DSN": pg.database(unique("split").lower()),
        "AIMASS_AUTH_JWT_SECRET": JWT_SECRET,
        "AIMASS_CLUSTER_LEASE_TTL_S": str(LEASE_TTL_S),
    }
    return {t: make_server("--target", t, env=env) for t in ("registry", "mq", "serving", "scheduler")}


def test_modules_in_other_processes_are_reached_over_http_when_nothing_but_the_database_is_shared(split, tmp_path):
    reg, mq, srv, sch = split["registry"], split["mq"], split["serving"], split["scheduler"]
    ready = requests.get(srv.url + "/readyz", timeout=5).json()
    assert "registry" in ready["libraries"] and "registry" in ready["remote"], ready
    assert "mq" in requests.get(sch.url + "/readyz", timeout=5).json()["libraries"]

    # A single-file version and a directory version, pushed to the registry process: the serving
    # process has neither in its blob store and downloads each from the registry.
    model = create_model(reg.admin)
    v1 = models.torchscript_mlp(tmp_path / "v1.pt", seed=1)
    push(reg.admin, model, v1, "torchscript", MLP_SIG)
    v2 = models.torchscript_mlp(tmp_path / "v2.pt", seed=2)
    tree = {"model.pt": v2.read_bytes(), "config/labels.txt": b"a\nb\nc\n"}
    r = reg.admin.post(f"/api/v1/models/{model}/versions?framework=torchscript", data=make_tar(tree),
                       headers={"Content-Type": "application/x-tar", "X-Model-Metadata": json.dumps({"signature": MLP_SIG})})
    assert r.status_code == 201, describe(r)
    blobs = srv.data_dir / "blobs"
    before = {p.name for p in blobs.rglob("*") if p.is_file()}
    deps = []
    for version, artifact in ((1, v1), (2, v2)):
        dep = deploy(srv.admin, model, version=version)["name"]
        r = infer(srv.admin, dep, "features", MLP_X)
        assert r.status_code == 200, describe(r)
        assert_matches(output_array(r.json()), models.torch_reference(artifact, MLP_X))
        digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
        assert any(p.name == digest for p in blobs.rglob("*")), f"version {version} not stored by serving"
        deps.append(dep)
    added = {p.name for p in blobs.rglob("*") if p.is_file()} - before
    assert hashlib.sha256(tree["config/labels.txt"]).hexdigest() not in added, "only the entry file is needed"
    # A version the registry's blob store has lost cannot be made up: the deployment fails cleanly.
    v3 = models.torchscript_mlp(tmp_path / "v3.pt", seed=3)
    push(reg.admin, model, v3, "torchscript", MLP_SIG)
    lost = hashlib.sha256(v3.read_bytes()).hexdigest()
    for p in (reg.data_dir / "blobs").rglob(lost):
        p.unlink()
    r = srv.admin.post("/api/v1/deployments", json={"name": unique("dep"), "model": model, "version": 3}, timeout=60)
    assert r.status_code == 404, describe(r)

    # A serving process that restarts without its copy while the registry is away: the load
    # fails as unavailable and is tried again until the registry is back.
    srv.stop()
    for p in blobs.rglob(hashlib.sha256(v1.read_bytes()).hexdigest()):
        p.unlink()
    reg.stop()
    srv.start()
    got = srv.admin.get(f"/api/v1/deployments/{deps[0]}").json()
    assert got["state"] in ("failed", "loading"), got
    wait_for(lambda: "registry" in srv.admin.get(f"/api/v1/deployments/{deps[0]}").json().get("reason", ""), 15,
             "the load to fail for want of the registry")
    wait_for(lambda: infer(srv.admin, deps[1], "features", MLP_X).status_code == 200, 30,
             "the deployment whose copy is still here to load")
    r = srv.admin.post("/api/v1/deployments", json={"name": unique("dep"), "model": model, "version": 3}, timeout=60)
    assert r.status_code == 503 and "registry" in r.json()["error"]["message"], describe(r)
    reg.start()
    wait_for(lambda: infer(srv.admin, deps[0], "features", MLP_X).status_code == 200, 40,
             "the load to be tried again once the registry is back")

    # The scheduler publishes into the mq process's log and calls the registry process.
    topic = make_topic(mq.admin)
    sub = make_sub(mq.admin, topic)
    job = unique("tick")
    r = sch.admin.post("/api/v1/cron", json={"name": job, "schedule": "* * * * * *",
                                             "target": {"type": "mq", "topic": topic, "body": "tick"}})
    assert r.status_code == 201, describe(r)
    call = unique("call")
    r = sch.admin.post("/api/v1/cron", json={"name": call, "schedule": "* * * * * *",
                                             "target": {"type": "http", "method": "GET",
                                                        "path": f"/api/v1/models/{model}"}})
    assert r.status_code == 201, describe(r)
    seen = []
    deadline = time.monotonic() + 15
    while len(seen) < 2 and time.monotonic() < deadline:
        batch = fetch(mq.admin, sub, max=50, wait_ms=1000)
        if batch:
            ack(mq.admin, sub, [m["id"] for m in batch])
        seen += batch
    assert len(seen) >= 2 and all(m["body"] == "tick" for m in seen), seen

    def a_call_succeeded():
        runs = sch.admin.get(f"/api/v1/cron/{call}/runs").json()["runs"]
        return any(r["status"] == "succeeded" and model in r["output"] for r in runs)

    wait_for(a_call_succeeded, 15, "the scheduler's HTTP target to reach the registry process")
    for name in (job, call):
        assert sch.admin.post(f"/api/v1/cron/{name}/pause").status_code == 200
