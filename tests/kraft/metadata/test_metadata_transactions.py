"""Metadata transactions (KIP-868) as MetadataService applies them: whole at their
EndTransactionRecord, never at an AbortTransactionRecord, as Kafka's MetadataLoader.

An Apache Kafka controller wraps its bootstrap records (and changes too large for one
batch) in Begin/EndTransactionRecord; a kafkapy broker or controller following its log
must never publish an image holding part of one.
"""

from __future__ import annotations

import trio
from metadata_doubles import SingleVoterLog
from test_metadata_service import start_broker

from kafkapy.kraft.metadata.records import (
    FeatureLevelRecord,
    PartitionRecord,
    TopicRecord,
    decode_record,
    encode_record,
)
from kafkapy.kraft.metadata.replication_control import NewTopic
from kafkapy.kraft.metadata.service import MetadataService
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.wire.messages.cluster_metadata.abort_transaction_record import AbortTransactionRecord
from kafkapy.wire.messages.cluster_metadata.begin_transaction_record import BeginTransactionRecord
from kafkapy.wire.messages.cluster_metadata.end_transaction_record import EndTransactionRecord

TOPIC_ID = bytes(range(16))
OTHER_ID = bytes(range(1, 17))


def entries(start: int, *records: object) -> list[LogEntry]:
    return [LogEntry(start + i, 1, encode_record(r)) for i, r in enumerate(records)]


def follower() -> MetadataService:
    """A service following another node's log (leader 2): it only applies commits."""
    service = MetadataService(SingleVoterLog(node_id=1), cluster_id="test-cluster")
    service.handle_leader_change(2, 1)
    return service


def test_a_transaction_is_published_whole_at_its_end():
    service = follower()
    published: list[int] = []
    service.add_publisher(lambda old, new: published.append(new.offset))
    service.handle_commit(entries(0, FeatureLevelRecord(name="metadata.version", feature_level=27),
                                  BeginTransactionRecord(name="create orders"),
                                  TopicRecord(name="orders", topic_id=TOPIC_ID)))
    # The batch's records after the BeginTransactionRecord are held back, and the image
    # stays at the last offset before it.
    assert service.image.metadata_version == 27 and service.image.offset == 0
    assert service.image.topic("orders") is None
    service.handle_commit(entries(3, PartitionRecord(partition_id=0, topic_id=TOPIC_ID, replicas=[2], isr=[2],
                                                     leader=2)))
    assert service.image.topic("orders") is None and service.image.offset == 0
    service.handle_commit(entries(4, EndTransactionRecord()))
    topic = service.image.topic("orders")
    assert topic is not None and list(topic.partitions) == [0] and service.image.offset == 4
    assert 1 not in published and 2 not in published and 3 not in published


def test_an_aborted_transaction_leaves_nothing():
    service = follower()
    service.handle_commit(entries(0, FeatureLevelRecord(name="metadata.version", feature_level=27),
                                  BeginTransactionRecord(name="half"), TopicRecord(name="half", topic_id=OTHER_ID),
                                  AbortTransactionRecord(reason="controller failover"),
                                  TopicRecord(name="after", topic_id=TOPIC_ID)))
    assert service.image.topic("half") is None
    assert service.image.topic("after") is not None and service.image.offset == 4


async def test_a_new_active_controller_aborts_the_transaction_its_predecessor_left_open(nursery, make_registration):
    log = SingleVoterLog(node_id=1)
    service = MetadataService(log, cluster_id="test-cluster")
    nursery.start_soon(log.run)
    nursery.start_soon(service.run)
    log.elect()
    await service.submit([FeatureLevelRecord(name="metadata.version", feature_level=27),
                          BeginTransactionRecord(name="left open"), TopicRecord(name="half", topic_id=OTHER_ID)])
    with trio.fail_after(10):
        while service._transaction is not None:
            await service.changed().wait()
    last = decode_record(log.entries[-1].value)
    assert isinstance(last, AbortTransactionRecord) and last.reason
    assert service.image.topic("half") is None
    # ... and it goes on: a broker registers and a topic of that name is created.
    await start_broker(service, make_registration)
    [created] = await service.create_topics([NewTopic("half", 1)])
    assert created.error.code == 0 and service.image.topic("half") is not None
