"""The partitions this node hosts, as the metadata image assigns them.

Theory of operation (Kafka's ``ReplicaManager`` + ``Partition``):

* The replica manager listens to the metadata image. For every partition whose
  replica list holds this node it keeps a :class:`Partition` with its log; it makes
  the node leader or follower as the image says (``leader`` and ``leader_epoch``),
  and removes the partition (and deletes its log) when the topic is deleted or the
  node is no longer a replica. Each change wakes the requests waiting on the
  partition, so they answer with the new state.
* The leader keeps each follower's fetch state (:class:`ReplicaState`), as followers
  report it by fetching. The high watermark is the smallest log end offset among the
  maximal ISR (``Partition.maybeIncrementLeaderHW``); it only moves forward. On a
  single node the ISR is the leader alone, so the high watermark follows every append
  at once, but nothing here assumes one node.
* The ISR changes through the controller (Kafka's ``Partition.maybeExpandIsr`` and
  ``maybeShrinkIsr``): a follower that reaches the high watermark joins, one that has
  not caught up for ``replica.lag.time.max.ms`` leaves; the change goes out as an
  :class:`IsrChange` (AlterPartition) and is committed when the controller answers
  or the metadata image brings it. Followers fetch through :attr:`fetchers`
  (``replica_fetcher.py``).
* Every append and every high-watermark move calls the purgatories for that
  partition: acks=all produces complete when the high watermark passes their last
  offset, long-poll fetches when enough bytes are readable.
* A log directory that fails (Kafka's ``ReplicaManager.handleLogDirFailure``) takes its
  partitions offline: they leave :attr:`ReplicaManager.partitions` for
  :attr:`ReplicaManager.offline_partitions` (Kafka's ``HostedPartition.Offline``), stop
  fetching, wake their waiters, and every request for them (Produce, Fetch,
  ListOffsets, ...) answers KAFKA_STORAGE_ERROR until the topic is deleted or the node
  is no longer a replica. :attr:`ReplicaManager.on_offline_dir` tells the controller
  (KIP-858, BrokerHeartbeat ``OfflineLogDirs``) so that leadership moves away.

Task-safety: everything runs on the trio thread; nothing here awaits but the log
directory failure handler's own task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import trio

from kafkapy.broker.purgatory import Purgatory
from kafkapy.config import BrokerConfigs, LogConfig
from kafkapy.kraft.metadata.image import (
    LeaderRecoveryState,
    MetadataImage,
    PartitionRegistration,
    TopicImage,
    Uuid,
)
from kafkapy.kraft.metadata.topic_names import is_internal
from kafkapy.storage.errors import StorageError
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.records import iter_records, validate_produce_batch

if TYPE_CHECKING:
    from kafkapy.storage.log_manager import LogManager
    from kafkapy.storage.partition_log import PartitionLog

log = logging.getLogger(__name__)


class TopicPartition(NamedTuple):
    """A partition by topic name and index: the key purgatories watch."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass(slots=True)
class ReplicaState:
    """What the leader knows of one follower (Kafka's ``Replica``), from its fetches.

    ``last_caught_up_ms`` is the last time the follower was known to hold everything
    the leader had: the ISR shrinks once it is older than ``replica.lag.time.max.ms``.
    """

    log_end_offset: int = -1
    last_caught_up_ms: int = 0
    last_fetch_ms: int = 0
    last_fetch_leader_end_offset: int = 0
    #: the high watermark the last answer to this follower carried
    last_sent_high_watermark: int = -1

    def update_fetch_state(self, fetch_offset: int, leader_end_offset: int, now_ms: int) -> None:
        """A fetch from ``fetch_offset`` (Kafka's ``Replica.updateFetchStateOrThrow``): caught
        up now if it reached the leader's end, or as of its previous fetch if it reached
        the end the leader had then."""
        if fetch_offset >= leader_end_offset:
            self.last_caught_up_ms = max(self.last_caught_up_ms, now_ms)
        elif fetch_offset >= self.last_fetch_leader_end_offset:
            self.last_caught_up_ms = max(self.last_caught_up_ms, self.last_fetch_ms)
        self.log_end_offset = fetch_offset
        self.last_fetch_leader_end_offset = leader_end_offset
        self.last_fetch_ms = now_ms


