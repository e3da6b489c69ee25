"""Client quota enforcement: produce and fetch byte rates per (user, client-id), as
Kafka's ``ClientQuotaManager`` enforces them (KIP-13, KIP-55, KIP-219).

Which quota applies (``DefaultQuotaCallback.quotaMetricTags``): the first of these
entities that sets the key, in this order, KIP-55's precedence::

    user + client-id, user + default client-id, user,
    default user + client-id, default user + default client-id, default user,
    client-id, default client-id

The rate is kept per *metric tags*, not per entity: a user + client-id level counts
(user, client-id), a user level counts (user, ""), a client-id level ("", client-id),
so a ``--entity-default`` quota limits each user (or client) on its own.

Measurement (Kafka's ``Rate`` over a ``SampledStat``): ``quota.window.num`` (11)
samples of ``quota.window.size.seconds`` (1 s); the rate is the bytes in the kept
samples over the window they span, counted as at least ``num - 1`` whole windows.
A request is recorded, then checked: over the quota, its throttle time is
``(rate - quota) / quota * window`` (``QuotaUtils.throttleTime``), the time after
which the rate is back at the quota.

Answer (KIP-219): the response goes out at once with ``throttle_time_ms``, and the
channel is muted for that long (``ThrottledChannel``): the connection's next request
is not read, nor handled, until the throttle ends. To clients older than KIP-219
(Produce v0-5, Fetch v0-7) the response itself is sent after the throttle time. A throttled fetch is answered
empty and its bytes unrecorded (``KafkaApis.handleFetchRequest``), and a consumer's
fetch is bounded by what one quota window allows (``getMaxValueInQuotaWindow``), so a
large fetch cannot be throttled for ever. Replica fetches are not client-quota'd.

Cost: with no quota in the image the dispatcher does one truth test per produce and
fetch and one identity test per request (request time); otherwise one lookup per
request, cached per connection until the quotas change, and no per-record work.
Controller mutations (KIP-599, :class:`ControllerMutationQuotas`): partitions created
or deleted by CreateTopics, CreatePartitions and DeleteTopics, a token bucket per
(user, client-id) with the same precedence; a topic over the quota answers
THROTTLING_QUOTA_EXCEEDED from the versions that know it.

Request time (``request_percentage``, :class:`RequestQuotas`): the time each request
holds the event loop, as a percentage of one thread, throttled for at most a window.

``connection_creation_rate`` of ``ip`` entities is enforced where connections are
accepted, by :class:`kafkapy.server.quotas.ConnectionQuotas`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio
import trio.lowlevel

from kafkapy.broker.security.principal import principal_of
from kafkapy.kraft.metadata.quota_control import (
    CLIENT_ID,
    CONSUMER_BYTE_RATE,
    CONTROLLER_MUTATION_RATE,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    USER,
)
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.buffers import chunks_length
from kafkapy.wire.codec import encode_response

if TYPE_CHECKING:
    from kafkapy.broker.context import RequestContext
    from kafkapy.config import BrokerConfig
    from kafkapy.wire.buffers import Chunk

_CACHE = "quota.lookup"
#: APIs the byte-rate quotas apply to.
QUOTA_APIS = frozenset({ApiKey.PRODUCE, ApiKey.FETCH})
_KEY_OF_API = {ApiKey.PRODUCE: PRODUCER_BYTE_RATE, ApiKey.FETCH: CONSUMER_BYTE_RATE}
#: ``shouldClientThrottle``: from these versions the client waits out the throttle itself.
_CLIENT_THROTTLES_SINCE = {ApiKey.PRODUCE: 6, ApiKey.FETCH: 8}
#: Sensors idle this many windows are dropped (their rate is 0), checked every _PRUNE_EVERY new ones.
_PRUNE_EVERY = 1024


class Rate:
    """Kafka's ``Rate`` of a ``SampledTotal``: ``samples`` windows of ``window_ms``."""

    __slots__ = ("last_ms", "samples", "starts", "totals", "window_ms")

    def __init__(self, samples: int, window_ms: int, now_ms: int) -> None:
        self.samples = samples
        self.window_ms = window_ms
        self.starts = [now_ms]
        self.totals = [0.0]
        self.last_ms = now_ms

    def record(self, value: float, now_ms: int) -> None:
        """Add ``value`` to the current sample, starting a new one when it is complete."""
        if now_ms - self.starts[-1] >= self.window_ms:
            self.starts.append(now_ms)
            self.totals.append(0.0)
            if len(self.starts) > self.samples:
                del self.starts[0], self.totals[0]
        self.totals[-1] += value
        self.last_ms = now_ms

    def _purge(self, now_ms: int) -> None:
        """Drop samples older than the whole window (``purgeObsoleteSamples``)."""
        expire = self.samples * self.window_ms
        while len(self.starts) > 1 and now_ms - self.starts[0] >= expire:
            del self.starts[0], self.totals[0]
        if now_ms - self.starts[0] >= expire:
            self.starts[0], self.totals[0] = now_ms, 0.0

    def window_size_ms(self, now_ms: int) -> int:
        """``Rate.windowSize``: the span of the kept samples, at least ``samples - 1`` windows."""
        self._purge(now_ms)
        elapsed = now_ms - self.starts[0]
        full = elapsed // self.window_ms
        if full < self.samples - 1:
            elapsed += (self.samples - 1 - full) * self.window_ms
        return elapsed

    def per_second(self, now_ms: int) -> float:
        """The rate in units per second."""
        size = self.window_size_ms(now_ms)
        return sum(self.totals) / (size / 1000.0)

    def throttle_ms(self, bound: float, now_ms: int) -> int:
        """0 when the rate is within ``bound``, else ``QuotaUtils.throttleTime``."""
        size = self.window_size_ms(now_ms)
        rate = sum(self.totals) / (size / 1000.0)
        if rate <= bound:
            return 0
        return round((rate - bound) / bound * size)


