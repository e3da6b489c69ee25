"""A TLS listener's ``ssl.SSLContext`` from Kafka's SslConfigs (``DefaultSslEngineFactory``).

Each SSL or SASL_SSL listener reads its settings as Kafka's ``SslFactory`` does: a
``listener.name.<l>.ssl.*`` value first, then the broker-wide ``ssl.*`` one. What
kafkapy builds, and what it refuses (never a context weaker than the config asks):

* Key store (``ssl.keystore.type``): PEM, by ``ssl.keystore.location`` (the private key
  and the certificate chain in one file) or by value (``ssl.keystore.key`` and
  ``ssl.keystore.certificate.chain``), the key encrypted under ``ssl.key.password``
  or not; PKCS12 (``ssl.keystore.password``), read with the ``cryptography`` package.
  JKS, Kafka's default type, is refused with the keytool line that converts it, but a
  file of the default type that is PKCS12 is read as PKCS12, as Java's JKS key store
  does (``keystore.type.compat``).
* Trust store: PEM by location or ``ssl.truststore.certificates``, or PKCS12; none
  means the system's CAs (Java's ``cacerts``).
* ``ssl.client.auth`` none/requested/required; on a SASL_SSL listener only the
  listener's own value counts (KIP-684: the broker-wide one is for SSL listeners).
* ``ssl.enabled.protocols`` of TLSv1.2 and TLSv1.3 (older ones are refused);
  ``ssl.protocol`` TLS, TLSv1.2 or TLSv1.3 (the SSLContext's name: the enabled
  protocols decide, as in Java when they are set).
* ``ssl.cipher.suites`` by their Java (IANA) names, mapped to OpenSSL's for TLS 1.2; a
  list without TLS 1.3 suites disables TLS 1.3, as in Java; a list naming only some
  TLS 1.3 suites, or a suite with no OpenSSL name here, is refused (Python's ssl
  module cannot choose TLS 1.3 suites).
* ``ssl.endpoint.identification.algorithm``: https or empty. A broker does not verify
  client host names; kafkapy's own inter-node clients (:func:`ssl_client_context`, for
  SSL inter-broker and controller listeners) verify the host of the address they
  connect to when it is https.

Secrets written to disk: Python's ``load_cert_chain`` reads files, so a key given by
value or taken from a PKCS12 store goes to a file created 0600 in a private temporary
directory, loaded and removed at once.
"""

from __future__ import annotations

import logging
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

from kafkapy.broker.security.principal import PRINCIPAL_KEY
from kafkapy.broker.security.ssl_principal import SslPrincipalMapper
from kafkapy.config import BROKER_CONFIGS, LISTENER_CONFIG_PREFIX, BrokerConfig

logger = logging.getLogger("kafkapy.broker.security.ssl")

PEM, PKCS12, JKS = "PEM", "PKCS12", "JKS"
CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_JKS_MAGIC = b"\xfe\xed\xfe\xed"
# Java (IANA) names of TLS 1.2 suites -> OpenSSL's, for the AEAD suites Kafka's JDKs offer.
_TLS12_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "DHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": "ECDHE-ECDSA-AES256-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": "ECDHE-RSA-AES256-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
}
_TLS13_SUITES = frozenset({"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"})


class SslConfigError(ValueError):
    """A TLS setting kafkapy cannot honour (or a key store it cannot read)."""


@dataclass(frozen=True, slots=True)
class SslListenerConfig:
    """A TLS listener's server context and how its clients' certificates name them
    (a :class:`kafkapy.server.tls.TlsEndpoint`)."""

    listener: str
    context: ssl.SSLContext
    client_auth: str
    principal_mapper: SslPrincipalMapper
    sasl: bool = False
    #: (subject DN, subject alternative names) of the key store's certificate, None if
    #: unknown (no cryptography package): what a reload must keep (:mod:`ssl_reload`).
    identity: tuple[str, tuple[str, ...]] | None = None

    def on_handshake(self, conn: Any, peer_certificate: dict[str, Any] | None) -> None:
        """Store the connection's principal: ``User:<mapped subject>`` of the client
        certificate, else ``User:ANONYMOUS``; on SASL_SSL the SASL exchange replaces it.

        Raises:
            NoMatchingRule: no ``ssl.principal.mapping.rules`` rule applies (the
                connection is closed, as Kafka fails its authentication).
        """
        subject = peer_certificate.get("subject") if peer_certificate else None
        principal = self.principal_mapper.principal(subject)
        conn.state[PRINCIPAL_KEY] = principal
        logger.debug("%s: TLS principal %s", getattr(conn, "connection_id", conn), principal)


