"""The failover scenario's stream, shared by the Python drivers (see scenarios.py).

A driver supplies how its client sends one record and how it reads for a moment; the
:class:`Stream` paces the records (one every ``FAILOVER_PERIOD_MS``), asks the harness
for the fault once ``FAILOVER_BEFORE`` records are acknowledged, goes on until
``FAILOVER_AFTER`` more were sent after the answer, and keeps what the producer
acknowledged and what the consumer read for :func:`compat_tests.checks.failover`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from compat_tests import checks
from compat_tests import scenarios as sc
from compat_tests.driver import Context, FaultRequest, NotApplicable, expect

#: Bound on the waits before the fault and after the last record.
TIMEOUT = 15.0


def require_brokers(count: int) -> None:
    """n/a unless the cluster has the brokers replication factor 3 needs."""
    if count < sc.FAILOVER_BROKERS:
        raise NotApplicable(f"needs {sc.FAILOVER_BROKERS} brokers for replication factor"
                            f" {sc.FAILOVER_REPLICATION}; the cluster has {count}")


def seq_of(value: str | bytes) -> int:
    text = value.decode() if isinstance(value, bytes) else value
    return int(text.removeprefix("fo-"))


class Stream:
    """Bookkeeping and pacing of one failover stream on ``topic`` partition 0."""

    def __init__(self, ctx: Context, topic: str) -> None:
        self.ctx = ctx
        self.topic = topic
        self.acked: dict[int, int | None] = {}
        self.failures: list[str] = []
        self.consumed: list[tuple[int, str]] = []
        self.sent = 0
        self.after_from: int | None = None
        self.fault = ""
        self._seen: set[int] = set()
        self._request: FaultRequest | None = None
        self._started = time.monotonic()
        self._next_at = self._started

    # --- what the clients report ---

    def delivered(self, value: str | bytes, offset: int | None) -> None:
        self.acked[seq_of(value)] = offset

    def failed(self, error: object) -> None:
        self.failures.append(str(error))

    def read(self, offset: int, value: str | bytes) -> None:
        text = value.decode() if isinstance(value, bytes) else value
        self.consumed.append((offset, text))
        self._seen.add(seq_of(text))

    # --- pacing ---

    def _step(self) -> bool:
        """Advance the fault protocol; False once the stream is complete."""
        if self.after_from is not None:
            return self.sent < self.after_from + sc.FAILOVER_AFTER
        now = time.monotonic()
        if self._request is None:
            expect(now - self._started < TIMEOUT, f"only {len(self.acked)} records acknowledged in {TIMEOUT:.0f} s"
                                                  f" before the fault; errors: {self.failures[:3]}")
            if len(self.acked) >= sc.FAILOVER_BEFORE:
                self._request = FaultRequest(self.ctx, self.topic)
        elif self._request.answered:
            self.fault = self._request.result()
            self.after_from = self.sent
        else:
            expect(now - self._started < sc.FAILOVER_WAIT_S, "the harness did not answer the fault request")
        return True

    def _due(self) -> str | None:
        """The next value to send if its time has come."""
        if time.monotonic() < self._next_at:
            return None
        value = sc.failover_value(self.sent)
        self.sent += 1
        self._next_at += sc.FAILOVER_PERIOD_MS / 1000
        return value

    def _wait(self) -> float:
        return min(0.005, max(0.0, self._next_at - time.monotonic()))

    def run(self, send: Callable[[str], None], pump: Callable[[float], None]) -> None:
        """Send the stream with ``send(value)``; ``pump(seconds)`` serves the clients
        (delivery callbacks, consumer reads) for at most that long."""
        while self._step():
            value = self._due()
            if value is not None:
                send(value)
            pump(self._wait())

    async def run_async(self, send: Callable[[str], Awaitable[None]], pump: Callable[[float], Awaitable[None]]) -> None:
        """:meth:`run` for asyncio clients."""
        while self._step():
            value = self._due()
            if value is not None:
                await send(value)
            await pump(self._wait())

    # --- the end ---

    @property
    def last_acked(self) -> int:
        return max(self.acked, default=-1)

    def drained(self) -> bool:
        """The consumer has read the last acknowledged record."""
        return self.last_acked in self._seen

    def drain(self, pump: Callable[[float], None]) -> None:
        """Read until the last acknowledged record arrived (at most ``TIMEOUT``)."""
        deadline = time.monotonic() + TIMEOUT
        while not self.drained() and time.monotonic() < deadline:
            pump(0.2)

    async def drain_async(self, pump: Callable[[float], Awaitable[None]]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not self.drained() and time.monotonic() < deadline:
            await pump(0.2)

    def check(self) -> str:
        assert self.after_from is not None
        return checks.failover(self.acked, self.sent, self.after_from, self.consumed, self.failures, self.fault)

