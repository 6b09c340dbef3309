// A deployment: what it serves, live charts per version (requests/s, p50/p99 latency, batch
// size, queue time, errors; sampled every second from /metrics of the deployment), a language
// model's engine (tokens/s, time to first token, inter-token time, sequences, KV blocks) with a
// link to the playground, the canary weight, promotion and rollback, and its traffic history.
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc, get } from "../api";
import { useAuth } from "../auth";
import { useAction, useApi } from "../hooks";
import type { Deployment } from "../types";
import { Chart, type Series } from "../components/Chart";
import { Allowed, DataTable, ErrorLine, PageHeader, StateBadge, when } from "../components/ui";
import "../components/playground.css";

interface Counter {
  count: number;
  ns: number;
}
// A language model's engine (framework llm): counters since the start, the last window's
// percentiles and rate.
interface LlmMetrics {
  prompt_tokens: number;
  generated_tokens: number;
  running: number;
  waiting: number;
  kv_blocks_used: number;
  kv_blocks_total: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  itl_p50_ms: number;
  itl_p99_ms: number;
  tokens_per_s: number;
}
interface VersionMetrics {
  version: number;
  role: string;
  success: Counter;
  fail: Counter;
  queue: Counter;
  inference_count: number;
  execution_count: number;
  window: { requests: number; errors: number; p50_ms: number; p99_ms: number };
  llm?: LlmMetrics;
}
interface Metrics {
  at: number;
  versions: VersionMetrics[];
}

const KEEP = 300;  // points: five minutes at one a second
const COLORS = ["#2f6fde", "#e0662f", "#3a9a4a", "#9b4fd1"];

interface Sample {
  t: number;
  rps: number;
  errors: number;
  p50: number;
  p99: number;
  batch: number;
  queueMs: number;
  tokensPerS: number;
  ttftP50: number;
}

// Per version, the rates between two readings of the counters.
function rates(prev: VersionMetrics | undefined, cur: VersionMetrics, dt: number, t: number): Sample {
  const d = (a: number, b: number | undefined) => Math.max(0, a - (b ?? a));
  const ok = d(cur.success.count, prev?.success.count);
  const execs = d(cur.execution_count, prev?.execution_count);
  const queued = d(cur.queue.count, prev?.queue.count);
  return {
    t,
    rps: prev ? ok / dt : 0,
    errors: prev ? d(cur.fail.count, prev.fail.count) / dt : 0,
    p50: cur.window.p50_ms,
    p99: cur.window.p99_ms,
    batch: execs ? d(cur.inference_count, prev?.inference_count) / execs : 0,
    queueMs: queued ? d(cur.queue.ns, prev?.queue.ns) / queued / 1e6 : 0,
    tokensPerS: cur.llm?.tokens_per_s ?? 0,
    ttftP50: cur.llm?.ttft_p50_ms ?? 0,
  };
}

