"""The test double of the Raft client for metadata tests (tests only, never product code).

:class:`SingleVoterLog` stands in for the Raft client behind the
:class:`~kafkapy.kraft.metadata.raft_client.RaftClient` protocol: a one-voter quorum in
memory, which commits every proposal as soon as its delivery task runs. The product runs
the real Raft driver, one voter or many.
"""

from __future__ import annotations

import math
from typing import Sequence

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
