"""bench/cube.sh: the cube module against SQLite (Python's sqlite3, in process) and DuckDB
(@duckdb/node-api, in process in Node.js) on the same rows of Online Retail repeated to ROWS
(bench/cube_data.py), the same 15 queries, answers compared for equality. See cube.sh's header."""
from __future__ import annotations

import csv
import gzip
import http.client
import json
import math
import os
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aimass_bench import Aimass, Client, machine, run_duckdb  # noqa: E402
from cube_data import generate, work_dir  # noqa: E402

ROWS = int(os.environ.get("ROWS", 10_000_000))
REPEAT = int(os.environ.get("REPEAT", 5))
KEEP = os.environ.get("KEEP", "") == "1"
LIMIT = 100000  # the most rows one cube answer holds

DATASET = "retail"
CUBE = {
    "name": "sales", "source": {"dataset": DATASET},
    "dimensions": [{"name": "country", "column": "Country"}, {"name": "time", "column": "InvoiceDate", "type": "time"},
                   {"name": "product", "column": "StockCode"}, {"name": "customer", "column": "CustomerID"},
                   {"name": "invoice", "column": "InvoiceNo"}],
    "measures": [{"name": "revenue", "expr": "Quantity * UnitPrice", "agg": "sum"},
                 {"name": "quantity", "column": "Quantity", "agg": "sum"},
                 {"name": "lines", "agg": "count"},
                 {"name": "customers", "column": "CustomerID", "agg": "count_distinct"},
                 {"name": "orders", "column": "InvoiceNo", "agg": "count_distinct"},
                 {"name": "avg_price", "column": "UnitPrice", "agg": "avg"},
                 {"name": "revenue_per_order", "formula": "revenue / orders"}],
    "pre_aggregations": [{"name": "country_day", "dimensions": ["country", "time.day"]},
                         {"name": "product_month", "dimensions": ["product", "time.month"]},
                         {"name": "country_product", "dimensions": ["country", "product"]},
                         {"name": "customer", "dimensions": ["customer"]}],
}

# The time levels in each dialect: SELECT expression {x} and GROUP BY key {x_key}. SQLite keeps
# InvoiceDate as ISO text 'YYYY-MM-DD HH:MM:SS', so a prefix of it is the level (substr: several
# times faster than strftime in SQLite); DuckDB keeps a TIMESTAMP and groups by date_trunc / a
# DATE cast (4-6x faster than grouping by strftime's strings there), formatting each group once.
SQLITE = {"year": "substr(InvoiceDate, 1, 4)",
          "quarter": "substr(InvoiceDate, 1, 4) || '-Q' || ((CAST(substr(InvoiceDate, 6, 2) AS INTEGER) + 2) / 3)",
          "month": "substr(InvoiceDate, 1, 7)", "day": "substr(InvoiceDate, 1, 10)"}
SQLITE.update({k + "_key": v for k, v in list(SQLITE.items())})
DUCKDB = {"year": "CAST(year(InvoiceDate) AS VARCHAR)", "year_key": "year(InvoiceDate)",
          "quarter": "strftime(date_trunc('quarter', InvoiceDate), '%Y') || '-Q' || CAST(quarter(date_trunc('quarter', InvoiceDate)) AS VARCHAR)",
          "quarter_key": "date_trunc('quarter', InvoiceDate)",
          "month": "strftime(date_trunc('month', InvoiceDate), '%Y-%m')", "month_key": "date_trunc('month', InvoiceDate)",
          "day": "CAST(CAST(InvoiceDate AS DATE) AS VARCHAR)", "day_key": "CAST(InvoiceDate AS DATE)"}
REV = "sum(Quantity * UnitPrice)"


class Q:
    """One query: the cube query body, the SQL (a template over the time levels, shared by SQLite
    and DuckDB unless one has its own), and how answers compare: rows of dimension values then
    measures; `top` = number of leading dimensions that partition a top-N (ties at its cut may
    pick other members, so those compare by value only)."""

    def __init__(self, name, what, cube, sql, sqlite=None, duckdb=None, top=None):
        self.name, self.what, self.cube, self.top = name, what, cube, top
        self.sqlite = (sqlite or sql).replace("REV", REV).format(**SQLITE)
        self.duckdb = (duckdb or sql).replace("REV", REV).format(**DUCKDB)
        self.dims = cube["dimensions"]
        self.measures = cube["measures"]


