// Customer-service bots (module assist): the bots with their state and accuracy (a create form
// beside them); a bot's page with its definition as JSON (saved as a new version), training and
// rollback, the cross-validated evaluation (per intent precision and recall, confusions), a chat
// box, its conversations and analytics; and the agents' inbox, live on the assist events.
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc } from "../api";
import { followEvents } from "../events";
import { useAction, useApi } from "../hooks";
import { Chart } from "../components/Chart";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, clock, when } from "../components/ui";

interface IntentScore {
  intent: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

interface KindScore {
  kind: string;
  accuracy: number;
  in_scope_accuracy: number;
  out_of_scope_recall: number;
  threshold: number;
  train_seconds: number;
}

interface Evaluation {
  kind: string;
  accuracy: number;
  in_scope_accuracy: number;
  out_of_scope_recall: number;
  examples: number;
  folds: number;
  intents: IntentScore[];
  confusions: { intent: string; predicted: string; count: number }[];
  entities: { entity: string; precision: number; recall: number; support: number }[];
  kinds: KindScore[];
}

interface Bot {
  name: string;
  state: string;
  owner: string;
  created_at: string;
  updated_at: string;
  latest_version: number;
  serving_version: number | null;
  deployment: string;
  deployment_state?: string;
  pipeline: string;
  definition?: Record<string, unknown>;
  evaluation?: Evaluation;
  error?: string;
}

interface BotVersion {
  version: number;
  state: string;
  kind?: string;
  accuracy?: number;
  in_scope_accuracy?: number;
  out_of_scope_recall?: number;
  model_version?: number;
  created_at: string;
  created_by: string;
}

interface Turn {
  id: number;
  role: "user" | "bot" | "agent";
  text: string;
  at: string;
  intent?: string;
  confidence?: number;
  fallback?: boolean;
  author?: string;
}

interface Conversation {
  bot: string;
  conversation_id: string;
  status: string;
  handoff_reason?: string;
  created_at: string;
  updated_at: string;
  turns?: Turn[];
  state?: Record<string, unknown>;
}

interface Handoff {
  bot: string;
  conversation_id: string;
  state: string;
  reason: string;
  agent?: string;
  created_at: string;
  history?: Turn[];
}

// The conversation an agent has open: from a handoff row, or the conversation a claim answers.
interface Open {
  bot: string;
  conversation_id: string;
  reason: string;
  turns: Turn[];
}

const fromHandoff = (h: Handoff): Open => ({ bot: h.bot, conversation_id: h.conversation_id, reason: h.reason, turns: h.history ?? [] });
const fromConversation = (c: Conversation): Open => ({
  bot: c.bot,
  conversation_id: c.conversation_id,
  reason: c.handoff_reason ?? "",
  turns: c.turns ?? [],
});

interface Reply {
  text: string;
  source?: { index: string; id: string; question?: string };
}

interface MessageAnswer {
  replies: Reply[];
  intent: { name: string; confidence: number };
  entities: { entity: string; value: string; start: number; end: number }[];
  slots: Record<string, string>;
  state: { status: string; form: string | null; requested_slot: string | null };
  handoff?: { reason: string };
}

interface Analytics {
  from: string;
  to: string;
  interval_s: number;
  conversations: number;
  messages: number;
  fallbacks: number;
  fallback_rate: number | null;
  handoffs: number;
  containment_rate: number | null;
  average_turns: number | null;
  intents: { intent: string; messages: number }[];
  handoff_reasons: { reason: string; handoffs: number }[];
  series: { start: string; messages: number; fallbacks: number }[];
}

const pct = (x: number | undefined | null) => (x === undefined || x === null ? "—" : `${(x * 100).toFixed(1)}%`);

const EXAMPLE_BOT = JSON.stringify(
  {
    language: "en",
    intents: [
      { name: "greet", examples: ["hello", "hi there", "good morning", "hey"] },
      { name: "goodbye", examples: ["bye", "see you later", "goodbye", "that's all, thanks"] },
      { name: "book_table", examples: ["book a table for [friday](day)", "I want a table for [4](people)", "reserve a table"] },
    ],
    entities: [{ name: "day", lookup: ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] }, { name: "people" }],
    responses: { greet: "Hello! How can I help?", goodbye: "Goodbye!", fallback: "Sorry, I didn't get that." },
    forms: [
      {
        name: "booking",
        intent: "book_table",
        done: "Booked a table for {people} on {day}.",
        slots: [
          { name: "day", entity: "day", question: "Which day?" },
          { name: "people", entity: "people", question: "For how many people?" },
        ],
      },
    ],
    fallback: { handoff_after: 2 },
  },
  null,
  2,
);

