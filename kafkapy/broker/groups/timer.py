"""Keyed one-shot deadlines on one trio task (Kafka's ``CoordinatorTimer``).

Session timeouts, rebalance timeouts and the initial rebalance delay are each a key
(``("heartbeat", group, member)``, ``("join", group)``, ...) with a deadline and a
callback. Scheduling a key again replaces its deadline, as a heartbeat pushes a
session's end further out; cancelling forgets it.

Theory of operation: deadlines sit in a heap with lazy deletion (a replaced or
cancelled entry stays in the heap but no longer matches the key's current entry, and
is dropped when it surfaces). :meth:`DeadlineTimer.run` sleeps until the earliest
deadline, or until a newly scheduled deadline is earlier than the one it sleeps for,
then runs every callback that is due. Nothing polls: with no deadline it sleeps until
one is scheduled.

Callbacks are synchronous and run on the timer's task; an exception in one is logged
and does not stop the others.

Task-safety: trio thread only.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable, Hashable

import trio

log = logging.getLogger(__name__)


class DeadlineTimer:
    """Keyed deadlines on trio's clock (see the module doc)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._entries: dict[Hashable, tuple[float, int, Callable[[], None]]] = {}
        self._seq = itertools.count()
        self._wakeup = trio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def schedule(self, key: Hashable, delay_ms: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` ``delay_ms`` from now, replacing any deadline ``key`` had."""
        deadline = trio.current_time() + max(delay_ms, 0) / 1000
        seq = next(self._seq)
        self._entries[key] = (deadline, seq, callback)
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (deadline, seq, key))
        if earliest is None or deadline < earliest:
            self._wakeup.set()

    def cancel(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def _next_deadline(self) -> float | None:
        heap, entries = self._heap, self._entries
        while heap:
            deadline, seq, key = heap[0]
            entry = entries.get(key)
            if entry is not None and entry[1] == seq:
                return deadline
            heapq.heappop(heap)
        return None

    def _fire_due(self, now: float) -> None:
        heap, entries = self._heap, self._entries
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            entry = entries.get(key)
            if entry is None or entry[1] != seq:
                continue
            del entries[key]
            try:
                entry[2]()
            except Exception:
                log.exception("Timer callback for %r failed", key)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Fire deadlines as they come, until cancelled."""
        task_status.started()
        while True:
            self._wakeup = trio.Event()
            deadline = self._next_deadline()
            if deadline is None:
                await self._wakeup.wait()
                continue
            with trio.move_on_at(deadline):
                await self._wakeup.wait()
            self._fire_due(trio.current_time())