FILTER_COUNTRIES = ["France", "Germany", "Spain", "EIRE"]
QUERIES = [
    Q("by_country", "group-by country (~38)", {"measures": ["revenue", "quantity", "lines"], "dimensions": ["country"]},
      "SELECT Country, REV, sum(Quantity), count(*) FROM retail GROUP BY Country"),
    Q("by_month", "group-by month", {"measures": ["revenue", "lines"], "dimensions": ["time.month"]},
      "SELECT {month}, REV, count(*) FROM retail GROUP BY {month_key}"),
    Q("by_day", "group-by day", {"measures": ["revenue", "lines"], "dimensions": ["time.day"]},
      "SELECT {day}, REV, count(*) FROM retail GROUP BY {day_key}"),
    Q("by_product", "group-by stock code (~4,000)", {"measures": ["revenue", "quantity"], "dimensions": ["product"]},
      "SELECT StockCode, REV, sum(Quantity) FROM retail GROUP BY StockCode"),
    Q("by_customer", "group-by customer (many, and the null one)", {"measures": ["revenue", "lines"], "dimensions": ["customer"]},
      "SELECT CustomerID, REV, count(*) FROM retail GROUP BY CustomerID"),
    Q("countries_by_month", "filter country in 4, by country x month",
      {"measures": ["revenue", "lines"], "dimensions": ["country", "time.month"],
       "filters": [{"dimension": "country", "op": "in", "values": FILTER_COUNTRIES}]},
      "SELECT Country, {month}, REV, count(*) FROM retail WHERE Country IN ('France', 'Germany', 'Spain', 'EIRE') "
      "GROUP BY Country, {month_key}"),
    Q("q1_2011_by_day", "filter time 2011-01-01..2011-03-31, by day",
      {"measures": ["revenue", "lines"], "dimensions": ["time.day"],
       "filters": [{"dimension": "time", "op": "between", "values": ["2011-01-01", "2011-03-31"]}]},
      "SELECT {day}, REV, count(*) FROM retail WHERE InvoiceDate >= '2011-01-01' AND InvoiceDate < '2011-04-01' "
      "GROUP BY {day_key}"),
    Q("customers_by_country", "count distinct customers per country",
      {"measures": ["customers", "lines"], "dimensions": ["country"]},
      "SELECT Country, count(DISTINCT CustomerID), count(*) FROM retail GROUP BY Country"),
    Q("orders_by_month", "count distinct orders per month", {"measures": ["orders"], "dimensions": ["time.month"]},
      "SELECT {month}, count(DISTINCT InvoiceNo) FROM retail GROUP BY {month_key}"),
    Q("by_year", "rollup to year", {"measures": ["revenue", "quantity"], "dimensions": ["time.year"]},
      "SELECT {year}, REV, sum(Quantity) FROM retail GROUP BY {year_key}"),
    Q("by_quarter", "rollup to quarter, with an average", {"measures": ["revenue", "avg_price"], "dimensions": ["time.quarter"]},
      "SELECT {quarter}, REV, avg(UnitPrice) FROM retail GROUP BY {quarter_key}"),
    Q("rollup_year_quarter_month", "year > quarter > month with ROLLUP subtotals and total",
      {"measures": ["revenue"], "dimensions": ["time.year", "time.quarter", "time.month"], "totals": "rollup"},
      None,
      sqlite="WITH m AS MATERIALIZED (SELECT {year} AS y, {quarter} AS q, {month} AS mo, REV AS revenue FROM retail "
             "GROUP BY y, q, mo) "
             "SELECT y, q, mo, revenue FROM m UNION ALL SELECT y, q, NULL, sum(revenue) FROM m GROUP BY y, q "
             "UNION ALL SELECT y, NULL, NULL, sum(revenue) FROM m GROUP BY y UNION ALL SELECT NULL, NULL, NULL, sum(revenue) FROM m",
      duckdb="SELECT {year}, {quarter}, {month}, REV FROM retail GROUP BY ROLLUP ({year_key}, {quarter_key}, {month_key})"),
    Q("top10_products", "top 10 products by revenue",
      {"measures": ["revenue"], "dimensions": ["product"], "order": [{"by": "revenue", "desc": True}], "limit": 10},
      "SELECT StockCode, REV AS revenue FROM retail GROUP BY StockCode ORDER BY revenue DESC LIMIT 10", top=0),
    Q("top3_products_per_country", "top 3 products by revenue per country",
      {"measures": ["revenue"], "dimensions": ["country", "product"], "top": {"n": 3, "by": "revenue", "per": ["country"]}},
      "SELECT Country, StockCode, revenue FROM (SELECT Country, StockCode, revenue, "
      "row_number() OVER (PARTITION BY Country ORDER BY revenue DESC) AS n FROM "
      "(SELECT Country, StockCode, REV AS revenue FROM retail GROUP BY Country, StockCode) g) r WHERE n <= 3", top=1),
    Q("revenue_per_order", "derived ratio: revenue per order, per country",
      {"measures": ["revenue", "orders", "revenue_per_order"], "dimensions": ["country"]},
      "SELECT Country, REV, count(DISTINCT InvoiceNo), REV / count(DISTINCT InvoiceNo) FROM retail GROUP BY Country"),
]


