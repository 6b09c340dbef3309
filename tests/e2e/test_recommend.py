"""The recommend module, black-box: UCI Online Retail (purchases of ~4,300 customers, Dec 2010 -
Dec 2011) loaded through the API as a user would, every algorithm evaluated offline with the
last month as the truth against a popularity baseline computed here, a model trained as a
pipeline and served (recommendations with reasons, similar items, a session's next item,
filters, diversity), feedback that changes the next answer without a retrain, an A/B
experiment, and bad input."""
from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest

from conftest import assert_error, unique, wait_for
from online_retail import SPLIT, SPLIT_MS, product_kind, purchases

def popularity_ndcg(rows, k=10):
    """The baseline, computed here: the k items bought most before the split, for every customer
    who bought before it and bought known items after it."""
    train = [r for r in rows if r[2] < SPLIT_MS]
    known_users = {r[0] for r in train}
    counts = Counter(r[1] for r in train)
    top = [i for i, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:k]]
    truth = defaultdict(set)
    for u, i, ts, _ in rows:
        if ts >= SPLIT_MS and u in known_users and i in counts:
            truth[u].add(i)
    total = 0.0
    for t in truth.values():
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(top) if i in t)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(t))))
        total += dcg / idcg
    return total / len(truth), len(truth)


@pytest.fixture(scope="module")
def retail(server):
    """An app with Online Retail's catalogue and purchases (sessions are invoices)."""
    a = server.admin
    rows, titles = purchases()
    app = unique("retail")
    resp = a.post("/api/v1/recommend/apps", json={"name": app, "feedback_types": {"purchase": 1},
                                                  "exclude_consumed": False})
    assert resp.status_code == 201, resp.text
    items = [{"id": code, "categories": [product_kind(t)], "properties": {"title": t}} for code, t in titles.items()]
    for at in range(0, len(items), 5000):
        resp = a.post(f"/api/v1/recommend/apps/{app}/items", json={"items": items[at:at + 5000]})
        assert resp.status_code == 200, resp.text
    for at in range(0, len(rows), 10000):
        batch = [{"user": u, "item": i, "type": "purchase", "timestamp": ts, "session": inv}
                 for u, i, ts, inv in rows[at:at + 10000]]
        resp = a.post(f"/api/v1/recommend/apps/{app}/feedback", json={"feedback": batch})
        assert resp.status_code == 200, resp.text
        assert resp.json()["accepted"] == len(batch)
    got = a.get(f"/api/v1/recommend/apps/{app}").json()
    assert got["counts"]["feedback"] == len(rows)
    assert got["counts"]["items"] == len(titles)
    return app, rows, titles


def wait_trained(a, app: str) -> dict:
    def done():
        got = a.get(f"/api/v1/recommend/apps/{app}").json()
        return got if got["state"] in ("trained", "failed") else None
    got = wait_for(done, 900, f"app {app} trained")
    assert got["state"] == "trained", got.get("error")
    return got


def test_every_algorithm_evaluated_offline_and_the_best_doubles_popularity(server, retail):
    a = server.admin
    app, rows, _ = retail
    baseline, users = popularity_ndcg(rows)
    resp = a.post(f"/api/v1/recommend/apps/{app}/evaluate", json={"split_at": SPLIT, "k": 10})
    assert resp.status_code == 202, resp.text
    evaluation = resp.json()["id"]

    def done():
        e = a.get(f"/api/v1/recommend/apps/{app}/evaluations/{evaluation}").json()
        return e if e["state"] != "running" else None
    e = wait_for(done, 900, "the evaluation")
    assert e["state"] == "succeeded", e.get("error")
    table = {row["name"]: row for row in e["result"]["algorithms"]}
    assert set(table) >= {"popular", "recent", "item_knn", "als", "bpr", "session", "ranker"}
    assert e["result"]["test_users"] == users
    # The server's popularity baseline is the one computed here.
    assert abs(table["popular"]["ndcg"] - baseline) < 0.005, (table["popular"], baseline)
    best = max((row for name, row in table.items() if name not in ("popular", "history")), key=lambda r: r["ndcg"])
    assert best["ndcg"] >= 2 * baseline, (best, baseline)
    assert e["result"]["best"] == best["name"]
    for name, row in table.items():
        for metric in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage"):
            assert 0 <= row[metric] <= 1, (name, metric, row)
    # Collaborative filtering covers far more of the catalogue than the ten most popular items.
    assert table["als"]["coverage"] > 10 * table["popular"]["coverage"]
    # The evaluation is a tracking run with every algorithm's metrics.
    run = a.get(f"/api/v1/runs/{e['result']['tracking_run']}").json()
    keys = {m["key"] for m in run["data"]["metrics"]} if "data" in run else set(run.get("metrics", {}))
    assert "ranker/ndcg_at_10" in keys and "popular/ndcg_at_10" in keys, keys


