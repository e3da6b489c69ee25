"""OAUTHBEARER against Apache Kafka 4.4.0 with the same settings, and Kafka's Java client on kafkapy.

* The Java console producer and consumer authenticate to kafkapy with Kafka's unsecured
  login (``OAuthBearerLoginModule`` with ``unsecuredLoginStringClaim_sub``), and with a
  signed token read from a file (``OAuthBearerLoginCallbackHandler``,
  ``sasl.oauthbearer.token.endpoint.url=file://...``) on a kafkapy broker that checks
  it against a JWKS.
* The answers to SaslHandshake and SaslAuthenticate for unsecured tokens (good, expired,
  signed with an algorithm, lacking the required scope, a principal other than the
  authorization id, a malformed first message, the client's ``\\x01`` after the JSON
  challenge, re-authentication) are compared field by field with the reference broker's,
  both run with Kafka's default validator and the same ``unsecuredValidator*`` options.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import subprocess

import pytest

from compat_tests.brokers import QUICK_TOOL_JVM, free_port, start_reference, tool_command
from kafkapy.broker.security.oauthbearer import client_initial_response, unsecured_token
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.testing.oauth import TokenIssuer, jwks_broker_properties
from kafkapy.testing.sasl import oauthbearer_jaas_config
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.reference import kafka_tool, needs_reference
from tests.security.reference import reference_with_sasl

pytestmark = needs_reference

#: The broker's OAUTHBEARER login module on both brokers: Kafka's server logs in with it too.
SERVER_JAAS = oauthbearer_jaas_config(unsecuredLoginStringClaim_sub="admin", unsecuredValidatorRequiredScope="produce")
SETTINGS = {
    "sasl.enabled.mechanisms": "OAUTHBEARER,PLAIN",
    "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": SERVER_JAAS,
    "listener.name.sasl_plaintext.plain.sasl.jaas.config":
        'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";',
    "connections.max.reauth.ms": "600000",
}


@pytest.fixture(scope="module")
def kafkapy_broker() -> Iterator[str]:
    with Broker(SETTINGS, sasl_users={}, sasl_mechanisms=["OAUTHBEARER", "PLAIN"]) as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="module")
def reference_broker() -> Iterator[str]:
    with reference_with_sasl(SETTINGS) as (sasl, _plaintext):
        yield sasl


def test_the_java_console_producer_with_unsecured_login(tmp_path) -> None:
    with Broker(sasl_users={}, sasl_mechanisms=["OAUTHBEARER"]) as broker:
        client = tmp_path / "client.properties"
        config = broker.sasl_client_config("alice", "OAUTHBEARER", family="java")
        client.write_text("".join(f"{k}={v}\n" for k, v in config.items() if k != "bootstrap.servers"))
        assert "unsecuredLoginStringClaim_sub=\"alice\"" in client.read_text()
        kafka_tool("ConsoleProducer", "--bootstrap-server", broker.bootstrap_servers, "--topic", "oauth-java",
                   "--command-config", str(client), stdin="one\ntwo\n")
        consumed = kafka_tool("consumer.ConsoleConsumer", "--bootstrap-server", broker.bootstrap_servers,
                              "--topic", "oauth-java", "--from-beginning", "--max-messages", "2",
                              "--command-config", str(client))
        assert consumed.split() == ["one", "two"]
        assert [r.value for r in broker.records("oauth-java")] == [b"one", b"two"]


def test_the_java_console_producer_with_a_signed_token(tmp_path) -> None:
    issuer = TokenIssuer(tmp_path)
    token_file = tmp_path / "token.jwt"
    token_file.write_text(issuer.token("alice", audience="kafka", scope="produce"))
    token_url = token_file.resolve().as_uri()
    client = tmp_path / "client.properties"
    client.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n"
        "sasl.login.callback.handler.class="
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n"
        f"sasl.oauthbearer.token.endpoint.url={token_url}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\n")
    # Kafka 4's clients read OAuth URLs and files only where these system properties allow
    jvm = (*QUICK_TOOL_JVM, f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={token_url}",
           f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.files={token_file.resolve()}")
    with Broker(jwks_broker_properties(issuer.jwks_url, audience="kafka"), sasl_users={},
                sasl_mechanisms=["OAUTHBEARER"]) as broker:
        done = subprocess.run(tool_command("ConsoleProducer", "--bootstrap-server", broker.bootstrap_servers,
                                           "--topic", "oauth-signed", "--command-config", str(client),
                                           jvm_options=jvm),
                              input="signed\n", capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert [r.value for r in broker.records("oauth-signed")] == [b"signed"]
        token_file.write_text(issuer.token("alice", audience="elsewhere"))  # the broker refuses it
        done = subprocess.run(tool_command("TopicCommand", "--bootstrap-server", broker.bootstrap_servers,
                                           "--list", "--command-config", str(client), jvm_options=jvm),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode != 0
        assert 'SaslAuthenticationException: {"status":"invalid_token"}' in done.stdout + done.stderr


def _fields(message: Any) -> dict[str, Any]:
    out = {}
    for name in message.__slots__:
        value = getattr(message, name)
        out[name] = bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else value
    if "session_lifetime_ms" in out:  # depends on the clock: only whether the token's exp bounds it
        lifetime = out.pop("session_lifetime_ms")
        out["session lifetime"] = "none" if lifetime == 0 else "token" if lifetime <= 120_000 else lifetime
    return out


def _signed_looking(principal: str) -> str:
    """A token whose header names an algorithm (the unsecured validator wants ``none``)."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256"}).encode()).rstrip(b"=").decode()
    claims = unsecured_token(principal, scope=["produce"]).split(".")[1]
    return f"{header}.{claims}.c2ln"


