"""confluent-kafka (librdkafka) against an in-process broker over TCP."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def produce(bootstrap: str, topic: str, messages: list[dict], **config) -> list:
    """Produce ``messages`` (kwargs of Producer.produce) and return the delivery reports."""
    reports: list = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **config})
    for m in messages:
        p.produce(topic, on_delivery=lambda err, msg: reports.append((err, msg)), **m)
    assert p.flush(30) == 0
    return reports


def consume(bootstrap: str, topic: str, count: int, *, offset: int = OFFSET_BEGINNING, **config) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False, **config})
    try:
        c.assign([TopicPartition(topic, 0, offset)])
        out: list = []
        deadline = time.monotonic() + 30
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            out.append(m)
        return out
    finally:
        c.close()


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_each_codec(broker, topic, codec):
    n = 500
    messages = [{"key": b"k%d" % i, "value": b"value-%d" % i * 3, "headers": [("h", b"%d" % i)]} for i in range(n)]
    reports = produce(broker.bootstrap_servers, topic, messages, **{"compression.type": codec})
    assert all(err is None for err, _ in reports)
    assert sorted(msg.offset() for _, msg in reports) == list(range(n))
    got = consume(broker.bootstrap_servers, topic, n)
    assert [m.offset() for m in got] == list(range(n))
    assert [m.key() for m in got] == [b"k%d" % i for i in range(n)]
    assert [m.value() for m in got] == [b"value-%d" % i * 3 for i in range(n)]
    assert [m.headers() for m in got] == [[("h", b"%d" % i)] for i in range(n)]


def test_keys_headers_timestamps_and_nulls(broker, topic):
    base = 1_700_000_000_000
    messages = [
        {"key": None, "value": b"no key", "timestamp": base},
        {"key": b"k", "value": None, "timestamp": base + 1},
        {"key": b"k2", "value": b"v", "headers": [("a", b"1"), ("a", b"2"), ("empty", None)], "timestamp": base + 2},
    ]
    produce(broker.bootstrap_servers, topic, messages)
    got = consume(broker.bootstrap_servers, topic, 3)
    assert [(m.key(), m.value()) for m in got] == [(None, b"no key"), (b"k", None), (b"k2", b"v")]
    assert [m.timestamp() for m in got] == [(1, base), (1, base + 1), (1, base + 2)]  # 1 = CreateTime
    assert got[2].headers() == [("a", b"1"), ("a", b"2"), ("empty", None)]


def test_one_megabyte_message(broker, topic):
    value = bytes(range(256)) * (1_000_000 // 256)
    reports = produce(broker.bootstrap_servers, topic, [{"value": value}], **{"message.max.bytes": 1_100_000})
    assert reports[0][0] is None
    got = consume(broker.bootstrap_servers, topic, 1)
    assert got[0].value() == value


def test_message_larger_than_max_message_bytes_is_refused(broker, topic):
    produce(broker.bootstrap_servers, topic, [{"value": b"small"}])  # create the topic
    reports = produce(broker.bootstrap_servers, topic, [{"value": b"x" * 2_000_000}],
                      **{"message.max.bytes": 3_000_000, "compression.type": "none", "retries": 0})
    err = reports[0][0]
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE


def test_offsets_for_times_and_watermarks(broker, topic):
    base = 1_600_000_000_000
    produce(broker.bootstrap_servers, topic,
            [{"value": b"%d" % i, "timestamp": base + 1000 * i} for i in range(10)], **{"linger.ms": 0})
    c = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "unused", "enable.auto.commit": False})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 10)
        found = c.offsets_for_times([TopicPartition(topic, 0, base + 3500)], timeout=10)
        assert found[0].offset == 4
        found = c.offsets_for_times([TopicPartition(topic, 0, base)], timeout=10)
        assert found[0].offset == 0
        found = c.offsets_for_times([TopicPartition(topic, 0, base + 10 * 1000)], timeout=10)
        assert found[0].offset in (-1, 10)  # "no such record": librdkafka reports END (-1)
    finally:
        c.close()


def test_seek_to_beginning_and_end(broker, topic):
    produce(broker.bootstrap_servers, topic, [{"value": b"%d" % i} for i in range(5)])
    assert [m.value() for m in consume(broker.bootstrap_servers, topic, 5)] == [b"%d" % i for i in range(5)]
    # From the end: only what is produced afterwards.
    c = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "unused", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_END)])
        # The end is resolved asynchronously: keep producing until a record arrives;
        # whatever arrives first must be a late one, never one of the first five.
        got = None
        deadline = time.monotonic() + 30
        while got is None and time.monotonic() < deadline:
            produce(broker.bootstrap_servers, topic, [{"value": b"late"}])
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got = m
        assert got is not None and got.value() == b"late" and got.offset() >= 5
        c.seek(TopicPartition(topic, 0, 0))
        again = None
        while again is None and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                again = m
        assert again is not None and again.offset() == 0
    finally:
        c.close()


def test_long_poll_wakes_on_append(broker, topic):
    """A consumer waiting with fetch.wait.max.ms far beyond the test still sees a new record."""
    produce(broker.bootstrap_servers, topic, [{"value": b"first"}])
    c = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "unused",
                  "fetch.wait.max.ms": 60_000, "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        first = None
        deadline = time.monotonic() + 30
        while first is None and time.monotonic() < deadline:
            first = c.poll(0.5)
        assert first is not None and first.value() == b"first"
        produce(broker.bootstrap_servers, topic, [{"value": b"second"}], **{"linger.ms": 0})
        second = None
        while second is None and time.monotonic() < deadline:
            second = c.poll(0.5)
        assert second is not None and second.value() == b"second"
    finally:
        c.close()
