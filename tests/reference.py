"""The reference Apache Kafka that compat_tests/install.sh fetches, for tests that compare with it.

Tests that need it are marked ``needs_reference``: without the jars or a ``java`` they
skip, saying what is missing (CI installs both before the suite runs).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from compat_tests.brokers import DEPS, KAFKA_VERSION, java, tool_command

KAFKA_LIBS: Path = DEPS / f"kafka-{KAFKA_VERSION}" / "libs"

needs_reference = pytest.mark.skipif(
    not (KAFKA_LIBS / f"kafka_2.13-{KAFKA_VERSION}.jar").exists() or shutil.which(java()) is None,
    reason="the reference Apache Kafka (compat_tests/install.sh) or java is missing")


def kafka_tool(main_class: str, *args: str, stdin: str | None = None, timeout_s: float = 120) -> str:
    """Run one of Kafka's command-line tools (``compat_tests.brokers.tool_command``); its
    standard output. A non-zero exit fails the test with the tool's output."""
    done = subprocess.run(tool_command(main_class, *args), input=stdin, capture_output=True, text=True,
                          timeout=timeout_s)
    assert done.returncode == 0, f"{main_class} {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout
