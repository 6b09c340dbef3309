"""bench/jobs.sh's measurements (see its header)."""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from aimass_bench import Aimass

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from slurm_helpers import Slurm  # noqa: E402

JOBS = int(os.environ.get("JOBS", "200"))
MANY = int(os.environ.get("MANY", "1000"))
CLIENTS = int(os.environ.get("CLIENTS", "8"))
SKIP_SLURM = bool(os.environ.get("SKIP_SLURM"))


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


class JobsAimass(Aimass):
    def __init__(self, work: Path, slurm: Slurm | None):
        super().__init__(work, ["--set", "cluster.slurm=true", "--set", f"cluster.slurm_conf={slurm.conf}"] if slurm else [])

    def submit(self, **spec):
        return self.call("POST", "/api/v1/jobs", spec)["id"]

    def wait_all(self, ids, timeout=1800):
        pending, deadline = set(ids), time.monotonic() + timeout
        jobs = {}
        while pending and time.monotonic() < deadline:
            page = self.call("GET", f"/api/v1/jobs?page_size=1000&state=succeeded,failed,cancelled,timed_out")["jobs"]
            for j in page:
                if j["id"] in pending:
                    pending.discard(j["id"])
                    jobs[j["id"]] = j
            if pending:
                time.sleep(0.02)
        assert not pending, f"{len(pending)} jobs did not finish"
        bad = [j for j in jobs.values() if j["state"] != "succeeded"]
        assert not bad, f"jobs failed: {bad[:2]}"
        return jobs


def latency_aimass(a: Aimass, executor: str) -> list[float]:
    """One job at a time (the queue empty), each `true`: the server's created_at to started_at."""
    lat = []
    for _ in range(JOBS):
        jid = a.submit(command=["true"], sandbox=False, executor=executor, name=f"lat-{executor}")
        while (j := a.call("GET", f"/api/v1/jobs/{jid}"))["state"] not in ("succeeded", "failed"):
            time.sleep(0.002)
        assert j["state"] == "succeeded", j
        lat.append((ts(j["started_at"]) - ts(j["created_at"])) * 1000)
    return lat


def latency_sbatch(slurm: Slurm, work: Path) -> list[float]:
    """The same through sbatch alone: submission to Slurm's StartTime (whole seconds)."""
    out, ids, submitted = work / "sbatch-out", [], {}
    out.mkdir()
    for _ in range(JOBS):
        t = time.time()
        r = subprocess.run(["sbatch", "--parsable", "-o", f"{out}/%j", "--wrap", "true"], env=slurm.env,
                           capture_output=True, text=True, check=True)
        sid = r.stdout.strip().split(";")[0]
        ids.append(sid)
        submitted[sid] = t
        wait_slurm(slurm, [sid])
    lat = []
    for sid in ids:
        info = subprocess.run(["scontrol", "-o", "show", "job", sid], env=slurm.env, capture_output=True,
                              text=True).stdout
        start = [f for f in info.split() if f.startswith("StartTime=")][0].split("=", 1)[1]
        lat.append((datetime.fromisoformat(start).timestamp() - submitted[sid]) * 1000)
    return lat


def wait_slurm(slurm: Slurm, ids, timeout=3600):
    """Until every job in `ids` has ended (the fixture keeps ended jobs listed: MinJobAge)."""
    want, deadline = set(ids), time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T"], env=slurm.env, capture_output=True, text=True)
        done = {l.split("|")[0] for l in r.stdout.splitlines() if l.split("|")[1] in ("COMPLETED", "FAILED", "CANCELLED",
                                                                                      "TIMEOUT")}
        if want <= done:
            return
        time.sleep(0.2)
    raise RuntimeError("Slurm jobs did not finish")


def many_aimass(a: Aimass, sandbox: bool) -> float:
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        ids = list(pool.map(lambda _: a.submit(command=["true"], sandbox=sandbox, name="many"), range(MANY)))
    a.wait_all(ids)
    return time.monotonic() - t0


def many_xargs() -> float:
    t0 = time.monotonic()
    subprocess.run(f"seq {MANY} | xargs -P $(nproc) -I{{}} true", shell=True, check=True)
    return time.monotonic() - t0


def many_slurm(slurm: Slurm, work: Path) -> float:
    out = work / "many-out"
    out.mkdir()
    t0 = time.monotonic()
    ids = []
    for _ in range(MANY):
        r = subprocess.run(["sbatch", "--parsable", "-o", f"{out}/%j", "--wrap", "true"], env=slurm.env,
                           capture_output=True, text=True, check=True)
        ids.append(r.stdout.strip().split(";")[0])
    wait_slurm(slurm, ids)
    return time.monotonic() - t0


def main():
    sys.stdout.reconfigure(line_buffering=True)
    work = Path(tempfile.mkdtemp(prefix="bench-jobs."))
    slurm = None
    try:
        cpu = next(l for l in open("/proc/cpuinfo") if l.startswith("model name")).split(":")[1].strip()
        print(f"machine: {os.cpu_count()} cores, {cpu}; JOBS={JOBS} MANY={MANY} CLIENTS={CLIENTS}")
        if not SKIP_SLURM:
            slurm = Slurm(work / "slurm").start()
        a = JobsAimass(work, slurm)
        node = a.call("GET", "/api/v1/cluster/nodes")["nodes"][0]
        print(f"aimass node: {node['cpus']} CPUs, limits {node['limits']}")
        lat = latency_aimass(a, "local")
        print(f"(a) submit-to-running, aimass local:  p50 {pct(lat, 50):.1f} ms  p99 {pct(lat, 99):.1f} ms")
        if slurm:
            lat_s = latency_aimass(a, "slurm")
            print(f"(a) submit-to-running, aimass->Slurm: p50 {pct(lat_s, 50):.1f} ms  p99 {pct(lat_s, 99):.1f} ms")
            lat_n = latency_sbatch(slurm, work)
            print(f"(a) submit-to-running, sbatch alone:  p50 {pct(lat_n, 50):.0f} ms  p99 {pct(lat_n, 99):.0f} ms "
                  "(StartTime has whole seconds)")
        x = many_xargs()
        t = many_aimass(a, False)
        ts_ = many_aimass(a, True)
        print(f"(b) {MANY} x true: xargs -P {os.cpu_count()} {x:.2f} s; aimass local {t:.2f} s "
              f"(ratio {x / t:.2f}x of xargs); sandboxed {ts_:.2f} s (ratio {x / ts_:.2f}x)")
        if slurm:
            s = many_slurm(slurm, work)
            print(f"(b) {MANY} x true: Slurm (sbatch) {s:.2f} s; aimass is {s / t:.1f}x faster")
        a.stop()
    finally:
        if slurm:
            slurm.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
