// The compute cluster's nodes: each with its state and what its jobs hold of its CPUs, memory
// and GPUs, drawn as bars; drain and undrain for those who may.
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, PageHeader, StateBadge, when } from "../components/ui";

interface Gpu {
  index: number;
  model: string;
  memory_mb: number;
  allocated: number;
}
export interface ClusterNode {
  name: string;
  state: string;
  cpus: number;
  memory_mb: number;
  gpus: Gpu[];
  labels: Record<string, string>;
  limits: string;
  sandbox: boolean;
  allocated: { cpus: number; memory_mb: number; jobs: number };
  heartbeat_at: string;
}

// A bar filled to used/total, with the numbers beside it.
export function UseBar({ label, used, total, unit }: { label: string; used: number; total: number; unit?: string }) {
  const fraction = total > 0 ? Math.min(1, used / total) : 0;
  const text = `${Number.isInteger(used) ? used : used.toFixed(2)} / ${total}${unit ? ` ${unit}` : ""}`;
  return (
    <div className="usebar" title={`${label}: ${text}`}>
      <span className="usebar-label">{label}</span>
      <span className="usebar-track" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={total} aria-valuenow={used}>
        <span className={`usebar-fill${fraction >= 0.9 ? " full" : ""}`} style={{ width: `${Math.round(fraction * 100)}%` }} />
      </span>
      <span className="usebar-text">{text}</span>
    </div>
  );
}

export function NodesPage() {
  const nodes = useApi<{ nodes: ClusterNode[] }>("/api/v1/cluster/nodes", 3000);
  const action = useAction();
  const set = (name: string, what: "drain" | "undrain") =>
    void action.run(() => api("POST", `/api/v1/cluster/nodes/${enc(name)}/${what}`), nodes.reload);
  return (
    <>
      <PageHeader title="Nodes" />
      <ErrorLine error={nodes.error ?? action.error} />
      <DataTable
        rows={nodes.data?.nodes ?? []}
        rowKey={(n) => n.name}
        empty={nodes.loading ? "Loading…" : "No nodes: start a process that serves the cluster module."}
        columns={[
          { title: "Name", render: (n) => <strong>{n.name}</strong> },
          { title: "State", render: (n) => <StateBadge state={n.state} /> },
          {
            title: "Use",
            render: (n) => (
              <div className="usebars">
                <UseBar label="CPU" used={n.allocated.cpus} total={n.cpus} />
                <UseBar label="Memory" used={n.allocated.memory_mb} total={n.memory_mb} unit="MiB" />
                {n.gpus.map((g) => (
                  <UseBar key={g.index} label={`GPU ${g.index}`} used={g.allocated} total={1} />
                ))}
              </div>
            ),
          },
          { title: "Jobs", render: (n) => n.allocated.jobs },
          {
            title: "GPUs",
            render: (n) => (n.gpus.length ? n.gpus.map((g) => `${g.model} (${g.memory_mb} MiB)`).join(", ") : "none"),
          },
          { title: "Limits", render: (n) => `${n.limits}${n.sandbox ? ", sandbox" : ""}` },
          { title: "Heartbeat", render: (n) => when(n.heartbeat_at) },
          {
            title: "",
            render: (n) => (
              <Allowed permission="cluster:admin">
                {n.state === "draining" || n.state === "drained" ? (
                  <button className="secondary" onClick={() => set(n.name, "undrain")}>Undrain</button>
                ) : (
                  <button className="secondary" onClick={() => set(n.name, "drain")}>Drain</button>
                )}
              </Allowed>
            ),
          },
        ]}
      />
    </>
  );
}
