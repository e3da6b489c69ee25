"""Transactions with stock clients over TCP: confluent-kafka, kafka-python, aiokafka.

What each client must see is what Apache Kafka shows it: a read_committed consumer
gets exactly the committed records, a read_uncommitted one every record including
aborted ones; a second producer with the same transactional.id fences the first; an
abandoned transaction is aborted at its timeout; consume-transform-produce with
``send_offsets_to_transaction`` is exactly-once across a producer restart.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from tests.broker.test_transactions_protocol import TxnClient, wait_for_state


def read_all(bootstrap: str, topic: str, *, committed: bool, partitions: int = 1) -> list[bytes]:
    """Every record a consumer of ``isolation.level`` gets, up to the end of each partition."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed" if committed else "read_uncommitted"})
    values: list[bytes] = []
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        at_end: set[int] = set()
        deadline = time.monotonic() + 30
        while len(at_end) < partitions and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                    continue
                raise KafkaException(m.error())
            values.append(m.value())
        assert len(at_end) == partitions, "the consumer never reached the end"
    finally:
        c.close()
    return values


def txn_producer(bootstrap: str, transactional_id: str, **config) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "linger.ms": 1, **config})
    p.init_transactions(30)
    return p


def test_confluent_commit_and_abort(broker, topic):
    p = txn_producer(broker.bootstrap_servers, f"tx-{topic}")
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, b"c%d" % i)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, b"a%d" % i)
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(topic, b"last")
    p.commit_transaction(30)
    committed = [b"c%d" % i for i in range(10)] + [b"last"]
    assert read_all(broker.bootstrap_servers, topic, committed=True) == committed
    assert read_all(broker.bootstrap_servers, topic, committed=False) == \
        committed[:10] + [b"a%d" % i for i in range(10)] + [b"last"]


def test_confluent_open_transaction_holds_back_read_committed(broker, topic):
    other = Producer({"bootstrap.servers": broker.bootstrap_servers})
    p = txn_producer(broker.bootstrap_servers, f"tx-{topic}")
    p.begin_transaction()
    p.produce(topic, b"in-txn")
    p.flush(30)
    other.produce(topic, b"plain")  # after the open transaction: above the LSO
    other.flush(30)
    assert read_all(broker.bootstrap_servers, topic, committed=True) == []
    assert read_all(broker.bootstrap_servers, topic, committed=False) == [b"in-txn", b"plain"]
    p.commit_transaction(30)
    assert read_all(broker.bootstrap_servers, topic, committed=True) == [b"in-txn", b"plain"]


def test_confluent_zombie_is_fenced(broker, topic):
    tid = f"tx-{topic}"
    zombie = txn_producer(broker.bootstrap_servers, tid)
    zombie.begin_transaction()
    zombie.produce(topic, b"zombie-1")
    zombie.flush(30)
    live = txn_producer(broker.bootstrap_servers, tid)  # aborts the zombie's transaction
    live.begin_transaction()
    live.produce(topic, b"live")
    live.commit_transaction(30)
    zombie.produce(topic, b"zombie-2")
    with pytest.raises(KafkaException) as raised:
        zombie.commit_transaction(30)
    error = raised.value.args[0]
    assert error.fatal() and error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                              KafkaError.INVALID_PRODUCER_EPOCH)
    assert read_all(broker.bootstrap_servers, topic, committed=True) == [b"live"]
    assert b"zombie-1" in read_all(broker.bootstrap_servers, topic, committed=False)


@pytest.fixture(scope="module")
def quick_broker():
    """A broker that looks for timed-out transactions every 100 ms."""
    with Broker({"transaction.abort.timed.out.transaction.cleanup.interval.ms": "100",
                 "transaction.max.timeout.ms": "60000"}) as b:
        yield b


def test_abandoned_transaction_is_aborted_at_its_timeout(quick_broker, topic):
    tid = f"tx-{topic}"
    p = txn_producer(quick_broker.bootstrap_servers, tid, **{"transaction.timeout.ms": 1000})
    p.begin_transaction()
    p.produce(topic, b"abandoned")
    p.flush(30)
    with TxnClient(quick_broker.bootstrap_servers) as client:
        wait_for_state(client, tid, "CompleteAbort")
    assert read_all(quick_broker.bootstrap_servers, topic, committed=True) == []
    assert read_all(quick_broker.bootstrap_servers, topic, committed=False) == [b"abandoned"]
    with pytest.raises(KafkaException):  # the timeout fenced it
        p.commit_transaction(30)


