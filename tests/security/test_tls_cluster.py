"""SSL controller and inter-broker listeners in a three-node cluster of ``kafkapy serve``
processes: the Raft quorum and the brokers' controller channels run over TLS (the
cluster elects a leader and registers its brokers only through them), and followers
fetch over TLS (ssl.client.auth=required, each broker presenting its key store), so
acks=all writes with min.insync.replicas=3 complete only if every follower keeps up
through it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from kafkapy.config import LISTENER_CONFIG_PREFIX, TOPIC_CONFIGS, BrokerConfig
from kafkapy.testing.cluster import REPLICATION_LISTENER, Cluster
from kafkapy.testing.tls import TestCertificates


_MIN_ISR = next(d.name for d in TOPIC_CONFIGS.values() if d.field == "min_insync_replicas")


@pytest.fixture
def certs() -> Iterator[TestCertificates]:
    made = TestCertificates()
    yield made
    made.cleanup()


def test_quorum_and_followers_over_tls(certs: TestCertificates) -> None:
    name = BrokerConfig.field_name
    replication = f"{LISTENER_CONFIG_PREFIX}{REPLICATION_LISTENER.lower()}."
    config = {
        name("listener_security_protocol_map"): f"CONTROLLER:SSL,PLAINTEXT:PLAINTEXT,{REPLICATION_LISTENER}:SSL",
        # The quorum and the controller channel over TLS with the broker-wide settings,
        # replication with the REPLICATION listener's own (mTLS).
        name("ssl_keystore_type"): "PEM",
        name("ssl_keystore_location"): certs.broker.pem,
        name("ssl_truststore_type"): "PEM",
        name("ssl_truststore_location"): certs.ca_file,
        replication + name("ssl_keystore_type"): "PEM",
        replication + name("ssl_keystore_location"): certs.broker.pem,
        replication + name("ssl_truststore_type"): "PEM",
        replication + name("ssl_truststore_location"): certs.ca_file,
        replication + name("ssl_client_auth"): "required",
    }
    with Cluster(3, config) as cluster:
        cluster.create_topics("replicated", replication_factor=3, config={_MIN_ISR: "3"})
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all",
                             "message.timeout.ms": 30000})
        errors: list[object] = []
        for i in range(100):
            producer.produce("replicated", f"v{i}".encode(), on_delivery=lambda err, msg: errors.append(err))
        assert producer.flush(40) == 0
        assert errors == [None] * 100
        state = cluster.partition_state("replicated")
        assert sorted(state.isr) == [1, 2, 3]
        for node in cluster.nodes.values():
            assert "SSL handshake failed" not in node.output()
