"""Shared helpers of the message-queue black-box tests (test_mq.py, test_mq_jetstream.py):
the HTTP calls every test makes, each asserting its status."""

from __future__ import annotations

from conftest import describe, unique


def make_topic(client, partitions=1, **extra):
    name = unique("t")
    resp = client.post("/api/v1/mq/topics", json={"name": name, "partitions": partitions, **extra})
    assert resp.status_code == 201, describe(resp)
    return name


def make_sub(client, topic, **extra):
    name = unique("s")
    body = {"name": name, "topic": topic, "start": "earliest", **extra}
    resp = client.post("/api/v1/mq/subscriptions", json=body)
    assert resp.status_code == 201, describe(resp)
    return name


def publish(client, topic, messages):
    resp = client.post(f"/api/v1/mq/topics/{topic}/messages", json={"messages": messages})
    assert resp.status_code == 200, describe(resp)
    results = resp.json()["results"]
    assert len(results) == len(messages), describe(resp)
    return results


def fetch(client, sub, max=10, wait_ms=0):
    resp = client.get(f"/api/v1/mq/subscriptions/{sub}/messages", params={"max": max, "wait_ms": wait_ms})
    assert resp.status_code == 200, describe(resp)
    return resp.json()["messages"]


def ack(client, sub, ids):
    resp = client.post(f"/api/v1/mq/subscriptions/{sub}/ack", json={"ids": ids})
    assert resp.status_code == 200, describe(resp)
    return resp.json()
