// Labelling (module analysis): labelling projects over a dataset version's items. The list, each
// project with its progress as a bar (labelled and accepted items of all), and the form for a new
// project: its dataset, the schema's kind (one class, several, boxes on images, spans of a text),
// classes and their keys, the text column and the columns shown beside it, overlap and order. A
// project's page: its settings (edited in place), progress and four tabs: Review (the items by
// state with their labels, accept or reject one, accept every agreed one), Agreement (Fleiss'
// kappa overall and per label, Cohen's kappa per pair of annotators, each annotator's labels and
// agreement), Functions (labelling functions: the list, a new one, apply them: their coverage,
// conflicts and accuracy) and Export (the accepted or agreed labels as a new version of a table
// dataset). The annotation screen itself is in Annotate.tsx.
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc } from "../api";
import { useAuth } from "../auth";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, when } from "../components/ui";
import "../components/labelling.css";

// ---- the API's objects ----

export type SchemaKind = "single" | "multi" | "boxes" | "spans";

export interface LabelSchema {
  kind: SchemaKind;
  classes: string[];
  keys: string[];
  text_column?: string;
  show_columns?: string[];
}

export interface Progress {
  labels: number;
  labelled_items: number;
  complete_items: number;
  accepted: number;
  rejected: number;
  annotators: Record<string, number>;
  since_retrain: number;
}

export interface Project {
  name: string;
  source: { dataset: string; version: number; kind: "table" | "files" };
  items: number;
  schema: LabelSchema;
  owner: string;
  overlap: number;
  order: "sequential" | "random" | "uncertainty";
  seed: number;
  instructions: string;
  language?: string;
  prelabel: { deployment: string; classes?: string[]; columns?: string[] } | null;
  active_learning: { strategy: string; retrain_every: number };
  retrain: { pipeline: string; every: number; params?: Record<string, unknown> } | null;
  export_dataset: string;
  created_at: string;
  updated_at: string;
  progress?: Progress;
}

export interface Box {
  class: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Span {
  class: string;
  start: number;
  end: number;
}

// single: a class; multi: classes; boxes and spans: lists of them.
export type LabelValue = string | string[] | Box[] | Span[];

interface Item {
  id: number;
  state: "unlabelled" | "labelled" | "accepted" | "rejected";
  labels: { annotator: string; value: LabelValue }[];
  accepted?: LabelValue;
}

interface Agreement {
  kind: SchemaKind;
  items: number;
  fleiss: { kappa: number; items: number; raters: number; per_label: Record<string, number> } | null;
  pairs: { a: string; b: string; items: number; kappa: number | null }[];
  annotators: { annotator: string; labels: number; mean_kappa: number | null; accepted_agreement: number | null }[];
}

interface LabellingFunction {
  name: string;
  kind: "keyword" | "regex" | "rule";
  label: string;
  column?: string;
  keywords?: string[];
  pattern?: string;
  op?: string;
  value?: string | number | boolean;
}

interface Applied {
  functions: { name: string; coverage: number; conflict: number; estimated_accuracy: number; labelled_accuracy: number | null }[];
  labelled_items: number;
  coverage: number;
  accuracy_on_labels: number | null;
}

interface DatasetInfo {
  name: string;
  kind: "table" | "files";
  latest_version: number | null;
}

interface VersionInfo {
  dataset: string;
  version: number;
  row_count: number;
  schema: { name: string; type: string }[];
}

export const PROJECTS = "/api/v1/labelling/projects";
export const projectPath = (name: string) => `${PROJECTS}/${enc(name)}`;

const KIND_LABELS: Record<SchemaKind, string> = {
  single: "One class",
  multi: "Several classes",
  boxes: "Boxes on images",
  spans: "Spans of a text",
};
const ORDERS = ["sequential", "random", "uncertainty"];
const STATES = ["all", "unlabelled", "labelled", "accepted", "rejected"];

// ---- formatting ----

// A kappa or a share with three decimals (negative kappas too); — when there is none.
export const f3 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(3));
const pct = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : `${(v * 100).toFixed(1)}%`);

// A label as text: a class as itself, several joined, boxes and spans with their place.
export function valueText(v: LabelValue | undefined | null, text?: string): string {
  if (v === undefined || v === null) return "—";
  if (typeof v === "string") return v;
  if (v.length === 0) return "(none)";
  if (typeof v[0] === "string") return (v as string[]).join(", ");
  return (v as (Box | Span)[])
    .map((x) => {
      if ("w" in x) return `${x.class} (${Math.round(x.x)}, ${Math.round(x.y)}) ${Math.round(x.w)}×${Math.round(x.h)}`;
      if (text !== undefined) return `${x.class} “${[...text].slice(x.start, x.end).join("")}”`;
      return `${x.class} ${x.start}–${x.end}`;
    })
    .join("; ");
}

