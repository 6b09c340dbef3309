// Home: each module's state (/readyz) and the platform's events as they happen.
import { useEffect, useState } from "react";
import { useAuth } from "../auth";
import { followEvents, type PlatformEvent } from "../events";
import { useApi } from "../hooks";
import { DataTable, ErrorLine, PageHeader, StateBadge } from "../components/ui";

interface Readiness {
  status: string;
  modules: Record<string, string>;
  target?: string[];
  remote?: Record<string, string[]>;
}

export function HomePage() {
  const { can } = useAuth();
  const ready = useApi<Readiness>("/readyz", 5000);
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
      <section>
        <h2>Events, live</h2>
        <ErrorLine error={eventsError} />
        {!topic && <p className="muted">Your roles show no events.</p>}
        <DataTable
          rows={events}
          rowKey={(e) => `${e.id}-${e.at}`}
          empty="Waiting for events…"
          columns={[
            { title: "When", render: (e) => new Date(e.at).toLocaleTimeString() },
            { title: "Event", render: (e) => <code>{e.topic}</code> },
            { title: "Data", render: (e) => <code className="wrap">{JSON.stringify(e.data)}</code> },
          ]}
        />
      </section>
    </>
  );
}
