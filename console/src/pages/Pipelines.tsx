// Pipelines: the list (with a form taking a spec in YAML or JSON), a pipeline's page (its
// graph, a run form with its params, its runs) and a run's page (the graph with each step's
// state as it changes, cache hits and the run they came from, each step's attempts, outputs
// and log; cancel and resume).
import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc, send } from "../api";
import { useAction, useApi } from "../hooks";
import { Dag, type DagNode } from "../components/Dag";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, when } from "../components/ui";

interface StepSpec {
  name: string;
  uses: string;
  needs: string[];
  with?: Record<string, unknown>;
  command?: string[];
  foreach?: unknown;
  when?: string;
}

interface Pipeline {
  id: number;
  name: string;
  owner: string;
  revision: number;
  spec: { name: string; description: string; params: Record<string, unknown>; schedule?: string; steps: StepSpec[] };
  created_at: string;
  updated_at: string;
}

interface Run {
  id: number;
  pipeline: string;
  state: string;
  owner: string;
  trigger: string;
  resumed_from: number | null;
  reason: string;
  params: Record<string, unknown>;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

interface StepRun {
  name: string;
  step: string;
  state: string;
  attempts: number;
  cached: boolean;
  cached_from_run: number | null;
  job: number | null;
  jobs: number[];
  outputs: Record<string, unknown>;
  reason: string;
  item?: unknown;
}

const FINAL = ["succeeded", "failed", "cancelled"];

const EXAMPLE = `name: example
params:
  greeting: hello
steps:
  - name: say
    command: ["sh", "-c", "echo \${{ params.greeting }}; echo ::aimass-output said=\${{ params.greeting }}"]
  - name: again
    needs: [say]
    command: ["echo", "\${{ steps.say.outputs.said }} again"]
`;

export function PipelinesPage() {
  const list = useApi<{ pipelines: Pipeline[] }>("/api/v1/pipelines?page_size=500");
  return (
    <>
      <PageHeader title="Pipelines">
        <Allowed permission="pipelines:write">
          <CreatePipeline />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.pipelines ?? []}
        rowKey={(p) => p.name}
        empty={list.loading ? "Loading…" : "No pipelines yet: create one from a spec."}
        columns={[
          { title: "Name", render: (p) => <Link to={`/pipelines/${enc(p.name)}`}>{p.name}</Link> },
          { title: "Steps", render: (p) => p.spec.steps.length },
          { title: "Schedule", render: (p) => p.spec.schedule ?? "—" },
          { title: "Description", render: (p) => p.spec.description },
          { title: "Owner", render: (p) => p.owner },
          { title: "Revision", render: (p) => p.revision },
          { title: "Updated", render: (p) => when(p.updated_at) },
        ]}
      />
    </>
  );
}

function CreatePipeline() {
  const [open, setOpen] = useState(false);
  const [spec, setSpec] = useState(EXAMPLE);
  const action = useAction();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New pipeline</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const res = await send("POST", "/api/v1/pipelines", spec, { "Content-Type": "application/yaml" });
      const p = (await res.json()) as Pipeline;
      navigate(`/pipelines/${enc(p.name)}`);
    });
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label="Spec (YAML or JSON)">
        <textarea name="spec" rows={14} cols={80} value={spec} onChange={(e) => setSpec(e.target.value)} spellCheck={false} />
      </Field>
      <FormButtons submit="Create" disabled={action.busy} onCancel={() => setOpen(false)} />
      <ErrorLine error={action.error} />
    </form>
  );
}

