"""The test double of the Raft client for metadata tests (tests only, never product code).

:class:`SingleVoterLog` stands in for the Raft client behind the
:class:`~kafkapy.kraft.metadata.raft_client.RaftClient` protocol: a one-voter quorum in
memory, which commits every proposal as soon as its delivery task runs. The product runs
the real Raft driver, one voter or many.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import trio

from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.raft_client import MetadataListener
from kafkapy.kraft.raft.records import LeaderChangeMessage, LogEntry


class SingleVoterLog:
    """A one-voter ``__cluster_metadata`` log in memory (test double of the Raft client).

    ``elect()`` starts a new epoch led by this node and appends its LeaderChange
    record; ``propose`` appends and queues a commit; :meth:`run` delivers commits.
    ``lose_leadership(leader)`` moves to a new epoch led elsewhere and drops what was
    not delivered yet, as a deposed leader's uncommitted tail is truncated.
    """

    def __init__(self, node_id: int = 1) -> None:
        self._node_id = node_id
        self.entries: list[LogEntry] = []
        self.epoch = 0
        self.leader: int | None = None
        self.listener: MetadataListener | None = None
        self._send, self._receive = trio.open_memory_channel[list[LogEntry]](math.inf)

    @property
    def node_id(self) -> int:
        return self._node_id

    def register(self, listener: MetadataListener) -> None:
        self.listener = listener

    def _append(self, values: Sequence[object]) -> int:
        start = len(self.entries)
        batch = [LogEntry(start + i, self.epoch, v) for i, v in enumerate(values)]
        self.entries += batch
        self._send.send_nowait(batch)
        return batch[-1].offset

    def elect(self) -> None:
        self.epoch += 1
        self.leader = self._node_id
        assert self.listener is not None
        self.listener.handle_leader_change(self._node_id, self.epoch)
        self._append([LeaderChangeMessage(self._node_id, (self._node_id,), (self._node_id,))])

    def lose_leadership(self, new_leader: int) -> None:
        self.epoch += 1
        self.leader = new_leader
        while True:
            try:
                dropped = self._receive.receive_nowait()
            except trio.WouldBlock:
                break
            del self.entries[dropped[0].offset:]
        assert self.listener is not None
        self.listener.handle_leader_change(new_leader, self.epoch)

    async def propose(self, values: Sequence[bytes]) -> int:
        if self.leader != self._node_id:
            raise NotControllerError("not the leader", self.leader)
        await trio.lowlevel.checkpoint()
        return self._append(list(values))

    async def run(self) -> None:
        assert self.listener is not None
        async for batch in self._receive:
            self.listener.handle_commit(batch)


class OneVoterRaft:
    """The real sans-I/O Raft core (``RaftNode`` on a ``MemoryLog``) as a one-voter quorum,
    pumped synchronously: the smallest driver that implements the RaftClient protocol.

    It persists every Ready into the memory log, hands committed entries to the
    listener, reports leader changes, and advances; ``tick(ms)`` moves its clock.
    """

    def __init__(self, node_id: int = 1) -> None:
        import random

        from kafkapy.kraft.raft.config import RaftConfig
        from kafkapy.kraft.raft.memory_log import MemoryLog
        from kafkapy.kraft.raft.node import RaftNode
        from kafkapy.kraft.raft.simulation import JsonSnapshotCodec
        from kafkapy.kraft.raft.voters import Voter, VoterSet

        self._node_id = node_id
        self.now = 0
        self.log = MemoryLog(JsonSnapshotCodec())
        self.node = RaftNode(RaftConfig(node_id, f"dir-{node_id}", "test-cluster"), self.log,
                             random.Random(node_id), self.now,
                             static_voters=VoterSet([Voter(node_id, f"dir-{node_id}")]))
        self.listener: MetadataListener | None = None
        self._leader: tuple[int | None, int] = (None, -1)

    @property
    def node_id(self) -> int:
        return self._node_id

    def register(self, listener: MetadataListener) -> None:
        self.listener = listener

    def tick(self, ms: int) -> None:
        self.now += ms
        self.node.tick(self.now)
        self.pump()

    def pump(self) -> None:
        assert self.listener is not None
        while True:
            leader = (self.node.leader_id, self.node.epoch)
            if leader != self._leader:
                self._leader = leader
                self.listener.handle_leader_change(*leader)
            if not self.node.has_ready():
                return
            ready = self.node.ready()
            self.log.persist(ready)
            if ready.committed:
                self.listener.handle_commit(ready.committed)
            self.node.advance(ready)

    async def propose(self, values: Sequence[bytes]) -> int:
        result = self.node.propose(values)
        if not isinstance(result, int) or isinstance(result, bool) or result < 0:
            raise NotControllerError(f"propose failed: {result!r}", self.node.leader_id)
        await trio.lowlevel.checkpoint()
        self.pump()
        return result
