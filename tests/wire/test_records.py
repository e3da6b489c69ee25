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
from kio.records.readers import read_batch as kio_read_batch

from kafkapy.wire._varint import (
    decode_uvarint,
    decode_varint,
    decode_varlong,
    encode_uvarint,
    encode_varint,
    encode_varlong,
)
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    CRC_OFFSET,
    MAGIC_V2,
    RECORDS_OFFSET,
    AbsoluteRecord,
    BatchHeader,
    Compression,
    ControlRecordType,
    Record,
    TimestampType,
    build_batch,
    build_end_txn_marker,
    compute_crc,
    decode_control_key,
    encode_control_key,
    increment_sequence,
    iter_absolute_records,
    iter_batches,
    iter_records,
    parse_end_txn_marker,
    read_batch_header,
    records_section,
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
        builder.append(
            i, timestamp=1_700_000_000_000 + i, key=b"key-%d" % i, value=bytes([i % 256]) * value_size, headers=[]
        )
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
        5,
        producer_id=77,
        producer_epoch=3,
        base_sequence=100,
        transactional=True,
        compression=Compression.LZ4,
        value_size=200,
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
    [
        (0, 0, 0),
        (10, 4, 14),
        (0x7FFFFFFF, 0, 0x7FFFFFFF),
        (0x7FFFFFFF, 1, 0),
        (0x7FFFFFFE, 3, 1),
        (0x7FFFFFF0, 0x10, 0),
    ],
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


# --- varints ----------------------------------------------------------------------------

INT32 = st.integers(-(1 << 31), (1 << 31) - 1)
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)


@given(INT32)
def test_varint_round_trip(v: int) -> None:
    raw = encode_varint(v)
    assert decode_varint(raw + b"tail", 0, len(raw) + 4) == (v, len(raw))
    assert len(raw) <= 5


@given(INT64)
def test_varlong_round_trip(v: int) -> None:
    raw = encode_varlong(v)
    assert decode_varlong(raw, 0, len(raw)) == (v, len(raw))
    assert len(raw) <= 10


@given(st.integers(0, (1 << 32) - 1))
def test_uvarint_round_trip(v: int) -> None:
    raw = encode_uvarint(v)
    assert decode_uvarint(raw, 0, len(raw)) == (v, len(raw))


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        (0, b"\x00"),
        (-1, b"\x01"),
        (1, b"\x02"),
        (-64, b"\x7f"),
        (64, b"\x80\x01"),
        (300, b"\xd8\x04"),
        ((1 << 31) - 1, b"\xfe\xff\xff\xff\x0f"),
        (-(1 << 31), b"\xff\xff\xff\xff\x0f"),
    ],
)
def test_varint_matches_kafka_encoding(value: int, raw: bytes) -> None:
    assert encode_varint(value) == raw
    from kafka.record.util import encode_varint as kp_encode_varint

    out = bytearray()
    kp_encode_varint(value, out.append)
    assert bytes(out) == raw


@pytest.mark.parametrize(
    ("raw", "decoder"),
    [
        (b"", decode_varint),
        (b"\x80", decode_varint),
        (b"\xff\xff\xff\xff\xff\x01", decode_varint),  # 6 bytes
        (b"\xff\xff\xff\xff\x1f", decode_varint),  # 33 bits
        (b"\xff" * 10 + b"\x01", decode_varlong),  # 11 bytes
        (b"\xff" * 9 + b"\x03", decode_varlong),  # 65 bits
        (b"\xff\xff\xff\xff\x10", decode_uvarint),
    ],
)
def test_malformed_varints(raw: bytes, decoder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WireError) as info:
        decoder(raw, 0, len(raw))
    assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE


def test_varint_out_of_range_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        encode_varint(1 << 31)
    with pytest.raises(ValueError):
        encode_varlong(-(1 << 63) - 1)


# --- build and iterate records ----------------------------------------------------------

HEADERS = st.lists(st.tuples(st.text(max_size=8), st.none() | st.binary(max_size=8)), max_size=3)
NULLABLE = st.none() | st.binary(max_size=300)


@st.composite
def record_lists(draw: st.DrawFn) -> list[Record]:
    n = draw(st.integers(1, 12))
    offsets = sorted(draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n, unique=True)))
    return [
        Record(offset, draw(st.integers(-(1 << 40), 1 << 40)), draw(NULLABLE), draw(NULLABLE), draw(HEADERS))
        for offset in offsets
    ]


def _same(a: list[Record], b: list[Record]) -> bool:
    norm = lambda rs: [(r.offset_delta, r.timestamp_delta, r.key, r.value, [tuple(h) for h in r.headers]) for r in rs]  # noqa: E731
    return norm(a) == norm(b)


