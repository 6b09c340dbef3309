// A pipeline's steps drawn as a graph in SVG: a column per depth (a step sits one column
// right of the deepest step it needs), an arrow per need, each box coloured by its state and
// marked when it came from the cache. Clicking a box selects the step.
export interface DagNode {
  name: string;
  needs: string[];
  state?: string; // absent: not run (the pipeline's own page)
  detail?: string; // a second line: "3 items", "cached from run 4", …
  cached?: boolean;
}

const BOX_W = 170;
const BOX_H = 46;
const GAP_X = 60;
const GAP_Y = 22;

const COLORS: Record<string, string> = {
  succeeded: "var(--ok)",
  failed: "var(--danger)",
  running: "var(--accent)",
  queued: "var(--warn)",
  pending: "var(--muted)",
  cancelled: "var(--warn)",
  skipped: "var(--muted)",
};

export function Dag({ nodes, selected, onSelect }: { nodes: DagNode[]; selected?: string; onSelect?: (name: string) => void }) {
  const depth = new Map<string, number>();
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const depthOf = (name: string, seen = new Set<string>()): number => {
    if (depth.has(name)) return depth.get(name)!;
    if (seen.has(name)) return 0; // a cycle cannot be stored; guard anyway
    seen.add(name);
    const n = byName.get(name);
    const d = n && n.needs.length ? 1 + Math.max(...n.needs.map((x) => depthOf(x, seen))) : 0;
    depth.set(name, d);
    return d;
  };
  nodes.forEach((n) => depthOf(n.name));
  const columns: DagNode[][] = [];
  for (const n of nodes) (columns[depth.get(n.name)!] ??= []).push(n);
  const pos = new Map<string, { x: number; y: number }>();
  columns.forEach((col, c) => col.forEach((n, r) => pos.set(n.name, { x: 10 + c * (BOX_W + GAP_X), y: 10 + r * (BOX_H + GAP_Y) })));
  const width = 20 + columns.length * (BOX_W + GAP_X) - GAP_X;
  const height = 20 + Math.max(1, ...columns.map((c) => c.length)) * (BOX_H + GAP_Y) - GAP_Y;
  return (
    <svg className="dag" viewBox={`0 0 ${width} ${height}`} width={width} role="img" aria-label="Pipeline graph">
      <defs>
        <marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
          <path d="M0,0 L10,5 L0,10 z" className="dag-arrowhead" />
        </marker>
      </defs>
      {nodes.flatMap((n) =>
        n.needs.map((need) => {
          const a = pos.get(need);
          const b = pos.get(n.name);
          if (!a || !b) return null;
          const x1 = a.x + BOX_W;
          const y1 = a.y + BOX_H / 2;
          const x2 = b.x;
          const y2 = b.y + BOX_H / 2;
          const mid = (x1 + x2) / 2;
          return (
            <path
              key={`${need}->${n.name}`}
              d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 2},${y2}`}
              className="dag-edge"
              markerEnd="url(#dag-arrow)"
            />
          );
        }),
      )}
      {nodes.map((n) => {
        const p = pos.get(n.name)!;
        const color = n.state ? COLORS[n.state] ?? "var(--muted)" : "var(--line)";
        return (
          <g
            key={n.name}
            transform={`translate(${p.x},${p.y})`}
            className={`dag-node${selected === n.name ? " selected" : ""}`}
            data-state={n.state ?? ""}
            role="button"
            aria-label={`Step ${n.name}${n.state ? `: ${n.state}` : ""}${n.cached ? " (cached)" : ""}`}
            onClick={() => onSelect?.(n.name)}
          >
            <rect width={BOX_W} height={BOX_H} rx={7} style={{ stroke: color }} />
            <rect width={6} height={BOX_H} rx={3} style={{ fill: color }} />
            <text x={14} y={19} className="dag-name">
              {n.name.length > 20 ? n.name.slice(0, 19) + "…" : n.name}
            </text>
            <text x={14} y={36} className="dag-detail">
              {[n.state, n.cached ? "cached" : "", n.detail].filter(Boolean).join(" · ")}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
