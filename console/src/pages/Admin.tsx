// Administration: users and their roles, roles, API keys (a new key is shown once) and the
// audit log.
import { useState, type FormEvent } from "react";
import { api, enc } from "../api";
import { useAuth } from "../auth";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, PageHeader, when, day } from "../components/ui";

interface User {
  username: string;
  roles: string[];
  created_at?: string;
}
interface Role {
  name: string;
  permissions: string[];
  builtin: boolean;
}
interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  owner: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked: boolean;
}
interface AuditEntry {
  id: number;
  time: string;
  actor: string;
  method: string;
  path: string;
  status: number;
}

export function AdminPage() {
  const { can } = useAuth();
  return (
    <>
      <PageHeader title="Administration" />
      {can("users:read") && <Users />}
      {can("roles:read") && <Roles />}
      <Keys />
      {can("audit:read") && <Audit />}
    </>
  );
}

function Users() {
  const users = useApi<{ users: User[] }>("/api/v1/users?page_size=1000");
  const roles = useApi<{ roles: Role[] }>("/api/v1/roles");
  const [form, setForm] = useState({ username: "", password: "", role: "viewer" });
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(() => api("POST", "/api/v1/users", { username: form.username, password: form.password, roles: [form.role] }), () => {
      setForm({ username: "", password: "", role: "viewer" });
      users.reload();
    });
  };
  return (
    <section>
      <h2>Users</h2>
      <ErrorLine error={users.error ?? action.error} />
      <DataTable
        rows={users.data?.users ?? []}
        rowKey={(u) => u.username}
        columns={[
          { title: "User", render: (u) => u.username },
          { title: "Roles", render: (u) => u.roles.join(", ") },
          {
            title: "",
            render: (u) => (
              <Allowed permission="users:write">
                <button className="danger" onClick={() => confirm(`Delete user ${u.username}?`) && void action.run(() => api("DELETE", `/api/v1/users/${enc(u.username)}`), users.reload)}>
                  Delete
                </button>
              </Allowed>
            ),
          },
        ]}
      />
      <Allowed permission="users:write">
        <form className="toolbar" onSubmit={submit}>
          <input aria-label="New username" placeholder="username" value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} />
          <input aria-label="New password" placeholder="password" type="password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} />
          <select aria-label="Role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
            {(roles.data?.roles ?? []).map((r) => (
              <option key={r.name}>{r.name}</option>
            ))}
          </select>
          <button type="submit" disabled={!form.username || !form.password || action.busy}>
            Create user
          </button>
        </form>
      </Allowed>
    </section>
  );
}

function Roles() {
  const roles = useApi<{ roles: Role[] }>("/api/v1/roles");
  return (
    <section>
      <h2>Roles</h2>
      <ErrorLine error={roles.error} />
      <DataTable
        rows={roles.data?.roles ?? []}
        rowKey={(r) => r.name}
        columns={[
          { title: "Role", render: (r) => <>{r.name}{r.builtin && <span className="tag">built in</span>}</> },
          { title: "Permissions", render: (r) => <code className="wrap">{r.permissions.join(" ")}</code> },
        ]}
      />
    </section>
  );
}

function Keys() {
  const { can } = useAuth();
  const keys = useApi<{ apikeys: ApiKey[] }>(can("apikeys:read") ? "/api/v1/apikeys" : null);
  const [name, setName] = useState("");
  const [shown, setShown] = useState("");
  const action = useAction();
  if (!can("apikeys:read") && !can("apikeys:write")) return null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const k = await api<{ key: string }>("POST", "/api/v1/apikeys", { name });
      setShown(k.key);
      setName("");
    }, keys.reload);
  };
  return (
    <section>
      <h2>API keys</h2>
      <ErrorLine error={keys.error ?? action.error} />
      {shown && (
        <p className="notice" data-testid="new-key">
          The new key, shown this once: <code>{shown}</code>
        </p>
      )}
      <DataTable
        rows={keys.data?.apikeys ?? []}
        rowKey={(k) => k.id}
        empty="No API keys."
        columns={[
          { title: "Name", render: (k) => k.name },
          { title: "Key", render: (k) => <code>{k.prefix}…</code> },
          { title: "Owner", render: (k) => k.owner },
          { title: "Expires", render: (k) => (k.expires_at ? day(k.expires_at) : "never") },
          { title: "Last used", render: (k) => (k.last_used_at ? when(k.last_used_at) : "—") },
          {
            title: "",
            render: (k) =>
              k.revoked ? (
                "revoked"
              ) : (
                <Allowed permission="apikeys:write">
                  <button className="danger" onClick={() => void action.run(() => api("DELETE", `/api/v1/apikeys/${enc(k.id)}`), keys.reload)}>
                    Revoke
                  </button>
                </Allowed>
              ),
          },
        ]}
      />
      <Allowed permission="apikeys:write">
        <form className="toolbar" onSubmit={submit}>
          <input aria-label="Key name" placeholder="key name" value={name} onChange={(e) => setName(e.target.value)} />
          <button type="submit" disabled={!name || action.busy}>
            Create API key
          </button>
        </form>
      </Allowed>
    </section>
  );
}

function Audit() {
  const [actor, setActor] = useState("");
  const audit = useApi<{ entries: AuditEntry[] }>(`/api/v1/audit?page_size=200${actor ? `&actor=${enc(actor)}` : ""}`);
  return (
    <section>
      <h2>Audit log</h2>
      <div className="toolbar">
        <input aria-label="Actor" placeholder="actor" value={actor} onChange={(e) => setActor(e.target.value)} />
      </div>
      <ErrorLine error={audit.error} />
      <DataTable
        rows={audit.data?.entries ?? []}
        rowKey={(a) => String(a.id)}
        columns={[
          { title: "When", render: (a) => when(a.time) },
          { title: "Who", render: (a) => a.actor },
          { title: "What", render: (a) => <code>{a.method} {a.path}</code> },
          { title: "Status", render: (a) => a.status },
        ]}
      />
    </section>
  );
}
