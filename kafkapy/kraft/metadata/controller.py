"""The active controller's logic, pure: image + request -> records + answer.

Kafka's ``QuorumController`` splits its work among control managers; so does this
package, and :class:`Controller` is the one object the runtime talks to:

* ``cluster_control.py``: broker registration, heartbeats, fencing, controlled shutdown;
* ``replication_control.py``: topics, partitions, AlterPartition, leader elections;
* ``elections.py``: ElectLeaders, preferred-leader balancing, periodic unclean elections;
* ``reassignments.py``: AlterPartitionReassignments, ListPartitionReassignments;
* ``configuration_control.py``: AlterConfigs / IncrementalAlterConfigs;
* ``feature_control.py``: UpdateFeatures (finalized feature levels);
* ``scram_control.py``: AlterUserScramCredentials (SCRAM credentials, KIP-554);
* ``acl_control.py``: CreateAcls and DeleteAcls (ACLs, KIP-801);
* producer id blocks, here (``ProducerIdControlManager``).

Nothing here does I/O, awaits or reads a clock: time comes in as ``now_ms`` and
randomness from the ``random.Random`` given at construction, so tests are
deterministic. The caller (``service.py``) serializes operations: each one is computed
on an image that holds every record of the operations before it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from kafkapy.config import BrokerConfig
from kafkapy.kraft.metadata import (
    acl_control,
    configuration_control,
    elections,
    feature_control,
    quota_control,
    reassignments,
    replication_control,
    scram_control,
)
from kafkapy.kraft.metadata.acls import AclFilter, StandardAcl
from kafkapy.kraft.metadata.cluster_control import (
    BrokerHeartbeatReply,
    BrokerHeartbeatRequest,
    BrokerRegistrationReply,
    BrokerRegistrationRequest,
    ClusterControl,
)
from kafkapy.kraft.metadata.configuration_control import (
    AlterConfigsResult,
    ConfigChange,
    ConfigResource,
)
from kafkapy.kraft.metadata.image import MetadataImage, Uuid
from kafkapy.kraft.metadata.records import ProducerIdsRecord
from kafkapy.kraft.metadata.replication_control import (
    CreatePartitionsResult,
    CreateTopicResult,
    DeleteTopicResult,
    NewPartitions,
    NewTopic,
    PartitionStateChange,
    PartitionStateResult,
)
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.kraft.metadata.topic_configs import TopicConfigView
from kafkapy.wire.error_codes import ErrorCode

#: Kafka's ``ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE``.
PRODUCER_ID_BLOCK_SIZE = 1000
_LONG_MAX = 2**63 - 1


class ControllerConfig(NamedTuple):
    """The broker configs the controller's decisions depend on, with Kafka's defaults."""

    #: num.partitions
    num_partitions: int = 1
    #: default.replication.factor
    default_replication_factor: int = 1
    #: broker.session.timeout.ms
    broker_session_timeout_ms: int = 9000
    #: auto.leader.rebalance.enable
    auto_leader_rebalance_enable: bool = True
    #: leader.imbalance.check.interval.seconds, in ms
    leader_imbalance_check_interval_ms: int = 300_000
    #: unclean.leader.election.interval.ms
    unclean_leader_election_interval_ms: int = 300_000
    #: node.id and the static topic defaults, for topics' effective configs
    topic_configs: TopicConfigView = TopicConfigView()
    #: the node's configuration: the bounds of group configs (group.share.min.record.lock.duration.ms, ...)
    broker_config: BrokerConfig | None = None

    @classmethod
    def from_broker_config(cls, config: BrokerConfig) -> ControllerConfig:
        """The controller's settings from a node's configuration."""
        return cls(num_partitions=config.num_partitions,
                   default_replication_factor=config.default_replication_factor,
                   broker_session_timeout_ms=config.broker_session_timeout_ms,
                   auto_leader_rebalance_enable=config.auto_leader_rebalance_enable,
                   leader_imbalance_check_interval_ms=config.leader_imbalance_check_interval_seconds * 1000,
                   unclean_leader_election_interval_ms=config.unclean_leader_election_interval_ms,
                   topic_configs=TopicConfigView.from_broker_config(config), broker_config=config)


class ProducerIdsBlock(NamedTuple):
    """AllocateProducerIds' answer: ids ``producer_id_start`` .. start + len - 1."""

    error: ApiError = NO_ERROR
    producer_id_start: int = -1
    producer_id_len: int = 0


