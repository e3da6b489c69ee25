"""Idempotence, transactions and producer-state snapshots."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from crc32c import crc32c

from kafkapy.storage.partition_log import FetchIsolation, PartitionLog
from kafkapy.storage.producer_state import ProducerStateManager
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import build_end_txn_marker, scan_batches

from .batches import batch, region_bytes
from .conftest import SMALL


def produce(log, pid=7, epoch=0, seq=0, n=2, txn=False):  # type: ignore[no-untyped-def]
    return log.append(
        batch(n, producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=txn), leader_epoch=0, now_ms=0
    )


def test_duplicate_returns_original_offsets(open_log):
    log = open_log()
    first = produce(log, seq=0)
    produce(log, seq=2)
    again = produce(log, seq=0)
    assert again.duplicate and (again.first_offset, again.last_offset) == (first.first_offset, first.last_offset)
    assert log.log_end_offset == 4


def test_only_last_five_batches_are_deduplicated(open_log):
    log = open_log()
    for i in range(6):
        produce(log, seq=2 * i)
    assert produce(log, seq=2).duplicate
    assert produce(log, seq=0).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_sequence_and_epoch_rules(open_log):
    log = open_log()
    produce(log, seq=0)
    assert produce(log, seq=5).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(log, epoch=1, seq=3).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(log, epoch=1, seq=0).error_code == ErrorCode.NONE
    assert produce(log, epoch=0, seq=2).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert produce(log, pid=8, seq=42).error_code == ErrorCode.NONE  # unknown producer: any sequence
    assert log.log_end_offset == 6


def test_sequence_wraps_at_int32_max(open_log):
    log = open_log()
    produce(log, seq=2**31 - 2, n=1)
    assert produce(log, seq=2**31 - 1, n=1).error_code == ErrorCode.NONE
    assert produce(log, seq=0, n=1).error_code == ErrorCode.NONE


def marker(log, pid=7, epoch=0, commit=True, coordinator_epoch=0):  # type: ignore[no-untyped-def]
    return log.append_end_txn_marker(pid, epoch, coordinator_epoch, commit, leader_epoch=0, now_ms=0)


def test_transactions_last_stable_offset_and_aborted_list(open_log):
    log = open_log()
    produce(log, pid=1, n=2)  # 0-1 plain idempotent
    produce(log, pid=2, txn=True)  # 2-3 txn of 2
    produce(log, pid=3, txn=True)  # 4-5 txn of 3
    assert produce(log, pid=2, seq=2, txn=False).error_code == ErrorCode.INVALID_TXN_STATE
    log.update_high_watermark(log.log_end_offset)
    assert log.last_stable_offset == 2
    assert marker(log, pid=2, commit=False).first_offset == 6  # abort 2
    log.update_high_watermark(log.log_end_offset)
    assert log.last_stable_offset == 4
    assert marker(log, pid=3, commit=True).error_code == ErrorCode.NONE
    assert log.last_stable_offset == 4  # marker 7 is not below the HW yet
    log.update_high_watermark(log.log_end_offset)
    assert log.last_stable_offset == 8
    info = log.read(0, 1 << 20, isolation=FetchIsolation.TXN_COMMITTED)
    assert [(t.producer_id, t.first_offset, t.last_offset) for t in info.aborted_transactions] == [(2, 2, 6)]
    assert marker(log, pid=3, commit=True, coordinator_epoch=-1).error_code == ErrorCode.TRANSACTION_COORDINATOR_FENCED
    assert marker(log, pid=3, epoch=-1).error_code == ErrorCode.INVALID_PRODUCER_EPOCH


def test_read_committed_stops_at_open_transaction(open_log):
    log = open_log()
    produce(log, pid=1, n=2)
    produce(log, pid=2, txn=True)
    produce(log, pid=1, seq=2)
    log.update_high_watermark(log.log_end_offset)
    info = log.read(0, 1 << 20, isolation=FetchIsolation.TXN_COMMITTED)
    assert [h.base_offset for _, h in scan_batches(region_bytes(info.records)).batches] == [0]


def test_producer_state_survives_reopen(backend, tmp_path):
    if backend == "memory":
        return
    path = os.path.join(tmp_path, "t-0")
    log = PartitionLog.open(path, "t", 0, SMALL, now_ms=0)
    for i in range(30):  # several rolls, so snapshots are written
        produce(log, seq=2 * i)
    produce(log, pid=9, txn=True)
    log.close()
    for clean in (True, False):
        log = PartitionLog.open(path, "t", 0, SMALL, now_ms=0, clean_shutdown=clean)
        assert produce(log, seq=58).duplicate
        assert produce(log, seq=70).error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert log.producer_state.ongoing_txns == {60: 9}
        log.close()


def test_follower_append_rebuilds_state_without_checks(open_log):
    log = open_log()
    data = bytearray()
    for base, seq in ((0, 0), (2, 2)):
        b = batch(2, producer_id=4, producer_epoch=0, base_sequence=seq)
        struct.pack_into(">q", b, 0, base)
        data += b
    data += build_end_txn_marker(5, 0, 0, False, timestamp=0, base_offset=4)
    info = log.append_as_follower(memoryview(data), now_ms=0)
    assert (info.first_offset, info.last_offset) == (0, 4) and log.log_end_offset == 5
    assert log.producer_state.producers[4].last_seq == 3
    assert produce(log, pid=4, seq=2).duplicate
    bad = batch(1)
    assert log.append_as_follower(memoryview(bad), now_ms=0).error_code == ErrorCode.CORRUPT_MESSAGE


def test_snapshot_file_format(tmp_path):
    """The snapshot is Kafka's ProducerSnapshot v1: version, CRC-32C, entries."""
    manager = ProducerStateManager(str(tmp_path))
    log_batch = batch(3, producer_id=11, producer_epoch=2, base_sequence=5)
    from kafkapy.wire.records import read_batch_header

    header = read_batch_header(log_batch)._replace(base_offset=100)
    manager.update_data_batch(header)
    manager.update_map_end_offset(103)
    path = manager.take_snapshot()
    assert os.path.basename(path) == "00000000000000000103.snapshot"
    data = Path(path).read_bytes()
    version, crc, count = struct.unpack_from(">hIi", data)
    assert (version, count) == (1, 1) and crc == crc32c(data[6:])
    pid, epoch, last_seq, last_offset, delta, _, coord, txn_first = struct.unpack_from(">qhiqiqiq", data, 10)
    assert (pid, epoch, last_seq, last_offset, delta, coord, txn_first) == (11, 2, 7, 102, 2, -1, -1)
    corrupt = bytearray(data)
    corrupt[-1] ^= 1
    Path(path).write_bytes(corrupt)
    assert ProducerStateManager.read_snapshot(path) is None
    assert manager.load_latest_snapshot(1000) is None and not os.path.exists(path)
