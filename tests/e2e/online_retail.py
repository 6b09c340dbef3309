"""UCI Online Retail (../shared/data/online-retail, CC BY 4.0) as the recommend tests and
bench/recommend.sh read it: the purchases cleaned as a user would, each product's kind, and
the split the offline evaluation uses. Standard library only (the bench imports it too)."""
from __future__ import annotations

import csv
import gzip
from datetime import datetime, timezone
from pathlib import Path

SPLIT = "2011-11-09T00:00:00Z"
SPLIT_MS = int(datetime(2011, 11, 9, tzinfo=timezone.utc).timestamp() * 1000)


def shared_data(relative: str) -> Path:
    """A file of ../shared/data, beside this checkout or any folder above it (a CI clone
    elsewhere), else where the workplace keeps it."""
    for root in Path(__file__).resolve().parents:
        candidate = root.parent / "shared" / "data" / relative
        if candidate.exists():
            return candidate
    return Path("/work/shared/data") / relative


def purchases():
    """The purchases, cleaned as a user would: no cancellations (C…), no rows without a
    customer, only product stock codes (five digits first), positive quantities. Returns rows
    (customer, stock code, Unix ms, invoice) and each code's title."""
    rows, titles = [], {}
    with gzip.open(shared_data("online-retail/online_retail.csv.gz"), "rt", encoding="utf-8", errors="replace") as f:
        for r in csv.DictReader(f):
            code = r["StockCode"]
            if r["InvoiceNo"].startswith("C") or not r["CustomerID"] or not code[:5].isdigit() or float(r["Quantity"]) <= 0:
                continue
            ts = int(datetime.strptime(r["InvoiceDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp() * 1000)
            rows.append((r["CustomerID"].split(".")[0], code, ts, r["InvoiceNo"]))
            titles.setdefault(code, r["Description"].strip())
    return rows, titles


def product_kind(title: str) -> str:
    """The kind of product: the last word of its description (HOLDER, LANTERN, BAG…)."""
    words = [w for w in title.split() if w.isalpha()]
    return words[-1].lower() if words else "other"
