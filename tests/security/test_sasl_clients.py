"""SASL_PLAINTEXT with real clients against an in-process kafkapy broker.

confluent-kafka (librdkafka) and kafka-python produce and consume with PLAIN,
SCRAM-SHA-256 and SCRAM-SHA-512; a wrong password gets the client's authentication
error with Kafka's message. Raw requests check the gate: nothing but ApiVersions and
SaslHandshake before authentication, UNSUPPORTED_SASL_MECHANISM with the enabled list,
ILLEGAL_SASL_STATE on PLAINTEXT and after authentication, the v0 raw-token framing,
and KIP-368 re-authentication.
"""

from __future__ import annotations

import socket
import struct
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.broker.security.scram import ScramClient, ScramMechanism
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection, split_address
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker({"connections.max.reauth.ms": "600000"}, sasl_users=USERS) as b:
        yield b


def _plaintext(broker: Broker) -> str:
    host, port = broker.info.listeners["PLAINTEXT"]
    return f"{host}:{port}"


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_confluent_kafka_produces_and_consumes(broker: Broker, mechanism: str) -> None:
    topic = f"sasl-{mechanism.lower()}-{uuid.uuid4().hex[:6]}"
    conf = broker.sasl_client_config("alice", mechanism)
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    producer = Producer(conf)
    for i in range(3):
        producer.produce(topic, f"v{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values = []
    for _ in range(60):
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
        if len(values) == 3:
            break
    consumer.close()
    assert values == [b"v0", b"v1", b"v2"]


@pytest.mark.parametrize(("mechanism", "message"), [
    ("PLAIN", "Authentication failed: Invalid username or password"),
    ("SCRAM-SHA-256", "Authentication failed during authentication due to invalid credentials with SASL mechanism "
                      "SCRAM-SHA-256"),
])
def test_confluent_kafka_wrong_password_is_an_authentication_error(broker: Broker, mechanism: str,
                                                                  message: str) -> None:
    conf = {**broker.sasl_client_config("alice", mechanism), "sasl.password": "wrong"}
    errors: list[KafkaError] = []
    producer = Producer({**conf, "error_cb": errors.append})
    for _ in range(20):
        producer.poll(0.5)
        if errors:
            break
    assert errors and errors[0].code() == KafkaError._AUTHENTICATION, errors
    assert message in errors[0].str()


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python_produces_and_consumes(broker: Broker, mechanism: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"kp-{mechanism.lower()}-{uuid.uuid4().hex[:6]}"
    broker.create_topics(topic)
    conf = broker.sasl_client_config("bob", mechanism, family="kafka-python")
    producer = KafkaProducer(**conf)
    producer.send(topic, b"hello").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, **conf, auto_offset_reset="earliest", consumer_timeout_ms=10000)
    assert [m.value for m in consumer] == [b"hello"]
    consumer.close()


def test_kafka_python_wrong_password(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as KafkaPythonError

    conf = {**broker.sasl_client_config("bob", "SCRAM-SHA-512", family="kafka-python"),
            "sasl_plain_password": "wrong"}
    with pytest.raises(KafkaPythonError):  # it cannot bootstrap; why is in its log
        KafkaProducer(**conf, max_block_ms=3000)
    assert ("SaslAuthenticationFailedError: Authentication failed during authentication due to invalid "
            "credentials with SASL mechanism SCRAM-SHA-512") in caplog.text


def test_no_request_but_the_handshake_before_authentication(broker: Broker) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        with pytest.raises(ConnectionError):
            conn.request(MetadataRequest(topics=[]), 12)
    with KafkaConnection(broker.bootstrap_servers) as conn:
        versions = ApiVersionsRequest(client_software_name="t", client_software_version="1")
        assert conn.request(versions, 3).error_code == 0
        with pytest.raises(ConnectionError):  # ApiVersions once only
            conn.request(ApiVersionsRequest(client_software_name="t", client_software_version="1"), 3)
    # PLAINTEXT: anonymous, and SASL requests are in an illegal state
    with KafkaConnection(_plaintext(broker)) as conn:
        answer = conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
        assert (answer.error_code, answer.mechanisms) == (ErrorCode.ILLEGAL_SASL_STATE, [])
        assert conn.request(MetadataRequest(topics=[]), 12).brokers


def test_unsupported_mechanism_lists_the_enabled_ones_then_closes(broker: Broker) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        answer = conn.request(SaslHandshakeRequest(mechanism="GSSAPI"), 1)
        assert answer.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM
        assert answer.mechanisms == ["PLAIN", "SCRAM-SHA-512", "SCRAM-SHA-256"]  # Java HashSet order, as Kafka
        with pytest.raises(ConnectionError):
            conn.request(ApiVersionsRequest(client_software_name="t", client_software_version="1"), 3)


def test_scram_over_sasl_authenticate_then_illegal_state_and_reauthentication(broker: Broker) -> None:
    mechanism = ScramMechanism.SCRAM_SHA_256
    with KafkaConnection(broker.bootstrap_servers) as conn:
        assert conn.request(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0
        client = ScramClient(mechanism, "alice", "alice-secret")
        first = conn.request(SaslAuthenticateRequest(auth_bytes=client.first_message()), 2)
        assert first.error_code == 0 and first.session_lifetime_ms == 0
        final = conn.request(SaslAuthenticateRequest(auth_bytes=client.final_message(bytes(first.auth_bytes))), 2)
        assert final.error_code == 0 and client.verify_server_final(bytes(final.auth_bytes))
        assert final.session_lifetime_ms == 600000  # connections.max.reauth.ms (KIP-368)
        assert conn.request(MetadataRequest(topics=[]), 12).brokers
        again = conn.request(SaslAuthenticateRequest(auth_bytes=b"x"), 2)
        assert (again.error_code, again.error_message) == (
            ErrorCode.ILLEGAL_SASL_STATE, "SaslAuthenticate request received after successful authentication")
        # re-authentication: the same mechanism and principal, on the same connection
        assert conn.request(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0
        client = ScramClient(mechanism, "alice", "alice-secret")
        first = conn.request(SaslAuthenticateRequest(auth_bytes=client.first_message()), 2)
        final = conn.request(SaslAuthenticateRequest(auth_bytes=client.final_message(bytes(first.auth_bytes))), 2)
        assert final.error_code == 0
        assert conn.request(MetadataRequest(topics=[]), 12).brokers


def test_reauthentication_cannot_change_the_principal(broker: Broker) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
        assert conn.request(SaslAuthenticateRequest(auth_bytes=b"\0alice\0alice-secret"), 2).error_code == 0
        conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
        answer = conn.request(SaslAuthenticateRequest(auth_bytes=b"\0bob\0bob-secret"), 2)
        assert answer.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
        assert answer.error_message == "Cannot change principals during re-authentication from User.alice: User.bob"
        with pytest.raises(ConnectionError):
            conn.request(MetadataRequest(topics=[]), 12)


def test_handshake_v0_then_raw_tokens(broker: Broker) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        answer = conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 0)
        assert answer.error_code == 0
        sock = conn._sock
        token = b"\0alice\0alice-secret"
        sock.sendall(struct.pack(">i", len(token)) + token)
        assert sock.recv(4) == struct.pack(">i", 0)  # PLAIN's empty answer, a bare frame
        assert conn.request(MetadataRequest(topics=[]), 12).brokers


def test_failed_authentication_is_answered_then_closed(broker: Broker) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
        answer = conn.request(SaslAuthenticateRequest(auth_bytes=b"\0alice\0nope"), 1)
        assert (answer.error_code, answer.error_message) == (
            ErrorCode.SASL_AUTHENTICATION_FAILED, "Authentication failed: Invalid username or password")
        with pytest.raises(ConnectionError):
            conn.request(MetadataRequest(topics=[]), 12)
    host, port = split_address(broker.bootstrap_servers)
    with socket.create_connection((host, port), timeout=10) as sock:  # not a Kafka request at all
        sock.sendall(struct.pack(">i", 5) + b"\x60\x00\x00\x00\x00")
        assert sock.recv(100) == b""


@pytest.mark.kafkapy(sasl_users={"carol": "carol-secret"}, sasl_mechanisms=["SCRAM-SHA-512"])
def test_the_pytest_plugin_starts_a_sasl_broker(kafka_broker: Broker) -> None:
    metadata = AdminClient(kafka_broker.sasl_client_config("carol", "SCRAM-SHA-512")).list_topics(timeout=30)
    assert list(metadata.brokers) == [kafka_broker.node_id]
    with KafkaConnection(kafka_broker.bootstrap_servers) as conn:
        assert conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1).mechanisms == ["SCRAM-SHA-512"]


def test_an_expired_session_is_closed_unless_it_reauthenticates() -> None:
    import time

    with Broker({"connections.max.reauth.ms": "300"}, sasl_users=USERS, sasl_mechanisms=["PLAIN"]) as b:
        with KafkaConnection(b.bootstrap_servers) as conn:
            conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
            done = conn.request(SaslAuthenticateRequest(auth_bytes=b"\0alice\0alice-secret"), 2)
            assert (done.error_code, done.session_lifetime_ms) == (0, 300)
            time.sleep(0.6)  # past the session's end
            conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)  # re-authentication is still let in
            assert conn.request(SaslAuthenticateRequest(auth_bytes=b"\0alice\0alice-secret"), 2).error_code == 0
            assert conn.request(MetadataRequest(topics=[]), 12).brokers
            time.sleep(0.6)
            with pytest.raises(ConnectionError):
                conn.request(MetadataRequest(topics=[]), 12)
