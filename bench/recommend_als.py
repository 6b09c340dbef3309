"""The peer of bench/recommend.sh: src/recsys/als.cpp's implicit ALS written again with Debian's
python3-numpy (OpenBLAS), trained on the cleaned UCI Online Retail purchases before the split the
e2e test evaluates with, and its NDCG@10 on what the customers bought from then on.

The algorithm is the C++ one step for step: confidence c = 1 + alpha·log1p(w) of a user-item
pair's summed weight w (each purchase line weighs 1); factors drawn from N(0, 0.01²); each of
`iterations` sweeps moves every user's row, then every item's, `cg_steps` conjugate-gradient
steps towards the solution of (YᵀY + λI + Σ (c−1) y yᵀ) x = Σ c y, warm-started from where the
row is (stopping a row early when its residual's squared norm is at most 1e-20); float32
throughout. Only the random numbers differ (numpy's generator, not std::mt19937_64).

Vectorised across rows: the rows are taken in blocks of about 4,096 entries, and a block's rows
run their CG steps in lockstep (each row's arithmetic is its own, as in a loop over rows): the
block's entries' item factors gathered once per sweep (so they stay in cache), the sparse sums
Σ (c−1)(y·p) y as entry-wise dots and a segment sum over the CSR row pointers (np.add.reduceat),
(YᵀY + λI)·p as one BLAS product for the block. The blocks are shared out to THREADS threads
(numpy lets go of the GIL inside its loops), as the C++ shares rows out to the job's threads;
BLAS itself runs on one thread (OMP_NUM_THREADS=1: its products here are 64 × 64, and OpenBLAS's
OpenMP threads spinning beside the block threads only slow them). `--loop` runs instead a Python
loop over rows with numpy inside, the way `implicit`'s pure-Python CG is written
(least_squares_cg in implicit/cpu/als.py, its solver with use_native=False), for comparison (one
thread). The sparse matrices are CSR arrays (indptr, indices, data) built with numpy:
python3-scipy cannot be installed beside the build's libboost1.81-dev (python3-scipy →
python3-pythran → libboost-dev, i.e. Boost 1.74, which conflicts with it); scipy.sparse's CSR
would be these same three arrays, and the algorithm needs nothing else from it.

Scoring: each test user by its trained factors (the platform folds users in instead: also given,
each user's factors solved exactly from the newest 500 items of their history against the
trained item factors, as src/recsys/recommender.cpp does), every item with feedback before the
split a candidate, consumed items not excluded; the truth is what users known before the split
bought from then on among those items.

  /usr/bin/python3 bench/recommend_als.py [--loop] [--seeds N] [--json]      (THREADS=<all cores>)
prints one line (train seconds and NDCG@10 by trained and by folded-in user factors: with
--seeds N > 1 the median time, the mean NDCGs and their ranges over N random starts), or with
--json one JSON object of each training's numbers.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

THREADS = int(os.environ.get("THREADS", os.cpu_count()))
if __name__ == "__main__":
    os.environ["OMP_NUM_THREADS"] = "1"  # read by OpenBLAS's OpenMP when numpy loads it, just below
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from online_retail import SPLIT_MS, purchases  # noqa: E402  (the e2e test's data, cleaned the same way)

# src/recsys/als.hpp's AlsOptions defaults.
FACTORS, ITERATIONS, REGULARIZATION, ALPHA, CG_STEPS = 64, 15, 0.1, 10.0, 3


# --- CSR -------------------------------------------------------------------------------------

class Csr:
    """Compressed sparse rows: row r's columns are indices[indptr[r]:indptr[r+1]] (sorted)."""

    def __init__(self, rows, cols, indptr, indices, data):
        self.shape = (rows, cols)
        self.indptr, self.indices, self.data = indptr, indices, data

    @staticmethod
    def from_pairs(rows, cols, r, c, w, ts=None):
        """Duplicate (r, c) pairs summed, as src/recsys/events.cpp's UserItemMatrix does (and, with
        `ts`, each entry's newest time as .last)."""
        key = r.astype(np.int64) * cols + c
        uniq, inv = np.unique(key, return_inverse=True)
        data = np.bincount(inv, weights=w, minlength=len(uniq)).astype(np.float32)
        rr, cc = uniq // cols, uniq % cols
        indptr = np.zeros(rows + 1, np.int64)
        np.cumsum(np.bincount(rr, minlength=rows), out=indptr[1:])
        out = Csr(rows, cols, indptr, cc.astype(np.int32), data)
        if ts is not None:
            out.last = np.zeros(len(uniq), np.int64)
            np.maximum.at(out.last, inv, ts)
        return out

    def transposed(self):
        rows, cols = self.shape
        r = np.repeat(np.arange(rows, dtype=np.int32), np.diff(self.indptr))
        order = np.lexsort((r, self.indices))  # by column, then row
        indptr = np.zeros(cols + 1, np.int64)
        np.cumsum(np.bincount(self.indices, minlength=cols), out=indptr[1:])
        return Csr(cols, rows, indptr, r[order], self.data[order])


