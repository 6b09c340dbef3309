// Data mining (module analysis): mining jobs on table dataset versions. The list, newest first,
// filtered by state and kind (read again every 2 s while a job on it is queued or running), and
// the form for a new job: its kind, the dataset and version, and the kind's parameters with
// their defaults filled in (the columns picked from the version's schema; numeric ones for the
// clusterings and outliers). A job's page: its state and phase (read every second until it
// ends), Cancel and Delete, its parameters, timing and error, and its result: a clustering's
// points on their two principal axes coloured by cluster and the table of clusters;
// association rules with filters (support, confidence, lift, items or their labels) and sorting,
// and the frequent itemsets; sequential patterns with filters; outlier scores as a histogram
// with the threshold marked, and the top rows.
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, when } from "../components/ui";
import { ClusterScatter, ScoreHistogram, clusterColor, type Projection } from "../components/MiningCharts";

type Kind = "association_rules" | "kmeans" | "dbscan" | "sequences" | "outliers";

interface MiningJob {
  id: number;
  kind: Kind;
  state: string;
  phase?: string;
  source: { dataset: string; version: number };
  params: Record<string, unknown>;
  owner: string;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  duration_ms?: number;
  error?: string;
  result?: unknown;
}

interface Timing {
  read: number;
  compute: number;
}

interface Itemset {
  items: string[];
  count: number;
  support: number;
}

interface Rule {
  antecedent: string[];
  consequent: string[];
  count: number;
  support: number;
  confidence: number;
  lift: number;
}

interface RulesResult {
  rows: number;
  skipped_rows: number;
  transactions: number;
  items: number;
  itemset_count: number;
  rule_count: number;
  itemsets: Itemset[];
  rules: Rule[];
  labels?: Record<string, string>;
  timing_ms: Timing;
}

interface ClustersResult {
  rows: number;
  skipped_rows: number;
  columns: string[];
  k?: number;
  inertia?: number;
  iterations?: number;
  centroids?: number[][];
  clusters?: number;
  noise?: number;
  core?: number;
  sizes: number[];
  silhouette: number | null;
  silhouette_sample?: number;
  projection: Projection | null;
  timing_ms: Timing;
}

interface SequencesResult {
  rows: number;
  skipped_rows: number;
  sequences: number;
  items: number;
  pattern_count: number;
  patterns: Itemset[];
  timing_ms: Timing;
}

interface OutliersResult {
  rows: number;
  skipped_rows: number;
  columns: string[];
  threshold: number;
  outliers: number;
  top: { row: number; score: number; values: Record<string, number>; id?: string }[];
  histogram: number[];
  timing_ms: Timing;
}

interface DatasetInfo {
  name: string;
  kind: "table" | "files";
  latest_version: number | null;
}

interface VersionInfo {
  dataset: string;
  version: number;
  status: string;
  row_count: number;
  schema: { name: string; type: string }[];
}

// ---- kinds and their parameters ----

type ParamType = "int" | "number" | "bool" | "choice" | "column" | "columns";

interface ParamSpec {
  name: string;
  type: ParamType;
  def?: number | boolean | string; // absent: required (a column param with def "" is optional)
  hint?: string;
  choices?: string[];
}

