"""Key stores reloaded through AlterConfigs (Kafka's dynamic per-broker SSL configs): new
connections get the new certificate, a store that cannot be loaded leaves the previous
one in use, and the settings kafkapy does not reload are refused."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from kafkapy.config import LISTENER_CONFIG_PREFIX, BrokerConfig
from kafkapy.testing import Broker
from kafkapy.testing.tls import TestCertificates, client_config


def _reachable(bootstrap: str, ca_file: str) -> bool:
    try:
        AdminClient({**client_config(bootstrap, ca_file), "socket.timeout.ms": 3000}).list_topics(timeout=4)
    except KafkaException:
        return False
    return True


def _set(admin: AdminClient, broker: str, name: str, value: str) -> None:
    entry = ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
    futures = admin.incremental_alter_configs([ConfigResource(ResourceType.BROKER, broker, incremental_configs=[entry])])
    for future in futures.values():
        future.result(30)


def _until(check: Any, timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_alter_configs_reloads_the_key_store() -> None:
    other = TestCertificates()  # a certificate of another CA
    try:
        with Broker(tls=True) as broker:
            assert broker.certificates is not None
            host, port = broker.info.listeners["PLAINTEXT"]
            admin = AdminClient({"bootstrap.servers": f"{host}:{port}"})
            node = str(broker.node_id)
            bootstrap, first_ca = broker.bootstrap_servers, broker.certificates.ca_file
            assert _reachable(bootstrap, first_ca) and not _reachable(bootstrap, other.ca_file)
            location = f"{LISTENER_CONFIG_PREFIX}ssl.{BrokerConfig.field_name('ssl_keystore_location')}"
            _set(admin, node, location, other.broker.pem)
            assert _until(lambda: _reachable(bootstrap, other.ca_file))
            assert not _reachable(bootstrap, first_ca)
            # A store that cannot be loaded, or whose certificate names another subject
            # (Kafka's ssl.allow.dn.changes=false): the previous one stays in use.
            _set(admin, node, location, "/nonexistent/broker.pem")
            _set(admin, node, location, broker.certificates.client("not-the-broker").pem)
            time.sleep(1)
            assert _reachable(bootstrap, other.ca_file)
            assert not _reachable(bootstrap, first_ca)
            # Settings kafkapy does not apply to running listeners are refused, not stored.
            with pytest.raises(KafkaException, match="Cannot update these configs dynamically"):
                _set(admin, node, BrokerConfig.field_name("ssl_client_auth"), "required")
    finally:
        other.cleanup()
