"""Jobs on the compute cluster, black-box: the local node's inventory; jobs that succeed, fail,
time out, are cancelled (with their whole process tree), exceed their memory, retry; logs
whole, in ranges and followed; the bubblewrap sandbox (read-only system, no data directory,
no network); who may do what; quotas and priorities; declared GPUs assigned whole or shared;
drain; events; and a restart of aimass in the middle of jobs (adopted, or node_lost and
retried)."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import assert_error, describe, unique, wait_for
from test_events import read_events

FINAL = ("succeeded", "failed", "cancelled", "timed_out")


def submit(client, **spec):
    resp = client.post("/api/v1/jobs", json=spec)
    assert resp.status_code == 201, describe(resp)
    job = resp.json()
    assert job["state"] == "queued" and resp.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    return job


def get(client, job_id):
    resp = client.get(f"/api/v1/jobs/{job_id}")
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def wait_state(client, job_id, states=FINAL, timeout=30.0):
    return wait_for(lambda: (j := get(client, job_id))["state"] in states and j, timeout,
                    f"job {job_id} to reach {states}")


def logs(client, job_id, **params):
    resp = client.get(f"/api/v1/jobs/{job_id}/logs", params=params)
    assert resp.status_code == 200, describe(resp)
    return resp.text


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # gone with its parent meanwhile
            pass


def alive(marker: str) -> list[int]:
    """Processes whose command line holds `marker`."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            pids.append(int(d.name))
    return pids


def test_the_local_machine_is_a_node(server):
    resp = server.admin.get("/api/v1/cluster/nodes")
    assert resp.status_code == 200, describe(resp)
    nodes = resp.json()["nodes"]
    assert len(nodes) == 1
    n = nodes[0]
    assert n["state"] == "ready" and n["cpus"] == len(os.sched_getaffinity(0))
    assert n["memory_mb"] > 1000 and n["gpus"] == [] and n["url"] == server.url
    assert n["limits"] in ("cgroup-v2", "cgroup-v1", "rlimit") and n["sandbox"] is True
    assert server.admin.get(f"/api/v1/cluster/nodes/{n['name']}").json()["name"] == n["name"]
    assert_error(server.admin.get("/api/v1/cluster/nodes/nope"), 404, "not_found")


def test_a_job_runs_and_its_output_is_its_log(server):
    job = submit(server.admin, name="hello", command=["sh", "-c", "echo out; echo err >&2; echo $AIMASS_JOB_ID"])
    done = wait_state(server.admin, job["id"])
    assert done["state"] == "succeeded" and done["exit_code"] == 0 and done["attempts"] == 1
    assert done["node"] and done["started_at"] and done["finished_at"] and done["name"] == "hello"
    assert logs(server.admin, job["id"]) == f"out\nerr\n{job['id']}\n"
    # A range, by query and by Range header.
    resp = server.admin.get(f"/api/v1/jobs/{job['id']}/logs", params={"offset": 4, "limit": 3})
    assert resp.text == "err" and resp.headers["X-Next-Offset"] == "7"
    resp = server.admin.get(f"/api/v1/jobs/{job['id']}/logs", headers={"Range": "bytes=0-2"})
    assert resp.status_code == 206 and resp.text == "out"


def test_failure_exit_code_and_retries(server):
    job = submit(server.admin, command=["sh", "-c", "echo try; exit 3"], retries=2)
    done = wait_state(server.admin, job["id"])
    assert done["state"] == "failed" and done["exit_code"] == 3 and done["reason"] == "exit status 3"
    assert done["attempts"] == 3
    text = logs(server.admin, job["id"])
    assert text.count("try\n") == 3 and "--- attempt 3" in text
    # A retry that succeeds ends the job as succeeded.
    marker = f"/job/flag"
    job = submit(server.admin, command=["sh", "-c", f"test -e {marker} && exit 0; touch {marker}; exit 1"], retries=1)
    done = wait_state(server.admin, job["id"])
    assert done["state"] == "succeeded" and done["attempts"] == 2
    # A command that does not exist fails (bubblewrap's exit 1; the shell's 127 outside it).
    done = wait_state(server.admin, submit(server.admin, command=["no-such-command-here"])["id"])
    assert done["state"] == "failed" and done["exit_code"] == 1
    assert "no-such-command-here" in logs(server.admin, done["id"])
    done = wait_state(server.admin, submit(server.admin, command=["no-such-command-here"], sandbox=False)["id"])
    assert done["state"] == "failed" and done["exit_code"] == 127


