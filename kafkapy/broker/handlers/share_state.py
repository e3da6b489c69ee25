"""The share coordinator's APIs (KIP-932), answered from ``__share_group_state``.

InitializeShareGroupState (key 83) v0, ReadShareGroupState (key 84) v0,
WriteShareGroupState (key 85) v0-1, DeleteShareGroupState (key 86) v0,
ReadShareGroupStateSummary (key 87) v0-1. Share-partition leaders send them to the
share coordinator of each share-partition (FindCoordinator key type 2); the logic is
:mod:`kafkapy.broker.share.coordinator`'s.

Version notes: WriteShareGroupState v1 and ReadShareGroupStateSummary v1 carry
DeliveryCompleteCount (Kafka 4.4).
Authorization (CLUSTER_ACTION) is :mod:`kafkapy.broker.request_authorization`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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


#: One partition's answer: its error code and the result's other fields.
Answer = Callable[[ShareKey, Any], Awaitable[tuple[ErrorCode, dict[str, Any]]]]


def _message(code: ErrorCode) -> str | None:
    return None if code == ErrorCode.NONE else code.message


async def _each_partition(ctx: RequestContext, request: Any, response: Any, topic_result: Any, answer: Answer,
                          refused: dict[str, Any] | None = None) -> Any:
    """The response of one of these requests: for each partition, ``answer``'s result where
    this node is its share coordinator, else the coordinator error (never forwarded) with
    the ``refused`` fields, as Kafka's ``ShareCoordinatorService``."""
    share = ctx.broker.share
    results = []
    for topic in request.topics:
        partitions = []
        for p in topic.partitions:
            key = ShareKey(request.group_id, topic.topic_id, p.partition)
            code = share.state.coordinator_error(share.state_partition(key))
            code, fields = (code, refused or {}) if code else await answer(key, p)
            partitions.append(response.PartitionResult(partition=p.partition, error_code=code,
                                                       error_message=_message(code), **fields))
        results.append(topic_result(topic_id=topic.topic_id, partitions=partitions))
    return response(results=results)


@handles(ApiKey.INITIALIZE_SHARE_GROUP_STATE, versions=(0, 0))
async def handle_initialize_share_group_state(
        ctx: RequestContext, request: InitializeShareGroupStateRequest) -> InitializeShareGroupStateResponse:
    R = InitializeShareGroupStateResponse
    share = ctx.broker.share

    async def answer(key: ShareKey, p: Any) -> tuple[ErrorCode, dict[str, Any]]:
        code = await share.initialize_state(key, p.state_epoch, p.start_offset)
        share.partitions.forget(key)
        return code, {}
    return await _each_partition(ctx, request, R, R.InitializeStateResult, answer)


def _read_fields(s: ShareState) -> dict[str, Any]:
    R = ReadShareGroupStateResponse
    return dict(state_epoch=s.state_epoch, start_offset=s.start_offset,
                state_batches=[R.StateBatch(first_offset=b.first_offset, last_offset=b.last_offset,
                                            delivery_state=b.delivery_state, delivery_count=b.delivery_count)
                               for b in s.batches])


@handles(ApiKey.READ_SHARE_GROUP_STATE, versions=(0, 0))
async def handle_read_share_group_state(ctx: RequestContext,
                                        request: ReadShareGroupStateRequest) -> ReadShareGroupStateResponse:
    R = ReadShareGroupStateResponse
    share = ctx.broker.share

    async def answer(key: ShareKey, p: Any) -> tuple[ErrorCode, dict[str, Any]]:
        code, s = await share.read_state(key, p.leader_epoch)
        return code, _read_fields(s) if code == ErrorCode.NONE else {}
    return await _each_partition(ctx, request, R, R.ReadStateResult, answer, _read_fields(ShareState()))


@handles(ApiKey.WRITE_SHARE_GROUP_STATE, versions=(0, 1))
async def handle_write_share_group_state(ctx: RequestContext,
                                         request: WriteShareGroupStateRequest) -> WriteShareGroupStateResponse:
    R = WriteShareGroupStateResponse
    share = ctx.broker.share

    async def answer(key: ShareKey, p: Any) -> tuple[ErrorCode, dict[str, Any]]:
        return await share.write_state(
            key, state_epoch=p.state_epoch, leader_epoch=p.leader_epoch, start_offset=p.start_offset,
            delivery_complete_count=p.delivery_complete_count if ctx.version >= 1 else -1,
            batches=[StateBatch(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count)
                     for b in p.state_batches]), {}
    return await _each_partition(ctx, request, R, R.WriteStateResult, answer)


@handles(ApiKey.DELETE_SHARE_GROUP_STATE, versions=(0, 0))
async def handle_delete_share_group_state(ctx: RequestContext,
                                          request: DeleteShareGroupStateRequest) -> DeleteShareGroupStateResponse:
    R = DeleteShareGroupStateResponse
    share = ctx.broker.share

    async def answer(key: ShareKey, p: Any) -> tuple[ErrorCode, dict[str, Any]]:
        return await share.delete_state(key), {}
    return await _each_partition(ctx, request, R, R.DeleteStateResult, answer)


def _summary_fields(s: ShareState | None) -> dict[str, Any]:
    return dict(state_epoch=s.state_epoch if s else 0, leader_epoch=s.leader_epoch if s else -1,
                start_offset=s.start_offset if s else -1,
                delivery_complete_count=s.delivery_complete_count if s else -1)


@handles(ApiKey.READ_SHARE_GROUP_STATE_SUMMARY, versions=(0, 1))
async def handle_read_share_group_state_summary(
        ctx: RequestContext, request: ReadShareGroupStateSummaryRequest) -> ReadShareGroupStateSummaryResponse:
    R = ReadShareGroupStateSummaryResponse
    share = ctx.broker.share

    async def answer(key: ShareKey, p: Any) -> tuple[ErrorCode, dict[str, Any]]:
        code, s = await share.state_summary(key)
        return code, _summary_fields(s)
    return await _each_partition(ctx, request, R, R.ReadStateSummaryResult, answer, _summary_fields(None))
