"""Topics and partitions: create, delete, add partitions, ISR changes, elections.

Kafka's ``ReplicationControlManager``, as pure functions of a
:class:`~kafkapy.kraft.metadata.image.MetadataImage` and a request, returning a
:class:`~kafkapy.kraft.metadata.results.ControllerResult`. Checks and messages follow
Kafka 4.x (``ReplicationControlManager.createTopic``, ``createPartitions``,
``alterPartition``, ``generateLeaderAndIsrUpdates``), in the same order, so a client sees
the same error for the same mistake. Elections read the topic's effective
``unclean.leader.election.enable`` (:mod:`~kafkapy.kraft.metadata.topic_configs`).
ElectLeaders and the periodic elections are in ``elections.py``, partition
reassignment in ``reassignments.py``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from kafkapy.config import ConfigError, validate_topic_configs
from kafkapy.kraft.metadata.delta import NO_LEADER_CHANGE, merge_partition_change
from kafkapy.kraft.metadata.image import (
    EMPTY_MAP,
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
from kafkapy.kraft.metadata.partition_change import (
    Election,
    is_reassigning,
    partition_change,
    without_broker,
)
from kafkapy.kraft.metadata.placement import PlacementError, place_replicas
from kafkapy.kraft.metadata.records import (
    ConfigRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.kraft.metadata.topic_configs import DEFAULT_TOPIC_CONFIGS, TopicConfigView
from kafkapy.kraft.metadata.topic_names import topic_name_error, unify_collision_chars
from kafkapy.wire.error_codes import ErrorCode

log = logging.getLogger(__name__)

#: CreateTopics' "use the broker default" for num_partitions / replication_factor.
USE_DEFAULT = -1


class NewTopic(NamedTuple):
    """One topic of a CreateTopics request.

    ``assignments`` maps partition index -> replica broker ids; when given,
    ``num_partitions`` and ``replication_factor`` must be -1 (Kafka's rule).
    ``configs`` values may be None, which Kafka rejects.
    """

    name: str
    num_partitions: int = USE_DEFAULT
    replication_factor: int = USE_DEFAULT
    assignments: Mapping[int, Sequence[int]] | None = None
    configs: Mapping[str, str | None] = EMPTY_MAP


class CreateTopicResult(NamedTuple):
    """The CreateTopics answer for one topic; the counts are -1 after an error."""

    name: str
    error: ApiError = NO_ERROR
    topic_id: Uuid = ZERO_UUID
    num_partitions: int = -1
    replication_factor: int = -1
    #: the configs set on the topic by this request (the broker adds the defaults).
    configs: Mapping[str, str] = EMPTY_MAP


class DeleteTopicResult(NamedTuple):
    """The DeleteTopics answer for one topic, named by name or id as asked."""

    name: str | None
    topic_id: Uuid
    error: ApiError = NO_ERROR


class NewPartitions(NamedTuple):
    """One topic of a CreatePartitions request: the new total, and optional assignments
    for the added partitions only."""

    name: str
    count: int
    assignments: Sequence[Sequence[int]] | None = None


class CreatePartitionsResult(NamedTuple):
    name: str
    error: ApiError = NO_ERROR


class PartitionStateChange(NamedTuple):
    """One partition of an AlterPartition request, as the leader sends it."""

    partition_index: int
    leader_epoch: int
    new_isr: Sequence[int]
    partition_epoch: int
    leader_recovery_state: int = LeaderRecoveryState.RECOVERED
    #: AlterPartition v3's broker epoch of each ``new_isr`` member (-1: not checked);
    #: empty when the request has none.
    new_isr_broker_epochs: Sequence[int] = ()


class PartitionStateResult(NamedTuple):
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


#: Kafka's ``DirectoryId.LOST``: a directory that is not available. A broker whose every
#: log directory failed is registered with this one alone (KIP-858 leaves "no online
#: directory" unsaid, as Kafka halts such a broker; kafkapy keeps it running).
DIRECTORY_LOST: Uuid = bytes(15) + b"\x01"
#: Kafka's ``DirectoryId.MIGRATING``.
DIRECTORY_MIGRATING: Uuid = bytes(15) + b"\x02"


def directory_is_online(directory: Uuid, online_dirs: Sequence[Uuid]) -> bool:
    """Kafka's ``DirectoryId.isOnline``: UNASSIGNED and MIGRATING count as online, LOST
    does not, and a broker that registered no directories has them all online."""
    if directory in (DIRECTORY_UNASSIGNED, DIRECTORY_MIGRATING):
        return True
    if directory == DIRECTORY_LOST:
        return False
    return not online_dirs or directory in online_dirs


def has_online_dir(online_dirs: Sequence[Uuid]) -> bool:
    """Whether a broker registered with ``online_dirs`` has a log directory left."""
    return tuple(online_dirs) != (DIRECTORY_LOST,)


def replica_directory(part: PartitionRegistration, broker_id: int) -> Uuid:
    """The directory of ``broker_id``'s replica (``PartitionRegistration.directory``)."""
    try:
        return part.directories[part.replicas.index(broker_id)]
    except (ValueError, IndexError):
        return DIRECTORY_UNASSIGNED


def active_predicate(image: MetadataImage) -> Callable[[int], bool]:
    """Whether a broker may lead and join ISRs: registered, unfenced, not shutting down,
    with a log directory online (Kafka halts a broker whose every directory failed, and
    fences it when its session expires; kafkapy's keeps running but is never chosen)."""
    brokers = image.brokers

    def is_active(broker_id: int) -> bool:
        broker = brokers.get(broker_id)
        return broker is not None and broker.active and has_online_dir(broker.log_dirs)

    return is_active


def default_dir(image: MetadataImage) -> Callable[[int], Uuid]:
    """A broker's directory for a replica new to it: its only log directory when it
    registered exactly one, else UNASSIGNED (KIP-858; ``ClusterControlManager.defaultDir``)."""
    def directory(broker_id: int) -> Uuid:
        broker = image.brokers.get(broker_id)
        log_dirs = () if broker is None else broker.log_dirs
        return log_dirs[0] if len(log_dirs) == 1 else DIRECTORY_UNASSIGNED

    return directory


def _usable_brokers(image: MetadataImage) -> tuple[list[int], list[int]]:
    """(unfenced, fenced) ids of the brokers placement may use: registered and not in
    controlled shutdown (``BrokerHeartbeatManager.usableBrokers``)."""
    usable = [b for b in image.brokers.values() if not b.in_controlled_shutdown]
    return sorted(b.id for b in usable if not b.fenced), sorted(b.id for b in usable if b.fenced)


def election_for(image: MetadataImage, topic: str, configs: TopicConfigView) -> Election:
    """UNCLEAN where the topic's ``unclean.leader.election.enable`` is true, else ONLINE."""
    return Election.UNCLEAN if configs.unclean_leader_election(image, topic) else Election.ONLINE


# --- CreateTopics -------------------------------------------------------------------------

#: Records one user operation may write (``QuorumController.MAX_RECORDS_PER_USER_OP``):
#: an operation that would write more fails whole with POLICY_VIOLATION, checked before
#: any replica is placed so that a count of 2^31-1 costs nothing.
MAX_RECORDS_PER_USER_OP = 10_000
#: ``EventHandlerExceptionInfo``'s answer to a ``BoundedListTooLongException``.
TOO_LARGE = ApiError(ErrorCode.POLICY_VIOLATION, "Unable to perform excessively large batch operation.")
#: Partitions one CreateTopics request may ask for, or one CreatePartitions request add,
#: in all (``ReplicationControlManager.validateTotalNumberOfPartitions``; Kafka 4.4 sums
#: them in a long and checks CreatePartitions too).
MAX_PARTITIONS_PER_REQUEST = 10_000
TOO_MANY_PARTITIONS = ApiError(ErrorCode.POLICY_VIOLATION, "Excessively large number of partitions per request.")
TOO_MANY_ADDED_PARTITIONS = ApiError(ErrorCode.POLICY_VIOLATION,
                                     "Excessively large number of additional partitions per request.")


def _partition_count(t: NewTopic, default_num_partitions: int) -> int:
    if t.assignments:
        return len(t.assignments)
    return default_num_partitions if t.num_partitions == USE_DEFAULT else t.num_partitions


def create_topics(image: MetadataImage, topics: Sequence[NewTopic], *, validate_only: bool,
                  default_num_partitions: int, default_replication_factor: int,
                  rng: random.Random) -> ControllerResult[list[CreateTopicResult]]:
    """CreateTopics: a TopicRecord, PartitionRecords and ConfigRecords per created topic.

    Each topic succeeds or fails alone. Duplicate names in one request all fail with
    INVALID_REQUEST, as Kafka's ``validateDuplicateTopics``. A request for more than
    :data:`MAX_PARTITIONS_PER_REQUEST` partitions in all, or that would write more than
    :data:`MAX_RECORDS_PER_USER_OP` records, fails whole, validate-only too.
    """
    requested = sum(max(_partition_count(t, default_num_partitions), 0) for t in topics)
    if requested > MAX_PARTITIONS_PER_REQUEST:
        return ControllerResult([], [CreateTopicResult(t.name, TOO_MANY_PARTITIONS) for t in topics])
    counts: dict[str, int] = {}
    for t in topics:
        counts[t.name] = counts.get(t.name, 0) + 1
    written = 0
    records: list = []
    results = []
    taken_ids = dict(image.topics_by_id)
    collisions = {unify_collision_chars(n): n for n in image.topics_by_name}
    for t in topics:
        if counts[t.name] > 1:
            results.append(CreateTopicResult(t.name, ApiError(ErrorCode.INVALID_REQUEST, "Duplicate topic name.")))
            continue
        if written + 1 + _partition_count(t, default_num_partitions) + len(t.configs) > MAX_RECORDS_PER_USER_OP:
            return ControllerResult([], [CreateTopicResult(x.name, TOO_LARGE) for x in topics])
        result, topic_records = _create_topic(
            image, t, collisions, taken_ids, default_num_partitions, default_replication_factor, rng)
        results.append(result)
        if result.error.code == ErrorCode.NONE:
            collisions[unify_collision_chars(t.name)] = t.name
            taken_ids[result.topic_id] = t.name
            written += len(topic_records)
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
        unfenced, fenced = _usable_brokers(image)
        try:
            replica_lists = place_replicas(unfenced, start_partition=0, num_partitions=num_partitions,
                                           replication_factor=rf, rng=rng, fenced=fenced)
        except PlacementError as e:
            return fail(ErrorCode.INVALID_REPLICATION_FACTOR,
                        f"Unable to replicate the partition {rf} time(s): {e}")
    topic_id = new_topic_id(rng, taken_ids)
    is_active = active_predicate(image)
    records: list = [TopicRecord(name=t.name, topic_id=topic_id)]
    for index, replicas in enumerate(replica_lists):
        isr = [r for r in replicas if is_active(r)]
        if not isr and t.assignments:
            return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        f"All brokers specified in the manual partition assignment for partition "
                        f"{index} are fenced or in controlled shutdown.")
        if not isr:
            return fail(ErrorCode.INVALID_REPLICATION_FACTOR,
                        f"Unable to replicate the partition {len(replicas)} time(s): All brokers "
                        "are currently fenced or in controlled shutdown.")
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
    directories = [default_dir(image)(broker_id) for broker_id in replicas]
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
    """CreatePartitions: PartitionRecords for the partitions added to each topic; a
    request adding more than :data:`MAX_PARTITIONS_PER_REQUEST` partitions to existing
    topics, or that would write more than :data:`MAX_RECORDS_PER_USER_OP` records, fails whole."""
    existing = ((t, image.topics_by_name.get(t.name)) for t in topics if t.count >= 0)
    added = sum(max(t.count - len(topic.partitions), 0) for t, topic in existing if topic is not None)
    if added > MAX_PARTITIONS_PER_REQUEST:
        return ControllerResult([], [CreatePartitionsResult(t.name, TOO_MANY_ADDED_PARTITIONS) for t in topics])
    counts: dict[str, int] = {}
    for t in topics:
        counts[t.name] = counts.get(t.name, 0) + 1
    written = 0
    records: list = []
    results = []
    for t in topics:
        if counts[t.name] > 1:
            results.append(CreatePartitionsResult(t.name, ApiError(
                ErrorCode.INVALID_REQUEST, "Duplicate topic name.")))
            continue
        topic = image.topics_by_name.get(t.name)
        if topic is not None and written + t.count - len(topic.partitions) > MAX_RECORDS_PER_USER_OP:
            return ControllerResult([], [CreatePartitionsResult(x.name, TOO_LARGE) for x in topics])
        error, topic_records = _create_partitions(image, t, rng)
        results.append(CreatePartitionsResult(t.name, error))
        if error.code == ErrorCode.NONE:
            written += len(topic_records)
            if not validate_only:
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
        unfenced, fenced = _usable_brokers(image)
        try:
            replica_lists = place_replicas(unfenced, start_partition=current, num_partitions=added,
                                           replication_factor=rf, rng=rng, fenced=fenced)
        except PlacementError as e:
            return ApiError(ErrorCode.INVALID_REPLICATION_FACTOR,
                            f"Unable to replicate the partition {rf} time(s): {e}"), []
    is_active = active_predicate(image)
    records = []
    for i, replicas in enumerate(replica_lists):
        isr = [r for r in replicas if is_active(r)]
        if not isr and t.assignments is not None:
            return ApiError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                            f"All brokers specified in the manual partition assignment for partition "
                            f"{current + i} are fenced or in controlled shutdown."), []
        if not isr:
            return ApiError(ErrorCode.INVALID_REPLICATION_FACTOR,
                            f"Unable to replicate the partition {rf} time(s): All brokers are "
                            "currently fenced or in controlled shutdown."), []
        records.append(_new_partition(image, topic.id, current + i, replicas, isr))
    return NO_ERROR, records


