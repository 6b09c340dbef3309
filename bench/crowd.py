"""bench/crowd.sh: the crowd module's people counting on Debian's vtest.avi, frames a second and
counting error against the hand annotation (tests/data/vtest_crossings.json), beside OpenCV's own
people-detection sample approach (bench/crowd_opencv.py: HOG on every full frame, a greedy tracker
to count). See crowd.sh's header."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aimass_bench  # noqa: E402
from aimass_bench import Aimass, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3"  # Debian's: python3-opencv
VIDEO = Path(os.environ.get("VIDEO", "/usr/share/doc/opencv-doc/examples/data/vtest.avi"))
TRUTH_FILE = ROOT / "tests/data/vtest_crossings.json"
REPEAT = int(os.environ.get("REPEAT", 3))
SERVER_REPEAT = int(os.environ.get("SERVER_REPEAT", 1))
UPSCALED = os.environ.get("UPSCALED", "1") != "0"  # the peer's second row, frames ×1.5
WORK = Path(os.environ.get("WORK", "/tmp/aimass-bench-crowd"))
KEEP = os.environ.get("KEEP", "") == "1"
QUIET_WAIT_S = float(os.environ.get("QUIET_WAIT_S", 600))  # before each run, at most this long
QUIET_CORES = float(os.environ.get("QUIET_CORES", 0.3))
BIN = aimass_bench.BIN

# The tuned settings (tests/e2e/crowd_helpers.py's VTEST_DETECTOR / VTEST_TRACKER), and HOG on every
# full frame with OpenCV's defaults (pyramid 1.05) and the same tracker: the ablation.
TUNED = {"every": 3, "scale": 1.5, "pyramid": 1.1}
EVERY_FRAME = {"every": 1, "scale": 1.0}
TRACKER = {"max_age": 6, "min_hits": 2, "iou": 0.2}
CELLS = [("centre", "in"), ("centre", "out"), ("left", "in"), ("left", "out")]


def truth() -> tuple[list[dict], dict, float]:
    t = json.loads(TRUTH_FILE.read_text())
    lines = [{"name": l["name"], "points": l["points"]} for l in t["lines"]]
    counts = {l["name"]: {d: sum(1 for c in l["crossings"] if c["direction"] == d) for d in ("in", "out")} for l in t["lines"]}
    return lines, counts, t.get("fps", 10.0)


# ---------------------------------------------------------------- CPU accounting

def machine_busy_s() -> float:
    """All CPUs' busy time since boot (user, nice, system, irq, softirq, steal), seconds."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] if len(f) > 7 else 0)) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """A process's CPU time with its waited-for children's (utime, stime, cutime, cstime)."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")


def worker_cpu(name: str, seen: dict[int, float]) -> None:
    """Records the CPU time of the stream's worker processes (`aimass crowd worker NAME`, in their
    sandbox: not the server's waited-for children) into seen {pid: seconds}, the latest sample."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
            if b"crowd" in argv and b"worker" in argv and name.encode() in argv:
                f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
                seen[int(d)] = sum(int(x) for x in f[11:13]) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass


def wait_quiet(what: str) -> None:
    """Waits (up to QUIET_WAIT_S) until other processes use under QUIET_CORES cores over 3 s: on a
    shared machine, a build or a test beside a timed run slows it."""
    if QUIET_WAIT_S <= 0:
        return
    t0 = time.perf_counter()
    while True:
        b0 = machine_busy_s()
        time.sleep(3)
        cores = (machine_busy_s() - b0) / 3
        waited = time.perf_counter() - t0
        if cores < QUIET_CORES or waited >= QUIET_WAIT_S:
            if waited > 4:
                print(f"  (waited {waited:.0f} s for a quiet machine before {what}: others at {cores:.2f} cores)", flush=True)
            return


def children_cpu_s() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------- the runs

def run_json(cmd: list[str], label: str) -> tuple[dict, dict]:
    """Runs a command that prints one JSON object; returns it and the wall time, its CPU time and
    other processes' CPU time meanwhile."""
    b0, c0, t0 = machine_busy_s(), children_cpu_s(), time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall, cpu, busy = time.perf_counter() - t0, children_cpu_s() - c0, machine_busy_s() - b0
    if p.returncode != 0:
        sys.exit(f"{label}: {shlex.join(cmd)} failed ({p.returncode}): {p.stderr[-3000:]}")
    return json.loads(p.stdout), {"wall_s": wall, "cpu_s": cpu, "others_cores": max(0.0, busy - cpu) / wall}


