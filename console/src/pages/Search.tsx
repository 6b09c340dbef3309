// Search: the indexes with their document counts (a create form beside them), and an index's
// page: its settings, loading it from a dataset, a query box with filters, facets and
// highlighted hits, and a relevance evaluation against judgements.
import DOMPurify from "dompurify";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, enc } from "../api";
import { useAction, useApi } from "../hooks";
import { Allowed, DataTable, ErrorLine, Field, FormButtons, PageHeader, StateBadge, when } from "../components/ui";

interface FieldSpec {
  type: "text" | "keyword" | "number";
  weight?: number;
  facet?: boolean;
  sortable?: boolean;
}

interface SearchIndex {
  name: string;
  fields: Record<string, FieldSpec>;
  language: string;
  documents: number;
  terms: number;
  owner: string;
  created_at: string;
  synonyms: Record<string, string[]>;
  stop_words: string[];
  typo_tolerance: { enabled: boolean };
  prefix_search: boolean;
  ranking: { k1: number; b: number };
  vector: { dims: number; source: string } | null;
  source: { dataset: string; version: string; id_column: string; state: string; synced_version: number | null; error?: string } | null;
}

interface Hit {
  id: string;
  score: number;
  document: Record<string, unknown>;
  highlights: Record<string, string>;
}

interface Answer {
  hits: Hit[];
  total: number;
  facets: Record<string, Record<string, number>>;
  took_ms: number;
}

interface Evaluation {
  [measure: string]: number | Record<string, Record<string, number>>;
}

const FIELDS_EXAMPLE = '{"title": {"type": "text", "weight": 2}, "body": {"type": "text"}, "category": {"type": "keyword", "facet": true}}';

// Snippets come HTML-escaped with <em> marks; only those marks are let through.
function Snippet({ html }: { html: string }) {
  return <span className="snippet" dangerouslySetInnerHTML={{ __html: DOMPurify.sanitize(html, { ALLOWED_TAGS: ["em"], ALLOWED_ATTR: [] }) }} />;
}

function CreateIndex() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [fields, setFields] = useState(FIELDS_EXAMPLE);
  const [language, setLanguage] = useState("en");
  const action = useAction();
  const navigate = useNavigate();
  if (!open) return <button onClick={() => setOpen(true)}>New index</button>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(fields);
    } catch {
      action.setError("the fields are not JSON");
      return;
    }
    void action.run(() => api("POST", "/api/v1/search/indexes", { name, fields: parsed, language }), () => navigate(`/search/${enc(name)}`));
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <Field label="Name">
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} required />
      </Field>
      <Field label="Fields (JSON: text, keyword, number)">
        <textarea name="fields" rows={3} value={fields} onChange={(e) => setFields(e.target.value)} />
      </Field>
      <Field label="Language">
        <select name="language" value={language} onChange={(e) => setLanguage(e.target.value)}>
          {["en", "zh", "auto", "fr", "de", "es", "none"].map((l) => (
            <option key={l}>{l}</option>
          ))}
        </select>
      </Field>
      <ErrorLine error={action.error} />
      <FormButtons submit="Create" disabled={action.busy || !name} onCancel={() => setOpen(false)} />
    </form>
  );
}

export function SearchIndexesPage() {
  const list = useApi<{ indexes: SearchIndex[] }>("/api/v1/search/indexes", 5000);
  return (
    <>
      <PageHeader title="Search">
        <Allowed permission="search:write">
          <CreateIndex />
        </Allowed>
      </PageHeader>
      <ErrorLine error={list.error} />
      <DataTable
        rows={list.data?.indexes ?? []}
        rowKey={(i) => i.name}
        empty={list.loading ? "Loading…" : "No indexes: create one, then load documents or a dataset into it."}
        columns={[
          { title: "Name", render: (i) => <Link to={`/search/${enc(i.name)}`}>{i.name}</Link> },
          { title: "Documents", render: (i) => i.documents.toLocaleString() },
          { title: "Words", render: (i) => i.terms.toLocaleString() },
          { title: "Language", render: (i) => i.language },
          { title: "Vectors", render: (i) => (i.vector ? `${i.vector.dims} from ${i.vector.source}` : "—") },
          { title: "Dataset", render: (i) => (i.source ? <Link to={`/datasets/${enc(i.source.dataset)}`}>{i.source.dataset}</Link> : "—") },
        ]}
      />
    </>
  );
}

