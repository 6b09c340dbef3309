"""Message queue with mq.driver=jetstream, black-box: the same HTTP API as test_mq.py, backed by
a real NATS JetStream server (Debian's nats-server, started here on a free loopback port).

The semantics that differ from the embedded backend are the documented ones:
  - offsets are topic-wide (0, 1, 2... across all partitions); a duplicate reports the
    original's offset;
  - message ids are opaque; an id that is not ours ("nope") is reported unknown, an already
    acked one is not detected;
  - a topic spec with "fsync" is refused, topics report "fsync": "never";
  - TTL-expired messages and nacks past max_deliveries go to the dead-letter queue;
  - several aimass processes naming the same NATS url and prefix share topics, subscriptions
    and the work of a subscription; everything lives in JetStream (file storage).

One nats-server serves the whole module; tests that restart NATS start their own. Each aimass
server names a prefix of its own, so servers of different tests never see each other's streams.
"""

from __future__ import annotations

import collections
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (ADMIN_PASSWORD, ServerFactory, assert_error, clean_env, describe, free_port,
                      unique)
from mq_helpers import ack, fetch, make_sub, make_topic, publish

NATS_READY_TIMEOUT_S = 10


# --------------------------------------------------------------------------------------------
# nats-server


class NatsServer:
    """`nats-server -js` on loopback with file storage under `workdir`; restartable on the same
    port and store directory."""

    def __init__(self, workdir: Path):
        self.binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(self.binary).is_file():
            pytest.fail("nats-server not found: scripts/install-deps installs it for the tests",
                        pytrace=False)
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.store = workdir / "store"
        self.log_path = workdir / "nats.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def start(self) -> "NatsServer":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + NATS_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    info = s.recv(4096)
                if info.startswith(b"INFO ") and b'"jetstream":true' in info:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"nats-server did not start with JetStream on port {self.port}\n{self.log()}",
                    pytrace=False)

    def stop(self) -> None:
        """SIGTERM and wait: a clean shutdown, the store kept."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"nats-server still running 15 s after SIGTERM\n{self.log()}", pytrace=False)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def nats(tmp_path_factory):
    srv = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield srv
    srv.stop()


@pytest.fixture
def own_nats(tmp_path):
    """A nats-server of this test alone (for tests that stop and restart it). Name it before
    make_server in a test's arguments, so that the aimass servers stop before it does."""
    srv = NatsServer(tmp_path / "own-nats").start()
    yield srv
    srv.kill()


def js_args(nats_server: NatsServer, prefix: str) -> list[str]:
    return ["--set", "mq.driver=jetstream",
            "--set", f"mq.nats_url={nats_server.url}",
            "--set", f"mq.jetstream_prefix={prefix}"]


def js_prefix() -> str:
    return unique("e2e-js-")


@pytest.fixture(scope="module")
def js(aimass_bin, tmp_path_factory, nats):
    """One aimass server on the module's nats-server, with a prefix of its own. Its tests use
    fresh topic and subscription names, as test_mq.py does on the embedded backend."""
    factory = ServerFactory(aimass_bin, tmp_path_factory, "jetstream")
    srv = factory(*js_args(nats, js_prefix()))
    yield srv
    factory.stop_all()


# --------------------------------------------------------------------------------------------
# API helpers


def nack(client, sub, ids):
    resp = client.post(f"/api/v1/mq/subscriptions/{sub}/nack", json={"ids": ids})
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def drain(client, sub, want, timeout=5.0, do_ack=True, exact=False):
    """Fetches until `want` messages came (or the timeout); acks each batch unless told not to.
    exact: never asks for more than the messages still wanted (the others stay undelivered)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        batch = fetch(client, sub, max=want - len(got) if exact else 100, wait_ms=200)
        if batch and do_ack:
            res = ack(client, sub, [m["id"] for m in batch])
            assert res == {"acked": len(batch), "unknown": []}, res
        got += batch
    return got


def assert_nothing_more(client, sub, wait_ms=300):
    extra = fetch(client, sub, max=100, wait_ms=wait_ms)
    assert extra == [], f"unexpected deliveries on {sub}: {[(m['body'], m['deliveries']) for m in extra]}"


def sub_info(client, sub):
    resp = client.get(f"/api/v1/mq/subscriptions/{sub}")
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def dead_letters(client, sub):
    resp = client.get(f"/api/v1/mq/subscriptions/{sub}/dlq")
    assert resp.status_code == 200, describe(resp)
    return resp.json()["dead_letters"]


def wait_for(fn, timeout=3.0, interval=0.05):
    """Calls fn until it returns something truthy or the timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = fn()
    return value


