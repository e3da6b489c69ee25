"""The Raft core's messages to and from the generated Kafka messages of ``kafkapy.wire``.

The core speaks single-partition values (``kafkapy.kraft.raft.messages``); on the wire
every KRaft RPC names the topic ``__cluster_metadata`` partition 0 (Fetch by topic id
``Uuid.METADATA_TOPIC_ID`` = 0...01 from version 13), carries directory ids as Uuids,
and log records as v2 batches. ``to_wire`` builds the message a connection encodes;
``from_wire`` reads a decoded one back. INCONSISTENT_CLUSTER_ID answers go in the
top-level error code, as Kafka's ``KafkaRaftClient`` puts them; other errors are per
partition.

Endpoints (KIP-853): given the endpoints of the nodes on the listener in use,
``to_wire`` fills what Kafka sends: ``LeaderEndpoints`` in BeginQuorumEpoch and
EndQuorumEpoch requests, ``NodeEndpoints`` of the leader named in Vote,
BeginQuorumEpoch, EndQuorumEpoch, Fetch and FetchSnapshot responses, ``Nodes`` of the
voters in DescribeQuorum, and the leader's host and port in UpdateRaftVoter's
``CurrentLeader``. Fields a version lacks are simply not encoded. ``wire_endpoints``
reads them back, so a node learns where a leader it did not know of listens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kafkapy.kraft.raft.batches import (
    decode_entries,
    encode_entries,
    uuid_bytes,
    uuid_str,
)
from kafkapy.kraft.raft.errors import RaftError
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
    RaftRequest,
    RaftResponse,
    RemoveRaftVoterRequest,
    RemoveRaftVoterResponse,
    ReplicaKey,
    ReplicaState,
    UpdateRaftVoterRequest,
    UpdateRaftVoterResponse,
    VoteRequest,
    VoteResponse,
)
from kafkapy.kraft.raft.records import Endpoint
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages import add_raft_voter as _add
from kafkapy.wire.messages import begin_quorum_epoch as _begin
from kafkapy.wire.messages import describe_quorum as _describe
from kafkapy.wire.messages import end_quorum_epoch as _end
from kafkapy.wire.messages import fetch as _fetch
from kafkapy.wire.messages import fetch_snapshot as _snap
from kafkapy.wire.messages import remove_raft_voter as _remove
from kafkapy.wire.messages import update_raft_voter as _update
from kafkapy.wire.messages import vote as _vote

METADATA_TOPIC = "__cluster_metadata"
METADATA_PARTITION = 0
METADATA_TOPIC_ID = bytes(15) + b"\x01"
"""Kafka's ``Uuid.METADATA_TOPIC_ID``: most significant bits 0, least significant 1."""


def _one(items: list[Any], what: str) -> Any:
    if len(items) != 1:
        raise RaftError(f"{what}: expected one {METADATA_TOPIC} partition, got {len(items)}", ErrorCode.INVALID_REQUEST)
    return items[0]


def _code(code: int) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR


def _cluster_error(body: Any) -> bool:
    return getattr(body, "error_code", None) == ErrorCode.INCONSISTENT_CLUSTER_ID


def is_metadata_fetch(message: _fetch.FetchRequest) -> bool:
    """Whether a Fetch names ``__cluster_metadata`` (by name or by topic id) and so goes to the quorum."""
    return any(t.topic == METADATA_TOPIC or t.topic_id == METADATA_TOPIC_ID for t in message.topics)


# --- to the wire ---------------------------------------------------------------------


Endpoints = Mapping[int, Sequence[Endpoint]]
"""Node id -> that node's endpoints on the listener a message travels on."""


def to_wire(body: RaftRequest | RaftResponse, endpoints: Endpoints | None = None) -> Any:
    """The generated ``kafkapy.wire`` message for a core message.

    Args:
        body: the core message.
        endpoints: where nodes listen, for the endpoint fields Kafka fills (none if None).
    """
    message = _TO_WIRE[type(body)](body)
    if endpoints:
        _add_endpoints(body, message, endpoints)
    return message


def _leader_of(body: Any) -> int:
    leader = getattr(body, "current_leader", None)
    return leader.leader_id if leader is not None else getattr(body, "leader_id", -1)


