"""The server's knobs, one frozen value built from the broker's configuration.

Field names are Kafka's configuration names, snake_cased; the defaults are Kafka's.
The broker's config table maps its keys onto these fields, so no config name string
lives in this package. Two fields have no Kafka key (marked below): Kafka reads one
request at a time and has no graceful-shutdown window for client connections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

INT_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What the listeners and connections enforce.

    Attributes:
        socket_request_max_bytes: ``socket.request.max.bytes``; a larger request size
            header closes the connection before anything is allocated.
        connections_max_idle_ms: ``connections.max.idle.ms``; a connection with no
            request in flight and no bytes received for this long is closed.
        max_connections: ``max.connections``, across all listeners.
        max_connections_per_ip: ``max.connections.per.ip``.
        max_connections_per_ip_overrides: ``max.connections.per.ip.overrides``, keyed
            by the peer's IP address as a string.
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

    def max_connections_for(self, ip: str) -> int:
        """The connection cap for one peer address, its override if it has one."""
        return self.max_connections_per_ip_overrides.get(
            ip, self.max_connections_per_ip
        )
