"""Readers and writers of Kafka's primitive types, shared by the generated messages.

Reader contract (as in h11's ``_readers.py``): ``r_x(buf, pos) -> (value, new_pos)``.
``buf`` is a memoryview (format "B") of the whole frame. A reader checks every
length against the bytes that remain *before* slicing, so a claimed length of 2**31
allocates nothing. Counts are capped as Kafka 4.4's generated readers cap them
(upgrade notes of 4.4.0, CVE-2026-111108 and CVE-2026-111115): an array or
collection of more than :data:`MAX_COLLECTION_SIZE` elements, or more elements than
bytes remaining ("Tried to allocate a collection of size N, but there are only M
bytes remaining", KAFKA-14063), and a tagged-field section of more than
:data:`MAX_TAGGED_FIELDS` fields, or more fields than its two bytes each could hold,
are refused before anything is built. Lengths and counts that cannot be right raise
:class:`Malformed` with the byte offset; short fixed-width reads raise
``struct.error`` or ``IndexError``.
:func:`kafkapy.wire.message.decode_error` turns all of these into one WireError.

Writer contract: ``w_x(b, value)`` appends to the bytearray ``b``.

Names: ``n`` = nullable, ``c`` = compact (flexible versions, KIP-482):
``r_ncstr`` reads a nullable compact string. Non-compact strings have an int16
length, bytes/records/arrays an int32 length; -1 is null. Compact lengths are an
unsigned varint holding length + 1; 0 is null.
"""

from __future__ import annotations

import struct

from kafkapy.wire.buffers import write_uvarint as w_uv

__all__ = [
    "EMPTY",
    "MAX_COLLECTION_SIZE",
    "MAX_TAGGED_FIELDS",
    "ZERO_UUID",
    "Malformed",
    "r_arr",
    "r_bytes",
    "r_carr",
    "r_cbytes",
    "r_crec",
    "r_cstr",
    "r_fixed",
    "r_narr",
    "r_nbytes",
    "r_ncarr",
    "r_ncbytes",
    "r_ncrec",
    "r_ncstr",
    "r_nrec",
    "r_nstr",
    "r_nstruct",
    "r_rec",
    "r_skip_tags",
    "r_str",
    "r_tag",
    "r_tag_count",
    "r_tag_end",
    "r_uv",
    "w_arr",
    "w_bytes",
    "w_carr",
    "w_cbytes",
    "w_cstr",
    "w_fixed",
    "w_narr",
    "w_nbytes",
    "w_ncarr",
    "w_ncbytes",
    "w_ncstr",
    "w_nstr",
    "w_str",
    "w_uv",
]

#: The default of every non-null array parameter: stands for "a new empty list".
EMPTY: tuple = ()
#: Kafka's Uuid.ZERO_UUID: "no topic id".
ZERO_UUID = bytes(16)
#: The most elements an array or collection may claim (Kafka 4.4's message readers:
#: "Arrays and collections with more than 1,000,000 elements ... are rejected").
MAX_COLLECTION_SIZE = 1_000_000
#: The most fields a flexible version's tagged-field section may claim (Kafka 4.4:
#: "tagged-field sections with more than 10,000 fields are rejected").
MAX_TAGGED_FIELDS = 10_000
_MAX_COMPACT = MAX_COLLECTION_SIZE + 1  # a compact count is stored plus one

_i8 = struct.Struct(">b").unpack_from
_i16 = struct.Struct(">h").unpack_from
_i32 = struct.Struct(">i").unpack_from
_p16 = struct.Struct(">h").pack
_p32 = struct.Struct(">i").pack