def quota_for(quotas: Mapping[Any, Mapping[str, float]], key: str, user: str,
              client_id: str) -> tuple[tuple[str, str], float] | None:
    """(metric tags, quota) of ``user`` and ``client_id`` for ``key`` by KIP-55's
    precedence, or None when no entity sets it."""
    levels = (
        (((CLIENT_ID, client_id), (USER, user)), (user, client_id)),
        (((CLIENT_ID, None), (USER, user)), (user, client_id)),
        (((USER, user),), (user, "")),
        (((CLIENT_ID, client_id), (USER, None)), (user, client_id)),
        (((CLIENT_ID, None), (USER, None)), (user, client_id)),
        (((USER, None),), (user, "")),
        (((CLIENT_ID, client_id),), ("", client_id)),
        (((CLIENT_ID, None),), ("", client_id)),
    )
    for entity, tags in levels:
        keys = quotas.get(entity)
        if keys is not None and key in keys:
            return tags, keys[key]
    return None


class ClientQuotas:
    """The broker's produce and fetch byte-rate quota managers (one sensor map each).

    Args:
        broker: reads the current image's ``client_quotas``.
        config: ``quota.window.num`` and ``quota.window.size.seconds``.
    """

    def __init__(self, broker: Any, config: BrokerConfig) -> None:
        self._broker = broker
        self.samples = config.quota_window_num
        self.window_ms = config.quota_window_size_seconds * 1000
        self._sensors: dict[tuple[str, tuple[str, str]], Rate] = {}
        self._created = 0

    @property
    def enabled(self) -> bool:
        """Whether any client quota is set (else nothing is measured)."""
        return bool(self._broker.metadata.image.client_quotas)

    def _lookup(self, ctx: RequestContext, key: str) -> tuple[tuple[str, str], float] | None:
        """The connection's quota for ``key``, cached until the quotas or client id change."""
        quotas = self._broker.metadata.image.client_quotas
        conn = ctx.conn
        state = getattr(conn, "state", None)
        client_id = ctx.header.client_id or ""
        cached = None if state is None else state.get(_CACHE)
        if cached is not None and cached[0] is quotas and cached[1] == client_id:
            found = cached[2].get(key, False)
            if found is not False:
                return found
        else:
            cached = (quotas, client_id, {})
            if state is not None:
                state[_CACHE] = cached
        found = quota_for(quotas, key, principal_of(conn).name, client_id)
        cached[2][key] = found
        return found

    def _sensor(self, key: str, tags: tuple[str, str], now_ms: int) -> Rate:
        sensor = self._sensors.get((key, tags))
        if sensor is None:
            self._created += 1
            if self._created % _PRUNE_EVERY == 0:
                idle = self.samples * self.window_ms
                for k in [k for k, s in self._sensors.items() if now_ms - s.last_ms > idle]:
                    del self._sensors[k]
            sensor = self._sensors[(key, tags)] = Rate(self.samples, self.window_ms, now_ms)
        return sensor

    def record(self, ctx: RequestContext, api: int, size: int) -> int:
        """Record ``size`` bytes of ``api`` for the request's (user, client-id); its throttle ms."""
        found = self._lookup(ctx, _KEY_OF_API[api])
        if found is None:
            return 0
        tags, bound = found
        now_ms = self._broker.clock_ms()
        sensor = self._sensor(_KEY_OF_API[api], tags, now_ms)
        sensor.record(size, now_ms)
        return sensor.throttle_ms(bound, now_ms)

    def unrecord(self, ctx: RequestContext, api: int, size: int) -> None:
        """Take back bytes recorded for a response that was not sent (a throttled fetch)."""
        found = self._lookup(ctx, _KEY_OF_API[api])
        if found is not None:
            self._sensor(_KEY_OF_API[api], found[0], self._broker.clock_ms()).record(-size, self._broker.clock_ms())

    def fetch_window_bytes(self, ctx: RequestContext) -> int | None:
        """``getMaxValueInQuotaWindow``: the most one fetch may return under the
        consumer's quota (``quota * (num - 1) * window``), or None without one."""
        if not self.enabled:
            return None
        found = self._lookup(ctx, CONSUMER_BYTE_RATE)
        if found is None:
            return None
        return max(int(found[1] * (self.samples - 1) * self.window_ms / 1000), 1)

    async def answer(self, ctx: RequestContext, request: Any, response: Any, request_size: int) -> list[Chunk]:
        """The encoded response of a produce or fetch with its quota applied, and the
        connection muted for the throttle time (ClientQuotaManager.throttle); before
        KIP-219 (Produce v0-5, Fetch v0-7) the response itself waits that long instead."""
        header = ctx.header
        api = header.request_api_key
        if api == ApiKey.PRODUCE:
            throttle = self.record(ctx, api, request_size)
            chunks = None
        else:
            replica_id = request.replica_state.replica_id if ctx.version >= 15 else request.replica_id
            if replica_id >= 0:
                return encode_response(header, response)
            chunks = encode_response(header, response)
            size = chunks_length(chunks)
            throttle = self.record(ctx, api, size)
            if throttle > 0:
                self.unrecord(ctx, api, size)
                # FetchContext.getThrottledResponse: no data; a full fetch's session id is not given
                incremental = ctx.version >= 7 and request.session_epoch > 0
                response = type(response)(error_code=0, session_id=response.session_id if incremental else 0,
                                          responses=[])
                chunks = None
        if throttle > 0:
            response.throttle_time_ms = max(response.throttle_time_ms or 0, throttle)
            if ctx.version < _CLIENT_THROTTLES_SINCE[api]:
                await trio.sleep(throttle / 1000)
            else:
                mute(ctx.conn, throttle)
            chunks = None
        return encode_response(header, response) if chunks is None else chunks

    def answer_none(self, ctx: RequestContext, request_size: int) -> None:
        """An acks=0 produce: recorded, and the channel muted when over the quota."""
        throttle = self.record(ctx, ApiKey.PRODUCE, request_size)
        if throttle > 0:
            mute(ctx.conn, throttle)


