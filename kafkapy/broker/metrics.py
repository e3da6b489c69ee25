"""The broker's metrics, counted on the hot path with plain integer adds.

Kafka keeps Yammer meters and histograms (``BrokerTopicStats``, ``RequestChannel.Metrics``)
and publishes them over JMX; people read them through the Prometheus JMX exporter. Here
the counters live on :class:`BrokerMetrics` (``broker.metrics``), always on as in Kafka,
and :mod:`kafkapy.broker.metrics_families` turns them, with gauges computed from the
replica manager, the metadata image and the group coordinator at scrape time, into the
names the exporter's rules give them. Nothing here imports ``prometheus_client``.

What the handlers count, as Kafka does:

- Produce (``ReplicaManager.appendToLocalLog``): per partition a produce request
  (TotalProduceRequestsPerSec); bytes and messages in only for appended batches; bytes
  rejected for a batch over ``max.message.bytes`` (``UnifiedLog.analyzeAndValidateRecords``);
  a failed produce for errors other than the expected ones Kafka leaves out
  (``handleProduceAppendException``: unknown topic, not leader, too large, corrupt, storage).
- Fetch (``KafkaApis.handleFetchRequest`` / ``ReplicaManager.readFromLog``): bytes out per
  topic for consumers, replication bytes out for followers; a failed fetch for errors
  other than the expected ones (unknown topic, not leader, fencing, offset out of range).
- Every request (``RequestChannel.Request.updateRequestMetrics``): a count per API and
  version, an error count per error code found in the response (``AbstractResponse.errorCounts``,
  NONE included), and the time from the frame's arrival at the dispatcher to its encoded
  response (TotalTimeMs; the send is not included). Fetches are also timed as
  ``FetchConsumer`` or ``FetchFollower``.
"""

from __future__ import annotations

import time
from collections.abc import Container
from typing import Any

from kafkapy.wire.apis import ApiKey, api_info
from kafkapy.wire.error_codes import ErrorCode

#: Indexes into a topic's counters (one small list per topic).
MESSAGES_IN, BYTES_IN, BYTES_OUT, BYTES_REJECTED, FAILED_PRODUCE, FAILED_FETCH, TOTAL_PRODUCE, TOTAL_FETCH = range(8)
TOPIC_COUNTERS = ("messagesin", "bytesin", "bytesout", "bytesrejected", "failedproducerequests",
                  "failedfetchrequests", "totalproducerequests", "totalfetchrequests")

#: Produce errors Kafka answers without marking FailedProduceRequestsPerSec.
_EXPECTED_PRODUCE_ERRORS = frozenset({
    ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_LEADER_OR_FOLLOWER,
    ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.CORRUPT_MESSAGE,
    ErrorCode.KAFKA_STORAGE_ERROR, ErrorCode.UNKNOWN_TOPIC_ID, ErrorCode.INVALID_REQUIRED_ACKS,
    ErrorCode.TOPIC_AUTHORIZATION_FAILED,
})
#: Errors naming a topic the broker does not have: no per-topic series is made for it
#: (a client could otherwise make one per name it tries).
_NO_SUCH_TOPIC = frozenset({ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_ID})
#: Batches over the size limits: their bytes count as rejected (BytesRejectedPerSec).
_REJECTED_BYTES_ERRORS = frozenset({ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE})
#: Fetch errors Kafka answers without marking FailedFetchRequestsPerSec (``readFromLog``).
_EXPECTED_FETCH_ERRORS = frozenset({
    ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_LEADER_OR_FOLLOWER,
    ErrorCode.UNKNOWN_LEADER_EPOCH, ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.REPLICA_NOT_AVAILABLE,
    ErrorCode.KAFKA_STORAGE_ERROR, ErrorCode.OFFSET_OUT_OF_RANGE, ErrorCode.INCONSISTENT_TOPIC_ID,
    ErrorCode.UNKNOWN_TOPIC_ID, ErrorCode.TOPIC_AUTHORIZATION_FAILED,
})

