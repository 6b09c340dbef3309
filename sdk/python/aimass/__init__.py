"""AI Mass Python client, standard library only.

    from aimass import Client
    c = Client("http://127.0.0.1:8080")
    c.login("admin", "secret")                    # or Client(url, token="amk_…")
    c.create_model("fashion-cnn", task="image-classification", tags=["vision"])
    v = c.push("fashion-cnn", "cnn.pt", framework="torchscript", metrics={"accuracy": 0.91})
    c.set_alias("fashion-cnn", "production", v["version"])
    c.pull("fashion-cnn@production", "cnn.pt")    # checks the sha256 before writing
    c.push("bert-ner", "bert-dir/", framework="onnx", entry="model.onnx")  # a directory
    c.pull("bert-ner:1", "bert-out/")             # a directory version, file by file
    c.search("task = 'image-classification' AND metrics.accuracy > 0.9")
    c.create_topic("orders", partitions=4); c.subscribe("billing", "orders")
    c.publish("orders", "hello", key="customer-7")
    for m in c.fetch("billing", max=10, wait_ms=1000): ...; c.ack("billing", [m["id"]])
    c.create_cron("nightly", "30 2 * * *", {"type": "mq", "topic": "orders", "body": "tick"},
                  time_zone="Europe/Berlin", concurrency_policy="Forbid")
    with c.start_run("fashion", params={"lr": 0.01}, system_metrics=True) as run:
        run.log_metrics({"loss": 0.3, "accuracy": 0.9}, step=1)   # batched, sent on flush
    c.search_runs("fashion", filter="params.lr = '0.01' AND metrics.accuracy > 0.8")

Errors from the server raise AimassError with .status, .code, .message and .request_id
(the error model of docs/errors.md).
"""

from __future__ import annotations

import hashlib
import json
import io
import os
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterator

from aimass.tracking import Run

__all__ = ["Client", "AimassError", "Run"]


