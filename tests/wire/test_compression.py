"""Codecs: round trips, interoperability with other implementations, and bounds."""

from __future__ import annotations

import gzip
import struct

import cramjam
import lz4.frame
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import codec as kp_codec

from kafkapy.wire.compression import XERIAL_MAGIC, Compression, compress, decompress
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError

CODECS = list(Compression)
COMPRESSED = [c for c in Compression if c != Compression.NONE]
# Compressible and incompressible parts, crossing the 32 KiB xerial and 64 KiB lz4 blocks.
SAMPLE = b"".join(b"record %08d value " % i + bytes(range(i % 200)) for i in range(3000))


@settings(max_examples=60, deadline=None)
@given(codec=st.sampled_from(CODECS), data=st.binary(max_size=5000))
def test_round_trip(codec: Compression, data: bytes) -> None:
    assert decompress(codec, compress(codec, data), max_output=len(data)) == data


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_large_and_memoryview(codec: Compression) -> None:
    blob = compress(codec, memoryview(SAMPLE)[5:])
    assert decompress(codec, memoryview(blob), max_output=len(SAMPLE)) == SAMPLE[5:]


@pytest.mark.parametrize("codec", COMPRESSED)
@pytest.mark.parametrize("level", [1, 5])
def test_levels(codec: Compression, level: int) -> None:
    assert decompress(codec, compress(codec, SAMPLE, level=level), max_output=len(SAMPLE)) == SAMPLE


# --- what the codecs write ------------------------------------------------------------------


def test_snappy_writes_xerial_framing_in_32k_blocks() -> None:
    blob = compress(Compression.SNAPPY, SAMPLE)
    assert blob[:16] == XERIAL_MAGIC + struct.pack(">ii", 1, 1)
    pos, sizes = 16, []
    while pos < len(blob):
        (n,) = struct.unpack_from(">i", blob, pos)
        sizes.append(len(cramjam.snappy.decompress_raw(blob[pos + 4 : pos + 4 + n])))
        pos += 4 + n
    assert pos == len(blob)
    assert sizes[:-1] == [32 * 1024] * (len(sizes) - 1) and sum(sizes) == len(SAMPLE)


def test_lz4_writes_independent_64k_blocks_without_size() -> None:
    blob = compress(Compression.LZ4, SAMPLE)
    info = lz4.frame.get_frame_info(blob)
    assert info["block_size_id"] == 4  # 64 KiB
    assert not info["block_linked"] and not info["content_checksum"] and info["content_size"] == 0


def test_gzip_writes_a_gzip_member() -> None:
    assert gzip.decompress(compress(Compression.GZIP, SAMPLE)) == SAMPLE


# --- interoperability -------------------------------------------------------------------------

_KP_ENCODE = {
    Compression.GZIP: kp_codec.gzip_encode,
    Compression.SNAPPY: kp_codec.snappy_encode,
    Compression.LZ4: kp_codec.lz4_encode,
    Compression.ZSTD: kp_codec.zstd_encode,
}
_KP_DECODE = {
    Compression.GZIP: kp_codec.gzip_decode,
    Compression.SNAPPY: kp_codec.snappy_decode,
    Compression.LZ4: kp_codec.lz4_decode,
    Compression.ZSTD: kp_codec.zstd_decode,
}


@pytest.mark.parametrize("codec", COMPRESSED)
def test_kafka_python_reads_ours(codec: Compression) -> None:
    assert _KP_DECODE[codec](compress(codec, SAMPLE)) == SAMPLE


@pytest.mark.parametrize("codec", COMPRESSED)
def test_we_read_kafka_python(codec: Compression) -> None:
    assert decompress(codec, _KP_ENCODE[codec](SAMPLE), max_output=len(SAMPLE)) == SAMPLE


def test_we_read_raw_snappy_as_librdkafka_writes() -> None:
    raw = bytes(cramjam.snappy.compress_raw(SAMPLE))
    assert not raw.startswith(XERIAL_MAGIC)
    assert decompress(Compression.SNAPPY, raw, max_output=len(SAMPLE)) == SAMPLE
    assert (
        decompress(Compression.SNAPPY, kp_codec.snappy_encode(SAMPLE, xerial_compatible=False), max_output=len(SAMPLE))
        == SAMPLE
    )


def test_we_read_xerial_with_odd_block_sizes() -> None:
    blob = kp_codec.snappy_encode(SAMPLE, xerial_compatible=True, xerial_blocksize=1000)
    assert decompress(Compression.SNAPPY, blob, max_output=len(SAMPLE)) == SAMPLE


def test_xerial_header_alone_is_empty() -> None:
    assert decompress(Compression.SNAPPY, compress(Compression.SNAPPY, b""), max_output=0) == b""


@pytest.mark.parametrize(
    "options",
    [
        {"block_linked": True},
        {"content_checksum": True},
        {"store_size": True},
        {"block_size": lz4.frame.BLOCKSIZE_MAX4MB, "block_checksum": True},
    ],
)
def test_we_read_other_lz4_frame_settings(options: dict[str, object]) -> None:
    assert decompress(Compression.LZ4, lz4.frame.compress(SAMPLE, **options), max_output=len(SAMPLE)) == SAMPLE


