"""Partition reassignment: AlterPartitionReassignments and ListPartitionReassignments
(KIP-455), as Kafka's ``ReplicationControlManager.alterPartitionReassignments`` and
``listPartitionReassignments`` do them.

A reassignment to a target replica list goes through the partition's own metadata:

1. One PartitionChangeRecord sets replicas = target followed by the replicas being
   removed, ``adding_replicas`` = target - current and ``removing_replicas`` =
   current - target (both sorted). The brokers of adding replicas create them and fetch
   from the leader.
2. The leader adds each caught-up replica to the ISR with AlterPartition. When the ISR
   holds every replica of the target, that AlterPartition completes the reassignment
   (``partition_change.maybe_complete_reassignment``): replicas = target, the removing
   replicas leave the ISR, adding/removing are cleared, and a leader that was removed
   hands over to the first target replica in the ISR (the leader epoch moves whenever a
   replica leaves).

A target that only reorders or drops replicas already in the ISR completes at once,
in the first record. Cancelling (``replicas`` null) returns to the original replicas
and an ISR without the adding replicas; if that ISR would be empty, it takes the first
original replica, which needs ``unclean.leader.election.enable`` on the topic
(otherwise INVALID_REPLICA_ASSIGNMENT). A new target while one is in progress starts
from the current (union) replica set, as Kafka does.

Errors per partition, with Kafka's messages: UNKNOWN_TOPIC_OR_PARTITION,
INVALID_REPLICA_ASSIGNMENT (empty list, unregistered or repeated broker),
INVALID_REPLICATION_FACTOR (the target changes the replication factor while the request
says ``allow_replication_factor_change`` false, KIP-860), NO_REASSIGNMENT_IN_PROGRESS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from kafkapy.kraft.metadata.image import MetadataImage, PartitionRegistration, TopicImage
from kafkapy.kraft.metadata.partition_change import (
    Election,
    ReassignmentRevert,
    is_reassigning,
    partition_change,
    reassignment_targets,
)
from kafkapy.kraft.metadata.replication_control import active_predicate, default_dir, election_for
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.kraft.metadata.topic_configs import DEFAULT_TOPIC_CONFIGS, TopicConfigView
from kafkapy.wire.error_codes import ErrorCode


class PartitionReassignment(NamedTuple):
    """One partition of AlterPartitionReassignments: the target replicas, or None to
    cancel the reassignment in progress."""

    partition_index: int
    replicas: Sequence[int] | None


class TopicReassignmentResult(NamedTuple):
    """One topic of the AlterPartitionReassignments answer: (partition, error) pairs."""

    name: str
    partitions: list[tuple[int, ApiError]]


class OngoingReassignment(NamedTuple):
    """One partition of the ListPartitionReassignments answer."""

    partition_index: int
    replicas: tuple[int, ...]
    adding_replicas: tuple[int, ...]
    removing_replicas: tuple[int, ...]


class _Refused(Exception):
    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        super().__init__(message)
        self.error = ApiError(code, message)


def alter_partition_reassignments(
        image: MetadataImage, topics: Sequence[tuple[str, Sequence[PartitionReassignment]]], *,
        allow_replication_factor_change: bool = True,
        configs: TopicConfigView = DEFAULT_TOPIC_CONFIGS) -> ControllerResult[list[TopicReassignmentResult]]:
    """AlterPartitionReassignments: one PartitionChangeRecord per partition that changes.

    Each partition succeeds or fails alone; every change is computed on ``image`` (the
    state before the request) and the records go in one batch.
    """
    records: list = []
    results = []
    for name, partitions in topics:
        result = TopicReassignmentResult(name, [])
        results.append(result)
        for target in partitions:
            try:
                record = _alter_one(image, name, target, allow_replication_factor_change, configs)
            except _Refused as refused:
                result.partitions.append((target.partition_index, refused.error))
                continue
            if record is not None:
                records.append(record)
            result.partitions.append((target.partition_index, NO_ERROR))
    return ControllerResult(records, results)


def _alter_one(image: MetadataImage, name: str, target: PartitionReassignment, allow_rf_change: bool,
               configs: TopicConfigView) -> object | None:
    topic = image.topics_by_name.get(name)
    if topic is None:
        raise _Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find a topic named {name}.")
    part = topic.partitions.get(target.partition_index)
    if part is None:
        raise _Refused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                       f"Unable to find partition {name}:{target.partition_index}.")
    if target.replicas is None:
        return _cancel(image, topic, target.partition_index, part, configs)
    return _change(image, topic, target.partition_index, part, list(target.replicas), allow_rf_change)


def _cancel(image: MetadataImage, topic: TopicImage, index: int, part: PartitionRegistration,
            configs: TopicConfigView) -> object | None:
    """Kafka's ``cancelPartitionReassignment``."""
    if not is_reassigning(part):
        # Kafka's ApiError.fromThrowable drops a message equal to the code's own.
        raise _Refused(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS)
    try:
        revert = ReassignmentRevert.of(part)
    except ValueError as e:
        raise _Refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT, str(e)) from None
    election = election_for(image, topic.name, configs)
    if revert.unclean and election is not Election.UNCLEAN:
        raise _Refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                       f"Unable to revert partition assignment for {topic.name}:{index} because it "
                       "would require an unclean leader election.")
    return partition_change(topic.id, index, part, active_predicate(image), target_isr=revert.isr,
                            target_replicas=revert.replicas, target_adding=(), target_removing=(),
                            election=election, default_dir=default_dir(image))


