"""Usage analysis end to end (/api/v1/usage): every call through the gateway and every inference
counted by route, application, consumer, deployment and version, as series and top lists whose
numbers are the calls this test made; the platform-usage dataset and its cube hold the same;
quota use against a route's rate limit; alert rules on the error rate firing and resolving on
the message queue and at a webhook; bad input and permissions."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ServerFactory, assert_error, describe, unique, wait_for
from mq_helpers import fetch

USAGE = "/api/v1/usage"


class Upstream:
    """An HTTP service: /ok answers 200, /fail 500; POSTs to /hook are kept (the alert webhook)."""

    def __init__(self):
        hooks = self.hooks = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self, status, body=b"{}"):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._answer(500 if "/fail" in self.path else 200, b'{"ok": true}')

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/hook"):
                    hooks.append(json.loads(body))
                self._answer(200)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def usage_server(aimass_bin, tmp_path_factory):
    factory = ServerFactory(aimass_bin, tmp_path_factory, "usage")
    srv = factory(env={"AIMASS_USAGE_FLUSH_S": "1"})
    yield srv
    factory.stop_all()


@pytest.fixture(scope="module")
def upstream():
    u = Upstream()
    yield u
    u.close()


def totals(c, by):
    resp = c.get(f"{USAGE}/series?by={by}&step_s=60")
    assert resp.status_code == 200, describe(resp)
    return {s["value"]: s["total"] for s in resp.json()["series"]}


def test_gateway_calls_and_inferences_are_counted_by_every_dimension(usage_server, upstream, tmp_path):
    import torch

    a = usage_server.admin
    up = unique("up")
    assert a.post("/api/v1/gateway/upstreams", json={"name": up, "targets": [{"url": upstream.url}]}).status_code == 201
    shop, admin_rt = unique("shop"), unique("rt")
    resp = a.post("/api/v1/gateway/routes", json={"name": admin_rt, "paths": [f"/svc/{admin_rt}"], "upstream": up, "application": shop,
                                                  "plugins": {"rate_limit": {"rate": 600, "per": "minute", "key": "consumer"}}})
    assert resp.status_code == 201, describe(resp)
    assert resp.json()["application"] == shop
    other = unique("rt")
    assert a.post("/api/v1/gateway/routes", json={"name": other, "paths": [f"/svc/{other}"], "upstream": up}).status_code == 201
    alice = usage_server.create_user(["developer"], prefix="alice")
    bob = usage_server.create_user(["developer"], prefix="bob")
    for _ in range(30):
        assert alice.client.get(f"/svc/{admin_rt}/ok").status_code == 200
    for k in range(20):
        bob.client.get(f"/svc/{admin_rt}/{'fail' if k % 2 else 'ok'}")
    for _ in range(5):
        assert alice.client.get(f"/svc/{other}/ok").status_code == 200

    # Quota (while the calls are in the limit's minute): each consumer's calls on the rate-limited
    # route against its limit.
    def quota():
        return {q["consumer"]: q for q in a.get(f"{USAGE}/quota").json()["quota"] if q["route"] == admin_rt}
    q = wait_for(lambda: (x := quota()) and x.get(bob.username, {}).get("calls") == 20 and x, 30, "the quota use")
    assert q[alice.username]["calls"] == 30
    assert q[alice.username]["limit"] == pytest.approx(600.0) and q[alice.username]["used"] == pytest.approx(30 / 600)

    # A served model, called five times and once with a bad input.
    class Double(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2

    path = tmp_path / "double.pt"
    torch.jit.script(Double()).save(str(path))
    model = unique("double")
    assert a.post("/api/v1/models", json={"name": model}).status_code == 201
    sig = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}], "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]}
    resp = a.post(f"/api/v1/models/{model}/versions?framework=torchscript", data=path.read_bytes(),
                  headers={"Content-Type": "application/octet-stream", "X-Model-Metadata": json.dumps({"signature": sig})}, timeout=60)
    assert resp.status_code == 201, describe(resp)
    assert a.post("/api/v1/deployments", json={"name": model, "model": model, "version": 1}, timeout=120).status_code == 201
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}
    for _ in range(5):
        resp = a.post(f"/v2/models/{model}/infer", json=body)
        assert resp.status_code == 200, describe(resp)
    bad = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
    assert a.post(f"/v2/models/{model}/infer", json=bad).status_code == 400

    # Per consumer, route, application (a route without one: its upstream), deployment, version.
    want_consumers = {alice.username: (35, 0), bob.username: (20, 10)}
    got = wait_for(lambda: (t := totals(a, "consumer")) and all(t.get(k, {}).get("calls") == v[0] for k, v in want_consumers.items()) and t,
                   30, "the calls to be counted")
    for who, (calls, errors) in want_consumers.items():
        assert got[who]["calls"] == calls and got[who]["errors"] == errors, (who, got[who])
    assert got[bob.username]["error_rate"] == pytest.approx(0.5)
    routes = totals(a, "route")
    assert routes[admin_rt]["calls"] == 50 and routes[other]["calls"] == 5
    apps = totals(a, "application")
    assert apps[shop]["calls"] == 50 and apps[up]["calls"] == 5
    assert apps[shop]["latency_p95_ms"] >= apps[shop]["latency_avg_ms"] > 0
    assert apps[shop]["bytes_out"] > 0
    deployments = wait_for(lambda: (d := totals(a, "deployment")) and d.get(model, {}).get("calls") == 6 and d, 30, "the inferences")
    assert deployments[model]["client_errors"] == 1
    versions = totals(a, "version")
    assert versions[f"{model}:1"]["calls"] == 6 and versions[f"{model}:1"]["client_errors"] == 1
    top = a.get(f"{USAGE}/top?by=consumer&metric=errors&limit=1").json()["top"]
    assert top[0]["value"] == bob.username and top[0]["errors"] == 10
    series = a.get(f"{USAGE}/series?by=route&value={admin_rt}&step_s=10").json()["series"]
    assert len(series) == 1 and sum(p["calls"] for p in series[0]["points"]) == 50

    # The dataset holds every call, and its cube answers the same.
    def dataset_calls():
        resp = a.get("/api/v1/datasets/platform-usage/versions/latest/rows?limit=10000")
        return resp.status_code == 200 and resp.json()["rows"]
    # The series are in memory; the dataset is written by a flush a second later, which may hold
    # the gateway's calls and not yet the inferences made after them: wait for both.
    rows = wait_for(lambda: (r := dataset_calls()) and sum(x["calls"] for x in r if x["route"] == admin_rt) == 50
                    and sum(x["calls"] for x in r if x["deployment"] == model) == 6 and r, 30, "the usage dataset")
    assert sum(x["errors"] for x in rows if x["consumer"] == bob.username) == 10

    def cube_calls():
        resp = a.post("/api/v1/cubes/platform-usage/query", json={"measures": ["calls", "errors"], "dimensions": ["consumer"]})
        if resp.status_code != 200:
            return None
        return {r["consumer"]: r for r in resp.json()["rows"]}
    by = wait_for(lambda: (c := cube_calls()) and c.get(bob.username, {}).get("calls") == 20 and c, 60, "the usage cube")
    assert by[bob.username]["errors"] == 10 and by[alice.username]["calls"] == 35


def test_an_error_rate_alert_fires_and_resolves_on_the_queue_and_the_webhook(usage_server, upstream):
    a = usage_server.admin
    sub = unique("alerts")
    assert a.post("/api/v1/mq/subscriptions", json={"name": sub, "topic": "usage.alert.>"}).status_code == 201
    up = unique("up")
    assert a.post("/api/v1/gateway/upstreams", json={"name": up, "targets": [{"url": upstream.url}]}).status_code == 201
    app = unique("flaky")
    rt = unique("rt")
    assert a.post("/api/v1/gateway/routes", json={"name": rt, "paths": [f"/svc/{rt}"], "upstream": up, "application": app}).status_code == 201
    rule = unique("errors")
    resp = a.post(f"{USAGE}/alerts", json={"name": rule, "metric": "error_rate", "by": "application", "value": app, "threshold": 0.2,
                                          "window_s": 10, "min_calls": 5, "webhook": f"{upstream.url}/hook"})
    assert resp.status_code == 200, describe(resp)
    assert a.get(f"{USAGE}/alerts/{rule}").json()["threshold"] == 0.2
    # Healthy first: no alert.
    for _ in range(10):
        a.get(f"/svc/{rt}/ok")
    time.sleep(3)
    assert not [h for h in upstream.hooks if h["rule"] == rule]
    # Half of the calls fail for a while.
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not [h for h in upstream.hooks if h["rule"] == rule]:
        for k in range(10):
            a.get(f"/svc/{rt}/{'fail' if k % 2 else 'ok'}")
        time.sleep(0.5)
    fired = [h for h in upstream.hooks if h["rule"] == rule]
    assert fired and fired[0]["state"] == "firing" and fired[0]["value"] == app, upstream.hooks
    assert fired[0]["observed"] > 0.2 and fired[0]["threshold"] == 0.2
    msgs = wait_for(lambda: fetch(a, sub, max=10), 20, "the alert on the queue")
    bodies = [(m["topic"], json.loads(m["body"]) if isinstance(m["body"], str) else m["body"]) for m in msgs]
    assert any(topic == "usage.alert.firing" and b["rule"] == rule and b["value"] == app for topic, b in bodies), bodies
    # Calls stop failing: the alert resolves once the window holds only good calls.
    def resolved():
        for _ in range(10):
            a.get(f"/svc/{rt}/ok")
        return [h for h in upstream.hooks if h["rule"] == rule and h["state"] == "resolved"]
    wait_for(resolved, 60, "the alert to resolve", interval=1)
    events = a.get(f"{USAGE}/alert-events?rule={rule}").json()["events"]
    assert [e["state"] for e in events][:2] == ["resolved", "firing"] and events[1]["webhook_status"] == 200
    assert a.delete(f"{USAGE}/alerts/{rule}").status_code == 204


def test_bad_input_and_permissions(usage_server):
    a = usage_server.admin
    assert_error(a.get(f"{USAGE}/series?by=planet"), 400)
    assert_error(a.get(f"{USAGE}/series?step_s=7"), 400)
    assert_error(a.get(f"{USAGE}/series?from=yesterday"), 400)
    assert_error(a.get(f"{USAGE}/top?metric=joy"), 400)
    assert_error(a.get(f"{USAGE}/top?limit=0"), 400)
    for body in ({"name": "r", "metric": "error_rate"},
                 {"name": "r", "metric": "error_rate", "threshold": 0.1, "anomaly": 3},
                 {"name": "r", "metric": "mood", "threshold": 1},
                 {"name": "r", "metric": "calls", "threshold": 1, "window_s": 15},
                 {"name": "r", "metric": "calls", "threshold": 1, "webhook": "ftp://x"},
                 {"name": "Bad Name", "metric": "calls", "threshold": 1},
                 {"name": "r", "metric": "calls", "threshold": 1, "colour": "red"}):
        assert_error(a.post(f"{USAGE}/alerts", json=body), 400)
    assert_error(a.get(f"{USAGE}/alerts/{unique('none')}"), 404)
    assert_error(a.delete(f"{USAGE}/alerts/{unique('none')}"), 404)
    viewer = usage_server.create_user(["viewer"], prefix="uview")
    assert viewer.client.get(f"{USAGE}/series").status_code == 200
    assert_error(viewer.client.post(f"{USAGE}/alerts", json={"name": "v", "metric": "calls", "threshold": 1}), 403)


def test_usage_from_the_command_line(usage_server, upstream, aimass_bin, tmp_path):
    from test_cli import Cli

    a = usage_server.admin
    up, rt = unique("up"), unique("rt")
    assert a.post("/api/v1/gateway/upstreams", json={"name": up, "targets": [{"url": upstream.url}]}).status_code == 201
    assert a.post("/api/v1/gateway/routes", json={"name": rt, "paths": [f"/svc/{rt}"], "upstream": up, "application": "cliapp"}).status_code == 201
    carol = usage_server.create_user(["developer"], prefix="carol")
    for k in range(8):
        carol.client.get(f"/svc/{rt}/{'fail' if k < 3 else 'ok'}")
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(aimass_bin, home)
    cli.login(usage_server)
    rows = wait_for(lambda: (r := json.loads(cli.run("--json", "usage", "series", "--by", "route", "--value", rt).stdout)["series"])
                    and r[0]["total"]["calls"] == 8 and r, 30, "carol's calls")
    assert rows[0]["total"]["errors"] == 3
    out = cli.run("usage", "series", "--by", "application", "--value", "cliapp").stdout
    assert "cliapp" in out and " 8 " in out and " 3 " in out and "0.375" in out, out
    out = cli.run("usage", "top", "--by", "consumer", "--metric", "errors", "--limit", "3").stdout
    assert carol.username in out, out
    rule = unique("cli-rule")
    assert f"Alert rule {rule} saved" in cli.run("usage", "alert", json.dumps({"name": rule, "metric": "calls", "by": "route", "threshold": 1000})).stdout
    assert rule in cli.run("usage", "alerts").stdout
    res = cli.run("usage", "alert", '{"name": "x", "metric": "calls"}', expect=1)
    assert "threshold or an anomaly" in res.stderr, res.stderr
    assert f"Alert rule {rule} removed" in cli.run("usage", "unalert", rule).stdout
    assert "ROUTE" in cli.run("usage", "quota").stdout
