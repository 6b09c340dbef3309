"""Crowd-flow analysis end to end: streams as cluster jobs that detect, track and count people.

- A synthetic video made here (coloured figures on known paths, a files dataset of PNG frames)
  and a detection model served by the platform (TorchScript, made here) check the geometry
  exactly: each line's in/out (a figure that turns back far beyond a line counted on its way
  back too, one flickering on a line once), zone occupancy, dwell,
  loitering and overcrowding alerts (also on the message queue), tracks, the heatmap, the
  per-minute dataset and its cube.
- Debian's vtest.avi against the hand annotation in tests/data/vtest_crossings.json: counts per
  line and direction within 15 %, no passage counted twice; tracking quality (MOTA,
  IDF1) on the hand-boxed stretch in tests/data/vtest_boxes.json against SORT as published.
- A stream's life: paused and resumed where it stopped, its worker killed and replaced, an old
  worker's report refused, lines changed while it runs, live frames over SSE and MJPEG.
- An HTTP MJPEG camera (served here) that drops the connection: the worker reconnects.
- Bad input and permissions.
"""
from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
import requests

from conftest import Client, ServerFactory, clean_env, describe, unique, wait_for
from crowd_helpers import (BOXES, STREAMS, VTEST, VTEST_DETECTOR, VTEST_DIR, VTEST_TRACKER, deploy_colour_detector, frames_tar,
                           get_stream, synthetic_frames, tracking_metrics, truth_counts, truth_lines, wait_state)
from mq_helpers import fetch


@pytest.fixture(scope="module")
def crowd_server(aimass_bin, tmp_path_factory):
    factory = ServerFactory(aimass_bin, tmp_path_factory, "crowd")
    srv = factory(env={"AIMASS_CROWD_VIDEO_DIRS": str(VTEST_DIR), "AIMASS_CROWD_EXPORT_S": "1"})
    yield srv
    factory.stop_all()


def decode(data: bytes):
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not an image"
    return img


