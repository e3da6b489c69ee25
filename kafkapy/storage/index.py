"""The sparse indexes of a segment: offset index, time index, transaction index.

Formats (big-endian, as Kafka's ``OffsetIndex``, ``TimeIndex``, ``TransactionIndex``):

- ``<base>.index``: 8-byte entries, relative offset int32 + position int32. One entry
  each time more than ``index.interval.bytes`` of log were appended since the last
  one; the entry names the *last* offset of the batch starting at that position.
- ``<base>.timeindex``: 12-byte entries, timestamp int64 + relative offset int32, the
  largest timestamp so far and the offset of the batch holding it; timestamps strictly
  increase.
- ``<base>.txnindex``: 34-byte entries, version int16 (0), producer id int64, first
  offset int64, last offset int64, last stable offset int64: one per aborted
  transaction, so read_committed fetches can list them.

The offset and time index files of the active segment are preallocated to
``segment.index.bytes`` (rounded down to whole entries) and trimmed to their entries
when the segment is rolled or closed. As Kafka's ``LazyIndex`` opens an index only when
it is first used, the preallocation waits for the first entry written, and a trim is
skipped when the file already has the size: 10,000 idle partitions open and close
without 40,000 ``truncate`` calls. An index is derived data: after a crash, or when
a loaded file fails its sanity check, it is rebuilt from the log.

File descriptors. Kafka maps its index files and closes them (``AbstractIndex``: the
mapping holds no descriptor), so a segment costs one descriptor, its ``.log``. Python's
``mmap`` keeps a duplicate descriptor open (until 3.13's ``trackfd``), so here entries
live in arrays in memory (lookups are a bisect) and no index keeps its file open: the
file is opened for each write and closed again. Appended entries are written behind,
in one ``pwrite`` when the segment is flushed, rolled or closed, never one system call
per entry. A file that misses its newest entries after a crash is harmless: they
describe data past the recovery point, and recovery rebuilds every segment from there.
Dropped entries (truncation) are zeroed in the file at once, so a crash cannot bring
back an entry naming data that was replaced. Without a path (the memory backend) there
is no file. Not task-safe: called only by the partition's owner.
"""

from __future__ import annotations

import bisect
import os
import struct
from array import array
from typing import NamedTuple

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_TXN_ENTRY = struct.Struct(">hqqqq")
NO_TIMESTAMP = -1


#: Entries read at a time while loading an index file.
_READ_ENTRIES = 4096


