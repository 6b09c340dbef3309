// Recommender apps (module recommend): the apps with their counts, state and served model (a
// create form taking the app as JSON beside them); an app's page with its configuration, counts
// and training (Train, followed until the run ends), the catalogue with each item's similar
// items, a user's history beside their recommendations and the reason for each, offline
// evaluations (a row per algorithm, the best marked, against the popularity baseline), and A/B
// experiments with their click-through and conversion per variant and the tests against the
// control.
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, when } from "../components/ui";

interface Counts {
  items: number;
  items_seen: number;
  users: number;
  feedback: number;
}

interface ModelInfo {
  events: number;
  pairs: number;
  users: number;
  items: number;
  train_seconds: number;
  seconds: Record<string, number>;
  ranker: Record<string, number> | null;
  [algorithm: string]: unknown;
}

interface RecApp {
  name: string;
  description: string;
  feedback_types: Record<string, number>;
  exclude_consumed: boolean;
  algorithm: string;
  max_per_category: number;
  click_types: string[];
  conversion_types: string[];
  training: Record<string, unknown>;
  owner: string;
  state: string;
  error?: string;
  created_at: string;
  updated_at: string;
  model: string;
  pipeline: string;
  pipeline_run?: number;
  counts: Counts;
  model_version: number | null;
  trained?: { items: number; until: string; ranker: boolean; info: ModelInfo };
}

interface Item {
  id: string;
  categories: string[];
  labels: string[];
  properties: Record<string, unknown>;
  hidden: boolean;
  timestamp: string;
  popularity: number;
}

interface Reason {
  algorithm: string;
  item?: string;
  text: string;
}

interface Scored {
  id: string;
  categories: string[];
  score: number;
  reason?: Reason;
}

interface Recommendations {
  user: string;
  items: Scored[];
  algorithm: string;
  model_version: number | null;
  experiment?: string;
  variant?: string;
}

interface UserView {
  id: string;
  items_consumed: number;
  history: { item: string; type: string; value: number; timestamp: string; session?: string }[];
}

interface AlgorithmScore {
  name: string;
  precision: number;
  recall: number;
  ndcg: number;
  map: number;
  hit_rate: number;
  coverage: number;
  users: number;
}

interface Evaluation {
  id: number;
  state: string;
  created_at: string;
  request: { split_at: string; k: number };
  pipeline_run?: number;
  error?: string;
  result?: {
    k: number;
    split_at: string;
    train_events: number;
    test_events: number;
    test_users: number;
    items: number;
    algorithms: AlgorithmScore[];
    baseline: string;
    best: string;
    best_ndcg_over_baseline: number | null;
    tracking_run?: number;
  };
}

interface Variant {
  name: string;
  algorithm: string;
  weight: number;
}

interface Experiment {
  name: string;
  state: string;
  started_at: string;
  stopped_at?: string;
  window_hours: number;
  variants: Variant[];
}

interface VariantResult extends Variant {
  users: number;
  exposures: number;
  clicks: number;
  conversions: number;
  ctr: number;
  conversion_rate: number;
  vs_control?: {
    ctr_z: number;
    ctr_p_value: number;
    ctr_significant: boolean;
    conversion_z: number;
    conversion_p_value: number;
    conversion_significant: boolean;
  };
}

interface ExperimentResult extends Omit<Experiment, "variants"> {
  control: string;
  click_types: string[];
  conversion_types: string[];
  variants: VariantResult[];
}

const ALGORITHMS = ["ranker", "als", "bpr", "item_knn", "session", "history", "recent", "popular"];
const METRICS = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage"] as const;

const EXAMPLE_APP = JSON.stringify({ name: "shop", feedback_types: { view: 1, cart: 3, purchase: 5 }, exclude_consumed: true }, null, 2);

const num4 = (x: number) => x.toFixed(4);
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
// A setting as people write it: 0.10000000149011612 (a float widened to double) → 0.1.
const setting = (v: unknown) => (typeof v === "number" ? String(+v.toPrecision(4)) : String(v));

