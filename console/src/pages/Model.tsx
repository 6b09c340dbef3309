// A model: its card, versions, aliases with who moved them, and the upload of a new version.
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { api, enc, upload } from "../api";
import { useAuth } from "../auth";
import { useAction, useApi } from "../hooks";
import type { AliasMove, Model, Version } from "../types";
import { Markdown } from "../components/Markdown";
import { Allowed, DataTable, ErrorLine, Field, PageHeader, StateBadge, bytes } from "../components/ui";

const FRAMEWORKS = ["onnx", "torchscript", "xgboost"];

export function ModelPage() {
  const name = useParams().name!;
  const model = useApi<Model>(`/api/v1/models/${enc(name)}`);
  const versions = useApi<{ versions: Version[] }>(`/api/v1/models/${enc(name)}/versions?page_size=1000`);
  const aliases = useApi<{ aliases: Record<string, number>; history: AliasMove[] }>(`/api/v1/models/${enc(name)}/aliases`);
  const reload = () => {
    model.reload();
    versions.reload();
    aliases.reload();
  };
  const m = model.data;
  return (
    <>
      <PageHeader title={<><Link to="/models">Models</Link> › {name}</>}>
        <Allowed permission="models:write">
          <UploadVersion model={name} onDone={reload} />
        </Allowed>
      </PageHeader>
      <ErrorLine error={model.error} />
      {m && (
        <section className="card">
          <p className="muted">
            {m.task && <>Task: {m.task} · </>}Owner: {m.owner} · Updated {new Date(m.updated_at).toLocaleString()}
          </p>
          <p>{m.tags.map((t) => <span key={t} className="tag">{t}</span>)}</p>
          {m.description ? <Markdown text={m.description} /> : <p className="muted">No model card.</p>}
        </section>
      )}
      <section>
        <h2>Versions</h2>
        <ErrorLine error={versions.error} />
        <DataTable
          rows={versions.data?.versions ?? []}
          rowKey={(v) => String(v.version)}
          empty={versions.loading ? "Loading…" : "No versions yet."}
          columns={[
            { title: "Version", render: (v) => <Link to={`/models/${enc(name)}/versions/${v.version}`}>{v.version}</Link> },
            { title: "Framework", render: (v) => v.framework },
            { title: "Status", render: (v) => <StateBadge state={v.status} /> },
            { title: "Size", render: (v) => bytes(v.size) },
            {
              title: "Aliases",
              render: (v) =>
                Object.entries(aliases.data?.aliases ?? {})
                  .filter(([, to]) => to === v.version)
                  .map(([a]) => <span key={a} className="tag alias">{a}</span>),
            },
            { title: "By", render: (v) => v.created_by },
            { title: "Created", render: (v) => new Date(v.created_at).toLocaleString() },
          ]}
        />
      </section>
      <section>
        <h2>Aliases</h2>
        <Allowed permission="models:write">
          <MoveAlias model={name} onDone={reload} />
        </Allowed>
        <DataTable
          rows={aliases.data?.history ?? []}
          rowKey={(h) => `${h.alias}-${h.moved_at}-${h.to_version}`}
          empty="No alias has been set."
          columns={[
            { title: "Alias", render: (h) => h.alias },
            { title: "From", render: (h) => h.from_version ?? "—" },
            { title: "To", render: (h) => h.to_version ?? "removed" },
            { title: "Moved by", render: (h) => h.moved_by },
            { title: "When", render: (h) => new Date(h.moved_at).toLocaleString() },
          ]}
        />
      </section>
    </>
  );
}

function UploadVersion({ model, onDone }: { model: string; onDone: () => void }) {
  const [open, setOpen] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const [framework, setFramework] = useState("onnx");
  const [metadata, setMetadata] = useState("");
  const [progress, setProgress] = useState(0);
  const action = useAction();
  if (!open) return <button onClick={() => setOpen(true)}>Upload version</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    const headers: Record<string, string> = { "Content-Type": "application/octet-stream" };
    if (metadata.trim()) headers["X-Model-Metadata"] = metadata.replace(/\s*\n\s*/g, " ");
    setProgress(0);
    void action.run(() => upload(`/api/v1/models/${enc(model)}/versions?framework=${enc(framework)}`, file, headers, setProgress), () => {
      setOpen(false);
      setFile(null);
      onDone();
    });
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label="Artifact">
        <input name="artifact" type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      </Field>
      <Field label="Framework">
        <select name="framework" value={framework} onChange={(e) => setFramework(e.target.value)}>
          {FRAMEWORKS.map((f) => (
            <option key={f}>{f}</option>
          ))}
        </select>
      </Field>
      <Field label="Metadata (JSON: signature, metrics, params, lineage)">
        <textarea name="metadata" rows={3} value={metadata} onChange={(e) => setMetadata(e.target.value)} />
      </Field>
      {action.busy && <progress max={1} value={progress} aria-label="Upload progress" />}
      <ErrorLine error={action.error} />
      <div className="row">
        <button type="submit" disabled={action.busy || !file}>
          Upload
        </button>
        <button type="button" className="secondary" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function MoveAlias({ model, onDone }: { model: string; onDone: () => void }) {
  const { can } = useAuth();
  const [alias, setAlias] = useState("");
  const [version, setVersion] = useState("");
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(() => api("PUT", `/api/v1/models/${enc(model)}/aliases/${enc(alias)}`, { version: Number(version) }), onDone);
  };
  return (
    <form className="toolbar" onSubmit={submit}>
      <input aria-label="Alias" placeholder="alias" value={alias} onChange={(e) => setAlias(e.target.value)} />
      <input aria-label="Version" placeholder="version" type="number" min={1} value={version} onChange={(e) => setVersion(e.target.value)} />
      <button type="submit" disabled={action.busy || !alias || !version || (alias === "production" && !can("models:manage"))}>
        Point alias
      </button>
      <ErrorLine error={action.error} />
    </form>
  );
}