// The colour of a class (cycling through ten), as a CSS class.
export const classColor = (schema: LabelSchema, c: string) => `lbl-c${Math.max(0, schema.classes.indexOf(c)) % 10}`;

// A bar of the items: accepted, then labelled, of all.
export function ProgressBar({ p }: { p: Project }) {
  const g = p.progress;
  if (!g) return <span className="muted">…</span>;
  const share = (n: number) => `${p.items ? Math.min(100, (100 * n) / p.items) : 0}%`;
  return (
    <div className="lbl-progress" title={`${g.labelled_items} of ${p.items} items labelled, ${g.accepted} accepted`}>
      <span
        className="lbl-progress-track"
        role="meter"
        aria-label={`Progress of ${p.name}`}
        aria-valuemin={0}
        aria-valuemax={p.items}
        aria-valuenow={g.labelled_items}
      >
        <span className="lbl-progress-labelled" style={{ width: share(g.labelled_items) }} />
        <span className="lbl-progress-accepted" style={{ width: share(g.accepted) }} />
      </span>
      <span className="lbl-progress-text" data-testid="progress-text">
        {g.labelled_items.toLocaleString()} / {p.items.toLocaleString()} labelled, {g.accepted.toLocaleString()} accepted
      </span>
    </div>
  );
}

// ---- the list ----

export function LabellingProjectsPage() {
  const [open, setOpen] = useState(false);
  const projects = useApi<{ projects: Project[] }>(PROJECTS);
  const rows = projects.data?.projects ?? [];
  return (
    <>
      <PageHeader title="Labelling">
        <Allowed permission="labelling:write">{!open && <button onClick={() => setOpen(true)}>New project</button>}</Allowed>
      </PageHeader>
      <p className="muted">
        Labelling projects: annotators label a dataset version's items (one class, several, boxes on images or spans of a text) on a
        keyboard-driven screen; reviewers accept or reject them; the labels export as a new dataset version.
      </p>
      {open && <NewProject onCancel={() => setOpen(false)} />}
      <ErrorLine error={projects.error} />
      <section aria-label="Labelling projects">
        <DataTable
          rows={rows}
          rowKey={(p) => p.name}
          empty={projects.loading && !projects.data ? "Loading…" : "No labelling projects yet: create one."}
          columns={[
            { title: "Name", render: (p) => <Link to={`/labelling/${enc(p.name)}`}>{p.name}</Link> },
            {
              title: "Dataset",
              render: (p) => (
                <Link to={`/datasets/${enc(p.source.dataset)}/versions/${p.source.version}`}>
                  {p.source.dataset} v{p.source.version}
                </Link>
              ),
            },
            { title: "Kind", render: (p) => KIND_LABELS[p.schema.kind] ?? p.schema.kind },
            { title: "Classes", render: (p) => p.schema.classes.join(", ") },
            { title: "Items", render: (p) => p.items.toLocaleString(), className: "num" },
            { title: "Progress", render: (p) => <RowProgress name={p.name} /> },
            { title: "Owner", render: (p) => p.owner },
            { title: "Created", render: (p) => when(p.created_at) },
            {
              title: "",
              render: (p) => (
                <Allowed permission="labelling:annotate">
                  <Link to={`/labelling/${enc(p.name)}/annotate`}>Annotate</Link>
                </Allowed>
              ),
            },
          ]}
        />
      </section>
    </>
  );
}

// The list leaves progress out; each row reads its project's.
function RowProgress({ name }: { name: string }) {
  const p = useApi<Project>(projectPath(name));
  if (p.error) return <span className="error">{p.error.message}</span>;
  return p.data ? <ProgressBar p={p.data} /> : <span className="muted">…</span>;
}

const splitList = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");

