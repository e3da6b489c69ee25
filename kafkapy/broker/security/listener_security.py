"""Which listener authenticates how, from Kafka's config names; and what is refused.

Each listener has a security protocol (``listener.security.protocol.map``). kafkapy
serves all four: PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL. A TLS listener's context
comes from its ``ssl.*`` settings (:mod:`kafkapy.broker.security.ssl_factory`). A SASL
listener accepts the mechanisms of ``listener.name.<l>.sasl.enabled.mechanisms`` (else
``sasl.enabled.mechanisms``);
PLAIN users come from the listener's JAAS config
(``listener.name.<l>.plain.sasl.jaas.config``, else ``sasl.jaas.config``), SCRAM
credentials from the metadata log (UserScramCredentialRecord).

Never a silent downgrade: :func:`check_security` refuses to start, naming the
setting, whatever kafkapy cannot honour. A broker that started with a setting meant
to protect it, ignored, would serve plaintext where its owner expects TLS or
authentication:

* TLS settings :mod:`kafkapy.broker.security.ssl_factory` cannot honour (JKS stores,
  TLS versions before 1.2, cipher suites it cannot map, ...), ``ssl.*`` configs Kafka
  has and kafkapy does not act on (``ssl.provider``, ``ssl.engine.factory.class``, ...)
  at values other than their defaults, listener-prefixed ones included, and
  ``listener.name.<l>.ssl.*`` keys of no known config;
* a controller or inter-broker listener kafkapy's own clients could not connect to
  (:func:`_check_inter_node_sasl`). Those listeners may be SSL, SASL_PLAINTEXT or
  SASL_SSL: the Raft transport and the controller channel connect with
  :func:`controller_ssl_context` and :func:`controller_sasl_client`, the replica
  fetchers and the transaction senders with :func:`inter_broker_ssl_context` and
  :func:`inter_broker_sasl_client` (:mod:`kafkapy.broker.security.sasl_client`).
  Refused: an inter-broker mechanism the inter-broker listener does not enable
  (Kafka's ``KafkaConfig.validateValues``), one kafkapy's clients do not speak
  (GSSAPI, OAUTHBEARER), no JAAS ``username``/``password`` for it, and SCRAM on the
  controller listener: SCRAM credentials live in the metadata log, which a voter
  reads only from the quorum it must first authenticate to (Kafka's documentation
  asks for another mechanism there, KAFKA-15513);
* GSSAPI or any mechanism other than PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
  on a SASL listener; Kafka's default list is ``[GSSAPI]``, so a SASL listener needs
  ``sasl.enabled.mechanisms`` set (Kafka would start and then need Kerberos);
* OAUTHBEARER without an ``OAuthBearerLoginModule`` JAAS entry for the listener (Kafka
  needs one), with a ``listener.name.<l>.oauthbearer.sasl.server.callback.handler.class``
  other than Kafka's two validators, with ``OAuthBearerValidatorCallbackHandler`` but
  no readable ``sasl.oauthbearer.jwks.endpoint.url``, or with a JWKS URL but Kafka's
  default (unsecured) validator: Kafka would then accept unsigned tokens, so kafkapy
  asks for the handler to be named (:mod:`kafkapy.broker.security.oauthbearer`);
* PLAIN enabled with no JAAS config for the listener (Kafka: "No JAAS configuration
  section named 'KafkaServer'..." at start-up);
* an ``authorizer.class.name`` other than Kafka's StandardAuthorizer (the one kafkapy
  has, :mod:`kafkapy.broker.security.authorizer`), ``sasl.server.callback.handler.class``
  and a ``principal.builder.class`` other than Kafka's default;
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kafkapy.broker.security.authorizer import STANDARD_AUTHORIZER
from kafkapy.broker.security.jaas import JaasConfigError, parse_jaas_config
from kafkapy.broker.security.plain import LOGIN_MODULE as PLAIN_LOGIN_MODULE
from kafkapy.broker.security.plain import MECHANISM as PLAIN
from kafkapy.broker.security.plain import plain_users

if TYPE_CHECKING:
    from kafkapy.broker.security.oauthbearer import TokenValidator
    from kafkapy.broker.security.sasl_client import SaslClient
    from kafkapy.broker.security.ssl_factory import SslListenerConfig
from kafkapy.config import (
    BROKER_CONFIGS,
    cannot_honour,
    DEFAULT_PRINCIPAL_BUILDER,
    LISTENER_CONFIG_PREFIX,
    SSL_CONFIG_PREFIX,
    BrokerConfig,
    split_listener_config,
)

#: Kafka's ``SecurityProtocol`` names.
PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL = "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"
SECURITY_PROTOCOLS = (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)

_MECHANISMS = "sasl_enabled_mechanisms"
_JAAS = "sasl_jaas_config"
_REAUTH = "connections_max_reauth_ms"
_CALLBACK_HANDLER = "sasl_server_callback_handler_class"
_JWKS_URL = "sasl_oauthbearer_jwks_endpoint_url"


class SecurityConfigError(ValueError):
    """A security setting kafkapy cannot honour: the node refuses to start."""


@dataclass(frozen=True, slots=True)
class SaslListenerConfig:
    """How one SASL listener authenticates.

    Attributes:
        listener: the listener name (upper case).
        mechanisms: the enabled mechanisms, in configured order (what SaslHandshake lists).
        plain_users: PLAIN's user -> password, from the listener's JAAS config.
        failed_authentication_delay_ms: ``connection.failed.authentication.delay.ms``.
        max_reauth_ms: ``connections.max.reauth.ms`` per mechanism (KIP-368); 0 is none.
        oauthbearer: OAUTHBEARER's token validator, when it is enabled.
    """

    listener: str
    mechanisms: tuple[str, ...]
    plain_users: Mapping[str, str] = field(default_factory=dict)
    failed_authentication_delay_ms: int = 100
    max_reauth_ms: Mapping[str, int] = field(default_factory=dict)
    oauthbearer: TokenValidator | None = None


@dataclass(frozen=True, slots=True)
class ListenerSecurity:
    """Every listener's security protocol, the SASL settings of SASL listeners and the
    TLS contexts of SSL and SASL_SSL ones (what ``serve`` takes as ``tls``)."""

    protocols: Mapping[str, str]
    sasl: Mapping[str, SaslListenerConfig]
    tls: Mapping[str, SslListenerConfig] = field(default_factory=dict)

    def sasl_for(self, listener: str) -> SaslListenerConfig | None:
        """The SASL settings of ``listener``, or None where no authentication happens."""
        return self.sasl.get(listener)


#: The security of a node with PLAINTEXT listeners only (tests that build a core by hand).
NO_SECURITY = ListenerSecurity({}, {})


def listener_names(config: BrokerConfig) -> list[str]:
    """The names in ``listeners``, upper-cased as Kafka compares them."""
    return [item.split("://", 1)[0].strip().upper() for item in config.listeners if "://" in item]


def listener_protocols(config: BrokerConfig) -> dict[str, str]:
    """Listener name -> security protocol (``listener.security.protocol.map``).

    Raises:
        SecurityConfigError: a listener whose name is neither mapped nor a protocol
            (Kafka: "No security protocol defined for listener").
    """
    mapped: dict[str, str] = {}
    for item in config.listener_security_protocol_map.split(","):
        if ":" in item:
            name, protocol = item.split(":", 1)
            mapped[name.strip().upper()] = protocol.strip().upper()
    out = {}
    for name in listener_names(config):
        protocol = mapped.get(name, name if name in SECURITY_PROTOCOLS else None)
        if protocol is None:
            raise SecurityConfigError(f"No security protocol defined for listener {name} "
                                      f"({BrokerConfig.field_name('listener_security_protocol_map')})")
        if protocol not in SECURITY_PROTOCOLS:
            raise SecurityConfigError(f"Unknown security protocol {protocol} for listener {name} in "
                                      f"{BrokerConfig.field_name('listener_security_protocol_map')}")
        out[name] = protocol
    return out


def _mechanisms(config: BrokerConfig, listener: str) -> tuple[str, ...]:
    raw = config.listener_config(listener, _MECHANISMS)
    if raw is None:
        return tuple(config.sasl_enabled_mechanisms)
    return tuple(m.strip() for m in raw.split(",") if m.strip())


def _sasl_listener(config: BrokerConfig, listener: str) -> SaslListenerConfig:
    from kafkapy.broker.security.oauthbearer import MECHANISM as OAUTHBEARER
    from kafkapy.broker.security.scram import MECHANISM_NAMES as SCRAM_MECHANISMS

    supported = frozenset({PLAIN, OAUTHBEARER}) | SCRAM_MECHANISMS  # the SASL mechanisms kafkapy serves
    mechanisms = _mechanisms(config, listener)
    setting = BrokerConfig.field_name(_MECHANISMS)
    if not mechanisms:
        raise SecurityConfigError(f"No SASL mechanisms are enabled for listener {listener} ({setting})")
    unsupported = [m for m in mechanisms if m not in supported]
    if unsupported:
        raise SecurityConfigError(
            f"SASL mechanism(s) {', '.join(unsupported)} enabled for listener {listener} ({setting}="
            f"{','.join(mechanisms)}) cannot be served: kafkapy supports "
            f"{', '.join(sorted(supported))}; set {setting} (or {LISTENER_CONFIG_PREFIX}"
            f"{listener.lower()}.{setting}) to those you use")
    users: dict[str, str] = {}
    if PLAIN in mechanisms:
        jaas = config.listener_config(listener, _JAAS, PLAIN)
        if jaas is None:
            raise SecurityConfigError(
                f"SASL listener {listener} enables PLAIN but has no JAAS configuration: set "
                f"{LISTENER_CONFIG_PREFIX}{listener.lower()}.plain.{BrokerConfig.field_name(_JAAS)} or "
                f"{BrokerConfig.field_name(_JAAS)} with {PLAIN_LOGIN_MODULE} user_<name>=\"<password>\" entries")
        try:
            modules = parse_jaas_config(jaas)
        except JaasConfigError as exc:
            raise SecurityConfigError(f"{BrokerConfig.field_name(_JAAS)} of listener {listener}: {exc}") from None
        if not any(m.class_name == PLAIN_LOGIN_MODULE for m in modules):
            raise SecurityConfigError(f"{BrokerConfig.field_name(_JAAS)} of listener {listener} has no "
                                      f"{PLAIN_LOGIN_MODULE} entry for PLAIN")
        users = plain_users([m for m in modules if m.class_name == PLAIN_LOGIN_MODULE])
    reauth = {}
    for mechanism in mechanisms:
        raw = config.listener_config(listener, _REAUTH, mechanism)
        reauth[mechanism] = int(raw) if raw is not None else config.connections_max_reauth_ms
    validator = _oauthbearer_validator(config, listener) if OAUTHBEARER in mechanisms else None
    return SaslListenerConfig(listener, mechanisms, users, config.connection_failed_authentication_delay_ms, reauth,
                              validator)


def _oauthbearer_setting(config: BrokerConfig, listener: str, field_name: str) -> str | None:
    """An ``sasl.oauthbearer.*`` value as Kafka's ``ConfigurationUtils`` reads it for a
    listener: ``listener.name.<l>.oauthbearer.<name>``, the listener's, then the plain one."""
    from kafkapy.broker.security.oauthbearer import MECHANISM as OAUTHBEARER

    raw = config.listener_config(listener, field_name, OAUTHBEARER)
    return raw.strip() if raw is not None and raw.strip() else None


