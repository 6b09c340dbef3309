"""bench/datasets.sh's measurements (see its header)."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aimass_bench import Aimass

REPS = int(os.environ.get("REPS", "5"))
PROFILE_REPS = int(os.environ.get("PROFILE_REPS", "3"))
ROWS = int(os.environ.get("ROWS", "1000000"))
RETAIL = Path(__file__).resolve().parents[2] / "shared" / "data" / "online-retail" / "online_retail.csv.gz"


def load(srv: Aimass, name: str, csv_bytes: bytes) -> tuple[float, float, dict]:
    """Seconds until the upload is answered and until the version is ready."""
    srv.call("POST", "/api/v1/datasets", {"name": name})
    t0 = time.perf_counter()
    v = srv.call("POST", f"/api/v1/datasets/{name}/versions", data=csv_bytes, headers={"Content-Type": "text/csv"})
    stored = time.perf_counter() - t0
    while v["status"] == "building":
        time.sleep(0.005)
        v = srv.call("GET", f"/api/v1/datasets/{name}/versions/{v['version']}")
    return stored, time.perf_counter() - t0, v


def sqlite_import(work: Path, csv_path: Path) -> float:
    db = work / "import.db"
    if db.exists():
        db.unlink()
    t0 = time.perf_counter()
    subprocess.run(["sqlite3", str(db), ".import --csv " + str(csv_path) + " t"], check=True)
    took = time.perf_counter() - t0
    rows = subprocess.run(["sqlite3", str(db), "SELECT count(*) FROM t"], check=True, capture_output=True, text=True).stdout
    assert int(rows) == 541909, rows
    return took


def make_wide(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(42)
    cols = {}
    for i in range(8):
        v = rng.integers(-10 ** (i + 1), 10 ** (i + 1), rows)
        cols[f"i{i}"] = pd.array(v, dtype="Int64")
        if i % 2:
            cols[f"i{i}"][rng.random(rows) < 0.05] = pd.NA
    for i in range(6):
        v = rng.normal(i * 10, i + 1, rows)
        if i % 2 == 0:
            v[rng.random(rows) < 0.1] = np.nan
        cols[f"f{i}"] = v
    for i, k in enumerate((5, 20, 50)):
        cols[f"c{i}"] = rng.choice([f"cat{j}" for j in range(k)], rows)
    cols["s0"] = [f"user-{x}" for x in rng.integers(0, 500_000, rows)]
    cols["s1"] = [f"session-{x:08x}" for x in rng.integers(0, 2 ** 31, rows)]
    cols["t"] = pd.to_datetime(1_600_000_000 + rng.integers(0, 86400 * 365, rows), unit="s")
    pd.DataFrame(cols).to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S")


def pandas_profile(df) -> float:
    t0 = time.perf_counter()
    df.describe(include="all", datetime_is_numeric=True)
    df.nunique()
    df.quantile([0.05, 0.25, 0.5, 0.75, 0.95], numeric_only=True)
    return time.perf_counter() - t0


def push_ingest(srv: Aimass, seconds: float, clients: int, batch: int) -> tuple[float, float, int]:
    """Rows/s acknowledged by POST /api/v1/collect (durable: in the fsynced spool), and rows/s
    until every one is in a dataset version."""
    import http.client
    import threading
    srv.call("POST", "/api/v1/datasets", {"name": "pushed"})
    srv.call("POST", "/api/v1/collectors", {"name": "push", "dataset": "pushed", "source": {"type": "http"},
                                            "batch": {"max_rows": 200000, "max_wait_s": 1}})
    bodies = []
    for c in range(clients):
        lines = [json.dumps({"id": f"{c}-{i}", "user": f"u{i % 977}", "event": ["view", "cart", "buy"][i % 3],
                             "value": i % 100, "t": "2026-12-05T10:00:00Z"}) for i in range(batch)]
        bodies.append("\n".join(lines).encode())
    acked = [0] * clients
    stop = time.monotonic() + seconds

    def run(c):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        headers = {"Authorization": f"Bearer {srv.token}", "Content-Type": "application/x-ndjson"}
        while time.monotonic() < stop:
            conn.request("POST", "/api/v1/collect/push", body=bodies[c], headers=headers)
            r = conn.getresponse()
            body = json.loads(r.read())
            assert r.status == 200 and body["accepted"] == batch, body
            acked[c] += batch
        conn.close()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    push_s = time.perf_counter() - t0
    total = sum(acked)
    while True:
        versions = srv.call("GET", "/api/v1/datasets/pushed/versions?page_size=1")["versions"]
        if versions and versions[0]["row_count"] >= total:
            break
        time.sleep(0.05)
    stored_s = time.perf_counter() - t0
    return total / push_s, total / stored_s, total


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-datasets."))
    try:
        csv_path = work / "online_retail.csv"
        csv_path.write_bytes(gzip.decompress(RETAIL.read_bytes()))
        csv_bytes = csv_path.read_bytes()
        srv = Aimass(work)
        try:
            print(f"(a) online_retail.csv: {len(csv_bytes) / 1e6:.1f} MB, 541,909 rows; {REPS} runs each")
            sq, stored, ready = [], [], []
            for r in range(REPS):
                sq.append(sqlite_import(work, csv_path))
                s, t, v = load(srv, f"retail{r}", csv_bytes)
                assert v["row_count"] == 541909 and v["status"] == "ready", v
                stored.append(s)
                ready.append(t)
            ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
            print(f"  sqlite3 .import --csv            median {ms(sq):8.0f} ms  (runs: {', '.join(f'{x * 1000:.0f}' for x in sq)})")
            print(f"  aimass upload answered (stored)  median {ms(stored):8.0f} ms")
            print(f"  aimass ready (profile included)  median {ms(ready):8.0f} ms  (runs: {', '.join(f'{x * 1000:.0f}' for x in ready)})")
            print(f"  ratio sqlite / aimass-ready: {statistics.median(sq) / statistics.median(ready):.2f}x")

            import pandas as pd
            wide = work / "wide.csv"
            make_wide(wide, ROWS)
            print(f"(b) profile {ROWS:,} rows x 20 columns ({wide.stat().st_size / 1e6:.0f} MB CSV); {PROFILE_REPS} runs each")
            _, _, v = load(srv, "wide", wide.read_bytes())
            assert v["row_count"] == ROWS, v
            types = sorted({c["type"] for c in v["schema"]})
            df = pd.read_csv(wide, parse_dates=["t"])
            pd_times, am_times, am_server = [], [], []
            for _ in range(PROFILE_REPS):
                pd_times.append(pandas_profile(df))
                t0 = time.perf_counter()
                srv.call("POST", "/api/v1/datasets/wide/versions/1/validate", {})
                am_times.append(time.perf_counter() - t0)
                am_server.append(srv.call("GET", "/api/v1/datasets/wide/versions/1/profile")["took_ms"] / 1000)
            print(f"  aimass column types: {', '.join(types)}")
            print(f"  pandas describe+nunique+quantile median {ms(pd_times):8.0f} ms  (runs: {', '.join(f'{x * 1000:.0f}' for x in pd_times)})")
            print(f"  aimass profile (HTTP, stored)    median {ms(am_times):8.0f} ms  (server took_ms median {ms(am_server):.0f})")
            print(f"  ratio pandas / aimass: {statistics.median(pd_times) / statistics.median(am_times):.2f}x")

            clients, batch, seconds = int(os.environ.get("CLIENTS", "4")), int(os.environ.get("BATCH", "1000")), float(os.environ.get("SECONDS", "10"))
            print(f"(c) HTTP push ingest: {clients} clients, {batch} rows per push, {seconds:.0f} s")
            acked, stored, total = push_ingest(srv, seconds, clients, batch)
            print(f"  acknowledged (fsynced to the spool): {acked:,.0f} rows/s ({total:,} rows)")
            print(f"  stored in dataset versions, end to end: {stored:,.0f} rows/s")
        finally:
            srv.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
