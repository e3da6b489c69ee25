"""Small real-client helpers for the kafkapy.testing tests (confluent-kafka over TCP)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition


def produce(bootstrap: str, topic: str, values: list[bytes], *, partition: int = 0, **config) -> list:
    """Produce ``values`` and wait; returns the delivery reports as (error, offset)."""
    reports: list = []
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, **config})
    for v in values:
        p.produce(topic, v, partition=partition,
                  on_delivery=lambda err, msg: reports.append((err, msg.offset())))
    assert p.flush(30) == 0
    return reports


def consume(bootstrap: str, topic: str, count: int, *, partition: int = 0, **config) -> list:
    """Read ``count`` messages from the start of one partition (no group)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kafkapy-tests", "enable.auto.commit": False,
                  **config})
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        out: list = []
        deadline = time.monotonic() + 30
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                out.append(m)
        return out
    finally:
        c.close()
