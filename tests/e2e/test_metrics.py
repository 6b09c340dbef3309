"""Prometheus metrics: request counters and latency histograms per route pattern."""

from conftest import metric_value, parse_metrics

REQUESTS = "aimass_http_requests_total"
DURATION = "aimass_http_request_duration_seconds"
WHOAMI = "/api/v1/auth/whoami"


def test_metrics_need_a_token_with_metrics_read(server):
    assert server.anonymous.get("/metrics").status_code == 401
    viewer = server.create_user(roles=["viewer"])
    assert viewer.client.get("/metrics").status_code == 403


def test_metrics_are_prometheus_text(server):
    resp = server.admin.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert f"# TYPE {REQUESTS} counter" in resp.text
    assert f"# TYPE {DURATION} histogram" in resp.text
    assert parse_metrics(resp.text)


def test_request_counter_and_histogram_count_each_request_once(server):
    admin = server.admin  # log in before taking the first reading
    labels = {"method": "GET", "route": WHOAMI}
    before = server.metrics()

    for _ in range(3):
        assert admin.get(WHOAMI).status_code == 200

    after = server.metrics()
    assert (metric_value(after, REQUESTS, status="200", **labels)
            - metric_value(before, REQUESTS, status="200", **labels)) == 3
    assert (metric_value(after, f"{DURATION}_count", **labels)
            - metric_value(before, f"{DURATION}_count", **labels)) == 3
    inf_bucket = metric_value(after, f"{DURATION}_bucket", le="+Inf", **labels)
    assert inf_bucket == metric_value(after, f"{DURATION}_count", **labels)
    assert metric_value(after, f"{DURATION}_sum", **labels) > 0


def test_failed_requests_are_counted_under_their_status(server):
    labels = {"method": "GET", "route": WHOAMI, "status": "401"}
    ok = {**labels, "status": "200"}
    admin = server.admin  # log in before taking the first reading
    before = server.metrics()
    # Alternating statuses on one route: each request lands in its own status's series.
    for client in [server.anonymous, admin, server.anonymous, admin, admin]:
        client.get(WHOAMI)
    after = server.metrics()
    assert metric_value(after, REQUESTS, **labels) - metric_value(before, REQUESTS, **labels) == 2
    assert metric_value(after, REQUESTS, **ok) - metric_value(before, REQUESTS, **ok) == 3


def test_route_label_is_the_pattern_not_the_path(server):
    labels = {"method": "GET", "route": "/api/v1/users/{username}", "status": "200"}
    before = metric_value(server.metrics(), REQUESTS, **labels)
    assert server.admin.get("/api/v1/users/admin").status_code == 200
    after = server.metrics()
    assert metric_value(after, REQUESTS, **labels) - before == 1
    assert not any(dict(lbls).get("route") == "/api/v1/users/admin" for _, lbls in after)


def test_unmatched_paths_share_one_label(server):
    # Paths no platform route knows go to the gateway's route table; those it does not know
    # either are counted under its one label, never under their own paths.
    labels = {"method": "GET", "route": "(gateway)", "status": "404"}
    before = metric_value(server.metrics(), REQUESTS, **labels)
    for i in range(3):
        assert server.anonymous.get(f"/no/such/path/{i}").status_code == 404
    after = server.metrics()
    assert metric_value(after, REQUESTS, **labels) - before == 3
    assert not any("/no/such/path" in dict(lbls).get("route", "") for _, lbls in after)
