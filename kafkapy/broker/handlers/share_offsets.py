"""Share group offsets admin (KIP-932): where each share-partition starts, moved or removed.

DescribeShareGroupOffsets (key 90) v0-1, AlterShareGroupOffsets (key 91) v0,
DeleteShareGroupOffsets (key 92) v0. Sent to the group coordinator; the start offsets
are the share coordinator's (``__share_group_state``), the topics the group's
ShareGroupStatePartitionMetadata.

* Describe: every partition of the topics asked (all topics with state when Topics is
  null) with its start offset (-1: no state yet) and, v1+ (KIP-1226), its lag: records
  from the start offset to the high watermark not yet delivered for good.
* Alter (only an empty group: NON_EMPTY_GROUP): a fresh state at the given start
  offset with the next state epoch, which fences the share-partition leaders' old state.
* Delete (only an empty group): the state of every partition of the topics is deleted.

Authorization is :mod:`kafkapy.broker.request_authorization`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.coordinator.shard import CoordinatorError
from kafkapy.broker.registry import handles
from kafkapy.broker.share.coordinator import ShareKey
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.alter_share_group_offsets import (
    AlterShareGroupOffsetsRequest,
    AlterShareGroupOffsetsResponse,
)
from kafkapy.wire.messages.delete_share_group_offsets import (
    DeleteShareGroupOffsetsRequest,
    DeleteShareGroupOffsetsResponse,
)
from kafkapy.wire.messages.describe_share_group_offsets import (
    DescribeShareGroupOffsetsRequest,
    DescribeShareGroupOffsetsResponse,
)


def _group_error(ctx: RequestContext, group_id: str, *, empty: bool = False) -> tuple[ErrorCode, str | None]:
    """NONE when this node coordinates ``group_id`` and it is a share group (and empty if asked)."""
    share = ctx.broker.share
    error = share.groups.coordinator_error(share.group_partition(group_id))
    if error is not None:
        return error, None
    shard = share.find_group(group_id)
    if shard is None:
        return ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found."
    if empty and shard.groups[group_id].members:
        return ErrorCode.NON_EMPTY_GROUP, "The group is not empty."
    return ErrorCode.NONE, None


@handles(ApiKey.DESCRIBE_SHARE_GROUP_OFFSETS, versions=(0, 1))
async def handle_describe_share_group_offsets(
        ctx: RequestContext, request: DescribeShareGroupOffsetsRequest) -> DescribeShareGroupOffsetsResponse:
    R = DescribeShareGroupOffsetsResponse
    share = ctx.broker.share
    image = ctx.broker.image
    groups = []
    for g in request.groups:
        # A group that does not exist is described as one without share-partition state
        # (GroupCoordinatorService.describeShareGroupOffsets reads the persister all the same).
        error, message = _group_error(ctx, g.group_id)
        if error not in (ErrorCode.NONE, ErrorCode.GROUP_ID_NOT_FOUND):
            groups.append(R.DescribeShareGroupOffsetsResponseGroup(group_id=g.group_id, error_code=error,
                                                                   error_message=message))
            continue
        shard = share.find_group(g.group_id)
        initialized = shard.groups[g.group_id].initialized if shard is not None else {}
        if g.topics is None:
            asked = [(name, sorted(ps)) for _, (name, ps) in sorted(initialized.items(), key=lambda i: i[1][0])]
        else:
            asked = [(t.topic_name, list(t.partitions)) for t in g.topics]
        topics = []
        for name, partitions in asked:
            topic = image.topic(name)
            if topic is None:
                topics.append(R.DescribeShareGroupOffsetsResponseTopic(topic_name=name, partitions=[
                    R.DescribeShareGroupOffsetsResponsePartition(
                        partition_index=p, start_offset=-1, leader_epoch=-1, lag=-1,
                        error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        error_message=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.message) for p in partitions]))
                continue
            parts = []
            for p in partitions:
                key = ShareKey(g.group_id, topic.id, p)
                code, state = await share.state_summary(key)
                start = state.start_offset if state is not None else -1
                lag = -1
                hosted = ctx.broker.replicas.get(name, p)
                cached = share.partitions.partitions.get(key)
                if cached is not None and hosted is not None:
                    lag = cached.lag(hosted.log.high_watermark)
                elif state is not None and start >= 0 and hosted is not None:
                    done = max(state.delivery_complete_count, 0)
                    lag = max(hosted.log.high_watermark - start - done, 0)
                if code != ErrorCode.NONE:
                    code = ErrorCode.UNKNOWN_SERVER_ERROR
                parts.append(R.DescribeShareGroupOffsetsResponsePartition(
                    partition_index=p, start_offset=start, leader_epoch=state.leader_epoch if state else 0,
                    lag=lag, error_code=code, error_message=None if code == ErrorCode.NONE else code.message))
            topics.append(R.DescribeShareGroupOffsetsResponseTopic(topic_name=name, topic_id=topic.id,
                                                                   partitions=parts))
        groups.append(R.DescribeShareGroupOffsetsResponseGroup(group_id=g.group_id, topics=topics))
    return R(groups=groups)


#: Alter's or Delete's work on the topics: the topic responses, the topics whose state
#: was initialized (id -> name, partitions) and those whose state was removed.
Change = Callable[[], Awaitable[tuple[list[Any], dict[bytes, tuple[str, frozenset[int]]], set[bytes]]]]


async def _change_empty_group(ctx: RequestContext, group_id: str, response: Any, change: Change) -> Any:
    """Alter and Delete: ``change`` runs only on an empty share group this node coordinates,
    then the group's ShareGroupStatePartitionMetadata records the topics it changed."""
    share = ctx.broker.share
    error, message = _group_error(ctx, group_id, empty=True)
    if error != ErrorCode.NONE:
        return response(error_code=error, error_message=message)
    responses, added, removed = await change()
    try:
        await share.groups.write(share.group_partition(group_id),
                                 lambda s: s.set_initialized(group_id, added, removed))
    except CoordinatorError as exc:
        return response(error_code=exc.code, error_message=exc.message)
    return response(error_code=ErrorCode.NONE, responses=responses)