def _setting(config: BrokerConfig, listener: str, field: str) -> object:
    """``listener.name.<l>.<ssl config>``, else the broker-wide value, parsed."""
    name = BrokerConfig.field_name(field)
    raw = config.listener_config(listener, field)
    if raw is None:
        return getattr(config, field)
    return BROKER_CONFIGS[name].parse(raw)


def _key(field: str, listener: str) -> str:
    return f"{BrokerConfig.field_name(field)} (listener {listener})"


def ssl_listener_config(config: BrokerConfig, listener: str, *, sasl: bool = False) -> SslListenerConfig:
    """The server side of one TLS listener.

    Args:
        config: the node's configuration.
        listener: the listener name (upper case).
        sasl: a SASL_SSL listener (``ssl.client.auth`` only from its own prefix, KIP-684).

    Raises:
        SslConfigError: a setting kafkapy cannot honour, or an unreadable store.
    """

    def get(field: str) -> object:
        return _setting(config, listener, field)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    protocol = str(get("ssl_protocol"))
    if protocol not in ("TLS", "TLSv1.2", "TLSv1.3"):
        raise SslConfigError(f"{_key('ssl_protocol', listener)}={protocol}: kafkapy serves TLS, TLSv1.2 and TLSv1.3")
    enabled = tuple(get("ssl_enabled_protocols"))  # type: ignore[call-overload]
    unknown = [p for p in enabled if p not in _VERSIONS]
    if unknown or not enabled:
        raise SslConfigError(f"{_key('ssl_enabled_protocols', listener)}={','.join(enabled)}: kafkapy's TLS "
                             "listeners offer TLSv1.2 and TLSv1.3 only")
    versions = sorted(_VERSIONS[p] for p in enabled)
    ctx.minimum_version, ctx.maximum_version = versions[0], versions[-1]
    _apply_cipher_suites(ctx, tuple(get("ssl_cipher_suites")), listener, versions)  # type: ignore[call-overload]
    algorithm = str(get("ssl_endpoint_identification_algorithm") or "")
    if algorithm.lower() not in ("https", ""):
        raise SslConfigError(f"{_key('ssl_endpoint_identification_algorithm', listener)}={algorithm}: "
                             "kafkapy knows https or empty")
    identity = key_identity(_load_key_store(ctx, listener, get))
    own_key = f"{LISTENER_CONFIG_PREFIX}{listener.lower()}.{BrokerConfig.field_name('ssl_client_auth')}"
    if sasl and own_key not in config.properties:
        client_auth = "none"
    else:
        client_auth = str(get("ssl_client_auth")).lower()
    if client_auth not in CLIENT_AUTH:
        raise SslConfigError(f"{_key('ssl_client_auth', listener)}={client_auth}: none, requested or required")
    ctx.verify_mode = CLIENT_AUTH[client_auth]
    if client_auth != "none":
        _load_trust_store(ctx, listener, get)
    try:
        mapper = SslPrincipalMapper.from_rules(str(get("ssl_principal_mapping_rules")))
    except ValueError as exc:
        raise SslConfigError(f"{_key('ssl_principal_mapping_rules', listener)}: {exc}") from None
    return SslListenerConfig(listener, ctx, client_auth, mapper, sasl, identity)


def ssl_client_context(config: BrokerConfig, listener: str) -> ssl.SSLContext:
    """The client side kafkapy's own inter-broker clients use to reach ``listener``
    (Kafka's brokers connect with the inter-broker listener's ``ssl.*`` settings):
    its trust store (else the system's CAs), its key store as the client certificate
    when one is set, its protocols and suites, and host names checked when
    ``ssl.endpoint.identification.algorithm`` is https (Kafka's default).

    Raises:
        SslConfigError: as :func:`ssl_listener_config`.
    """

    def get(field: str) -> object:
        return _setting(config, listener, field)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    enabled = tuple(get("ssl_enabled_protocols"))  # type: ignore[call-overload]
    if not enabled or any(p not in _VERSIONS for p in enabled):
        raise SslConfigError(f"{_key('ssl_enabled_protocols', listener)}={','.join(enabled)}: kafkapy's TLS "
                             "listeners offer TLSv1.2 and TLSv1.3 only")
    versions = sorted(_VERSIONS[p] for p in enabled)
    ctx.minimum_version, ctx.maximum_version = versions[0], versions[-1]
    _apply_cipher_suites(ctx, tuple(get("ssl_cipher_suites")), listener, versions)  # type: ignore[call-overload]
    ctx.check_hostname = str(get("ssl_endpoint_identification_algorithm") or "").lower() == "https"
    ctx.verify_mode = ssl.CERT_REQUIRED
    _load_trust_store(ctx, listener, get, ssl.Purpose.SERVER_AUTH)
    if get("ssl_keystore_location") or get("ssl_keystore_key"):
        _load_key_store(ctx, listener, get)
    return ctx