export function PipelinePage() {
  const { name = "" } = useParams();
  const pipeline = useApi<Pipeline>(`/api/v1/pipelines/${enc(name)}`);
  const runs = useApi<{ runs: Run[] }>(`/api/v1/pipelines/${enc(name)}/runs?page_size=100`, 3000);
  const [params, setParams] = useState<string | null>(null);
  const action = useAction();
  const navigate = useNavigate();
  const p = pipeline.data;
  if (!p) return <ErrorLine error={pipeline.error} />;
  const text = params ?? JSON.stringify(p.spec.params, null, 2);
  const run = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text || "{}");
      } catch {
        throw new Error("Params must be a JSON object");
      }
      const r = await api<Run>("POST", `/api/v1/pipelines/${enc(name)}/runs`, { params: parsed });
      navigate(`/pipeline-runs/${r.id}`);
    });
  };
  const remove = () => {
    if (!window.confirm(`Delete pipeline ${name}, its runs and its cache?`)) return;
    void action.run(() => api("DELETE", `/api/v1/pipelines/${enc(name)}`), () => navigate("/pipelines"));
  };
  const nodes: DagNode[] = p.spec.steps.map((s) => ({
    name: s.name,
    needs: s.needs,
    detail: s.uses + (s.foreach ? " · foreach" : "") + (s.when ? " · when" : ""),
  }));
  return (
    <>
      <PageHeader title={`Pipeline ${name}`}>
        <Allowed permission="pipelines:write">
          <button className="danger" onClick={remove} disabled={action.busy}>
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <p className="muted">
        {p.spec.description || "No description."} Revision {p.revision} by {p.owner}
        {p.spec.schedule ? `; runs on the schedule ${p.spec.schedule}` : ""}.
      </p>
      <div className="dag-wrap">
        <Dag nodes={nodes} />
      </div>
      <Allowed permission="pipelines:write">
        <form className="card inline-form" onSubmit={run}>
          <Field label="Params (JSON)">
            <textarea name="params" rows={4} cols={60} value={text} onChange={(e) => setParams(e.target.value)} spellCheck={false} />
          </Field>
          <div className="row">
            <button type="submit" disabled={action.busy}>
              Run
            </button>
          </div>
        </form>
      </Allowed>
      <ErrorLine error={action.error} />
      <h2>Runs</h2>
      <ErrorLine error={runs.error} />
      <DataTable
        rows={runs.data?.runs ?? []}
        rowKey={(r) => String(r.id)}
        empty="No runs yet."
        columns={[
          { title: "Run", render: (r) => <Link to={`/pipeline-runs/${r.id}`}>{r.id}</Link> },
          { title: "State", render: (r) => <StateBadge state={r.state} /> },
          { title: "Trigger", render: (r) => r.trigger + (r.resumed_from ? ` (of run ${r.resumed_from})` : "") },
          { title: "Owner", render: (r) => r.owner },
          { title: "Created", render: (r) => when(r.created_at) },
          { title: "Finished", render: (r) => when(r.finished_at) },
          { title: "Reason", render: (r) => r.reason },
        ]}
      />
      <h2>Spec</h2>
      <pre className="card">{JSON.stringify(p.spec, null, 2)}</pre>
    </>
  );
}

interface TuneTrial {
  index: number;
  params: Record<string, unknown>;
  round: number;
  state: string;
  score: number | null;
}

// One node per spec step: its items' states folded into one; a tune step's is its own row's
// (a failed trial does not fail the search), its trials counted while they run.
function runNodes(spec: StepSpec[], steps: StepRun[]): DagNode[] {
  return spec.map((s) => {
    const mine = steps.filter((x) => x.step === s.name);
    if (mine.length === 0) return { name: s.name, needs: s.needs, state: "pending", detail: "waiting" };
    if (s.uses === "tune") {
      const summary = mine.find((x) => x.name === s.name);
      const trials = mine.filter((x) => x.name !== s.name);
      const done = trials.filter((x) => FINAL.includes(x.state)).length;
      const best = summary?.outputs.best as { index: number; score: number } | undefined;
      return {
        name: s.name,
        needs: s.needs,
        state: summary ? summary.state : "running",
        cached: trials.length > 0 && trials.every((x) => x.cached),
        detail: best ? `best #${best.index}: ${+best.score.toFixed(4)}` : `${done}/${trials.length} trials`,
      };
    }
    const states = mine.map((x) => x.state);
    const order = ["failed", "running", "queued", "pending", "cancelled", "skipped", "succeeded"];
    const state = order.find((o) => states.includes(o)) ?? states[0];
    const cached = mine.every((x) => x.cached);
    const detail =
      mine.length > 1
        ? `${states.filter((x) => x === "succeeded").length}/${mine.length} items`
        : cached && mine[0].cached_from_run
          ? `from run ${mine[0].cached_from_run}`
          : mine[0].attempts > 1
            ? `${mine[0].attempts} attempts`
            : "";
    return { name: s.name, needs: s.needs, state, cached, detail };
  });
}

// A tune step's trials: what each tried, its round, state and score, the best marked.
function Trials({ steps, step }: { steps: StepRun[]; step: string }) {
  const summary = steps.find((x) => x.name === step && Array.isArray(x.outputs.trials));
  if (!summary) return null;
  const trials = summary.outputs.trials as TuneTrial[];
  const best = (summary.outputs.best as { index: number } | undefined)?.index;
  const keys = [...new Set(trials.flatMap((t) => Object.keys(t.params)))];
  return (
    <>
      <h2>Trials of {step}</h2>
      <DataTable
        rows={trials}
        rowKey={(t) => String(t.index)}
        columns={[
          { title: "Trial", render: (t) => `${step}[${t.index}]${t.index === best ? " ★ best" : ""}` },
          { title: "Round", render: (t) => t.round },
          ...keys.map((k) => ({ title: k, render: (t: TuneTrial) => JSON.stringify(t.params[k] ?? null) })),
          { title: "State", render: (t) => <StateBadge state={t.state} /> },
          { title: "Score", render: (t) => (t.score === null ? "—" : +t.score.toFixed(6)) },
        ]}
      />
    </>
  );
}