# --- AlterPartition ----------------------------------------------------------------------


def alter_partition(image: MetadataImage, broker_id: int, broker_epoch: int,
                    topics: Mapping[Uuid, Sequence[PartitionStateChange]], *, version: int = 3,
                    configs: TopicConfigView = DEFAULT_TOPIC_CONFIGS,
                    ) -> ControllerResult[tuple[ApiError, list[PartitionStateResult]]]:
    """AlterPartition from a partition leader: ISR changes checked against the image.

    Returns the request-level error (STALE_BROKER_EPOCH when ``broker_epoch`` is not the
    registered one) and one result per partition, checked in the order of Kafka's
    ``validateAlterPartitionData``: NOT_CONTROLLER when the leader knows a newer leader
    or partition epoch than this controller, FENCED_LEADER_EPOCH for an older leader
    epoch, INVALID_REQUEST when the sender does not lead, INVALID_UPDATE_VERSION for an
    older partition epoch, INVALID_REQUEST for an ISR that is not a subset of the
    replicas, lacks the leader, or has more than the leader while it is RECOVERING (or
    moves RECOVERED back to RECOVERING), INELIGIBLE_REPLICA (OPERATION_NOT_ATTEMPTED
    before v2) when the new ISR holds a fenced, shutting-down or unregistered broker or
    one of another broker epoch.

    An ISR that holds every adding replica of a reassignment completes it (the removing
    replicas leave). If that moves leadership away from the sender, the record is
    written and the sender is answered NEW_LEADER_ELECTED (FENCED_LEADER_EPOCH before
    v2), as Kafka does, so it learns the new state from metadata.

    Args:
        version: the AlterPartition request version (error codes differ before v2).
    """
    broker = image.brokers.get(broker_id)
    if broker is None or broker.epoch != broker_epoch:
        return ControllerResult([], (ApiError(ErrorCode.STALE_BROKER_EPOCH), []))
    is_active = active_predicate(image)
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
            assert topic is not None
            error = _validate_alter_partition(image, broker_id, part, change, version)
            if error is not None:
                results.append(PartitionStateResult(topic_id, change.partition_index, error))
                continue
            record = partition_change(
                topic_id, change.partition_index, part, is_active, target_isr=change.new_isr,
                election=election_for(image, topic.name, configs),
                target_leader_recovery_state=LeaderRecoveryState(change.leader_recovery_state),
                default_dir=default_dir(image))
            after = part
            if record is not None:
                records.append(record)
                after = merge_partition_change(part, record)
                if record.leader not in (NO_LEADER_CHANGE, broker_id):
                    code = ErrorCode.NEW_LEADER_ELECTED if version > 1 else ErrorCode.FENCED_LEADER_EPOCH
                    log.info("AlterPartition from node %d for %s-%d completed the reassignment and "
                             "moved leadership to %d; answering %s", broker_id, topic.name,
                             change.partition_index, record.leader, code.name)
                    results.append(PartitionStateResult(topic_id, change.partition_index, ApiError(code)))
                    continue
                if is_reassigning(part) and not is_reassigning(after):
                    log.info("AlterPartition from node %d for %s-%d completed the reassignment",
                             broker_id, topic.name, change.partition_index)
            results.append(PartitionStateResult(
                topic_id, change.partition_index, NO_ERROR, after.leader, after.leader_epoch,
                after.isr, int(after.leader_recovery_state), after.partition_epoch))
    return ControllerResult(records, (NO_ERROR, results))


