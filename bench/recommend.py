"""bench/recommend.sh: UCI Online Retail loaded through the API into a recommender app, its
implicit ALS against the same ALS in numpy (time and NDCG@10 on the same pre-split matrix), then
recommendations through the API at a constant rate and flat out, and how soon new feedback
changes a user's next recommendations."""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from aimass_bench import Aimass  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from online_retail import SPLIT, product_kind, purchases  # noqa: E402

RATE = int(os.environ.get("RATE", 1000))
SECONDS = int(os.environ.get("SECONDS", 20))
CONNECTIONS = int(os.environ.get("CONNECTIONS", 32))
FRESH_USERS = int(os.environ.get("FRESH_USERS", 50))
ORDERS = int(os.environ.get("ORDERS", 3))  # evaluations of the platform's ALS (random starts)
SEEDS = int(os.environ.get("SEEDS", 5))  # trainings of the numpy ALS (random starts)
LOOP = os.environ.get("LOOP", "1") == "1"  # 0: no numpy run with a Python loop over rows
APP = "retail"


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def wait(what, fn, timeout=1800):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        got = fn()
        if got is not None:
            return got
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def load(a, app, rows, titles):
    """The e2e test's fixture: the app, its catalogue, then every purchase (sessions are invoices)."""
    a.call("POST", "/api/v1/recommend/apps", {"name": app, "feedback_types": {"purchase": 1}, "exclude_consumed": False})
    items = [{"id": code, "categories": [product_kind(t)], "properties": {"title": t}} for code, t in titles.items()]
    for at in range(0, len(items), 5000):
        a.call("POST", f"/api/v1/recommend/apps/{app}/items", {"items": items[at:at + 5000]})
    t = time.perf_counter()
    for at in range(0, len(rows), 10000):
        batch = [{"user": u, "item": i, "type": "purchase", "timestamp": ts, "session": inv}
                 for u, i, ts, inv in rows[at:at + 10000]]
        a.call("POST", f"/api/v1/recommend/apps/{app}/feedback", {"feedback": batch})
    seconds = time.perf_counter() - t
    got = a.call("GET", f"/api/v1/recommend/apps/{app}")
    assert got["counts"]["feedback"] == len(rows) and got["counts"]["items"] == len(titles), got["counts"]
    return seconds


def evaluate(a, app):
    e = a.call("POST", f"/api/v1/recommend/apps/{app}/evaluate", {"split_at": SPLIT, "k": 10})

    def done():
        got = a.call("GET", f"/api/v1/recommend/apps/{app}/evaluations/{e['id']}")
        return got if got["state"] != "running" else None
    t = time.perf_counter()
    e = wait("the evaluation", done)
    if e["state"] != "succeeded":
        raise SystemExit(f"the evaluation failed: {e.get('error')}")
    return e["result"], time.perf_counter() - t


def numpy_als(seeds, loop=False):
    """The peer in a process of its own: BLAS on one thread there, THREADS block threads."""
    out = subprocess.run([sys.executable, "bench/recommend_als.py", "--json", f"--seeds={seeds}", *(["--loop"] if loop else [])],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def spread(xs, digits=4, middle=statistics.mean):
    """"x" for one value, else "x (min-max)", x the mean (or `middle`)."""
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    return f"{middle(xs):.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(a, users_file, rate, threads, connections, seconds):
    """bench/recommend_request.lua's WRK (and PACE) lines as dicts, with the server's CPU time per
    request (its CPU seconds over the run: what the answers cost however busy the machine is)."""
    env = dict(os.environ, TOKEN=a.token, APP=APP, USERS_FILE=str(users_file), RATE=str(rate), THREADS=str(threads), N="10")
    cpu = cpu_seconds(a.proc.pid)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                          "bench/recommend_request.lua", a.url], env=env, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(a.proc.pid) - cpu
    lines = {l.split()[0]: dict(kv.split("=") for kv in l.split()[1:])
             for l in out.splitlines() if l.startswith(("WRK ", "PACE "))}
    if "WRK" not in lines:
        raise SystemExit("wrk printed no result:\n" + out)
    lines["WRK"]["cpu_ms"] = 1000 * cpu / max(1, int(lines["WRK"]["requests"]))
    return lines


def fmt_wrk(w):
    return (f"{float(w['rps']):.0f} requests/s, p50 {int(w['p50_us']) / 1000:.2f} ms, p99 {int(w['p99_us']) / 1000:.2f} ms "
            f"({w['requests']} requests, errors {w['errors']}, non-2xx {w['non2xx']}; server CPU {w['cpu_ms']:.2f} ms a request)")


