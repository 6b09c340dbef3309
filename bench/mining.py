"""bench/mining.sh: the analysis module's mining jobs (POST /api/v1/analysis/mining) against peers
on this machine, side by side in one run: FP-growth association rules on the Online Retail
invoices against a textbook Apriori in Python (bench/mining_apriori.py), and k-means (Lloyd,
k-means++) on ROWS x DIMS Gaussian blobs against scikit-learn's KMeans on the same threads.
See mining.sh's header."""
from __future__ import annotations

import csv
import http.client
import io
import json
import os
import resource
import shlex
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SKLEARN_PATH = "/opt/aimass-sklearn/usr/lib/python3/dist-packages"  # scikit-learn 1.2 and SciPy, unpacked
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, SKLEARN_PATH)
import aimass_bench  # noqa: E402
from aimass_bench import Aimass, machine  # noqa: E402
from mining_apriori import apriori, baskets_of, online_retail_rows  # noqa: E402

BIN = aimass_bench.BIN
REPEAT = int(os.environ.get("REPEAT", 3))  # AI Mass jobs and scikit-learn fits of each kind
APRIORI_REPEAT = int(os.environ.get("APRIORI_REPEAT", 3))
SUPPORTS = [float(x) for x in os.environ.get("SUPPORTS", "0.01,0.005").split(",")]
MIN_CONFIDENCE = float(os.environ.get("MIN_CONFIDENCE", 0.5))
ROWS = int(os.environ.get("ROWS", 1_000_000))
DIMS = int(os.environ.get("DIMS", 20))
K = int(os.environ.get("K", 8))
MAX_ITER, TOL = 300, 1e-4
DATA_SEED = 42
THREADS = int(os.environ.get("THREADS", 2))  # analysis.mining_threads and scikit-learn's thread pools
WORK = Path(os.environ.get("WORK", "/tmp/aimass-bench-mining"))  # the blobs are kept here between runs
RUN_DIR = os.environ.get("RUN_DIR")  # mining.sh's temporary directory (the server's data), removed on exit
QUIET_WAIT_S = float(os.environ.get("QUIET_WAIT_S", 300))  # before each timed run, at most this long
QUIET_CORES = float(os.environ.get("QUIET_CORES", 0.3))
MINING = "/api/v1/analysis/mining"
CLK = os.sysconf("SC_CLK_TCK")


