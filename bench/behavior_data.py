"""bench/behavior.sh's data: N product-analytics events (default 10,000,000), seeded, made with numpy
and cached under the work dir (WORK, else /tmp/aimass-bench-behavior) in data-N/:
  events.csv        id,ts,distinct_id,event,browser,pathname,amount,anon (ts: Unix seconds, UTC;
                    id: the arrival order, 0 …; anon: the $anon_distinct_id of an $identify)
  capture-tT-bB/    part-0.jsonl … part-(T-1).jsonl: the capture bodies {"batch": [B events]}, one a
                    line, each person's events in one part in arrival order (so T concurrent clients,
                    one a part, deliver every person's events in the order of their ids)
  meta.json         counts of events, persons, ids and names, and the generator's parameters
Shape: about N / 20 persons (500,000 at 10M) over 2025-01-01 .. 2025-06-30 (181 days, UTC), growing
signups over time, a skewed number of sessions per person (log-normal rates), churn (short lifetimes
for most, long for a loyal quarter) and comebacks after a gap, fewer sessions at weekends and a daily
cycle; a session is a landing $pageview then page views, $autocapture clicks, searches, view_item,
sometimes add_to_cart and purchase (with an amount) and a $pageleave, seconds to minutes apart (whole
seconds, so some events of a person share a second and their ids order them). 30% of persons sign
up in one of their sessions: an $identify (distinct id u<p>, $anon_distinct_id a<p>) and a signup in
the same second; later sessions are the user's, sometimes on a new device that logs in (an $identify
of a new anonymous id a<p>.<session>). 1.5% of events arrive late (hours after their time).
    python3 bench/behavior_data.py [N]     prints the directory
numpy only."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

START = 1735689600  # 2025-01-01T00:00:00Z, a Wednesday
DAYS = 181          # to 2025-06-30 included
SEED = 36
THREADS = int(os.environ.get("CAPTURE_THREADS", 8))
BATCH = int(os.environ.get("CAPTURE_BATCH", 2000))

NAMES = ["$pageview", "$autocapture", "search", "view_item", "$identify", "signup", "add_to_cart", "purchase",
         "$pageleave"]
PV, AUTO, SEARCH, VIEW, IDENTIFY, SIGNUP, CART, PURCHASE, LEAVE = range(len(NAMES))
BROWSERS = ["Chrome", "Safari", "Firefox", "Edge", "Samsung Internet", "Opera"]
BROWSER_P = [0.64, 0.19, 0.07, 0.06, 0.025, 0.015]
# Hours of the day (UTC) sessions start in: quiet at night, a peak in the (European) evening.
HOUR_W = np.array([2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 5.5, 6.5, 7, 7, 7, 7, 7, 7.5, 8, 8.5, 9, 9, 8, 6.5, 4.5, 3])
HOUR_P = HOUR_W / HOUR_W.sum()


def work_dir() -> Path:
    return Path(os.environ.get("WORK", "/tmp/aimass-bench-behavior"))


def paths() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Page paths, the weights of any page view and those of a landing one."""
    names = ["/", "/pricing", "/cart", "/checkout", "/search", "/account", "/signup", "/login"]
    w = [12, 3, 4, 2, 3, 2, 1, 1]
    land = [30, 8, 0, 0, 0, 1, 2, 3]
    for k in range(200):
        names.append(f"/blog/{k}")
        w.append(1.5 / (k + 1))
        land.append(15 / (k + 1) ** 0.8)
    for k in range(2000):
        names.append(f"/products/{k}")
        w.append(40 / (k + 1) ** 0.9)
        land.append(6 / (k + 1) ** 0.9)
    w, land = np.array(w, float), np.array(land, float)
    return names, w / w.sum(), land / land.sum()


def group_rank(group: np.ndarray) -> np.ndarray:
    """0, 1, 2 … within each run of equal values of a sorted array."""
    n = len(group)
    if n == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n) - first


