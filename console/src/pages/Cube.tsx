// Multidimensional analysis (module cube): the cubes with their source, state and size (a
// create form taking the cube as JSON beside them); a cube's page with the query builder
// (measures, a level per dimension, filters with their values suggested from the cube's
// members, totals, comparison with the previous period, order, limit, pivot), its answer as a
// table (rolled-up rows marked Total) or a pivot table and as bars, lines or a heatmap, drilling
// into a value of a hierarchical level by a click (and back up along the drill path), saved
// views, the SQL subset, anomalies of a measure over time, the explanation of a change between
// two periods, and the cube's facts with its pre-aggregations and those proposed from the query
// log.
import { Fragment, useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc, get } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, bytes, when } from "../components/ui";
import { BarChart, Heatmap, LineChart, type Line } from "../components/CubeCharts";
import "../components/cube.css";

type Value = string | number | boolean | null;

interface LevelGroup {
  dimension: string;
  time: boolean;
  levels: string[]; // coarse to fine
}

interface MeasureDef {
  name: string;
  agg?: string;
  formula?: string;
  column?: string;
  expr?: string;
  filter?: string;
  approximate?: boolean;
}

interface PreAggregation {
  name: string;
  dimensions: string[];
  state: string;
  rows?: number;
  built_at?: string;
  error?: string;
}

interface CubeInfo {
  name: string;
  description: string;
  owner: string;
  state: string;
  error?: string;
  rows: number;
  chunks: number;
  memory_bytes: number;
  built_at: string | null;
  created_at: string;
  updated_at: string;
  source: { dataset: string; version: string | number; built_version: number | null };
  dimensions: { name: string; column: string; type?: string; hierarchy?: Record<string, unknown>[] }[];
  measures: MeasureDef[];
  levels: LevelGroup[];
  pre_aggregations: PreAggregation[];
}

interface Filter {
  dimension?: string;
  measure?: string;
  op: string;
  value?: Value;
  values?: Value[];
}

interface Query {
  measures: string[];
  dimensions: string[];
  filters?: Filter[];
  order?: { by: string; desc?: boolean }[];
  limit?: number;
  offset?: number;
  totals?: string;
  top?: { n: number; by: string; per?: string[] };
  compare?: { to: string };
  pivot?: string[];
  pre_aggregation?: string;
}

type Row = Record<string, unknown>;

interface Pivot {
  dimensions: string[];
  columns: Value[][];
  rows: { keys: Record<string, Value>; cells: (Record<string, number | null> | null)[] }[];
}

interface Answer {
  columns: { name: string; kind: string; agg?: string }[];
  rows: Row[];
  total_rows: number;
  pivot?: Pivot;
  pre_aggregation: string | null;
  stats: { rows_scanned: number; chunks_skipped: number; took_ms: number };
  query?: Query;
  cube?: string;
}

interface View {
  name: string;
  query: Query;
  chart: Chart;
  owner: string;
  created_at: string;
}

interface Proposal {
  name: string;
  dimensions: string[];
  queries: number;
  last_used: string;
}

interface AnomalyPoint {
  time: string;
  value: number | null;
  baseline: number | null;
  score: number | null;
  anomaly: boolean;
}

interface Anomalies {
  measure: string;
  level: string;
  season: number;
  threshold: number;
  points: AnomalyPoint[];
  anomalies: (Omit<AnomalyPoint, "anomaly"> & { direction: "up" | "down" })[];
  pre_aggregation: string | null;
}

interface Explanation {
  measure: string;
  level: string;
  from: string;
  to: string;
  additive: boolean;
  total: { from: number; to: number; change: number };
  contributors: { dimension: string; value: Value; from: number; to: number; change: number; share: number | null }[];
}

const CHARTS = ["table", "bars", "lines", "heatmap"] as const;
type Chart = (typeof CHARTS)[number];
const CHART_NAMES: Record<Chart, string> = { table: "Table", bars: "Bars", lines: "Lines", heatmap: "Heatmap" };
const OPS = ["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains", "starts_with"];
const MEASURE_OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "between"];
const TIME_PATH = ["year", "quarter", "month", "week", "day", "hour"];

const EXAMPLE_CUBE = JSON.stringify(
  {
    name: "sales",
    description: "Online retail: revenue by country, time and product",
    source: { dataset: "retail", version: "latest" },
    dimensions: [
      {
        name: "country",
        column: "Country",
        hierarchy: [{ name: "region", column: "Country", map: { France: "Europe", Germany: "Europe", Spain: "Europe" }, default: "Other" }],
      },
      { name: "time", column: "InvoiceDate", type: "time" },
      { name: "product", column: "StockCode", hierarchy: [{ name: "family", column: "StockCode", prefix: 3 }] },
    ],
    measures: [
      { name: "revenue", expr: "Quantity * UnitPrice", agg: "sum" },
      { name: "lines", agg: "count" },
      { name: "customers", column: "CustomerID", agg: "count_distinct" },
      { name: "orders", column: "InvoiceNo", agg: "count_distinct" },
      { name: "revenue_per_order", formula: "revenue / orders" },
    ],
    pre_aggregations: [{ name: "by_country_day", dimensions: ["country", "time.day"] }],
  },
  null,
  2,
);

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const fmt = (v: unknown) => (typeof v === "number" ? number.format(v) : v === null || v === undefined ? "—" : String(v));
const signedPct = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? `${v > 0 ? "+" : ""}${(v * 100).toFixed(1)}%` : "—");
const text = (v: unknown) => (v === null || v === undefined ? "" : String(v));
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

// Where a level sits: its dimension, whether it is time, and its place on the dimension's
// drill path (coarse to fine; -1 off the path: a weekday, an hour of the day).
interface LevelInfo {
  dimension: string;
  time: boolean;
  path: string[];
  index: number;
}

function levelsOf(cube: CubeInfo): Map<string, LevelInfo> {
  const out = new Map<string, LevelInfo>();
  for (const g of cube.levels) {
    const path = g.time ? TIME_PATH.map((t) => `${g.dimension}.${t}`) : g.levels;
    for (const l of g.levels) out.set(l, { dimension: g.dimension, time: g.time, path, index: path.indexOf(l) });
    if (g.time) out.set(g.dimension, { dimension: g.dimension, time: true, path, index: path.indexOf(`${g.dimension}.day`) });
  }
  return out;
}

const queryable = (cube: CubeInfo) => cube.state === "ready" || cube.rows > 0;
const canDrillDown = (info: LevelInfo | undefined) => !!info && info.index >= 0 && info.index < info.path.length - 1;

