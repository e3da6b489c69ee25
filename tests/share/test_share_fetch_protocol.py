"""ShareFetch as Apache Kafka 4.4 serves it, beyond what clients show: share sessions
and their connection, and an unknown ShareAcquireMode.

A share consumer whose connection drops gives its records back at once (KIP-932:
Kafka's ``ShareSessionCache`` closes the share session of a closed connection and
``SharePartitionManager.releaseSession`` releases what the member held).

A librdkafka share consumer (confluent-kafka's ShareConsumer) in its own process
acquires records and is killed (SIGKILL: no goodbye, no acknowledgement); another
member of the group, polling meanwhile, gets the records with delivery count 2. The
acquisition lock is 60 s and the other member polls for at most 40 s after the kill,
so only the release on disconnect can hand them over. Run on kafkapy and on Apache
Kafka 4.4.

A share session belongs to the connection that opened it: a member that opens its
session again on another connection keeps its records when the first connection
ends, and gives them back when the second does (raw ShareFetch requests, the same
answers on both brokers).

A ShareFetch v2 with a ShareAcquireMode other than batch-optimized (0) and
record-limit (1) is answered UNKNOWN_SERVER_ERROR and opens the session all the same.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import base64
from typing import Any

import pytest
from confluent_kafka import Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from compat_tests.brokers import DEPS, start_reference
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.share_fetch import ShareFetchRequest as Q
from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest

VERSION = "4.4.0"
LOCK_MS = 60_000
CONFIG = {"group.share.record.lock.duration.ms": str(LOCK_MS)}
#: The member that is killed: prints the offsets of its first poll with records, then waits.
HOLDER = textwrap.dedent("""
    import sys, time
    from confluent_kafka import ShareConsumer
    c = ShareConsumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
                       "share.acknowledgement.mode": "explicit"})
    c.subscribe([sys.argv[3]])
    while True:
        got = [m.offset() for m in c.poll(0.5) or [] if m.error() is None]
        if got:
            print(" ".join(map(str, got)), flush=True)
            time.sleep(600)
""")


@pytest.fixture(scope="module", params=["kafkapy", "kafka"])
def bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "kafkapy":
        with Broker(CONFIG) as ours:
            yield ours.bootstrap_servers
        return
    if not (DEPS / f"kafka-{VERSION}" / "libs" / f"kafka_2.13-{VERSION}.jar").exists():
        pytest.skip("Apache Kafka 4.4 jars not installed (compat_tests/install.sh)")
    reference = start_reference(version=VERSION, overrides=CONFIG)
    try:
        yield reference.bootstrap
    finally:
        reference.stop()


def _setup(bootstrap: str, records: int) -> tuple[str, str]:
    topic, group = f"q-{uuid.uuid4().hex[:8]}", f"sg-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=60)
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(records):
        p.produce(topic, value=b"r%d" % i)
    assert p.flush(30) == 0
    return topic, group


def test_records_of_a_killed_share_consumer_come_back_before_their_lock_expires(bootstrap: str) -> None:
    topic, group = _setup(bootstrap, 5)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, bootstrap, group, topic],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    other = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group,
                           "share.acknowledgement.mode": "explicit"})
    try:
        assert holder.stdout is not None
        held = [int(o) for o in holder.stdout.readline().split()]
        assert held, holder.stderr.read() if holder.poll() is not None else "no records"
        other.subscribe([topic])
        got: dict[int, int] = {}
        for m in other.poll(2.0) or []:  # joined while the holder lives: nothing of its records
            got[m.offset()] = m.delivery_count()
            other.acknowledge(m)
        assert not set(got) & set(held)
        holder.kill()
        holder.wait(30)
        deadline = time.monotonic() + 40  # < LOCK_MS: only the release on disconnect brings them back
        while not set(held) <= set(got) and time.monotonic() < deadline:
            for m in other.poll(0.5) or []:
                assert m.error() is None, m.error()
                got[m.offset()] = m.delivery_count()
                other.acknowledge(m)
        assert {o: got.get(o) for o in held} == {o: 2 for o in held}
        assert sorted(got) == list(range(5))
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(30)
        other.close()


def _member(bootstrap: str, group: str, topic: str) -> str:
    """A member id that joined ``group`` subscribed to ``topic`` (ShareGroupHeartbeat),
    after FindCoordinator (on a fresh broker it creates ``__consumer_offsets``) says the
    group's coordinator is ready."""
    member_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    deadline = time.monotonic() + 60
    with KafkaConnection(bootstrap) as conn:
        while conn.request(FindCoordinatorRequest(key_type=0, coordinator_keys=[group]), 4) \
                .coordinators[0].error_code and time.monotonic() < deadline:
            time.sleep(0.3)
        answer = conn.request(ShareGroupHeartbeatRequest(group_id=group, member_id=member_id, member_epoch=0,
                                                         subscribed_topic_names=[topic]), 1)
        assert answer.error_code == 0, answer
    return member_id


