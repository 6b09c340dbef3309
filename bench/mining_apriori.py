"""Apriori (Agrawal and Srikant, 1994) as the textbook writes it, in plain Python, the peer of
the analysis module's FP-growth in bench/mining.sh: frequent itemsets level by level.

- Level 1: every item counted over the baskets; frequent = count >= min_count.
- Level k: candidates joined from two frequent (k-1)-itemsets that share their first k-2 items
  (itemsets kept as sorted tuples), then pruned: a candidate stays only when every one of its
  (k-1)-subsets is frequent (the Apriori property).
- Support counting: one pass over the baskets (frozensets). Each basket is first cut to the
  items that are still in some frequent (k-1)-itemset (no other item can be in a frequent
  k-itemset) and skipped when fewer than k remain; then, as the paper's subset function does,
  its k-subsets are looked up among the candidates when that is the shorter way, else each
  candidate is tested for inclusion in it (candidate <= basket).

Standard library only. Run alone it prints one JSON object:
  python3 bench/mining_apriori.py MIN_SUPPORT   (the Online Retail invoices, cleaned as the tests clean them)
"""
from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from itertools import combinations
from math import ceil, comb


def min_count_of(min_support: float, n: int) -> int:
    """The least count of a frequent itemset: count >= min_support x n (as the platform rounds)."""
    return max(1, ceil(min_support * n - 1e-9))


def apriori(baskets: list[frozenset], min_support: float) -> dict:
    """Every frequent itemset of `baskets` with its count: {tuple of sorted items: count}, and the
    number at each level."""
    n = len(baskets)
    min_count = min_count_of(min_support, n)

    # Level 1.
    counts: dict = defaultdict(int)
    for b in baskets:
        for item in b:
            counts[item] += 1
    level = {(item,): c for item, c in counts.items() if c >= min_count}
    frequent = dict(level)
    per_level = [len(level)]

    k = 2
    while level:
        candidates = generate(sorted(level), k)
        if not candidates:
            break
        # The items a frequent k-itemset can hold: those of the frequent (k-1)-itemsets.
        alive = frozenset(item for s in level for item in s)
        counted = dict.fromkeys(candidates, 0)
        cand_sets = [(frozenset(c), c) for c in candidates]
        for b in baskets:
            t = b & alive
            if len(t) < k:
                continue
            if comb(len(t), k) <= len(cand_sets):
                for sub in combinations(sorted(t), k):  # the basket's k-subsets, as sorted tuples
                    if sub in counted:
                        counted[sub] += 1
            else:
                for cs, c in cand_sets:
                    if cs <= t:
                        counted[c] += 1
        level = {c: v for c, v in counted.items() if v >= min_count}
        frequent.update(level)
        if level:
            per_level.append(len(level))
        k += 1
    return {"itemsets": frequent, "per_level": per_level, "min_count": min_count, "transactions": n}


def generate(prev: list[tuple], k: int) -> list[tuple]:
    """Candidates of size k from the sorted frequent (k-1)-itemsets: the join (two itemsets equal
    but for their last item) and the prune (every (k-1)-subset frequent)."""
    prev_set = set(prev)
    out = []
    # The sorted list groups the itemsets with the same first k-2 items together.
    i = 0
    while i < len(prev):
        j = i
        while j < len(prev) and prev[j][:-1] == prev[i][:-1]:
            j += 1
        for a in range(i, j):
            for b in range(a + 1, j):
                c = prev[a] + (prev[b][-1],)  # prev[a][-1] < prev[b][-1]: c is sorted
                # Prune: the subsets without each of the first k-2 items (the two without the
                # last items are prev[a] and prev[b], frequent).
                if all(c[:m] + c[m + 1:] in prev_set for m in range(k - 2)):
                    out.append(c)
        i = j
    return out


def baskets_of(rows) -> list[frozenset]:
    """The invoices of the purchases (customer, stock code, Unix ms, invoice), each a set of stock
    codes (an item bought twice on one invoice counts once)."""
    by_invoice: dict = defaultdict(set)
    for _, code, _, inv in rows:
        by_invoice[inv].add(code)
    return [frozenset(b) for b in by_invoice.values()]


def online_retail_rows():
    """The purchases cleaned as the tests clean them (tests/e2e/online_retail.py)."""
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
    from online_retail import purchases
    return purchases()[0]


if __name__ == "__main__":
    ms = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01
    bs = baskets_of(online_retail_rows())
    t0 = time.perf_counter()
    r = apriori(bs, ms)
    s = time.perf_counter() - t0
    print(json.dumps({"min_support": ms, "transactions": r["transactions"], "min_count": r["min_count"],
                      "itemsets": len(r["itemsets"]), "per_level": r["per_level"], "seconds": s}))
