// The charts of the mining jobs' results, drawn in SVG like those of CubeCharts.tsx (whose box,
// palette and classes they share): a clustering's points on its two principal axes, a circle per
// point coloured by its cluster (noise grey), and the outlier scores' histogram with the
// threshold marked. Every mark carries its value in data- attributes, for a reader and for the
// browser tests.
import { PALETTE, Sized, compact } from "./CubeCharts";
import "./cube.css";
import "./analysis.css";

export const clusterColor = (label: number) => (label < 0 ? null : PALETTE[label % PALETTE.length]);
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

export interface Projection {
  explained: [number, number];
  points: [number, number, number][]; // x, y, cluster (-1: noise)
}

// The points on their two principal axes, each axis scaled to the box.
export function ClusterScatter(props: { projection: Projection; label: string }) {
  return <Sized max={900}>{(W) => <Scatter {...props} W={W} />}</Sized>;
}

function Scatter({ projection, label, W }: { projection: Projection; label: string; W: number }) {
  const H = Math.round(Math.min(520, Math.max(260, W * 0.6)));
  const P = { left: 34, right: 12, top: 12, bottom: 36 };
  const pts = projection.points;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const span = (v: number[]) => {
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    const pad = (hi - lo || 1) * 0.05;
    return [lo - pad, hi + pad];
  };
  const [x0, x1] = pts.length ? span(xs) : [-1, 1];
  const [y0, y1] = pts.length ? span(ys) : [-1, 1];
  const px = (v: number) => P.left + ((W - P.left - P.right) * (v - x0)) / (x1 - x0);
  const py = (v: number) => P.top + ((H - P.top - P.bottom) * (y1 - v)) / (y1 - y0);
  const r = pts.length > 1000 ? 2 : 3;
  // Noise first, so that the clusters' points lie over it.
  const order = pts.map((_, i) => i).sort((a, b) => Number(pts[a][2] >= 0) - Number(pts[b][2] >= 0));
  return (
    <svg className="cube-chart mining-scatter" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} data-points={pts.length}>
      <line x1={P.left} x2={W - P.right} y1={H - P.bottom} y2={H - P.bottom} className="mining-axis" />
      <line x1={P.left} x2={P.left} y1={P.top} y2={H - P.bottom} className="mining-axis" />
      {x0 < 0 && x1 > 0 && <line x1={px(0)} x2={px(0)} y1={P.top} y2={H - P.bottom} className="cube-grid" />}
      {y0 < 0 && y1 > 0 && <line x1={P.left} x2={W - P.right} y1={py(0)} y2={py(0)} className="cube-grid" />}
      {order.map((i) => {
        const [x, y, c] = pts[i];
        const fill = clusterColor(c);
        return (
          <circle
            key={i}
            cx={px(x).toFixed(1)}
            cy={py(y).toFixed(1)}
            r={r}
            className={fill ? "mining-point" : "mining-point mining-noise"}
            fill={fill ?? undefined}
            data-cluster={c}
          />
        );
      })}
      <text x={(P.left + W - P.right) / 2} y={H - 10} textAnchor="middle" className="cube-chart-label" data-testid="axis-x">
        {`Component 1: ${pct(projection.explained[0])} of the variance`}
      </text>
      <text
        transform={`translate(14,${(P.top + H - P.bottom) / 2}) rotate(-90)`}
        textAnchor="middle"
        className="cube-chart-label"
        data-testid="axis-y"
      >
        {`Component 2: ${pct(projection.explained[1])} of the variance`}
      </text>
    </svg>
  );
}

// Twenty bins of the scores over [0, 1]; bins at or above the threshold in the danger colour,
// the threshold a dashed line.
export function ScoreHistogram(props: { bins: number[]; threshold: number; label: string }) {
  return <Sized max={900}>{(W) => <Scores {...props} W={W} />}</Sized>;
}

function Scores({ bins, threshold, label, W }: { bins: number[]; threshold: number; label: string; W: number }) {
  const H = 240;
  const P = { left: 44, right: 12, top: 22, bottom: 30 };
  const top = Math.max(1, ...bins);
  const y = (v: number) => P.top + ((H - P.top - P.bottom) * (top - v)) / top;
  const x = (score: number) => P.left + (W - P.left - P.right) * score;
  const width = 1 / Math.max(1, bins.length);
  const bw = Math.max(2, x(width) - x(0) - 2);
  return (
    <svg className="cube-chart" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="group" aria-label={label} data-bins={bins.length}>
      {[top, top / 2].map((v) => (
        <g key={v}>
          <line x1={P.left} x2={W - P.right} y1={y(v)} y2={y(v)} className="cube-grid" />
          <text x={P.left - 6} y={y(v) + 4} textAnchor="end" className="cube-chart-value">
            {compact(v)}
          </text>
        </g>
      ))}
      <line x1={P.left} x2={W - P.right} y1={y(0)} y2={y(0)} className="mining-axis" />
      {bins.map((count, k) => {
        const from = k * width;
        const to = (k + 1) * width;
        const name = `${from.toFixed(2)}–${to.toFixed(2)}: ${count} rows`;
        const over = from >= threshold - 1e-12;
        return (
          <g key={k} role="img" aria-label={name} data-from={from.toFixed(2)} data-count={count}>
            <title>{name}</title>
            <rect x={x(from) + 1} y={y(count)} width={bw} height={Math.max(0, y(0) - y(count))} className={over ? "cube-bar mining-over" : "cube-bar"} />
            {count > 0 && (
              <text x={x(from) + 1 + bw / 2} y={y(count) - 4} textAnchor="middle" className="cube-chart-value">
                {compact(count)}
              </text>
            )}
            {k % 4 === 0 && (
              <text x={x(from)} y={H - P.bottom + 16} textAnchor="middle" className="cube-chart-label">
                {from.toFixed(1)}
              </text>
            )}
          </g>
        );
      })}
      <text x={x(1)} y={H - P.bottom + 16} textAnchor="end" className="cube-chart-label">
        1.0
      </text>
      <g className="mining-threshold" data-threshold={threshold}>
        <line x1={x(threshold)} x2={x(threshold)} y1={P.top - 8} y2={y(0)} />
        <text x={x(threshold) + 4} y={P.top - 10 + 8} className="cube-chart-value">
          {`threshold ${threshold.toFixed(3)}`}
        </text>
      </g>
    </svg>
  );
}