function LoadDataset({ index, reload }: { index: SearchIndex; reload: () => void }) {
  const [dataset, setDataset] = useState(index.source?.dataset ?? "");
  const [idColumn, setIdColumn] = useState(index.source?.id_column ?? "id");
  const action = useAction();
  const path = `/api/v1/search/indexes/${enc(index.name)}`;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      await api("PATCH", path, { source: { dataset, version: "latest", id_column: idColumn } });
      await api("POST", `${path}/sync`, {});
    }, reload);
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="Load from a dataset">
      <Field label="Dataset">
        <input name="dataset" value={dataset} onChange={(e) => setDataset(e.target.value)} required />
      </Field>
      <Field label="Id column">
        <input name="id_column" value={idColumn} onChange={(e) => setIdColumn(e.target.value)} />
      </Field>
      <ErrorLine error={action.error} />
      <button type="submit" disabled={action.busy || !dataset}>
        Load and follow
      </button>
    </form>
  );
}

function QueryBox({ index }: { index: SearchIndex }) {
  const facetFields = Object.entries(index.fields).filter(([, f]) => f.facet).map(([n]) => n);
  const [q, setQ] = useState("");
  const [filter, setFilter] = useState("");
  const [hybrid, setHybrid] = useState(0.5);
  const [answer, setAnswer] = useState<Answer | null>(null);
  const action = useAction();
  const run = (e?: FormEvent, extra?: string) => {
    e?.preventDefault();
    const f = extra ? (filter ? `(${filter}) AND ${extra}` : extra) : filter;
    if (extra) setFilter(f);
    const body: Record<string, unknown> = { q, limit: 20, facets: facetFields };
    if (f) body.filter = f;
    if (index.vector && index.vector.source !== "documents") body.hybrid = { ratio: hybrid };
    void action.run(async () => setAnswer(await api<Answer>("POST", `/api/v1/search/indexes/${enc(index.name)}/search`, body)));
  };
  return (
    <section aria-label="Try a query">
      <form className="card inline-form" onSubmit={run}>
        <Field label="Query">
          <input name="q" value={q} onChange={(e) => setQ(e.target.value)} />
        </Field>
        <Field label="Filter">
          <input name="filter" value={filter} placeholder="category = 'books' AND price < 10" onChange={(e) => setFilter(e.target.value)} />
        </Field>
        {index.vector && index.vector.source !== "documents" && (
          <Field label="Hybrid ratio">
            <input name="hybrid" type="number" min={0} max={1} step={0.1} value={hybrid} onChange={(e) => setHybrid(Number(e.target.value))} />
          </Field>
        )}
        <button type="submit" disabled={action.busy}>
          Search
        </button>
      </form>
      <ErrorLine error={action.error} />
      {answer && (
        <>
          <p className="muted" data-testid="search-total">
            {answer.total.toLocaleString()} hits in {answer.took_ms} ms
          </p>
          <div className="search-results">
            <aside aria-label="Facets">
              {Object.entries(answer.facets).map(([field, counts]) => (
                <div key={field}>
                  <h3>{field}</h3>
                  <ul>
                    {Object.entries(counts)
                      .sort((a, b) => b[1] - a[1])
                      .map(([value, n]) => (
                        <li key={value}>
                          <button className="link" onClick={() => run(undefined, `${field} = '${value.replace(/'/g, "\\'")}'`)}>
                            {value}
                          </button>{" "}
                          <span className="muted">{n}</span>
                        </li>
                      ))}
                  </ul>
                </div>
              ))}
            </aside>
            <ol className="hits" aria-label="Hits">
              {answer.hits.map((h) => (
                <li key={h.id}>
                  <strong>{h.id}</strong> <span className="muted">{h.score.toFixed(3)}</span>
                  {Object.entries(h.highlights).map(([field, html]) => (
                    <div key={field}>
                      <span className="muted">{field}: </span>
                      <Snippet html={html} />
                    </div>
                  ))}
                  {Object.keys(h.highlights).length === 0 && <code>{JSON.stringify(h.document).slice(0, 200)}</code>}
                </li>
              ))}
            </ol>
          </div>
        </>
      )}
    </section>
  );
}

