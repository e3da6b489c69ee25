"""Kafka's Java tools over TLS, against kafkapy and against Apache Kafka 4.4.0 with the
same broker settings (PEM key store and trust store, ``ssl.client.auth=requested``) and
the same client settings: kafka-topics over SSL, the console producer and consumer
with a client certificate (mTLS), and over SASL_SSL with SCRAM-SHA-512."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compat_tests.brokers import free_port, start_reference
from kafkapy.config import BrokerConfig
from kafkapy.testing import Broker
from kafkapy.testing.tls import TestCertificates, client_config, tls_properties
from tests.reference import kafka_tool, needs_reference

pytestmark = needs_reference


def _properties_file(path: Path, config: dict[str, str]) -> str:
    path.write_text("".join(f"{k}={v}\n" for k, v in config.items() if k != "bootstrap.servers"))
    return str(path)


@pytest.fixture(scope="module")
def kafkapy_ssl() -> Iterator[tuple[str, TestCertificates]]:
    with Broker(tls=True, ssl_client_auth="requested") as broker:
        assert broker.certificates is not None
        yield broker.bootstrap_servers, broker.certificates


@pytest.fixture(scope="module")
def reference_ssl() -> Iterator[tuple[str, TestCertificates]]:
    certs = TestCertificates()
    port, ssl_port, controller_port = free_port(), free_port(), free_port()
    name = BrokerConfig.field_name
    overrides = tls_properties(certs, client_auth="requested")
    overrides.update({
        name("listeners"): f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port},"
                           f"CONTROLLER://127.0.0.1:{controller_port}",
        name("advertised_listeners"): f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}",
        name("controller_quorum_voters"): f"1@127.0.0.1:{controller_port}",
        name("listener_security_protocol_map"): "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL",
    })
    broker = start_reference(port, overrides=overrides)
    try:
        yield f"127.0.0.1:{ssl_port}", certs
    finally:
        broker.stop()
        certs.cleanup()


@pytest.mark.parametrize("which", ["kafkapy", "reference"])
def test_java_tools_over_ssl_and_mtls(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    bootstrap, certs = request.getfixturevalue(f"{which}_ssl")
    plain_tls = _properties_file(tmp_path / "ssl.properties",
                                 client_config(bootstrap, certs.ca_file, family="java"))
    mtls = _properties_file(tmp_path / "mtls.properties",
                            client_config(bootstrap, certs.ca_file, family="java", client=certs.client("java")))
    kafka_tool("TopicCommand", "--bootstrap-server", bootstrap, "--command-config", plain_tls, "--create",
               "--topic", "java-tls", "--partitions", "1", "--replication-factor", "1")
    listed = kafka_tool("TopicCommand", "--bootstrap-server", bootstrap, "--command-config", plain_tls, "--list")
    assert "java-tls" in listed.split()
    kafka_tool("ConsoleProducer", "--bootstrap-server", bootstrap, "--topic", "java-tls",
               "--command-config", mtls, stdin="one\ntwo\n")
    consumed = kafka_tool("consumer.ConsoleConsumer", "--bootstrap-server", bootstrap, "--topic", "java-tls",
                          "--from-beginning", "--max-messages", "2", "--command-config", plain_tls)
    assert consumed.split() == ["one", "two"]


def test_java_console_clients_over_sasl_ssl_with_scram(tmp_path: Path) -> None:
    with Broker(tls=True, sasl_users={"alice": "alice-secret"}, sasl_mechanisms=["SCRAM-SHA-512"]) as broker:
        config = broker.tls_client_config("java", user="alice", mechanism="SCRAM-SHA-512")
        assert config["security.protocol"] == "SASL_SSL"
        client = _properties_file(tmp_path / "sasl-ssl.properties", config)
        bootstrap = broker.bootstrap_servers
        kafka_tool("ConsoleProducer", "--bootstrap-server", bootstrap, "--topic", "java-sasl-ssl",
                   "--command-config", client, stdin="a\nb\n")
        consumed = kafka_tool("consumer.ConsoleConsumer", "--bootstrap-server", bootstrap, "--topic",
                              "java-sasl-ssl", "--from-beginning", "--max-messages", "2", "--command-config", client)
        assert consumed.split() == ["a", "b"]
