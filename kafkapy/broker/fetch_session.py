"""Fetch sessions (KIP-227): the broker's cache of incremental fetch sessions.

Theory of operation (Kafka's ``FetchSession.scala``: ``FetchManager``,
``FetchSessionCache``, ``CachedPartition``, the ``FetchContext`` classes):

* A full fetch (session epoch 0, ``INITIAL_EPOCH``) names every partition. The broker
  answers it in full and, when the cache has room (or can evict a less valuable
  session), creates a session: a random positive int32 id, the partitions with the
  request parameters and the offsets the answer carried, and the epoch the next
  request must carry (1). A full fetch naming a session id closes that session first;
  one with ``FINAL_EPOCH`` (-1, also what Fetch v4-v6 imply) creates none.
* An incremental fetch (session id, epoch >= 1) names only the partitions whose
  parameters changed, and ``forgotten_topics_data`` those to drop. Unknown id:
  FETCH_SESSION_ID_NOT_FOUND; wrong epoch: INVALID_FETCH_SESSION_EPOCH; a request
  version on the other side of v13 from the session's (topic ids or names):
  FETCH_SESSION_TOPIC_ID_ERROR. Otherwise the session takes the changes, moves to the
  next epoch (wrapping past int32 max to 1) and, if no partition is left, closes.
* The answer to an incremental fetch holds a partition only if it has records, an
  error, a diverging epoch, a preferred read replica, or a high watermark, last stable
  offset or log start offset other than the session's last answer carried
  (``CachedPartition.maybeUpdateResponseData``; Kafka compares the high watermark and
  the log start offset only, the last stable offset is compared here too). A
  partition that returned records moves to the end of the session's order, so the
  others get the response bytes first next time.

Idle partitions cost nothing (where Kafka reads every session partition on every
fetch). When the replica manager reports partition changes (``tracks_changes``: an
append, a high-watermark, last-stable or log-start move, a leadership change or a
removal calls :meth:`FetchSessionCache.partition_changed`), each session keeps the
set of its partitions that may have something to say (``dirty``): those changed
since, those the client's request named, and those that still have something
pending after the last answer (an error, records beyond what fitted, offsets that
moved while it was read). An incremental fetch reads only those. Without such
reports every session partition is read on every fetch, as Kafka does.

Cache limits (``max.incremental.fetch.session.cache.slots``, default 1000) are Kafka's:
the cache is split into 8 shards (``KafkaBroker.NumFetchSessionCacheShards``) with an
equal share of the slots each, a new session goes to the next shard in turn, and its
id falls in that shard's range. When a shard is full a new session may evict, within
the shard, the least recently used session if unused for 120 s
(``MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS``), else the least valuable evictable one
(ordered by privileged, then size, then id) if the new one is worth at least as much.
Follower sessions are privileged; a session younger than 120 s can be evicted only by
a privileged newcomer, and a privileged one not at all.

The fetcher's side is :class:`FetchSessionHandler` (Kafka's client class of that name):
what a follower's next Fetch must carry, and how it takes the answer.

Plain Python, no I/O and no clock: times are passed in. Not task-safe: called on the
broker's trio thread only.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.fetch import FetchRequest

#: FetchMetadata.INVALID_SESSION_ID: no session.
INVALID_SESSION_ID = 0
#: FetchMetadata.INITIAL_EPOCH: a full fetch that asks for a new session.
INITIAL_EPOCH = 0
#: FetchMetadata.FINAL_EPOCH: a full fetch that wants no session (closes one named).
FINAL_EPOCH = -1
#: KafkaBroker.NumFetchSessionCacheShards.
NUM_CACHE_SHARDS = 8
#: KafkaServer.MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS: how long a session must be
#: unused to be evictable by anyone, and how old it must be to be evictable at all by a
#: non-privileged newcomer.
MIN_EVICTION_MS = 120_000
_INT32_MAX = 2**31 - 1

#: A session partition's identity: (topic id, partition) in sessions of Fetch v13+,
#: (topic name, partition) before (``CachedPartition.equals``).
PartitionKey = tuple[bytes | str, int]


def next_epoch(epoch: int) -> int:
    """The epoch after ``epoch`` (``FetchMetadata.nextEpoch``): FINAL stays FINAL,
    int32 max wraps to 1 (0 would mean a new session)."""
    if epoch < 0:
        return FINAL_EPOCH
    if epoch == _INT32_MAX:
        return 1
    return epoch + 1


class PartitionResponse(Protocol):
    """What the session reads of a partition's answer (``FetchResponse.PartitionData``)."""

    error_code: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    preferred_read_replica: int
    diverging_epoch: Any