function NewProject({ onCancel }: { onCancel: () => void }) {
  const [name, setName] = useState("");
  const [dataset, setDataset] = useState("");
  const [kind, setKind] = useState<SchemaKind>("single");
  const [classes, setClasses] = useState("");
  const [keys, setKeys] = useState("");
  const [textColumn, setTextColumn] = useState("");
  const [show, setShow] = useState<string[]>([]);
  const [overlap, setOverlap] = useState("1");
  const [order, setOrder] = useState("sequential");
  const [instructions, setInstructions] = useState("");
  const datasets = useApi<{ datasets: DatasetInfo[] }>("/api/v1/datasets?page_size=500");
  const picked = useApi<VersionInfo>(dataset ? `/api/v1/datasets/${enc(dataset)}/versions/latest` : null);
  const action = useAction();
  const navigate = useNavigate();
  const all = datasets.data?.datasets ?? [];
  const info = all.find((d) => d.name === dataset);
  const files = info?.kind === "files";
  const columns = picked.data && picked.data.dataset === dataset ? picked.data.schema : [];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const schema: Record<string, unknown> = { kind, classes: splitList(classes) };
    const k = [...keys.replace(/\s+/g, "")];
    if (k.length) schema.keys = k;
    if (textColumn) schema.text_column = textColumn;
    if (show.length) schema.show_columns = show;
    const n = Number(overlap);
    const body: Record<string, unknown> = { name: name.trim(), dataset, schema, overlap: Number.isInteger(n) ? n : overlap, order };
    if (instructions.trim()) body.instructions = instructions;
    void action.run(async () => {
      const p = await api<Project>("POST", PROJECTS, body);
      navigate(`/labelling/${enc(p.name)}`);
    });
  };
  return (
    <form className="card lbl-form" onSubmit={submit} aria-label="New labelling project" noValidate>
      <div className="lbl-form-grid">
        <Field label="Name">
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
        </Field>
        <Field label="Dataset">
          <select
            name="dataset"
            aria-label="Dataset"
            value={dataset}
            onChange={(e) => {
              setDataset(e.target.value);
              setTextColumn("");
              setShow([]);
            }}
          >
            <option value="">(choose a dataset)</option>
            {all.map((d) => (
              <option key={d.name} value={d.name}>
                {d.name} ({d.kind})
              </option>
            ))}
          </select>
        </Field>
        <Field label="Schema kind">
          <select name="kind" aria-label="Schema kind" value={kind} onChange={(e) => setKind(e.target.value as SchemaKind)}>
            {(Object.keys(KIND_LABELS) as SchemaKind[]).map((k) => (
              <option key={k} value={k}>
                {k}: {KIND_LABELS[k]}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Classes (comma separated)">
          <input name="classes" value={classes} onChange={(e) => setClasses(e.target.value)} placeholder="positive, negative, neutral" />
        </Field>
        <Field label="Keys (one character per class, optional)">
          <input name="keys" value={keys} onChange={(e) => setKeys(e.target.value)} placeholder="default: 1 2 3 … 9 0 a b …" />
        </Field>
        <Field label="Text column">
          <select name="text_column" aria-label="Text column" value={textColumn} onChange={(e) => setTextColumn(e.target.value)} disabled={!dataset || files}>
            <option value="">{files ? "(files: the image)" : "(none)"}</option>
            {columns.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name} ({c.type})
              </option>
            ))}
          </select>
        </Field>
        <Field label="Shown columns">
          <select
            name="show_columns"
            aria-label="Shown columns"
            multiple
            size={Math.min(5, Math.max(2, columns.length))}
            value={show}
            disabled={!dataset || files}
            onChange={(e) => setShow([...e.target.selectedOptions].map((o) => o.value))}
          >
            {columns.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Overlap (labels per item)">
          <input type="number" name="overlap" min={1} max={10} step={1} value={overlap} onChange={(e) => setOverlap(e.target.value)} />
        </Field>
        <Field label="Order">
          <select name="order" aria-label="Order" value={order} onChange={(e) => setOrder(e.target.value)}>
            {ORDERS.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <Field label="Instructions">
        <textarea name="instructions" rows={2} value={instructions} onChange={(e) => setInstructions(e.target.value)} />
      </Field>
      {datasets.data && all.length === 0 && (
        <p className="muted">
          No datasets: upload one on the <Link to="/datasets">Datasets</Link> page.
        </p>
      )}
      <p className="muted">
        Boxes need a files dataset of images; spans need a text column of a table. Order <code>uncertainty</code> asks an active learner
        for the item it is least sure of (one-class projects).
      </p>
      <ErrorLine error={datasets.error ?? picked.error} />
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy || !dataset || !name.trim()} onCancel={onCancel} />
    </form>
  );
}

// ---- a project ----

type Tab = "Review" | "Agreement" | "Functions" | "Export";
const TABS: Tab[] = ["Review", "Agreement", "Functions", "Export"];