def at_millis_into_a_second(lo: int, hi: int) -> int:
    """Waits (up to a second) until the wall clock is lo..hi ms past a whole second; returns
    that time in ms."""
    while True:
        now_ms = int(time.time() * 1000)
        if lo <= now_ms % 1000 < hi:
            return now_ms
        time.sleep(max(0.0, ((lo - now_ms % 1000) % 1000) / 1000))


# --------------------------------------------------------------------------------------------
# One server


def test_publish_fetch_ack_with_topic_wide_offsets(js):
    c = js.admin
    topic = make_topic(c, partitions=2)
    sub = make_sub(c, topic)
    results = publish(c, topic, [{"key": "k", "headers": {"h": "v"}, "body": "hello"},
                                 {"key": "other", "body": {"n": 1}},
                                 {"body": "third"}])
    # Topic-wide numbering, whatever the partition.
    assert [r["offset"] for r in results] == [0, 1, 2], results
    assert not any(r["duplicate"] for r in results)
    assert all(0 <= r["partition"] < 2 for r in results), results

    got = drain(c, sub, 3, do_ack=False)
    assert [m["body"] for m in got] == ["hello", '{"n":1}', "third"]
    assert got[0]["headers"] == {"h": "v"} and got[0]["key"] == "k" and got[0]["topic"] == topic
    assert all(m["deliveries"] == 1 for m in got)
    assert [(m["partition"], m["offset"]) for m in got] == [(r["partition"], r["offset"]) for r in results]
    assert len({m["id"] for m in got}) == 3 and all(isinstance(m["id"], str) and m["id"] for m in got)

    assert ack(c, sub, [m["id"] for m in got]) == {"acked": 3, "unknown": []}
    assert_nothing_more(c, sub, wait_ms=500)
    info = wait_for(lambda: (i := sub_info(c, sub))["backlog"] == 0 and i["in_flight"] == 0 and i, timeout=3)
    assert info, f"backlog/in_flight not 0 after every message was acked: {sub_info(c, sub)}"
    assert info["topics"] == [topic] and info["dead_letters"] == 0

    # An id that is not one of ours is reported as unknown.
    assert ack(c, sub, ["nope"]) == {"acked": 0, "unknown": ["nope"]}

    t = c.get(f"/api/v1/mq/topics/{topic}").json()
    assert t["messages"] == 3 and t["partitions"] == 2 and t["fsync"] == "never", t


def test_fan_out_to_every_subscription_and_wildcards(js):
    c = js.admin
    base = unique("fan")
    t1 = f"{base}.a"
    t2 = f"{base}.b.c"
    for t in (t1, t2):
        resp = c.post("/api/v1/mq/topics", json={"name": t})
        assert resp.status_code == 201, describe(resp)
    s_exact = make_sub(c, t1)
    s_exact2 = make_sub(c, t1)
    s_one = make_sub(c, f"{base}.*")
    s_all = make_sub(c, f"{base}.>")
    publish(c, t1, [{"body": "one"}])
    publish(c, t2, [{"body": "two"}])
    # Every subscription gets its own copy.
    assert [m["body"] for m in drain(c, s_exact, 1)] == ["one"]
    assert [m["body"] for m in drain(c, s_exact2, 1)] == ["one"]
    assert [m["body"] for m in drain(c, s_one, 1)] == ["one"]  # `*` is one token: not a.b.c
    got_all = drain(c, s_all, 2)
    assert sorted((m["topic"], m["body"]) for m in got_all) == [(t1, "one"), (t2, "two")]
    for s in (s_exact, s_exact2, s_one, s_all):
        assert_nothing_more(c, s, wait_ms=100)

    # A topic created after the subscriptions is picked up by their patterns.
    t3 = f"{base}.d"
    assert c.post("/api/v1/mq/topics", json={"name": t3}).status_code == 201
    publish(c, t3, [{"body": "three"}])
    got = drain(c, s_all, 1)
    assert [(m["topic"], m["body"]) for m in got] == [(t3, "three")]
    got = drain(c, s_one, 1)
    assert [(m["topic"], m["body"]) for m in got] == [(t3, "three")]
    assert t3 in sub_info(c, s_all)["topics"]
    for s in (s_one, s_all):
        assert_nothing_more(c, s, wait_ms=100)
    assert_nothing_more(c, s_exact, wait_ms=0)


