"""A writer process for the crash test: appends batch after batch, printing each ack.

Run as ``python -m tests.storage.crash_writer <partition dir>``. Batch ``i`` holds one
record with key ``i`` and a value whose size and bytes derive from ``i``, so a reader
can check every batch it finds. The line ``<i> <first offset>`` is printed only after
``append`` returned.
"""

from __future__ import annotations

import dataclasses
import sys

from kafkapy.config import DEFAULT_LOG_CONFIG
from kafkapy.storage.partition_log import PartitionLog
from kafkapy.wire.records import Record, build_batch, iter_records

CONFIG = dataclasses.replace(DEFAULT_LOG_CONFIG, internal_segment_bytes=3 << 20, index_interval_bytes=4096)


def value_for(i: int) -> bytes:
    size = (i * 7919) % (256 << 10) + 1
    return bytes([i % 251]) * size


def payload(i: int) -> bytearray:
    return bytearray(build_batch([Record(0, 0, b"%d" % i, value_for(i))], base_timestamp=1_700_000_000_000 + i))


def check_batch(data: bytes) -> int:
    """The ``i`` of a batch written by this writer; raises if its content is wrong."""
    (record,) = list(iter_records(data))
    i = int(record.key)
    assert record.value == value_for(i), f"batch {i} holds the wrong value"
    return i


def main(directory: str) -> None:
    log = PartitionLog.open(directory, "t", 0, CONFIG, now_ms=0)
    i = log.log_end_offset
    out = sys.stdout
    print(f"ready {i}", file=out, flush=True)
    while True:
        info = log.append(payload(i), leader_epoch=0, now_ms=0)
        print(f"{i} {info.first_offset}", file=out, flush=True)
        i += 1


if __name__ == "__main__":
    main(sys.argv[1])
