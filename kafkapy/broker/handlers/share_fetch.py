"""ShareFetch (key 78) v1-2 and ShareAcknowledge (key 79) v1-2 (KIP-932), on the partition leader.

The logic is :mod:`kafkapy.broker.share.manager`'s: share sessions, acquisition of
whole batches, acknowledgements persisted before the answer.

Version notes: v0 was Kafka 4.0's early access, removed in 4.1. v1 MaxRecords and
BatchSize. v2 (KIP-1206, KIP-1222) ShareAcquireMode (record-limit: at most MaxRecords
records acquired in all, batches split) and IsRenewAck: a request renewing locks only
acknowledges, it fetches nothing. Acknowledge type 4 (RENEW) is accepted in any
version, as Kafka's share-partition does once the request decoded.
Authorization (GROUP READ, TOPIC READ) is :mod:`kafkapy.broker.request_authorization`'s;
the fetch asks it which session partitions the principal may no longer read.
Not implemented: NodeEndpoints for NOT_LEADER_OR_FOLLOWER.
"""

from __future__ import annotations

from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.broker.request_authorization import unreadable_share_partitions
from kafkapy.broker.share.coordinator import ShareKey
from kafkapy.broker.share.manager import FINAL_EPOCH, INITIAL_EPOCH, PartitionResult
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.share_acknowledge import ShareAcknowledgeRequest, ShareAcknowledgeResponse
from kafkapy.wire.messages.share_fetch import ShareFetchRequest, ShareFetchResponse

#: ShareFetch v0-compatible default when a request gives no MaxRecords.
_DEFAULT_MAX_RECORDS = 500
#: ShareFetch v2 ShareAcquireMode of the client's ``share.acquire.mode=record_limit``
#: (``ShareAcquireMode.RECORD_LIMIT``); 0 is batch-optimized, no other value is known.
_RECORD_LIMIT = 1
_ACQUIRE_MODES = (0, _RECORD_LIMIT)


async def _acknowledge_all(ctx: RequestContext, group_id: str, member_id: str,
                           topics: list[Any], results: dict[tuple[bytes, int], PartitionResult]) -> None:
    manager = ctx.broker.share.partitions
    for topic in topics:
        for p in topic.partitions:
            if not p.acknowledgement_batches:
                continue
            key = ShareKey(group_id, topic.topic_id, p.partition_index)
            result = results.setdefault((topic.topic_id, p.partition_index), PartitionResult())
            result.ack_error = await manager.acknowledge(key, member_id, p.acknowledgement_batches)


#: The partition errors answered with the current leader (KafkaApis.handleShareFetchRequest
#: and handleShareAcknowledgeRequest); any other answer leaves CurrentLeader at its zero default.
_LEADER_ERRORS = (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.FENCED_LEADER_EPOCH)


def _current_leader(cls: Any, error: ErrorCode, leader_id: int, leader_epoch: int) -> Any:
    return cls(leader_id=leader_id, leader_epoch=leader_epoch) if error in _LEADER_ERRORS else cls()


@handles(ApiKey.SHARE_FETCH, versions=(1, 2))
async def handle_share_fetch(ctx: RequestContext, request: ShareFetchRequest) -> ShareFetchResponse:
    manager = ctx.broker.share.partitions
    group_id, member_id = request.group_id or "", request.member_id or ""
    if not group_id or not member_id:
        return ShareFetchResponse(error_code=ErrorCode.INVALID_REQUEST,
                                  error_message="GroupId and MemberId must be set.")
    epoch = request.share_session_epoch
    settings = manager.settings(group_id)
    error, session = manager.open_session(group_id, member_id, epoch, ctx.conn)
    if session is None:  # AcquisitionLockTimeoutMs left at 0, as Kafka's error responses
        return ShareFetchResponse(error_code=error)
    results: dict[tuple[bytes, int], PartitionResult] = {}
    await _acknowledge_all(ctx, group_id, member_id, request.topics, results)
    if epoch == FINAL_EPOCH:
        manager.close_session(session)
        return _fetch_response(results, settings.share_record_lock_duration_ms)
    for topic in request.topics:
        for p in topic.partitions:
            session.partitions[(topic.topic_id, p.partition_index)] = None
    if epoch != INITIAL_EPOCH:
        for forgotten in request.forgotten_topics_data:
            for index in forgotten.partitions:
                session.partitions.pop((forgotten.topic_id, index), None)
    if ctx.version >= 2 and request.share_acquire_mode not in _ACQUIRE_MODES:
        # Kafka's ShareFetch fails on ShareAcquireMode.forId once the session is opened
        # or advanced: UNKNOWN_SERVER_ERROR, nothing acquired, the session kept.
        return ShareFetchResponse(error_code=ErrorCode.UNKNOWN_SERVER_ERROR)
    renew_only = ctx.version >= 2 and request.is_renew_ack
    if not renew_only:
        denied = unreadable_share_partitions(ctx, list(session.partitions))
        for tp in denied:  # ShareFetchResponse.partitionResponse: CurrentLeader left at its zero default
            results[tp] = PartitionResult(error=ErrorCode.TOPIC_AUTHORIZATION_FAILED, leader_id=0, leader_epoch=0,
                                          ack_error=results[tp].ack_error if tp in results else None)
        tps = [tp for tp in session.partitions if tp not in denied]
        max_records = request.max_records if request.max_records > 0 else _DEFAULT_MAX_RECORDS
        record_limit = ctx.version >= 2 and request.share_acquire_mode == _RECORD_LIMIT
        got = await _acquire(ctx, group_id, member_id, tps, results, max_records, request.max_bytes, record_limit)
        if not got and request.max_wait_ms > 0:
            await manager.wait_for_records(group_id, tps, request.max_wait_ms / 1000)
            await _acquire(ctx, group_id, member_id, tps, results, max_records, request.max_bytes, record_limit)
    return _fetch_response(results, settings.share_record_lock_duration_ms)