def _oauthbearer_validator(config: BrokerConfig, listener: str) -> TokenValidator:
    """OAUTHBEARER's validator for ``listener``: Kafka's unsecured one by default, the
    JWKS one with ``OAuthBearerValidatorCallbackHandler`` (see the module docstring)."""
    from kafkapy.broker.security.oauthbearer import (
        JWKS_VALIDATOR_HANDLER,
        LOGIN_MODULE as OAUTHBEARER_LOGIN_MODULE,
        MECHANISM as OAUTHBEARER,
        UNSECURED_VALIDATOR_HANDLER,
        UnsecuredValidator,
    )

    jaas_name = BrokerConfig.field_name(_JAAS)
    where = f"{LISTENER_CONFIG_PREFIX}{listener.lower()}.oauthbearer.{jaas_name}"
    jaas = config.listener_config(listener, _JAAS, OAUTHBEARER)
    try:
        modules = parse_jaas_config(jaas) if jaas is not None else []
    except JaasConfigError as exc:
        raise SecurityConfigError(f"{where}: {exc}") from None
    entries = [m for m in modules if m.class_name == OAUTHBEARER_LOGIN_MODULE]
    if not entries:
        raise SecurityConfigError(
            f"SASL listener {listener} enables OAUTHBEARER but has no JAAS configuration for it: set {where} "
            f"(or {jaas_name}) to \"{OAUTHBEARER_LOGIN_MODULE} required;\"")
    handler_setting = (f"{LISTENER_CONFIG_PREFIX}{listener.lower()}.oauthbearer."
                       f"{BrokerConfig.field_name(_CALLBACK_HANDLER)}")
    handler = _oauthbearer_setting(config, listener, _CALLBACK_HANDLER)
    url_setting = BrokerConfig.field_name(_JWKS_URL)
    url = _oauthbearer_setting(config, listener, _JWKS_URL)
    if handler in (None, UNSECURED_VALIDATOR_HANDLER):
        if url is not None:
            raise SecurityConfigError(
                f"{url_setting}={url} is set for listener {listener}, but {handler_setting} is "
                f"{'unset' if handler is None else handler}: Kafka's default OAUTHBEARER validator accepts unsecured "
                f"(unsigned) tokens and ignores the JWKS; set {handler_setting}={JWKS_VALIDATOR_HANDLER} to "
                "validate tokens with it")
        try:
            return UnsecuredValidator.from_options(entries[0].options)
        except ValueError as exc:
            raise SecurityConfigError(f"{where}: {exc}") from None
    if handler != JWKS_VALIDATOR_HANDLER:
        raise SecurityConfigError(
            f"{handler_setting}={handler} is set, but kafkapy cannot load Java callback handlers; it has "
            f"{JWKS_VALIDATOR_HANDLER} (JWKS-validated tokens) and {UNSECURED_VALIDATOR_HANDLER} (the default)")
    if url is None:
        raise SecurityConfigError(f"{handler_setting}={JWKS_VALIDATOR_HANDLER} needs {url_setting} (the OAuth "
                                  "provider's JWKS, https:// or file://)")
    from kafkapy.broker.security.oauthbearer_jwks import JwksError, JwksValidator, check_url, jwks_ssl_context

    def setting(field_name: str, default: object) -> str | None:
        raw = _oauthbearer_setting(config, listener, field_name)
        return raw if raw is not None else (None if default is None else str(default))

    audience = setting("sasl_oauthbearer_expected_audience", None)
    try:
        check_url(url, url_setting)
        validator = JwksValidator(
            url,
            refresh_ms=int(setting("sasl_oauthbearer_jwks_endpoint_refresh_ms",
                                   config.sasl_oauthbearer_jwks_endpoint_refresh_ms) or 0),
            expected_audience=[a.strip() for a in (audience or "").split(",") if a.strip()],
            expected_issuer=setting("sasl_oauthbearer_expected_issuer", config.sasl_oauthbearer_expected_issuer),
            sub_claim=setting("sasl_oauthbearer_sub_claim_name", config.sasl_oauthbearer_sub_claim_name) or "sub",
            scope_claim=setting("sasl_oauthbearer_scope_claim_name",
                                config.sasl_oauthbearer_scope_claim_name) or "scope",
            clock_skew_s=int(setting("sasl_oauthbearer_clock_skew_seconds",
                                     config.sasl_oauthbearer_clock_skew_seconds) or 0),
            ssl_context=jwks_ssl_context(entries[0].options) if url.lower().startswith("https:") else None)
        validator.load()
    except (JwksError, ValueError) as exc:
        raise SecurityConfigError(f"OAUTHBEARER on listener {listener}: {exc}") from None
    return validator


