#!/usr/bin/python3
"""Helpers of bench/serving.sh, all through the server's HTTP API (urllib, no extra packages).

  serving_setup.py login URL PASSWORD
      prints an access token for admin
  serving_setup.py push URL TOKEN MODEL FILE SIGNATURE_JSON
      creates registry model MODEL and uploads FILE as TorchScript with the declared signature
  serving_setup.py deploy URL TOKEN DEPLOYMENT_JSON
      POST /api/v1/deployments (201 once loaded and warmed)
  serving_setup.py check URL TOKEN NAME MODEL_DIR KIND [json|binary ...]
      sends the benchmark's fixed request for KIND (cnn or trivial) to /v2/models/NAME/infer
      and compares the answer with the in-process result in MODEL_DIR/expected.json
"""
import json
import struct
import sys
import urllib.error
import urllib.request


def call(method, url, body=None, headers=None, token=None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def expect(status, wanted, what, body):
    if status not in wanted:
        sys.exit(f"{what}: HTTP {status}: {body[:2000].decode(errors='replace')}")


def login(url, password):
    status, _, body = call("POST", f"{url}/api/v1/auth/login", {"username": "admin", "password": password})
    expect(status, (200,), "login", body)
    print(json.loads(body)["access_token"])


def push(url, token, model, path, signature):
    status, _, body = call("POST", f"{url}/api/v1/models", {"name": model, "task": "other"}, token=token)
    expect(status, (200, 201), f"create model {model}", body)
    with open(path, "rb") as f:
        artifact = f.read()
    status, _, body = call("POST", f"{url}/api/v1/models/{model}/versions?framework=torchscript", artifact,
                           {"Content-Type": "application/octet-stream",
                            "X-Model-Metadata": json.dumps({"signature": json.loads(signature)})}, token=token)
    expect(status, (201,), f"push {model}", body)


def deploy(url, token, spec):
    status, _, body = call("POST", f"{url}/api/v1/deployments", json.loads(spec), token=token)
    expect(status, (201,), f"deploy {spec}", body)


def close(got, want, what):
    if len(got) != len(want) or any(abs(g - w) > 1e-5 + 1e-4 * abs(w) for g, w in zip(got, want)):
        sys.exit(f"{what}: wrong answer: got {got}, expected {want}")


def check(url, token, name, model_dir, kind, modes):
    want = json.load(open(f"{model_dir}/expected.json"))[kind]
    infer = f"{url}/v2/models/{name}/infer"
    if "json" in modes:
        body = open(f"{model_dir}/{kind}.json", "rb").read()
        status, _, resp = call("POST", infer, body, {"Content-Type": "application/json"}, token)
        expect(status, (200,), f"{name} JSON infer", resp)
        out = json.loads(resp)["outputs"][0]
        close(out["data"], want, f"{name} JSON infer")
    if "binary" in modes:
        body = open(f"{model_dir}/{kind}.bin", "rb").read()
        hlen = open(f"{model_dir}/{kind}.bin.hlen").read().strip()
        status, headers, resp = call("POST", infer, body,
                                     {"Content-Type": "application/octet-stream",
                                      "Inference-Header-Content-Length": hlen}, token)
        expect(status, (200,), f"{name} binary infer", resp)
        n = int(headers["Inference-Header-Content-Length"])
        out = json.loads(resp[:n])["outputs"][0]
        raw = resp[n:n + out["parameters"]["binary_data_size"]]
        close(list(struct.unpack(f"<{len(raw) // 4}f", raw)), want, f"{name} binary infer")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "login":
        login(*args)
    elif cmd == "push":
        push(*args)
    elif cmd == "deploy":
        deploy(*args)
    elif cmd == "check":
        check(args[0], args[1], args[2], args[3], args[4], args[5:] or ["json", "binary"])
    else:
        sys.exit(f"unknown command {cmd}")
