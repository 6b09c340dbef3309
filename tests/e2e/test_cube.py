"""The cube module, black-box: UCI Online Retail (541,909 invoice lines) uploaded as a dataset
and made into a cube as a user would, then every kind of query checked against answers computed
here in Python from the same file: group-bys at every level, filters, exact and approximate
count distinct, derived measures, rollup and cube totals, top-N, period over period, pivot,
drill down and up, the SQL subset; pre-aggregations chosen automatically and giving the same
answers as the base rows; anomalies and the explanation of a change; an appended version
refreshed incrementally; views, proposals, restart, the memory limit, and bad input."""
from __future__ import annotations

import csv
import gzip
import io
import math
import time
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
import requests

from conftest import assert_error, unique, wait_for
from datasets_helpers import create_dataset, push, retail_path, wait_ready

BASE = "/api/v1/cubes"


def cube_spec(name: str, dataset: str, pre=()) -> dict:
    return {
        "name": name, "description": "Online Retail sales", "source": {"dataset": dataset, "version": "latest"},
        "dimensions": [
            {"name": "country", "column": "Country",
             "hierarchy": [{"name": "market", "column": "Country", "map": {"United Kingdom": "home", "EIRE": "home"}, "default": "export"}]},
            {"name": "time", "column": "InvoiceDate", "type": "time"},
            {"name": "product", "column": "StockCode", "hierarchy": [{"name": "family", "column": "StockCode", "prefix": 3}]},
            {"name": "customer", "column": "CustomerID"},
        ],
        "measures": [
            {"name": "revenue", "expr": "Quantity * UnitPrice", "agg": "sum"},
            {"name": "gross_quantity", "column": "Quantity", "agg": "sum", "filter": "Quantity > 0"},
            {"name": "lines", "agg": "count"},
            {"name": "max_price", "column": "UnitPrice", "agg": "max"},
            {"name": "avg_price", "column": "UnitPrice", "agg": "avg"},
            {"name": "customers", "column": "CustomerID", "agg": "count_distinct"},
            {"name": "customers_approx", "column": "CustomerID", "agg": "count_distinct", "approximate": True},
            {"name": "orders", "column": "InvoiceNo", "agg": "count_distinct"},
            {"name": "revenue_per_order", "formula": "revenue / orders"},
        ],
        "pre_aggregations": list(pre),
    }


def wait_cube(client, name: str, timeout: float = 300) -> dict:
    def ready():
        c = client.get(f"{BASE}/{name}").json()
        if c["state"] == "failed":
            pytest.fail(f"cube {name} failed: {c.get('error')}")
        return c if c["state"] == "ready" and all(p["state"] == "ready" for p in c["pre_aggregations"]) else None
    return wait_for(ready, timeout, f"cube {name} built")


@pytest.fixture(scope="module")
def lines():
    """Every line of the file as the cube reads it."""
    out = []
    with gzip.open(retail_path(), "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            cust = r["CustomerID"].split(".")[0] if r["CustomerID"] else None
            out.append({"invoice": r["InvoiceNo"], "code": r["StockCode"], "qty": int(r["Quantity"]),
                        "time": datetime.strptime(r["InvoiceDate"], "%Y-%m-%d %H:%M:%S"), "price": float(r["UnitPrice"]),
                        "customer": cust, "country": r["Country"]})
    return out


@pytest.fixture(scope="module")
def sales(server):
    """The dataset and its cube, with a pre-aggregation by country and day."""
    a = server.admin
    ds = create_dataset(a, description="UCI Online Retail")
    push(a, ds, retail_path().read_bytes(), headers={"Content-Encoding": "gzip"}, status=201)
    assert wait_ready(a, ds, 1, timeout=120)["status"] == "ready"
    name = unique("sales")
    resp = a.post(BASE, json=cube_spec(name, ds, [{"name": "by-country-day", "dimensions": ["country", "time.day"]}]))
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"] == f"{BASE}/{name}"
    cube = wait_cube(a, name)
    assert cube["rows"] == 541909 and cube["source"]["built_version"] == 1, cube
    assert cube["pre_aggregations"][0]["rows"] < 10000, cube
    return name, ds


def query(client, cube: str, body: dict) -> dict:
    resp = client.post(f"{BASE}/{cube}/query", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def close(a, b, rel=1e-9):
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=rel, abs_tol=1e-6))


