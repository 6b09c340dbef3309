// Models: the registry's models (by name prefix), a search of versions with the registry's
// filter language and full text, and a form to register a model.
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import type { Model, Version } from "../types";
import { Allowed, DataTable, ErrorLine, Field, PageHeader, StateBadge, when, FormButtons } from "../components/ui";

export function ModelsPage() {
  const [params, setParams] = useSearchParams();
  const prefix = params.get("prefix") ?? "";
  const filter = params.get("filter") ?? "";
  const q = params.get("q") ?? "";
  const models = useApi<{ models: Model[] }>(`/api/v1/models?page_size=1000${prefix ? `&prefix=${enc(prefix)}` : ""}`);
  const searching = filter !== "" || q !== "";
  const found = useApi<{ versions: Version[] }>(
    searching ? `/api/v1/model-versions/search?page_size=200&filter=${enc(filter)}&q=${enc(q)}` : null,
  );
  const [draft, setDraft] = useState({ filter, q });
  const search = (e: FormEvent) => {
    e.preventDefault();
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(draft)) v ? next.set(k, v) : next.delete(k);
    setParams(next);
  };

  return (
    <>
      <PageHeader title="Models">
        <Allowed permission="models:write">
          <NewModel onCreated={models.reload} />
        </Allowed>
      </PageHeader>
      <form className="toolbar" onSubmit={search}>
        <input
          aria-label="Filter"
          placeholder="filter, e.g. task = 'image-classification' AND metrics.accuracy > 0.9"
          value={draft.filter}
          onChange={(e) => setDraft({ ...draft, filter: e.target.value })}
          className="grow"
        />
        <input aria-label="Words" placeholder="words" value={draft.q} onChange={(e) => setDraft({ ...draft, q: e.target.value })} />
        <button type="submit">Search versions</button>
        {searching && (
          <button type="button" className="secondary" onClick={() => (setDraft({ filter: "", q: "" }), setParams({}))}>
            Clear
          </button>
        )}
      </form>
      {searching ? (
        <section>
          <h2>Versions found</h2>
          <ErrorLine error={found.error} />
          <DataTable
            rows={found.data?.versions ?? []}
            rowKey={(v) => `${v.model}/${v.version}`}
            empty={found.loading ? "Searching…" : "No version matches."}
            columns={[
              { title: "Model", render: (v) => <Link to={`/models/${enc(v.model)}`}>{v.model}</Link> },
              { title: "Version", render: (v) => <Link to={`/models/${enc(v.model)}/versions/${v.version}`}>{v.version}</Link> },
              { title: "Framework", render: (v) => v.framework },
              { title: "Status", render: (v) => <StateBadge state={v.status} /> },
              { title: "Metrics", render: (v) => <code>{JSON.stringify(v.metrics)}</code> },
            ]}
          />
        </section>
      ) : (
        <section>
          <div className="toolbar">
            <input
              aria-label="Name prefix"
              placeholder="name prefix"
              defaultValue={prefix}
              onChange={(e) => setParams(e.target.value ? { prefix: e.target.value } : {})}
            />
            <span className="muted" data-testid="model-count">
              {models.data ? `${models.data.models.length} models` : ""}
            </span>
          </div>
          <ErrorLine error={models.error} />
          <DataTable
            rows={models.data?.models ?? []}
            rowKey={(m) => m.name}
            empty={models.loading ? "Loading…" : "No models yet."}
            columns={[
              // A plain link: a thousand router Links cost more to draw than the rest of the rows.
              { title: "Name", render: (m) => <a href={`#/models/${enc(m.name)}`}>{m.name}</a> },
              { title: "Task", render: (m) => m.task ?? "" },
              { title: "Tags", render: (m) => m.tags.map((t) => <span key={t} className="tag">{t}</span>) },
              { title: "Owner", render: (m) => m.owner },
              { title: "Updated", render: (m) => when(m.updated_at) },
            ]}
          />
        </section>
      )}
    </>
  );
}

function NewModel({ onCreated }: { onCreated: () => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const action = useAction();
  if (!open) return <button onClick={() => setOpen(true)}>New model</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(() => api("POST", "/api/v1/models", { name, description }), () => {
      setOpen(false);
      setName("");
      setDescription("");
      onCreated();
    });
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label="Name">
        <input name="model-name" value={name} onChange={(e) => setName(e.target.value)} autoFocus />
      </Field>
      <Field label="Model card (Markdown)">
        <textarea name="model-card" rows={4} value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy || !name} onCancel={() => setOpen(false)} />
    </form>
  );
}
