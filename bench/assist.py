"""bench/assist.sh: an AI Mass bot on CLINC150 (quality, training time, each classifier kind and
a TF-IDF + logistic regression baseline side by side), then message latency and throughput, then
spoken messages."""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "e2e"))
from aimass_bench import Aimass  # noqa: E402
from datasets_helpers import shared_data  # noqa: E402

LATENCY_MESSAGES = int(os.environ.get("LATENCY_MESSAGES", 2000))
CONNECTIONS = int(os.environ.get("CONNECTIONS", 16))
KINDS = os.environ.get("KINDS", "1") == "1"  # 0: only the default bot (no per-kind bots, no baseline)
SECONDS = int(os.environ.get("SECONDS", 20))
VOICE_MESSAGES = int(os.environ.get("VOICE_MESSAGES", 200))  # 0: no voice measurement


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def measure(got, test):
    ins = [(g, i) for g, (_, i) in zip(got, test) if i != "oos"]
    oos = [g for g, (_, i) in zip(got, test) if i == "oos"]
    return 100 * sum(g == i for g, i in ins) / len(ins), 100 * sum(g == "out_of_scope" for g in oos) / len(oos)


def train_bot(a, name, intents, training=None):
    body = {"name": name, "language": "en", "intents": intents}
    if training:
        body["training"] = training
    a.call("POST", "/api/v1/assist/bots", body)
    t = time.perf_counter()
    a.call("POST", f"/api/v1/assist/bots/{name}/train", {})
    while True:
        b = a.call("GET", f"/api/v1/assist/bots/{name}")
        if b["state"] == "failed":
            raise SystemExit(f"training {name} failed: {b.get('error')}")
        if b["state"] == "trained" and b.get("serving_version") == b.get("trained_version"):
            return b, time.perf_counter() - t
        time.sleep(0.5)


def main():
    import test_assist  # the baseline, as the e2e test computes it
    data = json.load(open(shared_data("clinc150/data_full.json")))
    examples = {}
    for part in ("train", "val", "oos_train", "oos_val"):
        for text, intent in data[part]:
            examples.setdefault("out_of_scope" if intent == "oos" else intent, []).append(text)
    intents = [{"name": k, "examples": v} for k, v in examples.items()]
    test = data["test"] + data["oos_test"]
    texts = [t for t, _ in test]
    work = Path(tempfile.mkdtemp(prefix="assist-bench-"))
    a = Aimass(work)
    try:
        print(f"CLINC150: {sum(len(v) for v in examples.values())} training examples, {len(test)} test messages")
        print(f"{'model':<28} {'in-scope %':>10} {'oos recall %':>12} {'train s':>8}")
        rows = []
        bots = [("clinc", None), ("clinc-linear", {"kinds": ["linear"]}), ("clinc-fasttext", {"kinds": ["fasttext"]})]
        for name, training in bots if KINDS else bots[:1]:
            b, seconds = train_bot(a, name, intents, training)
            got = [p["intent"] for p in a.call("POST", f"/api/v1/assist/bots/{name}/predict", {"texts": texts})["predictions"]]
            acc, rec = measure(got, test)
            label = f"{name} (kept {b['evaluation']['kind']})"
            rows.append((label, acc, rec, seconds))
            print(f"{label:<28} {acc:>10.2f} {rec:>12.2f} {seconds:>8.1f}", flush=True)
            if name == "clinc":
                for k in b["evaluation"]["kinds"]:
                    print(f"  cross-validated {k['kind']:<10} in-scope {100 * k['in_scope_accuracy']:.2f} "
                          f"oos recall {100 * k['out_of_scope_recall']:.2f} threshold {k['threshold']:.3f}")
        t = time.perf_counter()
        base = [] if not KINDS else test_assist.tfidf_logistic_baseline([x for v in examples.values() for x in v],
                                                   [k for k, v in examples.items() for _ in v], texts)
        if base:
            acc, rec = measure(base, test)
            print(f"{'TF-IDF + logistic (torch)':<28} {acc:>10.2f} {rec:>12.2f} {time.perf_counter() - t:>8.1f}")
        print("published (Larson et al. 2019, oos-train): fastText 89.0 / 9.7, MLP 93.5 / 47.4, BERT 96.9 / 40.3")

        # (b) Latency: one client, one message after another, conversations of five turns.
        lat = []
        for i in range(LATENCY_MESSAGES):
            t = time.perf_counter()
            a.call("POST", "/api/v1/assist/bots/clinc/messages",
                   {"conversation_id": f"lat-{i // 5}", "text": texts[(i * 7) % len(texts)]})
            lat.append((time.perf_counter() - t) * 1000)
        print(f"latency over {LATENCY_MESSAGES} messages: p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms "
              f"(goal p99 < 10 ms)")
        # Throughput: wrk, CONNECTIONS connections, new conversations every five messages.
        texts_file = work / "texts.txt"
        texts_file.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n")
        env = dict(os.environ, TOKEN=a.token, BOT="clinc", TEXTS_FILE=str(texts_file), CONVERSATION_TURNS="5")
        out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", "bench/assist_message.lua",
                              a.url], env=env, capture_output=True, text=True, check=True).stdout
        line = next((l for l in out.splitlines() if l.startswith("WRK ")), None)
        if line is None:
            raise SystemExit("wrk printed no result:\n" + out)
        print(f"throughput ({CONNECTIONS} connections, {SECONDS} s): {line} (goal 1000 messages/s)")

        # (c) Voice: in-scope test messages said by espeak-ng (US English, 16 kHz), sent as WAV.
        if VOICE_MESSAGES:
            said = [(t, i) for t, i in data["test"]][::max(1, len(data["test"]) // VOICE_MESSAGES)][:VOICE_MESSAGES]
            wavs = [test_assist.spoken(t) for t, _ in said]
            def words(text):
                return " ".join(re.findall(r"[a-z']+", text.lower()))

            def hear(n):
                """The answer to message n, or None when nothing the bot expects was heard (422)."""
                try:
                    return a.call("POST", f"/api/v1/assist/bots/clinc/messages/audio?conversation_id=voice-{n}",
                                  data=wavs[n], headers={"Content-Type": "audio/wav"})
                except urllib.error.HTTPError as e:
                    if e.code != 422:
                        raise
                    return None
            t = time.perf_counter()
            answers = [hear(0)]
            first_ms = (time.perf_counter() - t) * 1000
            lat = []
            for n in range(1, len(wavs)):
                t = time.perf_counter()
                answers.append(hear(n))
                lat.append((time.perf_counter() - t) * 1000)
            by_voice = [r["intent"]["name"] if r else "(not heard)" for r in answers]
            exact = [bool(r) and r["transcript"]["text"] == words(t) for r, (t, _) in zip(answers, said)]
            by_text = [p["intent"] for p in a.call("POST", "/api/v1/assist/bots/clinc/predict",
                                                   {"texts": [t for t, _ in said]})["predictions"]]
            n = len(said)
            print(f"voice, {n} in-scope test messages said by espeak-ng: intent accuracy "
                  f"{100 * sum(v == i for v, (_, i) in zip(by_voice, said)) / n:.1f}% by voice, "
                  f"{100 * sum(v == i for v, (_, i) in zip(by_text, said)) / n:.1f}% by text; transcripts word for word "
                  f"{100 * sum(exact) / n:.1f}%, nothing heard {sum(r is None for r in answers)}; latency p50 {percentile(lat, 50):.0f} ms, p99 {percentile(lat, 99):.0f} ms "
                  f"(first message, with the grammar and decoder made: {first_ms:.0f} ms)")
    finally:
        a.stop()


if __name__ == "__main__":
    main()