def market(country):
    return "home" if country in ("United Kingdom", "EIRE") else "export"


def test_group_by_country_matches_python_on_base_rows_and_pre_aggregation(server, sales, lines):
    cube, _ = sales
    want = defaultdict(lambda: {"revenue": 0.0, "lines": 0, "customers": set(), "orders": set(), "max_price": -1e300, "gross": 0})
    for l in lines:
        w = want[l["country"]]
        w["revenue"] += l["qty"] * l["price"]
        w["lines"] += 1
        w["max_price"] = max(w["max_price"], l["price"])
        if l["qty"] > 0:
            w["gross"] += l["qty"]
        if l["customer"]:
            w["customers"].add(l["customer"])
        w["orders"].add(l["invoice"])
    body = {"measures": ["revenue", "lines", "customers", "orders", "max_price", "gross_quantity", "revenue_per_order"],
            "dimensions": ["country"], "limit": 100}
    answers = {}
    for pre in ("none", "auto"):
        r = query(server.admin, cube, {**body, "pre_aggregation": pre})
        assert len(r["rows"]) == len(want) == r["total_rows"]
        for row in r["rows"]:
            w = want[row["country"]]
            assert close(row["revenue"], w["revenue"]), row
            assert row["lines"] == w["lines"] and row["customers"] == len(w["customers"]) and row["orders"] == len(w["orders"]), row
            assert row["max_price"] == w["max_price"] and row["gross_quantity"] == w["gross"], row
            assert close(row["revenue_per_order"], w["revenue"] / len(w["orders"])), row
        answers[pre] = r
    assert answers["none"]["pre_aggregation"] is None and answers["none"]["stats"]["rows_scanned"] == 541909
    assert answers["auto"]["pre_aggregation"] == "by-country-day"
    assert answers["auto"]["stats"]["rows_scanned"] < 10000
    assert answers["none"]["rows"] == answers["auto"]["rows"]
    assert [r["country"] for r in answers["none"]["rows"]] == sorted(want)  # the default order: level values


def test_time_levels_filters_and_hierarchy_levels(server, sales, lines):
    cube, _ = sales
    start, end = datetime(2011, 3, 1), datetime(2011, 6, 1)
    want = defaultdict(float)
    for l in lines:
        if start <= l["time"] < end and l["country"] in ("France", "Germany", "Spain"):
            want[(market(l["country"]), l["time"].strftime("%Y-%m"), l["code"][:3])] += l["qty"] * l["price"]
    r = query(server.admin, cube, {
        "measures": ["revenue"], "dimensions": ["country.market", "time.month", "product.family"], "limit": 100000,
        "filters": [{"dimension": "time", "op": "between", "values": ["2011-03-01", "2011-05-31"]},
                    {"dimension": "country", "op": "in", "values": ["France", "Germany", "Spain", "Atlantis"]}]})
    got = {(row["country.market"], row["time.month"], row["product.family"]): row["revenue"] for row in r["rows"]}
    assert got.keys() == want.keys()
    assert all(close(got[k], want[k]) for k in want)
    # Weeks start on Mondays; weekdays are ISO (Monday 1); ranges on levels.
    weekly = defaultdict(int)
    for l in lines:
        if l["time"].isoweekday() in (1, 2) and datetime(2011, 1, 1) <= l["time"] < datetime(2011, 4, 1):
            weekly[(l["time"] - timedelta(days=l["time"].weekday())).strftime("%Y-%m-%d")] += 1
    r = query(server.admin, cube, {"measures": ["lines"], "dimensions": ["time.week"], "limit": 1000, "filters": [
        {"dimension": "time.weekday", "op": "lte", "value": 2}, {"dimension": "time.quarter", "op": "eq", "value": "2011-Q1"}]})
    assert {row["time.week"]: row["lines"] for row in r["rows"]} == weekly
    # Text filters: contains is case-insensitive, not_in keeps the rest.
    r = query(server.admin, cube, {"measures": ["lines"], "dimensions": ["country"], "filters": [
        {"dimension": "country", "op": "contains", "value": "united"}, {"dimension": "country", "op": "not_in", "values": ["United Kingdom"]}]})
    assert [(x["country"], x["lines"]) for x in r["rows"]] == [
        ("United Arab Emirates", sum(1 for l in lines if l["country"] == "United Arab Emirates"))]


