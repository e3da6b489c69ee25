"""The server's knobs, one frozen value built from the broker's configuration.

Field names are Kafka's configuration names, snake_cased; the defaults are Kafka's.
The broker's config table maps its keys onto these fields, so no config name string
lives in this package. Two fields have no Kafka key (marked below): Kafka reads one
request at a time and has no graceful-shutdown window for client connections.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kafkapy.config import BrokerConfig

INT_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What the listeners and connections enforce.

    Attributes:
        socket_request_max_bytes: ``socket.request.max.bytes``; a larger request size
            header closes the connection before anything is allocated.
        connections_max_idle_ms: ``connections.max.idle.ms``; a connection with no
            request in flight and no bytes received for this long is closed.
        max_connections: ``max.connections``, across all listeners but the
            inter-broker one (see :mod:`kafkapy.server.quotas`).
        max_connections_per_ip: ``max.connections.per.ip``.
        max_connections_per_ip_overrides: ``max.connections.per.ip.overrides``, keyed
            by the peer's IP address as a string.
        max_connection_creation_rate: ``max.connection.creation.rate`` (KIP-612),
            connections accepted per second across all listeners but the
            inter-broker one.
        listener_max_connections: ``listener.name.<listener>.max.connections``,
            keyed by listener name.
        listener_max_connection_creation_rate:
            ``listener.name.<listener>.max.connection.creation.rate``.
        inter_broker_listener_name: ``inter.broker.listener.name``, the protected
            listener of KIP-402.
        queued_max_request_bytes: ``queued.max.request.bytes``: bytes of requests
            read but not yet handled, beyond which connections stop reading; <= 0
            for no bound (see :mod:`kafkapy.server.memory`).
        socket_listen_backlog_size: ``socket.listen.backlog.size`` (KIP-764).
        receive_buffer_bytes: (no Kafka key) the per-connection read-ahead bound: frames
            that fit are read ahead into a pooled buffer of this size, a larger frame is
            read alone into a buffer of its own size.
        shutdown_grace_ms: (no Kafka key) on graceful shutdown, how long requests
            already being handled may take before their connections are cut.
    """

    socket_request_max_bytes: int = 104857600
    connections_max_idle_ms: int = 600000
    max_connections: int = INT_MAX
    max_connections_per_ip: int = INT_MAX
    max_connections_per_ip_overrides: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    max_connection_creation_rate: int = INT_MAX
    listener_max_connections: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    listener_max_connection_creation_rate: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    inter_broker_listener_name: str | None = None
    queued_max_request_bytes: int = -1
    socket_listen_backlog_size: int = 50
    receive_buffer_bytes: int = 65536
    shutdown_grace_ms: int = 5000

    def __post_init__(self) -> None:
        if self.socket_request_max_bytes <= 0:
            raise ValueError("socket_request_max_bytes must be positive")
        if self.connections_max_idle_ms <= 0:
            raise ValueError("connections_max_idle_ms must be positive")
        if self.receive_buffer_bytes < 4096:
            raise ValueError("receive_buffer_bytes must be at least 4096")
        if self.shutdown_grace_ms < 0:
            raise ValueError("shutdown_grace_ms must not be negative")
        if 0 < self.queued_max_request_bytes < self.socket_request_max_bytes:
            # KafkaConfig.validateValues requires the same.
            raise ValueError(
                "queued.max.request.bytes must be larger or equal to "
                "socket.request.max.bytes"
            )

    @classmethod
    def from_broker_config(cls, config: BrokerConfig, **extra: int) -> ServerSettings:
        """The settings a node's configuration gives; ``extra`` sets the fields that
        have no Kafka key."""
        return cls(
            socket_request_max_bytes=config.socket_request_max_bytes,
            connections_max_idle_ms=config.connections_max_idle_ms,
            max_connections=config.max_connections,
            max_connections_per_ip=config.max_connections_per_ip,
            max_connections_per_ip_overrides=parse_connection_overrides(
                config.max_connections_per_ip_overrides
            ),
            max_connection_creation_rate=config.max_connection_creation_rate,
            listener_max_connections=listener_overrides(config, "max_connections"),
            listener_max_connection_creation_rate=listener_overrides(
                config, "max_connection_creation_rate"
            ),
            inter_broker_listener_name=(config.inter_broker_listener_name or "").upper()
            or None,
            queued_max_request_bytes=config.queued_max_request_bytes,
            socket_listen_backlog_size=config.socket_listen_backlog_size,
            **extra,
        )

    def max_connections_for(self, ip: str) -> int:
        """The connection cap for one peer address, its override if it has one."""
        return self.max_connections_per_ip_overrides.get(
            ip, self.max_connections_per_ip
        )


# Kafka's ListenerName.configPrefix: a listener's own value of a config.
LISTENER_PREFIX = "listener.name."


def listener_overrides(config: BrokerConfig, field_name: str) -> Mapping[str, int]:
    """``listener.name.<listener>.<config>`` values of one config, by listener name
    (upper case, as listener names are compared)."""
    suffix = "." + config.field_name(field_name)
    found: dict[str, int] = {}
    for key, value in config.properties.items():
        if key.startswith(LISTENER_PREFIX) and key.endswith(suffix):
            listener = key[len(LISTENER_PREFIX) : -len(suffix)]
            if listener and "." not in listener:
                found[listener.upper()] = int(value)
    return MappingProxyType(found)


def parse_connection_overrides(value: str) -> Mapping[str, int]:
    """Parse ``max.connections.per.ip.overrides``: ``host:count,...``.

    As Kafka does, a host may be an IP address (IPv6 too: the count follows the last
    colon) or a name, resolved once here to its addresses.

    Raises:
        ValueError: an entry without a count, or a name that does not resolve.
    """
    overrides: dict[str, int] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        host, sep, count = entry.rpartition(":")
        if not sep or not host.strip():
            raise ValueError(f"max connections override {entry!r} is not host:count")
        for ip in _addresses(host.strip().strip("[]")):
            overrides[ip] = int(count)
    return MappingProxyType(overrides)


def _addresses(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return sorted({str(info[4][0]) for info in infos})
