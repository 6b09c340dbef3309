"""Helpers of the crowd-flow tests (test_crowd.py, test_cli_crowd.py): the real video and its
hand-made truth, a synthetic video of coloured figures on known paths with a TorchScript model
that detects them, stream waits, and the tracking metrics (MOTA, IDF1) computed here."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import cv2
import numpy as np
import torch

from conftest import REPO_ROOT, describe, wait_for

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")  # Debian's opencv-doc
VTEST_DIR = VTEST.parent
TRUTH = json.loads((REPO_ROOT / "tests/data/vtest_crossings.json").read_text())
BOXES = json.loads((REPO_ROOT / "tests/data/vtest_boxes.json").read_text())
STREAMS = "/api/v1/crowd/streams"

# The settings the vtest tests run with: HOG at 1.5× (people there are 60-180 px tall; HOG's
# window is 128) over sizes 1.1× apart, detection on every 3rd frame with tracking in between
# (docs/guide/crowd.md, "Tuning").
VTEST_DETECTOR = {"every": 3, "scale": 1.5, "pyramid": 1.1}
VTEST_TRACKER = {"max_age": 6, "min_hits": 2, "iou": 0.2}


def truth_counts(once_per_person: bool = False) -> dict:
    """{line: {"in": n, "out": m}} from the hand annotation: every passage (the platform counts
    each passage of a track once), or each person's first passage only."""
    out = {}
    for line in TRUTH["lines"]:
        crossings = [c for c in line["crossings"] if not (once_per_person and c.get("repeat"))]
        out[line["name"]] = {d: sum(1 for c in crossings if c["direction"] == d) for d in ("in", "out")}
    return out


def truth_lines() -> list[dict]:
    return [{"name": line["name"], "points": line["points"]} for line in TRUTH["lines"]]


def get_stream(client, name: str) -> dict:
    resp = client.get(f"{STREAMS}/{name}")
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def wait_state(client, name: str, states, timeout: float) -> dict:
    states = (states,) if isinstance(states, str) else tuple(states)
    return wait_for(lambda: (s := get_stream(client, name))["state"] in states and s, timeout,
                    f"stream {name} to be {' or '.join(states)}", interval=0.5)


# --------------------------------------------------------------------------------------------
# The synthetic video: coloured figures (24 × 70 px) on a dark ground, 640 × 360, 10 frames a
# second; each figure's feet (its bottom centre) follow a path known here exactly.

WIDTH, HEIGHT, FRAMES = 640, 360, 70
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0), "magenta": (255, 0, 255)}


def figure_feet(name: str, t: int):
    """Where a figure stands at frame t (None: not in the picture)."""
    if name == "red":  # walks right along y=200
        return (40 + 8 * t, 200)
    if name == "green":  # walks left along y=300
        return (600 - 8 * t, 300)
    if name == "blue":  # stands on the bench from frame 5 to frame 45
        return (140, 120) if 5 <= t <= 45 else None
    if name == "yellow":  # walks right from frame 10, turns at 40, walks back until 60
        if 10 <= t <= 40:
            return (200 + 8 * (t - 10), 100)
        if 40 < t <= 60:
            return (440 - 8 * (t - 40), 100)
    if name == "magenta":  # walks right onto x=600, flickers 6 px either side of it, stops
        if 10 <= t <= 20:
            return (570 + 3 * (t - 10), 300)
        if 20 < t <= 40:
            return (606 if t % 2 else 594, 300)
        if 40 < t <= 50:
            return (606, 300)
    return None


def synthetic_frames() -> list[bytes]:
    """PNG frames (lossless: the colours stay exact)."""
    out = []
    for t in range(FRAMES):
        img = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
        for name, rgb in COLOURS.items():
            feet = figure_feet(name, t)
            if feet is None:
                continue
            x, y = feet
            cv2.rectangle(img, (x - 12, y - 70), (x + 11, y - 1), rgb[::-1], thickness=-1)
        ok, png = cv2.imencode(".png", img)
        assert ok
        out.append(png.tobytes())
    return out


