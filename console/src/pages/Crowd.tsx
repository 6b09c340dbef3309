// Crowd flow (module crowd): the streams with their state and speed (a form to start one from a
// video URL, a file under crowd.video_dirs or a files dataset), and a stream's page: its state
// and numbers, Pause / Resume / Delete; the live view (annotated frames over server-sent events
// read with the token, the newest snapshot when none arrive) under an SVG overlay in the video's
// pixels that shows the counting lines (direction, the side that counts as in, the counts) and
// zones (occupancy), and on which new ones are drawn with clicks; counts per interval as charts,
// the totals per line and zone, the heatmap, the tracks that ended and the alerts.
import { Fragment, useEffect, useMemo, useState, type FormEvent, type MouseEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc, send } from "../api";
import { followStream } from "../events";
import { useAction, useApi } from "../hooks";
import { Chart } from "../components/Chart";
import { PALETTE } from "../components/CubeCharts";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, when } from "../components/ui";
import "../components/crowd.css";

type Pt = [number, number];

interface CrowdLine {
  name: string;
  points: Pt[];
}

interface CrowdZone {
  name: string;
  points: Pt[];
  max_occupancy: number;
  loiter_s: number;
}

interface Stream {
  name: string;
  url?: string;
  dataset?: { name: string; version: string }; // the files dataset it reads, when not a URL
  counts_dataset: string; // the dataset (and cube) the counts per minute go to
  fps: number;
  realtime: boolean;
  live_fps: number;
  detector: { kind: string; every: number; scale: number; min_score: number; deployment?: string };
  tracker: { max_age: number; min_hits: number; iou: number; linger: number };
  lines: CrowdLine[];
  zones: CrowdZone[];
  owner: string;
  state: string;
  desired: string;
  error: string;
  frames: number;
  width: number;
  height: number;
  video_fps: number;
  processing_fps: number;
  tracks: number;
  job: number | null;
  restarts: number;
  revision: number;
  created_at: string;
  reported_at: string | null;
}

interface Occupancy {
  max: number;
  avg: number;
}

interface NowInfo {
  frame: number;
  time: string;
  people: number;
  zones: Record<string, number>;
}

interface Counts {
  lines: Record<string, { in: number; out: number }>;
  zones: Record<string, Occupancy & { visits: number; dwell_avg_s: number; dwell_max_s: number }>;
  people: Occupancy;
  intervals: { start: string; lines: Record<string, { in: number; out: number }>; zones: Record<string, Occupancy>; people: Occupancy }[];
  interval_s: number;
  now: NowInfo | null;
}

interface Track {
  id: number;
  first_frame: number;
  last_frame: number;
  start: string;
  end: string;
  duration_s: number;
  crossings: { line: string; direction: string; frame: number }[];
  zones: { zone: string; dwell_s: number }[];
}

interface Alert {
  kind: string;
  zone: string;
  frame: number;
  at: string;
  occupancy?: number;
  track?: number;
  dwell_s?: number;
}

const source = (s: Stream) => s.url ?? (s.dataset ? `dataset ${s.dataset.name} (${s.dataset.version})` : "");
const finished = (s: Stream) => s.state === "finished";

// An image the API serves (it needs the token, so no plain src), as a data: URL: the console's
// Content-Security-Policy lets images come from 'self' and data: only.
async function imageData(path: string): Promise<string> {
  const blob = await (await send("GET", path)).blob();
  return new Promise((ok, fail) => {
    const r = new FileReader();
    r.onload = () => ok(String(r.result));
    r.onerror = () => fail(r.error);
    r.readAsDataURL(blob);
  });
}

// The image at `path` (none while null), fetched again every `everyMs` and on reload().
function useImage(path: string | null, everyMs: number) {
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!path) return;
    let live = true;
    imageData(path)
      .then((d) => live && (setSrc(d), setError("")))
      .catch((e) => live && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [path, tick]);
  useEffect(() => {
    if (!path || !everyMs) return;
    const t = setInterval(() => setTick((n) => n + 1), everyMs);
    return () => clearInterval(t);
  }, [path, everyMs]);
  return { src, error, reload: () => setTick((n) => n + 1) };
}