// Bars for counts by label (intents, handoff reasons), longest first.
function Bars({ rows, label }: { rows: [string, number][]; label: string }) {
  const top = Math.max(1, ...rows.map(([, n]) => n));
  if (rows.length === 0) return <p className="muted">None yet.</p>;
  return (
    <div className="histogram" aria-label={label} role="list">
      {rows.map(([name, n]) => (
        <div className="histogram-row" key={name} role="listitem">
          <span className="histogram-label" title={name}>
            {name}
          </span>
          <span className="histogram-bar">
            <span className="histogram-fill" style={{ width: `${(100 * n) / top}%` }} />
          </span>
          <span className="histogram-count">{n.toLocaleString()}</span>
        </div>
      ))}
    </div>
  );
}

function CreateBot() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [definition, setDefinition] = useState(EXAMPLE_BOT);
  const action = useAction();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New bot</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(definition);
    } catch {
      action.setError("the definition is not JSON");
      return;
    }
    void action.run(() => api("POST", "/api/v1/assist/bots", { ...parsed, name }), () => navigate(`/assist/bots/${enc(name)}`));
  };
  return (
    <form className="card" onSubmit={submit} aria-label="New bot">
      <Field label="Name">
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
      </Field>
      <Field label="Definition (JSON)">
        <textarea name="definition" rows={14} value={definition} onChange={(e) => setDefinition(e.target.value)} spellCheck={false} />
      </Field>
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy || !name} onCancel={() => setOpen(false)} />
    </form>
  );
}

export function AssistBotsPage() {
  const list = useApi<{ bots: Bot[] }>("/api/v1/assist/bots", 5000);
  return (
    <>
      <PageHeader title="Customer service">
        <Allowed permission="assist:agent">
          <Link to="/assist/inbox">Agents' inbox</Link>
        </Allowed>
        <Allowed permission="assist:write">
          <CreateBot />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.bots ?? []}
        rowKey={(b) => b.name}
        empty={list.loading ? "Loading…" : "No bots: create one from its intents and examples, then train it."}
        columns={[
          { title: "Bot", render: (b) => <Link to={`/assist/bots/${enc(b.name)}`}>{b.name}</Link> },
          { title: "State", render: (b) => <StateBadge state={b.state} /> },
          { title: "Version", render: (b) => b.latest_version },
          { title: "Serving", render: (b) => b.serving_version ?? "—" },
          { title: "Accuracy", render: (b) => pct(b.evaluation?.accuracy) },
          { title: "Out-of-scope recall", render: (b) => pct(b.evaluation?.out_of_scope_recall) },
          { title: "Updated", render: (b) => when(b.updated_at) },
        ]}
      />
    </>
  );
}

// The definition as JSON; saving stores a new version (the serving one stays until trained).
function DefinitionEditor({ bot, reload }: { bot: Bot; reload: () => void }) {
  const [text, setText] = useState(JSON.stringify(bot.definition ?? {}, null, 2));
  const [saved, setSaved] = useState("");
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      action.setError("the definition is not JSON");
      return;
    }
    void action.run(async () => {
      const b = await api<Bot>("PUT", `/api/v1/assist/bots/${enc(bot.name)}`, parsed);
      setSaved(`Saved as version ${b.latest_version}; train it to serve it.`);
    }, reload);
  };
  return (
    <form className="card" onSubmit={submit} aria-label="Definition">
      <Field label="Definition (JSON)">
        <textarea name="definition" rows={18} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
      </Field>
      <ErrorLine error={action.error} />
      {saved && <p className="notice">{saved}</p>}
      <button type="submit" disabled={action.busy}>
        Save as a new version
      </button>
    </form>
  );
}

