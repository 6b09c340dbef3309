// Server-sent events from /api/v1/events (or any other such stream: a crowd stream's live
// frames), read with fetch so that the request carries the bearer token (EventSource cannot
// send one). When the stream ends (the server restarts, or cuts a client that reads too
// slowly) it is opened again after a pause that doubles up to 30 s, and the caller is told; a
// 401 ends the session like any other call.
import { checkSignedIn, currentToken } from "./api";

export interface PlatformEvent {
  id: string;
  topic: string;
  data: unknown;
}

async function readStream(path: string, signal: AbortSignal, onEvent: (e: PlatformEvent) => void): Promise<string> {
  const res = await fetch(path, {
    headers: { Authorization: `Bearer ${currentToken() ?? ""}`, Accept: "text/event-stream" },
    signal,
  });
  checkSignedIn(res.status);
  if (!res.ok || !res.body) return `${path.startsWith("/api/v1/events") ? "events" : path}: HTTP ${res.status}`;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return "the event stream ended; reconnecting";
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id = "";
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("id:")) id = line.slice(3).trim();
        else if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (!data) continue;  // a comment (keep-alive)
      let parsed: unknown = data;
      try {
        parsed = JSON.parse(data);
      } catch {
        // kept as text
      }
      onEvent({ id, topic: event, data: parsed });
    }
  }
}

export function followEvents(topic: string, onEvent: (e: PlatformEvent) => void, onError: (why: string) => void): () => void {
  return followStream(`/api/v1/events?topic=${encodeURIComponent(topic)}`, onEvent, onError);
}

// Any server-sent events at `path`; an event's `topic` is its `event:` field.
export function followStream(path: string, onEvent: (e: PlatformEvent) => void, onError: (why: string) => void): () => void {
  const stop = new AbortController();
  (async () => {
    let pause = 1000;
    while (!stop.signal.aborted && currentToken()) {
      const started = Date.now();
      const why = await readStream(path, stop.signal, onEvent).catch((e) => String(e));
      if (stop.signal.aborted) return;
      onError(why);
      if (Date.now() - started > 60000) pause = 1000;  // it had been up a while: start over
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 30000);
      onError("");
    }
  })();
  return () => stop.abort();
}