def _touch(path: str) -> None:
    """Create ``path`` if missing, holding no descriptor afterwards."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))


class _IndexFile:
    """The file under an index, opened only while it is read or written.

    ``written`` counts the leading entries that are in the file as they are in memory;
    entries after them are written behind (see the module doc). ``synced`` is False
    once something was written since the last fsync.
    """

    __slots__ = ("entry_size", "path", "preallocate_to", "size", "synced", "written")

    def __init__(self, path: str, entry_size: int, *, exists: bool = False) -> None:
        self.path = path
        self.entry_size = entry_size
        self.written = 0
        self.synced = True
        #: the file's size in bytes, None until it is read or written
        self.size: int | None = None if exists else 0
        #: the size the next write grows the file to first (a deferred preallocation)
        self.preallocate_to = 0
        if not exists:  # known from the directory listing at open: no system call
            _touch(path)

    def read_all(self) -> bytes:
        """The file's whole entries, up to its zero-filled tail.

        An index that was not trimmed (a crash) keeps its preallocated size,
        ``segment.index.bytes`` (10 MiB by default), mostly zeros. The loaders stop at the
        first all-zero entry after the first, so the file is read in chunks and reading
        stops after a chunk that ends in one: a restart after a crash reads a few KiB per
        index, not 10 MiB (Kafka's mmap reads none of it either).
        """
        fd = os.open(self.path, os.O_RDONLY)
        try:
            size = self.size = os.fstat(fd).st_size
            size -= size % self.entry_size
            chunk = self.entry_size * _READ_ENTRIES
            zero = bytes(self.entry_size)
            parts = []
            pos = 0
            while pos < size:
                data = os.pread(fd, min(chunk, size - pos), pos)
                if not data:
                    break
                parts.append(data)
                pos += len(data)
                if pos > self.entry_size and data[-self.entry_size:] == zero:
                    break
            return b"".join(parts)
        finally:
            os.close(fd)

    def write(self, first_entry: int, data: bytes, *, fsync: bool = False) -> None:
        """Write ``data`` at entry ``first_entry`` (and fsync if asked), in one open."""
        fd = os.open(self.path, os.O_RDWR)
        try:
            if self.preallocate_to and self.size != self.preallocate_to:
                os.ftruncate(fd, self.preallocate_to)
                self.size = self.preallocate_to
            self.preallocate_to = 0
            if data:
                end = first_entry * self.entry_size + os.pwrite(fd, data, first_entry * self.entry_size)
                self.synced = False
                if self.size is not None and end > self.size:
                    self.size = end
            if fsync and not self.synced:
                os.fsync(fd)
                self.synced = True
        finally:
            os.close(fd)

    def resize(self, size: int) -> None:
        self.preallocate_to = 0
        if size != self.size:
            os.truncate(self.path, size)
            self.size = size
            self.synced = False


class _Index:
    """What the offset and time indexes share: a base offset, capacity, a file."""

    entry_size = 0

    def __init__(self, path: str | None, base_offset: int, max_index_size: int, *, exists: bool = False) -> None:
        self.base_offset = base_offset
        self.max_entries = max(max_index_size // self.entry_size, 1)
        self._file = _IndexFile(path, self.entry_size, exists=exists) if path is not None else None

    @property
    def path(self) -> str | None:
        return self._file.path if self._file else None

    @property
    def is_full(self) -> bool:
        return self.entries >= self.max_entries

    @property
    def entries(self) -> int:
        raise NotImplementedError

    @property
    def size_in_bytes(self) -> int:
        return self.entries * self.entry_size

    def _pack(self, first: int, stop: int) -> bytes:
        """The file bytes of entries ``[first, stop)``."""
        raise NotImplementedError

    def _write_behind(self, *, fsync: bool = False) -> None:
        """Write the entries the file does not have yet (and fsync if asked)."""
        f = self._file
        if f is None:
            return
        entries = self.entries
        if f.written < entries or (fsync and not f.synced):
            f.write(f.written, self._pack(f.written, entries), fsync=fsync)
            f.written = entries

    def preallocate(self) -> None:
        """Grow the file to its full capacity, as Kafka does for the active segment, when
        the first entry is written (see the module doc)."""
        if self._file is not None:
            self._file.preallocate_to = self.max_entries * self.entry_size

    def trim(self) -> None:
        """Write the entries and shrink the file to them (on roll and close)."""
        if self._file is not None:
            self._file.preallocate_to = 0  # not grown only to be shrunk
            self._write_behind()
            self._file.resize(self.size_in_bytes)

    def flush(self) -> None:
        self._write_behind(fsync=True)

    def close(self) -> None:
        self.trim()

    def rename(self, path: str) -> None:
        if self._file is not None:
            os.rename(self._file.path, path)
            self._file.path = path

    def delete(self) -> None:
        if self._file is not None:
            self._file.written = self.entries  # nothing left to write behind
            try:
                os.unlink(self._file.path)
            except FileNotFoundError:
                pass

    def _loaded(self) -> None:
        if self._file is not None:
            self._file.written = self.entries

    def _discard_file(self) -> bool:
        """A loaded file failed its sanity check: empty it for a rebuild; returns False."""
        if self._file is not None:
            self._file.resize(0)
            self._file.written = 0
        return False

    def _zero_entries(self, first: int) -> None:
        """Entries from ``first`` were dropped: blank those already in the file at once,
        so a crash cannot bring them back."""
        f = self._file
        if f is not None and f.written > first:
            f.write(first, bytes((f.written - first) * self.entry_size))
            f.written = first

    def _relative(self, offset: int) -> int:
        rel = offset - self.base_offset
        if not 0 <= rel <= 0x7FFFFFFF:
            raise ValueError(f"offset {offset} does not fit an index based at {self.base_offset}")
        return rel


class OffsetIndex(_Index):
    """Offset -> file position, sparse (one entry per ``index.interval.bytes``)."""

    entry_size = _OFFSET_ENTRY.size

    def __init__(self, path: str | None, base_offset: int, max_index_size: int, *, exists: bool = False) -> None:
        super().__init__(path, base_offset, max_index_size, exists=exists)
        self._offsets = array("q")  # absolute offsets, for bisect
        self._positions = array("q")

    @property
    def entries(self) -> int:
        return len(self._offsets)

    @property
    def last_offset(self) -> int:
        return self._offsets[-1] if self._offsets else self.base_offset

    def load(self, log_size: int) -> bool:
        """Read the file's entries; False (and no entries) if they fail the sanity check.

        Valid entries strictly increase in offset and position and point inside the log;
        a zero-filled preallocated tail ends the entries.
        """
        if self._file is None:
            return True
        data = self._file.read_all()
        offsets, positions = array("q"), array("q")
        for rel, pos in _OFFSET_ENTRY.iter_unpack(data):
            if offsets and (rel + self.base_offset <= offsets[-1] or pos <= positions[-1]):
                if rel == 0 and pos == 0:
                    break  # the preallocated tail
                return self._discard_file()
            if rel < 0 or not 0 <= pos < max(log_size, 1):
                return self._discard_file()
            offsets.append(rel + self.base_offset)
            positions.append(pos)
        self._offsets, self._positions = offsets, positions
        self._loaded()
        return True


    def append(self, offset: int, position: int) -> None:
        """Add an entry; offsets must increase (Kafka's ``OffsetIndex.append``)."""
        if self._offsets and offset <= self._offsets[-1]:
            raise ValueError(f"index offset {offset} is not above the last entry {self._offsets[-1]}")
        self._relative(offset)
        self._offsets.append(offset)
        self._positions.append(position)

    def lookup(self, target_offset: int) -> tuple[int, int]:
        """The entry with the largest offset <= target, or ``(base_offset, 0)``."""
        i = bisect.bisect_right(self._offsets, target_offset)
        if i == 0:
            return self.base_offset, 0
        return self._offsets[i - 1], self._positions[i - 1]

    def fetch_upper_bound_offset(self, start_position: int, fetch_size: int) -> int | None:
        """Offset of the first entry past ``start_position + fetch_size``, if any."""
        i = bisect.bisect_right(self._positions, start_position + fetch_size)
        return self._offsets[i] if i < len(self._offsets) else None

    def truncate_to(self, offset: int) -> None:
        """Drop entries for offsets >= ``offset``."""
        i = bisect.bisect_left(self._offsets, offset)
        self._truncate_entries(i)

    def _truncate_entries(self, n: int) -> None:
        dropped = len(self._offsets) - n
        if dropped > 0:
            del self._offsets[n:]
            del self._positions[n:]
            self._zero_entries(n)

    def _pack(self, first: int, stop: int) -> bytes:
        base, offsets, positions = self.base_offset, self._offsets, self._positions
        return b"".join(_OFFSET_ENTRY.pack(offsets[i] - base, positions[i]) for i in range(first, stop))

    def reset(self) -> None:
        self._truncate_entries(0)


class TimeIndex(_Index):
    """Timestamp -> offset, sparse; timestamps strictly increase."""

    entry_size = _TIME_ENTRY.size

    def __init__(self, path: str | None, base_offset: int, max_index_size: int, *, exists: bool = False) -> None:
        super().__init__(path, base_offset, max_index_size, exists=exists)
        self._timestamps = array("q")
        self._offsets = array("q")

    @property
    def entries(self) -> int:
        return len(self._timestamps)

    def last_entry(self) -> tuple[int, int]:
        """``(timestamp, offset)`` of the last entry, or ``(NO_TIMESTAMP, base_offset)``."""
        if not self._timestamps:
            return NO_TIMESTAMP, self.base_offset
        return self._timestamps[-1], self._offsets[-1]

    def load(self, last_log_offset: int) -> bool:
        """Read the file's entries; False (and no entries) if they fail the sanity check."""
        if self._file is None:
            return True
        data = self._file.read_all()
        timestamps, offsets = array("q"), array("q")
        for ts, rel in _TIME_ENTRY.iter_unpack(data):
            if timestamps and ts <= timestamps[-1]:
                if ts == 0 and rel == 0:
                    break  # the preallocated tail
                return self._discard_file()
            offset = rel + self.base_offset
            if rel < 0 or (offsets and offset < offsets[-1]) or offset > max(last_log_offset, self.base_offset):
                return self._discard_file()
            timestamps.append(ts)
            offsets.append(offset)
        self._timestamps, self._offsets = timestamps, offsets
        self._loaded()
        return True


    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add an entry if ``timestamp`` is above the last one (``TimeIndex.maybeAppend``)."""
        if timestamp <= (self._timestamps[-1] if self._timestamps else NO_TIMESTAMP):
            return
        if self._offsets and offset < self._offsets[-1]:
            raise ValueError(f"time index offset {offset} below the last entry {self._offsets[-1]}")
        self._relative(offset)
        self._timestamps.append(timestamp)
        self._offsets.append(offset)

    def lookup(self, target_timestamp: int) -> tuple[int, int]:
        """The entry with the largest timestamp <= target, or ``(NO_TIMESTAMP, base_offset)``."""
        i = bisect.bisect_right(self._timestamps, target_timestamp)
        if i == 0:
            return NO_TIMESTAMP, self.base_offset
        return self._timestamps[i - 1], self._offsets[i - 1]

    def truncate_to(self, offset: int) -> None:
        """Drop entries for offsets >= ``offset``."""
        i = bisect.bisect_left(self._offsets, offset)
        dropped = len(self._offsets) - i
        if dropped > 0:
            del self._timestamps[i:]
            del self._offsets[i:]
            self._zero_entries(i)

    def reset(self) -> None:
        self.truncate_to(self.base_offset)

    def _pack(self, first: int, stop: int) -> bytes:
        base, timestamps, offsets = self.base_offset, self._timestamps, self._offsets
        return b"".join(_TIME_ENTRY.pack(timestamps[i], offsets[i] - base) for i in range(first, stop))


class AbortedTxn(NamedTuple):
    """One aborted transaction (Kafka's ``AbortedTxn``)."""

    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


class TransactionIndex:
    """The aborted transactions whose markers are in one segment (``.txnindex``).

    Append-only and small; kept whole in memory, written through to the file, which is
    opened for each write and closed again (aborted transactions are rare; the segment's
    descriptor budget is its ``.log``).
    """

    VERSION = 0
    entry_size = _TXN_ENTRY.size

    def __init__(self, path: str | None, *, exists: bool | None = None) -> None:
        self.path = path
        self.entries: list[AbortedTxn] = []
        self._unsynced = False
        #: whether the file exists, when the directory listing at open said so
        self._exists = exists

    def load(self) -> bool:
        """Read the file if there is one; False (and no entries) when it is malformed."""
        exists, self._exists = self._exists, None
        if self.path is None or exists is False or (exists is None and not os.path.exists(self.path)):
            return True
        with open(self.path, "rb") as f:
            data = f.read()
        entries = []
        for version, pid, first, last, lso in _TXN_ENTRY.iter_unpack(data[: len(data) - len(data) % self.entry_size]):
            if version != self.VERSION or last < first:
                self.entries = []
                return False
            entries.append(AbortedTxn(pid, first, last, lso))
        self.entries = entries
        return len(data) % self.entry_size == 0

    def append(self, txn: AbortedTxn) -> None:
        if self.entries and txn.last_offset <= self.entries[-1].last_offset:
            raise ValueError(f"aborted txn ending at {txn.last_offset} is not after the last one")
        if self.path is not None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, _TXN_ENTRY.pack(self.VERSION, *txn))
            finally:
                os.close(fd)
            self._unsynced = True
        self.entries.append(txn)

    def truncate_to(self, offset: int) -> None:
        """Drop transactions whose marker is at or after ``offset``."""
        keep = [t for t in self.entries if t.last_offset < offset]
        if len(keep) != len(self.entries):
            self.entries = keep
            self._rewrite()

    def reset(self) -> None:
        self.entries = []
        self._rewrite()

    def _rewrite(self) -> None:
        if self.path is None:
            return
        data = b"".join(_TXN_ENTRY.pack(self.VERSION, *t) for t in self.entries)
        if data or os.path.exists(self.path):
            with open(self.path, "wb") as f:
                f.write(data)
            self._unsynced = True

    def collect_aborted(self, fetch_offset: int, upper_bound_offset: int) -> list[AbortedTxn]:
        """Transactions overlapping ``[fetch_offset, upper_bound_offset)``."""
        return [t for t in self.entries if t.last_offset >= fetch_offset and t.first_offset < upper_bound_offset]

    def flush(self) -> None:
        if self._unsynced and self.path is not None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._unsynced = False

    def close(self) -> None:
        pass

    def rename(self, path: str) -> None:
        if self.path is not None:
            if os.path.exists(self.path):
                os.rename(self.path, path)
            self.path = path

    def delete(self) -> None:
        self._unsynced = False
        if self.path is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