def offline_run(label: str, cmd: list[str], i: int, repeat: int) -> dict:
    wait_quiet(f"{label} run {i + 1}")
    out, acct = run_json(cmd, label)
    out.pop("crossings", None)
    print(f"  {label} run {i + 1}/{repeat}: {out['frames']} frames in {out['seconds']:.1f} s = {out['fps']:.2f} frames/s "
          f"(process {acct['wall_s']:.1f} s wall, {acct['cpu_s']:.1f} CPU-s; other processes {acct['others_cores']:.2f} cores); "
          f"{json.dumps(out['lines'])}", flush=True)
    return {**out, **acct}


def summarise(label: str, runs: list[dict], fps: list[float]) -> dict:
    counts = [r["lines"] for r in runs]
    return {"label": label, "runs": runs, "fps": statistics.median(fps), "fps_all": fps, "lines": counts[0],
            "frames_per_cpu_s": statistics.median(r["frames"] / r["cpu_s"] for r in runs),
            "counts_vary": any(c != counts[0] for c in counts),
            "others_cores": statistics.median(r["others_cores"] for r in runs)}


def rfc3339_s(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def server_runs(lines: list[dict], work: Path) -> dict:
    """The tuned analysis as a user runs it: a stream of the platform, a sandboxed cluster job."""
    os.environ["AIMASS_CROWD_VIDEO_DIRS"] = str(VIDEO.parent)
    srv = Aimass(work)
    runs = []
    try:
        for i in range(SERVER_REPEAT):
            name = f"vtest-bench-{i + 1}"
            body = {"name": name, "url": str(VIDEO), "lines": lines, "detector": TUNED, "tracker": TRACKER}
            wait_quiet(f"server stream run {i + 1}")
            workers: dict[int, float] = {}
            b0, c0 = machine_busy_s(), tree_cpu_s(srv.proc.pid)
            t0 = time.perf_counter()
            srv.call("POST", "/api/v1/crowd/streams", body)
            while True:
                worker_cpu(name, workers)
                s = srv.call("GET", f"/api/v1/crowd/streams/{name}")
                if s["state"] in ("finished", "failed"):
                    break
                if time.perf_counter() - t0 > 1800:
                    sys.exit(f"stream {name} not finished after 30 min: {json.dumps(s)}")
                time.sleep(0.1)
            wall = time.perf_counter() - t0
            if s["state"] != "finished":
                sys.exit(f"stream {name} failed: {json.dumps(s)}")
            for _ in range(600):  # the job ends a moment after its worker reports the stream finished
                worker_cpu(name, workers)
                job = srv.call("GET", f"/api/v1/jobs/{s['job']}")
                if job.get("finished_at"):
                    break
                time.sleep(0.1)
            # The server's own CPU (with any children it waited for) and the worker's, last sampled
            # within 0.1 s of its end (the worker runs in a sandbox, not as the server's child).
            server_cpu, worker = tree_cpu_s(srv.proc.pid) - c0, sum(workers.values())
            busy, cpu = machine_busy_s() - b0, server_cpu + worker
            counts = srv.call("GET", f"/api/v1/crowd/streams/{name}/counts")
            job_s = rfc3339_s(job["finished_at"]) - rfc3339_s(job["started_at"])
            run = {"frames": s["frames"], "wall_s": wall, "wall_fps": s["frames"] / wall, "job_s": job_s,
                   "fps": s["frames"] / job_s, "processing_fps": s.get("processing_fps"), "job": {k: job.get(k) for k in (
                       "id", "state", "exit_code", "created_at", "started_at", "finished_at", "node")},
                   "lines": counts["lines"], "cpu_s": cpu, "server_cpu_s": server_cpu, "worker_cpu_s": worker,
                   "others_cores": max(0.0, busy - cpu) / wall}
            runs.append(run)
            print(f"  server stream run {i + 1}/{SERVER_REPEAT}: {s['frames']} frames; POST to finished {wall:.1f} s = "
                  f"{run['wall_fps']:.2f} frames/s; job {job['id']} {job['started_at']} .. {job['finished_at']} = {job_s:.1f} s = "
                  f"{run['fps']:.2f} frames/s; the stream's processing_fps {run['processing_fps']}; CPU: server {server_cpu:.1f} s, "
                  f"worker {worker:.1f} s (other processes {run['others_cores']:.2f} cores); {json.dumps(counts['lines'])}", flush=True)
    finally:
        srv.stop()
    r = summarise("aimass server stream", [{**x, "cpu_s": x["worker_cpu_s"]} for x in runs], [x["fps"] for x in runs])
    r["wall_fps"] = statistics.median(x["wall_fps"] for x in runs)
    r["processing_fps"] = statistics.median(x["processing_fps"] for x in runs if x["processing_fps"] is not None) \
        if any(x["processing_fps"] is not None for x in runs) else None
    return r


# ---------------------------------------------------------------- report

def errors(lines: dict, t: dict) -> tuple[dict, float]:
    per = {f"{l} {d}": abs(lines.get(l, {}).get(d, 0) - t[l][d]) / t[l][d] for l, d in CELLS}
    total = sum(abs(lines.get(l, {}).get(d, 0) - t[l][d]) for l, d in CELLS) / sum(t[l][d] for l, d in CELLS)
    return per, total


def main():
    if not Path(BIN).exists():
        sys.exit(f"no aimass binary at {BIN} (AIMASS_BIN=...)")
    if REPEAT < 1 or SERVER_REPEAT < 1:
        sys.exit("REPEAT and SERVER_REPEAT are at least 1")
    if not VIDEO.exists():
        sys.exit(f"no {VIDEO}: scripts/install-deps installs opencv-doc")
    lines, t, video_fps = truth()
    total_truth = sum(t[l][d] for l, d in CELLS)
    knobs = " ".join(f"{k}={os.environ[k]}" for k in ("AIMASS_BIN", "REPEAT", "SERVER_REPEAT", "UPSCALED", "WORK", "KEEP", "VIDEO",
                                                   "QUIET_WAIT_S", "QUIET_CORES")
                     if k in os.environ)
    print(f"command:  {knobs + ' ' if knobs else ''}bench/crowd.sh {shlex.join(sys.argv[1:])}".rstrip())
    print(f"date:     {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}")
    print(f"machine:  {machine()}")
    st = os.stat(BIN)
    print(f"aimass:   {BIN} ({st.st_size / 2**20:.0f} MiB, modified {datetime.fromtimestamp(st.st_mtime, timezone.utc):%Y-%m-%d %H:%M} UTC)")
    import cv2  # Debian's python3-opencv: the peer's
    print(f"peer:     {PYTHON} {sys.version.split()[0]}, OpenCV {cv2.__version__} (python3-opencv), bench/crowd_opencv.py")
    print(f"video:    {VIDEO} ({cv2.VideoCapture(str(VIDEO)).get(cv2.CAP_PROP_FRAME_COUNT):.0f} frames at {video_fps:g} frames/s)")
    print(f"truth:    {TRUTH_FILE.relative_to(ROOT)}: " + ", ".join(f"{l} {t[l]['in']} in / {t[l]['out']} out" for l in t) +
          f" ({total_truth} crossings, repeat passages counted)")
    print(f"load avg: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the start", flush=True)

    WORK.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    spec_tuned, spec_every = work / "spec_tuned.json", work / "spec_every_frame.json"
    spec_tuned.write_text(json.dumps({"lines": lines, "detector": TUNED, "tracker": TRACKER}))
    spec_every.write_text(json.dumps({"lines": lines, "detector": EVERY_FRAME, "tracker": TRACKER}))
    video = str(VIDEO)
    cmds = {
        "tuned": [BIN, "crowd", "analyze", video, "--file", str(spec_tuned)],
        "every": [BIN, "crowd", "analyze", video, "--file", str(spec_every)],
        "cv": [PYTHON, str(ROOT / "bench/crowd_opencv.py"), video, str(spec_tuned), "--threads", "2"],
        "cv15": [PYTHON, str(ROOT / "bench/crowd_opencv.py"), video, str(spec_tuned), "--threads", "2", "--scale", "1.5"],
    }
    print("\ncommands:")
    print(f"  spec (tuned):       {spec_tuned.read_text()}")
    print(f"  spec (every frame): {spec_every.read_text()}")
    for k in ("tuned", "every", "cv") + (("cv15",) if UPSCALED else ()):
        print(f"  {shlex.join(cmds[k])}")
    print(f"  {BIN} server (AIMASS_CROWD_VIDEO_DIRS={VIDEO.parent}); POST /api/v1/crowd/streams "
          f"{json.dumps({'name': 'vtest-bench-N', 'url': video, 'lines': '(as the spec)', 'detector': TUNED, 'tracker': TRACKER})}; "
          f"GET /api/v1/crowd/streams/NAME until finished; GET /api/v1/jobs/JOB; GET /api/v1/crowd/streams/NAME/counts")
    print(f"\nruns: {REPEAT} of each offline analysis, {SERVER_REPEAT} through the server (after the first round), one at a time, round by round", flush=True)

    # Round by round (each method once a round), so that a slow spell of the machine falls on all
    # of them alike; the server's runs after the first round.
    labels = {"tuned": "aimass analyze, tuned", "every": "aimass analyze, HOG every frame",
              "cv": "OpenCV sample + greedy tracker", "cv15": "OpenCV sample + greedy tracker, x1.5"}
    order = ["tuned", "every", "cv"] + (["cv15"] if UPSCALED else [])
    runs: dict[str, list] = {k: [] for k in order}
    server = None
    for i in range(REPEAT):
        for k in order:
            runs[k].append(offline_run(labels[k], cmds[k], i, REPEAT))
        if server is None:
            server = server_runs(lines, work)
    rows = {}
    for k in order:
        rows[k] = summarise(labels[k], runs[k], [r["fps"] for r in runs[k]])
        if k == "tuned":
            rows["server"] = server
    print(f"load avg: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the end")

    names = {
        "tuned": "AI Mass crowd analyze: HOG x1.5 every 3rd frame, SORT",
        "server": "AI Mass server stream (cluster job), same settings",
        "every": "AI Mass crowd analyze: HOG every full frame, SORT",
        "cv": "OpenCV peopledetect.py every full frame + greedy",
        "cv15": "OpenCV peopledetect.py every frame x1.5 + greedy",
    }
    w = max(len(n) for n in names.values())
    print(f"\nframes/s: median of the runs ({REPEAT} offline, {SERVER_REPEAT} server); the server row: frames / the worker job's "
          "started_at..finished_at\n(its start-up included). Real time = the video's {:g} frames/s. Cells: counted (|counted - truth| / "
          "truth). Error: the sum of\n|counted - truth| over the four cells / {} crossings. f/CPU-s: frames per CPU-second (user + "
          "system, all threads;\nthe server row: the worker's), less moved by other load than frames/s. others: other processes' CPU "
          "use meanwhile,\ncores (median): where it is well above 0, the frames/s is low.".format(video_fps, total_truth))
    hdr = (f"{'method':<{w}} {'frames/s':>8} {'x real':>6} {'f/CPU-s':>7} " + " ".join(f"{l + ' ' + d:>13}" for l, d in CELLS) +
           f" {'error':>6} {'others':>6}")
    print(hdr)
    print("-" * len(hdr))
    print(f"{'hand annotation (truth)':<{w}} {'':>8} {'':>6} {'':>7} " + " ".join(f"{t[l][d]:>13}" for l, d in CELLS))
    for k, r in rows.items():
        per, total = errors(r["lines"], t)
        r["errors"], r["error"], r["realtime_factor"] = per, total, r["fps"] / video_fps
        cells = " ".join(f"{r['lines'][l][d]} ({per[l + ' ' + d] * 100:.0f}%)".rjust(13) for l, d in CELLS)
        print(f"{names[k]:<{w}} {r['fps']:8.2f} {r['fps'] / video_fps:6.2f} {r['frames_per_cpu_s']:7.2f} {cells} {total * 100:5.1f}% {r['others_cores']:6.2f}")
    print("-" * len(hdr))
    srv = rows["server"]
    print(f"server stream: POST to finished {srv['wall_fps']:.2f} frames/s; the stream's own processing_fps {srv['processing_fps']}")
    vary = [names[k] for k, r in rows.items() if r["counts_vary"]]
    if vary:
        print(f"NOTE: counts differed between runs of: {', '.join(vary)} (the table shows the first run's)")

    cv, ev = rows["cv"], rows["every"]
    print("\nratios:")
    for k in ("tuned", "server", "every"):
        r = rows[k]
        print(f"  {names[k]}: {r['fps'] / cv['fps']:.2f}x OpenCV's frames/s; error {r['error'] * 100:.1f}% vs OpenCV's "
              f"{cv['error'] * 100:.1f}% ({(r['error'] - cv['error']) * 100:+.1f} points)")
    if UPSCALED:
        c15 = rows["cv15"]
        print(f"  {names['tuned']}: {rows['tuned']['fps'] / c15['fps']:.2f}x the x1.5 peer's frames/s; error "
              f"{rows['tuned']['error'] * 100:.1f}% vs its {c15['error'] * 100:.1f}%")
    print("\ngoals (at least real time on 2 cores; no worse counting error than detection on every frame):")
    for k in ("tuned", "server"):
        r = rows[k]
        print(f"  {names[k]}: {r['fps']:.2f} frames/s >= {video_fps:g}: {'met' if r['fps'] >= video_fps else 'NOT MET'}; "
              f"error {r['error'] * 100:.1f}% <= OpenCV every frame {cv['error'] * 100:.1f}%: "
              f"{'met' if r['error'] <= cv['error'] else 'NOT MET'}; <= AI Mass every frame {ev['error'] * 100:.1f}%: "
              f"{'met' if r['error'] <= ev['error'] else 'NOT MET'}" +
              (f"; <= OpenCV every frame x1.5 {rows['cv15']['error'] * 100:.1f}%: "
               f"{'met' if r['error'] <= rows['cv15']['error'] else 'NOT MET'}" if UPSCALED else ""))

    result = {"date": datetime.now(timezone.utc).isoformat(), "machine": machine(), "aimass": BIN, "video": video,
              "video_fps": video_fps, "truth": t, "repeat": REPEAT, "server_repeat": SERVER_REPEAT,
              "commands": {k: shlex.join(v) for k, v in cmds.items()}, "tuned": {"detector": TUNED, "tracker": TRACKER},
              "every_frame": {"detector": EVERY_FRAME, "tracker": TRACKER}, "rows": {k: {"name": names[k], **r} for k, r in rows.items()}}
    out = WORK / "result.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"\nresult: {out}")
    if KEEP:
        print(f"kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
