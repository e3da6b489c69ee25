"""What the tiered storage tests do with real clients: create, produce, consume, ask."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.wire.error_codes import ErrorCode
from tests.requests import ask

#: ListOffsets special timestamps.
EARLIEST, LATEST, EARLIEST_LOCAL, LATEST_TIERED = -2, -1, -4, -5


def create_topic(bootstrap: str, topic: str, config: dict[str, str], partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1, config=config)]).values():
        future.result(30)


def create_topic_error(bootstrap: str, topic: str, config: dict[str, str]) -> str:
    """The error message CreateTopics answers (empty when the topic was created)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        for future in admin.create_topics([NewTopic(topic, 1, 1, config=config)]).values():
            future.result(30)
    except KafkaException as exc:
        return exc.args[0].str()
    return ""


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics([topic]).values():
        future.result(30)


def produce(bootstrap: str, topic: str, count: int, *, partition: int = 0, size: int = 100,
            timeout_s: float = 120) -> None:
    """``count`` records ``<i>`` padded to ``size`` bytes, in batches well under a segment."""
    errors: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 4000,
                         "enable.idempotence": True})
    for i in range(count):
        producer.produce(topic, value=str(i).encode().ljust(size, b"."), partition=partition,
                         on_delivery=lambda err, msg: err and errors.append(err))
        if i % 500 == 0:
            producer.poll(0)
    assert producer.flush(timeout_s) == 0
    assert not errors, errors[:3]


def consume(bootstrap: str, topic: str, count: int, *, partition: int = 0, offset: int = 0,
            timeout_s: float = 60, isolation: str = "read_uncommitted") -> list[tuple[int, bytes]]:
    """``count`` records from ``offset`` with a fresh consumer: (offset, value) in order."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "auto.offset.reset": "error", "isolation.level": isolation})
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        out: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise AssertionError(f"consumer error: {message.error()}")
            out.append((message.offset(), message.value()))
        return out
    finally:
        consumer.close()


def timestamps(bootstrap: str, topic: str, count: int, *, partition: int = 0) -> list[int]:
    """The CreateTime timestamps of the first ``count`` records, by offset."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ts-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "auto.offset.reset": "error"})
    try:
        consumer.assign([TopicPartition(topic, partition, 0)])
        out: list[int] = []
        deadline = time.monotonic() + 60
        while len(out) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                out.append(message.timestamp()[1])
        return out
    finally:
        consumer.close()


def list_offset(bootstrap: str, topic: str, timestamp: int, partition: int = 0) -> tuple[ErrorCode, int, int]:
    """ListOffsets v9 (the first with -4 and -5): (error, offset, leader epoch)."""
    from kafkapy.wire.messages.list_offsets import ListOffsetsRequest as R

    answer = ask(bootstrap, R(replica_id=-1, isolation_level=0, topics=[R.ListOffsetsTopic(
        name=topic, partitions=[R.ListOffsetsPartition(partition_index=partition, timestamp=timestamp)])]), 9)
    p = answer.topics[0].partitions[0]
    return ErrorCode(p.error_code), p.offset, p.leader_epoch