def _add_endpoints(body: Any, message: Any, endpoints: Endpoints) -> None:
    cls = type(message)
    if isinstance(body, DescribeQuorumResponse):
        # Every voter is a node, with the listeners known for it (RaftUtil in Kafka).
        message.nodes = [cls.Node(node_id=r.replica_id, listeners=[
            cls.Listener(name=e.name, host=e.host, port=e.port) for e in endpoints.get(r.replica_id, ())])
            for r in body.current_voters]
        return
    leader = _leader_of(body)
    found = endpoints.get(leader, ()) if leader >= 0 else ()
    if not found:
        return
    if hasattr(cls, "LeaderEndpoint"):
        message.leader_endpoints = [cls.LeaderEndpoint(name=e.name, host=e.host, port=e.port) for e in found]
    elif hasattr(cls, "NodeEndpoint"):
        message.node_endpoints = [cls.NodeEndpoint(node_id=leader, host=found[0].host, port=found[0].port)]
    elif isinstance(body, UpdateRaftVoterResponse):
        message.current_leader.host, message.current_leader.port = found[0].host, found[0].port


def wire_endpoints(message: Any, listener: str) -> dict[int, tuple[Endpoint, ...]]:
    """The node endpoints a decoded KRaft message carries, by node id.

    ``listener`` names the endpoints of the responses' ``NodeEndpoints``, which give
    only host and port (those of the listener the request went to).
    """
    found: dict[int, tuple[Endpoint, ...]] = {}
    for node in getattr(message, "node_endpoints", None) or ():
        found[node.node_id] = (Endpoint(listener, node.host, node.port),)
    for node in getattr(message, "nodes", None) or ():
        found[node.node_id] = tuple(Endpoint(e.name, e.host, e.port) for e in node.listeners)
    leader_endpoints = getattr(message, "leader_endpoints", None)
    if leader_endpoints:
        leader = _one(_one(message.topics, type(message).__name__).partitions, type(message).__name__).leader_id
        found[leader] = tuple(Endpoint(e.name, e.host, e.port) for e in leader_endpoints)
    current = getattr(message, "current_leader", None)
    if isinstance(message, _update.UpdateRaftVoterResponse) and current.host:
        found[current.leader_id] = (Endpoint(listener, current.host, current.port),)
    return found


def _vote_request(b: VoteRequest) -> Any:
    m = _vote.VoteRequest
    return m(cluster_id=b.cluster_id, voter_id=b.voter_id, topics=[m.TopicData(topic_name=METADATA_TOPIC, partitions=[
        m.PartitionData(partition_index=METADATA_PARTITION, replica_epoch=b.replica_epoch, replica_id=b.replica_id,
                        replica_directory_id=uuid_bytes(b.replica_directory_id),
                        voter_directory_id=uuid_bytes(b.voter_directory_id), last_offset_epoch=b.last_offset_epoch,
                        last_offset=b.last_offset, pre_vote=b.pre_vote)])])


def _vote_response(b: VoteResponse) -> Any:
    m = _vote.VoteResponse
    if _cluster_error(b):
        return m(error_code=b.error_code)
    return m(error_code=0, topics=[m.TopicData(topic_name=METADATA_TOPIC, partitions=[
        m.PartitionData(partition_index=METADATA_PARTITION, error_code=b.error_code, leader_id=b.leader_id,
                        leader_epoch=b.leader_epoch, vote_granted=b.vote_granted)])])


def _begin_request(b: BeginQuorumEpochRequest) -> Any:
    m = _begin.BeginQuorumEpochRequest
    return m(cluster_id=b.cluster_id, voter_id=b.voter_id, topics=[m.TopicData(topic_name=METADATA_TOPIC, partitions=[
        m.PartitionData(partition_index=METADATA_PARTITION, voter_directory_id=uuid_bytes(b.voter_directory_id),
                        leader_id=b.leader_id, leader_epoch=b.leader_epoch)])])


def _epoch_response(module: Any, name: str, b: Any) -> Any:
    m = getattr(module, name)
    if _cluster_error(b):
        return m(error_code=b.error_code)
    return m(error_code=0, topics=[m.TopicData(topic_name=METADATA_TOPIC, partitions=[
        m.PartitionData(partition_index=METADATA_PARTITION, error_code=b.error_code, leader_id=b.leader_id,
                        leader_epoch=b.leader_epoch)])])