# --- ALS -------------------------------------------------------------------------------------

def confidence(w, alpha):
    return (1 + alpha * np.log1p(np.maximum(w, 0))).astype(np.float32)


BLOCK_NNZ = 4096  # entries per block of rows: the block's gathered item factors stay in cache


def blocks_of(m: Csr, block_nnz=BLOCK_NNZ):
    """Consecutive rows of `m` in blocks of about `block_nnz` entries (at least one row each):
    (first row, end row, first entry, end entry, each entry's row in the block, the block's
    non-empty rows, where their entries start)."""
    counts = np.diff(m.indptr)
    out, lo, n = [], 0, m.shape[0]
    while lo < n:
        hi = min(max(int(np.searchsorted(m.indptr, m.indptr[lo] + block_nnz, side="right")) - 1, lo + 1), n)
        a0, a1 = int(m.indptr[lo]), int(m.indptr[hi])
        cnt = counts[lo:hi]
        nonempty = np.flatnonzero(cnt)
        out.append((lo, hi, a0, a1, np.repeat(np.arange(hi - lo), cnt), nonempty, m.indptr[lo:hi][nonempty] - a0))
        lo = hi
    return out


def sweep(m: Csr, blocks, c_all, other: np.ndarray, x: np.ndarray, reg, cg_steps, pool=None):
    """Every row of `m` (factors `x`, changed in place) `cg_steps` CG steps: a block of rows at a
    time (blocks shared out to `pool`'s threads: numpy lets go of the GIL in its loops), the
    block's rows in lockstep."""
    f = other.shape[1]
    a = other.T @ other
    a[np.diag_indices(f)] += np.float32(reg)

    def block(b):
        lo, hi, a0, a1, row_of, nonempty, starts = b
        xb = x[lo:hi]  # a view: the rows move in place
        y = np.take(other, m.indices[a0:a1], axis=0)  # the block's entries' factors, entry by entry
        y_t = np.ascontiguousarray(y.T)  # and factor by factor, for the sums over each row's entries
        c = c_all[a0:a1]
        cm1 = c - 1
        scratch = np.empty_like(y_t)

        def row_sums(coef):
            """Σ_k coef_k y_k over each row's entries (zero for a row without any)."""
            out = np.zeros_like(xb)
            if len(starts):
                np.multiply(y_t, coef, out=scratch)
                out[nonempty] = np.add.reduceat(scratch, starts, axis=1).T
            return out

        def dots(v):
            """y_k · v_row(k) for each entry k."""
            return np.einsum("ij,ij->i", y, v[row_of])

        r = row_sums(c - cm1 * dots(xb)) - xb @ a
        p = r.copy()
        rs = np.einsum("ij,ij->i", r, r)
        for _ in range(cg_steps):
            active = rs > 1e-20
            if not active.any():
                break
            ap = p @ a + row_sums(cm1 * dots(p))
            step = np.zeros_like(rs)
            np.divide(rs, np.einsum("ij,ij->i", p, ap), out=step, where=active)
            xb += step[:, None] * p
            r -= step[:, None] * ap
            nxt = np.einsum("ij,ij->i", r, r)
            beta = np.zeros_like(rs)
            np.divide(nxt, rs, out=beta, where=active)
            p = np.where(active[:, None], r + beta[:, None] * p, p)
            rs = np.where(active, nxt, rs)

    if pool is None:
        for b in blocks:
            block(b)
    else:
        list(pool.map(block, blocks))


