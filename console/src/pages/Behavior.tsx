// Behaviour modelling (module behavior): projects with their statistics (create, edit, delete);
// a project's pages: Insights, one per kind, each with a query builder whose event and property
// pickers come from the project's schema, its answer drawn (trends as lines and a table, funnels
// as bars with conversion and drop-off, retention as a cohort grid, lifecycle as stacked bars,
// stickiness as bars, paths as a Sankey diagram, RFM segments and lifetime values with their
// persons) and saved; dashboards of saved insights, each drawn from the dashboard's answer;
// persons (search, a person's ids, properties and newest events); cohorts (static from pasted
// ids, dynamic from conditions) with their size and persons; the churn model (trained through a
// pipeline, followed while it trains, then its evaluation, the histogram of the probabilities
// written to the persons and the persons most at risk).
import { createContext, useContext, useEffect, useState, type FormEvent, type ReactNode } from "react";
import { Link, Navigate, NavLink, Route, Routes, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { ApiError, api, enc, get } from "../api";
import { useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, type Column, Field, FormButtons, PageHeader, StateBadge, bytes, when } from "../components/ui";
import { BarChart } from "../components/CubeCharts";
import {
  FunnelChart,
  Histogram,
  LifecycleChart,
  RetentionGrid,
  STATUSES,
  Sankey,
  TrendChart,
  duration,
  fmt,
  pct,
  type FunnelGroup,
  type FunnelStep,
  type LifecycleInterval,
  type PathEdge,
  type RetentionCohort,
} from "../components/BehaviorCharts";
import "../components/behavior.css";

// ---- the API's objects ----

interface ProjectStats {
  events: number;
  distinct_ids: number;
  event_names: number;
  properties: number;
  persons_with_properties: number;
  parts: number;
  memory_bytes: number;
  duplicates_skipped: number;
  log_bytes: number;
}

interface Project {
  name: string;
  description: string;
  owner: string;
  topic: string | null;
  created: string;
  stats?: ProjectStats;
}

interface Schema {
  events: string[];
  properties: { name: string; type: "number" | "text"; values: number }[];
  person_properties: string[];
}

type Scalar = string | number | boolean;

interface PropFilter {
  type?: "event" | "person" | "cohort";
  key?: string;
  operator?: string;
  value?: Scalar | Scalar[];
}

interface Entity {
  event: string | null;
  filters?: PropFilter[];
  label?: string;
}

interface SeriesDef extends Entity {
  math?: string;
  math_property?: string;
}

// An insight's request, one shape for every kind (each uses its own fields: see clean()).
interface Query {
  date_from?: string;
  date_to?: string;
  interval?: string;
  filters?: PropFilter[];
  series?: SeriesDef[];
  steps?: Entity[];
  event?: string | Entity;
  returning_event?: string | Entity;
  retention_type?: string;
  periods?: number;
  cumulative?: boolean;
  order?: string;
  window?: string;
  breakdown?: string;
  breakdown_type?: "event" | "person";
  breakdown_limit?: number;
  start_point?: string;
  end_point?: string;
  node_property?: string;
  events?: string[];
  step_limit?: number;
  session_gap?: string;
  limit?: number;
  collapse_repeats?: boolean;
  value_property?: string;
  frequency_property?: string;
  property?: string;
  write?: boolean;
  unit?: string;
  horizon?: number;
}

interface TrendSeries {
  label: string;
  event: string | null;
  math: string;
  math_property?: string;
  breakdown_value?: string | null;
  data: (number | null)[];
  total: number | null;
}
interface TrendsAnswer {
  interval: string;
  intervals: string[];
  series: TrendSeries[];
  breakdown?: string;
}
interface FunnelsAnswer {
  order: string;
  window_seconds: number;
  steps: FunnelStep[];
  breakdown?: string;
  breakdowns?: { value: string | null; steps: FunnelStep[] }[];
}
interface RetentionAnswer {
  retention_type: string;
  interval: string;
  periods: number;
  cumulative: boolean;
  cohorts: RetentionCohort[];
  breakdown?: string;
  breakdowns?: { value: string | null; cohorts: RetentionCohort[] }[];
}
interface LifecycleAnswer {
  interval: string;
  event: string | null;
  intervals: LifecycleInterval[];
}
interface StickinessAnswer {
  interval: string;
  series: { label: string; event: string | null; data: { intervals: number; persons: number }[] }[];
}
interface PathsAnswer {
  persons: number;
  paths: { nodes: string[]; persons: number }[];
  edges: PathEdge[];
  start_point?: string;
  end_point?: string;
  node_property?: string;
}
interface RfmPerson {
  distinct_id: string;
  recency: number;
  frequency: number;
  monetary: number;
  r: number;
  f: number;
  m: number;
  rfm: string;
  segment: string;
}
interface RfmAnswer {
  customers: number;
  segments: Record<string, number>;
  persons: RfmPerson[];
  written: string | null;
}
interface LifetimePerson {
  distinct_id: string;
  frequency: number;
  recency: number;
  T: number;
  monetary: number;
  p_alive?: number;
  expected_purchases?: number;
  expected_value?: number;
  clv?: number;
}
interface LifetimeAnswer {
  customers: number;
  unit: string;
  horizon: number;
  bgnbd: { r: number; alpha: number; a: number; b: number; log_likelihood: number };
  gamma_gamma?: { p: number; q: number; v: number; log_likelihood: number };
  gamma_gamma_error?: string;
  persons: LifetimePerson[];
}
type Answer = TrendsAnswer | FunnelsAnswer | RetentionAnswer | LifecycleAnswer | StickinessAnswer | PathsAnswer | RfmAnswer | LifetimeAnswer;

interface SavedInsight {
  name: string;
  description?: string;
  kind: Kind;
  query: Query;
  chart?: string;
  owner: string;
  created: string;
  updated: string;
  result?: Answer;
  error?: string;
}

interface Dashboard {
  name: string;
  description?: string;
  insights: string[];
  owner: string;
  created: string;
  updated: string;
  results?: SavedInsight[];
}

interface Condition {
  type?: "behavior" | "person" | "cohort";
  event?: string;
  filters?: PropFilter[];
  min_count?: number;
  max_count?: number;
  days?: number;
  date_from?: string;
  date_to?: string;
  key?: string;
  operator?: string;
  value?: Scalar;
}

interface Cohort {
  name: string;
  description?: string;
  distinct_ids?: string[];
  criteria?: { match?: "all" | "any"; conditions: Condition[] };
  owner: string;
  created: string;
  updated: string;
  size?: number;
}

interface PersonRow {
  distinct_id: string;
  properties: Record<string, unknown>;
}
interface PersonList {
  persons: PersonRow[];
  total: number;
  limit: number;
  offset: number;
}
interface Person {
  distinct_id: string;
  distinct_ids: string[];
  properties: Record<string, unknown>;
  events: number;
  first_seen: string | null;
  last_seen: string | null;
}

// The churn model's state (GET …/models/churn): its fields appear as it advances.
interface ChurnModel {
  state: "preparing" | "training" | "scored" | "failed";
  error?: string;
  request?: { label_property?: string; date_to?: string; top_events?: number; num_round?: number; max_depth?: number };
  property?: string;
  dataset?: string;
  version?: number;
  features?: string[];
  persons?: number;
  labelled?: number;
  held_out?: number;
  pipeline_run?: number;
  model_version?: number;
  tracking_run?: number | string;
  metrics?: Record<string, number>;
  holdout_auc?: number | null;
  scored?: number;
  started?: string;
  finished?: string;
  updated?: string;
}

interface EventRow {
  event: string;
  distinct_id: string;
  timestamp: string;
  properties: Record<string, unknown>;
}

// ---- kinds, and the requests the builders make ----

const KINDS = ["trends", "funnels", "retention", "lifecycle", "stickiness", "paths", "rfm", "lifetime"] as const;
type Kind = (typeof KINDS)[number];
const KIND_NAMES: Record<Kind, string> = {
  trends: "Trends",
  funnels: "Funnels",
  retention: "Retention",
  lifecycle: "Lifecycle",
  stickiness: "Stickiness",
  paths: "Paths",
  rfm: "RFM",
  lifetime: "Lifetime",
};
const isKind = (k: string | undefined): k is Kind => !!k && (KINDS as readonly string[]).includes(k);

const KEYS: Record<Kind, (keyof Query)[]> = {
  trends: ["series", "interval", "breakdown", "breakdown_type", "breakdown_limit"],
  funnels: ["steps", "order", "window", "breakdown", "breakdown_type", "breakdown_limit"],
  retention: ["event", "returning_event", "retention_type", "interval", "periods", "cumulative", "breakdown", "breakdown_type", "breakdown_limit"],
  lifecycle: ["event", "interval"],
  stickiness: ["series", "interval"],
  paths: ["start_point", "end_point", "node_property", "events", "step_limit", "session_gap", "limit", "collapse_repeats"],
  rfm: ["event", "value_property", "frequency_property", "property", "write"],
  lifetime: ["event", "value_property", "unit", "horizon", "write"],
};
const COMMON: (keyof Query)[] = ["date_from", "date_to", "filters"];
const MATHS = ["total", "unique", "sum", "avg", "min", "max"];
const VALUED = ["sum", "avg", "min", "max"];
const OPERATORS: [string, string][] = [
  ["exact", "="],
  ["is_not", "≠"],
  ["icontains", "contains"],
  ["not_icontains", "does not contain"],
  ["gt", ">"],
  ["gte", "≥"],
  ["lt", "<"],
  ["lte", "≤"],
  ["is_set", "is set"],
  ["is_not_set", "is not set"],
];
const opName = (op: string | undefined) => OPERATORS.find(([o]) => o === (op ?? "exact"))?.[1] ?? op ?? "=";
const needsValue = (op: string | undefined) => op !== "is_set" && op !== "is_not_set";
const DATE_PRESETS = ["-24h", "-7d", "-14d", "-30d", "-90d", "-6m", "-1y"];

const errorOf = (e: unknown): ApiError | string => (e instanceof ApiError ? e : e instanceof Error ? e.message : String(e));

// An action's state: running, and its error as the API gave it (message and code).
function useRun() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | string | null>(null);
  const run = async (f: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await f();
      return true;
    } catch (e) {
      setError(errorOf(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

const eventName = (e: string | Entity | null | undefined): string => (typeof e === "string" ? e : (e?.event ?? "$all"));

function entity(e: unknown): Entity {
  if (typeof e === "string") return { event: e };
  if (e && typeof e === "object") {
    const o = e as Entity & { id?: string };
    return { ...o, event: o.event ?? o.id ?? null };
  }
  return { event: null };
}

// A saved or typed request in the builders' shape: series and steps as objects, the breakdown
// as a key and a type.
function normalize(kind: Kind, raw: unknown): Query {
  const src = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
  const q = { ...src } as Query;
  if (kind === "trends" || kind === "stickiness") {
    if (Array.isArray(src.series)) q.series = src.series.map((s) => ({ math: "total", ...entity(s) }));
    else if (src.event !== undefined)
      q.series = [{ ...entity(src.event), math: (src.math as string) ?? "total", math_property: (src.math_property as string) ?? undefined }];
    else q.series = [];
    delete q.event;
  }
  if (kind === "funnels") q.steps = Array.isArray(src.steps) ? src.steps.map(entity) : [];
  if (kind === "retention") {
    if (src.target !== undefined) q.event = src.target as Entity;
    if (src.returning !== undefined) q.returning_event = src.returning as Entity;
  }
  const b = src.breakdown;
  if (b && typeof b === "object") {
    const o = b as { key?: string; type?: string };
    q.breakdown = o.key;
    q.breakdown_type = o.type === "person" ? "person" : "event";
  }
  return q;
}

const blank = (v: unknown) => v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0);

// The request sent for a kind: its fields only, without empty ones.
function clean(kind: Kind, q: Query): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of [...COMMON, ...KEYS[kind]]) {
    if (!blank(q[k])) out[k] = q[k];
  }
  if (out.series) {
    out.series = (q.series ?? []).map((s) => {
      const o: Record<string, unknown> = { event: s.event ?? "$all" };
      if (kind === "trends") {
        o.math = s.math ?? "total";
        if (VALUED.includes(s.math ?? "") && s.math_property) o.math_property = s.math_property;
      }
      if (s.filters?.length) o.filters = s.filters;
      if (s.label) o.label = s.label;
      return o;
    });
  }
  if (out.steps) out.steps = (q.steps ?? []).map((s) => (s.filters?.length || s.label ? { ...s, event: s.event ?? "$all" } : (s.event ?? "$all")));
  if (!out.breakdown) {
    delete out.breakdown_type;
    delete out.breakdown_limit;
  } else if (out.breakdown_type !== "person") delete out.breakdown_type;
  if (out.start_point && out.end_point) delete out.end_point;
  return out;
}

function defaults(kind: Kind, schema: Schema): Query {
  const ev = schema.events;
  const first = ev.includes("$pageview") ? "$pageview" : (ev[0] ?? "$pageview");
  const second = ev.find((e) => e !== first) ?? first;
  const buy = ev.find((e) => /purchase|order|buy/i.test(e)) ?? first;
  const numeric = schema.properties.find((p) => p.type === "number")?.name;
  switch (kind) {
    case "trends":
      return { series: [{ event: first, math: "total" }], interval: "day", date_from: "-7d" };
    case "funnels":
      return { steps: [{ event: first }, { event: second }], order: "ordered", window: "14d", date_from: "-30d" };
    case "retention":
      return { event: first, retention_type: "first_time", interval: "week", periods: 8, date_from: "-8w" };
    case "lifecycle":
      return { event: first, interval: "day", date_from: "-30d" };
    case "stickiness":
      return { series: [{ event: first }], interval: "day", date_from: "-30d" };
    case "paths": {
      const page = schema.properties.some((p) => p.name === "$pathname") ? "$pathname" : undefined;
      return { node_property: page, events: ev.includes("$pageview") ? ["$pageview"] : [], step_limit: 5, date_from: "-7d" };
    }
    case "rfm":
      return { event: buy, value_property: numeric, date_from: "-1y", write: false };
    case "lifetime":
      return { event: buy, value_property: numeric, unit: "day", horizon: 90, date_from: "-1y", write: false };
  }
}

// ---- the project's context: its name, schema and cohorts, and the insights being built ----

interface Ran {
  query: Record<string, unknown>;
  answer: Answer;
}

interface ProjectCtx {
  name: string;
  base: string; // the API's path of the project
  url: string; // the console's path of the project
  schema: Schema | null;
  reloadSchema: () => void;
  cohorts: string[];
  reloadCohorts: () => void;
  queries: Partial<Record<Kind, Query>>;
  setQuery: (k: Kind, q: Query) => void;
  charts: Partial<Record<Kind, string>>;
  setChart: (k: Kind, c: string) => void;
  ran: Partial<Record<Kind, Ran>>;
  setRan: (k: Kind, r: Ran | undefined) => void;
}

const Ctx = createContext<ProjectCtx | null>(null);
const useProject = () => useContext(Ctx)!;

const personLink = (url: string, id: string) => `${url}/persons/${enc(id)}`;
const personColumn = (url: string): Column<{ distinct_id: string }> => ({ title: "Person", render: (p) => <Link to={personLink(url, p.distinct_id)}>{p.distinct_id}</Link> });

// The Owner, Updated and Delete columns of a list of saved things (the delete for writers only).
function ownedColumns<T extends { name: string; owner: string; updated: string }>(what: string, busy: boolean, remove: (row: T) => void): Column<T>[] {
  return [
    { title: "Owner", render: (r) => r.owner },
    { title: "Updated", render: (r) => when(r.updated) },
    {
      title: "",
      render: (r) => (
        <Allowed permission="behavior:write">
          <button className="danger" aria-label={`Delete ${what} ${r.name}`} disabled={busy} onClick={() => remove(r)}>
            Delete
          </button>
        </Allowed>
      ),
    },
  ];
}

// Previous and Next over a list shown `size` rows at a time from row `from`; nothing when one page holds it.
function Pager({ from, size, total, go }: { from: number; size: number; total: number; go: (from: number) => void }) {
  if (total <= size) return null;
  return (
    <div className="toolbar">
      <button className="secondary" disabled={from === 0} onClick={() => go(Math.max(0, from - size))}>
        Previous
      </button>
      <span className="muted">
        {from + 1}–{Math.min(total, from + size)} of {total.toLocaleString()}
      </span>
      <button className="secondary" disabled={from + size >= total} onClick={() => go(from + size)}>
        Next
      </button>
    </div>
  );
}

// The name and description fields of a New … form.
function NameFields({ name, setName, description, setDescription }: { name: string; setName: (s: string) => void; description: string; setDescription: (s: string) => void }) {
  return (
    <>
      <Field label="Name">
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={128} />
      </Field>
      <Field label="Description">
        <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
    </>
  );
}

function Props({ props, max = 8 }: { props: Record<string, unknown>; max?: number }) {
  const entries = Object.entries(props);
  if (entries.length === 0) return <span className="muted">—</span>;
  const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  return (
    <span className="bh-props">
      {entries.slice(0, max).map(([k, v]) => (
        <span key={k} className="tag">
          {k}: {show(v)}
        </span>
      ))}
      {entries.length > max && <span className="muted">+{entries.length - max}</span>}
    </span>
  );
}

// ---- projects ----

export function BehaviorProjectsPage() {
  const list = useApi<{ projects: Project[] }>("/api/v1/behavior/projects", 10000);
  return (
    <>
      <PageHeader title="Behaviour">
        <Allowed permission="behavior:write">
          <CreateProject created={list.reload} />
        </Allowed>
      </PageHeader>
      <p className="muted">
        Product analytics: events captured from apps (<code>POST /api/v1/behavior/&#123;project&#125;/capture</code>), merged into persons, and
        the insights asked of them.
      </p>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.projects ?? []}
        rowKey={(p) => p.name}
        empty={list.loading ? "Loading…" : "No projects: make one, then capture its events."}
        columns={[
          { title: "Project", render: (p) => <Link to={`/behavior/${enc(p.name)}`}>{p.name}</Link> },
          { title: "Events", render: (p) => (p.stats?.events ?? 0).toLocaleString(), className: "num" },
          { title: "Distinct ids", render: (p) => (p.stats?.distinct_ids ?? 0).toLocaleString(), className: "num" },
          { title: "Event names", render: (p) => (p.stats?.event_names ?? 0).toLocaleString(), className: "num" },
          { title: "Memory", render: (p) => bytes(p.stats?.memory_bytes ?? 0), className: "num" },
          { title: "Topic", render: (p) => p.topic ?? "—" },
          { title: "Description", render: (p) => p.description },
          { title: "Created", render: (p) => when(p.created) },
        ]}
      />
    </>
  );
}

function CreateProject({ created }: { created: () => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [topic, setTopic] = useState("");
  const action = useRun();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New project</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const body: Record<string, string> = { name, description };
      if (topic.trim()) body.topic = topic.trim();
      const p = await api<Project>("POST", "/api/v1/behavior/projects", body);
      created();
      navigate(`/behavior/${enc(p.name)}`);
    });
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="New project">
      <NameFields name={name} setName={setName} description={description} setDescription={setDescription} />
      <Field label="Topic (optional: a message-queue topic whose messages are captured)">
        <input name="topic" value={topic} onChange={(e) => setTopic(e.target.value)} />
      </Field>
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy || !name} onCancel={() => setOpen(false)} />
    </form>
  );
}

