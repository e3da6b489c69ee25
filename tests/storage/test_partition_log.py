"""PartitionLog behaviour on both backends: append, read, offsets, truncation, retention."""

from __future__ import annotations

import dataclasses
import os

from kafkapy.storage.partition_log import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    MAX_TIMESTAMP,
    FetchIsolation,
    PartitionLog,
)
from kafkapy.wire.buffers import FileRegion
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import (
    TimestampType,
    iter_absolute_records,
    read_batch_header,
    scan_batches,
    validate_batch,
)

from .batches import T0, batch, region_bytes
from .conftest import SMALL


def read_all_batches(log, start=0):  # type: ignore[no-untyped-def]
    """Every whole batch from ``start`` to the log end, following segments."""
    out = []
    offset = start
    while offset < log.log_end_offset:
        info = log.read(offset, 1 << 20)
        data = region_bytes(info.records)
        scan = scan_batches(data)
        assert scan.batches, f"no batch at {offset}"
        for pos, header in scan.batches:
            out.append((header, data[pos : pos + header.size]))
        offset = scan.batches[-1][1].next_offset
    return out


def test_append_assigns_offsets_and_patches_in_place(open_log):
    log = open_log()
    for i in range(5):
        buf = batch(3)
        info = log.append(buf, leader_epoch=7, now_ms=1)
        assert (info.first_offset, info.last_offset, info.log_append_time) == (3 * i, 3 * i + 2, -1)
        header = read_batch_header(buf)
        assert header.base_offset == 3 * i and header.partition_leader_epoch == 7
        validate_batch(buf)  # CRC still valid after the patches
    assert log.log_end_offset == 15
    headers = [h for h, _ in read_all_batches(log)]
    assert [h.base_offset for h in headers] == [0, 3, 6, 9, 12]


def test_log_append_time_stamps_batches(open_log):
    log = open_log(dataclasses.replace(SMALL, message_timestamp_type="LogAppendTime"))
    info = log.append(batch(2), leader_epoch=0, now_ms=5_000)
    assert info.log_append_time == 5_000
    (header, data), = read_all_batches(log)
    assert header.timestamp_type == TimestampType.LOG_APPEND_TIME and header.max_timestamp == 5_000
    validate_batch(data)
    assert [r.timestamp for r in iter_absolute_records(data)] == [5_000, 5_000]


def test_memory_backend_copies_appended_bytes(open_log, backend):
    log = open_log()
    buf = batch(2)
    log.append(buf, leader_epoch=0, now_ms=0)
    stored = region_bytes(log.read(0, 1000).records)
    buf[:] = bytes(len(buf))  # the caller reuses its buffer
    assert region_bytes(log.read(0, 1000).records) == stored
    validate_batch(stored)


def test_oversize_batches_are_refused(open_log):
    log = open_log(dataclasses.replace(SMALL, max_message_bytes=200))
    info = log.append(batch(1, value_size=300), leader_epoch=0, now_ms=0)
    assert info.error_code == ErrorCode.MESSAGE_TOO_LARGE and info.first_offset == -1
    log2 = dataclasses.replace(SMALL, internal_segment_bytes=150, max_message_bytes=10_000)
    log.update_config(log2)
    assert log.append(batch(1, value_size=300), leader_epoch=0, now_ms=0).error_code == ErrorCode.RECORD_LIST_TOO_LARGE
    assert log.log_end_offset == 0


def test_read_returns_regions_and_respects_limits(open_log, backend):
    log = open_log()
    for _ in range(10):
        log.append(batch(3, value_size=50), leader_epoch=0, now_ms=0)
    size = read_all_batches(log)[0][0].size
    info = log.read(4, 1)  # mid-batch start, tiny max: one whole batch anyway
    assert info.size == size and not info.first_entry_incomplete
    (_, header), = scan_batches(region_bytes(info.records)).batches
    assert header.base_offset == 3
    if backend == "file":
        assert all(isinstance(p, FileRegion) for p in info.records)
    else:
        assert all(isinstance(p, memoryview) for p in info.records)
    info = log.read(0, size * 2 + 10)  # the third batch is cut short, as Kafka does
    scan = scan_batches(region_bytes(info.records))
    assert [h.base_offset for _, h in scan.batches] == [0, 3] and scan.error is not None
    info = log.read(0, 10, min_one_message=False)
    assert info.size == 10 and info.first_entry_incomplete