// ---- the list ----

function StartStream() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"url" | "dataset">("url");
  const [url, setUrl] = useState("");
  const [dataset, setDataset] = useState("");
  const [version, setVersion] = useState("latest");
  const [every, setEvery] = useState(1);
  const [scale, setScale] = useState(1);
  const [fps, setFps] = useState(0);
  const [realtime, setRealtime] = useState(false);
  const action = useAction();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New stream</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = { name, fps, realtime, detector: { every, scale } };
    if (kind === "url") body.url = url;
    else body.dataset = { name: dataset, version };
    void action.run(() => api("POST", "/api/v1/crowd/streams", body), () => navigate(`/crowd/${enc(name)}`));
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label="Name">
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
      </Field>
      <Field label="Source">
        <select value={kind} onChange={(e) => setKind(e.target.value as "url" | "dataset")}>
          <option value="url">A URL or a video file</option>
          <option value="dataset">A files dataset (a video, or images)</option>
        </select>
      </Field>
      {kind === "url" ? (
        <Field label="URL (rtsp://, http(s):// MJPEG, or a file's absolute path)">
          <input name="url" value={url} onChange={(e) => setUrl(e.target.value)} required size={48} />
        </Field>
      ) : (
        <div className="row">
          <Field label="Dataset">
            <input name="dataset" value={dataset} onChange={(e) => setDataset(e.target.value)} required />
          </Field>
          <Field label="Version">
            <input name="version" value={version} onChange={(e) => setVersion(e.target.value)} size={8} />
          </Field>
        </div>
      )}
      <div className="row">
        <Field label="Detect every n-th frame">
          <input type="number" name="every" min={1} max={100} value={every} onChange={(e) => setEvery(Number(e.target.value))} />
        </Field>
        <Field label="Scale">
          <input type="number" name="scale" min={0.1} max={4} step={0.1} value={scale} onChange={(e) => setScale(Number(e.target.value))} />
        </Field>
        <Field label="Frames/s taken (0: all)">
          <input type="number" name="fps" min={0} max={1000} value={fps} onChange={(e) => setFps(Number(e.target.value))} />
        </Field>
      </div>
      <label className="crowd-check">
        <input type="checkbox" checked={realtime} onChange={(e) => setRealtime(e.target.checked)} />
        Realtime (read a file at its own frame rate)
      </label>
      <ErrorLine error={action.error} />
      <FormButtons submit="Start" disabled={action.busy || !name} onCancel={() => setOpen(false)} />
    </form>
  );
}

export function CrowdStreamsPage() {
  const list = useApi<{ streams: Stream[] }>("/api/v1/crowd/streams", 3000);
  return (
    <>
      <PageHeader title="Crowd">
        <Allowed permission="crowd:write">
          <StartStream />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.streams ?? []}
        rowKey={(s) => s.name}
        empty={list.loading ? "Loading…" : "No streams: start one to count people in a video."}
        columns={[
          { title: "Name", render: (s) => <Link to={`/crowd/${enc(s.name)}`}>{s.name}</Link> },
          { title: "State", render: (s) => <StateBadge state={s.state} /> },
          { title: "Frames", render: (s) => s.frames.toLocaleString(), className: "num" },
          { title: "Frames/s", render: (s) => s.processing_fps.toFixed(1), className: "num" },
          { title: "Tracks", render: (s) => s.tracks.toLocaleString(), className: "num" },
          { title: "Source", render: (s) => <code>{source(s)}</code> },
        ]}
      />
    </>
  );
}

// ---- a stream ----

