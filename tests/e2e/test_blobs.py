"""Content-addressed blob storage."""

import hashlib
import os

import pytest

from conftest import assert_error, describe

BLOBS = "/api/v1/blobs"
OCTETS = {"Content-Type": "application/octet-stream"}


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(client, data: bytes):
    resp = client.post(BLOBS, data=data, headers=OCTETS)
    assert resp.status_code in (200, 201), describe(resp)
    return resp


@pytest.fixture(scope="module")
def blob(server):
    """4 KiB of random bytes, uploaded once for the read-side tests."""
    data = os.urandom(4096)
    resp = server.admin.post(BLOBS, data=data, headers=OCTETS)
    assert resp.status_code == 201, describe(resp)
    return data, resp.json()["digest"]


def test_upload_answers_the_sha256_digest_and_size(server):
    data = os.urandom(10_000)
    resp = server.admin.post(BLOBS, data=data, headers=OCTETS)
    assert resp.status_code == 201, describe(resp)
    assert resp.json() == {"digest": sha256_digest(data), "size": len(data)}


def test_uploading_the_same_bytes_twice_gives_the_same_digest(server):
    data = os.urandom(2048)
    first = upload(server.admin, data).json()
    second = upload(server.admin, data).json()
    assert first["digest"] == second["digest"] == sha256_digest(data)
    assert second["size"] == len(data)


def test_streamed_upload_without_content_length(server):
    parts = [os.urandom(64 * 1024) for _ in range(5)]
    resp = server.admin.post(BLOBS, data=iter(parts), headers=OCTETS)
    assert resp.status_code == 201, describe(resp)
    assert resp.json()["digest"] == sha256_digest(b"".join(parts))


def test_get_returns_the_bytes_and_their_checksum(server, blob):
    data, digest = blob
    resp = server.admin.get(f"{BLOBS}/{digest}")
    assert resp.status_code == 200, describe(resp)
    assert resp.content == data
    assert resp.headers["X-Content-Sha256"].split(":")[-1] == hashlib.sha256(data).hexdigest()


def test_range_request_answers_206_with_content_range(server, blob):
    data, digest = blob
    resp = server.admin.get(f"{BLOBS}/{digest}", headers={"Range": "bytes=10-19"})
    assert resp.status_code == 206, describe(resp)
    assert resp.content == data[10:20]
    assert resp.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert resp.headers["Content-Length"] == "10"


def test_open_ended_range_runs_to_the_end(server, blob):
    data, digest = blob
    resp = server.admin.get(f"{BLOBS}/{digest}", headers={"Range": "bytes=4000-"})
    assert resp.status_code == 206, describe(resp)
    assert resp.content == data[4000:]
    assert resp.headers["Content-Range"] == f"bytes 4000-{len(data) - 1}/{len(data)}"


def test_range_beyond_the_end_is_416(server, blob):
    data, digest = blob
    resp = server.admin.get(f"{BLOBS}/{digest}", headers={"Range": f"bytes={len(data) + 10}-"})
    assert resp.status_code == 416, describe(resp)


def test_head_answers_headers_only(server, blob):
    data, digest = blob
    resp = server.admin.head(f"{BLOBS}/{digest}")
    assert resp.status_code == 200, describe(resp)
    assert resp.headers["Content-Length"] == str(len(data))
    assert resp.headers["X-Content-Sha256"].split(":")[-1] == hashlib.sha256(data).hexdigest()
    assert resp.content == b""


def test_unknown_digest_is_404(server):
    assert_error(server.admin.get(f"{BLOBS}/sha256:{'0' * 64}"), 404, "not_found")
    assert server.admin.head(f"{BLOBS}/sha256:{'0' * 64}").status_code == 404


@pytest.mark.parametrize("digest", [
    "sha256:xyz",
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "sha256:" + "g" * 64,
    "md5:" + "a" * 32,
    "a" * 64,
])
def test_malformed_digest_is_400(server, digest):
    assert_error(server.admin.get(f"{BLOBS}/{digest}"), 400, "bad_request")


def test_blobs_need_a_token(server, blob):
    _, digest = blob
    assert_error(server.anonymous.post(BLOBS, data=b"hello", headers=OCTETS), 401, "unauthenticated")
    assert_error(server.anonymous.get(f"{BLOBS}/{digest}"), 401, "unauthenticated")


def test_viewer_cannot_upload(server):
    viewer = server.create_user(["viewer"], prefix="blobviewer")
    data = os.urandom(128)
    assert_error(viewer.client.post(BLOBS, data=data, headers=OCTETS), 403, "forbidden")
    assert server.admin.head(f"{BLOBS}/{sha256_digest(data)}").status_code == 404


def test_upload_over_max_upload_bytes_is_413_and_stores_nothing(make_server):
    srv = make_server("--set", "http.max_upload_bytes=1024")
    data = os.urandom(4096)
    assert_error(srv.admin.post(BLOBS, data=data, headers=OCTETS), 413, "payload_too_large")
    assert srv.admin.head(f"{BLOBS}/{sha256_digest(data)}").status_code == 404
    small = os.urandom(1000)
    assert upload(srv.admin, small).json()["digest"] == sha256_digest(small)


def test_empty_upload_is_the_empty_blob(server):
    resp = upload(server.admin, b"")
    assert resp.json() == {"digest": sha256_digest(b""), "size": 0}
    got = server.admin.get(f"{BLOBS}/{sha256_digest(b'')}")
    assert got.status_code == 200 and got.content == b""


def test_unauthenticated_upload_is_refused_before_its_body_is_read(server):
    """The 401 arrives while the client has sent nothing but the header of a 50 MB upload."""
    import socket
    from urllib.parse import urlparse

    from conftest import read_raw_response

    u = urlparse(server.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/blobs HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/octet-stream\r\n"
                     b"Content-Length: 50000000\r\n\r\n")
        resp = read_raw_response(sock)
    assert resp is not None and resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.headers["Connection"] == "close"


def test_gc_deletes_unreferenced_blobs_and_keeps_referenced_ones(server):
    kept, dropped = os.urandom(64), os.urandom(64)
    upload(server.admin, kept)
    upload(server.admin, dropped)
    assert server.admin.delete(f"{BLOBS}/{sha256_digest(dropped)}").status_code == 204
    # A deleted reference is gone: deleting it again is 404.
    assert_error(server.admin.delete(f"{BLOBS}/{sha256_digest(dropped)}"), 404, "not_found")

    # With the default grace period (1 h) a young blob survives GC.
    assert server.admin.post(f"{BLOBS}/gc").status_code == 200
    assert server.admin.head(f"{BLOBS}/{sha256_digest(dropped)}").status_code == 200

    stats = server.admin.post(f"{BLOBS}/gc", json={"grace_s": 0})
    assert stats.status_code == 200, describe(stats)
    assert stats.json()["deleted"] >= 1
    assert server.admin.head(f"{BLOBS}/{sha256_digest(dropped)}").status_code == 404
    assert server.admin.get(f"{BLOBS}/{sha256_digest(kept)}").content == kept


def test_only_blob_admins_run_gc(server):
    dev = server.create_user(["developer"], prefix="gcdev")
    assert_error(dev.client.post(f"{BLOBS}/gc", json={"grace_s": 0}), 403, "forbidden")
