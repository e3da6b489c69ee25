"""ApiVersions (key 18), versions 0-5.

Answered from the handler registry, so every advertised range is one a handler
serves (Produce's advertised minimum 0 aside, as Kafka 4.x does: KAFKA-18659).
Reports the features this node supports and the cluster's finalized levels from the
metadata image (``transaction.version`` included: KIP-890 part 2).

Version notes:
    v0-v2: error code and API ranges (v1+: throttle time).
    v3+: flexible; the client's software name and version are validated (Kafka's
        ``ApiVersionsRequest.isValid``) and kept on the connection; supported and
        finalized features are tagged fields, sent only when non-default.
    v5 (KIP-1242): the client may name the cluster and node it means to reach; both or
        neither (else INVALID_REQUEST), and a node that is not that one answers
        REBOOTSTRAP_REQUIRED with no API ranges, so a client whose bootstrap address
        now leads elsewhere starts over (Kafka 4.4's ApiVersionsRequest.isValid and
        KafkaApis).
    A version above 5 is answered by the dispatcher with a v0 body,
    UNSUPPORTED_VERSION and this API's own range (KIP-511).
Not implemented: ``zk_migration_ready`` (no ZooKeeper), throttling.
"""

from __future__ import annotations

import re

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import Handler, handles
from kafkapy.kraft.metadata.features import SUPPORTED_FEATURES
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse

#: Kafka's ``ApiVersionsRequest.SOFTWARE_NAME_VERSION_PATTERN``.
_SOFTWARE_PATTERN = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")
#: Keys in ``conn.state`` where the client's software name and version are kept.
CLIENT_SOFTWARE_NAME = "client_software_name"
CLIENT_SOFTWARE_VERSION = "client_software_version"


def advertised_api_keys(handlers: dict[int, Handler]) -> list[ApiVersionsResponse.ApiVersion]:
    """The API ranges a listener advertises: those of its handler table, by key."""
    return [
        ApiVersionsResponse.ApiVersion(api_key=h.api_key, min_version=h.advertised_min, max_version=h.max_version)
        for h in sorted(handlers.values(), key=lambda h: h.api_key)
    ]


def unsupported_version_response(handler: Handler) -> ApiVersionsResponse:
    """The v0 answer to an ApiVersions version newer than ours (KIP-511)."""
    return ApiVersionsResponse(
        error_code=ErrorCode.UNSUPPORTED_VERSION,
        api_keys=[ApiVersionsResponse.ApiVersion(
            api_key=ApiKey.API_VERSIONS, min_version=handler.advertised_min, max_version=handler.max_version
        )],
    )


@handles(ApiKey.API_VERSIONS, versions=(0, 5))
def handle_api_versions(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
    if ctx.version >= 3:
        name, version = request.client_software_name, request.client_software_version
        if not (_SOFTWARE_PATTERN.fullmatch(name) and _SOFTWARE_PATTERN.fullmatch(version)):
            return ApiVersionsResponse(error_code=ErrorCode.INVALID_REQUEST)
        ctx.conn.state[CLIENT_SOFTWARE_NAME] = name
        ctx.conn.state[CLIENT_SOFTWARE_VERSION] = version
    if ctx.version >= 5 and (request.cluster_id is not None or request.node_id != -1):
        if request.cluster_id is None or request.node_id == -1:
            return ApiVersionsResponse(error_code=ErrorCode.INVALID_REQUEST)
        if request.cluster_id != ctx.broker.image.cluster_id or request.node_id != ctx.broker.node_id:
            return ApiVersionsResponse(error_code=ErrorCode.REBOOTSTRAP_REQUIRED)
    response = ApiVersionsResponse(api_keys=advertised_api_keys(ctx.handlers))
    if ctx.version >= 3:
        image = ctx.broker.image
        # "in v0-v3, features with MinSupportedVersion = 0 are omitted" (ApiVersionsResponse.json)
        response.supported_features = [
            ApiVersionsResponse.SupportedFeatureKey(name=name, min_version=lo, max_version=hi)
            for name, (lo, hi) in sorted(SUPPORTED_FEATURES.items())
            if lo > 0 or ctx.version >= 4
        ]
        response.finalized_features_epoch = image.offset
        response.finalized_features = [
            ApiVersionsResponse.FinalizedFeatureKey(name=name, max_version_level=level, min_version_level=level)
            for name, level in sorted(image.features.items())
            if level > 0
        ]
    return response
