"""The share coordinator's APIs (KIP-932), answered from ``__share_group_state``.

InitializeShareGroupState (key 83) v0, ReadShareGroupState (key 84) v0,
WriteShareGroupState (key 85) v0-1, DeleteShareGroupState (key 86) v0,
ReadShareGroupStateSummary (key 87) v0-1. Share-partition leaders send them to the
share coordinator of each share-partition (FindCoordinator key type 2); the logic is
:mod:`kafkapy.broker.share.coordinator`'s.

Version notes: WriteShareGroupState v1 and ReadShareGroupStateSummary v1 carry
DeliveryCompleteCount (Kafka 4.4).
Not implemented: authorization (CLUSTER_ACTION).
"""

from __future__ import annotations

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.broker.share.coordinator import ShareKey, ShareState
from kafkapy.broker.share.partition import StateBatch
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.delete_share_group_state import DeleteShareGroupStateRequest, DeleteShareGroupStateResponse
from kafkapy.wire.messages.initialize_share_group_state import (
    InitializeShareGroupStateRequest,
    InitializeShareGroupStateResponse,
)
from kafkapy.wire.messages.read_share_group_state import ReadShareGroupStateRequest, ReadShareGroupStateResponse
from kafkapy.wire.messages.read_share_group_state_summary import (
    ReadShareGroupStateSummaryRequest,
    ReadShareGroupStateSummaryResponse,
)
from kafkapy.wire.messages.write_share_group_state import WriteShareGroupStateRequest, WriteShareGroupStateResponse


def _message(code: ErrorCode) -> str | None:
    return None if code == ErrorCode.NONE else code.message


def _not_here(ctx: RequestContext, key: ShareKey) -> ErrorCode | None:
    """The error when this node is not the share coordinator of ``key`` (never forwarded)."""
    share = ctx.broker.share
    return share.state.coordinator_error(share.state_partition(key))


@handles(ApiKey.INITIALIZE_SHARE_GROUP_STATE, versions=(0, 0))
async def handle_initialize_share_group_state(
        ctx: RequestContext, request: InitializeShareGroupStateRequest) -> InitializeShareGroupStateResponse:
    R = InitializeShareGroupStateResponse
    share = ctx.broker.share
    results = []
    for topic in request.topics:
        partitions = []
        for p in topic.partitions:
            key = ShareKey(request.group_id, topic.topic_id, p.partition)
            code = _not_here(ctx, key) or await share.initialize_state(key, p.state_epoch, p.start_offset)
            share.partitions.forget(ShareKey(request.group_id, topic.topic_id, p.partition))
            partitions.append(R.PartitionResult(partition=p.partition, error_code=code, error_message=_message(code)))
        results.append(R.InitializeStateResult(topic_id=topic.topic_id, partitions=partitions))
    return R(results=results)


@handles(ApiKey.READ_SHARE_GROUP_STATE, versions=(0, 0))
async def handle_read_share_group_state(ctx: RequestContext,
                                        request: ReadShareGroupStateRequest) -> ReadShareGroupStateResponse:
    R = ReadShareGroupStateResponse
    share = ctx.broker.share
    results = []
    for topic in request.topics:
        partitions = []
        for p in topic.partitions:
            key = ShareKey(request.group_id, topic.topic_id, p.partition)
            refused = _not_here(ctx, key)
            code, s = (refused, ShareState()) if refused else await share.read_state(key, p.leader_epoch)
            partitions.append(R.PartitionResult(
                partition=p.partition, error_code=code, error_message=_message(code), state_epoch=s.state_epoch,
                start_offset=s.start_offset,
                state_batches=[R.StateBatch(first_offset=b.first_offset, last_offset=b.last_offset,
                                            delivery_state=b.delivery_state, delivery_count=b.delivery_count)
                               for b in s.batches]))
        results.append(R.ReadStateResult(topic_id=topic.topic_id, partitions=partitions))
    return R(results=results)


@handles(ApiKey.WRITE_SHARE_GROUP_STATE, versions=(0, 1))
async def handle_write_share_group_state(ctx: RequestContext,
                                         request: WriteShareGroupStateRequest) -> WriteShareGroupStateResponse:
    R = WriteShareGroupStateResponse
    share = ctx.broker.share
    results = []
    for topic in request.topics:
        partitions = []
        for p in topic.partitions:
            key = ShareKey(request.group_id, topic.topic_id, p.partition)
            code = _not_here(ctx, key) or await share.write_state(
                key, state_epoch=p.state_epoch,
                leader_epoch=p.leader_epoch, start_offset=p.start_offset,
                delivery_complete_count=p.delivery_complete_count if ctx.version >= 1 else -1,
                batches=[StateBatch(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count)
                         for b in p.state_batches])
            partitions.append(R.PartitionResult(partition=p.partition, error_code=code, error_message=_message(code)))
        results.append(R.WriteStateResult(topic_id=topic.topic_id, partitions=partitions))
    return R(results=results)


@handles(ApiKey.DELETE_SHARE_GROUP_STATE, versions=(0, 0))
async def handle_delete_share_group_state(ctx: RequestContext,
                                          request: DeleteShareGroupStateRequest) -> DeleteShareGroupStateResponse:
    R = DeleteShareGroupStateResponse
    share = ctx.broker.share
    results = []
    for topic in request.topics:
        partitions = []
        for p in topic.partitions:
            key = ShareKey(request.group_id, topic.topic_id, p.partition)
            code = _not_here(ctx, key) or await share.delete_state(key)
            partitions.append(R.PartitionResult(partition=p.partition, error_code=code, error_message=_message(code)))
        results.append(R.DeleteStateResult(topic_id=topic.topic_id, partitions=partitions))
    return R(results=results)


@handles(ApiKey.READ_SHARE_GROUP_STATE_SUMMARY, versions=(0, 1))
async def handle_read_share_group_state_summary(
        ctx: RequestContext, request: ReadShareGroupStateSummaryRequest) -> ReadShareGroupStateSummaryResponse:
    R = ReadShareGroupStateSummaryResponse
    share = ctx.broker.share
    results = []
    for topic in request.topics:
        partitions = []
        for p in topic.partitions:
            key = ShareKey(request.group_id, topic.topic_id, p.partition)
            refused = _not_here(ctx, key)
            code, s = (refused, None) if refused else await share.state_summary(key)
            partitions.append(R.PartitionResult(
                partition=p.partition, error_code=code, error_message=_message(code),
                state_epoch=s.state_epoch if s else 0, leader_epoch=s.leader_epoch if s else -1,
                start_offset=s.start_offset if s else -1,
                delivery_complete_count=s.delivery_complete_count if s else -1))
        results.append(R.ReadStateSummaryResult(topic_id=topic.topic_id, partitions=partitions))
    return R(results=results)
