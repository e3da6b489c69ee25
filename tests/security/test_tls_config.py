"""TLS settings: what ssl_factory builds from Kafka's ssl.* configs, what it refuses
(never a context weaker than asked), and SslPrincipalMapper's rules."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from kafkapy.broker.security.listener_security import SecurityConfigError, check_security
from kafkapy.broker.security.principal import ANONYMOUS, KafkaPrincipal
from kafkapy.broker.security.ssl_principal import NoMatchingRule, SslPrincipalMapper, rfc2253_name
from kafkapy.config import BrokerConfig
from kafkapy.node import test_properties as node_properties
from kafkapy.testing.tls import TestCertificates, tls_properties


@pytest.fixture(scope="module")
def certs() -> Iterator[TestCertificates]:
    made = TestCertificates()
    yield made
    made.cleanup()


def _security(certs: TestCertificates, extra: dict[str, str], *, sasl: bool = False):  # type: ignore[no-untyped-def]
    props = tls_properties(certs, sasl=sasl)
    if sasl:
        props[BrokerConfig.field_name("sasl_enabled_mechanisms")] = "SCRAM-SHA-512"
    return check_security(BrokerConfig.from_properties(node_properties({**props, **extra})))


def _refused(certs: TestCertificates, extra: dict[str, str]) -> str:
    with pytest.raises(ValueError) as caught:
        _security(certs, extra)
    return str(caught.value)


def test_defaults_give_tls_1_2_and_1_3_without_client_certificates(certs: TestCertificates) -> None:
    tls = _security(certs, {}).tls["SSL"]
    assert tls.client_auth == "none" and tls.context.verify_mode == ssl.CERT_NONE
    assert tls.context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls.context.maximum_version == ssl.TLSVersion.TLSv1_3


def test_listener_overrides_win(certs: TestCertificates) -> None:
    name = BrokerConfig.field_name
    tls = _security(certs, {name("ssl_client_auth"): "none",
                            f"listener.name.ssl.{name('ssl_client_auth')}": "required",
                            f"listener.name.ssl.{name('ssl_enabled_protocols')}": "TLSv1.3"}).tls["SSL"]
    assert tls.client_auth == "required" and tls.context.verify_mode == ssl.CERT_REQUIRED
    assert tls.context.minimum_version == ssl.TLSVersion.TLSv1_3


def test_broker_wide_client_auth_does_not_apply_to_sasl_ssl(certs: TestCertificates) -> None:
    # KIP-684: only listener.name.<l>.ssl.client.auth turns on mTLS on a SASL_SSL listener.
    security = _security(certs, {BrokerConfig.field_name("ssl_client_auth"): "required"}, sasl=True)
    assert security.tls["SASL_SSL"].client_auth == "none"
    assert security.sasl_for("SASL_SSL") is not None


def test_cipher_suites_by_java_name(certs: TestCertificates) -> None:
    tls = _security(certs, {BrokerConfig.field_name("ssl_cipher_suites"):
                            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}).tls["SSL"]
    names = {c["name"] for c in tls.context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert names == {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"}
    # No TLS 1.3 suite listed: TLS 1.3 is off, as in Java.
    assert tls.context.maximum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize(("extra", "named"), [
    ({"ssl.keystore.type": "JKS", "ssl.keystore.location": "/etc/kafka/broker.jks"}, "convert it with keytool"),
    ({"ssl.enabled.protocols": "TLSv1.1,TLSv1.2"}, "TLSv1.2 and TLSv1.3 only"),
    ({"ssl.protocol": "SSLv3"}, "ssl.protocol"),
    ({"ssl.cipher.suites": "TLS_RSA_WITH_NULL_SHA"}, "no OpenSSL name known for TLS_RSA_WITH_NULL_SHA"),
    ({"ssl.cipher.suites": "TLS_AES_128_GCM_SHA256"}, "cannot choose among TLS 1.3 suites"),
    ({"ssl.endpoint.identification.algorithm": "ldaps"}, "ssl.endpoint.identification.algorithm"),
    ({"ssl.client.auth": "sometimes"}, "ssl.client.auth"),
    ({"ssl.principal.mapping.rules": "RULE:broken"}, "Invalid rule"),
    ({"ssl.provider": "SunJSSE"}, "ssl.provider"),
    ({"listener.name.ssl.ssl.keymanager.algorithm": "PKIX"}, "ssl.keymanager.algorithm"),
    ({"listener.name.ssl.ssl.nonsense": "x"}, "listener.name.ssl.ssl.nonsense"),
    ({"ssl.keystore.location": "/nonexistent/broker.pem"}, "cannot load the PEM key store"),
    ({"ssl.keystore.type": "PKCS12", "ssl.keystore.password": "wrong"}, "cannot read the PKCS12 store"),
    # Kafka's default sasl.enabled.mechanisms, [GSSAPI], on a SASL_SSL controller listener.
    ({"listener.security.protocol.map": "CONTROLLER:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL"},
     "enabled for listener CONTROLLER"),
])
def test_what_cannot_be_honoured_is_refused(certs: TestCertificates, extra: dict[str, str], named: str) -> None:
    assert named in _refused(certs, extra)


def test_an_ssl_inter_broker_listener_gives_the_inter_broker_clients_tls(certs: TestCertificates) -> None:
    from kafkapy.broker.security.listener_security import inter_broker_ssl_context

    name = BrokerConfig.field_name
    props = {**tls_properties(certs), name("inter_broker_listener_name"): "SSL",
             name("ssl_truststore_location"): certs.ca_file, name("ssl_truststore_type"): "PEM"}
    config = BrokerConfig.from_properties(node_properties(props))
    check_security(config)
    context = inter_broker_ssl_context(config)
    assert context is not None and context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    plaintext = BrokerConfig.from_properties(node_properties(tls_properties(certs)))
    assert inter_broker_ssl_context(plaintext) is None  # the PLAINTEXT inter-broker listener


def test_an_ssl_controller_listener_gives_the_quorum_clients_tls(certs: TestCertificates) -> None:
    from kafkapy.broker.security.listener_security import controller_ssl_context

    name = BrokerConfig.field_name
    props = {**tls_properties(certs),
             name("listener_security_protocol_map"): "CONTROLLER:SSL,PLAINTEXT:PLAINTEXT,SSL:SSL"}
    config = BrokerConfig.from_properties(node_properties(props))
    assert "CONTROLLER" in check_security(config).tls
    context = controller_ssl_context(config)
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    assert controller_ssl_context(BrokerConfig.from_properties(node_properties(tls_properties(certs)))) is None


def test_a_sasl_ssl_inter_broker_listener_gives_the_inter_broker_clients_tls_and_sasl(
        certs: TestCertificates) -> None:
    from kafkapy.broker.security.listener_security import inter_broker_sasl_client, inter_broker_ssl_context

    name = BrokerConfig.field_name
    props = {**tls_properties(certs, sasl=True), name("sasl_enabled_mechanisms"): "SCRAM-SHA-512",
             name("inter_broker_listener_name"): "SASL_SSL",
             name("sasl_mechanism_inter_broker_protocol"): "SCRAM-SHA-512",
             name("ssl_truststore_location"): certs.ca_file, name("ssl_truststore_type"): "PEM",
             f"listener.name.sasl_ssl.scram-sha-512.{name('sasl_jaas_config')}":
                 'org.apache.kafka.common.security.scram.ScramLoginModule required username="b" password="pw";'}
    config = BrokerConfig.from_properties(node_properties(props))
    check_security(config)
    context = inter_broker_ssl_context(config)
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    client = inter_broker_sasl_client(config)
    assert client is not None and (client.mechanism, client.username, client.password) == ("SCRAM-SHA-512", "b", "pw")
    # Without the client's credentials, the node refuses to start.
    del props[f"listener.name.sasl_ssl.scram-sha-512.{name('sasl_jaas_config')}"]
    with pytest.raises(SecurityConfigError, match="username and password"):
        check_security(BrokerConfig.from_properties(node_properties(props)))


def test_a_tls_listener_without_a_key_store_is_refused(certs: TestCertificates) -> None:
    props = tls_properties(certs)
    del props[BrokerConfig.field_name("ssl_keystore_location")]
    with pytest.raises(SecurityConfigError, match="has no key store"):
        check_security(BrokerConfig.from_properties(node_properties(props)))


def test_only_the_stores_are_dynamic() -> None:
    from kafkapy.broker.security.ssl_reload import RECONFIGURABLE_FIELDS
    from kafkapy.config import BROKER_CONFIGS, UpdateMode

    ssl_rows = {d.field: d for d in BROKER_CONFIGS.values() if d.field and d.field.startswith("ssl_")}
    dynamic = {f for f, d in ssl_rows.items() if d.update_mode is UpdateMode.PER_BROKER}
    assert dynamic == set(RECONFIGURABLE_FIELDS)  # SslConfigs.RECONFIGURABLE_CONFIGS
    assert all(d.read_only for f, d in ssl_rows.items() if f not in dynamic)


# --- SslPrincipalMapper (Kafka's SslPrincipalMapperTest cases) ---

SUBJECT = ((("countryName", "US"),), (("organizationName", "Acme, Inc."),), (("organizationalUnitName", "QA"),),
           (("commonName", "alice"),))


def test_rfc2253_name_is_last_rdn_first_and_escaped() -> None:
    assert rfc2253_name(SUBJECT) == r"CN=alice,OU=QA,O=Acme\, Inc.,C=US"
    email = ((("commonName", "bob"), ("emailAddress", "b@x")),)
    assert rfc2253_name(email) == "CN=bob+1.2.840.113549.1.9.1=#1603624078"


@pytest.mark.parametrize(("rules", "name", "expected"), [
    ("DEFAULT", "CN=duke,OU=ServiceUsers,O=Org,C=US", "CN=duke,OU=ServiceUsers,O=Org,C=US"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/", "CN=duke,OU=ServiceUsers,O=Org,C=US", "duke"),
    ("RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
     "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US", "duke@javasoft"),
    ("RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/U",
     "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US", "DUKE@JAVASOFT"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=other,OU=People,O=Org", "CN=other,OU=People,O=Org"),
    ("RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L, DEFAULT", "CN=Duke.Dev,OU=X", "duke.dev"),
])
def test_mapping_rules(rules: str, name: str, expected: str) -> None:
    assert SslPrincipalMapper.from_rules(rules).name(name) == expected


def test_no_matching_rule_fails() -> None:
    with pytest.raises(NoMatchingRule):
        SslPrincipalMapper.from_rules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/").name("CN=x,OU=People")


def test_principal_without_a_certificate_is_anonymous() -> None:
    mapper = SslPrincipalMapper.from_rules("DEFAULT")
    assert mapper.principal(None) == ANONYMOUS
    assert mapper.principal(SUBJECT) == KafkaPrincipal("User", r"CN=alice,OU=QA,O=Acme\, Inc.,C=US")
