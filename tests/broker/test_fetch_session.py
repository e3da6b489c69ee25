"""The fetch session cache (KIP-227), as Kafka's FetchSessionTest checks it: creation,
epochs, errors, forgotten partitions, the incremental answer rule, eviction, limits,
and the dirty sets that let an incremental fetch skip idle partitions."""

from __future__ import annotations

import random

import pytest

from kafkapy.broker.fetch_session import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    INVALID_SESSION_ID,
    MIN_EVICTION_MS,
    NUM_CACHE_SHARDS,
    FetchSessionCache,
    FetchSessionHandler,
    FullContext,
    IncrementalContext,
    RequestedPartition,
    SessionErrorContext,
    SessionlessContext,
    next_epoch,
)
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.fetch import FetchRequest, FetchResponse

V_NAMES, V_IDS = 12, 17
TOPIC_ID = bytes(range(1, 17))
OTHER_ID = bytes(range(2, 18))


def part(partition: int, *, topic: str | None = "t", topic_id: bytes = TOPIC_ID, by_id: bool = False,
         fetch_offset: int = 0) -> RequestedPartition:
    key = (topic_id if by_id else topic, partition)
    params = FetchRequest.FetchPartition(partition=partition, fetch_offset=fetch_offset, partition_max_bytes=1024)
    return RequestedPartition(key, topic, topic_id if by_id else bytes(16), partition, params)


def answer(hw: int = 10, *, lso: int | None = None, log_start: int = 0, error: ErrorCode = ErrorCode.NONE,
           preferred: int = -1, diverging: tuple[int, int] | None = None) -> FetchResponse.PartitionData:
    pd = FetchResponse.PartitionData(high_watermark=hw, last_stable_offset=hw if lso is None else lso,
                                     log_start_offset=log_start, error_code=error, preferred_read_replica=preferred)
    if diverging is not None:
        pd.diverging_epoch = FetchResponse.EpochEndOffset(epoch=diverging[0], end_offset=diverging[1])
    return pd


def names(name_map: dict[bytes, str] | None = None):
    return (name_map or {TOPIC_ID: "t"}).get


def new_cache(slots: int = 10, **kw) -> FetchSessionCache:
    kw.setdefault("num_shards", 1)
    return FetchSessionCache(slots, rng=random.Random(7), **kw)


def full(cache, parts, *, now=0, version=V_NAMES, privileged=False, session_id=0, epoch=INITIAL_EPOCH,
         answers=None, pending=None):
    """A full fetch answered with ``answers`` (default: all at HW 10); the new session id."""
    ctx = cache.new_context(version, session_id, epoch, privileged=privileged, now_ms=now,
                            requested=parts, forgotten=[], name_of=names())
    assert isinstance(ctx, FullContext)
    answers = answers or [answer() for _ in parts]
    pending = pending or [False] * len(parts)
    return cache.maybe_create_session(ctx, now, zip(parts, answers, pending))


def incremental(cache, session_id, epoch, parts=(), forgotten=(), *, now=0, version=V_NAMES, name_map=None):
    return cache.new_context(version, session_id, epoch, privileged=False, now_ms=now, requested=list(parts),
                             forgotten=list(forgotten), name_of=names(name_map))


# --- epochs and ids --------------------------------------------------------------------

def test_next_epoch_wraps_past_int32_max_to_one():
    assert next_epoch(INITIAL_EPOCH) == 1
    assert next_epoch(41) == 42
    assert next_epoch(2**31 - 1) == 1
    assert next_epoch(FINAL_EPOCH) == FINAL_EPOCH


def test_full_fetch_creates_a_session_at_epoch_one():
    cache = new_cache()
    session_id = full(cache, [part(0), part(1)])
    assert session_id > 0
    session = cache.get(session_id)
    assert session is not None and session.epoch == 1
    assert [c.key for c in session.partitions.values()] == [("t", 0), ("t", 1)]
    assert [c.high_watermark for c in session.partitions.values()] == [10, 10]
    assert len(cache) == 1 and cache.total_partitions == 2