def test_count_distinct_exact_and_approximate(server, sales, lines):
    cube, _ = sales
    per_month = defaultdict(set)
    for l in lines:
        if l["customer"]:
            per_month[l["time"].strftime("%Y-%m")].add(l["customer"])
    r = query(server.admin, cube, {"measures": ["customers", "customers_approx"], "dimensions": ["time.month"], "pre_aggregation": "none"})
    for row in r["rows"]:
        exact = len(per_month[row["time.month"]])
        assert row["customers"] == exact
        assert abs(row["customers_approx"] - exact) <= max(3, 0.05 * exact), row  # HyperLogLog, 2^12 registers: ~1.6%
    # The pre-aggregation keeps the sets, so its sketches see the same values: the same estimates.
    r2 = query(server.admin, cube, {"measures": ["customers", "customers_approx"], "dimensions": ["time.month"]})
    assert r2["pre_aggregation"] == "by-country-day" and r2["rows"] == r["rows"]


def test_rollup_and_cube_totals(server, sales, lines):
    cube, _ = sales
    total = sum(l["qty"] * l["price"] for l in lines)
    r = query(server.admin, cube, {"measures": ["revenue", "customers"], "dimensions": ["country.market", "time.year"], "totals": "rollup"})
    rows = r["rows"]
    flags = [tuple(x["grouping"]) for x in rows]
    assert flags.count((1, 1)) == 1 and flags.count((0, 1)) == 2 and flags.count((1, 0)) == 0
    grand = rows[-1]
    assert grand["grouping"] == [1, 1] and grand["country.market"] is None and grand["time.year"] is None
    assert close(grand["revenue"], total)
    assert grand["customers"] == len({l["customer"] for l in lines if l["customer"]})
    for m in ("home", "export"):
        parts = [x for x in rows if x["country.market"] == m and x["grouping"] == [0, 0]]
        subtotal = next(x for x in rows if x["country.market"] == m and x["grouping"] == [0, 1])
        assert close(subtotal["revenue"], sum(p["revenue"] for p in parts))
        assert rows.index(subtotal) == rows.index(parts[-1]) + 1  # a total follows the groups it totals
    c = query(server.admin, cube, {"measures": ["revenue"], "dimensions": ["country.market", "time.year"], "totals": "cube"})
    by_year = [x for x in c["rows"] if x["grouping"] == [1, 0]]
    assert {x["time.year"] for x in by_year} == {"2010", "2011"}
    assert close(sum(x["revenue"] for x in by_year), total)


