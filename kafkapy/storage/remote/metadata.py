"""Remote segment metadata and its ``__remote_log_metadata`` records.

The record values are byte-compatible with Kafka's ``TopicBasedRemoteLogMetadataManager``
(``RemoteLogMetadataSerde``, an ``AbstractApiMessageSerde``): unsigned varints for the
frame version (1), the api key and the record version, then the flexible-version body
of one of
``RemoteLogSegmentMetadataRecord`` (0), ``RemoteLogSegmentMetadataUpdateRecord`` (1) or
``RemotePartitionDeleteMetadataRecord`` (2), as their schemas in ``kafka-storage`` say
(version 0; ``TxnIndexEmpty`` is tagged field 0 of the first). Records have no key, and
a partition's records go to metadata partition
``toPositive(murmur2("<topic id>:<topic>-<partition>")) % partitions``
(``RemoteLogMetadataTopicPartitioner``).

A codec of its own rather than generated message classes: these schemas live in
Kafka's storage module, not among the protocol messages.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import struct

REMOTE_LOG_METADATA_TOPIC = "__remote_log_metadata"


class RemoteLogSegmentState(enum.IntEnum):
    """``RemoteLogSegmentState``: a copy started, finished; a deletion started, finished."""

    COPY_SEGMENT_STARTED = 0
    COPY_SEGMENT_FINISHED = 1
    DELETE_SEGMENT_STARTED = 2
    DELETE_SEGMENT_FINISHED = 3


class RemotePartitionDeleteState(enum.IntEnum):
    """``RemotePartitionDeleteState``."""

    DELETE_PARTITION_MARKED = 0
    DELETE_PARTITION_STARTED = 1
    DELETE_PARTITION_FINISHED = 2


@dataclasses.dataclass(frozen=True, slots=True)
class TopicIdPartition:
    topic_id: bytes
    topic: str
    partition: int

    def __str__(self) -> str:
        """Kafka's ``TopicIdPartition.toString``: ``<id base64>:<topic>-<partition>``."""
        return f"{uuid_base64(self.topic_id)}:{self.topic}-{self.partition}"


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteLogSegmentId:
    tp: TopicIdPartition
    id: bytes

    @property
    def id_base64(self) -> str:
        return uuid_base64(self.id)


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteLogSegmentMetadata:
    """One remote segment (Kafka's ``RemoteLogSegmentMetadata``); ``end_offset`` inclusive.

    ``segment_leader_epochs`` maps each leader epoch of the segment to its first offset.
    """

    segment_id: RemoteLogSegmentId
    start_offset: int
    end_offset: int
    broker_id: int
    max_timestamp_ms: int
    event_timestamp_ms: int
    segment_leader_epochs: dict[int, int]
    segment_size_in_bytes: int
    state: RemoteLogSegmentState
    txn_index_empty: bool = False
    custom_metadata: bytes | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteLogSegmentMetadataUpdate:
    """A state change of a remote segment (``RemoteLogSegmentMetadataUpdate``)."""

    segment_id: RemoteLogSegmentId
    broker_id: int
    event_timestamp_ms: int
    state: RemoteLogSegmentState
    custom_metadata: bytes | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RemotePartitionDeleteMetadata:
    """A partition's remote data being deleted (``RemotePartitionDeleteMetadata``)."""

    tp: TopicIdPartition
    broker_id: int
    event_timestamp_ms: int
    state: RemotePartitionDeleteState


RemoteLogMetadata = RemoteLogSegmentMetadata | RemoteLogSegmentMetadataUpdate | RemotePartitionDeleteMetadata


class MetadataCodecError(ValueError):
    """A ``__remote_log_metadata`` value that does not decode."""


