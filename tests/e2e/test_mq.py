"""Message queue, black-box: topics, publish, subscriptions, ordering, redelivery, dead
letters, TTL, delays, dedup, replay, crash safety and permissions, over the HTTP API."""

from __future__ import annotations

import collections
import json
import signal
import struct
import threading
import time

import pytest

from conftest import assert_error, describe, metric_value, unique
from mq_helpers import ack, fetch, make_sub, make_topic, publish


def drain(client, sub, want, timeout=15.0, do_ack=True):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        batch = fetch(client, sub, max=100, wait_ms=200)
        if batch and do_ack:
            ack(client, sub, [m["id"] for m in batch])
        got += batch
    return got


def test_publish_then_consume_with_ack(server):
    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    results = publish(c, topic, [{"key": "k", "headers": {"h": "v"}, "body": "hello"}, {"body": {"n": 1}}])
    assert [r["offset"] for r in results] == [0, 1] and not any(r["duplicate"] for r in results)
    got = fetch(c, sub)
    assert [m["body"] for m in got] == ["hello", '{"n":1}']
    assert got[0]["headers"] == {"h": "v"} and got[0]["key"] == "k" and got[0]["topic"] == topic
    assert got[0]["deliveries"] == 1
    assert ack(c, sub, [m["id"] for m in got]) == {"acked": 2, "unknown": []}
    assert fetch(c, sub) == []
    info = c.get(f"/api/v1/mq/subscriptions/{sub}").json()
    assert info["backlog"] == 0 and info["in_flight"] == 0 and info["topics"] == [topic]
    # An acked id is unknown the second time.
    assert ack(c, sub, [got[0]["id"]])["unknown"] == [got[0]["id"]]


def test_fan_out_to_every_subscription_and_wildcards(server):
    c = server.admin
    base = unique("fan")
    t1 = f"{base}.a"
    t2 = f"{base}.b.c"
    for t in (t1, t2):
        assert c.post("/api/v1/mq/topics", json={"name": t}).status_code == 201
    s_exact = make_sub(c, t1)
    s_one = make_sub(c, f"{base}.*")
    s_all = make_sub(c, f"{base}.>")
    publish(c, t1, [{"body": "one"}])
    publish(c, t2, [{"body": "two"}])
    assert [m["body"] for m in drain(c, s_exact, 1)] == ["one"]
    assert [m["body"] for m in drain(c, s_one, 1)] == ["one"]
    assert sorted(m["body"] for m in drain(c, s_all, 2)) == ["one", "two"]
    # A topic created after the subscription is picked up by its pattern.
    t3 = f"{base}.d"
    assert c.post("/api/v1/mq/topics", json={"name": t3}).status_code == 201
    publish(c, t3, [{"body": "three"}])
    assert [m["body"] for m in drain(c, s_all, 1)] == ["three"]


