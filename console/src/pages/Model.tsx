// A model: its card, versions, aliases with who moved them, and the upload of a new version.
import { createTar } from "nanotar";
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { api, enc, upload } from "../api";
import { useAuth } from "../auth";
import { useAction, useApi } from "../hooks";
import type { AliasMove, Model, Version } from "../types";
import { Markdown } from "../components/Markdown";
import { DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, bytes, when } from "../components/ui";

const FRAMEWORKS = ["onnx", "torchscript", "xgboost", "fasttext"];
const LEVELS = ["none", "read", "write", "manage"];

interface Grants {
  owner: string;
  grants: { subject: string; level: string }[];
}

// The user's access to one model, as the registry decides it (registry::Registry::Authorize):
// the highest of their roles' models:* permissions, ownership (manage) and grants to them or
// to one of their roles.
function useModelAccess(grants: Grants | null): number {
  const { me, can } = useAuth();
  let have = 0;
  if (can("models:read")) have = 1;
  if (can("models:write")) have = 2;
  if (can("models:manage")) have = 3;
  if (!me || !grants) return have;
  if (grants.owner === me.username) have = 3;
  for (const g of grants.grants) {
    const mine = g.subject === `user:${me.username}` || me.roles.some((r) => g.subject === `role:${r}`);
    if (mine) have = Math.max(have, LEVELS.indexOf(g.level));
  }
  return have;
}

export function ModelPage() {
  const name = useParams().name!;
  const model = useApi<Model>(`/api/v1/models/${enc(name)}`);
  const versions = useApi<{ versions: Version[] }>(`/api/v1/models/${enc(name)}/versions?page_size=1000`);
  const aliases = useApi<{ aliases: Record<string, number>; history: AliasMove[] }>(`/api/v1/models/${enc(name)}/aliases`);
  const grants = useApi<Grants>(`/api/v1/models/${enc(name)}/grants`);
  const access = useModelAccess(grants.data);
  const reload = () => {
    model.reload();
    versions.reload();
    aliases.reload();
  };
  const m = model.data;
  return (
    <>
      <PageHeader title={<><Link to="/models">Models</Link> › {name}</>}>
        {access >= 2 && <UploadVersion model={name} onDone={reload} />}
      </PageHeader>
      <ErrorLine error={model.error} />
      {m && (
        <section className="card">
          <p className="muted">
            {m.task && <>Task: {m.task} · </>}Owner: {m.owner} · Updated {when(m.updated_at)}
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
            { title: "Created", render: (v) => when(v.created_at) },
          ]}
        />
      </section>
      <section>
        <h2>Aliases</h2>
        {access >= 2 && <MoveAlias model={name} mayManage={access >= 3} onDone={reload} />}
        <DataTable
          rows={aliases.data?.history ?? []}
          rowKey={(h) => `${h.alias}-${h.moved_at}-${h.from_version}-${h.to_version}`}
          empty="No alias has been set."
          columns={[
            { title: "Alias", render: (h) => h.alias },
            { title: "From", render: (h) => h.from_version ?? "—" },
            { title: "To", render: (h) => h.to_version ?? "removed" },
            { title: "Moved by", render: (h) => h.moved_by },
            { title: "When", render: (h) => when(h.moved_at) },
          ]}
        />
      </section>
    </>
  );
}

// A folder chosen in the browser, as the tar the registry takes for a directory version: the
// paths below the folder itself, the executable bit unknown to browsers (0644).
async function tarOf(files: File[]): Promise<Blob> {
  const entries = await Promise.all(
    files.map(async (f) => ({
      name: (f.webkitRelativePath || f.name).split("/").slice(1).join("/") || f.name,
      data: new Uint8Array(await f.arrayBuffer()),
    })),
  );
  return new Blob([createTar(entries) as Uint8Array<ArrayBuffer>], { type: "application/x-tar" });
}

function UploadVersion({ model, onDone }: { model: string; onDone: () => void }) {
  const [open, setOpen] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const [folder, setFolder] = useState<File[] | null>(null);
  const [kind, setKind] = useState<"file" | "folder">("file");
  const [framework, setFramework] = useState("onnx");
  const [metadata, setMetadata] = useState("");
  const [progress, setProgress] = useState(0);
  const action = useAction();
  if (!open) return <button onClick={() => setOpen(true)}>Upload version</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const headers: Record<string, string> = { "Content-Type": kind === "folder" ? "application/x-tar" : "application/octet-stream" };
    if (metadata.trim()) {
      // One line of ASCII: a header carries no newlines, and XHR sends no UTF-8 in headers.
      try {
        headers["X-Model-Metadata"] = JSON.stringify(JSON.parse(metadata)).replace(
          /[\u007f-\uffff]/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
        );
      } catch {
        action.setError("the metadata is not JSON");
        return;
      }
    }
    setProgress(0);
    void action.run(async () => {
      const body = kind === "folder" ? await tarOf(folder ?? []) : file;
      if (!body) return;
      await upload(`/api/v1/models/${enc(model)}/versions?framework=${enc(framework)}`, body, headers, setProgress);
    }, () => {
      setOpen(false);
      setFile(null);
      setFolder(null);
      onDone();
    });
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <div className="row" role="radiogroup" aria-label="Artifact kind">
        <label>
          <input type="radio" name="kind" checked={kind === "file"} onChange={() => setKind("file")} /> a file
        </label>
        <label>
          <input type="radio" name="kind" checked={kind === "folder"} onChange={() => setKind("folder")} /> a folder
        </label>
      </div>
      {kind === "file" ? (
        <Field label="Artifact">
          <input name="artifact" type="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </Field>
      ) : (
        <Field label="Folder (the entry is model.<framework's extension> unless the metadata names one)">
          <input
            name="artifact-folder"
            type="file"
            multiple
            ref={(el) => el?.setAttribute("webkitdirectory", "")}
            onChange={(e) => setFolder(e.target.files ? Array.from(e.target.files) : null)}
          />
        </Field>
      )}
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
      <FormButtons submit="Upload" disabled={action.busy || (kind === "file" ? !file : !folder?.length)} onCancel={() => setOpen(false)} />
    </form>
  );
}

function MoveAlias({ model, mayManage, onDone }: { model: string; mayManage: boolean; onDone: () => void }) {
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
      <button type="submit" disabled={action.busy || !alias || !version || (alias === "production" && !mayManage)}>
        Point alias
      </button>
      <ErrorLine error={action.error} />
    </form>
  );
}
