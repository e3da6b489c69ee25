"""RecordBatch v2: header parsing, validation, scanning and in-place patches.

Batches under test come from kafka-python's ``DefaultRecordBatchBuilder`` (an
independent implementation of the format) as well as our own builder.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    CRC_OFFSET,
    MAGIC_V2,
    BatchHeader,
    Compression,
    TimestampType,
    compute_crc,
    increment_sequence,
    iter_batches,
    read_batch_header,
    scan_batches,
    set_base_offset,
    set_max_timestamp,
    set_partition_leader_epoch,
    validate_batch,
    validate_produce_batch,
)

_KP_CODECS = {
    Compression.NONE: 0,
    Compression.GZIP: DefaultRecordBatch.CODEC_GZIP,
    Compression.SNAPPY: DefaultRecordBatch.CODEC_SNAPPY,
    Compression.LZ4: DefaultRecordBatch.CODEC_LZ4,
    Compression.ZSTD: DefaultRecordBatch.CODEC_ZSTD,
}


def kp_batch(
    n: int = 3,
    *,
    compression: Compression = Compression.NONE,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    value_size: int = 10,
) -> bytearray:
    """A batch built by kafka-python, as a producer would send it."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=_KP_CODECS[compression],
        is_transactional=transactional,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        batch_size=1 << 30,
    )
    for i in range(n):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=b"key-%d" % i, value=bytes([i % 256]) * value_size, headers=[])
    return builder.build()


def patch(buf: bytearray, fmt: str, offset: int, value: int, *, fix_crc: bool) -> bytearray:
    out = bytearray(buf)
    struct.pack_into(fmt, out, offset, value)
    if fix_crc:
        struct.pack_into(">I", out, CRC_OFFSET, compute_crc(out, 0, len(out)))
    return out


# --- header -----------------------------------------------------------------------------


def test_header_fields_match_kafka_python() -> None:
    buf = kp_batch(
        5, producer_id=77, producer_epoch=3, base_sequence=100, transactional=True, compression=Compression.LZ4, value_size=200
    )
    h = read_batch_header(buf)
    kp = DefaultRecordBatch(bytes(buf))
    assert BATCH_HEADER_SIZE == 61 and MAGIC_V2 == 2
    assert h.magic == 2
    assert h.size == len(buf) == kp.size_in_bytes
    assert h.crc == kp.crc
    assert h.compression is Compression.LZ4
    assert h.timestamp_type is TimestampType.CREATE_TIME
    assert h.is_transactional and not h.is_control and not h.has_delete_horizon
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (77, 3, 100)
    assert h.record_count == 5 and h.last_offset_delta == 4
    assert h.last_offset == kp.last_offset == 4 and h.next_offset == 5
    assert h.last_sequence == kp.last_sequence == 104
    assert h.base_timestamp == 1_700_000_000_000 and h.max_timestamp == 1_700_000_000_004


def test_header_reads_at_position_and_from_memoryview() -> None:
    buf = b"\x00" * 7 + bytes(kp_batch(2))
    assert read_batch_header(memoryview(buf), 7) == read_batch_header(buf[7:])


@pytest.mark.parametrize(
    ("base", "delta", "expected"),
    [(0, 0, 0), (10, 4, 14), (0x7FFFFFFF, 0, 0x7FFFFFFF), (0x7FFFFFFF, 1, 0), (0x7FFFFFFE, 3, 1), (0x7FFFFFF0, 0x10, 0)],
)
def test_sequence_wraps_like_kafka(base: int, delta: int, expected: int) -> None:
    assert increment_sequence(base, delta) == expected


def test_last_sequence_of_batch_without_sequence() -> None:
    assert read_batch_header(kp_batch(3)).last_sequence == -1


def test_header_needs_61_bytes() -> None:
    buf = kp_batch(1)
    with pytest.raises(WireError) as info:
        read_batch_header(buf[:60])
    assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE
    assert info.value.offset == 0


