"""The segments of one partition and their roll policy (Kafka's ``LocalLog``).

A partition directory ``<topic>-<partition>/`` holds the segments (see
:mod:`kafkapy.storage.segment`), producer-state snapshots and the
``leader-epoch-checkpoint``. This class owns the ordered segments: which one holds an
offset, rolling a new active segment, reading across segments, truncating, and
removing segments. Removal is asynchronous, as in Kafka: the files are renamed
``*.deleted`` and unlinked ``file.delete.delay.ms`` later, so file regions handed to
fetches stay valid until they have been sent.

Opening a directory (:meth:`LocalLog.open`) first finishes what a crash interrupted:
``.deleted`` files are removed, ``.cleaned`` files (a compaction that did not finish)
are dropped, ``.swap`` files (a compaction that was being swapped in) replace the
segments they cover, ``.tmp`` files go. Then each ``.log`` file becomes a segment,
whose indexes are loaded or marked for rebuilding.

Not task-safe: called only by the partition's owner.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import re
from collections.abc import Container

from kafkapy.config import LogConfig
from kafkapy.storage.file_records import FileRecords, RecordsPiece
from kafkapy.storage.index import AbortedTxn
from kafkapy.storage.segment import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    LOG_SUFFIX,
    SEGMENT_SUFFIXES,
    SWAP_SUFFIX,
    LogOffsetMetadata,
    LogSegment,
)
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import BatchHeader

_DIR_NAME = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)$")
_DELETE_DIR = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)\.(?P<uuid>[0-9a-f]{32})-delete$")


def log_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def parse_log_dir_name(name: str) -> tuple[str, int] | None:
    """``(topic, partition)`` of a partition directory name, or None."""
    m = _DIR_NAME.match(name)
    return (m["topic"], int(m["partition"])) if m else None


def is_delete_dir(name: str) -> bool:
    """A partition directory renamed for deletion (``<topic>-<p>.<uuid>-delete``)."""
    return _DELETE_DIR.match(name) is not None


@dataclasses.dataclass(frozen=True, slots=True)
class FetchDataInfo:
    """The result of a read (Kafka's ``FetchDataInfo``).

    ``records`` are file regions (file backend) or memoryviews (memory backend) to be
    sent in order; the last batch may be cut short. ``aborted_transactions`` is set
    for read_committed reads. ``error_code`` is NONE or OFFSET_OUT_OF_RANGE.
    """

    fetch_offset_metadata: LogOffsetMetadata
    records: list[RecordsPiece]
    size: int = 0
    first_entry_incomplete: bool = False
    aborted_transactions: list[AbortedTxn] | None = None
    error_code: ErrorCode = ErrorCode.NONE


@dataclasses.dataclass(slots=True)
class _PendingDelete:
    due_ms: int
    segment: LogSegment


class LocalLog:
    """The ordered segments of a partition; see the module doc.

    Invariants: at least one segment; base offsets strictly increase; only the last
    (active) segment is appended to; ``recovery_point <= log_end_offset``.
    """

    def __init__(self, directory: str | None, topic: str, partition: int, config: LogConfig) -> None:
        self.directory = directory
        self.topic = topic
        self.partition = partition
        self.config = config
        self.segments: list[LogSegment] = []
        self._bases: list[int] = []
        self.recovery_point = 0
        self.last_flush_ms = 0
        self._pending_deletes: list[_PendingDelete] = []
        #: the directory's names as :meth:`open` listed them, for the partition's other
        #: files (producer snapshots) to be found without listing it again
        self.listed_at_open: list[str] | None = None

    # --- segments ---

    def _new_segment(self, base_offset: int, now_ms: int, *, suffix: str = "", active: bool = False,
                     listed: Container[str] | None = None) -> LogSegment:
        config = self.config
        segment = LogSegment.open(
            self.directory,
            base_offset,
            index_interval_bytes=config.index_interval_bytes,
            max_index_size=config.segment_index_bytes,
            created_ms=now_ms,
            roll_jitter_ms=_roll_jitter(config, base_offset),
            preallocate_bytes=config.effective_segment_bytes if config.preallocate and active else 0,
            suffix=suffix,
            listed=listed,
        )
        if active:
            segment.make_active()
        return segment

    def add_segment(self, segment: LogSegment) -> None:
        i = bisect.bisect_left(self._bases, segment.base_offset)
        if i < len(self._bases) and self._bases[i] == segment.base_offset:
            self.segments[i] = segment
        else:
            self.segments.insert(i, segment)
            self._bases.insert(i, segment.base_offset)

    def _remove_from_map(self, segment: LogSegment) -> None:
        i = bisect.bisect_left(self._bases, segment.base_offset)
        if i < len(self._bases) and self.segments[i] is segment:
            del self.segments[i]
            del self._bases[i]

    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    @property
    def log_end_offset(self) -> int:
        return self.segments[-1].next_offset

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)

    def floor_segment(self, offset: int) -> LogSegment | None:
        """The segment whose base offset is the largest <= ``offset``."""
        i = bisect.bisect_right(self._bases, offset)
        return self.segments[i - 1] if i else None

    def floor_index(self, offset: int) -> int:
        return max(bisect.bisect_right(self._bases, offset) - 1, 0)

    def higher_segment(self, segment: LogSegment) -> LogSegment | None:
        i = bisect.bisect_right(self._bases, segment.base_offset)
        return self.segments[i] if i < len(self.segments) else None

    @property
    def unflushed_messages(self) -> int:
        return self.log_end_offset - self.recovery_point

    # --- rolling ---

    def roll(self, now_ms: int, expected_next_offset: int | None = None) -> LogSegment:
        """Start a new active segment at the log end (or ``expected_next_offset``)."""
        new_offset = max(expected_next_offset or 0, self.log_end_offset)
        active = self.active_segment
        if active.base_offset == new_offset:
            if active.size == 0:
                return active  # already an empty segment there (Kafka replaces it; same result)
            raise RuntimeError(f"segment {new_offset} already exists with data in {self.directory}")
        active.on_become_inactive()
        segment = self._new_segment(new_offset, now_ms, active=True)
        self.add_segment(segment)
        return segment

    # --- reading ---

    def read(
        self, start_offset: int, max_length: int, max_offset: int, min_one_message: bool
    ) -> FetchDataInfo:
        """Bytes from ``start_offset``, never at or past ``max_offset`` (Kafka's ``LocalLog.read``).

        The caller has checked ``start_offset`` against the log range.
        """
        if start_offset >= max_offset:
            return FetchDataInfo(LogOffsetMetadata(start_offset), [])
        i = self.floor_index(start_offset)
        while i < len(self.segments):
            segment = self.segments[i]
            if segment.base_offset >= max_offset:
                break
            max_position = segment.position_of(max_offset)
            result = segment.read(start_offset, max_length, max_position, min_one_message)
            if result is not None:
                metadata, pieces, size, incomplete = result
                return FetchDataInfo(metadata, pieces, size, incomplete)
            i += 1
        return FetchDataInfo(LogOffsetMetadata(start_offset), [])

    def collect_aborted_transactions(self, start_offset: int, upper_bound_offset: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping ``[start_offset, upper_bound_offset)``."""
        out: list[AbortedTxn] = []
        for segment in self.segments[self.floor_index(start_offset):]:
            if segment.base_offset >= upper_bound_offset:
                break
            out.extend(segment.txn_index.collect_aborted(start_offset, upper_bound_offset))
        return out

    def fetch_upper_bound_offset(self, info: FetchDataInfo) -> int:
        """The first offset surely past the data of ``info`` (for aborted txn lists)."""
        metadata = info.fetch_offset_metadata
        segment = self.floor_segment(metadata.message_offset)
        if segment is not None and metadata.relative_position_in_segment >= 0:
            bound = segment.offset_index.fetch_upper_bound_offset(metadata.relative_position_in_segment, info.size)
            if bound is not None:
                return bound
            higher = self.higher_segment(segment)
            if higher is not None:
                return higher.base_offset
        return self.log_end_offset

    # --- truncation and removal ---

    def truncate_to(self, offset: int, now_ms: int) -> int:
        """Remove everything at and after ``offset``; returns the bytes removed."""
        removed = 0
        doomed = [s for s in self.segments if s.base_offset >= offset]
        if len(doomed) == len(self.segments):
            # Keep an (empty) segment at the truncation point.
            removed = sum(s.size for s in doomed)
            self.remove_segments(doomed, now_ms, delay_ms=0)
            self.add_segment(self._new_segment(offset, now_ms, active=True))
        else:
            removed += sum(s.size for s in doomed)
            self.remove_segments(doomed, now_ms, delay_ms=0)
            active = self.active_segment
            removed += active.truncate_to(offset)
            active.make_active()
        self.recovery_point = min(self.recovery_point, offset)
        return removed

    def truncate_fully_and_start_at(self, offset: int, now_ms: int) -> int:
        removed = self.size
        self.remove_segments(list(self.segments), now_ms, delay_ms=0)
        self.add_segment(self._new_segment(offset, now_ms, active=True))
        self.recovery_point = offset
        return removed

    def remove_segments(self, segments: list[LogSegment], now_ms: int, *, delay_ms: int | None = None) -> None:
        """Take segments out of the log; their files go after ``file.delete.delay.ms``."""
        delay = self.config.file_delete_delay_ms if delay_ms is None else delay_ms
        for segment in segments:
            self._remove_from_map(segment)
            if segment.is_file:
                segment.change_suffix("", DELETED_SUFFIX)
            self._pending_deletes.append(_PendingDelete(now_ms + delay, segment))
        self.delete_pending(now_ms)

    def delete_pending(self, now_ms: int) -> int:
        """Close and unlink removed segments whose delay has passed; returns how many."""
        due = [p for p in self._pending_deletes if p.due_ms <= now_ms]
        if not due:
            return 0
        self._pending_deletes = [p for p in self._pending_deletes if p.due_ms > now_ms]
        for pending in due:
            pending.segment.delete()
        return len(due)

    def replace_segments(self, new_segment: LogSegment, old_segments: list[LogSegment], now_ms: int) -> None:
        """Swap a cleaned segment in for the segments it replaces (Kafka's ``replaceSegments``).

        ``new_segment`` has ``.cleaned`` files. Order of renames, each crash-safe:
        ``.cleaned`` -> ``.swap``; old segments -> ``.deleted``; ``.swap`` -> final.
        """
        new_segment.change_suffix(CLEANED_SUFFIX, SWAP_SUFFIX)
        for old in old_segments:
            self._remove_from_map(old)
        for old in old_segments:
            if old.is_file:
                old.change_suffix("", DELETED_SUFFIX)
            self._pending_deletes.append(_PendingDelete(now_ms + self.config.file_delete_delay_ms, old))
        new_segment.change_suffix(SWAP_SUFFIX, "")
        self.add_segment(new_segment)

    # --- flushing ---

    def flush(self, offset: int, now_ms: int) -> None:
        """fdatasync every segment holding data below ``offset``; it becomes the recovery point."""
        if offset <= self.recovery_point:
            return
        for segment in self.segments[self.floor_index(self.recovery_point):]:
            if segment.base_offset >= offset:
                break
            segment.flush()
        self.recovery_point = offset
        self.last_flush_ms = now_ms

    def close(self, *, discard: bool = False) -> None:
        """Close every segment; ``discard``: the directory is being deleted (see ``LogSegment.close``)."""
        for segment in self.segments:
            segment.close(discard=discard)
        for pending in self._pending_deletes:
            pending.segment.delete()
        self._pending_deletes = []

    # --- opening ---

    @classmethod
    def open(
        cls, directory: str | None, topic: str, partition: int, config: LogConfig, now_ms: int, log_start_offset: int = 0,
        *, recover_from: int | None = None,
    ) -> tuple[LocalLog, list[LogSegment]]:
        """Open a partition directory (or a fresh memory log).

        Returns the log and the segments whose indexes did not load and must be
        recovered. A directory with no segment gets an empty one at ``log_start_offset``.
        ``recover_from`` (after an unclean shutdown: the recovery point) names an offset
        from whose segment on every segment is recovered anyway: their indexes, rebuilt
        by the recovery, are not read but returned with the others (Kafka's LogLoader
        likewise only sanity-checks the indexes of segments below the recovery point).
        """
        log = cls(directory, topic, partition, config)
        bad_indexes: list[LogSegment] = []
        try:
            if directory is not None:
                names = _finish_interrupted_operations(directory)
                log.listed_at_open = names
                listed = frozenset(names)
                bases = sorted(int(stem) for stem in (name[: -len(LOG_SUFFIX)] for name in names
                                                      if name.endswith(LOG_SUFFIX)) if stem.isdigit())
                first_recovered = None
                if recover_from is not None and bases:
                    first_recovered = max((b for b in bases if b <= recover_from), default=bases[0])
                for base in bases:
                    segment = log._new_segment(base, now_ms, listed=listed)
                    log.add_segment(segment)
                    if first_recovered is not None and base >= first_recovered:
                        bad_indexes.append(segment)
                    elif not segment.load_indexes():
                        bad_indexes.append(segment)
            if not log.segments:
                log.add_segment(log._new_segment(log_start_offset, now_ms, active=True))
            else:
                log.active_segment.make_active()
        except BaseException:
            log.close(discard=True)  # a failed open (EMFILE, EIO) keeps no descriptor
            raise
        return log, bad_indexes


def _roll_jitter(config: LogConfig, base_offset: int) -> int:
    """A per-segment jitter below ``segment.jitter.ms`` (``LogConfig.randomSegmentJitter``).

    Derived from the base offset rather than a random number, so the store stays
    deterministic for tests while rolls of many partitions still spread out.
    """
    if config.segment_jitter_ms == 0:
        return 0
    return (base_offset * 2654435761) % min(config.segment_jitter_ms, config.segment_ms)


def _finish_interrupted_operations(directory: str) -> list[str]:
    """Crash clean-up of a partition directory (Kafka's ``LogLoader.removeTempFilesAndCollectSwapFiles``),
    made first if missing; returns the names in it afterwards (one listing when there
    was nothing to clean up, the usual case: opening 10,000 logs lists each once)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        return []
    swap_stems = set()
    changed = False
    for name in names:
        path = os.path.join(directory, name)
        if name.endswith((DELETED_SUFFIX, CLEANED_SUFFIX, ".tmp")):
            os.unlink(path)
            changed = True
        elif name.endswith(SWAP_SUFFIX):
            swap_stems.add(name[: -len(SWAP_SUFFIX)])
    # A .swap log replaces every segment whose offsets it covers: those with base
    # offsets from its own base up to the end of its data.
    for swap in sorted(s for s in swap_stems if s.endswith(LOG_SUFFIX)):
        base = int(swap[: -len(LOG_SUFFIX)])
        swap_path = os.path.join(directory, swap + SWAP_SUFFIX)
        replaced_up_to = _swap_log_end(swap_path, base)
        for name in os.listdir(directory):
            stem, suffix = os.path.splitext(name)
            if suffix in SEGMENT_SUFFIXES and stem.isdigit() and base <= int(stem) < replaced_up_to:
                os.unlink(os.path.join(directory, name))
    for stem in swap_stems:
        os.rename(os.path.join(directory, stem + SWAP_SUFFIX), os.path.join(directory, stem))
    return os.listdir(directory) if changed or swap_stems else names


def _swap_log_end(path: str, base: int) -> int:
    """The offset after the last batch of a ``.swap`` log file."""
    records = FileRecords.open(path)
    try:
        state = {"next": base}

        def visit(batches: list[tuple[int, BatchHeader]]) -> None:
            state["next"] = batches[-1][1].next_offset

        records.scan(0, visit, check_crc=False)
        return max(state["next"], base + 1)
    finally:
        os.close(records.fd)
