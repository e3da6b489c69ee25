"""Partition replication on a 3-node cluster of ``kafkapy serve`` processes, seen by
real clients: acks=all waits for the ISR and every replica holds the same bytes, the
ISR shrinks when a follower stops and grows when it is back, min.insync.replicas
refuses writes it cannot honour, and a leader cut off from the others loses the
writes it alone took once it rejoins as a follower (KIP-101 truncation)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Cluster
from tests.clustering import FAST_FAILOVER, until
from tests.reference import kafka_tool, needs_reference
from tests.testing.clients import consume, produce


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with Cluster(3, FAST_FAILOVER, data_dir=str(tmp_path_factory.mktemp("replication")), timeout_s=60) as c:
        yield c


def _create(cluster: Cluster, name: str, partitions: int = 1, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    admin.create_topics([NewTopic(name, partitions, 3, config=config)])[name].result(30)
    assert until(lambda: all(len(cluster.partition_state(name, p).isr) == 3 for p in range(partitions)))


def _segment_bytes(cluster: Cluster, node_id: int, topic: str, partition: int) -> bytes:
    directory = Path(cluster.nodes[node_id].directory, "data", f"{topic}-{partition}")
    return b"".join(p.read_bytes() for p in sorted(directory.glob("*.log")))


def _replicas_identical(cluster: Cluster, topic: str, partition: int) -> bool:
    copies = {i: _segment_bytes(cluster, i, topic, partition) for i in cluster.nodes}
    return len(set(copies.values())) == 1 and len(copies[1]) > 0


def test_acks_all_is_on_every_replica_byte_for_byte(cluster):
    _create(cluster, "rf3", partitions=3)
    for p in range(3):
        reports = produce(cluster.bootstrap_servers, "rf3", [b"%d-%d" % (p, i) for i in range(200)],
                          partition=p, acks="all", **{"enable.idempotence": True})
        assert [err for err, _ in reports if err is not None] == []
        assert [offset for _, offset in reports] == list(range(200))
    # Followers fetch in incremental fetch sessions (KIP-227), one per leader.
    assert all("fetch session" in node.output(since_start=False) for node in cluster.nodes.values())
    for p in range(3):
        assert until(lambda p=p: _replicas_identical(cluster, "rf3", p)), f"replicas of rf3-{p} differ"
        got = consume(cluster.bootstrap_servers, "rf3", 200, partition=p)
        assert [m.value() for m in got] == [b"%d-%d" % (p, i) for i in range(200)]


def test_isr_shrinks_when_a_follower_stops_and_grows_when_it_returns(cluster):
    """One follower paused (a quorum of three survives one): it leaves the ISR, acks=all
    goes on with two, and a min.insync.replicas of 3 refuses writes until it is back."""
    _create(cluster, "isr", **{"min.insync.replicas": "2"})
    state = cluster.partition_state("isr")
    follower = next(r for r in state.replicas if r != state.leader)
    cluster.pause_node(follower)
    try:
        assert until(lambda: sorted(cluster.partition_state("isr").isr) == sorted(set(state.isr) - {follower}))
        reports = produce(cluster.bootstrap_servers, "isr", [b"two in sync"], acks="all")
        assert reports[0][0] is None
        _set_topic_config(cluster, "isr", "min.insync.replicas", "3")
        errors: list = []
        p = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all", "message.timeout.ms": 3000,
                      "retries": 0})
        p.produce("isr", b"refused", on_delivery=lambda err, msg: errors.append(err))
        p.flush(10)
        assert [e.code() for e in errors] == [KafkaError.NOT_ENOUGH_REPLICAS]
    finally:
        cluster.resume_node(follower)
    assert until(lambda: sorted(cluster.partition_state("isr").isr) == [1, 2, 3], timeout_s=60)
    reports = produce(cluster.bootstrap_servers, "isr", [b"all back"], acks="all")
    assert reports[0][0] is None
    assert until(lambda: _replicas_identical(cluster, "isr", 0))
    got = consume(cluster.bootstrap_servers, "isr", 2)
    assert [m.value() for m in got] == [b"two in sync", b"all back"]


def _set_topic_config(cluster: Cluster, topic: str, name: str, value: str) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic,
                              incremental_configs=[ConfigEntry(name, value,
                                                               incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)


def test_a_cut_off_leader_loses_what_only_it_took(cluster):
    """The old leader takes acks=1 writes while cut off; the others elect a new leader
    and take acks=all writes; once the old leader rejoins, it finds its log diverged
    from the new leader's epoch and truncates its own writes away."""
    _create(cluster, "diverge")
    produce(cluster.bootstrap_servers, "diverge", [b"committed"], acks="all")
    old = cluster.leader_of("diverge")
    cluster.isolate_node(old)
    try:
        lone = Producer({"bootstrap.servers": cluster.nodes[old].bootstrap_servers, "acks": 1,
                         "message.timeout.ms": 5000})
        acked: list = []
        for i in range(5):
            lone.produce("diverge", b"lost-%d" % i, on_delivery=lambda err, msg: acked.append(err))
        lone.flush(10)
        assert acked == [None] * 5, "a cut-off leader still takes acks=1 writes, as Kafka's does"
        others = ",".join(n.bootstrap_servers for i, n in cluster.nodes.items() if i != old)
        # partition_state asks the nodes that are not cut off first.
        new = until(lambda: (leader := cluster.leader_of("diverge")) not in (-1, old) and leader)
        assert new, "the others elected a new leader"
        reports = produce(others, "diverge", [b"after-%d" % i for i in range(3)], acks="all",
                          **{"message.timeout.ms": 20000})
        assert [err for err, _ in reports] == [None] * 3
    finally:
        cluster.rejoin_node(old)
    assert until(lambda: sorted(cluster.partition_state("diverge").isr) == [1, 2, 3], timeout_s=60)
    assert until(lambda: _replicas_identical(cluster, "diverge", 0)), "the old leader did not truncate"
    got = consume(cluster.bootstrap_servers, "diverge", 4)
    assert [m.value() for m in got] == [b"committed", b"after-0", b"after-1", b"after-2"]
    assert b"lost-" not in _segment_bytes(cluster, old, "diverge", 0)


