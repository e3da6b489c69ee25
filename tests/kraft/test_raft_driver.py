"""Three trio drivers in one run, on trio's autojump clock, over memory channels."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.driver import MemoryNetwork, NotLeaderError, RaftDriver
from kafkapy.kraft.raft.file_log import FileRaftLog
from kafkapy.kraft.raft.memory_log import MemoryLog
from kafkapy.kraft.raft.quorum_store import FileQuorumStateStore, MemoryQuorumStateStore
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.kraft.raft.simulation import JsonSnapshotCodec
from kafkapy.kraft.raft.snapshot import SnapshotPolicy
from kafkapy.kraft.raft.voters import VoterSet

VOTERS = (1, 2, 3)


class Recorder:
    """A state machine: the committed data values, in order."""

    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.leaders: list[tuple[int | None, int]] = []

    def handle_load_snapshot(self, end_offset: int, epoch: int, values: Sequence[bytes]) -> None:
        self.values = list(values)

    def handle_commit(self, entries: Sequence[LogEntry]) -> None:
        self.values += [e.value for e in entries if isinstance(e.value, bytes)]

    def handle_leader_change(self, leader_id: int | None, epoch: int) -> None:
        self.leaders.append((leader_id, epoch))


class Node:
    """A node's durable state (log, quorum-state) and, while it runs, its driver.

    With ``directory``, both are files (``__cluster_metadata-0``, ``quorum-state``) and a
    restart reopens them from disk.
    """

    def __init__(self, node_id: int, directory: Path | None = None) -> None:
        self.node_id = node_id
        self.directory = directory
        self.log: MemoryLog = MemoryLog(JsonSnapshotCodec())
        self.store: MemoryQuorumStateStore | FileQuorumStateStore = MemoryQuorumStateStore()
        self.recorder = Recorder()
        self.driver: RaftDriver | None = None
        self.scope: trio.CancelScope | None = None

    async def start(self, nursery: trio.Nursery, network: MemoryNetwork, snapshot_bytes: int | None) -> None:
        if self.directory is not None:
            self.log = FileRaftLog.open(str(self.directory))
            self.store = FileQuorumStateStore(self.log.directory)
        transport, inbox = network.connect(self.node_id)
        self.recorder = Recorder()
        policy = SnapshotPolicy(max_bytes=snapshot_bytes) if snapshot_bytes else None
        self.driver = RaftDriver(
            RaftConfig(self.node_id, cluster_id="test"), self.log, self.store, transport, inbox,
            static_voters=VoterSet.of_ids(VOTERS), rng=random.Random(self.node_id),
            snapshot_source=(lambda: list(self.recorder.values)) if snapshot_bytes else None,
            snapshot_policy=policy)
        self.driver.register(self.recorder)
        self.scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            assert self.scope is not None and self.driver is not None
            with self.scope:
                await self.driver.run(task_status=task_status)

        await nursery.start(run)

    def kill(self, network: MemoryNetwork) -> None:
        assert self.scope is not None
        self.scope.cancel()
        network.disconnect(self.node_id)
        self.driver = None
        if isinstance(self.log, FileRaftLog):
            self.log.close()


async def wait_for_leader(nodes: dict[int, Node], exclude: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    with trio.fail_after(60):
        while True:
            for node_id, node in nodes.items():
                if node_id not in exclude and node.driver is not None and node.driver.node.is_leader:
                    return node_id
            await trio.sleep(0.05)


async def propose_and_wait(nodes: dict[int, Node], value: bytes, live: set[int]) -> None:
    with trio.fail_after(60):
        while True:
            leader = await wait_for_leader(nodes, set(nodes) - live)
            driver = nodes[leader].driver
            assert driver is not None
            try:
                await driver.propose([value])
                break
            except NotLeaderError:
                await trio.sleep(0.1)
        while not all(value in nodes[i].recorder.values for i in live):
            await trio.sleep(0.05)


@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "files"])
@pytest.mark.parametrize("snapshot_bytes", [None, 8])
async def test_three_drivers_elect_commit_and_reelect(snapshot_bytes: int | None, on_disk: bool, tmp_path: Path,
                                                      autojump_clock: trio.testing.MockClock) -> None:
    network = MemoryNetwork()
    nodes = {i: Node(i, tmp_path / str(i) if on_disk else None) for i in VOTERS}
    async with trio.open_nursery() as nursery:
        for node in nodes.values():
            await node.start(nursery, network, snapshot_bytes)
        first = await wait_for_leader(nodes)
        for i in range(5):
            await propose_and_wait(nodes, f"a{i}".encode(), set(VOTERS))
        epoch = nodes[first].driver.node.epoch  # type: ignore[union-attr]
        follower = next(i for i in VOTERS if i != first)
        with pytest.raises(NotLeaderError):
            await nodes[follower].driver.propose([b"nope"])  # type: ignore[union-attr]

        nodes[first].kill(network)
        survivors = set(VOTERS) - {first}
        second = await wait_for_leader(nodes, {first})
        assert second != first
        assert nodes[second].driver.node.epoch > epoch  # type: ignore[union-attr]
        await propose_and_wait(nodes, b"b0", survivors)
        for i in survivors:
            assert nodes[i].recorder.values == [b"a0", b"a1", b"a2", b"a3", b"a4", b"b0"]
            assert nodes[i].recorder.leaders[-1] == (second, nodes[second].driver.node.epoch)  # type: ignore[union-attr]

        # The killed node restarts from what it persisted and catches up.
        await nodes[first].start(nursery, network, snapshot_bytes)
        await propose_and_wait(nodes, b"c0", set(VOTERS))
        assert nodes[first].recorder.values == nodes[second].recorder.values
        if snapshot_bytes:
            assert all(n.log.latest_snapshot() is not None for n in nodes.values())
        if on_disk:
            # Every node wrote Kafka's quorum-state file and the log's first segment.
            for i in VOTERS:
                assert (tmp_path / str(i) / "__cluster_metadata-0" / "quorum-state").exists()
        nursery.cancel_scope.cancel()


async def test_single_voter_commits_alone(autojump_clock: trio.testing.MockClock) -> None:
    network = MemoryNetwork()
    transport, inbox = network.connect(1)
    log = MemoryLog(JsonSnapshotCodec())
    driver = RaftDriver(RaftConfig(1), log, MemoryQuorumStateStore(), transport, inbox,
                        static_voters=VoterSet.of_ids([1]), rng=random.Random(1))
    recorder = Recorder()
    driver.register(recorder)
    async with trio.open_nursery() as nursery:
        await nursery.start(driver.run)
        with trio.fail_after(5):
            while not driver.node.is_leader:
                await trio.sleep(0.01)
            offset = await driver.propose([b"x"])
            while recorder.values != [b"x"]:
                await trio.sleep(0.01)
        assert driver.node.high_watermark == offset + 1
        assert driver.describe_quorum().current_voters[0].log_end_offset == offset + 1
        nursery.cancel_scope.cancel()