def sessions(rng, persons: int, scale: float):
    """Per session: person, start (seconds from START); sorted by (person, start)."""
    T = DAYS * 86400.0
    early = rng.random(persons) < 0.12
    first = np.where(early, rng.random(persons) * 7 * 86400, T * rng.random(persons) ** 0.75)
    rate = np.minimum(np.exp(rng.normal(np.log(0.12), 1.1, persons)), 8.0) * scale / 86400  # sessions a second
    loyal = rng.random(persons) < 0.25
    life = rng.exponential(np.where(loyal, 120.0, 12.0), persons) * 86400
    active = np.minimum(life, T - first)
    k = rng.poisson(rate * active)
    p = np.r_[np.arange(persons), np.repeat(np.arange(persons), k)]
    t = np.r_[first, np.repeat(first, k) + rng.random(k.sum()) * np.repeat(active, k)]
    # Comebacks: a quarter of those who churned come back after a gap for a week.
    back = (first + life < T - 7 * 86400) & (rng.random(persons) < 0.25)
    at = first + life + rng.exponential(25 * 86400, persons)
    back &= at < T
    m = np.where(back, 1 + rng.poisson(rate * 5 * 86400), 0)
    p = np.r_[p, np.repeat(np.arange(persons), m)]
    t = np.r_[t, np.repeat(at, m) + rng.random(m.sum()) * 7 * 86400]
    keep = t < T
    # Weekends: fewer sessions (the first one of each person stays).
    day = np.floor(t / 86400).astype(np.int64)
    dow = (day + 2) % 7  # START is a Wednesday; Monday is 0
    keep &= ~((dow >= 5) & (rng.random(len(t)) < 0.45) & (np.arange(len(t)) >= persons))
    p, day = p[keep], day[keep]
    hour = rng.choice(24, len(p), p=HOUR_P)
    t = day * 86400 + hour * 3600 + np.floor(rng.random(len(p)) * 3600).astype(np.int64)
    t = np.minimum(t, int(T) - 1)
    order = np.lexsort((t, p))
    return p[order], t[order]


