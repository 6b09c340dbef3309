"""Pipelines, black-box, with command steps run as jobs on the local cluster: a DAG with
outputs passed on, foreach fan-out and a `when` that skips; every unchanged step served from
the cache on the next run, saying from which run; a step that fails once and is retried; a
failed run resumed from its failed step; cancel; schedules through the scheduler; bad specs
and who may do what."""
from __future__ import annotations

import json
import time

from conftest import assert_error, describe, unique, wait_for
from test_events import read_events  # noqa: F401

PIPELINES = "/api/v1/pipelines"
RUNS = "/api/v1/pipeline-runs"
FINAL = ("succeeded", "failed", "cancelled")


def create(client, spec: dict | str, status: int = 201):
    if isinstance(spec, dict):
        resp = client.post(PIPELINES, json=spec)
    else:
        resp = client.post(PIPELINES, data=spec, headers={"Content-Type": "application/yaml"})
    assert resp.status_code == status, describe(resp)
    return resp.json()


def start(client, name: str, **params) -> dict:
    resp = client.post(f"{PIPELINES}/{name}/runs", json={"params": params} if params else {})
    assert resp.status_code == 201, describe(resp)
    return resp.json()


def wait_run(client, run_id: int, states=FINAL, timeout: float = 90.0) -> dict:
    def done():
        r = client.get(f"{RUNS}/{run_id}").json()
        return r if r["state"] in states else None
    return wait_for(done, timeout, f"pipeline run {run_id} to reach {states}")


def steps(run: dict) -> dict[str, dict]:
    return {s["name"]: s for s in run["steps"]}


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def dag_yaml(name: str, marker: str) -> str:
    # prepare → train (one per lr) → pick; flaky fails its first attempt (a marker file on the
    # host, so unsandboxed); report only when a param says so.
    return f"""
name: {name}
description: a DAG of command steps
params:
  lrs: [0.1, 0.01, 0.001]
  report: false
steps:
  - name: prepare
    command: ["sh", "-c", "echo preparing; echo ::aimass-output rows=120; echo '::aimass-output split={{\\"train\\": 100, \\"test\\": 20}}'"]
  - name: train
    needs: [prepare]
    foreach: "${{{{ params.lrs }}}}"
    command: ["sh", "-c", "echo ::aimass-output score=$(awk 'BEGIN{{print 1 - ${{{{ item }}}}}}'); echo rows=${{{{ steps.prepare.outputs.rows }}}}"]
  - name: pick
    needs: [train]
    command: ["sh", "-c", "echo ::aimass-output best=${{{{ steps.train.outputs[0].score }}}}; echo ::aimass-output n=${{{{ steps.prepare.outputs.split.test }}}}"]
  - name: flaky
    needs: [prepare]
    sandbox: false
    retries: 2
    retry_backoff_s: 0.2
    command: ["sh", "-c", "test -f {marker} || {{ touch {marker}; echo failing once; exit 3; }}; echo ok"]
  - name: report
    needs: [pick, flaky]
    when: params.report == true
    command: ["echo", "report"]
"""


