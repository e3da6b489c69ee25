"""AssignReplicasToDirs (KIP-858): a broker tells the controller which of its log
directories holds each of its replicas (Kafka's
``ReplicationControlManager.handleAssignReplicasToDirs``).

A Kafka broker with more than one ``log.dirs`` entry sends it for replicas the
controller left UNASSIGNED (or after moving one between directories); each assignment
is a PartitionChangeRecord with the partition's new ``directories``. A replica
assigned to a directory that is not online on the broker leaves its ISR and
leadership as for a failed directory. Errors: UNSUPPORTED_VERSION below
``metadata.version`` 3.7-IV2, STALE_BROKER_EPOCH for another epoch (the whole request);
UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER for a partition
without this broker as a replica (per partition). Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kafkapy.kraft.metadata.features import METADATA_VERSION
from kafkapy.kraft.metadata.image import MetadataImage, Uuid
from kafkapy.kraft.metadata.partition_change import partition_change
from kafkapy.kraft.metadata.records import PartitionChangeRecord
from kafkapy.kraft.metadata.replication_control import (
    active_predicate,
    default_dir,
    directory_is_online,
    election_for,
    fence_replica_changes,
)
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.kraft.metadata.topic_configs import DEFAULT_TOPIC_CONFIGS, TopicConfigView
from kafkapy.wire.error_codes import ErrorCode

#: MetadataVersion.IBP_3_7_IV2: ``isDirectoryAssignmentSupported``.
METADATA_VERSION_3_7_IV2 = 17

#: (directory id, [(topic id, [partition index])]) as the request lists them.
Assignments = Sequence[tuple[Uuid, Sequence[tuple[Uuid, Sequence[int]]]]]
#: The same shape with an error code per partition.
AssignmentResults = list[tuple[Uuid, list[tuple[Uuid, list[tuple[int, ErrorCode]]]]]]


@dataclass(frozen=True, slots=True)
class AssignReplicasToDirsReply:
    error: ApiError = NO_ERROR
    directories: AssignmentResults | None = None


def assign_replicas_to_dirs(image: MetadataImage, broker_id: int, broker_epoch: int, assignments: Assignments,
                            configs: TopicConfigView = DEFAULT_TOPIC_CONFIGS
                            ) -> ControllerResult[AssignReplicasToDirsReply]:
    """The records assigning ``broker_id``'s replicas to the directories named."""
    if image.features.get(METADATA_VERSION, 0) < METADATA_VERSION_3_7_IV2:
        return ControllerResult([], AssignReplicasToDirsReply(ApiError(
            ErrorCode.UNSUPPORTED_VERSION, "Directory assignment is not supported yet.")))
    broker = image.brokers.get(broker_id)
    if broker is None or broker.epoch != broker_epoch:
        expected = "no registration" if broker is None else f"broker epoch {broker.epoch}"
        return ControllerResult([], AssignReplicasToDirsReply(ApiError(
            ErrorCode.STALE_BROKER_EPOCH, f"Expected {expected}, but got broker epoch {broker_epoch}")))
    is_active, directory = active_predicate(image), default_dir(image)
    records: list = []
    offline: set[tuple[Uuid, int]] = set()
    results: AssignmentResults = []
    for dir_id, topics in assignments:
        dir_results = []
        for topic_id, partitions in topics:
            topic = image.topics_by_id.get(topic_id)
            part_results = []
            for index in partitions:
                part = None if topic is None else topic.partitions.get(index)
                if topic is None:
                    code = ErrorCode.UNKNOWN_TOPIC_ID
                elif part is None:
                    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif broker_id not in part.replicas:
                    code = ErrorCode.NOT_LEADER_OR_FOLLOWER
                else:
                    code = ErrorCode.NONE
                    record = partition_change(topic_id, index, part, is_active,
                                              election=election_for(image, topic.name, configs), default_dir=directory)
                    known = dict(zip(part.replicas, part.directories)) if len(part.directories) == len(part.replicas) \
                        else {}
                    dirs = [dir_id if r == broker_id else known.get(r, directory(r)) for r in part.replicas]
                    if tuple(dirs) != part.directories:
                        record = record or PartitionChangeRecord(topic_id=topic_id, partition_id=index)
                        record.directories = dirs
                    if record is not None:
                        records.append(record)
                    if not directory_is_online(dir_id, broker.log_dirs):
                        offline.add((topic_id, index))
                part_results.append((index, code))
            dir_results.append((topic_id, part_results))
        results.append((dir_id, dir_results))
    if offline:
        applied = image.apply(records)
        # registrations carry no ids: those of the partitions assigned offline, by identity
        chosen = {id(applied.topics_by_id[t].partitions[i]) for t, i in offline}
        records += fence_replica_changes(applied, broker_id, configs, only=lambda p: id(p) in chosen)
    return ControllerResult(records, AssignReplicasToDirsReply(NO_ERROR, results))