def test_session_ids_are_positive_unique_and_in_their_shard_range():
    cache = FetchSessionCache(8 * 50, rng=random.Random(1))
    ids = [full(cache, [part(0)]) for _ in range(8 * 50)]
    assert len(set(ids)) == len(ids) and all(i > 0 for i in ids)
    id_range = (2**31 - 1) // NUM_CACHE_SHARDS
    for shard in cache.shards:
        assert len(shard) == 50  # round robin over the shards
        assert all(shard.shard_num * id_range <= i < (shard.shard_num + 1) * id_range for i in shard.sessions)
    assert full(cache, [part(0)]) == INVALID_SESSION_ID  # every shard full, nothing evictable yet


def test_final_epoch_is_sessionless_and_closes_the_named_session():
    cache = new_cache()
    session_id = full(cache, [part(0)])
    ctx = cache.new_context(V_NAMES, session_id, FINAL_EPOCH, privileged=False, now_ms=1,
                            requested=[part(0)], forgotten=[], name_of=names())
    assert isinstance(ctx, SessionlessContext)
    assert cache.get(session_id) is None


def test_full_fetch_naming_a_session_replaces_it():
    cache = new_cache()
    first = full(cache, [part(0)])
    second = full(cache, [part(0), part(1)], session_id=first)
    assert cache.get(first) is None and cache.get(second) is not None
    assert len(cache) == 1


def test_incremental_epochs_advance_and_wrap():
    cache = new_cache()
    session_id = full(cache, [part(0)])
    for epoch in (1, 2, 3):
        ctx = incremental(cache, session_id, epoch)
        assert isinstance(ctx, IncrementalContext) and ctx.epoch_still_current
    session = cache.get(session_id)
    assert session.epoch == 4
    session.epoch = 2**31 - 1
    assert isinstance(incremental(cache, session_id, 2**31 - 1), IncrementalContext)
    assert session.epoch == 1
    assert isinstance(incremental(cache, session_id, 1), IncrementalContext)


# --- session errors --------------------------------------------------------------------

def test_unknown_session_id_is_not_found():
    cache = new_cache()
    for session_id in (12345, INVALID_SESSION_ID, -5, 2**31 - 1):
        ctx = incremental(cache, session_id, 1)
        assert isinstance(ctx, SessionErrorContext) and ctx.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def test_wrong_epoch_is_invalid_and_keeps_the_session():
    cache = new_cache()
    session_id = full(cache, [part(0)])
    for epoch in (2, 7, -3):
        ctx = incremental(cache, session_id, epoch)
        assert isinstance(ctx, SessionErrorContext) and ctx.error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    assert isinstance(incremental(cache, session_id, 1), IncrementalContext)
    # A request answered twice (a retry): the second is refused.
    ctx = incremental(cache, session_id, 1)
    assert isinstance(ctx, SessionErrorContext) and ctx.error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH


def test_topic_id_usage_must_match_the_session():
    cache = new_cache()
    by_name = full(cache, [part(0)], version=V_NAMES)
    by_id = full(cache, [part(0, by_id=True)], version=V_IDS)
    for session_id, version in ((by_name, V_IDS), (by_id, V_NAMES)):
        ctx = incremental(cache, session_id, 1, version=version)
        assert isinstance(ctx, SessionErrorContext) and ctx.error_code == ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR


def test_a_concurrent_request_makes_the_slower_answer_invalid():
    cache = new_cache()
    session_id = full(cache, [part(0)])
    slow = incremental(cache, session_id, 1)
    fast = incremental(cache, session_id, 2)
    assert fast.epoch_still_current and not slow.epoch_still_current


# --- updates and forgotten partitions ---------------------------------------------------

