"""The on-disk metadata log, snapshot files and quorum-state file survive reopening."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kafkapy.kraft.raft.epoch_state import ElectionState
from kafkapy.kraft.raft.errors import RaftError
from kafkapy.kraft.raft.file_log import FileRaftLog
from kafkapy.kraft.raft.log import EpochEntry
from kafkapy.kraft.raft.messages import OffsetAndEpoch, ReplicaKey
from kafkapy.kraft.raft.quorum_store import (
    FileQuorumStateStore,
    decode_quorum_state,
    encode_quorum_state,
)
from kafkapy.kraft.raft.records import KRaftVersionRecord, LeaderChangeMessage, LogEntry
from kafkapy.kraft.raft.snapshot import (
    SnapshotContent,
    parse_snapshot_file_name,
    snapshot_file_name,
)
from kafkapy.kraft.raft.voters import VoterSet


def entries(start: int, epoch: int, values: list[bytes]) -> list[LogEntry]:
    return [LogEntry(start + i, epoch, v) for i, v in enumerate(values)]


def reopen(log: FileRaftLog, root: Path) -> FileRaftLog:
    log.close()
    return FileRaftLog.open(str(root))


def test_entries_and_epochs_survive_reopen(tmp_path: Path) -> None:
    log = FileRaftLog.open(str(tmp_path))
    first = [LogEntry(0, 1, LeaderChangeMessage(1, (1, 2, 3), (1, 2))), LogEntry(1, 1, KRaftVersionRecord(1))]
    log.append(first)
    log.append(entries(2, 1, [b"a", b"b"]))
    log.append(entries(4, 3, [b"c"]))
    log = reopen(log, tmp_path)
    assert list(log.read(0, 5)) == first + entries(2, 1, [b"a", b"b"]) + entries(4, 3, [b"c"])
    assert list(log.epoch_entries()) == [EpochEntry(1, 0), EpochEntry(3, 4)]
    assert os.path.exists(tmp_path / "__cluster_metadata-0" / "00000000000000000000.log")

    log.truncate_to(3)
    log.append(entries(3, 4, [b"x"]))
    log = reopen(log, tmp_path)
    assert [e.value for e in log.read(2, 4)] == [b"a", b"x"]
    assert list(log.epoch_entries()) == [EpochEntry(1, 0), EpochEntry(4, 3)]


def test_snapshot_then_delete_before_it(tmp_path: Path) -> None:
    log = FileRaftLog.open(str(tmp_path))
    log.append(entries(0, 2, [b"v%d" % i for i in range(10)]))
    voters = VoterSet.of_ids([1, 2, 3])
    log.create_snapshot(SnapshotContent(OffsetAndEpoch(6, 2), voters, tuple(b"v%d" % i for i in range(6))))
    assert log.delete_before_snapshot() == 6
    directory = tmp_path / "__cluster_metadata-0"
    assert snapshot_file_name(OffsetAndEpoch(6, 2)) == "00000000000000000006-0000000002.checkpoint"
    assert (directory / "00000000000000000006-0000000002.checkpoint").exists()
    (directory / "00000000000000000009-0000000002.checkpoint.part").write_bytes(b"half")
    log = reopen(log, tmp_path)
    assert not (directory / "00000000000000000009-0000000002.checkpoint.part").exists()
    assert log.log_start_offset == 6 and log.end_offset == 10
    assert [e.value for e in log.read(6, 10)] == [b"v6", b"v7", b"v8", b"v9"]
    snapshot = log.latest_snapshot()
    assert snapshot is not None and snapshot.voters == voters
    assert list(log.snapshot_records(snapshot)) == [b"v%d" % i for i in range(6)]


def test_installed_snapshot_restarts_the_log(tmp_path: Path) -> None:
    source = FileRaftLog.open(str(tmp_path / "a"))
    source.append(entries(0, 1, [b"a", b"b", b"c"]))
    snapshot = source.create_snapshot(SnapshotContent(OffsetAndEpoch(3, 1), None, (b"a", b"b", b"c"), 0))
    follower = FileRaftLog.open(str(tmp_path / "b"))
    follower.append(entries(0, 1, [b"a"]))
    follower.install_snapshot(OffsetAndEpoch(3, 1), snapshot.data)
    follower.append(entries(3, 2, [b"d"]))
    follower = reopen(follower, tmp_path / "b")
    assert follower.log_start_offset == 3 and [e.value for e in follower.read(3, 4)] == [b"d"]
    assert parse_snapshot_file_name("00000000000000000003-0000000001.checkpoint") == OffsetAndEpoch(3, 1)
    assert parse_snapshot_file_name("00000000000000000003-0000000001.checkpoint.part") is None


def test_quorum_state_file_is_kafkas_json(tmp_path: Path) -> None:
    store = FileQuorumStateStore(str(tmp_path))
    assert store.read() is None
    election = ElectionState(2, None, ReplicaKey(1, "J8aAPcfLQt2bqs1JT_rMgQ"))
    store.write(election)
    doc = json.loads((tmp_path / "quorum-state").read_text())
    assert doc == {"leaderId": -1, "leaderEpoch": 2, "votedId": 1, "votedDirectoryId": "J8aAPcfLQt2bqs1JT_rMgQ",
                   "data_version": 1}
    assert store.read() == election
    assert decode_quorum_state(encode_quorum_state(ElectionState(5, 3, None))) == ElectionState(5, 3, None)
    # Version 0, as Kafka 3.x wrote it.
    v0 = '{"clusterId":"","leaderId":1,"leaderEpoch":2,"votedId":-1,"appliedOffset":0,"currentVoters":[],"data_version":0}'
    assert decode_quorum_state(v0) == ElectionState(2, 1, None)
    with pytest.raises(RaftError):
        decode_quorum_state('{"leaderEpoch":2,"data_version":7}')
