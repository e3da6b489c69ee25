"""Apache Kafka nodes and a kafkapy dynamic controller quorum (KIP-853, issue 17)."""

from __future__ import annotations

import pytest

from compat_tests.mixed_cluster import MixedCluster, describe_logs
from tests.mixed.conftest import KAFKA_VERSIONS
from tests.mixed.helpers import consume, create_topic, metadata, produce, until
from tests.reference import needs_reference

pytestmark = needs_reference


@pytest.mark.parametrize("kafka_version", KAFKA_VERSIONS)
def test_kafka_broker_finds_a_kafkapy_quorum_by_bootstrap_servers(tmp_path, kafka_version):
    with MixedCluster(tmp_path, kafka_version=kafka_version, dynamic=True) as mixed:
        mixed.add("kafkapy", 1, "controller")
        kafka = mixed.add("kafka", 2, "broker")
        mixed.start()
        create_topic(kafka.bootstrap_servers, "dyn", partitions=1, replication_factor=1)
        values = [f"v{i}".encode() for i in range(10)]
        produce(kafka.bootstrap_servers, "dyn", values, acks="all")
        assert sorted(consume(kafka.bootstrap_servers, "dyn", "g", len(values))) == sorted(values), describe_logs(mixed)
