// Experiment tracking: the experiments (with a create form), an experiment's runs table (filter
// in the search language, sort by any column, choose the columns, pick runs to compare), a
// run's page (params, metric charts over steps, system metrics over time, artifacts, lineage)
// and the comparison of runs (params side by side, metric curves overlaid, parallel
// coordinates of params against a metric).
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { api, download, enc, get } from "../api";
import { useAction, useApi } from "../hooks";
import { Chart } from "../components/Chart";
import { ParallelCoordinates } from "../components/ParallelCoordinates";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, bytes, when } from "../components/ui";

interface Experiment {
  id: number;
  name: string;
  description: string;
  owner: string;
  run_count: number;
  created_at: string;
  updated_at: string;
}

interface Metric {
  value: number;
  step: number;
  timestamp: number;
  min: number;
  max: number;
  count: number;
}

interface Link_ {
  dataset?: string;
  model?: string;
  version: number;
}

interface Run {
  id: number;
  experiment: string;
  name: string;
  status: string;
  owner: string;
  description: string;
  start_time: string;
  end_time: string | null;
  duration_ms: number | null;
  params: Record<string, string>;
  tags: Record<string, string>;
  metrics: Record<string, Metric>;
  inputs?: Link_[];
  outputs?: Link_[];
  artifact_count?: number;
}

interface Point {
  step: number;
  value: number;
  timestamp: number;
}

interface Comparison {
  runs: { id: number; name: string; experiment: string; status: string }[];
  params: { key: string; values: (string | null)[]; differs: boolean }[];
  metrics: { key: string; goal: string; last: (number | null)[]; best: (number | null)[]; best_run: number | null }[];
}

const PALETTE = ["#2f6fde", "#e0662f", "#3a9a4a", "#9b4fd1", "#c23b3b", "#1f9aa8", "#b58a16", "#6d6d6d", "#d94f9a", "#4f5fd9"];
const SYSTEM = "system/";

const num = (v: number | null | undefined): string =>
  v === null || v === undefined ? "—" : Number.isInteger(v) ? String(v) : Number(v.toPrecision(5)).toString();

const metricPath = (run: number, key: string) => `/api/v1/runs/${run}/metrics/${key.split("/").map(enc).join("/")}`;

// A metric's whole history (pages of 25,000 points).
async function history(run: number, key: string): Promise<Point[]> {
  let out: Point[] = [];
  let token = "";
  for (;;) {
    const page = await get<{ metrics: Point[]; next_page_token: string }>(`${metricPath(run, key)}?page_size=25000&page_token=${token}`);
    out = out.concat(page.metrics);
    token = page.next_page_token;
    if (!token) return out;
  }
}

// Series aligned on the union of their x values, as uPlot wants them.
function align(series: Point[][], x: (p: Point) => number): (number | null)[][] {
  const xs = [...new Set(series.flatMap((s) => s.map(x)))].sort((a, b) => a - b);
  const index = new Map(xs.map((v, i) => [v, i]));
  return [
    xs,
    ...series.map((s) => {
      const row: (number | null)[] = new Array(xs.length).fill(null);
      for (const p of s) row[index.get(x(p))!] = p.value;
      return row;
    }),
  ];
}

export function ExperimentsPage() {
  const list = useApi<{ experiments: Experiment[] }>("/api/v1/experiments?page_size=1000");
  return (
    <>
      <PageHeader title="Experiments">
        <Allowed permission="experiments:write">
          <CreateExperiment />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.experiments ?? []}
        rowKey={(e) => e.name}
        empty={list.loading ? "Loading…" : "No experiments yet: create one, or start a run from the SDK or the CLI."}
        columns={[
          { title: "Name", render: (e) => <Link to={`/experiments/${enc(e.name)}`}>{e.name}</Link> },
          { title: "Runs", render: (e) => e.run_count },
          { title: "Description", render: (e) => e.description },
          { title: "Owner", render: (e) => e.owner },
          { title: "Updated", render: (e) => when(e.updated_at) },
        ]}
      />
    </>
  );
}

function CreateExperiment() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const action = useAction();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New experiment</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(() => api("POST", "/api/v1/experiments", { name, description }), () => navigate(`/experiments/${enc(name)}`));
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label="Name">
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
      </Field>
      <Field label="Description">
        <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <FormButtons submit="Create" disabled={action.busy} onCancel={() => setOpen(false)} />
      <ErrorLine error={action.error} />
    </form>
  );
}

// The value of a column ("params.lr", "metrics.accuracy", "tags.team") on a run.
function cell(r: Run, column: string): string {
  const dot = column.indexOf(".");
  const group = column.slice(0, dot);
  const key = column.slice(dot + 1);
  if (group === "metrics") return num(r.metrics[key]?.value);
  if (group === "params") return r.params[key] ?? "—";
  if (group === "tags") return r.tags[key] ?? "—";
  return "—";
}

