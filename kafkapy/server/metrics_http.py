"""``/metrics`` over HTTP on the node's trio loop (``kafkapy.metrics.listener``).

Why on the trio loop and not ``prometheus_client.start_http_server``: the collector
reads the replica manager, the metadata image and the group coordinator, which are
used on the trio thread only; a scrape run there sees them between two steps, never
half-changed, and needs no lock and no thread. A scrape costs the loop the time of
``generate_latest`` (about a millisecond for a few hundred series).

The HTTP side is the least that Prometheus, curl and browsers need: one ``GET`` per
connection (``Connection: close``), the request head bounded to 8 KiB and 10 s.
``prometheus_client`` is imported only when the endpoint starts, so ``kafkapy serve``
without it starts no slower.

The process metrics are ``prometheus_client``'s own (``process_*``, ``python_gc_*``,
``python_info``). ``kafka_network_socketserver_networkprocessoravgidlepercent`` is the
share of the last minute the trio thread spent waiting for I/O: one thread both reads
sockets and runs handlers here, so it is also what Kafka's
``RequestHandlerAvgIdlePercent`` would say.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.metrics_families import Family, broker_families

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore

log = logging.getLogger(__name__)

#: Longest request head read, and how long a client may take to send it.
_MAX_HEAD = 8192
_HEAD_TIMEOUT_S = 10.0
#: The idle ratio covers this long, sampled every _IDLE_STEP_S.
_IDLE_WINDOW_S = 60.0
_IDLE_STEP_S = 5.0


class IdleRatio(trio.abc.Instrument):
    """Time the trio thread spends blocked waiting for I/O (a trio instrument)."""

    def __init__(self) -> None:
        self.idle_s = 0.0
        self._wait_started = 0.0
        self._next_sample = 0.0
        self._samples: deque[tuple[float, float]] = deque(maxlen=int(_IDLE_WINDOW_S / _IDLE_STEP_S) + 1)
        now = time.perf_counter()
        self._samples.append((now, 0.0))

    def before_io_wait(self, timeout: float) -> None:
        self._wait_started = time.perf_counter()

    def after_io_wait(self, timeout: float) -> None:
        now = time.perf_counter()
        self.idle_s += now - self._wait_started
        if now >= self._next_sample:
            self._samples.append((now, self.idle_s))
            self._next_sample = now + _IDLE_STEP_S

    def ratio(self) -> float:
        """Idle share since the oldest sample kept (up to a minute), 0..1."""
        now = time.perf_counter()
        then, idle_then = self._samples[0]
        span = now - then
        return 1.0 if span <= 0 else max(0.0, min(1.0, (self.idle_s - idle_then) / span))


class BrokerCollector:
    """A ``prometheus_client`` custom collector over :func:`broker_families`."""

    def __init__(self, core: BrokerCore, idle: IdleRatio | None = None) -> None:
        self.core = core
        self.idle = idle

    def collect(self) -> Any:
        from prometheus_client.metrics_core import Metric

        families = broker_families(self.core)
        if self.idle is not None:
            idle = Family("kafka_network_socketserver_networkprocessoravgidlepercent", "gauge",
                          "Share of the last minute the node's trio thread waited for I/O")
            idle.add(self.idle.ratio())
            families.append(idle)
        for family in families:
            # A counter family is named without _total; the exposition adds it back.
            name = family.name[:-6] if family.type == "counter" and family.name.endswith("_total") else family.name
            metric = Metric(name, family.help, family.type)
            for name, labels, value in family.samples:
                metric.add_sample(name, dict(labels), value)
            yield metric


def registry_for(core: BrokerCore, idle: IdleRatio | None = None) -> Any:
    """A registry holding the broker's collector and the process, platform and GC ones."""
    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(BrokerCollector(core, idle))
    return registry


def _response(status: str, body: bytes, content_type: str) -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode("ascii") + body


async def _read_head(stream: trio.abc.Stream) -> bytes | None:
    head = b""
    with trio.move_on_after(_HEAD_TIMEOUT_S):
        while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
            data = await stream.receive_some(_MAX_HEAD)
            if not data:
                break
            head += data
        return head
    return None


async def _handle(stream: trio.abc.Stream, registry: Any) -> None:
    from prometheus_client import generate_latest
    # Text format 0.0.4: what every Prometheus reads (our names need none of 1.0.0's quoting).
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    try:
        head = await _read_head(stream)
        if not head or b"\r\n" not in head:
            return
        parts = head.split(b"\r\n", 1)[0].split()
        method, target = (parts[0], parts[1]) if len(parts) >= 2 else (b"", b"")
        path = target.split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            answer = _response("405 Method Not Allowed", b"GET /metrics\n", "text/plain; charset=utf-8")
        elif path != b"/metrics":
            answer = _response("404 Not Found", b"kafkapy serves /metrics\n", "text/plain; charset=utf-8")
        else:
            body = generate_latest(registry)
            answer = _response("200 OK", body, CONTENT_TYPE_PLAIN_0_0_4)
            if method == b"HEAD":
                answer = answer[: answer.index(b"\r\n\r\n") + 4]
        await stream.send_all(answer)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


async def serve_metrics(core: BrokerCore, host: str, port: int, *,
                        task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``/metrics`` on ``host:port`` until cancelled; report the bound address
    (port 0 binds a free one), also kept in ``core.metrics.endpoint``.

    Raises:
        OSError: the address cannot be bound (the node refuses to start).
    """
    idle = IdleRatio()
    registry = registry_for(core, idle)
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[:2]
    core.metrics.endpoint = (bound[0], bound[1])
    trio.lowlevel.add_instrument(idle)
    log.info("Metrics on http://%s:%d/metrics", bound[0], bound[1])
    try:
        async with trio.open_nursery() as nursery:
            task_status.started((bound[0], bound[1]))
            await trio.serve_listeners(lambda stream: _handle(stream, registry), listeners,
                                       handler_nursery=nursery)
    finally:
        core.metrics.endpoint = None
        try:
            trio.lowlevel.remove_instrument(idle)
        except KeyError:
            pass
