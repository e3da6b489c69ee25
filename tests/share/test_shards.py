"""The share coordinator and share-group shards as pure state machines: operations give
records, replaying the records gives the state (what a reload from the log rebuilds)."""

from __future__ import annotations

from typing import Any

import pytest

from kafkapy.broker.coordinator.shard import CoordinatorError, CoordinatorResult, ShardContext
from kafkapy.broker.share.coordinator import ShareCoordinatorShard, ShareKey, merge_batches
from kafkapy.broker.share.group import ShareMember, simple_assign
from kafkapy.broker.share.partition import StateBatch as B
from kafkapy.config import BrokerConfig
from kafkapy.kraft.metadata.image import MetadataImage, TopicImage
from kafkapy.wire.error_codes import ErrorCode

KEY = ShareKey("g", b"\x01" * 16, 0)


class _Timer:
    def __init__(self) -> None:
        self.keys: dict[Any, Any] = {}

    def schedule(self, key: Any, delay_ms: int, op: Any) -> None:
        self.keys[key] = op

    def cancel(self, key: Any) -> None:
        self.keys.pop(key, None)

    def is_scheduled(self, key: Any) -> bool:
        return key in self.keys


def _context(**props: str) -> ShardContext:
    config = BrokerConfig.from_properties({"node.id": "1", "process.roles": "broker,controller", **props})
    return ShardContext(partition=0, leader_epoch=0, timer=_Timer(), now_ms=lambda: 1000,
                        image=lambda: MetadataImage(), config=config)


def _apply(shard: Any, result: CoordinatorResult[Any]) -> Any:
    for i, (key, value) in enumerate(result.records):
        shard.replay(i, -1, key, value)
    return result.response


def test_merge_batches_overlays_and_drops_below_the_start() -> None:
    assert merge_batches([B(0, 9, 0, 1)], [B(3, 4, 2, 1)], 2) == [B(2, 2, 0, 1), B(3, 4, 2, 1), B(5, 9, 0, 1)]
    assert merge_batches([B(0, 3, 2, 1), B(4, 5, 2, 1)], [], 0) == [B(0, 5, 2, 1)]


def test_writes_become_updates_then_a_snapshot_and_a_reload_gives_the_same_state() -> None:
    shard = ShareCoordinatorShard(_context(**{"share.coordinator.snapshot.update.records.per.snapshot": "2"}))
    _apply(shard, shard.initialize(KEY, 0, 10))
    kinds = []
    log = []
    for i in range(4):
        result = shard.write(KEY, state_epoch=0, leader_epoch=1, start_offset=10 + i, delivery_complete_count=0,
                             batches=[B(10 + i, 12 + i, 0, 1)])
        kinds.append(int.from_bytes(result.records[0][0][:2], "big"))
        log += result.records
        _apply(shard, result)
    assert kinds == [1, 1, 0, 1]  # ShareUpdate, ShareUpdate, then a ShareSnapshot, then ShareUpdate
    state = shard.states[KEY]
    assert state.start_offset == 13 and state.batches == [B(13, 15, 0, 1)]
    reloaded = ShareCoordinatorShard(_context())
    _apply(reloaded, shard.initialize(KEY, 0, 10))
    for i, (key, value) in enumerate(log):
        reloaded.replay(i, -1, key, value)
    assert reloaded.states[KEY].start_offset == 13 and reloaded.states[KEY].batches == state.batches


def test_fencing_and_reads() -> None:
    shard = ShareCoordinatorShard(_context())
    with pytest.raises(CoordinatorError) as uninitialized:  # never initialized: Kafka 4.4 refuses the read
        shard.read(KEY, 0)
    assert uninitialized.value.code == ErrorCode.INVALID_REQUEST
    _apply(shard, shard.initialize(KEY, 1, 5))
    _apply(shard, shard.read(KEY, 3))  # the leader epoch 3 is recorded
    with pytest.raises(CoordinatorError) as stale_leader:
        shard.write(KEY, state_epoch=1, leader_epoch=2, start_offset=5, delivery_complete_count=0, batches=[])
    assert stale_leader.value.code == ErrorCode.FENCED_LEADER_EPOCH
    with pytest.raises(CoordinatorError) as stale_state:
        shard.write(KEY, state_epoch=0, leader_epoch=3, start_offset=5, delivery_complete_count=0, batches=[])
    assert stale_state.value.code == ErrorCode.FENCED_STATE_EPOCH
    _apply(shard, shard.delete(KEY))
    assert KEY not in shard.states