def mute(conn: Any, throttle_ms: int) -> None:
    """Hold ``conn``'s next request for ``throttle_ms`` (Kafka's ``ThrottledChannel``): the
    server reads nothing more from it until then (``ConnectionContext.muted_until``)."""
    until = trio.current_time() + throttle_ms / 1000
    try:
        conn.muted_until = max(until, getattr(conn, "muted_until", 0.0))
    except AttributeError:  # a connection object without the seam: not muted
        pass


async def wait_unmuted(conn: Any) -> None:
    """Sleep until the connection's throttle ends: a request read before it was muted
    (pipelined behind the throttled one) waits too."""
    await trio.sleep_until(conn.muted_until)


# --- controller mutations (KIP-599) ----------------------------------------------------


class TokenBucket:
    """Kafka's ``TokenBucket`` stat: ``quota`` tokens a second, at most ``burst``; starts full."""

    __slots__ = ("burst", "last_ms", "quota", "tokens")

    def __init__(self, quota: float, burst: float, now_ms: int) -> None:
        self.quota, self.burst, self.tokens, self.last_ms = quota, burst, burst, now_ms

    def refill(self, now_ms: int) -> float:
        self.tokens = min(self.burst, self.tokens + self.quota * (now_ms - self.last_ms) / 1000)
        self.last_ms = max(now_ms, self.last_ms)
        return self.tokens


