// The annotation screen of a labelling project, driven by the keyboard (as in Label Studio or
// CVAT). It takes the caller's next task from the queue (GET …/tasks/next; 204: none left) and
// shows it: the text large, the shown columns, the image of a files dataset (fetched with the
// token), the pre-label with its score, and the classes as buttons with their keys. A class's key
// labels a one-class task and moves on; for several classes the keys toggle and Enter submits;
// for spans, select text with the mouse and press a class's key to mark it; for boxes, drag on
// the image to draw one and press a class's key to give it its class; Enter submits (or accepts
// the pre-label of a one-class task). Backspace or Ctrl+Z takes back the session's last label and
// shows that task again; ← → (or [ ]) walk through the tasks of this session. The time a task
// was on screen goes with its label as lead_ms.
//
// Keys are handled one after another (a queue of promises), so that keys pressed faster than the
// API answers apply in order, each to the task on screen once the one before has finished.
import { useEffect, useReducer, useRef, useState, type PointerEvent as ReactPointerEvent, type RefObject } from "react";
import { Link, useParams } from "react-router-dom";
import { ApiError, api, enc, get, send } from "../api";
import { useAuth } from "../auth";
import { useApi } from "../hooks";
import { ErrorLine, PageHeader } from "../components/ui";
import { classColor, f3, projectPath, valueText, type Box, type LabelSchema, type LabelValue, type Project, type Span } from "./Labelling";
import "../components/labelling.css";

interface Task {
  id: number;
  project: string;
  data: Record<string, unknown>;
  text?: unknown;
  labels: { annotator: string; value: LabelValue; at: string }[];
  mine?: LabelValue;
  prelabel?: { source: "model" | "functions"; value: LabelValue; score: number; model_version?: string };
  prelabel_error?: string;
}

// A box being drawn has no class until a key gives it one.
type DraftBox = Box;

interface Session {
  ids: number[]; // the tasks of this session, in the order the queue gave them
  pos: number; // the one on screen; ids.length: past the last (the queue had none left)
  empty: boolean; // the queue answered 204 (since the last undo)
  loading: boolean;
  labelled: Map<number, LabelValue>; // the labels given in this session
  undo: number[]; // the tasks labelled in this session, the newest last
  task: Task | null;
  multi: string[]; // the classes ticked (several classes)
  spans: Span[]; // the spans marked
  boxes: DraftBox[]; // the boxes drawn
  selected: number; // the box selected (-1: none)
  boxClass: string; // the class new boxes get
  shownAt: number;
  error: string;
  notice: string;
}

export function AnnotatePage() {
  const { name = "" } = useParams();
  const project = useApi<Project>(projectPath(name));
  if (!project.data) return <ErrorLine error={project.error} />;
  return <Annotator p={project.data} />;
}

const asText = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));
const codePoints = (s: string) => [...s].length;

// The selection inside `el` as code-point offsets of its text, without the white space at its ends.
function selectionIn(el: HTMLElement | null): [number, number] | null {
  const sel = window.getSelection();
  if (!el || !sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
  const r = sel.getRangeAt(0).cloneRange();
  const all = document.createRange();
  all.selectNodeContents(el);
  if (r.compareBoundaryPoints(Range.END_TO_START, all) >= 0 || r.compareBoundaryPoints(Range.START_TO_END, all) <= 0) return null;
  if (r.compareBoundaryPoints(Range.START_TO_START, all) < 0) r.setStart(all.startContainer, all.startOffset);
  if (r.compareBoundaryPoints(Range.END_TO_END, all) > 0) r.setEnd(all.endContainer, all.endOffset);
  const before = document.createRange();
  before.selectNodeContents(el);
  before.setEnd(r.startContainer, r.startOffset);
  const chosen = [...r.toString()];
  let start = codePoints(before.toString());
  let end = start + chosen.length;
  let a = 0;
  let b = chosen.length;
  while (a < b && /\s/.test(chosen[a])) a++;
  while (b > a && /\s/.test(chosen[b - 1])) b--;
  end = start + b;
  start += a;
  return start < end ? [start, end] : null;
}

// An image the API serves (it needs the token) as a data: URL: the console's
// Content-Security-Policy lets images come from 'self' and data: only (not blob:).
function useImage(path: string | null) {
  const [src, setSrc] = useState<{ path: string; url: string } | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!path) return;
    let live = true;
    setError("");
    send("GET", path)
      .then((r) => r.blob())
      .then(
        (blob) =>
          new Promise<string>((ok, fail) => {
            const f = new FileReader();
            f.onload = () => ok(String(f.result));
            f.onerror = () => fail(f.error);
            f.readAsDataURL(blob);
          }),
      )
      .then((url) => live && setSrc({ path, url }))
      .catch((e) => live && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [path]);
  return { src: src && src.path === path ? src.url : null, error };
}

