// Datasets: the list (with a create form), a dataset's page (versions, aliases, an upload form
// and its expectation suite), and a version's page (a preview of its rows, the profile with a
// histogram per column, the expectations' results and drift against another version).
import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, download, enc, upload } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, bytes, when } from "../components/ui";

interface Dataset {
  name: string;
  description: string;
  kind: "table" | "files";
  owner: string;
  latest_version: number | null;
  row_count: number | null;
  has_expectations: boolean;
  updated_at: string;
  aliases?: Record<string, number>;
  latest?: Version | null;
}

interface SchemaColumn {
  name: string;
  type: string;
  nullable: boolean;
}

interface Version {
  dataset: string;
  version: number;
  status: string;
  status_reason?: string;
  digest: string;
  row_count: number;
  byte_size: number;
  schema: SchemaColumn[];
  source: { format: string; bytes: number };
  parent: number | null;
  lineage: Record<string, unknown>;
  message: string;
  validation: "passed" | "failed" | null;
  created_by: string;
  created_at: string;
}

type Value = string | number | boolean | null;

interface ProfileColumn {
  name: string;
  type: string;
  count: number;
  missing: number;
  missing_fraction: number;
  distinct: number;
  distinct_exact: boolean;
  min?: Value;
  max?: Value;
  mean?: Value;
  std?: number | null;
  quantiles?: Record<string, Value>;
  histogram?: { edges: Value[]; counts: number[] };
  top: { value: Value; count: number }[];
}

interface Profile {
  row_count: number;
  duplicate_rows: number;
  missing_cells: number;
  columns: ProfileColumn[];
  correlations: { columns: string[]; matrix: (number | null)[][] };
  took_ms: number;
}

interface ExpectationResult {
  success: boolean;
  expectation_config: { expectation_type: string; kwargs: Record<string, unknown> };
  result: { unexpected_count?: number; unexpected_percent?: number; partial_unexpected_list?: Value[]; observed_value?: unknown };
  exception_info: { raised_exception: boolean; exception_message?: string };
}

interface Validation {
  success: boolean;
  results: ExpectationResult[];
  statistics: { evaluated_expectations: number; successful_expectations: number };
}

interface DriftColumn {
  name: string;
  type: string;
  psi: number | null;
  ks_statistic?: number;
  ks_p_value?: number;
  drifted: boolean;
}

const num = (v: unknown): string =>
  v === null || v === undefined ? "—" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);

const base = (name: string) => `/api/v1/datasets/${enc(name)}`;

export function DatasetsPage() {
  const list = useApi<{ datasets: Dataset[] }>("/api/v1/datasets?page_size=500");
  return (
    <>
      <PageHeader title="Datasets">
        <Allowed permission="datasets:write">
          <CreateDataset />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.datasets ?? []}
        rowKey={(d) => d.name}
        empty={list.loading ? "Loading…" : "No datasets yet: create one, then upload a CSV, TSV or JSON Lines file."}
        columns={[
          { title: "Name", render: (d) => <Link to={`/datasets/${enc(d.name)}`}>{d.name}</Link> },
          { title: "Kind", render: (d) => d.kind },
          { title: "Latest", render: (d) => d.latest_version ?? "—" },
          { title: "Rows", render: (d) => d.row_count?.toLocaleString() ?? "—" },
          { title: "Description", render: (d) => d.description },
          { title: "Owner", render: (d) => d.owner },
          { title: "Updated", render: (d) => when(d.updated_at) },
        ]}
      />
    </>
  );
}

function CreateDataset() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [kind, setKind] = useState("table");
  const action = useAction();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New dataset</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(() => api("POST", "/api/v1/datasets", { name, description, kind }), () => navigate(`/datasets/${enc(name)}`));
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label="Name">
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
      </Field>
      <Field label="Description">
        <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <Field label="Kind">
        <select name="kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="table">table (CSV, TSV, JSON Lines)</option>
          <option value="files">files (a tar of images, audio, text)</option>
        </select>
      </Field>
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy || !name} onCancel={() => setOpen(false)} />
    </form>
  );
}

