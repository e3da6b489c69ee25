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

from collections.abc import Mapping
from typing import Any

from kafkapy.broker.coordinator.shard import KeyValue
from kafkapy.broker.groups.modern_records import RecordTypes, topic_partitions
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
SHARE_RECORDS = RecordTypes(
    group_metadata=GROUP_METADATA, member_metadata=MEMBER_METADATA,
    target_assignment_metadata=TARGET_ASSIGNMENT_METADATA, target_assignment_member=TARGET_ASSIGNMENT_MEMBER,
    current_member_assignment=CURRENT_MEMBER_ASSIGNMENT, classes=RECORD_TYPES,
    group_extras=(STATE_PARTITION_METADATA,))

#: topic id -> partitions
Assignment = Mapping[bytes, frozenset[int]]
_record = SHARE_RECORDS.record
member_tombstones = SHARE_RECORDS.member_tombstones
#: A share-group record, or None for other record types of ``__consumer_offsets``.
decode_share_record = SHARE_RECORDS.decode


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
                   V(topic_partitions=topic_partitions(V.TopicPartition, assignment)))


def current_assignment_record(group_id: str, member_id: str, *, member_epoch: int, previous_member_epoch: int,
                              assigned: Assignment) -> KeyValue:
    V = ShareGroupCurrentMemberAssignmentValue
    return _record(CURRENT_MEMBER_ASSIGNMENT, group_id, member_id, V(
        member_epoch=member_epoch, previous_member_epoch=previous_member_epoch, state=0,
        assigned_partitions=topic_partitions(V.TopicPartitions, assigned)))


def state_partition_metadata_record(group_id: str, initialized: Mapping[bytes, tuple[str, frozenset[int]]]) -> KeyValue:
    V = ShareGroupStatePartitionMetadataValue
    return _record(STATE_PARTITION_METADATA, group_id, None, V(
        initializing_topics=[], deleting_topics=[],
        initialized_topics=[V.TopicPartitionsInfo(topic_id=t, topic_name=name, partitions=sorted(ps))
                            for t, (name, ps) in sorted(initialized.items())]))


def group_tombstones(group_id: str, member_ids: list[str]) -> list[KeyValue]:
    """Everything of a group: members, target epoch, state metadata, then the group."""
    return SHARE_RECORDS.group_tombstones(group_id, member_ids)