def test_top_n_per_group_compare_and_pivot(server, sales, lines):
    cube, _ = sales
    by = defaultdict(lambda: defaultdict(float))
    for l in lines:
        if l["country"] in ("France", "Germany"):
            by[l["country"]][l["code"]] += l["qty"] * l["price"]
    r = query(server.admin, cube, {"measures": ["revenue"], "dimensions": ["country", "product"],
                                   "filters": [{"dimension": "country", "op": "in", "values": ["France", "Germany"]}],
                                   "top": {"n": 3, "by": "revenue", "per": ["country"]}, "order": ["country", "-revenue"]})
    for country in ("France", "Germany"):
        want = sorted(by[country].items(), key=lambda kv: -kv[1])[:3]
        got = [(x["product"], x["revenue"]) for x in r["rows"] if x["country"] == country]
        assert [g[0] for g in got] == [w[0] for w in want] and all(close(g[1], w[1]) for g, w in zip(got, want))
    months = defaultdict(float)
    for l in lines:
        months[l["time"].strftime("%Y-%m")] += l["qty"] * l["price"]
    r = query(server.admin, cube, {"measures": ["revenue"], "dimensions": ["time.month"], "compare": {"to": "previous_period"},
                                   "filters": [{"dimension": "time.month", "op": "gte", "value": "2011-01"}]})
    jan = r["rows"][0]
    assert jan["time.month"] == "2011-01" and close(jan["revenue.previous"], months["2010-12"])
    assert close(jan["revenue.change"], (months["2011-01"] - months["2010-12"]) / months["2010-12"])
    r = query(server.admin, cube, {"measures": ["revenue"], "dimensions": ["time.month"], "compare": {"to": "previous_year"},
                                   "filters": [{"dimension": "time.month", "op": "eq", "value": "2011-12"}]})
    assert close(r["rows"][0]["revenue.previous"], months["2010-12"])
    p = query(server.admin, cube, {"measures": ["lines"], "dimensions": ["country.market", "time.quarter"], "pivot": ["time.quarter"]})
    assert p["pivot"]["columns"][0] == ["2010-Q4"] and len(p["pivot"]["columns"]) == 5
    home = next(x for x in p["pivot"]["rows"] if x["keys"]["country.market"] == "home")
    assert sum(c["lines"] for c in home["cells"]) == sum(1 for l in lines if market(l["country"]) == "home")


def test_drill_down_and_up(server, sales, lines):
    cube, _ = sales
    resp = server.admin.post(f"{BASE}/{cube}/drill", json={
        "query": {"measures": ["lines"], "dimensions": ["product.family"]}, "level": "product.family", "value": "850", "direction": "down"})
    assert resp.status_code == 200, resp.text
    d = resp.json()
    assert d["query"]["dimensions"] == ["product"]
    assert d["query"]["filters"] == [{"dimension": "product.family", "op": "eq", "value": "850"}]
    want = defaultdict(int)
    for l in lines:
        if l["code"].startswith("850"):
            want[l["code"]] += 1
    assert {x["product"]: x["lines"] for x in d["result"]["rows"]} == want
    up = server.admin.post(f"{BASE}/{cube}/drill", json={"query": d["query"], "level": "product", "direction": "up"}).json()
    assert up["query"]["dimensions"] == ["product.family"] and up["query"]["filters"] == []
    assert_error(server.admin.post(f"{BASE}/{cube}/drill", json={"query": d["query"], "level": "product", "value": "85099B"}), 400)


def test_sql_subset_answers_as_the_json_query(server, sales):
    cube, _ = sales
    resp = server.admin.post(f"{BASE}/sql", json={"sql": (
        f"SELECT country, time.quarter, SUM(revenue), MEASURE(customers) FROM {cube} "
        "WHERE country IN ('France', 'Germany') AND time >= '2011-01-01' "
        "GROUP BY ROLLUP(country, time.quarter) HAVING revenue > 1000 ORDER BY country, 2 LIMIT 50")})
    assert resp.status_code == 200, resp.text
    s = resp.json()
    assert s["cube"] == cube and s["query"]["totals"] == "rollup"
    j = query(server.admin, cube, {
        "measures": ["revenue", "customers"], "dimensions": ["country", "time.quarter"], "totals": "rollup", "limit": 50,
        "filters": [{"dimension": "country", "op": "in", "values": ["France", "Germany"]},
                    {"dimension": "time", "op": "gte", "value": "2011-01-01"}, {"measure": "revenue", "op": "gt", "value": 1000}],
        "order": [{"by": "country"}, {"by": "time.quarter"}]})
    assert s["rows"] == j["rows"] and len(s["rows"]) == 2 * 5 + 1
    assert_error(server.admin.post(f"{BASE}/sql", json={"sql": f"SELECT AVG(revenue) FROM {cube}"}), 400)
    assert_error(server.admin.post(f"{BASE}/sql", json={"sql": "SELECT revenue FROM nowhere"}), 404)