// Keeps a query the API will take: filters on measures it asks for, order and pivot on its
// columns, a comparison only with exactly one calendar level.
function tidy(q: Query, levels: Map<string, LevelInfo>): Query {
  const known = new Set([...q.measures, ...q.dimensions]);
  const out: Query = {
    measures: q.measures,
    dimensions: q.dimensions,
    filters: (q.filters ?? []).filter((f) => f.dimension !== undefined || q.measures.includes(f.measure ?? "")),
    order: (q.order ?? []).filter((o) => known.has(o.by)),
    limit: q.limit ?? 1000,
    totals: q.totals ?? "none",
  };
  const pivot = (q.pivot ?? []).filter((p) => q.dimensions.includes(p));
  if (pivot.length) out.pivot = pivot;
  const calendar = q.dimensions.filter((d) => {
    const l = levels.get(d);
    return l?.time && l.index >= 0;
  });
  if (q.compare && calendar.length === 1) out.compare = q.compare;
  if (q.top && q.measures.includes(q.top.by)) out.top = { ...q.top, per: (q.top.per ?? []).filter((p) => q.dimensions.includes(p)) };
  if (q.offset) out.offset = q.offset;
  if (q.pre_aggregation) out.pre_aggregation = q.pre_aggregation;
  return out;
}

const isTotal = (r: Row) => Array.isArray(r.grouping) && (r.grouping as number[]).some((g) => g === 1);
const filterValues = (f: Filter): Value[] => f.values ?? (f.value !== undefined ? [f.value] : []);
const describeFilter = (f: Filter) => `${f.dimension ?? f.measure} ${f.op} ${filterValues(f).map(String).join(", ")}`;

// The distinct values of a column in the rows' order, sorted: numbers as numbers (weekdays,
// hours of the day), anything else as text (calendar keys sort so).
function distinct(rows: Row[], key: string): string[] {
  const seen = [...new Set(rows.map((r) => text(r[key])))];
  return seen.every((s) => s !== "" && Number.isFinite(Number(s))) ? seen.sort((a, b) => Number(a) - Number(b)) : seen.sort();
}

export function CubesPage() {
  const list = useApi<{ cubes: CubeInfo[] }>("/api/v1/cubes", 5000);
  return (
    <>
      <PageHeader title="Cubes">
        <Allowed permission="cubes:write">
          <CreateCube />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.cubes ?? []}
        rowKey={(c) => c.name}
        empty={list.loading ? "Loading…" : "No cubes: make one over a table dataset to slice its measures by its dimensions."}
        columns={[
          { title: "Cube", render: (c) => <Link to={`/cubes/${enc(c.name)}`}>{c.name}</Link> },
          {
            title: "Dataset",
            render: (c) => (
              <>
                <Link to={`/datasets/${enc(c.source.dataset)}`}>{c.source.dataset}</Link> {c.source.version}
                {c.source.built_version !== null ? ` (version ${c.source.built_version})` : ""}
              </>
            ),
          },
          { title: "State", render: (c) => <StateBadge state={c.state} /> },
          { title: "Rows", render: (c) => c.rows.toLocaleString(), className: "num" },
          { title: "Memory", render: (c) => bytes(c.memory_bytes), className: "num" },
          { title: "Built", render: (c) => when(c.built_at) },
          { title: "Description", render: (c) => c.description },
        ]}
      />
    </>
  );
}

function CreateCube() {
  const [open, setOpen] = useState(false);
  const [json, setJson] = useState(EXAMPLE_CUBE);
  const action = useAction();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New cube</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      action.setError("the cube is not JSON");
      return;
    }
    void action.run(async () => {
      const made = await api<CubeInfo>("POST", "/api/v1/cubes", parsed);
      navigate(`/cubes/${enc(made.name)}`);
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-label="New cube">
      <Field label="Cube (JSON)">
        <textarea name="cube" rows={18} value={json} onChange={(e) => setJson(e.target.value)} spellCheck={false} />
      </Field>
      <p className="muted">
        Dimensions: a column each, <code>type: "time"</code> for the calendar levels, a hierarchy of coarser levels (a column, its{" "}
        <code>prefix</code> or a <code>map</code>). Measures: sum, count, avg, min, max, count_distinct of a column or an{" "}
        <code>expr</code>, or a <code>formula</code> over other measures. It is built in the background.
      </p>
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy} onCancel={() => setOpen(false)} />
    </form>
  );
}

// ---- the answer as a table, a pivot table and charts ----

