"""Health, readiness, OpenAPI, routing errors and request ids."""

from conftest import assert_error


def test_healthz_reports_ok(server):
    resp = server.anonymous.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


MODULES = {"blobs", "auth", "events", "console", "discovery", "mq", "registry", "serving", "gateway", "scheduler", "cluster", "datasets", "collector", "tracking", "pipeline", "search", "assist", "recommend", "cube", "behavior", "crowd", "analysis"}


def test_readyz_reports_ready_once_started_with_every_module(server):
    resp = server.anonymous.get("/readyz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ready"
    assert body["modules"] == {name: "ready" for name in MODULES}
    # One process runs everything: nothing is opened as a library or served elsewhere.
    assert set(body["target"]) == MODULES
    assert body["libraries"] == [] and body["remote"] == {}


def test_openapi_document_is_openapi_3_and_lists_the_routes(server):
    resp = server.anonymous.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert isinstance(doc, dict)
    assert str(doc["openapi"]).startswith("3.")
    paths = doc["paths"]
    assert "/api/v1/users" in paths
    assert "/api/v1/users/{username}" in paths
    assert "/api/v1/auth/login" in paths
    assert "post" in {m.lower() for m in paths["/api/v1/users"]}


def test_unknown_route_is_404_in_the_error_model(server):
    resp = server.anonymous.get("/no/such/route")
    err = assert_error(resp, 404, "not_found")
    assert err["request_id"]  # generated, non-empty, and equal to the X-Request-Id header


def test_wrong_method_on_a_known_path_is_405(server):
    assert_error(server.anonymous.put("/api/v1/auth/login", json={}), 405, "method_not_allowed")
    assert_error(server.anonymous.delete("/healthz"), 405, "method_not_allowed")


def test_every_response_carries_a_generated_request_id(server):
    ids = {server.anonymous.get("/healthz").headers.get("X-Request-Id") for _ in range(3)}
    assert None not in ids and "" not in ids
    assert len(ids) == 3, "request ids must differ between requests"


def test_client_request_id_is_echoed(server):
    rid = "e2e-health-4f1c2a"
    resp = server.anonymous.get("/healthz", headers={"X-Request-Id": rid})
    assert resp.status_code == 200
    assert resp.headers["X-Request-Id"] == rid


def test_client_request_id_is_echoed_in_error_bodies(server):
    rid = "e2e-error-77aa10"
    resp = server.anonymous.get("/no/such/route", headers={"X-Request-Id": rid})
    err = assert_error(resp, 404, "not_found")
    assert err["request_id"] == rid


def test_insane_request_id_is_replaced(server):
    """Request ids are only taken from the client when sane (at most 128 printable chars)."""
    rid = "x" * 5000
    resp = server.anonymous.get("/healthz", headers={"X-Request-Id": rid})
    assert resp.status_code == 200
    assert resp.headers["X-Request-Id"]
    assert resp.headers["X-Request-Id"] != rid

