"""What the tests that run a kafkapy ``Cluster`` share: timers short enough that lag,
fencing and elections happen within a test, and a polling wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Short timers so that a stopped follower leaves the ISR, and a killed node is fenced
#: and loses its leaderships, within seconds.
FAST_FAILOVER = {
    "replica.lag.time.max.ms": "1500",
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "300",
}


def until(predicate: Callable[[], T], timeout_s: float = 30, interval_s: float = 0.1) -> T:
    """``predicate()`` once it is truthy, or its last (falsy) value at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)