// What an item is called: its title, name or description property (as the server's reasons
// would), else its id.
function titleOf(properties: Record<string, unknown> | undefined): string {
  for (const k of ["title", "name", "description"]) {
    const v = properties?.[k];
    if (typeof v === "string") return v;
  }
  return "";
}

// The catalogue's first 1,000 items, for the titles of the items answers name by id only.
function useTitles(app: string) {
  const items = useApi<{ items: Item[] }>(`/api/v1/recommend/apps/${enc(app)}/items?limit=1000`);
  return useMemo(() => {
    const titles = new Map<string, string>();
    const categories = new Set<string>();
    for (const i of items.data?.items ?? []) {
      titles.set(i.id, titleOf(i.properties));
      i.categories.forEach((c) => categories.add(c));
    }
    return { titles, categories: [...categories].sort() };
  }, [items.data]);
}

function Tags({ names }: { names: string[] }) {
  return (
    <>
      {names.map((c) => (
        <span className="tag" key={c}>
          {c}
        </span>
      ))}
    </>
  );
}

function CreateApp() {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState(EXAMPLE_APP);
  const action = useAction();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New app</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      action.setError("the app is not JSON");
      return;
    }
    void action.run(async () => {
      const made = await api<RecApp>("POST", "/api/v1/recommend/apps", parsed);
      navigate(`/recommend/apps/${enc(made.name)}`);
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-label="New app">
      <Field label="App (JSON)">
        <textarea name="app" rows={10} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
      </Field>
      <p className="muted">
        Also: description, algorithm (the default answer: {ALGORITHMS.join(", ")}), max_per_category, click_types, conversion_types,
        training options.
      </p>
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy} onCancel={() => setOpen(false)} />
    </form>
  );
}

export function RecommendAppsPage() {
  const list = useApi<{ apps: RecApp[] }>("/api/v1/recommend/apps", 5000);
  return (
    <>
      <PageHeader title="Recommendation">
        <Allowed permission="recommend:write">
          <CreateApp />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.apps ?? []}
        rowKey={(a) => a.name}
        empty={list.loading ? "Loading…" : "No recommender apps: create one, send it the catalogue and feedback, then train it."}
        columns={[
          { title: "App", render: (a) => <Link to={`/recommend/apps/${enc(a.name)}`}>{a.name}</Link> },
          { title: "State", render: (a) => <StateBadge state={a.state} /> },
          { title: "Items", render: (a) => a.counts.items.toLocaleString(), className: "num" },
          { title: "Users", render: (a) => a.counts.users.toLocaleString(), className: "num" },
          { title: "Feedback", render: (a) => a.counts.feedback.toLocaleString(), className: "num" },
          { title: "Model version", render: (a) => a.model_version ?? "—" },
          { title: "Algorithm", render: (a) => a.algorithm },
          { title: "Updated", render: (a) => when(a.updated_at) },
        ]}
      />
    </>
  );
}

