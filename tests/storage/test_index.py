"""Offset, time and transaction indexes: lookups, truncation, loading, file sizes."""

from __future__ import annotations

import os

from kafkapy.storage.index import AbortedTxn, OffsetIndex, TimeIndex, TransactionIndex


def test_offset_index_lookup_truncate_and_reload(tmp_path):
    path = str(tmp_path / "00000000000000000100.index")
    index = OffsetIndex(path, 100, 80)
    index.preallocate()  # done when the first entry is written (Kafka's LazyIndex)
    assert os.path.getsize(path) == 0 and index.max_entries == 10
    for i in range(5):
        index.append(100 + 10 * i + 9, 4096 * i)
    index.flush()
    assert os.path.getsize(path) == 80
    assert index.lookup(99) == (100, 0)
    assert index.lookup(125) == (119, 4096)
    assert index.lookup(10**9) == (149, 4096 * 4)
    index.truncate_to(130)
    assert index.entries == 3 and index.lookup(10**9) == (129, 8192)
    index.close()
    assert os.path.getsize(path) == 24  # trimmed to its entries
    loaded = OffsetIndex(path, 100, 80)
    assert loaded.load(log_size=10_000) and loaded.lookup(125) == (119, 4096)
    loaded.preallocate()
    loaded.append(139, 12288)
    loaded.flush()  # a crash now leaves a zero tail, which loading ignores
    assert os.path.getsize(path) == 80
    assert OffsetIndex(path, 100, 80).load(log_size=20_000)
    assert not OffsetIndex(path, 100, 80).load(log_size=100)  # points past the log: rebuild


def test_time_index_keeps_increasing_timestamps(tmp_path):
    index = TimeIndex(str(tmp_path / "0.timeindex"), 0, 120)
    index.maybe_append(-1, 0)  # no timestamp: no entry
    index.maybe_append(1000, 5)
    index.maybe_append(1000, 9)  # not larger: skipped
    index.maybe_append(2000, 12)
    assert index.entries == 2
    assert index.lookup(999) == (-1, 0)
    assert index.lookup(1500) == (1000, 5)
    index.truncate_to(12)
    assert index.last_entry() == (1000, 5)


def test_transaction_index_round_trip(tmp_path):
    path = str(tmp_path / "0.txnindex")
    index = TransactionIndex(path)
    index.append(AbortedTxn(7, 10, 20, 10))
    index.append(AbortedTxn(8, 15, 30, 21))
    index.close()
    assert os.path.getsize(path) == 2 * 34
    loaded = TransactionIndex(path)
    assert loaded.load()
    assert loaded.collect_aborted(21, 40) == [AbortedTxn(8, 15, 30, 21)]
    assert loaded.collect_aborted(0, 12) == [AbortedTxn(7, 10, 20, 10)]
    loaded.truncate_to(30)
    assert [t.producer_id for t in loaded.entries] == [7]
