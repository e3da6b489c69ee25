"""MetadataService: the metadata image a node serves from, and the controller it runs.

Theory of operation. Every node registers a :class:`MetadataService` as the listener
of its Raft client. Committed entries are decoded and replayed into a delta, and the
resulting image replaces :attr:`MetadataService.image` in one assignment; publishers
(the broker's replica manager) are called with the old and new image, and waiters on
:meth:`wait_for` and :meth:`changed` wake. Reading ``service.image`` is an attribute
load, so request handlers read it freely.

On the node that leads the quorum the service is also the active controller.
Controller operations run one at a time under a lock: each is computed by the pure
:class:`~kafkapy.kraft.metadata.controller.Controller` from the current image, its
records are proposed as one batch, and the operation returns only once that batch is
committed and applied, so the next operation sees it and no answer claims a change the
log does not hold. Before the first operation of a new epoch the service waits until
the entries of that epoch start to commit (the leader's LeaderChange record), so the
image holds everything earlier leaders committed. If leadership is lost before the
batch commits, the operation raises :class:`NotControllerError`, as Kafka answers
NOT_CONTROLLER; the client retries against the new controller.

:meth:`run` is the background task of the active controller: it writes the bootstrap
records (``bootstrap.py``) when the log has no ``metadata.version`` yet, as Kafka's
controller does on activation, fences brokers whose session expired, and runs the
controller's own elections on ``QuorumController``'s schedule: when some partition is
not led by its preferred replica (``auto.leader.rebalance.enable``), a balancing run
``leader.imbalance.check.interval.seconds`` later; when some partition has no leader,
an unclean-election run ``unclean.leader.election.interval.ms`` later; a run that hit
its cap of elections is repeated after 10 ms. Time is ``trio.current_time()`` in ms
unless a clock is given.

Task-safety: all methods run in one trio thread; image replacement is atomic with
respect to other tasks because nothing here yields between decode and assignment.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import trio

from kafkapy.kraft.metadata.cluster_control import (
    BrokerHeartbeatReply,
    BrokerHeartbeatRequest,
    BrokerRegistrationReply,
    BrokerRegistrationRequest,
)
from kafkapy.kraft.metadata.configuration_control import (
    AlterConfigsResult,
    ConfigChange,
    ConfigResource,
)
from kafkapy.kraft.metadata.controller import (
    Controller,
    ControllerConfig,
    ProducerIdsBlock,
)
from kafkapy.kraft.metadata.elections import ElectLeadersReply
from kafkapy.kraft.metadata.errors import MetadataError, NotControllerError
from kafkapy.kraft.metadata.feature_control import FeatureUpdate
from kafkapy.kraft.metadata.image import MetadataImage, Uuid
from kafkapy.kraft.metadata.raft_client import RaftClient
from kafkapy.kraft.metadata.reassignments import (
    OngoingReassignment,
    PartitionReassignment,
    TopicReassignmentResult,
    list_partition_reassignments,
)
from kafkapy.kraft.metadata.records import decode_record, encode_record
from kafkapy.kraft.metadata.replication_control import (
    CreatePartitionsResult,
    CreateTopicResult,
    DeleteTopicResult,
    NewPartitions,
    NewTopic,
    PartitionStateChange,
    PartitionStateResult,
)
from kafkapy.kraft.metadata.results import ApiError, ControllerResult
from kafkapy.kraft.raft.errors import RaftError
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.storage.errors import StorageError
from kafkapy.wire.error_codes import ErrorCode

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Called with (old image, new image) after every image change, in the driver's task.
Publisher = Callable[[MetadataImage, MetadataImage], None]

#: How often the active controller looks for expired broker sessions at most.
_SESSION_CHECK_MS = 1000
#: Delay of a balancing or unclean-election run repeated because the last one hit its
#: cap (``QuorumController``'s "immediately": 10 ms).
_RERUN_MS = 10


class MetadataService:
    """The current metadata image, and the controller operations of the active node."""

    def __init__(self, raft: RaftClient, *, cluster_id: str | None,
                 config: ControllerConfig | None = None, bootstrap: Sequence[Any] = (),
                 rng: random.Random | None = None, clock: Callable[[], float] | None = None) -> None:
        self.raft = raft
        self._bootstrap = list(bootstrap)
        self.image: MetadataImage = MetadataImage(cluster_id=cluster_id)
        self.controller = Controller(config or ControllerConfig(), rng=rng or random.Random())
        self._clock = clock or (lambda: trio.current_time() * 1000)
        self._publishers: list[Publisher] = []
        self._changed = trio.Event()
        self._lock = trio.Lock()
        self.leader_id: int | None = None
        self.epoch = -1
        #: The epoch in which this node is the active controller with a complete image.
        self._active_epoch = -1
        #: When the next balancing / unclean-election run is due (ms), None when not
        #: scheduled; whether the last run stopped at its cap.
        self._balance_at: float | None = None
        self._balance_more = False
        self._unclean_at: float | None = None
        self._unclean_more = False
        #: The records of an open metadata transaction (KIP-868: BeginTransactionRecord
        #: seen, EndTransactionRecord not yet), with their offsets; None when none is open.
        self._transaction: list[tuple[int, Any]] | None = None
        raft.register(self)

    # --- reading ------------------------------------------------------------------------

    @property
    def is_active_controller(self) -> bool:
        return self._active_epoch == self.epoch and self.leader_id == self.raft.node_id

    def add_publisher(self, publisher: Publisher) -> None:
        """Call ``publisher(old, new)`` after every image change (Kafka's MetadataPublisher)."""
        self._publishers.append(publisher)

    def changed(self) -> trio.Event:
        """An event set at the next change of the image or of the quorum leader."""
        return self._changed

    async def wait_for(self, offset: int) -> MetadataImage:
        """Wait until the image includes ``offset``; returns that image."""
        while self.image.offset < offset:
            await self._changed.wait()
        return self.image

    def snapshot(self) -> tuple[int, int, list[bytes]]:
        """What a snapshot of the applied image holds: its id's end offset (exclusive),
        the epoch of its last record, and the framed record values (KIP-630 content)."""
        image = self.image
        return image.offset + 1, image.epoch, [encode_record(r) for r in image.to_records()]

    # --- MetadataListener (called by the Raft driver) -----------------------------------

    def handle_load_snapshot(self, end_offset: int, epoch: int, values: Iterable[bytes]) -> None:
        records = [decode_record(v) for v in values]
        last = end_offset - 1
        self._transaction = None  # a snapshot never ends inside a transaction
        image = MetadataImage(cluster_id=self.image.cluster_id).apply(records, offset=last, epoch=epoch)
        for record in records:
            self.controller.replay(record, last)
        self._publish(image)

    def handle_commit(self, entries: Sequence[LogEntry]) -> None:
        if not entries:
            return
        delta = self.image.delta()
        applied: LogEntry | None = None  # the last entry outside an open transaction
        for entry in entries:
            if isinstance(entry.value, (bytes, bytearray, memoryview)):
                record = decode_record(entry.value)
                for offset, replayed in self._transactional(entry.offset, record):
                    delta.replay(replayed)
                    self.controller.replay(replayed, offset)
            if self._transaction is None:
                applied = entry
        last = entries[-1]
        # Entries all inside a transaction still open: nothing new to publish yet.
        image = self.image if applied is None else delta.apply(offset=applied.offset, epoch=applied.epoch)
        if self.leader_id == self.raft.node_id and last.epoch == self.epoch and self._active_epoch != self.epoch:
            # Our epoch's first entry is committed: everything before it is applied.
            self._active_epoch = self.epoch
            self.controller.activate(image, int(self._clock()))
            log.info("active controller in epoch %d at offset %d", self.epoch, last.offset)
        self._publish(image)

    def _transactional(self, offset: int, record: Any) -> list[tuple[int, Any]]:
        """What to replay now for ``record``: a metadata transaction (KIP-868) is applied
        whole at its EndTransactionRecord and dropped at an AbortTransactionRecord, as
        Kafka's MetadataLoader and QuorumController do, so no image shows half of one
        (a Kafka controller's bootstrap records, or a change it split over batches)."""
        kind = type(record).__name__
        if kind == "BeginTransactionRecord":
            if self._transaction is not None:
                raise MetadataError(f"BeginTransactionRecord at offset {offset} inside an open transaction")
            self._transaction = []
            return [(offset, record)]
        if kind in ("EndTransactionRecord", "AbortTransactionRecord"):
            pending, self._transaction = self._transaction, None
            if pending is None:
                raise MetadataError(f"{kind} at offset {offset} without a BeginTransactionRecord")
            if kind == "AbortTransactionRecord":
                log.info("Metadata transaction aborted at offset %d (%s): %d records dropped", offset,
                         record.reason, len(pending))
                pending = []
            return [*pending, (offset, record)]
        if self._transaction is not None:
            self._transaction.append((offset, record))
            return []
        return [(offset, record)]

    def handle_leader_change(self, leader_id: int | None, epoch: int) -> None:
        self.leader_id = leader_id
        self.epoch = epoch
        self._wake()

    def _publish(self, image: MetadataImage) -> None:
        old, self.image = self.image, image
        for publisher in self._publishers:
            try:
                publisher(old, image)
            except Exception:
                # Kafka's MetadataLoader hands a publisher's error to the broker's
                # metadata-publishing fault handler, which logs it and goes on (a
                # non-fatal fault): the image is applied, the next one tries again.
                log.exception("Error publishing the metadata image at offset %d with publisher %r",
                              image.offset, publisher)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # --- writing ------------------------------------------------------------------------

    async def submit(self, records: Sequence[Any]) -> int:
        """Append ``records`` as one batch through the quorum; wait until applied.

        Returns:
            The offset of the last record.
        Raises:
            NotControllerError: not the leader, or leadership changed before the commit.
        """
        epoch = self.epoch
        try:
            offset = await self.raft.propose([encode_record(r) for r in records])
        except (OSError, StorageError, RaftError) as exc:
            if isinstance(exc, RaftError) and exc.error_code != ErrorCode.KAFKA_STORAGE_ERROR:
                raise
            # The metadata log could not be written (a full disk): the Raft driver has
            # stopped and acknowledges nothing it did not persist. Kafka halts here;
            # this node stays up for reads and answers as a node that is not the
            # controller, so callers (brokers, admin clients) look for another one.
            raise NotControllerError(f"the metadata log cannot be written on this node: {exc}", None) from exc
        while self.image.offset < offset:
            if self.epoch != epoch:
                raise NotControllerError(
                    f"leadership moved to {self.leader_id} in epoch {self.epoch} before "
                    f"offset {offset} committed", self.leader_id)
            await self._changed.wait()
        if self.epoch != epoch:
            # The offset is applied, but it may hold a new leader's record, not ours.
            raise NotControllerError("leadership changed while committing", self.leader_id)
        return offset

    async def _run(self, operation: Callable[[MetadataImage], ControllerResult[T]]) -> T:
        """Run one controller operation: compute on the image, commit, answer."""
        async with self._lock:
            await self._wait_active()
            await self._maybe_bootstrap()
            result = operation(self.image)
            if result.records:
                await self.submit(result.records)
            return result.response

    async def _maybe_bootstrap(self) -> None:
        """Write the bootstrap records if the log has none yet (Kafka's controller does
        this on activation when no ``metadata.version`` is finalized), and end the metadata
        transaction a former leader left open with an AbortTransactionRecord (Kafka's
        ``QuorumController`` on activation, KIP-868). Lock held."""
        if self._transaction is not None:
            from kafkapy.wire.messages.cluster_metadata.abort_transaction_record import AbortTransactionRecord

            await self.submit([AbortTransactionRecord(
                reason="the controller that began it is no longer active")])
        if self._bootstrap and self.image.metadata_version == 0:
            await self.submit(self._bootstrap)
            log.info("wrote %d bootstrap records", len(self._bootstrap))

    async def _wait_active(self) -> None:
        while not self.is_active_controller:
            if self.leader_id != self.raft.node_id:
                raise NotControllerError(f"node {self.raft.node_id} is not the active controller",
                                         self.leader_id)
            await self._changed.wait()

    # --- controller operations ----------------------------------------------------------

    async def create_topics(self, topics: Sequence[NewTopic], *,
                            validate_only: bool = False) -> list[CreateTopicResult]:
        return await self._run(lambda image: self.controller.create_topics(
            image, topics, validate_only=validate_only))

    async def delete_topics(self, names: Iterable[str] = (), ids: Iterable[Uuid] = ()) -> list[DeleteTopicResult]:
        names, ids = list(names), list(ids)
        return await self._run(lambda image: self.controller.delete_topics(image, names, ids))

    async def create_partitions(self, topics: Sequence[NewPartitions], *,
                                validate_only: bool = False) -> list[CreatePartitionsResult]:
        return await self._run(lambda image: self.controller.create_partitions(
            image, topics, validate_only=validate_only))

    async def incremental_alter_configs(self, changes: Sequence[tuple[ConfigResource, Sequence[ConfigChange]]], *,
                                        validate_only: bool = False) -> list[AlterConfigsResult]:
        return await self._run(lambda image: self.controller.incremental_alter_configs(
            image, changes, validate_only=validate_only))

    async def alter_configs(self, changes: Sequence[tuple[ConfigResource, Mapping[str, str | None]]], *,
                            validate_only: bool = False) -> list[AlterConfigsResult]:
        return await self._run(lambda image: self.controller.alter_configs(
            image, changes, validate_only=validate_only))

    async def update_features(self, updates: Sequence[FeatureUpdate], *,
                              validate_only: bool = False) -> dict[str, ApiError]:
        return await self._run(lambda image: self.controller.update_features(
            image, updates, validate_only=validate_only))

    async def alter_user_scram_credentials(self, deletions: Sequence[Any], upsertions: Sequence[Any]) -> list[Any]:
        """AlterUserScramCredentials (``scram_control``): the per-user answers once committed."""
        return await self._run(lambda image: self.controller.alter_user_scram_credentials(
            image, deletions, upsertions))

    async def alter_client_quotas(self, alterations: Sequence[Any], *, validate_only: bool = False) -> list[Any]:
        """AlterClientQuotas (``quota_control``): (entity, ApiError) pairs once committed."""
        return await self._run(lambda image: self.controller.alter_client_quotas(
            image, alterations, validate_only=validate_only))

    async def create_acls(self, acls: Sequence[Any]) -> list[Any]:
        """CreateAcls (``acl_control``): an ApiError per binding once committed."""
        return await self._run(lambda image: self.controller.create_acls(image, acls))

    async def delete_acls(self, filters: Sequence[Any]) -> list[Any]:
        """DeleteAcls (``acl_control``): an AclDeleteResult per filter once committed."""
        return await self._run(lambda image: self.controller.delete_acls(image, filters))

    async def register_broker(self, request: BrokerRegistrationRequest) -> BrokerRegistrationReply:
        return await self._run(lambda image: self.controller.register_broker(
            image, request, int(self._clock())))

    async def broker_heartbeat(self, request: BrokerHeartbeatRequest) -> BrokerHeartbeatReply:
        return await self._run(lambda image: self.controller.broker_heartbeat(
            image, request, int(self._clock())))

    async def alter_partition(self, broker_id: int, broker_epoch: int,
                              topics: Mapping[Uuid, Sequence[PartitionStateChange]], *, version: int = 3
                              ) -> tuple[ApiError, list[PartitionStateResult]]:
        return await self._run(lambda image: self.controller.alter_partition(
            image, broker_id, broker_epoch, topics, version=version))

    async def elect_leaders(self, election_type: int,
                            topic_partitions: Sequence[tuple[str, Sequence[int]]] | None) -> ElectLeadersReply:
        return await self._run(lambda image: self.controller.elect_leaders(image, election_type, topic_partitions))

    async def alter_partition_reassignments(
            self, topics: Sequence[tuple[str, Sequence[PartitionReassignment]]], *,
            allow_replication_factor_change: bool = True) -> list[TopicReassignmentResult]:
        return await self._run(lambda image: self.controller.alter_partition_reassignments(
            image, topics, allow_replication_factor_change=allow_replication_factor_change))

    def list_partition_reassignments(self, topics: Sequence[tuple[str, Sequence[int]]] | None
                                     ) -> list[tuple[str, list[OngoingReassignment]]]:
        """Reassignments in progress, read from the current image (Kafka answers this
        from the controller's state without a write)."""
        return list_partition_reassignments(self.image, topics)

    async def allocate_producer_ids(self, broker_id: int, broker_epoch: int) -> ProducerIdsBlock:
        return await self._run(lambda image: self.controller.allocate_producer_ids(
            image, broker_id, broker_epoch))

    async def register_controller(self, request: Any) -> ApiError:
        """ControllerRegistration (KIP-919, ``controller_registration``): the answer once
        the RegisterControllerRecord commits."""
        from kafkapy.kraft.metadata.controller_registration import register_controller

        return await self._run(lambda image: register_controller(image, request))

    async def unregister_broker(self, broker_id: int) -> ApiError:
        """UnregisterBroker (``cluster_control``): the answer once its records commit."""
        return await self._run(lambda image: self.controller.cluster.unregister_broker(image, broker_id))

    async def unregister_controller(self, controller_id: int) -> ApiError:
        """UnregisterController (Kafka 4.4, ``controller_registration``): the answer once
        the UnregisterControllerRecord commits."""
        from kafkapy.kraft.metadata.controller_registration import unregister_controller

        return await self._run(lambda image: unregister_controller(image, controller_id))

    async def assign_replicas_to_dirs(self, broker_id: int, broker_epoch: int, assignments: Any) -> Any:
        """AssignReplicasToDirs (``directory_assignment``): the reply once committed."""
        from kafkapy.kraft.metadata.directory_assignment import assign_replicas_to_dirs

        return await self._run(lambda image: assign_replicas_to_dirs(
            image, broker_id, broker_epoch, assignments, self.controller.cluster.topic_configs))

    async def fence_stale_brokers(self) -> list[int]:
        """Fence brokers whose session expired; returns their ids."""
        return await self._run(lambda image: self.controller.fence_stale_brokers(
            image, int(self._clock())))

    # --- background ---------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """While this node is the active controller, fence brokers whose session expired
        and run the periodic elections."""
        task_status.started()
        while True:
            if not self.is_active_controller:
                self._balance_at = self._unclean_at = None  # Kafka cancels them on renounce
                await self._changed.wait()
                continue
            if (self._bootstrap and self.image.metadata_version == 0) or self._transaction is not None:
                try:
                    await self._run(lambda image: ControllerResult([], None))
                except NotControllerError:
                    continue
            now = self._clock()
            self._schedule_elections(now)
            expiry = self.controller.cluster.next_session_expiry_ms(self.image)
            session_wake = now + _SESSION_CHECK_MS if expiry is None else max(expiry, now)
            wake = min([session_wake] + [t for t in (self._balance_at, self._unclean_at) if t is not None])
            with trio.move_on_after(max(wake - now, 0) / 1000 if math.isfinite(wake) else 1.0):
                await self._changed.wait()
            if not self.is_active_controller:
                continue
            now = self._clock()
            try:
                if now >= session_wake:
                    fenced = await self.fence_stale_brokers()
                    if fenced:
                        log.info("fenced brokers %s: no heartbeat within the session timeout", fenced)
                if self._balance_at is not None and now >= self._balance_at:
                    self._balance_at = None
                    self._balance_more = await self._run(self.controller.balance_partition_leaders)
                if self._unclean_at is not None and now >= self._unclean_at:
                    self._unclean_at = None
                    self._unclean_more = await self._run(self.controller.elect_unclean_leaders)
            except NotControllerError:
                continue

    def _schedule_elections(self, now: float) -> None:
        """Schedule a balancing run while some partition's leader is not its preferred
        replica, and an unclean-election run while some partition has no leader
        (``maybeScheduleNextBalancePartitionLeaders``, ``maybeScheduleNextElectUncleanLeaders``)."""
        config = self.controller.config
        leaders = self.controller.leaders
        if self._balance_at is None and config.auto_leader_rebalance_enable and leaders.imbalanced:
            delay = _RERUN_MS if self._balance_more else config.leader_imbalance_check_interval_ms
            self._balance_at = now + delay
        if self._unclean_at is None and leaders.leaderless:
            delay = _RERUN_MS if self._unclean_more else config.unclean_leader_election_interval_ms
            self._unclean_at = now + delay