def test_incremental_adds_updates_and_forgets():
    cache = new_cache()
    session_id = full(cache, [part(0), part(1)])
    ctx = incremental(cache, session_id, 1, [part(1, fetch_offset=5), part(2)], forgotten=[("t", 0), ("x", 9)])
    session = ctx.session
    assert list(session.partitions) == [("t", 1), ("t", 2)]
    assert session.partitions[("t", 1)].params.fetch_offset == 5
    assert session.partitions[("t", 2)].high_watermark == -1  # never answered yet
    assert session.cached_size == 2


def test_forgetting_every_partition_closes_the_session():
    cache = new_cache()
    session_id = full(cache, [part(0)])
    ctx = incremental(cache, session_id, 1, forgotten=[("t", 0)])
    assert isinstance(ctx, SessionlessContext) and ctx.partitions == []
    assert cache.get(session_id) is None and len(cache) == 0


def test_forgotten_by_topic_id():
    cache = new_cache()
    session_id = full(cache, [part(0, by_id=True), part(1, by_id=True)], version=V_IDS)
    ctx = incremental(cache, session_id, 1, forgotten=[(TOPIC_ID, 0)], version=V_IDS)
    assert list(ctx.session.partitions) == [(TOPIC_ID, 1)]


def test_unknown_topic_id_stays_in_the_session_until_resolved():
    cache = new_cache(tracks_changes=True)
    unknown = part(0, topic=None, topic_id=OTHER_ID, by_id=True)
    session_id = full(cache, [part(0, by_id=True), unknown], version=V_IDS,
                      answers=[answer(), answer(0, error=ErrorCode.UNKNOWN_TOPIC_ID)])
    session = cache.get(session_id)
    assert session.unresolved == {(OTHER_ID, 0)}
    assert session.dirty == {(OTHER_ID, 0)}  # an error is repeated until it clears
    incremental(cache, session_id, 1, version=V_IDS)
    assert session.partitions[(OTHER_ID, 0)].topic is None
    incremental(cache, session_id, 2, version=V_IDS, name_map={TOPIC_ID: "t", OTHER_ID: "u"})
    assert session.partitions[(OTHER_ID, 0)].topic == "u" and not session.unresolved
    assert cache.partition_changed(("u", 0)) == [session]


# --- the incremental answer -------------------------------------------------------------

def test_incremental_answer_holds_only_what_changed():
    cache = new_cache()
    session_id = full(cache, [part(0), part(1), part(2), part(3), part(4), part(5)])
    ctx = incremental(cache, session_id, 1)
    session = ctx.session
    cached = {c.partition: c for c in session.candidates()}
    assert len(cached) == 6  # changes not tracked: all are read
    assert not session.settle(cached[0], answer(), 0, False)  # nothing new
    assert session.settle(cached[1], answer(), 100, False)  # records
    assert session.settle(cached[2], answer(11), 0, False)  # high watermark moved
    assert session.settle(cached[3], answer(10, lso=8), 0, False)  # last stable offset moved
    assert session.settle(cached[4], answer(10, log_start=3), 0, False)  # log start moved
    assert session.settle(cached[5], answer(error=ErrorCode.NOT_LEADER_OR_FOLLOWER), 0, False)
    assert cached[5].high_watermark == -1
    # The next answer: the moved offsets are known now; the error is repeated, and the
    # partition is sent again once it clears (its high watermark was forgotten).
    ctx = incremental(cache, session_id, 2)
    cached = {c.partition: c for c in ctx.session.candidates()}
    assert [p for p in range(5) if ctx.session.settle(
        cached[p], answer(10 if p != 2 else 11, lso=8 if p == 3 else None, log_start=3 if p == 4 else 0), 0, False)] \
        == []
    assert session.settle(cached[5], answer(error=ErrorCode.NOT_LEADER_OR_FOLLOWER), 0, False)
    assert session.settle(cached[5], answer(), 0, False)


def test_preferred_replica_and_diverging_epoch_are_always_answered():
    cache = new_cache()
    session_id = full(cache, [part(0), part(1)])
    session = incremental(cache, session_id, 1).session
    first, second = session.candidates()
    assert session.settle(first, answer(preferred=2), 0, False)
    assert session.settle(first, answer(preferred=2), 0, False)
    assert session.settle(second, answer(diverging=(3, 40)), 0, False)


