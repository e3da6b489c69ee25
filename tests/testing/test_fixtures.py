"""The pytest plugin's fixtures and options, and the Broker test API, with real clients
from trio, asyncio and plain threads."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
import trio
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from kafkapy.testing import Broker
from kafkapy.testing.probe import probe
from tests.testing.clients import consume, produce

pytest_plugins = ["pytester"]


def _name() -> str:
    return f"x-{uuid.uuid4().hex[:10]}"


def test_kafka_broker_and_bootstrap(kafka_broker, kafka_bootstrap):
    assert isinstance(kafka_broker, Broker) and kafka_broker.memory
    assert kafka_bootstrap == kafka_broker.bootstrap_servers
    assert probe(kafka_bootstrap) is None


def test_records_reads_what_a_producer_wrote(kafka_broker):
    topic = _name()
    kafka_broker.create_topics(topic, partitions=2)
    p = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "linger.ms": 0})
    p.produce(topic, b"v0", key=b"k0", partition=0, headers=[("h", b"1")], timestamp=1_700_000_000_000)
    p.produce(topic, None, key=b"k1", partition=1, timestamp=1_700_000_000_001)
    p.produce(topic, b"v2", partition=0, timestamp=1_700_000_000_002)
    assert p.flush(30) == 0
    records = kafka_broker.records(topic)
    assert [(r.partition, r.offset, r.key, r.value, list(r.headers), r.timestamp) for r in records] == [
        (0, 0, b"k0", b"v0", [("h", b"1")], 1_700_000_000_000),
        (0, 1, None, b"v2", [], 1_700_000_000_002),
        (1, 0, b"k1", None, [], 1_700_000_000_001),
    ]
    assert kafka_broker.records(topic, 1) == records[2:]
    assert kafka_broker.records(topic, committed=True) == records  # no transactions: the same
    assert kafka_broker.topics()[topic] == 2
    with pytest.raises(ValueError):
        kafka_broker.records("never-created")


def test_create_topics_reports_refusals(kafka_broker):
    topic = _name()
    kafka_broker.create_topics(topic, partitions=3, config={"cleanup.policy": "compact"})
    md = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers}).list_topics(topic, timeout=10)
    assert sorted(md.topics[topic].partitions) == [0, 1, 2]
    with pytest.raises(ValueError, match="TOPIC_ALREADY_EXISTS"):
        kafka_broker.create_topics(topic)
    with pytest.raises(ValueError, match="INVALID_REPLICATION_FACTOR"):
        kafka_broker.create_topics(_name(), replication_factor=3)


@pytest.mark.kafkapy(config={"num.partitions": "3"})
def test_marker_config(kafka_broker):
    topic = _name()
    produce(kafka_broker.bootstrap_servers, topic, [b"x"])  # auto-created with num.partitions
    assert kafka_broker.topics()[topic] == 3


@pytest.mark.parametrize("kafka_broker", [{"num.partitions": "2"}], indirect=True)
def test_fixture_parameter_config(kafka_broker, kafka_bootstrap):
    topic = _name()
    produce(kafka_bootstrap, topic, [b"x"])
    assert kafka_broker.topics()[topic] == 2


@pytest.mark.kafkapy(storage="disk")
def test_marker_disk_storage_survives_restart(kafka_broker):
    assert not kafka_broker.memory
    topic = _name()
    produce(kafka_broker.bootstrap_servers, topic, [b"durable"])
    kafka_broker.stop()
    kafka_broker.start()
    assert [r.value for r in kafka_broker.records(topic)] == [b"durable"]
    assert [m.value() for m in consume(kafka_broker.bootstrap_servers, topic, 1)] == [b"durable"]


async def test_from_a_trio_test(kafka_broker):
    """A trio test: the broker's loop is in its own thread, this test's in the main one."""
    from kafkapy.wire.codec import NEED_DATA, ClientCodec
    from kafkapy.wire.messages.metadata import MetadataRequest

    host, port = kafka_broker.bootstrap_servers.rsplit(":", 1)
    topic = _name()
    await trio.to_thread.run_sync(lambda: produce(kafka_broker.bootstrap_servers, topic, [b"from-trio"]))
    with trio.fail_after(30):
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            codec = ClientCodec("trio-test")
            _, chunks = codec.encode_request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(
                name=topic)]), 12)
            await stream.send_all(b"".join(bytes(c) for c in chunks))
            while (item := codec.next_response()) is NEED_DATA:
                codec.receive_data(await stream.receive_some())
    answer = item[1]
    assert [t.name for t in answer.topics] == [topic]
    assert answer.brokers[0].port == int(port)
    # The Broker API works from a trio test too (through a helper thread).
    kafka_broker.create_topics(f"{topic}-2")
    assert [r.value for r in kafka_broker.records(topic)] == [b"from-trio"]
    kafka_broker.faults.make_leaderless(f"{topic}-2", 0)
    assert kafka_broker.leader(f"{topic}-2", 0) == -1


def test_from_asyncio_with_aiokafka(kafka_broker):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topic = _name()

    async def main() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
        await producer.start()
        try:
            for i in range(3):
                await producer.send_and_wait(topic, b"async-%d" % i, partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.seek_to_beginning()
            got: list[bytes] = []
            while len(got) < 3:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
                got.extend(m.value for msgs in batch.values() for m in msgs)
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(main()) == [b"async-0", b"async-1", b"async-2"]
    assert [r.value for r in kafka_broker.records(topic)] == [b"async-0", b"async-1", b"async-2"]


def test_from_plain_threads(kafka_broker):
    topic = _name()
    kafka_broker.create_topics(topic, partitions=4)
    errors: list[Exception] = []

    def work(partition: int) -> None:
        try:
            produce(kafka_broker.bootstrap_servers, topic, [b"%d-%d" % (partition, i) for i in range(25)],
                    partition=partition)
        except Exception as exc:  # noqa: BLE001  (reported to the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    records = kafka_broker.records(topic)
    assert len(records) == 100
    for p in range(4):
        assert [r.value for r in records if r.partition == p] == [b"%d-%d" % (p, i) for i in range(25)]


def test_groups_and_committed_offsets(kafka_broker):
    from kafkapy.broker.registry import load_handlers
    from kafkapy.wire.apis import ApiKey

    if ApiKey.LIST_GROUPS not in load_handlers():
        with pytest.raises(NotImplementedError, match="group coordinator"):
            kafka_broker.list_groups()
        with pytest.raises(NotImplementedError, match="group coordinator"):
            kafka_broker.committed_offsets("g")
        pytest.skip("the broker has no group coordinator yet")
    topic, group = _name(), _name()
    produce(kafka_broker.bootstrap_servers, topic, [b"a", b"b"])
    c = Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        got = []
        while len(got) < 2:
            m = c.poll(1)
            if m is not None and m.error() is None:
                got.append(m)
        c.commit(asynchronous=False)
        assert group in [g.group_id for g in kafka_broker.list_groups()]
        assert kafka_broker.committed_offsets(group) == {(topic, 0): 2}
    finally:
        c.close()


def test_session_broker_and_options(pytester):
    """ini options, command-line options and the session-scoped broker, in a fresh run."""
    pytester.makeini("""
        [pytest]
        kafkapy_config =
            num.partitions=2
            log.retention.ms=123456
    """)
    pytester.makepyfile("""
        from confluent_kafka import Producer
        SEEN = []

        def _produce(bootstrap, topic):
            p = Producer({"bootstrap.servers": bootstrap})
            p.produce(topic, b"x")
            assert p.flush(30) == 0

        def test_one(kafka_broker_session):
            SEEN.append(kafka_broker_session.bootstrap_servers)
            _produce(kafka_broker_session.bootstrap_servers, "s1")
            assert kafka_broker_session.topics()["s1"] == 5                  # the command line wins
            assert kafka_broker_session.properties["log.retention.ms"] == "123456"   # from the ini
            assert not kafka_broker_session.memory                            # --kafkapy-storage=disk

        def test_two(kafka_broker_session, kafka_broker):
            assert SEEN == [kafka_broker_session.bootstrap_servers]           # one broker per session
            assert kafka_broker.bootstrap_servers != SEEN[0]
            _produce(kafka_broker.bootstrap_servers, "s2")
            assert kafka_broker.topics()["s2"] == 5
    """)
    result = pytester.runpytest_subprocess("--kafkapy-storage=disk", "--kafkapy-config", "num.partitions=5",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_port_option(pytester):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pytester.makepyfile(f"""
        def test_port(kafka_bootstrap):
            assert kafka_bootstrap == "127.0.0.1:{port}"
    """)
    result = pytester.runpytest_subprocess(f"--kafkapy-port={port}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_bad_option_is_a_usage_error(pytester):
    pytester.makepyfile("""
        def test_x(kafka_broker):
            pass
    """)
    result = pytester.runpytest_subprocess("--kafkapy-config", "no-equals-sign", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*expected key=value*"])