def test_anomalies_find_the_two_giant_orders(server, sales, lines):
    """Two orders of ~80,000 units (2011-01-18, cancelled the same day, and 2011-12-09) stand out
    of the daily units sold; this checks that independently first, then that the cube ranks
    those two days first."""
    cube, _ = sales
    daily = defaultdict(int)
    for l in lines:
        if l["qty"] > 0:
            daily[l["time"].strftime("%Y-%m-%d")] += l["qty"]
    top = sorted(daily.items(), key=lambda kv: -kv[1])
    assert {top[0][0], top[1][0]} == {"2011-01-18", "2011-12-09"} and top[1][1] > 1.5 * top[2][1]
    resp = server.admin.post(f"{BASE}/{cube}/anomalies", json={"measure": "gross_quantity", "level": "time.day"})
    assert resp.status_code == 200, resp.text
    a = resp.json()
    assert a["season"] == 7
    assert {x["time"] for x in a["anomalies"][:2]} == {"2011-01-18", "2011-12-09"}
    assert all(x["direction"] == "up" and x["score"] > 3.5 for x in a["anomalies"][:2])
    points = {p["time"]: p for p in a["points"]}
    assert points["2011-01-18"]["value"] == daily["2011-01-18"]
    assert points["2010-12-25"]["value"] == 0  # a day without sales is a zero, not a gap
    assert_error(server.admin.post(f"{BASE}/{cube}/anomalies", json={"measure": "gross_quantity", "level": "country"}), 400)


def test_explain_ranks_the_contributors_of_a_change(server, sales, lines):
    cube, _ = sales
    rev = defaultdict(lambda: [0.0, 0.0])
    total = [0.0, 0.0]
    for l in lines:
        m = l["time"].strftime("%Y-%m")
        if m in ("2011-10", "2011-11"):
            i = m == "2011-11"
            rev[l["country"]][i] += l["qty"] * l["price"]
            total[i] += l["qty"] * l["price"]
    resp = server.admin.post(f"{BASE}/{cube}/explain", json={"measure": "revenue", "level": "time.month", "from": "2011-10",
                                                             "to": "2011-11", "dimensions": ["country"], "limit": 3})
    assert resp.status_code == 200, resp.text
    e = resp.json()
    assert close(e["total"]["change"], total[1] - total[0])
    want = sorted(rev.items(), key=lambda kv: -abs(kv[1][1] - kv[1][0]))[:3]
    assert [c["value"] for c in e["contributors"]] == [w[0] for w in want]
    first = e["contributors"][0]
    assert close(first["change"], want[0][1][1] - want[0][1][0]) and close(first["share"], first["change"] / (total[1] - total[0]))


def test_views_and_proposals(server, sales):
    cube, _ = sales
    a = server.admin
    body = {"measures": ["revenue"], "dimensions": ["product.family", "time.month"], "limit": 10}
    for _ in range(3):
        query(a, cube, body)
    resp = a.post(f"{BASE}/{cube}/views", json={"name": "families", "query": body, "chart": "heatmap"})
    assert resp.status_code == 201, resp.text
    views = a.get(f"{BASE}/{cube}/views").json()["views"]
    assert [(v["name"], v["chart"], v["query"]["dimensions"]) for v in views] == [("families", "heatmap", body["dimensions"])]
    assert_error(a.post(f"{BASE}/{cube}/views", json={"name": "x", "query": {"measures": ["nope"]}}), 400)
    assert a.delete(f"{BASE}/{cube}/views/families").status_code == 204
    assert_error(a.delete(f"{BASE}/{cube}/views/families"), 404)
    proposals = a.get(f"{BASE}/{cube}/pre-aggregations/proposals").json()["proposals"]
    mine = next(p for p in proposals if p["dimensions"] == ["product.family", "time.month"])
    assert mine["queries"] >= 3