function StepLog({ run, step, live }: { run: number; step: string; live: boolean }) {
  const log = useApi<string>(`/api/v1/pipeline-runs/${run}/steps/${enc(step)}/logs`, live ? 2000 : 0);
  return (
    <>
      <h2>Log of {step}</h2>
      <ErrorLine error={log.error} />
      <pre className="log" aria-label={`Log of ${step}`}>
        {log.data || (log.loading ? "Loading…" : "(no output)")}
      </pre>
    </>
  );
}

export function PipelineRunPage() {
  const { id = "" } = useParams();
  const [live, setLive] = useState(true);
  const view = useApi<Run & { steps: StepRun[] }>(`/api/v1/pipeline-runs/${enc(id)}`, live ? 1500 : 0);
  const pipeline = useApi<Pipeline>(view.data ? `/api/v1/pipelines/${enc(view.data.pipeline)}` : null);
  const [selected, setSelected] = useState<string | null>(null);
  const action = useAction();
  const navigate = useNavigate();
  const r = view.data;
  useEffect(() => {
    if (r && FINAL.includes(r.state)) setLive(false);
  }, [r?.state]);
  if (!r) return <ErrorLine error={view.error} />;
  const spec = pipeline.data?.spec.steps ?? [];
  const cancel = () => void action.run(() => api("POST", `/api/v1/pipeline-runs/${r.id}/cancel`, {}), view.reload);
  const resume = () =>
    void action.run(async () => {
      const next = await api<Run>("POST", `/api/v1/pipeline-runs/${r.id}/resume`, {});
      setLive(true);
      navigate(`/pipeline-runs/${next.id}`);
    });
  const chosen = selected ? r.steps.filter((s) => s.step === selected || s.name === selected) : r.steps;
  return (
    <>
      <PageHeader title={`Run ${r.id} of ${r.pipeline}`}>
        <Allowed permission="pipelines:write">
          {!FINAL.includes(r.state) && (
            <button className="danger" onClick={cancel} disabled={action.busy}>
              Cancel
            </button>
          )}
          {(r.state === "failed" || r.state === "cancelled") && (
            <button onClick={resume} disabled={action.busy}>
              Resume
            </button>
          )}
        </Allowed>
      </PageHeader>
      <ErrorLine error={action.error} />
      <p>
        <StateBadge state={r.state} /> <Link to={`/pipelines/${enc(r.pipeline)}`}>{r.pipeline}</Link>, {r.trigger}
        {r.resumed_from ? (
          <>
            {" "}
            of <Link to={`/pipeline-runs/${r.resumed_from}`}>run {r.resumed_from}</Link>
          </>
        ) : null}{" "}
        by {r.owner}, created {when(r.created_at)}
        {r.finished_at ? `, finished ${when(r.finished_at)}` : ""}. {r.reason}
      </p>
      <p className="muted">Params: {JSON.stringify(r.params)}</p>
      <div className="dag-wrap">
        <Dag nodes={runNodes(spec, r.steps)} selected={selected ?? undefined} onSelect={(s) => setSelected(s === selected ? null : s)} />
      </div>
      <DataTable
        rows={chosen}
        rowKey={(s) => s.name}
        empty="No step has begun yet."
        columns={[
          { title: "Step", render: (s) => <button className="link" onClick={() => setSelected(s.name)}>{s.name}</button> },
          { title: "State", render: (s) => <StateBadge state={s.state} /> },
          { title: "Attempts", render: (s) => s.attempts },
          {
            title: "Cache",
            render: (s) =>
              s.cached && s.cached_from_run ? <Link to={`/pipeline-runs/${s.cached_from_run}`}>from run {s.cached_from_run}</Link> : "—",
          },
          { title: "Job", render: (s) => (s.job ? <Link to={`/jobs/${s.job}`}>{s.job}</Link> : "—") },
          { title: "Outputs", render: (s) => (Object.keys(s.outputs).length ? <code>{JSON.stringify(s.outputs)}</code> : "—") },
          { title: "Reason", render: (s) => s.reason },
        ]}
      />
      {selected && <Trials steps={r.steps} step={selected} />}
      {selected && r.steps.some((s) => s.name === selected && s.job) && (
        <StepLog run={r.id} step={selected} live={!FINAL.includes(r.state)} />
      )}
    </>
  );
}