class Partition:
    """One hosted partition: its registration, its log and its replicas' progress.

    The ISR is the committed one (from the metadata image, or an AlterPartition answer
    that is newer). While this leader's own AlterPartition is in flight, ``pending_isr``
    holds the ISR asked for, and the high watermark waits for the *maximal* ISR, the
    union of both (Kafka's ``PendingExpandIsr``/``PendingShrinkIsr``): a replica being
    added counts at once, one being removed until the controller has removed it.

    Invariants: ``log.high_watermark <= log.log_end_offset``; the high watermark never
    goes backwards while this node leads in one epoch; at most one ISR change is in
    flight.
    """

    __slots__ = ("isr", "log", "node_id", "partition_epoch", "pending_isr", "registration", "replica_states",
                 "topic_id", "tp")

    def __init__(self, tp: TopicPartition, topic_id: Uuid, registration: PartitionRegistration,
                 log: PartitionLog, node_id: int) -> None:
        self.tp = tp
        self.topic_id = topic_id
        self.registration = registration
        self.log = log
        self.node_id = node_id
        self.isr: tuple[int, ...] = registration.isr
        self.partition_epoch = registration.partition_epoch
        self.pending_isr: tuple[int, ...] | None = None
        #: replica id -> its fetch state (leader only)
        self.replica_states: dict[int, ReplicaState] = {}

    @property
    def is_leader(self) -> bool:
        return self.registration.leader == self.node_id

    @property
    def leader_epoch(self) -> int:
        return self.registration.leader_epoch

    @property
    def maximal_isr(self) -> frozenset[int]:
        """The committed ISR together with a pending change's members."""
        return frozenset(self.isr) | frozenset(self.pending_isr or ())

    def reset_replica_states(self, now_ms: int) -> None:
        """A new leadership: followers' offsets unknown; ISR members count as caught up
        now, so they are not dropped before they could fetch (``Replica.resetReplicaState``)."""
        self.pending_isr = None
        self.replica_states = {
            r: ReplicaState(last_caught_up_ms=now_ms if r in self.isr else 0)
            for r in self.registration.replicas if r != self.node_id
        }

    def maybe_increment_high_watermark(self) -> bool:
        """Move the high watermark to the smallest log end offset in the maximal ISR, if higher.

        Returns:
            True if it moved.
        """
        if not self.is_leader:
            return False
        new_hw = self.log.log_end_offset
        states = self.replica_states
        for replica in self.maximal_isr:
            if replica != self.node_id:
                state = states.get(replica)
                new_hw = min(new_hw, state.log_end_offset if state is not None else -1)
        return new_hw >= 0 and self.log.maybe_increment_high_watermark(new_hw)

    def update_follower_fetch(self, replica: int, fetch_offset: int, now_ms: int) -> bool:
        """Record a follower's fetch position; returns True if the high watermark moved."""
        state = self.replica_states.get(replica)
        if state is None:
            state = self.replica_states[replica] = ReplicaState()
        state.update_fetch_state(fetch_offset, self.log.log_end_offset, now_ms)
        return self.maybe_increment_high_watermark()

    def follower_in_sync(self, replica: int) -> bool:
        """Whether ``replica`` may join the ISR (Kafka's ``isFollowerInSync``): it holds
        the high watermark and everything of the leader's own epoch start."""
        state = self.replica_states.get(replica)
        if state is None:
            return False
        epoch_start = self.log.leader_epoch_cache.start_offset_of(self.leader_epoch)
        return (state.log_end_offset >= self.log.high_watermark
                and (epoch_start is None or state.log_end_offset >= epoch_start))

    def out_of_sync_replicas(self, now_ms: int, lag_max_ms: int) -> tuple[int, ...]:
        """ISR members that have not caught up for ``lag_max_ms`` (``getOutOfSyncReplicas``)."""
        out = []
        leader_end = self.log.log_end_offset
        for replica in self.isr:
            if replica == self.node_id:
                continue
            state = self.replica_states.get(replica)
            # Kafka's Replica.isCaughtUp: at the leader's end now, or caught up recently.
            # A follower of an idle partition in a fetch session does not name it in
            # every fetch; being at the end keeps it in sync.
            if state is None or (state.log_end_offset != leader_end
                                 and now_ms - state.last_caught_up_ms > lag_max_ms):
                out.append(replica)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Purgatories:
    """The broker's delayed-operation purgatories, each keyed by topic-partition."""

    produce: Purgatory
    fetch: Purgatory
    delete_records: Purgatory

    @classmethod
    def create(cls) -> Purgatories:
        return cls(Purgatory("Produce"), Purgatory("Fetch"), Purgatory("DeleteRecords"))

    def all(self) -> tuple[Purgatory, ...]:
        return (self.produce, self.fetch, self.delete_records)


class Fetchers(Protocol):
    """The replica fetchers: partitions this node follows, fetched from their leaders."""

    def add_partition(self, partition: Partition) -> None: ...

    def remove_partition(self, tp: TopicPartition) -> None: ...


class IsrChangeSink(Protocol):
    """Takes ISR changes to send to the controller; answers come to ``on_isr_change_result``."""

    def submit(self, change: IsrChange) -> None: ...