def _unhonoured_ssl_setting(key: str, name: str, raw: str) -> str | None:
    """Why an ``ssl.*`` key (``listener.name.<l>.ssl.*`` included) cannot be honoured:
    a config the table does not know, or one kafkapy does not act on at a value other
    than its default; None for the ones :mod:`ssl_factory` reads (it checks their values)."""
    if not (name.startswith(SSL_CONFIG_PREFIX) or
            (key.startswith(LISTENER_CONFIG_PREFIX) and "." + SSL_CONFIG_PREFIX in key)):
        return None
    definition = BROKER_CONFIGS.get(name)
    if definition is None:
        return f"{key} is not a TLS setting Kafka or kafkapy knows"
    try:
        return cannot_honour(definition, definition.parse(raw))
    except ValueError as exc:
        return f"{key}: {exc}"


def _refuse_unhonoured(config: BrokerConfig) -> None:
    props = config.properties
    for key in sorted(props):
        split = split_listener_config(key)
        name = split[2] if split is not None else key
        problem = _unhonoured_ssl_setting(key, name, props[key])
        if problem is not None:
            raise SecurityConfigError(problem)
        if name == BrokerConfig.field_name("authorizer_class_name") and props[key].strip() \
                and props[key].strip() != STANDARD_AUTHORIZER:
            raise SecurityConfigError(f"{key}={props[key]} is set, but the only authorizer kafkapy has is "
                                      f"{STANDARD_AUTHORIZER} (ACLs in the metadata log)")
        if name == BrokerConfig.field_name("sasl_server_callback_handler_class") and props[key].strip():
            from kafkapy.broker.security.oauthbearer import MECHANISM as OAUTHBEARER

            if not (split is not None and split[1] == OAUTHBEARER):  # checked by _oauthbearer_validator
                raise SecurityConfigError(
                    f"{key}={props[key]} is set, but kafkapy cannot load Java callback handlers; "
                    "PLAIN users come from the JAAS config, SCRAM credentials from the metadata log")
        if name == BrokerConfig.field_name("principal_builder_class") and \
                props[key].strip() != DEFAULT_PRINCIPAL_BUILDER:
            raise SecurityConfigError(f"{key}={props[key]} is set, but kafkapy has only Kafka's default "
                                      f"principal builder ({DEFAULT_PRINCIPAL_BUILDER})")


