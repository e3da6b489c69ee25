"""``__consumer_offsets`` records, byte-compatible with Kafka's group coordinator.

Each record's key and value are an int16 version followed by a message of Kafka's
coordinator schemas (``GroupCoordinatorRecordSerde``):

==========  ===========================  =====================================
key version  key                          value (its own int16 version first)
==========  ===========================  =====================================
0, 1         OffsetCommitKey              OffsetCommitValue v1 (with an expire
             (group, topic, partition)    timestamp) or v3 (with a leader epoch)
2            GroupMetadataKey (group)     GroupMetadataValue v3
==========  ===========================  =====================================

A null value is a tombstone: the offset, or the whole group, is deleted (compaction
then drops the key). KIP-848 consumer groups' records (key versions 3-8) are decoded
by :mod:`~kafkapy.broker.groups.consumer_records`; other versions (share and streams
groups) are skipped on replay.

Offsets of a transaction (TxnOffsetCommit) are written in transactional batches of
the producer and become visible when its COMMIT marker follows in the same partition;
ABORT drops them. :func:`decode_record` reads one record back (the coordinator runtime
reads the log, :mod:`.shard` replays it).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from kafkapy.broker.groups.classic_group import (
    ClassicGroup,
    OffsetAndMetadata,
    decode_versioned,
)
from kafkapy.broker.groups.consumer_records import (
    ConsumerRecord,
    decode_consumer_record,
)
from kafkapy.wire.messages.group_metadata_key import GroupMetadataKey
from kafkapy.wire.messages.group_metadata_value import GroupMetadataValue
from kafkapy.wire.messages.offset_commit_key import OffsetCommitKey
from kafkapy.wire.messages.offset_commit_value import OffsetCommitValue

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
#: OffsetCommitValue versions Kafka writes: 1 when an expire timestamp is set, else 3.
OFFSET_VALUE_VERSION_WITH_EXPIRY = 1
OFFSET_VALUE_VERSION = 3
GROUP_METADATA_VALUE_VERSION = 3
_OFFSET_KEY_VERSIONS = (0, 1)
_VERSION = struct.Struct(">h")

KeyValue = tuple[bytes, "bytes | None"]


def _key(version: int, message: object) -> bytes:
    """Keys are always schema version 0 behind the record-type version."""
    return _VERSION.pack(version) + message.to_bytes(0)  # type: ignore[attr-defined]


def offset_commit_record(group_id: str, topic: str, partition: int, value: OffsetAndMetadata | None) -> KeyValue:
    """The record of one committed offset; ``value`` None is its tombstone."""
    key = _key(OFFSET_COMMIT_KEY_VERSION, OffsetCommitKey(group=group_id, topic=topic, partition=partition))
    if value is None:
        return key, None
    if value.expire_timestamp is not None:
        version = OFFSET_VALUE_VERSION_WITH_EXPIRY
        expire = value.expire_timestamp
    else:
        version, expire = OFFSET_VALUE_VERSION, -1
    body = OffsetCommitValue(offset=value.offset, leader_epoch=value.leader_epoch, metadata=value.metadata,
                             commit_timestamp=value.commit_timestamp, expire_timestamp=expire)
    return key, _VERSION.pack(version) + body.to_bytes(version)


def group_metadata_record(group: ClassicGroup, assignment: dict[str, bytes] | None = None) -> KeyValue:
    """The record of a group's membership and generation (``newGroupMetadataRecord``).

    ``assignment`` overrides the members' current assignments (the leader's SyncGroup
    is stored before it is handed out).
    """
    key = _key(GROUP_METADATA_KEY_VERSION, GroupMetadataKey(group=group.group_id))
    protocol = group.protocol_name
    members = [
        GroupMetadataValue.MemberMetadata(
            member_id=m.member_id,
            group_instance_id=m.group_instance_id,
            client_id=m.client_id,
            client_host=m.client_host,
            rebalance_timeout=m.rebalance_timeout_ms,
            session_timeout=m.session_timeout_ms,
            subscription=m.metadata_for(protocol) if protocol is not None else b"",
            assignment=(assignment or {}).get(m.member_id, m.assignment),
        )
        for m in group.members.values()
    ]
    value = GroupMetadataValue(
        protocol_type=group.protocol_type or "",
        generation=group.generation_id,
        protocol=protocol,
        leader=group.leader_id,
        current_state_timestamp=group.current_state_timestamp if group.current_state_timestamp is not None else -1,
        members=members,
    )
    return key, _VERSION.pack(GROUP_METADATA_VALUE_VERSION) + value.to_bytes(GROUP_METADATA_VALUE_VERSION)


def group_tombstone(group_id: str) -> KeyValue:
    return _key(GROUP_METADATA_KEY_VERSION, GroupMetadataKey(group=group_id)), None


# --- reading back -------------------------------------------------------------------------


class OffsetRecord(NamedTuple):
    group_id: str
    topic: str
    partition: int
    value: OffsetAndMetadata | None


class GroupRecord(NamedTuple):
    group_id: str
    value: GroupMetadataValue | None


def decode_record(key: bytes | None, value: bytes | None) -> OffsetRecord | GroupRecord | ConsumerRecord | None:
    """A coordinator record, or None for record types this coordinator does not keep.

    Raises:
        WireError, ValueError: the bytes do not decode.
    """
    if key is None or len(key) < 2:
        return None
    version = _VERSION.unpack_from(key)[0]
    if version in _OFFSET_KEY_VERSIONS:
        k = OffsetCommitKey.decode(memoryview(key), 2, 0)[0]
        if value is None:
            return OffsetRecord(k.group, k.topic, k.partition, None)
        v = decode_versioned(OffsetCommitValue, value)
        return OffsetRecord(k.group, k.topic, k.partition, OffsetAndMetadata(
            v.offset, v.leader_epoch, v.metadata, v.commit_timestamp,
            v.expire_timestamp if v.expire_timestamp >= 0 else None))
    if version == GROUP_METADATA_KEY_VERSION:
        k2 = GroupMetadataKey.decode(memoryview(key), 2, 0)[0]
        return GroupRecord(k2.group, None if value is None else decode_versioned(GroupMetadataValue, value))
    return decode_consumer_record(key, value)
