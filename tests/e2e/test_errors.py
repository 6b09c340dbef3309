"""Malformed input, size limits and path tricks."""

import http.client
import json
import socket
import time

import pytest

from conftest import (ADMIN_PASSWORD, ServerFactory, assert_error, describe, read_raw_response,
                      unique)

USERS = "/api/v1/users"
LOGIN = "/api/v1/auth/login"
JSON = {"Content-Type": "application/json"}


def usernames(server):
    resp = server.admin.get(USERS, params={"page_size": 1000})
    assert resp.status_code == 200, describe(resp)
    return {u["username"] for u in resp.json()["users"]}


@pytest.mark.parametrize("body", [
    b'{"username": "admin", "password": ',
    b"{'username': 'admin'}",
    b"not json at all",
    b'{"username": "admin", "password": "x"} trailing',
    b"\xff\xfe\x00garbage",
])
def test_malformed_json_on_login_is_400_invalid_json(server, body):
    resp = server.anonymous.post(LOGIN, data=body, headers=JSON)
    assert_error(resp, 400, "invalid_json")


def test_malformed_json_on_user_creation_is_400_and_creates_nothing(server):
    name = unique("broken")
    before = usernames(server)
    body = ('{"username": "%s", "password": "Secret-123456!", "roles": ["viewer"]' % name).encode()
    resp = server.admin.post(USERS, data=body, headers=JSON)
    assert_error(resp, 400, "invalid_json")
    assert usernames(server) == before


@pytest.mark.parametrize("body", [
    {"password": "Secret-123456!", "roles": ["viewer"]},              # no username
    {"username": 42, "password": "Secret-123456!", "roles": ["viewer"]},
    {"username": "x", "password": "Secret-123456!", "roles": "viewer"},
])
def test_wrongly_typed_user_creation_is_rejected(server, body):
    before = usernames(server)
    resp = server.admin.post(USERS, json=body)
    assert_error(resp, (400, 422))
    assert usernames(server) == before


def test_json_array_instead_of_object_is_rejected(server):
    resp = server.anonymous.post(LOGIN, json=["admin", ADMIN_PASSWORD])
    assert_error(resp, (400, 422))


@pytest.fixture(scope="module")
def small_body_server(aimass_bin, tmp_path_factory):
    factory = ServerFactory(aimass_bin, tmp_path_factory, "small-body")
    yield factory("--set", "http.max_body_bytes=1024")
    factory.stop_all()


def test_body_over_max_body_bytes_is_413(small_body_server):
    srv = small_body_server
    body = b'{"username":"admin","password":"' + b"x" * 2048 + b'"}'
    assert_error(srv.anonymous.post(LOGIN, data=body, headers=JSON), 413, "payload_too_large")
    assert srv.anonymous.get("/healthz").status_code == 200


def test_body_under_max_body_bytes_is_processed(small_body_server):
    srv = small_body_server
    body = b'{"username":"admin","password":"' + b"x" * 900 + b'"}'
    assert len(body) < 1024
    assert_error(srv.anonymous.post(LOGIN, data=body, headers=JSON), 401, "unauthenticated")


def test_chunked_body_over_max_body_bytes_is_413(small_body_server):
    """The limit also holds when the client announces no Content-Length."""
    srv = small_body_server

    def chunks():
        yield b'{"username":"admin","password":"'
        for _ in range(8):
            yield b"x" * 512
        yield b'"}'

    resp = srv.anonymous.post(LOGIN, data=chunks(), headers=JSON)
    assert_error(resp, 413, "payload_too_large")
    assert srv.anonymous.get("/healthz").status_code == 200


