"""Log store throughput: append, read through file regions, recovery.

Run: ``.venv/bin/python benchmarks/storage.py [--gib N]`` from the repository root.
Prints MB/s (10^6 bytes per second). Uses a temporary directory, removed at the end.

- append into the page cache, 16 KiB and 1 MiB batches (no fsync);
- append with ``flush.ms=100`` (fdatasync at most every 100 ms);
- read: ``PartitionLog.read`` of 1 MiB at a time, the file regions sent with
  ``os.sendfile`` to /dev/null and to a socketpair drained by a thread;
- recovery: reopening a 1 GiB log after an unclean shutdown (every batch read and
  CRC-checked, indexes rebuilt), for 1 MiB and 16 KiB batches.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kafkapy.config import DEFAULT_LOG_CONFIG
from kafkapy.storage.partition_log import PartitionLog
from kafkapy.wire.records import Record, build_batch

MB = 1_000_000


def producer_batch(batch_bytes: int) -> bytearray:
    """A batch of ~``batch_bytes`` with 1 KiB records, as a producer sends it."""
    n = max(batch_bytes // 1030, 1)
    records = [Record(i, i, b"key-%d" % i, os.urandom(1000)) for i in range(n)]
    return bytearray(build_batch(records, base_timestamp=1_700_000_000_000))


def now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def bench_append(directory: str, batch_bytes: int, total: int, *, flush_ms: int | None = None) -> tuple[float, PartitionLog]:
    config = DEFAULT_LOG_CONFIG if flush_ms is None else dataclasses.replace(DEFAULT_LOG_CONFIG, flush_ms=flush_ms)
    log = PartitionLog.open(directory, "bench", 0, config, now_ms=now_ms())
    buf = producer_batch(batch_bytes)
    n = total // len(buf)
    append = log.append
    start = time.perf_counter()
    if flush_ms is None:
        for _ in range(n):
            append(buf, leader_epoch=0, now_ms=0)
    else:
        for _ in range(n):
            append(buf, leader_epoch=0, now_ms=0)
            log.maybe_flush(now_ms())
        log.flush(now_ms())
    elapsed = time.perf_counter() - start
    return n * len(buf) / elapsed / MB, log


def bench_read_devnull(log: PartitionLog, fetch_bytes: int = 1 << 20) -> float:
    out = os.open(os.devnull, os.O_WRONLY)
    sent = 0
    offset = 0
    start = time.perf_counter()
    end = log.log_end_offset
    while offset < end:
        info = log.read(offset, fetch_bytes)
        for region in info.records:
            pos, left = region.position, region.length
            while left:
                n = os.sendfile(out, region.fd, pos, left)
                pos += n
                left -= n
                sent += n
        offset = _next_offset(log, info)
    elapsed = time.perf_counter() - start
    os.close(out)
    return sent / elapsed / MB


def bench_read_socket(log: PartitionLog, fetch_bytes: int = 1 << 20) -> float:
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    received = [0]

    def drain() -> None:
        buf = bytearray(1 << 20)
        while True:
            n = b.recv_into(buf)
            if not n:
                return
            received[0] += n

    reader = threading.Thread(target=drain)
    reader.start()
    sent = 0
    offset = 0
    end = log.log_end_offset
    start = time.perf_counter()
    while offset < end:
        info = log.read(offset, fetch_bytes)
        for region in info.records:
            pos, left = region.position, region.length
            while left:
                n = os.sendfile(a.fileno(), region.fd, pos, left)
                pos += n
                left -= n
                sent += n
        offset = _next_offset(log, info)
    a.shutdown(socket.SHUT_WR)
    reader.join()
    elapsed = time.perf_counter() - start
    a.close()
    b.close()
    assert received[0] == sent
    return sent / elapsed / MB


def _next_offset(log: PartitionLog, info) -> int:  # type: ignore[no-untyped-def]
    """Where the next fetch starts: after the last whole batch returned (as a consumer does)."""
    metadata = info.fetch_offset_metadata
    segment = log.local_log.floor_segment(metadata.message_offset)
    position = metadata.relative_position_in_segment
    end = position + info.size
    next_offset = metadata.message_offset
    for pos, header in segment.batches(position):
        if pos + header.size > end:
            break
        next_offset = header.next_offset
    if next_offset == metadata.message_offset:  # nothing whole in this segment: next one
        higher = log.local_log.higher_segment(segment)
        return higher.base_offset if higher is not None else log.log_end_offset
    return next_offset


def bench_recovery(directory: str, batch_bytes: int, total: int) -> tuple[float, float, int]:
    log = PartitionLog.open(directory, "bench", 0, DEFAULT_LOG_CONFIG, now_ms=0)
    buf = producer_batch(batch_bytes)
    for _ in range(total // len(buf)):
        log.append(buf, leader_epoch=0, now_ms=0)
    size = log.size
    end = log.log_end_offset
    # An unclean shutdown: files closed without a flush, snapshot or checkpoint.
    for segment in log.segments:
        os.close(segment.records.fd)
        segment.records.fd = -1
    log.closed = True
    start = time.perf_counter()
    reopened = PartitionLog.open(directory, "bench", 0, DEFAULT_LOG_CONFIG, now_ms=0, recovery_point=0)
    elapsed = time.perf_counter() - start
    assert reopened.log_end_offset == end
    reopened.close()
    return size / elapsed / MB, elapsed, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="data per run, in GiB (default 1)")
    args = parser.parse_args()
    total = int(args.gib * (1 << 30))
    root = tempfile.mkdtemp(prefix="kafkapy-bench-")
    try:
        for label, batch_bytes in (("16 KiB", 16 << 10), ("1 MiB", 1 << 20)):
            directory = os.path.join(root, f"append-{batch_bytes}")
            rate, log = bench_append(directory, batch_bytes, total)
            print(f"append {label} batches, page cache:       {rate:8.0f} MB/s")
            log.close()
            shutil.rmtree(directory)
            rate, log = bench_append(directory, batch_bytes, total, flush_ms=100)
            print(f"append {label} batches, fdatasync 100 ms: {rate:8.0f} MB/s")
            if batch_bytes == 1 << 20:
                bench_read_devnull(log)  # warm the page cache
                print(f"read 1 MiB fetches, sendfile to /dev/null: {bench_read_devnull(log):8.0f} MB/s")
                print(f"read 1 MiB fetches, sendfile to a socket:  {bench_read_socket(log):8.0f} MB/s")
            log.close()
            shutil.rmtree(directory)
        for label, batch_bytes in (("1 MiB", 1 << 20), ("16 KiB", 16 << 10)):
            directory = os.path.join(root, f"recover-{batch_bytes}")
            rate, elapsed, size = bench_recovery(directory, batch_bytes, total)
            print(f"recovery, {label} batches: {size / (1 << 30):.2f} GiB in {elapsed:.2f} s = {rate:8.0f} MB/s")
            shutil.rmtree(directory)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
