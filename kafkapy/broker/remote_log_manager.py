"""Tiered storage on a broker (KIP-405; Kafka's ``RemoteLogManager`` and
``TopicBasedRemoteLogMetadataManager``).

Theory of operation. With ``remote.log.storage.system.enable`` a node runs one
:class:`RemoteLogManager`, holding the remote tier (``remote.log.storage.manager.class.name``,
:mod:`kafkapy.storage.remote.storage_manager`). Every ``remote.log.manager.task.interval.ms``
it visits each partition of a topic with ``remote.storage.enable`` that this node
hosts:

- Metadata. Each remote segment's life is a series of records in
  ``__remote_log_metadata`` (created on first use; ``rlmm.config.remote.log.metadata.topic.*``
  as Kafka's ``TopicBasedRemoteLogMetadataManagerConfig``), in Kafka's record format
  (:mod:`kafkapy.storage.remote.metadata`). The manager writes them through the metadata
  partition's leader log, and learns every partition's remote segments by reading the
  metadata partitions hosted here up to their high watermark, as Kafka's consumer of
  that topic does. What it read is what it knows: a restarted broker knows its remote
  segments again once it has read the topic.
- Copying (leader only, ``RLMCopyTask``). Closed segments past the last offset copied
  whose end is below the last stable offset (so below the high watermark), oldest first,
  once KIP-1241's ``remote.copy.lag.ms`` / ``remote.copy.lag.bytes`` is reached, and
  unless ``remote.log.copy.disable``: COPY_SEGMENT_STARTED is written, the segment,
  its indexes, producer snapshot and leader epoch checkpoint are uploaded in a worker
  thread (``remote.log.manager.copier.thread.pool.size`` at once), COPY_SEGMENT_FINISHED
  is written. Only then may local retention (``local.retention.*``) delete the local
  copy (:class:`~kafkapy.storage.partition_log.PartitionLog`). A failed upload is retried
  with back-off (``remote.log.manager.task.retry.backoff.ms`` doubling to
  ``.max.ms``); nothing is deleted locally meanwhile; its partial objects are deleted
  by the next round, as Kafka deletes the segments of unfinished copies.
- Expiration (leader only, ``RLMExpirationTask``): remote segments past ``retention.ms``
  or beyond ``retention.bytes`` (remote bytes plus the local bytes not copied yet),
  and those below the log start offset (DeleteRecords), are deleted: DELETE_SEGMENT_STARTED,
  the objects, DELETE_SEGMENT_FINISHED; the log start offset then moves past them.
- A deleted topic (gone from the metadata image): every remote segment of its
  partitions is deleted, between DELETE_PARTITION_STARTED and DELETE_PARTITION_FINISHED
  (``RemotePartitionDeleteMetadataRecord``).
- Reading (:meth:`RemoteLogManager.read`, the Fetch handler's remote path): the segment
  holding the offset, its offset index (cached, ``remote.log.index.file.cache.total.size.bytes``),
  then the batches from the indexed position, ``remote.log.reader.threads`` reads at once.
  Object-store I/O never runs on the trio thread.

- ListOffsets by timestamp (:meth:`RemoteLogManager.find_offset_by_timestamp`): the
  first remote segment whose largest timestamp reaches it, from its time index on.

Not done here: reading the metadata of a partition whose ``__remote_log_metadata``
partition has no replica on this node.
"""

from __future__ import annotations

import bisect
import collections
import logging
import os
import struct
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.replica_manager import ReplicationTarget, TopicPartition, append_to_leader
from kafkapy.config import BrokerConfig, REMOTE_STORAGE_MANAGERS
from kafkapy.storage.index import AbortedTxn
from kafkapy.storage.partition_log import FetchIsolation, PartitionLog
from kafkapy.storage.remote.metadata import (
    REMOTE_LOG_METADATA_TOPIC,
    MetadataCodecError,
    RemoteLogMetadata,
    RemoteLogSegmentId,
    RemoteLogSegmentMetadata,
    RemoteLogSegmentMetadataUpdate,
    RemoteLogSegmentState,
    RemotePartitionDeleteMetadata,
    RemotePartitionDeleteState,
    TopicIdPartition,
    decode,
    encode,
    metadata_partition,
)
from kafkapy.storage.remote.segments import RemoteLogSegments
from kafkapy.storage.remote.storage_manager import (
    IndexType,
    LogSegmentData,
    RemoteStorageError,
    RemoteStorageManager,
    create_storage_manager,
)
from kafkapy.storage.segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX, file_stem
from kafkapy.wire.buffers import FileRegion
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import Record, build_batch, iter_batches, iter_records

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.broker.replica_manager import Partition

log = logging.getLogger(__name__)

