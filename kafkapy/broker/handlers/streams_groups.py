"""Streams group membership (KIP-1071), answered by the streams-group shards of the coordinator runtime.

StreamsGroupHeartbeat (key 88) v0-1, StreamsGroupDescribe (key 89) v0-1. The logic is
:mod:`kafkapy.broker.streams.group_shard`'s; these functions find the shard, translate,
and start the creation of missing internal topics.

With ``streams.version`` at 0 on a cluster whose metadata version has the feature
(4.2-IV1 and later), StreamsGroupHeartbeat answers UNSUPPORTED_VERSION, as Kafka does
with streams groups off; on an older metadata version kafkapy serves them as Kafka 4.1's
early access did when enabled.
Authorization is :mod:`kafkapy.broker.request_authorization`'s; the heartbeat asks it
whether the principal may create the missing internal topics.
Not implemented: topology descriptions (v1's TopologyDescriptionRequired stays false; a
describe answers NOT_STORED when one is asked for).
"""

from __future__ import annotations

from kafkapy.broker.context import RequestContext
from kafkapy.broker.coordinator.shard import CoordinatorError
from kafkapy.broker.handlers.groups import client_host
from kafkapy.broker.registry import handles
from kafkapy.broker.request_authorization import refuse_internal_topic_creation
from kafkapy.kraft.metadata.features import STREAMS_VERSION
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeRequest, StreamsGroupDescribeResponse
from kafkapy.wire.messages.streams_group_heartbeat import (
    StreamsGroupHeartbeatRequest,
    StreamsGroupHeartbeatResponse,
)

#: MetadataVersion.IBP_4_2_IV1, the bootstrap metadata version of StreamsVersion.SV_1.
STREAMS_VERSION_METADATA_VERSION = 29
#: StreamsGroupDescribeResponse.TopologyDescriptionStatus NOT_STORED (KIP-1331).
TOPOLOGY_DESCRIPTION_NOT_STORED = 1


def streams_groups_enabled(image: MetadataImage) -> bool:
    """Kafka's ``StreamsVersion``: ``streams.version`` >= 1 on a cluster at 4.2-IV1 or later."""
    if image.metadata_version < STREAMS_VERSION_METADATA_VERSION:
        return True
    return image.features.get(STREAMS_VERSION, 0) >= 1


@handles(ApiKey.STREAMS_GROUP_HEARTBEAT, versions=(0, 1))
async def handle_streams_group_heartbeat(ctx: RequestContext,
                                         request: StreamsGroupHeartbeatRequest) -> StreamsGroupHeartbeatResponse:
    if not streams_groups_enabled(ctx.broker.image):
        return StreamsGroupHeartbeatResponse(error_code=ErrorCode.UNSUPPORTED_VERSION,
                                             error_message="The streams group feature is not enabled.")
    streams = ctx.broker.streams
    p = streams.group_partition(request.group_id)
    host = client_host(ctx)
    try:
        outcome = await streams.groups.write(p, lambda shard: shard.heartbeat(request, ctx.client_id, host))
    except CoordinatorError as exc:
        return StreamsGroupHeartbeatResponse(error_code=exc.code, error_message=exc.message)
    if outcome.to_create and not refuse_internal_topic_creation(ctx, outcome.response,
                                                                [t.name for t in outcome.to_create]):
        streams.create_internal_topics(outcome.to_create)
    return outcome.response


@handles(ApiKey.STREAMS_GROUP_DESCRIBE, versions=(0, 1))
def handle_streams_group_describe(ctx: RequestContext,
                                  request: StreamsGroupDescribeRequest) -> StreamsGroupDescribeResponse:
    streams = ctx.broker.streams
    D = StreamsGroupDescribeResponse
    groups = []
    for group_id in request.group_ids:
        if not group_id:
            groups.append(D.DescribedGroup(error_code=ErrorCode.INVALID_GROUP_ID, group_id=group_id))
            continue
        try:
            described = streams.groups.read(streams.group_partition(group_id), lambda s: s.describe(group_id))
        except CoordinatorError as exc:
            described = D.DescribedGroup(error_code=exc.code, group_id=group_id)
        if described.error_code == ErrorCode.NONE and request.include_topology_description:
            described.topology_description_status = TOPOLOGY_DESCRIPTION_NOT_STORED
        groups.append(described)
    return D(groups=groups)
