"""Release versions and the feature levels ``kafka-storage format`` gives a new cluster.

``--release-version`` names a ``MetadataVersion`` (``3.9-IV0``, or ``3.9`` for the
release's last IV); its feature level is ``metadata.version``, and each other feature
starts at the highest level whose bootstrap metadata version is not above it
(``Features.defaultValue``). The table is Kafka 4.4's (``kafka-storage
version-mapping -r X`` prints the same), up to Kafka 4.4's latest production level,
4.4-IV2 (``4.4``).
"""

from __future__ import annotations

from kafkapy.kraft.metadata.features import (
    GROUP_VERSION,
    KRAFT_VERSION,
    METADATA_VERSION,
    METADATA_VERSION_LATEST,
    SHARE_VERSION,
    STREAMS_VERSION,
    TRANSACTION_VERSION,
)

#: ``MetadataVersion`` names of the KRaft versions, by feature level (3.3-IV3 onwards).
RELEASE_VERSIONS: dict[str, int] = {
    "3.3-IV3": 7, "3.4-IV0": 8, "3.5-IV0": 9, "3.5-IV1": 10, "3.5-IV2": 11, "3.6-IV0": 12,
    "3.6-IV1": 13, "3.6-IV2": 14, "3.7-IV0": 15, "3.7-IV1": 16, "3.7-IV2": 17, "3.7-IV3": 18,
    "3.7-IV4": 19, "3.8-IV0": 20, "3.9-IV0": 21, "4.0-IV0": 22, "4.0-IV1": 23, "4.0-IV2": 24,
    "4.0-IV3": 25, "4.1-IV0": 26, "4.1-IV1": 27, "4.2-IV0": 28, "4.2-IV1": 29, "4.3-IV0": 30, "4.4-IV0": 31,
    "4.4-IV1": 32, "4.4-IV2": 33,
}
_NAMES = {level: name for name, level in RELEASE_VERSIONS.items()}

#: Features a cluster is formatted with besides metadata.version: name -> [(minimum
#: metadata.version level, feature level)], highest first (Kafka 4.4's ``Feature`` enum,
#: each level's ``bootstrapMetadataVersion``: KRaftVersion, TransactionVersion,
#: GroupVersion, ShareVersion SV_1 at 4.2-IV0 and SV_2 at 4.4-IV0, StreamsVersion SV_1
#: at 4.2-IV1). ``eligible.leader.replicas.version`` (1 from 4.1-IV0) is Kafka's too, but
#: kafkapy does not implement eligible leader replicas (KIP-966), so it stays unfinalized.
FEATURE_DEFAULTS: dict[str, list[tuple[int, int]]] = {
    KRAFT_VERSION: [(21, 1)],
    TRANSACTION_VERSION: [(24, 2)],
    GROUP_VERSION: [(22, 1)],
    SHARE_VERSION: [(31, 2), (28, 1)],
    STREAMS_VERSION: [(29, 1)],
}
#: The highest level of each feature kafkapy supports.
FEATURE_MAX: dict[str, int] = {KRAFT_VERSION: 1, TRANSACTION_VERSION: 2, GROUP_VERSION: 1, SHARE_VERSION: 2,
                           STREAMS_VERSION: 1}


def metadata_version_level(release: str) -> int:
    """The feature level of a release version (``MetadataVersion.fromVersionString``):
    ``4.0-IV1`` exactly, or ``4.0`` for that release's last IV.

    Raises:
        ValueError: not a version kafkapy can bootstrap, with Kafka's message.
    """
    if release in RELEASE_VERSIONS:
        return RELEASE_VERSIONS[release]
    matching = [level for name, level in RELEASE_VERSIONS.items() if name.split("-")[0] == release]
    if matching:
        return max(matching)
    # Kafka 4.4's MetadataVersion.fromVersionString lists the versions it knows.
    supported = ", ".join(name for name, level in RELEASE_VERSIONS.items() if level <= METADATA_VERSION_LATEST)
    raise ValueError(f"Unknown metadata.version '{release}'. Supported metadata.version are: {supported}")


def release_name(level: int) -> str:
    """The ``MetadataVersion`` name of a feature level (``27`` is ``4.1-IV1``)."""
    return _NAMES.get(level, f"level {level}")


def default_level(feature: str, metadata_version: int) -> int:
    """``Features.defaultValue``: the level a feature starts at under ``metadata_version``."""
    for minimum, level in FEATURE_DEFAULTS.get(feature, []):
        if metadata_version >= minimum:
            return level
    return 0


__all__ = [
    "FEATURE_DEFAULTS", "FEATURE_MAX", "METADATA_VERSION",
    "RELEASE_VERSIONS", "default_level", "metadata_version_level", "release_name",
]
