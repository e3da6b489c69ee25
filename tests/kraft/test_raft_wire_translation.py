"""Core messages survive the trip through kafkapy.wire's generated codecs, at every version
the KRaft RPCs have, and record batches / snapshots keep Kafka's layout."""

from __future__ import annotations

import pytest

from kafkapy.kraft.raft.batches import (
    KafkaSnapshotCodec,
    decode_entries,
    encode_entries,
    uuid_bytes,
    uuid_str,
)
from kafkapy.kraft.raft.messages import (
    AddRaftVoterRequest,
    AddRaftVoterResponse,
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    DescribeQuorumRequest,
    DescribeQuorumResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    EpochEndOffset,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    LeaderIdAndEpoch,
    OffsetAndEpoch,
    RemoveRaftVoterRequest,
    RemoveRaftVoterResponse,
    ReplicaKey,
    ReplicaState,
    UpdateRaftVoterRequest,
    UpdateRaftVoterResponse,
    VoteRequest,
    VoteResponse,
)
from kafkapy.kraft.raft.records import (
    Endpoint,
    KRaftVersionRecord,
    LeaderChangeMessage,
    LogEntry,
    Voter,
)
from kafkapy.kraft.raft.snapshot import SnapshotContent
from kafkapy.kraft.raft.voters import VoterSet
from kafkapy.kraft.raft.wire_translation import (
    METADATA_TOPIC_ID,
    from_wire,
    is_metadata_fetch,
    to_wire,
)
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import (
    decode_control_key,
    iter_absolute_records,
    iter_batches,
    validate_batch,
)

DIR = uuid_str(bytes(range(1, 17)))
VOTERS = VoterSet([Voter(1, DIR, (Endpoint("CONTROLLER", "localhost", 9093),)), Voter(2, None, (), (0, 1))])
ENTRIES = (
    LogEntry(0, 3, LeaderChangeMessage(1, (1, 2), (1,))),
    LogEntry(1, 3, KRaftVersionRecord(1)),
    LogEntry(2, 3, VOTERS.to_record()),
    LogEntry(3, 3, b"\x01\x02data"),
    LogEntry(4, 4, b"more"),
)
LEADER = LeaderIdAndEpoch(1, 3)

CASES = [
    VoteRequest("cluster", 2, 3, 1, 2, 10, True, DIR, None),
    VoteResponse(ErrorCode.NONE, 1, 3, True),
    VoteResponse(ErrorCode.INCONSISTENT_CLUSTER_ID, -1, -1, False),
    BeginQuorumEpochRequest("cluster", 2, 1, 3, DIR),
    BeginQuorumEpochResponse(ErrorCode.FENCED_LEADER_EPOCH, 1, 3),
    EndQuorumEpochRequest("cluster", 1, 3, (2, 3), (ReplicaKey(2, DIR), ReplicaKey(3, None))),
    EndQuorumEpochResponse(ErrorCode.NONE, 1, 3),
    FetchRequest("cluster", 2, 3, 17, 2, 500, 1 << 20, DIR),
    FetchResponse(ErrorCode.NONE, 5, 0, ENTRIES, current_leader=LEADER),
    FetchResponse(ErrorCode.NONE, 5, 0, diverging_epoch=EpochEndOffset(2, 9), current_leader=LEADER),
    FetchResponse(ErrorCode.NONE, 5, 3, snapshot_id=OffsetAndEpoch(3, 2), current_leader=LEADER),
    FetchResponse(ErrorCode.NOT_LEADER_OR_FOLLOWER, current_leader=LeaderIdAndEpoch(-1, 4)),
    FetchSnapshotRequest("cluster", 2, 3, OffsetAndEpoch(100, 2), 4096, 1 << 20, DIR),
    FetchSnapshotResponse(ErrorCode.NONE, OffsetAndEpoch(100, 2), LEADER, 9000, 4096, b"chunk"),
    FetchSnapshotResponse(ErrorCode.SNAPSHOT_NOT_FOUND, None, LEADER),
    DescribeQuorumRequest(),
    DescribeQuorumResponse(ErrorCode.NONE, 1, 3, 5, (ReplicaState(1, DIR, 5, 10, 10),), (ReplicaState(4, None, 2, 9, -1),)),
    AddRaftVoterRequest("cluster", 30000, 4, DIR, (Endpoint("CONTROLLER", "h", 1),)),
    AddRaftVoterResponse(ErrorCode.DUPLICATE_VOTER, "already a voter"),
    RemoveRaftVoterRequest("cluster", 3, DIR),
    RemoveRaftVoterResponse(ErrorCode.NONE),
    UpdateRaftVoterRequest("cluster", 3, 2, DIR, (Endpoint("CONTROLLER", "h", 2),), (0, 1)),
    UpdateRaftVoterResponse(ErrorCode.NONE, LEADER),
]


@pytest.mark.parametrize("body", CASES, ids=lambda b: type(b).__name__)
def test_round_trip_through_the_wire_codec(body: object) -> None:
    message = to_wire(body)  # type: ignore[arg-type]
    # Fields that only newer versions carry (directory ids, pre_vote) need the latest.
    high = type(message).VALID_VERSIONS[1]
    decoded = type(message).from_bytes(message.to_bytes(high), high)
    assert from_wire(decoded) == body


def test_fetch_names_the_metadata_topic_by_id_and_name() -> None:
    message = to_wire(FetchRequest("c", 2, 3, 0, 0))
    assert message.topics[0].topic == "__cluster_metadata"
    assert message.topics[0].topic_id == METADATA_TOPIC_ID
    assert is_metadata_fetch(message)
    for version in (12, 13, 17):
        assert from_wire(type(message).from_bytes(message.to_bytes(version), version)).fetch_offset == 0


def test_uuid_strings_are_kafkas_base64() -> None:
    assert uuid_str(bytes(16)) is None
    assert uuid_bytes(None) == bytes(16)
    assert uuid_str(bytes(15) + b"\x01") == "AAAAAAAAAAAAAAAAAAAAAQ"  # Uuid.METADATA_TOPIC_ID.toString()
    assert uuid_bytes(uuid_str(bytes(range(16)))) == bytes(range(16))


def test_entries_become_control_and_data_batches() -> None:
    data = encode_entries(ENTRIES, timestamp_ms=1234)
    batches = list(iter_batches(data))
    assert [(h.base_offset, h.last_offset, h.partition_leader_epoch, h.is_control) for _, h in batches] == [
        (0, 2, 3, True), (3, 3, 3, False), (4, 4, 4, False)]
    for pos, _ in batches:
        validate_batch(data, pos)
    first = list(iter_absolute_records(data, 0))
    assert [decode_control_key(r.key) for r in first] == [2, 5, 6]
    assert tuple(decode_entries(data)) == ENTRIES


def test_snapshot_layout_header_voters_data_footer() -> None:
    content = SnapshotContent(OffsetAndEpoch(7, 4), VOTERS, (b"a", b"b", b"c"), 1, 99)
    data = KafkaSnapshotCodec(records_per_batch=2).encode(content)
    batches = list(iter_batches(data))
    kinds = [h.is_control for _, h in batches]
    assert kinds == [True, False, False, True]
    header_types = [decode_control_key(r.key) for r in iter_absolute_records(data, batches[0][0])]
    assert header_types == [3, 5, 6]  # SnapshotHeader, KRaftVersion, Voters
    assert [decode_control_key(r.key) for r in iter_absolute_records(data, batches[-1][0])] == [4]
    assert KafkaSnapshotCodec().decode(data, OffsetAndEpoch(7, 4)) == content
