"""Inference serving: registry models deployed and served through the Open Inference Protocol v2
(REST and gRPC) and v1 `:predict`, with dynamic batching, queue limits, alias following and
canary rollback. Every model is a real file made in the test (models.py): a small CNN and an
MLP as TorchScript and ONNX, an XGBoost booster; every answer is compared with what PyTorch or
XGBoost computes for the same input, within 1e-5.

Deployments are created once per module where tests only read them (`served`); tests that
change or load a deployment make their own."""

from __future__ import annotations

import importlib.util
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

import models
from conftest import Client, describe, unique, wait_for
from test_cli import Cli

DEPLOYMENTS = "/api/v1/deployments"
OCTETS = {"Content-Type": "application/octet-stream"}
ATOL = 1e-5
LOAD_TIMEOUT_S = 120  # POST/PATCH of a deployment answers once the version is loaded and warmed

CNN_SIG = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 1, 28, 28]}],
           "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]}
MLP_SIG = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
           "outputs": [{"name": "probs", "datatype": "FP32", "shape": [-1, 3]}]}
SLOW_SIG = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [{"name": "doubled", "datatype": "FP32", "shape": [-1, 4]}]}
# XGBoost's feature matrix has no name in the artifact: the declared one names it.
XGB_SIG = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 3]}]}

# Values a server must never echo in an error message.
MARKERS = (123.4375, 654.3125)  # exact in FP32: printed the same by every formatter

_rng = np.random.RandomState(7)
# Exactly representable in FP32 (k / 2^n), so JSON carries the very numbers PyTorch sees.
CNN_X = (_rng.randint(0, 256, (2, 1, 28, 28)) / 256).astype(np.float32)
MLP_X = (_rng.randint(-256, 256, (2, 4)) / 64).astype(np.float32)
XGB_X = (_rng.randint(0, 256, (3, 3)) / 256).astype(np.float32)
POISON = np.full((1, 4), 50.0, np.float32)  # sum 200 > FailingMLP's threshold of 100


# --------------------------------------------------------------------------------------------
# Helpers


def create_model(client, name=None) -> str:
    name = name or unique("srvmodel")
    resp = client.post("/api/v1/models", json={"name": name})
    assert resp.status_code == 201, describe(resp)
    return name


def push(client, model: str, path: Path, framework: str, signature=None) -> int:
    headers = dict(OCTETS)
    if signature is not None:
        headers["X-Model-Metadata"] = json.dumps({"signature": signature})
    resp = client.post(f"/api/v1/models/{model}/versions?framework={framework}",
                       data=path.read_bytes(), headers=headers, timeout=60)
    assert resp.status_code == 201 and resp.json()["status"] == "ready", describe(resp)
    return resp.json()["version"]


