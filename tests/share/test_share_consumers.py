"""Share groups (KIP-932) with librdkafka's share consumer (confluent-kafka's ShareConsumer)
against a running kafkapy broker, over TCP.

Several consumers on one partition each get distinct records; RELEASE redelivers with a
higher delivery count; REJECT archives; an unacknowledged record comes back after its
acquisition lock expires; the delivery count limit archives; acknowledged state
survives a broker restart.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer, ShareConsumer
from confluent_kafka import AcknowledgeType as Ack

from kafkapy.testing import Broker

#: Short locks and a low delivery limit, so expiry and archiving happen within a test.
LOCK_MS = 2000
CONFIG = {"group.share.record.lock.duration.ms": str(LOCK_MS), "group.share.min.record.lock.duration.ms": "1000",
          "group.share.delivery.count.limit": "3"}


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker(CONFIG) as b:
        yield b


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _consumer(broker: Broker, group: str, topic: str, *, explicit: bool = False,
              max_records: int = 500) -> ShareConsumer:
    c = ShareConsumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group,
                       "share.acknowledgement.mode": "explicit" if explicit else "implicit",
                       "max.poll.records": max_records})
    c.subscribe([topic])
    return c


def _produce(broker: Broker, topic: str, values: list[bytes]) -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 0})
    for v in values:
        p.produce(topic, value=v)
        p.poll(0)
    assert p.flush(15) == 0


def _join(c: ShareConsumer, timeout_s: float = 15) -> None:
    """Poll until the consumer has an assignment and a share session (no records yet:
    the share-partition starts at the end, share.auto.offset.reset=latest)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        c.poll(0.5)
        if c.subscription():
            time.sleep(1.0)
            c.poll(0.5)
            return


def _poll_until(c: ShareConsumer, want: int, timeout_s: float = 20) -> list:
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        for m in c.poll(0.5) or []:
            assert m.error() is None, m.error()
            got.append(m)
    return got


def test_two_consumers_on_one_partition_each_get_distinct_records(broker: Broker) -> None:
    topic, group = _name("q"), _name("sg")
    broker.create_topics(topic, partitions=1)
    consumers = [_consumer(broker, group, topic, max_records=10) for _ in range(2)]
    for c in consumers:
        _join(c)
    values = [f"r{i}".encode() for i in range(300)]
    received: dict[int, list[tuple[int, bytes]]] = {0: [], 1: []}
    done = threading.Event()

    def run(i: int) -> None:
        deadline = time.monotonic() + 40
        while not done.is_set() and time.monotonic() < deadline:
            for m in consumers[i].poll(0.2) or []:
                if m.error() is None:
                    received[i].append((m.offset(), m.value()))
            time.sleep(0.05)  # leave the other member room to acquire

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for chunk in range(0, len(values), 10):
        _produce(broker, topic, values[chunk:chunk + 10])
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and len(received[0]) + len(received[1]) < len(values):
        time.sleep(0.2)
    done.set()
    for t in threads:
        t.join()
    for c in consumers:
        c.close()
    offsets = [o for i in (0, 1) for o, _ in received[i]]
    assert sorted(offsets) == list(range(len(values))), "every record once, none twice"
    assert received[0] and received[1], "both members got records"
    assert sorted(v for i in (0, 1) for _, v in received[i]) == sorted(values)


def test_release_redelivers_with_a_higher_delivery_count_and_reject_archives(broker: Broker) -> None:
    topic, group = _name("q"), _name("sg")
    broker.create_topics(topic, partitions=1)
    c = _consumer(broker, group, topic, explicit=True)
    _join(c)
    _produce(broker, topic, [b"a", b"b", b"c"])
    first = _poll_until(c, 3)
    assert [m.value() for m in first] == [b"a", b"b", b"c"]
    assert {m.delivery_count() for m in first} == {1}
    c.acknowledge(first[0], Ack.RELEASE)
    c.acknowledge(first[1], Ack.REJECT)
    c.acknowledge(first[2], Ack.ACCEPT)
    c.commit_sync()
    again = _poll_until(c, 1)
    assert [(m.offset(), m.value(), m.delivery_count()) for m in again] == [(0, b"a", 2)]
    c.acknowledge(again[0], Ack.ACCEPT)
    c.commit_sync()
    # Nothing else comes back: b was archived, c and a accepted.
    assert _poll_until(c, 1, timeout_s=3) == []
    c.close()