function useLiveMetrics(name: string) {
  const [history, setHistory] = useState<Map<number, Sample[]>>(new Map());
  const [error, setError] = useState("");
  const [latest, setLatest] = useState<Metrics | null>(null);
  const last = useRef<Metrics | null>(null);
  useEffect(() => {
    let live = true;
    const poll = async () => {
      try {
        const m = await get<Metrics>(`/api/v1/deployments/${enc(name)}/metrics?window_s=10`);
        if (!live) return;
        const prev = last.current;
        const dt = prev ? Math.max(0.001, (m.at - prev.at) / 1000) : 1;
        const t = m.at / 1000;
        setHistory((h) => {
          const next = new Map(h);
          for (const v of m.versions) {
            const before = prev?.versions.find((p) => p.version === v.version);
            const list = [...(next.get(v.version) ?? []), rates(before, v, dt, t)].slice(-KEEP);
            next.set(v.version, list);
          }
          return next;
        });
        last.current = m;
        setLatest(m);
        setError("");
      } catch (e) {
        if (live) setError(e instanceof Error ? e.message : String(e));
      }
    };
    void poll();
    const timer = setInterval(poll, 1000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [name]);
  return { history, error, latest };
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

// The language-model engine of each version that has one, as the latest reading gives it.
function LlmPanel({ name, versions }: { name: string; versions: VersionMetrics[] }) {
  return (
    <section data-testid="llm-metrics" aria-label="Language model">
      <div className="llm-head">
        <h2>Language model</h2>
        <Link to={`/playground?model=${enc(name)}`} data-testid="open-playground">
          Open in playground
        </Link>
      </div>
      {versions.map((v) => {
        const l = v.llm!;
        const fraction = l.kv_blocks_total ? l.kv_blocks_used / l.kv_blocks_total : 0;
        const stat = (label: string, value: string, testid: string, title?: string) => (
          <div className="llm-stat" title={title}>
            <span className="muted">{label}</span>
            <strong data-testid={testid}>{value}</strong>
          </div>
        );
        return (
          <div key={v.version} className="card" data-testid="llm-version" data-version={v.version}>
            <p className="muted">
              Version {v.version} ({v.role}), the last 10 s
            </p>
            <div className="llm-stats">
              {stat("Tokens/s", l.tokens_per_s.toFixed(1), "llm-tokens-per-s", "generated tokens per second over the window")}
              {stat("Time to first token p50 / p99", `${ms(l.ttft_p50_ms)} / ${ms(l.ttft_p99_ms)} ms`, "llm-ttft")}
              {stat("Inter-token p50 / p99", `${ms(l.itl_p50_ms)} / ${ms(l.itl_p99_ms)} ms`, "llm-itl")}
              {stat("Running / waiting", `${l.running} / ${l.waiting}`, "llm-seqs", "sequences in the running batch and waiting for room")}
              {stat("Prompt / generated tokens", `${l.prompt_tokens.toLocaleString()} / ${l.generated_tokens.toLocaleString()}`, "llm-tokens", "since the version loaded")}
            </div>
            <div className="llm-kv">
              <span>KV cache blocks</span>
              <span
                className="llm-kv-track"
                role="meter"
                aria-label={`KV cache blocks of version ${v.version}`}
                aria-valuemin={0}
                aria-valuemax={l.kv_blocks_total}
                aria-valuenow={l.kv_blocks_used}
              >
                <span className={`llm-kv-fill${fraction >= 0.9 ? " full" : ""}`} style={{ width: `${Math.min(100, fraction * 100)}%` }} />
              </span>
              <span className="llm-kv-text" data-testid="llm-kv">
                {l.kv_blocks_used} / {l.kv_blocks_total} used
              </span>
            </div>
          </div>
        );
      })}
    </section>
  );
}

// uPlot wants one x array and one y array per series, aligned: versions are merged on time.
function aligned(history: Map<number, Sample[]>, pick: (s: Sample) => number): { data: number[][]; series: Series[] } {
  const versions = [...history.keys()].sort((a, b) => a - b);
  const times = [...new Set(versions.flatMap((v) => history.get(v)!.map((s) => s.t)))].sort((a, b) => a - b);
  const data: number[][] = [times];
  for (const v of versions) {
    const at = new Map(history.get(v)!.map((s) => [s.t, pick(s)]));
    data.push(times.map((t) => at.get(t) ?? (null as unknown as number)));
  }
  return { data, series: versions.map((v, i) => ({ label: `v${v}`, color: COLORS[i % COLORS.length] })) };
}

export function DeploymentPage() {
  const name = useParams().name!;
  const navigate = useNavigate();
  const { can } = useAuth();
  const dep = useApi<Deployment>(`/api/v1/deployments/${enc(name)}`, 3000);
  const { history, error, latest } = useLiveMetrics(name);
  const llmVersions = latest?.versions.filter((v) => v.llm) ?? [];
  const action = useAction();
  const d = dep.data;
  const candidate = d?.traffic?.candidate;
  const [weight, setWeight] = useState<number | null>(null);
  const shown = weight ?? d?.traffic?.weight ?? 0;
  const patch = (body: unknown, sent: number | null = null) =>
    action.run(() => api("PATCH", `/api/v1/deployments/${enc(name)}`, body), () => {
      // A value the user moved to while this one was being stored is still to be sent.
      setWeight((w) => (w === sent ? null : w));
      dep.reload();
    });
  // Ending the canary clears what only a canary may have: its weight, shadow traffic, autopilot.
  const noCanary = { candidate: null, weight: 0, shadow_percent: 0, auto: null };
  // The weight is stored once the slider has rested for a moment, not at every step.
  useEffect(() => {
    if (weight === null || !candidate) return;
    const t = setTimeout(() => void patch({ traffic: { candidate: { version: candidate.version }, weight } }, weight), 400);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [weight]);

  const charts: [string, string, (s: Sample) => number][] = [
    ["Requests per second", "req/s", (s) => s.rps],
    ["Latency p50 (last 10 s)", "ms", (s) => s.p50],
    ["Latency p99 (last 10 s)", "ms", (s) => s.p99],
    ["Batch size", "requests", (s) => s.batch],
    ["Queue time", "ms", (s) => s.queueMs],
    ["Errors per second", "err/s", (s) => s.errors],
    ...(llmVersions.length
      ? ([
          ["Tokens per second (last 10 s)", "tok/s", (s) => s.tokensPerS],
          ["Time to first token p50 (last 10 s)", "ms", (s) => s.ttftP50],
        ] as [string, string, (s: Sample) => number][])
      : []),
  ];

  return (
    <>
      <PageHeader title={<><Link to="/deployments">Deployments</Link> › {name}</>}>
        <Allowed permission="deployments:write">
          <button
            className="danger"
            onClick={() => confirm(`Delete deployment ${name}?`) && void action.run(() => api("DELETE", `/api/v1/deployments/${enc(name)}`), () => navigate("/deployments"))}
          >
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={dep.error ?? action.error} />
      {d && (
        <section className="card">
          <p>
            <StateBadge state={d.state} /> <Link to={`/models/${enc(d.model)}`}>{d.model}</Link> {d.alias ? `@${d.alias}` : `version ${d.version}`}
          </p>
          {d.reason && <p className="error">{d.reason}</p>}
          <p className="muted" data-testid="runner">
            {d.instances ?? 1} instance{(d.instances ?? 1) === 1 ? "" : "s"} × {d.threads || "auto"} threads · batches up to {d.max_batch_size || 1}
            {d.max_batch_size ? `, waiting up to ${((d.max_queue_delay_us ?? 0) / 1000).toFixed(1)} ms` : ""} · timeout {d.timeout_ms} ms
          </p>
          <DataTable
            rows={d.serving ?? []}
            rowKey={(s) => String(s.version)}
            columns={[
              { title: "Version", render: (s) => <Link to={`/models/${enc(d.model)}/versions/${s.version}`}>{s.version}</Link> },
              { title: "Role", render: (s) => s.role },
              { title: "Traffic", render: (s) => `${s.weight}%` },
            ]}
          />
          {candidate && (
            <div className="canary">
              <label>
                Canary weight for version {candidate.version}: <strong data-testid="weight">{shown}%</strong>
                <input
                  type="range"
                  min={0}
                  max={100}
                  value={shown}
                  disabled={!can("deployments:write")}
                  onChange={(e) => setWeight(Number(e.target.value))}
                  aria-label="Canary weight"
                />
              </label>
              <Allowed permission="deployments:write">
                <div className="row">
                  <button onClick={() => void patch({ version: candidate.version, traffic: noCanary })}>Promote</button>
                  <button className="secondary" onClick={() => void patch({ traffic: noCanary })}>
                    Roll back
                  </button>
                </div>
              </Allowed>
            </div>
          )}
        </section>
      )}
      {llmVersions.length > 0 && <LlmPanel name={name} versions={llmVersions} />}
      <section>
        <h2>Live</h2>
        <ErrorLine error={error} />
        <div className="charts">
          {charts.map(([title, unit, pick]) => {
            const { data, series } = aligned(history, pick);
            return <Chart key={title} title={title} unit={unit} series={series} data={data} />;
          })}
        </div>
      </section>
      <section>
        <h2>Traffic history</h2>
        <DataTable
          rows={[...(d?.traffic?.history ?? [])].reverse()}
          rowKey={(h) => `${h.at}-${h.action}-${h.to_version}`}
          columns={[
            { title: "When", render: (h) => when(h.at) },
            { title: "Action", render: (h) => h.action },
            { title: "From", render: (h) => h.from_version ?? "—" },
            { title: "To", render: (h) => h.to_version ?? "—" },
            { title: "Weight", render: (h) => `${h.weight ?? 0}%` },
          ]}
        />
      </section>
    </>
  );
}
