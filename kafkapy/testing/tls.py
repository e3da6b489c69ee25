"""TLS for test brokers: certificates made on the fly (``trustme``), the properties of
an SSL or SASL_SSL client listener, and each client family's configuration.

``Broker(tls=True)`` serves clients on an SSL listener (a SASL_SSL one with
``sasl_users``) and keeps a PLAINTEXT listener for its own inter-broker traffic
(``inter.broker.listener.name=SSL`` in its config moves that to TLS as well; SASL
inter-broker listeners are not served yet). The broker's certificate names
127.0.0.1 and localhost, so clients verify host names as they do by default.
``ssl_client_auth="required"`` asks for client certificates (mTLS):
:meth:`TestCertificates.client` issues one whose subject becomes the principal,
``User:CN=<name>,OU=<unit>,O=<organization>`` (see
:mod:`kafkapy.broker.security.ssl_principal`).

Files (PEM, keys in PKCS#8 as Java's PEM key store wants them, and PKCS12 on request)
go to a private temporary directory removed by :meth:`TestCertificates.cleanup`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from kafkapy.config import LISTENER_CONFIG_PREFIX, BrokerConfig

SSL_LISTENER, SASL_SSL_LISTENER = "SSL", "SASL_SSL"
INTERNAL_LISTENER = "PLAINTEXT"
#: Identities in the broker's certificate.
BROKER_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_ORGANIZATION, DEFAULT_UNIT = "kafkapy", "tests"


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """One leaf certificate's files.

    Attributes:
        pem: private key (PKCS#8) and certificate chain in one file (Kafka's PEM key store).
        cert: the certificate chain alone.
        key: the private key alone.
        key_pem, chain_pem: the same as text (``ssl.keystore.key``/``certificate.chain``).
        subject: the subject as Kafka prints it (``CN=...,OU=...,O=...``).
    """

    pem: str
    cert: str
    key: str
    key_pem: str
    chain_pem: str
    subject: str


class TestCertificates:
    """A test CA, the broker's certificate and client certificates, as files."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        import trustme

        self.directory = tempfile.mkdtemp(prefix="kafkapy-certs-")
        self._clients: dict[tuple[str, str, str], CertificateFiles] = {}
        self._ca = trustme.CA(organization_name=DEFAULT_ORGANIZATION)
        self.ca_file = self._write("ca.pem", self._ca.cert_pem.bytes().decode())
        self.broker = self._issue("broker", BROKER_HOSTS, "broker", DEFAULT_ORGANIZATION, DEFAULT_UNIT)

    def client(self, common_name: str, organization_unit: str = DEFAULT_UNIT,
               organization: str = DEFAULT_ORGANIZATION) -> CertificateFiles:
        """A client certificate whose subject is ``CN=<common_name>,OU=<unit>,O=<organization>``."""
        key = (common_name, organization_unit, organization)
        if key not in self._clients:
            # trustme wants a subject alternative name; a client's is never checked.
            self._clients[key] = self._issue(f"client-{len(self._clients)}", (f"{common_name}.client.test",),
                                             common_name, organization, organization_unit)
        return self._clients[key]

    def pkcs12(self, files: CertificateFiles, password: str) -> str:
        """A PKCS12 key store of ``files`` (key, certificate, CA) under ``password``; its path."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        key = serialization.load_pem_private_key(files.key_pem.encode(), None)
        certs = x509.load_pem_x509_certificates(files.chain_pem.encode())
        ca = x509.load_pem_x509_certificate(self._ca.cert_pem.bytes())
        data = pkcs12.serialize_key_and_certificates(
            b"kafkapy", key, certs[0], [*certs[1:], ca],  # type: ignore[arg-type]
            serialization.BestAvailableEncryption(password.encode()))
        path = os.path.join(self.directory, f"{os.path.basename(files.pem)[:-4]}.p12")
        with open(path, "wb") as f:
            f.write(data)
        return path

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def _issue(self, name: str, hosts: tuple[str, ...], common_name: str, organization: str,
               unit: str) -> CertificateFiles:
        from cryptography.hazmat.primitives import serialization

        leaf = self._ca.issue_cert(*hosts, common_name=common_name, organization_name=organization,
                                   organization_unit_name=unit)
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        chain_pem = "".join(blob.bytes().decode() for blob in leaf.cert_chain_pems)
        return CertificateFiles(
            pem=self._write(f"{name}.pem", key_pem + chain_pem),
            cert=self._write(f"{name}-cert.pem", chain_pem),
            key=self._write(f"{name}-key.pem", key_pem),
            key_pem=key_pem,
            chain_pem=chain_pem,
            subject=f"CN={common_name},OU={unit},O={organization}",
        )

    def _write(self, name: str, text: str) -> str:
        path = os.path.join(self.directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path


def tls_properties(certs: TestCertificates, *, sasl: bool = False, client_auth: str = "none") -> dict[str, str]:
    """Broker properties: an SSL (SASL_SSL with ``sasl``) client listener first, a PLAINTEXT
    inter-broker listener, the controller's, and a PEM key store and trust store."""
    name = BrokerConfig.field_name
    listener = SASL_SSL_LISTENER if sasl else SSL_LISTENER
    props = {
        name("listeners"): f"{listener}://127.0.0.1:0,{INTERNAL_LISTENER}://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        name("advertised_listeners"): f"{listener}://127.0.0.1:0,{INTERNAL_LISTENER}://127.0.0.1:0",
        name("inter_broker_listener_name"): INTERNAL_LISTENER,
        name("ssl_keystore_type"): "PEM",
        name("ssl_keystore_location"): certs.broker.pem,
        name("ssl_truststore_type"): "PEM",
        name("ssl_truststore_location"): certs.ca_file,
    }
    if client_auth != "none":
        # KIP-684: on SASL_SSL only the listener's own ssl.client.auth counts.
        key = name("ssl_client_auth")
        if sasl:
            key = f"{LISTENER_CONFIG_PREFIX}{listener.lower()}.{key}"
        props[key] = client_auth
    return props


def client_config(bootstrap_servers: str, ca_file: str, *, family: str = "librdkafka",
                  client: CertificateFiles | None = None, sasl: dict[str, Any] | None = None) -> dict[str, Any]:
    """One client family's settings to reach a TLS broker.

    Args:
        family: ``librdkafka`` (confluent-kafka), ``kafka-python`` or ``java``.
        client: a client certificate to present (mTLS).
        sasl: the family's SASL settings (:func:`kafkapy.testing.sasl.client_config`), for
            SASL_SSL; their security protocol is replaced.
    """
    protocol = SASL_SSL_LISTENER if sasl else SSL_LISTENER
    out: dict[str, Any] = dict(sasl or {})
    if family == "librdkafka":
        out.update({"bootstrap.servers": bootstrap_servers, "security.protocol": protocol,
                    "ssl.ca.location": ca_file})
        if client is not None:
            out.update({"ssl.certificate.location": client.cert, "ssl.key.location": client.key})
    elif family == "kafka-python":
        out.update({"bootstrap_servers": bootstrap_servers, "security_protocol": protocol, "ssl_cafile": ca_file})
        if client is not None:
            out.update({"ssl_certfile": client.cert, "ssl_keyfile": client.key})
    elif family == "java":
        out.update({"bootstrap.servers": bootstrap_servers, "security.protocol": protocol,
                    "ssl.truststore.type": "PEM", "ssl.truststore.location": ca_file})
        if client is not None:
            out.update({"ssl.keystore.type": "PEM", "ssl.keystore.location": client.pem})
    else:
        raise ValueError(f"unknown client family {family!r}: librdkafka, kafka-python or java")
    return out