class ReplicaManager:
    """Hosted partitions by topic-partition, kept in step with the metadata image.

    Args:
        node_id: this node's id.
        logs: the log manager that creates, opens and deletes partition logs.
        broker_configs: returns the broker-level config sources (static and dynamic)
            that topic configs fall back to.
        clock_ms: wall-clock milliseconds, for the log manager.
    """

    def __init__(self, node_id: int, logs: LogManager,
                 broker_configs: Callable[[], BrokerConfigs], clock_ms: Callable[[], int], *,
                 replica_lag_time_max_ms: int = 30_000, rack_aware_reads: bool = False) -> None:
        self.node_id = node_id
        self.logs = logs
        self.broker_configs = broker_configs
        self.clock_ms = clock_ms
        self.replica_lag_time_max_ms = replica_lag_time_max_ms
        #: ``replica.selector.class`` is Kafka's rack-aware selector (KIP-392)
        self.rack_aware_reads = rack_aware_reads
        self.purgatories = Purgatories.create()
        self.partitions: dict[TopicPartition, Partition] = {}
        self._image: MetadataImage | None = None
        #: topics with a partition whose log could not be opened, tried again next image
        self._unopened: set[str] = set()
        #: leaderships taken while an image is applied, logged as one summary line
        self._became: list[tuple[TopicPartition, int | None, int]] | None = None
        #: replica id -> partitions led here whose ISR it is not in: checked on each of its
        #: fetches, as an incremental fetch session does not name idle partitions
        self._out_of_sync: dict[int, set[TopicPartition]] = {}
        #: the follower side: fetches for partitions led elsewhere (none on a lone node)
        self.fetchers: Fetchers | None = None
        #: where this leader's ISR changes go (AlterPartition to the controller)
        self.isr_changes: IsrChangeSink | None = None
        #: tiered storage (KIP-405): the remote log manager, which followers ask where
        #: the leader's local log starts (``kafkapy.broker.remote_log_manager``)
        self.remote_logs: Any = None
        #: called with a topic-partition whenever what a fetch of it answers may have
        #: changed (appends, high watermark, log start, leadership, removal): the fetch
        #: session cache keeps its sessions' dirty sets with it
        self.partition_listeners: list[Callable[[TopicPartition], None]] = []
        #: partitions of a failed log directory (Kafka's ``HostedPartition.Offline``)
        self.offline_partitions: dict[TopicPartition, Partition | None] = {}
        #: told the directory id of a log directory that went offline (the lifecycle
        #: manager's heartbeats carry it to the controller)
        self.on_offline_dir: Callable[[str | None], None] | None = None
        #: ISR changes of partitions led here that the controller committed
        #: (IsrShrinksPerSec, IsrExpandsPerSec)
        self.isr_shrinks = 0
        self.isr_expands = 0

    # --- log directory failure ------------------------------------------------------------

    def is_offline(self, tp: TopicPartition) -> bool:
        """Whether ``tp`` is hosted here in a failed log directory (or its log is offline
        after an I/O error the directory's handler has not seen yet)."""
        if tp in self.offline_partitions:
            return True
        hosted = self.partitions.get(tp)
        return hosted is not None and (hosted.log.offline and not hosted.log.closed or self.logs.offline)

    def handle_log_dir_failure(self) -> list[TopicPartition]:
        """Stop serving the partitions of the failed log directory (Kafka's
        ``ReplicaManager.handleLogDirFailure``): fetchers stop, each partition goes
        offline and its waiters are woken, and the controller is told; returns them.

        Kafka halts when the failed directory is the metadata log's or the last one
        online. kafkapy never does (issue 13): the metadata log has its own handling
        (:mod:`kafkapy.kraft.raft.driver`), and a node with no directory left keeps
        serving metadata and DeleteTopics so an operator can free space.
        """
        offline = self.logs.handle_log_dir_failure()
        newly = [tp for tp in (TopicPartition(*tp) for tp in offline) if tp not in self.offline_partitions]
        log.warning("Stopping serving replicas in dir %s (directory id %s) because the log directory has failed",
                    self.logs.data_dir, self.logs.directory_id)
        for tp in newly:
            partition = self.partitions.pop(tp, None)
            self.offline_partitions[tp] = partition
            if self.fetchers is not None:
                self.fetchers.remove_partition(tp)
            if partition is not None:
                self._refresh_out_of_sync(partition)
            self._wake_all(tp)
        if newly:
            log.warning("Broker %d stopped serving partitions %s because they are in the failed log directory %s",
                        self.node_id, ", ".join(map(str, newly)), self.logs.data_dir)
        if self.on_offline_dir is not None:
            self.on_offline_dir(self.logs.directory_id)
        return newly

    async def run_log_dir_failure_handler(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                                          ) -> None:
        """Handle each log directory the failure channel reports (Kafka's
        ``LogDirFailureHandler`` thread) until cancelled."""
        channel = self.logs.failure_channel
        wake = trio.Event()

        def on_offline(_: str) -> None:
            wake.set()

        channel.on_offline = on_offline
        task_status.started()
        while True:
            for _ in channel.take_pending():
                try:
                    self.handle_log_dir_failure()
                except Exception:  # the handler must outlive any one failure (issue 13)
                    log.exception("Handling the failure of log directory %s failed", self.logs.data_dir)
            await wake.wait()
            wake = trio.Event()

    # --- lookups ------------------------------------------------------------------------

    def get(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get(TopicPartition(topic, partition))

    def leader_partition(self, topic: str, partition: int, current_leader_epoch: int = -1,
                         *, allow_follower: bool = False) -> tuple[ErrorCode, Partition | None]:
        """The hosted partition for a leader-only request, in Kafka's check order.

        Unknown partition (UNKNOWN_TOPIC_OR_PARTITION), not hosted here or not the
        leader (NOT_LEADER_OR_FOLLOWER; followers pass with ``allow_follower``), then
        epoch fencing when the client sent its ``current_leader_epoch``: older is
        FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH (``Partition.getLocalLog``).
        """
        tp = TopicPartition(topic, partition)
        hosted = self.partitions.get(tp)
        if self.is_offline(tp):
            # Kafka's getPartitionOrException: HostedPartition.Offline, before any other check.
            return ErrorCode.KAFKA_STORAGE_ERROR, None
        if hosted is None:
            if self.knows_topic(topic, partition):
                return ErrorCode.NOT_LEADER_OR_FOLLOWER, None
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None
        if not hosted.is_leader and not allow_follower:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER, None
        if current_leader_epoch >= 0:
            if current_leader_epoch < hosted.leader_epoch:
                return ErrorCode.FENCED_LEADER_EPOCH, None
            if current_leader_epoch > hosted.leader_epoch:
                return ErrorCode.UNKNOWN_LEADER_EPOCH, None
        return ErrorCode.NONE, hosted

    def knows_topic(self, topic: str, partition: int) -> bool:
        """True if the image has this partition (hosted here or elsewhere)."""
        return self._image is not None and self._image.partition(topic, partition) is not None

    # --- reacting to the metadata image -------------------------------------------------

    def apply_image(self, image: MetadataImage) -> None:
        """Bring hosted partitions in line with ``image`` (Kafka's ``applyDelta``); the
        leaderships it changes are logged as one INFO line (each one at DEBUG), so a
        start with thousands of partitions logs a summary, not a line per partition."""
        self._became = []
        try:
            self._apply_image(image)
        finally:
            became, self._became = self._became, None
            _log_became(became)

    def _apply_image(self, image: MetadataImage) -> None:
        previous = self._image
        self._image = image
        if previous is not None and previous.topics_by_name is image.topics_by_name and \
                previous.configs is image.configs and not self._unopened:
            return
        old_topics = previous.topics_by_name if previous is not None else {}
        retry, self._unopened = self._unopened, set()
        for name, topic in image.topics_by_name.items():
            old = old_topics.get(name)
            if old is topic and previous is not None and previous.configs is image.configs and name not in retry:
                continue
            self._apply_topic(image, topic, old)
        for name, old in old_topics.items():
            current = image.topics_by_name.get(name)
            if current is None or current.id != old.id:
                self._remove_topic(old)
        for tp in list(self.offline_partitions):
            registration = image.partition(tp.topic, tp.partition)
            if registration is None or self.node_id not in registration.replicas:
                self._remove_offline(tp)

    def _apply_topic(self, image: MetadataImage, topic: TopicImage, old: TopicImage | None) -> None:
        if old is not None and old.id != topic.id:
            self._remove_topic(old)
            old = None
        config = self.log_config(image, topic.name)
        for index, registration in topic.partitions.items():
            tp = TopicPartition(topic.name, index)
            hosted = self.partitions.get(tp)
            if self.node_id not in registration.replicas:
                if hosted is not None:
                    self._remove_partition(hosted, delete=True)
                continue
            if tp in self.offline_partitions:
                continue  # until the topic goes, or the node restarts (Kafka's HostedPartition.Offline)
            if hosted is None:
                if self.logs.offline:
                    # Kafka's getOrCreateLog in an offline directory: the partition is offline here.
                    self.offline_partitions[tp] = None
                    self._wake_all(tp)
                    continue
                try:
                    log_ = self.logs.get_or_create_log(topic.name, index, now_ms=self.clock_ms(), config=config)
                except StorageError as exc:
                    # Out of file descriptors, or a disk error (Kafka: a log dir failure), for
                    # this partition alone: it stays absent here (NOT_LEADER_OR_FOLLOWER),
                    # and the next image applies its topic again, which opens it once
                    # descriptors are back.
                    if topic.name not in self._unopened:
                        log.error("Partition %s stays offline until the next metadata image: %s", tp, exc)
                    self._unopened.add(topic.name)
                    continue
                log_.update_config(config)
                hosted = Partition(tp, topic.id, registration, log_, self.node_id)
                self.partitions[tp] = hosted
                self._become_or_go_offline(hosted)
                continue
            if hosted.registration is not registration:
                self._update_registration(hosted, registration)
            hosted.log.update_config(config)

    def _become_or_go_offline(self, partition: Partition) -> None:
        """Leader or follower; a disk error on the way (the leader epoch checkpoint of a
        new leadership on a full disk) takes the directory offline instead of failing
        the metadata publisher that applies the image."""
        try:
            self._on_become(partition)
        except (OSError, StorageError) as exc:
            log.error("Partition %s: could not become %s: %s", partition.tp,
                      "leader" if partition.is_leader else "follower", exc)
            if isinstance(exc, OSError):
                self.logs.report_failure(f"leadership change of {partition.tp}", exc)

    def _update_registration(self, partition: Partition, registration: PartitionRegistration) -> None:
        """A newer registration: a new leadership, or a committed ISR or replica change."""
        previous = partition.registration
        partition.registration = registration
        if registration.partition_epoch >= partition.partition_epoch:
            if (registration.partition_epoch > partition.partition_epoch and partition.pending_isr is not None
                    and registration.isr == partition.pending_isr and registration.leader == previous.leader):
                # This leader's AlterPartition, committed and seen in the image before its answer.
                self._count_isr_change(len(registration.isr) < len(partition.isr))
            partition.isr = registration.isr
            if registration.partition_epoch > partition.partition_epoch:
                partition.pending_isr = None
            partition.partition_epoch = registration.partition_epoch
        if registration.leader != previous.leader or registration.leader_epoch != previous.leader_epoch:
            self._become_or_go_offline(partition)
            return
        if partition.is_leader and registration.replicas != previous.replicas:
            for replica in registration.replicas:
                if replica != self.node_id:
                    partition.replica_states.setdefault(replica, ReplicaState())
            for replica in set(previous.replicas) - set(registration.replicas):
                self._out_of_sync.get(replica, set()).discard(partition.tp)
        self._refresh_out_of_sync(partition)
        # ISR changes may move the high watermark (a lagging replica left).
        self._maybe_complete(partition, partition.maybe_increment_high_watermark())

    def _on_become(self, partition: Partition) -> None:
        """Leader or follower per the registration (Kafka's ``makeLeader``/``makeFollower``).

        A follower starts fetching from its leader at its own log end; divergence is
        found by the leader from the follower's last fetched epoch (KIP-320, Fetch v12+),
        so nothing is truncated here.
        """
        partition.isr = partition.registration.isr
        partition.partition_epoch = partition.registration.partition_epoch
        if partition.is_leader:
            if self.fetchers is not None:
                self.fetchers.remove_partition(partition.tp)
            partition.reset_replica_states(self.clock_ms())
            # Kafka's maybeAssignEpochStartOffset: the new epoch starts at the log end. The
            # file is written by the log's next flush (10,000 leaders, no 10,000 fsyncs).
            partition.log.leader_epoch_cache.assign(partition.leader_epoch, partition.log.log_end_offset,
                                                    flush=False)
            partition.maybe_increment_high_watermark()
            if partition.registration.leader_recovery_state == LeaderRecoveryState.RECOVERING:
                # Elected uncleanly (KIP-704): this log is the partition's now; telling the
                # controller so (AlterPartition says RECOVERED) lets replicas join again.
                self._alter_isr(partition, partition.isr)
        else:
            partition.replica_states = {}
            partition.pending_isr = None
            if self.fetchers is not None:
                self.fetchers.add_partition(partition)
        leader = None if partition.is_leader else partition.registration.leader
        if self._became is None:
            log.info("Partition %s: %s in epoch %d", partition.tp,
                     "leader" if leader is None else f"follower of {leader}", partition.leader_epoch)
        else:
            self._became.append((partition.tp, leader, partition.leader_epoch))
            log.debug("Partition %s: %s in epoch %d", partition.tp,
                      "leader" if leader is None else f"follower of {leader}", partition.leader_epoch)
        self._refresh_out_of_sync(partition)
        self._wake_all(partition.tp)

    def _remove_topic(self, topic: TopicImage) -> None:
        for index in topic.partitions:
            tp = TopicPartition(topic.name, index)
            hosted = self.partitions.get(tp)
            if hosted is not None and hosted.topic_id == topic.id:
                self._remove_partition(hosted, delete=True)
            offline = self.offline_partitions.get(tp)
            if tp in self.offline_partitions and (offline is None or offline.topic_id == topic.id):
                self._remove_offline(tp)

    def _remove_offline(self, tp: TopicPartition) -> None:
        """An offline partition deleted or moved away: its files go (what frees space on
        a full disk); its directory stays offline until the process restarts, as in Kafka."""
        del self.offline_partitions[tp]
        try:
            self.logs.delete_log(tp.topic, tp.partition, now_ms=self.clock_ms())
        except OSError as exc:
            log.warning("Could not delete the files of offline partition %s: %s", tp, exc)
        self._wake_all(tp)

    def _remove_partition(self, partition: Partition, *, delete: bool) -> None:
        del self.partitions[partition.tp]
        self._refresh_out_of_sync(partition)
        if self.fetchers is not None:
            self.fetchers.remove_partition(partition.tp)
        if delete:
            self.logs.delete_log(partition.tp.topic, partition.tp.partition, now_ms=self.clock_ms())
        self._wake_all(partition.tp)

    def _wake_all(self, tp: TopicPartition) -> None:
        self._notify(tp)
        for purgatory in self.purgatories.all():
            purgatory.complete_all(tp)

    def _fetchable_changed(self, tp: TopicPartition) -> None:
        """What a fetch of ``tp`` answers may have changed: tell the listeners (the
        fetch session cache) and the waiting fetches."""
        self._notify(tp)
        self.purgatories.fetch.check_and_complete(tp)

    def _notify(self, tp: TopicPartition) -> None:
        for listener in self.partition_listeners:
            listener(tp)

    # --- configs ------------------------------------------------------------------------

    def log_config(self, image: MetadataImage, topic: str) -> LogConfig:
        """The topic's effective config: its own overrides, then the broker's sources."""
        return LogConfig.from_sources(image.topic_configs(topic), self.broker_configs())

    # --- progress notifications ---------------------------------------------------------

    def on_append(self, partition: Partition) -> None:
        """After an append: move the high watermark and wake whoever waits on it."""
        self._maybe_complete(partition, partition.maybe_increment_high_watermark(), appended=True)

    def on_follower_fetch(self, partition: Partition, replica: int, fetch_offset: int) -> None:
        """A follower fetched from ``fetch_offset``: it holds everything before it.

        It joins the ISR once it holds the high watermark (Kafka's ``maybeExpandIsr``),
        through AlterPartition to the controller.
        """
        moved = partition.update_follower_fetch(replica, fetch_offset, self.clock_ms())
        self._maybe_expand_isr(partition, replica)
        self._maybe_complete(partition, moved)

    def on_follower_request(self, replica: int) -> None:
        """A fetch from ``replica``: every partition led here whose ISR it is not in gets
        its chance to take it back, named in this fetch or not (Kafka reads every
        partition of a session on each fetch; here only these)."""
        for tp in list(self._out_of_sync.get(replica, ())):
            partition = self.partitions.get(tp)
            if partition is not None:
                self._maybe_expand_isr(partition, replica)

    def _maybe_expand_isr(self, partition: Partition, replica: int) -> None:
        if (partition.is_leader and replica not in partition.maximal_isr and partition.pending_isr is None
                and partition.follower_in_sync(replica) and self._isr_eligible(replica)):
            self._alter_isr(partition, (*partition.isr, replica))

    def _refresh_out_of_sync(self, partition: Partition) -> None:
        """Keep :attr:`_out_of_sync` in step with ``partition``'s leadership and ISR."""
        tp = partition.tp
        maximal = partition.maximal_isr if partition.is_leader and tp in self.partitions else None
        for replica in partition.registration.replicas:
            if replica == self.node_id:
                continue
            lagging = self._out_of_sync.setdefault(replica, set())
            if maximal is not None and replica not in maximal:
                lagging.add(tp)
            else:
                lagging.discard(tp)

    def preferred_read_replica(self, partition: Partition, rack: str, fetch_offset: int) -> int | None:
        """The follower a consumer in ``rack`` should fetch from, or None for the leader
        (Kafka's ``ReplicaManager.findPreferredReadReplica`` with ``RackAwareReplicaSelector``).

        Candidates are the leader and the in-sync followers that hold ``fetch_offset``;
        among those in the consumer's rack the leader wins, else the most caught-up one.
        """
        if not self.rack_aware_reads or not rack or self._image is None:
            return None
        brokers = self._image.brokers
        leader = brokers.get(self.node_id)
        if leader is not None and leader.rack == rack:
            return None
        now = self.clock_ms()
        best: tuple[int, int, int] | None = None
        for replica in partition.isr:
            state = partition.replica_states.get(replica)
            broker = brokers.get(replica)
            if (replica == self.node_id or state is None or broker is None or not broker.active
                    or broker.rack != rack or state.log_end_offset < fetch_offset):
                continue
            key = (state.log_end_offset, state.last_caught_up_ms - now, replica)
            if best is None or key > best:
                best = key
        return None if best is None else best[2]

    def _isr_eligible(self, replica: int) -> bool:
        """Unfenced and not shutting down (Kafka's ``isReplicaIsrEligible``)."""
        broker = self._image.brokers.get(replica) if self._image is not None else None
        return broker is not None and broker.active

    def maybe_shrink_isr(self) -> int:
        """Drop followers that lag more than ``replica.lag.time.max.ms`` from the ISRs this
        node leads (Kafka's ``maybeShrinkIsr``, run every half of that time); returns how
        many partitions asked for a smaller ISR."""
        now = self.clock_ms()
        lag_max = self.replica_lag_time_max_ms
        asked = 0
        for partition in self.partitions.values():
            if not partition.is_leader or partition.pending_isr is not None or len(partition.isr) < 2:
                continue
            out = partition.out_of_sync_replicas(now, lag_max)
            if out:
                log.info("Partition %s: shrinking ISR %s, %s out of sync", partition.tp, list(partition.isr), list(out))
                self._alter_isr(partition, tuple(r for r in partition.isr if r not in out))
                asked += 1
        return asked

    def _alter_isr(self, partition: Partition, new_isr: tuple[int, ...]) -> None:
        if self.isr_changes is None:
            return
        partition.pending_isr = new_isr
        self._refresh_out_of_sync(partition)
        self.isr_changes.submit(IsrChange(partition.tp, partition.topic_id, partition.leader_epoch,
                                          new_isr, partition.partition_epoch, len(new_isr) < len(partition.isr)))

    def on_isr_change_result(self, change: IsrChange, error: ErrorCode, isr: tuple[int, ...],
                             partition_epoch: int) -> None:
        """The controller's answer to ``change`` (or a failure to deliver it).

        A committed ISR newer than the one known is taken at once (the metadata image
        brings it too); any error leaves the ISR as it is, to be asked again by the next
        check; a stale answer (another epoch, another change pending) is ignored.
        """
        partition = self.partitions.get(change.tp)
        if (partition is None or partition.leader_epoch != change.leader_epoch
                or partition.pending_isr != change.new_isr):
            return
        partition.pending_isr = None
        if error == ErrorCode.NONE:
            self._count_isr_change(change.shrink)
        if error == ErrorCode.NONE and partition_epoch > partition.partition_epoch:
            partition.isr = isr
            partition.partition_epoch = partition_epoch
        elif error != ErrorCode.NONE:
            log.info("Partition %s: ISR change to %s failed: %s", change.tp, list(change.new_isr), error.name)
        self._refresh_out_of_sync(partition)
        self._maybe_complete(partition, partition.maybe_increment_high_watermark())

    def _count_isr_change(self, shrink: bool) -> None:
        """A committed ISR change this leader asked for (Kafka's ``markIsrShrink``/``markIsrExpand``
        in ``handleAlterPartitionUpdate``), counted once: by its answer or by the image, which comes first."""
        if shrink:
            self.isr_shrinks += 1
        else:
            self.isr_expands += 1

    def cleanup_logs(self, now_ms: int) -> int:
        """Retention (``LogManager.cleanup_logs``), then news of every log start it moved."""
        starts = {tp: p.log.log_start_offset for tp, p in self.partitions.items()}
        deleted = self.logs.cleanup_logs(now_ms)
        for tp, start in starts.items():
            partition = self.partitions.get(tp)
            if partition is not None and partition.log.log_start_offset != start:
                self.on_log_start_moved(partition)
        return deleted

    def on_follower_progress(self, partition: Partition) -> None:
        """This follower appended or its high watermark moved: consumers fetching from it
        (KIP-392) may answer."""
        self._fetchable_changed(partition.tp)

    def on_log_start_moved(self, partition: Partition) -> None:
        self.purgatories.delete_records.check_and_complete(partition.tp)
        self._fetchable_changed(partition.tp)

    # --- acks=all ---------------------------------------------------------------------

    def replication_status(self, target: ReplicationTarget) -> ErrorCode | None:
        """None while ``target`` waits for the high watermark, else its final error code.

        NOT_LEADER_OR_FOLLOWER when the partition left or changed leader epoch since the
        append; NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
        ``min.insync.replicas`` (Kafka's ``Partition.checkEnoughReplicasReachOffset``).
        """
        partition = self.partitions.get(target.tp)
        if partition is None or not partition.is_leader or partition.leader_epoch != target.leader_epoch:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if partition.log.high_watermark >= target.next_offset:
            if len(partition.isr) < partition.log.config.min_insync_replicas:
                return ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
            return ErrorCode.NONE
        return None

    async def wait_for_replication(self, targets: list[ReplicationTarget], timeout_ms: int) -> list[ErrorCode]:
        """Wait in the produce purgatory until every target is replicated (Kafka's ``DelayedProduce``).

        Returns:
            Each target's error code, in order; REQUEST_TIMED_OUT for those still
            waiting after ``timeout_ms``.
        """
        if targets:
            await self.purgatories.produce.wait(
                lambda: all(self.replication_status(t) is not None for t in targets),
                {t.tp for t in targets}, timeout_ms / 1000)
        codes = [self.replication_status(t) for t in targets]
        return [ErrorCode.REQUEST_TIMED_OUT if code is None else code for code in codes]

    def _maybe_complete(self, partition: Partition, hw_moved: bool, *, appended: bool = False) -> None:
        if hw_moved:
            self.purgatories.produce.check_and_complete(partition.tp)
            self.purgatories.delete_records.check_and_complete(partition.tp)
        if hw_moved or appended:
            self._fetchable_changed(partition.tp)


class IsrChange(NamedTuple):
    """One partition's AlterPartition item: the ISR a leader asks for in its epochs."""

    tp: TopicPartition
    topic_id: Uuid
    leader_epoch: int
    new_isr: tuple[int, ...]
    partition_epoch: int
    #: whether it drops replicas (IsrShrinksPerSec) rather than adds one (IsrExpandsPerSec)
    shrink: bool = False


class ReplicationTarget(NamedTuple):
    """An append acks=all waits for: the high watermark must reach ``next_offset``
    while the partition is still led here in ``leader_epoch``."""

    tp: TopicPartition
    leader_epoch: int
    next_offset: int


# --- produce ---------------------------------------------------------------------------


class AppendResult(NamedTuple):
    """The outcome of appending one partition's batch (Kafka's ``LogAppendResult``).

    ``next_offset`` is the offset after the batch: an acks=all produce completes when
    the high watermark reaches it.
    """

    error: ErrorCode
    message: str | None = None
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    next_offset: int = -1
    record_errors: tuple[tuple[int, str], ...] = ()


def _append_error(code: ErrorCode, message: str | None = None) -> AppendResult:
    return AppendResult(code, message)


#: How many record errors Kafka names in the partition's error message.
_RECORD_ERRORS_SHOWN = 3


def _keyless_records(records: memoryview, tp: TopicPartition, log_start_offset: int) -> AppendResult | None:
    """INVALID_RECORD with one record error per record without a key: a compacted topic
    keeps the latest record of each key, so it cannot take one without
    (``LogValidator.validateKey``). The only produce check that decodes records, and only
    for compacted topics, as in Kafka.
    """
    message = f"Compacted topic cannot accept message without key in topic partition {tp}"
    try:
        errors = tuple((i, message) for i, r in enumerate(iter_records(records)) if r.key is None)
    except WireError as exc:
        # Records that do not decode behind a good CRC fail this partition, as Kafka's
        # DefaultRecord.readFrom does with InvalidRecordException (Kafka 4.1 answers a
        # gzip section that does not inflate with UNKNOWN_SERVER_ERROR; INVALID_RECORD here).
        return AppendResult(ErrorCode.INVALID_RECORD, str(exc), log_start_offset=log_start_offset)
    if not errors:
        return None
    shown = ", ".join(f"RecordError(batchIndex={i}, message='{m}')" for i, m in errors[:_RECORD_ERRORS_SHOWN])
    return AppendResult(ErrorCode.INVALID_RECORD,
                        f"One or more records have been rejected due to {len(errors)} record errors in total, "
                        f"and only showing the first three errors at most: [{shown}]",
                        log_start_offset=log_start_offset, record_errors=errors)


def append_to_leader(replicas: ReplicaManager, topic: str, index: int, records: memoryview | None,
                     *, produce_version: int, acks: int, now_ms: int, internal_allowed: bool) -> AppendResult:
    """Validate and append one partition of a Produce request, in Kafka's check order.

    Unknown topic or partition, not the leader, internal topic written by a client,
    bad batch (CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE, ...), too few
    in-sync replicas for acks=all (NOT_ENOUGH_REPLICAS), then the log's own checks
    (producer sequence and epoch). The frame's bytes are appended as they are: the log
    patches the batch header in place.
    """
    partition = replicas.get(topic, index)
    if replicas.is_offline(TopicPartition(topic, index)):
        return _append_error(ErrorCode.KAFKA_STORAGE_ERROR,
                             f"Partition {topic}-{index} is in an offline log directory")
    if partition is None:
        if replicas.knows_topic(topic, index):
            return _append_error(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        return _append_error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if not partition.is_leader:
        return _append_error(ErrorCode.NOT_LEADER_OR_FOLLOWER)
    if is_internal(topic) and not internal_allowed:
        return _append_error(ErrorCode.INVALID_TOPIC_EXCEPTION,
                             f"Cannot append to internal topic {topic}")
    if records is None:
        return _append_error(ErrorCode.INVALID_RECORD, "produce request must carry records")
    log_ = partition.log
    config = log_.config
    try:
        validate_produce_batch(records, 0, None, produce_version=produce_version,
                               max_message_bytes=config.max_message_bytes)
    except WireError as exc:
        return _append_error(exc.error_code, str(exc))
    if config.compact:
        refused = _keyless_records(records, partition.tp, log_.log_start_offset)
        if refused:
            return refused
    if acks == -1 and len(partition.isr) < config.min_insync_replicas:
        return _append_error(
            ErrorCode.NOT_ENOUGH_REPLICAS,
            f"The size of the current ISR {set(partition.isr)} is insufficient to satisfy the "
            f"min.isr requirement of {config.min_insync_replicas} for partition {partition.tp}")
    try:
        info = log_.append(records, leader_epoch=partition.leader_epoch, now_ms=now_ms)
    except StorageError as exc:
        return _append_error(exc.error_code, str(exc))
    if info.error_code != ErrorCode.NONE:
        return _append_error(info.error_code, info.error_message)
    if not info.duplicate:
        replicas.on_append(partition)
    return AppendResult(ErrorCode.NONE, None, info.first_offset, info.log_append_time,
                        info.log_start_offset, info.last_offset + 1)


def _log_became(became: list[tuple[TopicPartition, int | None, int]]) -> None:
    """One INFO line for the leaderships one image changed: the partition itself when
    there is one, else counts of leaders and followers by topic."""
    if len(became) == 1:
        tp, leader, epoch = became[0]
        log.info("Partition %s: %s in epoch %d", tp, "leader" if leader is None else f"follower of {leader}", epoch)
        return
    if not became:
        return
    counts: dict[str, list[int]] = {}
    for tp, leader, _ in became:
        counts.setdefault(tp.topic, [0, 0])[0 if leader is None else 1] += 1
    leaders = sum(c[0] for c in counts.values())
    shown = ", ".join(f"{topic} ({c[0]} leader, {c[1]} follower)" for topic, c in sorted(counts.items())[:10])
    more = f" and {len(counts) - 10} more topics" if len(counts) > 10 else ""
    log.info("Leader of %d and follower of %d partitions after a metadata update: %s%s",
             leaders, len(became) - leaders, shown, more)