def check_security(config: BrokerConfig, controller_listeners: tuple[str, ...] = ()) -> ListenerSecurity:
    """Every listener's security, or the reason the node must not start.

    Args:
        config: the node's configuration.
        controller_listeners: ``controller.listener.names`` (default: from ``config``).

    Raises:
        SecurityConfigError: a setting kafkapy cannot honour (see the module docstring).
    """
    _refuse_unhonoured(config)
    protocols = listener_protocols(config)
    controllers = tuple(controller_listeners or config.controller_listeners)
    sasl: dict[str, SaslListenerConfig] = {}
    tls: dict[str, SslListenerConfig] = {}
    for name, protocol in protocols.items():
        if protocol in (SSL, SASL_SSL):
            from kafkapy.broker.security.ssl_factory import SslConfigError, ssl_listener_config

            try:
                tls[name] = ssl_listener_config(config, name, sasl=protocol == SASL_SSL)
            except SslConfigError as exc:
                raise SecurityConfigError(str(exc)) from None
        if protocol in (SASL_PLAINTEXT, SASL_SSL):
            sasl[name] = _sasl_listener(config, name)
    _check_inter_node_sasl(config, protocols, sasl, controllers)
    return ListenerSecurity(protocols, sasl, tls)


def _mapped_protocol(config: BrokerConfig, listener: str) -> str | None:
    """A listener's protocol, bound here or not (a broker-only node maps the controller
    listener it does not bind)."""
    mapped = {item.split(":", 1)[0].strip().upper(): item.split(":", 1)[1].strip().upper()
              for item in config.listener_security_protocol_map.split(",") if ":" in item}
    return mapped.get(listener, listener if listener in SECURITY_PROTOCOLS else None)