def progress(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------- CPU accounting (as bench/crowd.py)

def machine_busy_s() -> float:
    """All CPUs' busy time since boot (user, nice, system, irq, softirq, steal), seconds."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] if len(f) > 7 else 0)) / CLK


def proc_cpu_s(pid: int) -> float:
    """A process's CPU time, all its threads (utime + stime)."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def wait_quiet(what: str) -> None:
    """Waits (up to QUIET_WAIT_S) until other processes use under QUIET_CORES cores over 3 s: on a
    shared machine, a build beside a timed run slows it."""
    if QUIET_WAIT_S <= 0:
        return
    t0 = time.perf_counter()
    while True:
        b0, s0 = machine_busy_s(), self_cpu_s()
        time.sleep(3)
        cores = (machine_busy_s() - b0 - (self_cpu_s() - s0)) / 3
        waited = time.perf_counter() - t0
        if cores < QUIET_CORES or waited >= QUIET_WAIT_S:
            if waited > 4:
                progress(f"  (waited {waited:.0f} s for a quiet machine before {what}: others at {cores:.2f} cores)")
            return


class Meter:
    """Wall time, the CPU time of the server and of this process, and other processes' CPU use
    (cores) over one timed run."""

    def __init__(self, server_pid: int):
        self.pid = server_pid

    def __enter__(self):
        self.b0, self.s0, self.c0, self.t0 = machine_busy_s(), self_cpu_s(), proc_cpu_s(self.pid), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.server_cpu = proc_cpu_s(self.pid) - self.c0
        self.self_cpu = self_cpu_s() - self.s0
        busy = machine_busy_s() - self.b0
        self.others = max(0.0, busy - self.server_cpu - self.self_cpu) / self.wall
        return False


# ---------------------------------------------------------------- data

def blobs_path() -> Path:
    return WORK / f"blobs-{ROWS}x{DIMS}-k{K}-seed{DATA_SEED}.csv"


def make_blobs() -> tuple[Path, np.ndarray, float]:
    """ROWS points in DIMS dimensions around K centres (uniform in [-2.5, 2.5]^DIMS), each
    coordinate N(0, 2) around its centre: overlapping blobs, so that Lloyd's iterations are a
    dozen or two rather than two. Values rounded to 4 decimals, written as CSV (header c0..cN),
    kept in WORK; the array is the CSV read back (np.loadtxt), the very doubles the server
    parses. Returns the path, the array and the seconds it took to make or find."""
    t0 = time.perf_counter()
    path = blobs_path()
    npy = path.with_suffix(".npy")
    if path.exists() and npy.exists():
        return path, np.load(npy), time.perf_counter() - t0
    WORK.mkdir(parents=True, exist_ok=True)
    progress(f"making {path} ({ROWS:,} x {DIMS}, {K} blobs, seed {DATA_SEED})")
    rng = np.random.default_rng(DATA_SEED)
    centres = rng.uniform(-2.5, 2.5, size=(K, DIMS))
    labels = rng.integers(0, K, size=ROWS)
    x = np.round(centres[labels] + rng.normal(scale=2.0, size=(ROWS, DIMS)), 4)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w") as f:
        f.write(",".join(f"c{j}" for j in range(DIMS)) + "\n")
        np.savetxt(f, x, fmt="%.4f", delimiter=",")
    back = np.loadtxt(tmp, delimiter=",", skiprows=1, dtype=np.float64)
    if back.shape != x.shape or not np.allclose(back, x, rtol=0, atol=1e-9):
        sys.exit("the blobs' CSV does not read back as written")
    np.save(npy, back)
    tmp.rename(path)
    return path, back, time.perf_counter() - t0


def retail_csv(rows) -> bytes:
    """The cleaned purchases as the dataset the rules are mined from: one row per invoice line."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["invoice", "item"])
    w.writerows((inv, code) for _, code, _, inv in rows)
    return out.getvalue().encode()


# ---------------------------------------------------------------- AI Mass

def start_server(work: Path) -> Aimass:
    """aimass server as the other benchmarks start it (bench/aimass_bench.py), mining on THREADS
    threads; its pid written for mining.sh's trap. A server that started but never answered is
    killed here (Aimass's constructor does not return it)."""
    srv = Aimass.__new__(Aimass)
    try:
        srv.__init__(work, extra_args=["--set", f"analysis.mining_threads={THREADS}", "--set", "analysis.mining_workers=1"])
    except BaseException:
        if getattr(srv, "proc", None):
            srv.proc.kill()
            srv.proc.wait()
            sys.stderr.write((work / "aimass.log").read_text(errors="replace")[-3000:])
        raise
    (work / "aimass.pid").write_text(str(srv.proc.pid))
    return srv


def upload(srv: Aimass, name: str, body, size: int) -> dict:
    """Creates dataset `name` and uploads `body` (bytes or a file) as its version 1; seconds to
    the answer and until the version is no longer building."""
    srv.call("POST", "/api/v1/datasets", {"name": name})
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=3600)
    conn.request("POST", f"/api/v1/datasets/{name}/versions", body=body,
                 headers={"Authorization": f"Bearer {srv.token}", "Content-Type": "text/csv", "Content-Length": str(size)})
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    answered = time.perf_counter() - t0
    if r.status not in (200, 201, 202):
        raise RuntimeError(f"upload of {name}: HTTP {r.status}: {raw[:500]!r}")
    v = json.loads(raw)
    while v["status"] == "building":
        time.sleep(0.05)
        v = srv.call("GET", f"/api/v1/datasets/{name}/versions/{v['version']}")
    ready = time.perf_counter() - t0
    if v["status"] != "ready":
        raise RuntimeError(f"dataset {name} version: {json.dumps(v)[:1000]}")
    return {"answered_s": answered, "ready_s": ready, "version": v, "bytes": size}


def run_job(srv: Aimass, kind: str, dataset: str, params: dict, label: str) -> dict:
    """One mining job, POST to its end polled every 20 ms; the job as it finished, with the wall
    time and CPU accounting of the run."""
    wait_quiet(label)
    body = {"kind": kind, "source": {"dataset": dataset, "version": "latest"}, "params": params}
    with Meter(srv.proc.pid) as m:
        job = srv.call("POST", MINING, body)
        if job.get("state") != "queued":
            raise RuntimeError(f"{label}: POST {MINING} answered {json.dumps(job)[:1000]}")
        while job["state"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.02)
            job = srv.call("GET", f"{MINING}/{job['id']}")
    if job["state"] != "succeeded":
        sys.exit(f"{label}: job {job['id']} {job['state']}: {json.dumps(job)[:3000]}")
    r = job["result"]
    return {"job": job, "result": r, "compute_ms": r["timing_ms"]["compute"], "read_ms": r["timing_ms"]["read"],
            "duration_ms": job["duration_ms"], "wall_s": m.wall, "server_cpu_s": m.server_cpu, "others": m.others}


# ---------------------------------------------------------------- the peers

def apriori_run(baskets, min_support: float, label: str, server_pid: int) -> dict:
    wait_quiet(label)
    with Meter(server_pid) as m:
        r = apriori(baskets, min_support)
    return {"ms": m.wall * 1000, "itemsets": r["itemsets"], "per_level": r["per_level"], "min_count": r["min_count"],
            "cpu_s": m.self_cpu, "others": m.others}


def sklearn_run(x: np.ndarray, seed: int, max_iter: int, label: str, server_pid: int) -> dict:
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits
    wait_quiet(label)
    with threadpool_limits(limits=THREADS):
        km = KMeans(n_clusters=K, n_init=1, algorithm="lloyd", init="k-means++", max_iter=max_iter, tol=TOL, random_state=seed)
        with Meter(server_pid) as m:
            km.fit(x)
    return {"ms": m.wall * 1000, "iterations": int(km.n_iter_), "inertia": float(km.inertia_), "cpu_s": m.self_cpu,
            "others": m.others}


def sklearn_threads() -> str:
    from threadpoolctl import threadpool_info, threadpool_limits
    import sklearn  # noqa: F401  (its OpenMP runtime loaded)
    import sklearn.cluster  # noqa: F401
    with threadpool_limits(limits=THREADS):
        return ", ".join(f"{p['internal_api']} {p.get('version') or ''} {p['num_threads']} threads".replace("  ", " ")
                         for p in threadpool_info())


# ---------------------------------------------------------------- report

def med(xs):
    return statistics.median(xs)


def fmt_list(xs, f="{:.0f}"):
    return ", ".join(f.format(x) for x in xs)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # mining.sh's trap: stop the server on the way out
    if not Path(BIN).exists():
        sys.exit(f"no aimass binary at {BIN} (AIMASS_BIN=...)")
    if REPEAT < 1 or APRIORI_REPEAT < 1:
        sys.exit("REPEAT and APRIORI_REPEAT are at least 1")
    import sklearn
    import scipy
    knobs = " ".join(f"{k}={os.environ[k]}" for k in ("AIMASS_BIN", "REPEAT", "APRIORI_REPEAT", "SUPPORTS", "MIN_CONFIDENCE", "ROWS",
                                                   "DIMS", "K", "THREADS", "WORK", "KEEP", "QUIET_WAIT_S", "QUIET_CORES")
                     if k in os.environ)
    command = f"{knobs + ' ' if knobs else ''}bench/mining.sh {shlex.join(sys.argv[1:])}".rstrip()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    st = os.stat(BIN)
    aimass_desc = (f"{BIN} ({st.st_size / 2**20:.0f} MiB, modified {datetime.fromtimestamp(st.st_mtime, timezone.utc):%Y-%m-%d %H:%M} UTC), "
                   f"analysis.mining_threads={THREADS}, analysis.mining_workers=1")
    peer_desc = (f"/usr/bin/python3 {sys.version.split()[0]}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
                 f"SciPy {scipy.__version__} ({SKLEARN_PATH})")
    print(f"command:  {command}")
    print(f"date:     {date}")
    print(f"machine:  {machine()}")
    print(f"aimass:   {aimass_desc}")
    print(f"peers:    {peer_desc}; scikit-learn under threadpool_limits({THREADS}): {sklearn_threads()}")
    print(f"runs:     AI Mass {REPEAT} jobs of each, scikit-learn {REPEAT} fits, Apriori {APRIORI_REPEAT} runs; medians; "
          f"round by round (each side once a round)")
    print(f"load avg: {loadavg()} (1, 5, 15 min) at the start", flush=True)

    # Data: the invoices, and the blobs (made once, kept in WORK).
    progress("reading Online Retail (tests/e2e/online_retail.py's purchases())")
    rows = online_retail_rows()
    baskets = baskets_of(rows)
    retail = retail_csv(rows)
    blobs, x, made_s = make_blobs()
    print(f"retail:   {len(rows):,} purchases (cleaned as tests/e2e/online_retail.py cleans them) in {len(baskets):,} invoices, "
          f"{len({c for _, c, _, _ in rows}):,} stock codes; uploaded as CSV invoice,item ({len(retail) / 1e6:.1f} MB)")
    print(f"blobs:    {blobs} ({ROWS:,} x {DIMS}, {K} centres uniform in [-2.5, 2.5]^{DIMS}, N(0, 2) around them, 4 decimals, "
          f"seed {DATA_SEED}; {blobs.stat().st_size / 1e6:.0f} MB; {made_s:.1f} s to make or find)", flush=True)

    work = Path(RUN_DIR) if RUN_DIR else Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    srv = start_server(work)
    try:
        progress(f"server up on 127.0.0.1:{srv.port} (data dir {srv.data_dir}); uploading the invoices")
        up_r = upload(srv, "retail", retail, len(retail))
        progress(f"uploading {blobs.name} ({blobs.stat().st_size / 1e6:.0f} MB)")
        with open(blobs, "rb") as f:
            up_b = upload(srv, "blobs", f, blobs.stat().st_size)
        print(f"\nuploads (not in any ratio): invoices answered in {up_r['answered_s']:.2f} s, ready in {up_r['ready_s']:.2f} s "
              f"({up_r['version'].get('row_count', '?')} rows); blobs ({up_b['bytes'] / 1e6:.0f} MB of CSV) answered in "
              f"{up_b['answered_s']:.1f} s, ready in {up_b['ready_s']:.1f} s ({up_b['version'].get('row_count', '?')} rows) = "
              f"{up_b['bytes'] / 1e6 / up_b['ready_s']:.0f} MB/s", flush=True)

        # 1. FP-growth against Apriori.
        rules = {}
        for ms in SUPPORTS:
            params = {"transaction_column": "invoice", "item_column": "item", "min_support": ms, "min_confidence": MIN_CONFIDENCE,
                      "max_itemsets": 10, "max_rules": 10}
            ours, theirs = [], []
            for i in range(max(REPEAT, APRIORI_REPEAT)):
                if i < REPEAT:
                    j = run_job(srv, "association_rules", "retail", params, f"FP-growth {ms:g} run {i + 1}")
                    r = j["result"]
                    ours.append(j)
                    progress(f"  AI Mass FP-growth min_support {ms:g} run {i + 1}/{REPEAT}: compute {j['compute_ms']} ms, read "
                             f"{j['read_ms']} ms, job {j['duration_ms']} ms, POST to done {j['wall_s'] * 1000:.0f} ms; "
                             f"{r['itemset_count']} itemsets, {r['rule_count']} rules, {r['transactions']} transactions "
                             f"(others {j['others']:.2f} cores)")
                if i < APRIORI_REPEAT:
                    a = apriori_run(baskets, ms, f"Apriori {ms:g} run {i + 1}", srv.proc.pid)
                    theirs.append(a)
                    progress(f"  Apriori min_support {ms:g} run {i + 1}/{APRIORI_REPEAT}: {a['ms']:.0f} ms, "
                             f"{len(a['itemsets'])} itemsets {a['per_level']} (others {a['others']:.2f} cores)")
            rules[ms] = {"params": params, "ours": ours, "theirs": theirs}

        # 2. k-means: the full fits, then the same seeds with max_iter 1 (the start and one
        # iteration: what is left of the difference is the cost of the other iterations).
        km_params = {"k": K, "n_init": 1, "max_iter": MAX_ITER, "tol": TOL, "init": "k-means++", "silhouette_sample": 0,
                     "projection_sample": 0, "columns": [f"c{j}" for j in range(DIMS)]}
        km = {"full": {"ours": [], "theirs": []}, "one": {"ours": [], "theirs": []}}
        for which, max_iter in (("full", MAX_ITER), ("one", 1)):
            for i in range(REPEAT):
                seed = i
                j = run_job(srv, "kmeans", "blobs", {**km_params, "max_iter": max_iter, "seed": seed},
                            f"k-means max_iter {max_iter} seed {seed}")
                r = j["result"]
                j.update(iterations=r["iterations"], inertia=r["inertia"], seed=seed)
                km[which]["ours"].append(j)
                progress(f"  AI Mass k-means max_iter {max_iter} seed {seed}: compute {j['compute_ms']} ms, read {j['read_ms']} ms, "
                         f"job {j['duration_ms']} ms; {r['iterations']} iterations, inertia {r['inertia']:.6g}; "
                         f"server CPU {j['server_cpu_s']:.1f} s (others {j['others']:.2f} cores)")
                if r["rows"] != ROWS or r.get("skipped_rows"):
                    sys.exit(f"k-means read {r['rows']} rows, skipped {r.get('skipped_rows')}: expected {ROWS}")
                s = sklearn_run(x, seed, max_iter, f"scikit-learn max_iter {max_iter} seed {seed}", srv.proc.pid)
                s["seed"] = seed
                km[which]["theirs"].append(s)
                progress(f"  scikit-learn KMeans max_iter {max_iter} random_state {seed}: {s['ms']:.0f} ms; {s['iterations']} "
                         f"iterations, inertia {s['inertia']:.6g}; CPU {s['cpu_s']:.1f} s (others {s['others']:.2f} cores)")
    finally:
        srv.stop()
    print(f"load avg: {loadavg()} (1, 5, 15 min) at the end")

    failures = []

    # ---- FP-growth against Apriori
    print("\n1. Association rules on the Online Retail invoices: AI Mass's FP-growth job (compute = timing_ms.compute: the "
          "itemsets\n   and the rules; job = duration_ms, claim to result written, reading the columns included) against "
          "Apriori in Python\n   (bench/mining_apriori.py: frequent itemsets only, no rules; in process, baskets as frozensets "
          "built beforehand).")
    hdr = (f"   {'min_support':>11} {'count':>5} {'itemsets (AI Mass / Apriori)':>28} {'rules':>6} | {'compute':>8} {'read':>6} {'job':>7} | "
           f"{'Apriori':>9} | {'Apriori/compute':>15} {'Apriori/job':>11}")
    print(hdr)
    print("   " + "-" * (len(hdr) - 3))
    rule_rows = []
    for ms, d in rules.items():
        ours, theirs = d["ours"], d["theirs"]
        n_ours = {j["result"]["itemset_count"] for j in ours}
        n_theirs = {len(a["itemsets"]) for a in theirs}
        truth = theirs[0]["itemsets"]
        if len(n_ours) != 1 or len(n_theirs) != 1 or n_ours != n_theirs:
            failures.append(f"min_support {ms:g}: frequent itemsets AI Mass {sorted(n_ours)} against Apriori {sorted(n_theirs)}")
        if any(j["result"]["transactions"] != len(baskets) for j in ours):
            failures.append(f"min_support {ms:g}: AI Mass saw {ours[0]['result']['transactions']} transactions, Apriori {len(baskets)}")
        for s in ours[0]["result"]["itemsets"]:  # the most frequent ones, with their counts
            key = tuple(sorted(s["items"]))
            if truth.get(key) != s["count"]:
                failures.append(f"min_support {ms:g}: itemset {list(key)} counted {s['count']} by AI Mass, {truth.get(key)} by Apriori")
        v = {"compute": med([j["compute_ms"] for j in ours]), "read": med([j["read_ms"] for j in ours]),
             "job": med([j["duration_ms"] for j in ours]), "apriori": med([a["ms"] for a in theirs])}
        v["r_compute"] = v["apriori"] / max(v["compute"], 0.5)
        v["r_job"] = v["apriori"] / max(v["job"], 0.5)
        rule_rows.append((ms, theirs[0]["min_count"], ours[0]["result"]["itemset_count"], len(truth), ours[0]["result"]["rule_count"], v,
                          theirs[0]["per_level"], ours, theirs))
        print(f"   {ms:>11g} {theirs[0]['min_count']:>5} {ours[0]['result']['itemset_count']:>13} / {len(truth):<12} "
              f"{ours[0]['result']['rule_count']:>6} | {v['compute']:>6.0f}ms {v['read']:>4.0f}ms {v['job']:>5.0f}ms | "
              f"{v['apriori']:>7.0f}ms | {v['r_compute']:>14.1f}x {v['r_job']:>10.1f}x")
    print("   runs (ms): " + "; ".join(
        f"{ms:g}: compute {fmt_list([j['compute_ms'] for j in ours])}, job {fmt_list([j['duration_ms'] for j in ours])}, "
        f"Apriori {fmt_list([a['ms'] for a in theirs])}" for ms, _, _, _, _, _, _, ours, theirs in rule_rows))
    print("   Apriori itemsets per level: " + "; ".join(f"{ms:g}: {lv}" for ms, _, _, _, _, _, lv, _, _ in rule_rows))
    print("   others (other processes' cores during the runs, median): " + "; ".join(
        f"{ms:g}: AI Mass {med([j['others'] for j in ours]):.2f}, Apriori {med([a['others'] for a in theirs]):.2f}"
        for ms, _, _, _, _, _, _, ours, theirs in rule_rows))

    # ---- k-means against scikit-learn
    fo, ft = km["full"]["ours"], km["full"]["theirs"]
    oo, ot = km["one"]["ours"], km["one"]["theirs"]

    def per_iter(full, one, key):
        # The seeds' own differences: (full - max_iter 1) / (iterations - 1), seed by seed.
        return [(f[key] - o[key]) / (f["iterations"] - 1) for f, o in zip(full, one) if f["iterations"] > 1]

    k = {"ours": med([j["compute_ms"] for j in fo]), "job": med([j["duration_ms"] for j in fo]), "read": med([j["read_ms"] for j in fo]),
         "theirs": med([s["ms"] for s in ft]),
         "ours_it": med([j["compute_ms"] / j["iterations"] for j in fo]), "theirs_it": med([s["ms"] / s["iterations"] for s in ft]),
         "ours_one": med([j["compute_ms"] for j in oo]), "theirs_one": med([s["ms"] for s in ot])}
    mo, mt = per_iter(fo, oo, "compute_ms"), per_iter(ft, ot, "ms")
    k["ours_marg"] = med(mo) if mo else float("nan")
    k["theirs_marg"] = med(mt) if mt else float("nan")
    k["ratio"] = k["theirs"] / k["ours"]
    k["ratio_it"] = k["theirs_it"] / k["ours_it"]
    k["ratio_one"] = k["theirs_one"] / k["ours_one"]
    k["ratio_marg"] = k["theirs_marg"] / k["ours_marg"]
    in_o, in_t = med([j["inertia"] for j in fo]), med([s["inertia"] for s in ft])
    spread = max(abs(v - in_t) / in_t for v in [j["inertia"] for j in fo] + [s["inertia"] for s in ft])
    if spread > 0.01:
        failures.append(f"k-means: inertias more than 1% from scikit-learn's median ({spread * 100:.2f}%)")
    print(f"\n2. k-means on {ROWS:,} x {DIMS} blobs, k={K}, k-means++, n_init 1, max_iter {MAX_ITER}, tol {TOL:g}, "
          f"{THREADS} threads each: AI Mass's job\n   (compute = timing_ms.compute; silhouette and projection off) against "
          f"scikit-learn {sklearn.__version__} KMeans(algorithm=\"lloyd\") .fit\n   in process on the same doubles (the CSV read "
          f"back), seeds 0..{REPEAT - 1} on both sides (different generators: different starts).")
    print(f"   {'':<30} {'AI Mass':>12} {'scikit-learn':>13} {'sklearn/AI Mass':>16}")
    print(f"   {'compute (median)':<30} {k['ours']:>10.0f}ms {k['theirs']:>11.0f}ms {k['ratio']:>15.2f}x")
    print(f"   {'compute / iterations':<30} {k['ours_it']:>10.1f}ms {k['theirs_it']:>11.1f}ms {k['ratio_it']:>15.2f}x")
    print(f"   {'max_iter 1 (start + 1 iter.)':<30} {k['ours_one']:>10.0f}ms {k['theirs_one']:>11.0f}ms {k['ratio_one']:>15.2f}x")
    print(f"   {'one more iteration (marginal)':<30} {k['ours_marg']:>10.1f}ms {k['theirs_marg']:>11.1f}ms {k['ratio_marg']:>15.2f}x")
    print(f"   {'job duration (median)':<30} {k['job']:>10.0f}ms {'':>13} (read {k['read']:.0f} ms of it: the columns into points)")
    print(f"   iterations by seed:  AI Mass {fmt_list([j['iterations'] for j in fo])}; scikit-learn {fmt_list([s['iterations'] for s in ft])}")
    print(f"   inertia by seed:     AI Mass {fmt_list([j['inertia'] for j in fo], '{:.1f}')}; scikit-learn "
          f"{fmt_list([s['inertia'] for s in ft], '{:.1f}')} (largest gap to sklearn's median {spread * 100:.4f}%)")
    print(f"   compute ms by seed:  AI Mass {fmt_list([j['compute_ms'] for j in fo])}; scikit-learn {fmt_list([s['ms'] for s in ft])}; "
          f"max_iter 1: {fmt_list([j['compute_ms'] for j in oo])}; {fmt_list([s['ms'] for s in ot])}")
    print(f"   CPU s by seed:       AI Mass server {fmt_list([j['server_cpu_s'] for j in fo], '{:.1f}')}; scikit-learn "
          f"{fmt_list([s['cpu_s'] for s in ft], '{:.1f}')}; others (cores): {fmt_list([j['others'] for j in fo], '{:.2f}')}; "
          f"{fmt_list([s['others'] for s in ft], '{:.2f}')}")
    print("   marginal iteration: (compute of the full fit - compute with max_iter 1) / (iterations - 1), same seed, median over "
          "seeds;\n   compute / iterations also carries the start (k-means++, the tolerance's variance, the final assignment).")
    print(f"\nGoal: k-means at least 1.0x scikit-learn (its time / ours): {k['ratio']:.2f}x  {'met' if k['ratio'] >= 1.0 else 'NOT MET'}"
          f" (per iteration {k['ratio_it']:.2f}x, marginal iteration {k['ratio_marg']:.2f}x)")

    # ---- the block for docs/benchmarks.md
    print("\n" + "=" * 100)
    print("Summary (for docs/benchmarks.md)\n")
    print(f"Command: `{command}`, {date}; {machine()}; load average {loadavg()} at the end.")
    print(f"AI Mass: {aimass_desc}. Peers: {peer_desc}.\n")
    print(f"Association rules, Online Retail ({len(rows):,} purchases, {len(baskets):,} invoices), min_confidence "
          f"{MIN_CONFIDENCE:g}; medians of {REPEAT} AI Mass jobs and {APRIORI_REPEAT} Apriori runs, ms:\n")
    print("| min_support | frequent itemsets (AI Mass = Apriori) | rules | FP-growth compute | job (read) | Apriori (Python) | Apriori / compute | Apriori / job |")
    print("|---|---|---|---|---|---|---|---|")
    for ms, mc, n_o, n_t, nr, v, _, _, _ in rule_rows:
        print(f"| {ms * 100:g}% ({mc} invoices) | {n_o:,} {'=' if n_o == n_t else '!='} {n_t:,} | {nr:,} | {v['compute']:.0f} | "
              f"{v['job']:.0f} ({v['read']:.0f}) | {v['apriori']:,.0f} | **{v['r_compute']:.1f}x** | {v['r_job']:.1f}x |")
    print(f"\nk-means, {ROWS:,} x {DIMS} Gaussian blobs, k={K}, n_init 1, max_iter {MAX_ITER}, tol {TOL:g}, {THREADS} threads; "
          f"medians of {REPEAT} (seeds 0-{REPEAT - 1}), ms:\n")
    print("| | AI Mass | scikit-learn (lloyd) | sklearn / AI Mass |")
    print("|---|---|---|---|")
    print(f"| compute | {k['ours']:,.0f} | {k['theirs']:,.0f} | **{k['ratio']:.2f}x** |")
    print(f"| compute / iteration | {k['ours_it']:.1f} | {k['theirs_it']:.1f} | {k['ratio_it']:.2f}x |")
    print(f"| start + 1 iteration (max_iter 1) | {k['ours_one']:,.0f} | {k['theirs_one']:,.0f} | {k['ratio_one']:.2f}x |")
    print(f"| one more iteration (marginal) | {k['ours_marg']:.1f} | {k['theirs_marg']:.1f} | {k['ratio_marg']:.2f}x |")
    print(f"| iterations (seeds 0-{REPEAT - 1}) | {fmt_list([j['iterations'] for j in fo])} | {fmt_list([s['iterations'] for s in ft])} | |")
    print(f"| inertia (median) | {in_o:,.1f} | {in_t:,.1f} | {(in_o - in_t) / in_t * 100:+.4f}% |")
    print(f"| job duration (read) | {k['job']:,.0f} ({k['read']:,.0f}) | | |")
    print(f"\nUpload of the blobs CSV ({up_b['bytes'] / 1e6:.0f} MB): answered {up_b['answered_s']:.1f} s, version ready "
          f"{up_b['ready_s']:.1f} s (not in the ratios).")
    print(f"Goal k-means >= 1.0x scikit-learn: {'met' if k['ratio'] >= 1.0 else 'NOT MET'} ({k['ratio']:.2f}x).")

    if failures:
        print("\nFAILED:")
        for f in failures:
            print(f"  {f}")
        sys.exit(1)


if __name__ == "__main__":
    main()