def frames_tar(frames: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i, data in enumerate(frames):
            info = tarfile.TarInfo(f"frames/{i:04d}.png")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class ColourDetector(torch.nn.Module):
    """A detection model for the synthetic video: image FP32 [1, 3, H, W] (RGB, 0-1) → rows
    [x1, y1, x2, y2, score] (one per colour; score 0 where the colour is absent)."""

    def __init__(self):
        super().__init__()
        self.colours = torch.tensor([[c / 255.0 for c in rgb] for rgb in COLOURS.values()], dtype=torch.float32)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image[0]
        rows = []
        for k in range(self.colours.size(0)):
            mask = ((x - self.colours[k].view(3, 1, 1)).abs() < 0.2).all(dim=0)
            nz = mask.nonzero()
            if nz.size(0) > 0:
                y1 = nz[:, 0].min().to(torch.float32)
                y2 = nz[:, 0].max().to(torch.float32) + 1
                x1 = nz[:, 1].min().to(torch.float32)
                x2 = nz[:, 1].max().to(torch.float32) + 1
                rows.append(torch.stack([x1, y1, x2, y2, torch.tensor(1.0)]))
            else:
                rows.append(torch.zeros(5))
        return torch.stack(rows)


def colour_detector(path: Path) -> Path:
    torch.jit.script(ColourDetector().eval()).save(str(path))
    return path


def deploy_colour_detector(client, tmp: Path, name: str) -> str:
    resp = client.post("/api/v1/models", json={"name": name})
    assert resp.status_code == 201, describe(resp)
    sig = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 3, -1, -1]}],
           "outputs": [{"name": "boxes", "datatype": "FP32", "shape": [-1, 5]}]}
    resp = client.post(f"/api/v1/models/{name}/versions?framework=torchscript",
                       data=colour_detector(tmp / "colours.pt").read_bytes(),
                       headers={"Content-Type": "application/octet-stream", "X-Model-Metadata": json.dumps({"signature": sig})},
                       timeout=60)
    assert resp.status_code == 201, describe(resp)
    resp = client.post("/api/v1/deployments", json={"name": name, "model": name, "version": 1}, timeout=120)
    assert resp.status_code == 201 and resp.json()["state"] == "ready", describe(resp)
    return name


# --------------------------------------------------------------------------------------------
# Tracking quality (CLEAR MOT's MOTA, Ristani et al.'s IDF1) at IoU 0.5.


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def assign(cost: list[list[float]]) -> list[tuple[int, int]]:
    """Minimum-cost pairing of rows and columns (Hungarian method; rectangular)."""
    n, m = len(cost), len(cost[0]) if cost else 0
    if n == 0 or m == 0:
        return []
    transposed = n > m
    if transposed:
        cost = [list(col) for col in zip(*cost)]
        n, m = m, n
    inf = float("inf")
    u, v, p, way = [0.0] * (n + 1), [0.0] * (m + 1), [0] * (m + 1), [0] * (m + 1)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = [inf] * (m + 1), [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    pairs = [(p[j] - 1, j - 1) for j in range(1, m + 1) if p[j]]
    return [(c, r) for r, c in pairs] if transposed else pairs


def tracking_metrics(truth_frames: list[dict], tracks_by_frame: dict[int, list]) -> dict:
    """truth_frames: [{"frame", "boxes": [{"id", "box"}]}]; tracks_by_frame: frame → [[id, x1, y1,
    x2, y2]]. Returns MOTA, IDF1 and their parts."""
    gt_total = fp = fn = switches = 0
    last_match: dict[int, int] = {}
    overlap: dict[tuple[int, int], int] = {}
    gt_count: dict[int, int] = {}
    tr_count: dict[int, int] = {}
    for f in truth_frames:
        gts = [(b["id"], b["box"]) for b in f["boxes"]]
        trs = [(t[0], t[1:5]) for t in tracks_by_frame.get(f["frame"], [])]
        gt_total += len(gts)
        for g, _ in gts:
            gt_count[g] = gt_count.get(g, 0) + 1
        for t, _ in trs:
            tr_count[t] = tr_count.get(t, 0) + 1
        # CLEAR MOT: keep last frame's pairs where they still overlap, then pair the rest.
        matched = {}
        for gi, (g, gb) in enumerate(gts):
            t = last_match.get(g)
            for ti, (tid, tb) in enumerate(trs):
                if tid == t and ti not in matched.values() and iou(gb, tb) >= 0.5:
                    matched[gi] = ti
        rest_g = [i for i in range(len(gts)) if i not in matched]
        rest_t = [i for i in range(len(trs)) if i not in matched.values()]
        cost = [[1 - iou(gts[g][1], trs[t][1]) for t in rest_t] for g in rest_g]
        for r, c in assign(cost):
            if cost[r][c] <= 0.5:
                matched[rest_g[r]] = rest_t[c]
        for gi, ti in matched.items():
            g, tid = gts[gi][0], trs[ti][0]
            if g in last_match and last_match[g] != tid:
                switches += 1
            last_match[g] = tid
        fn += len(gts) - len(matched)
        fp += len(trs) - len(matched)
        # IDF1 counts every overlapping pair of a frame, to pair identities globally after.
        for g, gb in gts:
            for tid, tb in trs:
                if iou(gb, tb) >= 0.5:
                    overlap[(g, tid)] = overlap.get((g, tid), 0) + 1
    gids, tids = sorted(gt_count), sorted(tr_count)
    # Global identity pairing maximising the frames both agree on.
    cost = [[-overlap.get((g, t), 0) for t in tids] for g in gids]
    idtp = sum(-cost[r][c] for r, c in assign(cost)) if gids and tids else 0
    total_gt, total_tr = sum(gt_count.values()), sum(tr_count.values())
    idf1 = 2 * idtp / (total_gt + total_tr) if total_gt + total_tr else 0.0
    mota = 1 - (fn + fp + switches) / gt_total if gt_total else 0.0
    return {"mota": mota, "idf1": idf1, "fp": fp, "fn": fn, "switches": switches, "gt": gt_total}
