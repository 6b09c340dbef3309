"""The distributed mode as a user meets it: PostgreSQL 15 (initdb + pg_ctl on a free port), a
nats-server with JetStream, etcd, and four aimass processes on loopback — a gateway; two
registry + serving processes; an mq + scheduler process — sharing the database, one blob
directory, one JWT secret and etcd for discovery. Everything goes through the gateway. Then the
failures: a serving process killed with -9 under a load of requests, and the scheduler process
killed with -9; each comes back."""
from __future__ import annotations

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
    assert set(ready["target"]) == {"auth", "blobs", "events", "discovery", "gateway"}, ready
    assert set(ready["remote"]) == {"registry", "serving", "mq", "scheduler"}, ready
    assert set(requests.get(rs1.url + "/readyz", timeout=5).json()["remote"]) == {"gateway", "mq", "scheduler"}
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