const KINDS: Record<Kind, { label: string; about: string; params: ParamSpec[] }> = {
  association_rules: {
    label: "Association rules",
    about: "Frequent itemsets of the items bought together (FP-growth) and the rules between them.",
    params: [
      { name: "transaction_column", type: "column", hint: "required" },
      { name: "item_column", type: "column", hint: "required" },
      { name: "label_column", type: "column", def: "", hint: "optional" },
      { name: "min_support", type: "number", def: 0.01 },
      { name: "min_confidence", type: "number", def: 0.5 },
      { name: "min_lift", type: "number", def: 0 },
      { name: "max_length", type: "int", def: 0, hint: "0: any" },
      { name: "max_itemsets", type: "int", def: 10000 },
      { name: "max_rules", type: "int", def: 10000 },
    ],
  },
  kmeans: {
    label: "k-means",
    about: "k clusters of the rows' numeric columns (k-means++ or random starts, optionally mini-batch).",
    params: [
      { name: "k", type: "int", def: 8 },
      { name: "columns", type: "columns" },
      { name: "seed", type: "int", def: 0 },
      { name: "init", type: "choice", def: "k-means++", choices: ["k-means++", "random"] },
      { name: "n_init", type: "int", def: 1 },
      { name: "max_iter", type: "int", def: 300 },
      { name: "tol", type: "number", def: 1e-4 },
      { name: "mini_batch", type: "bool", def: false },
      { name: "batch_size", type: "int", def: 1024 },
      { name: "standardize", type: "bool", def: false },
      { name: "silhouette_sample", type: "int", def: 5000, hint: "0: none" },
      { name: "projection_sample", type: "int", def: 2000 },
    ],
  },
  dbscan: {
    label: "DBSCAN",
    about: "Clusters of dense regions of the rows' numeric columns, and the points in none (noise).",
    params: [
      { name: "eps", type: "number", hint: "required, > 0" },
      { name: "min_samples", type: "int", def: 5 },
      { name: "columns", type: "columns" },
      { name: "standardize", type: "bool", def: false },
      { name: "seed", type: "int", def: 0 },
      { name: "silhouette_sample", type: "int", def: 5000, hint: "0: none" },
      { name: "projection_sample", type: "int", def: 2000 },
    ],
  },
  sequences: {
    label: "Sequential patterns",
    about: "Items that follow each other in the sequences (PrefixSpan), in the order column's order.",
    params: [
      { name: "sequence_column", type: "column", hint: "required" },
      { name: "item_column", type: "column", hint: "required" },
      { name: "order_column", type: "column", def: "", hint: "optional: the rows' order" },
      { name: "min_support", type: "number", def: 0.01 },
      { name: "max_length", type: "int", def: 5 },
      { name: "contiguous", type: "bool", def: false },
      { name: "max_patterns", type: "int", def: 10000 },
    ],
  },
  outliers: {
    label: "Outliers",
    about: "An isolation forest's score for each row over its numeric columns; the highest are the outliers.",
    params: [
      { name: "columns", type: "columns" },
      { name: "trees", type: "int", def: 100 },
      { name: "max_samples", type: "int", def: 256 },
      { name: "seed", type: "int", def: 0 },
      { name: "contamination", type: "number", def: 0, hint: "0: auto, else ≤ 0.5" },
      { name: "id_column", type: "column", def: "", hint: "optional" },
      { name: "top", type: "int", def: 100 },
    ],
  },
};
const KIND_NAMES = Object.keys(KINDS) as Kind[];
const FINAL = ["succeeded", "failed", "cancelled"];
const STATES = ["", "queued", "running", "succeeded", "failed", "cancelled"];
const NUMERIC = ["integer", "float"];

type ParamValue = string | boolean | string[];

function defaults(kind: Kind): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const p of KINDS[kind].params) {
    if (p.type === "bool") out[p.name] = p.def === true;
    else if (p.type === "columns") out[p.name] = [];
    else out[p.name] = p.def === undefined ? "" : String(p.def);
  }
  return out;
}

// The params as the API takes them: numbers as numbers (anything else as typed, for the API to
// name), empty fields left out (the API fills their defaults, or says that they are required).
function paramsOf(kind: Kind, values: Record<string, ParamValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of KINDS[kind].params) {
    const v = values[p.name];
    if (p.type === "int" || p.type === "number") {
      const t = String(v ?? "").trim();
      if (t === "") continue;
      const n = Number(t);
      out[p.name] = Number.isFinite(n) ? n : t;
    } else if (p.type === "bool" || p.type === "columns") {
      out[p.name] = v;
    } else if (v !== "") {
      out[p.name] = v;
    }
  }
  return out;
}

// ---- formatting ----

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });
const fmt = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : number.format(v));
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n < 1000) return `${n} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(1)} s`;
  const s = Math.round(n / 1000);
  return s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function paramText(name: string, v: unknown): string {
  if (Array.isArray(v)) return v.length ? v.join(", ") : name === "columns" ? "[] (every numeric column)" : "[]";
  if (typeof v === "string") return v === "" ? '""' : v;
  return JSON.stringify(v);
}

const kindLabel = (k: string) => KINDS[k as Kind]?.label ?? k;

// ---- the list ----