def _end_request(b: EndQuorumEpochRequest) -> Any:
    m = _end.EndQuorumEpochRequest
    candidates = [m.ReplicaInfo(candidate_id=c.id, candidate_directory_id=uuid_bytes(c.directory_id))
                  for c in b.preferred_candidates] or [m.ReplicaInfo(candidate_id=i) for i in b.preferred_successors]
    return m(cluster_id=b.cluster_id, topics=[m.TopicData(topic_name=METADATA_TOPIC, partitions=[
        m.PartitionData(partition_index=METADATA_PARTITION, leader_id=b.leader_id, leader_epoch=b.leader_epoch,
                        preferred_successors=list(b.preferred_successors), preferred_candidates=candidates)])])


def _fetch_request(b: FetchRequest) -> Any:
    m = _fetch.FetchRequest
    return m(cluster_id=b.cluster_id, replica_id=b.replica_id, replica_state=m.ReplicaState(replica_id=b.replica_id),
             max_wait_ms=b.max_wait_ms, min_bytes=0, max_bytes=b.max_bytes, topics=[m.FetchTopic(
                 topic=METADATA_TOPIC, topic_id=METADATA_TOPIC_ID, partitions=[m.FetchPartition(
                     partition=METADATA_PARTITION, current_leader_epoch=b.current_leader_epoch,
                     fetch_offset=b.fetch_offset, last_fetched_epoch=b.last_fetched_epoch,
                     partition_max_bytes=b.max_bytes, replica_directory_id=uuid_bytes(b.replica_directory_id),
                     high_watermark=b.high_watermark)])])


def _fetch_response(b: FetchResponse) -> Any:
    m = _fetch.FetchResponse
    if _cluster_error(b):
        return m(error_code=b.error_code)
    diverging = b.diverging_epoch or EpochEndOffset(-1, -1)
    snapshot = b.snapshot_id or OffsetAndEpoch(-1, -1)
    return m(error_code=0, responses=[m.FetchableTopicResponse(
        topic=METADATA_TOPIC, topic_id=METADATA_TOPIC_ID, partitions=[m.PartitionData(
            partition_index=METADATA_PARTITION, error_code=b.error_code, high_watermark=b.high_watermark,
            last_stable_offset=b.high_watermark, log_start_offset=b.log_start_offset,
            diverging_epoch=m.EpochEndOffset(epoch=diverging.epoch, end_offset=diverging.end_offset),
            current_leader=m.LeaderIdAndEpoch(leader_id=b.current_leader.leader_id,
                                              leader_epoch=b.current_leader.leader_epoch),
            snapshot_id=m.SnapshotId(end_offset=snapshot.offset, epoch=snapshot.epoch),
            records=encode_entries(b.records) if b.records else None)])])


def _fetch_snapshot_request(b: FetchSnapshotRequest) -> Any:
    m = _snap.FetchSnapshotRequest
    return m(cluster_id=b.cluster_id, replica_id=b.replica_id, max_bytes=b.max_bytes, topics=[m.TopicSnapshot(
        name=METADATA_TOPIC, partitions=[m.PartitionSnapshot(
            partition=METADATA_PARTITION, current_leader_epoch=b.current_leader_epoch,
            snapshot_id=m.SnapshotId(end_offset=b.snapshot_id.offset, epoch=b.snapshot_id.epoch),
            position=b.position, replica_directory_id=uuid_bytes(b.replica_directory_id))])])


def _fetch_snapshot_response(b: FetchSnapshotResponse) -> Any:
    m = _snap.FetchSnapshotResponse
    if _cluster_error(b):
        return m(error_code=b.error_code)
    snapshot = b.snapshot_id or OffsetAndEpoch(-1, -1)
    return m(error_code=0, topics=[m.TopicSnapshot(name=METADATA_TOPIC, partitions=[m.PartitionSnapshot(
        index=METADATA_PARTITION, error_code=b.error_code,
        snapshot_id=m.SnapshotId(end_offset=snapshot.offset, epoch=snapshot.epoch),
        current_leader=m.LeaderIdAndEpoch(leader_id=b.current_leader.leader_id,
                                          leader_epoch=b.current_leader.leader_epoch),
        size=b.size, position=b.position, unaligned_records=b.unaligned_records)])])


