"""Key stores and trust stores reloaded through AlterConfigs, as Kafka's ``SslFactory``
reconfigures a listener (``DynamicBrokerConfig``, ``SslConfigs.RECONFIGURABLE_CONFIGS``).

``kafka-configs --bootstrap-server ... --entity-type brokers --entity-name 1 --alter
--add-config listener.name.ssl.ssl.keystore.location=/new/broker.pem`` (or the
broker-wide ``ssl.keystore.location``, and the other store settings below) is a
per-broker dynamic config in the metadata log. :func:`follow_dynamic_ssl` is a
metadata publisher: when this broker's dynamic store settings change it builds each
TLS listener's context again from the static configuration overlaid with them, and
new connections use it; connections already open keep theirs (Kafka: existing
channels keep their SSLEngine). The new certificate must have the subject and
subject alternative names of the old one (``SslFactory.CertificateEntries``). A store
that cannot be loaded, or of another identity, is logged and the previous context
stays (Kafka refuses such an AlterConfigs up front: kafkapy's controller does not
validate key stores yet).

Other ``ssl.*`` settings (client auth, protocols, cipher suites) are read-only in
kafkapy's config table; set on a listener prefix dynamically they are logged as not
applied.

Not task-safe beyond trio's cooperative scheduling: runs as a publisher on the
broker's trio thread, and replaces entries of the mapping ``serve`` reads per accept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from kafkapy.broker.security.ssl_factory import SslConfigError, SslListenerConfig, ssl_listener_config
from kafkapy.config import SSL_CONFIG_PREFIX, BrokerConfig, ConfigError, split_listener_config

logger = logging.getLogger("kafkapy.broker.security.ssl")

#: ``SslConfigs.RECONFIGURABLE_CONFIGS``, as BrokerConfig fields.
RECONFIGURABLE_FIELDS = (
    "ssl_keystore_type", "ssl_keystore_location", "ssl_keystore_password", "ssl_key_password",
    "ssl_keystore_key", "ssl_keystore_certificate_chain", "ssl_truststore_type",
    "ssl_truststore_location", "ssl_truststore_password", "ssl_truststore_certificates",
)


def _reconfigurable() -> frozenset[str]:
    return frozenset(BrokerConfig.field_name(f) for f in RECONFIGURABLE_FIELDS)


def _ssl_keys(configs: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(reconfigurable store settings, other ssl settings) among dynamic broker configs."""
    reconfigurable = _reconfigurable()
    applied: dict[str, str] = {}
    ignored: list[str] = []
    for key, value in configs.items():
        split = split_listener_config(key)
        name = split[2] if split is not None else key
        if not name.startswith(SSL_CONFIG_PREFIX):
            continue
        if name in reconfigurable:
            applied[key] = value
        else:
            ignored.append(key)
    return applied, sorted(ignored)


def follow_dynamic_ssl(config: BrokerConfig,
                       endpoints: MutableMapping[str, SslListenerConfig]) -> Callable[[Any, Any], None]:
    """A metadata publisher (``publisher(old_image, new_image)``) that reloads the TLS
    listeners in ``endpoints`` when this broker's dynamic store settings change."""
    node = config.node_id
    seen: list[dict[str, str]] = []

    def publish(old: Any, new: Any) -> None:
        dynamic, ignored = _ssl_keys(new.broker_configs(node))
        if seen and seen[0] == dynamic:
            return
        first = not seen
        seen[:] = [dynamic]
        if ignored:
            logger.warning("Dynamic TLS settings not applied (kafkapy reloads only key and trust stores): %s",
                           ", ".join(ignored))
        if first and not dynamic:
            return
        try:
            merged = BrokerConfig.from_properties({**config.properties, **dynamic})
        except (ConfigError, ValueError) as exc:
            logger.error("TLS listeners not reconfigured: %s; the previous key stores stay in use", exc)
            return
        for listener, current in list(endpoints.items()):
            try:
                fresh = ssl_listener_config(merged, listener, sasl=current.sasl)
            except SslConfigError as exc:
                logger.error("TLS listener %s not reconfigured: %s; its previous key store stays in use",
                             listener, exc)
                continue
            if None not in (current.identity, fresh.identity) and current.identity != fresh.identity:
                # SslFactory.CertificateEntries.ensureCompatible (ssl.allow.dn.changes and
                # ssl.allow.san.changes are false, the only values kafkapy takes).
                logger.error("TLS listener %s not reconfigured: Keystore DistinguishedName or SubjectAltNames do not "
                             "match: existing=%s, new=%s; its previous key store stays in use",
                             listener, current.identity, fresh.identity)
                continue
            endpoints[listener] = fresh
            logger.info("TLS listener %s reconfigured: new connections use the updated key and trust stores",
                        listener)

    return publish