export function BehaviorProjectPage() {
  const { name = "" } = useParams();
  const base = `/api/v1/behavior/${enc(name)}`;
  const url = `/behavior/${enc(name)}`;
  const project = useApi<Project>(`/api/v1/behavior/projects/${enc(name)}`, 10000);
  const found = project.data !== null;
  const schema = useApi<Schema>(found ? `${base}/schema` : null);
  const cohorts = useApi<{ cohorts: Cohort[] }>(found ? `${base}/cohorts` : null);
  const [queries, setQueries] = useState<Partial<Record<Kind, Query>>>({});
  const [charts, setCharts] = useState<Partial<Record<Kind, string>>>({});
  const [ran, setRanAll] = useState<Partial<Record<Kind, Ran>>>({});
  const ctx: ProjectCtx = {
    name,
    base,
    url,
    schema: schema.data,
    reloadSchema: schema.reload,
    cohorts: (cohorts.data?.cohorts ?? []).map((c) => c.name),
    reloadCohorts: cohorts.reload,
    queries,
    setQuery: (k, q) => setQueries((all) => ({ ...all, [k]: q })),
    charts,
    setChart: (k, c) => setCharts((all) => ({ ...all, [k]: c })),
    ran,
    setRan: (k, r) => setRanAll((all) => ({ ...all, [k]: r })),
  };
  const tabs: [string, string, boolean][] = [
    [url, "Overview", true],
    [`${url}/insights`, "Insights", false],
    [`${url}/dashboards`, "Dashboards", false],
    [`${url}/persons`, "Persons", false],
    [`${url}/cohorts`, "Cohorts", false],
    [`${url}/churn`, "Churn", false],
  ];
  return (
    <Ctx.Provider value={ctx}>
      <PageHeader title={`Behaviour: ${name}`}>
        <Link to="/behavior">All projects</Link>
      </PageHeader>
      <ErrorLine error={project.error} />
      {found && (
        <>
          <nav className="bh-tabs" aria-label="Project">
            {tabs.map(([to, label, end]) => (
              <NavLink key={label} to={to} end={end}>
                {label}
              </NavLink>
            ))}
          </nav>
          <Routes>
            <Route index element={<Overview project={project.data!} changed={project.reload} />} />
            <Route path="insights" element={<Navigate to="trends" replace />} />
            <Route path="insights/:kind" element={<InsightsPage />} />
            <Route path="dashboards" element={<DashboardsPage />} />
            <Route path="dashboards/:dashboard" element={<DashboardPage />} />
            <Route path="persons" element={<PersonsPage />} />
            <Route path="persons/:id" element={<PersonPage />} />
            <Route path="cohorts" element={<CohortsPage />} />
            <Route path="cohorts/:cohort" element={<CohortPage />} />
            <Route path="churn" element={<ChurnPage />} />
            <Route path="*" element={<p>No such page.</p>} />
          </Routes>
        </>
      )}
    </Ctx.Provider>
  );
}