def test_order_per_key_with_four_concurrent_consumers(server):
    c = server.admin
    topic = make_topic(c, partitions=3)
    sub = make_sub(c, topic)
    keys = [f"k{i}" for i in range(8)]
    per_key = 40
    msgs = [{"key": k, "body": f"{k}:{i}"} for i in range(per_key) for k in keys]
    for start in range(0, len(msgs), 64):
        publish(c, topic, msgs[start:start + 64])
    seen = collections.defaultdict(list)
    lock = threading.Lock()
    stop = time.monotonic() + 30

    def consumer():
        client = server.client(server.admin_token)
        while time.monotonic() < stop:
            with lock:
                if sum(len(v) for v in seen.values()) >= len(msgs):
                    return
            batch = fetch(client, sub, max=5, wait_ms=100)
            for m in batch:
                k, i = m["body"].split(":")
                with lock:
                    seen[k].append(int(i))
                time.sleep(0.001)  # work, so that consumers overlap
            if batch:
                ack(client, sub, [m["id"] for m in batch])

    threads = [threading.Thread(target=consumer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(seen) == set(keys)
    for k in keys:
        assert seen[k] == list(range(per_key)), f"key {k} out of order: {seen[k]}"


def test_unacked_message_is_redelivered_after_the_ack_timeout(server):
    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic, ack_timeout_ms=300, backoff_ms=100)
    publish(c, topic, [{"body": "work"}])
    first = fetch(c, sub)
    assert len(first) == 1 and first[0]["deliveries"] == 1
    # The consumer "dies": nothing is acked. Not visible before the timeout...
    assert fetch(c, sub) == []
    # ...and back after it (and the backoff), as the second delivery.
    again = fetch(c, sub, wait_ms=3000)
    assert len(again) == 1 and again[0]["id"] == first[0]["id"] and again[0]["deliveries"] == 2
    assert ack(c, sub, [again[0]["id"]])["acked"] == 1


def test_max_deliveries_moves_to_dead_letters_with_headers_then_replay_and_purge(server):
    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic, max_deliveries=2)
    publish(c, topic, [{"key": "a", "body": "poison"}])
    for n in (1, 2):
        got = fetch(c, sub, wait_ms=2000)
        assert len(got) == 1 and got[0]["deliveries"] == n
        resp = c.post(f"/api/v1/mq/subscriptions/{sub}/nack", json={"ids": [got[0]["id"]]})
        assert resp.json()["nacked"] == 1, describe(resp)
    assert fetch(c, sub, wait_ms=300) == []
    dlq = c.get(f"/api/v1/mq/subscriptions/{sub}/dlq").json()["dead_letters"]
    assert len(dlq) == 1
    d = dlq[0]
    assert d["reason"] == "max_deliveries" and d["body"] == "poison" and d["key"] == "a"
    assert d["headers"]["x-dead-letter-reason"] == "max_deliveries"
    assert d["headers"]["x-delivery-count"] == "2"
    assert d["headers"]["x-original-topic"] == topic and d["headers"]["x-original-offset"] == "0"
    assert c.get(f"/api/v1/mq/subscriptions/{sub}").json()["dead_letters"] == 1

    # Replay: back to this subscription (only), out of the dead-letter queue.
    resp = c.post(f"/api/v1/mq/subscriptions/{sub}/dlq/replay", json={"ids": [d["id"]]})
    assert resp.json() == {"replayed": 1}, describe(resp)
    assert c.get(f"/api/v1/mq/subscriptions/{sub}/dlq").json()["dead_letters"] == []
    back = fetch(c, sub, wait_ms=2000)
    assert [m["body"] for m in back] == ["poison"] and back[0]["topic"] == topic
    # It fails again: dead again, then purged.
    for _ in range(2):
        c.post(f"/api/v1/mq/subscriptions/{sub}/nack", json={"ids": [back[0]["id"]]})
        back = fetch(c, sub, wait_ms=1000) or back
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not c.get(f"/api/v1/mq/subscriptions/{sub}/dlq").json()["dead_letters"]:
        time.sleep(0.05)
    assert len(c.get(f"/api/v1/mq/subscriptions/{sub}/dlq").json()["dead_letters"]) == 1
    assert c.post(f"/api/v1/mq/subscriptions/{sub}/dlq/purge").json() == {"purged": 1}
    assert c.get(f"/api/v1/mq/subscriptions/{sub}/dlq").json()["dead_letters"] == []


def test_expired_message_goes_to_dead_letters(server):
    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    publish(c, topic, [{"body": "stale", "ttl_ms": 200}, {"body": "fresh"}])
    time.sleep(0.6)
    got = drain(c, sub, 1, timeout=2)
    assert [m["body"] for m in got] == ["fresh"]
    dlq = c.get(f"/api/v1/mq/subscriptions/{sub}/dlq").json()["dead_letters"]
    assert [(d["body"], d["reason"]) for d in dlq] == [("stale", "expired")]
    assert dlq[0]["headers"]["x-delivery-count"] == "0"


def test_delayed_message_is_not_visible_before_its_time(server):
    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    sent = time.monotonic()
    publish(c, topic, [{"body": "later", "delay_ms": 1500}, {"body": "now"}])
    first = fetch(c, sub, max=10)
    assert [m["body"] for m in first] == ["now"]
    ack(c, sub, [first[0]["id"]])
    assert fetch(c, sub, wait_ms=500) == []
    later = fetch(c, sub, wait_ms=5000)
    assert [m["body"] for m in later] == ["later"]
    assert time.monotonic() - sent >= 1.4


