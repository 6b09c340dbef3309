// The charts of the behaviour pages, drawn in SVG like those of CubeCharts.tsx (whose box,
// palette and bars they share): lines over intervals with a point per value (trends), funnel
// steps as bars with their conversion and drop-off, lifecycle statuses stacked above and below
// zero, a retention grid of cohorts by period, and a Sankey diagram of paths from the answer's
// edges (a column per step, links as wide as the persons who took them), and a histogram of a
// value in bins (the churn model's probabilities). Every mark carries its value in data-
// attributes and a <title>, for a reader and for the browser tests.
import type { ReactNode } from "react";
import { PALETTE, Sized, compact } from "./CubeCharts";
import "./cube.css";
import "./behavior.css";

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
export const fmt = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : number.format(v));
export const pct = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : `${(v * 100).toFixed(1)}%`);

// Seconds as the largest units that read well: 45s, 12m 5s, 3h 20m, 2d 4h.
export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return "—";
  if (s < 60) return `${Math.round(s)}s`;
  const two = (a: number, ua: string, b: number, ub: string) => (b ? `${a}${ua} ${b}${ub}` : `${a}${ua}`);
  if (s < 3600) return two(Math.floor(s / 60), "m", Math.round(s % 60), "s");
  if (s < 86400) return two(Math.floor(s / 3600), "h", Math.round((s % 3600) / 60), "m");
  return two(Math.floor(s / 86400), "d", Math.round((s % 86400) / 3600), "h");
}

// The round number at or above v that an axis ends at: 1, 2, 2.5 or 5 times a power of ten.
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v - 1e-9 * p) return m * p;
  return 10 * p;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, Math.max(1, n - 1))}…` : s);

// As many of `x` labels as fit in `room` pixels: every k-th one.
function every(x: string[], room: number) {
  const fit = Math.max(1, Math.floor(room / (Math.max(4, ...x.map((t) => t.length)) * 7 + 12)));
  return Math.max(1, Math.ceil(x.length / fit));
}

function Legend({ items }: { items: { label: string; className?: string; color?: string }[] }) {
  return (
    <figcaption className="cube-legend">
      {items.map((it) => (
        <span key={it.label} className="cube-legend-item">
          <svg width="12" height="12" aria-hidden="true">
            <rect width="12" height="12" rx="2" className={it.className} fill={it.color} />
          </svg>
          {it.label}
        </span>
      ))}
    </figcaption>
  );
}

// ---- trends: a line per series (and breakdown value), a point per interval ----

// Horizontal grid lines at the given values, each labelled at the left; the zero line drawn
// stronger unless `zero` is false.
function Gridlines({ values, y, x1, x2, zero = true, text = compact }: { values: number[]; y: (v: number) => number; x1: number; x2: number; zero?: boolean; text?: (v: number) => string }) {
  return (
    <>
      {values.map((v) => (
        <g key={v}>
          <line x1={x1} x2={x2} y1={y(v)} y2={y(v)} className={zero && v === 0 ? "bh-zero" : "cube-grid"} />
          <text x={x1 - 6} y={y(v) + 4} textAnchor="end" className="cube-chart-value">
            {text(v)}
          </text>
        </g>
      ))}
    </>
  );
}

export interface TrendLine {
  label: string;
  values: (number | null)[];
}

export function TrendChart(props: { x: string[]; lines: TrendLine[]; label: string }) {
  return <Sized max={1000}>{(W) => <Trend {...props} W={W} />}</Sized>;
}

function Trend({ x, lines, label, W }: { x: string[]; lines: TrendLine[]; label: string; W: number }) {
  const H = 280;
  const P = { left: 56, right: 16, top: 14, bottom: 40 };
  const all = lines.flatMap((l) => l.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const lo = Math.min(0, ...all);
  const hi = lo + niceMax(Math.max(...all, lo + 1) - lo);
  const px = (i: number) => P.left + (x.length <= 1 ? (W - P.left - P.right) / 2 : ((W - P.left - P.right) * i) / (x.length - 1));
  const py = (v: number) => P.top + (H - P.top - P.bottom) * (1 - (v - lo) / (hi - lo));
  const step = every(x, W - P.left - P.right);
  const dots = x.length * lines.length <= 2000;
  const path = (values: (number | null)[]) => {
    let d = "";
    let pen = false;
    values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${px(i).toFixed(1)},${py(v).toFixed(1)} `;
      pen = true;
    });
    return d;
  };
  const color = (k: number) => PALETTE[k % PALETTE.length];
  return (
    <figure className="cube-figure">
      <svg className="cube-chart" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} data-points={x.length} data-lines={lines.length}>
        <Gridlines values={[lo, (lo + hi) / 2, hi]} y={py} x1={P.left} x2={W - P.right} zero={false} />
        {x.map((t, i) =>
          i % step === 0 ? (
            <text
              key={t}
              x={px(i)}
              y={H - P.bottom + 16}
              textAnchor={x.length > 1 && i === x.length - 1 ? "end" : i === 0 && x.length > 1 ? "start" : "middle"}
              className="cube-chart-label"
            >
              {t}
            </text>
          ) : null,
        )}
        {lines.map((l, k) => (
          <g key={`${k}-${l.label}`} className="bh-line" data-series={l.label}>
            <path d={path(l.values)} fill="none" stroke={color(k)} strokeWidth={2}>
              <title>{l.label}</title>
            </path>
            {dots &&
              l.values.map((v, i) =>
                v === null || !Number.isFinite(v) ? null : (
                  <circle key={i} cx={px(i)} cy={py(v)} r={x.length > 60 ? 1.5 : 3} fill={color(k)} className="bh-point" data-x={x[i]} data-value={v}>
                    <title>{`${l.label} · ${x[i]}: ${fmt(v)}`}</title>
                  </circle>
                ),
              )}
          </g>
        ))}
      </svg>
      <Legend items={lines.map((l, k) => ({ label: l.label, color: color(k) }))} />
    </figure>
  );
}

