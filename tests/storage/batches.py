"""Batches for storage tests, built the way a producer sends them (base offset 0)."""

from __future__ import annotations

from kafkapy.wire.records import Record, build_batch

T0 = 1_700_000_000_000


def batch(
    n: int = 3,
    *,
    timestamp: int = T0,
    value_size: int = 10,
    keys: list[bytes | None] | None = None,
    values: list[bytes | None] | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
) -> bytearray:
    """A producer's batch of ``n`` records, as a writable buffer."""
    records = []
    for i in range(n):
        key = keys[i] if keys is not None else b"k%d" % i
        value = values[i] if values is not None else bytes([65 + i % 26]) * value_size
        records.append(Record(i, i, key, value))
    return bytearray(
        build_batch(
            records,
            base_timestamp=timestamp,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=base_sequence,
            is_transactional=transactional,
        )
    )


def region_bytes(pieces) -> bytes:  # type: ignore[no-untyped-def]
    """The bytes a read result would send: file regions read with pread, views joined."""
    import os

    from kafkapy.wire.buffers import FileRegion

    out = bytearray()
    for p in pieces:
        if isinstance(p, FileRegion):
            out += os.pread(p.fd, p.length, p.position)
        else:
            out += p
    return bytes(out)