def test_simple_assignor_spreads_partitions_and_shares_them_when_members_outnumber_them() -> None:
    t1, t2 = b"\x01" * 16, b"\x02" * 16
    image = MetadataImage(topics_by_name={"a": TopicImage("a", t1, {0: None, 1: None, 2: None}),  # type: ignore
                                          "b": TopicImage("b", t2, {0: None})})  # type: ignore
    members = {m: ShareMember(m, subscribed_topic_names=("a", "b")) for m in ("m1", "m2")}
    target = simple_assign(members, image)
    assert target["m1"] == {t1: frozenset({0, 2}), t2: frozenset({0})}
    assert target["m2"] == {t1: frozenset({1}), t2: frozenset({0})}


def test_share_version_gates_share_groups_from_metadata_version_4_2() -> None:
    from kafkapy.broker.handlers.share_groups import share_groups_enabled

    assert share_groups_enabled(MetadataImage(features={"metadata.version": 27}))
    assert not share_groups_enabled(MetadataImage(features={"metadata.version": 28}))
    assert share_groups_enabled(MetadataImage(features={"metadata.version": 31, "share.version": 2}))


def test_share_group_heartbeats_join_assign_and_leave_through_records() -> None:
    from kafkapy.broker.share.group_shard import ShareGroupShard
    from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest as Q

    t1 = b"\x01" * 16
    image = MetadataImage(topics_by_name={"a": TopicImage("a", t1, {0: None})},  # type: ignore[dict-item]
                          topics_by_id={t1: TopicImage("a", t1, {0: None})})  # type: ignore[dict-item]
    context = _context()
    context.image = lambda: image
    shard = ShareGroupShard(context, other_group=lambda group_id: group_id == "classic")
    with pytest.raises(CoordinatorError) as invalid:
        shard.heartbeat(Q(group_id="g", member_id="m1", member_epoch=0), "c", "/h")
    assert invalid.value.code == ErrorCode.INVALID_REQUEST  # no topics on a join
    with pytest.raises(CoordinatorError) as taken:
        shard.heartbeat(Q(group_id="classic", member_id="m1", member_epoch=0, subscribed_topic_names=["a"]), "c", "/h")
    assert taken.value.code == ErrorCode.GROUP_ID_NOT_FOUND
    first = _apply(shard, shard.heartbeat(Q(group_id="g", member_id="m1", member_epoch=0,
                                             subscribed_topic_names=["a"]), "c", "/h"))
    second = _apply(shard, shard.heartbeat(Q(group_id="g", member_id="m2", member_epoch=0,
                                              subscribed_topic_names=["a"]), "c", "/h"))
    # A new group is at epoch 1 (Kafka 4.4), each join bumps it.
    assert (first.member_epoch, second.member_epoch) == (2, 3)
    # One partition, two members: both are assigned it (a share group shares it).
    assert [(t.topic_id, t.partitions) for t in second.assignment.topic_partitions] == [(t1, [0])]
    again = _apply(shard, shard.heartbeat(Q(group_id="g", member_id="m1", member_epoch=2), "c", "/h"))
    assert again.member_epoch == 3 and again.assignment is None  # the assignment did not change
    with pytest.raises(CoordinatorError) as fenced:
        shard.heartbeat(Q(group_id="g", member_id="m1", member_epoch=7), "c", "/h")
    assert fenced.value.code == ErrorCode.FENCED_MEMBER_EPOCH
    left = _apply(shard, shard.heartbeat(Q(group_id="g", member_id="m2", member_epoch=-1), "c", "/h"))
    assert (left.member_epoch, left.heartbeat_interval_ms) == (-1, 0)
    group = shard.groups["g"]
    assert list(group.members) == ["m1"] and group.group_epoch == 4 and group.initialized[t1][0] == "a"
    assert shard.describe("g").group_state == "Stable"
    assert shard.describe("classic").error_code == ErrorCode.GROUP_ID_NOT_FOUND
