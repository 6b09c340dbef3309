"""bench/train.sh's measurement (see its header)."""
from __future__ import annotations

import gzip
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aimass_bench import Aimass

THREADS = int(os.environ.get("THREADS", "2"))
EPOCHS = int(os.environ.get("EPOCHS", "3"))
ROWS = int(os.environ.get("ROWS", "60000"))
BATCH = int(os.environ.get("BATCH", "64"))
FASHION = Path("/usr/share/datasets/fashion-mnist")

# The peer: the network train.torch builds for `image_shape: [1, 28, 28]` (its default hidden
# sizes 32, 64, 128), trained as train.torch trains it.
PYTORCH = r"""
import gzip, json, sys, time, numpy as np, torch
threads, epochs, rows, batch = map(int, sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(42)
with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
    f.read(16); x = np.frombuffer(f.read(), np.uint8).reshape(-1, 784)[:rows]
with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as f:
    f.read(8); y = np.frombuffer(f.read(), np.uint8)[:rows]
x = torch.tensor(x, dtype=torch.float32); y = torch.tensor(y, dtype=torch.int64)
x = torch.nan_to_num((x - x.mean()) / x.std(unbiased=False), 0.0)
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 3, padding=1); self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
        self.d0 = torch.nn.Linear(64 * 7 * 7, 128); self.d1 = torch.nn.Linear(128, 10)
    def forward(self, x):
        x = x.reshape(-1, 1, 28, 28)
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.dropout(torch.relu(self.d0(torch.flatten(x, 1))), 0.25, self.training)
        return self.d1(x)
net = Net(); opt = torch.optim.Adam(net.parameters(), 1e-3)
times = []
for epoch in range(epochs):
    start = time.perf_counter(); net.train()
    order = torch.randperm(rows)
    total = 0.0
    for at in range(0, rows, batch):
        idx = order[at:at + batch]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x.index_select(0, idx)), y.index_select(0, idx))
        loss.backward(); opt.step()
        total += loss.item() * idx.numel()
    times.append(time.perf_counter() - start)
    print(json.dumps({"epoch": epoch + 1, "seconds": times[-1], "train_loss": total / rows}), flush=True)
"""


def table() -> bytes:
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as f:
        _, n, r, c = struct.unpack(">IIII", f.read(16))
        pixels = f.read(n * r * c)
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as f:
        f.read(8)
        labels = f.read(n)
    out = ["label," + ",".join(f"p{i}" for i in range(784))]
    for k in range(min(ROWS, n)):
        out.append(f"{labels[k]}," + ",".join(map(str, pixels[k * 784:(k + 1) * 784])))
    return gzip.compress(("\n".join(out) + "\n").encode(), 1)


def aimass_epochs(work: Path) -> list[float]:
    a = Aimass(work)
    try:
        a.call("POST", "/api/v1/datasets", {"name": "fashion"})
        a.call("POST", "/api/v1/datasets/fashion/versions", data=table(),
               headers={"Content-Type": "text/csv", "Content-Encoding": "gzip"})
        while a.call("GET", "/api/v1/datasets/fashion/versions/1")["status"] == "building":
            time.sleep(0.5)
        a.call("POST", "/api/v1/pipelines", {"name": "bench-train", "steps": [
            {"name": "train", "uses": "train.torch", "resources": {"cpus": THREADS, "memory_mb": 3072},
             "with": {"train": "fashion", "label": "label", "image_shape": [1, 28, 28], "epochs": EPOCHS,
                      "batch_size": BATCH, "threads": THREADS, "dropout": 0.25, "learning_rate": 0.001}}]})
        run = a.call("POST", "/api/v1/pipelines/bench-train/runs", {})["id"]
        while (r := a.call("GET", f"/api/v1/pipeline-runs/{run}"))["state"] in ("queued", "running"):
            time.sleep(1)
        assert r["state"] == "succeeded", r
        tracking = r["steps"][0]["outputs"]["run"]
        points = a.call("GET", f"/api/v1/runs/{tracking}/metrics/epoch_seconds")["metrics"]
        loss = a.call("GET", f"/api/v1/runs/{tracking}/metrics/train_loss")["metrics"]
        for p, l in zip(points, loss):
            print(f"  aimass  epoch {p['step']}: {p['value']:.2f} s, train_loss {l['value']:.4f}", flush=True)
        return [p["value"] for p in points]
    finally:
        a.stop()


def pytorch_epochs() -> list[float]:
    out = subprocess.run(["/usr/bin/python3", "-c", PYTORCH, str(THREADS), str(EPOCHS), str(ROWS), str(BATCH)],
                         check=True, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(THREADS))).stdout
    times = []
    for line in out.splitlines():
        e = json.loads(line)
        print(f"  pytorch epoch {e['epoch']}: {e['seconds']:.2f} s, train_loss {e['train_loss']:.4f}", flush=True)
        times.append(e["seconds"])
    return times


def main() -> None:
    print(f"Fashion-MNIST CNN, {ROWS} images, batch {BATCH}, {THREADS} threads, {EPOCHS} epochs each", flush=True)
    # The peer runs before and after, so that a slow spell of the machine falls on both sides.
    theirs = pytorch_epochs()
    with tempfile.TemporaryDirectory() as tmp:
        ours = aimass_epochs(Path(tmp))
    theirs += pytorch_epochs()
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"median epoch: aimass train.torch {m_ours:.2f} s ({ROWS / m_ours:.0f} images/s), "
          f"PyTorch from Python {m_theirs:.2f} s ({ROWS / m_theirs:.0f} images/s)")
    print(f"ratio (PyTorch time / aimass time): {m_theirs / m_ours:.2f}x (goal >= 1.0x)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
