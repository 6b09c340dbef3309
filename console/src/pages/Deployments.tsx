// Deployments: each with its state and what it serves, and a form to deploy a model version or
// alias.
import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import type { Deployment } from "../types";
import { Allowed, DataTable, ErrorLine, Field, PageHeader, StateBadge, FormButtons } from "../components/ui";

export function DeploymentsPage() {
  const list = useApi<{ deployments: Deployment[] }>("/api/v1/deployments", 5000);
  return (
    <>
      <PageHeader title="Deployments">
        <Allowed permission="deployments:write">
          <NewDeployment />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.deployments ?? []}
        rowKey={(d) => d.name}
        empty={list.loading ? "Loading…" : "No deployments yet."}
        columns={[
          { title: "Name", render: (d) => <Link to={`/deployments/${enc(d.name)}`}>{d.name}</Link> },
          { title: "Model", render: (d) => <Link to={`/models/${enc(d.model)}`}>{d.model}</Link> },
          { title: "Follows", render: (d) => (d.alias ? `@${d.alias}` : `version ${d.version}`) },
          { title: "State", render: (d) => <StateBadge state={d.state} /> },
          { title: "Serving", render: (d) => (d.serving ?? []).map((s) => `v${s.version} ${s.role} ${s.weight}%`).join(", ") },
        ]}
      />
    </>
  );
}

function NewDeployment() {
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState({ name: "", model: "", ref: "1" });
  const action = useAction();
  if (!open) return <button onClick={() => setOpen(true)}>New deployment</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const ref = /^\d+$/.test(form.ref) ? { version: Number(form.ref) } : { alias: form.ref.replace(/^@/, "") };
    void action.run(() => api("POST", "/api/v1/deployments", { name: form.name, model: form.model, ...ref }), () =>
      navigate(`/deployments/${enc(form.name)}`),
    );
  };
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label="Name">
        <input name="deployment-name" value={form.name} onChange={set("name")} autoFocus />
      </Field>
      <Field label="Model">
        <input name="deployment-model" value={form.model} onChange={set("model")} />
      </Field>
      <Field label="Version or alias">
        <input name="deployment-ref" value={form.ref} onChange={set("ref")} />
      </Field>
      <ErrorLine error={action.error} />
      {action.busy && <p className="muted">Loading and warming the model…</p>}
      <FormButtons submit="Deploy" disabled={action.busy || !form.name || !form.model || !form.ref} onCancel={() => setOpen(false)} />
    </form>
  );
}