export function ExperimentPage() {
  const { name = "" } = useParams();
  const navigate = useNavigate();
  const [draft, setDraft] = useState("");
  const [filter, setFilter] = useState("");
  const [order, setOrder] = useState<{ by: string; asc: boolean }>({ by: "start_time", asc: false });
  const [chosen, setChosen] = useState<string[] | null>(null);
  const [picked, setPicked] = useState<number[]>([]);
  const experiment = useApi<Experiment>(`/api/v1/experiments/${enc(name)}`);
  const orderBy = `${order.by.includes(".") ? order.by.replace(/\.(.*)$/, (_m, k: string) => `.\`${k}\``) : order.by} ${order.asc ? "asc" : "desc"}`;
  const runs = useApi<{ runs: Run[] }>(
    `/api/v1/runs?experiment=${enc(name)}&page_size=500&filter=${enc(filter)}&order_by=${enc(orderBy)}`,
    5000,
  );
  const rows = runs.data?.runs ?? [];
  // Every column the runs on the page could show; by default their metrics and the params
  // that differ between them.
  const available = useMemo(() => {
    const params = new Set<string>();
    const metrics = new Set<string>();
    const tags = new Set<string>();
    for (const r of rows) {
      Object.keys(r.params).forEach((k) => params.add(k));
      Object.keys(r.metrics).forEach((k) => !k.startsWith(SYSTEM) && metrics.add(k));
      Object.keys(r.tags).forEach((k) => tags.add(k));
    }
    return [...[...metrics].sort().map((k) => `metrics.${k}`), ...[...params].sort().map((k) => `params.${k}`), ...[...tags].sort().map((k) => `tags.${k}`)];
  }, [rows]);
  const differing = available.filter((c) => c.startsWith("metrics.") || new Set(rows.map((r) => cell(r, c))).size > 1);
  const columns = chosen ?? differing.slice(0, 10);
  const sortBy = (column: string) => setOrder((o) => ({ by: column, asc: o.by === column ? !o.asc : false }));
  const arrow = (column: string) => (order.by === column ? (order.asc ? " ▲" : " ▼") : "");
  const toggle = (id: number) => setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p, id]));
  const header = (title: string, column: string | null) => (
    <th key={title}>{column ? <button className="link" onClick={() => sortBy(column)}>{title + arrow(column)}</button> : title}</th>
  );
  return (
    <>
      <PageHeader title={`Experiment ${name}`}>
        <button disabled={picked.length < 2} onClick={() => navigate(`/runs/compare?ids=${picked.join(",")}`)}>
          Compare {picked.length || ""} runs
        </button>
      </PageHeader>
      <ErrorLine error={experiment.error} />
      {experiment.data && <p className="muted">{experiment.data.description || "No description."} {experiment.data.run_count} runs.</p>}
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter(draft);
        }}
      >
        <Field label="Filter">
          <input
            name="filter"
            value={draft}
            placeholder="params.lr = '0.01' AND metrics.accuracy > 0.9"
            onChange={(e) => setDraft(e.target.value)}
            size={60}
          />
        </Field>
        <button type="submit">Search</button>
      </form>
      <details className="columns-picker">
        <summary>Columns</summary>
        {available.map((c) => (
          <label key={c} className="check">
            <input
              type="checkbox"
              checked={columns.includes(c)}
              onChange={() => setChosen(columns.includes(c) ? columns.filter((x) => x !== c) : [...columns, c])}
            />
            {c}
          </label>
        ))}
      </details>
      <ErrorLine error={runs.error} />
      {rows.length === 0 ? (
        <p className="muted">{runs.loading ? "Loading…" : filter ? "No run matches the filter." : "No runs yet."}</p>
      ) : (
        <div className="table-wrap">
          <table aria-label="Runs">
            <thead>
              <tr>
                <th />
                {header("Run", "name")}
                {header("Status", "status")}
                {header("Started", "start_time")}
                {header("Duration", null)}
                {columns.map((c) => header(c, c.startsWith("tags.") ? null : c))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <td>
                    <input type="checkbox" aria-label={`Pick ${r.name}`} checked={picked.includes(r.id)} onChange={() => toggle(r.id)} />
                  </td>
                  <td>
                    <Link to={`/runs/${r.id}`}>{r.name}</Link>
                  </td>
                  <td>
                    <StateBadge state={r.status} />
                  </td>
                  <td>{when(r.start_time)}</td>
                  <td>{r.duration_ms === null ? "—" : `${(r.duration_ms / 1000).toFixed(1)} s`}</td>
                  {columns.map((c) => (
                    <td key={c} className="num">
                      {cell(r, c)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function MetricCharts({ run, keys, system }: { run: number; keys: string[]; system: boolean }) {
  const [data, setData] = useState<Record<string, Point[]>>({});
  const [error, setError] = useState("");
  useEffect(() => {
    let live = true;
    Promise.all(keys.map(async (k) => [k, await history(run, k)] as const))
      .then((all) => live && setData(Object.fromEntries(all)))
      .catch((e) => live && setError(String(e)));
    return () => {
      live = false;
    };
  }, [run, keys.join("|")]);
  return (
    <>
      <ErrorLine error={error} />
      <div className="charts">
        {keys
          .filter((k) => data[k])
          .map((k) => (
            <Chart
              key={k}
              title={k}
              steps={!system}
              series={[{ label: k, color: PALETTE[0] }]}
              data={align([data[k]], system ? (p) => p.timestamp / 1000 : (p) => p.step)}
            />
          ))}
      </div>
    </>
  );
}

function linkTo(l: Link_): string {
  return l.dataset ? `/datasets/${enc(l.dataset)}/versions/${l.version}` : `/models/${enc(l.model!)}/versions/${l.version}`;
}

export function RunPage() {
  const { id = "" } = useParams();
  const run = useApi<Run>(`/api/v1/runs/${enc(id)}`, 5000);
  const artifacts = useApi<{ artifacts: { path: string; size: number; digest: string; created_at: string }[] }>(
    `/api/v1/runs/${enc(id)}/artifacts`,
  );
  const action = useAction();
  const navigate = useNavigate();
  const r = run.data;
  if (!r) return <ErrorLine error={run.error} />;
  const keys = Object.keys(r.metrics).sort();
  const trained = keys.filter((k) => !k.startsWith(SYSTEM));
  const system = keys.filter((k) => k.startsWith(SYSTEM));
  const remove = () => {
    if (!window.confirm(`Delete run ${r.name} and everything it logged?`)) return;
    void action.run(() => api("DELETE", `/api/v1/runs/${r.id}`), () => navigate(`/experiments/${enc(r.experiment)}`));
  };
  return (
    <>
      <PageHeader title={`Run ${r.name}`}>
        <Allowed permission="experiments:write">
          <button className="danger" onClick={remove} disabled={action.busy}>
            Delete run
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={action.error} />
      <p>
        <StateBadge state={r.status} /> in <Link to={`/experiments/${enc(r.experiment)}`}>{r.experiment}</Link> by {r.owner}, started{" "}
        {when(r.start_time)}
        {r.end_time ? `, ended ${when(r.end_time)}` : ""}. {r.description}
      </p>
      <div className="two-columns">
        <section>
          <h2>Params</h2>
          <DataTable
            rows={Object.entries(r.params)}
            rowKey={([k]) => k}
            empty="No params."
            columns={[
              { title: "Param", render: ([k]) => k },
              { title: "Value", render: ([, v]) => v },
            ]}
          />
          <h2>Tags</h2>
          <DataTable
            rows={Object.entries(r.tags)}
            rowKey={([k]) => k}
            empty="No tags."
            columns={[
              { title: "Tag", render: ([k]) => k },
              { title: "Value", render: ([, v]) => v },
            ]}
          />
        </section>
        <section>
          <h2>Metrics</h2>
          <DataTable
            rows={trained}
            rowKey={(k) => k}
            empty="No metrics."
            columns={[
              { title: "Metric", render: (k) => k },
              { title: "Last", render: (k) => num(r.metrics[k].value), className: "num" },
              { title: "Step", render: (k) => r.metrics[k].step, className: "num" },
              { title: "Min", render: (k) => num(r.metrics[k].min), className: "num" },
              { title: "Max", render: (k) => num(r.metrics[k].max), className: "num" },
              { title: "Points", render: (k) => r.metrics[k].count, className: "num" },
            ]}
          />
          <h2>Lineage</h2>
          <ul aria-label="Lineage">
            {(r.inputs ?? []).map((l) => (
              <li key={`in-${l.dataset ?? l.model}-${l.version}`}>
                read <Link to={linkTo(l)}>{`${l.dataset ?? l.model} v${l.version}`}</Link>
              </li>
            ))}
            {(r.outputs ?? []).map((l) => (
              <li key={`out-${l.dataset ?? l.model}-${l.version}`}>
                produced <Link to={linkTo(l)}>{`${l.dataset ?? l.model} v${l.version}`}</Link>
              </li>
            ))}
            {(r.inputs ?? []).length + (r.outputs ?? []).length === 0 && <li className="muted">No inputs or outputs recorded.</li>}
          </ul>
        </section>
      </div>
      {trained.length > 0 && (
        <>
          <h2>Metric charts</h2>
          <MetricCharts run={r.id} keys={trained} system={false} />
        </>
      )}
      {system.length > 0 && (
        <>
          <h2>System metrics</h2>
          <MetricCharts run={r.id} keys={system} system />
        </>
      )}
      <h2>Artifacts</h2>
      <ErrorLine error={artifacts.error} />
      <DataTable
        rows={artifacts.data?.artifacts ?? []}
        rowKey={(a) => a.path}
        empty="No artifacts."
        columns={[
          {
            title: "Path",
            render: (a) => (
              <button className="link" onClick={() => void download(`/api/v1/runs/${r.id}/artifacts/${a.path.split("/").map(enc).join("/")}`, a.path.split("/").pop()!)}>
                {a.path}
              </button>
            ),
          },
          { title: "Size", render: (a) => bytes(a.size) },
          { title: "Digest", render: (a) => <code>{a.digest.slice(0, 19)}…</code> },
          { title: "Stored", render: (a) => when(a.created_at) },
        ]}
      />
    </>
  );
}

export function CompareRunsPage() {
  const [params] = useSearchParams();
  const ids = (params.get("ids") ?? "").split(",").filter(Boolean).map(Number);
  const [comparison, setComparison] = useState<Comparison | null>(null);
  const [curves, setCurves] = useState<Record<string, Point[][]>>({});
  const [error, setError] = useState("");
  const [against, setAgainst] = useState("");
  useEffect(() => {
    let live = true;
    api<Comparison>("POST", "/api/v1/runs/compare", { runs: ids })
      .then(async (c) => {
        if (!live) return;
        setComparison(c);
        const keys = c.metrics.map((m) => m.key).filter((k) => !k.startsWith(SYSTEM));
        setAgainst((a) => a || keys[0] || "");
        const all = await Promise.all(
          keys.map(async (k) => [k, await Promise.all(c.runs.map((r, i) => (c.metrics.find((m) => m.key === k)!.last[i] === null ? [] : history(r.id, k))))] as const),
        );
        if (live) setCurves(Object.fromEntries(all));
      })
      .catch((e) => live && setError(String(e)));
    return () => {
      live = false;
    };
  }, [params.get("ids")]);
  if (!comparison) return <ErrorLine error={error} />;
  const c = comparison;
  const labels = c.runs.map((r) => `${r.name} (${r.id})`);
  const metric = c.metrics.find((m) => m.key === against);
  const dims = [
    ...c.params.filter((p) => p.differs).map((p) => ({ name: p.key, values: p.values })),
    ...(metric ? [{ name: metric.key, values: metric.last }] : []),
  ];
  return (
    <>
      <PageHeader title={`Compare ${c.runs.length} runs`} />
      <ErrorLine error={error} />
      <div className="table-wrap">
        <table aria-label="Comparison">
          <thead>
            <tr>
              <th />
              {c.runs.map((r) => (
                <th key={r.id}>
                  <Link to={`/runs/${r.id}`}>{r.name}</Link> <StateBadge state={r.status} />
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {c.params.map((p) => (
              <tr key={`p-${p.key}`} className={p.differs ? "differs" : ""}>
                <th scope="row">
                  {p.key}
                  {p.differs ? " (differs)" : ""}
                </th>
                {p.values.map((v, i) => (
                  <td key={i}>{v ?? "—"}</td>
                ))}
              </tr>
            ))}
            {c.metrics
              .filter((m) => !m.key.startsWith(SYSTEM))
              .map((m) => (
                <tr key={`m-${m.key}`}>
                  <th scope="row">
                    {m.key} (last / {m.goal})
                  </th>
                  {m.last.map((v, i) => (
                    <td key={i} className={m.best_run === c.runs[i].id ? "best" : undefined}>
                      {num(v)} / {num(m.best[i])}
                      {m.best_run === c.runs[i].id ? " ★" : ""}
                    </td>
                  ))}
                </tr>
              ))}
          </tbody>
        </table>
      </div>
      <h2>Metric curves</h2>
      <div className="charts">
        {Object.entries(curves).map(([k, series]) => (
          <Chart
            key={k}
            title={k}
            steps
            series={labels.map((l, i) => ({ label: l, color: PALETTE[i % PALETTE.length] }))}
            data={align(series, (p) => p.step)}
          />
        ))}
      </div>
      <h2>Params against a metric</h2>
      <Field label="Metric">
        <select value={against} onChange={(e) => setAgainst(e.target.value)}>
          {c.metrics
            .filter((m) => !m.key.startsWith(SYSTEM))
            .map((m) => (
              <option key={m.key}>{m.key}</option>
            ))}
        </select>
      </Field>
      <ParallelCoordinates dimensions={dims} labels={labels} />
    </>
  );
}