function Versions({ bot, reload }: { bot: Bot; reload: () => void }) {
  const versions = useApi<{ versions: BotVersion[] }>(`/api/v1/assist/bots/${enc(bot.name)}/versions`, 5000);
  const action = useAction();
  const rollback = (v: number) =>
    void action.run(() => api("POST", `/api/v1/assist/bots/${enc(bot.name)}/rollback`, { version: v }), () => {
      versions.reload();
      reload();
    });
  const train = (v: number) =>
    void action.run(() => api("POST", `/api/v1/assist/bots/${enc(bot.name)}/train`, { version: v }), () => {
      versions.reload();
      reload();
    });
  return (
    <section aria-label="Versions">
      <ErrorLine error={versions.error ?? action.error} />
      <DataTable
        rows={versions.data?.versions ?? []}
        rowKey={(v) => String(v.version)}
        columns={[
          { title: "Version", render: (v) => v.version },
          { title: "State", render: (v) => <StateBadge state={v.state} /> },
          { title: "Kind", render: (v) => v.kind ?? "—" },
          { title: "Accuracy", render: (v) => pct(v.accuracy) },
          { title: "In scope", render: (v) => pct(v.in_scope_accuracy) },
          { title: "Out-of-scope recall", render: (v) => pct(v.out_of_scope_recall) },
          { title: "Created", render: (v) => `${when(v.created_at)} by ${v.created_by}` },
          {
            title: "",
            render: (v) => (
              <Allowed permission="assist:write">
                {v.state === "trained" && v.model_version !== undefined && bot.serving_version !== v.model_version ? (
                  <button className="secondary" onClick={() => rollback(v.version)} disabled={action.busy}>
                    Serve version {v.version}
                  </button>
                ) : v.state === "draft" || v.state === "failed" ? (
                  <button className="secondary" onClick={() => train(v.version)} disabled={action.busy}>
                    Train version {v.version}
                  </button>
                ) : null}
              </Allowed>
            ),
          },
        ]}
      />
    </section>
  );
}

function EvaluationView({ e }: { e: Evaluation }) {
  return (
    <section aria-label="Evaluation">
      <p className="muted">
        {e.folds}-fold cross-validation on {e.examples.toLocaleString()} examples; kept kind <strong>{e.kind}</strong>: accuracy{" "}
        <strong data-testid="bot-accuracy">{pct(e.accuracy)}</strong>, in scope {pct(e.in_scope_accuracy)}, out-of-scope recall{" "}
        {pct(e.out_of_scope_recall)}.
      </p>
      <div className="two-columns">
        <div>
          <h3>Per intent</h3>
          <DataTable
            rows={e.intents}
            rowKey={(i) => i.intent}
            columns={[
              { title: "Intent", render: (i) => i.intent },
              { title: "Precision", render: (i) => i.precision.toFixed(3) },
              { title: "Recall", render: (i) => i.recall.toFixed(3) },
              { title: "F1", render: (i) => i.f1.toFixed(3) },
              { title: "Examples", render: (i) => i.support },
            ]}
          />
        </div>
        <div>
          <h3>Confusions</h3>
          <DataTable
            rows={e.confusions}
            rowKey={(c) => `${c.intent}>${c.predicted}`}
            empty="No example was taken for another intent."
            columns={[
              { title: "Intent", render: (c) => c.intent },
              { title: "Taken for", render: (c) => c.predicted },
              { title: "Examples", render: (c) => c.count },
            ]}
          />
          <h3>Kinds tried</h3>
          <DataTable
            rows={e.kinds}
            rowKey={(k) => k.kind}
            columns={[
              { title: "Kind", render: (k) => k.kind },
              { title: "Accuracy", render: (k) => pct(k.accuracy) },
              { title: "Out-of-scope recall", render: (k) => pct(k.out_of_scope_recall) },
              { title: "Threshold", render: (k) => k.threshold.toFixed(3) },
            ]}
          />
          {e.entities.length > 0 && (
            <>
              <h3>Learned entities</h3>
              <DataTable
                rows={e.entities}
                rowKey={(x) => x.entity}
                columns={[
                  { title: "Entity", render: (x) => x.entity },
                  { title: "Precision", render: (x) => x.precision.toFixed(3) },
                  { title: "Recall", render: (x) => x.recall.toFixed(3) },
                  { title: "Mentions", render: (x) => x.support },
                ]}
              />
            </>
          )}
        </div>
      </div>
    </section>
  );
}

