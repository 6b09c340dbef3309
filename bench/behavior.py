"""bench/behavior.sh: the behavior module's capture throughput (durable acknowledgement) and three
insights (a funnel of four steps, a 12-week first-time retention table, a weekly lifecycle) over the
same events as SQLite (Python's sqlite3, in process) and DuckDB (@duckdb/node-api, in process), each
question written in SQL to the guide's definitions (docs/guide/behavior.md), answers compared for
equality. See behavior.sh's header."""
from __future__ import annotations

import csv
import http.client
import json
import os
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aimass_bench import Aimass, Client, machine, run_duckdb  # noqa: E402
from behavior_data import BATCH, THREADS, generate, meta, work_dir  # noqa: E402

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("EVENTS", 10_000_000))
REPEAT = int(os.environ.get("REPEAT", 5))
KEEP = os.environ.get("KEEP", "") == "1"
FSYNC = os.environ.get("FSYNC", "always")  # behavior.fsync: always (the claim) or never (for comparison)
SQLITE_BUDGET_S = float(os.environ.get("SQLITE_BUDGET_S", 120))  # per query: no more runs once past it
PROJECT = "shop"


def epoch(d: str) -> int:
    return int(datetime.fromisoformat(d).replace(tzinfo=timezone.utc).timestamp())


# The questions. Funnel: the whole data (2025-01-01 .. 2025-06-30); retention and lifecycle: the 25
# whole weeks from Monday 2025-01-06 to Sunday 2025-06-29, so that the days before (from Wednesday
# 2025-01-01) count as earlier activity ("first ever", "active before") and those after are left out.
FUNNEL_STEPS = ["$pageview", "signup", "add_to_cart", "purchase"]
WINDOW_S = 14 * 86400
FUNNEL = {"steps": FUNNEL_STEPS, "order": "ordered", "window": "14d", "date_from": "2025-01-01", "date_to": "2025-06-30"}
RETENTION = {"event": "$pageview", "returning_event": "$pageview", "retention_type": "first_time", "interval": "week",
             "periods": 12, "date_from": "2025-01-06", "date_to": "2025-06-29"}
LIFECYCLE = {"event": "$pageview", "interval": "week", "date_from": "2025-01-06", "date_to": "2025-06-29"}
F_FROM, F_TO = epoch("2025-01-01"), epoch("2025-07-01")  # date_to is a date: its whole day is in the range
R_FROM, R_TO = epoch("2025-01-06"), epoch("2025-06-30")
PERIODS = RETENTION["periods"]


def week(ts: int) -> int:
    """Monday-based week number of a Unix time (1970-01-01 was a Thursday)."""
    return (ts // 86400 + 3) // 7


def monday(w: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=7 * w - 3)).isoformat()


FK, LK = week(R_FROM), week(R_TO - 1)