def _validate_alter_partition(image: MetadataImage, broker_id: int, part: PartitionRegistration,
                              change: PartitionStateChange, version: int) -> ApiError | None:
    if change.leader_epoch > part.leader_epoch or change.partition_epoch > part.partition_epoch:
        return ApiError(ErrorCode.NOT_CONTROLLER)
    if change.leader_epoch < part.leader_epoch:
        return ApiError(ErrorCode.FENCED_LEADER_EPOCH)
    if broker_id != part.leader:
        return ApiError(ErrorCode.INVALID_REQUEST)
    if change.partition_epoch < part.partition_epoch:
        return ApiError(ErrorCode.INVALID_UPDATE_VERSION)
    new_isr = list(change.new_isr)
    if (len(set(new_isr)) != len(new_isr) or any(r < 0 for r in new_isr)
            or not set(new_isr) <= set(part.replicas)):
        return ApiError(ErrorCode.INVALID_REQUEST)
    if part.leader not in new_isr:
        return ApiError(ErrorCode.INVALID_REQUEST)
    recovering = change.leader_recovery_state == LeaderRecoveryState.RECOVERING
    if recovering and len(new_isr) > 1:
        return ApiError(ErrorCode.INVALID_REQUEST)
    if recovering and part.leader_recovery_state == LeaderRecoveryState.RECOVERED:
        return ApiError(ErrorCode.INVALID_REQUEST)
    epochs = list(change.new_isr_broker_epochs) or [-1] * len(new_isr)
    for replica, epoch in zip(new_isr, epochs, strict=False):
        broker = image.brokers.get(replica)
        if broker is None or not broker.active or (epoch != -1 and broker.epoch != epoch):
            return ApiError(ErrorCode.INELIGIBLE_REPLICA if version > 1 else ErrorCode.OPERATION_NOT_ATTEMPTED)
    return None