def test_unacked_message_is_redelivered_after_the_ack_timeout(js):
    c = js.admin
    topic = make_topic(c)
    sub = make_sub(c, topic, ack_timeout_ms=300, backoff_ms=100)
    publish(c, topic, [{"body": "work"}])
    first = fetch(c, sub, wait_ms=2000)
    assert [(m["body"], m["deliveries"]) for m in first] == [("work", 1)]
    # The consumer "dies": nothing is acked. Not visible again at once...
    assert fetch(c, sub) == []
    # ...but after the ack timeout, as the second delivery.
    again = fetch(c, sub, wait_ms=3000)
    assert [(m["body"], m["deliveries"]) for m in again] == [("work", 2)]
    assert (again[0]["partition"], again[0]["offset"]) == (first[0]["partition"], first[0]["offset"])
    assert ack(c, sub, [again[0]["id"]]) == {"acked": 1, "unknown": []}
    # Acked: it does not come back after another ack timeout.
    assert_nothing_more(c, sub, wait_ms=900)


def test_max_deliveries_moves_to_dead_letters_with_headers_then_replay_and_purge(js):
    c = js.admin
    topic = make_topic(c)
    sub = make_sub(c, topic, max_deliveries=2, ack_timeout_ms=10000, backoff_ms=0)
    other = make_sub(c, topic)
    results = publish(c, topic, [{"key": "a", "body": "poison"}, {"key": "b", "body": "poison2"}])
    assert [r["offset"] for r in results] == [0, 1]
    assert sorted(m["body"] for m in drain(c, other, 2)) == ["poison", "poison2"]

    for n in (1, 2):
        got = drain(c, sub, 2, timeout=5, do_ack=False)
        assert sorted((m["body"], m["deliveries"]) for m in got) == [("poison", n), ("poison2", n)], got
        assert nack(c, sub, [m["id"] for m in got])["nacked"] == 2
    # The second nack reached max_deliveries: dead at once, not delivered again.
    dlq = wait_for(lambda: len(d := dead_letters(c, sub)) == 2 and d, timeout=2)
    assert dlq, f"dead letters after the last nack: {dead_letters(c, sub)}"
    assert_nothing_more(c, sub, wait_ms=500)
    by_body = {d["body"]: d for d in dlq}
    assert set(by_body) == {"poison", "poison2"}
    for body, key, r in (("poison", "a", results[0]), ("poison2", "b", results[1])):
        d = by_body[body]
        assert d["reason"] == "max_deliveries" and d["key"] == key, d
        h = d["headers"]
        assert h["x-dead-letter-reason"] == "max_deliveries", h
        assert h["x-delivery-count"] == "2", h
        assert h["x-original-topic"] == topic, h
        assert h["x-original-partition"] == str(r["partition"]), h
        assert h["x-original-offset"] == str(r["offset"]), h
    assert sub_info(c, sub)["dead_letters"] == 2

    # Replay one: back to this subscription (only), out of the dead-letter queue.
    resp = c.post(f"/api/v1/mq/subscriptions/{sub}/dlq/replay", json={"ids": [by_body["poison"]["id"]]})
    assert resp.status_code == 200 and resp.json() == {"replayed": 1}, describe(resp)
    assert [d["body"] for d in dead_letters(c, sub)] == ["poison2"]
    back = drain(c, sub, 1, timeout=5)
    assert [(m["body"], m["topic"]) for m in back] == [("poison", topic)]
    assert_nothing_more(c, sub, wait_ms=300)
    assert_nothing_more(c, other, wait_ms=0)

    # Purge (no body: all of them).
    resp = c.post(f"/api/v1/mq/subscriptions/{sub}/dlq/purge")
    assert resp.status_code == 200 and resp.json() == {"purged": 1}, describe(resp)
    assert dead_letters(c, sub) == []
    assert sub_info(c, sub)["dead_letters"] == 0
    assert_nothing_more(c, sub, wait_ms=0)