def _url_alphabet_token() -> str:
    """A valid unsecured token whose claims segment has ``-`` or ``_`` (Base64URL only)."""
    for n in range(1, 30):
        token = unsecured_token("alice", scope=["produce"], note=">" * n + "?" * n)
        if any(c in token.split(".")[1] for c in "-_"):
            return token
    raise AssertionError("no token with a Base64URL-only character")


def _exchange(sasl: str, message: bytes, *, then: bytes | None = b"\x01") -> list[dict[str, Any]]:
    with KafkaConnection(sasl) as conn:
        answers = [_fields(conn.request(SaslHandshakeRequest(mechanism="OAUTHBEARER"), 1))]
        answers.append(_fields(conn.request(SaslAuthenticateRequest(auth_bytes=message), 2)))
        if answers[-1]["error_code"] == 0 and answers[-1]["auth_bytes"] and then is not None:
            answers.append(_fields(conn.request(SaslAuthenticateRequest(auth_bytes=then), 2)))
        try:
            conn.request(MetadataRequest(topics=[]), 12)
            answers.append({"connection": "open"})
        except ConnectionError:
            answers.append({"connection": "closed"})
    return answers


def _exchanges(sasl: str) -> dict[str, Any]:
    now = time.time()
    good = unsecured_token("alice", lifetime_s=120, scope=["produce"])
    out: dict[str, Any] = {
        "good token": _exchange(sasl, client_initial_response(good, extensions={"traceId": "t1"})),
        "expired": _exchange(sasl, client_initial_response(
            unsecured_token("alice", lifetime_s=60, now_s=now - 3600, scope=["produce"]))),
        "issued in the future": _exchange(sasl, client_initial_response(
            unsecured_token("alice", now_s=now + 3600, scope=["produce"]))),
        "no scope": _exchange(sasl, client_initial_response(unsecured_token("alice"))),
        "an algorithm": _exchange(sasl, client_initial_response(_signed_looking("alice"))),
        "no principal": _exchange(sasl, client_initial_response(unsecured_token("", scope=["produce"]))),
        "other authorization id": _exchange(sasl, client_initial_response(good, authorization_id="bob")),
        "malformed": _exchange(sasl, b"n,,auth=Bearer x"),
        "base64url claims": _exchange(sasl, client_initial_response(_url_alphabet_token())),
        "not the acknowledgement": _exchange(sasl, client_initial_response(unsecured_token("alice")),
                                             then=b"\x02"),
    }
    def authenticate(conn: KafkaConnection, token: str) -> list[dict[str, Any]]:
        return [_fields(conn.request(SaslHandshakeRequest(mechanism="OAUTHBEARER"), 1)),
                _fields(conn.request(SaslAuthenticateRequest(auth_bytes=client_initial_response(token)), 2))]

    with KafkaConnection(sasl) as conn:  # KIP-368: a fresh token; another within a second is refused
        authenticate(conn, good)
        out["re-authentication"] = authenticate(conn, unsecured_token("alice", lifetime_s=7200, scope=["produce"]))
        out["re-authentication within a second"] = authenticate(conn, good)
    with KafkaConnection(sasl) as conn:
        authenticate(conn, good)
        out["re-authentication as another principal"] = authenticate(
            conn, unsecured_token("bob", scope=["produce"])) + _exchange_closed(conn)
    return out


