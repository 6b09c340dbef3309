// Server-sent events from /api/v1/events, read with fetch so that the request carries the
// bearer token (EventSource cannot send one).
import { currentToken } from "./api";

export interface PlatformEvent {
  id: string;
  topic: string;
  data: unknown;
}

export function followEvents(topic: string, onEvent: (e: PlatformEvent) => void, onError: (why: string) => void): () => void {
  const stop = new AbortController();
  (async () => {
    const res = await fetch(`/api/v1/events?topic=${encodeURIComponent(topic)}`, {
      headers: { Authorization: `Bearer ${currentToken() ?? ""}`, Accept: "text/event-stream" },
      signal: stop.signal,
    });
    if (!res.ok || !res.body) {
      onError(`events: HTTP ${res.status}`);
      return;
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
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
  })().catch((e) => {
    if (!stop.signal.aborted) onError(String(e));
  });
  return () => stop.abort();
}
