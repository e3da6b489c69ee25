"""kafka_cluster / Cluster: ``kafkapy serve`` processes in one KRaft quorum, with node
faults (kill, restart, isolate) seen by a real client."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Cluster
from kafkapy.testing.probe import probe
from tests.kraft.test_split_roles import brokers_seen
from tests.testing.clients import consume, produce


@pytest.mark.kafkapy(nodes=1)
def test_cluster_fixture_kill_and_restart(kafka_cluster):
    assert [n.node_id for n in kafka_cluster.nodes.values()] == [1]
    node = kafka_cluster.nodes[1]
    meta = Path(node.directory, "data", "meta.properties").read_text()
    assert f"cluster.id={kafka_cluster.cluster_id}" in meta  # formatted before the start
    produce(kafka_cluster.bootstrap_servers, "kept", [b"before"])
    kafka_cluster.kill_node(1)
    assert not node.running
    assert probe(node.bootstrap_servers, timeout_s=1) is not None
    kafka_cluster.restart_node(1)
    produce(kafka_cluster.bootstrap_servers, "kept", [b"after"])
    assert [m.value() for m in consume(kafka_cluster.bootstrap_servers, "kept", 2)] == [b"before", b"after"]
    kafka_cluster.stop_node(1)
    assert node.proc.returncode == 0  # SIGTERM: a clean, controlled shutdown


def _brokers_seen_by(node, want: list[int], timeout_s: float = 60) -> list[int]:
    """The broker ids node's Metadata lists, once they are ``want`` (or at the deadline).

    Asked of ``node`` itself: a client's ``list_topics`` may ask any broker it knows,
    and a node cut off from the quorum still answers with the brokers it last knew."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = brokers_seen(node.bootstrap_servers)
        if seen == want or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


@pytest.mark.kafkapy(config={"broker.session.timeout.ms": "2000", "broker.heartbeat.interval.ms": "200"})
def test_three_node_quorum_isolate_kill_restart(kafka_cluster):
    """A client of node 1 sees node 3 fenced while it is cut off from the quorum and
    back once it rejoins; the same for node 2 killed and restarted."""
    one = kafka_cluster.nodes[1]
    assert _brokers_seen_by(one, [1, 2, 3]) == [1, 2, 3]
    kafka_cluster.isolate_node(3)
    assert _brokers_seen_by(one, [1, 2]) == [1, 2]
    assert probe(kafka_cluster.nodes[3].bootstrap_servers) is None  # its clients still reach it
    kafka_cluster.rejoin_node(3)
    assert _brokers_seen_by(one, [1, 2, 3]) == [1, 2, 3]
    kafka_cluster.kill_node(2)
    assert _brokers_seen_by(one, [1, 3]) == [1, 3]
    kafka_cluster.restart_node(2)
    assert _brokers_seen_by(one, [1, 2, 3]) == [1, 2, 3]
    kafka_cluster.create_topics("after-faults", partitions=3)
    produce(kafka_cluster.bootstrap_servers, "after-faults", [b"ok"])
    md = AdminClient({"bootstrap.servers": kafka_cluster.bootstrap_servers}).list_topics("after-faults", timeout=10)
    assert len(md.topics["after-faults"].partitions) == 3
    with pytest.raises(ValueError, match="TOPIC_ALREADY_EXISTS"):
        kafka_cluster.create_topics("after-faults")


@pytest.mark.xfail(reason="replication between kafkapy nodes (followers fetching, acks=all with "
                          "replication factor 3) is not finished", strict=False)
def test_replicated_topic_survives_a_killed_leader(tmp_path):
    with Cluster(3, data_dir=str(tmp_path), timeout_s=30) as cluster:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
        admin.create_topics([NewTopic("replicated", 1, 3)])["replicated"].result(30)
        produce(cluster.bootstrap_servers, "replicated", [b"one"], acks="all", **{"message.timeout.ms": 10000})
        leader = admin.list_topics("replicated", timeout=10).topics["replicated"].partitions[0].leader
        cluster.kill_node(leader)
        produce(cluster.bootstrap_servers, "replicated", [b"two"], acks="all")
        cluster.restart_node(leader)
        got = consume(cluster.bootstrap_servers, "replicated", 2)
        assert [m.value() for m in got] == [b"one", b"two"]


def test_cluster_writes_one_config_per_node(tmp_path):
    """The node configurations a 3-node cluster starts from (without starting it)."""
    cluster = Cluster(3, {"num.partitions": "4"}, data_dir=str(tmp_path))
    try:
        from kafkapy.cli import parse_properties

        configs = {i: parse_properties(Path(n.directory, "server.properties").read_text())
                   for i, n in cluster.nodes.items()}
        for i, props in configs.items():
            assert props["node.id"] == str(i)
            assert props["num.partitions"] == "4"
            voters = dict(v.split("@") for v in props["controller.quorum.voters"].split(","))
            assert sorted(voters) == ["1", "2", "3"]
            # Every node reaches a controller through its forwarder, which the node
            # advertises as its controller endpoint.
            assert f"CONTROLLER://{voters[str(i)]}" in props["advertised.listeners"]
            assert f"CONTROLLER://{voters[str(i)]}" not in props["listeners"]
        assert len({configs[i]["controller.quorum.voters"] for i in configs}) == 1
    finally:
        cluster.stop()
