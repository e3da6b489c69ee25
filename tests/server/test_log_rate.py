"""The rate limiter of per-connection log lines (kafkapy.log_rate)."""

from __future__ import annotations

import logging

import pytest

from kafkapy.log_rate import RateLimitedLog


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.lograte"]


def test_first_burst_logged_then_one_summary(caplog: pytest.LogCaptureFixture, clock: _Clock) -> None:
    log = RateLimitedLog(logging.getLogger("test.lograte"), burst=3, interval=10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.lograte"):
        results = [log.warning("bad frame", "bad frame %d", i) for i in range(50_000)]
        assert results[:3] == [True, True, True] and not any(results[3:])
        assert log.suppressed("bad frame") == 49_997
        assert _messages(caplog) == ["bad frame 0", "bad frame 1", "bad frame 2"]
        clock.now += 10
        log.warning("bad frame", "bad frame %d", 50_000)
    assert _messages(caplog)[3:] == [
        "suppressed 49997 similar warnings in the last 10 s (bad frame)",
        "bad frame 50000",
    ]


def test_kinds_are_counted_apart(caplog: pytest.LogCaptureFixture, clock: _Clock) -> None:
    log = RateLimitedLog(logging.getLogger("test.lograte"), burst=1, interval=10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.lograte"):
        log.warning("a", "a1")
        log.warning("a", "a2")
        log.warning("b", "b1")
    assert _messages(caplog) == ["a1", "b1"]
    assert log.suppressed("a") == 1 and log.suppressed("b") == 0


def test_flush_reports_a_burst_that_stopped(caplog: pytest.LogCaptureFixture, clock: _Clock) -> None:
    log = RateLimitedLog(logging.getLogger("test.lograte"), burst=1, interval=5, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.lograte"):
        for _ in range(4):
            log.info("rejected", "rejected")
        log.flush()  # the window is not over: nothing yet
        assert _messages(caplog) == ["rejected"]
        clock.now += 6
        log.flush()
        log.flush()  # reported once
    assert _messages(caplog) == ["rejected", "suppressed 3 similar lines in the last 6 s (rejected)"]


def test_disabled_level_costs_nothing(caplog: pytest.LogCaptureFixture, clock: _Clock) -> None:
    log = RateLimitedLog(logging.getLogger("test.lograte"), burst=1, interval=5, clock=clock)
    with caplog.at_level(logging.ERROR, logger="test.lograte"):
        assert not log.warning("x", "hidden")
    assert log.suppressed("x") == 0
