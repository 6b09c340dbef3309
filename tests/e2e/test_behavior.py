"""The behavior module, black-box: capture (one event, batches, bare lists, refusals, dedup by
uuid, late events), identity (aliases, $identify, person properties), every insight checked
against answers computed here independently (SQLite SQL over the same synthetic page-view
stream in the same arrival order; small hand-computed fixtures for stickiness, paths and
funnels' conversion times), UCI Online Retail imported from a dataset and checked against SQL
and Python on the CSV (trends, retention, lifecycle, RFM with the quintile rule, the BG/NBD fit
against a reference maximum-likelihood fit written here), cohorts, saved insights and
dashboards, a followed message-queue topic, durability (restart, crashes at failpoints while
capturing and checkpointing) and permissions."""
from __future__ import annotations

import csv
import gzip
import json
import math
import sqlite3
import subprocess
import signal
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest
import requests

from behavior_helpers import (BASE, DAY_MS, KEYS, SEGMENT_MAP, all_persons, bgnbd_log_likelihood, capture,
                              capture_all, fit_bgnbd, insight, iso, load_sqlite, make_project, month_key, ms, person,
                              quintiles, render_day, render_month, render_week, sql_funnel_ordered,
                              sql_funnel_strict, sql_lifecycle, sql_retention, stats, synthetic_events, trends_table,
                              week_key)
from conftest import assert_error, describe, unique, wait_for
from datasets_helpers import create_dataset, push, retail_path, wait_ready
from mq_helpers import make_topic, publish

FAILPOINTS = "/api/v1/admin/failpoints"


def close(a, b, rel=1e-9, abs_=1e-6) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def close_lists(got, want) -> bool:
    return len(got) == len(want) and all(close(g, w) for g, w in zip(got, want))


# --------------------------------------------------------------------------------------------
# 1. Capture


