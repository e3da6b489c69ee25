"""Share groups with Apache Kafka 4.4's own programs against a kafkapy broker, over TCP:
the Java KafkaShareConsumer (``tests/share/java/ShareDriver.java``), ``kafka-share-groups``
(ShareGroupCommand) and ``kafka-configs`` on a group, plus share group configs set with
confluent-kafka's admin client.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from confluent_kafka import Producer, ShareConsumer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from compat_tests.brokers import DEPS, java, start_reference
from kafkapy.testing import Broker

LIBS = DEPS / "kafka-4.4.0" / "libs"
DRIVER = Path(__file__).parent / "java" / "ShareDriver.java"

pytestmark = pytest.mark.skipif(not (LIBS / "kafka-clients-4.4.0.jar").exists(),
                                reason="Kafka 4.4 jars not installed (compat_tests/install.sh)")


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker() as b:
        yield b


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _tool(main_class: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{LIBS}/*", main_class, *args],
                          capture_output=True, text=True, timeout=120)


def _earliest(broker: Broker, group: str) -> None:
    """share.auto.offset.reset=earliest on the group, through IncrementalAlterConfigs."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def _produce(broker: Broker, topic: str, values: list[bytes], partitions: int = 1) -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i % partitions)
    assert p.flush(15) == 0


