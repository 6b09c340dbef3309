"""bench/llm.sh: language-model serving (issue 39) against the plain PyTorch reference on this
machine, side by side in one run: single-stream decode, 16 concurrent streams, time to first
token of a long prompt, int8 decode, the share of the memory bandwidth decoding uses, and the
greedy tokens checked against the reference. See llm.sh's header."""
from __future__ import annotations

import http.client
import json
import os
import random
import shlex
import signal
import statistics
import struct
import sys
import tarfile
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import aimass_bench  # noqa: E402
import llm_model  # noqa: E402
from aimass_bench import Aimass, Meter, machine, proc_cpu_s  # noqa: E402

BIN = aimass_bench.BIN
REPEAT = int(os.environ.get("REPEAT", 3))
THREADS = int(os.environ.get("THREADS", 2))  # llm.threads and torch.set_num_threads
STREAMS = int(os.environ.get("STREAMS", 16))
MAX_TOKENS = int(os.environ.get("MAX_TOKENS", 128))
PROMPT_TOKENS = int(os.environ.get("PROMPT_TOKENS", 16))
LONG_PROMPT = int(os.environ.get("LONG_PROMPT", 512))
CHECK_TOKENS = int(os.environ.get("CHECK_TOKENS", 32))
KV_CACHE_MB = int(os.environ.get("KV_CACHE_MB", 1024))
BW_REPEAT = int(os.environ.get("BW_REPEAT", 7))
SEED = int(os.environ.get("SEED", 0))  # the weights' generator
WORK = Path(os.environ.get("WORK", "/tmp/aimass-bench-llm"))  # the model's files are kept here between runs
RUN_DIR = os.environ.get("RUN_DIR")  # llm.sh's temporary directory (the server's data), removed on exit
QUIET_WAIT_S = float(os.environ.get("QUIET_WAIT_S", 300))
QUIET_CORES = float(os.environ.get("QUIET_CORES", 0.3))

# The model: ~100M parameters, Llama-shaped.
SHAPE = dict(vocab=16000, hidden=768, intermediate=2048, layers=12, heads=12, kv_heads=4, max_pos=2048, tie=False)
TOKENIZER_VOCAB = 1000  # llm_model.train_tokenizer's; the engine takes a tokenizer smaller than vocab_size
MODEL = "bench-llm"
DEP_F32, DEP_INT8 = "bench-llm-f32", "bench-llm-int8"
CHECK_TOLERANCE = 1e-2  # |AI Mass's logprob of its token - the reference's best logprob|, per step


