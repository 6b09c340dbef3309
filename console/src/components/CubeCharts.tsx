// Small SVG charts for categories rather than times on a clock (uPlot's Chart takes unix
// seconds): horizontal bars (a bar may be a button, for drilling into its value), lines over an
// ordered axis of labels (months, weeks, weekdays) with points that may be marked, and a heatmap
// of a value over two sets of labels. Each is drawn at its box's width in pixels (followed with
// a ResizeObserver), so that its text stays readable on a phone.
import { useEffect, useRef, useState, type ReactNode } from "react";

export const PALETTE = ["#2f6fde", "#d9822b", "#2e8a45", "#c33b2f", "#8e5bd8", "#1b9aaa", "#b7791f", "#d6478f", "#5d6b82", "#7a9a01"];

const short = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
export const compact = (n: number) => short.format(n);

// The width of the box the chart is drawn in, at most `max` pixels.
export function Sized({ max, children }: { max: number; children: (width: number) => ReactNode }) {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setWidth(Math.min(max, Math.max(240, el.clientWidth)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [max]);
  return (
    <div className="cube-chart-box" ref={box}>
      {width > 0 && children(width)}
    </div>
  );
}

export interface Bar {
  label: string;
  value: number | null;
  title?: string; // the bar's tooltip and accessible name; the label and value when absent
}

// One horizontal bar per label, from zero (left of it when values are negative).
export function BarChart(props: { bars: Bar[]; label: string; onPick?: (bar: Bar) => void }) {
  return <Sized max={760}>{(width) => <Bars {...props} W={width} />}</Sized>;
}

function Bars({ bars, label, onPick, W }: { bars: Bar[]; label: string; onPick?: (bar: Bar) => void; W: number }) {
  const LABEL = Math.min(150, Math.round(W * 0.3));
  const VALUE = 56;
  const chars = Math.max(6, Math.floor(LABEL / 7));
  const H = 22;
  const values = bars.map((b) => b.value ?? 0);
  const lo = Math.min(0, ...values);
  const hi = Math.max(0, ...values);
  const span = hi - lo || 1;
  const x = (v: number) => LABEL + ((W - LABEL - VALUE) * (v - lo)) / span;
  return (
    <svg className="cube-chart" width={W} height={bars.length * H + 6} viewBox={`0 0 ${W} ${bars.length * H + 6}`} role="group" aria-label={label} data-bars={bars.length}>
      {bars.map((b, i) => {
        const v = b.value ?? 0;
        const name = b.title ?? `${b.label}: ${b.value === null ? "—" : b.value}`;
        const body = (
          <>
            <title>{name}</title>
            <text x={LABEL - 6} y={i * H + 16} textAnchor="end" className="cube-chart-label">
              {b.label.length > chars ? `${b.label.slice(0, chars - 1)}…` : b.label}
            </text>
            <rect x={Math.min(x(0), x(v))} y={i * H + 4} width={Math.max(1, Math.abs(x(v) - x(0)))} height={H - 6} className="cube-bar" />
            <text x={Math.max(x(0), x(v)) + 4} y={i * H + 16} className="cube-chart-value">
              {b.value === null ? "—" : compact(b.value)}
            </text>
          </>
        );
        return onPick ? (
          <g
            key={b.label}
            role="button"
            tabIndex={0}
            aria-label={name}
            data-label={b.label}
            className="cube-bar-button"
            onClick={() => onPick(b)}
            onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && onPick(b)}
          >
            {body}
          </g>
        ) : (
          <g key={b.label} role="img" aria-label={name} data-label={b.label}>
            {body}
          </g>
        );
      })}
    </svg>
  );
}

export interface Line {
  label: string;
  values: (number | null)[]; // one per x label; null leaves a gap
  color?: string;
  dashed?: boolean;
}

// Lines over ordered labels; `marks` circles the points at those x indexes (on the first line).
export function LineChart(props: { x: string[]; lines: Line[]; label: string; marks?: number[] }) {
  return <Sized max={900}>{(width) => <Lines {...props} W={width} />}</Sized>;
}