def simulate(n: int):
    """The events in arrival order, as columns."""
    rng = np.random.default_rng(SEED)
    persons = max(200, n // 20)
    signup_at = np.where(rng.random(persons) < 0.30, rng.geometric(0.45, persons) - 1, -1)
    buyer = np.exp(rng.normal(0, 0.7, persons))
    browser = rng.choice(len(BROWSERS), persons, p=BROWSER_P)
    per_session = 5.9
    scale = 1.0
    for _ in range(8):  # the rate that makes a few more than n events (then trimmed to n)
        srng = np.random.default_rng([SEED, 1, int(scale * 1e6)])
        sp, st = sessions(srng, persons, scale)
        expect = len(sp) * per_session
        if n * 1.02 <= expect <= n * 1.12:
            break
        scale *= n * 1.06 / expect
    S = len(sp)
    idx = group_rank(sp)  # the session's number among its person's
    r = np.random.default_rng([SEED, 2])
    su = signup_at[sp]
    signup = idx == su
    signed = (su >= 0) & (idx > su)
    new_device = signed & (r.random(S) < 0.12)
    identify = signup | new_device
    id_key = np.where(signup, r.uniform(0.1, 0.4, S), r.uniform(0.05, 0.3, S))
    sbrowser = np.where(new_device, r.choice(len(BROWSERS), S, p=BROWSER_P), browser[sp])
    signed_now = signed | signup
    n_pv = r.geometric(0.38, S)
    n_auto = r.poisson(1.2, S)
    n_search = (r.random(S) < 0.25) * (1 + r.poisson(0.5, S))
    n_view = r.poisson(0.9, S)
    cart = r.random(S) < np.minimum(np.where(signed_now, 0.22, 0.07) * buyer[sp], 0.9)
    n_cart = cart * (1 + r.poisson(0.3, S))
    buy = cart & (r.random(S) < np.where(signed_now, 0.5, 0.2))
    leave = r.random(S) < 0.7

    kinds, sess, keys = [], [], []

    def add(kind, counts, lo, hi):
        s = np.repeat(np.arange(S), counts)
        kinds.append(np.full(len(s), kind, np.int8))
        sess.append(s)
        keys.append(r.uniform(lo, hi, len(s)))

    add(PV, n_pv, 0.02, 0.98)
    keys[-1][group_rank(sess[-1]) == 0] = 0.0  # the landing page view comes first
    add(AUTO, n_auto, 0.02, 0.98)
    add(SEARCH, n_search, 0.02, 0.98)
    add(VIEW, n_view, 0.02, 0.98)
    add(CART, n_cart, 0.45, 0.85)
    add(PURCHASE, buy.astype(np.int64), 0.87, 0.97)
    add(LEAVE, leave.astype(np.int64), 0.995, 0.999)
    add(IDENTIFY, identify.astype(np.int64), 0, 0)
    keys[-1][:] = id_key[sess[-1]]
    add(SIGNUP, signup.astype(np.int64), 0, 0)
    keys[-1][:] = id_key[sess[-1]] + 1e-9
    kind, s, key = np.concatenate(kinds), np.concatenate(sess), np.concatenate(keys)
    o = np.lexsort((kind == SIGNUP, key, s))
    kind, s, key = kind[o], s[o], key[o]
    # Times: the session's start, then gaps of whole seconds (a signup in its $identify's second).
    gap = np.floor(r.exponential(35.0, len(s))).astype(np.int64)
    gap[group_rank(s) == 0] = 0
    gap[kind == SIGNUP] = 0
    cs = np.cumsum(gap)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    base = np.repeat(cs[starts] - gap[starts], np.diff(np.r_[starts, len(s)]))
    t = st[s] + (cs - base)
    keep = t < DAYS * 86400
    kind, s, key, t = kind[keep], s[keep], key[keep], t[keep]
    # Trim to n: drop random events that carry nothing the funnels need (not landings or steps).
    extra = len(kind) - n
    if extra < 0:
        raise SystemExit(f"behavior_data: made {len(kind)} events, fewer than {n}")
    filler = np.flatnonzero(np.isin(kind, [AUTO, SEARCH, VIEW, LEAVE]) | ((kind == PV) & (key > 0)))
    drop = r.choice(filler, extra, replace=False)
    keep = np.ones(len(kind), bool)
    keep[drop] = False
    kind, s, key, t = kind[keep], s[keep], key[keep], t[keep]
    p = sp[s]
    # Distinct ids: 0 a<p> (the person's first device), 1 u<p> (signed up), 2 a<p>.<session>.
    after = key >= id_key[s]
    did = np.where(signup[s], np.where(after, 1, 0),
                   np.where(new_device[s], np.where(after, 1, 2), np.where(signed[s], 1, 0))).astype(np.int8)
    anon = np.where(kind == IDENTIFY, np.where(new_device[s], 2, 0), -1).astype(np.int8)
    names, w, land = paths()
    path = np.full(len(kind), -1, np.int32)
    pv = kind == PV
    landing = pv & (key == 0)
    path[pv & ~landing] = r.choice(len(names), int((pv & ~landing).sum()), p=w)
    path[landing] = r.choice(len(names), int(landing.sum()), p=land)
    amount = np.where(kind == PURCHASE, np.round(np.exp(r.normal(np.log(45), 0.8, len(kind))), 2), np.nan)
    # Arrival: in time order (persons shuffled within a second, a person's events in session
    # order), 1.5% late by hours.
    seq = np.arange(len(kind))
    late = r.random(len(kind)) < 0.015
    arrival = t + np.where(late, np.floor(r.exponential(4 * 3600, len(kind))).astype(np.int64), 0)
    shuffle = r.permutation(persons)
    o = np.lexsort((seq, shuffle[p], arrival))
    return {"ts": t[o] + START, "kind": kind[o], "person": p[o], "session": idx[s][o], "did": did[o], "anon": anon[o],
            "browser": sbrowser[s][o], "path": path[o], "amount": amount[o], "persons": persons, "paths": names,
            "sessions": S, "late": int(late.sum())}


def write(ev: dict, out: Path) -> dict:
    n = len(ev["ts"])
    stamps = np.datetime_as_string(ev["ts"].astype("datetime64[s]"), unit="s")
    capture = out / f"capture-t{THREADS}-b{BATCH}"
    capture.mkdir(parents=True)
    parts = [open(capture / f"part-{i}.jsonl", "w") for i in range(THREADS)]
    pending: list[list[str]] = [[] for _ in range(THREADS)]
    lines = [0] * THREADS
    names, browsers, pathnames = NAMES, BROWSERS, ev["paths"]
    ids = set()
    step = 1_000_000
    with open(out / "events.csv", "w") as csv:
        csv.write("id,ts,distinct_id,event,browser,pathname,amount,anon\n")
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            cols = [ev[k][lo:hi].tolist() for k in ("ts", "kind", "person", "session", "did", "anon", "browser", "path", "amount")]
            cols.append(stamps[lo:hi].tolist())
            rows = []
            for i, (ts, kind, p, sess, did, anon, br, path, amount, stamp) in enumerate(zip(*cols), start=lo):
                d = f"u{p}" if did == 1 else (f"a{p}" if did == 0 else f"a{p}.{sess}")
                name = names[kind]
                b = browsers[br]
                props = f'"$browser":"{b}"'
                pathname = am = a = ""
                if path >= 0:
                    pathname = pathnames[path]
                    props += f',"$pathname":"{pathname}"'
                if amount == amount:
                    am = repr(amount)
                    props += f',"amount":{am}'
                if anon >= 0:
                    a = f"a{p}" if anon == 0 else f"a{p}.{sess}"
                    props += f',"$anon_distinct_id":"{a}"'
                rows.append(f"{i},{ts},{d},{name},{b},{pathname},{am},{a}\n")
                ids.add(d)
                t = p % THREADS
                pending[t].append(f'{{"event":"{name}","distinct_id":"{d}","timestamp":"{stamp}Z",'
                                  f'"uuid":"00000000-0000-4000-8000-{i:012x}","properties":{{{props}}}}}')
                if len(pending[t]) == BATCH:
                    parts[t].write('{"batch":[' + ",".join(pending[t]) + "]}\n")
                    lines[t] += 1
                    pending[t] = []
            csv.write("".join(rows))
    for t in range(THREADS):
        if pending[t]:
            parts[t].write('{"batch":[' + ",".join(pending[t]) + "]}\n")
            lines[t] += 1
        parts[t].close()
    counts = np.bincount(ev["kind"], minlength=len(NAMES))
    return {"events": n, "persons_made": ev["persons"], "persons_with_events": int(len(np.unique(ev["person"]))),
            "distinct_ids": len(ids), "sessions": ev["sessions"], "late_events": ev["late"],
            "names": {NAMES[k]: int(c) for k, c in enumerate(counts)}, "first_ts": int(ev["ts"].min()), "last_ts": int(ev["ts"].max()),
            "capture": {"threads": THREADS, "batch": BATCH, "requests": lines}, "seed": SEED}


def generate(n: int) -> Path:
    """The cached directory of n events, made when missing."""
    out = work_dir() / f"data-{n}"
    if (out / "meta.json").exists() and (out / f"capture-t{THREADS}-b{BATCH}").exists():
        return out
    if out.exists():  # another thread count or batch: rewrite it all
        shutil.rmtree(out)
    tmp = work_dir() / f"data-{n}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    ev = simulate(n)
    t1 = time.perf_counter()
    meta = write(ev, tmp)
    meta["made_s"] = {"simulate": round(t1 - t0, 1), "write": round(time.perf_counter() - t1, 1)}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    tmp.rename(out)
    return out


def meta(path: Path) -> dict:
    return json.loads((path / "meta.json").read_text())


if __name__ == "__main__":
    d = generate(int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("EVENTS", 10_000_000)))
    print(d)
    print(json.dumps(meta(d)))