def test_controlled_shutdown_moves_leadership_first(cluster):
    """SIGTERM to a leader: the controller moves its leaderships to an in-sync replica
    before the node stops, so producers go on with nothing lost, and the node rejoins
    the ISR after its restart."""
    _create(cluster, "handover")
    values = [b"v%d" % i for i in range(20)]
    produce(cluster.bootstrap_servers, "handover", values[:10], acks="all")
    leader = cluster.leader_of("handover")
    cluster.stop_node(leader)
    try:
        assert cluster.nodes[leader].proc.returncode == 0, cluster.nodes[leader].output()[-3000:]
        state = cluster.partition_state("handover")
        assert state.leader not in (-1, leader) and leader not in state.isr
        reports = produce(cluster.bootstrap_servers, "handover", values[10:], acks="all")
        assert [err for err, _ in reports] == [None] * 10
    finally:
        cluster.restart_node(leader)
    assert until(lambda: sorted(cluster.partition_state("handover").isr) == [1, 2, 3], timeout_s=60)
    assert until(lambda: _replicas_identical(cluster, "handover", 0))
    assert [m.value() for m in consume(cluster.bootstrap_servers, "handover", 20)] == values


@needs_reference
def test_kafka_topics_describes_replicas_and_under_replicated_partitions(cluster):
    """Kafka's own kafka-topics against the cluster: replicas and ISR per partition, and
    --under-replicated-partitions listing a partition whose follower is stopped."""
    _create(cluster, "described", partitions=2)
    b = ["--bootstrap-server", cluster.bootstrap_servers]
    described = kafka_tool("TopicCommand", *b, "--describe", "--topic", "described")
    rows = [line for line in described.splitlines() if "Partition:" in line]
    assert len(rows) == 2
    for row in rows:
        assert "ReplicationFactor" not in row
        fields = dict(re.findall(r"(\w+): (\S+)", row))
        assert sorted(fields["Replicas"].split(",")) == ["1", "2", "3"]
        assert sorted(fields["Isr"].split(",")) == ["1", "2", "3"]
    assert kafka_tool("TopicCommand", *b, "--describe", "--topic", "described",
                      "--under-replicated-partitions").strip() == ""
    state = cluster.partition_state("described", 0)
    follower = next(r for r in state.replicas if r != state.leader)
    cluster.pause_node(follower)
    try:
        assert until(lambda: len(cluster.partition_state("described", 0).isr) == 2)
        # The paused node would take the tool's requests and never answer: leave it out.
        live = ",".join(n.bootstrap_servers for i, n in cluster.nodes.items() if i != follower)
        under = kafka_tool("TopicCommand", "--bootstrap-server", live, "--describe", "--topic", "described",
                           "--under-replicated-partitions")
        assert "Partition: 0" in under
        fields = dict(re.findall(r"(\w+): (\S+)", next(line for line in under.splitlines() if "Partition: 0" in line)))
        assert str(follower) not in fields["Isr"].split(",")
    finally:
        cluster.resume_node(follower)
    assert until(lambda: all(len(cluster.partition_state("described", p).isr) == 3 for p in range(2)), timeout_s=60)


def test_group_offsets_survive_their_coordinator(cluster):
    """__consumer_offsets is replicated (3 replicas on a cluster, as Kafka's default):
    killing the group's coordinator moves the group to a new leader of its offsets
    partition, which loads the committed offsets."""
    from confluent_kafka import Consumer, TopicPartition

    _create(cluster, "grouped")
    values = [b"g%d" % i for i in range(10)]
    produce(cluster.bootstrap_servers, "grouped", values, acks="all")
    settings = {"bootstrap.servers": cluster.bootstrap_servers, "group.id": "survivors",
                "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    first = Consumer(settings)
    try:
        first.subscribe(["grouped"])
        got = _poll(first, 5)
        first.commit(message=got[-1], asynchronous=False)
    finally:
        first.close()
    assert [m.value() for m in got] == values[:5]
    offsets = cluster.partition_state("__consumer_offsets")
    assert sorted(offsets.replicas) == [1, 2, 3]
    coordinator = offsets.leader
    cluster.kill_node(coordinator)
    try:
        second = Consumer(settings)
        try:
            second.subscribe(["grouped"])
            rest = _poll(second, 5, timeout_s=60)
            committed = second.committed([TopicPartition("grouped", 0)], timeout=10)
        finally:
            second.close()
    finally:
        cluster.restart_node(coordinator)
    assert [m.value() for m in rest] == values[5:]
    assert committed[0].offset == 5


def _poll(consumer, count: int, timeout_s: float = 30) -> list:
    out: list = []
    deadline = time.monotonic() + timeout_s
    while len(out) < count and time.monotonic() < deadline:
        m = consumer.poll(0.2)
        if m is not None and m.error() is None:
            out.append(m)
    return out
