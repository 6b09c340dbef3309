"""Labelling projects end to end (/api/v1/labelling), on real data: CLINC150's banking intents.

- Two annotators label with overlap 2 through the queue (each item to two people, never twice
  to one); agreement (Cohen's kappa per pair, Fleiss' kappa overall and per label) equals
  scikit-learn's Cohen's kappa and Fleiss' formula computed here; review accepts and rejects
  (a rejected item comes back); undo; export makes a dataset version of the accepted labels with
  its lineage.
- Active learning: the queue ordered by its model's uncertainty reaches a test accuracy with
  fewer labels than the same queue in random order (accuracy measured here with
  scikit-learn's logistic regression on the labels each order gave).
- Pre-labels from a deployed model (TorchScript made here): each item's pre-label is the
  model's argmax; labelling functions combined by the label model, checked against the truth.
- A retrain pipeline started every N labels with the exported version; boxes and spans checked
  against their schema; bad input and permissions.
"""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from conftest import ServerFactory, assert_error, describe, unique, wait_for
from datasets_helpers import upload_table, wait_ready
from online_retail import shared_data

PROJECTS = "/api/v1/labelling/projects"
BANKING = ["balance", "bill_balance", "bill_due", "pay_bill", "transfer", "transactions", "freeze_account", "routing",
           "pin_change", "report_fraud", "interest_rate", "min_payment", "spending_history", "account_blocked", "order_checks"]


@pytest.fixture(scope="module")
def labelling_server(aimass_bin, tmp_path_factory):
    factory = ServerFactory(aimass_bin, tmp_path_factory, "labelling")
    srv = factory()
    yield srv
    factory.stop_all()


@pytest.fixture(scope="module")
def clinc():
    with open(shared_data("clinc150/data_full.json"), encoding="utf-8") as f:
        data = json.load(f)
    keep = set(BANKING)
    return {split: [(t, i) for t, i in data[split] if i in keep] for split in ("train", "test")}


def upload_csv(c, header, rows, name=None) -> str:
    return upload_table(c, header, rows, name or unique("lab"))


def create(c, **body) -> dict:
    resp = c.post(PROJECTS, json=body)
    assert resp.status_code == 201, describe(resp)
    return resp.json()


def next_task(client, project):
    resp = client.get(f"{PROJECTS}/{project}/tasks/next")
    if resp.status_code == 204:
        return None
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def label(client, project, task, value, status=201):
    resp = client.post(f"{PROJECTS}/{project}/tasks/{task}/labels", json={"value": value, "lead_ms": 1200})
    assert resp.status_code == status, describe(resp)
    return resp.json()


def fleiss(table: np.ndarray) -> tuple[float, np.ndarray]:
    """Fleiss' kappa from an items × categories count table (every item the same raters)."""
    n = table.sum(axis=1)[0]
    p = table.sum(axis=0) / table.sum()
    P = ((table * (table - 1)).sum(axis=1)) / (n * (n - 1))
    pe = (p ** 2).sum()
    kappa = (P.mean() - pe) / (1 - pe)
    per = 1 - (table * (n - table)).sum(axis=0) / (len(table) * n * (n - 1) * p * (1 - p))
    return kappa, per