def _check_inter_node_sasl(config: BrokerConfig, protocols: Mapping[str, str],
                           served: Mapping[str, SaslListenerConfig], controllers: tuple[str, ...]) -> None:
    """Refuse SASL controller and inter-broker listeners this node's clients could not
    authenticate to (see the module docstring); builds their client credentials."""
    controller = controllers[0] if controllers else None
    if controller is not None and _mapped_protocol(config, controller) in (SASL_PLAINTEXT, SASL_SSL):
        from kafkapy.broker.security.scram import MECHANISM_NAMES as SCRAM_MECHANISMS

        setting = BrokerConfig.field_name("sasl_mechanism_controller_protocol")
        mechanism = config.sasl_mechanism_controller_protocol
        if mechanism in SCRAM_MECHANISMS:
            raise SecurityConfigError(
                f"{setting}={mechanism}: SCRAM credentials are stored in the metadata log, which a controller "
                f"reads only after joining the quorum it must authenticate to; use PLAIN on the controller "
                f"listener {controller} (SCRAM may serve the broker listeners)")
        enabled = served.get(controller)
        if enabled is not None and mechanism not in enabled.mechanisms:
            raise SecurityConfigError(f"{setting} must be included in {BrokerConfig.field_name(_MECHANISMS)} of "
                                      f"the controller listener {controller} when SASL is used for controller "
                                      f"communication ({mechanism} is not in {','.join(enabled.mechanisms)})")
        controller_sasl_client(config)
    inter_broker = _inter_broker_listener(config, protocols, set(controllers))
    if protocols.get(inter_broker) in (SASL_PLAINTEXT, SASL_SSL):
        mechanism = config.sasl_mechanism_inter_broker_protocol
        if mechanism not in served[inter_broker].mechanisms:  # KafkaConfig.validateValues' message
            raise SecurityConfigError(
                f"{BrokerConfig.field_name('sasl_mechanism_inter_broker_protocol')} must be included in "
                f"{BrokerConfig.field_name(_MECHANISMS)} when SASL is used for inter-broker communication "
                f"({mechanism} is not enabled on listener {inter_broker})")
        inter_broker_sasl_client(config)