class RequestedPartition(NamedTuple):
    """One partition of a Fetch request, resolved by the handler.

    ``topic`` is None for a topic id this broker does not know (UNKNOWN_TOPIC_ID); the
    session keeps the partition and resolves the name once the topic appears.
    ``params`` is the request's ``FetchPartition`` (offset, limits, epochs).
    """

    key: PartitionKey
    topic: str | None
    topic_id: bytes
    partition: int
    params: FetchRequest.FetchPartition


class CachedPartition:
    """One partition of a session (Kafka's ``CachedPartition``).

    ``params`` are the latest request parameters; ``high_watermark``,
    ``last_stable_offset`` and ``log_start_offset`` what the last answer carried (-1
    before any, and the high watermark -1 after an error, so the partition is sent
    again once the error clears). ``order`` is its place in the session's fetch order.
    """

    __slots__ = ("high_watermark", "key", "last_stable_offset", "log_start_offset", "order", "params",
                 "partition", "topic", "topic_id")

    def __init__(self, requested: RequestedPartition, order: int) -> None:
        self.key = requested.key
        self.topic = requested.topic
        self.topic_id = requested.topic_id
        self.partition = requested.partition
        self.params = requested.params
        self.high_watermark = -1
        self.last_stable_offset = -1
        self.log_start_offset = -1
        self.order = order

    def maybe_update_response_data(self, response: PartitionResponse, records_size: int, *,
                                   update: bool = True) -> bool:
        """Whether an incremental answer must hold this partition; with ``update``, remember
        what the answer carries (``CachedPartition.maybeUpdateResponseData``)."""
        must_respond = records_size > 0 or response.preferred_read_replica >= 0
        if self.high_watermark != response.high_watermark:
            must_respond = True
            if update:
                self.high_watermark = response.high_watermark
        if self.last_stable_offset != response.last_stable_offset:
            must_respond = True
            if update:
                self.last_stable_offset = response.last_stable_offset
        if self.log_start_offset != response.log_start_offset:
            must_respond = True
            if update:
                self.log_start_offset = response.log_start_offset
        if response.error_code != ErrorCode.NONE:
            must_respond = True
            if update:
                self.high_watermark = -1
        if _is_diverging(response):
            must_respond = True
        return must_respond

    def __repr__(self) -> str:
        return (f"CachedPartition({self.topic or self.topic_id.hex()}-{self.partition}, "
                f"fetch_offset={self.params.fetch_offset}, hw={self.high_watermark})")


def _is_diverging(response: PartitionResponse) -> bool:
    epoch = response.diverging_epoch
    return epoch is not None and (epoch.epoch != -1 or epoch.end_offset != -1)


def _sticky(response: PartitionResponse) -> bool:
    """An answer every following fetch must repeat until it changes (Kafka always sends these)."""
    return (response.error_code != ErrorCode.NONE or response.preferred_read_replica >= 0
            or _is_diverging(response))