def describe_quorum_error(message: Any) -> Any | None:
    """Kafka's answer to a DescribeQuorum that does not name ``__cluster_metadata-0``
    alone (``RaftUtil.hasValidTopicPartition``): UNKNOWN_TOPIC_OR_PARTITION for every
    partition it names (``DescribeQuorumRequest.getPartitionLevelErrorResponse``);
    None for a valid request."""
    topics = message.topics
    if (len(topics) == 1 and topics[0].topic_name == METADATA_TOPIC
            and [p.partition_index for p in topics[0].partitions] == [METADATA_PARTITION]):
        return None
    m = _describe.DescribeQuorumResponse
    error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return m(topics=[m.TopicData(topic_name=t.topic_name, partitions=[
        m.PartitionData(partition_index=p.partition_index, error_code=error, error_message=error.message)
        for p in t.partitions]) for t in topics])


def _describe_request(b: DescribeQuorumRequest) -> Any:
    m = _describe.DescribeQuorumRequest
    return m(topics=[m.TopicData(topic_name=METADATA_TOPIC, partitions=[m.PartitionData(partition_index=0)])])


def _describe_response(b: DescribeQuorumResponse) -> Any:
    m = _describe.DescribeQuorumResponse

    def replicas(states: tuple[ReplicaState, ...]) -> list[Any]:
        return [m.ReplicaState(replica_id=r.replica_id, replica_directory_id=uuid_bytes(r.replica_directory_id),
                               log_end_offset=r.log_end_offset, last_fetch_timestamp=r.last_fetch_timestamp,
                               last_caught_up_timestamp=r.last_caught_up_timestamp) for r in states]

    if b.error_code:
        # Kafka's DescribeQuorumResponse.singletonErrorResponse: the error code alone
        # (leader, epoch and high watermark stay 0, no voters).
        return m(topics=[m.TopicData(topic_name=METADATA_TOPIC, partitions=[m.PartitionData(
            partition_index=METADATA_PARTITION, error_code=b.error_code)])])
    return m(error_code=0, topics=[m.TopicData(topic_name=METADATA_TOPIC, partitions=[m.PartitionData(
        partition_index=METADATA_PARTITION, error_code=b.error_code, leader_id=b.leader_id,
        leader_epoch=b.leader_epoch, high_watermark=b.high_watermark, current_voters=replicas(b.current_voters),
        observers=replicas(b.observers))])])


def _add_request(b: AddRaftVoterRequest) -> Any:
    m = _add.AddRaftVoterRequest
    return m(cluster_id=b.cluster_id, timeout_ms=b.timeout_ms, voter_id=b.voter_id,
             voter_directory_id=uuid_bytes(b.voter_directory_id),
             listeners=[m.Listener(name=e.name, host=e.host, port=e.port) for e in b.listeners],
             ack_when_committed=b.ack_when_committed)


def _remove_request(b: RemoveRaftVoterRequest) -> Any:
    return _remove.RemoveRaftVoterRequest(cluster_id=b.cluster_id, voter_id=b.voter_id,
                                          voter_directory_id=uuid_bytes(b.voter_directory_id))


def _update_request(b: UpdateRaftVoterRequest) -> Any:
    m = _update.UpdateRaftVoterRequest
    return m(cluster_id=b.cluster_id, current_leader_epoch=b.current_leader_epoch, voter_id=b.voter_id,
             voter_directory_id=uuid_bytes(b.voter_directory_id),
             listeners=[m.Listener(name=e.name, host=e.host, port=e.port) for e in b.listeners],
             k_raft_version_feature=m.KRaftVersionFeature(min_supported_version=b.kraft_version_feature[0],
                                                          max_supported_version=b.kraft_version_feature[1]))


def _update_response(b: UpdateRaftVoterResponse) -> Any:
    m = _update.UpdateRaftVoterResponse
    return m(error_code=b.error_code, current_leader=m.CurrentLeader(
        leader_id=b.current_leader.leader_id, leader_epoch=b.current_leader.leader_epoch))