class Malformed(Exception):
    """A length or varint that cannot be right; ``offset`` is where it starts."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def _too_long(n: int, pos: int, have: int) -> Malformed:
    return Malformed(f"length {n} exceeds the {have} bytes remaining", pos)


# ---------------------------------------------------------------- varints, tags

def r_uv(buf: memoryview, pos: int) -> tuple[int, int]:
    """Unsigned varint of at most 5 bytes (Kafka's ByteUtils.readUnsignedVarint)."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    start = pos
    value = b & 0x7F
    shift = 7
    while True:
        pos += 1
        b = buf[pos]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 28:
            raise Malformed("unsigned varint longer than 5 bytes", start)


def r_tag(buf: memoryview, pos: int) -> tuple[int, int, int]:
    """One tagged-field header: (tag, end of its payload, start of its payload)."""
    tag, pos = r_uv(buf, pos)
    size, p = r_uv(buf, pos)
    end = p + size
    if end > len(buf):
        raise _too_long(size, pos, len(buf) - p)
    return tag, end, p


def r_tag_end(pos: int, end: int) -> int:
    """Check a known tagged field stayed inside its declared size; continue at its end."""
    if pos > end:
        raise Malformed(f"tagged field overran its size by {pos - end} bytes", end)
    return end


def r_tag_count(buf: memoryview, pos: int) -> tuple[int, int]:
    """The field count opening a tagged-field section (KIP-482), capped.

    Each field takes at least two bytes (tag and size varints), so a count above half
    the bytes remaining is corrupt (CVE-2026-111115: Kafka bounded it by nothing but
    the frame); above :data:`MAX_TAGGED_FIELDS` it is refused as Kafka 4.4 does.
    """
    n = buf[pos]
    if n == 0:
        return 0, pos + 1
    start = pos
    n, pos = r_uv(buf, pos)
    if n > MAX_TAGGED_FIELDS:
        raise Malformed(f"{n} tagged fields exceed the maximum of {MAX_TAGGED_FIELDS}", start)
    if 2 * n > len(buf) - pos:
        raise Malformed(f"{n} tagged fields cannot fit in the {len(buf) - pos} bytes remaining", start)
    return n, pos


def r_skip_tags(buf: memoryview, pos: int) -> int:
    """Skip a tagged-field section holding no field we know (KIP-482)."""
    if buf[pos] == 0:
        return pos + 1
    n, pos = r_tag_count(buf, pos)
    for _ in range(n):
        _, pos, _ = r_tag(buf, pos)
    return pos


# ---------------------------------------------------------------- strings, bytes

def _span(buf: memoryview, pos: int, n: int, at: int) -> int:
    end = pos + n
    if end > len(buf):
        raise _too_long(n, at, len(buf) - pos)
    return end


def r_str(buf: memoryview, pos: int) -> tuple[str, int]:
    n = _i16(buf, pos)[0]
    if n < 0:
        raise Malformed(f"non-nullable string has length {n}", pos)
    end = _span(buf, pos + 2, n, pos)
    return str(buf[pos + 2:end], "utf-8"), end


def r_nstr(buf: memoryview, pos: int) -> tuple[str | None, int]:
    n = _i16(buf, pos)[0]
    if n < 0:
        if n == -1:
            return None, pos + 2
        raise Malformed(f"string has length {n}", pos)
    end = _span(buf, pos + 2, n, pos)
    return str(buf[pos + 2:end], "utf-8"), end


def r_cstr(buf: memoryview, pos: int) -> tuple[str, int]:
    n, p = r_uv(buf, pos)
    if n == 0:
        raise Malformed("non-nullable compact string is null", pos)
    end = _span(buf, p, n - 1, pos)
    return str(buf[p:end], "utf-8"), end


def r_ncstr(buf: memoryview, pos: int) -> tuple[str | None, int]:
    n, p = r_uv(buf, pos)
    if n == 0:
        return None, p
    end = _span(buf, p, n - 1, pos)
    return str(buf[p:end], "utf-8"), end


def r_bytes(buf: memoryview, pos: int) -> tuple[bytes, int]:
    n = _i32(buf, pos)[0]
    if n < 0:
        raise Malformed(f"non-nullable bytes have length {n}", pos)
    end = _span(buf, pos + 4, n, pos)
    return bytes(buf[pos + 4:end]), end


def r_nbytes(buf: memoryview, pos: int) -> tuple[bytes | None, int]:
    n = _i32(buf, pos)[0]
    if n < 0:
        if n == -1:
            return None, pos + 4
        raise Malformed(f"bytes have length {n}", pos)
    end = _span(buf, pos + 4, n, pos)
    return bytes(buf[pos + 4:end]), end


def r_cbytes(buf: memoryview, pos: int) -> tuple[bytes, int]:
    n, p = r_uv(buf, pos)
    if n == 0:
        raise Malformed("non-nullable compact bytes are null", pos)
    end = _span(buf, p, n - 1, pos)
    return bytes(buf[p:end]), end


def r_ncbytes(buf: memoryview, pos: int) -> tuple[bytes | None, int]:
    n, p = r_uv(buf, pos)
    if n == 0:
        return None, p
    end = _span(buf, p, n - 1, pos)
    return bytes(buf[p:end]), end


# RECORDS: a memoryview slice of the input, never a copy and never parsed.

def r_rec(buf: memoryview, pos: int) -> tuple[memoryview, int]:
    n = _i32(buf, pos)[0]
    if n < 0:
        raise Malformed(f"non-nullable records have length {n}", pos)
    end = _span(buf, pos + 4, n, pos)
    return buf[pos + 4:end], end


def r_nrec(buf: memoryview, pos: int) -> tuple[memoryview | None, int]:
    n = _i32(buf, pos)[0]
    if n < 0:
        if n == -1:
            return None, pos + 4
        raise Malformed(f"records have length {n}", pos)
    end = _span(buf, pos + 4, n, pos)
    return buf[pos + 4:end], end


def r_crec(buf: memoryview, pos: int) -> tuple[memoryview, int]:
    n, p = r_uv(buf, pos)
    if n == 0:
        raise Malformed("non-nullable compact records are null", pos)
    end = _span(buf, p, n - 1, pos)
    return buf[p:end], end


def r_ncrec(buf: memoryview, pos: int) -> tuple[memoryview | None, int]:
    n, p = r_uv(buf, pos)
    if n == 0:
        return None, p
    end = _span(buf, p, n - 1, pos)
    return buf[p:end], end


# ---------------------------------------------------------------- arrays

# An element takes at least one byte, so a count above the bytes remaining is
# corrupt (Kafka checks the same before allocating: "Tried to allocate a collection
# of size N, but there are only M bytes remaining", KAFKA-14063); a count above
# MAX_COLLECTION_SIZE is refused whatever the frame holds (Kafka 4.4). Elements are
# then appended one by one as they decode: nothing is sized from the count.

def _too_many(n: int, pos: int, have: int) -> Malformed:
    if n > MAX_COLLECTION_SIZE:
        return Malformed(f"collection of size {n} exceeds the maximum of {MAX_COLLECTION_SIZE} elements", pos)
    return Malformed(f"Tried to allocate a collection of size {n}, but there are only {have} bytes remaining", pos)


def r_arr(buf: memoryview, pos: int) -> tuple[int, int]:
    n = _i32(buf, pos)[0]
    if n < 0:
        raise Malformed(f"non-nullable array has length {n}", pos)
    if n > len(buf) - pos - 4 or n > MAX_COLLECTION_SIZE:
        raise _too_many(n, pos, len(buf) - pos - 4)
    return n, pos + 4


def r_narr(buf: memoryview, pos: int) -> tuple[int | None, int]:
    n = _i32(buf, pos)[0]
    if n < 0:
        if n == -1:
            return None, pos + 4
        raise Malformed(f"array has length {n}", pos)
    if n > len(buf) - pos - 4 or n > MAX_COLLECTION_SIZE:
        raise _too_many(n, pos, len(buf) - pos - 4)
    return n, pos + 4


def r_carr(buf: memoryview, pos: int) -> tuple[int, int]:
    n, p = r_uv(buf, pos)
    if n == 0:
        raise Malformed("non-nullable compact array is null", pos)
    if n - 1 > len(buf) - p or n > _MAX_COMPACT:
        raise _too_many(n - 1, pos, len(buf) - p)
    return n - 1, p


def r_ncarr(buf: memoryview, pos: int) -> tuple[int | None, int]:
    n, p = r_uv(buf, pos)
    if n == 0:
        return None, p
    if n - 1 > len(buf) - p or n > _MAX_COMPACT:
        raise _too_many(n - 1, pos, len(buf) - p)
    return n - 1, p


def _array_format(n: int, code: str) -> str:
    # "16s" (uuid) is one 16-byte string: a count would mean a longer string
    return f">{n}{code}" if len(code) == 1 else ">" + code * n


def r_fixed(buf: memoryview, pos: int, n: int, code: str, size: int) -> tuple[list, int]:
    """``n`` fixed-width elements of struct ``code``; r_*arr capped ``n``, and the
    ``n * size`` bytes are checked here before a format or a tuple of ``n`` exists."""
    if n * size > len(buf) - pos:
        raise _too_long(n * size, pos, len(buf) - pos)
    return list(struct.unpack_from(_array_format(n, code), buf, pos)), pos + n * size


def r_nstruct(buf: memoryview, pos: int) -> tuple[bool, int]:
    """The int8 marker before a nullable struct: (present, new pos)."""
    return _i8(buf, pos)[0] >= 0, pos + 1


# ---------------------------------------------------------------- writers

def w_str(b: bytearray, s: str) -> None:
    e = s.encode()
    b += _p16(len(e))
    b += e


def w_nstr(b: bytearray, s: str | None) -> None:
    if s is None:
        b += b"\xff\xff"
    else:
        e = s.encode()
        b += _p16(len(e))
        b += e


def w_cstr(b: bytearray, s: str) -> None:
    e = s.encode()
    w_uv(b, len(e) + 1)
    b += e


def w_ncstr(b: bytearray, s: str | None) -> None:
    if s is None:
        b.append(0)
    else:
        e = s.encode()
        w_uv(b, len(e) + 1)
        b += e


def w_bytes(b: bytearray, v: bytes) -> None:
    b += _p32(len(v))
    b += v


def w_nbytes(b: bytearray, v: bytes | None) -> None:
    if v is None:
        b += b"\xff\xff\xff\xff"
    else:
        b += _p32(len(v))
        b += v


def w_cbytes(b: bytearray, v: bytes) -> None:
    w_uv(b, len(v) + 1)
    b += v


def w_ncbytes(b: bytearray, v: bytes | None) -> None:
    if v is None:
        b.append(0)
    else:
        w_uv(b, len(v) + 1)
        b += v


def w_arr(b: bytearray, n: int) -> None:
    b += _p32(n)


def w_narr(b: bytearray, a: list | None) -> None:
    b += b"\xff\xff\xff\xff" if a is None else _p32(len(a))


def w_carr(b: bytearray, n: int) -> None:
    w_uv(b, n + 1)


def w_ncarr(b: bytearray, a: list | None) -> None:
    if a is None:
        b.append(0)
    else:
        w_uv(b, len(a) + 1)


def w_fixed(b: bytearray, a: list, code: str) -> None:
    """Elements of an int/uuid array, packed with struct ``code`` in one call."""
    b += struct.pack(_array_format(len(a), code), *a)
