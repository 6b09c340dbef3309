"""The churn model of a behaviour project: persons of a synthetic product whose activity fades
before they leave, some labelled `churned` by a person property; the model is trained through
a pipeline (its features a dataset version, train.xgboost, register), every person scored and
the probability written back; its ROC AUC on the persons held out of training is computed here
from the written scores and compared with what the platform reports, and it must beat a
baseline that ranks by recency alone."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from conftest import assert_error, unique, wait_for
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)

BASE = "/api/v1/behavior"
CUT = datetime(2024, 6, 30, tzinfo=timezone.utc)


def fnv1a(s: str) -> int:
    h = 1469598103934665603
    for b in s.encode():
        h ^= b
        h = (h * 1099511628211) % (1 << 64)
    return h


def held_out(distinct_id: str) -> bool:
    return fnv1a(distinct_id) % 5 == 0


def auc(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def population(n: int, seed: int = 5):
    """Persons active for 90 days before the cut; a churner's activity drops to a fifth over
    its last weeks (from its own day on), a stayer's goes on (some are simply rare users)."""
    rng = random.Random(seed)
    events, labels = [], {}
    for p in range(n):
        pid = f"user-{p}"
        churned = rng.random() < 0.4
        rate = rng.uniform(0.05, 1.2)  # events a day
        fade_at = rng.uniform(10, 45) if churned else None  # days before the cut
        for day in range(90, 0, -1):
            r = rate
            if churned and day < fade_at:
                r *= 0.2  # fading, not gone: recency alone does not tell
            for _ in range(sum(rng.random() < r / 3 for _ in range(3))):
                t = CUT - timedelta(days=day, seconds=rng.randrange(86400))
                events.append({"event": rng.choice(["open", "open", "search", "view", "buy"]), "distinct_id": pid,
                               "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ")})
        if rng.random() < 0.8:
            labels[pid] = churned
    return events, labels


def test_churn_model_trained_through_a_pipeline_scores_every_person(server, admin_cli):
    a = server.admin
    project = unique("churn").replace(".", "-").lower()
    assert a.post(f"{BASE}/projects", json={"name": project}).status_code == 201
    events, labels = population(600)
    for at in range(0, len(events), 5000):
        assert a.post(f"{BASE}/{project}/capture", json={"batch": events[at:at + 5000]}).status_code == 200
    # Too few labels yet: refused with the count.
    assert_error(a.post(f"{BASE}/{project}/models/churn", json={"label_property": "churned", "date_to": "2024-06-29"}),
                 400, "bad_request")
    labelled = [{"event": "$set", "distinct_id": pid, "timestamp": "2024-07-15T00:00:00Z",
                 "properties": {"$set": {"churned": "yes" if churned else False}}} for pid, churned in labels.items()]
    assert a.post(f"{BASE}/{project}/capture", json={"batch": labelled}).status_code == 200

    resp = a.post(f"{BASE}/{project}/models/churn", json={"label_property": "churned", "date_to": "2024-06-29", "num_round": 60})
    assert resp.status_code == 202, resp.text
    started = resp.json()
    assert started["state"] in ("preparing", "training") and started["dataset"] == f"churn-{project}"
    assert started["labelled"] + started["held_out"] == len(labels)
    assert_error(a.post(f"{BASE}/{project}/models/churn", json={"label_property": "churned"}), 409, "conflict")

    def done():
        got = a.get(f"{BASE}/{project}/models/churn").json()
        return got if got["state"] in ("scored", "failed") else None
    model = wait_for(done, 900, "the churn model scored")
    assert model["state"] == "scored", model.get("error")
    assert model["scored"] == 600 and isinstance(model["model_version"], int) and model["pipeline_run"] > 0
    assert a.get(f"/api/v1/models/churn-{project}/versions/{model['model_version']}").status_code == 200
    version = a.get(f"/api/v1/datasets/churn-{project}/versions/{model['version']}").json()
    assert version["row_count"] == started["labelled"]
    assert "distinct_id" in [c["name"] for c in version["schema"]] and "label" in [c["name"] for c in version["schema"]]

    # Every person has the probability, labelled or not.
    persons = a.get(f"{BASE}/{project}/persons", params={"limit": 10000}).json()["persons"]
    prob = {p["distinct_id"]: p["properties"].get("churn_probability") for p in persons}
    assert len(prob) == 600 and all(isinstance(v, float) and 0 <= v <= 1 for v in prob.values())
    # The held-out persons' AUC, from the written scores, is the reported one and beats ranking
    # by recency alone.
    held = [pid for pid in labels if held_out(pid)]
    y = [int(labels[pid]) for pid in held]
    model_auc = auc([prob[pid] for pid in held], y)
    assert abs(model_auc - model["holdout_auc"]) < 1e-3, (model_auc, model["holdout_auc"])
    last = {}
    for e in events:
        last[e["distinct_id"]] = max(last.get(e["distinct_id"], ""), e["timestamp"])
    baseline = auc([(CUT - datetime.strptime(last.get(pid, "2000-01-01T00:00:00Z"), "%Y-%m-%dT%H:%M:%SZ")
                     .replace(tzinfo=timezone.utc)).total_seconds() for pid in held], y)
    print(f"held-out persons {len(held)}: model AUC {model_auc:.3f}, recency baseline {baseline:.3f}")
    assert model_auc >= 0.85 and model_auc >= baseline + 0.05, (model_auc, baseline)
    out = admin_cli.run("behavior", "churn", project).stdout
    assert f"Churn model of {project}: scored, version {model['model_version']}, 600 persons scored as churn_probability" in out, out
    # The probability is a person property like any other: a filter.
    risky = a.post(f"{BASE}/{project}/insights/trends", json={
        "event": "open", "math": "unique", "interval": "month", "date_from": "2024-03-01", "date_to": "2024-06-30",
        "filters": [{"type": "person", "key": "churn_probability", "operator": "gt", "value": 0.5}]}).json()
    assert 0 < risky["series"][0]["total"] < 600
