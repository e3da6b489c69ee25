"""A full or failing disk: the append fails with KAFKA_STORAGE_ERROR, the log goes offline
cleanly, what was acknowledged stays readable and comes back on reopen."""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path

import pytest

from kafkapy.storage.errors import StorageError
from kafkapy.storage.partition_log import PartitionLog
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import scan_batches
from tests.disks import mounted_tmpfs

from .batches import batch
from .conftest import SMALL
from .test_partition_log import read_all_batches


def test_injected_enospc_mid_write(tmp_path, monkeypatch):
    path = str(tmp_path / "t-0")
    log = PartitionLog.open(path, "t", 0, SMALL, now_ms=0)
    for _ in range(5):
        log.append(batch(2, value_size=100), leader_epoch=0, now_ms=0)
    acked = read_all_batches(log)
    real_pwrite = os.pwrite

    def failing_pwrite(fd, data, offset):  # type: ignore[no-untyped-def]
        # Write half, as a filling disk does, then fail the rest.
        if len(data) > 8:
            return real_pwrite(fd, bytes(data)[: len(data) // 2], offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", failing_pwrite)
    with pytest.raises(StorageError) as excinfo:
        log.append(batch(2, value_size=100), leader_epoch=0, now_ms=0)
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    assert excinfo.value.error_code == ErrorCode.KAFKA_STORAGE_ERROR
    assert log.offline and log.log_end_offset == 10
    with pytest.raises(StorageError):
        log.append(batch(1), leader_epoch=0, now_ms=0)
    assert read_all_batches(log) == acked  # still readable
    log.close()
    segment_file = os.path.join(path, "00000000000000000000.log")
    assert scan_batches(Path(segment_file).read_bytes()).error is None  # the half batch was cut
    reopened = PartitionLog.open(path, "t", 0, SMALL, now_ms=0)
    assert read_all_batches(reopened) == acked
    assert reopened.append(batch(1), leader_epoch=0, now_ms=0).first_offset == 10
    reopened.close()


def test_injected_eio_on_flush(tmp_path, monkeypatch):
    log = PartitionLog.open(str(tmp_path / "t-0"), "t", 0, dataclasses.replace(SMALL, flush_messages=1), now_ms=0)

    def failing(fd):  # type: ignore[no-untyped-def]
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(StorageError):
        log.append(batch(1), leader_epoch=0, now_ms=0)
    assert log.offline
    monkeypatch.undo()
    log.close()


@pytest.fixture
def small_tmpfs(tmp_path):  # type: ignore[no-untyped-def]
    with mounted_tmpfs(str(tmp_path / "tmpfs"), 1 << 20) as path:
        yield path


def test_real_full_disk(small_tmpfs):
    config = dataclasses.replace(SMALL, internal_segment_bytes=256 << 10, segment_index_bytes=4096)
    path = os.path.join(small_tmpfs, "t-0")
    log = PartitionLog.open(path, "t", 0, config, now_ms=0)
    acked = 0
    with pytest.raises(StorageError) as excinfo:
        for _ in range(1000):
            info = log.append(batch(1, value_size=20_000), leader_epoch=0, now_ms=0)
            acked = info.last_offset + 1
    assert excinfo.value.error_code == ErrorCode.KAFKA_STORAGE_ERROR
    assert log.offline and acked > 10 and log.log_end_offset == acked
    assert len(read_all_batches(log)) == acked
    log.close()
    reopened = PartitionLog.open(path, "t", 0, config, now_ms=0)
    assert reopened.log_end_offset == acked
    assert [h.base_offset for h, _ in read_all_batches(reopened)] == list(range(acked))
    reopened.close()
