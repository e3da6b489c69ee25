"""RecordBatch v2 costs: header validation (CRC-32C), record build/iterate, codecs.

Run: .venv/bin/python benchmarks/records.py   (from the repository root)

Prints the best of several timed runs for each operation. Payloads are semi-realistic
(JSON-ish values with repeated field names), so compression ratios are moderate.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafkapy.wire.compression import Compression, compress, decompress  # noqa: E402
from kafkapy.wire.records import (  # noqa: E402
    Record,
    build_batch,
    iter_records,
    read_batch_header,
    scan_batches,
    set_base_offset,
    validate_batch,
    validate_produce_batch,
)


def best_of(fn: Callable[[], object], repeat: int = 5, min_time: float = 0.2) -> float:
    """Seconds per call, best of ``repeat`` runs of at least ``min_time`` each."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start >= min_time / 5:
            break
        calls *= 2
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls)
    return min(runs)


def sample_records(count: int, value_size: int = 200) -> list[Record]:
    """``count`` records with values of exactly ``value_size`` bytes (at least 24)."""
    records = []
    for i in range(count):
        value = (b'{"u":%d,"p":"/p/%d","x":"' % (i % 100_000, i % 97)).ljust(value_size - 2, b"x")[
            : value_size - 2
        ] + b'"}'
        records.append(Record(i, i, b"user-%d" % (i % 1000), value, [("trace", b"%016x" % i)] if i % 4 == 0 else []))
    return records


def bench_headers() -> None:
    print("header validation (one batch, CRC-32C over the whole batch)")
    for label, size in (("16 KiB", 16 * 1024), ("1 MiB", 1024 * 1024)):  # of record values
        batch = build_batch(
            sample_records(size // 200), producer_id=1, producer_epoch=0, base_sequence=0, base_timestamp=0
        )
        mv = memoryview(batch)
        t_read = best_of(lambda: read_batch_header(mv))
        t_val = best_of(lambda: validate_batch(mv))
        t_prod = best_of(lambda: validate_produce_batch(mv, produce_version=9, max_message_bytes=1 << 24))
        buf = bytearray(batch)
        t_patch = best_of(lambda: set_base_offset(buf, 0, 12345))
        mb = len(batch) / 1e6
        print(
            f"  {label:>6} batch ({len(batch):,} B): read_batch_header {t_read * 1e6:6.2f} µs | "
            f"validate_batch {t_val * 1e6:7.2f} µs ({mb / t_val / 1e3:5.2f} GB/s) | "
            f"validate_produce_batch {t_prod * 1e6:7.2f} µs | set_base_offset {t_patch * 1e6:5.2f} µs"
        )
    log = b"".join(build_batch(sample_records(16 * 1024 // 200), base_timestamp=0) for _ in range(64))
    t_scan = best_of(lambda: scan_batches(log))
    print(
        f"  scan_batches over 64 x 16 KiB batches ({len(log) / 1e6:.2f} MB): {t_scan * 1e3:.2f} ms "
        f"({len(log) / t_scan / 1e9:.2f} GB/s)"
    )


def bench_records() -> None:
    print("records (internal topics, control batches, compaction; not the produce/fetch path)")
    for value_size, count in ((24, 1000), (200, 1000)):
        records = sample_records(count, value_size)
        t_build = best_of(lambda: build_batch(records, base_timestamp=0))
        batch = build_batch(records, base_timestamp=0)
        t_iter = best_of(lambda: list(iter_records(batch)))
        print(
            f"  {count} records of ~{value_size} B values: build {count / t_build / 1e3:6.0f} k records/s | "
            f"iter {count / t_iter / 1e3:6.0f} k records/s"
        )
    records = sample_records(1000)
    for codec in Compression:
        if codec == Compression.NONE:
            continue
        t_build = best_of(lambda: build_batch(records, compression=codec, base_timestamp=0), repeat=3)
        batch = build_batch(records, compression=codec, base_timestamp=0)
        t_iter = best_of(lambda: list(iter_records(batch)), repeat=3)
        print(
            f"  1000 records ~200 B, {codec.name:<6}: build {1000 / t_build / 1e3:6.0f} k records/s | "
            f"iter {1000 / t_iter / 1e3:6.0f} k records/s"
        )


def bench_codecs() -> None:
    print("codecs (records section of a 1 MiB batch)")
    body = build_batch(sample_records(1024 * 1024 // 200), base_timestamp=0)[61:]
    for codec in Compression:
        if codec == Compression.NONE:
            continue
        blob = compress(codec, body)
        t_c = best_of(lambda: compress(codec, body), repeat=3)
        t_d = best_of(lambda: decompress(codec, blob, max_output=len(body)), repeat=3)
        print(
            f"  {codec.name:<6} ratio {len(body) / len(blob):5.1f}: compress {len(body) / t_c / 1e6:7.0f} MB/s | "
            f"decompress {len(body) / t_d / 1e6:7.0f} MB/s (uncompressed bytes)"
        )


if __name__ == "__main__":
    print(f"Python {sys.version.split()[0]}")
    bench_headers()
    bench_records()
    bench_codecs()
