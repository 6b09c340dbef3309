// Collectors: the list with each one's state, rows, rate, lag and rejected count (a create form
// beside it), and a collector's page: its source, offset and last error, pause and resume, and
// the rows it rejected with the reasons.
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, when } from "../components/ui";

interface Status {
  state: string;
  rows?: number;
  batches?: number;
  rows_per_s?: number;
  last_batch_at?: string | null;
  last_version?: number | null;
  last_error?: string | null;
  offset?: unknown;
  lag?: { bytes?: number; messages?: number | null; files?: number; next_run?: string | null };
}

interface Collector {
  name: string;
  dataset: string;
  source: { type: string } & Record<string, unknown>;
  batch: { max_rows: number; max_wait_s: number };
  schedule?: string;
  owner: string;
  paused: boolean;
  rejected: number;
  push_url?: string;
  created_at: string;
  status: Status;
}

interface RejectedRow {
  id: number;
  position: string;
  row: string;
  reason: string;
  time: string;
}

function lag(s: Status): string {
  const l = s.lag;
  if (!l) return "—";
  if (l.bytes !== undefined) return `${l.bytes.toLocaleString()} B${l.files ? ` in ${l.files} files` : ""}`;
  if (l.messages !== undefined && l.messages !== null) return `${l.messages.toLocaleString()} messages`;
  if (l.next_run) return `next run ${when(l.next_run)}`;
  return "—";
}

const SOURCE_EXAMPLE = '{"type": "file_tail", "path": "/var/log/app.log", "format": "json"}';

function CreateCollector() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [dataset, setDataset] = useState("");
  const [source, setSource] = useState('{"type": "http"}');
  const [schedule, setSchedule] = useState("");
  const action = useAction();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New collector</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(source);
    } catch {
      action.setError("the source is not JSON");
      return;
    }
    const body: Record<string, unknown> = { name, dataset, source: parsed };
    if (schedule) body.schedule = schedule;
    void action.run(() => api("POST", "/api/v1/collectors", body), () => navigate(`/collectors/${enc(name)}`));
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label="Name">
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
      </Field>
      <Field label="Dataset">
        <input name="dataset" value={dataset} onChange={(e) => setDataset(e.target.value)} required />
      </Field>
      <Field label="Source (JSON: file_tail, directory, http, sql, mq)">
        <textarea name="source" rows={3} value={source} placeholder={SOURCE_EXAMPLE} onChange={(e) => setSource(e.target.value)} />
      </Field>
      <Field label="Schedule (sql sources: cron)">
        <input name="schedule" value={schedule} onChange={(e) => setSchedule(e.target.value)} />
      </Field>
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy || !name || !dataset} onCancel={() => setOpen(false)} />
    </form>
  );
}

export function CollectorsPage() {
  const list = useApi<{ collectors: Collector[] }>("/api/v1/collectors", 3000);
  return (
    <>
      <PageHeader title="Collectors">
        <Allowed permission="collectors:write">
          <CreateCollector />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.collectors ?? []}
        rowKey={(c) => c.name}
        empty={list.loading ? "Loading…" : "No collectors: create one to fill a dataset from files, pushes, SQL or a topic."}
        columns={[
          { title: "Name", render: (c) => <Link to={`/collectors/${enc(c.name)}`}>{c.name}</Link> },
          { title: "Dataset", render: (c) => <Link to={`/datasets/${enc(c.dataset)}`}>{c.dataset}</Link> },
          { title: "Source", render: (c) => c.source.type },
          { title: "State", render: (c) => <StateBadge state={c.status.state} /> },
          { title: "Rows", render: (c) => (c.status.rows ?? 0).toLocaleString() },
          { title: "Rows/s", render: (c) => (c.status.rows_per_s ?? 0).toFixed(1) },
          { title: "Lag", render: (c) => lag(c.status) },
          { title: "Rejected", render: (c) => c.rejected.toLocaleString() },
        ]}
      />
    </>
  );
}

export function CollectorPage() {
  const { name = "" } = useParams();
  const path = `/api/v1/collectors/${enc(name)}`;
  const col = useApi<Collector>(path, 2000);
  const rejected = useApi<{ rejected: RejectedRow[] }>(`${path}/rejected?page_size=100`, 5000);
  const action = useAction();
  const navigate = useNavigate();
  const c = col.data;
  const set = (verb: "pause" | "resume") => void action.run(() => api("POST", `${path}/${verb}`), col.reload);
  const remove = () => void action.run(() => api("DELETE", path), () => navigate("/collectors"));
  return (
    <>
      <PageHeader title={`Collector ${name}`}>
        <Allowed permission="collectors:write">
          {c && (c.paused ? <button onClick={() => set("resume")}>Resume</button> : <button onClick={() => set("pause")}>Pause</button>)}
          <button className="danger" onClick={remove}>
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={col.error ?? action.error} />
      {c && (
        <dl className="facts">
          <dt>State</dt>
          <dd>
            <StateBadge state={c.status.state} /> {c.status.last_error && <span className="error">{c.status.last_error}</span>}
          </dd>
          <dt>Dataset</dt>
          <dd>
            <Link to={`/datasets/${enc(c.dataset)}`}>{c.dataset}</Link>
            {c.status.last_version ? ` (last version ${c.status.last_version})` : ""}
          </dd>
          <dt>Source</dt>
          <dd>
            <code>{JSON.stringify(c.source)}</code>
            {c.schedule && ` on ${c.schedule}`}
          </dd>
          {c.push_url && (
            <>
              <dt>Push to</dt>
              <dd>
                <code>POST {c.push_url}</code>
              </dd>
            </>
          )}
          <dt>Batches</dt>
          <dd>
            up to {c.batch.max_rows.toLocaleString()} rows or {c.batch.max_wait_s} s; {c.status.batches ?? 0} written, the last{" "}
            {when(c.status.last_batch_at)}
          </dd>
          <dt>Rows</dt>
          <dd data-testid="collector-rows">
            {(c.status.rows ?? 0).toLocaleString()} since start, {(c.status.rows_per_s ?? 0).toFixed(1)} rows/s over the last minute
          </dd>
          <dt>Lag</dt>
          <dd>{lag(c.status)}</dd>
          <dt>Offset</dt>
          <dd>
            <code>{JSON.stringify(c.status.offset ?? null)}</code>
          </dd>
        </dl>
      )}
      <h2>Rejected rows ({c?.rejected ?? 0})</h2>
      <DataTable
        rows={rejected.data?.rejected ?? []}
        rowKey={(r) => String(r.id)}
        empty="None: every row read was stored."
        columns={[
          { title: "Time", render: (r) => when(r.time) },
          { title: "Reason", render: (r) => r.reason },
          { title: "Row", render: (r) => <code>{r.row.slice(0, 200)}</code> },
          { title: "Where", render: (r) => <span className="muted">{r.position}</span> },
        ]}
      />
    </>
  );
}
