"""``__remote_log_metadata`` records, byte for byte as Kafka 4.1.2's
``RemoteLogMetadataSerde`` writes them (the hex below is what that class printed for
the same records), and the partition a topic-partition's records go to."""

from __future__ import annotations

import pytest

from kafkapy.storage.remote.metadata import (
    MetadataCodecError,
    RemoteLogSegmentId,
    RemoteLogSegmentMetadata,
    RemoteLogSegmentMetadataUpdate,
    RemoteLogSegmentState,
    RemotePartitionDeleteMetadata,
    RemotePartitionDeleteState,
    TopicIdPartition,
    decode,
    encode,
    metadata_partition,
    murmur2,
)
from kafkapy.storage.remote.segments import RemoteLogSegments

TP = TopicIdPartition(bytes(range(1, 17)), "orders", 3)
SEGMENT_ID = RemoteLogSegmentId(TP, bytes(range(0x11, 0x21)))
SEGMENT = RemoteLogSegmentMetadata(SEGMENT_ID, 100, 199, 1, 1_700_000_000_000, 1_700_000_001_000, {0: 100, 2: 150},
                                   20000, RemoteLogSegmentState.COPY_SEGMENT_STARTED, txn_index_empty=True)
UPDATE = RemoteLogSegmentMetadataUpdate(SEGMENT_ID, 1, 1_700_000_002_000, RemoteLogSegmentState.COPY_SEGMENT_FINISHED)
DELETE = RemotePartitionDeleteMetadata(TP, 1, 1_700_000_003_000, RemotePartitionDeleteState.DELETE_PARTITION_MARKED)

KAFKA_BYTES = {
    "segment": "010000076f72646572730102030405060708090a0b0c0d0e0f1000000003001112131415161718191a1b1c1d1e1f20000000"
               "00000000006400000000000000c7000000010000018bcfe568000000018bcfe56be803000000000000000000000064000000"
               "000200000000000000960000004e20000001000101",
    "update": "010100076f72646572730102030405060708090a0b0c0d0e0f1000000003001112131415161718191a1b1c1d1e1f2000000000"
              "010000018bcfe56fd0000100",
    "delete": "010200076f72646572730102030405060708090a0b0c0d0e0f100000000300000000010000018bcfe573b80000",
}


@pytest.mark.parametrize("name, record", [("segment", SEGMENT), ("update", UPDATE), ("delete", DELETE)])
def test_records_are_kafkas_bytes(name: str, record: object) -> None:
    assert encode(record).hex() == KAFKA_BYTES[name]  # type: ignore[arg-type]
    assert decode(bytes.fromhex(KAFKA_BYTES[name])) == record


def test_metadata_partition_is_kafkas() -> None:
    # Utils.toPositive(Utils.murmur2("AQIDBAUGBwgJCgsMDQ4PEA:orders-3")) printed by Kafka.
    assert str(TP) == "AQIDBAUGBwgJCgsMDQ4PEA:orders-3"
    assert murmur2(str(TP).encode()) & 0x7FFFFFFF == 263614618
    assert metadata_partition(TP, 50) == 263614618 % 50
    # Utils.murmur2 test vectors (Kafka's UtilsTest).
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482


def test_bad_values_are_one_error() -> None:
    good = bytes.fromhex(KAFKA_BYTES["segment"])
    for bad in (good[:20], b"\x02" + good[1:], good[:1] + b"\x09" + good[2:], b""):
        with pytest.raises(MetadataCodecError):
            decode(bad)


def test_segments_follow_their_records() -> None:
    segments = RemoteLogSegments()
    segments.apply(SEGMENT)
    assert segments.copied() == [] and segments.highest_offset == -1  # copy not finished
    segments.apply(UPDATE)
    assert [s.start_offset for s in segments.copied()] == [100] and segments.highest_offset == 199
    assert segments.segment_for(150).segment_id == SEGMENT_ID and segments.segment_for(50).start_offset == 100
    assert segments.segment_for(200) is None
    segments.apply(RemoteLogSegmentMetadataUpdate(SEGMENT_ID, 1, 0, RemoteLogSegmentState.DELETE_SEGMENT_STARTED))
    assert segments.copied() == [] and len(segments.unfinished()) == 1
    segments.apply(RemoteLogSegmentMetadataUpdate(SEGMENT_ID, 1, 0, RemoteLogSegmentState.DELETE_SEGMENT_FINISHED))
    assert segments.by_id == {}