def test_timeout_kills_the_job(server):
    marker = unique("tmo")
    job = submit(server.admin, command=["sh", "-c", f"sleep 60 # {marker}"], timeout_s=1, retries=0)
    done = wait_state(server.admin, job["id"], timeout=20)
    assert done["state"] == "timed_out" and done["reason"] == "timeout"
    assert wait_for(lambda: not alive(marker), 10, "the timed-out job's processes to go")


def test_cancel_kills_the_whole_process_tree(server):
    marker = unique("tree")
    # A background child, and one in its own session (out of the process group).
    cmd = f"sleep 300 & setsid sleep 301 & echo started; sleep 302 # {marker}"
    job = submit(server.admin, command=["sh", "-c", cmd + f"; : {marker}"], sandbox=False)
    wait_for(lambda: logs(server.admin, job["id"]) == "started\n", 10, "the job to start")
    assert alive("sleep 30")
    resp = server.admin.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert resp.status_code == 200, describe(resp)
    done = wait_state(server.admin, job["id"])
    assert done["state"] == "cancelled" and done["reason"] == "cancelled"
    node = server.admin.get("/api/v1/cluster/nodes").json()["nodes"][0]
    if node["limits"].startswith("cgroup"):
        # The cgroup holds even the process that left the group with setsid.
        assert wait_for(lambda: not [p for p in alive("sleep 30") if p], 10, "every process of the job to go")
    # Cancelling again, or a finished job, changes nothing.
    assert server.admin.post(f"/api/v1/jobs/{job['id']}/cancel").json()["state"] == "cancelled"
    # A queued job (on a drained node) is cancelled at once.
    assert server.admin.post(f"/api/v1/cluster/nodes/{node['name']}/drain").status_code == 200
    try:
        waiting = submit(server.admin, command=["true"])
        assert server.admin.post(f"/api/v1/jobs/{waiting['id']}/cancel").json()["state"] == "cancelled"
    finally:
        assert server.admin.post(f"/api/v1/cluster/nodes/{node['name']}/undrain").status_code == 200
    time.sleep(0.5)
    assert get(server.admin, waiting["id"])["attempts"] == 0


def test_memory_limit_is_enforced(server):
    node = server.admin.get("/api/v1/cluster/nodes").json()["nodes"][0]
    job = submit(server.admin, command=["python3", "-c", "b = bytearray(400 * 1024 * 1024); print('survived')"],
                 resources={"memory_mb": 64})
    done = wait_state(server.admin, job["id"])
    assert done["state"] == "failed"
    assert "survived" not in logs(server.admin, job["id"])
    if node["limits"].startswith("cgroup"):
        assert done["reason"] == "oom_killed" and done["exit_code"] == 137
        assert done["max_memory_mb"] >= 60
    else:  # the address-space rlimit: Python's MemoryError
        assert done["exit_code"] == 1
    # Within the limit, the same program runs.
    ok = submit(server.admin, command=["python3", "-c", "b = bytearray(16 * 1024 * 1024); print('fine')"],
                resources={"memory_mb": 256})
    assert wait_state(server.admin, ok["id"])["state"] == "succeeded"


