"""Connection limits of one server, as Kafka's ``ConnectionQuotas`` (kafka.network)
enforces them.

* ``max.connections.per.ip`` (+ ``max.connections.per.ip.overrides``): a connection
  from an address already at its cap is accepted and closed at once
  (``TooManyConnectionsException``: "Rejected connection from ..., address already has
  the configured maximum of N connections").
* ``max.connections`` (broker-wide) and ``listener.name.<l>.max.connections``
  (KIP-402): at the cap, the acceptor waits for a connection to close before it
  accepts more (``waitForConnectionSlot``); pending connections wait in the listen
  backlog.
* ``max.connection.creation.rate`` (KIP-612), broker-wide and
  ``listener.name.<l>.max.connection.creation.rate``: over the rate, the acceptor
  waits (at most ``quota.window.size.seconds``, 1 s) before it takes the next one.
  Kafka measures the rate with a sampled ``Rate`` sensor; this is a token bucket of
  one second's worth of connections, which allows the same rate and burst.
* ``connection_creation_rate`` client quotas of ``ip`` entities (KIP-612, set with
  AlterClientQuotas: ``kafka-configs --entity-type ips``): a per-IP rate, the named
  IP's own, else the default IP entity's. A connection over its IP's rate is not
  served and not counted: it is closed once the throttle time (at most a window) has
  passed (Kafka's ``recordIpConnectionMaybeThrottle`` and the acceptor's
  ``throttledSockets``), and the refused connection is not recorded against the rate.
  It holds on every listener of the server, the inter-broker one included, as Kafka's.
* The inter-broker listener is protected (``protectedListener``: when the server has
  more than one listener): the broker-wide cap and rate do not hold it back, and when
  its connections take the total over ``max.connections``, the least recently active
  connection of another listener is closed (``Processor.closeExcessConnections``), so
  that clients can never lock brokers out of each other.

One instance per ``serve`` call, as Kafka has one per ``SocketServer`` (a combined
node's controller listener has its own). Not task-safe beyond trio's cooperative
scheduling.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import trio

from kafkapy.server.settings import INT_MAX, ServerSettings

if TYPE_CHECKING:
    from kafkapy.config import BrokerConfig

logger = logging.getLogger("kafkapy.server.quotas")

# Kafka caps a throttle delay at the quota window (quota.window.size.seconds, 1 s).
MAX_THROTTLE_S = 1.0


class _Rate:
    """A token bucket of ``rate`` connections per second, one second deep."""

    __slots__ = ("_last", "_tokens", "rate")

    def __init__(self, rate: int, now: float) -> None:
        self.rate = rate
        self._tokens = float(rate)
        self._last = now

    def record(self, now: float) -> float:
        """Count one connection; the seconds to wait before accepting another."""
        rate = self.rate
        if rate <= 0:
            return MAX_THROTTLE_S
        self._tokens = min(float(rate), self._tokens + (now - self._last) * rate)
        self._last = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return min(-self._tokens / rate, MAX_THROTTLE_S)

    def try_record(self, now: float) -> float:
        """Count one connection if the rate allows it now (0.0); else count nothing and
        return the seconds until it would (the connection is refused, not delayed)."""
        rate = self.rate
        self._tokens = min(float(rate), self._tokens + (now - self._last) * rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return min((1.0 - self._tokens) / rate, MAX_THROTTLE_S)


class ConnectionQuotas:
    """Counts of a server's connections, per IP and per listener, and their limits.

    Attributes:
        total: open connections, all listeners.
        rejected: connections closed at once for their IP's cap.
        throttled: accepts delayed for a creation rate.
        blocked: accepts that waited for a free slot (``max.connections``).
    """

    def __init__(
        self, settings: ServerSettings, clock: Callable[[], float] = trio.current_time
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.total = 0
        self.per_ip: Counter[str] = Counter()
        self.per_listener: Counter[str] = Counter()
        self._listeners: set[str] = set()
        self._slot_freed: trio.Event | None = None
        now = clock()
        rate = settings.max_connection_creation_rate
        self._broker_rate = _Rate(rate, now) if rate < INT_MAX else None
        self._listener_rates = {
            name: _Rate(r, now)
            for name, r in settings.listener_max_connection_creation_rate.items()
            if r < INT_MAX
        }
        self.rejected = 0
        self.throttled = 0
        self.blocked = 0
        #: connections refused for their IP's ``connection_creation_rate``
        self.ip_throttled = 0
        #: ``connection_creation_rate`` of the default ``ip`` entity, and of named IPs
        self.ip_rate_default: int | None = None
        self.ip_rate_overrides: dict[str, int] = {}
        self._ip_rates: dict[str, _Rate] = {}

    def update(self, settings: ServerSettings) -> None:
        """Apply new limits (a dynamic broker config changed), as Kafka's
        ``updateBrokerMaxConnections`` and friends do: counts are kept, acceptors
        waiting for a slot look again, and a rate that changed starts a full bucket."""
        old, self.settings = self.settings, settings
        now = self._clock()
        if settings.max_connection_creation_rate != old.max_connection_creation_rate:
            rate = settings.max_connection_creation_rate
            self._broker_rate = _Rate(rate, now) if rate < INT_MAX else None
        if settings.listener_max_connection_creation_rate != old.listener_max_connection_creation_rate:
            self._listener_rates = {
                name: _Rate(r, now)
                for name, r in settings.listener_max_connection_creation_rate.items()
                if r < INT_MAX
            }
        event = self._slot_freed
        if event is not None:
            self._slot_freed = None
            event.set()

    def update_ip_connection_rates(self, default: int | None, overrides: Mapping[str, int]) -> None:
        """Kafka's ``updateIpConnectionRateQuota``: the default IP entity's rate and the
        named IPs' (from the ``ip`` client quotas); an IP whose rate changed starts over."""
        old = {ip: self.ip_rate_for(ip) for ip in self._ip_rates}
        self.ip_rate_default, self.ip_rate_overrides = default, dict(overrides)
        self._ip_rates = {ip: bucket for ip, bucket in self._ip_rates.items() if self.ip_rate_for(ip) == old[ip]}

    @property
    def ip_rates_enabled(self) -> bool:
        """Whether any ``ip`` connection rate is set (the accept path's fast test)."""
        return self.ip_rate_default is not None or bool(self.ip_rate_overrides)

    def ip_rate_for(self, ip: str) -> int | None:
        """Kafka's ``connectionRateForIp``: the IP's own rate, else the default's."""
        return self.ip_rate_overrides.get(ip, self.ip_rate_default)

    def record_ip_connection(self, ip: str) -> float:
        """Kafka's ``recordIpConnectionMaybeThrottle``: 0.0 when a new connection from
        ``ip`` is within its rate (and counted), else the throttle seconds after which
        the refused connection is closed (and nothing counted)."""
        rate = self.ip_rate_for(ip)
        if rate is None:
            return 0.0
        now = self._clock()
        bucket = self._ip_rates.get(ip)
        if bucket is None:
            bucket = self._ip_rates[ip] = _Rate(rate, now)
        delay = bucket.try_record(now)
        if delay > 0:
            self.ip_throttled += 1
        return delay

    def add_listener(self, name: str) -> None:
        self._listeners.add(name)

    def protected(self, listener: str) -> bool:
        """Kafka's ``protectedListener``: the inter-broker listener, when there is
        more than one listener."""
        return (
            listener == self.settings.inter_broker_listener_name
            and len(self._listeners) > 1
        )

    async def wait_for_slot(self, listener: str) -> None:
        """Kafka's ``waitForConnectionSlot``: record a new connection against the
        creation rates, wait out their delay, then wait until a slot is free."""
        delay = self._record_creation(listener)
        if delay > 0:
            self.throttled += 1
            await trio.sleep(delay)
        if not self._slot_available(listener):
            self.blocked += 1
            while not self._slot_available(listener):
                if self._slot_freed is None:
                    self._slot_freed = trio.Event()
                await self._slot_freed.wait()

    def needs_wait(self, listener: str) -> bool:
        """False when :meth:`wait_for_slot` would return at once without recording
        anything (no rate configured, a slot free): the accept loop's fast path."""
        return (
            self._broker_rate is not None
            or listener in self._listener_rates
            or not self._slot_available(listener)
        )

    def room(self, listener: str, most: int) -> int:
        """How many connections may be accepted now without waiting (1 to ``most``)."""
        settings = self.settings
        cap = settings.listener_max_connections.get(listener, INT_MAX)
        free = cap - self.per_listener[listener]
        if not self.protected(listener):
            free = min(free, settings.max_connections - self.total)
        return max(1, min(most, free))

    def inc(self, listener: str, ip: str) -> bool:
        """Count a new connection; False (nothing counted) when its IP is at its cap."""
        if self.per_ip[ip] >= self.settings.max_connections_for(ip):
            self.rejected += 1
            return False
        self.per_ip[ip] += 1
        self.per_listener[listener] += 1
        self.total += 1
        return True

    def dec(self, listener: str, ip: str) -> None:
        """Count a closed connection and wake an acceptor waiting for a slot."""
        self.per_ip[ip] -= 1
        if not self.per_ip[ip]:
            del self.per_ip[ip]
        self.per_listener[listener] -= 1
        self.total -= 1
        event = self._slot_freed
        if event is not None:
            self._slot_freed = None
            event.set()

    def max_connections_exceeded(self, listener: str) -> bool:
        """Kafka's ``maxConnectionsExceeded``: over the broker-wide cap, on a listener
        whose connections may be closed to make room."""
        return self.total > self.settings.max_connections and not self.protected(listener)

    def _slot_available(self, listener: str) -> bool:
        settings = self.settings
        cap = settings.listener_max_connections.get(listener, INT_MAX)
        if self.per_listener[listener] >= cap:
            return False
        if self.protected(listener):
            return True
        return self.total < settings.max_connections

    def _record_creation(self, listener: str) -> float:
        now = self._clock()
        delay = 0.0
        if self._broker_rate is not None and not self.protected(listener):
            delay = self._broker_rate.record(now)
        listener_rate = self._listener_rates.get(listener)
        if listener_rate is not None:
            delay = max(delay, listener_rate.record(now))
        return delay