@pytest.mark.parametrize("magic", [0, 1, 3, 0xFF])
def test_header_rejects_other_magic(magic: int) -> None:
    buf = bytearray(kp_batch(1))
    buf[16] = magic
    with pytest.raises(WireError) as info:
        read_batch_header(buf)
    assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE
    assert info.value.offset == 16


# --- validate_batch ---------------------------------------------------------------------


@pytest.mark.parametrize("compression", list(Compression))
def test_validate_accepts_kafka_python_batches(compression: Compression) -> None:
    buf = kp_batch(20, compression=compression, value_size=100)
    assert read_batch_header(buf).compression is compression
    assert validate_batch(buf) == read_batch_header(buf)


def test_validate_rejects_every_flipped_bit_under_the_crc() -> None:
    buf = kp_batch(3, compression=Compression.GZIP)
    for i in range(ATTRIBUTES_OFFSET, len(buf)):
        bad = bytearray(buf)
        bad[i] ^= 0x01
        with pytest.raises(WireError) as info:
            validate_batch(bad)
        assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE, i


def test_validate_rejects_wrong_crc_field() -> None:
    buf = patch(kp_batch(3), ">I", CRC_OFFSET, 12345, fix_crc=False)
    with pytest.raises(WireError, match="CRC") as info:
        validate_batch(buf)
    assert info.value.offset == CRC_OFFSET


def test_validate_error_reports_position_in_buffer() -> None:
    good = bytes(kp_batch(2))
    bad = bytearray(kp_batch(2))
    bad[-1] ^= 0xFF
    with pytest.raises(WireError) as info:
        validate_batch(good + bad, len(good))
    assert info.value.offset == len(good) + CRC_OFFSET


def test_truncation_at_every_byte_fails_with_wire_error_only() -> None:
    buf = bytes(kp_batch(4, compression=Compression.ZSTD))
    for cut in range(len(buf)):
        with pytest.raises(WireError) as info:
            validate_batch(buf[:cut])
        assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE
        with pytest.raises(WireError):
            validate_batch(buf, 0, cut)


@pytest.mark.parametrize("batch_length", [-1, 0, 13, 48])
def test_validate_rejects_short_batch_length(batch_length: int) -> None:
    buf = patch(kp_batch(1), ">i", 8, batch_length, fix_crc=False)
    with pytest.raises(WireError, match="batchLength"):
        validate_batch(buf)


@pytest.mark.parametrize(("delta", "count"), [(-1, 0), (2, 4), (0, -1), (5, 7)])
def test_validate_rejects_impossible_counts(delta: int, count: int) -> None:
    buf = patch(kp_batch(3), ">i", 23, delta, fix_crc=True)
    buf = patch(buf, ">i", 57, count, fix_crc=True)
    with pytest.raises(WireError) as info:
        validate_batch(buf)
    assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE


def test_validate_accepts_compacted_count_below_offset_range() -> None:
    # Compaction keeps a batch's offset range but drops records (MemoryRecords.filterTo).
    buf = patch(kp_batch(3), ">i", 23, 9, fix_crc=True)
    assert validate_batch(buf).record_count == 3


# --- validate_produce_batch -------------------------------------------------------------


def test_produce_accepts_idempotent_batch() -> None:
    buf = kp_batch(3, producer_id=9, producer_epoch=0, base_sequence=0)
    h = validate_produce_batch(buf, produce_version=9, max_message_bytes=1_000_000)
    assert h == read_batch_header(buf)


