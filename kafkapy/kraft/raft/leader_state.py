"""The leader's epoch state: replica progress, the high watermark, check-quorum.

High watermark (Kafka's ``LeaderState.maybeUpdateHighWatermark``): the largest offset
that a majority of the current voters has reached, counting the leader's own
*persisted* end offset and each follower's last fetch offset (the fetch offset is the
ack). It is published only once it passes the epoch start offset (the offset of this
leader's LeaderChange record), so a new leader never shows a high watermark below one
an old leader showed, and it never moves back.

Check quorum: if fewer than a majority of voters (itself included) fetched within
1.5 x fetch timeout, the leader resigns, so a partitioned leader lets the majority
side elect another without disturbing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.epoch_state import EpochState
from kafkapy.kraft.raft.messages import Envelope, ReplicaKey, ReplicaState
from kafkapy.kraft.raft.voters import VoterSetHistory


@dataclass(slots=True)
class ReplicaProgress:
    """What the leader knows of one voter or observer."""

    key: ReplicaKey
    end_offset: int = -1
    last_fetch_ms: int = -1
    last_caught_up_ms: int = -1
    last_sent_high_watermark: int = -1

    def describe(self) -> ReplicaState:
        return ReplicaState(self.key.id, self.key.directory_id, self.end_offset,
                            self.last_fetch_ms, self.last_caught_up_ms)


@dataclass(slots=True)
class PendingVoterChange:
    """An AddRaftVoter / RemoveRaftVoter / UpdateRaftVoter in progress (one at a time).

    ``record_offset`` is None while an added voter catches up, then the offset of the
    VotersRecord; the response goes out when the high watermark passes it.
    """

    request: Envelope
    deadline_ms: int
    record_offset: int | None = None


class LeaderState(EpochState):
    """Leader of ``epoch`` since ``epoch_start_offset``. Not task-safe: owned by one node."""

    name = "Leader"
    __slots__ = (
        "begin_quorum_unacknowledged",
        "config",
        "epoch_start_offset",
        "fetched_voters",
        "granting_voters",
        "high_watermark",
        "leader_id",
        "local",
        "local_end_offset",
        "parked_fetches",
        "pending_voter_change",
        "replicas",
        "voted_key",
        "voters",
    )

    def __init__(self, local: ReplicaKey, epoch: int, epoch_start_offset: int,
                 voters: VoterSetHistory, granting_voters: frozenset[int],
                 config: RaftConfig, now_ms: int) -> None:
        super().__init__(epoch, now_ms + self.check_quorum_timeout_ms(config))
        self.leader_id = local.id
        self.voted_key = local
        self.local = local
        self.epoch_start_offset = epoch_start_offset
        self.voters = voters
        self.granting_voters = granting_voters
        self.config = config
        self.high_watermark: int | None = None
        self.local_end_offset = -1
        self.replicas: dict[int, ReplicaProgress] = {}
        self.fetched_voters: set[int] = set()
        self.begin_quorum_unacknowledged = set(voters.last.ids) - {local.id}
        self.parked_fetches: dict[int, tuple[Envelope, int]] = {}
        self.pending_voter_change: PendingVoterChange | None = None

    def can_grant_vote(self, candidate: ReplicaKey, log_up_to_date: bool, pre_vote: bool) -> bool:
        """A leader grants neither votes nor pre-votes in its epoch (Kafka's LeaderState)."""
        return False

    @staticmethod
    def check_quorum_timeout_ms(config: RaftConfig) -> int:
        return config.fetch_timeout_ms * 3 // 2

    def progress(self, key: ReplicaKey) -> ReplicaProgress:
        replica = self.replicas.get(key.id)
        if replica is None or replica.key != key:
            replica = self.replicas[key.id] = ReplicaProgress(key)
        return replica

    def update_local_end_offset(self, end_offset: int) -> bool:
        """Record the leader's persisted end offset; True if the high watermark moved."""
        self.local_end_offset = end_offset
        return self.maybe_update_high_watermark()

    def update_replica(self, key: ReplicaKey, fetch_offset: int, leader_end_offset: int,
                       now_ms: int) -> bool:
        """Record a fetch (the ack); True if the high watermark moved."""
        replica = self.progress(key)
        replica.end_offset = fetch_offset
        replica.last_fetch_ms = now_ms
        if fetch_offset >= leader_end_offset:
            replica.last_caught_up_ms = now_ms
        if key.id in self.voters.last:
            self.begin_quorum_unacknowledged.discard(key.id)
            self.record_voter_fetch(key.id, now_ms)
        return self.maybe_update_high_watermark()

    def record_voter_fetch(self, voter_id: int, now_ms: int) -> None:
        self.fetched_voters.add(voter_id)
        voters = self.voters.last
        local = 1 if self.local.id in voters else 0
        if len(self.fetched_voters & voters.ids) + local >= voters.majority:
            self.fetched_voters.clear()
            self.deadline_ms = now_ms + self.check_quorum_timeout_ms(self.config)

    def maybe_update_high_watermark(self) -> bool:
        voters = self.voters.last
        if not len(voters):
            return False
        offsets = sorted(
            (self.local_end_offset if v == self.local.id else
             (self.replicas[v].end_offset if v in self.replicas else -1) for v in voters.ids),
            reverse=True,
        )
        candidate = offsets[voters.majority - 1]
        if candidate > self.epoch_start_offset and (self.high_watermark is None or candidate > self.high_watermark):
            self.high_watermark = candidate
            return True
        return False

    def voters_by_descending_end_offset(self) -> tuple[int, ...]:
        """Preferred successors for EndQuorumEpoch: the most caught-up voters first."""
        others = [v for v in self.voters.last.ids if v != self.local.id]
        return tuple(sorted(others, key=lambda v: (-(self.replicas[v].end_offset if v in self.replicas else -1), v)))

    def describe(self, now_ms: int) -> tuple[tuple[ReplicaState, ...], tuple[ReplicaState, ...]]:
        """(voters, observers) for DescribeQuorum; the leader reports itself as caught up."""
        voters = []
        for v in sorted(self.voters.last.ids):
            if v == self.local.id:
                voters.append(ReplicaState(v, self.local.directory_id, self.local_end_offset, now_ms, now_ms))
            elif v in self.replicas:
                voters.append(self.replicas[v].describe())
            else:
                voters.append(ReplicaState(v, None, -1, -1, -1))
        observers = tuple(
            r.describe() for i, r in sorted(self.replicas.items()) if i not in self.voters.last
        )
        return tuple(voters), observers
