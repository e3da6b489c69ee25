"""The idempotent producer against a live broker (KIP-98 sequence checks, KIP-360).

Batches are built by hand and sent over a raw socket, so the tests control the
producer id, epoch and sequence exactly: a resent batch is answered with its original
offsets and never stored twice, a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER, an old
epoch is INVALID_PRODUCER_EPOCH, and all of that survives a restart on disk. Stock
clients (confluent-kafka with enable.idempotence, kafka-python by default) then write
through the same path.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.fetch import FetchRequest
from kafkapy.wire.messages.init_producer_id import InitProducerIdRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.records import (
    Record,
    build_batch,
    iter_absolute_records,
    scan_batches,
)
from tests.broker.test_bad_input import RawClient, produce_request


def init_producer_id(client: RawClient, version: int = 4) -> tuple[int, int]:
    response = client.request(InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000), version)
    assert response.error_code == ErrorCode.NONE
    return response.producer_id, response.producer_epoch


def batch(producer_id: int, epoch: int, sequence: int, values: list[bytes]) -> bytes:
    now = int(time.time() * 1000)
    return build_batch([Record(i, 0, None, v) for i, v in enumerate(values)], base_timestamp=now,
                       producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence)


def produce(client: RawClient, topic: str, data: bytes, version: int = 9):
    """One partition's answer to a Produce of ``data`` to ``topic``-0."""
    response = client.request(produce_request(topic, data), version)
    return response.responses[0].partition_responses[0]


def fetch_values(client: RawClient, topic: str) -> list[tuple[int, bytes]]:
    """Every (offset, value) in ``topic``-0, read straight from the log with Fetch."""
    request = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=10_000_000, topics=[
        FetchRequest.FetchTopic(topic=topic, partitions=[
            FetchRequest.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=10_000_000)])])
    pd = client.request(request, 11).responses[0].partitions[0]
    assert pd.error_code == ErrorCode.NONE
    data = bytes(pd.records)
    out = []
    for pos, _ in scan_batches(data).batches:
        out.extend((r.offset, r.value) for r in iter_absolute_records(data, pos))
    return out


def wait_for_topic(client: RawClient, topic: str) -> None:
    """Ask for ``topic`` (auto-creating it) until its partition has a leader."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        md = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                            allow_auto_topic_creation=True), 9)
        t = md.topics[0]
        if t.error_code == ErrorCode.NONE and t.partitions and t.partitions[0].leader_id >= 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"{topic} has no leader")


@pytest.fixture
def client(broker, topic):
    """A raw connection to the module's broker, with ``topic`` created."""
    c = RawClient(broker.bootstrap_servers)
    wait_for_topic(c, topic)
    yield c
    c.close()


def test_resent_batch_gets_original_offsets_and_is_stored_once(client, topic):
    pid, epoch = init_producer_id(client)
    first = batch(pid, epoch, 0, [b"a", b"b", b"c"])
    second = batch(pid, epoch, 3, [b"d", b"e"])
    assert produce(client, topic, first).base_offset == 0
    assert produce(client, topic, second).base_offset == 3
    # A retry of either of the last 5 batches: success with the offsets it got first.
    for data, offset in ((second, 3), (first, 0), (second, 3)):
        pr = produce(client, topic, data)
        assert (pr.error_code, pr.base_offset) == (ErrorCode.NONE, offset)
    assert fetch_values(client, topic) == [(0, b"a"), (1, b"b"), (2, b"c"), (3, b"d"), (4, b"e")]
    # The next sequence continues after the duplicates.
    assert produce(client, topic, batch(pid, epoch, 5, [b"f"])).base_offset == 5


def test_only_the_last_five_batches_are_duplicates(client, topic):
    pid, epoch = init_producer_id(client)
    sent = [batch(pid, epoch, i, [b"%d" % i]) for i in range(7)]
    for i, data in enumerate(sent):
        assert produce(client, topic, data).base_offset == i
    for i in range(2, 7):
        assert produce(client, topic, sent[i]).base_offset == i
    # Batch 0 is older than the retained five: its sequence is out of order now.
    assert produce(client, topic, sent[0]).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert len(fetch_values(client, topic)) == 7


def test_sequence_gap_is_out_of_order(client, topic):
    pid, epoch = init_producer_id(client)
    assert produce(client, topic, batch(pid, epoch, 0, [b"x"])).error_code == ErrorCode.NONE
    pr = produce(client, topic, batch(pid, epoch, 2, [b"gap"]))
    assert pr.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert pr.base_offset == -1
    assert fetch_values(client, topic) == [(0, b"x")]


def test_old_epoch_is_invalid_producer_epoch(client, topic):
    pid, _ = init_producer_id(client)
    assert produce(client, topic, batch(pid, 0, 0, [b"e0"])).error_code == ErrorCode.NONE
    # A bumped epoch starts again at sequence 0 (KIP-360), anything else is out of order.
    assert produce(client, topic, batch(pid, 1, 5, [b"bad"])).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(client, topic, batch(pid, 1, 0, [b"e1"])).error_code == ErrorCode.NONE
    assert produce(client, topic, batch(pid, 0, 1, [b"zombie"])).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert [v for _, v in fetch_values(client, topic)] == [b"e0", b"e1"]


def test_init_producer_id_gives_distinct_ids_at_every_version(client):
    ids = set()
    for version in range(6):
        pid, epoch = init_producer_id(client, version)
        assert epoch == 0
        ids.add(pid)
    assert len(ids) == 6


def test_producer_state_and_ids_survive_restart(tmp_path, topic):
    config = {"log.dirs": str(tmp_path / "data")}
    with Broker(config, memory=False) as b:
        c = RawClient(b.bootstrap_servers)
        wait_for_topic(c, topic)
        pid, epoch = init_producer_id(c)
        sent = [batch(pid, epoch, 2 * i, [b"%d" % (2 * i), b"%d" % (2 * i + 1)]) for i in range(3)]
        for i, data in enumerate(sent):
            assert produce(c, topic, data).base_offset == 2 * i
        c.close()
    with Broker(config, memory=False) as b:
        c = RawClient(b.bootstrap_servers)
        wait_for_topic(c, topic)
        # A retry of the last batch after the restart is still recognised. As in Kafka,
        # a producer-state snapshot keeps only each producer's last batch, so an older
        # one is out of order now.
        pr = produce(c, topic, sent[-1])
        assert (pr.error_code, pr.base_offset) == (ErrorCode.NONE, 4)
        assert produce(c, topic, sent[0]).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce(c, topic, batch(pid, epoch, 8, [b"gap"])).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce(c, topic, batch(pid, epoch, 6, [b"6"])).base_offset == 6
        assert [v for _, v in fetch_values(c, topic)] == [b"%d" % i for i in range(7)]
        # Producer id blocks come from the metadata log: no id is handed out twice.
        new_pid, _ = init_producer_id(c)
        assert new_pid > pid
        c.close()


def test_confluent_kafka_idempotent_producer(broker, topic):
    p = Producer({"bootstrap.servers": broker.bootstrap_servers, "enable.idempotence": True,
                  "linger.ms": 2, "batch.num.messages": 50})
    errors = []
    for i in range(2000):
        p.produce(topic, b"%d" % i, on_delivery=lambda err, msg: err and errors.append(err))
        if i % 100 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    assert not errors
    c = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "unused",
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        values = []
        deadline = time.monotonic() + 30
        while len(values) < 2000 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                values.append(m.value())
    finally:
        c.close()
    assert values == [b"%d" % i for i in range(2000)]