def _driver(*args: str) -> list[str]:
    done = subprocess.run([java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{LIBS}/*", str(DRIVER), *args],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "subscribed" and lines[-1] == "done", done.stdout
    return lines[1:-1]


def test_java_share_consumer_reads_every_record_from_the_earliest(broker: Broker) -> None:
    topic, group = _name("q"), _name("jsg")
    broker.create_topics(topic, partitions=1)
    _earliest(broker, group)
    _produce(broker, topic, [f"v{i}".encode() for i in range(20)])
    lines = _driver("consume", broker.bootstrap_servers, group, topic, "20")
    assert [line.split() for line in lines] == [[str(i), "1", f"v{i}"] for i in range(20)]


def test_java_share_consumer_release_redelivers_and_reject_archives(broker: Broker) -> None:
    topic, group = _name("q"), _name("jsg")
    broker.create_topics(topic, partitions=1)
    _earliest(broker, group)
    _produce(broker, topic, [b"a", b"b", b"c"])
    lines = _driver("release-reject", broker.bootstrap_servers, group, topic)
    assert lines == ["0 1 a", "1 1 b", "2 1 c", "0 2 a"]


def test_kafka_share_groups_lists_and_describes_a_share_group(broker: Broker) -> None:
    topic, group = _name("q"), _name("sg")
    broker.create_topics(topic, partitions=2)
    _earliest(broker, group)
    _produce(broker, topic, [b"x"] * 6, partitions=2)
    c = ShareConsumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group})
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 30
    while got < 6 and time.monotonic() < deadline:
        got += len(c.poll(0.5) or [])
    c.poll(0.5)  # the implicit acknowledgement of the last records goes with this fetch
    assert got == 6
    bootstrap = ["--bootstrap-server", broker.bootstrap_servers]
    listed = _tool("org.apache.kafka.tools.consumer.group.ShareGroupCommand", *bootstrap, "--list")
    assert listed.returncode == 0, listed.stderr
    assert group in listed.stdout.split()
    described = _tool("org.apache.kafka.tools.consumer.group.ShareGroupCommand", *bootstrap, "--describe",
                      "--group", group)
    assert described.returncode == 0, described.stderr
    rows = [line.split() for line in described.stdout.splitlines() if line.startswith(group)]
    assert sorted(rows) == [[group, topic, "0", "0", "0"], [group, topic, "1", "0", "0"]]  # as Kafka 4.4
    members = _tool("org.apache.kafka.tools.consumer.group.ShareGroupCommand", *bootstrap, "--describe",
                    "--group", group, "--members")
    assert members.returncode == 0, members.stderr
    member_rows = [line.split() for line in members.stdout.splitlines() if line.startswith(group)]
    assert len(member_rows) == 1 and member_rows[0][-1] == f"{topic}:0,1"
    c.close()
    state = _tool("org.apache.kafka.tools.consumer.group.ShareGroupCommand", *bootstrap, "--describe",
                  "--group", group, "--state")
    assert state.returncode == 0, state.stderr
    assert [line.split()[-2:] for line in state.stdout.splitlines() if line.startswith(group)] == [["Empty", "0"]]


def test_kafka_share_groups_resets_and_deletes_offsets_and_the_group(broker: Broker) -> None:
    topic, group = _name("q"), _name("sg")
    broker.create_topics(topic, partitions=1)
    _earliest(broker, group)
    _produce(broker, topic, [b"v"] * 5)

    def consume_all() -> int:
        c = ShareConsumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": group})
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < 5 and time.monotonic() < deadline:
            got += len(c.poll(0.5) or [])
        c.close()  # acknowledges the last records and leaves: the group is empty
        return got

    assert consume_all() == 5
    command = ["org.apache.kafka.tools.consumer.group.ShareGroupCommand", "--bootstrap-server",
               broker.bootstrap_servers]
    reset = _tool(*command, "--reset-offsets", "--to-earliest", "--group", group, "--topic", topic, "--execute")
    assert reset.returncode == 0, reset.stderr
    assert [line.split()[1:] for line in reset.stdout.splitlines() if line.startswith(group)] == [[topic, "0", "0"]]
    assert consume_all() == 5, "every record again after the reset to the earliest offset"
    deleted = _tool(*command, "--delete-offsets", "--group", group, "--topic", topic)
    assert deleted.returncode == 0 and "Successful" in deleted.stdout, deleted.stdout + deleted.stderr
    described = _tool(*command, "--describe", "--group", group)
    assert "has no offset information" in described.stdout
    gone = _tool(*command, "--delete", "--group", group)
    assert gone.returncode == 0 and "successful" in gone.stdout, gone.stdout + gone.stderr
    assert group not in _tool(*command, "--list").stdout.split()


@contextlib.contextmanager
def _kafka_44() -> Iterator[SimpleNamespace]:
    reference = start_reference(version="4.4.0")
    try:
        yield SimpleNamespace(bootstrap_servers=reference.bootstrap)
    finally:
        reference.stop()


@pytest.mark.parametrize("on", ["kafkapy", "kafka"])
def test_java_record_limit_acquire_mode_hands_out_max_poll_records(broker: Broker, on: str) -> None:
    """KIP-1206 ``share.acquire.mode=record_limit``: ShareFetch v2 ShareAcquireMode 1 with
    MaxRecords 3 acquires three records of a ten-record batch, not the batch; the rest
    stay available to the next member (batch-optimized would hand the first member all
    ten). Same on Apache Kafka 4.4."""
    with contextlib.nullcontext(broker) if on == "kafkapy" else _kafka_44() as b:
        topic, group = _name("q"), _name("jrl")
        admin = AdminClient({"bootstrap.servers": b.bootstrap_servers})
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=60)
        _earliest(b, group)
        _produce(b, topic, [b"v%d" % i for i in range(10)])
        lines = _driver("record-limit", b.bootstrap_servers, group, topic, "3")
    assert lines == ["a 0 1 v0", "a 1 1 v1", "a 2 1 v2", "b 3 1 v3", "b 4 1 v4", "b 5 1 v5"]


def test_java_share_consumer_renews_its_lock_and_keeps_the_record() -> None:
    """KIP-1222: RENEW keeps a record acquired past its lock duration; a second member
    polling meanwhile never gets it."""
    config = {"group.share.record.lock.duration.ms": "2000", "group.share.min.record.lock.duration.ms": "1000"}
    with Broker(config) as short_locks:
        topic, group = _name("q"), _name("jsg")
        short_locks.create_topics(topic, partitions=1)
        _earliest(short_locks, group)
        _produce(short_locks, topic, [b"held"])
        driver = subprocess.Popen([java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{LIBS}/*", str(DRIVER),
                                   "renew", short_locks.bootstrap_servers, group, topic, "6000"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert driver.stdout is not None
        try:
            assert driver.stdout.readline().strip() == "subscribed"
            assert driver.stdout.readline().strip() == "0 1 held"
            # The Java member holds the record now; another member polls for longer
            # than three lock durations while it renews.
            c = ShareConsumer({"bootstrap.servers": short_locks.bootstrap_servers, "group.id": group,
                               "share.acknowledgement.mode": "explicit"})
            c.subscribe([topic])
            other_got = []
            deadline = time.monotonic() + 7
            while time.monotonic() < deadline:
                for m in c.poll(0.3) or []:
                    other_got.append(m.value())
                    c.acknowledge(m)
            c.close()
            out, err = driver.communicate(timeout=120)
        finally:
            if driver.poll() is None:
                driver.kill()
        assert driver.returncode == 0, err[-3000:]
        assert out.split() == ["done"]
        assert other_got == [], "the renewed record stayed with its holder"