export function LabellingProjectPage() {
  const { name = "" } = useParams();
  const path = projectPath(name);
  const [gone, setGone] = useState(false);
  const project = useApi<Project>(gone ? null : path);
  const [tab, setTab] = useState<Tab>("Review");
  const [editing, setEditing] = useState(false);
  const action = useAction();
  const navigate = useNavigate();
  const [prelabelled, setPrelabelled] = useState<{ items: number; model_version: string } | null>(null);
  const p = project.data;
  if (!p) return <ErrorLine error={project.error} />;

  const remove = () => {
    if (!window.confirm(`Delete labelling project ${p.name} with its labels? (Exported versions stay.)`)) return;
    setGone(true);
    void action.run(() => api("DELETE", path), () => navigate("/labelling")).then((ok) => !ok && setGone(false));
  };
  const prelabel = () =>
    void action.run(async () => setPrelabelled(await api<{ items: number; model_version: string }>("POST", `${path}/prelabel`)), project.reload);
  const g = p.progress;
  return (
    <>
      <PageHeader title={`Labelling project ${p.name}`}>
        <Allowed permission="labelling:annotate">
          <button onClick={() => navigate(`/labelling/${enc(p.name)}/annotate`)}>Annotate</button>
        </Allowed>
        <Allowed permission="labelling:write">
          {!editing && (
            <button className="secondary" onClick={() => setEditing(true)}>
              Edit settings
            </button>
          )}
          {p.prelabel && (
            <button className="secondary" onClick={prelabel} disabled={action.busy}>
              Pre-label all
            </button>
          )}
          <button className="danger" onClick={remove} disabled={action.busy}>
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={project.error ?? action.error} />
      {prelabelled && (
        <p className="notice" role="status">
          Pre-labelled {prelabelled.items.toLocaleString()} items with {prelabelled.model_version || "the deployment"}.
        </p>
      )}
      {editing && (
        <EditSettings
          p={p}
          onDone={() => {
            setEditing(false);
            project.reload();
          }}
        />
      )}
      <div className="two-columns">
        <dl className="facts" aria-label="Settings">
          <dt>Source</dt>
          <dd>
            <Link to={`/datasets/${enc(p.source.dataset)}/versions/${p.source.version}`}>
              {p.source.dataset} v{p.source.version}
            </Link>{" "}
            <span className="muted">({p.source.kind})</span>
          </dd>
          <dt>Schema</dt>
          <dd>
            {KIND_LABELS[p.schema.kind] ?? p.schema.kind}: <Classes schema={p.schema} />
          </dd>
          {p.schema.text_column && (
            <>
              <dt>Text column</dt>
              <dd>{p.schema.text_column}</dd>
            </>
          )}
          {p.schema.show_columns && (
            <>
              <dt>Shown columns</dt>
              <dd>{p.schema.show_columns.join(", ")}</dd>
            </>
          )}
          <dt>Overlap</dt>
          <dd data-testid="overlap">{p.overlap}</dd>
          <dt>Order</dt>
          <dd data-testid="order">
            {p.order}
            {p.order === "random" && <span className="muted"> (seed {p.seed})</span>}
            {p.order === "uncertainty" && (
              <span className="muted">
                {" "}
                ({p.active_learning.strategy}, retrained every {p.active_learning.retrain_every} labels)
              </span>
            )}
          </dd>
          <dt>Pre-labels</dt>
          <dd>{p.prelabel ? <Link to={`/deployments/${enc(p.prelabel.deployment)}`}>{p.prelabel.deployment}</Link> : <span className="muted">no deployment (the labelling functions', once applied)</span>}</dd>
          {p.retrain && (
            <>
              <dt>Retrain</dt>
              <dd>
                <Link to={`/pipelines/${enc(p.retrain.pipeline)}`}>{p.retrain.pipeline}</Link> every {p.retrain.every} labels
                {g && <span className="muted"> ({g.since_retrain} since the last)</span>}
              </dd>
            </>
          )}
          <dt>Export dataset</dt>
          <dd>{p.export_dataset}</dd>
          <dt>Owner</dt>
          <dd>{p.owner}</dd>
          <dt>Created / updated</dt>
          <dd>
            {when(p.created_at)} / {when(p.updated_at)}
          </dd>
          {p.instructions && (
            <>
              <dt>Instructions</dt>
              <dd className="lbl-instructions">{p.instructions}</dd>
            </>
          )}
        </dl>
        <div>
          <ProgressBar p={p} />
          {g && (
            <dl className="facts" aria-label="Progress">
              <dt>Items</dt>
              <dd data-testid="progress-items">{p.items.toLocaleString()}</dd>
              <dt>Labels</dt>
              <dd data-testid="progress-labels">{g.labels.toLocaleString()}</dd>
              <dt>Labelled items</dt>
              <dd data-testid="progress-labelled">{g.labelled_items.toLocaleString()}</dd>
              <dt>With all {p.overlap} labels</dt>
              <dd data-testid="progress-complete">{g.complete_items.toLocaleString()}</dd>
              <dt>Accepted / rejected</dt>
              <dd data-testid="progress-reviewed">
                {g.accepted.toLocaleString()} / {g.rejected.toLocaleString()}
              </dd>
              <dt>Annotators</dt>
              <dd data-testid="progress-annotators">
                {Object.keys(g.annotators).length === 0
                  ? "—"
                  : Object.entries(g.annotators)
                      .map(([who, n]) => `${who}: ${n}`)
                      .join(", ")}
              </dd>
            </dl>
          )}
        </div>
      </div>
      <div className="toolbar lbl-tabs" role="tablist" aria-label="Project">
        {TABS.map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "" : "secondary"} onClick={() => setTab(t)}>
            {t}
          </button>
        ))}
      </div>
      <section role="tabpanel" aria-label={tab}>
        {tab === "Review" && <ReviewTab p={p} changed={project.reload} />}
        {tab === "Agreement" && <AgreementTab p={p} />}
        {tab === "Functions" && <FunctionsTab p={p} />}
        {tab === "Export" && <ExportTab p={p} />}
      </section>
    </>
  );
}

