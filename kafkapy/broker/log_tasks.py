"""The periodic work on the logs, driven by the broker (Kafka's ``LogManager`` scheduler).

The storage layer is clock-free; this task gives it the time: retention and removal
of deleted files every ``log.retention.check.interval.ms``, compaction every
``log.cleaner.backoff.ms`` (when ``log.cleaner.enable``), flushes by ``flush.ms``
every ``log.flush.scheduler.interval.ms`` (Kafka's default: never), and the offset
checkpoints every ``log.flush.offset.checkpoint.interval.ms``. Each runs on the trio
thread, between requests, so it never races an append.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from kafkapy.config import LONG_MAX, BrokerConfig
from kafkapy.storage.errors import StorageError

if TYPE_CHECKING:
    from kafkapy.storage.log_manager import LogManager

log = logging.getLogger(__name__)


async def run_log_tasks(logs: LogManager, config: BrokerConfig, clock_ms: Callable[[], int], *,
                        retention: Callable[[int], object] | None = None) -> None:
    """Run the periodic log tasks until cancelled.

    Args:
        retention: runs retention instead of ``logs.cleanup_logs`` (the replica manager's,
            which tells fetchers of the log starts it moved).
    """
    flush_interval = config.log_flush_scheduler_interval_ms
    tasks: list[tuple[int, Callable[[int], object], str]] = [
        (config.log_retention_check_interval_ms, retention or logs.cleanup_logs, "retention"),
        (config.log_flush_offset_checkpoint_interval_ms, lambda now: logs.checkpoint(), "checkpoint"),
    ]
    if config.log_cleaner_enable:
        tasks.append((config.log_cleaner_backoff_ms, logs.clean_logs, "cleaner"))
    if flush_interval < LONG_MAX:
        tasks.append((flush_interval, logs.flush_dirty_logs, "flush"))
    async with trio.open_nursery() as nursery:
        for interval_ms, action, name in tasks:
            if interval_ms > 0:
                nursery.start_soon(_every, interval_ms, action, name, clock_ms)


async def _every(interval_ms: int, action: Callable[[int], object], name: str, clock_ms: Callable[[], int]) -> None:
    while True:
        await trio.sleep(interval_ms / 1000)
        try:
            action(clock_ms())
        except StorageError as exc:
            # A disk error: the log's directory went offline through its failure
            # channel (the replica manager handles it); one line, not a trace.
            log.error("Log task %s failed: %s", name, exc)
        except Exception:  # one failing round must not stop the schedule
            log.exception("Log task %s failed", name)
