"""``__cluster_metadata`` entries as Kafka's v2 record batches, and back.

Data records keep a null key and their value bytes as the metadata layer encoded them.
KRaft control records go in control batches: key = version 0 + ``ControlRecordType``,
value = the flexible data message (``LeaderChangeMessage``, ``KRaftVersionRecord``,
``VotersRecord``, ``SnapshotHeaderRecord``, ``SnapshotFooterRecord``) as Kafka's
``ControlRecordUtils`` writes it. A batch's partition leader epoch is the Raft epoch.
Consecutive entries of one epoch and one kind share a batch, as a leader's append does.

Snapshots (KIP-630, ``RecordsSnapshotWriter``) are a control batch with the
SnapshotHeaderRecord (plus KRaftVersionRecord and VotersRecord when kraft.version >= 1),
the data batches, and a control batch with the SnapshotFooterRecord;
:class:`KafkaSnapshotCodec` writes and reads that layout.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any

from kafkapy.kraft.raft.errors import RaftError
from kafkapy.kraft.raft.messages import OffsetAndEpoch
from kafkapy.kraft.raft.records import (
    ControlRecord,
    ControlRecordType,
    Endpoint,
    KRaftVersionRecord,
    LeaderChangeMessage,
    LogEntry,
    Voter,
    VotersRecord,
)
from kafkapy.kraft.raft.snapshot import SnapshotContent
from kafkapy.kraft.raft.voters import VoterSet
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.messages import k_raft_version_record as _kv
from kafkapy.wire.messages import leader_change_message as _lc
from kafkapy.wire.messages import snapshot_footer_record as _sf
from kafkapy.wire.messages import snapshot_header_record as _sh
from kafkapy.wire.messages import voters_record as _vr
from kafkapy.wire.primitives import ZERO_UUID
from kafkapy.wire.records import (
    Record,
    build_batch,
    decode_control_key,
    encode_control_key,
    iter_absolute_records,
    iter_batches,
    iter_records,
    validate_batch,
)


def uuid_bytes(uuid: str | None) -> bytes:
    """Kafka's Uuid string (URL-safe base64, no padding) as 16 bytes; None is Uuid.ZERO."""
    return ZERO_UUID if uuid is None else base64.urlsafe_b64decode(uuid + "==")


def uuid_str(raw: bytes) -> str | None:
    return None if raw == ZERO_UUID else base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- control record values -----------------------------------------------------------


def _wire_voters(voters: Sequence[Voter]) -> list[Any]:
    return [
        _vr.VotersRecord.Voter(
            voter_id=v.voter_id, voter_directory_id=uuid_bytes(v.voter_directory_id),
            endpoints=[_vr.VotersRecord.Endpoint(name=e.name, host=e.host, port=e.port) for e in v.endpoints],
            k_raft_version_feature=_vr.VotersRecord.KRaftVersionFeature(
                min_supported_version=v.kraft_version_feature[0], max_supported_version=v.kraft_version_feature[1]),
        )
        for v in voters
    ]


def encode_control(record: ControlRecord) -> bytes:
    if isinstance(record, LeaderChangeMessage):
        voter = _lc.LeaderChangeMessage.Voter
        return _lc.LeaderChangeMessage(
            version=record.version, leader_id=record.leader_id,
            voters=[voter(voter_id=v) for v in record.voters],
            granting_voters=[voter(voter_id=v) for v in record.granting_voters],
        ).to_bytes(record.version)
    if isinstance(record, KRaftVersionRecord):
        return _kv.KRaftVersionRecord(version=record.version, k_raft_version=record.kraft_version).to_bytes(0)
    return _vr.VotersRecord(version=record.version, voters=_wire_voters(record.voters)).to_bytes(0)


def decode_control(record_type: int, value: bytes) -> ControlRecord | None:
    """The control record of ``record_type``; None for snapshot header/footer and unknown types."""
    if record_type == ControlRecordType.LEADER_CHANGE:
        version = int.from_bytes(value[:2], "big", signed=True) if len(value) >= 2 else 0
        m = _lc.LeaderChangeMessage.from_bytes(value, min(max(version, 0), 1))
        return LeaderChangeMessage(m.leader_id, tuple(v.voter_id for v in m.voters),
                                   tuple(v.voter_id for v in m.granting_voters), m.version)
    if record_type == ControlRecordType.KRAFT_VERSION:
        k = _kv.KRaftVersionRecord.from_bytes(value, 0)
        return KRaftVersionRecord(k.k_raft_version, k.version)
    if record_type == ControlRecordType.KRAFT_VOTERS:
        r = _vr.VotersRecord.from_bytes(value, 0)
        return VotersRecord(tuple(
            Voter(v.voter_id, uuid_str(v.voter_directory_id),
                  tuple(Endpoint(e.name, e.host, e.port) for e in v.endpoints),
                  (v.k_raft_version_feature.min_supported_version, v.k_raft_version_feature.max_supported_version))
            for v in r.voters), r.version)
    return None


# --- entries <-> batches -------------------------------------------------------------


def _runs(entries: Sequence[LogEntry]) -> Iterator[Sequence[LogEntry]]:
    start = 0
    for i in range(1, len(entries) + 1):
        if i == len(entries) or entries[i].epoch != entries[start].epoch \
                or entries[i].is_control != entries[start].is_control:
            yield entries[start:i]
            start = i


def encode_entries(entries: Sequence[LogEntry], timestamp_ms: int = -1) -> bytes:
    """The batches holding ``entries`` (consecutive offsets), one per run of epoch and kind."""
    out = bytearray()
    for run in _runs(entries):
        base = run[0].offset
        control = run[0].is_control
        records = [
            Record(e.offset - base, 0, encode_control_key(e.value.record_type), encode_control(e.value))  # type: ignore[union-attr]
            if control else Record(e.offset - base, 0, None, e.value)  # type: ignore[arg-type]
            for e in run
        ]
        out += build_batch(records, base_offset=base, is_control=control, partition_leader_epoch=run[0].epoch,
                           base_timestamp=timestamp_ms)
    return bytes(out)


