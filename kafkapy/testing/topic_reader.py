"""What a partition holds, record by record, read straight from its log.

Tests ask "what did the producer write?" without a consumer: the in-process broker
reads its partition logs with :meth:`PartitionLog.read` and decodes the batches with
``kafkapy.wire.records`` (test tooling, never a produce/fetch path). Reads stop at the
high watermark, as a read_uncommitted consumer does, or at the last stable offset
without aborted transactions, as a read_committed consumer does. Control batches
(transaction markers) are not records and are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from kafkapy.storage.partition_log import FetchIsolation
from kafkapy.wire.buffers import FileRegion
from kafkapy.wire.records import Header, iter_absolute_records, iter_batches

if TYPE_CHECKING:
    from kafkapy.storage.partition_log import PartitionLog

#: How much one read of the log returns at most (whole batches beyond it still come).
_READ_BYTES = 1 << 20


class ConsumedRecord(NamedTuple):
    """One record as a consumer would see it."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header]


def read_partition(log: PartitionLog, *, committed: bool = False) -> list[ConsumedRecord]:
    """Every record of ``log`` a consumer can see, in offset order.

    Args:
        committed: read as ``isolation.level=read_committed`` (up to the last stable
            offset, aborted transactions left out); else as read_uncommitted.

    Not task-safe: call on the thread that owns the log (the broker's trio thread).
    """
    isolation = FetchIsolation.TXN_COMMITTED if committed else FetchIsolation.HIGH_WATERMARK
    out: list[ConsumedRecord] = []
    offset = log.log_start_offset
    while True:
        info = log.read(offset, _READ_BYTES, isolation=isolation)
        data = b"".join(_piece_bytes(piece) for piece in info.records)
        aborted = info.aborted_transactions or ()
        next_offset = offset
        for pos, header in iter_batches(data):
            next_offset = header.base_offset + header.last_offset_delta + 1
            if header.is_control or _is_aborted(header.producer_id, header.base_offset, header.is_transactional,
                                                aborted):
                continue
            out.extend(ConsumedRecord(log.topic, log.partition, *r) for r in iter_absolute_records(data, pos)
                       if r.offset >= offset)
        if next_offset == offset:
            return out
        offset = next_offset


def _is_aborted(producer_id: int, base_offset: int, transactional: bool, aborted: Sequence) -> bool:
    return transactional and any(
        t.producer_id == producer_id and t.first_offset <= base_offset <= t.last_offset for t in aborted)


def _piece_bytes(piece: bytes | bytearray | memoryview | FileRegion) -> bytes:
    if isinstance(piece, FileRegion):
        return os.pread(piece.fd, piece.length, piece.position)
    return bytes(piece)
