"""Reopening a metadata log larger than one read chunk, and one with a damaged batch.

The metadata log is decoded from its segments at every start. A 10,000-partition
node restarted about ten times grew ``__cluster_metadata-0`` past the 8 MiB read
chunk and then refused to start with "record batch CRC mismatch", though every batch
on disk was valid: the reader kept the torn end of a chunk in front of the batch's
whole copy.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from kafkapy.kraft.raft import file_log
from kafkapy.kraft.raft.file_log import FileRaftLog
from kafkapy.kraft.raft.records import LeaderChangeMessage, LogEntry
from kafkapy.wire.records import iter_batches, validate_batch

SEGMENT = "00000000000000000000.log"


def _segment_path(root: Path) -> Path:
    return root / "__cluster_metadata-0" / SEGMENT


def _batches(root: Path) -> list[tuple[int, int, int]]:
    """(position, size, base offset) of each batch of the first segment, each checked."""
    data = _segment_path(root).read_bytes()
    out = []
    for position, header in iter_batches(data):
        validate_batch(data, position, position + header.size)
        out.append((position, header.size, header.base_offset))
    return out


def _value(offset: int) -> bytes:
    return b"%010d" % offset + bytes(1014)


def _write_log(root: Path, batches: int, per_batch: int) -> list[LogEntry]:
    """A leader-change entry, then ``batches`` batches of ``per_batch`` 1 KiB records."""
    log = FileRaftLog.open(str(root))
    written = [LogEntry(0, 1, LeaderChangeMessage(1, (1,), (1,)))]
    log.append(written)
    offset = 1
    for b in range(batches):
        run = [LogEntry(offset + i, 1 + b // 4, _value(offset + i)) for i in range(per_batch)]
        log.append(run)
        written += run
        offset += per_batch
    log.close()
    return written


def test_log_larger_than_a_read_chunk_reopens(tmp_path: Path) -> None:
    written = _write_log(tmp_path, batches=9, per_batch=1000)
    chunk = file_log._READ_CHUNK
    # The case that failed: a batch starts before the first chunk's end and ends after it.
    assert any(pos < chunk < pos + size for pos, size, _ in _batches(tmp_path))

    log = FileRaftLog.open(str(tmp_path))
    try:
        assert log.log_start_offset == 0
        assert log.end_offset == len(written)
        assert list(log.read(0, log.end_offset)) == written
    finally:
        log.close()


def _flip_byte(root: Path, position: int) -> None:
    with open(_segment_path(root), "r+b") as f:
        f.seek(position)
        byte = f.read(1)
        f.seek(position)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("damaged", [-1, 2], ids=["last batch", "middle batch"])
def test_corrupt_batch_truncated_on_open(tmp_path: Path, caplog: pytest.LogCaptureFixture, damaged: int) -> None:
    """Kafka's ``KafkaRaftLog.createLog`` opens the metadata log with recovery point 0
    and ``lastShutdownClean`` false, so ``LogLoader`` recovers every segment and
    ``LogSegment.recover`` cuts the log at the first batch that fails its CRC (with a
    WARN); the entries from there are fetched again from the leader."""
    written = _write_log(tmp_path, batches=5, per_batch=20)
    batches = _batches(tmp_path)
    position, size, base = batches[damaged]
    _flip_byte(tmp_path, position + size - 3)  # inside the last record, covered by the CRC

    with caplog.at_level(logging.WARNING):
        log = FileRaftLog.open(str(tmp_path))
    try:
        assert log.end_offset == base
        assert list(log.read(0, base)) == written[:base]
        assert os.path.getsize(_segment_path(tmp_path)) == position
    finally:
        log.close()
    assert any("CRC" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert _batches(tmp_path) == batches[:batches.index((position, size, base))]
