"""Our segment files, read by a separate minimal parser written from Kafka's format docs.

Nothing from kafkapy is used to read: the .log batch header (baseOffset int64,
batchLength int32, ... CRC-32C over attributes..end), the .index entries (int32
relative offset, int32 position) and the .timeindex entries (int64 timestamp, int32
relative offset), trimmed to their entries once a segment is rolled or closed.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import struct
from pathlib import Path

from crc32c import crc32c

from kafkapy.storage.partition_log import PartitionLog

from .batches import T0, batch
from .conftest import SMALL


def parse_log(data: bytes) -> list[tuple[int, int, int, int]]:
    """(position, base offset, last offset, max timestamp) of each batch."""
    out = []
    pos = 0
    while pos < len(data):
        base_offset, batch_length = struct.unpack_from(">qi", data, pos)
        magic = data[pos + 16]
        crc = struct.unpack_from(">I", data, pos + 17)[0]
        end = pos + 12 + batch_length
        assert magic == 2 and end <= len(data)
        assert crc32c(data[pos + 21 : end]) == crc
        last_offset_delta = struct.unpack_from(">i", data, pos + 23)[0]
        max_timestamp = struct.unpack_from(">q", data, pos + 35)[0]
        out.append((pos, base_offset, base_offset + last_offset_delta, max_timestamp))
        pos = end
    return out


def test_segment_files_follow_kafkas_format(tmp_path):
    path = str(tmp_path / "t-0")
    config = dataclasses.replace(SMALL, segment_index_bytes=1024)
    log = PartitionLog.open(path, "t", 0, config, now_ms=0)
    for i in range(80):
        log.append(batch(3, value_size=30, timestamp=T0 + i * 10), leader_epoch=0, now_ms=0)
    active_index = os.path.join(path, f"{log.segments[-1].base_offset:020d}.index")
    log.flush(0)  # the entries are written behind: the file is preallocated with the first
    assert os.path.getsize(active_index) == 1024  # preallocated while active
    log.close()
    bases = sorted(int(n[:-4]) for n in os.listdir(path) if n.endswith(".log"))
    assert len(bases) > 2
    next_offset = 0
    for base in bases:
        stem = os.path.join(path, f"{base:020d}")
        assert len(os.path.basename(stem)) == 20
        batches = parse_log(Path(stem + ".log").read_bytes())
        assert batches[0][1] == base == next_offset
        next_offset = batches[-1][2] + 1
        by_position = {pos: (first, last) for pos, first, last, _ in batches}
        index = Path(stem + ".index").read_bytes()
        assert len(index) % 8 == 0 and len(index) > 0  # trimmed to its entries
        entries = list(struct.iter_unpack(">ii", index))
        for rel, position in entries:
            # the entry names the last offset of the batch starting at that position
            assert by_position[position][1] == base + rel
        gaps = [b - a for (_, a), (_, b) in itertools.pairwise(entries)]
        assert all(g > 256 for g in gaps)  # sparse: one entry per index.interval.bytes
        timeindex = Path(stem + ".timeindex").read_bytes()
        assert len(timeindex) % 12 == 0 and len(timeindex) > 0
        time_entries = list(struct.iter_unpack(">qi", timeindex))
        assert [t for t, _ in time_entries] == sorted({t for t, _ in time_entries})
        max_ts = {last: ts for _, _, last, ts in batches}
        for ts, rel in time_entries:
            assert max_ts[base + rel] == ts
        assert time_entries[-1][0] == max(ts for *_, ts in batches)
    assert next_offset == 240
    epochs = Path(os.path.join(path, "leader-epoch-checkpoint")).read_text().split("\n")
    assert epochs[:3] == ["0", "1", "0 0"]
