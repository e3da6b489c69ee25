"""Recovery: torn tails, corrupt bytes, lost indexes, interrupted cleanings, SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kafkapy.storage.partition_log import PartitionLog
from kafkapy.wire.records import scan_batches

from . import crash_writer
from .batches import batch
from .conftest import SMALL
from .test_partition_log import read_all_batches


def write_log(path: str, n: int = 60) -> list[bytes]:
    log = PartitionLog.open(path, "t", 0, SMALL, now_ms=0)
    for i in range(n):
        log.append(batch(2, value_size=20 + i), leader_epoch=1, now_ms=0)
    stored = [data for _, data in read_all_batches(log)]
    log.close()
    return stored


def active_log_file(path: str) -> str:
    return os.path.join(path, max(f for f in os.listdir(path) if f.endswith(".log")))


@pytest.mark.parametrize("seed", range(8))
def test_cut_at_any_byte_recovers_to_last_whole_batch(tmp_path, seed):
    path = str(tmp_path / "t-0")
    stored = write_log(path)
    log_file = active_log_file(path)
    size = os.path.getsize(log_file)
    cut = random.Random(seed).randrange(size)
    os.truncate(log_file, cut)
    log = PartitionLog.open(path, "t", 0, SMALL, now_ms=0)  # unclean: recovery point 0
    recovered = [data for _, data in read_all_batches(log)]
    assert recovered == stored[: len(recovered)]
    whole = scan_batches(Path(log_file).read_bytes())
    assert whole.error is None and whole.valid_end == os.path.getsize(log_file) <= cut
    assert log.log_end_offset == 2 * len(recovered)
    # the log is writable right after, at the right offset
    assert log.append(batch(1), leader_epoch=2, now_ms=0).first_offset == log.log_end_offset - 1
    log.close()


def test_corrupt_byte_truncates_there_and_drops_later_segments(tmp_path):
    path = str(tmp_path / "t-0")
    stored = write_log(path)
    first_log = os.path.join(path, "00000000000000000000.log")
    with open(first_log, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    log = PartitionLog.open(path, "t", 0, SMALL, now_ms=0)
    recovered = [data for _, data in read_all_batches(log)]
    assert recovered == stored[: len(recovered)] and 0 < len(recovered) < len(stored)
    assert len(log.segments) == 1
    log.close()


def test_clean_shutdown_skips_scan_but_bad_index_is_rebuilt(tmp_path):
    path = str(tmp_path / "t-0")
    stored = write_log(path)
    index = os.path.join(path, "00000000000000000000.index")
    with open(index, "r+b") as f:
        f.write(b"\xff" * 8)  # a negative relative offset: fails the sanity check
    os.unlink(os.path.join(path, "00000000000000000000.timeindex"))
    log = PartitionLog.open(path, "t", 0, SMALL, now_ms=0, clean_shutdown=True)
    assert log.segments[0].offset_index.entries > 0
    assert [data for _, data in read_all_batches(log)] == stored
    assert log.fetch_offset_by_timestamp(stored and 1_700_000_000_000).offset == 0
    log.close()


def test_interrupted_cleaning_files_are_resolved(tmp_path):
    path = str(tmp_path / "t-0")
    stored = write_log(path)
    names = sorted(os.listdir(path))
    # a cleaning that did not get to swap: .cleaned files are dropped
    Path(os.path.join(path, "00000000000000000000.log.cleaned")).write_bytes(b"junk")
    # a deletion that did not finish
    Path(os.path.join(path, "00000000000000000004.log.deleted")).write_bytes(b"junk")
    log = PartitionLog.open(path, "t", 0, SMALL, now_ms=0, clean_shutdown=True)
    assert [data for _, data in read_all_batches(log)] == stored
    log.close()
    assert sorted(os.listdir(path)) == names
    # a cleaning caught during its swap: the .swap segment replaces those it covers
    first = os.path.join(path, "00000000000000000000.log")
    second_base = sorted(n for n in names if n.endswith(".log"))[1]
    os.rename(first, first + ".swap")
    log = PartitionLog.open(path, "t", 0, SMALL, now_ms=0)
    assert [data for _, data in read_all_batches(log)] == stored
    assert second_base in os.listdir(path) and not any(n.endswith(".swap") for n in os.listdir(path))
    log.close()


def test_sigkill_during_appends_loses_nothing_acknowledged(tmp_path):
    """Kill a writer process many times; every acked batch must come back intact."""
    path = str(tmp_path / "t-0")
    rng = random.Random(1234)
    acked: dict[int, int] = {}  # batch number -> offset
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    torn = 0
    for _ in range(25):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.storage.crash_writer", path],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert proc.stdout.readline().startswith("ready")
        for _ in range(rng.randrange(1, 40)):
            line = proc.stdout.readline()
            i, offset = map(int, line.split())
            acked[i] = offset
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        tail = active_log_file(path)
        size_before = os.path.getsize(tail)
        log = PartitionLog.open(path, "t", 0, crash_writer.CONFIG, now_ms=0)
        torn += os.path.exists(tail) and os.path.getsize(tail) < size_before
        found = []
        for header, data in read_all_batches(log):
            found.append(crash_writer.check_batch(data))
            assert header.base_offset == found[-1]
        log.close()
        assert found == list(range(len(found)))  # contiguous, nothing half-written
        assert all(i in range(len(found)) for i in acked), "an acknowledged batch was lost"
        for f in os.listdir(path):
            if f.endswith(".log"):
                scan = scan_batches(Path(os.path.join(path, f)).read_bytes())
                assert scan.error is None
    print(f"{torn} of 25 kills left a torn batch that recovery cut")
