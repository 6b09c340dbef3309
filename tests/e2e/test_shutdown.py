"""Graceful shutdown on SIGTERM."""

import hashlib
import http.client
import os
import socket
import time

import requests

from conftest import describe, read_raw_response

BLOBS = "/api/v1/blobs"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_sigterm_when_idle_exits_0(make_server):
    srv = make_server()
    srv.terminate()
    assert srv.wait_exit(30) == 0, srv.logs()


def test_sigterm_with_an_idle_keep_alive_connection_exits_0(make_server):
    srv = make_server()
    session = requests.Session()
    session.trust_env = False
    assert session.get(srv.url + "/healthz", timeout=10).status_code == 200  # stays open
    srv.terminate()
    assert srv.wait_exit(30) == 0, srv.logs()
    session.close()


def test_sigterm_during_an_upload_finishes_cleanly(make_server):
    srv = make_server()
    token = srv.admin_token
    data = os.urandom(1 << 20)
    half = len(data) // 2

    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
    head = (
        f"POST {BLOBS} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{srv.port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    sock.sendall(head + data[:half])
    time.sleep(0.3)  # let the server start streaming the body

    srv.terminate()
    time.sleep(0.5)
    try:
        sock.sendall(data[half:])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may refuse the rest; what it answered (if anything) is checked below
    except socket.timeout:
        raise AssertionError("server stopped reading the body without answering or closing\n"
                             + srv.logs())

    try:
        response = read_raw_response(sock)
    except http.client.IncompleteRead as exc:
        raise AssertionError(f"truncated response during shutdown: {exc!r}\n{srv.logs()}")
    except socket.timeout:
        raise AssertionError(f"no answer and no close within 15 s of the body\n{srv.logs()}")
    finally:
        sock.close()

    assert srv.wait_exit(30) == 0, srv.logs()

    if response is not None:
        if response.status == 201:
            assert response.json()["digest"] == sha256_digest(data)
        else:
            assert 400 <= response.status < 600, response
            err = response.json()["error"]
            assert err["code"] and err["message"] and err["request_id"]

    # Whatever happened, restarting on the same data dir must never expose a partial blob.
    again = make_server(data_dir=srv.data_dir)
    full = again.admin.get(f"{BLOBS}/{sha256_digest(data)}")
    if response is not None and response.status == 201:
        assert full.status_code == 200, describe(full)
        assert full.content == data
    else:
        assert full.status_code in (200, 404), describe(full)
        if full.status_code == 200:
            assert full.content == data
    partial = again.admin.head(f"{BLOBS}/{sha256_digest(data[:half])}")
    assert partial.status_code == 404, describe(partial)



def test_sigterm_answers_waiting_long_polls_instead_of_waiting_them_out(make_server):
    import threading

    srv = make_server()
    c = srv.admin
    assert c.post("/api/v1/mq/topics", json={"name": "shutdown-t"}).status_code == 201
    assert c.post("/api/v1/mq/subscriptions", json={"name": "shutdown-s", "topic": "shutdown-t"}).status_code == 201
    answers = []

    def poll():
        resp = c.get("/api/v1/mq/subscriptions/shutdown-s/messages", params={"wait_ms": 25000}, timeout=60)
        answers.append((resp.status_code, resp.json()))

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(1.0)  # the poll is waiting
    started = time.monotonic()
    srv.terminate()
    assert srv.wait_exit(30) == 0, srv.logs()
    t.join(30)
    assert answers == [(200, {"messages": []})]
    assert time.monotonic() - started < 15, "the stop waited out the 25 s long poll"
