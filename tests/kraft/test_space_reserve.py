"""The metadata log's reserve on a real small filesystem (a tmpfs, where mounting is
allowed): held while there is room, given up when the disk runs short, so the next
metadata write finds room."""

from __future__ import annotations

import os

import pytest

from kafkapy.kraft.raft.file_log import FileRaftLog
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.kraft.raft.space_reserve import RESERVE_FILE, SpaceReserve, free_bytes
from tests.disks import mounted_tmpfs


@pytest.fixture
def tmpfs(tmp_path):  # type: ignore[no-untyped-def]
    with mounted_tmpfs(str(tmp_path / "tmpfs"), 4 << 20) as path:
        yield path


def fill(directory: str) -> None:
    fd = os.open(os.path.join(directory, "filler"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 16, 4096, 1):
            try:
                while os.write(fd, bytes(size)):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)


def test_reserve_is_held_with_room_and_released_when_short(tmpfs):
    reserve = SpaceReserve(tmpfs)
    assert reserve.create_if_room() and reserve.held
    assert not reserve.release_if_short()  # plenty of room
    fill(tmpfs)
    assert free_bytes(tmpfs) < reserve.size
    assert reserve.release_if_short() and not reserve.held
    assert free_bytes(tmpfs) >= reserve.size
    fill(tmpfs)
    assert not reserve.create_if_room()  # never fills the disk itself


def test_metadata_log_appends_on_a_full_disk_by_giving_up_the_reserve(tmpfs):
    log = FileRaftLog.open(tmpfs)
    assert os.path.exists(os.path.join(tmpfs, RESERVE_FILE))
    fill(tmpfs)
    entries = [LogEntry(offset, 1, b"x" * 200) for offset in range(100)]
    log.append(entries)  # 20 KB on a full disk: the reserve made the room
    assert not os.path.exists(os.path.join(tmpfs, RESERVE_FILE))
    assert log.end_offset == 100
    log.close()
    reopened = FileRaftLog.open(tmpfs)
    assert reopened.end_offset == 100
    reopened.close()
