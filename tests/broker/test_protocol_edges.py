"""Per-partition error codes and edge cases, spoken directly in the protocol.

Each case is one request through kafkapy's client codec against an in-process broker,
checked against what Apache Kafka answers.
"""

from __future__ import annotations

import time

import pytest

from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.describe_log_dirs import DescribeLogDirsRequest
from kafkapy.wire.messages.describe_topic_partitions import (
    DescribeTopicPartitionsRequest,
)
from kafkapy.wire.messages.fetch import FetchRequest
from kafkapy.wire.messages.list_offsets import ListOffsetsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.records import Record, build_batch
from tests.broker.test_bad_input import RawClient


@pytest.fixture
def client(broker):
    c = RawClient(broker.bootstrap_servers)
    yield c
    c.close()


def metadata(client: RawClient, *names: str, allow_create: bool = True, version: int = 12):
    return client.request(MetadataRequest(
        topics=[MetadataRequest.MetadataRequestTopic(name=n) for n in names],
        allow_auto_topic_creation=allow_create), version)


def produce(client: RawClient, topic: str, records: list[Record] | None = None, *, acks: int = -1,
            partition: int = 0, version: int = 9, base_timestamp: int | None = None):
    batch = build_batch(records or [Record(0, 0, b"k", b"v")],
                        base_timestamp=base_timestamp if base_timestamp is not None else int(time.time() * 1000))
    response = client.request(ProduceRequest(acks=acks, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=partition, records=batch)])]), version)
    return response.responses[0].partition_responses[0]


def fetch(client: RawClient, topic: str, offset: int, *, epoch: int = -1, version: int = 12, max_wait_ms: int = 0,
          session_epoch: int = -1, session_id: int = 0, topic_id: bytes | None = None):
    request = FetchRequest(replica_id=-1, max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 20,
                           isolation_level=0, session_id=session_id, session_epoch=session_epoch, topics=[
                               FetchRequest.FetchTopic(topic=topic, topic_id=topic_id or bytes(16), partitions=[
                                   FetchRequest.FetchPartition(partition=0, fetch_offset=offset,
                                                               current_leader_epoch=epoch,
                                                               partition_max_bytes=1 << 20)])])
    return client.request(request, version)


def test_metadata_auto_create_and_its_refusals(client, topic):
    # Allowed: created and described at once, with a topic id and a leader.
    t = metadata(client, topic).topics[0]
    assert t.error_code == ErrorCode.NONE and t.topic_id != bytes(16)
    assert [(p.partition_index, p.leader_id) for p in t.partitions] == [(0, 1)]
    # Not allowed by the request: unknown.
    assert metadata(client, topic + "-no", allow_create=False).topics[0].error_code == \
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    # Illegal name.
    assert metadata(client, "bad/name").topics[0].error_code == ErrorCode.INVALID_TOPIC_EXCEPTION
    # v0: an empty list means every topic.
    names = {t.name for t in client.request(MetadataRequest(topics=[]), 0).topics}
    assert topic in names


def test_metadata_by_topic_id(client, topic):
    topic_id = metadata(client, topic).topics[0].topic_id
    by_id = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(topic_id=topic_id, name=None)]),
                           12).topics[0]
    assert (by_id.name, by_id.error_code) == (topic, ErrorCode.NONE)
    unknown = client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(
        topic_id=b"\x01" * 16, name=None)]), 12).topics[0]
    assert unknown.error_code == ErrorCode.UNKNOWN_TOPIC_ID


def test_auto_create_disabled_by_config():
    with Broker({"auto.create.topics.enable": "false"}) as b:
        c = RawClient(b.bootstrap_servers)
        try:
            assert metadata(c, "never").topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            assert produce(c, "never").error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        finally:
            c.close()


def test_produce_errors_per_partition(client, topic):
    metadata(client, topic)
    assert produce(client, topic, partition=7).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert produce(client, topic, acks=2).error_code == ErrorCode.INVALID_REQUIRED_ACKS
    assert produce(client, "__consumer_offsets").error_code in (
        ErrorCode.INVALID_TOPIC_EXCEPTION, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    ok = produce(client, topic, acks=1, version=3)
    assert (ok.error_code, ok.base_offset, ok.log_append_time_ms) == (ErrorCode.NONE, 0, -1)
    ok = produce(client, topic, acks=-1, version=11)
    assert (ok.error_code, ok.base_offset, ok.log_start_offset) == (ErrorCode.NONE, 1, 0)


def test_log_append_time_topic_stamps_batches(broker, client, topic):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                  config={"message.timestamp.type": "LogAppendTime"})])[topic].result(30)
    before = int(time.time() * 1000)
    ok = produce(client, topic, base_timestamp=1000)
    assert ok.error_code == ErrorCode.NONE and ok.log_append_time_ms >= before


