"""Reusable receive buffers.

Fresh large allocations are expensive here: glibc hands back new pages for big
buffers, and touching a new page costs ~1.6 us (research/ceilings.md), which halved a
server's throughput. So receive buffers come from a pool, in power-of-two size
classes, and go back to it when a request has been handled. The pool keeps at most
``max_idle_bytes`` of idle buffers; beyond that, and for buffers larger than
``max_pooled_size``, released buffers are simply dropped.

Not task-safe beyond trio's cooperative scheduling: one pool per server, used only
from that server's tasks, with no awaits inside.
"""

from __future__ import annotations


class BufferPool:
    """Writable buffers handed out as memoryviews of at least the size asked for."""

    __slots__ = (
        "_free",
        "_idle_bytes",
        "max_idle_bytes",
        "max_pooled_size",
        "min_size",
    )

    def __init__(
        self,
        *,
        min_size: int = 65536,
        max_pooled_size: int = 32 * 1024 * 1024,
        max_idle_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.min_size = _size_class(min_size)
        self.max_pooled_size = max_pooled_size
        self.max_idle_bytes = max_idle_bytes
        self._free: dict[int, list[memoryview]] = {}
        self._idle_bytes = 0

    @property
    def idle_bytes(self) -> int:
        """Bytes held in idle buffers."""
        return self._idle_bytes

    def acquire(self, size: int) -> memoryview:
        """A buffer of at least ``size`` bytes: its size class, or exactly ``size``
        bytes when that class is too large to pool.

        Contents are unspecified: a reused buffer holds what was last read into it.
        """
        cls = _size_class(max(size, self.min_size))
        if cls > self.max_pooled_size:
            return memoryview(bytearray(size))
        free = self._free.get(cls)
        if free:
            self._idle_bytes -= cls
            return free.pop()
        return memoryview(bytearray(cls))

    def release(self, buf: memoryview) -> None:
        """Give back a buffer from :meth:`acquire`; the caller must not use it again."""
        cls = len(buf)
        if cls > self.max_pooled_size or self._idle_bytes + cls > self.max_idle_bytes:
            return
        self._free.setdefault(cls, []).append(buf)
        self._idle_bytes += cls


def _size_class(size: int) -> int:
    """The smallest power of two >= size, so a few buffer sizes serve every request."""
    return 1 << (size - 1).bit_length()