def test_partitions_with_records_move_to_the_end_of_the_fetch_order():
    cache = new_cache()
    session_id = full(cache, [part(0), part(1), part(2)])
    session = incremental(cache, session_id, 1).session
    zero, one, two = session.candidates()
    session.settle(zero, answer(), 10, False)
    session.settle(one, answer(), 0, False)
    session.settle(two, answer(), 0, False)
    assert [c.partition for c in session.candidates()] == [1, 2, 0]


# --- dirty sets --------------------------------------------------------------------------

def test_tracked_session_reads_only_dirty_partitions():
    cache = new_cache(tracks_changes=True)
    parts = [part(p) for p in range(1000)]
    session_id = full(cache, parts, pending=[p == 7 for p in range(1000)])
    session = cache.get(session_id)
    assert session.dirty == {("t", 7)}
    # An idle incremental fetch reads only what had something pending.
    assert [c.partition for c in incremental(cache, session_id, 1).session.candidates()] == [7]
    # An append to partition 500, and partition 3 named by the request (new offset).
    assert cache.partition_changed(("t", 500)) == [session]
    assert cache.partition_changed(("t", 5000)) == []
    ctx = incremental(cache, session_id, 2, [part(3, fetch_offset=10)])
    candidates = ctx.session.candidates()
    assert [c.partition for c in candidates] == [3, 7, 500]  # in fetch order
    by_partition = {c.partition: c for c in candidates}
    assert session.settle(by_partition[500], answer(), 100, pending=False)
    assert not session.settle(by_partition[3], answer(), 0, pending=False)
    assert session.settle(by_partition[7], answer(error=ErrorCode.OFFSET_OUT_OF_RANGE), 0, pending=False)
    # Settled partitions are clean, the error stays dirty.
    assert session.dirty == {("t", 7)}
    assert session.settle(by_partition[7], answer(), 0, pending=True)
    assert session.dirty == {("t", 7)}  # records past what fitted: read again


def test_partition_index_follows_sessions_in_and_out_of_the_cache():
    cache = new_cache(tracks_changes=True)
    a = full(cache, [part(0), part(1)])
    b = full(cache, [part(1)])
    assert {s.id for s in cache.partition_changed(("t", 1))} == {a, b}
    incremental(cache, a, 1, forgotten=[("t", 1)])
    assert [s.id for s in cache.partition_changed(("t", 1))] == [b]
    assert cache.get(a).dirty == set()  # the forgotten partition left the dirty set too
    assert cache.remove(b)
    assert cache.partition_changed(("t", 1)) == []


def test_untracked_cache_keeps_no_dirty_sets():
    cache = new_cache()
    session_id = full(cache, [part(0)], pending=[True])
    assert cache.partition_changed(("t", 0)) == []
    assert cache.get(session_id).dirty == set()


# --- limits and eviction -------------------------------------------------------------------

def test_slots_limit_and_zero_slots():
    cache = new_cache(2)
    assert full(cache, [part(0)]) and full(cache, [part(0)])
    assert full(cache, [part(0)], now=1) == INVALID_SESSION_ID
    assert full(new_cache(0), [part(0)]) == INVALID_SESSION_ID


def test_slots_are_shared_among_eight_shards_as_kafka_does():
    assert full(FetchSessionCache(7), [part(0)]) == INVALID_SESSION_ID  # 7 // 8 = 0 per shard
    cache = FetchSessionCache(8)
    assert all(full(cache, [part(0)]) for _ in range(8))
    assert full(cache, [part(0)]) == INVALID_SESSION_ID


