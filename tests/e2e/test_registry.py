"""The model library: models, versions validated by their runtime, aliases, downloads.
Every artifact is a real model file made in the test (see models.py)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

import models
from conftest import assert_error, describe, unique

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("models")
    return {
        "torchscript": models.torchscript_mlp(d / "mlp.pt").read_bytes(),
        "onnx": models.onnx_mlp(d / "mlp.onnx").read_bytes(),
        "xgboost": models.xgboost_model(d / "model.json").read_bytes(),
        "xgboost2": models.xgboost_model(d / "model2.json", rounds=7).read_bytes(),
    }


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def create_model(client, name=None, **fields) -> str:
    name = name or unique("model")
    resp = client.post("/api/v1/models", json={"name": name, **fields})
    assert resp.status_code == 201, describe(resp)
    return name


def push(client, model, data, framework, metadata=None):
    headers = dict(OCTETS)
    if metadata is not None:
        headers["X-Model-Metadata"] = json.dumps(metadata)
    return client.post(f"/api/v1/models/{model}/versions?framework={framework}", data=data,
                       headers=headers)


@pytest.mark.parametrize("framework", ["torchscript", "onnx", "xgboost"])
def test_a_real_model_is_validated_ready_and_downloads_byte_identical(server, artifacts, framework):
    model = create_model(server.admin)
    resp = push(server.admin, model, artifacts[framework], framework)
    assert resp.status_code == 201, describe(resp)
    v = resp.json()
    assert v["status"] == "ready" and v["version"] == 1 and v["framework"] == framework
    assert v["digest"] == sha(artifacts[framework]) and v["size"] == len(artifacts[framework])
    got = server.admin.get(f"/api/v1/models/{model}/versions/1/artifact")
    assert got.status_code == 200
    assert got.content == artifacts[framework]
    assert got.headers["X-Content-Sha256"] == hashlib.sha256(artifacts[framework]).hexdigest()


def test_torchscript_signature_is_inferred_from_forward(server, artifacts):
    model = create_model(server.admin)
    v = push(server.admin, model, artifacts["torchscript"], "torchscript").json()
    assert [t["name"] for t in v["signature"]["inputs"]] == ["features"]


def test_declared_signature_is_kept_when_it_matches(server, artifacts):
    model = create_model(server.admin)
    sig = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
           "outputs": [{"name": "probs", "datatype": "FP32", "shape": [-1, 3]}]}
    resp = push(server.admin, model, artifacts["torchscript"], "torchscript",
                {"signature": sig, "metrics": {"accuracy": 0.91}, "lineage": {"dataset": "iris@1"}})
    assert resp.status_code == 201, describe(resp)
    v = resp.json()
    assert v["signature"] == sig
    assert v["metrics"] == {"accuracy": 0.91} and v["lineage"] == {"dataset": "iris@1"}


def test_declared_signature_that_contradicts_the_artifact_fails(server, artifacts):
    model = create_model(server.admin)
    resp = push(server.admin, model, artifacts["torchscript"], "torchscript",
                {"signature": {"inputs": [{"name": "pixels"}]}})
    assert_error(resp, 422, "unprocessable")
    assert "features" in resp.json()["error"]["message"]
    assert resp.json()["error"]["version"]["status"] == "failed"


@pytest.mark.parametrize("case", ["truncated", "garbage", "renamed-extension"])
@pytest.mark.parametrize("framework", ["torchscript", "onnx", "xgboost"])
def test_a_broken_artifact_ends_failed_with_a_reason_never_ready(server, artifacts, framework, case):
    data = {
        "truncated": artifacts[framework][: len(artifacts[framework]) // 2],
        "garbage": os.urandom(2048),
        # another framework's file under this framework's name
        "renamed-extension": artifacts["onnx" if framework != "onnx" else "torchscript"],
    }[case]
    model = create_model(server.admin)
    resp = push(server.admin, model, data, framework)
    assert_error(resp, 422, "unprocessable")
    reason = resp.json()["error"]["message"]
    assert reason.startswith("not a loadable")
    assert "/blobs/" not in reason, "the server's paths must not leak"
    shown = server.admin.get(f"/api/v1/models/{model}/versions/1").json()
    assert shown["status"] == "failed" and shown["status_reason"] == reason
    # A failed version can be neither downloaded nor aliased.
    assert_error(server.admin.get(f"/api/v1/models/{model}/versions/1/artifact"), 409, "conflict")
    assert_error(server.admin.put(f"/api/v1/models/{model}/aliases/staging", json={"version": 1}),
                 409, "conflict")


def test_unknown_framework_and_empty_artifact_are_400(server, artifacts):
    model = create_model(server.admin)
    assert_error(push(server.admin, model, artifacts["onnx"], "tensorflow"), 400, "bad_request")
    assert_error(push(server.admin, model, b"", "onnx"), 400, "bad_request")
    assert server.admin.get(f"/api/v1/models/{model}/versions").json()["versions"] == []


@pytest.mark.parametrize("name", ["../etc", "/abs", "a/b", "UPPER", "a\x00b", "", "x" * 129, ".hidden"])
def test_path_tricks_in_model_names_are_400(server, name):
    assert_error(server.admin.post("/api/v1/models", json={"name": name}), 400, "bad_request")


@pytest.mark.parametrize("path", ["/api/v1/models/..%2Fetc", "/api/v1/models/%2Fabs/versions",
                                  "/api/v1/models/a%00b"])
def test_path_tricks_in_urls_are_400(server, path):
    assert_error(server.admin.get(path), 400, "bad_request")


def test_identical_artifacts_are_stored_once(server, artifacts):
    a, b = create_model(server.admin), create_model(server.admin)
    va = push(server.admin, a, artifacts["onnx"], "onnx").json()
    vb = push(server.admin, b, artifacts["onnx"], "onnx").json()
    assert va["digest"] == vb["digest"]
    objects = list((server.data_dir / "blobs" / "objects").rglob(va["digest"][7:]))
    assert len(objects) == 1


def test_versions_are_numbered_monotonically_and_never_reused(server, artifacts):
    model = create_model(server.admin)
    for expected in (1, 2, 3):
        assert push(server.admin, model, artifacts["xgboost"], "xgboost").json()["version"] == expected
    assert server.admin.delete(f"/api/v1/models/{model}/versions/3").status_code == 204
    assert_error(server.admin.get(f"/api/v1/models/{model}/versions/3"), 404, "not_found")
    assert push(server.admin, model, artifacts["xgboost"], "xgboost").json()["version"] == 4
    listed = [v["version"] for v in server.admin.get(f"/api/v1/models/{model}/versions").json()["versions"]]
    assert listed == [4, 2, 1]


def test_model_card_front_matter_becomes_fields(server):
    card = "---\nlicense: apache-2.0\ntask: text-classification\ntags: [nlp, demo]\n" \
           "metrics: {accuracy: 0.93}\ndatasets: [clinc150]\n---\n# Intent classifier\n"
    name = create_model(server.admin, description=card)
    m = server.admin.get(f"/api/v1/models/{name}").json()
    assert m["task"] == "text-classification"
    assert m["tags"] == ["nlp", "demo"]
    assert m["card"]["license"] == "apache-2.0"
    assert m["card"]["metrics"] == {"accuracy": 0.93}
    assert m["card"]["datasets"] == ["clinc150"]
    assert m["description"] == card


def test_unknown_task_and_duplicate_model_are_rejected(server):
    assert_error(server.admin.post("/api/v1/models", json={"name": unique("m"), "task": "magic"}),
                 400, "bad_request")
    name = create_model(server.admin)
    assert_error(server.admin.post("/api/v1/models", json={"name": name}), 409, "conflict")


def test_alias_move_is_recorded_and_download_by_alias_follows_it(server, artifacts):
    model = create_model(server.admin)
    push(server.admin, model, artifacts["xgboost"], "xgboost")
    push(server.admin, model, artifacts["xgboost2"], "xgboost")
    assert server.admin.put(f"/api/v1/models/{model}/aliases/champion", json={"version": 1}).status_code == 200
    assert server.admin.get(f"/api/v1/models/{model}@champion/artifact").content == artifacts["xgboost"]
    moved = server.admin.put(f"/api/v1/models/{model}/aliases/champion", json={"version": 2})
    assert moved.json()["from_version"] == 1 and moved.json()["to_version"] == 2
    got = server.admin.get(f"/api/v1/models/{model}@champion/artifact")
    assert got.content == artifacts["xgboost2"] and got.headers["X-Model-Version"] == "2"
    hist = server.admin.get(f"/api/v1/models/{model}/aliases").json()
    assert hist["aliases"] == {"champion": 2}
    assert [(h["from_version"], h["to_version"]) for h in hist["history"]] == [(1, 2), (None, 1)]
    # An aliased version cannot be deleted until the alias moves.
    assert_error(server.admin.delete(f"/api/v1/models/{model}/versions/2"), 409, "conflict")


def test_concurrent_reader_sees_old_or_new_never_broken(server, artifacts):
    model = create_model(server.admin)
    push(server.admin, model, artifacts["xgboost"], "xgboost")
    push(server.admin, model, artifacts["xgboost2"], "xgboost")
    server.admin.put(f"/api/v1/models/{model}/aliases/staging", json={"version": 1})
    allowed = {artifacts["xgboost"], artifacts["xgboost2"]}
    failures, reads = [], [0]
    stop = threading.Event()

    def reader():
        client = server.client(server.admin_token)
        while not stop.is_set():
            r = client.get(f"/api/v1/models/{model}@staging/artifact")
            reads[0] += 1
            if r.status_code != 200 or r.content not in allowed:
                failures.append((r.status_code, len(r.content)))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(20):
        server.admin.put(f"/api/v1/models/{model}/aliases/staging", json={"version": 1 + (i % 2 == 0)})
    stop.set()
    t.join()
    assert reads[0] > 0 and not failures


def test_viewer_cannot_push_and_developer_cannot_move_production(server, artifacts):
    model = create_model(server.admin)
    push(server.admin, model, artifacts["onnx"], "onnx")
    viewer = server.create_user(["viewer"], prefix="regviewer")
    assert_error(push(viewer.client, model, artifacts["onnx"], "onnx"), 403, "forbidden")
    assert viewer.client.get(f"/api/v1/models/{model}").status_code == 200

    dev = server.create_user(["developer"], prefix="regdev")
    assert push(dev.client, model, artifacts["onnx"], "onnx").status_code == 201
    assert dev.client.put(f"/api/v1/models/{model}/aliases/staging", json={"version": 1}).status_code == 200
    assert_error(dev.client.put(f"/api/v1/models/{model}/aliases/production", json={"version": 1}),
                 403, "forbidden")
    assert server.admin.put(f"/api/v1/models/{model}/aliases/production", json={"version": 1}).status_code == 200
    assert_error(dev.client.delete(f"/api/v1/models/{model}/aliases/production"), 403, "forbidden")


def test_archive_and_rename(server, artifacts):
    model = create_model(server.admin)
    push(server.admin, model, artifacts["onnx"], "onnx")
    new = unique("renamed")
    assert server.admin.post(f"/api/v1/models/{model}/rename", json={"name": new}).status_code == 200
    assert_error(server.admin.get(f"/api/v1/models/{model}"), 404, "not_found")
    assert server.admin.get(f"/api/v1/models/{new}/versions/1/artifact").content == artifacts["onnx"]
    assert server.admin.patch(f"/api/v1/models/{new}", json={"archived": True}).json()["archived"]
    assert_error(push(server.admin, new, artifacts["onnx"], "onnx"), 409, "conflict")
    names = [m["name"] for m in server.admin.get("/api/v1/models?page_size=1000").json()["models"]]
    assert new not in names
    names = [m["name"] for m in server.admin.get("/api/v1/models?archived=true&page_size=1000").json()["models"]]
    assert new in names


def test_gc_keeps_live_versions_and_collects_deleted_ones(server):
    model = create_model(server.admin)
    live, dead = models_bytes(1), models_bytes(2)
    push(server.admin, model, live, "xgboost")
    push(server.admin, model, dead, "xgboost")
    assert server.admin.delete(f"/api/v1/models/{model}/versions/2").status_code == 204
    assert server.admin.post("/api/v1/blobs/gc", json={"grace_s": 0}).status_code == 200
    blobs = server.data_dir / "blobs" / "objects"
    assert list(blobs.rglob(hashlib.sha256(live).hexdigest()))
    assert not list(blobs.rglob(hashlib.sha256(dead).hexdigest()))
    assert server.admin.get(f"/api/v1/models/{model}/versions/1/artifact").content == live


def models_bytes(rounds: int) -> bytes:
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        return models.xgboost_model(Path(d) / "m.json", rounds=10 + rounds).read_bytes()


def test_kill_9_during_upload_leaves_no_broken_version(make_server, artifacts):
    srv = make_server()
    model = create_model(srv.admin)
    assert push(srv.admin, model, artifacts["onnx"], "onnx").status_code == 201
    u = urlparse(srv.url)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    sock.sendall(f"POST /api/v1/models/{model}/versions?framework=onnx HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: Bearer {srv.admin_token}\r\nContent-Length: 10000000\r\n\r\n".encode())
    sock.sendall(os.urandom(3_000_000))
    time.sleep(0.5)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.returncode = srv.proc.returncode
    sock.close()
    tmp = srv.data_dir / "blobs" / "tmp"
    assert any(tmp.iterdir()), "the killed upload should have left its spool file"

    again = make_server(data_dir=srv.data_dir)
    assert not any(tmp.iterdir()), "restart must clean the dead upload's temp file"
    versions = again.admin.get(f"/api/v1/models/{model}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1]
    for v in versions:
        assert v["status"] == "ready"
        got = again.admin.get(f"/api/v1/models/{model}/versions/{v['version']}/artifact")
        assert got.status_code == 200 and "sha256:" + hashlib.sha256(got.content).hexdigest() == v["digest"]


# -- search -------------------------------------------------------------------------------

SEARCH = "/api/v1/model-versions/search"


@pytest.fixture(scope="module")
def catalogue(server, artifacts):
    """Three models with known tasks, tags, metrics and aliases, under a unique prefix."""
    p = unique("cat")
    specs = [
        (f"{p}-vision", "image-classification", ["vision", "cnn"], "Recognises garments in photos",
         [("torchscript", {"accuracy": 0.95}), ("onnx", {"accuracy": 0.85})]),
        (f"{p}-intent", "text-classification", ["nlp"], "Routes customer questions to intents",
         [("xgboost", {"accuracy": 0.91, "f1": 0.7})]),
        (f"{p}-sales", "tabular-regression", ["forecast"], "Predicts weekly sales",
         [("xgboost", {"rmse": 12.5})]),
    ]
    for name, task, tags, card, versions in specs:
        create_model(server.admin, name, task=task, tags=tags, description=f"# {name}\n{card}\n")
        for framework, metrics in versions:
            data = artifacts["xgboost2" if name.endswith("sales") else framework]
            resp = push(server.admin, name, data, framework, {"metrics": metrics})
            assert resp.status_code == 201, describe(resp)
    server.admin.put(f"/api/v1/models/{p}-vision/aliases/production", json={"version": 1})
    return p


def search(server, **params):
    resp = server.admin.get(SEARCH, params={"page_size": 1000, **params})
    assert resp.status_code == 200, describe(resp)
    return [(v["model"], v["version"]) for v in resp.json()["versions"]]


def test_search_by_task_tag_framework_and_alias(server, catalogue):
    p = catalogue
    assert search(server, filter=f"name LIKE '{p}-%' AND task = 'text-classification'") == [(f"{p}-intent", 1)]
    assert set(search(server, filter=f"name LIKE '{p}-%' AND tag = 'vision'")) == {(f"{p}-vision", 1), (f"{p}-vision", 2)}
    assert search(server, filter=f"name LIKE '{p}-%' AND framework = 'onnx'") == [(f"{p}-vision", 2)]
    assert search(server, filter=f"name LIKE '{p}-%' AND alias = 'production'") == [(f"{p}-vision", 1)]


def test_search_metrics_with_and_or_parentheses_and_not(server, catalogue):
    p = catalogue
    got = search(server, filter=f"name LIKE '{p}-%' AND (metrics.accuracy > 0.9 OR metrics.rmse < 20)",
                 order_by="name asc")
    assert got == [(f"{p}-intent", 1), (f"{p}-sales", 1), (f"{p}-vision", 1)]
    got = search(server, filter=f"name LIKE '{p}-%' AND NOT tag = 'vision' AND metrics.f1 >= 0.7")
    assert got == [(f"{p}-intent", 1)]


def test_search_orders_by_a_metric(server, catalogue):
    p = catalogue
    got = search(server, filter=f"name LIKE '{p}-%' AND metrics.accuracy > 0", order_by="metrics.accuracy desc")
    assert got == [(f"{p}-vision", 1), (f"{p}-intent", 1), (f"{p}-vision", 2)]


def test_full_text_over_name_card_and_tags(server, catalogue):
    p = catalogue
    assert {m for m, _ in search(server, q="garments", filter=f"name LIKE '{p}-%'")} == {f"{p}-vision"}
    assert {m for m, _ in search(server, q="customer intents", filter=f"name LIKE '{p}-%'")} == {f"{p}-intent"}
    assert {m for m, _ in search(server, q="forecast", filter=f"name LIKE '{p}-%'")} == {f"{p}-sales"}
    # FTS syntax in the query is taken literally, never as operators.
    assert search(server, q='garments" OR "sales', filter=f"name LIKE '{p}-%'") == []


def test_search_pages(server, catalogue):
    p = catalogue
    first = server.admin.get(SEARCH, params={"filter": f"name LIKE '{p}-%'", "page_size": 2}).json()
    assert len(first["versions"]) == 2 and first["next_page_token"]
    rest = server.admin.get(SEARCH, params={"filter": f"name LIKE '{p}-%'", "page_size": 2,
                                            "page_token": first["next_page_token"]}).json()
    assert len(rest["versions"]) == 2
    seen = {(v["model"], v["version"]) for v in first["versions"] + rest["versions"]}
    assert len(seen) == 4


@pytest.mark.parametrize("bad", ["task =", "metrics.acc > 'x'", "(task = 'a'", "nosuch = 1",
                                 "task > 'a'", "name = 'x'; DROP TABLE registry_models",
                                 "metrics.a'b > 1", "tag LIKE 'x'"])
def test_bad_filters_are_400_and_change_nothing(server, catalogue, bad):
    assert_error(server.admin.get(SEARCH, params={"filter": bad}), 400, "bad_request")
    assert search(server, filter=f"name LIKE '{catalogue}-%'")  # the tables are still there


# -- model-level grants ---------------------------------------------------------------------


def test_grants_open_one_model_step_by_step(server, artifacts):
    model = create_model(server.admin)
    push(server.admin, model, artifacts["onnx"], "onnx")
    other = create_model(server.admin)
    nobody_role = server.create_role(["apikeys:read"], prefix="nomodels")
    user = server.create_user([nobody_role], prefix="granted")
    c = user.client

    assert_error(c.get(f"/api/v1/models/{model}"), 403, "forbidden")
    grant = lambda level: server.admin.put(f"/api/v1/models/{model}/grants/user:{user.username}",
                                           json={"level": level})
    assert grant("read").status_code == 200
    assert c.get(f"/api/v1/models/{model}/versions/1/artifact").content == artifacts["onnx"]
    assert_error(c.get(f"/api/v1/models/{other}"), 403, "forbidden")  # only that model
    assert_error(push(c, model, artifacts["onnx"], "onnx"), 403, "forbidden")

    assert grant("write").status_code == 200
    assert push(c, model, artifacts["onnx"], "onnx").status_code == 201
    assert c.put(f"/api/v1/models/{model}/aliases/staging", json={"version": 1}).status_code == 200
    assert_error(c.put(f"/api/v1/models/{model}/aliases/production", json={"version": 1}), 403, "forbidden")
    assert_error(c.put(f"/api/v1/models/{model}/grants/user:{user.username}", json={"level": "manage"}),
                 403, "forbidden")

    assert grant("manage").status_code == 200
    assert c.put(f"/api/v1/models/{model}/aliases/production", json={"version": 1}).status_code == 200
    listed = server.admin.get(f"/api/v1/models/{model}/grants").json()
    assert listed["owner"] == "admin"
    assert listed["grants"][0]["subject"] == f"user:{user.username}" and listed["grants"][0]["level"] == "manage"

    assert server.admin.delete(f"/api/v1/models/{model}/grants/user:{user.username}").status_code == 204
    assert_error(c.get(f"/api/v1/models/{model}"), 403, "forbidden")


def test_a_role_grant_reaches_every_member(server, artifacts):
    model = create_model(server.admin)
    team = server.create_role(["apikeys:read"], prefix="team")
    member = server.create_user([team], prefix="member")
    assert server.admin.put(f"/api/v1/models/{model}/grants/role:{team}", json={"level": "write"}).status_code == 200
    assert push(member.client, model, artifacts["xgboost"], "xgboost").status_code == 201


def test_owners_manage_their_own_models_only(server, artifacts):
    dev = server.create_user(["developer"], prefix="owner")
    mine = create_model(dev.client)
    push(dev.client, mine, artifacts["xgboost"], "xgboost")
    assert dev.client.put(f"/api/v1/models/{mine}/aliases/production", json={"version": 1}).status_code == 200
    theirs = create_model(server.admin)
    push(server.admin, theirs, artifacts["xgboost"], "xgboost")
    assert_error(dev.client.put(f"/api/v1/models/{theirs}/aliases/production", json={"version": 1}),
                 403, "forbidden")


@pytest.mark.parametrize("subject,level", [("alice", "read"), ("user:..%2Fx", "read"), ("group:a", "read"),
                                           ("user:alice", "admin"), ("user:alice", "")])
def test_bad_grants_are_400(server, subject, level):
    model = create_model(server.admin)
    assert_error(server.admin.put(f"/api/v1/models/{model}/grants/{subject}", json={"level": level}),
                 400, "bad_request")


def test_onnx_signature_is_read_from_the_graph(server, artifacts):
    model = create_model(server.admin)
    v = push(server.admin, model, artifacts["onnx"], "onnx").json()
    assert v["signature"] == {
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "probs", "datatype": "FP32", "shape": [-1, 3]}],
    }
    wrong = push(server.admin, model, artifacts["onnx"], "onnx",
                 {"signature": {"inputs": [{"name": "features", "datatype": "INT64", "shape": [-1, 4]}],
                                "outputs": [{"name": "probs"}]}})
    assert_error(wrong, 422, "unprocessable")
    assert "INT64" in wrong.json()["error"]["message"] and "FP32" in wrong.json()["error"]["message"]
    shape = push(server.admin, model, artifacts["onnx"], "onnx",
                 {"signature": {"inputs": [{"name": "features", "shape": [-1, 5]}],
                                "outputs": [{"name": "probs"}]}})
    assert_error(shape, 422, "unprocessable")


def test_xgboost_signature_is_the_feature_count(server, artifacts):
    model = create_model(server.admin)
    v = push(server.admin, model, artifacts["xgboost"], "xgboost").json()
    assert v["signature"]["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3]}]
    ok = push(server.admin, model, artifacts["xgboost"], "xgboost",
              {"signature": {"inputs": [{"name": "rows", "datatype": "FP32", "shape": [-1, 3]}]}})
    assert ok.status_code == 201, describe(ok)
    assert ok.json()["signature"]["inputs"][0]["name"] == "rows"
    wrong = push(server.admin, model, artifacts["xgboost"], "xgboost",
                 {"signature": {"inputs": [{"name": "rows", "shape": [-1, 7]}]}})
    assert_error(wrong, 422, "unprocessable")


# -- multipart uploads ----------------------------------------------------------------------


def test_multipart_upload_with_a_metadata_part(server, artifacts):
    model = create_model(server.admin)
    meta = {"metrics": {"accuracy": 0.97}, "lineage": {"dataset": "fashion-mnist@1"}}
    resp = server.admin.post(f"/api/v1/models/{model}/versions?framework=onnx", files={
        "metadata": (None, json.dumps(meta), "application/json"),
        "file": ("mlp.onnx", artifacts["onnx"], "application/octet-stream"),
    })
    assert resp.status_code == 201, describe(resp)
    v = resp.json()
    assert v["metrics"] == meta["metrics"] and v["lineage"] == meta["lineage"]
    assert v["digest"] == sha(artifacts["onnx"]) and v["size"] == len(artifacts["onnx"])
    got = server.admin.get(f"/api/v1/models/{model}/versions/{v['version']}/artifact")
    assert got.content == artifacts["onnx"]
    # Nothing of the upload is left behind in the temp directory.
    assert not any((server.data_dir / "blobs" / "tmp").iterdir())


def test_multipart_failures_are_400_or_422_and_leave_nothing(server, artifacts):
    model = create_model(server.admin)
    url = f"/api/v1/models/{model}/versions?framework=onnx"
    no_file = server.admin.post(url, files={"metadata": (None, "{}", "application/json")})
    assert_error(no_file, 400, "bad_request")
    bad_meta = server.admin.post(url, files={"metadata": (None, "{nope", "application/json"),
                                             "file": ("m.onnx", artifacts["onnx"])})
    assert_error(bad_meta, 400, "invalid_json")
    broken = server.admin.post(url, data=b"--xyz\r\nnot headers\r\n", headers={
        "Content-Type": "multipart/form-data; boundary=xyz"})
    assert_error(broken, 400, "bad_request")
    junk = server.admin.post(url, files={"file": ("m.onnx", b"\x00" * 100)})
    assert_error(junk, 422, "unprocessable")
    assert not any((server.data_dir / "blobs" / "tmp").iterdir())
