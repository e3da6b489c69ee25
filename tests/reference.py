"""The reference Apache Kafka that compat_tests/install.sh fetches, for tests that compare with it.

Tests that need it are marked ``needs_reference``: without the jars or a ``java`` they
skip, saying what is missing (CI installs both before the suite runs).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from compat_tests.brokers import DEPS, KAFKA_VERSION

KAFKA_LIBS: Path = DEPS / f"kafka-{KAFKA_VERSION}" / "libs"


def java() -> str | None:
    """The java launcher: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else shutil.which("java")


needs_reference = pytest.mark.skipif(
    not (KAFKA_LIBS / f"kafka_2.13-{KAFKA_VERSION}.jar").exists() or java() is None,
    reason="the reference Apache Kafka (compat_tests/install.sh) or java is missing")
