#!/usr/bin/python3
"""Registry writes of bench/distributed.sh, through the HTTP API with THREADS clients at once:
model creations (metadata only: one row, its tags, its full-text entry) and version pushes (a
small TorchScript artifact each: upload, blob store, validation, rows). Prints one line:

  REGISTRY models_per_s=… versions_per_s=…

  distributed_registry.py URL TOKEN ARTIFACT THREADS SECONDS
"""
import sys
import threading
import time
import uuid

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from serving_setup import call, expect  # noqa: E402

url, token, artifact_path, threads, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
artifact = open(artifact_path, "rb").read()


def run(work):
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def worker(i):
        while time.monotonic() < stop:
            work(i)
            counts[i] += 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    start = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def create_model(_):
    status, _, body = call("POST", f"{url}/api/v1/models",
                           {"name": "w" + uuid.uuid4().hex[:16], "description": "a model made by the benchmark",
                            "tags": ["bench", "write"]}, token=token)
    expect(status, (201,), "create model", body)


models = ["v" + uuid.uuid4().hex[:16] for _ in range(threads)]
for m in models:
    status, _, body = call("POST", f"{url}/api/v1/models", {"name": m}, token=token)
    expect(status, (201,), "create model", body)


def push_version(i):
    status, _, body = call("POST", f"{url}/api/v1/models/{models[i]}/versions?framework=torchscript", artifact,
                           {"Content-Type": "application/octet-stream"}, token=token)
    expect(status, (201,), "push version", body)


print(f"REGISTRY models_per_s={run(create_model):.1f} versions_per_s={run(push_version):.1f}")