def _apply_cipher_suites(ctx: ssl.SSLContext, suites: tuple[str, ...], listener: str,
                         versions: list[ssl.TLSVersion]) -> None:
    if not suites:
        return
    key = _key("ssl_cipher_suites", listener)
    tls13 = [s for s in suites if s in _TLS13_SUITES]
    unknown = [s for s in suites if s not in _TLS13_SUITES and s not in _TLS12_SUITES]
    if unknown:
        raise SslConfigError(f"{key}: no OpenSSL name known for {', '.join(unknown)}; kafkapy maps "
                             f"{', '.join(sorted(_TLS12_SUITES))} and the TLS 1.3 suites")
    if tls13 and set(tls13) != _TLS13_SUITES:
        raise SslConfigError(f"{key}: kafkapy cannot choose among TLS 1.3 suites (Python's ssl module); list all "
                             f"of {', '.join(sorted(_TLS13_SUITES))} or none (which disables TLS 1.3)")
    tls12 = [_TLS12_SUITES[s] for s in suites if s in _TLS12_SUITES]
    if tls12:
        ctx.set_ciphers(":".join(tls12))
    elif ssl.TLSVersion.TLSv1_2 in versions:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3  # no TLS 1.2 suite listed: TLS 1.2 is off, as in Java
    if not tls13:
        if ssl.TLSVersion.TLSv1_2 not in versions:
            raise SslConfigError(f"{key} names no TLS 1.3 suite, and only TLSv1.3 is enabled")
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ctx.minimum_version > ctx.maximum_version:
        raise SslConfigError(f"{key} leaves no suite for the enabled protocols")


def key_identity(pem: str) -> tuple[str, tuple[str, ...]] | None:
    """(subject, sorted subject alternative names) of the first certificate in ``pem``,
    as Kafka's ``SslFactory.CertificateEntries`` compares them; None without cryptography."""
    try:
        from cryptography import x509
    except ImportError:
        return None
    start = pem.find("-----BEGIN CERTIFICATE-----")
    if start < 0:
        return None
    try:
        cert = x509.load_pem_x509_certificate(pem[start:].encode())
    except ValueError:
        return None
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(sorted(str(getattr(n, "value", n)) for n in names))
    except x509.ExtensionNotFound:
        sans = ()
    return cert.subject.rfc4514_string(), sans


def _store_type(location: str | None, declared: str) -> str:
    """The store's real type: a file of type JKS (Kafka's default) that holds PKCS12 is
    PKCS12, as Java reads it; a real JKS file stays JKS."""
    declared = declared.upper()
    if declared == JKS and location and os.path.isfile(location):
        with open(location, "rb") as f:
            head = f.read(4)
        if head != _JKS_MAGIC and head[:1] == b"\x30":
            return PKCS12
    return declared


def _refuse_jks(setting: str, location: str | None) -> SslConfigError:
    return SslConfigError(
        f"{setting}: kafkapy cannot read JKS stores ({location or 'no location'}); convert it with "
        "keytool -importkeystore -srckeystore <store>.jks -destkeystore <store>.p12 -deststoretype PKCS12, "
        "then set the type to PKCS12 (or use PEM)")


