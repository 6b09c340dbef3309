"""Registry events as server-sent events (GET /api/v1/events?topic=…)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

import models
from conftest import assert_error, describe, unique


def read_events(resp, stop_after: str, limit_s: float = 20.0) -> list[tuple[str, dict]]:
    """Parses the SSE stream until an event of topic `stop_after` arrives."""
    events, topic, data = [], None, None
    deadline = time.monotonic() + limit_s
    for line in resp.iter_lines(decode_unicode=True):
        if time.monotonic() > deadline:
            break
        if line.startswith("event: "):
            topic = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and topic:
            events.append((topic, data))
            if topic == stop_after:
                break
            topic, data = None, None
    return events


def test_registry_changes_arrive_in_order_as_sse(server, tmp_path):
    name = unique("evmodel")
    xgb = models.xgboost_model(tmp_path / "m.json").read_bytes()
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    with requests.get(f"{server.url}/api/v1/events", params={"topic": "registry.>"},
                      headers=headers, stream=True, timeout=30) as resp:
        assert resp.status_code == 200, describe(resp)
        assert resp.headers["Content-Type"] == "text/event-stream"

        def act():
            time.sleep(0.3)
            server.admin.post("/api/v1/models", json={"name": name})
            server.admin.post(f"/api/v1/models/{name}/versions?framework=xgboost", data=xgb,
                              headers={"Content-Type": "application/octet-stream"})
            server.admin.put(f"/api/v1/models/{name}/aliases/staging", json={"version": 1})

        t = threading.Thread(target=act)
        t.start()
        events = [(tp, d) for tp, d in read_events(resp, "registry.alias.moved") if d.get("model") == name]
        t.join()
    assert [tp for tp, _ in events] == ["registry.model.created", "registry.version.created",
                                        "registry.version.ready", "registry.alias.moved"]
    moved = events[-1][1]
    assert moved["alias"] == "staging" and moved["to_version"] == 1 and moved["from_version"] is None


def test_failed_validation_is_an_event_too(server):
    name = unique("evfail")
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    with requests.get(f"{server.url}/api/v1/events", params={"topic": "registry.version.*"},
                      headers=headers, stream=True, timeout=30) as resp:
        def act():
            time.sleep(0.3)
            server.admin.post("/api/v1/models", json={"name": name})
            server.admin.post(f"/api/v1/models/{name}/versions?framework=onnx", data=b"junk" * 10,
                              headers={"Content-Type": "application/octet-stream"})

        t = threading.Thread(target=act)
        t.start()
        events = [(tp, d) for tp, d in read_events(resp, "registry.version.failed") if d.get("model") == name]
        t.join()
    assert [tp for tp, _ in events] == ["registry.version.created", "registry.version.failed"]
    assert events[-1][1]["reason"].startswith("not a loadable ONNX file")


def test_events_need_a_token_a_valid_topic_and_read_access(server):
    assert_error(server.anonymous.get("/api/v1/events?topic=registry.*"), 401, "unauthenticated")
    assert_error(server.admin.get("/api/v1/events?topic=a..b"), 400, "bad_request")
    assert_error(server.admin.get("/api/v1/events"), 400, "bad_request")
    custom = server.create_role(["apikeys:read"], prefix="noevents")
    user = server.create_user([custom], prefix="evuser")
    assert_error(user.client.get("/api/v1/events?topic=registry.*"), 403, "forbidden")
    assert_error(user.client.get("/api/v1/events?topic=>"), 403, "forbidden")


def test_shutdown_ends_open_event_streams(make_server):
    srv = make_server()
    headers = {"Authorization": f"Bearer {srv.admin_token}"}
    resp = requests.get(f"{srv.url}/api/v1/events", params={"topic": "registry.>"},
                        headers=headers, stream=True, timeout=30)
    assert resp.status_code == 200
    start = time.monotonic()
    assert srv.stop() == 0
    assert time.monotonic() - start < 10, "an open SSE stream must not hold up the shutdown"
    resp.close()
