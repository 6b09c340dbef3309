"""Datasets, black-box: table versions from CSV, TSV and JSON Lines (plain or gzip), their schema,
rows and downloads; identical uploads and appends; aliases; the profile of the real Online
Retail set against statistics computed here with Python; drift; Great Expectations suites run
on every version; refusals of bad input; and versions surviving a restart."""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
import statistics
import threading

import pytest
import requests

from conftest import assert_error, describe, unique
from datasets_helpers import create_dataset, push, retail_path, version, wait_ready
from test_events import read_events

BASE = "/api/v1/datasets"


@pytest.fixture(scope="module")
def retail_bytes() -> bytes:
    return retail_path().read_bytes()


@pytest.fixture(scope="module")
def retail_rows(retail_bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(gzip.decompress(retail_bytes).decode("utf-8"))))


@pytest.fixture(scope="module")
def retail(server, retail_bytes) -> str:
    """The Online Retail set uploaded once (gzip) and profiled."""
    name = create_dataset(server.admin, description="UCI Online Retail")
    v = push(server.admin, name, retail_bytes, headers={"Content-Encoding": "gzip"}, status=201)
    assert v["version"] == 1 and v["status"] == "building" and v["created"] is True, v
    assert wait_ready(server.admin, name, 1)["status"] == "ready"
    return name


def column(profile: dict, name: str) -> dict:
    return next(c for c in profile["columns"] if c["name"] == name)


def test_retail_version_has_the_rows_and_schema_of_the_file(server, retail, retail_rows):
    v = version(server.admin, retail, 1)
    assert v["row_count"] == len(retail_rows) == 541909
    assert v["source"]["format"] == "csv" and v["digest"].startswith("sha256:")
    assert 0 < v["byte_size"] < v["source"]["bytes"] / 4, v  # columnar + compressed
    types = {c["name"]: (c["type"], c["nullable"]) for c in v["schema"]}
    assert types == {
        "InvoiceNo": ("string", False),      # "C536379": returns are strings
        "StockCode": ("string", False),
        "Description": ("string", True),
        "Quantity": ("integer", False),
        "InvoiceDate": ("timestamp", False),
        "UnitPrice": ("float", False),
        "CustomerID": ("float", True),       # written 17850.0, missing for a quarter
        "Country": ("categorical", False),
    }
    resp = server.admin.get(f"{BASE}/{retail}/versions/1/schema")
    assert resp.status_code == 200 and resp.json()["columns"] == v["schema"], describe(resp)
    # The dataset shows its latest version.
    d = server.admin.get(f"{BASE}/{retail}").json()
    assert d["latest"]["version"] == 1 and d["kind"] == "table" and d["description"] == "UCI Online Retail"


def test_retail_profile_matches_python(server, retail, retail_rows):
    resp = server.admin.get(f"{BASE}/{retail}/versions/1/profile")
    assert resp.status_code == 200, describe(resp)
    p = resp.json()
    assert p["row_count"] == len(retail_rows)
    # Baselines computed here from the same file.
    seen, dups = set(), 0
    for r in retail_rows:
        key = tuple(r.values())
        dups += key in seen
        seen.add(key)
    assert p["duplicate_rows"] == dups
    qty = [int(r["Quantity"]) for r in retail_rows]
    q = column(p, "Quantity")
    assert q["count"] == len(qty) and q["missing"] == 0
    assert q["min"] == min(qty) and q["max"] == max(qty)
    assert q["negatives"] == sum(1 for x in qty if x < 0)
    assert q["distinct"] == len(set(qty)) and q["distinct_exact"] is True
    assert math.isclose(q["mean"], statistics.fmean(qty), rel_tol=1e-9)
    assert math.isclose(q["std"], statistics.stdev(qty), rel_tol=1e-6)
    assert q["quantiles"]["0.5"] == statistics.median(qty)
    assert sum(q["histogram"]["counts"]) == len(qty) and len(q["histogram"]["edges"]) == len(q["histogram"]["counts"]) + 1
    cust = column(p, "CustomerID")
    missing = sum(1 for r in retail_rows if r["CustomerID"] == "")
    assert cust["missing"] == missing and cust["count"] == len(retail_rows) - missing
    assert cust["distinct"] == len({r["CustomerID"] for r in retail_rows if r["CustomerID"]})
    country = column(p, "Country")
    counts = {}
    for r in retail_rows:
        counts[r["Country"]] = counts.get(r["Country"], 0) + 1
    assert country["distinct"] == len(counts)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert [(t["value"], t["count"]) for t in country["top"][:3]] == top
    dates = sorted(r["InvoiceDate"] for r in retail_rows)
    inv = column(p, "InvoiceDate")
    assert inv["min"] == dates[0].replace(" ", "T") + "Z" and inv["max"] == dates[-1].replace(" ", "T") + "Z"
    corr = p["correlations"]
    assert corr["columns"] == ["Quantity", "UnitPrice", "CustomerID"]
    assert all(abs(x) <= 1 for row in corr["matrix"] for x in row)


