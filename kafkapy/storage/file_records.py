"""Where a segment's batches are kept: a ``.log`` file, or memory.

``FileRecords`` is Kafka's class of the same name: the batches of one segment exactly
as stored, appended at the end, read back as file regions that the server sends with
``os.sendfile``. ``MemoryRecords`` gives the memory backend the same interface; it
copies every appended buffer (callers reuse theirs) and reads back as memoryviews of
those copies, which stay valid whatever happens to the log afterwards.

Positions are byte positions in the segment; both kinds agree on them, so indexes and
offsets behave identically. Not task-safe: called only by the partition's owner
(``scan`` and ``read_bytes`` may run in a worker thread on segments that are no longer
appended to, as the cleaner does).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable

from kafkapy.wire.buffers import FileRegion
from kafkapy.wire.errors import WireError
from kafkapy.wire.records import (
    BATCH_HEADER_SIZE,
    BATCH_LENGTH_OFFSET,
    LOG_OVERHEAD,
    MIN_BATCH_LENGTH,
    BatchHeader,
    read_batch_header,
    scan_batches,
)

#: One piece of a read: a region of a segment file, or bytes of a memory segment.
RecordsPiece = FileRegion | memoryview
#: Receives the batches found by ``scan``, a chunk at a time: [(position, header), ...].
BatchVisitor = Callable[[list[tuple[int, BatchHeader]]], None]

_SCAN_CHUNK = 8 << 20
_INT32_MAX = 0x7FFFFFFF


class FileRecords:
    """The ``.log`` file of a segment.

    ``size`` is the end of the valid data; the file may be longer when preallocated.
    Its length is tracked, so closing 10,000 segments does not ``fstat`` each to learn
    whether there is a preallocated tail to drop.
    """

    __slots__ = ("_length", "fd", "path", "size")

    def __init__(self, path: str, fd: int, size: int, length: int | None = None) -> None:
        self.path = path
        self.fd = fd
        self.size = size
        self._length = size if length is None else length

    @classmethod
    def open(cls, path: str, *, preallocate_bytes: int = 0) -> FileRecords:
        """Open (or create) a segment file; a new file is preallocated if asked."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        size = os.fstat(fd).st_size
        if size == 0 and preallocate_bytes > 0:
            os.ftruncate(fd, preallocate_bytes)
            return cls(path, fd, size, preallocate_bytes)
        return cls(path, fd, size)

    def append(self, data: memoryview | bytes) -> int:
        """Write ``data`` at the end; returns the position it was written at.

        Raises OSError as the system reports it (ENOSPC, EIO); the caller restores the
        file with ``truncate_to`` and takes the partition offline.
        """
        position = self.size
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += os.pwrite(self.fd, view[written:], position + written)
        self.size = position + written
        self._length = max(self._length, self.size)
        return position

    def read_bytes(self, position: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``position`` (fewer at the end of the data)."""
        length = min(length, self.size - position)
        return os.pread(self.fd, length, position) if length > 0 else b""

    def read_header(self, position: int) -> BatchHeader | None:
        """The header of the batch at ``position``, or None past the end."""
        if position + LOG_OVERHEAD > self.size:
            return None
        return read_batch_header(os.pread(self.fd, BATCH_HEADER_SIZE, position))

    def pieces(self, position: int, length: int) -> list[RecordsPiece]:
        return [FileRegion(self.fd, position, length)] if length > 0 else []

    def scan(self, start: int, visit: BatchVisitor, *, check_crc: bool = True) -> tuple[int, WireError | None]:
        """Walk whole, valid batches from ``start``; returns (valid end, why it stopped).

        Reads in 8 MiB chunks into one reused buffer and validates with the wire layer's
        ``scan_batches`` (CRC-32C per batch). A batch cut by a chunk boundary is read
        again at the start of the next chunk; a batch running past the end of the file,
        or failing validation, ends the scan there.
        """
        file_size = max(self.size, os.fstat(self.fd).st_size)
        # No larger than what there is to read: recovering 10,000 small or empty
        # segments after a crash should not zero 8 MiB for each.
        buf = bytearray(min(_SCAN_CHUNK, max(file_size - start, 0)))
        position = start
        while position < file_size:
            with memoryview(buf) as view:
                n = os.preadv(self.fd, [view], position)
            result = scan_batches(buf, 0, n, check_crc=check_crc)
            if result.batches:
                visit([(position + p, h) for p, h in result.batches])
            if result.error is None:
                position += n
                continue
            need = self._cut_batch_size(buf, result.valid_end, n)
            if need is None or position + result.valid_end + need > file_size:
                return position + result.valid_end, result.error
            if result.valid_end == 0:  # one batch bigger than the buffer
                buf = bytearray(need)
            position += result.valid_end
        return position, None

    @staticmethod
    def _cut_batch_size(buf: bytearray, at: int, n: int) -> int | None:
        """The size a batch at ``at`` claims if the chunk ended inside it, else None."""
        if n - at < LOG_OVERHEAD:
            return LOG_OVERHEAD
        batch_length = int.from_bytes(buf[at + BATCH_LENGTH_OFFSET : at + LOG_OVERHEAD], "big", signed=True)
        size = LOG_OVERHEAD + batch_length
        if batch_length < MIN_BATCH_LENGTH or batch_length > _INT32_MAX - LOG_OVERHEAD or size <= n - at:
            return None  # corrupt, or complete within the chunk and still invalid
        return size

    def truncate_to(self, size: int) -> int:
        """Cut the data at ``size``; returns the bytes removed."""
        removed = self.size - size
        if removed < 0:
            raise ValueError(f"cannot truncate {self.path} of {self.size} bytes to {size}")
        os.ftruncate(self.fd, size)
        self.size = self._length = size
        return removed

    def trim(self) -> None:
        """Drop a preallocated tail (on roll and close)."""
        if self._length != self.size:
            os.ftruncate(self.fd, self.size)
            self._length = self.size

    def flush(self) -> None:
        os.fdatasync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            try:
                self.trim()
            finally:
                os.close(self.fd)
                self.fd = -1

    def rename(self, path: str) -> None:
        os.rename(self.path, path)
        self.path = path

    def delete(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class MemoryRecords:
    """A segment's batches in memory: a list of immutable copies of appended buffers."""

    __slots__ = ("_chunks", "_starts", "path", "size")

    def __init__(self) -> None:
        self.path = None
        self.size = 0
        self._chunks: list[bytes] = []
        self._starts: list[int] = []

    def append(self, data: memoryview | bytes) -> int:
        position = self.size
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._starts.append(position)
        self.size = position + len(chunk)
        return position

    def _locate(self, position: int) -> int:
        return bisect.bisect_right(self._starts, position) - 1

    def pieces(self, position: int, length: int) -> list[RecordsPiece]:
        out: list[RecordsPiece] = []
        end = min(position + length, self.size)
        i = self._locate(position)
        while position < end:
            chunk, start = self._chunks[i], self._starts[i]
            stop = min(end - start, len(chunk))
            out.append(memoryview(chunk)[position - start : stop])
            position = start + stop
            i += 1
        return out

    def read_bytes(self, position: int, length: int) -> bytes:
        return b"".join(self.pieces(position, length))

    def read_header(self, position: int) -> BatchHeader | None:
        if position + LOG_OVERHEAD > self.size:
            return None
        i = self._locate(position)
        chunk, start = self._chunks[i], self._starts[i]
        if position - start + BATCH_HEADER_SIZE <= len(chunk):
            return read_batch_header(chunk, position - start)
        return read_batch_header(self.read_bytes(position, BATCH_HEADER_SIZE))

    def scan(self, start: int, visit: BatchVisitor, *, check_crc: bool = True) -> tuple[int, WireError | None]:
        if start >= self.size:
            return start, None
        i = self._locate(start)
        position = start
        while i < len(self._chunks):
            chunk, chunk_start = self._chunks[i], self._starts[i]
            result = scan_batches(chunk, position - chunk_start, len(chunk), check_crc=check_crc)
            if result.batches:
                visit([(chunk_start + p, h) for p, h in result.batches])
            if result.error is not None:
                return chunk_start + result.valid_end, result.error
            i += 1
            position = chunk_start + len(chunk)
        return position, None

    def truncate_to(self, size: int) -> int:
        removed = self.size - size
        if removed < 0:
            raise ValueError(f"cannot truncate {self.size} bytes of memory records to {size}")
        if removed:
            i = self._locate(size - 1) + 1 if size else 0
            del self._chunks[i:]
            del self._starts[i:]
            if self._chunks:
                last_start = self._starts[-1]
                self._chunks[-1] = self._chunks[-1][: size - last_start]
            self.size = size
        return removed

    def trim(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def rename(self, path: str) -> None:
        pass

    def delete(self) -> None:
        self._chunks, self._starts, self.size = [], [], 0


Records = FileRecords | MemoryRecords
