"""Elections the controller runs on request or by itself: ElectLeaders, the periodic
preferred-leader balancing and the periodic unclean elections.

Kafka's ``ReplicationControlManager.electLeaders`` / ``electLeader``,
``maybeBalancePartitionLeaders`` and ``maybeElectUncleanLeaders``, as pure functions of
an image; the schedule is ``QuorumController``'s and lives in ``service.py``.

* ElectLeaders PREFERRED: ELECTION_NOT_NEEDED when the first replica already leads,
  else the first replica becomes leader if it is in the ISR and active; when no record
  results, PREFERRED_LEADER_NOT_AVAILABLE. (If the partition has no leader at all, a
  PREFERRED election may still elect another ISR member, as Kafka's builder does.)
* ElectLeaders UNCLEAN: ELECTION_NOT_NEEDED when the partition has a leader, else an
  ISR member, else any active replica (the ISR becomes that replica, RECOVERING); when
  none is active, ELIGIBLE_LEADERS_NOT_AVAILABLE. It does not look at the topic's
  ``unclean.leader.election.enable``: the request is the operator's decision.
* ``topic_partitions`` null means every partition of every topic; then partitions that
  need no election are left out of the answer.
* Balancing (``auto.leader.rebalance.enable``): every ``leader.imbalance.check.interval.seconds``
  after a write leaves some partition led by another replica than its first, a
  PREFERRED election for each such partition, at most 1000 per run (Kafka's
  ``MAX_ELECTIONS_PER_IMBALANCE``; a full run is repeated at once). Kafka 4.x's KRaft
  controller does not read ``leader.imbalance.per.broker.percentage``: any imbalanced
  partition is balanced, and so here.
* Unclean elections: every ``unclean.leader.election.interval.ms`` while some partition
  has no leader, an UNCLEAN election for those whose topic allows it.

:class:`LeaderIndex` keeps, from replayed records, the partitions not led by their
preferred replica and those without a leader (Kafka's ``imbalancedPartitions`` and
``BrokersToIsrs.partitionsWithNoLeader``), so the schedule never scans every partition.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from kafkapy.kraft.metadata.delta import NO_LEADER_CHANGE
from kafkapy.kraft.metadata.image import NO_LEADER, MetadataImage, Uuid
from kafkapy.kraft.metadata.partition_change import Election, partition_change
from kafkapy.kraft.metadata.records import PartitionChangeRecord, PartitionRecord, RemoveTopicRecord
from kafkapy.kraft.metadata.replication_control import active_predicate, default_dir
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.kraft.metadata.topic_configs import DEFAULT_TOPIC_CONFIGS, TopicConfigView
from kafkapy.wire.error_codes import ErrorCode

log = logging.getLogger(__name__)

#: Kafka's ``ReplicationControlManager.MAX_ELECTIONS_PER_IMBALANCE``.
MAX_ELECTIONS_PER_IMBALANCE = 1000


class ElectionType(enum.IntEnum):
    """Kafka's ``org.apache.kafka.common.ElectionType``, as ElectLeaders carries it."""

    PREFERRED = 0
    UNCLEAN = 1


class TopicElectionResult(NamedTuple):
    """One topic of the ElectLeaders answer: (partition, error) pairs."""

    topic: str
    partitions: list[tuple[int, ApiError]]


class ElectLeadersReply(NamedTuple):
    """The ElectLeaders answer: a request-level error (an unknown election type) or
    the per-topic results."""

    error: ApiError
    results: list[TopicElectionResult]


def elect_leaders(image: MetadataImage, election_type: int,
                  topic_partitions: Sequence[tuple[str, Sequence[int]]] | None
                  ) -> ControllerResult[ElectLeadersReply]:
    """ElectLeaders (Kafka's ``ReplicationControlManager.electLeaders``).

    Args:
        election_type: 0 PREFERRED, 1 UNCLEAN; anything else is INVALID_REQUEST
            ("Unknown election type N").
        topic_partitions: (topic, partitions) pairs, or None for every partition.
    """
    try:
        kind = ElectionType(election_type)
    except ValueError:
        return ControllerResult([], ElectLeadersReply(ApiError(
            ErrorCode.INVALID_REQUEST, f"Unknown election type {election_type}"), []))
    if topic_partitions is not None and not topic_partitions:
        return ControllerResult([], ElectLeadersReply(NO_ERROR, []))
    records: list = []
    results = []
    if topic_partitions is None:
        for name, topic in image.topics_by_name.items():
            result = TopicElectionResult(name, [])
            results.append(result)
            for index in topic.partitions:
                error = _elect_leader(image, name, index, kind, records)
                if error.code != ErrorCode.ELECTION_NOT_NEEDED:
                    result.partitions.append((index, error))
    else:
        for name, partitions in topic_partitions:
            result = TopicElectionResult(name, [])
            results.append(result)
            for index in partitions:
                result.partitions.append((index, _elect_leader(image, name, index, kind, records)))
    return ControllerResult(records, ElectLeadersReply(NO_ERROR, results))