def _sasl_client(config: BrokerConfig, listener: str, mechanism: str, setting: str) -> SaslClient:
    """The client credentials of ``listener`` for ``mechanism`` (module docstring)."""
    from kafkapy.broker.security.sasl_client import CLIENT_MECHANISMS, SCRAM_LOGIN_MODULE, SaslClient

    if mechanism not in CLIENT_MECHANISMS:
        raise SecurityConfigError(
            f"{setting}={mechanism}: kafkapy's inter-node clients authenticate with {', '.join(CLIENT_MECHANISMS)}"
            f" on listener {listener}")
    module_name = PLAIN_LOGIN_MODULE if mechanism == PLAIN else SCRAM_LOGIN_MODULE
    where = f"{LISTENER_CONFIG_PREFIX}{listener.lower()}.{mechanism.lower()}.{BrokerConfig.field_name(_JAAS)}"
    jaas = config.listener_config(listener, _JAAS, mechanism)
    try:
        modules = parse_jaas_config(jaas) if jaas is not None else []
    except JaasConfigError as exc:
        raise SecurityConfigError(f"{where}: {exc}") from None
    entry = next((m for m in modules if m.class_name == module_name), None)
    if entry is None or not entry.options.get("username") or "password" not in entry.options:
        raise SecurityConfigError(
            f"{setting}={mechanism} on listener {listener}: this node authenticates to the others with the "
            f"username and password of {where} (or {BrokerConfig.field_name(_JAAS)}), which has no "
            f"{module_name} entry with both")
    return SaslClient(listener, mechanism, entry.options["username"], entry.options["password"])


