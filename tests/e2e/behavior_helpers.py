"""Helpers of the behaviour black-box tests (test_behavior.py): the HTTP calls every test makes
(each asserting its status), a seeded generator of page-view streams, and the reference answers
those tests compare the server with, computed here independently of it: in SQLite SQL over an
events table that holds the same events in the same arrival order (following the definitions of
docs/guide/behavior.md), and a BG/NBD maximum-likelihood fit written in plain Python (the
interpreter the suite runs under has no numpy)."""
from __future__ import annotations

import bisect
import math
import random
import sqlite3
from collections import defaultdict
from datetime import datetime, timezone

from conftest import describe, unique

BASE = "/api/v1/behavior"
DAY_MS = 86_400_000


# --------------------------------------------------------------------------------------------
# Times and intervals (UTC; weeks start on Monday, as the guide says)


def ms(text: str) -> int:
    """Unix ms of an ISO date or time (UTC)."""
    if len(text) == 10:
        text += "T00:00:00"
    dt = datetime.fromisoformat(text.replace("Z", ""))
    return int(dt.replace(tzinfo=timezone.utc).timestamp() * 1000)


def iso(t_ms: int) -> str:
    dt = datetime.fromtimestamp(t_ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t_ms % 1000:03d}Z"


def day_key(t_ms: int) -> int:
    return t_ms // DAY_MS


