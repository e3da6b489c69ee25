"""KIP-848 consumer groups: librdkafka with ``group.protocol=consumer``, and the protocol by hand.

The confluent-kafka tests run real consumers against an in-process broker: a split of
six partitions over three members and the take-over when one leaves, resuming at
committed offsets, a regex subscription that picks up a topic created later, and the
admin view (ConsumerGroupDescribe, ListGroups). The protocol tests drive
ConsumerGroupHeartbeat over one connection to check epochs, reconciliation (a
partition goes to its new owner only after the old owner revoked it), fencing,
leaving, static members, offset commits with member epochs, the coexistence with
classic groups, offset and group deletion, session and rebalance timeouts, and a
group rebuilt from ``__consumer_offsets`` after a restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupType, TopicPartition
from confluent_kafka.admin import AdminClient

from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from kafkapy.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from kafkapy.wire.messages.delete_groups import DeleteGroupsRequest
from kafkapy.wire.messages.describe_groups import DescribeGroupsRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.join_group import JoinGroupRequest
from kafkapy.wire.messages.list_groups import ListGroupsRequest
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest
from kafkapy.wire.messages.offset_delete import OffsetDeleteRequest
from kafkapy.wire.messages.offset_fetch import OffsetFetchRequest
from tests.broker.test_groups import (
    assigned,
    caught_up,
    create_topic,
    poll_until,
    produce_values,
    unique,
)

#: Fast heartbeats so that reconciliation (several heartbeats) takes well under a second.
CONSUMER_PROTOCOL_CONFIG = {"group.initial.rebalance.delay.ms": "0", "group.consumer.heartbeat.interval.ms": "200"}
H = ConsumerGroupHeartbeatRequest
Q = ErrorCode


@pytest.fixture(scope="module")
def kip848_broker() -> Iterator[Broker]:
    with Broker(CONSUMER_PROTOCOL_CONFIG) as b:
        yield b


def consumer(bootstrap: str, group: str, **config: object):
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False, **config})


def covered(members: list, n: int) -> bool:
    sets = [assigned(c) for c in members]
    return sum(len(s) for s in sets) == n and set().union(*sets) == set(range(n))


# --- confluent-kafka (librdkafka) ------------------------------------------------------------


def test_three_members_split_six_partitions_and_take_over_on_leave(kip848_broker):
    bootstrap = kip848_broker.bootstrap_servers
    topic, group = unique("kip848-split"), unique("g")
    create_topic(bootstrap, topic, 6)
    members = [consumer(bootstrap, group) for _ in range(3)]
    try:
        for c in members:
            c.subscribe([topic])
        assert poll_until(members, lambda: sorted(len(assigned(c)) for c in members) == [2, 2, 2]
                          and covered(members, 6))
        members.pop().close()  # leaves with member epoch -1
        assert poll_until(members, lambda: sorted(len(assigned(c)) for c in members) == [3, 3]
                          and covered(members, 6))
    finally:
        for c in members:
            c.close()


def test_new_incarnation_resumes_at_committed_offsets(kip848_broker):
    bootstrap = kip848_broker.bootstrap_servers
    topic, group = unique("kip848-resume"), unique("g")
    create_topic(bootstrap, topic, 4)
    first = [f"a{i}".encode() for i in range(40)]
    produce_values(bootstrap, topic, first, 4)
    members = [consumer(bootstrap, group) for _ in range(2)]
    got: list = []
    try:
        for c in members:
            c.subscribe([topic])
        assert poll_until(members, lambda: sorted(len(assigned(c)) for c in members) == [2, 2]
                          and all(caught_up(c, topic, 10) for c in members), sink=got)
        for c in members:
            c.commit(asynchronous=False)  # OffsetCommit v9 with the member epoch
    finally:
        for c in members:
            c.close()
    assert {m.value() for m in got} == set(first)
    assert kip848_broker.committed_offsets(group) == {(topic, p): 10 for p in range(4)}

    members = [consumer(bootstrap, group) for _ in range(2)]
    second = [f"b{i}".encode() for i in range(20)]
    got = []
    try:
        for c in members:
            c.subscribe([topic])
        # Produce once the split is settled, so no partition changes hands mid-read
        # (which would redeliver what was read but not committed: at-least-once).
        assert poll_until(members, lambda: sorted(len(assigned(c)) for c in members) == [2, 2], sink=got)
        produce_values(bootstrap, topic, second, 4)
        assert poll_until(members, lambda: len(got) >= 20, sink=got)
        poll_until(members, lambda: False, timeout_s=1, sink=got)  # nothing else may come
    finally:
        for c in members:
            c.close()
    assert sorted(m.value() for m in got) == sorted(second)
    assert {m.offset() for m in got} == set(range(10, 15))


def test_regex_subscription_picks_up_a_topic_created_later(kip848_broker):
    bootstrap = kip848_broker.bootstrap_servers
    prefix = f"rx{uuid.uuid4().hex[:8]}"
    group = unique("g")
    create_topic(bootstrap, f"{prefix}-a", 2)
    c = consumer(bootstrap, group)
    got: list = []
    try:
        c.subscribe([f"^{prefix}-.*"])
        assert poll_until([c], lambda: assigned(c) == {0, 1})
        create_topic(bootstrap, f"{prefix}-b", 3)
        produce_values(bootstrap, f"{prefix}-b", [b"x", b"y", b"z"], 3)
        assert poll_until([c], lambda: len(got) == 3, sink=got)
        assert {tp.topic for tp in c.assignment()} == {f"{prefix}-a", f"{prefix}-b"}
        assert len(c.assignment()) == 5
    finally:
        c.close()
    assert sorted(m.value() for m in got) == [b"x", b"y", b"z"]


def test_describe_and_list_show_a_consumer_group(kip848_broker):
    bootstrap = kip848_broker.bootstrap_servers
    topic, group = unique("kip848-describe"), unique("g")
    create_topic(bootstrap, topic, 4)
    members = [consumer(bootstrap, group, **{"client.id": f"member-{i}"}) for i in range(2)]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        for c in members:
            c.subscribe([topic])
        assert poll_until(members, lambda: sorted(len(assigned(c)) for c in members) == [2, 2])
        described = admin.describe_consumer_groups([group])[group].result(30)
        assert described.type == ConsumerGroupType.CONSUMER
        assert described.state == ConsumerGroupState.STABLE
        assert sorted(m.client_id for m in described.members) == ["member-0", "member-1"]
        parts = sorted(tp.partition for m in described.members for tp in m.assignment.topic_partitions)
        assert parts == [0, 1, 2, 3]
        assert {tp.topic for m in described.members for tp in m.assignment.topic_partitions} == {topic}
        listed = admin.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(30)
        mine = [g for g in listed.valid if g.group_id == group]
        assert len(mine) == 1 and mine[0].type == ConsumerGroupType.CONSUMER
        classic_only = admin.list_consumer_groups(types={ConsumerGroupType.CLASSIC}).result(30)
        assert group not in {g.group_id for g in classic_only.valid}
    finally:
        for c in members:
            c.close()


# --- the protocol by hand ------------------------------------------------------------------


class Group:
    """One connection speaking ConsumerGroupHeartbeat for a group, with topic ids resolved."""

    def __init__(self, broker: Broker, group_id: str) -> None:
        self.conn = KafkaConnection(broker.bootstrap_servers)
        self.group_id = group_id
        found = self.conn.request(FindCoordinatorRequest(key=group_id, key_type=0), 3)
        assert found.error_code == 0

    def heartbeat(self, member_id: str, epoch: int, *, version: int = 1, **fields: object):
        request = H(group_id=self.group_id, member_id=member_id, member_epoch=epoch, **fields)
        return self.conn.request(request, version)

    def join(self, topics: list[str], *, member_id: str | None = None, **fields: object):
        fields.setdefault("rebalance_timeout_ms", 30_000)
        return self.heartbeat(member_id or uuid.uuid4().hex, 0, subscribed_topic_names=topics, topic_partitions=[],
                              **fields)

    def close(self) -> None:
        self.conn.close()


def parts(response) -> set[int]:
    """Partitions of the response's assignment (one topic in these tests)."""
    assert response.assignment is not None
    return {p for tp in response.assignment.topic_partitions for p in tp.partitions}


