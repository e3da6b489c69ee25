"""Share group membership (KIP-932), answered by the share-group shards of the coordinator runtime.

ShareGroupHeartbeat (key 76) v1, ShareGroupDescribe (key 77) v1. The logic is
:mod:`kafkapy.broker.share.group_shard`'s; these functions find the shard and translate.

Version notes: v0 was Kafka 4.0's early access and was removed in 4.1; v1 is the
stable version (the client makes its member id). With ``share.version`` at 0 on a
cluster whose metadata version has the feature, ShareGroupHeartbeat answers
UNSUPPORTED_VERSION, as Kafka does with share groups off. The shard access is
:mod:`kafkapy.broker.handlers.group_shard_requests`'s, shared with streams groups.
Authorization is :mod:`kafkapy.broker.request_authorization`'s.
"""

from __future__ import annotations

from kafkapy.broker.context import RequestContext
from kafkapy.broker.handlers.group_shard_requests import feature_enabled, shard_describe, shard_heartbeat
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.features import SHARE_VERSION
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.messages.share_group_describe import ShareGroupDescribeRequest, ShareGroupDescribeResponse
from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse

#: MetadataVersion.IBP_4_2_IV0, the bootstrap metadata version of ShareVersion.SV_1.
SHARE_VERSION_METADATA_VERSION = 28


def share_groups_enabled(image: MetadataImage) -> bool:
    """Kafka's ``ShareVersion``: share groups need ``share.version`` >= 1 on a cluster
    at ``metadata.version`` 4.2-IV0 or later (where a new cluster finalizes it); on an
    older metadata version kafkapy serves them as Kafka 4.1's preview did when enabled."""
    return feature_enabled(image, SHARE_VERSION, SHARE_VERSION_METADATA_VERSION)


@handles(ApiKey.SHARE_GROUP_HEARTBEAT, versions=(1, 1))
async def handle_share_group_heartbeat(ctx: RequestContext,
                                       request: ShareGroupHeartbeatRequest) -> ShareGroupHeartbeatResponse:
    from kafkapy.broker.share.group_shard import ShareGroupShard

    return await shard_heartbeat(ctx, ctx.broker.share, request, ShareGroupHeartbeatResponse,
                                 enabled=share_groups_enabled(ctx.broker.image), kind="share",
                                 validate=ShareGroupShard._validate)


@handles(ApiKey.SHARE_GROUP_DESCRIBE, versions=(1, 1))
def handle_share_group_describe(ctx: RequestContext, request: ShareGroupDescribeRequest) -> ShareGroupDescribeResponse:
    D = ShareGroupDescribeResponse
    return D(groups=shard_describe(ctx.broker.share, request.group_ids, D.DescribedGroup))
