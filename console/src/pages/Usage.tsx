// Usage (module analysis): the platform's own traffic, every call through the gateway and every
// inference, counted by application, consumer, route, deployment and version (Kong's or APISIX's
// analytics). Traffic (/usage): a time range (the last 15 minutes to 24 hours) and a dimension,
// in the URL; the totals, uPlot charts over time of calls, error rate and p95 latency for the
// values with the most calls, the table of every value (calls, 5xx and 4xx errors, error rate,
// latency, bytes), the top consumers by calls and by errors as bars, and each consumer's use of
// the routes' per-consumer rate limits as bars (red above 80 %); all read again every 5 s.
// Alerts (/usage/alerts): the alert rules (on a threshold or an anomaly against the hour
// before) with the values firing now, Delete, a form for a new rule (the API's message when it
// refuses one) and the events, firing and resolved, with what was observed against what and
// the webhook's answer. The same data are in the platform-usage dataset and cube.
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, NavLink, useSearchParams } from "react-router-dom";
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, ErrorLine, Field, FormButtons, PageHeader, StateBadge, bytes, when } from "../components/ui";
import { Chart } from "../components/Chart";
import { BarChart, PALETTE } from "../components/CubeCharts";
import "../components/cube.css";
import "../components/usage.css";

// ---- the API's objects ----

interface Tally {
  calls: number;
  errors: number; // 5xx
  client_errors: number; // 4xx
  error_rate: number;
  latency_avg_ms: number;
  latency_p95_ms: number;
  latency_max_ms: number;
  slow_calls: number;
  bytes_in: number;
  bytes_out: number;
}

interface Point extends Tally {
  t: string;
}

interface Series {
  by: string;
  step_s: number;
  series: { value: string; total: Tally; points: Point[] }[];
}

interface Top {
  by: string;
  metric: string;
  top: (Tally & { value: string })[];
}

interface Quota {
  route: string;
  consumer: string;
  window_s: number;
  calls: number;
  limit: number;
  used: number;
}

interface Rule {
  name: string;
  metric: Metric;
  by: string;
  value: string;
  threshold?: number;
  anomaly?: number;
  window_s: number;
  min_calls: number;
  webhook: string;
}

interface AlertEvent {
  id: number;
  rule: string;
  value: string;
  state: "firing" | "resolved";
  observed: number;
  threshold: number;
  webhook_status: number;
  at: string;
}

const USAGE = "/api/v1/usage";

// ---- choices ----

const RANGES = [
  { key: "15m", label: "Last 15 minutes", seconds: 900, step: 10, per: "10 s" },
  { key: "1h", label: "Last hour", seconds: 3600, step: 60, per: "minute" },
  { key: "6h", label: "Last 6 hours", seconds: 21600, step: 300, per: "5 minutes" },
  { key: "24h", label: "Last 24 hours", seconds: 86400, step: 1200, per: "20 minutes" },
] as const;

const DIMENSIONS = ["application", "consumer", "route", "deployment", "version"] as const;
type Dimension = (typeof DIMENSIONS)[number];
const DIMENSION_LABELS: Record<Dimension, string> = {
  application: "Application",
  consumer: "Consumer",
  route: "Route",
  deployment: "Deployment",
  version: "Model version",
};

type Metric = "calls" | "errors" | "error_rate" | "latency_avg_ms" | "latency_p95_ms" | "bytes_out";
const METRICS: Record<Metric, string> = {
  calls: "Calls",
  errors: "Errors (5xx)",
  error_rate: "Error rate",
  latency_avg_ms: "Average latency",
  latency_p95_ms: "p95 latency",
  bytes_out: "Bytes out",
};
const METRIC_NAMES = Object.keys(METRICS) as Metric[];
const RULE_BY = ["all", ...DIMENSIONS];

// The values drawn on the charts: those with the most calls.
const CHARTED = 8;
const REFRESH_MS = 5000;

