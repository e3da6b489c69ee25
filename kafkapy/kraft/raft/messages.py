"""The KRaft RPCs as small frozen values, one pair per Kafka API.

They are named tuples, not frozen dataclasses: a node imports these two dozen classes
before it answers anything, and a named tuple is made in a tenth of the time (issue 18).
As tuples they compare by value whatever their class; the core tells them apart by type.

Each class mirrors the single-partition body of Kafka's message (``VoteRequest.json``,
``FetchRequest.json``, ...) with Kafka's field names snake_cased; fields the core does
not use (topic name, partition index, node endpoints) are left to the translation
module that converts these to and from ``kafkapy.wire`` messages. A response carries
the partition-level error code; the top-level error code is NONE unless the whole
request failed (INCONSISTENT_CLUSTER_ID), which the translation places at the top.

Messages travel in an :class:`Envelope`, which names the sender and the receiver (as a
Kafka connection does) and the correlation id a response echoes.

API keys: Vote 52, BeginQuorumEpoch 53, EndQuorumEpoch 54, DescribeQuorum 55, Fetch 1
(``__cluster_metadata`` partition 0), FetchSnapshot 59, AddRaftVoter 80,
RemoveRaftVoter 81, UpdateRaftVoter 82.
"""

from __future__ import annotations

from typing import NamedTuple

from kafkapy.kraft.raft.records import Endpoint, LogEntry
from kafkapy.wire.error_codes import ErrorCode

NO_LEADER = -1
"""Kafka's sentinel for "leader unknown" in LeaderId fields."""

HIGH_WATERMARK_NOT_SENT = 2**63 - 1
"""A Fetch's ``HighWatermark`` from a replica that does not send it (before v18, KIP-1166)."""


class OffsetAndEpoch(NamedTuple):
    """An (end offset, epoch) pair: a log position or a snapshot id (KIP-630)."""

    offset: int
    epoch: int


class ReplicaKey(NamedTuple):
    """A replica's id and log directory id (KIP-853); the directory id may be unknown."""

    id: int
    directory_id: str | None = None


class LeaderIdAndEpoch(NamedTuple):
    """``CurrentLeader`` in Fetch, FetchSnapshot and UpdateRaftVoter responses."""

    leader_id: int = NO_LEADER
    leader_epoch: int = -1


class EpochEndOffset(NamedTuple):
    """``DivergingEpoch`` in a Fetch response: where the follower's log must be cut."""

    epoch: int
    end_offset: int


# --- Vote (52), KIP-595 / KIP-853 v1 / KIP-996 v2 (PreVote) -------------------------


class VoteRequest(NamedTuple):
    cluster_id: str | None
    voter_id: int
    replica_epoch: int
    replica_id: int
    last_offset_epoch: int
    last_offset: int
    pre_vote: bool = False
    replica_directory_id: str | None = None
    voter_directory_id: str | None = None


class VoteResponse(NamedTuple):
    error_code: ErrorCode
    leader_id: int
    leader_epoch: int
    vote_granted: bool


# --- BeginQuorumEpoch (53) / EndQuorumEpoch (54) ------------------------------------


class BeginQuorumEpochRequest(NamedTuple):
    cluster_id: str | None
    voter_id: int
    leader_id: int
    leader_epoch: int
    voter_directory_id: str | None = None


class BeginQuorumEpochResponse(NamedTuple):
    error_code: ErrorCode
    leader_id: int
    leader_epoch: int


class EndQuorumEpochRequest(NamedTuple):
    cluster_id: str | None
    leader_id: int
    leader_epoch: int
    preferred_successors: tuple[int, ...]
    preferred_candidates: tuple[ReplicaKey, ...] = ()


class EndQuorumEpochResponse(NamedTuple):
    error_code: ErrorCode
    leader_id: int
    leader_epoch: int


# --- Fetch (1) and FetchSnapshot (59) -----------------------------------------------


class FetchRequest(NamedTuple):
    cluster_id: str | None
    replica_id: int
    current_leader_epoch: int
    fetch_offset: int
    last_fetched_epoch: int
    max_wait_ms: int = 500
    max_bytes: int = 8 * 1024 * 1024
    replica_directory_id: str | None = None
    #: The high watermark the fetching replica knows, -1 if none (v18, KIP-1166).
    high_watermark: int = HIGH_WATERMARK_NOT_SENT


