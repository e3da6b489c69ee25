"""What the mixed-cluster tests share: client round trips through chosen brokers."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.metadata import MetadataRequest
from tests.kraft.test_cluster_processes import until


def metadata(address: str, topic: str | None = None) -> object:
    """The Metadata (v12) answer of the broker at ``address`` (one topic, or none)."""
    topics = [MetadataRequest.MetadataRequestTopic(name=topic)] if topic else []
    with KafkaConnection(address, timeout_s=5) as conn:
        return conn.request(MetadataRequest(topics=topics, allow_auto_topic_creation=False), 12)


def create_topic(bootstrap: str, name: str, partitions: int, replication_factor: int) -> None:
    """CreateTopics through the Admin client; raises what the cluster answered."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, replication_factor)], request_timeout=30)[name].result(30)


def produce(bootstrap: str, topic: str, values: list[bytes], **config: object) -> None:
    """Produce every value (partition by index) and flush; fails on any delivery error."""
    errors: list[object] = []
    producer = Producer({"bootstrap.servers": bootstrap, **config})
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert producer.flush(30) == 0
    assert errors == []


def consume(bootstrap: str, topic: str, group: str, count: int, timeout_s: float = 30.0) -> list[bytes]:
    """Read ``count`` records through a consumer group (or what came within ``timeout_s``)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    got: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                got.append(message.value())
        if got:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


__all__ = ["consume", "create_topic", "metadata", "produce", "until"]
