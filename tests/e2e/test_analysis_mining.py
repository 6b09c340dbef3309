"""Data mining jobs end to end (POST /api/v1/analysis/mining), each checked against an
independent answer computed here:

- association rules by FP-growth on the Online Retail invoices: every itemset's support and
  every rule's confidence and lift equal a brute-force count over the same baskets, and no
  frequent itemset or qualifying rule is missing (candidates counted level by level here);
- frequent sequences of the customers' purchases: each pattern's count equals a brute-force
  count of the sequences that contain it, and every frequent pair is found;
- k-means (k-means++, several runs; mini-batch) on scikit-learn's digits: inertia within 1 % of
  scikit-learn's KMeans with the same seeds; the silhouette equals scikit-learn's on the same
  labels; DBSCAN on iris finds scikit-learn's clusters; the isolation forest's top outliers on
  the breast-cancer set mostly agree with scikit-learn's;
- the jobs' life: queued, running, cancelled, listed and paged, deleted; bad input refused with
  the documented codes; permissions.
"""
from __future__ import annotations

import gzip
from bisect import bisect_right
from collections import Counter, defaultdict
from datetime import datetime, timezone
from itertools import combinations

import numpy as np
import pytest

from conftest import ServerFactory, assert_error, describe, unique, wait_for
from datasets_helpers import upload_table, wait_ready
from online_retail import purchases

MINING = "/api/v1/analysis/mining"
SKLEARN_DATA = "/opt/aimass-sklearn/usr/lib/python3/dist-packages/sklearn/datasets/data"


@pytest.fixture(scope="module")
def mining_server(aimass_bin, tmp_path_factory):
    factory = ServerFactory(aimass_bin, tmp_path_factory, "mining")
    srv = factory(env={"AIMASS_ANALYSIS_MINING_WORKERS": "1"})
    yield srv
    factory.stop_all()


def upload_csv(c, header, rows, name=None) -> str:
    return upload_table(c, header, rows, name or unique("mine"))


def run_job(c, kind: str, dataset: str, params: dict, timeout: float = 300) -> dict:
    resp = c.post(MINING, json={"kind": kind, "source": {"dataset": dataset, "version": "latest"}, "params": params})
    assert resp.status_code == 202, describe(resp)
    job = resp.json()
    assert job["state"] == "queued" and resp.headers["Location"] == f"{MINING}/{job['id']}"
    assert job["source"] == {"dataset": dataset, "version": 1}  # "latest" pinned
    done = wait_for(lambda: (j := c.get(f"{MINING}/{job['id']}").json())["state"] in ("succeeded", "failed", "cancelled") and j,
                    timeout, f"{kind} job {job['id']}")
    assert done["state"] == "succeeded", done
    assert done["duration_ms"] >= 0 and "finished_at" in done
    return done["result"]