function ResultTable({
  answer,
  query,
  levels,
  onDrill,
}: {
  answer: Answer;
  query: Query;
  levels: Map<string, LevelInfo>;
  onDrill?: (level: string, value: Value) => void;
}) {
  const dims = answer.columns.filter((c) => c.kind === "dimension").map((c) => c.name);
  const measures = answer.columns.filter((c) => c.kind === "measure").map((c) => c.name);
  const compare = !!query.compare;
  // A row that rolls the calendar level up has no previous period (the API compares it with itself).
  const calendar = dims.findIndex((d) => {
    const l = levels.get(d);
    return l?.time && l.index >= 0;
  });
  if (answer.rows.length === 0) return <p className="muted">No rows: nothing matches the filters.</p>;
  return (
    <div className="table-wrap">
      <table aria-label="Result" className="cube-result">
        <thead>
          <tr>
            {dims.map((d) => (
              <th key={d}>{d}</th>
            ))}
            {measures.map((m) => (
              <Fragment key={m}>
                <th className="num">{m}</th>
                {compare && <th className="num">{m} before</th>}
                {compare && <th className="num">{m} change</th>}
              </Fragment>
            ))}
          </tr>
        </thead>
        <tbody>
          {answer.rows.map((r, k) => {
            const grouping = Array.isArray(r.grouping) ? (r.grouping as number[]) : [];
            const total = isTotal(r);
            return (
              <tr key={k} className={total ? "total-row" : undefined} data-total={total ? "true" : undefined} data-grouping={grouping.join(",") || undefined}>
                {dims.map((d, i) => {
                  const v = r[d] as Value;
                  if (grouping[i] === 1) {
                    return (
                      <td key={d} className="total">
                        Total
                      </td>
                    );
                  }
                  const drillable = onDrill && v !== null && canDrillDown(levels.get(d));
                  return (
                    <td key={d}>
                      {drillable ? (
                        <button className="link" title={`Drill into ${d} ${String(v)}`} onClick={() => onDrill(d, v)}>
                          {String(v)}
                        </button>
                      ) : v === null ? (
                        <span className="muted">(none)</span>
                      ) : (
                        String(v)
                      )}
                    </td>
                  );
                })}
                {measures.map((m) => {
                  const whole = calendar >= 0 && grouping[calendar] === 1;
                  return (
                    <Fragment key={m}>
                      <td className="num">{fmt(r[m])}</td>
                      {compare && <td className="num">{whole ? "—" : fmt(r[`${m}.previous`])}</td>}
                      {compare && <td className="num">{whole ? "—" : signedPct(r[`${m}.change`])}</td>}
                    </Fragment>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function PivotTable({ answer, query }: { answer: Answer; query: Query }) {
  const p = answer.pivot!;
  const keys = query.dimensions.filter((d) => !p.dimensions.includes(d));
  const several = query.measures.length > 1;
  return (
    <div className="table-wrap">
      <table aria-label="Pivot" className="cube-result">
        <thead>
          <tr>
            {keys.map((d) => (
              <th key={d}>{d}</th>
            ))}
            {p.columns.map((c, j) =>
              query.measures.map((m) => (
                <th key={`${j}-${m}`} className="num">
                  {c.map((v) => (v === null ? "Total" : String(v))).join(" · ")}
                  {several ? ` ${m}` : ""}
                </th>
              )),
            )}
          </tr>
        </thead>
        <tbody>
          {p.rows.map((r, k) => {
            const total = keys.some((d) => r.keys[d] === null);
            return (
              <tr key={k} className={total ? "total-row" : undefined}>
                {keys.map((d) => (
                  <td key={d} className={r.keys[d] === null ? "total" : undefined}>
                    {r.keys[d] === null ? "Total" : String(r.keys[d])}
                  </td>
                ))}
                {r.cells.map((cell, j) =>
                  query.measures.map((m) => (
                    <td key={`${j}-${m}`} className="num">
                      {cell ? fmt(cell[m]) : ""}
                    </td>
                  )),
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function ResultChart({
  chart,
  answer,
  query,
  measure,
  levels,
  onDrill,
}: {
  chart: Chart;
  answer: Answer;
  query: Query;
  measure: string;
  levels: Map<string, LevelInfo>;
  onDrill: (level: string, value: Value) => void;
}) {
  const rows = answer.rows.filter((r) => !isTotal(r));
  const dims = query.dimensions;
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  if (rows.length === 0) return null;
  if (chart === "bars") {
    const one = dims.length === 1 ? dims[0] : null;
    const bars = rows.slice(0, 200).map((r) => {
      const label = dims.length === 0 ? "All" : dims.map((d) => text(r[d])).join(" · ");
      return { label, value: num(r[measure]), title: `${label}: ${fmt(r[measure])}` };
    });
    const drillable = one !== null && canDrillDown(levels.get(one));
    return (
      <>
        <BarChart
          bars={bars}
          label={`${measure} by ${dims.join(", ") || "nothing"}`}
          onPick={drillable ? (b) => onDrill(one, rows.find((r) => text(r[one]) === b.label)?.[one] as Value) : undefined}
        />
        {drillable && <p className="muted">Click a bar to drill into it.</p>}
      </>
    );
  }
  if (chart === "lines") {
    if (dims.length === 0) return <p className="muted">Lines need a dimension for their x axis (a time level).</p>;
    const xLevel = dims.find((d) => levels.get(d)?.time) ?? dims[0];
    const by = dims.find((d) => d !== xLevel);
    const x = distinct(rows, xLevel);
    const at = new Map(x.map((v, i) => [v, i]));
    const series = new Map<string, (number | null)[]>();
    for (const r of rows) {
      const key = by ? text(r[by]) : measure;
      if (!series.has(key)) series.set(key, new Array(x.length).fill(null));
      const i = at.get(text(r[xLevel]));
      if (i !== undefined) series.get(key)![i] = (series.get(key)![i] ?? 0) + (num(r[measure]) ?? 0);
    }
    // At most 10 lines: those with the largest totals.
    const total = (v: (number | null)[]) => v.reduce<number>((s, n) => s + Math.abs(n ?? 0), 0);
    const lines: Line[] = [...series.entries()]
      .sort((a, b) => total(b[1]) - total(a[1]))
      .slice(0, 10)
      .map(([label, values]) => ({ label, values }));
    return (
      <>
        <LineChart x={x} lines={lines} label={`${measure} over ${xLevel}${by ? ` by ${by}` : ""}`} />
        {series.size > 10 && <p className="muted">The 10 largest of {series.size} lines.</p>}
      </>
    );
  }
  if (chart === "heatmap") {
    if (dims.length !== 2) return <p className="muted">A heatmap needs two dimensions: it has {dims.length}.</p>;
    const [a, b] = dims;
    const ra = distinct(rows, a);
    const cb = distinct(rows, b);
    const cell = new Map(rows.map((r) => [`${text(r[a])}\u0000${text(r[b])}`, num(r[measure])]));
    return (
      <Heatmap
        rows={ra}
        columns={cb}
        value={(i, j) => cell.get(`${ra[i]}\u0000${cb[j]}`) ?? null}
        label={`${measure} by ${a} and ${b}`}
      />
    );
  }
  return null;
}

// ---- the query builder ----

function MemberInput({
  cube,
  level,
  value,
  onChange,
  multi,
  built,
}: {
  cube: string;
  level: string;
  value: string;
  onChange: (v: string) => void;
  multi: boolean;
  built: boolean; // members are asked only of a cube that has data (else 409)
}) {
  const [members, setMembers] = useState<string[]>([]);
  // The typed value after the last comma is what is completed; the options keep what is before it.
  const head = multi && value.includes(",") ? `${value.slice(0, value.lastIndexOf(",") + 1)} ` : "";
  const typed = value.slice(head ? value.lastIndexOf(",") + 1 : 0).trim();
  useEffect(() => {
    if (!level || !built) return;
    let live = true;
    const t = setTimeout(() => {
      get<{ values: Value[] }>(`/api/v1/cubes/${enc(cube)}/members?level=${enc(level)}&q=${enc(typed)}&limit=50`)
        .then((m) => live && setMembers(m.values.map(String)))
        .catch(() => live && setMembers([]));
    }, 200);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [cube, level, typed, built]);
  const id = `members-${level.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
  return (
    <>
      <input
        name="filter-values"
        list={id}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        placeholder={multi ? "a, b, c" : "value"}
        autoComplete="off"
      />
      <datalist id={id}>
        {members.map((m) => (
          <option key={m} value={`${head}${m}`} />
        ))}
      </datalist>
    </>
  );
}

function FilterForm({ cube, query, levels, add }: { cube: CubeInfo; query: Query; levels: Map<string, LevelInfo>; add: (f: Filter) => void }) {
  const [on, setOn] = useState(cube.levels[0]?.levels[0] ?? "");
  const [op, setOp] = useState("in");
  const [raw, setRaw] = useState("");
  const isMeasure = query.measures.includes(on) && !levels.has(on);
  const ops = isMeasure ? MEASURE_OPS : OPS;
  const multi = op === "in" || op === "not_in" || op === "between";
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parts = multi ? raw.split(",").map((s) => s.trim()).filter((s) => s !== "") : [raw.trim()];
    const values: Value[] = isMeasure ? parts.map(Number) : parts;
    const f: Filter = isMeasure ? { measure: on, op } : { dimension: on, op };
    if (op === "in" || op === "not_in" || op === "between") f.values = values;
    else f.value = values[0];
    add(f);
    setRaw("");
  };
  const bad = raw.trim() === "" || (op === "between" && raw.split(",").filter((s) => s.trim()).length !== 2);
  return (
    <form className="row cube-filter-form" onSubmit={submit} aria-label="Add a filter">
      <select
        aria-label="Filter on"
        value={on}
        onChange={(e) => {
          setOn(e.target.value);
          if (query.measures.includes(e.target.value) && !MEASURE_OPS.includes(op)) setOp("gt");
        }}
      >
        <optgroup label="Levels">
          {cube.levels.flatMap((g) => (g.time ? [g.dimension, ...g.levels] : g.levels)).map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </optgroup>
        {query.measures.length > 0 && (
          <optgroup label="Measures">
            {query.measures.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </optgroup>
        )}
      </select>
      <select aria-label="Operator" value={ops.includes(op) ? op : ops[0]} onChange={(e) => setOp(e.target.value)}>
        {ops.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
      {isMeasure ? (
        <input name="filter-values" value={raw} onChange={(e) => setRaw(e.target.value)} placeholder={op === "between" ? "1, 100" : "a number"} />
      ) : (
        <MemberInput cube={cube.name} level={on} value={raw} onChange={setRaw} multi={multi} built={queryable(cube)} />
      )}
      <button type="submit" className="secondary" disabled={bad || (!ops.includes(op) && !isMeasure)}>
        Add filter
      </button>
    </form>
  );
}

function Builder({ cube, query, levels, edit }: { cube: CubeInfo; query: Query; levels: Map<string, LevelInfo>; edit: (q: Query, keepPath?: boolean) => void }) {
  const setLevel = (g: LevelGroup, level: string) => {
    const dims = [...query.dimensions];
    const at = dims.findIndex((d) => levels.get(d)?.dimension === g.dimension);
    if (!level) dims.splice(at, 1);
    else if (at >= 0) dims[at] = level;
    else dims.push(level);
    edit({ ...query, dimensions: at < 0 && !level ? query.dimensions : dims });
  };
  const toggle = (m: string) =>
    edit(
      { ...query, measures: query.measures.includes(m) ? query.measures.filter((x) => x !== m) : [...query.measures, m] },
      true,
    );
  const calendar = query.dimensions.filter((d) => {
    const l = levels.get(d);
    return l?.time && l.index >= 0;
  });
  const order = query.order?.[0];
  return (
    <section className="card cube-builder" aria-label="Query">
      <fieldset>
        <legend>Measures</legend>
        {cube.measures.map((m) => (
          <label key={m.name} className="check" title={m.formula ? `= ${m.formula}` : `${m.agg}(${m.expr ?? m.column ?? "rows"})`}>
            <input type="checkbox" checked={query.measures.includes(m.name)} onChange={() => toggle(m.name)} />
            {m.name}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Dimensions</legend>
        <div className="row">
          {cube.levels.map((g) => {
            const current = query.dimensions.find((d) => levels.get(d)?.dimension === g.dimension) ?? "";
            return (
              <label key={g.dimension} className="field">
                <span>{g.dimension}</span>
                <select aria-label={`Level of ${g.dimension}`} value={current} onChange={(e) => setLevel(g, e.target.value)}>
                  <option value="">—</option>
                  {g.levels.map((l) => (
                    <option key={l} value={l}>
                      {l}
                    </option>
                  ))}
                  {current && !g.levels.includes(current) && <option value={current}>{current}</option>}
                </select>
              </label>
            );
          })}
        </div>
      </fieldset>
      <fieldset>
        <legend>Filters</legend>
        <ul className="cube-filters" aria-label="Filters">
          {(query.filters ?? []).map((f, k) => (
            <li key={k} className="tag">
              {describeFilter(f)}{" "}
              <button
                className="link"
                aria-label={`Remove filter ${describeFilter(f)}`}
                onClick={() => edit({ ...query, filters: (query.filters ?? []).filter((_, i) => i !== k) })}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
        <FilterForm cube={cube} query={query} levels={levels} add={(f) => edit({ ...query, filters: [...(query.filters ?? []), f] }, true)} />
      </fieldset>
      <fieldset>
        <legend>Options</legend>
        <div className="row">
          <Field label="Totals">
            <select value={query.totals ?? "none"} onChange={(e) => edit({ ...query, totals: e.target.value }, true)}>
              <option value="none">none</option>
              <option value="rollup">rollup</option>
              <option value="cube">cube</option>
            </select>
          </Field>
          <Field label="Compare with">
            <select
              value={query.compare?.to ?? ""}
              disabled={calendar.length !== 1}
              title={calendar.length !== 1 ? "Group by one calendar level (year to hour) to compare" : undefined}
              onChange={(e) => edit({ ...query, compare: e.target.value ? { to: e.target.value } : undefined }, true)}
            >
              <option value="">nothing</option>
              <option value="previous_period">the previous period</option>
              <option value="previous_year">the previous year</option>
            </select>
          </Field>
          <Field label="Order by">
            <select
              value={order ? `${order.desc ? "-" : ""}${order.by}` : ""}
              onChange={(e) => {
                const v = e.target.value;
                edit({ ...query, order: v ? [{ by: v.replace(/^-/, ""), desc: v.startsWith("-") }] : [] }, true);
              }}
            >
              <option value="">the dimensions</option>
              {[...query.measures, ...query.dimensions].flatMap((c) => [
                <option key={`-${c}`} value={`-${c}`}>
                  {c} ↓
                </option>,
                <option key={c} value={c}>
                  {c} ↑
                </option>,
              ])}
            </select>
          </Field>
          <Field label="Limit">
            <input
              type="number"
              min={1}
              max={100000}
              value={query.limit ?? 1000}
              onChange={(e) => {
                const n = Math.round(Number(e.target.value));
                if (n >= 1 && n <= 100000) edit({ ...query, limit: n }, true);
              }}
            />
          </Field>
          <Field label="Pivot">
            <select value={query.pivot?.[0] ?? ""} onChange={(e) => edit({ ...query, pivot: e.target.value ? [e.target.value] : [] }, true)}>
              <option value="">no pivot</option>
              {query.dimensions.map((d) => (
                <option key={d} value={d}>
                  {d} as columns
                </option>
              ))}
            </select>
          </Field>
        </div>
      </fieldset>
    </section>
  );
}

interface Step {
  level: string; // the level drilled into a value of
  value: Value;
  to: string; // the finer level that replaced it
}

function Explore({
  cube,
  levels,
  query,
  setQuery,
  chart,
  setChart,
  path,
  setPath,
}: {
  cube: CubeInfo;
  levels: Map<string, LevelInfo>;
  query: Query;
  setQuery: (q: Query) => void;
  chart: Chart;
  setChart: (c: Chart) => void;
  path: Step[];
  setPath: (p: Step[]) => void;
}) {
  const base = `/api/v1/cubes/${enc(cube.name)}`;
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState("");
  const [running, setRunning] = useState(false);
  const [measure, setMeasure] = useState("");
  const answered = useRef(""); // the key of the query the answer shown is for
  const ready = queryable(cube);
  const key = `${JSON.stringify(query)}|${cube.built_at}`;

  useEffect(() => {
    if (!ready || query.measures.length === 0 || answered.current === key) return;
    let live = true;
    setRunning(true);
    api<Answer>("POST", `${base}/query`, query)
      .then((a) => {
        if (!live) return;
        answered.current = key;
        setAnswer(a);
        setError("");
      })
      .catch((e) => live && setError(errorText(e)))
      .finally(() => live && setRunning(false));
    return () => {
      live = false;
    };
    // The key stands for the query and the cube's build.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, ready]);

  const edit = (q: Query, keepPath = false) => {
    if (!keepPath) setPath([]);
    setQuery(tidy(q, levels));
  };
  const drill = async (level: string, value: Value, direction: "down" | "up") => {
    const r = await api<{ query: Query; result: Answer }>("POST", `${base}/drill`, { query, level, value, direction });
    answered.current = `${JSON.stringify(r.query)}|${cube.built_at}`;
    setQuery(r.query);
    setAnswer(r.result);
    setError("");
    return r.query;
  };
  const down = (level: string, value: Value) => {
    const at = query.dimensions.indexOf(level);
    drill(level, value, "down")
      .then((q) => setPath([...path, { level, value, to: q.dimensions[at] }]))
      .catch((e) => setError(errorText(e)));
  };
  // Up to the step `k` of the path (0: all of it undone), one drill up at a time.
  const upTo = async (k: number) => {
    let q = query;
    try {
      for (let i = path.length - 1; i >= k; i--) {
        const r = await api<{ query: Query; result: Answer }>("POST", `${base}/drill`, { query: q, level: path[i].to, direction: "up" });
        q = r.query;
        answered.current = `${JSON.stringify(r.query)}|${cube.built_at}`;
        setQuery(r.query);
        setAnswer(r.result);
      }
      setPath(path.slice(0, k));
      setError("");
    } catch (e) {
      setError(errorText(e));
    }
  };
  const shownMeasure = query.measures.includes(measure) ? measure : query.measures[0];
  const fresh = answer && answered.current === key;
  return (
    <>
      <Builder cube={cube} query={query} levels={levels} edit={edit} />
      {path.length > 0 && (
        <div className="toolbar">
          <nav aria-label="Drill path" className="crumbs">
            <button className="link" onClick={() => void upTo(0)}>
              All
            </button>
            {path.map((s, k) => (
              <Fragment key={k}>
                <span aria-hidden="true"> › </span>
                {k < path.length - 1 ? (
                  <button className="link" onClick={() => void upTo(k + 1)}>
                    {s.level} = {String(s.value)}
                  </button>
                ) : (
                  <span>
                    {s.level} = {String(s.value)}
                  </span>
                )}
              </Fragment>
            ))}
          </nav>
          <button className="secondary" onClick={() => void upTo(path.length - 1)}>
            Up
          </button>
        </div>
      )}
      <div className="toolbar" role="tablist" aria-label="Chart">
        {CHARTS.map((c) => (
          <button key={c} role="tab" aria-selected={chart === c} className={chart === c ? "" : "secondary"} onClick={() => setChart(c)}>
            {CHART_NAMES[c]}
          </button>
        ))}
        {chart !== "table" && query.measures.length > 1 && (
          <select aria-label="Chart measure" value={shownMeasure} onChange={(e) => setMeasure(e.target.value)}>
            {query.measures.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        )}
        {running && <span className="muted">Running…</span>}
      </div>
      <ErrorLine error={error} />
      {query.measures.length === 0 ? (
        <p className="muted">Pick a measure, then the levels to group it by.</p>
      ) : !ready ? (
        <p className="muted">The cube is being built: queries wait for it.</p>
      ) : (
        answer && (
          <section aria-label="Answer" aria-busy={!fresh} data-fresh={fresh ? "true" : "false"}>
            {chart !== "table" && (
              <ResultChart chart={chart} answer={answer} query={query} measure={shownMeasure} levels={levels} onDrill={down} />
            )}
            {answer.pivot && query.pivot?.length ? (
              <>
                <PivotTable answer={answer} query={query} />
                {query.totals !== "none" && <p className="muted">The pivot table leaves the totals out: without the pivot, the table shows them.</p>}
              </>
            ) : (
              <ResultTable answer={answer} query={query} levels={levels} onDrill={down} />
            )}
            <p className="muted" data-testid="query-stats">
              {answer.total_rows.toLocaleString()} rows
              {answer.total_rows > answer.rows.length ? ` (${answer.rows.length.toLocaleString()} shown)` : ""}; from{" "}
              {answer.pre_aggregation ? `pre-aggregation ${answer.pre_aggregation}` : "the base table"};{" "}
              {answer.stats.rows_scanned.toLocaleString()} rows scanned, {answer.stats.chunks_skipped.toLocaleString()} chunks skipped;{" "}
              {answer.stats.took_ms.toFixed(1)} ms
            </p>
          </section>
        )
      )}
      <Views cube={cube.name} query={query} chart={chart} open={(v) => {
        setPath([]);
        setQuery(tidy(v.query, levels));
        setChart(v.chart);
      }} />
    </>
  );
}

function Views({ cube, query, chart, open }: { cube: string; query: Query; chart: Chart; open: (v: View) => void }) {
  const path = `/api/v1/cubes/${enc(cube)}/views`;
  const list = useApi<{ views: View[] }>(path);
  const [name, setName] = useState("");
  const action = useAction();
  const save = (e: FormEvent) => {
    e.preventDefault();
    void action.run(() => api("POST", path, { name, query, chart }), () => {
      setName("");
      list.reload();
    });
  };
  return (
    <section aria-label="Saved views">
      <h2>Saved views</h2>
      <Allowed permission="cubes:write">
        <form className="toolbar" onSubmit={save} aria-label="Save the view">
          <input aria-label="View name" value={name} onChange={(e) => setName(e.target.value)} placeholder="name" required maxLength={64} />
          <button type="submit" disabled={action.busy || !name || query.measures.length === 0}>
            Save view
          </button>
          <span className="muted">the query and the chart ({chart})</span>
        </form>
      </Allowed>
      <ErrorLine error={list.error ?? action.error} />
      <DataTable
        rows={list.data?.views ?? []}
        rowKey={(v) => v.name}
        empty="No saved views."
        columns={[
          {
            title: "View",
            render: (v) => (
              <button className="link" onClick={() => open(v)} title="Open this view">
                {v.name}
              </button>
            ),
          },
          { title: "Chart", render: (v) => v.chart },
          { title: "Measures", render: (v) => v.query.measures.join(", ") },
          { title: "Dimensions", render: (v) => v.query.dimensions.join(", ") },
          { title: "Owner", render: (v) => v.owner },
          { title: "Saved", render: (v) => when(v.created_at) },
          {
            title: "",
            render: (v) => (
              <Allowed permission="cubes:write">
                <button
                  className="danger"
                  aria-label={`Delete view ${v.name}`}
                  disabled={action.busy}
                  onClick={() => void action.run(() => api("DELETE", `${path}/${enc(v.name)}`), list.reload)}
                >
                  Delete
                </button>
              </Allowed>
            ),
          },
        ]}
      />
    </section>
  );
}

// ---- SQL, anomalies, explain, facts ----

function SqlPanel({ cube, levels, open }: { cube: CubeInfo; levels: Map<string, LevelInfo>; open: (q: Query) => void }) {
  const dim = cube.levels.find((g) => !g.time)?.dimension ?? cube.levels[0]?.levels[0] ?? "";
  const m = cube.measures.find((x) => x.agg === "sum") ?? cube.measures[0];
  const example = `SELECT ${dim}, ${m?.agg === "sum" ? `SUM(${m.name})` : m?.name} FROM ${cube.name} GROUP BY ${dim} ORDER BY ${m?.name} DESC LIMIT 10`;
  const [sql, setSql] = useState(example);
  const [answer, setAnswer] = useState<Answer | null>(null);
  const action = useAction();
  const run = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => setAnswer(await api<Answer>("POST", "/api/v1/cubes/sql", { sql })));
  };
  return (
    <section>
      <form onSubmit={run} className="inline-form" aria-label="SQL query">
        <Field label="SQL">
          <textarea name="sql" rows={5} value={sql} onChange={(e) => setSql(e.target.value)} spellCheck={false} />
        </Field>
        <p className="muted">
          One SELECT over one cube: levels and measures, WHERE (AND of =, &lt;&gt;, &lt;, IN, BETWEEN, LIKE), GROUP BY levels, ROLLUP(…) or
          CUBE(…), HAVING on measures, ORDER BY, LIMIT. A measure carries its own aggregate.
        </p>
        <div className="row">
          <button type="submit" disabled={action.busy || !sql.trim()}>
            Run
          </button>
        </div>
      </form>
      <ErrorLine error={action.error} />
      {answer?.query && (
        <>
          <h3>Answer</h3>
          <ResultTable answer={answer} query={answer.query} levels={levels} />
          <p className="muted">
            {answer.total_rows.toLocaleString()} rows from cube {answer.cube}; {answer.pre_aggregation ? `pre-aggregation ${answer.pre_aggregation}` : "the base table"};{" "}
            {answer.stats.took_ms.toFixed(1)} ms
          </p>
          <h3>As a JSON query</h3>
          <pre data-testid="sql-query">{JSON.stringify(answer.query, null, 2)}</pre>
          {answer.cube === cube.name && (
            <button className="secondary" onClick={() => open(answer.query!)}>
              Open in the builder
            </button>
          )}
        </>
      )}
    </section>
  );
}

function calendarLevels(cube: CubeInfo): string[] {
  const t = cube.levels.find((g) => g.time);
  return t ? TIME_PATH.map((l) => `${t.dimension}.${l}`).filter((l) => t.levels.includes(l)) : [];
}


// The measure picker of the Anomalies and Explain panels.
function MeasureField({ cube, value, onChange }: { cube: CubeInfo; value: string; onChange: (m: string) => void }) {
  return (
    <Field label="Measure">
      <select aria-label="Measure" value={value} onChange={(e) => onChange(e.target.value)}>
        {cube.measures.map((m) => (
          <option key={m.name}>{m.name}</option>
        ))}
      </select>
    </Field>
  );
}
function AnomaliesPanel({ cube }: { cube: CubeInfo }) {
  const levels = calendarLevels(cube);
  const [measure, setMeasure] = useState(cube.measures[0]?.name ?? "");
  const [level, setLevel] = useState(levels.find((l) => l.endsWith(".day")) ?? levels[0] ?? "");
  const [threshold, setThreshold] = useState("3.5");
  const [answer, setAnswer] = useState<Anomalies | null>(null);
  const action = useAction();
  if (levels.length === 0) return <p className="muted">The cube has no time dimension.</p>;
  const run = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () =>
      setAnswer(await api<Anomalies>("POST", `/api/v1/cubes/${enc(cube.name)}/anomalies`, { measure, level, threshold: Number(threshold) })),
    );
  };
  const marks = answer ? answer.points.flatMap((p, i) => (p.anomaly ? [i] : [])) : [];
  return (
    <section aria-label="Anomalies">
      <form className="toolbar" onSubmit={run} aria-label="Find anomalies">
        <MeasureField cube={cube} value={measure} onChange={setMeasure} />
        <Field label="Level">
          <select aria-label="Level" value={level} onChange={(e) => setLevel(e.target.value)}>
            {levels.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </Field>
        <Field label="Threshold">
          <input type="number" min={0.1} step="any" value={threshold} onChange={(e) => setThreshold(e.target.value)} />
        </Field>
        <button type="submit" disabled={action.busy || !(Number(threshold) > 0)}>
          Find anomalies
        </button>
      </form>
      <ErrorLine error={action.error} />
      {answer && (
        <>
          <LineChart
            x={answer.points.map((p) => p.time)}
            lines={[
              { label: answer.measure, values: answer.points.map((p) => p.value) },
              { label: "baseline", values: answer.points.map((p) => p.baseline), dashed: true, color: "#8a93a6" },
            ]}
            marks={marks}
            label={`${answer.measure} per ${answer.level} and its baseline`}
          />
          <p className="muted" data-testid="anomalies-summary">
            {answer.points.length} periods, {answer.anomalies.length} anomalies; the baseline is the median of the same period in the last
            seasons ({answer.season ? `a season of ${answer.season} periods` : "no season"}), a score is the robust z-score; anomalies score beyond
            ±{answer.threshold}.
          </p>
          <DataTable
            rows={answer.anomalies}
            rowKey={(a) => a.time}
            empty="No anomalies at this threshold."
            columns={[
              { title: "Period", render: (a) => a.time },
              { title: "Value", render: (a) => fmt(a.value), className: "num" },
              { title: "Baseline", render: (a) => fmt(a.baseline), className: "num" },
              { title: "Score", render: (a) => (a.score === null ? "—" : a.score.toFixed(2)), className: "num" },
              { title: "Direction", render: (a) => (a.direction === "up" ? "↑ up" : "↓ down") },
            ]}
          />
        </>
      )}
    </section>
  );
}

function ExplainPanel({ cube }: { cube: CubeInfo }) {
  const levels = calendarLevels(cube);
  const others = cube.levels.filter((g) => !g.time).flatMap((g) => g.levels);
  const [measure, setMeasure] = useState(cube.measures[0]?.name ?? "");
  const [level, setLevel] = useState(levels.find((l) => l.endsWith(".month")) ?? levels[0] ?? "");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [dims, setDims] = useState<string[]>(cube.levels.filter((g) => !g.time).map((g) => g.levels[g.levels.length - 1]));
  const [limit, setLimit] = useState("10");
  const [periods, setPeriods] = useState<string[]>([]);
  const [answer, setAnswer] = useState<Explanation | null>(null);
  const action = useAction();
  const built = queryable(cube);
  useEffect(() => {
    if (!level || !built) return;
    let live = true;
    get<{ values: string[] }>(`/api/v1/cubes/${enc(cube.name)}/members?level=${enc(level)}&limit=1000`)
      .then((m) => {
        if (!live) return;
        setPeriods(m.values);
        const n = m.values.length;
        // The last two periods, unless the user typed others.
        if (n >= 2) {
          setFrom((f) => f || m.values[n - 2]);
          setTo((t) => t || m.values[n - 1]);
        }
      })
      .catch(() => live && setPeriods([]));
    return () => {
      live = false;
    };
  }, [cube.name, level, built]);
  if (levels.length === 0) return <p className="muted">The cube has no time dimension.</p>;
  const run = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () =>
      setAnswer(
        await api<Explanation>("POST", `/api/v1/cubes/${enc(cube.name)}/explain`, { measure, level, from, to, dimensions: dims, limit: Number(limit) }),
      ),
    );
  };
  return (
    <section aria-label="Explain change">
      <form className="toolbar" onSubmit={run} aria-label="Explain a change">
        <MeasureField cube={cube} value={measure} onChange={setMeasure} />
        <Field label="Level">
          <select
            aria-label="Level"
            value={level}
            onChange={(e) => {
              setLevel(e.target.value);
              setFrom("");
              setTo("");
            }}
          >
            {levels.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </Field>
        <Field label="From">
          <input aria-label="From" list="explain-periods" value={from} onChange={(e) => setFrom(e.target.value)} required />
        </Field>
        <Field label="To">
          <input aria-label="To" list="explain-periods" value={to} onChange={(e) => setTo(e.target.value)} required />
        </Field>
        <datalist id="explain-periods">
          {periods.map((p) => (
            <option key={p} value={p} />
          ))}
        </datalist>
        <Field label="Top">
          <input type="number" min={1} max={1000} value={limit} onChange={(e) => setLimit(e.target.value)} />
        </Field>
        <button type="submit" disabled={action.busy || !from || !to || dims.length === 0}>
          Explain
        </button>
      </form>
      <div className="columns-picker" role="group" aria-label="Explain by">
        <span className="muted">By: </span>
        {others.map((l) => (
          <label key={l} className="check">
            <input type="checkbox" checked={dims.includes(l)} onChange={() => setDims(dims.includes(l) ? dims.filter((d) => d !== l) : [...dims, l])} />
            {l}
          </label>
        ))}
      </div>
      <ErrorLine error={action.error} />
      {answer && (
        <>
          <p data-testid="explain-total">
            {answer.measure} went from {fmt(answer.total.from)} ({answer.from}) to {fmt(answer.total.to)} ({answer.to}): {answer.total.change > 0 ? "+" : ""}
            {fmt(answer.total.change)}
          </p>
          {!answer.additive && <p className="muted">{answer.measure} does not add up across values: the shares are indicative only.</p>}
          <DataTable
            rows={answer.contributors}
            rowKey={(c) => `${c.dimension}\u0000${String(c.value)}`}
            empty="Nothing changed."
            columns={[
              { title: "Level", render: (c) => c.dimension },
              { title: "Value", render: (c) => String(c.value) },
              { title: answer.from, render: (c) => fmt(c.from), className: "num" },
              { title: answer.to, render: (c) => fmt(c.to), className: "num" },
              { title: "Change", render: (c) => fmt(c.change), className: "num" },
              { title: "Share", render: (c) => (c.share === null ? "—" : `${(c.share * 100).toFixed(1)}%`), className: "num" },
            ]}
          />
        </>
      )}
    </section>
  );
}

function Facts({ cube, changed }: { cube: CubeInfo; changed: () => void }) {
  const base = `/api/v1/cubes/${enc(cube.name)}`;
  const proposals = useApi<{ proposals: Proposal[] }>(`${base}/pre-aggregations/proposals`);
  const action = useAction();
  const declared = cube.pre_aggregations.map((p) => ({ name: p.name, dimensions: p.dimensions }));
  const patch = (pre: { name: string; dimensions: string[] }[]) =>
    void action.run(
      () => api("PATCH", base, { pre_aggregations: pre }),
      () => {
        changed();
        proposals.reload();
      },
    );
  const describe = (m: MeasureDef) =>
    m.formula ? `= ${m.formula}` : `${m.agg}(${m.expr ?? m.column ?? "rows"})${m.filter ? ` where ${m.filter}` : ""}${m.approximate ? " (approximate)" : ""}`;
  return (
    <section aria-label="Cube">
      <dl className="facts">
        {cube.description && (
          <>
            <dt>Description</dt>
            <dd>{cube.description}</dd>
          </>
        )}
        <dt>Source</dt>
        <dd>
          <Link to={`/datasets/${enc(cube.source.dataset)}`}>{cube.source.dataset}</Link> {cube.source.version}
          {cube.source.built_version !== null ? `, built from version ${cube.source.built_version}` : ""}
        </dd>
        <dt>Rows</dt>
        <dd data-testid="cube-rows">
          {cube.rows.toLocaleString()} in {cube.chunks.toLocaleString()} chunks, {bytes(cube.memory_bytes)} in memory
        </dd>
        <dt>Built</dt>
        <dd>{when(cube.built_at)}</dd>
        <dt>Created</dt>
        <dd>
          {when(cube.created_at)} by {cube.owner}
        </dd>
      </dl>
      <h2>Dimensions</h2>
      <DataTable
        rows={cube.levels}
        rowKey={(g) => g.dimension}
        columns={[
          { title: "Dimension", render: (g) => g.dimension },
          { title: "Column", render: (g) => cube.dimensions.find((d) => d.name === g.dimension)?.column ?? "" },
          { title: "Levels, coarse to fine", render: (g) => g.levels.join(" › ") },
        ]}
      />
      <h2>Measures</h2>
      <DataTable
        rows={cube.measures}
        rowKey={(m) => m.name}
        columns={[
          { title: "Measure", render: (m) => m.name },
          { title: "Definition", render: (m) => <code>{describe(m)}</code> },
        ]}
      />
      <h2>Pre-aggregations</h2>
      <ErrorLine error={action.error} />
      <DataTable
        rows={cube.pre_aggregations}
        rowKey={(p) => p.name}
        empty="None: every query reads the base table."
        columns={[
          { title: "Name", render: (p) => p.name },
          { title: "Levels", render: (p) => p.dimensions.join(", ") },
          { title: "State", render: (p) => <StateBadge state={p.state} /> },
          { title: "Rows", render: (p) => (p.rows ?? 0).toLocaleString(), className: "num" },
          { title: "Built", render: (p) => when(p.built_at) },
          {
            title: "",
            render: (p) => (
              <Allowed permission="cubes:write">
                <button className="danger" aria-label={`Remove pre-aggregation ${p.name}`} disabled={action.busy} onClick={() => patch(declared.filter((d) => d.name !== p.name))}>
                  Remove
                </button>
              </Allowed>
            ),
          },
        ]}
      />
      <h3>Proposed from the query log</h3>
      <ErrorLine error={proposals.error} />
      <DataTable
        rows={proposals.data?.proposals ?? []}
        rowKey={(p) => p.name}
        empty={proposals.loading ? "Loading…" : "No proposals: the declared pre-aggregations answer the queries asked so far."}
        columns={[
          { title: "Name", render: (p) => p.name },
          { title: "Levels", render: (p) => p.dimensions.join(", ") },
          { title: "Queries", render: (p) => p.queries.toLocaleString(), className: "num" },
          { title: "Last asked", render: (p) => when(p.last_used) },
          {
            title: "",
            render: (p) => (
              <Allowed permission="cubes:write">
                <button
                  className="secondary"
                  aria-label={`Add pre-aggregation ${p.name}`}
                  disabled={action.busy || declared.some((d) => d.name === p.name)}
                  onClick={() => patch([...declared, { name: p.name, dimensions: p.dimensions }])}
                >
                  Add
                </button>
              </Allowed>
            ),
          },
        ]}
      />
    </section>
  );
}

const TABS = ["Explore", "SQL", "Anomalies", "Explain change", "Cube"] as const;
type Tab = (typeof TABS)[number];

export function CubePage() {
  const { name = "" } = useParams();
  const path = `/api/v1/cubes/${enc(name)}`;
  const [building, setBuilding] = useState(true);
  const c = useApi<CubeInfo>(path, building ? 1000 : 10000);
  const cube = c.data;
  useEffect(() => setBuilding(!cube || cube.state === "building"), [cube?.state, cube === null]);
  const levels = useMemo(() => (cube ? levelsOf(cube) : new Map<string, LevelInfo>()), [cube]);
  const [tab, setTab] = useState<Tab>("Explore");
  const [query, setQuery] = useState<Query>({ measures: [], dimensions: [], filters: [], order: [], limit: 100, totals: "none" });
  const [chart, setChart] = useState<Chart>("table");
  const [drillPath, setDrillPath] = useState<Step[]>([]);
  const action = useAction();
  const navigate = useNavigate();
  const refresh = () => void action.run(() => api("POST", `${path}/refresh`, {}), c.reload);
  const remove = () => void action.run(() => api("DELETE", path), () => navigate("/cubes"));
  let body: ReactNode = null;
  if (cube) {
    if (tab === "Explore") body = (
        <Explore
          cube={cube}
          levels={levels}
          query={query}
          setQuery={setQuery}
          chart={chart}
          setChart={setChart}
          path={drillPath}
          setPath={setDrillPath}
        />
      );
    else if (tab === "SQL")
      body = (
        <SqlPanel
          cube={cube}
          levels={levels}
          open={(q) => {
            setDrillPath([]);
            setQuery(tidy(q, levels));
            setTab("Explore");
          }}
        />
      );
    else if (tab === "Anomalies") body = <AnomaliesPanel cube={cube} />;
    else if (tab === "Explain change") body = <ExplainPanel cube={cube} />;
    else body = <Facts cube={cube} changed={c.reload} />;
  }
  return (
    <>
      <PageHeader title={`Cube ${name}`}>
        <Allowed permission="cubes:write">
          <button className="secondary" onClick={refresh} disabled={action.busy}>
            Refresh
          </button>
          <button className="danger" onClick={remove} disabled={action.busy}>
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={c.error ?? action.error} />
      {cube && (
        <>
          <p className="muted">
            <span data-testid="cube-state">
              <StateBadge state={cube.state} />
            </span>{" "}
            {cube.error ? <span className="error">{cube.error} </span> : null}
            {cube.rows.toLocaleString()} rows of <Link to={`/datasets/${enc(cube.source.dataset)}`}>{cube.source.dataset}</Link>
            {cube.source.built_version !== null ? ` version ${cube.source.built_version}` : ""}, built {when(cube.built_at)}
          </p>
          <div className="toolbar" role="tablist">
            {TABS.map((t) => (
              <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "" : "secondary"} onClick={() => setTab(t)}>
                {t}
              </button>
            ))}
          </div>
          {body}
        </>
      )}
    </>
  );
}