interface ChatLine {
  who: "you" | "bot";
  text: string;
  detail?: string;
}

// A conversation with the bot as a customer would have it, with what the bot understood.
function ChatBox({ bot }: { bot: string }) {
  const [conversation, setConversation] = useState(() => `console-${Date.now().toString(36)}`);
  const [lines, setLines] = useState<ChatLine[]>([]);
  const [text, setText] = useState("");
  const [last, setLast] = useState<MessageAnswer | null>(null);
  const action = useAction();
  const send = (e: FormEvent) => {
    e.preventDefault();
    const said = text;
    setText("");
    void action.run(async () => {
      const r = await api<MessageAnswer>("POST", `/api/v1/assist/bots/${enc(bot)}/messages`, { conversation_id: conversation, text: said });
      setLast(r);
      const understood = `${r.intent.name} ${(r.intent.confidence * 100).toFixed(0)}%${r.entities.map((x) => `, ${x.entity}=${x.value}`).join("")}`;
      setLines((l) => [
        ...l,
        { who: "you", text: said, detail: understood },
        ...r.replies.map((x) => ({ who: "bot" as const, text: x.text, detail: x.source ? `from ${x.source.index} #${x.source.id}` : undefined })),
      ]);
    });
  };
  const restart = () => {
    setConversation(`console-${Date.now().toString(36)}`);
    setLines([]);
    setLast(null);
  };
  return (
    <section aria-label="Chat">
      <ol className="hits" aria-label="Chat transcript">
        {lines.map((l, i) => (
          <li key={i} data-who={l.who}>
            <strong>{l.who === "you" ? "You" : "Bot"}:</strong> {l.text} {l.detail && <span className="muted">({l.detail})</span>}
          </li>
        ))}
      </ol>
      <form className="card inline-form" onSubmit={send}>
        <Field label="Message">
          <input name="message" value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" />
        </Field>
        <button type="submit" disabled={action.busy || !text}>
          Send
        </button>
        <button type="button" className="secondary" onClick={restart}>
          New conversation
        </button>
      </form>
      <ErrorLine error={action.error} />
      {last && (
        <p className="muted" data-testid="chat-state">
          Conversation {conversation}: {last.state.status}
          {last.state.form ? `, form ${last.state.form}` : ""}
          {last.state.requested_slot ? `, asking for ${last.state.requested_slot}` : ""}; slots{" "}
          {Object.keys(last.slots).length ? Object.entries(last.slots).map(([k, v]) => `${k}=${v}`).join(", ") : "none"}
          {last.handoff ? `; handed to a person (${last.handoff.reason})` : ""}
        </p>
      )}
    </section>
  );
}

function Transcript({ turns }: { turns: Turn[] }) {
  return (
    <ol className="hits" aria-label="Transcript">
      {turns.map((t) => (
        <li key={t.id} data-role={t.role}>
          <span className="muted">{clock(t.at)}</span> <strong>{t.role === "agent" ? `Agent ${t.author ?? ""}` : t.role === "user" ? "Customer" : "Bot"}:</strong>{" "}
          {t.text}{" "}
          {t.intent && (
            <span className="muted">
              ({t.intent} {((t.confidence ?? 0) * 100).toFixed(0)}%{t.fallback ? ", fallback" : ""})
            </span>
          )}
        </li>
      ))}
    </ol>
  );
}