def test_a_dag_runs_with_outputs_foreach_retries_when_and_then_from_the_cache(server, tmp_path):
    a = server.admin
    name = unique("dag")
    marker = tmp_path / "flaky-marker"
    p = create(a, dag_yaml(name, marker))
    assert p["name"] == name and p["revision"] == 1 and [s["name"] for s in p["spec"]["steps"]] == \
        ["prepare", "train", "pick", "flaky", "report"]

    first = wait_run(a, start(a, name)["id"])
    assert first["state"] == "succeeded", json.dumps(first, indent=1)
    s = steps(first)
    assert [x["name"] for x in first["steps"]] == ["prepare", "train[0]", "train[1]", "train[2]", "pick", "flaky", "report"]
    assert s["prepare"]["outputs"] == {"rows": 120, "split": {"train": 100, "test": 20}}
    assert [s[f"train[{i}]"]["item"] for i in range(3)] == [0.1, 0.01, 0.001]
    assert [round(s[f"train[{i}]"]["outputs"]["score"], 3) for i in range(3)] == [0.9, 0.99, 0.999]
    assert s["pick"]["outputs"] == {"best": 0.9, "n": 20}
    assert s["flaky"]["attempts"] == 2 and len(s["flaky"]["jobs"]) == 2 and s["flaky"]["state"] == "succeeded"
    assert s["report"]["state"] == "skipped" and "false" in s["report"]["reason"]
    assert all(not x["cached"] for x in first["steps"])
    log = a.get(f"{RUNS}/{first['id']}/steps/train[1]/logs")
    assert log.status_code == 200 and "rows=120" in log.text, describe(log)
    job = a.get(f"/api/v1/jobs/{s['prepare']['job']}").json()
    assert job["labels"] == {"pipeline": name, "pipeline_run": str(first["id"]), "step": "prepare"}, job

    # Nothing changed: every step that ran comes from the cache, naming the run that made it.
    second = wait_run(a, start(a, name)["id"])
    assert second["state"] == "succeeded"
    for x in second["steps"]:
        if x["name"] == "report":
            assert x["state"] == "skipped"
            continue
        assert x["cached"] is True and x["cached_from_run"] == first["id"] and x["job"] is None, x
        assert x["outputs"] == s[x["name"]]["outputs"]
    # A changed param changes what depends on it, and only that.
    third = wait_run(a, start(a, name, lrs=[0.1, 0.5], report=True)["id"])
    t = steps(third)
    assert third["state"] == "succeeded", json.dumps(third, indent=1)
    assert t["prepare"]["cached"] and t["flaky"]["cached"] and t["train[0]"]["cached"]
    assert not t["train[1]"]["cached"] and round(t["train[1]"]["outputs"]["score"], 3) == 0.5
    assert t["pick"]["cached"]  # train[0]'s score and prepare's split did not change
    assert t["report"]["state"] == "succeeded" and not t["report"]["cached"]
    runs = a.get(f"{PIPELINES}/{name}/runs").json()["runs"]
    assert [r["id"] for r in runs] == [third["id"], second["id"], first["id"]]


def test_a_failed_run_is_resumed_from_its_failed_step(server, tmp_path):
    a = server.admin
    name = unique("resume")
    gate = tmp_path / "gate"
    spec = {"name": name, "steps": [
        {"name": "one", "command": sh("echo ::aimass-output v=1")},
        {"name": "two", "needs": ["one"], "sandbox": False,
         "command": sh(f"test -f {gate} || exit 7; echo ::aimass-output v=2")},
        {"name": "three", "needs": ["two"], "command": sh("echo ::aimass-output v=${{ steps.two.outputs.v }}3")},
    ]}
    create(a, spec)
    failed = wait_run(a, start(a, name)["id"])
    f = steps(failed)
    assert failed["state"] == "failed" and "step 'two' failed" in failed["reason"], failed
    assert f["two"]["state"] == "failed" and "exit code 7" in f["two"]["reason"]
    assert f["three"]["state"] == "skipped" and "two" in f["three"]["reason"]
    gate.write_text("open")
    resp = a.post(f"{RUNS}/{failed['id']}/resume", json={})
    assert resp.status_code == 201, describe(resp)
    resumed = wait_run(a, resp.json()["id"])
    r = steps(resumed)
    assert resumed["state"] == "succeeded" and resumed["resumed_from"] == failed["id"] and resumed["trigger"] == "resume"
    assert r["one"]["cached"] and r["one"]["cached_from_run"] == failed["id"] and r["one"]["job"] is None
    assert not r["two"]["cached"] and r["two"]["outputs"] == {"v": 2}
    assert r["three"]["outputs"] == {"v": 23}
    # Only a failed or cancelled run can be resumed.
    assert_error(a.post(f"{RUNS}/{resumed['id']}/resume", json={}), 409, "conflict")