def test_the_sandbox(server):
    data_dir = str(server.data_dir)
    script = "; ".join([
        "touch /usr/x 2>/dev/null && echo wrote-usr || echo no-usr",
        f"ls {data_dir} 2>/dev/null && echo saw-data || echo no-data",
        "cat /etc/shadow 2>/dev/null && echo saw-shadow || echo no-shadow",
        "echo hi > mine.txt && cat mine.txt",
        "pwd",
        # No network: not even the server's port on loopback.
        f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {server.port}), 2)' 2>/dev/null "
        "&& echo net || echo no-net",
    ])
    done = wait_state(server.admin, submit(server.admin, command=["sh", "-c", script])["id"])
    assert done["state"] == "succeeded", describe_job(server, done)
    assert logs(server.admin, done["id"]).split() == ["no-usr", "no-data", "no-shadow", "hi", "/job", "no-net"]
    # Its work directory is its own, under the jobs directory.
    assert (server.data_dir / "jobs" / str(done["id"]) / "work" / "mine.txt").read_text() == "hi\n"
    # Unsandboxed, the same job sees the host (admins only).
    done = wait_state(server.admin, submit(server.admin, command=["sh", "-c", f"ls {data_dir}"], sandbox=False)["id"])
    assert "metadata.db" in logs(server.admin, done["id"])


def describe_job(server, job):
    return json.dumps(job) + "\n" + logs(server.admin, job["id"])


def test_who_may_do_what(server):
    dev = server.create_user(["developer"], prefix="jobdev")
    other = server.create_user(["developer"], prefix="jobdev")
    viewer = server.create_user(["viewer"], prefix="jobview")
    job = submit(dev.client, command=["sh", "-c", "echo secret-output"], env={"TOKEN": "s3cr3t"})
    assert job["owner"] == dev.username and job["env"] == {"TOKEN": "***"}  # values never shown
    wait_state(dev.client, job["id"])
    assert logs(dev.client, job["id"]) == "secret-output\n"
    assert "s3cr3t" not in server.admin.get(f"/api/v1/jobs/{job['id']}").text
    # Others may see that it exists, not read its output or cancel it.
    assert get(other.client, job["id"])["id"] == job["id"]
    assert_error(other.client.get(f"/api/v1/jobs/{job['id']}/logs"), 403, "forbidden")
    assert_error(other.client.post(f"/api/v1/jobs/{job['id']}/cancel"), 403, "forbidden")
    assert logs(server.admin, job["id"]) == "secret-output\n"  # jobs:admin
    # Viewers read, never submit; nobody but admins leaves the sandbox or drains nodes.
    assert_error(viewer.client.post("/api/v1/jobs", json={"command": ["true"]}), 403, "forbidden")
    assert viewer.client.get("/api/v1/jobs").status_code == 200
    assert_error(dev.client.post("/api/v1/jobs", json={"command": ["true"], "sandbox": False}), 403, "forbidden")
    assert_error(dev.client.post("/api/v1/jobs", json={"command": ["true"], "network": True}), 403, "forbidden")
    node = server.admin.get("/api/v1/cluster/nodes").json()["nodes"][0]["name"]
    assert_error(dev.client.post(f"/api/v1/cluster/nodes/{node}/drain"), 403, "forbidden")
    assert_error(dev.client.put("/api/v1/cluster/quotas/user:x", json={"cpus": 1}), 403, "forbidden")
    assert_error(server.anonymous.get("/api/v1/jobs"), 401, "unauthenticated")


