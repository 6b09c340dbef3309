// Scheduled jobs: each with its schedule, time zone and next fire time; run now, pause and
// resume; a job's run history.
import { useState } from "react";
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, PageHeader, StateBadge, when } from "../components/ui";

interface Job {
  name: string;
  schedule: string;
  time_zone: string;
  paused: boolean;
  next_run: string | null;
  owner: string;
  target: { type: string; path?: string; topic?: string; command?: string };
}
interface Run {
  id: number;
  scheduled: string;
  trigger: string;
  status: string;
  attempts: number;
  duration_ms: number | null;
  output: string;
  error: string;
}

// A time in the job's zone; a zone the browser does not know (the server's tzdata may have
// more) falls back to UTC rather than failing the page.
function inZone(t: string, zone: string): string {
  try {
    return new Date(t).toLocaleString(undefined, { timeZone: zone || "UTC", timeZoneName: "short" });
  } catch {
    return `${new Date(t).toLocaleString(undefined, { timeZone: "UTC", timeZoneName: "short" })} (${zone})`;
  }
}

export function CronPage() {
  const jobs = useApi<{ jobs: Job[] }>("/api/v1/cron", 5000);
  const [open, setOpen] = useState<string | null>(null);
  const action = useAction();
  const act = (name: string, what: "run" | "pause" | "resume") =>
    void action.run(() => api("POST", `/api/v1/cron/${enc(name)}/${what}`), jobs.reload);
  return (
    <>
      <PageHeader title="Scheduled jobs" />
      <ErrorLine error={jobs.error ?? action.error} />
      <DataTable
        rows={jobs.data?.jobs ?? []}
        rowKey={(j) => j.name}
        empty={jobs.loading ? "Loading…" : "No jobs yet (create them with `aimass cron create` or the API)."}
        columns={[
          { title: "Name", render: (j) => <button className="link" onClick={() => setOpen(open === j.name ? null : j.name)}>{j.name}</button> },
          { title: "Schedule", render: (j) => <code>{j.schedule}</code> },
          { title: "Zone", render: (j) => j.time_zone || "UTC" },
          {
            title: "Next run",
            render: (j) =>
              j.paused ? <StateBadge state="paused" /> : j.next_run ? inZone(j.next_run, j.time_zone) : "—",
          },
          { title: "Target", render: (j) => `${j.target.type} ${j.target.path ?? j.target.topic ?? ""}` },
          { title: "Owner", render: (j) => j.owner },
          {
            title: "",
            render: (j) => (
              <Allowed permission="cron:write">
                <div className="row">
                  <button onClick={() => act(j.name, "run")}>Run now</button>
                  {j.paused ? <button className="secondary" onClick={() => act(j.name, "resume")}>Resume</button> : <button className="secondary" onClick={() => act(j.name, "pause")}>Pause</button>}
                </div>
              </Allowed>
            ),
          },
        ]}
      />
      {open && <Runs job={open} />}
    </>
  );
}

function Runs({ job }: { job: string }) {
  const runs = useApi<{ runs: Run[] }>(`/api/v1/cron/${enc(job)}/runs?page_size=100`, 2000);
  return (
    <section>
      <h2>Runs of {job}</h2>
      <ErrorLine error={runs.error} />
      <DataTable
        rows={runs.data?.runs ?? []}
        rowKey={(r) => String(r.id)}
        empty="No runs yet."
        columns={[
          { title: "Run", render: (r) => r.id },
          { title: "Scheduled", render: (r) => when(r.scheduled) },
          { title: "Trigger", render: (r) => r.trigger },
          { title: "Status", render: (r) => <StateBadge state={r.status} /> },
          { title: "Attempts", render: (r) => r.attempts },
          { title: "Took", render: (r) => (r.duration_ms == null ? "—" : `${r.duration_ms} ms`) },
          { title: "Output", render: (r) => <code className="wrap">{r.error || r.output}</code> },
        ]}
      />
    </section>
  );
}