def ids(rec):
    return [i["id"] for i in rec["items"]]


def main():
    rows, titles = purchases()
    work = Path(tempfile.mkdtemp(prefix="recommend-bench-"))
    a = Aimass(work)
    ok = False
    try:
        print(f"machine: {os.cpu_count()} CPUs; ORDERS={ORDERS} SEEDS={SEEDS} LOOP={int(LOOP)} RATE={RATE} "
              f"SECONDS={SECONDS} CONNECTIONS={CONNECTIONS} FRESH_USERS={FRESH_USERS}; load average {os.getloadavg()[0]:.2f}")
        customers = Counter(r[0] for r in rows)
        seconds = load(a, APP, rows, titles)
        print(f"Online Retail: {len(rows)} purchases of {len(customers)} customers, {len(titles)} items; "
              f"feedback loaded through the API at {len(rows) / seconds:.0f}/s (batches of 10,000)", flush=True)

        # (a) ALS: the platform's (the evaluation's seconds.als: ALS alone on the feedback before the
        # split) against numpy's, on the same matrix; NDCG@10 of both on the time split. Both start
        # from random factors (seed 42 of std::mt19937_64 in the platform, drawn in the order users
        # and items are first seen): the platform's other random starts are the same purchases
        # loaded into apps of their own in other orders.
        ours_s, ours_ndcg = [], []
        for k in range(ORDERS):
            app = APP if k == 0 else f"{APP}-order{k}"
            if k:
                shuffled = rows[:]
                random.Random(k).shuffle(shuffled)
                load(a, app, shuffled, titles)
            result, eval_seconds = evaluate(a, app)
            model = result["model"]
            table = {r["name"]: r for r in result["algorithms"]}
            if k == 0:
                run = a.call("GET", f"/api/v1/runs/{result['tracking_run']}")
                params = run.get("data", run).get("params", {})
                if isinstance(params, list):
                    params = {p["key"]: p["value"] for p in params}
                matrix = (model["users"], model["items"], model["pairs"], result["test_users"])
                print(f"evaluation (split {SPLIT}, k 10): {result['train_events']} events before the split, "
                      f"{model['pairs']} user-item pairs, {model['users']} users x {model['items']} items, "
                      f"{result['test_users']} test users; whole evaluation {eval_seconds:.1f} s; ALS {model['als']}, "
                      f"{params.get('threads', '?')} threads; NDCG@10 "
                      + ", ".join(f"{n} {r['ndcg']:.4f}" for n, r in table.items()), flush=True)
            else:
                a.call("DELETE", f"/api/v1/recommend/apps/{app}")
            ours_s.append(model["seconds"]["als"])
            ours_ndcg.append(table["als"]["ndcg"])
            print(f"ALS aimass, {'the CSV order' if k == 0 else f'shuffled order {k}'}: train {ours_s[-1]:.2f} s, "
                  f"NDCG@10 {ours_ndcg[-1]:.4f}", flush=True)
        peer = numpy_als(SEEDS)
        same = (peer["users"], peer["items"], peer["pairs"], peer["test_users"]) == matrix
        print(f"ALS aimass (C++, Eigen, {params.get('threads', '?')} threads), {ORDERS} trainings: train median "
              f"{spread(ours_s, 2, statistics.median)} s, NDCG@10 mean {spread(ours_ndcg)} (users folded in)",
              flush=True)
        print(f"ALS numpy (blocks of rows, {peer['threads']} threads), {SEEDS} trainings: train median "
              f"{spread(peer['seconds'], 2, statistics.median)} s, NDCG@10 mean {spread(peer['ndcg'])} "
              f"by the trained user factors, {spread(peer['ndcg_fold_in'])} by users folded in; same matrix and test "
              f"users: {'yes' if same else 'NO'}", flush=True)
        ours_mean, trained_mean = statistics.mean(ours_ndcg), statistics.mean(peer["ndcg"])
        folded_mean = statistics.mean(peer["ndcg_fold_in"])
        ratio = statistics.median(peer["seconds"]) / statistics.median(ours_s)
        print(f"ALS train time ratio numpy/aimass (medians): {ratio:.2f}x; "
              f"NDCG@10 (means) aimass {ours_mean:.4f}, numpy {trained_mean:.4f} by trained user factors "
              f"({100 * (ours_mean - trained_mean) / trained_mean:+.1f}%), {folded_mean:.4f} by users folded in "
              f"({100 * (ours_mean - folded_mean) / folded_mean:+.1f}%)", flush=True)
        if LOOP:
            slow = numpy_als(1, loop=True)
            print(f"ALS numpy (a Python loop over rows, as implicit's pure-Python CG, 1 thread): "
                  f"train {slow['seconds'][0]:.2f} s, NDCG@10 {slow['ndcg'][0]:.4f}; ratio numpy loop/aimass {slow['seconds'][0] / statistics.median(ours_s):.2f}x",
                  flush=True)

        # (b) The model trained as a pipeline run and served.
        t = time.perf_counter()
        a.call("POST", f"/api/v1/recommend/apps/{APP}/train")

        def trained():
            got = a.call("GET", f"/api/v1/recommend/apps/{APP}")
            if got["state"] == "failed":
                raise SystemExit(f"training failed: {got.get('error')}")
            return got if got["state"] == "trained" else None
        got = wait("the training", trained)
        print(f"trained model version {got['model_version']} in {time.perf_counter() - t:.1f} s (pipeline run, every "
              f"algorithm and the ranker, all {len(rows)} purchases)", flush=True)
        users = [u for u, _ in customers.most_common()]
        users_file = work / "users.txt"
        users_file.write_text("\n".join(users[k * 7919 % len(users)] for k in range(len(users))) + "\n")
        lat = []
        for k in range(500):  # one client, one request after another (and the warm-up)
            t = time.perf_counter()
            r = a.call("GET", f"/api/v1/recommend/apps/{APP}/users/{users[k * 13 % len(users)]}/recommendations?n=10")
            lat.append((time.perf_counter() - t) * 1000)
            assert len(r["items"]) == 10, r
        print(f"recommendations, one client, {len(lat)} requests one after another ({r['algorithm']}): "
              f"p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms", flush=True)
        paced = wrk(a, users_file, RATE, 2, CONNECTIONS, SECONDS)
        pace = paced.get("PACE", {})
        print(f"recommendations at a constant {RATE}/s (wrk, 2 threads, {CONNECTIONS} connections, {SECONDS} s, "
              f"{len(users)} customers in turn): {fmt_wrk(paced['WRK'])}; sent more than 1 ms after their slot "
              f"{pace.get('late')} (by {pace.get('mean_late_ms')} ms on average, at worst {pace.get('worst_late_ms')} ms)",
              flush=True)
        flat = wrk(a, users_file, 0, 2, CONNECTIONS, SECONDS)
        print(f"recommendations flat out (wrk, 2 threads, {CONNECTIONS} connections, {SECONDS} s): {fmt_wrk(flat['WRK'])}",
              flush=True)

        # (c) Feedback to a changed recommendation: fresh users, three purchases of one kind of
        # product (the three most bought items of one of the most common categories each).
        by_cat = defaultdict(list)
        bought = Counter(r[1] for r in rows)
        for code, title in titles.items():
            by_cat[product_kind(title)].append(code)
        cats = sorted((c for c, codes in by_cat.items() if len(codes) >= 3 and c != "other"), key=lambda c: -len(by_cat[c]))
        delays, posts, tries = [], [], []
        for k in range(FRESH_USERS):
            user, cat = f"fresh-{k}", cats[k % len(cats)]
            picks = sorted(by_cat[cat], key=lambda i: -bought[i])[:3]
            before = ids(a.call("GET", f"/api/v1/recommend/apps/{APP}/users/{user}/recommendations?n=10"))
            t = time.perf_counter()
            a.call("POST", f"/api/v1/recommend/apps/{APP}/feedback",
                   {"feedback": [{"user": user, "item": i, "type": "purchase", "session": f"fresh-basket-{k}"} for i in picks]})
            posts.append((time.perf_counter() - t) * 1000)
            for n in range(1, 1001):
                after = a.call("GET", f"/api/v1/recommend/apps/{APP}/users/{user}/recommendations?n=10")
                if ids(after) != before:
                    break
            else:
                raise SystemExit(f"{user}'s recommendations did not change after 1000 requests")
            delays.append((time.perf_counter() - t) * 1000)
            tries.append(n)
        print(f"feedback to changed recommendations, {FRESH_USERS} fresh users, 3 purchases each (POST, then GET until the "
              f"list differs): median {statistics.median(delays):.2f} ms, p99 {percentile(delays, 99):.2f} ms "
              f"(the POST alone: median {statistics.median(posts):.2f} ms; GETs needed: {dict(Counter(tries))}; "
              f"now {after['algorithm']})")
        print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 minute), {os.getloadavg()[1]:.2f} (5 minutes)")
        ok = True
    finally:
        a.stop()
        if ok:
            shutil.rmtree(work)  # the server's data (~100 MB); kept, with its log, when something failed
        else:
            print(f"the server's data and log: {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