def _fetch(conn: KafkaConnection, group: str, member_id: str, epoch: int, topic_id: bytes,
           wait_ms: int = 0) -> list[tuple[int, int, int]]:
    """One ShareFetch of partition 0; the (first, last, delivery count) ranges acquired."""
    answer: Any = conn.request(Q(group_id=group, member_id=member_id, share_session_epoch=epoch, max_wait_ms=wait_ms,
                                 min_bytes=1, max_bytes=1 << 20, max_records=100, batch_size=100, topics=[
                                     Q.FetchTopic(topic_id=topic_id, partitions=[Q.FetchPartition(partition_index=0)])]),
                               1)
    assert answer.error_code == 0, answer
    return [(a.first_offset, a.last_offset, a.delivery_count) for t in answer.responses for p in t.partitions
            for a in p.acquired_records]


def test_a_session_opened_again_elsewhere_is_released_with_its_own_connection(bootstrap: str) -> None:
    topic, group = _setup(bootstrap, 3)
    with KafkaConnection(bootstrap) as conn:
        topic_id = bytes(conn.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                                      12).topics[0].topic_id)
    holder, other = _member(bootstrap, group, topic), _member(bootstrap, group, topic)
    first = KafkaConnection(bootstrap)
    second = KafkaConnection(bootstrap)
    try:
        held: list[tuple[int, int, int]] = []
        deadline = time.monotonic() + 30
        while not held and time.monotonic() < deadline:  # the first fetch may find the share-partition loading
            held = _fetch(first, group, holder, 0, topic_id, wait_ms=500)
        assert held == [(0, 2, 1)]
        assert _fetch(second, group, holder, 0, topic_id) == []  # the member's new session; it still holds 0-2
        first.close()
        with KafkaConnection(bootstrap) as third:
            assert _fetch(third, group, other, 0, topic_id, wait_ms=2000) == []
            second.close()
            got: list[tuple[int, int, int]] = []
            epoch = 1
            while not got and time.monotonic() < deadline + 30:
                got = _fetch(third, group, other, epoch, topic_id, wait_ms=1000)
                epoch += 1
            assert got == [(0, 2, 2)]
    finally:
        first.close()
        second.close()


def test_an_unknown_share_acquire_mode_fails_the_fetch_but_opens_the_session(bootstrap: str) -> None:
    topic, group = _setup(bootstrap, 3)
    with KafkaConnection(bootstrap) as conn:
        topic_id = bytes(conn.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                                      12).topics[0].topic_id)
        member_id = _member(bootstrap, group, topic)

        def fetch(epoch: int, mode: int) -> tuple[int, int, list[int]]:
            r: Any = conn.request(Q(group_id=group, member_id=member_id, share_session_epoch=epoch, max_wait_ms=0,
                                    min_bytes=1, max_bytes=1 << 20, max_records=2, batch_size=2,
                                    share_acquire_mode=mode, topics=[Q.FetchTopic(
                                        topic_id=topic_id, partitions=[Q.FetchPartition(partition_index=0)])]), 2)
            return r.error_code, r.acquisition_lock_timeout_ms, [p.partition_index for t in r.responses
                                                                 for p in t.partitions if p.acquired_records]

        assert fetch(0, 2) == (-1, 0, [])  # UNKNOWN_SERVER_ERROR
        assert fetch(1, 1)[:2] == (0, LOCK_MS)  # the session was opened: epoch 1 is next
