"""One segment of a partition log (Kafka's ``LogSegment``).

A segment is FileRecords + OffsetIndex + TimeIndex + TransactionIndex sharing a base
offset, the first offset it may hold. On disk, in the partition directory::

    00000000000000000000.log        the batches, exactly as stored
    00000000000000000000.index      offset -> position (sparse)
    00000000000000000000.timeindex  timestamp -> offset (sparse)
    00000000000000000000.txnindex   aborted transactions (only once there is one)

Only the last segment of a log, the active one, is appended to. Rolling makes it
inactive: its time index gets a final entry and its files are trimmed. In the memory
backend the same object holds MemoryRecords and index arrays without files.

Not task-safe: called only by the partition's owner. An inactive segment may be read
from a worker thread (compaction) while the owner appends to the active one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Container, Iterator

from kafkapy.storage.file_records import (
    FileRecords,
    MemoryRecords,
    Records,
    RecordsPiece,
)
from kafkapy.storage.index import NO_TIMESTAMP, OffsetIndex, TimeIndex, TransactionIndex
from kafkapy.wire.errors import WireError
from kafkapy.wire.records import BatchHeader

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
TXN_INDEX_SUFFIX = ".txnindex"
SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)
#: Files being deleted (``LogFileUtils.DELETED_FILE_SUFFIX``), built by the cleaner,
#: and swapped in by the cleaner (``CLEANED_FILE_SUFFIX``, ``SWAP_FILE_SUFFIX``).
DELETED_SUFFIX = ".deleted"
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"

_INT32_MAX = 0x7FFFFFFF

#: Called for each valid batch found while recovering: (records, position, header).
RecoveryVisitor = Callable[[Records, int, BatchHeader], None]


def file_stem(directory: str, base_offset: int) -> str:
    """``<dir>/<base offset, 20 digits>``, the name every segment file starts with."""
    return os.path.join(directory, f"{base_offset:020d}")


@dataclasses.dataclass(frozen=True, slots=True)
class LogOffsetMetadata:
    """An offset and where it lies: the segment's base offset and the byte position."""

    message_offset: int
    segment_base_offset: int = -1
    relative_position_in_segment: int = -1


