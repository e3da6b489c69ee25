"""Topics and partitions: create, delete, add partitions, ISR changes, elections.

Kafka's ``ReplicationControlManager``, as pure functions of a
:class:`~kafkapy.kraft.metadata.image.MetadataImage` and a request, returning a
:class:`~kafkapy.kraft.metadata.results.ControllerResult`. Checks and messages follow
Kafka 4.x (``ReplicationControlManager.createTopic``, ``createPartitions``,
``alterPartition``, ``generateLeaderAndIsrUpdates``), in the same order, so a client sees
the same error for the same mistake.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kafkapy.config import ConfigError, validate_topic_configs
from kafkapy.kraft.metadata.delta import merge_partition_change
from kafkapy.kraft.metadata.image import (
    DIRECTORY_UNASSIGNED,
    METADATA_TOPIC_ID,
    ZERO_UUID,
    ConfigResourceType,
    LeaderRecoveryState,
    MetadataImage,
    PartitionRegistration,
    TopicImage,
    Uuid,
)
from kafkapy.kraft.metadata.partition_change import partition_change, without_broker
from kafkapy.kraft.metadata.placement import PlacementError, place_replicas
from kafkapy.kraft.metadata.records import (
    ConfigRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.kraft.metadata.topic_names import topic_name_error, unify_collision_chars
from kafkapy.wire.error_codes import ErrorCode

#: CreateTopics' "use the broker default" for num_partitions / replication_factor.
USE_DEFAULT = -1


@dataclass(frozen=True, slots=True)
class NewTopic:
    """One topic of a CreateTopics request.

    ``assignments`` maps partition index -> replica broker ids; when given,
    ``num_partitions`` and ``replication_factor`` must be -1 (Kafka's rule).
    ``configs`` values may be None, which Kafka rejects.
    """

    name: str
    num_partitions: int = USE_DEFAULT
    replication_factor: int = USE_DEFAULT
    assignments: Mapping[int, Sequence[int]] | None = None
    configs: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CreateTopicResult:
    """The CreateTopics answer for one topic; the counts are -1 after an error."""

    name: str
    error: ApiError = NO_ERROR
    topic_id: Uuid = ZERO_UUID
    num_partitions: int = -1
    replication_factor: int = -1
    #: the configs set on the topic by this request (the broker adds the defaults).
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeleteTopicResult:
    """The DeleteTopics answer for one topic, named by name or id as asked."""

    name: str | None
    topic_id: Uuid
    error: ApiError = NO_ERROR


@dataclass(frozen=True, slots=True)
class NewPartitions:
    """One topic of a CreatePartitions request: the new total, and optional assignments
    for the added partitions only."""

    name: str
    count: int
    assignments: Sequence[Sequence[int]] | None = None


@dataclass(frozen=True, slots=True)
class CreatePartitionsResult:
    name: str
    error: ApiError = NO_ERROR


@dataclass(frozen=True, slots=True)
class PartitionStateChange:
    """One partition of an AlterPartition request, as the leader sends it."""

    partition_index: int
    leader_epoch: int
    new_isr: Sequence[int]
    partition_epoch: int
    leader_recovery_state: int = LeaderRecoveryState.RECOVERED


@dataclass(frozen=True, slots=True)
class PartitionStateResult:
    """One partition of the AlterPartition answer: the state after the request."""

    topic_id: Uuid
    partition_index: int
    error: ApiError = NO_ERROR
    leader_id: int = -1
    leader_epoch: int = -1
    isr: tuple[int, ...] = ()
    leader_recovery_state: int = 0
    partition_epoch: int = -1


def new_topic_id(rng: random.Random, taken: Mapping[Uuid, object]) -> Uuid:
    """A random topic id as Kafka's ``Uuid.randomUuid`` makes them: never zero or the
    metadata topic's, never one whose base64 form starts with '-' (it would read as a
    command-line flag), and here also never one already in use."""
    while True:
        topic_id = rng.getrandbits(128).to_bytes(16, "big")
        if (topic_id not in (ZERO_UUID, METADATA_TOPIC_ID) and topic_id[0] >> 2 != 62
                and topic_id not in taken):
            return topic_id


def _active(image: MetadataImage) -> Callable[[int], bool]:
    brokers = image.brokers

    def is_active(broker_id: int) -> bool:
        broker = brokers.get(broker_id)
        return broker is not None and broker.active

    return is_active


# --- CreateTopics -------------------------------------------------------------------------


def create_topics(image: MetadataImage, topics: Sequence[NewTopic], *, validate_only: bool,
                  default_num_partitions: int, default_replication_factor: int,
                  rng: random.Random) -> ControllerResult[list[CreateTopicResult]]:
    """CreateTopics: a TopicRecord, PartitionRecords and ConfigRecords per created topic.

    Each topic succeeds or fails alone. Duplicate names in one request all fail with
    INVALID_REQUEST, as Kafka's ``validateDuplicateTopics``.
    """
    counts: dict[str, int] = {}
    for t in topics:
        counts[t.name] = counts.get(t.name, 0) + 1
    records: list = []
    results = []
    taken_ids = dict(image.topics_by_id)
    collisions = {unify_collision_chars(n): n for n in image.topics_by_name}
    for t in topics:
        if counts[t.name] > 1:
            results.append(CreateTopicResult(t.name, ApiError(ErrorCode.INVALID_REQUEST, "Duplicate topic name.")))
            continue
        result, topic_records = _create_topic(
            image, t, collisions, taken_ids, default_num_partitions, default_replication_factor, rng)
        results.append(result)
        if result.error.code == ErrorCode.NONE:
            collisions[unify_collision_chars(t.name)] = t.name
            taken_ids[result.topic_id] = t.name
            if not validate_only:
                records.extend(topic_records)
    return ControllerResult(records, results)


def _create_topic(image: MetadataImage, t: NewTopic, collisions: Mapping[str, str],
                  taken_ids: Mapping[Uuid, object], default_num_partitions: int,
                  default_replication_factor: int, rng: random.Random) -> tuple[CreateTopicResult, list]:
    def fail(code: ErrorCode, message: str) -> tuple[CreateTopicResult, list]:
        return CreateTopicResult(t.name, ApiError(code, message)), []

    reason = topic_name_error(t.name)
    if reason is not None:
        return fail(ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
    if t.name in image.topics_by_name:
        return fail(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{t.name}' already exists.")
    colliding = collisions.get(unify_collision_chars(t.name))
    if colliding is not None:
        return fail(ErrorCode.INVALID_TOPIC_EXCEPTION,
                    f"Topic '{t.name}' collides with existing topic: {colliding}")
    configs, error = _topic_configs(t.configs)
    if error is not None:
        return CreateTopicResult(t.name, error), []
    if t.assignments:
        replica_lists, error = _manual_assignment(image, t)
        if error is not None:
            return CreateTopicResult(t.name, error), []
    else:
        num_partitions = default_num_partitions if t.num_partitions == USE_DEFAULT else t.num_partitions
        rf = default_replication_factor if t.replication_factor == USE_DEFAULT else t.replication_factor
        if num_partitions <= 0:
            return fail(ErrorCode.INVALID_PARTITIONS,
                        "Number of partitions was set to an invalid non-positive value.")
        if rf <= 0:
            return fail(ErrorCode.INVALID_REPLICATION_FACTOR,
                        "Replication factor must be larger than 0, or -1 to use the default value.")
        try:
            replica_lists = place_replicas(image.unfenced_broker_ids(), start_partition=0,
                                           num_partitions=num_partitions, replication_factor=rf, rng=rng)
        except PlacementError as e:
            return fail(ErrorCode.INVALID_REPLICATION_FACTOR, str(e))
    topic_id = new_topic_id(rng, taken_ids)
    is_active = _active(image)
    records: list = [TopicRecord(name=t.name, topic_id=topic_id)]
    for index, replicas in enumerate(replica_lists):
        isr = [r for r in replicas if is_active(r)]
        if not isr:
            return fail(ErrorCode.INVALID_REPLICATION_FACTOR,
                        f"Unable to start partition {index}, because all the designated "
                        "replicas were fenced.")
        records.append(_new_partition(image, topic_id, index, replicas, isr))
    records.extend(ConfigRecord(resource_type=ConfigResourceType.TOPIC, resource_name=t.name,
                                name=name, value=value) for name, value in configs.items())
    result = CreateTopicResult(t.name, NO_ERROR, topic_id, len(replica_lists),
                               len(replica_lists[0]), configs)
    return result, records


def _new_partition(image: MetadataImage, topic_id: Uuid, index: int, replicas: Sequence[int],
                   isr: list[int]) -> PartitionRecord:
    """A new partition led by its first in-sync replica, epochs 0.

    Each replica's directory is the broker's only log directory when it registered
    exactly one, else UNASSIGNED (KIP-858; Kafka's ``ClusterControlManager.defaultDir``).
    """
    directories = []
    for broker_id in replicas:
        broker = image.brokers.get(broker_id)
        log_dirs = () if broker is None else broker.log_dirs
        directories.append(log_dirs[0] if len(log_dirs) == 1 else DIRECTORY_UNASSIGNED)
    return PartitionRecord(
        partition_id=index, topic_id=topic_id, replicas=list(replicas), isr=isr,
        removing_replicas=[], adding_replicas=[], leader=isr[0], leader_epoch=0,
        partition_epoch=0, directories=directories)


def _manual_assignment(image: MetadataImage, t: NewTopic) -> tuple[list[list[int]], ApiError | None]:
    """Replica lists from CreateTopics' explicit assignment, checked as Kafka checks them."""
    def invalid(message: str) -> tuple[list[list[int]], ApiError]:
        return [], ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, message)

    assert t.assignments is not None
    if t.num_partitions != USE_DEFAULT or t.replication_factor != USE_DEFAULT:
        return [], ApiError(ErrorCode.INVALID_REQUEST,
                            "A manual partition assignment was specified, but numPartitions "
                            "or replicationFactor was not set to -1.")
    indexes = sorted(t.assignments)
    if indexes != list(range(len(indexes))):
        missing = next(i for i, p in enumerate(indexes + [-1]) if p != i)
        return invalid(f"partitions should be a consecutive 0-based integer sequence, "
                       f"but it is missing partition {missing}.")
    replica_lists = [list(t.assignments[p]) for p in indexes]
    rf = len(replica_lists[0])
    for p, replicas in enumerate(replica_lists):
        error = _check_replicas(image, p, replicas)
        if error is not None:
            return [], error
        if len(replicas) != rf:
            return invalid("All partitions in the manual partition assignment must have "
                           "the same number of replicas.")
    return replica_lists, None


