"""SASL/OAUTHBEARER with real clients against an in-process kafkapy broker.

* Unsecured tokens (Kafka's default validator): confluent-kafka with librdkafka's own
  unsecured JWT (``sasl.oauthbearer.config=principal=alice``) and kafka-python with a
  token provider produce and consume as ``User:alice`` under ACLs that only alice has;
  a token for another principal is refused the topic.
* Raw exchanges: the ``{"status":"invalid_token"}`` challenge, the client's ``\\x01``,
  then SASL_AUTHENTICATION_FAILED with that JSON; ``insufficient_scope`` for a required
  scope; a malformed first message; the session lifetime bounded by the token's ``exp``
  (KIP-368), re-authentication with a fresh token, not twice within a second, and
  never as another principal.
* JWKS-validated tokens: a test identity provider (:mod:`kafkapy.testing.oauth`) signs
  tokens (good, wrong audience, expired, wrong key, unsecured); each client gets in or
  gets its authentication error. The JWKS is served from a file and from a local HTTP
  server whose key set changes (a new ``kid`` makes the broker fetch it again).
* Settings kafkapy refuses: a JWKS URL with Kafka's default (unsecured) validator,
  another callback handler class, no JAAS entry, a URL scheme Kafka refuses.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from kafkapy.broker.security.listener_security import SecurityConfigError, check_security
from kafkapy.broker.security.oauthbearer import client_initial_response, unsecured_token
from kafkapy.config import TEST_PROPERTIES, BrokerConfig
from kafkapy.testing import Broker
from kafkapy.testing.acls import allow
from kafkapy.testing.client import KafkaConnection
from kafkapy.testing.oauth import TokenIssuer, jwks_broker_properties
from kafkapy.testing.sasl import oauthbearer_client_config, oauthbearer_jaas_config, sasl_properties
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest

OAUTH = ["OAUTHBEARER"]
ACLS = [allow("User:alice", "ALL", "TOPIC", "oauth-", prefixed=True),
        allow("User:alice", "READ", "GROUP", "oauth-", prefixed=True)]
INVALID_TOKEN = '{"status":"invalid_token"}'


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    config = {"connections.max.reauth.ms": "600000",
              "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config":
                  oauthbearer_jaas_config(unsecuredValidatorAllowableClockSkewMs="1000")}
    with Broker(config, sasl_users={}, sasl_mechanisms=OAUTH, acls=ACLS) as b:
        yield b


def _round_trip(conf: dict, topic: str, group: str) -> list[bytes]:
    producer = Producer(conf)
    for i in range(3):
        producer.produce(topic, f"v{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    for _ in range(60):
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
        if len(values) == 3:
            break
    consumer.close()
    return values


def test_confluent_kafka_unsecured_jwt_is_user_alice(broker: Broker) -> None:
    topic = f"oauth-ck-{uuid.uuid4().hex[:6]}"
    broker.create_topics(topic)
    conf = broker.sasl_client_config("alice", "OAUTHBEARER")
    assert conf["sasl.oauthbearer.config"] == "principal=alice"
    assert _round_trip(conf, topic, f"oauth-{topic}") == [b"v0", b"v1", b"v2"]


def test_another_principal_is_not_alice(broker: Broker) -> None:
    topic = f"oauth-ck-{uuid.uuid4().hex[:6]}"
    broker.create_topics(topic)
    errors: list[KafkaError] = []
    producer = Producer({**broker.sasl_client_config("mallory", "OAUTHBEARER"), "message.timeout.ms": 5000})
    producer.produce(topic, b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(30)
    assert errors and errors[0] is not None and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors


def test_kafka_python_with_a_token_provider(broker: Broker) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"oauth-kp-{uuid.uuid4().hex[:6]}"
    broker.create_topics(topic)
    conf = broker.sasl_client_config("alice", "OAUTHBEARER", family="kafka-python")
    producer = KafkaProducer(**conf)
    producer.send(topic, b"hello").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, **conf, group_id=f"oauth-{topic}", auto_offset_reset="earliest",
                             consumer_timeout_ms=10000)
    assert [m.value for m in consumer] == [b"hello"]
    consumer.close()


def _authenticate(conn: KafkaConnection, message: bytes, version: int = 2):
    assert conn.request(SaslHandshakeRequest(mechanism="OAUTHBEARER"), 1).error_code == 0
    return conn.request(SaslAuthenticateRequest(auth_bytes=message), version)


def _accepted(conn: KafkaConnection, message: bytes):
    """The SaslAuthenticate answer, asserted to be success (no error, no JSON challenge)."""
    answer = _authenticate(conn, message)
    assert (answer.error_code, bytes(answer.auth_bytes)) == (ErrorCode.NONE, b""), answer
    return answer


def test_a_bad_token_gets_the_json_challenge_then_fails(broker: Broker) -> None:
    expired = unsecured_token("alice", lifetime_s=60, now_s=time.time() - 3600)
    with KafkaConnection(broker.bootstrap_servers) as conn:
        challenge = _authenticate(conn, client_initial_response(expired))
        assert (challenge.error_code, bytes(challenge.auth_bytes)) == (ErrorCode.NONE, INVALID_TOKEN.encode())
        final = conn.request(SaslAuthenticateRequest(auth_bytes=b"\x01"), 2)
        assert (final.error_code, final.error_message) == (ErrorCode.SASL_AUTHENTICATION_FAILED, INVALID_TOKEN)
        with pytest.raises(ConnectionError):
            conn.request(MetadataRequest(topics=[]), 12)


@pytest.mark.parametrize("token", [
    "not-a-jwt",
    unsecured_token("alice").rstrip(".") + ".c2lnbmF0dXJl",  # a signature on an alg=none token
    unsecured_token(""),  # no principal
])
def test_malformed_tokens_are_invalid(broker: Broker, token: str) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        assert bytes(_authenticate(conn, client_initial_response(token)).auth_bytes) == INVALID_TOKEN.encode()


def test_a_malformed_first_message_fails_at_once(broker: Broker) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        answer = _authenticate(conn, b"n,,auth=Bearer x")
        assert (answer.error_code, answer.error_message) == (
            ErrorCode.SASL_AUTHENTICATION_FAILED,
            "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER")


def test_session_lifetime_is_bounded_by_the_token_and_reauthentication(broker: Broker) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        answer = _accepted(conn, client_initial_response(unsecured_token("alice", lifetime_s=120),
                                                         extensions={"traceId": "abc"}))
        assert 0 < answer.session_lifetime_ms <= 120_000  # exp, not connections.max.reauth.ms
        assert conn.request(MetadataRequest(topics=[]), 12).brokers
        again = _accepted(conn, client_initial_response(unsecured_token("alice", lifetime_s=7200)))
        assert again.session_lifetime_ms == 600_000
        # KafkaChannel: not again within a second; the handshake is then an illegal state
        soon = conn.request(SaslHandshakeRequest(mechanism="OAUTHBEARER"), 1)
        assert (soon.error_code, soon.mechanisms) == (ErrorCode.ILLEGAL_SASL_STATE, [])
    with KafkaConnection(broker.bootstrap_servers) as conn:
        _accepted(conn, client_initial_response(unsecured_token("alice")))
        other = _authenticate(conn, client_initial_response(unsecured_token("bob")))
        assert other.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
        assert other.error_message == "Cannot change principals during re-authentication from User.alice: User.bob"


def test_an_authorization_id_other_than_the_principal(broker: Broker) -> None:
    with KafkaConnection(broker.bootstrap_servers) as conn:
        answer = _authenticate(conn, client_initial_response(unsecured_token("alice"), authorization_id="bob"))
        assert (answer.error_code, answer.error_message) == (
            ErrorCode.SASL_AUTHENTICATION_FAILED,
            "Authentication failed: Client requested an authorization id (bob) that is different from the token's "
            "principal name (alice)")


def test_required_scope_is_insufficient_scope() -> None:
    config = {"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config":
              oauthbearer_jaas_config(unsecuredValidatorRequiredScope="kafka", unsecuredValidatorScopeClaimName="scp")}
    with Broker(config, sasl_users={}, sasl_mechanisms=OAUTH) as b:
        with KafkaConnection(b.bootstrap_servers) as conn:
            answer = _authenticate(conn, client_initial_response(unsecured_token("alice", scp=["other"])))
            assert bytes(answer.auth_bytes) == b'{"status":"insufficient_scope", "scope":"[kafka]"}'
        with KafkaConnection(b.bootstrap_servers) as conn:
            _accepted(conn, client_initial_response(unsecured_token("alice", scp="kafka")))


def test_over_sasl_ssl() -> None:
    with Broker(sasl_users={}, sasl_mechanisms=OAUTH, tls=True) as b:
        topic = f"oauth-tls-{uuid.uuid4().hex[:6]}"
        b.create_topics(topic)
        conf = b.tls_client_config("librdkafka", user="alice", mechanism="OAUTHBEARER")
        assert conf["security.protocol"] == "SASL_SSL"
        assert _round_trip(conf, topic, f"oauth-{topic}") == [b"v0", b"v1", b"v2"]


@pytest.mark.kafkapy(sasl_users={}, sasl_mechanisms=["OAUTHBEARER", "PLAIN"])
def test_the_pytest_plugin_starts_an_oauthbearer_broker(kafka_broker: Broker) -> None:
    with KafkaConnection(kafka_broker.bootstrap_servers) as conn:
        handshake = conn.request(SaslHandshakeRequest(mechanism="OAUTHBEARER"), 1)
        assert (handshake.error_code, sorted(handshake.mechanisms)) == (ErrorCode.NONE, ["OAUTHBEARER", "PLAIN"])
        answer = conn.request(SaslAuthenticateRequest(auth_bytes=client_initial_response(unsecured_token("carol"))), 2)
        assert (answer.error_code, bytes(answer.auth_bytes)) == (ErrorCode.NONE, b"")


# --- JWKS-validated tokens ---------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> TokenIssuer:
    return TokenIssuer(tmp_path_factory.mktemp("jwks"))


@pytest.fixture(scope="module")
def jwks_broker(issuer: TokenIssuer) -> Iterator[Broker]:
    config = jwks_broker_properties(issuer.jwks_url, audience="kafka", issuer=issuer.issuer)
    with Broker(config, sasl_users={}, sasl_mechanisms=OAUTH, acls=ACLS) as b:
        yield b


def test_confluent_kafka_with_a_signed_token(jwks_broker: Broker, issuer: TokenIssuer) -> None:
    topic = f"oauth-jwks-{uuid.uuid4().hex[:6]}"
    jwks_broker.create_topics(topic)
    conf = oauthbearer_client_config(jwks_broker.bootstrap_servers, "alice",
                                     token=issuer.token("alice", audience="kafka"))
    assert _round_trip(conf, topic, f"oauth-{topic}") == [b"v0", b"v1", b"v2"]


def _client_error(conf: dict) -> KafkaError | None:
    errors: list[KafkaError] = []
    producer = Producer({**conf, "error_cb": errors.append})
    for _ in range(20):
        producer.poll(0.5)
        if errors:
            break
    return errors[0] if errors else None


def _bad_tokens(issuer: TokenIssuer, tmp_path: Path) -> dict[str, str]:
    return {
        "wrong audience": issuer.token("alice", audience="elsewhere"),
        "no audience": issuer.token("alice"),
        "expired": issuer.token("alice", audience="kafka", lifetime_s=-600),
        "wrong issuer": issuer.token("alice", audience="kafka", issuer="https://evil.test"),
        "wrong key": TokenIssuer(tmp_path).token("alice", audience="kafka", kid=issuer.kid),
        "unsecured": unsecured_token("alice", aud="kafka", iss=issuer.issuer),
    }


def test_bad_signed_tokens_are_refused_to_each_client(jwks_broker: Broker, issuer: TokenIssuer,
                                                      tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as KafkaPythonError

    for name, token in _bad_tokens(issuer, tmp_path).items():
        with KafkaConnection(jwks_broker.bootstrap_servers) as conn:
            assert bytes(_authenticate(conn, client_initial_response(token)).auth_bytes) == INVALID_TOKEN.encode(), name
        error = _client_error(oauthbearer_client_config(jwks_broker.bootstrap_servers, "alice", token=token))
        assert error is not None and error.code() == KafkaError._AUTHENTICATION, (name, error)
        assert INVALID_TOKEN in error.str(), (name, error.str())
    caplog.clear()
    conf = oauthbearer_client_config(jwks_broker.bootstrap_servers, "alice", "kafka-python",
                                     token=_bad_tokens(issuer, tmp_path)["expired"])
    with pytest.raises(KafkaPythonError):
        KafkaProducer(**conf, max_block_ms=3000)
    assert INVALID_TOKEN in caplog.text


def test_kafka_python_with_a_signed_token(jwks_broker: Broker, issuer: TokenIssuer) -> None:
    from kafka import KafkaProducer

    topic = f"oauth-jwks-kp-{uuid.uuid4().hex[:6]}"
    jwks_broker.create_topics(topic)
    conf = oauthbearer_client_config(jwks_broker.bootstrap_servers, "alice", "kafka-python",
                                     token=issuer.token("alice", audience="kafka"))
    producer = KafkaProducer(**conf)
    producer.send(topic, b"signed").get(timeout=30)
    producer.close()
    assert [r.value for r in jwks_broker.records(topic)] == [b"signed"]


class _JwksServer:
    """A local HTTP server for a JWKS document that the test can change."""

    def __init__(self, document: dict, tls: ssl.SSLContext | None = None) -> None:
        self.document = document
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.requests += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_jwks_over_http_is_fetched_again_for_a_new_key(tmp_path: Path) -> None:
    old, new = TokenIssuer(tmp_path, "RS256"), TokenIssuer(tmp_path, "ES256")
    with _JwksServer(old.jwks()) as server:
        with Broker(jwks_broker_properties(server.url), sasl_users={}, sasl_mechanisms=OAUTH) as b:
            at_start = server.requests
            assert at_start >= 1  # fetched before the listener opens
            with KafkaConnection(b.bootstrap_servers) as conn:
                _accepted(conn, client_initial_response(old.token("alice")))
            server.document = {"keys": old.jwks()["keys"] + new.jwks()["keys"]}  # the provider rotates keys
            with KafkaConnection(b.bootstrap_servers) as conn:
                _accepted(conn, client_initial_response(new.token("bob")))
            with KafkaConnection(b.bootstrap_servers) as conn:  # the same unknown kid again: no new fetch
                stranger = TokenIssuer(tmp_path).token("carol")
                assert _authenticate(conn, client_initial_response(stranger)).auth_bytes == INVALID_TOKEN.encode()
            with KafkaConnection(b.bootstrap_servers) as conn:
                assert _authenticate(conn, client_initial_response(stranger)).auth_bytes == INVALID_TOKEN.encode()
            assert server.requests == at_start + 2  # the new kid once, the stranger's once


def test_jwks_over_https_with_the_jaas_trust_store(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    issuer = TokenIssuer(tmp_path)
    with _JwksServer(issuer.jwks(), tls=server_tls) as server:
        trusting = {**jwks_broker_properties(server.url),
                    "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": oauthbearer_jaas_config(
                        **{"ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca_file)})}
        with Broker(trusting, sasl_users={}, sasl_mechanisms=OAUTH) as b:
            with KafkaConnection(b.bootstrap_servers) as conn:
                _accepted(conn, client_initial_response(issuer.token("alice")))
        with pytest.raises(SecurityConfigError, match="CERTIFICATE_VERIFY_FAILED"):  # the system CAs: refused
            _check(jwks_broker_properties(server.url))
        with pytest.raises(SecurityConfigError, match="cannot honour the OAUTHBEARER JAAS option"):
            _check({**jwks_broker_properties(server.url),
                    "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": oauthbearer_jaas_config(
                        **{"ssl.keystore.location": "/nonexistent"})})


# --- refusals ----------------------------------------------------------------------------


def _check(props: dict[str, str]) -> None:
    check_security(BrokerConfig.from_properties({**TEST_PROPERTIES, **sasl_properties({}, OAUTH), **props}))


def test_settings_kafkapy_refuses(tmp_path: Path) -> None:
    issuer = TokenIssuer(tmp_path)
    _check({})  # Kafka's default: unsecured tokens
    with pytest.raises(SecurityConfigError, match="accepts unsecured"):
        _check({"sasl.oauthbearer.jwks.endpoint.url": issuer.jwks_url})
    with pytest.raises(SecurityConfigError, match="cannot load Java callback handlers"):
        _check({"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": "com.example.Mine"})
    with pytest.raises(SecurityConfigError, match="needs sasl.oauthbearer.jwks.endpoint.url"):
        _check({k: v for k, v in jwks_broker_properties(issuer.jwks_url).items() if "jwks" not in k})
    with pytest.raises(SecurityConfigError, match="invalid protocol"):
        _check(jwks_broker_properties("ftp://127.0.0.1/jwks.json"))
    with pytest.raises(SecurityConfigError, match="could not read the JWKS"):
        _check(jwks_broker_properties((tmp_path / "missing.json").as_uri()))
    _check(jwks_broker_properties(issuer.jwks_url))
    with pytest.raises(SecurityConfigError, match="no JAAS configuration for it"):
        check_security(BrokerConfig.from_properties({
            **TEST_PROPERTIES, **{k: v for k, v in sasl_properties({}, OAUTH).items() if "jaas" not in k}}))
    with pytest.raises(SecurityConfigError, match="must not be negative"):
        _check({"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config":
                oauthbearer_jaas_config(unsecuredValidatorAllowableClockSkewMs="-1")})