def test_expired_message_goes_to_dead_letters(js):
    c = js.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    results = publish(c, topic, [{"body": "stale", "ttl_ms": 200}, {"body": "fresh"}])
    time.sleep(0.6)
    got = drain(c, sub, 1, timeout=3)
    assert [m["body"] for m in got] == ["fresh"]
    assert_nothing_more(c, sub, wait_ms=300)
    dlq = wait_for(lambda: dead_letters(c, sub), timeout=2)
    assert [(d["body"], d["reason"]) for d in dlq] == [("stale", "expired")]
    h = dlq[0]["headers"]
    assert h["x-dead-letter-reason"] == "expired", h
    assert h["x-original-topic"] == topic and h["x-original-offset"] == str(results[0]["offset"]), h
    assert h["x-original-partition"] == str(results[0]["partition"]) and "x-delivery-count" in h, h


def test_delayed_message_is_not_delivered_before_its_time(js):
    c = js.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    sent = time.monotonic()
    publish(c, topic, [{"body": "later", "delay_ms": 1500}, {"body": "now"}])
    first = drain(c, sub, 1, timeout=3)
    assert [m["body"] for m in first] == ["now"]
    assert_nothing_more(c, sub, wait_ms=500)
    later = fetch(c, sub, wait_ms=5000)
    arrived = time.monotonic() - sent
    assert [m["body"] for m in later] == ["later"]
    assert arrived >= 1.4, f"the delayed message came after {arrived:.2f} s"
    assert ack(c, sub, [later[0]["id"]])["acked"] == 1


def test_dedup_window_drops_the_duplicate(js):
    c = js.admin
    topic = make_topic(c, dedup_window_ms=60000)
    sub = make_sub(c, topic)
    r1 = publish(c, topic, [{"body": "a", "dedup_id": "order-1"}, {"body": "a again", "dedup_id": "order-1"}])
    assert r1[0] == {**r1[0], "offset": 0, "duplicate": False}
    assert r1[1] == {**r1[0], "duplicate": True}
    r2 = publish(c, topic, [{"body": "a third time", "dedup_id": "order-1"}, {"body": "b", "dedup_id": "order-2"}])
    assert r2[0]["duplicate"] is True and r2[0]["offset"] == 0
    assert r2[1]["duplicate"] is False and r2[1]["offset"] == 1
    assert [m["body"] for m in drain(c, sub, 2, timeout=3)] == ["a", "b"]
    assert_nothing_more(c, sub)
    assert c.get(f"/api/v1/mq/topics/{topic}").json()["messages"] == 2


def test_seek_by_time_and_by_topic_wide_offset(js):
    c = js.admin
    topic = make_topic(c, partitions=2)
    sub = make_sub(c, topic)
    publish(c, topic, [{"key": "x", "body": "old"}])
    time.sleep(0.05)
    # A mark 20-40 ms into a second: times whose fraction has a leading zero digit (.020-.040)
    # are the ones a careless RFC 3339 encoding gets wrong (".2" instead of ".020").
    mark = at_millis_into_a_second(20, 40)
    time.sleep(0.1)
    publish(c, topic, [{"key": "y", "body": "new1"}, {"key": "z", "body": "new2"}])
    assert [m["body"] for m in drain(c, sub, 3)] == ["old", "new1", "new2"]
    assert_nothing_more(c, sub, wait_ms=100)

    def seek(body):
        resp = c.post(f"/api/v1/mq/subscriptions/{sub}/seek", json=body)
        assert resp.status_code == 200, describe(resp)

    seek({"time_ms": mark})
    assert [m["body"] for m in drain(c, sub, 2)] == ["new1", "new2"]
    assert_nothing_more(c, sub, wait_ms=200)
    seek({"topic": topic, "partition": 0, "offset": 0})
    assert [m["body"] for m in drain(c, sub, 3)] == ["old", "new1", "new2"]
    assert_nothing_more(c, sub, wait_ms=200)
    # The offset is topic-wide: it moves every partition of the topic.
    seek({"topic": topic, "partition": 0, "offset": 2})
    assert [m["body"] for m in drain(c, sub, 1)] == ["new2"]
    assert_nothing_more(c, sub, wait_ms=200)
    assert_error(c.post(f"/api/v1/mq/subscriptions/{sub}/seek", json={"offset": 1}), 400, "bad_request")


