"""One replay of each ``__consumer_offsets`` partition serves every group kind, and
the group coordinator's periodic work runs on the shards' timers.

A classic group (with a stored assignment and committed offsets), a KIP-848 consumer
group, a share group and a streams group live in the partitions of a three-partition
``__consumer_offsets``. After a restart of the broker, the coordinator runtime's DEBUG
line says each partition was read once per election (not once per group kind), and
every group is back as it was. An offset committed with a retention time (OffsetCommit
v2) is gone after the next expiry check, and so is its group left without offsets,
also after a restart.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from kafkapy.testing.broker import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from kafkapy.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from kafkapy.wire.messages.describe_groups import DescribeGroupsRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.join_group import JoinGroupRequest
from kafkapy.wire.messages.list_groups import ListGroupsRequest
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest
from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest
from kafkapy.wire.messages.sync_group import SyncGroupRequest

_LOADED = re.compile(r"Loaded __consumer_offsets-(\d+) at epoch (\d+)")


def _coordinator_ready(conn: KafkaConnection, group: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if conn.request(FindCoordinatorRequest(key_type=0, coordinator_keys=[group]), 4) \
                .coordinators[0].error_code == ErrorCode.NONE:
            return
        time.sleep(0.2)
    pytest.fail("no group coordinator")


def _classic_group(conn: KafkaConnection, group: str) -> str:
    """A one-member classic group with a stored assignment and a committed offset."""
    joined = conn.request(JoinGroupRequest(
        group_id=group, session_timeout_ms=30000, rebalance_timeout_ms=30000, protocol_type="consumer",
        protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"sub")]), 3)
    assert joined.error_code == ErrorCode.NONE and joined.leader == joined.member_id
    synced = conn.request(SyncGroupRequest(
        group_id=group, generation_id=joined.generation_id, member_id=joined.member_id,
        assignments=[SyncGroupRequest.SyncGroupRequestAssignment(member_id=joined.member_id,
                                                                  assignment=b"assigned")]), 2)
    assert synced.error_code == ErrorCode.NONE and synced.assignment == b"assigned"
    C = OffsetCommitRequest
    committed = conn.request(C(group_id=group, generation_id_or_member_epoch=joined.generation_id,
                               member_id=joined.member_id, topics=[C.OffsetCommitRequestTopic(
                                   name="words", partitions=[C.OffsetCommitRequestPartition(
                                       partition_index=1, committed_offset=42)])]), 8)
    assert committed.topics[0].partitions[0].error_code == ErrorCode.NONE
    return joined.member_id


@contextlib.contextmanager
def _broker(tmp_path: Any, **config: str) -> Iterator[Broker]:
    """An on-disk broker with three ``__consumer_offsets`` partitions and a topic ``words``."""
    with Broker({"log.dirs": str(tmp_path), "offsets.topic.num.partitions": "3", **config}, memory=False) as broker:
        broker.create_topics("words", partitions=2)
        yield broker


def _groups(conn: KafkaConnection) -> list[tuple[str, str, str]]:
    return sorted((g.group_id, g.group_type, g.group_state)
                  for g in conn.request(ListGroupsRequest(), 5).groups)


def test_each_partition_is_replayed_once_and_every_group_kind_survives_a_restart(
        tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kafkapy.broker.coordinator.runtime")
    suffix = uuid.uuid4().hex[:6]
    classic, consumer, share, streams = (f"{kind}-{suffix}" for kind in ("classic", "consumer", "share", "streams"))
    with _broker(tmp_path, **{"group.initial.rebalance.delay.ms": "0"}) as broker:
        with KafkaConnection(broker.bootstrap_servers) as conn:
            _coordinator_ready(conn, classic)
            member_id = _classic_group(conn, classic)
            r = conn.request(ConsumerGroupHeartbeatRequest(
                group_id=consumer, member_id=uuid.uuid4().hex[:22], member_epoch=0, rebalance_timeout_ms=30000,
                subscribed_topic_names=["words"], topic_partitions=[]), 1)
            assert r.error_code == ErrorCode.NONE
            r = conn.request(ShareGroupHeartbeatRequest(group_id=share, member_id=uuid.uuid4().hex[:22],
                                                        member_epoch=0, subscribed_topic_names=["words"]), 1)
            assert r.error_code == ErrorCode.NONE
            Q = StreamsGroupHeartbeatRequest
            r = conn.request(Q(group_id=streams, member_id="m1", member_epoch=0, rebalance_timeout_ms=30000,
                               topology=Q.Topology(epoch=0, subtopologies=[Q.Subtopology(
                                   subtopology_id="0", source_topics=["words"])]),
                               process_id="p1", active_tasks=[], standby_tasks=[], warmup_tasks=[]), 1)
            assert r.error_code == ErrorCode.NONE
            before = _groups(conn)
        assert {g[:2] for g in before} == {(classic, "classic"), (consumer, "consumer"), (share, "share"),
                                           (streams, "streams")}

        broker.stop()
        caplog.clear()
        broker.start()
        with KafkaConnection(broker.bootstrap_servers) as conn:
            for group in (classic, consumer, share, streams):
                _coordinator_ready(conn, group)
            after = _groups(conn)
            assert [g[:2] for g in after] == [g[:2] for g in before]
            # The streams group's readiness is computed again on load (NotReady -> Stable).
            assert [g for g in after if g[1] != "streams"] == [g for g in before if g[1] != "streams"]
            described = conn.request(DescribeGroupsRequest(groups=[classic]), 5).groups[0]
            assert described.group_state == "Stable"
            assert [(m.member_id, m.member_assignment) for m in described.members] == [(member_id, b"assigned")]
            d = conn.request(ConsumerGroupDescribeRequest(group_ids=[consumer]), 0).groups[0]
            assert d.error_code == ErrorCode.NONE and len(d.members) == 1
        assert broker.committed_offsets(classic) == {("words", 1): 42}

    loads = Counter(tuple(map(int, m.groups())) for m in map(_LOADED.search, caplog.messages) if m)
    assert {p for p, _ in loads} == {0, 1, 2}
    assert set(loads.values()) == {1}  # one replay per partition and election, for all four kinds


def test_offsets_expire_on_each_partitions_timer(tmp_path: Any) -> None:
    group = f"expiring-{uuid.uuid4().hex[:6]}"
    with _broker(tmp_path, **{"offsets.retention.check.interval.ms": "200"}) as broker:
        with KafkaConnection(broker.bootstrap_servers) as conn:
            _coordinator_ready(conn, group)
            C = OffsetCommitRequest
            r = conn.request(C(group_id=group, retention_time_ms=1000, topics=[C.OffsetCommitRequestTopic(
                name="words", partitions=[C.OffsetCommitRequestPartition(partition_index=0, committed_offset=7)])]),
                2)
            assert r.topics[0].partitions[0].error_code == ErrorCode.NONE
            assert (group, "classic", "Empty") in _groups(conn)
        deadline = time.monotonic() + 30
        while broker.committed_offsets(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert broker.committed_offsets(group) == {}
        with KafkaConnection(broker.bootstrap_servers) as conn:
            assert group not in [g[0] for g in _groups(conn)]
        broker.stop()
        broker.start()
        with KafkaConnection(broker.bootstrap_servers) as conn:
            _coordinator_ready(conn, group)
            assert group not in [g[0] for g in _groups(conn)]  # the tombstones were written
        assert broker.committed_offsets(group) == {}
