"""The peer of bench/crowd.sh: OpenCV's own people-detection sample approach, counting people
crossing lines in a video. Run with Debian's python3 (python3-opencv, numpy):

    /usr/bin/python3 bench/crowd_opencv.py VIDEO SPEC.json [--scale S] [--threads N]

SPEC.json holds the counting lines as `aimass crowd analyze --file` takes them: {"lines": [{"name",
"points": [[x1, y1], [x2, y2]]}]}. Prints one JSON object like aimass crowd analyze's: {"frames",
"seconds", "fps", "lines": {name: {"in", "out"}}, "crossings": [...], "tracks", ...}; "seconds"
is the loop over the video (reading and decoding included, Python's start-up and imports not).

Detection, as samples/python/peopledetect.py (Debian's copy: /usr/share/doc/opencv-doc/examples/
python/peopledetect.py) does it, on every full frame: cv2.HOGDescriptor() with
getDefaultPeopleDetector(), detectMultiScale(img, winStride=(8, 8), padding=(32, 32), scale=1.05)
(its other arguments at their defaults: hitThreshold 0, finalThreshold 2), boxes lying wholly
inside another dropped (the sample's inside() filter), each box shrunk by 15 % of its width on
either side and 5 % of its height at top and bottom (the sample's draw_detections). With
--scale S (not 1) each frame is resized by S first (bilinear) and the boxes scaled back.
cv2.setNumThreads(N) (default 2: both cores of the benchmark machine, as aimass's HOG uses).

The sample stops at detections; counting needs identities across frames, so this adds the
simplest tracker that can count (no motion model, no Kalman filter, no Hungarian assignment):
  - each frame, the pairs (live track, detection) with IoU >= 0.2 are taken greedily, highest
    IoU first; then the pairs left whose centres lie within half the track's box height are
    taken greedily, nearest first;
  - a matched track takes the detection's box; an unmatched detection starts a new track; a
    track unmatched for more than MAX_AGE = 6 frames is dropped;
  - a track is counted only from its 2nd matched frame on (MIN_HITS = 2: a lone false detection
    never counts).
Counting is aimass's rule (src/mot/line_counter.cpp), written again here: the point a track
stands on (its box's bottom centre) crossing a line segment from the left of the line's direction
(points[0] -> points[1], y down) to its right is "in", the other way "out"; once per passage: after
a count the line counts that track again only once it has gone 0.25 of its box height away on the
side it crossed to; a track's last point off the line is kept for 30 frames after it was last seen.
"""
from __future__ import annotations

import argparse
import json
import math
import time

import cv2

MAX_AGE = 6
MIN_HITS = 2
IOU_MIN = 0.2
CENTRE_GATE = 0.5  # of the track's box height
LINGER = 30
REARM = 0.25


# ---------------------------------------------------------------- the sample's detection

def inside(r, q):  # peopledetect.py's
    rx, ry, rw, rh = r
    qx, qy, qw, qh = q
    return rx > qx and ry > qy and rx + rw < qx + qw and ry + rh < qy + qh


class Detector:
    def __init__(self, scale: float):
        self.scale = scale
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, frame) -> list[tuple[float, float, float, float]]:
        img = frame if self.scale == 1.0 else cv2.resize(frame, None, fx=self.scale, fy=self.scale,
                                                          interpolation=cv2.INTER_LINEAR)
        found, _w = self.hog.detectMultiScale(img, winStride=(8, 8), padding=(32, 32), scale=1.05)
        found = [tuple(int(v) for v in r) for r in found]
        kept = [r for ri, r in enumerate(found) if not any(ri != qi and inside(r, q) for qi, q in enumerate(found))]
        s = 1.0 / self.scale
        out = []
        for x, y, w, h in kept:
            pw, ph = 0.15 * w, 0.05 * h  # the sample's draw_detections
            out.append(((x + pw) * s, (y + ph) * s, (x + w - pw) * s, (y + h - ph) * s))
        return out


# ---------------------------------------------------------------- the simplest tracker

def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def centre(b):
    return ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)


