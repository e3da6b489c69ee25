"""A Kafka Connect 4.1 worker in distributed mode against kafkapy, with the file connectors.

The worker keeps its configs, offsets and statuses in three compacted topics it creates
(it refuses a config topic that is not compacted), coordinates through a group of the
``connect`` protocol, and is driven over its REST API as people drive it: a
FileStreamSource connector copies a file's lines into a topic, a FileStreamSink
connector (a consumer group of its own) copies the topic into another file.
The worker runs from the 4.1.2 build of compat_tests/java (``target-4.1``): the file
connectors are not published for 4.4.0, and 4.3.1's do not load on kafka-clients 4.4.0.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from compat_tests.brokers import free_port
from kafkapy.testing import Broker
from tests.kraft.test_cluster_processes import until

LIB = Path(__file__).resolve().parents[2] / "compat_tests" / "java" / "target-4.1" / "lib"

pytestmark = pytest.mark.skipif(shutil.which("java") is None or not (LIB / "connect-runtime-4.1.2.jar").exists(),
                                reason="the Java driver's libraries with Kafka Connect are not built "
                                       "(bash compat_tests/install.sh)")
LINES = ["alpha", "beta", "gamma", "delta"]


class Worker:
    """A ConnectDistributed process and its REST address."""

    def __init__(self, bootstrap: str, directory: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        props = {
            "bootstrap.servers": bootstrap, "group.id": "connect-cluster",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "config.storage.topic": "connect-configs", "offset.storage.topic": "connect-offsets",
            "status.storage.topic": "connect-status", "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1", "status.storage.replication.factor": "1",
            "offset.flush.interval.ms": "500", "listeners": self.url, "plugin.discovery": "only_scan",
        }
        config = directory / "worker.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self.log = directory / "worker.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(["java", "-XX:TieredStopAtLevel=1", "-cp", f"{LIB}/*",
                                          "org.apache.kafka.connect.cli.ConnectDistributed", str(config)],
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET" if body is None else "POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def running(self, name: str) -> dict | None:
        status = self.call(f"/connectors/{name}/status")
        states = [status["connector"]["state"]] + [t["state"] for t in status["tasks"]]
        return status if len(states) > 1 and set(states) == {"RUNNING"} else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[Worker, Broker]]:
    with Broker({"group.initial.rebalance.delay.ms": "0"}) as broker:
        w = Worker(broker.bootstrap_servers, tmp_path)
        try:
            # The REST root answers before the herder has joined its group; the
            # connector list answers once it can take requests.
            until("the worker's REST API", lambda: w.call("/connectors") == [] or None, timeout_s=90)
            yield w, broker
        finally:
            w.stop()


def test_file_source_and_sink_through_a_topic(worker: tuple[Worker, Broker], tmp_path: Path) -> None:
    w, broker = worker
    source, sink = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("".join(line + "\n" for line in LINES))
    w.call("/connectors", {"name": "file-source", "config": {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "file": str(source), "topic": "connect-lines", "tasks.max": "1"}})
    w.call("/connectors", {"name": "file-sink", "config": {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "file": str(sink), "topics": "connect-lines", "tasks.max": "1"}})
    until("both connectors running", lambda: w.running("file-source") and w.running("file-sink"), timeout_s=60)
    until("the lines copied through the topic",
          lambda: sink.exists() and sink.read_text().splitlines() == LINES or None, timeout_s=60)
    assert sorted(w.call("/connectors")) == ["file-sink", "file-source"]

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    internal = ["connect-configs", "connect-offsets", "connect-status"]
    described = admin.describe_configs([ConfigResource("topic", t) for t in internal])
    policies = {r.name: f.result(10)["cleanup.policy"].value for r, f in described.items()}
    assert policies == dict.fromkeys(internal, "compact")
    groups = {g.group_id: g.protocol_type for g in broker.list_groups()}
    # The workers' group of the connect protocol, and the sink task's consumer group.
    assert (groups["connect-cluster"], groups["connect-file-sink"]) == ("connect", "consumer")