# ---------------------------------------------------------------- answers and their comparison

def norm_rows(rows, ndims):
    """Rows as (dimension values as strings or None, measures as floats), sorted."""
    out = []
    for r in rows:
        dims = tuple(None if v is None else str(v) for v in r[:ndims])
        out.append((dims, tuple(float(v) if v is not None else None for v in r[ndims:])))
    out.sort(key=lambda t: (tuple((v is None, v or "") for v in t[0]), t[1]))
    return out


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def same_measures(a, b):
    return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))


def diff(q: Q, a, b) -> str | None:
    """None when answers a and b (normalised) are the same; else what differs."""
    if q.top is not None:
        return diff_top(q, a, b)
    if len(a) != len(b):
        da, db = {r[0] for r in a}, {r[0] for r in b}
        return (f"{len(a)} rows against {len(b)}; only in the first: {sorted(da - db, key=str)[:5]}, "
                f"only in the second: {sorted(db - da, key=str)[:5]}")
    for x, y in zip(a, b):
        if x[0] != y[0] or not same_measures(x[1], y[1]):
            return f"first difference: {x} against {y}"
    return None


def diff_top(q: Q, a, b) -> str | None:
    """Top-N: the same partitions, the same ranked values, and the same members except those tied
    with the value at the cut."""
    k = q.top

    def groups(rows):
        g = {}
        for dims, ms in rows:
            g.setdefault(dims[:k], []).append((ms[0], dims, ms))
        for v in g.values():
            v.sort(key=lambda t: -t[0])
        return g

    ga, gb = groups(a), groups(b)
    if ga.keys() != gb.keys():
        return f"partitions differ: only in the first {sorted(ga.keys() - gb.keys(), key=str)[:5]}, " \
               f"only in the second {sorted(gb.keys() - ga.keys(), key=str)[:5]}"
    for key in ga:
        ra, rb = ga[key], gb[key]
        if len(ra) != len(rb) or not all(close(x[0], y[0]) for x, y in zip(ra, rb)):
            return f"{key}: ranked values {[x[0] for x in ra]} against {[y[0] for y in rb]}"
        cut = ra[-1][0]
        ma = {(x[1], x[0]) for x in ra if not close(x[0], cut)}
        mb = {(y[1], y[0]) for y in rb if not close(y[0], cut)}
        ma_d, mb_d = {m[0] for m in ma}, {m[0] for m in mb}
        if ma_d != mb_d:
            return f"{key}: members above the cut {sorted(ma_d, key=str)} against {sorted(mb_d, key=str)}"
        va = {x[1]: x[2] for x in ra}
        vb = {y[1]: y[2] for y in rb}
        for m in ma_d:
            if not same_measures(va[m], vb[m]):
                return f"{key} {m}: {va[m]} against {vb[m]}"
    return None