function Conversations({ bot }: { bot: string }) {
  const list = useApi<{ conversations: Conversation[] }>(`/api/v1/assist/bots/${enc(bot)}/conversations?limit=50`, 5000);
  const [open, setOpen] = useState<string | null>(null);
  const one = useApi<Conversation>(open ? `/api/v1/assist/bots/${enc(bot)}/conversations/${enc(open)}` : null);
  return (
    <section aria-label="Conversations">
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.conversations ?? []}
        rowKey={(c) => c.conversation_id}
        empty="No conversations yet."
        columns={[
          {
            title: "Conversation",
            render: (c) => (
              <button className="link" onClick={() => setOpen(c.conversation_id)}>
                {c.conversation_id}
              </button>
            ),
          },
          { title: "Status", render: (c) => <StateBadge state={c.status} /> },
          { title: "Handoff", render: (c) => c.handoff_reason ?? "—" },
          { title: "Started", render: (c) => when(c.created_at) },
          { title: "Last message", render: (c) => when(c.updated_at) },
        ]}
      />
      {open && one.data && (
        <div className="card">
          <h3>Conversation {open}</h3>
          <Transcript turns={one.data.turns ?? []} />
        </div>
      )}
    </section>
  );
}

function AnalyticsView({ bot }: { bot: string }) {
  const [days, setDays] = useState(1);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10000);
    return () => clearInterval(t);
  }, []);
  const interval = days <= 1 ? 3600 : 86400;
  const a = useApi<Analytics>(
    `/api/v1/assist/bots/${enc(bot)}/analytics?from_ms=${now - days * 86400000}&to_ms=${now}&interval_s=${interval}`,
  );
  // The API gives only the intervals that had messages (each starts at from + k × interval);
  // the chart shows every one.
  const data = useMemo(() => {
    if (!a.data) return [[], [], []];
    const step = a.data.interval_s * 1000;
    const byStart = new Map(a.data.series.map((p) => [Date.parse(p.start), p]));
    const xs: number[] = [];
    const messages: number[] = [];
    const fallbacks: number[] = [];
    for (let t = Date.parse(a.data.from); t < Date.parse(a.data.to); t += step) {
      const p = byStart.get(t);
      xs.push(t / 1000);
      messages.push(p?.messages ?? 0);
      fallbacks.push(p?.fallbacks ?? 0);
    }
    return [xs, messages, fallbacks];
  }, [a.data]);
  const d = a.data;
  return (
    <section aria-label="Analytics">
      <div className="toolbar">
        <Field label="Period">
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={1}>last day</option>
            <option value={7}>last week</option>
            <option value={30}>last 30 days</option>
          </select>
        </Field>
      </div>
      <ErrorLine error={a.error} />
      {d && (
        <>
          <dl className="facts" aria-label="Totals">
            <dt>Conversations</dt>
            <dd data-testid="analytics-conversations">{d.conversations.toLocaleString()}</dd>
            <dt>Messages</dt>
            <dd data-testid="analytics-messages">{d.messages.toLocaleString()}</dd>
            <dt>Contained (no person needed)</dt>
            <dd>{pct(d.containment_rate)}</dd>
            <dt>Fallbacks</dt>
            <dd>
              {d.fallbacks.toLocaleString()} ({pct(d.fallback_rate)})
            </dd>
            <dt>Handoffs</dt>
            <dd>{d.handoffs.toLocaleString()}</dd>
            <dt>Turns per conversation</dt>
            <dd>{d.average_turns === null ? "—" : d.average_turns.toFixed(1)}</dd>
          </dl>
          <div className="charts">
            <Chart
              title="Messages and fallbacks"
              series={[
                { label: "messages", color: "#2f6fde" },
                { label: "fallbacks", color: "#e0662f" },
              ]}
              data={data}
            />
          </div>
          <div className="two-columns">
            <div>
              <h3>Intents</h3>
              <Bars label="Intents" rows={d.intents.map((i) => [i.intent, i.messages])} />
            </div>
            <div>
              <h3>Handoff reasons</h3>
              <Bars label="Handoff reasons" rows={d.handoff_reasons.map((r) => [r.reason, r.handoffs])} />
            </div>
          </div>
        </>
      )}
    </section>
  );
}

