"""The API gateway: routes and upstreams managed at run time, proxying to real HTTP upstreams
(small Python servers started here), access, weighted balancing, passive ejection with retries,
pause / resume / degrade and rate limits."""

import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import assert_error, describe, free_port, unique, wait_for

# Fields of one connection (RFC 9110 7.6.1), with the framing ones the gateway writes itself.
HOP_BY_HOP = [("Keep-Alive", "timeout=9"), ("Proxy-Connection", "keep-alive"), ("TE", "trailers"),
              ("Trailer", "X-T"), ("Upgrade", "h2c"), ("Proxy-Authenticate", "Basic"),
              ("Proxy-Authorization", "Basic eA==")]

UPSTREAMS = "/api/v1/gateway/upstreams"
ROUTES = "/api/v1/gateway/routes"


class Echo:
    """An upstream that answers every request with what it received, and its own name."""

    def __init__(self, name: str):
        self.name = name
        self.hits = 0
        self.healthy = True  # what /healthz answers (200 or 503); health checks are not hits
        self.dead = False    # after stop(): kept-alive connections are cut, as a killed process's
        echo = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def _answer(self):
                if echo.dead:
                    self.close_connection = True
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                if self.path == "/healthz":
                    self.send_response(200 if echo.healthy else 503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                echo.hits += 1
                status = 200
                if "status=" in self.path:  # ?status=500 answers that status
                    status = int(self.path.split("status=", 1)[1][:3])
                out = json.dumps({"upstream": echo.name, "method": self.command, "path": self.path,
                                  "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "header_list": [[k.lower(), v] for k, v in self.headers.items()],
                                  "body": body}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("X-Upstream", echo.name)
                self.send_header("X-Twice", "first")
                self.send_header("X-Twice", "second")
                if "hop=1" in self.path:  # hop-by-hop fields the gateway must not pass on
                    for name, value in HOP_BY_HOP:
                        self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.dead = True
        self.httpd.shutdown()
        self.httpd.server_close()


class JsonServer:
    """A small upstream answering GET with `documents[path]` as JSON ({} for other paths)."""

    def __init__(self, documents: dict):
        self.documents = documents  # may be changed while serving
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def echoes():
    servers = [Echo(f"echo-{i}") for i in range(3)]
    yield servers
    for s in servers:
        s.stop()


def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def make_upstream(server, targets, **extra):
    name = unique("up")
    body = {"name": name, "targets": [{"url": u, "weight": w} for u, w in targets], **extra}
    resp = server.admin.post(UPSTREAMS, json=body)
    assert resp.status_code == 201, describe(resp)
    return name


def make_route(server, upstream, **extra):
    name = unique("rt")
    body = {"name": name, "paths": [f"/svc/{name}"], "upstream": upstream, **extra}
    resp = server.admin.post(ROUTES, json=body)
    assert resp.status_code == 201, describe(resp)
    return name, f"/svc/{name}"


def test_a_route_forwards_to_its_upstream_with_path_query_body_and_forwarding_headers(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    route, prefix = make_route(server, up)
    resp = server.admin.post(f"{prefix}/items/7?q=a%20b&x=1", data=b'{"k":1}',
                             headers={"Content-Type": "application/json", "X-Custom": "yes",
                                      "X-Request-Id": "req-gw-1"})
    assert resp.status_code == 200, describe(resp)
    seen = resp.json()
    assert seen["upstream"] == "echo-0"
    assert seen["method"] == "POST"
    assert seen["path"] == f"{prefix}/items/7?q=a%20b&x=1"
    assert seen["body"] == '{"k":1}'
    h = seen["headers"]
    assert h["x-custom"] == "yes" and h["content-type"] == "application/json"
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-request-id"] == "req-gw-1"
    assert h["x-consumer"] == "admin"
    # The caller's platform token is the gateway's business, not the upstream's.
    assert "authorization" not in h
    assert resp.headers["X-Upstream"] == "echo-0"
    assert resp.headers["X-Request-Id"] == "req-gw-1"


def test_repeated_headers_stay_repeated_both_ways(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    _, prefix = make_route(server, up)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("GET", prefix + "/dup")
    conn.putheader("Authorization", f"Bearer {server.admin_token}")
    conn.putheader("X-Dup", "one")
    conn.putheader("X-Dup", "two")
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200, body
    pairs = json.loads(body)["header_list"]
    assert [v for k, v in pairs if k == "x-dup"] == ["one", "two"]
    assert [v for k, v in resp.getheaders() if k.lower() == "x-twice"] == ["first", "second"]
    # One Server field, the gateway's (the upstream's, BaseHTTP's, is replaced, not repeated).
    assert [v for k, v in resp.getheaders() if k.lower() == "server"] == ["aimass"]
    conn.close()


def test_forwarding_fields_join_the_callers_and_name_the_target_as_host(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    _, prefix = make_route(server, up)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("GET", prefix + "/fwd?hop=1", skip_host=True)
    conn.putheader("Host", "gw.example.test")
    for name, value in HOP_BY_HOP:
        conn.putheader(name, value)
    conn.putheader("Authorization", f"Bearer {server.admin_token}")
    conn.putheader("X-Forwarded-For", "10.0.0.1")
    conn.putheader("X-Forwarded-For", "10.0.0.2")
    conn.putheader("X-Forwarded-Host", "forged.example.test")
    conn.putheader("User-Agent", "caller-agent/1")
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200, body
    answer_names = {k.lower() for k, _ in resp.getheaders()}
    h = json.loads(body)["headers"]
    for name, _ in HOP_BY_HOP:
        assert name.lower() not in h, name
        assert name.lower() not in answer_names, name
    assert "x-upstream" in answer_names
    assert h["x-forwarded-for"] == "10.0.0.1, 10.0.0.2, 127.0.0.1"
    assert h["x-forwarded-host"] == "gw.example.test"
    assert h["host"] == echoes[0].url.removeprefix("http://")
    assert h["user-agent"] == "caller-agent/1"


def test_a_method_the_gateway_cannot_name_is_405_and_not_forwarded(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    _, prefix = make_route(server, up)
    before = echoes[0].hits
    resp = server.admin.request("PROPFIND", prefix + "/x")
    assert_error(resp, 405, "method_not_allowed")
    assert echoes[0].hits == before


def test_traceparent_keeps_the_trace_and_names_a_new_parent(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    _, prefix = make_route(server, up)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    incoming = f"00-{trace}-00f067aa0ba902b7-01"
    seen = server.admin.get(prefix, headers={"traceparent": incoming}).json()["headers"]["traceparent"]
    version, got_trace, parent, flags = seen.split("-")
    assert (version, got_trace, flags) == ("00", trace, "01")
    assert parent != "00f067aa0ba902b7" and len(parent) == 16
    fresh = server.admin.get(prefix, headers={"traceparent": "garbage"}).json()["headers"]["traceparent"]
    assert fresh.startswith("00-") and trace not in fresh and len(fresh) == 55
    zero = server.admin.get(prefix, headers={"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}).json()
    zero = zero["headers"]["traceparent"]
    assert len(zero) == 55 and zero.split("-")[1] != "0" * 32


def test_strip_path_and_rewrite_with_captures(server, echoes):
    up = make_upstream(server, [(echoes[0].url + "/base", 100)])
    _, prefix = make_route(server, up, strip_path=True)
    assert server.admin.get(f"{prefix}/a/b?z=1").json()["path"] == "/base/a/b?z=1"
    assert server.admin.get(prefix).json()["path"] == "/base/"

    name = unique("rw")
    resp = server.admin.post(ROUTES, json={"name": name, "paths": [f"/users-{name}/{{id}}/orders"],
                                           "upstream": up, "rewrite": "/v2/orders/{id}"})
    assert resp.status_code == 201, describe(resp)
    assert server.admin.get(f"/users-{name}/42/orders/9").json()["path"] == "/base/v2/orders/42/9"
    # a capture needs a segment
    assert_error(server.admin.get(f"/users-{name}//orders"), 404, "not_found")


def test_exact_paths_methods_hosts_and_headers_select_the_route(server, echoes):
    a = make_upstream(server, [(echoes[0].url, 100)])
    b = make_upstream(server, [(echoes[1].url, 100)])
    base = f"/m-{unique('p')}"
    admin = server.admin
    assert admin.post(ROUTES, json={"name": unique("r"), "paths": [base], "upstream": a}).status_code == 201
    assert admin.post(ROUTES, json={"name": unique("r"), "paths": ["=" + base + "/exact"], "upstream": b}).status_code == 201
    assert admin.post(ROUTES, json={"name": unique("r"), "paths": [base + "/m"], "methods": ["DELETE"],
                                    "upstream": b}).status_code == 201
    assert admin.post(ROUTES, json={"name": unique("r"), "paths": [base + "/h"], "headers": {"X-Tenant": "blue"},
                                    "upstream": b}).status_code == 201
    assert admin.post(ROUTES, json={"name": unique("r"), "paths": [base + "/host"], "hosts": ["*.example.test"],
                                    "upstream": b}).status_code == 201
    which = lambda resp: resp.json()["upstream"]  # noqa: E731
    assert which(admin.get(base + "/exact")) == "echo-1"
    assert which(admin.get(base + "/exact/more")) == "echo-0"  # exact only; the prefix route takes it
    assert which(admin.delete(base + "/m")) == "echo-1"
    assert which(admin.get(base + "/m")) == "echo-0"
    assert which(admin.get(base + "/h", headers={"X-Tenant": "blue"})) == "echo-1"
    assert which(admin.get(base + "/h", headers={"X-Tenant": "red"})) == "echo-0"
    assert which(admin.get(base + "/host", headers={"Host": "api.example.test"})) == "echo-1"
    assert which(admin.get(base + "/host", headers={"Host": "a.b.example.test"})) == "echo-0"
    # a prefix matches whole segments only
    assert_error(admin.get(base + "x"), 404, "not_found")


def test_unknown_paths_and_dot_segments_are_refused(server, echoes):
    assert_error(server.anonymous.get("/no/such/route"), 404, "not_found")
    up = make_upstream(server, [(echoes[0].url, 100)])
    _, prefix = make_route(server, up, anonymous=True)
    before = echoes[0].hits
    for path in (f"{prefix}/../../api/v1/users", f"{prefix}/%2e%2e/x", f"{prefix}/./x"):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head = s.recv(4096).decode("latin-1")
        s.close()
        assert head.startswith("HTTP/1.1 400"), (path, head)
    assert echoes[0].hits == before


def test_access_token_permission_and_anonymous_routes(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    _, private = make_route(server, up)
    resp = server.anonymous.get(private)
    assert_error(resp, 401, "unauthenticated")
    assert resp.headers.get("WWW-Authenticate") == "Bearer"
    assert_error(server.client("forged.token.value").get(private), 401, "unauthenticated")

    _, public = make_route(server, up, anonymous=True)
    resp = server.anonymous.get(public, headers={"Authorization": "Bearer upstream-own-token"})
    assert resp.status_code == 200, describe(resp)
    # on an anonymous route the gateway did not consume the credential: the upstream gets it
    assert resp.json()["headers"]["authorization"] == "Bearer upstream-own-token"

    _, guarded = make_route(server, up, permission="gateway:write")
    viewer = server.create_user(["viewer"], prefix="gwviewer")
    assert_error(viewer.client.get(guarded), 403, "forbidden")
    assert server.admin.get(guarded).status_code == 200


def test_only_gateway_writers_change_the_configuration(server, echoes):
    viewer = server.create_user(["viewer"], prefix="gwv")
    body = {"name": unique("up"), "targets": [{"url": echoes[0].url}]}
    assert_error(viewer.client.post(UPSTREAMS, json=body), 403, "forbidden")
    assert viewer.client.get(UPSTREAMS).status_code == 200  # gateway:read
    assert_error(server.anonymous.get(UPSTREAMS), 401, "unauthenticated")


@pytest.mark.parametrize("body, code", [
    ({"name": "Bad Name", "targets": [{"url": "http://127.0.0.1:1"}]}, 400),
    ({"name": "ok-name", "targets": []}, 400),
    ({"name": "ok-name", "targets": [{"url": "ftp://127.0.0.1:1"}]}, 400),
    ({"name": "ok-name", "targets": [{"url": "http://127.0.0.1:1", "weight": -1}]}, 400),
    ({"name": "ok-name", "targets": [{"url": "http://127.0.0.1:1"}], "balance": "random"}, 400),
    ({"name": "ok-name", "targets": [{"url": "http://127.0.0.1:1"}], "strip_paths": True}, 400),
])
def test_bad_upstreams_are_400_and_change_nothing(server, body, code):
    before = server.admin.get(UPSTREAMS).json()["upstreams"]
    assert_error(server.admin.post(UPSTREAMS, json=body), code, "bad_request")
    assert server.admin.get(UPSTREAMS).json()["upstreams"] == before


def test_bad_routes_are_refused(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    admin = server.admin
    for body, status in [
        ({"name": unique("r"), "paths": ["/api/v1/evil"], "upstream": up}, 409),
        ({"name": unique("r"), "paths": ["/v2/models/x"], "upstream": up}, 409),
        ({"name": unique("r"), "paths": ["/"], "upstream": up}, 409),
        ({"name": unique("r"), "paths": ["/a/../b"], "upstream": up}, 400),
        ({"name": unique("r"), "paths": ["relative"], "upstream": up}, 400),
        ({"name": unique("r"), "paths": ["/x{id}"], "upstream": up}, 400),
        ({"name": unique("r"), "paths": ["/ok"], "upstream": "no-such-upstream"}, 400),
        ({"name": unique("r"), "paths": ["/ok"], "upstream": up, "methods": ["BREW"]}, 400),
        ({"name": unique("r"), "paths": ["/ok"], "upstream": up, "anonymous": True, "permission": "a:b"}, 400),
        ({"name": unique("r"), "paths": ["/ok"], "upstream": up, "plugins": {"rate_limit": {"rate": 0}}}, 400),
        ({"name": unique("r"), "paths": ["/ok"], "upstream": up, "plugins": {"cors": {}}}, 400),
    ]:
        resp = admin.post(ROUTES, json=body)
        assert resp.status_code == status, (body, describe(resp))
        assert admin.get(f"{ROUTES}/{body['name']}").status_code == 404
    # an upstream in use cannot go
    route, _ = make_route(server, up)
    assert_error(admin.delete(f"{UPSTREAMS}/{up}"), 409, "conflict")
    assert admin.delete(f"{ROUTES}/{route}").status_code == 204
    assert admin.delete(f"{UPSTREAMS}/{up}").status_code == 204


def test_weighted_round_robin_splits_within_five_percent(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 300), (echoes[1].url, 100)])
    _, prefix = make_route(server, up, anonymous=True)
    session = requests.Session()
    session.trust_env = False
    counts = {"echo-0": 0, "echo-1": 0}
    n = 2000
    for _ in range(n):
        resp = session.get(server.url + prefix, timeout=10)
        assert resp.status_code == 200, describe(resp)
        counts[resp.headers["X-Upstream"]] += 1
    assert abs(counts["echo-0"] / n - 0.75) <= 0.05, counts
    assert abs(counts["echo-1"] / n - 0.25) <= 0.05, counts


def test_consistent_hash_sends_a_key_to_one_target(server, echoes):
    up = make_upstream(server, [(e.url, 100) for e in echoes], balance="consistent_hash", hash_on="header:X-User")
    _, prefix = make_route(server, up, anonymous=True)
    seen = {}
    for user in [f"user-{i}" for i in range(30)]:
        targets = {server.anonymous.get(prefix, headers={"X-User": user}).headers["X-Upstream"] for _ in range(3)}
        assert len(targets) == 1, (user, targets)
        seen[user] = targets.pop()
    assert len(set(seen.values())) >= 2, seen  # keys spread over the targets


def test_changes_take_effect_without_a_restart(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    route, prefix = make_route(server, up, anonymous=True)
    assert server.anonymous.get(prefix).headers["X-Upstream"] == "echo-0"
    resp = server.admin.put(f"{UPSTREAMS}/{up}", json={"targets": [{"url": echoes[2].url}]})
    assert resp.status_code == 200, describe(resp)
    assert server.anonymous.get(prefix).headers["X-Upstream"] == "echo-2"
    resp = server.admin.put(f"{ROUTES}/{route}", json={"paths": [prefix + "-moved"], "upstream": up, "anonymous": True})
    assert resp.status_code == 200, describe(resp)
    assert_error(server.anonymous.get(prefix), 404, "not_found")
    assert server.anonymous.get(prefix + "-moved").status_code == 200
    assert server.admin.delete(f"{ROUTES}/{route}").status_code == 204
    assert_error(server.anonymous.get(prefix + "-moved"), 404, "not_found")


def test_a_dead_target_is_ejected_and_idempotent_requests_do_not_fail(server, echoes):
    dead = closed_port_url()
    up = make_upstream(server, [(echoes[0].url, 100), (dead, 100)], retries=2, eject_after_failures=2, eject_s=30)
    _, prefix = make_route(server, up, anonymous=True)
    for _ in range(40):
        resp = server.anonymous.get(prefix)
        assert resp.status_code == 200, describe(resp)
        assert resp.headers["X-Upstream"] == "echo-0"
    health = server.admin.get(f"{UPSTREAMS}/{up}/health").json()["targets"]
    by_url = {t["url"]: t for t in health}
    assert by_url[dead]["ejected"] is True and by_url[dead]["ejected_for_s"] > 0
    assert by_url[echoes[0].url]["ejected"] is False


def test_a_post_is_not_retried_and_an_unreachable_upstream_is_502(server):
    up = make_upstream(server, [(closed_port_url(), 100)], retries=3)
    _, prefix = make_route(server, up, anonymous=True)
    assert_error(server.anonymous.post(prefix, data=b"x"), 502, "bad_gateway")
    assert_error(server.anonymous.get(prefix), 502, "bad_gateway")



class Silent:
    """A target that accepts TCP connections and never answers (a hung process)."""

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.accepted = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)  # read nothing, answer nothing, keep it open

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_targets():
    targets = [Silent(), Silent()]
    yield targets
    for t in targets:
        t.stop()


def _timed(call):
    start = time.monotonic()
    resp = call()
    return resp, time.monotonic() - start


def test_a_target_that_never_answers_is_504_even_with_no_target_left_to_retry(server, silent_targets):
    """One target, the default retries (1): the retry finds no other target; the answer is
    still the timeout's 504, not a 502."""
    hung = silent_targets[0]
    up = make_upstream(server, [(hung.url, 100)])
    _, prefix = make_route(server, up, anonymous=True, timeout_ms=1000)
    resp, elapsed = _timed(lambda: server.anonymous.get(prefix))
    assert_error(resp, 504, "deadline_exceeded")
    assert 0.9 <= elapsed < 3, f"answered after {elapsed:.2f}s"
    assert hung.accepted >= 1
    resp, elapsed = _timed(lambda: server.anonymous.post(prefix, data=b"x"))
    assert_error(resp, 504, "deadline_exceeded")
    assert 0.9 <= elapsed < 3, f"answered after {elapsed:.2f}s"


def test_two_targets_that_never_answer_are_504_with_and_without_retries(server, silent_targets):
    urls = [(t.url, 100) for t in silent_targets]
    up = make_upstream(server, urls)  # retries 1: both targets tried
    _, prefix = make_route(server, up, anonymous=True, timeout_ms=1000)
    resp, elapsed = _timed(lambda: server.anonymous.get(prefix))
    assert_error(resp, 504, "deadline_exceeded")
    assert 1.8 <= elapsed < 4, f"answered after {elapsed:.2f}s"
    assert all(t.accepted >= 1 for t in silent_targets)

    up = make_upstream(server, urls, retries=0)
    _, prefix = make_route(server, up, anonymous=True, timeout_ms=1000)
    for call in (lambda: server.anonymous.get(prefix), lambda: server.anonymous.post(prefix, data=b"x")):
        resp, elapsed = _timed(call)
        assert_error(resp, 504, "deadline_exceeded")
        assert 0.9 <= elapsed < 3, f"answered after {elapsed:.2f}s"


def test_a_target_that_refuses_connections_is_still_502_with_a_route_timeout(server):
    up = make_upstream(server, [(closed_port_url(), 100)])
    _, prefix = make_route(server, up, anonymous=True, timeout_ms=1000)
    for call in (lambda: server.anonymous.get(prefix), lambda: server.anonymous.post(prefix, data=b"x")):
        resp, elapsed = _timed(call)
        assert_error(resp, 502, "bad_gateway")
        assert elapsed < 2, f"answered after {elapsed:.2f}s"


def test_pause_resume_and_degrade(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    other = make_upstream(server, [(echoes[1].url, 100)])
    route, prefix = make_route(server, up, anonymous=True)
    admin = server.admin

    resp = admin.post(f"{ROUTES}/{route}/pause", json={"retry_after_s": 7, "reason": "maintenance"})
    assert resp.status_code == 200 and resp.json()["mode"] == "paused", describe(resp)
    resp = server.anonymous.get(prefix)
    assert_error(resp, 503, "unavailable")
    assert resp.headers["Retry-After"] == "7"
    assert admin.get(f"{ROUTES}/{route}").json()["state"]["mode"] == "paused"

    assert admin.post(f"{ROUTES}/{route}/resume").status_code == 200
    assert server.anonymous.get(prefix).status_code == 200

    resp = admin.post(f"{ROUTES}/{route}/degrade", json={"status": 200, "body": '{"items":[]}'})
    assert resp.status_code == 200, describe(resp)
    resp = server.anonymous.get(prefix)
    assert resp.status_code == 200 and resp.json() == {"items": []} and resp.headers["X-Degraded"] == "1"

    assert admin.post(f"{ROUTES}/{route}/degrade", json={"upstream": other}).status_code == 200
    assert server.anonymous.get(prefix).headers["X-Upstream"] == "echo-1"
    assert_error(admin.post(f"{ROUTES}/{route}/degrade", json={"upstream": "nope"}), 400, "bad_request")
    assert_error(admin.post(f"{ROUTES}/{route}/degrade", json={"upstream": other, "body": "x"}), 400, "bad_request")
    assert_error(admin.post(f"{ROUTES}/{route}/degrade", json={"status": 200, "content_type": "text/plain\r\nX-Evil: 1"}),
                 400, "bad_request")
    assert_error(admin.post(f"{ROUTES}/no-such-route/pause"), 404, "not_found")
    assert admin.post(f"{ROUTES}/{route}/resume").status_code == 200
    assert server.anonymous.get(prefix).headers["X-Upstream"] == "echo-0"
    # One route, its answers from three places in turn: each counted under its own upstream.
    text = admin.get("/metrics").text
    series = 'aimass_gateway_requests_total{{route="{}",status_class="{}",upstream="{}"}} {}'
    for status_class, upstream, count in [("2xx", up, 2), ("5xx", up, 1), ("2xx", other, 1), ("2xx", "(fallback)", 1)]:
        line = series.format(route, status_class, upstream, count)
        assert line in text, (line, [l for l in text.splitlines() if route in l])


def test_a_rate_limited_route_answers_429_beyond_its_rate_and_recovers(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    _, prefix = make_route(server, up, anonymous=True,
                           plugins={"rate_limit": {"rate": 10, "per": "second", "burst": 10, "key": "route"}})
    session = requests.Session()
    session.trust_env = False
    statuses = []
    start = time.monotonic()
    for _ in range(30):
        statuses.append(session.get(server.url + prefix, timeout=10))
    elapsed = time.monotonic() - start
    ok = [r for r in statuses if r.status_code == 200]
    limited = [r for r in statuses if r.status_code == 429]
    assert len(ok) + len(limited) == 30
    # a burst of 10, plus what refilled at 10/s while the loop ran
    assert 10 <= len(ok) <= 10 + int(elapsed * 10) + 1, (len(ok), elapsed)
    assert limited, "no request was limited"
    r = limited[0]
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["RateLimit-Limit"] == "10" and r.headers["RateLimit-Remaining"] == "0"
    assert ok[0].headers["RateLimit-Limit"] == "10"
    time.sleep(1.2)
    assert session.get(server.url + prefix, timeout=10).status_code == 200


def test_sliding_window_limit_per_consumer(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    _, prefix = make_route(server, up, plugins={"rate_limit": {"rate": 5, "per": "minute", "key": "consumer",
                                                               "algorithm": "sliding_window"}})
    other = server.create_user(["viewer"], prefix="gwrl")
    codes = [server.admin.get(prefix).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429], codes
    # another consumer has its own window
    assert other.client.get(prefix).status_code == 200


def test_gateway_metrics_count_routes_and_status_classes(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    route, prefix = make_route(server, up, anonymous=True)
    for _ in range(3):
        assert server.anonymous.get(prefix).status_code == 200
    # Alternating with another route and status class: each request is counted in its own series.
    up2 = make_upstream(server, [(echoes[1].url, 100)])
    route2, prefix2 = make_route(server, up2, anonymous=True)
    for path, code in [(prefix2 + "?status=404", 404), (prefix, 200), (prefix2 + "?status=404", 404),
                       (prefix2, 200)]:
        assert server.anonymous.get(path).status_code == code
    text = server.admin.get("/metrics").text
    line = f'aimass_gateway_requests_total{{route="{route}",status_class="2xx",upstream="{up}"}} 4'
    assert line in text, [l for l in text.splitlines() if route in l]
    assert f'aimass_gateway_upstream_duration_seconds_count{{route="{route}",upstream="{up}"}} 4' in text
    assert f'aimass_gateway_requests_total{{route="{route2}",status_class="4xx",upstream="{up2}"}} 2' in text
    assert f'aimass_gateway_requests_total{{route="{route2}",status_class="2xx",upstream="{up2}"}} 1' in text


def test_configuration_survives_a_restart(make_server, echoes):
    first = make_server()
    up = make_upstream(first, [(echoes[0].url, 100)])
    route, prefix = make_route(first, up, anonymous=True)
    assert first.admin.post(f"{ROUTES}/{route}/pause").status_code == 200
    first.stop()
    second = make_server(data_dir=first.data_dir)
    assert_error(second.anonymous.get(prefix), 503, "unavailable")
    assert second.admin.post(f"{ROUTES}/{route}/resume").status_code == 200
    assert second.anonymous.get(prefix).headers["X-Upstream"] == "echo-0"


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port, no persistence, stopped after the test."""
    import shutil
    import subprocess
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield {"port": port, "proc": proc}
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


def test_two_gateways_sharing_redis_enforce_one_limit(make_server, redis_server, echoes):
    url = f"redis://127.0.0.1:{redis_server['port']}/0"
    gateways = [make_server("--set", f"gateway.redis_url={url}") for _ in range(2)]
    name = unique("shared")
    limit = {"rate": 10, "per": "second", "burst": 10, "key": "route", "policy": "redis"}
    for g in gateways:
        assert g.admin.post(UPSTREAMS, json={"name": name, "targets": [{"url": echoes[0].url}]}).status_code == 201
        resp = g.admin.post(ROUTES, json={"name": name, "paths": [f"/shared/{name}"], "upstream": name,
                                          "anonymous": True, "plugins": {"rate_limit": limit}})
        assert resp.status_code == 201, describe(resp)
    sessions = [requests.Session() for _ in gateways]
    for s in sessions:
        s.trust_env = False
    start = time.monotonic()
    ok = [0, 0]
    for i in range(60):
        k = i % 2
        resp = sessions[k].get(gateways[k].url + f"/shared/{name}", timeout=10)
        assert resp.status_code in (200, 429), describe(resp)
        ok[k] += resp.status_code == 200
    elapsed = time.monotonic() - start
    # one bucket of 10 for both together (each alone would have let 10 through)
    assert sum(ok) <= 10 + int(elapsed * 10) + 1, (ok, elapsed)
    assert sum(ok) >= 10 and min(ok) >= 1, ok

    # A Redis outage does not take the route down: limits fail open.
    redis_server["proc"].kill()
    redis_server["proc"].wait()
    time.sleep(0.1)
    assert sessions[0].get(gateways[0].url + f"/shared/{name}", timeout=10).status_code == 200


def test_a_shared_limit_needs_redis(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    resp = server.admin.post(ROUTES, json={"name": unique("r"), "paths": ["/needs-redis"], "upstream": up,
                                           "plugins": {"rate_limit": {"rate": 1, "policy": "redis"}}})
    assert_error(resp, 400, "bad_request")


def test_response_cache_hit_miss_ttl_and_purge(server, echoes):
    up = make_upstream(server, [(echoes[2].url, 100)])
    route, prefix = make_route(server, up, anonymous=True,
                               plugins={"cache": {"ttl_s": 1, "vary_headers": ["X-Lang"], "methods": ["GET", "POST"]}})
    anon = server.anonymous
    hits = echoes[2].hits
    first = anon.get(prefix + "/item?id=1")
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    second = anon.get(prefix + "/item?id=1")
    assert second.headers["X-Cache"] == "HIT" and second.json() == first.json() and "Age" in second.headers
    assert echoes[2].hits == hits + 1
    # the query, a vary header and a POST body are part of the key
    assert anon.get(prefix + "/item?id=2").headers["X-Cache"] == "MISS"
    assert anon.get(prefix + "/item?id=1", headers={"X-Lang": "de"}).headers["X-Cache"] == "MISS"
    assert anon.post(prefix + "/q", data=b"a").headers["X-Cache"] == "MISS"
    assert anon.post(prefix + "/q", data=b"a").headers["X-Cache"] == "HIT"
    assert anon.post(prefix + "/q", data=b"b").headers["X-Cache"] == "MISS"
    # the caller can ask for a fresh answer, or for none to be kept
    assert anon.get(prefix + "/item?id=1", headers={"Cache-Control": "no-cache"}).headers["X-Cache"] == "MISS"
    assert anon.get(prefix + "/nostore", headers={"Cache-Control": "no-store"}).headers["X-Cache"] == "BYPASS"
    assert anon.get(prefix + "/nostore").headers["X-Cache"] == "MISS"
    # TTL
    time.sleep(1.2)
    assert anon.get(prefix + "/item?id=1").headers["X-Cache"] == "MISS"
    assert anon.get(prefix + "/item?id=1").headers["X-Cache"] == "HIT"
    # purge
    purged = server.admin.delete(f"{ROUTES}/{route}/cache")
    assert purged.status_code == 200 and purged.json()["purged"] >= 1
    assert anon.get(prefix + "/item?id=1").headers["X-Cache"] == "MISS"
    stats = server.admin.get("/api/v1/gateway/cache").json()
    assert stats["hits"] >= 3 and stats["entries"] >= 1
    assert_error(server.admin.delete(f"{ROUTES}/no-such-route/cache"), 404, "not_found")


def test_cached_answers_are_per_consumer_on_routes_with_access(server, echoes):
    up = make_upstream(server, [(echoes[2].url, 100)])
    _, prefix = make_route(server, up, plugins={"cache": {"ttl_s": 30}})
    other = server.create_user(["viewer"], prefix="gwcache")
    a = server.admin.get(prefix)
    assert a.headers["X-Cache"] == "MISS" and server.admin.get(prefix).headers["X-Cache"] == "HIT"
    b = other.client.get(prefix)
    assert b.headers["X-Cache"] == "MISS" and b.json()["headers"]["x-consumer"] == other.username


def test_active_health_checks_take_a_failing_target_out_and_back(server):
    a, b = Echo("hc-a"), Echo("hc-b")
    try:
        up = make_upstream(server, [(a.url, 100), (b.url, 100)],
                           health_check={"path": "/healthz", "interval_s": 1, "healthy_after": 1, "unhealthy_after": 1})
        _, prefix = make_route(server, up, anonymous=True)
        b.healthy = False

        def targets_seen(n=20):
            return {server.anonymous.get(prefix).headers["X-Upstream"] for _ in range(n)}

        deadline = time.monotonic() + 10
        while targets_seen() != {"hc-a"} and time.monotonic() < deadline:
            time.sleep(0.3)
        assert targets_seen() == {"hc-a"}
        health = {t["url"]: t for t in server.admin.get(f"{UPSTREAMS}/{up}/health").json()["targets"]}
        assert health[b.url]["healthy"] is False and health[a.url]["healthy"] is True
        b.healthy = True
        deadline = time.monotonic() + 10
        while targets_seen() != {"hc-a", "hc-b"} and time.monotonic() < deadline:
            time.sleep(0.3)
        assert targets_seen() == {"hc-a", "hc-b"}
    finally:
        a.stop()
        b.stop()


def test_circuit_breaker_opens_degrades_and_closes_again(server, echoes):
    breaker = {"failure_ratio": 0.5, "min_requests": 4, "window_s": 30, "open_s": 3, "half_open_requests": 1}
    up = make_upstream(server, [(echoes[1].url, 100)], circuit_breaker=breaker)
    route, prefix = make_route(server, up, anonymous=True,
                               fallback={"status": 200, "body": '{"degraded":true}'})
    _, bare = make_route(server, up, anonymous=True)
    anon = server.anonymous
    for _ in range(4):
        assert anon.get(prefix + "?status=500").status_code == 500
    opened = time.monotonic()
    health = server.admin.get(f"{UPSTREAMS}/{up}/health").json()
    assert health["circuit"]["state"] == "open", health
    resp = anon.get(prefix)
    assert resp.status_code == 200 and resp.json() == {"degraded": True} and resp.headers["X-Degraded"] == "circuit-open"
    resp = anon.get(bare)
    assert_error(resp, 503, "unavailable")
    assert int(resp.headers["Retry-After"]) >= 1
    # the metric is refreshed every second
    gauge = f'aimass_gateway_upstream_circuit_state{{upstream="{up}"}} 1'
    while gauge not in server.admin.get("/metrics").text and time.monotonic() < opened + 2.5:
        time.sleep(0.1)
    assert gauge in server.admin.get("/metrics").text
    time.sleep(max(0.0, opened + 3.1 - time.monotonic()))
    # half-open: one trial; it succeeds and the circuit closes
    resp = anon.get(prefix)
    assert resp.status_code == 200 and resp.headers["X-Upstream"] == "echo-1", describe(resp)
    assert server.admin.get(f"{UPSTREAMS}/{up}/health").json()["circuit"]["state"] == "closed"
    assert anon.get(bare).status_code == 200


def test_service_instances_register_expire_and_serve_routes_by_name(server, echoes):
    service = unique("svc")
    route = unique("rt")
    resp = server.admin.post(ROUTES, json={"name": route, "paths": [f"/by-service/{route}"], "service": service,
                                           "anonymous": True})
    assert resp.status_code == 201, describe(resp)
    path = f"/by-service/{route}"
    resp = server.anonymous.get(path)
    assert_error(resp, 503, "unavailable")
    assert "no live instances" in resp.json()["error"]["message"]

    developer = server.create_user(["developer"], prefix="gwdev")  # gateway:register
    reg = developer.client.post(f"/api/v1/gateway/services/{service}/instances", json={"url": echoes[0].url, "ttl_s": 2})
    assert reg.status_code == 201, describe(reg)
    first = reg.json()["id"]
    # registering the same URL again renews it under the same id
    again = developer.client.post(f"/api/v1/gateway/services/{service}/instances", json={"url": echoes[0].url, "ttl_s": 2})
    assert again.json()["id"] == first
    second = developer.client.post(f"/api/v1/gateway/services/{service}/instances",
                                   json={"url": echoes[1].url, "ttl_s": 2}).json()["id"]
    seen = {server.anonymous.get(path).headers["X-Upstream"] for _ in range(10)}
    assert seen == {"echo-0", "echo-1"}
    listed = server.admin.get(f"/api/v1/gateway/services/{service}").json()["instances"]
    assert {i["id"] for i in listed} == {first, second}

    # keep the first alive with heartbeats; the second stops and expires
    deadline = time.monotonic() + 4.5
    while time.monotonic() < deadline:
        hb = developer.client.put(f"/api/v1/gateway/services/{service}/instances/{first}")
        assert hb.status_code == 200, describe(hb)
        time.sleep(0.5)
    assert {server.anonymous.get(path).headers["X-Upstream"] for _ in range(10)} == {"echo-0"}
    assert_error(developer.client.put(f"/api/v1/gateway/services/{service}/instances/{second}"), 404, "not_found")
    assert developer.client.delete(f"/api/v1/gateway/services/{service}/instances/{first}").status_code == 204
    assert_error(server.anonymous.get(path), 503, "unavailable")

    viewer = server.create_user(["viewer"], prefix="gwview")
    assert_error(viewer.client.post(f"/api/v1/gateway/services/{service}/instances", json={"url": echoes[0].url}),
                 403, "forbidden")
    assert_error(developer.client.post(f"/api/v1/gateway/services/{service}/instances", json={"url": "ftp://x"}),
                 400, "bad_request")
    assert_error(server.admin.post(ROUTES, json={"name": unique("r"), "paths": ["/both"], "service": service,
                                                 "upstream": "x"}), 400, "bad_request")


def test_services_openapi_is_merged_and_docs_render_it(server):
    doc = {"openapi": "3.0.3", "info": {"title": "orders", "version": "1"},
           "paths": {"/orders/{id}": {"get": {"summary": "One order"}}, "/": {"get": {"summary": "Index"}}}}
    service = JsonServer({"/openapi.json": doc})
    try:
        up = make_upstream(server, [(service.url, 100)])
        route, prefix = make_route(server, up, anonymous=True, strip_path=True, openapi_path="/openapi.json")
        deadline = time.monotonic() + 10
        paths = {}
        while time.monotonic() < deadline:
            paths = server.anonymous.get("/openapi.json").json()["paths"]
            if f"{prefix}/orders/{{id}}" in paths:
                break
            time.sleep(0.2)
        assert paths[f"{prefix}/orders/{{id}}"]["get"]["summary"] == "One order"
        assert paths[f"{prefix}/orders/{{id}}"]["get"]["tags"] == [f"gateway route {route}"]
        assert prefix in paths and "/api/v1/gateway/routes" in paths  # the platform's own stay
        docs = server.anonymous.get("/docs")
        assert docs.status_code == 200 and docs.headers["Content-Type"].startswith("text/html")
        assert "fetch('/openapi.json')" in docs.text
    finally:
        service.stop()


def test_a_target_killed_under_traffic_costs_no_idempotent_request(server):
    a, b = Echo("kill-a"), Echo("kill-b")
    try:
        up = make_upstream(server, [(a.url, 100), (b.url, 100)], retries=2, eject_after_failures=1, eject_s=30)
        _, prefix = make_route(server, up, anonymous=True)
        session = requests.Session()
        session.trust_env = False
        seen = set()
        for i in range(200):
            if i == 50:
                b.stop()  # killed: its port now refuses connections
            resp = session.get(server.url + prefix, timeout=10)
            assert resp.status_code == 200, (i, describe(resp))
            seen.add(resp.headers["X-Upstream"])
            if i >= 60:
                assert resp.headers["X-Upstream"] == "kill-a"
        assert seen == {"kill-a", "kill-b"}
        health = {t["url"]: t for t in server.admin.get(f"{UPSTREAMS}/{up}/health").json()["targets"]}
        assert health[b.url]["ejected"] is True
    finally:
        a.stop()


def test_another_aimass_process_is_an_upstream(server, make_server):
    remote = make_server()
    up = make_upstream(server, [(remote.url, 100)])
    _, prefix = make_route(server, up, anonymous=True, strip_path=True)
    resp = server.anonymous.get(prefix + "/readyz")
    assert resp.status_code == 200, describe(resp)
    # the remote platform checks its own tokens: ours is not forwarded on a route with access
    _, private = make_route(server, up, strip_path=True)
    resp = server.admin.get(private + "/api/v1/auth/whoami")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"
    token = remote.admin_token
    resp = server.anonymous.get(prefix + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.json()["username"] == "admin"


def test_head_through_the_gateway_keeps_the_content_length(server, echoes):
    up = make_upstream(server, [(echoes[0].url, 100)])
    _, prefix = make_route(server, up, anonymous=True)
    get = server.anonymous.get(prefix + "/same")
    head = server.anonymous.head(prefix + "/same")
    assert head.status_code == 200 and head.content == b""
    # the echo's answer to HEAD describes the GET it would have sent (same length, method aside)
    assert int(head.headers["Content-Length"]) == len(get.content) - len("GET") + len("HEAD")


class EventSource:
    """An upstream answering with server-sent events, in chunks: the first at once, the rest only
    once the test releases them (then `[DONE]`), or, with ?forever, one every 50 ms until its
    client is gone (noted in `gone`)."""

    def __init__(self):
        self.release = threading.Event()
        self.gone = threading.Event()
        source = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _chunk(self, data: bytes):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("X-Upstream", "events")
                self.end_headers()
                try:
                    self._chunk(b"data: 1\n\n")
                    if "forever" in self.path:
                        for n in range(2, 2000):
                            time.sleep(0.05)
                            self._chunk(b"data: %d\n\n" % n)
                        return
                    source.release.wait(30)
                    self._chunk(b"data: 2\n\n")
                    self._chunk(b"data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    source.gone.set()
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_server_sent_events_are_forwarded_as_they_come(server):
    """An event stream reaches the caller event by event (the first before the upstream has sent
    the second), with the upstream's fields, and ends as the upstream ends it."""
    source = EventSource()
    try:
        up = make_upstream(server, [(source.url, 100)])
        _, prefix = make_route(server, up)
        safety = threading.Timer(15, source.release.set)  # an answer held back whole still ends
        safety.start()
        with server.admin.get(prefix + "/events", stream=True, timeout=30) as resp:
            assert resp.status_code == 200, describe(resp)
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            assert resp.headers["X-Upstream"] == "events"
            lines = resp.iter_lines()
            assert next(lines) == b"data: 1"
            assert not source.release.is_set(), "the first event came only with the whole answer"
            source.release.set()
            rest = [line for line in lines if line]
        safety.cancel()
        assert rest == [b"data: 2", b"data: [DONE]"]
        # The call is counted once, as the upstream answered it.
        metrics = server.admin.get("/metrics").text
        assert f'route="{prefix[5:]}"' in metrics
    finally:
        source.stop()


def test_a_caller_that_leaves_a_stream_ends_the_upstream_exchange(server):
    source = EventSource()
    try:
        up = make_upstream(server, [(source.url, 100)])
        _, prefix = make_route(server, up)
        with server.admin.get(prefix + "/events?forever", stream=True, timeout=30) as resp:
            assert resp.status_code == 200, describe(resp)
            lines = resp.iter_lines()
            assert next(lines) == b"data: 1"
        # The gateway notices when it next writes to the caller, and closes the upstream's
        # connection: the upstream's next write fails.
        assert source.gone.wait(10), "the upstream kept streaming to a caller that had gone"
        # The exchange is over (nothing in flight), and the target, which answered, stays in
        # service: a caller leaving is not the upstream's failure.
        def settled():
            t = server.admin.get(f"{UPSTREAMS}/{up}/health").json()["targets"][0]
            return t["in_flight"] == 0 and t
        target = wait_for(settled, 10, "the upstream exchange to end")
        assert target["consecutive_failures"] == 0 and not target["ejected"], target
    finally:
        source.stop()
