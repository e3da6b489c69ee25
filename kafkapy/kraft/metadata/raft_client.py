"""What the metadata layer needs from the Raft quorum, and what it offers back.

This is Kafka's ``RaftClient`` / ``RaftClient.Listener`` split, narrowed to what the
metadata service uses. The trio driver of the Raft core implements :class:`RaftClient`;
:class:`~kafkapy.kraft.metadata.service.MetadataService` implements
:class:`MetadataListener`. The driver calls the listener from its loop, in log order:
a snapshot load (when a node starts from, or downloads, a snapshot), then committed
entries, and leader changes as they happen. A single node is a one-voter quorum behind
the same interface, so the code path is the same from one node to many.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from kafkapy.kraft.raft.records import LogEntry


class MetadataListener(Protocol):
    """Receives the committed ``__cluster_metadata`` log (Kafka's ``RaftClient.Listener``)."""

    def handle_load_snapshot(self, end_offset: int, epoch: int, values: Iterable[bytes]) -> None:
        """Replace all state with a snapshot: its data record values, in order.

        ``end_offset`` is the snapshot id's (exclusive) end offset, ``epoch`` the epoch
        of its last record.
        """

    def handle_commit(self, entries: Sequence[LogEntry]) -> None:
        """Newly committed entries, in offset order (data values and control records)."""

    def handle_leader_change(self, leader_id: int | None, epoch: int) -> None:
        """The quorum has a new epoch; ``leader_id`` is None while no leader is known."""


class RaftClient(Protocol):
    """The replicated log as the metadata service uses it."""

    @property
    def node_id(self) -> int: ...

    def register(self, listener: MetadataListener) -> None:
        """Deliver snapshot loads, commits and leader changes to ``listener`` from now on."""

    async def propose(self, values: Sequence[bytes]) -> int:
        """Append data records as one batch, if this node leads.

        Returns:
            The offset of the last record appended; it is committed when a later
            ``handle_commit`` carries it (and may never be, if leadership is lost).
        Raises:
            NotControllerError: this node is not the leader.
        """
