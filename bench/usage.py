"""bench/usage.sh: what usage analysis (every call through the gateway counted on the request path
into per-second tallies by route, application, consumer and status, flushed to the dataset
platform-usage every usage.flush_s) costs the gateway's proxied requests: the same wrk load
against three aimass servers that differ only in the usage settings, round by round. See
usage.sh's header."""
from __future__ import annotations

import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import aimass_bench  # noqa: E402
from aimass_bench import Aimass, Meter, machine, tree_cpu_s, wait_quiet  # noqa: E402

BIN = aimass_bench.BIN
DURATION = int(os.environ.get("DURATION", 15))  # seconds of each wrk run
ROUNDS = int(os.environ.get("ROUNDS", 3))
THREADS = int(os.environ.get("THREADS", 2))  # wrk, as bench/gateway.sh
CONNECTIONS = int(os.environ.get("CONNECTIONS", 64))
WARMUP = int(os.environ.get("WARMUP", 3))  # seconds of wrk on each server before the rounds (not measured)
KINDS = os.environ.get("KINDS", "token,anonymous").split(",")
TRIES = int(os.environ.get("TRIES", 3))  # attempts at a round's runs of one kind (see RETRY_CORES)
RETRY_CORES = float(os.environ.get("RETRY_CORES", 0.4))  # others above this in one run: the round's runs again
CONTROL = os.environ.get("CONTROL", "") == "1"  # a second usage-off server: the A/A noise beside the differences
QUIET_WAIT_S = float(os.environ.get("QUIET_WAIT_S", 300))  # before each timed run, at most this long
QUIET_CORES = float(os.environ.get("QUIET_CORES", 0.3))
UPSTREAM = os.environ["UPSTREAM"]  # http://127.0.0.1:PORT, nginx answering a 1 KB body (usage.sh)
NGINX_PID = int(os.environ["NGINX_PID"])
RUN_DIR = Path(os.environ["RUN_DIR"])
GOAL = 5.0  # % of throughput at most
APPLICATION = "bench-app"

# name, --set arguments, flush period (s; None: off)
CONFIGS = [("usage-off", ["--set", "usage.enabled=false"], None),
           ("usage-on-60s", [], 60),  # the defaults: usage.enabled=true, usage.flush_s=60
           ("usage-on-5s", ["--set", "usage.flush_s=5"], 5)]
if CONTROL:
    CONFIGS.append(("usage-off-b", ["--set", "usage.enabled=false"], None))
KIND_DESC = {"token": "auth platform, a login token (consumer: the user admin)",
             "apikey": "auth platform, a platform API key of admin (consumer: admin)",
             "anonymous": "anonymous (no consumer)"}


def progress(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def route_name(kind: str, rnd) -> str:
    return f"{kind}-warm" if rnd == "warm" else f"{kind}-r{rnd}"


def start_server(name: str, extra: list[str]) -> Aimass:
    """One server as the other benchmarks start it (bench/aimass_bench.py), its pid written for
    usage.sh's trap; then the upstream and the routes: one per kind and round (so that each run's
    calls are counted apart: its own route, GET /api/v1/usage/series?by=route) and one for the
    warm-up, every route of the same application."""
    work = RUN_DIR / name
    work.mkdir(parents=True, exist_ok=True)
    srv = Aimass.__new__(Aimass)
    try:
        srv.__init__(work, extra_args=["--set", "auth.token_ttl_s=86400", *extra])
    except BaseException:
        if getattr(srv, "proc", None):
            srv.proc.kill()
            srv.proc.wait()
            sys.stderr.write((work / "aimass.log").read_text(errors="replace")[-3000:])
        raise
    (work / "aimass.pid").write_text(str(srv.proc.pid))
    srv.call("POST", "/api/v1/gateway/upstreams", {"name": "backend", "targets": [{"url": UPSTREAM}]})
    for kind in KINDS:
        for r in ["warm", *range(1, ROUNDS + 1)]:
            n = route_name(kind, r)
            spec = {"name": n, "paths": [f"/{n}"], "upstream": "backend", "application": APPLICATION}
            if kind == "anonymous":
                spec["anonymous"] = True  # else auth: the default, ["platform"]
            srv.call("POST", "/api/v1/gateway/routes", spec)
    srv.credential = {"token": srv.token, "anonymous": ""}
    if "apikey" in KINDS:
        srv.credential["apikey"] = srv.call("POST", "/api/v1/apikeys", {"name": "bench"})["key"]
    return srv


def wrk(url: str, token: str, seconds: int) -> dict:
    p = subprocess.run(["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s",
                        "-s", "bench/gateway_request.lua", url], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, TOKEN=token, DELAY_MS=""))
    m = re.search(r"^WRK (.*)$", p.stdout, re.M)
    if not m:
        sys.exit(f"wrk gave no result for {url}:\n{p.stdout}\n{p.stderr}")
    v = {k: float(x) for k, x in (f.split("=") for f in m.group(1).split())}
    if v["errors"] or v["non2xx"]:
        sys.exit(f"wrk against {url}: errors: {m.group(1)}")
    return v