function Lines({ x, lines, label, marks, W }: { x: string[]; lines: Line[]; label: string; marks?: number[]; W: number }) {
  const H = 260;
  const P = { left: 56, right: 12, top: 12, bottom: 44 };
  const all = lines.flatMap((l) => l.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const lo = Math.min(0, ...all);
  const hi = Math.max(lo + 1e-9, ...all);
  const px = (i: number) => P.left + (x.length <= 1 ? (W - P.left - P.right) / 2 : ((W - P.left - P.right) * i) / (x.length - 1));
  const py = (v: number) => P.top + (H - P.top - P.bottom) * (1 - (v - lo) / (hi - lo));
  // As many x labels as fit (a label is about 7 px a character).
  const room = Math.max(1, Math.floor((W - P.left - P.right) / (Math.max(4, ...x.map((t) => t.length)) * 7 + 12)));
  const every = Math.max(1, Math.ceil(x.length / room));
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
  return (
    <figure className="cube-figure">
      <svg className="cube-chart" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} data-points={x.length} data-lines={lines.length}>
        {[lo, (lo + hi) / 2, hi].map((v) => (
          <g key={v}>
            <line x1={P.left} x2={W - P.right} y1={py(v)} y2={py(v)} className="cube-grid" />
            <text x={P.left - 6} y={py(v) + 4} textAnchor="end" className="cube-chart-value">
              {compact(v)}
            </text>
          </g>
        ))}
        {x.map((t, i) =>
          i % every === 0 ? (
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
          <path
            key={l.label}
            d={path(l.values)}
            fill="none"
            stroke={l.color ?? PALETTE[k % PALETTE.length]}
            strokeWidth={2}
            strokeDasharray={l.dashed ? "5 4" : undefined}
          >
            <title>{l.label}</title>
          </path>
        ))}
        {lines.length > 0 &&
          (marks ?? []).map((i) =>
            lines[0].values[i] === null || lines[0].values[i] === undefined ? null : (
              <circle key={i} cx={px(i)} cy={py(lines[0].values[i]!)} r={5} className="cube-mark" data-x={x[i]}>
                <title>{`${x[i]}: ${lines[0].values[i]}`}</title>
              </circle>
            ),
          )}
      </svg>
      <figcaption className="cube-legend">
        {lines.map((l, k) => (
          <span key={l.label} className="cube-legend-item">
            <svg width="18" height="8" aria-hidden="true">
              <line x1="0" x2="18" y1="4" y2="4" stroke={l.color ?? PALETTE[k % PALETTE.length]} strokeWidth={3} strokeDasharray={l.dashed ? "4 3" : undefined} />
            </svg>
            {l.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

// A value per (row, column) as the accent colour's strength, the value written in each cell
// when the columns are few enough to read it.
export interface HeatmapProps {
  rows: string[];
  columns: string[];
  value: (row: number, column: number) => number | null;
  label: string;
}

export function Heatmap(props: HeatmapProps) {
  return <Sized max={900}>{(width) => <Heat {...props} W={width} />}</Sized>;
}

function Heat({ rows, columns, value, label, W }: HeatmapProps & { W: number }) {
  const LABEL = Math.min(120, Math.round(W * 0.28));
  const TOP = 56;
  const CW = Math.max(18, Math.min(72, (W - LABEL - 4) / Math.max(1, columns.length)));
  const chars = Math.max(6, Math.floor(LABEL / 7));
  const CH = 24;
  const values: (number | null)[][] = rows.map((_, r) => columns.map((_, c) => value(r, c)));
  const present = values.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  const lo = Math.min(...present, 0);
  const hi = Math.max(...present, lo + 1e-9);
  const write = CW >= 44;
  return (
    <svg
      className="cube-chart heatmap"
      width={LABEL + columns.length * CW + 4}
      height={TOP + rows.length * CH + 4}
      viewBox={`0 0 ${LABEL + columns.length * CW + 4} ${TOP + rows.length * CH + 4}`}
      role="img"
      aria-label={label}
      data-rows={rows.length}
      data-columns={columns.length}
    >
      {columns.map((c, j) => (
        <text key={c} transform={`translate(${LABEL + j * CW + CW / 2},${TOP - 6}) rotate(-40)`} className="cube-chart-label">
          {c}
        </text>
      ))}
      {rows.map((r, i) => (
        <g key={r}>
          <text x={LABEL - 6} y={TOP + i * CH + 16} textAnchor="end" className="cube-chart-label">
            {r.length > chars ? `${r.slice(0, chars - 1)}…` : r}
          </text>
          {columns.map((c, j) => {
            const v = values[i][j];
            return (
              <g key={c}>
                <rect
                  x={LABEL + j * CW}
                  y={TOP + i * CH}
                  width={CW - 2}
                  height={CH - 2}
                  className={v === null ? "cube-heat empty" : "cube-heat"}
                  style={v === null ? undefined : { fillOpacity: 0.12 + (0.88 * (v - lo)) / (hi - lo) }}
                >
                  <title>{`${r} × ${c}: ${v === null ? "—" : v}`}</title>
                </rect>
                {write && v !== null && (
                  <text x={LABEL + j * CW + CW / 2 - 1} y={TOP + i * CH + 15} textAnchor="middle" className="cube-heat-value">
                    {compact(v)}
                  </text>
                )}
              </g>
            );
          })}
        </g>
      ))}
    </svg>
  );
}