const TABS = ["Overview", "Definition", "Chat", "Conversations", "Analytics"] as const;
type Tab = (typeof TABS)[number];

export function AssistBotPage() {
  const { name = "" } = useParams();
  const path = `/api/v1/assist/bots/${enc(name)}`;
  const b = useApi<Bot>(path, 3000);
  const [tab, setTab] = useState<Tab>("Overview");
  const action = useAction();
  const navigate = useNavigate();
  const bot = b.data;
  const train = () => void action.run(() => api("POST", `${path}/train`, {}), b.reload);
  const remove = () => void action.run(() => api("DELETE", path), () => navigate("/assist"));
  return (
    <>
      <PageHeader title={`Bot ${name}`}>
        <Allowed permission="assist:write">
          <button onClick={train} disabled={action.busy || bot?.state === "training"}>
            Train
          </button>
          <button className="danger" onClick={remove} disabled={action.busy}>
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={b.error ?? action.error} />
      {bot && (
        <>
          <dl className="facts">
            <dt>State</dt>
            <dd data-testid="bot-state">
              <StateBadge state={bot.state} /> {bot.error}
            </dd>
            <dt>Versions</dt>
            <dd>
              latest {bot.latest_version}, serving <span data-testid="bot-serving">{bot.serving_version ?? "none"}</span>
            </dd>
            <dt>Deployment</dt>
            <dd>
              <Link to={`/deployments/${enc(bot.deployment)}`}>{bot.deployment}</Link>
              {bot.deployment_state && <> <StateBadge state={bot.deployment_state} /></>}
            </dd>
            <dt>Training pipeline</dt>
            <dd>
              <Link to={`/pipelines/${enc(bot.pipeline)}`}>{bot.pipeline}</Link>
            </dd>
            <dt>Created</dt>
            <dd>
              {when(bot.created_at)} by {bot.owner}
            </dd>
          </dl>
          <div className="toolbar" role="tablist">
            {TABS.map((t) => (
              <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "" : "secondary"} onClick={() => setTab(t)}>
                {t}
              </button>
            ))}
          </div>
          {tab === "Overview" && (
            <>
              <h2>Versions</h2>
              <Versions bot={bot} reload={b.reload} />
              <h2>Evaluation</h2>
              {bot.evaluation ? <EvaluationView e={bot.evaluation} /> : <p className="muted">Not trained yet.</p>}
            </>
          )}
          {tab === "Definition" && <DefinitionEditor bot={bot} reload={b.reload} />}
          {tab === "Chat" && <ChatBox bot={bot.name} />}
          {tab === "Conversations" && <Conversations bot={bot.name} />}
          {tab === "Analytics" && <AnalyticsView bot={bot.name} />}
        </>
      )}
    </>
  );
}