def test_trained_model_serves_recommendations_with_reasons_filters_and_sessions(server, retail):
    a = server.admin
    app, rows, titles = retail
    resp = a.post(f"/api/v1/recommend/apps/{app}/train")
    assert resp.status_code == 202, resp.text
    assert resp.json()["state"] == "training"
    got = wait_trained(a, app)
    assert got["model_version"] >= 1 and got["trained"]["ranker"] is True
    version = a.get(f"/api/v1/models/recommend-{app}/versions/{got['model_version']}").json()
    assert version["framework"] == "recommend"

    heavy = Counter(r[0] for r in rows).most_common(50)[-1][0]
    resp = a.get(f"/api/v1/recommend/apps/{app}/users/{heavy}/recommendations?n=10")
    assert resp.status_code == 200, resp.text
    rec = resp.json()
    assert rec["algorithm"] == "ranker" and rec["model_version"] == got["model_version"]
    assert len(rec["items"]) == 10 and len({i["id"] for i in rec["items"]}) == 10
    assert all(i["reason"]["text"] for i in rec["items"])
    assert all(i["id"] in titles for i in rec["items"])

    # Each algorithm answers on its own; ALS explains by an item the user bought.
    bought = {i for u, i, _, _ in rows if u == heavy}
    als = a.get(f"/api/v1/recommend/apps/{app}/users/{heavy}/recommendations?n=5&algorithm=als").json()
    assert als["algorithm"] == "als" and len(als["items"]) == 5
    assert all(i["reason"]["item"] in bought for i in als["items"] if "item" in i["reason"])

    # A category filter, and at most one item per category.
    cat = rec["items"][0]["categories"][0]
    only = a.get(f"/api/v1/recommend/apps/{app}/users/{heavy}/recommendations?n=5&category={cat}").json()
    assert only["items"] and all(cat in i["categories"] for i in only["items"])
    diverse = a.get(f"/api/v1/recommend/apps/{app}/users/{heavy}/recommendations?n=10&max_per_category=1").json()
    cats = [i["categories"][0] for i in diverse["items"]]
    assert len(cats) == 10 and len(set(cats)) == 10

    # Never an item the user bought, once the app says so.
    assert a.patch(f"/api/v1/recommend/apps/{app}", json={"exclude_consumed": True}).status_code == 200
    fresh = a.get(f"/api/v1/recommend/apps/{app}/users/{heavy}/recommendations?n=20").json()
    assert not {i["id"] for i in fresh["items"]} & bought
    assert a.patch(f"/api/v1/recommend/apps/{app}", json={"exclude_consumed": False}).status_code == 200

    # Similar items and the next item of an invoice.
    popular_item = Counter(r[1] for r in rows).most_common(1)[0][0]
    similar = a.get(f"/api/v1/recommend/apps/{app}/items/{popular_item}/similar?n=5").json()
    assert len(similar["items"]) == 5 and popular_item not in {i["id"] for i in similar["items"]}
    assert all(i["reason"]["item"] == popular_item for i in similar["items"])
    invoice = next(inv for u, i, ts, inv in rows if i == popular_item)
    nxt = a.get(f"/api/v1/recommend/apps/{app}/sessions/{invoice}/next?n=5").json()
    assert len(nxt["items"]) == 5 and not set(nxt["session_items"]) & {i["id"] for i in nxt["items"]}

    # Unknown users get popular items; unknown items and sessions are 404.
    cold = a.get(f"/api/v1/recommend/apps/{app}/users/{unique('nobody')}/recommendations?n=3").json()
    assert cold["algorithm"] == "popular" and len(cold["items"]) == 3
    assert "popular" in cold["items"][0]["reason"]["text"]
    assert_error(a.get(f"/api/v1/recommend/apps/{app}/items/no-such-item/similar"), 404, "not_found")
    assert_error(a.get(f"/api/v1/recommend/apps/{app}/sessions/no-such-session/next"), 404, "not_found")


