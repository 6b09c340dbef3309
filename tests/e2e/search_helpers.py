"""Real corpora for the search tests and benchmark: the Cranfield collection (1,400 abstracts,
225 queries with graded judgements) and the Debian FAQ (English and Chinese), plus a plain
BM25 ranker written out here, the baseline the index's default configuration must beat."""
import gzip
import math
import re
from collections import Counter
from pathlib import Path

from datasets_helpers import shared_data


def cranfield():
    """(documents [{id, title, body}], queries [{id, q, judgements}]). Grades: Cleverdon's codes
    1 (complete answer) … 4 (minimum interest) become 4 … 1; -1 is not relevant."""
    root = Path(shared_data("cranfield"))
    docs = []
    for block in re.split(r"^\.I ", (root / "cran.all.1400").read_text(), flags=re.M)[1:]:
        num, _, rest = block.partition("\n")
        fields = dict(re.findall(r"^\.([TAWB])\n(.*?)(?=^\.[TAWB]\n|\Z)", rest, flags=re.M | re.S))
        docs.append({"id": str(int(num)), "title": " ".join(fields.get("T", "").split()),
                     "body": " ".join(fields.get("W", "").split())})
    texts = []
    for block in re.split(r"^\.I ", (root / "cran.qry").read_text(), flags=re.M)[1:]:
        _, _, rest = block.partition("\n.W\n")
        texts.append(" ".join(rest.split()))
    judged = {}
    for line in (root / "cranqrel").read_text().split("\n"):
        parts = line.split()
        if len(parts) != 3:
            continue
        q, d, code = int(parts[0]), parts[1], int(parts[2])
        if 1 <= code <= 4:
            judged.setdefault(q, {})[d] = 5 - code
    # The judgement file numbers queries by their position in cran.qry.
    queries = [{"id": str(i + 1), "q": t, "judgements": judged[i + 1]} for i, t in enumerate(texts) if judged.get(i + 1)]
    return docs, queries


def debian_faq(lang):
    """The Debian FAQ as one document per section {id: "3.1.2", chapter: "3", title, body}; lang
    en or zh-cn. Read from Debian's debian-faq and debian-faq-zh-cn packages."""
    name = "debian-faq.en.txt.gz" if lang == "en" else "debian-faq.zh-cn.txt.gz"
    text = gzip.open(Path("/usr/share/doc/debian/FAQ") / name, "rt", encoding="utf-8").read()
    # The body starts after the table of contents, at the heading of chapter 1 ("Chapter 1. …",
    # "第 1 章 …"); its sections are headed "1.1. …".
    body_start = re.search(r"^(Chapter[ \u00a0]1\.[ \u00a0]|第[ \u00a0]1[ \u00a0]章)", text, flags=re.M).start()
    heads = list(re.finditer(r"^(\d+(?:\.\d+)+)\.[ \u00a0](.+)$", text[body_start:], flags=re.M))
    text = text[body_start:]
    sections = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = " ".join(text[m.end():end].split())
        sections.append({"id": m.group(1), "chapter": m.group(1).split(".")[0], "title": m.group(2).strip(),
                         "body": body})
    return sections


def tokens(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def bm25_ranking(docs, query, k1=1.2, b=0.75, fields=("title", "body")):
    """Plain BM25 (no stemming, no field weights) over the documents' fields; ids best first."""
    if not hasattr(bm25_ranking, "cache") or bm25_ranking.cache[0] is not docs:
        tf = [Counter(tokens(" ".join(d[f] for f in fields))) for d in docs]
        df = Counter()
        for t in tf:
            df.update(t.keys())
        avg = sum(sum(t.values()) for t in tf) / len(tf)
        bm25_ranking.cache = (docs, tf, df, avg)
    _, tf, df, avg = bm25_ranking.cache
    n = len(docs)
    scores = []
    q = set(tokens(query))
    for d, t in zip(docs, tf):
        length = sum(t.values())
        s = 0.0
        for w in q:
            if w in t:
                idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                s += idf * t[w] * (k1 + 1) / (t[w] + k1 * (1 - b + b * length / avg))
        if s > 0:
            scores.append((s, d["id"]))
    scores.sort(key=lambda x: (-x[0], x[1]))
    return [i for _, i in scores]


def ndcg(ranked, judgements, k=10):
    dcg = sum(judgements.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(judgements.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def debian_packages(limit=None):
    """Debian's package descriptions (`apt-cache dumpavail`): [{id, name, section, priority,
    size (installed KiB), title (the synopsis), body (the long description)}]."""
    import subprocess
    out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    docs = []
    for para in out.split("\n\n"):
        fields, key = {}, None
        for line in para.split("\n"):
            if line.startswith(" ") and key:
                fields[key] += "\n" + line[1:]
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" not in fields or "Description" not in fields:
            continue
        synopsis, _, long = fields["Description"].partition("\n")
        body = " ".join(l for l in long.split("\n") if l.strip() != ".")
        docs.append({"id": f"{fields['Package']}_{fields.get('Version', '')}".replace(":", "-"),
                     "name": fields["Package"], "section": fields.get("Section", "misc").split("/")[-1],
                     "priority": fields.get("Priority", "optional"),
                     "size": int(fields.get("Installed-Size", "0") or 0), "title": synopsis, "body": body})
        if limit and len(docs) >= limit:
            break
    return docs
