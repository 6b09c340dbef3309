"""`aimass crowd …`: a stream over vtest.avi started with a line from the command line, a line and
a zone drawn while it runs, counts, tracks and alerts printed as tables whose numbers are the
API's, the heatmap and the frame saved as files that decode, pause, resume and delete; `crowd
analyze` on a local file without a server; bad input refused with a clear message."""
from __future__ import annotations

import json

import cv2
import pytest

from conftest import ServerFactory, unique, wait_for
from crowd_helpers import STREAMS, VTEST, VTEST_DIR, get_stream, wait_state
from test_cli import Cli


@pytest.fixture(scope="module")
def crowd_server(aimass_bin, tmp_path_factory):
    factory = ServerFactory(aimass_bin, tmp_path_factory, "cli-crowd")
    yield factory(env={"AIMASS_CROWD_VIDEO_DIRS": str(VTEST_DIR)})
    factory.stop_all()


@pytest.fixture
def crowd_cli(aimass_bin, tmp_path, crowd_server):
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(aimass_bin, home)
    cli.login(crowd_server)
    return cli


def test_crowd_from_the_command_line(crowd_cli, crowd_server, tmp_path):
    c = crowd_server.admin
    name = unique("clicrowd")
    out = crowd_cli.run("crowd", "create", name, "--url", str(VTEST), "--every", "6", "--scale", "0.75", "--realtime",
                        "--line", "centre:530,430;530,150").stdout
    assert f"Started stream {name}" in out, out
    s = get_stream(c, name)
    assert s["lines"] == [{"name": "centre", "points": [[530.0, 430.0], [530.0, 150.0]]}]
    assert s["detector"]["every"] == 6 and s["realtime"] is True

    out = crowd_cli.run("crowd", "line", name, "left", "150,330;150,185").stdout
    assert "Saved line left (revision 2)" in out, out
    out = crowd_cli.run("crowd", "zone", name, "square", "200,250;700,250;700,560;200,560", "--max-occupancy", "2",
                        "--loiter-s", "3").stdout
    assert "Saved zone square (revision 3)" in out, out
    zone = get_stream(c, name)["zones"][0]
    assert zone["max_occupancy"] == 2 and zone["loiter_s"] == 3 and len(zone["points"]) == 4

    wait_for(lambda: get_stream(c, name)["frames"] >= 150, 60, "150 frames")
    listed = crowd_cli.run("crowd", "streams").stdout
    assert name in listed and "running" in listed, listed

    shown = crowd_cli.json("crowd", "show", name)
    assert shown["name"] == name and shown["frames"] >= 150
    out = crowd_cli.run("crowd", "pause", name).stdout
    assert f"Stream {name} is paused" in out, out
    wait_for(lambda: c.get(f"/api/v1/jobs/{get_stream(c, name)['job']}").json()["state"] != "running", 30, "the worker to stop")

    # The tables print the API's numbers.
    api = c.get(f"{STREAMS}/{name}/counts").json()
    table = crowd_cli.run("crowd", "counts", name).stdout
    row = next(line.split() for line in table.splitlines() if line.startswith("line") and " centre " in f" {line} ")
    assert row[2:4] == [str(api["lines"]["centre"]["in"]), str(api["lines"]["centre"]["out"])], (row, api["lines"])
    zrow = next(line.split() for line in table.splitlines() if line.startswith("zone"))
    assert zrow[1] == "square" and zrow[2] == str(api["zones"]["square"]["max"]), (zrow, api["zones"])
    assert crowd_cli.json("crowd", "counts", name, "--interval", "10s")["interval_s"] == 10
    tracks = c.get(f"{STREAMS}/{name}/tracks?path=false&limit=100").json()["tracks"]
    printed = crowd_cli.run("crowd", "tracks", name).stdout
    assert len([line for line in printed.splitlines()[1:] if line.strip()]) == len(tracks), printed
    alerts = c.get(f"{STREAMS}/{name}/alerts").json()["alerts"]
    printed = crowd_cli.run("crowd", "alerts", name).stdout
    assert sum(1 for line in printed.splitlines() if "overcrowding" in line or "loitering" in line) == len(alerts), printed

    heat, frame = tmp_path / "heat.png", tmp_path / "frame.jpg"
    assert "Wrote" in crowd_cli.run("crowd", "heatmap", name, "-o", str(heat)).stdout
    assert cv2.imread(str(heat)).shape == (576, 768, 3)
    crowd_cli.run("crowd", "snapshot", name, "-o", str(frame))
    assert cv2.imread(str(frame)).shape == (576, 768, 3)

    assert "starting" in crowd_cli.run("crowd", "resume", name).stdout
    assert "Removed zone square" in crowd_cli.run("crowd", "zone", name, "square", "--remove").stdout
    assert get_stream(c, name)["zones"] == []
    assert f"Deleted stream {name}" in crowd_cli.run("crowd", "delete", name).stdout
    assert c.get(f"{STREAMS}/{name}").status_code == 404

    # Bad input: a clear message, exit 1, nothing made.
    bad = crowd_cli.run("crowd", "create", "x", "--url", "/etc/passwd", expect=1)
    assert "crowd.video_dirs" in bad.stderr, bad.stderr
    bad = crowd_cli.run("crowd", "create", "x", "--url", "rtsp://h/s", "--line", "door:1,2", expect=1)
    assert "2 points" in bad.stderr, bad.stderr
    bad = crowd_cli.run("crowd", "line", "x", "l", "1,2;x,y", expect=1)
    assert "'x,y' is not a point" in bad.stderr, bad.stderr
    bad = crowd_cli.run("crowd", "heatmap", "nope", "-o", str(tmp_path / "n.png"), expect=1)
    assert "no crowd stream 'nope'" in bad.stderr, bad.stderr
    assert c.get(STREAMS).json()["streams"] == []


def test_crowd_analyze_runs_without_a_server(aimass_bin, tmp_path):
    cli = Cli(aimass_bin, tmp_path)
    tracks = tmp_path / "tracks.jsonl"
    out = cli.run("crowd", "analyze", str(VTEST), "--every", "6", "--scale", "0.75", "--line", "centre:530,430;530,150",
                  "--tracks-out", str(tracks), "--frames", "400", timeout=300).stdout
    r = json.loads(out)
    assert r["frames"] == 400 and r["fps"] > 0
    line = r["lines"]["centre"]
    assert line["in"] + line["out"] == len(r["crossings"]) > 0
    frames = [json.loads(x) for x in tracks.read_text().splitlines()]
    assert [f["frame"] for f in frames] == list(range(400))
    ids = {t[0] for f in frames for t in f["tracks"]}
    assert {c["track"] for c in r["crossings"]} <= ids and len(ids) == r["tracks"]
    bad = cli.run("crowd", "analyze", str(tmp_path / "none.avi"), expect=1)
    assert "cannot open the video" in bad.stderr, bad.stderr
