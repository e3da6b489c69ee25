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


def mutation_answers(bootstrap: str) -> dict[str, object]:
    """CreateTopics v7, CreatePartitions v3 and DeleteTopics v6 past a controller_mutation_rate
    of 1 partition a second (a burst of 11): per-topic codes and messages, throttle times.
    The quota is on (default user, mutator), which wins over a default-user quota (KIP-55)."""
    from kafkapy.wire.messages.create_partitions import CreatePartitionsRequest
    from kafkapy.wire.messages.delete_topics import DeleteTopicsRequest

    set_quota(bootstrap, {"user": None, "client-id": "mutator"}, "controller_mutation_rate", 1)
    _wait_applied(bootstrap)
    out: dict[str, object] = {}
    with KafkaConnection(bootstrap, client_id="mutator") as conn:
        created = conn.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
            name=f"mut-{i}", num_partitions=5, replication_factor=1) for i in range(4)], timeout_ms=10_000), 7)
        out["create"] = sorted((t.name, t.error_code, t.error_message) for t in created.topics)
        out["create throttled"] = created.throttle_time_ms > 3000
    with KafkaConnection(bootstrap, client_id="mutator") as conn:
        more = conn.request(CreatePartitionsRequest(topics=[CreatePartitionsRequest.CreatePartitionsTopic(
            name="mut-0", count=6, assignments=None)], timeout_ms=10_000, validate_only=False), 3)
        out["partitions"] = [(r.name, r.error_code, r.error_message) for r in more.results]
        out["partitions throttled"] = more.throttle_time_ms > 0
    with KafkaConnection(bootstrap, client_id="mutator") as conn:
        deleted = conn.request(DeleteTopicsRequest(topics=[DeleteTopicsRequest.DeleteTopicState(name="mut-1")],
                                                   timeout_ms=10_000), 6)
        out["delete"] = [(r.name, r.error_code, r.error_message) for r in deleted.responses]
    with KafkaConnection(bootstrap, client_id="someone-else") as conn:  # no quota for this client
        deleted = conn.request(DeleteTopicsRequest(topics=[DeleteTopicsRequest.DeleteTopicState(
            name=f"mut-{i}") for i in range(3)], timeout_ms=10_000), 6)
        out["delete unlimited"] = sorted((r.name, r.error_code) for r in deleted.responses)
    set_quota(bootstrap, {"user": None, "client-id": "mutator"}, "controller_mutation_rate", None)
    return out


def test_controller_mutation_quota(bootstrap: str) -> None:
    answers = mutation_answers(bootstrap)
    throttled = (89, None)  # THROTTLING_QUOTA_EXCEEDED, no message (as Kafka answers it)
    # 11 tokens: three topics of 5 partitions pass (the third overdraws), the fourth is refused
    assert answers["create"] == [("mut-0", 0, None), ("mut-1", 0, None), ("mut-2", 0, None),
                                 ("mut-3", *throttled)]
    assert answers["create throttled"] is True
    assert answers["partitions"] == [("mut-0", *throttled)] and answers["partitions throttled"] is True
    assert answers["delete"] == [("mut-1", *throttled)]
    assert answers["delete unlimited"] == [("mut-0", 0), ("mut-1", 0), ("mut-2", 0)]


def test_before_kip219_the_response_waits_instead(bootstrap: str) -> None:
    set_quota(bootstrap, {"client-id": "old-producer"}, "producer_byte_rate", 1800)
    _wait_applied(bootstrap)
    batch = build_batch([Record(0, 0, None, b"o" * 20_000)], base_timestamp=int(time.time() * 1000))
    request = ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=TOPIC, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])])
    with KafkaConnection(bootstrap, client_id="old-producer") as conn:
        started = time.monotonic()
        answer = conn.request(request, 5)  # Produce v5: the broker holds the answer
        assert answer.throttle_time_ms > 0
        assert time.monotonic() - started >= 0.8 * answer.throttle_time_ms / 1000


def test_request_percentage_throttles_by_time_not_by_waiting(bootstrap: str) -> None:
    from kafkapy.wire.messages.fetch import FetchRequest
    from kafkapy.wire.messages.metadata import MetadataRequest

    set_quota(bootstrap, {"client-id": "busy"}, "request_percentage", 0.01)
    set_quota(bootstrap, {"client-id": "poller"}, "request_percentage", 1)
    _wait_applied(bootstrap)
    metadata = MetadataRequest(topics=None, allow_auto_topic_creation=False)
    with KafkaConnection(bootstrap, client_id="busy") as conn:
        throttle = 0
        for _ in range(200):  # 0.01% of a thread: 1 ms of handling in the 10 s window
            throttle = conn.request(metadata, 12).throttle_time_ms
            if throttle:
                break
        assert 0 < throttle <= 1000  # Kafka bounds a request-time throttle to one window
        answered = time.monotonic()
        conn.request(metadata, 12)
        assert time.monotonic() - answered >= 0.8 * throttle / 1000  # the channel was muted
    # long polls wait in purgatory 0.5 s each: waiting is not handling (1% would allow 0.1 s)
    with KafkaConnection(bootstrap, client_id="poller") as conn:
        created = conn.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
            name="empty-topic", num_partitions=1, replication_factor=1)], timeout_ms=10_000), 5)
        assert created.topics[0].error_code == 0
        poll = FetchRequest(replica_id=-1, max_wait_ms=500, min_bytes=1_000_000_000, max_bytes=1024,
                            isolation_level=0, session_id=0, session_epoch=-1, topics=[FetchRequest.FetchTopic(
                                topic="empty-topic", partitions=[FetchRequest.FetchPartition(
                                    partition=0, fetch_offset=0, partition_max_bytes=1024)])])
        throttles = []
        for _ in range(3):
            started = time.monotonic()
            throttles.append(conn.request(poll, 11).throttle_time_ms)
            assert time.monotonic() - started >= 0.4  # it did wait
        assert throttles == [0, 0, 0]
    set_quota(bootstrap, {"client-id": "busy"}, "request_percentage", None)
    set_quota(bootstrap, {"client-id": "poller"}, "request_percentage", None)
