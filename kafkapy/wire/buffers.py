"""Output buffers: an encoding is a list of chunks, not one bytes object.

A response is written into bytearrays, except record data, which passes through
untouched: a RECORDS field may hold bytes-like objects (for instance memoryviews of a
produce request or of a segment read into memory) or :class:`FileRegion` pieces that
the server sends with ``os.sendfile``. :class:`Writer` collects both kinds in order,
so the connection can hand the whole list to ``sendmsg``/``sendfile`` without joining.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

_pack_i32 = struct.Struct(">i").pack


class FileRegion(NamedTuple):
    """``length`` bytes of an open file, from ``position``; sent with ``os.sendfile``."""

    fd: int
    position: int
    length: int


#: One piece of a RECORDS field.
RecordsPiece = bytes | bytearray | memoryview | FileRegion
#: What a RECORDS field may hold: null, one piece, or a list of pieces.
Records = RecordsPiece | list | None
#: One element of an encoding: bytes-like, or a region of a file.
Chunk = bytes | bytearray | memoryview | FileRegion

# Record pieces up to this size are copied into the current buffer: a copy of a
# few hundred bytes costs less than one more iovec entry (and a new bytearray).
INLINE_RECORDS_MAX = 512


def chunk_length(chunk: Chunk) -> int:
    """Bytes that one chunk puts on the wire."""
    if isinstance(chunk, FileRegion):
        return chunk.length
    if isinstance(chunk, memoryview):
        return chunk.nbytes
    return len(chunk)


def chunks_length(chunks: list[Chunk]) -> int:
    """Total bytes of a chunk list."""
    return sum(map(chunk_length, chunks))


class Writer:
    """Collects an encoding as chunks.

    ``chunks[-1]`` is always the bytearray being written (``buf``). Generated encoders
    take and return that bytearray; :meth:`records` may end it and start a new one, so
    callers always continue with the bytearray it returns.
    """

    __slots__ = ("buf", "chunks")

    def __init__(self, prefix: bytes = b"") -> None:
        self.buf = bytearray(prefix)
        self.chunks: list[Chunk] = [self.buf]

    def records(self, b: bytearray, value: Records, compact: bool) -> bytearray:
        """Write a RECORDS field: its length prefix, then its pieces without copying.

        Args:
            b: the bytearray currently being written (``self.buf``).
            value: None (null), a piece, or a list of pieces.
            compact: True in flexible versions (unsigned varint length + 1).

        Returns:
            The bytearray to continue writing into.
        """
        if value is None:
            if compact:
                b.append(0)
            else:
                b += b"\xff\xff\xff\xff"
            return b
        kind = type(value)
        if kind is bytes or kind is bytearray or kind is memoryview:
            n = value.nbytes if kind is memoryview else len(value)
            pieces: tuple | list = (value,)
            inline = n <= INLINE_RECORDS_MAX
        else:
            pieces = value if isinstance(value, list) else (value,)
            n = sum(map(chunk_length, pieces))
            inline = n <= INLINE_RECORDS_MAX and not any(isinstance(p, FileRegion) for p in pieces)
        if compact:
            write_uvarint(b, n + 1)
        else:
            b += _pack_i32(n)
        if inline:
            for p in pieces:
                b += p
            return b
        chunks = self.chunks
        chunks.extend(p for p in pieces if chunk_length(p))
        nb = self.buf = bytearray()
        chunks.append(nb)
        return nb

    def finish(self) -> list[Chunk]:
        """The chunks written, without empty ones."""
        chunks = self.chunks
        return chunks if chunks[-1] else chunks[:-1]

    def getvalue(self) -> bytes:
        """The encoding as one bytes object (for tests and small messages; no FileRegion)."""
        out = bytearray()
        for c in self.chunks:
            if isinstance(c, FileRegion):
                raise TypeError("a FileRegion cannot be joined into bytes")
            out += c
        return bytes(out)


def write_uvarint(b: bytearray, n: int) -> None:
    """Append an unsigned varint (KIP-482 lengths and tags)."""
    while n > 0x7F:
        b.append((n & 0x7F) | 0x80)
        n >>= 7
    b.append(n)