// ---- formatting ----

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });
const count = (n: number) => n.toLocaleString();
const pct = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : `${(v * 100).toFixed(1)}%`);

function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (v < 10) return `${v.toFixed(2)} ms`;
  if (v < 1000) return `${v.toFixed(0)} ms`;
  return `${(v / 1000).toFixed(2)} s`;
}

// A metric's value as its unit reads (an error rate as a share, latencies in ms, bytes).
function metricText(metric: string | undefined, v: number): string {
  switch (metric) {
    case "error_rate":
      return `${number.format(v)} (${pct(v)})`;
    case "latency_avg_ms":
    case "latency_p95_ms":
      return ms(v);
    case "bytes_out":
      return bytes(v);
    default:
      return number.format(v);
  }
}

// RFC 3339 without the milliseconds.
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

// ---- the frame: two tabs ----

function UsageTabs() {
  return (
    <nav className="usage-tabs" aria-label="Usage">
      <NavLink to="/usage" end>
        Traffic
      </NavLink>
      <NavLink to="/usage/alerts">Alerts</NavLink>
    </nav>
  );
}

function About() {
  return (
    <p className="muted">
      Every call through the gateway and every inference, counted per 10 s by application, consumer, route, deployment and version. The
      same data are in the dataset <Link to="/datasets/platform-usage">platform-usage</Link> and its cube,{" "}
      <Link to="/cubes/platform-usage">Cubes › platform-usage</Link>, for queries of any shape.
    </p>
  );
}

// ---- traffic ----