# SQL for both: {wk} is the week number of ts, {div} integer division (SQLite's / on integers,
# DuckDB's //).
SQL = {
    # Step k is reached when events e1 < … < ek (in (ts, id) order) of steps 1 … k, all in the range,
    # have ek.ts - e1.ts <= window. Pass by pass over each person's step events in (ts, id) order:
    # l1 = the latest step-1 time so far; l2 = the latest start of a chain reaching step 2 so far (a
    # step-2 event makes one with the l1 before it, when within the window: the latest start leaves
    # the most room); l3 likewise from l2; step 4 is reached at a step-4 event within the window of
    # the l3 before it. A pass only reads the rows of its step and after (earlier steps' rows add
    # nothing to its maximum). count[k] = persons with a chain reaching step k.
    "funnel": """
WITH s AS (
  SELECT person, ts, id,
         CASE event WHEN '$pageview' THEN 1 WHEN 'signup' THEN 2 WHEN 'add_to_cart' THEN 3 ELSE 4 END AS step
  FROM events WHERE event IN ('$pageview', 'signup', 'add_to_cart', 'purchase') AND ts >= {f_from} AND ts < {f_to}),
s1 AS (
  SELECT person, ts, id, step, max(CASE WHEN step = 1 THEN ts END) OVER w AS l1
  FROM s WINDOW w AS (PARTITION BY person ORDER BY ts, id ROWS UNBOUNDED PRECEDING)),
s2 AS MATERIALIZED (
  SELECT person, ts, id, step, max(CASE WHEN step = 2 AND ts - l1 <= {window} THEN l1 END) OVER w AS l2
  FROM s1 WHERE step >= 2 WINDOW w AS (PARTITION BY person ORDER BY ts, id ROWS UNBOUNDED PRECEDING)),
s3 AS (
  SELECT person, ts, step, max(CASE WHEN step = 3 AND ts - l2 <= {window} THEN l2 END) OVER w AS l3
  FROM s2 WHERE step >= 3 WINDOW w AS (PARTITION BY person ORDER BY ts, id ROWS UNBOUNDED PRECEDING))
SELECT (SELECT count(DISTINCT person) FROM s WHERE step = 1),
       (SELECT count(DISTINCT person) FROM s2 WHERE l2 IS NOT NULL),
       count(DISTINCT CASE WHEN l3 IS NOT NULL THEN person END),
       count(DISTINCT CASE WHEN step = 4 AND ts - l3 <= {window} THEN person END)
FROM s3""",
    # first_time: a person's cohort is the week of their first $pageview ever (before the range
    # too), kept when in the range; counts[i] = the cohort's persons with a $pageview in the range in
    # week cohort + i (i < periods; weeks past the range's last do not exist).
    "retention": """
WITH f AS (
  SELECT person, {wk_min} AS cw FROM events WHERE event = '$pageview' AND ts < {r_to} GROUP BY person),
c AS (SELECT person, cw FROM f WHERE cw BETWEEN {fk} AND {lk}),
r AS (SELECT DISTINCT person, {wk} AS w FROM events WHERE event = '$pageview' AND ts >= {r_from} AND ts < {r_to})
SELECT c.cw, r.w - c.cw AS i, count(*) FROM c JOIN r ON r.person = c.person
WHERE r.w > c.cw AND r.w - c.cw < {periods} GROUP BY c.cw, r.w - c.cw
UNION ALL
SELECT cw, 0, count(*) FROM c GROUP BY cw""",
    # Per week of the range, of the persons with a $pageview in it: new (their first week ever),
    # returning (also active the week before), resurrecting (active before, not the week before);
    # dormant: active the week before, not in this one.
    "lifecycle": """
WITH a AS (SELECT DISTINCT person, {wk} AS w FROM events WHERE event = '$pageview' AND ts < {r_to}),
b AS MATERIALIZED (
  SELECT person, w, lag(w) OVER (PARTITION BY person ORDER BY w) AS pw, lead(w) OVER (PARTITION BY person ORDER BY w) AS nw FROM a)
SELECT w, sum(CASE WHEN pw IS NULL THEN 1 ELSE 0 END), sum(CASE WHEN pw = w - 1 THEN 1 ELSE 0 END),
       sum(CASE WHEN pw < w - 1 THEN 1 ELSE 0 END), 0
FROM b WHERE w BETWEEN {fk} AND {lk} GROUP BY w
UNION ALL
SELECT w + 1, 0, 0, 0, count(*) FROM b WHERE (nw IS NULL OR nw > w + 1) AND w + 1 BETWEEN {fk} AND {lk} GROUP BY w + 1""",
}


def sql(name: str, dialect: str) -> str:
    div = "/" if dialect == "sqlite" else "//"
    wk = f"((ts {div} 86400 + 3) {div} 7)"
    return SQL[name].format(f_from=F_FROM, f_to=F_TO, window=WINDOW_S, r_from=R_FROM, r_to=R_TO, fk=FK, lk=LK, periods=PERIODS,
                            wk=wk, wk_min=f"((min(ts) {div} 86400 + 3) {div} 7)").strip()


QUESTIONS = [("funnel", "funnels", FUNNEL, "funnel: $pageview > signup > add_to_cart > purchase, ordered, 14-day window"),
             ("retention", "retention", RETENTION, "retention: first-time $pageview, weekly, 12 periods, 25 cohorts"),
             ("lifecycle", "lifecycle", LIFECYCLE, "lifecycle: $pageview, weekly, 25 weeks")]


# ---------------------------------------------------------------- answers, normalised

def norm_aimass(name: str, ans: dict):
    if name == "funnel":
        return [int(s["count"]) for s in ans["steps"]]
    if name == "retention":
        return {c["start"]: [int(x) for x in c["counts"]] for c in ans["cohorts"]}
    return {i["start"]: [int(i["new"]), int(i["returning"]), int(i["resurrecting"]), int(i["dormant"])] for i in ans["intervals"]}


