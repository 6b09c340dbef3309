// Home: each module's state (/readyz), this process's HTTP traffic over the last hour
// (/api/v1/metrics/history) and the platform's events as they happen.
import { useEffect, useMemo, useState } from "react";
import { Chart } from "../components/Chart";
import { useAuth } from "../auth";
import { followEvents, type PlatformEvent } from "../events";
import { useApi } from "../hooks";
import { DataTable, ErrorLine, PageHeader, StateBadge, clock } from "../components/ui";

interface Traffic {
  interval_s: number;
  points: { at: number; requests_per_s: number; error_rate: number; p50_ms: number; p99_ms: number }[];
}

function TrafficCharts() {
  const history = useApi<Traffic>("/api/v1/metrics/history", 10000);
  const points = history.data?.points ?? [];
  const t = useMemo(() => points.map((p) => p.at / 1000), [points]);
  return (
    <section>
      <h2>Traffic, last hour</h2>
      <ErrorLine error={history.error} />
      {history.data && points.length === 0 && <p className="muted">The first point comes {history.data.interval_s} s after the start.</p>}
      <div className="charts">
        <Chart title="Requests per second" unit="req/s" series={[{ label: "all", color: "#2f6fde" }]} data={[t, points.map((p) => p.requests_per_s)]} />
        <Chart
          title="Latency"
          unit="ms"
          series={[
            { label: "p50", color: "#3a9a4a" },
            { label: "p99", color: "#e0662f" },
          ]}
          data={[t, points.map((p) => p.p50_ms), points.map((p) => p.p99_ms)]}
        />
        <Chart title="Error rate (5xx)" unit="%" series={[{ label: "5xx", color: "#c33b2f" }]} data={[t, points.map((p) => p.error_rate * 100)]} />
      </div>
    </section>
  );
}

interface Readiness {
  status: string;
  modules: Record<string, string>;
  target?: string[];
  remote?: Record<string, string[]>;
}

// /readyz every 5 s. A 503 carries the modules' states too, and that is when they matter.
function useReadiness(): { data: Readiness | null; error: string } {
  const [data, setData] = useState<Readiness | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let live = true;
    const poll = async () => {
      try {
        const res = await fetch("/readyz");
        const body = (await res.json()) as Readiness;
        if (!live) return;
        setData({ ...body, status: res.ok ? body.status : "unavailable" });
        setError("");
      } catch (e) {
        if (live) setError(`readiness: ${e}`);
      }
    };
    void poll();
    const t = setInterval(poll, 5000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, []);
  return { data, error };
}

export function HomePage() {
  const { can } = useAuth();
  const ready = useReadiness();
  const [events, setEvents] = useState<(PlatformEvent & { at: number })[]>([]);
  const [eventsError, setEventsError] = useState("");
  const topic = can("events:read") ? ">" : can("models:read") ? "registry.>" : "";

  useEffect(() => {
    if (!topic) return;
    return followEvents(
      topic,
      (e) => setEvents((list) => [{ ...e, at: Date.now() }, ...list].slice(0, 50)),
      setEventsError,
    );
  }, [topic]);

  const modules = Object.entries(ready.data?.modules ?? {});
  return (
    <>
      <PageHeader title="Home" />
      <section>
        <h2>
          Platform {ready.data && <StateBadge state={ready.data.status} />}
        </h2>
        <ErrorLine error={ready.error} />
        <DataTable
          rows={modules}
          rowKey={([m]) => m}
          columns={[
            { title: "Module", render: ([m]) => m },
            { title: "State", render: ([, s]) => <StateBadge state={s === "ready" ? "ready" : s} /> },
          ]}
        />
        {ready.data?.remote && Object.keys(ready.data.remote).length > 0 && (
          <p className="muted">Served by other processes: {Object.keys(ready.data.remote).join(", ")}</p>
        )}
      </section>
      {can("metrics:read") && <TrafficCharts />}
      <section>
        <h2>Events, live</h2>
        <ErrorLine error={eventsError} />
        {!topic && <p className="muted">Your roles show no events.</p>}
        <DataTable
          rows={events}
          rowKey={(e) => `${e.id}-${e.at}`}
          empty="Waiting for events…"
          columns={[
            { title: "When", render: (e) => clock(e.at) },
            { title: "Event", render: (e) => <code>{e.topic}</code> },
            { title: "Data", render: (e) => <code className="wrap">{JSON.stringify(e.data)}</code> },
          ]}
        />
      </section>
    </>
  );
}