class Controller:
    """Turns admin and broker requests into metadata records. Not task-safe."""

    def __init__(self, config: ControllerConfig = ControllerConfig(), *, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.cluster = ClusterControl(config.broker_session_timeout_ms, topic_configs=config.topic_configs)
        self.leaders = elections.LeaderIndex()

    # --- state from the log -------------------------------------------------------------

    def replay(self, record: Any, offset: int) -> None:
        """Note a committed record at ``offset`` (registration offsets for catch-up,
        partitions whose leader is not the preferred one or missing)."""
        self.cluster.replay(record, offset)
        self.leaders.replay(record)

    def activate(self, image: MetadataImage, now_ms: int) -> None:
        """This node became the active controller with ``image`` fully applied."""
        self.cluster.activate(image, now_ms)

    # --- topics -------------------------------------------------------------------------

    def create_topics(self, image: MetadataImage, topics: Sequence[NewTopic], *,
                      validate_only: bool = False) -> ControllerResult[list[CreateTopicResult]]:
        return replication_control.create_topics(
            image, topics, validate_only=validate_only,
            default_num_partitions=self.config.num_partitions,
            default_replication_factor=self.config.default_replication_factor, rng=self.rng)

    def delete_topics(self, image: MetadataImage, names: Iterable[str] = (),
                      ids: Iterable[Uuid] = ()) -> ControllerResult[list[DeleteTopicResult]]:
        return replication_control.delete_topics(image, names, ids)

    def create_partitions(self, image: MetadataImage, topics: Sequence[NewPartitions], *,
                          validate_only: bool = False) -> ControllerResult[list[CreatePartitionsResult]]:
        return replication_control.create_partitions(image, topics, validate_only=validate_only, rng=self.rng)

    def alter_partition(self, image: MetadataImage, broker_id: int, broker_epoch: int,
                        topics: Mapping[Uuid, Sequence[PartitionStateChange]], *, version: int = 3
                        ) -> ControllerResult[tuple[ApiError, list[PartitionStateResult]]]:
        return replication_control.alter_partition(image, broker_id, broker_epoch, topics, version=version,
                                                   configs=self.config.topic_configs)

    # --- elections and reassignments ----------------------------------------------------

    def elect_leaders(self, image: MetadataImage, election_type: int,
                      topic_partitions: Sequence[tuple[str, Sequence[int]]] | None
                      ) -> ControllerResult[elections.ElectLeadersReply]:
        return elections.elect_leaders(image, election_type, topic_partitions)

    def balance_partition_leaders(self, image: MetadataImage) -> ControllerResult[bool]:
        """PREFERRED elections where the first replica does not lead (``auto.leader.rebalance.enable``)."""
        self.leaders.prune(image)
        return elections.balance_partition_leaders(image, sorted(self.leaders.imbalanced))

    def elect_unclean_leaders(self, image: MetadataImage) -> ControllerResult[bool]:
        """UNCLEAN elections for leaderless partitions of topics that allow them."""
        self.leaders.prune(image)
        return elections.elect_unclean_leaders(image, sorted(self.leaders.leaderless),
                                               configs=self.config.topic_configs)

    def alter_partition_reassignments(
            self, image: MetadataImage,
            topics: Sequence[tuple[str, Sequence[reassignments.PartitionReassignment]]], *,
            allow_replication_factor_change: bool = True,
    ) -> ControllerResult[list[reassignments.TopicReassignmentResult]]:
        return reassignments.alter_partition_reassignments(
            image, topics, allow_replication_factor_change=allow_replication_factor_change,
            configs=self.config.topic_configs)

    # --- configs ------------------------------------------------------------------------

    def incremental_alter_configs(self, image: MetadataImage,
                                  changes: Sequence[tuple[ConfigResource, Sequence[ConfigChange]]], *,
                                  validate_only: bool = False) -> ControllerResult[list[AlterConfigsResult]]:
        return configuration_control.incremental_alter_configs(image, changes, validate_only=validate_only,
                                                               broker=self.config.broker_config)

    def alter_configs(self, image: MetadataImage,
                      changes: Sequence[tuple[ConfigResource, Mapping[str, str | None]]], *,
                      validate_only: bool = False) -> ControllerResult[list[AlterConfigsResult]]:
        return configuration_control.alter_configs(image, changes, validate_only=validate_only,
                                                   broker=self.config.broker_config)

    # --- features -----------------------------------------------------------------------

    def update_features(self, image: MetadataImage, updates: Sequence[feature_control.FeatureUpdate], *,
                        validate_only: bool = False) -> ControllerResult[dict[str, ApiError]]:
        return feature_control.update_features(image, updates, validate_only=validate_only)

    # --- SCRAM credentials ----------------------------------------------------------------

    def alter_user_scram_credentials(
            self, image: MetadataImage, deletions: Sequence[scram_control.ScramDeletion],
            upsertions: Sequence[scram_control.ScramUpsertion]) -> ControllerResult[list[scram_control.UserResult]]:
        return scram_control.alter_user_scram_credentials(image, deletions, upsertions)

    # --- client quotas (KIP-546) ---------------------------------------------------------

    def alter_client_quotas(self, image: MetadataImage, alterations: Sequence[quota_control.QuotaAlteration], *,
                            validate_only: bool = False) -> ControllerResult[list[Any]]:
        return quota_control.alter_client_quotas(image, alterations, validate_only=validate_only)

    # --- ACLs (KIP-801) ------------------------------------------------------------------

    def create_acls(self, image: MetadataImage,
                    acls: Sequence[StandardAcl]) -> ControllerResult[list[ApiError]]:
        return acl_control.create_acls(image, acls)

    def delete_acls(self, image: MetadataImage,
                    filters: Sequence[AclFilter]) -> ControllerResult[list[acl_control.AclDeleteResult]]:
        return acl_control.delete_acls(image, filters)

    # --- brokers ------------------------------------------------------------------------

    def register_broker(self, image: MetadataImage, request: BrokerRegistrationRequest,
                        now_ms: int) -> ControllerResult[BrokerRegistrationReply]:
        return self.cluster.register_broker(image, request, now_ms)

    def broker_heartbeat(self, image: MetadataImage, request: BrokerHeartbeatRequest,
                         now_ms: int) -> ControllerResult[BrokerHeartbeatReply]:
        return self.cluster.heartbeat(image, request, now_ms)

    def fence_stale_brokers(self, image: MetadataImage, now_ms: int) -> ControllerResult[list[int]]:
        return self.cluster.fence_stale_brokers(image, now_ms)

    # --- producer ids -------------------------------------------------------------------

    def allocate_producer_ids(self, image: MetadataImage, broker_id: int,
                              broker_epoch: int) -> ControllerResult[ProducerIdsBlock]:
        """AllocateProducerIds: the next block of 1000 ids, as a ProducerIdsRecord.

        Errors: STALE_BROKER_EPOCH for an unregistered broker or another epoch;
        UNKNOWN_SERVER_ERROR once the id space is exhausted (Kafka's message).
        """
        broker = image.brokers.get(broker_id)
        if broker is None or broker.epoch != broker_epoch:
            return ControllerResult([], ProducerIdsBlock(ApiError(ErrorCode.STALE_BROKER_EPOCH)))
        start = image.next_producer_id
        if start > _LONG_MAX - PRODUCER_ID_BLOCK_SIZE:
            return ControllerResult([], ProducerIdsBlock(ApiError(
                ErrorCode.UNKNOWN_SERVER_ERROR, "Exhausted all producerIds.")))
        record = ProducerIdsRecord(broker_id=broker_id, broker_epoch=broker_epoch,
                                   next_producer_id=start + PRODUCER_ID_BLOCK_SIZE)
        return ControllerResult([record], ProducerIdsBlock(NO_ERROR, start, PRODUCER_ID_BLOCK_SIZE))
