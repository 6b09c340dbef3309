// Jobs on the compute cluster: the list (filtered by state), and a job's page with its live
// log and a cancel button.
import { useEffect, useRef, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api, enc, send } from "../api";
import { useAuth } from "../auth";
import { useAction, useApi } from "../hooks";
import { DataTable, ErrorLine, PageHeader, StateBadge, when } from "../components/ui";

interface Job {
  id: number;
  name: string;
  owner: string;
  state: string;
  reason: string;
  exit_code: number | null;
  attempts: number;
  retries: number;
  node: string;
  executor: string;
  command: string[];
  resources: { cpus: number; memory_mb: number; gpus: number };
  gpu_indexes: number[];
  max_memory_mb?: number;
  sandbox: boolean;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const FINAL = ["succeeded", "failed", "cancelled", "timed_out"];
const STATES = ["", "queued", "running", "succeeded", "failed", "cancelled", "timed_out"];

function resources(j: Job): string {
  const r = j.resources;
  return `${r.cpus} CPU, ${r.memory_mb} MiB${r.gpus > 0 ? `, ${r.gpus} GPU` : ""}`;
}

export function JobsPage() {
  const [state, setState] = useState("");
  const jobs = useApi<{ jobs: Job[] }>(`/api/v1/jobs?page_size=200${state ? `&state=${state}` : ""}`, 3000);
  return (
    <>
      <PageHeader title="Jobs">
        <label>
          State{" "}
          <select value={state} onChange={(e) => setState(e.target.value)} aria-label="State">
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s || "all"}
              </option>
            ))}
          </select>
        </label>
      </PageHeader>
      <ErrorLine error={jobs.error} />
      <DataTable
        rows={jobs.data?.jobs ?? []}
        rowKey={(j) => String(j.id)}
        empty={jobs.loading ? "Loading…" : "No jobs (submit them with `aimass job run` or the API)."}
        columns={[
          { title: "ID", render: (j) => <Link to={`/jobs/${j.id}`}>{j.id}</Link> },
          { title: "Name", render: (j) => j.name },
          { title: "Owner", render: (j) => j.owner },
          { title: "State", render: (j) => <StateBadge state={j.state} /> },
          { title: "Exit", render: (j) => (j.exit_code ?? "—") },
          { title: "Node", render: (j) => j.node || "—" },
          { title: "Resources", render: resources },
          { title: "Created", render: (j) => when(j.created_at) },
        ]}
      />
    </>
  );
}

// The job's log, read from where it was left each second until the job has ended.
function useLog(id: string, ended: boolean) {
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const offset = useRef(0);
  const endedRef = useRef(ended);
  endedRef.current = ended;
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const step = async () => {
      try {
        // A last read after the job ended picks up what it wrote at the end.
        const wasEnded = endedRef.current;
        for (;;) {
          const res = await send("GET", `/api/v1/jobs/${enc(id)}/logs?offset=${offset.current}&limit=262144`);
          const chunk = await res.text();
          if (stop) return;
          if (chunk) {
            offset.current += new TextEncoder().encode(chunk).length;
            setText((t) => t + chunk);
          }
          if (chunk.length < 262144) break;
        }
        setError(null);
        if (wasEnded) return;
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e));
      }
      if (!stop) timer = setTimeout(step, 1000);
    };
    void step();
    return () => {
      stop = true;
      if (timer) clearTimeout(timer);
    };
  }, [id]);
  return { text, error };
}

export function JobPage() {
  const { name: id = "" } = useParams();
  const { me, can } = useAuth();
  const job = useApi<Job>(`/api/v1/jobs/${enc(id)}`, 1000);
  const ended = job.data ? FINAL.includes(job.data.state) : false;
  const mine = !!job.data && (job.data.owner === me?.username || can("jobs:admin"));
  const action = useAction();
  const cancel = () => void action.run(() => api("POST", `/api/v1/jobs/${enc(id)}/cancel`), job.reload);
  const j = job.data;
  return (
    <>
      <PageHeader title={j ? `Job ${j.id}: ${j.name}` : `Job ${id}`}>
        {j && !ended && mine && (
          <button className="danger" onClick={cancel}>
            Cancel
          </button>
        )}
      </PageHeader>
      <ErrorLine error={job.error ?? action.error} />
      {j && (
        <dl className="facts">
          <dt>State</dt>
          <dd>
            <StateBadge state={j.state} /> {j.reason && <span className="muted">{j.reason}</span>}
          </dd>
          <dt>Command</dt>
          <dd>
            <code>{j.command.join(" ")}</code>
          </dd>
          <dt>Owner</dt>
          <dd>{j.owner}</dd>
          <dt>Resources</dt>
          <dd>
            {resources(j)}
            {j.gpu_indexes.length > 0 && ` (GPU ${j.gpu_indexes.join(", ")})`}
            {j.max_memory_mb ? `; peak ${j.max_memory_mb} MiB` : ""}
          </dd>
          <dt>Where</dt>
          <dd>
            {j.executor} {j.node && `on ${j.node}`} {j.sandbox ? "(sandboxed)" : ""}
          </dd>
          <dt>Attempts</dt>
          <dd>
            {j.attempts} of {j.retries + 1}
          </dd>
          <dt>Exit code</dt>
          <dd>{j.exit_code ?? "—"}</dd>
          <dt>Created / started / finished</dt>
          <dd>
            {when(j.created_at)} / {when(j.started_at)} / {when(j.finished_at)}
          </dd>
        </dl>
      )}
      <h2>Log</h2>
      {j && mine ? <Log id={id} ended={ended} /> : j && <p className="muted">Only the job's owner (or jobs:admin) reads its log.</p>}
    </>
  );
}

function Log({ id, ended }: { id: string; ended: boolean }) {
  const log = useLog(id, ended);
  const ref = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.scrollTop = ref.current.scrollHeight;
  }, [log.text]);
  return (
    <>
      <ErrorLine error={log.error} />
      <pre className="log" ref={ref} data-testid="job-log">
        {log.text || (ended ? "(no output)" : "(waiting for output…)")}
      </pre>
    </>
  );
}
