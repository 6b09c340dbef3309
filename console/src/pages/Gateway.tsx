// The gateway: routes with their state (pause, resume, degrade), upstreams with the health of
// each target, consumers and the response cache.
import { useEffect, useRef, useState } from "react";
import { api, enc, get } from "../api";
import { useAuth } from "../auth";
import { parseMetrics } from "../prometheus";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, PageHeader, StateBadge } from "../components/ui";

interface RouteState {
  name: string;
  paths: string[];
  upstream?: string;
  service?: string;
  methods?: string[];
  state: { mode: string; reason?: string };
  plugins?: { rate_limit?: { rate: number; per?: string; burst?: number; key?: string } };
}
interface Upstream {
  name: string;
  targets: { url: string; weight: number }[];
  balance?: string;
}
interface TargetHealth {
  url: string;
  healthy: boolean;
  in_flight: number;
  ewma_ms: number;
  consecutive_failures: number;
  ejected: boolean;
  ejected_for_s?: number;
}
interface Consumer {
  name: string;
  roles: string[];
  api_keys?: string[];
}

const stateOf = (r: RouteState) => r.state?.mode ?? "active";

// Requests per second and 5xx per second of each route, from the gateway's counters in
// /metrics (aimass_gateway_requests_total{route,status_class}) read every 5 s.
function useRouteTraffic(enabled: boolean) {
  const [rates, setRates] = useState<Record<string, { rps: number; errors: number }>>({});
  const last = useRef<{ at: number; totals: Record<string, [number, number]> } | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let live = true;
    const poll = async () => {
      const text = await get<string>("/metrics").catch(() => "");
      if (!live || !text) return;
      const totals: Record<string, [number, number]> = {};
      for (const s of parseMetrics(text, (n) => n === "aimass_gateway_requests_total")) {
        const t = (totals[s.labels.route] ??= [0, 0]);
        t[0] += s.value;
        if (s.labels.status_class === "5xx") t[1] += s.value;
      }
      const now = Date.now();
      const before = last.current;
      if (before) {
        const dt = (now - before.at) / 1000;
        const next: Record<string, { rps: number; errors: number }> = {};
        for (const [route, [n, e]] of Object.entries(totals)) {
          const [n0, e0] = before.totals[route] ?? [0, 0];
          next[route] = { rps: (n - n0) / dt, errors: (e - e0) / dt };
        }
        setRates(next);
      }
      last.current = { at: now, totals };
    };
    void poll();
    const t = setInterval(poll, 5000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [enabled]);
  return rates;
}