// The newest annotated frames while `on`: server-sent events at …/live, read with the token;
// live while frames keep coming (at live_fps a second).
function useLive(path: string, on: boolean, fps: number) {
  const [frame, setFrame] = useState<{ src: string; info: NowInfo; at: number } | null>(null);
  const [error, setError] = useState("");
  const [, setClock] = useState(0);
  useEffect(() => {
    if (!on) return;
    const stop = followStream(
      path,
      (e) => {
        const d = e.data as { info?: NowInfo; jpeg?: string };
        if (e.topic === "frame" && d.jpeg) setFrame({ src: `data:image/jpeg;base64,${d.jpeg}`, info: d.info as NowInfo, at: Date.now() });
      },
      setError,
    );
    const t = setInterval(() => setClock((n) => n + 1), 1000);
    return () => {
      stop();
      clearInterval(t);
    };
  }, [path, on]);
  const fresh = frame && Date.now() - frame.at < Math.max(3000, 2500 / fps);
  return { frame: on && fresh ? frame : null, error };
}

type Drawing = { kind: "line" | "zone"; points: Pt[]; done: boolean };

const centre = (pts: Pt[]): Pt => [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];
const pointsText = (pts: Pt[]) => pts.map((p) => `(${p[0]}, ${p[1]})`).join(" → ");

// The lines and zones over the frame, in the video's pixels (viewBox 0 0 width height), and
// the figure being drawn; clicks go to onPoint in video pixels.
function Overlay({
  s,
  counts,
  now,
  drawing,
  onPoint,
  onFinish,
}: {
  s: Stream;
  counts: Counts | null;
  now: NowInfo | null;
  drawing: Drawing | null;
  onPoint: (p: Pt) => void;
  onFinish: () => void;
}) {
  const [hover, setHover] = useState<Pt | null>(null);
  const W = s.width;
  const H = s.height;
  const u = Math.max(W, H) / 100; // a unit that scales with the video
  const toVideo = (e: MouseEvent<SVGSVGElement>): Pt => {
    const r = e.currentTarget.getBoundingClientRect();
    const x = Math.round(((e.clientX - r.left) * W) / r.width);
    const y = Math.round(((e.clientY - r.top) * H) / r.height);
    return [Math.min(W, Math.max(0, x)), Math.min(H, Math.max(0, y))];
  };
  const active = drawing && !drawing.done;
  return (
    <svg
      className={`crowd-overlay${active ? " drawing" : ""}`}
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      role="img"
      aria-label="Lines and zones"
      data-width={W}
      data-height={H}
      onClick={(e) => active && onPoint(toVideo(e))}
      onDoubleClick={() => active && drawing.kind === "zone" && onFinish()}
      onMouseMove={(e) => active && setHover(toVideo(e))}
      onMouseLeave={() => setHover(null)}
    >
      <defs>
        <marker id="crowd-arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="5" markerHeight="5" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" className="crowd-arrowhead" />
        </marker>
      </defs>
      {s.zones.map((z) => {
        const [cx, cy] = centre(z.points);
        const n = now?.zones[z.name];
        const over = z.max_occupancy > 0 && (n ?? 0) > z.max_occupancy;
        return (
          <g key={`z-${z.name}`} className={`crowd-zone${over ? " over" : ""}`} data-zone={z.name}>
            <polygon points={z.points.map((p) => p.join(",")).join(" ")} vectorEffect="non-scaling-stroke" />
            <text x={cx} y={cy} fontSize={2.6 * u} textAnchor="middle">
              {z.name}: {n ?? "—"}
              {z.max_occupancy > 0 ? ` / ${z.max_occupancy}` : ""}
            </text>
          </g>
        );
      })}
      {s.lines.map((l) => {
        const [[x1, y1], [x2, y2]] = l.points;
        const len = Math.hypot(x2 - x1, y2 - y1) || 1;
        // The side that counts as in: the right of the direction, on screen (y down).
        const nx = -(y2 - y1) / len;
        const ny = (x2 - x1) / len;
        const mx = (x1 + x2) / 2;
        const my = (y1 + y2) / 2;
        const k = Math.min(5 * u, len / 3);
        const c = counts?.lines[l.name];
        return (
          <g key={`l-${l.name}`} className="crowd-line" data-line={l.name}>
            <line x1={x1} y1={y1} x2={x2} y2={y2} markerEnd="url(#crowd-arrow)" vectorEffect="non-scaling-stroke" />
            <line x1={mx - nx * k} y1={my - ny * k} x2={mx + nx * k} y2={my + ny * k} className="crowd-in" markerEnd="url(#crowd-arrow)" vectorEffect="non-scaling-stroke" />
            <text x={mx + nx * k * 1.4} y={my + ny * k * 1.4} fontSize={2.6 * u} textAnchor="middle">
              in
            </text>
            <text x={x2 + 1.5 * u} y={y2 + 1.5 * u} fontSize={2.6 * u}>
              {l.name}: in {c?.in ?? 0} · out {c?.out ?? 0}
            </text>
          </g>
        );
      })}
      {drawing && drawing.points.length > 0 && (
        <g className="crowd-pending">
          <polyline
            points={[...drawing.points, ...(active && hover ? [hover] : []), ...(drawing.done && drawing.kind === "zone" ? [drawing.points[0]] : [])]
              .map((p) => p.join(","))
              .join(" ")}
            vectorEffect="non-scaling-stroke"
          />
          {drawing.points.map((p, i) => (
            <circle key={i} cx={p[0]} cy={p[1]} r={0.8 * u} />
          ))}
        </g>
      )}
    </svg>
  );
}

