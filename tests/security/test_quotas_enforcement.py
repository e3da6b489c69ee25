"""Produce and fetch byte-rate quotas enforced on a running broker (Kafka's
``ClientQuotaManager``, KIP-13/55/219): the broker answers ``throttle_time_ms``, the
client's throttle callback sees it, and the throttled connection's next request waits.

Quotas are set with raw AlterClientQuotas requests (the kafka-configs runs are in
test_quotas_reference.py). Timing is asserted only as loose lower bounds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer

from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.alter_client_quotas import AlterClientQuotasRequest as Alter
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.records import Record, build_batch

TOPIC = "quota-topic"


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    with Broker() as broker:
        with KafkaConnection(broker.bootstrap_servers) as conn:
            created = conn.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
                name=TOPIC, num_partitions=1, replication_factor=1)], timeout_ms=10_000), 5)
            assert created.topics[0].error_code == 0
        yield broker.bootstrap_servers


def set_quota(bootstrap: str, entity: dict[str, str | None], key: str, value: float | None) -> None:
    with KafkaConnection(bootstrap) as conn:
        answer = conn.request(Alter(entries=[Alter.EntryData(
            entity=[Alter.EntityData(entity_type=t, entity_name=n) for t, n in entity.items()],
            ops=[Alter.OpData(key=key, value=value or 0.0, remove=value is None)])], validate_only=False), 1)
    assert [e.error_code for e in answer.entries] == [0], answer


def _wait_applied(bootstrap: str) -> None:
    """Alter answers once committed; the broker applies the image just after."""
    time.sleep(0.2)


def test_producer_over_its_quota_is_throttled(bootstrap: str) -> None:
    set_quota(bootstrap, {"client-id": "slow-producer"}, "producer_byte_rate", 2048)
    _wait_applied(bootstrap)
    throttles: list[float] = []
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "slow-producer", "linger.ms": 0,
                         "throttle_cb": lambda event: throttles.append(event.throttle_time)})
    for _ in range(30):
        producer.produce(TOPIC, b"x" * 1000)
    assert producer.flush(30) == 0
    for _ in range(50):  # the callback is served by poll
        producer.poll(0.1)
        if throttles:
            break
    assert throttles and max(throttles) > 0, "the broker answered throttle_time_ms and librdkafka reported it"
    # the channel is muted for the throttle time: the next record waits at least part of it
    started = time.monotonic()
    producer.produce(TOPIC, b"after")
    assert producer.flush(60) == 0
    assert time.monotonic() - started >= min(max(throttles), 5.0) / 2


def test_raw_produce_answers_throttle_time_and_the_next_request_waits(bootstrap: str) -> None:
    set_quota(bootstrap, {"user": None, "client-id": "raw-producer"}, "producer_byte_rate", 1800)
    _wait_applied(bootstrap)
    batch = build_batch([Record(0, 0, None, b"y" * 20_000)], base_timestamp=int(time.time() * 1000))
    request = ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=TOPIC, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])])
    with KafkaConnection(bootstrap, client_id="raw-producer") as conn:
        first = conn.request(request, 9)
        answered = time.monotonic()
        assert first.responses[0].partition_responses[0].error_code == 0
        # the request's bytes over the 10 s Kafka counts at first: (rate - 1800) / 1800 * 10 s
        assert 800 <= first.throttle_time_ms <= 1_500, first.throttle_time_ms
        with KafkaConnection(bootstrap, client_id="unlimited") as other:
            assert other.request(request, 9).throttle_time_ms == 0  # another client-id: no quota
        second = conn.request(request, 9)  # muted: handled once the throttle is over
        assert time.monotonic() - answered >= 0.8 * first.throttle_time_ms / 1000
        assert second.throttle_time_ms > first.throttle_time_ms  # 40 kB now counted
    set_quota(bootstrap, {"user": None, "client-id": "raw-producer"}, "producer_byte_rate", None)


def test_consumer_over_its_quota_is_throttled(bootstrap: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "filler"})
    for _ in range(200):
        producer.produce(TOPIC, b"z" * 1000)
    assert producer.flush(30) == 0
    set_quota(bootstrap, {"client-id": "slow-consumer"}, "consumer_byte_rate", 4096)
    _wait_applied(bootstrap)
    throttles: list[float] = []
    consumer = Consumer({"bootstrap.servers": bootstrap, "client.id": "slow-consumer", "group.id": "quota-group",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "throttle_cb": lambda event: throttles.append(event.throttle_time)})
    consumer.subscribe([TOPIC])
    received = 0
    try:
        for _ in range(300):  # bounded: stop once throttled after some data
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                received += 1
            if throttles and received:
                break
    finally:
        consumer.close()
    assert received > 0
    assert throttles and max(throttles) > 0
