"""UpdateFeatures on the controller (Kafka's ``FeatureControlManager.updateFeatures``).

A finalized feature level is a FeatureLevelRecord in the metadata log (level 0 removes
the feature, KIP-584); ``kafka-features.sh upgrade|downgrade`` and ``Admin.updateFeatures``
come here. A level is accepted only if this controller and every registered broker
support it; going down needs the safe or unsafe downgrade type (KIP-778).
``metadata.version`` is fixed: kafkapy writes the records of one metadata version
only, so a change of it is refused. Each feature is decided on its own and the
accepted ones are written together, as Kafka does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from kafkapy.kraft.metadata.features import KRAFT_VERSION, METADATA_VERSION, SUPPORTED_FEATURES
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.kraft.metadata.records import FeatureLevelRecord
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.wire.error_codes import ErrorCode


class UpgradeType(enum.IntEnum):
    """``FeatureUpdate.UpgradeType`` (UpdateFeatures v1+; v0's allow_downgrade is SAFE_DOWNGRADE)."""

    UNKNOWN = 0
    UPGRADE = 1
    SAFE_DOWNGRADE = 2
    UNSAFE_DOWNGRADE = 3


class FeatureUpdate(NamedTuple):
    feature: str
    level: int
    upgrade_type: UpgradeType = UpgradeType.UPGRADE


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_UPDATE_VERSION, message)


def _check(image: MetadataImage, update: FeatureUpdate, controller_features: Mapping[str, tuple[int, int]]
           ) -> ApiError:
    name, level = update.feature, update.level
    if update.upgrade_type not in (UpgradeType.UPGRADE, UpgradeType.SAFE_DOWNGRADE, UpgradeType.UNSAFE_DOWNGRADE):
        return _invalid(f"Unknown upgrade type {int(update.upgrade_type)}")
    if level < 0:
        return _invalid("The upper value for the new range cannot be less than 0.")
    current = image.features.get(name, 0)
    if name == METADATA_VERSION:
        return NO_ERROR if level == current else _invalid(
            f"Invalid metadata.version {level}: this controller writes metadata.version {current} only")
    if level > 0:
        supported = controller_features.get(name) if name != KRAFT_VERSION else None
        if supported is None:
            return _invalid(f"Local controller does not support feature {name}")
        if not supported[0] <= level <= supported[1]:
            return _invalid(f"Local controller only supports versions {supported[0]}-{supported[1]} of {name}")
    for broker_id, broker in sorted(image.brokers.items()):
        lo, hi = broker.features.get(name, (0, 0))
        if not lo <= level <= hi:
            return _invalid(f"Broker {broker_id} only supports versions {lo}-{hi} of feature {name}")
    if level < current and update.upgrade_type is UpgradeType.UPGRADE:
        return _invalid("Can't downgrade the version of this feature without setting the upgrade type to "
                        "either safe or unsafe downgrade.")
    if level > current and update.upgrade_type is not UpgradeType.UPGRADE:
        return _invalid("Can't downgrade to a newer version.")
    return NO_ERROR


def update_features(image: MetadataImage, updates: Sequence[FeatureUpdate], *, validate_only: bool = False,
                    controller_features: Mapping[str, tuple[int, int]] = SUPPORTED_FEATURES
                    ) -> ControllerResult[dict[str, ApiError]]:
    """The error of each update (by feature) and a FeatureLevelRecord for each accepted
    change (none when ``validate_only``)."""
    results: dict[str, ApiError] = {}
    records = []
    for update in updates:
        error = results[update.feature] = _check(image, update, controller_features)
        if error.code == ErrorCode.NONE and image.features.get(update.feature, 0) != update.level:
            records.append(FeatureLevelRecord(name=update.feature, feature_level=update.level))
    return ControllerResult([] if validate_only else records, results)
