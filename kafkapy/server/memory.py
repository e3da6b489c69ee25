"""``queued.max.request.bytes``: one budget for the bytes of requests read but not
yet handled, shared by every connection of a server.

Kafka's ``SimpleMemoryPool`` (org.apache.kafka.common.memory), as ``SocketServer``
builds it: non-strict, so a reservation succeeds while any budget is left, even if it
takes the pool below zero; the bound is exceeded by at most one request, and a request
larger than what is left is never starved. When the budget is spent, connections stop
reading (Kafka's ``Selector`` mutes every channel while the pool is out of memory) and
resume when a handled request gives its bytes back; nothing fails.

What a connection reserves here:

* its receive buffer, while it holds one (frames that fit in it live there);
* for a frame larger than that buffer, the frame's whole size from its size header,
  as Kafka's ``NetworkReceive`` does (``memoryPool.tryAllocate(receiveSize)``), so a
  frame that got its reservation can always be completed. The buffer that holds it
  still grows only as its bytes arrive (see :mod:`kafkapy.server.connection`).

A capacity of -1 or 0 (Kafka's default, ``MemoryPool.NONE``) is unbounded; the pool
still counts, which the tests and the hostile-connections benchmark read.

Not task-safe beyond trio's cooperative scheduling: used only from one trio run.
"""

from __future__ import annotations

import trio


class MemoryPool:
    """A byte budget with back-pressure (Kafka's non-strict ``SimpleMemoryPool``).

    Attributes:
        capacity: the budget in bytes; <= 0 for unbounded.
        reserved: bytes reserved now (may exceed ``capacity`` by one reservation).
        peak_reserved: the most ever reserved at once.
        waits: how many times a reservation had to wait for memory.
    """

    __slots__ = ("_available_event", "capacity", "peak_reserved", "reserved", "waits")

    def __init__(self, capacity: int = -1) -> None:
        self.capacity = capacity
        self.reserved = 0
        self.peak_reserved = 0
        self.waits = 0
        self._available_event: trio.Event | None = None

    @property
    def bounded(self) -> bool:
        return self.capacity > 0

    @property
    def out_of_memory(self) -> bool:
        """Kafka's ``isOutOfMemory``: nothing left to hand out."""
        return self.capacity > 0 and self.reserved >= self.capacity

    def try_reserve(self, size: int) -> bool:
        """Reserve ``size`` bytes if any budget is left (non-strict)."""
        if self.capacity > 0 and self.reserved >= self.capacity:
            return False
        self.reserved += size
        if self.reserved > self.peak_reserved:
            self.peak_reserved = self.reserved
        return True

    async def reserve(self, size: int) -> None:
        """Reserve ``size`` bytes, waiting (without reading) until there is budget."""
        if self.try_reserve(size):
            return
        self.waits += 1
        while not self.try_reserve(size):
            if self._available_event is None:
                self._available_event = trio.Event()
            await self._available_event.wait()

    def release(self, size: int) -> None:
        """Give back ``size`` reserved bytes; wakes the readers waiting for budget."""
        self.reserved -= size
        event = self._available_event
        if event is not None and not self.out_of_memory:
            self._available_event = None
            event.set()