def test_new_feedback_changes_the_next_answer_without_a_retrain(server, retail):
    a = server.admin
    app, rows, _ = retail
    got = a.get(f"/api/v1/recommend/apps/{app}").json()
    if got["model_version"] is None:
        a.post(f"/api/v1/recommend/apps/{app}/train")
        got = wait_trained(a, app)
    user = unique("shopper")
    before = a.get(f"/api/v1/recommend/apps/{app}/users/{user}/recommendations?n=10").json()
    assert before["algorithm"] == "popular"
    # Three purchases of one kind of product: the next answer follows them at once.
    lanterns = [i for i, t in retail[2].items() if "LANTERN" in t][:3]
    session = unique("basket")
    resp = a.post(f"/api/v1/recommend/apps/{app}/feedback", json=[
        {"user": user, "item": i, "type": "purchase", "session": session} for i in lanterns])
    assert resp.status_code == 200, resp.text
    after = a.get(f"/api/v1/recommend/apps/{app}/users/{user}/recommendations?n=10").json()
    assert after["algorithm"] == "ranker" and after["model_version"] == got["model_version"]
    assert [i["id"] for i in after["items"]] != [i["id"] for i in before["items"]]
    # The session's next items follow its newest purchase.
    nxt = a.get(f"/api/v1/recommend/apps/{app}/sessions/{session}/next?n=3").json()
    assert nxt["session_items"] == lanterns and len(nxt["items"]) == 3
    # The model did not change.
    assert a.get(f"/api/v1/recommend/apps/{app}").json()["model_version"] == got["model_version"]

    # Answers are cached per user and question, but a catalogue change, a configuration change
    # and the user's own feedback each count at once.
    heavy = Counter(r[0] for r in rows).most_common(20)[-1][0]
    path = f"/api/v1/recommend/apps/{app}/users/{heavy}/recommendations?n=5"
    first = [i["id"] for i in a.get(path).json()["items"]]
    assert [i["id"] for i in a.get(path).json()["items"]] == first
    assert a.put(f"/api/v1/recommend/apps/{app}/items/{first[0]}", json={"hidden": True}).status_code == 200
    assert first[0] not in [i["id"] for i in a.get(path).json()["items"]]
    assert a.put(f"/api/v1/recommend/apps/{app}/items/{first[0]}", json={"hidden": False}).status_code == 200
    assert a.patch(f"/api/v1/recommend/apps/{app}", json={"exclude_consumed": True}).status_code == 200
    try:
        fresh = [i["id"] for i in a.get(path).json()["items"]]
        assert not set(fresh) & {i for u, i, _, _ in rows if u == heavy}
        assert a.post(f"/api/v1/recommend/apps/{app}/feedback", json=[{"user": heavy, "item": fresh[0], "type": "purchase"}]).status_code == 200
        assert fresh[0] not in [i["id"] for i in a.get(path).json()["items"]]
    finally:
        assert a.patch(f"/api/v1/recommend/apps/{app}", json={"exclude_consumed": False}).status_code == 200


def test_an_ab_experiment_splits_users_stably_and_measures_click_through(server):
    a = server.admin
    app = unique("shop")
    assert a.post("/api/v1/recommend/apps", json={"name": app, "feedback_types": {"click": 1, "buy": 5}}).status_code == 201
    a.post(f"/api/v1/recommend/apps/{app}/items", json={"items": [{"id": f"i{k}", "categories": ["c"]} for k in range(30)]})
    a.post(f"/api/v1/recommend/apps/{app}/feedback", json=[
        {"user": f"seed{k}", "item": f"i{k % 30}", "type": "buy"} for k in range(300)])
    resp = a.post(f"/api/v1/recommend/apps/{app}/experiments", json={
        "name": "pop-vs-recent", "variants": [{"name": "control", "algorithm": "popular"},
                                              {"name": "treatment", "algorithm": "recent"}]})
    assert resp.status_code == 201, resp.text
    assert_error(a.post(f"/api/v1/recommend/apps/{app}/experiments", json={
        "name": "second", "variants": [{"name": "a", "algorithm": "popular"}, {"name": "b", "algorithm": "als"}]}), 409, "conflict")
    variants = {}
    clicks = []
    for k in range(400):
        user = f"u{k}"
        r = a.get(f"/api/v1/recommend/apps/{app}/users/{user}/recommendations?n=5").json()
        again = a.get(f"/api/v1/recommend/apps/{app}/users/{user}/recommendations?n=5").json()
        assert r["experiment"] == "pop-vs-recent" and r["variant"] == again["variant"]
        variants[user] = r["variant"]
        # Treatment users click their first recommendation; a third of control users do.
        if r["variant"] == "treatment" or k % 3 == 0:
            clicks.append({"user": user, "item": r["items"][0]["id"], "type": "click"})
    counts = Counter(variants.values())
    assert 150 < counts["treatment"] < 250, counts
    assert a.post(f"/api/v1/recommend/apps/{app}/feedback", json=clicks).status_code == 200
    res = a.get(f"/api/v1/recommend/apps/{app}/experiments/pop-vs-recent").json()
    by = {v["name"]: v for v in res["variants"]}
    assert by["control"]["users"] == counts["control"] and by["treatment"]["users"] == counts["treatment"]
    # Shown twice, each item is one impression.
    assert by["treatment"]["exposures"] == 5 * counts["treatment"]
    assert by["treatment"]["clicks"] == counts["treatment"]
    assert by["treatment"]["ctr"] > by["control"]["ctr"]
    assert by["treatment"]["vs_control"]["ctr_significant"] is True
    assert by["treatment"]["vs_control"]["ctr_p_value"] < 0.001
    stopped = a.post(f"/api/v1/recommend/apps/{app}/experiments/pop-vs-recent/stop").json()
    assert stopped["state"] == "stopped"
    assert "experiment" not in a.get(f"/api/v1/recommend/apps/{app}/users/u1/recommendations").json()