def test_fetch_errors_and_limits(client, topic):
    metadata(client, topic)
    for i in range(3):
        produce(client, topic, [Record(0, 0, None, b"%d" % i)])
    data = fetch(client, topic, 0).responses[0].partitions[0]
    assert (data.error_code, data.high_watermark, data.log_start_offset, data.last_stable_offset) == (
        ErrorCode.NONE, 3, 0, 3)
    assert len(data.records) > 0
    # Mid-log offset: whole batches from the one holding it.
    assert fetch(client, topic, 2).responses[0].partitions[0].error_code == ErrorCode.NONE
    # At the end: no data, no error. Past it: OFFSET_OUT_OF_RANGE.
    at_end = fetch(client, topic, 3).responses[0].partitions[0]
    assert (at_end.error_code, len(at_end.records or b"")) == (ErrorCode.NONE, 0)
    assert fetch(client, topic, 4).responses[0].partitions[0].error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    # Leader epoch fencing (v9+).
    assert fetch(client, topic, 0, epoch=99).responses[0].partitions[0].error_code == ErrorCode.UNKNOWN_LEADER_EPOCH
    # Unknown topic.
    assert fetch(client, topic + "-x", 0).responses[0].partitions[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    # Sessions (KIP-227, tests/broker/test_fetch_sessions.py): epoch 0 creates one, -1 none;
    # an incremental fetch for an unknown session is refused.
    assert fetch(client, topic, 0, session_epoch=0).session_id > 0
    assert fetch(client, topic, 0, session_epoch=-1).session_id == 0
    assert fetch(client, topic, 0, session_epoch=3, session_id=77).error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def test_fetch_by_topic_id(client, topic):
    topic_id = metadata(client, topic).topics[0].topic_id
    produce(client, topic)
    by_id = fetch(client, "", 0, version=13, topic_id=topic_id).responses[0]
    assert by_id.topic_id == topic_id and by_id.partitions[0].error_code == ErrorCode.NONE
    unknown = fetch(client, "", 0, version=13, topic_id=b"\x02" * 16).responses[0]
    assert unknown.partitions[0].error_code == ErrorCode.UNKNOWN_TOPIC_ID


def test_fetch_long_poll_times_out_empty(client, topic):
    metadata(client, topic)
    data = fetch(client, topic, 0, max_wait_ms=100).responses[0].partitions[0]
    assert (data.error_code, data.high_watermark, len(data.records or b"")) == (ErrorCode.NONE, 0, 0)


def test_list_offsets_special_timestamps(client, topic):
    metadata(client, topic)
    base = 1_700_000_000_000
    for i in range(4):
        produce(client, topic, [Record(0, 0, None, b"%d" % i)], base_timestamp=base + 10 * i)

    def list_offset(ts: int, version: int = 7, committed: int = 0):
        r = client.request(ListOffsetsRequest(replica_id=-1, isolation_level=committed, topics=[
            ListOffsetsRequest.ListOffsetsTopic(name=topic, partitions=[
                ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=ts)])]), version)
        p = r.topics[0].partitions[0]
        return p.error_code, p.offset, p.timestamp

    assert list_offset(-2) == (ErrorCode.NONE, 0, -1)
    assert list_offset(-1) == (ErrorCode.NONE, 4, -1)
    assert list_offset(-1, committed=1) == (ErrorCode.NONE, 4, -1)
    assert list_offset(-3, version=8) == (ErrorCode.NONE, 3, base + 30)
    assert list_offset(base + 15) == (ErrorCode.NONE, 2, base + 20)
    assert list_offset(base + 1000) == (ErrorCode.NONE, -1, -1)
    assert list_offset(-5, version=9)[1] == -1  # no tiered storage
    assert list_offset(-1, version=1)[1] == 4


def test_offset_for_leader_epoch(client, topic):
    metadata(client, topic)
    produce(client, topic)
    produce(client, topic)
    leader_epoch = metadata(client, topic).topics[0].partitions[0].leader_epoch
    r = client.request(OffsetForLeaderEpochRequest(replica_id=-1, topics=[
        OffsetForLeaderEpochRequest.OffsetForLeaderTopic(topic=topic, partitions=[
            OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
                partition=0, current_leader_epoch=leader_epoch, leader_epoch=leader_epoch)])]), 4)
    p = r.topics[0].partitions[0]
    assert (p.error_code, p.leader_epoch, p.end_offset) == (ErrorCode.NONE, leader_epoch, 2)


def test_describe_log_dirs_memory_and_disk(tmp_path):
    with Broker() as b:
        c = RawClient(b.bootstrap_servers)
        try:
            metadata(c, "in-memory")
            produce(c, "in-memory")
            [result] = c.request(DescribeLogDirsRequest(topics=None), 4).results
            assert (result.error_code, result.log_dir, result.total_bytes, result.usable_bytes) == (0, "memory", -1, -1)
            in_memory = next(t for t in result.topics if t.name == "in-memory")
            assert in_memory.partitions[0].partition_size > 0
        finally:
            c.close()
    with Broker({"log.dirs": str(tmp_path)}, memory=False) as b:
        c = RawClient(b.bootstrap_servers)
        try:
            metadata(c, "sized")
            produce(c, "sized")
            results = c.request(DescribeLogDirsRequest(topics=None), 4).results
            assert [r.log_dir for r in results] == [str(tmp_path)]
            sized = next(t for t in results[0].topics if t.name == "sized")
            assert sized.partitions[0].partition_size > 0
            assert results[0].total_bytes > 0 and results[0].usable_bytes > 0
        finally:
            c.close()


def test_describe_topic_partitions_paginates(broker, client, topic):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=5, replication_factor=1)])[topic].result(30)
    first = client.request(DescribeTopicPartitionsRequest(
        topics=[DescribeTopicPartitionsRequest.TopicRequest(name=topic)], response_partition_limit=3), 0)
    assert [p.partition_index for p in first.topics[0].partitions] == [0, 1, 2]
    assert (first.next_cursor.topic_name, first.next_cursor.partition_index) == (topic, 3)
    rest = client.request(DescribeTopicPartitionsRequest(
        topics=[DescribeTopicPartitionsRequest.TopicRequest(name=topic)], response_partition_limit=3,
        cursor=DescribeTopicPartitionsRequest.Cursor(topic_name=topic, partition_index=3)), 0)
    assert [p.partition_index for p in rest.topics[0].partitions] == [3, 4]
    assert rest.next_cursor is None
