"""/metrics after known traffic: names, labels and values, over HTTP and from Broker.metrics().

One in-process broker with ``kafkapy.metrics.listener`` serves the module. The traffic
is known to the byte: confluent-kafka sends one record per batch when flushed after
each message, uncompressed, so a batch of a keyless, headerless record with a V-byte
value is 61 bytes of batch header plus the record (``DefaultRecord``: attributes,
timestamp and offset deltas, key length -1, value length, value, header count, all
behind a varint length).
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from kafkapy.broker.metrics_families import parse_exposition, sample_key
from kafkapy.config import METRICS_LISTENER
from kafkapy.testing import Broker

RECORDS = 10
VALUE_BYTES = 100
COMMITTED = 6
_BATCH_HEADER = 61
QUANTILES = ("0.50", "0.75", "0.95", "0.98", "0.99", "0.999")


def _varint_size(value: int) -> int:
    zigzag = (value << 1) ^ (value >> 63)
    size = 1
    while zigzag >= 0x80:
        zigzag >>= 7
        size += 1
    return size


def batch_size(value_bytes: int) -> int:
    """Bytes of a one-record batch (no key, no headers, deltas 0) as producers send it."""
    body = 1 + 1 + 1 + _varint_size(-1) + _varint_size(value_bytes) + value_bytes + _varint_size(0)
    return _BATCH_HEADER + _varint_size(body) + body


def produce(bootstrap: str, topic: str, count: int, value_bytes: int, **config: object) -> list[str]:
    """``count`` records, one batch each; the delivery errors' names (empty when all landed)."""
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "enable.idempotence": False, **config})
    for _ in range(count):
        producer.produce(topic, value=b"v" * value_bytes,
                         on_delivery=lambda err, _msg: errors.append(err.name()) if err is not None else None)
        producer.flush(30)
    assert producer.flush(30) == 0
    return errors


def scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.headers["Content-Type"], answer.read().decode()


@pytest.fixture(scope="module")
def metered() -> Iterator[tuple[Broker, str]]:
    """A broker with /metrics and a topic with RECORDS records, all consumed by a group
    that committed COMMITTED."""
    topic = f"metered-{uuid.uuid4().hex[:8]}"
    with Broker({METRICS_LISTENER: "http://127.0.0.1:0"}) as broker:
        broker.create_topics(topic)
        assert produce(broker.bootstrap_servers, topic, RECORDS, VALUE_BYTES) == []
        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": f"{topic}-group",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        try:
            consumer.subscribe([topic])
            seen = 0
            for _ in range(60):
                message = consumer.poll(1.0)
                if message is not None and message.error() is None:
                    seen += 1
                if seen == RECORDS:
                    break
            assert seen == RECORDS
            consumer.commit(offsets=[TopicPartition(topic, 0, COMMITTED)], asynchronous=False)
        finally:
            consumer.close()
        yield broker, topic


def test_topic_counters_count_the_bytes_and_messages_of_known_traffic(metered: tuple[Broker, str]) -> None:
    broker, topic = metered
    m = broker.metrics()
    expected_bytes = RECORDS * batch_size(VALUE_BYTES)
    assert m[f'kafka_server_brokertopicmetrics_messagesin_total{{topic="{topic}"}}'] == RECORDS
    assert m[f'kafka_server_brokertopicmetrics_bytesin_total{{topic="{topic}"}}'] == expected_bytes
    # The consumer read every batch once: the same bytes went out.
    assert m[f'kafka_server_brokertopicmetrics_bytesout_total{{topic="{topic}"}}'] == expected_bytes
    assert m[f'kafka_server_brokertopicmetrics_totalproducerequests_total{{topic="{topic}"}}'] == RECORDS
    assert m[f'kafka_server_brokertopicmetrics_totalfetchrequests_total{{topic="{topic}"}}'] >= 1
    assert m[f'kafka_server_brokertopicmetrics_failedproducerequests_total{{topic="{topic}"}}'] == 0
    # The all-topics series (Kafka's BrokerTopicMetrics without a topic key) sums them.
    assert m["kafka_server_brokertopicmetrics_messagesin_total"] >= RECORDS
    assert m["kafka_server_brokertopicmetrics_replicationbytesout_total"] == 0