def week_key(t_ms: int) -> int:
    return (t_ms // DAY_MS + 3) // 7  # 1970-01-01 was a Thursday


def month_key(t_ms: int) -> int:
    dt = datetime.fromtimestamp(t_ms / 1000, tz=timezone.utc)
    return dt.year * 12 + dt.month - 1


def render_day(k: int) -> str:
    return datetime.fromtimestamp(k * 86400, tz=timezone.utc).strftime("%Y-%m-%d")


def render_week(k: int) -> str:
    return render_day(k * 7 - 3)


def render_month(k: int) -> str:
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


KEYS = {"day": (day_key, render_day), "week": (week_key, render_week), "month": (month_key, render_month)}


# --------------------------------------------------------------------------------------------
# HTTP


def make_project(client, name: str | None = None, **fields) -> str:
    name = name or unique("bp")
    resp = client.post(f"{BASE}/projects", json={"name": name, **fields})
    assert resp.status_code == 201, describe(resp)
    assert resp.json()["name"] == name
    return name


def capture(client, project: str, body) -> dict:
    resp = client.post(f"{BASE}/{project}/capture", json=body)
    assert resp.status_code == 200, describe(resp)
    out = resp.json()
    assert out["status"] == 1 and out["received"] == out["stored"] + out["duplicates"], out
    return out


def capture_all(client, project: str, events: list[dict], batch: int = 1000) -> int:
    stored = 0
    for at in range(0, len(events), batch):
        out = capture(client, project, {"batch": events[at:at + batch]})
        assert out["received"] == len(events[at:at + batch])
        stored += out["stored"]
    return stored


def insight(client, project: str, kind: str, body: dict) -> dict:
    resp = client.post(f"{BASE}/{project}/insights/{kind}", json=body, timeout=120)
    assert resp.status_code == 200, describe(resp)
    out = resp.json()
    assert out["kind"] == kind and isinstance(out["took_ms"], int), out.keys()
    return out


def stats(client, project: str) -> dict:
    resp = client.get(f"{BASE}/projects/{project}")
    assert resp.status_code == 200, describe(resp)
    return resp.json()["stats"]


def person(client, project: str, distinct_id: str) -> dict:
    resp = client.get(f"{BASE}/{project}/persons/{distinct_id}")
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def all_persons(client, project: str, **params) -> dict:
    """{distinct_id: properties} of every person (listed in pages)."""
    out, offset = {}, 0
    while True:
        resp = client.get(f"{BASE}/{project}/persons", params={"limit": 10000, "offset": offset, **params})
        assert resp.status_code == 200, describe(resp)
        page = resp.json()
        for p in page["persons"]:
            out[p["distinct_id"]] = p["properties"]
        offset += len(page["persons"])
        if not page["persons"] or offset >= page["total"]:
            assert len(out) == page["total"], (len(out), page["total"])
            return out


def trends_table(answer: dict) -> dict:
    """{(label, math, breakdown_value): (data, total)} of a trends answer."""
    out = {}
    for s in answer["series"]:
        key = (s["label"], s["math"], s.get("breakdown_value"))
        assert key not in out, f"series {key} twice"
        out[key] = (s["data"], s["total"])
    return out


# --------------------------------------------------------------------------------------------
# Synthetic page-view streams

SYN_START = ms("2024-01-01")  # a Monday
SYN_DAYS = 70
PAGES = ["/", "/pricing", "/docs", "/blog", "/signup", "/checkout"]
BROWSERS = ["Firefox", "Chrome", "Safari", "Edge"]
PLANS = ["free", "pro", "team"]


def synthetic_events(seed: int = 36, persons: int = 300) -> list[dict]:
    """A few hundred persons' sessions of page views, carts, purchases, signups and searches
    over 70 days, in a shuffled arrival order (so most events arrive late, after later ones),
    with ties in time (two events of a person in the same millisecond) and events without
    some properties. Each person's plan is set by their signups ($set) and never changes."""
    rng = random.Random(seed)
    out = []
    for p in range(persons):
        pid = f"p{p:03d}"
        browser = rng.choice(BROWSERS)
        plan = rng.choice(PLANS)
        day = rng.randrange(0, 56)
        pace = rng.choice([1, 2, 3, 7, 14])
        while day < SYN_DAYS:
            t = SYN_START + day * DAY_MS + rng.randrange(0, DAY_MS - 6 * 3_600_000)
            for _ in range(rng.randint(1, 9)):
                r = rng.random()
                props = {}
                b = rng.random()
                if b < 0.9:
                    props["browser"] = browser
                elif b < 0.95:
                    props["browser"] = rng.choice(BROWSERS)
                if r < 0.5:
                    name = "$pageview"
                    props["$pathname"] = rng.choice(PAGES)
                elif r < 0.67:
                    name = "add_to_cart"
                elif r < 0.8:
                    name = "purchase"
                    if rng.random() < 0.93:
                        props["amount"] = round(rng.uniform(1, 250), 2)
                elif r < 0.9:
                    name = "signup"
                    props["$set"] = {"plan": plan}
                else:
                    name = "search"
                out.append({"event": name, "distinct_id": pid, "t": t, "properties": props})
                step = rng.random()
                if step < 0.12:
                    t += 0  # a tie: the next event in the same millisecond
                elif step < 0.7:
                    t += rng.randrange(1_000, 600_000)
                else:
                    t += rng.randrange(600_000, 4 * 3_600_000)
            day += rng.randint(1, pace)
    rng.shuffle(out)
    for i, e in enumerate(out):
        e["uuid"] = f"syn-{seed}-{i}"
        e["timestamp"] = iso(e.pop("t"))
    return out


def load_sqlite(events: list[dict]) -> sqlite3.Connection:
    """The events in SQLite, `id` their arrival order, one column per property, and each
    person's plan (from $set) in `persons`."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, person TEXT, event TEXT, ts_ms INTEGER, "
               "path TEXT, browser TEXT, amount REAL)")
    db.execute("CREATE TABLE persons (person TEXT PRIMARY KEY, plan TEXT)")
    plans = {}
    for i, e in enumerate(events):
        p = e["properties"]
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (i, e["distinct_id"], e["event"], ms(e["timestamp"]), p.get("$pathname"), p.get("browser"),
                    p.get("amount")))
        if "$set" in p:
            plans[e["distinct_id"]] = p["$set"]["plan"]
    for pid in {e["distinct_id"] for e in events}:
        db.execute("INSERT INTO persons VALUES (?, ?)", (pid, plans.get(pid)))
    db.execute("CREATE INDEX events_person ON events (person, ts_ms, id)")
    db.execute("CREATE INDEX events_event ON events (event, person)")
    return db


# --------------------------------------------------------------------------------------------
# Reference answers in SQL


def sql_funnel_ordered(db, steps: list[str], window_ms: int, frm: int, to: int):
    """{person: furthest step reached (1-3)} and {person: the `browser` of the event that started
    the sequence kept for the breakdown} for a 3-step ordered funnel, as the guide defines it:
    step k is reached when there are events e1 < … < ek in (time, arrival) order, each matching
    its step, all in the range, with ek.time - e1.time <= window. The breakdown's sequence: the
    one that reached the furthest step first (its last event the earliest), and of those the one
    starting latest. `steps` are SQL conditions on a row `{t}` of the events table."""
    s1, s2, s3 = (s.format(t="t") for s in steps)
    base = f"SELECT id, person, ts_ms, browser FROM events t WHERE ts_ms >= {frm} AND ts_ms < {to}"
    q = f"""
    WITH a AS ({base} AND {s1}), b AS ({base} AND {s2}), c AS ({base} AND {s3}),
    seq2 AS (
      SELECT a.person, a.id AS a_id, a.ts_ms AS a_ts, a.browser AS a_browser, b.id AS e_id, b.ts_ms AS e_ts
      FROM a JOIN b ON b.person = a.person AND (b.ts_ms, b.id) > (a.ts_ms, a.id)
      WHERE b.ts_ms - a.ts_ms <= {window_ms}),
    seq3 AS (
      SELECT a.person, a.id AS a_id, a.ts_ms AS a_ts, a.browser AS a_browser, c.id AS e_id, c.ts_ms AS e_ts
      FROM a JOIN b ON b.person = a.person AND (b.ts_ms, b.id) > (a.ts_ms, a.id)
             JOIN c ON c.person = a.person AND (c.ts_ms, c.id) > (b.ts_ms, b.id)
      WHERE c.ts_ms - a.ts_ms <= {window_ms}),
    seq1 AS (SELECT person, id AS a_id, ts_ms AS a_ts, browser AS a_browser, id AS e_id, ts_ms AS e_ts FROM a),
    reach AS (
      SELECT person, MAX(k) AS k FROM (
        SELECT person, 1 AS k FROM seq1 UNION ALL SELECT person, 2 FROM seq2 UNION ALL SELECT person, 3 FROM seq3)
      GROUP BY person),
    furthest AS (
      SELECT s.* FROM (
        SELECT 1 AS k, * FROM seq1 UNION ALL SELECT 2, * FROM seq2 UNION ALL SELECT 3, * FROM seq3) s
      JOIN reach r ON r.person = s.person AND r.k = s.k),
    ranked AS (
      SELECT person, k, a_browser,
             ROW_NUMBER() OVER (PARTITION BY person ORDER BY e_ts, e_id, a_ts DESC, a_id DESC) AS rn
      FROM furthest)
    SELECT person, k, a_browser FROM ranked WHERE rn = 1"""
    reach, touch = {}, {}
    for p, k, b in db.execute(q):
        reach[p], touch[p] = k, b
    return reach, touch


def sql_funnel_strict(db, steps: list[str], window_ms: int, frm: int, to: int) -> dict:
    """{person: furthest step} of a strict funnel: steps 1…k done by k consecutive events of the
    person's events in the range (in (time, arrival) order), the last within the window."""
    s1, s2, s3 = (s.format(t="e{t}") for s in steps)
    q = f"""
    WITH e AS (
      SELECT *, ROW_NUMBER() OVER (PARTITION BY person ORDER BY ts_ms, id) AS rn
      FROM events WHERE ts_ms >= {frm} AND ts_ms < {to}),
    r AS (
      SELECT e1.person, 1 + (e2.id IS NOT NULL) + (e3.id IS NOT NULL) AS k
      FROM e e1
      LEFT JOIN e e2 ON e2.person = e1.person AND e2.rn = e1.rn + 1 AND ({s2.format(t=2)})
                     AND e2.ts_ms - e1.ts_ms <= {window_ms}
      LEFT JOIN e e3 ON e3.person = e1.person AND e3.rn = e1.rn + 2 AND e2.id IS NOT NULL
                     AND ({s3.format(t=3)}) AND e3.ts_ms - e1.ts_ms <= {window_ms}
      WHERE ({s1.format(t=1)}))
    SELECT person, MAX(k) FROM r GROUP BY person"""
    return dict(db.execute(q).fetchall())


def sql_retention(db, target: str, returning: str, kind: str, periods: int, frm: int, to: int, interval: str):
    """[(start key, [size, counts…])] of a retention query, as the guide defines it."""
    unit = {"day": "(ts_ms / 86400000)", "week": "((ts_ms / 86400000 + 3) / 7)"}[interval]
    first_k, last_k = KEYS[interval][0](frm), KEYS[interval][0](to - 1)
    if kind == "first_time":
        cohort = f"""SELECT person, {unit} AS k FROM (
                       SELECT person, MIN(ts_ms) AS ts_ms FROM events WHERE {target} AND ts_ms < {to} GROUP BY person)
                     WHERE ts_ms >= {frm}"""
    else:
        cohort = f"SELECT DISTINCT person, {unit} AS k FROM events WHERE {target} AND ts_ms >= {frm} AND ts_ms < {to}"
    back = f"SELECT DISTINCT person, {unit} AS k FROM events WHERE {returning} AND ts_ms >= {frm} AND ts_ms < {to}"
    sizes = dict(db.execute(f"SELECT k, COUNT(*) FROM ({cohort}) GROUP BY k"))
    counts = defaultdict(int)
    for k, i, n in db.execute(f"""SELECT c.k, r.k - c.k, COUNT(*) FROM ({cohort}) c JOIN ({back}) r ON r.person = c.person
                                   WHERE r.k > c.k GROUP BY 1, 2"""):
        counts[(k, i)] = n
    out = []
    for k in range(first_k, last_k + 1):
        n = min(periods, last_k - k + 1)
        out.append((k, [sizes.get(k, 0)] + [counts[(k, i)] for i in range(1, n)]))
    return out


def sql_lifecycle(db, event_cond: str, frm: int, to: int, unit_sql: str, first_k: int, last_k: int):
    """[(key, new, returning, resurrecting, dormant)] per interval, from the persons' active
    intervals (every event before the range's end counts as history)."""
    db.execute("DROP TABLE IF EXISTS active")
    db.execute(f"CREATE TEMP TABLE active AS SELECT DISTINCT person, {unit_sql} AS k FROM events "
               f"WHERE {event_cond} AND ts_ms < {to}")
    db.execute("CREATE INDEX active_pk ON active (person, k)")
    out = []
    for k in range(first_k, last_k + 1):
        new, ret, res = db.execute(f"""
            SELECT SUM(f.first = {k}),
                   SUM(f.first < {k} AND EXISTS (SELECT 1 FROM active b WHERE b.person = a.person AND b.k = {k - 1})),
                   SUM(f.first < {k} AND NOT EXISTS (SELECT 1 FROM active b WHERE b.person = a.person AND b.k = {k - 1}))
            FROM active a JOIN (SELECT person, MIN(k) AS first FROM active GROUP BY person) f USING (person)
            WHERE a.k = {k}""").fetchone()
        dormant = db.execute(f"""SELECT COUNT(*) FROM active a WHERE a.k = {k - 1}
                                 AND NOT EXISTS (SELECT 1 FROM active b WHERE b.person = a.person AND b.k = {k})""").fetchone()[0]
        out.append((k, new or 0, ret or 0, res or 0, dormant))
    return out


# --------------------------------------------------------------------------------------------
# RFM and the lifetime models, computed here


def quintiles(values: list[float]) -> list[int]:
    """1 + floor(5 × (values strictly below) / n), at most 5: quintiles by rank, ties together
    (src/clv/rfm.cpp's rule)."""
    s = sorted(values)
    n = len(values)
    return [1 + min(4, int(5 * bisect.bisect_left(s, v) / n)) for v in values]


# The 5 × 5 recency-frequency map of RFM segments (rows: recency score, columns: frequency score).
SEGMENT_MAP = {
    1: ["hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"],
    2: ["hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose"],
    3: ["about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"],
    4: ["promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"],
    5: ["new", "potential_loyalist", "potential_loyalist", "champion", "champion"],
}


def bgnbd_log_likelihood(params, groups) -> float:
    """The BG/NBD log-likelihood (Fader, Hardie and Lee 2005, eq. 6) of customers grouped as
    {(x, t_x, T): count}."""
    r, alpha, a, b = params
    if min(params) <= 0:
        return -math.inf
    base = r * math.log(alpha) + math.lgamma(a + b) - math.lgamma(b) - math.lgamma(r)
    cache_x = {}
    ll = 0.0
    for (x, tx, T), n in groups.items():
        if x not in cache_x:
            cache_x[x] = math.lgamma(r + x) + math.lgamma(b + x) - math.lgamma(a + b + x)
        a3 = -(r + x) * math.log(alpha + T)
        if x > 0:
            a4 = math.log(a) - math.log(b + x - 1) - (r + x) * math.log(alpha + tx)
            m = max(a3, a4)
            tail = m + math.log(math.exp(a3 - m) + math.exp(a4 - m))
        else:
            tail = a3
        ll += n * (cache_x[x] + base + tail)
    return ll


def nelder_mead(f, x0, step=0.5, tol=1e-11, max_iter=20000):
    """Minimises f from x0 (the textbook Nelder-Mead: reflection 1, expansion 2, contraction
    0.5, shrink 0.5)."""
    n = len(x0)
    simplex = [list(x0)] + [[x0[j] + (step if j == i else 0) for j in range(n)] for i in range(n)]
    values = [f(p) for p in simplex]
    for _ in range(max_iter):
        order = sorted(range(n + 1), key=lambda i: values[i])
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if abs(values[-1] - values[0]) <= tol * (1 + abs(values[0])) and \
                max(abs(simplex[-1][j] - simplex[0][j]) for j in range(n)) < 1e-8:
            break
        centroid = [sum(p[j] for p in simplex[:-1]) / n for j in range(n)]
        worst = simplex[-1]
        refl = [centroid[j] + (centroid[j] - worst[j]) for j in range(n)]
        fr = f(refl)
        if fr < values[0]:
            exp_ = [centroid[j] + 2 * (centroid[j] - worst[j]) for j in range(n)]
            fe = f(exp_)
            simplex[-1], values[-1] = (exp_, fe) if fe < fr else (refl, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = refl, fr
        else:
            if fr < values[-1]:
                con = [centroid[j] + 0.5 * (refl[j] - centroid[j]) for j in range(n)]
            else:
                con = [centroid[j] + 0.5 * (worst[j] - centroid[j]) for j in range(n)]
            fc = f(con)
            if fc < min(fr, values[-1]):
                simplex[-1], values[-1] = con, fc
            else:
                best = simplex[0]
                simplex = [best] + [[best[j] + 0.5 * (p[j] - best[j]) for j in range(n)] for p in simplex[1:]]
                values = [values[0]] + [f(p) for p in simplex[1:]]
    i = min(range(n + 1), key=lambda i: values[i])
    return simplex[i], values[i]


def fit_bgnbd(groups) -> tuple[list[float], float]:
    """The maximum-likelihood (r, alpha, a, b) over log-parameters, restarted from its own
    answer until it stops improving (Nelder-Mead can stall on a flat ridge)."""
    def nll(lp):
        try:
            v = -bgnbd_log_likelihood([math.exp(x) for x in lp], groups)
        except (OverflowError, ValueError):
            return math.inf
        return v if math.isfinite(v) else math.inf
    x, fx = [0.0, math.log(10.0), 0.0, 0.0], math.inf
    for _ in range(6):
        x, fnew = nelder_mead(nll, x, step=0.3)
        if fx - fnew < 1e-9:
            fx = min(fx, fnew)
            break
        fx = fnew
    return [math.exp(v) for v in x], -fx
