"""Experiment tracking, black-box: experiments and runs; params, tags, metric histories and
inputs/outputs logged in batches (atomic: a refused batch leaves nothing); search with the
filter language checked against the same selection computed here; comparison; artifacts
(Range, path tricks, replacement, real deletion with the blobs collected); access control;
events; and everything surviving a restart."""
from __future__ import annotations

import hashlib
import json
import random

import pytest
import requests

from conftest import assert_error, describe, unique
from test_events import read_events

EXP = "/api/v1/experiments"
RUNS = "/api/v1/runs"


def experiment(client, **body) -> str:
    name = body.pop("name", None) or unique("exp")
    resp = client.post(EXP, json={"name": name, **body})
    assert resp.status_code == 201, describe(resp)
    return name


def start_run(client, exp: str, **body) -> dict:
    resp = client.post(RUNS, json={"experiment": exp, **body})
    assert resp.status_code == 201, describe(resp)
    return resp.json()


def log(client, run_id: int, status: int = 200, **body):
    resp = client.post(f"{RUNS}/{run_id}/log", json=body)
    assert resp.status_code == status, describe(resp)
    return resp


def history(client, run_id: int, key: str, page_size: int = 25000) -> list[dict]:
    points, token = [], ""
    while True:
        resp = client.get(f"{RUNS}/{run_id}/metrics/{key}", params={"page_size": page_size, "page_token": token})
        assert resp.status_code == 200, describe(resp)
        body = resp.json()
        points += body["metrics"]
        token = body["next_page_token"]
        if not token:
            return points


def search(client, **params) -> list[dict]:
    resp = client.get(RUNS, params=params)
    assert resp.status_code == 200, describe(resp)
    return resp.json()["runs"]


def test_experiments_create_list_show_update_and_refuse_bad_names(server):
    a = server.admin
    name = experiment(a, description="first try")
    assert_error(a.post(EXP, json={"name": name}), 409, "conflict")
    for bad in ("Upper", "../x", "", "a" * 200, "sp ace"):
        assert_error(a.post(EXP, json={"name": bad}), 400, "bad_request")
    e = a.get(f"{EXP}/{name}").json()
    assert e["name"] == name and e["description"] == "first try" and e["owner"] == "admin" and e["run_count"] == 0
    start_run(a, name)
    assert a.get(f"{EXP}/{name}").json()["run_count"] == 1
    assert a.patch(f"{EXP}/{name}", json={"description": "second"}).json()["description"] == "second"
    names = [x["name"] for x in a.get(EXP, params={"page_size": 1000}).json()["experiments"]]
    assert name in names and names == sorted(names)
    assert_error(a.get(f"{EXP}/{unique('none')}"), 404, "not_found")
    assert_error(a.post(RUNS, json={"experiment": unique("none")}), 404, "not_found")


def test_a_run_logs_params_tags_metric_histories_and_links_in_batches(server):
    a = server.admin
    exp = experiment(a)
    run = start_run(a, exp, name="baseline", params={"lr": 0.1, "optimizer": "sgd"}, tags={"team": "vision"})
    assert run["status"] == "running" and run["end_time"] is None and run["name"] == "baseline"
    assert run["params"] == {"lr": "0.1", "optimizer": "sgd"} and run["tags"] == {"team": "vision"}
    rid = run["id"]
    rng = random.Random(7)
    logged = {"loss": [], "accuracy": []}
    for epoch in range(5):  # five calls, each a page of steps for both metrics
        batch = []
        for step in range(epoch * 300, (epoch + 1) * 300):
            for key in logged:
                p = {"key": key, "value": rng.random(), "step": step, "timestamp": 1700000000000 + step}
                logged[key].append(p)
                batch.append(p)
        assert log(a, rid, metrics=batch).json() == {"run": rid, "metrics": 600}
    log(a, rid, params=[{"key": "epochs", "value": "5"}], tags={"team": "vision-2", "stage": "dev"},
        inputs=[{"dataset": "fmnist", "version": 3}], outputs=[{"model": "cnn", "version": 1}])
    # The history comes back whole, in the order logged, across pages that split the chunks.
    for key, points in logged.items():
        got = history(a, rid, key, page_size=777)
        assert [(p["step"], p["value"], p["timestamp"]) for p in got] == \
               [(p["step"], p["value"], p["timestamp"]) for p in points]
    r = a.get(f"{RUNS}/{rid}").json()
    for key, points in logged.items():
        m = r["metrics"][key]
        values = [p["value"] for p in points]
        assert m == {"value": points[-1]["value"], "step": 1499, "timestamp": 1700000001499,
                     "min": min(values), "max": max(values), "count": 1500}, m
    assert r["params"] == {"lr": "0.1", "optimizer": "sgd", "epochs": "5"}
    assert r["tags"] == {"team": "vision-2", "stage": "dev"}
    assert r["inputs"] == [{"dataset": "fmnist", "version": 3}] and r["outputs"] == [{"model": "cnn", "version": 1}]
    # The latest value is the one at the highest step, whatever order the points came in.
    log(a, rid, metrics=[{"key": "late", "value": 9.0, "step": 10}, {"key": "late", "value": 1.0, "step": 2}])
    assert a.get(f"{RUNS}/{rid}").json()["metrics"]["late"]["value"] == 9.0
    # Metric keys may hold slashes (system/…), read back through the same path.
    log(a, rid, metrics=[{"key": "system/cpu_utilization_percentage", "value": 12.5}])
    assert history(a, rid, "system/cpu_utilization_percentage")[0]["value"] == 12.5
    assert_error(a.get(f"{RUNS}/{rid}/metrics/nothing"), 404, "not_found")
    assert a.delete(f"{RUNS}/{rid}/tags/stage").status_code == 204
    assert "stage" not in a.get(f"{RUNS}/{rid}").json()["tags"]