class MutationQuota:
    """One request's controller mutation quota (Kafka's ``StrictControllerMutationQuota``
    from CreateTopics v6, CreatePartitions v3 and DeleteTopics v5; before those,
    ``PermissiveControllerMutationQuota``: everything passes and only the throttle time
    is answered)."""

    __slots__ = ("_bucket", "_clock_ms", "strict", "throttle_ms")

    def __init__(self, bucket: TokenBucket, clock_ms: Any, strict: bool) -> None:
        self._bucket = bucket
        self._clock_ms = clock_ms
        self.strict = strict
        self.throttle_ms = 0

    def admit(self, partitions: int) -> bool:
        """Record ``partitions`` mutations; False (strict only) when the bucket was already
        in debt: that topic answers THROTTLING_QUOTA_EXCEEDED. A request may overdraw."""
        bucket = self._bucket
        tokens = bucket.refill(self._clock_ms())
        if self.strict and tokens < 0:
            self.throttle_ms = round(-tokens / bucket.quota * 1000)
            return False
        bucket.tokens -= partitions
        if not self.strict and bucket.tokens < 0:
            self.throttle_ms = round(-bucket.tokens / bucket.quota * 1000)
        return True


class ControllerMutationQuotas:
    """``controller_mutation_rate`` per (user, client-id), as Kafka's
    ``ControllerMutationQuotaManager``: partitions created or deleted per second, a token
    bucket with a burst of ``controller.quota.window.num`` x ``controller.quota.window.size.seconds``
    seconds of quota. Counted on the active controller: for a client connected to it,
    and for a request a broker forwarded in an Envelope (KIP-590), under the principal
    and client id the envelope carries, so that a client's rate is one whichever
    brokers it reaches. Other requests on the controller listener (a node's own) are
    not counted. The forwarding broker's channel is never muted; the broker mutes its
    client's channel for the throttle time in the answer (``controller_channel``).
    """

    def __init__(self, broker: Any, config: BrokerConfig) -> None:
        self._broker = broker
        self._window_s = config.controller_quota_window_num * config.controller_quota_window_size_seconds
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._controller_listeners = frozenset(config.controller_listeners)

    def for_request(self, ctx: RequestContext, strict: bool) -> MutationQuota | None:
        """The request's quota, or None when none applies to its user and client id."""
        quotas = self._broker.metadata.image.client_quotas
        if not quotas or (getattr(ctx.conn, "listener_name", None) in self._controller_listeners
                          and not getattr(ctx.conn, "forwarded", False)):
            return None
        found = quota_for(quotas, CONTROLLER_MUTATION_RATE, principal_of(ctx.conn).name, ctx.header.client_id or "")
        if found is None:
            return None
        tags, quota = found
        now_ms = self._broker.clock_ms()
        bucket = self._buckets.get(tags)
        if bucket is None or bucket.quota != quota:
            if bucket is None or len(self._buckets) > 10_000:
                self._buckets = {t: b for t, b in self._buckets.items() if b.refill(now_ms) < b.burst}
            old = bucket
            bucket = self._buckets[tags] = TokenBucket(quota, quota * self._window_s, now_ms)
            if old is not None:
                bucket.tokens = min(old.refill(now_ms), bucket.burst)
        return MutationQuota(bucket, self._broker.clock_ms, strict)

    @staticmethod
    def finish(ctx: RequestContext, quota: MutationQuota | None, response: Any) -> Any:
        """``response`` with the quota's throttle time, the channel muted for it (not a
        forwarding broker's: that broker mutes its client's)."""
        if quota is not None and quota.throttle_ms > 0:
            response.throttle_time_ms = max(response.throttle_time_ms or 0, quota.throttle_ms)
            if not getattr(ctx.conn, "forwarded", False):
                mute(ctx.conn, quota.throttle_ms)
        return response


# --- request time (request_percentage) -------------------------------------------------

