"""Two aimass processes on one PostgreSQL (storage.driver=postgres) and one blob directory, as
two machines of a deployment would be: what one writes the other reads, the same change raced
on both lands once (the other answer is 409), and a deployment made on one is served by the
other. The PostgreSQL server is real (initdb + pg_ctl on loopback, scripts/test-postgres)."""
from __future__ import annotations

import threading
import time

import pytest

import models
from conftest import PostgresServer, describe, postgres_server, strong_password, unique, wait_for
from test_serving import MLP_SIG, MLP_X, assert_matches, create_model, deploy, infer, output_array, push

JWT_SECRET = "e2e-shared-secret-e2e-shared-secret-0123456789"


@pytest.fixture
def pair(make_server, tmp_path):
    """Two servers on one fresh database and one blob directory."""
    pg = postgres_server()
    dsn = pg.database(unique("pg").lower())
    env = {
        "AIMASS_STORAGE_DRIVER": "postgres",
        "AIMASS_STORAGE_DSN": dsn,
        "AIMASS_STORAGE_BLOB_DIR": str(tmp_path / "blobs"),
        "AIMASS_AUTH_JWT_SECRET": JWT_SECRET,
    }
    a = make_server(env=env)
    b = make_server(env=env)
    return a, b


def race(*calls):
    """Runs the calls at the same moment on threads; returns their responses in order."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        out[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_what_one_process_writes_the_other_reads(pair, tmp_path):
    a, b = pair
    token = a.admin_token  # issued by a, accepted by b: one secret, one user table
    assert b.client(token).get("/api/v1/users").status_code == 200
    name = unique("shared")
    password = strong_password()
    r = a.admin.post("/api/v1/users", json={"username": name, "password": password, "roles": ["viewer"]})
    assert r.status_code == 201, describe(r)
    assert b.login(name, password)
    got = b.admin.get(f"/api/v1/users/{name}")
    assert got.status_code == 200 and got.json()["roles"] == ["viewer"], describe(got)
    # Search runs on PostgreSQL's full-text index and metric filters alike.
    model = unique("pgsearch")
    r = a.admin.post("/api/v1/models", json={"name": model, "description": "a shared gradient booster",
                                            "tags": ["tabular"]})
    assert r.status_code == 201, describe(r)
    push(a.admin, model, models.torchscript_mlp(tmp_path / "m.pt"), "torchscript", MLP_SIG)
    found = b.admin.get("/api/v1/model-versions/search", params={"q": "booster shared"})
    assert found.status_code == 200, describe(found)
    assert [v["model"] for v in found.json()["versions"]] == [model]
    none = b.admin.get("/api/v1/model-versions/search", params={"q": "booster absent"})
    assert none.status_code == 200 and none.json()["versions"] == [], describe(none)


def test_the_same_change_raced_on_both_lands_once(pair, tmp_path):
    a, b = pair
    # Users: both create one name at once.
    for _ in range(3):
        name = unique("racer")
        body = {"username": name, "password": strong_password(), "roles": ["viewer"]}
        codes = sorted(r.status_code for r in race(lambda: a.admin.post("/api/v1/users", json=body),
                                                     lambda: b.admin.post("/api/v1/users", json=body)))
        assert codes == [201, 409], codes

    # Aliases: both move production from version 1, to 2 and to 3.
    model = create_model(a.admin)
    for seed in (1, 2, 3):
        push(a.admin, model, models.torchscript_mlp(tmp_path / f"m{seed}.pt", seed=seed), "torchscript", MLP_SIG)
    path = f"/api/v1/models/{model}/aliases/production"
    assert a.admin.put(path, json={"version": 1}).status_code == 200
    answers = race(lambda: a.admin.put(path, json={"version": 2, "from_version": 1}),
                   lambda: b.admin.put(path, json={"version": 3, "from_version": 1}))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 409], [describe(r) for r in answers]
    winner = 2 if answers[0].status_code == 200 else 3
    for srv in (a, b):
        assert srv.admin.get(f"/api/v1/models/{model}").json()["aliases"]["production"] == winner
    history = b.admin.get(f"/api/v1/models/{model}/aliases").json()["history"]
    assert len(history) == 2, history  # the first set and the race's one move, not two

    # Deployments: both create one name at once.
    name = unique("dep")
    body = {"name": name, "model": model, "version": 1}
    answers = race(lambda: a.admin.post("/api/v1/deployments", json=body),
                   lambda: b.admin.post("/api/v1/deployments", json=body))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 409], [describe(r) for r in answers]


def test_a_deployment_made_on_one_is_served_changed_and_dropped_on_the_other(pair, tmp_path):
    a, b = pair
    model = create_model(a.admin)
    v1 = models.torchscript_mlp(tmp_path / "v1.pt", seed=1)
    v2 = models.torchscript_mlp(tmp_path / "v2.pt", seed=2)
    push(a.admin, model, v1, "torchscript", MLP_SIG)
    push(a.admin, model, v2, "torchscript", MLP_SIG)
    dep = deploy(a.admin, model)["name"]

    def served_by_b(reference):
        r = infer(b.admin, dep, "features", MLP_X)
        if r.status_code != 200:
            return False
        try:
            assert_matches(output_array(r.json()), reference)
            return True
        except AssertionError:
            return False

    wait_for(lambda: served_by_b(models.torch_reference(v1, MLP_X)), 30, "b to serve the deployment a made")
    r = a.admin.patch(f"/api/v1/deployments/{dep}", json={"version": 2})
    assert r.status_code == 200, describe(r)
    wait_for(lambda: served_by_b(models.torch_reference(v2, MLP_X)), 30, "b to follow a's change of version")
    # A change made on b from a copy a has moved past is refused, not lost: b follows first.
    assert b.admin.get(f"/api/v1/deployments/{dep}").json()["version"] == 2
    r = a.admin.delete(f"/api/v1/deployments/{dep}")
    assert r.status_code == 204, describe(r)
    wait_for(lambda: b.admin.get(f"/api/v1/deployments/{dep}").status_code == 404, 30,
             "b to drop the deployment a deleted")


def test_while_postgresql_is_away_requests_fail_cleanly_and_it_recovers(make_server, tmp_path_factory):
    import tempfile
    from pathlib import Path
    pg = PostgresServer(Path(tempfile.mkdtemp(prefix="aimass-e2e-pg-own-")))
    try:
        srv = make_server(env={"AIMASS_STORAGE_DRIVER": "postgres", "AIMASS_STORAGE_DSN": pg.database("aimass"),
                               "AIMASS_AUTH_JWT_SECRET": JWT_SECRET})
        c = srv.admin
        assert c.post("/api/v1/models", json={"name": unique("before")}).status_code == 201
        pg.stop()
        ready = srv.anonymous.get("/readyz")
        assert ready.status_code == 503, describe(ready)
        assert ready.json()["error"]["message"] == "metadata store unreachable"
        r = c.post("/api/v1/models", json={"name": unique("during")})
        assert r.status_code == 503, describe(r)  # refused, never a half-made model
        assert "\n" not in r.json()["error"]["message"]
        time.sleep(1.2)  # past the token cache: authentication itself needs the store now
        r = c.get("/api/v1/models")
        assert r.status_code == 503, describe(r)
        assert r.headers.get("Retry-After"), describe(r)
        pg.resume()
        wait_for(lambda: srv.anonymous.get("/readyz").status_code == 200, 30, "readiness after PostgreSQL is back")
        name = unique("after")
        r = c.post("/api/v1/models", json={"name": name})
        assert r.status_code == 201, describe(r)
        assert c.get(f"/api/v1/models/{name}").status_code == 200
    finally:
        pg.remove()