def series_calls(srv: Aimass, route: str, since: str) -> int:
    q = urllib.parse.urlencode({"by": "route", "value": route, "step_s": 60, "from": since})
    s = srv.call("GET", f"/api/v1/usage/series?{q}")["series"]
    return sum(x["total"]["calls"] for x in s)


def med(xs):
    return statistics.median(xs)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # usage.sh's trap: stop the servers on the way out
    if not Path(BIN).exists():
        sys.exit(f"no aimass binary at {BIN} (AIMASS_BIN=...)")
    for k in KINDS:
        if k not in KIND_DESC:
            sys.exit(f"KINDS: {k} is not one of {', '.join(KIND_DESC)}")
    knobs = " ".join(f"{k}={os.environ[k]}" for k in ("AIMASS_BIN", "DURATION", "ROUNDS", "THREADS", "CONNECTIONS", "WARMUP",
                                                   "KINDS", "CONTROL", "TRIES", "RETRY_CORES", "QUIET_WAIT_S", "QUIET_CORES", "KEEP") if k in os.environ)
    command = f"{knobs + ' ' if knobs else ''}bench/usage.sh"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    since = (datetime.now(timezone.utc).replace(microsecond=0)).strftime("%Y-%m-%dT%H:%M:%SZ")
    st = os.stat(BIN)
    aimass_desc = (f"{BIN} ({st.st_size / 2**20:.0f} MiB, modified {datetime.fromtimestamp(st.st_mtime, timezone.utc):%Y-%m-%d %H:%M} UTC)")
    wrk_v = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("[")[0].strip()
    nginx_v = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip().replace("nginx version: ", "")
    print(f"command:  {command}")
    print(f"date:     {date}")
    print(f"machine:  {machine()}; kernel {os.uname().release}")
    print(f"aimass:   {aimass_desc}; servers on loopback, log.access=false, scheduler.enabled=false")
    print(f"servers:  " + "; ".join(f"{n}: {' '.join(a) if a else '(defaults: usage.enabled=true, usage.flush_s=60)'}"
                                    for n, a, _ in CONFIGS) + " (all alive throughout, idle but for their own run)")
    print(f"upstream: {nginx_v} answering a fixed 1 KB body ({UPSTREAM}), worker_processes = cores")
    print(f"load:     {wrk_v} -t{THREADS} -c{CONNECTIONS} -d{DURATION}s, GET (bench/gateway_request.lua); {ROUNDS} rounds, "
          f"each round every kind on every server, the servers' order rotated round by round; a {WARMUP} s warm-up per "
          f"server and kind before the rounds")
    print(f"routes:   {', '.join(f'{k}: {KIND_DESC[k]}' for k in KINDS)}; application {APPLICATION}; a route of its own for "
          f"each run (the usage series by route counts it apart)")
    print(f"quiet:    before each run, wait up to {QUIET_WAIT_S:.0f} s for other processes to use under {QUIET_CORES} cores; "
          f"'others' = the cores other processes used during the run (the servers, nginx, wrk and this script excluded); "
          f"a round's runs of a kind again (up to {TRIES} attempts) when others went above {RETRY_CORES} cores in one of them")
    print(f"load avg: {loadavg()} (1, 5, 15 min) at the start", flush=True)

    servers: dict[str, Aimass] = {}
    flush_of = {n: f for n, _, f in CONFIGS}
    runs = []  # dicts: config, kind, round, wrk values, cpu, others
    last_end: dict[str, float] = {}
    discarded = []  # (round, kind, attempt, others' peak) of the attempts run again
    background: dict[str, float] = {}  # server -> its CPU seconds during the other servers' runs
    background_runs: dict[str, int] = {}
    try:
        for name, extra, _ in CONFIGS:
            servers[name] = start_server(name, extra)
            progress(f"{name} up on 127.0.0.1:{servers[name].port} (data dir {servers[name].data_dir})")

        def own() -> float:
            return sum(tree_cpu_s(s.proc.pid) for s in servers.values()) + tree_cpu_s(NGINX_PID)

        # Every route answers the upstream's 1 KB.
        for name, srv in servers.items():
            for kind in KINDS:
                v = wrk(f"{srv.url}/{route_name(kind, 'warm')}", srv.credential[kind], 1)
                if v["requests"] < 1:
                    sys.exit(f"{name}: no answer on {route_name(kind, 'warm')}")
        for name, srv in servers.items():
            for kind in KINDS:
                wrk(f"{srv.url}/{route_name(kind, 'warm')}", srv.credential[kind], WARMUP)
        progress(f"warmed up ({WARMUP} s of wrk per server and kind)")

        names = [n for n, _, _ in CONFIGS]
        sent: dict[tuple[str, str], float] = {}  # (server, route) -> wrk's requests, every attempt
        tries: dict[tuple[str, str], int] = {}  # (server, route) -> wrk runs
        for r in range(1, ROUNDS + 1):
            for kind in KINDS:
                order = names[(r - 1) % len(names):] + names[:(r - 1) % len(names)]
                route = route_name(kind, r)
                # The servers' runs of a round, one after the other; again (up to TRIES times) when
                # other processes took more than RETRY_CORES during one of them: the round's ratios
                # compare runs that saw the same machine. The attempt that was least disturbed is kept.
                best = None
                for attempt in range(1, TRIES + 1):
                    group = []
                    for name in order:
                        srv = servers[name]
                        wait_quiet(f"{name} {kind} round {r}", QUIET_WAIT_S, QUIET_CORES, own, progress)
                        with Meter({n: s.proc.pid for n, s in servers.items()}, own) as m:
                            v = wrk(f"{srv.url}/{route}", srv.credential[kind], DURATION)
                        for n in servers:  # the other servers' CPU meanwhile: their flushes and timers
                            if n != name:
                                background[n] = background.get(n, 0.0) + m.cpu[n]
                                background_runs[n] = background_runs.get(n, 0) + 1
                        last_end[name] = time.monotonic()
                        sent[(name, route)] = sent.get((name, route), 0) + v["requests"]
                        tries[(name, route)] = tries.get((name, route), 0) + 1
                        run = {"config": name, "kind": kind, "round": r, "route": route, "attempt": attempt, **v,
                               "server_cpu": m.cpu[name], "others": m.others, "wall": m.wall}
                        run["cpu_us"] = run["server_cpu"] / v["requests"] * 1e6
                        group.append(run)
                        progress(f"  round {r} {kind:9} {name:13} {v['rps']:9.0f} req/s  p50 {v['p50_us']:5.0f} µs  p99 "
                                 f"{v['p99_us']:6.0f} µs  server CPU {run['cpu_us']:5.1f} µs/request  (others {m.others:.2f} cores)")
                    worst = max(x["others"] for x in group)
                    if best is None or worst < max(x["others"] for x in best):
                        best = group
                    if worst <= RETRY_CORES:
                        break
                    discarded.append((r, kind, attempt, worst))
                    progress(f"  round {r} {kind}: others reached {worst:.2f} cores (> {RETRY_CORES}) in attempt {attempt} of {TRIES}"
                             + ("; again" if attempt < TRIES else "; the least disturbed attempt is kept"))
                runs += best

        # The counts: a flush after each usage-on server's last run, then each run's route.
        wait_until = max((last_end[n] + flush_of[n] + 5 for n in servers if flush_of[n]), default=0)
        if wait_until > time.monotonic():
            progress(f"waiting {wait_until - time.monotonic():.0f} s for the usage-on servers' next flush")
            time.sleep(wait_until - time.monotonic())
        for run in runs:
            srv = servers[run["config"]]
            deadline = time.monotonic() + 30
            while True:
                run["counted"] = series_calls(srv, run["route"], since)
                run["sent"] = sent[(run["config"], run["route"])]
                run["tries"] = tries[(run["config"], run["route"])]
                if not flush_of[run["config"]] or run["counted"] >= run["sent"] or time.monotonic() > deadline:
                    break
                time.sleep(1)
        versions = {}
        for name, srv in servers.items():
            try:  # newest first: the latest version's number is how many were written
                v = srv.call("GET", "/api/v1/datasets/platform-usage/versions?page_size=1")["versions"][0]
                versions[name] = f"{v['version']} (the last {v.get('row_count', '?')} rows)"
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
                versions[name] = "none"
    finally:
        for srv in servers.values():
            try:
                srv.stop()
            except Exception:
                srv.proc.kill()
    print(f"load avg: {loadavg()} (1, 5, 15 min) at the end")

    # ---------------------------------------------------------------- report
    failures = []
    print(f"\nRuns ({DURATION} s each; req/s and latency from wrk; server CPU = the server's CPU time / wrk's requests; "
          f"others = other processes' cores during the run; wrk requests = all of wrk's answers on the run's route, every attempt; "
          f"counted = the usage series' calls for the route):")
    print(f"  {'round':>5} {'kind':9} {'server':13} {'try':>3} {'req/s':>9} {'p50 µs':>7} {'p99 µs':>7} {'CPU µs/req':>10} {'others':>6} "
          f"{'wrk requests':>12} {'counted':>9} {'diff':>5}")
    for x in runs:
        diff = x["counted"] - x["sent"]
        shown = f"{diff:+5.0f}" if flush_of[x["config"]] else f"{'-':>5}"
        print(f"  {x['round']:>5} {x['kind']:9} {x['config']:13} {x['attempt']:>3} {x['rps']:9.0f} {x['p50_us']:7.0f} {x['p99_us']:7.0f} "
              f"{x['cpu_us']:10.1f} {x['others']:6.2f} {x['sent']:12.0f} {x['counted']:9d} {shown}")
        if flush_of[x["config"]]:
            if not 0 <= diff <= CONNECTIONS * x["tries"]:
                failures.append(f"{x['config']} {x['kind']} round {x['round']}: counted {x['counted']} calls, wrk {x['sent']:.0f} "
                                f"over {x['tries']} wrk run(s) (expected between wrk's count and {CONNECTIONS} more per run: requests in flight when "
                                f"wrk stopped)")
        elif x["counted"]:
            failures.append(f"{x['config']} {x['kind']} round {x['round']}: usage off, yet {x['counted']} calls counted")
    print(f"  (diff: calls counted beyond wrk's count, requests in flight when wrk stopped: 0 to {CONNECTIONS} per wrk run on the "
          f"route expected when usage is on; the count 0 when it is off)")
    if discarded:
        print("  attempts run again (others above " + f"{RETRY_CORES} cores in a run): " +
              "; ".join(f"round {r} {k} attempt {a} (others up to {w:.2f})" for r, k, a, w in discarded))
    print("  each server's CPU during the other servers' runs (its flushes and timers, which land in another server's run): " +
          ", ".join(f"{n} {background.get(n, 0):.2f} s over {background_runs.get(n, 0)} runs "
                    f"({background.get(n, 0) / max(1, background_runs.get(n, 0)) / DURATION * 100:.2f}% of a core)" for n in servers))
    print("  platform-usage dataset versions written (flushes with calls): " +
          ", ".join(f"{n} {versions[n]}" for n in servers))

    base = "usage-off"
    summary = []
    for kind in KINDS:
        by = {n: [x for x in runs if x["kind"] == kind and x["config"] == n] for n in servers}
        meds = {n: {k: med([x[k] for x in v]) for k in ("rps", "p50_us", "p99_us", "cpu_us", "others")} for n, v in by.items()}
        print(f"\n{kind} route ({KIND_DESC[kind]}): medians over {ROUNDS} round{'s' if ROUNDS > 1 else ''}")
        print(f"  {'server':13} {'req/s':>9} {'p50 µs':>7} {'p99 µs':>7} {'CPU µs/req':>10} {'others':>6} | {'on/off (rounds)':>30} "
              f"{'median':>7} {'overhead':>9} {'CPU +µs/req':>11}")
        for n in servers:
            mm = meds[n]
            line = f"  {n:13} {mm['rps']:9.0f} {mm['p50_us']:7.0f} {mm['p99_us']:7.0f} {mm['cpu_us']:10.1f} {mm['others']:6.2f} |"
            if n != base:
                ratios = [a["rps"] / b["rps"] for a, b in zip(sorted(by[n], key=lambda x: x["round"]), sorted(by[base], key=lambda x: x["round"]))]
                ratio = med(ratios)
                over = (1 - ratio) * 100
                dcpu = mm["cpu_us"] - meds[base]["cpu_us"]
                line += f" {', '.join(f'{q:.3f}' for q in ratios):>30} {ratio:7.3f} {over:8.1f}% {dcpu:+11.2f}"
                summary.append((kind, n, mm, meds[base], ratios, ratio, over, dcpu))
            print(line)
        print(f"  (on/off: the usage-on server's req/s over the usage-off server's in the same round, then the median of the rounds; "
              f"overhead = 1 - that)")

    print("\nGoal: usage analysis costs under 5% of the gateway's throughput (overhead = 1 - the median of the rounds' on/off ratios):")
    for kind, n, mm, mb, ratios, ratio, over, dcpu in summary:
        if n.startswith("usage-off"):
            print(f"  {kind:9} {n:13} A/A control: {over:+.1f}% (the noise between two identical servers)")
            continue
        print(f"  {kind:9} {n:13} {ratio:.3f}x = {over:+.1f}%  {'met' if over < GOAL else 'NOT MET'}  "
              f"(p50 {mm['p50_us'] - mb['p50_us']:+.0f} µs, p99 {mm['p99_us'] - mb['p99_us']:+.0f} µs, server CPU {dcpu:+.2f} µs/request)")

    # ---------------------------------------------------------------- the block for docs/benchmarks.md
    print("\n" + "=" * 100)
    print("Summary (for docs/benchmarks.md)\n")
    print(f"Command: `{command}`, {date}; {machine()}; load average {loadavg()} at the end.")
    print(f"AI Mass: {aimass_desc}. Upstream {nginx_v} (1 KB body); {wrk_v} -t{THREADS} -c{CONNECTIONS} -d{DURATION}s; "
          f"{ROUNDS} round{'s' if ROUNDS > 1 else ''}, servers rotated; everything on the same cores.\n")
    print("| route | server | req/s | p50 µs | p99 µs | server CPU µs/request | on / off (rounds) | overhead |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in KINDS:
        rows = [s for s in summary if s[0] == kind]
        mb = rows[0][3]
        print(f"| {kind} | {base} | {mb['rps']:,.0f} | {mb['p50_us']:.0f} | {mb['p99_us']:.0f} | {mb['cpu_us']:.1f} | | |")
        for _, n, mm, _, ratios, ratio, over, _ in rows:
            over_s = f"{over:.1f}% (A/A: noise)" if n.startswith("usage-off") else f"**{over:.1f}%**"
            print(f"| {kind} | {n} | {mm['rps']:,.0f} | {mm['p50_us']:.0f} | {mm['p99_us']:.0f} | {mm['cpu_us']:.1f} | "
                  f"{ratio:.3f}x ({', '.join(f'{q:.3f}' for q in ratios)}) | {over_s} |")
    worst = max((s[6] for s in summary if not s[1].startswith("usage-off")), default=0.0)
    print(f"\nGoal < {GOAL:g}% of throughput: {'met' if worst < GOAL else 'NOT MET'} (largest overhead {worst:.1f}%). "
          f"Counted calls = wrk's requests (+0 to {CONNECTIONS} in flight per wrk run) for every usage-on route: "
          f"{'yes' if not failures else 'NO'}.")

    if failures:
        print("\nFAILED:")
        for f in failures:
            print(f"  {f}")
        sys.exit(1)


if __name__ == "__main__":
    main()
