"""The record batch codecs: gzip, snappy, lz4 and zstd, with bounded decompression.

Only the records section of a batch (after the 61-byte header) is compressed, as one
stream. Decompression takes ``max_output`` and raises ``WireError(CORRUPT_MESSAGE)``
as soon as the output would pass it, so a small batch cannot make the broker allocate
without limit (a "decompression bomb").

What each codec writes, chosen to match what Kafka's own Java code writes:

- gzip: an RFC 1952 member (``GZIPOutputStream``). Reading accepts concatenated
  members and, like ``GZIPInputStream``, ignores trailing bytes that are not one.
- snappy: the snappy-java ("xerial") stream framing, which is what ``SnappyOutputStream``
  in the Java client and broker writes: the 8-byte magic ``\\x82SNAPPY\\x00``, int32
  version 1, int32 minimum compatible version 1, then blocks of (int32 length, raw
  snappy data), each block holding up to 32 KiB of input. kafka-python writes the same
  framing (``kafka.codec.snappy_encode``, xerial by default). librdkafka, and so
  confluent-kafka, kcat and the clients built on it, writes ONE raw snappy block with
  no framing (``rd_kafka_snappy_compress_slice``) and reads both, detecting the magic
  (``rdkafka_msgset_reader.c``); the Java ``SnappyInputStream`` falls back to raw
  snappy when the magic is absent. So reading must accept both, and writing xerial is
  readable by every client.
- lz4: the LZ4 frame format with independent 64 KiB blocks and no content size or
  checksum, as Kafka's ``Lz4BlockOutputStream`` writes it. (The pre-0.10 variant with
  a wrong header checksum only existed for magic 0 and is not supported.)
- zstd: one zstd frame (``ZstdOutputStream`` writes one per batch). Frames with and
  without a content size are read; only the first frame of the stream is decoded.

Levels default to Kafka's (KIP-390): gzip 6 (``Deflater.DEFAULT_COMPRESSION``),
zstd 3; lz4 uses the fast compressor (level 0) because recompression is on the broker's
CPU budget.
"""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum

from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError

# The codec libraries (cramjam, lz4, zstandard: about 30 ms of imports) are imported by
# the functions that use them, on the first compressed batch: a broker that never sees
# one starts without them.


