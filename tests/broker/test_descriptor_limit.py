"""A ``kafkapy serve`` node on disk under a low open-files limit (issue 20).

The node runs with ``RLIMIT_NOFILE`` lowered (``resource.setrlimit`` in the child),
and topics are created past what it allows: one descriptor per partition segment.
The partitions whose logs cannot be opened answer NOT_LEADER_OR_FOLLOWER while the
others serve; the node stays up; once a topic is deleted, the next metadata image
opens the rest and every partition serves again, new connections included. Requests
go over one connection opened before the descriptors ran out (a new one waits in the
listen backlog until the node can accept it).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.delete_topics import DeleteTopicsRequest
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.records import Record, build_batch
from tests.broker.conftest import free_port

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/<pid>/fd")

#: The node's open-files limit: room for itself and about 180 partitions.
LIMIT = 200


class LimitedNode:
    """``kafkapy serve`` on a data directory with RLIMIT_NOFILE set to ``limit``."""

    def __init__(self, directory: Path, limit: int) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = directory / "serve.log"
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

        def lower_limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

        with open(self.log_path, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kafkapy", "serve",
                 "--override", f"log.dirs={directory / 'data'}",
                 "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                 "--override", "log.segment.delete.delay.ms=0"],
                cwd=directory, stdout=out, stderr=subprocess.STDOUT, preexec_fn=lower_limit)
        deadline = time.monotonic() + 60
        while "kafkapy ready" not in self.output:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("kafkapy serve did not start:\n" + self.output)
            time.sleep(0.05)

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    @property
    def open_descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def create_topic(conn: KafkaConnection, name: str, partitions: int) -> ErrorCode:
    answer = conn.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=1)], timeout_ms=30_000), 5)
    return ErrorCode(answer.topics[0].error_code)


def delete_topic(conn: KafkaConnection, name: str) -> ErrorCode:
    answer = conn.request(DeleteTopicsRequest(topic_names=[name], timeout_ms=30_000), 5)
    return ErrorCode(answer.responses[0].error_code)


def produce_each(conn: KafkaConnection, topic: str, partitions: int) -> dict[int, ErrorCode]:
    """One record to every partition in one Produce request; the error of each."""
    batch = build_batch([Record(0, 0, b"k", b"v")], base_timestamp=1_700_000_000_000)
    answer = conn.request(ProduceRequest(acks=1, timeout_ms=10_000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=p, records=batch)
                                    for p in range(partitions)])]), 9)
    return {p.index: ErrorCode(p.error_code) for t in answer.responses for p in t.partition_responses}


def roundtrip(bootstrap: str, topic: str) -> list[bytes]:
    """Produce with librdkafka, consume with kafka-python (no group: no __consumer_offsets
    and its 50 partitions, which would not fit under the limit)."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(10):
        producer.produce(topic, b"%d" % i, partition=0)
    assert producer.flush(30) == 0
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    try:
        consumer.assign([KafkaTopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        out: list[bytes] = []
        for message in consumer:
            out.append(message.value)
            if len(out) == 10:
                break
        return out
    finally:
        consumer.close()


def test_partitions_past_the_open_files_limit_fail_alone_and_recover(tmp_path: Path) -> None:
    node = LimitedNode(tmp_path, LIMIT)
    try:
        # Said at start: the limit leaves little room for partitions.
        assert "The open files limit (RLIMIT_NOFILE, ulimit -n) is 200" in node.output
        with KafkaConnection(node.bootstrap, timeout_s=60) as conn:
            assert create_topic(conn, "a", 100) == ErrorCode.NONE
            assert set(produce_each(conn, "a", 100).values()) == {ErrorCode.NONE}
            # Past the limit: the controller creates the topic, this node cannot open
            # every log of it.
            assert create_topic(conn, "b", 150) == ErrorCode.NONE
            assert node.proc.poll() is None
            assert node.open_descriptors <= LIMIT
            codes = produce_each(conn, "b", 150)
            failed = sorted(p for p, code in codes.items() if code != ErrorCode.NONE)
            assert {codes[p] for p in failed} == {ErrorCode.NOT_LEADER_OR_FOLLOWER}
            assert 0 < len(failed) < 150
            assert "stays offline until the next metadata image" in node.output
            # The partitions that opened still serve, and the node stays up.
            assert set(produce_each(conn, "a", 100).values()) == {ErrorCode.NONE}
            # Descriptors come back with a deleted topic; the next image (a new topic
            # here) opens the logs that failed.
            assert delete_topic(conn, "a") == ErrorCode.NONE
            assert create_topic(conn, "c", 1) == ErrorCode.NONE
            assert set(produce_each(conn, "b", 150).values()) == {ErrorCode.NONE}
        # New connections are accepted again, with real clients.
        assert roundtrip(node.bootstrap, "c") == [b"%d" % i for i in range(10)]
        assert node.proc.poll() is None
    finally:
        status = node.stop()
    output = node.output
    assert status == 0, output
    assert "RaftInvariantError" not in output and "Traceback" not in output
    assert "Too many open files" in output  # it did run out
