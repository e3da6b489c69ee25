"""Per-producer state of a partition: idempotence and transactions (``ProducerStateManager``).

For each producer id the log keeps its epoch, the metadata of its last 5 batches
(``NUM_BATCHES_TO_RETAIN``: why idempotent clients cap in-flight requests at 5), the
coordinator epoch of its last transaction marker, and the first offset of its open
transaction. From that the leader answers, before appending a client batch:

- duplicate: same epoch and the same first/last sequence as a retained batch -> success
  with the original offsets, nothing appended;
- INVALID_PRODUCER_EPOCH: an epoch older than the stored one;
- OUT_OF_ORDER_SEQUENCE_NUMBER: a new epoch not starting at 0, or a gap in sequences
  (a producer without state may start anywhere, KIP-360);
- INVALID_TXN_STATE: a non-transactional batch while its transaction is open.

Open transactions give the first unstable offset, hence the last stable offset;
completed ones stay "unreplicated" until the high watermark passes their marker.

Snapshots: ``<offset, 20 digits>.snapshot`` in the partition directory, holding the
state of every producer for the log up to (not including) that offset, in Kafka's
``ProducerSnapshot`` v1 format (big-endian)::

    int16 version (1) | uint32 crc | int32 count | count * entry
    entry: int64 producer id, int16 epoch, int32 last sequence, int64 last offset,
           int32 offset delta, int64 timestamp, int32 coordinator epoch,
           int64 current txn first offset (-1 if none)

The CRC-32C covers everything after the CRC field. A snapshot is written at each
segment roll and at close; on load the newest one at or below the log end is read and
the log after it is replayed. Not task-safe: called only by the partition's owner.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import struct
from collections.abc import Callable, Iterable

from kafkapy.storage.checkpoint import fsync_dir
from kafkapy.wire.crc import crc32c
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import (
    NO_PRODUCER_EPOCH,
    NO_SEQUENCE,
    BatchHeader,
    EndTxnMarker,
)

NUM_BATCHES_TO_RETAIN = 5
SNAPSHOT_SUFFIX = ".snapshot"
SNAPSHOT_VERSION = 1
_SNAPSHOT_HEAD = struct.Struct(">hIi")
_SNAPSHOT_ENTRY = struct.Struct(">qhiqiqiq")
_CRC_OFFSET = 2
_ENTRIES_OFFSET = 6
_INT32_MAX = 0x7FFFFFFF


def _decrement_sequence(sequence: int, decrement: int) -> int:
    """``sequence - decrement``, wrapping below 0 to Int32 max (``DefaultRecordBatch.decrementSequence``)."""
    if sequence < decrement:
        return _INT32_MAX - (decrement - sequence) + 1
    return sequence - decrement


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == _INT32_MAX)


@dataclasses.dataclass(frozen=True, slots=True)
class BatchMetadata:
    """What is kept of one of a producer's last batches."""

    last_seq: int
    last_offset: int
    offset_delta: int
    timestamp: int

    @property
    def first_seq(self) -> int:
        return _decrement_sequence(self.last_seq, self.offset_delta)

    @property
    def first_offset(self) -> int:
        return self.last_offset - self.offset_delta


@dataclasses.dataclass(slots=True)
class ProducerStateEntry:
    """The state of one producer id (Kafka's ``ProducerStateEntry``)."""

    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    coordinator_epoch: int = -1
    last_timestamp: int = -1
    current_txn_first_offset: int | None = None
    batches: collections.deque[BatchMetadata] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=NUM_BATCHES_TO_RETAIN)
    )

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    @property
    def last_data_offset(self) -> int:
        return self.batches[-1].last_offset if self.batches else -1

    def find_duplicate_batch(self, header: BatchHeader) -> BatchMetadata | None:
        if header.producer_epoch != self.producer_epoch:
            return None
        first_seq, last_seq = header.base_sequence, header.last_sequence
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None

    def _maybe_update_epoch(self, epoch: int) -> None:
        if epoch != self.producer_epoch:
            self.batches.clear()
            self.producer_epoch = epoch


@dataclasses.dataclass(frozen=True, slots=True)
class CompletedTxn:
    """A transaction ended by a marker at ``last_offset``."""

    producer_id: int
    first_offset: int
    last_offset: int
    is_aborted: bool


