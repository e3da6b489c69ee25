"""Kafka Streams 4.4 with the streams rebalance protocol (KIP-1071) against kafkapy.

``java/StreamsGroupWordCount.java`` is compat_tests' exactly-once word count with
``group.protocol=streams``: the broker's sticky assignor hands out its tasks, the
coordinator creates its repartition and changelog topics, offsets go in transactions
checked against the member epoch. Two instances share the six tasks; one is stopped
(it leaves the group) and the other takes its tasks over; the stopped one is started
again and they share the tasks again; then it is killed (no leave) and the other takes
its tasks once the broker's session timeout removes it. After each step the output
topic, read committed, holds the exact counts. ``kafka-streams-groups`` (Kafka 4.4's
StreamsGroupCommand) lists and describes the group, and finds no topology description
stored.

Needs the Kafka 4.4 jars (compat_tests/install.sh) and kafka-streams 4.4.0 with its
RocksDB in the local Maven repository
(``mvn dependency:get -Dartifact=org.apache.kafka:kafka-streams:4.4.0``).
"""

from __future__ import annotations

import collections
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from compat_tests.brokers import DEPS, java
from kafkapy.testing import Broker

LIBS = DEPS / "kafka-4.4.0" / "libs"
M2 = Path.home() / ".m2" / "repository"
STREAMS_JAR = M2 / "org/apache/kafka/kafka-streams/4.4.0/kafka-streams-4.4.0.jar"
ROCKSDB_JAR = M2 / "org/rocksdb/rocksdbjni/10.1.3/rocksdbjni-10.1.3.jar"
DRIVER = Path(__file__).parent / "java" / "StreamsGroupWordCount.java"
CLASSPATH = f"{LIBS}/*:{STREAMS_JAR}:{ROCKSDB_JAR}"

pytestmark = pytest.mark.skipif(
    not (LIBS / "kafka-clients-4.4.0.jar").exists() or not STREAMS_JAR.exists() or not ROCKSDB_JAR.exists(),
    reason="Kafka 4.4 jars or kafka-streams 4.4.0 not installed")

LINES = ["the quick brown fox", "jumps over the lazy dog", "the dog barks at the fox"]
ALL_TASKS = {f"{s}_{p}" for s in (0, 1) for p in range(3)}