def test_identical_uploads_are_one_version(server, retail, retail_bytes):
    again = push(server.admin, retail, retail_bytes, headers={"Content-Encoding": "gzip"}, status=200)
    assert again["version"] == 1 and again["created"] is False
    # The same rows uncompressed: other bytes, the same content, the same version.
    plain = push(server.admin, retail, gzip.decompress(retail_bytes), status=200)
    assert plain["version"] == 1 and plain["digest"] == again["digest"]


def test_download_round_trips_to_the_same_digest(server, retail):
    resp = server.admin.get(f"{BASE}/{retail}/versions/1/download", params={"format": "csv"})
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv"), describe(resp)
    body = resp.content
    assert body.startswith(b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n")
    other = create_dataset(server.admin)
    v = push(server.admin, other, body, status=201)
    assert v["digest"] == version(server.admin, retail, 1)["digest"], "the CSV download changed values"
    # Ranges of the rendered file (kept as a blob).
    part = server.admin.get(f"{BASE}/{retail}/versions/1/download", headers={"Range": "bytes=0-8"})
    assert part.status_code == 206 and part.content == body[:9]
    jl = server.admin.get(f"{BASE}/{retail}/versions/1/download", params={"format": "jsonl"})
    assert jl.status_code == 200, describe(jl)
    lines = jl.content.split(b"\n")
    first = json.loads(lines[0])
    assert first == {"InvoiceNo": "536365", "StockCode": "85123A", "Description": "WHITE HANGING HEART T-LIGHT HOLDER",
                     "Quantity": 6, "InvoiceDate": "2010-12-01T08:26:00Z", "UnitPrice": 2.55,
                     "CustomerID": 17850.0, "Country": "United Kingdom"}
    assert len(lines) == 541909 + 1 and lines[-1] == b""
    assert_error(server.admin.get(f"{BASE}/{retail}/versions/1/download", params={"format": "xml"}), 400, "bad_request")


def test_rows_pages_and_columns(server, retail, retail_rows):
    resp = server.admin.get(f"{BASE}/{retail}/versions/latest/rows",
                            params={"offset": 65530, "limit": 12, "columns": "InvoiceNo,Quantity,CustomerID"})
    assert resp.status_code == 200, describe(resp)
    body = resp.json()
    assert body["total"] == 541909 and body["columns"] == ["InvoiceNo", "Quantity", "CustomerID"]
    assert len(body["rows"]) == 12  # across the first segment boundary (65,536 rows)
    for got, want in zip(body["rows"], retail_rows[65530:65542]):
        assert got["InvoiceNo"] == want["InvoiceNo"] and got["Quantity"] == int(want["Quantity"])
        assert got["CustomerID"] == (float(want["CustomerID"]) if want["CustomerID"] else None)
    end = server.admin.get(f"{BASE}/{retail}/versions/1/rows", params={"offset": 541900, "limit": 100}).json()
    assert len(end["rows"]) == 9
    assert_error(server.admin.get(f"{BASE}/{retail}/versions/1/rows", params={"limit": 10001}), 400, "bad_request")
    assert_error(server.admin.get(f"{BASE}/{retail}/versions/1/rows", params={"columns": "Nope"}), 400, "bad_request")
    assert_error(server.admin.get(f"{BASE}/{retail}/versions/1/rows", params={"offset": "-1"}), 400, "bad_request")


def test_appends_share_segments_and_keep_lineage(server):
    c = server.admin
    name = create_dataset(c)
    v1 = push(c, name, b"user,amount,at\nu1,10,2024-01-01T00:00:00Z\nu2,,2024-01-02T00:00:00Z\n", status=201)
    wait_ready(c, name, 1)
    v2 = push(c, name, b"user,amount,at\nu3,7,2024-01-03T00:00:00Z\n", params={"append": "latest"}, status=201)
    assert v2["version"] == 2 and v2["parent"] == 1 and v2["lineage"]["parent"] == 1
    assert v2["row_count"] == 3 and v2["schema"] == v1["schema"]
    assert v2["byte_size"] > v1["byte_size"]
    rows = c.get(f"{BASE}/{name}/versions/2/rows").json()["rows"]
    assert [r["user"] for r in rows] == ["u1", "u2", "u3"] and rows[1]["amount"] is None
    # An append that does not fit the parent's schema is refused, naming the line and column.
    resp = push(c, name, b"user,amount,at\nu4,lots,2024-01-04\n", params={"append": "2"}, status=400)
    assert "line 2, column 'amount'" in resp["error"]["message"], resp
    assert_error(c.post(f"{BASE}/{name}/versions", data=b"x\n1\n", headers={"Content-Type": "text/csv"},
                        params={"append": "9"}), 404, "not_found")
    assert [v["version"] for v in c.get(f"{BASE}/{name}/versions").json()["versions"]] == [2, 1]


def test_tsv_jsonl_and_declared_schemas(server):
    c = server.admin
    name = create_dataset(c)
    v = push(c, name, b"a\tb\n1\tx y\n2\t\n", "text/tab-separated-values", status=201)
    assert [(s["name"], s["type"]) for s in v["schema"]] == [("a", "integer"), ("b", "string")]
    jl = create_dataset(c)
    body = b'{"id": 1, "tags": ["a"], "ok": true, "score": 0.5}\n{"id": 2, "ok": false}\n'
    v = push(c, jl, gzip.compress(body), "application/x-ndjson", headers={"Content-Encoding": "gzip"}, status=201)
    types = {s["name"]: (s["type"], s["nullable"]) for s in v["schema"]}
    assert types == {"id": ("integer", False), "tags": ("string", True), "ok": ("boolean", False),
                     "score": ("float", True)}
    rows = c.get(f"{BASE}/{jl}/versions/1/rows").json()["rows"]
    assert rows == [{"id": 1, "tags": '["a"]', "ok": True, "score": 0.5}, {"id": 2, "tags": None, "ok": False, "score": None}]
    # A declared schema: kept as declared, values checked against it.
    decl = create_dataset(c)
    meta = {"schema": [{"name": "code", "type": "string", "nullable": False},
                       {"name": "n", "type": "float", "nullable": True}],
            "lineage": {"source": "crm-export"}, "message": "first cut"}
    v = push(c, decl, b"code,n\n007,1\n008,2\n", headers={"X-Dataset-Metadata": json.dumps(meta)}, status=201)
    assert v["schema_declared"] is True and v["schema"] == meta["schema"]
    assert v["lineage"]["source"] == "crm-export" and v["message"] == "first cut"
    assert c.get(f"{BASE}/{decl}/versions/1/rows").json()["rows"][0] == {"code": "007", "n": 1.0}
    resp = push(c, decl, b"code,n\n009,\n,3\n", headers={"X-Dataset-Metadata": json.dumps(meta)}, status=400)
    assert "line 3, column 'code'" in resp["error"]["message"] and "not nullable" in resp["error"]["message"], resp
    assert len(c.get(f"{BASE}/{decl}/versions").json()["versions"]) == 1


def test_bad_input_is_refused_and_changes_nothing(server):
    c = server.admin
    name = create_dataset(c)
    url = f"{BASE}/{name}/versions"
    cases = [
        (b"a,b\n1,2\n3\n", {"Content-Type": "text/csv"}, 400, "bad_request", "line 3"),
        (b"a\n1\n", {"Content-Type": "application/pdf"}, 400, "bad_request", "text/csv"),
        (b"not gzip", {"Content-Type": "text/csv", "Content-Encoding": "gzip"}, 400, "bad_request", "gzip"),
        (b"a\n1\n", {"Content-Type": "text/csv", "Content-Encoding": "br"}, 400, "bad_request", "Content-Encoding"),
        (b'{"a":1}\n{"a":\n', {"Content-Type": "application/x-ndjson"}, 400, "bad_request", "line 2"),
        (b"", {"Content-Type": "text/csv"}, 400, "bad_request", "header"),
        (b"a\n1\n", {"Content-Type": "text/csv", "X-Dataset-Metadata": "{nope"}, 400, "invalid_json", None),
        (b"a\n1\n", {"Content-Type": "text/csv", "X-Dataset-Metadata": '{"schema":[{"name":"a","type":"blob"}]}'},
         400, "bad_request", "type"),
    ]
    for body, headers, status, code, needle in cases:
        resp = c.post(url, data=body, headers=headers)
        assert_error(resp, status, code)
        if needle:
            assert needle in resp.json()["error"]["message"], describe(resp)
    assert c.get(url).json()["versions"] == []
    assert_error(c.post(f"{BASE}/no-such-set/versions", data=b"a\n1\n", headers={"Content-Type": "text/csv"}), 404, "not_found")
    assert_error(c.post(BASE, json={"name": "../etc"}), 400, "bad_request")
    assert_error(c.post(BASE, json={"name": name}), 409, "conflict")
    assert_error(c.post(BASE, json={"name": unique("k"), "kind": "graph"}), 400, "bad_request")
    assert_error(c.get(f"{BASE}/{name}/versions/1"), 404, "not_found")
    assert_error(c.put(f"{BASE}/{name}/aliases/train", json={"version": 1}), 404, "not_found")
    # Forged and missing tokens.
    assert_error(server.request("GET", BASE, token="eyJhbGciOiJub25lIn0.e30."), 401, "unauthenticated")
    assert_error(server.anonymous.post(url, data=b"a\n1\n", headers={"Content-Type": "text/csv"}), 401, "unauthenticated")


def test_viewers_read_developers_write(server, retail):
    viewer = server.create_user(["viewer"], prefix="dsview").client
    dev = server.create_user(["developer"], prefix="dsdev").client
    assert viewer.get(f"{BASE}/{retail}/versions/1/rows", params={"limit": 1}).status_code == 200
    assert_error(viewer.post(BASE, json={"name": unique("v")}), 403, "forbidden")
    assert_error(viewer.put(f"{BASE}/{retail}/aliases/x", json={"version": 1}), 403, "forbidden")
    name = create_dataset(dev)
    push(dev, name, b"a\n1\n", status=201)


def test_aliases_and_drift(server, retail, retail_rows):
    c = server.admin
    name = create_dataset(c)
    head = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    def body(rows):
        out = io.StringIO()
        out.write(head)
        w = csv.writer(out, lineterminator="\n")
        for r in rows:
            w.writerow(r.values())
        return out.getvalue().encode()
    # December 2010 against November 2011: the dates moved, the countries much less.
    dec = [r for r in retail_rows if r["InvoiceDate"].startswith("2010-12")]
    nov = [r for r in retail_rows if r["InvoiceDate"].startswith("2011-11")]
    push(c, name, body(dec), status=201)
    push(c, name, body(nov), status=201)
    wait_ready(c, name, 2)  # `latest` is the newest ready version
    resp = c.put(f"{BASE}/{name}/aliases/train", json={"version": 1})
    assert resp.status_code == 200, describe(resp)
    assert version(c, name, "train")["version"] == 1 and version(c, name, "latest")["version"] == 2
    assert c.get(f"{BASE}/{name}").json()["aliases"] == {"train": 1}
    assert_error(c.put(f"{BASE}/{name}/aliases/7", json={"version": 1}), 400, "bad_request")
    resp = c.get(f"{BASE}/{name}/versions/latest/drift", params={"against": "train"})
    assert resp.status_code == 200, describe(resp)
    d = {col["name"]: col for col in resp.json()["columns"]}
    assert resp.json()["against"] == 1 and resp.json()["version"] == 2
    assert d["InvoiceDate"]["drifted"] is True and d["InvoiceDate"]["ks_statistic"] == 1.0
    assert d["Country"]["psi"] < d["InvoiceDate"]["psi"]
    # The same data against itself does not drift.
    same = c.get(f"{BASE}/{name}/versions/1/drift", params={"against": "1"}).json()
    assert same["drifted_columns"] == 0 and all(col["psi"] < 1e-9 for col in same["columns"])
    resp = c.delete(f"{BASE}/{name}/aliases/train")
    assert resp.status_code == 204
    assert_error(c.get(f"{BASE}/{name}/versions/train"), 404, "not_found")
    assert_error(c.get(f"{BASE}/{name}/versions/1/drift"), 400, "bad_request")


def test_expectation_suites_run_on_every_version(server):
    c = server.admin
    name = create_dataset(c)
    suite = {
        "expectation_suite_name": "orders",
        "expectations": [
            {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "customer"}},
            {"expectation_type": "expect_column_values_to_be_between",
             "kwargs": {"column": "quantity", "min_value": 1, "max_value": 100, "mostly": 0.9}},
            {"expectation_type": "expect_column_values_to_match_regex", "kwargs": {"column": "sku", "regex": "^[0-9]{5}[A-Z]?$"}},
            {"expectation_type": "expect_column_values_to_be_in_set", "kwargs": {"column": "country", "value_set": ["UK", "FR"]}},
            {"expectation_type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 2}},
        ],
    }
    resp = c.put(f"{BASE}/{name}/expectations", json=suite)
    assert resp.status_code == 200, describe(resp)
    assert c.get(f"{BASE}/{name}/expectations").json()["expectation_suite_name"] == "orders"
    assert_error(c.put(f"{BASE}/{name}/expectations", json={"expectations": [{"expectation_type": "expect_magic"}]}),
                 400, "bad_request")
    good = b"customer,quantity,sku,country\nc1,5,85123A,UK\nc2,7,71053,FR\n"
    bad = b"customer,quantity,sku,country\nc1,5,85123A,UK\n,-4,POST,DE\nc3,3,22423,UK\n"
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    with requests.get(f"{server.url}/api/v1/events", params={"topic": "dataset.>"}, headers=headers,
                      stream=True, timeout=30) as events:
        assert events.status_code == 200, describe(events)
        got = {}
        def read():
            got["events"] = read_events(events, "dataset.validation.failed")
        reader = threading.Thread(target=read)
        reader.start()
        push(c, name, good, status=201)
        assert wait_ready(c, name, 1)["validation"] == "passed"
        push(c, name, bad, status=201)
        v2 = wait_ready(c, name, 2)
        reader.join(30)
    assert v2["validation"] == "failed" and v2["status"] == "ready"
    topics = [t for t, _ in got["events"]]
    assert topics.count("dataset.version.created") == 2 and topics[-1] == "dataset.validation.failed", topics
    failed = got["events"][-1][1]
    assert failed["dataset"] == name and failed["version"] == 2 and failed["statistics"]["unsuccessful_expectations"] == 4
    r = c.get(f"{BASE}/{name}/versions/2/validation").json()
    assert r["success"] is False and r["statistics"]["evaluated_expectations"] == 5
    by = {x["expectation_config"]["expectation_type"]: x for x in r["results"]}
    nn = by["expect_column_values_to_not_be_null"]
    assert nn["success"] is False and nn["result"]["unexpected_count"] == 1 and nn["result"]["partial_unexpected_index_list"] == [1]
    assert by["expect_column_values_to_be_between"]["success"] is False  # 1 of 3 out: 67% < mostly 90%
    assert by["expect_column_values_to_match_regex"]["result"]["partial_unexpected_list"] == ["POST"]
    assert by["expect_column_values_to_be_in_set"]["result"]["partial_unexpected_list"] == ["DE"]
    assert by["expect_table_row_count_to_be_between"]["success"] is True
    # The suite changed: validate again on demand.
    suite["expectations"] = suite["expectations"][-1:]
    assert c.put(f"{BASE}/{name}/expectations", json=suite).status_code == 200
    again = c.post(f"{BASE}/{name}/versions/2/validate")
    assert again.status_code == 200, describe(again)
    assert again.json()["validation"] == "passed" and again.json()["validation_result"]["success"] is True


def test_versions_survive_a_restart(make_server):
    srv = make_server()
    c = srv.admin
    name = create_dataset(c)
    v = push(c, name, b"a,b\n1,x\n2,y\n", status=201)
    wait_ready(c, name, 1)
    profile = c.get(f"{BASE}/{name}/versions/1/profile").json()
    srv.stop()
    again = make_server(data_dir=srv.data_dir)
    a = again.admin
    assert version(a, name, 1)["digest"] == v["digest"]
    assert a.get(f"{BASE}/{name}/versions/1/rows").json()["rows"] == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert a.get(f"{BASE}/{name}/versions/1/profile").json()["columns"] == profile["columns"]
    # Blob GC keeps every live segment.
    assert a.post("/api/v1/blobs/gc", json={"grace_s": 0}).status_code == 200
    assert a.get(f"{BASE}/{name}/versions/1/download").content == b"a,b\n1,x\n2,y\n"
    resp = a.delete(f"{BASE}/{name}")
    assert resp.status_code == 204
    assert_error(a.get(f"{BASE}/{name}"), 404, "not_found")
