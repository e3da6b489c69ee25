"""Fixtures of the mixed-cluster tests: a :class:`MixedCluster` under the test's directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compat_tests.mixed_cluster import MixedCluster


@pytest.fixture
def mixed(tmp_path: Path) -> Iterator[MixedCluster]:
    """An empty mixed cluster; the test declares the nodes and starts it. Stopped after."""
    cluster = MixedCluster(tmp_path, timeout_s=60)
    try:
        yield cluster
    finally:
        cluster.stop()