def norm_sql(name: str, rows):
    if name == "funnel":
        return [int(x) for x in rows[0]]
    if name == "retention":
        out = {monday(w): [0] * min(PERIODS, LK - w + 1) for w in range(FK, LK + 1)}
        for cw, i, n in rows:
            out[monday(int(cw))][int(i)] += int(n)
        return out
    out = {monday(w): [0, 0, 0, 0] for w in range(FK, LK + 1)}
    for w, *counts in rows:
        for k, n in enumerate(counts):
            out[monday(int(w))][k] += int(n)
    return out


def difference(a, b) -> str | None:
    if a == b:
        return None
    if isinstance(a, list):
        return f"{a} against {b}"
    keys = sorted(set(a) | set(b))
    diffs = [f"{k}: {a.get(k)} against {b.get(k)}" for k in keys if a.get(k) != b.get(k)]
    return f"{len(diffs)} rows differ; " + "; ".join(diffs[:6])


# ---------------------------------------------------------------- AI Mass

def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_cpu(pid: int) -> dict:
    """CPU seconds of a process's threads, by thread name (behavior-bg: merges and checkpoints;
    http-worker: requests)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            raw = (task / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        f = raw.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(f[11]) + int(f[12])) / tick
    return out


def cpu_split(before: dict, after: dict) -> str:
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(before) | set(after)}
    return ", ".join(f"{k} {v:.1f} s" for k, v in sorted(d.items(), key=lambda kv: -kv[1]) if v >= 0.05)


def machine_cpu() -> tuple[float, float]:
    """The machine's busy and stolen CPU seconds so far (all processes, all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tick, v[7] / tick


def rss_of(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) * 1024
    return out