function Overview({ project, changed }: { project: Project; changed: () => void }) {
  const { base, url, schema, reloadSchema } = useProject();
  const [editing, setEditing] = useState(false);
  const [description, setDescription] = useState(project.description);
  const [topic, setTopic] = useState(project.topic ?? "");
  const [confirm, setConfirm] = useState(false);
  const action = useRun();
  const navigate = useNavigate();
  useEffect(reloadSchema, [reloadSchema, project.stats?.events]);
  const s = project.stats;
  const save = (e: FormEvent) => {
    e.preventDefault();
    void action
      .run(() => api("PATCH", `/api/v1/behavior/projects/${enc(project.name)}`, { description, topic: topic.trim() ? topic.trim() : null }))
      .then((ok) => {
        if (ok) {
          setEditing(false);
          changed();
        }
      });
  };
  const remove = () => void action.run(() => api("DELETE", `/api/v1/behavior/projects/${enc(project.name)}`)).then((ok) => ok && navigate("/behavior"));
  return (
    <section aria-label="Overview">
      <div className="two-columns">
        <dl className="facts" data-testid="project-stats">
          <dt>Description</dt>
          <dd>{project.description || "—"}</dd>
          <dt>Topic followed</dt>
          <dd>{project.topic ?? "—"}</dd>
          <dt>Owner</dt>
          <dd>{project.owner}</dd>
          <dt>Created</dt>
          <dd>{when(project.created)}</dd>
          {s && (
            <>
              <dt>Events</dt>
              <dd data-testid="stat-events">{s.events.toLocaleString()}</dd>
              <dt>Distinct ids</dt>
              <dd data-testid="stat-distinct-ids">{s.distinct_ids.toLocaleString()}</dd>
              <dt>Event names</dt>
              <dd>{s.event_names.toLocaleString()}</dd>
              <dt>Event properties</dt>
              <dd>{s.properties.toLocaleString()}</dd>
              <dt>Persons with properties</dt>
              <dd>{s.persons_with_properties.toLocaleString()}</dd>
              <dt>Parts</dt>
              <dd>{s.parts.toLocaleString()}</dd>
              <dt>Memory</dt>
              <dd>{bytes(s.memory_bytes)}</dd>
              <dt>Log</dt>
              <dd>{bytes(s.log_bytes)}</dd>
              <dt>Duplicates skipped</dt>
              <dd>{s.duplicates_skipped.toLocaleString()}</dd>
            </>
          )}
        </dl>
        <div>
          <h2>Schema</h2>
          {schema ? (
            <>
              <p>
                <strong>Events:</strong>{" "}
                {schema.events.length ? schema.events.map((e) => <span key={e} className="tag">{e}</span>) : <span className="muted">none yet</span>}
              </p>
              <p>
                <strong>Event properties:</strong>{" "}
                {schema.properties.map((p) => (
                  <span key={p.name} className="tag" title={p.type === "text" ? `${p.values} values` : "numeric"}>
                    {p.name} ({p.type})
                  </span>
                ))}
              </p>
              <p>
                <strong>Person properties:</strong>{" "}
                {schema.person_properties.length ? schema.person_properties.map((p) => <span key={p} className="tag">{p}</span>) : <span className="muted">none</span>}
              </p>
            </>
          ) : (
            <p className="muted">Loading…</p>
          )}
          <p className="muted">
            Capture with <code>POST {base}/capture</code> (one event, <code>{"{batch: […]}"}</code> or a list); then ask the{" "}
            <Link to={`${url}/insights/trends`}>insights</Link>.
          </p>
        </div>
      </div>
      <Allowed permission="behavior:write">
        <div className="toolbar">
          {!editing && (
            <button className="secondary" onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
          {!confirm ? (
            <button className="danger" onClick={() => setConfirm(true)}>
              Delete project
            </button>
          ) : (
            <>
              <span className="error">Delete {project.name} with its events, persons, cohorts, insights and dashboards?</span>
              <button className="danger" onClick={remove} disabled={action.busy}>
                Yes, delete
              </button>
              <button className="secondary" onClick={() => setConfirm(false)}>
                Keep it
              </button>
            </>
          )}
        </div>
        {editing && (
          <form className="card inline-form" onSubmit={save} aria-label="Edit project">
            <Field label="Description">
              <input value={description} onChange={(e) => setDescription(e.target.value)} />
            </Field>
            <Field label="Topic (empty: none)">
              <input value={topic} onChange={(e) => setTopic(e.target.value)} />
            </Field>
            <FormButtons submit="Save" disabled={action.busy} onCancel={() => setEditing(false)} />
          </form>
        )}
      </Allowed>
      <ErrorLine error={action.error} />
    </section>
  );
}

// ---- pickers ----

function EventSelect({ value, onChange, label, any = true }: { value: string | null; onChange: (e: string) => void; label: string; any?: boolean }) {
  const { schema } = useProject();
  const events = schema?.events ?? [];
  const v = value ?? "$all";
  return (
    <select aria-label={label} value={v} onChange={(e) => onChange(e.target.value)}>
      {any && <option value="$all">any event</option>}
      {events.map((e) => (
        <option key={e} value={e}>
          {e}
        </option>
      ))}
      {v !== "$all" && !events.includes(v) && <option value={v}>{v}</option>}
    </select>
  );
}

function PropertySelect({
  value,
  onChange,
  label,
  numeric,
  text,
  none = "—",
}: {
  value: string | undefined;
  onChange: (p: string | undefined) => void;
  label: string;
  numeric?: boolean;
  text?: boolean;
  none?: string;
}) {
  const { schema } = useProject();
  const props = (schema?.properties ?? []).filter((p) => (numeric ? p.type === "number" : text ? p.type === "text" : true));
  return (
    <select aria-label={label} value={value ?? ""} onChange={(e) => onChange(e.target.value || undefined)}>
      <option value="">{none}</option>
      {props.map((p) => (
        <option key={p.name} value={p.name}>
          {p.name}
        </option>
      ))}
      {value && !props.some((p) => p.name === value) && <option value={value}>{value}</option>}
    </select>
  );
}

function describeFilter(f: PropFilter): string {
  if (f.type === "cohort") return `${f.operator === "not_in" ? "not in" : "in"} cohort ${String(f.value)}`;
  const v = Array.isArray(f.value) ? f.value.join(" or ") : f.value;
  return `${f.type === "person" ? "person." : ""}${f.key} ${opName(f.operator)}${needsValue(f.operator) ? ` ${String(v)}` : ""}`;
}

function FiltersEditor({ filters, onChange, label, eventOnly }: { filters: PropFilter[]; onChange: (f: PropFilter[]) => void; label: string; eventOnly?: boolean }) {
  const { schema, cohorts } = useProject();
  const [type, setType] = useState<"event" | "person" | "cohort">("event");
  const [key, setKey] = useState("");
  const [op, setOp] = useState("exact");
  const [value, setValue] = useState("");
  const listId = `keys-${label.replace(/[^a-zA-Z0-9]/g, "_")}-${type}`;
  const keys = type === "event" ? (schema?.properties ?? []).map((p) => p.name) : (schema?.person_properties ?? []);
  const add = () => {
    const f: PropFilter =
      type === "cohort" ? { type, value: key, operator: op === "not_in" ? "not_in" : "in" } : { type, key, operator: op, ...(needsValue(op) ? { value } : {}) };
    onChange([...filters, f]);
    setKey("");
    setValue("");
  };
  const ready = type === "cohort" ? !!key : !!key.trim() && (!needsValue(op) || value !== "");
  return (
    <div>
      <ul className="bh-filters" aria-label={label}>
        {filters.map((f, k) => (
          <li key={k} className="tag">
            {describeFilter(f)}{" "}
            <button className="link" aria-label={`Remove filter ${describeFilter(f)}`} onClick={() => onChange(filters.filter((_, i) => i !== k))}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <div className="bh-filter-form" role="group" aria-label={`Add to ${label}`}>
        {!eventOnly && (
          <select
            aria-label="Filter type"
            value={type}
            onChange={(e) => {
              const t = e.target.value as "event" | "person" | "cohort";
              setType(t);
              setKey("");
              setOp(t === "cohort" ? "in" : "exact");
            }}
          >
            <option value="event">event property</option>
            <option value="person">person property</option>
            <option value="cohort">cohort</option>
          </select>
        )}
        {type === "cohort" ? (
          <>
            <select aria-label="Cohort" value={key} onChange={(e) => setKey(e.target.value)}>
              <option value="">— cohort —</option>
              {cohorts.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
            <select aria-label="Operator" value={op} onChange={(e) => setOp(e.target.value)}>
              <option value="in">in</option>
              <option value="not_in">not in</option>
            </select>
          </>
        ) : (
          <>
            <input aria-label="Property" list={listId} value={key} onChange={(e) => setKey(e.target.value)} placeholder="property" autoComplete="off" />
            <datalist id={listId}>
              {keys.map((k) => (
                <option key={k} value={k} />
              ))}
            </datalist>
            <select aria-label="Operator" value={op} onChange={(e) => setOp(e.target.value)}>
              {OPERATORS.map(([o, n]) => (
                <option key={o} value={o}>
                  {n}
                </option>
              ))}
            </select>
            {needsValue(op) && <input aria-label="Value" value={value} onChange={(e) => setValue(e.target.value)} placeholder="value" />}
          </>
        )}
        <button type="button" className="secondary" disabled={!ready} onClick={add}>
          Add filter
        </button>
      </div>
    </div>
  );
}

function DateRange({ q, set, allTime }: { q: Query; set: (q: Query) => void; allTime?: boolean }) {
  return (
    <div className="row">
      <Field label="From">
        <input
          aria-label="From"
          list="bh-date-presets"
          value={q.date_from ?? ""}
          onChange={(e) => set({ ...q, date_from: e.target.value || undefined })}
          placeholder={allTime ? "all time" : "-7d"}
          size={12}
        />
      </Field>
      <Field label="To">
        <input aria-label="To" list="bh-date-presets" value={q.date_to ?? ""} onChange={(e) => set({ ...q, date_to: e.target.value || undefined })} placeholder="now" size={12} />
      </Field>
      <datalist id="bh-date-presets">
        {DATE_PRESETS.map((d) => (
          <option key={d} value={d} />
        ))}
      </datalist>
    </div>
  );
}

function IntervalSelect({ q, set }: { q: Query; set: (q: Query) => void }) {
  return (
    <Field label="Interval">
      <select aria-label="Interval" value={q.interval ?? "day"} onChange={(e) => set({ ...q, interval: e.target.value })}>
        {["hour", "day", "week", "month"].map((i) => (
          <option key={i}>{i}</option>
        ))}
      </select>
    </Field>
  );
}

function BreakdownPicker({ q, set }: { q: Query; set: (q: Query) => void }) {
  const { schema } = useProject();
  const value = q.breakdown ? `${q.breakdown_type === "person" ? "person" : "event"}:${q.breakdown}` : "";
  const text = (schema?.properties ?? []).filter((p) => p.type === "text").map((p) => p.name);
  return (
    <fieldset>
      <legend>Breakdown</legend>
      <div className="row">
        <Field label="Breakdown">
          <select
            aria-label="Breakdown"
            value={value}
            onChange={(e) => {
              const v = e.target.value;
              if (!v) set({ ...q, breakdown: undefined, breakdown_type: undefined });
              else {
                const at = v.indexOf(":");
                set({ ...q, breakdown: v.slice(at + 1), breakdown_type: v.slice(0, at) as "event" | "person" });
              }
            }}
          >
            <option value="">none</option>
            <optgroup label="Event property">
              {text.map((p) => (
                <option key={p} value={`event:${p}`}>
                  {p}
                </option>
              ))}
            </optgroup>
            <optgroup label="Person property">
              {(schema?.person_properties ?? []).map((p) => (
                <option key={p} value={`person:${p}`}>
                  person.{p}
                </option>
              ))}
            </optgroup>
            {value && !text.includes(q.breakdown!) && !(schema?.person_properties ?? []).includes(q.breakdown!) && <option value={value}>{q.breakdown}</option>}
          </select>
        </Field>
        {q.breakdown && (
          <Field label="Values">
            <input
              type="number"
              aria-label="Breakdown limit"
              min={1}
              max={1000}
              value={q.breakdown_limit ?? 25}
              onChange={(e) => set({ ...q, breakdown_limit: Number(e.target.value) || undefined })}
            />
          </Field>
        )}
      </div>
    </fieldset>
  );
}

function NumberField({ label, value, set, min, max, placeholder }: { label: string; value: number | undefined; set: (n: number | undefined) => void; min?: number; max?: number; placeholder?: string }) {
  return (
    <Field label={label}>
      <input
        type="number"
        aria-label={label}
        min={min}
        max={max}
        value={value ?? ""}
        placeholder={placeholder}
        onChange={(e) => set(e.target.value === "" ? undefined : Number(e.target.value))}
      />
    </Field>
  );
}

// The builders' Range fieldset: the dates, the interval where the kind has one, and more fields.
function RangeFields({ q, set, interval, allTime, children }: BuilderProps & { interval?: boolean; allTime?: boolean; children?: ReactNode }) {
  return (
    <fieldset>
      <legend>Range</legend>
      <DateRange q={q} set={set} allTime={allTime} />
      {interval && <IntervalSelect q={q} set={set} />}
      {children}
    </fieldset>
  );
}

const letter = (i: number) => String.fromCharCode(65 + (i % 26));

// ---- the builders ----

interface BuilderProps {
  q: Query;
  set: (q: Query) => void;
}

function TrendsBuilder({ q, set }: BuilderProps) {
  const series = q.series ?? [];
  const put = (i: number, s: SeriesDef) => set({ ...q, series: series.map((x, j) => (j === i ? s : x)) });
  return (
    <>
      <fieldset className="bh-wide">
        <legend>Series</legend>
        {series.map((s, i) => (
          <div key={i} className="bh-item" role="group" aria-label={`Series ${letter(i)}`}>
            <span className="bh-letter">{letter(i)}</span>
            <EventSelect label="Event" value={s.event} onChange={(e) => put(i, { ...s, event: e })} />
            <select aria-label="Math" value={s.math ?? "total"} onChange={(e) => put(i, { ...s, math: e.target.value })}>
              {MATHS.map((m) => (
                <option key={m} value={m}>
                  {m === "total" ? "total events" : m === "unique" ? "unique persons" : m}
                </option>
              ))}
            </select>
            {VALUED.includes(s.math ?? "") && (
              <PropertySelect label="Math property" numeric value={s.math_property} onChange={(p) => put(i, { ...s, math_property: p })} none="— property —" />
            )}
            {s.filters?.length ? <span className="muted">{s.filters.map(describeFilter).join(", ")}</span> : null}
            {series.length > 1 && (
              <button className="link" aria-label={`Remove series ${letter(i)}`} onClick={() => set({ ...q, series: series.filter((_, j) => j !== i) })}>
                ×
              </button>
            )}
          </div>
        ))}
        <button type="button" className="secondary" disabled={series.length >= 20} onClick={() => set({ ...q, series: [...series, { event: series.at(-1)?.event ?? "$all", math: "total" }] })}>
          Add series
        </button>
      </fieldset>
      <RangeFields q={q} set={set} interval />
      <BreakdownPicker q={q} set={set} />
    </>
  );
}

function FunnelsBuilder({ q, set }: BuilderProps) {
  const steps = q.steps ?? [];
  const put = (i: number, s: Entity) => set({ ...q, steps: steps.map((x, j) => (j === i ? s : x)) });
  const move = (i: number, d: number) => {
    const next = [...steps];
    [next[i], next[i + d]] = [next[i + d], next[i]];
    set({ ...q, steps: next });
  };
  return (
    <>
      <fieldset className="bh-wide">
        <legend>Steps</legend>
        {steps.map((s, i) => (
          <div key={i} className="bh-item" role="group" aria-label={`Step ${i + 1}`}>
            <span className="bh-letter">{i + 1}</span>
            <EventSelect label="Event" value={s.event} onChange={(e) => put(i, { ...s, event: e })} />
            {s.filters?.length ? <span className="muted">{s.filters.map(describeFilter).join(", ")}</span> : null}
            <button className="link" aria-label={`Move step ${i + 1} up`} disabled={i === 0} onClick={() => move(i, -1)}>
              ↑
            </button>
            <button className="link" aria-label={`Move step ${i + 1} down`} disabled={i === steps.length - 1} onClick={() => move(i, 1)}>
              ↓
            </button>
            {steps.length > 2 && (
              <button className="link" aria-label={`Remove step ${i + 1}`} onClick={() => set({ ...q, steps: steps.filter((_, j) => j !== i) })}>
                ×
              </button>
            )}
          </div>
        ))}
        <button type="button" className="secondary" disabled={steps.length >= 20} onClick={() => set({ ...q, steps: [...steps, { event: steps.at(-1)?.event ?? "$all" }] })}>
          Add step
        </button>
      </fieldset>
      <fieldset>
        <legend>Conversion</legend>
        <div className="row">
          <Field label="Order">
            <select aria-label="Order" value={q.order ?? "ordered"} onChange={(e) => set({ ...q, order: e.target.value })}>
              <option value="ordered">ordered (others between allowed)</option>
              <option value="strict">strict (nothing between)</option>
              <option value="unordered">any order</option>
            </select>
          </Field>
          <Field label="Window">
            <input aria-label="Window" value={q.window ?? ""} onChange={(e) => set({ ...q, window: e.target.value || undefined })} placeholder="14d" size={6} />
          </Field>
        </div>
        <DateRange q={q} set={set} />
      </fieldset>
      <BreakdownPicker q={q} set={set} />
    </>
  );
}

function RetentionBuilder({ q, set }: BuilderProps) {
  const { schema } = useProject();
  return (
    <>
      <fieldset>
        <legend>Events</legend>
        <div className="row">
          <Field label="Target event (the cohort's)">
            <EventSelect label="Target event" value={eventName(q.event)} onChange={(e) => set({ ...q, event: e })} />
          </Field>
          <Field label="Returning event">
            <select
              aria-label="Returning event"
              value={q.returning_event === undefined ? "" : eventName(q.returning_event)}
              onChange={(e) => set({ ...q, returning_event: e.target.value || undefined })}
            >
              <option value="">the target event</option>
              <option value="$all">any event</option>
              {(schema?.events ?? []).map((e) => (
                <option key={e} value={e}>
                  {e}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <div className="row">
          <Field label="Cohorts by">
            <select aria-label="Retention type" value={q.retention_type ?? "first_time"} onChange={(e) => set({ ...q, retention_type: e.target.value })}>
              <option value="first_time">first time (the interval of a person's first target event)</option>
              <option value="recurring">recurring (every interval with the target event)</option>
            </select>
          </Field>
          <label className="check">
            <input type="checkbox" checked={!!q.cumulative} onChange={(e) => set({ ...q, cumulative: e.target.checked })} />
            on or after (cumulative)
          </label>
        </div>
      </fieldset>
      <RangeFields q={q} set={set}>
        <div className="row">
          <IntervalSelect q={q} set={set} />
          <NumberField label="Periods" value={q.periods} set={(n) => set({ ...q, periods: n })} min={1} max={1000} placeholder="11" />
        </div>
      </RangeFields>
      <BreakdownPicker q={q} set={set} />
    </>
  );
}

function LifecycleBuilder({ q, set }: BuilderProps) {
  return (
    <>
      <fieldset>
        <legend>Event</legend>
        <EventSelect label="Event" value={eventName(q.event)} onChange={(e) => set({ ...q, event: e })} />
        <p className="muted">
          Per interval, the persons who did it: new (their first time ever), returning (also the interval before), resurrecting (active before, not
          the interval before), and dormant (the interval before, not this one), drawn below zero.
        </p>
      </fieldset>
      <RangeFields q={q} set={set} interval />
    </>
  );
}

function StickinessBuilder({ q, set }: BuilderProps) {
  const series = q.series ?? [];
  return (
    <>
      <fieldset>
        <legend>Events</legend>
        {series.map((s, i) => (
          <div key={i} className="bh-item" role="group" aria-label={`Series ${letter(i)}`}>
            <span className="bh-letter">{letter(i)}</span>
            <EventSelect label="Event" value={s.event} onChange={(e) => set({ ...q, series: series.map((x, j) => (j === i ? { ...x, event: e } : x)) })} />
            {series.length > 1 && (
              <button className="link" aria-label={`Remove series ${letter(i)}`} onClick={() => set({ ...q, series: series.filter((_, j) => j !== i) })}>
                ×
              </button>
            )}
          </div>
        ))}
        <button type="button" className="secondary" disabled={series.length >= 20} onClick={() => set({ ...q, series: [...series, { event: series.at(-1)?.event ?? "$all" }] })}>
          Add series
        </button>
        <p className="muted">Persons by the number of intervals of the range in which they did the event.</p>
      </fieldset>
      <RangeFields q={q} set={set} interval />
    </>
  );
}

function PathsBuilder({ q, set }: BuilderProps) {
  const { schema } = useProject();
  const events = q.events ?? [];
  const toggle = (e: string) => set({ ...q, events: events.includes(e) ? events.filter((x) => x !== e) : [...events, e] });
  return (
    <>
      <fieldset>
        <legend>Points</legend>
        <div className="row">
          <Field label="Start point">
            <input aria-label="Start point" value={q.start_point ?? ""} onChange={(e) => set({ ...q, start_point: e.target.value || undefined, end_point: undefined })} placeholder="a node: /pricing" />
          </Field>
          <Field label="or end point">
            <input aria-label="End point" value={q.end_point ?? ""} onChange={(e) => set({ ...q, end_point: e.target.value || undefined, start_point: undefined })} placeholder="a node" />
          </Field>
        </div>
        <div className="row">
          <Field label="Nodes are">
            <PropertySelect label="Node property" text value={q.node_property} onChange={(p) => set({ ...q, node_property: p })} none="event names" />
          </Field>
          <NumberField label="Steps" value={q.step_limit} set={(n) => set({ ...q, step_limit: n })} min={2} max={20} placeholder="5" />
          <Field label="Session gap">
            <input aria-label="Session gap" value={q.session_gap ?? ""} onChange={(e) => set({ ...q, session_gap: e.target.value || undefined })} placeholder="30m" size={6} />
          </Field>
          <NumberField label="Paths listed" value={q.limit} set={(n) => set({ ...q, limit: n })} min={1} max={1000} placeholder="50" />
        </div>
        <label className="check">
          <input type="checkbox" checked={q.collapse_repeats !== false} onChange={(e) => set({ ...q, collapse_repeats: e.target.checked ? undefined : false })} />
          collapse repeats in a row
        </label>
      </fieldset>
      <fieldset>
        <legend>Events paths are made of (none ticked: all)</legend>
        <div role="group" aria-label="Path events">
          {(schema?.events ?? []).map((e) => (
            <label key={e} className="check">
              <input type="checkbox" checked={events.includes(e)} onChange={() => toggle(e)} />
              {e}
            </label>
          ))}
        </div>
      </fieldset>
      <RangeFields q={q} set={set} />
    </>
  );
}

// The Purchases fieldset of RFM and lifetime: the purchase event and value property, the kind's
// own fields beside them and below, and whether to write the results as person properties.
function PurchaseFields({ q, set, valueLabel, valueNone, writes, fields, more }: BuilderProps & { valueLabel: string; valueNone: string; writes: string; fields: ReactNode; more?: ReactNode }) {
  return (
    <>
      <fieldset>
        <legend>Purchases</legend>
        <div className="row">
          <Field label="Purchase event">
            <EventSelect label="Purchase event" any={false} value={eventName(q.event)} onChange={(e) => set({ ...q, event: e })} />
          </Field>
          <Field label={valueLabel}>
            <PropertySelect label="Value property" numeric value={q.value_property} onChange={(p) => set({ ...q, value_property: p })} none={valueNone} />
          </Field>
          {fields}
        </div>
        <div className="row">
          {more}
          <label className="check">
            <input type="checkbox" checked={q.write === true} onChange={(e) => set({ ...q, write: e.target.checked })} />
            write {writes} as person properties
          </label>
        </div>
      </fieldset>
      <RangeFields q={q} set={set} allTime />
    </>
  );
}

function RfmBuilder({ q, set }: BuilderProps) {
  return (
    <PurchaseFields
      q={q}
      set={set}
      valueLabel="Value (monetary)"
      valueNone="count of purchases"
      writes="each person's segment and scores"
      fields={
        <Field label="Frequency counts">
          <PropertySelect label="Frequency property" value={q.frequency_property} onChange={(p) => set({ ...q, frequency_property: p })} none="purchases" />
        </Field>
      }
      more={
        <Field label="Person property for the segment">
          <input aria-label="Segment property" value={q.property ?? ""} onChange={(e) => set({ ...q, property: e.target.value || undefined })} placeholder="segment" size={12} />
        </Field>
      }
    />
  );
}

function LifetimeBuilder({ q, set }: BuilderProps) {
  return (
    <PurchaseFields
      q={q}
      set={set}
      valueLabel="Value (for Gamma-Gamma)"
      valueNone="none (no value model)"
      writes="p_alive, expected_purchases and clv"
      fields={
        <>
          <Field label="Unit">
            <select aria-label="Unit" value={q.unit ?? "day"} onChange={(e) => set({ ...q, unit: e.target.value })}>
              <option>day</option>
              <option>week</option>
            </select>
          </Field>
          <NumberField label="Horizon (units)" value={q.horizon} set={(n) => set({ ...q, horizon: n })} min={1} placeholder="90" />
        </>
      }
    />
  );
}

const BUILDERS: Record<Kind, (p: BuilderProps) => ReactNode> = {
  trends: TrendsBuilder,
  funnels: FunnelsBuilder,
  retention: RetentionBuilder,
  lifecycle: LifecycleBuilder,
  stickiness: StickinessBuilder,
  paths: PathsBuilder,
  rfm: RfmBuilder,
  lifetime: LifetimeBuilder,
};

// ---- answers ----

function seriesName(s: TrendSeries, breakdown: boolean): string {
  const math = s.math === "total" ? "" : ` (${s.math}${s.math_property ? ` ${s.math_property}` : ""})`;
  const by = breakdown ? ` · ${s.breakdown_value ?? "(none)"}` : "";
  return `${s.label}${math}${by}`;
}

// A page of a long list: 25 rows, Previous and Next.
function usePaged<T>(rows: T[], size = 25) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const p = Math.min(page, pages - 1);
  const shown = rows.slice(p * size, (p + 1) * size);
  const pager = <Pager from={p * size} size={size} total={rows.length} go={(from) => setPage(from / size)} />;
  return { shown, pager };
}

function TrendsView({ a, chart, compact }: { a: TrendsAnswer; chart: string; compact?: boolean }) {
  const bd = !!a.breakdown;
  const lines = a.series.map((s) => ({ label: seriesName(s, bd), values: s.data }));
  if (a.series.length === 0) return <p className="muted">No events match.</p>;
  return (
    <>
      {chart === "bars" ? (
        <BarChart bars={a.series.map((s) => ({ label: seriesName(s, bd), value: s.total }))} label="Trends totals" />
      ) : (
        <TrendChart x={a.intervals} lines={lines} label="Trends" />
      )}
      {!compact && (
        <div className="table-wrap">
          <table aria-label="Trends table">
            <thead>
              <tr>
                <th>Series</th>
                <th className="num">Total</th>
                {a.intervals.map((i) => (
                  <th key={i} className="num">
                    {i}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {a.series.map((s, k) => (
                <tr key={k} data-series={seriesName(s, bd)}>
                  <td>{seriesName(s, bd)}</td>
                  <td className="num">{fmt(s.total)}</td>
                  {s.data.map((v, i) => (
                    <td key={i} className="num">
                      {fmt(v)}
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

function FunnelStepsTable({ steps, label }: { steps: FunnelStep[]; label: string }) {
  return (
    <div className="table-wrap">
      <table aria-label={label}>
        <thead>
          <tr>
            <th>Step</th>
            <th className="num">Persons</th>
            <th className="num">Conversion</th>
            <th className="num">From the step before</th>
            <th className="num">Dropped off</th>
            <th className="num">Median time</th>
            <th className="num">Average time</th>
          </tr>
        </thead>
        <tbody>
          {steps.map((s, k) => (
            <tr key={k} data-step={k + 1}>
              <td>
                {k + 1}. {s.label}
              </td>
              <td className="num">{fmt(s.count)}</td>
              <td className="num">{pct(s.conversion_rate)}</td>
              <td className="num">{k === 0 ? "—" : pct(s.step_conversion_rate)}</td>
              <td className="num">{k === 0 ? "—" : fmt(s.drop_off)}</td>
              <td className="num">{duration(s.median_conversion_time)}</td>
              <td className="num">{duration(s.average_conversion_time)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function FunnelsView({ a, compact }: { a: FunnelsAnswer; compact?: boolean }) {
  const groups: FunnelGroup[] = a.breakdowns?.length
    ? a.breakdowns.slice(0, 10).map((b) => ({ name: b.value ?? "(none)", steps: b.steps }))
    : [{ name: "All", steps: a.steps }];
  return (
    <>
      <FunnelChart groups={groups} label="Funnel" />
      {!compact && (
        <>
          <p className="muted" data-testid="funnel-summary">
            {fmt(a.steps[0]?.count ?? 0)} persons entered, {fmt(a.steps.at(-1)?.count ?? 0)} completed ({pct(a.steps.at(-1)?.conversion_rate)}); {a.order}, within{" "}
            {duration(a.window_seconds)}
          </p>
          <FunnelStepsTable steps={a.steps} label="Funnel steps" />
          {a.breakdowns && a.breakdowns.length > 0 && (
            <>
              <h3>By {a.breakdown}</h3>
              <div className="table-wrap">
                <table aria-label="Funnel by breakdown">
                  <thead>
                    <tr>
                      <th>{a.breakdown}</th>
                      {a.steps.map((s, k) => (
                        <th key={k} className="num">
                          {k + 1}. {s.label}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {a.breakdowns.map((b) => (
                      <tr key={b.value ?? ""} data-value={b.value ?? ""}>
                        <td>{b.value ?? "(none)"}</td>
                        {b.steps.map((s, k) => (
                          <td key={k} className="num" data-count={s.count}>
                            {fmt(s.count)} ({pct(s.conversion_rate)})
                          </td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          )}
        </>
      )}
    </>
  );
}

// The table of everyone, then with a breakdown one value's table at a time, picked from the values.
function RetentionView({ a, compact }: { a: RetentionAnswer; compact?: boolean }) {
  const [picked, setPicked] = useState(0);
  const unit = a.interval.charAt(0).toUpperCase() + a.interval.slice(1);
  const values = a.breakdowns ?? [];
  const at = Math.min(picked, values.length - 1);
  const shown = values[at];
  const name = (v: string | null) => v ?? "(none)";
  return (
    <>
      <RetentionGrid cohorts={a.cohorts} periods={a.periods} unit={unit} label="Retention" />
      {!compact && shown && (
        <>
          <div className="toolbar">
            <h3>By {a.breakdown}</h3>
            <select aria-label="Breakdown value" value={at} onChange={(e) => setPicked(Number(e.target.value))}>
              {values.map((b, i) => (
                <option key={i} value={i}>
                  {name(b.value)} ({fmt(b.cohorts.reduce((n, c) => n + c.size, 0))} persons)
                </option>
              ))}
            </select>
          </div>
          <RetentionGrid cohorts={shown.cohorts} periods={a.periods} unit={unit} label={`Retention of ${a.breakdown} ${name(shown.value)}`} />
        </>
      )}
    </>
  );
}

function LifecycleView({ a, compact }: { a: LifecycleAnswer; compact?: boolean }) {
  return (
    <>
      <LifecycleChart intervals={a.intervals} label="Lifecycle" />
      {!compact && (
        <DataTable
          rows={a.intervals}
          rowKey={(i) => i.start}
          columns={[
            { title: a.interval, render: (i) => i.start },
            ...STATUSES.map((s) => ({ title: s, render: (i: LifecycleInterval) => fmt(i[s]), className: "num" })),
          ]}
        />
      )}
    </>
  );
}

function StickinessView({ a }: { a: StickinessAnswer }) {
  const several = a.series.length > 1;
  const bars = a.series.flatMap((s) =>
    s.data.map((d) => ({
      label: `${several ? `${s.label} · ` : ""}${d.intervals} ${a.interval}${d.intervals === 1 ? "" : "s"}`,
      value: d.persons,
    })),
  );
  return <BarChart bars={bars} label="Stickiness" />;
}

// The persons through each node (by step and name), when the listed paths are all of them: a
// path of k nodes ends at step k (or, up to an end point, at the end point's step).
function nodeTotals(a: PathsAnswer): Map<string, number> | undefined {
  const listed = a.paths.reduce((s, p) => s + p.persons, 0);
  if (listed !== a.persons || a.edges.length === 0) return undefined;
  const lastStep = Math.max(...a.edges.map((e) => e.step)) + 1;
  const out = new Map<string, number>();
  for (const p of a.paths) {
    const start = a.end_point ? lastStep - p.nodes.length + 1 : 1;
    p.nodes.forEach((n, i) => {
      const key = `${start + i}\u0000${n}`;
      out.set(key, (out.get(key) ?? 0) + p.persons);
    });
  }
  return out;
}

function PathsView({ a, compact }: { a: PathsAnswer; compact?: boolean }) {
  return (
    <>
      <p className="muted" data-testid="paths-summary">
        {fmt(a.persons)} persons{a.start_point ? `, from ${a.start_point}` : ""}
        {a.end_point ? `, up to ${a.end_point}` : ""}
        {a.node_property ? `; nodes are ${a.node_property}` : "; nodes are event names"}
      </p>
      <Sankey edges={a.edges} totals={nodeTotals(a)} label="Paths" />
      {!compact && (
        <DataTable
          rows={a.paths}
          rowKey={(p) => p.nodes.join("\u0000")}
          empty="No paths."
          columns={[
            { title: "Path", render: (p) => p.nodes.join(" → ") },
            { title: "Persons", render: (p) => fmt(p.persons), className: "num" },
          ]}
        />
      )}
    </>
  );
}

function RfmView({ a, compact }: { a: RfmAnswer; compact?: boolean }) {
  const { url } = useProject();
  const segments = Object.entries(a.segments).sort((x, y) => y[1] - x[1]);
  const rows = [...a.persons].sort((x, y) => y.rfm.localeCompare(x.rfm) || y.monetary - x.monetary);
  const { shown, pager } = usePaged(rows);
  return (
    <>
      <p className="muted" data-testid="rfm-summary">
        {fmt(a.customers)} customers{a.written ? `; segments written as the person property ${a.written}` : ""}
      </p>
      <BarChart bars={segments.map(([s, n]) => ({ label: s, value: n }))} label="Segments" />
      {!compact && (
        <>
          <DataTable
            rows={shown}
            rowKey={(p) => p.distinct_id}
            columns={[
              personColumn(url),
              { title: "Segment", render: (p) => p.segment },
              { title: "RFM", render: (p) => p.rfm },
              { title: "Recency (days)", render: (p) => fmt(p.recency), className: "num" },
              { title: "Frequency", render: (p) => fmt(p.frequency), className: "num" },
              { title: "Monetary", render: (p) => fmt(p.monetary), className: "num" },
            ]}
          />
          {pager}
        </>
      )}
    </>
  );
}

function LifetimeView({ a, compact }: { a: LifetimeAnswer; compact?: boolean }) {
  const { url } = useProject();
  const rows = [...a.persons].sort((x, y) => (y.clv ?? y.expected_purchases ?? -1) - (x.clv ?? x.expected_purchases ?? -1));
  const { shown, pager } = usePaged(rows);
  const g = (v: number | undefined) => (v === undefined ? "—" : v.toPrecision(4));
  return (
    <>
      <dl className="facts" data-testid="lifetime-fit">
        <dt>Customers</dt>
        <dd>{fmt(a.customers)}</dd>
        <dt>BG/NBD</dt>
        <dd>
          r {g(a.bgnbd.r)}, α {g(a.bgnbd.alpha)}, a {g(a.bgnbd.a)}, b {g(a.bgnbd.b)} (log-likelihood {fmt(a.bgnbd.log_likelihood)})
        </dd>
        <dt>Gamma-Gamma</dt>
        <dd>
          {a.gamma_gamma
            ? `p ${g(a.gamma_gamma.p)}, q ${g(a.gamma_gamma.q)}, v ${g(a.gamma_gamma.v)} (log-likelihood ${fmt(a.gamma_gamma.log_likelihood)})`
            : (a.gamma_gamma_error ?? "not fitted (no value property)")}
        </dd>
        <dt>Horizon</dt>
        <dd>
          {fmt(a.horizon)} {a.unit}s
        </dd>
      </dl>
      {!compact && (
        <>
          <DataTable
            rows={shown}
            rowKey={(p) => p.distinct_id}
            columns={[
              personColumn(url),
              { title: "CLV", render: (p) => fmt(p.clv), className: "num" },
              { title: "Expected purchases", render: (p) => fmt(p.expected_purchases), className: "num" },
              { title: "Expected value", render: (p) => fmt(p.expected_value), className: "num" },
              { title: "P(alive)", render: (p) => pct(p.p_alive), className: "num" },
              { title: "Frequency", render: (p) => fmt(p.frequency), className: "num" },
              { title: "Recency", render: (p) => fmt(p.recency), className: "num" },
              { title: "T", render: (p) => fmt(p.T), className: "num" },
              { title: "Monetary", render: (p) => fmt(p.monetary), className: "num" },
            ]}
          />
          {pager}
        </>
      )}
    </>
  );
}

function InsightView({ kind, answer, chart, compact }: { kind: Kind; answer: Answer; chart?: string; compact?: boolean }) {
  switch (kind) {
    case "trends":
      return <TrendsView a={answer as TrendsAnswer} chart={chart ?? "lines"} compact={compact} />;
    case "funnels":
      return <FunnelsView a={answer as FunnelsAnswer} compact={compact} />;
    case "retention":
      return <RetentionView a={answer as RetentionAnswer} compact={compact} />;
    case "lifecycle":
      return <LifecycleView a={answer as LifecycleAnswer} compact={compact} />;
    case "stickiness":
      return <StickinessView a={answer as StickinessAnswer} />;
    case "paths":
      return <PathsView a={answer as PathsAnswer} compact={compact} />;
    case "rfm":
      return <RfmView a={answer as RfmAnswer} compact={compact} />;
    case "lifetime":
      return <LifetimeView a={answer as LifetimeAnswer} compact={compact} />;
  }
}

const CHART_OF: Record<Kind, string> = {
  trends: "lines",
  funnels: "funnel",
  retention: "grid",
  lifecycle: "lifecycle",
  stickiness: "bars",
  paths: "sankey",
  rfm: "segments",
  lifetime: "table",
};

// ---- insights ----

function InsightsPage() {
  const p = useProject();
  const { kind: k } = useParams();
  const [params, setParams] = useSearchParams();
  const saved = params.get("saved");
  const [savedName, setSavedName] = useState("");
  const action = useRun();
  const loader = useRun();
  const navigate = useNavigate();
  useEffect(p.reloadSchema, [p.reloadSchema]);
  // Opening a saved insight: its query, chart and answer now.
  useEffect(() => {
    if (!saved || !isKind(k)) return;
    void loader.run(async () => {
      const item = await get<SavedInsight>(`${p.base}/insights/${enc(saved)}`);
      if (item.kind !== k) {
        navigate(`${p.url}/insights/${item.kind}?saved=${enc(saved)}`, { replace: true });
        return;
      }
      const q = normalize(item.kind, item.query);
      p.setQuery(item.kind, q);
      p.setChart(item.kind, item.chart ?? CHART_OF[item.kind]);
      p.setRan(item.kind, item.result ? { query: clean(item.kind, q), answer: item.result } : undefined);
      if (item.error) loader.setError(item.error);
      setSavedName(item.name);
      setParams({}, { replace: true });
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [saved, k]);
  if (!isKind(k)) return <p>No insight kind {k}: {KINDS.join(", ")}.</p>;
  const kind = k;
  const schema = p.schema;
  const q = p.queries[kind] ?? (schema ? defaults(kind, schema) : null);
  const set = (next: Query) => p.setQuery(kind, next);
  const request = q ? clean(kind, q) : null;
  const ran = p.ran[kind];
  const fresh = !!ran && JSON.stringify(ran.query) === JSON.stringify(request);
  const chart = p.charts[kind] ?? CHART_OF[kind];
  const run = () => {
    if (!request) return;
    const asked = request;
    void action.run(async () => {
      const answer = await api<Answer>("POST", `${p.base}/insights/${kind}`, asked);
      p.setRan(kind, { query: asked, answer });
    });
  };
  const Builder = BUILDERS[kind];
  return (
    <section aria-label={`${KIND_NAMES[kind]} insight`}>
      <nav className="bh-kinds" aria-label="Insight kind">
        {KINDS.map((x) => (
          <NavLink key={x} to={`${p.url}/insights/${x}`}>
            {KIND_NAMES[x]}
          </NavLink>
        ))}
      </nav>
      <ErrorLine error={loader.error} />
      {!q || !request ? (
        <p className="muted">Loading the project's schema…</p>
      ) : (
        <>
          {schema && schema.events.length === 0 && <p className="notice">The project has no events yet: capture some first.</p>}
          <div className="card bh-builder" aria-label="Query" role="group">
            <Builder q={q} set={set} />
            <fieldset>
              <legend>Filters</legend>
              <FiltersEditor filters={q.filters ?? []} onChange={(f) => set({ ...q, filters: f })} label="Filters" />
            </fieldset>
          </div>
          <div className="bh-run">
            <button onClick={run} disabled={action.busy}>
              Run
            </button>
            {kind === "trends" && (
              <div role="tablist" aria-label="Chart" className="row">
                {[
                  ["lines", "Lines"],
                  ["bars", "Totals as bars"],
                ].map(([c, n]) => (
                  <button key={c} role="tab" aria-selected={chart === c} className={chart === c ? "" : "secondary"} onClick={() => p.setChart(kind, c)}>
                    {n}
                  </button>
                ))}
              </div>
            )}
            <button className="secondary" onClick={() => set(defaults(kind, schema ?? { events: [], properties: [], person_properties: [] }))}>
              Reset
            </button>
            {action.busy && <span className="muted">Running…</span>}
            {ran && !fresh && !action.busy && <span className="muted">The query changed: Run to update the answer.</span>}
          </div>
          <JsonEditor kind={kind} request={request} apply={set} />
          <ErrorLine error={action.error} />
          {ran && (
            <section aria-label="Answer" data-fresh={fresh ? "true" : "false"} aria-busy={action.busy}>
              <InsightView kind={kind} answer={ran.answer} chart={chart} />
              {"took_ms" in ran.answer && <p className="muted">{fmt((ran.answer as { took_ms?: number }).took_ms)} ms</p>}
            </section>
          )}
          <Allowed permission="behavior:write">
            <SaveInsight kind={kind} request={request} chart={chart} initial={savedName} />
          </Allowed>
        </>
      )}
    </section>
  );
}

function JsonEditor({ kind, request, apply }: { kind: Kind; request: Record<string, unknown>; apply: (q: Query) => void }) {
  const [text, setText] = useState("");
  const [open, setOpen] = useState(false);
  const [error, setError] = useState("");
  const shown = JSON.stringify(request, null, 2);
  useEffect(() => setText(shown), [shown]);
  return (
    <details className="bh-json" open={open} onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>The request as JSON</summary>
      <textarea aria-label="Request JSON" rows={Math.min(24, shown.split("\n").length + 1)} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
      <div className="row">
        <button
          className="secondary"
          onClick={() => {
            try {
              apply(normalize(kind, JSON.parse(text)));
              setError("");
            } catch {
              setError("not JSON");
            }
          }}
        >
          Apply
        </button>
        <span className="muted">
          <code>POST …/insights/{kind}</code>, as <Link to="/docs">the API</Link> takes it
        </span>
      </div>
      <ErrorLine error={error} />
    </details>
  );
}

function SaveInsight({ kind, request, chart, initial }: { kind: Kind; request: Record<string, unknown>; chart: string; initial: string }) {
  const { base, url } = useProject();
  const [name, setName] = useState(initial);
  const [description, setDescription] = useState("");
  const [done, setDone] = useState("");
  const action = useRun();
  useEffect(() => setName(initial), [initial]);
  const save = (e: FormEvent) => {
    e.preventDefault();
    setDone("");
    void action.run(async () => {
      await api("POST", `${base}/insights`, { name, description, kind, query: request, chart });
      setDone(name);
    });
  };
  return (
    <form className="toolbar" onSubmit={save} aria-label="Save the insight">
      <input aria-label="Insight name" value={name} onChange={(e) => setName(e.target.value)} placeholder="name" required maxLength={128} />
      <input aria-label="Insight description" value={description} onChange={(e) => setDescription(e.target.value)} placeholder="description" />
      <button type="submit" disabled={action.busy || !name}>
        Save insight
      </button>
      {done && (
        <span role="status">
          Saved {done}: add it to a <Link to={`${url}/dashboards`}>dashboard</Link>.
        </span>
      )}
      <ErrorLine error={action.error} />
    </form>
  );
}

// ---- dashboards and saved insights ----

function DashboardsPage() {
  const { base, url } = useProject();
  const insights = useApi<{ insights: SavedInsight[] }>(`${base}/insights`);
  const dashboards = useApi<{ dashboards: Dashboard[] }>(`${base}/dashboards`);
  const action = useRun();
  return (
    <>
      <h2>Dashboards</h2>
      <Allowed permission="behavior:write">
        <CreateDashboard insights={insights.data?.insights ?? []} />
      </Allowed>
      <ErrorLine error={dashboards.error ?? action.error} />
      <DataTable
        rows={dashboards.data?.dashboards ?? []}
        rowKey={(d) => d.name}
        empty={dashboards.loading ? "Loading…" : "No dashboards."}
        columns={[
          { title: "Dashboard", render: (d) => <Link to={`${url}/dashboards/${enc(d.name)}`}>{d.name}</Link> },
          { title: "Insights", render: (d) => d.insights.join(", ") },
          { title: "Description", render: (d) => d.description ?? "" },
          ...ownedColumns<Dashboard>("dashboard", action.busy, (d) => void action.run(() => api("DELETE", `${base}/dashboards/${enc(d.name)}`)).then(dashboards.reload)),
        ]}
      />
      <h2>Saved insights</h2>
      <ErrorLine error={insights.error} />
      <DataTable
        rows={insights.data?.insights ?? []}
        rowKey={(i) => i.name}
        empty={insights.loading ? "Loading…" : "No saved insights: save one from the Insights tab."}
        columns={[
          { title: "Insight", render: (i) => <Link to={`${url}/insights/${i.kind}?saved=${enc(i.name)}`}>{i.name}</Link> },
          { title: "Kind", render: (i) => KIND_NAMES[i.kind] ?? i.kind },
          { title: "Description", render: (i) => i.description ?? "" },
          ...ownedColumns<SavedInsight>("insight", action.busy, (i) => void action.run(() => api("DELETE", `${base}/insights/${enc(i.name)}`)).then(insights.reload)),
        ]}
      />
    </>
  );
}

function CreateDashboard({ insights }: { insights: SavedInsight[] }) {
  const { base, url } = useProject();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const action = useRun();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New dashboard</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      await api("POST", `${base}/dashboards`, { name, description, insights: chosen });
      navigate(`${url}/dashboards/${enc(name)}`);
    });
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="New dashboard">
      <NameFields name={name} setName={setName} description={description} setDescription={setDescription} />
      <div role="group" aria-label="Insights on the dashboard">
        <span className="muted">Insights: </span>
        {insights.length === 0 && <span className="muted">none saved yet</span>}
        {insights.map((i) => (
          <label key={i.name} className="bh-check">
            <input type="checkbox" checked={chosen.includes(i.name)} onChange={() => setChosen(chosen.includes(i.name) ? chosen.filter((x) => x !== i.name) : [...chosen, i.name])} />
            {i.name}
          </label>
        ))}
      </div>
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy || !name} onCancel={() => setOpen(false)} />
    </form>
  );
}

function DashboardPage() {
  const { base, url } = useProject();
  const { dashboard = "" } = useParams();
  const path = `${base}/dashboards/${enc(dashboard)}`;
  const d = useApi<Dashboard>(path);
  const insights = useApi<{ insights: SavedInsight[] }>(`${base}/insights`);
  const [adding, setAdding] = useState("");
  const action = useRun();
  const navigate = useNavigate();
  const put = (names: string[]) =>
    void action.run(() => api("POST", `${base}/dashboards`, { name: dashboard, description: d.data?.description ?? "", insights: names })).then((ok) => ok && d.reload());
  const others = (insights.data?.insights ?? []).filter((i) => !d.data?.insights.includes(i.name));
  return (
    <section aria-label={`Dashboard ${dashboard}`}>
      <div className="page-header">
        <h2>Dashboard {dashboard}</h2>
        <div className="actions">
          <button className="secondary" onClick={d.reload} disabled={d.loading}>
            Refresh
          </button>
          <Allowed permission="behavior:write">
            <button className="danger" disabled={action.busy} onClick={() => void action.run(() => api("DELETE", path)).then((ok) => ok && navigate(`${url}/dashboards`))}>
              Delete dashboard
            </button>
          </Allowed>
        </div>
      </div>
      {d.data?.description && <p>{d.data.description}</p>}
      <Allowed permission="behavior:write">
        <div className="toolbar">
          <select aria-label="Insight to add" value={adding} onChange={(e) => setAdding(e.target.value)}>
            <option value="">— a saved insight —</option>
            {others.map((i) => (
              <option key={i.name} value={i.name}>
                {i.name} ({KIND_NAMES[i.kind] ?? i.kind})
              </option>
            ))}
          </select>
          <button
            className="secondary"
            disabled={!adding || action.busy || !d.data}
            onClick={() => {
              put([...(d.data?.insights ?? []), adding]);
              setAdding("");
            }}
          >
            Add to the dashboard
          </button>
        </div>
      </Allowed>
      <ErrorLine error={d.error ?? action.error} />
      {d.data && d.data.insights.length === 0 && <p className="muted">No insights on this dashboard yet.</p>}
      <div className="bh-dashboard">
        {(d.data?.results ?? []).map((r) => (
          <article key={r.name} className="card" aria-label={`Insight ${r.name}`} data-kind={r.kind}>
            <div className="page-header">
              <div>
                <h3>
                  {r.kind ? <Link to={`${url}/insights/${r.kind}?saved=${enc(r.name)}`}>{r.name}</Link> : r.name}
                </h3>
                <span className="muted">
                  {r.kind ? KIND_NAMES[r.kind] : ""}
                  {r.description ? ` · ${r.description}` : ""}
                </span>
              </div>
              <Allowed permission="behavior:write">
                <button className="link" aria-label={`Remove ${r.name} from the dashboard`} onClick={() => put((d.data?.insights ?? []).filter((n) => n !== r.name))}>
                  Remove
                </button>
              </Allowed>
            </div>
            {r.error ? <ErrorLine error={r.error} /> : r.result && isKind(r.kind) ? <InsightView kind={r.kind} answer={r.result} chart={r.chart} compact /> : null}
          </article>
        ))}
      </div>
    </section>
  );
}

// ---- persons ----

function PersonsPage() {
  const { base, url } = useProject();
  const [params, setParams] = useSearchParams();
  const search = params.get("search") ?? "";
  const offset = Number(params.get("offset") ?? "0") || 0;
  const [typed, setTyped] = useState(search);
  const limit = 50;
  const list = useApi<PersonList>(`${base}/persons?search=${enc(search)}&limit=${limit}&offset=${offset}`);
  const go = (s: string, o: number) => {
    const next: Record<string, string> = {};
    if (s) next.search = s;
    if (o) next.offset = String(o);
    setParams(next);
  };
  const total = list.data?.total ?? 0;
  return (
    <section aria-label="Persons">
      <form
        className="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go(typed, 0);
        }}
      >
        <input className="grow" aria-label="Search persons" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="a distinct id or a property's value" />
        <button type="submit">Search</button>
      </form>
      <ErrorLine error={list.error} />
      <p className="muted" data-testid="persons-total">
        {list.data ? `${total.toLocaleString()} ${total === 1 ? "person" : "persons"}${search ? ` matching ${search}` : ""}` : "Loading…"}
      </p>
      <DataTable
        rows={list.data?.persons ?? []}
        rowKey={(p) => p.distinct_id}
        empty={list.loading ? "Loading…" : "No persons."}
        columns={[
          personColumn(url),
          { title: "Properties", render: (p) => <Props props={p.properties} /> },
        ]}
      />
      <Pager from={offset} size={limit} total={total} go={(o) => go(search, o)} />
    </section>
  );
}

function PersonPage() {
  const { base, url } = useProject();
  const { id = "" } = useParams();
  const person = useApi<Person>(`${base}/persons/${enc(id)}`);
  const events = useApi<{ events: EventRow[] }>(`${base}/events?distinct_id=${enc(id)}&limit=100`);
  const p = person.data;
  const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  return (
    <section aria-label="Person">
      <h2>Person {p?.distinct_id ?? id}</h2>
      <ErrorLine error={person.error} />
      {p && (
        <>
          <dl className="facts">
            <dt>Distinct ids</dt>
            <dd>
              <ul className="bh-filters" aria-label="Distinct ids">
                {p.distinct_ids.map((d) => (
                  <li key={d} className={d === p.distinct_id ? "tag" : "tag alias"}>
                    {d}
                  </li>
                ))}
              </ul>
            </dd>
            <dt>Events</dt>
            <dd data-testid="person-events">{p.events.toLocaleString()}</dd>
            <dt>First seen</dt>
            <dd>{when(p.first_seen)}</dd>
            <dt>Last seen</dt>
            <dd>{when(p.last_seen)}</dd>
          </dl>
          <h3>Properties</h3>
          <DataTable
            rows={Object.entries(p.properties)}
            rowKey={([k]) => k}
            empty="No properties."
            columns={[
              { title: "Property", render: ([k]) => k },
              { title: "Value", render: ([, v]) => show(v) },
            ]}
          />
        </>
      )}
      <h3>Newest events</h3>
      <ErrorLine error={events.error} />
      <DataTable
        rows={events.data?.events ?? []}
        rowKey={(e) => `${e.timestamp}\u0000${e.event}\u0000${e.distinct_id}\u0000${JSON.stringify(e.properties)}`}
        empty={events.loading ? "Loading…" : "No events."}
        columns={[
          { title: "Time", render: (e) => when(e.timestamp) },
          { title: "Event", render: (e) => e.event },
          { title: "Distinct id", render: (e) => (e.distinct_id === id ? e.distinct_id : <Link to={personLink(url, e.distinct_id)}>{e.distinct_id}</Link>) },
          { title: "Properties", render: (e) => <Props props={e.properties} max={10} /> },
        ]}
      />
    </section>
  );
}

// ---- cohorts ----

function describeCondition(c: Condition): string {
  const type = c.type ?? "behavior";
  if (type === "person") return `person.${c.key} ${opName(c.operator)}${needsValue(c.operator) ? ` ${String(c.value)}` : ""}`;
  if (type === "cohort") return `${c.operator === "not_in" ? "not in" : "in"} cohort ${String(c.value)}`;
  const min = c.min_count ?? 1;
  const span = c.days !== undefined ? ` in the last ${c.days} days` : c.date_from || c.date_to ? ` from ${c.date_from ?? "the start"} to ${c.date_to ?? "now"}` : "";
  if (min === 0 && c.max_count === 0) return `never did ${c.event}${span}`;
  const times = c.max_count !== undefined ? `${min}–${c.max_count} times` : `at least ${min} ${min === 1 ? "time" : "times"}`;
  return `did ${c.event} ${times}${span}`;
}

function describeCohort(c: Cohort): string {
  if (c.distinct_ids) return `static: ${c.distinct_ids.length.toLocaleString()} ids`;
  const conds = c.criteria?.conditions ?? [];
  return conds.map(describeCondition).join(c.criteria?.match === "any" ? " or " : " and ");
}

function CohortsPage() {
  const { base, url, reloadCohorts } = useProject();
  const list = useApi<{ cohorts: Cohort[] }>(`${base}/cohorts`);
  const action = useRun();
  return (
    <section aria-label="Cohorts">
      <Allowed permission="behavior:write">
        <CreateCohort />
      </Allowed>
      <ErrorLine error={list.error ?? action.error} />
      <DataTable
        rows={list.data?.cohorts ?? []}
        rowKey={(c) => c.name}
        empty={list.loading ? "Loading…" : "No cohorts."}
        columns={[
          { title: "Cohort", render: (c) => <Link to={`${url}/cohorts/${enc(c.name)}`}>{c.name}</Link> },
          { title: "Kind", render: (c) => (c.distinct_ids ? "static" : "dynamic") },
          { title: "Definition", render: (c) => describeCohort(c) },
          { title: "Description", render: (c) => c.description ?? "" },
          ...ownedColumns<Cohort>("cohort", action.busy, (c) =>
            void action.run(() => api("DELETE", `${base}/cohorts/${enc(c.name)}`)).then(() => {
              list.reload();
              reloadCohorts();
            }),
          ),
        ]}
      />
    </section>
  );
}

function ConditionRow({ c, set, remove }: { c: Condition; set: (c: Condition) => void; remove?: () => void }) {
  const { schema, cohorts } = useProject();
  const type = c.type ?? "behavior";
  const num = (v: string) => (v === "" ? undefined : Math.max(0, Math.round(Number(v))));
  return (
    <div className="bh-item" role="group" aria-label="Condition">
      <select
        aria-label="Condition type"
        value={type}
        onChange={(e) => {
          const t = e.target.value as Condition["type"];
          set(t === "behavior" ? { type: t, event: schema?.events[0] ?? "", min_count: 1 } : t === "person" ? { type: t, key: "", operator: "exact", value: "" } : { type: t, value: cohorts[0] ?? "", operator: "in" });
        }}
      >
        <option value="behavior">did an event</option>
        <option value="person">has a person property</option>
        <option value="cohort">is in a cohort</option>
      </select>
      {type === "behavior" && (
        <>
          <EventSelect label="Condition event" any={false} value={c.event ?? ""} onChange={(e) => set({ ...c, event: e })} />
          <label className="bh-check">
            at least
            <input type="number" aria-label="At least" min={0} value={c.min_count ?? ""} onChange={(e) => set({ ...c, min_count: num(e.target.value) })} />
          </label>
          <label className="bh-check">
            at most
            <input type="number" aria-label="At most" min={0} value={c.max_count ?? ""} placeholder="any" onChange={(e) => set({ ...c, max_count: num(e.target.value) })} />
          </label>
          <label className="bh-check">
            times in the last
            <input type="number" aria-label="Days" min={1} value={c.days ?? ""} placeholder="all time" onChange={(e) => set({ ...c, days: num(e.target.value) })} />
            days
          </label>
        </>
      )}
      {type === "person" && (
        <>
          <input aria-label="Person property" list="bh-person-keys" value={c.key ?? ""} onChange={(e) => set({ ...c, key: e.target.value })} placeholder="property" />
          <datalist id="bh-person-keys">
            {(schema?.person_properties ?? []).map((k) => (
              <option key={k} value={k} />
            ))}
          </datalist>
          <select aria-label="Operator" value={c.operator ?? "exact"} onChange={(e) => set({ ...c, operator: e.target.value })}>
            {OPERATORS.map(([o, n]) => (
              <option key={o} value={o}>
                {n}
              </option>
            ))}
          </select>
          {needsValue(c.operator) && <input aria-label="Value" value={String(c.value ?? "")} onChange={(e) => set({ ...c, value: e.target.value })} placeholder="value" />}
        </>
      )}
      {type === "cohort" && (
        <>
          <select aria-label="Operator" value={c.operator ?? "in"} onChange={(e) => set({ ...c, operator: e.target.value })}>
            <option value="in">in</option>
            <option value="not_in">not in</option>
          </select>
          <select aria-label="Cohort" value={String(c.value ?? "")} onChange={(e) => set({ ...c, value: e.target.value })}>
            <option value="">— cohort —</option>
            {cohorts.map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </>
      )}
      {remove && (
        <button type="button" className="link" aria-label="Remove condition" onClick={remove}>
          ×
        </button>
      )}
    </div>
  );
}

function CreateCohort() {
  const { base, url, schema, reloadCohorts } = useProject();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [kind, setKind] = useState<"static" | "dynamic">("static");
  const [ids, setIds] = useState("");
  const [match, setMatch] = useState<"all" | "any">("all");
  const [conditions, setConditions] = useState<Condition[]>([]);
  const action = useRun();
  const navigate = useNavigate();
  if (!open)
    return (
      <button
        onClick={() => {
          setOpen(true);
          if (conditions.length === 0) setConditions([{ type: "behavior", event: schema?.events[0] ?? "", min_count: 1 }]);
        }}
      >
        New cohort
      </button>
    );
  const list = ids
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = { name, description };
    if (kind === "static") body.distinct_ids = [...new Set(list)];
    else body.criteria = { match, conditions: conditions.map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => !blank(v)))) };
    void action.run(async () => {
      await api("POST", `${base}/cohorts`, body);
      reloadCohorts();
      navigate(`${url}/cohorts/${enc(name)}`);
    });
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="New cohort">
      <div className="row">
        <NameFields name={name} setName={setName} description={description} setDescription={setDescription} />
      </div>
      <div className="row" role="radiogroup" aria-label="Cohort kind">
        <label className="bh-check">
          <input type="radio" name="kind" checked={kind === "static"} onChange={() => setKind("static")} />
          static: a list of ids
        </label>
        <label className="bh-check">
          <input type="radio" name="kind" checked={kind === "dynamic"} onChange={() => setKind("dynamic")} />
          dynamic: persons matching conditions, at every use
        </label>
      </div>
      {kind === "static" ? (
        <Field label={`Distinct ids (one a line, or separated by commas or spaces): ${list.length.toLocaleString()}`}>
          <textarea name="ids" rows={6} value={ids} onChange={(e) => setIds(e.target.value)} spellCheck={false} />
        </Field>
      ) : (
        <div className="bh-conditions">
          <Field label="Persons who match">
            <select aria-label="Match" value={match} onChange={(e) => setMatch(e.target.value as "all" | "any")}>
              <option value="all">all of the conditions</option>
              <option value="any">any of the conditions</option>
            </select>
          </Field>
          {conditions.map((c, i) => (
            <ConditionRow
              key={i}
              c={c}
              set={(x) => setConditions(conditions.map((y, j) => (j === i ? x : y)))}
              remove={conditions.length > 1 ? () => setConditions(conditions.filter((_, j) => j !== i)) : undefined}
            />
          ))}
          <div>
            <button type="button" className="secondary" onClick={() => setConditions([...conditions, { type: "behavior", event: schema?.events[0] ?? "", min_count: 1 }])}>
              Add condition
            </button>
          </div>
          <p className="muted">At least 0 and at most 0 times: never did it.</p>
        </div>
      )}
      <ErrorLine error={action.error} />
      <FormButtons submit="Create cohort" disabled={action.busy || !name || (kind === "static" ? list.length === 0 : conditions.length === 0)} onCancel={() => setOpen(false)} />
    </form>
  );
}

function CohortPage() {
  const { base, url, reloadCohorts } = useProject();
  const { cohort = "" } = useParams();
  const path = `${base}/cohorts/${enc(cohort)}`;
  const c = useApi<Cohort>(path);
  const [offset, setOffset] = useState(0);
  const limit = 50;
  const persons = useApi<PersonList>(`${path}/persons?limit=${limit}&offset=${offset}`);
  const action = useRun();
  const navigate = useNavigate();
  const total = persons.data?.total ?? 0;
  return (
    <section aria-label={`Cohort ${cohort}`}>
      <div className="page-header">
        <h2>Cohort {cohort}</h2>
        <div className="actions">
          <button
            className="secondary"
            onClick={() => {
              c.reload();
              persons.reload();
            }}
          >
            Refresh
          </button>
          <Allowed permission="behavior:write">
            <button
              className="danger"
              disabled={action.busy}
              onClick={() =>
                void action.run(() => api("DELETE", path)).then((ok) => {
                  if (!ok) return;
                  reloadCohorts();
                  navigate(`${url}/cohorts`);
                })
              }
            >
              Delete cohort
            </button>
          </Allowed>
        </div>
      </div>
      <ErrorLine error={c.error ?? action.error} />
      {c.data && (
        <dl className="facts">
          <dt>Size now</dt>
          <dd data-testid="cohort-size">{(c.data.size ?? 0).toLocaleString()}</dd>
          <dt>Kind</dt>
          <dd>{c.data.distinct_ids ? "static" : "dynamic (evaluated at every use)"}</dd>
          <dt>Definition</dt>
          <dd>{describeCohort(c.data)}</dd>
          {c.data.description && (
            <>
              <dt>Description</dt>
              <dd>{c.data.description}</dd>
            </>
          )}
          <dt>Owner</dt>
          <dd>{c.data.owner}</dd>
          <dt>Updated</dt>
          <dd>{when(c.data.updated)}</dd>
        </dl>
      )}
      <h3>Persons</h3>
      <ErrorLine error={persons.error} />
      <DataTable
        rows={persons.data?.persons ?? []}
        rowKey={(p) => p.distinct_id}
        empty={persons.loading ? "Loading…" : "No persons."}
        columns={[
          personColumn(url),
          { title: "Properties", render: (p) => <Props props={p.properties} /> },
        ]}
      />
      <Pager from={offset} size={limit} total={total} go={setOffset} />
    </section>
  );
}

// ---- the churn model ----

const CHURN_BINS = 10;
const training = (m: ChurnModel | null | undefined) => m?.state === "preparing" || m?.state === "training";
const probability = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function ChurnPage() {
  const { base, url, name, reloadSchema } = useProject();
  // Followed every 1.5 s while it prepares or trains (and from a training started here until
  // its first state comes).
  const [waiting, setWaiting] = useState(false);
  const model = useApi<ChurnModel>(`${base}/models/churn`, 0);
  const none = model.error?.status === 404;
  const m = none ? null : model.data;
  const running = training(m);
  useEffect(() => {
    if (!training(model.data)) setWaiting(false);
  }, [model.data]);
  const { reload } = model;
  useEffect(() => {
    if (!running && !waiting) return;
    const t = setInterval(reload, 1500);
    return () => clearInterval(t);
  }, [running, waiting, reload]);
  // The persons with the probability written, read once per scoring.
  const scoredKey = m?.state === "scored" ? `${m.model_version}|${m.finished}` : null;
  const [persons, setPersons] = useState<PersonList | null>(null);
  const [personsError, setPersonsError] = useState<ApiError | string | null>(null);
  useEffect(() => {
    if (!scoredKey) return;
    let live = true;
    setPersonsError(null);
    get<PersonList>(`${base}/persons?limit=10000`)
      .then((l) => live && setPersons(l))
      .catch((e) => live && setPersonsError(errorOf(e)));
    reloadSchema(); // the property written is a person property now
    return () => {
      live = false;
    };
  }, [base, scoredKey, reloadSchema]);
  const started = () => {
    setWaiting(true);
    reload();
  };
  return (
    <section aria-label="Churn">
      <p className="muted">
        A classifier of which persons are leaving: trained through the pipeline <code>churn-{name}</code> on the persons whose label property is set
        (one in five held out for its evaluation), then every person is scored and the probability written as a person property.
      </p>
      <Allowed permission="behavior:write">
        <TrainChurn model={m} started={started} />
      </Allowed>
      <h2>Model</h2>
      {none ? (
        <p className="muted" data-testid="churn-none">
          No churn model trained yet.
        </p>
      ) : (
        <ErrorLine error={model.error} />
      )}
      {!m && !none && !model.error && <p className="muted">Loading…</p>}
      {m && <ChurnFacts m={m} project={name} />}
      {m?.state === "scored" && (
        <>
          <ErrorLine error={personsError} />
          {persons ? <ChurnScores persons={persons} property={m.property ?? "churn_probability"} label={m.request?.label_property} url={url} /> : !personsError && <p className="muted">Loading the persons…</p>}
        </>
      )}
    </section>
  );
}

function TrainChurn({ model, started }: { model: ChurnModel | null; started: () => void }) {
  const { base, schema } = useProject();
  const [label, setLabel] = useState("");
  const [dateTo, setDateTo] = useState("");
  const [topEvents, setTopEvents] = useState<number | undefined>(20);
  const [property, setProperty] = useState("churn_probability");
  const [rounds, setRounds] = useState<number | undefined>(100);
  const [depth, setDepth] = useState<number | undefined>(4);
  const action = useRun();
  // The last training's settings, once, as the form's start (not its cut-off: empty is now).
  const [filled, setFilled] = useState(false);
  useEffect(() => {
    const req = model?.request;
    if (filled || !req) return;
    setFilled(true);
    if (req.label_property) setLabel(req.label_property);
    if (req.top_events !== undefined) setTopEvents(req.top_events);
    if (req.num_round !== undefined) setRounds(req.num_round);
    if (req.max_depth !== undefined) setDepth(req.max_depth);
    if (model?.property) setProperty(model.property);
  }, [model, filled]);
  const props = (schema?.person_properties ?? []).filter((p) => p !== property);
  const guess = props.find((p) => /churn|cancel|left|lost|leav/i.test(p)) ?? props[0] ?? "";
  const chosen = label && (props.includes(label) || !schema) ? label : guess;
  const running = training(model);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = { label_property: chosen, property: property.trim() || "churn_probability" };
    if (dateTo) body.date_to = dateTo;
    if (topEvents !== undefined) body.top_events = topEvents;
    if (rounds !== undefined) body.num_round = rounds;
    if (depth !== undefined) body.max_depth = depth;
    void action.run(() => api<ChurnModel>("POST", `${base}/models/churn`, body)).then((ok) => ok && started());
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="Train the churn model">
      <div className="bh-builder">
        <Field label="Label property (true: churned, false: stayed)">
          <select aria-label="Label property" value={chosen} onChange={(e) => setLabel(e.target.value)}>
            {props.length === 0 && <option value="">— no person properties yet —</option>}
            {props.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Cut-off date (events after it are not read; empty: now)">
          <input type="date" aria-label="Cut-off date" value={dateTo} onChange={(e) => setDateTo(e.target.value)} />
        </Field>
        <NumberField label="Top events" value={topEvents} set={setTopEvents} min={0} max={200} />
        <Field label="Property written">
          <input aria-label="Property written" value={property} onChange={(e) => setProperty(e.target.value)} maxLength={200} />
        </Field>
        <NumberField label="Rounds" value={rounds} set={setRounds} min={1} max={10000} />
        <NumberField label="Depth" value={depth} set={setDepth} min={1} max={20} />
      </div>
      <ErrorLine error={action.error} />
      <div className="row">
        <button type="submit" disabled={action.busy || running || !chosen}>
          {running ? "Training…" : "Train"}
        </button>
      </div>
    </form>
  );
}

function ChurnFacts({ m, project }: { m: ChurnModel; project: string }) {
  const modelName = `churn-${project}`;
  const n = (v: number | undefined) => (v === undefined ? "—" : v.toLocaleString());
  return (
    <>
      <dl className="facts" data-testid="churn-model">
        <dt>State</dt>
        <dd data-testid="churn-state">
          <StateBadge state={m.state} />
        </dd>
        {m.request?.label_property && (
          <>
            <dt>Label</dt>
            <dd>
              {m.request.label_property}
              {m.request.date_to ? `, events up to ${when(m.request.date_to)}` : ""}
            </dd>
          </>
        )}
        <dt>Model version</dt>
        <dd data-testid="churn-model-version">
          {m.model_version !== undefined ? <Link to={`/models/${enc(modelName)}/versions/${m.model_version}`}>{`${modelName} v${m.model_version}`}</Link> : "—"}
        </dd>
        <dt>Held-out AUC</dt>
        <dd data-testid="churn-auc">{typeof m.holdout_auc === "number" ? m.holdout_auc.toFixed(3) : "—"}</dd>
        <dt>Persons</dt>
        <dd data-testid="churn-persons">{n(m.persons)}</dd>
        <dt>Persons scored</dt>
        <dd data-testid="churn-scored">{n(m.scored)}</dd>
        <dt>Labelled (trained on)</dt>
        <dd data-testid="churn-labelled">{n(m.labelled)}</dd>
        <dt>Held out</dt>
        <dd data-testid="churn-held-out">{n(m.held_out)}</dd>
        <dt>Property written</dt>
        <dd>{m.property ?? "—"}</dd>
        <dt>Pipeline run</dt>
        <dd data-testid="churn-run">{m.pipeline_run !== undefined ? <Link to={`/pipeline-runs/${m.pipeline_run}`}>{`run ${m.pipeline_run}`}</Link> : "—"}</dd>
        <dt>Features</dt>
        <dd data-testid="churn-dataset">
          {m.dataset && m.version !== undefined ? <Link to={`/datasets/${enc(m.dataset)}/versions/${m.version}`}>{`${m.dataset} v${m.version}`}</Link> : "—"}
        </dd>
        <dt>Tracking run</dt>
        <dd>{m.tracking_run !== undefined && m.tracking_run !== null ? <Link to={`/runs/${enc(String(m.tracking_run))}`}>{String(m.tracking_run)}</Link> : "—"}</dd>
        {m.metrics && Object.keys(m.metrics).length > 0 && (
          <>
            <dt>Last round's metrics</dt>
            <dd>
              {Object.entries(m.metrics).map(([k, v]) => (
                <span key={k} className="tag">
                  {k}: {typeof v === "number" ? v.toPrecision(4) : String(v)}
                </span>
              ))}
            </dd>
          </>
        )}
        <dt>Started</dt>
        <dd>{when(m.started)}</dd>
        <dt>Finished</dt>
        <dd>{when(m.finished)}</dd>
      </dl>
      {m.state === "failed" && <ErrorLine error={m.error ?? "the training failed"} />}
      {training(m) && (
        <p className="muted" role="status">
          {m.state === "preparing" ? "Writing the features' dataset version…" : "The pipeline trains the model…"}
        </p>
      )}
      {m.features && m.features.length > 0 && (
        <>
          <h3>Features</h3>
          <ul className="bh-filters" aria-label="Features">
            {m.features.map((f) => (
              <li key={f} className="tag">
                {f}
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}

function ChurnScores({ persons, property, label, url }: { persons: PersonList; property: string; label?: string; url: string }) {
  const scored = persons.persons.flatMap((p) => {
    const v = probability(p.properties[property]);
    return v === null ? [] : [{ id: p.distinct_id, p: v, label: label ? p.properties[label] : undefined }];
  });
  const bins = Array.from({ length: CHURN_BINS }, (_, k) => ({ from: k / CHURN_BINS, to: (k + 1) / CHURN_BINS, count: 0 }));
  for (const s of scored) bins[Math.min(CHURN_BINS - 1, Math.max(0, Math.floor(s.p * CHURN_BINS)))].count++;
  const risk = [...scored].sort((a, b) => b.p - a.p || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, 20);
  const without = persons.persons.length - scored.length;
  const show = (v: unknown) => (v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));
  return (
    <>
      <h3>Churn probability</h3>
      <p className="muted" data-testid="churn-histogram-summary">
        {scored.length.toLocaleString()} persons with {property}
        {without > 0 ? `; ${without.toLocaleString()} without` : ""}
        {persons.total > persons.persons.length ? ` (of the first ${persons.persons.length.toLocaleString()} of ${persons.total.toLocaleString()} persons)` : ""}
      </p>
      <Histogram bins={bins} label="Churn probability" />
      <section aria-label="Most at risk">
        <h3>The {Math.min(20, risk.length)} persons most at risk</h3>
        <DataTable
          rows={risk}
          rowKey={(r) => r.id}
          empty="No person has a probability."
          columns={[
            { title: "Person", render: (r) => <Link to={personLink(url, r.id)}>{r.id}</Link> },
            { title: "Probability", render: (r) => r.p.toFixed(4), className: "num" },
            ...(label ? [{ title: label, render: (r: { label?: unknown }) => show(r.label) }] : []),
          ]}
        />
      </section>
    </>
  );
}