def _load_key_store(ctx: ssl.SSLContext, listener: str, get) -> str:  # type: ignore[no-untyped-def]
    """Load the key store into ``ctx``; the PEM text holding its certificate chain."""
    location = get("ssl_keystore_location")
    key_pem, chain_pem = get("ssl_keystore_key"), get("ssl_keystore_certificate_chain")
    store_type = _store_type(location, str(get("ssl_keystore_type")))  # type: ignore[arg-type]
    key_password = get("ssl_key_password")
    setting = _key("ssl_keystore_type", listener)
    if key_pem or chain_pem:
        if store_type != PEM:
            raise SslConfigError(f"{_key('ssl_keystore_key', listener)} is set: {setting} must be PEM")
        if not (key_pem and chain_pem) or location:
            raise SslConfigError(f"listener {listener}: set both {BrokerConfig.field_name('ssl_keystore_key')} and "
                                 f"{BrokerConfig.field_name('ssl_keystore_certificate_chain')}, and no "
                                 f"{BrokerConfig.field_name('ssl_keystore_location')}")
        _load_pem_chain(ctx, str(chain_pem) + "\n" + str(key_pem), key_password, listener)
        return str(chain_pem)
    if not location:
        raise SslConfigError(f"TLS listener {listener} has no key store: set "
                             f"{BrokerConfig.field_name('ssl_keystore_location')} (PEM or PKCS12), or "
                             f"{BrokerConfig.field_name('ssl_keystore_key')} and "
                             f"{BrokerConfig.field_name('ssl_keystore_certificate_chain')} "
                             f"(or their {LISTENER_CONFIG_PREFIX}{listener.lower()}. forms)")
    if store_type == JKS:
        raise _refuse_jks(setting, str(location))
    if store_type == PEM:
        try:
            ctx.load_cert_chain(str(location), password=key_password)  # type: ignore[arg-type]
            with open(str(location)) as f:
                return f.read()
        except (OSError, ssl.SSLError) as exc:
            raise SslConfigError(f"listener {listener}: cannot load the PEM key store {location}: {exc}") from None
    if store_type == PKCS12:
        key, chain, _ = _read_pkcs12(str(location), get("ssl_keystore_password"), listener)  # type: ignore[arg-type]
        if key is None or not chain:
            raise SslConfigError(f"listener {listener}: the PKCS12 key store {location} holds no private key entry")
        _load_pem_chain(ctx, "".join(chain) + key, None, listener)
        return chain[0]
    raise SslConfigError(f"{setting}={store_type}: kafkapy reads PEM and PKCS12 key stores")


def _load_trust_store(ctx: ssl.SSLContext, listener: str, get,  # type: ignore[no-untyped-def]
                      purpose: ssl.Purpose = ssl.Purpose.CLIENT_AUTH) -> None:
    location = get("ssl_truststore_location")
    certificates = get("ssl_truststore_certificates")
    store_type = _store_type(location, str(get("ssl_truststore_type")))  # type: ignore[arg-type]
    setting = _key("ssl_truststore_type", listener)
    try:
        if certificates:
            if store_type != PEM:
                raise SslConfigError(f"{_key('ssl_truststore_certificates', listener)} is set: {setting} must be PEM")
            ctx.load_verify_locations(cadata=str(certificates))
        elif not location:
            ctx.load_default_certs(purpose)
        elif store_type == JKS:
            raise _refuse_jks(setting, str(location))
        elif store_type == PEM:
            ctx.load_verify_locations(cafile=str(location))
        elif store_type == PKCS12:
            key, chain, extra = _read_pkcs12(str(location), get("ssl_truststore_password"), listener)
            trusted = chain + extra
            if not trusted:
                raise SslConfigError(f"listener {listener}: the PKCS12 trust store {location} holds no certificate")
            ctx.load_verify_locations(cadata="".join(trusted))
        else:
            raise SslConfigError(f"{setting}={store_type}: kafkapy reads PEM and PKCS12 trust stores")
    except (OSError, ssl.SSLError) as exc:
        raise SslConfigError(f"listener {listener}: cannot load the trust store: {exc}") from None


def _read_pkcs12(location: str, password: str | None, listener: str) -> tuple[str | None, list[str], list[str]]:
    """(private key PEM or None, its chain as PEM, other certificates as PEM) of a PKCS12 file."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ImportError:
        raise SslConfigError(f"listener {listener}: PKCS12 stores need the cryptography package "
                             "(pip install cryptography), or use PEM") from None
    try:
        with open(location, "rb") as f:
            data = f.read()
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except (OSError, ValueError) as exc:
        raise SslConfigError(f"listener {listener}: cannot read the PKCS12 store {location}: {exc}") from None
    pem = serialization.Encoding.PEM
    key_pem = None if key is None else key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    chain = [] if cert is None else [cert.public_bytes(pem).decode()]
    others = [c.public_bytes(pem).decode() for c in extra or ()]
    if key is not None:
        return key_pem, chain + others, []
    return None, chain, others


def _load_pem_chain(ctx: ssl.SSLContext, pem: str, password: str | None, listener: str) -> None:
    """Load a key and chain held in memory, through a 0600 file removed at once."""
    directory = tempfile.mkdtemp(prefix="kafkapy-tls-")  # 0700
    try:
        path = os.path.join(directory, "keystore.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        ctx.load_cert_chain(path, password=password)
    except (OSError, ssl.SSLError) as exc:
        raise SslConfigError(f"listener {listener}: cannot load the key store: {exc}") from None
    finally:
        shutil.rmtree(directory, ignore_errors=True)
