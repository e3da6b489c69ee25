"""Streams group membership (KIP-1071), answered by the streams-group shards of the coordinator runtime.

StreamsGroupHeartbeat (key 88) v0-1, StreamsGroupDescribe (key 89) v0-1,
StreamsGroupTopologyDescriptionUpdate (key 93) v0. The logic is
:mod:`kafkapy.broker.streams.group_shard`'s; these functions find the shard, translate,
and start the creation of missing internal topics.

With ``streams.version`` at 0 on a cluster whose metadata version has the feature
(4.2-IV1 and later), StreamsGroupHeartbeat answers UNSUPPORTED_VERSION, as Kafka does
with streams groups off; on an older metadata version kafkapy serves them as Kafka 4.1's
early access did when enabled. The shard access is
:mod:`kafkapy.broker.handlers.group_shard_requests`'s, shared with share groups.
Authorization is :mod:`kafkapy.broker.request_authorization`'s; the heartbeat asks it
whether the principal may create the missing internal topics.
Topology descriptions (KIP-1331) are kept by Kafka 4.4 only through a
``group.streams.topology.description.plugin.class``, a Java class kafkapy refuses at
start; kafkapy answers as Kafka does without one: the heartbeat never sets
TopologyDescriptionRequired, a describe asking for it answers NOT_STORED, and an update
is refused with UNSUPPORTED_VERSION.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.handlers.group_shard_requests import feature_enabled, shard_describe, shard_heartbeat
from kafkapy.broker.registry import handles
from kafkapy.broker.request_authorization import refuse_internal_topic_creation, topology_refusal
from kafkapy.kraft.metadata.features import STREAMS_VERSION
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeRequest, StreamsGroupDescribeResponse
from kafkapy.wire.messages.streams_group_heartbeat import (
    StreamsGroupHeartbeatRequest,
    StreamsGroupHeartbeatResponse,
)
from kafkapy.wire.messages.streams_group_topology_description_update import (
    StreamsGroupTopologyDescriptionUpdateRequest,
    StreamsGroupTopologyDescriptionUpdateResponse,
)

if TYPE_CHECKING:
    from kafkapy.broker.streams.group_shard import HeartbeatOutcome

#: MetadataVersion.IBP_4_2_IV1, the bootstrap metadata version of StreamsVersion.SV_1.
STREAMS_VERSION_METADATA_VERSION = 29
#: StreamsGroupDescribeResponse.TopologyDescriptionStatus NOT_STORED (KIP-1331).
TOPOLOGY_DESCRIPTION_NOT_STORED = 1
#: What ``GroupCoordinatorService.throwIfStreamsGroupTopologyDescriptionUpdateInvalid``
#: answers with no ``group.streams.topology.description.plugin.class`` (kafkapy's case).
NO_TOPOLOGY_DESCRIPTION_PLUGIN = "The broker has no streams group topology description plugin configured."


def streams_groups_enabled(image: MetadataImage) -> bool:
    """Kafka's ``StreamsVersion``: ``streams.version`` >= 1 on a cluster at 4.2-IV1 or later."""
    return feature_enabled(image, STREAMS_VERSION, STREAMS_VERSION_METADATA_VERSION)


@handles(ApiKey.STREAMS_GROUP_HEARTBEAT, versions=(0, 1))
async def handle_streams_group_heartbeat(ctx: RequestContext,
                                         request: StreamsGroupHeartbeatRequest) -> StreamsGroupHeartbeatResponse:
    streams = ctx.broker.streams

    def answer(outcome: HeartbeatOutcome) -> StreamsGroupHeartbeatResponse:
        if outcome.to_create and not refuse_internal_topic_creation(ctx, outcome.response,
                                                                    [t.name for t in outcome.to_create]):
            streams.create_internal_topics(outcome.to_create)
        return outcome.response

    enabled = streams_groups_enabled(ctx.broker.image)
    # With an authorizer the request's authorization rule refuses an invalid topology.
    invalid = topology_refusal(request) if enabled and ctx.broker.authorizer is None else None
    if invalid is not None:
        return StreamsGroupHeartbeatResponse(error_code=invalid[0], error_message=invalid[1])
    from kafkapy.broker.streams.group_shard import StreamsGroupShard

    return await shard_heartbeat(ctx, streams, request, StreamsGroupHeartbeatResponse,
                                 enabled=enabled, kind="streams", answer=answer, validate=StreamsGroupShard._validate)


@handles(ApiKey.STREAMS_GROUP_DESCRIBE, versions=(0, 1))
def handle_streams_group_describe(ctx: RequestContext,
                                  request: StreamsGroupDescribeRequest) -> StreamsGroupDescribeResponse:
    D = StreamsGroupDescribeResponse
    groups = shard_describe(ctx.broker.streams, request.group_ids, D.DescribedGroup)
    if request.include_topology_description:
        for described in groups:
            if described.error_code == ErrorCode.NONE:
                described.topology_description_status = TOPOLOGY_DESCRIPTION_NOT_STORED
    return D(groups=groups)


@handles(ApiKey.STREAMS_GROUP_TOPOLOGY_DESCRIPTION_UPDATE, versions=(0, 0))
def handle_streams_group_topology_description_update(
        ctx: RequestContext,
        request: StreamsGroupTopologyDescriptionUpdateRequest) -> StreamsGroupTopologyDescriptionUpdateResponse:
    """``KafkaApis.handleStreamsGroupTopologyDescriptionUpdate`` without a description
    plugin: UNSUPPORTED_VERSION with streams groups off, then (GROUP READ checked by the
    request's authorization rule) UNSUPPORTED_VERSION saying no plugin is configured,
    before the group, member or epoch are looked at."""
    # Errors.UNSUPPORTED_VERSION.exception() carries the error's own message, which
    # ApiError.fromThrowable leaves out.
    message = NO_TOPOLOGY_DESCRIPTION_PLUGIN if streams_groups_enabled(ctx.broker.image) else None
    return StreamsGroupTopologyDescriptionUpdateResponse(error_code=ErrorCode.UNSUPPORTED_VERSION,
                                                         error_message=message)
