"""Fixtures of the mixed-cluster tests: a :class:`MixedCluster` under the test's directory,
with Kafka nodes of the release ``kafka_version`` names (the reference's, 4.4.0, unless a
test parametrizes it over :data:`KAFKA_VERSIONS`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compat_tests.brokers import KAFKA_VERSION
from compat_tests.mixed_cluster import REFERENCE_VERSIONS, MixedCluster, reference_installed

#: Every reference release, for ``@pytest.mark.parametrize("kafka_version", KAFKA_VERSIONS)``;
#: one whose jars compat_tests/install.sh did not fetch is skipped, saying so.
KAFKA_VERSIONS = [pytest.param(v, id=f"kafka-{v}", marks=pytest.mark.skipif(
    not reference_installed(v), reason=f"Apache Kafka {v} is not in compat_tests/.deps (compat_tests/install.sh)"))
    for v in REFERENCE_VERSIONS]


@pytest.fixture
def kafka_version() -> str:
    """The release of the Kafka nodes: the reference one unless parametrized."""
    return KAFKA_VERSION


@pytest.fixture
def mixed(tmp_path: Path, kafka_version: str) -> Iterator[MixedCluster]:
    """An empty mixed cluster; the test declares the nodes and starts it. Stopped after."""
    cluster = MixedCluster(tmp_path, timeout_s=60, kafka_version=kafka_version)
    try:
        yield cluster
    finally:
        cluster.stop()
