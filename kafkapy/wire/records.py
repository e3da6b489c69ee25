"""RecordBatch v2 (magic 2): header parsing, validation and in-place patching.

Layout (Kafka's ``DefaultRecordBatch``; all big-endian)::

    @0  baseOffset int64            @27 baseTimestamp int64
    @8  batchLength int32           @35 maxTimestamp int64
    @12 partitionLeaderEpoch int32  @43 producerId int64
    @16 magic int8 (= 2)            @51 producerEpoch int16
    @17 crc uint32                  @53 baseSequence int32
    @21 attributes int16            @57 recordCount int32
    @23 lastOffsetDelta int32       @61 records (compressed as a whole, if at all)

``batchLength`` counts the bytes after itself, so a batch occupies ``12 + batchLength``
bytes. The CRC-32C (Castagnoli) covers attributes through the end of the batch, which
is why the broker can rewrite baseOffset and partitionLeaderEpoch without touching it.

Theory of operation: the produce and fetch paths never look inside a batch. They parse
the 61-byte header with one ``unpack_from``, check the CRC with the ``crc32c`` C
extension (tens of GB/s) and patch a few header fields in place. Decoding individual
records (``iter_records``/``build_batch``) is for internal topics, control batches and
compaction only.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Iterable, Iterator, NamedTuple, Sequence

from kafkapy.wire._varint import decode_varint, decode_varlong, encode_varint, encode_varlong
from kafkapy.wire.compression import Compression, compress, decompress
from kafkapy.wire.crc import crc32c
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError

# --- layout ---------------------------------------------------------------------------

BASE_OFFSET_OFFSET = 0
BATCH_LENGTH_OFFSET = 8
PARTITION_LEADER_EPOCH_OFFSET = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
LAST_OFFSET_DELTA_OFFSET = 23
BASE_TIMESTAMP_OFFSET = 27
MAX_TIMESTAMP_OFFSET = 35
PRODUCER_ID_OFFSET = 43
PRODUCER_EPOCH_OFFSET = 51
BASE_SEQUENCE_OFFSET = 53
RECORD_COUNT_OFFSET = 57
RECORDS_OFFSET = 61

BATCH_HEADER_SIZE = 61
#: baseOffset + batchLength: the bytes in front of what batchLength counts.
LOG_OVERHEAD = 12
#: The smallest legal batchLength: a header with no records.
MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD
#: Kafka's ``LegacyRecord.RECORD_OVERHEAD_V0``: below this a size field is corrupt
#: whatever the magic (``ByteBufferLogInputStream.nextBatchSize``).
_RECORD_OVERHEAD_V0 = 14
MAGIC_V2 = 2

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1
NO_TIMESTAMP = -1

# attribute bits
COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20
DELETE_HORIZON_MASK = 0x40

_INT32_MAX = 0x7FFFFFFF

_HEADER = struct.Struct(">qiibIhiqqqhii")
assert _HEADER.size == BATCH_HEADER_SIZE
_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")


class TimestampType(IntEnum):
    """Attribute bit 3."""

    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


class BatchHeader(NamedTuple):
    """The 61-byte header of a v2 record batch, field for field."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def compression(self) -> Compression:
        """The codec of the records section; ValueError for the unassigned ids 5-7,
        which :func:`validate_batch` and :func:`validate_produce_batch` reject."""
        return Compression(self.attributes & COMPRESSION_MASK)

    @property
    def timestamp_type(self) -> TimestampType:
        return TimestampType((self.attributes & TIMESTAMP_TYPE_MASK) >> 3)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def has_delete_horizon(self) -> bool:
        """Set by compaction (KIP-534): base_timestamp then holds the delete horizon."""
        return bool(self.attributes & DELETE_HORIZON_MASK)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies."""
        return LOG_OVERHEAD + self.batch_length

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def last_sequence(self) -> int:
        """Sequence of the last record; wraps past Int32 max to 0 like Kafka's
        ``DefaultRecordBatch.incrementSequence``. -1 when the batch has no sequence."""
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return increment_sequence(self.base_sequence, self.last_offset_delta)


def increment_sequence(sequence: int, increment: int) -> int:
    """``sequence + increment``, wrapping past Int32 max to 0 (producer sequences)."""
    if sequence > _INT32_MAX - increment:
        return increment - (_INT32_MAX - sequence) - 1
    return sequence + increment


def _corrupt(message: str, offset: int, field: str | None = None) -> WireError:
    return WireError(message, error_code=ErrorCode.CORRUPT_MESSAGE, field=field, offset=offset)


# --- reading ----------------------------------------------------------------------------


def read_batch_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Parse the 61-byte header at ``pos`` without checking the CRC or the length.

    Raises:
        WireError(CORRUPT_MESSAGE): fewer than 61 bytes from ``pos``, or magic != 2.
    """
    if pos < 0 or len(buf) - pos < BATCH_HEADER_SIZE:
        raise _corrupt(
            f"record batch header needs {BATCH_HEADER_SIZE} bytes, {max(len(buf) - pos, 0)} available",
            pos,
        )
    header = BatchHeader._make(_HEADER.unpack_from(buf, pos))
    if header.magic != MAGIC_V2:
        raise _corrupt(f"record batch magic {header.magic}, only magic 2 is supported", pos + MAGIC_OFFSET, "magic")
    return header