# --- elections that follow broker state --------------------------------------------------


def fence_replica_changes(image: MetadataImage, broker_id: int,
                          configs: TopicConfigView = DEFAULT_TOPIC_CONFIGS,
                          only: Callable[[PartitionRegistration], bool] | None = None) -> list:
    """PartitionChangeRecords for a broker that stops serving (fenced or shutting down).

    The broker leaves every ISR it is in (the last member stays, with ELR off) and
    leaders move to the next eligible replica, as Kafka's ``generateLeaderAndIsrUpdates``;
    where the topic allows unclean elections and no ISR member can lead, the first
    active replica outside the ISR does.
    """
    base = active_predicate(image)

    def is_active(b: int) -> bool:
        return b != broker_id and base(b)

    directory = default_dir(image)
    records = []
    for topic in image.topics_by_name.values():
        election = None
        for index, part in topic.partitions.items():
            if (broker_id in part.isr or part.leader == broker_id) and (only is None or only(part)):
                if election is None:
                    election = election_for(image, topic.name, configs)
                record = partition_change(topic.id, index, part, is_active, election=election,
                                          target_isr=without_broker(part, broker_id), default_dir=directory)
                if record is not None:
                    records.append(record)
    return records


def offline_dir_replica_changes(image: MetadataImage, broker_id: int, offline_dirs: Sequence[Uuid],
                                configs: TopicConfigView = DEFAULT_TOPIC_CONFIGS) -> list:
    """PartitionChangeRecords for the replicas of ``broker_id`` in directories that failed
    (Kafka's ``handleDirectoriesOffline``): as for a fenced broker, but only those
    partitions; with no directory left online, every partition of the broker (replicas
    created before it registered its directory are UNASSIGNED)."""
    broker = image.brokers.get(broker_id)
    online = [d for d in (broker.log_dirs if broker is not None else ()) if d not in offline_dirs]
    if not online:
        return fence_replica_changes(image, broker_id, configs)
    failed = set(offline_dirs)
    return fence_replica_changes(image, broker_id, configs,
                                 only=lambda part: replica_directory(part, broker_id) in failed)


def unfence_replica_changes(image: MetadataImage, broker_id: int,
                            configs: TopicConfigView = DEFAULT_TOPIC_CONFIGS) -> list:
    """PartitionChangeRecords electing leaders of leaderless partitions now that
    ``broker_id`` is unfenced (Kafka's ``handleBrokerUnfenced``): from the ISR, or
    uncleanly where the topic allows it."""
    base = active_predicate(image)

    def is_active(b: int) -> bool:
        return b == broker_id or base(b)

    directory = default_dir(image)
    records = []
    for topic in image.topics_by_name.values():
        election = None
        for index, part in topic.partitions.items():
            if not part.has_leader():
                if election is None:
                    election = election_for(image, topic.name, configs)
                record = partition_change(topic.id, index, part, is_active, election=election,
                                          default_dir=directory)
                if record is not None:
                    records.append(record)
    return records
