from __future__ import annotations

from kafkapy.server.buffers import BufferPool


def test_size_classes_and_reuse():
    pool = BufferPool(min_size=4096, max_pooled_size=1 << 20, max_idle_bytes=4 << 20)
    small = pool.acquire(10)
    assert len(small) == 4096 and not small.readonly
    big = pool.acquire(300_000)
    assert len(big) == 1 << 19
    pool.release(big)
    pool.release(small)
    assert pool.idle_bytes == 4096 + (1 << 19)
    assert pool.acquire(262_145) is big
    assert pool.acquire(1) is small
    assert pool.idle_bytes == 0


def test_oversized_buffers_are_exact_and_not_kept():
    pool = BufferPool(min_size=4096, max_pooled_size=1 << 20)
    huge = pool.acquire((1 << 20) + 1)
    assert len(huge) == (1 << 20) + 1
    pool.release(huge)
    assert pool.idle_bytes == 0


def test_idle_bytes_are_capped():
    pool = BufferPool(min_size=4096, max_idle_bytes=8192)
    buffers = [pool.acquire(4096) for _ in range(3)]
    for buf in buffers:
        pool.release(buf)
    assert pool.idle_bytes == 8192
