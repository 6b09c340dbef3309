"""Malformed input, size limits and path tricks."""

import http.client
import socket

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


def test_port_in_use_exits_1_promptly(aimass_bin, server, tmp_path):
    import subprocess
    from urllib.parse import urlparse

    port = urlparse(server.url).port
    proc = subprocess.run([str(aimass_bin), "server", "--listen", f"127.0.0.1:{port}",
                           "--data-dir", str(tmp_path / "d")], capture_output=True, text=True,
                          timeout=20, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 1
    assert "cannot listen" in proc.stderr
