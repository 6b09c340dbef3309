"""Fixture for bench/registry.sh: MODELS models x VERSIONS versions, written in one transaction
into a stopped server's metadata store (schema made by the server itself)."""
import json
import random
import sqlite3
import sys
import time

db, models, versions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
tasks = ["image-classification", "text-classification", "ner", "summarization", "recommendation",
         "tabular-regression", "embedding", "other"]
tags = ["nlp", "vision", "demo", "prod", "finance", "retail", "speech", "tabular"]
frameworks = ["torchscript", "onnx", "xgboost"]
start = time.time()
con = sqlite3.connect(db)
with con:
    now = int(time.time())
    for m in range(models):
        name = f"model-{m:05d}"
        con.execute("INSERT INTO registry_models (name, description, task, owner, tags, card, created_at, updated_at)"
                    " VALUES (?, ?, ?, 'admin', ?, '{}', ?, ?)",
                    (name, f"# {name}\nA {rng.choice(tasks)} model trained on {rng.choice(tags)} data.",
                     rng.choice(tasks), json.dumps(rng.sample(tags, 2)), now, now))
        mid = con.execute("SELECT last_insert_rowid()").fetchone()[0]
        rows = []
        for v in range(1, versions + 1):
            metrics = {"accuracy": round(rng.random(), 4), "f1": round(rng.random(), 4)}
            created = now - rng.randint(0, 400 * 86400)
            rows.append((mid, v, rng.choice(frameworks), "sha256:" + f"{rng.getrandbits(256):064x}", 1000,
                         json.dumps(metrics), "ready", created))
        con.executemany("INSERT INTO registry_versions (model_id, version, framework, digest, size, metrics,"
                        " status, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'admin', ?)", rows)
print(f"loaded {models} models, {models * versions} versions in {time.time() - start:.1f} s")