class FetchSession:
    """One incremental fetch session (Kafka's ``FetchSession``).

    Attributes:
        id: the session id, unique on this broker.
        privileged: created by a follower (harder to evict).
        uses_topic_ids: created by Fetch v13+ (partitions keyed by topic id).
        epoch: the epoch the next incremental request must carry.
        partitions: the session's partitions in fetch order.
        dirty: keys of the partitions that may have something to say (only kept when
            the cache ``tracks_changes``).
        unresolved: keys of partitions whose topic id was unknown when added.

    Invariants: ``dirty`` and ``unresolved`` are subsets of ``partitions``' keys; every
    ``order`` is unique and grows with the place in fetch order.
    """

    __slots__ = ("_next_order", "cached_size", "creation_ms", "dirty", "epoch", "evictable_by_all",
                 "evictable_by_privileged", "id", "last_used_ms", "partitions", "privileged", "shard",
                 "tracks_changes", "unresolved", "uses_topic_ids")

    def __init__(self, session_id: int, privileged: bool, uses_topic_ids: bool, now_ms: int,
                 shard: FetchSessionCacheShard, tracks_changes: bool) -> None:
        self.id = session_id
        self.privileged = privileged
        self.uses_topic_ids = uses_topic_ids
        self.creation_ms = now_ms
        self.last_used_ms = now_ms
        self.epoch = next_epoch(INITIAL_EPOCH)
        self.partitions: dict[PartitionKey, CachedPartition] = {}
        self.dirty: set[PartitionKey] = set()
        self.unresolved: set[PartitionKey] = set()
        self.shard = shard
        self.tracks_changes = tracks_changes
        #: the size when last touched; -1 while not in the cache (``cachedSize``)
        self.cached_size = -1
        self.evictable_by_all = False
        self.evictable_by_privileged = False
        self._next_order = 0

    def __len__(self) -> int:
        return len(self.partitions)

    @property
    def evictable_key(self) -> tuple[bool, int, int]:
        """Kafka's ``EvictableKey``: the lowest is evicted first."""
        return (self.privileged, self.cached_size, self.id)

    def _order(self) -> int:
        self._next_order += 1
        return self._next_order

    def _add(self, requested: RequestedPartition) -> CachedPartition:
        cached = self.partitions[requested.key] = CachedPartition(requested, self._order())
        if cached.topic is None:
            self.unresolved.add(cached.key)
        else:
            self.shard.cache._index(self, cached)
        return cached

    def _remove(self, key: PartitionKey) -> bool:
        cached = self.partitions.pop(key, None)
        if cached is None:
            return False
        self.dirty.discard(key)
        self.unresolved.discard(key)
        if cached.topic is not None:
            self.shard.cache._unindex(self, cached)
        return True

    def update(self, requested: Iterable[RequestedPartition],
               forgotten: Iterable[PartitionKey]) -> tuple[int, int, int]:
        """Take an incremental request's changes (``FetchSession.update``).

        Returns:
            The numbers of partitions added, updated and removed.
        """
        added = updated = removed = 0
        for r in requested:
            cached = self.partitions.get(r.key)
            if cached is None:
                cached = self._add(r)
                added += 1
            else:
                cached.params = r.params
                updated += 1
            if self.tracks_changes:
                self.dirty.add(r.key)
        for key in forgotten:
            removed += self._remove(key)
        return added, updated, removed

    def maybe_resolve_unknown_names(self, name_of: Callable[[bytes], str | None]) -> None:
        """Name the partitions whose topic id has since become known (``maybeResolveUnknownName``)."""
        if not self.unresolved:
            return
        for key in list(self.unresolved):
            cached = self.partitions[key]
            name = name_of(cached.topic_id)
            if name is not None:
                cached.topic = name
                self.unresolved.discard(key)
                self.shard.cache._index(self, cached)

    def candidates(self) -> list[CachedPartition]:
        """The partitions an incremental fetch must read, in fetch order: the dirty ones
        when changes are tracked, else all of them."""
        if not self.tracks_changes:
            return list(self.partitions.values())
        partitions = self.partitions
        found = [partitions[key] for key in self.dirty]
        found.sort(key=lambda c: c.order)
        return found

    def settle(self, cached: CachedPartition, response: PartitionResponse, records_size: int,
               pending: bool) -> bool:
        """Record one partition's answer to an incremental fetch.

        Args:
            cached: the partition, one of :meth:`candidates`.
            response: its answer as read.
            records_size: the record bytes the answer holds.
            pending: the handler saw more to tell than the answer holds: records past
                what was read, or offsets that moved while it was read.

        Returns:
            True if the answer must hold the partition.
        """
        must_respond = cached.maybe_update_response_data(response, records_size)
        if records_size > 0 and self.partitions.get(cached.key) is cached:
            # Partitions with records go last next time (Kafka re-adds them at the end).
            del self.partitions[cached.key]
            self.partitions[cached.key] = cached
            cached.order = self._order()
        if self.tracks_changes:
            if pending or _sticky(response):
                if cached.key in self.partitions:
                    self.dirty.add(cached.key)
            else:
                self.dirty.discard(cached.key)
        return must_respond

    def __repr__(self) -> str:
        return (f"FetchSession(id={self.id}, privileged={self.privileged}, partitions={len(self.partitions)}, "
                f"uses_topic_ids={self.uses_topic_ids}, epoch={self.epoch}, last_used_ms={self.last_used_ms})")