@settings(max_examples=150, deadline=None)
@given(
    records=record_lists(),
    codec=st.sampled_from(list(Compression)),
    base_offset=st.integers(0, 1 << 60),
    base_timestamp=st.integers(0, 1 << 42) | st.none(),
    producer=st.tuples(st.integers(-1, 1 << 62), st.integers(-1, 32767), st.integers(-1, (1 << 31) - 1)),
    flags=st.tuples(st.booleans(), st.booleans()),
)
def test_build_iter_round_trip(
    records: list[Record],
    codec: Compression,
    base_offset: int,
    base_timestamp: int | None,
    producer: tuple[int, int, int],
    flags: tuple[bool, bool],
) -> None:
    pid, epoch, seq = producer
    batch = build_batch(
        records,
        base_offset=base_offset,
        compression=codec,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        is_transactional=flags[0],
        partition_leader_epoch=7,
        base_timestamp=base_timestamp,
        last_offset_delta=records[-1].offset_delta if flags[1] else None,
    )
    h = validate_batch(batch)
    assert h.size == len(batch)
    assert (h.base_offset, h.producer_id, h.producer_epoch, h.base_sequence) == (base_offset, pid, epoch, seq)
    assert h.compression is codec and h.is_transactional == flags[0] and h.partition_leader_epoch == 7
    assert h.record_count == len(records) and h.last_offset_delta == records[-1].offset_delta
    base = -1 if base_timestamp is None else base_timestamp
    assert h.base_timestamp == base
    assert h.max_timestamp == base + max(r.timestamp_delta for r in records)
    assert _same(list(iter_records(batch)), records)
    absolute = list(iter_absolute_records(batch))
    assert [a.offset for a in absolute] == [base_offset + r.offset_delta for r in records]
    assert [a.timestamp for a in absolute] == [base + r.timestamp_delta for r in records]


def test_header_keys_keep_non_utf8_bytes() -> None:
    key = b"\xff\xfeh".decode("utf-8", "surrogateescape")
    batch = build_batch([Record(0, 0, None, None, [(key, b"v"), ("ü", None)])])
    (record,) = iter_records(batch)
    assert list(record.headers) == [(key, b"v"), ("ü", None)]


def test_log_append_time_records_take_max_timestamp() -> None:
    batch = build_batch(
        [Record(0, 0, b"a", b"1"), Record(1, 5, b"b", b"2")],
        base_timestamp=100,
        timestamp_type=TimestampType.LOG_APPEND_TIME,
        max_timestamp=999,
    )
    assert [r.timestamp for r in iter_absolute_records(batch)] == [999, 999]
    assert validate_batch(batch).timestamp_type is TimestampType.LOG_APPEND_TIME


def test_empty_batch_for_compaction() -> None:
    batch = build_batch(
        [], base_offset=50, last_offset_delta=9, base_timestamp=0, producer_id=3, producer_epoch=0, base_sequence=20
    )
    h = validate_batch(batch)
    assert (h.record_count, h.last_offset, h.last_sequence) == (0, 59, 29)
    assert list(iter_records(batch)) == []
    with pytest.raises(ValueError):
        build_batch([])


def test_compacted_batch_keeps_offset_range() -> None:
    batch = build_batch([Record(2, 0, b"k", b"v")], base_offset=10, last_offset_delta=4, base_timestamp=1)
    h = validate_batch(batch)
    assert (h.record_count, h.next_offset) == (1, 15)
    assert [r.offset for r in iter_absolute_records(batch)] == [12]


def test_records_section_honours_max_output() -> None:
    batch = build_batch([Record(0, 0, None, b"\x00" * 100_000)], compression=Compression.ZSTD)
    assert len(records_section(batch, max_output=200_000)[1]) > 100_000
    with pytest.raises(WireError) as info:
        list(iter_records(batch, max_output=50_000))
    assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE and info.value.offset == RECORDS_OFFSET


@pytest.mark.parametrize("codec_id", [5, 6, 7])
def test_unknown_codec_id_is_corrupt(codec_id: int) -> None:
    batch = patch(bytearray(build_batch([Record(0, 0, None, b"x")])), ">h", 21, codec_id, fix_crc=True)
    for check in (iter_records, validate_batch, validate_produce_batch):
        with pytest.raises(WireError, match="codec") as info:
            list(check(batch)) if check is iter_records else check(batch)
        assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE and info.value.offset == ATTRIBUTES_OFFSET


# --- malformed records ------------------------------------------------------------------