function Annotator({ p }: { p: Project }) {
  const base = projectPath(p.name);
  const schema = p.schema;
  const S = useRef<Session>({
    ids: [],
    pos: 0,
    empty: false,
    loading: true,
    labelled: new Map(),
    undo: [],
    task: null,
    multi: [],
    spans: [],
    boxes: [],
    selected: -1,
    boxClass: "",
    shownAt: 0,
    error: "",
    notice: "",
  });
  const s = S.current;
  const [, bump] = useReducer((x: number) => x + 1, 0);
  const chain = useRef<Promise<void>>(Promise.resolve());
  const textRef = useRef<HTMLDivElement>(null);

  // Runs `f` after every action queued before it, then draws the page again.
  const enqueue = (f: () => Promise<void> | void) => {
    chain.current = chain.current.then(async () => {
      try {
        await f();
      } catch (e) {
        s.error = e instanceof ApiError ? `${e.message} (${e.code})` : e instanceof Error ? e.message : String(e);
      } finally {
        bump();
      }
    });
  };

  const show = (t: Task) => {
    s.task = t;
    s.multi = Array.isArray(t.mine) ? [...(t.mine as string[])] : Array.isArray(t.prelabel?.value) ? [...(t.prelabel!.value as string[])] : [];
    s.spans = schema.kind === "spans" && Array.isArray(t.mine) ? (t.mine as Span[]).map((x) => ({ ...x })) : [];
    s.boxes = schema.kind === "boxes" && Array.isArray(t.mine) ? (t.mine as Box[]).map((x) => ({ ...x })) : [];
    s.selected = -1;
    s.shownAt = Date.now();
  };
  const open = async (i: number) => {
    const t = await get<Task>(`${base}/tasks/${s.ids[i]}`);
    s.pos = i;
    show(t);
  };
  const fromQueue = async () => {
    const t = await api<Task | undefined>("GET", `${base}/tasks/next`);
    s.loading = false;
    if (!t) {
      s.empty = true;
      s.pos = s.ids.length;
      s.task = null;
      return;
    }
    s.empty = false;
    let i = s.ids.indexOf(t.id);
    if (i < 0) i = s.ids.push(t.id) - 1;
    s.pos = i;
    show(t);
  };
  // After a label: the session's next task without one from this session, else the queue's.
  const forward = async () => {
    for (let i = s.pos + 1; i < s.ids.length; i++) {
      if (!s.labelled.has(s.ids[i])) return open(i);
    }
    return fromQueue();
  };
  const submit = async (value: LabelValue) => {
    const t = s.task;
    if (!t) return;
    const lead_ms = Math.max(0, Math.round(Date.now() - s.shownAt));
    const r = await api<{ value: LabelValue }>("POST", `${base}/tasks/${t.id}/labels`, { value, lead_ms });
    s.labelled.set(t.id, r.value);
    s.undo = s.undo.filter((x) => x !== t.id);
    s.undo.push(t.id);
    s.error = "";
    s.notice = "";
    await forward();
  };
  const undo = async () => {
    const id = s.undo.pop();
    if (id === undefined) {
      s.notice = "Nothing to undo in this session.";
      return;
    }
    try {
      await api("DELETE", `${base}/tasks/${id}/labels`);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) {
        s.undo.push(id);
        throw e;
      }
    }
    s.labelled.delete(id);
    s.empty = false;
    s.error = "";
    await open(s.ids.indexOf(id));
    s.notice = `Took back your label of task ${id}.`;
  };
  const previous = async () => {
    if (s.pos <= 0) {
      s.notice = "This is the first task of this session.";
      return;
    }
    s.notice = "";
    await open(s.pos - 1);
  };
  const next = async () => {
    if (s.pos < s.ids.length - 1) {
      s.notice = "";
      return open(s.pos + 1);
    }
    if (s.pos === s.ids.length - 1 && s.task && s.labelled.has(s.task.id)) return fromQueue();
    s.notice = s.pos >= s.ids.length ? "No more tasks." : "This is the newest task of this session: label it to go on.";
  };

  const classKey = async (c: string) => {
    const t = s.task;
    if (!t) return;
    s.notice = "";
    switch (schema.kind) {
      case "single":
        return submit(c);
      case "multi":
        s.multi = s.multi.includes(c) ? s.multi.filter((x) => x !== c) : [...s.multi, c];
        return;
      case "spans": {
        const at = selectionIn(textRef.current);
        if (!at) {
          s.notice = "Select some of the text first, then press a class's key.";
          return;
        }
        const [start, end] = at;
        if (!s.spans.some((x) => x.class === c && x.start === start && x.end === end)) s.spans = [...s.spans, { class: c, start, end }];
        window.getSelection()?.removeAllRanges();
        return;
      }
      case "boxes": {
        let i = s.selected;
        if (i < 0) i = s.boxes.findIndex((b) => b.class === "");
        if (i < 0) {
          s.boxClass = c;
          s.notice = `New boxes get the class ${c}.`;
          return;
        }
        s.boxes = s.boxes.map((b, k) => (k === i ? { ...b, class: c } : b));
        return;
      }
    }
  };
  const enter = async () => {
    const t = s.task;
    if (!t) return;
    switch (schema.kind) {
      case "single":
        if (t.prelabel && typeof t.prelabel.value === "string") return submit(t.prelabel.value);
        if (typeof t.mine === "string") return forward();
        s.notice = "Press a class's key to label this task.";
        return;
      case "multi":
        return submit(s.multi);
      case "spans":
        return submit(s.spans);
      case "boxes":
        if (s.boxes.some((b) => b.class === "")) {
          s.notice = "Give every box a class: select it, then press a class's key.";
          return;
        }
        return submit(s.boxes);
    }
  };
  const removeLast = () => {
    if (schema.kind === "boxes" && s.boxes.length) {
      const i = s.selected >= 0 ? s.selected : s.boxes.length - 1;
      s.boxes = s.boxes.filter((_, k) => k !== i);
      s.selected = -1;
    } else if (schema.kind === "spans" && s.spans.length) {
      s.spans = s.spans.slice(0, -1);
    }
  };
  const reset = () => {
    if (s.task) show(s.task);
    window.getSelection()?.removeAllRanges();
  };

  // The first task.
  useEffect(() => {
    enqueue(fromQueue);
  }, []);

  // The keys, read on the window (not in a form field).
  useEffect(() => {
    const keyOf = (k: string) => {
      let i = schema.keys.indexOf(k);
      if (i < 0 && k.length === 1) i = schema.keys.findIndex((x) => x.toLowerCase() === k.toLowerCase());
      return i;
    };
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement | null;
      if (el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName))) return;
      // Enter on a link, button or summary reached with Tab does what it does there.
      if (e.key === "Enter" && el && ["A", "BUTTON", "SUMMARY"].includes(el.tagName)) return;
      let act: (() => Promise<void> | void) | null = null;
      if (e.ctrlKey || e.metaKey) {
        if (e.key.toLowerCase() === "z" && !e.shiftKey) act = undo;
      } else if (!e.altKey) {
        const i = keyOf(e.key);
        if (i >= 0) act = e.repeat ? () => {} : () => classKey(schema.classes[i]);
        else if (e.key === "Enter") act = e.repeat ? () => {} : enter;
        else if (e.key === "Backspace") act = e.repeat ? () => {} : undo;
        else if (e.key === "ArrowLeft" || e.key === "[") act = previous;
        else if (e.key === "ArrowRight" || e.key === "]") act = next;
        else if (e.key === "Delete") act = removeLast;
        else if (e.key === "Escape") act = reset;
      }
      if (!act) return;
      e.preventDefault();
      enqueue(act);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  const t = s.task;
  const finished = !s.loading && !t && s.empty;
  return (
    <>
      <PageHeader title={`Annotate ${p.name}`}>
        <Link to={`/labelling/${enc(p.name)}`}>Project</Link>
      </PageHeader>
      <div className="lbl-status">
        <span data-testid="session-count">
          {s.labelled.size.toLocaleString()} labelled this session
        </span>
        {s.ids.length > 0 && (
          <span className="muted" data-testid="session-position">
            {finished ? `past the last of ${s.ids.length} tasks` : `task ${s.pos + 1} of ${s.ids.length}`} in this session
          </span>
        )}
        <span className="muted">
          {p.items.toLocaleString()} items, {p.overlap} {p.overlap === 1 ? "label" : "labels"} each
        </span>
      </div>
      {p.instructions && <p className="lbl-instructions card">{p.instructions}</p>}
      <ErrorLine error={s.error} />
      {s.notice && (
        <p className="muted" role="status" data-testid="notice">
          {s.notice}
        </p>
      )}
      {s.loading && !s.error && <p className="muted">Loading the next task…</p>}
      {finished && (
        <div className="card lbl-done" data-testid="no-more-tasks" role="status">
          <h2>No more tasks</h2>
          <p>
            Every item has its {p.overlap === 1 ? "label" : `${p.overlap} labels`} or is held by another annotator, or you labelled it already.{" "}
            {s.labelled.size > 0 && <>You labelled {s.labelled.size.toLocaleString()} in this session. </>}
            <Link to={`/labelling/${enc(p.name)}`}>Back to the project</Link>.
          </p>
          {s.ids.length > 0 && <p className="muted">← or [ goes back to this session's tasks; Backspace takes back your last label.</p>}
        </div>
      )}
      {t && (
        <TaskView
          key={t.id}
          p={p}
          t={t}
          s={s}
          textRef={textRef}
          changed={bump}
          onClass={(c) => enqueue(() => classKey(c))}
          onEnter={() => enqueue(enter)}
          onUndo={() => enqueue(undo)}
          onPrevious={() => enqueue(previous)}
          onNext={() => enqueue(next)}
        />
      )}
      <Keys schema={schema} />
    </>
  );
}

function TaskView({
  p,
  t,
  s,
  textRef,
  changed,
  onClass,
  onEnter,
  onUndo,
  onPrevious,
  onNext,
}: {
  p: Project;
  t: Task;
  s: Session;
  textRef: RefObject<HTMLDivElement | null>;
  changed: () => void;
  onClass: (c: string) => void;
  onEnter: () => void;
  onUndo: () => void;
  onPrevious: () => void;
  onNext: () => void;
}) {
  const schema = p.schema;
  const files = p.source.kind === "files";
  const text = asText(t.text);
  const url = files && typeof t.data.url === "string" ? t.data.url : null;
  const image = String(t.data.media_type ?? "").startsWith("image/");
  const shown = (schema.show_columns ?? (files ? ["path", "media_type"] : Object.keys(t.data).filter((c) => c !== schema.text_column && c !== "url")))
    .filter((c) => c in t.data);
  const pre = t.prelabel;
  const { me } = useAuth();
  const others = t.labels.filter((l) => l.annotator !== me?.username).length;
  const selected = (c: string) => {
    if (schema.kind === "single") return t.mine === c;
    if (schema.kind === "multi") return s.multi.includes(c);
    if (schema.kind === "boxes") return s.selected >= 0 ? s.boxes[s.selected]?.class === c : s.boxClass === c;
    return false;
  };
  const preHas = (c: string) => (pre ? (Array.isArray(pre.value) ? (pre.value as unknown[]).includes(c) : pre.value === c) : false);
  return (
    <article className="card lbl-task" aria-label={`Task ${t.id}`} data-task={t.id}>
      <div className="lbl-task-head">
        <h2 data-testid="task-id">Task {t.id}</h2>
        {t.mine !== undefined && (
          <span className="tag" data-testid="mine">
            your label: {valueText(t.mine, text)}
          </span>
        )}
        {others > 0 && <span className="muted">{others} other {others === 1 ? "label" : "labels"}</span>}
      </div>
      {pre && (
        <p className="lbl-prelabel" data-testid="prelabel" data-value={JSON.stringify(pre.value)}>
          Pre-label <strong>{valueText(pre.value, text)}</strong>{" "}
          <span className="muted">
            ({pre.source === "model" ? `model ${pre.model_version ?? ""}` : "labelling functions"}, score {f3(pre.score)})
          </span>
          {schema.kind === "single" && typeof pre.value === "string" && <> — <kbd>Enter</kbd> accepts it</>}
        </p>
      )}
      {t.prelabel_error && <p className="muted">No pre-label: {t.prelabel_error}</p>}
      {schema.text_column && (
        <div className="lbl-text" data-testid="task-text" ref={textRef}>
          {schema.kind === "spans" ? <Marked text={text} spans={s.spans} schema={schema} /> : text}
        </div>
      )}
      {url && image && <TaskImage url={url} path={asText(t.data.path)} schema={schema} s={s} changed={changed} />}
      {url && !image && <p className="muted">{asText(t.data.path)} is not an image ({asText(t.data.media_type)}).</p>}
      {shown.length > 0 && (
        <dl className="facts lbl-columns" aria-label="Columns">
          {shown.map((c) => (
            <div key={c} className="lbl-column">
              <dt>{c}</dt>
              <dd>{asText(t.data[c])}</dd>
            </div>
          ))}
        </dl>
      )}
      <div className="lbl-classbar" role="group" aria-label="Classes">
        {schema.classes.map((c, i) => (
          <button
            key={c}
            type="button"
            className={`lbl-class ${classColor(schema, c)}${selected(c) ? " on" : ""}${preHas(c) ? " pre" : ""}`}
            aria-pressed={schema.kind === "spans" ? undefined : selected(c)}
            data-class={c}
            // Keep the text selected (spans) when the button is clicked.
            onMouseDown={(e) => e.preventDefault()}
            onClick={() => onClass(c)}
          >
            {schema.keys[i] && <kbd>{schema.keys[i]}</kbd>} {c}
          </button>
        ))}
      </div>
      {schema.kind === "spans" && <SpanList text={text} s={s} schema={schema} changed={changed} />}
      {schema.kind === "boxes" && <BoxList s={s} schema={schema} changed={changed} />}
      <div className="row lbl-buttons">
        <button type="button" className="secondary" onClick={onPrevious} onMouseDown={(e) => e.preventDefault()}>
          ← Previous
        </button>
        <button type="button" className="secondary" onClick={onNext} onMouseDown={(e) => e.preventDefault()}>
          Next →
        </button>
        {schema.kind !== "single" && (
          <button type="button" onClick={onEnter} onMouseDown={(e) => e.preventDefault()}>
            Submit (Enter)
          </button>
        )}
        {schema.kind === "single" && pre && typeof pre.value === "string" && (
          <button type="button" onClick={onEnter} onMouseDown={(e) => e.preventDefault()}>
            Accept pre-label (Enter)
          </button>
        )}
        <button type="button" className="secondary" onClick={onUndo} onMouseDown={(e) => e.preventDefault()} disabled={s.undo.length === 0}>
          Undo (Backspace)
        </button>
      </div>
    </article>
  );
}

// The text with its spans marked: cut at every span's start and end, each piece marked with the
// spans over it (its colour the first one's).
function Marked({ text, spans, schema }: { text: string; spans: Span[]; schema: LabelSchema }) {
  const cps = [...text];
  const cuts = [...new Set([0, cps.length, ...spans.flatMap((x) => [x.start, x.end])])].filter((x) => x >= 0 && x <= cps.length).sort((a, b) => a - b);
  const parts = [];
  for (let k = 0; k + 1 < cuts.length; k++) {
    const [a, b] = [cuts[k], cuts[k + 1]];
    const piece = cps.slice(a, b).join("");
    const over = spans.filter((x) => x.start <= a && x.end >= b);
    if (over.length === 0) parts.push(piece);
    else
      parts.push(
        <mark key={a} className={`lbl-span ${classColor(schema, over[0].class)}`} data-class={over.map((x) => x.class).join(" ")} title={over.map((x) => x.class).join(", ")}>
          {piece}
        </mark>,
      );
  }
  return <>{parts}</>;
}

function SpanList({ text, s, schema, changed }: { text: string; s: Session; schema: LabelSchema; changed: () => void }) {
  if (s.spans.length === 0) return <p className="muted">No spans marked: select text, then press a class's key.</p>;
  const cps = [...text];
  return (
    <ul className="lbl-marks" aria-label="Spans">
      {s.spans.map((x, i) => (
        <li key={`${x.class}-${x.start}-${x.end}`} data-class={x.class} data-start={x.start} data-end={x.end}>
          <span className={`tag ${classColor(schema, x.class)}`}>{x.class}</span> “{cps.slice(x.start, x.end).join("")}”{" "}
          <span className="muted">
            {x.start}–{x.end}
          </span>{" "}
          <button
            type="button"
            className="link"
            aria-label={`Remove span ${i + 1}`}
            onClick={() => {
              s.spans = s.spans.filter((_, k) => k !== i);
              changed();
            }}
          >
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}

function BoxList({ s, schema, changed }: { s: Session; schema: LabelSchema; changed: () => void }) {
  if (s.boxes.length === 0) return <p className="muted">No boxes: drag on the image to draw one, then press a class's key.</p>;
  return (
    <ul className="lbl-marks" aria-label="Boxes">
      {s.boxes.map((b, i) => (
        <li key={i} data-class={b.class} data-box={`${b.x},${b.y},${b.w},${b.h}`} className={i === s.selected ? "selected" : undefined}>
          <button
            type="button"
            className="link"
            onClick={() => {
              s.selected = i;
              changed();
            }}
          >
            <span className={`tag ${b.class ? classColor(schema, b.class) : ""}`}>{b.class || "no class"}</span>
          </button>{" "}
          ({b.x}, {b.y}) {b.w}×{b.h}{" "}
          <button
            type="button"
            className="link"
            aria-label={`Remove box ${i + 1}`}
            onClick={() => {
              s.boxes = s.boxes.filter((_, k) => k !== i);
              s.selected = -1;
              changed();
            }}
          >
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}

// The task's image, and for a boxes schema the boxes over it in the image's pixels (an SVG whose
// viewBox is the image's size); dragging on it draws a new one.
function TaskImage({ url, path, schema, s, changed }: { url: string; path: string; schema: LabelSchema; s: Session; changed: () => void }) {
  const img = useImage(url);
  const [size, setSize] = useState<{ w: number; h: number } | null>(null);
  const [drag, setDrag] = useState<{ x0: number; y0: number; x1: number; y1: number } | null>(null);
  const svg = useRef<SVGSVGElement>(null);
  const boxes = schema.kind === "boxes";
  const at = (e: ReactPointerEvent) => {
    const r = svg.current!.getBoundingClientRect();
    const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
    return { x: clamp(((e.clientX - r.left) * size!.w) / r.width, size!.w), y: clamp(((e.clientY - r.top) * size!.h) / r.height, size!.h) };
  };
  const down = (e: ReactPointerEvent<SVGSVGElement>) => {
    if (!boxes || !size || e.button !== 0) return;
    e.preventDefault();
    svg.current!.setPointerCapture(e.pointerId);
    const q = at(e);
    setDrag({ x0: q.x, y0: q.y, x1: q.x, y1: q.y });
  };
  const move = (e: ReactPointerEvent<SVGSVGElement>) => {
    if (!drag) return;
    const q = at(e);
    setDrag({ ...drag, x1: q.x, y1: q.y });
  };
  const up = (e: ReactPointerEvent<SVGSVGElement>) => {
    if (!drag) return;
    const q = at(e);
    const x = Math.round(Math.min(drag.x0, q.x));
    const y = Math.round(Math.min(drag.y0, q.y));
    const w = Math.round(Math.max(drag.x0, q.x)) - x;
    const h = Math.round(Math.max(drag.y0, q.y)) - y;
    setDrag(null);
    if (w < 3 || h < 3) return; // a click, not a box
    s.boxes = [...s.boxes, { class: s.boxClass, x, y, w, h }];
    s.selected = s.boxes.length - 1;
    changed();
  };
  if (img.error) return <ErrorLine error={`The image could not be read: ${img.error}`} />;
  if (!img.src) return <p className="muted">Loading the image…</p>;
  const fontSize = size ? Math.max(10, Math.round(size.w / 40)) : 12;
  return (
    <div className="lbl-image">
      <img src={img.src} alt={path} draggable={false} onLoad={(e) => setSize({ w: e.currentTarget.naturalWidth, h: e.currentTarget.naturalHeight })} />
      {size && (
        <svg
          ref={svg}
          className={boxes ? "lbl-draw" : undefined}
          viewBox={`0 0 ${size.w} ${size.h}`}
          aria-label={boxes ? "Boxes: drag to draw one" : undefined}
          data-width={size.w}
          data-height={size.h}
          onPointerDown={down}
          onPointerMove={move}
          onPointerUp={up}
        >
          {s.boxes.map((b, i) => (
            <g key={i} className={`lbl-box ${b.class ? classColor(schema, b.class) : "lbl-noclass"}${i === s.selected ? " selected" : ""}`}>
              <rect
                x={b.x}
                y={b.y}
                width={b.w}
                height={b.h}
                onPointerDown={(e) => {
                  e.stopPropagation();
                  s.selected = i;
                  changed();
                }}
              />
              <text x={b.x + 2} y={Math.max(fontSize, b.y - 3)} fontSize={fontSize}>
                {b.class || "?"}
              </text>
            </g>
          ))}
          {drag && (
            <rect
              className="lbl-drawing"
              x={Math.min(drag.x0, drag.x1)}
              y={Math.min(drag.y0, drag.y1)}
              width={Math.abs(drag.x1 - drag.x0)}
              height={Math.abs(drag.y1 - drag.y0)}
            />
          )}
        </svg>
      )}
    </div>
  );
}

function Keys({ schema }: { schema: LabelSchema }) {
  const classLine: Record<string, string> = {
    single: "labels the task and moves on",
    multi: "ticks or unticks the class",
    spans: "marks the selected text with the class",
    boxes: "gives the selected box (or the new ones) the class",
  };
  const enterLine: Record<string, string> = {
    single: "accepts the pre-label",
    multi: "submits the classes ticked",
    spans: "submits the spans",
    boxes: "submits the boxes",
  };
  return (
    <details className="lbl-keys">
      <summary>Keys</summary>
      <dl className="facts">
        <dt>
          {schema.keys.filter(Boolean).slice(0, 4).map((k) => (
            <kbd key={k}>{k}</kbd>
          ))}
          {schema.keys.length > 4 ? " …" : ""}
        </dt>
        <dd>a class's key {classLine[schema.kind]}</dd>
        <dt>
          <kbd>Enter</kbd>
        </dt>
        <dd>{enterLine[schema.kind]}</dd>
        <dt>
          <kbd>Backspace</kbd> <kbd>Ctrl</kbd>+<kbd>Z</kbd>
        </dt>
        <dd>takes back your last label of this session and shows that task again</dd>
        <dt>
          <kbd>←</kbd> <kbd>→</kbd> <kbd>[</kbd> <kbd>]</kbd>
        </dt>
        <dd>the previous and next task of this session</dd>
        {(schema.kind === "spans" || schema.kind === "boxes") && (
          <>
            <dt>
              <kbd>Delete</kbd>
            </dt>
            <dd>removes the selected box or the last span</dd>
          </>
        )}
        <dt>
          <kbd>Esc</kbd>
        </dt>
        <dd>drops the changes to this task</dd>
      </dl>
    </details>
  );
}