def ties_at_cut(q: Q, rows) -> int:
    """How many top-N members tie with their partition's cut value (more than one: the pick among
    them is arbitrary)."""
    if q.top is None:
        return 0
    g = {}
    for dims, ms in rows:
        g.setdefault(dims[:q.top], []).append(ms[0])
    n = 0
    for v in g.values():
        cut = min(v)
        t = sum(1 for x in v if close(x, cut))
        n += t if t > 1 else 0
    return n


# ---------------------------------------------------------------- AI Mass




def aimass_load(srv: Aimass, path: Path) -> dict:
    """Upload the gzip CSV (streamed from the file) as the dataset's version 1; seconds to the
    answer and to the version built."""
    srv.call("POST", "/api/v1/datasets", {"name": DATASET})
    size = path.stat().st_size
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=3600)
    with open(path, "rb") as f:
        conn.request("POST", f"/api/v1/datasets/{DATASET}/versions", body=f,
                     headers={"Authorization": f"Bearer {srv.token}", "Content-Type": "text/csv",
                              "Content-Encoding": "gzip", "Content-Length": str(size)})
        r = conn.getresponse()
        raw = r.read()
    answered = time.perf_counter() - t0
    if r.status not in (200, 201, 202):
        raise RuntimeError(f"upload: HTTP {r.status}: {raw[:500]!r}")
    v = json.loads(raw)
    while v["status"] == "building":
        time.sleep(0.05)
        v = srv.call("GET", f"/api/v1/datasets/{DATASET}/versions/{v['version']}")
    built = time.perf_counter() - t0
    if v["status"] != "ready":
        raise RuntimeError(f"dataset version: {json.dumps(v)[:1000]}")
    return {"answered_s": answered, "ready_s": built, "version": v, "bytes": size}


def aimass_cube(srv: Aimass) -> dict:
    """Create the cube; seconds until its base table is ready and until every pre-aggregation is."""
    t0 = time.perf_counter()
    srv.call("POST", "/api/v1/cubes", CUBE)
    base_s = None
    while True:
        c = srv.call("GET", f"/api/v1/cubes/{CUBE['name']}")
        if c.get("state") == "failed" or any(p.get("state") == "failed" for p in c.get("pre_aggregations", [])):
            raise RuntimeError(f"cube failed: {json.dumps(c)[:2000]}")
        if c.get("state") == "ready" and base_s is None:
            base_s = time.perf_counter() - t0
        if c.get("state") == "ready" and all(p.get("state") == "ready" for p in c.get("pre_aggregations", [])):
            return {"base_s": base_s, "all_s": time.perf_counter() - t0, "cube": c}
        time.sleep(0.05)


def aimass_queries(srv: Aimass, mode: str) -> list[dict]:
    client = Client(srv)
    out = []
    for q in QUERIES:
        body = {"limit": LIMIT, **q.cube, "pre_aggregation": mode}
        path = f"/api/v1/cubes/{CUBE['name']}/query"
        ans, _ = client.post(path, body)  # warm-up, and the answer compared
        took, rt = [], []
        for _ in range(REPEAT):
            a, ms = client.post(path, body)
            took.append(a["stats"]["took_ms"])
            rt.append(ms)
        cols = q.dims + q.measures
        rows = [[r.get(c) for c in cols] for r in ans["rows"]]
        out.append({"took": took, "http": rt, "rows": rows, "total_rows": ans.get("total_rows"),
                    "pre": ans.get("pre_aggregation"), "stats": ans.get("stats", {})})
    client.conn.close()
    return out


# ---------------------------------------------------------------- SQLite

def sqlite_rows(path: Path):
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        next(r)
        for inv, code, desc, qty, date, price, cust, country in r:
            yield inv, code, desc, int(qty), date, float(price), int(float(cust)) if cust else None, country


