"""Endpoints in KRaft messages (KIP-853): filled where Kafka sends them, read back, and
absent from versions that lack the fields."""

from __future__ import annotations

import pytest

from kafkapy.kraft.raft.messages import (
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    DescribeQuorumResponse,
    EndQuorumEpochRequest,
    FetchResponse,
    FetchSnapshotResponse,
    LeaderIdAndEpoch,
    ReplicaKey,
    ReplicaState,
    UpdateRaftVoterResponse,
    VoteResponse,
)
from kafkapy.kraft.raft.records import Endpoint
from kafkapy.kraft.raft.wire_translation import from_wire, to_wire, wire_endpoints
from kafkapy.wire.error_codes import ErrorCode

ENDPOINTS = {1: (Endpoint("CONTROLLER", "h1", 9001),), 2: (Endpoint("CONTROLLER", "h2", 9002),)}
LEADER_2 = LeaderIdAndEpoch(2, 7)

CASES = [
    (VoteResponse(ErrorCode.NONE, 2, 7, True), 1, {2: ENDPOINTS[2]}),
    (BeginQuorumEpochRequest("c", 1, 2, 7), 1, {2: ENDPOINTS[2]}),
    (BeginQuorumEpochResponse(ErrorCode.NONE, 2, 7), 1, {2: ENDPOINTS[2]}),
    (EndQuorumEpochRequest("c", 2, 7, (1,), (ReplicaKey(1),)), 1, {2: ENDPOINTS[2]}),
    (FetchResponse(ErrorCode.NOT_LEADER_OR_FOLLOWER, current_leader=LEADER_2), 17, {2: ENDPOINTS[2]}),
    (FetchSnapshotResponse(ErrorCode.NOT_LEADER_OR_FOLLOWER, current_leader=LEADER_2), 1, {2: ENDPOINTS[2]}),
    (UpdateRaftVoterResponse(ErrorCode.NONE, LEADER_2), 0, {2: ENDPOINTS[2]}),
    (DescribeQuorumResponse(ErrorCode.NONE, 2, 7, 10, (ReplicaState(1, None, 10, 5, 5), ReplicaState(2, None, 10, 5, 5))),
     2, ENDPOINTS),
]


@pytest.mark.parametrize(("body", "version", "expected"), CASES, ids=lambda c: type(c).__name__)
def test_endpoints_round_trip(body: object, version: int, expected: dict) -> None:
    message = to_wire(body, ENDPOINTS)  # type: ignore[arg-type]
    decoded = type(message).from_bytes(message.to_bytes(version), version)
    assert wire_endpoints(decoded, "CONTROLLER") == expected
    assert from_wire(decoded) == body


@pytest.mark.parametrize(("body", "version"), [(VoteResponse(ErrorCode.NONE, 2, 7, True), 0),
                                               (BeginQuorumEpochRequest("c", 1, 2, 7), 0),
                                               (FetchResponse(ErrorCode.NONE, current_leader=LEADER_2), 15),
                                               (FetchSnapshotResponse(ErrorCode.NONE, current_leader=LEADER_2), 0)],
                         ids=lambda c: type(c).__name__ if not isinstance(c, int) else f"v{c}")
def test_versions_without_endpoint_fields_carry_none(body: object, version: int) -> None:
    message = to_wire(body, ENDPOINTS)  # type: ignore[arg-type]
    decoded = type(message).from_bytes(message.to_bytes(version), version)
    assert wire_endpoints(decoded, "CONTROLLER") == {}


def test_unknown_leader_gets_no_endpoints() -> None:
    message = to_wire(VoteResponse(ErrorCode.NONE, -1, 7, False), ENDPOINTS)
    assert message.node_endpoints == []
    assert to_wire(BeginQuorumEpochRequest("c", 1, 3, 7), ENDPOINTS).leader_endpoints == []