def test_accepted_proposal_is_built_and_chosen(server, sales):
    cube, _ = sales
    a = server.admin
    body = {"measures": ["orders", "revenue"], "dimensions": ["product.family", "time.quarter"], "limit": 1000}
    before = query(a, cube, body)
    assert before["pre_aggregation"] is None
    current = a.get(f"{BASE}/{cube}").json()["pre_aggregations"]
    pre = [{"name": p["name"], "dimensions": p["dimensions"]} for p in current]
    resp = a.patch(f"{BASE}/{cube}", json={"pre_aggregations": pre + [{"name": "family-month", "dimensions": ["product.family", "time.month"]}]})
    assert resp.status_code == 200, resp.text
    wait_cube(a, cube)
    after = query(a, cube, body)
    assert after["pre_aggregation"] == "family-month" and after["rows"] == before["rows"]
    assert_error(a.patch(f"{BASE}/{cube}", json={"measures": []}), 400)


def test_appended_version_refreshes_incrementally(server):
    a = server.admin
    ds = create_dataset(a)
    header = "day,shop,amount\n"
    push(a, ds, (header + "2024-01-01,a,1\n2024-01-02,b,2\n").encode(), status=201)
    wait_ready(a, ds, 1)
    name = unique("shops")
    resp = a.post(BASE, json={"name": name, "source": {"dataset": ds}, "dimensions": [
        {"name": "shop", "column": "shop"}, {"name": "day", "column": "day", "type": "time"}],
        "measures": [{"name": "amount", "column": "amount", "agg": "sum"}, {"name": "n", "agg": "count"}]})
    assert resp.status_code == 201, resp.text
    wait_cube(a, name)
    with requests.get(f"{server.url}/api/v1/events", params={"topic": "cube.>"}, stream=True, timeout=30,
                      headers={"Authorization": f"Bearer {server.admin_token}"}) as events:
        time.sleep(0.3)
        resp = a.post(f"/api/v1/datasets/{ds}/versions", params={"append": "latest"}, data=(header + "2024-01-03,a,5\n2024-02-01,c,7\n").encode(),
                      headers={"Content-Type": "text/csv"})
        assert resp.status_code in (200, 201), resp.text
        refreshed = None
        for line in events.iter_lines(decode_unicode=True):
            if line.startswith("data: ") and '"' + name + '"' in line:
                refreshed = line
                break
    assert refreshed and '"incremental":true' in refreshed.replace(" ", "") and '"version":2' in refreshed.replace(" ", ""), refreshed
    r = query(a, name, {"measures": ["amount", "n"], "dimensions": ["shop"], "totals": "rollup"})
    assert [(x["shop"], x["amount"], x["n"]) for x in r["rows"]] == [("a", 6, 2), ("b", 2, 1), ("c", 7, 1), (None, 15, 4)]
    assert r["source_version"] == 2
    assert a.get(f"{BASE}/{name}").json()["source"]["built_version"] == 2


def test_cube_survives_a_restart_without_rebuilding(make_server):
    srv = make_server()
    a = srv.admin
    ds = create_dataset(a)
    push(a, ds, b"t,k,v\n2024-03-01T10:00:00Z,x,1.5\n2024-03-02T11:00:00Z,y,2.5\n,z,9\n", status=201)
    wait_ready(a, ds, 1)
    resp = a.post(BASE, json={"name": "kept", "source": {"dataset": ds}, "dimensions": [
        {"name": "k", "column": "k"}, {"name": "t", "column": "t", "type": "time"}],
        "measures": [{"name": "v", "column": "v", "agg": "sum"}], "pre_aggregations": [{"name": "daily", "dimensions": ["t.day"]}]})
    assert resp.status_code == 201
    before = wait_cube(a, "kept")
    assert before["rows"] == 2  # the row without a time is not in a cube with a time dimension
    answer = query(a, "kept", {"measures": ["v"], "dimensions": ["t.day"]})
    srv.stop()
    srv.start()
    after = srv.admin.get(f"{BASE}/kept").json()
    assert after["state"] == "ready" and after["built_at"] == before["built_at"] and after["pre_aggregations"][0]["state"] == "ready"
    again = query(srv.admin, "kept", {"measures": ["v"], "dimensions": ["t.day"]})
    assert again["rows"] == answer["rows"] and again["pre_aggregation"] == "daily"