def test_subscription_from_latest_gets_what_is_published_after_it(js):
    c = js.admin
    base = unique("late")
    t1 = f"{base}.a"
    assert c.post("/api/v1/mq/topics", json={"name": t1}).status_code == 201
    publish(c, t1, [{"body": "before"}])
    time.sleep(0.05)
    # Made 20-40 ms into a second: see at_millis_into_a_second.
    at_millis_into_a_second(20, 40)
    sub = make_sub(c, f"{base}.>", start="latest")
    # A topic made after the subscription: everything in it is new to the subscription.
    t2 = f"{base}.b"
    assert c.post("/api/v1/mq/topics", json={"name": t2}).status_code == 201
    publish(c, t2, [{"body": "new topic"}])
    publish(c, t1, [{"body": "after"}])
    got = drain(c, sub, 2, timeout=3)
    assert sorted((m["topic"], m["body"]) for m in got) == [(t1, "after"), (t2, "new topic")]
    assert_nothing_more(c, sub, wait_ms=200)


def test_fsync_is_refused_and_topics_report_never(js):
    c = js.admin
    for fsync in ("always", "never", "interval"):
        name = unique("t")
        assert_error(c.post("/api/v1/mq/topics", json={"name": name, "fsync": fsync}), 400, "bad_request")
        assert_error(c.get(f"/api/v1/mq/topics/{name}"), 404, "not_found")
    topic = make_topic(c)
    info = c.get(f"/api/v1/mq/topics/{topic}").json()
    assert info["fsync"] == "never" and info["messages"] == 0, info


# --------------------------------------------------------------------------------------------
# Several processes, restarts, no NATS


