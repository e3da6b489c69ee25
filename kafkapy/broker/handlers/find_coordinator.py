"""FindCoordinator (key 10) v0-6: which broker coordinates a group or a transactional id.

The coordinator of a key is the leader of its internal-topic partition
(:mod:`kafkapy.broker.groups.coordinator_topics`): key type 0 (group) in
``__consumer_offsets``, key type 1 (transaction) in ``__transaction_state``, key type 2 (share-partition,
KIP-932) in ``__share_group_state``. The topic
is created on first use; while it is not there yet, or its partition has no live
leader, the answer is COORDINATOR_NOT_AVAILABLE (retriable).

Version notes: v1+ key type, throttle time and error message; v3+ flexible; v4+ a
batch of keys (``coordinator_keys``) answered one ``Coordinator`` each (KIP-699);
v5 and v6 only add error codes (transaction abort, KIP-890; share groups, KIP-932).
Not implemented: authorization.
"""

from __future__ import annotations

from kafkapy.broker.context import RequestContext
from kafkapy.broker.groups.coordinator_topics import group_metadata_topic, partition_for, transaction_state_topic
from kafkapy.broker.registry import handles
from kafkapy.broker.share.service import share_group_state_topic
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest, FindCoordinatorResponse

GROUP_KEY_TYPE = 0
TRANSACTION_KEY_TYPE = 1
#: KIP-932: "group:topicId:partition" (``SharePartitionKey.asCoordinatorKey``) in ``__share_group_state``.
SHARE_KEY_TYPE = 2


def _is_share_key(key: str) -> bool:
    """``SharePartitionKey.validate``: a group, a topic id and a partition index."""
    parts = key.rsplit(":", 2)
    return len(parts) == 3 and bool(parts[0]) and bool(parts[1]) and parts[2].isdigit()


async def find_coordinator(ctx: RequestContext, key_type: int, key: str) -> FindCoordinatorResponse.Coordinator:
    """The coordinator of one key, as the node reachable on the request's listener."""
    config = ctx.broker.config
    if key_type == GROUP_KEY_TYPE:
        topic = group_metadata_topic(config)
    elif key_type == TRANSACTION_KEY_TYPE and key:
        topic = transaction_state_topic(config)
    elif key_type == SHARE_KEY_TYPE and _is_share_key(key):
        topic = share_group_state_topic(config)
    else:
        return _error(key, ErrorCode.INVALID_REQUEST)
    await ctx.broker.start_coordinators()  # they follow the image before their topic is made
    if not await ctx.broker.groups.internal_topics.ensure(topic):
        return _error(key, ErrorCode.COORDINATOR_NOT_AVAILABLE)
    image = ctx.broker.image
    registration = image.partition(topic.name, partition_for(key, topic.num_partitions))
    leader = image.brokers.get(registration.leader) if registration is not None else None
    endpoint = leader.endpoints.get(ctx.conn.listener_name) if leader is not None and not leader.fenced else None
    if leader is None or endpoint is None:
        return _error(key, ErrorCode.COORDINATOR_NOT_AVAILABLE)
    return FindCoordinatorResponse.Coordinator(key=key, node_id=leader.id, host=endpoint.host, port=endpoint.port,
                                               error_code=ErrorCode.NONE, error_message="")


def _error(key: str, code: ErrorCode) -> FindCoordinatorResponse.Coordinator:
    # Kafka leaves the batched (v4+) message at its default ""; v0-3 carry the error's text.
    return FindCoordinatorResponse.Coordinator(key=key, node_id=-1, host="", port=-1, error_code=code,
                                               error_message="")


@handles(ApiKey.FIND_COORDINATOR, versions=(0, 6))
async def handle_find_coordinator(ctx: RequestContext, request: FindCoordinatorRequest) -> FindCoordinatorResponse:
    key_type = request.key_type if ctx.version >= 1 else GROUP_KEY_TYPE

    async def answer(key: str) -> FindCoordinatorResponse.Coordinator:
        if key_type == SHARE_KEY_TYPE and ctx.version < 6:  # the share key type came with v6 (KIP-932)
            return _error(key, ErrorCode.INVALID_REQUEST)
        return await find_coordinator(ctx, key_type, key)

    if ctx.version >= 4:
        return FindCoordinatorResponse(coordinators=[await answer(key) for key in request.coordinator_keys])
    c = await answer(request.key)
    message = ErrorCode(c.error_code).message if c.error_code else ErrorCode.NONE.name
    return FindCoordinatorResponse(error_code=c.error_code, error_message=message, node_id=c.node_id,
                                   host=c.host, port=c.port)