def test_capture_one_event_a_batch_and_a_bare_list(server):
    a = server.admin
    p = make_project(a, description="capture shapes")
    out = capture(a, p, {"event": "signup", "distinct_id": "u1", "timestamp": "2025-03-01T10:00:00Z",
                         "properties": {"plan": "pro"}})
    assert out == {"status": 1, "received": 1, "stored": 1, "duplicates": 0}
    out = capture(a, p, {"batch": [
        {"event": "$pageview", "distinct_id": 42, "timestamp": "2025-03-01T10:01:00.250Z", "properties": {"$pathname": "/"}},
        {"event": "$pageview", "properties": {"distinct_id": "u3", "$pathname": "/docs"}, "timestamp": "2025-03-01T11:00:00+01:00"},
    ]})
    assert out == {"status": 1, "received": 2, "stored": 2, "duplicates": 0}
    before = int(time.time() * 1000)
    out = capture(a, p, [{"event": "search", "distinct_id": "u1", "timestamp": "2025-03-02T08:00:00Z"},
                         {"event": "search", "distinct_id": "u4"}])  # no timestamp: now
    after = int(time.time() * 1000)
    assert out == {"status": 1, "received": 2, "stored": 2, "duplicates": 0}
    assert stats(a, p)["events"] == 5
    assert stats(a, p)["distinct_ids"] == 4

    events = a.get(f"{BASE}/{p}/events", params={"limit": 10}).json()["events"]
    assert len(events) == 5
    times = [ms(e["timestamp"]) for e in events]
    assert times == sorted(times, reverse=True), "newest first"
    assert events[0]["distinct_id"] == "u4" and before - 1000 <= times[0] <= after + 1000
    by_id = {e["distinct_id"]: e for e in events if e["event"] == "$pageview"}
    assert set(by_id) == {"42", "u3"}, "a numeric id is taken as its text; properties.distinct_id is the id"
    assert ms(by_id["42"]["timestamp"]) == ms("2025-03-01T10:01:00") + 250
    assert ms(by_id["u3"]["timestamp"]) == ms("2025-03-01T10:00:00"), "an offset is read as UTC"
    assert by_id["u3"]["properties"] == {"$pathname": "/docs"}
    only = a.get(f"{BASE}/{p}/events", params={"distinct_id": "u1", "event": "signup"}).json()["events"]
    assert [(e["event"], e["properties"]) for e in only] == [("signup", {"plan": "pro"})]
    recent = insight(a, p, "trends", {"event": "search", "date_from": "-1d"})
    assert recent["series"][0]["total"] == 1 and len(recent["intervals"]) == 2, "yesterday and today: u4's search only"
    hourly = insight(a, p, "trends", {"event": "search", "interval": "hour", "date_from": "-24h"})
    data = hourly["series"][0]["data"]
    assert hourly["series"][0]["total"] == 1 and sum(data) == 1 and data.index(1) >= len(data) - 2
    assert hourly["intervals"][data.index(1)] == datetime.fromtimestamp(times[0] / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:00")
    schema = a.get(f"{BASE}/{p}/schema").json()
    assert schema["events"] == ["$pageview", "search", "signup"]
    assert {x["name"]: x["type"] for x in schema["properties"]} == {"plan": "text", "$pathname": "text"}


def test_malformed_event_refuses_its_whole_batch_and_stores_nothing(server):
    a = server.admin
    p = make_project(a)
    good = [{"event": "view", "distinct_id": "u1", "timestamp": "2025-03-01T10:00:00Z", "uuid": f"g{i}"} for i in range(3)]
    capture(a, p, good[:1])
    url = f"{BASE}/{p}/capture"
    cases = [
        ([good[1], {"distinct_id": "u1"}, good[2]], "batch[1]"),                                  # no event
        ([good[1], good[2], {"event": "view", "distinct_id": "u1", "timestamp": "yesterday"}], "batch[2]"),
        ([{"event": "", "distinct_id": "u1"}, good[1]], "batch[0]"),                              # empty name
        ([good[1], {"event": "view"}], "batch[1]"),                                                # no id
        ([good[1], {"event": "view", "distinct_id": "x" * 201}], "batch[1]"),
        ([good[2], {"event": "view", "distinct_id": "u1", "properties": [1, 2]}], "batch[1]"),
        ([good[2], {"event": "view", "distinct_id": "u1", "properties": {"$set": "plan"}}], "batch[1]"),
        ([good[2], "not an event"], "batch[1]"),
    ]
    for batch, where in cases:
        for body in ({"batch": batch}, batch):
            err = assert_error(a.post(url, json=body), 400)
            assert where in err["message"], (where, err)
    for body in ({"event": "view", "distinct_id": "u1", "timestamp": "2025-13-45T99:00:00Z"},
                 {"event": "", "distinct_id": "u1"}, {"event": "view", "distinct_id": ""},
                 {"event": "view", "distinct_id": "u1", "timestamp": 1700000000},
                 {"batch": []}, {"batch": "x"}, [], 7):
        assert_error(a.post(url, json=body), 400)
    assert_error(a.post(url, data=b"{not json", headers={"Content-Type": "application/json"}), 400, "invalid_json")
    assert_error(a.post(f"{BASE}/{unique('nope')}/capture", json=good[1]), 404, "not_found")
    st = stats(a, p)
    assert st["events"] == 1 and st["duplicates_skipped"] == 0, st
    assert [e["event"] for e in a.get(f"{BASE}/{p}/events").json()["events"]] == ["view"]
    # The refused batches' ids were not remembered: the good events are new.
    assert capture(a, p, {"batch": good}) == {"status": 1, "received": 3, "stored": 2, "duplicates": 1}


def test_duplicates_by_uuid_are_skipped_within_a_batch_and_across_requests(server):
    a = server.admin
    p = make_project(a)
    ev = lambda u, t="2025-03-01T10:00:00Z": {"event": "view", "distinct_id": "d1", "timestamp": t, "uuid": u}
    assert capture(a, p, {"batch": [ev("a"), ev("a"), ev("b")]}) == {"status": 1, "received": 3, "stored": 2, "duplicates": 1}
    assert capture(a, p, [ev("b"), ev("c"), ev("c", "2025-03-02T10:00:00Z")]) == \
        {"status": 1, "received": 3, "stored": 1, "duplicates": 2}
    assert capture(a, p, ev("a")) == {"status": 1, "received": 1, "stored": 0, "duplicates": 1}
    # Without a uuid nothing is deduplicated.
    plain = {"event": "view", "distinct_id": "d1", "timestamp": "2025-03-01T10:00:00Z"}
    assert capture(a, p, [plain, plain])["stored"] == 2
    assert capture(a, p, plain)["stored"] == 1
    st = stats(a, p)
    assert st["events"] == 6 and st["duplicates_skipped"] == 4, st
    t = insight(a, p, "trends", {"event": "view", "date_from": "2025-03-01", "date_to": "2025-03-02"})
    assert t["series"][0]["data"] == [6, 0], "the duplicate of c dated 03-02 was skipped"


def test_late_events_count_in_their_own_interval_and_property_types_are_fixed(server):
    a = server.admin
    p = make_project(a)
    q = {"series": [{"event": "buy", "math": "total"}, {"event": "buy", "math": "sum", "math_property": "n"}],
         "date_from": "2025-03-08", "date_to": "2025-03-11"}
    capture(a, p, [{"event": "buy", "distinct_id": "u1", "timestamp": "2025-03-10T09:00:00Z", "properties": {"n": 5}},
                   {"event": "buy", "distinct_id": "u2", "timestamp": "2025-03-10T23:59:59.999Z", "properties": {"n": "7"}},
                   {"event": "buy", "distinct_id": "u2", "timestamp": "2025-03-11T00:00:00Z", "properties": {"n": "abc"}}])
    got = insight(a, p, "trends", q)  # the events become a part here
    assert got["intervals"] == ["2025-03-08", "2025-03-09", "2025-03-10", "2025-03-11"]
    assert [s["data"] for s in got["series"]] == [[0, 0, 2, 1], [0, 0, 12, 0]], \
        "a number fixes the type: '7' is read as 7, 'abc' is dropped"
    # A month late: it arrives after the later ones and counts on its own day.
    capture(a, p, {"event": "buy", "distinct_id": "u3", "timestamp": "2025-03-08T00:00:00Z", "properties": {"n": 1.5}})
    got = insight(a, p, "trends", q)
    assert [s["data"] for s in got["series"]] == [[1, 0, 2, 1], [1.5, 0, 12, 0]]
    assert [s["total"] for s in got["series"]] == [4, 13.5]
    assert {x["name"]: x["type"] for x in a.get(f"{BASE}/{p}/schema").json()["properties"]} == {"n": "number"}
    for value in ("7", 7, ["7", "12"], "7.0"):
        got = insight(a, p, "trends", {**q, "filters": [{"key": "n", "value": value}]})
        assert got["series"][0]["data"] == [0, 0, 1, 0], ("a number and its text are equal", value)
    newest = a.get(f"{BASE}/{p}/events", params={"distinct_id": "u2"}).json()["events"]
    assert [e["properties"] for e in newest] == [{}, {"n": 7}]


def test_an_event_filter_on_a_property_no_event_has_matches_nothing(server):
    a = server.admin
    p = make_project(a)
    capture(a, p, [{"event": "v", "distinct_id": f"u{i}", "timestamp": "2025-01-01T10:00:00Z", "properties": {"k": "x"}}
                   for i in range(3)])
    day = {"date_from": "2025-01-01", "date_to": "2025-01-01"}
    known = insight(a, p, "trends", {"event": "v", **day, "filters": [{"key": "k", "value": "y"}]})
    assert known["series"][0]["data"] == [0], "a value no event has: nothing"
    for f in ({"key": "nosuch", "value": "x"}, {"key": "nosuch", "operator": "gt", "value": 1},
              {"key": "nosuch", "operator": "is_set"}):
        got = insight(a, p, "trends", {"event": "v", **day, "filters": [f]})
        assert got["series"][0]["data"] == [0], (f, got["series"][0]["data"])
        got = insight(a, p, "funnels", {"steps": [{"event": "v", "filters": [f]}, "v"], **day})
        assert [s["count"] for s in got["steps"]] == [0, 0], f
        assert insight(a, p, "paths", {**day, "filters": [f]})["persons"] == 0, f
    # is_not_set on a property nobody has holds for every event.
    got = insight(a, p, "trends", {"event": "v", **day, "filters": [{"key": "nosuch", "operator": "is_not_set"}]})
    assert got["series"][0]["data"] == [3]


# --------------------------------------------------------------------------------------------
# 2. Persons and identity


def test_alias_and_identify_merge_persons_and_unique_counts_see_one_person(server):
    a = server.admin
    p = make_project(a)
    d1, d2 = "2025-04-01", "2025-04-02"
    capture(a, p, [
        {"event": "$pageview", "distinct_id": "anon-1", "timestamp": f"{d1}T10:00:00Z",
         "properties": {"$set_once": {"first_page": "/"}, "$set": {"browser": "Firefox", "ref": "ad"}}},
        {"event": "$pageview", "distinct_id": "anon-1", "timestamp": f"{d1}T10:05:00Z"},
        {"event": "$pageview", "distinct_id": "bob", "timestamp": f"{d1}T11:00:00Z"},
        {"event": "$pageview", "distinct_id": "bob", "timestamp": f"{d2}T11:00:00Z"},
        {"event": "$pageview", "distinct_id": "anon-2", "timestamp": f"{d2}T09:00:00Z"},
    ])
    pre = insight(a, p, "trends", {"event": "$pageview", "math": "unique", "date_from": d1, "date_to": d2})
    assert pre["series"][0]["data"] == [2, 2] and pre["series"][0]["total"] == 3
    capture(a, p, {"event": "$identify", "distinct_id": "alice", "timestamp": f"{d1}T10:10:00Z",
                   "properties": {"$anon_distinct_id": "anon-1", "$set": {"email": "alice@example.com", "browser": "Chrome"}}})
    got = a.post(f"{BASE}/{p}/alias", json={"distinct_id": "alice", "alias": "anon-2"})
    assert got.status_code == 200, describe(got)
    assert set(got.json()["distinct_ids"]) == {"alice", "anon-1", "anon-2"}
    capture(a, p, {"event": "$create_alias", "distinct_id": "alice", "timestamp": f"{d2}T08:00:00Z",
                   "properties": {"alias": "anon-3"}})
    capture(a, p, {"event": "purchase", "distinct_id": "alice", "timestamp": f"{d2}T12:00:00Z",
                   "properties": {"$set_once": {"first_page": "/pricing"}, "$set": {"plan": "pro"}}})
    capture(a, p, {"event": "purchase", "distinct_id": "anon-2", "timestamp": f"{d2}T12:30:00Z",
                   "properties": {"$set": {"plan": "team"}, "$unset": ["ref"]}})

    views = [person(a, p, i) for i in ("alice", "anon-1", "anon-2", "anon-3")]
    for v in views:
        assert v == views[0], "the person by any of their ids"
    alice = views[0]
    assert sorted(alice["distinct_ids"]) == ["alice", "anon-1", "anon-2", "anon-3"]
    assert alice["distinct_id"] in alice["distinct_ids"] and alice["distinct_id"] == alice["distinct_ids"][0]
    assert alice["events"] == 7
    assert ms(alice["first_seen"]) == ms(f"{d1}T10:00:00") and ms(alice["last_seen"]) == ms(f"{d2}T12:30:00")
    assert alice["properties"] == {"first_page": "/", "browser": "Chrome", "email": "alice@example.com", "plan": "team"}, \
        "the known id's properties win; $set_once keeps the first; $unset removes"
    bob = person(a, p, "bob")
    assert bob["distinct_ids"] == ["bob"] and bob["events"] == 2 and bob["properties"] == {}
    assert_error(a.get(f"{BASE}/{p}/persons/nobody"), 404, "not_found")

    # Insights count the merged person once, including the events before the merge.
    q = {"series": [{"event": "$pageview", "math": "unique"}, {"event": "$all", "math": "unique"},
                    {"event": None, "math": "total"}], "date_from": d1, "date_to": d2}
    got = insight(a, p, "trends", q)
    assert [(s["data"], s["total"]) for s in got["series"]] == [([2, 2], 2), ([2, 2], 2), ([4, 5], 9)]
    by_plan = insight(a, p, "trends", {"event": "$pageview", "math": "unique", "date_from": d1, "date_to": d2,
                                       "breakdown": "plan", "breakdown_type": "person"})
    assert {s["breakdown_value"]: s["data"] for s in by_plan["series"]} == {"team": [1, 1], None: [1, 1]}
    pro = insight(a, p, "trends", {"event": "$pageview", "date_from": d1, "date_to": d2,
                                   "filters": [{"key": "email", "type": "person", "operator": "icontains", "value": "ALICE@"}]})
    assert pro["series"][0]["data"] == [2, 1], "a person filter reads the person's current properties"
    funnel = insight(a, p, "funnels", {"steps": ["$pageview", "purchase"], "date_from": d1, "date_to": d2})
    assert [s["count"] for s in funnel["steps"]] == [2, 1]
    listed = a.get(f"{BASE}/{p}/persons", params={"search": "ALICE@EXAMPLE"}).json()
    assert listed["total"] == 1 and listed["persons"][0]["properties"]["plan"] == "team"
    assert a.get(f"{BASE}/{p}/persons").json()["total"] == 2

    set_props = a.post(f"{BASE}/{p}/persons/anon-1/properties", json={"properties": {"vip": True}})
    assert set_props.status_code == 200, describe(set_props)
    assert person(a, p, "alice")["properties"]["vip"] is True
    assert "vip" in a.get(f"{BASE}/{p}/schema").json()["person_properties"]
    assert_error(a.post(f"{BASE}/{p}/persons/anon-1/properties", json={"properties": {}}), 400)
    for body in ({"distinct_id": "alice"}, {"distinct_id": "alice", "alias": "alice"}, {"distinct_id": "", "alias": "x"}):
        assert_error(a.post(f"{BASE}/{p}/alias", json=body), 400)


# --------------------------------------------------------------------------------------------
# 3. Synthetic streams against SQLite

SYN_FROM, SYN_TO = "2024-01-08", "2024-03-03"  # a Monday to a Sunday (date_to: the whole day)
SYN_FROM_MS, SYN_TO_MS = ms(SYN_FROM), ms(SYN_TO) + DAY_MS


@pytest.fixture(scope="module")
def syn(server):
    """A project with the synthetic stream captured in batches (the first half, a query that
    freezes it into a part, then the rest, mostly late), and the same events in SQLite."""
    a = server.admin
    events = synthetic_events()
    p = make_project(a, description="synthetic page views")
    half = len(events) // 2
    assert capture_all(a, p, events[:half]) == half
    insight(a, p, "trends", {"event": "$pageview", "date_from": "2024-01-01", "date_to": "2024-03-31"})
    assert capture_all(a, p, events[half:]) == len(events) - half
    assert stats(a, p)["events"] == len(events)
    return p, events, load_sqlite(events)


def test_synthetic_trends_by_day_with_breakdown_match_sqlite(server, syn):
    a = server.admin
    p, events, db = syn
    got = insight(a, p, "trends", {
        "series": [{"event": "$pageview", "math": "total"}, {"event": "$pageview", "math": "unique", "label": "viewers"},
                   {"event": "purchase", "math": "sum", "math_property": "amount"}],
        "interval": "day", "date_from": SYN_FROM, "date_to": SYN_TO, "breakdown": "browser"})
    days = list(range(SYN_FROM_MS // DAY_MS, SYN_TO_MS // DAY_MS))
    assert got["intervals"] == [render_day(d) for d in days] and got["breakdown"] == "browser"
    table = trends_table(got)
    want = {}
    for label, event, math_, expr in [("$pageview", "$pageview", "total", "COUNT(*)"),
                                      ("$pageview", "$pageview", "unique", "COUNT(DISTINCT person)"),
                                      ("purchase", "purchase", "sum", "TOTAL(amount)")]:
        cells = defaultdict(dict)
        for d, b, v in db.execute(f"SELECT ts_ms / 86400000, browser, {expr} FROM events WHERE event = ? AND ts_ms >= ? "
                                  f"AND ts_ms < ? GROUP BY 1, 2", (event, SYN_FROM_MS, SYN_TO_MS)):
            cells[b][d] = v
        for b, v in db.execute(f"SELECT browser, {expr} FROM events WHERE event = ? AND ts_ms >= ? AND ts_ms < ? "
                               f"GROUP BY 1", (event, SYN_FROM_MS, SYN_TO_MS)):
            want[(label, math_, b)] = ([cells[b].get(d, 0) for d in days], v)
    # The second series' label is its own; the guide's `label` of an entity.
    want = {(("viewers" if m == "unique" else l), m, b): v for (l, m, b), v in want.items()}
    assert set(table) == set(want), sorted(map(str, set(table) ^ set(want)))
    assert None in {b for _, _, b in want}, "some events have no browser: a null breakdown value"
    for key, (data, total) in want.items():
        gd, gt = table[key]
        assert close_lists(gd, data), (key, gd, data)
        assert close(gt, total), (key, gt, total)
    unique_row = [s for s in got["series"] if s["math"] == "unique"][0]
    assert unique_row["event"] == "$pageview"


def test_synthetic_trends_with_filters_and_value_maths_match_sqlite(server, syn):
    a = server.admin
    p, events, db = syn
    got = insight(a, p, "trends", {
        "series": [{"event": "purchase", "math": "avg", "math_property": "amount"},
                   {"event": "purchase", "math": "min", "math_property": "amount"},
                   {"event": "purchase", "math": "max", "math_property": "amount"},
                   {"event": "purchase", "label": "big", "filters": [{"key": "amount", "operator": "gte", "value": "100"}]},
                   {"event": "$pageview", "label": "pricing", "math": "unique",
                    "filters": [{"key": "$pathname", "operator": "icontains", "value": "PRIC"}]}],
        "interval": "week", "date_from": SYN_FROM, "date_to": SYN_TO,
        "filters": [{"key": "plan", "type": "person", "value": ["pro", "team"]},
                    {"key": "browser", "operator": "is_not", "value": "Edge"}]})
    weeks = list(range(week_key(SYN_FROM_MS), week_key(SYN_TO_MS - 1) + 1))
    assert got["intervals"] == [render_week(w) for w in weeks] and got["intervals"][0] == "2024-01-08"
    where = ("ts_ms >= ? AND ts_ms < ? AND person IN (SELECT person FROM persons WHERE plan IN ('pro', 'team')) "
             "AND (browser IS NULL OR browser != 'Edge')")
    wk = "(ts_ms / 86400000 + 3) / 7"
    specs = [("purchase", "avg", "AVG(amount)", "event = 'purchase'"), ("purchase", "min", "MIN(amount)", "event = 'purchase'"),
             ("purchase", "max", "MAX(amount)", "event = 'purchase'"),
             ("big", "total", "COUNT(*)", "event = 'purchase' AND amount >= 100"),
             ("pricing", "unique", "COUNT(DISTINCT person)", "event = '$pageview' AND LOWER(path) LIKE '%pric%'")]
    table = trends_table(got)
    assert len(table) == len(specs)
    for label, m, expr, cond in specs:
        cells = dict(db.execute(f"SELECT {wk}, {expr} FROM events WHERE {cond} AND {where} GROUP BY 1", (SYN_FROM_MS, SYN_TO_MS)))
        total = db.execute(f"SELECT {expr} FROM events WHERE {cond} AND {where}", (SYN_FROM_MS, SYN_TO_MS)).fetchone()[0]
        empty = None if m in ("avg", "min", "max") else 0
        data = [cells.get(w, empty) for w in weeks]
        gd, gt = table[(label, m, None)]
        assert close_lists(gd, data), (label, m, gd, data)
        assert close(gt, total), (label, m, gt, total)


STEPS_SQL = ["{t}.event = '$pageview' AND {t}.path = '/pricing'", "{t}.event = 'add_to_cart'", "{t}.event = 'purchase'"]
STEPS_API = [{"event": "$pageview", "filters": [{"key": "$pathname", "value": "/pricing"}], "label": "pricing"},
             "add_to_cart", "purchase"]


def test_synthetic_funnel_ordered_with_window_matches_sqlite(server, syn):
    a = server.admin
    p, events, db = syn
    window = 2 * 3600
    got = insight(a, p, "funnels", {"steps": STEPS_API, "order": "ordered", "window": window, "date_from": SYN_FROM,
                                    "date_to": SYN_TO, "breakdown": "browser"})
    reach, touch = sql_funnel_ordered(db, STEPS_SQL, window * 1000, SYN_FROM_MS, SYN_TO_MS)
    counts = [sum(1 for k in reach.values() if k >= s) for s in (1, 2, 3)]
    assert counts[2] > 10 and counts[0] > counts[1] > counts[2], counts
    steps = got["steps"]
    assert [s["count"] for s in steps] == counts
    assert [s["label"] for s in steps] == ["pricing", "add_to_cart", "purchase"]
    assert [s["event"] for s in steps] == ["$pageview", "add_to_cart", "purchase"]
    for k, s in enumerate(steps):
        assert s["order"] == k
        assert close(s["conversion_rate"], counts[k] / counts[0])
        assert close(s["step_conversion_rate"], 1.0 if k == 0 else counts[k] / counts[k - 1])
        assert s["drop_off"] == (0 if k == 0 else counts[k - 1] - counts[k])
    assert steps[0]["average_conversion_time"] is None and all(s["average_conversion_time"] > 0 for s in steps[1:])
    assert all(0 < s["median_conversion_time"] <= window for s in steps[1:])
    # The breakdown: the browser of the event that started each person's sequence.
    want = defaultdict(lambda: [0, 0, 0])
    for person_, k in reach.items():
        for s in range(k):
            want[touch[person_]][s] += 1
    assert {b["value"]: [s["count"] for s in b["steps"]] for b in got["breakdowns"]} == dict(want)
    firsts = [b["steps"][0]["count"] for b in got["breakdowns"]]
    assert firsts == sorted(firsts, reverse=True), "breakdown values by persons entering the funnel"

    # A window of a week: more persons get through.
    wide = insight(a, p, "funnels", {"steps": STEPS_API, "window": "1w", "date_from": SYN_FROM, "date_to": SYN_TO})
    reach, _ = sql_funnel_ordered(db, STEPS_SQL, 7 * DAY_MS, SYN_FROM_MS, SYN_TO_MS)
    assert [s["count"] for s in wide["steps"]] == [sum(1 for k in reach.values() if k >= s) for s in (1, 2, 3)]
    assert wide["steps"][2]["count"] > counts[2]


def test_synthetic_funnel_strict_matches_sqlite(server, syn):
    a = server.admin
    p, events, db = syn
    for window, window_ms in (("1d", DAY_MS), (1800, 1_800_000)):
        got = insight(a, p, "funnels", {"steps": STEPS_API, "order": "strict", "window": window, "date_from": SYN_FROM,
                                        "date_to": SYN_TO})
        reach = sql_funnel_strict(db, STEPS_SQL, window_ms, SYN_FROM_MS, SYN_TO_MS)
        counts = [sum(1 for k in reach.values() if k >= s) for s in (1, 2, 3)]
        assert counts[2] > 0, counts
        assert [s["count"] for s in got["steps"]] == counts, window


def test_synthetic_retention_first_time_and_recurring_weekly_match_sqlite(server, syn):
    a = server.admin
    p, events, db = syn
    cases = [
        ({"event": "$pageview", "returning_event": "purchase", "retention_type": "first_time", "periods": 6},
         ("event = '$pageview'", "event = 'purchase'", "first_time", 6)),
        ({"target": {"event": "$pageview", "filters": [{"key": "$pathname", "value": "/pricing"}]},
          "returning": "$pageview", "retention_type": "recurring", "periods": 20},
         ("event = '$pageview' AND path = '/pricing'", "event = '$pageview'", "recurring", 20)),
    ]
    for body, (target, returning, kind, periods) in cases:
        got = insight(a, p, "retention", {**body, "interval": "week", "date_from": SYN_FROM, "date_to": SYN_TO})
        want = sql_retention(db, target, returning, kind, periods, SYN_FROM_MS, SYN_TO_MS, "week")
        assert [c["start"] for c in got["cohorts"]] == [render_week(k) for k, _ in want]
        assert [c["counts"] for c in got["cohorts"]] == [c for _, c in want], kind
        assert [c["size"] for c in got["cohorts"]] == [c[0] for _, c in want]
        assert sum(c["size"] for c in got["cohorts"]) > 50
        assert len(got["cohorts"][0]["counts"]) == min(periods, 8)
    # Cumulative ("on or after"): in period i or any later one.
    got = insight(a, p, "retention", {"event": "$pageview", "interval": "week", "periods": 8, "cumulative": True,
                                      "date_from": SYN_FROM, "date_to": SYN_TO})
    first = dict(db.execute("SELECT person, MIN(ts_ms) FROM events WHERE event = '$pageview' AND ts_ms < ? GROUP BY person",
                            (SYN_TO_MS,)))
    active = defaultdict(set)
    for person_, t in db.execute("SELECT person, ts_ms FROM events WHERE event = '$pageview' AND ts_ms >= ? AND ts_ms < ?",
                                 (SYN_FROM_MS, SYN_TO_MS)):
        active[person_].add(week_key(t))
    first_w, last_w = week_key(SYN_FROM_MS), week_key(SYN_TO_MS - 1)
    assert [week_key(ms(c["start"])) for c in got["cohorts"]] == list(range(first_w, last_w + 1))
    for c in got["cohorts"]:
        k = week_key(ms(c["start"]))
        members = [q for q, t in first.items() if t >= SYN_FROM_MS and week_key(t) == k]
        want = [len(members)] + [sum(1 for q in members if any(w >= k + i for w in active[q]))
                                 for i in range(1, min(8, last_w - k + 1))]
        assert c["counts"] == want, (c["start"], c["counts"], want)


def test_synthetic_retention_breakdown_by_the_first_events_property_matches_sqlite(server, syn):
    """First-time weekly retention broken down by the browser of each person's first $pageview
    ever (the event that put them in their cohort); the tables per browser add up to the whole."""
    a = server.admin
    p, events, db = syn
    got = insight(a, p, "retention", {"event": "$pageview", "interval": "week", "periods": 5, "breakdown": "browser",
                                      "breakdown_limit": 100, "date_from": SYN_FROM, "date_to": SYN_TO})
    first = {}
    for person_, t, browser, id_ in db.execute("SELECT person, ts_ms, browser, id FROM events WHERE event = '$pageview' AND ts_ms < ? "
                                               "ORDER BY person, ts_ms, id", (SYN_TO_MS,)):
        first.setdefault(person_, (t, browser))
    active = defaultdict(set)
    for person_, t in db.execute("SELECT person, ts_ms FROM events WHERE event = '$pageview' AND ts_ms >= ? AND ts_ms < ?",
                                 (SYN_FROM_MS, SYN_TO_MS)):
        active[person_].add(week_key(t))
    first_w, last_w = week_key(SYN_FROM_MS), week_key(SYN_TO_MS - 1)
    browsers = {b for t, b in first.values() if t >= SYN_FROM_MS}
    assert {b["value"] for b in got["breakdowns"]} == browsers and len(browsers) > 1
    for b in got["breakdowns"]:
        for c in b["cohorts"]:
            k = week_key(ms(c["start"]))
            members = [q for q, (t, br) in first.items() if t >= SYN_FROM_MS and week_key(t) == k and br == b["value"]]
            want = [len(members)] + [sum(1 for q in members if k + i in active[q]) for i in range(1, min(5, last_w - k + 1))]
            assert c["counts"] == want, (b["value"], c["start"], c["counts"], want)
    for i, c in enumerate(got["cohorts"]):
        assert c["counts"] == [sum(b["cohorts"][i]["counts"][j] for b in got["breakdowns"]) for j in range(len(c["counts"]))]


def test_synthetic_lifecycle_daily_and_weekly_match_sqlite(server, syn):
    a = server.admin
    p, events, db = syn
    for interval, frm, to, unit_sql in (("day", "2024-01-15", "2024-02-11", "(ts_ms / 86400000)"),
                                        ("week", SYN_FROM, SYN_TO, "((ts_ms / 86400000 + 3) / 7)")):
        key, render = KEYS[interval]
        to_ms = ms(to) + DAY_MS
        got = insight(a, p, "lifecycle", {"event": "$pageview", "interval": interval, "date_from": frm, "date_to": to})
        want = sql_lifecycle(db, "event = '$pageview'", ms(frm), to_ms, unit_sql, key(ms(frm)), key(to_ms - 1))
        assert [i["start"] for i in got["intervals"]] == [render(k) for k, *_ in want]
        assert [[i["new"], i["returning"], i["resurrecting"], i["dormant"]] for i in got["intervals"]] == \
            [list(w[1:]) for w in want], interval
        assert sum(w[3] for w in want) > 0 and sum(w[4] for w in want) > 0


def test_retention_first_time_cohort_needs_the_first_event_in_the_range(server):
    a = server.admin
    p = make_project(a)
    # 2025-03-03 is a Monday; the range starts on Wednesday 03-05.
    capture(a, p, [{"event": "v", "distinct_id": "Q", "timestamp": "2025-03-03T10:00:00Z"},
                   {"event": "v", "distinct_id": "Q", "timestamp": "2025-03-11T10:00:00Z"},
                   {"event": "v", "distinct_id": "R", "timestamp": "2025-03-06T10:00:00Z"},
                   {"event": "v", "distinct_id": "R", "timestamp": "2025-03-12T10:00:00Z"}])
    rng = {"interval": "week", "date_from": "2025-03-05", "date_to": "2025-03-16"}
    trends = insight(a, p, "trends", {"event": "v", "math": "unique", **rng})
    assert trends["series"][0]["data"] == [1, 2], "Q's Monday event is outside the range"
    got = insight(a, p, "retention", {"event": "v", **rng})
    assert [(c["start"], c["counts"]) for c in got["cohorts"]] == [("2025-03-03", [1, 1]), ("2025-03-10", [0])], \
        "Q's first event ever (03-03) is before the range: Q is in no cohort"


def test_ties_between_the_ids_of_one_person_go_in_arrival_order(server):
    """Ties in time go in arrival order, also between the ids of a merged person: whichever id
    was seen first, anon's A (arrived first) comes before alice's B of the same millisecond."""
    a = server.admin
    t = "2025-03-03T10:00:00Z"
    day = {"date_from": "2025-03-03", "date_to": "2025-03-03"}
    for alice_first in (True, False):
        p = make_project(a)
        if alice_first:
            capture(a, p, {"event": "seen", "distinct_id": "alice", "timestamp": "2025-03-03T09:00:00Z"})
        capture(a, p, [{"event": "A", "distinct_id": "solo", "timestamp": t}, {"event": "B", "distinct_id": "solo", "timestamp": t},
                       {"event": "A", "distinct_id": "anon", "timestamp": t}, {"event": "B", "distinct_id": "alice", "timestamp": t}])
        assert a.post(f"{BASE}/{p}/alias", json={"distinct_id": "alice", "alias": "anon"}).status_code == 200
        for order in ("ordered", "strict"):
            got = insight(a, p, "funnels", {"steps": ["A", "B"], "order": order, **day})
            assert [s["count"] for s in got["steps"]] == [2, 2], (order, alice_first)
        # The same after the events are in two parts and merged into one.
        capture(a, p, [{"event": "C", "distinct_id": "alice", "timestamp": t}])
        assert [s["count"] for s in insight(a, p, "funnels", {"steps": ["A", "B"], **day})["steps"]] == [2, 2]


def test_synthetic_stickiness_matches_sqlite(server, syn):
    a = server.admin
    p, events, db = syn
    got = insight(a, p, "stickiness", {"series": ["purchase", {"event": "$pageview", "filters": [
        {"key": "browser", "value": "Firefox"}]}], "interval": "day", "date_from": "2024-02-01", "date_to": "2024-02-14"})
    frm, to = ms("2024-02-01"), ms("2024-02-15")
    for s, cond in zip(got["series"], ["event = 'purchase'", "event = '$pageview' AND browser = 'Firefox'"]):
        per = Counter(n for (n,) in db.execute(f"SELECT COUNT(DISTINCT ts_ms / 86400000) FROM events WHERE {cond} "
                                               f"AND ts_ms >= ? AND ts_ms < ? GROUP BY person", (frm, to)))
        assert s["data"] == [{"intervals": k, "persons": per.get(k, 0)} for k in range(1, 15)], s["label"]
        assert sum(per.values()) > 20


# --------------------------------------------------------------------------------------------
# Small hand-computed fixtures


@pytest.fixture(scope="module")
def hand(server):
    a = server.admin
    p = make_project(a, description="hand-computed fixtures")
    t0 = ms("2025-05-05T09:00:00")
    m = 60_000
    funnel = {  # person: [(event, minutes after t0)]
        "X": [("A", 0), ("A", 10), ("B", 20), ("C", 30)],
        "Y": [("A", 0), ("B", 5)],
        "Z": [("C", 0), ("B", 1), ("A", 2)],
        "W": [("B", 0)],
        "V": [("A", 0), ("B", 40)],
        "U": [("A", 0), ("D", 1), ("B", 2)],
    }
    batch = [{"event": e, "distinct_id": who, "timestamp": iso(t0 + at * m)} for who, evs in funnel.items() for e, at in evs]
    # Stickiness: the days of "open" in June 2025 (2-4 is the range).
    sticky = {"S1": ["02T08", "02T09", "03T10", "04T10"], "S2": ["02T10", "04T10"], "S3": ["03T12"],
              "S4": ["01T10", "05T10"], "S5": ["02T07", "02T23"]}
    home = {("S1", "02T08"), ("S3", "03T12")}
    for who, times in sticky.items():
        for t in times:
            batch.append({"event": "open", "distinct_id": who, "timestamp": f"2025-06-{t}:00:00Z",
                          "properties": {"screen": "home" if (who, t) in home else "other"}})
    # Paths on 2025-07-01.
    pv = lambda who, path, hhmm: {"event": "$pageview", "distinct_id": who, "timestamp": f"2025-07-01T{hhmm}:00Z",
                                  "properties": {"$pathname": path}}
    batch += [pv("P1", "/", "10:00"), pv("P1", "/pricing", "10:01"), pv("P1", "/pricing", "10:02"),
              pv("P1", "/signup", "10:03"), pv("P1", "/docs", "12:30"),
              pv("P2", "/blog", "10:00"), {"event": "click", "distinct_id": "P2", "timestamp": "2025-07-01T10:01:00Z"},
              pv("P2", "/pricing", "10:02"), pv("P2", "/checkout", "10:05"), pv("P2", "/checkout", "10:06"),
              pv("P3", "/", "10:00"), pv("P3", "/docs", "10:10"), pv("P3", "/pricing", "10:20"), pv("P3", "/signup", "10:25"),
              pv("P4", "/docs", "10:00")]
    capture(a, p, {"batch": batch[::-1]})  # arrival order reversed: every event is late
    return p


def test_funnel_conversion_times_orders_and_the_latest_start(server, hand):
    a = server.admin
    day = {"date_from": "2025-05-05", "date_to": "2025-05-05", "window": "25m"}
    got = insight(a, hand, "funnels", {"steps": ["A", "B", "C"], **day})
    steps = got["steps"]
    # X reaches C only from its second A (10 min later): the latest start keeps room in the window.
    assert [s["count"] for s in steps] == [5, 3, 1]
    assert [s["drop_off"] for s in steps] == [0, 2, 2]
    assert [s["conversion_rate"] for s in steps] == [1.0, 0.6, 0.2]
    assert [s["step_conversion_rate"] for s in steps] == pytest.approx([1.0, 0.6, 1 / 3])
    assert steps[1]["average_conversion_time"] == pytest.approx((600 + 300 + 120) / 3)  # X, Y, U
    assert steps[1]["median_conversion_time"] == 300
    assert steps[2]["average_conversion_time"] == 600 and steps[2]["median_conversion_time"] == 600
    strict = insight(a, hand, "funnels", {"steps": ["A", "B", "C"], "order": "strict", **day})
    assert [s["count"] for s in strict["steps"]] == [5, 2, 1], "U's D between A and B breaks a strict funnel"
    anyorder = insight(a, hand, "funnels", {"steps": ["A", "B", "C"], "order": "unordered", **day})
    assert [s["count"] for s in anyorder["steps"]] == [6, 4, 2], "Z did C, B, A; W did B only"
    assert all(s["average_conversion_time"] is None for s in anyorder["steps"])
    narrow = insight(a, hand, "funnels", {"steps": ["A", "B", "C"], **day, "window": 300})
    assert [s["count"] for s in narrow["steps"]] == [5, 2, 0]
    for bad in ({"steps": ["A"]}, {"steps": "A"}, {"steps": ["A", "B"], "order": "sideways"},
                {"steps": ["A", "B"], "window": "soon"}, {"steps": ["A", {"event": 3}]},
                {"steps": ["A", {"event": "B", "filters": [{"key": "x", "type": "person", "value": 1}]}]}):
        assert_error(a.post(f"{BASE}/{hand}/insights/funnels", json={**day, **bad}), 400)


def test_stickiness_counts_persons_by_active_intervals(server, hand):
    a = server.admin
    got = insight(a, hand, "stickiness", {
        "series": ["open", {"event": "open", "filters": [{"key": "screen", "value": "home"}], "label": "home"}],
        "interval": "day", "date_from": "2025-06-02", "date_to": "2025-06-04"})
    assert got["series"][0]["label"] == "open" and got["series"][1]["label"] == "home"
    assert got["series"][0]["data"] == [{"intervals": 1, "persons": 2}, {"intervals": 2, "persons": 1},
                                        {"intervals": 3, "persons": 1}]
    assert got["series"][1]["data"] == [{"intervals": 1, "persons": 2}, {"intervals": 2, "persons": 0},
                                        {"intervals": 3, "persons": 0}]
    weekly = insight(a, hand, "stickiness", {"event": "open", "interval": "week", "date_from": "2025-06-02",
                                             "date_to": "2025-06-08"})
    assert weekly["series"][0]["data"] == [{"intervals": 1, "persons": 5}], "S4's 06-05 is in the week"


def test_paths_from_a_start_point_and_to_an_end_point(server, hand):
    a = server.admin
    q = {"node_property": "$pathname", "events": ["$pageview"], "session_gap": "30m", "step_limit": 5,
         "date_from": "2025-07-01", "date_to": "2025-07-01"}
    got = insight(a, hand, "paths", {**q, "start_point": "/pricing"})
    assert got["persons"] == 3 and got["start_point"] == "/pricing"
    assert got["paths"] == [{"nodes": ["/pricing", "/signup"], "persons": 2}, {"nodes": ["/pricing", "/checkout"], "persons": 1}]
    assert sorted((e["step"], e["source"], e["target"], e["persons"]) for e in got["edges"]) == \
        [(1, "/pricing", "/checkout", 1), (1, "/pricing", "/signup", 2)]
    kept = insight(a, hand, "paths", {**q, "start_point": "/pricing", "collapse_repeats": False})
    assert sorted((tuple(x["nodes"]), x["persons"]) for x in kept["paths"]) == \
        [(("/pricing", "/checkout", "/checkout"), 1), (("/pricing", "/pricing", "/signup"), 1), (("/pricing", "/signup"), 1)]
    end = insight(a, hand, "paths", {**q, "end_point": "/signup"})
    assert end["persons"] == 2
    assert sorted((tuple(x["nodes"]), x["persons"]) for x in end["paths"]) == \
        [(("/", "/docs", "/pricing", "/signup"), 1), (("/", "/pricing", "/signup"), 1)]
    assert sorted((e["step"], e["source"], e["target"], e["persons"]) for e in end["edges"]) == \
        [(2, "/", "/docs", 1), (3, "/", "/pricing", 1), (3, "/docs", "/pricing", 1), (4, "/pricing", "/signup", 2)], \
        "the end point is the last step (step_limit)"
    short = insight(a, hand, "paths", {**q, "end_point": "/signup", "step_limit": 3})
    assert sorted(tuple(x["nodes"]) for x in short["paths"]) == [("/", "/pricing", "/signup"), ("/docs", "/pricing", "/signup")]
    # Event names as nodes, every event: P2's click, then its page views (collapsed).
    names = insight(a, hand, "paths", {"start_point": "click", "date_from": "2025-07-01", "date_to": "2025-07-01"})
    assert names["paths"] == [{"nodes": ["click", "$pageview"], "persons": 1}]
    first = insight(a, hand, "paths", {**q, "limit": 1})
    assert first["persons"] == 4 and len(first["paths"]) == 1
    assert first["paths"][0]["persons"] == 1
    for bad in ({"start_point": "/", "end_point": "/signup"}, {"step_limit": 1}, {"step_limit": 21}, {"limit": 0},
                {"session_gap": "later"}, {"events": "x"}):
        assert_error(a.post(f"{BASE}/{hand}/insights/paths", json={**q, **bad}), 400)


def test_insight_requests_are_checked(server, hand):
    a = server.admin
    url = f"{BASE}/{hand}/insights"
    for kind, body in [("trends", {}), ("trends", {"event": "A", "interval": "fortnight"}),
                       ("trends", {"event": "A", "date_from": "last tuesday"}),
                       ("trends", {"event": "A", "date_from": "2025-05-06", "date_to": "2025-05-05"}),
                       ("trends", {"event": "A", "math": "median"}), ("trends", {"event": "A", "math": "sum"}),
                       ("trends", {"series": []}), ("trends", {"event": "A", "filters": [{"key": "x", "operator": "like", "value": 1}]}),
                       ("trends", {"event": "A", "filters": [{"key": "x", "operator": "gt", "value": "big"}]}),
                       ("trends", {"event": "A", "interval": "hour", "date_from": "2020-01-01", "date_to": "2025-01-01"}),
                       ("retention", {"event": "A", "retention_type": "sometimes"}), ("retention", {}),
                       ("retention", {"event": "A", "periods": 0}), ("lifecycle", {"event": 5}),
                       ("stickiness", {}), ("rfm", {}), ("lifetime", {"event": "A", "unit": "month"})]:
        assert_error(a.post(f"{url}/{kind}", json=body), 400)
    assert_error(a.post(f"{url}/astrology", json={}), 404)
    assert_error(a.post(f"{url}/trends", json=[1]), 400)
    assert_error(a.post(f"{BASE}/{unique('nope')}/insights/trends", json={"event": "A"}), 404)


# --------------------------------------------------------------------------------------------
# 4. Online Retail

RETAIL_TO = "2011-12-09"
RETAIL_TO_MS = ms(RETAIL_TO) + DAY_MS


@pytest.fixture(scope="module")
def retail(server):
    """Online Retail as a dataset, imported into a project (one purchase per invoice line), and
    the same rows read here from the CSV into SQLite (in file order, the import's order)."""
    a = server.admin
    ds = create_dataset(a, description="UCI Online Retail")
    push(a, ds, retail_path().read_bytes(), headers={"Content-Encoding": "gzip"}, status=201)
    assert wait_ready(a, ds, 1, timeout=120)["status"] == "ready"
    p = make_project(a, description="Online Retail purchases")
    body = {"dataset": ds, "version": "latest", "event": "purchase", "distinct_id": "CustomerID", "timestamp": "InvoiceDate",
            "properties": {"country": "Country", "product": "StockCode", "invoice": "InvoiceNo", "amount": "Quantity * UnitPrice"}}
    resp = a.post(f"{BASE}/{p}/import", json=body, timeout=300)
    assert resp.status_code == 200, describe(resp)
    rows, lines = [], 0
    with gzip.open(retail_path(), "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            lines += 1
            if not r["CustomerID"]:
                continue
            t = int(datetime.strptime(r["InvoiceDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp() * 1000)
            rows.append((len(rows), r["CustomerID"].split(".")[0], "purchase", t, r["InvoiceNo"], r["Country"],
                         float(r["Quantity"]) * float(r["UnitPrice"])))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, person TEXT, event TEXT, ts_ms INTEGER, invoice TEXT, "
               "country TEXT, amount REAL)")
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("CREATE INDEX events_person ON events (person, ts_ms, id)")
    return {"project": p, "dataset": ds, "import": resp.json(), "body": body, "rows": rows, "lines": lines, "db": db}


MONTH_SQL = ("(CAST(strftime('%Y', ts_ms / 1000, 'unixepoch') AS INTEGER) * 12 "
             "+ CAST(strftime('%m', ts_ms / 1000, 'unixepoch') AS INTEGER) - 1)")


def test_retail_import_stores_every_line_with_a_customer_once(server, retail):
    a = server.admin
    p, rows = retail["project"], retail["rows"]
    assert retail["lines"] == 541909
    assert retail["import"] == {"dataset": retail["dataset"], "version": 1, "stored": len(rows),
                                "skipped": retail["lines"] - len(rows)}
    assert len(rows) == 406829
    st = stats(a, p)
    assert st["events"] == len(rows) and st["distinct_ids"] == len({r[1] for r in rows}) == 4372
    again = a.post(f"{BASE}/{p}/import", json=retail["body"], timeout=300)
    assert again.status_code == 200, describe(again)
    assert again.json()["stored"] == 0 and again.json()["skipped"] == retail["lines"] - len(rows)
    st = stats(a, p)
    assert st["events"] == len(rows) and st["duplicates_skipped"] == len(rows)
    schema = a.get(f"{BASE}/{p}/schema").json()
    assert {x["name"]: x["type"] for x in schema["properties"]} == \
        {"country": "text", "product": "text", "invoice": "text", "amount": "number"}
    newest = a.get(f"{BASE}/{p}/events", params={"distinct_id": "12680", "limit": 1}).json()["events"][0]
    last = max((r for r in rows if r[1] == "12680"), key=lambda r: (r[3], r[0]))
    assert ms(newest["timestamp"]) == last[3] and newest["properties"]["country"] == last[5]
    for bad in ({**retail["body"], "distinct_id": "Nobody"}, {**retail["body"], "dataset": unique("nods")},
                {**retail["body"], "properties": {"x": "Quantity *"}}, {k: v for k, v in retail["body"].items() if k != "event"}):
        assert_error(a.post(f"{BASE}/{p}/import", json=bad), (400, 404))


def test_retail_trends_by_month_match_sqlite(server, retail):
    a = server.admin
    p, db = retail["project"], retail["db"]
    got = insight(a, p, "trends", {"series": [{"event": "purchase", "math": "unique"}, {"event": "purchase", "math": "total"},
                                              {"event": "purchase", "math": "sum", "math_property": "amount"}],
                                   "interval": "month", "date_from": "2010-12-01", "date_to": "2011-12-31"})
    months = list(range(month_key(ms("2010-12-01")), month_key(ms("2011-12-01")) + 1))
    assert got["intervals"] == [render_month(k) for k in months] and got["intervals"][0] == "2010-12"
    for s, expr in zip(got["series"], ["COUNT(DISTINCT person)", "COUNT(*)", "TOTAL(amount)"]):
        cells = dict(db.execute(f"SELECT {MONTH_SQL}, {expr} FROM events GROUP BY 1"))
        assert close_lists(s["data"], [cells.get(k, 0) for k in months]), (s["math"], s["data"])
        assert close(s["total"], db.execute(f"SELECT {expr} FROM events").fetchone()[0])
    assert got["series"][0]["total"] == 4372
    months_form = insight(a, p, "trends", {"series": [{"event": "purchase", "math": "unique"}], "interval": "month",
                                           "date_from": "2010-12", "date_to": "2011"})
    assert months_form["intervals"] == got["intervals"] and months_form["series"][0]["data"] == got["series"][0]["data"], \
        "a month or a year as date_to includes the whole of it"
    uk = insight(a, p, "trends", {"event": "purchase", "math": "unique", "interval": "month", "date_from": "2011-01-01",
                                  "date_to": "2011-06-30", "breakdown": "country", "breakdown_limit": 3})
    want = db.execute("SELECT country, COUNT(*) FROM events WHERE ts_ms >= ? AND ts_ms < ? GROUP BY 1 ORDER BY 2 DESC LIMIT 3",
                      (ms("2011-01-01"), ms("2011-07-01"))).fetchall()
    assert [s["breakdown_value"] for s in uk["series"]] == [c for c, _ in want], "the values with the most events"
    for s in uk["series"]:
        cells = dict(db.execute(f"SELECT {MONTH_SQL}, COUNT(DISTINCT person) FROM events WHERE country = ? AND ts_ms >= ? "
                                f"AND ts_ms < ? GROUP BY 1", (s["breakdown_value"], ms("2011-01-01"), ms("2011-07-01"))))
        assert s["data"] == [cells.get(k, 0) for k in range(month_key(ms("2011-01-01")), month_key(ms("2011-06-01")) + 1)]


def test_retail_retention_and_lifecycle_monthly_match_sqlite(server, retail):
    a = server.admin
    p, db = retail["project"], retail["db"]
    frm, to = ms("2010-12-01"), ms("2012-01-01")
    got = insight(a, p, "retention", {"event": "purchase", "retention_type": "first_time", "interval": "month", "periods": 13,
                                      "date_from": "2010-12-01", "date_to": "2011-12-31"})
    cohort = f"""SELECT person, {MONTH_SQL} AS k FROM (SELECT person, MIN(ts_ms) AS ts_ms FROM events GROUP BY person)"""
    back = f"SELECT DISTINCT person, {MONTH_SQL} AS k FROM events"
    sizes = dict(db.execute(f"SELECT k, COUNT(*) FROM ({cohort}) GROUP BY k"))
    counts = {(k, i): n for k, i, n in db.execute(
        f"SELECT c.k, r.k - c.k, COUNT(*) FROM ({cohort}) c JOIN ({back}) r USING (person) WHERE r.k > c.k GROUP BY 1, 2")}
    first_k, last_k = month_key(frm), month_key(to - 1)
    want = [[sizes.get(k, 0)] + [counts.get((k, i), 0) for i in range(1, min(13, last_k - k + 1))]
            for k in range(first_k, last_k + 1)]
    assert [c["start"] for c in got["cohorts"]] == [render_month(k) for k in range(first_k, last_k + 1)]
    assert [c["counts"] for c in got["cohorts"]] == want
    assert want[0][0] > 500

    got = insight(a, p, "lifecycle", {"event": "purchase", "interval": "month", "date_from": "2010-12-01", "date_to": "2011-12-31"})
    want = sql_lifecycle(db, "event = 'purchase'", frm, to, MONTH_SQL, first_k, last_k)
    assert [i["start"] for i in got["intervals"]] == [render_month(k) for k, *_ in want]
    assert [[i["new"], i["returning"], i["resurrecting"], i["dormant"]] for i in got["intervals"]] == [list(w[1:]) for w in want]


def test_retail_rfm_matches_sqlite_and_the_quintile_rule_and_writes_segments(server, retail):
    a = server.admin
    p, db, rows = retail["project"], retail["db"], retail["rows"]
    got = insight(a, p, "rfm", {"event": "purchase", "value_property": "amount", "frequency_property": "invoice",
                                "date_from": "2010-12-01", "date_to": RETAIL_TO, "property": "segment"})
    want = {c: (rec, f, m) for c, rec, f, m in db.execute(
        "SELECT person, (? - MAX(ts_ms)) / 86400000.0, COUNT(DISTINCT invoice), TOTAL(amount) FROM events "
        "WHERE ts_ms >= ? AND ts_ms < ? GROUP BY person", (RETAIL_TO_MS, ms("2010-12-01"), RETAIL_TO_MS))}
    assert got["customers"] == len(want) == 4372
    persons = {x["distinct_id"]: x for x in got["persons"]}
    assert set(persons) == set(want)
    for c, (rec, f, m) in want.items():
        x = persons[c]
        assert abs(x["recency"] - rec) <= 1e-6 and x["frequency"] == f and close(x["monetary"], m), (c, x, want[c])
    # Scores by the quintile rule, on values summed here in the order the events happened.
    ids = sorted(want)
    monetary = defaultdict(float)
    for r in sorted(rows, key=lambda r: (r[3], r[0])):
        monetary[r[1]] += r[6]
    rs = quintiles([-want[c][0] for c in ids])
    fs = quintiles([want[c][1] for c in ids])
    ms_ = quintiles([monetary[c] for c in ids])
    segments = Counter()
    for c, r, f, m in zip(ids, rs, fs, ms_):
        x = persons[c]
        seg = SEGMENT_MAP[r][f - 1]
        segments[seg] += 1
        assert (x["r"], x["f"], x["m"], x["rfm"], x["segment"]) == (r, f, m, f"{r}{f}{m}", seg), (c, x, (r, f, m, seg))
    assert got["segments"] == dict(segments) and len(segments) >= 8
    # Written as person properties, durably and at once usable in filters.
    props = all_persons(a, p)
    assert all(props[c].get("segment") == persons[c]["segment"] and props[c].get("rfm") == persons[c]["rfm"] for c in ids)
    assert person(a, p, "12346")["properties"]["segment"] == persons["12346"]["segment"]
    champions = insight(a, p, "trends", {"event": "purchase", "math": "unique", "interval": "month", "date_from": "2010-12-01",
                                         "date_to": RETAIL_TO, "filters": [{"key": "segment", "type": "person", "value": "champion"}]})
    assert champions["series"][0]["total"] == segments["champion"]
    by_segment = insight(a, p, "trends", {"event": "purchase", "math": "unique", "interval": "month", "date_from": "2010-12-01",
                                          "date_to": RETAIL_TO, "breakdown": {"key": "segment", "type": "person"}})
    assert {s["breakdown_value"]: s["total"] for s in by_segment["series"]} == dict(segments)
    dry = insight(a, p, "rfm", {"event": "purchase", "date_to": "2011-06-30", "property": "rfm_june", "write": False})
    assert dry["customers"] < 4372 and "rfm_june" not in a.get(f"{BASE}/{p}/schema").json()["person_properties"]


def test_retail_lifetime_summary_and_bgnbd_fit_match_a_reference(server, retail):
    a = server.admin
    p, rows = retail["project"], retail["rows"]
    got = insight(a, p, "lifetime", {"event": "purchase", "value_property": "amount", "unit": "day", "horizon": 90,
                                     "date_from": "2010-12-01", "date_to": RETAIL_TO})
    # The summary lifetimes' summary_data_from_transaction_data makes (freq "D"), computed here.
    end_day = (RETAIL_TO_MS - 1) // DAY_MS
    daily = defaultdict(lambda: defaultdict(float))
    for r in sorted(rows, key=lambda r: (r[3], r[0])):
        daily[r[1]][r[3] // DAY_MS] += r[6]
    summary = {}
    for c, days in daily.items():
        ks = sorted(days)
        x = len(ks) - 1
        summary[c] = (x, ks[-1] - ks[0], end_day - ks[0], sum(days[k] for k in ks[1:]) / x if x else 0.0)
    persons = {x["distinct_id"]: x for x in got["persons"]}
    assert got["customers"] == len(summary) == len(persons) == 4372
    for c, (x, tx, T, mon) in summary.items():
        g = persons[c]
        assert (g["frequency"], g["recency"], g["T"]) == (x, tx, T), (c, g, summary[c])
        assert close(g["monetary"], mon), (c, g["monetary"], mon)
    groups = Counter((x, tx, T) for x, tx, T, _ in summary.values() if T > 0)
    bg = got["bgnbd"]
    theirs = [bg["r"], bg["alpha"], bg["a"], bg["b"]]
    assert close(bgnbd_log_likelihood(theirs, groups), bg["log_likelihood"], rel=1e-9), "the answer's log-likelihood is its parameters'"
    ours, ll = fit_bgnbd(groups)
    assert bg["log_likelihood"] >= ll - 1e-3, (theirs, bg["log_likelihood"], ours, ll)
    for name, t, o in zip(("r", "alpha", "a", "b"), theirs, ours):
        assert abs(t - o) <= 0.01 * o, (name, theirs, ours, bg["log_likelihood"], ll)
    # Each person's P(alive) by the model's formula, and the Gamma-Gamma expected value.
    r_, alpha, a_, b_ = theirs
    gg = got["gamma_gamma"]
    for c, (x, tx, T, mon) in summary.items():
        g = persons[c]
        if T == 0:
            assert "p_alive" not in g
            continue
        alive = 1.0 if x == 0 else 1 / (1 + a_ / (b_ + x - 1) * ((alpha + T) / (alpha + tx)) ** (r_ + x))
        assert close(g["p_alive"], alive, rel=1e-9), (c, g["p_alive"], alive)
        value = gg["p"] * gg["v"] / (gg["q"] - 1) if x < 1 or g["monetary"] <= 0 else \
            gg["p"] * (gg["v"] + x * g["monetary"]) / (gg["p"] * x + gg["q"] - 1)
        assert close(g["expected_value"], value, rel=1e-5), (c, g["expected_value"], value)
        assert close(g["clv"], g["expected_value"] * g["expected_purchases"], rel=1e-9)
        assert g["expected_purchases"] >= 0
    # Written as person properties and usable in filters at once.
    props = all_persons(a, p)
    alive = [c for c, g in persons.items() if "p_alive" in g]
    assert all(abs(props[c]["p_alive"] - persons[c]["p_alive"]) <= 1e-6 for c in alive)
    likely = sum(1 for c in alive if props[c]["p_alive"] > 0.9)
    got = insight(a, p, "trends", {"event": "purchase", "math": "unique", "interval": "month", "date_from": "2010-12-01",
                                   "date_to": RETAIL_TO, "filters": [{"key": "p_alive", "type": "person", "operator": "gt", "value": 0.9}]})
    assert got["series"][0]["total"] == likely > 100


def test_rfm_and_lifetime_default_to_all_time(server):
    a = server.admin
    p = make_project(a)
    t0 = ms("2025-01-06")
    capture(a, p, [{"event": "buy", "distinct_id": f"c{i % 12}", "timestamp": iso(t0 + i * 3 * DAY_MS + i * 1000),
                    "properties": {"v": i + 1}} for i in range(60)])
    explicit = insight(a, p, "rfm", {"event": "buy", "value_property": "v", "date_from": "2000-01-01", "write": False})
    assert explicit["customers"] == 12
    got = a.post(f"{BASE}/{p}/insights/rfm", json={"event": "buy", "value_property": "v", "write": False})
    assert got.status_code == 200, describe(got)
    assert [(x["distinct_id"], x["frequency"], x["monetary"], x["rfm"]) for x in got.json()["persons"]] == \
        [(x["distinct_id"], x["frequency"], x["monetary"], x["rfm"]) for x in explicit["persons"]]
    got = a.post(f"{BASE}/{p}/insights/lifetime", json={"event": "buy", "write": False})
    assert got.status_code == 200, describe(got)
    assert got.json()["customers"] == 12


# --------------------------------------------------------------------------------------------
# 5. Cohorts


def cohort_put(client, project, body, status=201):
    resp = client.post(f"{BASE}/{project}/cohorts", json=body)
    assert resp.status_code == status, describe(resp)
    return resp.json()


def cohort_members(client, project, name) -> set:
    got, offset = set(), 0
    while True:
        resp = client.get(f"{BASE}/{project}/cohorts/{name}/persons", params={"limit": 100, "offset": offset})
        assert resp.status_code == 200, describe(resp)
        page = resp.json()
        got |= {x["distinct_id"] for x in page["persons"]}
        offset += 100
        if offset >= page["total"]:
            assert len(got) == page["total"]
            return got


def test_cohorts_static_dynamic_nested_as_filters(server, syn):
    a = server.admin
    p, events, db = syn
    everyone = {r for (r,) in db.execute("SELECT person FROM persons")}
    static = unique("static")
    cohort_put(a, p, {"name": static, "description": "ten of them", "distinct_ids": [f"p{i:03d}" for i in range(10)] + ["ghost"]})
    buyers = unique("buyers")
    cohort_put(a, p, {"name": buyers, "criteria": {"conditions": [
        {"type": "behavior", "event": "purchase", "min_count": 3, "date_from": "2024-01-15", "date_to": "2024-02-15",
         "filters": [{"key": "amount", "operator": "gt", "value": 20}]}]}})
    want_buyers = {r for (r,) in db.execute("SELECT person FROM events WHERE event = 'purchase' AND amount > 20 AND ts_ms >= ? "
                                            "AND ts_ms < ? GROUP BY person HAVING COUNT(*) >= 3",
                                            (ms("2024-01-15"), ms("2024-02-16")))}
    pro = unique("pro")
    cohort_put(a, p, {"name": pro, "criteria": {"match": "all", "conditions": [
        {"type": "person", "key": "plan", "value": "pro"}]}})
    want_pro = {r for (r,) in db.execute("SELECT person FROM persons WHERE plan = 'pro'")}
    nested = unique("nested")
    cohort_put(a, p, {"name": nested, "criteria": {"match": "any", "conditions": [
        {"type": "cohort", "value": buyers}, {"type": "cohort", "value": pro, "operator": "in"}]}})
    never = unique("never")
    cohort_put(a, p, {"name": never, "criteria": {"conditions": [
        {"type": "behavior", "event": "signup", "min_count": 0, "max_count": 0, "date_from": "2024-02-01", "date_to": "2024-02-29"},
        {"type": "cohort", "value": static, "operator": "not_in"}]}})
    want_never = everyone - {r for (r,) in db.execute("SELECT person FROM events WHERE event = 'signup' AND ts_ms >= ? AND ts_ms < ?",
                                                      (ms("2024-02-01"), ms("2024-03-01")))} - {f"p{i:03d}" for i in range(10)}
    for name, want in ((static, {f"p{i:03d}" for i in range(10)}), (buyers, want_buyers), (pro, want_pro),
                       (nested, want_buyers | want_pro), (never, want_never)):
        assert 5 <= len(want) < len(everyone), (name, len(want))
        got = a.get(f"{BASE}/{p}/cohorts/{name}")
        assert got.status_code == 200, describe(got)
        assert got.json()["size"] == len(want) and got.json()["name"] == name, (name, got.json())
        assert cohort_members(a, p, name) == want, name
        listed = a.get(f"{BASE}/{p}/persons", params={"cohort": name, "limit": 10000}).json()
        assert listed["total"] == len(want)
    assert {c["name"] for c in a.get(f"{BASE}/{p}/cohorts").json()["cohorts"]} >= {static, buyers, pro, nested, never}

    # As filters: in and not_in, with a person's pages.
    for op, keep in (("in", lambda q: q in want_buyers | want_pro), ("not_in", lambda q: q not in want_buyers | want_pro)):
        got = insight(a, p, "trends", {"series": [{"event": "$pageview", "math": "unique"}, {"event": "$pageview"}],
                                       "interval": "week", "date_from": SYN_FROM, "date_to": SYN_TO,
                                       "filters": [{"type": "cohort", "value": nested, "operator": op}]})
        per_week, per_week_n = defaultdict(set), Counter()
        for q, t in db.execute("SELECT person, ts_ms FROM events WHERE event = '$pageview' AND ts_ms >= ? AND ts_ms < ?",
                               (SYN_FROM_MS, SYN_TO_MS)):
            if keep(q):
                per_week[week_key(t)].add(q)
                per_week_n[week_key(t)] += 1
        weeks = range(week_key(SYN_FROM_MS), week_key(SYN_TO_MS - 1) + 1)
        assert got["series"][0]["data"] == [len(per_week[w]) for w in weeks], op
        assert got["series"][1]["data"] == [per_week_n[w] for w in weeks], op
    # Dynamic cohorts follow new events.
    capture(a, p, {"event": "signup", "distinct_id": "p000", "timestamp": "2024-03-30T10:00:00Z",
                   "properties": {"$set": {"plan": "pro"}}, "uuid": unique("late")})
    assert a.get(f"{BASE}/{p}/cohorts/{pro}").json()["size"] == len(want_pro | {"p000"})
    # Bad definitions.
    for body in ({"name": unique("c")}, {"name": unique("c"), "distinct_ids": ["a"], "criteria": {"conditions": []}},
                 {"name": unique("c"), "distinct_ids": "a"}, {"name": unique("c"), "distinct_ids": [1]},
                 {"name": unique("c"), "criteria": {"conditions": []}},
                 {"name": unique("c"), "criteria": {"match": "most", "conditions": [{"type": "behavior", "event": "x"}]}},
                 {"name": unique("c"), "criteria": {"conditions": [{"type": "mood", "event": "x"}]}},
                 {"name": unique("c"), "criteria": {"conditions": [{"type": "behavior"}]}},
                 {"name": unique("c"), "criteria": {"conditions": [{"type": "behavior", "event": "x", "min_count": -1}]}},
                 {"name": unique("c"), "criteria": {"conditions": [{"type": "behavior", "event": "x", "days": "often"}]}},
                 {"name": unique("c"), "criteria": {"conditions": [{"type": "person", "key": "plan", "operator": "near", "value": 1}]}},
                 {"name": unique("c"), "criteria": {"conditions": [{"type": "cohort", "value": pro, "operator": "exact"}]}},
                 {"name": "no spaces allowed!", "distinct_ids": ["a"]}):
        assert_error(a.post(f"{BASE}/{p}/cohorts", json=body), 400)
    # A cycle is refused where it is used.
    x, y = unique("cx"), unique("cy")
    cohort_put(a, p, {"name": x, "criteria": {"conditions": [{"type": "cohort", "value": y}]}})
    cohort_put(a, p, {"name": y, "criteria": {"conditions": [{"type": "cohort", "value": x}]}})
    assert_error(a.get(f"{BASE}/{p}/cohorts/{x}"), 400)
    assert_error(a.post(f"{BASE}/{p}/insights/trends", json={"event": "$pageview", "filters": [{"type": "cohort", "value": y}]}), 400)
    assert_error(a.post(f"{BASE}/{p}/insights/trends", json={"event": "$pageview", "filters": [{"type": "cohort", "value": "nosuch"}]}),
                 (400, 404))
    assert a.delete(f"{BASE}/{p}/cohorts/{x}").status_code == 204
    assert_error(a.get(f"{BASE}/{p}/cohorts/{x}"), 404)
    assert_error(a.delete(f"{BASE}/{p}/cohorts/{x}"), 404)


# --------------------------------------------------------------------------------------------
# 6. Saved insights and dashboards


def test_saved_insights_and_dashboards(server, syn):
    a = server.admin
    p, events, db = syn
    trends_q = {"event": "$pageview", "math": "unique", "interval": "week", "date_from": SYN_FROM, "date_to": SYN_TO}
    funnel_q = {"steps": STEPS_API, "window": "2h", "date_from": SYN_FROM, "date_to": SYN_TO}
    names = {k: unique(k) for k in ("weekly", "funnel", "segments")}
    for name, kind, q in ((names["weekly"], "trends", trends_q), (names["funnel"], "funnels", funnel_q),
                          (names["segments"], "rfm", {"event": "purchase", "value_property": "amount", "property": "syn_segment",
                                                      "date_from": "2024-01-01", "date_to": "2024-03-31"})):
        resp = a.post(f"{BASE}/{p}/insights", json={"name": name, "description": "d", "kind": kind, "query": q, "chart": "line"})
        assert resp.status_code == 201, describe(resp)
        assert resp.json()["name"] == name and resp.json()["owner"] == "admin"
    for body in ({"name": unique("i"), "kind": "horoscope", "query": {}}, {"name": unique("i"), "kind": "trends"},
                 {"name": unique("i"), "kind": "trends", "query": {"series": []}},
                 {"name": unique("i"), "kind": "trends", "query": {"event": "$pageview", "interval": "fortnight"}},
                 {"name": unique("i"), "kind": "funnels", "query": {"steps": ["$pageview"]}}, {"kind": "trends", "query": trends_q}):
        assert_error(a.post(f"{BASE}/{p}/insights", json=body), 400)
    direct = insight(a, p, "trends", trends_q)
    saved = a.get(f"{BASE}/{p}/insights/{names['weekly']}").json()
    assert saved["kind"] == "trends" and saved["query"] == trends_q and saved["chart"] == "line"
    assert saved["result"]["series"] == direct["series"] and saved["result"]["intervals"] == direct["intervals"]
    seg = a.get(f"{BASE}/{p}/insights/{names['segments']}").json()
    assert seg["result"]["customers"] > 0
    assert "syn_segment" not in a.get(f"{BASE}/{p}/schema").json()["person_properties"], "a saved rfm insight is run without writing"
    listed = {i["name"] for i in a.get(f"{BASE}/{p}/insights").json()["insights"]}
    assert set(names.values()) <= listed

    board = unique("board")
    resp = a.post(f"{BASE}/{p}/dashboards", json={"name": board, "description": "weekly review",
                                                  "insights": [names["weekly"], names["funnel"]]})
    assert resp.status_code == 201, describe(resp)
    assert_error(a.post(f"{BASE}/{p}/dashboards", json={"name": unique("b"), "insights": [unique("missing")]}), (400, 404))
    assert_error(a.post(f"{BASE}/{p}/dashboards", json={"name": unique("b"), "insights": "x"}), 400)
    got = a.get(f"{BASE}/{p}/dashboards/{board}").json()
    assert [r["name"] for r in got["results"]] == [names["weekly"], names["funnel"]]
    assert got["results"][0]["result"]["series"] == direct["series"]
    funnel = insight(a, p, "funnels", funnel_q)
    assert got["results"][1]["result"]["steps"] == funnel["steps"]
    assert a.delete(f"{BASE}/{p}/insights/{names['funnel']}").status_code == 204
    got = a.get(f"{BASE}/{p}/dashboards/{board}").json()
    assert "result" in got["results"][0] and "error" in got["results"][1] and "result" not in got["results"][1]
    assert board in {d["name"] for d in a.get(f"{BASE}/{p}/dashboards").json()["dashboards"]}
    assert a.delete(f"{BASE}/{p}/dashboards/{board}").status_code == 204
    assert_error(a.get(f"{BASE}/{p}/dashboards/{board}"), 404)
    assert_error(a.get(f"{BASE}/{p}/insights/{names['funnel']}"), 404)


def test_project_lifecycle(make_server):
    # Its own server: deleting a project while the background maintains others is racy (below).
    srv = make_server()
    a = srv.admin
    p = make_project(a, description="short-lived")
    assert_error(a.post(f"{BASE}/projects", json={"name": p}), 409)
    for body in ({}, {"name": "bad name!"}, {"name": 7}, {"name": unique("x"), "topic": 5}):
        assert_error(a.post(f"{BASE}/projects", json=body), 400)
    capture(a, p, {"event": "e", "distinct_id": "u"})
    cohort_put(a, p, {"name": "everyone", "criteria": {"conditions": [{"type": "behavior", "event": "e"}]}})
    got = a.patch(f"{BASE}/projects/{p}", json={"description": "changed"})
    assert got.status_code == 200 and got.json()["description"] == "changed"
    listed = {x["name"]: x for x in a.get(f"{BASE}/projects").json()["projects"]}
    assert listed[p]["stats"]["events"] == 1 and listed[p]["description"] == "changed"
    assert a.delete(f"{BASE}/projects/{p}").status_code == 204
    assert_error(a.get(f"{BASE}/projects/{p}"), 404)
    assert_error(a.post(f"{BASE}/{p}/capture", json={"event": "e", "distinct_id": "u"}), 404)
    make_project(a, name=p)
    assert stats(a, p)["events"] == 0, "a new project of a deleted one's name starts empty"
    assert a.get(f"{BASE}/{p}/cohorts").json()["cohorts"] == []


def point_hits(srv, point: str) -> int:
    resp = srv.admin.get(FAILPOINTS)
    assert resp.status_code == 200, describe(resp)
    return {x["name"]: x for x in resp.json()["failpoints"]}[point]["hits"]


def test_deleting_a_project_while_another_is_checkpointed(make_server):
    srv = make_server("--failpoints-api", "--set", "behavior.checkpoint_s=1")
    a = srv.admin
    busy, gone = make_project(a, name=unique("a")), make_project(a, name=unique("z"))  # maintained in name order
    capture(a, gone, {"event": "e", "distinct_id": "u"})
    capture(a, busy, {"event": "e", "distinct_id": "u"})
    point = "behavior.before_checkpoint_manifest"
    arm(srv, point, "pause")
    insight(a, busy, "trends", {"event": "e"})  # a new part, which the background checkpoints (and pauses in)
    wait_for(lambda: point_hits(srv, point) >= 1, 10, "the background paused in the checkpoint")
    assert a.delete(f"{BASE}/projects/{gone}").status_code == 204
    arm(srv, point, "off")
    time.sleep(1.5)
    if srv.proc.poll() is not None:
        srv.returncode = srv.proc.wait()
        pytest.fail(f"the server died after the delete (exit code {srv.returncode})", pytrace=False)
    assert stats(a, busy)["events"] == 1
    assert_error(a.get(f"{BASE}/projects/{gone}"), 404)


# --------------------------------------------------------------------------------------------
# 9. Permissions


def test_a_capture_only_key_captures_but_reads_nothing(server):
    a = server.admin
    p = make_project(a)
    role = server.create_role(["behavior:capture", "apikeys:read", "apikeys:write"], prefix="webapp")
    owner = server.create_user([role], prefix="webapp")
    resp = owner.client.post("/api/v1/apikeys", json={"name": unique("web")})
    assert resp.status_code == 201, describe(resp)
    web = server.client(resp.json()["key"])
    assert capture(web, p, {"event": "view", "distinct_id": "k1"})["stored"] == 1
    assert web.post(f"{BASE}/{p}/alias", json={"distinct_id": "k1", "alias": "k0"}).status_code == 200
    for method, path, body in (("POST", f"{BASE}/{p}/insights/trends", {"event": "view"}), ("GET", f"{BASE}/{p}/persons/k1", None),
                               ("GET", f"{BASE}/{p}/events", None), ("GET", f"{BASE}/projects/{p}", None),
                               ("POST", f"{BASE}/projects", {"name": unique("p")}), ("POST", f"{BASE}/{p}/cohorts", {"name": "c", "distinct_ids": ["k1"]}),
                               ("POST", f"{BASE}/{p}/persons/k1/properties", {"properties": {"x": 1}})):
        assert_error(web.request(method, path, json=body), 403, "forbidden")
    viewer = server.create_user(["viewer"], prefix="analyst")
    assert insight(viewer.client, p, "trends", {"event": "view"})["series"][0]["total"] == 1
    assert_error(viewer.client.post(f"{BASE}/{p}/capture", json={"event": "view", "distinct_id": "k1"}), 403, "forbidden")
    for method, path in (("POST", f"{BASE}/{p}/capture"), ("POST", f"{BASE}/{p}/insights/trends"), ("GET", f"{BASE}/projects")):
        assert_error(server.anonymous.request(method, path, json={"event": "view", "distinct_id": "k1"}), 401, "unauthenticated")
    assert stats(a, p)["events"] == 1


# --------------------------------------------------------------------------------------------
# 7. A followed message-queue topic


def test_a_followed_topic_is_captured_once_across_a_restart(make_server):
    srv = make_server()
    a = srv.admin
    topic = make_topic(a)
    p = make_project(a, topic=topic)
    assert a.get(f"{BASE}/projects/{p}").json()["topic"] == topic
    ev = lambda who, n, **k: {"event": "msg", "distinct_id": who, "timestamp": f"2025-08-01T10:{n:02d}:00Z", **k}
    bodies = [ev("m1", 1),                                     # one event
              {"batch": [ev("m2", 2), ev("m2", 3)]},           # PostHog's batch
              [ev("m3", 4), ev("m3", 5)],                      # a bare list
              "not json at all",                               # skipped
              {"batch": [ev("m4", 6), {"event": ""}]},         # malformed: skipped whole
              ev("m5", 7, uuid="same"), ev("m5", 7, uuid="same"),  # the same uuid twice: once
              ev("m6", 8), ev("m6", 8)]                        # the same content, two messages: twice
    publish(a, topic, [{"body": b if isinstance(b, str) else json.dumps(b)} for b in bodies])
    wait_for(lambda: stats(a, p)["events"] >= 8, 20, "the topic's events captured")
    time.sleep(1.0)
    st = stats(a, p)
    assert st["events"] == 8 and st["duplicates_skipped"] == 1, st
    t = insight(a, p, "trends", {"event": "msg", "interval": "hour", "date_from": "2025-08-01T00:00:00Z",
                                 "date_to": "2025-08-01T23:59:59Z"})
    assert t["series"][0]["total"] == 8 and t["intervals"][10] == "2025-08-01T10:00" and t["series"][0]["data"][10] == 8
    assert {x["distinct_id"] for x in a.get(f"{BASE}/{p}/persons").json()["persons"]} == {"m1", "m2", "m3", "m5", "m6"}
    srv.stop()
    again = make_server(data_dir=srv.data_dir)
    a = again.admin
    time.sleep(1.5)  # the follower runs again: nothing is delivered twice
    assert stats(a, p)["events"] == 8
    publish(a, topic, [{"body": json.dumps(ev("m7", 9))}])
    wait_for(lambda: stats(a, p)["events"] == 9, 20, "a message after the restart captured")
    names = {x["distinct_id"] for x in a.get(f"{BASE}/{p}/persons").json()["persons"]}
    assert names == {"m1", "m2", "m3", "m5", "m6", "m7"}


# --------------------------------------------------------------------------------------------
# 8. Durability


def stream(prefix: str, n: int, day: str = "2025-09-01") -> list[dict]:
    t0 = ms(day)
    return [{"event": "tick", "distinct_id": f"{prefix}-{i % 17}", "timestamp": iso(t0 + i * 60_000), "uuid": f"{prefix}-{i}",
             "properties": {"n": i, "kind": "odd" if i % 2 else "even"}} for i in range(n)]


def tick_trends(client, project):
    return insight(client, project, "trends", {"series": [{"event": "tick", "math": "total"}, {"event": "tick", "math": "unique"},
                                                          {"event": "tick", "math": "sum", "math_property": "n"}],
                                               "interval": "day", "date_from": "2025-09-01", "date_to": "2025-09-05"})["series"]


def arm(srv, point: str, action: str = "crash") -> None:
    resp = srv.admin.put(f"{FAILPOINTS}/{point}", json={"action": action})
    assert resp.status_code == 200, describe(resp)


def expect_crash(srv, point: str, timeout: float = 20) -> None:
    try:
        srv.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.wait_exit(10)
        pytest.fail(f"failpoint {point} was not reached within {timeout}s\n{srv.logs()}", pytrace=False)
    assert srv.wait_exit(1) == -signal.SIGKILL, srv.logs()
    assert f"failpoint {point}: crash" in srv.stderr_text(), srv.logs()


def test_acknowledged_events_merges_and_ids_survive_a_restart(make_server):
    srv = make_server("--set", "behavior.max_batch=100")
    a = srv.admin
    p = make_project(a)
    events = stream("r", 900)
    for at in range(0, 900, 100):
        capture(a, p, {"batch": events[at:at + 100]})
        if at == 300:
            tick_trends(a, p)  # a part frozen between captures
    assert_error(a.post(f"{BASE}/{p}/capture", json={"batch": stream("big", 101)}), 413)
    capture(a, p, {"event": "$identify", "distinct_id": "r-1", "timestamp": "2025-09-01T00:00:00Z",
                   "properties": {"$anon_distinct_id": "r-2"}})
    assert a.post(f"{BASE}/{p}/alias", json={"distinct_id": "r-1", "alias": "r-3"}).status_code == 200
    before = tick_trends(a, p)
    assert before[0]["total"] == 900 and before[1]["total"] == 15 and before[2]["total"] == sum(range(900))
    who = person(a, p, "r-3")
    st = stats(a, p)
    srv.stop()

    again = make_server("--set", "behavior.max_batch=100", data_dir=srv.data_dir)
    a = again.admin
    assert stats(a, p)["events"] == st["events"] == 901
    assert tick_trends(a, p) == before
    assert person(a, p, "r-2") == who and sorted(who["distinct_ids"]) == ["r-1", "r-2", "r-3"]
    assert capture(a, p, {"batch": events[:100]})["duplicates"] == 100, "the ids seen before the restart are remembered"
    assert_error(a.post(f"{BASE}/{p}/capture", json={"batch": stream("big", 101)}), 413)


def restart_or_fail(make_server, srv, *args):
    """A server on `srv`'s data dir; when it dies starting, a failure naming its exit code
    (and the factory told not to expect a clean exit from it)."""
    try:
        return make_server(*args, data_dir=srv.data_dir)
    except pytest.fail.Exception:
        dead = make_server.started[-1]
        dead.returncode = dead.proc.wait(timeout=10)
        pytest.fail(f"the restarted server died while starting (exit code {dead.returncode})\n{dead.stderr_text()[-2000:]}",
                    pytrace=False)


def test_person_properties_survive_a_restart(make_server):
    srv = make_server()
    a = srv.admin
    p = make_project(a)
    capture(a, p, {"batch": stream("s", 50)})
    capture(a, p, {"event": "signup", "distinct_id": "s-1", "timestamp": "2025-09-01T00:00:00Z",
                   "properties": {"$set": {"tier": "gold"}, "$set_once": {"source": "ad"}}})
    assert a.post(f"{BASE}/{p}/persons/s-4/properties", json={"properties": {"tier": "silver"}}).status_code == 200
    want = {i: person(a, p, i) for i in ("s-1", "s-4")}
    srv.stop()
    again = restart_or_fail(make_server, srv)
    assert {i: person(again.admin, p, i) for i in ("s-1", "s-4")} == want
    assert want["s-1"]["properties"] == {"tier": "gold", "source": "ad"} and want["s-4"]["properties"] == {"tier": "silver"}
    assert stats(again.admin, p)["events"] == 51


def test_a_crash_after_the_capture_write_keeps_every_acknowledged_event(make_server):
    srv = make_server("--failpoints-api")
    a = srv.admin
    p = make_project(a)
    base = stream("c", 300)
    for at in range(0, 300, 100):
        capture(a, p, {"batch": base[at:at + 100]})
    arm(srv, "behavior.after_capture_write")
    lost = stream("x", 50, day="2025-09-03")
    try:
        outcome = a.post(f"{BASE}/{p}/capture", json={"batch": lost})
    except requests.RequestException as exc:
        outcome = exc
    expect_crash(srv, "behavior.after_capture_write")
    assert isinstance(outcome, requests.RequestException), f"answered although it crashed: {describe(outcome)}"
    again = make_server("--failpoints-api", data_dir=srv.data_dir)
    a = again.admin
    n = stats(a, p)["events"]
    assert n in (300, 350), n
    assert capture(a, p, {"batch": base})["duplicates"] == 300, "every acknowledged event is there"
    redo = capture(a, p, {"batch": lost})
    assert redo["duplicates"] == (50 if n == 350 else 0), "the unacknowledged batch is there whole or not at all"
    series = tick_trends(a, p)
    assert series[0]["total"] == 350 and series[2]["total"] == sum(range(300)) + sum(range(50))


@pytest.mark.parametrize("point", ["behavior.before_checkpoint_manifest", "behavior.before_log_drop"])
def test_a_crash_in_a_checkpoint_loses_nothing(make_server, point):
    srv = make_server("--failpoints-api", "--set", "behavior.checkpoint_s=1")
    a = srv.admin
    p = make_project(a)
    first, second = stream("k", 400), stream("l", 300, day="2025-09-02")
    capture(a, p, {"batch": first})
    tick_trends(a, p)  # freezes a part, which the background checkpoints within a second
    pdir = srv.data_dir / "behavior" / p
    wait_for(lambda: (pdir / "manifest.json").exists() and json.loads((pdir / "manifest.json").read_text())["parts"],
             10, "the first checkpoint")
    time.sleep(0.6)
    arm(srv, point)
    capture(a, p, {"batch": second[:150]})
    capture(a, p, {"event": "$identify", "distinct_id": "l-1", "properties": {"$anon_distinct_id": "k-1"},
                   "timestamp": "2025-09-02T00:00:00Z"})
    capture(a, p, {"batch": second[150:]})
    try:
        a.post(f"{BASE}/{p}/insights/trends", json={"event": "tick"})  # a new part: the next checkpoint crashes
    except requests.RequestException:
        pass
    expect_crash(srv, point)
    again = make_server("--failpoints-api", data_dir=srv.data_dir)
    a = again.admin
    assert stats(a, p)["events"] == 701
    series = tick_trends(a, p)
    assert series[0]["total"] == 700 and series[2]["total"] == sum(range(400)) + sum(range(300))
    assert series[1]["total"] == 33, "k-1 and l-1 are one person"
    assert sorted(person(a, p, "k-1")["distinct_ids"]) == ["k-1", "l-1"]
    assert capture(a, p, {"batch": first + second})["duplicates"] == 700

    def tidy():  # a checkpoint may be running: what the manifest names, and nothing else
        manifest = json.loads((pdir / "manifest.json").read_text())
        want = {"manifest.json", "log", manifest["state"]} | {f"part-{i}.bin" for i in manifest["parts"]}
        files = {f.name for f in pdir.iterdir()}
        return files == want or (files, want) and False
    wait_for(tidy, 10, "only the files of the manifest left (what the crash left unreferenced removed)")