def test_read_bounds_and_out_of_range(open_log):
    log = open_log()
    for _ in range(4):
        log.append(batch(3), leader_epoch=0, now_ms=0)
    assert log.read(12, 1000).size == 0 and log.read(12, 1000).error_code == ErrorCode.NONE
    assert log.read(13, 1000).error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert log.read(-1, 1000).error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    log.update_high_watermark(6)
    info = log.read(0, 1 << 20, isolation=FetchIsolation.HIGH_WATERMARK)
    assert [h.base_offset for _, h in scan_batches(region_bytes(info.records)).batches] == [0, 3]
    assert log.read(6, 1 << 20, isolation=FetchIsolation.HIGH_WATERMARK).size == 0
    info = log.read(0, 1 << 20, max_offset=3)
    assert [h.base_offset for _, h in scan_batches(region_bytes(info.records)).batches] == [0]


def test_segments_roll_by_size_and_time(open_log, backend):
    log = open_log()
    for _ in range(40):
        log.append(batch(3, value_size=40), leader_epoch=0, now_ms=0)
    assert len(log.segments) >= 3
    assert all(s.size <= 4096 for s in log.segments)
    bases = [s.base_offset for s in log.segments]
    assert bases == sorted(bases) and bases[0] == 0
    assert [h.base_offset for h, _ in read_all_batches(log)] == list(range(0, 120, 3))
    log.close()
    timed = open_log(dataclasses.replace(SMALL, segment_ms=1000))
    timed.truncate_fully_and_start_at(0, now_ms=0)
    timed.append(batch(1, timestamp=T0), leader_epoch=0, now_ms=0)
    timed.append(batch(1, timestamp=T0 + 500), leader_epoch=0, now_ms=0)
    assert len(timed.segments) == 1
    timed.append(batch(1, timestamp=T0 + 1001), leader_epoch=0, now_ms=0)
    assert len(timed.segments) == 2


