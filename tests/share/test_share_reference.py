"""The same share-group scenarios on kafkapy and on Apache Kafka 4.4, compared.

Each scenario runs librdkafka's share consumer against one broker and returns what it
saw (offsets, values, delivery counts) and what ``kafka-share-groups --describe`` and
DescribeConfigs of the group print; both brokers must give the same.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import AcknowledgeType as Ack
from confluent_kafka import Producer, ShareConsumer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from compat_tests.brokers import DEPS, java
from tests.reference import kafkapy_and_kafka, needs_kafka

VERSION = "4.4.0"
LIBS = DEPS / f"kafka-{VERSION}" / "libs"
#: Short locks and a low delivery limit, on both brokers.
CONFIG = {"group.share.record.lock.duration.ms": "2000", "group.share.min.record.lock.duration.ms": "1000",
          "group.share.delivery.count.limit": "3"}

pytestmark = needs_kafka(VERSION)


brokers = kafkapy_and_kafka(VERSION, CONFIG)


def _setup(bootstrap: str, partitions: int = 1) -> tuple[str, str]:
    topic, group = f"q-{uuid.uuid4().hex[:8]}", f"sg-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=60)
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    return topic, group


def _produce(bootstrap: str, topic: str, values: list[bytes], partitions: int = 1) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i % partitions)
    assert p.flush(30) == 0


def _poll(c: ShareConsumer, want: int, timeout_s: float) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        got += [m for m in c.poll(0.3) or [] if m.error() is None]
    return got


def _consumer(bootstrap: str, group: str, topic: str) -> ShareConsumer:
    c = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group,
                       "share.acknowledgement.mode": "explicit"})
    c.subscribe([topic])
    return c


def release_reject_and_lock_expiry(bootstrap: str) -> list[tuple[int, bytes, int]]:
    """Release a, reject b, accept c; a comes back; hold it until its lock runs out, twice."""
    topic, group = _setup(bootstrap)
    _produce(bootstrap, topic, [b"a", b"b", b"c"])
    c = _consumer(bootstrap, group, topic)
    seen = []
    first = _poll(c, 3, 60)
    seen += [(m.offset(), m.value(), m.delivery_count()) for m in first]
    for m, kind in zip(first, (Ack.RELEASE, Ack.REJECT, Ack.ACCEPT), strict=True):
        c.acknowledge(m, kind)
    c.commit_sync()
    holders = [c]
    for _ in range(2):  # each holder keeps the record unacknowledged until its lock expires
        got = _poll(holders[-1], 1, 30)
        seen += [(m.offset(), m.value(), m.delivery_count()) for m in got]
        holders.append(_consumer(bootstrap, group, topic))
    seen += [(m.offset(), m.value(), m.delivery_count()) for m in _poll(holders[-1], 1, 6)]
    for h in holders:
        h.close()
    return seen


def share_groups_describe(bootstrap: str) -> list[list[str]]:
    """Consume and accept 4 records of a two-partition topic; kafka-share-groups --describe."""
    topic, group = _setup(bootstrap, partitions=2)
    _produce(bootstrap, topic, [b"x"] * 4, partitions=2)
    c = _consumer(bootstrap, group, topic)
    got = 0
    deadline = time.monotonic() + 60
    while got < 4 and time.monotonic() < deadline:
        for m in c.poll(0.3) or []:
            c.acknowledge(m, Ack.ACCEPT)
            got += 1
    c.commit_sync()
    done = subprocess.run([java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{LIBS}/*",
                           "org.apache.kafka.tools.consumer.group.ShareGroupCommand", "--bootstrap-server", bootstrap,
                           "--describe", "--group", group], capture_output=True, text=True, timeout=120)
    c.close()
    assert done.returncode == 0, done.stderr
    return sorted(line.split()[2:] for line in done.stdout.splitlines() if line.startswith(group))


def group_configs(bootstrap: str) -> dict[str, tuple[str, bool]]:
    """DescribeConfigs of a group after setting share.auto.offset.reset."""
    _, group = _setup(bootstrap)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (config,) = admin.describe_configs([ConfigResource(ResourceType.GROUP, group)]).values()
    return {name: (entry.value, entry.is_default) for name, entry in config.result(timeout=30).items()
            if name in ("share.auto.offset.reset", "share.isolation.level", "share.record.lock.duration.ms")}


@pytest.mark.parametrize("scenario", [release_reject_and_lock_expiry, share_groups_describe, group_configs])
def test_kafkapy_answers_as_kafka_4_4(brokers: dict[str, str], scenario: Callable[[str], Any]) -> None:
    ours, theirs = scenario(brokers["kafkapy"]), scenario(brokers["kafka"])
    assert ours == theirs
