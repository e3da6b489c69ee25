"""Opening a data directory of many logs, on several threads (num.recovery.threads.per.data.dir).

Each log is opened as it would be alone: after a clean close from its files, after a
crash from the recovery point on (segments past it recovered, their indexes rebuilt
without being read). The logs hold different amounts: empty ones, one-segment ones and
several-segment ones, so the threads finish them in no set order.
"""

from __future__ import annotations

import os
import shutil

import pytest

from kafkapy.storage.checkpoint import LEADER_EPOCH_CHECKPOINT, read_leader_epoch_checkpoint
from kafkapy.storage.log_manager import CLEAN_SHUTDOWN_FILE, LogManager

from .batches import batch
from .conftest import SMALL

LOGS = 120


def open_manager(path, threads: int) -> LogManager:  # type: ignore[no-untyped-def]
    return LogManager.open(str(path), cluster_id="c1", node_id=1, now_ms=0, config_for=lambda t: SMALL,
                           recovery_threads=threads)


def fill(manager: LogManager) -> None:
    """Log ``i`` of topic ``t<i % 3>`` holds ``i % 7`` batches of 3 records at leader epoch ``i % 4``."""
    for i in range(LOGS):
        log = manager.get_or_create_log(f"t{i % 3}", i, now_ms=0)
        for _ in range(i % 7 * (1 + i % 5)):  # up to 30 batches of ~700 bytes: several 4 KiB segments
            log.append(batch(3, value_size=200), leader_epoch=i % 4, now_ms=0)
        log.update_high_watermark(log.log_end_offset)


def expected_end(i: int) -> int:
    return 3 * (i % 7 * (1 + i % 5))


@pytest.mark.parametrize("threads", [1, 4])
def test_clean_restart_opens_every_log_as_it_was(tmp_path, threads):
    manager = open_manager(tmp_path, threads)
    fill(manager)
    manager.close(now_ms=1)
    reopened = open_manager(tmp_path, threads)
    assert len(reopened.logs) == LOGS
    for i in range(LOGS):
        log = reopened.get_log(f"t{i % 3}", i)
        assert log.log_end_offset == log.high_watermark == log.recovery_point == expected_end(i)
        assert log.leader_epoch_cache.entries == ([(i % 4, 0)] if expected_end(i) else [])
    assert any(len(log.segments) > 2 for log in reopened.logs.values())
    reopened.close(now_ms=2)


def test_after_a_crash_threads_recover_what_one_thread_does(tmp_path):
    live = tmp_path / "live"
    manager = open_manager(live, 1)
    fill(manager)
    for log in manager.logs.values():
        log.flush(now_ms=0)
    manager.checkpoint()  # recovery points cover what is there now
    for i, log in enumerate(manager.logs.values()):
        if i % 2:  # half the logs get more past their recovery point
            for _ in range(5):
                log.append(batch(3, value_size=200), leader_epoch=9, now_ms=0)
    # The process dies here: a copy of the directory is what a restart finds (indexes
    # at their preallocated size, no clean-shutdown marker, no producer snapshots).
    crashed = [tmp_path / "one", tmp_path / "four"]
    for copy in crashed:
        shutil.copytree(live, copy)
    assert not (crashed[0] / CLEAN_SHUTDOWN_FILE).exists()
    # Active indexes with entries written are not trimmed: the zero tail is there.
    assert any(os.path.getsize(p) == SMALL.segment_index_bytes for p in crashed[0].glob("*/*.index"))
    one, four = open_manager(crashed[0], 1), open_manager(crashed[1], 4)
    assert len(one.logs) == len(four.logs) == LOGS
    for tp, log in manager.logs.items():
        for reopened in (one, four):
            got = reopened.get_log(*tp)
            assert got.log_end_offset == log.log_end_offset, tp
            assert got.leader_epoch_cache.entries == log.leader_epoch_cache.entries, tp
            assert [s.base_offset for s in got.segments] == [s.base_offset for s in log.segments], tp
            # Every batch is found where it is, through the rebuilt (or loaded) index.
            for offset in range(0, got.log_end_offset, 3):
                read, expected = got.read(offset, 1), log.read(offset, 1)
                assert read.size > 0 and read.fetch_offset_metadata == expected.fetch_offset_metadata, (tp, offset)
    one.close(now_ms=1)
    four.close(now_ms=1)


@pytest.mark.parametrize("threads", [1, 4])
def test_clean_close_writes_every_deferred_leader_epoch_checkpoint(tmp_path, threads):
    """A leader that takes a new epoch at its log end leaves the checkpoint to the next
    flush; a clean close writes those whose new epoch got batches all at once, each
    whole, with no ``.tmp`` left, and leaves alone those of idle partitions, whose new
    entry the next open would drop."""
    manager = open_manager(tmp_path, threads)
    fill(manager)
    manager.close(now_ms=1)
    restarted = open_manager(tmp_path, threads)
    before = {tp: list(log.leader_epoch_cache.entries) for tp, log in restarted.logs.items()}
    for i, log in enumerate(restarted.logs.values()):
        log.leader_epoch_cache.assign(10 + i, log.log_end_offset, flush=False)
        if i % 2:
            log.append(batch(1), leader_epoch=10 + i, now_ms=1)
    expected = {tp: log.leader_epoch_cache.entries if i % 2 else before[tp]
                for i, (tp, log) in enumerate(restarted.logs.items())}
    restarted.close(now_ms=2)
    assert (tmp_path / CLEAN_SHUTDOWN_FILE).exists()
    assert not [p for p in tmp_path.glob("*/*") if p.name.endswith(".tmp")]
    written = {tp: read_leader_epoch_checkpoint(os.path.join(log.directory, LEADER_EPOCH_CHECKPOINT)) or []
               for tp, log in restarted.logs.items()}
    assert written == expected
    assert sum(bool(entries) and entries[-1][0] >= 10 for entries in written.values()) == LOGS // 2
    reopened = open_manager(tmp_path, threads)
    assert {tp: log.leader_epoch_cache.entries for tp, log in reopened.logs.items()} == expected
    reopened.close(now_ms=3)


def test_a_deferred_leader_epoch_checkpoint_that_cannot_be_written_at_close_fails_its_log(tmp_path):
    """When the checkpoints cannot be written at once, each log writes its own: the one
    whose directory is gone fails alone and the shutdown is not marked clean."""
    manager = open_manager(tmp_path, 2)
    fill(manager)
    for log in manager.logs.values():
        log.leader_epoch_cache.assign(20, log.log_end_offset, flush=False)
        log.append(batch(1), leader_epoch=20, now_ms=0)
    gone = manager.get_log("t0", 0)
    shutil.rmtree(gone.directory)
    manager.close(now_ms=1)
    assert not (tmp_path / CLEAN_SHUTDOWN_FILE).exists()
    assert gone.offline
    others = [log for log in manager.logs.values() if log is not gone]
    assert not any(log.offline for log in others)
    for log in others:
        path = os.path.join(log.directory, LEADER_EPOCH_CHECKPOINT)
        assert read_leader_epoch_checkpoint(path)[-1] == (20, log.log_end_offset - 1), log