class _ClientQuotaImage(Protocol):
    client_quotas: Mapping[tuple[tuple[str, str | None], ...], Mapping[str, float]]


def follow_ip_connection_rates(quotas: ConnectionQuotas) -> Callable[[Any, _ClientQuotaImage], None]:
    """A metadata publisher that applies the ``ip`` entities' ``connection_creation_rate``
    client quotas to ``quotas`` when they change (Kafka's ``ClientQuotaMetadataManager``
    hands them to ``ConnectionQuotas``)."""
    from kafkapy.kraft.metadata.quota_control import CONNECTION_CREATION_RATE, IP

    seen: list[Any] = []

    def publish(old: Any, new: _ClientQuotaImage) -> None:
        entities = new.client_quotas
        if seen and seen[0] is entities:
            return
        seen[:] = [entities]
        default: int | None = None
        overrides: dict[str, int] = {}
        for entity, values in entities.items():
            rate = values.get(CONNECTION_CREATION_RATE)
            if rate is None or len(entity) != 1 or entity[0][0] != IP:
                continue
            name = entity[0][1]
            if name is None:
                default = int(rate)
            else:
                overrides[name] = int(rate)
        if (default, overrides) != (quotas.ip_rate_default, quotas.ip_rate_overrides):
            logger.info("Connection creation rates per IP updated: default %s, %s", default, overrides)
            quotas.update_ip_connection_rates(default, overrides)

    return publish


