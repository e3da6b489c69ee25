"""``kafkapy storage format --add-scram``: SCRAM credentials in the bootstrap metadata.

The records written are compared with those Apache Kafka's ``kafka-storage`` writes for
the same arguments (a given salt makes them deterministic), the refusals with Kafka's
messages, and a node formatted this way authenticates the user from its first start.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer

from compat_tests.brokers import free_port
from kafkapy.kraft.metadata.records import UserScramCredentialRecord
from kafkapy.testing.sasl import client_config
from tests.kraft.test_formatting import Serve, node_properties, storage
from tests.reference import needs_reference
from tests.test_storage_tool import CLUSTER_ID, both, bootstrap_records, kafkapy_storage, write_config

# "N3E=" and "YCE=" are the example of kafka-storage's --add-scram help.
SALTED = 'SCRAM-SHA-512=[name=alice,iterations=8192,salt="N3E=",saltedpassword="YCE="]'
WITH_PASSWORD = "SCRAM-SHA-256=[name=bob,password=bob-secret,salt=c2FsdA==]"


def scram_records(directory) -> list[UserScramCredentialRecord]:
    return [r for r in bootstrap_records(directory) if isinstance(r, UserScramCredentialRecord)]


def fields(record: UserScramCredentialRecord) -> tuple:
    return (record.name, record.mechanism, record.salt, record.stored_key, record.server_key, record.iterations)


def test_add_scram_writes_credentials_after_the_feature_levels(tmp_path):
    data = tmp_path / "data"
    config = write_config(tmp_path / "server.properties", [data])
    done = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config), "-S", SALTED, "--add-scram", WITH_PASSWORD)
    assert done.returncode == 0, done.stderr
    alice, bob = scram_records(data)
    assert (alice.name, alice.mechanism, alice.iterations, alice.salt) == ("alice", 2, 8192, b"7q")
    assert (bob.name, bob.mechanism, bob.iterations, bob.salt) == ("bob", 1, 4096, b"salt")
    assert len(alice.stored_key) == len(alice.server_key) == 64 and len(bob.stored_key) == 32


@pytest.mark.parametrize(("argument", "message"), [
    ("SCRAM-SHA-1=[name=a,password=b]", "The add-scram mechanism SCRAM-SHA-1 is not supported."),
    ("SCRAM-SHA-256", "Failed to find equals sign in SCRAM argument 'SCRAM-SHA-256'"),
    ("SCRAM-SHA-256=name=a,password=b]", "Expected configuration string to start with ["),
    ("SCRAM-SHA-256=[password=b]", "You must supply 'name' to add-scram"),
    ("SCRAM-SHA-256=[name=a]", "You must supply one of 'password' or 'saltedpassword' to add-scram"),
    ("SCRAM-SHA-256=[name=a,saltedpassword=YCE=]", "You must supply 'salt' with 'saltedpassword' to add-scram"),
    ("SCRAM-SHA-256=[name=a,password=b,iterations=100]",
     "The 'iterations' value must be >= 4096 for add-scram using SCRAM_SHA_256"),
    ("SCRAM-SHA-256=[name=a,password=b,colour=red]", "Unknown SCRAM configurations: colour"),
])
def test_add_scram_refusals(tmp_path, argument, message):
    config = write_config(tmp_path / "server.properties", [tmp_path / "data"])
    done = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config), "-S", argument)
    assert (done.returncode, done.stderr.strip()) == (1, message)
    assert not (tmp_path / "data").exists()


def test_add_scram_needs_metadata_version_3_5_iv2(tmp_path):
    config = write_config(tmp_path / "server.properties", [tmp_path / "data"])
    done = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config), "-r", "3.4-IV0", "-S", WITH_PASSWORD)
    assert (done.returncode, done.stderr.strip()) == (1, "SCRAM is only supported in metadata.version 3.5-IV2 or later.")


@needs_reference
def test_add_scram_matches_kafka_storage(tmp_path):
    results = both(tmp_path, ["-S", SALTED, "-S", WITH_PASSWORD])
    (kafka, kafka_dir), (ours, our_dir) = results["kafka"], results["kafkapy"]
    assert kafka.returncode == ours.returncode == 0, (kafka.stderr, ours.stderr)
    assert [fields(r) for r in scram_records(our_dir)] == [fields(r) for r in scram_records(kafka_dir)]


@needs_reference
@pytest.mark.parametrize("argument", [
    "SCRAM-SHA-1=[name=a,password=b]", "SCRAM-SHA-256=[password=b]", "SCRAM-SHA-256=[name=a,saltedpassword=YCE=]",
    "SCRAM-SHA-512=[name=a,password=b,iterations=20000]", "SCRAM-SHA-256=[name=a,password=b,colour=red]",
])
def test_add_scram_refusals_match_kafka_storage(tmp_path, argument):
    results = both(tmp_path, ["-S", argument])
    (kafka, _), (ours, _) = results["kafka"], results["kafkapy"]
    assert kafka.returncode == ours.returncode == 1
    assert ours.stderr.strip() == kafka.stderr.splitlines()[0].split("Exception: ")[-1].strip()


def test_a_node_formatted_with_add_scram_authenticates_the_user(tmp_path):
    client, internal, controller = free_port(), free_port(), free_port()
    data = tmp_path / "data"
    props = node_properties(1, client, controller, data, **{
        "controller.quorum.voters": f"1@127.0.0.1:{controller}",
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{client},PLAINTEXT://127.0.0.1:{internal},"
                     f"CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{client},PLAINTEXT://127.0.0.1:{internal}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "offsets.topic.replication.factor": "1",
    })
    node = Serve(tmp_path / "node", props)
    formatted = storage("format", "-t", CLUSTER_ID, "-c", str(node.config),
                        "-S", "SCRAM-SHA-512=[name=alice,password=alice-secret]")
    assert formatted.returncode == 0, formatted.stderr
    node.start()
    try:
        node.wait_ready()
        check_alice(f"127.0.0.1:{client}")
    finally:
        assert node.stop() == 0


def check_alice(bootstrap: str) -> None:
    """alice produces and consumes with SCRAM-SHA-512; a wrong password is refused."""
    topic = f"scram-{uuid.uuid4().hex[:8]}"
    producer = Producer({**client_config(bootstrap, "alice", "alice-secret", "SCRAM-SHA-512")})
    producer.produce(topic, b"from-alice")
    assert producer.flush(30) == 0
    consumer = Consumer({**client_config(bootstrap, "alice", "alice-secret", "SCRAM-SHA-512"),
                         "group.id": "g", "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        got = None
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got = msg.value()
                break
        assert got == b"from-alice"
    finally:
        consumer.close()
    wrong = Producer({**client_config(bootstrap, "alice", "wrong", "SCRAM-SHA-512"), "message.timeout.ms": 3000})
    errors = []
    wrong.produce(topic, b"x", on_delivery=lambda err, _msg: errors.append(err))
    wrong.flush(10)
    assert errors and errors[0] is not None