def test_dedup_window_drops_the_duplicate(server):
    c = server.admin
    topic = make_topic(c, dedup_window_ms=60000)
    sub = make_sub(c, topic)
    r1 = publish(c, topic, [{"body": "a", "dedup_id": "order-1"}, {"body": "a again", "dedup_id": "order-1"}])
    assert r1[0]["duplicate"] is False and r1[1] == {**r1[0], "duplicate": True}
    r2 = publish(c, topic, [{"body": "a third time", "dedup_id": "order-1"}, {"body": "b", "dedup_id": "order-2"}])
    assert r2[0]["duplicate"] is True and r2[0]["offset"] == r1[0]["offset"] and r2[1]["duplicate"] is False
    assert sorted(m["body"] for m in drain(c, sub, 2, timeout=3)) == ["a", "b"]
    assert c.get(f"/api/v1/mq/topics/{topic}").json()["messages"] == 2


def test_replay_from_a_time_and_an_offset(server):
    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    publish(c, topic, [{"body": "old"}])
    time.sleep(0.05)
    mark = int(time.time() * 1000)
    time.sleep(0.05)
    publish(c, topic, [{"body": "new1"}, {"body": "new2"}])
    assert [m["body"] for m in drain(c, sub, 3)] == ["old", "new1", "new2"]
    resp = c.post(f"/api/v1/mq/subscriptions/{sub}/seek", json={"time_ms": mark})
    assert resp.status_code == 200, describe(resp)
    assert [m["body"] for m in drain(c, sub, 2)] == ["new1", "new2"]
    resp = c.post(f"/api/v1/mq/subscriptions/{sub}/seek", json={"topic": topic, "partition": 0, "offset": 0})
    assert resp.status_code == 200, describe(resp)
    assert [m["body"] for m in drain(c, sub, 3)] == ["old", "new1", "new2"]
    assert_error(c.post(f"/api/v1/mq/subscriptions/{sub}/seek", json={"offset": 1}), 400, "bad_request")


def test_bad_input_is_refused_and_changes_nothing(server):
    c = server.admin
    topic = make_topic(c)
    assert_error(c.post("/api/v1/mq/topics", json={"name": "../x"}), 400, "bad_request")
    assert_error(c.post("/api/v1/mq/topics", json={"name": topic}), 409, "conflict")
    assert_error(c.post("/api/v1/mq/topics", json={"name": unique("t"), "partitions": 0}), 400, "bad_request")
    assert_error(c.post("/api/v1/mq/topics", json={"name": unique("t"), "fsync": "sometimes"}), 400, "bad_request")
    assert_error(c.post("/api/v1/mq/topics", data=b"{nope", headers={"Content-Type": "application/json"}),
                 400, "invalid_json")
    assert_error(c.post(f"/api/v1/mq/topics/{topic}/messages", json={"messages": []}), 400, "bad_request")
    assert_error(c.post(f"/api/v1/mq/topics/{topic}/messages", json={"messages": [{"body": "x", "ttl_ms": -1}]}),
                 400, "bad_request")
    assert_error(c.post(f"/api/v1/mq/topics/{topic}/messages", json={"messages": [{"headers": {"a": 1}}]}),
                 400, "bad_request")
    assert_error(c.post(f"/api/v1/mq/topics/{unique('none')}/messages", json={"messages": [{"body": "x"}]}),
                 404, "not_found")
    assert_error(c.post("/api/v1/mq/subscriptions", json={"name": unique("s"), "topic": "a.>.b"}), 400, "bad_request")
    sub = make_sub(c, topic)
    assert_error(c.get(f"/api/v1/mq/subscriptions/{sub}/messages", params={"max": 0}), 400, "bad_request")
    assert_error(c.post(f"/api/v1/mq/subscriptions/{sub}/ack", json={"ids": "x"}), 400, "bad_request")
    assert c.get(f"/api/v1/mq/topics/{topic}").json()["messages"] == 0