def _change(image: MetadataImage, topic: TopicImage, index: int, part: PartitionRegistration,
            target: list[int], allow_rf_change: bool) -> object | None:
    """Kafka's ``changePartitionReassignment``."""
    _validate_assignment(image, target)
    if not allow_rf_change:
        current_rf = len((set(part.replicas) | set(part.adding_replicas)) - set(part.removing_replicas))
        if current_rf != len(target):
            raise _Refused(ErrorCode.INVALID_REPLICATION_FACTOR,
                           f"The replication factor is changed from {current_rf} to {len(target)}")
    replicas, adding, removing = reassignment_targets(part.replicas, target)
    return partition_change(
        topic.id, index, part, active_predicate(image),
        target_replicas=replicas if replicas != list(part.replicas) else None,
        target_removing=removing or None, target_adding=adding or None,
        default_dir=default_dir(image))


def _validate_assignment(image: MetadataImage, replicas: Sequence[int]) -> None:
    """Kafka's ``validateManualPartitionAssignment``, without a replication factor."""
    if not replicas:
        raise _Refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                       "The manual partition assignment includes an empty replica list.")
    previous = None
    for broker_id in sorted(replicas):
        if broker_id not in image.brokers:
            raise _Refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                           f"The manual partition assignment includes broker {broker_id}, but no "
                           "such broker is registered.")
        if broker_id == previous:
            raise _Refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                           f"The manual partition assignment includes the broker {broker_id} more "
                           "than once.")
        previous = broker_id


def list_partition_reassignments(image: MetadataImage, topics: Sequence[tuple[str, Sequence[int]]] | None
                                 ) -> list[tuple[str, list[OngoingReassignment]]]:
    """ListPartitionReassignments: the partitions with a reassignment in progress.

    ``topics`` None lists every topic; otherwise only the named partitions, and unknown
    topics or partitions are left out. Topics with nothing in progress are left out.
    """
    wanted: list[tuple[TopicImage, Sequence[int]]]
    if topics is None:
        wanted = [(t, sorted(t.partitions)) for t in image.topics_by_name.values()]
    else:
        wanted = []
        for name, indexes in topics:
            topic = image.topics_by_name.get(name)
            if topic is not None:
                wanted.append((topic, indexes))
    out = []
    for topic, indexes in wanted:
        ongoing = []
        for index in indexes:
            part = topic.partitions.get(index)
            if part is not None and is_reassigning(part):
                ongoing.append(OngoingReassignment(index, part.replicas, part.adding_replicas,
                                                   part.removing_replicas))
        if ongoing:
            out.append((topic.name, ongoing))
    return out