class GreedyTracker:
    def __init__(self):
        self.tracks: dict[int, dict] = {}  # id -> {box, hits, missed}
        self.next_id = 1

    def update(self, dets) -> list[tuple[int, tuple]]:
        """The tracks matched in this frame with at least MIN_HITS matches: [(id, box)]."""
        ids = list(self.tracks)
        free_t, free_d, pairs = set(ids), set(range(len(dets))), []
        cand = sorted(((iou(self.tracks[t]["box"], d), t, j) for t in ids for j, d in enumerate(dets)), reverse=True)
        for v, t, j in cand:
            if v < IOU_MIN:
                break
            if t in free_t and j in free_d:
                pairs.append((t, j))
                free_t.discard(t)
                free_d.discard(j)
        cand = []
        for t in free_t:
            b = self.tracks[t]["box"]
            (cx, cy), gate = centre(b), CENTRE_GATE * (b[3] - b[1])
            for j in free_d:
                dx, dy = centre(dets[j])
                dist = math.hypot(dx - cx, dy - cy)
                if dist <= gate:
                    cand.append((dist, t, j))
        for _, t, j in sorted(cand):
            if t in free_t and j in free_d:
                pairs.append((t, j))
                free_t.discard(t)
                free_d.discard(j)
        seen = []
        for t, j in pairs:
            tr = self.tracks[t]
            tr["box"], tr["hits"], tr["missed"] = dets[j], tr["hits"] + 1, 0
            if tr["hits"] >= MIN_HITS:
                seen.append((t, dets[j]))
        for t in free_t:
            self.tracks[t]["missed"] += 1
            if self.tracks[t]["missed"] > MAX_AGE:
                del self.tracks[t]
        for j in sorted(free_d):
            self.tracks[self.next_id] = {"box": dets[j], "hits": 1, "missed": 0}
            if MIN_HITS <= 1:
                seen.append((self.next_id, dets[j]))
            self.next_id += 1
        return seen


# ---------------------------------------------------------------- aimass's counting rule

def sign(v: float) -> int:
    return (v > 0) - (v < 0)


def cross(a, b, p) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def crossing(a, b, frm, to):
    s0, s1 = sign(cross(a, b, frm)), sign(cross(a, b, to))
    if s0 == 0 or s1 == 0 or s0 == s1:
        return None
    e0, e1 = sign(cross(frm, to, a)), sign(cross(frm, to, b))
    if e0 != 0 and e0 == e1:  # the step passes beyond the segment's end
        return None
    return "in" if s1 > 0 else "out"


def distance_to_line(a, b, p) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    n = math.hypot(dx, dy)
    return abs(dx * (p[1] - a[1]) - dy * (p[0] - a[0])) / n if n else math.hypot(p[0] - a[0], p[1] - a[1])


class LineCounter:
    def __init__(self, lines):
        self.lines = [(l["name"], tuple(l["points"][0]), tuple(l["points"][1])) for l in lines]
        self.counts = {name: {"in": 0, "out": 0} for name, _, _ in self.lines}
        self.state: dict[int, dict] = {}

    def update(self, frame: int, tracks) -> list[dict]:
        events = []
        n = len(self.lines)
        for tid, box in tracks:
            s = self.state.setdefault(tid, {"last": [None] * n, "counted": [0] * n, "seen": frame})
            s["seen"] = frame
            p = ((box[0] + box[2]) / 2, box[3])  # the feet: the box's bottom centre
            for l, (name, a, b) in enumerate(self.lines):
                side = sign(cross(a, b, p))
                if side == 0:
                    continue
                if s["counted"][l] and side == s["counted"][l] and distance_to_line(a, b, p) >= REARM * (box[3] - box[1]):
                    s["counted"][l] = 0
                if s["last"][l] is not None and not s["counted"][l]:
                    d = crossing(a, b, s["last"][l], p)
                    if d:
                        s["counted"][l] = side
                        self.counts[name][d] += 1
                        events.append({"line": name, "track": tid, "direction": d, "frame": frame})
                s["last"][l] = p
        for tid in [t for t, s in self.state.items() if frame - s["seen"] > LINGER]:
            del self.state[tid]
        return events


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video")
    ap.add_argument("spec", help="JSON with the counting lines: {\"lines\": [{\"name\", \"points\"}]}")
    ap.add_argument("--scale", type=float, default=1.0, help="resize frames by this before detection (the sample: 1)")
    ap.add_argument("--threads", type=int, default=2, help="cv2.setNumThreads")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    lines = json.load(open(args.spec))["lines"]
    cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {args.video}")
    det, tracker, counter = Detector(args.scale), GreedyTracker(), LineCounter(lines)
    crossings, ids, frames = [], set(), 0
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        seen = tracker.update(det.detect(frame))
        ids.update(t for t, _ in seen)
        crossings += counter.update(frames, seen)
        frames += 1
    seconds = time.perf_counter() - t0
    print(json.dumps({"video": args.video, "frames": frames, "seconds": seconds, "fps": frames / seconds if seconds else 0.0,
                      "lines": counter.counts, "crossings": crossings, "tracks": len(ids), "scale": args.scale,
                      "threads": args.threads, "opencv": cv2.__version__}))


if __name__ == "__main__":
    main()