def test_binary_bodies_travel_as_base64_over_http(server):
    import base64

    import grpc

    from mq_grpc import MESSAGES, publish_stream

    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    raw = bytes(range(256))
    publish(c, topic, [{"body": base64.b64encode(raw).decode(), "body_encoding": "base64"},
                       {"body": "plain text é"}])
    # Bytes that are not UTF-8, published over gRPC, come back intact too.
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    M = MESSAGES
    req = M["PublishRequest"](seq=1, topic=topic, messages=[M["OutgoingMessage"](body=b"\xff\x00\xfe")])
    assert not list(publish_stream(channel, iter([req]), server.admin_token))[0].error_code
    got = fetch(c, sub, max=10, wait_ms=2000)
    assert len(got) == 3
    assert got[0]["body_encoding"] == "base64" and base64.b64decode(got[0]["body"]) == raw
    assert got[1]["body"] == "plain text é" and "body_encoding" not in got[1]
    assert got[2]["body_encoding"] == "base64" and base64.b64decode(got[2]["body"]) == b"\xff\x00\xfe"
    # Not base64, or an unknown encoding: refused, nothing published.
    for bad in ({"body": "not base64!", "body_encoding": "base64"}, {"body": "QUJD", "body_encoding": "hex"},
                {"body": "QU=JD", "body_encoding": "base64"}):
        assert_error(c.post(f"/api/v1/mq/topics/{topic}/messages", json={"messages": [bad]}), 400, "bad_request")
    assert c.get(f"/api/v1/mq/topics/{topic}").json()["messages"] == 3


def test_permissions_per_topic(server):
    c = server.admin
    topic = make_topic(c)
    other = make_topic(c)
    sub = make_sub(c, topic)
    viewer = server.create_user(["viewer"]).client
    assert_error(viewer.post(f"/api/v1/mq/topics/{topic}/messages", json={"messages": [{"body": "x"}]}),
                 403, "forbidden")
    assert_error(viewer.get(f"/api/v1/mq/subscriptions/{sub}/messages"), 403, "forbidden")
    assert viewer.get("/api/v1/mq/topics").status_code == 200
    role = server.create_role([f"mq.{topic}:publish", f"mq.{topic}:consume"])
    scoped = server.create_user([role]).client
    assert scoped.post(f"/api/v1/mq/topics/{topic}/messages", json={"messages": [{"body": "x"}]}).status_code == 200
    assert_error(scoped.post(f"/api/v1/mq/topics/{other}/messages", json={"messages": [{"body": "x"}]}),
                 403, "forbidden")
    assert [m["body"] for m in drain(scoped, sub, 1)] == ["x"]
    assert_error(server.anonymous.get("/api/v1/mq/topics"), 401)


def test_state_survives_a_restart(make_server):
    srv = make_server()
    c = srv.admin
    topic = make_topic(c, partitions=2)
    sub = make_sub(c, topic)
    publish(c, topic, [{"key": f"k{i}", "body": str(i)} for i in range(6)])
    got = fetch(c, sub, max=3)
    ack(c, sub, [m["id"] for m in got])
    time.sleep(0.3)  # the state is written every 100 ms
    data_dir = srv.data_dir
    srv.stop()
    again = make_server(data_dir=data_dir)
    rest = drain(again.admin, sub, 3, timeout=5)
    assert sorted(m["body"] for m in got + rest) == [str(i) for i in range(6)]
    assert again.admin.get(f"/api/v1/mq/topics/{topic}").json()["messages"] == 6