class _BrokerConfigImage(Protocol):
    def broker_configs(self, broker: int | str) -> Mapping[str, str]: ...


def follow_dynamic_configs(
    quotas: ConnectionQuotas, config: BrokerConfig
) -> Callable[[Any, _BrokerConfigImage], None]:
    """A metadata publisher (``publisher(old_image, new_image)``) that applies the
    dynamic broker configs (this broker's, then the cluster default, then the static
    ones) to ``quotas`` when they change: the connection limits are cluster-wide
    dynamic in Kafka (``DynamicConnectionQuota``)."""
    from kafkapy.config import BrokerConfig, ConfigError

    node = config.node_id
    seen: list[tuple[Mapping[str, str], Mapping[str, str]]] = []

    def publish(old: Any, new: _BrokerConfigImage) -> None:
        layers = (new.broker_configs(""), new.broker_configs(node))
        if seen and seen[0] == layers:
            return
        seen[:] = [layers]
        try:
            merged = BrokerConfig.from_properties({**config.properties, **layers[0], **layers[1]})
            fresh = ServerSettings.from_broker_config(merged)
        except (ConfigError, ValueError) as exc:
            logger.warning("Dynamic connection limits not applied: %s", exc)
            return
        current = quotas.settings
        fresh = dataclasses.replace(
            fresh,
            receive_buffer_bytes=current.receive_buffer_bytes,
            shutdown_grace_ms=current.shutdown_grace_ms,
        )
        if fresh != current:
            logger.info(
                "Connection limits updated: %d connections, %d per IP (overrides %s), "
                "%d new connections per second",
                fresh.max_connections,
                fresh.max_connections_per_ip,
                dict(fresh.max_connections_per_ip_overrides),
                fresh.max_connection_creation_rate,
            )
            quotas.update(fresh)

    return publish