def test_huge_header_is_refused_and_server_keeps_serving(server):
    request = (
        "GET /healthz HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Cookie: session={'a' * 64 * 1024}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        try:
            sock.sendall(request)
            response = read_raw_response(sock)
        except (ConnectionResetError, BrokenPipeError):
            response = None  # closing the connection on the client is acceptable
    if response is not None:
        assert response.status in (400, 431), response
        if response.status == 431:
            assert response.json()["error"]["code"] == "headers_too_large"
    resp = server.anonymous.get("/healthz")
    assert resp.status_code == 200


@pytest.mark.parametrize("path", [
    "/api/v1/blobs/..%2f..%2fetc%2fpasswd",
    "/api/v1/blobs/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/v1/blobs/sha256:..%2f..%2fetc%2fpasswd",
    "/api/v1/blobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/v1/blobs/../../etc/passwd",
    "/api/v1/blobs/sha256%3a..%2f..%2f..%2fetc%2fpasswd",
])
def test_path_traversal_never_succeeds(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {server.admin_token}"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status in (400, 404), (path, resp.status, body[:300])
    assert b"root:" not in body


@pytest.mark.parametrize("te", ["chunked, identity", "gzip", "identity"])
def test_ambiguous_transfer_encoding_is_400_and_closes(server, te):
    """Framing a proxy could read differently from us (request smuggling) is refused."""
    import socket
    from urllib.parse import urlparse

    from conftest import read_raw_response

    u = urlparse(server.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall((f"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n"
                      "5\r\nhello\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").encode())
        resp = read_raw_response(sock)
        assert resp is not None and resp.status == 400
        assert resp.headers["Connection"] == "close"
        assert read_raw_response(sock) is None  # the smuggled GET was not served


def test_transfer_encoding_with_content_length_is_400(server):
    import socket
    from urllib.parse import urlparse

    from conftest import read_raw_response

    u = urlparse(server.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        resp = read_raw_response(sock)
        assert resp is not None and resp.status == 400



# Malformed chunked bodies: answered at once (not after the 30 s read timeout), logged, audited.

def _post_chunked(server, path: str, body: bytes, rid: str, content_type: str = "application/json"):
    """POSTs `body` as it is after a `Transfer-Encoding: chunked` head, as admin, over a raw
    socket; returns (response, seconds to the answer, whether the server closed after it)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {server.admin_token}\r\nContent-Type: {content_type}\r\n"
            f"X-Request-Id: {rid}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        start = time.monotonic()
        sock.sendall(head + body)
        try:
            resp = read_raw_response(sock)
        except socket.timeout:
            resp = None
        elapsed = time.monotonic() - start
        closed = False
        if resp is not None:
            try:
                closed = read_raw_response(sock) is None
            except socket.timeout:
                closed = False
    return resp, elapsed, closed


def _assert_raw_error(resp, status: int, code: str, rid: str):
    assert resp is not None, "no answer before the connection closed (or within 5 s)"
    assert resp.status == status, (resp.status, resp.body[:300])
    assert "application/json" in resp.headers.get("Content-Type", ""), resp.headers
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["code"] == code and err["message"], body
    assert resp.headers.get("X-Request-Id") == rid and err["request_id"] == rid, (resp.headers, body)
    return err


def _wait_for_access_line(server, rid: str, status: int, timeout: float = 3.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        for line in (server.stderr_text() + server.stdout_text()).splitlines():
            if rid in line and "access" in line and f"status={status}" in line:
                return line
        if time.monotonic() > deadline:
            pytest.fail(f"no access-log line with request id {rid!r} and status {status}")
        time.sleep(0.05)


MALFORMED_CHUNKED = {
    "size-overflow": b"ffffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
    "size-not-hex": b"zz\r\nhello\r\n0\r\n\r\n",
    "chunk-longer-than-size": b"3\r\nabcdef\r\n0\r\n\r\n",
    "bare-lf-lines": b"5\nhello\n0\n\n",
}


@pytest.mark.parametrize("framing", list(MALFORMED_CHUNKED))
def test_malformed_chunked_json_body_is_400_at_once_logged_and_audited(server, framing):
    from test_audit import find_audit_entry

    rid = unique(f"chunked-{framing}-")
    resp, elapsed, closed = _post_chunked(server, "/api/v1/models", MALFORMED_CHUNKED[framing], rid)
    _assert_raw_error(resp, 400, "bad_request", rid)
    assert elapsed < 3, f"answered after {elapsed:.1f}s: waited for the read timeout"
    assert resp.headers.get("Connection") == "close", resp.headers
    assert closed, "the connection stayed open after a malformed body"

    line = _wait_for_access_line(server, rid, 400)
    assert "path=/api/v1/models" in line, line
    entry = find_audit_entry(server, rid)
    assert entry["status"] == 400 and entry["method"] == "POST", entry
    assert entry["path"] == "/api/v1/models" and entry["actor"] == "admin", entry
    assert server.anonymous.get("/healthz").status_code == 200


def test_bare_lf_chunked_upload_is_400_at_once(server):
    rid = unique("chunked-blob-")
    resp, elapsed, closed = _post_chunked(server, "/api/v1/blobs", MALFORMED_CHUNKED["bare-lf-lines"], rid,
                                          content_type="application/octet-stream")
    _assert_raw_error(resp, 400, "bad_request", rid)
    assert elapsed < 3, f"answered after {elapsed:.1f}s: waited for the read timeout"
    assert closed, "the connection stayed open after a malformed body"
    _wait_for_access_line(server, rid, 400)


def test_well_formed_chunked_json_body_is_accepted(server):
    name = unique("chunkedmodel")
    doc = json.dumps({"name": name}).encode()
    half = len(doc) // 2
    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (doc[:half], doc[half:])) + b"0\r\n\r\n"
    rid = unique("chunked-ok-")
    resp, elapsed, _ = _post_chunked(server, "/api/v1/models", body, rid)
    assert resp is not None and resp.status == 201, resp and (resp.status, resp.body[:300])
    assert resp.json()["name"] == name and elapsed < 3
    got = server.admin.get(f"/api/v1/models/{name}")
    assert got.status_code == 200, describe(got)


def test_port_in_use_exits_1_promptly(aimass_bin, server, tmp_path):
    import subprocess
    from urllib.parse import urlparse

    port = urlparse(server.url).port
    proc = subprocess.run([str(aimass_bin), "server", "--listen", f"127.0.0.1:{port}",
                           "--data-dir", str(tmp_path / "d")], capture_output=True, text=True,
                          timeout=20, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 1
    assert "cannot listen" in proc.stderr