def sqlite_run(path: Path) -> dict:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE retail (InvoiceNo TEXT, StockCode TEXT, Description TEXT, Quantity INTEGER, "
               "InvoiceDate TEXT, UnitPrice REAL, CustomerID INTEGER, Country TEXT)")
    t0 = time.perf_counter()
    with db:
        db.executemany("INSERT INTO retail VALUES (?, ?, ?, ?, ?, ?, ?, ?)", sqlite_rows(path))
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    db.execute("CREATE INDEX retail_date ON retail (InvoiceDate)")
    index_s = time.perf_counter() - t0
    count = db.execute("SELECT count(*) FROM retail").fetchone()[0]
    out = []
    for q in QUERIES:
        rows = db.execute(q.sqlite).fetchall()  # warm-up, and the answer compared
        ms = []
        for _ in range(REPEAT):
            t = time.perf_counter()
            db.execute(q.sqlite).fetchall()
            ms.append((time.perf_counter() - t) * 1000)
        out.append({"ms": ms, "rows": [list(r) for r in rows]})
    db.close()
    return {"load_s": load_s, "index_s": index_s, "rows": count, "queries": out}


# ---------------------------------------------------------------- DuckDB

def duckdb_run(path: Path, work: Path) -> dict:
    return run_duckdb("cube_duckdb.mjs", path, [{"name": q.name, "sql": q.duckdb} for q in QUERIES], work, REPEAT)


# ---------------------------------------------------------------- report

def median(xs):
    return statistics.median(xs)


def p99(xs):
    xs = sorted(xs)
    return xs[max(0, math.ceil(0.99 * len(xs)) - 1)]