function LineForm({ path, points, suggested, done }: { path: string; points: Pt[]; suggested: string; done: () => void }) {
  const [name, setName] = useState(suggested);
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(() => api("POST", `${path}/lines`, { name, points }), done);
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="New line">
      <p className="muted">From {pointsText(points)}</p>
      <Field label="Line name">
        <input name="line" value={name} onChange={(e) => setName(e.target.value)} required autoFocus />
      </Field>
      <ErrorLine error={action.error} />
      <FormButtons submit="Save line" disabled={action.busy} onCancel={done} />
    </form>
  );
}

function ZoneForm({ path, points, suggested, done }: { path: string; points: Pt[]; suggested: string; done: () => void }) {
  const [name, setName] = useState(suggested);
  const [max, setMax] = useState(0);
  const [loiter, setLoiter] = useState(0);
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(() => api("POST", `${path}/zones`, { name, points, max_occupancy: max, loiter_s: loiter }), done);
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="New zone">
      <p className="muted">{points.length} points</p>
      <Field label="Zone name">
        <input name="zone" value={name} onChange={(e) => setName(e.target.value)} required autoFocus />
      </Field>
      <Field label="Max occupancy (0: no alert)">
        <input type="number" name="max_occupancy" min={0} value={max} onChange={(e) => setMax(Number(e.target.value))} />
      </Field>
      <Field label="Loiter seconds (0: no alert)">
        <input type="number" name="loiter_s" min={0} step="any" value={loiter} onChange={(e) => setLoiter(Number(e.target.value))} />
      </Field>
      <ErrorLine error={action.error} />
      <FormButtons submit="Save zone" disabled={action.busy} onCancel={done} />
    </form>
  );
}

const INTERVALS = ["auto", "1s", "10s", "1m", "5m", "1h", "1d"];

// An interval that gives a few hundred points at most over what the stream has seen.
function autoInterval(s: Stream): string {
  const span = s.video_fps > 0 ? s.frames / s.video_fps : 0;
  return span <= 900 ? "10s" : span <= 7200 ? "1m" : span <= 36000 ? "5m" : span <= 864000 ? "1h" : "1d";
}

