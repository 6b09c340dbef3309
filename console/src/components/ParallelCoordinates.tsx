// A parallel-coordinates chart in SVG: one vertical axis per dimension (numbers on a linear
// scale, anything else as evenly spaced categories), one line per item, coloured by the last
// axis (the metric the params are read against) from blue (low) to red (high).
export interface Dimension {
  name: string;
  values: (string | number | null)[]; // one per item
}

const WIDTH = 760;
const HEIGHT = 300;
const PAD = { top: 28, bottom: 24, left: 40, right: 40 };

function scale(values: (string | number | null)[]): { pos: (v: string | number | null) => number | null; ticks: [string, number][] } {
  const present = values.filter((v): v is string | number => v !== null && v !== "");
  const numbers = present.map((v) => (typeof v === "number" ? v : Number(v)));
  const span = HEIGHT - PAD.top - PAD.bottom;
  if (present.length > 0 && numbers.every((n) => Number.isFinite(n))) {
    const lo = Math.min(...numbers);
    const hi = Math.max(...numbers);
    const at = (n: number) => PAD.top + span * (hi === lo ? 0.5 : 1 - (n - lo) / (hi - lo));
    return {
      pos: (v) => (v === null || v === "" ? null : at(typeof v === "number" ? v : Number(v))),
      ticks: hi === lo ? [[String(lo), at(lo)]] : [[String(+hi.toPrecision(4)), at(hi)], [String(+lo.toPrecision(4)), at(lo)]],
    };
  }
  const categories = [...new Set(present.map(String))].sort();
  const at = (i: number) => PAD.top + (categories.length === 1 ? span / 2 : (span * i) / (categories.length - 1));
  return {
    pos: (v) => (v === null || v === "" ? null : at(categories.indexOf(String(v)))),
    ticks: categories.map((c, i) => [c, at(i)]),
  };
}

function color(t: number): string {
  // Blue (low) to red (high) through purple.
  const r = Math.round(40 + 200 * t);
  const b = Math.round(220 - 180 * t);
  return `rgb(${r}, 70, ${b})`;
}

export function ParallelCoordinates({ dimensions, labels }: { dimensions: Dimension[]; labels: string[] }) {
  if (dimensions.length < 2) return <p className="muted">Two or more dimensions are needed.</p>;
  const step = (WIDTH - PAD.left - PAD.right) / (dimensions.length - 1);
  const scales = dimensions.map((d) => scale(d.values));
  const metric = dimensions[dimensions.length - 1].values;
  const numeric = metric.map((v) => (v === null ? null : Number(v)));
  const finite = numeric.filter((n): n is number => n !== null && Number.isFinite(n));
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  return (
    <svg className="parallel" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="Parallel coordinates">
      {labels.map((label, item) => {
        const points = dimensions
          .map((_, i) => {
            const y = scales[i].pos(dimensions[i].values[item]);
            return y === null ? null : `${PAD.left + i * step},${y}`;
          })
          .filter((p) => p !== null);
        const m = numeric[item];
        const t = m === null || !Number.isFinite(m) || hi === lo ? 0.5 : (m - lo) / (hi - lo);
        return (
          <polyline key={label} points={points.join(" ")} fill="none" stroke={color(t)} strokeWidth={2} opacity={0.8}>
            <title>{label}</title>
          </polyline>
        );
      })}
      {dimensions.map((d, i) => (
        <g key={d.name} transform={`translate(${PAD.left + i * step},0)`}>
          <line y1={PAD.top} y2={HEIGHT - PAD.bottom} className="axis" />
          <text y={PAD.top - 10} textAnchor="middle" className="axis-title">
            {d.name}
          </text>
          {scales[i].ticks.map(([text, y]) => (
            <text key={text} x={4} y={y + 4} className="tick">
              {text}
            </text>
          ))}
        </g>
      ))}
    </svg>
  );
}
