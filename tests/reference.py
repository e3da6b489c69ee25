"""The reference Apache Kafka that compat_tests/install.sh fetches, for tests that compare with it.

Tests that need it are marked ``needs_reference``: without the jars or a ``java`` they
skip, saying what is missing (CI installs both before the suite runs).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from compat_tests.brokers import DEPS, KAFKA_VERSION, java, start_reference, tool_command

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


def needs_kafka(version: str) -> pytest.MarkDecorator:
    """Skip unless compat_tests/install.sh installed Apache Kafka ``version``."""
    jar = DEPS / f"kafka-{version}" / "libs" / f"kafka_2.13-{version}.jar"
    return pytest.mark.skipif(not jar.exists(), reason=f"Apache Kafka {version} jars not installed "
                                                       "(compat_tests/install.sh)")


def kafkapy_and_kafka(version: str, config: Mapping[str, str],
                      kafka_only: Mapping[str, str] | None = None) -> Any:
    """A module fixture: an in-process kafkapy broker and a reference Kafka ``version``
    with the same ``config`` (and ``kafka_only`` settings kafkapy does not take), as
    their bootstrap addresses under "kafkapy" and "kafka"."""

    @pytest.fixture(scope="module")
    def brokers() -> Iterator[dict[str, str]]:
        from kafkapy.testing import Broker

        reference = start_reference(version=version, overrides={**config, **(kafka_only or {})})
        try:
            with Broker(dict(config)) as ours:
                yield {"kafkapy": ours.bootstrap_servers, "kafka": reference.bootstrap}
        finally:
            reference.stop()

    return brokers