function CountCharts({ s, counts }: { s: Stream; counts: Counts }) {
  const charts = useMemo(() => {
    const iv = counts.intervals;
    const xs = iv.map((i) => Date.parse(i.start) / 1000);
    const out: { title: string; series: { label: string; color: string }[]; data: (number | null)[][] }[] = [];
    const lines = s.lines.map((l) => l.name);
    if (lines.length) {
      out.push({
        title: "Crossings per interval",
        series: lines.flatMap((l, i) => [
          { label: `${l} in`, color: PALETTE[(2 * i) % PALETTE.length] },
          { label: `${l} out`, color: PALETTE[(2 * i + 1) % PALETTE.length] },
        ]),
        data: [xs, ...lines.flatMap((l) => [iv.map((i) => i.lines[l]?.in ?? 0), iv.map((i) => i.lines[l]?.out ?? 0)])],
      });
    }
    const zones = s.zones.map((z) => z.name);
    if (zones.length) {
      out.push({
        title: "Occupancy per zone",
        series: zones.flatMap((z, i) => [
          { label: `${z} avg`, color: PALETTE[(2 * i) % PALETTE.length] },
          { label: `${z} max`, color: PALETTE[(2 * i + 1) % PALETTE.length] },
        ]),
        data: [xs, ...zones.flatMap((z) => [iv.map((i) => i.zones[z]?.avg ?? 0), iv.map((i) => i.zones[z]?.max ?? 0)])],
      });
    }
    out.push({
      title: "People in view",
      series: [
        { label: "avg", color: PALETTE[0] },
        { label: "max", color: PALETTE[1] },
      ],
      data: [xs, iv.map((i) => i.people.avg), iv.map((i) => i.people.max)],
    });
    return out;
  }, [counts, s.lines, s.zones]);
  if (counts.intervals.length === 0) return <p className="muted">No counts yet.</p>;
  return (
    <div className="charts">
      {charts.map((c) => (
        <Chart key={c.title} title={c.title} series={c.series} data={c.data} />
      ))}
    </div>
  );
}