class LogSegment:
    """A base offset's records and indexes; see the module doc for the layout.

    Attributes:
        base_offset: the first offset the segment may hold.
        created_ms: when the segment was created or loaded (for time-based rolls).
        rolling_based_timestamp: max timestamp of its first batch, or None if empty.
    """

    def __init__(
        self,
        records: Records,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
        txn_index: TransactionIndex,
        base_offset: int,
        index_interval_bytes: int,
        created_ms: int,
        roll_jitter_ms: int = 0,
    ) -> None:
        self.records = records
        self.offset_index = offset_index
        self.time_index = time_index
        self.txn_index = txn_index
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.created_ms = created_ms
        self.roll_jitter_ms = roll_jitter_ms
        self.rolling_based_timestamp: int | None = None
        self.bytes_since_last_index_entry = 0
        self.max_timestamp_so_far = NO_TIMESTAMP
        self.offset_of_max_timestamp_so_far = base_offset
        self._next_offset: int | None = None

    # --- construction ---

    @classmethod
    def open(
        cls,
        directory: str | None,
        base_offset: int,
        *,
        index_interval_bytes: int,
        max_index_size: int,
        created_ms: int,
        roll_jitter_ms: int = 0,
        preallocate_bytes: int = 0,
        suffix: str = "",
        listed: Container[str] | None = None,
    ) -> LogSegment:
        """Open or create the segment at ``base_offset``; ``directory`` None means memory.

        ``suffix`` is appended to every file name (``.cleaned`` while the cleaner builds
        a replacement segment). ``listed``, the partition directory's names as listed
        when the log was opened, spares a system call per index file known to exist
        (10,000 logs open at start).
        """
        if directory is None:
            return cls(
                MemoryRecords(),
                OffsetIndex(None, base_offset, max_index_size),
                TimeIndex(None, base_offset, max_index_size),
                TransactionIndex(None),
                base_offset,
                index_interval_bytes,
                created_ms,
                roll_jitter_ms,
            )
        stem = file_stem(directory, base_offset)
        name = f"{base_offset:020d}"
        records = FileRecords.open(stem + LOG_SUFFIX + suffix, preallocate_bytes=preallocate_bytes)
        try:
            offset_index = OffsetIndex(stem + INDEX_SUFFIX + suffix, base_offset, max_index_size,
                                       exists=listed is not None and name + INDEX_SUFFIX + suffix in listed)
            time_index = TimeIndex(stem + TIME_INDEX_SUFFIX + suffix, base_offset, max_index_size,
                                   exists=listed is not None and name + TIME_INDEX_SUFFIX + suffix in listed)
        except BaseException:
            records.close()  # out of descriptors (EMFILE) or space: hold on to nothing
            raise
        return cls(
            records,
            offset_index,
            time_index,
            TransactionIndex(stem + TXN_INDEX_SUFFIX + suffix,
                             exists=None if listed is None else name + TXN_INDEX_SUFFIX + suffix in listed),
            base_offset,
            index_interval_bytes,
            created_ms,
            roll_jitter_ms,
        )

    def load_indexes(self) -> bool:
        """Load index files of a cleanly written segment; False if one must be rebuilt."""
        ok = self.offset_index.load(self.records.size)
        ok = self.txn_index.load() and ok
        ok = ok and self.time_index.load(self.offset_index.last_offset if self.offset_index.entries else _INT32_MAX)
        if ok:
            ts, offset = self.time_index.last_entry()
            self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far = ts, offset
        return ok

    # --- facts ---

    @property
    def size(self) -> int:
        return self.records.size

    @property
    def is_file(self) -> bool:
        return isinstance(self.records, FileRecords)

    def can_convert_to_relative_offset(self, offset: int) -> bool:
        return 0 <= offset - self.base_offset <= _INT32_MAX

    @property
    def next_offset(self) -> int:
        """The offset after the last batch (the base offset when empty); cached."""
        if self._next_offset is None:
            _, position = self.offset_index.lookup(self.offset_index.last_offset)
            next_offset = self.base_offset
            header = self.records.read_header(position)
            while header is not None:
                next_offset = header.next_offset
                position += header.size
                header = self.records.read_header(position)
            self._next_offset = next_offset
        return self._next_offset

    def _ensure_rolling_timestamp(self) -> None:
        if self.rolling_based_timestamp is None and self.records.size > 0:
            self.rolling_based_timestamp = self.records.read_header(0).max_timestamp

    def time_waited_for_roll(self, now_ms: int, message_timestamp: int) -> int:
        """Age of the segment: by record timestamps when known, else by the clock."""
        self._ensure_rolling_timestamp()
        if self.rolling_based_timestamp is not None and self.rolling_based_timestamp >= 0:
            return message_timestamp - self.rolling_based_timestamp
        return now_ms - self.created_ms

    def should_roll(
        self, *, max_segment_bytes: int, max_segment_ms: int, append_size: int, max_timestamp: int, max_offset: int, now_ms: int
    ) -> bool:
        """Kafka's ``LogSegment.shouldRoll``: full by bytes, old, index full, or offset overflow."""
        reached_roll_ms = self.time_waited_for_roll(now_ms, max_timestamp) > max_segment_ms - self.roll_jitter_ms
        return (
            self.size > max_segment_bytes - append_size
            or (self.size > 0 and reached_roll_ms)
            or self.offset_index.is_full
            or self.time_index.is_full
            or not self.can_convert_to_relative_offset(max_offset)
        )

    def largest_timestamp(self) -> int:
        """The largest batch max timestamp in the segment (the file's mtime if none)."""
        if self.max_timestamp_so_far >= 0:
            return self.max_timestamp_so_far
        return self.last_modified_ms()

    def last_modified_ms(self) -> int:
        if isinstance(self.records, FileRecords):
            return int(os.stat(self.records.path).st_mtime * 1000)
        return self.created_ms

    # --- writing ---

    def append(self, data: memoryview | bytes, header: BatchHeader) -> int:
        """Append one batch whose header is ``header``; returns its position."""
        position = self.records.append(data)
        if position == 0:
            self.rolling_based_timestamp = header.max_timestamp
        self._index_batch(position, header)
        self._next_offset = header.next_offset
        return position

    def append_batches(self, data: memoryview | bytes, batches: list[tuple[int, BatchHeader]]) -> int:
        """Append several batches; ``batches`` holds their positions within ``data``."""
        position = self.records.append(data)
        if position == 0 and batches:
            self.rolling_based_timestamp = batches[0][1].max_timestamp
        for pos, header in batches:
            self._index_batch(position + pos, header)
        if batches:
            self._next_offset = batches[-1][1].next_offset
        return position

    def _index_batch(self, position: int, header: BatchHeader) -> None:
        # Kafka's LogSegment.append: an index entry names the batch's last offset and
        # where the batch starts, once more than index.interval.bytes were appended.
        if header.max_timestamp > self.max_timestamp_so_far:
            self.max_timestamp_so_far = header.max_timestamp
            self.offset_of_max_timestamp_so_far = header.last_offset
        if self.bytes_since_last_index_entry > self.index_interval_bytes:
            self.offset_index.append(header.last_offset, position)
            self.time_index.maybe_append(self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far)
            self.bytes_since_last_index_entry = 0
        self.bytes_since_last_index_entry += header.size

    def recover(self, visit: RecoveryVisitor | None = None) -> tuple[int, WireError | None]:
        """Rebuild the indexes from the records and cut a torn or corrupt tail.

        Every batch is validated (CRC-32C, lengths, magic) and must lie within the
        segment's offset range, after the previous one. ``visit`` sees each valid batch
        (producer state and leader epochs are rebuilt from it).

        Returns:
            ``(bytes truncated, the error that ended the valid data or None)``.
        """
        self.offset_index.reset()
        self.time_index.reset()
        self.txn_index.reset()
        self.bytes_since_last_index_entry = 0
        self.max_timestamp_so_far = NO_TIMESTAMP
        self.offset_of_max_timestamp_so_far = self.base_offset
        self.rolling_based_timestamp = None
        state = {"next": self.base_offset, "end": None}

        def on_batches(batches: list[tuple[int, BatchHeader]]) -> None:
            if state["end"] is not None:
                return
            for position, header in batches:
                if header.base_offset < state["next"] or not self.can_convert_to_relative_offset(header.last_offset):
                    state["end"] = position
                    return
                if position == 0:
                    self.rolling_based_timestamp = header.max_timestamp
                self._index_batch(position, header)
                state["next"] = header.next_offset
                if visit is not None:
                    visit(self.records, position, header)

        valid_end, error = self.records.scan(0, on_batches)
        if state["end"] is not None:
            valid_end = state["end"]
            error = error or WireError(f"batch at position {valid_end} is out of order in segment {self.base_offset}")
        truncated = self.records.truncate_to(valid_end) if self.records.size > valid_end else 0
        if isinstance(self.records, FileRecords):
            self.records.trim()
        self._next_offset = state["next"]
        self.time_index.maybe_append(self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far)
        return truncated, error if truncated or error else None

    def truncate_to(self, offset: int) -> int:
        """Remove the batches holding ``offset`` and after; the segment then ends at ``offset``.

        Returns the bytes removed.
        """
        if offset >= self.next_offset:
            # Compaction emptied the range up to ``offset``: the log still ends there,
            # as Kafka's ``UnifiedLog.truncateTo`` sets the log end offset to the target.
            if offset > self.next_offset and self.can_convert_to_relative_offset(offset):
                self._next_offset = offset
            return 0
        found = self.translate_offset(offset)
        removed = 0
        if found is not None:
            position, _ = found
            self.offset_index.truncate_to(offset)
            self.time_index.truncate_to(offset)
            self.txn_index.truncate_to(offset)
            removed = self.records.truncate_to(position)
            self._rebuild_position_state()
        self._next_offset = max(offset, self.base_offset)
        return removed

    def _rebuild_position_state(self) -> None:
        """After a truncation: max timestamp and the bytes since the last index entry."""
        ts, off = self.time_index.last_entry()
        self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far = ts, off
        _, position = self.offset_index.lookup(self.offset_index.last_offset) if self.offset_index.entries else (0, 0)
        header = self.records.read_header(position)
        while header is not None:
            if header.max_timestamp > self.max_timestamp_so_far:
                self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far = header.max_timestamp, header.last_offset
            position += header.size
            header = self.records.read_header(position)
        last_indexed = self.offset_index.lookup(self.offset_index.last_offset)[1] if self.offset_index.entries else 0
        self.bytes_since_last_index_entry = self.size - last_indexed
        if self.size == 0:
            self.rolling_based_timestamp = None

    def on_become_inactive(self) -> None:
        """The segment was rolled: final time index entry, files trimmed."""
        self.time_index.maybe_append(self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far)
        self.offset_index.trim()
        self.time_index.trim()
        self.records.trim()

    def make_active(self) -> None:
        """Preallocate the index files of the segment that will be appended to."""
        self.offset_index.preallocate()
        self.time_index.preallocate()

    # --- reading ---

    def translate_offset(self, offset: int, start_position: int = 0) -> tuple[int, BatchHeader] | None:
        """Position and header of the first batch whose last offset is >= ``offset``."""
        _, position = self.offset_index.lookup(offset)
        position = max(position, start_position)
        header = self.records.read_header(position)
        while header is not None:
            if header.last_offset >= offset:
                return position, header
            position += header.size
            header = self.records.read_header(position)
        return None

    def position_of(self, offset: int) -> int:
        """Where the batch holding ``offset`` starts; the segment size if past the end."""
        if offset >= self.next_offset:
            return self.size
        found = self.translate_offset(offset)
        return self.size if found is None else found[0]

    def read(
        self, start_offset: int, max_size: int, max_position: int, min_one_message: bool
    ) -> tuple[LogOffsetMetadata, list[RecordsPiece], int, bool] | None:
        """Bytes from the batch holding ``start_offset`` (Kafka's ``LogSegment.read``).

        The slice ends at ``max_size`` bytes (at least the first whole batch when
        ``min_one_message``) and never passes ``max_position``; it may end inside a
        batch, which clients ignore. Returns None when the offset is past the segment.

        Returns:
            ``(offset metadata, pieces, size, first_entry_incomplete)``.
        """
        found = self.translate_offset(start_offset)
        if found is None:
            return None
        position, header = found
        metadata = LogOffsetMetadata(start_offset, self.base_offset, position)
        adjusted = max(max_size, header.size) if min_one_message else max_size
        fetch_size = max(min(max_position - position, adjusted), 0)
        pieces = self.records.pieces(position, fetch_size)
        return metadata, pieces, fetch_size, (adjusted < header.size and not min_one_message)

    def find_offset_by_timestamp(self, timestamp: int, starting_offset: int) -> tuple[int, BatchHeader] | None:
        """The first batch at or after ``starting_offset`` whose max timestamp >= ``timestamp``."""
        _, ts_offset = self.time_index.lookup(timestamp)
        _, position = self.offset_index.lookup(max(ts_offset, starting_offset))
        header = self.records.read_header(position)
        while header is not None:
            if header.max_timestamp >= timestamp and header.last_offset >= starting_offset:
                return position, header
            position += header.size
            header = self.records.read_header(position)
        return None

    def batches(self, start_position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        """``(position, header)`` of each batch from ``start_position`` (headers only)."""
        position = start_position
        header = self.records.read_header(position)
        while header is not None:
            yield position, header
            position += header.size
            header = self.records.read_header(position)

    # --- files ---

    def flush(self) -> None:
        self.records.flush()
        self.offset_index.flush()
        self.time_index.flush()
        self.txn_index.flush()

    def close(self, *, discard: bool = False) -> None:
        """Write the indexes out and close the ``.log``; ``discard`` skips the indexes
        (the files are about to be removed, and may have been moved with their directory)."""
        try:
            if not discard:
                self.time_index.maybe_append(self.max_timestamp_so_far, self.offset_of_max_timestamp_so_far)
                self.offset_index.close()
                self.time_index.close()
                self.txn_index.close()
        finally:
            self.records.close()  # a full disk that fails the index writes must not leak it

    def change_suffix(self, old: str, new: str) -> None:
        """Rename every file from ``<name><old>`` to ``<name><new>`` (``.deleted``, ``.swap``)."""
        for part in (self.records, self.offset_index, self.time_index, self.txn_index):
            path = part.path
            if path is None:
                continue
            stem = path[: len(path) - len(old)] if old and path.endswith(old) else path
            part.rename(stem + new)

    def delete(self) -> None:
        """Remove the segment's files (or drop its memory)."""
        self.offset_index.delete()
        self.time_index.delete()
        self.txn_index.delete()
        self.records.delete()

    def __repr__(self) -> str:
        return f"LogSegment(base_offset={self.base_offset}, size={self.size})"
