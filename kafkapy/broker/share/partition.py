"""One share-partition: a share group's delivery state of one topic-partition, kept by
the partition leader (KIP-932, Kafka's ``SharePartition``).

Theory of operation. Records between the share-partition start offset (SPSO,
:attr:`SharePartition.start_offset`) and the end of what was handed out
(:attr:`SharePartition.next_offset`, one past Kafka's SPEO) are *in flight*; each has a
state and a delivery count::

    AVAILABLE --acquire--> ACQUIRED --ACCEPT--> ACKNOWLEDGED
        ^                     |  |  --REJECT/GAP--> ARCHIVED
        +--RELEASE, lock------+  +--RELEASE, lock timeout, session close
           timeout, close           with delivery count >= limit--> ARCHIVED

* **Acquire** (ShareFetch): records are handed out in whole log batches, first the
  in-flight ones that became AVAILABLE again (released or timed out), then new ones
  from :attr:`next_offset`; each acquisition counts one delivery and holds an
  acquisition lock until ``now + record lock duration``. No new batch is started
  while ``max_in_flight`` records (``group.share.partition.max.record.locks``) are in
  flight; a batch started is taken whole, so the limit may be passed by one batch.
* **Acknowledge** (ShareAcknowledge, or piggy-backed on ShareFetch): only the member
  holding a record's lock may acknowledge it, else INVALID_RECORD_STATE and nothing
  changes. ACCEPT completes it, REJECT (and GAP, an offset with no record) archives it,
  RELEASE makes it AVAILABLE again, RENEW (KIP-1222) restarts its lock.
* **Delivery count limit** (``group.share.delivery.count.limit``): a record released
  or timed out after that many deliveries is archived instead of made available.
* **Start offset**: while the record at the SPSO is ACKNOWLEDGED or ARCHIVED the SPSO
  moves past it and it leaves the in-flight set (:meth:`SharePartition.maybe_advance_start`,
  after the state that completed it is written).

Kafka keeps batch-level state and splits a batch into per-offset state on a partial
acknowledgement; this keeps one small entry per in-flight offset, bounded by
``max_in_flight`` plus one batch, which is simpler and costs at most a few thousand
entries more than Kafka's.

What survives a restart is :meth:`state_batches` (the persister writes it to the share
coordinator): the SPSO and, per range of offsets, the delivery state (0 available,
2 acknowledged, 4 archived: an ACQUIRED record is written as available, its lock does
not survive) and delivery count. :meth:`load` rebuilds from it.

Pure: no clock (``now_ms`` is passed in), no I/O. Task-safety: trio thread only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from kafkapy.wire.error_codes import ErrorCode


class RecordState(enum.IntEnum):
    """Kafka's ``RecordState``; the values are the persisted delivery states."""

    AVAILABLE = 0
    ACQUIRED = 1
    ACKNOWLEDGED = 2
    ARCHIVED = 4


class AcknowledgeType(enum.IntEnum):
    """ShareFetch/ShareAcknowledge ``AcknowledgeTypes`` values."""

    GAP = 0
    ACCEPT = 1
    RELEASE = 2
    REJECT = 3
    RENEW = 4


TERMINAL = (RecordState.ACKNOWLEDGED, RecordState.ARCHIVED)


@dataclass(slots=True)
class InFlight:
    """One in-flight offset: its state, deliveries so far, and who holds its lock until when."""

    state: RecordState
    delivery_count: int
    member_id: str | None = None
    lock_deadline_ms: int = 0


class AcquiredRange(NamedTuple):
    """Offsets ``first..last`` acquired together with the same delivery count
    (ShareFetch's ``AcquiredRecords``)."""

    first_offset: int
    last_offset: int
    delivery_count: int


class StateBatch(NamedTuple):
    """A range of offsets with one persisted state (``ShareSnapshotValue.StateBatches``)."""

    first_offset: int
    last_offset: int
    delivery_state: int
    delivery_count: int


class AckBatch(NamedTuple):
    """One ``AcknowledgementBatch``: one type for the whole range, or one per offset."""

    first_offset: int
    last_offset: int
    types: Sequence[int]