#: ``TopicBasedRemoteLogMetadataManagerConfig`` names (after ``rlmm.config.``) and defaults.
METADATA_TOPIC_PARTITIONS = "remote.log.metadata.topic.num.partitions"
METADATA_TOPIC_REPLICATION_FACTOR = "remote.log.metadata.topic.replication.factor"
METADATA_TOPIC_RETENTION_MS = "remote.log.metadata.topic.retention.ms"
_DEFAULT_METADATA_PARTITIONS, _DEFAULT_METADATA_RF, _DEFAULT_METADATA_RETENTION_MS = 50, 3, -1
_METADATA_WRITE_TIMEOUT_MS = 30_000
#: Bytes read past the indexed position before the batch holding an offset is found.
_READ_SLACK = 64 * 1024
_TXN_ENTRY = struct.Struct(">hqqqq")


def _prefixed(properties: dict[str, str], prefix: str) -> dict[str, str]:
    return {k[len(prefix):]: v for k, v in properties.items() if k.startswith(prefix)}


class RemoteReadResult:
    """What a remote read found: whole batches from the one holding the offset, or an error."""

    __slots__ = ("aborted", "data", "error")

    def __init__(self, data: bytes = b"", error: ErrorCode = ErrorCode.NONE,
                 aborted: list[AbortedTxn] | None = None) -> None:
        self.data = data
        self.error = error
        self.aborted = aborted


class _IndexCache:
    """Remote offset and transaction indexes by segment, least recently used out first
    (Kafka's ``RemoteIndexCache``), bounded by ``remote.log.index.file.cache.total.size.bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.entries: collections.OrderedDict[tuple[bytes, IndexType], tuple[object, int]] = collections.OrderedDict()

    def get(self, key: tuple[bytes, IndexType]) -> object | None:
        found = self.entries.get(key)
        if found is None:
            return None
        self.entries.move_to_end(key)
        return found[0]

    def put(self, key: tuple[bytes, IndexType], value: object, size: int) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self.entries[key] = (value, size)
        self.size += size
        while self.size > self.max_bytes and len(self.entries) > 1:
            _, (_, dropped) = self.entries.popitem(last=False)
            self.size -= dropped


class _PartitionTask:
    """A leader's copy and expiration state for one partition (back-off after failures)."""

    __slots__ = ("backoff_ms", "failures", "next_attempt_ms")

    def __init__(self) -> None:
        self.failures = 0
        self.backoff_ms = 0
        self.next_attempt_ms = 0