def test_request_metrics_count_each_request_its_errors_and_its_time(metered: tuple[Broker, str]) -> None:
    broker, _ = metered
    m = broker.metrics()
    produce_requests = {k: v for k, v in m.items()
                        if k.startswith('kafka_network_requestmetrics_requests_total{request="Produce",version=')}
    assert sum(produce_requests.values()) >= RECORDS
    assert m['kafka_network_requestmetrics_errors_total{error="NONE",request="Produce"}'] >= RECORDS
    assert m['kafka_network_requestmetrics_totaltimems_count{request="Produce"}'] == sum(produce_requests.values())
    assert m['kafka_network_requestmetrics_totaltimems_sum{request="Produce"}'] > 0
    quantiles = [m[f'kafka_network_requestmetrics_totaltimems{{quantile="{q}",request="Produce"}}'] for q in QUANTILES]
    assert quantiles == sorted(quantiles) and quantiles[0] > 0
    # Fetches are timed as Fetch and as FetchConsumer (RequestChannel's fetchMetricNames).
    assert m['kafka_network_requestmetrics_totaltimems_count{request="FetchConsumer"}'] == \
        m['kafka_network_requestmetrics_totaltimems_count{request="Fetch"}'] > 0
    assert m['kafka_network_requestmetrics_errors_total{error="MEMBER_ID_REQUIRED",request="JoinGroup"}'] == 1


def test_failed_and_rejected_produce_are_counted_with_their_error_codes(metered: tuple[Broker, str]) -> None:
    broker, _ = metered
    small = f"small-{uuid.uuid4().hex[:8]}"
    strict = f"strict-{uuid.uuid4().hex[:8]}"
    broker.create_topics(small, config={"max.message.bytes": "200"})
    broker.create_topics(strict, config={"min.insync.replicas": "2"})
    before = broker.metrics()
    big = 300
    assert produce(broker.bootstrap_servers, small, 1, big) == ["MSG_SIZE_TOO_LARGE"]
    assert produce(broker.bootstrap_servers, strict, 1, 10, acks="all", retries=0) == ["NOT_ENOUGH_REPLICAS"]
    m = broker.metrics()
    # UnifiedLog: a batch over max.message.bytes counts its bytes as rejected, not as a failure.
    assert m[f'kafka_server_brokertopicmetrics_bytesrejected_total{{topic="{small}"}}'] == batch_size(big)
    assert m[f'kafka_server_brokertopicmetrics_failedproducerequests_total{{topic="{small}"}}'] == 0
    assert m[f'kafka_server_brokertopicmetrics_failedproducerequests_total{{topic="{strict}"}}'] == 1
    assert m[f'kafka_server_brokertopicmetrics_messagesin_total{{topic="{strict}"}}'] == 0

    def grew(key: str) -> float:
        return m.get(key, 0) - before.get(key, 0)

    assert grew('kafka_network_requestmetrics_errors_total{error="MESSAGE_TOO_LARGE",request="Produce"}') == 1
    assert grew('kafka_network_requestmetrics_errors_total{error="NOT_ENOUGH_REPLICAS",request="Produce"}') == 1


def test_partition_controller_and_group_gauges(metered: tuple[Broker, str]) -> None:
    broker, topic = metered
    m = broker.metrics()
    group = f"{topic}-group"
    labels = f'consumergroup="{group}",partition="0",topic="{topic}"'
    assert m[f"kafka_consumergroup_current_offset{{{labels}}}"] == COMMITTED
    assert m[f"kafka_consumergroup_lag{{{labels}}}"] == RECORDS - COMMITTED
    assert m[f'kafka_consumergroup_lag_sum{{consumergroup="{group}",topic="{topic}"}}'] == RECORDS - COMMITTED
    assert m[f'kafka_consumergroup_members{{consumergroup="{group}"}}'] == 0  # the consumer left
    assert m["kafka_coordinator_group_groupmetadatamanager_numgroupsempty"] >= 1
    assert m["kafka_coordinator_group_groupmetadatamanager_numoffsets"] >= 1
    topics = broker.topics()
    assert m["kafka_controller_kafkacontroller_globaltopiccount"] == len(topics)
    assert m["kafka_controller_kafkacontroller_globalpartitioncount"] == sum(topics.values())
    assert m["kafka_controller_kafkacontroller_activecontrollercount"] == 1
    assert m["kafka_controller_kafkacontroller_activebrokercount"] == 1
    assert m["kafka_controller_kafkacontroller_fencedbrokercount"] == 0
    assert m["kafka_controller_kafkacontroller_offlinepartitionscount"] == 0
    # One node leads every partition; min.insync.replicas=2 puts "strict" (when made) under it.
    assert m["kafka_server_replicamanager_leadercount"] == m["kafka_server_replicamanager_partitioncount"] \
        == sum(topics.values())
    assert m["kafka_server_replicamanager_underreplicatedpartitions"] == 0
    strict_topics = [t for t in topics if t.startswith("strict-")]
    assert m["kafka_server_replicamanager_underminisrpartitioncount"] == len(strict_topics)
    assert m["kafka_server_replicamanager_isrshrinks_total"] == m["kafka_server_replicamanager_isrexpands_total"] == 0