#: APIs never throttled by request time: the SASL exchange, ApiVersions and what nodes
#: send each other (Kafka exempts cluster actions and answers these before quotas apply).
_EXEMPT_APIS = frozenset({
    ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE, ApiKey.ENVELOPE,
    ApiKey.BROKER_REGISTRATION, ApiKey.BROKER_HEARTBEAT, ApiKey.ALLOCATE_PRODUCER_IDS, ApiKey.ALTER_PARTITION,
    ApiKey.VOTE, ApiKey.BEGIN_QUORUM_EPOCH, ApiKey.END_QUORUM_EPOCH, ApiKey.FETCH_SNAPSHOT,
    ApiKey.WRITE_TXN_MARKERS, ApiKey.UNREGISTER_BROKER, ApiKey.ASSIGN_REPLICAS_TO_DIRS,
})


class _TaskClock(trio.abc.Instrument):
    """How long each tracked trio task has waited (not run) since it was tracked: a
    request's handler time is its wall time less that, as Kafka counts the time a
    request holds a handler thread and not its time in purgatory."""

    def __init__(self) -> None:
        self.waited: dict[Any, float] = {}
        self._paused_at: dict[Any, float] = {}

    def after_task_step(self, task: Any) -> None:
        if task in self.waited:
            self._paused_at[task] = time.perf_counter()

    def before_task_step(self, task: Any) -> None:
        paused = self._paused_at.pop(task, None)
        if paused is not None and task in self.waited:
            self.waited[task] += time.perf_counter() - paused

    def start(self, task: Any) -> None:
        if len(self.waited) > 4096:  # tasks whose request ended in an exception, since gone
            for gone in [t for t in self.waited if t.coro.cr_frame is None]:
                self.stop(gone)
        self.waited[task] = 0.0

    def stop(self, task: Any) -> float:
        self._paused_at.pop(task, None)
        return self.waited.pop(task, 0.0)


class RequestQuotas:
    """``request_percentage`` per (user, client-id), as Kafka's ``ClientRequestQuotaManager``:
    the time requests hold the broker, as a percentage of one thread over the quota
    windows, with KIP-55's precedence. Over the quota, the response carries a
    ``throttle_time_ms`` of at most one window (``boundedThrottleTime``) and the channel is
    muted for it. Measured only while some request_percentage is set: a trio instrument
    then tracks the waits of the tasks handling requests.
    """

    def __init__(self, broker: Any, bytes_quotas: ClientQuotas) -> None:
        self._broker = broker
        self._bytes = bytes_quotas
        self._clock: _TaskClock | None = None
        self._checked: Any = None
        self._active = False

    def begin(self, ctx: RequestContext) -> tuple[Any, float] | None:
        """Start timing the request; None when no request quota can apply to it."""
        quotas = self._broker.metadata.image.client_quotas
        if quotas is not self._checked:
            self._checked = quotas
            self._active = any(REQUEST_PERCENTAGE in keys for keys in quotas.values())
            if self._active and self._clock is None:
                self._clock = _TaskClock()
                trio.lowlevel.add_instrument(self._clock)
            elif not self._active and self._clock is not None:
                trio.lowlevel.remove_instrument(self._clock)
                self._clock = None
        if not self._active or ctx.header.request_api_key in _EXEMPT_APIS:
            return None
        if self._bytes._lookup(ctx, REQUEST_PERCENTAGE) is None:
            return None
        task = trio.lowlevel.current_task()
        self._clock.start(task)  # type: ignore[union-attr]
        return task, time.perf_counter()

    def end(self, ctx: RequestContext, token: tuple[Any, float], response: Any) -> int:
        """Record the request's time; its throttle ms, set on ``response`` with the channel muted."""
        task, started = token
        clock = self._clock
        waited = clock.stop(task) if clock is not None else 0.0
        found = self._bytes._lookup(ctx, REQUEST_PERCENTAGE)
        if found is None:
            return 0
        tags, bound = found
        now_ms = self._broker.clock_ms()
        sensor = self._bytes._sensor(REQUEST_PERCENTAGE, tags, now_ms)
        sensor.record(max(time.perf_counter() - started - waited, 0.0) * 100, now_ms)
        throttle = min(sensor.throttle_ms(bound, now_ms), self._bytes.window_ms)
        if throttle > 0:
            if response is not None and hasattr(response, "throttle_time_ms"):
                response.throttle_time_ms = max(response.throttle_time_ms or 0, throttle)
            mute(ctx.conn, throttle)
        return throttle