#: How long one window of request times lasts; quantiles cover the current and the last
#: window (Kafka's histograms decay over about five minutes).
TIME_WINDOW_S = 60.0
#: Request times go in buckets by the bit length of their microseconds: bucket i holds
#: [2**(i-1), 2**i) µs, so 40 buckets reach past 6 days.
_BUCKETS = 41
#: The quantiles the JMX exporter's rules emit for a Yammer histogram (50thPercentile...).
QUANTILES = (("0.50", 0.50), ("0.75", 0.75), ("0.95", 0.95), ("0.98", 0.98), ("0.99", 0.99), ("0.999", 0.999))


class RequestTimes:
    """One request type's TotalTimeMs: count, sum and windowed buckets for quantiles."""

    __slots__ = ("count", "sum_s", "current", "previous", "rotate_at")

    def __init__(self, now: float) -> None:
        self.count = 0
        self.sum_s = 0.0
        self.current = [0] * _BUCKETS
        self.previous = [0] * _BUCKETS
        self.rotate_at = now + TIME_WINDOW_S

    def record(self, elapsed_s: float, now: float) -> None:
        if now >= self.rotate_at:
            self.rotate(now)
        self.count += 1
        self.sum_s += elapsed_s
        bucket = int(elapsed_s * 1_000_000).bit_length()
        self.current[bucket if bucket < _BUCKETS else _BUCKETS - 1] += 1

    def rotate(self, now: float) -> None:
        """Start a new window; a window older than the last one is dropped."""
        stale = now >= self.rotate_at + TIME_WINDOW_S
        self.previous = [0] * _BUCKETS if stale else self.current
        self.current = [0] * _BUCKETS
        self.rotate_at = now + TIME_WINDOW_S

    def quantiles_ms(self, now: float) -> list[tuple[str, float]]:
        """Each quantile of the recent times in ms, interpolated within its bucket; 0
        when nothing was timed recently (as an idle Yammer histogram reports)."""
        if now >= self.rotate_at:
            self.rotate(now)
        counts = [a + b for a, b in zip(self.current, self.previous)]
        total = sum(counts)
        out = []
        for label, q in QUANTILES:
            if total == 0:
                out.append((label, 0.0))
                continue
            rank = q * total
            seen = 0
            for i, n in enumerate(counts):
                if n and seen + n >= rank:
                    low = 0 if i == 0 else 2 ** (i - 1)
                    high = 2 ** i
                    out.append((label, (low + (high - low) * (rank - seen) / n) / 1000.0))
                    break
                seen += n
        return out


class RequestStats:
    """One API's counters: requests by version, errors by code."""

    __slots__ = ("name", "by_version", "errors")

    def __init__(self, name: str) -> None:
        self.name = name
        self.by_version: dict[int, int] = {}
        self.errors: dict[int, int] = {}