def owned(topic_id: bytes, partitions: set[int]) -> list:
    return [H.TopicPartitions(topic_id=topic_id, partitions=sorted(partitions))]


def topic_id(broker: Broker, topic: str) -> bytes:
    return broker.call(lambda: broker.core.image.topic(topic).id)


@pytest.fixture
def group(kip848_broker) -> Iterator[Group]:
    g = Group(kip848_broker, unique("g"))
    try:
        yield g
    finally:
        g.close()


def test_epochs_and_revocation_before_reassignment(kip848_broker, group):
    topic = unique("kip848-epochs")
    kip848_broker.create_topics(topic, partitions=4)
    tid = topic_id(kip848_broker, topic)

    a = group.join([topic])
    assert (a.error_code, a.member_epoch, parts(a)) == (0, 2, {0, 1, 2, 3})
    assert a.heartbeat_interval_ms == 200
    b = group.join([topic])
    assert b.error_code == 0 and b.member_epoch == 3
    assert parts(b) == set()  # its partitions are still owned by a

    # a learns of the new target: it keeps its epoch until it has revoked.
    a2 = group.heartbeat(a.member_id, 2, topic_partitions=owned(tid, {0, 1, 2, 3}))
    assert a2.member_epoch == 2
    keep = parts(a2)
    assert len(keep) == 2
    # b still waits: nothing is released yet.
    b2 = group.heartbeat(b.member_id, 3, topic_partitions=[])
    assert b2.error_code == 0 and b2.member_epoch == 3 and b2.assignment is None
    # a acknowledges the revocation and moves to epoch 3; then b gets the rest.
    a3 = group.heartbeat(a.member_id, 2, topic_partitions=owned(tid, keep))
    assert a3.member_epoch == 3 and a3.assignment is None
    b3 = group.heartbeat(b.member_id, 3, topic_partitions=[])
    assert parts(b3) == {0, 1, 2, 3} - keep

    described = group.conn.request(ConsumerGroupDescribeRequest(group_ids=[group.group_id]), 1).groups[0]
    assert (described.error_code, described.group_state, described.group_epoch, described.assignment_epoch) == \
        (0, "Stable", 3, 3)
    assert described.assignor_name == "uniform"
    by_member = {m.member_id: m for m in described.members}
    assert {p for tp in by_member[b.member_id].assignment.topic_partitions for p in tp.partitions} == {0, 1, 2, 3} - keep
    assert all(m.member_type == 1 and m.member_epoch == 3 for m in described.members)