def uuid_base64(raw: bytes) -> str:
    """Kafka's ``Uuid.toString``: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` (signed 32-bit result)."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def metadata_partition(tp: TopicIdPartition, partitions: int) -> int:
    """The ``__remote_log_metadata`` partition of ``tp`` (``RemoteLogMetadataTopicPartitioner``)."""
    return (murmur2(str(tp).encode()) & 0x7FFFFFFF) % partitions


# --- writing ---


def _uv(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _cstr(out: bytearray, s: str) -> None:
    data = s.encode()
    _uv(out, len(data) + 1)
    out += data


def _ncbytes(out: bytearray, b: bytes | None) -> None:
    if b is None:
        _uv(out, 0)
    else:
        _uv(out, len(b) + 1)
        out += b


def _tp(out: bytearray, tp: TopicIdPartition) -> None:
    _cstr(out, tp.topic)
    out += tp.topic_id
    out += struct.pack(">i", tp.partition)
    _uv(out, 0)  # the struct's tagged fields


def _segment_id(out: bytearray, sid: RemoteLogSegmentId) -> None:
    _tp(out, sid.tp)
    out += sid.id
    _uv(out, 0)


#: ``AbstractApiMessageSerde.DEFAULT_FRAME_VERSION``.
FRAME_VERSION = 1


def encode(record: RemoteLogMetadata) -> bytes:
    """The record value Kafka's ``RemoteLogMetadataSerde`` writes (version 0)."""
    out = bytearray()
    _uv(out, FRAME_VERSION)
    if isinstance(record, RemoteLogSegmentMetadata):
        _uv(out, 0)
        _uv(out, 0)
        _segment_id(out, record.segment_id)
        out += struct.pack(">qqiqq", record.start_offset, record.end_offset, record.broker_id,
                           record.max_timestamp_ms, record.event_timestamp_ms)
        epochs = sorted(record.segment_leader_epochs.items())
        _uv(out, len(epochs) + 1)
        for epoch, offset in epochs:
            out += struct.pack(">iq", epoch, offset)
            _uv(out, 0)
        out += struct.pack(">i", record.segment_size_in_bytes)
        _ncbytes(out, record.custom_metadata)
        out += struct.pack(">b", int(record.state))
        if record.txn_index_empty:
            out += b"\x01\x00\x01\x01"  # one tagged field: tag 0, size 1, true
        else:
            _uv(out, 0)
    elif isinstance(record, RemoteLogSegmentMetadataUpdate):
        _uv(out, 1)
        _uv(out, 0)
        _segment_id(out, record.segment_id)
        out += struct.pack(">iq", record.broker_id, record.event_timestamp_ms)
        _ncbytes(out, record.custom_metadata)
        out += struct.pack(">b", int(record.state))
        _uv(out, 0)
    else:
        _uv(out, 2)
        _uv(out, 0)
        _tp(out, record.tp)
        out += struct.pack(">iqb", record.broker_id, record.event_timestamp_ms, int(record.state))
        _uv(out, 0)
    return bytes(out)


# --- reading ---


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise MetadataCodecError(f"value ends at {len(self.buf)}, {n} bytes wanted at {self.pos}")
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def uv(self) -> int:
        shift = n = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift > 28:
                raise MetadataCodecError(f"varint too long at {self.pos}")

    def cstr(self) -> str:
        n = self.uv()
        if n == 0:
            raise MetadataCodecError(f"null string at {self.pos}")
        return self.take(n - 1).decode()

    def ncbytes(self) -> bytes | None:
        n = self.uv()
        return None if n == 0 else self.take(n - 1)

    def tags(self) -> dict[int, bytes]:
        out = {}
        for _ in range(self.uv()):
            tag = self.uv()
            out[tag] = self.take(self.uv())
        return out

    def tp(self) -> TopicIdPartition:
        name = self.cstr()
        topic_id = self.take(16)
        (partition,) = self.unpack(">i")
        self.tags()
        return TopicIdPartition(topic_id, name, partition)

    def segment_id(self) -> RemoteLogSegmentId:
        tp = self.tp()
        sid = self.take(16)
        self.tags()
        return RemoteLogSegmentId(tp, sid)


def decode(value: bytes) -> RemoteLogMetadata:
    """A ``__remote_log_metadata`` record value; raises :class:`MetadataCodecError`."""
    r = _Reader(bytes(value))
    frame = r.uv()
    if frame != FRAME_VERSION:
        raise MetadataCodecError(f"unknown frame version {frame}")
    api_key, version = r.uv(), r.uv()
    if version > 1:
        raise MetadataCodecError(f"unknown version {version} of record type {api_key}")
    try:
        if api_key == 0:
            sid = r.segment_id()
            start, end, broker, max_ts, event_ts = r.unpack(">qqiqq")
            epochs = {}
            for _ in range(r.uv() - 1):
                epoch, offset = r.unpack(">iq")
                r.tags()
                epochs[epoch] = offset
            (size,) = r.unpack(">i")
            custom = r.ncbytes()
            (state,) = r.unpack(">b")
            tags = r.tags()
            return RemoteLogSegmentMetadata(sid, start, end, broker, max_ts, event_ts, epochs, size,
                                            RemoteLogSegmentState(state), tags.get(0, b"\x00") == b"\x01", custom)
        if api_key == 1:
            sid = r.segment_id()
            broker, event_ts = r.unpack(">iq")
            custom = r.ncbytes()
            (state,) = r.unpack(">b")
            r.tags()
            return RemoteLogSegmentMetadataUpdate(sid, broker, event_ts, RemoteLogSegmentState(state), custom)
        if api_key == 2:
            tp = r.tp()
            broker, event_ts, state = r.unpack(">iqb")
            r.tags()
            return RemotePartitionDeleteMetadata(tp, broker, event_ts, RemotePartitionDeleteState(state))
    except ValueError as exc:  # an unknown state id
        raise MetadataCodecError(str(exc)) from exc
    raise MetadataCodecError(f"unknown record type {api_key}")