def test_query_over_its_memory_is_refused(make_server):
    srv = make_server("--set", "cube.query_memory_mb=1")
    a = srv.admin
    ds = create_dataset(a)
    rows = "".join(f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,u{i},{i % 7}\n" for i in range(40000))
    push(a, ds, ("t,user,v\n" + rows).encode(), status=201)
    wait_ready(a, ds, 1)
    a.post(BASE, json={"name": "big", "source": {"dataset": ds}, "dimensions": [
        {"name": "user", "column": "user"}, {"name": "t", "column": "t", "type": "time"}], "measures": [{"name": "v", "column": "v", "agg": "sum"}]})
    wait_cube(a, "big")
    resp = a.post(f"{BASE}/big/query", json={"measures": ["v"], "dimensions": ["user", "t.hour"]})
    assert_error(resp, 413)
    assert "MiB" in resp.json()["error"]["message"]
    ok = a.post(f"{BASE}/big/query", json={"measures": ["v"], "dimensions": ["t.day"]})
    assert ok.status_code == 200 and len(ok.json()["rows"]) == 28
    assert srv.admin.get("/readyz").status_code == 200


def test_bad_input_is_refused_and_changes_nothing(server, sales):
    cube, ds = sales
    a = server.admin
    assert_error(a.post(BASE, data=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert_error(a.post(BASE, json={**cube_spec("x", ds), "name": "../etc"}), 400)
    assert_error(a.post(BASE, json=cube_spec(cube, ds)), 409)
    missing = cube_spec(unique("c"), ds)
    missing["dimensions"][0]["column"] = "Region"
    resp = a.post(BASE, json=missing)
    assert_error(resp, 400)
    assert "Region" in resp.json()["error"]["message"]
    assert_error(a.post(BASE, json=cube_spec(unique("c"), "no-such-dataset")), 404)
    for body in ({"measures": ["revenue"], "dimensions": ["time.fortnight"]},
                 {"measures": ["revenue"], "filters": [{"dimension": "country", "op": "regex", "value": "x"}]},
                 {"measures": ["revenue"], "limit": 10 ** 9},
                 {"measures": ["revenue"], "dimensions": ["country"] * 2},
                 {"measures": "revenue"},
                 [1, 2]):
        assert_error(a.post(f"{BASE}/{cube}/query", json=body), 400)
    assert_error(a.post(f"{BASE}/nope/query", json={"measures": ["revenue"]}), 404)
    assert_error(a.post(f"{BASE}/{cube}/query", json={"measures": ["revenue"]}, headers={"Authorization": "Bearer forged.token.here"}), 401)
    viewer = server.create_user(roles=["viewer"], prefix="viewer")
    assert viewer.client.post(f"{BASE}/{cube}/query", json={"measures": ["lines"]}).status_code == 200
    assert_error(viewer.client.post(BASE, json=cube_spec(unique("c"), ds)), 403)
    assert_error(viewer.client.delete(f"{BASE}/{cube}"), 403)
    names = [c["name"] for c in a.get(BASE).json()["cubes"]]
    assert cube in names and "x" not in names and "../etc" not in names


def test_cube_over_its_memory_fails_with_its_reason(make_server):
    srv = make_server("--set", "cube.memory_mb=1")
    a = srv.admin
    ds = create_dataset(a)
    rows = "".join(f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,u{i},{i % 7}\n" for i in range(150000))
    push(a, ds, ("t,user,v\n" + rows).encode(), status=201)
    wait_ready(a, ds, 1, timeout=120)
    assert a.post(BASE, json={"name": "huge", "source": {"dataset": ds}, "dimensions": [
        {"name": "user", "column": "user"}, {"name": "t", "column": "t", "type": "time"}],
        "measures": [{"name": "v", "column": "v", "agg": "sum"}]}).status_code == 201
    cube = wait_for(lambda: (c := a.get(f"{BASE}/huge").json())["state"] != "building" and c, 60, "cube build ends")
    assert cube["state"] == "failed" and "cube.memory_mb" in cube["error"], cube
    assert_error(a.post(f"{BASE}/huge/query", json={"measures": ["v"]}), 409)
    assert srv.admin.get("/readyz").status_code == 200