// ---- funnels: a bar per step (a group per breakdown value), height the conversion from step 1 ----

export interface FunnelStep {
  order: number;
  label: string;
  count: number;
  conversion_rate: number;
  step_conversion_rate: number;
  drop_off: number;
  median_conversion_time: number | null;
  average_conversion_time: number | null;
}

export interface FunnelGroup {
  name: string; // the breakdown value, or "All"
  steps: FunnelStep[];
}

export function FunnelChart(props: { groups: FunnelGroup[]; label: string }) {
  return <Sized max={1000}>{(W) => <Funnel {...props} W={W} />}</Sized>;
}

function Funnel({ groups, label, W }: { groups: FunnelGroup[]; label: string; W: number }) {
  const steps = groups[0]?.steps ?? [];
  const H = 300;
  const P = { left: 44, right: 8, top: 30, bottom: 58 };
  const slot = (W - P.left - P.right) / Math.max(1, steps.length);
  const inner = Math.min(slot * 0.7, 60 * groups.length);
  const bw = inner / Math.max(1, groups.length);
  const plot = H - P.top - P.bottom;
  const y = (r: number) => P.top + plot * (1 - r);
  const chars = Math.max(6, Math.floor(slot / 7));
  const single = groups.length === 1;
  return (
    <figure className="cube-figure">
      <svg className="cube-chart" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="group" aria-label={label} data-steps={steps.length} data-groups={groups.length}>
        <Gridlines values={[0, 0.5, 1]} y={y} x1={P.left} x2={W - P.right} zero={false} text={(r) => `${r * 100}%`} />
        {steps.map((s, k) => {
          const x0 = P.left + slot * k + (slot - inner) / 2;
          return (
            <g key={k}>
              {groups.map((g, j) => {
                const st = g.steps[k];
                if (!st) return null;
                const r = st.conversion_rate;
                const x = x0 + j * bw;
                const name = `${single ? "" : `${g.name} · `}step ${k + 1} ${st.label}: ${fmt(st.count)} persons, ${pct(r)}${k > 0 ? `, ${fmt(st.drop_off)} dropped off` : ""}`;
                return (
                  <g
                    key={j}
                    role="img"
                    aria-label={name}
                    className="bh-funnel-step"
                    data-group={g.name}
                    data-step={k + 1}
                    data-count={st.count}
                    data-conversion={r}
                    data-drop-off={st.drop_off}
                  >
                    <title>{name}</title>
                    {/* the persons lost since step 1, shaded above the bar */}
                    <rect x={x + 1} y={y(1)} width={Math.max(1, bw - 2)} height={plot} className="bh-funnel-back" />
                    <rect
                      x={x + 1}
                      y={y(r)}
                      width={Math.max(1, bw - 2)}
                      height={Math.max(0, plot * r)}
                      fill={single ? undefined : PALETTE[j % PALETTE.length]}
                      className={single ? "cube-bar" : undefined}
                    />
                    {bw >= 30 && (
                      <text x={x + bw / 2} y={y(r) - 4} textAnchor="middle" className="cube-chart-value">
                        {compact(st.count)}
                      </text>
                    )}
                  </g>
                );
              })}
              <text x={P.left + slot * k + slot / 2} y={H - P.bottom + 16} textAnchor="middle" className="cube-chart-label">
                {clip(`${k + 1}. ${s.label}`, chars)}
              </text>
              {single && (
                <text x={P.left + slot * k + slot / 2} y={H - P.bottom + 32} textAnchor="middle" className="cube-chart-value">
                  {k === 0 ? `${fmt(s.count)} persons` : `${pct(s.conversion_rate)} · −${fmt(s.drop_off)}`}
                </text>
              )}
              {single && k > 0 && s.median_conversion_time !== null && (
                <text x={P.left + slot * k + slot / 2} y={H - P.bottom + 48} textAnchor="middle" className="cube-chart-label">
                  {`median ${duration(s.median_conversion_time)}`}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      {!single && <Legend items={groups.map((g, j) => ({ label: g.name, color: PALETTE[j % PALETTE.length] }))} />}
    </figure>
  );
}

// ---- lifecycle: new, returning and resurrecting stacked above zero, dormant below ----

export interface LifecycleInterval {
  start: string;
  new: number;
  returning: number;
  resurrecting: number;
  dormant: number;
}

export const STATUSES = ["new", "returning", "resurrecting", "dormant"] as const;

export function LifecycleChart(props: { intervals: LifecycleInterval[]; label: string }) {
  return <Sized max={1000}>{(W) => <Lifecycle {...props} W={W} />}</Sized>;
}

function Lifecycle({ intervals, label, W }: { intervals: LifecycleInterval[]; label: string; W: number }) {
  const H = 300;
  const P = { left: 48, right: 8, top: 12, bottom: 36 };
  const up = niceMax(Math.max(1, ...intervals.map((i) => i.new + i.returning + i.resurrecting)));
  const most = Math.max(0, ...intervals.map((i) => i.dormant));
  const down = most > 0 ? niceMax(most) : 0;
  const span = up + down || 1;
  const y = (v: number) => P.top + ((H - P.top - P.bottom) * (up - v)) / span;
  const slot = (W - P.left - P.right) / Math.max(1, intervals.length);
  const bw = Math.max(2, slot * 0.7);
  const x = intervals.map((i) => i.start);
  const step = every(x, W - P.left - P.right);
  return (
    <figure className="cube-figure">
      <svg className="cube-chart" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="group" aria-label={label} data-intervals={intervals.length}>
        <Gridlines values={[up, 0, ...(down > 0 ? [-down] : [])]} y={y} x1={P.left} x2={W - P.right} />
        {intervals.map((it, k) => {
          const x0 = P.left + slot * k + (slot - bw) / 2;
          let base = 0;
          return (
            <g key={it.start} data-interval={it.start}>
              {STATUSES.map((s) => {
                const v = it[s];
                const from = s === "dormant" ? 0 : base;
                const to = s === "dormant" ? -v : base + v;
                if (s !== "dormant") base = to;
                const name = `${it.start} ${s}: ${fmt(v)}`;
                return (
                  <rect
                    key={s}
                    x={x0}
                    y={Math.min(y(from), y(to))}
                    width={bw}
                    height={Math.abs(y(from) - y(to))}
                    className={`bh-${s}`}
                    data-status={s}
                    data-value={v}
                    role="img"
                    aria-label={name}
                  >
                    <title>{name}</title>
                  </rect>
                );
              })}
              {k % step === 0 && (
                <text
                  x={x0 + bw / 2}
                  y={H - P.bottom + 16}
                  textAnchor={intervals.length > 1 && k === intervals.length - 1 ? "end" : k === 0 && intervals.length > 1 ? "start" : "middle"}
                  className="cube-chart-label"
                >
                  {it.start}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <Legend items={STATUSES.map((s) => ({ label: s, className: `bh-${s}` }))} />
    </figure>
  );
}

// ---- retention: cohorts by period, each cell the share of the cohort that came back ----

export interface RetentionCohort {
  start: string;
  size: number;
  counts: number[];
}

export function RetentionGrid({ cohorts, periods, unit, label }: { cohorts: RetentionCohort[]; periods: number; unit: string; label: string }) {
  const n = Math.max(periods, ...cohorts.map((c) => c.counts.length));
  const cols = Array.from({ length: n }, (_, i) => i);
  // The mean over the cohorts that reach a period, weighted by their sizes.
  const mean = cols.map((i) => {
    let came = 0;
    let size = 0;
    for (const c of cohorts) {
      if (i < c.counts.length && c.size > 0) {
        came += c.counts[i];
        size += c.size;
      }
    }
    return size > 0 ? came / size : null;
  });
  const cell = (count: number | undefined, size: number, key: string): ReactNode => {
    if (count === undefined) return <td key={key} className="bh-ret-none" />;
    const share = size > 0 ? count / size : 0;
    return (
      <td
        key={key}
        className={`num bh-ret${share >= 0.55 ? " strong" : ""}`}
        data-count={count}
        data-share={share}
        title={`${fmt(count)} of ${fmt(size)} persons`}
        style={{ backgroundColor: `color-mix(in srgb, var(--accent) ${Math.round(share * 100)}%, transparent)` }}
      >
        {size > 0 ? pct(share) : "—"}
      </td>
    );
  };
  return (
    <div className="table-wrap">
      <table aria-label={label} className="bh-retention">
        <thead>
          <tr>
            <th>Cohort</th>
            <th className="num">Persons</th>
            {cols.map((i) => (
              <th key={i} className="num">
                {unit} {i}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr className="bh-ret-mean">
            <td>All cohorts</td>
            <td className="num">{fmt(cohorts.reduce((s, c) => s + c.size, 0))}</td>
            {mean.map((m, i) => (
              <td key={i} className="num">
                {pct(m)}
              </td>
            ))}
          </tr>
          {cohorts.map((c) => (
            <tr key={c.start} data-cohort={c.start}>
              <td>{c.start}</td>
              <td className="num">{fmt(c.size)}</td>
              {cols.map((i) => cell(c.counts[i], c.size, String(i)))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// ---- paths: a Sankey diagram of the edges from step n to n + 1 ----

export interface PathEdge {
  step: number;
  source: string;
  target: string;
  persons: number;
}

interface SNode {
  key: string;
  column: number;
  name: string;
  into: number;
  out: number;
  value: number;
  y: number;
  h: number;
  inY: number; // where the next incoming link attaches
  outY: number; // where the next outgoing link leaves
}

// `totals` (optional) has the persons through each node, keyed by `${step}\u0000${name}`, where
// the edges alone would miss those whose path ends at the node; without them a node is as tall as
// the larger of what flows in and out of it.
export function Sankey(props: { edges: PathEdge[]; totals?: Map<string, number>; label: string }) {
  return <Sized max={1200}>{(W) => <SankeyBody {...props} W={W} />}</Sized>;
}

function SankeyBody({ edges, totals, label, W }: { edges: PathEdge[]; totals?: Map<string, number>; label: string; W: number }) {
  if (edges.length === 0) return <p className="muted">No paths of two steps or more.</p>;
  const first = Math.min(...edges.map((e) => e.step));
  const last = Math.max(...edges.map((e) => e.step)) + 1;
  const columns = last - first + 1;
  const nodes = new Map<string, SNode>();
  const node = (column: number, name: string) => {
    const key = `${column}\u0000${name}`;
    let n = nodes.get(key);
    if (!n) {
      n = { key, column, name, into: 0, out: 0, value: 0, y: 0, h: 0, inY: 0, outY: 0 };
      nodes.set(key, n);
    }
    return n;
  };
  const links = edges.map((e) => {
    const s = node(e.step, e.source);
    const t = node(e.step + 1, e.target);
    s.out += e.persons;
    t.into += e.persons;
    return { e, s, t, w: 0, sy: 0, ty: 0 };
  });
  for (const key of totals?.keys() ?? []) {
    const [step, name] = key.split("\u0000");
    if (Number(step) >= first && Number(step) <= last) node(Number(step), name);
  }
  const byColumn: SNode[][] = Array.from({ length: columns }, () => []);
  for (const n of nodes.values()) {
    n.value = Math.max(n.into, n.out, totals?.get(n.key) ?? 0);
    byColumn[n.column - first].push(n);
  }
  for (const col of byColumn) col.sort((a, b) => b.value - a.value || a.name.localeCompare(b.name));
  const most = Math.max(...byColumn.map((c) => c.length));
  const GAP = 10;
  const TOP = 22;
  const H = Math.max(220, Math.min(720, most * 46 + TOP + 10));
  const NW = 12;
  const plot = H - TOP - 10;
  const scale = Math.min(...byColumn.map((c) => (plot - GAP * (c.length - 1)) / Math.max(1e-9, c.reduce((s, n) => s + n.value, 0))));
  const LABEL = Math.min(150, Math.max(70, W / columns / 2));
  const x = (c: number) => 4 + ((W - 8 - NW - LABEL) * (c - first)) / Math.max(1, columns - 1);
  for (const col of byColumn) {
    let y = TOP;
    for (const n of col) {
      n.y = y;
      n.h = Math.max(2, n.value * scale);
      n.inY = n.y;
      n.outY = n.y;
      y += n.h + GAP;
    }
  }
  // Links leave a node in the order of their targets' heights, and arrive in their sources'.
  for (const l of links) l.w = Math.max(1, l.e.persons * scale);
  [...links].sort((a, b) => a.t.y - b.t.y).forEach((l) => {
    l.sy = l.s.outY + l.w / 2;
    l.s.outY += l.w;
  });
  [...links].sort((a, b) => a.s.y - b.s.y).forEach((l) => {
    l.ty = l.t.inY + l.w / 2;
    l.t.inY += l.w;
  });
  const names = [...new Set([...nodes.values()].map((n) => n.name))];
  const colorOf = (name: string) => PALETTE[names.indexOf(name) % PALETTE.length];
  const chars = Math.max(6, Math.floor(LABEL / 7));
  return (
    <figure className="cube-figure">
      <svg className="cube-chart bh-sankey" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="group" aria-label={label} data-columns={columns} data-nodes={nodes.size}>
        {byColumn.map((_, c) => (
          <text key={c} x={x(first + c)} y={14} className="cube-chart-label">
            {`Step ${first + c}`}
          </text>
        ))}
        {links.map((l, k) => {
          const sx = x(l.s.column) + NW;
          const tx = x(l.t.column);
          const { sy, ty } = l;
          const mid = (sx + tx) / 2;
          const name = `${l.e.source} → ${l.e.target} (step ${l.e.step}): ${fmt(l.e.persons)} persons`;
          return (
            <path
              key={k}
              d={`M${sx},${sy} C${mid},${sy} ${mid},${ty} ${tx},${ty}`}
              stroke={colorOf(l.e.source)}
              strokeWidth={l.w}
              fill="none"
              className="bh-link"
              data-step={l.e.step}
              data-source={l.e.source}
              data-target={l.e.target}
              data-persons={l.e.persons}
            >
              <title>{name}</title>
            </path>
          );
        })}
        {[...nodes.values()].map((n) => {
          const name = `step ${n.column}: ${n.name}, ${fmt(n.value)} persons`;
          return (
            <g key={n.key} role="img" aria-label={name} className="bh-node" data-step={n.column} data-node={n.name} data-persons={n.value}>
              <title>{name}</title>
              <rect x={x(n.column)} y={n.y} width={NW} height={n.h} fill={colorOf(n.name)} />
              <text x={x(n.column) + NW + 4} y={n.y + Math.min(n.h / 2, 14) + 4} className="cube-chart-value bh-node-label">
                {`${clip(n.name, chars)} (${compact(n.value)})`}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

// ---- a histogram: a vertical bar per bin of a value (a churn probability), its count above ----

export interface HistogramBin {
  from: number;
  to: number;
  count: number;
}

export function Histogram(props: { bins: HistogramBin[]; label: string; unit?: string; digits?: number }) {
  return <Sized max={900}>{(W) => <HistogramBars {...props} W={W} />}</Sized>;
}

function HistogramBars({ bins, label, unit = "persons", digits = 1, W }: { bins: HistogramBin[]; label: string; unit?: string; digits?: number; W: number }) {
  const H = 240;
  const P = { left: 48, right: 8, top: 18, bottom: 30 };
  const top = niceMax(Math.max(1, ...bins.map((b) => b.count)));
  const y = (v: number) => P.top + ((H - P.top - P.bottom) * (top - v)) / top;
  const slot = (W - P.left - P.right) / Math.max(1, bins.length);
  const bw = Math.max(2, slot - 2);
  const edge = (v: number) => v.toFixed(digits);
  const step = every(bins.map((b) => edge(b.from)), W - P.left - P.right);
  return (
    <svg className="cube-chart" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="group" aria-label={label} data-bins={bins.length}>
      <Gridlines values={[top, top / 2, 0]} y={y} x1={P.left} x2={W - P.right} />
      {bins.map((b, k) => {
        const x0 = P.left + slot * k + (slot - bw) / 2;
        const name = `${edge(b.from)}–${edge(b.to)}: ${fmt(b.count)} ${unit}`;
        return (
          <g key={k} role="img" aria-label={name} data-from={b.from} data-to={b.to} data-count={b.count}>
            <title>{name}</title>
            <rect x={x0} y={y(b.count)} width={bw} height={Math.max(0, y(0) - y(b.count))} className="cube-bar" />
            {b.count > 0 && (
              <text x={x0 + bw / 2} y={y(b.count) - 4} textAnchor="middle" className="cube-chart-value">
                {compact(b.count)}
              </text>
            )}
            {k % step === 0 && (
              <text x={x0} y={H - P.bottom + 16} textAnchor="start" className="cube-chart-label">
                {edge(b.from)}
              </text>
            )}
          </g>
        );
      })}
      <text x={W - P.right} y={H - P.bottom + 16} textAnchor="end" className="cube-chart-label">
        {edge(bins.length ? bins[bins.length - 1].to : 1)}
      </text>
    </svg>
  );
}