class FetchSessionCacheShard:
    """One shard of the cache (Kafka's ``FetchSessionCacheShard``): its sessions, its
    share of the slots and its range of session ids.

    Eviction scans the shard's sessions (at most its share of the slots), and only when
    the shard is full and a new session is asked for.
    """

    def __init__(self, cache: FetchSessionCache, max_entries: int, eviction_ms: int,
                 session_id_range: int, shard_num: int) -> None:
        self.cache = cache
        self.max_entries = max_entries
        self.eviction_ms = eviction_ms
        self.session_id_range = session_id_range
        self.shard_num = shard_num
        self.sessions: dict[int, FetchSession] = {}
        self.evictions = 0

    def __len__(self) -> int:
        return len(self.sessions)

    def get(self, session_id: int) -> FetchSession | None:
        return self.sessions.get(session_id)

    def new_session_id(self) -> int:
        """A random id in this shard's range, positive and unused (``newSessionId``)."""
        low = max(1, self.shard_num * self.session_id_range)
        high = (self.shard_num + 1) * self.session_id_range
        while True:
            session_id = self.cache.rng.randrange(low, high)
            if session_id not in self.sessions and session_id != INVALID_SESSION_ID:
                return session_id

    def maybe_create_session(self, now_ms: int, privileged: bool, size: int,
                             uses_topic_ids: bool) -> FetchSession | None:
        """A new, empty session when there is room or an eviction makes some
        (``maybeCreateSession``); the caller adds its partitions, then :meth:`touch`."""
        if len(self.sessions) < self.max_entries or self._try_evict(privileged, (privileged, size, 0), now_ms):
            session = FetchSession(self.new_session_id(), privileged, uses_topic_ids, now_ms, self,
                                   self.cache.tracks_changes)
            self.sessions[session.id] = session
            return session
        return None

    def _try_evict(self, privileged: bool, key: tuple[bool, int, int], now_ms: int) -> bool:
        """Evict a stale session, else a less valuable evictable one (``tryEvict``).

        A newcomer A may evict B if B has been unused for longer than ``eviction_ms``, or
        if B is evictable by A (B is not privileged and older than ``eviction_ms``, or A
        is privileged and B is not, or B is older than ``eviction_ms``) and A's key
        (privileged, size) is at least B's.
        """
        if not self.sessions:
            return False
        oldest = min(self.sessions.values(), key=lambda s: (s.last_used_ms, s.id))
        if now_ms - oldest.last_used_ms > self.eviction_ms:
            self.remove(oldest)
            self.evictions += 1
            return True
        evictable = [s for s in self.sessions.values()
                     if (s.evictable_by_privileged if privileged else s.evictable_by_all)]
        if not evictable:
            return False
        victim = min(evictable, key=lambda s: s.evictable_key)
        if key < victim.evictable_key:
            return False
        self.remove(victim)
        self.evictions += 1
        return True

    def remove(self, session: FetchSession) -> bool:
        """Drop ``session`` from the cache; False if it was not there."""
        if self.sessions.get(session.id) is not session:
            return False
        del self.sessions[session.id]
        self.cache._forget(session)
        session.cached_size = -1
        return True

    def touch(self, session: FetchSession, now_ms: int) -> None:
        """Mark ``session`` used now; refresh its size and evictability (``touch``).

        Evictability is decided here, as Kafka does: by anyone once older than
        ``eviction_ms``, by a privileged newcomer also while younger if not privileged.
        """
        session.last_used_ms = now_ms
        session.cached_size = len(session.partitions)
        old = now_ms - session.creation_ms > self.eviction_ms
        session.evictable_by_privileged = (not session.privileged) or old
        session.evictable_by_all = old