def test_bad_submissions_change_nothing(server):
    before = server.admin.get("/api/v1/jobs", params={"page_size": 1000}).json()["jobs"]
    bad = [
        ({}, 400), ({"command": []}, 400), ({"command": "ls"}, 400), ({"command": [1]}, 400),
        ({"command": ["true"], "resources": {"cpus": 0}}, 400),
        ({"command": ["true"], "resources": {"gpus": 1.5}}, 400),
        ({"command": ["true"], "resources": {"disk": 1}}, 400),
        ({"command": ["true"], "timeout_s": 0}, 400), ({"command": ["true"], "bogus": 1}, 400),
        ({"command": ["true"], "env": {"1X": "a"}}, 400), ({"command": ["true"], "executor": "k8s"}, 400),
        ({"command": ["true"], "workdir": "/tmp"}, 400),  # a sandboxed job has its own
        ({"command": ["true"], "sandbox": False, "workdir": "/a/../etc"}, 400),
        ({"command": ["true"], "resources": {"cpus": 4096}}, 422),  # no node has that many
        ({"command": ["true"], "resources": {"gpus": 1}}, 422),     # no GPUs here
    ]
    for body, status in bad:
        resp = server.admin.post("/api/v1/jobs", json=body)
        assert resp.status_code == status, (body, describe(resp))
    assert_error(server.admin.post("/api/v1/jobs", data="{", headers={"Content-Type": "application/json"}), 400,
                 "invalid_json")
    assert_error(server.admin.get("/api/v1/jobs/abc"), 400, "bad_request")
    assert_error(server.admin.get("/api/v1/jobs/999999"), 404, "not_found")
    assert_error(server.admin.get("/api/v1/jobs?state=bogus"), 400, "bad_request")
    assert_error(server.admin.put("/api/v1/cluster/quotas/team", json={"cpus": 1}), 400, "bad_request")
    assert_error(server.admin.put("/api/v1/cluster/quotas/user:x", json={"cpus": -1}), 400, "bad_request")
    after = server.admin.get("/api/v1/jobs", params={"page_size": 1000}).json()["jobs"]
    assert after == before


def test_list_filters_and_pages(server):
    name = unique("listed")
    ids = [submit(server.admin, name=name, command=["true"])["id"] for _ in range(3)]
    for i in ids:
        wait_state(server.admin, i)
    resp = server.admin.get("/api/v1/jobs", params={"name": name, "page_size": 2})
    page = resp.json()
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2] and page["next_page_token"]
    rest = server.admin.get("/api/v1/jobs", params={"name": name, "page_size": 2,
                                                     "page_token": page["next_page_token"]}).json()
    assert [j["id"] for j in rest["jobs"]] == [ids[0]] and "next_page_token" not in rest
    assert all(j["state"] == "succeeded" for j in
               server.admin.get("/api/v1/jobs", params={"state": "succeeded", "owner": "admin"}).json()["jobs"])


def test_follow_streams_until_the_job_ends(server):
    job = submit(server.admin, command=["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.4; done"])
    got, t0 = [], time.monotonic()
    with requests.get(f"{server.url}/api/v1/jobs/{job['id']}/logs", params={"follow": "true"},
                      headers={"Authorization": f"Bearer {server.admin_token}"}, stream=True, timeout=30) as resp:
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
        for line in resp.iter_lines(decode_unicode=True):
            got.append((line, time.monotonic() - t0))
    assert [g[0] for g in got] == ["line 1", "line 2", "line 3"]
    assert got[0][1] < got[2][1] - 0.5, "lines arrive as they are written, not all at the end"
    assert get(server.admin, job["id"])["state"] == "succeeded"


def test_events_follow_a_job(server):
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    name = unique("evjob")
    with requests.get(f"{server.url}/api/v1/events", params={"topic": "cluster.job.*"}, headers=headers,
                      stream=True, timeout=30) as resp:
        assert resp.status_code == 200

        def act():
            time.sleep(0.3)
            submit(server.admin, name=name, command=["sh", "-c", "exit 2"], retries=1)

        t = threading.Thread(target=act)
        t.start()
        events = [(tp, d) for tp, d in read_events(resp, "cluster.job.failed") if d.get("name") == name]
        t.join()
    assert [tp for tp, _ in events] == ["cluster.job.queued", "cluster.job.running", "cluster.job.retrying",
                                        "cluster.job.running", "cluster.job.failed"]
    assert events[-1][1]["exit_code"] == 2 and events[-1][1]["attempt"] == 2