def _exchange_closed(conn: KafkaConnection) -> list[dict[str, Any]]:
    try:
        conn.request(MetadataRequest(topics=[]), 12)
        return [{"connection": "open"}]
    except ConnectionError:
        return [{"connection": "closed"}]


def test_oauthbearer_answers_match_apache_kafka(kafkapy_broker: str, reference_broker: str) -> None:
    ours, theirs = _exchanges(kafkapy_broker), _exchanges(reference_broker)
    for case in theirs:
        assert ours[case] == theirs[case], case


# --- JWKS-validated tokens on both brokers -----------------------------------------------


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> TokenIssuer:
    return TokenIssuer(tmp_path_factory.mktemp("jwks"))


def _jwks_settings(issuer: TokenIssuer) -> dict[str, str]:
    return {**jwks_broker_properties(issuer.jwks_url, audience="kafka", issuer=issuer.issuer),
            "sasl.enabled.mechanisms": "OAUTHBEARER",
            "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config":
                oauthbearer_jaas_config(unsecuredLoginStringClaim_sub="admin")}


@pytest.fixture(scope="module")
def jwks_brokers(issuer: TokenIssuer) -> Iterator[tuple[str, str]]:
    """(kafkapy, Apache Kafka) SASL bootstraps, both validating against the same JWKS file."""
    port, sasl_port, controller_port = free_port(), free_port(), free_port()
    overrides = {
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},"
                     f"CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        **_jwks_settings(issuer),
    }
    # Kafka 4 reads OAuth URLs and files only where these JVM system properties allow
    allowed = (f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={issuer.jwks_url} "
               f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.files={issuer.jwks_path.resolve()}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAVA_TOOL_OPTIONS", allowed)
        reference = start_reference(port, overrides=overrides)
    try:
        with Broker(_jwks_settings(issuer), sasl_users={}, sasl_mechanisms=["OAUTHBEARER"]) as broker:
            yield broker.bootstrap_servers, f"127.0.0.1:{sasl_port}"
    finally:
        reference.stop()


def _jwks_exchanges(sasl: str, issuer: TokenIssuer, tmp_path) -> dict[str, Any]:
    stranger = TokenIssuer(tmp_path)
    tokens = {
        "good": issuer.token("alice", audience="kafka", lifetime_s=120),
        "audience list": issuer.token("alice", audience=["other", "kafka"], lifetime_s=120),
        "wrong audience": issuer.token("alice", audience="elsewhere"),
        "no audience": issuer.token("alice"),
        "wrong issuer": issuer.token("alice", audience="kafka", issuer="https://evil.test"),
        "expired": issuer.token("alice", audience="kafka", lifetime_s=-600),
        "another key, same kid": stranger.token("alice", audience="kafka", kid=issuer.kid),
        "unknown kid": stranger.token("alice", audience="kafka"),
        "unsecured": unsecured_token("alice", aud="kafka", iss=issuer.issuer),
        "no subject": issuer.token("", audience="kafka"),
    }
    return {name: _exchange(sasl, client_initial_response(token)) for name, token in tokens.items()}


def test_jwks_answers_match_apache_kafka(jwks_brokers: tuple[str, str], issuer: TokenIssuer, tmp_path) -> None:
    ours, theirs = (_jwks_exchanges(sasl, issuer, tmp_path) for sasl in jwks_brokers)
    assert theirs["good"][1]["auth_bytes"] == b""  # the reference accepts what it should
    for case in theirs:
        assert ours[case] == theirs[case], case