def _elect_leader(image: MetadataImage, name: str, index: int, kind: ElectionType, records: list) -> ApiError:
    """One partition of ElectLeaders (Kafka's ``electLeader``); appends its record."""
    topic = image.topics_by_name.get(name)
    if topic is None:
        return ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {name}")
    part = topic.partitions.get(index)
    if part is None:
        return ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such partition as {name}-{index}")
    preferred = part.replicas[0] if part.replicas else NO_LEADER
    if (kind is ElectionType.PREFERRED and part.leader == preferred) or (
            kind is ElectionType.UNCLEAN and part.has_leader()):
        return ApiError(ErrorCode.ELECTION_NOT_NEEDED, ErrorCode.ELECTION_NOT_NEEDED.message)
    election = Election.PREFERRED if kind is ElectionType.PREFERRED else Election.UNCLEAN
    record = partition_change(topic.id, index, part, active_predicate(image), election=election,
                              default_dir=default_dir(image))
    if record is None:
        code = (ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE if kind is ElectionType.PREFERRED
                else ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE)
        return ApiError(code, code.message)
    if kind is ElectionType.UNCLEAN and record.isr is not None:
        log.info("unclean election of %d for %s-%d at the operator's request", record.leader, name, index)
    records.append(record)
    return NO_ERROR


# --- the controller's own elections -----------------------------------------------------


def balance_partition_leaders(image: MetadataImage, candidates: Iterable[tuple[Uuid, int]], *,
                              max_elections: int = MAX_ELECTIONS_PER_IMBALANCE) -> ControllerResult[bool]:
    """PREFERRED elections for partitions not led by their first replica
    (``maybeBalancePartitionLeaders``). The answer is True when the run stopped at
    ``max_elections`` records and more may be waiting."""
    is_active = active_predicate(image)
    directory = default_dir(image)
    records: list = []
    for topic_id, index in candidates:
        if len(records) >= max_elections:
            break
        topic = image.topics_by_id.get(topic_id)
        part = None if topic is None else topic.partitions.get(index)
        if part is None or not part.replicas or part.leader == part.replicas[0]:
            continue
        record = partition_change(topic_id, index, part, is_active, election=Election.PREFERRED,
                                  default_dir=directory)
        if record is not None:
            records.append(record)
    return ControllerResult(records, len(records) >= max_elections)


def elect_unclean_leaders(image: MetadataImage, candidates: Iterable[tuple[Uuid, int]], *,
                          configs: TopicConfigView = DEFAULT_TOPIC_CONFIGS,
                          max_elections: int = MAX_ELECTIONS_PER_IMBALANCE) -> ControllerResult[bool]:
    """UNCLEAN elections for leaderless partitions of topics with
    ``unclean.leader.election.enable`` (``maybeElectUncleanLeaders``); the answer is
    True when the run stopped at ``max_elections`` records."""
    records: list = []
    allowed: dict[str, bool] = {}
    for topic_id, index in candidates:
        if len(records) >= max_elections:
            break
        topic = image.topics_by_id.get(topic_id)
        if topic is None:
            continue
        part = topic.partitions.get(index)
        if part is None or part.has_leader():
            continue
        if topic.name not in allowed:
            allowed[topic.name] = configs.unclean_leader_election(image, topic.name)
        if not allowed[topic.name]:
            continue
        error = _elect_leader(image, topic.name, index, ElectionType.UNCLEAN, records)
        if error.code == ErrorCode.NONE:
            log.error("unclean leader election for offline partition %s-%d", topic.name, index)
        else:
            log.warning("cannot elect an unclean leader for offline partition %s-%d: %s",
                        topic.name, index, error.code.name)
    return ControllerResult(records, len(records) >= max_elections)


class LeaderIndex:
    """Partitions led by another replica than their first, and partitions without a
    leader, kept up to date from replayed records. Not task-safe."""

    def __init__(self) -> None:
        #: (topic id, partition) -> (leader, preferred replica)
        self._state: dict[tuple[Uuid, int], tuple[int, int]] = {}
        self.imbalanced: set[tuple[Uuid, int]] = set()
        self.leaderless: set[tuple[Uuid, int]] = set()

    def replay(self, record: Any) -> None:
        """Note one committed metadata record (others are ignored)."""
        if isinstance(record, PartitionRecord):
            self._set((record.topic_id, record.partition_id), record.leader,
                      record.replicas[0] if record.replicas else NO_LEADER)
        elif isinstance(record, PartitionChangeRecord):
            key = (record.topic_id, record.partition_id)
            leader, preferred = self._state.get(key, (NO_LEADER, NO_LEADER))
            if record.leader != NO_LEADER_CHANGE:
                leader = record.leader
            if record.replicas is not None:
                preferred = record.replicas[0] if record.replicas else NO_LEADER
            self._set(key, leader, preferred)
        elif isinstance(record, RemoveTopicRecord):
            for key in [k for k in self._state if k[0] == record.topic_id]:
                self.discard(key)

    def _set(self, key: tuple[Uuid, int], leader: int, preferred: int) -> None:
        self._state[key] = (leader, preferred)
        if leader == preferred:
            self.imbalanced.discard(key)
        else:
            self.imbalanced.add(key)
        if leader == NO_LEADER:
            self.leaderless.add(key)
        else:
            self.leaderless.discard(key)

    def discard(self, key: tuple[Uuid, int]) -> None:
        """Forget a partition (its topic is gone)."""
        self._state.pop(key, None)
        self.imbalanced.discard(key)
        self.leaderless.discard(key)

    def prune(self, image: MetadataImage) -> None:
        """Drop partitions ``image`` does not hold (after a snapshot replaced the image)."""
        for key in list(self._state):
            topic = image.topics_by_id.get(key[0])
            if topic is None or key[1] not in topic.partitions:
                self.discard(key)