def test_kill_9_loses_no_acknowledged_message_and_cuts_a_torn_tail(make_server):
    srv = make_server("--set", "mq.fsync=always")
    c = srv.admin
    topic = make_topic(c, partitions=2)
    sub = make_sub(c, topic)
    acked = collections.defaultdict(set)  # partition -> offsets
    bodies = {}
    lock = threading.Lock()
    stop = threading.Event()

    def producer(n):
        client = srv.client(srv.admin_token)
        i = 0
        while not stop.is_set():
            body = f"p{n}-{i}"
            try:
                resp = client.post(f"/api/v1/mq/topics/{topic}/messages",
                                   json={"messages": [{"key": body, "body": body}]}, timeout=5)
            except Exception:
                return
            if resp.status_code == 200:
                r = resp.json()["results"][0]
                with lock:
                    acked[r["partition"]].add(r["offset"])
                    bodies[(r["partition"], r["offset"])] = body
            i += 1

    # A consumer acknowledges some before the crash.
    publish(c, topic, [{"key": "first", "body": "first"}])
    early = drain(c, sub, 1)
    assert [m["body"] for m in early] == ["first"]
    time.sleep(0.3)
    threads = [threading.Thread(target=producer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.returncode = srv.proc.returncode
    stop.set()
    for t in threads:
        t.join()
    total = sum(len(v) for v in acked.values())
    assert total > 20, "the producers should have been acknowledged before the crash"

    # A torn record at the end of partition 0's log, as a crash mid-write leaves.
    seg = sorted((srv.data_dir / "mq" / "topics" / topic / "0").glob("*.log"))[-1]
    with open(seg, "ab") as f:
        f.write(struct.pack("<II", 500, 12345) + b"half a record")

    again = make_server(data_dir=srv.data_dir)
    a = again.admin
    info = a.get(f"/api/v1/mq/topics/{topic}").json()
    # Every acknowledged message is in the log, once: read the whole log from the start.
    seek = a.post(f"/api/v1/mq/subscriptions/{sub}/seek", json={"position": "earliest"})
    assert seek.status_code == 200, describe(seek)
    all_msgs = drain(a, sub, info["messages"], timeout=30)
    seen = collections.Counter((m["partition"], m["offset"]) for m in all_msgs)
    assert all(n == 1 for n in seen.values())
    by_pos = {(m["partition"], m["offset"]): m["body"] for m in all_msgs}
    for pos, body in bodies.items():
        assert by_pos.get(pos) == body, f"acknowledged message {pos} lost or changed"
    assert len(all_msgs) == info["messages"]
    # The log goes on after the cut tail.
    r = publish(a, topic, [{"key": "after", "body": "after"}])
    assert r[0]["offset"] == info["next_offsets"][r[0]["partition"]]
    assert "torn or corrupt tail" in again.stdout_text() + again.stderr_text()


def test_consumer_resumes_from_committed_offsets_after_kill_9(make_server):
    srv = make_server()
    c = srv.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    publish(c, topic, [{"body": str(i)} for i in range(10)])
    got = fetch(c, sub, max=4)
    ack(c, sub, [m["id"] for m in got])
    time.sleep(0.4)  # past the state interval
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.returncode = srv.proc.returncode
    again = make_server(data_dir=srv.data_dir)
    rest = drain(again.admin, sub, 6, timeout=5)
    assert [m["body"] for m in rest] == [str(i) for i in range(4, 10)]


def test_grpc_streams_publish_consume_and_ack(server):
    import queue

    import grpc

    from mq_grpc import MESSAGES, consume_stream, publish_stream

    c = server.admin
    topic = make_topic(c, partitions=2)
    sub = make_sub(c, topic)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    M = MESSAGES
    batches = [M["PublishRequest"](seq=s, topic=topic, messages=[
        M["OutgoingMessage"](key=f"k{i % 3}", body=f"{s}-{i}".encode(),
                             headers=[M["Header"](name="n", value=str(i))]) for i in range(10)])
        for s in (1, 2, 3)]
    replies = list(publish_stream(channel, iter(batches), server.admin_token))
    assert [r.seq for r in replies] == [1, 2, 3]
    assert all(not r.error_code and len(r.results) == 10 for r in replies)
    # A batch to a topic that does not exist fails alone; the stream goes on.
    bad = [M["PublishRequest"](seq=9, topic=unique("none"), messages=[M["OutgoingMessage"](body=b"x")]),
           M["PublishRequest"](seq=10, topic=topic, messages=[M["OutgoingMessage"](body=b"last")])]
    replies = list(publish_stream(channel, iter(bad), server.admin_token))
    assert replies[0].error_code == "not_found" and not replies[1].error_code

    requests: queue.Queue = queue.Queue()
    requests.put(M["ConsumeRequest"](subscription=sub, credits=8))

    def feed():
        while (r := requests.get()) is not None:
            yield r

    got = []
    stream = consume_stream(channel, feed(), server.admin_token)
    for reply in stream:
        assert len(reply.messages) <= 8
        got += reply.messages
        requests.put(M["ConsumeRequest"](ack_ids=[m.id for m in reply.messages], credits=len(reply.messages)))
        if len(got) >= 31:
            break
    requests.put(None)  # closes our side after the last ack: the server ends the stream
    assert all(len(r.messages) == 0 for r in stream)
    assert sorted(m.body.decode() for m in got) == sorted([f"{s}-{i}" for s in (1, 2, 3) for i in range(10)] + ["last"])
    assert all(m.topic == topic and m.deliveries == 1 for m in got)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and c.get(f"/api/v1/mq/subscriptions/{sub}").json()["backlog"]:
        time.sleep(0.05)
    assert c.get(f"/api/v1/mq/subscriptions/{sub}").json()["backlog"] == 0

    # Without consume permission the stream is refused.
    viewer = server.create_user(["viewer"])
    denied = consume_stream(channel, iter([M["ConsumeRequest"](subscription=sub, credits=1)]), viewer.token)
    with pytest.raises(grpc.RpcError) as err:
        next(iter(denied))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    channel.close()


def test_platform_events_arrive_on_topics_of_their_name(server):
    c = server.admin
    sub = unique("s")
    resp = c.post("/api/v1/mq/subscriptions", json={"name": sub, "topic": "registry.>"})
    assert resp.status_code == 201, describe(resp)
    model = unique("m")
    assert c.post("/api/v1/models", json={"name": model}).status_code == 201
    got = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(m["topic"] == "registry.model.created" for m in got):
        got += fetch(c, sub, max=50, wait_ms=500)
    created = [m for m in got if m["topic"] == "registry.model.created"]
    assert created, got
    assert json.loads(created[0]["body"])["model"] == model
    assert int(created[0]["headers"]["x-event-id"]) > 0
    topic = c.get("/api/v1/mq/topics/registry.model.created").json()
    assert topic["messages"] >= 1 and topic["retention"]["max_age_ms"] == 7 * 24 * 3600 * 1000


def test_metrics_count_publishes_deliveries_acks_and_show_backlog(server):
    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    publish(c, topic, [{"body": "a", "dedup_id": "one"}, {"body": "b"}, {"body": "a again", "dedup_id": "one"}])
    got = fetch(c, sub, max=1)
    ack(c, sub, [got[0]["id"]])
    m = server.metrics()
    assert metric_value(m, "aimass_mq_published_messages_total", topic=topic) == 2
    assert metric_value(m, "aimass_mq_duplicate_messages_total", topic=topic) == 1
    assert metric_value(m, "aimass_mq_publish_duration_seconds_count", topic=topic) == 1
    assert metric_value(m, "aimass_mq_delivered_messages_total", subscription=sub) == 1
    assert metric_value(m, "aimass_mq_acked_messages_total", subscription=sub) == 1
    assert metric_value(m, "aimass_mq_subscription_backlog", subscription=sub) == 1
    assert metric_value(m, "aimass_mq_topic_messages", topic=topic) == 2
    assert c.delete(f"/api/v1/mq/subscriptions/{sub}").status_code == 204
    assert not [k for k in server.metrics() if dict(k[1]).get("subscription") == sub]


def test_long_polls_hold_no_worker_thread(make_server):
    """With 8 worker threads, 24 consumers long-polling an empty subscription leave the API
    answering, and a message published meanwhile reaches one of them before its wait ends."""
    srv = make_server("--set", "http.worker_threads=8")
    c = srv.admin
    topic = make_topic(c)
    sub = make_sub(c, topic)
    results = []

    def poll():
        start = time.monotonic()
        resp = c.get(f"/api/v1/mq/subscriptions/{sub}/messages", params={"max": 1, "wait_ms": 6000}, timeout=30)
        results.append((resp.status_code, resp.json()["messages"], time.monotonic() - start))

    threads = [threading.Thread(target=poll) for _ in range(24)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # every poll is waiting now
    started = time.monotonic()
    listed = c.get("/api/v1/mq/topics", timeout=5)
    assert listed.status_code == 200
    assert time.monotonic() - started < 5
    assert results == [], "a poll ended before its wait with nothing published"
    publish(c, topic, [{"body": "wake"}])
    for t in threads:
        t.join()
    assert all(status == 200 for status, _, _ in results)
    got = [(msgs, took) for _, msgs, took in results if msgs]
    assert len(got) == 1 and got[0][0][0]["body"] == "wake"
    assert got[0][1] < 5.5  # answered when the message came, not at the end of its wait
    assert sum(1 for _, msgs, took in results if not msgs and took >= 5.9) == 23


def test_dead_letter_replay_with_an_empty_id_list_is_refused(server):
    c = server.admin
    topic = make_topic(c)
    sub = make_sub(c, topic, max_deliveries=1)
    for path in ("dlq/replay", "dlq/purge"):
        assert_error(c.post(f"/api/v1/mq/subscriptions/{sub}/{path}", json={"ids": []}), 400, "bad_request")
