"""Jobs through a real one-node Slurm (slurmctld, slurmd, munge on this machine): submitted
with their resources, followed from Slurm's queue to running to their end (succeeded, failed
with the exit code, cancelled with scancel, timed out by aimass), with their output as the
job's log, and adopted again after a restart of aimass."""
from __future__ import annotations

import signal
import subprocess

import pytest

from conftest import assert_error, describe, wait_for
from slurm_helpers import Slurm
from test_jobs import get, logs, submit, wait_state


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    s = Slurm(tmp_path_factory.mktemp("slurm")).start()
    yield s
    s.stop()


@pytest.fixture
def srv(make_server, slurm):
    return make_server("--set", "cluster.slurm=true", "--set", f"cluster.slurm_conf={slurm.conf}")


def slurm_job(srv, **spec):
    spec.setdefault("sandbox", False)
    return submit(srv.admin, executor="slurm", **spec)


def scontrol(slurm, slurm_id):
    out = subprocess.run(["scontrol", "-o", "show", "job", slurm_id], env=slurm.env, capture_output=True, text=True)
    return out.stdout


def test_slurm_jobs_end_to_end(srv, slurm):
    ok = slurm_job(srv, command=["sh", "-c", "echo from-slurm; echo $AIMASS_JOB_ID; echo $SLURM_CPUS_PER_TASK"],
                   resources={"cpus": 1, "memory_mb": 100})
    bad = slurm_job(srv, command=["sh", "-c", "echo failing; exit 3"])
    done = wait_state(srv.admin, ok["id"], timeout=60)
    assert done["state"] == "succeeded" and done["exit_code"] == 0 and done["node"].startswith("slurm@"), done
    assert logs(srv.admin, ok["id"]) == f"from-slurm\n{ok['id']}\n1\n"
    # Slurm was given the job's resources.
    info = scontrol(slurm, done["slurm_job_id"])
    assert f"JobName=aimass-{ok['id']}" in info and "MinMemoryNode=100M" in info, info
    failed = wait_state(srv.admin, bad["id"], timeout=60)
    assert failed["state"] == "failed" and failed["exit_code"] == 3 and failed["reason"] == "exit status 3"
    assert logs(srv.admin, bad["id"]) == "failing\n"


def test_slurm_cancel_and_timeout(srv, slurm):
    long = slurm_job(srv, command=["sleep", "120"])
    running = wait_state(srv.admin, long["id"], ("running",), timeout=60)
    assert running["started_at"] and running["slurm_job_id"]
    resp = srv.admin.post(f"/api/v1/jobs/{long['id']}/cancel")
    assert resp.status_code == 200, describe(resp)
    done = wait_state(srv.admin, long["id"], timeout=60)
    assert done["state"] == "cancelled"
    assert "JobState=CANCELLED" in scontrol(slurm, running["slurm_job_id"])
    slow = slurm_job(srv, command=["sleep", "120"], timeout_s=2)
    done = wait_state(srv.admin, slow["id"], timeout=60)
    assert done["state"] == "timed_out" and done["reason"] == "timeout"
    # Without the Slurm executor configured, such jobs are refused.


def test_slurm_jobs_survive_a_restart_of_aimass(srv, slurm):
    job = slurm_job(srv, command=["sh", "-c", "sleep 3; echo finished"])
    wait_state(srv.admin, job["id"], ("running",), timeout=60)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    srv.start()
    done = wait_state(srv.admin, job["id"], timeout=60)
    assert done["state"] == "succeeded" and done["attempts"] == 1
    assert logs(srv.admin, job["id"]) == "finished\n"


def test_slurm_needs_the_executor_configured(server):
    assert_error(server.admin.post("/api/v1/jobs", json={"command": ["true"], "executor": "slurm", "sandbox": False}),
                 422, "unprocessable")
    assert_error(server.admin.post("/api/v1/jobs", json={"command": ["true"], "executor": "slurm"}), 400, "bad_request")
