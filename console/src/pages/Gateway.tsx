// The gateway: routes with their state (pause, resume, degrade), upstreams with the health of
// each target, consumers and the response cache.
import { useState } from "react";
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, PageHeader, StateBadge } from "../components/ui";

interface RouteState {
  name: string;
  paths: string[];
  upstream?: string;
  service?: string;
  methods?: string[];
  state: { mode: string; reason?: string };
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

export function GatewayPage() {
  const routes = useApi<{ routes: RouteState[] }>("/api/v1/gateway/routes", 3000);
  const upstreams = useApi<{ upstreams: Upstream[] }>("/api/v1/gateway/upstreams", 5000);
  const consumers = useApi<{ consumers: Consumer[] }>("/api/v1/gateway/consumers");
  const cache = useApi<{ entries: number; bytes: number; hits: number; misses: number }>("/api/v1/gateway/cache", 5000);
  const action = useAction();
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
