"""Compaction: latest record per key, tombstones, transactions, swap safety."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from kafkapy.storage.cleaner import plan_cleaning
from kafkapy.storage.partition_log import FetchIsolation, PartitionLog
from kafkapy.wire.records import iter_absolute_records, scan_batches, validate_batch

from .batches import batch, region_bytes
from .conftest import SMALL
from .test_partition_log import read_all_batches

COMPACT = dataclasses.replace(SMALL, cleanup_policy=("compact",), delete_retention_ms=1000, min_cleanable_dirty_ratio=0.01)


def records(log):  # type: ignore[no-untyped-def]
    out = []
    for header, data in read_all_batches(log):
        validate_batch(data)
        out += [(r.offset, r.key, r.value) for r in iter_absolute_records(data)]
    return out


def fill(log, rounds=40, keys=5):  # type: ignore[no-untyped-def]
    for i in range(rounds):
        log.append(batch(1, keys=[b"k%d" % (i % keys)], values=[b"v%d" % i]), leader_epoch=0, now_ms=0)
    log.update_high_watermark(log.log_end_offset)


def test_keeps_latest_record_per_key_below_active_segment(open_log):
    log = open_log(dataclasses.replace(COMPACT, internal_segment_bytes=1024))
    fill(log, 200, keys=5)
    before = records(log)
    stats = log.clean(now_ms=0)
    assert stats is not None and stats.records_removed > 0
    after = records(log)
    active_base = log.segments[-1].base_offset
    latest = {}
    for offset, key, value in before:
        latest[key] = offset
    for offset, key, value in after:
        if offset < active_base:
            assert latest[key] == offset or any(o >= active_base and k == key for o, k, _ in before)
    # every key's latest value survives, offsets keep their order, the end offset stays
    assert {k: v for _, k, v in after} == {k: v for _, k, v in before}
    assert [o for o, _, _ in after] == sorted(o for o, _, _ in after)
    assert log.log_end_offset == 200
    # nothing dirty left: no second cleaning
    assert plan_cleaning(log, 0) is None


def test_tombstones_get_a_horizon_then_go(open_log):
    log = open_log(dataclasses.replace(COMPACT, internal_segment_bytes=1024))
    log.append(batch(1, keys=[b"gone"], values=[b"x"]), leader_epoch=0, now_ms=0)
    log.append(batch(1, keys=[b"gone"], values=[None]), leader_epoch=0, now_ms=0)
    fill(log, 100, keys=3)
    log.clean(now_ms=10_000)
    assert [(o, v) for o, k, v in records(log) if k == b"gone"] == [(1, None)]
    header = next(h for h, d in read_all_batches(log) if h.base_offset == 1)
    assert header.has_delete_horizon and header.base_timestamp == 11_000
    log.clean(now_ms=10_500, force=True)
    assert [o for o, k, _ in records(log) if k == b"gone"] == [1]  # horizon not reached
    log.clean(now_ms=11_000, force=True)
    assert [o for o, k, _ in records(log) if k == b"gone"] == []


def test_aborted_transaction_data_is_removed_and_producer_state_kept(open_log):
    log = open_log(dataclasses.replace(COMPACT, internal_segment_bytes=1024))
    log.append(batch(1, keys=[b"a"], values=[b"committed"], producer_id=5, producer_epoch=0, base_sequence=0,
                     transactional=True), leader_epoch=0, now_ms=0)
    log.append_end_txn_marker(5, 0, 0, True, leader_epoch=0, now_ms=0)
    log.append(batch(1, keys=[b"b"], values=[b"aborted"], producer_id=5, producer_epoch=0, base_sequence=1,
                     transactional=True), leader_epoch=0, now_ms=0)
    log.append_end_txn_marker(5, 0, 0, False, leader_epoch=0, now_ms=0)
    fill(log, 60, keys=2)
    log.clean(now_ms=0)
    kept = records(log)
    assert (0, b"a", b"committed") in kept
    assert not any(v == b"aborted" for _, _, v in kept)
    # the producer's last batch stays, empty, so its sequence survives a reload
    headers = [h for h, _ in read_all_batches(log)]
    assert any(h.base_offset == 2 and h.record_count == 0 and h.base_sequence == 1 for h in headers)
    info = log.read(0, 1 << 20, isolation=FetchIsolation.TXN_COMMITTED)
    assert info.error_code == 0


def test_swap_is_dropped_if_the_log_changed(open_log):
    log = open_log(dataclasses.replace(COMPACT, internal_segment_bytes=1024))
    fill(log, 100, keys=3)
    cleaning = plan_cleaning(log, 0)
    cleaning.build()
    log.truncate_to(10, now_ms=0)  # the follower diverged meanwhile
    assert not cleaning.swap(0)
    assert [o for o, _, _ in records(log)] == list(range(10))
    if log.directory:
        assert not any(n.endswith(".cleaned") for n in os.listdir(log.directory))


def test_reads_during_cleaning_keep_their_regions(open_log):
    log = open_log(dataclasses.replace(COMPACT, internal_segment_bytes=1024))
    fill(log, 100, keys=3)
    held = log.read(0, 1 << 20)  # a fetch about to be sent
    expected = region_bytes(held.records)
    log.clean(now_ms=0)
    assert region_bytes(held.records) == expected  # old files are only unlinked later
    log.delete_pending_segments(now_ms=10**9)


def test_cleaned_log_reopens(tmp_path):
    path = str(tmp_path / "t-0")
    log = PartitionLog.open(path, "t", 0, dataclasses.replace(COMPACT, internal_segment_bytes=1024), now_ms=0)
    fill(log, 150, keys=4)
    log.clean(now_ms=0)
    expected = records(log)
    log.close()
    for clean in (True, False):
        reopened = PartitionLog.open(path, "t", 0, dataclasses.replace(COMPACT, internal_segment_bytes=1024),
                                     now_ms=0, clean_shutdown=clean)
        assert records(reopened) == expected
        reopened.close()
    assert scan_batches(Path(os.path.join(path, "00000000000000000000.log")).read_bytes()).error is None