def deploy(client, model: str, name: str | None = None, **fields) -> dict:
    """POST /api/v1/deployments (version 1 unless `version` or `alias` is given); asserts 201
    and a ready deployment, returns it."""
    name = name or unique("dep")
    if "version" not in fields and "alias" not in fields:
        fields["version"] = 1
    resp = client.post(DEPLOYMENTS, json={"name": name, "model": model, **fields},
                       timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 201, describe(resp)
    body = resp.json()
    assert body["name"] == name and body["model"] == model, describe(resp)
    assert body["state"] == "ready", describe(resp)
    return body


def get_deployment(client, name: str) -> dict:
    resp = client.get(f"{DEPLOYMENTS}/{name}")
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def serving_versions(deployment: dict) -> list[int]:
    """The registry versions a deployment has loaded (`serving`: [{"version": N, …}, …])."""
    serving = deployment["serving"]
    assert isinstance(serving, list), deployment
    return sorted(int(s["version"]) for s in serving)


def infer_path(deployment: str, version=None) -> str:
    return f"/v2/models/{deployment}" + (f"/versions/{version}" if version is not None else "") + "/infer"


def infer_body(input_name: str, x: np.ndarray, nested=False, datatype="FP32", **extra) -> dict:
    data = x.tolist() if nested else x.ravel().tolist()
    return {"inputs": [{"name": input_name, "shape": list(x.shape), "datatype": datatype,
                        "data": data}], **extra}


def infer(client, deployment: str, input_name: str, x: np.ndarray, version=None, **kw):
    return client.post(infer_path(deployment, version), json=infer_body(input_name, x, **kw))


def output_array(body: dict, index: int = 0) -> np.ndarray:
    out = body["outputs"][index]
    assert out["datatype"] == "FP32", body
    data = np.array(out["data"], dtype=np.float64).ravel()
    assert data.size == math.prod(out["shape"]), body
    return data.reshape(out["shape"])


def assert_matches(got: np.ndarray, ref: np.ndarray, what: str = ""):
    """`got` equals the reference within 1e-5. A reference of shape [n] (XGBoost: one value
    per row) also accepts [n, 1]."""
    ref = np.asarray(ref, dtype=np.float64)
    if ref.ndim == 1 and got.shape == (ref.shape[0], 1):
        got = got.reshape(ref.shape)
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    np.testing.assert_allclose(got, ref, rtol=0, atol=ATOL, err_msg=what)


def error_message(resp, status) -> str:
    """The message of an error answer with `status` (an int or a set). Platform routes
    (/api/...) answer {"error": {"code", "message", "request_id"}}; the protocol routes (/v2,
    /v1) answer the protocol's {"error": "message"}, whatever refused the request."""
    allowed = {status} if isinstance(status, int) else set(status)
    assert resp.status_code in allowed, describe(resp)
    err = resp.json().get("error")
    if urlsplit(resp.request.url).path.startswith("/api/"):
        assert isinstance(err, dict), describe(resp)
        message = err.get("message")
    else:
        assert isinstance(err, str), describe(resp)
        message = err
    assert isinstance(message, str) and message, describe(resp)
    return message


def assert_no_marker(resp):
    for marker in MARKERS:
        assert str(marker) not in resp.text, f"the error echoes the data: {describe(resp)}"


def stats_totals(client, deployment: str, version=None) -> dict:
    """Sums the statistics extension's model_stats entries of `deployment` (Triton's shape:
    inference_stats.{success,fail,queue,compute_infer}.{count,ns}, execution_count,
    inference_count, batch_stats[].{batch_size,compute_infer})."""
    path = f"/v2/models/{deployment}" + (f"/versions/{version}" if version else "") + "/stats"
    resp = client.get(path)
    assert resp.status_code == 200, describe(resp)
    entries = [s for s in resp.json()["model_stats"] if s["name"] == deployment]
    assert entries, describe(resp)
    totals = {"success": 0, "success_ns": 0, "fail": 0, "execution_count": 0,
              "inference_count": 0, "queue": 0, "compute_infer": 0, "batches": {}}
    for s in entries:
        st = s["inference_stats"]
        totals["success"] += st["success"]["count"]
        totals["success_ns"] += st["success"]["ns"]
        totals["fail"] += st["fail"]["count"]
        totals["queue"] += st["queue"]["count"]
        totals["compute_infer"] += st["compute_infer"]["count"]
        totals["execution_count"] += s["execution_count"]
        totals["inference_count"] += s["inference_count"]
        for b in s.get("batch_stats", []):
            size = int(b["batch_size"])
            totals["batches"][size] = totals["batches"].get(size, 0) + b["compute_infer"]["count"]
    return totals


def run_threads(n: int, target) -> None:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a client thread hung"


# --------------------------------------------------------------------------------------------
# Fixtures


@dataclass
class Served:
    kind: str
    deployment: str
    model: str
    input: str
    output: str | None  # None: the runtime names it (XGBoost)
    x: np.ndarray
    ref: np.ndarray


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("serving-models")
    return {
        "cnn.pt": models.torchscript_cnn(d / "cnn.pt"),
        "cnn.onnx": models.onnx_cnn(d / "cnn.onnx"),
        "mlp.pt": models.torchscript_mlp(d / "mlp.pt"),
        "mlp.onnx": models.onnx_mlp(d / "mlp.onnx"),
        "mlp1.pt": models.torchscript_mlp(d / "mlp1.pt", seed=1),
        "mlp2.pt": models.torchscript_mlp(d / "mlp2.pt", seed=2),
        "fail.pt": models.failing_torchscript(d / "fail.pt", threshold=100.0),
        "slow.pt": models.slow_torchscript_calibrated(d / "slow.pt", seconds=0.06),
        "xgb.json": models.xgboost_model(d / "xgb.json"),
    }


KINDS = ["torchscript-cnn", "onnx-cnn", "torchscript-mlp", "onnx-mlp", "xgboost"]


@pytest.fixture(scope="module")
def served(server, zoo) -> dict[str, Served]:
    """One deployment per kind of model, version 1, default settings."""
    specs = {
        # kind: (file, framework, declared signature, input, output, x, reference)
        "torchscript-cnn": ("cnn.pt", "torchscript", CNN_SIG, "x", "logits", CNN_X,
                            models.torch_reference(zoo["cnn.pt"], CNN_X)),
        "onnx-cnn": ("cnn.onnx", "onnx", None, "x", "logits", CNN_X,
                     models.torch_reference(zoo["cnn.pt"], CNN_X)),
        "torchscript-mlp": ("mlp.pt", "torchscript", MLP_SIG, "features", "probs", MLP_X,
                            models.torch_reference(zoo["mlp.pt"], MLP_X)),
        "onnx-mlp": ("mlp.onnx", "onnx", None, "features", "probs", MLP_X,
                     models.torch_reference(zoo["mlp.pt"], MLP_X)),
        "xgboost": ("xgb.json", "xgboost", XGB_SIG, "input", None, XGB_X,
                    models.xgboost_reference(zoo["xgb.json"], XGB_X)),
    }
    out = {}
    for kind, (file, framework, sig, inp, outp, x, ref) in specs.items():
        model = create_model(server.admin)
        push(server.admin, model, zoo[file], framework, sig)
        name = deploy(server.admin, model)["name"]
        out[kind] = Served(kind, name, model, inp, outp, x, ref)
    return out


@pytest.fixture(scope="module")
def mlp_model(server, zoo) -> str:
    """A registry model whose version 1 is the MLP (seed 0) with MLP_SIG."""
    model = create_model(server.admin)
    push(server.admin, model, zoo["mlp.pt"], "torchscript", MLP_SIG)
    return model


# --------------------------------------------------------------------------------------------
# Results equal the reference


@pytest.mark.parametrize("kind", KINDS)
def test_infer_with_flat_json_data_equals_the_reference(server, served, kind):
    s = served[kind]
    resp = server.admin.post(infer_path(s.deployment),
                             json=infer_body(s.input, s.x, id="req-flat-1"))
    assert resp.status_code == 200, describe(resp)
    body = resp.json()
    assert body["model_name"] == s.deployment
    assert str(body["model_version"]) == "1"
    assert body["id"] == "req-flat-1"
    assert len(body["outputs"]) == 1
    if s.output:
        assert body["outputs"][0]["name"] == s.output
    assert_matches(output_array(body), s.ref, kind)


def test_torchscript_is_optimised_by_default_and_served_as_saved_on_request(server, zoo):
    """`optimize` (default true) freezes the module and applies LibTorch's inference passes; with
    false the module runs as saved. Both give the reference's answers, at batch 1 and 3."""
    model = create_model(server.admin)
    push(server.admin, model, zoo["cnn.pt"], "torchscript", CNN_SIG)
    optimised = deploy(server.admin, model)
    as_saved = deploy(server.admin, model, optimize=False)
    assert optimised["optimize"] is True and as_saved["optimize"] is False
    for x in (CNN_X[:1], CNN_X):
        ref = models.torch_reference(zoo["cnn.pt"], x)
        for d in (optimised, as_saved):
            resp = infer(server.admin, d["name"], "x", x)
            assert resp.status_code == 200, describe(resp)
            assert_matches(output_array(resp.json()), ref, f"{d['name']} batch {len(x)}")
    resp = server.admin.patch(f"{DEPLOYMENTS}/{as_saved['name']}", json={"optimize": "no"})
    assert resp.status_code == 400, describe(resp)
    assert "optimize" in error_message(resp, 400)


@pytest.mark.parametrize("kind", KINDS)
def test_infer_with_nested_json_data_equals_the_reference(server, served, kind):
    s = served[kind]
    resp = infer(server.admin, s.deployment, s.input, s.x, nested=True)
    assert resp.status_code == 200, describe(resp)
    assert_matches(output_array(resp.json()), s.ref, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_infer_with_binary_tensors_both_ways_equals_the_reference(server, served, kind):
    s = served[kind]
    output = s.output or server.admin.get(f"/v2/models/{s.deployment}").json()["outputs"][0]["name"]
    raw = s.x.astype("<f4").tobytes()
    header = json.dumps({
        "inputs": [{"name": s.input, "shape": list(s.x.shape), "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": output, "parameters": {"binary_data": True}}],
    }).encode()
    resp = server.admin.post(infer_path(s.deployment), data=header + raw,
                             headers={**OCTETS, "Inference-Header-Content-Length": str(len(header))})
    assert resp.status_code == 200, describe(resp)
    length = int(resp.headers["Inference-Header-Content-Length"])
    head = json.loads(resp.content[:length])
    out = head["outputs"][0]
    assert out["name"] == output and out["datatype"] == "FP32"
    assert "data" not in out, "a binary output carries no JSON data"
    size = out["parameters"]["binary_data_size"]
    assert size == 4 * math.prod(out["shape"])
    assert len(resp.content) == length + size
    got = np.frombuffer(resp.content[length:], dtype="<f4").astype(np.float64).reshape(out["shape"])
    assert_matches(got, s.ref, kind)


@pytest.mark.parametrize("kind", ["torchscript-mlp", "torchscript-cnn", "xgboost"])
def test_v1_predict_equals_the_reference(server, served, kind):
    s = served[kind]
    resp = server.admin.post(f"/v1/models/{s.deployment}:predict", json={"instances": s.x.tolist()})
    assert resp.status_code == 200, describe(resp)
    predictions = np.array(resp.json()["predictions"], dtype=np.float64)
    assert predictions.shape[0] == s.x.shape[0]
    assert_matches(predictions, s.ref, kind)


def test_batch_rows_are_independent_of_their_neighbours(server, served):
    """Row i of a batch answers exactly what row i alone answers."""
    s = served["torchscript-cnn"]
    for i in range(s.x.shape[0]):
        resp = infer(server.admin, s.deployment, s.input, s.x[i:i + 1])
        assert resp.status_code == 200, describe(resp)
        assert_matches(output_array(resp.json()), s.ref[i:i + 1], f"row {i}")


# --------------------------------------------------------------------------------------------
# Protocol metadata, health, statistics, repository


def test_health_needs_no_token_and_server_metadata_lists_the_extensions(server, served):
    assert server.anonymous.get("/v2/health/live").status_code == 200
    resp = server.anonymous.get("/v2/health/ready")
    assert resp.status_code == 200, describe(resp)
    meta = server.admin.get("/v2")
    assert meta.status_code == 200, describe(meta)
    body = meta.json()
    assert isinstance(body["name"], str) and body["name"]
    assert isinstance(body["version"], str) and body["version"]
    # Triton's names for the extensions serving.md promises.
    assert {"binary_tensor_data", "statistics", "model_repository"} <= set(body["extensions"]), body


EXPECTED_TENSORS = {
    "torchscript-cnn": (CNN_SIG["inputs"], CNN_SIG["outputs"]),
    "onnx-cnn": (CNN_SIG["inputs"], CNN_SIG["outputs"]),  # read from the ONNX graph
    "torchscript-mlp": (MLP_SIG["inputs"], MLP_SIG["outputs"]),
    "onnx-mlp": (MLP_SIG["inputs"], MLP_SIG["outputs"]),
    "xgboost": (XGB_SIG["inputs"], None),
}


def _tensor_specs(tensors):
    return [{"name": t["name"], "datatype": t["datatype"], "shape": list(t["shape"])} for t in tensors]


@pytest.mark.parametrize("kind", KINDS)
def test_model_metadata_describes_inputs_and_outputs(server, served, kind):
    s = served[kind]
    inputs, outputs = EXPECTED_TENSORS[kind]
    for path in (f"/v2/models/{s.deployment}", f"/v2/models/{s.deployment}/versions/1"):
        resp = server.admin.get(path)
        assert resp.status_code == 200, describe(resp)
        meta = resp.json()
        assert meta["name"] == s.deployment
        assert [str(v) for v in meta["versions"]] == ["1"]
        assert isinstance(meta["platform"], str) and meta["platform"]
        assert _tensor_specs(meta["inputs"]) == inputs
        if outputs is not None:
            assert _tensor_specs(meta["outputs"]) == outputs
        else:
            assert len(meta["outputs"]) == 1 and meta["outputs"][0]["datatype"] == "FP32"


def test_model_ready_and_unknown_models_or_versions(server, served):
    dep = served["torchscript-mlp"].deployment
    assert server.admin.get(f"/v2/models/{dep}/ready").status_code == 200
    assert server.admin.get(f"/v2/models/{dep}/versions/1/ready").status_code == 200
    error_message(server.admin.get(f"/v2/models/{unique('nosuch')}/ready"), 404)
    error_message(server.admin.get(f"/v2/models/{unique('nosuch')}"), 404)
    error_message(server.admin.get(f"/v2/models/{dep}/versions/99"), 404)
    error_message(server.admin.get(f"/v2/models/{dep}/versions/99/ready"), 404)


def test_statistics_count_the_requests(server, mlp_model):
    dep = deploy(server.admin, mlp_model)["name"]
    before = time.time()
    n = 6
    for _ in range(n):
        resp = infer(server.admin, dep, "features", MLP_X[:1])
        assert resp.status_code == 200, describe(resp)
    t = stats_totals(server.admin, dep)
    # Batching is off (default max_batch_size 0) and requests came one at a time: one
    # execution each. The warm-up run is not a request and is not counted.
    assert t["success"] == n, t
    assert t["inference_count"] == n, t
    assert t["execution_count"] == n, t
    assert t["fail"] == 0, t
    assert t["success_ns"] > 0 and t["queue"] == n and t["compute_infer"] == n, t
    assert stats_totals(server.admin, dep, version=1)["success"] == n
    everything = server.admin.get("/v2/models/stats")
    assert everything.status_code == 200, describe(everything)
    assert dep in {s["name"] for s in everything.json()["model_stats"]}
    raw = server.admin.get(f"/v2/models/{dep}/stats").json()["model_stats"][0]
    assert raw["last_inference"] >= int(before * 1000) - 1000
    error_message(server.admin.get(f"/v2/models/{unique('nosuch')}/stats"), 404)

    # The same counters for people with deployments:read, with the last seconds' percentiles.
    m = server.admin.get(f"/api/v1/deployments/{dep}/metrics", params={"window_s": 60})
    assert m.status_code == 200, describe(m)
    v = m.json()["versions"][0]
    assert v["version"] == 1 and v["role"] == "stable", v
    assert v["success"]["count"] == n and v["inference_count"] == n and v["fail"]["count"] == 0, v
    assert v["window"]["seconds"] == 60 and v["window"]["requests"] == n and v["window"]["errors"] == 0, v
    assert 0 < v["window"]["p50_ms"] <= v["window"]["p99_ms"], v
    assert m.json()["at"] >= int(before * 1000)
    for bad in ("0", "3601", "x", "-1"):
        r = server.admin.get(f"/api/v1/deployments/{dep}/metrics", params={"window_s": bad})
        assert r.status_code == 400, (bad, describe(r))
    assert server.admin.get(f"/api/v1/deployments/{unique('nosuch')}/metrics").status_code == 404


def test_repository_index_unload_and_load(server, mlp_model):
    dep = deploy(server.admin, mlp_model)["name"]
    index = server.admin.post("/v2/repository/index", json={})
    assert index.status_code == 200, describe(index)
    entry = {e["name"]: e for e in index.json()}[dep]
    assert entry["state"].lower() == "ready"

    resp = server.admin.post(f"/v2/repository/models/{dep}/unload", json={}, timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 200, describe(resp)
    assert server.admin.get(f"/v2/models/{dep}/ready").status_code == 503  # exists, not loaded
    assert infer(server.admin, dep, "features", MLP_X).status_code != 200

    resp = server.admin.post(f"/v2/repository/models/{dep}/load", json={}, timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 200, describe(resp)
    assert server.admin.get(f"/v2/models/{dep}/ready").status_code == 200
    resp = infer(server.admin, dep, "features", MLP_X)
    assert resp.status_code == 200, describe(resp)
    assert server.anonymous.get("/v2/health/ready").status_code == 200


def test_an_unloaded_deployment_stays_unloaded_when_patched(server, mlp_model):
    dep = deploy(server.admin, mlp_model)["name"]
    resp = server.admin.post(f"/v2/repository/models/{dep}/unload", json={}, timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 200, describe(resp)
    resp = server.admin.patch(f"{DEPLOYMENTS}/{dep}", json={"max_batch_size": 4}, timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 200, describe(resp)
    assert resp.json()["state"] == "unloaded" and serving_versions(resp.json()) == []
    assert server.admin.get(f"/v2/models/{dep}/ready").status_code == 503
    # A PATCH that names a version the registry lacks is refused without loading anything.
    resp = server.admin.patch(f"{DEPLOYMENTS}/{dep}", json={"version": 99}, timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 404, describe(resp)
    resp = server.admin.post(f"/v2/repository/models/{dep}/load", json={}, timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 200, describe(resp)
    shown = get_deployment(server.admin, dep)
    assert shown["state"] == "ready" and shown["max_batch_size"] == 4, shown
    assert infer(server.admin, dep, "features", MLP_X).status_code == 200


# --------------------------------------------------------------------------------------------
# Bad requests: 404, 400 naming the tensor, never the data


def test_unknown_deployment_and_version_are_404(server, served):
    s = served["torchscript-mlp"]
    error_message(infer(server.admin, unique("nosuch"), s.input, s.x), 404)
    error_message(infer(server.admin, s.deployment, s.input, s.x, version=99), 404)
    error_message(server.admin.post(f"/v1/models/{unique('nosuch')}:predict",
                                    json={"instances": s.x.tolist()}), 404)


def _marked(shape) -> np.ndarray:
    return np.resize(np.array(MARKERS, np.float32), shape)


def test_unknown_input_name_is_400_naming_it_and_the_expected_one(server, served):
    s = served["torchscript-mlp"]
    resp = infer(server.admin, s.deployment, "pixels", _marked((1, 4)))
    message = error_message(resp, 400)
    assert "pixels" in message and "features" in message, message
    assert_no_marker(resp)


def test_wrong_datatype_is_400_naming_the_tensor_and_the_expected_type(server, served):
    for kind in ("torchscript-mlp", "xgboost"):
        s = served[kind]
        resp = infer(server.admin, s.deployment, s.input, _marked(s.x.shape), datatype="FP64")
        message = error_message(resp, 400)
        assert s.input in message and "FP32" in message, message
        assert_no_marker(resp)
    s = served["onnx-cnn"]
    resp = server.admin.post(infer_path(s.deployment), json={"inputs": [{
        "name": "x", "shape": [1, 1, 28, 28], "datatype": "INT32", "data": [123456] * 784}]})
    message = error_message(resp, 400)
    assert "x" in message and "FP32" in message, message
    assert "123456" not in resp.text


@pytest.mark.parametrize("shape", [[1, 5], [4], [1, 2, 2]])
def test_wrong_shape_is_400_naming_the_tensor(server, served, shape):
    s = served["torchscript-mlp"]
    resp = infer(server.admin, s.deployment, s.input, _marked(shape))
    message = error_message(resp, 400)
    assert "features" in message, message
    assert_no_marker(resp)


def test_data_that_does_not_fill_the_shape_is_400(server, served):
    s = served["onnx-mlp"]
    body = {"inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                        "data": [MARKERS[0]] * 7}]}
    resp = server.admin.post(infer_path(s.deployment), json=body)
    message = error_message(resp, 400)
    assert "features" in message, message
    assert_no_marker(resp)


@pytest.mark.parametrize("declared,sent", [(12, 12), (16, 12), (12, 16)])
def test_binary_byte_count_that_does_not_match_the_shape_is_400(server, served, declared, sent):
    """[1, 4] FP32 is 16 bytes: a binary_data_size that says otherwise, or a body that holds
    fewer or more bytes than it says, is refused naming the tensor and what was expected."""
    s = served["torchscript-mlp"]
    raw = np.resize(np.array(MARKERS, "<f4"), 4).tobytes()[:sent].ljust(sent, b"\x00")
    header = json.dumps({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                                     "parameters": {"binary_data_size": declared}}]}).encode()
    resp = server.admin.post(infer_path(s.deployment), data=header + raw,
                             headers={**OCTETS, "Inference-Header-Content-Length": str(len(header))})
    message = error_message(resp, 400)
    assert "features" in message, message
    if declared != 16:  # the expectation, as the byte count or as shape and datatype
        assert "16" in message or ("FP32" in message and "4" in message), \
            f"the expected size is not named: {message}"
    assert_no_marker(resp)


def test_malformed_bodies_are_400_and_the_deployment_keeps_serving(server, served):
    s = served["torchscript-mlp"]
    for body in (b'{"inputs": [', b"not json", b'{"inputs": "features"}', b'{}'):
        resp = server.admin.post(infer_path(s.deployment), data=body,
                                 headers={"Content-Type": "application/json"})
        error_message(resp, 400)
    resp = server.admin.post(infer_path(s.deployment), data=b'{"inputs": []}',
                             headers={"Content-Type": "application/json",
                                      "Inference-Header-Content-Length": "9999"})
    error_message(resp, 400)
    resp = infer(server.admin, s.deployment, s.input, s.x)
    assert resp.status_code == 200, describe(resp)
    assert_matches(output_array(resp.json()), s.ref)


def test_a_runtime_exception_fails_that_request_only(server, zoo):
    model = create_model(server.admin)
    push(server.admin, model, zoo["fail.pt"], "torchscript", MLP_SIG)
    dep = deploy(server.admin, model)["name"]
    good_ref = models.torch_reference(zoo["mlp.pt"], MLP_X)

    error_message(infer(server.admin, dep, "features", POISON), 500)
    resp = infer(server.admin, dep, "features", MLP_X)
    assert resp.status_code == 200, describe(resp)
    assert_matches(output_array(resp.json()), good_ref)
    assert get_deployment(server.admin, dep)["state"] == "ready"
    # Alternating bad and good requests: each bad one fails alone.
    for _ in range(3):
        assert infer(server.admin, dep, "features", POISON).status_code == 500
        assert infer(server.admin, dep, "features", MLP_X).status_code == 200
    t = stats_totals(server.admin, dep)
    assert t["fail"] == 4 and t["success"] == 4, t



def _grpc_features(deployment: str, rows: np.ndarray):
    from oip_grpc import MESSAGES, pack

    req = MESSAGES["ModelInferRequest"](model_name=deployment)
    req.inputs.add(name="features", datatype="FP32", shape=list(rows.shape))
    req.raw_input_contents.append(pack("FP32", [float(v) for v in rows.ravel()]))
    return req


def test_an_undeclared_torchscript_signature_is_learned_from_the_first_success(server, zoo, grpc_client):
    """TorchScript records input names only. Without a declared signature a wrong shape is
    refused by the model itself: the caller's error (400, INVALID_ARGUMENT), not a 500. The
    first request that succeeds records the datatype and shapes, in the registry and in the
    metadata, and from then on requests are checked against them before the model runs."""
    import grpc

    model = create_model(server.admin)
    push(server.admin, model, zoo["mlp.pt"], "torchscript")
    version_path = f"/api/v1/models/{model}/versions/1"
    before = server.admin.get(version_path).json()["signature"]
    assert [t["name"] for t in before["inputs"]] == ["features"], before
    assert not before["inputs"][0].get("shape") and not before["inputs"][0].get("datatype"), before
    dep = deploy(server.admin, model)["name"]
    wrong = _marked((1, 3))

    resp = infer(server.admin, dep, "features", wrong)
    message = error_message(resp, 400)
    assert resp.json().get("code") == "bad_request", describe(resp)
    assert "rejected" in message and ("shape" in message or "size" in message), message
    assert_no_marker(resp)
    with pytest.raises(grpc.RpcError) as info:
        grpc_client.model_infer(_grpc_features(dep, wrong))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (info.value.code(), info.value.details())
    assert "rejected" in info.value.details(), info.value.details()

    resp = infer(server.admin, dep, "features", MLP_X)
    assert resp.status_code == 200, describe(resp)
    assert_matches(output_array(resp.json()), models.torch_reference(zoo["mlp.pt"], MLP_X))
    output_name = resp.json()["outputs"][0]["name"]

    learned_inputs = [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
    learned_outputs = [{"name": output_name, "datatype": "FP32", "shape": [-1, 3]}]

    def recorded():
        sig = server.admin.get(version_path).json()["signature"]
        return sig if sig["inputs"] and sig["inputs"][0].get("shape") else None

    sig = wait_for(recorded, 2.0, "the learned signature in the registry", interval=0.05)
    assert _tensor_specs(sig["inputs"]) == learned_inputs, sig
    assert _tensor_specs(sig["outputs"]) == learned_outputs, sig
    for path in (f"/v2/models/{dep}", f"/v2/models/{dep}/versions/1"):
        meta = server.admin.get(path)
        assert meta.status_code == 200, describe(meta)
        assert _tensor_specs(meta.json()["inputs"]) == learned_inputs, describe(meta)
        assert _tensor_specs(meta.json()["outputs"]) == learned_outputs, describe(meta)
    gmeta = grpc_client.model_metadata(name=dep)
    assert [(t.name, t.datatype, list(t.shape)) for t in gmeta.inputs] == [("features", "FP32", [-1, 4])]

    resp = infer(server.admin, dep, "features", wrong)
    message = error_message(resp, 400)
    assert "features" in message and "[1,3]" in message and "expected [-1,4]" in message, message
    assert_no_marker(resp)
    with pytest.raises(grpc.RpcError) as info:
        grpc_client.model_infer(_grpc_features(dep, wrong))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected [-1,4]" in info.value.details(), info.value.details()
    assert infer(server.admin, dep, "features", MLP_X).status_code == 200


def test_a_declared_signature_is_kept_after_requests(server, zoo):
    model = create_model(server.admin)
    push(server.admin, model, zoo["mlp.pt"], "torchscript", MLP_SIG)
    dep = deploy(server.admin, model)["name"]
    for _ in range(2):
        resp = infer(server.admin, dep, "features", MLP_X)
        assert resp.status_code == 200, describe(resp)
    message = error_message(infer(server.admin, dep, "features", _marked((1, 3))), 400)
    assert "expected [-1,4]" in message, message
    time.sleep(0.5)  # a signature learned by mistake would be recorded by now
    resp = server.admin.get(f"/api/v1/models/{model}/versions/1")
    assert resp.status_code == 200, describe(resp)
    assert resp.json()["signature"] == MLP_SIG, describe(resp)
    meta = server.admin.get(f"/v2/models/{dep}").json()
    assert _tensor_specs(meta["inputs"]) == MLP_SIG["inputs"], meta
    assert _tensor_specs(meta["outputs"]) == MLP_SIG["outputs"], meta


# --------------------------------------------------------------------------------------------
# Batching, queue limits, timeouts


def test_dynamic_batching_under_concurrent_load_batches_and_answers_each_row(server, zoo):
    model = create_model(server.admin)
    push(server.admin, model, zoo["cnn.pt"], "torchscript", CNN_SIG)
    dep = deploy(server.admin, model, max_batch_size=16, max_queue_delay_us=2000,
                 instances=1, threads=1)["name"]
    clients = 32
    # A different image per client, so that rows mixed up inside a batch are caught.
    xs = (np.random.RandomState(11).randint(0, 256, (clients, 1, 1, 28, 28)) / 256).astype(np.float32)
    refs = models.torch_reference(zoo["cnn.pt"], xs.reshape(clients, 1, 28, 28))
    ok = [0] * clients
    failures: list[str] = []
    stop_at = time.monotonic() + 3.0
    barrier = threading.Barrier(clients)

    def worker(i):
        client = Client(server, server.admin_token)
        barrier.wait()
        while time.monotonic() < stop_at and len(failures) < 20:
            try:
                resp = infer(client, dep, "x", xs[i])
                if resp.status_code != 200:
                    failures.append(describe(resp))
                    continue
                got = output_array(resp.json())
            except Exception as exc:
                failures.append(f"client {i}: {type(exc).__name__}: {exc}")
                continue
            if not np.allclose(got, refs[i:i + 1], rtol=0, atol=ATOL):
                failures.append(f"client {i}: {got.ravel()[:3]} != {refs[i, :3]}")
                continue
            ok[i] += 1

    run_threads(clients, worker)
    assert not failures, "\n".join(failures[:5])
    total = sum(ok)
    t = stats_totals(server.admin, dep)
    assert t["success"] == total, (t, total)
    assert t["execution_count"] < total, f"no batching: {t['execution_count']} executions for {total} requests"
    print(f"dynamic batching: {total} requests in {t['execution_count']} executions, "
          f"average batch {total / t['execution_count']:.2f}")
    assert t["batches"], "batch_stats is empty"
    assert max(t["batches"]) > 1 and max(t["batches"]) <= 16, t["batches"]
    assert sum(size * count for size, count in t["batches"].items()) == total, t["batches"]


def _at_once(n, setup, call) -> list:
    """n calls made at the same moment from n threads, each after its own setup(i); what each
    call(setup(i)) returned, or the exception it raised."""
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        prepared = setup(i)
        barrier.wait()
        try:
            results[i] = call(prepared)
        except Exception as exc:  # the caller judges what came back
            results[i] = exc

    run_threads(n, worker)
    return results


def _fire_at_once(server, dep, n) -> list:
    """n requests sent at the same moment from n threads; their responses."""
    results = _at_once(n, lambda i: Client(server, server.admin_token),
                       lambda client: infer(client, dep, "features", MLP_X[:1]))
    # A reset connection is an answer too, and a wrong one.
    dropped = [r for r in results if isinstance(r, Exception)]
    assert not dropped, f"{len(dropped)} of {n} requests got no HTTP answer: {dropped[0]!r}"
    return results


def test_a_full_queue_answers_503_with_retry_after(server, zoo):
    model = create_model(server.admin)
    push(server.admin, model, zoo["slow.pt"], "torchscript", SLOW_SIG)
    dep = deploy(server.admin, model, max_queue_size=1, max_batch_size=0, instances=1)["name"]
    results = _fire_at_once(server, dep, 20)
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {200, 503}, [describe(r) for r in results if r.status_code not in (200, 503)]
    rejected = [r for r in results if r.status_code == 503]
    assert rejected, f"20 concurrent requests on a queue of 1 were all taken: {statuses}"
    assert statuses.count(200) >= 1
    for r in rejected:
        error_message(r, 503)
        assert r.headers.get("Retry-After", "").isdigit(), describe(r)
    for r in results:
        if r.status_code == 200:
            assert_matches(output_array(r.json()), 2 * MLP_X[:1])
    # Once the queue drained, requests are taken again.
    resp = infer(server.admin, dep, "features", MLP_X[:1])
    assert resp.status_code == 200, describe(resp)


def test_a_request_past_its_timeout_is_504(server, zoo):
    model = create_model(server.admin)
    push(server.admin, model, zoo["slow.pt"], "torchscript", SLOW_SIG)
    # One call takes ~60 ms: the second of three simultaneous requests waits longer than 20 ms.
    dep = deploy(server.admin, model, timeout_ms=20, instances=1, max_batch_size=0)["name"]
    results = _fire_at_once(server, dep, 3)
    statuses = [r.status_code for r in results]
    assert set(statuses) <= {200, 504}, [describe(r) for r in results]
    assert 504 in statuses, statuses
    for r in results:
        if r.status_code == 504:
            error_message(r, 504)
    assert get_deployment(server.admin, dep)["state"] == "ready"


# --------------------------------------------------------------------------------------------
# Alias following and canary rollback


def test_moving_the_alias_under_load_swaps_versions_with_no_failed_request(server, zoo):
    model = create_model(server.admin)
    push(server.admin, model, zoo["mlp1.pt"], "torchscript", MLP_SIG)
    push(server.admin, model, zoo["mlp2.pt"], "torchscript", MLP_SIG)
    x = MLP_X[:1]
    refs = {1: models.torch_reference(zoo["mlp1.pt"], x), 2: models.torch_reference(zoo["mlp2.pt"], x)}
    assert np.abs(refs[1] - refs[2]).max() > 1e-2, "the two versions must answer differently"
    resp = server.admin.put(f"/api/v1/models/{model}/aliases/production", json={"version": 1})
    assert resp.status_code == 200, describe(resp)
    dep = deploy(server.admin, model, alias="production")
    assert dep["alias"] == "production" and serving_versions(dep) == [1]
    name = dep["name"]

    duration, move_after, settle = 20.0, 8.0, 5.0
    start = time.monotonic()
    records: list[list[tuple[float, int]]] = [[] for _ in range(4)]  # (sent at, version)
    failures: list[str] = []

    def worker(i):
        client = Client(server, server.admin_token)
        while time.monotonic() - start < duration:
            sent = time.monotonic()
            try:
                resp = infer(client, name, "features", x)
                if resp.status_code != 200:
                    failures.append(describe(resp))
                    continue
                body = resp.json()
                got = output_array(body)
            except Exception as exc:  # a dropped connection or a garbled answer fails too
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            version = next((v for v, ref in refs.items()
                            if np.allclose(got, ref, rtol=0, atol=ATOL)), None)
            if version is None or str(body["model_version"]) != str(version):
                failures.append(f"answer {got.ravel()} from version {body['model_version']} "
                                f"matches neither version's reference")
                continue
            records[i].append((sent, version))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(move_after)
    moved = server.admin.put(f"/api/v1/models/{model}/aliases/production", json={"version": 2})
    assert moved.status_code == 200, describe(moved)
    moved_at = time.monotonic()
    for t in threads:
        t.join(timeout=duration + 30)
        assert not t.is_alive(), "a client thread hung"

    assert not failures, f"{len(failures)} failed requests, e.g.:\n" + "\n".join(failures[:5])
    for i, rec in enumerate(records):
        versions = [v for _, v in rec]
        assert 1 in versions and 2 in versions, f"thread {i} saw {set(versions)}"
        first_new = versions.index(2)
        assert set(versions[first_new:]) == {2}, f"thread {i} went back to version 1 after 2"
        late = [v for sent, v in rec if sent > moved_at + settle]
        assert late and set(late) == {2}, f"thread {i} still on version 1 {settle}s after the move"

    shown = wait_for(lambda: (d := get_deployment(server.admin, name)) and
                     serving_versions(d) == [2] and d, 10, "version 1 to be drained and unloaded")
    assert shown["alias"] == "production" and shown["state"] == "ready"


def test_a_failing_canary_is_rolled_back_automatically(server, zoo):
    model = create_model(server.admin)
    push(server.admin, model, zoo["mlp.pt"], "torchscript", MLP_SIG)
    push(server.admin, model, zoo["fail.pt"], "torchscript", MLP_SIG)  # fails on POISON
    stable_ref = models.torch_reference(zoo["mlp.pt"], POISON)
    traffic = {"candidate": {"version": 2}, "weight": 50,
               "auto": {"steps": [50, 100], "window_s": 2, "min_requests": 10,
                        "max_error_rate_delta": 0.01, "max_p99_ratio": 10}}
    dep = deploy(server.admin, model, version=1, traffic=traffic)
    name = dep["name"]
    assert serving_versions(dep) == [1, 2]

    statuses: dict = {}
    lock = threading.Lock()
    stop = threading.Event()

    def worker(i):
        client = Client(server, server.admin_token)
        while not stop.is_set():
            try:
                status = infer(client, name, "features", POISON).status_code
            except Exception as exc:  # no HTTP answer at all
                status = type(exc).__name__
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    try:
        shown = wait_for(lambda: (d := get_deployment(server.admin, name)) and
                         "rolled_back" in json.dumps(d["traffic"].get("history", [])) and d,
                         30, "the canary to be rolled back", interval=0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert set(statuses) <= {200, 500}, statuses
    assert statuses.get(500, 0) > 0, f"the candidate never got a request: {statuses}"
    assert shown["state"] == "ready"
    assert shown["traffic"].get("weight", 0) == 0, shown["traffic"]
    wait_for(lambda: serving_versions(get_deployment(server.admin, name)) == [1], 10,
             "the candidate to be unloaded")
    for _ in range(30):
        resp = infer(server.admin, name, "features", POISON)
        assert resp.status_code == 200, describe(resp)
        assert str(resp.json()["model_version"]) == "1"
        assert_matches(output_array(resp.json()), stable_ref)


def test_a_healthy_canary_is_promoted_step_by_step(server, zoo):
    model = create_model(server.admin)
    push(server.admin, model, zoo["mlp1.pt"], "torchscript", MLP_SIG)
    push(server.admin, model, zoo["mlp2.pt"], "torchscript", MLP_SIG)
    refs = {1: models.torch_reference(zoo["mlp1.pt"], MLP_X), 2: models.torch_reference(zoo["mlp2.pt"], MLP_X)}
    traffic = {"candidate": {"version": 2},
               "auto": {"steps": [30, 60, 100], "window_s": 1, "min_requests": 5,
                        "max_error_rate_delta": 0.01, "max_p99_ratio": 50}}
    name = deploy(server.admin, model, version=1, traffic=traffic)["name"]
    seen: dict = {}
    stop = threading.Event()
    lock = threading.Lock()

    def worker():
        client = Client(server, server.admin_token)
        while not stop.is_set():
            resp = infer(client, name, "features", MLP_X)
            with lock:
                key = (resp.status_code, resp.json().get("model_version") if resp.status_code == 200 else None)
                seen[key] = seen.get(key, 0) + 1
            if resp.status_code == 200:
                v = int(resp.json()["model_version"])
                if not np.allclose(output_array(resp.json()), refs[v], atol=1e-5):
                    with lock:
                        seen["wrong answer"] = seen.get("wrong answer", 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        shown = wait_for(lambda: (d := get_deployment(server.admin, name)) and serving_versions(d) == [2] and d,
                         40, "the canary to be promoted", interval=0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert set(seen) <= {(200, "1"), (200, "2")}, seen
    assert seen.get((200, "1"), 0) > 0 and seen.get((200, "2"), 0) > 0, seen
    history = shown["traffic"]["history"]
    # Created at the first step (30%), one step to 60%, then promoted at 100%.
    steps = [(e["action"], e["weight"]) for e in history if e["action"] in ("canary", "step", "promoted")]
    assert steps == [("canary", 30), ("step", 60), ("promoted", 100)], history
    assert shown["version"] == 2 and shown["traffic"]["candidate"] is None


def test_shadow_traffic_reaches_the_candidate_but_never_the_client(server, zoo):
    model = create_model(server.admin)
    push(server.admin, model, zoo["mlp1.pt"], "torchscript", MLP_SIG)
    push(server.admin, model, zoo["mlp2.pt"], "torchscript", MLP_SIG)
    ref1 = models.torch_reference(zoo["mlp1.pt"], MLP_X)
    name = deploy(server.admin, model, version=1,
                  traffic={"candidate": {"version": 2}, "shadow_percent": 100})["name"]
    for _ in range(20):
        resp = infer(server.admin, name, "features", MLP_X)
        assert resp.status_code == 200, describe(resp)
        assert resp.json()["model_version"] == "1"
        assert_matches(output_array(resp.json()), ref1)
    wait_for(lambda: stats_totals(server.admin, name, version=2)["success"] == 20, 10,
             "the mirrored requests to be answered by the candidate")
    assert stats_totals(server.admin, name, version=1)["success"] == 20


TYPES_X = {  # two rows of each datatype; values chosen to stay in range when doubled
    "b": [True, False], "u8": [7, 100], "i8": [-60, 61], "i16": [-1000, 12000],
    "i32": [-70000, 1 << 29], "i64": [-(1 << 40), (1 << 61) + 3], "f16": [0.5, -1.25],
    "f32": [3.25, -0.125], "f64": [1e-300, 2.5e200],
}


def _types_expected(name):
    dtype = models.TYPES[name][1]
    x = np.array(TYPES_X[name], dtype=dtype)
    return (~x if dtype == "bool" else x * 2).reshape(2, 1)


@pytest.fixture(scope="module")
def types_deployment(server, tmp_path_factory) -> str:
    path = models.torchscript_types(tmp_path_factory.mktemp("types") / "types.pt")
    sig = {"inputs": [{"name": n, "datatype": dt, "shape": [-1, 1]} for n, (dt, _) in models.TYPES.items()],
           "outputs": [{"name": n, "datatype": dt, "shape": [-1, 1]} for n, (dt, _) in models.TYPES.items()]}
    model = create_model(server.admin)
    push(server.admin, model, path, "torchscript", sig)
    return deploy(server.admin, model, max_batch_size=8)["name"]


def test_every_torchscript_datatype_round_trips_as_json_and_binary(server, types_deployment):
    inputs = [{"name": n, "datatype": dt, "shape": [2, 1], "data": TYPES_X[n]}
              for n, (dt, _) in models.TYPES.items()]
    resp = server.admin.post(infer_path(types_deployment), json={"inputs": inputs})
    assert resp.status_code == 200, describe(resp)
    outs = {o["name"]: o for o in resp.json()["outputs"]}
    assert sorted(outs) == sorted(models.TYPES)
    for name, (dt, dtype) in models.TYPES.items():
        assert outs[name]["datatype"] == dt and outs[name]["shape"] == [2, 1]
        got = np.array(outs[name]["data"], dtype=dtype).reshape(2, 1)
        np.testing.assert_array_equal(got, _types_expected(name), err_msg=name)

    # The same through the binary extension, every output binary.
    header = {"inputs": [], "parameters": {"binary_data_output": True}}
    blobs = b""
    for name, (dt, dtype) in models.TYPES.items():
        raw = np.array(TYPES_X[name], dtype=dtype).tobytes()
        header["inputs"].append({"name": name, "datatype": dt, "shape": [2, 1],
                                 "parameters": {"binary_data_size": len(raw)}})
        blobs += raw
    head = json.dumps(header).encode()
    resp = server.admin.post(infer_path(types_deployment), data=head + blobs,
                             headers={"Content-Type": "application/octet-stream",
                                      "Inference-Header-Content-Length": str(len(head))})
    assert resp.status_code == 200, describe(resp)
    n = int(resp.headers["Inference-Header-Content-Length"])
    body = json.loads(resp.content[:n])
    offset = n
    for out in body["outputs"]:
        size = out["parameters"]["binary_data_size"]
        dtype = models.TYPES[out["name"]][1]
        got = np.frombuffer(resp.content[offset:offset + size], dtype=dtype).reshape(2, 1)
        offset += size
        np.testing.assert_array_equal(got, _types_expected(out["name"]), err_msg=out["name"])
    assert offset == len(resp.content)


def test_every_torchscript_datatype_round_trips_over_grpc(server, types_deployment, grpc_client):
    from oip_grpc import MESSAGES

    req = MESSAGES["ModelInferRequest"](model_name=types_deployment)
    for name, (dt, dtype) in models.TYPES.items():
        req.inputs.add(name=name, datatype=dt, shape=[2, 1])
        req.raw_input_contents.append(np.array(TYPES_X[name], dtype=dtype).tobytes())
    resp = grpc_client.model_infer(req)
    assert len(resp.outputs) == len(models.TYPES)
    for i, out in enumerate(resp.outputs):
        dtype = models.TYPES[out.name][1]
        got = np.frombuffer(resp.raw_output_contents[i], dtype=dtype).reshape(list(out.shape))
        np.testing.assert_array_equal(got, _types_expected(out.name), err_msg=out.name)


def test_inference_metrics_are_exported_per_deployment_and_version(server, served):
    s = served["torchscript-mlp"]
    assert infer(server.admin, s.deployment, s.input, s.x).status_code == 200
    text = server.admin.get("/metrics").text
    label = f'deployment="{s.deployment}"'
    for family in ("aimass_inference_requests_total", "aimass_inference_queue_seconds_bucket",
                   "aimass_inference_compute_seconds_bucket", "aimass_inference_batch_size_bucket",
                   "aimass_inference_pending_requests", "aimass_inference_instance_busy_seconds_total"):
        assert any(line.startswith(family) and label in line for line in text.splitlines()), family
    ok = [line for line in text.splitlines()
          if line.startswith("aimass_inference_requests_total") and label in line and 'outcome="success"' in line]
    assert ok and float(ok[0].split()[-1]) >= 1


# --------------------------------------------------------------------------------------------
# Deployments API, permissions, CLI


def test_deployment_lifecycle_and_validation(server, zoo, mlp_model):
    dep = deploy(server.admin, mlp_model, max_batch_size=8, max_queue_delay_us=100)
    name = dep["name"]
    assert dep["version"] == 1 and dep["max_batch_size"] == 8 and dep["max_queue_delay_us"] == 100
    assert name in {d["name"] for d in server.admin.get(DEPLOYMENTS).json()["deployments"]}

    error_message(server.admin.post(DEPLOYMENTS, json={"name": name, "model": mlp_model,
                                                       "version": 1}), 409)
    for bad in ({"name": "UPPER", "model": mlp_model, "version": 1},
                {"name": "../x", "model": mlp_model, "version": 1},
                {"name": unique("dep"), "model": mlp_model, "version": 1, "instances": 0},
                {"name": unique("dep"), "model": mlp_model, "version": 1, "max_batch_size": -1}):
        error_message(server.admin.post(DEPLOYMENTS, json=bad), 400)
    error_message(server.admin.post(DEPLOYMENTS, json={"name": unique("dep"),
                                                       "model": unique("nosuch"), "version": 1}),
                  (404, 422))
    error_message(server.admin.post(DEPLOYMENTS, json={"name": unique("dep"), "model": mlp_model,
                                                       "version": 99}), (404, 422))

    resp = server.admin.patch(f"{DEPLOYMENTS}/{name}", json={"max_batch_size": 4},
                              timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 200, describe(resp)
    assert get_deployment(server.admin, name)["max_batch_size"] == 4
    assert infer(server.admin, name, "features", MLP_X).status_code == 200

    resp = server.admin.delete(f"{DEPLOYMENTS}/{name}", timeout=LOAD_TIMEOUT_S)
    assert resp.status_code == 204, describe(resp)
    error_message(server.admin.get(f"{DEPLOYMENTS}/{name}"), 404)
    error_message(infer(server.admin, name, "features", MLP_X), 404)


def test_inference_is_not_audited_but_deployment_changes_are(server, served):
    from test_audit import find_audit_entry

    s = served["torchscript-mlp"]
    body = infer_body(s.input, s.x)
    served_id, refused_id, marker_id = unique("infer-ok-"), unique("infer-403-"), unique("dep-")
    resp = server.admin.post(infer_path(s.deployment), json=body, headers={"X-Request-Id": served_id})
    assert resp.status_code == 200, describe(resp)
    viewer = server.create_user(["viewer"])
    error_message(viewer.client.post(infer_path(s.deployment), json=body, headers={"X-Request-Id": refused_id}), 403)
    # A mutating platform call after both: once it is in the log, so would the others be.
    resp = server.admin.patch(f"{DEPLOYMENTS}/{unique('nosuch')}", json={}, headers={"X-Request-Id": marker_id})
    assert resp.status_code == 404
    marker = find_audit_entry(server, marker_id)
    assert marker["status"] == 404 and marker["route"] == "/api/v1/deployments/{name}"
    entries = server.admin.get("/api/v1/audit", params={"page_size": 1000}).json()["entries"]
    assert not {served_id, refused_id} & {e["request_id"] for e in entries}


def test_inference_needs_the_invoke_permission(server, served):
    s, other = served["torchscript-mlp"], served["onnx-mlp"]
    body = infer_body(s.input, s.x)
    error_message(server.anonymous.post(infer_path(s.deployment), json=body), 401)
    forged = Client(server, token="forged-token")
    error_message(forged.post(infer_path(s.deployment), json=body), 401)
    error_message(server.anonymous.post(f"/v1/models/{s.deployment}:predict", json={"instances": []}), 401)

    viewer = server.create_user(["viewer"])
    error_message(viewer.client.post(infer_path(s.deployment), json=body), 403)
    assert viewer.client.get(DEPLOYMENTS).status_code == 200  # deployments:read
    error_message(viewer.client.post(DEPLOYMENTS, json={"name": unique("dep"), "model": s.model,
                                                        "version": 1}), 403)

    role = server.create_role([f"inference.{s.deployment}:invoke"])
    one = server.create_user([role])
    resp = one.client.post(infer_path(s.deployment), json=body)
    assert resp.status_code == 200, describe(resp)
    assert_matches(output_array(resp.json()), s.ref)
    error_message(one.client.post(infer_path(other.deployment), json=body), 403)
    error_message(one.client.post(f"/v1/models/{other.deployment}:predict",
                                  json={"instances": s.x.tolist()}), 403)

    dev = server.create_user(["developer"])
    assert dev.client.post(infer_path(other.deployment), json=body).status_code == 200


def test_cli_deploy_create_list_show_update_delete(server, zoo, aimass_bin, tmp_path):
    model = create_model(server.admin)
    push(server.admin, model, zoo["mlp1.pt"], "torchscript", MLP_SIG)
    push(server.admin, model, zoo["mlp2.pt"], "torchscript", MLP_SIG)
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(aimass_bin, home)
    cli.login(server)
    name = unique("clidep")

    created = cli.json("deploy", "create", name, "--model", model, "--version", "1",
                       "--max-batch-size", "8")
    assert created["name"] == name and created["state"] == "ready"
    assert created["max_batch_size"] == 8
    assert name in {d["name"] for d in cli.json("deploy", "list")}
    table = cli.run("deploy", "list").stdout
    assert name in table and "NAME" in table.splitlines()[0]
    shown = cli.json("deploy", "show", name)
    assert shown["model"] == model and serving_versions(shown) == [1]

    cli.json("deploy", "update", name, "--version", "2")
    ref2 = models.torch_reference(zoo["mlp2.pt"], MLP_X)
    wait_for(lambda: serving_versions(get_deployment(server.admin, name)) == [2], 10,
             "the update to version 2")
    resp = infer(server.admin, name, "features", MLP_X)
    assert resp.status_code == 200, describe(resp)
    assert_matches(output_array(resp.json()), ref2)

    cli.run("deploy", "delete", name)
    assert server.admin.get(f"{DEPLOYMENTS}/{name}").status_code == 404
    proc = cli.run("deploy", "show", name, expect=1)
    assert "not_found" in proc.stderr
    cli.run("deploy", "create", unique("clidep"), expect=2)  # no --model


# --------------------------------------------------------------------------------------------
# gRPC (inference.GRPCInferenceService on --grpc-listen)


@pytest.fixture(scope="module")
def grpc_client(server):
    if importlib.util.find_spec("grpc") is None:
        pytest.fail("python3-grpcio is not installed (apt-get install python3-grpcio)", pytrace=False)
    from oip_grpc import V2Client

    assert server.grpc_port, "the server fixture passes no --grpc-listen"
    client = V2Client(f"127.0.0.1:{server.grpc_port}", server.admin_token)
    yield client
    client.close()


def _grpc_request(s: Served, raw: bool = True, version: str = ""):
    from oip_grpc import MESSAGES, pack

    req = MESSAGES["ModelInferRequest"](model_name=s.deployment, model_version=version, id="grpc-1")
    tensor = req.inputs.add(name=s.input, datatype="FP32", shape=list(s.x.shape))
    values = [float(v) for v in s.x.ravel()]
    if raw:
        req.raw_input_contents.append(pack("FP32", values))
    else:
        tensor.contents.fp32_contents.extend(values)
    return req


def test_grpc_server_live_ready_and_metadata_match_rest(server, served, grpc_client):
    assert grpc_client.server_live().live is True
    assert grpc_client.server_ready().ready is True
    meta = grpc_client.server_metadata()
    rest = server.admin.get("/v2").json()
    assert meta.name == rest["name"] and meta.version == rest["version"]
    assert sorted(meta.extensions) == sorted(rest["extensions"])


@pytest.mark.parametrize("kind", ["torchscript-cnn", "onnx-mlp", "xgboost"])
def test_grpc_model_metadata_and_ready_match_rest(server, served, grpc_client, kind):
    s = served[kind]
    meta = grpc_client.model_metadata(name=s.deployment)
    rest = server.admin.get(f"/v2/models/{s.deployment}").json()
    assert meta.name == rest["name"] and list(meta.versions) == [str(v) for v in rest["versions"]]
    assert meta.platform == rest["platform"]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == \
        [(t["name"], t["datatype"], list(t["shape"])) for t in rest["inputs"]]
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.outputs] == \
        [(t["name"], t["datatype"], list(t["shape"])) for t in rest["outputs"]]
    assert grpc_client.model_ready(name=s.deployment).ready is True
    assert grpc_client.model_ready(name=s.deployment, version="1").ready is True


@pytest.mark.parametrize("raw", [True, False], ids=["raw-contents", "typed-contents"])
@pytest.mark.parametrize("kind", KINDS)
def test_grpc_infer_gives_the_rest_answer_and_the_reference(server, served, grpc_client, kind, raw):
    from oip_grpc import output_values

    s = served[kind]
    resp = grpc_client.model_infer(_grpc_request(s, raw=raw))
    assert resp.model_name == s.deployment and resp.model_version == "1" and resp.id == "grpc-1"
    assert len(resp.outputs) == 1 and resp.outputs[0].datatype == "FP32"
    got = np.array(output_values(resp, 0), dtype=np.float64).reshape(list(resp.outputs[0].shape))
    assert_matches(got, s.ref, f"gRPC {kind}")

    rest = infer(server.admin, s.deployment, s.input, s.x)
    assert rest.status_code == 200, describe(rest)
    rest_out = rest.json()["outputs"][0]
    assert resp.outputs[0].name == rest_out["name"]
    assert list(resp.outputs[0].shape) == list(rest_out["shape"])
    np.testing.assert_allclose(got, output_array(rest.json()), rtol=0, atol=ATOL)


def test_grpc_typed_contents_out_of_range_are_invalid_argument(server, types_deployment, grpc_client):
    import grpc
    from oip_grpc import MESSAGES

    for name, values in [("i8", [-1000, 1]), ("i8", [128, 1]), ("i16", [-40000, 1]), ("i16", [1, 32768])]:
        req = MESSAGES["ModelInferRequest"](model_name=types_deployment)
        tensor = req.inputs.add(name=name, datatype=models.TYPES[name][0], shape=[2, 1])
        tensor.contents.int_contents.extend(values)
        with pytest.raises(grpc.RpcError) as info:
            grpc_client.model_infer(req)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, values, info.value.details())
        assert "out of range" in info.value.details() and name in info.value.details()


def test_grpc_errors_use_the_grpc_status_codes(server, served, grpc_client):
    import grpc

    s = served["torchscript-mlp"]
    cases = []
    unknown = _grpc_request(s)
    unknown.model_name = unique("nosuch")
    cases.append((unknown, None, grpc.StatusCode.NOT_FOUND))
    cases.append((_grpc_request(s, version="99"), None, grpc.StatusCode.NOT_FOUND))
    renamed = _grpc_request(s)
    renamed.inputs[0].name = "pixels"
    cases.append((renamed, None, grpc.StatusCode.INVALID_ARGUMENT))
    short = _grpc_request(s)
    short.raw_input_contents[0] = short.raw_input_contents[0][:-4]
    cases.append((short, None, grpc.StatusCode.INVALID_ARGUMENT))
    cases.append((_grpc_request(s), "", grpc.StatusCode.UNAUTHENTICATED))
    viewer = server.create_user(["viewer"])
    cases.append((_grpc_request(s), viewer.token, grpc.StatusCode.PERMISSION_DENIED))
    for request, token, code in cases:
        kw = {} if token is None else {"token": token}
        with pytest.raises(grpc.RpcError) as info:
            grpc_client.model_infer(request, **kw)
        assert info.value.code() == code, (code, info.value.code(), info.value.details())
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert request.inputs[0].name in info.value.details(), info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        grpc_client.model_metadata(name=unique("nosuch"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # Still serving.
    assert grpc_client.model_infer(_grpc_request(s)).outputs


def test_grpc_calls_waiting_for_the_model_get_its_queue_and_timeout_answers(server, zoo, grpc_client):
    """ModelInfer waits for its answer without a thread of its own: the answer (or the error)
    comes from the executor, or from the call's timer at its deadline. A full queue is
    UNAVAILABLE, a call past its timeout DEADLINE_EXCEEDED, and the calls that ran get the
    model's answer."""
    import grpc

    model = create_model(server.admin)
    push(server.admin, model, zoo["slow.pt"], "torchscript", SLOW_SIG)
    x = MLP_X[:1]

    def fire(dep, n):
        s = Served("slow", dep, model, "features", "doubled", x, 2 * x)
        return _at_once(n, lambda i: _grpc_request(s), grpc_client.model_infer)

    def code(r):
        if isinstance(r, grpc.RpcError):
            return r.code()
        return f"raised {r!r}" if isinstance(r, Exception) else grpc.StatusCode.OK

    def check(results, failure):
        codes = [code(r) for r in results]
        assert set(codes) <= {grpc.StatusCode.OK, failure}, codes
        assert failure in codes and grpc.StatusCode.OK in codes, codes
        for r in results:
            if not isinstance(r, grpc.RpcError):
                assert r.model_name and r.outputs[0].name == "doubled"
                got = np.frombuffer(r.raw_output_contents[0], np.float32).reshape(x.shape)
                assert_matches(got, 2 * x)

    full = deploy(server.admin, model, max_queue_size=1, max_batch_size=0, instances=1)["name"]
    check(fire(full, 20), grpc.StatusCode.UNAVAILABLE)
    # One call takes ~60 ms: of three at once, the later ones wait past 20 ms.
    late = deploy(server.admin, model, timeout_ms=20, instances=1, max_batch_size=0)["name"]
    results = fire(late, 3)
    check(results, grpc.StatusCode.DEADLINE_EXCEEDED)
    # Given up at the deadline while still queued (as REST answers 504 then), not when the
    # executor reached it 40 ms later.
    details = [r.details() for r in results if isinstance(r, grpc.RpcError)]
    assert any("did not start within the deployment's timeout" in d for d in details), details
    assert get_deployment(server.admin, late)["state"] == "ready"
