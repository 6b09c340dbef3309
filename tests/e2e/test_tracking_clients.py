"""Experiment tracking from the two clients users reach for: the Python SDK (a run that batches
what it logs, ends itself, samples system metrics) and `aimass experiment|run …`."""
from __future__ import annotations

import json
import sys
import time

import pytest

from conftest import ADMIN_PASSWORD, REPO_ROOT, unique
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from test_cli_mq import row_of, table

sys.path.insert(0, str(REPO_ROOT / "sdk" / "python"))
from aimass import AimassError, Client  # noqa: E402


@pytest.fixture
def client(server) -> Client:
    c = Client(server.url)
    c.login("admin", ADMIN_PASSWORD)
    return c


def test_sdk_run_batches_metrics_ends_itself_and_samples_the_system(client, tmp_path):
    exp = unique("sdkexp")  # created by start_run, as mlflow.set_experiment would
    with client.start_run(exp, name="sdk", params={"lr": 0.01, "layers": 3}, system_metrics=True,
                          system_metrics_interval_s=0.2) as run:
        run.flush_every = 250
        for step in range(1000):
            run.log_metrics({"loss": 1.0 / (step + 1), "accuracy": step / 1000}, step=step)
        run.set_tags({"stage": "dev"})
        run.log_input("fmnist", 2)
        (tmp_path / "notes.txt").write_text("trained")
        run.log_artifact(tmp_path / "notes.txt", "reports/notes.txt")
        time.sleep(0.5)  # a few samples of the machine
    info = client.get_run(run.id)
    assert info["status"] == "succeeded" and info["end_time"]
    assert info["params"] == {"lr": "0.01", "layers": "3"} and info["tags"] == {"stage": "dev"}
    assert info["inputs"] == [{"dataset": "fmnist", "version": 2}]
    history = client.metric_history(run.id, "loss")
    assert [p["step"] for p in history] == list(range(1000))
    assert history[-1]["value"] == pytest.approx(1 / 1000)
    cpu = client.metric_history(run.id, "system/cpu_utilization_percentage")
    assert len(cpu) >= 2 and all(0 <= p["value"] <= 100 for p in cpu)
    mem = info["metrics"]["system/system_memory_usage_megabytes"]
    assert mem["value"] > 0
    assert client.download_artifact(run.id, "reports/notes.txt") == b"trained"
    # A block that raises ends its run failed.
    with pytest.raises(RuntimeError):
        with client.start_run(exp) as failing:
            failing.log_metric("loss", 9)
            raise RuntimeError("diverged")
    assert client.get_run(failing.id)["status"] == "failed"
    found = client.search_runs(exp, filter="params.lr = '0.01' AND metrics.accuracy > 0.9")
    assert [r["id"] for r in found] == [run.id]
    compared = client.compare_runs([run.id, failing.id])
    assert next(m for m in compared["metrics"] if m["key"] == "loss")["best_run"] == run.id
    with pytest.raises(AimassError) as e:
        client.start_run(unique("nope"), create_experiment=False)
    assert e.value.status == 404 and e.value.code == "not_found"
    client.delete_run(failing.id)
    assert [r["id"] for r in client.search_runs(exp)] == [run.id]


def test_runs_from_the_command_line(admin_cli, tmp_path):
    exp = unique("cliexp")
    admin_cli.run("experiment", "create", exp, "-d", "from the shell")
    ids = []
    for lr, acc in (("0.1", 0.7), ("0.01", 0.9), ("0.001", 0.8)):
        rid = int(admin_cli.run("run", "start", "-e", exp, "--name", f"lr-{lr}", "-p", f"lr={lr}", "-p", "opt=sgd")
                  .stdout.strip())
        for step in range(3):
            admin_cli.run("run", "log", str(rid), "-m", f"accuracy={acc - 0.1 * (2 - step):.2f}",
                          "-m", f"loss={1 - acc:.2f}", "--step", str(step))
        admin_cli.run("run", "end", str(rid))
        ids.append(rid)
    assert row_of(admin_cli.run("experiment", "list").stdout, exp)["RUNS"] == "3"

    out = admin_cli.run("run", "list", "-e", exp, "-f", "metrics.accuracy >= 0.8", "-o", "metrics.accuracy desc",
                        "-c", "params.lr,metrics.accuracy").stdout
    header, rows = table(out)
    assert header == ["ID", "NAME", "EXPERIMENT", "STATUS", "STARTED", "params.lr", "metrics.accuracy"], out
    assert [(r[0], r[5], r[6]) for r in rows] == [(str(ids[1]), "0.01", "0.9"), (str(ids[2]), "0.001", "0.8")], out
    assert row_of(out, str(ids[1]))["STATUS"] == "succeeded"

    compared = admin_cli.run("run", "compare", *map(str, ids)).stdout
    header, rows = table(compared)
    lr = next(r for r in rows if r[:2] == ["*", "params.lr"])
    assert lr[2:] == ["0.1", "0.01", "0.001"], compared
    assert next(r for r in rows if r[0] == "params.opt")[1:] == ["sgd", "sgd", "sgd"], compared
    best = next(r for r in rows if r[0] == "metrics.accuracy (max)")
    assert best[1:] == ["0.7", "0.9 *", "0.8"], compared
    assert admin_cli.json("run", "compare", str(ids[0]), str(ids[1]))["params"][0]["differs"] is True

    history = admin_cli.json("run", "history", str(ids[1]), "accuracy")
    assert [(p["step"], p["value"]) for p in history] == [(0, 0.7), (1, 0.8), (2, 0.9)]
    shown = admin_cli.json("run", "show", str(ids[1]))
    assert shown["params"] == {"lr": "0.01", "opt": "sgd"} and shown["metrics"]["loss"]["value"] == 0.1

    f = tmp_path / "confusion.json"
    f.write_text(json.dumps([[9, 1], [2, 8]]))
    assert "Stored eval/confusion.json" in admin_cli.run("run", "upload", str(ids[1]), str(f), "--path",
                                                        "eval/confusion.json").stdout
    assert row_of(admin_cli.run("run", "artifacts", str(ids[1])).stdout, "eval/confusion.json")["SIZE"] == \
        str(f.stat().st_size)
    got = tmp_path / "got.json"
    admin_cli.run("run", "download", str(ids[1]), "eval/confusion.json", "-o", str(got))
    assert json.loads(got.read_text()) == [[9, 1], [2, 8]]

    bad = admin_cli.run("run", "log", str(ids[0]), "-p", "lr=0.5", expect=1)
    assert "params cannot change" in bad.stderr
    assert admin_cli.run("run", "list", "-f", "params.lr >", expect=1).stderr.startswith("error: bad_request: filter, at 11")
    assert admin_cli.run("run", "log", str(ids[0]), "-m", "accuracy=high", expect=1).returncode == 1
    admin_cli.run("run", "delete", str(ids[0]))
    assert "not found" in admin_cli.run("run", "show", str(ids[0]), expect=1).stderr
    admin_cli.run("experiment", "delete", exp)
    assert "not found" in admin_cli.run("experiment", "show", exp, expect=1).stderr
