"""Measurements for bench/registry.sh, all through the HTTP API."""
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

url, queries, size_mb, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method, path, body=None, headers=None):
    req = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
    with opener.open(req, timeout=600) as r:
        return r.status, r.read()


token = json.loads(call("POST", "/api/v1/auth/login",
                        json.dumps({"username": "admin", "password": "bench-password-1"}).encode())[1])["access_token"]
auth = {"Authorization": f"Bearer {token}"}

shapes = {
    "task equals": "task = 'ner'",
    "name prefix": "name LIKE 'model-0042%'",
    "metric threshold": "metrics.accuracy > 0.99",
    "tag and framework": "tag = 'nlp' AND framework = 'onnx'",
    "or, metric, time": "(task = 'ner' OR task = 'summarization') AND metrics.f1 > 0.9 AND created > '2026-06-01'",
}
print(f"search: {queries} sequential queries per shape after 5 warm-ups, page_size=50")
print(f"{'shape':<20} {'hits(page)':>10} {'p50 ms':>8} {'p99 ms':>8}")
worst_p99 = 0.0
for label, f in shapes.items():
    path = "/api/v1/model-versions/search?" + urllib.parse.urlencode({"filter": f, "page_size": 50})
    for _ in range(5):
        call("GET", path, headers=auth)
    times = []
    hits = 0
    for _ in range(queries):
        t = time.perf_counter()
        _, body = call("GET", path, headers=auth)
        times.append((time.perf_counter() - t) * 1000)
        hits = len(json.loads(body)["versions"])
    times.sort()
    p50, p99 = statistics.median(times), times[max(0, int(len(times) * 0.99) - 1)]
    worst_p99 = max(worst_p99, p99)
    print(f"{label:<20} {hits:>10} {p50:>8.2f} {p99:>8.2f}")
print(f"worst p99: {worst_p99:.2f} ms (goal: well under 50 ms)")

# Upload throughput: a real TorchScript model of SIZE_MB, pushed as a version, against copying
# the same file on the same disk with an fsync (what the server does before answering).
# Three different models: the same bytes twice would be deduplicated (no write, no fsync).
srcs = [os.path.join(work, f"big-{i}.pt") for i in range(3)]
for i, path in enumerate(srcs):
    subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "make_big_model.py"),
                    path, str(size_mb), str(i)], check=True)
src = srcs[0]
size = os.path.getsize(src)
call("POST", "/api/v1/models", json.dumps({"name": "big"}).encode(), {**auth, "Content-Type": "application/json"})
cp_times, up_times = [], []
for i in range(3):
    dst = os.path.join(work, f"copy-{i}.pt")
    t = time.perf_counter()
    with open(srcs[i], "rb") as a, open(dst, "wb") as b:
        while chunk := a.read(1 << 20):
            b.write(chunk)
        b.flush()
        os.fsync(b.fileno())
    cp_times.append(time.perf_counter() - t)
    os.remove(dst)
    t = time.perf_counter()
    with open(srcs[i], "rb") as f:
        status, body = call("POST", "/api/v1/models/big/versions?framework=torchscript", f,
                            {**auth, "Content-Type": "application/octet-stream", "Content-Length": str(size)})
    up_times.append(time.perf_counter() - t)
    v = json.loads(body)
    assert v["status"] == "ready" and v["version"] == i + 1, body[:200]
cp, up = statistics.median(cp_times), statistics.median(up_times)
print(f"upload {size / 1e6:.0f} MB TorchScript: aimass {size / up / 1e6:.0f} MB/s (median of 3, incl. "
      f"hashing, fsync, LibTorch validation), copy+fsync {size / cp / 1e6:.0f} MB/s; ratio {cp / up:.2f}x (goal >= 0.7x)")