class Compression(IntEnum):
    """Attribute bits 0-2 of a record batch (Kafka's ``CompressionType`` ids)."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


DEFAULT_LEVELS = {Compression.GZIP: 6, Compression.LZ4: 0, Compression.ZSTD: 3}

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_GZIP_MAGIC = b"\x1f\x8b"

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK_SIZE = 32 * 1024
_INT32 = struct.Struct(">i")

_LZ4_MAGIC = b"\x04\x22\x4d\x18"

Buffer = bytes | bytearray | memoryview


def _bomb(codec: str, max_output: int) -> WireError:
    return WireError(f"{codec} data decompresses to more than {max_output} bytes", error_code=ErrorCode.CORRUPT_MESSAGE)


def _corrupt(codec: str, detail: object) -> WireError:
    return WireError(f"invalid {codec} data: {detail}", error_code=ErrorCode.CORRUPT_MESSAGE)


def compress(codec: Compression, data: Buffer, *, level: int | None = None) -> bytes:
    """Compress a records section with ``codec`` (NONE returns the bytes unchanged)."""
    if codec == Compression.NONE:
        return bytes(data)
    if codec == Compression.GZIP:
        c = zlib.compressobj(DEFAULT_LEVELS[codec] if level is None else level, zlib.DEFLATED, _GZIP_WBITS)
        return c.compress(data) + c.flush()
    if codec == Compression.SNAPPY:
        return _xerial_compress(data)
    if codec == Compression.LZ4:
        import lz4.frame

        return lz4.frame.compress(
            data,
            compression_level=DEFAULT_LEVELS[codec] if level is None else level,
            block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            block_linked=False,
            content_checksum=False,
            store_size=False,
        )
    if codec == Compression.ZSTD:
        import zstandard

        return zstandard.ZstdCompressor(level=DEFAULT_LEVELS[codec] if level is None else level).compress(data)
    raise ValueError(f"unknown compression codec {codec!r}")


def decompress(codec: Compression, data: Buffer, *, max_output: int) -> bytes:
    """Decompress a records section, refusing to produce more than ``max_output`` bytes.

    Raises:
        WireError(CORRUPT_MESSAGE): the data is not valid for the codec, is truncated,
            or decompresses to more than ``max_output`` bytes.
    """
    if codec == Compression.NONE:
        if len(data) > max_output:
            raise _bomb("uncompressed", max_output)
        return bytes(data)
    if codec == Compression.GZIP:
        return _gzip_decompress(data, max_output)
    if codec == Compression.SNAPPY:
        return _snappy_decompress(data, max_output)
    if codec == Compression.LZ4:
        return _lz4_decompress(data, max_output)
    if codec == Compression.ZSTD:
        return _zstd_decompress(data, max_output)
    raise WireError(f"unknown compression codec {codec}", error_code=ErrorCode.CORRUPT_MESSAGE)


# --- gzip ---------------------------------------------------------------------------------


def _gzip_decompress(data: Buffer, max_output: int) -> bytes:
    out = bytearray()
    pending: Buffer = data
    try:
        while True:
            d = zlib.decompressobj(_GZIP_WBITS)
            # max_length 0 would mean "unlimited"; len(out) <= max_output keeps it >= 1.
            out += d.decompress(pending, max_output + 1 - len(out))
            if len(out) > max_output:
                raise _bomb("gzip", max_output)
            if not d.eof:
                raise _corrupt("gzip", "stream ends before the end of the member")
            pending = d.unused_data
            if not pending.startswith(_GZIP_MAGIC):
                return bytes(out)
    except zlib.error as exc:
        raise _corrupt("gzip", exc) from None


# --- snappy -------------------------------------------------------------------------------


def _xerial_compress(data: Buffer) -> bytes:
    import cramjam

    parts = [_XERIAL_HEADER]
    with memoryview(data) as view:
        for start in range(0, len(view), _XERIAL_BLOCK_SIZE):
            block = cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK_SIZE])
            parts.append(_INT32.pack(len(block)))
            parts.append(bytes(block))
    return b"".join(parts)


def _snappy_decompress(data: Buffer, max_output: int) -> bytes:
    with memoryview(data) as view:
        if len(view) >= len(_XERIAL_HEADER) and view[: len(XERIAL_MAGIC)] == XERIAL_MAGIC:
            return _xerial_decompress(view, max_output)
        out = bytearray()
        _snappy_block_into(view, out, max_output)
        return bytes(out)


def _xerial_decompress(view: memoryview, max_output: int) -> bytes:
    out = bytearray()
    pos, end = len(_XERIAL_HEADER), len(view)
    while pos < end:
        if end - pos < 4:
            raise _corrupt("snappy", f"truncated block length at byte {pos}")
        (length,) = _INT32.unpack_from(view, pos)
        pos += 4
        if length < 0 or length > end - pos:
            raise _corrupt("snappy", f"block of {length} bytes at byte {pos} runs past the end")
        _snappy_block_into(view[pos : pos + length], out, max_output)
        pos += length
    return bytes(out)


def _snappy_block_into(block: memoryview, out: bytearray, max_output: int) -> None:
    """Append one raw snappy block to ``out``, checking its declared size first."""
    import cramjam

    try:
        size = cramjam.snappy.decompress_raw_len(block)
    except cramjam.DecompressionError as exc:
        raise _corrupt("snappy", exc) from None
    if len(out) + size > max_output:
        raise _bomb("snappy", max_output)
    start = len(out)
    out.extend(bytes(size))
    try:
        with memoryview(out) as target:
            written = cramjam.snappy.decompress_raw_into(block, target[start:])
    except cramjam.DecompressionError as exc:
        raise _corrupt("snappy", exc) from None
    if written != size:
        raise _corrupt("snappy", f"block declares {size} bytes but holds {written}")


# --- lz4 ----------------------------------------------------------------------------------


def _lz4_decompress(data: Buffer, max_output: int) -> bytes:
    import lz4.frame

    out = bytearray()
    pending: Buffer = data
    try:
        while True:
            d = lz4.frame.LZ4FrameDecompressor()
            out += d.decompress(pending, max_length=max_output + 1 - len(out))
            if len(out) > max_output:
                raise _bomb("lz4", max_output)
            if not d.eof:
                raise _corrupt("lz4", "stream ends before the end of the frame")
            pending = d.unused_data or b""
            if not pending.startswith(_LZ4_MAGIC):
                return bytes(out)
    except RuntimeError as exc:
        raise _corrupt("lz4", exc) from None


# --- zstd ---------------------------------------------------------------------------------


def _zstd_decompress(data: Buffer, max_output: int) -> bytes:
    # With a content size in the frame header python-zstandard allocates exactly that
    # and ignores max_output_size, so check it first; without one, max_output_size is
    # the hard bound. Both raise on a truncated frame.
    import zstandard

    try:
        declared = zstandard.frame_content_size(data)
        if declared > max_output:
            raise _bomb("zstd", max_output)
        dctx = zstandard.ZstdDecompressor()
        if declared >= 0:
            return dctx.decompress(data)
        return dctx.decompress(data, max_output_size=max_output)
    except zstandard.ZstdError as exc:
        if "did not decompress full frame" in str(exc) and zstandard.frame_content_size(data) < 0:
            raise _corrupt("zstd", f"truncated, or more than {max_output} bytes") from None
        raise _corrupt("zstd", exc) from None