@handles(ApiKey.ALTER_SHARE_GROUP_OFFSETS, versions=(0, 0))
async def handle_alter_share_group_offsets(
        ctx: RequestContext, request: AlterShareGroupOffsetsRequest) -> AlterShareGroupOffsetsResponse:
    R = AlterShareGroupOffsetsResponse
    share = ctx.broker.share

    async def alter() -> tuple[list[Any], dict[bytes, tuple[str, frozenset[int]]], set[bytes]]:
        responses = []
        added: dict[bytes, tuple[str, frozenset[int]]] = {}
        for t in request.topics:
            topic = ctx.broker.image.topic(t.topic_name)
            parts = []
            for p in t.partitions:
                if topic is None or p.partition_index not in topic.partitions:
                    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                else:
                    key = ShareKey(request.group_id, topic.id, p.partition_index)
                    _, state = await share.state_summary(key)
                    code = await share.initialize_state(key, (state.state_epoch + 1) if state else 0, p.start_offset)
                    share.partitions.forget(key)
                    if code == ErrorCode.NONE:
                        name, old = added.get(topic.id, (t.topic_name, frozenset()))
                        added[topic.id] = (name, old | {p.partition_index})
                parts.append(R.AlterShareGroupOffsetsResponsePartition(
                    partition_index=p.partition_index, error_code=code,
                    error_message=None if code == ErrorCode.NONE else code.message))
            responses.append(R.AlterShareGroupOffsetsResponseTopic(topic_name=t.topic_name,
                                                                   topic_id=topic.id if topic else bytes(16),
                                                                   partitions=parts))
        return responses, added, set()
    return await _change_empty_group(ctx, request.group_id, R, alter)


@handles(ApiKey.DELETE_SHARE_GROUP_OFFSETS, versions=(0, 0))
async def handle_delete_share_group_offsets(
        ctx: RequestContext, request: DeleteShareGroupOffsetsRequest) -> DeleteShareGroupOffsetsResponse:
    R = DeleteShareGroupOffsetsResponse
    share = ctx.broker.share

    async def delete() -> tuple[list[Any], dict[bytes, tuple[str, frozenset[int]]], set[bytes]]:
        responses = []
        removed: set[bytes] = set()
        for t in request.topics:
            topic = ctx.broker.image.topic(t.topic_name)
            if topic is None:
                responses.append(R.DeleteShareGroupOffsetsResponseTopic(
                    topic_name=t.topic_name, error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    error_message=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.message))
                continue
            code = ErrorCode.NONE
            for p in sorted(topic.partitions):
                key = ShareKey(request.group_id, topic.id, p)
                result = await share.delete_state(key)
                share.partitions.forget(key)
                if result != ErrorCode.NONE:
                    code = result
            if code == ErrorCode.NONE:
                removed.add(topic.id)
            responses.append(R.DeleteShareGroupOffsetsResponseTopic(
                topic_name=t.topic_name, topic_id=topic.id, error_code=code,
                error_message=None if code == ErrorCode.NONE else code.message))
        return responses, {}, removed
    return await _change_empty_group(ctx, request.group_id, R, delete)
