"""Share group membership (KIP-932), answered by the share-group shards of the coordinator runtime.

ShareGroupHeartbeat (key 76) v1, ShareGroupDescribe (key 77) v1. The logic is
:mod:`kafkapy.broker.share.group_shard`'s; these functions find the shard and translate.

Version notes: v0 was Kafka 4.0's early access and was removed in 4.1; v1 is the
stable version (the client makes its member id). With ``share.version`` at 0 on a
cluster whose metadata version has the feature, ShareGroupHeartbeat answers
UNSUPPORTED_VERSION, as Kafka does with share groups off.
Authorization is :mod:`kafkapy.broker.request_authorization`'s.
"""

from __future__ import annotations

from kafkapy.broker.context import RequestContext
from kafkapy.broker.coordinator.shard import CoordinatorError
from kafkapy.broker.handlers.groups import client_host
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.features import SHARE_VERSION
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.share_group_describe import ShareGroupDescribeRequest, ShareGroupDescribeResponse
from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse

#: MetadataVersion.IBP_4_2_IV0, the bootstrap metadata version of ShareVersion.SV_1.
SHARE_VERSION_METADATA_VERSION = 28


def share_groups_enabled(image: MetadataImage) -> bool:
    """Kafka's ``ShareVersion``: share groups need ``share.version`` >= 1 on a cluster
    at ``metadata.version`` 4.2-IV0 or later (where a new cluster finalizes it); on an
    older metadata version kafkapy serves them as Kafka 4.1's preview did when enabled."""
    if image.metadata_version < SHARE_VERSION_METADATA_VERSION:
        return True
    return image.features.get(SHARE_VERSION, 0) >= 1


@handles(ApiKey.SHARE_GROUP_HEARTBEAT, versions=(1, 1))
async def handle_share_group_heartbeat(ctx: RequestContext,
                                       request: ShareGroupHeartbeatRequest) -> ShareGroupHeartbeatResponse:
    if not share_groups_enabled(ctx.broker.image):
        return ShareGroupHeartbeatResponse(error_code=ErrorCode.UNSUPPORTED_VERSION,
                                           error_message="The share group feature is not enabled.")
    share = ctx.broker.share
    p = share.group_partition(request.group_id)
    host = client_host(ctx)
    try:
        return await share.groups.write(p, lambda shard: shard.heartbeat(request, ctx.client_id, host))
    except CoordinatorError as exc:
        return ShareGroupHeartbeatResponse(error_code=exc.code, error_message=exc.message)


@handles(ApiKey.SHARE_GROUP_DESCRIBE, versions=(1, 1))
def handle_share_group_describe(ctx: RequestContext, request: ShareGroupDescribeRequest) -> ShareGroupDescribeResponse:
    share = ctx.broker.share
    D = ShareGroupDescribeResponse
    groups = []
    for group_id in request.group_ids:
        if not group_id:
            groups.append(D.DescribedGroup(error_code=ErrorCode.INVALID_GROUP_ID, group_id=group_id))
            continue
        try:
            groups.append(share.groups.read(share.group_partition(group_id), lambda s: s.describe(group_id)))
        except CoordinatorError as exc:
            groups.append(D.DescribedGroup(error_code=exc.code, group_id=group_id))
    return D(groups=groups)
