"""Client quotas (KIP-546) next to Apache Kafka 4.4.0: ``kafka-configs`` for clients,
users, user/client pairs and defaults, and the raw AlterClientQuotas and
DescribeClientQuotas answers (validation errors included) compared field by field, and
the answers of CreateTopics, CreatePartitions and DeleteTopics past a
``controller_mutation_rate`` (KIP-599).

Kafka keeps an entity's parts and keys in HashMaps, so both sides' entities and values
are compared sorted; everything else (codes, messages, nullness) must be equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from compat_tests.brokers import free_port, start_reference
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.alter_client_quotas import AlterClientQuotasRequest as Alter
from kafkapy.wire.messages.describe_client_quotas import DescribeClientQuotasRequest as Describe
from tests.reference import kafka_tool, needs_reference

pytestmark = needs_reference

EXACT, DEFAULT, SPECIFIED = 0, 1, 2


@pytest.fixture(scope="module")
def kafkapy_bootstrap() -> Iterator[str]:
    with Broker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="module")
def reference_bootstrap() -> Iterator[str]:
    port = free_port()
    broker = start_reference(port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        broker.stop()


def _configs(bootstrap: str, *args: str) -> str:
    return kafka_tool("ConfigCommand", "--bootstrap-server", bootstrap, *args)


def _kafka_configs_session(bootstrap: str) -> list[str]:
    """kafka-configs as an operator uses it; what it prints, one entry per step."""
    out = [
        _configs(bootstrap, "--alter", "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048",
                 "--entity-type", "clients", "--entity-name", "c1"),
        _configs(bootstrap, "--alter", "--add-config", "request_percentage=50",
                 "--entity-type", "users", "--entity-name", "alice"),
        _configs(bootstrap, "--alter", "--add-config", "producer_byte_rate=4096",
                 "--entity-type", "users", "--entity-name", "alice", "--entity-type", "clients",
                 "--entity-name", "c1"),
        _configs(bootstrap, "--alter", "--add-config", "consumer_byte_rate=100000",
                 "--entity-type", "clients", "--entity-default"),
        _configs(bootstrap, "--alter", "--add-config", "controller_mutation_rate=10",
                 "--entity-type", "users", "--entity-default"),
        _configs(bootstrap, "--describe", "--entity-type", "clients", "--entity-name", "c1"),
        _configs(bootstrap, "--describe", "--entity-type", "users", "--entity-name", "alice"),
        _configs(bootstrap, "--describe", "--entity-type", "clients", "--entity-default"),
        _configs(bootstrap, "--describe", "--entity-type", "users", "--entity-default"),
        _configs(bootstrap, "--alter", "--delete-config", "consumer_byte_rate",
                 "--entity-type", "clients", "--entity-name", "c1"),
        _configs(bootstrap, "--describe", "--entity-type", "clients", "--entity-name", "c1"),
        _configs(bootstrap, "--describe", "--entity-type", "clients"),
        _configs(bootstrap, "--describe", "--entity-type", "users"),
        _configs(bootstrap, "--describe", "--entity-type", "users", "--entity-name", "alice",
                 "--entity-type", "clients"),
        _configs(bootstrap, "--alter", "--add-config", "connection_creation_rate=3",
                 "--entity-type", "ips", "--entity-name", "127.0.0.9"),
        _configs(bootstrap, "--describe", "--entity-type", "ips"),
    ]
    return [" ".join(sorted(text.split())) for text in out]  # the tool prints maps in HashMap order


def test_kafka_configs_clients_and_users(kafkapy_bootstrap: str) -> None:
    steps = _kafka_configs_session(kafkapy_bootstrap)
    assert "c1." in steps[0] and "Completed" in steps[0], steps[0]
    assert "consumer_byte_rate=2048.0," in steps[5] and "producer_byte_rate=1024.0" in steps[5], steps[5]
    assert "request_percentage=50.0" in steps[6], steps[6]
    assert "consumer_byte_rate=100000.0" in steps[7], steps[7]
    assert "controller_mutation_rate=10.0" in steps[8], steps[8]
    assert "consumer_byte_rate" not in steps[10] and "producer_byte_rate=1024.0" in steps[10], steps[10]


def test_kafka_configs_prints_what_apache_kafka_prints(kafkapy_bootstrap: str, reference_bootstrap: str) -> None:
    ours = _kafka_configs_session(kafkapy_bootstrap)
    theirs = _kafka_configs_session(reference_bootstrap)
    assert ours == theirs


def _entity(**parts: str | None) -> list[Alter.EntityData]:
    return [Alter.EntityData(entity_type=t.replace("_", "-"), entity_name=n) for t, n in parts.items()]


def _op(key: str, value: float = 0.0, remove: bool = False) -> Alter.OpData:
    return Alter.OpData(key=key, value=value, remove=remove)


ALTERATIONS: list[tuple[str, list[Alter.EntryData], bool]] = [
    ("ok client", [Alter.EntryData(entity=_entity(client_id="raw-c"), ops=[_op("producer_byte_rate", 1000)])], False),
    ("ok user+client", [Alter.EntryData(entity=_entity(user="raw-u", client_id="raw-c"),
                                        ops=[_op("consumer_byte_rate", 5000), _op("request_percentage", 12.5)])],
     False),
    ("ok default user", [Alter.EntryData(entity=_entity(user=None), ops=[_op("producer_byte_rate", 7000)])], False),
    ("ok ip", [Alter.EntryData(entity=_entity(ip="127.0.0.9"), ops=[_op("connection_creation_rate", 3)])], False),
    ("validate only", [Alter.EntryData(entity=_entity(client_id="never"), ops=[_op("producer_byte_rate", 1)])], True),
    ("unknown key", [Alter.EntryData(entity=_entity(client_id="x"), ops=[_op("bogus_rate", 1)])], False),
    ("ip key on client", [Alter.EntryData(entity=_entity(client_id="x"), ops=[_op("connection_creation_rate", 1)])],
     False),
    ("zero", [Alter.EntryData(entity=_entity(client_id="x"), ops=[_op("producer_byte_rate", 0)])], False),
    ("negative", [Alter.EntryData(entity=_entity(user="x"), ops=[_op("request_percentage", -1)])], False),
    ("fraction", [Alter.EntryData(entity=_entity(client_id="x"), ops=[_op("producer_byte_rate", 1.5)])], False),
    ("too large", [Alter.EntryData(entity=_entity(ip="127.0.0.9"), ops=[_op("connection_creation_rate", 3e9)])],
     False),
    ("empty entity", [Alter.EntryData(entity=[], ops=[_op("producer_byte_rate", 1)])], False),
    ("empty name", [Alter.EntryData(entity=_entity(user=""), ops=[_op("producer_byte_rate", 1)])], False),
    ("unknown type", [Alter.EntryData(entity=_entity(group="g"), ops=[_op("producer_byte_rate", 1)])], False),
    ("ip with user", [Alter.EntryData(entity=_entity(ip="127.0.0.9", user="u"),
                                      ops=[_op("producer_byte_rate", 1)])], False),
    ("bad ip", [Alter.EntryData(entity=_entity(ip="300.1.1.1"), ops=[_op("connection_creation_rate", 1)])], False),
    ("duplicate key", [Alter.EntryData(entity=_entity(client_id="dup"), ops=[_op("producer_byte_rate", 1),
                                                                             _op("producer_byte_rate", 2)])], False),
    ("duplicate entity", [Alter.EntryData(entity=_entity(client_id="twice"), ops=[_op("producer_byte_rate", 1)]),
                          Alter.EntryData(entity=_entity(client_id="twice"), ops=[_op("consumer_byte_rate", 1)])],
     False),
    ("remove missing", [Alter.EntryData(entity=_entity(client_id="none"), ops=[_op("producer_byte_rate",
                                                                                    remove=True)])], False),
    ("remove one", [Alter.EntryData(entity=_entity(user="raw-u", client_id="raw-c"),
                                    ops=[_op("request_percentage", remove=True)])], False),
]

DESCRIBES: list[tuple[str, list[Describe.ComponentData], bool]] = [
    ("everything", [], False),
    ("client exact", [Describe.ComponentData(entity_type="client-id", match_type=EXACT, match="raw-c")], False),
    ("client exact strict", [Describe.ComponentData(entity_type="client-id", match_type=EXACT, match="raw-c")], True),
    ("user default", [Describe.ComponentData(entity_type="user", match_type=DEFAULT, match=None)], False),
    ("user specified", [Describe.ComponentData(entity_type="user", match_type=SPECIFIED, match=None)], False),
    ("user specified strict", [Describe.ComponentData(entity_type="user", match_type=SPECIFIED, match=None)], True),
    ("ip specified", [Describe.ComponentData(entity_type="ip", match_type=SPECIFIED, match=None)], False),
    ("exact without match", [Describe.ComponentData(entity_type="user", match_type=EXACT, match=None)], False),
    ("default with match", [Describe.ComponentData(entity_type="user", match_type=DEFAULT, match="u")], False),
    ("specified with match", [Describe.ComponentData(entity_type="user", match_type=SPECIFIED, match="u")], False),
    ("unknown match type", [Describe.ComponentData(entity_type="user", match_type=7, match=None)], False),
    ("unknown entity type", [Describe.ComponentData(entity_type="group", match_type=SPECIFIED, match=None)], False),
    ("empty entity type", [Describe.ComponentData(entity_type="", match_type=SPECIFIED, match=None)], False),
    ("twice", [Describe.ComponentData(entity_type="user", match_type=SPECIFIED, match=None),
               Describe.ComponentData(entity_type="user", match_type=DEFAULT, match=None)], False),
    ("ip and user", [Describe.ComponentData(entity_type="ip", match_type=SPECIFIED, match=None),
                     Describe.ComponentData(entity_type="user", match_type=SPECIFIED, match=None)], False),
]


def _entity_key(entity: Any) -> list[tuple[str, str | None]]:
    return sorted(((e.entity_type, e.entity_name) for e in entity), key=repr)


def _exchanges(bootstrap: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with KafkaConnection(bootstrap) as conn:
        for name, entries, validate_only in ALTERATIONS:
            response = conn.request(Alter(entries=entries, validate_only=validate_only), 1)
            out[f"alter {name}"] = sorted(((_entity_key(e.entity), e.error_code, e.error_message)
                                           for e in response.entries), key=repr)
        for name, components, strict in DESCRIBES:
            response = conn.request(Describe(components=components, strict=strict), 1)
            entries = None if response.entries is None else sorted(
                ((_entity_key(e.entity), sorted((v.key, v.value) for v in e.values)) for e in response.entries),
                key=repr)
            out[f"describe {name}"] = (response.error_code, response.error_message, entries)
    return out


def test_raw_answers_match_apache_kafka(kafkapy_bootstrap: str, reference_bootstrap: str) -> None:
    ours, theirs = _exchanges(kafkapy_bootstrap), _exchanges(reference_bootstrap)
    assert ours["describe client exact"][2], "the raw alterations were applied"
    assert [k for k in theirs if ours[k] != theirs[k]] == [], {k: (ours[k], theirs[k]) for k in theirs
                                                                if ours[k] != theirs[k]}


def test_controller_mutation_quota_answers_match_apache_kafka(kafkapy_bootstrap: str,
                                                              reference_bootstrap: str) -> None:
    from tests.security.test_quotas_enforcement import mutation_answers

    ours, theirs = mutation_answers(kafkapy_bootstrap), mutation_answers(reference_bootstrap)
    assert ours["create"][-1][1] == 89, "the fourth topic was throttled"
    assert ours == theirs