def test_fencing_unknown_members_and_leaving(kip848_broker, group):
    topic = unique("kip848-fence")
    kip848_broker.create_topics(topic, partitions=2)
    a = group.join([topic])
    assert a.member_epoch == 2
    assert group.heartbeat(a.member_id, 3).error_code == Q.FENCED_MEMBER_EPOCH
    assert group.heartbeat(a.member_id, 0, subscribed_topic_names=[topic]).error_code == Q.INVALID_REQUEST
    assert group.heartbeat("nobody", 1).error_code == Q.UNKNOWN_MEMBER_ID
    left = group.heartbeat(a.member_id, -1)
    assert (left.error_code, left.member_epoch) == (0, -1)
    assert group.heartbeat(a.member_id, 1).error_code == Q.UNKNOWN_MEMBER_ID
    # The group is empty now, with its epoch bumped by the leave.
    described = group.conn.request(ConsumerGroupDescribeRequest(group_ids=[group.group_id]), 0).groups[0]
    assert (described.group_state, described.group_epoch, described.members) == ("Empty", 3, [])


def test_previous_epoch_is_accepted_when_the_answer_was_lost(kip848_broker, group):
    topic = unique("kip848-lost")
    kip848_broker.create_topics(topic, partitions=2)
    tid = topic_id(kip848_broker, topic)
    a = group.join([topic])
    b = group.join([topic])
    a2 = group.heartbeat(a.member_id, 2, topic_partitions=owned(tid, {0, 1}))
    a3 = group.heartbeat(a.member_id, 2, topic_partitions=owned(tid, parts(a2)))
    assert a3.member_epoch == 3
    # The epoch-3 answer is lost: a comes again with epoch 2 and a subset of its partitions.
    again = group.heartbeat(a.member_id, 2, topic_partitions=owned(tid, parts(a2)))
    assert (again.error_code, again.member_epoch) == (0, 3)
    # With partitions it does not own under the new epoch, the old epoch is fenced.
    assert group.heartbeat(a.member_id, 2, topic_partitions=owned(tid, {0, 1})).error_code == Q.FENCED_MEMBER_EPOCH
    assert group.heartbeat(b.member_id, 3).error_code == 0


