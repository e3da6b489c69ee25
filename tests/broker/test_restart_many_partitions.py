"""Hundreds of partitions keep their records through a SIGKILL and a SIGTERM of ``kafkapy serve``.

The logs are opened on num.recovery.threads.per.data.dir threads at start; after the
SIGKILL nothing was closed (no clean-shutdown marker, indexes untrimmed, the recovery
points those of the last checkpoint) and every partition is recovered.
"""

from __future__ import annotations

import signal
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.broker.conftest import ServeProcess, free_port

TOPICS = 3
PER_TOPIC = 100


def produce_one_each(bootstrap: str, round_: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for t in range(TOPICS):
        for p in range(PER_TOPIC):
            producer.produce(f"many-{t}", b"%d-%d-%d" % (round_, t, p), partition=p)
    assert producer.flush(60) == 0


def read_all(bootstrap: str, expected: int) -> dict[tuple[str, int], list[bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(f"many-{t}", p, 0) for t in range(TOPICS) for p in range(PER_TOPIC)])
    out: dict[tuple[str, int], list[bytes]] = {}
    got = 0
    deadline = time.monotonic() + 60
    try:
        while got < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                out.setdefault((message.topic(), message.partition()), []).append(message.value())
                got += 1
    finally:
        consumer.close()
    return out


def expected_values(rounds: int) -> dict[tuple[str, int], list[bytes]]:
    return {(f"many-{t}", p): [b"%d-%d-%d" % (r, t, p) for r in range(rounds)]
            for t in range(TOPICS) for p in range(PER_TOPIC)}


def test_many_partitions_survive_sigkill_and_sigterm(tmp_path):
    port = free_port()
    args = ["--override", "num.recovery.threads.per.data.dir=4"]
    first = ServeProcess(args, port, str(tmp_path))
    try:
        admin = AdminClient({"bootstrap.servers": first.bootstrap_servers})
        for future in admin.create_topics([NewTopic(f"many-{t}", PER_TOPIC, 1) for t in range(TOPICS)]).values():
            future.result(60)
        produce_one_each(first.bootstrap_servers, 0)
    finally:
        first.stop(signal.SIGKILL)

    second = ServeProcess(args, port, str(tmp_path))
    try:
        produce_one_each(second.bootstrap_servers, 1)
        assert read_all(second.bootstrap_servers, 2 * TOPICS * PER_TOPIC) == expected_values(2)
    finally:
        assert second.stop(signal.SIGTERM) == 0

    third = ServeProcess(args, port, str(tmp_path))
    try:
        assert read_all(third.bootstrap_servers, 2 * TOPICS * PER_TOPIC) == expected_values(2)
    finally:
        assert third.stop(signal.SIGTERM) == 0
