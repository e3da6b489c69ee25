"""Log compaction (Kafka's ``LogCleaner``, for ``cleanup.policy=compact``).

Theory of operation. A compacted log keeps, for every key, at least its latest record.
The log is split at two points: the first dirty offset (where the previous cleaning
stopped) and the first uncleanable offset (the active segment, the last stable offset,
and segments younger than ``min.compaction.lag.ms``). Cleaning is worth it when the
dirty part is at least ``min.cleanable.dirty.ratio`` of the cleanable log, or when dirty
data is older than ``max.compaction.lag.ms``.

One cleaning:

1. :func:`plan_cleaning` (the log's owner, quick): pick the range and the segments.
2. :meth:`Cleaning.build` (may run in a worker thread; reads only segments that are no
   longer appended to): map each key of the dirty range to its last offset, then copy
   the segments' batches into ``.cleaned`` segments, grouped up to ``segment.bytes``,
   keeping a record only if it is the latest for its key. Batches whose records all
   survive are copied byte for byte; others are rebuilt with the same offsets range,
   producer fields and compression.
3. :meth:`Cleaning.swap` (the owner, quick): if the segments are still those planned,
   each group replaces its sources (``.cleaned`` -> ``.swap`` -> final name, the old
   files renamed ``.deleted`` and unlinked later), so reads and appends never wait for
   the cleaning. Otherwise the cleaning is dropped.

Tombstones (null values) and transaction markers get a delete horizon
(``now + delete.retention.ms``, KIP-534: the batch's delete-horizon bit set and its base
timestamp holding the horizon) the first time they are cleaned, and are removed by a
later cleaning after it passes: consumers that started before have time to see them.
Records of aborted transactions are removed; a marker goes once its transaction has no
data left and its horizon passed. The last batch of each producer is kept (possibly
empty) so the producer's sequence state survives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kafkapy.storage.index import AbortedTxn
from kafkapy.storage.segment import CLEANED_SUFFIX, LogSegment
from kafkapy.wire.errors import WireError
from kafkapy.wire.records import (
    BatchHeader,
    Record,
    TimestampType,
    build_batch,
    iter_records,
    parse_end_txn_marker,
    read_batch_header,
)

if TYPE_CHECKING:
    from kafkapy.storage.partition_log import PartitionLog

_INT32_MAX = 0x7FFFFFFF


@dataclasses.dataclass(frozen=True, slots=True)
class CleanerStats:
    """What one cleaning did."""

    bytes_read: int
    bytes_written: int
    batches_rewritten: int
    records_removed: int


@dataclasses.dataclass(slots=True)
class Cleaning:
    """One planned cleaning of a log; see the module doc."""

    log: PartitionLog
    sources: list[LogSegment]
    first_dirty_offset: int
    end_offset: int
    now_ms: int
    groups: list[tuple[list[LogSegment], LogSegment]] = dataclasses.field(default_factory=list)
    stats: CleanerStats | None = None

    def build(self) -> CleanerStats:
        """Write the cleaned segments; touches no state of the log, so it may run in a
        worker thread. If the owner truncates the log meanwhile, reading may fail:
        the caller then calls :meth:`abort`."""
        log = self.log
        config = log.config
        aborted = _aborted_ranges(self.sources)
        offset_map = _build_offset_map(self.sources, self.first_dirty_offset, self.end_offset, aborted)
        last_batch_of = _last_batch_per_producer(self.sources, self.end_offset)
        horizon = self.now_ms + config.delete_retention_ms
        read = written = rewritten = removed = 0
        for group in _group_segments(self.sources, config.effective_segment_bytes, config.segment_index_bytes):
            cleaned = LogSegment.open(
                log.directory,
                group[0].base_offset,
                index_interval_bytes=config.index_interval_bytes,
                max_index_size=config.segment_index_bytes,
                created_ms=self.now_ms,
                suffix=CLEANED_SUFFIX,
            )
            txn_state = _TxnState()
            for segment in group:
                for position, header in segment.batches():
                    if header.base_offset >= self.end_offset:
                        break
                    data = segment.records.read_bytes(position, header.size)
                    read += header.size
                    out, n_removed, changed = _clean_batch(
                        data, header, offset_map, aborted, txn_state, last_batch_of, self.now_ms, horizon
                    )
                    removed += n_removed
                    if out is None:
                        continue
                    rewritten += changed
                    written += len(out)
                    cleaned.append(out, read_batch_header(out))
                for txn in segment.txn_index.entries:
                    if txn.last_offset < self.end_offset:
                        cleaned.txn_index.append(txn)
            cleaned.on_become_inactive()
            cleaned.flush()
            self.groups.append((group, cleaned))
        self.stats = CleanerStats(read, written, rewritten, removed)
        return self.stats

    def swap(self, now_ms: int) -> bool:
        """Replace the sources with the cleaned segments; False (dropped) if the log changed."""
        log = self.log
        local = log.local_log
        present = {id(s) for s in local.segments}
        if any(id(s) not in present for s in self.sources) or local.active_segment in self.sources:
            self.abort()
            return False
        for group, cleaned in self.groups:
            local.replace_segments(cleaned, group, now_ms)
        log.cleaner_checkpoint = self.end_offset
        return True

    def abort(self) -> None:
        for _, cleaned in self.groups:
            cleaned.delete()
        self.groups = []


def first_uncleanable_offset(log: PartitionLog, now_ms: int) -> int:
    """Where cleaning must stop: active segment, LSO, ``min.compaction.lag.ms``."""
    local = log.local_log
    bound = min(local.active_segment.base_offset, log.last_stable_offset)
    lag = log.config.min_compaction_lag_ms
    if lag > 0:
        for segment in local.segments:
            if segment.base_offset >= bound:
                break
            if segment.largest_timestamp() > now_ms - lag:
                bound = segment.base_offset
                break
    return bound


def plan_cleaning(log: PartitionLog, now_ms: int, *, force: bool = False) -> Cleaning | None:
    """A cleaning of ``log`` if it is due (dirty ratio or max lag), else None."""
    config = log.config
    if not config.compact:
        return None
    local = log.local_log
    first_dirty = max(log.cleaner_checkpoint, log.log_start_offset)
    end = first_uncleanable_offset(log, now_ms)
    if end <= first_dirty and not force:
        return None
    sources = [s for s in local.segments if s.base_offset < end and s is not local.active_segment]
    sources = [s for s in sources if s.next_offset > log.log_start_offset]
    if not sources:
        return None
    end = min(end, sources[-1].next_offset)
    dirty = sum(s.size for s in sources if s.base_offset >= first_dirty or s.next_offset > first_dirty)
    clean = sum(s.size for s in sources) - dirty
    total = clean + dirty
    ratio = dirty / total if total else 0.0
    first_dirty_segment = next((s for s in sources if s.next_offset > first_dirty), None)
    overdue = (
        first_dirty_segment is not None
        and config.max_compaction_lag_ms < 2**62
        and first_dirty_segment.largest_timestamp() < now_ms - config.max_compaction_lag_ms
    )
    if not (force or overdue or (dirty > 0 and ratio > config.min_cleanable_dirty_ratio)):
        return None
    return Cleaning(log, sources, first_dirty, end, now_ms)


def clean_log(log: PartitionLog, now_ms: int, *, force: bool = False) -> CleanerStats | None:
    """Plan, build and swap in one call (for callers without a worker thread)."""
    cleaning = plan_cleaning(log, now_ms, force=force)
    if cleaning is None:
        return None
    stats = cleaning.build()
    return stats if cleaning.swap(now_ms) else None


# --- helpers -------------------------------------------------------------------------------


def _group_segments(segments: list[LogSegment], max_size: int, max_index_size: int) -> Iterator[list[LogSegment]]:
    """Consecutive segments whose sum fits one segment (``LogCleaner.groupSegmentsBySize``)."""
    group: list[LogSegment] = []
    size = 0
    for segment in segments:
        fits = (
            group
            and size + segment.size <= max_size
            and segment.next_offset - group[0].base_offset <= _INT32_MAX
            and sum(s.offset_index.size_in_bytes for s in group) + segment.offset_index.size_in_bytes <= max_index_size
        )
        if group and not fits:
            yield group
            group, size = [], 0
        group.append(segment)
        size += segment.size
    if group:
        yield group


def _aborted_ranges(segments: list[LogSegment]) -> dict[int, list[AbortedTxn]]:
    out: dict[int, list[AbortedTxn]] = {}
    for segment in segments:
        for txn in segment.txn_index.entries:
            out.setdefault(txn.producer_id, []).append(txn)
    return out


def _is_aborted(header: BatchHeader, aborted: dict[int, list[AbortedTxn]]) -> bool:
    if not header.is_transactional or header.is_control:
        return False
    return any(t.first_offset <= header.base_offset <= t.last_offset for t in aborted.get(header.producer_id, ()))


def _build_offset_map(
    segments: list[LogSegment], start: int, end: int, aborted: dict[int, list[AbortedTxn]]
) -> dict[bytes, int]:
    """key -> last offset in ``[start, end)`` (Kafka's ``SkimpyOffsetMap``, exact here)."""
    offset_map: dict[bytes, int] = {}
    for segment in segments:
        if segment.next_offset <= start:
            continue
        for position, header in segment.batches():
            if header.base_offset >= end:
                break
            if header.last_offset < start or header.is_control or _is_aborted(header, aborted):
                continue
            data = segment.records.read_bytes(position, header.size)
            for record in iter_records(data):
                offset = header.base_offset + record.offset_delta
                if record.key is not None and start <= offset < end:
                    offset_map[record.key] = offset
    return offset_map


def _last_batch_per_producer(segments: list[LogSegment], end: int) -> dict[int, int]:
    """producer id -> base offset of its last data batch in the range."""
    last: dict[int, int] = {}
    for segment in segments:
        for _, header in segment.batches():
            if header.base_offset >= end:
                break
            if header.producer_id >= 0 and not header.is_control:
                last[header.producer_id] = header.base_offset
    return last


class _TxnState:
    """Per producer: whether its current transaction kept any data (for its marker)."""

    def __init__(self) -> None:
        self.kept_data: dict[int, bool] = {}

    def on_data(self, producer_id: int, kept: bool) -> None:
        self.kept_data[producer_id] = self.kept_data.get(producer_id, False) or kept

    def on_marker(self, producer_id: int) -> bool:
        """True if the transaction ending here still has data in the log."""
        return self.kept_data.pop(producer_id, False)


def _clean_batch(
    data: bytes,
    header: BatchHeader,
    offset_map: dict[bytes, int],
    aborted: dict[int, list[AbortedTxn]],
    txn_state: _TxnState,
    last_batch_of: dict[int, int],
    now_ms: int,
    horizon: int,
) -> tuple[bytes | None, int, int]:
    """The cleaned form of one batch: ``(bytes or None if dropped, records removed, rewritten)``."""
    horizon_passed = header.has_delete_horizon and now_ms >= header.base_timestamp
    if header.is_control:
        if header.is_transactional:
            try:
                marker = parse_end_txn_marker(data)
            except WireError:
                marker = None
            has_data = txn_state.on_marker(header.producer_id) if marker is not None else True
            if not has_data and horizon_passed:
                return None, header.record_count, 0
            if not has_data and not header.has_delete_horizon:
                return _rebuild(data, header, None, horizon), 0, 1
        return data, 0, 0
    keep_empty = header.producer_id >= 0 and last_batch_of.get(header.producer_id) == header.base_offset
    if _is_aborted(header, aborted):
        txn_state.on_data(header.producer_id, False)
        if keep_empty:
            return _rebuild(data, header, [], None), header.record_count, 1
        return None, header.record_count, 0
    kept: list[Record] = []
    tombstones = False
    total = 0
    for record in iter_records(data):
        total += 1
        offset = header.base_offset + record.offset_delta
        if record.key is not None and offset_map.get(record.key, -1) > offset:
            continue
        if record.value is None:
            if horizon_passed:
                continue
            tombstones = True
        kept.append(record)
    if header.is_transactional:
        txn_state.on_data(header.producer_id, bool(kept))
    removed = total - len(kept)
    if not kept and not keep_empty:
        return None, removed, 0
    needs_horizon = tombstones and not header.has_delete_horizon
    if removed == 0 and not needs_horizon:
        return data, 0, 0
    return _rebuild(data, header, kept, horizon if needs_horizon else None), removed, 1


def _rebuild(data: bytes, header: BatchHeader, records: list[Record] | None, horizon: int | None) -> bytes:
    """Re-encode a batch with ``records`` (None: the same ones) and maybe a delete horizon.

    Offsets range, producer fields, leader epoch, compression and max timestamp stay.
    With a horizon, record timestamps are re-expressed relative to it (KIP-534).
    """
    if records is None:
        records = list(iter_records(data))
    base_ts = header.base_timestamp
    delete_horizon = header.has_delete_horizon
    if horizon is not None:
        records = [r._replace(timestamp_delta=base_ts + r.timestamp_delta - horizon) for r in records]
        base_ts, delete_horizon = horizon, True
    return build_batch(
        records,
        base_offset=header.base_offset,
        compression=header.compression,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        is_transactional=header.is_transactional,
        is_control=header.is_control,
        partition_leader_epoch=header.partition_leader_epoch,
        timestamp_type=header.timestamp_type if header.timestamp_type else TimestampType.CREATE_TIME,
        base_timestamp=base_ts,
        max_timestamp=header.max_timestamp,
        last_offset_delta=header.last_offset_delta,
        delete_horizon=delete_horizon,
    )