def test_synthetic_figures_give_exact_counts_zones_and_alerts(crowd_server, tmp_path):
    c = crowd_server.admin
    assert VTEST.exists(), "scripts/install-deps installs opencv-doc (vtest.avi)"
    # Alerts reach the message queue: a subscription to the alert topics made before they exist.
    sub = unique("crowd-alerts")
    resp = c.post("/api/v1/mq/subscriptions", json={"name": sub, "topic": "crowd.alert.>"})
    assert resp.status_code == 201, describe(resp)

    model = deploy_colour_detector(c, tmp_path, unique("colours"))
    dataset = unique("synthetic")
    assert c.post("/api/v1/datasets", json={"name": dataset, "kind": "files"}).status_code == 201
    resp = c.post(f"/api/v1/datasets/{dataset}/versions", data=frames_tar(synthetic_frames()),
                  headers={"Content-Type": "application/x-tar"})
    assert resp.status_code == 201, describe(resp)
    name = unique("synth")
    body = {
        "name": name, "dataset": {"name": dataset, "version": "1"}, "fps": 10,
        "detector": {"kind": "model", "deployment": model, "width": 320, "height": 180},
        # The gate points up: walking right is from its left to its right, "in".
        "lines": [{"name": "gate", "points": [[320, 340], [320, 40]]},
                  {"name": "far", "points": [[600, 340], [600, 40]]}],
        "zones": [{"name": "bench", "points": [[80, 60], [180, 60], [180, 160], [80, 160]], "loiter_s": 3},
                  {"name": "plaza", "points": [[250, 0], [390, 0], [390, 360], [250, 360]], "max_occupancy": 2}],
        "start": "2026-01-05T10:00:00Z",
    }
    resp = c.post(STREAMS, json=body)
    assert resp.status_code == 201, describe(resp)
    assert resp.headers["Location"] == f"{STREAMS}/{name}"
    s = wait_state(c, name, ("finished", "failed"), 120)
    assert s["state"] == "finished", s
    assert s["frames"] == 70 and s["width"] == 640 and s["height"] == 360, s

    counts = c.get(f"{STREAMS}/{name}/counts?interval=1s").json()
    # red and yellow walk right over the gate, green left, yellow back again (120 px beyond it
    # first); magenta steps over the far line and flickers on it for two seconds: one passage.
    assert counts["lines"] == {"gate": {"in": 2, "out": 2}, "far": {"in": 1, "out": 0}}, counts["lines"]
    # The intervals add up to the totals, second by second from 10:00:00.
    assert counts["intervals"][0]["start"] == "2026-01-05T10:00:00Z"
    assert sum(i["lines"]["gate"]["in"] for i in counts["intervals"]) == 2
    bench, plaza = counts["zones"]["bench"], counts["zones"]["plaza"]
    assert bench["visits"] == 1 and bench["max"] == 1, bench
    # Blue stands there from frame 5 to frame 45 (4 s), reported from its third detection.
    assert 3.7 <= bench["dwell_max_s"] <= 4.01, bench
    assert plaza["max"] == 3, plaza
    assert counts["people"]["max"] == 5

    alerts = c.get(f"{STREAMS}/{name}/alerts").json()["alerts"]
    kinds = sorted((a["kind"], a["zone"]) for a in alerts)
    assert kinds == [("loitering", "bench"), ("overcrowding", "plaza")], alerts
    crowded = next(a for a in alerts if a["kind"] == "overcrowding")
    assert crowded["occupancy"] == 3 and 26 <= crowded["frame"] <= 28, crowded
    loiter = next(a for a in alerts if a["kind"] == "loitering")
    assert 3.0 <= loiter["dwell_s"] <= 3.2, loiter

    tracks = c.get(f"{STREAMS}/{name}/tracks").json()["tracks"]
    assert len(tracks) == 5, [t["id"] for t in tracks]
    crossed = sorted((x["line"], x["direction"]) for t in tracks for x in t["crossings"])
    assert crossed == [("far", "in"), ("gate", "in"), ("gate", "in"), ("gate", "out"), ("gate", "out")]
    # Every path point is where the figure stood: within 2 px on a straight walk (the model sees a
    # half-size frame), within one step (8 px) where it turns round and the Kalman filter lags.
    yellow = next(t for t in tracks if t["path"] and abs(t["path"][0][2] - 100) < 3)
    for frame, x, y in yellow["path"]:
        t = int(frame)
        ex = 200 + 8 * (t - 10) if t <= 40 else 440 - 8 * (t - 40)
        assert abs(x - ex) <= (8.5 if 38 <= t <= 55 else 2.5) and abs(y - 100) <= 2.5, (frame, x, y)
    one = c.get(f"{STREAMS}/{name}/tracks/{yellow['id']}").json()
    assert one["id"] == yellow["id"] and one["crossings"] == yellow["crossings"]
    assert any(z["zone"] == "plaza" for z in one["zones"])

    heat = c.get(f"{STREAMS}/{name}/heatmap.png?overlay=false")
    assert heat.status_code == 200 and heat.headers["Content-Type"] == "image/png"
    img = decode(heat.content)
    assert img.shape == (360, 640, 3)
    # The brightest colour (the JET map's red end) where blue stood longest; nothing far away.
    assert img[118, 140, 2] > 200 and img[118, 140, 0] < 80, img[118, 140]
    assert tuple(img[20, 620]) == tuple(img[20, 600])
    snap = c.get(f"{STREAMS}/{name}/snapshot.jpg")
    assert snap.status_code == 200 and decode(snap.content).shape == (360, 640, 3)

    # The minutes in the stream's dataset, and its cube over them.
    ds = f"crowd-{name}"

    def dataset_rows():
        r = c.get(f"/api/v1/datasets/{ds}/versions/latest/rows?limit=1000")
        return r.status_code == 200 and r.json()["rows"]

    rows = wait_for(dataset_rows, 30, "the stream's minutes in its dataset")
    gate = [r for r in rows if r["kind"] == "line" and r["counter"] == "gate"]
    assert [(r["time"], r["in"], r["out"]) for r in gate] == [("2026-01-05T10:00:00Z", 2, 2)], gate
    plaza_row = next(r for r in rows if r["counter"] == "plaza")
    assert plaza_row["occupancy_max"] == 3

    def cube_answer():
        r = c.post(f"/api/v1/cubes/{ds}/query", json={"measures": ["in", "out"], "dimensions": ["counter"],
                                                      "filters": [{"dimension": "kind", "op": "eq", "values": ["line"]}]})
        return r.status_code == 200 and r.json()

    answer = wait_for(cube_answer, 30, "the stream's cube")
    by_counter = {row["counter"]: row for row in answer["rows"]}
    assert by_counter["gate"]["in"] == 2 and by_counter["gate"]["out"] == 2, answer

    # The two alerts as platform events on the queue.
    msgs = wait_for(lambda: (m := fetch(c, sub, max=10, wait_ms=500)) and len(m) >= 2 and m, 20, "alerts on the queue")
    bodies = [json.loads(m["body"]) if isinstance(m["body"], str) else m["body"] for m in msgs]
    assert sorted(b["kind"] for b in bodies) == ["loitering", "overcrowding"]
    assert all(b["stream"] == name for b in bodies)