def progress(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def med(xs):
    return statistics.median(xs)


def fmt_list(xs, f="{:.1f}"):
    return ", ".join(f.format(x) for x in xs)


# ---------------------------------------------------------------- the model (made once, kept in WORK)

def model_dir() -> Path:
    s = SHAPE
    return WORK / (f"model-h{s['hidden']}-i{s['intermediate']}-l{s['layers']}-q{s['heads']}-kv{s['kv_heads']}-"
                   f"v{s['vocab']}-p{s['max_pos']}-seed{SEED}")


def make_model() -> tuple[Path, float]:
    """config.json, model.safetensors (F32), tokenizer.model and model.tar (the three) in WORK;
    made once. Returns the directory and the seconds it took to make or find."""
    t0 = time.perf_counter()
    d = model_dir()
    if (d / "model.tar").exists():
        return d, time.perf_counter() - t0
    progress(f"making {d} (random weights, seed {SEED}; tokenizer of {TOKENIZER_VOCAB} pieces on the Debian FAQ)")
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="making-", dir=WORK))
    tok = llm_model.train_tokenizer(tmp / "tok", vocab_size=TOKENIZER_VOCAB)
    s = SHAPE
    cfg = llm_model.make_config(s["vocab"], s["hidden"], s["intermediate"], s["layers"], s["heads"], s["kv_heads"],
                                s["max_pos"], s["tie"])
    files = llm_model.model_files(cfg, llm_model.random_weights(cfg, SEED), tok)
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    with tarfile.open(tmp / "model.tar.part", "w", format=tarfile.PAX_FORMAT) as tar:
        for name in files:
            tar.add(tmp / name, arcname=name)
    (tmp / "model.tar.part").rename(tmp / "model.tar")
    for p in (tmp / "tok").iterdir():
        p.unlink()
    (tmp / "tok").rmdir()
    tmp.rename(d)
    return d, time.perf_counter() - t0


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The F32 tensors of a safetensors file (as llm_model.safetensors_bytes writes them)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    buf = bytearray(raw[8 + n:])
    del raw
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        if h["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {h['dtype']}, expected F32")
        a, b = h["data_offsets"]
        out[name] = torch.frombuffer(buf, dtype=torch.float32, offset=a, count=(b - a) // 4).view(h["shape"])
    return out


def param_counts(cfg: dict) -> dict:
    h, i, v, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    hd = h // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    per_layer = q * h + 2 * kv * h + h * q + 3 * i * h
    rows_per_layer = q + 2 * kv + h + 2 * i + h  # output rows of q, k, v, o, gate, up, down
    head = 0 if cfg["tie_word_embeddings"] else v * h
    c = {"embed": v * h, "projections": L * per_layer, "lm_head": v * h, "norms": (2 * L + 1) * h,
         "rows": L * rows_per_layer + v}
    c["total"] = c["embed"] + c["projections"] + head + c["norms"]
    # Read once per decode step: every projection and the head (the embedding is a row lookup).
    c["f32_bytes"] = 4 * (c["projections"] + c["lm_head"])
    c["int8_bytes"] = (c["projections"] + c["lm_head"]) + 4 * c["rows"]  # a byte a weight, a float scale a row
    return c


# ---------------------------------------------------------------- AI Mass

def start_server(work: Path) -> Aimass:
    srv = Aimass.__new__(Aimass)
    try:
        srv.__init__(work, extra_args=["--set", "http.max_upload_bytes=17179869184",
                                       "--set", "registry.max_unpacked_bytes=17179869184"])
    except BaseException:
        if getattr(srv, "proc", None):
            rc = srv.proc.poll()
            srv.proc.kill()
            srv.proc.wait()
            sys.stderr.write((work / "aimass.log").read_text(errors="replace")[-3000:])
            sys.stderr.write(f"the server {'exited with ' + str(rc) if rc is not None else 'never answered'} "
                             f"({BIN}; its log above, {work / 'aimass.log'})\n")
        raise
    (work / "aimass.pid").write_text(str(srv.proc.pid))
    return srv


def upload_model(srv: Aimass, tar: Path) -> dict:
    srv.call("POST", "/api/v1/models", {"name": MODEL})
    size = tar.stat().st_size
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=3600)
    with open(tar, "rb") as f:
        conn.request("POST", f"/api/v1/models/{MODEL}/versions?framework=llm", body=f,
                     headers={"Authorization": f"Bearer {srv.token}", "Content-Type": "application/x-tar",
                              "Content-Length": str(size)})
        r = conn.getresponse()
        raw = r.read()
    conn.close()
    if r.status not in (200, 201, 202):
        raise RuntimeError(f"upload of the model: HTTP {r.status}: {raw[:1000]!r}")
    v = json.loads(raw)
    while v.get("status") not in ("ready", "failed"):
        time.sleep(0.1)
        v = srv.call("GET", f"/api/v1/models/{MODEL}/versions/{v['version']}")
    if v["status"] != "ready":
        raise RuntimeError(f"model version: {json.dumps(v)[:2000]}")
    return {"s": time.perf_counter() - t0, "bytes": size, "version": v}


def deploy(srv: Aimass, name: str, int8: bool) -> float:
    t0 = time.perf_counter()
    body = {"name": name, "model": MODEL, "version": 1, "timeout_ms": 600000,
            "llm": {"threads": THREADS, "kv_cache_mb": KV_CACHE_MB, "max_seqs": 64, "int8": int8}}
    try:
        srv.call("POST", "/api/v1/deployments", body)
    except Exception as e:  # urllib's HTTPError carries the answer
        detail = e.read()[:2000] if hasattr(e, "read") else b""
        raise RuntimeError(f"deployment {name}: {e} {detail!r}") from e
    return time.perf_counter() - t0


