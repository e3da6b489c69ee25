"""The reference Apache Kafka that compat_tests/install.sh fetches, for tests that compare with it.

Tests that need it are marked ``needs_reference``: without the jars or a ``java`` they
skip, saying what is missing (CI installs both before the suite runs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
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


def kafka_tool(main_class: str, *args: str, stdin: str | None = None, timeout_s: float = 120) -> str:
    """Run one of Kafka's command-line tools from the reference jars; its standard output.

    ``main_class`` is relative to ``org.apache.kafka.tools`` (where Kafka 4 keeps most of
    them) unless it starts with ``kafka.`` or ``org.``. A non-zero exit fails the test
    with the tool's output.
    """
    if not main_class.startswith(("kafka.", "org.")):
        main_class = "org.apache.kafka.tools." + main_class
    done = subprocess.run([java() or "java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{KAFKA_LIBS}/*",
                           main_class, *args], input=stdin, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, f"{main_class} {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout
