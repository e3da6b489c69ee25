"""SASL_SSL controller and inter-broker listeners in a three-node cluster of ``kafkapy
serve`` processes.

The quorum and the brokers' controller channels authenticate with PLAIN on the
controller listener (``sasl.mechanism.controller.protocol``), followers and the
transaction senders with SCRAM-SHA-512 on the REPLICATION listener
(``sasl.mechanism.inter.broker.protocol``), whose user exists from the first start
(``kafkapy storage format --add-scram``). Both listeners enable only that mechanism,
so nothing else could get through: the cluster elects a leader and registers its
brokers only if the controller clients authenticate, and acks=all writes with
min.insync.replicas=3 complete only if every follower fetches through SCRAM. Then the
partition's leader is killed: the others elect a new one and keep taking acks=all
writes, and a consumer reads every acknowledged record.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer

from kafkapy.broker.security.plain import LOGIN_MODULE as PLAIN_MODULE
from kafkapy.broker.security.sasl_client import SCRAM_LOGIN_MODULE
from kafkapy.config import LISTENER_CONFIG_PREFIX, TOPIC_CONFIGS, BrokerConfig
from kafkapy.testing.cluster import CONTROLLER_LISTENER, REPLICATION_LISTENER, Cluster
from kafkapy.testing.tls import TestCertificates

_MIN_ISR = next(d.name for d in TOPIC_CONFIGS.values() if d.field == "min_insync_replicas")
_NODE_PASSWORD = "controller-secret"
_BROKER_PASSWORD = "replication-secret"


@pytest.fixture
def certs() -> Iterator[TestCertificates]:
    made = TestCertificates()
    yield made
    made.cleanup()


def _config(certs: TestCertificates, *, broker_password: str = _BROKER_PASSWORD) -> dict[str, str]:
    name = BrokerConfig.field_name
    controller = f"{LISTENER_CONFIG_PREFIX}{CONTROLLER_LISTENER.lower()}."
    replication = f"{LISTENER_CONFIG_PREFIX}{REPLICATION_LISTENER.lower()}."
    jaas = name("sasl_jaas_config")
    return {
        name("listener_security_protocol_map"):
            f"{CONTROLLER_LISTENER}:SASL_SSL,PLAINTEXT:PLAINTEXT,{REPLICATION_LISTENER}:SASL_SSL",
        name("ssl_keystore_type"): "PEM",
        name("ssl_keystore_location"): certs.broker.pem,
        name("ssl_truststore_type"): "PEM",
        name("ssl_truststore_location"): certs.ca_file,
        controller + name("sasl_enabled_mechanisms"): "PLAIN",
        replication + name("sasl_enabled_mechanisms"): "SCRAM-SHA-512",
        name("sasl_mechanism_controller_protocol"): "PLAIN",
        name("sasl_mechanism_inter_broker_protocol"): "SCRAM-SHA-512",
        # The server's users and the node's own client credentials, in one entry (Kafka's form).
        f"{controller}plain.{jaas}":
            f'{PLAIN_MODULE} required username="node" password="{_NODE_PASSWORD}" user_node="{_NODE_PASSWORD}";',
        f"{replication}scram-sha-512.{jaas}":
            f'{SCRAM_LOGIN_MODULE} required username="broker" password="{broker_password}";',
    }


def _produce(cluster: Cluster, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all",
                         "message.timeout.ms": 60000})
    errors: list[object] = []
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(90) == 0
    assert errors == [None] * len(values)


def _wait_for_new_leader(cluster: Cluster, topic: str, old: int, deadline_s: float = 60.0) -> int:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        leader = cluster.leader_of(topic)
        if leader not in (-1, old):
            return leader
        time.sleep(0.25)
    raise AssertionError(f"no new leader for {topic} after killing {old}")


def test_quorum_and_replication_over_sasl_ssl_and_failover(certs: TestCertificates) -> None:
    with Cluster(3, _config(certs), add_scram=[f"SCRAM-SHA-512=[name=broker,password={_BROKER_PASSWORD}]"]) as cluster:
        # min.insync.replicas=3: each acks=all write waits for both followers' fetches.
        cluster.create_topics("all-three", replication_factor=3, config={_MIN_ISR: "3"})
        cluster.create_topics("replicated", replication_factor=3, config={_MIN_ISR: "2"})
        first = [f"a{i}".encode() for i in range(100)]
        _produce(cluster, "all-three", first)
        _produce(cluster, "replicated", first)
        state = cluster.partition_state("all-three")
        assert sorted(state.isr) == [1, 2, 3]

        old = cluster.leader_of("replicated")
        cluster.kill_node(old)
        new = _wait_for_new_leader(cluster, "replicated", old)
        second = [f"b{i}".encode() for i in range(50)]
        _produce(cluster, "replicated", second)
        assert new != old and old not in cluster.partition_state("replicated").isr

        consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": uuid.uuid4().hex,
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe(["replicated"])
        seen: list[bytes] = []
        deadline = time.monotonic() + 60
        while len(seen) < len(first) + len(second) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.append(message.value())
        consumer.close()
        assert seen == first + second
        for node in cluster.nodes.values():
            assert "authentication as" not in node.output()  # sasl_client's failure line


def test_a_wrong_inter_broker_password_keeps_a_follower_out(certs: TestCertificates) -> None:
    """Node 3 presents a wrong SCRAM password on the REPLICATION listener: its fetches
    fail authentication, it says why, and the leaders drop it from the ISR once
    ``replica.lag.time.max.ms`` passes without a fetch from it."""
    name = BrokerConfig.field_name
    scram = f"{LISTENER_CONFIG_PREFIX}{REPLICATION_LISTENER.lower()}.scram-sha-512.{name('sasl_jaas_config')}"
    wrong = _config(certs, broker_password="not-the-password")[scram]
    config = {**_config(certs), name("replica_lag_time_max_ms"): "2000"}
    with Cluster(3, config, node_config={3: {scram: wrong}},
                 add_scram=[f"SCRAM-SHA-512=[name=broker,password={_BROKER_PASSWORD}]"]) as cluster:
        topics = [f"t{i}" for i in range(3)]
        cluster.create_topics(*topics, replication_factor=3)
        deadline = time.monotonic() + 40
        led_elsewhere = []
        while time.monotonic() < deadline:
            states = [cluster.partition_state(topic) for topic in topics]
            led_elsewhere = [s for s in states if s.leader not in (-1, 3)]
            if led_elsewhere and all(3 not in s.isr for s in led_elsewhere):
                break
            time.sleep(0.5)
        assert led_elsewhere and all(3 not in s.isr for s in led_elsewhere)
        assert "SCRAM-SHA-512 authentication as broker on listener REPLICATION failed" in cluster.nodes[3].output()
        assert "authentication as" not in cluster.nodes[1].output() + cluster.nodes[2].output()