function Classes({ schema }: { schema: LabelSchema }) {
  return (
    <span className="lbl-classes">
      {schema.classes.map((c, i) => (
        <span key={c} className={`tag ${classColor(schema, c)}`}>
          {schema.keys[i] && <kbd>{schema.keys[i]}</kbd>} {c}
        </span>
      ))}
    </span>
  );
}

function EditSettings({ p, onDone }: { p: Project; onDone: () => void }) {
  const [overlap, setOverlap] = useState(String(p.overlap));
  const [order, setOrder] = useState<string>(p.order);
  const [seed, setSeed] = useState(String(p.seed));
  const [instructions, setInstructions] = useState(p.instructions);
  const [exportDataset, setExportDataset] = useState(p.export_dataset);
  const [deployment, setDeployment] = useState(p.prelabel?.deployment ?? "");
  const action = useAction();
  const num = (s: string) => (s.trim() !== "" && Number.isInteger(Number(s)) ? Number(s) : s);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const patch: Record<string, unknown> = { overlap: num(overlap), order, seed: num(seed), instructions, export_dataset: exportDataset };
    const was = p.prelabel?.deployment ?? "";
    if (deployment.trim() !== was) patch.prelabel = deployment.trim() ? { ...(p.prelabel ?? {}), deployment: deployment.trim() } : null;
    void action.run(() => api("PATCH", projectPath(p.name), patch), onDone);
  };
  return (
    <form className="card lbl-form" onSubmit={submit} aria-label="Project settings" noValidate>
      <div className="lbl-form-grid">
        <Field label="Overlap (labels per item)">
          <input type="number" name="overlap" min={1} max={10} value={overlap} onChange={(e) => setOverlap(e.target.value)} />
        </Field>
        <Field label="Order">
          <select name="order" aria-label="Order" value={order} onChange={(e) => setOrder(e.target.value)}>
            {ORDERS.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Seed">
          <input type="number" name="seed" value={seed} onChange={(e) => setSeed(e.target.value)} />
        </Field>
        <Field label="Export dataset">
          <input name="export_dataset" value={exportDataset} onChange={(e) => setExportDataset(e.target.value)} />
        </Field>
        <Field label="Pre-label deployment">
          <input name="prelabel" value={deployment} onChange={(e) => setDeployment(e.target.value)} placeholder="(none)" />
        </Field>
      </div>
      <Field label="Instructions">
        <textarea name="instructions" rows={2} value={instructions} onChange={(e) => setInstructions(e.target.value)} />
      </Field>
      <ErrorLine error={action.error} />
      <FormButtons submit="Save" disabled={action.busy} onCancel={onDone} />
    </form>
  );
}

// ---- review ----

const PAGE = 50;