def test_cancel_stops_the_jobs_of_a_run(server):
    a = server.admin
    name = unique("cancel")
    create(a, {"name": name, "steps": [{"name": "slow", "command": ["sleep", "120"], "cache": False},
                                       {"name": "after", "needs": ["slow"], "command": ["true"]}]})
    run = start(a, name)
    wait_for(lambda: steps(a.get(f"{RUNS}/{run['id']}").json()).get("slow", {}).get("state") == "running", 30,
             "the slow step to run")
    resp = a.post(f"{RUNS}/{run['id']}/cancel", json={})
    assert resp.status_code == 200, describe(resp)
    done = wait_run(a, run["id"])
    assert done["state"] == "cancelled"
    slow = steps(done)["slow"]
    assert slow["state"] == "cancelled"
    wait_for(lambda: a.get(f"/api/v1/jobs/{slow['job']}").json()["state"] == "cancelled", 30, "the job cancelled")
    assert "after" not in steps(done)
    assert_error(a.post(f"{RUNS}/{run['id']}/cancel", json={}), 409, "conflict")


def test_a_schedule_is_a_cron_job_and_goes_with_its_pipeline(server):
    a = server.admin
    name = unique("sched")
    create(a, {"name": name, "schedule": "0 3 * * *", "time_zone": "Europe/Berlin",
               "steps": [{"name": "s", "command": ["true"]}]})
    cron = a.get(f"/api/v1/cron/pipeline-{name}")
    assert cron.status_code == 200, describe(cron)
    assert cron.json()["schedule"] == "0 3 * * *" and cron.json()["target"]["path"] == f"/api/v1/pipelines/{name}/runs"
    # Replacing the spec without a schedule removes the cron job.
    resp = a.put(f"{PIPELINES}/{name}", json={"name": name, "steps": [{"name": "s", "command": ["true"]}]})
    assert resp.status_code == 200 and resp.json()["revision"] == 2, describe(resp)
    assert_error(a.get(f"/api/v1/cron/pipeline-{name}"), 404, "not_found")
    resp = a.put(f"{PIPELINES}/{name}", json={"name": name, "schedule": "@hourly", "steps": [{"name": "s", "command": ["true"]}]})
    assert resp.status_code == 200
    assert a.get(f"/api/v1/cron/pipeline-{name}").status_code == 200
    assert a.delete(f"{PIPELINES}/{name}").status_code == 204
    assert_error(a.get(f"/api/v1/cron/pipeline-{name}"), 404, "not_found")
    assert_error(a.get(f"{PIPELINES}/{name}"), 404, "not_found")


