"""A compacted topic refuses records without a key, as Kafka's ``LogValidator`` does:
INVALID_RECORD for the partition, one record error per keyless record (Produce v8+),
nothing appended."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, Producer

from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.records import Record, build_batch


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        b.create_topics("compacted", config={"cleanup.policy": "compact"})
        b.create_topics("plain")
        yield b


def _produce(bootstrap: str, topic: str, records: list[Record], version: int):
    batch = build_batch(records)
    request = ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])])
    with KafkaConnection(bootstrap) as conn:
        return conn.request(request, version).responses[0].partition_responses[0]


def test_keyless_records_are_named_by_batch_index(broker):
    records = [Record(0, 0, b"k", b"v"), Record(1, 0, None, b"v"), Record(2, 0, None, b"v")]
    answer = _produce(broker.bootstrap_servers, "compacted", records, 9)
    assert (answer.error_code, answer.base_offset, answer.log_start_offset) == (ErrorCode.INVALID_RECORD, -1, 0)
    message = "Compacted topic cannot accept message without key in topic partition compacted-0"
    assert [(e.batch_index, e.batch_index_error_message) for e in answer.record_errors] == [(1, message), (2, message)]
    assert answer.error_message.startswith("One or more records have been rejected due to 2 record errors in total")
    old = _produce(broker.bootstrap_servers, "compacted", records, 7)  # before v8: the code alone
    assert (old.error_code, old.record_errors) == (ErrorCode.INVALID_RECORD, [])
    assert broker.records("compacted") == []


def test_keyed_records_and_plain_topics_are_taken(broker):
    assert _produce(broker.bootstrap_servers, "compacted", [Record(0, 0, b"k", b"v")], 9).error_code == ErrorCode.NONE
    assert _produce(broker.bootstrap_servers, "plain", [Record(0, 0, None, b"v")], 9).error_code == ErrorCode.NONE


def test_librdkafka_reports_invalid_record(broker):
    reports: list = []
    p = Producer({"bootstrap.servers": broker.bootstrap_servers, "enable.idempotence": False})
    p.produce("compacted", value=b"no key", on_delivery=lambda err, msg: reports.append(err))
    p.flush(10)
    assert [e.code() for e in reports] == [KafkaError.INVALID_RECORD]
