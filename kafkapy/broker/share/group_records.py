"""``__consumer_offsets`` records of share groups, as Kafka 4.4 writes them.

Key and value are each an int16 version followed by a message of Kafka's
group-coordinator schemas (``ShareGroup*.json``); the key's version says the type:

===  ============================================  ===============================
key  record                                        what it holds
===  ============================================  ===============================
10   ShareGroupMemberMetadata (group, member)      subscription, client identity
11   ShareGroupMetadata (group)                    group epoch, metadata hash
12   ShareGroupTargetAssignmentMetadata (group)    assignment epoch
13   ShareGroupTargetAssignmentMember              a member's target partitions
14   ShareGroupCurrentMemberAssignment             member epoch, state, partitions
15   ShareGroupStatePartitionMetadata (group)      topics whose share state exists
===  ============================================  ===============================

A null value is a tombstone. Values are written at version 0. Topic ids are the raw
16 bytes of the ``uuid`` fields.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

from kafkapy.broker.coordinator.shard import KeyValue
from kafkapy.broker.groups.classic_group import decode_versioned
from kafkapy.wire.messages.share_group_current_member_assignment_key import ShareGroupCurrentMemberAssignmentKey
from kafkapy.wire.messages.share_group_current_member_assignment_value import (
    ShareGroupCurrentMemberAssignmentValue,
)
from kafkapy.wire.messages.share_group_member_metadata_key import ShareGroupMemberMetadataKey
from kafkapy.wire.messages.share_group_member_metadata_value import ShareGroupMemberMetadataValue
from kafkapy.wire.messages.share_group_metadata_key import ShareGroupMetadataKey
from kafkapy.wire.messages.share_group_metadata_value import ShareGroupMetadataValue
from kafkapy.wire.messages.share_group_state_partition_metadata_key import ShareGroupStatePartitionMetadataKey
from kafkapy.wire.messages.share_group_state_partition_metadata_value import (
    ShareGroupStatePartitionMetadataValue,
)
from kafkapy.wire.messages.share_group_target_assignment_member_key import ShareGroupTargetAssignmentMemberKey
from kafkapy.wire.messages.share_group_target_assignment_member_value import (
    ShareGroupTargetAssignmentMemberValue,
)
from kafkapy.wire.messages.share_group_target_assignment_metadata_key import ShareGroupTargetAssignmentMetadataKey
from kafkapy.wire.messages.share_group_target_assignment_metadata_value import (
    ShareGroupTargetAssignmentMetadataValue,
)

MEMBER_METADATA = 10
GROUP_METADATA = 11
TARGET_ASSIGNMENT_METADATA = 12
TARGET_ASSIGNMENT_MEMBER = 13
CURRENT_MEMBER_ASSIGNMENT = 14
STATE_PARTITION_METADATA = 15
RECORD_TYPES: dict[int, tuple[Any, Any]] = {
    MEMBER_METADATA: (ShareGroupMemberMetadataKey, ShareGroupMemberMetadataValue),
    GROUP_METADATA: (ShareGroupMetadataKey, ShareGroupMetadataValue),
    TARGET_ASSIGNMENT_METADATA: (ShareGroupTargetAssignmentMetadataKey, ShareGroupTargetAssignmentMetadataValue),
    TARGET_ASSIGNMENT_MEMBER: (ShareGroupTargetAssignmentMemberKey, ShareGroupTargetAssignmentMemberValue),
    CURRENT_MEMBER_ASSIGNMENT: (ShareGroupCurrentMemberAssignmentKey, ShareGroupCurrentMemberAssignmentValue),
    STATE_PARTITION_METADATA: (ShareGroupStatePartitionMetadataKey, ShareGroupStatePartitionMetadataValue),
}
_VERSION = struct.Struct(">h")

#: topic id -> partitions
Assignment = Mapping[bytes, frozenset[int]]


class ShareRecord(NamedTuple):
    """A decoded share-group record; ``value`` None for a tombstone."""

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
    return key_bytes, _VERSION.pack(0) + value.to_bytes(0)


def _parts(cls: Any, assignment: Assignment) -> list[Any]:
    return [cls(topic_id=t, partitions=sorted(ps)) for t, ps in sorted(assignment.items())]


def member_metadata_record(group_id: str, member_id: str, *, rack_id: str | None, client_id: str,
                           client_host: str, topics: tuple[str, ...]) -> KeyValue:
    return _record(MEMBER_METADATA, group_id, member_id, ShareGroupMemberMetadataValue(
        rack_id=rack_id, client_id=client_id, client_host=client_host, subscribed_topic_names=list(topics)))


def group_metadata_record(group_id: str, epoch: int, metadata_hash: int) -> KeyValue:
    return _record(GROUP_METADATA, group_id, None, ShareGroupMetadataValue(epoch=epoch, metadata_hash=metadata_hash))


def target_epoch_record(group_id: str, epoch: int, now_ms: int) -> KeyValue:
    return _record(TARGET_ASSIGNMENT_METADATA, group_id, None,
                   ShareGroupTargetAssignmentMetadataValue(assignment_epoch=epoch, assignment_timestamp=now_ms))


def target_member_record(group_id: str, member_id: str, assignment: Assignment) -> KeyValue:
    V = ShareGroupTargetAssignmentMemberValue
    return _record(TARGET_ASSIGNMENT_MEMBER, group_id, member_id,
                   V(topic_partitions=_parts(V.TopicPartition, assignment)))


def current_assignment_record(group_id: str, member_id: str, *, member_epoch: int, previous_member_epoch: int,
                              assigned: Assignment) -> KeyValue:
    V = ShareGroupCurrentMemberAssignmentValue
    return _record(CURRENT_MEMBER_ASSIGNMENT, group_id, member_id, V(
        member_epoch=member_epoch, previous_member_epoch=previous_member_epoch, state=0,
        assigned_partitions=_parts(V.TopicPartitions, assigned)))


def state_partition_metadata_record(group_id: str, initialized: Mapping[bytes, tuple[str, frozenset[int]]]) -> KeyValue:
    V = ShareGroupStatePartitionMetadataValue
    return _record(STATE_PARTITION_METADATA, group_id, None, V(
        initializing_topics=[], deleting_topics=[],
        initialized_topics=[V.TopicPartitionsInfo(topic_id=t, topic_name=name, partitions=sorted(ps))
                            for t, (name, ps) in sorted(initialized.items())]))


def member_tombstones(group_id: str, member_id: str) -> list[KeyValue]:
    """A member's removal, in Kafka's order: current assignment, target, subscription."""
    return [_record(t, group_id, member_id, None)
            for t in (CURRENT_MEMBER_ASSIGNMENT, TARGET_ASSIGNMENT_MEMBER, MEMBER_METADATA)]


def group_tombstones(group_id: str, member_ids: list[str]) -> list[KeyValue]:
    """Everything of a group: members, target epoch, state metadata, then the group."""
    records = [r for member_id in member_ids for r in member_tombstones(group_id, member_id)]
    for t in (TARGET_ASSIGNMENT_METADATA, STATE_PARTITION_METADATA, GROUP_METADATA):
        records.append(_record(t, group_id, None, None))
    return records


def decode_share_record(key: bytes, value: bytes | None) -> ShareRecord | None:
    """A share-group record, or None for other record types of ``__consumer_offsets``.

    Raises:
        WireError, ValueError: the bytes do not decode.
    """
    if len(key) < 2:
        return None
    record_type = _VERSION.unpack_from(key)[0]
    types = RECORD_TYPES.get(record_type)
    if types is None:
        return None
    key_cls, value_cls = types
    k = key_cls.decode(memoryview(key), 2, 0)[0]
    return ShareRecord(record_type, k.group_id, getattr(k, "member_id", None),
                       None if value is None else decode_versioned(value_cls, value))
