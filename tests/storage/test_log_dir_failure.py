"""The failure channel of a log directory (Kafka's ``LogDirFailureChannel``): which I/O
errors take a directory offline, and what the log manager does with an offline one.

Errors are real ones from the OS where a test can get them (a full tmpfs, mounted when
the machine allows it), else injected at ``os`` level in the storage layer's own calls.
"""

from __future__ import annotations

import errno
import os

import pytest

from kafkapy.storage import checkpoint, leader_epoch
from kafkapy.storage.checkpoint import RECOVERY_POINT_CHECKPOINT
from kafkapy.storage.errors import StorageError
from kafkapy.storage.log_dir_failure import LogDirFailureChannel
from kafkapy.storage.log_manager import CLEAN_SHUTDOWN_FILE, LogManager
from kafkapy.wire.error_codes import ErrorCode
from tests.disks import mounted_tmpfs

from .batches import batch


def open_manager(path: str) -> LogManager:
    return LogManager.open(path, cluster_id="c", node_id=1, now_ms=0)


def test_channel_queues_a_directory_once():
    channel = LogDirFailureChannel()
    woken: list[str] = []
    channel.on_offline = woken.append
    assert channel.maybe_add_offline_log_dir("/d", "append", OSError(errno.ENOSPC, "full"))
    assert not channel.maybe_add_offline_log_dir("/d", "flush", OSError(errno.EIO, "io"))
    assert channel.has_offline_log_dir("/d") and not channel.has_offline_log_dir("/e")
    assert woken == ["/d"] and channel.take_pending() == ["/d"] and channel.take_pending() == []


def test_checkpoint_enospc_takes_the_directory_offline(tmp_path, monkeypatch):
    manager = open_manager(str(tmp_path))
    log = manager.get_or_create_log("t", 0, now_ms=0)
    log.append(batch(2), leader_epoch=0, now_ms=0)

    def full(path: str, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_atomically", full)
    assert manager.checkpoint() is False
    assert manager.offline and manager.failure_channel.take_pending() == [str(tmp_path)]
    assert manager.handle_log_dir_failure() == [("t", 0)]
    assert log.offline
    with pytest.raises(StorageError) as created:
        manager.get_or_create_log("t", 1, now_ms=0)
    assert created.value.error_code == ErrorCode.KAFKA_STORAGE_ERROR
    monkeypatch.undo()
    assert manager.checkpoint() is False  # an offline directory writes no checkpoint
    manager.close(0)
    assert not os.path.exists(tmp_path / CLEAN_SHUTDOWN_FILE)  # the next start recovers
    reopened = open_manager(str(tmp_path))
    assert not reopened.offline and reopened.get_log("t", 0).log_end_offset == 2  # a restart brings it back
    reopened.close(0)


def test_out_of_descriptors_is_not_a_directory_failure(tmp_path, monkeypatch):
    manager = open_manager(str(tmp_path))
    manager.get_or_create_log("t", 0, now_ms=0)

    def no_descriptors(path: str, text: str) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(checkpoint, "write_atomically", no_descriptors)
    assert manager.checkpoint() is False
    assert not manager.offline and manager.failure_channel.take_pending() == []
    monkeypatch.undo()
    assert manager.checkpoint() is True
    manager.close(0)


def test_leader_epoch_checkpoint_failure_is_reported(tmp_path, monkeypatch):
    manager = open_manager(str(tmp_path))
    log = manager.get_or_create_log("t", 0, now_ms=0)

    def failing(path: str, entries: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(leader_epoch, "write_leader_epoch_checkpoint", failing)
    log.leader_epoch_cache.assign(3, 0)  # a new leadership on a failing disk
    assert manager.offline and log.offline
    monkeypatch.undo()
    manager.close(0)


def test_deleting_a_partition_of_an_offline_directory_frees_its_files(tmp_path, monkeypatch):
    manager = open_manager(str(tmp_path))
    log = manager.get_or_create_log("t", 0, now_ms=0)
    log.append(batch(5, value_size=1000), leader_epoch=0, now_ms=0)
    manager.report_failure("test", OSError(errno.ENOSPC, "No space left on device"))
    manager.handle_log_dir_failure()
    assert manager.delete_log("t", 0, now_ms=0)
    assert not [name for name in os.listdir(tmp_path) if name.startswith("t-0")]  # gone at once, not renamed
    manager.close(0)


@pytest.fixture
def tiny_tmpfs(tmp_path):  # type: ignore[no-untyped-def]
    with mounted_tmpfs(str(tmp_path / "tmpfs"), 1 << 20) as path:
        yield path


def test_full_tmpfs_opens_offline_and_closes_without_leaking(tiny_tmpfs):
    manager = open_manager(tiny_tmpfs)
    log = manager.get_or_create_log("t", 0, now_ms=0)
    with pytest.raises(StorageError):
        for _ in range(1000):
            log.append(batch(1, value_size=20_000), leader_epoch=0, now_ms=0)
    assert manager.offline
    acknowledged = log.log_end_offset
    manager.handle_log_dir_failure()
    manager.close(0)
    held = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")]
    assert not [path for path in held if path.startswith(tiny_tmpfs)]
    # Start again on the full disk: it opens (offline or not), nothing raises.
    reopened = open_manager(tiny_tmpfs)
    opened = reopened.get_log("t", 0)
    assert opened is None and reopened.offline or opened.log_end_offset == acknowledged
    reopened.close(0)
    assert os.path.exists(os.path.join(tiny_tmpfs, RECOVERY_POINT_CHECKPOINT)) or reopened.offline


def test_producer_snapshot_failure_at_roll_takes_the_directory_offline(tmp_path, monkeypatch):
    from kafkapy.storage.producer_state import ProducerStateManager

    manager = open_manager(str(tmp_path))
    log = manager.get_or_create_log("t", 0, now_ms=0)
    log.append(batch(2), leader_epoch=0, now_ms=0)

    def full(self: ProducerStateManager) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ProducerStateManager, "take_snapshot", full)
    with pytest.raises(StorageError) as rolled:
        log.roll(now_ms=0)
    assert rolled.value.error_code == ErrorCode.KAFKA_STORAGE_ERROR
    assert log.offline and manager.offline
    monkeypatch.undo()
    manager.handle_log_dir_failure()
    manager.close(0)