def test_transaction_timeout_above_the_maximum_is_refused(quick_broker):
    p = Producer({"bootstrap.servers": quick_broker.bootstrap_servers, "transactional.id": "too-long",
                  "transaction.timeout.ms": 120_000})
    with pytest.raises(KafkaException) as raised:
        p.init_transactions(30)
    assert raised.value.args[0].code() == KafkaError.INVALID_TRANSACTION_TIMEOUT


def test_kafka_python_transactional_producer(broker, topic):
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, transactional_id=f"tx-{topic}")
    try:
        p.init_transactions()
        p.begin_transaction()
        for i in range(5):
            p.send(topic, b"k%d" % i)
        p.commit_transaction()
        p.begin_transaction()
        p.send(topic, b"dropped")
        p.flush()
        p.abort_transaction()
        p.begin_transaction()
        p.send(topic, b"k5")
        p.commit_transaction()
    finally:
        p.close()
    assert read_all(broker.bootstrap_servers, topic, committed=True) == [b"k%d" % i for i in range(6)]
    assert b"dropped" in read_all(broker.bootstrap_servers, topic, committed=False)


def test_aiokafka_transactional_producer(broker, topic):
    from aiokafka import AIOKafkaProducer

    async def main() -> None:
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, transactional_id=f"tx-{topic}")
        await p.start()
        try:
            async with p.transaction():
                for i in range(5):
                    await p.send(topic, b"m%d" % i)
            with pytest.raises(RuntimeError):
                async with p.transaction():
                    await p.send_and_wait(topic, b"rolled-back")
                    raise RuntimeError("abort this one")
            async with p.transaction():
                await p.send(topic, b"m5")
        finally:
            await p.stop()

    asyncio.run(main())
    assert read_all(broker.bootstrap_servers, topic, committed=True) == [b"m%d" % i for i in range(6)]
    assert b"rolled-back" in read_all(broker.bootstrap_servers, topic, committed=False)


def test_consume_transform_produce_is_exactly_once_across_a_producer_restart(broker):
    """10,000 records copied in transactions with their input offsets; the copier is
    killed mid-transaction halfway and a new one (same transactional.id) finishes."""
    bootstrap = broker.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    source, sink, group, tid = f"in-{run}", f"out-{run}", f"copier-{run}", f"copier-{run}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(source, 3, 1), NewTopic(sink, 3, 1)]).values():
        f.result(30)
    total = 10_000
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(total):
        p.produce(source, b"%d" % i, partition=i % 3)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0

    def copier() -> tuple[Consumer, Producer]:
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
        c.subscribe([source])
        return c, txn_producer(bootstrap, tid)

    def copy_batch(c: Consumer, out: Producer, *, commit: bool = True) -> int:
        msgs = [m for m in c.consume(500, 1.0) if m.error() is None]
        if not msgs:
            return 0
        out.begin_transaction()
        for m in msgs:
            out.produce(sink, b"copy-" + m.value(), partition=m.partition())
        out.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
        if commit:
            out.commit_transaction(30)
        else:
            out.flush(30)  # the copies are in the log, the transaction is left open
        return len(msgs)

    c, out = copier()
    copied = 0
    while copied < total // 2:
        copied += copy_batch(c, out)
    assert copy_batch(c, out, commit=False) > 0
    # The copier dies: nothing is committed or closed cleanly.
    del out
    c.close()
    c, out = copier()  # fences the old producer and aborts its open transaction
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        copy_batch(c, out)
        committed = c.committed([TopicPartition(source, i) for i in range(3)], 30)
        if sum(tp.offset for tp in committed if tp.offset >= 0) == total:
            break
    c.close()
    got = read_all(bootstrap, sink, committed=True, partitions=3)
    assert len(got) == total
    assert sorted(got) == sorted(b"copy-%d" % i for i in range(total))
    everything = read_all(bootstrap, sink, committed=False, partitions=3)
    assert len(everything) > total  # the aborted copies are in the log, never read committed


def test_describe_transactions_through_the_producer_lifecycle(broker, topic):
    tid = f"tx-{topic}"
    p = txn_producer(broker.bootstrap_servers, tid)
    with TxnClient(broker.bootstrap_servers) as client:
        assert client.describe(tid).transaction_state == "Empty"
        p.begin_transaction()
        p.produce(topic, b"x")
        p.flush(30)
        d = client.describe(tid)
        assert (d.error_code, d.transaction_state) == (ErrorCode.NONE, "Ongoing")
        assert [(t.topic, t.partitions) for t in d.topics] == [(topic, [0])]
        p.commit_transaction(30)
        wait_for_state(client, tid, "CompleteCommit")