def test_quotas_hold_a_user_and_let_another_run(server):
    a = server.create_user(["developer"], prefix="quota")
    b = server.create_user(["developer"], prefix="quota")
    resp = server.admin.put(f"/api/v1/cluster/quotas/user:{a.username}", json={"cpus": 1, "memory_mb": None})
    assert resp.status_code == 200 and resp.json()["cpus"] == 1 and resp.json()["memory_mb"] is None
    try:
        first = submit(a.client, command=["sleep", "3"])
        wait_state(a.client, first["id"], ("running",))
        second = submit(a.client, command=["true"])
        other = submit(b.client, command=["true"])
        assert wait_state(b.client, other["id"])["state"] == "succeeded"
        assert get(a.client, second["id"])["state"] == "queued", "a user at quota waits"
        assert wait_state(a.client, second["id"], timeout=20)["state"] == "succeeded"
        assert get(a.client, second["id"])["started_at"] >= get(a.client, first["id"])["finished_at"]
        # A job that alone is over the quota could never run: refused.
        assert_error(a.client.post("/api/v1/jobs", json={"command": ["true"], "resources": {"cpus": 2}}), 422,
                     "unprocessable")
        quotas = server.admin.get("/api/v1/cluster/quotas").json()["quotas"]
        assert any(q["subject"] == f"user:{a.username}" for q in quotas)
    finally:
        assert server.admin.delete(f"/api/v1/cluster/quotas/user:{a.username}").status_code == 204


def test_drain_stops_new_work_and_priorities_order_the_queue(server):
    node = server.admin.get("/api/v1/cluster/nodes").json()["nodes"][0]["name"]
    running = submit(server.admin, command=["sleep", "2"])
    wait_state(server.admin, running["id"], ("running",))
    resp = server.admin.post(f"/api/v1/cluster/nodes/{node}/drain")
    assert resp.status_code == 200 and resp.json()["state"] == "draining"
    try:
        low = submit(server.admin, name="low", command=["true"], priority=1)
        high = submit(server.admin, name="high", command=["true"], priority=10)
        time.sleep(1.0)
        assert get(server.admin, low["id"])["state"] == "queued" and get(server.admin, high["id"])["state"] == "queued"
        assert wait_state(server.admin, running["id"])["state"] == "succeeded", "running jobs finish on a draining node"
        assert server.admin.get(f"/api/v1/cluster/nodes/{node}").json()["state"] == "drained"
    finally:
        resp = server.admin.post(f"/api/v1/cluster/nodes/{node}/undrain")
        assert resp.status_code == 200 and resp.json()["state"] == "ready"
    lo, hi = wait_state(server.admin, low["id"]), wait_state(server.admin, high["id"])
    assert hi["started_at"] <= lo["started_at"], "the higher priority starts first"


def test_declared_gpus_are_assigned_whole_or_shared(make_server):
    srv = make_server("--set", "cluster.gpus=Test GPU:16384,Test GPU:16384")
    gpus = srv.admin.get("/api/v1/cluster/nodes").json()["nodes"][0]["gpus"]
    assert [(g["index"], g["model"], g["memory_mb"]) for g in gpus] == [(0, "Test GPU", 16384), (1, "Test GPU", 16384)]
    cmd = ["sh", "-c", "echo $CUDA_VISIBLE_DEVICES; sleep 2"]
    a = submit(srv.admin, command=cmd, resources={"gpus": 1, "cpus": 1, "memory_mb": 64})
    b = submit(srv.admin, command=cmd, resources={"gpus": 1, "cpus": 1, "memory_mb": 64})
    c = submit(srv.admin, command=cmd, resources={"gpus": 1, "cpus": 1, "memory_mb": 64})
    ja, jb = wait_state(srv.admin, a["id"], ("running",)), wait_state(srv.admin, b["id"], ("running",))
    assert sorted(ja["gpu_indexes"] + jb["gpu_indexes"]) == [0, 1], "never two jobs on one GPU"
    assert get(srv.admin, c["id"])["state"] == "queued"
    nodes = srv.admin.get("/api/v1/cluster/nodes").json()["nodes"][0]
    assert [g["allocated"] for g in nodes["gpus"]] == [1.0, 1.0]
    for j in (a, b, c):
        wait_state(srv.admin, j["id"], timeout=20)
    assert logs(srv.admin, a["id"]).strip() in ("0", "1")
    # Shares pack onto one GPU; a job without GPUs sees none.
    s1 = submit(srv.admin, command=cmd, resources={"gpus": 0.5, "memory_mb": 64})
    s2 = submit(srv.admin, command=cmd, resources={"gpus": 0.5, "memory_mb": 64})
    j1, j2 = wait_state(srv.admin, s1["id"], ("running",)), wait_state(srv.admin, s2["id"], ("running",))
    assert j1["gpu_indexes"] == j2["gpu_indexes"] and len(j1["gpu_indexes"]) == 1
    none = wait_state(srv.admin, submit(srv.admin, command=["sh", "-c", "echo \"[$CUDA_VISIBLE_DEVICES]\""])["id"])
    assert logs(srv.admin, none["id"]) == "[]\n"