// The Content-Type (and encoding) of a file by its name.
function typeOf(file: File, kind: string): Record<string, string> | null {
  const n = file.name.toLowerCase();
  if (kind === "files") return n.endsWith(".tar") || n.endsWith(".tar.gz") || n.endsWith(".tgz") ? { "Content-Type": "application/x-tar" } : null;
  const plain = n.endsWith(".gz") ? n.slice(0, -3) : n;
  const gz: Record<string, string> = n.endsWith(".gz") ? { "Content-Encoding": "gzip" } : {};
  if (plain.endsWith(".csv")) return { "Content-Type": "text/csv", ...gz };
  if (plain.endsWith(".tsv") || plain.endsWith(".tab")) return { "Content-Type": "text/tab-separated-values", ...gz };
  if (plain.endsWith(".jsonl") || plain.endsWith(".ndjson")) return { "Content-Type": "application/x-ndjson", ...gz };
  return null;
}

function UploadVersion({ dataset, kind, onDone }: { dataset: string; kind: string; onDone: (v: number) => void }) {
  const [open, setOpen] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const [append, setAppend] = useState(false);
  const [message, setMessage] = useState("");
  const [progress, setProgress] = useState(0);
  const action = useAction();
  if (!open) return <button onClick={() => setOpen(true)}>Upload version</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    const headers = typeOf(file, kind);
    if (!headers) {
      action.setError(kind === "files" ? "choose a .tar or .tar.gz" : "choose a .csv, .tsv or .jsonl file (optionally .gz)");
      return;
    }
    if (message) headers["X-Dataset-Metadata"] = JSON.stringify({ message }).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    setProgress(0);
    let created = 0;
    void action.run(async () => {
      const v = await upload<Version>(`${base(dataset)}/versions${append ? "?append=latest" : ""}`, file, headers, setProgress);
      created = v.version;
    }, () => {
      setOpen(false);
      setFile(null);
      onDone(created);
    });
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label={kind === "files" ? "A tar of files" : "A CSV, TSV or JSON Lines file (optionally gzip)"}>
        <input name="data" type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      </Field>
      <label>
        <input type="checkbox" name="append" checked={append} onChange={(e) => setAppend(e.target.checked)} /> append to the latest
        version
      </label>
      <Field label="Message">
        <input name="message" value={message} onChange={(e) => setMessage(e.target.value)} />
      </Field>
      {action.busy && <progress max={1} value={progress} aria-label="Upload progress" />}
      <ErrorLine error={action.error} />
      <FormButtons submit="Upload" disabled={action.busy || !file} onCancel={() => setOpen(false)} />
    </form>
  );
}

function Expectations({ dataset, has, onSaved }: { dataset: string; has: boolean; onSaved: () => void }) {
  // Read only when there is one: a dataset without a suite answers 404.
  const suite = useApi<unknown>(has ? `${base(dataset)}/expectations` : null);
  const [text, setText] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const shown = text ?? (suite.data ? JSON.stringify(suite.data, null, 2) : "");
  const save = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(shown);
    } catch {
      action.setError("the suite is not JSON");
      return;
    }
    void action.run(() => api("PUT", `${base(dataset)}/expectations`, parsed), () => {
      setSaved(true);
      onSaved();
    });
  };
  return (
    <section>
      <h2>Expectations</h2>
      <p className="muted">
        A Great Expectations suite (<code>{'{"expectations":[{"expectation_type","kwargs"}]}'}</code>), run on every new version.
      </p>
      <textarea
        name="expectations"
        aria-label="Expectation suite"
        rows={8}
        value={shown}
        placeholder={'{"expectations": [{"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]}'}
        onChange={(e) => setText(e.target.value)}
      />
      <ErrorLine error={action.error} />
      <Allowed permission="datasets:write">
        <button onClick={save} disabled={action.busy || !shown.trim()}>
          Save suite
        </button>
        {saved && !action.busy && <span className="muted"> Saved: it runs on every new version.</span>}
      </Allowed>
    </section>
  );
}