class FetchContext:
    """How one Fetch request is answered (Kafka's ``FetchContext``)."""

    __slots__ = ()


class SessionErrorContext(FetchContext):
    """A session error: answered with ``error_code``, session id 0 and no partitions."""

    __slots__ = ("error_code",)

    def __init__(self, error_code: ErrorCode) -> None:
        self.error_code = error_code


class SessionlessContext(FetchContext):
    """A full fetch without a session (FINAL_EPOCH, or a session that just emptied):
    read and answer the request's partitions, session id 0."""

    __slots__ = ("partitions",)

    def __init__(self, partitions: list[RequestedPartition]) -> None:
        self.partitions = partitions


class FullContext(FetchContext):
    """A full fetch that asks for a session: answer every partition, then
    :meth:`FetchSessionCache.maybe_create_session` gives the id to answer with."""

    __slots__ = ("partitions", "privileged", "uses_topic_ids")

    def __init__(self, partitions: list[RequestedPartition], privileged: bool, uses_topic_ids: bool) -> None:
        self.partitions = partitions
        self.privileged = privileged
        self.uses_topic_ids = uses_topic_ids


class IncrementalContext(FetchContext):
    """An incremental fetch in ``session``: read :meth:`FetchSession.candidates`, answer
    those :meth:`FetchSession.settle` keeps. ``expected_epoch`` is the session's epoch
    once this request took it; another value at answer time means a concurrent request
    used the session (answered INVALID_FETCH_SESSION_EPOCH, as Kafka does)."""

    __slots__ = ("expected_epoch", "session")

    def __init__(self, session: FetchSession, expected_epoch: int) -> None:
        self.session = session
        self.expected_epoch = expected_epoch

    @property
    def epoch_still_current(self) -> bool:
        return self.session.epoch == self.expected_epoch


