"""KIP-848 consumer groups with the Java client (kafka-clients 4.1, ``group.protocol=consumer``).

The group runs in ``compat_tests/java`` (``kafkapy.compat.ConsumerProtocol``): its
members split the topic, read it to the end, commit and leave; a new incarnation of
the group resumes at the committed offsets. The class is compiled with ``javac``
against the driver's libraries when the built jar does not hold it yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkapy.testing import Broker
from tests.broker.test_groups import produce_values, unique

JAVA = Path(__file__).resolve().parents[2] / "compat_tests" / "java"
JAR = JAVA / "target" / "compat-java.jar"
LIB = JAVA / "target" / "lib"
SOURCE = JAVA / "src" / "main" / "java" / "kafkapy" / "compat" / "ConsumerProtocol.java"
CLASS = "kafkapy/compat/ConsumerProtocol.class"

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="java not installed"),
    pytest.mark.skipif(not LIB.is_dir(), reason="Java driver not built (bash compat_tests/install.sh)"),
]


@pytest.fixture(scope="module")
def classpath(tmp_path_factory) -> str:
    if JAR.exists() and CLASS in zipfile.ZipFile(JAR).namelist():
        return f"{JAR}{os.pathsep}{LIB}/*"
    if shutil.which("javac") is None:
        pytest.skip("javac not installed and the driver jar predates ConsumerProtocol")
    out = tmp_path_factory.mktemp("java-classes")
    subprocess.run(["javac", "-d", str(out), "-cp", f"{LIB}/*", str(SOURCE)], check=True, timeout=120)
    return f"{out}{os.pathsep}{LIB}/*"


@pytest.fixture(scope="module")
def java_broker() -> Iterator[Broker]:
    with Broker({"group.initial.rebalance.delay.ms": "0", "group.consumer.heartbeat.interval.ms": "200"}) as b:
        yield b


def run_group(classpath: str, bootstrap: str, topic: str, group: str, members: int, records: int) -> list[str]:
    done = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-cp", classpath, "kafkapy.compat.ConsumerProtocol",
                           bootstrap, topic, group, str(members), str(records)],
                          check=False, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "END"
    return lines[:-1]


def test_java_members_split_commit_and_resume(java_broker, classpath):
    bootstrap = java_broker.bootstrap_servers
    topic, group = unique("java-kip848"), unique("g")
    java_broker.create_topics(topic, partitions=6)
    produce_values(bootstrap, topic, [f"a{i}".encode() for i in range(60)], 6)

    lines = run_group(classpath, bootstrap, topic, group, 2, 60)
    owned = [{int(p) for p in line.split(" ", 2)[2].strip("[]").split(", ")} for line in lines
             if line.startswith("MEMBER")]
    assert [len(o) for o in owned] == [3, 3] and owned[0] | owned[1] == set(range(6))  # uniform: three each
    assert lines[-1] == "READ 60"
    assert java_broker.committed_offsets(group) == {(topic, p): 10 for p in range(6)}

    produce_values(bootstrap, topic, [f"b{i}".encode() for i in range(6)], 6)
    lines = run_group(classpath, bootstrap, topic, group, 1, 6)
    assert lines == ["MEMBER 0 [0, 1, 2, 3, 4, 5]", "READ 6"]  # only what came after the commit
    assert java_broker.committed_offsets(group) == {(topic, p): 11 for p in range(6)}