def test_an_unacknowledged_record_comes_back_after_its_lock_and_the_limit_archives_it(broker: Broker) -> None:
    topic, group = _name("q"), _name("sg")
    broker.create_topics(topic, partitions=1)
    first = _consumer(broker, group, topic, explicit=True)
    _join(first)
    _produce(broker, topic, [b"x"])
    holders = [first]
    counts = []
    # Each consumer takes the record and holds it without acknowledging; once its lock
    # runs out the record is offered again, to the next consumer.
    for i in range(3):
        c = holders[i]
        got = _poll_until(c, 1, timeout_s=LOCK_MS / 1000 + 15)
        assert [m.value() for m in got] == [b"x"]
        counts.append(got[0].delivery_count())
        if i < 2:
            holders.append(_consumer(broker, group, topic, explicit=True))
    assert counts == [1, 2, 3]
    # The third lock runs out at the delivery count limit (3): archived, never offered again.
    late = _consumer(broker, group, topic, explicit=True)
    assert _poll_until(late, 1, timeout_s=LOCK_MS / 1000 + 3) == []
    for c in [*holders, late]:
        c.close()


def test_acknowledged_state_survives_a_broker_restart() -> None:
    topic, group = _name("q"), _name("sg")
    with tempfile.TemporaryDirectory() as data:
        config = {**CONFIG, "log.dirs": data}
        with Broker(config, memory=False) as broker:
            broker.create_topics(topic, partitions=1)
            c = _consumer(broker, group, topic, explicit=True)
            _join(c)
            _produce(broker, topic, [f"m{i}".encode() for i in range(6)])
            got = _poll_until(c, 6)
            assert len(got) == 6
            for m in got[:3]:
                c.acknowledge(m, Ack.ACCEPT)
            for m in got[3:]:
                c.acknowledge(m, Ack.RELEASE)
            c.commit_sync()
            c.close()
        with Broker(config, memory=False) as broker:
            c = _consumer(broker, group, topic, explicit=True)
            again = _poll_until(c, 3, timeout_s=30)
            assert [(m.offset(), m.value(), m.delivery_count()) for m in again] == [
                (3, b"m3", 2), (4, b"m4", 2), (5, b"m5", 2)]
            for m in again:
                c.acknowledge(m, Ack.ACCEPT)
            c.commit_sync()
            c.close()


def _group_configs(broker: Broker, group: str, configs: dict[str, str]) -> None:
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET) for name, value in configs.items()])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def test_by_duration_reset_starts_at_the_first_record_that_recent(broker: Broker) -> None:
    topic, group = _name("q"), _name("sg")
    broker.create_topics(topic, partitions=1)
    _group_configs(broker, group, {"share.auto.offset.reset": "by_duration:PT1H"})
    p = Producer({"bootstrap.servers": broker.bootstrap_servers})
    now_ms = int(time.time() * 1000)
    for value, age_ms in ((b"old1", 7_200_000), (b"old2", 7_100_000), (b"new1", 0), (b"new2", 0)):
        p.produce(topic, value=value, timestamp=now_ms - age_ms)
    assert p.flush(15) == 0
    c = _consumer(broker, group, topic)
    assert [m.value() for m in _poll_until(c, 2)] == [b"new1", b"new2"]
    c.close()


def test_read_committed_share_group_skips_aborted_transactions(broker: Broker) -> None:
    topic, group = _name("q"), _name("sg")
    broker.create_topics(topic, partitions=1)
    _group_configs(broker, group, {"share.auto.offset.reset": "earliest", "share.isolation.level": "read_committed"})
    p = Producer({"bootstrap.servers": broker.bootstrap_servers, "transactional.id": _name("tx")})
    p.init_transactions(30)
    for values, commit in (([b"c1", b"c2"], True), ([b"a1", b"a2"], False), ([b"c3"], True)):
        p.begin_transaction()
        for v in values:
            p.produce(topic, value=v)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    c = _consumer(broker, group, topic)
    got = _poll_until(c, 3)
    assert [m.value() for m in got] == [b"c1", b"c2", b"c3"]
    assert _poll_until(c, 1, timeout_s=2) == []
    c.close()


def test_a_group_lock_duration_is_bounded_by_the_broker_minimum_it_was_given(broker: Broker) -> None:
    """Kafka's GroupConfig.validate checks a group's share.record.lock.duration.ms against
    the controller's group.share.min.record.lock.duration.ms (1000 here), not the default 15 s."""
    from confluent_kafka import KafkaException

    group = _name("sg")
    _group_configs(broker, group, {"share.record.lock.duration.ms": "1500"})
    with pytest.raises(KafkaException, match="INVALID_CONFIG"):
        _group_configs(broker, group, {"share.record.lock.duration.ms": "999"})
