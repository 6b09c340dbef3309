"""Experiment tracking for the AI Mass Python client: a run that buffers what it logs and sends
it in batches (one POST /api/v1/runs/{id}/log per flush), and a sampler of system metrics
(CPU, memory, GPUs when nvidia-smi is present) logged under `system/`, with MLflow's names.

    with client.start_run("fashion", params={"lr": 0.01}, system_metrics=True) as run:
        for epoch in range(10):
            run.log_metrics({"loss": loss, "accuracy": acc}, step=epoch)
        run.log_artifact("model.pt")
    # the run ends succeeded, or failed if the block raised
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from typing import Any


class Run:
    def __init__(self, client, info: dict, flush_every: int = 1000, flush_interval_s: float = 5.0):
        self.client = client
        self.info = info
        self.id: int = info["id"]
        self.flush_every = flush_every
        self.flush_interval_s = flush_interval_s
        self._lock = threading.Lock()
        self._metrics: list[dict] = []
        self._last_flush = time.monotonic()
        self._sampler: SystemMetrics | None = None

    # -- logging (buffered metrics; params, tags and links go at once) ------------------------

    def log_metric(self, key: str, value: float, step: int = 0, timestamp_ms: int | None = None) -> None:
        point = {"key": key, "value": float(value), "step": int(step),
                 "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)}
        with self._lock:
            self._metrics.append(point)
            due = len(self._metrics) >= self.flush_every or time.monotonic() - self._last_flush >= self.flush_interval_s
        if due:
            self.flush()

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        for k, v in metrics.items():
            self.log_metric(k, v, step, now)

    def log_params(self, params: dict[str, Any]) -> None:
        self.client.log_batch(self.id, params=params)

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.client.log_batch(self.id, tags=tags)

    def log_input(self, dataset: str, version: int) -> None:
        self.client.log_batch(self.id, inputs=[{"dataset": dataset, "version": version}])

    def log_output(self, model: str, version: int) -> None:
        self.client.log_batch(self.id, outputs=[{"model": model, "version": version}])

    def log_artifact(self, local_path: str | os.PathLike, path: str | None = None) -> dict:
        return self.client.log_artifact(self.id, local_path, path)

    def flush(self) -> None:
        with self._lock:
            points, self._metrics = self._metrics, []
            self._last_flush = time.monotonic()
        for i in range(0, len(points), 10000):  # the server's default limit per call
            self.client.log_batch(self.id, metrics=points[i:i + 10000])

    # -- system metrics and the end ------------------------------------------------------------

    def start_system_metrics(self, interval_s: float = 10.0) -> None:
        if self._sampler is None:
            self._sampler = SystemMetrics(self, interval_s)
            self._sampler.start()

    def end(self, status: str = "succeeded") -> dict:
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        self.flush()
        self.info = self.client.update_run(self.id, status=status)
        return self.info

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.end("failed" if exc_type is not None else "succeeded")


class SystemMetrics:
    """Samples the machine every interval_s seconds on a thread of its own."""

    def __init__(self, run: Run, interval_s: float):
        self.run = run
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aimass-system-metrics", daemon=True)
        self._step = 0
        self._cpu = _cpu_times()
        self._nvidia_smi = shutil.which("nvidia-smi")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()  # the last stretch too

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        values: dict[str, float] = {}
        cpu = _cpu_times()
        busy, total = cpu[0] - self._cpu[0], cpu[1] - self._cpu[1]
        self._cpu = cpu
        if total > 0:
            values["system/cpu_utilization_percentage"] = round(100.0 * busy / total, 2)
        mem = _meminfo()
        if "MemTotal" in mem and "MemAvailable" in mem:
            used = mem["MemTotal"] - mem["MemAvailable"]
            values["system/system_memory_usage_megabytes"] = round(used / 1024, 1)
            values["system/system_memory_usage_percentage"] = round(100.0 * used / mem["MemTotal"], 2)
        if self._nvidia_smi:
            values.update(_gpus(self._nvidia_smi))
        try:
            self.run.log_metrics(values, step=self._step)
        except Exception:  # a sampler never ends the run it watches
            pass
        self._step += 1


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return (0, 0)
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle, sum(fields))


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                name, _, rest = line.partition(":")
                out[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def _gpus(nvidia_smi: str) -> dict[str, float]:
    try:
        text = subprocess.run([nvidia_smi, "--query-gpu=utilization.gpu,memory.used,memory.total",
                               "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for i, line in enumerate(text.strip().splitlines()):
        try:
            util, used, total = (float(x) for x in line.split(","))
        except ValueError:
            continue
        out[f"system/gpu_{i}_utilization_percentage"] = util
        out[f"system/gpu_{i}_memory_usage_megabytes"] = used
        out[f"system/gpu_{i}_memory_usage_percentage"] = round(100.0 * used / total, 2) if total else 0.0
    return out
