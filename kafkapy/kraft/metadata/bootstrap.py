"""The records a new cluster starts from (what ``kafka-storage format`` puts in the
bootstrap snapshot ``00000000000000000000-0000000000.checkpoint``).

A cluster is born with its finalized features: ``metadata.version`` at 4.1-IV1 (27)
and, as ``kafka-storage format`` gives a 4.1 cluster (``Feature.defaultLevel``: the
highest level whose bootstrap metadata version is not above the cluster's),
``transaction.version`` at 2 and ``group.version`` at 1. Kafka 4.1 also finalizes
``eligible.leader.replicas.version``, left unfinalized here because kafkapy does not
implement eligible leader replicas (KIP-966); ``kraft.version`` is a control record of the Raft layer,
not a metadata record. Brokers, the controller included in combined mode, register at
run time, so a one-node combined cluster needs nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping

from kafkapy.kraft.metadata.features import (
    GROUP_VERSION,
    GROUP_VERSION_LATEST,
    METADATA_VERSION,
    METADATA_VERSION_DEFAULT,
    TRANSACTION_VERSION,
    TRANSACTION_VERSION_LATEST,
)
from kafkapy.kraft.metadata.records import FeatureLevelRecord

#: The feature levels of a new cluster besides ``metadata.version``.
DEFAULT_FEATURES = {TRANSACTION_VERSION: TRANSACTION_VERSION_LATEST, GROUP_VERSION: GROUP_VERSION_LATEST}


def bootstrap_records(metadata_version: int = METADATA_VERSION_DEFAULT,
                      features: Mapping[str, int] | None = None) -> list:
    """FeatureLevelRecords for a new cluster: ``metadata.version`` first, then ``features``
    (:data:`DEFAULT_FEATURES` when None)."""
    records = [FeatureLevelRecord(name=METADATA_VERSION, feature_level=metadata_version)]
    for name, level in sorted((DEFAULT_FEATURES if features is None else features).items()):
        if name != METADATA_VERSION and level > 0:
            records.append(FeatureLevelRecord(name=name, feature_level=level))
    return records
