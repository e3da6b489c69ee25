"""kafka_cluster / Cluster: ``kafkapy serve`` processes in one KRaft quorum, with node
faults (kill, restart, isolate, pause) seen by a real client, the REPLICATION listener
behind the cluster's forwarders, and the leader the cluster reports."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Cluster
from kafkapy.testing.client import KafkaConnection
from kafkapy.testing.probe import probe
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
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
            # Followers fetch on REPLICATION, bound on the node's own port and advertised
            # at its forwarder, as the controller listener is.
            replication = cluster.nodes[i].replication_address
            assert props["inter.broker.listener.name"] == "REPLICATION"
            assert "REPLICATION:PLAINTEXT" in props["listener.security.protocol.map"].split(",")
            assert f"REPLICATION://{replication}" in props["advertised.listeners"]
            assert f"REPLICATION://{replication}" not in props["listeners"]
            assert "REPLICATION://127.0.0.1:" in props["listeners"]
            assert cluster.nodes[i].controller_address == voters[str(i)]
        assert len({configs[i]["controller.quorum.voters"] for i in configs}) == 1
    finally:
        cluster.stop()


def _api_versions(conn: KafkaConnection) -> None:
    answer = conn.request(ApiVersionsRequest(client_software_name="kafkapy-tests", client_software_version="1"), 3)
    assert answer.error_code == 0


def _peer(address: str, node_id: int) -> KafkaConnection:
    """A connection as node ``node_id``'s replica fetcher opens it (Kafka's client id)."""
    return KafkaConnection(address, timeout_s=5, client_id=f"broker-{node_id}-fetcher-0")


def _refused(address: str, client_id: str) -> bool:
    """Whether the forwarder at ``address`` closes a connection of ``client_id``."""
    try:
        with KafkaConnection(address, timeout_s=5, client_id=client_id) as conn:
            _api_versions(conn)
    except ConnectionError:
        return True
    return False


def test_replication_listener_and_network_partition(kafka_cluster):
    """Metadata asked on a node's REPLICATION listener (through its forwarder) lists
    every broker's REPLICATION forwarder, on PLAINTEXT the client addresses; an
    isolated node is cut from the others on REPLICATION and the controller listeners,
    both ways and on open connections too, while its clients still reach it."""
    nodes = kafka_cluster.nodes
    assert _brokers_seen_by(nodes[1], [1, 2, 3]) == [1, 2, 3]
    with KafkaConnection(nodes[1].replication_address, timeout_s=5) as conn:
        answer = conn.request(MetadataRequest(topics=[], allow_auto_topic_creation=False), 12)
    assert {b.node_id: f"{b.host}:{b.port}" for b in answer.brokers} == {
        i: n.replication_address for i, n in nodes.items()}
    with KafkaConnection(nodes[1].bootstrap_servers, timeout_s=5) as conn:
        answer = conn.request(MetadataRequest(topics=[], allow_auto_topic_creation=False), 12)
    assert {b.node_id: f"{b.host}:{b.port}" for b in answer.brokers} == {
        i: n.bootstrap_servers for i, n in nodes.items()}

    fetcher_3_to_1 = _peer(nodes[1].replication_address, 3)
    fetcher_2_to_1 = _peer(nodes[1].replication_address, 2)
    try:
        _api_versions(fetcher_3_to_1)
        _api_versions(fetcher_2_to_1)
        kafka_cluster.isolate_node(3)
        with pytest.raises(ConnectionError):  # the open connection is closed
            _api_versions(fetcher_3_to_1)
        _api_versions(fetcher_2_to_1)  # nodes 1 and 2 still reach each other
    finally:
        fetcher_3_to_1.close()
        fetcher_2_to_1.close()
    assert _refused(nodes[1].replication_address, "broker-3-fetcher-0")
    assert _refused(nodes[3].replication_address, "broker-1-fetcher-0")
    assert _refused(nodes[2].controller_address, "raft-client-3")
    assert not _refused(nodes[2].replication_address, "broker-1-fetcher-0")
    assert probe(nodes[3].bootstrap_servers) is None  # its clients still reach it
    kafka_cluster.rejoin_node(3)
    assert not _refused(nodes[1].replication_address, "broker-3-fetcher-0")
    assert not _refused(nodes[3].controller_address, "raft-client-2")

    # A partial cut: 3 from 1 only.
    kafka_cluster.isolate_node(3, from_nodes=[1])
    assert _refused(nodes[1].replication_address, "broker-3-fetcher-0")
    assert _refused(nodes[3].controller_address, "raft-client-1")
    assert not _refused(nodes[2].replication_address, "broker-3-fetcher-0")
    assert not _refused(nodes[3].replication_address, "broker-2-fetcher-0")
    kafka_cluster.rejoin_node(3)
    assert not _refused(nodes[1].replication_address, "broker-3-fetcher-0")


def test_paused_node_answers_nothing_until_resumed(tmp_path):
    """SIGSTOP: connections are accepted, no request answered; SIGCONT: it answers
    again. A cluster stopped with a node paused stops it cleanly."""
    cluster = Cluster(1, data_dir=str(tmp_path), timeout_s=30).start()
    node = cluster.nodes[1]
    try:
        assert probe(node.bootstrap_servers, timeout_s=5) is None
        cluster.pause_node(1)
        assert node.running and node.paused
        problem = probe(node.bootstrap_servers, timeout_s=0.5)
        assert problem is not None and "timed out" in problem
        cluster.resume_node(1)
        assert probe(node.bootstrap_servers, timeout_s=5) is None
        cluster.pause_node(1)
    finally:
        cluster.stop()
    assert not node.paused
    assert node.proc.returncode == 0  # resumed, then SIGTERM: a controlled shutdown


def _until(condition, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.mark.kafkapy(config={"broker.session.timeout.ms": "2000", "broker.heartbeat.interval.ms": "200",
                             "replica.lag.time.max.ms": "600000"})
def test_leader_of_follows_a_killed_leader(kafka_cluster):
    """leader_of names the leader a client's Metadata reports; when that node is killed
    and fenced, a replication factor 1 partition is left leaderless (-1) and a
    replication factor 3 one moves to another member of its ISR."""
    kafka_cluster.create_topics("solo")
    leader = _until(lambda: max(kafka_cluster.leader_of("solo"), 0))  # 0 (falsy) while -1
    assert leader in kafka_cluster.nodes
    admin = AdminClient({"bootstrap.servers": kafka_cluster.bootstrap_servers})
    assert admin.list_topics("solo", timeout=10).topics["solo"].partitions[0].leader == leader

    others = [i for i in kafka_cluster.nodes if i != leader]
    admin.create_topics([NewTopic("trio", 1, replica_assignment=[[leader, *others]])])["trio"].result(30)
    assert _until(lambda: kafka_cluster.leader_of("trio") == leader)
    state = kafka_cluster.partition_state("trio")
    assert (state.leader, state.replicas, sorted(state.isr)) == (leader, [leader, *others], [1, 2, 3])
    assert kafka_cluster.leader_of("no-such-topic") == -1

    kafka_cluster.kill_node(leader)
    assert _until(lambda: kafka_cluster.leader_of("solo") == -1)
    moved = _until(lambda: (s := kafka_cluster.partition_state("trio")).leader in others and s)
    assert moved.leader in others and moved.leader_epoch > state.leader_epoch
    assert leader not in moved.isr
