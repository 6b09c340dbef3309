"""Built-in pipeline steps, black-box: `dataset.split` on real data (Fashion-MNIST's test set
pooled to 7×7, stratified by label; Online Retail rows by time), run as a job of a pipeline,
its outputs read by the next step, its versions' lineage, and the cache on the next run."""
from __future__ import annotations

import csv
import gzip
import io
import struct
from collections import Counter
from pathlib import Path

import pytest

from conftest import unique
from datasets_helpers import create_dataset, push, retail_path, wait_ready
from test_pipelines import create, start, steps, wait_run

FASHION = Path("/usr/share/datasets/fashion-mnist")


def fashion_table(n: int = 10000) -> bytes:
    """label and 49 pixel means (7×7 blocks of 4×4) of Fashion-MNIST's test images."""
    with gzip.open(FASHION / "t10k-images-idx3-ubyte.gz") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        pixels = f.read(count * rows * cols)
    with gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz") as f:
        f.read(8)
        labels = f.read(count)
    out = io.StringIO()
    out.write("label," + ",".join(f"p{i}" for i in range(49)) + "\n")
    for k in range(min(n, count)):
        img = pixels[k * 784:(k + 1) * 784]
        blocks = []
        for by in range(7):
            for bx in range(7):
                s = sum(img[(by * 4 + y) * 28 + bx * 4 + x] for y in range(4) for x in range(4))
                blocks.append(str(s // 16))
        out.write(f"{labels[k]}," + ",".join(blocks) + "\n")
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def fashion(server) -> str:
    name = create_dataset(server.admin, name=unique("fmnist"))
    push(server.admin, name, fashion_table(), status=201)
    assert wait_ready(server.admin, name, 1)["status"] == "ready"
    return name


def download(client, name: str, v: int) -> list[dict]:
    text = client.get(f"/api/v1/datasets/{name}/versions/{v}/download").text
    return list(csv.DictReader(io.StringIO(text)))


def test_a_stratified_split_keeps_each_class_in_proportion(server, fashion):
    a = server.admin
    name = unique("split")
    create(a, {"name": name, "steps": [
        {"name": "split", "uses": "dataset.split",
         "with": {"dataset": fashion, "method": "stratified", "column": "label", "test_fraction": 0.2,
                  "validation_fraction": 0.1, "seed": 7}},
        {"name": "use", "needs": ["split"],
         "command": ["echo", "train is ${{ steps.split.outputs.train.dataset }} v${{ steps.split.outputs.train.version }}"]},
    ]})
    run = wait_run(a, start(a, name)["id"], timeout=180)
    assert run["state"] == "succeeded", run
    out = steps(run)["split"]["outputs"]
    assert out["source"] == {"dataset": fashion, "version": 1}
    assert (out["train"]["rows"], out["test"]["rows"], out["validation"]["rows"]) == (7000, 2000, 1000)
    assert out["train"]["dataset"] == f"{fashion}-train" and out["test"]["dataset"] == f"{fashion}-test"
    log = a.get(f"/api/v1/pipeline-runs/{run['id']}/steps/use/logs").text
    assert f"train is {fashion}-train v{out['train']['version']}" in log

    test_rows = download(a, out["test"]["dataset"], out["test"]["version"])
    train_rows = download(a, out["train"]["dataset"], out["train"]["version"])
    val_rows = download(a, out["validation"]["dataset"], out["validation"]["version"])
    # Every class (1,000 images each in this set) keeps 20% / 10% / 70%.
    assert Counter(r["label"] for r in test_rows) == {str(c): 200 for c in range(10)}
    assert Counter(r["label"] for r in val_rows) == {str(c): 100 for c in range(10)}
    # The parts are disjoint and whole: together they are the source, row for row.
    source = download(a, fashion, 1)
    key = lambda r: tuple(r.values())  # noqa: E731
    assert sorted(map(key, train_rows + test_rows + val_rows)) == sorted(map(key, source))
    v = a.get(f"/api/v1/datasets/{out['test']['dataset']}/versions/{out['test']['version']}").json()
    assert v["lineage"]["split_of"] == {"dataset": fashion, "version": 1} and v["lineage"]["seed"] == 7
    assert [c["type"] for c in v["schema"]][:2] == ["integer", "integer"]  # the source's schema, declared

    # The same split again is served from the cache.
    again = wait_run(a, start(a, name)["id"])
    assert steps(again)["split"]["cached"] and steps(again)["split"]["cached_from_run"] == run["id"]


def test_a_time_split_puts_the_latest_rows_in_the_test_part(server):
    a = server.admin
    retail = gzip.decompress(retail_path().read_bytes()).decode("utf-8", errors="replace").splitlines()[:3001]
    name = create_dataset(a, name=unique("retail"))
    push(a, name, ("\n".join(retail) + "\n").encode(), status=201)
    assert wait_ready(a, name, 1)["status"] == "ready"
    pipeline = unique("timesplit")
    create(a, {"name": pipeline, "steps": [{"name": "split", "uses": "dataset.split",
                                            "with": {"dataset": name, "method": "time", "column": "InvoiceDate",
                                                     "test_fraction": 0.25, "train_dataset": f"{name}-past",
                                                     "test_dataset": f"{name}-future"}}]})
    run = wait_run(a, start(a, pipeline)["id"], timeout=120)
    assert run["state"] == "succeeded", run
    out = steps(run)["split"]["outputs"]
    past = download(a, out["train"]["dataset"], out["train"]["version"])
    future = download(a, out["test"]["dataset"], out["test"]["version"])
    assert (len(past), len(future)) == (2250, 750) and out["train"]["dataset"] == f"{name}-past"
    assert max(r["InvoiceDate"] for r in past) <= min(r["InvoiceDate"] for r in future)


def test_a_split_of_a_missing_dataset_fails_its_step_saying_why(server):
    a = server.admin
    pipeline = unique("badsplit")
    create(a, {"name": pipeline, "steps": [{"name": "split", "uses": "dataset.split",
                                            "with": {"dataset": "no-such-dataset"}}]})
    run = wait_run(a, start(a, pipeline)["id"], timeout=60)
    assert run["state"] == "failed"
    log = a.get(f"/api/v1/pipeline-runs/{run['id']}/steps/split/logs").text
    assert "dataset.split" in log and "not found" in log, log


def test_split_train_xgboost_register_on_fashion(server, fashion):
    """The pooled Fashion-MNIST table split, boosted trees trained on it with every round
    logged to a tracking run, the model registered with the run's metrics and lineage; its
    accuracy on the held-out part well above the majority class, measured here too."""
    a = server.admin
    name = unique("xgb")
    model = unique("fmnist-xgb")
    create(a, {"name": name, "steps": [
        {"name": "split", "uses": "dataset.split",
         "with": {"dataset": fashion, "method": "stratified", "column": "label", "test_fraction": 0.2, "seed": 3,
                  "train_dataset": f"{name}-train", "test_dataset": f"{name}-test"}},
        {"name": "train", "uses": "train.xgboost", "needs": ["split"],
         "with": {"train": "${{ steps.split.outputs.train }}", "validation": "${{ steps.split.outputs.test }}",
                  "label": "label", "num_round": 30, "max_depth": 4, "eta": 0.3, "seed": 1}},
        {"name": "register", "uses": "register", "needs": ["train"],
         "with": {"model": model, "task": "image-classification", "framework": "${{ steps.train.outputs.framework }}",
                  "run": "${{ steps.train.outputs.run }}", "alias": "staging"}},
    ]})
    run = wait_run(a, start(a, name)["id"], timeout=600)
    assert run["state"] == "succeeded", json_dump(run)
    s = steps(run)
    out = s["train"]["outputs"]
    assert out["framework"] == "xgboost" and out["classes"] == 10 and len(out["features"]) == 49
    # The held-out accuracy, as the step measured it, against the majority class (10%).
    accuracy = out["metrics"]["accuracy"]
    assert 0.7 < accuracy <= 1, out
    tracked = a.get(f"/api/v1/runs/{out['run']}").json()
    assert tracked["status"] == "succeeded" and tracked["params"]["objective"] == "multi:softprob"
    assert tracked["metrics"]["validation_merror"]["count"] == 30 and tracked["metrics"]["accuracy"]["value"] == accuracy
    history = a.get(f"/api/v1/runs/{out['run']}/metrics/train_mlogloss").json()["metrics"]
    assert [p["step"] for p in history] == list(range(30)) and history[-1]["value"] < history[0]["value"]
    assert {"dataset": f"{name}-train", "version": 1} in tracked["inputs"]
    reg = s["register"]["outputs"]
    assert reg["model"] == model and reg["version"] == 1
    v = a.get(f"/api/v1/models/{model}/versions/1").json()
    assert v["status"] == "ready" and v["framework"] == "xgboost", v
    assert v["metrics"]["accuracy"] == accuracy and v["lineage"]["run"] == out["run"]
    assert v["lineage"]["pipeline_run"] == str(run["id"])
    assert a.get(f"/api/v1/models/{model}").json()["aliases"] == {"staging": 1}
    assert a.get(f"/api/v1/runs/{out['run']}").json()["outputs"] == [{"model": model, "version": 1}]
    # Model selection: the best image classifiers by the accuracy their runs logged.
    ranked = a.get("/api/v1/models", params={"task": "image-classification", "order_by": "metrics.accuracy DESC"})
    assert ranked.status_code == 200, ranked.text
    mine = [m for m in ranked.json()["models"] if m["name"] == model]
    assert mine and mine[0]["best"] == {"version": 1, "metrics": {"accuracy": accuracy}}
    values = [m["best"]["metrics"]["accuracy"] for m in ranked.json()["models"]]
    assert values == sorted(values, reverse=True)
    # A pipeline that starts from "the best model for this task" instead of a fixed version.
    best = ranked.json()["models"][0]
    chooser = unique("best")
    create(a, {"name": chooser, "steps": [{"name": "evaluate", "uses": "evaluate", "with": {
        "model": {"best_for": "image-classification", "metric": "accuracy"},
        "dataset": f"{name}-test", "label": "label", "run": out["run"]}}]})
    chose = wait_run(a, start(a, chooser)["id"], timeout=300)
    assert chose["state"] == "succeeded", json_dump(chose)
    got = steps(chose)["evaluate"]["outputs"]
    assert (got["model"], got["version"]) == (best["name"], best["best"]["version"])
    assert got["metrics"]["examples"] == 2000


def test_compare_gates_deploy_and_the_model_is_served(server, fashion):
    """split → train.xgboost → register → compare with production → deploy when better; the
    deployment answers /v2 with class probabilities whose argmax is right on the held-out rows
    far more often than the majority class. A weaker retrain loses the comparison and is not
    deployed."""
    a = server.admin
    name = unique("promote")
    model = unique("fmnist-prod")
    deployment = unique("fashion")
    create(a, {"name": name, "params": {"rounds": 25}, "steps": [
        {"name": "split", "uses": "dataset.split",
         "with": {"dataset": fashion, "method": "stratified", "column": "label", "seed": 5,
                  "train_dataset": f"{name}-train", "test_dataset": f"{name}-test"}},
        {"name": "train", "uses": "train.xgboost", "needs": ["split"],
         "with": {"train": "${{ steps.split.outputs.train }}", "validation": "${{ steps.split.outputs.test }}",
                  "label": "label", "num_round": "${{ params.rounds }}", "max_depth": 4}},
        {"name": "register", "uses": "register", "needs": ["train"],
         "with": {"model": model, "task": "image-classification", "framework": "xgboost",
                  "run": "${{ steps.train.outputs.run }}"}},
        {"name": "evaluate", "uses": "evaluate", "needs": ["register", "split"],
         "with": {"model": model, "version": "${{ steps.register.outputs.version }}",
                  "dataset": "${{ steps.split.outputs.test }}", "label": "label"}},
        {"name": "compare", "uses": "compare", "needs": ["register", "evaluate"],
         "with": {"model": model, "version": "${{ steps.register.outputs.version }}", "metric": "accuracy"}},
        {"name": "deploy", "uses": "deploy", "needs": ["compare", "register"],
         "when": "steps.compare.outputs.better == true",
         "with": {"deployment": deployment, "model": model, "version": "${{ steps.register.outputs.version }}"}},
    ]})
    first = wait_run(a, start(a, name)["id"], timeout=600)
    assert first["state"] == "succeeded", json_dump(first)
    s = steps(first)
    assert s["compare"]["outputs"]["better"] is True and s["compare"]["outputs"]["champion"] is None
    assert s["deploy"]["outputs"] == {"deployment": deployment, "model": model, "version": 1, "canary": False,
                                      "infer": f"/v2/models/{deployment}/infer"}
    # evaluate, through a deployment of its own, measured what training measured on the same rows.
    ev = s["evaluate"]["outputs"]
    assert ev["metrics"]["examples"] == 2000 and ev["run"] == s["train"]["outputs"]["run"]
    assert abs(ev["metrics"]["accuracy"] - s["train"]["outputs"]["metrics"]["accuracy"]) < 1e-3, (ev, s["train"])
    assert 0.9 < ev["metrics"]["roc_auc"] <= 1 and 0 < ev["metrics"]["macro_f1"] <= ev["metrics"]["accuracy"] + 0.05
    tracked = a.get(f"/api/v1/runs/{ev['run']}").json()
    assert tracked["metrics"]["test_accuracy"]["value"] == ev["metrics"]["accuracy"]
    report = a.get(f"/api/v1/runs/{ev['run']}/artifacts/evaluation/report.json").json()
    assert len(report["confusion_matrix"]) == 10 and sum(map(sum, report["confusion_matrix"])) == 2000
    assert [c["support"] for c in report["per_class"]] == [200] * 10
    assert all(d["name"] != f"eval-{first['id']}-1" for d in a.get("/api/v1/deployments").json()["deployments"])
    # The served model, on held-out rows: argmax of its probabilities against the labels.
    held_out = download(a, s["split"]["outputs"]["test"]["dataset"], s["split"]["outputs"]["test"]["version"])[:200]
    features = [[float(r[f"p{i}"]) for i in range(49)] for r in held_out]
    resp = a.post(f"/v2/models/{deployment}/infer", json={"inputs": [
        {"name": "input", "shape": [len(features), 49], "datatype": "FP32", "data": [x for row in features for x in row]}]})
    assert resp.status_code == 200, resp.text
    out = resp.json()["outputs"][0]
    assert out["shape"] == [len(features), 10], out["shape"]
    probs = [out["data"][i * 10:(i + 1) * 10] for i in range(len(features))]
    assert all(abs(sum(p) - 1) < 1e-3 for p in probs)
    right = sum(p.index(max(p)) == int(r["label"]) for p, r in zip(probs, held_out))
    majority = max(Counter(r["label"] for r in held_out).values())
    assert right > 3 * majority, (right, majority)

    # v1 in production; a retrain with 2 rounds is worse, so it is registered but not deployed.
    assert a.put(f"/api/v1/models/{model}/aliases/production", json={"version": 1}).status_code == 200
    second = wait_run(a, start(a, name, rounds=2)["id"], timeout=600)
    t = steps(second)
    assert second["state"] == "succeeded", json_dump(second)
    assert t["register"]["outputs"]["version"] == 2
    cmp = t["compare"]["outputs"]
    assert cmp["better"] is False and cmp["champion"]["version"] == 1 and cmp["delta"] < 0
    assert t["deploy"]["state"] == "skipped"
    assert a.get(f"/api/v1/deployments/{deployment}").json()["version"] == 1


def json_dump(x) -> str:
    import json
    return json.dumps(x, indent=1)[:4000]


def test_tune_grid_fans_out_trials_and_passes_the_best_on(server, fashion):
    """A grid over train.xgboost: one row and job per trial, a trial that fails left out, the
    step's own row holding the best trial's outputs, which the next step reads."""
    a = server.admin
    name = unique("grid")
    create(a, {"name": name, "steps": [
        {"name": "split", "uses": "dataset.split",
         "with": {"dataset": fashion, "method": "stratified", "column": "label", "seed": 11,
                  "train_dataset": f"{name}-train", "test_dataset": f"{name}-test"}},
        {"name": "tune", "uses": "tune", "needs": ["split"], "with": {
            "uses": "train.xgboost",
            "with": {"train": "${{ steps.split.outputs.train }}", "validation": "${{ steps.split.outputs.test }}",
                     "label": "label", "num_round": 8},
            "space": {"max_depth": [1, 5], "objective": ["multi:softprob", "no:such-objective"]},
            "metric": "metrics.accuracy"}},
        {"name": "use", "needs": ["tune"],
         "command": ["echo", "best run ${{ steps.tune.outputs.run }} depth ${{ steps.tune.outputs.best.params.max_depth }}"]},
    ]})
    run = wait_run(a, start(a, name)["id"], timeout=600)
    assert run["state"] == "succeeded", json_dump(run)
    rows = steps(run)
    trials = [rows[f"tune[{i}]"] for i in range(4)]
    assert [t["state"] for t in trials] == ["succeeded", "failed", "succeeded", "failed"], [t["state"] for t in trials]
    assert all(t["job"] for t in trials) and len({t["job"] for t in trials}) == 4
    out = rows["tune"]["outputs"]
    table = out["trials"]
    assert [t["params"] for t in table] == [
        {"max_depth": 1, "objective": "multi:softprob"}, {"max_depth": 1, "objective": "no:such-objective"},
        {"max_depth": 5, "objective": "multi:softprob"}, {"max_depth": 5, "objective": "no:such-objective"}]
    scores = {t["index"]: t["score"] for t in table}
    assert scores[1] is None and scores[3] is None and scores[2] > scores[0] > 0.5, scores
    assert out["best"] == {"index": 2, "params": table[2]["params"], "score": scores[2]}
    assert out["run"] == trials[2]["outputs"]["run"] and out["metrics"]["accuracy"] == scores[2]
    assert a.get(f"/api/v1/runs/{out['run']}").json()["params"]["max_depth"] == "5"
    log = a.get(f"/api/v1/pipeline-runs/{run['id']}/steps/use/logs").text
    assert f"best run {out['run']} depth 5" in log
    # Again: every trial from the cache, the same best.
    again = wait_run(a, start(a, name)["id"], timeout=300)
    r2 = steps(again)
    assert all(r2[f"tune[{i}]"]["cached"] for i in (0, 2)) and r2["tune"]["outputs"]["best"]["index"] == 2


def test_tune_successive_halving_gives_the_best_third_three_times_the_budget(server, fashion):
    a = server.admin
    name = unique("halving")
    create(a, {"name": name, "steps": [
        {"name": "split", "uses": "dataset.split",
         "with": {"dataset": fashion, "method": "stratified", "column": "label", "seed": 12,
                  "train_dataset": f"{name}-train", "test_dataset": f"{name}-test"}},
        {"name": "tune", "uses": "tune", "needs": ["split"], "with": {
            "uses": "train.xgboost",
            "with": {"train": "${{ steps.split.outputs.train }}", "validation": "${{ steps.split.outputs.test }}",
                     "label": "label"},
            "method": "halving", "trials": 6, "seed": 5,
            "space": {"eta": {"min": 0.05, "max": 0.5, "log": True}, "max_depth": [2, 3, 4, 6]},
            "budget": {"input": "num_round", "min": 2, "max": 18, "eta": 3},
            "metric": "metrics.accuracy"}},
    ]})
    run = wait_run(a, start(a, name)["id"], timeout=900)
    assert run["state"] == "succeeded", json_dump(run)
    table = steps(run)["tune"]["outputs"]["trials"]
    rounds = [[t for t in table if t["round"] == r] for r in range(3)]
    assert [len(r) for r in rounds] == [6, 2, 1], [len(r) for r in rounds]
    assert {t["params"]["num_round"] for t in rounds[0]} == {2}
    assert {t["params"]["num_round"] for t in rounds[1]} == {6} and rounds[2][0]["params"]["num_round"] == 18
    # Round 2 took round 1's two best configurations; round 3 the better of those.
    best_first = sorted(rounds[0], key=lambda t: -t["score"])[:2]
    strip = lambda p: {k: v for k, v in p.items() if k != "num_round"}  # noqa: E731
    assert [strip(t["params"]) for t in rounds[1]] == [strip(t["params"]) for t in best_first]
    assert strip(rounds[2][0]["params"]) == strip(max(rounds[1], key=lambda t: t["score"])["params"])
    best = steps(run)["tune"]["outputs"]["best"]
    assert best["index"] == rounds[2][0]["index"] and best["params"]["num_round"] == 18


def test_convert_torchscript_to_onnx_checked_by_serving_both(server, fashion):
    """An MLP trained by train.torch, converted to ONNX; the step checks the ONNX version as
    served against the TorchScript module, and here the two deployments answer alike too."""
    a = server.admin
    name = unique("convert")
    model = unique("fmnist-mlp")
    create(a, {"name": name, "steps": [
        {"name": "split", "uses": "dataset.split",
         "with": {"dataset": fashion, "method": "stratified", "column": "label", "seed": 13,
                  "train_dataset": f"{name}-train", "test_dataset": f"{name}-test"}},
        {"name": "train", "uses": "train.torch", "needs": ["split"], "resources": {"cpus": 2, "memory_mb": 1024},
         "with": {"train": "${{ steps.split.outputs.train }}", "validation": "${{ steps.split.outputs.test }}",
                  "label": "label", "epochs": 3}},
        {"name": "register", "uses": "register", "needs": ["train"],
         "with": {"model": model, "task": "image-classification", "run": "${{ steps.train.outputs.run }}",
                  "artifact": "${{ steps.train.outputs.artifact }}", "framework": "torchscript"}},
        {"name": "convert", "uses": "convert", "needs": ["register", "split"], "resources": {"memory_mb": 2048},
         "with": {"model": model, "version": "${{ steps.register.outputs.version }}",
                  "samples": "${{ steps.split.outputs.test }}", "label": "label", "rows": 100}},
    ]})
    run = wait_run(a, start(a, name)["id"], timeout=600)
    assert run["state"] == "succeeded", json_dump(run) + a.get(
        f"/api/v1/pipeline-runs/{run['id']}/steps/convert/logs").text[-3000:]
    s = steps(run)
    assert 0.7 < s["train"]["outputs"]["metrics"]["accuracy"] <= 1
    out = s["convert"]["outputs"]
    assert out["framework"] == "onnx" and out["source"] == {"model": model, "version": 1} and out["version"] == 2
    assert out["rows"] == 100 and 0 <= out["max_abs_diff"] < 1e-4
    v = a.get(f"/api/v1/models/{model}/versions/2").json()
    assert v["framework"] == "onnx" and v["status"] == "ready"
    assert v["lineage"]["converted_from"] == {"model": model, "version": 1}
    assert v["metrics"]["accuracy"] == s["train"]["outputs"]["metrics"]["accuracy"]
    # Both served, the same held-out rows: the same probabilities.
    rows = download(a, s["split"]["outputs"]["test"]["dataset"], s["split"]["outputs"]["test"]["version"])[:50]
    data = [float(r[f"p{i}"]) for r in rows for i in range(49)]
    answers = []
    for version in (1, 2):
        dep = unique(f"conv-v{version}")
        assert a.post("/api/v1/deployments", json={"name": dep, "model": model, "version": version}).status_code == 201
        resp = a.post(f"/v2/models/{dep}/infer", json={"inputs": [
            {"name": "input", "shape": [50, 49], "datatype": "FP32", "data": data}]})
        assert resp.status_code == 200, resp.text
        answers.append(resp.json()["outputs"][0]["data"])
    assert len(answers[0]) == 500 and max(abs(x - y) for x, y in zip(*answers)) < 1e-4
    # Only TorchScript converts: the ONNX version itself is refused, saying so.
    bad = unique("badconvert")
    create(a, {"name": bad, "steps": [{"name": "convert", "uses": "convert", "with": {"model": model, "version": 2}}]})
    failed = wait_run(a, start(a, bad)["id"], timeout=120)
    assert failed["state"] == "failed"
    assert "is onnx, not torchscript" in a.get(f"/api/v1/pipeline-runs/{failed['id']}/steps/convert/logs").text