export function DatasetPage() {
  const { name = "" } = useParams();
  const dataset = useApi<Dataset>(base(name));
  const versions = useApi<{ versions: Version[] }>(`${base(name)}/versions?page_size=200`, 3000);
  const d = dataset.data;
  const navigate = useNavigate();
  return (
    <>
      <PageHeader title={`Dataset ${name}`}>
        <Allowed permission="datasets:write">
          {d && <UploadVersion dataset={name} kind={d.kind} onDone={(v) => navigate(`/datasets/${enc(name)}/versions/${v}`)} />}
        </Allowed>
      </PageHeader>
      <ErrorLine error={dataset.error ?? versions.error} />
      {d && (
        <dl className="facts">
          <dt>Kind</dt>
          <dd>{d.kind}</dd>
          <dt>Description</dt>
          <dd>{d.description || "—"}</dd>
          <dt>Owner</dt>
          <dd>{d.owner}</dd>
          <dt>Aliases</dt>
          <dd>
            {Object.entries(d.aliases ?? {}).map(([a, v]) => (
              <span key={a} className="badge">
                {a} → {v}
              </span>
            ))}
            {Object.keys(d.aliases ?? {}).length === 0 && "—"}
          </dd>
        </dl>
      )}
      <h2>Versions</h2>
      <DataTable
        rows={versions.data?.versions ?? []}
        rowKey={(v) => String(v.version)}
        empty={versions.loading ? "Loading…" : "No versions yet."}
        columns={[
          { title: "Version", render: (v) => <Link to={`/datasets/${enc(name)}/versions/${v.version}`}>{v.version}</Link> },
          { title: "Status", render: (v) => <StateBadge state={v.status} /> },
          { title: "Rows", render: (v) => v.row_count.toLocaleString() },
          { title: "Stored", render: (v) => bytes(v.byte_size) },
          { title: "Expectations", render: (v) => (v.validation ? <StateBadge state={v.validation} /> : "—") },
          { title: "Parent", render: (v) => v.parent ?? "—" },
          { title: "Message", render: (v) => v.message },
          { title: "By", render: (v) => v.created_by },
          { title: "Created", render: (v) => when(v.created_at) },
        ]}
      />
      {d && <Expectations dataset={name} has={d.has_expectations} onSaved={dataset.reload} />}
    </>
  );
}

