"""The data directory: meta.properties, checkpoints, clean shutdown, deletion, tasks."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from kafkapy.storage.checkpoint import (
    read_leader_epoch_checkpoint,
    read_offset_checkpoint,
    write_offset_checkpoint,
)
from kafkapy.storage.errors import StorageError
from kafkapy.storage.log_manager import CLEAN_SHUTDOWN_FILE, LogManager
from kafkapy.wire.error_codes import ErrorCode

from .batches import T0, batch
from .conftest import SMALL


def open_manager(path, **kwargs):  # type: ignore[no-untyped-def]
    return LogManager.open(str(path), cluster_id="c1", node_id=1, now_ms=0, config_for=lambda t: SMALL, **kwargs)


def test_meta_properties_and_checkpoint_files(tmp_path):
    manager = open_manager(tmp_path)
    log = manager.get_or_create_log("orders", 3, now_ms=0)
    for _ in range(4):
        log.append(batch(2), leader_epoch=5, now_ms=0)
    log.update_high_watermark(6)
    manager.close(now_ms=1)
    meta = Path(tmp_path / "meta.properties").read_text().splitlines()
    assert meta[0].startswith("#")
    props = dict(line.split("=", 1) for line in meta if not line.startswith("#"))
    assert props["version"] == "1" and props["cluster.id"] == "c1" and props["node.id"] == "1"
    assert len(props["directory.id"]) == 22
    assert Path(tmp_path / "recovery-point-offset-checkpoint").read_text() == "0\n1\norders 3 8\n"
    assert read_offset_checkpoint(str(tmp_path / "replication-offset-checkpoint")) == {("orders", 3): 6}
    assert read_offset_checkpoint(str(tmp_path / "log-start-offset-checkpoint")) == {("orders", 3): 0}
    assert read_leader_epoch_checkpoint(str(tmp_path / "orders-3" / "leader-epoch-checkpoint")) == [(5, 0)]
    assert (tmp_path / CLEAN_SHUTDOWN_FILE).exists()
    reopened = open_manager(tmp_path)
    assert not (tmp_path / CLEAN_SHUTDOWN_FILE).exists()  # a crash from now on is detected
    log = reopened.get_log("orders", 3)
    assert (log.log_end_offset, log.high_watermark, log.recovery_point) == (8, 6, 8)
    reopened.close(now_ms=2)
    with pytest.raises(StorageError) as excinfo:
        LogManager.open(str(tmp_path), cluster_id="other", node_id=1, now_ms=0)
    assert excinfo.value.error_code == ErrorCode.INCONSISTENT_CLUSTER_ID


def test_unclean_restart_recovers_from_the_checkpointed_recovery_point(tmp_path):
    manager = open_manager(tmp_path)
    log = manager.get_or_create_log("t", 0, now_ms=0)
    for _ in range(50):
        log.append(batch(3, value_size=40), leader_epoch=0, now_ms=0)
    log.flush(now_ms=0)
    manager.checkpoint()
    for _ in range(5):
        log.append(batch(3, value_size=40), leader_epoch=0, now_ms=0)
    # no close: the process died
    reopened = open_manager(tmp_path)
    assert reopened.get_log("t", 0).log_end_offset == 165
    assert reopened.get_log("t", 0).recovery_point == 150


def test_delete_log_renames_then_removes(tmp_path):
    manager = open_manager(tmp_path)
    log = manager.get_or_create_log("gone", 0, now_ms=0)
    log.append(batch(1), leader_epoch=0, now_ms=0)
    assert manager.delete_log("gone", 0, now_ms=0)
    (renamed,) = [n for n in os.listdir(tmp_path) if n.startswith("gone-0.")]
    assert renamed.endswith("-delete") and len(renamed) == len("gone-0.") + 32 + len("-delete")
    assert manager.get_log("gone", 0) is None
    manager.delete_pending(now_ms=SMALL.file_delete_delay_ms)
    assert not any(n.startswith("gone-0") for n in os.listdir(tmp_path))


def test_periodic_tasks(tmp_path):
    manager = open_manager(tmp_path)
    manager.config_for = lambda t: dataclasses.replace(SMALL, retention_ms=1000, flush_ms=50)
    log = manager.get_or_create_log("t", 0, now_ms=0)
    for i in range(60):
        log.append(batch(3, value_size=40, timestamp=T0 + i), leader_epoch=0, now_ms=0)
    log.update_high_watermark(log.log_end_offset)
    assert manager.flush_dirty_logs(now_ms=100) == 1 and log.recovery_point == 180
    assert manager.cleanup_logs(now_ms=T0 + 10_000) > 0
    assert log.log_start_offset == log.log_end_offset == 180
    assert any(n.endswith(".deleted") for n in os.listdir(log.directory))
    manager.cleanup_logs(now_ms=T0 + 10_000 + SMALL.file_delete_delay_ms)
    assert not any(n.endswith(".deleted") for n in os.listdir(log.directory))


def test_idle_producers_expire(tmp_path):
    manager = open_manager(tmp_path, producer_id_expiration_ms=1000)
    log = manager.get_or_create_log("t", 0, now_ms=0)
    log.append(batch(1, producer_id=3, producer_epoch=0, base_sequence=0, timestamp=T0), leader_epoch=0, now_ms=T0)
    assert manager.remove_expired_producers(now_ms=T0 + 999) == 0
    assert manager.remove_expired_producers(now_ms=T0 + 1000) == 1
    assert 3 not in log.producer_state.producers


def test_memory_manager_has_no_files(tmp_path):
    manager = LogManager.open(None, cluster_id="c", node_id=1, now_ms=0)
    log = manager.get_or_create_log("t", 0, now_ms=0)
    assert log.append(batch(2), leader_epoch=0, now_ms=0).last_offset == 1
    manager.checkpoint()
    assert manager.delete_log("t", 0, now_ms=0)
    manager.close(now_ms=0)


def test_checkpoint_rejects_malformed_files(tmp_path):
    path = str(tmp_path / "cp")
    write_offset_checkpoint(path, {("a", 0): 5, ("b", 1): 7})
    assert read_offset_checkpoint(path) == {("a", 0): 5, ("b", 1): 7}
    Path(path).write_text("0\n3\na 0 5\n")
    with pytest.raises(StorageError):
        read_offset_checkpoint(path)
    Path(path).write_text("1\n0\n")
    with pytest.raises(StorageError):
        read_offset_checkpoint(path)


def test_the_metadata_log_in_the_data_dir_is_left_alone(tmp_path):
    metadata = tmp_path / "__cluster_metadata-0"
    metadata.mkdir()
    (metadata / "00000000000000000000.log").write_bytes(batch(3))
    (metadata / "quorum-state").write_text("{}")
    manager = open_manager(tmp_path)
    manager.get_or_create_log("orders", 0, now_ms=0)
    assert list(manager.logs) == [("orders", 0)]
    manager.close(now_ms=1)
    assert sorted(p.name for p in metadata.iterdir()) == ["00000000000000000000.log", "quorum-state"]
    assert "__cluster_metadata" not in Path(tmp_path / "recovery-point-offset-checkpoint").read_text()