def capture(srv: Aimass, data: Path) -> dict:
    """THREADS clients at once, one a part file, each posting its bodies one after another on one
    keep-alive connection; the time from the start to the last acknowledgement."""
    parts = sorted((data / f"capture-t{THREADS}-b{BATCH}").glob("part-*.jsonl"))
    path = f"/api/v1/behavior/{PROJECT}/capture"
    headers = {"Authorization": f"Bearer {srv.token}", "Content-Type": "application/json"}
    results = [None] * len(parts)
    start = threading.Barrier(len(parts) + 1)

    def client(i: int, part: Path):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)
        received = stored = duplicates = 0
        lat = []
        err = None
        try:
            with open(part, "rb") as f:
                start.wait()
                for line in f:
                    t = time.perf_counter()
                    conn.request("POST", path, body=line, headers=headers)
                    r = conn.getresponse()
                    raw = r.read()
                    lat.append(time.perf_counter() - t)
                    if r.status != 200:
                        raise RuntimeError(f"capture: HTTP {r.status}: {raw[:300]!r}")
                    a = json.loads(raw)
                    received += a["received"]
                    stored += a["stored"]
                    duplicates += a["duplicates"]
        except Exception as e:  # noqa: BLE001
            err = repr(e)
        results[i] = {"received": received, "stored": stored, "duplicates": duplicates, "lat": lat, "err": err,
                      "end": time.perf_counter()}
        conn.close()

    threads = [threading.Thread(target=client, args=(i, p)) for i, p in enumerate(parts)]
    for t in threads:
        t.start()
    cpu0, srv_cpu0, box0, th0 = os.times(), cpu_of(srv.proc.pid), machine_cpu(), threads_cpu(srv.proc.pid)
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu1, srv_cpu1, box1, th1 = os.times(), cpu_of(srv.proc.pid), machine_cpu(), threads_cpu(srv.proc.pid)
    errors = [r["err"] for r in results if r["err"]]
    if errors:
        raise RuntimeError(f"capture failed: {errors[0]}")
    lat = sorted(x for r in results for x in r["lat"])
    return {"wall_s": wall, "received": sum(r["received"] for r in results), "stored": sum(r["stored"] for r in results),
            "duplicates": sum(r["duplicates"] for r in results), "requests": len(lat),
            "client_cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), "server_cpu_s": srv_cpu1 - srv_cpu0,
            "machine_cpu_s": box1[0] - box0[0], "steal_s": box1[1] - box0[1], "threads": cpu_split(th0, th1),
            "lat_p50_ms": lat[len(lat) // 2] * 1000, "lat_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
            "first_done_s": min(r["end"] for r in results) - t0}


def wait_idle(srv: Aimass, limit_s: float = 180) -> float:
    """Seconds until the server's background work (parts frozen, merged, checkpointed) is over:
    two seconds in a row with under 2% of a core."""
    t0 = time.perf_counter()
    quiet = 0
    last = cpu_of(srv.proc.pid)
    while time.perf_counter() - t0 < limit_s:
        time.sleep(1)
        now = cpu_of(srv.proc.pid)
        quiet = quiet + 1 if now - last < 0.02 else 0
        last = now
        if quiet >= 2:
            break
    return time.perf_counter() - t0





def insights(srv: Aimass) -> dict:
    client = Client(srv)
    out = {}
    for name, kind, body, _ in QUESTIONS:
        path = f"/api/v1/behavior/{PROJECT}/insights/{kind}"
        ans, first_ms = client.post(path, body)  # warm-up, and the answer compared
        idle = wait_idle(srv)  # the first query freezes the newest events into a part: then a checkpoint
        took, rt = [], []
        srv0, box0, t0 = cpu_of(srv.proc.pid), machine_cpu()[0], time.perf_counter()
        for _ in range(REPEAT):
            a, ms = client.post(path, body)
            took.append(float(a["took_ms"]))
            rt.append(ms)
        wall = time.perf_counter() - t0
        srv_cpu, box = cpu_of(srv.proc.pid) - srv0, machine_cpu()[0] - box0
        out[name] = {"answer": ans, "took": took, "http": rt, "first_took": float(ans["took_ms"]), "first_http": first_ms,
                     "idle_s": idle, "server_cores": srv_cpu / wall, "other_cores": (box - srv_cpu) / wall,
                     "cpu_ms_per_run": srv_cpu * 1000 / REPEAT}
    client.conn.close()
    return out


# ---------------------------------------------------------------- SQLite

def sqlite_run(data: Path) -> dict:
    """Events in an in-memory table with each event's person resolved as the guide merges ids."""
    csv_path = data / "events.csv"
    t0 = time.perf_counter()
    alias: dict[str, str] = {}
    with open(csv_path, newline="") as f:
        r = csv.reader(f)
        next(r)
        for row in r:
            if row[3] == "$identify" and row[7] and row[7] != row[2]:
                if alias.setdefault(row[7], row[2]) != row[2]:
                    sys.exit(f"the data identifies {row[7]} as two users: SQL's one-level person resolution does not hold")
    if set(alias.values()) & set(alias):
        sys.exit("the data aliases a user id: SQL's one-level person resolution does not hold")
    person: dict[str, int] = {}

    def rows():
        with open(csv_path, newline="") as f:
            r = csv.reader(f)
            next(r)
            for i, ts, d, event, browser, pathname, amount, _ in r:
                root = alias.get(d, d)
                p = person.get(root)
                if p is None:
                    p = person[root] = len(person) + 1
                yield int(i), int(ts), p, event, browser, pathname or None, float(amount) if amount else None

    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("PRAGMA threads = 2")
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, person INTEGER NOT NULL, event TEXT NOT NULL, "
               "browser TEXT, pathname TEXT, amount REAL)")
    with db:
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows())
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    db.execute("CREATE INDEX events_event_person_ts ON events (event, person, ts)")
    db.execute("ANALYZE")
    index_s = time.perf_counter() - t0
    count = db.execute("SELECT count(*) FROM events").fetchone()[0]
    out = {}
    for name, *_ in QUESTIONS:
        q = sql(name, "sqlite")
        ms, cpu = [], []
        t_all = time.perf_counter()
        answer = None
        while not ms or (len(ms) < REPEAT and time.perf_counter() - t_all + ms[-1] / 1000 < SQLITE_BUDGET_S):
            c, t = time.process_time(), time.perf_counter()
            rows = db.execute(q).fetchall()  # the first: the answer compared
            ms.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            answer = answer if answer is not None else rows
        out[name] = {"ms": ms, "cpu_ms": cpu, "rows": [list(x) for x in answer]}
        print(f"  SQLite {name}: {len(ms)} runs, median {statistics.median(ms):.0f} ms")
        sys.stdout.flush()
    plans = {name: [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql(name, "sqlite")).fetchall()] for name, *_ in QUESTIONS}
    db.close()
    return {"load_s": load_s, "index_s": index_s, "rows": count, "persons": len(person), "aliases": len(alias),
            "queries": out, "plans": plans}