_TO_WIRE: dict[type, Any] = {
    VoteRequest: _vote_request,
    VoteResponse: _vote_response,
    BeginQuorumEpochRequest: _begin_request,
    BeginQuorumEpochResponse: lambda b: _epoch_response(_begin, "BeginQuorumEpochResponse", b),
    EndQuorumEpochRequest: _end_request,
    EndQuorumEpochResponse: lambda b: _epoch_response(_end, "EndQuorumEpochResponse", b),
    FetchRequest: _fetch_request,
    FetchResponse: _fetch_response,
    FetchSnapshotRequest: _fetch_snapshot_request,
    FetchSnapshotResponse: _fetch_snapshot_response,
    DescribeQuorumRequest: _describe_request,
    DescribeQuorumResponse: _describe_response,
    AddRaftVoterRequest: _add_request,
    AddRaftVoterResponse: lambda b: _add.AddRaftVoterResponse(error_code=b.error_code, error_message=b.error_message),
    RemoveRaftVoterRequest: _remove_request,
    RemoveRaftVoterResponse: lambda b: _remove.RemoveRaftVoterResponse(error_code=b.error_code,
                                                                       error_message=b.error_message),
    UpdateRaftVoterRequest: _update_request,
    UpdateRaftVoterResponse: _update_response,
}


# --- from the wire -------------------------------------------------------------------


def from_wire(message: Any) -> RaftRequest | RaftResponse:
    """The core message for a decoded ``kafkapy.wire`` message.

    Raises:
        RaftError(INVALID_REQUEST): not exactly one ``__cluster_metadata`` partition.
        RaftError(CORRUPT_MESSAGE): records that do not decode.
    """
    return _FROM_WIRE[type(message)](message)


def _partition(message: Any, topics: str = "topics") -> Any:
    return _one(_one(getattr(message, topics), type(message).__name__).partitions, type(message).__name__)


def _vote_request_in(m: Any) -> VoteRequest:
    p = _partition(m)
    return VoteRequest(m.cluster_id, m.voter_id, p.replica_epoch, p.replica_id, p.last_offset_epoch, p.last_offset,
                       p.pre_vote, uuid_str(p.replica_directory_id), uuid_str(p.voter_directory_id))


def _vote_response_in(m: Any) -> VoteResponse:
    if m.error_code:
        return VoteResponse(_code(m.error_code), -1, -1, False)
    p = _partition(m)
    return VoteResponse(_code(p.error_code), p.leader_id, p.leader_epoch, p.vote_granted)


def _epoch_response_in(cls: type) -> Any:
    def convert(m: Any) -> Any:
        if m.error_code:
            return cls(_code(m.error_code), -1, -1)
        p = _partition(m)
        return cls(_code(p.error_code), p.leader_id, p.leader_epoch)
    return convert


def _begin_request_in(m: Any) -> BeginQuorumEpochRequest:
    p = _partition(m)
    return BeginQuorumEpochRequest(m.cluster_id, m.voter_id, p.leader_id, p.leader_epoch, uuid_str(p.voter_directory_id))


def _end_request_in(m: Any) -> EndQuorumEpochRequest:
    p = _partition(m)
    candidates = tuple(ReplicaKey(c.candidate_id, uuid_str(c.candidate_directory_id)) for c in p.preferred_candidates)
    successors = tuple(p.preferred_successors) or tuple(c.id for c in candidates)
    return EndQuorumEpochRequest(m.cluster_id, p.leader_id, p.leader_epoch, successors, candidates)


def _fetch_request_in(m: Any) -> FetchRequest:
    p = _one(_one(m.topics, "FetchRequest").partitions, "FetchRequest")
    replica_id = m.replica_state.replica_id if m.replica_state is not None and m.replica_state.replica_id != -1 \
        else m.replica_id
    return FetchRequest(m.cluster_id, replica_id, p.current_leader_epoch, p.fetch_offset, p.last_fetched_epoch,
                        m.max_wait_ms, m.max_bytes, uuid_str(p.replica_directory_id), p.high_watermark)


def _fetch_response_in(m: Any) -> FetchResponse:
    if m.error_code:
        return FetchResponse(_code(m.error_code))
    p = _one(_one(m.responses, "FetchResponse").partitions, "FetchResponse")
    diverging = p.diverging_epoch
    snapshot = p.snapshot_id
    records = p.records
    return FetchResponse(
        _code(p.error_code), p.high_watermark, p.log_start_offset,
        tuple(decode_entries(bytes(records))) if records else (),
        EpochEndOffset(diverging.epoch, diverging.end_offset) if diverging.epoch >= 0 else None,
        OffsetAndEpoch(snapshot.end_offset, snapshot.epoch) if snapshot.end_offset >= 0 else None,
        LeaderIdAndEpoch(p.current_leader.leader_id, p.current_leader.leader_epoch))