def _uncompressed(records_bytes: bytes, count: int) -> bytearray:
    """A batch whose records section is ``records_bytes``, with a valid CRC."""
    batch = bytearray(build_batch([Record(0, 0, None, None)]))
    del batch[RECORDS_OFFSET:]
    batch += records_bytes
    struct.pack_into(">i", batch, 8, len(batch) - 12)
    struct.pack_into(">i", batch, 57, count)
    struct.pack_into(">I", batch, CRC_OFFSET, compute_crc(batch, 0, len(batch)))
    return batch


@pytest.mark.parametrize(
    ("body", "count", "why"),
    [
        (b"", 1, "malformed varint"),  # no record at all
        (b"\x0e\x00\x00\x00\x01\x01\x00", 1, "length"),  # length 7 > 6 available
        (b"\x0c\x00\x00\x00\x03\x01\x00", 1, "key length"),  # key length -2
        (b"\x0c\x00\x00\x00\x01\x05\x00", 1, "value length"),  # value length -3
        (b"\x0c\x00\x00\x00\x14\x01\x00", 1, "key runs past"),  # key of 10 bytes
        (b"\x0c\x00\x00\x00\x01\x01\x01", 1, "headers"),  # -1 headers
        (b"\x0c\x00\x00\x00\x01\x01\x02", 1, "malformed varint"),  # 1 header, no bytes
        (b"\x0c\x00\x00\x00\x01\x01\x00" + b"\x0c\x00\x00\x00\x01\x01\x00", 1, "left after"),
        (b"\x0e\x00\x00\x00\x01\x01\x00\x00", 1, "do not fill"),
        (b"\x0c\x00\x00\x00\x01\x01\x00", 2, "malformed varint"),  # count says 2
        (b"\x0c\x00\x00\x00\x01\x01\x00", 0, "left after"),
    ],
)
def test_malformed_records(body: bytes, count: int, why: str) -> None:
    batch = _uncompressed(body, count)
    with pytest.raises(WireError, match=why) as info:
        list(iter_records(batch))
    assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE
    assert info.value.offset is not None and info.value.offset >= RECORDS_OFFSET


def test_well_formed_minimal_record() -> None:
    (record,) = iter_records(_uncompressed(b"\x0c\x00\x00\x00\x01\x01\x00", 1))
    assert record == Record(0, 0, None, None, [])


@pytest.mark.parametrize("codec", list(Compression))
def test_truncation_at_every_byte_raises_wire_error_only(codec: Compression) -> None:
    batch = build_batch([Record(i, i, b"k", b"value %d" % i, [("h", b"v")]) for i in range(4)], compression=codec)
    for cut in range(len(batch)):
        with pytest.raises(WireError):
            list(iter_records(batch[:cut]))
        with pytest.raises(WireError):
            validate_batch(batch[:cut])


@settings(max_examples=400, deadline=None)
@given(codec=st.sampled_from(list(Compression)), data=st.data())
def test_mutated_records_decode_or_raise_wire_error(codec: Compression, data: st.DataObject) -> None:
    records = [Record(i, i * 7, b"key%d" % i, b"v" * (i * 13), [("h%d" % i, b"x")]) for i in range(6)]
    batch = bytearray(build_batch(records, compression=codec))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(RECORDS_OFFSET, len(batch) - 1))
        batch[i] = data.draw(st.integers(0, 255))
    struct.pack_into(">I", batch, CRC_OFFSET, compute_crc(batch, 0, len(batch)))
    try:
        decoded = list(iter_records(batch, max_output=1 << 16))
    except WireError as exc:
        assert exc.error_code == ErrorCode.CORRUPT_MESSAGE
    else:
        assert len(decoded) == 6


# --- cross-checks with kafka-python and kio ---------------------------------------------

KP_RECORDS = [
    (
        i,
        1_700_000_000_000 + i * 3,
        None if i % 4 == 0 else b"key-%d" % i,
        None if i % 5 == 1 else b"value-%d " % i * (i % 40),
        [("h%d" % j, None if j == 1 else b"hv%d" % j) for j in range(i % 3)],
    )
    for i in range(200)
]


@pytest.mark.parametrize("codec", list(Compression))
def test_we_read_kafka_python_batches(codec: Compression) -> None:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=_KP_CODECS[codec],
        is_transactional=True,
        producer_id=42,
        producer_epoch=2,
        base_sequence=1000,
        batch_size=1 << 30,
    )
    for offset, timestamp, key, value, headers in KP_RECORDS:
        builder.append(offset, timestamp=timestamp, key=key, value=value, headers=headers)
    batch = bytes(builder.build())
    h = validate_produce_batch(batch, produce_version=9)
    assert h.compression is codec and h.is_transactional and h.last_sequence == 1199
    got = list(iter_absolute_records(batch))
    assert [(r.offset, r.timestamp, r.key, r.value, [tuple(x) for x in r.headers]) for r in got] == [
        (o, t, k, v, h) for o, t, k, v, h in KP_RECORDS
    ]


