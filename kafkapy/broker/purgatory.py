"""Requests that wait for something to happen to a partition: acks=all produce, long-poll fetch.

Theory of operation (Kafka's ``DelayedOperationPurgatory``, without its timing wheel):

* A delayed operation is a ``try_complete`` predicate plus a ``trio.Event``. The
  handler that owns it registers it under every partition it cares about
  ("watch keys") and then waits on the event, bounded by its own timeout.
* Whatever changes a partition (an append, a high-watermark move, a leadership
  change, a deletion) calls :meth:`Purgatory.check_and_complete` with that
  partition's key. Every operation watching the key re-runs its predicate; those
  that are now satisfied are completed: their event is set and they are removed
  from every watch list, so a waiter is woken exactly once, at once, without any
  polling loop.
* A timeout is the caller's cancel scope (``trio.move_on_after``); after waking for
  any reason the caller calls :meth:`Purgatory.unwatch`, so nothing lingers.

The predicate runs synchronously inside the notifier, so it must be cheap and must
not await: it reads offsets and positions, never record data.

Task-safety: all methods run on the trio thread; no method awaits except
:meth:`Purgatory.wait`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

import trio


class DelayedOperation:
    """One waiting request: its completion predicate and the event that wakes it.

    ``try_complete`` returns True once the operation can be answered; after that
    it is never called again.
    """

    __slots__ = ("_event", "completed", "keys", "try_complete")

    def __init__(self, try_complete: Callable[[], bool], keys: Iterable[Hashable]) -> None:
        self.try_complete = try_complete
        self.keys = tuple(keys)
        self.completed = False
        self._event = trio.Event()

    def force_complete(self) -> None:
        """Mark the operation done and wake its waiter (idempotent)."""
        if not self.completed:
            self.completed = True
            self._event.set()


class Purgatory:
    """Delayed operations indexed by the keys (topic-partitions) they watch."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._watchers: dict[Hashable, set[DelayedOperation]] = {}

    def __len__(self) -> int:
        """Number of distinct operations currently waiting."""
        ops: set[DelayedOperation] = set()
        for watch in self._watchers.values():
            ops.update(watch)
        return len(ops)

    async def wait(
        self,
        try_complete: Callable[[], bool],
        keys: Iterable[Hashable],
        timeout_s: float,
    ) -> bool:
        """Wait until ``try_complete()`` holds or ``timeout_s`` passes.

        The predicate is tried once before registering (Kafka's
        ``tryCompleteElseWatch``), so a request that can be answered right away never
        waits.

        Returns:
            True if the operation completed, False if it timed out.
        """
        if try_complete():
            return True
        if timeout_s <= 0:
            return False
        op = DelayedOperation(try_complete, keys)
        for key in op.keys:
            self._watchers.setdefault(key, set()).add(op)
        try:
            # A change may have raced in between the first try and registration only
            # if something awaited in between; nothing did, so no second try is needed.
            with trio.move_on_after(timeout_s):
                await op._event.wait()
        finally:
            self.unwatch(op)
        return op.completed

    def check_and_complete(self, key: Hashable) -> int:
        """Re-check the operations watching ``key``; complete those now satisfied.

        Returns:
            The number of operations completed.
        """
        watch = self._watchers.get(key)
        if not watch:
            return 0
        done = [op for op in watch if not op.completed and op.try_complete()]
        for op in done:
            op.force_complete()
            self.unwatch(op)
        return len(done)

    def complete_all(self, key: Hashable) -> int:
        """Wake every operation watching ``key`` regardless of its predicate.

        Used when the partition itself goes away or changes leader, so waiters
        re-evaluate and answer with the partition's new state.
        """
        watch = self._watchers.get(key)
        if not watch:
            return 0
        ops = list(watch)
        for op in ops:
            op.force_complete()
            self.unwatch(op)
        return len(ops)

    def unwatch(self, op: DelayedOperation) -> None:
        """Remove ``op`` from every watch list it is on."""
        for key in op.keys:
            watch = self._watchers.get(key)
            if watch is not None:
                watch.discard(op)
                if not watch:
                    del self._watchers[key]