class RemoteLogManager:
    """The broker's tiered storage; see the module doc."""

    def __init__(self, core: BrokerCore, config: BrokerConfig, storage: RemoteStorageManager,
                 clock_ms: Callable[[], int]) -> None:
        self.core = core
        self.config = config
        self.storage = storage
        self.clock_ms = clock_ms
        self.node_id = config.node_id
        rlmm = _prefixed(dict(config.properties), config.remote_log_metadata_manager_impl_prefix)
        self.metadata_partitions = int(rlmm.get(METADATA_TOPIC_PARTITIONS, _DEFAULT_METADATA_PARTITIONS))
        self.metadata_replication_factor = int(rlmm.get(METADATA_TOPIC_REPLICATION_FACTOR, _DEFAULT_METADATA_RF))
        self.metadata_retention_ms = int(rlmm.get(METADATA_TOPIC_RETENTION_MS, _DEFAULT_METADATA_RETENTION_MS))
        #: (topic id, partition) -> its remote segments, as read from the metadata topic
        self.segments: dict[tuple[bytes, int], RemoteLogSegments] = {}
        self._names: dict[tuple[bytes, int], str] = {}
        #: metadata partition -> next offset to read
        self._read_positions: dict[int, int] = {}
        self._tasks: dict[tuple[bytes, int], _PartitionTask] = {}
        self._copy_limiter = trio.CapacityLimiter(config.remote_log_manager_copier_thread_pool_size)
        self._read_limiter = trio.CapacityLimiter(config.remote_log_reader_threads)
        self._index_cache = _IndexCache(config.remote_log_index_file_cache_total_size_bytes)
        self._write_lock = trio.Lock()
        self._connections: dict[int, Any] = {}
        self._copying: set[bytes] = set()
        self.wakeup = trio.Event()
        # Figures for DescribeLogDirs-like reports, metrics and benchmarks.
        self.bytes_copied = 0
        self.segments_copied = 0
        self.copy_errors = 0
        self.bytes_read = 0
        self.read_errors = 0
        self.segments_deleted = 0
        self.last_error: str | None = None

    @classmethod
    def create(cls, core: BrokerCore, config: BrokerConfig, clock_ms: Callable[[], int]) -> RemoteLogManager:
        """The manager of a node with ``remote.log.storage.system.enable``; raises ValueError
        for a missing or unknown tier (the node refuses to start)."""
        name = config.remote_log_storage_manager_class_name
        if not name:
            raise ValueError(f"{BrokerConfig.field_name('remote_log_storage_system_enable')} is true but "
                             f"{BrokerConfig.field_name('remote_log_storage_manager_class_name')} is not set: "
                             "kafkapy's remote tiers are 'local' and 's3'")
        kind = REMOTE_STORAGE_MANAGERS[name]
        props = _prefixed(dict(config.properties), config.remote_log_storage_manager_impl_prefix)
        storage = create_storage_manager(kind, props)
        log.info("Tiered storage on: %s", storage.describe())
        return cls(core, config, storage, clock_ms)

    # --- the periodic task ---

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Copy, expire and follow the metadata every ``remote.log.manager.task.interval.ms``."""
        task_status.started()
        interval = self.config.remote_log_manager_task_interval_ms / 1000
        while True:
            try:
                await self.run_once()
            except Exception:  # one failing round must not stop the schedule
                log.exception("Remote log manager round failed")
            with trio.move_on_after(interval):
                await self.wakeup.wait()
            self.wakeup = trio.Event()

    async def run_once(self) -> None:
        """One round: read the metadata, then copy and expire each led tiered partition."""
        replicas = self.core.replicas
        tiered = [p for p in replicas.partitions.values() if p.log.config.remote_storage_enable
                  and not p.log.config.compact]
        if not tiered and not self.segments:
            return
        if not await self._ensure_metadata_topic():
            return
        self.load_metadata()
        for partition in tiered:
            self._sync_log(partition)
        async with trio.open_nursery() as nursery:
            for partition in tiered:
                if partition.is_leader:
                    nursery.start_soon(self._leader_round, partition)
        await self._delete_removed_partitions()
        await self._delete_disabled_partitions()

    def _key(self, partition: Partition) -> tuple[bytes, int]:
        return (bytes(partition.topic_id), partition.tp.partition)

    def _tip(self, partition: Partition) -> TopicIdPartition:
        return TopicIdPartition(bytes(partition.topic_id), partition.tp.topic, partition.tp.partition)

    def remote_segments(self, partition: Partition) -> RemoteLogSegments:
        return self.segments.get(self._key(partition)) or RemoteLogSegments()

    def _sync_log(self, partition: Partition) -> None:
        """Tell the log what is remote: the last offset copied, and a log start offset
        no lower than the first remote segment (or the local log, with none)."""
        log_ = partition.log
        remote = self.remote_segments(partition)
        log_.highest_offset_in_remote_storage = remote.highest_offset
        first_remote = remote.start_offset
        floor = log_.local_log_start_offset if first_remote is None else min(first_remote, log_.local_log_start_offset)
        if log_.log_start_offset < floor:
            log_.maybe_increment_log_start_offset(floor)
            self.core.replicas.on_log_start_moved(partition)

    async def _leader_round(self, partition: Partition) -> None:
        task = self._tasks.setdefault(self._key(partition), _PartitionTask())
        now = self.clock_ms()
        if now < task.next_attempt_ms:
            return
        try:
            await self._delete_unfinished(partition)
            if not partition.log.config.remote_log_copy_disable:
                await self._copy_segments(partition)
            await self._expire(partition)
        except (RemoteStorageError, _MetadataWriteError) as exc:
            self.copy_errors += 1
            task.failures += 1
            base = self.config.remote_log_manager_task_retry_backoff_ms
            task.backoff_ms = min(base * 2 ** min(task.failures - 1, 16),
                                  self.config.remote_log_manager_task_retry_backoff_max_ms)
            task.next_attempt_ms = self.clock_ms() + task.backoff_ms
            self.last_error = str(exc)
            log.warning("Tiered storage of %s failed (attempt %d, next in %d ms): %s",
                        partition.tp, task.failures, task.backoff_ms, exc)
        else:
            task.failures = 0
            task.backoff_ms = 0

    # --- metadata ---

    async def _ensure_metadata_topic(self) -> bool:
        from kafkapy.broker.groups.coordinator_topics import InternalTopic, InternalTopics

        core = self.core
        if core.image.topic(REMOTE_LOG_METADATA_TOPIC) is not None:
            return True
        topics = getattr(self, "_internal_topics", None) or InternalTopics(core)
        self._internal_topics = topics
        return await topics.ensure(InternalTopic(
            REMOTE_LOG_METADATA_TOPIC, self.metadata_partitions, self.metadata_replication_factor,
            {"cleanup.policy": "delete", "retention.ms": str(self.metadata_retention_ms),
             "retention.bytes": "-1"}))

    def load_metadata(self) -> int:
        """Read the metadata partitions hosted here up to their high watermark; returns
        the records applied."""
        applied = 0
        replicas = self.core.replicas
        for tp, partition in list(replicas.partitions.items()):
            if tp.topic != REMOTE_LOG_METADATA_TOPIC:
                continue
            log_ = partition.log
            position = max(self._read_positions.get(tp.partition, 0), log_.log_start_offset)
            while position < log_.high_watermark:
                info = log_.read(position, 1024 * 1024, isolation=FetchIsolation.HIGH_WATERMARK)
                if info.error_code != ErrorCode.NONE or not info.records:
                    break
                data = b"".join(_piece_bytes(piece) for piece in info.records)
                last = None
                for pos, header in iter_batches(data):
                    last = header
                    if header.last_offset < position or header.is_control:
                        continue
                    for record in iter_records(data, pos):
                        if record.value is None:
                            continue
                        try:
                            self._apply(decode(record.value))
                            applied += 1
                        except MetadataCodecError as exc:
                            log.warning("Skipping a %s record at %s: %s", REMOTE_LOG_METADATA_TOPIC, tp, exc)
                if last is None:
                    break
                position = last.next_offset
            self._read_positions[tp.partition] = position
        return applied

    def _apply(self, record: RemoteLogMetadata) -> None:
        tp = record.tp if isinstance(record, RemotePartitionDeleteMetadata) else record.segment_id.tp
        key = (tp.topic_id, tp.partition)
        self._names[key] = tp.topic
        segments = self.segments.setdefault(key, RemoteLogSegments())
        segments.apply(record)
        if isinstance(record, RemotePartitionDeleteMetadata) \
                and record.state is RemotePartitionDeleteState.DELETE_PARTITION_FINISHED:
            del self.segments[key]

    async def _write(self, records: list[RemoteLogMetadata]) -> None:
        """Append metadata records to their ``__remote_log_metadata`` partition (locally
        when this node leads it, else with a Produce to its leader, acks=all), then wait
        until this node's replica has read them back (Kafka's ``ProducerManager`` then
        ``ConsumerManager.waitTillConsumptionCatchesUp``)."""
        if not records:
            return
        first = records[0]
        tp = first.tp if isinstance(first, RemotePartitionDeleteMetadata) else first.segment_id.tp
        index = metadata_partition(tp, self.metadata_partitions)
        now = self.clock_ms()
        batch = build_batch([Record(i, 0, None, encode(r)) for i, r in enumerate(records)], base_timestamp=now)
        replicas = self.core.replicas
        async with self._write_lock:
            local = replicas.get(REMOTE_LOG_METADATA_TOPIC, index)
            if local is not None and local.is_leader:
                result = append_to_leader(replicas, REMOTE_LOG_METADATA_TOPIC, index, memoryview(bytearray(batch)),
                                          produce_version=9, acks=-1, now_ms=now, internal_allowed=True)
                if result.error != ErrorCode.NONE:
                    raise _MetadataWriteError(f"{REMOTE_LOG_METADATA_TOPIC}-{index}: {result.error.name}")
                target = ReplicationTarget(TopicPartition(REMOTE_LOG_METADATA_TOPIC, index), local.leader_epoch,
                                           result.next_offset)
                (code,) = await replicas.wait_for_replication([target], _METADATA_WRITE_TIMEOUT_MS)
                if code != ErrorCode.NONE:
                    raise _MetadataWriteError(f"{REMOTE_LOG_METADATA_TOPIC}-{index} not committed: {code.name}")
                next_offset = result.next_offset
            else:
                next_offset = await self._produce_to_leader(index, batch) + len(records)
            await self._read_back(index, next_offset)

    async def _produce_to_leader(self, index: int, batch: bytes) -> int:
        """Produce ``batch`` to the leader of metadata partition ``index``; its base offset."""
        from kafkapy.kraft.raft.network import PeerConnection, PeerUnavailable
        from kafkapy.wire.messages.produce import ProduceRequest

        topic = self.core.image.topic(REMOTE_LOG_METADATA_TOPIC)
        registration = topic.partitions.get(index) if topic is not None else None
        leader = registration.leader if registration is not None else -1
        if leader < 0 or leader == self.node_id:
            raise _MetadataWriteError(f"{REMOTE_LOG_METADATA_TOPIC}-{index} has no leader to write to")
        connection = self._connections.get(leader)
        if connection is None:
            from kafkapy.broker.security.listener_security import inter_broker_sasl_client, inter_broker_ssl_context

            connection = PeerConnection(lambda: self.core.inter_broker_address(leader),
                                        client_id=f"broker-{self.node_id}-remote-log-metadata",
                                        ssl_context=inter_broker_ssl_context(self.config),
                                        authenticate=inter_broker_sasl_client(self.config))
            self._connections[leader] = connection
        request = ProduceRequest(acks=-1, timeout_ms=_METADATA_WRITE_TIMEOUT_MS, topic_data=[
            ProduceRequest.TopicProduceData(name=REMOTE_LOG_METADATA_TOPIC, partition_data=[
                ProduceRequest.PartitionProduceData(index=index, records=batch)])])
        try:
            response = await connection.request(request, timeout_s=_METADATA_WRITE_TIMEOUT_MS / 1000 + 5, version=9)
        except PeerUnavailable as exc:
            raise _MetadataWriteError(f"{REMOTE_LOG_METADATA_TOPIC}-{index} at broker {leader}: {exc}") from exc
        answer = response.responses[0].partition_responses[0]  # type: ignore[attr-defined]
        if answer.error_code != ErrorCode.NONE:
            raise _MetadataWriteError(f"{REMOTE_LOG_METADATA_TOPIC}-{index} at broker {leader}: "
                                      f"{ErrorCode(answer.error_code).name}")
        return answer.base_offset

    async def _read_back(self, index: int, next_offset: int) -> None:
        """Wait (bounded) until this node's replica of metadata partition ``index`` has
        been read up to ``next_offset``."""
        with trio.move_on_after(_METADATA_WRITE_TIMEOUT_MS / 1000):
            while True:
                self.load_metadata()
                if self._read_positions.get(index, 0) >= next_offset:
                    return
                await trio.sleep(0.05)
        raise _MetadataWriteError(f"{REMOTE_LOG_METADATA_TOPIC}-{index} not replicated here up to {next_offset}")

    # --- copying ---

    def _copy_candidates(self, partition: Partition) -> list[tuple[int, int]]:
        """(base offset, next base offset) of the closed segments to copy, oldest first."""
        log_ = partition.log
        config = log_.config
        segments = log_.segments
        highest = log_.highest_offset_in_remote_storage
        bound = log_.last_stable_offset  # <= the high watermark
        now = self.clock_ms()
        lag_ms = config.remote_copy_lag_ms
        if lag_ms == -1:
            lag_ms = config.effective_local_retention_ms
        lag_bytes = config.remote_copy_lag_bytes
        if lag_bytes == -1:
            lag_bytes = config.effective_local_retention_bytes
        out = []
        newer = [0] * len(segments)
        total = 0
        for i in range(len(segments) - 1, -1, -1):
            newer[i] = total
            total += segments[i].size
        for i, segment in enumerate(segments[:-1]):
            nxt = segments[i + 1].base_offset
            if nxt - 1 <= highest or segment.size == 0:
                continue
            if nxt > bound:
                break
            # KIP-1241: eligible once either lag is reached; 0 means at once, and a lag
            # derived from an unlimited local retention (-1) is never reached.
            time_ok = lag_ms == 0 or (lag_ms > 0 and now - segment.largest_timestamp() >= lag_ms)
            size_ok = lag_bytes == 0 or (lag_bytes > 0 and newer[i] >= lag_bytes)
            if not (time_ok or size_ok):
                break
            out.append((segment.base_offset, nxt))
        return out

    async def _copy_segments(self, partition: Partition) -> None:
        # By base offset: local retention may remove segments while these copies run.
        for base, next_base in self._copy_candidates(partition):
            if not await self._copy_one(partition, partition.log, base, next_base):
                break

    async def _copy_one(self, partition: Partition, log_: PartitionLog, base: int, next_base: int) -> bool:
        """Copy the segment at ``base``; False when it is no longer the closed segment
        ending before ``next_base`` (truncated, deleted or compacted meanwhile)."""
        directory = log_.directory
        segment = log_.local_log.floor_segment(base)
        following = log_.local_log.higher_segment(segment) if segment is not None else None
        if directory is None or segment is None or segment.base_offset != base or following is None \
                or following.base_offset != next_base or base <= log_.highest_offset_in_remote_storage:
            return False
        # The leader epochs of the segment's range, the first one starting at its base.
        entries = log_.leader_epoch_cache.entries
        epochs: dict[int, int] = {}
        for epoch, start in entries:
            if start >= next_base:
                break
            if start <= base:
                epochs = {epoch: base}  # the epoch in force at the segment's base
            else:
                epochs[epoch] = start
        now = self.clock_ms()
        metadata = RemoteLogSegmentMetadata(
            RemoteLogSegmentId(self._tip(partition), uuid.uuid4().bytes), base, next_base - 1, self.node_id,
            max(segment.max_timestamp_so_far, segment.largest_timestamp()), now, epochs, segment.size,
            RemoteLogSegmentState.COPY_SEGMENT_STARTED,
            txn_index_empty=_file_empty(file_stem(directory, base) + TXN_INDEX_SUFFIX))
        stem = file_stem(directory, base)
        snapshot = log_.producer_state.snapshot_path(next_base)
        checkpoint = _leader_epoch_checkpoint([(e, o) for e, o in entries if o < next_base])
        data = LogSegmentData(stem + LOG_SUFFIX, stem + INDEX_SUFFIX, stem + TIME_INDEX_SUFFIX,
                              None if metadata.txn_index_empty else stem + TXN_INDEX_SUFFIX,
                              snapshot if os.path.exists(snapshot) else None, checkpoint)
        segment.flush()  # the files as uploaded are on disk
        await self._write([metadata])
        self._copying.add(metadata.segment_id.id)
        try:
            await trio.to_thread.run_sync(self.storage.copy_log_segment_data, metadata, data,
                                          limiter=self._copy_limiter)
        finally:
            self._copying.discard(metadata.segment_id.id)
        await self._write([RemoteLogSegmentMetadataUpdate(metadata.segment_id, self.node_id, self.clock_ms(),
                                                          RemoteLogSegmentState.COPY_SEGMENT_FINISHED)])
        self.bytes_copied += metadata.segment_size_in_bytes
        self.segments_copied += 1
        self._sync_log(partition)
        return True

    # --- expiration and deletion ---

    async def _delete_segment(self, metadata: RemoteLogSegmentMetadata) -> None:
        sid = metadata.segment_id
        if metadata.state is not RemoteLogSegmentState.DELETE_SEGMENT_STARTED:
            await self._write([RemoteLogSegmentMetadataUpdate(sid, self.node_id, self.clock_ms(),
                                                              RemoteLogSegmentState.DELETE_SEGMENT_STARTED)])
        await trio.to_thread.run_sync(self.storage.delete_log_segment_data, metadata, limiter=self._copy_limiter)
        await self._write([RemoteLogSegmentMetadataUpdate(sid, self.node_id, self.clock_ms(),
                                                          RemoteLogSegmentState.DELETE_SEGMENT_FINISHED)])
        self.segments_deleted += 1

    async def _delete_unfinished(self, partition: Partition) -> None:
        """Segments of copies that never finished (a failed upload, a crashed leader)."""
        for metadata in self.remote_segments(partition).unfinished():
            if metadata.segment_id.id not in self._copying:
                await self._delete_segment(metadata)

    async def _expire(self, partition: Partition) -> None:
        """Total retention over both tiers (``RLMExpirationTask``), then the log start."""
        log_ = partition.log
        config = log_.config
        copied = self.remote_segments(partition).copied()
        if not copied:
            return
        now = self.clock_ms()
        doomed: list[RemoteLogSegmentMetadata] = []
        for metadata in copied:
            if metadata.end_offset < log_.log_start_offset:
                doomed.append(metadata)
        if config.delete:
            if config.retention_ms >= 0:
                for metadata in copied:
                    if metadata in doomed:
                        continue
                    if now - metadata.max_timestamp_ms > config.retention_ms:
                        doomed.append(metadata)
                    else:
                        break
            if config.retention_bytes >= 0:
                highest = log_.highest_offset_in_remote_storage
                local_only = sum(s.size for s in log_.segments if s.base_offset > highest)
                size = local_only + sum(m.segment_size_in_bytes for m in copied if m not in doomed)
                for metadata in copied:
                    if metadata in doomed:
                        continue
                    breached = size - config.retention_bytes
                    if breached > 0 and breached - metadata.segment_size_in_bytes >= 0:
                        doomed.append(metadata)
                        size -= metadata.segment_size_in_bytes
                    else:
                        break
        if not doomed:
            return
        new_start = max(m.end_offset for m in doomed) + 1
        # The log start moves first: readers stop asking for what is being deleted.
        if log_.maybe_increment_log_start_offset(new_start):
            self.core.replicas.on_log_start_moved(partition)
        for metadata in sorted(doomed, key=lambda m: m.start_offset):
            await self._delete_segment(metadata)
        self._sync_log(partition)

    async def _delete_removed_partitions(self) -> None:
        """The remote data of partitions whose topic was deleted (``stopPartitions`` with
        ``deleteRemoteLog``), by the broker that leads their metadata partition."""
        image = self.core.image
        for key in list(self.segments):
            topic_id, index = key
            topic = image.topics_by_id.get(topic_id)
            if topic is not None and index in topic.partitions:
                continue
            tip = TopicIdPartition(topic_id, self._names.get(key, ""), index)
            meta = self.core.replicas.get(REMOTE_LOG_METADATA_TOPIC, metadata_partition(tip, self.metadata_partitions))
            if meta is not None and meta.is_leader:
                await self._delete_partition_data(tip)

    async def _delete_disabled_partitions(self) -> None:
        """Partitions led here whose topic turned ``remote.storage.enable`` off with
        ``remote.log.delete.on.disable``: their remote data goes, and the log start
        becomes the local one (KIP-950)."""
        for partition in list(self.core.replicas.partitions.values()):
            config = partition.log.config
            if not partition.is_leader or config.remote_storage_enable or not config.remote_log_delete_on_disable \
                    or self._key(partition) not in self.segments:
                continue
            if await self._delete_partition_data(self._tip(partition)):
                log_ = partition.log
                log_.highest_offset_in_remote_storage = -1
                if log_.maybe_increment_log_start_offset(log_.local_log_start_offset):
                    self.core.replicas.on_log_start_moved(partition)

    async def _delete_partition_data(self, tip: TopicIdPartition) -> bool:
        """Every remote segment of ``tip``, between DELETE_PARTITION_STARTED and _FINISHED."""
        key = (tip.topic_id, tip.partition)
        try:
            await self._write([RemotePartitionDeleteMetadata(tip, self.node_id, self.clock_ms(),
                                                             RemotePartitionDeleteState.DELETE_PARTITION_STARTED)])
            for metadata in list(self.segments.get(key, RemoteLogSegments()).by_id.values()):
                await self._delete_segment(metadata)
            await self._write([RemotePartitionDeleteMetadata(tip, self.node_id, self.clock_ms(),
                                                             RemotePartitionDeleteState.DELETE_PARTITION_FINISHED)])
        except (RemoteStorageError, _MetadataWriteError) as exc:
            self.last_error = str(exc)
            log.warning("Deleting the remote data of %s-%d failed, retried next round: %s",
                        tip.topic, tip.partition, exc)
            return False
        log.info("Deleted the remote data of %s-%d", tip.topic, tip.partition)
        return True

    # --- metrics ---

    def metric_families(self) -> list[Any]:
        """Kafka's tiered storage metrics (``BrokerTopicMetrics`` Remote*, KIP-405 and
        KIP-963) as the JMX exporter names them: byte and error counters for the broker,
        the remote log size and the copy lag (closed local segments not copied yet) of
        each topic led here."""
        from kafkapy.broker.metrics_families import Family

        prefix = "kafka_server_brokertopicmetrics_"
        out = []
        for name, value, help_ in (("remotecopybytes", self.bytes_copied, "Bytes copied to the remote tier"),
                                   ("remotefetchbytes", self.bytes_read, "Bytes read from the remote tier"),
                                   ("remotecopyerrors", self.copy_errors, "Failed rounds of copying or expiring"),
                                   ("remotefetcherrors", self.read_errors, "Failed reads from the remote tier"),
                                   ("remotedeleterequests", self.segments_deleted, "Remote segments deleted")):
            family = Family(f"{prefix}{name}_total", "counter", help_)
            family.add(value)
            out.append(family)
        size = Family(prefix + "remotelogsizebytes", "gauge", "Bytes of a topic's segments in the remote tier")
        lag = Family(prefix + "remotecopylagbytes", "gauge", "Bytes of a topic's closed segments not copied yet")
        by_topic: dict[str, list[int]] = {}
        for partition in self.core.replicas.partitions.values():
            log_ = partition.log
            if not partition.is_leader or not log_.remote_log_enabled:
                continue
            sums = by_topic.setdefault(partition.tp.topic, [0, 0])
            sums[0] += self.remote_size(partition)
            sums[1] += sum(s.size for s in log_.segments[:-1] if s.base_offset > log_.highest_offset_in_remote_storage)
        for topic, (remote, pending) in sorted(by_topic.items()):
            size.add(remote, {"topic": topic})
            lag.add(pending, {"topic": topic})
        return out + [size, lag]

    # --- reading ---

    def remote_size(self, partition: Partition) -> int:
        return self.remote_segments(partition).size

    async def read(self, partition: Partition, fetch_offset: int, max_bytes: int, min_one_message: bool,
                   *, read_committed: bool = False) -> RemoteReadResult:
        """Batches from the remote tier, starting at the one holding ``fetch_offset``
        (``RemoteLogManager.read``). OFFSET_OUT_OF_RANGE when no remote segment holds it,
        KAFKA_STORAGE_ERROR when the store fails. Cancel to give up (the worker thread
        finishes alone)."""
        metadata = self.remote_segments(partition).segment_for(fetch_offset)
        if metadata is None or metadata.start_offset > max(fetch_offset, partition.log.log_start_offset):
            return RemoteReadResult(error=ErrorCode.OFFSET_OUT_OF_RANGE)
        try:
            data, aborted = await trio.to_thread.run_sync(
                self._read_sync, metadata, fetch_offset, max_bytes, min_one_message, read_committed,
                limiter=self._read_limiter, abandon_on_cancel=True)
        except RemoteStorageError as exc:
            self.read_errors += 1
            self.last_error = str(exc)
            log.warning("Remote read of %s at %d failed: %s", partition.tp, fetch_offset, exc)
            return RemoteReadResult(error=ErrorCode.KAFKA_STORAGE_ERROR)
        self.bytes_read += len(data)
        return RemoteReadResult(data, aborted=aborted)

    async def find_offset_by_timestamp(self, partition: Partition, timestamp: int) -> tuple[int, int] | None:
        """ListOffsets by timestamp in the remote tier (``RemoteLogManager.findOffsetByTimestamp``):
        ``(timestamp, offset)`` of the first record at or after ``timestamp`` in the first
        remote segment whose largest timestamp reaches it, None if none does. Raises
        :class:`RemoteStorageError`."""
        log_start = partition.log.log_start_offset
        for metadata in self.remote_segments(partition).copied():
            if metadata.end_offset < log_start or metadata.max_timestamp_ms < timestamp:
                continue
            found = await trio.to_thread.run_sync(self._search_timestamp, metadata, timestamp, log_start,
                                                  limiter=self._read_limiter)
            if found is not None:
                return found
        return None

    def _search_timestamp(self, metadata: RemoteLogSegmentMetadata, timestamp: int,
                          log_start: int) -> tuple[int, int] | None:
        from kafkapy.wire.records import iter_absolute_records

        # The time index says from which offset on the records may be that recent.
        raw = self.storage.fetch_index(metadata, IndexType.TIMESTAMP)
        start = max(metadata.start_offset, log_start)
        for i in range(0, len(raw) - len(raw) % 12, 12):
            entry_ts, relative = struct.unpack_from(">qi", raw, i)
            if entry_ts >= timestamp or (i and entry_ts == 0):
                break
            start = max(start, metadata.start_offset + relative)
        offset = start
        while offset <= metadata.end_offset:
            data, _ = self._read_sync(metadata, offset, 1024 * 1024, True, False)
            if not data:
                return None
            last = None
            for pos, header in iter_batches(data):
                last = header
                if header.max_timestamp < timestamp or header.last_offset < offset:
                    continue
                for record in iter_absolute_records(data, pos):
                    if record.timestamp >= timestamp and record.offset >= max(offset, log_start):
                        return record.timestamp, record.offset
            if last is None:
                return None
            offset = last.next_offset
        return None

    def _offset_index(self, metadata: RemoteLogSegmentMetadata) -> list[tuple[int, int]]:
        key = (metadata.segment_id.id, IndexType.OFFSET)
        found = self._index_cache.get(key)
        if found is None:
            raw = self.storage.fetch_index(metadata, IndexType.OFFSET)
            entries: list[tuple[int, int]] = []
            for i in range(0, len(raw) - len(raw) % 8, 8):
                relative, position = struct.unpack_from(">ii", raw, i)
                if entries and (relative <= entries[-1][0] or position <= entries[-1][1]):
                    break  # the zero-filled tail of a preallocated index
                entries.append((relative, position))
            self._index_cache.put(key, entries, len(raw))
            found = entries
        return found  # type: ignore[return-value]

    def _aborted(self, metadata: RemoteLogSegmentMetadata, start: int, end: int) -> list[AbortedTxn]:
        if metadata.txn_index_empty:
            return []
        key = (metadata.segment_id.id, IndexType.TRANSACTION)
        found = self._index_cache.get(key)
        if found is None:
            raw = self.storage.fetch_index(metadata, IndexType.TRANSACTION)
            found = [AbortedTxn(pid, first, last, lso)
                     for _, pid, first, last, lso in (_TXN_ENTRY.unpack_from(raw, i)
                                                       for i in range(0, len(raw) - len(raw) % 34, 34))]
            self._index_cache.put(key, found, len(raw))
        return [t for t in found if t.last_offset >= start and t.first_offset < end]  # type: ignore[attr-defined]

    def _read_sync(self, metadata: RemoteLogSegmentMetadata, offset: int, max_bytes: int, min_one_message: bool,
                   read_committed: bool) -> tuple[bytes, list[AbortedTxn] | None]:
        entries = self._offset_index(metadata)
        relative = offset - metadata.start_offset
        i = bisect.bisect_right([e[0] for e in entries], relative) - 1
        position = entries[i][1] if i >= 0 else 0
        size = metadata.segment_size_in_bytes
        while position < size:
            window = self.storage.fetch_log_segment(metadata, position, min(position + max_bytes + _READ_SLACK, size))
            if not window:
                break
            out_start = out_end = None
            last_end = 0
            first_size = 0
            for pos, header in iter_batches(window):
                last_end = pos + header.size
                if out_start is None:
                    if header.last_offset < offset:
                        continue
                    out_start, first_size = pos, header.size
                    out_end = last_end
                    continue
                if last_end - out_start > max_bytes:
                    break
                out_end = last_end
            if out_start is None:
                if last_end == 0:
                    # One batch larger than the window: read its header to learn its size.
                    header_bytes = self.storage.fetch_log_segment(metadata, position, min(position + 61, size))
                    from kafkapy.wire.records import read_batch_header

                    header = read_batch_header(header_bytes)
                    if header.last_offset < offset:
                        position += header.size
                        continue
                    window = self.storage.fetch_log_segment(metadata, position, position + header.size)
                    data = window if (min_one_message or header.size <= max_bytes) else b""
                    return data, self._aborted_for(metadata, offset, header.next_offset, read_committed)
                position += last_end
                continue
            if first_size > max_bytes and not min_one_message:
                return b"", [] if read_committed else None
            data = window[out_start:out_end]
            last_offset = offset
            for _, header in iter_batches(data):
                last_offset = header.next_offset
            return data, self._aborted_for(metadata, offset, last_offset, read_committed)
        return b"", [] if read_committed else None

    def _aborted_for(self, metadata: RemoteLogSegmentMetadata, start: int, end: int,
                     read_committed: bool) -> list[AbortedTxn] | None:
        return self._aborted(metadata, start, end) if read_committed else None


class _MetadataWriteError(Exception):
    """A ``__remote_log_metadata`` record could not be written or committed."""


def _piece_bytes(piece: object) -> bytes:
    if isinstance(piece, FileRegion):
        return os.pread(piece.fd, piece.length, piece.position)
    return bytes(piece)  # type: ignore[call-overload]


def _file_empty(path: str) -> bool:
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return True


def _leader_epoch_checkpoint(entries: list[tuple[int, int]]) -> bytes:
    """The ``leader-epoch-checkpoint`` text of ``entries`` (version 0)."""
    lines = ["0", str(len(entries))] + [f"{epoch} {offset}" for epoch, offset in entries]
    return ("\n".join(lines) + "\n").encode()
