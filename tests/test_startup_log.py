"""What ``kafkapy serve`` logs as it starts (issue 13, "Log hygiene").

A restart of a node holding 80 partitions (a 30-partition topic and the 50 of
``__consumer_offsets``) logs a summary, not a line per partition, at INFO: the
leaderships it takes, the groups it loads. It also logs the effective configuration
once, as Kafka's ``KafkaConfig values:`` block.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.brokers import free_port
from tests.kraft.test_cluster_processes import until


def serve(directory: Path, client: int, controller: int) -> subprocess.Popen[bytes]:
    log = open(directory / "serve.log", "ab")  # noqa: SIM115  (the child's output)
    return subprocess.Popen(
        [sys.executable, "-m", "kafkapy", "serve",
         "--override", f"listeners=PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
         "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{client}",
         "--override", f"controller.quorum.voters=1@127.0.0.1:{controller}"],
        cwd=directory, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def test_a_restart_logs_a_summary_not_a_line_per_partition(tmp_path):
    client, controller = free_port(), free_port()
    log = tmp_path / "serve.log"
    proc = serve(tmp_path, client, controller)
    try:
        until("ready", lambda: True if "kafkapy ready" in log.read_text() else None, 30)
        bootstrap = f"127.0.0.1:{client}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("many", 30, 1)])["many"].result(30)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g", "auto.offset.reset": "earliest"})
        consumer.subscribe(["many"])
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.2)
        consumer.close()
    finally:
        assert stop(proc) == 0
    first_run = log.read_text()
    proc = serve(tmp_path, client, controller)
    try:
        until("ready again", lambda: True if log.read_text().count("kafkapy ready") == 2 else None, 30)
    finally:
        assert stop(proc) == 0
    restart = log.read_text()[len(first_run):]
    start = restart.split("kafkapy ready")[0]
    info = [line for line in start.splitlines() if " INFO " in line]
    per_partition = [line for line in info if "__consumer_offsets-" in line or "many-" in line]
    assert per_partition == []
    assert len(info) < 20, info
    assert any("Leader of 80 and follower of 0 partitions" in line for line in info), info
    assert any("from 50 __consumer_offsets partitions" in line for line in info), info
    # The configuration block: once, every config, a quick-start value among them.
    assert start.count("KafkaConfig values:") == 1
    assert "\tgroup.initial.rebalance.delay.ms = 0\n" in start
