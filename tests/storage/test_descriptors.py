"""File descriptors: one per segment, as Kafka; running out fails one log, not the store.

Descriptors are counted in ``/proc/self/fd``. The tests that run out lower this
process's soft ``RLIMIT_NOFILE`` to a little above what is open, and restore it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import resource
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkapy.storage.errors import StorageError
from kafkapy.storage.log_manager import DESCRIPTOR_HEADROOM, LogManager
from kafkapy.storage.partition_log import PartitionLog
from kafkapy.wire.error_codes import ErrorCode

from .batches import T0, batch
from .conftest import SMALL

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextlib.contextmanager
def open_files_limit(extra: int) -> Iterator[None]:
    """Allow only ``extra`` more descriptors than are open now, for the block."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # A new descriptor takes the lowest free number, below the limit: find the limit
    # that leaves ``extra`` free numbers under it.
    used = {int(n) for n in os.listdir("/proc/self/fd")}
    limit, free = 0, 0
    while free < extra or limit in used:
        free += limit not in used
        limit += 1
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def exhausted() -> Iterator[None]:
    """Take every descriptor left, for the block."""
    taken = []
    try:
        while True:
            try:
                taken.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as exc:
                assert exc.errno == errno.EMFILE
                break
        yield
    finally:
        for fd in taken:
            os.close(fd)


def fill(log: PartitionLog, segments: int) -> None:
    for _ in range(segments - 1):
        log.append(batch(3, value_size=30, timestamp=T0), leader_epoch=0, now_ms=0)
        log.roll(0)
    log.append(batch(3, value_size=30, timestamp=T0), leader_epoch=0, now_ms=0)


def test_one_descriptor_per_segment(tmp_path: Path) -> None:
    before = open_fds()
    manager = LogManager.open(str(tmp_path), cluster_id="c", node_id=1, now_ms=0)
    baseline = open_fds()
    for p in range(20):
        fill(manager.get_or_create_log("t", p, now_ms=0), segments=3)
    assert manager.segment_count == 60
    assert open_fds() - baseline == 60  # the .log of each segment; no index holds one
    manager.close(0)
    assert open_fds() == before
    reopened = LogManager.open(str(tmp_path), cluster_id="c", node_id=1, now_ms=0)
    assert open_fds() - baseline == 60
    reopened.close(0)
    assert open_fds() == before


def test_index_entries_reach_the_file_at_flush_and_truncation_zeroes_them(tmp_path: Path) -> None:
    config = dataclasses.replace(SMALL, index_interval_bytes=1, segment_index_bytes=1024)
    log = PartitionLog.open(str(tmp_path / "t-0"), "t", 0, config, now_ms=0)
    for i in range(6):
        log.append(batch(2, value_size=30, timestamp=T0 + i), leader_epoch=0, now_ms=0)
    index = tmp_path / "t-0" / "00000000000000000000.index"
    timeindex = tmp_path / "t-0" / "00000000000000000000.timeindex"
    # Entries are written behind; the file is preallocated when the first of them is.
    assert index.read_bytes() == b""
    log.flush(0)
    assert len(index.read_bytes()) == 1024 and len(timeindex.read_bytes()) == 1020
    entries = [e for e in struct.iter_unpack(">ii", index.read_bytes()) if e != (0, 0)]
    assert [rel for rel, _ in entries] == [3, 5, 7, 9, 11]  # last offsets of batches 2..6
    times = [e for e in struct.iter_unpack(">qi", timeindex.read_bytes()[:1020]) if e != (0, 0)]
    assert times == [(T0 + i + 1, 2 * i + 1) for i in range(1, 6)]  # max timestamp of each batch
    log.truncate_to(6, now_ms=0)  # a follower diverged: batches from offset 6 go
    # The dropped entries are gone from the file at once, before any flush.
    entries = [e for e in struct.iter_unpack(">ii", index.read_bytes()) if e != (0, 0)]
    assert [rel for rel, _ in entries] == [3, 5]
    log.close()
    assert len(index.read_bytes()) == 2 * 8  # trimmed to its entries