def compute_crc(buf: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    """CRC-32C of the batch at ``pos`` occupying ``size`` bytes (attributes .. end)."""
    with memoryview(buf) as view:
        return crc32c(view[pos + ATTRIBUTES_OFFSET : pos + size])


def validate_batch(buf: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None) -> BatchHeader:
    """Check one stored or replicated batch: header, length, magic, CRC and counts.

    ``record_count`` may be below ``last_offset_delta + 1``: compaction drops records
    but keeps the batch's offset range (Kafka's ``MemoryRecords.filterTo``), and keeps
    empty batches to preserve producer state. Client batches get the stricter
    :func:`validate_produce_batch`.

    Args:
        buf: bytes holding the batch; ``end`` (default ``len(buf)``) bounds it.

    Raises:
        WireError(CORRUPT_MESSAGE): what failed and the byte where it was found.
    """
    if end is None:
        end = len(buf)
    _check_header_fits(pos, end)
    header = read_batch_header(buf, pos)
    _check_length(header, pos, end)
    _check_crc(buf, header, pos)
    _check_codec(header, pos)
    if header.last_offset_delta < 0:
        raise _corrupt(
            f"negative lastOffsetDelta {header.last_offset_delta}", pos + LAST_OFFSET_DELTA_OFFSET, "last_offset_delta"
        )
    if not 0 <= header.record_count <= header.last_offset_delta + 1:
        raise _corrupt(
            f"recordCount {header.record_count} outside 0..lastOffsetDelta+1 ({header.last_offset_delta + 1})",
            pos + RECORD_COUNT_OFFSET,
            "record_count",
        )
    return header


def _check_header_fits(pos: int, end: int) -> None:
    if end - pos < BATCH_HEADER_SIZE:
        raise _corrupt(f"record batch header needs {BATCH_HEADER_SIZE} bytes, {max(end - pos, 0)} available", pos)


def _check_length(header: BatchHeader, pos: int, end: int) -> None:
    if header.batch_length < MIN_BATCH_LENGTH:
        raise _corrupt(
            f"batchLength {header.batch_length} below the minimum {MIN_BATCH_LENGTH}",
            pos + BATCH_LENGTH_OFFSET,
            "batch_length",
        )
    if pos + LOG_OVERHEAD + header.batch_length > end:
        raise _corrupt(
            f"batch of {LOG_OVERHEAD + header.batch_length} bytes runs past the end of the buffer "
            f"({end - pos} bytes available)",
            pos + BATCH_LENGTH_OFFSET,
            "batch_length",
        )


def _check_crc(buf: bytes | bytearray | memoryview, header: BatchHeader, pos: int) -> None:
    actual = compute_crc(buf, pos, header.size)
    if actual != header.crc:
        raise _corrupt(
            f"record batch CRC mismatch: stored {header.crc:#010x}, computed {actual:#010x}", pos + CRC_OFFSET, "crc"
        )


def _check_codec(header: BatchHeader, pos: int) -> None:
    """Codec ids 5-7 are unassigned; after this check ``header.compression`` is safe."""
    if header.attributes & COMPRESSION_MASK > Compression.ZSTD:
        raise _corrupt(
            f"unknown compression codec id {header.attributes & COMPRESSION_MASK}",
            pos + ATTRIBUTES_OFFSET,
            "attributes",
        )


def _invalid_record(message: str, offset: int, field: str | None = None) -> WireError:
    return WireError(message, error_code=ErrorCode.INVALID_RECORD, field=field, offset=offset)


def validate_produce_records(
    buf: bytes | bytearray | memoryview,
    pos: int = 0,
    end: int | None = None,
    *,
    produce_version: int | None = None,
) -> int:
    """Kafka's ``ProduceRequest.validateRecords``, which ``KafkaApis`` runs on each
    partition before anything else, the transaction verification included: exactly one
    complete batch, of magic 2, zstd only from Produce v7.

    Returns:
        The size of the batch at ``pos``.

    Raises:
        WireError: INVALID_RECORD (no batch, a magic 0/1 batch, more than one batch),
            CORRUPT_MESSAGE (a size or magic no batch can have) or
            UNSUPPORTED_COMPRESSION_TYPE.
    """
    if end is None:
        end = len(buf)
    size = _peek_batch_size(buf, pos, end)
    if size is None:
        raise _invalid_record("produce request must carry at least one complete record batch", pos)
    magic = buf[pos + MAGIC_OFFSET]
    if magic != MAGIC_V2:
        raise _invalid_record(
            f"produce requests may only carry magic 2 batches, got magic {magic}", pos + MAGIC_OFFSET, "magic"
        )
    if (produce_version is not None and produce_version < 7 and size > ATTRIBUTES_OFFSET + 1
            and buf[pos + ATTRIBUTES_OFFSET + 1] & COMPRESSION_MASK == Compression.ZSTD):
        raise WireError(
            f"zstd compression needs Produce v7 or later, request is v{produce_version}",
            error_code=ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
            offset=pos + ATTRIBUTES_OFFSET,
            field="attributes",
        )
    if _peek_batch_size(buf, pos + size, end) is not None:
        raise _invalid_record("produce requests may carry exactly one record batch per partition", pos + size)
    return size


def validate_produce_batch(
    buf: bytes | bytearray | memoryview,
    pos: int = 0,
    end: int | None = None,
    *,
    produce_version: int | None = None,
    max_message_bytes: int | None = None,
) -> BatchHeader:
    """Apply the broker's checks on the records of one partition of a Produce request.

    Mirrors, in order, ``ProduceRequest.validateRecords`` (one batch, magic 2, zstd
    needs Produce v7+), ``UnifiedLog.analyzeAndValidateRecords`` (baseOffset 0, size,
    CRC) and ``LogValidator.validateBatch`` (offset range, count, no control batches,
    a sequence when there is a producer id), each with the error code Kafka answers.
    A LogAppendTime bit set by the producer fails with INVALID_TIMESTAMP, as Kafka's
    ``LogValidator.validateTimestamp`` reports for each record. Constant cost: no
    decompression, no record loop. Trailing bytes too short to be a batch are ignored
    (Kafka trims them); append exactly ``header.size`` bytes from ``pos``.

    Args:
        produce_version: the request's API version, for the zstd rule; None skips it.
        max_message_bytes: the topic's ``max.message.bytes``; None skips the check.

    Returns:
        The header of the single batch.

    Raises:
        WireError: with error_code INVALID_RECORD, CORRUPT_MESSAGE, MESSAGE_TOO_LARGE,
            UNSUPPORTED_COMPRESSION_TYPE or INVALID_TIMESTAMP.
    """
    size = validate_produce_records(buf, pos, end, produce_version=produce_version)
    if size < BATCH_HEADER_SIZE:
        raise _corrupt(
            f"batchLength {size - LOG_OVERHEAD} below the minimum {MIN_BATCH_LENGTH}",
            pos + BATCH_LENGTH_OFFSET,
            "batch_length",
        )
    header = BatchHeader._make(_HEADER.unpack_from(buf, pos))
    if header.base_offset != 0:
        raise _invalid_record(f"baseOffset of a produced batch must be 0, got {header.base_offset}", pos, "base_offset")
    if max_message_bytes is not None and size > max_message_bytes:
        raise WireError(
            f"record batch of {size} bytes exceeds max.message.bytes {max_message_bytes}",
            error_code=ErrorCode.MESSAGE_TOO_LARGE,
            offset=pos,
        )
    _check_crc(buf, header, pos)
    _check_codec(header, pos)
    count_from_offsets = header.last_offset_delta + 1
    if count_from_offsets <= 0:
        raise _invalid_record(
            f"batch has an invalid offset range, lastOffsetDelta {header.last_offset_delta}",
            pos + LAST_OFFSET_DELTA_OFFSET,
            "last_offset_delta",
        )
    if header.record_count <= 0:
        raise _invalid_record(f"invalid recordCount {header.record_count}", pos + RECORD_COUNT_OFFSET, "record_count")
    if header.record_count != count_from_offsets:
        raise _invalid_record(
            f"recordCount {header.record_count} does not match lastOffsetDelta+1 ({count_from_offsets})",
            pos + RECORD_COUNT_OFFSET,
            "record_count",
        )
    if header.attributes & CONTROL_MASK:
        raise _invalid_record("clients may not write control batches", pos + ATTRIBUTES_OFFSET, "attributes")
    if header.producer_id >= 0 and header.base_sequence < 0:
        raise _invalid_record(
            f"invalid baseSequence {header.base_sequence} with producerId {header.producer_id}",
            pos + BASE_SEQUENCE_OFFSET,
            "base_sequence",
        )
    if header.attributes & TIMESTAMP_TYPE_MASK:
        raise WireError(
            "producers must not set the timestamp type to LogAppendTime",
            error_code=ErrorCode.INVALID_TIMESTAMP,
            offset=pos + ATTRIBUTES_OFFSET,
            field="attributes",
        )
    return header


def _peek_batch_size(buf: bytes | bytearray | memoryview, pos: int, end: int) -> int | None:
    """Total size of the batch at ``pos`` if it is complete in ``buf[:end]``, else None.

    Like Kafka's ``ByteBufferLogInputStream.nextBatchSize``, a size field below the v0
    record overhead or an unknown magic is corruption, not a partial batch.
    """
    if end - pos < LOG_OVERHEAD:
        return None
    batch_length = _INT32.unpack_from(buf, pos + BATCH_LENGTH_OFFSET)[0]
    if batch_length < _RECORD_OVERHEAD_V0:
        raise _corrupt(
            f"batchLength {batch_length} is below the minimum record overhead",
            pos + BATCH_LENGTH_OFFSET,
            "batch_length",
        )
    if end - pos >= MAGIC_OFFSET + 1:
        magic = buf[pos + MAGIC_OFFSET]
        if magic > MAGIC_V2:
            raise _corrupt(f"invalid record batch magic {magic}", pos + MAGIC_OFFSET, "magic")
    size = LOG_OVERHEAD + batch_length
    return size if end - pos >= size else None


# --- iterating over concatenated batches ------------------------------------------------


def iter_batches(
    buf: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None
) -> Iterator[tuple[int, BatchHeader]]:
    """Yield ``(position, header)`` for each complete batch in ``buf[pos:end]``.

    Stops silently at a partial trailing batch (as fetch responses may end with one);
    reads headers only, no CRC check. Use :func:`scan_batches` to learn where the
    valid bytes end.

    Raises:
        WireError(CORRUPT_MESSAGE): a complete batch with a bad magic or length.
    """
    if end is None:
        end = len(buf)
    while end - pos >= LOG_OVERHEAD:
        batch_length = _INT32.unpack_from(buf, pos + BATCH_LENGTH_OFFSET)[0]
        if end - pos < BATCH_HEADER_SIZE or end - pos < LOG_OVERHEAD + batch_length:
            if batch_length < MIN_BATCH_LENGTH:
                raise _corrupt(
                    f"batchLength {batch_length} below the minimum {MIN_BATCH_LENGTH}",
                    pos + BATCH_LENGTH_OFFSET,
                    "batch_length",
                )
            return
        header = read_batch_header(buf, pos)
        _check_length(header, pos, end)
        yield pos, header
        pos += LOG_OVERHEAD + batch_length


class BatchScan(NamedTuple):
    """What :func:`scan_batches` found.

    ``valid_end`` is the position just past the last good batch: recovery truncates
    there. ``error`` says why the scan stopped before ``end`` (a partial trailing batch
    or a corrupt one), and is None when every byte was accounted for.
    """

    batches: list[tuple[int, BatchHeader]]
    valid_end: int
    error: WireError | None


def scan_batches(
    buf: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None, *, check_crc: bool = True
) -> BatchScan:
    """Walk the batches of ``buf[pos:end]`` up to the first partial or corrupt one.

    Never raises for bad data: what Kafka's ``LogSegment.recover`` treats as a reason
    to truncate (a partial batch, a bad length, magic or CRC) ends the scan and is
    returned in ``error``.
    """
    if end is None:
        end = len(buf)
    batches: list[tuple[int, BatchHeader]] = []
    while pos < end:
        try:
            header = validate_batch(buf, pos, end) if check_crc else _read_complete_header(buf, pos, end)
        except WireError as exc:
            return BatchScan(batches, pos, exc)
        batches.append((pos, header))
        pos += header.size
    return BatchScan(batches, pos, None)


def _read_complete_header(buf: bytes | bytearray | memoryview, pos: int, end: int) -> BatchHeader:
    _check_header_fits(pos, end)
    header = read_batch_header(buf, pos)
    _check_length(header, pos, end)
    return header


# --- in-place patching ------------------------------------------------------------------


def set_base_offset(buf: bytearray | memoryview, pos: int, offset: int) -> None:
    """Write baseOffset; outside the CRC, so the CRC stays valid."""
    _INT64.pack_into(buf, pos + BASE_OFFSET_OFFSET, offset)


def set_partition_leader_epoch(buf: bytearray | memoryview, pos: int, epoch: int) -> None:
    """Write partitionLeaderEpoch; outside the CRC, so the CRC stays valid."""
    _INT32.pack_into(buf, pos + PARTITION_LEADER_EPOCH_OFFSET, epoch)


def set_max_timestamp(buf: bytearray | memoryview, pos: int, timestamp: int, timestamp_type: TimestampType) -> None:
    """Write maxTimestamp and the timestamp-type bit, then recompute the CRC.

    As Kafka's ``DefaultRecordBatch.setMaxTimestamp``: nothing is written (and the CRC
    is not recomputed) when both already hold these values. The CRC is recomputed
    over the current bytes, so validate the batch before patching it.
    """
    attributes = _INT16.unpack_from(buf, pos + ATTRIBUTES_OFFSET)[0]
    current = _INT64.unpack_from(buf, pos + MAX_TIMESTAMP_OFFSET)[0]
    new_attributes = attributes & ~TIMESTAMP_TYPE_MASK
    if timestamp_type == TimestampType.LOG_APPEND_TIME:
        new_attributes |= TIMESTAMP_TYPE_MASK
    if new_attributes == attributes and current == timestamp:
        return
    _INT16.pack_into(buf, pos + ATTRIBUTES_OFFSET, new_attributes)
    _INT64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, timestamp)
    size = LOG_OVERHEAD + _INT32.unpack_from(buf, pos + BATCH_LENGTH_OFFSET)[0]
    _UINT32.pack_into(buf, pos + CRC_OFFSET, compute_crc(buf, pos, size))