def test_bad_specs_are_refused_with_what_is_wrong(server):
    a = server.admin
    ok_step = {"name": "a", "command": ["true"]}
    cases = [
        ({"name": "Bad Name", "steps": [ok_step]}, "pipeline name"),
        ({"name": unique("p"), "steps": []}, "steps"),
        ({"name": unique("p"), "steps": [ok_step, ok_step]}, "two steps"),
        ({"name": unique("p"), "steps": [{"name": "a", "uses": "train.magic"}]}, "unknown step"),
        ({"name": unique("p"), "steps": [{"name": "a"}]}, "needs 'command'"),
        ({"name": unique("p"), "steps": [{"name": "a", "command": ["true"], "needs": ["ghost"]}]}, "ghost"),
        ({"name": unique("p"), "steps": [{"name": "a", "command": ["true"], "needs": ["b"]},
                                         {"name": "b", "command": ["true"], "needs": ["a"]}]}, "cycle"),
        ({"name": unique("p"), "steps": [ok_step, {"name": "b", "command": ["echo", "${{ steps.a.outputs.x }}"]}]},
         "does not need it"),
        ({"name": unique("p"), "steps": [{"name": "a", "command": ["true"], "retries": 99}]}, "retries"),
        ({"name": unique("p"), "steps": [{"name": "a", "command": ["true"], "colour": "red"}]}, "colour"),
        ({"name": unique("p"), "steps": [{"name": "a", "uses": "dataset.split", "command": ["true"]}]}, "takes 'with'"),
    ]
    for spec, words in cases:
        resp = a.post(PIPELINES, json=spec)
        assert_error(resp, 400, "bad_request")
        assert words in resp.json()["error"]["message"], (words, resp.json())
    resp = a.post(PIPELINES, data="name: [unclosed", headers={"Content-Type": "application/yaml"})
    assert_error(resp, 400, "bad_request")
    assert "YAML" in resp.json()["error"]["message"]
    name = unique("p")
    create(a, {"name": name, "params": {"x": 1}, "steps": [ok_step]})
    assert_error(a.post(f"{PIPELINES}/{name}/runs", json={"params": {"y": 2}}), 400, "bad_request")
    assert_error(a.post(PIPELINES, json={"name": name, "steps": [ok_step]}), 409, "conflict")
    assert_error(a.get(f"{RUNS}/999999"), 404, "not_found")
    assert_error(a.get(f"{RUNS}/x"), 400, "bad_request")
    # A template that cannot be resolved fails its step with the reason, not the server.
    bad = unique("p")
    create(a, {"name": bad, "steps": [{"name": "a", "command": ["echo", "${{ params.nothing }}"]}]})
    run = wait_run(a, start(a, bad)["id"])
    assert run["state"] == "failed" and "params.nothing" in steps(run)["a"]["reason"], run


def test_who_may_do_what(server):
    a = server.admin
    name = unique("rbac")
    create(a, {"name": name, "steps": [{"name": "a", "command": ["true"]}]})
    viewer = server.create_user(["viewer"]).client
    dev = server.create_user(["developer"]).client
    assert viewer.get(f"{PIPELINES}/{name}").status_code == 200
    assert_error(viewer.post(f"{PIPELINES}/{name}/runs", json={}), 403, "forbidden")
    assert_error(viewer.post(PIPELINES, json={"name": unique("p"), "steps": [{"name": "a", "command": ["true"]}]}),
                 403, "forbidden")
    # A developer may not take a step out of the sandbox or onto the network.
    for extra in ({"sandbox": False}, {"network": True}):
        spec = {"name": unique("p"), "steps": [{"name": "a", "command": ["true"], **extra}]}
        assert_error(dev.post(PIPELINES, json=spec), 403, "forbidden")
    run = dev.post(f"{PIPELINES}/{name}/runs", json={})
    assert run.status_code == 201, describe(run)
    done = wait_run(a, run.json()["id"])
    assert done["state"] == "succeeded" and done["owner"] != "admin"
    assert_error(server.anonymous.get(PIPELINES), 401)


def test_kill_9_in_the_middle_of_a_run_and_it_goes_on(make_server):
    srv = make_server()
    a = srv.admin
    name = unique("crash")
    create(a, {"name": name, "steps": [
        {"name": "slow", "command": sh("sleep 3; echo ::aimass-output v=1")},
        {"name": "after", "needs": ["slow"], "command": sh("echo ::aimass-output w=${{ steps.slow.outputs.v }}2")},
    ]})
    run = start(a, name)
    wait_for(lambda: steps(a.get(f"{RUNS}/{run['id']}").json()).get("slow", {}).get("state") == "running", 30,
             "the slow step to run")
    srv.proc.kill()
    srv.wait_exit(10)
    again = make_server(data_dir=srv.data_dir)
    done = wait_run(again.admin, run["id"])
    assert done["state"] == "succeeded", json.dumps(done, indent=1)
    s = steps(done)
    assert s["after"]["outputs"] == {"w": 12}
    # The slow step's job was adopted (or, lost with its process, retried by the cluster):
    # either way one step row and one attempt of the pipeline's.
    assert s["slow"]["attempts"] == 1 and s["slow"]["outputs"] == {"v": 1}
