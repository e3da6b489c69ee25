"""Consumer groups with confluent-kafka (librdkafka) against an in-process broker.

A group of three splits six partitions; a member that leaves, and one that is killed,
have their partitions taken over; committed offsets are where a new incarnation of
the group resumes; eager (range, roundrobin) and cooperative-sticky assignors; static
membership. The helpers at the top are shared by the other ``test_groups_*`` modules.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

import pytest

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Broker

#: Group configs that keep tests fast: no initial rebalance delay (the test default)
#: and session timeouts down to 1 s, so a killed member is noticed quickly.
GROUP_TEST_CONFIG = {"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000"}


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)


def produce_values(bootstrap: str, topic: str, values: Iterable[bytes], partitions: int) -> None:
    """Produce ``values``, the i-th to partition ``i % partitions``."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, value in enumerate(values):
        p.produce(topic, value=value, partition=i % partitions)
    assert p.flush(30) == 0


def group_consumer(bootstrap: str, group: str, **config: object) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 300,
        **config,
    })


def assigned(c: Consumer) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def caught_up(c: Consumer, topic: str, end: int) -> bool:
    """True if ``c`` has read every assigned partition of ``topic`` up to ``end``."""
    from confluent_kafka import TopicPartition

    return all(tp.offset == end for tp in c.position([TopicPartition(topic, p) for p in assigned(c)]))


def poll_until(consumers: list[Consumer], done: Callable[[], bool], *, timeout_s: float = 60,
               sink: list | None = None) -> bool:
    """Poll every consumer in turn until ``done()``; messages go to ``sink``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for c in consumers:
            m = c.poll(0.05)
            if m is not None and m.error() is None and sink is not None:
                sink.append(m)
        if done():
            return True
    return False


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def group_broker() -> Iterator[Broker]:
    with Broker(GROUP_TEST_CONFIG) as b:
        yield b


# --- membership ---------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_three_members_split_six_partitions_and_take_over_on_leave(group_broker, strategy):
    bootstrap = group_broker.bootstrap_servers
    topic, group = unique("split"), unique("g")
    create_topic(bootstrap, topic, 6)
    members = [group_consumer(bootstrap, group, **{"partition.assignment.strategy": strategy}) for _ in range(3)]
    try:
        for c in members:
            c.subscribe([topic])
        assert poll_until(members, lambda: sorted(len(assigned(c)) for c in members) == [2, 2, 2]
                          and set().union(*(assigned(c) for c in members)) == set(range(6)))
        members.pop().close()  # a clean close sends LeaveGroup
        assert poll_until(members, lambda: sorted(len(assigned(c)) for c in members) == [3, 3]
                          and set().union(*(assigned(c) for c in members)) == set(range(6)))
    finally:
        for c in members:
            c.close()


_KILLED_MEMBER = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "session.timeout.ms": 3000,
              "heartbeat.interval.ms": 300, "auto.offset.reset": "earliest"})
c.subscribe([sys.argv[3]])
while True:
    c.poll(0.1)
    if c.assignment():
        print("assigned", flush=True)
        time.sleep(0.05)
"""


def test_killed_member_partitions_taken_over_after_session_timeout(group_broker):
    bootstrap = group_broker.bootstrap_servers
    topic, group = unique("kill"), unique("g")
    create_topic(bootstrap, topic, 6)
    survivors = [group_consumer(bootstrap, group) for _ in range(2)]
    victim = subprocess.Popen([sys.executable, "-c", _KILLED_MEMBER, bootstrap, group, topic],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for c in survivors:
            c.subscribe([topic])
        assert victim.stdout is not None
        # The survivors keep polling while the victim joins: a member that does not poll
        # cannot finish its part of a rebalance, and the group would wait for it.
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(victim.stdout.readline().strip()), daemon=True)
        reader.start()
        assert poll_until(survivors, lambda: bool(first_line))
        assert first_line == ["assigned"]
        assert poll_until(survivors, lambda: sorted(len(assigned(c)) for c in survivors) == [2, 2])
        victim.send_signal(signal.SIGKILL)  # no LeaveGroup: only the session timeout tells
        victim.wait(10)
        assert poll_until(survivors, lambda: sorted(len(assigned(c)) for c in survivors) == [3, 3]
                          and set().union(*(assigned(c) for c in survivors)) == set(range(6)))
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
        for c in survivors:
            c.close()