async def _acquire(ctx: RequestContext, group_id: str, member_id: str, tps: list[tuple[bytes, int]],
                   results: dict[tuple[bytes, int], PartitionResult], max_records: int, max_bytes: int,
                   record_limit: bool) -> int:
    """Acquire records of each partition in turn, within the request's budgets; how many."""
    manager = ctx.broker.share.partitions
    settings = manager.settings(group_id)
    total = 0
    budget = max_bytes if max_bytes > 0 else 2**31 - 1
    for topic_id, partition in tps:
        if total >= max_records or budget <= 0:
            break
        error, hosted, _ = manager.leader(topic_id, partition)
        result = results.setdefault((topic_id, partition), PartitionResult())
        if hosted is None:
            result.error = error
            continue
        key = ShareKey(group_id, topic_id, partition)
        sp = await manager.share_partition(key, hosted)
        _, hosted, _ = manager.leader(topic_id, partition)
        if sp is None or hosted is None:
            continue
        got = manager.acquire(sp, key, hosted, member_id, max_records=max_records - total, max_bytes=budget,
                              settings=settings, record_limit=record_limit)
        result.leader_id, result.leader_epoch = got.leader_id, got.leader_epoch
        result.records.extend(got.records)
        result.acquired.extend(got.acquired)
        total += sum(r.last_offset - r.first_offset + 1 for r in got.acquired)
        budget -= sum(len(b) for b in got.records)
    return total


def _fetch_response(results: dict[tuple[bytes, int], PartitionResult], lock_ms: int) -> ShareFetchResponse:
    R = ShareFetchResponse
    by_topic: dict[bytes, list[ShareFetchResponse.PartitionData]] = {}
    for (topic_id, partition), r in results.items():
        if not r.acquired and r.error == ErrorCode.NONE and r.ack_error is None:
            continue
        by_topic.setdefault(topic_id, []).append(R.PartitionData(
            partition_index=partition, error_code=r.error,
            acknowledge_error_code=r.ack_error or ErrorCode.NONE,
            current_leader=_current_leader(R.LeaderIdAndEpoch, r.error, r.leader_id, r.leader_epoch),
            records=b"".join(r.records),
            acquired_records=[R.AcquiredRecords(first_offset=a.first_offset, last_offset=a.last_offset,
                                                delivery_count=a.delivery_count) for a in r.acquired]))
    return R(error_code=ErrorCode.NONE, acquisition_lock_timeout_ms=lock_ms,
             responses=[R.ShareFetchableTopicResponse(topic_id=t, partitions=ps) for t, ps in by_topic.items()])


@handles(ApiKey.SHARE_ACKNOWLEDGE, versions=(1, 2))
async def handle_share_acknowledge(ctx: RequestContext,
                                   request: ShareAcknowledgeRequest) -> ShareAcknowledgeResponse:
    manager = ctx.broker.share.partitions
    group_id, member_id = request.group_id or "", request.member_id or ""
    if not group_id or not member_id:
        return ShareAcknowledgeResponse(error_code=ErrorCode.INVALID_REQUEST)
    epoch = request.share_session_epoch
    settings = manager.settings(group_id)
    if epoch == INITIAL_EPOCH:
        return ShareAcknowledgeResponse(error_code=ErrorCode.INVALID_SHARE_SESSION_EPOCH)
    error, session = manager.open_session(group_id, member_id, epoch)
    if session is None:
        return ShareAcknowledgeResponse(error_code=error)
    results: dict[tuple[bytes, int], PartitionResult] = {}
    await _acknowledge_all(ctx, group_id, member_id, request.topics, results)
    if epoch == FINAL_EPOCH:
        manager.close_session(session)
    R = ShareAcknowledgeResponse
    by_topic: dict[bytes, list[ShareAcknowledgeResponse.PartitionData]] = {}
    for (topic_id, partition), r in results.items():
        _, hosted, _ = manager.leader(topic_id, partition)
        error = r.ack_error or ErrorCode.NONE
        by_topic.setdefault(topic_id, []).append(R.PartitionData(
            partition_index=partition, error_code=error, error_message=error.message if error else None,
            current_leader=_current_leader(R.LeaderIdAndEpoch, error, ctx.broker.node_id if hosted else -1,
                                           hosted.leader_epoch if hosted else -1)))
    return R(error_code=ErrorCode.NONE, acquisition_lock_timeout_ms=settings.share_record_lock_duration_ms,
             responses=[R.ShareAcknowledgeTopicResponse(topic_id=t, partitions=ps) for t, ps in by_topic.items()])
