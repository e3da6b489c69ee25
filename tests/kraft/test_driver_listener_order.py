"""The order in which the Raft driver tells its listener of a new leader and of commits.

A single voter elects itself and commits its epoch's first entry (the LeaderChange
control record) in one step. The listener must hear of the leader first: the metadata
service activates its controller when an entry of the leader's own epoch commits, so
a leader change announced after that commit would leave the controller inactive until
some later write.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import trio

from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.driver import MemoryNetwork, RaftDriver
from kafkapy.kraft.raft.memory_log import MemoryLog
from kafkapy.kraft.raft.quorum_store import MemoryQuorumStateStore
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.kraft.raft.simulation import JsonSnapshotCodec
from kafkapy.kraft.raft.voters import VoterSet


class EventLog:
    """Every listener call, in order: ("leader", id, epoch) and ("commit", offset, epoch)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int | None, int]] = []

    def handle_load_snapshot(self, end_offset: int, epoch: int, values: Sequence[bytes]) -> None:
        self.events.append(("snapshot", end_offset, epoch))

    def handle_commit(self, entries: Sequence[LogEntry]) -> None:
        self.events += [("commit", e.offset, e.epoch) for e in entries]

    def handle_leader_change(self, leader_id: int | None, epoch: int) -> None:
        self.events.append(("leader", leader_id, epoch))


async def test_single_voter_announces_its_leadership_before_the_first_commit_of_its_epoch() -> None:
    listener = EventLog()
    transport, inbox = MemoryNetwork().connect(1)
    driver = RaftDriver(RaftConfig(1, cluster_id="test", election_timeout_ms=100), MemoryLog(JsonSnapshotCodec()),
                        MemoryQuorumStateStore(), transport, inbox, static_voters=VoterSet.of_ids((1,)),
                        rng=random.Random(1))
    driver.register(listener)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            while not any(kind == "commit" for kind, _, _ in listener.events):
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    epoch = driver.node.epoch
    first_commit = next(i for i, (kind, _, e) in enumerate(listener.events) if kind == "commit" and e == epoch)
    assert ("leader", 1, epoch) in listener.events[:first_commit]