def main():
    knobs = " ".join(f"{k}={os.environ[k]}" for k in ("ROWS", "REPEAT", "WORK", "KEEP") if k in os.environ)
    print(f"command:  {knobs + ' ' if knobs else ''}bench/cube.sh {shlex.join(sys.argv[1:])}".rstrip())
    print(f"date:     {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}")
    print(f"machine:  {machine()}")
    print(f"aimass:   {os.environ.get('AIMASS_BIN', 'build/aimass')} (cube.threads=2)")
    print(f"rows:     {ROWS:,}, each query once to warm up then {REPEAT} times timed")
    print(f"load avg: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the start")
    sys.stdout.flush()

    t0 = time.perf_counter()
    data = generate(ROWS)
    print(f"data:     {data} ({data.stat().st_size / 1e6:.1f} MB gzip; {time.perf_counter() - t0:.1f} s to make or find)")
    sys.stdout.flush()
    base_work = work_dir()
    base_work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=base_work))

    # AI Mass: load, build, then every query on the base table, then with pre-aggregations.
    srv = Aimass(work, extra_args=["--set", "cube.threads=2"])
    try:
        load = aimass_load(srv, data)
        print(f"\nAI Mass load: upload answered in {load['answered_s']:.1f} s, version ready in {load['ready_s']:.1f} s "
              f"({load['version'].get('row_count', '?')} rows, {load['bytes'] / 1e6:.1f} MB gzip, "
              f"{load['version'].get('source', {}).get('bytes', 0) / 1e6:.0f} MB of CSV)")
        sys.stdout.flush()
        cube = aimass_cube(srv)
        c = cube["cube"]
        print(f"AI Mass cube: base table ready in {cube['base_s']:.1f} s, all pre-aggregations ready in {cube['all_s']:.1f} s "
              f"({c.get('rows')} rows, {c.get('chunks')} chunks, {c.get('memory_bytes', 0) / 1e6:.0f} MB)")
        for p in c.get("pre_aggregations", []):
            print(f"  pre-aggregation {p['name']:<16} {str(p['dimensions']):<28} {p.get('rows')} rows")
        sys.stdout.flush()
        base = aimass_queries(srv, "none")
        pre = aimass_queries(srv, "auto")
    finally:
        srv.stop()
        if not KEEP:
            shutil.rmtree(work / "aimass", ignore_errors=True)
    print(f"AI Mass queries done (load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    sys.stdout.flush()

    lite = sqlite_run(data)
    print(f"SQLite {sqlite3.sqlite_version} (in memory): load {lite['load_s']:.1f} s (csv + executemany, one transaction), "
          f"index on InvoiceDate {lite['index_s']:.1f} s, {lite['rows']} rows")
    sys.stdout.flush()
    duck = duckdb_run(data, work)
    print(f"DuckDB {duck['version']} (@duckdb/node-api, in memory, threads=2): load {duck['load_ms'] / 1000:.1f} s "
          f"(read_csv of the gzip file), {duck['rows']} rows")

    print(f"load avg: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the end")

    # Answers: AI Mass (both ways) == SQLite == DuckDB.
    failures = []
    print("\nAnswers (rows; AI Mass base, AI Mass pre-aggregated, SQLite, DuckDB):")
    for i, q in enumerate(QUERIES):
        nd = len(q.dims)
        answers = {"AI Mass base": norm_rows(base[i]["rows"], nd), "AI Mass pre-aggregated": norm_rows(pre[i]["rows"], nd),
                   "SQLite": norm_rows(lite["queries"][i]["rows"], nd), "DuckDB": norm_rows(duck["queries"][i]["rows"], nd)}
        ref = answers["SQLite"]
        bad = []
        for who, a in answers.items():
            if who == "SQLite":
                continue
            d = diff(q, a, ref)
            if d:
                bad.append(f"{who} != SQLite: {d}")
        for who, r in (("base", base[i]), ("pre-aggregated", pre[i])):
            if "limit" not in q.cube and r["total_rows"] is not None and r["total_rows"] != len(r["rows"]):
                bad.append(f"AI Mass {who}: total_rows {r['total_rows']} but {len(r['rows'])} rows (past the limit?)")
        ties = ties_at_cut(q, ref)
        note = f" ({ties} members tie at a top-N cut: compared by value)" if ties else ""
        print(f"  Q{i + 1:<2} {q.name:<27} {len(answers['AI Mass base'])} / {len(answers['AI Mass pre-aggregated'])} / "
              f"{len(ref)} / {len(answers['DuckDB'])}  {'equal' if not bad else 'MISMATCH'}{note}")
        for b in bad:
            print(f"      {b}")
        if bad:
            failures.append(q.name)

    # Times.
    print("\nMedian ms per query (pre: also the p99 of its took_ms). AI Mass: took_ms (server side) and the HTTP\n"
          "round trip (keep-alive, from sending to the body read); the ratios take took_ms against SQLite's and\n"
          "DuckDB's in-process times (the query run and every row read: Python's fetchall, DuckDB's runAndReadAll\n"
          "+ getRows).")
    hdr = (f"{'':3} {'query':<27} {'SQLite':>9} {'DuckDB':>8} | {'base':>8} {'http':>8} | {'pre':>7} {'p99':>7} {'http':>7} "
           f"{'pre-aggregation':<16}| {'SQLite/base':>11} {'base/DuckDB':>11} | {'SQLite/pre':>10} {'pre/DuckDB':>10}")
    print(hdr)
    print("-" * len(hdr))
    cols = {k: [] for k in ("lite", "duck", "base", "base_http", "pre", "pre_p99", "pre_http", "lite_base", "base_duck", "lite_pre", "pre_duck")}
    for i, q in enumerate(QUERIES):
        v = {"lite": median(lite["queries"][i]["ms"]), "duck": median(duck["queries"][i]["ms"]),
             "base": median(base[i]["took"]), "base_http": median(base[i]["http"]),
             "pre": median(pre[i]["took"]), "pre_p99": p99(pre[i]["took"]), "pre_http": median(pre[i]["http"])}
        v["lite_base"] = v["lite"] / v["base"]
        v["base_duck"] = v["base"] / v["duck"]
        v["lite_pre"] = v["lite"] / v["pre"]
        v["pre_duck"] = v["pre"] / v["duck"]
        for k in cols:
            cols[k].append(v[k])
        print(f"Q{i + 1:<2} {q.name:<27} {v['lite']:9.1f} {v['duck']:8.2f} | {v['base']:8.2f} {v['base_http']:8.2f} | "
              f"{v['pre']:7.3f} {v['pre_p99']:7.2f} {v['pre_http']:7.2f} {str(pre[i]['pre'] or '(base)'):<16}| {v['lite_base']:10.1f}x "
              f"{v['base_duck']:10.2f}x | {v['lite_pre']:9.0f}x {v['pre_duck']:9.3f}x")
    print("-" * len(hdr))
    m = {k: median(x) for k, x in cols.items()}
    print(f"{'':3} {'median over the 15':<27} {m['lite']:9.1f} {m['duck']:8.2f} | {m['base']:8.2f} {m['base_http']:8.2f} | "
          f"{m['pre']:7.3f} {m['pre_p99']:7.2f} {m['pre_http']:7.2f} {'':<16}| {m['lite_base']:10.1f}x {m['base_duck']:10.2f}x | "
          f"{m['lite_pre']:9.0f}x {m['pre_duck']:9.3f}x")
    worst_took = max((p99(r["took"]), QUERIES[i].name) for i, r in enumerate(pre))
    worst_http = max((p99(r["http"]), QUERIES[i].name) for i, r in enumerate(pre))
    hits = sum(1 for r in pre if r["pre"])
    over = [QUERIES[i].name for i, r in enumerate(pre) if p99(r["took"]) >= 10]
    print(f"\nWith pre-aggregations ({hits} of {len(QUERIES)} answered from one): p99 (the largest per-query p99 of "
          f"{REPEAT} runs) took_ms {worst_took[0]:.3f} ms ({worst_took[1]}), HTTP round trip {worst_http[0]:.2f} ms ({worst_http[1]})")
    print(f"  queries with a took_ms p99 of 10 ms or more: {len(over)} of {len(QUERIES)}: {', '.join(over) or 'none'}")
    print("\nGoals:")
    print(f"  base data, median query: >= 20x SQLite    {m['lite_base']:.1f}x   {'met' if m['lite_base'] >= 20 else 'NOT MET'}")
    print(f"  base data, median query: <= 2x DuckDB     {m['base_duck']:.2f}x  {'met' if m['base_duck'] <= 2 else 'NOT MET'}")
    print(f"  pre-aggregations: p99 < 10 ms (took_ms)    {worst_took[0]:.3f} ms  {'met' if worst_took[0] < 10 else 'NOT MET'}")
    print(f"  pre-aggregations: p99 < 10 ms (HTTP)       {worst_http[0]:.2f} ms  {'met' if worst_http[0] < 10 else 'NOT MET'}")
    print("\nAI Mass stats per query (base: rows_scanned, chunks_skipped | pre-aggregated: rows_scanned):")
    for i, q in enumerate(QUERIES):
        sb, sp = base[i]["stats"], pre[i]["stats"]
        print(f"  Q{i + 1:<2} {q.name:<27} {sb.get('rows_scanned')}, {sb.get('chunks_skipped')} | {sp.get('rows_scanned')}")

    print("\nQueries (the cube query body, with \"limit\": 100000 unless it says, and \"pre_aggregation\": \"none\" or \"auto\"):")
    for i, q in enumerate(QUERIES):
        print(f"Q{i + 1} {q.name}: {q.what}")
        print(f"  cube:   {json.dumps(q.cube)}")
        if q.sqlite == q.duckdb:
            print(f"  SQL:    {q.sqlite}")
        else:
            print(f"  SQLite: {q.sqlite}")
            print(f"  DuckDB: {q.duckdb}")
    print(f"\nCube: {json.dumps(CUBE)}")
    print("SQLite table: retail (InvoiceNo TEXT, StockCode TEXT, Description TEXT, Quantity INTEGER, InvoiceDate TEXT "
          "'YYYY-MM-DD HH:MM:SS', UnitPrice REAL, CustomerID INTEGER, Country TEXT), one index: retail_date (InvoiceDate)")
    print("DuckDB table: the same columns from read_csv with explicit types (InvoiceDate TIMESTAMP, CustomerID DOUBLE "
          "cast to BIGINT), no index")

    if not KEEP:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\nkept: {work}")
    if failures:
        print(f"\nFAILED: answers differ for {', '.join(failures)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