function Overview({ app }: { app: RecApp }) {
  const t = app.trained;
  const algorithms = t ? ["item_knn", "session", "als", "bpr"].filter((k) => t.info[k] !== undefined) : [];
  return (
    <>
      <h2>Configuration</h2>
      <dl className="facts" aria-label="Configuration">
        {app.description && (
          <>
            <dt>Description</dt>
            <dd>{app.description}</dd>
          </>
        )}
        <dt>Feedback types</dt>
        <dd>
          {Object.entries(app.feedback_types)
            .map(([type, w]) => `${type} ×${w}`)
            .join(", ")}
        </dd>
        <dt>Clicks, conversions</dt>
        <dd>
          {app.click_types.join(", ")}; {app.conversion_types.join(", ")}
        </dd>
        <dt>Answers with</dt>
        <dd>{app.algorithm}</dd>
        <dt>Consumed items</dt>
        <dd>{app.exclude_consumed ? "never recommended again" : "may be recommended again"}</dd>
        <dt>Per category</dt>
        <dd>{app.max_per_category ? `at most ${app.max_per_category} in an answer` : "no limit"}</dd>
        <dt>Training options</dt>
        <dd>{Object.keys(app.training).length ? <code>{JSON.stringify(app.training)}</code> : "the defaults"}</dd>
      </dl>
      <h2>Training</h2>
      {t ? (
        <>
          <dl className="facts" aria-label="Trained model">
            <dt>Trained on</dt>
            <dd data-testid="trained-events">
              {t.info.events.toLocaleString()} pieces of feedback ({t.info.pairs.toLocaleString()} user–item pairs) of{" "}
              {t.info.users.toLocaleString()} users on {t.items.toLocaleString()} items
            </dd>
            <dt>Feedback up to</dt>
            <dd>{when(t.until)}</dd>
            <dt>Took</dt>
            <dd>{t.info.train_seconds.toFixed(2)} s</dd>
            <dt>Ranker</dt>
            <dd>
              {t.ranker && t.info.ranker
                ? `trained on ${t.info.ranker.users} users' last ${t.info.ranker.days} days (${t.info.ranker.rows} candidates, ${t.info.ranker.positives} chosen), ${t.info.ranker.rounds} rounds`
                : "not trained (too little feedback in the last days); ranker answers come from the other algorithms"}
            </dd>
          </dl>
          <DataTable
            rows={algorithms}
            rowKey={(k) => k}
            columns={[
              { title: "Algorithm", render: (k) => k },
              { title: "Seconds", render: (k) => (t.info.seconds[k] ?? 0).toFixed(3), className: "num" },
              {
                title: "Settings",
                render: (k) =>
                  Object.entries(t.info[k] as Record<string, unknown>)
                    .map(([s, v]) => `${s} ${setting(v)}`)
                    .join(", "),
              },
            ]}
          />
        </>
      ) : (
        <p className="muted">No model yet: recommendations are the most popular items until the app is trained.</p>
      )}
    </>
  );
}

function SimilarItems({ app, item, titles }: { app: string; item: string; titles: Map<string, string> }) {
  const similar = useApi<{ item: string; items: Scored[] }>(`/api/v1/recommend/apps/${enc(app)}/items/${enc(item)}/similar?n=10`);
  return (
    <section className="card" aria-label="Similar items">
      <h3>
        Similar to {item}
        {titles.get(item) ? ` (${titles.get(item)})` : ""}
      </h3>
      <ErrorLine error={similar.error} />
      {similar.data?.item === item && (
        <DataTable
          rows={similar.data.items}
          rowKey={(s) => s.id}
          empty="No similar items: nobody chose this item with another yet."
          columns={[
            { title: "Item", render: (s) => s.id },
            { title: "Title", render: (s) => titles.get(s.id) ?? "" },
            { title: "Categories", render: (s) => <Tags names={s.categories} /> },
            { title: "Score", render: (s) => num4(s.score), className: "num" },
            { title: "Why", render: (s) => s.reason?.text ?? "" },
          ]}
        />
      )}
    </section>
  );
}

const PAGE = 25;

function Catalogue({ app }: { app: string }) {
  const [pages, setPages] = useState<string[]>([""]); // the `after` of each page seen, this one last
  const after = pages[pages.length - 1];
  const list = useApi<{ items: Item[]; next_after?: string }>(
    `/api/v1/recommend/apps/${enc(app)}/items?limit=${PAGE}${after ? `&after=${enc(after)}` : ""}`,
  );
  const { titles } = useTitles(app);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section aria-label="Catalogue">
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.items ?? []}
        rowKey={(i) => i.id}
        empty={list.loading ? "Loading…" : "The catalogue is empty: POST items to it."}
        columns={[
          {
            title: "Item",
            render: (i) => (
              <button className="link" onClick={() => setOpen(i.id)}>
                {i.id}
              </button>
            ),
          },
          { title: "Title", render: (i) => titleOf(i.properties) },
          { title: "Categories", render: (i) => <Tags names={i.categories} /> },
          { title: "Popularity", render: (i) => +i.popularity.toFixed(2), className: "num" },
          { title: "Hidden", render: (i) => (i.hidden ? "hidden" : "") },
        ]}
      />
      <div className="toolbar">
        <button className="secondary" disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>
          Previous
        </button>
        <button className="secondary" disabled={!list.data?.next_after} onClick={() => setPages([...pages, list.data!.next_after!])}>
          Next
        </button>
        <span className="muted">
          {after ? `after ${after}` : "from the start"}, {PAGE} a page
        </span>
      </div>
      {open && <SimilarItems app={app} item={open} titles={titles} />}
    </section>
  );
}

