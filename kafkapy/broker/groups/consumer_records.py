"""``__consumer_offsets`` records of KIP-848 consumer groups, as Kafka 4.1 writes them.

Key and value are each an int16 version followed by a message of Kafka's
group-coordinator schemas (``kafkapy/wire/schemas/ConsumerGroup*.json``); the key's
version says the record type:

===  ==========================================  ==============================
key  record                                      what it holds
===  ==========================================  ==============================
3    ConsumerGroupMetadata (group)               group epoch, metadata hash
5    ConsumerGroupMemberMetadata (group, member) subscription, client identity
6    ConsumerGroupTargetAssignmentMetadata       assignment epoch
7    ConsumerGroupTargetAssignmentMember         a member's target partitions
8    ConsumerGroupCurrentMemberAssignment        member epochs, state, partitions
===  ==========================================  ==============================

Type 4 (ConsumerGroupPartitionMetadata) is no longer written since Kafka 4.1: the
metadata hash in the group record replaced it (KIP-1101); it is skipped on replay,
like the resolved-regex records (type 16), which are recomputed from the metadata
image. A null value is a tombstone. All values are written at version 0.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable
from typing import Any, NamedTuple

from kafkapy.broker.groups.classic_group import decode_versioned
from kafkapy.broker.groups.consumer_group import (
    Assignment,
    ConsumerGroup,
    ConsumerMember,
    MemberState,
    normalized,
)
from kafkapy.wire.messages.consumer_group_current_member_assignment_key import (
    ConsumerGroupCurrentMemberAssignmentKey,
)
from kafkapy.wire.messages.consumer_group_current_member_assignment_value import (
    ConsumerGroupCurrentMemberAssignmentValue,
)
from kafkapy.wire.messages.consumer_group_member_metadata_key import (
    ConsumerGroupMemberMetadataKey,
)
from kafkapy.wire.messages.consumer_group_member_metadata_value import (
    ConsumerGroupMemberMetadataValue,
)
from kafkapy.wire.messages.consumer_group_metadata_key import ConsumerGroupMetadataKey
from kafkapy.wire.messages.consumer_group_metadata_value import (
    ConsumerGroupMetadataValue,
)
from kafkapy.wire.messages.consumer_group_target_assignment_member_key import (
    ConsumerGroupTargetAssignmentMemberKey,
)
from kafkapy.wire.messages.consumer_group_target_assignment_member_value import (
    ConsumerGroupTargetAssignmentMemberValue,
)
from kafkapy.wire.messages.consumer_group_target_assignment_metadata_key import (
    ConsumerGroupTargetAssignmentMetadataKey,
)
from kafkapy.wire.messages.consumer_group_target_assignment_metadata_value import (
    ConsumerGroupTargetAssignmentMetadataValue,
)

GROUP_METADATA = 3
MEMBER_METADATA = 5
TARGET_ASSIGNMENT_METADATA = 6
TARGET_ASSIGNMENT_MEMBER = 7
CURRENT_MEMBER_ASSIGNMENT = 8
#: Record types of consumer groups: key version -> (key class, value class)
RECORD_TYPES: dict[int, tuple[Any, Any]] = {
    GROUP_METADATA: (ConsumerGroupMetadataKey, ConsumerGroupMetadataValue),
    MEMBER_METADATA: (ConsumerGroupMemberMetadataKey, ConsumerGroupMemberMetadataValue),
    TARGET_ASSIGNMENT_METADATA: (ConsumerGroupTargetAssignmentMetadataKey, ConsumerGroupTargetAssignmentMetadataValue),
    TARGET_ASSIGNMENT_MEMBER: (ConsumerGroupTargetAssignmentMemberKey, ConsumerGroupTargetAssignmentMemberValue),
    CURRENT_MEMBER_ASSIGNMENT: (ConsumerGroupCurrentMemberAssignmentKey, ConsumerGroupCurrentMemberAssignmentValue),
}
_VERSION = struct.Struct(">h")
_VALUE_VERSION = 0

KeyValue = tuple[bytes, "bytes | None"]


class ConsumerRecord(NamedTuple):
    """A decoded consumer-group record; ``value`` None for a tombstone."""

    record_type: int
    group_id: str
    member_id: str | None
    value: Any


def _record(record_type: int, group_id: str, member_id: str | None, value: Any) -> KeyValue:
    key_cls, _ = RECORD_TYPES[record_type]
    key = key_cls(group_id=group_id) if member_id is None else key_cls(group_id=group_id, member_id=member_id)
    key_bytes = _VERSION.pack(record_type) + key.to_bytes(0)
    if value is None:
        return key_bytes, None
    return key_bytes, _VERSION.pack(_VALUE_VERSION) + value.to_bytes(_VALUE_VERSION)


def _topic_partitions(cls: Any, assignment: Assignment) -> list[Any]:
    return [cls(topic_id=t, partitions=sorted(ps)) for t, ps in sorted(assignment.items())]


def group_epoch_record(group: ConsumerGroup) -> KeyValue:
    return _record(GROUP_METADATA, group.group_id, None,
                   ConsumerGroupMetadataValue(epoch=group.group_epoch, metadata_hash=group.metadata_hash))


def member_metadata_record(group_id: str, m: ConsumerMember) -> KeyValue:
    return _record(MEMBER_METADATA, group_id, m.member_id, ConsumerGroupMemberMetadataValue(
        instance_id=m.instance_id, rack_id=m.rack_id, client_id=m.client_id, client_host=m.client_host,
        subscribed_topic_names=list(m.subscribed_topic_names), subscribed_topic_regex=m.subscribed_topic_regex,
        rebalance_timeout_ms=m.rebalance_timeout_ms, server_assignor=m.server_assignor))


def target_epoch_record(group: ConsumerGroup) -> KeyValue:
    return _record(TARGET_ASSIGNMENT_METADATA, group.group_id, None,
                   ConsumerGroupTargetAssignmentMetadataValue(assignment_epoch=group.assignment_epoch))


def target_member_record(group_id: str, member_id: str, assignment: Assignment) -> KeyValue:
    V = ConsumerGroupTargetAssignmentMemberValue
    return _record(TARGET_ASSIGNMENT_MEMBER, group_id, member_id,
                   V(topic_partitions=_topic_partitions(V.TopicPartition, assignment)))


def current_assignment_record(group_id: str, m: ConsumerMember) -> KeyValue:
    V = ConsumerGroupCurrentMemberAssignmentValue
    return _record(CURRENT_MEMBER_ASSIGNMENT, group_id, m.member_id, V(
        member_epoch=m.member_epoch, previous_member_epoch=m.previous_member_epoch, state=int(m.state),
        assigned_partitions=_topic_partitions(V.TopicPartitions, m.assigned),
        partitions_pending_revocation=_topic_partitions(V.TopicPartitions, m.pending_revocation)))


def member_tombstones(group_id: str, member_id: str) -> list[KeyValue]:
    """A member's removal, in Kafka's order: current assignment, target, subscription."""
    return [_record(t, group_id, member_id, None)
            for t in (CURRENT_MEMBER_ASSIGNMENT, TARGET_ASSIGNMENT_MEMBER, MEMBER_METADATA)]


def group_tombstones(group: ConsumerGroup) -> list[KeyValue]:
    """Everything of a group but its offsets: members, then target epoch, then the group."""
    records = [r for member_id in group.members for r in member_tombstones(group.group_id, member_id)]
    records.append(_record(TARGET_ASSIGNMENT_METADATA, group.group_id, None, None))
    records.append(_record(GROUP_METADATA, group.group_id, None, None))
    return records


def decode_consumer_record(record_type: int, key: bytes, value: bytes | None) -> ConsumerRecord | None:
    """A consumer-group record, or None for types not kept (see the module doc).

    Raises:
        WireError, ValueError: the bytes do not decode.
    """
    types = RECORD_TYPES.get(record_type)
    if types is None:
        return None
    key_cls, value_cls = types
    k = key_cls.decode(memoryview(key), 2, 0)[0]
    return ConsumerRecord(record_type, k.group_id, getattr(k, "member_id", None),
                          None if value is None else decode_versioned(value_cls, value))


def _assignment(items: Iterable[Any]) -> dict[bytes, frozenset[int]]:
    return normalized({t.topic_id: t.partitions for t in items})


def replay(groups: dict[str, ConsumerGroup], rec: ConsumerRecord) -> None:
    """Apply one record to the groups being rebuilt from the log."""
    group = groups.get(rec.group_id)
    v = rec.value
    if rec.record_type == GROUP_METADATA:
        if v is None:
            groups.pop(rec.group_id, None)
            return
        if group is None:
            group = groups[rec.group_id] = ConsumerGroup(rec.group_id)
        group.group_epoch, group.metadata_hash = v.epoch, v.metadata_hash
        return
    if group is None:
        if v is None:
            return
        group = groups[rec.group_id] = ConsumerGroup(rec.group_id)
    member_id = rec.member_id or ""
    if rec.record_type == TARGET_ASSIGNMENT_METADATA:
        if v is not None:
            group.assignment_epoch = v.assignment_epoch
    elif rec.record_type == TARGET_ASSIGNMENT_MEMBER:
        if v is None:
            group.target.pop(member_id, None)
        else:
            group.target[member_id] = _assignment(v.topic_partitions)
    elif rec.record_type == MEMBER_METADATA:
        if v is None:
            group.remove_member(member_id)
            return
        base = group.members.get(member_id) or ConsumerMember(member_id)
        group.put_member(dataclasses.replace(
            base, instance_id=v.instance_id, rack_id=v.rack_id, client_id=v.client_id, client_host=v.client_host,
            subscribed_topic_names=tuple(v.subscribed_topic_names), subscribed_topic_regex=v.subscribed_topic_regex,
            rebalance_timeout_ms=v.rebalance_timeout_ms, server_assignor=v.server_assignor))
    elif rec.record_type == CURRENT_MEMBER_ASSIGNMENT and v is not None:
        base = group.members.get(member_id) or ConsumerMember(member_id)
        state = MemberState(v.state) if v.state in MemberState._value2member_map_ else MemberState.STABLE
        group.put_member(dataclasses.replace(
            base, member_epoch=v.member_epoch, previous_member_epoch=v.previous_member_epoch, state=state,
            assigned=_assignment(v.assigned_partitions), pending_revocation=_assignment(v.partitions_pending_revocation)))
