"""The audit log records every mutating request, whatever its outcome."""

import time

import pytest

from conftest import assert_error, describe, strong_password, unique

AUDIT = "/api/v1/audit"


def find_audit_entry(server, request_id, params=None, timeout=3.0):
    """The entry with this request id (polling briefly in case the log is written async)."""
    deadline = time.monotonic() + timeout
    while True:
        token = ""
        for _ in range(50):
            query = {"page_size": 1000, **(params or {})}
            if token:
                query["page_token"] = token
            resp = server.admin.get(AUDIT, params=query)
            assert resp.status_code == 200, describe(resp)
            for entry in resp.json()["entries"]:
                if entry["request_id"] == request_id:
                    return entry
            token = resp.json().get("next_page_token") or ""
            if not token:
                break
        if time.monotonic() > deadline:
            pytest.fail(f"no audit entry with request_id {request_id!r}")
        time.sleep(0.1)


def test_user_creation_is_audited_with_actor_and_request_id(server):
    rid = unique("audit-create-")
    resp = server.admin.post("/api/v1/users", headers={"X-Request-Id": rid}, json={
        "username": unique("audited"), "password": strong_password(), "roles": ["viewer"]})
    assert resp.status_code == 201, describe(resp)

    entry = find_audit_entry(server, rid)
    assert entry["actor"] == "admin"
    assert entry["method"] == "POST"
    assert entry["path"] == "/api/v1/users"
    assert entry["route"] == "/api/v1/users"
    assert entry["status"] == 201
    assert entry["time"] and entry["id"]
    assert entry["remote"].startswith("127.0.0.1")


def test_failed_login_is_audited_without_the_password(server):
    rid = unique("audit-login-")
    wrong_password = "Wrong-" + unique("pw")
    resp = server.login_response("admin", wrong_password, headers={"X-Request-Id": rid})
    assert resp.status_code == 401

    entry = find_audit_entry(server, rid)
    assert entry["method"] == "POST"
    assert entry["path"] == "/api/v1/auth/login"
    assert entry["status"] == 401
    audit_text = server.admin.get(AUDIT, params={"page_size": 1000}).text
    assert wrong_password not in audit_text


def test_forbidden_attempts_are_audited(server):
    viewer = server.create_user(["viewer"], prefix="auditee")
    rid = unique("audit-denied-")
    resp = viewer.client.post("/api/v1/users", headers={"X-Request-Id": rid}, json={
        "username": unique("nope"), "password": strong_password(), "roles": ["admin"]})
    assert resp.status_code == 403

    entry = find_audit_entry(server, rid)
    assert entry["actor"] == viewer.username
    assert entry["status"] == 403


def test_entries_are_newest_first(server):
    rids = [unique("audit-order-") for _ in range(2)]
    for rid in rids:
        server.login_response("admin", "wrong", headers={"X-Request-Id": rid})
    find_audit_entry(server, rids[1])
    entries = server.admin.get(AUDIT, params={"page_size": 1000}).json()["entries"]
    positions = [i for i, e in enumerate(entries) if e["request_id"] in rids]
    order = [entries[i]["request_id"] for i in positions]
    assert order == list(reversed(rids))


def test_actor_filter_returns_only_that_actor(server):
    viewer = server.create_user(["viewer"], prefix="filtered")
    viewer.client.post("/api/v1/auth/logout")
    resp = server.admin.get(AUDIT, params={"actor": viewer.username, "page_size": 1000})
    assert resp.status_code == 200
    entries = resp.json()["entries"]
    assert entries, "the viewer's logout should be recorded"
    assert {e["actor"] for e in entries} == {viewer.username}


def test_viewer_cannot_read_the_audit_log(server):
    viewer = server.create_user(["viewer"], prefix="snoop")
    assert_error(viewer.client.get(AUDIT), 403, "forbidden")


def test_audit_log_needs_a_token(server):
    assert_error(server.anonymous.get(AUDIT), 401, "unauthenticated")