def decode_entries(data: bytes | memoryview, *, check_crc: bool = True) -> list[LogEntry]:
    """The entries of concatenated batches (a fetch response or a segment read).

    Raises:
        RaftError(CORRUPT_MESSAGE): a bad batch, or a control record the log cannot hold.
    """
    entries: list[LogEntry] = []
    try:
        for pos, header in iter_batches(data):
            if check_crc:
                validate_batch(data, pos)
            if not header.is_control:
                # Data records (the metadata records, most of a grown log): the value is
                # all an entry keeps, so no absolute record is built for each.
                base, epoch = header.base_offset, header.partition_leader_epoch
                for r in iter_records(data, pos):
                    if r.value is None:
                        raise RaftError(f"unexpected control record at offset {base + r.offset_delta}",
                                        ErrorCode.CORRUPT_MESSAGE)
                    entries.append(LogEntry(base + r.offset_delta, epoch, r.value))
                continue
            for record in iter_absolute_records(data, pos):
                value: bytes | ControlRecord | None = record.value
                if header.is_control:
                    value = decode_control(decode_control_key(record.key), record.value or b"")
                if value is None:
                    raise RaftError(f"unexpected control record at offset {record.offset}", ErrorCode.CORRUPT_MESSAGE)
                entries.append(LogEntry(record.offset, header.partition_leader_epoch, value))
    except WireError as e:
        raise RaftError(f"bad metadata log batch: {e}", ErrorCode.CORRUPT_MESSAGE) from e
    return entries


# --- snapshots -----------------------------------------------------------------------


class KafkaSnapshotCodec:
    """Snapshot files in Kafka's layout (``RecordsSnapshotWriter``, KIP-630 / KIP-853)."""

    def __init__(self, records_per_batch: int = 1024) -> None:
        self.records_per_batch = records_per_batch

    def encode(self, content: SnapshotContent) -> bytes:
        snapshot_id = content.snapshot_id
        header: list[Record] = [Record(0, 0, encode_control_key(ControlRecordType.SNAPSHOT_HEADER),
                                       _sh.SnapshotHeaderRecord(
                                           version=0,
                                           last_contained_log_timestamp=content.last_contained_log_timestamp,
                                       ).to_bytes(0))]
        if content.kraft_version >= 1 and content.voters is not None:
            header.append(Record(1, 0, encode_control_key(ControlRecordType.KRAFT_VERSION),
                                 encode_control(KRaftVersionRecord(content.kraft_version))))
            header.append(Record(2, 0, encode_control_key(ControlRecordType.KRAFT_VOTERS),
                                 encode_control(content.voters.to_record())))
        out = bytearray(build_batch(header, is_control=True, partition_leader_epoch=snapshot_id.epoch,
                                    base_timestamp=content.last_contained_log_timestamp))
        offset = len(header)
        records = content.records
        for i in range(0, len(records), self.records_per_batch):
            chunk = records[i:i + self.records_per_batch]
            out += build_batch([Record(j, 0, None, v) for j, v in enumerate(chunk)], base_offset=offset,
                               partition_leader_epoch=snapshot_id.epoch,
                               base_timestamp=content.last_contained_log_timestamp)
            offset += len(chunk)
        footer = [Record(0, 0, encode_control_key(ControlRecordType.SNAPSHOT_FOOTER),
                         _sf.SnapshotFooterRecord(version=0).to_bytes(0))]
        out += build_batch(footer, base_offset=offset, is_control=True, partition_leader_epoch=snapshot_id.epoch,
                           base_timestamp=content.last_contained_log_timestamp)
        return bytes(out)

    def decode(self, data: bytes, snapshot_id: OffsetAndEpoch | None = None) -> SnapshotContent:
        """Read a snapshot file; its id comes from the file name (or the data's epoch).

        Raises:
            RaftError(CORRUPT_MESSAGE): bad batches, or no header / footer record.
        """
        voters: VoterSet | None = None
        kraft_version = 0
        values: list[bytes] = []
        timestamp = -1
        saw = set()
        epoch = -1
        try:
            for pos, header in iter_batches(data):
                validate_batch(data, pos)
                epoch = header.partition_leader_epoch
                for record in iter_absolute_records(data, pos):
                    if not header.is_control:
                        values.append(record.value or b"")
                        continue
                    record_type = decode_control_key(record.key)
                    saw.add(record_type)
                    if record_type == ControlRecordType.SNAPSHOT_HEADER:
                        timestamp = _sh.SnapshotHeaderRecord.from_bytes(record.value or b"", 0).last_contained_log_timestamp
                    elif record_type in (ControlRecordType.KRAFT_VERSION, ControlRecordType.KRAFT_VOTERS):
                        control = decode_control(record_type, record.value or b"")
                        if isinstance(control, KRaftVersionRecord):
                            kraft_version = control.kraft_version
                        elif isinstance(control, VotersRecord):
                            voters = VoterSet.from_record(control)
        except WireError as e:
            raise RaftError(f"bad snapshot: {e}", ErrorCode.CORRUPT_MESSAGE) from e
        if ControlRecordType.SNAPSHOT_HEADER not in saw or ControlRecordType.SNAPSHOT_FOOTER not in saw:
            raise RaftError("snapshot without header or footer record", ErrorCode.CORRUPT_MESSAGE)
        return SnapshotContent(snapshot_id or OffsetAndEpoch(-1, epoch), voters, tuple(values), kraft_version, timestamp)