def test_stale_session_is_evicted_first():
    cache = new_cache(2)
    a = full(cache, [part(0)] * 1, now=0)
    b = full(cache, [part(0), part(1)], now=10)
    incremental(cache, a, 1, now=20)  # a used last
    # Neither unused for more than 120 s, nor old enough to be evicted by a small newcomer.
    assert full(cache, [part(0)], now=100) == INVALID_SESSION_ID
    c = full(cache, [part(0)], now=10 + MIN_EVICTION_MS + 1)  # b unused for too long
    assert c and cache.get(b) is None and cache.get(a) is not None
    assert cache.shards[0].evictions == 1


def test_privileged_newcomer_evicts_a_young_consumer_session():
    cache = new_cache(2)
    small = full(cache, [part(0)], now=0)
    big = full(cache, [part(0), part(1), part(2)], now=0)
    # A consumer session cannot evict a session younger than 120 s.
    assert full(cache, [part(p) for p in range(10)], now=1000) == INVALID_SESSION_ID
    # A follower's can: the smallest non-privileged one goes.
    follower = full(cache, [part(0)], now=1000, privileged=True)
    assert follower and cache.get(small) is None and cache.get(big) is not None
    # Privileged sessions are not evicted by anyone while young, not even a follower.
    follower2 = full(cache, [part(p) for p in range(5)], now=1001, privileged=True)
    assert follower2 and cache.get(big) is None
    assert full(cache, [part(p) for p in range(50)], now=1002, privileged=True) == INVALID_SESSION_ID


def test_old_sessions_are_evicted_by_size_then_privilege():
    cache = new_cache(3)
    s1 = full(cache, [part(p) for p in range(3)], now=0)
    s2 = full(cache, [part(p) for p in range(2)], now=0, privileged=True)
    s3 = full(cache, [part(p) for p in range(5)], now=0)
    later = MIN_EVICTION_MS + 10
    for session_id in (s1, s2, s3):  # used recently, but older than 120 s
        incremental(cache, session_id, 1, now=later)
    # A newcomer smaller than every evictable consumer session evicts none.
    assert full(cache, [part(0)], now=later + 1) == INVALID_SESSION_ID
    # Nor one as large: on equal size the lower id (the newcomer's 0) is worth less.
    assert full(cache, [part(p) for p in range(3)], now=later + 1) == INVALID_SESSION_ID
    # A larger one evicts the least valuable: non-privileged first, then the smallest.
    n1 = full(cache, [part(p) for p in range(4)], now=later + 2)
    assert n1 and cache.get(s1) is None and cache.get(s2) is not None and cache.get(s3) is not None
    # n1 is young: a consumer newcomer passes it over for the old s3 ...
    n2 = full(cache, [part(p) for p in range(9)], now=later + 3)
    assert n2 and cache.get(s3) is None and cache.get(n1) is not None
    # ... a follower's evicts it (the smallest non-privileged), never the old privileged s2
    # while a non-privileged one is evictable.
    n3 = full(cache, [part(p) for p in range(2)], now=later + 4, privileged=True)
    assert n3 and cache.get(n1) is None and cache.get(n2) is not None and cache.get(s2) is not None


def test_invalid_session_id_never_created():
    class Zero(random.Random):
        calls = 0

        def randrange(self, *args):
            Zero.calls += 1
            return 1 if Zero.calls > 1 else 0

    cache = FetchSessionCache(1, num_shards=1, rng=Zero())
    assert full(cache, [part(0)]) == 1


@pytest.mark.parametrize("epoch", [INITIAL_EPOCH, FINAL_EPOCH])
def test_full_fetch_with_unknown_session_id_is_fine(epoch):
    cache = new_cache()
    ctx = cache.new_context(V_NAMES, 999, epoch, privileged=False, now_ms=0, requested=[part(0)],
                            forgotten=[], name_of=names())
    assert isinstance(ctx, FullContext if epoch == INITIAL_EPOCH else SessionlessContext)


# --- the client side, paired with the cache ------------------------------------------------

def params(offset: int) -> FetchRequest.FetchPartition:
    return FetchRequest.FetchPartition(fetch_offset=offset, partition_max_bytes=1024)


