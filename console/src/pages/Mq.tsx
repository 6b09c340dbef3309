// The message queue: topics, subscriptions with their backlog, a test publish, a
// subscription's dead letters with their bodies (redrive, purge), and replay from a time.
import { useState, type FormEvent } from "react";
import { api, enc } from "../api";
import { useAuth } from "../auth";
import { useAction, useApi } from "../hooks";
import { DataTable, ErrorLine, Field, PageHeader, bytes } from "../components/ui";

interface Topic {
  name: string;
  partitions: number;
  messages: number;
  bytes: number;
}
interface Subscription {
  name: string;
  topic: string;
  backlog: number;
  in_flight: number;
  dead_letters: number;
}
interface DeadLetter {
  id: number;
  reason: string;
  topic: string;
  key: string;
  body: string;
  body_encoding?: "base64";
  headers: Record<string, string>;
}

export function MqPage() {
  const topics = useApi<{ topics: Topic[] }>("/api/v1/mq/topics", 5000);
  const subs = useApi<{ subscriptions: Subscription[] }>("/api/v1/mq/subscriptions", 3000);
  const [dlq, setDlq] = useState<string | null>(null);
  return (
    <>
      <PageHeader title="Message queue" />
      <section>
        <h2>Topics</h2>
        <ErrorLine error={topics.error} />
        <DataTable
          rows={topics.data?.topics ?? []}
          rowKey={(t) => t.name}
          empty="No topics yet."
          columns={[
            { title: "Topic", render: (t) => t.name },
            { title: "Partitions", render: (t) => t.partitions },
            { title: "Messages", render: (t) => t.messages },
            { title: "Size", render: (t) => bytes(t.bytes) },
          ]}
        />
        <Publish topics={(topics.data?.topics ?? []).map((t) => t.name)} onDone={topics.reload} />
      </section>
      <section>
        <h2>Subscriptions</h2>
        <ErrorLine error={subs.error} />
        <DataTable
          rows={subs.data?.subscriptions ?? []}
          rowKey={(s) => s.name}
          empty="No subscriptions yet."
          columns={[
            { title: "Subscription", render: (s) => s.name },
            { title: "Topic", render: (s) => s.topic },
            { title: "Backlog", render: (s) => s.backlog },
            { title: "In flight", render: (s) => s.in_flight },
            {
              title: "Dead letters",
              render: (s) => (
                <button className="link" onClick={() => setDlq(dlq === s.name ? null : s.name)} data-testid={`dlq-${s.name}`}>
                  {s.dead_letters}
                </button>
              ),
            },
          ]}
        />
      </section>
      {dlq && <DeadLetters subscription={dlq} onChange={subs.reload} />}
    </>
  );
}

function Publish({ topics, onDone }: { topics: string[]; onDone: () => void }) {
  const { me } = useAuth();
  const [topic, setTopic] = useState("");
  const [key, setKey] = useState("");
  const [body, setBody] = useState("");
  const [result, setResult] = useState("");
  const action = useAction();
  if (!me) return null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const r = await api<{ results: { partition: number; offset: number }[] }>("POST", `/api/v1/mq/topics/${enc(topic)}/messages`, {
        messages: [{ key, body }],
      });
      setResult(`published: partition ${r.results[0].partition}, offset ${r.results[0].offset}`);
    }, onDone);
  };
  return (
    <form className="toolbar" onSubmit={submit}>
      <select aria-label="Topic" value={topic} onChange={(e) => setTopic(e.target.value)}>
        <option value="">topic…</option>
        {topics.map((t) => (
          <option key={t}>{t}</option>
        ))}
      </select>
      <input aria-label="Key" placeholder="key" value={key} onChange={(e) => setKey(e.target.value)} />
      <input aria-label="Body" placeholder="body" className="grow" value={body} onChange={(e) => setBody(e.target.value)} />
      <button type="submit" disabled={!topic || action.busy}>
        Publish test message
      </button>
      <span className="muted">{result}</span>
      <ErrorLine error={action.error} />
    </form>
  );
}

function DeadLetters({ subscription, onChange }: { subscription: string; onChange: () => void }) {
  const base = `/api/v1/mq/subscriptions/${enc(subscription)}`;
  const letters = useApi<{ dead_letters: DeadLetter[] }>(`${base}/dlq?max=100`, 3000);
  const [from, setFrom] = useState("");
  const action = useAction();
  const after = () => {
    letters.reload();
    onChange();
  };
  return (
    <section>
      <h2>Dead letters of {subscription}</h2>
      <div className="toolbar">
        <button onClick={() => void action.run(() => api("POST", `${base}/dlq/replay`), after)}>Redrive all</button>
        <button className="danger" onClick={() => confirm("Purge every dead letter?") && void action.run(() => api("POST", `${base}/dlq/purge`), after)}>
          Purge all
        </button>
        <Field label="Replay from">
          <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
        </Field>
        <button className="secondary" disabled={!from} onClick={() => void action.run(() => api("POST", `${base}/seek`, { time_ms: new Date(from).getTime() }), after)}>
          Seek
        </button>
      </div>
      <ErrorLine error={letters.error ?? action.error} />
      <DataTable
        rows={letters.data?.dead_letters ?? []}
        rowKey={(d) => String(d.id)}
        empty="No dead letters."
        columns={[
          { title: "Id", render: (d) => d.id },
          { title: "Reason", render: (d) => d.reason },
          { title: "Deliveries", render: (d) => d.headers?.["x-delivery-count"] ?? "—" },
          { title: "Key", render: (d) => d.key },
          { title: "Body", render: (d) => <code className="wrap">{d.body_encoding === "base64" ? `(base64) ${d.body}` : d.body}</code> },
          {
            title: "",
            render: (d) => (
              <button className="secondary" onClick={() => void action.run(() => api("POST", `${base}/dlq/replay`, { ids: [d.id] }), after)}>
                Redrive
              </button>
            ),
          },
        ]}
      />
    </section>
  );
}