export function MiningJobsPage() {
  const [state, setState] = useState("");
  const [kind, setKind] = useState("");
  const [open, setOpen] = useState(false);
  const [live, setLive] = useState(false);
  const query = new URLSearchParams({ page_size: "200" });
  if (state) query.set("state", state);
  if (kind) query.set("kind", kind);
  const jobs = useApi<{ jobs: MiningJob[]; next_page_token?: string }>(`/api/v1/analysis/mining?${query}`, live ? 2000 : 0);
  const rows = jobs.data?.jobs ?? [];
  useEffect(() => setLive((jobs.data?.jobs ?? []).some((j) => !FINAL.includes(j.state))), [jobs.data]);
  return (
    <>
      <PageHeader title="Analysis">
        <Allowed permission="analysis:write">{!open && <button onClick={() => setOpen(true)}>New job</button>}</Allowed>
      </PageHeader>
      <p className="muted">
        Mining jobs on table dataset versions: association rules, k-means and DBSCAN clusters, sequential patterns and outliers. (Cubes
        for slicing measures by dimensions are under <Link to="/cubes">Cubes</Link>.)
      </p>
      {open && <NewJob onCancel={() => setOpen(false)} />}
      <div className="toolbar">
        <Field label="State">
          <select aria-label="State" value={state} onChange={(e) => setState(e.target.value)}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s || "all"}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Kind">
          <select aria-label="Kind" value={kind} onChange={(e) => setKind(e.target.value)}>
            <option value="">all</option>
            {KIND_NAMES.map((k) => (
              <option key={k} value={k}>
                {KINDS[k].label}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorLine error={jobs.error} />
      <section aria-label="Mining jobs">
        <DataTable
          rows={rows}
          rowKey={(j) => String(j.id)}
          empty={jobs.loading && !jobs.data ? "Loading…" : state || kind ? "No mining job matches the filters." : "No mining jobs yet: start one."}
          columns={[
            { title: "ID", render: (j) => <Link to={`/analysis/mining/${j.id}`}>{j.id}</Link> },
            { title: "Kind", render: (j) => kindLabel(j.kind) },
            {
              title: "Dataset",
              render: (j) => (
                <Link to={`/datasets/${enc(j.source.dataset)}/versions/${j.source.version}`}>
                  {j.source.dataset} v{j.source.version}
                </Link>
              ),
            },
            {
              title: "State",
              render: (j) => (
                <>
                  <StateBadge state={j.state} />
                  {j.phase && j.state === "running" && <span className="muted"> {j.phase}</span>}
                </>
              ),
            },
            { title: "Owner", render: (j) => j.owner },
            { title: "Created", render: (j) => when(j.created_at) },
            { title: "Duration", render: (j) => ms(j.duration_ms), className: "num" },
          ]}
        />
      </section>
      {jobs.data?.next_page_token && <p className="muted">The newest 200 are shown.</p>}
    </>
  );
}

function ParamInput({
  p,
  value,
  onChange,
  columns,
}: {
  p: ParamSpec;
  value: ParamValue;
  onChange: (v: ParamValue) => void;
  columns: { name: string; type: string }[];
}) {
  const label = p.hint ? `${p.name} (${p.hint})` : p.name;
  if (p.type === "bool") {
    return (
      <label className="check">
        <input type="checkbox" name={p.name} checked={value === true} onChange={(e) => onChange(e.target.checked)} />
        {p.name}
      </label>
    );
  }
  if (p.type === "choice") {
    return (
      <Field label={label}>
        <select name={p.name} aria-label={label} value={String(value)} onChange={(e) => onChange(e.target.value)}>
          {(p.choices ?? []).map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </Field>
    );
  }
  if (p.type === "column") {
    return (
      <Field label={label}>
        <select name={p.name} aria-label={label} value={String(value)} onChange={(e) => onChange(e.target.value)}>
          <option value="">{p.def === undefined ? "(choose a column)" : "(none)"}</option>
          {columns.map((c) => (
            <option key={c.name} value={c.name}>
              {c.name} ({c.type})
            </option>
          ))}
        </select>
      </Field>
    );
  }
  if (p.type === "columns") {
    const numeric = columns.filter((c) => NUMERIC.includes(c.type));
    return (
      <Field label="columns (none picked: every numeric one)">
        <select
          name="columns"
          aria-label="columns (none picked: every numeric one)"
          multiple
          size={Math.min(6, Math.max(3, numeric.length))}
          value={value as string[]}
          onChange={(e) => onChange([...e.target.selectedOptions].map((o) => o.value))}
        >
          {numeric.map((c) => (
            <option key={c.name} value={c.name}>
              {c.name} ({c.type})
            </option>
          ))}
        </select>
      </Field>
    );
  }
  return (
    <Field label={label}>
      <input
        type="number"
        name={p.name}
        step={p.type === "int" ? 1 : "any"}
        value={String(value)}
        placeholder={p.def === undefined ? "required" : String(p.def)}
        onChange={(e) => onChange(e.target.value)}
      />
    </Field>
  );
}

function NewJob({ onCancel }: { onCancel: () => void }) {
  const [kind, setKind] = useState<Kind>("association_rules");
  const [dataset, setDataset] = useState("");
  const [version, setVersion] = useState("latest");
  const [values, setValues] = useState<Record<string, ParamValue>>(() => defaults("association_rules"));
  const datasets = useApi<{ datasets: DatasetInfo[] }>("/api/v1/datasets?page_size=500");
  const versions = useApi<{ versions: VersionInfo[] }>(dataset ? `/api/v1/datasets/${enc(dataset)}/versions?page_size=200` : null);
  const picked = useApi<VersionInfo>(dataset ? `/api/v1/datasets/${enc(dataset)}/versions/${enc(version)}` : null);
  const action = useAction();
  const navigate = useNavigate();
  const tables = (datasets.data?.datasets ?? []).filter((d) => d.kind === "table");
  // The schema of the version picked (not the one picked before, while it loads).
  const current = picked.data && picked.data.dataset === dataset && (version === "latest" || String(picked.data.version) === version);
  const columns = current ? picked.data!.schema : [];
  const ready = (versions.data?.versions ?? []).filter((v) => v.dataset === dataset && v.status === "ready");
  const spec = KINDS[kind];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = {
      kind,
      source: { dataset, version: /^\d+$/.test(version) ? Number(version) : version },
      params: paramsOf(kind, values),
    };
    void action.run(async () => {
      const job = await api<MiningJob>("POST", "/api/v1/analysis/mining", body);
      navigate(`/analysis/mining/${job.id}`);
    });
  };
  return (
    <form className="card mining-form" onSubmit={submit} aria-label="New mining job" noValidate>
      <div className="row">
        <Field label="Kind">
          <select
            name="kind"
            aria-label="Kind"
            value={kind}
            onChange={(e) => {
              const k = e.target.value as Kind;
              setKind(k);
              setValues(defaults(k));
            }}
          >
            {KIND_NAMES.map((k) => (
              <option key={k} value={k}>
                {KINDS[k].label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Dataset">
          <select
            name="dataset"
            aria-label="Dataset"
            value={dataset}
            onChange={(e) => {
              setDataset(e.target.value);
              setVersion("latest");
              setValues(defaults(kind));
            }}
          >
            <option value="">(choose a table dataset)</option>
            {tables.map((d) => (
              <option key={d.name} value={d.name}>
                {d.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Version">
          <select name="version" aria-label="Version" value={version} onChange={(e) => setVersion(e.target.value)} disabled={!dataset}>
            <option value="latest">latest</option>
            {ready.map((v) => (
              <option key={v.version} value={String(v.version)}>
                {v.version} ({v.row_count.toLocaleString()} rows)
              </option>
            ))}
          </select>
        </Field>
      </div>
      <p className="muted">{spec.about}</p>
      {datasets.data && tables.length === 0 && (
        <p className="muted">
          No table datasets: upload one on the <Link to="/datasets">Datasets</Link> page.
        </p>
      )}
      {dataset && !current && !picked.error && <p className="muted">Reading the version's columns…</p>}
      <ErrorLine error={datasets.error ?? picked.error} />
      <fieldset className="mining-params-set" data-kind={kind}>
        <legend>Parameters</legend>
        <div className="mining-params">
          {spec.params.map((p) => (
            <ParamInput key={`${kind}-${p.name}`} p={p} value={values[p.name]} columns={columns} onChange={(v) => setValues((old) => ({ ...old, [p.name]: v }))} />
          ))}
        </div>
      </fieldset>
      <ErrorLine error={action.error} />
      <FormButtons submit="Start" disabled={action.busy || !dataset} onCancel={onCancel} />
    </form>
  );
}

// ---- a job ----

export function MiningJobPage() {
  const { id = "" } = useParams();
  const path = `/api/v1/analysis/mining/${enc(id)}`;
  const [live, setLive] = useState(true);
  const [gone, setGone] = useState(false); // being deleted: read it no more
  const [missing, setMissing] = useState(false); // 404: no such job, read it no more
  const job = useApi<MiningJob>(gone ? null : path, live && !gone && !missing ? 1000 : 0);
  const j = job.data;
  useEffect(() => {
    if (j) setLive(!FINAL.includes(j.state));
  }, [j]);
  useEffect(() => setMissing(job.error?.status === 404), [job.error]);
  const action = useAction();
  const navigate = useNavigate();
  if (!j) return <ErrorLine error={job.error} />;

  const ended = FINAL.includes(j.state);
  const cancel = () => void action.run(() => api("POST", `${path}/cancel`), job.reload);
  const remove = () => {
    if (!window.confirm(`Delete mining job ${j.id} and its result?`)) return;
    setGone(true);
    void action.run(() => api("DELETE", path), () => navigate("/analysis")).then((ok) => !ok && setGone(false));
  };
  const r = j.result as { rows?: number; skipped_rows?: number; timing_ms?: Timing } | undefined;
  return (
    <>
      <PageHeader title={`Mining job ${j.id}: ${kindLabel(j.kind)}`}>
        <Allowed permission="analysis:write">
          {!ended && (
            <button className="danger" onClick={cancel} disabled={action.busy}>
              Cancel
            </button>
          )}
          <button className="danger" onClick={remove} disabled={action.busy}>
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={job.error ?? action.error} />
      <dl className="facts" aria-label="Job">
        <dt>State</dt>
        <dd data-testid="mining-state">
          <StateBadge state={j.state} />
          {j.phase && !ended && <span className="muted" data-testid="mining-phase"> {j.phase}</span>}
        </dd>
        {j.error && (
          <>
            <dt>Error</dt>
            <dd className="error" data-testid="mining-error">
              {j.error}
            </dd>
          </>
        )}
        <dt>Source</dt>
        <dd>
          <Link to={`/datasets/${enc(j.source.dataset)}/versions/${j.source.version}`}>
            {j.source.dataset} v{j.source.version}
          </Link>
        </dd>
        <dt>Owner</dt>
        <dd>{j.owner}</dd>
        <dt>Created / started / finished</dt>
        <dd>
          {when(j.created_at)} / {when(j.started_at)} / {when(j.finished_at)}
        </dd>
        <dt>Duration</dt>
        <dd data-testid="mining-duration">{ms(j.duration_ms)}</dd>
        {r?.timing_ms && (
          <>
            <dt>Timing</dt>
            <dd>
              reading {ms(r.timing_ms.read)}, computing {ms(r.timing_ms.compute)}
            </dd>
          </>
        )}
        {r?.rows !== undefined && (
          <>
            <dt>Rows</dt>
            <dd>
              {r.rows.toLocaleString()} used{r.skipped_rows ? `, ${r.skipped_rows.toLocaleString()} skipped (a value missing)` : ""}
            </dd>
          </>
        )}
      </dl>
      <h2>Parameters</h2>
      <dl className="facts" aria-label="Parameters">
        {Object.entries(j.params).map(([k, v]) => (
          <ParamFact key={k} name={k} value={paramText(k, v)} />
        ))}
      </dl>
      {j.state === "succeeded" && j.result !== undefined && <Result job={j} />}
    </>
  );
}

function ParamFact({ name, value }: { name: string; value: string }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>
        <code>{value}</code>
      </dd>
    </>
  );
}

function Result({ job }: { job: MiningJob }) {
  switch (job.kind) {
    case "kmeans":
    case "dbscan":
      return <ClustersView kmeans={job.kind === "kmeans"} r={job.result as ClustersResult} />;
    case "association_rules":
      return <RulesView r={job.result as RulesResult} />;
    case "sequences":
      return <SequencesView r={job.result as SequencesResult} />;
    case "outliers":
      return <OutliersView r={job.result as OutliersResult} contamination={Number(job.params.contamination ?? 0)} />;
    default:
      return <pre>{JSON.stringify(job.result, null, 2)}</pre>;
  }
}

// ---- clusters ----

function Swatch({ cluster }: { cluster: number }) {
  const color = clusterColor(cluster);
  return (
    <svg className="mining-swatch" width="10" height="10" aria-hidden="true">
      <circle cx="5" cy="5" r="5" fill={color ?? undefined} className={color ? undefined : "mining-noise-swatch"} />
    </svg>
  );
}

function ClustersView({ kmeans, r }: { kmeans: boolean; r: ClustersResult }) {
  const total = r.sizes.reduce((a, b) => a + b, 0) + (r.noise ?? 0);
  const rows = r.sizes.map((size, c) => ({ cluster: c, size }));
  if (!kmeans && (r.noise ?? 0) > 0) rows.push({ cluster: -1, size: r.noise ?? 0 });
  return (
    <>
      <h2>Clusters</h2>
      <dl className="facts" aria-label="Clustering">
        <dt>Columns</dt>
        <dd>{r.columns.join(", ")}</dd>
        {kmeans ? (
          <>
            <dt>k</dt>
            <dd>{r.k}</dd>
            <dt>Inertia</dt>
            <dd data-testid="mining-inertia">{fmt(r.inertia)}</dd>
            <dt>Iterations</dt>
            <dd>{r.iterations}</dd>
          </>
        ) : (
          <>
            <dt>Clusters</dt>
            <dd>{r.clusters}</dd>
            <dt>Noise</dt>
            <dd>
              {(r.noise ?? 0).toLocaleString()} points ({total ? pct((r.noise ?? 0) / total) : "—"})
            </dd>
            <dt>Core points</dt>
            <dd>{(r.core ?? 0).toLocaleString()}</dd>
          </>
        )}
        <dt>Silhouette</dt>
        <dd data-testid="mining-silhouette">
          {r.silhouette === null ? "—" : fmt(r.silhouette)}
          {r.silhouette !== null && r.silhouette_sample ? <span className="muted"> (over {r.silhouette_sample.toLocaleString()} points)</span> : null}
        </dd>
      </dl>
      <h3>In two dimensions</h3>
      {r.projection ? (
        <>
          <ClusterScatter projection={r.projection} label="Clusters on the two principal axes" />
          <p className="muted">
            {r.projection.points.length.toLocaleString()} of {total.toLocaleString()} points on the data's two principal axes
            {kmeans ? "" : "; noise in grey"}.
          </p>
        </>
      ) : (
        <p className="muted">No projection (projection_sample was 0).</p>
      )}
      <div className="table-wrap">
        <table aria-label="Clusters">
          <thead>
            <tr>
              <th>Cluster</th>
              <th>Size</th>
              <th>Share</th>
              {kmeans && r.columns.map((c, i) => <th key={i}>{c}</th>)}
            </tr>
          </thead>
          <tbody>
            {rows.map((x) => (
              <tr key={x.cluster} data-cluster={x.cluster} data-size={x.size}>
                <td>
                  <Swatch cluster={x.cluster} />
                  {x.cluster < 0 ? "noise" : x.cluster}
                </td>
                <td className="num">{x.size.toLocaleString()}</td>
                <td className="num">{total ? pct(x.size / total) : "—"}</td>
                {kmeans &&
                  r.columns.map((_, i) => (
                    <td key={i} className="num">
                      {x.cluster >= 0 ? fmt(r.centroids?.[x.cluster]?.[i]) : ""}
                    </td>
                  ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {kmeans && <p className="muted">The centroids are in the columns' units{r.columns.length > 1 ? " (back from standardized ones when standardize is on)" : ""}.</p>}
    </>
  );
}

// ---- rules, itemsets, patterns ----

function Items({ items, labels, arrow }: { items: string[]; labels?: Record<string, string>; arrow?: boolean }) {
  return (
    <span className="mining-items">
      {items.map((i, k) => (
        <span key={k}>
          {arrow && k > 0 && <span className="muted mining-arrow">→</span>}
          <span className="tag" title={labels?.[i] || undefined}>
            {i}
            {labels?.[i] ? (
              <>
                {" "}
                <span className="muted">{labels[i]}</span>
              </>
            ) : null}
          </span>
        </span>
      ))}
    </span>
  );
}

// A number filter's value; null when empty or not a number.
function bound(text: string): number | null {
  if (text.trim() === "") return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

// Whether an item or its label holds the text (lowercased).
function matches(items: string[], text: string, labels?: Record<string, string>): boolean {
  if (!text) return true;
  return items.some((i) => i.toLowerCase().includes(text) || (labels?.[i] ?? "").toLowerCase().includes(text));
}

function NumberFilter({ label, value, onChange, step = "any" }: { label: string; value: string; onChange: (v: string) => void; step?: string }) {
  return (
    <Field label={label}>
      <input type="number" min={0} step={step} value={value} onChange={(e) => onChange(e.target.value)} />
    </Field>
  );
}

function More({ shown, total, more }: { shown: number; total: number; more: () => void }) {
  if (shown >= total) return null;
  return (
    <p className="muted">
      The first {shown.toLocaleString()} are listed.{" "}
      <button className="link" onClick={more}>
        Show {Math.min(500, total - shown).toLocaleString()} more
      </button>
    </p>
  );
}

type RuleKey = "support" | "confidence" | "lift" | "count";

function RulesView({ r }: { r: RulesResult }) {
  const [minSupport, setMinSupport] = useState("");
  const [minConfidence, setMinConfidence] = useState("");
  const [minLift, setMinLift] = useState("");
  const [text, setText] = useState("");
  const [order, setOrder] = useState<{ by: RuleKey; desc: boolean }>({ by: "lift", desc: true });
  const [limit, setLimit] = useState(500);
  const [setsLimit, setSetsLimit] = useState(500);
  const labels = r.labels;
  const q = text.trim().toLowerCase();
  const rules = useMemo(() => {
    const s = bound(minSupport);
    const c = bound(minConfidence);
    const l = bound(minLift);
    const kept = r.rules.filter(
      (x) =>
        (s === null || x.support >= s) &&
        (c === null || x.confidence >= c) &&
        (l === null || x.lift >= l) &&
        matches([...x.antecedent, ...x.consequent], q, labels),
    );
    const sign = order.desc ? -1 : 1;
    return kept.sort((a, b) => sign * (a[order.by] - b[order.by]));
  }, [r.rules, minSupport, minConfidence, minLift, q, order, labels]);
  const itemsets = useMemo(() => {
    const s = bound(minSupport);
    return r.itemsets.filter((x) => (s === null || x.support >= s) && matches(x.items, q, labels));
  }, [r.itemsets, minSupport, q, labels]);
  const sortBy = (by: RuleKey) => setOrder((o) => ({ by, desc: o.by === by ? !o.desc : true }));
  const header = (title: string, by: RuleKey) => (
    <th className="num" aria-sort={order.by === by ? (order.desc ? "descending" : "ascending") : undefined}>
      <button className="link" onClick={() => sortBy(by)}>
        {title}
        {order.by === by ? (order.desc ? " ▼" : " ▲") : ""}
      </button>
    </th>
  );
  return (
    <>
      <h2>Association rules</h2>
      <p className="muted">
        {r.transactions.toLocaleString()} transactions over {r.items.toLocaleString()} items: {r.itemset_count.toLocaleString()} frequent itemsets,{" "}
        {r.rule_count.toLocaleString()} rules
        {r.rule_count > r.rules.length ? ` (the ${r.rules.length.toLocaleString()} with the highest lift kept: max_rules)` : ""}.
      </p>
      <div className="mining-filters" role="search" aria-label="Rule filters">
        <NumberFilter label="Min support" value={minSupport} onChange={setMinSupport} />
        <NumberFilter label="Min confidence" value={minConfidence} onChange={setMinConfidence} />
        <NumberFilter label="Min lift" value={minLift} onChange={setMinLift} />
        <Field label={labels ? "Items or their labels" : "Items"}>
          <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="contains…" />
        </Field>
      </div>
      <p data-testid="rules-count">
        Showing {rules.length.toLocaleString()} of {r.rules.length.toLocaleString()} rules
      </p>
      {rules.length === 0 ? (
        <p className="muted">{r.rules.length ? "No rule matches the filters." : "No rules: lower min_support or min_confidence."}</p>
      ) : (
        <div className="table-wrap">
          <table aria-label="Rules">
            <thead>
              <tr>
                <th>If</th>
                <th>Then</th>
                {header("Count", "count")}
                {header("Support", "support")}
                {header("Confidence", "confidence")}
                {header("Lift", "lift")}
              </tr>
            </thead>
            <tbody>
              {rules.slice(0, limit).map((x, k) => (
                <tr
                  key={k}
                  data-antecedent={x.antecedent.join("|")}
                  data-consequent={x.consequent.join("|")}
                  data-support={x.support}
                  data-confidence={x.confidence}
                  data-lift={x.lift}
                >
                  <td>
                    <Items items={x.antecedent} labels={labels} />
                  </td>
                  <td>
                    <Items items={x.consequent} labels={labels} />
                  </td>
                  <td className="num">{x.count.toLocaleString()}</td>
                  <td className="num">{fmt(x.support)}</td>
                  <td className="num">{fmt(x.confidence)}</td>
                  <td className="num">{fmt(x.lift)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <More shown={Math.min(limit, rules.length)} total={rules.length} more={() => setLimit((n) => n + 500)} />

      <h2>Frequent itemsets</h2>
      <p data-testid="itemsets-count">
        Showing {itemsets.length.toLocaleString()} of {r.itemsets.length.toLocaleString()} itemsets
        {r.itemset_count > r.itemsets.length ? ` (the ${r.itemsets.length.toLocaleString()} most frequent of ${r.itemset_count.toLocaleString()} kept: max_itemsets)` : ""}
        <span className="muted"> (min support and the items filter apply)</span>
      </p>
      <DataTable
        rows={itemsets.slice(0, setsLimit)}
        rowKey={(x) => x.items.join("\u0000")}
        empty="No itemset matches the filters."
        columns={[
          { title: "Items", render: (x) => <Items items={x.items} labels={labels} /> },
          { title: "Size", render: (x) => x.items.length, className: "num" },
          { title: "Count", render: (x) => x.count.toLocaleString(), className: "num" },
          { title: "Support", render: (x) => fmt(x.support), className: "num" },
        ]}
      />
      <More shown={Math.min(setsLimit, itemsets.length)} total={itemsets.length} more={() => setSetsLimit((n) => n + 500)} />
    </>
  );
}

function SequencesView({ r }: { r: SequencesResult }) {
  const [minSupport, setMinSupport] = useState("");
  const [text, setText] = useState("");
  const [limit, setLimit] = useState(500);
  const q = text.trim().toLowerCase();
  const patterns = useMemo(() => {
    const s = bound(minSupport);
    return r.patterns.filter((x) => (s === null || x.support >= s) && matches(x.items, q));
  }, [r.patterns, minSupport, q]);
  return (
    <>
      <h2>Sequential patterns</h2>
      <p className="muted">
        {r.sequences.toLocaleString()} sequences over {r.items.toLocaleString()} items: {r.pattern_count.toLocaleString()} patterns
        {r.pattern_count > r.patterns.length ? ` (the ${r.patterns.length.toLocaleString()} most frequent kept: max_patterns)` : ""}.
      </p>
      <div className="mining-filters" role="search" aria-label="Pattern filters">
        <NumberFilter label="Min support" value={minSupport} onChange={setMinSupport} />
        <Field label="Items">
          <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="contains…" />
        </Field>
      </div>
      <p data-testid="patterns-count">
        Showing {patterns.length.toLocaleString()} of {r.patterns.length.toLocaleString()} patterns
      </p>
      <section aria-label="Patterns">
        <DataTable
          rows={patterns.slice(0, limit)}
          rowKey={(x) => x.items.join("\u0000")}
          empty={r.patterns.length ? "No pattern matches the filters." : "No patterns: lower min_support."}
          columns={[
            { title: "Pattern", render: (x) => <Items items={x.items} arrow /> },
            { title: "Length", render: (x) => x.items.length, className: "num" },
            { title: "Sequences", render: (x) => x.count.toLocaleString(), className: "num" },
            { title: "Support", render: (x) => fmt(x.support), className: "num" },
          ]}
        />
      </section>
      <More shown={Math.min(limit, patterns.length)} total={patterns.length} more={() => setLimit((n) => n + 500)} />
    </>
  );
}

// ---- outliers ----

function OutliersView({ r, contamination }: { r: OutliersResult; contamination: number }) {
  const [limit, setLimit] = useState(500);
  const withId = r.top.some((t) => t.id !== undefined);
  return (
    <>
      <h2>Outliers</h2>
      <dl className="facts" aria-label="Outliers">
        <dt>Columns</dt>
        <dd>{r.columns.join(", ")}</dd>
        <dt>Threshold</dt>
        <dd>
          {fmt(r.threshold)}{" "}
          <span className="muted">{contamination > 0 ? `(the top ${pct(contamination)} of the scores)` : "(auto: a score above 0.5)"}</span>
        </dd>
        <dt>Outliers</dt>
        <dd data-testid="mining-outliers">
          {r.outliers.toLocaleString()} of {r.rows.toLocaleString()} rows ({r.rows ? pct(r.outliers / r.rows) : "—"})
        </dd>
      </dl>
      <h3>Scores</h3>
      <ScoreHistogram bins={r.histogram} threshold={r.threshold} label="Rows by outlier score" />
      <h3>The top {r.top.length.toLocaleString()} rows</h3>
      <div className="table-wrap">
        <table aria-label="Top rows">
          <thead>
            <tr>
              <th>Row</th>
              {withId && <th>Id</th>}
              <th>Score</th>
              {r.columns.map((c, i) => (
                <th key={i}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {r.top.slice(0, limit).map((t) => (
              <tr key={t.row} data-row={t.row} data-score={t.score} className={(contamination > 0 ? t.score >= r.threshold : t.score > r.threshold) ? undefined : "muted"}>
                <td className="num">{t.row.toLocaleString()}</td>
                {withId && <td>{t.id}</td>}
                <td className="num">{fmt(t.score)}</td>
                {r.columns.map((c, i) => (
                  <td key={i} className="num">
                    {fmt(t.values[c])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <More shown={Math.min(limit, r.top.length)} total={r.top.length} more={() => setLimit((n) => n + 500)} />
    </>
  );
}