def test_request_validation(kip848_broker, group):
    assert group.heartbeat("", 0, rebalance_timeout_ms=1000, subscribed_topic_names=[], topic_partitions=[]
                           ).error_code == Q.INVALID_REQUEST  # v1 needs a member id
    assert group.join(["t"], rebalance_timeout_ms=-1).error_code == Q.INVALID_REQUEST
    assert group.heartbeat("m", 0, rebalance_timeout_ms=1000, topic_partitions=[]).error_code == Q.INVALID_REQUEST
    assert group.heartbeat("m", -3).error_code == Q.INVALID_REQUEST
    assert group.heartbeat("m", -2).error_code == Q.INVALID_REQUEST  # a static leave needs an instance id
    assert group.join(["t"], server_assignor="sticky").error_code == Q.UNSUPPORTED_ASSIGNOR
    bad = group.heartbeat("m", 0, rebalance_timeout_ms=1000, subscribed_topic_regex="(unclosed", topic_partitions=[])
    assert bad.error_code == Q.INVALID_REGULAR_EXPRESSION
    v0 = group.heartbeat("", 0, version=0, rebalance_timeout_ms=1000, subscribed_topic_names=[], topic_partitions=[])
    assert v0.error_code == 0 and len(v0.member_id) == 22  # v0: the coordinator picks the id


def test_range_assignor_and_subscription_to_a_topic_created_later(kip848_broker, group):
    topic = unique("kip848-range")
    a = group.join([topic], server_assignor="range", member_id="a")
    assert (a.error_code, parts(a)) == (0, set())  # the topic does not exist yet
    b = group.join([topic], server_assignor="range", member_id="b")
    kip848_broker.create_topics(topic, partitions=5)
    a2 = group.heartbeat("a", a.member_epoch, topic_partitions=[])
    b2 = group.heartbeat("b", b.member_epoch, topic_partitions=[])
    assert (parts(a2), parts(b2)) == ({0, 1, 2}, {3, 4})  # ranges, the first member one more
    assert a2.member_epoch == b2.member_epoch == 4  # bumped by the new topic's metadata


