"""Consumer, share and streams groups' ``__consumer_offsets`` records through the one codec and
replay they share (:mod:`kafkapy.broker.groups.modern_records`): a group written as
records and replayed is the group again, tombstones in Kafka's order remove it, and
each kind reads only its own record types."""

from __future__ import annotations

from kafkapy.broker.groups import consumer_records as consumer
from kafkapy.broker.groups.consumer_group import ConsumerGroup, ConsumerMember, MemberState
from kafkapy.broker.share import group as share_group
from kafkapy.broker.share import group_records as share
from kafkapy.broker.streams import group as streams_group
from kafkapy.broker.streams import records as streams
from kafkapy.wire.messages.streams_group_topology_value import StreamsGroupTopologyValue

T1, T2 = b"\x01" * 16, b"\x02" * 16


def _replay_consumer(groups: dict[str, ConsumerGroup], records: list) -> None:
    for key, value in records:
        rec = consumer.decode_consumer_record(key, value)
        assert rec is not None
        consumer.replay(groups, rec)


def test_a_consumer_group_replayed_from_its_records_is_the_group_again() -> None:
    member = ConsumerMember("m1", instance_id="i1", rack_id="r", client_id="c", client_host="/127.0.0.1",
                            subscribed_topic_names=("a", "b"), rebalance_timeout_ms=30_000, server_assignor="range",
                            member_epoch=4, previous_member_epoch=3, state=MemberState.UNREVOKED_PARTITIONS,
                            assigned={T1: frozenset({0, 2})}, pending_revocation={T2: frozenset({1})})
    group = ConsumerGroup("g")
    group.group_epoch, group.metadata_hash, group.assignment_epoch = 5, -17, 4
    records = [consumer.group_epoch_record(group), consumer.member_metadata_record("g", member),
               consumer.target_epoch_record(group), consumer.target_member_record("g", "m1", {T1: frozenset({0})}),
               consumer.current_assignment_record("g", member)]
    groups: dict[str, ConsumerGroup] = {}
    _replay_consumer(groups, records)
    rebuilt = groups["g"]
    assert (rebuilt.group_epoch, rebuilt.metadata_hash, rebuilt.assignment_epoch) == (5, -17, 4)
    assert rebuilt.members == {"m1": member}
    assert rebuilt.target == {"m1": {T1: frozenset({0})}}
    assert rebuilt.static_members == {"i1": "m1"}

    tombstones = consumer.group_tombstones(rebuilt)
    assert [consumer.decode_consumer_record(k, v).record_type for k, v in tombstones] == [
        consumer.CURRENT_MEMBER_ASSIGNMENT, consumer.TARGET_ASSIGNMENT_MEMBER, consumer.MEMBER_METADATA,
        consumer.TARGET_ASSIGNMENT_METADATA, consumer.GROUP_METADATA]
    assert all(v is None for _, v in tombstones)
    _replay_consumer(groups, tombstones)
    assert groups == {}


def test_a_share_group_replayed_from_its_records_is_the_group_again() -> None:
    records = [share.group_metadata_record("s", 3, 99),
               share.member_metadata_record("s", "m", rack_id=None, client_id="c", client_host="/h", topics=("a",)),
               share.target_epoch_record("s", 3, 1000),
               share.target_member_record("s", "m", {T1: frozenset({0, 1})}),
               share.current_assignment_record("s", "m", member_epoch=3, previous_member_epoch=2,
                                               assigned={T1: frozenset({0, 1})}),
               share.state_partition_metadata_record("s", {T1: ("a", frozenset({0, 1}))})]
    groups: dict[str, share_group.ShareGroup] = {}
    for key, value in records:
        share_group.replay(groups, share.decode_share_record(key, value))
    g = groups["s"]
    assert (g.group_epoch, g.metadata_hash, g.assignment_epoch) == (3, 99, 3)
    assert g.members == {"m": share_group.ShareMember("m", 3, 2, None, "c", "/h", ("a",), {T1: frozenset({0, 1})})}
    assert g.target == {"m": {T1: frozenset({0, 1})}}
    assert g.initialized == {T1: ("a", frozenset({0, 1}))}

    tombstones = share.group_tombstones("s", ["m"])
    assert [share.decode_share_record(k, v).record_type for k, v in tombstones] == [
        share.CURRENT_MEMBER_ASSIGNMENT, share.TARGET_ASSIGNMENT_MEMBER, share.MEMBER_METADATA,
        share.TARGET_ASSIGNMENT_METADATA, share.STATE_PARTITION_METADATA, share.GROUP_METADATA]
    for key, value in tombstones:
        share_group.replay(groups, share.decode_share_record(key, value))
    assert groups == {}


def test_each_kind_reads_only_its_own_record_types() -> None:
    consumer_key, _ = consumer.group_epoch_record(ConsumerGroup("g"))
    share_key, _ = share.group_metadata_record("g", 1, 0)
    assert share.decode_share_record(consumer_key, None) is None
    assert consumer.decode_consumer_record(share_key, None) is None
    assert consumer.decode_consumer_record(b"\x00", None) is None


def test_a_streams_group_replayed_from_its_records_is_the_group_again() -> None:
    member = streams_group.StreamsMember(
        "m", member_epoch=3, previous_member_epoch=2, state=streams_group.UNREVOKED_TASKS, instance_id="i",
        client_id="c", client_host="/h", rebalance_timeout_ms=30_000, topology_epoch=1, process_id="p",
        user_endpoint=("localhost", 8080), client_tags=(("zone", "a"),),
        assigned=streams.Tasks({"0": frozenset({0, 1})}, {"1": frozenset({0})}, {}),
        pending_revocation=streams.Tasks({"0": frozenset({2})}, {}, {}),
        active_epochs={("0", 0): 2, ("0", 1): 3})
    topology = StreamsGroupTopologyValue(epoch=1, subtopologies=[])
    records = [streams.group_metadata_record("st", 3, 7, 1), streams.topology_record("st", topology),
               streams.member_metadata_record("st", member), streams.target_epoch_record("st", 3, 1000),
               streams.target_member_record("st", "m", member.assigned),
               streams.current_assignment_record(
                   "st", "m", member_epoch=3, previous_member_epoch=2, state=streams_group.UNREVOKED_TASKS,
                   assigned=member.assigned, pending=member.pending_revocation, active_epochs=member.active_epochs)]
    groups: dict[str, streams_group.StreamsGroup] = {}
    for key, value in records:
        streams_group.replay(groups, streams.decode_streams_record(key, value))
    g = groups["st"]
    assert (g.group_epoch, g.metadata_hash, g.validated_topology_epoch, g.assignment_epoch) == (3, 7, 1, 3)
    assert g.topology == topology
    assert g.members == {"m": member}
    assert g.target == {"m": member.assigned}

    tombstones = streams.group_tombstones("st", ["m"])
    assert [streams.decode_streams_record(k, v).record_type for k, v in tombstones] == [
        streams.CURRENT_MEMBER_ASSIGNMENT, streams.TARGET_ASSIGNMENT_MEMBER, streams.MEMBER_METADATA,
        streams.TARGET_ASSIGNMENT_METADATA, streams.TOPOLOGY, streams.GROUP_METADATA]
    for key, value in tombstones[:3]:
        streams_group.replay(groups, streams.decode_streams_record(key, value))
    assert g.members == {} and g.target == {}
    for key, value in tombstones[3:]:
        streams_group.replay(groups, streams.decode_streams_record(key, value))
    assert groups == {}
    assert streams.decode_streams_record(share.group_metadata_record("st", 1, 0)[0], None) is None