function Evaluate({ index }: { index: SearchIndex }) {
  const [queries, setQueries] = useState('{"queries": [{"id": "1", "q": "…", "judgements": {"doc-id": 2}}]}');
  const [result, setResult] = useState<Evaluation | null>(null);
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let body: unknown;
    try {
      body = JSON.parse(queries);
    } catch {
      action.setError("the queries are not JSON");
      return;
    }
    void action.run(async () => setResult(await api<Evaluation>("POST", `/api/v1/search/indexes/${enc(index.name)}/evaluate`, body)));
  };
  const per = (result?.per_query ?? {}) as Record<string, Record<string, number>>;
  const measures = result ? Object.keys(result).filter((k) => typeof result[k] === "number" && k !== "queries") : [];
  return (
    <section aria-label="Relevance">
      <form className="card" onSubmit={submit}>
        <Field label="Judged queries (JSON)">
          <textarea name="queries" rows={4} value={queries} onChange={(e) => setQueries(e.target.value)} />
        </Field>
        <button type="submit" disabled={action.busy}>
          Evaluate
        </button>
      </form>
      <ErrorLine error={action.error} />
      {result && (
        <>
          <table aria-label="Relevance measures">
            <tbody>
              {measures.map((m) => (
                <tr key={m}>
                  <th>{m}</th>
                  <td>{(result[m] as number).toFixed(4)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <DataTable
            rows={Object.entries(per)}
            rowKey={([id]) => id}
            columns={[
              { title: "Query", render: ([id]) => id },
              ...Object.keys(Object.values(per)[0] ?? {}).map((m) => ({ title: m, render: ([, v]: [string, Record<string, number>]) => v[m].toFixed(3) })),
            ]}
          />
        </>
      )}
    </section>
  );
}

export function SearchIndexPage() {
  const { name = "" } = useParams();
  const path = `/api/v1/search/indexes/${enc(name)}`;
  const ix = useApi<SearchIndex>(path, 5000);
  const action = useAction();
  const navigate = useNavigate();
  const i = ix.data;
  const remove = () => void action.run(() => api("DELETE", path), () => navigate("/search"));
  return (
    <>
      <PageHeader title={`Index ${name}`}>
        <Allowed permission="search:write">
          <button className="danger" onClick={remove}>
            Delete
          </button>
        </Allowed>
      </PageHeader>
      <ErrorLine error={ix.error ?? action.error} />
      {i && (
        <>
          <dl className="facts">
            <dt>Documents</dt>
            <dd data-testid="index-documents">{i.documents.toLocaleString()}</dd>
            <dt>Fields</dt>
            <dd>
              {Object.entries(i.fields)
                .map(([n, f]) => `${n} (${f.type}${f.weight && f.weight > 1 ? ` ×${f.weight}` : ""}${f.facet ? ", facet" : ""}${f.sortable ? ", sortable" : ""})`)
                .join(", ")}
            </dd>
            <dt>Language</dt>
            <dd>{i.language}</dd>
            <dt>Ranking</dt>
            <dd>
              BM25 k1 {i.ranking.k1}, b {i.ranking.b}; typos {i.typo_tolerance.enabled ? "on" : "off"}, prefix search{" "}
              {i.prefix_search ? "on" : "off"}
            </dd>
            <dt>Vectors</dt>
            <dd>{i.vector ? `${i.vector.dims} dimensions from ${i.vector.source}` : "none"}</dd>
            <dt>Dataset</dt>
            <dd>
              {i.source ? (
                <>
                  <Link to={`/datasets/${enc(i.source.dataset)}`}>{i.source.dataset}</Link> <StateBadge state={i.source.state} />
                  {i.source.synced_version ? ` version ${i.source.synced_version}` : ""} {i.source.error}
                </>
              ) : (
                "none"
              )}
            </dd>
            <dt>Created</dt>
            <dd>
              {when(i.created_at)} by {i.owner}
            </dd>
          </dl>
          <Allowed permission="search:write">
            <LoadDataset index={i} reload={ix.reload} />
          </Allowed>
          <h2>Try a query</h2>
          <QueryBox index={i} />
          <h2>Relevance</h2>
          <Evaluate index={i} />
        </>
      )}
    </>
  );
}
