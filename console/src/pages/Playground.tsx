// The language-model playground: a chat with one of the LLM deployments (GET /v1/models) through
// the OpenAI-compatible POST /v1/chat/completions, its answer streamed token by token (server-sent
// events read from fetch's body; Stop aborts the fetch) or whole, the sampling options, the
// answer's usage and finish reason, the API's errors as it gave them, and the request as a curl
// command (docs/guide/llm.md#console).
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { checkSignedIn, currentToken } from "../api";
import { useApi } from "../hooks";
import { ErrorLine, Field, PageHeader } from "../components/ui";
import "../components/playground.css";

interface ModelList {
  object: string;
  data: { id: string; object: string; created: number; owned_by: string }[];
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

interface Message {
  role: "user" | "assistant";
  content: string;
  // Assistant answers: how they ended.
  streaming?: boolean;
  finish?: string; // finish_reason, or "stopped" when Stop aborted it
  usage?: Usage;
  fingerprint?: string;
  ms?: number;
  error?: string;
}

interface Options {
  temperature: string;
  top_p: string;
  top_k: string;
  max_tokens: string;
  seed: string;
  stop: string;
  repetition_penalty: string;
}

const NO_OPTIONS: Options = { temperature: "", top_p: "", top_k: "", max_tokens: "", seed: "", stop: "", repetition_penalty: "" };

// Each option: its label, whether it is an integer, and what the server does without it.
const OPTION_FIELDS: [keyof Options, string, "float" | "int", string][] = [
  ["temperature", "Temperature", "float", "1 (0 is greedy)"],
  ["top_p", "Top p", "float", "1"],
  ["top_k", "Top k", "int", "0 (all tokens)"],
  ["max_tokens", "Max tokens", "int", "until the context is full"],
  ["seed", "Seed", "int", "none"],
  ["repetition_penalty", "Repetition penalty", "float", "1"],
];

// The stop sequences' text: one a line, with \n, \t and \\ for a newline, a tab, a backslash.
function stopSequences(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.replace(/\\(n|t|\\)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : "\\")));
}

// The request's body from the form: empty options are left out (the server's defaults apply).
function requestBody(model: string, system: string, messages: { role: string; content: string }[], options: Options, stream: boolean) {
  const body: Record<string, unknown> = { model, messages: [...(system.trim() ? [{ role: "system", content: system }] : []), ...messages] };
  const problems: string[] = [];
  for (const [key, label, kind] of OPTION_FIELDS) {
    const raw = options[key].trim();
    if (raw === "") continue;
    const n = Number(raw);
    if (!Number.isFinite(n) || (kind === "int" && !Number.isInteger(n))) problems.push(`${label} must be ${kind === "int" ? "an integer" : "a number"}`);
    else body[key] = n;
  }
  const stop = stopSequences(options.stop);
  if (stop.length) body.stop = stop;
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return { body, problems };
}

