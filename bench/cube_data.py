"""bench/cube.sh's data: UCI Online Retail (../shared/data/online-retail, 541,909 rows, CC BY 4.0)
repeated to ROWS rows as a gzip CSV with the same header. Copy k (0, 1, ...) is the file as it is
with its dates k * 396 days later (whole days: the time of day stays), k * 100000 added to
CustomerID (empty stays empty) and "-k" after InvoiceNo (k > 0), so that each copy has its own
days, customers and invoices; the last copy is the file's first rows. The file is cached under
the work dir (WORK, else /tmp/aimass-bench-cube) and reused when there.
    python3 bench/cube_data.py [ROWS]     prints the path
Standard library only."""
from __future__ import annotations

import csv
import gzip
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from online_retail import shared_data  # noqa: E402

SHIFT_DAYS = 396  # about 13 months: a copy starts after the one before ends (2010-12-01 .. 2011-12-09)
HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]


def work_dir() -> Path:
    return Path(os.environ.get("WORK", "/tmp/aimass-bench-cube"))


def source_rows() -> list[list[str]]:
    with gzip.open(shared_data("online-retail/online_retail.csv.gz"), "rt", encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header == HEADER, header
        return list(r)


def copies(rows: list[list[str]], n: int):
    """The n rows of the repeated data, as lists of fields."""
    k = 0
    while n > 0:
        take = rows[:n]
        if k == 0:
            yield from take
        else:
            days = timedelta(days=k * SHIFT_DAYS)
            dates: dict[str, str] = {}
            customers: dict[str, str] = {}
            add = k * 100000
            suffix = f"-{k}"
            for inv, code, desc, qty, date, price, cust, country in take:
                d = dates.get(date)
                if d is None:
                    d = dates[date] = (datetime.strptime(date, "%Y-%m-%d %H:%M:%S") + days).strftime("%Y-%m-%d %H:%M:%S")
                c = customers.get(cust)
                if c is None:
                    c = customers[cust] = f"{float(cust) + add:.1f}" if cust else ""
                yield [inv + suffix, code, desc, qty, d, price, c, country]
        n -= len(take)
        k += 1


def generate(n: int) -> Path:
    """The cached file of n rows, made when missing."""
    out = work_dir() / f"online_retail_{n}.csv.gz"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    rows = source_rows()
    with gzip.open(tmp, "wt", encoding="utf-8", newline="", compresslevel=6) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(copies(rows, n))
    tmp.rename(out)
    return out


if __name__ == "__main__":
    print(generate(int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("ROWS", 10_000_000))))