def sweep_loop(m: Csr, blocks, c_all, other: np.ndarray, x: np.ndarray, reg, cg_steps, pool=None):
    """The same sweep as a Python loop over rows with numpy inside (implicit's pure-Python CG)."""
    f = other.shape[1]
    a = other.T @ other
    a[np.diag_indices(f)] += np.float32(reg)
    for u in range(m.shape[0]):
        lo, hi = m.indptr[u], m.indptr[u + 1]
        y = other[m.indices[lo:hi]]
        c = c_all[lo:hi]
        xu = x[u]
        r = (c - (c - 1) * (y @ xu)) @ y - a @ xu
        p = r.copy()
        rs = r @ r
        for _ in range(cg_steps):
            if rs <= 1e-20:
                break
            ap = a @ p + ((c - 1) * (y @ p)) @ y
            step = rs / (p @ ap)
            xu += step * p
            r -= step * ap
            nxt = r @ r
            p = r + (nxt / rs) * p
            rs = nxt


def train_als(user_items: Csr, factors=FACTORS, iterations=ITERATIONS, reg=REGULARIZATION, alpha=ALPHA,
              cg_steps=CG_STEPS, seed=42, loop=False, threads=1):
    """(user factors, item factors), as TrainAls: random init, then users and items in turn."""
    rng = np.random.default_rng(seed)
    users = rng.normal(0, 0.01, (user_items.shape[0], factors)).astype(np.float32)
    items = rng.normal(0, 0.01, (user_items.shape[1], factors)).astype(np.float32)
    item_users = user_items.transposed()
    plans = [(m, blocks_of(m), confidence(m.data, alpha)) for m in (user_items, item_users)]
    fn = sweep_loop if loop else sweep
    with ThreadPoolExecutor(threads) if threads > 1 and not loop else nullcontext() as pool:
        for _ in range(iterations):
            fn(*plans[0], items, users, reg, cg_steps, pool)
            fn(*plans[1], users, items, reg, cg_steps, pool)
    return users, items


# --- the split and NDCG ------------------------------------------------------------------------

def split_matrix(rows, split_ms=SPLIT_MS):
    """The pre-split users × items matrix, numbered as the platform's training step numbers the
    feedback export (every user and item of the log, in the order first seen: users and items
    with nothing before the split are empty rows and columns), and the truth after the split."""
    users, items = {}, {}
    for u, i, _, _ in rows:
        users.setdefault(u, len(users))
        items.setdefault(i, len(items))
    before = [(users[u], items[i], ts) for u, i, ts, _ in rows if ts < split_ms]
    r = np.array([b[0] for b in before], np.int64)
    c = np.array([b[1] for b in before], np.int64)
    m = Csr.from_pairs(len(users), len(items), r, c, np.ones(len(before)), np.array([b[2] for b in before], np.int64))
    known_items = np.bincount(c, minlength=len(items)) > 0
    known_users = np.diff(m.indptr) > 0
    truth = {}
    for u, i, ts, _ in rows:
        uu, ii = users[u], items[i]
        if ts >= split_ms and known_users[uu] and known_items[ii]:
            truth.setdefault(uu, set()).add(ii)
    return m, known_items, truth


