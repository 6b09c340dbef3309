"""`aimass pipeline …` against a live server: create from YAML, run and wait, status with
cache hits, runs, logs, a failing run resumed, update, delete."""
from __future__ import annotations

from conftest import unique
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from test_cli_mq import row_of, table


def test_pipelines_from_the_command_line(admin_cli, tmp_path):
    name = unique("clipl")
    gate = tmp_path / "gate"
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(f"""
name: {name}
params: {{n: 2}}
steps:
  - name: count
    command: [sh, -c, "echo ::aimass-output n=$(( ${{{{ params.n }}}} * 10 ))"]
  - name: gated
    needs: [count]
    sandbox: false
    command: [sh, -c, "test -f {gate} && echo passed ${{{{ steps.count.outputs.n }}}}"]
""")
    assert f"Created pipeline {name} (revision 1, 2 steps)" in admin_cli.run("pipeline", "create", str(spec)).stdout
    assert row_of(admin_cli.run("pipeline", "list").stdout, name)["STEPS"] == "2"

    failed = admin_cli.run("pipeline", "run", name, "-p", "n=4", "--wait", expect=1).stdout
    assert "failed" in failed.splitlines()[0], failed
    header, rows = table("\n".join(failed.splitlines()[1:]))
    assert rows[0][:3] == ["count", "succeeded", "1"] and rows[1][:2] == ["gated", "failed"], failed
    run_id = int(failed.split()[1])
    assert '"n":40' in row_of("\n".join(failed.splitlines()[1:]), "count")["OUTPUTS"]

    gate.write_text("open")
    resumed = admin_cli.run("pipeline", "resume", str(run_id), "--wait").stdout
    assert "succeeded" in resumed.splitlines()[0], resumed
    steps = "\n".join(resumed.splitlines()[1:])
    assert row_of(steps, "count")["CACHED FROM"] == f"run {run_id}"
    new_id = int(resumed.split()[1])
    assert "passed 40" in admin_cli.run("pipeline", "logs", str(new_id), "gated").stdout

    runs = admin_cli.run("pipeline", "runs", name).stdout
    assert row_of(runs, str(new_id))["RESUMED FROM"] == str(run_id)
    assert row_of(runs, str(run_id))["STATE"] == "failed"
    status = admin_cli.json("pipeline", "status", str(new_id))
    assert status["state"] == "succeeded" and status["steps"][1]["outputs"] == {}

    spec.write_text(spec.read_text().replace("n: 2", "n: 3"))
    assert "revision 2" in admin_cli.run("pipeline", "update", name, str(spec)).stdout
    assert admin_cli.json("pipeline", "show", name)["spec"]["params"] == {"n": 3}
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: {name}\nsteps: [{{name: a}}]\n")
    assert "needs 'command'" in admin_cli.run("pipeline", "update", name, str(bad), expect=1).stderr
    admin_cli.run("pipeline", "delete", name)
    assert "not found" in admin_cli.run("pipeline", "show", name, expect=1).stderr
