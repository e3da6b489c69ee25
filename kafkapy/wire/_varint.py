"""Varints of the record format: zig-zag varint (int32), varlong (int64), unsigned varint.

Encoding is protobuf's base-128, least significant group first. Kafka's ``ByteUtils``
reads at most 5 bytes for a varint and 10 for a varlong; we do the same and also reject
encodings whose value does not fit the type, since that is corrupt input too.
"""

from __future__ import annotations

from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError

_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

#: One-byte encodings of 0..127, indexed by the unsigned value.
_ONE_BYTE = [bytes([u]) for u in range(128)]


def _encode_unsigned(u: int) -> bytes:
    if u < 0x80:
        return _ONE_BYTE[u]
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def encode_varint(value: int) -> bytes:
    """Zig-zag varint of an int32."""
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise ValueError(f"{value} does not fit a varint (int32)")
    return _encode_unsigned((value << 1) ^ (value >> 31))


def encode_varlong(value: int) -> bytes:
    """Zig-zag varint of an int64."""
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{value} does not fit a varlong (int64)")
    return _encode_unsigned((value << 1) ^ (value >> 63))


def encode_uvarint(value: int) -> bytes:
    """Unsigned varint of a uint32."""
    if not 0 <= value < 1 << 32:
        raise ValueError(f"{value} does not fit an unsigned varint (uint32)")
    return _encode_unsigned(value)


def _malformed(what: str, pos: int) -> WireError:
    return WireError(what, error_code=ErrorCode.CORRUPT_MESSAGE, offset=pos)


def decode_unsigned(buf: bytes | bytearray, pos: int, end: int, max_bytes: int, bits: int) -> tuple[int, int]:
    """Decode an unsigned base-128 varint of at most ``max_bytes`` bytes and ``bits`` bits.

    Returns:
        (value, position after it)

    Raises:
        WireError(CORRUPT_MESSAGE): truncated, too long, or too large for ``bits``.
    """
    start = pos
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _malformed("varint runs past the end of the data", start)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if pos - start >= max_bytes:
            raise _malformed(f"varint longer than {max_bytes} bytes", start)
    if result >> bits:
        raise _malformed(f"varint does not fit {bits} bits", start)
    return result, pos


def decode_varint(buf: bytes | bytearray, pos: int, end: int) -> tuple[int, int]:
    """Decode a zig-zag int32 varint; returns (value, next position)."""
    b = buf[pos] if pos < end else 0x80
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    u, pos = decode_unsigned(buf, pos, end, 5, 32)
    return (u >> 1) ^ -(u & 1), pos


def decode_varlong(buf: bytes | bytearray, pos: int, end: int) -> tuple[int, int]:
    """Decode a zig-zag int64 varint; returns (value, next position)."""
    b = buf[pos] if pos < end else 0x80
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    u, pos = decode_unsigned(buf, pos, end, 10, 64)
    return (u >> 1) ^ -(u & 1), pos


def decode_uvarint(buf: bytes | bytearray, pos: int, end: int) -> tuple[int, int]:
    """Decode an unsigned uint32 varint; returns (value, next position)."""
    b = buf[pos] if pos < end else 0x80
    if b < 0x80:
        return b, pos + 1
    return decode_unsigned(buf, pos, end, 5, 32)