export function GatewayPage() {
  const routes = useApi<{ routes: RouteState[] }>("/api/v1/gateway/routes", 3000);
  const upstreams = useApi<{ upstreams: Upstream[] }>("/api/v1/gateway/upstreams", 5000);
  const consumers = useApi<{ consumers: Consumer[] }>("/api/v1/gateway/consumers");
  const cache = useApi<{ entries: number; bytes: number; hits: number; misses: number }>("/api/v1/gateway/cache", 5000);
  const action = useAction();
  const { can } = useAuth();
  const traffic = useRouteTraffic(can("metrics:read"));
  const [health, setHealth] = useState<string | null>(null);
  const post = (path: string, body?: unknown) => void action.run(() => api("POST", path, body), routes.reload);
  return (
    <>
      <PageHeader title="Gateway" />
      <ErrorLine error={action.error} />
      <section>
        <h2>Routes</h2>
        <ErrorLine error={routes.error} />
        <DataTable
          rows={routes.data?.routes ?? []}
          rowKey={(r) => r.name}
          empty="No routes yet."
          columns={[
            { title: "Route", render: (r) => r.name },
            { title: "Paths", render: (r) => r.paths.join(", ") },
            { title: "To", render: (r) => r.upstream ?? r.service ?? "" },
            { title: "Rate limit", render: (r) => (r.plugins?.rate_limit ? `${r.plugins.rate_limit.rate} per ${r.plugins.rate_limit.per ?? "second"}${r.plugins.rate_limit.key ? ` by ${r.plugins.rate_limit.key}` : ""}` : "—") },
            { title: "Requests/s", render: (r) => (traffic[r.name] ? traffic[r.name].rps.toFixed(1) : "—") },
            { title: "5xx/s", render: (r) => (traffic[r.name] ? traffic[r.name].errors.toFixed(1) : "—") },
            { title: "State", render: (r) => <StateBadge state={stateOf(r)} /> },
            {
              title: "",
              render: (r) => (
                <Allowed permission="gateway:write">
                  <div className="row">
                    {stateOf(r) === "active" ? (
                      <>
                        <button onClick={() => post(`/api/v1/gateway/routes/${enc(r.name)}/pause`, { reason: "paused from the console" })}>Pause</button>
                        <button
                          className="secondary"
                          onClick={() => post(`/api/v1/gateway/routes/${enc(r.name)}/degrade`, { status: 503, body: "degraded", reason: "degraded from the console" })}
                        >
                          Degrade
                        </button>
                      </>
                    ) : (
                      <button onClick={() => post(`/api/v1/gateway/routes/${enc(r.name)}/resume`)}>Resume</button>
                    )}
                  </div>
                </Allowed>
              ),
            },
          ]}
        />
      </section>
      <section>
        <h2>Upstreams</h2>
        <ErrorLine error={upstreams.error} />
        <DataTable
          rows={upstreams.data?.upstreams ?? []}
          rowKey={(u) => u.name}
          empty="No upstreams yet."
          columns={[
            { title: "Upstream", render: (u) => <button className="link" onClick={() => setHealth(health === u.name ? null : u.name)}>{u.name}</button> },
            { title: "Targets", render: (u) => u.targets.map((t) => `${t.url} (${t.weight})`).join(", ") },
            { title: "Balance", render: (u) => u.balance ?? "" },
          ]}
        />
        {health && <Health upstream={health} />}
      </section>
      <section className="two">
        <div>
          <h2>Consumers</h2>
          <ErrorLine error={consumers.error} />
          <DataTable
            rows={consumers.data?.consumers ?? []}
            rowKey={(c) => c.name}
            empty="No consumers yet."
            columns={[
              { title: "Consumer", render: (c) => c.name },
              { title: "Roles", render: (c) => c.roles.join(", ") },
              { title: "API keys", render: (c) => <ConsumerKeys consumer={c.name} /> },
            ]}
          />
        </div>
        <div>
          <h2>Response cache</h2>
          <ErrorLine error={cache.error} />
          {cache.data && (
            <p>
              {cache.data.entries} entries · {cache.data.hits} hits · {cache.data.misses} misses
            </p>
          )}
          <Allowed permission="gateway:write">
            <button className="secondary" onClick={() => void action.run(() => api("DELETE", "/api/v1/gateway/cache"), cache.reload)}>
              Purge cache
            </button>
          </Allowed>
        </div>
      </section>
    </>
  );
}

function Health({ upstream }: { upstream: string }) {
  const h = useApi<{ targets: TargetHealth[]; circuit: { state: string; enabled: boolean } }>(
    `/api/v1/gateway/upstreams/${enc(upstream)}/health`,
    2000,
  );
  return (
    <>
      <ErrorLine error={h.error} />
      {h.data && (
        <p>
          Circuit breaker: <StateBadge state={h.data.circuit.enabled ? h.data.circuit.state : "off"} />
        </p>
      )}
      <DataTable
        rows={h.data?.targets ?? []}
        rowKey={(t) => t.url}
        columns={[
          { title: "Target", render: (t) => t.url },
          { title: "In flight", render: (t) => t.in_flight },
          { title: "EWMA", render: (t) => `${t.ewma_ms.toFixed(1)} ms` },
          { title: "Failures in a row", render: (t) => t.consecutive_failures },
          { title: "Health", render: (t) => <StateBadge state={t.ejected ? "ejected" : t.healthy ? "ready" : "failed"} /> },
        ]}
      />
    </>
  );
}

// A consumer's API keys (ids only: the secrets are never shown again) and a new one, shown once.
function ConsumerKeys({ consumer }: { consumer: string }) {
  const detail = useApi<{ api_keys?: { id: string }[] }>(`/api/v1/gateway/consumers/${enc(consumer)}`);
  const [made, setMade] = useState("");
  const action = useAction();
  return (
    <div>
      {(detail.data?.api_keys ?? []).map((k) => (
        <code key={k.id}>{k.id} </code>
      ))}
      <Allowed permission="gateway:write">
        <button
          className="link"
          onClick={() =>
            void action.run(async () => {
              const k = await api<{ key: string }>("POST", `/api/v1/gateway/consumers/${enc(consumer)}/keys`);
              setMade(k.key);
            }, detail.reload)
          }
        >
          new key
        </button>
      </Allowed>
      {made && (
        <p className="notice">
          Shown this once: <code>{made}</code>
        </p>
      )}
      <ErrorLine error={action.error} />
    </div>
  );
}