def controller_sasl_client(config: BrokerConfig) -> SaslClient | None:
    """How kafkapy's quorum and broker-to-controller clients authenticate when the
    controller listener is SASL_PLAINTEXT or SASL_SSL (``sasl.mechanism.controller.protocol``
    with the listener's JAAS credentials); None otherwise.

    Raises:
        SecurityConfigError: no usable credentials (see :func:`_sasl_client`).
    """
    names = config.controller_listeners
    if not names or _mapped_protocol(config, names[0]) not in (SASL_PLAINTEXT, SASL_SSL):
        return None
    return _sasl_client(config, names[0], config.sasl_mechanism_controller_protocol,
                        BrokerConfig.field_name("sasl_mechanism_controller_protocol"))


def inter_broker_sasl_client(config: BrokerConfig) -> SaslClient | None:
    """How kafkapy's inter-broker clients (replica fetchers, transaction senders)
    authenticate when the inter-broker listener is SASL_PLAINTEXT or SASL_SSL
    (``sasl.mechanism.inter.broker.protocol`` with its JAAS credentials); None otherwise.

    Raises:
        SecurityConfigError: no usable credentials (see :func:`_sasl_client`).
    """
    try:
        protocols = listener_protocols(config)
    except SecurityConfigError:
        return None  # a core built by hand in a test; a node refuses these in check_security
    listener = _inter_broker_listener(config, protocols, set(config.controller_listeners))
    if protocols.get(listener) not in (SASL_PLAINTEXT, SASL_SSL):
        return None
    return _sasl_client(config, listener, config.sasl_mechanism_inter_broker_protocol,
                        BrokerConfig.field_name("sasl_mechanism_inter_broker_protocol"))


def controller_ssl_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """The TLS client context of kafkapy's quorum and broker-to-controller clients (the
    Raft transport, the controller channel) when the controller listener (the first of
    ``controller.listener.names``) is SSL or SASL_SSL; None otherwise.

    Raises:
        SecurityConfigError: the listener's TLS settings cannot be honoured.
    """
    names = config.controller_listeners
    if not names:
        return None
    try:
        protocols = listener_protocols(config)
    except SecurityConfigError:
        return None  # a core built by hand in a test; a node refuses these in check_security
    # A controller listener a broker-only node does not bind is mapped all the same.
    protocol = protocols.get(names[0], _mapped_protocol(config, names[0]))
    if protocol not in (SSL, SASL_SSL):
        return None
    return _ssl_client_context(config, names[0])


def inter_broker_ssl_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """The TLS client context of kafkapy's inter-broker clients (replica fetchers,
    transaction senders) when the inter-broker listener is SSL or SASL_SSL; None otherwise.

    Raises:
        SecurityConfigError: the listener's TLS settings cannot be honoured.
    """
    try:
        protocols = listener_protocols(config)
    except SecurityConfigError:
        return None  # a core built by hand in a test; a node refuses these in check_security
    listener = _inter_broker_listener(config, protocols, set(config.controller_listeners))
    if protocols.get(listener) not in (SSL, SASL_SSL):
        return None
    return _ssl_client_context(config, listener)


def _ssl_client_context(config: BrokerConfig, listener: str) -> ssl.SSLContext:
    """The TLS client context of ``listener`` (:mod:`ssl_factory`, imported only where a
    listener uses TLS)."""
    from kafkapy.broker.security.ssl_factory import SslConfigError, ssl_client_context

    try:
        return ssl_client_context(config, listener)
    except SslConfigError as exc:
        raise SecurityConfigError(str(exc)) from None


def _inter_broker_listener(config: BrokerConfig, protocols: Mapping[str, str], controllers: set[str]) -> str:
    """``inter.broker.listener.name``, else the first broker listener (upper case; "" if
    none), as the node picks it. ``security.inter.broker.protocol`` other than PLAINTEXT
    is refused by the config table: name the listener instead."""
    inter_broker = config.inter_broker_listener_name
    if inter_broker is None:
        brokers = [n for n in protocols if n not in controllers]
        inter_broker = brokers[0] if brokers else None
    return (inter_broker or "").upper()