class FetchSessionCache:
    """The broker's fetch sessions (Kafka's ``FetchSessionCache`` and ``FetchManager``).

    Args:
        max_slots: ``max.incremental.fetch.session.cache.slots``, split evenly among the
            shards (a remainder is unused, as in Kafka).
        tracks_changes: the replica manager calls :meth:`partition_changed` on every
            change a fetch answer could show, so sessions keep dirty sets.
        eviction_ms: see :data:`MIN_EVICTION_MS`.
        num_shards: see :data:`NUM_CACHE_SHARDS`.
        rng: the source of session ids (seeded in tests).
    """

    def __init__(self, max_slots: int, *, tracks_changes: bool = False, eviction_ms: int = MIN_EVICTION_MS,
                 num_shards: int = NUM_CACHE_SHARDS, rng: random.Random | None = None) -> None:
        self.tracks_changes = tracks_changes
        self.rng = rng or random.Random()
        id_range = _INT32_MAX // num_shards
        self.shards = [FetchSessionCacheShard(self, max_slots // num_shards, eviction_ms, id_range, n)
                       for n in range(num_shards)]
        self._next_shard = itertools.count()
        #: (topic name, partition) -> the sessions holding it and its key there
        self._by_partition: dict[tuple[str, int], dict[FetchSession, PartitionKey]] = {}

    def __len__(self) -> int:
        """Sessions in the cache (Kafka's ``NumIncrementalFetchSessions``)."""
        return sum(len(s) for s in self.shards)

    @property
    def total_partitions(self) -> int:
        """Partitions in all sessions (``NumIncrementalFetchPartitionsCached``)."""
        return sum(len(session) for shard in self.shards for session in shard.sessions.values())

    @property
    def evictions(self) -> int:
        return sum(s.evictions for s in self.shards)

    def shard_of(self, session_id: int) -> FetchSessionCacheShard | None:
        """The shard whose id range holds ``session_id``; None outside every range."""
        index = session_id // self.shards[0].session_id_range
        return self.shards[index] if 0 <= index < len(self.shards) else None

    def get(self, session_id: int) -> FetchSession | None:
        shard = self.shard_of(session_id)
        return shard.get(session_id) if shard is not None else None

    def remove(self, session_id: int) -> bool:
        session = self.get(session_id)
        return session is not None and session.shard.remove(session)

    def new_context(self, version: int, session_id: int, epoch: int, *, privileged: bool, now_ms: int,
                    requested: list[RequestedPartition], forgotten: Iterable[PartitionKey],
                    name_of: Callable[[bytes], str | None]) -> FetchContext:
        """The context that answers a Fetch request (``FetchManager.newContext``).

        Args:
            version: the request's version (v13+ sessions use topic ids).
            session_id, epoch: the request's session id and epoch.
            privileged: the request comes from a follower.
            now_ms: the current time.
            requested: the request's partitions, resolved.
            forgotten: keys of the request's ``forgotten_topics_data``.
            name_of: the topic name of a topic id, None if unknown.
        """
        uses_topic_ids = version >= 13
        if epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            if session_id != INVALID_SESSION_ID:
                self.remove(session_id)  # a full fetch closes the session it names
            if epoch == FINAL_EPOCH:
                return SessionlessContext(requested)
            return FullContext(requested, privileged, uses_topic_ids)
        session = self.get(session_id)
        if session is None:
            return SessionErrorContext(ErrorCode.FETCH_SESSION_ID_NOT_FOUND)
        if session.epoch != epoch:
            return SessionErrorContext(ErrorCode.INVALID_FETCH_SESSION_EPOCH)
        if session.uses_topic_ids != uses_topic_ids:
            return SessionErrorContext(ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR)
        session.update(requested, forgotten)
        if not session.partitions:
            session.shard.remove(session)
            return SessionlessContext(requested)
        session.shard.touch(session, now_ms)
        session.epoch = next_epoch(session.epoch)
        if uses_topic_ids:
            session.maybe_resolve_unknown_names(name_of)
        return IncrementalContext(session, session.epoch)

    def maybe_create_session(self, context: FullContext, now_ms: int,
                             answered: Iterable[tuple[RequestedPartition, PartitionResponse, bool]]) -> int:
        """After a full fetch was read: a new session holding its partitions, or none.

        Args:
            context: the full fetch.
            now_ms: the current time.
            answered: per partition of the answer, in order: the requested partition, its
                answer, and whether it still has something pending (see
                :meth:`FetchSession.settle`).

        Returns:
            The new session's id, or INVALID_SESSION_ID when the cache had no room.
        """
        shard = self.shards[next(self._next_shard) % len(self.shards)]
        session = shard.maybe_create_session(now_ms, context.privileged, len(context.partitions),
                                             context.uses_topic_ids)
        if session is None:
            return INVALID_SESSION_ID
        for requested, response, pending in answered:
            if requested.key in session.partitions:
                continue  # a partition named twice: the first answer counts
            cached = session._add(requested)
            cached.maybe_update_response_data(response, 0)
            if session.tracks_changes and (pending or _sticky(response)):
                session.dirty.add(cached.key)
        shard.touch(session, now_ms)
        return session.id

    # --- change tracking ----------------------------------------------------------------

    def partition_changed(self, tp: tuple[str, int]) -> list[FetchSession]:
        """Something a fetch answer shows may have changed for ``tp`` (topic name,
        partition): mark it dirty in every session holding it.

        Returns:
            Those sessions (a long poll waiting on one of them should re-check).
        """
        holders = self._by_partition.get(tp)
        if not holders:
            return []
        for session, key in holders.items():
            session.dirty.add(key)
        return list(holders)

    def _index(self, session: FetchSession, cached: CachedPartition) -> None:
        if self.tracks_changes:
            self._by_partition.setdefault((cached.topic, cached.partition), {})[session] = cached.key

    def _unindex(self, session: FetchSession, cached: CachedPartition) -> None:
        if self.tracks_changes:
            tp = (cached.topic, cached.partition)
            holders = self._by_partition.get(tp)
            if holders is not None and holders.get(session) == cached.key:
                del holders[session]
                if not holders:
                    del self._by_partition[tp]

    def _forget(self, session: FetchSession) -> None:
        """A session left the cache: drop it from the partition index."""
        if self.tracks_changes:
            for cached in session.partitions.values():
                if cached.topic is not None:
                    self._unindex(session, cached)


# --- the client side -------------------------------------------------------------------------

class SessionFetch(NamedTuple):
    """What the next Fetch of a session sends (Kafka's ``FetchRequestData``): the session
    id and epoch, the partitions to name and the keys to put in ``forgotten_topics_data``."""

    session_id: int
    epoch: int
    to_send: list[tuple[Any, FetchRequest.FetchPartition]]
    to_forget: list[Any]

    @property
    def is_full(self) -> bool:
        return self.epoch in (INITIAL_EPOCH, FINAL_EPOCH)


class FetchSessionHandler:
    """A fetcher's side of a session with one broker (Kafka's ``FetchSessionHandler``),
    for a follower's replica fetcher.

    :meth:`build` takes every partition to fetch now with its parameters and returns
    what the request must carry: all of them in a full fetch, else only those added or
    whose parameters changed, and the ones left out as forgotten. The answer goes to
    :meth:`handle_response` (or :meth:`handle_error` when none came); the answer to an
    incremental fetch holds only the partitions with news, the others are unchanged.
    Keys are any hashable partition identity (a follower uses its topic-partitions).
    """

    def __init__(self) -> None:
        self.session_id = INVALID_SESSION_ID
        self.epoch = INITIAL_EPOCH
        #: the partitions of the session, with the parameters last sent
        self.session_partitions: dict[Any, FetchRequest.FetchPartition] = {}

    def build(self, partitions: dict[Any, FetchRequest.FetchPartition]) -> SessionFetch:
        """The next request for ``partitions`` (``FetchSessionHandler.Builder.build``)."""
        if self.epoch == INITIAL_EPOCH:
            self.session_partitions = dict(partitions)
            return SessionFetch(self.session_id, self.epoch, list(partitions.items()), [])
        to_send = []
        to_forget = []
        for key, sent in list(self.session_partitions.items()):
            wanted = partitions.get(key)
            if wanted is None:
                to_forget.append(key)
                del self.session_partitions[key]
            elif wanted != sent:
                to_send.append((key, wanted))
                self.session_partitions[key] = wanted
        for key, wanted in partitions.items():
            if key not in self.session_partitions:
                to_send.append((key, wanted))
                self.session_partitions[key] = wanted
        return SessionFetch(self.session_id, self.epoch, to_send, to_forget)

    def handle_response(self, error_code: int, session_id: int, answered: Iterable[Any]) -> bool:
        """Take the broker's answer to the last :meth:`build`; False when it must be
        ignored (a session error, or partitions the session does not hold), after which
        the next request is full (``FetchSessionHandler.handleResponse``)."""
        if error_code != ErrorCode.NONE:
            if error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND:
                self.session_id, self.epoch = INVALID_SESSION_ID, INITIAL_EPOCH
            else:
                self.epoch = INITIAL_EPOCH  # close it and try a new one
            return False
        if any(key not in self.session_partitions for key in answered):
            self.epoch = INITIAL_EPOCH
            return False
        if session_id == INVALID_SESSION_ID:
            self.session_id, self.epoch = INVALID_SESSION_ID, INITIAL_EPOCH  # no session (or closed)
        elif self.epoch == INITIAL_EPOCH:
            self.session_id, self.epoch = session_id, next_epoch(INITIAL_EPOCH)
        else:
            self.epoch = next_epoch(self.epoch)
        return True

    def handle_error(self) -> None:
        """No answer came (connection lost, timeout): the next request is full, closing
        the session it may have left behind (``FetchSessionHandler.handleError``)."""
        self.epoch = INITIAL_EPOCH
