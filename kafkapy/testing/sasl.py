"""SASL for test brokers: the properties of a SASL_PLAINTEXT listener with users, the
SCRAM credentials to create, and each client family's configuration.

``Broker(sasl_users={"alice": "alice-secret"})`` serves clients on a SASL_PLAINTEXT
listener (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 by default) and keeps a PLAINTEXT
listener for its own inter-broker traffic (a SASL inter-broker or controller
listener is a cluster's setting: tests/security/test_sasl_cluster.py). PLAIN users go into the listener's JAAS config, SCRAM users into
the metadata log, as ``kafka-configs --add-config 'SCRAM-SHA-256=[...]'`` puts them.

``sasl_mechanisms=["OAUTHBEARER"]`` enables Kafka's default OAUTHBEARER validator
(unsecured ``alg: none`` tokens, any principal: the user names need no password);
:mod:`kafkapy.testing.oauth` makes signed tokens and a JWKS for the validated kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kafkapy.config import LISTENER_CONFIG_PREFIX, BrokerConfig

SASL_LISTENER = "SASL_PLAINTEXT"
INTERNAL_LISTENER = "PLAINTEXT"
#: Every mechanism kafkapy serves.
ALL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
#: Iterations of the SCRAM credentials made for test users (Kafka's minimum, 4096).
TEST_SCRAM_ITERATIONS = 4096
_PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
OAUTHBEARER = "OAUTHBEARER"
_OAUTHBEARER_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
#: The SASL listener names a test broker may have (SASL_SSL with ``tls=True``).
_SASL_LISTENERS = ("SASL_PLAINTEXT", "SASL_SSL")


def oauthbearer_jaas_config(**options: str) -> str:
    """An OAuthBearerLoginModule JAAS config (``unsecuredValidator*`` options for the broker,
    ``unsecuredLoginStringClaim_sub`` for a Java client)."""
    text = " ".join(f"{key}={_quoted(value)}" for key, value in options.items())
    return f"{_OAUTHBEARER_MODULE} required{' ' + text if text else ''};"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plain_jaas_config(users: Mapping[str, str]) -> str:
    """A PlainLoginModule JAAS config accepting ``users`` (``user_<name>="<password>"``)."""
    options = " ".join(f"user_{name}={_quoted(password)}" for name, password in users.items())
    return f"{_PLAIN_MODULE} required {options};"


def sasl_properties(users: Mapping[str, str], mechanisms: Sequence[str] = ALL_MECHANISMS) -> dict[str, str]:
    """Broker properties: a SASL_PLAINTEXT client listener first (the one clients
    bootstrap from), a PLAINTEXT inter-broker listener, the controller's, and the
    users' JAAS config for PLAIN."""
    name = BrokerConfig.field_name
    props = {
        name("listeners"): f"{SASL_LISTENER}://127.0.0.1:0,{INTERNAL_LISTENER}://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        name("advertised_listeners"): f"{SASL_LISTENER}://127.0.0.1:0,{INTERNAL_LISTENER}://127.0.0.1:0",
        name("inter_broker_listener_name"): INTERNAL_LISTENER,
        name("sasl_enabled_mechanisms"): ",".join(mechanisms),
    }
    if "PLAIN" in mechanisms:
        props[name("sasl_jaas_config")] = plain_jaas_config(users)
    if OAUTHBEARER in mechanisms:
        # Kafka wants the mechanism's own login module; one key per listener it may be on.
        for listener in _SASL_LISTENERS:
            props[f"{LISTENER_CONFIG_PREFIX}{listener.lower()}.oauthbearer.{name('sasl_jaas_config')}"] = \
                oauthbearer_jaas_config()
    return props


def scram_upsertions(users: Mapping[str, str], mechanisms: Sequence[str]) -> list[Any]:
    """The AlterUserScramCredentials upsertions that give every user a credential for
    every SCRAM mechanism in ``mechanisms``."""
    import secrets

    from kafkapy.broker.security.scram import ScramMechanism, salted_password
    from kafkapy.kraft.metadata.scram_control import ScramUpsertion

    out = []
    for mechanism_name in mechanisms:
        mechanism = ScramMechanism.from_mechanism_name(mechanism_name)
        if not mechanism:
            continue
        for user, password in users.items():
            salt = secrets.token_bytes(32)
            out.append(ScramUpsertion(user, int(mechanism), TEST_SCRAM_ITERATIONS, salt,
                                      salted_password(mechanism, password, salt, TEST_SCRAM_ITERATIONS)))
    return out