class Instance:
    """One Kafka Streams instance (a JVM); its output lines are collected as they come."""

    def __init__(self, classes: Path, bootstrap: str, app: str, state_dir: Path, topics: tuple[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{classes}:{CLASSPATH}", "StreamsGroupWordCount",
             bootstrap, topics[0], topics[1], app, str(state_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def tasks(self) -> set[str]:
        last = [line for line in self.lines if line.startswith("TASKS ")]
        return set(filter(None, last[-1][6:].split(","))) if last else set()

    def wait_for(self, condition, what: str, timeout_s: float = 120) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            assert not any(line.startswith("FAILED") for line in self.lines), "\n".join(self.lines[-60:])
            time.sleep(0.2)
        pytest.fail(f"{what}; last output:\n" + "\n".join(self.lines[-60:]))

    def kill(self) -> None:
        """SIGKILL: the instance leaves nothing behind but its session."""
        self.proc.kill()
        self.proc.wait(10)
        self._reader.join(10)

    def stop(self) -> None:
        """Close stdin: the instance closes Kafka Streams (leaving the group) and exits."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(10)


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("streams-driver")
    javac = Path(java()).with_name("javac")
    done = subprocess.run([str(javac), "-cp", CLASSPATH, "-d", str(out), str(DRIVER)], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return out


#: A killed instance's member is removed after 6 s instead of 45.
SESSION_TIMEOUT_MS = 6000


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker({"group.streams.session.timeout.ms": str(SESSION_TIMEOUT_MS)}) as b:
        yield b


def _produce(bootstrap: str, topic: str, lines: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, line in enumerate(lines):
        producer.produce(topic, line.encode(), key=str(i).encode())
    assert producer.flush(30) == 0


def _counts(bootstrap: str, topic: str) -> dict[str, int]:
    """The last count of each word in ``topic``, read committed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:6]}",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p, 0) for p in partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
        consumer.assign(tps)
        counts: dict[str, int] = {}
        positions = {p: 0 for p in ends}
        deadline = time.monotonic() + 30
        while any(positions[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is None:
                positions = {tp.partition: max(tp.offset, 0) for tp in consumer.position(tps)}
                continue
            if m.error() is None:
                counts[m.key().decode()] = struct.unpack(">q", m.value())[0]
        return counts
    finally:
        consumer.close()


def _wait_counts(bootstrap: str, topic: str, expected: dict[str, int], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = _counts(bootstrap, topic)
        if counts == expected:
            return
        time.sleep(1)
    assert counts == expected


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{LIBS}/*",
                           "org.apache.kafka.tools.streams.StreamsGroupCommand", *args],
                          capture_output=True, text=True, timeout=120)


def test_word_count_on_the_streams_protocol_survives_instances_leaving_returning_and_dying(
        broker: Broker, classes: Path, tmp_path: Path) -> None:
    bootstrap = broker.bootstrap_servers
    suffix = uuid.uuid4().hex[:6]
    topics, app = (f"wc-in-{suffix}", f"wc-out-{suffix}"), f"wc-app-{suffix}"
    broker.create_topics(*topics, partitions=3)
    first = LINES * 40
    _produce(bootstrap, topics[0], first)
    a = Instance(classes, bootstrap, app, tmp_path / "a", topics)
    b = Instance(classes, bootstrap, app, tmp_path / "b", topics)
    try:
        both = lambda: a.tasks() and b.tasks() and a.tasks() | b.tasks() == ALL_TASKS  # noqa: E731
        a.wait_for(both, "two instances never shared the six tasks")
        assert not a.tasks() & b.tasks()
        _wait_counts(bootstrap, topics[1], dict(collections.Counter(w for line in first for w in line.split())))

        listed = _tool("--bootstrap-server", bootstrap, "--list")
        assert listed.returncode == 0 and app in listed.stdout.split(), listed.stdout + listed.stderr
        described = _tool("--bootstrap-server", bootstrap, "--describe", "--members", "--group", app)
        assert described.returncode == 0, described.stdout + described.stderr
        assert described.stdout.count(app) >= 2, described.stdout  # one line per member
        # Kafka 4.4 without a description plugin (kafkapy runs none) never asks Kafka Streams
        # to push its topology description (KIP-1331), so none is stored.
        topology = _tool("--bootstrap-server", bootstrap, "--describe", "--topology", "--group", app)
        assert "No topology description is stored" in topology.stdout, topology.stdout + topology.stderr

        b.stop()
        assert "CLOSED" in b.lines, "\n".join(b.lines[-40:])
        a.wait_for(lambda: a.tasks() == ALL_TASKS, "the remaining instance never took every task")
        lines = first + LINES * 25
        _produce(bootstrap, topics[0], LINES * 25)
        _wait_counts(bootstrap, topics[1], dict(collections.Counter(w for line in lines for w in line.split())))
        state = _tool("--bootstrap-server", bootstrap, "--describe", "--state", "--group", app)
        assert state.returncode == 0 and "Stable" in state.stdout, state.stdout + state.stderr

        # The stopped instance comes back (its state directory kept): the tasks are shared again.
        b = Instance(classes, bootstrap, app, tmp_path / "b", topics)
        a.wait_for(both, "the restarted instance never got tasks back")
        lines += LINES * 10
        _produce(bootstrap, topics[0], LINES * 10)
        _wait_counts(bootstrap, topics[1], dict(collections.Counter(w for line in lines for w in line.split())))

        # Killed, it never leaves: the session timeout removes it and the other takes over.
        b.kill()
        a.wait_for(lambda: a.tasks() == ALL_TASKS, "the killed instance's tasks never moved",
                   timeout_s=SESSION_TIMEOUT_MS / 1000 + 60)
        lines += LINES * 10
        _produce(bootstrap, topics[0], LINES * 10)
        _wait_counts(bootstrap, topics[1], dict(collections.Counter(w for line in lines for w in line.split())))
        internal = {t for t in broker.topics() if t.startswith(app)}
        assert internal == {f"{app}-counts-changelog", f"{app}-counts-repartition"}
    finally:
        a.stop()
        b.stop()