// The agents' inbox: the waiting and active handoffs (refreshed on every assist.handoff event),
// taking the next one, and the chosen conversation live (its turns as they come) with a reply
// box, hand-back and close.
export function AssistInboxPage() {
  const list = useApi<{ handoffs: Handoff[] }>("/api/v1/assist/handoffs?limit=200", 15000);
  const [open, setOpen] = useState<Open | null>(null);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [reply, setReply] = useState("");
  const [eventsError, setEventsError] = useState("");
  const action = useAction();
  const reload = list.reload;
  const openId = open ? `${open.bot}/${open.conversation_id}` : "";
  const seen = useRef(new Set<number>());

  useEffect(() => followEvents("assist.handoff.>", () => reload(), setEventsError), [reload]);

  useEffect(() => {
    if (!open) return;
    seen.current = new Set(open.turns.map((t) => t.id));
    setTurns(open.turns);
    return followEvents(
      `assist.conversation.${open.bot}.${open.conversation_id}`,
      (e) => {
        const t = e.data as Turn;
        if (seen.current.has(t.id)) return;
        seen.current.add(t.id);
        setTurns((list) => [...list, t]);
      },
      setEventsError,
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [openId]);

  const base = (h: { bot: string; conversation_id: string }) => `/api/v1/assist/bots/${enc(h.bot)}/conversations/${enc(h.conversation_id)}`;
  const take = () =>
    void action.run(async () => {
      setOpen(fromConversation(await api<Conversation>("POST", "/api/v1/assist/handoffs/next", {})));
      reload();
    });
  const claim = (h: Handoff) =>
    void action.run(async () => {
      setOpen(fromConversation(await api<Conversation>("POST", `${base(h)}/claim`, {})));
      reload();
    });
  const answer = (e: FormEvent) => {
    e.preventDefault();
    if (!open) return;
    const text = reply;
    setReply("");
    void action.run(() => api("POST", `${base(open)}/agent-messages`, { text }));
  };
  const release = (close: boolean) =>
    open &&
    void action.run(() => api("POST", `${base(open)}/release`, { close }), () => {
      setOpen(null);
      reload();
    });

  const handoffs = list.data?.handoffs ?? [];
  const waiting = handoffs.filter((h) => h.state === "waiting");
  const active = handoffs.filter((h) => h.state === "active");
  return (
    <>
      <PageHeader title="Agents' inbox">
        <button onClick={take} disabled={action.busy || waiting.length === 0}>
          Take the next conversation
        </button>
      </PageHeader>
      <ErrorLine error={list.error ?? action.error} />
      {eventsError && <p className="muted">{eventsError}</p>}
      <div className="two-columns">
        <div>
          <h2>
            Waiting <span data-testid="inbox-waiting">{waiting.length}</span>
          </h2>
          <DataTable
            rows={waiting}
            rowKey={(h) => `${h.bot}/${h.conversation_id}`}
            empty="Nobody is waiting."
            columns={[
              { title: "Bot", render: (h) => h.bot },
              { title: "Conversation", render: (h) => h.conversation_id },
              { title: "Reason", render: (h) => h.reason },
              { title: "Since", render: (h) => when(h.created_at) },
              {
                title: "",
                render: (h) => (
                  <button className="secondary" onClick={() => claim(h)} disabled={action.busy}>
                    Take
                  </button>
                ),
              },
            ]}
          />
          <h2>Being answered</h2>
          <DataTable
            rows={active}
            rowKey={(h) => `${h.bot}/${h.conversation_id}`}
            empty="No conversation is with a person."
            columns={[
              { title: "Bot", render: (h) => h.bot },
              {
                title: "Conversation",
                render: (h) => (
                  <button className="link" onClick={() => setOpen(fromHandoff(h))}>
                    {h.conversation_id}
                  </button>
                ),
              },
              { title: "Agent", render: (h) => h.agent ?? "—" },
              { title: "Reason", render: (h) => h.reason },
            ]}
          />
        </div>
        <div>
          {open ? (
            <section className="card" aria-label="Open conversation">
              <h2>
                {open.bot} / {open.conversation_id}
              </h2>
              <p className="muted">Handed over: {open.reason}</p>
              <Transcript turns={turns} />
              <form className="inline-form" onSubmit={answer}>
                <Field label="Answer">
                  <input name="answer" value={reply} onChange={(e) => setReply(e.target.value)} autoComplete="off" />
                </Field>
                <button type="submit" disabled={action.busy || !reply}>
                  Send
                </button>
              </form>
              <div className="row">
                <button className="secondary" onClick={() => release(false)} disabled={action.busy}>
                  Hand back to the bot
                </button>
                <button className="secondary" onClick={() => release(true)} disabled={action.busy}>
                  Close
                </button>
              </div>
            </section>
          ) : (
            <p className="muted">Take a conversation to answer it.</p>
          )}
        </div>
      </div>
    </>
  );
}