def test_http_endpoint_serves_the_same_numbers_with_process_metrics(metered: tuple[Broker, str]) -> None:
    broker, topic = metered
    assert broker.metrics_url is not None
    content_type, body = scrape(broker.metrics_url)
    assert content_type.startswith("text/plain; version=0.0.4")
    served = parse_exposition(body)
    direct = broker.metrics()
    for name in ("kafka_server_brokertopicmetrics_bytesin_total", "kafka_consumergroup_lag",
                 "kafka_controller_kafkacontroller_globaltopiccount"):
        keys = [k for k in direct if k == name or k.startswith(name + "{")]
        assert keys and all(served[k] == direct[k] for k in keys)
    assert "# TYPE kafka_server_brokertopicmetrics_messagesin_total counter" in body
    assert "# TYPE kafka_network_requestmetrics_totaltimems summary" in body
    assert served["process_cpu_seconds_total"] > 0 and served["process_resident_memory_bytes"] > 0
    assert any(k.startswith("python_info{") for k in served)
    assert 0 <= served["kafka_network_socketserver_networkprocessoravgidlepercent"] <= 1
    assert sample_key("kafka_consumergroup_lag", {"topic": topic, "consumergroup": "g", "partition": "0"}) == \
        f'kafka_consumergroup_lag{{consumergroup="g",partition="0",topic="{topic}"}}'
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(broker.metrics_url.replace("/metrics", "/other"), timeout=10)
    assert missing.value.code == 404


def test_the_endpoint_is_off_by_default() -> None:
    with Broker() as broker:
        assert broker.metrics_url is None
        assert broker.core.metrics.endpoint is None
        # The counters are kept all the same (as Kafka keeps its meters without JMX readers).
        broker.create_topics("unwatched")
        assert produce(broker.bootstrap_servers, "unwatched", 2, 5) == []
        assert broker.metrics()['kafka_server_brokertopicmetrics_messagesin_total{topic="unwatched"}'] == 2


def test_a_send_failure_is_not_a_delivery() -> None:
    # The helper must see errors, or the failure tests above could not fail.
    errors = produce("127.0.0.1:1", "nowhere", 1, 1, **{"message.timeout.ms": 500})
    assert errors and errors[0] in ("_MSG_TIMED_OUT", "_TRANSPORT")



def test_a_deleted_topic_leaves_its_series_and_the_totals_keep_its_counts(metered: tuple[Broker, str]) -> None:
    from confluent_kafka.admin import AdminClient

    broker, _ = metered
    doomed = f"doomed-{uuid.uuid4().hex[:8]}"
    broker.create_topics(doomed)
    assert produce(broker.bootstrap_servers, doomed, 3, 10) == []
    before = broker.metrics()
    assert before[f'kafka_server_brokertopicmetrics_messagesin_total{{topic="{doomed}"}}'] == 3
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    admin.delete_topics([doomed])[doomed].result(30)
    after = broker.metrics()
    assert not [k for k in after if f'topic="{doomed}"' in k]
    assert after["kafka_server_brokertopicmetrics_messagesin_total"] == \
        before["kafka_server_brokertopicmetrics_messagesin_total"]


def test_a_produce_to_an_unknown_topic_makes_no_series(metered: tuple[Broker, str]) -> None:
    from kafkapy.testing.client import KafkaConnection
    from kafkapy.wire.messages.produce import ProduceRequest

    broker, _ = metered
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    request = ProduceRequest(acks=1, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name=ghost, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=None)])])
    with KafkaConnection(broker.bootstrap_servers) as conn:
        answer = conn.request(request, 9)
    assert answer.responses[0].partition_responses[0].error_code == 3  # UNKNOWN_TOPIC_OR_PARTITION
    m = broker.metrics()
    assert not [k for k in m if ghost in k]
    assert m['kafka_network_requestmetrics_errors_total{error="UNKNOWN_TOPIC_OR_PARTITION",request="Produce"}'] >= 1