def _check_replicas(image: MetadataImage, partition: int, replicas: Sequence[int]) -> ApiError | None:
    if not replicas:
        return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        "The manual partition assignment includes an empty replica list.")
    if len(set(replicas)) != len(replicas):
        return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        f"The manual partition assignment includes the partition {partition} "
                        "with duplicate replicas.")
    for broker_id in replicas:
        if broker_id not in image.brokers:
            return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                            f"The manual partition assignment includes broker {broker_id}, "
                            "but no such broker is registered.")
    return None


def _topic_configs(configs: Mapping[str, str | None]) -> tuple[dict[str, str], ApiError | None]:
    """Validated topic configs of a CreateTopics request, by Kafka's rules (INVALID_CONFIG)."""
    for name, value in configs.items():
        if value is None:
            return {}, ApiError(ErrorCode.INVALID_CONFIG,
                                f"Null value not supported for topic configs: {name}")
    try:
        validate_topic_configs(configs)
    except ConfigError as e:
        return {}, ApiError(ErrorCode.INVALID_CONFIG, str(e))
    return dict(configs), None  # type: ignore[arg-type]


# --- DeleteTopics ------------------------------------------------------------------------


def delete_topics(image: MetadataImage, names: Iterable[str] = (),
                  ids: Iterable[Uuid] = ()) -> ControllerResult[list[DeleteTopicResult]]:
    """DeleteTopics by name (UNKNOWN_TOPIC_OR_PARTITION) or by id (UNKNOWN_TOPIC_ID).

    A topic named twice is deleted once; each mention gets an answer.
    """
    records: list = []
    results = []
    removed: set[Uuid] = set()

    def remove(topic: TopicImage) -> None:
        if topic.id not in removed:
            removed.add(topic.id)
            records.append(RemoveTopicRecord(topic_id=topic.id))

    for name in names:
        topic = image.topics_by_name.get(name)
        if topic is None:
            results.append(DeleteTopicResult(name, ZERO_UUID, ApiError(
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.")))
        else:
            remove(topic)
            results.append(DeleteTopicResult(name, topic.id))
    for topic_id in ids:
        topic = image.topics_by_id.get(topic_id)
        if topic is None:
            results.append(DeleteTopicResult(None, topic_id, ApiError(
                ErrorCode.UNKNOWN_TOPIC_ID, "This server does not host this topic ID.")))
        else:
            remove(topic)
            results.append(DeleteTopicResult(topic.name, topic_id))
    return ControllerResult(records, results)


# --- CreatePartitions --------------------------------------------------------------------


def create_partitions(image: MetadataImage, topics: Sequence[NewPartitions], *, validate_only: bool,
                      rng: random.Random) -> ControllerResult[list[CreatePartitionsResult]]:
    """CreatePartitions: PartitionRecords for the partitions added to each topic."""
    counts: dict[str, int] = {}
    for t in topics:
        counts[t.name] = counts.get(t.name, 0) + 1
    records: list = []
    results = []
    for t in topics:
        if counts[t.name] > 1:
            results.append(CreatePartitionsResult(t.name, ApiError(
                ErrorCode.INVALID_REQUEST, "Duplicate topic name.")))
            continue
        error, topic_records = _create_partitions(image, t, rng)
        results.append(CreatePartitionsResult(t.name, error))
        if error.code == ErrorCode.NONE and not validate_only:
            records.extend(topic_records)
    return ControllerResult(records, results)


def _create_partitions(image: MetadataImage, t: NewPartitions, rng: random.Random) -> tuple[ApiError, list]:
    topic = image.topics_by_name.get(t.name)
    if topic is None:
        return ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition."), []
    current = len(topic.partitions)
    if t.count <= current:
        return ApiError(ErrorCode.INVALID_PARTITIONS,
                        f"The topic {t.name} currently has {current} partition(s); {t.count} "
                        "would not be an increase."), []
    added = t.count - current
    rf = len(topic.partitions[0].replicas) if current else 1
    if t.assignments is not None:
        if len(t.assignments) != added:
            return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                            f"Attempted to add {added} additional partition(s), but only "
                            f"{len(t.assignments)} assignment(s) were specified."), []
        replica_lists = [list(a) for a in t.assignments]
        for i, replicas in enumerate(replica_lists):
            error = _check_replicas(image, current + i, replicas)
            if error is not None:
                return error, []
            if len(replicas) != rf:
                return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                f"The manual partition assignment includes a partition with "
                                f"{len(replicas)} replica(s), but this is not consistent with "
                                f"previous partitions, which have {rf} replica(s)."), []
    else:
        try:
            replica_lists = place_replicas(image.unfenced_broker_ids(), start_partition=current,
                                           num_partitions=added, replication_factor=rf, rng=rng)
        except PlacementError as e:
            return ApiError(ErrorCode.INVALID_REPLICATION_FACTOR, str(e)), []
    is_active = _active(image)
    records = []
    for i, replicas in enumerate(replica_lists):
        isr = [r for r in replicas if is_active(r)]
        if not isr:
            return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                            f"All the replicas of partition {current + i} are fenced."), []
        records.append(_new_partition(image, topic.id, current + i, replicas, isr))
    return NO_ERROR, records


