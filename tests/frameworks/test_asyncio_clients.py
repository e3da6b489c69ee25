"""asyncio Kafka clients against the plugin's broker: aiokafka and confluent-kafka's
``confluent_kafka.aio`` (AIOProducer, AIOConsumer; librdkafka underneath).

The project's pytest config runs ``async def`` tests under trio (``trio_mode``), so
each test here is a plain function that drives its coroutine with ``asyncio.run``:
no second async test plugin, and the fixtures (a broker in a background thread)
serve asyncio the same as any other client. Every wait is bounded by
``asyncio.timeout``; session and rebalance timeouts are small so a missing member is
noticed in seconds, not Kafka's 45 s default (``session.timeout.ms``).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka import KafkaError
from confluent_kafka.aio import AIOConsumer, AIOProducer

from kafkapy.testing import Broker

#: Bound on each test's whole conversation with the broker.
_DEADLINE_S = 60


def test_aiokafka_group_consumers_share_partitions_and_commit(kafka_broker: Broker) -> None:
    """Two aiokafka consumers in one group split a 4-partition topic, read every record
    an idempotent producer sent (keys kept on their partition, in order), and their
    commits are what OffsetFetch answers afterwards."""
    topic, group = "aio-orders", "aio-billing"
    kafka_broker.create_topics(topic, partitions=4)
    bootstrap = kafka_broker.bootstrap_servers

    async def main() -> tuple[dict[int, list[tuple[str, int, int]]], dict[TopicPartition, int], list[set[int]]]:
        async with asyncio.timeout(_DEADLINE_S):
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
            await producer.start()
            try:
                sent = {}
                for i in range(40):
                    meta = await producer.send_and_wait(topic, key=f"user-{i % 8}".encode(), value=str(i).encode())
                    sent[i] = (meta.partition, meta.offset)
            finally:
                await producer.stop()

            consumers = [AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                          auto_offset_reset="earliest", enable_auto_commit=False,
                                          session_timeout_ms=6000, heartbeat_interval_ms=500,
                                          max_poll_interval_ms=10000, rebalance_timeout_ms=6000)
                         for _ in range(2)]
            for c in consumers:
                await c.start()
            try:
                seen: dict[int, list[tuple[str, int, int]]] = {}
                while sum(len(v) for v in seen.values()) < 40 or not all(c.assignment() for c in consumers):
                    for c in consumers:
                        batch = await c.getmany(timeout_ms=200)
                        for tp, records in batch.items():
                            seen.setdefault(tp.partition, []).extend(
                                (r.key.decode(), int(r.value), r.offset) for r in records)
                        if batch:
                            await c.commit()
                assignments = [{tp.partition for tp in c.assignment()} for c in consumers]
                committed = {tp: await consumers[0].committed(tp) for tp in
                             (TopicPartition(topic, p) for p in range(4))}
            finally:
                for c in consumers:
                    await c.stop()
            assert {i: (p, o) for p, rs in seen.items() for _, i, o in rs} == sent
            return seen, committed, assignments

    seen, committed, assignments = asyncio.run(main())
    # the group split the partitions between its two members, none twice
    assert sorted(p for a in assignments for p in a) == [0, 1, 2, 3]
    assert all(assignments)
    for partition, records in seen.items():
        assert [o for _, _, o in records] == list(range(len(records)))  # every offset, once, in order
        values_by_key: dict[str, list[int]] = {}
        for key, value, _ in records:
            values_by_key.setdefault(key, []).append(value)
        assert all(v == sorted(v) for v in values_by_key.values())
    keys_per_partition = {k: p for p, rs in seen.items() for k, _, _ in rs}
    assert len(keys_per_partition) == 8  # a key always lands on one partition
    # murmur2 of user-0..user-7 covers all four partitions, so each has a commit
    assert {tp.partition: off for tp, off in committed.items()} == {p: len(rs) for p, rs in seen.items()}
    assert kafka_broker.committed_offsets(group) == {(topic, p): len(rs) for p, rs in seen.items()}


def test_aiokafka_consumer_resumes_from_committed_offset(kafka_broker: Broker) -> None:
    """A consumer that committed half the topic and left is followed by another in the
    same group that starts exactly after the commit (no record lost or repeated)."""
    topic, group = "aio-resume", "aio-resume-group"
    bootstrap = kafka_broker.bootstrap_servers

    async def main() -> tuple[list[int], list[int]]:
        async with asyncio.timeout(_DEADLINE_S):
            async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
                await asyncio.gather(*[await producer.send(topic, str(i).encode()) for i in range(10)])

            def consumer() -> AIOKafkaConsumer:
                return AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                        auto_offset_reset="earliest", enable_auto_commit=False,
                                        session_timeout_ms=6000, heartbeat_interval_ms=500)

            first: list[int] = []
            async with consumer() as c:
                while len(first) < 4:
                    record = await c.getone()
                    first.append(int(record.value))
                await c.commit({TopicPartition(topic, 0): 4})
            second: list[int] = []
            async with consumer() as c:
                while len(second) < 6:
                    record = await c.getone()
                    second.append(int(record.value))
            return first, second

    first, second = asyncio.run(main())
    assert first == [0, 1, 2, 3]
    assert second == [4, 5, 6, 7, 8, 9]
    assert kafka_broker.committed_offsets(group) == {(topic, 0): 4}


def test_confluent_kafka_aio_producer_and_consumer(kafka_broker: Broker) -> None:
    """confluent_kafka.aio: AIOProducer's futures resolve to delivered messages with
    their offsets; an AIOConsumer in a group (cooperative-sticky assignment, KIP-429)
    reads them all back and commits synchronously, and the broker holds the commit."""
    topic, group = "cfk-aio", "cfk-aio-group"
    kafka_broker.create_topics(topic, partitions=3)
    bootstrap = kafka_broker.bootstrap_servers

    async def main() -> tuple[list[tuple[int, int]], list[tuple[int, int, str, str]]]:
        async with asyncio.timeout(_DEADLINE_S):
            producer = AIOProducer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                                    "linger.ms": 5}, buffer_timeout=0.1)
            try:
                futures = [await producer.produce(topic, value=f"v{i}".encode(), key=f"k{i % 3}".encode())
                           for i in range(30)]
                await producer.flush()
                delivered = [await f for f in futures]
            finally:
                await producer.close()
            positions = [(m.partition(), m.offset()) for m in delivered]

            consumer = AIOConsumer({"bootstrap.servers": bootstrap, "group.id": group,
                                    "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                    "partition.assignment.strategy": "cooperative-sticky",
                                    "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
            try:
                await consumer.subscribe([topic])
                read: list[tuple[int, int, str, str]] = []
                while len(read) < 30:
                    for msg in await consumer.consume(num_messages=50, timeout=0.5):
                        if msg.error():
                            assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                            continue
                        read.append((msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode()))
                await consumer.commit(asynchronous=False)
            finally:
                await consumer.close()
            return positions, read

    positions, read = asyncio.run(main())
    assert sorted(positions) == sorted((p, o) for p, o, _, _ in read)
    assert Counter(v for _, _, _, v in read) == Counter(f"v{i}" for i in range(30))  # each once
    for key in ("k0", "k1", "k2"):
        assert len({p for p, _, k, _ in read if k == key}) == 1  # one partition per key
    ends = Counter(p for p, _, _, _ in read)
    assert kafka_broker.committed_offsets(group) == {(topic, p): n for p, n in ends.items()}
