"""The mechanisms and the JAAS parser without a broker: RFC 7677's SCRAM-SHA-256 example,
the controller's key derivation, PLAIN's answers, and Kafka's JAAS syntax."""

from __future__ import annotations

import base64

import pytest

from kafkapy.broker.security.authenticator import java_hash_set_order
from kafkapy.broker.security.jaas import JaasConfigError, parse_jaas_config
from kafkapy.broker.security.plain import (
    INVALID_CREDENTIALS,
    PlainServer,
    SaslAuthenticationError,
    SaslMechanismError,
)
from kafkapy.broker.security.scram import (
    ScramClient,
    ScramCredential,
    ScramMechanism,
    ScramServer,
    credential_from_salted_password,
    generate_credential,
    salted_password,
)
from kafkapy.kraft.metadata.image import EMPTY_IMAGE
from kafkapy.kraft.metadata.scram_control import ScramDeletion, ScramUpsertion, alter_user_scram_credentials
from kafkapy.wire.error_codes import ErrorCode

SHA256 = ScramMechanism.SCRAM_SHA_256
# RFC 7677 section 3: user "user", password "pencil".
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def rfc_server() -> ScramServer:
    credential = generate_credential(SHA256, "pencil", 4096, salt=RFC_SALT)
    return ScramServer(SHA256, lambda user: credential if user == "user" else None,
                       nonce=lambda: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")


def test_scram_sha_256_server_answers_rfc_7677_example() -> None:
    server = rfc_server()
    assert server.evaluate(RFC_CLIENT_FIRST) == RFC_SERVER_FIRST
    assert server.evaluate(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL
    assert server.complete and server.authorization_id == "user"


def test_scram_wrong_proof_unknown_user_and_wrong_nonce_fail() -> None:
    server = rfc_server()
    server.evaluate(RFC_CLIENT_FIRST)
    with pytest.raises(SaslMechanismError, match="Invalid client credentials"):
        server.evaluate(RFC_CLIENT_FINAL.replace(b"p=dHz", b"p=dHy"))
    assert server.state == "FAILED"
    with pytest.raises(SaslMechanismError, match="Invalid user credentials"):
        rfc_server().evaluate(b"n,,n=nobody,r=abc")
    server = rfc_server()
    server.evaluate(RFC_CLIENT_FIRST)
    with pytest.raises(SaslMechanismError, match="nonce"):
        server.evaluate(RFC_CLIENT_FINAL.replace(b"hNlF$k0,", b"hNlF$k1,"))
    with pytest.raises(SaslAuthenticationError, match="authorization id"):
        rfc_server().evaluate(b"n,a=admin,n=user,r=abc")


@pytest.mark.parametrize("mechanism", [ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512])
def test_client_and_server_agree_with_credentials_the_controller_derives(mechanism: ScramMechanism) -> None:
    salt = b"0123456789abcdef"
    result = alter_user_scram_credentials(EMPTY_IMAGE, [], [
        ScramUpsertion("al,i=ce", int(mechanism), 8192, salt, salted_password(mechanism, "secret", salt, 8192))])
    image = EMPTY_IMAGE.apply(result.records)
    stored = image.scram_credential("al,i=ce", int(mechanism))
    assert stored is not None and stored.iterations == 8192
    expected = credential_from_salted_password(mechanism, salt, salted_password(mechanism, "secret", salt, 8192), 8192)
    assert (stored.salt, stored.stored_key, stored.server_key) == (expected.salt, expected.stored_key,
                                                                   expected.server_key)
    server = ScramServer(mechanism, lambda user: image.scram_credential(user, int(mechanism)))
    client = ScramClient(mechanism, "al,i=ce", "secret")
    final = server.evaluate(client.final_message(server.evaluate(client.first_message())))
    assert client.verify_server_final(final) and server.authorization_id == "al,i=ce"
    # a snapshot of the image keeps the credential
    assert EMPTY_IMAGE.apply(image.to_records()).scram_credentials == image.scram_credentials


def test_scram_control_checks_as_kafka() -> None:
    salted = bytes(32)
    result = alter_user_scram_credentials(EMPTY_IMAGE, [ScramDeletion("ghost", 1), ScramDeletion("", 1)], [
        ScramUpsertion("few", 1, 4095, b"s", salted), ScramUpsertion("many", 2, 16385, b"s", salted),
        ScramUpsertion("odd", 3, 4096, b"s", salted), ScramUpsertion("twice", 1, 4096, b"s", salted),
        ScramUpsertion("twice", 2, 4096, b"s", salted)])
    assert result.records == []
    errors = {r.user: (r.error.code, r.error.message) for r in result.response}
    assert errors == {
        "ghost": (ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist"),
        "": (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"),
        "few": (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"),
        "many": (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"),
        "odd": (ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
        "twice": (ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request"),
    }


def test_plain_server_answers_as_kafka() -> None:
    users = {"alice": "alice-secret"}
    server = PlainServer(users)
    assert server.evaluate(b"\0alice\0alice-secret") == b"" and server.authorization_id == "alice"
    with pytest.raises(SaslAuthenticationError, match=INVALID_CREDENTIALS):
        PlainServer(users).evaluate(b"\0alice\0wrong")
    with pytest.raises(SaslAuthenticationError, match=INVALID_CREDENTIALS):
        PlainServer(users).evaluate(b"\0mallory\0alice-secret")
    with pytest.raises(SaslAuthenticationError, match="username not specified"):
        PlainServer(users).evaluate(b"\0\0x")
    with pytest.raises(SaslMechanismError, match="expected 3 tokens, got 2"):
        PlainServer(users).evaluate(b"alice\0alice-secret")


def test_jaas_config_syntax() -> None:
    modules = parse_jaas_config(
        'org.apache.kafka.common.security.plain.PlainLoginModule required\n'
        '  username="admin" password="admin-secret" /* a comment */ user_admin="admin-secret"\n'
        '  user_alice="a \\"quoted\\" pw;=" unquoted=token;')
    assert len(modules) == 1
    assert modules[0].class_name == "org.apache.kafka.common.security.plain.PlainLoginModule"
    assert modules[0].flag == "required"
    assert modules[0].options == {"username": "admin", "password": "admin-secret", "user_admin": "admin-secret",
                                  "user_alice": 'a "quoted" pw;=', "unquoted": "token"}
    for bad in ("", "org.Foo maybe;", 'org.Foo required user_a="x"', "org.Foo required user_a=;"):
        with pytest.raises(JaasConfigError):
            parse_jaas_config(bad)


def test_mechanisms_listed_in_java_hash_set_order() -> None:
    # Kafka's SaslHandshake answer lists new ArrayList<>(new HashSet<>(sasl.enabled.mechanisms)).
    assert java_hash_set_order(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]) == ["PLAIN", "SCRAM-SHA-512",
                                                                                 "SCRAM-SHA-256"]
    assert isinstance(generate_credential(SHA256, "x"), ScramCredential)
