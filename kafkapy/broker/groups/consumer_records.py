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

from typing import Any

from kafkapy.broker.coordinator.shard import KeyValue
from kafkapy.broker.groups.consumer_group import (
    Assignment,
    ConsumerGroup,
    ConsumerMember,
    MemberState,
)
from kafkapy.broker.groups.modern_records import (
    GroupReplay,
    ModernRecord,
    RecordTypes,
    assignment_of,
    topic_partitions,
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
CONSUMER_RECORDS = RecordTypes(
    group_metadata=GROUP_METADATA, member_metadata=MEMBER_METADATA,
    target_assignment_metadata=TARGET_ASSIGNMENT_METADATA, target_assignment_member=TARGET_ASSIGNMENT_MEMBER,
    current_member_assignment=CURRENT_MEMBER_ASSIGNMENT, classes=RECORD_TYPES)
#: A decoded consumer-group record; ``value`` None for a tombstone.
ConsumerRecord = ModernRecord
_record = CONSUMER_RECORDS.record
member_tombstones = CONSUMER_RECORDS.member_tombstones
#: A consumer-group record, or None for types not kept (see the module doc).
decode_consumer_record = CONSUMER_RECORDS.decode


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
                   V(topic_partitions=topic_partitions(V.TopicPartition, assignment)))


def current_assignment_record(group_id: str, m: ConsumerMember) -> KeyValue:
    V = ConsumerGroupCurrentMemberAssignmentValue
    return _record(CURRENT_MEMBER_ASSIGNMENT, group_id, m.member_id, V(
        member_epoch=m.member_epoch, previous_member_epoch=m.previous_member_epoch, state=int(m.state),
        assigned_partitions=topic_partitions(V.TopicPartitions, m.assigned),
        partitions_pending_revocation=topic_partitions(V.TopicPartitions, m.pending_revocation)))


def group_tombstones(group: ConsumerGroup) -> list[KeyValue]:
    """Everything of a group but its offsets: members, then target epoch, then the group."""
    return CONSUMER_RECORDS.group_tombstones(group.group_id, group.members)


def _member_metadata(v: ConsumerGroupMemberMetadataValue) -> dict[str, Any]:
    return dict(instance_id=v.instance_id, rack_id=v.rack_id, client_id=v.client_id, client_host=v.client_host,
                subscribed_topic_names=tuple(v.subscribed_topic_names), subscribed_topic_regex=v.subscribed_topic_regex,
                rebalance_timeout_ms=v.rebalance_timeout_ms, server_assignor=v.server_assignor)


def _current_assignment(v: ConsumerGroupCurrentMemberAssignmentValue) -> dict[str, Any]:
    state = MemberState(v.state) if v.state in MemberState._value2member_map_ else MemberState.STABLE
    return dict(member_epoch=v.member_epoch, previous_member_epoch=v.previous_member_epoch, state=state,
                assigned=assignment_of(v.assigned_partitions),
                pending_revocation=assignment_of(v.partitions_pending_revocation))


#: Apply one record to the consumer groups being rebuilt from the log.
replay: GroupReplay[ConsumerGroup] = GroupReplay(
    CONSUMER_RECORDS, new_group=ConsumerGroup, new_member=ConsumerMember,
    target=lambda v: assignment_of(v.topic_partitions),
    member_metadata=_member_metadata, current_assignment=_current_assignment)
