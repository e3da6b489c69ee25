"""kafka-python (idempotent producer by default) and aiokafka against an in-process broker."""

from __future__ import annotations

import asyncio

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_idempotent_produce_consume(broker, topic, codec):
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, compression_type=codec, linger_ms=5)
    try:
        assert producer.config["enable_idempotence"]  # the client's default: needs InitProducerId
        futures = [producer.send(topic, key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"x")],
                                 timestamp_ms=1_650_000_000_000 + i) for i in range(200)]
        producer.flush(30)
        offsets = [f.get(timeout=30).offset for f in futures]
    finally:
        producer.close()
    assert offsets == list(range(200))
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = []
        for m in consumer:
            got.append(m)
            if len(got) == 200:
                break
        assert [(m.offset, m.key, m.value) for m in got] == [(i, b"k%d" % i, b"v%d" % i) for i in range(200)]
        assert got[5].timestamp == 1_650_000_000_005
        assert list(got[0].headers) == [("h", b"x")]
        assert consumer.end_offsets([tp]) == {tp: 200}
        assert consumer.beginning_offsets([tp]) == {tp: 0}
        found = consumer.offsets_for_times({tp: 1_650_000_000_100})
        assert found[tp].offset == 100 and found[tp].timestamp == 1_650_000_000_100
    finally:
        consumer.close()


def test_kafka_python_producer_ids_are_distinct(broker, topic):
    """Each idempotent producer gets its own producer id; both write in order."""
    producers = [KafkaProducer(bootstrap_servers=broker.bootstrap_servers) for _ in range(2)]
    try:
        for i, p in enumerate(producers):
            p.send(topic, value=b"p%d" % i).get(timeout=30)
        ids = {p._transaction_manager.producer_id_and_epoch.producer_id for p in producers}
    finally:
        for p in producers:
            p.close()
    assert len(ids) == 2 and all(pid >= 0 for pid in ids)


def test_kafka_python_admin(broker, topic):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1,
                                      topic_configs={"retention.ms": "60000"})])
        assert topic in admin.list_topics()
        described = admin.describe_topics([topic])
        assert len(described[0]["partitions"]) == 3
        admin.delete_topics([topic])
        assert topic not in admin.list_topics()
    finally:
        admin.close()


def test_aiokafka_produce_consume():
    """aiokafka drives its own asyncio loop: run it in one, against a broker started here."""
    from kafkapy.testing import Broker

    async def main(bootstrap: str) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        for codec in CODECS:
            topic = f"aio-{codec}"
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, acks="all")
            await producer.start()
            try:
                sent = [await producer.send_and_wait(topic, key=b"k%d" % i, value=b"v%d" % i,
                                                     headers=[("h", b"y")]) for i in range(50)]
            finally:
                await producer.stop()
            assert [md.offset for md in sent] == list(range(50))
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                        auto_offset_reset="earliest")
            await consumer.start()
            try:
                from aiokafka import TopicPartition as TP

                tp = TP(topic, 0)
                consumer.assign([tp])
                await consumer.seek_to_beginning(tp)
                got = []
                while len(got) < 50:
                    batch = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=1000), 30)
                    got.extend(batch.get(tp, []))
                assert [(m.offset, m.key, m.value) for m in got] == [(i, b"k%d" % i, b"v%d" % i) for i in range(50)]
                assert list(got[0].headers) == [("h", b"y")]
                assert (await consumer.end_offsets([tp]))[tp] == 50
            finally:
                await consumer.stop()

    with Broker() as b:
        asyncio.run(main(b.bootstrap_servers))
