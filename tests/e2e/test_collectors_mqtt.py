"""The mqtt collector against Debian's mosquitto broker on loopback: JSON messages from two
topics become rows (with their topic), non-JSON ones are rejected, the password is never shown,
a broker that goes away and comes back is reconnected to; and kill -9 of aimass while messages
stream in: after the restart every message is in the dataset exactly once."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import describe, free_port, unique, wait_for
from datasets_helpers import create_dataset
from test_collectors import COLLECTORS, collector, wait_rows, whole_rows


class Mosquitto:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        # Unlimited queues for sessions that are away (the collector while aimass restarts).
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             "max_queued_messages 0\nlog_dest stderr\n")
        self.log = open(workdir / "mosquitto.log", "wb")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(self.conf)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def publish(self, topic: str, lines: list[str]):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic, "-q", "1", "-l"],
                       input="\n".join(lines) + "\n", text=True, check=True, timeout=120)


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path)
    yield b
    b.stop()


def make_mqtt(client, dataset: str, broker: Mosquitto, **source) -> str:
    name = unique("mqtt")
    resp = client.post(COLLECTORS, json={"name": name, "dataset": dataset, "batch": {"max_rows": 1000, "max_wait_s": 0.2},
                                         "source": {"type": "mqtt", "host": "127.0.0.1", "port": broker.port, **source}})
    assert resp.status_code == 201, describe(resp)
    return name


def test_messages_become_rows_and_the_broker_is_reconnected(server, broker):
    c = server.admin
    ds = create_dataset(c)
    name = make_mqtt(c, ds, broker, topics=["sensors/+/temp"], topic_column="topic", username="dev", password="s3cret")
    info = collector(c, name)
    assert info["source"]["password"] == "***" and "s3cret" not in json.dumps(info)
    wait_for(lambda: collector(c, name)["status"]["state"] == "running", 10, "the collector to connect")
    broker.publish("sensors/a/temp", [json.dumps({"seq": i, "c": 20 + i / 10}) for i in range(50)])
    broker.publish("sensors/b/temp", [json.dumps({"seq": 50 + i, "c": 18.0}) for i in range(50)] + ["not json"])
    broker.publish("other/topic", [json.dumps({"seq": 999})])  # not subscribed
    rows = wait_rows(c, ds, 100)
    assert sorted(r["seq"] for r in rows) == list(range(100))
    assert {r["topic"] for r in rows} == {"sensors/a/temp", "sensors/b/temp"}
    wait_for(lambda: collector(c, name)["rejected"] == 1, 10, "the non-JSON message to be rejected")
    # The broker goes away and comes back: the collector reconnects and goes on.
    broker.stop()
    wait_for(lambda: collector(c, name)["status"]["last_error"] is not None, 15, "the lost broker to show")
    broker.start()  # without persistence: the session is gone, and the collector subscribes again

    def probe_arrived():
        broker.publish("sensors/p/temp", [json.dumps({"seq": -1, "c": 0})])
        return whole_rows(c, ds) > 100
    wait_for(probe_arrived, 30, "the collector to be back on the broker", interval=0.5)
    broker.publish("sensors/c/temp", [json.dumps({"seq": 100 + i, "c": 1.0}) for i in range(10)])
    wait_for(lambda: {r["seq"] for r in wait_rows(c, ds, 101)} >= set(range(110)), 30, "the messages after the reconnect")
    assert collector(c, name)["status"]["state"] == "running"


def test_kill_9_while_messages_stream_in_loses_and_repeats_nothing(make_server, broker):
    srv = make_server()
    c = srv.admin
    ds = create_dataset(c)
    make_mqtt(c, ds, broker, topic="feed")
    n = 4000
    wait_for(lambda: srv.admin.get(f"{COLLECTORS}").json()["collectors"][0]["status"]["state"] == "running", 10, "connected")
    pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "feed", "-q", "1", "-l"],
                           stdin=subprocess.PIPE, text=True)
    for i in range(n):
        pub.stdin.write(json.dumps({"id": i}) + "\n")
        if i == n // 3:
            pub.stdin.flush()
            wait_for(lambda: whole_rows(c, ds) > 0, 30, "some rows stored")
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait(10)
        if i == 2 * n // 3:
            srv.start()  # the broker kept the collector's session and its messages meanwhile
            c = srv.admin
    pub.stdin.close()
    assert pub.wait(60) == 0
    rows = wait_rows(srv.admin, ds, n, timeout=60)
    ids = sorted(r["id"] for r in rows)
    assert ids == list(range(n)), f"{len(ids)} rows, {len(set(ids))} distinct"
