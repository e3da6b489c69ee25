"""TLS listeners with real clients: confluent-kafka (librdkafka) and kafka-python over SSL,
mTLS with the principal taken from the client certificate, SASL_SSL with SCRAM-SHA-512,
PEM and PKCS12 key stores; and what must fail: a client that does not trust the CA, a
plaintext client on the TLS port (never served), a missing client certificate."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from kafkapy.config import BrokerConfig
from kafkapy.testing import Broker
from kafkapy.testing.acls import allow

ALICE, BOB = "alice", "bob"
SCRAM = "SCRAM-SHA-512"


def _produce(config: dict[str, Any], topic: str, values: list[bytes]) -> None:
    producer = Producer({**config, "acks": "all", "message.timeout.ms": 20000})
    errors: list[Any] = []
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert producer.flush(30) == 0
    assert errors == []


def _consume(config: dict[str, Any], topic: str, count: int) -> list[bytes]:
    consumer = Consumer({**config, "group.id": f"g-{topic}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        out: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(out) < count and time.monotonic() < deadline:
            for message in consumer.consume(1000, 1.0):
                assert message.error() is None, message.error()
                out.append(message.value())
        return out
    finally:
        consumer.close()


def _metadata_fails(config: dict[str, Any]) -> bool:
    try:
        AdminClient({**config, "socket.timeout.ms": 3000}).list_topics(timeout=4)
    except KafkaException:
        return True
    return False


@pytest.fixture(scope="module")
def ssl_broker() -> Iterator[Broker]:
    """On disk, so fetches answer with file regions (read and encrypted, not sendfile)."""
    with Broker(tls=True, memory=False) as broker:
        broker.create_topics("tls")
        yield broker


def test_confluent_kafka_over_ssl_produces_and_consumes(ssl_broker: Broker) -> None:
    config = ssl_broker.tls_client_config()
    assert config["security.protocol"] == "SSL"
    values = [bytes([i % 256]) * 10_000 for i in range(300)]  # ~3 MB: many TLS records per fetch
    _produce(config, "tls", values)
    assert _consume(config, "tls", len(values)) == values


def test_kafka_python_over_ssl(ssl_broker: Broker) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KPTopicPartition

    config = ssl_broker.tls_client_config("kafka-python")
    ssl_broker.create_topics("tls-kp")
    producer = KafkaProducer(**config, acks="all")
    for i in range(50):
        producer.send("tls-kp", f"v{i}".encode())
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(**config, consumer_timeout_ms=10000, enable_auto_commit=False)
    consumer.assign([KPTopicPartition("tls-kp", 0)])
    consumer.seek_to_beginning()
    got = [m.value for _, m in zip(range(50), consumer, strict=False)]
    consumer.close()
    assert got == [f"v{i}".encode() for i in range(50)]


def test_fault_injection_works_over_tls(ssl_broker: Broker) -> None:
    ssl_broker.create_topics("tls-faults")
    ssl_broker.faults.fail("Produce", "TOPIC_AUTHORIZATION_FAILED", count=1, topic="tls-faults")
    producer = Producer({**ssl_broker.tls_client_config(), "message.timeout.ms": 10000})
    errors: list[Any] = []
    producer.produce("tls-faults", b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(15)
    assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_a_client_that_does_not_trust_the_ca_fails(ssl_broker: Broker) -> None:
    config = ssl_broker.tls_client_config()
    del config["ssl.ca.location"]  # the system's CAs only
    assert _metadata_fails(config)
    assert not _metadata_fails(ssl_broker.tls_client_config())


def test_a_plaintext_client_on_the_tls_port_is_never_served(ssl_broker: Broker) -> None:
    host, port = ssl_broker.bootstrap_servers.split(":")
    # ApiVersions v0, correlation id 7, client id "x": a Kafka answer would echo the id.
    body = struct.pack(">hhih", 18, 0, 7, 1) + b"x"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        received = b""
        while True:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:  # closed with the request unread
                break
            if not chunk:
                break
            received += chunk
    # Closed, at most after a TLS alert record (content type 21): no Kafka answer.
    assert received == b"" or received[0] == 21
    assert struct.pack(">i", 7) not in received[:8]
    assert _metadata_fails({"bootstrap.servers": ssl_broker.bootstrap_servers})


#: X500Principal.getName() of the test client certificate of alice (kafkapy.testing.tls).
ALICE_PRINCIPAL = "User:CN=alice,OU=tests,O=kafkapy"


@pytest.fixture(scope="module")
def mtls_broker() -> Iterator[Broker]:
    broker = Broker(tls=True, ssl_client_auth="required", acls=[
        allow(ALICE_PRINCIPAL, "ALL", "TOPIC", "alice-topic"), allow(ALICE_PRINCIPAL, "ALL", "GROUP", "g-alice-topic")])
    with broker:
        broker.create_topics("alice-topic", "other-topic")
        yield broker


def test_mtls_principal_is_the_certificate_subject(mtls_broker: Broker) -> None:
    certs = mtls_broker.certificates
    assert certs is not None
    alice, bob = certs.client(ALICE), certs.client(BOB)
    assert f"User:{alice.subject}" == ALICE_PRINCIPAL
    as_alice = mtls_broker.tls_client_config(client=alice)
    as_bob = mtls_broker.tls_client_config(client=bob)
    # Metadata leaves out the topics a principal may not describe: the ACL names alice's DN.
    seen_by_alice = set(AdminClient(as_alice).list_topics(timeout=10).topics)
    seen_by_bob = set(AdminClient(as_bob).list_topics(timeout=10).topics)
    assert "alice-topic" in seen_by_alice and "other-topic" not in seen_by_alice
    assert "alice-topic" not in seen_by_bob
    _produce(as_alice, "alice-topic", [b"from alice"])
    assert _consume(as_alice, "alice-topic", 1) == [b"from alice"]
    producer = Producer({**as_bob, "message.timeout.ms": 10000})
    errors: list[Any] = []
    producer.produce("alice-topic", b"from bob", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(15)
    assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_mtls_required_refuses_a_client_without_a_certificate(mtls_broker: Broker) -> None:
    assert _metadata_fails(mtls_broker.tls_client_config())
    certs = mtls_broker.certificates
    assert certs is not None
    assert not _metadata_fails(mtls_broker.tls_client_config(client=certs.client(ALICE)))


def test_principal_mapping_rules_shorten_the_name() -> None:
    rules = {BrokerConfig.field_name("ssl_principal_mapping_rules"): "RULE:^CN=([^,]+),OU=tests,.*$/$1/U,DEFAULT"}
    broker = Broker(rules, tls=True, ssl_client_auth="required", acls=[allow("User:ALICE", "ALL", "TOPIC", "mapped")])
    with broker:
        broker.create_topics("mapped")
        certs = broker.certificates
        assert certs is not None
        config = broker.tls_client_config(client=certs.client(ALICE))
        assert "mapped" in AdminClient(config).list_topics(timeout=10).topics
        # Another unit: the rule does not match, DEFAULT keeps the whole DN, and no ACL names it.
        other = broker.tls_client_config(client=certs.client(ALICE, organization_unit="ops"))
        assert "mapped" not in AdminClient(other).list_topics(timeout=10).topics


@pytest.fixture(scope="module")
def sasl_ssl_broker() -> Iterator[Broker]:
    with Broker(tls=True, sasl_users={ALICE: "alice-secret"}, sasl_mechanisms=[SCRAM]) as broker:
        broker.create_topics("sasl-ssl")
        yield broker


def test_sasl_ssl_with_scram_sha_512(sasl_ssl_broker: Broker) -> None:
    config = sasl_ssl_broker.tls_client_config(user=ALICE, mechanism=SCRAM)
    assert config["security.protocol"] == "SASL_SSL" and config["sasl.mechanism"] == SCRAM
    _produce(config, "sasl-ssl", [b"a", b"b"])
    assert _consume(config, "sasl-ssl", 2) == [b"a", b"b"]
    wrong = {**config, "sasl.password": "wrong"}
    assert _metadata_fails(wrong)
    # TLS without SASL on the SASL_SSL port: the handshake succeeds, then nothing is served.
    no_sasl = {**config, "security.protocol": "SSL"}
    for key in ("sasl.mechanism", "sasl.username", "sasl.password"):
        no_sasl.pop(key)
    assert _metadata_fails(no_sasl)


def test_sasl_ssl_with_kafka_python(sasl_ssl_broker: Broker) -> None:
    from kafka import KafkaProducer

    config = sasl_ssl_broker.tls_client_config("kafka-python", user=ALICE, mechanism=SCRAM)
    producer = KafkaProducer(**config, acks="all")
    producer.send("sasl-ssl", b"kp").get(timeout=30)
    producer.close()


def _with_key_store(broker: Broker, **properties: str) -> Broker:
    """``broker`` with its key store settings replaced (before it starts)."""
    for field in ("ssl_keystore_location", "ssl_keystore_type"):
        broker.properties.pop(BrokerConfig.field_name(field), None)
    broker.properties.update({BrokerConfig.field_name(k): v for k, v in properties.items()})
    return broker


def test_pkcs12_key_store() -> None:
    broker = Broker(tls=True)
    certs = broker.certificates
    assert certs is not None
    store = certs.pkcs12(certs.broker, "store-secret")
    with _with_key_store(broker, ssl_keystore_type="PKCS12", ssl_keystore_location=store,
                         ssl_keystore_password="store-secret"):
        assert not _metadata_fails(broker.tls_client_config())


def test_pkcs12_of_the_default_type_is_read_as_java_reads_it() -> None:
    broker = Broker(tls=True)
    certs = broker.certificates
    assert certs is not None
    store = certs.pkcs12(certs.broker, "store-secret")
    with _with_key_store(broker, ssl_keystore_location=store, ssl_keystore_password="store-secret"):  # type JKS
        assert not _metadata_fails(broker.tls_client_config())


def test_pem_key_store_by_value() -> None:
    broker = Broker(tls=True)
    certs = broker.certificates
    assert certs is not None
    with _with_key_store(broker, ssl_keystore_type="PEM", ssl_keystore_key=certs.broker.key_pem,
                         ssl_keystore_certificate_chain=certs.broker.chain_pem):
        assert not _metadata_fails(broker.tls_client_config())


@pytest.mark.kafkapy(tls=True, ssl_client_auth="required")
def test_the_pytest_plugin_starts_a_tls_broker(kafka_broker: Broker) -> None:
    certs = kafka_broker.certificates
    assert certs is not None
    assert not _metadata_fails(kafka_broker.tls_client_config(client=certs.client(ALICE)))
    assert _metadata_fails(kafka_broker.tls_client_config())  # no client certificate


def test_a_node_with_an_ssl_inter_broker_listener_serves_transactions() -> None:
    """Its inter-broker clients get a TLS context at start-up; markers for partitions it
    leads are written in process (the cross-node path: test_tls_cluster.py)."""
    inter_broker = {BrokerConfig.field_name("inter_broker_listener_name"): "SSL"}
    with Broker(inter_broker, tls=True, ssl_client_auth="required") as broker:
        certs = broker.certificates
        assert certs is not None
        broker.create_topics("tls-txn")
        config = broker.tls_client_config(client=certs.client(ALICE))
        producer = Producer({**config, "transactional.id": "tls-txn", "transaction.timeout.ms": 20000})
        producer.init_transactions(30)
        producer.begin_transaction()
        producer.produce("tls-txn", b"committed")
        producer.commit_transaction(30)
        consumer = Consumer({**config, "group.id": "tls-txn", "isolation.level": "read_committed",
                             "enable.auto.commit": False})
        try:
            consumer.assign([TopicPartition("tls-txn", 0, 0)])
            got: list[bytes] = []
            deadline = time.monotonic() + 30
            while not got and time.monotonic() < deadline:
                got += [m.value() for m in consumer.consume(10, 1.0) if m.error() is None]
        finally:
            consumer.close()
        assert got == [b"committed"]  # readable once the COMMIT marker is written