class BrokerMetrics:
    """The counters the hot path adds to. Task-safety: the trio thread only.

    Attributes:
        topics: topic -> its counters (indexed by ``MESSAGES_IN`` ...); the all-topics
            series Kafka also keeps are the sums, taken at scrape time, with ``retired``.
        requests: API key -> its :class:`RequestStats`.
        times: request name (Kafka's ``request`` label) -> its :class:`RequestTimes`.
        replication_bytes_out: bytes sent to followers (ReplicationBytesOutPerSec).
    """

    def __init__(self) -> None:
        self.topics: dict[str, list[int]] = {}
        #: the counters of deleted topics, kept in the all-topics sums
        self.retired = [0] * len(TOPIC_COUNTERS)
        self.requests: dict[int, RequestStats] = {}
        self.times: dict[str, RequestTimes] = {}
        self.replication_bytes_out = 0
        #: Where /metrics is served, once bound: (host, port); None without an endpoint.
        self.endpoint: tuple[str, int] | None = None

    def topic(self, name: str) -> list[int]:
        counters = self.topics.get(name)
        if counters is None:
            counters = self.topics[name] = [0] * len(TOPIC_COUNTERS)
        return counters

    # --- the hot path ---------------------------------------------------------------------

    def on_request(self, api_key: int, version: int, request: Any, response: Any, started: float) -> None:
        """One request answered (or, for acks=0, handled): its count, errors and time."""
        now = time.perf_counter()
        stats = self.requests.get(api_key)
        if stats is None:
            info = api_info(api_key)
            stats = self.requests[api_key] = RequestStats(info.name if info is not None else str(api_key))
        stats.by_version[version] = stats.by_version.get(version, 0) + 1
        if response is not None:
            count_errors(response, stats.errors)
        elapsed = now - started
        self._time(stats.name, elapsed, now)
        if api_key == ApiKey.FETCH:
            replica_id = request.replica_state.replica_id if version >= 15 else request.replica_id
            self._time("FetchFollower" if replica_id >= 0 else "FetchConsumer", elapsed, now)

    def retire_topics(self, live: Container[str]) -> None:
        """Drop the series of topics no longer in ``live`` (Kafka's
        ``BrokerTopicStats.removeMetrics`` on deletion); the all-topics sums keep their counts."""
        for name in [t for t in self.topics if t not in live]:
            for i, value in enumerate(self.topics.pop(name)):
                self.retired[i] += value

    def _time(self, name: str, elapsed: float, now: float) -> None:
        times = self.times.get(name)
        if times is None:
            times = self.times[name] = RequestTimes(now)
        times.record(elapsed, now)

    def on_produce(self, topic: str | None, size: int, error: int, messages: int) -> None:
        """One partition of a produce request: ``messages`` appended, or ``error``."""
        if topic is None or error in _NO_SUCH_TOPIC:
            return
        counters = self.topic(topic)
        counters[TOTAL_PRODUCE] += 1
        if error == 0:
            counters[BYTES_IN] += size
            counters[MESSAGES_IN] += messages
        elif error in _REJECTED_BYTES_ERRORS:
            counters[BYTES_REJECTED] += size
        elif error not in _EXPECTED_PRODUCE_ERRORS:
            counters[FAILED_PRODUCE] += 1

    def on_fetch(self, topic: str, size: int, error: int, follower: bool) -> None:
        """One partition of a fetch answer: ``size`` record bytes sent, or ``error``."""
        if error in _NO_SUCH_TOPIC:
            return
        counters = self.topic(topic)
        counters[TOTAL_FETCH] += 1
        if follower:
            self.replication_bytes_out += size
        else:
            counters[BYTES_OUT] += size
        if error and error not in _EXPECTED_FETCH_ERRORS:
            counters[FAILED_FETCH] += 1


# --- error counts of a response (AbstractResponse.errorCounts) ---------------------------

#: response struct class -> (whether it has error_code, the slots holding nested structs)
_PLANS: dict[type, tuple[bool, tuple[str, ...]]] = {}


def _plan(cls: type) -> tuple[bool, tuple[str, ...]]:
    """Which fields of a generated struct class hold structs: their annotations name a
    nested class (``list[ProduceResponse.TopicProduceResponse]``), plain fields do not."""
    annotations = getattr(cls.__init__, "__annotations__", {})
    slots = getattr(cls, "__slots__", ())
    nested = tuple(name for name in slots if "." in str(annotations.get(name, "")))
    plan = _PLANS[cls] = ("error_code" in slots, nested)
    return plan


def count_errors(message: Any, counts: dict[int, int]) -> None:
    """Add every ``error_code`` of ``message`` and its nested structs to ``counts``."""
    plan = _PLANS.get(type(message)) or _plan(type(message))
    if plan[0]:
        code = message.error_code
        counts[code] = counts.get(code, 0) + 1
    for name in plan[1]:
        value = getattr(message, name, None)
        if value is None:
            continue
        if isinstance(value, list):
            for item in value:
                count_errors(item, counts)
        else:
            count_errors(value, counts)
