"""Rate-limited logging for lines that a peer can cause at will.

A client sending garbage can make the broker log one warning per frame; 50,000 bad
frames once wrote 50,000 WARNING lines. Lines of that kind go through a
:class:`RateLimitedLog`: per kind of event, the first ``burst`` lines of each
``interval`` are logged as usual, the rest are counted, and once the interval is
over one line says how many were left out::

    suppressed 49990 similar warnings in the last 60 s (invalid request size)

Kafka has no such limiter (its SocketServer logs bad sizes at WARN each time); this
follows the kernel's ``printk_ratelimit`` and log4j's BurstFilter.

The summary comes with the next line of the same kind, or from :meth:`flush`, which
a periodic task calls so that a burst that stops is still reported.

Not thread-safe: one instance per trio run (or per thread), as a logger's callers are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0
    level: int = logging.WARNING


class RateLimitedLog:
    """Logs at most ``burst`` lines per kind of event per ``interval`` seconds.

    Args:
        logger: where the lines go.
        burst: lines of one kind logged per interval before suppressing.
        interval: seconds in a window.
        clock: monotonic seconds; a test passes its own.
    """

    __slots__ = ("_clock", "_windows", "burst", "interval", "logger")

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 10,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or interval <= 0:
            raise ValueError("burst must be at least 1 and interval positive")
        self.logger = logger
        self.burst = burst
        self.interval = interval
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def log(self, kind: str, level: int, msg: str, *args: object, exc_info: object = None) -> bool:
        """Log ``msg % args`` unless ``kind`` is over its burst; True if it was logged.

        ``kind`` groups similar lines (one counter each), e.g. ``"invalid request size"``.
        """
        if not self.logger.isEnabledFor(level):
            return False
        now = self._clock()
        window = self._windows.get(kind)
        if window is None or now - window.start >= self.interval:
            if window is not None:
                self._summarise(kind, window, now)
            window = self._windows[kind] = _Window(now, level=level)
        if window.logged < self.burst:
            window.logged += 1
            self.logger.log(level, msg, *args, exc_info=exc_info)  # type: ignore[arg-type]
            return True
        window.suppressed += 1
        return False

    def warning(self, kind: str, msg: str, *args: object, exc_info: object = None) -> bool:
        return self.log(kind, logging.WARNING, msg, *args, exc_info=exc_info)

    def info(self, kind: str, msg: str, *args: object) -> bool:
        return self.log(kind, logging.INFO, msg, *args)

    def error(self, kind: str, msg: str, *args: object, exc_info: object = None) -> bool:
        return self.log(kind, logging.ERROR, msg, *args, exc_info=exc_info)

    def flush(self) -> None:
        """Report and close every window whose interval is over."""
        now = self._clock()
        for kind, window in list(self._windows.items()):
            if now - window.start >= self.interval:
                self._summarise(kind, window, now)
                del self._windows[kind]

    def suppressed(self, kind: str) -> int:
        """Lines of ``kind`` suppressed so far in its current window."""
        window = self._windows.get(kind)
        return 0 if window is None else window.suppressed

    def _summarise(self, kind: str, window: _Window, now: float) -> None:
        if window.suppressed:
            self.logger.log(
                window.level,
                "suppressed %d similar %s in the last %.0f s (%s)",
                window.suppressed,
                "warnings" if window.level >= logging.WARNING else "lines",
                now - window.start,
                kind,
            )