class FetchResponse(NamedTuple):
    error_code: ErrorCode
    high_watermark: int = -1
    log_start_offset: int = -1
    records: tuple[LogEntry, ...] = ()
    diverging_epoch: EpochEndOffset | None = None
    snapshot_id: OffsetAndEpoch | None = None
    current_leader: LeaderIdAndEpoch = LeaderIdAndEpoch()


class FetchSnapshotRequest(NamedTuple):
    cluster_id: str | None
    replica_id: int
    current_leader_epoch: int
    snapshot_id: OffsetAndEpoch
    position: int
    max_bytes: int = 8 * 1024 * 1024
    replica_directory_id: str | None = None


class FetchSnapshotResponse(NamedTuple):
    error_code: ErrorCode
    snapshot_id: OffsetAndEpoch | None = None
    current_leader: LeaderIdAndEpoch = LeaderIdAndEpoch()
    size: int = 0
    position: int = 0
    unaligned_records: bytes = b""


# --- DescribeQuorum (55) ------------------------------------------------------------


class DescribeQuorumRequest(NamedTuple):
    pass


class ReplicaState(NamedTuple):
    """One voter or observer as the leader sees it (``DescribeQuorumResponse``)."""

    replica_id: int
    replica_directory_id: str | None
    log_end_offset: int
    last_fetch_timestamp: int
    last_caught_up_timestamp: int


class DescribeQuorumResponse(NamedTuple):
    error_code: ErrorCode
    leader_id: int = NO_LEADER
    leader_epoch: int = -1
    high_watermark: int = -1
    current_voters: tuple[ReplicaState, ...] = ()
    observers: tuple[ReplicaState, ...] = ()


# --- AddRaftVoter (80), RemoveRaftVoter (81), UpdateRaftVoter (82), KIP-853 ---------


class AddRaftVoterRequest(NamedTuple):
    cluster_id: str | None
    timeout_ms: int
    voter_id: int
    voter_directory_id: str | None
    listeners: tuple[Endpoint, ...]
    ack_when_committed: bool = True


class AddRaftVoterResponse(NamedTuple):
    error_code: ErrorCode
    error_message: str | None = None


class RemoveRaftVoterRequest(NamedTuple):
    cluster_id: str | None
    voter_id: int
    voter_directory_id: str | None


class RemoveRaftVoterResponse(NamedTuple):
    error_code: ErrorCode
    error_message: str | None = None


class UpdateRaftVoterRequest(NamedTuple):
    cluster_id: str | None
    current_leader_epoch: int
    voter_id: int
    voter_directory_id: str | None
    listeners: tuple[Endpoint, ...]
    kraft_version_feature: tuple[int, int] = (0, 1)


class UpdateRaftVoterResponse(NamedTuple):
    error_code: ErrorCode
    current_leader: LeaderIdAndEpoch = LeaderIdAndEpoch()


RaftRequest = (
    VoteRequest | BeginQuorumEpochRequest | EndQuorumEpochRequest | FetchRequest
    | FetchSnapshotRequest | DescribeQuorumRequest | AddRaftVoterRequest
    | RemoveRaftVoterRequest | UpdateRaftVoterRequest
)
RaftResponse = (
    VoteResponse | BeginQuorumEpochResponse | EndQuorumEpochResponse | FetchResponse
    | FetchSnapshotResponse | DescribeQuorumResponse | AddRaftVoterResponse
    | RemoveRaftVoterResponse | UpdateRaftVoterResponse
)


class Envelope(NamedTuple):
    """A message in flight: who sent it, to whom, and the request/response correlation.

    A response carries the correlation id of the request it answers, so a node can drop
    responses to requests it no longer waits for (stale, duplicated, reordered).
    """

    source_id: int
    destination_id: int
    correlation_id: int
    body: RaftRequest | RaftResponse

    @property
    def is_request(self) -> bool:
        return isinstance(self.body, _REQUEST_TYPES)


_REQUEST_TYPES = (
    VoteRequest, BeginQuorumEpochRequest, EndQuorumEpochRequest, FetchRequest,
    FetchSnapshotRequest, DescribeQuorumRequest, AddRaftVoterRequest,
    RemoveRaftVoterRequest, UpdateRaftVoterRequest,
)