def test_two_annotators_agreement_review_and_export(labelling_server, clinc):
    from sklearn.metrics import cohen_kappa_score

    c = labelling_server.admin
    pool = clinc["test"][:120]  # 8 per intent
    truth = [i for _, i in pool]
    name = upload_csv(c, ["text", "intent"], pool)
    p = unique("agree")
    proj = create(c, name=p, dataset=name, schema={"kind": "single", "classes": BANKING, "text_column": "text", "show_columns": ["intent"]},
                  overlap=2, order="sequential")
    assert proj["items"] == 120 and proj["schema"]["keys"][:3] == ["1", "2", "3"] and proj["source"]["version"] == 1
    ann = [labelling_server.create_user(["developer"], prefix=f"ann{k}") for k in range(2)]
    # The first always right; the second wrong on every fifth item (the next intent instead).
    given = {0: {}, 1: {}}
    for k, user in enumerate(ann):
        while (t := next_task(user.client, p)) is not None:
            item = t["id"]
            assert item not in given[k], "an item handed twice to one annotator"
            assert t["text"] == pool[item][0] and t["data"]["intent"] == pool[item][1]
            value = truth[item] if k == 0 or item % 5 else BANKING[(BANKING.index(truth[item]) + 1) % len(BANKING)]
            label(user.client, p, item, value)
            given[k][item] = value
    assert set(given[0]) == set(given[1]) == set(range(120))
    assert next_task(c, p) is None  # every item has its two labels: nothing left for a third person

    # Agreement: Cohen's kappa of the pair as scikit-learn computes it; Fleiss' kappa from its formula.
    ag = c.get(f"{PROJECTS}/{p}/agreement").json()
    a = [given[0][i] for i in range(120)]
    b = [given[1][i] for i in range(120)]
    (pair,) = ag["pairs"]
    assert {pair["a"], pair["b"]} == {ann[0].username, ann[1].username} and pair["items"] == 120
    assert pair["kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-9)
    cats = sorted(set(a) | set(b))
    table = np.array([[(a[i] == x) + (b[i] == x) for x in cats] for i in range(120)])
    kappa, per = fleiss(table)
    assert ag["fleiss"]["kappa"] == pytest.approx(kappa, abs=1e-9) and ag["fleiss"]["raters"] == 2 and ag["fleiss"]["items"] == 120
    for x, k in zip(cats, per):
        assert ag["fleiss"]["per_label"][x] == pytest.approx(k, abs=1e-9), x
    assert 0.6 < kappa < 0.9

    # Undo: the second annotator takes back one label; the item is open to them again.
    assert ann[1].client.delete(f"{PROJECTS}/{p}/tasks/7/labels").status_code == 204
    assert_error(ann[1].client.delete(f"{PROJECTS}/{p}/tasks/7/labels"), 404)
    t = next_task(ann[1].client, p)
    assert t["id"] == 7 and "mine" not in t and len(t["labels"]) == 1
    label(ann[1].client, p, 7, truth[7])
    # Review: the agreed items accepted at once; a disputed one accepted with a value, another rejected.
    accepted = c.post(f"{PROJECTS}/{p}/accept").json()["accepted"]
    agreed = sum(1 for i in range(120) if given[0][i] == given[1][i])
    assert accepted == agreed == 120 - 24  # every fifth item disputed
    resp = c.post(f"{PROJECTS}/{p}/tasks/5/review", json={"status": "accepted", "value": truth[5]})
    assert resp.status_code == 200 and resp.json()["value"] == truth[5], describe(resp)
    assert c.post(f"{PROJECTS}/{p}/tasks/10/review", json={"status": "rejected"}).json()["status"] == "rejected"
    assert c.get(f"{PROJECTS}/{p}/items?state=rejected").json()["items"][0]["id"] == 10
    t = next_task(ann[0].client, p)
    assert t["id"] == 10 and t["labels"] == []  # back in the queue, its labels gone
    prog = c.get(f"{PROJECTS}/{p}").json()["progress"]
    assert prog["accepted"] == accepted + 1 and prog["rejected"] == 1

    # Export: the accepted labels as a new dataset version, lineage to the project and its source.
    resp = c.post(f"{PROJECTS}/{p}/export", json={"dataset": f"{p}-gold"})
    assert resp.status_code == 201, describe(resp)
    ex = resp.json()
    assert ex["rows"] == accepted + 1 and ex["version"] == 1
    v = wait_ready(c, ex["dataset"], 1)
    assert v["lineage"]["source"] == "labelling" and v["lineage"]["project"] == p
    assert v["lineage"]["dataset"] == name and v["lineage"]["version"] == 1
    rows = c.get(f"/api/v1/datasets/{ex['dataset']}/versions/1/rows?limit=1000").json()["rows"]
    assert len(rows) == accepted + 1
    assert all(r["label"] == r["intent"] for r in rows)  # every accepted label is the truth here
    assert {r["text"] for r in rows} <= {t for t, _ in pool}


def labels_to_reach(c, p, pool, test, target: float, step: int = 30, most: int = 600):
    """Labels the project's queue with the truth, `step` at a time; after each step trains
    scikit-learn's logistic regression on TF-IDF of the labels so far and measures it on `test`.
    Returns the labels it took to reach `target` (or None) and the curve."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit([t for t, _ in pool])
    xt = vec.transform([t for t, _ in test])
    got, curve = [], []
    while len(got) < most:
        for _ in range(step):
            t = next_task(c, p)
            assert t is not None
            label(c, p, t["id"], pool[t["id"]][1])
            got.append(t["id"])
        y = [pool[i][1] for i in got]
        if len(set(y)) < 2:
            continue
        model = LogisticRegression(C=10, max_iter=2000).fit(vec.transform([pool[i][0] for i in got]), y)
        acc = float((model.predict(xt) == np.array([i for _, i in test])).mean())
        curve.append((len(got), round(acc, 3)))
        if acc >= target:
            return len(got), curve
    return None, curve


def test_active_learning_reaches_the_accuracy_with_fewer_labels_than_random_order(labelling_server, clinc):
    c = labelling_server.admin
    pool, test = clinc["train"], clinc["test"]  # 1,500 and 450 banking requests
    name = upload_csv(c, ["text", "intent"], pool)
    schema = {"kind": "single", "classes": BANKING, "text_column": "text"}
    target = 0.85
    results = {}
    for order, seed in (("uncertainty", 1), ("random", 1), ("random", 2)):
        p = unique(f"al-{order}")
        create(c, name=p, dataset=name, schema=schema, order=order, seed=seed, active_learning={"strategy": "margin", "retrain_every": 10})
        results[(order, seed)] = labels_to_reach(c, p, pool, test, target, step=20)
        print(f"{order} (seed {seed}): {results[(order, seed)][0]} labels to {target:.0%}; curve {results[(order, seed)][1]}")
    active = results[("uncertainty", 1)][0]
    assert active is not None
    mean = {k: np.mean([acc for n, acc in curve if n <= 200]) for k, (_, curve) in results.items()}
    for seed in (1, 2):
        rnd = results[("random", seed)][0]
        assert rnd is None or active < rnd, results
        # And better on average along the way (the area under the learning curve to 200 labels).
        assert mean[("uncertainty", 1)] > mean[("random", seed)], mean


def test_prelabels_from_a_deployed_model_and_labelling_functions(labelling_server, clinc, tmp_path):
    import torch

    c = labelling_server.admin
    # A table of measurements and a served TorchScript model scoring three classes from them.
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=(60, 3)), 3)
    name = upload_csv(c, ["a", "b", "c"], x.tolist())
    w = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.5], [-1.0, -1.0, 1.0]])

    class Scores(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(w, requires_grad=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.w.t()

    path = tmp_path / "scores.pt"
    torch.jit.script(Scores()).save(str(path))
    model = unique("scorer")
    assert c.post("/api/v1/models", json={"name": model}).status_code == 201
    sig = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}], "outputs": [{"name": "scores", "datatype": "FP32", "shape": [-1, 3]}]}
    resp = c.post(f"/api/v1/models/{model}/versions?framework=torchscript", data=path.read_bytes(),
                  headers={"Content-Type": "application/octet-stream", "X-Model-Metadata": json.dumps({"signature": sig})}, timeout=60)
    assert resp.status_code == 201, describe(resp)
    resp = c.post("/api/v1/deployments", json={"name": model, "model": model, "version": 1}, timeout=120)
    assert resp.status_code == 201, describe(resp)
    classes = ["low", "mid", "high"]
    p = unique("pre")
    create(c, name=p, dataset=name, schema={"kind": "single", "classes": classes},
           prelabel={"deployment": model, "classes": ["high", "low", "mid"], "columns": ["a", "b", "c"]})
    want = [["high", "low", "mid"][k] for k in (x @ w.numpy().T).argmax(axis=1)]
    t = next_task(c, p)
    assert t["prelabel"]["source"] == "model" and t["prelabel"]["value"] == want[t["id"]], t
    assert t["prelabel"]["model_version"] == f"{model}:1" and 0 < t["prelabel"]["score"] <= 1
    assert c.post(f"{PROJECTS}/{p}/prelabel").json() == {"items": 60, "model_version": f"{model}:1"}
    for i in (5, 17, 59):
        assert c.get(f"{PROJECTS}/{p}/tasks/{i}").json()["prelabel"]["value"] == want[i]
    # A model answering another number of classes is a clear error.
    assert_error(c.patch(f"{PROJECTS}/{p}", json={"prelabel": {"deployment": model, "classes": ["low", "mid"]}}) and
                 c.post(f"{PROJECTS}/{p}/prelabel"), 400)

    # Labelling functions on the banking requests: keywords and a pattern, combined.
    pool = clinc["test"]
    texts = upload_csv(c, ["text", "intent"], pool)
    f = unique("lf")
    create(c, name=f, dataset=texts, schema={"kind": "single", "classes": BANKING, "text_column": "text"})
    fns = [
        {"name": "pin", "kind": "keyword", "keywords": ["pin"], "label": "pin_change"},
        {"name": "routing", "kind": "keyword", "keywords": ["routing"], "label": "routing"},
        {"name": "fraud", "kind": "regex", "pattern": "(?i)fraud|stolen|scam", "label": "report_fraud"},
        {"name": "frozen", "kind": "regex", "pattern": "(?i)\\b(freeze|frozen|lock)", "label": "freeze_account"},
        {"name": "blocked", "kind": "regex", "pattern": "(?i)block", "label": "account_blocked"},
        {"name": "checks", "kind": "keyword", "keywords": ["checks", "checkbook"], "label": "order_checks"},
        {"name": "interest", "kind": "keyword", "keywords": ["interest", "apr"], "label": "interest_rate"},
        {"name": "truth", "kind": "rule", "column": "intent", "op": "=", "value": "transfer", "label": "transfer"},
    ]
    for fn in fns:
        resp = c.post(f"{PROJECTS}/{f}/functions", json=fn)
        assert resp.status_code == 200, describe(resp)
    assert len(c.get(f"{PROJECTS}/{f}/functions").json()["functions"]) == len(fns)
    # Some truth labels so that each function's measured accuracy can be reported.
    for i in range(0, 450, 9):
        label(c, f, i, pool[i][1])
    res = c.post(f"{PROJECTS}/{f}/functions/apply").json()
    by = {x["name"]: x for x in res["functions"]}
    for fn in fns:
        hits = [i for i, (t, _) in enumerate(pool) if (fn["kind"] == "rule" and pool[i][1] == "transfer") or
                (fn["kind"] == "keyword" and any(re.search(rf"(?<!\w){k}(?!\w)", t.lower()) for k in fn["keywords"]))]
        if fn["kind"] != "regex":
            assert by[fn["name"]]["coverage"] == pytest.approx(len(hits) / 450, abs=1e-9), fn["name"]
    # The rule copies the truth: its estimated accuracy is the highest.
    assert by["truth"]["estimated_accuracy"] == max(x["estimated_accuracy"] for x in res["functions"])
    assert by["truth"]["labelled_accuracy"] == 1.0
    items = c.get(f"{PROJECTS}/{f}/items?limit=1000").json()["items"]
    covered = [t for t in (c.get(f"{PROJECTS}/{f}/tasks/{i}").json() for i in range(0, 450, 7)) if "prelabel" in t]
    right = sum(t["prelabel"]["value"] == pool[t["id"]][1] for t in covered)
    print(f"label model: coverage {res['coverage']:.2f}, accuracy on labels {res['accuracy_on_labels']}, "
          f"{right}/{len(covered)} sampled pre-labels right")
    assert res["coverage"] > 0.3 and right / len(covered) > 0.8
    assert len(items) == 450
    assert c.delete(f"{PROJECTS}/{f}/functions/truth").status_code == 204
    assert_error(c.delete(f"{PROJECTS}/{f}/functions/truth"), 404)


def test_retrain_pipeline_boxes_spans_and_bad_input(labelling_server, clinc):
    c = labelling_server.admin
    pool = clinc["test"][:40]
    name = upload_csv(c, ["text", "intent"], pool)
    # A pipeline started every 5 labels with the exported labels.
    pipe = unique("retrain")
    resp = c.post("/api/v1/pipelines", json={"name": pipe, "params": {"dataset": "", "version": ""},
                                             "steps": [{"name": "show", "command": ["echo", "${{ params.dataset }}@${{ params.version }}"]}]})
    assert resp.status_code == 201, describe(resp)
    p = unique("rt")
    create(c, name=p, dataset=name, schema={"kind": "single", "classes": BANKING, "text_column": "text"},
           retrain={"pipeline": pipe, "every": 5}, export_dataset=f"{p}-train")
    runs = []
    for k in range(11):
        t = next_task(c, p)
        out = label(c, p, t["id"], pool[t["id"]][1])
        if "retrain" in out:
            runs.append(out["retrain"])
    assert [r["version"] for r in runs] == [1, 2], runs
    assert all(r["pipeline"] == pipe and r["dataset"] == f"{p}-train" and "run" in r for r in runs), runs
    run = wait_for(lambda: (r := c.get(f"/api/v1/pipeline-runs/{runs[1]['run']}").json())["state"] in ("succeeded", "failed") and r,
                   120, "the retrain run")
    assert run["state"] == "succeeded", run
    assert run["params"] == {"dataset": f"{p}-train", "version": "2"}, run
    rows = c.get(f"/api/v1/datasets/{p}-train/versions/2/rows?limit=100").json()["rows"]
    assert len(rows) == 10  # the agreed labels when it started (overlap 1: every label)

    # Spans in text, boxes on images: values checked and kept in canonical order.
    sp = unique("spans")
    create(c, name=sp, dataset=name, schema={"kind": "spans", "classes": ["amount", "account"], "text_column": "text"})
    t = next_task(c, sp)
    n = len(t["text"])
    got = label(c, sp, t["id"], [{"class": "account", "start": 2, "end": 4}, {"class": "amount", "start": 0, "end": 1}])
    assert [s["start"] for s in got["value"]] == [0, 2]
    for bad in ([{"class": "amount", "start": 0, "end": n + 1}], [{"class": "amount", "start": 3, "end": 3}],
                [{"class": "date", "start": 0, "end": 1}], "amount"):
        assert_error(c.post(f"{PROJECTS}/{sp}/tasks/{t['id']}/labels", json={"value": bad}), 400)
    files = unique("imgs")
    assert c.post("/api/v1/datasets", json={"name": files, "kind": "files"}).status_code == 201
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for k in range(3):
            data = bytes([0x89, 0x50, 0x4E, 0x47]) + bytes(60)
            info = tarfile.TarInfo(f"img{k}.png")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    resp = c.post(f"/api/v1/datasets/{files}/versions", data=buf.getvalue(), headers={"Content-Type": "application/x-tar"})
    assert resp.status_code == 201, describe(resp)
    wait_ready(c, files, 1)
    bx = unique("boxes")
    create(c, name=bx, dataset=files, schema={"kind": "boxes", "classes": ["shirt", "shoe"]})
    t = next_task(c, bx)
    assert t["data"]["url"].startswith(f"/api/v1/datasets/{files}/versions/1/files/img")
    assert c.get(t["data"]["url"]).status_code == 200
    label(c, bx, t["id"], [{"class": "shoe", "x": 1, "y": 2, "w": 3, "h": 4}])
    assert_error(c.post(f"{PROJECTS}/{bx}/tasks/{t['id']}/labels", json={"value": [{"class": "shoe", "x": 1, "y": 2, "w": 0, "h": 4}]}), 400)

    # Bad projects, unknown things, permissions.
    bad = [
        ({"name": "Bad Name", "dataset": name, "schema": {"classes": ["a", "b"]}}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"classes": ["a"]}}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"classes": ["a", "a"]}}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"kind": "stars", "classes": ["a", "b"]}}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"kind": "spans", "classes": ["a", "b"]}}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"kind": "boxes", "classes": ["a", "b"]}}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"classes": ["a", "b"], "text_column": "nope"}}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"classes": ["a", "b"]}, "overlap": 0}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"classes": ["a", "b"]}, "order": "best"}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"kind": "multi", "classes": ["a", "b"]}, "order": "uncertainty"}, 400),
        ({"name": unique("x"), "dataset": name, "schema": {"classes": ["a", "b"]}, "colour": "red"}, 400),
        ({"name": unique("x"), "dataset": unique("none"), "schema": {"classes": ["a", "b"]}}, 404),
        ({"name": p, "dataset": name, "schema": {"classes": ["a", "b"]}}, 409),
    ]
    for body, status in bad:
        assert_error(c.post(PROJECTS, json=body), status)
    assert_error(c.get(f"{PROJECTS}/{unique('none')}"), 404)
    assert_error(c.get(f"{PROJECTS}/{p}/tasks/999"), 404)
    assert_error(c.post(f"{PROJECTS}/{p}/tasks/0/labels", json={"value": "not-a-class"}), 400)
    assert_error(c.post(f"{PROJECTS}/{p}/tasks/0/labels", json={"nothing": 1}), 400)
    assert_error(c.post(f"{PROJECTS}/{p}/tasks/0/review", json={"status": "maybe"}), 400)
    assert_error(c.post(f"{PROJECTS}/{p}/functions", json={"name": "f", "kind": "regex", "pattern": "(", "label": "transfer"}), 400)
    assert_error(c.post(f"{PROJECTS}/{p}/functions", json={"name": "f", "kind": "keyword", "keywords": ["x"], "label": "nope"}), 400)
    assert_error(c.post(f"{PROJECTS}/{p}/export", json={"include": "everything"}), 400)
    viewer = labelling_server.create_user(["viewer"], prefix="lview")
    assert viewer.client.get(f"{PROJECTS}/{p}").status_code == 200
    assert_error(viewer.client.get(f"{PROJECTS}/{p}/tasks/next"), 403)
    assert_error(viewer.client.post(f"{PROJECTS}/{p}/tasks/0/labels", json={"value": "transfer"}), 403)
    assert_error(viewer.client.post(PROJECTS, json={"name": unique("v"), "dataset": name, "schema": {"classes": ["a", "b"]}}), 403)
    dev = labelling_server.create_user(["developer"], prefix="ldev")
    assert dev.client.post(f"{PROJECTS}/{p}/tasks/0/review", json={"status": "accepted", "value": "transfer"}).status_code == 200
    assert c.delete(f"{PROJECTS}/{sp}").status_code == 204
    assert_error(c.get(f"{PROJECTS}/{sp}"), 404)