def client_config(bootstrap_servers: str, user: str, password: str, mechanism: str = "PLAIN",
                  family: str = "librdkafka") -> dict[str, Any]:
    """One client family's settings to reach a SASL_PLAINTEXT broker as ``user``.

    Args:
        family: ``librdkafka`` (confluent-kafka), ``kafka-python`` or ``java``
            (properties for Kafka's clients and tools).
        mechanism: ``OAUTHBEARER`` gives unsecured tokens for ``user`` (librdkafka's
            ``enable.sasl.oauthbearer.unsecure.jwt``, a kafka-python token provider,
            Java's ``unsecuredLoginStringClaim_sub``); ``password`` is not used.
    """
    if mechanism == OAUTHBEARER:
        return oauthbearer_client_config(bootstrap_servers, user, family)
    if family == "librdkafka":
        return {"bootstrap.servers": bootstrap_servers, "security.protocol": SASL_LISTENER,
                "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}
    if family == "kafka-python":
        return {"bootstrap_servers": bootstrap_servers, "security_protocol": SASL_LISTENER,
                "sasl_mechanism": mechanism, "sasl_plain_username": user, "sasl_plain_password": password}
    if family == "java":
        module = (_PLAIN_MODULE if mechanism == "PLAIN"
                  else "org.apache.kafka.common.security.scram.ScramLoginModule")
        return {"bootstrap.servers": bootstrap_servers, "security.protocol": SASL_LISTENER,
                "sasl.mechanism": mechanism,
                "sasl.jaas.config": f"{module} required username={_quoted(user)} password={_quoted(password)};"}
    raise ValueError(f"unknown client family {family!r}: librdkafka, kafka-python or java")


def oauthbearer_client_config(bootstrap_servers: str, principal: str, family: str = "librdkafka",
                              token: str | None = None) -> dict[str, Any]:
    """One client family's settings to reach a SASL_PLAINTEXT broker with OAUTHBEARER.

    Without ``token``, an unsecured token for ``principal`` that the client makes itself
    (librdkafka and Java) or :func:`kafka_python_token_provider` makes; with ``token``, that
    token (a signed one, :mod:`kafkapy.testing.oauth`) for librdkafka (through
    ``oauth_cb``) and kafka-python.
    """
    base = {"bootstrap.servers": bootstrap_servers, "security.protocol": SASL_LISTENER,
            "sasl.mechanism": OAUTHBEARER}
    if family == "librdkafka":
        if token is not None:
            import time

            return {**base, "oauth_cb": lambda _config: (token, time.time() + 3600)}
        return {**base, "enable.sasl.oauthbearer.unsecure.jwt": True,
                "sasl.oauthbearer.config": f"principal={principal}"}
    if family == "kafka-python":
        return {"bootstrap_servers": bootstrap_servers, "security_protocol": SASL_LISTENER,
                "sasl_mechanism": OAUTHBEARER,
                "sasl_oauth_token_provider": kafka_python_token_provider(principal, token)}
    if family == "java":
        if token is not None:
            raise ValueError("Kafka's Java login module makes its own tokens: use family librdkafka or kafka-python")
        return {**base, "sasl.jaas.config": oauthbearer_jaas_config(unsecuredLoginStringClaim_sub=principal)}
    raise ValueError(f"unknown client family {family!r}: librdkafka, kafka-python or java")


def kafka_python_token_provider(principal: str, token: str | None = None) -> Any:
    """kafka-python's ``sasl_oauth_token_provider``: ``token``, or a fresh unsecured
    token for ``principal`` on each connection (kafka-python is imported only here)."""
    from kafka.net.sasl.oauth import AbstractTokenProvider

    from kafkapy.broker.security.oauthbearer import unsecured_token

    class TokenProvider(AbstractTokenProvider):
        def token(self) -> str:
            return token if token is not None else unsecured_token(principal)

    return TokenProvider()
