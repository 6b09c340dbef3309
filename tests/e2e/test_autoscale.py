"""Elastic serving: a deployment with `autoscale` gains an instance while requests wait longer
than its target, and gives it back once the load is gone; no request fails during either, and
each change is in the deployment's state and history."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import models
from conftest import assert_error, describe, wait_for
from test_serving import SLOW_SIG, create_model, deploy, infer, push

X = np.ones((1, 4), np.float32)


def test_bad_autoscale_specs_are_refused(server, tmp_path):
    model = create_model(server.admin)
    push(server.admin, model, models.torchscript_mlp(tmp_path / "m.pt"), "torchscript")
    for autoscale in ({"min_instances": 3, "max_instances": 2, "target_queue_ms": 5},
                      {"min_instances": 1, "max_instances": 2},
                      {"min_instances": 1, "max_instances": 2, "target_queue_ms": 5, "target_in_flight": 2},
                      {"max_instances": 2, "target_queue_ms": -1}, {"target_queue_ms": 5, "bogus": 1}, "fast"):
        resp = server.admin.post("/api/v1/deployments", json={"name": "as-bad", "model": model, "version": 1,
                                                              "autoscale": autoscale})
        assert_error(resp, 400, "bad_request")
    resp = server.admin.post("/api/v1/deployments", json={"name": "as-bad", "model": model, "version": 1, "instances": 5,
                                                          "autoscale": {"max_instances": 2, "target_queue_ms": 5}})
    assert_error(resp, 400, "bad_request")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="a second instance needs a second CPU")
def test_instances_follow_the_load(server, tmp_path):
    model = create_model(server.admin)
    push(server.admin, model, models.slow_torchscript_calibrated(tmp_path / "slow.pt", seconds=0.02), "torchscript",
         signature=SLOW_SIG)
    dep = deploy(server.admin, model, threads=1, timeout_ms=30000,
                 autoscale={"min_instances": 1, "max_instances": 2, "target_queue_ms": 5, "cooldown_s": 1,
                            "scale_down_after_s": 3})
    name = dep["name"]
    assert dep["instances"] == 1 and dep["autoscale"]["instances"] == 1 and dep["autoscale"]["last_action"] is None

    statuses: list[int] = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            statuses.append(infer(server.admin, name, "features", X).status_code)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        up = wait_for(lambda: (d := server.admin.get(f"/api/v1/deployments/{name}").json())["autoscale"]["instances"] == 2
                      and d, 30, "a second instance under load")
        time.sleep(1.0)  # both instances serve
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert up["autoscale"]["last_action"] == "scaled_up" and "queue p50 ms" in up["autoscale"]["last_reason"]
    down = wait_for(lambda: (d := server.admin.get(f"/api/v1/deployments/{name}").json())["autoscale"]["instances"] == 1
                    and d, 30, "back to one instance without load")
    assert down["autoscale"]["last_action"] == "scaled_down"
    actions = [e["action"] for e in down["traffic"]["history"]]
    assert actions.count("scaled_up") == 1 and actions[-1] == "scaled_down", actions
    assert statuses and set(statuses) == {200}, f"{len(statuses) - statuses.count(200)} failed requests"
    # It still answers with one instance.
    resp = infer(server.admin, name, "features", X)
    assert resp.status_code == 200, describe(resp)
