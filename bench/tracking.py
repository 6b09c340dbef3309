"""bench/tracking.sh's measurements (see its header)."""
from __future__ import annotations

import http.client
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from aimass_bench import Aimass

CLIENTS = int(os.environ.get("CLIENTS", "4"))
SECONDS = float(os.environ.get("SECONDS", "10"))
BATCH = int(os.environ.get("BATCH", "10000"))  # points per logging call
KEYS = 10                                       # metric keys per call
RUNS = int(os.environ.get("RUNS", "200000"))
QUERIES = int(os.environ.get("QUERIES", "200"))
LRS = ["0.1", "0.03", "0.01", "0.003", "0.001", "0.0003", "0.0001", "3e-05", "1e-05", "3e-06"]
OPTS = ["sgd", "adam", "adamw", "rmsprop"]


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def batch_points(call: int) -> list[dict]:
    steps = BATCH // KEYS
    t0 = 1_700_000_000_000 + call * steps
    return [{"key": f"m{k}", "value": (k + 1) / (s + 1), "step": call * steps + s, "timestamp": t0 + s}
            for s in range(steps) for k in range(KEYS)]


def log_aimass(a: Aimass) -> tuple[float, int]:
    """Points per second acknowledged by POST /runs/{id}/log, CLIENTS connections, one run each."""
    a.call("POST", "/api/v1/experiments", {"name": "throughput"})
    bodies = [json.dumps({"metrics": batch_points(c)}).encode() for c in range(8)]
    counts = [0] * CLIENTS
    stop = time.monotonic() + SECONDS

    def client(i: int):
        run = a.call("POST", "/api/v1/runs", {"experiment": "throughput"})["id"]
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
        headers = {"Authorization": f"Bearer {a.token}", "Content-Type": "application/json"}
        n = 0
        while time.monotonic() < stop:
            conn.request("POST", f"/api/v1/runs/{run}/log", bodies[n % len(bodies)], headers)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200, body
            counts[i] += BATCH
            n += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    return sum(counts) / took, sum(counts)


def log_sqlite(work: Path) -> float:
    """The same points into SQLite (WAL, synchronous=FULL: durable per commit, as the server),
    one transaction per batch, into a metrics table keyed as MLflow's SQL store keys it."""
    db = sqlite3.connect(work / "peer-log.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE metrics (run_uuid TEXT, key TEXT, value REAL, timestamp INTEGER, step INTEGER, "
               "is_nan INTEGER, PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan))")
    batches = [[("run-1", p["key"], p["value"], p["timestamp"], p["step"], 0) for p in batch_points(c)]
               for c in range(1000)]
    n, stop = 0, time.monotonic() + SECONDS
    t0 = time.perf_counter()
    while time.monotonic() < stop:
        db.execute("BEGIN")
        db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", batches[n % len(batches)])
        db.execute("COMMIT")
        n += 1
        if n % len(batches) == 0:
            db.execute("DELETE FROM metrics")
    took = time.perf_counter() - t0
    return n * BATCH / took


def run_params(i: int) -> tuple[dict, dict]:
    rng = random.Random(i)
    params = {"lr": rng.choice(LRS), "optimizer": rng.choice(OPTS), "batch_size": str(rng.choice([32, 64, 128, 256])),
              "seed": str(i)}
    metrics = {"accuracy": round(rng.random(), 5), "loss": round(rng.random() * 2, 5), "f1": round(rng.random(), 5)}
    return params, metrics


def populate_aimass(a: Aimass) -> float:
    """RUNS runs in 4 experiments, each created with its params, then its metrics logged."""
    for e in range(4):
        a.call("POST", "/api/v1/experiments", {"name": f"search-{e}"})
    t0 = time.perf_counter()

    def client(k: int):
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
        headers = {"Authorization": f"Bearer {a.token}", "Content-Type": "application/json"}
        for i in range(k, RUNS, 8):
            params, metrics = run_params(i)
            conn.request("POST", "/api/v1/runs", json.dumps({"experiment": f"search-{i % 4}", "params": params}), headers)
            resp = conn.getresponse()
            run = json.loads(resp.read())
            assert resp.status == 201, run
            body = {"metrics": [{"key": k, "value": v, "step": 10} for k, v in metrics.items()]}
            conn.request("POST", f"/api/v1/runs/{run['id']}/log", json.dumps(body), headers)
            resp = conn.getresponse()
            assert resp.status == 200, resp.read()
            resp.read()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def queries(seed: int) -> list[tuple[str, str, str]]:
    """(experiment, filter, order_by): a param and a metric, selective or broad, ordered by a
    metric or by start time."""
    rng = random.Random(seed)
    out = []
    for q in range(QUERIES):
        lr, opt, cut = rng.choice(LRS), rng.choice(OPTS), round(rng.uniform(0.1, 0.95), 2)
        if q % 3 == 0:
            out.append(("", f"params.lr = '{lr}' AND metrics.accuracy > {cut}", "metrics.accuracy DESC"))
        elif q % 3 == 1:
            out.append(("", f"params.optimizer = '{opt}' AND metrics.loss < {cut}", ""))
        else:
            out.append((f"search-{q % 4}", f"params.lr = '{lr}' AND metrics.f1 >= {cut}", "metrics.loss ASC"))
    return out