def test_static_member_leaves_for_now_and_its_successor_takes_over(kip848_broker, group):
    topic = unique("kip848-static")
    kip848_broker.create_topics(topic, partitions=4)
    tid = topic_id(kip848_broker, topic)
    a = group.join([topic], instance_id="inst-a", member_id="a1")
    b = group.join([topic], instance_id="inst-b")
    a2 = group.heartbeat("a1", 2, instance_id="inst-a", topic_partitions=owned(tid, {0, 1, 2, 3}))
    mine = parts(a2)
    a3 = group.heartbeat("a1", 2, instance_id="inst-a", topic_partitions=owned(tid, mine))
    assert a3.member_epoch == 3
    group.heartbeat(b.member_id, 3, instance_id="inst-b", topic_partitions=[])

    # Another process with the same instance id cannot join while a1 is there.
    assert group.join([topic], instance_id="inst-a", member_id="a2").error_code == Q.UNRELEASED_INSTANCE_ID
    left = group.heartbeat("a1", -2, instance_id="inst-a")
    assert (left.error_code, left.member_epoch) == (0, -2)
    back = group.join([topic], instance_id="inst-a", member_id="a2")
    assert (back.error_code, back.member_epoch, parts(back)) == (0, 3, mine)
    described = group.conn.request(ConsumerGroupDescribeRequest(group_ids=[group.group_id]), 1).groups[0]
    assert described.group_epoch == 3  # no rebalance
    assert sorted(m.member_id for m in described.members) == sorted(["a2", b.member_id])
    assert a.error_code == 0


def test_offsets_are_committed_and_fetched_with_the_member_epoch(kip848_broker, group):
    topic = unique("kip848-commit")
    kip848_broker.create_topics(topic, partitions=1)
    a = group.join([topic])
    C = OffsetCommitRequest

    def commit(epoch: int, member_id: str = a.member_id, version: int = 9) -> int:
        answer = group.conn.request(C(group_id=group.group_id, generation_id_or_member_epoch=epoch, member_id=member_id,
                                      topics=[C.OffsetCommitRequestTopic(name=topic, partitions=[
                                          C.OffsetCommitRequestPartition(partition_index=0, committed_offset=42)])]),
                                    version)
        return answer.topics[0].partitions[0].error_code

    def fetch(member_id: str | None, epoch: int) -> tuple[int, list]:
        F = OffsetFetchRequest
        answer = group.conn.request(F(groups=[F.OffsetFetchRequestGroup(
            group_id=group.group_id, member_id=member_id, member_epoch=epoch, topics=None)]), 9).groups[0]
        return answer.error_code, [(t.name, p.partition_index, p.committed_offset)
                                   for t in answer.topics for p in t.partitions]

    assert commit(0) == Q.STALE_MEMBER_EPOCH
    assert commit(2, "stranger") == Q.UNKNOWN_MEMBER_ID
    assert commit(2, version=8) == Q.UNSUPPORTED_VERSION  # members of consumer groups commit with v9+
    assert commit(-1, "") == Q.UNKNOWN_MEMBER_ID  # a group with members takes no anonymous commits
    assert commit(2) == 0
    assert fetch(a.member_id, 2) == (0, [(topic, 0, 42)])
    assert fetch(a.member_id, 7)[0] == Q.STALE_MEMBER_EPOCH
    assert fetch(None, -1) == (0, [(topic, 0, 42)])  # admin clients fetch without a member


