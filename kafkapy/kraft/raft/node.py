"""The Raft core of KRaft: a pure state machine in etcd's shape with Kafka's rules.

Theory of operation. A :class:`RaftNode` has no clock, no I/O and no task of its own.
Inputs: ``step(envelope)`` for a received request or response, ``tick(now_ms)`` for
time, ``propose(values)`` and ``resign()`` from the local application. Output:
``ready()`` returns a :class:`~kafkapy.kraft.raft.ready.Ready` (quorum state and log
changes to persist, messages to send before and after persisting, newly committed
entries, the next deadline); the caller does that work and calls ``advance(ready)``.
No input may arrive between ``ready()`` and ``advance()``.

The algorithm is Kafka's ``KafkaRaftClient`` (KIP-595, KIP-996, KIP-853): a node whose
election timeout (Unattached, Voted) or fetch timeout (Follower) expires becomes
Prospective and asks for pre-votes in its epoch; with a majority it becomes Candidate
in epoch + 1 and asks for votes; with a majority it becomes Leader, appends a
LeaderChange record at its epoch start offset and sends BeginQuorumEpoch. Followers
pull with Fetch; the fetch offset is the ack. The leader answers a fetch whose
(offset, last fetched epoch) is not on its log with a DivergingEpoch, and one below
its log start with a SnapshotId; the follower truncates, or downloads the snapshot
with FetchSnapshot. The high watermark is the majority's offset once past the epoch
start offset. A leader that resigns sends EndQuorumEpoch naming its successors.

Every timer, the random election jitter (from the ``random.Random`` passed in) and
every request's correlation id live here, so two nodes fed the same inputs produce
the same outputs: the simulation relies on that.

Not task-safe: one owner calls every method.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Sequence
from typing import Any

from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.epoch_state import ElectionState, EpochState
from kafkapy.kraft.raft.errors import RaftInvariantError
from kafkapy.kraft.raft.leader_state import LeaderState, PendingVoterChange
from kafkapy.kraft.raft.log import LogView, RaftLog, SnapshotInstall, Validation
from kafkapy.kraft.raft.messages import (
    HIGH_WATERMARK_NOT_SENT,
    NO_LEADER,
    AddRaftVoterRequest,
    AddRaftVoterResponse,
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    DescribeQuorumRequest,
    DescribeQuorumResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    Envelope,
    EpochEndOffset,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    LeaderIdAndEpoch,
    RemoveRaftVoterRequest,
    RemoveRaftVoterResponse,
    ReplicaKey,
    UpdateRaftVoterRequest,
    UpdateRaftVoterResponse,
    VoteRequest,
    VoteResponse,
)
from kafkapy.kraft.raft.quorum_state import (
    CandidateState,
    FollowerState,
    ProspectiveState,
    QuorumState,
    ResignedState,
    UnattachedState,
    VotedState,
)
from kafkapy.kraft.raft.ready import Ready
from kafkapy.kraft.raft.records import (
    KRaftVersionRecord,
    LeaderChangeMessage,
    LogEntry,
    Voter,
    VotersRecord,
)
from kafkapy.kraft.raft.voters import VoterSet, VoterSetHistory
from kafkapy.wire.error_codes import ErrorCode

_FETCH_MAX_ENTRIES = 1024
"""At most this many entries per Fetch response, besides the byte limit."""

_TRANSITIONS_PER_POLL = 8
"""A poll may chain transitions (a lone voter: Unattached -> ... -> Leader); no more."""


class RaftNode:
    """One member of the ``__cluster_metadata`` quorum (voter or observer).

    Args:
        config: node id, cluster id, timeouts.
        log: the persisted log, read-only here; the caller applies ``Ready`` to it.
        rng: the source of election jitter; seed it for reproducible runs.
        now_ms: the current time, as every later ``tick`` gives it.
        election: the persisted ``quorum-state``, or None on first start.
        static_voters: ``controller.quorum.voters``, used when neither the latest
            snapshot nor the log holds a VotersRecord.
    """

    def __init__(self, config: RaftConfig, log: RaftLog, rng: _random.Random, now_ms: int, *,
                 election: ElectionState | None = None, static_voters: VoterSet | None = None) -> None:
        self.config = config
        self.id = config.node_id
        self._now = now_ms
        self._random = rng
        self._stable = log
        self._log = LogView(log)
        snapshot = log.latest_snapshot()
        base = snapshot.voters if snapshot is not None and snapshot.voters is not None else None
        # The base voters are in no replicated record when they are the static ones or those
        # of the bootstrap checkpoint (0-0.checkpoint, written by `storage format
        # --standalone/--initial-controllers`): a leader then writes them into the log
        # (Kafka's LeaderState.appendStartOfEpochControlRecords) so that observers, which
        # fetch the log and not that checkpoint, learn the voters and their endpoints.
        self._base_voters_unreplicated = base is None or snapshot.snapshot_id.offset == 0  # type: ignore[union-attr]
        self._voters = VoterSetHistory(base if base is not None else (static_voters or VoterSet(())))
        self._track_voters(log.read(log.log_start_offset, log.end_offset))
        self._high_watermark: int | None = None
        self._quorum = QuorumState(config, self._voters, rng, lambda: self.high_watermark)
        self._quorum.initialize(election, self._log.end_offset_and_epoch(), now_ms)
        self._quorum.pending_election = self._quorum.state.election_state()
        self._last_state: EpochState = self._quorum.state
        self._correlation = 0
        self._in_flight: dict[int, tuple[int, int]] = {}
        self._observer_probe: int | None = None
        self._messages: list[Envelope] = []
        self._messages_after_persist: list[Envelope] = []
        self._persisted_end = log.end_offset
        self._leader_high_watermark = -1
        self._next_commit = snapshot.snapshot_id.offset if snapshot is not None else log.log_start_offset
        self._outstanding: Ready | None = None
        self._handlers: dict[type, Callable[[Envelope], None]] = {
            VoteRequest: self._handle_vote_request,
            VoteResponse: self._handle_vote_response,
            BeginQuorumEpochRequest: self._handle_begin_quorum_epoch_request,
            BeginQuorumEpochResponse: self._handle_begin_quorum_epoch_response,
            EndQuorumEpochRequest: self._handle_end_quorum_epoch_request,
            EndQuorumEpochResponse: self._handle_end_quorum_epoch_response,
            FetchRequest: self._handle_fetch_request,
            FetchResponse: self._handle_fetch_response,
            FetchSnapshotRequest: self._handle_fetch_snapshot_request,
            FetchSnapshotResponse: self._handle_fetch_snapshot_response,
            DescribeQuorumRequest: self._handle_describe_quorum_request,
            AddRaftVoterRequest: self._handle_add_voter_request,
            RemoveRaftVoterRequest: self._handle_remove_voter_request,
            UpdateRaftVoterRequest: self._handle_update_voter_request,
        }
        self._poll()

    # --- public queries -------------------------------------------------------------

    @property
    def state(self) -> EpochState:
        return self._quorum.state

    @property
    def epoch(self) -> int:
        return self._quorum.epoch

    @property
    def leader_id(self) -> int | None:
        return self._quorum.leader_id

    @property
    def is_leader(self) -> bool:
        return isinstance(self._quorum.state, LeaderState)

    @property
    def voters(self) -> VoterSet:
        return self._voters.last

    @property
    def high_watermark(self) -> int | None:
        state = self._quorum.state
        return state.high_watermark if isinstance(state, LeaderState) else self._high_watermark

    @property
    def log_end_offset(self) -> int:
        return self._log.end_offset

    @property
    def applied_offset(self) -> int:
        """The offset after the last committed entry handed out in a Ready."""
        return self._next_commit

    def voters_at(self, offset: int) -> VoterSet:
        """The voter set in force after ``offset``: what a snapshot ending there records."""
        return self._voters.at(offset)

    def epoch_at(self, offset: int) -> int:
        return self._log.epoch_at(offset)

    def describe_quorum(self) -> DescribeQuorumResponse:
        """DescribeQuorum as the leader answers it; other nodes say NOT_LEADER_OR_FOLLOWER."""
        state = self._quorum.state
        if not isinstance(state, LeaderState):
            return DescribeQuorumResponse(ErrorCode.NOT_LEADER_OR_FOLLOWER, self._leader_or_nil(), self.epoch)
        voters, observers = state.describe(self._now)
        hw = state.high_watermark if state.high_watermark is not None else -1
        return DescribeQuorumResponse(ErrorCode.NONE, self.id, state.epoch, hw, voters, observers)

    # --- inputs ---------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Move the clock to ``now_ms`` and fire the timers that expired."""
        self._check_no_outstanding_ready()
        if now_ms < self._now:
            raise RaftInvariantError(f"time went back from {self._now} to {now_ms}")
        self._now = now_ms
        self._poll()

    def step(self, envelope: Envelope) -> None:
        """Handle one received request or response addressed to this node."""
        self._check_no_outstanding_ready()
        if envelope.destination_id != self.id:
            raise RaftInvariantError(f"node {self.id} got a message for {envelope.destination_id}")
        handler = self._handlers.get(type(envelope.body))
        if handler is None:
            raise RaftInvariantError(f"no handler for {type(envelope.body).__name__}")
        handler(envelope)
        self._poll()

    def propose(self, values: Sequence[bytes]) -> int | ErrorCode:
        """Append data records as the leader.

        Returns:
            The offset of the last record appended (committed once the high watermark
            passes it), or NOT_LEADER_OR_FOLLOWER, or INVALID_REQUEST for no records.
        """
        self._check_no_outstanding_ready()
        state = self._quorum.state
        if not isinstance(state, LeaderState):
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if not values:
            return ErrorCode.INVALID_REQUEST
        return self._append_as_leader(state, list(values))

    def resign(self) -> None:
        """Step down gracefully: Resigned, with EndQuorumEpoch naming the successors."""
        self._check_no_outstanding_ready()
        state = self._quorum.state
        if isinstance(state, LeaderState):
            self._quorum.transition_to_resigned(state.voters_by_descending_end_offset(), self._now)
            self._poll()

    # --- outputs --------------------------------------------------------------------

    def has_ready(self) -> bool:
        return (
            self._quorum.pending_election is not None or self._log.has_pending()
            or bool(self._messages) or bool(self._messages_after_persist)
            or self._commit_end() > self._next_commit
        )

    def ready(self) -> Ready:
        """The work to do now; call ``advance()`` with it once done."""
        self._check_no_outstanding_ready()
        commit_end = self._commit_end()
        committed = tuple(self._log.read(self._next_commit, commit_end)) if commit_end > self._next_commit else ()
        pending = self._log
        ready = Ready(
            quorum_state=self._quorum.pending_election,
            snapshot=pending.snapshot,
            truncate_to=pending.truncate_to,
            entries=tuple(pending.unstable),
            messages=tuple(self._messages),
            messages_after_persist=tuple(self._messages_after_persist),
            committed=committed,
            high_watermark=self.high_watermark,
            next_deadline_ms=self.next_deadline_ms(),
        )
        self._messages.clear()
        self._messages_after_persist.clear()
        self._outstanding = ready
        return ready

    def advance(self, ready: Ready) -> None:
        """The caller persisted, sent and applied ``ready``."""
        if ready is not self._outstanding:
            raise RaftInvariantError("advance() without the matching ready()")
        self._outstanding = None
        if ready.quorum_state is not None and self._quorum.pending_election == ready.quorum_state:
            self._quorum.pending_election = None
        if ready.snapshot is not None:
            snapshot = self._stable.latest_snapshot()
            if snapshot is None or snapshot.snapshot_id != ready.snapshot.snapshot_id:
                raise RaftInvariantError(f"snapshot {ready.snapshot.snapshot_id} was not installed")
            if snapshot.voters is not None:
                self._voters.reset(snapshot.voters)
                self._base_voters_unreplicated = False
        self._log.clear_pending()
        if self._stable.end_offset != self._log.end_offset:
            raise RaftInvariantError(
                f"log end {self._stable.end_offset} after persisting, expected {self._log.end_offset}")
        self._persisted_end = self._stable.end_offset
        if ready.committed:
            self._next_commit = ready.committed[-1].offset + 1
        state = self._quorum.state
        if isinstance(state, LeaderState) and state.update_local_end_offset(self._persisted_end):
            self._on_high_watermark_change(state)
        self._poll()

    # --- plumbing -------------------------------------------------------------------

    def _check_no_outstanding_ready(self) -> None:
        if self._outstanding is not None:
            raise RaftInvariantError("input between ready() and advance()")

    def _commit_end(self) -> int:
        hw = self.high_watermark
        return min(hw, self._persisted_end) if hw is not None else self._next_commit

    def next_deadline_ms(self) -> float:
        """When ``tick()`` is next needed: the earliest timer (inf if none)."""
        now = self._now
        deadline = self._quorum.state.deadline_ms
        for _, request_deadline in self._in_flight.values():
            if request_deadline > now:
                deadline = min(deadline, request_deadline)
        state = self._quorum.state
        if isinstance(state, LeaderState):
            for _, park_deadline in state.parked_fetches.values():
                deadline = min(deadline, park_deadline)
            if state.pending_voter_change is not None:
                deadline = min(deadline, state.pending_voter_change.deadline_ms)
        # A timer at or before now has been acted on; never ask for a busy loop.
        return max(deadline, now + 1)

    def _leader_or_nil(self) -> int:
        leader = self._quorum.leader_id
        return NO_LEADER if leader is None else leader

    def _has_unpersisted(self) -> bool:
        return self._quorum.pending_election is not None or self._log.has_pending()

    def _send(self, destination: int, body: Any, correlation_id: int) -> None:
        envelope = Envelope(self.id, destination, correlation_id, body)
        (self._messages_after_persist if self._has_unpersisted() else self._messages).append(envelope)

    def _send_request(self, destination: int, body: Any) -> None:
        self._correlation += 1
        self._in_flight[destination] = (self._correlation, self._now + self.config.request_timeout_ms)
        self._send(destination, body, self._correlation)

    def _respond(self, request: Envelope, body: Any) -> None:
        self._send(request.source_id, body, request.correlation_id)

    def _can_send(self, destination: int) -> bool:
        in_flight = self._in_flight.get(destination)
        return in_flight is None or self._now >= in_flight[1]

    def _take_response(self, envelope: Envelope) -> bool:
        """Whether ``envelope`` answers the request in flight to its sender (then no longer in flight)."""
        in_flight = self._in_flight.get(envelope.source_id)
        if in_flight is None or in_flight[0] != envelope.correlation_id:
            return False
        del self._in_flight[envelope.source_id]
        return True

    def _backoff(self, destination: int) -> None:
        """Retry a failed request after ``retry_backoff_ms`` rather than at once."""
        self._in_flight[destination] = (-1, self._now + self.config.retry_backoff_ms)

    def _cluster_ok(self, cluster_id: str | None) -> bool:
        return cluster_id is None or self.config.cluster_id is None or cluster_id == self.config.cluster_id

    def _track_voters(self, entries: Sequence[LogEntry]) -> None:
        for entry in entries:
            if isinstance(entry.value, VotersRecord):
                self._voters.add(entry.offset, VoterSet.from_record(entry.value))

    def _append(self, entries: list[LogEntry]) -> None:
        self._log.append(entries)
        self._track_voters(entries)

    def _truncate(self, offset: int) -> None:
        hw = self._high_watermark
        if hw is not None and offset < hw:
            raise RaftInvariantError(f"node {self.id}: truncation to {offset} below the high watermark {hw}")
        self._log.truncate(offset)
        self._voters.truncate_to(offset)

    # --- the poll loop: timers and sending, per state -------------------------------

    def _poll(self) -> None:
        for _ in range(_TRANSITIONS_PER_POLL):
            state = self._quorum.state
            if state is not self._last_state:
                self._on_state_change(self._last_state, state)
                self._last_state = state
            if isinstance(state, LeaderState):
                self._poll_leader(state)
            elif isinstance(state, (CandidateState, ProspectiveState)):
                self._poll_nominee(state)
            elif isinstance(state, FollowerState):
                self._poll_follower(state)
            elif isinstance(state, ResignedState):
                self._poll_resigned(state)
            else:
                self._poll_unattached(state)
            if self._quorum.state is state:
                return
        raise RaftInvariantError(f"node {self.id}: no stable state after {_TRANSITIONS_PER_POLL} transitions")

    def _is_only_voter(self) -> bool:
        return self._voters.last.ids == {self.id}

    def _poll_unattached(self, state: EpochState) -> None:
        if self._quorum.can_campaign:
            if self._now >= state.deadline_ms or self._is_only_voter():
                self._quorum.transition_to_prospective(self._now)
        else:
            self._maybe_send_discovery_fetch()

    def _discovery_targets(self) -> list[int]:
        """Whom an observer asks who leads: the voters, else the bootstrap servers (an
        observer of a dynamic quorum that has not read the voters yet, KIP-853)."""
        return sorted(self._voters.last.ids - {self.id}) or list(self.config.bootstrap_ids)

    def _maybe_send_discovery_fetch(self) -> None:
        """An observer without a leader asks any voter; the answer names the leader."""
        voters = self._discovery_targets()
        if voters and all(self._can_send(v) for v in voters):
            self._send_fetch(self._random.choice(voters))

    def _poll_nominee(self, state: CandidateState | ProspectiveState) -> None:
        election = state.election
        if election.is_granted:
            if isinstance(state, ProspectiveState):
                self._quorum.transition_to_candidate(self._now)
            else:
                self._quorum.transition_to_leader(self._log.end_offset, self._now)
        elif self._now >= state.deadline_ms or election.is_rejected:
            if isinstance(state, ProspectiveState):
                self._quorum.transition_back_from_prospective(self._now)
            else:
                self._quorum.transition_to_prospective(self._now)
        else:
            end = self._log.end_offset_and_epoch()
            pre_vote = isinstance(state, ProspectiveState)
            for voter in election.unrecorded():
                if voter != self.id and self._can_send(voter):
                    self._send_request(voter, VoteRequest(
                        self.config.cluster_id, voter, state.epoch, self.id, end.epoch, end.offset,
                        pre_vote, self.config.directory_id,
                        (v.voter_directory_id if (v := election.voters.get(voter)) else None),
                    ))

    def _poll_follower(self, state: FollowerState) -> None:
        if self._now >= state.deadline_ms:
            if self._quorum.can_campaign:
                self._quorum.transition_to_prospective(self._now)
                return
            # An observer keeps following but asks a random voter who leads now.
            state.deadline_ms = self._now + self.config.fetch_timeout_ms
            others = self._discovery_targets()
            self._observer_probe = self._random.choice(others) if others else None
            self._in_flight.clear()
        if self._log.snapshot is not None:
            return  # the downloaded snapshot must be persisted before fetching on
        if self._observer_probe is not None:
            if self._can_send(self._observer_probe):
                self._send_fetch(self._observer_probe)
                self._observer_probe = None
            return
        destination = state.leader_id
        if not self._can_send(destination):
            return
        if state.fetching_snapshot is not None:
            snapshot_id, data = state.fetching_snapshot
            self._send_request(destination, FetchSnapshotRequest(
                self.config.cluster_id, self.id, state.epoch, snapshot_id, len(data),
                self.config.fetch_max_bytes, self.config.directory_id))
        else:
            self._send_fetch(destination)

    def _send_fetch(self, destination: int) -> None:
        self._send_request(destination, FetchRequest(
            self.config.cluster_id, self.id, self.epoch, self._log.end_offset,
            self._log.last_fetched_epoch(), self.config.fetch_max_wait_ms, self.config.fetch_max_bytes,
            self.config.directory_id, -1 if self._high_watermark is None else self._high_watermark))

    def _poll_resigned(self, state: ResignedState) -> None:
        if self._now >= state.deadline_ms or self._is_only_voter():
            self._quorum.transition_to_unattached(state.epoch + 1, self._now)
            return
        for voter in sorted(state.unacknowledged):
            if self._can_send(voter):
                self._send_request(voter, EndQuorumEpochRequest(
                    self.config.cluster_id, self.id, state.epoch, state.preferred_successors))

    def _poll_leader(self, state: LeaderState) -> None:
        now = self._now
        if now >= state.deadline_ms:
            if not self._is_only_voter():
                # Check quorum: no fetches from a majority lately; let the majority elect.
                self._quorum.transition_to_resigned(state.voters_by_descending_end_offset(), now)
                return
            state.deadline_ms = now + state.check_quorum_timeout_ms(self.config)
        if self.id not in self._voters.last and not self._voters.has_uncommitted_change(state.high_watermark):
            # Removed from the voters and the removal is committed (KIP-853).
            self._quorum.transition_to_resigned(state.voters_by_descending_end_offset(), now)
            return
        for replica_id, (request, deadline) in list(state.parked_fetches.items()):
            if now >= deadline:
                del state.parked_fetches[replica_id]
                self._respond(request, self._fetch_response(state, request.body))
        for voter in sorted(state.begin_quorum_unacknowledged):
            if voter in self._voters.last and self._can_send(voter):
                voter_record = self._voters.last.get(voter)
                self._send_request(voter, BeginQuorumEpochRequest(
                    self.config.cluster_id, voter, self.id, state.epoch,
                    voter_record.voter_directory_id if voter_record else None))
        self._poll_voter_change(state)

    def _on_state_change(self, old: EpochState, new: EpochState) -> None:
        """Kafka's ``onBecomeX`` side effects, run once per transition."""
        self._in_flight.clear()
        self._observer_probe = None
        if isinstance(old, LeaderState):
            if old.high_watermark is not None:
                self._high_watermark = max(self._high_watermark or 0, old.high_watermark)
            for request, _ in old.parked_fetches.values():
                self._respond(request, self._fetch_error(request.body))
            old.parked_fetches.clear()
            if old.pending_voter_change is not None:
                self._finish_voter_change(old, ErrorCode.NOT_LEADER_OR_FOLLOWER)
        if isinstance(new, LeaderState):
            self._on_become_leader(new)

    def _on_become_leader(self, state: LeaderState) -> None:
        voters = self._voters.last
        records: list[Any] = [LeaderChangeMessage(self.id, tuple(sorted(voters.ids)),
                                                  tuple(sorted(state.granting_voters)))]
        if self.config.kraft_version >= 1 and self._base_voters_unreplicated and self._voters.last_offset < 0:
            # Bootstrapping KIP-853: write the static or formatted voters into the log once.
            records += [KRaftVersionRecord(self.config.kraft_version), voters.to_record()]
        self._append_as_leader(state, records)
        if state.update_local_end_offset(self._persisted_end):
            self._on_high_watermark_change(state)

    def _append_as_leader(self, state: LeaderState, values: list[Any]) -> int:
        start = self._log.end_offset
        entries = [LogEntry(start + i, state.epoch, value) for i, value in enumerate(values)]
        self._append(entries)
        if any(isinstance(e.value, VotersRecord) for e in entries) and state.maybe_update_high_watermark():
            self._on_high_watermark_change(state)
        self._complete_parked_fetches(state)
        return entries[-1].offset

    def _on_high_watermark_change(self, state: LeaderState) -> None:
        self._complete_parked_fetches(state)
        self._poll_voter_change(state)

    # --- Vote -----------------------------------------------------------------------

    def _handle_vote_request(self, envelope: Envelope) -> None:
        request: VoteRequest = envelope.body  # type: ignore[assignment]
        quorum = self._quorum
        if not self._cluster_ok(request.cluster_id):
            self._respond(envelope, VoteResponse(ErrorCode.INCONSISTENT_CLUSTER_ID, self._leader_or_nil(),
                                                 quorum.epoch, False))
            return
        if request.replica_epoch < quorum.epoch:
            self._respond(envelope, VoteResponse(ErrorCode.FENCED_LEADER_EPOCH, self._leader_or_nil(),
                                                 quorum.epoch, False))
            return
        if request.replica_epoch > quorum.epoch and not request.pre_vote:
            quorum.transition_to_unattached(request.replica_epoch, self._now)
        candidate = ReplicaKey(request.replica_id, request.replica_directory_id)
        up_to_date = (request.last_offset_epoch, request.last_offset) >= (
            self._log.last_fetched_epoch(), self._log.end_offset)
        state = quorum.state
        granted = state.can_grant_vote(candidate, up_to_date, request.pre_vote)
        if granted and not request.pre_vote and state.voted_key is None:
            quorum.transition_to_voted(request.replica_epoch, candidate, self._now)
        self._respond(envelope, VoteResponse(ErrorCode.NONE, self._leader_or_nil(), quorum.epoch, granted))

    def _handle_vote_response(self, envelope: Envelope) -> None:
        response: VoteResponse = envelope.body  # type: ignore[assignment]
        if not self._take_response(envelope):
            return
        if self._maybe_handle_common_response(response.error_code, response.leader_id, response.leader_epoch):
            return
        state = self._quorum.state
        if not isinstance(state, (ProspectiveState, CandidateState)):
            return
        # A binding vote moves the voter to our epoch; a pre-vote may come from behind.
        if response.leader_epoch != state.epoch and not (
                isinstance(state, ProspectiveState) and response.leader_epoch < state.epoch):
            return
        if response.error_code == ErrorCode.NONE:
            state.election.record(envelope.source_id, response.vote_granted)
        elif response.error_code == ErrorCode.INCONSISTENT_VOTER_SET:
            state.election.record(envelope.source_id, False)
        else:
            self._backoff(envelope.source_id)

    def _maybe_handle_common_response(self, error: ErrorCode, leader_id: int, epoch: int) -> bool:
        """Kafka's ``maybeHandleCommonResponse``: learn of newer epochs and leaders.

        Returns True when the response needs no more handling.
        """
        quorum = self._quorum
        if epoch > quorum.epoch:
            if leader_id not in (NO_LEADER, self.id):
                quorum.transition_to_follower(epoch, leader_id, self._now)
            else:
                quorum.transition_to_unattached(epoch, self._now)
            return True
        if (epoch == quorum.epoch and leader_id not in (NO_LEADER, self.id) and quorum.state.leader_id is None
                and isinstance(quorum.state, (UnattachedState, VotedState, CandidateState, ProspectiveState))):
            quorum.transition_to_follower(epoch, leader_id, self._now)
            return True
        return error in (ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.NOT_LEADER_OR_FOLLOWER,
                         ErrorCode.UNKNOWN_LEADER_EPOCH, ErrorCode.INCONSISTENT_CLUSTER_ID)

    # --- BeginQuorumEpoch / EndQuorumEpoch ------------------------------------------

    def _handle_begin_quorum_epoch_request(self, envelope: Envelope) -> None:
        request: BeginQuorumEpochRequest = envelope.body  # type: ignore[assignment]
        quorum = self._quorum
        if not self._cluster_ok(request.cluster_id):
            error = ErrorCode.INCONSISTENT_CLUSTER_ID
        elif request.leader_epoch < quorum.epoch:
            error = ErrorCode.FENCED_LEADER_EPOCH
        elif request.leader_id == self.id:
            error = ErrorCode.INVALID_REQUEST
        else:
            error = ErrorCode.NONE
            state = quorum.state
            if request.leader_epoch > quorum.epoch:
                quorum.transition_to_follower(request.leader_epoch, request.leader_id, self._now)
            elif state.leader_id is None or isinstance(state, ProspectiveState):
                if isinstance(state, ProspectiveState) and state.leader_id not in (None, request.leader_id):
                    raise RaftInvariantError(f"two leaders in epoch {state.epoch}")
                quorum.transition_to_follower(request.leader_epoch, request.leader_id, self._now)
            elif state.leader_id != request.leader_id:
                raise RaftInvariantError(
                    f"node {self.id}: leaders {state.leader_id} and {request.leader_id} in epoch {state.epoch}")
        self._respond(envelope, BeginQuorumEpochResponse(error, self._leader_or_nil(), quorum.epoch))

    def _handle_begin_quorum_epoch_response(self, envelope: Envelope) -> None:
        response: BeginQuorumEpochResponse = envelope.body  # type: ignore[assignment]
        if not self._take_response(envelope):
            return
        if self._maybe_handle_common_response(response.error_code, response.leader_id, response.leader_epoch):
            return
        state = self._quorum.state
        if isinstance(state, LeaderState) and response.error_code == ErrorCode.NONE:
            state.begin_quorum_unacknowledged.discard(envelope.source_id)

    def _handle_end_quorum_epoch_request(self, envelope: Envelope) -> None:
        request: EndQuorumEpochRequest = envelope.body  # type: ignore[assignment]
        quorum = self._quorum
        if not self._cluster_ok(request.cluster_id):
            error = ErrorCode.INCONSISTENT_CLUSTER_ID
        elif request.leader_epoch < quorum.epoch:
            error = ErrorCode.FENCED_LEADER_EPOCH
        else:
            error = ErrorCode.NONE
            state = quorum.state
            if request.leader_epoch > quorum.epoch:
                quorum.transition_to_unattached(request.leader_epoch, self._now)
            elif isinstance(state, FollowerState) and state.leader_id == request.leader_id:
                # The leader is gone: stand soon, the most caught-up successor first.
                successors = request.preferred_successors
                position = successors.index(self.id) if self.id in successors else len(successors)
                state.deadline_ms = min(state.deadline_ms, self._now + self._end_epoch_backoff_ms(position, len(successors)))
                state.has_fetched_from_leader = False
        self._respond(envelope, EndQuorumEpochResponse(error, self._leader_or_nil(), quorum.epoch))

    def _end_epoch_backoff_ms(self, position: int, successors: int) -> int:
        """Kafka's ``strictExponentialElectionBackoffMs``: 0 for the first successor."""
        if position == 0:
            return 0
        if position >= successors:
            return self.config.election_backoff_max_ms
        return min(self.config.election_backoff_max_ms, self.config.retry_backoff_ms * (1 << (position - 1)))

    def _handle_end_quorum_epoch_response(self, envelope: Envelope) -> None:
        response: EndQuorumEpochResponse = envelope.body  # type: ignore[assignment]
        if not self._take_response(envelope):
            return
        if self._maybe_handle_common_response(response.error_code, response.leader_id, response.leader_epoch):
            return
        state = self._quorum.state
        if isinstance(state, ResignedState):
            state.unacknowledged.discard(envelope.source_id)

    # --- Fetch ----------------------------------------------------------------------

    def _leader_only_error(self, cluster_id: str | None, epoch: int) -> ErrorCode | None:
        """Kafka's ``validateLeaderOnlyRequest``."""
        if not self._cluster_ok(cluster_id):
            return ErrorCode.INCONSISTENT_CLUSTER_ID
        if epoch < self._quorum.epoch:
            return ErrorCode.FENCED_LEADER_EPOCH
        if epoch > self._quorum.epoch:
            return ErrorCode.UNKNOWN_LEADER_EPOCH
        if not isinstance(self._quorum.state, LeaderState):
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        return None

    def _current_leader(self) -> LeaderIdAndEpoch:
        return LeaderIdAndEpoch(self._leader_or_nil(), self._quorum.epoch)

    def _fetch_error(self, request: FetchRequest) -> FetchResponse:
        error = self._leader_only_error(request.cluster_id, request.current_leader_epoch)
        return FetchResponse(error or ErrorCode.NOT_LEADER_OR_FOLLOWER, current_leader=self._current_leader())

    def _handle_fetch_request(self, envelope: Envelope) -> None:
        request: FetchRequest = envelope.body  # type: ignore[assignment]
        error = self._leader_only_error(request.cluster_id, request.current_leader_epoch)
        if error is None and (request.fetch_offset < 0 or request.last_fetched_epoch < 0):
            error = ErrorCode.INVALID_REQUEST
        state = self._quorum.state
        if error is not None or not isinstance(state, LeaderState):
            self._respond(envelope, FetchResponse(error or ErrorCode.NOT_LEADER_OR_FOLLOWER,
                                                  current_leader=self._current_leader()))
            return
        validation, _ = self._log.validate_offset_and_epoch(request.fetch_offset, request.last_fetched_epoch)
        hw_moved = False
        progress = state.replicas.get(request.replica_id)
        last_sent_hw = progress.last_sent_high_watermark if progress is not None else None
        if validation is Validation.VALID and request.replica_id >= 0:
            key = ReplicaKey(request.replica_id, request.replica_directory_id)
            hw_moved = state.update_replica(key, request.fetch_offset, self._log.end_offset, self._now)
            state.parked_fetches.pop(request.replica_id, None)
            if hw_moved:
                self._on_high_watermark_change(state)
        response = self._fetch_response(state, request)
        if (validation is Validation.VALID and not response.records and not hw_moved
                and request.max_wait_ms > 0 and not self._high_watermark_news(request, last_sent_hw, response)):
            # Long poll: answer when data arrives, the high watermark moves, or max wait.
            state.parked_fetches[request.replica_id] = (envelope, self._now + request.max_wait_ms)
            return
        self._respond(envelope, response)

    @staticmethod
    def _high_watermark_news(request: FetchRequest, last_sent_hw: int | None, response: FetchResponse) -> bool:
        """Whether a fetch without records is still worth answering now: KIP-1166's
        replica sends the high watermark it knows (v18) and hears at once of a newer
        one (``KafkaRaftClient``); before v18 the leader goes by what it last sent."""
        if request.high_watermark != HIGH_WATERMARK_NOT_SENT:
            return request.high_watermark < response.high_watermark
        return last_sent_hw != response.high_watermark

    def _fetch_response(self, state: LeaderState, request: FetchRequest) -> FetchResponse:
        """The leader's answer to a fetch, from its log as it is now (no side effects but the HW sent)."""
        hw = state.high_watermark if state.high_watermark is not None else -1
        leader = self._current_leader()
        log_start = self._log.log_start_offset
        validation, position = self._log.validate_offset_and_epoch(request.fetch_offset, request.last_fetched_epoch)
        if validation is Validation.DIVERGING:
            return FetchResponse(ErrorCode.NONE, hw, log_start,
                                 diverging_epoch=EpochEndOffset(position.epoch, position.offset),
                                 current_leader=leader)
        if validation is Validation.SNAPSHOT:
            return FetchResponse(ErrorCode.NONE, hw, log_start, snapshot_id=position, current_leader=leader)
        end = min(self._log.end_offset, request.fetch_offset + _FETCH_MAX_ENTRIES)
        entries = self._log.read(request.fetch_offset, end) if end > request.fetch_offset else []
        size = 0
        for i, entry in enumerate(entries):
            size += entry.size
            if size > request.max_bytes and i > 0:
                entries = entries[:i]
                break
        progress = state.replicas.get(request.replica_id)
        if progress is not None:
            progress.last_sent_high_watermark = hw
        return FetchResponse(ErrorCode.NONE, hw, log_start, tuple(entries), current_leader=leader)

    def _complete_parked_fetches(self, state: LeaderState) -> None:
        parked = list(state.parked_fetches.values())
        state.parked_fetches.clear()
        for request, _ in parked:
            self._respond(request, self._fetch_response(state, request.body))

    def _handle_fetch_response(self, envelope: Envelope) -> None:
        response: FetchResponse = envelope.body  # type: ignore[assignment]
        if not self._take_response(envelope):
            return
        leader = response.current_leader
        if self._maybe_handle_common_response(response.error_code, leader.leader_id, leader.leader_epoch):
            return
        state = self._quorum.state
        if (not isinstance(state, FollowerState) or envelope.source_id != state.leader_id
                or leader.leader_epoch != state.epoch):
            return
        if response.error_code != ErrorCode.NONE:
            self._backoff(envelope.source_id)
            return
        state.has_fetched_from_leader = True
        state.deadline_ms = self._now + self.config.fetch_timeout_ms
        if response.diverging_epoch is not None:
            self._truncate_to_end_offset(response.diverging_epoch)
        elif response.snapshot_id is not None:
            state.fetching_snapshot = (response.snapshot_id, bytearray())
        else:
            records = response.records
            if records:
                if records[0].offset != self._log.end_offset:
                    return  # answers a fetch from before a truncation; fetch again
                self._append(list(records))
            self._update_follower_high_watermark(response.high_watermark)

    def _truncate_to_end_offset(self, diverging: EpochEndOffset) -> None:
        """Kafka's ``truncateToEndOffset``: cut where the leader's and our epochs part."""
        if diverging.epoch == 0:
            offset = min(diverging.end_offset, self._log.end_offset)
        else:
            local = self._log.end_offset_for_epoch(diverging.epoch)
            offset = min(local.offset, diverging.end_offset) if local.epoch == diverging.epoch else local.offset
        if offset < self._log.end_offset:
            self._truncate(max(offset, self._log.log_start_offset))

    def _update_follower_high_watermark(self, leader_high_watermark: int) -> None:
        self._leader_high_watermark = max(self._leader_high_watermark, leader_high_watermark)
        hw = min(self._leader_high_watermark, self._log.end_offset)
        if hw >= 0 and (self._high_watermark is None or hw > self._high_watermark):
            self._high_watermark = hw

    # --- FetchSnapshot --------------------------------------------------------------

    def _handle_fetch_snapshot_request(self, envelope: Envelope) -> None:
        request: FetchSnapshotRequest = envelope.body  # type: ignore[assignment]
        error = self._leader_only_error(request.cluster_id, request.current_leader_epoch)
        leader = self._current_leader()
        if error is not None:
            self._respond(envelope, FetchSnapshotResponse(error, current_leader=leader))
            return
        snapshot = self._stable.latest_snapshot()
        if snapshot is None or snapshot.snapshot_id != request.snapshot_id:
            self._respond(envelope, FetchSnapshotResponse(ErrorCode.SNAPSHOT_NOT_FOUND, current_leader=leader))
            return
        if request.position < 0 or request.position >= snapshot.size:
            self._respond(envelope, FetchSnapshotResponse(ErrorCode.POSITION_OUT_OF_RANGE, current_leader=leader))
            return
        chunk = snapshot.read(request.position, min(request.max_bytes, self.config.fetch_max_bytes))
        self._respond(envelope, FetchSnapshotResponse(
            ErrorCode.NONE, snapshot.snapshot_id, leader, snapshot.size, request.position, chunk))

    def _handle_fetch_snapshot_response(self, envelope: Envelope) -> None:
        response: FetchSnapshotResponse = envelope.body  # type: ignore[assignment]
        if not self._take_response(envelope):
            return
        leader = response.current_leader
        if self._maybe_handle_common_response(response.error_code, leader.leader_id, leader.leader_epoch):
            return
        state = self._quorum.state
        if not isinstance(state, FollowerState) or state.fetching_snapshot is None:
            return
        snapshot_id, data = state.fetching_snapshot
        if response.error_code in (ErrorCode.SNAPSHOT_NOT_FOUND, ErrorCode.POSITION_OUT_OF_RANGE):
            state.fetching_snapshot = None  # the leader moved on: fetch again to learn the new one
            return
        if response.error_code != ErrorCode.NONE:
            self._backoff(envelope.source_id)
            return
        if response.snapshot_id != snapshot_id or response.position != len(data):
            return
        state.has_fetched_from_leader = True
        state.deadline_ms = self._now + self.config.fetch_timeout_ms
        data += response.unaligned_records
        if len(data) < response.size:
            return
        state.fetching_snapshot = None
        self._log.install_snapshot(SnapshotInstall(snapshot_id, bytes(data)))
        self._next_commit = snapshot_id.offset
        if self._high_watermark is None or self._high_watermark < snapshot_id.offset:
            self._high_watermark = snapshot_id.offset

    # --- DescribeQuorum and voter changes (KIP-853) ---------------------------------

    def _handle_describe_quorum_request(self, envelope: Envelope) -> None:
        self._respond(envelope, self.describe_quorum())

    def _voter_change_error(self, state: EpochState) -> ErrorCode | None:
        """Why a voter change cannot start now; REQUEST_TIMED_OUT means retry later (Kafka)."""
        if not isinstance(state, LeaderState):
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        if self.config.kraft_version < 1:
            return ErrorCode.UNSUPPORTED_VERSION
        if (state.high_watermark is None or state.pending_voter_change is not None
                or self._voters.has_uncommitted_change(state.high_watermark)):
            return ErrorCode.REQUEST_TIMED_OUT
        return None

    def _handle_add_voter_request(self, envelope: Envelope) -> None:
        request: AddRaftVoterRequest = envelope.body  # type: ignore[assignment]
        state = self._quorum.state
        error = ErrorCode.INCONSISTENT_CLUSTER_ID if not self._cluster_ok(request.cluster_id) \
            else self._voter_change_error(state)
        if error is None and request.voter_id in self._voters.last:
            error = ErrorCode.DUPLICATE_VOTER
        if error is not None:
            self._respond(envelope, AddRaftVoterResponse(error))
            return
        assert isinstance(state, LeaderState)
        state.pending_voter_change = PendingVoterChange(envelope, self._now + request.timeout_ms)
        self._poll_voter_change(state)

    def _handle_remove_voter_request(self, envelope: Envelope) -> None:
        request: RemoveRaftVoterRequest = envelope.body  # type: ignore[assignment]
        state = self._quorum.state
        error = ErrorCode.INCONSISTENT_CLUSTER_ID if not self._cluster_ok(request.cluster_id) \
            else self._voter_change_error(state)
        voter = self._voters.last.get(request.voter_id)
        if error is None and (voter is None or (
                request.voter_directory_id is not None and voter.voter_directory_id != request.voter_directory_id)):
            error = ErrorCode.VOTER_NOT_FOUND
        if error is None and len(self._voters.last) == 1:
            error = ErrorCode.INVALID_REQUEST
        if error is not None:
            self._respond(envelope, RemoveRaftVoterResponse(error))
            return
        assert isinstance(state, LeaderState)
        self._append_voter_change(state, envelope, self._voters.last.without(request.voter_id))

    def _handle_update_voter_request(self, envelope: Envelope) -> None:
        request: UpdateRaftVoterRequest = envelope.body  # type: ignore[assignment]
        state = self._quorum.state
        error = self._leader_only_error(request.cluster_id, request.current_leader_epoch)
        if error is None:
            error = self._voter_change_error(state)
        voter = self._voters.last.get(request.voter_id)
        if error is None and (voter is None or voter.voter_directory_id != request.voter_directory_id):
            error = ErrorCode.VOTER_NOT_FOUND
        if error is not None:
            self._respond(envelope, UpdateRaftVoterResponse(error, self._current_leader()))
            return
        assert isinstance(state, LeaderState) and voter is not None
        updated = Voter(voter.voter_id, voter.voter_directory_id, request.listeners, request.kraft_version_feature)
        if updated == voter:
            self._respond(envelope, UpdateRaftVoterResponse(ErrorCode.NONE, self._current_leader()))
            return
        self._append_voter_change(state, envelope, self._voters.last.with_voter(updated))

    def _append_voter_change(self, state: LeaderState, request: Envelope, voters: VoterSet) -> None:
        """Append the VotersRecord of a change; it answers once the record commits."""
        change = state.pending_voter_change
        if change is None:
            change = state.pending_voter_change = PendingVoterChange(
                request, self._now + self.config.request_timeout_ms)
        # Set before appending: the append may move the high watermark and poll again.
        change.record_offset = self._log.end_offset
        self._append_as_leader(state, [voters.to_record()])

    def _poll_voter_change(self, state: LeaderState) -> None:
        change = state.pending_voter_change
        if change is None:
            return
        request = change.request.body
        if change.record_offset is None:
            assert isinstance(request, AddRaftVoterRequest)
            progress = state.replicas.get(request.voter_id)
            hw = state.high_watermark
            if progress is not None and hw is not None and progress.end_offset >= hw:
                voter = Voter(request.voter_id, request.voter_directory_id, request.listeners)
                self._append_voter_change(state, change.request, self._voters.last.with_voter(voter))
                if not request.ack_when_committed and state.pending_voter_change is change:
                    self._finish_voter_change(state, ErrorCode.NONE)
                    return
            elif self._now >= change.deadline_ms:
                self._finish_voter_change(state, ErrorCode.REQUEST_TIMED_OUT)
            return
        if state.high_watermark is not None and state.high_watermark > change.record_offset:
            self._finish_voter_change(state, ErrorCode.NONE)

    def _finish_voter_change(self, state: LeaderState, error: ErrorCode) -> None:
        change = state.pending_voter_change
        state.pending_voter_change = None
        if change is None:
            return
        request = change.request.body
        if isinstance(request, AddRaftVoterRequest):
            body: Any = AddRaftVoterResponse(error)
        elif isinstance(request, RemoveRaftVoterRequest):
            body = RemoveRaftVoterResponse(error)
        else:
            body = UpdateRaftVoterResponse(error, self._current_leader())
        self._respond(change.request, body)