def test_out_of_descriptors_fails_one_log_and_leaves_nothing_open(tmp_path: Path) -> None:
    manager = LogManager.open(str(tmp_path), cluster_id="c", node_id=1, now_ms=0)
    opened: list[int] = []
    with open_files_limit(extra=30):
        with pytest.raises(StorageError) as failed:
            for p in range(100):
                manager.get_or_create_log("t", p, now_ms=0)
                opened.append(p)
        assert failed.value.error_code == ErrorCode.KAFKA_STORAGE_ERROR
        assert "out of file descriptors" in str(failed.value)
        assert isinstance(failed.value.__cause__, OSError) and failed.value.__cause__.errno == errno.EMFILE
        assert 20 < len(opened) <= 30  # one descriptor each
        # Nothing of the failed log stayed open: every remaining descriptor is a segment.
        assert sorted(tp[1] for tp in manager.logs) == opened
        # The store goes on: the open logs take appends; a checkpoint that cannot be
        # written is reported, not raised, and the previous file stays whole.
        assert manager.checkpoint()
        start_offsets = (tmp_path / "log-start-offset-checkpoint").read_text()
        log0 = manager.logs[("t", 0)]
        fill(log0, segments=1)
        log0.update_high_watermark(log0.log_end_offset)
        log0.delete_records_before(1, now_ms=0)
        with exhausted():
            assert manager.checkpoint() is False
        assert (tmp_path / "log-start-offset-checkpoint").read_text() == start_offsets
        assert manager.checkpoint()
        assert "t 0 1\n" in (tmp_path / "log-start-offset-checkpoint").read_text()
        # Descriptors come back (a topic was deleted and its files closed): the same
        # partition opens.
        for p in opened[:5]:
            manager.delete_log("t", p, now_ms=0)
        manager.delete_pending(now_ms=10**12)
        failed_partition = len(opened)
        log = manager.get_or_create_log("t", failed_partition, now_ms=0)
        fill(log, segments=2)
        assert manager.checkpoint()
    manager.close(0)
    assert (tmp_path / ".kafka_cleanshutdown").exists()


def test_a_log_that_cannot_open_at_start_is_opened_when_asked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manager = LogManager.open(str(tmp_path), cluster_id="c", node_id=1, now_ms=0)
    for p in range(40):
        fill(manager.get_or_create_log("t", p, now_ms=0), segments=2)
    last = manager.logs[("t", 39)]
    last.update_high_watermark(last.log_end_offset)
    assert last.delete_records_before(2, now_ms=0) == (ErrorCode.NONE, 2)
    manager.close(0)
    with caplog.at_level(logging.WARNING, logger="kafkapy.storage.log_manager"):
        with open_files_limit(extra=50):
            reopened = LogManager.open(str(tmp_path), cluster_id="c", node_id=1, now_ms=0)
            assert 10 < len(reopened.logs) < 40
            assert reopened.checkpoint()  # needs a few descriptors: closing nothing yet
    assert "Could not open the log of t-" in caplog.text
    # The limit is low for the 80 segments on disk: said once, at start.
    [warning] = [r for r in caplog.records if "open files limit" in r.getMessage()]
    assert "40 logs" in warning.getMessage() and f"about {DESCRIPTOR_HEADROOM} more" in warning.getMessage()
    log = reopened.get_or_create_log("t", 39, now_ms=0)  # descriptors are back
    assert log.log_start_offset == 2 and log.log_end_offset == 6  # from the checkpoints
    reopened.close(0)
    # Every log opens again, from what was checkpointed.
    again = LogManager.open(str(tmp_path), cluster_id="c", node_id=1, now_ms=0)
    assert len(again.logs) == 40 and again.logs[("t", 39)].log_start_offset == 2
    again.close(0)


def test_no_warning_when_the_limit_is_ample(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manager = LogManager.open(str(tmp_path), cluster_id="c", node_id=1, now_ms=0)
    fill(manager.get_or_create_log("t", 0, now_ms=0), segments=2)
    manager.close(0)
    with caplog.at_level(logging.WARNING, logger="kafkapy.storage.log_manager"):
        with open_files_limit(extra=DESCRIPTOR_HEADROOM + 100):
            LogManager.open(str(tmp_path), cluster_id="c", node_id=1, now_ms=0).close(0)
    assert "open files limit" not in caplog.text


def test_leader_epoch_checkpoint_written_later_when_out_of_descriptors(tmp_path: Path) -> None:
    manager = LogManager.open(str(tmp_path), cluster_id="c", node_id=1, now_ms=0)
    log = manager.get_or_create_log("t", 0, now_ms=0)
    checkpoint = tmp_path / "t-0" / "leader-epoch-checkpoint"
    with open_files_limit(extra=5), exhausted():
        log.leader_epoch_cache.assign(3, 0)  # a new leadership, while no descriptor is left
    assert log.leader_epoch_cache.unflushed
    assert not checkpoint.exists() or "3 0" not in checkpoint.read_text()
    log.flush(0)
    assert checkpoint.read_text().splitlines()[2:] == ["3 0"]
    manager.close(0)