export function UsagePage() {
  const [params, setParams] = useSearchParams();
  const range = RANGES.find((r) => r.key === params.get("range")) ?? RANGES[1];
  const by: Dimension = (DIMENSIONS as readonly string[]).includes(params.get("by") ?? "") ? (params.get("by") as Dimension) : "application";
  const choose = (key: string, value: string) =>
    setParams(
      (old) => {
        const next = new URLSearchParams(old);
        next.set(key, value);
        return next;
      },
      { replace: true },
    );

  // The clock the range ends at: moved every 5 s while auto-refresh is on (each move is a new
  // query), or by Refresh.
  const [auto, setAuto] = useState(true);
  const [clock, setClock] = useState(() => Date.now());
  useEffect(() => {
    if (!auto) return;
    const t = setInterval(() => setClock(Date.now()), REFRESH_MS);
    return () => clearInterval(t);
  }, [auto]);

  // From a whole step (the buckets stay the same from one read to the next) to just after now
  // (the 10 s slot under way included).
  const stepMs = range.step * 1000;
  const from = Math.floor((clock - range.seconds * 1000) / stepMs) * stepMs;
  const to = Math.ceil((clock + 1) / 1000) * 1000;
  const span = `from=${enc(rfc3339(from))}&to=${enc(rfc3339(to))}`;
  const totals = useApi<Series>(`${USAGE}/series?by=all&${span}&step_s=${range.step}`);
  const series = useApi<Series>(`${USAGE}/series?by=${by}&${span}&step_s=${range.step}`);
  const topCalls = useApi<Top>(`${USAGE}/top?by=consumer&metric=calls&limit=10&${span}`);
  const topErrors = useApi<Top>(`${USAGE}/top?by=consumer&metric=errors&limit=10&${span}`);
  const quota = useApi<{ quota: Quota[] }>(`${USAGE}/quota`, auto ? REFRESH_MS : 0);
  // What was read for the by chosen now (not the one before, while the new one loads).
  const current = series.data && series.data.by === by ? series.data : null;

  const refresh = () => {
    setClock(Date.now());
    quota.reload();
  };
  return (
    <>
      <PageHeader title="Usage">
        <button className="secondary" onClick={refresh}>
          Refresh
        </button>
      </PageHeader>
      <UsageTabs />
      <About />
      <div className="toolbar">
        <Field label="Range">
          <select aria-label="Range" value={range.key} onChange={(e) => choose("range", e.target.value)}>
            {RANGES.map((r) => (
              <option key={r.key} value={r.key}>
                {r.label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="By">
          <select aria-label="By" value={by} onChange={(e) => choose("by", e.target.value)}>
            {DIMENSIONS.map((d) => (
              <option key={d} value={d}>
                {DIMENSION_LABELS[d]}
              </option>
            ))}
          </select>
        </Field>
        <label className="check usage-auto">
          <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.target.checked)} />
          Refresh every 5 s
        </label>
        <span className="muted" data-testid="usage-updated">
          {when(clock)}
        </span>
      </div>
      <ErrorLine error={totals.error ?? series.error ?? topCalls.error ?? topErrors.error} />
      <Totals data={totals.data} />

      <h2>Over time</h2>
      {current ? <TrafficCharts data={current} from={from} to={to} per={range.per} /> : <p className="muted">Loading…</p>}

      <h2>By {DIMENSION_LABELS[by].toLowerCase()}</h2>
      {current ? <ValuesTable data={current} by={by} /> : <p className="muted">Loading…</p>}

      <h2>Top consumers</h2>
      <div className="usage-tops">
        <TopBars title="Top consumers by calls" top={topCalls.data} metric="calls" />
        <TopBars title="Top consumers by errors" top={topErrors.data} metric="errors" />
      </div>

      <h2>Quota</h2>
      <p className="muted">
        Each consumer's calls on the routes with a per-consumer rate limit, over the limit's period (10 s at least), against the limit.
      </p>
      <ErrorLine error={quota.error} />
      {quota.data && <QuotaBars quota={quota.data.quota} />}
    </>
  );
}

// The calls of every kind (gateway, inference) in the range.
function Totals({ data }: { data: Series | null }) {
  if (!data) return null;
  const sum = (f: (t: Tally) => number) => data.series.reduce((a, s) => a + f(s.total), 0);
  const calls = sum((t) => t.calls);
  const errors = sum((t) => t.errors);
  const kinds = data.series.map((s) => `${s.value}: ${count(s.total.calls)}`).join(", ");
  const stats: [string, string, string][] = [
    ["Calls", count(calls), "total-calls"],
    ["Errors (5xx)", count(errors), "total-errors"],
    ["Client errors (4xx)", count(sum((t) => t.client_errors)), "total-client-errors"],
    ["Error rate", calls ? pct(errors / calls) : "—", "total-error-rate"],
    ["Bytes in / out", `${bytes(sum((t) => t.bytes_in))} / ${bytes(sum((t) => t.bytes_out))}`, "total-bytes"],
  ];
  return (
    <div className="usage-totals" aria-label="Totals" role="group">
      {stats.map(([label, value, id]) => (
        <div key={id} className="usage-stat">
          <span className="muted">{label}</span>
          <strong data-testid={id}>{value}</strong>
        </div>
      ))}
      {kinds && <span className="muted usage-kinds">{kinds}</span>}
    </div>
  );
}

// Calls, error rate and p95 latency per bucket for the values with the most calls: a point per
// step from the range's start (calls 0 where there were none; the rates left out there).
function TrafficCharts({ data, from, to, per }: { data: Series; from: number; to: number; per: string }) {
  const step = data.step_s;
  const charts = useMemo(() => {
    const shown = [...data.series].sort((a, b) => b.total.calls - a.total.calls).slice(0, CHARTED);
    const xs: number[] = [];
    for (let t = from / 1000; t < to / 1000; t += step) xs.push(t);
    const index = new Map(xs.map((t, i) => [t, i]));
    const column = (s: Series["series"][number], pick: (p: Point) => number | null, missing: number | null) => {
      const out: (number | null)[] = xs.map(() => missing);
      for (const p of s.points) {
        const i = index.get(Math.round(Date.parse(p.t) / 1000));
        if (i !== undefined) out[i] = pick(p);
      }
      return out;
    };
    const lines = shown.map((s, i) => ({ label: s.value, color: PALETTE[i % PALETTE.length] }));
    return [
      { title: `Calls per ${per}`, unit: "calls", points: false, data: [xs, ...shown.map((s) => column(s, (p) => p.calls, 0))] },
      // Rates only where there were calls: gaps elsewhere, each point marked.
      { title: "Error rate (5xx)", unit: "%", points: true, data: [xs, ...shown.map((s) => column(s, (p) => p.error_rate * 100, null))] },
      { title: "p95 latency", unit: "ms", points: true, data: [xs, ...shown.map((s) => column(s, (p) => p.latency_p95_ms, null))] },
    ].map((c) => ({ ...c, series: lines }));
  }, [data, from, to, step, per]);
  if (data.series.length === 0) return <p className="muted">No calls in this range.</p>;
  return (
    <>
      <div className="charts" data-testid="usage-charts">
        {charts.map((c) => (
          <Chart key={c.title} title={c.title} unit={c.unit} series={c.series} data={c.data} points={c.points} />
        ))}
      </div>
      {data.series.length > CHARTED && (
        <p className="muted">
          The {CHARTED} with the most calls of {data.series.length}; the table has them all.
        </p>
      )}
    </>
  );
}

function ValueLink({ by, value }: { by: Dimension; value: string }) {
  if (by === "deployment") return <Link to={`/deployments/${enc(value)}`}>{value}</Link>;
  if (by === "version") {
    const at = value.lastIndexOf(":");
    return <Link to={`/deployments/${enc(value.slice(0, at))}`}>{value}</Link>;
  }
  return <>{value}</>;
}

function ValuesTable({ data, by }: { data: Series; by: Dimension }) {
  const rows = [...data.series].sort((a, b) => b.total.calls - a.total.calls || a.value.localeCompare(b.value));
  if (rows.length === 0) return <p className="muted">No calls in this range.</p>;
  return (
    <div className="table-wrap">
      <table aria-label={`Usage by ${by}`}>
        <thead>
          <tr>
            <th>{DIMENSION_LABELS[by]}</th>
            <th className="num">Calls</th>
            <th className="num">Errors (5xx)</th>
            <th className="num">Client errors (4xx)</th>
            <th className="num">Error rate</th>
            <th className="num">Avg latency</th>
            <th className="num">p95 latency</th>
            <th className="num">Max latency</th>
            <th className="num">Slow (≥ 1 s)</th>
            <th className="num">Bytes in</th>
            <th className="num">Bytes out</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ value, total: t }) => (
            <tr key={value} data-value={value} data-calls={t.calls} data-errors={t.errors} data-client-errors={t.client_errors}>
              <td>
                <ValueLink by={by} value={value} />
              </td>
              <td className="num">{count(t.calls)}</td>
              <td className="num">{count(t.errors)}</td>
              <td className="num">{count(t.client_errors)}</td>
              <td className={`num${t.error_rate > 0 ? " error" : ""}`}>{pct(t.error_rate)}</td>
              <td className="num">{ms(t.latency_avg_ms)}</td>
              <td className="num">{ms(t.latency_p95_ms)}</td>
              <td className="num">{ms(t.latency_max_ms)}</td>
              <td className="num">{count(t.slow_calls)}</td>
              <td className="num">{bytes(t.bytes_in)}</td>
              <td className="num">{bytes(t.bytes_out)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function TopBars({ title, top, metric }: { title: string; top: Top | null; metric: "calls" | "errors" }) {
  // Consumers with none of the metric are not in its top list.
  const rows = (top?.top ?? []).filter((r) => r[metric] > 0);
  return (
    <section className="usage-top" aria-label={title}>
      <h3>{title}</h3>
      {!top ? (
        <p className="muted">Loading…</p>
      ) : rows.length === 0 ? (
        <p className="muted">{metric === "errors" ? "No errors in this range." : "No calls by a consumer in this range."}</p>
      ) : (
        <BarChart
          label={title}
          bars={rows.map((r) => ({
            label: r.value,
            value: r[metric],
            title: `${r.value}: ${count(r.calls)} calls, ${count(r.errors)} errors (${pct(r.error_rate)})`,
          }))}
        />
      )}
    </section>
  );
}

// A bar per consumer under each route: the share of the limit used, red above 0.8.
function QuotaBars({ quota }: { quota: Quota[] }) {
  if (quota.length === 0) return <p className="muted">No consumer has called a route with a per-consumer rate limit in its period.</p>;
  const routes = [...new Set(quota.map((q) => q.route))].sort();
  return (
    <div className="usage-quota">
      {routes.map((route) => (
        <section key={route} aria-label={`Quota of ${route}`}>
          <h3>{route}</h3>
          {quota
            .filter((q) => q.route === route)
            .sort((a, b) => b.used - a.used || a.consumer.localeCompare(b.consumer))
            .map((q) => {
              const over = q.used > 0.8;
              const text = `${count(q.calls)} / ${number.format(q.limit)} in ${q.window_s} s`;
              return (
                <div
                  key={q.consumer}
                  className={`usage-quota-row${over ? " over" : ""}`}
                  data-route={q.route}
                  data-consumer={q.consumer}
                  data-used={q.used}
                  title={`${q.consumer} on ${q.route}: ${text} (${pct(q.used)})`}
                >
                  <span className="usage-quota-label">{q.consumer}</span>
                  <span
                    className="usage-quota-track"
                    role="meter"
                    aria-label={`Quota of ${q.consumer} on ${q.route}`}
                    aria-valuemin={0}
                    aria-valuemax={q.limit}
                    aria-valuenow={q.calls}
                  >
                    <span className="usage-quota-fill" style={{ width: `${Math.min(100, q.used * 100)}%` }} />
                  </span>
                  <span className="usage-quota-text" data-testid="quota-text">
                    {text} ({pct(q.used)})
                  </span>
                </div>
              );
            })}
        </section>
      ))}
    </div>
  );
}

// ---- alerts ----

function condition(r: Rule): string {
  if (r.anomaly !== undefined) return `> mean + ${number.format(r.anomaly)} sd of the hour before`;
  return `> ${metricText(r.metric, r.threshold ?? 0)}`;
}

function webhookText(status: number): string {
  if (status === 0) return "—";
  if (status < 0) return "unreachable";
  return String(status);
}

export function UsageAlertsPage() {
  const [open, setOpen] = useState(false);
  const [rule, setRule] = useState("");
  const rules = useApi<{ rules: Rule[] }>(`${USAGE}/alerts`);
  const events = useApi<{ events: AlertEvent[] }>(`${USAGE}/alert-events?limit=200${rule ? `&rule=${enc(rule)}` : ""}`, REFRESH_MS);
  const action = useAction();
  const list = rules.data?.rules ?? [];
  const metricOf = (name: string) => list.find((r) => r.name === name)?.metric;

  // The values firing now: those whose newest event is "firing" (the events come newest first;
  // the whole list, not the one rule filtered, is needed, so read them unfiltered).
  const all = useApi<{ events: AlertEvent[] }>(rule ? `${USAGE}/alert-events?limit=1000` : null, REFRESH_MS);
  const firing = useMemo(() => {
    const seen = new Set<string>();
    const out = new Map<string, string[]>();
    for (const e of (rule ? all.data?.events : events.data?.events) ?? []) {
      const key = `${e.rule}\u0000${e.value}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (e.state === "firing") out.set(e.rule, [...(out.get(e.rule) ?? []), e.value]);
    }
    return out;
  }, [rule, all.data, events.data]);

  const remove = (name: string) => {
    if (!window.confirm(`Delete the alert rule ${name}?`)) return;
    void action.run(() => api("DELETE", `${USAGE}/alerts/${enc(name)}`), rules.reload);
  };
  return (
    <>
      <PageHeader title="Usage">
        <Allowed permission="usage:write">{!open && <button onClick={() => setOpen(true)}>New rule</button>}</Allowed>
      </PageHeader>
      <UsageTabs />
      <p className="muted">
        A rule watches a metric per value of a dimension (or one value) over a window: above a threshold, or more than a number of standard
        deviations above its mean over the hour before (an anomaly). It fires once when a value crosses and resolves when it is back; both go
        to the message queue (<code>usage.alert.firing</code>, <code>usage.alert.resolved</code>) and to the rule's webhook.
      </p>
      {open && (
        <NewRule
          onCancel={() => setOpen(false)}
          onAdded={() => {
            setOpen(false);
            rules.reload();
          }}
        />
      )}
      <h2>Rules</h2>
      <ErrorLine error={rules.error ?? action.error} />
      {rules.data && list.length === 0 ? (
        <p className="muted">No alert rules yet.</p>
      ) : (
        <div className="table-wrap">
          <table aria-label="Alert rules">
            <thead>
              <tr>
                <th>Name</th>
                <th>Metric</th>
                <th>By</th>
                <th>Value</th>
                <th>Fires when</th>
                <th className="num">Window</th>
                <th className="num">Min calls</th>
                <th>Webhook</th>
                <th>Firing now</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((r) => (
                <tr key={r.name} data-rule={r.name}>
                  <td>{r.name}</td>
                  <td>{METRICS[r.metric] ?? r.metric}</td>
                  <td>{r.by}</td>
                  <td>{r.value || <span className="muted">every value</span>}</td>
                  <td>{condition(r)}</td>
                  <td className="num">{r.window_s} s</td>
                  <td className="num">{count(r.min_calls)}</td>
                  <td className="usage-webhook">{r.webhook || <span className="muted">—</span>}</td>
                  <td data-testid="firing-now">
                    {(firing.get(r.name) ?? []).map((v) => (
                      <span key={v} className="tag usage-firing">
                        {v || "(all)"}
                      </span>
                    ))}
                  </td>
                  <td>
                    <Allowed permission="usage:write">
                      <button className="danger" onClick={() => remove(r.name)} disabled={action.busy}>
                        Delete
                      </button>
                    </Allowed>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Events</h2>
      <div className="toolbar">
        <Field label="Rule">
          <select aria-label="Rule" value={rule} onChange={(e) => setRule(e.target.value)}>
            <option value="">all</option>
            {[...new Set([...list.map((r) => r.name), ...(rule ? [rule] : [])])].sort().map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <ErrorLine error={events.error} />
      <EventsTable events={events.data?.events ?? null} metricOf={metricOf} />
    </>
  );
}

function EventsTable({ events, metricOf }: { events: AlertEvent[] | null; metricOf: (rule: string) => string | undefined }) {
  if (!events) return <p className="muted">Loading…</p>;
  if (events.length === 0) return <p className="muted">No alert has fired yet.</p>;
  return (
    <div className="table-wrap">
      <table aria-label="Alert events">
        <thead>
          <tr>
            <th>At</th>
            <th>Rule</th>
            <th>Value</th>
            <th>State</th>
            <th className="num">Observed</th>
            <th className="num">Threshold</th>
            <th>Webhook</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id} data-rule={e.rule} data-value={e.value} data-state={e.state} data-observed={e.observed} data-threshold={e.threshold}>
              <td>{when(e.at)}</td>
              <td>{e.rule}</td>
              <td>{e.value}</td>
              <td>
                <StateBadge state={e.state} />
              </td>
              <td className="num">{metricText(metricOf(e.rule), e.observed)}</td>
              <td className="num">{metricText(metricOf(e.rule), e.threshold)}</td>
              <td className={e.webhook_status < 0 || e.webhook_status >= 300 ? "error" : undefined}>{webhookText(e.webhook_status)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// A number as the API takes it: empty left out, a number as one, anything else as typed (for
// the API to name).
function numberField(text: string): number | string | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

function NewRule({ onCancel, onAdded }: { onCancel: () => void; onAdded: () => void }) {
  const [name, setName] = useState("");
  const [metric, setMetric] = useState<Metric>("error_rate");
  const [by, setBy] = useState("application");
  const [value, setValue] = useState("");
  const [threshold, setThreshold] = useState("");
  const [anomaly, setAnomaly] = useState("");
  const [windowS, setWindowS] = useState("60");
  const [minCalls, setMinCalls] = useState("20");
  const [webhook, setWebhook] = useState("");
  const action = useAction();
  // The values seen over the last hour, offered for the value field.
  const values = useApi<Series>(by !== "all" ? `${USAGE}/series?by=${enc(by)}&step_s=3600` : null);
  const known = values.data?.by === by ? values.data.series.map((s) => s.value) : [];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = { name: name.trim(), metric, by };
    if (value.trim()) body.value = value.trim();
    const fields: [string, string][] = [
      ["threshold", threshold],
      ["anomaly", anomaly],
      ["window_s", windowS],
      ["min_calls", minCalls],
    ];
    for (const [k, v] of fields) {
      const n = numberField(v);
      if (n !== undefined) body[k] = n;
    }
    if (webhook.trim()) body.webhook = webhook.trim();
    void action.run(() => api("POST", `${USAGE}/alerts`, body), onAdded);
  };
  return (
    <form className="card usage-form" onSubmit={submit} aria-label="New alert rule" noValidate>
      <div className="usage-form-grid">
        <Field label="Name">
          <input name="name" value={name} onChange={(e) => setName(e.target.value)} placeholder="errors-per-consumer" />
        </Field>
        <Field label="Metric">
          <select name="metric" aria-label="Metric" value={metric} onChange={(e) => setMetric(e.target.value as Metric)}>
            {METRIC_NAMES.map((m) => (
              <option key={m} value={m}>
                {METRICS[m]}
              </option>
            ))}
          </select>
        </Field>
        <Field label="By">
          <select name="by" aria-label="By" value={by} onChange={(e) => setBy(e.target.value)}>
            {RULE_BY.map((d) => (
              <option key={d} value={d}>
                {d === "all" ? "all (gateway, inference)" : DIMENSION_LABELS[d as Dimension]}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Value (empty: every value)">
          <input name="value" list="usage-rule-values" value={value} onChange={(e) => setValue(e.target.value)} />
        </Field>
        <Field label={`Threshold${metric === "error_rate" ? " (a share: 0.2)" : metric.endsWith("_ms") ? " (ms)" : ""}`}>
          <input name="threshold" type="number" step="any" value={threshold} onChange={(e) => setThreshold(e.target.value)} />
        </Field>
        <Field label="Anomaly (std. deviations)">
          <input name="anomaly" type="number" step="any" min={0} value={anomaly} onChange={(e) => setAnomaly(e.target.value)} />
        </Field>
        <Field label="Window (s, a multiple of 10)">
          <input name="window_s" type="number" step={10} min={10} value={windowS} onChange={(e) => setWindowS(e.target.value)} />
        </Field>
        <Field label="Min calls">
          <input name="min_calls" type="number" step={1} min={1} value={minCalls} onChange={(e) => setMinCalls(e.target.value)} />
        </Field>
        <Field label="Webhook (optional)">
          <input name="webhook" type="url" value={webhook} onChange={(e) => setWebhook(e.target.value)} placeholder="https://…" />
        </Field>
      </div>
      <datalist id="usage-rule-values">
        {known.map((v) => (
          <option key={v} value={v} />
        ))}
      </datalist>
      <p className="muted">A threshold or an anomaly, one of them. A value fires only over a window with at least min calls.</p>
      <ErrorLine error={action.error} />
      <FormButtons submit="Add rule" disabled={action.busy} onCancel={onCancel} />
    </form>
  );
}
