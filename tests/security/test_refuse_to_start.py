"""Never a silent downgrade: settings kafkapy cannot honour refuse to start, naming the setting."""

from __future__ import annotations

import pytest

from kafkapy.broker.security.listener_security import SecurityConfigError, check_security
from kafkapy.config import BrokerConfig
from kafkapy.node import test_properties as node_properties
from kafkapy.testing import Broker

PLAIN_JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="pw";'
BASE = {
    "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
    "advertised.listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
    "inter.broker.listener.name": "PLAINTEXT",
    "sasl.enabled.mechanisms": "PLAIN",
    "sasl.jaas.config": PLAIN_JAAS,
}


def _refused(extra: dict[str, str]) -> str:
    # SecurityConfigError, or the config table's own refusal of a known setting (both ValueError)
    with pytest.raises(ValueError) as caught:
        check_security(BrokerConfig.from_properties(node_properties({**BASE, **extra})))
    return str(caught.value)


def test_a_sasl_listener_with_plain_and_scram_starts() -> None:
    security = check_security(BrokerConfig.from_properties(node_properties(
        {**BASE, "ssl.client.auth": "none",  # Kafka's default: nothing asked of TLS
         "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
         "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS.replace("alice", "carol")})))
    sasl = security.sasl_for("SASL_PLAINTEXT")
    assert sasl is not None and sasl.mechanisms == ("SCRAM-SHA-512", "PLAIN")
    assert dict(sasl.plain_users) == {"carol": "pw"}  # the listener's own JAAS config wins
    assert security.sasl_for("PLAINTEXT") is None


@pytest.mark.parametrize(("extra", "named"), [
    ({"sasl.enabled.mechanisms": "GSSAPI"}, "GSSAPI"),
    ({"sasl.enabled.mechanisms": "PLAIN,OAUTHBEARER"}, "OAUTHBEARER"),
    ({"sasl.enabled.mechanisms": ""}, "No SASL mechanisms are enabled"),
    ({"sasl.jaas.config": "nonsense"}, "sasl.jaas.config"),
    # TLS settings kafkapy cannot honour: tests/security/test_tls_config.py.
    ({"ssl.provider": "SunJSSE"}, "ssl.provider"),
    ({"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer"}, "authorizer.class.name"),
    ({"sasl.server.callback.handler.class": "com.example.Handler"}, "sasl.server.callback.handler.class"),
    ({"listeners": "SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"}, "SASL_SSL"),
    ({"listeners": "SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"}, "has no key store"),
    # Kafka's default inter-broker and controller mechanism, GSSAPI, not enabled (KafkaConfig's message).
    ({"inter.broker.listener.name": "SASL_PLAINTEXT"},
     "sasl.mechanism.inter.broker.protocol must be included in sasl.enabled.mechanisms"),
    ({"listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT,"
                                        "SASL_PLAINTEXT:SASL_PLAINTEXT"},
     "sasl.mechanism.controller.protocol must be included in sasl.enabled.mechanisms"),
    # PLAIN enabled and chosen, but the JAAS entry has no username/password to connect with.
    ({"inter.broker.listener.name": "SASL_PLAINTEXT", "sasl.mechanism.inter.broker.protocol": "PLAIN"},
     "username and password"),
    # SCRAM's credentials are in the metadata log: not on the controller listener.
    ({"listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT,"
                                        "SASL_PLAINTEXT:SASL_PLAINTEXT",
      "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256", "sasl.mechanism.controller.protocol": "SCRAM-SHA-256"},
     "SCRAM credentials are stored in the metadata log"),
    ({"inter.broker.listener.name": "SASL_PLAINTEXT", "sasl.enabled.mechanisms": "PLAIN,OAUTHBEARER",
      "sasl.mechanism.inter.broker.protocol": "OAUTHBEARER"}, "OAUTHBEARER"),
    ({"listeners": "SECURE://127.0.0.1:0,PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"},
     "No security protocol defined for listener SECURE"),
])
def test_what_cannot_be_honoured_is_refused(extra: dict[str, str], named: str) -> None:
    assert named in _refused(extra)


def test_sasl_controller_and_inter_broker_listeners_with_client_credentials_start() -> None:
    from kafkapy.broker.security.listener_security import controller_sasl_client, inter_broker_sasl_client

    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="node" password="npw" '
            'user_node="npw";')
    config = BrokerConfig.from_properties(node_properties({
        **BASE, "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT,"
                                                  "SASL_PLAINTEXT:SASL_PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT", "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN", "listener.name.controller.plain.sasl.jaas.config": jaas,
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas}))
    security = check_security(config)
    assert security.sasl_for("CONTROLLER") is not None
    for client in (controller_sasl_client(config), inter_broker_sasl_client(config)):
        assert client is not None and (client.mechanism, client.username, client.password) == ("PLAIN", "node", "npw")


def test_plain_without_jaas_config_is_refused() -> None:
    props = {k: v for k, v in BASE.items() if k != "sasl.jaas.config"}
    with pytest.raises(SecurityConfigError, match="no JAAS configuration"):
        check_security(BrokerConfig.from_properties(node_properties(props)))


def test_kafkas_default_gssapi_on_a_sasl_listener_refuses_to_start_a_broker() -> None:
    props = {k: v for k, v in BASE.items() if k != "sasl.enabled.mechanisms"}  # Kafka's default: [GSSAPI]
    broker = Broker(props)
    with pytest.raises(RuntimeError) as caught:
        broker.start()
    cause: BaseException | None = caught.value.__cause__
    while isinstance(cause, BaseExceptionGroup):
        cause = cause.exceptions[0]
    assert isinstance(cause, SecurityConfigError)
    assert "GSSAPI" in str(cause) and "sasl.enabled.mechanisms" in str(cause)
    broker.close()