// A user's newest feedback beside what the app recommends them now, with an algorithm and a
// category to ask for. The app's default algorithm is named explicitly so that looking does
// not count as an exposure in an experiment; "as served" asks as the app's clients do.
function Users({ app }: { app: RecApp }) {
  const base = `/api/v1/recommend/apps/${enc(app.name)}`;
  const users = useApi<{ users: { id: string; items_consumed: number }[] }>(`${base}/users?limit=1000`);
  const { titles, categories } = useTitles(app.name);
  const [typed, setTyped] = useState("");
  const [user, setUser] = useState("");
  const [algorithm, setAlgorithm] = useState(app.algorithm);
  const [category, setCategory] = useState("");
  const query = `n=10${algorithm ? `&algorithm=${enc(algorithm)}` : ""}${category ? `&category=${enc(category)}` : ""}`;
  const view = useApi<UserView>(user ? `${base}/users/${enc(user)}?history=50` : null);
  const recs = useApi<Recommendations>(user ? `${base}/users/${enc(user)}/recommendations?${query}` : null);
  const show = (e: FormEvent) => {
    e.preventDefault();
    setUser(typed.trim());
  };
  return (
    <section aria-label="Users">
      <form className="toolbar" onSubmit={show} aria-label="Pick a user">
        <Field label="User">
          <input name="user" list="recommend-users" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
        </Field>
        <datalist id="recommend-users">
          {(users.data?.users ?? []).map((u) => (
            <option key={u.id} value={u.id}>{`${u.items_consumed} items`}</option>
          ))}
        </datalist>
        <Field label="Algorithm">
          <select name="algorithm" value={algorithm} onChange={(e) => setAlgorithm(e.target.value)}>
            {ALGORITHMS.map((a) => (
              <option key={a} value={a}>
                {a}
                {a === app.algorithm ? " (the app's)" : ""}
              </option>
            ))}
            <option value="">as served (counts in a running experiment)</option>
          </select>
        </Field>
        <Field label="Category">
          <select name="category" value={category} onChange={(e) => setCategory(e.target.value)}>
            <option value="">any</option>
            {categories.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit" disabled={!typed.trim()}>
          Show
        </button>
      </form>
      <ErrorLine error={users.error ?? view.error ?? recs.error} />
      {!user && (
        <p className="muted">
          Pick one of {users.data ? users.data.users.length.toLocaleString() : "the"}
          {users.data && users.data.users.length === 1000 ? "+" : ""} users, or type an id (a user without feedback gets the popular items).
        </p>
      )}
      {user && (
        <div className="two-columns">
          <div>
            <h3>
              History of {user}
              {view.data?.id === user ? ` (${view.data.items_consumed} items)` : ""}
            </h3>
            {view.data?.id === user && (
              <DataTable
                rows={view.data.history.map((h, k) => ({ ...h, k }))}
                rowKey={(h) => String(h.k)}
                empty="No feedback from this user."
                columns={[
                  { title: "When", render: (h) => when(h.timestamp) },
                  { title: "Item", render: (h) => h.item },
                  { title: "Title", render: (h) => titles.get(h.item) ?? "" },
                  { title: "Type", render: (h) => (h.value === 1 ? h.type : `${h.type} ×${h.value}`) },
                  { title: "Session", render: (h) => h.session ?? "" },
                ]}
              />
            )}
          </div>
          <div>
            <h3>Recommendations</h3>
            {recs.data?.user === user && (
              <>
                <p className="muted" data-testid="served-by">
                  Served by {recs.data.algorithm}, model version {recs.data.model_version ?? "none"}
                  {recs.data.experiment ? `; experiment ${recs.data.experiment}, variant ${recs.data.variant}` : ""}
                </p>
                <ol className="hits" aria-label="Recommendations">
                  {recs.data.items.map((r) => (
                    <li key={r.id} data-item={r.id}>
                      <strong>{r.id}</strong> {titles.get(r.id)} <Tags names={r.categories} />{" "}
                      <span className="muted">score {num4(r.score)}</span>
                      <br />
                      <span className="reason">{r.reason?.text}</span> <span className="muted">({r.reason?.algorithm})</span>
                    </li>
                  ))}
                </ol>
                {recs.data.items.length === 0 && <p className="muted">Nothing to recommend{category ? ` in ${category}` : ""}.</p>}
              </>
            )}
          </div>
        </div>
      )}
    </section>
  );
}

function EvaluationTable({ e }: { e: Evaluation }) {
  const r = e.result;
  if (e.state === "running") return <p className="muted">Evaluating: every algorithm trained on the feedback before {when(e.request.split_at)}…</p>;
  if (!r) return <p className="error">Failed: {e.error}</p>;
  return (
    <>
      <p className="muted" data-testid="evaluation-summary">
        Trained on {r.train_events.toLocaleString()} pieces of feedback before {when(r.split_at)}; the truth is what{" "}
        {r.test_users.toLocaleString()} users chose from then on ({r.test_events.toLocaleString()} pieces), {r.items} items, top {r.k}.
        {r.tracking_run !== undefined && (
          <>
            {" "}
            <Link to={`/runs/${r.tracking_run}`}>Tracking run {r.tracking_run}</Link>
          </>
        )}
      </p>
      <div className="table-wrap">
        <table aria-label={`Evaluation ${e.id}`}>
          <thead>
            <tr>
              <th>Algorithm</th>
              {METRICS.map((m) => (
                <th key={m} className="num">
                  {m === "hit_rate" ? "hit rate" : m}
                  {m === "coverage" ? "" : `@${r.k}`}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {r.algorithms.map((a) => {
              const best = a.name === r.best;
              return (
                <tr key={a.name} data-best={best || undefined}>
                  <th scope="row" className={best ? "best" : undefined}>
                    {a.name}
                    {best ? " ★ best" : a.name === r.baseline ? " (baseline)" : ""}
                  </th>
                  {METRICS.map((m) => (
                    <td key={m} className={best ? "num best" : "num"}>
                      {num4(a[m])}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p data-testid="evaluation-best">
        Best: <strong>{r.best || "—"}</strong>
        {r.best_ndcg_over_baseline !== null
          ? `, NDCG@${r.k} ${r.best_ndcg_over_baseline.toFixed(2)}× the ${r.baseline} baseline`
          : `; the ${r.baseline} baseline scored 0`}
      </p>
    </>
  );
}

function Evaluations({ app }: { app: string }) {
  const base = `/api/v1/recommend/apps/${enc(app)}`;
  const [fast, setFast] = useState(false);
  const list = useApi<{ evaluations: Evaluation[] }>(`${base}/evaluations`, fast ? 1500 : 10000);
  const evaluations = list.data?.evaluations ?? [];
  const running = evaluations.some((e) => e.state === "running");
  useEffect(() => setFast(running), [running]);
  const [open, setOpen] = useState<number | null>(null);
  const [split, setSplit] = useState<"days" | "time">("days");
  const [days, setDays] = useState("30");
  const [at, setAt] = useState("");
  const [k, setK] = useState("10");
  const action = useAction();
  const shown = evaluations.find((e) => e.id === open) ?? evaluations[0];
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = { k: Number(k) };
    if (split === "days") body.test_days = Number(days);
    else body.split_at = new Date(at).toISOString();
    void action.run(async () => {
      const made = await api<Evaluation>("POST", `${base}/evaluate`, body);
      setOpen(made.id);
      list.reload();
    });
  };
  return (
    <section aria-label="Evaluation">
      <Allowed permission="recommend:write">
        <form className="toolbar" onSubmit={submit} aria-label="New evaluation">
          <Field label="Split">
            <select name="split" value={split} onChange={(e) => setSplit(e.target.value as "days" | "time")}>
              <option value="days">the last days are the truth</option>
              <option value="time">at a time</option>
            </select>
          </Field>
          {split === "days" ? (
            <Field label="Test days">
              <input name="test_days" type="number" min={1} max={3650} value={days} onChange={(e) => setDays(e.target.value)} />
            </Field>
          ) : (
            <Field label="Split at">
              <input name="split_at" type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} required />
            </Field>
          )}
          <Field label="Top k">
            <input name="k" type="number" min={1} max={100} value={k} onChange={(e) => setK(e.target.value)} />
          </Field>
          <button type="submit" disabled={action.busy}>
            Evaluate
          </button>
        </form>
      </Allowed>
      <ErrorLine error={list.error ?? action.error} />
      <DataTable
        rows={evaluations}
        rowKey={(e) => String(e.id)}
        empty="No evaluations yet: every algorithm is trained on the feedback before a time and scored on what users chose after it."
        columns={[
          {
            title: "Evaluation",
            render: (e) => (
              <button className="link" onClick={() => setOpen(e.id)}>
                #{e.id}
              </button>
            ),
          },
          { title: "State", render: (e) => <StateBadge state={e.state} /> },
          { title: "Split at", render: (e) => when(e.request.split_at) },
          { title: "k", render: (e) => e.request.k },
          { title: "Best", render: (e) => e.result?.best ?? "—" },
          {
            title: "Over baseline",
            render: (e) => (e.result?.best_ndcg_over_baseline != null ? `${e.result.best_ndcg_over_baseline.toFixed(2)}×` : "—"),
          },
          { title: "Started", render: (e) => when(e.created_at) },
        ]}
      />
      {shown && (
        <>
          <h3>Evaluation #{shown.id}</h3>
          <EvaluationTable e={shown} />
        </>
      )}
    </section>
  );
}

// Click-through per variant as bars, the longest the best.
function CtrBars({ variants }: { variants: VariantResult[] }) {
  const top = Math.max(1e-9, ...variants.map((v) => v.ctr));
  return (
    <div className="histogram" role="list" aria-label="Click-through by variant">
      {variants.map((v) => (
        <div className="histogram-row" key={v.name} role="listitem">
          <span className="histogram-label" title={`${v.name} (${v.algorithm})`}>
            {v.name}
          </span>
          <span className="histogram-bar">
            <span className="histogram-fill" style={{ width: `${(100 * v.ctr) / top}%` }} />
          </span>
          <span className="histogram-count">{pct(v.ctr)}</span>
        </div>
      ))}
    </div>
  );
}

const pValue = (p: number, significant: boolean) => `p ${p.toFixed(4)}${significant ? " ✓ significant" : ""}`;

function ExperimentResults({ app, name, changed }: { app: string; name: string; changed: () => void }) {
  const path = `/api/v1/recommend/apps/${enc(app)}/experiments/${enc(name)}`;
  const r = useApi<ExperimentResult>(path, 5000);
  const action = useAction();
  const stop = () =>
    void action.run(
      () => api("POST", `${path}/stop`, {}),
      () => {
        r.reload();
        changed();
      },
    );
  const e = r.data?.name === name ? r.data : null;
  return (
    <section className="card" aria-label={`Experiment ${name}`}>
      <div className="page-header">
        <h3>Experiment {name}</h3>
        <div className="actions">
          {e?.state === "running" && (
            <Allowed permission="recommend:write">
              <button className="danger" onClick={stop} disabled={action.busy}>
                Stop
              </button>
            </Allowed>
          )}
        </div>
      </div>
      <ErrorLine error={r.error ?? action.error} />
      {e && (
        <>
          <p className="muted">
            <StateBadge state={e.state} /> since {when(e.started_at)}
            {e.stopped_at ? `, stopped ${when(e.stopped_at)}` : ""}; feedback counts for a recommendation for {e.window_hours} h after
            it; clicks are {e.click_types.join(", ")}, conversions {e.conversion_types.join(", ")}; the control is {e.control}.
          </p>
          <DataTable
            rows={e.variants}
            rowKey={(v) => v.name}
            columns={[
              { title: "Variant", render: (v) => (v.name === e.control ? `${v.name} (control)` : v.name) },
              { title: "Algorithm", render: (v) => v.algorithm },
              { title: "Weight", render: (v) => v.weight, className: "num" },
              { title: "Users", render: (v) => v.users.toLocaleString(), className: "num" },
              { title: "Exposures", render: (v) => v.exposures.toLocaleString(), className: "num" },
              { title: "Clicks", render: (v) => v.clicks.toLocaleString(), className: "num" },
              { title: "CTR", render: (v) => pct(v.ctr), className: "num" },
              { title: "Conversions", render: (v) => v.conversions.toLocaleString(), className: "num" },
              { title: "Conversion rate", render: (v) => pct(v.conversion_rate), className: "num" },
              { title: "CTR vs control", render: (v) => (v.vs_control ? pValue(v.vs_control.ctr_p_value, v.vs_control.ctr_significant) : "—") },
              {
                title: "Conversion vs control",
                render: (v) => (v.vs_control ? pValue(v.vs_control.conversion_p_value, v.vs_control.conversion_significant) : "—"),
              },
            ]}
          />
          <h3>Click-through</h3>
          <CtrBars variants={e.variants} />
        </>
      )}
    </section>
  );
}

function CreateExperiment({ app, created }: { app: RecApp; created: (name: string) => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [hours, setHours] = useState("24");
  const [variants, setVariants] = useState<Variant[]>([
    { name: "control", algorithm: "popular", weight: 1 },
    { name: "treatment", algorithm: app.algorithm, weight: 1 },
  ]);
  const action = useAction();
  if (!open) return <button onClick={() => setOpen(true)}>New experiment</button>;
  const change = (k: number, v: Partial<Variant>) => setVariants(variants.map((x, i) => (i === k ? { ...x, ...v } : x)));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(
      () => api("POST", `/api/v1/recommend/apps/${enc(app.name)}/experiments`, { name, variants, window_hours: Number(hours) }),
      () => {
        setOpen(false);
        created(name);
      },
    );
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="New experiment">
      <Field label="Name">
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
      </Field>
      <Field label="Window (hours)">
        <input name="window_hours" type="number" min={0.1} max={2160} step="any" value={hours} onChange={(e) => setHours(e.target.value)} />
      </Field>
      <p className="muted">Variants; the first is the control. Users fall in one by a stable hash, in proportion to the weights.</p>
      {variants.map((v, k) => (
        <div className="row" key={k}>
          <input aria-label={`Variant ${k + 1} name`} value={v.name} onChange={(e) => change(k, { name: e.target.value })} required />
          <select aria-label={`Variant ${k + 1} algorithm`} value={v.algorithm} onChange={(e) => change(k, { algorithm: e.target.value })}>
            {ALGORITHMS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
          <input
            aria-label={`Variant ${k + 1} weight`}
            type="number"
            min={0}
            step="any"
            value={v.weight}
            onChange={(e) => change(k, { weight: Number(e.target.value) })}
          />
          <button type="button" className="secondary" disabled={variants.length <= 2} onClick={() => setVariants(variants.filter((_, i) => i !== k))}>
            Remove
          </button>
        </div>
      ))}
      <div className="row">
        <button
          type="button"
          className="secondary"
          disabled={variants.length >= 8}
          onClick={() => setVariants([...variants, { name: `variant-${variants.length + 1}`, algorithm: "als", weight: 1 }])}
        >
          Add variant
        </button>
      </div>
      <ErrorLine error={action.error} />
      <FormButtons submit="Start" disabled={action.busy || !name} onCancel={() => setOpen(false)} />
    </form>
  );
}

function Experiments({ app }: { app: RecApp }) {
  const list = useApi<{ experiments: Experiment[] }>(`/api/v1/recommend/apps/${enc(app.name)}/experiments`, 10000);
  const experiments = list.data?.experiments ?? [];
  const [open, setOpen] = useState<string | null>(null);
  const shown = open ?? (experiments.find((e) => e.state === "running") ?? experiments[0])?.name;
  return (
    <section aria-label="Experiments">
      <div className="toolbar">
        <Allowed permission="recommend:write">
          <CreateExperiment
            app={app}
            created={(name) => {
              setOpen(name);
              list.reload();
            }}
          />
        </Allowed>
      </div>
      <ErrorLine error={list.error} />
      <DataTable
        rows={experiments}
        rowKey={(e) => e.name}
        empty="No experiments: start one to split users between algorithms and compare their click-through."
        columns={[
          {
            title: "Experiment",
            render: (e) => (
              <button className="link" onClick={() => setOpen(e.name)}>
                {e.name}
              </button>
            ),
          },
          { title: "State", render: (e) => <StateBadge state={e.state} /> },
          { title: "Variants", render: (e) => e.variants.map((v) => `${v.name}: ${v.algorithm} ×${v.weight}`).join(", ") },
          { title: "Window", render: (e) => `${e.window_hours} h` },
          { title: "Started", render: (e) => when(e.started_at) },
          { title: "Stopped", render: (e) => when(e.stopped_at) },
        ]}
      />
      {shown && <ExperimentResults key={shown} app={app.name} name={shown} changed={list.reload} />}
    </section>
  );
}

const TABS = ["Overview", "Catalogue", "Users", "Evaluation", "Experiments"] as const;
type Tab = (typeof TABS)[number];

export function RecommendAppPage() {
  const { name = "" } = useParams();
  const path = `/api/v1/recommend/apps/${enc(name)}`;
  // Every second while a training run goes on, then at ease.
  const [training, setTraining] = useState(false);
  const a = useApi<RecApp>(path, training ? 1000 : 10000);
  const app = a.data;
  useEffect(() => setTraining(app?.state === "training"), [app?.state]);
  const [tab, setTab] = useState<Tab>("Overview");
  const action = useAction();
  const navigate = useNavigate();
  const train = () => void action.run(() => api("POST", `${path}/train`, {}), a.reload);
  const remove = () => void action.run(() => api("DELETE", path), () => navigate("/recommend"));
  return (
    <>
      <PageHeader title={`App ${name}`}>
        <Allowed permission="recommend:write">
          <button onClick={train} disabled={action.busy || app?.state === "training"}>
            Train
          </button>
          <button className="danger" onClick={remove} disabled={action.busy}>
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={a.error ?? action.error} />
      {app && (
        <>
          <dl className="facts">
            <dt>State</dt>
            <dd data-testid="app-state">
              <StateBadge state={app.state} /> {app.error}
            </dd>
            <dt>Serving</dt>
            <dd>
              {app.model_version !== null ? (
                <Link to={`/models/${enc(app.model)}/versions/${app.model_version}`} data-testid="app-model-version">
                  {app.model} version {app.model_version}
                </Link>
              ) : (
                "no model: the most popular items"
              )}
            </dd>
            <dt>Catalogue</dt>
            <dd data-testid="app-counts">
              {app.counts.items.toLocaleString()} items ({app.counts.items_seen.toLocaleString()} known, counting those only seen in feedback),{" "}
              {app.counts.users.toLocaleString()} users, {app.counts.feedback.toLocaleString()} pieces of feedback
            </dd>
            <dt>Training pipeline</dt>
            <dd>
              <Link to={`/pipelines/${enc(app.pipeline)}`}>{app.pipeline}</Link>
              {app.pipeline_run !== undefined && (
                <>
                  , last run <Link to={`/pipeline-runs/${app.pipeline_run}`}>{app.pipeline_run}</Link>
                </>
              )}
            </dd>
            <dt>Created</dt>
            <dd>
              {when(app.created_at)} by {app.owner}
            </dd>
          </dl>
          <div className="toolbar" role="tablist">
            {TABS.map((t) => (
              <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "" : "secondary"} onClick={() => setTab(t)}>
                {t}
              </button>
            ))}
          </div>
          {tab === "Overview" && <Overview app={app} />}
          {tab === "Catalogue" && <Catalogue app={app.name} />}
          {tab === "Users" && <Users app={app} />}
          {tab === "Evaluation" && <Evaluations app={app.name} />}
          {tab === "Experiments" && <Experiments app={app} />}
        </>
      )}
    </>
  );
}