@pytest.fixture(scope="module")
def retail(mining_server):
    """The Online Retail purchases with a customer (cleaned as the recommend tests clean them),
    one row per invoice line: invoice, customer, item (stock code), title, time."""
    rows, titles = purchases()
    table = [(inv, cust, code, titles[code], datetime.fromtimestamp(ts / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
             for cust, code, ts, inv in rows]
    name = upload_csv(mining_server.admin, ["invoice", "customer", "item", "title", "time"], table, unique("retail"))
    return {"name": name, "rows": rows, "titles": titles}


class Baskets:
    """The invoices as a 0/1 matrix over the items seen in at least `min_count` of them: an
    itemset's count is the number of rows with a 1 in each of its columns (counted directly,
    with numpy, for every set asked about)."""

    def __init__(self, baskets: list[set], min_count: float):
        counts = Counter(i for b in baskets for i in b)
        self.items = sorted(i for i, k in counts.items() if k >= min_count)
        self.col = {i: j for j, i in enumerate(self.items)}
        self.m = np.zeros((len(baskets), len(self.items)), dtype=bool)
        for r, b in enumerate(baskets):
            for i in b:
                if i in self.col:
                    self.m[r, self.col[i]] = True
        self.n = len(baskets)

    def count(self, items) -> int:
        return int(np.logical_and.reduce(self.m[:, [self.col[i] for i in items]], axis=1).sum())


def test_association_rules_on_online_retail_equal_a_brute_force_count(mining_server, retail):
    c = mining_server.admin
    by_invoice = defaultdict(set)
    for _, code, _, inv in retail["rows"]:
        by_invoice[inv].add(code)
    min_support, min_confidence = 0.01, 0.3
    b = Baskets(list(by_invoice.values()), min_support * len(by_invoice))
    n = b.n
    r = run_job(c, "association_rules", retail["name"],
                {"transaction_column": "invoice", "item_column": "item", "label_column": "title",
                 "min_support": min_support, "min_confidence": min_confidence, "max_rules": 100000, "max_itemsets": 100000})
    assert r["transactions"] == n and r["rows"] == len(retail["rows"])
    assert r["itemset_count"] == len(r["itemsets"]) and r["rule_count"] == len(r["rules"])
    found = {frozenset(s["items"]): s for s in r["itemsets"]}
    # Each itemset's count is the number of baskets holding all of its items.
    for items, s in found.items():
        count = b.count(items)
        assert s["count"] == count, (sorted(items), s, count)
        assert s["support"] == pytest.approx(count / n, rel=1e-12)
        assert count >= min_support * n
    # None missing: the frequent itemsets counted here level by level (a set is a candidate when
    # all of its subsets one smaller are frequent; each candidate counted over every basket).
    min_count = min_support * n
    level = {frozenset([i]) for i in b.items}
    truth = set(level)
    while level:
        candidates = {s | {i} for s in level for i in b.items if i not in s}
        candidates = {s for s in candidates if all(s - {i} in level for i in s)}
        level = {s for s in candidates if b.count(s) >= min_count}
        truth |= level
    assert set(found) == truth
    assert max(len(s) for s in truth) >= 3  # the check reached beyond pairs
    # Every rule's measures from the counts, and every qualifying rule present.
    rules = {(frozenset(x["antecedent"]), frozenset(x["consequent"])): x for x in r["rules"]}
    expected = set()
    for s in truth:
        for size in range(1, len(s)):
            for a in combinations(sorted(s), size):
                a = frozenset(a)
                if b.count(s) / b.count(a) >= min_confidence:
                    expected.add((a, s - a))
    assert set(rules) == expected
    for (a, cons), x in rules.items():
        both, ca, cc = b.count(a | cons), b.count(a), b.count(cons)
        assert x["count"] == both
        assert x["confidence"] == pytest.approx(both / ca, rel=1e-12)
        assert x["lift"] == pytest.approx((both / ca) / (cc / n), rel=1e-9)
    lifts = [x["lift"] for x in r["rules"]]
    assert lifts == sorted(lifts, reverse=True)
    # The items' names came along.
    some = r["itemsets"][0]["items"][0]
    assert r["labels"][some] == retail["titles"][some]
    # The famous teacups: the green and the roses regency teacup and saucer go together.
    assert any({"22697", "22699"} <= set(x["antecedent"]) | set(x["consequent"]) and x["lift"] > 10 for x in r["rules"])


def test_frequent_sequences_of_customers_purchases_equal_a_brute_force_count(mining_server, retail):
    c = mining_server.admin
    # Each customer's items in time order, each invoice's items in the file's order.
    events = defaultdict(list)
    for i, (cust, code, ts, _) in enumerate(retail["rows"]):
        events[cust].append((ts, i, code))
    seqs = [[code for _, _, code in sorted(e)] for e in events.values()]
    r = run_job(c, "sequences", retail["name"],
                {"sequence_column": "customer", "item_column": "item", "order_column": "time", "min_support": 0.05, "max_length": 3})
    assert r["sequences"] == len(seqs)

    # Each sequence's positions of each item: a pattern is in it when each next item occurs after
    # the previous one's match (the earliest match leaves the most room).
    where = []
    for seq in seqs:
        at = defaultdict(list)
        for p, x in enumerate(seq):
            at[x].append(p)
        where.append(at)

    def holding(pattern) -> int:
        total = 0
        for at in where:
            pos = -1
            for x in pattern:
                ps = at.get(x)
                k = bisect_right(ps, pos) if ps else 0
                if not ps or k == len(ps):
                    break
                pos = ps[k]
            else:
                total += 1
        return total

    patterns = {tuple(p["items"]): p["count"] for p in r["patterns"]}
    assert len(patterns) == r["pattern_count"] > 50
    assert max(len(p) for p in patterns) >= 2
    for pattern, count in patterns.items():
        assert count == holding(pattern), pattern
    # Every frequent item and every frequent pair is there: all pairs of frequent items counted
    # (a pair is in a sequence when the first's first position is before the second's last).
    min_count = 0.05 * len(seqs)
    single = Counter(i for s in seqs for i in set(s))
    freq = sorted(i for i, k in single.items() if k >= min_count)
    assert {p for p in patterns if len(p) == 1} == {(i,) for i in freq}
    col = {i: j for j, i in enumerate(freq)}
    pair_counts = np.zeros((len(freq), len(freq)), dtype=np.int64)
    for at in where:
        present = [x for x in at if x in col]
        if not present:
            continue
        idx = np.array([col[x] for x in present])
        first = np.array([at[x][0] for x in present])
        last = np.array([at[x][-1] for x in present])
        a, b = np.nonzero(first[:, None] < last[None, :])
        np.add.at(pair_counts, (idx[a], idx[b]), 1)
    frequent_pairs = {(freq[a], freq[b]) for a, b in zip(*np.nonzero(pair_counts >= min_count))}
    assert {p for p in patterns if len(p) == 2} == frequent_pairs


def digits():
    with gzip.open(f"{SKLEARN_DATA}/digits.csv.gz", "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


def test_kmeans_comes_within_one_percent_of_scikit_learn_and_its_silhouette_equals_theirs(mining_server):
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import silhouette_score

    c = mining_server.admin
    X, _ = digits()
    cols = [f"p{i}" for i in range(X.shape[1])]
    name = upload_csv(c, cols, X.astype(int).tolist())
    r = run_job(c, "kmeans", name, {"k": 10, "n_init": 10, "seed": 0, "silhouette_sample": 0, "projection_sample": 500})
    ref = KMeans(n_clusters=10, n_init=10, random_state=0).fit(X)
    print(f"digits k=10: AI Mass inertia {r['inertia']:.1f}, scikit-learn {ref.inertia_:.1f}")
    assert r["inertia"] == pytest.approx(ref.inertia_, rel=0.01)
    assert r["rows"] == len(X) and r["columns"] == cols and sum(r["sizes"]) == len(X)
    centres = np.array(r["centroids"])
    assert centres.shape == (10, 64)
    # The reported inertia is the data's, for the reported centres.
    d = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    assert d.min(axis=1).sum() == pytest.approx(r["inertia"], rel=1e-9)
    assert sorted(np.bincount(d.argmin(axis=1), minlength=10)) == sorted(r["sizes"])
    # The 2-D view: 500 points, with the labels of their clusters.
    pts = r["projection"]["points"]
    assert len(pts) == 500 and {p[2] for p in pts} <= set(range(10))
    assert 0 < r["projection"]["explained"][1] <= r["projection"]["explained"][0] < 1

    # The silhouette over every point, against scikit-learn's on the same labels.
    r2 = run_job(c, "kmeans", name, {"k": 10, "seed": 3, "silhouette_sample": 5000, "projection_sample": 0})
    labels = ((X[:, None, :] - np.array(r2["centroids"])[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    assert r2["silhouette"] == pytest.approx(silhouette_score(X, labels), abs=1e-6)
    assert r2["projection"] is None

    # Mini-batch: over five seeds, as close to the full k-means as scikit-learn's mini-batch
    # (whose single runs land 0.5-8 % above it on this set).
    ours, theirs = [], []
    for seed in range(5):
        r3 = run_job(c, "kmeans", name, {"k": 10, "seed": seed, "n_init": 3, "mini_batch": True, "batch_size": 256,
                                         "silhouette_sample": 0, "projection_sample": 0})
        assert r3["iterations"] > 1
        ours.append(r3["inertia"])
        theirs.append(MiniBatchKMeans(n_clusters=10, batch_size=256, random_state=seed, n_init=3).fit(X).inertia_)
    print(f"digits mini-batch, mean of 5: AI Mass {np.mean(ours):.1f}, scikit-learn {np.mean(theirs):.1f}")
    assert np.mean(ours) < np.mean(theirs) * 1.02
    assert np.mean(ours) < ref.inertia_ * 1.06

    # Standardised columns: the same as scikit-learn on StandardScaler's output; centres in the
    # columns' own units.
    wine = np.loadtxt(f"{SKLEARN_DATA}/wine_data.csv", delimiter=",", skiprows=1)[:, :-1]
    wcols = [f"w{i}" for i in range(wine.shape[1])]
    wname = upload_csv(c, wcols, wine.tolist())
    r4 = run_job(c, "kmeans", wname, {"k": 3, "n_init": 10, "standardize": True})
    z = (wine - wine.mean(axis=0)) / wine.std(axis=0)
    ref4 = KMeans(n_clusters=3, n_init=10, random_state=0).fit(z)
    assert r4["inertia"] == pytest.approx(ref4.inertia_, rel=0.01)
    ours = np.sort(np.array(r4["centroids"])[:, 0])
    theirs4 = np.sort(ref4.cluster_centers_[:, 0] * wine.std(axis=0)[0] + wine.mean(axis=0)[0])
    assert ours == pytest.approx(theirs4, rel=0.02)


def test_dbscan_finds_scikit_learns_clusters_and_outliers_agree_with_its_isolation_forest(mining_server):
    from sklearn.cluster import DBSCAN
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import silhouette_score

    c = mining_server.admin
    iris = np.loadtxt(f"{SKLEARN_DATA}/iris.csv", delimiter=",", skiprows=1)[:, :4]
    name = upload_csv(c, ["sl", "sw", "pl", "pw"], iris.tolist())
    for eps, min_samples in ((0.5, 5), (0.4, 4), (0.8, 10)):
        r = run_job(c, "dbscan", name, {"eps": eps, "min_samples": min_samples, "projection_sample": 150})
        ref = DBSCAN(eps=eps, min_samples=min_samples).fit(iris)
        labels = ref.labels_
        assert r["clusters"] == labels.max() + 1
        assert r["noise"] == int((labels == -1).sum())
        assert r["core"] == len(ref.core_sample_indices_)
        assert sorted(r["sizes"]) == sorted(np.bincount(labels[labels >= 0]).tolist())
        # The clusters themselves, up to their numbering: the projection carries every label.
        ours = np.array([p[2] for p in r["projection"]["points"]])
        assert len(ours) == 150
        pairs = {(a, b) for a, b in zip(ours, labels)}
        assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})
        kept = labels >= 0
        if labels.max() >= 1:
            assert r["silhouette"] == pytest.approx(silhouette_score(iris[kept], labels[kept]), abs=1e-6)

    cancer = np.loadtxt(f"{SKLEARN_DATA}/breast_cancer.csv", delimiter=",", skiprows=1)[:, :-1]
    cols = [f"f{i}" for i in range(cancer.shape[1])]
    ids = [f"patient-{i}" for i in range(len(cancer))]
    cname = upload_csv(c, ["id", *cols], [[ids[i], *row] for i, row in enumerate(cancer.tolist())])
    r = run_job(c, "outliers", cname, {"trees": 500, "seed": 1, "top": 20, "id_column": "id", "contamination": 0.05})
    theirs = -IsolationForest(n_estimators=500, random_state=1).fit(cancer).score_samples(cancer)
    top_theirs = set(np.argsort(-theirs)[:20].tolist())
    top_ours = [t["row"] for t in r["top"]]
    overlap = len(top_theirs & set(top_ours))
    print(f"breast cancer: {overlap} of the top 20 outliers shared with scikit-learn")
    assert overlap >= 14
    # Scores on the same scale as scikit-learn's.
    ours_scores = np.array([t["score"] for t in r["top"]])
    assert ours_scores == pytest.approx(theirs[top_ours], abs=0.03)
    assert r["outliers"] == int(len(cancer) * 0.05)
    assert [t["id"] for t in r["top"][:3]] == [ids[i] for i in top_ours[:3]]
    assert r["top"][0]["values"]["f0"] == pytest.approx(cancer[top_ours[0], 0])
    assert sum(r["histogram"]) == len(cancer)


def test_a_jobs_life_queue_cancel_list_and_delete(mining_server):
    c = mining_server.admin
    # A long job holds the only worker; the next waits queued and is cancelled there.
    rng = np.random.default_rng(0)
    big = upload_csv(c, ["a", "b", "c"], np.round(rng.normal(size=(200000, 3)), 4).tolist())
    long = c.post(MINING, json={"kind": "kmeans", "source": {"dataset": big}, "params": {"k": 50, "n_init": 40, "tol": 0}}).json()
    second = c.post(MINING, json={"kind": "outliers", "source": {"dataset": big}, "params": {"trees": 10}}).json()
    wait_for(lambda: c.get(f"{MINING}/{long['id']}").json()["state"] == "running", 60, "the first job to run")
    assert c.get(f"{MINING}/{second['id']}").json()["state"] == "queued"
    resp = c.post(f"{MINING}/{second['id']}/cancel")
    assert resp.status_code == 200 and resp.json()["state"] == "cancelled", describe(resp)
    assert_error(c.post(f"{MINING}/{second['id']}/cancel"), 409, "conflict")
    # The running one is cancelled too, and stays so.
    running = c.get(f"{MINING}/{long['id']}").json()
    assert running["phase"] in ("reading", "computing", "scoring"), running
    assert c.post(f"{MINING}/{long['id']}/cancel").json()["state"] == "cancelled"
    # The worker is free again: a new job runs.
    r = run_job(c, "outliers", big, {"trees": 5, "top": 3})
    assert len(r["top"]) == 3
    assert c.get(f"{MINING}/{long['id']}").json()["state"] == "cancelled"
    assert "result" not in c.get(f"{MINING}/{long['id']}").json()
    # Listing: newest first, filtered, paged.
    jobs = c.get(f"{MINING}?dataset={big}").json()["jobs"]
    assert [j["id"] for j in jobs][:3] == sorted([j["id"] for j in jobs], reverse=True)[:3]
    assert all("result" not in j for j in jobs)
    assert {j["state"] for j in c.get(f"{MINING}?state=cancelled&dataset={big}").json()["jobs"]} == {"cancelled"}
    page = c.get(f"{MINING}?dataset={big}&page_size=2").json()
    assert len(page["jobs"]) == 2 and page["next_page_token"]
    rest = c.get(f"{MINING}?dataset={big}&page_size=2&page_token={page['next_page_token']}").json()
    assert {j["id"] for j in rest["jobs"]}.isdisjoint({j["id"] for j in page["jobs"]})
    assert c.get(f"{MINING}/{second['id']}?result=false").status_code == 200
    assert c.delete(f"{MINING}/{second['id']}").status_code == 204
    assert_error(c.get(f"{MINING}/{second['id']}"), 404, "not_found")


def test_bad_input_and_permissions(mining_server):
    c = mining_server.admin
    name = upload_csv(c, ["x", "label", "when"], [[1.5, "a", "2024-01-01"], [2.5, "b", "2024-01-02"], [3.0, "a", "2024-01-03"]])
    files = unique("files")
    assert c.post("/api/v1/datasets", json={"name": files, "kind": "files"}).status_code == 201
    src = {"dataset": name}
    bad = [
        ({"kind": "pca", "source": src}, 400, "kind 'pca'"),
        ({"kind": "kmeans"}, 400, "source.dataset"),
        ({"kind": "kmeans", "source": src, "params": {"k": 0}}, 400, "params.k"),
        ({"kind": "kmeans", "source": src, "params": {"k": "three"}}, 400, "params.k"),
        ({"kind": "kmeans", "source": src, "params": {"kk": 3}}, 400, "params.kk"),
        ({"kind": "kmeans", "source": src, "params": {"columns": ["label"]}}, 400, "not a number"),
        ({"kind": "kmeans", "source": src, "params": {"columns": ["nope"]}}, 400, "no column 'nope'"),
        ({"kind": "kmeans", "source": src, "params": {"init": "best"}}, 400, "params.init"),
        ({"kind": "dbscan", "source": src}, 400, "params.eps"),
        ({"kind": "association_rules", "source": src, "params": {"item_column": "label"}}, 400, "transaction_column"),
        ({"kind": "association_rules", "source": src, "params": {"transaction_column": "x", "item_column": "label", "min_support": 0}},
         400, "min_support"),
        ({"kind": "association_rules", "source": src, "params": {"transaction_column": "x", "item_column": "label", "min_confidence": 2}},
         400, "min_confidence"),
        ({"kind": "sequences", "source": src, "params": {"sequence_column": "label", "item_column": "x", "order_column": "later"}},
         400, "later"),
        ({"kind": "kmeans", "source": {"dataset": unique("none")}}, 404, None),
        ({"kind": "kmeans", "source": {"dataset": name, "version": 7}}, 404, None),
        ({"kind": "kmeans", "source": {"dataset": files}}, 400, "files"),
        ({"kind": "kmeans", "source": src, "extra": 1}, 400, "extra"),
    ]
    for body, status, words in bad:
        resp = c.post(MINING, json=body)
        assert resp.status_code == status, (body, describe(resp))
        if words:
            assert words in resp.json()["error"]["message"], (body, resp.json())
    assert_error(c.post(MINING, data=b"{not json", headers={"Content-Type": "application/json"}), 400)
    # More clusters than points fails the job with its reason.
    resp = c.post(MINING, json={"kind": "kmeans", "source": src, "params": {"k": 5}})
    assert resp.status_code == 202
    job = wait_for(lambda: (j := c.get(f"{MINING}/{resp.json()['id']}").json())["state"] in ("failed", "succeeded") and j, 60, "the job")
    assert job["state"] == "failed" and "more than the points" in job["error"], job
    assert_error(c.get(f"{MINING}/abc"), 404, "not_found")
    assert_error(c.get(f"{MINING}?page_size=0"), 400)
    assert_error(c.get(f"{MINING}?page_token=zz"), 400)
    # A viewer reads jobs but starts none; a developer starts them; no token, no answer.
    viewer = mining_server.create_user(["viewer"], prefix="mviewer")
    assert viewer.client.get(MINING).status_code == 200
    assert_error(viewer.client.post(MINING, json={"kind": "kmeans", "source": src, "params": {"k": 2}}), 403, "forbidden")
    assert_error(viewer.client.post(f"{MINING}/{job['id']}/cancel"), 403, "forbidden")
    dev = mining_server.create_user(["developer"], prefix="mdev")
    assert dev.client.post(MINING, json={"kind": "kmeans", "source": src, "params": {"k": 2}}).status_code == 202
    from conftest import Client
    assert_error(Client(mining_server).get(MINING), 401)