def completion(port: int, token: str, body: dict, stream: bool) -> dict:
    """One POST /v1/completions on its own connection. A stream's events are timed as they
    arrive: t_send (request sent), t_first (the first token event), t_last (the event with
    finish_reason: the last token's, or right behind it), t_done ([DONE])."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    data = json.dumps({**body, "stream": stream}).encode()
    t_send = time.perf_counter()
    conn.request("POST", "/v1/completions", body=data,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        raw = r.read()
        conn.close()
        raise RuntimeError(f"POST /v1/completions {json.dumps(body)[:300]}: HTTP {r.status}: {raw[:1000]!r}")
    if not stream:
        out = json.loads(r.read())
        conn.close()
        out["t_send"], out["t_done"] = t_send, time.perf_counter()
        return out
    t_first = t_last = t_done = None
    events, text, usage, finish, times = 0, [], None, None, []
    while True:
        line = r.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        now = time.perf_counter()
        payload = line[6:].strip()
        if payload == b"[DONE]":
            t_done = now
            break
        j = json.loads(payload)
        if "error" in j:
            conn.close()
            raise RuntimeError(f"stream error event: {payload[:1000]!r}")
        if not j.get("choices"):
            continue  # the usage-only chunk
        events += 1
        c = j["choices"][0]
        if c.get("finish_reason") is None:
            times.append(now)
        text.append(c.get("text") or "")
        if t_first is None:
            t_first = now
        if c.get("finish_reason") is not None:
            t_last, finish, usage = now, c["finish_reason"], j.get("usage")
    conn.close()
    if t_done is None or usage is None:
        raise RuntimeError(f"stream ended without [DONE] or usage ({events} events)")
    return {"t_send": t_send, "t_first": t_first, "t_last": t_last, "t_done": t_done, "events": events,
            "usage": usage, "finish_reason": finish, "text": "".join(text), "times": times}


def body_of(dep: str, prompt: list[int], max_tokens: int, **kw) -> dict:
    return {"model": dep, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True, **kw}


def quiet(srv: Aimass, what: str) -> float:
    return aimass_bench.wait_quiet(what, QUIET_WAIT_S, QUIET_CORES, own=lambda: proc_cpu_s(srv.proc.pid), say=progress)


def aimass_single(srv: Aimass, dep: str, prompt: list[int], label: str) -> dict:
    quiet(srv, label)
    with Meter({"server": srv.proc.pid}, own=lambda: proc_cpu_s(srv.proc.pid)) as m:
        a = completion(srv.port, srv.token, body_of(dep, prompt, MAX_TOKENS), True)
    n = a["usage"]["completion_tokens"]
    if n != MAX_TOKENS:
        raise RuntimeError(f"{label}: {n} completion tokens, expected {MAX_TOKENS}")
    gaps = sorted((b - c) * 1000 for b, c in zip(a["times"][1:], a["times"]) if b > c)
    return {"tps": (n - 1) / (a["t_last"] - a["t_first"]), "ttft_ms": (a["t_first"] - a["t_send"]) * 1000,
            "events": a["events"], "gap_p50_ms": med(gaps), "gap_max_ms": gaps[-1],
            "wall_s": m.wall, "server_cpu_s": m.cpu["server"], "others": m.others}


def aimass_concurrent(srv: Aimass, dep: str, prompts: list[list[int]], label: str) -> dict:
    quiet(srv, label)
    results, errors = [None] * len(prompts), []
    barrier = threading.Barrier(len(prompts))

    def one(i):
        try:
            barrier.wait()
            results[i] = completion(srv.port, srv.token, body_of(dep, prompts[i], MAX_TOKENS), True)
        except Exception as e:  # reported below
            errors.append(f"stream {i}: {e}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(prompts))]
    with Meter({"server": srv.proc.pid}, own=lambda: proc_cpu_s(srv.proc.pid)) as m:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise RuntimeError(f"{label}: " + "; ".join(errors[:4]))
    tokens = sum(r["usage"]["completion_tokens"] for r in results)
    if tokens != MAX_TOKENS * len(prompts):
        raise RuntimeError(f"{label}: {tokens} tokens, expected {MAX_TOKENS * len(prompts)}")
    wall = max(r["t_done"] for r in results) - min(r["t_send"] for r in results)
    return {"tps": tokens / wall, "wall_s": wall, "tokens": tokens,
            "ttft_ms": med([(r["t_first"] - r["t_send"]) * 1000 for r in results]),
            "per_stream_tps": med([(r["usage"]["completion_tokens"] - 1) / (r["t_last"] - r["t_first"]) for r in results]),
            "server_cpu_s": m.cpu["server"], "others": m.others}


def aimass_ttft(srv: Aimass, dep: str, prompt: list[int], label: str) -> dict:
    quiet(srv, label)
    with Meter({"server": srv.proc.pid}, own=lambda: proc_cpu_s(srv.proc.pid)) as m:
        a = completion(srv.port, srv.token, body_of(dep, prompt, 1), True)
    if a["usage"]["prompt_tokens"] != len(prompt):
        raise RuntimeError(f"{label}: usage {a['usage']}")
    return {"ms": (a["t_first"] - a["t_send"]) * 1000, "server_cpu_s": m.cpu["server"], "others": m.others}


# ---------------------------------------------------------------- the reference (PyTorch)

def ref_single(ref, prompt: list[int], label: str, srv: Aimass) -> dict:
    quiet(srv, label)
    with Meter({"server": srv.proc.pid}, own=lambda: proc_cpu_s(srv.proc.pid)) as m:
        logits, cache = ref.forward(torch.tensor([prompt]))
        tok = int(torch.argmax(logits[0, -1]))
        t0 = time.perf_counter()
        for _ in range(MAX_TOKENS - 1):
            logits, cache = ref.forward(torch.tensor([[tok]]), cache)
            tok = int(torch.argmax(logits[0, -1]))
        t1 = time.perf_counter()
    return {"tps": (MAX_TOKENS - 1) / (t1 - t0), "ms_per_token": (t1 - t0) * 1000 / (MAX_TOKENS - 1),
            "prefill_ms": (t0 - m.t0) * 1000, "cpu_s": m.self_cpu, "server_cpu_s": m.cpu["server"], "others": m.others}


def ref_batch(ref, prompts: list[list[int]], label: str, srv: Aimass) -> dict:
    """Static batching: the prompts (all of one length) as one batch, prefill then MAX_TOKENS - 1
    decode steps with the cache: MAX_TOKENS tokens a prompt."""
    quiet(srv, label)
    with Meter({"server": srv.proc.pid}, own=lambda: proc_cpu_s(srv.proc.pid)) as m:
        logits, cache = ref.forward(torch.tensor(prompts))
        toks = torch.argmax(logits[:, -1], dim=-1)
        t0 = time.perf_counter()
        for _ in range(MAX_TOKENS - 1):
            logits, cache = ref.forward(toks[:, None], cache)
            toks = torch.argmax(logits[:, -1], dim=-1)
    tokens = len(prompts) * MAX_TOKENS
    return {"tps": tokens / m.wall, "wall_s": m.wall, "prefill_ms": (t0 - m.t0) * 1000,
            "decode_tps": len(prompts) * (MAX_TOKENS - 1) / (m.t0 + m.wall - t0), "cpu_s": m.self_cpu,
            "server_cpu_s": m.cpu["server"], "others": m.others}


def ref_prefill(ref, prompt: list[int], label: str, srv: Aimass) -> dict:
    quiet(srv, label)
    with Meter({"server": srv.proc.pid}, own=lambda: proc_cpu_s(srv.proc.pid)) as m:
        logits, _ = ref.forward(torch.tensor([prompt]))
        int(torch.argmax(logits[0, -1]))
    return {"ms": m.wall * 1000, "cpu_s": m.self_cpu, "server_cpu_s": m.cpu["server"], "others": m.others}


def read_bandwidth(srv: Aimass) -> dict:
    """Read bandwidth on THREADS threads (torch, THREADS intra-op threads), two ways over one
    1 GiB float32 tensor, BW_REPEAT times each after one untimed pass, GB/s (1e9 bytes): its sum
    (torch's reduction, which can be bound by its own arithmetic) and a matrix-vector product
    with it as a 16384 x 16384 matrix (torch.mv: BLAS sgemv, a decode step's access pattern).
    The measured bandwidth is the best run of either: the fractions are of the higher."""
    x = torch.ones(2**28, dtype=torch.float32)  # 1 GiB, touched
    w, v = x.view(2**14, 2**14), torch.ones(2**14)
    float(x.sum())
    torch.mv(w, v)
    quiet(srv, "the bandwidth measure")
    runs = {"sum": [], "mv": []}
    with Meter({"server": srv.proc.pid}, own=lambda: proc_cpu_s(srv.proc.pid)) as m:
        for _ in range(BW_REPEAT):
            for kind, f in (("sum", lambda: float(x.sum())), ("mv", lambda: float(torch.mv(w, v)[0]))):
                t0 = time.perf_counter()
                s = f()
                runs[kind].append(x.numel() * 4 / (time.perf_counter() - t0) / 1e9)
                if s != 2**28 and s != 2**14:
                    raise RuntimeError(f"{kind} of ones: {s}")
    del x, w, v
    best = {k: max(r) for k, r in runs.items()}
    return {"runs": runs, "best_of": best, "median_of": {k: med(r) for k, r in runs.items()},
            "best": max(best.values()), "how": max(best, key=best.get), "others": m.others}


# ---------------------------------------------------------------- correctness

def check_tokens(srv: Aimass, ref, sp, prompt: list[int]) -> dict:
    """AI Mass's greedy answer (not streamed, temperature 0, prompt as token ids, logprobs 5)
    against Reference.greedy. The API names tokens by their text, and the tokenizer has fewer
    pieces than vocab_size (ids past it have no text), so each step's token is checked by its
    text and by its log-probability: AI Mass's chosen token's logprob must be the reference's best
    within CHECK_TOLERANCE and within half the reference's margin between its best and second best
    token at that step (so that any other token would show), and the text equal the reference's
    decoded."""
    a = completion(srv.port, srv.token, body_of(DEP_F32, prompt, CHECK_TOKENS, logprobs=5), False)
    want, lps = ref.greedy(prompt, CHECK_TOKENS)
    choice = a["choices"][0]
    got_text, got_lps = choice["logprobs"]["tokens"], choice["logprobs"]["token_logprobs"]
    n_pieces = sp.get_piece_size()

    def text_of(t):
        return sp.id_to_piece(t).replace("\u2581", " ") if t < n_pieces else ""

    diffs, margins, bad = [], [], []
    for step, (t, lp) in enumerate(zip(want, lps)):
        top2 = torch.topk(lp, 2).values
        margins.append(float(top2[0] - top2[1]))
        if step >= len(got_lps):
            bad.append(f"step {step}: no token from AI Mass")
            continue
        d = abs(got_lps[step] - float(lp.max()))
        diffs.append(d)
        # Another token would have shown as a logprob at least this step's margin below the best.
        if got_text[step] != text_of(t) or d > min(CHECK_TOLERANCE, margins[-1] / 2):
            bad.append(f"step {step}: AI Mass {got_text[step]!r} logprob {got_lps[step]:.5f}, reference id {t} "
                       f"{text_of(t)!r} logprob {float(lp.max()):.5f}")
    want_text = sp.decode([t for t in want if t < n_pieces])
    if choice["text"] != want_text:
        bad.append(f"text {choice['text']!r} against the reference's {want_text!r}")
    if a["usage"]["completion_tokens"] != CHECK_TOKENS:
        bad.append(f"usage {a['usage']}")
    return {"equal": not bad, "bad": bad, "max_diff": max(diffs) if diffs else float("nan"), "min_margin": min(margins),
            "want": want, "in_tokenizer": sum(t < n_pieces for t in want)}


# ---------------------------------------------------------------- main

def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # llm.sh's trap: stop the server on the way out
    if not Path(BIN).exists():
        sys.exit(f"no aimass binary at {BIN} (AIMASS_BIN=...)")
    if REPEAT < 1:
        sys.exit("REPEAT is at least 1")
    torch.set_num_threads(THREADS)
    import sentencepiece as spm
    knobs = " ".join(f"{k}={os.environ[k]}" for k in ("AIMASS_BIN", "REPEAT", "THREADS", "STREAMS", "MAX_TOKENS", "PROMPT_TOKENS",
                                                   "LONG_PROMPT", "CHECK_TOKENS", "KV_CACHE_MB", "BW_REPEAT", "SEED", "WORK",
                                                   "KEEP", "QUIET_WAIT_S", "QUIET_CORES") if k in os.environ)
    command = f"{knobs + ' ' if knobs else ''}bench/llm.sh {shlex.join(sys.argv[1:])}".rstrip()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    st = os.stat(BIN)
    aimass_desc = (f"{BIN} ({st.st_size / 2**20:.0f} MiB, modified {datetime.fromtimestamp(st.st_mtime, timezone.utc):%Y-%m-%d %H:%M} UTC), "
                   f"llm.threads={THREADS}, kv_cache_mb={KV_CACHE_MB}, max_seqs=64")
    blas = next((f.split("=", 1)[1] for f in torch.__config__.show().replace(",", " ").split() if f.startswith("BLAS_INFO=")), "?")
    peer_desc = (f"/usr/bin/python3 {sys.version.split()[0]}, torch {torch.__version__} (set_num_threads({THREADS}), BLAS_INFO={blas}), "
                 f"tests/e2e/llm_model.py's Reference (float32, batched, KV cache by torch.cat)")
    print(f"command:  {command}")
    print(f"date:     {date}")
    print(f"machine:  {machine()}")
    print(f"aimass:   {aimass_desc}")
    print(f"peer:     {peer_desc}")
    print(f"runs:     {REPEAT} of each measure on each side, round by round (each side once a round); medians")
    print(f"load avg: {loadavg()} (1, 5, 15 min) at the start", flush=True)

    d, made_s = make_model()
    cfg = json.loads((d / "config.json").read_text())
    counts = param_counts(cfg)
    sp = spm.SentencePieceProcessor(model_file=str(d / "tokenizer.model"))
    weights = read_safetensors(d / "model.safetensors")
    got = sum(t.numel() for t in weights.values())
    if got != counts["total"]:
        sys.exit(f"the safetensors hold {got:,} parameters, the config implies {counts['total']:,}")
    ref = llm_model.Reference(cfg, weights)
    print(f"model:    {d} ({(d / 'model.safetensors').stat().st_size / 1e6:.0f} MB of F32 safetensors; {made_s:.1f} s to make or "
          f"find)\n          Llama: hidden {cfg['hidden_size']}, intermediate {cfg['intermediate_size']}, {cfg['num_hidden_layers']} "
          f"layers, {cfg['num_attention_heads']} heads, {cfg['num_key_value_heads']} KV heads, vocab_size {cfg['vocab_size']} "
          f"(tokenizer {sp.get_piece_size()} pieces), max_position_embeddings {cfg['max_position_embeddings']}, untied, "
          f"random weights (seed {SEED})")
    print(f"params:   {counts['total']:,} in all = embedding {counts['embed']:,} + projections {counts['projections']:,} + "
          f"lm_head {counts['lm_head']:,} + norms {counts['norms']:,}")
    print(f"per token: F32 {counts['f32_bytes'] / 1e6:.1f} MB of weights read (4 x (projections + lm_head)); int8 "
          f"{counts['int8_bytes'] / 1e6:.1f} MB (a byte a weight + 4 bytes a row's scale, {counts['rows']:,} rows)", flush=True)

    rng = random.Random(1234)

    def prompt(n):  # BOS, then ids of the tokenizer's ordinary pieces
        return [1] + [rng.randrange(3, sp.get_piece_size()) for _ in range(n - 1)]

    single_prompt = prompt(PROMPT_TOKENS)
    check_prompt = prompt(PROMPT_TOKENS)
    batch_prompts = [prompt(PROMPT_TOKENS) for _ in range(STREAMS)]
    long_prompt = prompt(LONG_PROMPT)

    work = Path(RUN_DIR) if RUN_DIR else Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    srv = start_server(work)
    try:
        progress(f"server up on 127.0.0.1:{srv.port} (data dir {srv.data_dir}); uploading {d / 'model.tar'}")
        up = upload_model(srv, d / "model.tar")
        dep_f32_s = deploy(srv, DEP_F32, False)
        dep_int8_s = deploy(srv, DEP_INT8, True)
        print(f"\nupload and deploy (not in any ratio): {up['bytes'] / 1e6:.0f} MB tar ready in {up['s']:.1f} s; deployment "
              f"F32 {dep_f32_s:.1f} s, int8 {dep_int8_s:.1f} s", flush=True)
        # Warm-up: the weights paged in, every path once.
        for dep in (DEP_F32, DEP_INT8):
            completion(srv.port, srv.token, body_of(dep, single_prompt, 8), True)
        completion(srv.port, srv.token, body_of(DEP_F32, long_prompt, 1), True)
        ref.forward(torch.tensor([single_prompt]))

        progress("correctness: AI Mass's greedy tokens against the reference's")
        check = check_tokens(srv, ref, sp, check_prompt)
        progress(f"  {'equal' if check['equal'] else 'DIFFERENT'} (largest logprob difference {check['max_diff']:.2e}, "
                 f"the reference's smallest margin {check['min_margin']:.3f})")

        bw = read_bandwidth(srv)
        progress(f"  read bandwidth: sum {fmt_list(bw['runs']['sum'])} GB/s; mv {fmt_list(bw['runs']['mv'])} GB/s")

        r = {k: [] for k in ("a", "a_ref", "d", "b", "b_ref", "c", "c_ref")}
        for i in range(REPEAT):
            tag = f"round {i + 1}/{REPEAT}"
            x = aimass_single(srv, DEP_F32, single_prompt, f"(a) AI Mass {tag}")
            r["a"].append(x)
            progress(f"(a) AI Mass F32 single stream {tag}: {x['tps']:.2f} tok/s (first token {x['ttft_ms']:.0f} ms, "
                     f"{x['events']} events, gaps median {x['gap_p50_ms']:.1f} ms, largest {x['gap_max_ms']:.1f} ms; "
                     f"server CPU {x['server_cpu_s']:.1f} s; others {x['others']:.2f} cores)")
            x = ref_single(ref, single_prompt, f"(a) PyTorch {tag}", srv)
            r["a_ref"].append(x)
            progress(f"(a) PyTorch single stream {tag}: {x['tps']:.2f} tok/s ({x['ms_per_token']:.1f} ms a token; "
                     f"others {x['others']:.2f} cores)")
            x = aimass_single(srv, DEP_INT8, single_prompt, f"(d) AI Mass int8 {tag}")
            r["d"].append(x)
            progress(f"(d) AI Mass int8 single stream {tag}: {x['tps']:.2f} tok/s (gaps median {x['gap_p50_ms']:.1f} ms; "
                     f"server CPU {x['server_cpu_s']:.1f} s; others {x['others']:.2f} cores)")
            x = aimass_concurrent(srv, DEP_F32, batch_prompts, f"(b) AI Mass {tag}")
            r["b"].append(x)
            progress(f"(b) AI Mass {STREAMS} streams {tag}: {x['tps']:.1f} tok/s ({x['tokens']} tokens in {x['wall_s']:.2f} s; "
                     f"median first token {x['ttft_ms']:.0f} ms; others {x['others']:.2f} cores)")
            x = ref_batch(ref, batch_prompts, f"(b) PyTorch {tag}", srv)
            r["b_ref"].append(x)
            progress(f"(b) PyTorch batch of {STREAMS} {tag}: {x['tps']:.1f} tok/s ({x['wall_s']:.2f} s; others "
                     f"{x['others']:.2f} cores)")
            x = aimass_ttft(srv, DEP_F32, long_prompt, f"(c) AI Mass {tag}")
            r["c"].append(x)
            progress(f"(c) AI Mass first token of {LONG_PROMPT} tokens {tag}: {x['ms']:.0f} ms (others {x['others']:.2f} cores)")
            x = ref_prefill(ref, long_prompt, f"(c) PyTorch {tag}", srv)
            r["c_ref"].append(x)
            progress(f"(c) PyTorch forward of {LONG_PROMPT} tokens {tag}: {x['ms']:.0f} ms (others {x['others']:.2f} cores)")
        metrics = srv.call("GET", f"/api/v1/deployments/{DEP_F32}/metrics?window_s=3600")
    except BaseException:
        log = work / "aimass.log"
        if log.exists():
            sys.stderr.write(f"--- the end of {log}:\n" + log.read_text(errors="replace")[-4000:] + "\n")
        raise
    finally:
        srv.stop()
    print(f"load avg: {loadavg()} (1, 5, 15 min) at the end")

    m = {k: med([x["tps"] for x in r[k]]) for k in ("a", "a_ref", "d", "b", "b_ref")}
    m["c"], m["c_ref"] = med([x["ms"] for x in r["c"]]), med([x["ms"] for x in r["c_ref"]])
    ratio_a, ratio_b, ratio_c = m["a"] / m["a_ref"], m["b"] / m["b_ref"], m["c_ref"] / m["c"]
    ratio_d = m["d"] / m["a_ref"]
    bwg = bw["best"]
    used = {"a": counts["f32_bytes"] * m["a"] / 1e9, "a_ref": counts["f32_bytes"] * m["a_ref"] / 1e9,
            "d": counts["int8_bytes"] * m["d"] / 1e9}
    frac = {k: v / bwg for k, v in used.items()}
    llm_metrics = next((v.get("llm") for v in metrics.get("versions", []) if v.get("llm")), None)

    def others(k):
        return med([x["others"] for x in r[k]])

    print(f"\nCorrectness: AI Mass's greedy tokens (prompt of {PROMPT_TOKENS} token ids, max_tokens {CHECK_TOKENS}, temperature 0, "
          f"not streamed, logprobs 5) against Reference.greedy: {'equal' if check['equal'] else 'DIFFERENT'}")
    print(f"   checked by each token's text (ids past the tokenizer's {sp.get_piece_size()} pieces have none: "
          f"{CHECK_TOKENS - check['in_tokenizer']} of the {CHECK_TOKENS}) and its logprob against the reference's best: "
          f"largest difference {check['max_diff']:.2e} (allowed: {CHECK_TOLERANCE:g} and half the step's margin); the "
          f"reference's smallest margin between its best and second token {check['min_margin']:.3f}")
    print(f"   reference tokens: {check['want']}")
    for b in check["bad"][:10]:
        print(f"   {b}")

    print(f"\nMemory bandwidth (read), torch on {THREADS} threads over a 1 GiB float32 tensor, {BW_REPEAT} runs each after one "
          f"untimed:\n   its sum: best {bw['best_of']['sum']:.1f} GB/s, median {bw['median_of']['sum']:.1f} "
          f"({fmt_list(bw['runs']['sum'])});\n   torch.mv with it as a 16384 x 16384 matrix (sgemv): best {bw['best_of']['mv']:.1f} "
          f"GB/s, median {bw['median_of']['mv']:.1f} ({fmt_list(bw['runs']['mv'])})\n   (others {bw['others']:.2f} cores); the "
          f"fractions below are of the best of all: {bw['best']:.1f} GB/s ({bw['how']})")

    print(f"\n   {'':<58} {'AI Mass':>10} {'PyTorch':>10} {'AI Mass/PyTorch':>16}")
    print(f"   {'(a) decode, one stream, tok/s':<58} {m['a']:>10.2f} {m['a_ref']:>10.2f} {ratio_a:>15.2f}x")
    print(f"   {f'(b) {STREAMS} streams, aggregate tok/s':<58} {m['b']:>10.1f} {m['b_ref']:>10.1f} {ratio_b:>15.2f}x")
    print(f"   {f'(c) first token of {LONG_PROMPT} tokens, ms (PyTorch: forward)':<58} {m['c']:>10.0f} {m['c_ref']:>10.0f} "
          f"{ratio_c:>15.2f}x (PyTorch's time / ours)")
    print(f"   {'(d) decode, one stream, int8 (PyTorch: F32), tok/s':<58} {m['d']:>10.2f} {m['a_ref']:>10.2f} {ratio_d:>15.2f}x")
    print(f"   {'bandwidth used by (a), GB/s (fraction of measured)':<58} {used['a']:>5.1f} ({frac['a'] * 100:.0f}%) "
          f"{used['a_ref']:>5.1f} ({frac['a_ref'] * 100:.0f}%)")
    print(f"   {'bandwidth used by (d) int8, GB/s (fraction)':<58} {used['d']:>5.1f} ({frac['d'] * 100:.0f}%)")
    print(f"   runs, tok/s: (a) {fmt_list([x['tps'] for x in r['a']], '{:.2f}')}; PyTorch {fmt_list([x['tps'] for x in r['a_ref']], '{:.2f}')}; "
          f"(d) {fmt_list([x['tps'] for x in r['d']], '{:.2f}')}")
    print(f"   runs: (b) {fmt_list([x['tps'] for x in r['b']])} tok/s; PyTorch {fmt_list([x['tps'] for x in r['b_ref']])} tok/s; "
          f"(c) {fmt_list([x['ms'] for x in r['c']], '{:.0f}')} ms; PyTorch {fmt_list([x['ms'] for x in r['c_ref']], '{:.0f}')} ms")
    print(f"   (a) AI Mass: first token of the 16-token prompt {med([x['ttft_ms'] for x in r['a']]):.0f} ms, "
          f"{med([x['events'] for x in r['a']]):.0f} events for {MAX_TOKENS} tokens, gap between token events median "
          f"{med([x['gap_p50_ms'] for x in r['a']]):.1f} ms (int8 {med([x['gap_p50_ms'] for x in r['d']]):.1f} ms); server CPU "
          f"{fmt_list([x['server_cpu_s'] for x in r['a']])} s a run; PyTorch prefill {med([x['prefill_ms'] for x in r['a_ref']]):.0f} ms")
    print(f"   (b) AI Mass: median first token {med([x['ttft_ms'] for x in r['b']]):.0f} ms, median per-stream decode "
          f"{med([x['per_stream_tps'] for x in r['b']]):.2f} tok/s; PyTorch: prefill of the batch "
          f"{med([x['prefill_ms'] for x in r['b_ref']]):.0f} ms, decode alone {med([x['decode_tps'] for x in r['b_ref']]):.1f} tok/s")
    print(f"   (c) prompt tokens/s: AI Mass {LONG_PROMPT / m['c'] * 1000:.0f}, PyTorch {LONG_PROMPT / m['c_ref'] * 1000:.0f} "
          f"(the reference's forward also takes the head over all {LONG_PROMPT} positions and the full, masked, attention)")
    print(f"   others (other processes' cores, the server's excluded, median; AI Mass / PyTorch): (a) {others('a'):.2f} / "
          f"{others('a_ref'):.2f}, (b) {others('b'):.2f} / {others('b_ref'):.2f}, (c) {others('c'):.2f} / {others('c_ref'):.2f}, "
          f"(d) {others('d'):.2f}; the idle server's CPU during the PyTorch runs: (a) "
          f"{med([x['server_cpu_s'] for x in r['a_ref']]):.2f} s, (b) {med([x['server_cpu_s'] for x in r['b_ref']]):.2f} s, "
          f"(c) {med([x['server_cpu_s'] for x in r['c_ref']]):.2f} s")
    if llm_metrics:
        print(f"   the F32 deployment's own metrics over the run: {json.dumps(llm_metrics)}")

    goals = [("(a) decode >= 2x PyTorch", ratio_a >= 2.0, f"{ratio_a:.2f}x"),
             ("(b) 16 streams >= 4x PyTorch's batch", ratio_b >= 4.0, f"{ratio_b:.2f}x"),
             ("(a) bandwidth fraction >= 50%", frac["a"] >= 0.5, f"{frac['a'] * 100:.0f}%")]
    print("\nGoals: " + "; ".join(f"{g} {'met' if ok else 'NOT MET'} ({v})" for g, ok, v in goals))

    # ---- the block for docs/benchmarks.md
    print("\n" + "=" * 100)
    print("Summary (for docs/benchmarks.md)\n")
    print(f"Command: `{command}`, {date}; {machine()}; load average {loadavg()} at the end.")
    print(f"AI Mass: {aimass_desc}. Peer: {peer_desc}.")
    print(f"Model: Llama-shaped, {counts['total'] / 1e6:.1f}M parameters (hidden {cfg['hidden_size']}, intermediate "
          f"{cfg['intermediate_size']}, {cfg['num_hidden_layers']} layers, {cfg['num_attention_heads']} heads, "
          f"{cfg['num_key_value_heads']} KV heads, vocab {cfg['vocab_size']}, untied), random F32 weights; "
          f"{counts['f32_bytes'] / 1e6:.0f} MB of weights a decode step (int8: {counts['int8_bytes'] / 1e6:.0f} MB). "
          f"Greedy tokens equal to the reference's: {'yes' if check['equal'] else 'NO'} ({CHECK_TOKENS} tokens, largest "
          f"logprob difference {check['max_diff']:.1e}).\n")
    print(f"Medians of {REPEAT}; {THREADS} threads each side; read bandwidth {bw['best']:.1f} GB/s (torch on 1 GiB of float32, the best "
          f"of {BW_REPEAT} sums and {BW_REPEAT} matrix-vector products: {bw['how']}; sum's best {bw['best_of']['sum']:.1f} GB/s).\n")
    print("| | AI Mass | PyTorch (Reference) | AI Mass / PyTorch |")
    print("|---|---|---|---|")
    print(f"| (a) decode, 1 stream, {PROMPT_TOKENS}-token prompt, {MAX_TOKENS} tokens (tok/s) | {m['a']:.2f} | {m['a_ref']:.2f} | "
          f"**{ratio_a:.2f}x** |")
    print(f"| (b) {STREAMS} concurrent streams, aggregate (tok/s) | {m['b']:.1f} | {m['b_ref']:.1f} (static batch of {STREAMS}) | "
          f"**{ratio_b:.2f}x** |")
    print(f"| (c) first token, {LONG_PROMPT}-token prompt (ms) | {m['c']:.0f} | {m['c_ref']:.0f} (forward pass) | "
          f"{ratio_c:.2f}x (PyTorch's time / ours) |")
    print(f"| (d) decode, 1 stream, int8 (tok/s) | {m['d']:.2f} | {m['a_ref']:.2f} (F32) | {ratio_d:.2f}x |")
    print(f"| bandwidth used by decode (F32) | {used['a']:.1f} GB/s = **{frac['a'] * 100:.0f}%** | {used['a_ref']:.1f} GB/s = "
          f"{frac['a_ref'] * 100:.0f}% | |")
    print(f"| bandwidth used by decode (int8) | {used['d']:.1f} GB/s = {frac['d'] * 100:.0f}% | | |")
    print("\nGoals: " + "; ".join(f"{g}: {'met' if ok else 'NOT MET'} ({v})" for g, ok, v in goals) + ".")

    if not check["equal"]:
        print("\nFAILED: AI Mass's greedy tokens differ from the reference's")
        sys.exit(1)


if __name__ == "__main__":
    main()
