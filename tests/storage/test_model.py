"""The log against a simple model: a list of (offset, key, value), under random operations."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from kafkapy.storage.partition_log import PartitionLog
from kafkapy.wire.records import iter_absolute_records, scan_batches

from .batches import batch, region_bytes
from .conftest import SMALL

CONFIG = dataclasses.replace(
    SMALL, internal_segment_bytes=600, index_interval_bytes=100, cleanup_policy=("compact", "delete"),
    min_cleanable_dirty_ratio=0.01, delete_retention_ms=10**12,
)
KEYS = st.sampled_from([b"a", b"b", b"c", b"d"])


def log_records(log: PartitionLog, start: int) -> list[tuple[int, bytes, bytes]]:
    out = []
    offset = start
    while offset < log.log_end_offset:
        info = log.read(offset, 1 << 16)
        assert info.error_code == 0
        data = region_bytes(info.records)
        scan = scan_batches(data)
        if not scan.batches:  # only possible when compaction left nothing up to the end
            break
        for pos, header in scan.batches:
            out += [(r.offset, r.key, r.value) for r in iter_absolute_records(data, pos) if r.offset >= start]
        offset = scan.batches[-1][1].next_offset
    return out


class LogModel(RuleBasedStateMachine):
    @initialize(memory=st.booleans())
    def open(self, memory: bool) -> None:
        self.dir = None if memory else tempfile.mkdtemp()
        self.log = PartitionLog.open(None if memory else self.dir + "/t-0", "t", 0, CONFIG, now_ms=0)
        self.model: list[tuple[int, bytes, bytes]] = []
        self.start = 0
        self.next = 0
        self.bases: list[int] = []

    def teardown(self) -> None:
        if hasattr(self, "log"):
            self.log.close()
        if getattr(self, "dir", None):
            shutil.rmtree(self.dir)

    @rule(keys=st.lists(KEYS, min_size=1, max_size=4), size=st.integers(1, 120))
    def append(self, keys: list[bytes], size: int) -> None:
        values = [b"%d-" % (self.next + i) + b"x" * size for i in range(len(keys))]
        info = self.log.append(batch(len(keys), keys=keys, values=values), leader_epoch=0, now_ms=0)
        assert info.first_offset == self.next
        self.model += [(self.next + i, k, v) for i, (k, v) in enumerate(zip(keys, values))]
        self.bases.append(self.next)
        self.next += len(keys)
        self.log.update_high_watermark(self.next)

    @precondition(lambda self: any(b >= self.start for b in self.bases))
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        # followers truncate at batch boundaries (an epoch's end offset)
        offset = data.draw(st.sampled_from([b for b in self.bases if b >= self.start]))
        self.log.truncate_to(offset, now_ms=0)
        self.next = offset
        self.bases = [b for b in self.bases if b < offset]
        self.model = [r for r in self.model if r[0] < offset]

    @rule(data=st.data())
    def delete_records(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(self.start, self.next))
        self.log.delete_records_before(offset, now_ms=0)
        self.start = offset
        self.model = [r for r in self.model if r[0] >= offset]

    @rule()
    def retention_by_size(self) -> None:
        self.log.update_config(dataclasses.replace(CONFIG, retention_bytes=1200))
        self.log.delete_old_segments(now_ms=0)
        self.log.update_config(CONFIG)
        self.start = self.log.log_start_offset
        self.model = [r for r in self.model if r[0] >= self.start]

    @rule()
    def compact(self) -> None:
        active = self.log.segments[-1].base_offset
        self.log.clean(now_ms=0, force=True)
        # Kafka's offset map covers only what lies below the active segment.
        latest = {}
        for offset, key, _ in self.model:
            if offset < active:
                latest[key] = offset
        self.model = [r for r in self.model if r[0] >= active or latest[r[1]] == r[0]]

    @precondition(lambda self: self.dir is not None)
    @rule(clean=st.booleans())
    def reopen(self, clean: bool) -> None:
        hw = self.log.high_watermark
        self.log.close()
        self.log = PartitionLog.open(self.dir + "/t-0", "t", 0, CONFIG, now_ms=0, log_start_offset=self.start,
                                     clean_shutdown=clean)
        self.log.update_high_watermark(hw)
        # As in Kafka, the end offset is re-derived from the batches present: after a
        # truncation into a range compaction emptied, it may come back lower.
        assert self.log.log_end_offset <= self.next
        assert all(r[0] < self.log.log_end_offset for r in self.model)
        self.next = self.log.log_end_offset
        self.bases = [b for b in self.bases if b < self.next]

    @invariant()
    def matches_model(self) -> None:
        if not hasattr(self, "log"):
            return
        assert self.log.log_end_offset == self.next
        assert self.log.log_start_offset == self.start
        assert log_records(self.log, self.start) == self.model


LogModel.TestCase.settings = settings(max_examples=30, stateful_step_count=30, deadline=None)
TestLogModel = LogModel.TestCase