def test_a_refused_batch_changes_nothing(server):
    a = server.admin
    exp = experiment(a)
    rid = start_run(a, exp, params={"lr": "0.1"})["id"]
    before = a.get(f"{RUNS}/{rid}").json()
    # A param cannot change; the metric and tag in the same call are not written either.
    resp = log(a, rid, 409, params={"lr": "0.2"}, metrics=[{"key": "acc", "value": 1}], tags={"t": "x"})
    assert_error(resp, 409, "conflict")
    bad_bodies = [
        {"metrics": [{"key": "acc", "value": "high"}]},
        {"metrics": [{"key": "acc"}]},
        {"metrics": [{"key": "a*b", "value": 1}]},
        {"metrics": [{"key": "acc", "value": 1, "step": 1.5}]},
        {"metrics": [{"key": "acc", "value": 1, "timestamp": -5}]},
        {"metrics": {"acc": 1}},
        {"params": {"k": {"nested": 1}}},
        {"params": {"x" * 300: "1"}},
        {"params": {"v": "x" * 6001}},
        {"inputs": [{"dataset": "../etc", "version": 1}]},
        {"inputs": [{"dataset": "d", "version": 0}]},
        {"outputs": [{"thing": "d", "version": 1}]},
        {"metric": []},
        {"params": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
        {"metrics": [{"key": "acc", "value": 1}] * 10001},
    ]
    for body in bad_bodies:
        assert_error(a.post(f"{RUNS}/{rid}/log", json=body), 400, "bad_request")
    assert_error(a.post(f"{RUNS}/{rid}/log", data=b'{"metrics": [{"key": "acc", "value": NaN}]}',
                        headers={"Content-Type": "application/json"}), 400, "invalid_json")
    assert a.get(f"{RUNS}/{rid}").json() == before
    assert_error(a.post(f"{RUNS}/999999999/log", json={"metrics": []}), 404, "not_found")
    assert_error(a.post(f"{RUNS}/abc/log", json={}), 400, "bad_request")
    assert_error(a.get(f"{RUNS}/-1"), 400, "bad_request")


def test_search_filters_and_orders_as_computed_here(server):
    a = server.admin
    exp, other = experiment(a), experiment(a)
    rng = random.Random(11)
    runs = []
    for i in range(60):
        lr = rng.choice(["0.1", "0.01", "0.001"])
        opt = rng.choice(["sgd", "adam"])
        r = start_run(a, exp if i % 6 else other, name=f"trial-{i}", params={"lr": lr, "opt": opt},
                      tags={"seed": str(i % 4)})
        acc = round(rng.random(), 4)
        metrics = [{"key": "accuracy", "value": acc, "step": 3}, {"key": "accuracy", "value": 0.0, "step": 1}]
        if i % 5:
            metrics.append({"key": "val loss", "value": round(rng.random(), 4), "step": 3})
        log(a, r["id"], metrics=metrics, inputs=[{"dataset": "mnist" if i % 2 else "cifar", "version": 1}])
        if i % 3 == 0:
            a.patch(f"{RUNS}/{r['id']}", json={"status": "FINISHED"})
        runs.append({"id": r["id"], "exp": exp if i % 6 else other, "lr": lr, "opt": opt, "acc": acc, "i": i,
                     "seed": str(i % 4), "done": i % 3 == 0, "dataset": "mnist" if i % 2 else "cifar",
                     "val": next((m["value"] for m in metrics if m["key"] == "val loss"), None)})
    mine = [r for r in runs if r["exp"] == exp]

    got = search(a, experiment=exp, filter="params.lr = '0.1' AND metrics.accuracy > 0.5",
                 order_by="metrics.accuracy DESC", page_size=1000)
    want = sorted((r for r in mine if r["lr"] == "0.1" and r["acc"] > 0.5), key=lambda r: (-r["acc"], -r["id"]))
    assert [g["id"] for g in got] == [w["id"] for w in want]
    assert all(g["params"]["lr"] == "0.1" and g["metrics"]["accuracy"]["value"] > 0.5 for g in got)

    def ids(**params):
        return {g["id"] for g in search(a, page_size=1000, experiment=f"{exp},{other}", **params)}

    assert ids(filter="params.opt != 'sgd' OR tags.seed = '2'") == \
           {r["id"] for r in runs if r["opt"] != "sgd" or r["seed"] == "2"}
    assert ids(filter="status = 'succeeded'") == {r["id"] for r in runs if r["done"]}
    assert ids(filter="attributes.status = 'FINISHED'") == {r["id"] for r in runs if r["done"]}
    assert ids(filter="metrics.`val loss` <= 0.5 AND NOT (params.lr LIKE '0.0%')") == \
           {r["id"] for r in runs if r["val"] is not None and r["val"] <= 0.5 and r["lr"] == "0.1"}
    assert ids(filter="dataset = 'mnist'") == {r["id"] for r in runs if r["dataset"] == "mnist"}
    assert ids(filter="name LIKE 'trial-1%'") == {r["id"] for r in runs if str(r["i"]).startswith("1")}
    assert ids(filter=f"experiment = '{other}'") == {r["id"] for r in runs if r["exp"] == other}
    # Runs without the metric sort last, either way.
    asc = search(a, experiment=exp, order_by="metrics.`val loss` asc", page_size=1000)
    with_val = sorted((r for r in mine if r["val"] is not None), key=lambda r: (r["val"], r["id"]))
    assert [g["id"] for g in asc][:len(with_val)] == [w["id"] for w in with_val]
    assert all("val loss" not in g["metrics"] for g in asc[len(with_val):])
    # Default order is newest first; pages walk it without gaps or repeats.
    seen, token = [], ""
    while True:
        resp = a.get(RUNS, params={"experiment": exp, "page_size": 7, "page_token": token}).json()
        seen += [r["id"] for r in resp["runs"]]
        token = resp["next_page_token"]
        if not token:
            break
    assert seen == sorted((r["id"] for r in mine), reverse=True)
    # The same search as a POST body.
    body = {"experiments": [exp], "filter": "params.lr = '0.1' AND metrics.accuracy > 0.5",
            "order_by": "metrics.accuracy DESC", "page_size": 1000}
    resp = a.post(f"{RUNS}/search", json=body)
    assert [g["id"] for g in resp.json()["runs"]] == [w["id"] for w in want], describe(resp)
    for bad in ("params.lr = ", "metrics.accuracy > 'high'", "params.lr > '1'", "bogus = 1", "(params.lr = '1'",
                "metrics.a*b > 1", "params.`x = '1'"):
        assert_error(a.get(RUNS, params={"filter": bad}), 400, "bad_request")
    assert_error(a.get(RUNS, params={"order_by": "drop table"}), 400, "bad_request")
    assert_error(a.get(RUNS, params={"experiment": unique("none")}), 404, "not_found")


def test_compare_marks_differing_params_and_best_runs(server):
    a = server.admin
    exp = experiment(a)
    r1 = start_run(a, exp, params={"lr": "0.1", "opt": "sgd"})["id"]
    r2 = start_run(a, exp, params={"lr": "0.01", "opt": "sgd"})["id"]
    r3 = start_run(a, exp, params={"lr": "0.1", "opt": "sgd", "dropout": "0.5"})["id"]
    log(a, r1, metrics=[{"key": "accuracy", "value": v, "step": s} for s, v in enumerate([0.5, 0.9, 0.7])] +
        [{"key": "loss", "value": 0.3}])
    log(a, r2, metrics=[{"key": "accuracy", "value": 0.8}, {"key": "loss", "value": 0.2}])
    log(a, r3, metrics=[{"key": "loss", "value": 0.4}, {"key": "f1", "value": 0.6}])
    resp = a.post(f"{RUNS}/compare", json={"runs": [r1, r2, r3]})
    assert resp.status_code == 200, describe(resp)
    c = resp.json()
    assert [r["id"] for r in c["runs"]] == [r1, r2, r3]
    params = {p["key"]: p for p in c["params"]}
    assert params["lr"] == {"key": "lr", "values": ["0.1", "0.01", "0.1"], "differs": True}
    assert params["opt"]["differs"] is False and params["dropout"]["values"] == [None, None, "0.5"]
    metrics = {m["key"]: m for m in c["metrics"]}
    acc = metrics["accuracy"]
    assert acc["goal"] == "max" and acc["last"] == [0.7, 0.8, None] and acc["best"] == [0.9, 0.8, None]
    assert acc["best_run"] == r1  # best over the history, not the last value
    assert metrics["loss"]["goal"] == "min" and metrics["loss"]["best_run"] == r2
    flipped = a.post(f"{RUNS}/compare", json={"runs": [r1, r2], "goals": {"accuracy": "min"}}).json()
    assert next(m for m in flipped["metrics"] if m["key"] == "accuracy")["best_run"] == r1  # its min 0.5 < 0.8
    assert_error(a.post(f"{RUNS}/compare", json={"runs": [r1, 999999999]}), 404, "not_found")
    for bad in ({"runs": []}, {"runs": [r1, r1]}, {"runs": "1,2"}, {"runs": [r1], "goals": {"accuracy": "up"}},
                {"runs": list(range(1, 102))}):
        assert_error(a.post(f"{RUNS}/compare", json=bad), 400, "bad_request")


def test_status_changes_set_the_end_time(server):
    a = server.admin
    rid = start_run(a, experiment(a))["id"]
    r = a.patch(f"{RUNS}/{rid}", json={"status": "failed", "name": "renamed", "description": "oom"}).json()
    assert r["status"] == "failed" and r["end_time"] and r["duration_ms"] >= 0 and r["name"] == "renamed"
    r = a.patch(f"{RUNS}/{rid}", json={"status": "running"}).json()
    assert r["end_time"] is None
    assert a.patch(f"{RUNS}/{rid}", json={"status": "KILLED"}).json()["status"] == "cancelled"
    for bad in ({"status": "exploded"}, {"name": ""}, {"status": 3}):
        assert_error(a.patch(f"{RUNS}/{rid}", json=bad), 400, "bad_request")
    assert_error(a.post(RUNS, json={"experiment": experiment(a), "status": "weird"}), 400, "bad_request")


def test_artifacts_store_download_replace_and_go_with_the_run(server):
    a = server.admin
    exp = experiment(a)
    rid = start_run(a, exp)["id"]
    other = start_run(a, exp)["id"]
    blob = bytes(random.Random(3).getrandbits(8) for _ in range(300_000))
    resp = a.put(f"{RUNS}/{rid}/artifacts/model/weights.bin", data=blob)
    assert resp.status_code == 201, describe(resp)
    art = resp.json()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    assert art["path"] == "model/weights.bin" and art["size"] == len(blob) and art["digest"] == digest
    assert a.put(f"{RUNS}/{rid}/artifacts/report.html", data=b"<script>alert(1)</script>").status_code == 201
    assert a.put(f"{RUNS}/{other}/artifacts/notes.txt", data=b"kept").status_code == 201
    listed = a.get(f"{RUNS}/{rid}/artifacts").json()["artifacts"]
    assert [x["path"] for x in listed] == ["model/weights.bin", "report.html"]
    got = a.get(f"{RUNS}/{rid}/artifacts/model/weights.bin")
    assert got.status_code == 200 and got.content == blob
    part = a.get(f"{RUNS}/{rid}/artifacts/model/weights.bin", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == blob[100:200]
    html = a.get(f"{RUNS}/{rid}/artifacts/report.html")
    assert html.headers["Content-Security-Policy"] == "sandbox" and html.headers["X-Content-Type-Options"] == "nosniff"
    for bad in ("../../etc/passwd", "a/../../b", "/abs", "dir/"):
        assert_error(a.put(f"{RUNS}/{rid}/artifacts/{bad}", data=b"x"), (400, 404))
    assert_error(a.put(f"{RUNS}/999999999/artifacts/x.txt", data=b"x"), 404, "not_found")
    # Replacing keeps the path, changes the bytes.
    assert a.put(f"{RUNS}/{rid}/artifacts/report.html", data=b"v2").json()["size"] == 2
    assert a.get(f"{RUNS}/{rid}/artifacts/report.html").content == b"v2"
    assert a.get(f"{RUNS}/{rid}").json()["artifact_count"] == 2
    # Deleting the run deletes it for real: its rows, then its blob at the next GC.
    assert a.delete(f"{RUNS}/{rid}").status_code == 204
    assert_error(a.get(f"{RUNS}/{rid}"), 404, "not_found")
    assert_error(a.get(f"{RUNS}/{rid}/artifacts/model/weights.bin"), 404, "not_found")
    gc = a.post("/api/v1/blobs/gc", json={"grace_s": 0})
    assert gc.status_code == 200 and gc.json()["deleted"] >= 2, describe(gc)
    assert_error(a.get(f"/api/v1/blobs/{digest}"), 404, "not_found")
    assert a.get(f"{RUNS}/{other}/artifacts/notes.txt").content == b"kept"
    # Deleting an experiment deletes its runs.
    assert a.delete(f"{EXP}/{exp}").status_code == 204
    assert_error(a.get(f"{RUNS}/{other}"), 404, "not_found")


def test_viewers_read_developers_write_strangers_are_refused(server):
    a = server.admin
    exp = experiment(a)
    rid = start_run(a, exp, params={"p": "1"})["id"]
    viewer = server.create_user(["viewer"]).client
    dev = server.create_user(["developer"]).client
    assert viewer.get(f"{RUNS}/{rid}").status_code == 200
    assert viewer.get(RUNS, params={"experiment": exp}).status_code == 200
    assert_error(viewer.post(f"{RUNS}/{rid}/log", json={"metrics": []}), 403, "forbidden")
    assert_error(viewer.post(EXP, json={"name": unique("exp")}), 403, "forbidden")
    assert_error(viewer.delete(f"{RUNS}/{rid}"), 403, "forbidden")
    assert_error(server.anonymous.get(f"{RUNS}/{rid}"), 401)
    assert_error(server.anonymous.put(f"{RUNS}/{rid}/artifacts/x", data=b"x"), 401)
    run = start_run(dev, experiment(dev))
    assert run["owner"] != "admin"
    log(dev, run["id"], metrics=[{"key": "m", "value": 1}])


def test_run_events_reach_subscribers(server):
    a = server.admin
    exp = experiment(a)
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    with requests.get(f"{server.url}/api/v1/events", params={"topic": "tracking.>"},
                      headers=headers, stream=True, timeout=30) as resp:
        assert resp.status_code == 200, describe(resp)
        rid = start_run(a, exp, name="evented")["id"]
        a.patch(f"{RUNS}/{rid}", json={"status": "succeeded"})
        a.delete(f"{RUNS}/{rid}")
        events = read_events(resp, stop_after="tracking.run.deleted")
    mine = [(t, d["status"]) for t, d in events if d.get("id") == rid]
    assert mine == [("tracking.run.created", "running"), ("tracking.run.updated", "succeeded"),
                    ("tracking.run.deleted", "succeeded")]


def test_runs_survive_a_restart(make_server):
    s = make_server()
    a = s.admin
    exp = experiment(a)
    rid = start_run(a, exp, params={"lr": "0.1"})["id"]
    points = [{"key": "loss", "value": 1.0 / (i + 1), "step": i, "timestamp": 1700000000000 + i} for i in range(5000)]
    log(a, rid, metrics=points)
    a.put(f"{RUNS}/{rid}/artifacts/a.txt", data=b"hello")
    before = a.get(f"{RUNS}/{rid}").json()
    s.stop()
    s.start()
    a = s.admin
    assert a.get(f"{RUNS}/{rid}").json() == before
    assert [p["value"] for p in history(a, rid, "loss")] == [p["value"] for p in points]
    assert a.get(f"{RUNS}/{rid}/artifacts/a.txt").content == b"hello"
    assert [r["id"] for r in search(a, filter="params.lr = '0.1'")] == [rid]
