// The small pieces every page is made of: a table, an error line, a labelled field, a page
// header, and a button that a missing permission hides.
import type { ReactNode } from "react";
import { useAuth } from "../auth";
import type { ApiError } from "../api";

export interface Column<T> {
  title: string;
  render: (row: T) => ReactNode;
  className?: string;
}

export function DataTable<T>({ rows, columns, rowKey, empty }: { rows: T[]; columns: Column<T>[]; rowKey: (r: T) => string; empty?: string }) {
  if (rows.length === 0) return <p className="muted">{empty ?? "Nothing here yet."}</p>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.title} className={c.className}>
                {c.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={rowKey(r)}>
              {columns.map((c) => (
                <td key={c.title} className={c.className}>
                  {c.render(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ErrorLine({ error }: { error: ApiError | string | null | undefined }) {
  if (!error) return null;
  const text = typeof error === "string" ? error : `${error.message} (${error.code})`;
  return (
    <p className="error" role="alert">
      {text}
    </p>
  );
}

export function PageHeader({ title, children }: { title: ReactNode; children?: ReactNode }) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      <div className="actions">{children}</div>
    </div>
  );
}

// The last row of a form that opened in place: its action, and Cancel to fold it again.
export function FormButtons({ submit, disabled, onCancel }: { submit: string; disabled: boolean; onCancel: () => void }) {
  return (
    <div className="row">
      <button type="submit" disabled={disabled}>
        {submit}
      </button>
      <button type="button" className="secondary" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}

export function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
    </label>
  );
}

// A button shown only to users whose roles grant `permission`.
export function Allowed({ permission, children }: { permission: string; children: ReactNode }) {
  const { can } = useAuth();
  return can(permission) ? <>{children}</> : null;
}

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge state-${state.replace(/[^a-z_]/g, "")}`}>{state}</span>;
}

// One formatter for every date on a page: toLocaleString() builds a new one at each call,
// which costs more than the rest of a table row.
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

// A date from an RFC 3339 string or unix milliseconds, in the user's locale and zone.
export function when(t: string | number | null | undefined): string {
  if (t === null || t === undefined || t === "") return "—";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : dateTime.format(d);
}
export const day = (t: string | number) => dateOnly.format(new Date(t));
export const clock = (t: string | number) => timeOnly.format(new Date(t));

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