def test_two_processes_share_topics_subscriptions_and_the_work(make_server, nats):
    prefix = js_prefix()
    a = make_server(*js_args(nats, prefix))
    b = make_server(*js_args(nats, prefix))
    ca, cb = a.admin, b.admin
    topic = make_topic(ca, partitions=3)
    resp = cb.get(f"/api/v1/mq/topics/{topic}")
    assert resp.status_code == 200 and resp.json()["partitions"] == 3, describe(resp)
    sub = make_sub(cb, topic, ack_timeout_ms=15000)
    resp = ca.get(f"/api/v1/mq/subscriptions/{sub}")
    assert resp.status_code == 200 and resp.json()["topic"] == topic, describe(resp)

    total = 200
    offsets = []
    for start in range(0, total, 50):
        client = ca if (start // 50) % 2 == 0 else cb
        offsets += [r["offset"] for r in publish(client, topic, [{"key": f"k{i % 7}", "body": f"m{i}"}
                                                                 for i in range(start, start + 50)])]
    assert sorted(offsets) == list(range(total)), "topic-wide offsets of two publishers"
    for client in (ca, cb):
        assert client.get(f"/api/v1/mq/topics/{topic}").json()["messages"] == total

    acked = {"a": [], "b": []}
    errors = []
    lock = threading.Lock()
    deadline = time.monotonic() + 20

    def consumer(label, srv):
        client = srv.client(srv.admin_token)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if len(acked["a"]) + len(acked["b"]) >= total:
                        return
                batch = fetch(client, sub, max=10, wait_ms=200)
                if not batch:
                    continue
                time.sleep(0.005)  # work, so that the two consumers overlap
                res = ack(client, sub, [m["id"] for m in batch])
                if res != {"acked": len(batch), "unknown": []}:
                    errors.append(f"{label}: ack of {len(batch)} -> {res}")
                with lock:
                    acked[label] += [m["body"] for m in batch]
        except BaseException as exc:  # reported by the main thread
            errors.append(f"{label}: {exc!r}")

    threads = [threading.Thread(target=consumer, args=("a", a)), threading.Thread(target=consumer, args=("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    counts = collections.Counter(acked["a"] + acked["b"])
    dups = sorted(body for body, n in counts.items() if n > 1)
    assert not dups, f"delivered and acked more than once: {dups[:20]}"
    missing = sorted({f"m{i}" for i in range(total)} - set(counts))
    assert not missing, f"never delivered: {missing[:20]}"
    assert len(acked["a"]) > 0 and len(acked["b"]) > 0, {k: len(v) for k, v in acked.items()}

    for client in (ca, cb):
        assert_nothing_more(client, sub, wait_ms=200)
        info = wait_for(lambda: (i := sub_info(client, sub))["backlog"] == 0 and i["in_flight"] == 0 and i)
        assert info, sub_info(client, sub)


def test_messages_survive_restarts_of_aimass_and_nats(own_nats, make_server):
    prefix = js_prefix()
    srv = make_server(*js_args(own_nats, prefix))
    c = srv.admin
    topic = make_topic(c, partitions=2)
    sub = make_sub(c, topic)
    publish(c, topic, [{"key": f"k{i}", "body": str(i)} for i in range(5)])
    got = drain(c, sub, 2, do_ack=False, exact=True)
    assert [m["body"] for m in got] == ["0", "1"]
    assert ack(c, sub, [m["id"] for m in got]) == {"acked": 2, "unknown": []}
    # Nothing else was fetched: the other three are not in flight.
    srv.stop()

    own_nats.stop()  # SIGTERM: nats-server 2.9 shuts down cleanly (and exits 1)
    assert "Server Exiting" in own_nats.log(), own_nats.log()
    own_nats.start()  # same port, same store

    # A new aimass process with an empty data dir: the state is all in JetStream.
    again = make_server(*js_args(own_nats, prefix))
    a = again.admin
    info = a.get(f"/api/v1/mq/topics/{topic}").json()
    assert info["messages"] == 5 and info["partitions"] == 2, info
    assert sub_info(a, sub)["topic"] == topic
    rest = drain(a, sub, 3, timeout=5)
    assert [m["body"] for m in rest] == ["2", "3", "4"]
    assert_nothing_more(a, sub, wait_ms=300)
    assert publish(a, topic, [{"body": "after"}])[0]["offset"] == 5


def test_a_running_server_goes_on_after_nats_restarts(own_nats, make_server):
    srv = make_server(*js_args(own_nats, js_prefix()))
    c = srv.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    publish(c, topic, [{"body": "before"}])
    own_nats.stop()
    own_nats.start()
    # The client reconnects on its own: publishing works again within a few seconds.
    deadline = time.monotonic() + 10
    while True:
        resp = c.post(f"/api/v1/mq/topics/{topic}/messages", json={"messages": [{"body": "after"}]})
        if resp.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert resp.status_code == 200, describe(resp)
    assert resp.json()["results"][0]["offset"] == 1
    assert [m["body"] for m in drain(c, sub, 2)] == ["before", "after"]
    assert_nothing_more(c, sub, wait_ms=200)


def test_server_start_fails_when_nats_is_unreachable(aimass_bin, tmp_path):
    url = f"nats://127.0.0.1:{free_port()}"  # nobody listens there
    data = tmp_path / "data"
    data.mkdir()
    args = [str(aimass_bin), "server",
            "--listen", f"127.0.0.1:{free_port()}", "--grpc-listen", f"127.0.0.1:{free_port()}",
            "--data-dir", str(data),
            "--set", "mq.driver=jetstream", "--set", f"mq.nats_url={url}",
            "--set", f"mq.jetstream_prefix={js_prefix()}"]
    env = clean_env(HOME=str(tmp_path), AIMASS_ADMIN_PASSWORD=ADMIN_PASSWORD)
    try:
        proc = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"aimass server still running 20 s after start with NATS unreachable at {url}\n"
                    f"stdout: {exc.stdout!r}\nstderr: {exc.stderr!r}", pytrace=False)
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    # 1: the server could not start (2 would be a configuration error, see docs/cli.md).
    assert proc.returncode == 1, f"exit code {proc.returncode} with NATS unreachable at {url}\n{out[-3000:]}"
    assert "nats" in out.lower(), f"the error does not name NATS or {url}:\n{out[-3000:]}"