def test_vtest_counts_within_15_percent_of_the_hand_annotation(crowd_server):
    c = crowd_server.admin
    name = unique("vtest")
    resp = c.post(STREAMS, json={"name": name, "url": str(VTEST), "lines": truth_lines(),
                                 "detector": VTEST_DETECTOR, "tracker": VTEST_TRACKER})
    assert resp.status_code == 201, describe(resp)
    s = wait_state(c, name, ("finished", "failed"), 400)
    assert s["state"] == "finished" and s["frames"] == 795, s
    counts = c.get(f"{STREAMS}/{name}/counts").json()
    truth = truth_counts()
    print("\nvtest counts", json.dumps(counts["lines"]), "truth", json.dumps(truth),
          "processing", s["processing_fps"], "frames/s")
    for line, t in truth.items():
        for d in ("in", "out"):
            got = counts["lines"][line][d]
            assert abs(got - t[d]) <= 0.15 * t[d], f"{line} {d}: {got} counted, {t[d]} by hand"
    tracks = c.get(f"{STREAMS}/{name}/tracks?path=false&limit=10000").json()["tracks"]
    for t in tracks:
        # A passage counted twice would show as two crossings of a line in the same direction
        # with none the other way between, or as crossings a moment apart.
        for line in {x["line"] for x in t["crossings"]}:
            mine = [x for x in t["crossings"] if x["line"] == line]
            for a, b in zip(mine, mine[1:]):
                assert a["direction"] != b["direction"] and b["frame"] - a["frame"] >= 5, \
                    f"track {t['id']} counted twice on {line}: {mine}"
    assert sum(len(t["crossings"]) for t in tracks) == sum(v["in"] + v["out"] for v in counts["lines"].values())


def test_tracking_quality_on_the_hand_boxed_stretch(aimass_bin, tmp_path):
    """MOTA and IDF1 of the platform's tracker (aimass crowd analyze: the same analysis a
    stream's worker runs) against SORT as published (max_age 1, min_hits 3, IoU 0.3, no second
    pairing) over the same detections."""
    frames = [f["frame"] for f in BOXES["frames"]]
    results = {}
    for label, tracker in (("aimass", VTEST_TRACKER), ("sort", {"max_age": 1, "min_hits": 3, "iou": 0.3, "reacquire": 0})):
        spec = tmp_path / f"{label}.json"
        spec.write_text(json.dumps({"detector": VTEST_DETECTOR, "tracker": tracker}))
        out = tmp_path / f"{label}.jsonl"
        # The stretch ends at frame 280: the frames after it need not be analysed.
        proc = subprocess.run([str(aimass_bin), "crowd", "analyze", str(VTEST), "--file", str(spec), "--tracks-out", str(out),
                               "--frames", str(max(frames) + 1)],
                              capture_output=True, text=True, timeout=600, env=clean_env())
        assert proc.returncode == 0, proc.stderr
        by_frame = {}
        for line in out.read_text().splitlines():
            f = json.loads(line)
            if min(frames) <= f["frame"] <= max(frames):
                by_frame[f["frame"]] = f["tracks"]
        results[label] = tracking_metrics(BOXES["frames"], by_frame)
        print(f"\n{label}: MOTA {results[label]['mota']:.3f} IDF1 {results[label]['idf1']:.3f} {results[label]}")
    ours, sort = results["aimass"], results["sort"]
    assert ours["idf1"] >= sort["idf1"] + 0.05, results
    assert ours["mota"] >= sort["mota"], results
    assert ours["mota"] >= 0.4 and ours["idf1"] >= 0.5, results


