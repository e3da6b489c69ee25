"""The log of one partition replica (Kafka's ``UnifiedLog``).

Theory of operation. A :class:`PartitionLog` is a :class:`LocalLog` (segments, roll
policy) plus the offsets and state a broker serves from it:

- ``log_start_offset``: the first offset a consumer may read; raised by retention and
  DeleteRecords. ``log_end_offset`` (LEO): the next offset to assign.
- ``high_watermark`` (HW): the broker moves it as replicas acknowledge; consumers never
  see data at or above it. ``last_stable_offset`` (LSO): the HW, or the first offset of
  the oldest transaction still open (or whose marker is not below the HW yet), if lower.
- producer state (:mod:`~kafkapy.storage.producer_state`) for idempotence and
  transactions, and the leader epoch cache (:mod:`~kafkapy.storage.leader_epoch`).

Appends come in three origins, as in Kafka: a producer's batch through the leader
(offsets assigned here, idempotence checked), a transaction marker from the coordinator
(built here), and replicated batches on a follower (offsets already assigned, nothing
checked). A client batch is patched in place (base offset, leader epoch, LogAppendTime)
and written with one system call; the caller's buffer is not kept.

Every expected outcome (duplicate, sequence or epoch errors, oversize batch, offset out
of range) comes back as an error code in the result. An ``OSError`` from the disk makes
the append fail with :class:`StorageError` (KAFKA_STORAGE_ERROR) and takes the log
offline: no more appends, while reads of what was written go on. Reopening the
directory recovers it. Through :attr:`PartitionLog.on_dir_failure` the error also takes
the log's whole directory offline (Kafka's ``LogDirFailureChannel``, see
:mod:`kafkapy.storage.log_dir_failure`); running out of descriptors does not.

Tiered storage (KIP-405): a log whose topic has ``remote.storage.enable`` (which only
a broker with ``remote.log.storage.system.enable`` accepts) spans two tiers.
``log_start_offset`` is then the start of the whole log (remote and local) and
``local_log_start_offset`` the first local segment's; reads below the local start
answer OFFSET_MOVED_TO_TIERED_STORAGE (the broker serves them from the remote tier),
and retention deletes local segments by ``local.retention.ms`` / ``local.retention.bytes``
only once they are copied (``highest_offset_in_remote_storage``), without moving the log
start offset: total retention is applied to the remote segments by the broker's remote
log manager, which then raises the log start offset.

Opening a log recovers it (Kafka's ``LogLoader``): every segment from the one holding
the recovery point (unless the previous shutdown was clean) and every segment whose
indexes fail to load is scanned, validated batch by batch and re-indexed; a torn or
corrupt tail is cut, and any later segment dropped. Producer state comes from the
newest snapshot at or below the point where replay starts, then the log is replayed.

Storage is synchronous and clock-free: ``now_ms`` is passed in. Not task-safe: called
only by the partition's owner.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from kafkapy.config import LogConfig
from kafkapy.storage.checkpoint import LEADER_EPOCH_CHECKPOINT
from kafkapy.storage.errors import StorageError
from kafkapy.storage.file_records import Records
from kafkapy.storage.index import NO_TIMESTAMP, AbortedTxn
from kafkapy.storage.leader_epoch import LeaderEpochFileCache
from kafkapy.storage.local_log import FetchDataInfo, LocalLog
from kafkapy.storage.log_dir_failure import is_directory_failure
from kafkapy.storage.segment import LogOffsetMetadata, LogSegment, RecoveryVisitor
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.records import (
    BatchHeader,
    TimestampType,
    build_end_txn_marker,
    iter_absolute_records,
    parse_end_txn_marker,
    read_batch_header,
    scan_batches,
    set_base_offset,
    set_max_timestamp,
    set_partition_leader_epoch,
)

if TYPE_CHECKING:
    from kafkapy.storage.cleaner import CleanerStats
    from kafkapy.storage.producer_state import ProducerStateManager

logger = logging.getLogger(__name__)

#: ListOffsets special timestamps (``ListOffsetsRequest``).
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4
#: KIP-1005 (``ListOffsetsRequest.LATEST_TIERED_TIMESTAMP``): the last offset copied.
LATEST_TIERED_TIMESTAMP = -5
#: KIP-1023 (``ListOffsetsRequest.EARLIEST_PENDING_UPLOAD_TIMESTAMP``): the first offset
#: not copied yet.
EARLIEST_PENDING_UPLOAD_TIMESTAMP = -6


class AppendOrigin(enum.Enum):
    """Who appends (Kafka's ``AppendOrigin``): what is checked depends on it."""

    CLIENT = "client"
    COORDINATOR = "coordinator"
    REPLICATION = "replication"


class FetchIsolation(enum.Enum):
    """How far a read may go (Kafka's ``FetchIsolation``)."""

    LOG_END = "log_end"  # followers
    HIGH_WATERMARK = "high_watermark"  # read_uncommitted consumers
    TXN_COMMITTED = "txn_committed"  # read_committed consumers: up to the LSO


@dataclasses.dataclass(frozen=True, slots=True)
class LogAppendInfo:
    """The outcome of an append (Kafka's ``LogAppendInfo``).

    ``error_code`` NONE means the batch is in the log, or was already (``duplicate``:
    the offsets are the original ones). Otherwise nothing was written and the offsets
    are -1.
    """

    first_offset: int
    last_offset: int
    log_append_time: int
    log_start_offset: int
    max_timestamp: int = NO_TIMESTAMP
    valid_bytes: int = 0
    duplicate: bool = False
    error_code: ErrorCode = ErrorCode.NONE
    error_message: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class TimestampAndOffset:
    """A ListOffsets answer: the timestamp found, its offset and the leader epoch there."""

    timestamp: int
    offset: int
    leader_epoch: int | None


def _append_error(code: ErrorCode, message: str, log_start_offset: int) -> LogAppendInfo:
    return LogAppendInfo(-1, -1, NO_TIMESTAMP, log_start_offset, error_code=code, error_message=message)


class PartitionLog:
    """One partition's log; see the module doc. Build with :meth:`open`."""

    def __init__(
        self,
        local_log: LocalLog,
        producer_state: ProducerStateManager,
        leader_epoch_cache: LeaderEpochFileCache,
        log_start_offset: int,
    ) -> None:
        self.local_log = local_log
        self.producer_state = producer_state
        self.leader_epoch_cache = leader_epoch_cache
        self.log_start_offset = log_start_offset
        self.high_watermark = log_start_offset
        self.offline = False
        self.closed = False
        #: told of an I/O error that takes this log's directory offline (the log
        #: manager reports it to its ``LogDirFailureChannel``)
        self.on_dir_failure: Callable[[str, OSError], None] | None = None
        leader_epoch_cache.on_failure = lambda exc: self._report_dir_failure(exc, "leader-epoch-checkpoint write")
        #: Where the dirty part of a compacted log starts (``cleaner-offset-checkpoint``).
        self.cleaner_checkpoint = log_start_offset
        #: Tiered storage: the last offset copied to the remote tier (-1: none), kept
        #: by the broker's remote log manager.
        self.highest_offset_in_remote_storage = -1

    # --- identity and offsets ---

    @property
    def topic(self) -> str:
        return self.local_log.topic

    @property
    def partition(self) -> int:
        return self.local_log.partition

    @property
    def directory(self) -> str | None:
        return self.local_log.directory

    @property
    def config(self) -> LogConfig:
        return self.local_log.config

    @property
    def log_end_offset(self) -> int:
        return self.local_log.log_end_offset

    @property
    def recovery_point(self) -> int:
        return self.local_log.recovery_point

    @property
    def segments(self) -> list[LogSegment]:
        return self.local_log.segments

    @property
    def size(self) -> int:
        return self.local_log.size

    @property
    def remote_log_enabled(self) -> bool:
        """Segments of this log are copied to the remote tier (``UnifiedLog.remoteLogEnabled``)."""
        return self.config.remote_storage_enable and not self.config.compact

    @property
    def local_log_start_offset(self) -> int:
        """The first offset held locally (``UnifiedLog.localLogStartOffset``)."""
        return max(self.log_start_offset, self.local_log.segments[0].base_offset)

    @property
    def last_stable_offset(self) -> int:
        first_unstable = self.producer_state.first_unstable_offset()
        if first_unstable is not None and first_unstable < self.high_watermark:
            return first_unstable
        return self.high_watermark

    def update_config(self, config: LogConfig) -> None:
        """Apply changed topic configs; they take effect from the next append or task."""
        self.local_log.config = config

    # --- opening ---

    @classmethod
    def open(
        cls,
        directory: str | None,
        topic: str,
        partition: int,
        config: LogConfig,
        *,
        now_ms: int,
        recovery_point: int = 0,
        log_start_offset: int = 0,
        clean_shutdown: bool = False,
        producer_id_expiration_ms: int = 86_400_000,
    ) -> PartitionLog:
        """Open (recovering if needed) or create a partition log; ``directory`` None is memory.

        Args:
            recovery_point: from ``recovery-point-offset-checkpoint``: data below it is
                known to be on disk.
            log_start_offset: from ``log-start-offset-checkpoint``.
            clean_shutdown: the previous process closed the log; skip the scan.
        """
        from kafkapy.storage.producer_state import ProducerStateManager  # not loaded by a node with no partition

        local, bad_index_segments = LocalLog.open(directory, topic, partition, config, now_ms, log_start_offset,
                                                  recover_from=None if clean_shutdown else recovery_point)
        epoch_path = None if directory is None else os.path.join(directory, LEADER_EPOCH_CHECKPOINT)
        try:
            log = cls(
                local,
                ProducerStateManager(directory, producer_id_expiration_ms=producer_id_expiration_ms,
                                     listed=local.listed_at_open),
                LeaderEpochFileCache(epoch_path),
                # A tiered log starts below its local segments (KIP-405).
                log_start_offset if config.remote_storage_enable
                else max(log_start_offset, local.segments[0].base_offset),
            )
            local.listed_at_open = None  # read once, by the producer state
            log._recover(recovery_point, clean_shutdown, bad_index_segments, now_ms)
        except BaseException:
            local.close(discard=True)  # a failed open (EMFILE, EIO) keeps no descriptor
            raise
        return log

    def _recover(self, recovery_point: int, clean_shutdown: bool, bad: list[LogSegment], now_ms: int) -> None:
        local = self.local_log
        to_recover = {id(s) for s in bad}
        if not clean_shutdown and local.directory is not None:
            start = local.floor_index(recovery_point)
            to_recover.update(id(s) for s in local.segments[start:])
        first = next((i for i, s in enumerate(local.segments) if id(s) in to_recover), None)
        ps = self.producer_state
        replay_from = local.segments[first].base_offset if first is not None else local.log_end_offset
        snapshot = ps.load_latest_snapshot(replay_from, now_ms)
        if snapshot is None:
            ps.update_map_end_offset(local.segments[0].base_offset)
        self._replay(ps.map_end_offset, replay_from)
        if first is not None:
            for i, segment in enumerate(list(local.segments[first:]), start=first):
                if id(segment) not in to_recover:
                    self._replay(segment.base_offset, segment.next_offset)
                    continue
                truncated, error = segment.recover(self._recovery_visitor(segment))
                if truncated or error is not None:
                    later = local.segments[i + 1 :]
                    # Kafka's LogSegment.recover and LogLoader: one WARN, then the log
                    # ends at the last valid batch (a torn or corrupt tail is cut).
                    logger.warning(
                        "Found invalid messages in log segment %d of %s-%d at byte offset %d (%s): "
                        "truncated %d bytes and %d later segments", segment.base_offset, self.topic,
                        self.partition, segment.size, error, truncated, len(later))
                    if later:
                        local.remove_segments(later, now_ms, delay_ms=0)
                    break
            local.active_segment.make_active()
        leo = local.log_end_offset
        if leo < self.log_start_offset and local.directory is not None:
            # LogLoader: a log ending below its log start checkpoint (the tail was
            # compacted away, then truncated) starts over, empty, at the log start.
            local.truncate_fully_and_start_at(self.log_start_offset, now_ms)
            self.leader_epoch_cache.clear()
            ps.truncate_fully_and_start_at(self.log_start_offset)
            leo = local.log_end_offset
        self.leader_epoch_cache.truncate_from_end(leo, flush=False)
        self.leader_epoch_cache.truncate_from_start(self.log_start_offset, flush=False)
        ps.delete_snapshots(lambda o: o > leo)
        ps.update_map_end_offset(leo)
        if first is not None:
            ps.take_snapshot()
        local.recovery_point = min(recovery_point, leo) if not clean_shutdown else leo
        local.last_flush_ms = now_ms
        self.log_start_offset = min(self.log_start_offset, leo)
        self.high_watermark = self.log_start_offset

    def _recovery_visitor(self, segment: LogSegment) -> RecoveryVisitor:
        cache = self.leader_epoch_cache

        def visit(records: Records, position: int, header: BatchHeader) -> None:
            # Kafka's LogSegment.recover: only an epoch above the latest known starts an
            # entry; the checkpoint already says where the earlier ones began.
            epoch = header.partition_leader_epoch
            if epoch >= 0 and (cache.latest_epoch is None or epoch > cache.latest_epoch):
                cache.assign(epoch, header.base_offset)
            if header.producer_id >= 0:
                self._update_producer_state(records, position, header, segment)

        return visit

    def _replay(self, start_offset: int, end_offset: int) -> None:
        """Feed the batches in ``[start_offset, end_offset)`` to the producer state."""
        if start_offset >= end_offset:
            return
        local = self.local_log
        for segment in local.segments[local.floor_index(start_offset):]:
            if segment.base_offset >= end_offset:
                break
            found = segment.translate_offset(start_offset)
            if found is None:
                continue

            def visit(batches: list[tuple[int, BatchHeader]], records: Records = segment.records) -> None:
                for position, header in batches:
                    if start_offset <= header.base_offset < end_offset and header.producer_id >= 0:
                        self._update_producer_state(records, position, header, None)

            segment.records.scan(found[0], visit, check_crc=False)
        self.producer_state.update_map_end_offset(end_offset)

    def _update_producer_state(
        self, records: Records, position: int, header: BatchHeader, txn_segment: LogSegment | None
    ) -> None:
        ps = self.producer_state
        if not header.is_control:
            ps.update_data_batch(header)
            return
        if not header.is_transactional:
            return
        try:
            marker = parse_end_txn_marker(records.read_bytes(position, header.size))
        except WireError:
            return
        if marker is None:
            return
        completed = ps.update_end_txn_marker(marker, header.next_offset)
        if completed.is_aborted and txn_segment is not None:
            txn_segment.txn_index.append(
                AbortedTxn(completed.producer_id, completed.first_offset, completed.last_offset,
                           ps.last_stable_offset(completed))
            )

    # --- appending ---

    def _check_writable(self) -> None:
        if self.closed:
            raise StorageError(f"log {self.topic}-{self.partition} is closed")
        if self.offline:
            raise StorageError(f"log {self.topic}-{self.partition} is offline after a disk error")

    def _io_failure(self, exc: OSError, what: str) -> StorageError:
        self.offline = True
        self._report_dir_failure(exc, what)
        return StorageError(f"{what} failed for {self.topic}-{self.partition}: {exc}")

    def _report_dir_failure(self, exc: OSError, what: str) -> None:
        """Kafka's ``maybeHandleIOException``: a disk error takes the whole directory
        offline (through the log manager's failure channel), not only this log."""
        if self.on_dir_failure is not None and is_directory_failure(exc):
            self.offline = True
            self.on_dir_failure(f"{what} of {self.topic}-{self.partition}", exc)

    def _maybe_roll(self, size: int, header: BatchHeader, now_ms: int) -> LogSegment:
        local = self.local_log
        active = local.active_segment
        config = self.config
        if active.should_roll(
            max_segment_bytes=config.effective_segment_bytes,
            max_segment_ms=config.max_segment_ms,
            append_size=size,
            max_timestamp=header.max_timestamp,
            max_offset=header.last_offset,
            now_ms=now_ms,
        ):
            active = local.roll(now_ms, header.base_offset)
            self.producer_state.update_map_end_offset(active.base_offset)
            self.producer_state.take_snapshot()
        return active

    def append(
        self,
        batch: memoryview | bytearray,
        *,
        leader_epoch: int,
        now_ms: int,
        origin: AppendOrigin = AppendOrigin.CLIENT,
    ) -> LogAppendInfo:
        """Append one batch as the leader, assigning its offsets.

        Args:
            batch: a writable buffer starting with ONE batch validated by the wire layer
                (``validate_produce_batch``); patched in place, then copied to the log.
            leader_epoch: written into the batch and the leader epoch cache.
            origin: CLIENT checks idempotence; COORDINATOR is for transaction markers.

        Returns:
            The offsets assigned, or the original ones for a duplicate, or an error code
            (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_PRODUCER_EPOCH,
            OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_TXN_STATE, TRANSACTION_COORDINATOR_FENCED).

        Raises:
            StorageError: the log is offline, or writing failed (it is now offline).
        """
        self._check_writable()
        view = memoryview(batch)
        header = read_batch_header(view)
        size = header.size
        config = self.config
        if size > config.max_message_bytes:
            return _append_error(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"batch of {size} bytes exceeds max.message.bytes {config.max_message_bytes}",
                self.log_start_offset,
            )
        if size > config.effective_segment_bytes:
            return _append_error(
                ErrorCode.RECORD_LIST_TOO_LARGE,
                f"batch of {size} bytes exceeds the segment size {config.effective_segment_bytes}",
                self.log_start_offset,
            )
        ps = self.producer_state
        if header.producer_id >= 0 and origin is not AppendOrigin.REPLICATION:
            if header.is_control:
                check = ps.check_marker(header.producer_id, header.producer_epoch, _marker_coordinator_epoch(view))
            else:
                check = ps.check_client_batch(header)
            if check.duplicate is not None:
                dup = check.duplicate
                return LogAppendInfo(
                    dup.first_offset,
                    dup.last_offset,
                    dup.timestamp if config.log_append_time else NO_TIMESTAMP,
                    self.log_start_offset,
                    dup.timestamp,
                    duplicate=True,
                )
            if check.error_code != ErrorCode.NONE:
                return _append_error(check.error_code, check.message, self.log_start_offset)
        data = view[:size]
        offset = self.local_log.log_end_offset
        set_base_offset(data, 0, offset)
        set_partition_leader_epoch(data, 0, leader_epoch)
        log_append_time = NO_TIMESTAMP
        if config.log_append_time and not header.is_control:
            set_max_timestamp(data, 0, now_ms, TimestampType.LOG_APPEND_TIME)
            log_append_time = now_ms
        header = read_batch_header(data)
        try:
            segment = self._maybe_roll(size, header, now_ms)
            before = segment.size
            try:
                position = segment.append(data, header)
            except OSError:
                _restore_size(segment, before)
                raise
        except OSError as exc:
            raise self._io_failure(exc, "append") from exc
        self._after_append(segment, header, position, leader_epoch)
        self._maybe_flush_after_append(now_ms)
        return LogAppendInfo(
            offset, header.last_offset, log_append_time, self.log_start_offset, header.max_timestamp, size
        )

    def append_end_txn_marker(
        self, producer_id: int, producer_epoch: int, coordinator_epoch: int, commit: bool, *, leader_epoch: int, now_ms: int
    ) -> LogAppendInfo:
        """Append a COMMIT or ABORT marker for WriteTxnMarkers (origin COORDINATOR)."""
        marker = bytearray(build_end_txn_marker(producer_id, producer_epoch, coordinator_epoch, commit, timestamp=now_ms))
        return self.append(marker, leader_epoch=leader_epoch, now_ms=now_ms, origin=AppendOrigin.COORDINATOR)

    def append_as_follower(self, records: memoryview | bytes, *, now_ms: int) -> LogAppendInfo:
        """Append replicated batches whose offsets the leader assigned.

        Whole valid batches are kept; a partial batch at the end is dropped, as Kafka
        trims it. Returns CORRUPT_MESSAGE if no batch is valid or offsets go backwards.
        """
        self._check_writable()
        view = memoryview(records)
        scan = scan_batches(view)
        if not scan.batches:
            if scan.error is not None and scan.valid_end == 0 and len(view) >= 61:
                return _append_error(ErrorCode.CORRUPT_MESSAGE, str(scan.error), self.log_start_offset)
            return LogAppendInfo(-1, -1, NO_TIMESTAMP, self.log_start_offset)
        first, last = scan.batches[0][1], scan.batches[-1][1]
        expected = self.local_log.log_end_offset
        previous_next = expected
        for _, h in scan.batches:
            if h.base_offset < previous_next:
                return _append_error(
                    ErrorCode.CORRUPT_MESSAGE,
                    f"replicated batch at offset {h.base_offset} is below the expected {previous_next}",
                    self.log_start_offset,
                )
            previous_next = h.next_offset
        data = view[: scan.valid_end]
        try:
            segment = self._maybe_roll(
                scan.valid_end, first._replace(max_timestamp=max(h.max_timestamp for _, h in scan.batches),
                                                last_offset_delta=last.last_offset - first.base_offset),
                now_ms,
            )
            if not segment.can_convert_to_relative_offset(last.last_offset):
                segment = self.local_log.roll(now_ms, first.base_offset)
            before = segment.size
            try:
                position = segment.append_batches(data, scan.batches)
            except OSError:
                _restore_size(segment, before)
                raise
        except OSError as exc:
            raise self._io_failure(exc, "append") from exc
        for pos, h in scan.batches:
            self._after_append(segment, h, position + pos, h.partition_leader_epoch)
        self._maybe_flush_after_append(now_ms)
        return LogAppendInfo(
            first.base_offset,
            last.last_offset,
            NO_TIMESTAMP,
            self.log_start_offset,
            max(h.max_timestamp for _, h in scan.batches),
            scan.valid_end,
        )

    def _after_append(self, segment: LogSegment, header: BatchHeader, position: int, leader_epoch: int) -> None:
        if leader_epoch >= 0:
            latest = self.leader_epoch_cache.latest_epoch
            if latest is None or leader_epoch > latest:
                self.leader_epoch_cache.assign(leader_epoch, header.base_offset)
        if header.producer_id >= 0:
            self._update_producer_state(segment.records, position, header, segment)
        self.producer_state.update_map_end_offset(header.next_offset)

    def _maybe_flush_after_append(self, now_ms: int) -> None:
        if self.local_log.unflushed_messages >= self.config.flush_messages:
            self.flush(now_ms)

    # --- high watermark ---

    def update_high_watermark(self, offset: int) -> int:
        """Set the HW, clamped to ``[log_start_offset, log_end_offset]``; returns it."""
        hw = min(max(offset, self.log_start_offset), self.log_end_offset)
        self.high_watermark = hw
        self.producer_state.on_high_watermark_updated(hw)
        return hw

    def maybe_increment_high_watermark(self, offset: int) -> bool:
        """Move the HW forward to ``offset`` (never back); True if it moved."""
        offset = min(offset, self.log_end_offset)
        if offset <= self.high_watermark:
            return False
        self.update_high_watermark(offset)
        return True

    # --- reading ---

    def read(
        self,
        start_offset: int,
        max_bytes: int,
        *,
        isolation: FetchIsolation = FetchIsolation.LOG_END,
        max_offset: int | None = None,
        min_one_message: bool = True,
    ) -> FetchDataInfo:
        """Read from ``start_offset`` (Kafka's ``UnifiedLog.read``).

        The data starts at the batch holding ``start_offset`` (clients skip the records
        before it), holds at least one whole batch when ``min_one_message`` even if
        larger than ``max_bytes``, and stops before ``max_offset`` and the isolation
        bound (HW, or LSO with the aborted transactions listed). Reading at the bound
        or the log end gives no data. Outside ``[log_start_offset, log_end_offset]`` the
        result carries OFFSET_OUT_OF_RANGE.
        """
        leo = self.log_end_offset
        if start_offset < self.log_start_offset or start_offset > leo:
            return FetchDataInfo(LogOffsetMetadata(start_offset), [], error_code=ErrorCode.OFFSET_OUT_OF_RANGE)
        if start_offset < self.local_log.segments[0].base_offset:
            # Below the local log: in the remote tier (UnifiedLog.read's
            # OffsetOutOfRange becomes a remote fetch in ReplicaManager, KIP-405).
            return FetchDataInfo(LogOffsetMetadata(start_offset), [],
                                 error_code=ErrorCode.OFFSET_MOVED_TO_TIERED_STORAGE)
        bound = leo
        if isolation is FetchIsolation.HIGH_WATERMARK:
            bound = self.high_watermark
        elif isolation is FetchIsolation.TXN_COMMITTED:
            bound = self.last_stable_offset
        if max_offset is not None:
            bound = min(bound, max_offset)
        if start_offset >= bound and isolation is FetchIsolation.TXN_COMMITTED:
            # Nothing to read (an idle read_committed consumer, librdkafka's default, on
            # each of its partitions every fetch): the empty answer without a replace().
            return FetchDataInfo(LogOffsetMetadata(start_offset), [], aborted_transactions=[])
        info = self.local_log.read(start_offset, max_bytes, bound, min_one_message)
        if isolation is FetchIsolation.TXN_COMMITTED:
            upper = self.local_log.fetch_upper_bound_offset(info) if info.size else start_offset
            aborted = self.local_log.collect_aborted_transactions(start_offset, upper) if info.size else []
            info = dataclasses.replace(info, aborted_transactions=aborted)
        return info

    def fetch_offset_by_timestamp(self, timestamp: int) -> TimestampAndOffset | None:
        """ListOffsets: the first offset whose record timestamp is >= ``timestamp``.

        Special values: -2 earliest (and -4 earliest local), -1 latest (the log end;
        the broker bounds it by HW or LSO), -3 the record with the largest timestamp.
        Returns None when no record is that recent.
        """
        epoch_for = self.leader_epoch_cache.epoch_for_offset
        if timestamp == EARLIEST_TIMESTAMP:
            return TimestampAndOffset(NO_TIMESTAMP, self.log_start_offset, epoch_for(self.log_start_offset))
        if timestamp == EARLIEST_LOCAL_TIMESTAMP:
            local_start = self.local_log_start_offset
            return TimestampAndOffset(NO_TIMESTAMP, local_start, epoch_for(local_start))
        if timestamp == LATEST_TIMESTAMP:
            return TimestampAndOffset(NO_TIMESTAMP, self.log_end_offset, self.leader_epoch_cache.latest_epoch)
        if timestamp == MAX_TIMESTAMP:
            return self._max_timestamp_offset()
        for segment in self.local_log.segments:
            if segment.next_offset <= self.log_start_offset or segment.largest_timestamp() < timestamp:
                continue
            found = segment.find_offset_by_timestamp(timestamp, self.log_start_offset)
            if found is None:
                continue
            position, header = found
            data = segment.records.read_bytes(position, header.size)
            for record in iter_absolute_records(data):
                if record.timestamp >= timestamp and record.offset >= self.log_start_offset:
                    return TimestampAndOffset(record.timestamp, record.offset, epoch_for(record.offset))
        return None

    def _max_timestamp_offset(self) -> TimestampAndOffset | None:
        best: tuple[int, LogSegment] | None = None
        for segment in self.local_log.segments:
            if segment.max_timestamp_so_far >= 0 and (best is None or segment.max_timestamp_so_far > best[0]):
                best = (segment.max_timestamp_so_far, segment)
        if best is None:
            return None
        max_ts, segment = best
        for position, header in segment.batches():
            if header.max_timestamp == max_ts and header.last_offset >= self.log_start_offset:
                data = segment.records.read_bytes(position, header.size)
                for record in iter_absolute_records(data):
                    if record.timestamp == max_ts:
                        return TimestampAndOffset(max_ts, record.offset, self.leader_epoch_cache.epoch_for_offset(record.offset))
                return TimestampAndOffset(max_ts, header.last_offset, self.leader_epoch_cache.epoch_for_offset(header.last_offset))
        return None

    def end_offset_for_epoch(self, leader_epoch: int) -> tuple[int, int] | None:
        """OffsetForLeaderEpoch: ``(epoch, end offset)``, or None if unknown."""
        epoch, offset = self.leader_epoch_cache.end_offset_for(leader_epoch, self.log_end_offset)
        return None if offset < 0 else (epoch, offset)

    # --- truncation, deletion, retention ---

    def truncate_to(self, offset: int, *, now_ms: int) -> int:
        """Remove everything at and after ``offset`` (a follower diverged); returns bytes removed.

        As in Kafka, whole batches go (the one holding ``offset`` too) and the log end
        offset becomes ``offset``; followers truncate at batch boundaries.
        """
        self._check_writable()
        if offset >= self.log_end_offset:
            return 0
        if offset < self.log_start_offset:
            return self.truncate_fully_and_start_at(offset, now_ms=now_ms)
        try:
            removed = self.local_log.truncate_to(offset, now_ms)
        except OSError as exc:
            raise self._io_failure(exc, "truncate") from exc
        self.leader_epoch_cache.truncate_from_end(offset)
        self._reload_producer_state(self.log_end_offset, now_ms)
        self.high_watermark = min(self.high_watermark, self.log_end_offset)
        # LogCleanerManager.maybeTruncateCheckpoint: what was cleaned past here is gone.
        self.cleaner_checkpoint = min(self.cleaner_checkpoint, self.local_log.active_segment.base_offset)
        return removed

    def truncate_fully_and_start_at(self, offset: int, *, now_ms: int) -> int:
        """Empty the log and restart it at ``offset``; returns bytes removed."""
        self._check_writable()
        try:
            removed = self.local_log.truncate_fully_and_start_at(offset, now_ms)
        except OSError as exc:
            raise self._io_failure(exc, "truncate") from exc
        self.leader_epoch_cache.clear()
        self.producer_state.truncate_fully_and_start_at(offset)
        self.log_start_offset = offset
        self.high_watermark = offset
        self.cleaner_checkpoint = offset
        return removed

    def _reload_producer_state(self, end_offset: int, now_ms: int) -> None:
        ps = self.producer_state
        if ps.load_latest_snapshot(end_offset, now_ms) is None:
            ps.update_map_end_offset(self.local_log.segments[0].base_offset)
        self._replay(ps.map_end_offset, end_offset)

    def delete_records_before(self, offset: int, *, now_ms: int) -> tuple[ErrorCode, int]:
        """DeleteRecords: raise the log start offset to ``offset`` (<= HW).

        Returns ``(error code, low watermark)``; whole segments below the new start
        are removed at once.
        """
        if offset > self.high_watermark or offset < 0:
            return ErrorCode.OFFSET_OUT_OF_RANGE, self.log_start_offset
        self.maybe_increment_log_start_offset(offset)
        self._delete_segments(lambda segment, nxt: nxt is not None and nxt.base_offset <= self.log_start_offset, now_ms)
        return ErrorCode.NONE, self.log_start_offset

    def maybe_increment_log_start_offset(self, offset: int) -> bool:
        if offset <= self.log_start_offset:
            return False
        self.log_start_offset = min(offset, self.log_end_offset)
        self.high_watermark = max(self.high_watermark, self.log_start_offset)
        self.leader_epoch_cache.truncate_from_start(self.log_start_offset)
        return True

    def delete_old_segments(self, now_ms: int) -> int:
        """Retention (Kafka's ``deleteOldSegments``); returns the segments removed.

        With ``cleanup.policy`` delete: segments whose largest timestamp is older than
        ``retention.ms``, then the oldest segments while the log exceeds
        ``retention.bytes``; always the segments below the log start offset. Only data
        below the high watermark goes. If every segment goes, a new empty one is rolled
        first, so the log keeps its end offset.
        """
        config = self.config
        deleted = self._delete_segments(
            lambda segment, nxt: nxt is not None and nxt.base_offset <= self.log_start_offset, now_ms
        )
        if not config.delete:
            return deleted
        # A tiered log keeps local.retention.* locally, and deletes only what was copied
        # (UnifiedLog.isSegmentEligibleForDeletion).
        remote = self.remote_log_enabled
        retention_ms = config.effective_local_retention_ms if remote else config.retention_ms
        retention_bytes = config.effective_local_retention_bytes if remote else config.retention_bytes

        def copied(nxt: LogSegment | None) -> bool:
            return not remote or (nxt is not None and nxt.base_offset - 1 <= self.highest_offset_in_remote_storage)

        if retention_ms >= 0:
            deleted += self._delete_segments(
                lambda segment, nxt: copied(nxt) and now_ms - segment.largest_timestamp() > retention_ms, now_ms
            )
        if retention_bytes >= 0:
            excess = [self.size - retention_bytes]

            def over_size(segment: LogSegment, nxt: LogSegment | None) -> bool:
                if copied(nxt) and excess[0] - segment.size >= 0:
                    excess[0] -= segment.size
                    return True
                return False

            deleted += self._delete_segments(over_size, now_ms)
        return deleted

    def _delete_segments(self, predicate: Callable[[LogSegment, LogSegment | None], bool], now_ms: int) -> int:
        local = self.local_log
        deletable: list[LogSegment] = []
        segments = local.segments
        for i, segment in enumerate(segments):
            nxt = segments[i + 1] if i + 1 < len(segments) else None
            upper = nxt.base_offset if nxt is not None else self.log_end_offset
            if nxt is None and segment.size == 0:
                break
            if self.high_watermark < upper or not predicate(segment, nxt):
                break
            deletable.append(segment)
        if not deletable:
            return 0
        self._check_writable()
        try:
            if len(deletable) == len(segments):
                local.roll(now_ms)
                self.producer_state.update_map_end_offset(local.active_segment.base_offset)
                self.producer_state.take_snapshot()
            local.remove_segments(deletable, now_ms)
        except OSError as exc:
            raise self._io_failure(exc, "segment deletion") from exc
        new_start = local.segments[0].base_offset
        if not self.remote_log_enabled:  # a tiered log's local start moves alone
            self.maybe_increment_log_start_offset(new_start)
        self.producer_state.delete_snapshots(lambda o: o < new_start)
        return len(deletable)

    def clean(self, now_ms: int, *, force: bool = False) -> CleanerStats | None:
        """Compact the log now if it is due (or ``force``); see :mod:`kafkapy.storage.cleaner`.

        Runs all three phases here; a broker that wants cleaning off its event loop
        calls ``plan_cleaning`` and ``swap`` itself and ``build`` in a worker thread.
        """
        from kafkapy.storage.cleaner import clean_log  # loaded by the first cleaning, not at start

        self._check_writable()
        try:
            return clean_log(self, now_ms, force=force)
        except OSError as exc:
            raise self._io_failure(exc, "compaction") from exc

    def delete_pending_segments(self, now_ms: int) -> int:
        """Unlink removed segments whose ``file.delete.delay.ms`` has passed."""
        return self.local_log.delete_pending(now_ms)

    def roll(self, now_ms: int) -> LogSegment:
        """Force a new active segment (tests, and Kafka's ``roll`` for retention)."""
        self._check_writable()
        try:
            segment = self.local_log.roll(now_ms)
            self.producer_state.update_map_end_offset(segment.base_offset)
            self.producer_state.take_snapshot()
        except OSError as exc:
            raise self._io_failure(exc, "roll") from exc
        return segment

    # --- flushing and closing ---

    def flush(self, now_ms: int) -> None:
        """fdatasync everything written; the log end becomes the recovery point."""
        if self.offline:
            return
        try:
            self.leader_epoch_cache.write_if_unflushed()
            self.local_log.flush(self.log_end_offset, now_ms)
        except OSError as exc:
            raise self._io_failure(exc, "flush") from exc

    def maybe_flush(self, now_ms: int) -> bool:
        """Flush if the oldest unflushed data is ``flush.ms`` old (the periodic flusher)."""
        local = self.local_log
        if local.unflushed_messages > 0 and now_ms - local.last_flush_ms >= self.config.flush_ms:
            self.flush(now_ms)
            return True
        return False

    def flush_rolled_segments(self, now_ms: int) -> None:
        """Flush up to the active segment's base, as Kafka does after a roll."""
        if self.offline:
            return
        try:
            self.local_log.flush(self.local_log.active_segment.base_offset, now_ms)
        except OSError as exc:
            raise self._io_failure(exc, "flush") from exc

    def close(self, now_ms: int = 0) -> None:
        """Flush, snapshot producer state and close files. Idempotent."""
        if self.closed:
            return
        if not self.offline:
            try:
                self.flush(now_ms)
                self.producer_state.update_map_end_offset(self.log_end_offset)
                self.producer_state.take_snapshot()
            except StorageError:
                self.offline = True
            except OSError as exc:  # the producer snapshot at close
                self.offline = True
                self._report_dir_failure(exc, "producer snapshot at close")
        try:
            # An offline log's indexes are not written (Kafka's closeHandlers): recovery
            # rebuilds them at the next start.
            self.local_log.close(discard=self.offline)
        except OSError as exc:
            self.offline = True
            self._report_dir_failure(exc, "close")
            self.local_log.close(discard=True)
        self.closed = True

    def delete_files(self) -> None:
        """Close and remove the partition directory (the log manager renamed it first)."""
        self.offline = True
        if not self.closed:
            self.local_log.close(discard=True)
            self.closed = True
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __repr__(self) -> str:
        return (
            f"PartitionLog({self.topic}-{self.partition}, start={self.log_start_offset}, "
            f"end={self.log_end_offset}, hw={self.high_watermark})"
        )


def _restore_size(segment: LogSegment, size: int) -> None:
    """Undo a partial append so no half-written batch stays in the file."""
    try:
        segment.records.truncate_to(size)
    except OSError:
        pass


def _marker_coordinator_epoch(view: memoryview) -> int:
    try:
        marker = parse_end_txn_marker(view)
    except WireError:
        return -1
    return -1 if marker is None else marker.coordinator_epoch