function Preview({ dataset, version, total }: { dataset: string; version: number; total: number }) {
  const [offset, setOffset] = useState(0);
  const page = 25;
  const rows = useApi<{ columns: string[]; rows: Record<string, Value>[] }>(`${base(dataset)}/versions/${version}/rows?offset=${offset}&limit=${page}`);
  const cols = rows.data?.columns ?? [];
  return (
    <section>
      <h2>Rows</h2>
      <ErrorLine error={rows.error} />
      <div className="table-scroll">
        <table className="data preview" aria-label="Rows">
          <thead>
            <tr>
              <th>#</th>
              {cols.map((c) => (
                <th key={c}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {(rows.data?.rows ?? []).map((r, i) => (
              <tr key={offset + i}>
                <td className="muted">{offset + i}</td>
                {cols.map((c) => (
                  <td key={c} className={r[c] === null ? "muted" : ""}>
                    {r[c] === null ? "null" : String(r[c])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="row">
        <button className="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - page))}>
          Previous
        </button>
        <span className="muted">
          rows {total ? offset + 1 : 0}–{Math.min(total, offset + page)} of {total.toLocaleString()}
        </span>
        <button className="secondary" disabled={offset + page >= total} onClick={() => setOffset(offset + page)}>
          Next
        </button>
      </div>
    </section>
  );
}

// A column's histogram (numbers) or its most common values, as bars.
function Bars({ column }: { column: ProfileColumn }) {
  const bins = column.histogram
    ? column.histogram.counts.map((n, i) => ({ label: `${num(column.histogram!.edges[i])} – ${num(column.histogram!.edges[i + 1])}`, n }))
    : column.top.map((t) => ({ label: num(t.value), n: t.count }));
  const max = Math.max(1, ...bins.map((b) => b.n));
  return (
    <div className="histogram" role="img" aria-label={`${column.histogram ? "Histogram" : "Top values"} of ${column.name}`}>
      {bins.map((b, i) => (
        <div key={i} className="histogram-row" title={`${b.label}: ${b.n}`}>
          <span className="histogram-label">{b.label}</span>
          <span className="histogram-bar">
            <span className="histogram-fill" style={{ width: `${Math.max(0.5, (b.n / max) * 100)}%` }} />
          </span>
          <span className="histogram-count">{b.n.toLocaleString()}</span>
        </div>
      ))}
    </div>
  );
}

function ProfileView({ dataset, version }: { dataset: string; version: number }) {
  const profile = useApi<Profile>(`${base(dataset)}/versions/${version}/profile`);
  const p = profile.data;
  if (!p) return <ErrorLine error={profile.error} />;
  return (
    <section>
      <h2>Profile</h2>
      <p className="muted">
        {p.row_count.toLocaleString()} rows, {p.duplicate_rows.toLocaleString()} duplicate rows, {p.missing_cells.toLocaleString()} missing cells
        (profiled in {Math.round(p.took_ms)} ms)
      </p>
      <div className="profile-grid">
        {p.columns.map((c) => (
          <article key={c.name} className="card profile-column" aria-label={`Column ${c.name}`}>
            <h3>
              {c.name} <span className="badge">{c.type}</span>
            </h3>
            <dl className="facts compact">
              <dt>Count</dt>
              <dd>{c.count.toLocaleString()}</dd>
              <dt>Missing</dt>
              <dd>
                {c.missing.toLocaleString()} ({(c.missing_fraction * 100).toFixed(1)}%)
              </dd>
              <dt>Distinct</dt>
              <dd>
                {c.distinct.toLocaleString()}
                {c.distinct_exact ? "" : " (estimate)"}
              </dd>
              {c.min !== undefined && (
                <>
                  <dt>Min / max</dt>
                  <dd>
                    {num(c.min)} / {num(c.max)}
                  </dd>
                </>
              )}
              {c.mean !== undefined && (
                <>
                  <dt>Mean / std</dt>
                  <dd>
                    {num(c.mean)} / {num(c.std)}
                  </dd>
                </>
              )}
              {c.quantiles && (
                <>
                  <dt>Quartiles</dt>
                  <dd>
                    {num(c.quantiles["0.25"])} · {num(c.quantiles["0.5"])} · {num(c.quantiles["0.75"])}
                  </dd>
                </>
              )}
            </dl>
            <Bars column={c} />
          </article>
        ))}
      </div>
      {p.correlations.columns.length > 1 && (
        <>
          <h3>Correlations (Pearson)</h3>
          <table className="data" aria-label="Correlations">
            <thead>
              <tr>
                <th />
                {p.correlations.columns.map((c) => (
                  <th key={c}>{c}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {p.correlations.matrix.map((row, i) => (
                <tr key={i}>
                  <th>{p.correlations.columns[i]}</th>
                  {row.map((x, j) => (
                    <td key={j}>{num(x)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function ValidationView({ dataset, version }: { dataset: string; version: number }) {
  const validation = useApi<Validation>(`${base(dataset)}/versions/${version}/validation`);
  const v = validation.data;
  return (
    <section>
      <h2>Expectation results</h2>
      <ErrorLine error={validation.error} />
      {v && (
        <>
          <p>
            <StateBadge state={v.success ? "passed" : "failed"} /> {v.statistics.successful_expectations} of {v.statistics.evaluated_expectations}{" "}
            passed
          </p>
          <DataTable
            rows={v.results}
            rowKey={(r) => JSON.stringify(r.expectation_config)}
            columns={[
              { title: "Result", render: (r) => <StateBadge state={r.success ? "passed" : "failed"} /> },
              { title: "Expectation", render: (r) => r.expectation_config.expectation_type },
              { title: "Column", render: (r) => String(r.expectation_config.kwargs.column ?? "—") },
              {
                title: "Unexpected",
                render: (r) =>
                  r.exception_info.raised_exception
                    ? r.exception_info.exception_message
                    : r.result.unexpected_count !== undefined
                      ? `${r.result.unexpected_count} (${num(r.result.unexpected_percent)}%) ${(r.result.partial_unexpected_list ?? []).slice(0, 5).map(num).join(", ")}`
                      : `observed ${JSON.stringify(r.result.observed_value)}`,
              },
            ]}
          />
        </>
      )}
    </section>
  );
}

function DriftView({ dataset, version, versions }: { dataset: string; version: number; versions: number[] }) {
  const others = versions.filter((v) => v !== version);
  const [against, setAgainst] = useState<number | null>(null);
  useEffect(() => setAgainst(others.length ? others[0] : null), [version, others.length]);  // eslint-disable-line react-hooks/exhaustive-deps
  const drift = useApi<{ columns: DriftColumn[]; drifted_columns: number }>(
    against !== null ? `${base(dataset)}/versions/${version}/drift?against=${against}` : null,
  );
  if (!others.length) return null;
  return (
    <section>
      <h2>Drift</h2>
      <label>
        Against version{" "}
        <select aria-label="Against version" value={against ?? ""} onChange={(e) => setAgainst(Number(e.target.value))}>
          {others.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      </label>
      <ErrorLine error={drift.error} />
      {drift.data && (
        <DataTable
          rows={drift.data.columns}
          rowKey={(c) => c.name}
          columns={[
            { title: "Column", render: (c) => c.name },
            { title: "Type", render: (c) => c.type },
            { title: "PSI", render: (c) => num(c.psi) },
            { title: "KS", render: (c) => num(c.ks_statistic) },
            { title: "KS p-value", render: (c) => num(c.ks_p_value) },
            { title: "Drifted", render: (c) => (c.drifted ? <StateBadge state="drifted" /> : "no") },
          ]}
        />
      )}
    </section>
  );
}

export function DatasetVersionPage() {
  const { name = "", version = "" } = useParams();
  const v = useApi<Version>(`${base(name)}/versions/${enc(version)}`);
  const dataset = useApi<Dataset>(base(name));
  const versions = useApi<{ versions: Version[] }>(`${base(name)}/versions?page_size=200`);
  const data = v.data;
  // Poll while the version is being profiled.
  useEffect(() => {
    if (data?.status !== "building") return;
    const t = setTimeout(v.reload, 500);
    return () => clearTimeout(t);
  }, [data, v.reload]);
  const files = dataset.data?.kind === "files";
  const get = (format: string) => void download(`${base(name)}/versions/${enc(version)}/download?format=${format}`, `${name}-v${data?.version}.${format}`);
  return (
    <>
      <PageHeader title={`${name} version ${data?.version ?? version}`}>
        {data && data.status !== "failed" && (
          <>
            {files && <button onClick={() => get("tar")}>Download tar</button>}
            <button className="secondary" onClick={() => get("csv")}>
              {files ? "Manifest CSV" : "Download CSV"}
            </button>
            <button className="secondary" onClick={() => get("jsonl")}>
              JSON Lines
            </button>
          </>
        )}
      </PageHeader>
      <ErrorLine error={v.error} />
      {data && (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <StateBadge state={data.status} /> {data.status_reason && <span className="muted">{data.status_reason}</span>}
            </dd>
            <dt>Rows</dt>
            <dd>{data.row_count.toLocaleString()}</dd>
            <dt>Stored</dt>
            <dd>
              {bytes(data.byte_size)} (from {bytes(data.source.bytes)} of {data.source.format})
            </dd>
            <dt>Digest</dt>
            <dd>
              <code>{data.digest}</code>
            </dd>
            <dt>Lineage</dt>
            <dd>
              <code>{JSON.stringify(data.lineage)}</code>
            </dd>
            <dt>Schema</dt>
            <dd>
              {data.schema.map((c) => (
                <span key={c.name} className="badge" title={c.nullable ? "nullable" : "required"}>
                  {c.name}: {c.type}
                  {c.nullable ? "?" : ""}
                </span>
              ))}
            </dd>
          </dl>
          {data.status === "ready" && (
            <>
              <Preview dataset={name} version={data.version} total={data.row_count} />
              <ProfileView dataset={name} version={data.version} />
              {data.validation && <ValidationView dataset={name} version={data.version} />}
              <DriftView dataset={name} version={data.version} versions={(versions.data?.versions ?? []).filter((x) => x.status === "ready").map((x) => x.version)} />
            </>
          )}
          {data.status === "building" && <p className="muted">Profiling…</p>}
        </>
      )}
    </>
  );
}