def read_sse_frame(resp) -> dict:
    event = None
    for raw in resp.iter_lines():
        line = raw.decode() if isinstance(raw, bytes) else raw
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "frame":
            return json.loads(line[6:])
    raise AssertionError("the live feed ended without a frame")


def test_a_stream_pauses_resumes_survives_its_worker_and_shows_live(crowd_server):
    c = crowd_server.admin
    name = unique("live")
    resp = c.post(STREAMS, json={"name": name, "url": str(VTEST), "realtime": True, "live_fps": 4,
                                 "detector": {"every": 3}, "lines": truth_lines()[:1]})
    assert resp.status_code == 201, describe(resp)
    wait_for(lambda: get_stream(c, name)["frames"] >= 20, 60, "20 frames")

    # Live frames over server-sent events: annotated JPEGs of the video's size.
    with requests.get(crowd_server.url + f"{STREAMS}/{name}/live", headers={"Authorization": f"Bearer {c.token}"},
                      stream=True, timeout=30) as live:
        assert live.status_code == 200 and live.headers["Content-Type"].startswith("text/event-stream")
        frame = read_sse_frame(live)
    assert decode(base64.b64decode(frame["jpeg"])).shape == (576, 768, 3)
    assert frame["info"]["frame"] > 0 and "people" in frame["info"]
    # And as MJPEG.
    with requests.get(crowd_server.url + f"{STREAMS}/{name}/live.mjpg", headers={"Authorization": f"Bearer {c.token}"},
                      stream=True, timeout=30) as mj:
        assert mj.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        buf = b""
        for chunk in mj.iter_content(8192):
            buf += chunk
            start = buf.find(b"\xff\xd8")
            end = buf.find(b"\r\n--frame", start + 2) if start >= 0 else -1
            if start >= 0 and end > start:
                break
        assert decode(buf[start:end]).shape == (576, 768, 3)

    # A line changed while it runs reaches the worker (its revision), and counts from then on.
    resp = c.post(f"{STREAMS}/{name}/lines", json={"name": "left", "points": [[150, 330], [150, 185]]})
    assert resp.status_code == 201 and resp.json()["revision"] == 2, describe(resp)
    resp = c.post(f"{STREAMS}/{name}/lines", json={"name": "left", "points": [[150, 340], [150, 185]]})
    assert resp.status_code == 200 and resp.json()["revision"] == 3
    wait_for(lambda: "left" in c.get(f"{STREAMS}/{name}/counts").json()["lines"], 10, "the new line counted")

    # Pause: the job ends and the frames stop; resume goes on from there.
    resp = c.post(f"{STREAMS}/{name}/pause")
    assert resp.status_code == 200 and resp.json()["state"] == "paused", describe(resp)
    job = get_stream(c, name)["job"]
    wait_for(lambda: c.get(f"/api/v1/jobs/{job}").json()["state"] in ("cancelled", "succeeded"), 30, "the worker's job to end")
    paused_at = get_stream(c, name)["frames"]
    time.sleep(2)
    assert get_stream(c, name)["frames"] == paused_at
    assert c.post(f"{STREAMS}/{name}/resume").json()["state"] == "starting"
    wait_for(lambda: get_stream(c, name)["frames"] > paused_at + 10, 60, "frames after the resume")
    resumed = get_stream(c, name)
    assert resumed["run"] == 2 and resumed["state"] == "running", resumed

    # A worker that dies is replaced, and the new one goes on from the frames reached.
    assert c.post(f"/api/v1/jobs/{resumed['job']}/cancel").status_code in (200, 202)
    wait_for(lambda: get_stream(c, name)["restarts"] == 1, 30, "the worker replaced")
    before = get_stream(c, name)["frames"]
    wait_for(lambda: (s := get_stream(c, name))["run"] == 3 and s["frames"] > before + 5, 60, "the new worker's frames")
    # The old worker's report is refused (its run is over), as is a report that is not the next.
    old = {"run": 2, "from_frame": get_stream(c, name)["frames"], "to_frame": 10 ** 6, "state": "running"}
    resp = c.post(f"{STREAMS}/{name}/report", json=old)
    assert resp.status_code == 409 and "replaced" in resp.json()["error"]["message"], describe(resp)
    resp = c.post(f"{STREAMS}/{name}/report", json={**old, "run": 3, "from_frame": 1})
    assert resp.status_code == 409 and "reached frame" in resp.json()["error"]["message"], describe(resp)

    resp = c.delete(f"{STREAMS}/{name}")
    assert resp.status_code == 204
    assert c.get(f"{STREAMS}/{name}").status_code == 404


