"""User quotas on authenticated connections: a ``users`` entity matches the SASL
principal's name (Kafka's ``DefaultQuotaCallback`` takes the user from the session's
principal), so alice is throttled and bob, with the same client id, is not; a
user + client-id entity wins over the user's own (KIP-55)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Broker
from tests.security.test_quotas_enforcement import set_quota

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
TOPIC = "user-quota-topic"


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker(sasl_users=USERS) as b:
        conf = b.sasl_client_config("alice", "PLAIN")
        admin = AdminClient(conf)
        admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(timeout=30)
        yield b


def _throttles(broker: Broker, user: str, client_id: str) -> list[float]:
    throttles: list[float] = []
    producer = Producer({**broker.sasl_client_config(user, "PLAIN"), "client.id": client_id, "linger.ms": 0,
                         "throttle_cb": lambda event: throttles.append(event.throttle_time)})
    for _ in range(40):
        producer.produce(TOPIC, b"u" * 1000)
    assert producer.flush(30) == 0
    for _ in range(20):  # the throttle callback is served by poll
        producer.poll(0.1)
        if throttles:
            break
    return throttles


def test_user_quota_applies_to_the_sasl_principal(broker: Broker) -> None:
    host, port = broker.info.listeners["PLAINTEXT"]
    plaintext = f"{host}:{port}"
    set_quota(plaintext, {"user": "alice"}, "producer_byte_rate", 2048)
    time.sleep(0.2)
    assert _throttles(broker, "bob", "app") == []  # no quota for bob
    assert max(_throttles(broker, "alice", "app"), default=0) > 0
    # alice with client id "exempt": a (user, client-id) quota wins over alice's own
    set_quota(plaintext, {"user": "alice", "client-id": "exempt"}, "producer_byte_rate", 1e9)
    time.sleep(0.2)
    assert _throttles(broker, "alice", "exempt") == []
