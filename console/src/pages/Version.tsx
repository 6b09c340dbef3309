// A model version: status and validation result, signature, files, metrics, lineage, download.
import { Link, useParams } from "react-router-dom";
import { download, enc } from "../api";
import { useAction, useApi } from "../hooks";
import type { TensorSpec, Version } from "../types";
import { DataTable, ErrorLine, PageHeader, StateBadge, bytes, when } from "../components/ui";

interface Files {
  files: { path: string; size: number; sha256: string; executable: boolean }[];
  entry?: string;
}

export function VersionPage() {
  const { name, version } = useParams() as { name: string; version: string };
  const base = `/api/v1/models/${enc(name)}/versions/${enc(version)}`;
  const v = useApi<Version>(base);
  const files = useApi<Files>(v.data?.artifact.kind === "directory" ? `${base}/files` : null);
  const action = useAction();
  const d = v.data;
  const tensors = (list: TensorSpec[] | undefined) => (
    <DataTable
      rows={list ?? []}
      rowKey={(t) => t.name}
      empty="Not declared."
      columns={[
        { title: "Name", render: (t) => t.name },
        { title: "Type", render: (t) => t.datatype },
        { title: "Shape", render: (t) => `[${t.shape.join(", ")}]` },
      ]}
    />
  );
  return (
    <>
      <PageHeader title={<><Link to="/models">Models</Link> › <Link to={`/models/${enc(name)}`}>{name}</Link> › version {version}</>}>
        <button
          onClick={() => void action.run(() => download(`${base}/artifact`, d?.artifact.kind === "directory" ? `${name}-${version}.tar` : `${name}-${version}.${d?.framework ?? "bin"}`))}
          disabled={!d || action.busy}
        >
          Download
        </button>
      </PageHeader>
      <ErrorLine error={v.error ?? action.error} />
      {d && (
        <>
          <section className="card">
            <p>
              <StateBadge state={d.status} /> {d.framework} · {bytes(d.size)} · by {d.created_by} · {when(d.created_at)}
            </p>
            {d.status_reason && <p className="error">Validation: {d.status_reason}</p>}
            <p className="muted">
              <code>{d.digest}</code>
            </p>
          </section>
          <section>
            <h2>Inputs</h2>
            {tensors(d.signature.inputs)}
            <h2>Outputs</h2>
            {tensors(d.signature.outputs)}
          </section>
          {d.artifact.kind === "directory" && (
            <section>
              <h2>Files</h2>
              <DataTable
                rows={files.data?.files ?? []}
                rowKey={(f) => f.path}
                columns={[
                  { title: "Path", render: (f) => <>{f.path}{f.path === d.artifact.entry && <span className="tag">entry</span>}</> },
                  { title: "Size", render: (f) => bytes(f.size) },
                  { title: "sha256", render: (f) => <code>{f.sha256.slice(0, 16)}…</code> },
                ]}
              />
            </section>
          )}
          <section className="two">
            <div>
              <h2>Metrics</h2>
              <pre>{JSON.stringify(d.metrics, null, 2)}</pre>
            </div>
            <div>
              <h2>Params</h2>
              <pre>{JSON.stringify(d.params, null, 2)}</pre>
            </div>
            <div>
              <h2>Lineage</h2>
              <pre>{JSON.stringify(d.lineage, null, 2)}</pre>
            </div>
          </section>
        </>
      )}
    </>
  );
}