def test_jobs_survive_a_restart_of_aimass(make_server):
    srv = make_server()
    marker = unique("lost")
    kept = submit(srv.admin, command=["sh", "-c", "echo before; sleep 3; echo after"])
    lost = submit(srv.admin, command=["sh", "-c", f"sleep 3 # {marker}"], retries=1)
    for j in (kept, lost):
        wait_state(srv.admin, j["id"], ("running",))
    wait_for(lambda: logs(srv.admin, kept["id"]) == "before\n" and alive(marker), 10, "both jobs' processes")
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    # While aimass is down, one job's processes vanish (a node's reboot, an OOM of the tree).
    kill_all(alive(marker))
    srv.start()
    done = wait_state(srv.admin, kept["id"], timeout=20)
    assert done["state"] == "succeeded" and done["attempts"] == 1, "adopted, not run again"
    assert logs(srv.admin, kept["id"]) == "before\nafter\n"
    again = wait_state(srv.admin, lost["id"], timeout=20)
    assert again["attempts"] == 2 and again["state"] == "succeeded", "node_lost, then retried"
    # The node kept its name; nothing is left running.
    assert len(srv.admin.get("/api/v1/cluster/nodes").json()["nodes"]) == 1
    assert srv.admin.get("/api/v1/jobs", params={"state": "running"}).json()["jobs"] == []


def test_cli_job_and_node_commands(server, aimass_bin, tmp_path):
    from test_cli import Cli
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(aimass_bin, home)
    cli.login(server)
    # run -f prints the log as it grows and exits with the job's outcome.
    proc = cli.run("job", "run", "--name", "cli-job", "--cpus", "1", "--mem", "128M", "-e", "WHO=cli", "-f", "--",
                   "sh", "-c", "echo hello $WHO; echo $AIMASS_JOB_ID")
    out = proc.stdout.splitlines()
    assert out[0] == "hello cli"
    job_id = int(out[1])
    shown = json.loads(cli.run("--json", "job", "show", str(job_id)).stdout)
    assert shown["name"] == "cli-job" and shown["resources"]["memory_mb"] == 128 and shown["state"] == "succeeded"
    proc = cli.run("job", "run", "-f", "--", "sh", "-c", "echo bad; exit 4", expect=1)
    assert proc.stdout == "bad\n" and "failed: exit status 4" in proc.stderr
    # list, logs, cancel.
    listed = cli.run("job", "list", "--state", "succeeded").stdout
    assert "cli-job" in listed and "succeeded" in listed.splitlines()[1]
    assert cli.run("job", "logs", str(job_id)).stdout == f"hello cli\n{job_id}\n"
    started = cli.run("job", "run", "--", "sleep", "60").stdout
    sleeper = int(started.split()[-1])
    wait_state(server.admin, sleeper, ("running",))
    assert "stopping" in cli.run("job", "cancel", str(sleeper)).stdout
    assert wait_state(server.admin, sleeper)["state"] == "cancelled"
    assert cli.run("job", "logs", "-f", str(sleeper)).returncode == 0
    # Errors: a usage error is 2, an API refusal 1 with its message.
    assert cli.run("job", "run", "--mem", "lots", "--", "true", expect=1).stderr.startswith("error:")
    assert "no job" in cli.run("job", "show", "999999", expect=1).stderr
    assert cli.run("job", "run", expect=2).returncode == 2
    # Nodes.
    nodes = json.loads(cli.run("--json", "node", "list").stdout)
    name = nodes[0]["name"]
    assert name in cli.run("node", "list").stdout
    assert cli.run("node", "drain", name).stdout.strip().endswith(("draining", "drained"))
    assert "is ready" in cli.run("node", "undrain", name).stdout


