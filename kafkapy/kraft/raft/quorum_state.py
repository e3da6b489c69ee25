"""This node's place in the quorum: one small class per state, and the legal moves.

Theory of operation. Every node is in exactly one :class:`EpochState` of an epoch.
The epoch only grows. What must survive a restart is the :class:`ElectionState`
(epoch, leader, voted candidate), Kafka's ``quorum-state`` file: a transition that
changes it is *durable* and leaves it in :attr:`QuorumState.pending_election` for the
caller to write before sending anything, so a restart never votes twice in one epoch.
The prospective and resigned states are kept in memory only, as in Kafka.

Transitions (``QuorumState.transition_to_*``) and their triggers, after Kafka's
``QuorumState`` (KIP-595, KIP-996 pre-vote), voters:

    Unattached  -> Unattached:  learns of a higher epoch
                -> Voted:       grants a vote to a candidate in this or a higher epoch
                -> Prospective: election timeout expires
                -> Follower:    discovers a leader of this or a higher epoch
    Voted       -> Unattached:  learns of a higher epoch
                -> Prospective: election timeout expires
                -> Follower:    discovers a leader of this or a higher epoch
    Prospective -> Unattached:  learns of a higher epoch; or loses / times out the
                                pre-vote with no leader known and no vote cast
                -> Voted:       grants a vote to a candidate of this epoch; or loses /
                                times out the pre-vote having voted in this epoch
                -> Candidate:   a majority granted the pre-vote
                -> Follower:    discovers a leader of this or a higher epoch; or loses
                                / times out the pre-vote with a leader known
    Candidate   -> Unattached:  learns of a higher epoch
                -> Prospective: election timeout expires, or a majority rejected
                -> Leader:      a majority granted the vote
                -> Follower:    discovers a leader of this or a higher epoch
    Leader      -> Unattached:  learns of a higher epoch
                -> Resigned:    graceful shutdown, removal from the voters, or no
                                fetch from a majority within 1.5x fetch timeout
                -> Follower:    discovers a leader of a higher epoch
    Follower    -> Unattached:  learns of a higher epoch
                -> Prospective: fetch timeout expires
                -> Follower:    discovers a leader of a higher epoch
    Resigned    -> Unattached:  learns of a higher epoch; or election timeout expires
                                (epoch + 1)
                -> Follower:    discovers a leader of a higher epoch

Observers (not in the voter set) only move between Unattached and Follower. Anything
else raises :class:`RaftInvariantError`. Kafka 4 folds Voted into Unattached with a
voted key; it is a state of its own here, which keeps ``can_grant_vote`` per class.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.epoch_state import ElectionState, EpochElection, EpochState
from kafkapy.kraft.raft.errors import RaftInvariantError
from kafkapy.kraft.raft.leader_state import LeaderState
from kafkapy.kraft.raft.messages import OffsetAndEpoch, ReplicaKey
from kafkapy.kraft.raft.voters import VoterSet, VoterSetHistory


class UnattachedState(EpochState):
    """Knows the epoch, not its leader; has not voted. Observers never time out here."""

    name = "Unattached"
    __slots__ = ()

    def can_grant_vote(self, candidate: ReplicaKey, log_up_to_date: bool, pre_vote: bool) -> bool:
        return log_up_to_date


class VotedState(EpochState):
    """Granted its vote of this epoch to ``voted_key``; waits for that leader."""

    name = "Voted"
    __slots__ = ("voted_key",)

    def __init__(self, epoch: int, deadline_ms: float, voted_key: ReplicaKey) -> None:
        super().__init__(epoch, deadline_ms)
        self.voted_key = voted_key

    def can_grant_vote(self, candidate: ReplicaKey, log_up_to_date: bool, pre_vote: bool) -> bool:
        if pre_vote:
            return log_up_to_date
        return candidate.id == self.voted_key.id  # type: ignore[union-attr]


class ProspectiveState(EpochState):
    """Asks for pre-votes (KIP-996) without bumping the epoch; keeps leader and vote."""

    name = "Prospective"
    __slots__ = ("election", "leader_id", "retries", "voted_key")

    def __init__(self, epoch: int, deadline_ms: float, leader_id: int | None,
                 voted_key: ReplicaKey | None, election: EpochElection, retries: int) -> None:
        super().__init__(epoch, deadline_ms)
        self.leader_id = leader_id
        self.voted_key = voted_key
        self.election = election
        self.retries = retries

    def can_grant_vote(self, candidate: ReplicaKey, log_up_to_date: bool, pre_vote: bool) -> bool:
        if pre_vote:
            return log_up_to_date
        if self.voted_key is not None:
            return self.voted_key.id == candidate.id
        return self.leader_id is None and log_up_to_date


class CandidateState(EpochState):
    """Bumped the epoch, voted for itself, asks for votes."""

    name = "Candidate"
    __slots__ = ("election", "retries", "voted_key")

    def __init__(self, epoch: int, deadline_ms: float, local: ReplicaKey,
                 election: EpochElection, retries: int) -> None:
        super().__init__(epoch, deadline_ms)
        self.voted_key = local
        self.election = election
        self.retries = retries


class FollowerState(EpochState):
    """Fetches from the known leader; ``deadline_ms`` is the fetch timeout.

    ``has_fetched_from_leader``: a fetch succeeded since this state began. Until then
    the leader may be unreachable from here, so pre-votes are granted (KIP-996).
    ``fetching_snapshot``: the snapshot being downloaded and the bytes so far.
    """

    name = "Follower"
    __slots__ = ("fetching_snapshot", "has_fetched_from_leader", "leader_id", "voted_key")

    def __init__(self, epoch: int, deadline_ms: float, leader_id: int,
                 voted_key: ReplicaKey | None) -> None:
        super().__init__(epoch, deadline_ms)
        self.leader_id = leader_id
        self.voted_key = voted_key
        self.has_fetched_from_leader = False
        self.fetching_snapshot: tuple[OffsetAndEpoch, bytearray] | None = None

    def can_grant_vote(self, candidate: ReplicaKey, log_up_to_date: bool, pre_vote: bool) -> bool:
        return pre_vote and not self.has_fetched_from_leader and log_up_to_date


class ResignedState(EpochState):
    """A leader that stepped down; tells the voters with EndQuorumEpoch until they answer."""

    name = "Resigned"
    __slots__ = ("leader_id", "preferred_successors", "unacknowledged")

    def __init__(self, epoch: int, deadline_ms: float, local_id: int,
                 preferred_successors: tuple[int, ...], voters: VoterSet) -> None:
        super().__init__(epoch, deadline_ms)
        self.leader_id = local_id
        self.preferred_successors = preferred_successors
        self.unacknowledged = set(voters.ids) - {local_id}


class QuorumState:
    """Holds the current :class:`EpochState` and performs the checked transitions.

    Not task-safe: owned by one :class:`~kafkapy.kraft.raft.node.RaftNode`.
    """

    __slots__ = ("config", "high_watermark", "local", "pending_election", "random", "state", "voters")

    def __init__(self, config: RaftConfig, voters: VoterSetHistory, rng: _random.Random,
                 high_watermark: Callable[[], int | None]) -> None:
        self.local = ReplicaKey(config.node_id, config.directory_id)
        self.voters = voters
        self.high_watermark = high_watermark
        self.config = config
        self.random = rng
        self.state: EpochState = UnattachedState(0, float("inf"))
        self.pending_election: ElectionState | None = None

    # --- queries --------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.state.epoch

    @property
    def leader_id(self) -> int | None:
        return self.state.leader_id

    @property
    def is_voter(self) -> bool:
        return self.local.id in self.voters.last

    @property
    def can_campaign(self) -> bool:
        """Whether this node may stand for election (see ``VoterSetHistory.campaign_set``)."""
        return self.local.id in self.voters.campaign_set(self.high_watermark())

    def remote_voters(self) -> list[int]:
        return sorted(self.voters.last.ids - {self.local.id})

    def random_election_timeout_ms(self) -> int:
        timeout = self.config.election_timeout_ms
        return timeout + self.random.randrange(timeout) if timeout > 0 else 0

    def _election_deadline(self, now_ms: int) -> float:
        return now_ms + self.random_election_timeout_ms() if self.can_campaign else float("inf")

    # --- start ----------------------------------------------------------------------

    def initialize(self, election: ElectionState | None, log_end: OffsetAndEpoch, now_ms: int) -> None:
        """Resume from the persisted election state (Kafka's ``QuorumState.initialize``).

        A node that was leader restarts Resigned in the same epoch, so it can neither
        vote again in that epoch nor reuse an (offset, epoch) lost in an unflushed tail.
        A node that was a candidate restarts as the Candidate of that epoch.
        """
        deadline = self._election_deadline(now_ms)
        local = self.local.id
        if election is None or election.epoch < log_end.epoch:
            self.state = UnattachedState(max(log_end.epoch, election.epoch if election else 0), deadline)
        elif election.leader_id == local:
            self.state = ResignedState(election.epoch, deadline, local, (), self.voters.last)
        elif election.voted_key is not None and election.voted_key.id == local:
            candidate = CandidateState(election.epoch, deadline, self.local,
                                       EpochElection(self.voters.last, local), 1)
            self.state = candidate
        elif election.leader_id is not None:
            self.state = FollowerState(election.epoch, now_ms + self.config.fetch_timeout_ms,
                                       election.leader_id, election.voted_key)
        elif election.voted_key is not None:
            self.state = VotedState(election.epoch, deadline, election.voted_key)
        else:
            self.state = UnattachedState(election.epoch, deadline)

    # --- transitions ----------------------------------------------------------------

    def _fail(self, target: str, why: str) -> RaftInvariantError:
        return RaftInvariantError(f"node {self.local.id}: illegal transition {self.state} -> {target}: {why}")

    def _durable(self, state: EpochState) -> None:
        self.state = state
        self.pending_election = state.election_state()

    def transition_to_unattached(self, epoch: int, now_ms: int) -> None:
        current = self.state
        same_epoch_ok = isinstance(current, ProspectiveState) and current.voted_key is None \
            and current.leader_id is None
        if epoch < current.epoch or (epoch == current.epoch and not same_epoch_ok):
            raise self._fail("Unattached", f"epoch {epoch}")
        if epoch == current.epoch:
            deadline = self._election_deadline(now_ms)
        elif isinstance(current, (UnattachedState, VotedState, CandidateState, ProspectiveState)):
            deadline = current.deadline_ms if self.can_campaign else float("inf")
        else:
            deadline = self._election_deadline(now_ms)
        self._durable(UnattachedState(epoch, deadline))

    def transition_to_voted(self, epoch: int, candidate: ReplicaKey, now_ms: int) -> None:
        current = self.state
        if candidate.id == self.local.id:
            raise self._fail("Voted", "a vote for itself is a candidacy")
        same_epoch_ok = isinstance(current, UnattachedState) or (
            isinstance(current, ProspectiveState) and current.voted_key is None and current.leader_id is None)
        if epoch < current.epoch or (epoch == current.epoch and not same_epoch_ok):
            raise self._fail("Voted", f"epoch {epoch}")
        if epoch > current.epoch:
            raise self._fail("Voted", "move to the higher epoch as Unattached first")
        # A fresh timer: the candidate has at least our chance of winning (Kafka).
        self._durable(VotedState(epoch, self._election_deadline(now_ms), candidate))

    def transition_to_follower(self, epoch: int, leader_id: int, now_ms: int) -> None:
        current = self.state
        if leader_id == self.local.id:
            raise self._fail("Follower", "the leader is this node")
        if epoch < current.epoch or (
            epoch == current.epoch and isinstance(current, (FollowerState, LeaderState, ResignedState))
        ):
            raise self._fail("Follower", f"leader {leader_id} epoch {epoch}")
        voted = current.voted_key if epoch == current.epoch else None
        self._durable(FollowerState(epoch, now_ms + self.config.fetch_timeout_ms, leader_id, voted))

    def transition_to_prospective(self, now_ms: int) -> None:
        current = self.state
        if not self.can_campaign or not isinstance(
            current, (UnattachedState, VotedState, FollowerState, CandidateState)
        ):
            raise self._fail("Prospective", f"may campaign={self.can_campaign}")
        retries = current.retries + 1 if isinstance(current, CandidateState) else 1
        leader = current.leader_id if isinstance(current, FollowerState) else None
        voted = None if isinstance(current, CandidateState) else current.voted_key
        if isinstance(current, CandidateState):
            # The candidate voted for itself in its epoch; that vote stays recorded.
            voted = current.voted_key
        self.state = ProspectiveState(
            current.epoch, self._election_deadline(now_ms), leader, voted,
            EpochElection(self.voters.last, self.local.id), retries,
        )

    def transition_back_from_prospective(self, now_ms: int) -> None:
        """A lost or timed-out pre-vote: back to follower, voted or unattached."""
        current = self.state
        if not isinstance(current, ProspectiveState):
            raise self._fail("Unattached/Voted/Follower", "not prospective")
        deadline = self._election_deadline(now_ms)
        if current.leader_id is not None:
            self.state = FollowerState(current.epoch, now_ms + self.config.fetch_timeout_ms,
                                       current.leader_id, current.voted_key)
        elif current.voted_key is not None:
            self.state = VotedState(current.epoch, deadline, current.voted_key)
        else:
            self.state = UnattachedState(current.epoch, deadline)

    def transition_to_candidate(self, now_ms: int) -> None:
        current = self.state
        if not self.can_campaign or not isinstance(current, ProspectiveState):
            raise self._fail("Candidate", "only a prospective voter may stand")
        if not current.election.is_granted:
            raise self._fail("Candidate", "no majority of pre-votes")
        self._durable(CandidateState(
            current.epoch + 1, self._election_deadline(now_ms), self.local,
            EpochElection(self.voters.last, self.local.id), current.retries,
        ))

    def transition_to_leader(self, epoch_start_offset: int, now_ms: int) -> LeaderState:
        current = self.state
        if not self.can_campaign or not isinstance(current, CandidateState):
            raise self._fail("Leader", "not a candidate")
        if not current.election.is_granted:
            raise self._fail("Leader", "no majority of votes")
        # The leader does not keep the high watermark it knew: it only publishes one
        # once a majority has the epoch start offset, so the global one never drops.
        leader = LeaderState(
            self.local, current.epoch, epoch_start_offset, self.voters,
            frozenset(current.election.granted), self.config, now_ms,
        )
        self._durable(leader)
        return leader

    def transition_to_resigned(self, preferred_successors: tuple[int, ...], now_ms: int) -> None:
        current = self.state
        if not isinstance(current, LeaderState):
            raise self._fail("Resigned", "not the leader")
        # Soft state: a restarted leader comes back Resigned anyway.
        self.state = ResignedState(current.epoch, now_ms + self.random_election_timeout_ms(),
                                   self.local.id, preferred_successors, self.voters.last)
