"""The metadata record frame: golden bytes, round trips, and corrupt values."""

from __future__ import annotations

import pytest

from kafkapy.kraft.metadata.records import (
    BrokerRegistrationChangeRecord,
    ConfigRecord,
    FeatureLevelRecord,
    NoOpRecord,
    PartitionChangeRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
    decode_record,
    encode_record,
    record_type,
)
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError

TOPIC_ID = bytes(range(16))

# (record, framed value): frame version 1, type, version, then the flexible body
# (compact strings are length+1, every struct ends in an empty tagged-field section).
CASES = [
    (FeatureLevelRecord(name="metadata.version", feature_level=27),
     b"\x01\x0c\x00" + b"\x11metadata.version" + b"\x00\x1b" + b"\x00"),
    (TopicRecord(name="foo", topic_id=TOPIC_ID), b"\x01\x02\x00" + b"\x04foo" + TOPIC_ID + b"\x00"),
    (RemoveTopicRecord(topic_id=TOPIC_ID), b"\x01\x09\x00" + TOPIC_ID + b"\x00"),
    (ConfigRecord(resource_type=2, resource_name="foo", name="retention.ms", value=None),
     b"\x01\x04\x00" + b"\x02" + b"\x04foo" + b"\x0dretention.ms" + b"\x00" + b"\x00"),
    (NoOpRecord(), b"\x01\x14\x00\x00"),
    # PartitionChangeRecord: only tagged fields; leader (tag 1) = 2 -> one tag of 4 bytes
    (PartitionChangeRecord(partition_id=3, topic_id=TOPIC_ID, leader=2),
     b"\x01\x05\x01" + b"\x00\x00\x00\x03" + TOPIC_ID + b"\x01" + b"\x01\x04\x00\x00\x00\x02"),
    # BrokerRegistrationChangeRecord v2: fenced (tag 0) = -1
    (BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=7, fenced=-1),
     b"\x01\x11\x02" + b"\x00\x00\x00\x01" + b"\x00" * 7 + b"\x07" + b"\x01" + b"\x00\x01\xff"),
]


@pytest.mark.parametrize("record, value", CASES, ids=lambda x: type(x).__name__ if not isinstance(x, bytes) else "")
def test_golden_bytes(record, value):
    assert encode_record(record) == value
    assert decode_record(value) == record


def test_partition_record_written_at_v1_with_directories():
    record = PartitionRecord(partition_id=0, topic_id=TOPIC_ID, replicas=[1, 2], isr=[1], removing_replicas=[],
                             adding_replicas=[], leader=1, leader_epoch=4, partition_epoch=5,
                             directories=[bytes(16), b"\x01" * 16])
    value = encode_record(record)
    assert value[:3] == b"\x01\x03\x01" and record_type(record) == 3
    assert decode_record(value) == record


def test_decode_rejects_corrupt_values():
    good = encode_record(TopicRecord(name="foo", topic_id=TOPIC_ID))
    for bad in (b"\x02" + good[1:], b"\x01\x06\x00", b"\x01\x02\x05" + good[3:], good + b"\x00", good[:-3]):
        with pytest.raises(WireError) as info:
            decode_record(bad)
        assert info.value.error_code == ErrorCode.CORRUPT_MESSAGE
