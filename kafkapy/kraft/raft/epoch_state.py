"""The pieces every epoch state shares: the persisted election, vote counting, the base class."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from kafkapy.kraft.raft.messages import ReplicaKey
from kafkapy.kraft.raft.voters import VoterSet


class ElectionState(NamedTuple):
    """What ``quorum-state`` holds: the epoch, its leader and this node's vote in it."""

    epoch: int
    leader_id: int | None = None
    voted_key: ReplicaKey | None = None


class EpochElection:
    """Granted and rejected (pre-)votes of one election, counted against its voters."""

    __slots__ = ("granted", "rejected", "voters")

    def __init__(self, voters: VoterSet, local_id: int) -> None:
        self.voters = voters
        self.granted = {local_id}
        self.rejected: set[int] = set()

    def record(self, voter_id: int, granted: bool) -> None:
        if voter_id not in self.voters:
            return
        (self.granted if granted else self.rejected).add(voter_id)

    def unrecorded(self) -> list[int]:
        return sorted(self.voters.ids - self.granted - self.rejected)

    @property
    def is_granted(self) -> bool:
        return len(self.granted & self.voters.ids) >= self.voters.majority

    @property
    def is_rejected(self) -> bool:
        return len(self.rejected) > len(self.voters) - self.voters.majority


class EpochState:
    """One state of one epoch; ``deadline_ms`` is its own timer (election or fetch)."""

    name: ClassVar[str]
    __slots__ = ("deadline_ms", "epoch")
    leader_id: int | None = None
    voted_key: ReplicaKey | None = None

    def __init__(self, epoch: int, deadline_ms: float) -> None:
        self.epoch = epoch
        self.deadline_ms = deadline_ms

    def election_state(self) -> ElectionState:
        return ElectionState(self.epoch, self.leader_id, self.voted_key)

    def can_grant_vote(self, candidate: ReplicaKey, log_up_to_date: bool, pre_vote: bool) -> bool:
        """Whether a (pre-)vote of this epoch may be granted, the log check included."""
        return log_up_to_date if pre_vote else False

    def __repr__(self) -> str:
        return f"{self.name}(epoch={self.epoch}, leader={self.leader_id}, voted={self.voted_key})"