@pytest.mark.parametrize("codec", list(Compression))
def test_kafka_python_reads_our_batches(codec: Compression) -> None:
    base_ts = KP_RECORDS[0][1]
    ours = build_batch(
        [Record(o, t - base_ts, k, v, h) for o, t, k, v, h in KP_RECORDS],
        base_offset=5000,
        compression=codec,
        producer_id=9,
        producer_epoch=1,
        base_sequence=0,
        base_timestamp=base_ts,
        partition_leader_epoch=3,
    )
    kp = DefaultRecordBatch(ours)
    assert kp.validate_crc()
    assert (kp.base_offset, kp.compression_type, kp.producer_id, kp.producer_epoch, kp.leader_epoch) == (
        5000,
        int(codec),
        9,
        1,
        3,
    )
    assert kp.last_offset == 5199 and kp.max_timestamp == KP_RECORDS[-1][1]
    got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in kp]
    assert got == [(5000 + o, t, k, v, h) for o, t, k, v, h in KP_RECORDS]


def test_kio_reads_our_batches() -> None:
    ours = build_batch(
        [Record(o, t - KP_RECORDS[0][1], k, v, h) for o, t, k, v, h in KP_RECORDS[:50]],
        base_offset=77,
        base_timestamp=KP_RECORDS[0][1],
    )
    batch, size = kio_read_batch(ours, 0)  # checks the CRC and the batch length itself
    assert size == len(ours)
    assert [(r.offset, r.key, r.value, [(x.key, x.value) for x in r.headers]) for r in batch.records] == [
        (77 + o, k, v, [(hk.encode(), hv) for hk, hv in h]) for o, _, k, v, h in KP_RECORDS[:50]
    ]


# --- control records and transaction markers --------------------------------------------


@pytest.mark.parametrize("record_type", list(ControlRecordType))
def test_control_key_round_trip(record_type: ControlRecordType) -> None:
    key = encode_control_key(record_type)
    assert key == struct.pack(">hh", 0, record_type)
    assert decode_control_key(key) == record_type


def test_control_key_unknown_type_and_bad_keys() -> None:
    assert decode_control_key(struct.pack(">hh", 0, 99)) == 99
    assert decode_control_key(struct.pack(">hhh", 1, 1, 0)) == 1  # newer versions parse
    for bad in (None, b"", b"\x00\x00\x01", struct.pack(">hh", -1, 0)):
        with pytest.raises(WireError):
            decode_control_key(bad)


@pytest.mark.parametrize("commit", [True, False])
def test_end_txn_marker_round_trip(commit: bool) -> None:
    batch = build_end_txn_marker(
        4242, 7, 13, commit, timestamp=1_700_000_000_123, base_offset=900, partition_leader_epoch=5
    )
    h = validate_batch(batch)
    assert h.is_control and h.is_transactional and h.record_count == 1
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.partition_leader_epoch) == (4242, 7, -1, 5)
    marker = parse_end_txn_marker(batch)
    assert marker is not None
    assert marker == (commit, 13, 4242, 7, 900, 1_700_000_000_123)
    kp = DefaultRecordBatch(batch)
    assert kp.validate_crc() and kp.is_control_batch and kp.is_transactional
    (record,) = list(kp)
    assert record.key == struct.pack(">hh", 0, int(commit)) and record.value == struct.pack(">hi", 0, 13)
    with pytest.raises(WireError):
        validate_produce_batch(batch)  # clients may not write control batches


def test_parse_end_txn_marker_other_control_types_and_errors() -> None:
    leader_change = build_batch(
        [Record(0, 0, encode_control_key(ControlRecordType.LEADER_CHANGE), b"\x00\x00")],
        is_control=True,
        is_transactional=True,
    )
    assert parse_end_txn_marker(leader_change) is None
    with pytest.raises(WireError):
        parse_end_txn_marker(build_batch([Record(0, 0, None, b"x")]))
    short_value = build_batch(
        [Record(0, 0, encode_control_key(ControlRecordType.COMMIT), b"\x00\x00")],
        is_control=True,
        is_transactional=True,
    )
    with pytest.raises(WireError, match="6 bytes"):
        parse_end_txn_marker(short_value)


def test_absolute_record_fields() -> None:
    (r,) = iter_absolute_records(
        build_batch([Record(3, 4, b"k", b"v", [("a", b"b")])], base_offset=10, base_timestamp=100)
    )
    assert r == AbsoluteRecord(13, 104, b"k", b"v", [("a", b"b")])
