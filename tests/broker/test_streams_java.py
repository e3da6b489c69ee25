"""Kafka Streams (4.4) against kafkapy: an exactly-once word count that stops and resumes.

``kafkapy.compat.StreamsWordCount`` (``compat_tests/java``) counts words through a
repartition topic into a store backed by a changelog topic, with
``processing.guarantee=exactly_once_v2``: transactions that carry the input offsets
(TxnOffsetCommit with group metadata), internal topics created with their configs,
records purged from the repartition topic with DeleteRecords, a classic group with
Streams' own assignor. It runs twice: the second instance of the application has
no local state, so it restores the counts from the changelog and resumes at the
committed offsets. The output topic, read committed, must hold the exact counts.
"""

from __future__ import annotations

import collections
import shutil
import struct
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from kafkapy.testing import Broker

JAVA = Path(__file__).resolve().parents[2] / "compat_tests" / "java"
JAR = JAVA / "target" / "compat-java.jar"
CLASSPATH = f"{JAR}:{JAVA / 'target' / 'lib'}/*"

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None or not JAR.exists()
    or "kafkapy/compat/StreamsWordCount.class" not in zipfile.ZipFile(JAR).namelist(),
    reason="the Java driver with StreamsWordCount is not built (bash compat_tests/install.sh)")

LINES = ["the quick brown fox", "jumps over the lazy dog", "the dog barks at the fox"]


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker({"group.initial.rebalance.delay.ms": "0"}) as b:
        yield b


def run_word_count(bootstrap: str, state_dir: Path, words: int) -> list[str]:
    done = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-cp", CLASSPATH, "kafkapy.compat.StreamsWordCount",
                           bootstrap, "wc-input", "wc-output", "wc-app", "exactly_once_v2", str(state_dir),
                           str(words)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    return done.stdout.splitlines()


def produce_lines(bootstrap: str, lines: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, line in enumerate(lines):
        producer.produce("wc-input", line.encode(), key=str(i).encode())
    assert producer.flush(30) == 0


def final_counts(bootstrap: str) -> dict[str, int]:
    """The last count of each word in the output topic, read committed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "wc-reader", "isolation.level": "read_committed",
                         "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics("wc-output", timeout=10).topics["wc-output"].partitions
        tps = [TopicPartition("wc-output", p, 0) for p in partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
        consumer.assign(tps)
        counts: dict[str, int] = {}
        positions = {p: 0 for p in ends}
        while any(positions[p] < ends[p] for p in ends):
            m = consumer.poll(1.0)
            if m is None:
                positions = {tp.partition: tp.offset for tp in consumer.position(tps)}
                continue
            if m.error() is None:
                counts[m.key().decode()] = struct.unpack(">q", m.value())[0]
        return counts
    finally:
        consumer.close()


def test_exactly_once_word_count_stops_and_resumes(broker: Broker, tmp_path: Path) -> None:
    bootstrap = broker.bootstrap_servers
    broker.create_topics("wc-input", partitions=3)
    broker.create_topics("wc-output", partitions=3)
    first = LINES * 40
    produce_lines(bootstrap, first)
    words = sum(len(line.split()) for line in first)
    assert f"COUNTED {words}" in run_word_count(bootstrap, tmp_path / "state-1", words)

    second = LINES * 25
    produce_lines(bootstrap, second)
    total = words + sum(len(line.split()) for line in second)
    # A new instance with no local state: counts come back from the changelog.
    assert f"COUNTED {total}" in run_word_count(bootstrap, tmp_path / "state-2", total)

    expected = collections.Counter(word for line in first + second for word in line.split())
    assert final_counts(bootstrap) == dict(expected)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    internal = {t for t in admin.list_topics(timeout=10).topics if t.startswith("wc-app-")}
    assert internal == {"wc-app-counts-changelog", "wc-app-counts-repartition"}
    configs = {r.name: {k: v.value for k, v in f.result(10).items()} for r, f in admin.describe_configs(
        [ConfigResource("topic", t) for t in sorted(internal)]).items()}
    assert configs["wc-app-counts-changelog"]["cleanup.policy"] == "compact"
    assert configs["wc-app-counts-repartition"]["cleanup.policy"] == "delete"