def test_classic_and_consumer_groups_coexist(kip848_broker, group):
    topic = unique("kip848-mixed")
    kip848_broker.create_topics(topic, partitions=1)
    assert group.join([topic]).error_code == 0
    join = JoinGroupRequest(group_id=group.group_id, session_timeout_ms=10_000, rebalance_timeout_ms=10_000,
                            member_id="", protocol_type="consumer",
                            protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")])
    assert group.conn.request(join, 9).error_code == Q.INCONSISTENT_GROUP_PROTOCOL
    described = group.conn.request(DescribeGroupsRequest(groups=[group.group_id]), 6).groups[0]
    assert described.error_code == Q.GROUP_ID_NOT_FOUND
    listed = group.conn.request(ListGroupsRequest(types_filter=["consumer"]), 5).groups
    assert [(g.group_type, g.protocol_type, g.group_state) for g in listed if g.group_id == group.group_id] == \
        [("consumer", "consumer", "Stable")]
    assert group.group_id not in {g.group_id for g in group.conn.request(
        ListGroupsRequest(types_filter=["classic"]), 5).groups}

    # A classic group with members refuses the consumer protocol; an empty one is converted.
    classic = Group(kip848_broker, unique("classic"))
    try:
        first = classic.conn.request(JoinGroupRequest(
            group_id=classic.group_id, session_timeout_ms=10_000, rebalance_timeout_ms=10_000, member_id="",
            protocol_type="consumer", protocols=join.protocols), 3)
        assert first.error_code == 0
        assert classic.join([topic]).error_code == Q.GROUP_ID_NOT_FOUND
    finally:
        classic.close()
    offsets_only = Group(kip848_broker, unique("offsets-only"))
    try:
        C = OffsetCommitRequest
        committed = offsets_only.conn.request(C(group_id=offsets_only.group_id, generation_id_or_member_epoch=-1,
                                                member_id="", topics=[C.OffsetCommitRequestTopic(name=topic, partitions=[
                                                    C.OffsetCommitRequestPartition(partition_index=0,
                                                                                   committed_offset=5)])]), 9)
        assert committed.topics[0].partitions[0].error_code == 0
        joined = offsets_only.join([topic])
        assert joined.error_code == 0 and parts(joined) == {0}
        assert kip848_broker.committed_offsets(offsets_only.group_id) == {(topic, 0): 5}
    finally:
        offsets_only.close()


def test_a_group_that_only_handed_out_a_member_id_is_listed_empty(kip848_broker):
    """Kafka 4 stores a new classic group on its first JoinGroup, the one answered
    MEMBER_ID_REQUIRED (KIP-394): ListGroups shows it Empty, then as the member joins."""
    classic = Group(kip848_broker, unique("pending"))
    try:
        join = JoinGroupRequest(group_id=classic.group_id, session_timeout_ms=10_000, rebalance_timeout_ms=10_000,
                                member_id="", protocol_type="consumer",
                                protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")])
        first = classic.conn.request(join, 9)
        assert first.error_code == Q.MEMBER_ID_REQUIRED and first.member_id

        def listed() -> dict[str, str]:
            return {g.group_id: g.group_state for g in classic.conn.request(ListGroupsRequest(), 5).groups}

        assert listed().get(classic.group_id) == "Empty"
        join.member_id = first.member_id
        assert classic.conn.request(join, 9).error_code == 0
        assert listed().get(classic.group_id) in ("CompletingRebalance", "Stable")
    finally:
        classic.close()


def test_group_and_offsets_survive_a_restart_on_disk(tmp_path):
    topic, group_id = unique("kip848-restart"), unique("g")
    config = {**CONSUMER_PROTOCOL_CONFIG, "log.dirs": str(tmp_path)}
    with Broker(config, memory=False) as b:
        b.create_topics(topic, partitions=2)
        tid = topic_id(b, topic)
        g = Group(b, group_id)
        try:
            a = g.join([topic], member_id="a")
            c = g.join([topic], member_id="c")
            a2 = g.heartbeat("a", 2, topic_partitions=owned(tid, {0, 1}))
            kept = parts(a2)
            g.heartbeat("a", 2, topic_partitions=owned(tid, kept))
            c2 = g.heartbeat("c", 3, topic_partitions=[])
            assert parts(c2) == {0, 1} - kept and a.error_code == 0 and c.error_code == 0
            C = OffsetCommitRequest
            g.conn.request(C(group_id=group_id, generation_id_or_member_epoch=3, member_id="a", topics=[
                C.OffsetCommitRequestTopic(name=topic, partitions=[
                    C.OffsetCommitRequestPartition(partition_index=p, committed_offset=10 + p) for p in (0, 1)])]), 9)
        finally:
            g.close()
        b.stop()
        b.start()
        assert b.committed_offsets(group_id) == {(topic, 0): 10, (topic, 1): 11}
        g = Group(b, group_id)
        try:
            described = g.conn.request(ConsumerGroupDescribeRequest(group_ids=[group_id]), 1).groups[0]
            assert (described.error_code, described.group_epoch, described.assignment_epoch) == (0, 3, 3)
            members = {m.member_id: {p for tp in m.assignment.topic_partitions for p in tp.partitions}
                       for m in described.members}
            assert members == {"a": kept, "c": {0, 1} - kept}
            # The members carry on with their epochs, without a rebalance.
            again = g.heartbeat("a", 3, topic_partitions=owned(tid, kept))
            assert (again.error_code, again.member_epoch, again.assignment) == (0, 3, None)
        finally:
            g.close()


def test_librdkafka_commit_through_member_epoch_is_visible_to_committed(kip848_broker):
    bootstrap = kip848_broker.bootstrap_servers
    topic, group = unique("kip848-committed"), unique("g")
    create_topic(bootstrap, topic, 2)
    c = consumer(bootstrap, group)
    try:
        c.subscribe([topic])
        assert poll_until([c], lambda: assigned(c) == {0, 1})
        c.commit(offsets=[TopicPartition(topic, 0, 3, metadata="m3"), TopicPartition(topic, 1, 4)],
                 asynchronous=False)
        committed = c.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
    finally:
        c.close()
    assert [(tp.partition, tp.offset) for tp in committed] == [(0, 3), (1, 4)]
    assert committed[0].metadata == "m3"


def test_offset_delete_and_delete_groups(kip848_broker, group):
    topic, other = unique("kip848-del"), unique("kip848-other")
    kip848_broker.create_topics(topic, other, partitions=1)
    a = group.join([topic])
    C = OffsetCommitRequest
    group.conn.request(C(group_id=group.group_id, generation_id_or_member_epoch=a.member_epoch, member_id=a.member_id,
                         topics=[C.OffsetCommitRequestTopic(name=t, partitions=[
                             C.OffsetCommitRequestPartition(partition_index=0, committed_offset=1)])
                             for t in (topic, other)]), 9)
    D = OffsetDeleteRequest
    deleted = group.conn.request(D(group_id=group.group_id, topics=[
        D.OffsetDeleteRequestTopic(name=t, partitions=[D.OffsetDeleteRequestPartition(partition_index=0)])
        for t in (topic, other)]), 0)
    assert [t.partitions[0].error_code for t in deleted.topics] == [Q.GROUP_SUBSCRIBED_TO_TOPIC, 0]

    def delete() -> int:
        return group.conn.request(DeleteGroupsRequest(groups_names=[group.group_id]), 2).results[0].error_code

    assert delete() == Q.NON_EMPTY_GROUP
    assert group.heartbeat(a.member_id, -1).error_code == 0
    assert delete() == 0
    assert kip848_broker.committed_offsets(group.group_id) == {}
    described = group.conn.request(ConsumerGroupDescribeRequest(group_ids=[group.group_id]), 1).groups[0]
    assert described.error_code == Q.GROUP_ID_NOT_FOUND


# --- timeouts -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_session_broker() -> Iterator[Broker]:
    with Broker({**CONSUMER_PROTOCOL_CONFIG, "group.consumer.session.timeout.ms": "1000"}) as b:
        yield b


def heartbeat_until(group: Group, member_id: str, epoch: int, done, *, timeout_s: float = 30):
    """Heartbeat (like a live member) until ``done(response)``; returns that response."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = group.heartbeat(member_id, epoch, topic_partitions=[])
        assert response.error_code == 0
        if done(response):
            return response
        epoch = response.member_epoch
        time.sleep(0.1)
    raise AssertionError("the condition was not reached")


def test_member_without_heartbeats_is_removed_after_the_session_timeout(short_session_broker):
    topic = unique("kip848-session")
    short_session_broker.create_topics(topic, partitions=2)
    g = Group(short_session_broker, unique("g"))
    try:
        a = g.join([topic], member_id="a")
        b = g.join([topic], member_id="b")
        assert parts(b) == set()
        # a goes silent holding both partitions: once its session expires they are b's.
        last = heartbeat_until(g, "b", b.member_epoch, lambda r: r.assignment is not None and parts(r) == {0, 1})
        assert last.member_epoch == 4  # a's removal bumped the group epoch
        assert g.heartbeat("a", a.member_epoch).error_code == Q.UNKNOWN_MEMBER_ID
    finally:
        g.close()


def test_member_that_does_not_revoke_in_time_is_fenced(short_session_broker):
    topic = unique("kip848-rebalance")
    short_session_broker.create_topics(topic, partitions=2)
    g = Group(short_session_broker, unique("g"))
    try:
        tid = topic_id(short_session_broker, topic)
        g.join([topic], member_id="a", rebalance_timeout_ms=300)
        b = g.join([topic], member_id="b", rebalance_timeout_ms=30_000)
        # a is told to revoke one partition and keeps heartbeating without doing so.
        told = g.heartbeat("a", 2, topic_partitions=owned(tid, {0, 1}))
        assert told.member_epoch == 2 and len(parts(told)) == 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = g.heartbeat("a", 2, topic_partitions=owned(tid, {0, 1}))
            if answer.error_code != 0:
                break
            time.sleep(0.05)
        assert answer.error_code == Q.UNKNOWN_MEMBER_ID  # fenced out at its rebalance timeout
        heartbeat_until(g, "b", b.member_epoch, lambda r: r.assignment is not None and parts(r) == {0, 1})
    finally:
        g.close()


_KILLED_MEMBER = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "group.protocol": "consumer",
              "auto.offset.reset": "earliest"})
c.subscribe([sys.argv[3]])
while True:
    c.poll(0.1)
    if c.assignment():
        print("assigned", flush=True)
        time.sleep(0.05)
"""


def test_killed_librdkafka_member_is_taken_over_after_the_session_timeout(short_session_broker):
    bootstrap = short_session_broker.bootstrap_servers
    topic, group = unique("kip848-kill"), unique("g")
    create_topic(bootstrap, topic, 4)
    survivor = consumer(bootstrap, group)
    victim = subprocess.Popen([sys.executable, "-c", _KILLED_MEMBER, bootstrap, group, topic],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert victim.stdout is not None
        assert victim.stdout.readline().strip() == "assigned"
        survivor.subscribe([topic])
        assert poll_until([survivor], lambda: len(assigned(survivor)) == 2)
        victim.send_signal(signal.SIGKILL)  # no leave: only the session timeout tells
        victim.wait(10)
        assert poll_until([survivor], lambda: assigned(survivor) == {0, 1, 2, 3})
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
        survivor.close()


def test_a_heartbeat_whose_records_cannot_be_written_changes_nothing(kip848_broker, group):
    topic = unique("kip848-offline")
    kip848_broker.create_topics(topic, partitions=2)
    a = group.join([topic], member_id="a")
    log = kip848_broker.call(lambda: kip848_broker.core.replicas.get("__consumer_offsets", 0).log)

    def set_offline(offline: bool) -> None:
        log.offline = offline

    kip848_broker.call(set_offline, True)
    try:
        assert group.join([topic], member_id="b").error_code == Q.NOT_COORDINATOR
        assert group.heartbeat("a", -1).error_code == Q.NOT_COORDINATOR
    finally:
        kip848_broker.call(set_offline, False)
    described = group.conn.request(ConsumerGroupDescribeRequest(group_ids=[group.group_id]), 1).groups[0]
    assert (described.group_epoch, [m.member_id for m in described.members]) == (2, ["a"])
    assert group.heartbeat("a", a.member_epoch, topic_partitions=[]).member_epoch == 2
    b = group.join([topic], member_id="b")
    assert (b.error_code, b.member_epoch) == (0, 3)