# --- AlterPartition ----------------------------------------------------------------------


def alter_partition(image: MetadataImage, broker_id: int, broker_epoch: int,
                    topics: Mapping[Uuid, Sequence[PartitionStateChange]]
                    ) -> ControllerResult[tuple[ApiError, list[PartitionStateResult]]]:
    """AlterPartition from a partition leader: ISR changes checked against the image.

    Returns the request-level error (STALE_BROKER_EPOCH when ``broker_epoch`` is not the
    registered one) and one result per partition: FENCED_LEADER_EPOCH when the leader
    epoch is not the current one, INVALID_UPDATE_VERSION for a stale partition epoch,
    NOT_LEADER_OR_FOLLOWER when the sender does not lead, INELIGIBLE_REPLICA when the
    new ISR holds a fenced or shutting-down broker, INVALID_REQUEST for an ISR that is
    not a subset of the replicas or lacks the leader.
    """
    broker = image.brokers.get(broker_id)
    if broker is None or broker.epoch != broker_epoch:
        return ControllerResult([], (ApiError(ErrorCode.STALE_BROKER_EPOCH), []))
    is_active = _active(image)
    records: list = []
    results = []
    for topic_id, changes in topics.items():
        topic = image.topics_by_id.get(topic_id)
        for change in changes:
            part = None if topic is None else topic.partitions.get(change.partition_index)
            if part is None:
                code = ErrorCode.UNKNOWN_TOPIC_ID if topic is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                results.append(PartitionStateResult(topic_id, change.partition_index, ApiError(code)))
                continue
            error = _validate_alter_partition(broker_id, part, change, is_active)
            if error is not None:
                results.append(PartitionStateResult(topic_id, change.partition_index, error))
                continue
            record = partition_change(topic_id, change.partition_index, part, is_active,
                                      target_isr=change.new_isr)
            after = part
            if record is not None:
                records.append(record)
                after = merge_partition_change(part, record)
            results.append(PartitionStateResult(
                topic_id, change.partition_index, NO_ERROR, after.leader, after.leader_epoch,
                after.isr, int(after.leader_recovery_state), after.partition_epoch))
    return ControllerResult(records, (NO_ERROR, results))