def test_bad_input_is_refused_and_changes_nothing(server):
    a = server.admin
    app = unique("bad")
    assert_error(a.post("/api/v1/recommend/apps", json={"name": app}), 400, "bad_request")
    assert_error(a.post("/api/v1/recommend/apps", json={"name": "Bad Name", "feedback_types": {"x": 1}}), 400, "bad_request")
    assert_error(a.post("/api/v1/recommend/apps", json={"name": app, "feedback_types": {"x": -1}}), 400, "bad_request")
    assert_error(a.post("/api/v1/recommend/apps", json={"name": app, "feedback_types": {"x": 1}, "training": {"factors": 100000}}),
                 400, "bad_request")
    assert_error(a.post("/api/v1/recommend/apps", data=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert a.post("/api/v1/recommend/apps", json={"name": app, "feedback_types": {"view": 1}}).status_code == 201
    assert_error(a.post("/api/v1/recommend/apps", json={"name": app, "feedback_types": {"view": 1}}), 409, "conflict")
    # A batch with one bad piece stores nothing.
    good = {"user": "u", "item": "i", "type": "view"}
    for bad in ({"user": "u", "item": "i", "type": "buy"}, {"user": "", "item": "i", "type": "view"},
                {"user": "u", "item": "i\n", "type": "view"}, {"user": "u", "item": "i", "type": "view", "timestamp": "yesterday"},
                {"user": "u", "item": "i", "type": "view", "value": -1}, "not an object"):
        assert_error(a.post(f"/api/v1/recommend/apps/{app}/feedback", json=[good, bad]), 400)
    assert_error(a.post(f"/api/v1/recommend/apps/{app}/feedback", json=[good] * 10001), 400)
    assert a.get(f"/api/v1/recommend/apps/{app}").json()["counts"]["feedback"] == 0
    assert_error(a.post(f"/api/v1/recommend/apps/{app}/train"), 409, "conflict")
    assert_error(a.get(f"/api/v1/recommend/apps/{app}/users/u/recommendations?n=0"), 400)
    assert_error(a.get(f"/api/v1/recommend/apps/{app}/users/u/recommendations?algorithm=magic"), 400)
    assert_error(a.post(f"/api/v1/recommend/apps/{app}/evaluate", json={"split_at": "soon"}), 400)
    assert_error(a.patch(f"/api/v1/recommend/apps/{app}", json={"feedback_types": {"click": 1}}), 409)
    # A PATCH changes what it names and keeps the rest.
    assert a.patch(f"/api/v1/recommend/apps/{app}", json={"algorithm": "als", "training": {"factors": 32}}).status_code == 200
    patched = a.patch(f"/api/v1/recommend/apps/{app}", json={"max_per_category": 2}).json()
    assert (patched["algorithm"], patched["training"], patched["max_per_category"]) == ("als", {"factors": 32}, 2), patched
    assert_error(a.get("/api/v1/recommend/apps/nope"), 404, "not_found")
    viewer = server.create_user(roles=["viewer"], prefix="viewer")
    assert viewer.client.get(f"/api/v1/recommend/apps/{app}").status_code == 200
    assert_error(viewer.client.post(f"/api/v1/recommend/apps/{app}/feedback", json=[good]), 403)
    assert_error(server.anonymous.get("/api/v1/recommend/apps"), 401)


def test_feedback_imported_from_a_dataset_version_once(server):
    from datasets_helpers import create_dataset, push, wait_ready
    a = server.admin
    app = unique("imported")
    assert a.post("/api/v1/recommend/apps", json={"name": app, "feedback_types": {"purchase": 1}}).status_code == 201
    rows, _ = purchases()
    head = rows[:3000]
    lines = ["CustomerID,StockCode,InvoiceDate,InvoiceNo,Quantity"]
    for u, i, ts, inv in head:
        when = datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{u}.0,{i},{when},{inv},2")
    lines.append(",85123A,2011-01-01 10:00:00,999999,1")  # no customer: skipped, as a user cleaning it would
    ds = create_dataset(a)
    push(a, ds, ("\n".join(lines) + "\n").encode())
    wait_ready(a, ds, 1)
    body = {"dataset": ds, "version": 1, "type": "purchase",
            "columns": {"user": "CustomerID", "item": "StockCode", "timestamp": "InvoiceDate", "session": "InvoiceNo", "value": "Quantity"}}
    resp = a.post(f"/api/v1/recommend/apps/{app}/import", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"dataset": ds, "version": 1, "accepted": len(head), "skipped": 1}
    got = a.get(f"/api/v1/recommend/apps/{app}").json()
    assert got["counts"]["feedback"] == len(head) and got["imports"][0]["rows"] == len(head)
    # Customer ids as the user wrote them (12346.0 is customer 12346), times and sessions kept.
    user = head[0][0]
    history = a.get(f"/api/v1/recommend/apps/{app}/users/{user}?history=1000").json()["history"]
    mine = [r for r in head if r[0] == user]
    assert len(history) == len(mine) and history[-1]["value"] == 2 and history[-1]["session"] == mine[0][3]
    assert history[-1]["timestamp"].startswith(datetime.fromtimestamp(mine[0][2] / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M"))
    # Once per version; a bad mapping stores nothing.
    assert_error(a.post(f"/api/v1/recommend/apps/{app}/import", json=body), 409, "conflict")
    for bad in ({**body, "columns": {"user": "CustomerID"}}, {**body, "type": "like"},
                {**body, "columns": {**body["columns"], "timestamp": "StockCode"}}, {**body, "dataset": "no-such-dataset"}):
        resp = a.post(f"/api/v1/recommend/apps/{app}/import", json=bad)
        assert resp.status_code in (400, 404), resp.text
    assert a.get(f"/api/v1/recommend/apps/{app}").json()["counts"]["feedback"] == len(head)


def test_feedback_followed_from_a_topic_counts_each_message_once(server):
    from mq_helpers import make_topic, publish
    a = server.admin
    topic = make_topic(a)
    app = unique("followed")
    resp = a.post("/api/v1/recommend/apps", json={"name": app, "feedback_types": {"view": 1, "buy": 5}, "feedback_topic": topic})
    assert resp.status_code == 201, resp.text
    publish(a, topic, [{"body": {"user": "u1", "item": "a", "type": "view"}},
                       {"body": [{"user": "u1", "item": "b", "type": "buy"}, {"user": "u2", "item": "a", "type": "buy"}]},
                       {"body": {"user": "u1", "item": "c", "type": "like"}},  # not a type of the app: refused, counted
                       {"body": "not json at all"}])
    got = wait_for(lambda: (g := a.get(f"/api/v1/recommend/apps/{app}").json())["counts"]["feedback"] == 3 and g,
                   20, "the topic's feedback stored")
    assert got["topic"]["messages"] == 2 and got["topic"]["rejected"] == 2 and got["topic"]["last_error"].endswith("not JSON")
    # The next answer already counts it: u2 bought a, so u1's popular items start with a.
    rec = a.get(f"/api/v1/recommend/apps/{app}/users/u3/recommendations?n=2").json()
    assert [i["id"] for i in rec["items"]] == ["a", "b"]
    # Redelivered messages (here: the subscription moved back to the start) are not stored twice.
    resp = a.post(f"/api/v1/mq/subscriptions/recommend-{app}/seek", json={"topic": topic, "partition": 0, "offset": 0})
    assert resp.status_code in (200, 204), resp.text
    time.sleep(2)
    assert a.get(f"/api/v1/recommend/apps/{app}").json()["counts"]["feedback"] == 3