# --- offsets -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_new_incarnation_resumes_at_committed_offsets(group_broker, strategy):
    bootstrap = group_broker.bootstrap_servers
    topic, group = unique("resume"), unique("g")
    create_topic(bootstrap, topic, 6)
    first = [f"a{i}".encode() for i in range(60)]
    produce_values(bootstrap, topic, first, 6)
    cfg = {"partition.assignment.strategy": strategy}
    members = [group_consumer(bootstrap, group, **cfg) for _ in range(2)]
    got: list = []
    try:
        for c in members:
            c.subscribe([topic])
        # A rebalance may hand a partition over before its first owner committed, so
        # records can come twice; wait until the final owners have read to the end.
        assert poll_until(members, lambda: sorted(len(assigned(c)) for c in members) == [3, 3]
                          and all(caught_up(c, topic, 10) for c in members), sink=got)
        for c in members:
            c.commit(asynchronous=False)
    finally:
        for c in members:
            c.close()
    assert {m.value() for m in got} == set(first)

    second = [f"b{i}".encode() for i in range(30)]
    produce_values(bootstrap, topic, second, 6)
    members = [group_consumer(bootstrap, group, **cfg) for _ in range(2)]
    got = []
    try:
        for c in members:
            c.subscribe([topic])
        # The second member may join after the first began reading, so a handed-over
        # partition can be read twice from the committed offset: compare as sets.
        assert poll_until(members, lambda: {m.value() for m in got} >= set(second), sink=got)
        poll_until(members, lambda: False, timeout_s=1, sink=got)  # nothing else may come
    finally:
        for c in members:
            c.close()
    assert {m.value() for m in got} == set(second)
    assert {m.offset() for m in got} == set(range(10, 15))


def test_commit_metadata_and_leader_epoch_round_trip(group_broker):
    from confluent_kafka import TopicPartition

    bootstrap = group_broker.bootstrap_servers
    topic, group = unique("meta"), unique("g")
    create_topic(bootstrap, topic, 3)
    c = group_consumer(bootstrap, group)
    try:
        offsets = [TopicPartition(topic, 0, 7, metadata="checkpoint-7", leader_epoch=0), TopicPartition(topic, 1, 3)]
        c.commit(offsets=offsets, asynchronous=False)  # generation -1: a simple commit
        committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    finally:
        c.close()
    assert [(tp.partition, tp.offset) for tp in committed] == [(0, 7), (1, 3), (2, -1001)]
    assert committed[0].metadata == "checkpoint-7"
    assert committed[0].leader_epoch == 0
    assert committed[1].metadata in ("", None)


# --- static membership (KIP-345) ------------------------------------------------------------


def test_static_member_rejoins_without_rebalance(group_broker):
    bootstrap = group_broker.bootstrap_servers
    topic, group = unique("static"), unique("g")
    create_topic(bootstrap, topic, 6)
    events: list[str] = []

    def on_assign(consumer, partitions):
        events.append("assign")

    def on_revoke(consumer, partitions):
        events.append("revoke")

    cfg = {"session.timeout.ms": 20000}
    a = group_consumer(bootstrap, group, **{"group.instance.id": "a", **cfg})
    b = group_consumer(bootstrap, group, **{"group.instance.id": "b", **cfg})
    b2 = None
    try:
        a.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        assert poll_until([a], lambda: len(assigned(a)) == 6)
        b.subscribe([topic])
        assert poll_until([a, b], lambda: len(assigned(a)) == 3 and len(assigned(b)) == 3)
        b_partitions = assigned(b)
        events_before = list(events)
        b.close()  # a static member does not leave the group when it stops
        b2 = group_consumer(bootstrap, group, **{"group.instance.id": "b", **cfg})
        b2.subscribe([topic])
        assert poll_until([a, b2], lambda: len(assigned(b2)) == 3)
        poll_until([a, b2], lambda: False, timeout_s=2)
        assert assigned(b2) == b_partitions
        assert len(assigned(a)) == 3
        assert events == events_before  # the other member saw no rebalance
        admin = AdminClient({"bootstrap.servers": bootstrap})
        described = admin.describe_consumer_groups([group])[group].result(30)
        assert sorted(m.group_instance_id for m in described.members) == ["a", "b"]
        assert len(described.members) == 2
    finally:
        a.close()
        if b2 is not None:
            b2.close()