# --- records ----------------------------------------------------------------------------
#
# Record: length varint · attributes int8 (unused, 0) · timestampDelta varlong ·
# offsetDelta varint · key (varint length, -1 = null) · value (varint length, -1 = null) ·
# header count varint · per header: key (varint length + UTF-8), value (varint length,
# -1 = null). Kafka's ``DefaultRecord``.

#: Default cap on a batch's decompressed records section; callers with a configured
#: limit pass their own ``max_output``.
DEFAULT_MAX_DECOMPRESSED = 64 * 1024 * 1024

Header = tuple[str, "bytes | None"]


class Record(NamedTuple):
    """One record as stored: offset and timestamp relative to its batch.

    Header keys are ``str``; bytes that are not UTF-8 survive a decode/encode round trip
    (``surrogateescape``), since librdkafka lets producers send any bytes there.
    """

    offset_delta: int
    timestamp_delta: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header] = ()


class AbsoluteRecord(NamedTuple):
    """A record with its log offset and timestamp resolved against its batch header."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header]


def records_section(
    buf: bytes | bytearray | memoryview, pos: int = 0, *, max_output: int = DEFAULT_MAX_DECOMPRESSED
) -> tuple[BatchHeader, bytes]:
    """The header and the (decompressed) records bytes of the batch at ``pos``.

    The CRC is not checked here: validate first when the bytes come from outside.

    Raises:
        WireError(CORRUPT_MESSAGE): bad header or length, unknown codec, bad compressed
            data, or more than ``max_output`` bytes once decompressed.
    """
    _check_header_fits(pos, len(buf))
    header = read_batch_header(buf, pos)
    _check_length(header, pos, len(buf))
    codec = header.attributes & COMPRESSION_MASK
    with memoryview(buf) as view:
        body = view[pos + RECORDS_OFFSET : pos + header.size]
        if codec == Compression.NONE:
            return header, bytes(body)
        _check_codec(header, pos)
        try:
            return header, decompress(Compression(codec), body, max_output=max_output)
        except WireError as exc:
            raise _corrupt(f"records of the batch do not decompress: {exc}", pos + RECORDS_OFFSET, "records") from None


def iter_records(
    buf: bytes | bytearray | memoryview, pos: int = 0, *, max_output: int = DEFAULT_MAX_DECOMPRESSED
) -> Iterator[Record]:
    """Decode the records of the batch at ``pos``, decompressing them if needed.

    Not for the produce/fetch paths. Like Kafka's ``DefaultRecordBatch`` iterator, the
    records section must hold exactly ``record_count`` well-formed records.

    Raises:
        WireError(CORRUPT_MESSAGE): see :func:`records_section`, and any malformed
            record (truncated, bad lengths, bytes left over). Offsets in the error are
            positions in ``buf`` for uncompressed batches, and in the decompressed
            records section otherwise (the error's field says which).
    """
    header, data = records_section(buf, pos, max_output=max_output)
    compressed = header.attributes & COMPRESSION_MASK != Compression.NONE
    return _decode_records(data, header.record_count, 0 if compressed else pos + RECORDS_OFFSET, compressed)


def iter_absolute_records(
    buf: bytes | bytearray | memoryview, pos: int = 0, *, max_output: int = DEFAULT_MAX_DECOMPRESSED
) -> Iterator[AbsoluteRecord]:
    """Like :func:`iter_records`, with log offsets and timestamps.

    Records of a LogAppendTime batch all take the batch's maxTimestamp, as Kafka's
    readers do.
    """
    header = read_batch_header(buf, pos)
    base_offset = header.base_offset
    log_append_time = header.max_timestamp if header.attributes & TIMESTAMP_TYPE_MASK else None
    for r in iter_records(buf, pos, max_output=max_output):
        timestamp = header.base_timestamp + r.timestamp_delta if log_append_time is None else log_append_time
        yield AbsoluteRecord(base_offset + r.offset_delta, timestamp, r.key, r.value, r.headers)


def _decode_records(data: bytes, count: int, shift: int, compressed: bool) -> Iterator[Record]:
    """Decode ``count`` records filling ``data`` exactly. ``shift`` maps positions in
    ``data`` to positions in the caller's buffer for error reports."""
    field = "records (decompressed)" if compressed else "records"
    end = len(data)
    pos = 0
    varint, varlong = decode_varint, decode_varlong

    def bad(what: str, at: int) -> WireError:
        return _corrupt(what, shift + at, field)

    try:
        for index in range(count):
            start = pos
            length, pos = varint(data, pos, end)
            record_end = pos + length
            if length < 6 or record_end > end:
                raise bad(f"record {index} has length {length}, {end - pos} bytes left", start)
            # pos + 1 skips the unused attributes byte.
            timestamp_delta, pos = varlong(data, pos + 1, record_end)
            offset_delta, pos = varint(data, pos, record_end)
            size, pos = varint(data, pos, record_end)
            if size < 0:
                if size != -1:
                    raise bad(f"record {index} has key length {size}", pos)
                key = None
            elif pos + size > record_end:
                raise bad(f"record {index} key runs past the record", pos)
            else:
                key = data[pos : pos + size]
                pos += size
            size, pos = varint(data, pos, record_end)
            if size < 0:
                if size != -1:
                    raise bad(f"record {index} has value length {size}", pos)
                value = None
            elif pos + size > record_end:
                raise bad(f"record {index} value runs past the record", pos)
            else:
                value = data[pos : pos + size]
                pos += size
            header_count, pos = varint(data, pos, record_end)
            if header_count < 0:
                raise bad(f"record {index} has {header_count} headers", pos)
            headers: list[Header] = []
            for _ in range(header_count):
                size, pos = varint(data, pos, record_end)
                if size < 0 or pos + size > record_end:
                    raise bad(f"record {index} has a header key of length {size}", pos)
                header_key = data[pos : pos + size].decode("utf-8", "surrogateescape")
                pos += size
                size, pos = varint(data, pos, record_end)
                if size < 0:
                    if size != -1:
                        raise bad(f"record {index} has a header value of length {size}", pos)
                    headers.append((header_key, None))
                elif pos + size > record_end:
                    raise bad(f"record {index} header value runs past the record", pos)
                else:
                    headers.append((header_key, data[pos : pos + size]))
                    pos += size
            if pos != record_end:
                raise bad(f"record {index} fields do not fill its declared length {length}", start)
            yield Record(offset_delta, timestamp_delta, key, value, headers)
    except WireError as exc:
        if exc.field == field:
            raise
        # From the varint decoder: truncated, overlong or out of range.
        raise bad(f"record {index} has a malformed varint", exc.offset or 0) from None
    if pos != end:
        raise bad(f"{end - pos} bytes left after the batch's {count} records", pos)


def _encode_record(out: bytearray, record: Record) -> None:
    offset_delta, timestamp_delta, key, value, headers = record
    body = bytearray(b"\x00")
    body += encode_varlong(timestamp_delta)
    body += encode_varint(offset_delta)
    if key is None:
        body += b"\x01"
    else:
        body += encode_varint(len(key))
        body += key
    if value is None:
        body += b"\x01"
    else:
        body += encode_varint(len(value))
        body += value
    body += encode_varint(len(headers))
    for header_key, header_value in headers:
        raw_key = header_key.encode("utf-8", "surrogateescape")
        body += encode_varint(len(raw_key))
        body += raw_key
        if header_value is None:
            body += b"\x01"
        else:
            body += encode_varint(len(header_value))
            body += header_value
    out += encode_varint(len(body))
    out += body


def build_batch(
    records: Iterable[Record],
    *,
    base_offset: int = 0,
    compression: Compression = Compression.NONE,
    compression_level: int | None = None,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    is_transactional: bool = False,
    is_control: bool = False,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    timestamp_type: TimestampType = TimestampType.CREATE_TIME,
    base_timestamp: int | None = None,
    max_timestamp: int | None = None,
    last_offset_delta: int | None = None,
    delete_horizon: bool = False,
) -> bytes:
    """Encode one v2 batch holding ``records`` (offsets/timestamps relative to it).

    Args:
        base_timestamp: what the records' timestamp deltas are relative to; None means
            no timestamps (Kafka's NO_TIMESTAMP, -1).
        max_timestamp: defaults to the largest record timestamp (base_timestamp when
            there are no records); pass the append time for LogAppendTime batches.
        last_offset_delta: defaults to the last record's offset delta. Compaction
            passes the original batch's, since it keeps a batch's offset range; a
            batch without records needs it.
        delete_horizon: set the delete-horizon bit (KIP-534); base_timestamp then
            holds the horizon.

    Returns:
        The batch bytes with a valid CRC.
    """
    records = records if isinstance(records, Sequence) else list(records)
    if base_timestamp is None:
        base_timestamp = NO_TIMESTAMP
    if last_offset_delta is None:
        if not records:
            raise ValueError("a batch without records needs last_offset_delta")
        last_offset_delta = records[-1].offset_delta
    if max_timestamp is None:
        max_timestamp = base_timestamp + max((r.timestamp_delta for r in records), default=0)
    body = bytearray()
    for record in records:
        _encode_record(body, record)
    if compression != Compression.NONE:
        body = bytearray(compress(compression, body, level=compression_level))
    attributes = (
        int(compression)
        | (TIMESTAMP_TYPE_MASK if timestamp_type == TimestampType.LOG_APPEND_TIME else 0)
        | (TRANSACTIONAL_MASK if is_transactional else 0)
        | (CONTROL_MASK if is_control else 0)
        | (DELETE_HORIZON_MASK if delete_horizon else 0)
    )
    out = bytearray(BATCH_HEADER_SIZE)
    _HEADER.pack_into(
        out,
        0,
        base_offset,
        BATCH_HEADER_SIZE - LOG_OVERHEAD + len(body),
        partition_leader_epoch,
        MAGIC_V2,
        0,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    out += body
    _UINT32.pack_into(out, CRC_OFFSET, compute_crc(out, 0, len(out)))
    return bytes(out)


# --- control records --------------------------------------------------------------------
#
# A control batch (attribute bit 5) holds records whose key is int16 version (0) +
# int16 type (Kafka's ``ControlRecordType``). Transaction markers (ABORT/COMMIT) are in
# transactional control batches and their value is int16 version (0) + int32
# coordinator epoch (``EndTransactionMarker``). The KRaft types carry a flexible
# message as their value, which is not this module's business.

CONTROL_RECORD_KEY_VERSION = 0
END_TXN_MARKER_VALUE_VERSION = 0
_CONTROL_KEY = struct.Struct(">hh")
_END_TXN_VALUE = struct.Struct(">hi")


class ControlRecordType(IntEnum):
    ABORT = 0
    COMMIT = 1
    LEADER_CHANGE = 2
    SNAPSHOT_HEADER = 3
    SNAPSHOT_FOOTER = 4
    KRAFT_VERSION = 5
    KRAFT_VOTERS = 6


def encode_control_key(record_type: ControlRecordType) -> bytes:
    return _CONTROL_KEY.pack(CONTROL_RECORD_KEY_VERSION, record_type)


def decode_control_key(key: bytes | None) -> int:
    """The type id of a control record key. Unknown ids are returned as they are:
    Kafka's readers ignore control records of types they do not know.

    Raises:
        WireError(CORRUPT_MESSAGE): key missing, shorter than 4 bytes, or a negative
            version (Kafka's ``ControlRecordType.parseTypeId``).
    """
    if key is None or len(key) < _CONTROL_KEY.size:
        raise WireError(
            f"control record key needs {_CONTROL_KEY.size} bytes, got {None if key is None else len(key)}",
            error_code=ErrorCode.CORRUPT_MESSAGE,
            field="control_key",
        )
    version, record_type = _CONTROL_KEY.unpack_from(key)
    if version < 0:
        raise WireError(
            f"invalid control record key version {version}", error_code=ErrorCode.CORRUPT_MESSAGE, field="control_key"
        )
    return record_type


class EndTxnMarker(NamedTuple):
    """A transaction marker as read from a control batch."""

    commit: bool
    coordinator_epoch: int
    producer_id: int
    producer_epoch: int
    offset: int
    timestamp: int


def build_end_txn_marker(
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    commit: bool,
    *,
    timestamp: int,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
) -> bytes:
    """The batch a partition leader appends for WriteTxnMarkers (Kafka's
    ``MemoryRecords.withEndTransactionMarker``): transactional, control, one record,
    no sequence, CreateTime ``timestamp``."""
    record = Record(
        0,
        0,
        encode_control_key(ControlRecordType.COMMIT if commit else ControlRecordType.ABORT),
        _END_TXN_VALUE.pack(END_TXN_MARKER_VALUE_VERSION, coordinator_epoch),
    )
    return build_batch(
        [record],
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        is_transactional=True,
        is_control=True,
        partition_leader_epoch=partition_leader_epoch,
        base_timestamp=timestamp,
    )


def parse_end_txn_marker(buf: bytes | bytearray | memoryview, pos: int = 0) -> EndTxnMarker | None:
    """Read the transaction marker of the control batch at ``pos``.

    Returns None when the batch is a control batch of another type (leader change,
    snapshot records, or a type this version does not know).

    Raises:
        WireError(CORRUPT_MESSAGE): not a transactional control batch, or a malformed
            marker key or value (``EndTransactionMarker.deserializeValue``).
    """
    header = read_batch_header(buf, pos)
    if not header.is_control or not header.is_transactional:
        raise _corrupt("not a transactional control batch", pos + ATTRIBUTES_OFFSET, "attributes")
    record = next(iter(iter_absolute_records(buf, pos)), None)
    if record is None:
        raise _corrupt("control batch holds no record", pos + RECORD_COUNT_OFFSET, "record_count")
    record_type = decode_control_key(record.key)
    if record_type not in (ControlRecordType.ABORT, ControlRecordType.COMMIT):
        return None
    value = record.value
    if value is None or len(value) < _END_TXN_VALUE.size:
        raise WireError(
            "transaction marker value needs 6 bytes", error_code=ErrorCode.CORRUPT_MESSAGE, field="end_txn_marker"
        )
    version, coordinator_epoch = _END_TXN_VALUE.unpack_from(value)
    if version < 0:
        raise WireError(
            f"invalid transaction marker version {version}",
            error_code=ErrorCode.CORRUPT_MESSAGE,
            field="end_txn_marker",
        )
    return EndTxnMarker(
        record_type == ControlRecordType.COMMIT,
        coordinator_epoch,
        header.producer_id,
        header.producer_epoch,
        record.offset,
        record.timestamp,
    )