class MjpegCamera:
    """An HTTP MJPEG camera: vtest's frames at 10 a second; each connection is cut after
    `per_connection` frames, as a flaky camera or network would."""

    def __init__(self, per_connection: int = 25):
        cap = cv2.VideoCapture(str(VTEST))
        self.frames = []
        while len(self.frames) < 120:
            ok, f = cap.read()
            if not ok:
                break
            self.frames.append(cv2.imencode(".jpg", f)[1].tobytes())
        self.connections = 0
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                camera.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=camframe")
                self.end_headers()
                start = (camera.connections - 1) * per_connection
                try:
                    for i in range(per_connection):
                        jpg = camera.frames[(start + i) % len(camera.frames)]
                        self.wfile.write(b"--camframe\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg))
                        self.wfile.write(jpg + b"\r\n")
                        time.sleep(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cam.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_an_mjpeg_camera_that_drops_is_reconnected(crowd_server):
    c = crowd_server.admin
    camera = MjpegCamera(per_connection=25)
    try:
        name = unique("cam")
        resp = c.post(STREAMS, json={"name": name, "url": camera.url, "detector": {"every": 4, "scale": 0.75}})
        assert resp.status_code == 201, describe(resp)
        wait_for(lambda: get_stream(c, name)["frames"] >= 60, 90, "frames over three connections")
        s = get_stream(c, name)
        assert camera.connections >= 3, camera.connections
        assert s["restarts"] == 0, s  # the worker reconnected itself
        assert s["state"] in ("running", "reconnecting") and s["width"] == 768, s
        # Pause while it runs: the camera is let go.
        assert c.post(f"{STREAMS}/{name}/pause").status_code == 200
        seen = camera.connections
        time.sleep(5)
        assert camera.connections <= seen + 1
        assert c.delete(f"{STREAMS}/{name}").status_code == 204
    finally:
        camera.close()


def test_bad_input_is_refused_and_changes_nothing(crowd_server, tmp_path):
    c = crowd_server.admin
    before = c.get(STREAMS).json()["streams"]
    bad = [
        ({"name": "x"}, 400, "url"),
        ({"name": "Bad Name", "url": "rtsp://h/s"}, 400, "stream name"),
        ({"name": "x", "url": "/etc/passwd"}, 400, "crowd.video_dirs"),
        ({"name": "x", "url": f"{VTEST_DIR}/../../../../../etc/passwd"}, 400, ".."),
        ({"name": "x", "url": str(VTEST_DIR / "nothing.avi")}, 400, "crowd.video_dirs"),
        ({"name": "x", "url": "relative/video.avi"}, 400, "absolute"),
        ({"name": "x", "url": "rtsp://h/s", "lines": [{"name": "l", "points": [[0, 0]]}]}, 400, "2 points"),
        ({"name": "x", "url": "rtsp://h/s", "zones": [{"name": "z", "points": [[0, 0], [1, 1]]}]}, 400, "3 to 256"),
        ({"name": "x", "url": "rtsp://h/s", "detector": {"kind": "yolo"}}, 400, "hog or model"),
        ({"name": "x", "url": "rtsp://h/s", "fps": "fast"}, 400, "fps"),
        ({"name": "x", "dataset": "no-such-dataset"}, 404, "no-such-dataset"),
    ]
    for body, status, words in bad:
        resp = c.post(STREAMS, json=body)
        assert resp.status_code == status and words in resp.json()["error"]["message"], (body, describe(resp))
    resp = c.post(STREAMS, data="{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    table = unique("table")
    c.post("/api/v1/datasets", json={"name": table})
    resp = c.post(STREAMS, json={"name": "x", "dataset": table})
    assert resp.status_code == 400 and "files dataset" in resp.json()["error"]["message"], describe(resp)
    assert c.get(STREAMS).json()["streams"] == before

    name = unique("paused")
    assert c.post(STREAMS, json={"name": name, "url": "rtsp://127.0.0.1:9/none"}).status_code == 201
    assert c.post(STREAMS, json={"name": name, "url": "rtsp://127.0.0.1:9/none"}).status_code == 409
    c.post(f"{STREAMS}/{name}/pause")
    for path, body, status in [
        (f"{STREAMS}/{name}/lines", {"name": "l", "points": [[1, 1], [1, 1]]}, 400),
        (f"{STREAMS}/{name}/lines", {"name": "l", "points": [[1, "a"], [1, 1]]}, 400),
        (f"{STREAMS}/{name}/zones", {"name": "z", "points": [[0, 0], [1, 0], [0, 1]], "max_occupancy": -1}, 400),
        (f"{STREAMS}/nope/lines", {"name": "l", "points": [[0, 0], [1, 1]]}, 404),
        (f"{STREAMS}/{name}/report", {"run": "1"}, 400),
    ]:
        resp = c.post(path, json=body)
        assert resp.status_code == status, (path, body, describe(resp))
    assert get_stream(c, name)["revision"] == 1
    assert c.delete(f"{STREAMS}/{name}/lines/none").status_code == 404
    for q, words in [("interval=0s", "interval"), ("interval=1w", "interval"), ("from=yesterday", "from"),
                     ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "after")]:
        resp = c.get(f"{STREAMS}/{name}/counts?{q}")
        assert resp.status_code == 400 and words in resp.json()["error"]["message"], (q, describe(resp))
    assert c.get(f"{STREAMS}/{name}/tracks?limit=0").status_code == 400
    assert c.get(f"{STREAMS}/{name}/tracks/abc").status_code == 400
    assert c.get(f"{STREAMS}/{name}/heatmap.png").status_code == 404
    resp = c.put(f"{STREAMS}/{name}/snapshot?run=0", data=b"GIF89a", headers={"Content-Type": "image/gif"})
    assert resp.status_code == 400, describe(resp)

    # Permissions: a viewer reads, cannot change; no token, nothing.
    viewer = unique("viewer")
    password = "Viewer-pass-123!"
    assert c.post("/api/v1/users", json={"username": viewer, "password": password, "roles": ["viewer"]}).status_code == 201
    v = Client(crowd_server, crowd_server.login(viewer, password))
    assert v.get(f"{STREAMS}/{name}/counts").status_code == 200
    assert v.post(STREAMS, json={"name": "v", "url": "rtsp://h/s"}).status_code == 403
    assert v.post(f"{STREAMS}/{name}/report", json={}).status_code == 403
    assert requests.get(crowd_server.url + f"{STREAMS}/{name}").status_code == 401
    assert c.delete(f"{STREAMS}/{name}").status_code == 204