@pytest.mark.parametrize("content_size", [True, False])
def test_we_read_zstd_with_and_without_content_size(content_size: bool) -> None:
    blob = zstandard.ZstdCompressor(level=7, write_content_size=content_size).compress(SAMPLE)
    assert zstandard.frame_content_size(blob) == (len(SAMPLE) if content_size else -1)
    assert decompress(Compression.ZSTD, blob, max_output=len(SAMPLE)) == SAMPLE


def test_zstd_streamed_frame() -> None:
    # What a streaming writer (Java's ZstdOutputStream) produces: no content size.
    cctx = zstandard.ZstdCompressor()
    chunks = cctx.compressobj()
    blob = chunks.compress(SAMPLE[:50_000]) + chunks.compress(SAMPLE[50_000:]) + chunks.flush()
    assert decompress(Compression.ZSTD, blob, max_output=len(SAMPLE)) == SAMPLE


def test_gzip_concatenated_members_and_trailing_bytes() -> None:
    two = gzip.compress(b"abc") + gzip.compress(b"def")
    assert decompress(Compression.GZIP, two, max_output=6) == b"abcdef"
    # GZIPInputStream ignores trailing bytes that are not another member.
    assert decompress(Compression.GZIP, two + b"\x00\x00junk", max_output=6) == b"abcdef"


# --- bounds -----------------------------------------------------------------------------------

BOMB = b"\x00" * (8 * 1024 * 1024)


def _bombs(codec: Compression) -> list[bytes]:
    blobs = [compress(codec, BOMB)]
    if codec == Compression.SNAPPY:
        blobs.append(bytes(cramjam.snappy.compress_raw(BOMB)))
    if codec == Compression.ZSTD:
        blobs.append(zstandard.ZstdCompressor(write_content_size=False).compress(BOMB))
    if codec == Compression.LZ4:
        blobs.append(lz4.frame.compress(BOMB, store_size=True, block_size=lz4.frame.BLOCKSIZE_MAX4MB))
    return blobs


@pytest.mark.parametrize("codec", CODECS)
def test_output_limit_is_exact(codec: Compression) -> None:
    for blob in _bombs(codec):
        assert len(decompress(codec, blob, max_output=len(BOMB))) == len(BOMB)
        with pytest.raises(WireError) as info:
            decompress(codec, blob, max_output=len(BOMB) - 1)
        assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE


@pytest.mark.parametrize("codec", COMPRESSED)
def test_bomb_is_refused_with_small_limit(codec: Compression) -> None:
    for blob in _bombs(codec):
        assert len(blob) < len(BOMB) // 20  # snappy peaks near 21:1
        with pytest.raises(WireError, match="more than|truncated"):
            decompress(codec, blob, max_output=64 * 1024)


def test_snappy_declared_size_is_checked_before_allocating() -> None:
    # A raw block claiming 2 GiB of output (varint length prefix) and holding nothing.
    claim = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x07])
    with pytest.raises(WireError, match="more than"):
        decompress(Compression.SNAPPY, claim, max_output=1 << 20)
    framed = XERIAL_MAGIC + struct.pack(">iii", 1, 1, len(claim)) + claim
    with pytest.raises(WireError, match="more than"):
        decompress(Compression.SNAPPY, framed, max_output=1 << 20)


def test_zstd_declared_content_size_is_checked_before_allocating() -> None:
    blob = zstandard.ZstdCompressor(write_content_size=True).compress(b"\x00" * 100_000)
    with pytest.raises(WireError, match="more than"):
        decompress(Compression.ZSTD, blob, max_output=99_999)


# --- corrupt input ----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", COMPRESSED)
def test_truncated_streams_are_corrupt(codec: Compression) -> None:
    blob = compress(codec, SAMPLE)
    for cut in sorted({0, 1, 5, 10, 17, 20, len(blob) // 2, len(blob) - 9, len(blob) - 1}):
        with pytest.raises(WireError) as info:
            decompress(codec, blob[:cut], max_output=len(SAMPLE))
        assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE


@settings(max_examples=300, deadline=None)
@given(codec=st.sampled_from(COMPRESSED), data=st.data())
def test_garbage_only_raises_wire_error(codec: Compression, data: st.DataObject) -> None:
    blob = bytearray(compress(codec, SAMPLE[:3000]))
    choice = data.draw(st.sampled_from(["flip", "random"]))
    if choice == "flip":
        for i in data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=4)):
            blob[i] ^= data.draw(st.integers(1, 255))
    else:
        blob = bytearray(data.draw(st.binary(max_size=200)))
    try:
        out = decompress(codec, bytes(blob), max_output=4000)
    except WireError as exc:
        assert exc.error_code == ErrorCode.CORRUPT_MESSAGE
    else:
        assert len(out) <= 4000


def test_none_codec_respects_limit() -> None:
    with pytest.raises(WireError):
        decompress(Compression.NONE, b"abc", max_output=2)
