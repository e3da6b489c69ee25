"""Fault injection (kafkapy.broker.faults through Broker.faults), each fault seen by a
real client over TCP: librdkafka (confluent-kafka), and the wire client for exact
response shapes."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.broker.faults import FaultInjector
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.list_offsets import ListOffsetsRequest
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.records import Record, build_batch
from tests.testing.clients import consume, produce


@pytest.fixture
def topic(kafka_broker) -> str:
    name = f"f-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topics(name, partitions=2)
    return name


def test_producer_retries_through_not_leader_and_succeeds(kafka_broker, topic):
    fault = kafka_broker.faults.fail("Produce", "NOT_LEADER_OR_FOLLOWER", count=2, topic=topic, partition=0)
    reports = produce(kafka_broker.bootstrap_servers, topic, [b"once"], retries=5, **{"retry.backoff.ms": 10})
    assert reports == [(None, 0)]
    assert fault.fired == 2 and not fault.active
    assert kafka_broker.faults.rules == []
    # The failed attempts appended nothing: the record is there exactly once.
    assert [r.value for r in kafka_broker.records(topic)] == [b"once"]


def test_non_retriable_error_reaches_the_application(kafka_broker, topic):
    kafka_broker.faults.fail("Produce", "TOPIC_AUTHORIZATION_FAILED", topic=topic)
    reports: list = []
    p = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "linger.ms": 0})
    p.produce(topic, b"denied", partition=0, on_delivery=lambda err, msg: reports.append(err))
    p.flush(30)
    assert reports[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert kafka_broker.records(topic) == []


def _produce_request(topic: str, partitions: list[int]) -> ProduceRequest:
    batch = build_batch([Record(0, 0, b"k", b"v")], base_timestamp=1_700_000_000_000)
    return ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=p, records=batch)
                                    for p in partitions])])


def test_only_the_faulted_partition_fails_in_a_shared_request(kafka_broker, topic):
    kafka_broker.faults.fail("Produce", "NOT_ENOUGH_REPLICAS", topic=topic, partition=1)
    with KafkaConnection(kafka_broker.bootstrap_servers) as conn:
        answer = conn.request(_produce_request(topic, [0, 1]), 9)
    codes = {p.index: (p.error_code, p.base_offset) for t in answer.responses for p in t.partition_responses}
    assert codes == {0: (ErrorCode.NONE, 0), 1: (ErrorCode.NOT_ENOUGH_REPLICAS, -1)}
    assert [r.partition for r in kafka_broker.records(topic)] == [0]


def test_list_offsets_fault_has_the_response_shape(kafka_broker, topic):
    kafka_broker.faults.fail("ListOffsets", "LEADER_NOT_AVAILABLE", topic=topic, partition=0)
    request = ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name=topic, partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=p, timestamp=-1)
                                for p in (0, 1)])])
    with KafkaConnection(kafka_broker.bootstrap_servers) as conn:
        first = conn.request(request, 7)
        second = conn.request(request, 7)  # count=1: the fault is spent
    got = {p.partition_index: (p.error_code, p.offset) for t in first.topics for p in t.partitions}
    assert got == {0: (ErrorCode.LEADER_NOT_AVAILABLE, -1), 1: (ErrorCode.NONE, 0)}
    assert all(p.error_code == ErrorCode.NONE for t in second.topics for p in t.partitions)


def test_consumer_reads_through_failed_fetches(kafka_broker, topic):
    produce(kafka_broker.bootstrap_servers, topic, [b"a", b"b", b"c"])
    fault = kafka_broker.faults.fail("Fetch", "NOT_LEADER_OR_FOLLOWER", count=3, topic=topic)
    got = consume(kafka_broker.bootstrap_servers, topic, 3)
    assert [m.value() for m in got] == [b"a", b"b", b"c"]
    assert fault.fired == 3


def test_delayed_fetch_still_delivers(kafka_broker, topic):
    produce(kafka_broker.bootstrap_servers, topic, [b"slow"])
    fault = kafka_broker.faults.delay("Fetch", ms=300, count=2, topic=topic)
    got = consume(kafka_broker.bootstrap_servers, topic, 1)
    assert [m.value() for m in got] == [b"slow"]
    # How many fetches the client sends before the record reaches it depends on timing
    # (usually two, one when the machine is slow); at least one was held back.
    assert 1 <= fault.fired <= 2


def test_client_survives_a_dropped_connection(kafka_broker, topic):
    fault = kafka_broker.faults.drop_connection("Metadata", count=1)
    reports = produce(kafka_broker.bootstrap_servers, topic, [b"after-drop"])
    assert reports == [(None, 0)]
    assert fault.fired == 1
    # A dropped Produce (dropped before it is handled): the client reconnects and
    # sends it again.
    fault = kafka_broker.faults.drop_connection("Produce", count=1, topic=topic)
    reports = produce(kafka_broker.bootstrap_servers, topic, [b"resent"])
    assert reports == [(None, 1)]
    assert fault.fired == 1
    assert [r.value for r in kafka_broker.records(topic, 0)] == [b"after-drop", b"resent"]


def test_leaderless_partition_then_restored(kafka_broker, topic):
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    epoch_before = kafka_broker.core.image.partition(topic, 0).leader_epoch
    kafka_broker.faults.make_leaderless(topic, 0)
    assert kafka_broker.leader(topic, 0) == -1
    md = admin.list_topics(topic, timeout=10).topics[topic].partitions[0]
    assert md.leader == -1 and md.error.code() == KafkaError.LEADER_NOT_AVAILABLE

    reports: list = []
    p = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "linger.ms": 0,
                  "message.timeout.ms": 60000})
    p.produce(topic, b"waits", partition=0, on_delivery=lambda err, msg: reports.append((err, msg.offset())))
    assert p.flush(0.5) == 1  # no leader: it cannot be delivered
    assert reports == []

    assert kafka_broker.faults.move_leader(topic, 0) == kafka_broker.node_id
    assert p.flush(30) == 0
    assert reports == [(None, 0)]
    part = kafka_broker.core.image.partition(topic, 0)
    assert part.leader == kafka_broker.node_id and part.leader_epoch == epoch_before + 2


def test_move_leader_bumps_the_epoch_and_clients_follow(kafka_broker, topic):
    produce(kafka_broker.bootstrap_servers, topic, [b"before"])
    epoch = kafka_broker.core.image.partition(topic, 0).leader_epoch
    kafka_broker.faults.move_leader(topic, 0)
    assert kafka_broker.core.image.partition(topic, 0).leader_epoch == epoch + 1
    produce(kafka_broker.bootstrap_servers, topic, [b"after"])
    assert [m.value() for m in consume(kafka_broker.bootstrap_servers, topic, 2)] == [b"before", b"after"]
    with pytest.raises(ValueError):
        kafka_broker.faults.move_leader(topic, 0, to=kafka_broker.node_id + 1)
    with pytest.raises(ValueError):
        kafka_broker.faults.make_leaderless("no-such-topic", 0)


def test_metadata_fault_per_topic_and_per_partition(kafka_broker, topic):
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    # count=None: the client's own bootstrap Metadata requests match the rule too.
    fault = kafka_broker.faults.fail("Metadata", "TOPIC_AUTHORIZATION_FAILED", topic=topic, count=None)
    md = admin.list_topics(topic, timeout=10).topics[topic]
    assert md.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    kafka_broker.faults.remove(fault)
    kafka_broker.faults.fail("Metadata", "LEADER_NOT_AVAILABLE", topic=topic, partition=1, count=None)
    md = admin.list_topics(topic, timeout=10).topics[topic]
    assert md.error is None
    assert md.partitions[1].error.code() == KafkaError.LEADER_NOT_AVAILABLE
    assert md.partitions[0].error is None


def test_create_topics_fault_per_topic(kafka_broker):
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    kafka_broker.faults.fail("CreateTopics", "POLICY_VIOLATION", topic="refused")
    futures = admin.create_topics([NewTopic("refused", 1, 1), NewTopic("accepted", 1, 1)])
    with pytest.raises(KafkaException) as info:
        futures["refused"].result(10)
    assert info.value.args[0].code() == KafkaError.POLICY_VIOLATION
    futures["accepted"].result(10)
    assert "accepted" in kafka_broker.topics() and "refused" not in kafka_broker.topics()


def test_top_level_error_for_apis_without_topics(kafka_broker):
    """DescribeCluster names no topics: its response's top-level error is set
    (kafka-python's admin client sends DescribeCluster; librdkafka uses Metadata)."""
    from kafka import KafkaAdminClient
    from kafka.errors import ClusterAuthorizationFailedError

    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        fault = kafka_broker.faults.fail("DescribeCluster", "CLUSTER_AUTHORIZATION_FAILED")
        with pytest.raises(ClusterAuthorizationFailedError):
            admin.describe_cluster()
        assert fault.fired == 1
        assert admin.describe_cluster()["cluster_id"] == kafka_broker.core.image.cluster_id
    finally:
        admin.close()


def test_rules_are_named_by_intent():
    faults = FaultInjector()
    with pytest.raises(ValueError, match="unknown API"):
        faults.fail("Produse", "NOT_LEADER_OR_FOLLOWER")
    with pytest.raises(ValueError, match="unknown Kafka error"):
        faults.fail("Produce", "NOT_A_LEADER")
    with pytest.raises(ValueError, match="partition needs its topic"):
        faults.fail("Produce", "NOT_LEADER_OR_FOLLOWER", partition=0)
    with pytest.raises(ValueError, match="no partitions"):
        faults.fail("CreateTopics", "POLICY_VIOLATION", topic="t", partition=0)
    with pytest.raises(ValueError, match="name no topics"):
        faults.drop_connection("FindCoordinator", topic="t")
    with pytest.raises(ValueError, match="count"):
        faults.delay("Fetch", ms=1, count=0)
    by_enum_name = faults.fail("LIST_OFFSETS", 6, count=None)
    assert by_enum_name.api == "ListOffsets" and by_enum_name.error is ErrorCode.NOT_LEADER_OR_FOLLOWER
    faults.remove(by_enum_name)
    faults.delay("Fetch", ms=5)
    faults.clear()
    assert faults.rules == []


def test_unlimited_rule_until_removed(kafka_broker, topic):
    fault = kafka_broker.faults.fail("Produce", "TOPIC_AUTHORIZATION_FAILED", count=None, topic=topic)
    for _ in range(3):
        with KafkaConnection(kafka_broker.bootstrap_servers) as conn:
            answer = conn.request(_produce_request(topic, [0]), 9)
        assert answer.responses[0].partition_responses[0].error_code == ErrorCode.TOPIC_AUTHORIZATION_FAILED
    assert fault.fired == 3 and fault.active
    kafka_broker.faults.remove(fault)
    assert produce(kafka_broker.bootstrap_servers, topic, [b"ok"]) == [(None, 0)]


def test_faults_survive_a_restart_of_the_broker():
    from kafkapy.testing import Broker

    with Broker(memory=False) as broker:
        broker.create_topics("kept")
        produce(broker.bootstrap_servers, "kept", [b"one"])
        fault = broker.faults.fail("Produce", "NOT_LEADER_OR_FOLLOWER", topic="kept")
        broker.stop()
        broker.start()
        assert produce(broker.bootstrap_servers, "kept", [b"two"], retries=3) == [(None, 1)]
        assert fault.fired == 1
        assert [r.value for r in broker.records("kept")] == [b"one", b"two"]


def test_delay_matches_topic_filter(kafka_broker, topic):
    other = f"{topic}-other"
    kafka_broker.create_topics(other)
    fault = kafka_broker.faults.delay("Produce", ms=50, topic=other)
    produce(kafka_broker.bootstrap_servers, topic, [b"x"])
    assert fault.fired == 0
    produce(kafka_broker.bootstrap_servers, other, [b"y"])
    assert fault.fired >= 1
