"""UpdateFeatures (key 57), versions 0-2: ``kafka-features.sh upgrade|downgrade``.

The update is one controller operation (:mod:`kafkapy.kraft.metadata.feature_control`),
answered once its FeatureLevelRecords are committed; a broker that is not the active
controller forwards the request to it. The finalized levels are read back through
ApiVersions (DescribeFeatures in the admin client).

Version notes:
    v0: ``allow_downgrade`` (a safe downgrade). v1+: ``upgrade_type`` and
    ``validate_only``. v0-1 answer each feature; v2 answers only the request's error,
    the first feature's failure (KIP-1022's ``UpdateFeaturesResponse.createWithErrors``).
Authorization (CLUSTER ALTER) happens before the handler
(:mod:`kafkapy.broker.request_authorization`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.feature_control import FeatureUpdate, UpgradeType
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.update_features import (
        UpdateFeaturesRequest,
        UpdateFeaturesResponse,
    )


@handles(ApiKey.UPDATE_FEATURES, versions=(0, 2))
async def handle_update_features(ctx: RequestContext, request: UpdateFeaturesRequest) -> UpdateFeaturesResponse:
    from kafkapy.wire.messages.update_features import UpdateFeaturesResponse as Response

    names = [u.feature for u in request.feature_updates]
    if len(set(names)) != len(names):
        return Response(error_code=ErrorCode.INVALID_REQUEST, error_message="Duplicate feature names in the request")
    updates = []
    for u in request.feature_updates:
        if ctx.version == 0:
            kind = UpgradeType.SAFE_DOWNGRADE if u.allow_downgrade else UpgradeType.UPGRADE
        else:
            try:
                kind = UpgradeType(u.upgrade_type)
            except ValueError:
                kind = UpgradeType.UNKNOWN
        updates.append(FeatureUpdate(u.feature, u.max_version_level, kind))
    try:
        errors = await ctx.broker.metadata.update_features(updates, validate_only=request.validate_only)
    except NotControllerError as exc:
        return Response(error_code=ErrorCode.NOT_CONTROLLER, error_message=str(exc) or None)
    if ctx.version >= 2:
        failed = next((e for e in errors.values() if e.code != ErrorCode.NONE), None)
        return Response(error_code=failed.code if failed else ErrorCode.NONE,
                        error_message=failed.message if failed else None)
    return Response(results=[Response.UpdatableFeatureResult(feature=name, error_code=e.code, error_message=e.message)
                             for name, e in errors.items()])