def _produce_error(buf: bytes | bytearray, **kwargs: int) -> WireError:
    with pytest.raises(WireError) as info:
        validate_produce_batch(buf, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("fmt", "offset", "value", "code", "where", "stored_ok"),
    [
        (">q", 0, 5, ErrorCode.INVALID_RECORD, 0, True),  # baseOffset must be 0
        (">i", 23, -1, ErrorCode.INVALID_RECORD, 23, False),  # empty offset range
        (">i", 57, 0, ErrorCode.INVALID_RECORD, 57, True),  # count 0
        (">i", 57, 2, ErrorCode.INVALID_RECORD, 57, True),  # count != lastOffsetDelta + 1
        (">h", 21, 0x20, ErrorCode.INVALID_RECORD, 21, True),  # control batch
        (">q", 43, 12, ErrorCode.INVALID_RECORD, 53, True),  # producer id without sequence
        (">h", 21, 0x08, ErrorCode.INVALID_TIMESTAMP, 21, True),  # LogAppendTime from a producer
    ],
)
def test_produce_rules(fmt: str, offset: int, value: int, code: ErrorCode, where: int, stored_ok: bool) -> None:
    buf = patch(kp_batch(3), fmt, offset, value, fix_crc=True)
    if stored_ok:
        validate_batch(buf)
    else:
        with pytest.raises(WireError):
            validate_batch(buf)
    err = _produce_error(buf)
    assert err.error_code == code
    assert err.offset == where


def test_produce_rejects_bad_crc() -> None:
    buf = bytearray(kp_batch(3))
    buf[-1] ^= 1
    assert _produce_error(buf).error_code == ErrorCode.CORRUPT_MESSAGE


def test_produce_rejects_two_batches() -> None:
    one = bytes(kp_batch(2))
    err = _produce_error(one + one)
    assert err.error_code == ErrorCode.INVALID_RECORD and err.offset == len(one)


def test_produce_ignores_partial_trailing_bytes() -> None:
    one = bytes(kp_batch(2))
    assert validate_produce_batch(one + one[:40]).size == len(one)


def test_produce_rejects_missing_batch() -> None:
    one = bytes(kp_batch(2))
    for cut in (0, 11, 12, 60, len(one) - 1):
        assert _produce_error(one[:cut]).error_code == ErrorCode.INVALID_RECORD


@pytest.mark.parametrize("magic", [0, 1])
def test_produce_rejects_old_magic(magic: int) -> None:
    buf = bytearray(kp_batch(1))
    buf[16] = magic
    assert _produce_error(buf).error_code == ErrorCode.INVALID_RECORD


def test_produce_rejects_unknown_magic_as_corrupt() -> None:
    buf = bytearray(kp_batch(1))
    buf[16] = 7
    assert _produce_error(buf).error_code == ErrorCode.CORRUPT_MESSAGE


def test_produce_zstd_needs_v7() -> None:
    buf = kp_batch(2, compression=Compression.ZSTD)
    assert _produce_error(buf, produce_version=6).error_code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
    assert validate_produce_batch(buf, produce_version=7).compression is Compression.ZSTD


def test_produce_size_limit() -> None:
    buf = kp_batch(2)
    assert _produce_error(buf, max_message_bytes=len(buf) - 1).error_code == ErrorCode.MESSAGE_TOO_LARGE
    assert validate_produce_batch(buf, max_message_bytes=len(buf)).size == len(buf)


# --- iterating and scanning -------------------------------------------------------------


def _log(n: int) -> tuple[bytes, list[int]]:
    parts, positions, pos = [], [], 0
    for i in range(n):
        b = bytearray(kp_batch(i + 1, compression=list(Compression)[i % 5]))
        set_base_offset(b, 0, sum(range(1, i + 1)))
        parts.append(bytes(b))
        positions.append(pos)
        pos += len(b)
    return b"".join(parts), positions


def test_iter_batches_yields_positions_and_stops_at_partial_tail() -> None:
    log, positions = _log(6)
    for cut in range(len(log) + 1):
        found = list(iter_batches(log, 0, cut))
        assert [p for p, _ in found] == [p for p in positions if p + read_batch_header(log, p).size <= cut]
    offsets = [h.base_offset for _, h in iter_batches(log)]
    assert offsets == [0, 1, 3, 6, 10, 15]