# ---------------------------------------------------------------- DuckDB

def duckdb_run(data: Path, work: Path) -> dict:
    d = run_duckdb("behavior_duckdb.mjs", data / "events.csv", [{"name": name, "sql": sql(name, "duckdb")} for name, *_ in QUESTIONS],
                   work, REPEAT)
    d["queries"] = {q["name"]: q for q in d["queries"]}
    return d


# ---------------------------------------------------------------- report




def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def spread(xs) -> str:
    return f"{statistics.median(xs):.1f} ({min(xs):.1f}-{max(xs):.1f})"


def main():
    knobs = " ".join(f"{k}={os.environ[k]}" for k in ("REPEAT", "WORK", "KEEP", "CAPTURE_THREADS", "CAPTURE_BATCH", "SQLITE_BUDGET_S", "FSYNC")
                     if k in os.environ)
    print(f"command:  {knobs + ' ' if knobs else ''}bench/behavior.sh {shlex.join(sys.argv[1:])}".rstrip())
    print(f"date:     {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}")
    print(f"machine:  {machine()}")
    print(f"aimass:   {os.environ.get('AIMASS_BIN', 'build/aimass')} (behavior.fsync={FSYNC}, behavior.threads=0: every core)")
    print(f"events:   {EVENTS:,}; each insight once to warm up then {REPEAT} times timed")
    print(f"load avg: {loadavg()} (1, 5, 15 min) at the start")
    sys.stdout.flush()

    t0 = time.perf_counter()
    data = generate(EVENTS)
    m = meta(data)
    print(f"data:     {data} ({time.perf_counter() - t0:.1f} s to make or find): {m['events']:,} events, "
          f"{m['persons_with_events']:,} persons, {m['distinct_ids']:,} distinct ids, {m['sessions']:,} sessions, "
          f"{m['late_events']:,} late; {datetime.fromtimestamp(m['first_ts'], timezone.utc):%Y-%m-%d %H:%M} .. "
          f"{datetime.fromtimestamp(m['last_ts'], timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"          {', '.join(f'{k} {v:,}' for k, v in m['names'].items())}")
    sys.stdout.flush()
    base_work = work_dir()
    base_work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=base_work))

    srv = Aimass(work, extra_args=["--set", f"behavior.fsync={FSYNC}"])
    try:
        srv.call("POST", "/api/v1/behavior/projects", {"name": PROJECT, "description": "bench/behavior.sh"})
        cap = capture(srv, data)
        stats = srv.call("GET", f"/api/v1/behavior/projects/{PROJECT}")
        rss_after_capture = rss_of(srv.proc.pid)
        print(f"\nAI Mass capture: {cap['stored']:,} events stored ({cap['received']:,} received, {cap['duplicates']} duplicates) "
              f"in {cap['wall_s']:.1f} s = {cap['stored'] / cap['wall_s']:,.0f} events/s acknowledged durable "
              f"({THREADS} clients, keep-alive, {BATCH} events a request, {cap['requests']} requests; request p50 "
              f"{cap['lat_p50_ms']:.0f} ms, p99 {cap['lat_p99_ms']:.0f} ms; the first client done at {cap['first_done_s']:.1f} s)")
        others = cap['machine_cpu_s'] - cap['server_cpu_s'] - cap['client_cpu_s']
        print(f"  CPU during capture: server {cap['server_cpu_s']:.1f} s ({cap['server_cpu_s'] / cap['wall_s']:.2f} cores), "
              f"this Python client {cap['client_cpu_s']:.1f} s ({cap['client_cpu_s'] / cap['wall_s']:.2f} cores), "
              f"other processes {others:.1f} s ({others / cap['wall_s']:.2f} cores; steal {cap['steal_s']:.1f} s) of "
              f"{len(os.sched_getaffinity(0))} cores")
        print(f"  server CPU by thread: {cap['threads']}")
        print(f"  project: {json.dumps(stats.get('stats', stats))}")
        print(f"  server RSS {rss_after_capture.get('VmRSS', 0) / 2**20:.0f} MiB (peak {rss_after_capture.get('VmHWM', 0) / 2**20:.0f} MiB)")
        sys.stdout.flush()
        th0 = threads_cpu(srv.proc.pid)
        idle = wait_idle(srv)
        after_split = cpu_split(th0, threads_cpu(srv.proc.pid))
        stats = srv.call("GET", f"/api/v1/behavior/projects/{PROJECT}")
        print(f"  background work after the capture (freeze, merges, checkpoint) over in {idle:.1f} s ({after_split or 'none'}): "
              f"{json.dumps(stats.get('stats', stats))}")
        sys.stdout.flush()
        ours = insights(srv)
        rss = rss_of(srv.proc.pid)
        print(f"AI Mass insights done: server RSS {rss.get('VmRSS', 0) / 2**20:.0f} MiB (peak {rss.get('VmHWM', 0) / 2**20:.0f} MiB); "
              f"load avg {loadavg()}")
        sys.stdout.flush()
    finally:
        srv.stop()
        if not KEEP:
            shutil.rmtree(work / "aimass", ignore_errors=True)

    lite = sqlite_run(data)
    print(f"SQLite {sqlite3.sqlite_version} (in memory, temp_store=MEMORY, threads=2): load {lite['load_s']:.1f} s "
          f"(csv + persons resolved in Python + executemany), index + ANALYZE {lite['index_s']:.1f} s, {lite['rows']:,} rows, "
          f"{lite['persons']:,} persons ({lite['aliases']:,} anonymous ids merged)")
    sys.stdout.flush()
    duck = duckdb_run(data, work)
    print(f"DuckDB {duck['version']} (@duckdb/node-api, in memory, threads=2): load {duck['load_ms'] / 1000:.1f} s "
          f"(read_csv + persons resolved in SQL), {duck['rows']:,} rows, {duck['persons']:,} persons")
    print(f"load avg: {loadavg()} (1, 5, 15 min) at the end")

    failures = []
    print("\nAnswers:")
    for name, kind, body, what in QUESTIONS:
        a = norm_aimass(name, ours[name]["answer"])
        s = norm_sql(name, lite["queries"][name]["rows"])
        d = norm_sql(name, duck["queries"][name]["rows"])
        bad = [f"AI Mass != SQLite: {x}" for x in [difference(a, s)] if x] + [f"DuckDB != SQLite: {x}" for x in [difference(d, s)] if x]
        print(f"  {name:<10} {'equal' if not bad else 'MISMATCH'}")
        for b in bad:
            print(f"      {b}")
        if bad:
            failures.append(name)
    print(f"  funnel counts: {norm_aimass('funnel', ours['funnel']['answer'])}")
    ret = ours["retention"]["answer"]["cohorts"]
    print("  retention (first 3 cohorts): " + "; ".join(f"{c['start']}: {[int(x) for x in c['counts']]}" for c in ret[:3]))
    lc = ours["lifecycle"]["answer"]["intervals"]
    print("  lifecycle (new, returning, resurrecting, dormant), weeks 1, 2, 13, 25: " +
          "; ".join(f"{i['start']}: {int(i['new'])}, {int(i['returning'])}, {int(i['resurrecting'])}, {int(i['dormant'])}"
                    for i in (lc[0], lc[1], lc[12], lc[-1])))

    print("\nMilliseconds per insight: median (min-max). AI Mass: took_ms (server side) and the HTTP round trip (keep-alive,\n"
          "request sent to body read), after one warm-up; SQLite (the first run counted, further runs while under\n"
          f"{SQLITE_BUDGET_S:.0f} s) and DuckDB (after one warm-up) in process, the run and every row read. Ratios of medians, "
          "took_ms.")
    hdr = (f"{'insight':<10} {'AI Mass took':>20} {'AI Mass HTTP':>20} {'SQLite':>26} {'DuckDB':>22} "
           f"{'SQLite/AI Mass':>14} {'AI Mass/DuckDB':>14}")
    print(hdr)
    print("-" * len(hdr))
    ratios = {}
    for name, *_ in QUESTIONS:
        o, s, d = ours[name], lite["queries"][name]["ms"], duck["queries"][name]["ms"]
        took = statistics.median(o["took"])
        r_lite, r_duck = statistics.median(s) / took, took / statistics.median(d)
        ratios[name] = (took, statistics.median(o["http"]), r_lite, r_duck)
        print(f"{name:<10} {spread(o['took']):>20} {spread(o['http']):>20} {spread(s) + f' x{len(s)}':>26} {spread(d):>22} "
              f"{r_lite:13.1f}x {r_duck:13.2f}x")
    print("-" * len(hdr))
    print("AI Mass first (cold) run, took_ms / HTTP ms: " +
          ", ".join(f"{n} {ours[n]['first_took']:.1f} / {ours[n]['first_http']:.1f}" for n, *_ in QUESTIONS) +
          " (the first query after the capture also freezes the newest events into a part)")
    print("\nCPU milliseconds per run (median; AI Mass: the server's CPU over its timed runs / runs; SQLite: the Python\n"
          "process's; DuckDB: the Node process's; user + system, all threads): what each spent, whatever else the\n"
          "machine ran. Ratios of those.")
    for name, *_ in QUESTIONS:
        a = ours[name]["cpu_ms_per_run"]
        s_ = statistics.median(lite["queries"][name]["cpu_ms"])
        d_ = statistics.median(duck["queries"][name]["cpu_ms"])
        print(f"  {name:<10} AI Mass {a:9.1f}   SQLite {s_:9.1f}   DuckDB {d_:9.1f}   SQLite/AI Mass {s_ / a:6.1f}x   "
              f"AI Mass/DuckDB {a / d_:5.2f}x")
    print("CPU while AI Mass's timed runs ran (cores): " + ", ".join(
        f"{n} server {ours[n]['server_cores']:.2f} / others {ours[n]['other_cores']:.2f}" for n, *_ in QUESTIONS) +
          "; waits for an idle server before them: " + ", ".join(f"{ours[n]['idle_s']:.0f} s" for n, *_ in QUESTIONS))
    rate = cap["stored"] / cap["wall_s"]
    print(f"capture: {rate:,.0f} events/s acknowledged (fsync={FSYNC}, {THREADS} clients x {BATCH} events a request)")

    print("\nGoals (issue 36):")
    for name, *_ in QUESTIONS:
        took, http_ms, r_lite, r_duck = ratios[name]
        print(f"  {name:<10} under 1 s: {took:8.1f} ms took, {http_ms:8.1f} ms HTTP  {'met' if http_ms < 1000 else 'NOT MET'}; "
              f">= 10x SQLite: {r_lite:7.1f}x  {'met' if r_lite >= 10 else 'NOT MET'}; "
              f"within 2x of DuckDB: {r_duck:5.2f}x  {'met' if r_duck <= 2 else 'NOT MET'}")
    print(f"  capture >= 100,000 events/s durable: {rate:,.0f}  {'met' if rate >= 100000 and FSYNC == 'always' else 'NOT MET'}"
          f"{'' if FSYNC == 'always' else ' (fsync=never: not durable, not the claim)'}")

    print("\nQuestions:")
    for name, kind, body, what in QUESTIONS:
        print(f"{name}: {what}")
        print(f"  AI Mass: POST /api/v1/behavior/{PROJECT}/insights/{kind} {json.dumps(body)}")
        print("  SQLite:  " + sql(name, "sqlite").replace("\n", "\n           "))
        if sql(name, "duckdb") != sql(name, "sqlite"):
            print("  DuckDB:  the same with // (integer division) for /")
        print("  SQLite plan: " + " | ".join(lite["plans"][name]))
    print("\nSQLite table: events (id INTEGER PRIMARY KEY (the arrival order), ts INTEGER (Unix seconds), person INTEGER, event TEXT,\n"
          "  browser TEXT, pathname TEXT, amount REAL), one index: events_event_person_ts (event, person, ts) (with the rowid id:\n"
          "  it covers all three questions); person = the events' distinct id, or the user id of the $identify that names it\n"
          "  as $anon_distinct_id (resolved in Python at load, not timed)")
    print("DuckDB table: the same columns, person resolved in SQL at load (not timed), no index")

    if not KEEP:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\nkept: {work}")
    if failures:
        print(f"\nFAILED: answers differ for {', '.join(failures)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
