"""SharePartition: acquisition, acknowledgement, locks, delivery count limit, persisted state."""

from __future__ import annotations

from kafkapy.broker.share.partition import (
    AckBatch,
    AcknowledgeType,
    AcquiredRange,
    RecordState,
    SharePartition,
    StateBatch,
)
from kafkapy.wire.error_codes import ErrorCode

A, R, X, G, N = (AcknowledgeType.ACCEPT, AcknowledgeType.RELEASE, AcknowledgeType.REJECT,
                 AcknowledgeType.GAP, AcknowledgeType.RENEW)
LOCK = 1000


def _sp(limit: int = 3, max_in_flight: int = 100) -> SharePartition:
    sp = SharePartition("g", max_in_flight=max_in_flight, delivery_count_limit=limit)
    sp.load(0, [])
    return sp


def _acquire(sp: SharePartition, member: str, batches: list[tuple[int, int]], *, now: int = 0,
             max_records: int = 500, end: int = 1000) -> list[AcquiredRange]:
    return sp.acquire(member, batches, max_records=max_records, now_ms=now, lock_duration_ms=LOCK, end_offset=end)[0]


def test_two_members_get_distinct_records_and_accept_moves_the_start() -> None:
    sp = _sp()
    assert _acquire(sp, "m1", [(0, 4)], max_records=1) == [AcquiredRange(0, 4, 1)]
    # m2 reads from the first available offset: the next batch, not m1's.
    assert sp.fetch_offset() == 5
    assert _acquire(sp, "m2", [(5, 9)]) == [AcquiredRange(5, 9, 1)]
    assert sp.acknowledge("m2", [AckBatch(0, 4, [A])], now_ms=1,
                          lock_duration_ms=LOCK) == ErrorCode.INVALID_RECORD_STATE
    assert sp.acknowledge("m1", [AckBatch(0, 4, [A])], now_ms=1, lock_duration_ms=LOCK) == ErrorCode.NONE
    assert sp.start_offset == 0 and sp.delivery_complete_count() == 5  # until the state is written
    assert sp.maybe_advance_start()
    assert sp.start_offset == 5 and 0 not in sp.in_flight


def test_release_redelivers_with_a_higher_count_and_the_limit_archives() -> None:
    sp = _sp(limit=2)
    _acquire(sp, "m1", [(0, 1)])
    assert sp.acknowledge("m1", [AckBatch(0, 1, [R, A])], now_ms=1, lock_duration_ms=LOCK) == ErrorCode.NONE
    assert sp.fetch_offset() == 0 and sp.start_offset == 0
    assert _acquire(sp, "m2", [(0, 1)]) == [AcquiredRange(0, 0, 2)]
    # Second delivery released: the limit of 2 is reached, so it is archived.
    assert sp.acknowledge("m2", [AckBatch(0, 0, [R])], now_ms=2, lock_duration_ms=LOCK) == ErrorCode.NONE
    sp.maybe_advance_start()
    assert sp.start_offset == 2 and not sp.in_flight


def test_reject_and_gap_archive() -> None:
    sp = _sp()
    _acquire(sp, "m", [(0, 2)])
    assert sp.acknowledge("m", [AckBatch(0, 2, [X, G, A])], now_ms=1, lock_duration_ms=LOCK) == ErrorCode.NONE
    sp.maybe_advance_start()
    assert sp.start_offset == 3


def test_lock_timeout_makes_records_available_and_renew_extends_the_lock() -> None:
    sp = _sp()
    _acquire(sp, "m", [(0, 1)], now=0)
    assert sp.acknowledge("m", [AckBatch(1, 1, [N])], now_ms=900, lock_duration_ms=LOCK) == ErrorCode.NONE
    assert sp.next_lock_deadline() == 1000
    assert sp.expire_locks(1000) == 1
    assert sp.in_flight[0].state is RecordState.AVAILABLE and sp.in_flight[1].state is RecordState.ACQUIRED
    assert sp.expire_locks(1900) == 1
    assert _acquire(sp, "m2", [(0, 1)], now=2000) == [AcquiredRange(0, 1, 2)]


def test_malformed_acknowledgements_change_nothing() -> None:
    sp = _sp()
    _acquire(sp, "m", [(0, 2)])
    assert sp.acknowledge("m", [AckBatch(0, 2, [A, A])], now_ms=1, lock_duration_ms=LOCK) == ErrorCode.INVALID_REQUEST
    assert sp.acknowledge("m", [AckBatch(0, 0, [A]), AckBatch(5, 5, [A])], now_ms=1,
                          lock_duration_ms=LOCK) == ErrorCode.INVALID_RECORD_STATE
    assert sp.in_flight[0].state is RecordState.ACQUIRED


def test_in_flight_limit_and_end_offset_bound_acquisition() -> None:
    sp = _sp(max_in_flight=3)
    # The end offset (high watermark) bounds; the limit only stops new batches: the
    # batch begun is taken whole, so no later response carries a half-delivered batch.
    assert _acquire(sp, "m", [(0, 1), (2, 9)], end=6) == [AcquiredRange(0, 5, 1)]
    assert not sp.has_available(10)
    assert _acquire(sp, "m", [(6, 9)]) == []


def test_state_round_trips_through_persisted_batches() -> None:
    sp = _sp()
    _acquire(sp, "m", [(0, 5)])
    sp.acknowledge("m", [AckBatch(0, 1, [A]), AckBatch(2, 3, [R]), AckBatch(4, 4, [X])], now_ms=1,
                   lock_duration_ms=LOCK)
    sp.maybe_advance_start()
    batches = sp.state_batches()
    assert batches == [StateBatch(2, 3, 0, 1), StateBatch(4, 4, 4, 1), StateBatch(5, 5, 0, 1)]
    again = SharePartition("g", max_in_flight=100, delivery_count_limit=3)
    again.load(sp.start_offset, batches)
    assert again.start_offset == 2 and again.next_offset == 6 and again.fetch_offset() == 2
    assert _acquire(again, "m", [(0, 5)]) == [AcquiredRange(2, 3, 2), AcquiredRange(5, 5, 2)]
    assert again.delivery_complete_count() == 1


def test_control_batches_are_archived_without_delivery() -> None:
    sp = _sp()
    assert sp.acquire("m", [(0, 0, False), (1, 2)], max_records=10, now_ms=0, lock_duration_ms=LOCK,
                      end_offset=10) == ([AcquiredRange(1, 2, 1)], [1])
    assert sp.start_offset == 1
