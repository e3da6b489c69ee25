"""ACLs with real clients over SASL_PLAINTEXT against an in-process kafkapy broker.

alice may write and read ``orders`` and read group ``billing``; bob has no ACL. With
Kafka's default ``allow.everyone.if.no.acl.found=false``, confluent-kafka,
kafka-python and Kafka's Java console clients as alice produce and consume, and as bob
get the authorization errors a Kafka broker gives (TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED). ACLs
added and removed while clients run take effect on their next requests; the pytest
marker turns the authorizer on; an ILLEGAL_SASL_STATE answer comes mid-exchange.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import kafka
import kafka.errors
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.brokers import tool_command
from kafkapy.testing import Broker
from kafkapy.testing.acls import allow, deny
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.reference import kafka_tool, needs_reference

USERS = {"alice": "alice-secret", "bob": "bob-secret", "admin": "admin-secret"}
TOPIC, GROUP = "orders", "billing"
ACLS = [allow("User:alice", "WRITE", "TOPIC", TOPIC), allow("User:alice", "READ", "TOPIC", TOPIC),
        allow("User:alice", "READ", "GROUP", GROUP)]


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker(sasl_users=USERS, acls=ACLS, super_users=["User:admin", "User:ANONYMOUS"]) as b:
        _create_topic(b, TOPIC)
        yield b


def _create_topic(broker: Broker, topic: str) -> None:
    admin = AdminClient(broker.sasl_client_config("admin", "SCRAM-SHA-512"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    del admin  # the client lives until its future is done


def _produce(conf: dict, topic: str, value: bytes) -> KafkaError | None:
    errors: list[KafkaError | None] = []
    producer = Producer({**conf, "message.timeout.ms": 10_000})
    producer.produce(topic, value, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1
    return errors[0]


def _consume_first(conf: dict, topic: str, group: str) -> bytes | KafkaError:
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        for _ in range(30):
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            return msg.error() if msg.error() else msg.value()
        raise AssertionError("nothing consumed and no error")
    finally:
        consumer.close()


def test_confluent_kafka_alice_produces_and_consumes(broker: Broker) -> None:
    conf = broker.sasl_client_config("alice", "SCRAM-SHA-256")
    value = uuid.uuid4().hex.encode()
    assert _produce(conf, TOPIC, value) is None
    assert _consume_first(conf, TOPIC, GROUP) is not None


def test_confluent_kafka_bob_is_refused(broker: Broker) -> None:
    conf = broker.sasl_client_config("bob", "PLAIN")
    error = _produce(conf, TOPIC, b"x")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    error = _consume_first(conf, TOPIC, GROUP)
    assert isinstance(error, KafkaError) and error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_confluent_kafka_alice_in_another_group_is_refused(broker: Broker) -> None:
    error = _consume_first(broker.sasl_client_config("alice", "PLAIN"), TOPIC, "not-billing")
    assert isinstance(error, KafkaError) and error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_confluent_kafka_admin_listing_sees_only_described_topics(broker: Broker) -> None:
    hidden = f"hidden-{uuid.uuid4().hex[:6]}"
    admin = AdminClient(broker.sasl_client_config("admin", "PLAIN"))
    admin.create_topics([NewTopic(hidden, 1, 1)])[hidden].result(timeout=30)
    seen_by_admin = set(admin.list_topics(timeout=10).topics)
    seen_by_alice = set(AdminClient(broker.sasl_client_config("alice", "PLAIN")).list_topics(timeout=10).topics)
    assert {TOPIC, hidden} <= seen_by_admin
    assert TOPIC in seen_by_alice and hidden not in seen_by_alice
    bob = AdminClient(broker.sasl_client_config("bob", "PLAIN"))
    with pytest.raises(KafkaException) as refused:
        bob.create_topics([NewTopic("bobs-topic", 1, 1)])["bobs-topic"].result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_kafka_python_alice_and_bob(broker: Broker) -> None:
    alice = broker.sasl_client_config("alice", "SCRAM-SHA-512", family="kafka-python")
    producer = kafka.KafkaProducer(**alice, request_timeout_ms=10_000)
    producer.send(TOPIC, b"from kafka-python").get(timeout=30)
    producer.close()
    consumer = kafka.KafkaConsumer(TOPIC, **alice, group_id=GROUP, auto_offset_reset="earliest",
                                   consumer_timeout_ms=10_000)
    assert any(m.value == b"from kafka-python" for m in consumer)
    consumer.commit()
    consumer.close()

    bob = broker.sasl_client_config("bob", "PLAIN", family="kafka-python")
    producer = kafka.KafkaProducer(**bob, request_timeout_ms=10_000, max_block_ms=10_000, retries=0)
    with pytest.raises(kafka.errors.TopicAuthorizationFailedError):
        producer.send(TOPIC, b"x").get(timeout=30)
    producer.close()
    consumer = kafka.KafkaConsumer(**bob, group_id=GROUP, request_timeout_ms=10_000)
    with pytest.raises(kafka.errors.GroupAuthorizationFailedError):
        consumer.committed(kafka.TopicPartition(TOPIC, 0))
    consumer.close()


def test_acls_added_and_removed_take_effect(broker: Broker) -> None:
    topic = f"late-{uuid.uuid4().hex[:6]}"
    _create_topic(broker, topic)
    conf = broker.sasl_client_config("bob", "PLAIN")
    assert _produce(conf, topic, b"before").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    broker.add_acls([allow("User:bob", "WRITE", "TOPIC", "late-", prefixed=True)])
    assert _produce(conf, topic, b"after") is None
    broker.add_acls([deny("User:bob", "WRITE", "TOPIC", topic)])
    assert _produce(conf, topic, b"denied").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


@pytest.mark.kafkapy(sasl_users={"carol": "carol-secret"}, sasl_mechanisms=["PLAIN"],
                     acls=[allow("User:carol", "DESCRIBE", "TOPIC", "*")])
def test_the_plugin_marker_runs_the_authorizer(kafka_broker: Broker) -> None:
    assert kafka_broker.properties["authorizer.class.name"].endswith("StandardAuthorizer")
    conf = kafka_broker.sasl_client_config("carol", "PLAIN")
    AdminClient(conf).list_topics(timeout=10)  # DESCRIBE is allowed
    error = _produce(conf, "anything", b"x")  # auto-creation needs CREATE
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_request_mid_sasl_exchange_is_answered_illegal_sasl_state(broker: Broker) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
        answer = conn.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=TOPIC)]), 12)
        assert [(t.name, t.error_code) for t in answer.topics] == [(TOPIC, ErrorCode.ILLEGAL_SASL_STATE)]
        deadline = time.monotonic() + 10
        with pytest.raises(ConnectionError):  # then the connection closes
            while time.monotonic() < deadline:
                conn.request(MetadataRequest(topics=[]), 12)


def test_transactional_producer_needs_transactional_id_write(broker: Broker) -> None:
    broker.add_acls([allow("User:alice", "WRITE", "TRANSACTIONAL_ID", "tx-alice")])
    alice = Producer({**broker.sasl_client_config("alice", "PLAIN"), "transactional.id": "tx-alice"})
    alice.init_transactions(30)
    alice.begin_transaction()
    alice.produce(TOPIC, b"in a transaction")
    alice.commit_transaction(30)

    bob = Producer({**broker.sasl_client_config("bob", "PLAIN"), "transactional.id": "tx-bob"})
    with pytest.raises(KafkaException) as refused:
        bob.init_transactions(30)
    assert refused.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    # alice may not use another transactional id either
    other = Producer({**broker.sasl_client_config("alice", "PLAIN"), "transactional.id": "tx-other"})
    with pytest.raises(KafkaException) as refused:
        other.init_transactions(30)
    assert refused.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def test_allow_everyone_if_no_acl_found_opens_resources_without_acls() -> None:
    """``allow.everyone.if.no.acl.found=true``: a topic no ACL names is open to all, one
    with an ACL (here a DENY for bob) follows its ACLs."""
    with Broker({"allow.everyone.if.no.acl.found": "true"}, sasl_users=USERS, sasl_mechanisms=["PLAIN"],
                acls=[deny("User:bob", "WRITE", "TOPIC", "closed")]) as b:
        _create_topic_plain(b, "open", "closed")
        bob = b.sasl_client_config("bob", "PLAIN")
        assert _produce(bob, "open", b"x") is None
        assert _produce(bob, "closed", b"x").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        # alice is not denied, but an ACL exists for the topic: no longer open to everyone
        assert _produce(b.sasl_client_config("alice", "PLAIN"), "closed", b"x").code() == \
            KafkaError.TOPIC_AUTHORIZATION_FAILED


def _create_topic_plain(broker: Broker, *topics: str) -> None:
    admin = AdminClient(broker.sasl_client_config("admin", "PLAIN"))
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
        future.result(timeout=30)
    del admin


@needs_reference
def test_java_console_clients_alice_and_bob(broker: Broker, tmp_path) -> None:
    """Kafka's own console producer and consumer (the Java client) as alice succeed, as
    bob report ``TopicAuthorizationException: Not authorized to access topics: [orders]``."""
    def config_file(user: str) -> str:
        path = tmp_path / f"{user}.properties"
        conf = broker.sasl_client_config(user, "SCRAM-SHA-256", family="java")
        path.write_text("".join(f"{k}={v}\n" for k, v in conf.items() if k != "bootstrap.servers"))
        return str(path)

    value = f"java-{uuid.uuid4().hex[:8]}"
    kafka_tool("ConsoleProducer", "--bootstrap-server", broker.bootstrap_servers, "--topic", TOPIC,
               "--command-config", config_file("alice"), stdin=value + "\n")
    consumed = kafka_tool("consumer.ConsoleConsumer", "--bootstrap-server", broker.bootstrap_servers,
                          "--topic", TOPIC, "--group", GROUP, "--from-beginning", "--timeout-ms", "15000",
                          "--command-config", config_file("alice"))
    assert value in consumed.split()
    done = subprocess.run(tool_command("ConsoleProducer", "--bootstrap-server", broker.bootstrap_servers,
                                       "--topic", TOPIC, "--command-config", config_file("bob")),
                          input="refused\n", capture_output=True, text=True, timeout=120)
    assert f"TopicAuthorizationException: Not authorized to access topics: [{TOPIC}]" in done.stdout + done.stderr


def test_a_fetch_session_is_authorized_again_after_an_acl_is_removed(broker: Broker) -> None:
    """An incremental fetch answers the session's partitions without naming them: once
    alice loses READ, new data of the topic is answered TOPIC_AUTHORIZATION_FAILED."""
    from kafkapy.wire.messages.fetch import FetchRequest
    from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest

    topic = f"session-{uuid.uuid4().hex[:6]}"
    _create_topic(broker, topic)
    read = allow("User:alice", "READ", "TOPIC", topic)
    broker.add_acls([read])
    admin = broker.sasl_client_config("admin", "PLAIN")
    assert _produce(admin, topic, b"first") is None
    with KafkaConnection(broker.bootstrap_servers) as conn:
        conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
        conn.request(SaslAuthenticateRequest(auth_bytes=b"\0alice\0alice-secret"), 2)
        full = conn.request(FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
                                         session_id=0, session_epoch=0, topics=[FetchRequest.FetchTopic(
                                             topic=topic, partitions=[FetchRequest.FetchPartition(
                                                 partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])]), 12)
        assert full.session_id != 0
        assert [(t.topic, p.error_code) for t in full.responses for p in t.partitions] == [(topic, 0)]
        broker.remove_acls([read])
        assert _produce(admin, topic, b"second") is None
        incremental = conn.request(FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
                                                session_id=full.session_id, session_epoch=1, topics=[]), 12)
        assert [(t.topic, p.error_code, p.records) for t in incremental.responses for p in t.partitions] == [
            (topic, ErrorCode.TOPIC_AUTHORIZATION_FAILED, b"")]