export function CrowdStreamPage() {
  const { name = "" } = useParams();
  const path = `/api/v1/crowd/streams/${enc(name)}`;
  const stream = useApi<Stream>(path, 2000);
  const s = stream.data;
  const [interval, setIntervalChoice] = useState("auto");
  const iv = interval === "auto" && s ? autoInterval(s) : interval;
  const counts = useApi<Counts>(s ? `${path}/counts?interval=${iv}` : null, 3000);
  const c = counts.data;
  // The newest hundred tracks that ended.
  const tracks = useApi<{ tracks: Track[] }>(s ? `${path}/tracks?path=false&limit=100&order=desc` : null, 10000);
  const alerts = useApi<{ alerts: Alert[] }>(s ? `${path}/alerts?limit=1000` : null, 10000);
  const [watch, setWatch] = useState(true);
  const live = useLive(`${path}/live`, watch && !!s && !finished(s), s?.live_fps || 5);
  const seen = !!s && s.frames > 0 && s.width > 0;
  const running = s?.state === "running";
  const snapshot = useImage(seen ? `${path}/snapshot.jpg` : null, 60000);
  const [overlayHeat, setOverlayHeat] = useState(true);
  const heat = useImage(seen ? `${path}/heatmap.png${overlayHeat ? "" : "?overlay=false"}` : null, running ? 15000 : 0);
  const [drawing, setDrawing] = useState<Drawing | null>(null);
  const action = useAction();
  const navigate = useNavigate();
  if (!s) return <ErrorLine error={stream.error} />;

  const act = (verb: "pause" | "resume") => void action.run(() => api("POST", `${path}/${verb}`), stream.reload);
  const remove = () => {
    if (!window.confirm(`Delete stream ${name} and its counts? (Its dataset and cube stay.)`)) return;
    void action.run(() => api("DELETE", path), () => navigate("/crowd"));
  };
  const removeFigure = (what: "lines" | "zones", figure: string) =>
    void action.run(() => api("DELETE", `${path}/${what}/${enc(figure)}`), () => (stream.reload(), counts.reload()));
  const addPoint = (p: Pt) =>
    setDrawing((d) => {
      if (!d || d.done) return d;
      const last = d.points[d.points.length - 1];
      if (last && Math.abs(last[0] - p[0]) <= 2 && Math.abs(last[1] - p[1]) <= 2) return d; // a double click's second click
      const points = [...d.points, p];
      return { ...d, points, done: d.kind === "line" && points.length === 2 };
    });
  const finishZone = () => setDrawing((d) => (d && d.kind === "zone" && d.points.length >= 3 ? { ...d, done: true } : d));
  const saved = () => {
    setDrawing(null);
    stream.reload();
    counts.reload();
  };
  const now = live.frame?.info ?? c?.now ?? null;
  const image = live.frame?.src ?? snapshot.src;
  const lineTotals = c?.lines ?? {};
  const zoneTotals = c?.zones ?? {};
  const recentTracks = tracks.data?.tracks ?? [];
  const recentAlerts = [...(alerts.data?.alerts ?? [])].reverse().slice(0, 100);

  return (
    <>
      <PageHeader title={`Crowd stream ${name}`}>
        <Allowed permission="crowd:write">
          {!finished(s) &&
            (s.desired === "paused" || s.state === "failed" ? (
              <button onClick={() => act("resume")} disabled={action.busy}>
                Resume
              </button>
            ) : (
              <button onClick={() => act("pause")} disabled={action.busy}>
                Pause
              </button>
            ))}
          <button className="danger" onClick={remove} disabled={action.busy}>
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={stream.error ?? action.error} />
      <dl className="facts" aria-label="Stream">
        <dt>State</dt>
        <dd data-testid="crowd-state">
          <StateBadge state={s.state} />
          {s.desired !== "running" && s.state !== s.desired && <span className="muted"> (asked: {s.desired})</span>}
          {s.error && <span className="error"> {s.error}</span>}
        </dd>
        <dt>Source</dt>
        <dd>
          <code>{source(s)}</code>
          {s.realtime ? ", at its own frame rate" : ""}
          {s.fps > 0 ? `, ${s.fps} frames/s taken` : ""}
        </dd>
        <dt>Frames</dt>
        <dd data-testid="crowd-frames">{s.frames.toLocaleString()}</dd>
        <dt>Video</dt>
        <dd>{s.width > 0 ? `${s.width}×${s.height}, ${s.video_fps.toFixed(1)} frames/s` : "not read yet"}</dd>
        <dt>Processing</dt>
        <dd>
          {s.processing_fps.toFixed(1)} frames/s; detector {s.detector.kind}
          {s.detector.deployment ? ` (${s.detector.deployment})` : ""} every {s.detector.every === 1 ? "frame" : `${s.detector.every} frames`}, scale{" "}
          {s.detector.scale}
        </dd>
        <dt>Tracks</dt>
        <dd>{s.tracks.toLocaleString()}</dd>
        <dt>Job</dt>
        <dd>
          {s.job ? <Link to={`/jobs/${s.job}`}>{s.job}</Link> : "—"}
          {s.restarts > 0 ? `, restarted ${s.restarts} times` : ""}
        </dd>
        <dt>Counts per minute</dt>
        <dd>
          dataset <Link to={`/datasets/${enc(s.counts_dataset)}`}>{s.counts_dataset}</Link>, cube <Link to={`/cubes/${enc(s.counts_dataset)}`}>{s.counts_dataset}</Link>
        </dd>
        <dt>Reported</dt>
        <dd>{when(s.reported_at)}</dd>
      </dl>

      <h2>View</h2>
      <div className="crowd-view">
        <div>
          {s.width > 0 ? (
            <div className="crowd-frame" style={{ aspectRatio: `${s.width} / ${s.height}` }}>
              {image && <img src={image} alt={live.frame ? "Live view" : "Snapshot"} data-source={live.frame ? "live" : "snapshot"} />}
              <Overlay s={s} counts={c} now={now} drawing={drawing} onPoint={addPoint} onFinish={finishZone} />
            </div>
          ) : (
            <p className="muted">Waiting for the first frame…</p>
          )}
          <p className="muted" data-testid="crowd-view-state">
            {live.frame ? `Live: frame ${live.frame.info.frame} at ${when(live.frame.info.time)}` : snapshot.src ? "Not live: the newest snapshot (taken every minute)" : ""}
          </p>
          <ErrorLine error={live.error || snapshot.error} />
        </div>
        <div className="crowd-side">
          <label className="crowd-check">
            <input type="checkbox" checked={watch} onChange={(e) => setWatch(e.target.checked)} />
            Watch live
          </label>
          <dl className="facts" aria-label="Now">
            <dt>People now</dt>
            <dd data-testid="crowd-people-now">{now ? now.people : "—"}</dd>
            {s.zones.map((z) => (
              <Fragment key={z.name}>
                <dt>In {z.name}</dt>
                <dd>{now?.zones[z.name] ?? "—"}</dd>
              </Fragment>
            ))}
          </dl>
          <Allowed permission="crowd:write">
            {s.width > 0 && !drawing && (
              <div className="row">
                <button onClick={() => setDrawing({ kind: "line", points: [], done: false })}>Draw line</button>
                <button onClick={() => setDrawing({ kind: "zone", points: [], done: false })}>Draw zone</button>
              </div>
            )}
            {drawing && !drawing.done && (
              <div className="inline-form">
                <p className="muted">
                  {drawing.kind === "line"
                    ? "Click the line's start, then its end. People crossing it from its left to its right (looking from the start to the end) count as in."
                    : `Click the zone's corners (${drawing.points.length} so far); finish with a double click or the button.`}
                </p>
                <div className="row">
                  {drawing.kind === "zone" && (
                    <button onClick={finishZone} disabled={drawing.points.length < 3}>
                      Finish zone
                    </button>
                  )}
                  <button className="secondary" onClick={() => setDrawing(null)}>
                    Cancel drawing
                  </button>
                </div>
              </div>
            )}
            {drawing?.done &&
              (drawing.kind === "line" ? (
                <LineForm path={path} points={drawing.points} suggested={`line-${s.lines.length + 1}`} done={saved} />
              ) : (
                <ZoneForm path={path} points={drawing.points} suggested={`zone-${s.zones.length + 1}`} done={saved} />
              ))}
          </Allowed>
        </div>
      </div>

      <h2>Totals</h2>
      <ErrorLine error={counts.error} />
      <p data-testid="crowd-people">
        People in view: at most {c?.people.max ?? 0}, on average {c?.people.avg ?? 0}.
      </p>
      <section aria-label="Lines">
        <DataTable
          rows={s.lines}
          rowKey={(l) => l.name}
          empty="No counting lines: draw one on the frame."
          columns={[
            { title: "Line", render: (l) => l.name },
            { title: "Points", render: (l) => pointsText(l.points) },
            { title: "In", render: (l) => lineTotals[l.name]?.in ?? 0, className: "num" },
            { title: "Out", render: (l) => lineTotals[l.name]?.out ?? 0, className: "num" },
            {
              title: "",
              render: (l) => (
                <Allowed permission="crowd:write">
                  <button className="link" aria-label={`Delete line ${l.name}`} onClick={() => removeFigure("lines", l.name)}>
                    Delete
                  </button>
                </Allowed>
              ),
            },
          ]}
        />
      </section>
      <section aria-label="Zones">
        <DataTable
          rows={s.zones}
          rowKey={(z) => z.name}
          empty="No zones: draw one on the frame."
          columns={[
            { title: "Zone", render: (z) => z.name },
            { title: "Points", render: (z) => z.points.length, className: "num" },
            { title: "Max allowed", render: (z) => z.max_occupancy || "—", className: "num" },
            { title: "Loiter s", render: (z) => z.loiter_s || "—", className: "num" },
            { title: "Max", render: (z) => zoneTotals[z.name]?.max ?? 0, className: "num" },
            { title: "Avg", render: (z) => zoneTotals[z.name]?.avg ?? 0, className: "num" },
            { title: "Visits", render: (z) => zoneTotals[z.name]?.visits ?? 0, className: "num" },
            { title: "Dwell avg s", render: (z) => zoneTotals[z.name]?.dwell_avg_s ?? 0, className: "num" },
            { title: "Dwell max s", render: (z) => zoneTotals[z.name]?.dwell_max_s ?? 0, className: "num" },
            {
              title: "",
              render: (z) => (
                <Allowed permission="crowd:write">
                  <button className="link" aria-label={`Delete zone ${z.name}`} onClick={() => removeFigure("zones", z.name)}>
                    Delete
                  </button>
                </Allowed>
              ),
            },
          ]}
        />
      </section>

      <div className="toolbar">
        <h2>Counts over time</h2>
        <Field label="Interval">
          <select value={interval} onChange={(e) => setIntervalChoice(e.target.value)}>
            {INTERVALS.map((i) => (
              <option key={i} value={i}>
                {i === "auto" ? `auto (${autoInterval(s)})` : i}
              </option>
            ))}
          </select>
        </Field>
      </div>
      {c && <CountCharts s={s} counts={c} />}

      <h2>Heatmap</h2>
      <label className="crowd-check">
        <input type="checkbox" checked={overlayHeat} onChange={(e) => setOverlayHeat(e.target.checked)} />
        Over the newest frame
      </label>
      <ErrorLine error={heat.error} />
      {heat.src ? <img className="crowd-heatmap" src={heat.src} alt="Heatmap" /> : <p className="muted">No presence recorded yet.</p>}

      <h2>Tracks</h2>
      <p className="muted">
        The newest that ended{(tracks.data?.tracks.length ?? 0) >= 100 ? " (100 shown)" : ""}: {tracks.data?.tracks.length ?? 0}.
      </p>
      <ErrorLine error={tracks.error} />
      <section aria-label="Tracks">
        <DataTable
          rows={recentTracks}
          rowKey={(t) => String(t.id)}
          empty="No track has ended yet."
          columns={[
            { title: "Id", render: (t) => t.id, className: "num" },
            { title: "Start", render: (t) => when(t.start) },
            { title: "Duration s", render: (t) => t.duration_s.toFixed(1), className: "num" },
            { title: "Frames", render: (t) => `${t.first_frame}–${t.last_frame}` },
            { title: "Crossings", render: (t) => t.crossings.map((x) => `${x.line} ${x.direction}`).join(", ") || "—" },
            { title: "Zones", render: (t) => t.zones.map((z) => `${z.zone} ${z.dwell_s.toFixed(1)} s`).join(", ") || "—" },
          ]}
        />
      </section>

      <h2>Alerts</h2>
      <ErrorLine error={alerts.error} />
      <section aria-label="Alerts">
        <DataTable
          rows={recentAlerts}
          rowKey={(a) => `${a.at}-${a.kind}-${a.zone}-${a.track ?? ""}`}
          empty="No alerts."
          columns={[
            { title: "At", render: (a) => when(a.at) },
            { title: "Kind", render: (a) => <StateBadge state={a.kind} /> },
            { title: "Zone", render: (a) => a.zone },
            { title: "Frame", render: (a) => a.frame, className: "num" },
            {
              title: "What",
              render: (a) => (a.kind === "loitering" ? `track ${a.track} stayed ${a.dwell_s?.toFixed(1)} s` : `${a.occupancy} people`),
            },
          ]}
        />
      </section>
    </>
  );
}
