"""The console's files as aimass serves them (the pages themselves are tested in Chromium by
console/tests): the index never cached, hashed assets cached for a year, gzip when accepted with
its own ETag, 304 on a match, and nothing else under the console's paths."""
from __future__ import annotations

import gzip
import http.client
import re

import requests

from conftest import describe, unique


def test_the_console_is_served_with_its_cache_rules(server):
    index = requests.get(server.url + "/", timeout=10)
    assert index.status_code == 200, describe(index)
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    assert index.headers["Cache-Control"] == "no-store"
    csp = index.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp, csp
    scripts = re.findall(r'src="(/assets/[^"]+\.js)"', index.text)
    assert scripts, index.text
    assert requests.get(server.url + "/index.html", timeout=10).text == index.text

    plain = requests.get(server.url + scripts[0], headers={"Accept-Encoding": "identity"}, timeout=10)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers, describe(plain)
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert plain.headers["Content-Type"].startswith("text/javascript")
    # requests decodes gzip itself: read the raw bytes to see what went over the wire.
    zipped = requests.get(server.url + scripts[0], headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    raw = zipped.raw.read(decode_content=False)
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
    assert len(raw) < len(plain.content) and gzip.decompress(raw) == plain.content
    assert zipped.headers["ETag"] != plain.headers["ETag"], "two representations, two ETags"
    refused = requests.get(server.url + scripts[0], headers={"Accept-Encoding": "gzip;q=0"}, timeout=10, stream=True)
    assert "Content-Encoding" not in refused.headers

    again = requests.get(server.url + scripts[0], headers={"Accept-Encoding": "identity",
                                                           "If-None-Match": plain.headers["ETag"]}, timeout=10)
    assert again.status_code == 304 and again.content == b"", describe(again)
    assert requests.get(server.url + "/favicon.svg", timeout=10).headers["Content-Type"] == "image/svg+xml"
    # Sent as written (requests would resolve the dot segments before sending).
    host, port = server.url.removeprefix("http://").split(":")
    for path in ("/assets/nope.js", "/assets/../index.html", "/assets/%2e%2e/index.html", "/assets/"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        assert status in (400, 404), (path, status)


def test_the_gateway_cannot_take_the_consoles_paths(server):
    up = unique("up")
    assert server.admin.post("/api/v1/gateway/upstreams",
                             json={"name": up, "targets": [{"url": "http://127.0.0.1:9"}]}).status_code == 201
    for path in ("/assets", "/assets/x", "/index.html"):
        r = server.admin.post("/api/v1/gateway/routes", json={"name": unique("r"), "paths": [path], "upstream": up})
        assert r.status_code == 409, (path, describe(r))