// A shell command that sends the same request; $AIMASS is the platform's URL, $TOKEN a token.
function curlOf(body: Record<string, unknown>): string {
  const json = JSON.stringify(body, null, 2).replace(/'/g, `'\\''`);
  return [
    `curl${body.stream ? " -N" : ""} "$AIMASS/v1/chat/completions" \\`,
    `  -H "Authorization: Bearer $TOKEN" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d '${json}'`,
  ].join("\n");
}

// An OpenAI-shaped error ({"error":{"message","type","code"}}) as a line a person can read.
function errorText(e: unknown, status?: number): string {
  if (e && typeof e === "object" && "error" in e) {
    const err = (e as { error: unknown }).error;
    if (err && typeof err === "object") {
      const { message, type, code } = err as { message?: string; type?: string; code?: string | null };
      const what = [type, code].filter(Boolean).join(", ");
      return `${message ?? "the request failed"}${what ? ` (${what}${status ? `, HTTP ${status}` : ""})` : status ? ` (HTTP ${status})` : ""}`;
    }
    if (typeof err === "string") return status ? `${err} (HTTP ${status})` : err;
  }
  return status ? `HTTP ${status}` : String(e);
}

async function copyText(text: string): Promise<boolean> {
  try {
    // navigator.clipboard exists only in secure contexts (https, localhost).
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // refused: try the old way
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

export function PlaygroundPage() {
  const models = useApi<ModelList>("/v1/models");
  const [params, setParams] = useSearchParams();
  const ids = models.data?.data.map((m) => m.id) ?? [];
  const model = params.get("model") ?? ids[0] ?? "";
  const [system, setSystem] = useState("");
  const [messages, setMessages] = useState<Message[]>([]);
  const [input, setInput] = useState("");
  const [options, setOptions] = useState<Options>(NO_OPTIONS);
  const [stream, setStream] = useState(true);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [lastSent, setLastSent] = useState<Record<string, unknown> | null>(null);
  const [copied, setCopied] = useState("");
  const abort = useRef<AbortController | null>(null);
  const bottom = useRef<HTMLDivElement | null>(null);

  // Leaving the page stops an answer still coming.
  useEffect(() => () => abort.current?.abort(), []);
  // (A block: newer browsers' scrollIntoView returns a promise, which is no effect cleanup.)
  useEffect(() => {
    bottom.current?.scrollIntoView?.({ block: "nearest" });
  }, [messages]);

  // The conversation sent: answers that brought no text (failed, stopped at once) are left out.
  const history = (list: Message[]) => list.filter((m) => m.role === "user" || m.content !== "").map((m) => ({ role: m.role, content: m.content }));
  // What Send would send now (with the input), or, with nothing typed, the last request sent.
  const preview = requestBody(model, system, [...history(messages), ...(input.trim() ? [{ role: "user", content: input }] : [])], options, stream);
  const shown = !input.trim() && lastSent ? lastSent : preview.body;
  const curl = curlOf(shown);

  // Changes the answer being written (the last message).
  const update = (f: (m: Message) => Message) =>
    setMessages((list) => (list.length === 0 ? list : [...list.slice(0, -1), f(list[list.length - 1])]));

  const send = async (e?: FormEvent) => {
    e?.preventDefault();
    const said = input;
    if (!said.trim() || !model || busy) return;
    const before = messages;
    const { body, problems } = requestBody(model, system, [...history(before), { role: "user", content: said }], options, stream);
    if (problems.length) {
      setError(problems.join("; "));
      return;
    }
    setError("");
    setInput("");
    setMessages([...before, { role: "user", content: said }, { role: "assistant", content: "", streaming: true }]);
    setLastSent(body);
    setBusy(true);
    const controller = new AbortController();
    abort.current = controller;
    const started = performance.now();
    let got = ""; // the answer's text so far
    // A failure before any text: the question goes back into the box, to be sent again.
    const failed = (why: string) => {
      setError(why);
      setMessages(before);
      setInput(said);
    };
    try {
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      const token = currentToken();
      if (token) headers.Authorization = `Bearer ${token}`;
      const res = await fetch("/v1/chat/completions", { method: "POST", headers, body: JSON.stringify(body), signal: controller.signal });
      checkSignedIn(res.status);
      if (!res.ok) {
        const text = await res.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: the status says it
        }
        failed(typeof parsed === "string" ? `${res.statusText || "the request failed"} (HTTP ${res.status})` : errorText(parsed, res.status));
        return;
      }
      if (!stream) {
        const answer = await res.json();
        const choice = answer.choices?.[0];
        update((m) => ({
          ...m,
          content: choice?.message?.content ?? "",
          streaming: false,
          finish: choice?.finish_reason ?? undefined,
          usage: answer.usage,
          fingerprint: answer.system_fingerprint,
          ms: performance.now() - started,
        }));
        return;
      }
      // Server-sent events: `data: {chunk}` lines, `data: [DONE]` at the end.
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      let done = false;
      while (!done) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        buffered += decoder.decode(value, { stream: true });
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const raw of lines) {
          const line = raw.replace(/\r$/, "");
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trimStart();
          if (data === "[DONE]") {
            done = true;
            break;
          }
          let chunk: {
            error?: unknown;
            choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
            usage?: Usage;
            system_fingerprint?: string;
          };
          try {
            chunk = JSON.parse(data);
          } catch {
            continue;
          }
          if (chunk.error) {
            const why = errorText(chunk);
            update((m) => ({ ...m, error: why }));
            continue;
          }
          const choice = chunk.choices?.[0];
          const piece = choice?.delta?.content ?? "";
          got += piece;
          update((m) => ({
            ...m,
            content: m.content + piece,
            finish: choice?.finish_reason ?? m.finish,
            usage: chunk.usage ?? m.usage,
            fingerprint: chunk.system_fingerprint ?? m.fingerprint,
          }));
        }
      }
      if (done) void reader.cancel().catch(() => {});
      update((m) => ({
        ...m,
        streaming: false,
        ms: performance.now() - started,
        error: m.error ?? (done ? undefined : "the stream ended before [DONE]"),
      }));
    } catch (err) {
      if (controller.signal.aborted) {
        update((m) => ({ ...m, streaming: false, finish: "stopped", ms: performance.now() - started }));
      } else {
        const why = err instanceof Error ? err.message : String(err);
        if (got === "") failed(why);
        else update((m) => ({ ...m, streaming: false, error: why }));
      }
    } finally {
      if (abort.current === controller) abort.current = null;
      setBusy(false);
    }
  };

  const stop = () => abort.current?.abort();
  const clear = () => {
    abort.current?.abort();
    setMessages([]);
    setLastSent(null);
    setError("");
  };
  const remove = (i: number) => setMessages((list) => list.filter((_, j) => j !== i));
  const copy = async () => {
    const ok = await copyText(curl);
    setCopied(ok ? "Copied" : "Select the text and copy it");
    setTimeout(() => setCopied(""), 2000);
  };
  const pick = (id: string) => setParams(id ? { model: id } : {}, { replace: true });

  return (
    <>
      <PageHeader title="Playground">
        {model && (
          <Link to={`/deployments/${encodeURIComponent(model)}`} data-testid="playground-deployment-link">
            Deployment {model}
          </Link>
        )}
      </PageHeader>
      <ErrorLine error={models.error} />
      {models.data && ids.length === 0 && (
        <p className="muted" data-testid="playground-no-models">
          No language-model deployment is ready yet (or none you may invoke): deploy a model version of framework <code>llm</code> on the{" "}
          <Link to="/deployments">Deployments</Link> page.
        </p>
      )}
      {model && models.data && !ids.includes(model) && (
        <p className="error" data-testid="playground-unknown-model">
          {model} is not among the language-model deployments you may invoke (it may still be loading).
        </p>
      )}
      <div className="playground">
        <section className="playground-chat" aria-label="Chat">
          <Field label="System prompt">
            <textarea
              data-testid="playground-system"
              rows={2}
              value={system}
              onChange={(e) => setSystem(e.target.value)}
              placeholder="You are a helpful assistant."
            />
          </Field>
          <ol className="playground-messages" data-testid="playground-messages" aria-label="Messages">
            {messages.map((m, i) => (
              <li
                key={i}
                className={`playground-message ${m.role}${m.error ? " failed" : ""}`}
                data-testid="playground-message"
                data-role={m.role}
                data-state={m.streaming ? "streaming" : "done"}
              >
                <div className="playground-message-head">
                  <strong>{m.role === "user" ? "You" : "Assistant"}</strong>
                  {!busy && (
                    <button className="link" aria-label={`Remove message ${i + 1}`} title="Remove" onClick={() => remove(i)}>
                      ×
                    </button>
                  )}
                </div>
                <div className="playground-content">
                  <span data-testid="message-content">{m.content}</span>
                  {m.streaming && <span className="playground-caret" aria-hidden="true">▍</span>}
                </div>
                {m.role === "assistant" && !m.streaming && (
                  <div className="playground-meta muted">
                    {m.finish && (
                      <span data-testid="message-finish">
                        finish_reason: <code>{m.finish}</code>
                      </span>
                    )}
                    {m.usage && (
                      <span data-testid="message-usage">
                        {m.usage.prompt_tokens} prompt + {m.usage.completion_tokens} completion = {m.usage.total_tokens} tokens
                      </span>
                    )}
                    {m.ms !== undefined && <span>{(m.ms / 1000).toFixed(2)} s</span>}
                    {m.fingerprint && <span title="system_fingerprint: the version that answered">{m.fingerprint}</span>}
                  </div>
                )}
                {m.error && (
                  <p className="error" role="alert" data-testid="message-error">
                    {m.error}
                  </p>
                )}
              </li>
            ))}
          </ol>
          <div ref={bottom} />
          <form className="playground-input" onSubmit={(e) => void send(e)}>
            <textarea
              data-testid="playground-input"
              aria-label="Message"
              rows={3}
              value={input}
              placeholder="Type a message (Enter sends, Shift+Enter is a new line)"
              onChange={(e) => setInput(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
                  e.preventDefault();
                  void send();
                }
              }}
            />
            <div className="row">
              <button type="submit" data-testid="playground-send" disabled={busy || !model || !input.trim()}>
                Send
              </button>
              {busy && (
                <button type="button" className="danger" data-testid="playground-stop" onClick={stop}>
                  Stop
                </button>
              )}
              <button type="button" className="secondary" data-testid="playground-clear" onClick={clear} disabled={messages.length === 0 && !lastSent}>
                Clear
              </button>
            </div>
          </form>
          {error && (
            <p className="error" role="alert" data-testid="playground-error">
              {error}
            </p>
          )}
        </section>
        <aside className="playground-options card" aria-label="Options">
          <Field label="Model">
            <select data-testid="playground-model" value={model} onChange={(e) => pick(e.target.value)} disabled={busy}>
              {!ids.includes(model) && <option value={model}>{model || "—"}</option>}
              {ids.map((id) => (
                <option key={id} value={id}>
                  {id}
                </option>
              ))}
            </select>
          </Field>
          <label className="playground-check">
            <input type="checkbox" data-testid="playground-stream" checked={stream} onChange={(e) => setStream(e.target.checked)} /> Stream the answer
          </label>
          {OPTION_FIELDS.map(([key, label, kind, placeholder]) => (
            <Field key={key} label={label}>
              <input
                data-testid={`option-${key}`}
                inputMode={kind === "int" ? "numeric" : "decimal"}
                value={options[key]}
                placeholder={placeholder}
                onChange={(e) => setOptions({ ...options, [key]: e.target.value })}
              />
            </Field>
          ))}
          <Field label="Stop sequences">
            <textarea
              data-testid="option-stop"
              rows={2}
              value={options.stop}
              placeholder={"one a line (up to 4); \\n is a newline"}
              onChange={(e) => setOptions({ ...options, stop: e.target.value })}
            />
          </Field>
          {preview.problems.length > 0 && <ErrorLine error={preview.problems.join("; ")} />}
          <button type="button" className="secondary" onClick={() => setOptions(NO_OPTIONS)}>
            Reset options
          </button>
        </aside>
      </div>
      <section aria-label="The request as curl">
        <div className="playground-curl-head">
          <h2>The request as curl</h2>
          <span className="muted">{!input.trim() && lastSent ? "the last request sent" : "what Send will send"}</span>
          <button type="button" className="secondary" data-testid="playground-copy" onClick={() => void copy()}>
            Copy
          </button>
          {copied && <span className="muted" data-testid="playground-copied">{copied}</span>}
        </div>
        <pre className="playground-curl" data-testid="playground-curl">
          {curl}
        </pre>
        <p className="muted">
          With <code>AIMASS={window.location.origin}</code> and <code>TOKEN</code> an API key or a login token; <code>model</code> is the
          deployment's name.
        </p>
      </section>
    </>
  );
}