def exchange(handler: FetchSessionHandler, cache: FetchSessionCache, wanted: dict, now: int = 0):
    """One fetch: the handler's request, the cache's context, the handler taking an answer
    with every partition the broker would send (all on a full fetch, the named ones else)."""
    fetch = handler.build(wanted)
    requested = [RequestedPartition(key, key[0], bytes(16), key[1], p) for key, p in fetch.to_send]
    ctx = cache.new_context(V_NAMES, fetch.session_id, fetch.epoch, privileged=True, now_ms=now,
                            requested=requested, forgotten=fetch.to_forget, name_of=names())
    if isinstance(ctx, SessionErrorContext):
        assert not handler.handle_response(ctx.error_code, 0, [])
        return fetch, ctx
    session_id = 0
    if isinstance(ctx, FullContext):
        session_id = cache.maybe_create_session(ctx, now, ((r, answer(), False) for r in requested))
    elif isinstance(ctx, IncrementalContext):
        session_id = ctx.session.id
    assert handler.handle_response(ErrorCode.NONE, session_id, [key for key, _ in fetch.to_send])
    return fetch, ctx


def test_handler_sends_everything_once_then_only_changes():
    cache, handler = new_cache(), FetchSessionHandler()
    wanted = {("t", p): params(0) for p in range(5)}
    fetch, ctx = exchange(handler, cache, wanted)
    assert fetch.is_full and len(fetch.to_send) == 5 and isinstance(ctx, FullContext)
    assert handler.session_id > 0 and handler.epoch == 1
    fetch, ctx = exchange(handler, cache, wanted)
    assert (fetch.epoch, fetch.to_send, fetch.to_forget) == (1, [], [])
    assert isinstance(ctx, IncrementalContext)
    # One offset moved, one partition left, one joined.
    wanted = {**{("t", p): params(0) for p in (0, 1, 2)}, ("t", 1): params(7), ("t", 9): params(0)}
    fetch, ctx = exchange(handler, cache, wanted)
    assert [k for k, _ in fetch.to_send] == [("t", 1), ("t", 9)]
    assert sorted(fetch.to_forget) == [("t", 3), ("t", 4)]
    session = cache.get(handler.session_id)
    assert sorted(session.partitions) == sorted(wanted) and session.partitions[("t", 1)].params.fetch_offset == 7
    assert session.privileged and handler.epoch == session.epoch == 3


def test_handler_starts_over_after_session_errors():
    cache, handler = new_cache(), FetchSessionHandler()
    wanted = {("t", 0): params(0)}
    exchange(handler, cache, wanted)
    first = handler.session_id
    cache.remove(first)  # evicted, or the broker restarted
    fetch, ctx = exchange(handler, cache, wanted)
    assert ctx.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    assert (handler.session_id, handler.epoch) == (INVALID_SESSION_ID, INITIAL_EPOCH)
    fetch, _ = exchange(handler, cache, wanted)
    assert fetch.is_full and handler.session_id not in (0, first)
    # A stale epoch: the next fetch is full and closes the session it names.
    handler.epoch += 5
    _, ctx = exchange(handler, cache, wanted)
    assert ctx.error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH and handler.epoch == INITIAL_EPOCH
    second = handler.session_id
    exchange(handler, cache, wanted)
    assert cache.get(second) is None and handler.session_id != second and len(cache) == 1
    # No answer at all: the same.
    handler.handle_error()
    assert handler.build(wanted).is_full


def test_handler_without_session_stays_full():
    cache, handler = new_cache(0), FetchSessionHandler()
    wanted = {("t", 0): params(0)}
    for _ in range(3):
        fetch, ctx = exchange(handler, cache, wanted)
        assert fetch.is_full and isinstance(ctx, FullContext) and handler.session_id == 0


def test_handler_refuses_partitions_outside_its_session():
    handler = FetchSessionHandler()
    handler.build({("t", 0): params(0)})
    assert not handler.handle_response(ErrorCode.NONE, 42, [("t", 0), ("x", 1)])
    assert handler.build({("t", 0): params(0)}).is_full