def _validate_alter_partition(broker_id: int, part: PartitionRegistration, change: PartitionStateChange,
                              is_active: Callable[[int], bool]) -> ApiError | None:
    if change.leader_epoch != part.leader_epoch:
        return ApiError(ErrorCode.FENCED_LEADER_EPOCH)
    if broker_id != part.leader:
        return ApiError(ErrorCode.INVALID_REQUEST)
    if change.partition_epoch != part.partition_epoch:
        return ApiError(ErrorCode.INVALID_UPDATE_VERSION)
    if broker_id not in change.new_isr:
        return ApiError(ErrorCode.INVALID_REQUEST)
    if any(r not in part.replicas for r in change.new_isr) or len(set(change.new_isr)) != len(change.new_isr):
        return ApiError(ErrorCode.INVALID_REQUEST)
    if any(not is_active(r) for r in change.new_isr):
        return ApiError(ErrorCode.INELIGIBLE_REPLICA)
    return None


# --- elections that follow broker state --------------------------------------------------


def fence_replica_changes(image: MetadataImage, broker_id: int) -> list:
    """PartitionChangeRecords for a broker that stops serving (fenced or shutting down).

    The broker leaves every ISR it is in (unless it is the last member) and leaders move
    to the next eligible replica, as Kafka's ``generateLeaderAndIsrUpdates``.
    """
    base = _active(image)

    def is_active(b: int) -> bool:
        return b != broker_id and base(b)

    records = []
    for topic in image.topics_by_name.values():
        for index, part in topic.partitions.items():
            if broker_id in part.isr or part.leader == broker_id:
                record = partition_change(topic.id, index, part, is_active,
                                          target_isr=without_broker(part, broker_id))
                if record is not None:
                    records.append(record)
    return records


def unfence_replica_changes(image: MetadataImage, broker_id: int) -> list:
    """PartitionChangeRecords electing ``broker_id`` where a partition has no leader and
    the broker is in its ISR (it has just been unfenced)."""
    base = _active(image)

    def is_active(b: int) -> bool:
        return b == broker_id or base(b)

    records = []
    for topic in image.topics_by_name.values():
        for index, part in topic.partitions.items():
            if not part.has_leader() and broker_id in part.isr:
                record = partition_change(topic.id, index, part, is_active)
                if record is not None:
                    records.append(record)
    return records