def test_iter_batches_raises_on_corrupt_length() -> None:
    log, positions = _log(3)
    bad = patch(bytearray(log), ">i", positions[1] + 8, 20, fix_crc=False)
    with pytest.raises(WireError) as info:
        list(iter_batches(bad))
    assert info.value.offset == positions[1] + 8


def test_scan_finds_valid_end_at_every_cut() -> None:
    log, positions = _log(5)
    ends = positions[1:] + [len(log)]
    for cut in range(len(log) + 1):
        scan = scan_batches(log, 0, cut)
        complete = [e for e in ends if e <= cut]
        assert scan.valid_end == (complete[-1] if complete else 0)
        assert [p for p, _ in scan.batches] == positions[: len(complete)]
        assert (scan.error is None) == (scan.valid_end == cut)


def test_scan_stops_at_crc_error_unless_crc_unchecked() -> None:
    log, positions = _log(4)
    bad = bytearray(log)
    bad[positions[2] + 70] ^= 0x40
    scan = scan_batches(bad)
    assert scan.valid_end == positions[2] and len(scan.batches) == 2
    assert scan.error is not None and scan.error.error_code == ErrorCode.CORRUPT_MESSAGE
    assert scan_batches(bad, check_crc=False).valid_end == len(bad)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 400))
def test_scan_and_iter_never_raise_anything_but_wire_error(junk: bytes, where: int) -> None:
    log, _ = _log(2)
    data = log[:where] + junk
    scan = scan_batches(data)
    assert 0 <= scan.valid_end <= len(data)
    try:
        list(iter_batches(data))
    except WireError:
        pass
    try:
        validate_produce_batch(data)
    except WireError:
        pass


# --- in-place patches -------------------------------------------------------------------


def test_set_base_offset_and_epoch_keep_crc() -> None:
    log, positions = _log(3)
    buf = bytearray(log)
    set_base_offset(buf, positions[1], 123456789012)
    set_partition_leader_epoch(memoryview(buf), positions[1], 42)
    h = validate_batch(buf, positions[1])
    assert (h.base_offset, h.partition_leader_epoch) == (123456789012, 42)
    assert DefaultRecordBatch(bytes(buf[positions[1] : positions[2]])).validate_crc()


def test_set_max_timestamp_log_append_time_recomputes_crc() -> None:
    buf = kp_batch(3, compression=Compression.SNAPPY, value_size=500)
    set_max_timestamp(buf, 0, 1_800_000_000_000, TimestampType.LOG_APPEND_TIME)
    h = validate_batch(buf)
    assert h.max_timestamp == 1_800_000_000_000
    assert h.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert h.compression is Compression.SNAPPY
    kp = DefaultRecordBatch(bytes(buf))
    assert kp.validate_crc() and kp.timestamp_type == 1
    # Readers take every record's timestamp from maxTimestamp for LogAppendTime batches.
    assert {r.timestamp for r in kp} == {1_800_000_000_000}


def test_set_max_timestamp_back_to_create_time() -> None:
    buf = kp_batch(2)
    set_max_timestamp(buf, 0, 5, TimestampType.LOG_APPEND_TIME)
    set_max_timestamp(buf, 0, 7, TimestampType.CREATE_TIME)
    h = validate_batch(buf)
    assert (h.max_timestamp, h.timestamp_type) == (7, TimestampType.CREATE_TIME)


def test_set_max_timestamp_unchanged_writes_nothing() -> None:
    # Like Kafka, an unchanged value leaves even a wrong CRC as it was.
    buf = patch(kp_batch(2), ">I", CRC_OFFSET, 1, fix_crc=False)
    before = bytes(buf)
    h = read_batch_header(buf)
    set_max_timestamp(buf, 0, h.max_timestamp, TimestampType.CREATE_TIME)
    assert bytes(buf) == before


def test_batch_header_is_a_plain_tuple() -> None:
    h = read_batch_header(kp_batch(1))
    assert isinstance(h, tuple) and BatchHeader._fields[0] == "base_offset" and len(h) == 13