def _fetch_snapshot_request_in(m: Any) -> FetchSnapshotRequest:
    p = _partition(m)
    return FetchSnapshotRequest(m.cluster_id, m.replica_id, p.current_leader_epoch,
                                OffsetAndEpoch(p.snapshot_id.end_offset, p.snapshot_id.epoch), p.position,
                                m.max_bytes, uuid_str(p.replica_directory_id))


def _fetch_snapshot_response_in(m: Any) -> FetchSnapshotResponse:
    if m.error_code:
        return FetchSnapshotResponse(_code(m.error_code))
    p = _partition(m)
    snapshot = p.snapshot_id
    return FetchSnapshotResponse(
        _code(p.error_code), OffsetAndEpoch(snapshot.end_offset, snapshot.epoch) if snapshot.end_offset >= 0 else None,
        LeaderIdAndEpoch(p.current_leader.leader_id, p.current_leader.leader_epoch), p.size, p.position,
        bytes(p.unaligned_records or b""))


def _describe_response_in(m: Any) -> DescribeQuorumResponse:
    if m.error_code:
        return DescribeQuorumResponse(_code(m.error_code))
    p = _partition(m)

    def replicas(states: list[Any]) -> tuple[ReplicaState, ...]:
        return tuple(ReplicaState(r.replica_id, uuid_str(r.replica_directory_id), r.log_end_offset,
                                  r.last_fetch_timestamp, r.last_caught_up_timestamp) for r in states)

    return DescribeQuorumResponse(_code(p.error_code), p.leader_id, p.leader_epoch, p.high_watermark,
                                  replicas(p.current_voters), replicas(p.observers))


def _listeners(listeners: list[Any]) -> tuple[Endpoint, ...]:
    return tuple(Endpoint(e.name, e.host, e.port) for e in listeners)


_FROM_WIRE: dict[type, Any] = {
    _vote.VoteRequest: _vote_request_in,
    _vote.VoteResponse: _vote_response_in,
    _begin.BeginQuorumEpochRequest: _begin_request_in,
    _begin.BeginQuorumEpochResponse: _epoch_response_in(BeginQuorumEpochResponse),
    _end.EndQuorumEpochRequest: _end_request_in,
    _end.EndQuorumEpochResponse: _epoch_response_in(EndQuorumEpochResponse),
    _fetch.FetchRequest: _fetch_request_in,
    _fetch.FetchResponse: _fetch_response_in,
    _snap.FetchSnapshotRequest: _fetch_snapshot_request_in,
    _snap.FetchSnapshotResponse: _fetch_snapshot_response_in,
    _describe.DescribeQuorumRequest: lambda m: DescribeQuorumRequest(),
    _describe.DescribeQuorumResponse: _describe_response_in,
    _add.AddRaftVoterRequest: lambda m: AddRaftVoterRequest(
        m.cluster_id, m.timeout_ms, m.voter_id, uuid_str(m.voter_directory_id), _listeners(m.listeners),
        m.ack_when_committed),
    _add.AddRaftVoterResponse: lambda m: AddRaftVoterResponse(_code(m.error_code), m.error_message),
    _remove.RemoveRaftVoterRequest: lambda m: RemoveRaftVoterRequest(
        m.cluster_id, m.voter_id, uuid_str(m.voter_directory_id)),
    _remove.RemoveRaftVoterResponse: lambda m: RemoveRaftVoterResponse(_code(m.error_code), m.error_message),
    _update.UpdateRaftVoterRequest: lambda m: UpdateRaftVoterRequest(
        m.cluster_id, m.current_leader_epoch, m.voter_id, uuid_str(m.voter_directory_id), _listeners(m.listeners),
        (m.k_raft_version_feature.min_supported_version, m.k_raft_version_feature.max_supported_version)),
    _update.UpdateRaftVoterResponse: lambda m: UpdateRaftVoterResponse(
        _code(m.error_code), LeaderIdAndEpoch(m.current_leader.leader_id, m.current_leader.leader_epoch)),
}