def search_aimass(a: Aimass, qs) -> tuple[list[float], int]:
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    headers = {"Authorization": f"Bearer {a.token}"}
    lat, returned = [], 0
    for exp, flt, order in qs:
        params = {"filter": flt, "page_size": 100}
        if exp:
            params["experiment"] = exp
        if order:
            params["order_by"] = order
        t0 = time.perf_counter()
        conn.request("GET", "/api/v1/runs?" + urllib.parse.urlencode(params), headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        lat.append((time.perf_counter() - t0) * 1000)
        assert resp.status == 200, body
        returned += len(json.loads(body)["runs"])
    return lat, returned


def populate_peer(work: Path) -> sqlite3.Connection:
    """MLflow's SQL store schema (runs, params, latest_metrics, with its indexes) in SQLite, the
    same runs inserted directly."""
    db = sqlite3.connect(work / "peer-search.db", isolation_level=None)
    db.executescript("""
        CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name TEXT UNIQUE);
        CREATE TABLE runs (run_uuid TEXT PRIMARY KEY, name TEXT, status TEXT, start_time INTEGER,
                           experiment_id INTEGER, lifecycle_stage TEXT);
        CREATE INDEX index_runs_experiment_id ON runs (experiment_id);
        CREATE TABLE params (key TEXT, value TEXT, run_uuid TEXT, PRIMARY KEY (key, run_uuid));
        CREATE INDEX index_params_run_uuid ON params (run_uuid);
        CREATE TABLE latest_metrics (key TEXT, value REAL, timestamp INTEGER, step INTEGER, is_nan INTEGER,
                                     run_uuid TEXT, PRIMARY KEY (key, run_uuid));
        CREATE INDEX index_latest_metrics_run_uuid ON latest_metrics (run_uuid);
    """)
    db.execute("BEGIN")
    for e in range(4):
        db.execute("INSERT INTO experiments VALUES (?, ?)", (e, f"search-{e}"))
    for i in range(RUNS):
        params, metrics = run_params(i)
        uuid = f"{i:032x}"
        db.execute("INSERT INTO runs VALUES (?, ?, 'RUNNING', ?, ?, 'active')", (uuid, f"run-{i}", i, i % 4))
        db.executemany("INSERT INTO params VALUES (?, ?, ?)", [(k, v, uuid) for k, v in params.items()])
        db.executemany("INSERT INTO latest_metrics VALUES (?, ?, 0, 10, 0, ?)", [(k, v, uuid) for k, v in metrics.items()])
    db.execute("COMMIT")
    db.execute("ANALYZE")
    return db


def search_peer(db: sqlite3.Connection, qs) -> list[float]:
    """Each query as MLflow's search_runs builds it: a join per filtered param and metric, a
    left join for the ordering metric, LIMIT 100."""
    lat = []
    for exp, flt, order in qs:
        parts = flt.split(" AND ")
        pkey, pval = parts[0][len("params."):].split(" = ")
        mkey, mop, mval = parts[1][len("metrics."):].split(" ")
        sql = ("SELECT runs.run_uuid FROM runs "
               "JOIN (SELECT run_uuid FROM params WHERE key = ? AND value = ?) p ON p.run_uuid = runs.run_uuid "
               f"JOIN (SELECT run_uuid FROM latest_metrics WHERE key = ? AND value {mop} ?) m ON m.run_uuid = runs.run_uuid ")
        args = [pkey, pval.strip("'"), mkey, float(mval)]
        if order:
            okey, odir = order[len("metrics."):].split(" ")
            sql += "LEFT JOIN latest_metrics o ON o.run_uuid = runs.run_uuid AND o.key = ? "
            args.append(okey)
        sql += "WHERE runs.lifecycle_stage = 'active'"
        if exp:
            sql += " AND runs.experiment_id = ?"
            args.append(int(exp.split("-")[1]))
        sql += f" ORDER BY o.value IS NULL, o.value {odir}, runs.start_time DESC" if order else " ORDER BY runs.start_time DESC"
        sql += " LIMIT 100"
        t0 = time.perf_counter()
        db.execute(sql, args).fetchall()
        lat.append((time.perf_counter() - t0) * 1000)
    return lat


def main():
    work = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    print(f"# {os.cpu_count()} CPUs; work dir {work}", flush=True)
    a = Aimass(work)
    try:
        rate, points = log_aimass(a)
        peer = log_sqlite(work)
        print(f"(a) metric points logged, durable: aimass {rate:,.0f}/s ({points:,} points, {CLIENTS} clients, "
              f"{BATCH:,} per call); sqlite one transaction per batch {peer:,.0f}/s; ratio {rate / peer:.2f}x "
              f"(goal >= 200,000/s)", flush=True)
        took = populate_aimass(a)
        print(f"(b) {RUNS:,} runs created and logged through the API in {took:.0f} s ({RUNS / took:,.0f} runs/s)",
              flush=True)
        qs = queries(1)
        search_aimass(a, qs[:20])  # warm the page cache
        lat, returned = search_aimass(a, qs)
    finally:
        a.stop()
    db = populate_peer(work)
    search_peer(db, qs[:20])
    peer_lat = search_peer(db, qs)
    print(f"(b) run search at {RUNS:,} runs, {len(qs)} queries (param + metric filter, 100 per page, "
          f"{returned / len(qs):.0f} runs returned on average): aimass p50 {statistics.median(lat):.1f} ms "
          f"p99 {pct(lat, 99):.1f} ms (goal p99 < 100 ms); MLflow's query shape on its SQLite schema, in process, "
          f"p50 {statistics.median(peer_lat):.1f} ms p99 {pct(peer_lat, 99):.1f} ms", flush=True)


if __name__ == "__main__":
    sys.exit(main())