def fold_in(m: Csr, item_f, who, reg=REGULARIZATION, alpha=ALPHA, max_history=500):
    """The users' factors solved exactly against fixed item factors from their histories, as the
    platform scores a user (src/recsys/als.cpp's FoldInAls on the newest 500 items of a history,
    recommender.cpp's kMaxHistory): (YᵀY + λI + Σ (c−1) y yᵀ) x = Σ c y."""
    f = item_f.shape[1]
    gram = item_f.T @ item_f
    gram[np.diag_indices(f)] += np.float32(reg)
    out = np.zeros((len(who), f), np.float32)
    for k, u in enumerate(who):
        lo, hi = m.indptr[u], m.indptr[u + 1]
        sel = np.arange(lo, hi)
        if len(sel) > max_history:
            sel = sel[np.argsort(-m.last[lo:hi], kind="stable")[:max_history]]
        y = item_f[m.indices[sel]]
        c = confidence(m.data[sel], alpha)
        out[k] = np.linalg.solve(gram + (y * (c - 1)[:, None]).T @ y, c @ y)
    return out


def ndcg_at(user_f, item_f, known_items, truth, k=10):
    """Mean NDCG@k over the truth's users (user_f: one row each, in the order of their numbers),
    scoring every known item by uᵀv."""
    who = np.array(sorted(truth), np.int64)
    scores = user_f @ item_f.T
    scores[:, ~known_items] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, 1)
    total = 0.0
    for row, u in zip(top, who):
        t = truth[u]
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(row) if i in t)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(t))))
        total += dcg / idcg
    return total / len(who), len(who)


def run(rows, loop=False, threads=THREADS, seeds=1):
    """The numpy ALS on the pre-split data, trained `seeds` times (random starts 42, 43, …):
    {users, items, pairs, test_users, threads, loop, seconds: each training's, ndcg and
    ndcg_fold_in: each one's NDCG@10 by trained and by folded-in user factors}. A training's
    seconds are the training alone, as the platform's seconds.als: the transpose, the random
    start and the sweeps, not the matrix's making."""
    m, known_items, truth = split_matrix(rows)
    who = np.array(sorted(truth), np.int64)
    out = {"users": m.shape[0], "items": m.shape[1], "pairs": len(m.indices), "test_users": len(who),
           "threads": 1 if loop else threads, "loop": loop, "seconds": [], "ndcg": [], "ndcg_fold_in": []}
    for seed in range(42, 42 + seeds):
        t = time.perf_counter()
        users, items = train_als(m, seed=seed, loop=loop, threads=out["threads"])
        out["seconds"].append(time.perf_counter() - t)
        out["ndcg"].append(ndcg_at(users[who], items, known_items, truth)[0])
        out["ndcg_fold_in"].append(ndcg_at(fold_in(m, items, who), items, known_items, truth)[0])
    return out


def spread(xs, digits=4, middle=None):
    """"x" for one value, else "x (min-max)", x the mean (or `middle`)."""
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    x = middle(xs) if middle else sum(xs) / len(xs)
    return f"{x:.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loop", action="store_true", help="a Python loop over rows (implicit's pure-Python CG)")
    ap.add_argument("--seeds", type=int, default=1, help="train this many times from different random starts")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args()
    rows, _ = purchases()
    r = run(rows, loop=args.loop, seeds=args.seeds)
    if args.json:
        print(json.dumps(r))
        return
    how = "a Python loop over rows" if args.loop else f"blocks of rows, {r['threads']} threads"
    print(f"ALS numpy ({how}): users {r['users']} items {r['items']} pairs {r['pairs']}, {len(r['seconds'])} trainings: "
          f"train median {spread(r['seconds'], 2, statistics.median)} s, NDCG@10 mean {spread(r['ndcg'])} by the "
          f"trained user factors, {spread(r['ndcg_fold_in'])} by users folded in (test users {r['test_users']})")


if __name__ == "__main__":
    main()
