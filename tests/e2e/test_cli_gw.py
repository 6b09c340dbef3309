"""`aimass gw …`: the gateway from the command line, including `apply` of a YAML file."""
from __future__ import annotations

import pytest
import requests

from conftest import unique
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from test_gateway import Echo


@pytest.fixture(scope="module")
def echo():
    e = Echo("cli-echo")
    yield e
    e.stop()


def get(server, path, **kw):
    s = requests.Session()
    s.trust_env = False
    return s.get(server.url + path, timeout=10, **kw)


def test_upstream_route_pause_resume_and_delete(admin_cli, server, echo):
    up, route = unique("up"), unique("rt")
    made = admin_cli.json("gw", "upstream", "add", up, "--target", f"{echo.url}=300", "--balance", "least_connections")
    assert made["targets"] == [{"url": echo.url, "weight": 300}] and made["balance"] == "least_connections"
    made = admin_cli.json("gw", "route", "add", route, "--path", f"/cli/{route}", "--upstream", up, "--strip-path",
                          "--anonymous", "--method", "GET")
    assert made["strip_path"] is True and made["methods"] == ["GET"]
    resp = get(server, f"/cli/{route}/x")
    assert resp.status_code == 200 and resp.json()["path"] == "/x"

    listed = admin_cli.run("gw", "route", "list").stdout
    assert route in listed and "active" in listed
    assert admin_cli.json("gw", "route", "pause", route, "--retry-after", "9")["mode"] == "paused"
    resp = get(server, f"/cli/{route}/x")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "9"
    assert admin_cli.json("gw", "route", "degrade", route, "--body", '{"ok":false}')["mode"] == "degraded"
    assert get(server, f"/cli/{route}/x").json() == {"ok": False}
    admin_cli.run("gw", "route", "resume", route)
    assert get(server, f"/cli/{route}/x").status_code == 200

    shown = admin_cli.json("gw", "upstream", "show", up)
    assert shown["health"]["targets"][0]["url"] == echo.url
    # an upstream in use cannot be deleted: exit 1 with the server's reason
    refused = admin_cli.run("gw", "upstream", "delete", up, expect=1)
    assert "used by route" in refused.stderr
    admin_cli.run("gw", "route", "delete", route)
    admin_cli.run("gw", "upstream", "delete", up)
    assert get(server, f"/cli/{route}/x").status_code == 404


def test_consumer_key_from_the_cli_opens_a_key_route(admin_cli, server, echo):
    up, route, consumer = unique("up"), unique("rt"), unique("co")
    admin_cli.run("gw", "upstream", "add", up, "--target", echo.url)
    admin_cli.run("gw", "route", "add", route, "--path", f"/cli/{route}", "--upstream", up, "--set", '{"auth":["key"]}')
    admin_cli.run("gw", "consumer", "add", consumer, "--role", "viewer")
    key = admin_cli.json("gw", "consumer", "key", consumer)["key"]
    assert get(server, f"/cli/{route}", headers={"apikey": key}).json()["headers"]["x-consumer"] == consumer
    assert get(server, f"/cli/{route}").status_code == 401


def test_apply_a_yaml_file(admin_cli, server, echo, tmp_path):
    up, route = unique("up"), unique("rt")
    conf = tmp_path / "gateway.yaml"
    conf.write_text(f"""
upstreams:
  - name: {up}
    targets:
      - url: {echo.url}
        weight: 100
routes:
  - name: {route}
    paths: ["/applied/{route}"]
    upstream: {up}
    anonymous: true
    plugins:
      rate_limit: {{rate: 100, per: second}}
""")
    out = admin_cli.json("gw", "apply", "-f", str(conf))
    assert out == {"upstreams": [up], "routes": [route]}
    resp = get(server, f"/applied/{route}")
    assert resp.status_code == 200 and resp.headers["RateLimit-Limit"] == "100"
    # applying again replaces, it does not fail
    assert admin_cli.json("gw", "apply", "-f", str(conf)) == out
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"routes:\n  - name: {unique('r')}\n    paths: [relative]\n    upstream: {up}\n")
    assert "must start with '/'" in admin_cli.run("gw", "apply", "-f", str(bad), expect=1).stderr