class AimassError(Exception):
    """An error answer of the server: HTTP status plus the documented error code."""

    def __init__(self, status: int, code: str, message: str, request_id: str = "", body: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.request_id = status, code, message, request_id
        self.body = body or {}


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: float = 600.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        # Never route through a proxy picked up from the environment: the token must go only
        # to the server named here.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- transport ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                payload = json.loads(raw)
                err = payload.get("error", {})
            except ValueError:
                payload, err = {}, {}
            raise AimassError(e.code, err.get("code", f"http_{e.code}"), err.get("message", raw[:200].decode(errors="replace")),
                              err.get("request_id", ""), payload) from None

    def _json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        _, _, raw = self._request(method, path, body, headers)
        return json.loads(raw) if raw else None

    def _pages(self, path: str, key: str) -> Iterator[dict]:
        token = ""
        sep = "&" if "?" in path else "?"
        while True:
            page = self._json("GET", f"{path}{sep}page_size=1000&page_token={_quote(token)}")
            yield from page[key]
            token = page.get("next_page_token", "")
            if not token:
                return

    # -- auth --------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> str:
        self.token = None
        answer = self._json("POST", "/api/v1/auth/login", {"username": username, "password": password})
        self.token = answer["access_token"]
        return self.token

    def whoami(self) -> dict:
        return self._json("GET", "/api/v1/auth/whoami")

    # -- models ------------------------------------------------------------------------------

    def create_model(self, name: str, description: str = "", task: str | None = None,
                     tags: list[str] | None = None) -> dict:
        body: dict[str, Any] = {"name": name, "description": description, "tags": tags or []}
        if task:
            body["task"] = task
        return self._json("POST", "/api/v1/models", body)

    def get_model(self, name: str) -> dict:
        return self._json("GET", f"/api/v1/models/{_quote(name)}")

    def list_models(self, prefix: str | None = None) -> list[dict]:
        path = "/api/v1/models" + (f"?prefix={_quote(prefix)}" if prefix else "")
        return list(self._pages(path, "models"))

    def push(self, name: str, path: str | os.PathLike, framework: str, signature: dict | None = None,
             metrics: dict | None = None, params: dict | None = None, lineage: dict | None = None,
             dependencies: list | None = None, entry: str | None = None) -> dict:
        """Uploads a file, or a directory (sent as a tar; `entry` names the file its runtime
        loads when it is not model.<ext>), as the next version. An artifact its runtime cannot
        load raises AimassError(422, 'unprocessable') whose .body['error']['version'] is the
        failed version."""
        meta = {k: v for k, v in {"signature": signature, "metrics": metrics, "params": params,
                                  "lineage": lineage, "dependencies": dependencies,
                                  "entry": entry}.items() if v is not None}
        directory = os.path.isdir(path)
        with (_tar_of(path) if directory else open(path, "rb")) as f:
            headers = {"Content-Type": "application/x-tar" if directory else "application/octet-stream",
                       "Content-Length": str(os.fstat(f.fileno()).st_size)}
            if meta:
                headers["X-Model-Metadata"] = json.dumps(meta)
            # streamed: urllib sends a file object in blocks
            _, _, raw = self._request("POST", f"/api/v1/models/{_quote(name)}/versions?framework={_quote(framework)}",
                                      f, headers)
        return json.loads(raw)

    def get_version(self, name: str, version: int) -> dict:
        return self._json("GET", f"/api/v1/models/{_quote(name)}/versions/{int(version)}")

    def list_versions(self, name: str) -> list[dict]:
        return list(self._pages(f"/api/v1/models/{_quote(name)}/versions", "versions"))

    def delete_version(self, name: str, version: int) -> None:
        self._request("DELETE", f"/api/v1/models/{_quote(name)}/versions/{int(version)}")

    def set_alias(self, name: str, alias: str, version: int) -> dict:
        return self._json("PUT", f"/api/v1/models/{_quote(name)}/aliases/{_quote(alias)}", {"version": int(version)})

    def aliases(self, name: str) -> dict:
        return self._json("GET", f"/api/v1/models/{_quote(name)}/aliases")

    def search(self, filter: str = "", q: str | None = None, order_by: str | None = None) -> list[dict]:
        path = f"/api/v1/model-versions/search?filter={_quote(filter)}"
        if q:
            path += f"&q={_quote(q)}"
        if order_by:
            path += f"&order_by={_quote(order_by)}"
        return list(self._pages(path, "versions"))

    def files(self, ref: str) -> dict:
        """The files of NAME@ALIAS or NAME:VERSION: {"kind", "version", "digest", "files": [...]}."""
        return self._json("GET", self._ref_path(ref) + "/files")

    def pull(self, ref: str, dest: str | os.PathLike) -> dict:
        """Downloads NAME@ALIAS or NAME:VERSION to dest, verifying the sha256 the server states;
        on a mismatch nothing is written and AimassError(0, 'checksum_mismatch') is raised. A
        directory version is written under dest file by file, each checked the same way."""
        listing = self.files(ref)
        if listing["kind"] == "directory":
            return self._pull_tree(listing, dest)
        _, headers, data = self._request("GET", self._ref_path(ref) + "/artifact")
        expected = headers.get("X-Content-Sha256", "")
        if hashlib.sha256(data).hexdigest() != expected:
            raise AimassError(0, "checksum_mismatch", "the download does not match its sha256")
        tmp = f"{dest}.part"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        return {"version": int(headers.get("X-Model-Version", "0")), "sha256": expected, "path": str(dest)}

    # -- message queue (docs/mq.md) ----------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1, **fields: Any) -> dict:
        """fields: fsync ("always" | "interval" | "never"), retention {...}, dedup_window_ms."""
        return self._json("POST", "/api/v1/mq/topics", {"name": name, "partitions": partitions, **fields})

    def list_topics(self) -> list[dict]:
        return self._json("GET", "/api/v1/mq/topics")["topics"]

    def delete_topic(self, name: str) -> None:
        self._json("DELETE", f"/api/v1/mq/topics/{_quote(name)}")

    def publish(self, topic: str, *messages: Any, key: str | None = None, headers: dict | None = None,
                delay_ms: int = 0, ttl_ms: int = 0, dedup_id: str | None = None) -> list[dict]:
        """Publishes each message (a str body, or a dict with key/headers/body/delay_ms/ttl_ms/
        dedup_id); the keyword arguments apply to the str ones. Returns once the topic's fsync
        policy is met: [{"partition", "offset", "duplicate"}]."""
        out = []
        for m in messages:
            if isinstance(m, dict):
                out.append(m)
                continue
            msg: dict[str, Any] = {"body": m}
            for k, v in (("key", key), ("headers", headers), ("delay_ms", delay_ms), ("ttl_ms", ttl_ms),
                         ("dedup_id", dedup_id)):
                if v:
                    msg[k] = v
            out.append(msg)
        return self._json("POST", f"/api/v1/mq/topics/{_quote(topic)}/messages", {"messages": out})["results"]

    def subscribe(self, name: str, topic: str, **fields: Any) -> dict:
        """topic may be a pattern (iot.>, registry.*); fields: max_deliveries, ack_timeout_ms,
        backoff_ms, max_backoff_ms, start ("earliest" | "latest")."""
        return self._json("POST", "/api/v1/mq/subscriptions", {"name": name, "topic": topic, **fields})

    def delete_subscription(self, name: str) -> None:
        self._json("DELETE", f"/api/v1/mq/subscriptions/{_quote(name)}")

    def fetch(self, subscription: str, max: int = 10, wait_ms: int = 0) -> list[dict]:
        """Up to `max` messages, waiting up to wait_ms for the first (long poll)."""
        q = urllib.parse.urlencode({"max": max, "wait_ms": wait_ms})
        return self._json("GET", f"/api/v1/mq/subscriptions/{_quote(subscription)}/messages?{q}")["messages"]

    def ack(self, subscription: str, ids: list[str]) -> dict:
        return self._json("POST", f"/api/v1/mq/subscriptions/{_quote(subscription)}/ack", {"ids": list(ids)})

    def nack(self, subscription: str, ids: list[str], delay_ms: int = 0) -> dict:
        return self._json("POST", f"/api/v1/mq/subscriptions/{_quote(subscription)}/nack",
                          {"ids": list(ids), "delay_ms": delay_ms})

    def consume(self, subscription: str, handler, max: int = 10, wait_ms: int = 1000, stop=None) -> None:
        """Calls handler(message) for each message: acked when it returns, nacked when it
        raises (the exception goes on). Runs until stop() is true (checked between fetches)."""
        while not (stop and stop()):
            for m in self.fetch(subscription, max, wait_ms):
                try:
                    handler(m)
                except BaseException:
                    self.nack(subscription, [m["id"]])
                    raise
                self.ack(subscription, [m["id"]])

    def dead_letters(self, subscription: str, max: int = 100) -> list[dict]:
        return self._json("GET", f"/api/v1/mq/subscriptions/{_quote(subscription)}/dlq?max={int(max)}")["dead_letters"]

    def replay_dead_letters(self, subscription: str, ids: list[int] | None = None) -> int:
        """Sends dead letters (all when ids is None) back to the subscription."""
        body = {} if ids is None else {"ids": list(ids)}
        return self._json("POST", f"/api/v1/mq/subscriptions/{_quote(subscription)}/dlq/replay", body)["replayed"]

    def purge_dead_letters(self, subscription: str, ids: list[int] | None = None) -> int:
        body = {} if ids is None else {"ids": list(ids)}
        return self._json("POST", f"/api/v1/mq/subscriptions/{_quote(subscription)}/dlq/purge", body)["purged"]

    # -- scheduled jobs (docs/scheduler.md) ---------------------------------------------------

    def create_cron(self, name: str, schedule: str, target: dict, time_zone: str = "UTC", **fields: Any) -> dict:
        """target: {"type": "http", "method", "path", "body"} | {"type": "mq", "topic", "body"} |
        {"type": "shell", "command"}; fields: concurrency_policy, starting_deadline_seconds,
        max_catchup, retries, retry_backoff_ms, timeout_seconds, history_limit, paused."""
        return self._json("POST", "/api/v1/cron", {"name": name, "schedule": schedule, "time_zone": time_zone,
                                                   "target": target, **fields})

    def list_cron(self) -> list[dict]:
        return self._json("GET", "/api/v1/cron")["jobs"]

    def pause_cron(self, name: str) -> dict:
        return self._json("POST", f"/api/v1/cron/{_quote(name)}/pause", {})

    def resume_cron(self, name: str) -> dict:
        return self._json("POST", f"/api/v1/cron/{_quote(name)}/resume", {})

    def run_cron(self, name: str) -> dict:
        """Queues a run now; returns it (status "queued")."""
        return self._json("POST", f"/api/v1/cron/{_quote(name)}/run", {})

    def cron_runs(self, name: str) -> list[dict]:
        """Runs, newest first."""
        return list(self._pages(f"/api/v1/cron/{_quote(name)}/runs", "runs"))

    def delete_cron(self, name: str) -> None:
        self._json("DELETE", f"/api/v1/cron/{_quote(name)}")

    # -- experiment tracking -------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "") -> dict:
        return self._json("POST", "/api/v1/experiments", {"name": name, "description": description})

    def get_experiment(self, name: str) -> dict:
        return self._json("GET", f"/api/v1/experiments/{_quote(name)}")

    def list_experiments(self) -> list[dict]:
        return list(self._pages("/api/v1/experiments", "experiments"))

    def delete_experiment(self, name: str) -> None:
        self._json("DELETE", f"/api/v1/experiments/{_quote(name)}")

    def start_run(self, experiment: str, name: str = "", params: dict | None = None, tags: dict | None = None,
                  create_experiment: bool = True, system_metrics: bool = False,
                  system_metrics_interval_s: float = 10.0) -> Run:
        """A running run, its experiment created first when missing (as mlflow.set_experiment)."""
        body = {"experiment": experiment, "name": name, "params": params or {}, "tags": tags or {}}
        try:
            info = self._json("POST", "/api/v1/runs", body)
        except AimassError as e:
            if e.status != 404 or not create_experiment:
                raise
            try:
                self.create_experiment(experiment)
            except AimassError as again:
                if again.status != 409:  # created meanwhile by someone else: fine
                    raise
            info = self._json("POST", "/api/v1/runs", body)
        run = Run(self, info)
        if system_metrics:
            run.start_system_metrics(system_metrics_interval_s)
        return run

    def get_run(self, run_id: int) -> dict:
        return self._json("GET", f"/api/v1/runs/{int(run_id)}")

    def update_run(self, run_id: int, **fields: Any) -> dict:
        """status (succeeded, failed, cancelled, running), name, description."""
        return self._json("PATCH", f"/api/v1/runs/{int(run_id)}", fields)

    def delete_run(self, run_id: int) -> None:
        self._json("DELETE", f"/api/v1/runs/{int(run_id)}")

    def log_batch(self, run_id: int, metrics: list[dict] | None = None, params: dict | None = None,
                  tags: dict | None = None, inputs: list[dict] | None = None,
                  outputs: list[dict] | None = None) -> dict:
        body = {k: v for k, v in (("metrics", metrics), ("params", params), ("tags", tags), ("inputs", inputs),
                                  ("outputs", outputs)) if v}
        return self._json("POST", f"/api/v1/runs/{int(run_id)}/log", body)

    def search_runs(self, experiments: list[str] | str | None = None, filter: str = "",
                    order_by: str = "", max_results: int | None = None) -> list[dict]:
        if isinstance(experiments, str):
            experiments = [experiments]
        out, token = [], ""
        while True:
            page = self._json("POST", "/api/v1/runs/search", {"experiments": experiments or [], "filter": filter,
                                                              "order_by": order_by, "page_size": 1000,
                                                              "page_token": token})
            out += page["runs"]
            token = page["next_page_token"]
            if not token or (max_results is not None and len(out) >= max_results):
                return out[:max_results] if max_results is not None else out

    def metric_history(self, run_id: int, key: str) -> list[dict]:
        path = f"/api/v1/runs/{int(run_id)}/metrics/" + "/".join(_quote(p) for p in key.split("/"))
        out, token = [], ""
        while True:
            page = self._json("GET", f"{path}?page_size=25000&page_token={_quote(token)}")
            out += page["metrics"]
            token = page["next_page_token"]
            if not token:
                return out

    def compare_runs(self, run_ids: list[int], goals: dict[str, str] | None = None) -> dict:
        return self._json("POST", "/api/v1/runs/compare", {"runs": [int(r) for r in run_ids], "goals": goals or {}})

    def log_artifact(self, run_id: int, local_path: str | os.PathLike, path: str | None = None) -> dict:
        path = path or os.path.basename(os.fspath(local_path))
        url = f"/api/v1/runs/{int(run_id)}/artifacts/" + "/".join(_quote(p) for p in path.split("/"))
        with open(local_path, "rb") as f:
            _, _, raw = self._request("PUT", url, f.read(), {"Content-Type": "application/octet-stream"})
        return json.loads(raw)

    def list_artifacts(self, run_id: int) -> list[dict]:
        return self._json("GET", f"/api/v1/runs/{int(run_id)}/artifacts")["artifacts"]

    def download_artifact(self, run_id: int, path: str) -> bytes:
        _, _, data = self._request("GET", f"/api/v1/runs/{int(run_id)}/artifacts/" +
                                   "/".join(_quote(p) for p in path.split("/")))
        return data

    @staticmethod
    def _ref_path(ref: str) -> str:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return f"/api/v1/models/{_quote(name)}@{_quote(alias)}"
        if ":" in ref:
            name, version = ref.rsplit(":", 1)
            return f"/api/v1/models/{_quote(name)}/versions/{int(version)}"
        raise ValueError("ref must be NAME@ALIAS or NAME:VERSION")

    def _pull_tree(self, listing: dict, dest: str | os.PathLike) -> dict:
        base = f"/api/v1/models/{_quote(listing['model'])}/versions/{int(listing['version'])}/files/"
        root = os.path.realpath(dest)
        for f in listing["files"]:
            target = os.path.realpath(os.path.join(root, f["path"]))
            if not target.startswith(root + os.sep):  # never write outside dest
                raise AimassError(0, "bad_path", f"refusing to write {f['path']!r} outside {dest}")
            url = base + "/".join(_quote(p) for p in f["path"].split("/"))
            _, _, data = self._request("GET", url)
            if hashlib.sha256(data).hexdigest() != f["sha256"]:
                raise AimassError(0, "checksum_mismatch", f"{f['path']} does not match its sha256")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(data)
            if f.get("executable"):
                os.chmod(target, 0o755)
        return {"version": int(listing["version"]), "digest": listing["digest"], "path": str(dest),
                "files": len(listing["files"])}


def _tar_of(directory: str | os.PathLike):
    """A directory's regular files as an uncompressed tar in a temp file (for streaming)."""
    tmp = tempfile.TemporaryFile()
    with tarfile.open(fileobj=tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames.sort()
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                if os.path.islink(full):
                    raise ValueError(f"{full} is a link: push regular files only")
                tar.add(full, arcname=os.path.relpath(full, directory), recursive=False)
    tmp.seek(0)
    return tmp