def test_a_second_process_is_a_node_and_its_loss_is_noticed(make_server, tmp_path):
    """Two processes on one metadata store: the one started with --target=cluster registers its
    own node and runs what is placed there; when it dies, the other marks its running job
    node_lost and runs it again."""
    db = tmp_path / "shared-metadata.db"
    common = ["--set", f"storage.sqlite_path={db}", "--set", "cluster.lease_ttl_s=2",
              "--set", "auth.jwt_secret=" + "j" * 40]
    a = make_server(*common, "--set", "cluster.node_name=node-a")
    b = make_server(*common, "--set", "cluster.node_name=node-b", "--target", "cluster")
    nodes = {n["name"]: n for n in a.admin.get("/api/v1/cluster/nodes").json()["nodes"]}
    assert set(nodes) == {"node-a", "node-b"} and nodes["node-b"]["url"] == b.url
    # With node-a drained, work goes to node-b.
    assert a.admin.post("/api/v1/cluster/nodes/node-a/drain").status_code == 200
    job = submit(a.admin, command=["sh", "-c", "echo on $AIMASS_JOB_NODE; sleep 30"], retries=1)
    running = wait_state(a.admin, job["id"], ("running",))
    assert running["node"] == "node-b"
    wait_for(lambda: logs(a.admin, job["id"]) == "on node-b\n", 10, "the job's first line")
    # node-b dies with its job (the machine is gone); node-a takes over once node-b is down.
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    b.returncode = 0
    kill_all(alive("echo on $AIMASS_JOB_NODE"))
    assert a.admin.post("/api/v1/cluster/nodes/node-a/undrain").status_code == 200
    wait_for(lambda: {n["name"]: n["state"] for n in a.admin.get("/api/v1/cluster/nodes").json()["nodes"]}["node-b"]
             == "down", 15, "node-b to be down")
    again = wait_for(lambda: (j := get(a.admin, job["id"]))["attempts"] == 2 and j["state"] == "running" and j, 20,
                     "the job to run again")
    assert again["node"] == "node-a" and again["reason"] == ""
    assert a.admin.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    assert wait_state(a.admin, job["id"])["state"] == "cancelled"


def test_a_sandboxed_jobs_variables_exist_only_inside_the_sandbox(server):
    """Not in the environment nor the command line of the host's processes that start it."""
    marker = unique("envmark")
    job = submit(server.admin, command=["sh", "-c", f"echo $SECRET_THING $LD_PRELOAD; sleep 30 # {marker}"],
                 env={"SECRET_THING": "inside", "LD_PRELOAD": "/job/evil.so"})
    wait_for(lambda: "inside" in logs(server.admin, job["id"]), 10, "the job to print its variables")
    # The wrapper and bubblewrap run on the host: none of the job's variables reach them.
    outside = [p for p in alive(marker) if b"aimass-job" in Path(f"/proc/{p}/cmdline").read_bytes()
               or Path(f"/proc/{p}/comm").read_text().startswith("bwrap")]
    assert outside, "the wrapper and bubblewrap were not found"
    for pid in outside:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        assert b"SECRET_THING" not in environ and b"LD_PRELOAD" not in environ, pid
        # Nor their command lines, which every local user can read: bubblewrap reads the
        # variables from a descriptor (--args), not its argv.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"\0SECRET_THING\0inside" not in cmdline and b"evil.so" not in cmdline, (pid, cmdline)
    assert server.admin.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    assert wait_state(server.admin, job["id"])["state"] == "cancelled"
    # Inside, the job has them (the loader complains there that /job/evil.so does not exist).
    assert "inside /job/evil.so\n" in logs(server.admin, job["id"])