class SharePartition:
    """The delivery state of one topic-partition for one share group (see the module doc).

    Args:
        group_id: the share group.
        max_in_flight: ``group.share.partition.max.record.locks``.
        delivery_count_limit: ``group.share.delivery.count.limit``.
    """

    def __init__(self, group_id: str, *, max_in_flight: int, delivery_count_limit: int) -> None:
        self.group_id = group_id
        self.max_in_flight = max_in_flight
        self.delivery_count_limit = delivery_count_limit
        #: SPSO: every offset below it is delivered (acknowledged or archived).
        self.start_offset = 0
        #: One past the last offset ever acquired: new records are taken from here.
        self.next_offset = 0
        #: Invariant: keys are exactly ``range(start_offset, next_offset)``.
        self.in_flight: dict[int, InFlight] = {}
        self.state_epoch = 0
        self.initialized = False

    # --- (re)building ---------------------------------------------------------------------

    def load(self, start_offset: int, batches: Iterable[StateBatch], state_epoch: int = 0) -> None:
        """Rebuild from persisted state; offsets no batch names are AVAILABLE, never delivered."""
        self.start_offset = start_offset
        self.state_epoch = state_epoch
        known: dict[int, InFlight] = {}
        end = start_offset
        for b in batches:
            state = RecordState(b.delivery_state) if b.delivery_state in (0, 2, 4) else RecordState.AVAILABLE
            for offset in range(max(b.first_offset, start_offset), b.last_offset + 1):
                known[offset] = InFlight(state, b.delivery_count)
            end = max(end, b.last_offset + 1)
        self.next_offset = end
        self.in_flight = {o: known.get(o) or InFlight(RecordState.AVAILABLE, 0) for o in range(start_offset, end)}
        self.initialized = True
        self._advance_start()

    def maybe_move_start(self, log_start_offset: int) -> bool:
        """Records deleted from the log (retention, DeleteRecords) leave the share-partition."""
        if log_start_offset <= self.start_offset:
            return False
        for offset in range(self.start_offset, min(log_start_offset, self.next_offset)):
            self.in_flight.pop(offset, None)
        self.start_offset = log_start_offset
        self.next_offset = max(self.next_offset, log_start_offset)
        return True

    # --- acquiring -------------------------------------------------------------------------

    def fetch_offset(self) -> int:
        """Where the log should be read: the first AVAILABLE in-flight offset, else the end."""
        for offset, f in self.in_flight.items():
            if f.state is RecordState.AVAILABLE:
                return offset
        return self.next_offset

    def has_available(self, high_watermark: int) -> bool:
        """True when an acquire could hand something out now."""
        if any(f.state is RecordState.AVAILABLE for f in self.in_flight.values()):
            return True
        return self.next_offset < high_watermark and len(self.in_flight) < self.max_in_flight

    def acquire(self, member_id: str, batches: Iterable[tuple[int, ...]], *, max_records: int, now_ms: int,
                lock_duration_ms: int, end_offset: int,
                record_limit: bool = False) -> tuple[list[AcquiredRange], list[int]]:
        """Acquire whole log batches for ``member_id``, or with ``record_limit`` at most
        ``max_records`` offsets, a batch's first ones (ShareFetch v2's record-limit
        ShareAcquireMode, KIP-1206: Kafka's ``SharePartition.acquire`` splits the batch
        and leaves its other offsets AVAILABLE).

        Args:
            batches: ``(base_offset, last_offset)`` of the log batches read from
                :meth:`fetch_offset` on, in order, with a third item False for a batch
                that is never delivered (a control batch: its offsets are archived).
            max_records: stop after the batch in which this many were acquired (with
                ``record_limit``: once this many were acquired).
            end_offset: the high watermark (or LSO): nothing at or beyond it is taken.

        Returns:
            The acquired ranges, and the indexes of the batches that hold at least one
            acquired offset (those the response carries).
        """
        acquired: list[AcquiredRange] = []
        used: list[int] = []
        count = 0
        deadline = now_ms + lock_duration_ms
        for index, batch in enumerate(batches):
            if count >= max_records:
                break
            base, last = batch[0], batch[1]
            if len(batch) > 2 and not batch[2]:
                self._skip(base, min(last, end_offset - 1))
                continue
            took = False
            # The in-flight limit is checked per batch, never inside one (as Kafka's
            # SharePartition): a batch is acquired whole or not at all, so no response
            # carries a batch of which a part was handed out before.
            may_grow = len(self.in_flight) < self.max_in_flight
            for offset in range(max(base, self.start_offset), min(last, end_offset - 1) + 1):
                if record_limit and count >= max_records:
                    break
                f = self.in_flight.get(offset)
                if f is None:
                    if offset != self.next_offset or not may_grow:
                        continue
                    f = self.in_flight[offset] = InFlight(RecordState.AVAILABLE, 0)
                    self.next_offset = offset + 1
                if f.state is not RecordState.AVAILABLE:
                    continue
                f.state = RecordState.ACQUIRED
                f.delivery_count += 1
                f.member_id = member_id
                f.lock_deadline_ms = deadline
                count += 1
                took = True
                if acquired and acquired[-1].last_offset == offset - 1 \
                        and acquired[-1].delivery_count == f.delivery_count:
                    acquired[-1] = acquired[-1]._replace(last_offset=offset)
                else:
                    acquired.append(AcquiredRange(offset, offset, f.delivery_count))
            if took:
                used.append(index)
        self._advance_start()
        return acquired, used

    def _skip(self, first: int, last: int) -> None:
        """Offsets that hold no deliverable record (control batches) are archived."""
        for offset in range(max(first, self.next_offset), last + 1):
            if offset != self.next_offset or len(self.in_flight) >= self.max_in_flight:
                return
            self.in_flight[offset] = InFlight(RecordState.ARCHIVED, 0)
            self.next_offset = offset + 1

    # --- acknowledging ---------------------------------------------------------------------

    def acknowledge(self, member_id: str, batches: Sequence[AckBatch], *, now_ms: int,
                    lock_duration_ms: int) -> ErrorCode:
        """Apply a member's acknowledgements, all or nothing.

        Returns:
            NONE; INVALID_REQUEST for a malformed batch (types not one per offset, an
            unknown type); INVALID_RECORD_STATE when an offset is not acquired by
            ``member_id``.
        """
        plan: list[tuple[int, AcknowledgeType]] = []
        for b in batches:
            if b.last_offset < b.first_offset or not b.types:
                return ErrorCode.INVALID_REQUEST
            span = b.last_offset - b.first_offset + 1
            if len(b.types) not in (1, span):
                return ErrorCode.INVALID_REQUEST
            for i in range(span):
                raw = b.types[0] if len(b.types) == 1 else b.types[i]
                if raw not in AcknowledgeType._value2member_map_:
                    return ErrorCode.INVALID_REQUEST
                # Offsets below the start offset are already acknowledged or archived:
                # skipped, not refused (SharePartition.acknowledgePerOffsetBatchRecords).
                if b.first_offset + i >= self.start_offset:
                    plan.append((b.first_offset + i, AcknowledgeType(raw)))
        for offset, _ in plan:
            f = self.in_flight.get(offset)
            if f is None or f.state is not RecordState.ACQUIRED or f.member_id != member_id:
                return ErrorCode.INVALID_RECORD_STATE
        for offset, kind in plan:
            f = self.in_flight[offset]
            if kind is AcknowledgeType.ACCEPT:
                self._finish(f, RecordState.ACKNOWLEDGED)
            elif kind in (AcknowledgeType.REJECT, AcknowledgeType.GAP):
                self._finish(f, RecordState.ARCHIVED)
            elif kind is AcknowledgeType.RELEASE:
                self._release(f)
            else:
                f.lock_deadline_ms = now_ms + lock_duration_ms
        return ErrorCode.NONE

    def release_member(self, member_id: str) -> int:
        """Release every record ``member_id`` holds (its share session closed); how many."""
        released = 0
        for f in self.in_flight.values():
            if f.state is RecordState.ACQUIRED and f.member_id == member_id:
                self._release(f)
                released += 1
        return released

    def expire_locks(self, now_ms: int) -> int:
        """Release every record whose acquisition lock ran out; how many."""
        expired = 0
        for f in self.in_flight.values():
            if f.state is RecordState.ACQUIRED and f.lock_deadline_ms <= now_ms:
                self._release(f)
                expired += 1
        return expired

    def next_lock_deadline(self) -> int | None:
        deadlines = [f.lock_deadline_ms for f in self.in_flight.values() if f.state is RecordState.ACQUIRED]
        return min(deadlines) if deadlines else None

    def _release(self, f: InFlight) -> None:
        if f.delivery_count >= self.delivery_count_limit:
            self._finish(f, RecordState.ARCHIVED)
        else:
            self._finish(f, RecordState.AVAILABLE)

    @staticmethod
    def _finish(f: InFlight, state: RecordState) -> None:
        f.state = state
        f.member_id = None
        f.lock_deadline_ms = 0

    def maybe_advance_start(self) -> bool:
        """Move the SPSO past delivered records; True if it moved. The leader calls it
        once the state that completed them is written, so the persisted start offset
        trails by one write, as Kafka's ``SharePartition`` updates its cached state
        after the persister answers (``kafka-share-groups`` shows the same offsets)."""
        before = self.start_offset
        self._advance_start()
        return self.start_offset != before

    def _advance_start(self) -> None:
        while self.start_offset < self.next_offset:
            f = self.in_flight.get(self.start_offset)
            if f is None or f.state not in TERMINAL:
                break
            del self.in_flight[self.start_offset]
            self.start_offset += 1

    # --- what is persisted ----------------------------------------------------------------

    def state_batches(self) -> list[StateBatch]:
        """The in-flight state as persisted ranges (ACQUIRED written as AVAILABLE)."""
        out: list[StateBatch] = []
        for offset in sorted(self.in_flight):
            f = self.in_flight[offset]
            state = RecordState.AVAILABLE if f.state is RecordState.ACQUIRED else f.state
            if out and out[-1].last_offset == offset - 1 and out[-1].delivery_state == state \
                    and out[-1].delivery_count == f.delivery_count:
                out[-1] = out[-1]._replace(last_offset=offset)
            else:
                out.append(StateBatch(offset, offset, int(state), f.delivery_count))
        return out

    def delivery_complete_count(self) -> int:
        """Offsets at or after the SPSO whose delivery is complete (ShareSnapshotValue v4.4)."""
        return sum(1 for f in self.in_flight.values() if f.state in TERMINAL)

    def lag(self, high_watermark: int) -> int:
        """Records not yet delivered for good (DescribeShareGroupOffsets' lag)."""
        return max(high_watermark - self.start_offset - self.delivery_complete_count(), 0)