function ReviewTab({ p, changed }: { p: Project; changed: () => void }) {
  const [state, setState] = useState("all");
  const [offset, setOffset] = useState(0);
  const items = useApi<{ items: Item[]; total: number }>(`${projectPath(p.name)}/items?state=${state}&offset=${offset}&limit=${PAGE}`);
  const action = useAction();
  const [accepted, setAccepted] = useState<number | null>(null);
  const { can } = useAuth();
  const review = can("labelling:review");
  const done = () => {
    items.reload();
    changed();
  };
  const decide = (id: number, status: "accepted" | "rejected") =>
    void action.run(() => api("POST", `${projectPath(p.name)}/tasks/${id}/review`, { status }), done);
  const acceptAgreed = () =>
    void action.run(async () => setAccepted((await api<{ accepted: number }>("POST", `${projectPath(p.name)}/accept`)).accepted), done);
  const total = items.data?.total ?? 0;
  const rows = items.data?.items ?? [];
  return (
    <>
      <div className="toolbar">
        <Field label="State">
          <select
            aria-label="State"
            value={state}
            onChange={(e) => {
              setState(e.target.value);
              setOffset(0);
            }}
          >
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <span className="grow" />
        {review && (
          <button onClick={acceptAgreed} disabled={action.busy} title={`Accept every unreviewed item whose ${p.overlap} labels agree`}>
            Accept agreed
          </button>
        )}
      </div>
      {accepted !== null && (
        <p className="notice" role="status" data-testid="accepted-count">
          Accepted {accepted.toLocaleString()} {accepted === 1 ? "item" : "items"} whose labels agree.
        </p>
      )}
      <ErrorLine error={items.error ?? action.error} />
      <p className="muted" data-testid="items-total">
        {items.data ? `${total.toLocaleString()} ${state === "all" ? "" : `${state} `}items` : "Loading…"}
        {total > PAGE && items.data ? `, ${(offset + 1).toLocaleString()}–${Math.min(total, offset + PAGE).toLocaleString()} shown` : ""}
      </p>
      {rows.length > 0 && (
        <div className="table-wrap">
          <table aria-label="Items">
            <thead>
              <tr>
                <th>Item</th>
                <th>State</th>
                <th>Labels</th>
                <th>Accepted</th>
                {review && <th>Review</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((it) => (
                <tr key={it.id} data-id={it.id} data-state={it.state} data-labels={it.labels.length}>
                  <td className="num">{it.id}</td>
                  <td>
                    <StateBadge state={it.state} />
                  </td>
                  <td className="lbl-labels">
                    {it.labels.length === 0 && <span className="muted">—</span>}
                    {it.labels.map((l) => (
                      <span key={l.annotator} className="tag" data-annotator={l.annotator}>
                        <span className="muted">{l.annotator}:</span> {valueText(l.value)}
                      </span>
                    ))}
                  </td>
                  <td data-testid="accepted-value">{it.accepted !== undefined ? valueText(it.accepted) : ""}</td>
                  {review && (
                    <td className="lbl-actions">
                      {it.state !== "accepted" && it.labels.length > 0 && (
                        <button className="secondary" onClick={() => decide(it.id, "accepted")} disabled={action.busy}>
                          Accept
                        </button>
                      )}
                      {it.state !== "rejected" && it.labels.length > 0 && (
                        <button className="danger" onClick={() => decide(it.id, "rejected")} disabled={action.busy}>
                          Reject
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {items.data && rows.length === 0 && <p className="muted">No {state === "all" ? "" : `${state} `}items.</p>}
      {total > PAGE && (
        <div className="row">
          <button className="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Previous
          </button>
          <button className="secondary" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
            Next
          </button>
        </div>
      )}
      <p className="muted">Rejecting an item drops its labels and puts it back in the queue; accepting takes the majority of its labels.</p>
    </>
  );
}

// ---- agreement ----

function AgreementTab({ p }: { p: Project }) {
  const a = useApi<Agreement>(`${projectPath(p.name)}/agreement`);
  const r = a.data;
  if (!r) return <ErrorLine error={a.error} />;
  const per = r.fleiss ? Object.entries(r.fleiss.per_label) : [];
  return (
    <>
      <ErrorLine error={a.error} />
      <dl className="facts" aria-label="Agreement">
        <dt>Items with labels</dt>
        <dd data-testid="agreement-items">{r.items.toLocaleString()}</dd>
        <dt>Fleiss' kappa</dt>
        <dd data-testid="fleiss-kappa" data-value={r.fleiss?.kappa ?? ""}>
          {r.fleiss ? f3(r.fleiss.kappa) : "—"}
          {r.fleiss && (
            <span className="muted">
              {" "}
              (over {r.fleiss.items.toLocaleString()} items with {r.fleiss.raters} raters each)
            </span>
          )}
        </dd>
      </dl>
      {!r.fleiss && <p className="muted">Fleiss' kappa needs items labelled by at least two annotators each.</p>}
      {per.length > 0 && (
        <>
          <h3>Per label</h3>
          <div className="table-wrap">
            <table aria-label="Kappa per label">
              <thead>
                <tr>
                  <th>Label</th>
                  <th className="num">Kappa</th>
                </tr>
              </thead>
              <tbody>
                {per.map(([label, k]) => (
                  <tr key={label} data-label={label} data-kappa={k}>
                    <td>{label}</td>
                    <td className="num">{f3(k)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <h3>Pairs of annotators</h3>
      {r.pairs.length === 0 ? (
        <p className="muted">No two annotators labelled the same items yet.</p>
      ) : (
        <div className="table-wrap">
          <table aria-label="Pairs">
            <thead>
              <tr>
                <th>Annotator</th>
                <th>Annotator</th>
                <th className="num">Items</th>
                <th className="num">Cohen's kappa</th>
              </tr>
            </thead>
            <tbody>
              {r.pairs.map((x) => (
                <tr key={`${x.a}\u0000${x.b}`} data-a={x.a} data-b={x.b} data-items={x.items} data-kappa={x.kappa ?? ""}>
                  <td>{x.a}</td>
                  <td>{x.b}</td>
                  <td className="num">{x.items.toLocaleString()}</td>
                  <td className="num">{f3(x.kappa)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>Annotators</h3>
      {r.annotators.length === 0 ? (
        <p className="muted">No labels yet.</p>
      ) : (
        <div className="table-wrap">
          <table aria-label="Annotators">
            <thead>
              <tr>
                <th>Annotator</th>
                <th className="num">Labels</th>
                <th className="num">Mean kappa</th>
                <th className="num">Agreement with accepted</th>
              </tr>
            </thead>
            <tbody>
              {r.annotators.map((x) => (
                <tr
                  key={x.annotator}
                  data-annotator={x.annotator}
                  data-labels={x.labels}
                  data-mean-kappa={x.mean_kappa ?? ""}
                  data-accepted-agreement={x.accepted_agreement ?? ""}
                >
                  <td>{x.annotator}</td>
                  <td className="num">{x.labels.toLocaleString()}</td>
                  <td className="num">{f3(x.mean_kappa)}</td>
                  <td className="num">{pct(x.accepted_agreement)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="muted">
        Kappa: 1 is full agreement, 0 what chance gives. Agreement with accepted: the share of an annotator's labels equal to the accepted value,
        over their items that were accepted.
      </p>
    </>
  );
}

// ---- labelling functions ----

const OPS = ["=", "!=", ">", ">=", "<", "<=", "contains"];

function functionText(f: LabellingFunction): string {
  const on = f.column ? ` in ${f.column}` : "";
  if (f.kind === "keyword") return `any of ${(f.keywords ?? []).join(", ")}${on}`;
  if (f.kind === "regex") return `/${f.pattern ?? ""}/${on}`;
  return `${f.column} ${f.op} ${JSON.stringify(f.value)}`;
}

function FunctionsTab({ p }: { p: Project }) {
  const path = `${projectPath(p.name)}/functions`;
  const fns = useApi<{ functions: LabellingFunction[] }>(path);
  const action = useAction();
  const [applied, setApplied] = useState<Applied | null>(null);
  const [open, setOpen] = useState(false);
  if (p.schema.kind !== "single") return <p className="muted">Labelling functions vote for one class: they are for one-class projects.</p>;
  const list = fns.data?.functions ?? [];
  const apply = () => void action.run(async () => setApplied(await api<Applied>("POST", `${path}/apply`)));
  const remove = (name: string) => void action.run(() => api("DELETE", `${path}/${enc(name)}`), fns.reload);
  return (
    <>
      <div className="toolbar">
        <Allowed permission="labelling:write">
          {!open && (
            <button className="secondary" onClick={() => setOpen(true)}>
              New function
            </button>
          )}
          <button onClick={apply} disabled={action.busy || list.length === 0}>
            Apply
          </button>
        </Allowed>
      </div>
      {open && (
        <NewFunction
          p={p}
          onDone={() => {
            setOpen(false);
            fns.reload();
          }}
        />
      )}
      <ErrorLine error={fns.error ?? action.error} />
      <section aria-label="Functions">
        <DataTable
          rows={list}
          rowKey={(f) => f.name}
          empty={fns.loading && !fns.data ? "Loading…" : "No labelling functions yet."}
          columns={[
            { title: "Name", render: (f) => f.name },
            { title: "Kind", render: (f) => f.kind },
            { title: "Votes for", render: (f) => <span className={`tag ${classColor(p.schema, f.label)}`}>{f.label}</span> },
            { title: "When", render: (f) => <code>{functionText(f)}</code> },
            {
              title: "",
              render: (f) => (
                <Allowed permission="labelling:write">
                  <button className="link" onClick={() => remove(f.name)} aria-label={`Remove ${f.name}`}>
                    Remove
                  </button>
                </Allowed>
              ),
            },
          ]}
        />
      </section>
      {applied && (
        <>
          <h3>Applied</h3>
          <p data-testid="applied-summary">
            Pre-labelled {applied.labelled_items.toLocaleString()} items (coverage {pct(applied.coverage)}); accuracy on the labels given:{" "}
            {pct(applied.accuracy_on_labels)}.
          </p>
          <div className="table-wrap">
            <table aria-label="Function results">
              <thead>
                <tr>
                  <th>Function</th>
                  <th className="num">Coverage</th>
                  <th className="num">Conflict</th>
                  <th className="num">Estimated accuracy</th>
                  <th className="num">Accuracy on labels</th>
                </tr>
              </thead>
              <tbody>
                {applied.functions.map((f) => (
                  <tr key={f.name} data-name={f.name} data-coverage={f.coverage} data-conflict={f.conflict} data-estimated={f.estimated_accuracy} data-labelled={f.labelled_accuracy ?? ""}>
                    <td>{f.name}</td>
                    <td className="num">{pct(f.coverage)}</td>
                    <td className="num">{pct(f.conflict)}</td>
                    <td className="num">{pct(f.estimated_accuracy)}</td>
                    <td className="num">{pct(f.labelled_accuracy)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p className="muted">The items' pre-labels (source: functions) show on the annotation screen, where Enter accepts one.</p>
        </>
      )}
    </>
  );
}

function NewFunction({ p, onDone }: { p: Project; onDone: () => void }) {
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"keyword" | "regex" | "rule">("keyword");
  const [keywords, setKeywords] = useState("");
  const [pattern, setPattern] = useState("");
  const [column, setColumn] = useState("");
  const [op, setOp] = useState("=");
  const [value, setValue] = useState("");
  const [label, setLabel] = useState(p.schema.classes[0] ?? "");
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = { name: name.trim(), kind, label };
    if (column.trim()) body.column = column.trim();
    if (kind === "keyword") body.keywords = splitList(keywords);
    if (kind === "regex") body.pattern = pattern;
    if (kind === "rule") {
      const n = Number(value);
      body.op = op;
      body.value = value.trim() !== "" && Number.isFinite(n) ? n : value === "true" ? true : value === "false" ? false : value;
    }
    void action.run(() => api("POST", `${projectPath(p.name)}/functions`, body), onDone);
  };
  return (
    <form className="card lbl-form" onSubmit={submit} aria-label="New labelling function" noValidate>
      <div className="lbl-form-grid">
        <Field label="Function name">
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Function kind">
          <select name="kind" aria-label="Function kind" value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
            <option value="keyword">keyword</option>
            <option value="regex">regex</option>
            <option value="rule">rule</option>
          </select>
        </Field>
        {kind === "keyword" && (
          <Field label="Keywords (comma separated)">
            <input name="keywords" value={keywords} onChange={(e) => setKeywords(e.target.value)} />
          </Field>
        )}
        {kind === "regex" && (
          <Field label="Pattern">
            <input name="pattern" value={pattern} onChange={(e) => setPattern(e.target.value)} />
          </Field>
        )}
        <Field label={kind === "rule" ? "Column" : "Column (default: the text)"}>
          <input name="column" value={column} onChange={(e) => setColumn(e.target.value)} />
        </Field>
        {kind === "rule" && (
          <>
            <Field label="Operator">
              <select name="op" aria-label="Operator" value={op} onChange={(e) => setOp(e.target.value)}>
                {OPS.map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Value">
              <input name="value" value={value} onChange={(e) => setValue(e.target.value)} />
            </Field>
          </>
        )}
        <Field label="Votes for">
          <select name="label" aria-label="Votes for" value={label} onChange={(e) => setLabel(e.target.value)}>
            {p.schema.classes.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorLine error={action.error} />
      <FormButtons submit="Add" disabled={action.busy || !name.trim()} onCancel={onDone} />
    </form>
  );
}

// ---- export ----

function ExportTab({ p }: { p: Project }) {
  const [include, setInclude] = useState("accepted");
  const [dataset, setDataset] = useState("");
  const [made, setMade] = useState<{ dataset: string; version: number; rows: number } | null>(null);
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = { include };
    if (dataset.trim()) body.dataset = dataset.trim();
    void action.run(async () => setMade(await api<{ dataset: string; version: number; rows: number }>("POST", `${projectPath(p.name)}/export`, body)));
  };
  return (
    <>
      <p className="muted">
        The labels as a new version of a table dataset: the items' columns (a file's path) and <code>label</code> (a class, else the value as
        JSON), with the project in its lineage. <em>accepted</em>: the reviewed items; <em>agreed</em>: those too, and every item whose{" "}
        {p.overlap} labels agree.
      </p>
      <Allowed permission="labelling:write">
        <form className="toolbar" onSubmit={submit} aria-label="Export labels">
          <Field label="Include">
            <select aria-label="Include" value={include} onChange={(e) => setInclude(e.target.value)}>
              <option value="accepted">accepted</option>
              <option value="agreed">agreed</option>
            </select>
          </Field>
          <Field label="Dataset">
            <input name="dataset" value={dataset} onChange={(e) => setDataset(e.target.value)} placeholder={p.export_dataset} />
          </Field>
          <button type="submit" disabled={action.busy}>
            Export
          </button>
        </form>
      </Allowed>
      <ErrorLine error={action.error} />
      {made && (
        <p className="notice" role="status" data-testid="export-result">
          Exported {made.rows.toLocaleString()} {made.rows === 1 ? "row" : "rows"} to{" "}
          <Link to={`/datasets/${enc(made.dataset)}/versions/${made.version}`}>
            {made.dataset} version {made.version}
          </Link>
          .
        </p>
      )}
    </>
  );
}