@dataclasses.dataclass(frozen=True, slots=True)
class AppendCheck:
    """The verdict on a client batch before it is appended.

    ``error_code`` is NONE when the batch may be appended, unless ``duplicate`` holds
    the retained metadata of the identical batch already in the log.
    """

    error_code: ErrorCode
    duplicate: BatchMetadata | None = None
    message: str = ""


APPEND_OK = AppendCheck(ErrorCode.NONE)


class ProducerStateManager:
    """The producers of one partition; see the module doc.

    Attributes:
        map_end_offset: the log offset the state covers up to (exclusive).
    """

    def __init__(self, directory: str | None, *, producer_id_expiration_ms: int = 86_400_000,
                 listed: Iterable[str] | None = None) -> None:
        self.directory = directory
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.producers: dict[int, ProducerStateEntry] = {}
        # first offset -> producer id, in log order (dicts keep insertion order).
        self.ongoing_txns: dict[int, int] = {}
        # first offset -> (producer id, marker offset): completed, marker above the HW.
        self.unreplicated_txns: dict[int, tuple[int, int]] = {}
        self.map_end_offset = 0
        #: the offset of a snapshot file known to be on disk (None: none known)
        self._snapshotted: int | None = None
        #: the snapshot files' offsets, listed once and then kept as this object writes
        #: and deletes them (opening a log asked three times: 30,000 listdirs for
        #: 10,000 partitions); None until first listed
        self._offsets: set[int] | None = None
        if listed is not None and directory is not None:
            self._offsets = _snapshot_offsets(listed)

    # --- checks (leader, before appending a client batch) ---

    def check_client_batch(self, header: BatchHeader) -> AppendCheck:
        """Idempotence and transaction checks of ``ProducerAppendInfo`` for a client batch."""
        entry = self.producers.get(header.producer_id)
        if entry is None:
            return APPEND_OK
        duplicate = entry.find_duplicate_batch(header)
        if duplicate is not None:
            return AppendCheck(ErrorCode.NONE, duplicate)
        epoch = header.producer_epoch
        if epoch < entry.producer_epoch:
            return AppendCheck(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                message=f"epoch {epoch} of producer {header.producer_id} is older than {entry.producer_epoch}",
            )
        first_seq = header.base_sequence
        if epoch != entry.producer_epoch:
            if first_seq != 0 and entry.producer_epoch != NO_PRODUCER_EPOCH:
                return AppendCheck(
                    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                    message=f"new epoch {epoch} of producer {header.producer_id} starts at sequence {first_seq}, not 0",
                )
        elif entry.producer_epoch != NO_PRODUCER_EPOCH and not _in_sequence(entry.last_seq, first_seq):
            return AppendCheck(
                ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                message=f"producer {header.producer_id}: sequence {first_seq} after {entry.last_seq}",
            )
        if entry.current_txn_first_offset is not None and not header.is_transactional:
            return AppendCheck(
                ErrorCode.INVALID_TXN_STATE,
                message=f"non-transactional batch from producer {header.producer_id} during its transaction",
            )
        return APPEND_OK

    def check_marker(self, producer_id: int, producer_epoch: int, coordinator_epoch: int) -> AppendCheck:
        """Checks on a transaction marker from the coordinator (``appendEndTxnMarker``)."""
        entry = self.producers.get(producer_id)
        if entry is None:
            return APPEND_OK
        if producer_epoch < entry.producer_epoch:
            return AppendCheck(ErrorCode.INVALID_PRODUCER_EPOCH, message=f"marker epoch {producer_epoch} is stale")
        if coordinator_epoch < entry.coordinator_epoch:
            return AppendCheck(
                ErrorCode.TRANSACTION_COORDINATOR_FENCED,
                message=f"coordinator epoch {coordinator_epoch} below {entry.coordinator_epoch}",
            )
        return APPEND_OK

    # --- updates (after a batch is in the log, and when replaying the log) ---

    def update_data_batch(self, header: BatchHeader) -> None:
        """Record an appended data batch of a producer (producer id >= 0)."""
        pid = header.producer_id
        entry = self.producers.get(pid)
        if entry is None:
            entry = self.producers[pid] = ProducerStateEntry(pid)
        entry._maybe_update_epoch(header.producer_epoch)
        if header.base_sequence != NO_SEQUENCE:
            entry.batches.append(
                BatchMetadata(header.last_sequence, header.last_offset, header.last_offset_delta, header.max_timestamp)
            )
        entry.last_timestamp = header.max_timestamp
        if header.is_transactional and entry.current_txn_first_offset is None:
            entry.current_txn_first_offset = header.base_offset
            self.ongoing_txns[header.base_offset] = pid
        self.map_end_offset = max(self.map_end_offset, header.next_offset)

    def update_end_txn_marker(self, marker: EndTxnMarker, next_offset: int) -> CompletedTxn:
        """Record an appended transaction marker; returns the transaction it completes."""
        pid = marker.producer_id
        entry = self.producers.get(pid)
        if entry is None:
            entry = self.producers[pid] = ProducerStateEntry(pid)
        first_offset = entry.current_txn_first_offset
        completed = CompletedTxn(pid, marker.offset if first_offset is None else first_offset, marker.offset, not marker.commit)
        entry._maybe_update_epoch(marker.producer_epoch)
        entry.current_txn_first_offset = None
        entry.coordinator_epoch = marker.coordinator_epoch
        entry.last_timestamp = marker.timestamp
        if first_offset is not None:
            self.ongoing_txns.pop(first_offset, None)
            self.unreplicated_txns[first_offset] = (pid, marker.offset)
        self.map_end_offset = max(self.map_end_offset, next_offset)
        return completed

    def update_map_end_offset(self, offset: int) -> None:
        self.map_end_offset = offset

    def last_stable_offset(self, completed: CompletedTxn) -> int:
        """The LSO once ``completed`` ends: the next open transaction of another producer."""
        for first_offset, pid in self.ongoing_txns.items():
            if pid != completed.producer_id:
                return first_offset
        return completed.last_offset + 1

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        """Forget completed transactions whose marker is below the high watermark."""
        for first_offset, (_, marker_offset) in list(self.unreplicated_txns.items()):
            if marker_offset < high_watermark:
                del self.unreplicated_txns[first_offset]

    def first_unstable_offset(self) -> int | None:
        """The first offset of the oldest open or unreplicated transaction, if any."""
        candidates = []
        if self.unreplicated_txns:
            candidates.append(min(self.unreplicated_txns))
        if self.ongoing_txns:
            candidates.append(next(iter(self.ongoing_txns)))
        return min(candidates) if candidates else None

    def remove_expired_producers(self, now_ms: int) -> list[int]:
        """Drop producers idle for ``producer.id.expiration.ms`` without an open transaction."""
        expired = [
            pid
            for pid, e in self.producers.items()
            if e.current_txn_first_offset is None and now_ms - e.last_timestamp >= self.producer_id_expiration_ms
        ]
        for pid in expired:
            del self.producers[pid]
        return expired

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Forget everything (the log was emptied and restarts at ``offset``)."""
        self.producers.clear()
        self.ongoing_txns.clear()
        self.unreplicated_txns.clear()
        self.delete_snapshots(lambda _: True)
        self.map_end_offset = offset
        self._snapshotted = None

    # --- snapshots ---

    def snapshot_path(self, offset: int) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, f"{offset:020d}{SNAPSHOT_SUFFIX}")

    def snapshot_offsets(self) -> list[int]:
        """Offsets of the snapshot files present, ascending."""
        if self.directory is None:
            return []
        if self._offsets is None:
            self._offsets = _snapshot_offsets(os.listdir(self.directory))
        return sorted(self._offsets)

    def take_snapshot(self) -> str | None:
        """Write the state at ``map_end_offset``; returns the path (None in memory).

        As Kafka's ``ProducerStateManager.takeSnapshot`` (``lastMapOffset >
        lastSnapOffset``), nothing is written when the state has not moved since the
        snapshot known on disk, nor for an empty state at offset 0: closing or recovering
        10,000 idle partitions then costs no file writes and fsyncs. Returns None then.
        """
        if self.directory is None:
            return None
        if self.map_end_offset == self._snapshotted or (self.map_end_offset == 0 and not self.producers):
            return None
        path = self.snapshot_path(self.map_end_offset)
        entries = [
            _SNAPSHOT_ENTRY.pack(
                e.producer_id,
                e.producer_epoch,
                e.last_seq,
                e.last_data_offset,
                e.batches[-1].offset_delta if e.batches else 0,
                e.last_timestamp,
                e.coordinator_epoch,
                -1 if e.current_txn_first_offset is None else e.current_txn_first_offset,
            )
            for e in self.producers.values()
        ]
        body = struct.pack(">i", len(entries)) + b"".join(entries)
        data = struct.pack(">hI", SNAPSHOT_VERSION, crc32c(body)) + body
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(self.directory)
        self._snapshotted = self.map_end_offset
        if self._offsets is not None:
            self._offsets.add(self.map_end_offset)
        return path

    @staticmethod
    def read_snapshot(path: str) -> list[ProducerStateEntry] | None:
        """The entries of a snapshot file; None when it is corrupt (bad CRC, version, size)."""
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < _SNAPSHOT_HEAD.size:
            return None
        version, crc, count = _SNAPSHOT_HEAD.unpack_from(data)
        if version != SNAPSHOT_VERSION or crc != crc32c(data[_ENTRIES_OFFSET:]):
            return None
        if count < 0 or len(data) != _SNAPSHOT_HEAD.size + count * _SNAPSHOT_ENTRY.size:
            return None
        entries = []
        for pid, epoch, last_seq, last_offset, delta, ts, coord_epoch, txn_first in _SNAPSHOT_ENTRY.iter_unpack(
            data[_SNAPSHOT_HEAD.size :]
        ):
            entry = ProducerStateEntry(pid, epoch, coord_epoch, ts, None if txn_first < 0 else txn_first)
            if last_offset >= 0:
                entry.batches.append(BatchMetadata(last_seq, last_offset, delta, ts))
            entries.append(entry)
        return entries

    def load_latest_snapshot(self, max_offset: int, now_ms: int | None = None) -> int | None:
        """Reset the state to the newest valid snapshot at or below ``max_offset``.

        Snapshots above ``max_offset`` and corrupt ones are deleted. Producers expired
        at ``now_ms`` are skipped, as Kafka does. Returns the snapshot offset, or None
        (the state is then empty and the log must be replayed from its start).
        """
        self.producers.clear()
        self.ongoing_txns.clear()
        self.unreplicated_txns.clear()
        self.delete_snapshots(lambda o: o > max_offset)
        for offset in reversed(self.snapshot_offsets()):
            entries = self.read_snapshot(self.snapshot_path(offset))
            if entries is None:
                os.unlink(self.snapshot_path(offset))
                self._forget(offset)
                continue
            for entry in entries:
                if now_ms is not None and entry.current_txn_first_offset is None and (
                    now_ms - entry.last_timestamp >= self.producer_id_expiration_ms
                ):
                    continue
                self.producers[entry.producer_id] = entry
            for first_offset, pid in sorted(
                (e.current_txn_first_offset, e.producer_id)
                for e in self.producers.values()
                if e.current_txn_first_offset is not None
            ):
                self.ongoing_txns[first_offset] = pid
            self.map_end_offset = offset
            self._snapshotted = offset
            return offset
        self.map_end_offset = 0
        return None

    def delete_snapshots(self, predicate: Callable[[int], bool]) -> None:
        """Delete snapshot files whose offset satisfies ``predicate``."""
        for offset in self.snapshot_offsets():
            if predicate(offset):
                if offset == self._snapshotted:
                    self._snapshotted = None
                try:
                    os.unlink(self.snapshot_path(offset))
                except FileNotFoundError:
                    pass
                self._forget(offset)

    def _forget(self, offset: int) -> None:
        if self._offsets is not None:
            self._offsets.discard(offset)

    def entries(self) -> Iterable[ProducerStateEntry]:
        return self.producers.values()


def _snapshot_offsets(names: Iterable[str]) -> set[int]:
    """The offsets of the producer snapshot files among a directory's ``names``."""
    offsets = set()
    for name in names:
        if name.endswith(SNAPSHOT_SUFFIX):
            stem = name[: -len(SNAPSHOT_SUFFIX)]
            if stem.isdigit():
                offsets.add(int(stem))
    return offsets
