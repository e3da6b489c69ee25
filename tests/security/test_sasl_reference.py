"""SASL against Apache Kafka 4.4.0 with the same settings, and Kafka's own tools on kafkapy.

* ``kafka-configs --entity-type users --add-config 'SCRAM-SHA-256=[iterations=8192,password=...]'``
  and ``--describe`` run against kafkapy; the Java console producer then authenticates
  with that SCRAM credential.
* The answers to SaslHandshake and SaslAuthenticate (success, wrong password for PLAIN
  and SCRAM, unsupported mechanism, after authentication, on PLAINTEXT) are compared
  field by field with the reference broker's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kafkapy.broker.security.scram import ScramClient, ScramMechanism
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.testing.sasl import plain_jaas_config
from kafkapy.wire.messages.describe_user_scram_credentials import DescribeUserScramCredentialsRequest
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.reference import kafka_tool, needs_reference
from tests.security.reference import reference_with_sasl

pytestmark = needs_reference

USERS = {"alice": "alice-secret"}
MECHANISMS = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"


def _add_scram(bootstrap: str, user: str, password: str) -> str:
    return kafka_tool("ConfigCommand", "--bootstrap-server", bootstrap, "--alter",
                      "--add-config", f"SCRAM-SHA-256=[iterations=8192,password={password}]",
                      "--entity-type", "users", "--entity-name", user)


@pytest.fixture(scope="module")
def kafkapy_broker() -> Iterator[tuple[str, str]]:
    """(SASL bootstrap, PLAINTEXT bootstrap) of kafkapy, alice's SCRAM credential set by kafka-configs."""
    with Broker(sasl_users=USERS, sasl_mechanisms=MECHANISMS.split(",")) as broker:
        host, port = broker.info.listeners["PLAINTEXT"]
        plaintext = f"{host}:{port}"
        _add_scram(plaintext, "alice", "alice-secret")
        yield broker.bootstrap_servers, plaintext


@pytest.fixture(scope="module")
def reference_broker() -> Iterator[tuple[str, str]]:
    with reference_with_sasl({
        "sasl.enabled.mechanisms": MECHANISMS,
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas_config(USERS),
        # Kafka wants a login module for every enabled mechanism (kafkapy needs none for SCRAM)
        **{f"listener.name.sasl_plaintext.{m}.sasl.jaas.config":
           "org.apache.kafka.common.security.scram.ScramLoginModule required;"
           for m in ("scram-sha-256", "scram-sha-512")},
    }) as (sasl, plaintext):
        _add_scram(plaintext, "alice", "alice-secret")
        kafka_tool("ConfigCommand", "--bootstrap-server", plaintext, "--alter",
                   "--add-config", "SCRAM-SHA-512=[iterations=4096,password=alice-secret]",
                   "--entity-type", "users", "--entity-name", "alice")  # as Broker(sasl_users=...) makes it
        yield sasl, plaintext


def test_kafka_configs_users_and_the_java_client_with_scram(kafkapy_broker: tuple[str, str], tmp_path) -> None:
    sasl, plaintext = kafkapy_broker
    described = kafka_tool("ConfigCommand", "--bootstrap-server", plaintext, "--describe",
                           "--entity-type", "users", "--entity-name", "alice")
    assert "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192" in described
    client = tmp_path / "client.properties"
    client.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
                      "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                      'username="alice" password="alice-secret";\n')
    kafka_tool("ConsoleProducer", "--bootstrap-server", sasl, "--topic", "scram-java",
               "--command-config", str(client), stdin="one\ntwo\n")
    consumed = kafka_tool("consumer.ConsoleConsumer", "--bootstrap-server", sasl, "--topic", "scram-java",
                          "--from-beginning", "--max-messages", "2", "--command-config", str(client))
    assert consumed.split() == ["one", "two"]
    kafka_tool("ConfigCommand", "--bootstrap-server", plaintext, "--alter", "--delete-config",
               "SCRAM-SHA-256", "--entity-type", "users", "--entity-name", "alice")
    described = kafka_tool("ConfigCommand", "--bootstrap-server", plaintext, "--describe",
                           "--entity-type", "users", "--entity-name", "alice")
    assert "SCRAM-SHA-256" not in described
    _add_scram(plaintext, "alice", "alice-secret")  # back for the other tests


def _fields(message: Any) -> dict[str, Any]:
    out = {}
    for name in message.__slots__:
        value = getattr(message, name)
        out[name] = bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else value
    return out


def _exchanges(sasl: str, plaintext: str) -> dict[str, Any]:
    """The answers that do not depend on random nonces, on one broker."""
    out: dict[str, Any] = {}
    with KafkaConnection(sasl) as conn:
        out["handshake PLAIN"] = _fields(conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1))
        out["authenticate PLAIN"] = _fields(conn.request(
            SaslAuthenticateRequest(auth_bytes=b"\0alice\0alice-secret"), 2))
        out["authenticate again"] = _fields(conn.request(SaslAuthenticateRequest(auth_bytes=b"x"), 2))
        # Kafka's ScramImage keeps mechanisms in a HashMap of enum keys: its order is not defined
        out["describe users"] = [(r.user, r.error_code, sorted((c.mechanism, c.iterations) for c in r.credential_infos))
                                 for r in conn.request(DescribeUserScramCredentialsRequest(users=None), 0).results]
    with KafkaConnection(sasl) as conn:
        conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
        out["PLAIN wrong password"] = _fields(conn.request(SaslAuthenticateRequest(auth_bytes=b"\0alice\0no"), 2))
    with KafkaConnection(sasl) as conn:
        out["handshake GSSAPI"] = _fields(conn.request(SaslHandshakeRequest(mechanism="GSSAPI"), 1))
    with KafkaConnection(sasl) as conn:
        conn.request(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1)
        client = ScramClient(ScramMechanism.SCRAM_SHA_256, "alice", "wrong")
        first = conn.request(SaslAuthenticateRequest(auth_bytes=client.first_message()), 2)
        out["SCRAM first"] = first.error_code
        out["SCRAM wrong password"] = _fields(conn.request(
            SaslAuthenticateRequest(auth_bytes=client.final_message(bytes(first.auth_bytes))), 2))
    with KafkaConnection(sasl) as conn:
        conn.request(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1)
        client = ScramClient(ScramMechanism.SCRAM_SHA_256, "nobody", "x")
        out["SCRAM unknown user"] = _fields(conn.request(SaslAuthenticateRequest(auth_bytes=client.first_message()), 2))
    with KafkaConnection(sasl) as conn:
        conn.request(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1)
        client = ScramClient(ScramMechanism.SCRAM_SHA_256, "alice", "alice-secret")
        first = conn.request(SaslAuthenticateRequest(auth_bytes=client.first_message()), 2)
        final = conn.request(SaslAuthenticateRequest(auth_bytes=client.final_message(bytes(first.auth_bytes))), 2)
        out["SCRAM success"] = (final.error_code, client.verify_server_final(bytes(final.auth_bytes)),
                                final.session_lifetime_ms)
    with KafkaConnection(plaintext) as conn:
        out["handshake on PLAINTEXT"] = _fields(conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1))
        out["authenticate on PLAINTEXT"] = _fields(conn.request(SaslAuthenticateRequest(auth_bytes=b"x"), 2))
    return out


def test_sasl_answers_match_apache_kafka(kafkapy_broker: tuple[str, str], reference_broker: tuple[str, str]) -> None:
    ours, theirs = _exchanges(*kafkapy_broker), _exchanges(*reference_broker)
    assert ours == theirs