def test_offsets_by_timestamp(open_log):
    log = open_log()
    for i in range(30):
        log.append(batch(3, timestamp=T0 + 10 * i), leader_epoch=i // 10, now_ms=0)
    found = log.fetch_offset_by_timestamp(T0 + 101)  # batch 10 holds T0+100..102
    assert (found.timestamp, found.offset, found.leader_epoch) == (T0 + 101, 31, 1)
    assert log.fetch_offset_by_timestamp(T0 + 105).offset == 33
    assert log.fetch_offset_by_timestamp(T0 + 10_000) is None
    assert log.fetch_offset_by_timestamp(EARLIEST_TIMESTAMP).offset == 0
    assert log.fetch_offset_by_timestamp(LATEST_TIMESTAMP).offset == 90
    top = log.fetch_offset_by_timestamp(MAX_TIMESTAMP)
    assert (top.timestamp, top.offset) == (T0 + 292, 89)


def test_truncate_to(open_log, backend):
    log = open_log()
    for i in range(20):
        log.append(batch(3, value_size=40), leader_epoch=i // 5, now_ms=0)
    log.update_high_watermark(60)
    size_before = log.size
    removed = log.truncate_to(31, now_ms=0)  # mid-batch: the batch holding 31 goes, as in Kafka
    assert log.log_end_offset == 31 and log.size == size_before - removed and removed > 0
    assert log.high_watermark == 31
    assert log.end_offset_for_epoch(3) is None
    assert log.end_offset_for_epoch(1) == (1, 30)
    assert log.end_offset_for_epoch(2) == (2, 31)
    assert log.leader_epoch_cache.latest_epoch == 2
    assert log.append(batch(1), leader_epoch=9, now_ms=0).first_offset == 31
    assert [h.base_offset for h, _ in read_all_batches(log)][-2:] == [27, 31]
    assert log.truncate_to(27, now_ms=0) > 0 and log.log_end_offset == 27


def test_leader_epoch_end_offsets(open_log):
    log = open_log()
    for epoch, n in ((1, 2), (3, 2), (4, 1)):
        for _ in range(n):
            log.append(batch(2), leader_epoch=epoch, now_ms=0)
    assert log.leader_epoch_cache.entries == [(1, 0), (3, 4), (4, 8)]
    assert log.end_offset_for_epoch(1) == (1, 4)
    assert log.end_offset_for_epoch(2) == (1, 4)
    assert log.end_offset_for_epoch(3) == (3, 8)
    assert log.end_offset_for_epoch(4) == (4, 10)
    assert log.end_offset_for_epoch(0) == (0, 0)
    assert log.end_offset_for_epoch(5) is None


def test_delete_records_before(open_log):
    log = open_log()
    for _ in range(40):
        log.append(batch(3, value_size=40), leader_epoch=0, now_ms=0)
    assert log.delete_records_before(50, now_ms=0) == (ErrorCode.OFFSET_OUT_OF_RANGE, 0)  # above the HW
    log.update_high_watermark(120)
    segments = len(log.segments)
    assert log.delete_records_before(61, now_ms=0) == (ErrorCode.NONE, 61)
    assert log.log_start_offset == 61 and len(log.segments) < segments
    assert log.segments[0].base_offset <= 61 < log.segments[0].next_offset
    assert log.read(60, 100).error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert scan_batches(region_bytes(log.read(61, 100).records)).batches[0][1].base_offset == 60
    assert log.fetch_offset_by_timestamp(EARLIEST_TIMESTAMP).offset == 61


def test_retention_by_time_and_size(open_log):
    config = dataclasses.replace(SMALL, retention_ms=1000)
    log = open_log(config)
    for i in range(40):
        log.append(batch(3, value_size=40, timestamp=T0 + i * 100), leader_epoch=0, now_ms=0)
    log.update_high_watermark(log.log_end_offset)
    assert log.delete_old_segments(T0) == 0
    deleted = log.delete_old_segments(T0 + 3500)
    assert deleted > 0
    assert all(s.largest_timestamp() > T0 + 2500 for s in log.segments[:-1])
    assert log.log_start_offset == log.segments[0].base_offset
    # everything expired: an empty segment is rolled first, the end offset stays
    log.delete_old_segments(T0 + 10**9)
    assert log.log_start_offset == log.log_end_offset == 120 and len(log.segments) == 1


def test_retention_by_size_keeps_data_above_hw(open_log):
    log = open_log(dataclasses.replace(SMALL, retention_bytes=8000))
    for _ in range(60):
        log.append(batch(3, value_size=40), leader_epoch=0, now_ms=0)
    assert log.delete_old_segments(0) == 0  # HW is 0: nothing may go
    log.update_high_watermark(log.log_end_offset)
    assert log.delete_old_segments(0) > 0
    assert log.size - log.segments[0].size <= 8000 < log.size


def test_flush_messages_one_syncs_every_append(open_log):
    log = open_log(dataclasses.replace(SMALL, flush_messages=1))
    for _ in range(3):
        log.append(batch(2), leader_epoch=0, now_ms=0)
        assert log.recovery_point == log.log_end_offset


def test_flush_ms(open_log):
    log = open_log(dataclasses.replace(SMALL, flush_ms=100), now_ms=0)
    log.append(batch(2), leader_epoch=0, now_ms=10)
    assert not log.maybe_flush(50) and log.recovery_point == 0
    assert log.maybe_flush(100) and log.recovery_point == 2


def test_a_preallocated_segment_file_is_trimmed_to_its_data_at_roll_and_close(tmp_path):
    """file.preallocate: the active .log is segment-sized while written, its data only
    once rolled or closed (Kafka's FileRecords.trim)."""
    config = dataclasses.replace(SMALL, preallocate=True)
    log = PartitionLog.open(str(tmp_path / "t-0"), "t", 0, config, now_ms=0, clean_shutdown=True)  # a new log
    first = tmp_path / "t-0" / "00000000000000000000.log"
    assert os.path.getsize(first) == config.effective_segment_bytes
    log.append(batch(2), leader_epoch=0, now_ms=0)
    log.roll(now_ms=0)
    assert os.path.getsize(first) == log.segments[0].size > 0
    second = tmp_path / "t-0" / f"{log.segments[-1].base_offset:020d}.log"
    assert os.path.getsize(second) == config.effective_segment_bytes
    log.append(batch(3), leader_epoch=0, now_ms=0)
    size = log.segments[-1].size
    log.close()
    assert os.path.getsize(second) == size > 0
