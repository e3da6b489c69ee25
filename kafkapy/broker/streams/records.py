"""``__consumer_offsets`` records of streams groups, as Kafka 4.4 writes them.

Key and value are each an int16 version followed by a message of Kafka's
group-coordinator schemas (``StreamsGroup*.json``); the key's version says the type:

===  ============================================  ===============================
key  record                                        what it holds
===  ============================================  ===============================
17   StreamsGroupMetadata (group)                  group epoch, metadata hash
19   StreamsGroupMemberMetadata (group, member)    process, endpoint, client identity
20   StreamsGroupTargetAssignmentMetadata (group)  assignment epoch
21   StreamsGroupTargetAssignmentMember            a member's target tasks
22   StreamsGroupCurrentMemberAssignment           member epoch, state, tasks
23   StreamsGroupTopology (group)                  the topology the group runs
===  ============================================  ===============================

Type 18 (StreamsGroupPartitionMetadata) was dropped by Kafka 4.2 for the metadata hash
(KIP-1101) and is neither written nor read. A null value is a tombstone; values are
written at version 0. Encoding, decoding and tombstones are
:mod:`kafkapy.broker.groups.modern_records`'s, as for consumer and share groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from kafkapy.broker.coordinator.shard import KeyValue
from kafkapy.broker.groups.modern_records import ModernRecord, RecordTypes
from kafkapy.wire.messages.streams_group_current_member_assignment_key import StreamsGroupCurrentMemberAssignmentKey
from kafkapy.wire.messages.streams_group_current_member_assignment_value import (
    StreamsGroupCurrentMemberAssignmentValue,
)
from kafkapy.wire.messages.streams_group_member_metadata_key import StreamsGroupMemberMetadataKey
from kafkapy.wire.messages.streams_group_member_metadata_value import StreamsGroupMemberMetadataValue
from kafkapy.wire.messages.streams_group_metadata_key import StreamsGroupMetadataKey
from kafkapy.wire.messages.streams_group_metadata_value import StreamsGroupMetadataValue
from kafkapy.wire.messages.streams_group_target_assignment_member_key import StreamsGroupTargetAssignmentMemberKey
from kafkapy.wire.messages.streams_group_target_assignment_member_value import (
    StreamsGroupTargetAssignmentMemberValue,
)
from kafkapy.wire.messages.streams_group_target_assignment_metadata_key import (
    StreamsGroupTargetAssignmentMetadataKey,
)
from kafkapy.wire.messages.streams_group_target_assignment_metadata_value import (
    StreamsGroupTargetAssignmentMetadataValue,
)
from kafkapy.wire.messages.streams_group_topology_key import StreamsGroupTopologyKey
from kafkapy.wire.messages.streams_group_topology_value import StreamsGroupTopologyValue

GROUP_METADATA = 17
MEMBER_METADATA = 19
TARGET_ASSIGNMENT_METADATA = 20
TARGET_ASSIGNMENT_MEMBER = 21
CURRENT_MEMBER_ASSIGNMENT = 22
TOPOLOGY = 23
RECORD_TYPES: dict[int, tuple[Any, Any]] = {
    GROUP_METADATA: (StreamsGroupMetadataKey, StreamsGroupMetadataValue),
    MEMBER_METADATA: (StreamsGroupMemberMetadataKey, StreamsGroupMemberMetadataValue),
    TARGET_ASSIGNMENT_METADATA: (StreamsGroupTargetAssignmentMetadataKey, StreamsGroupTargetAssignmentMetadataValue),
    TARGET_ASSIGNMENT_MEMBER: (StreamsGroupTargetAssignmentMemberKey, StreamsGroupTargetAssignmentMemberValue),
    CURRENT_MEMBER_ASSIGNMENT: (StreamsGroupCurrentMemberAssignmentKey, StreamsGroupCurrentMemberAssignmentValue),
    TOPOLOGY: (StreamsGroupTopologyKey, StreamsGroupTopologyValue),
}
STREAMS_RECORDS = RecordTypes(
    group_metadata=GROUP_METADATA, member_metadata=MEMBER_METADATA,
    target_assignment_metadata=TARGET_ASSIGNMENT_METADATA, target_assignment_member=TARGET_ASSIGNMENT_MEMBER,
    current_member_assignment=CURRENT_MEMBER_ASSIGNMENT, classes=RECORD_TYPES, group_extras=(TOPOLOGY,))

#: subtopology id -> partitions
TaskSet = Mapping[str, frozenset[int]]


class Tasks(NamedTuple):
    """Active, standby and warm-up tasks of one member."""

    active: TaskSet = {}
    standby: TaskSet = {}
    warmup: TaskSet = {}


#: A decoded streams-group record; ``value`` None for a tombstone.
StreamsRecord = ModernRecord
_record = STREAMS_RECORDS.record
member_tombstones = STREAMS_RECORDS.member_tombstones
#: A streams-group record, or None for other record types of ``__consumer_offsets``.
decode_streams_record = STREAMS_RECORDS.decode


def task_ids(cls: Any, tasks: TaskSet) -> list[Any]:
    return [cls(subtopology_id=s, partitions=sorted(ps)) for s, ps in sorted(tasks.items()) if ps]


def task_ids_with_epochs(cls: Any, tasks: TaskSet, epochs: Mapping[tuple[str, int], int]) -> list[Any]:
    """Active tasks with the epoch each was assigned at (Kafka 4.4's ``AssignmentEpochs``,
    which fence an old member's late offset commits)."""
    return [cls(subtopology_id=s, partitions=sorted(ps), assignment_epochs=[epochs[(s, p)] for p in sorted(ps)])
            for s, ps in sorted(tasks.items()) if ps]


def task_set(items: Any) -> dict[str, frozenset[int]]:
    return {t.subtopology_id: frozenset(t.partitions) for t in items or () if t.partitions}


def group_metadata_record(group_id: str, epoch: int, metadata_hash: int, validated_topology_epoch: int, *,
                          description_epochs: tuple[int, int] = (-1, -1)) -> KeyValue:
    """The group's metadata at an epoch; ``description_epochs`` the topology epochs a
    KIP-1331 description plugin holds and rejected, the group's own as Kafka's
    ``StreamsCoordinatorRecordHelpers.newStreamsGroupMetadataRecord`` is given them."""
    stored, failed = description_epochs
    return _record(GROUP_METADATA, group_id, None, StreamsGroupMetadataValue(
        epoch=epoch, metadata_hash=metadata_hash, validated_topology_epoch=validated_topology_epoch,
        stored_description_topology_epoch=stored, failed_description_topology_epoch=failed))


def member_metadata_record(group_id: str, member: Any) -> KeyValue:
    V = StreamsGroupMemberMetadataValue
    endpoint = None if member.user_endpoint is None else V.Endpoint(host=member.user_endpoint[0],
                                                                   port=member.user_endpoint[1])
    return _record(MEMBER_METADATA, group_id, member.member_id, V(
        instance_id=member.instance_id, rack_id=member.rack_id, client_id=member.client_id,
        client_host=member.client_host, rebalance_timeout_ms=member.rebalance_timeout_ms,
        topology_epoch=member.topology_epoch, process_id=member.process_id, user_endpoint=endpoint,
        client_tags=[V.KeyValue(key=k, value=v) for k, v in member.client_tags]))


def topology_record(group_id: str, value: StreamsGroupTopologyValue) -> KeyValue:
    return _record(TOPOLOGY, group_id, None, value)


def target_epoch_record(group_id: str, epoch: int, now_ms: int) -> KeyValue:
    return _record(TARGET_ASSIGNMENT_METADATA, group_id, None,
                   StreamsGroupTargetAssignmentMetadataValue(assignment_epoch=epoch, assignment_timestamp=now_ms))


def target_member_record(group_id: str, member_id: str, tasks: Tasks) -> KeyValue:
    V = StreamsGroupTargetAssignmentMemberValue
    return _record(TARGET_ASSIGNMENT_MEMBER, group_id, member_id, V(
        active_tasks=task_ids(V.TaskIds, tasks.active), standby_tasks=task_ids(V.TaskIds, tasks.standby),
        warmup_tasks=task_ids(V.TaskIds, tasks.warmup)))


def current_assignment_record(group_id: str, member_id: str, *, member_epoch: int, previous_member_epoch: int,
                              state: int, assigned: Tasks, pending: Tasks,
                              active_epochs: Mapping[tuple[str, int], int]) -> KeyValue:
    V = StreamsGroupCurrentMemberAssignmentValue
    return _record(CURRENT_MEMBER_ASSIGNMENT, group_id, member_id, V(
        member_epoch=member_epoch, previous_member_epoch=previous_member_epoch, state=state,
        active_tasks=task_ids_with_epochs(V.TaskIds, assigned.active, active_epochs),
        standby_tasks=task_ids(V.TaskIds, assigned.standby),
        warmup_tasks=task_ids(V.TaskIds, assigned.warmup),
        active_tasks_pending_revocation=task_ids(V.TaskIds, pending.active),
        standby_tasks_pending_revocation=task_ids(V.TaskIds, pending.standby),
        warmup_tasks_pending_revocation=task_ids(V.TaskIds, pending.warmup)))


def group_tombstones(group_id: str, member_ids: list[str]) -> list[KeyValue]:
    """Everything of a group: members, target epoch, topology, then the group
    (``StreamsGroup.createGroupTombstoneRecords``)."""
    return STREAMS_RECORDS.group_tombstones(group_id, member_ids)
