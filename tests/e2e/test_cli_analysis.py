"""`aimass analysis …`: mining jobs started from the command line with -p parameters, waited for,
their results printed as tables whose numbers are the API's (rules with their items' labels,
clusters with their sizes and centres); jobs listed, shown, cancelled and deleted; bad
parameters refused with the API's message and exit code 1."""
from __future__ import annotations

import json

import pytest

from conftest import ServerFactory, unique, wait_for
from datasets_helpers import wait_ready
from test_cli import Cli

MINING = "/api/v1/analysis/mining"


@pytest.fixture(scope="module")
def analysis_server(aimass_bin, tmp_path_factory):
    factory = ServerFactory(aimass_bin, tmp_path_factory, "cli-analysis")
    yield factory()
    factory.stop_all()


@pytest.fixture
def analysis_cli(aimass_bin, tmp_path, analysis_server):
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(aimass_bin, home)
    cli.login(analysis_server)
    return cli


def upload(c, text: str) -> str:
    name = unique("cliana")
    assert c.post("/api/v1/datasets", json={"name": name}).status_code == 201
    assert c.post(f"/api/v1/datasets/{name}/versions", data=text.encode(), headers={"Content-Type": "text/csv"}).status_code == 201
    wait_ready(c, name, 1)
    return name


def test_mining_from_the_command_line(analysis_cli, analysis_server):
    c = analysis_server.admin
    # 40 baskets: bread and butter together in 30 of them, jam alone in 10.
    rows = ["basket,item,title"]
    for b in range(30):
        rows += [f"b{b},101,BREAD", f"b{b},102,BUTTER"]
    rows += [f"j{b},103,JAM" for b in range(10)]
    baskets = upload(c, "\n".join(rows))
    out = analysis_cli.run("analysis", "mine", "association_rules", "--dataset", baskets, "-p", "transaction_column=basket",
                           "-p", "item_column=item", "-p", "label_column=title", "-p", "min_support=0.2",
                           "-p", "min_confidence=0.9", timeout=60).stdout
    assert "40 transactions, 4 frequent itemsets, 2 rules" in out, out
    assert "101 (BREAD)" in out and "102 (BUTTER)" in out, out
    job = json.loads(analysis_cli.run("--json", "analysis", "jobs", "--dataset", baskets).stdout)[0]
    api = c.get(f"{MINING}/{job['id']}").json()
    lift = api["result"]["rules"][0]["lift"]
    assert f"{lift:.10g}" in out, (lift, out)  # the table's lift is the API's
    assert job["kind"] == "association_rules" and job["state"] == "succeeded"
    shown = analysis_cli.run("analysis", "show", str(job["id"])).stdout
    assert "40 transactions" in shown

    points = upload(c, "x,y\n" + "\n".join(f"{i % 5},{i % 3}" for i in range(20)) + "\n" +
                    "\n".join(f"{100 + i % 5},{100 + i % 3}" for i in range(20)))
    out = analysis_cli.run("analysis", "mine", "kmeans", "--dataset", points, "-p", "k=2", "-p", "columns=x,y",
                           "-p", "n_init=3", timeout=60).stdout
    assert "CENTRE (x,y)" in out and " 20 " in out, out
    assert "102 100.95" in out and "2 0.95" in out, out  # the centres: the means of the two groups

    # Parameters as JSON, a job not waited for, then cancelled or already done; deleted.
    queued = json.loads(analysis_cli.run("--json", "analysis", "mine", "outliers", "--dataset", points, "--params",
                                         '{"trees": 5, "top": 3}', "--no-wait").stdout)
    assert queued["state"] == "queued" and queued["params"]["trees"] == 5
    wait_for(lambda: c.get(f"{MINING}/{queued['id']}").json()["state"] == "succeeded", 60, "the outliers job")
    res = analysis_cli.run("analysis", "cancel", str(queued["id"]), expect=1)
    assert "succeeded, not queued or running" in res.stderr, res.stderr
    assert f"Job {queued['id']} deleted" in analysis_cli.run("analysis", "delete", str(queued["id"])).stdout
    assert c.get(f"{MINING}/{queued['id']}").status_code == 404

    # Bad parameters: the API's message, exit 1; a failing job exits 1 with its reason.
    res = analysis_cli.run("analysis", "mine", "kmeans", "--dataset", points, "-p", "k=0", expect=1)
    assert "params.k must be between 1 and 10000" in res.stderr, res.stderr
    res = analysis_cli.run("analysis", "mine", "kmeans", "--dataset", points, "-p", "k", expect=1)
    assert "-p takes name=value" in res.stderr, res.stderr
    res = analysis_cli.run("analysis", "mine", "kmeans", "--dataset", points, "-p", "k=100", expect=1, timeout=60)
    assert "the job failed: k (100) is more than the points (40)" in res.stderr, res.stderr


def test_labelling_from_the_command_line(analysis_cli, analysis_server):
    c = analysis_server.admin
    texts = upload(c, "text\nmy card was stolen\nwhat is my balance\nsomeone used my card\nhow much money do i have")
    name = unique("clilab")
    out = analysis_cli.run("label", "create", name, "--dataset", texts, "--classes", "fraud,balance", "--text-column", "text").stdout
    assert f"Project {name} created: 4 items" in out, out
    truth = {"my card was stolen": "fraud", "what is my balance": "balance", "someone used my card": "fraud",
             "how much money do i have": "balance"}
    for _ in range(4):
        task = json.loads(analysis_cli.run("--json", "label", "next", name).stdout)
        out = analysis_cli.run("label", "annotate", name, str(task["id"]), truth[task["text"]]).stdout
        assert f"Task {task['id']} labelled {truth[task['text']]}" in out, out
    assert "No task left for you" in analysis_cli.run("label", "next", name).stdout
    res = analysis_cli.run("label", "annotate", name, "0", "weather", expect=1)
    assert "'weather' is not a class of this project" in res.stderr, res.stderr
    assert "4 tasks accepted" in analysis_cli.run("label", "accept", name).stdout
    out = analysis_cli.run("label", "export", name).stdout
    assert f"Exported 4 labels to {name}-labels version 1" in out, out
    rows = wait_for(lambda: (r := c.get(f"/api/v1/datasets/{name}-labels/versions/1/rows")).status_code == 200 and r.json()["rows"], 30,
                    "the exported labels")
    assert {r["text"]: r["label"] for r in rows} == truth
    listed = json.loads(analysis_cli.run("--json", "label", "projects").stdout)
    assert any(p["name"] == name and p["items"] == 4 for p in listed)
    assert "Fleiss' kappa -" in analysis_cli.run("label", "agreement", name).stdout  # one annotator: nothing to compare
    assert f"Project {name} deleted" in analysis_cli.run("label", "delete", name).stdout
