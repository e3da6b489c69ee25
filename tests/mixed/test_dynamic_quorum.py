"""Apache Kafka nodes on a kafkapy dynamic controller quorum (KIP-853; issue 17).

kafkapy controller 1 is formatted ``kafkapy storage format --standalone``: the one voter
of a dynamic quorum, its voters in the bootstrap checkpoint. Kafka nodes have no
``controller.quorum.voters``, only ``controller.quorum.bootstrap.servers``: broker 2 and
controller 3 (formatted ``--no-initial-controllers``, so an observer at first) learn the
leader from a Fetch to the bootstrap server, and its endpoint from the VotersRecord the
kafkapy leader writes at its epoch start. Kafka's ``kafka-metadata-quorum
add-controller`` then makes controller 3 a voter (AddRaftVoter to the kafkapy leader,
which checks the new voter's ApiVersions and appends a VotersRecord), and
``remove-controller`` takes it out again. Then Kafka controllers 3 and 4 join the kafkapy
voter, the kafkapy leader is killed, a Kafka voter leads, and the kafkapy voter comes
back from its own log as a follower. The same the other way round: kafkapy nodes on a
Kafka ``--standalone`` quorum. One cluster per Kafka release serves each half's tests,
in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from compat_tests.brokers import KAFKA_VERSION
from compat_tests.mixed_cluster import MixedCluster, MixedNode, describe_logs
from tests.mixed.conftest import KAFKA_VERSIONS
from tests.mixed.helpers import consume, create_topic, produce, until
from tests.reference import kafka_tool, needs_reference

pytestmark = needs_reference


@pytest.fixture(scope="module", params=KAFKA_VERSIONS)
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixedCluster]:
    mixed = MixedCluster(tmp_path_factory.mktemp("dynamic"), kafka_version=request.param, dynamic=True)
    try:
        mixed.add("kafkapy", 1, "controller")
        mixed.add("kafka", 2, "broker")
        mixed.add("kafka", 3, "controller", initial="none")
        mixed.add("kafka", 4, "controller", initial="none")
        mixed.start()
        yield mixed
    finally:
        mixed.stop()


def quorum_tool(node: MixedNode, *args: str) -> str:
    """``kafka-metadata-quorum --bootstrap-controller`` at ``node``'s controller listener."""
    return kafka_tool("MetadataQuorumCommand", "--bootstrap-controller", node.controller_address, *args)


def replication_roles(node: MixedNode) -> dict[int, str]:
    """``describe --replication``: node id -> Leader, Follower or Observer."""
    rows = quorum_tool(node, "describe", "--replication").splitlines()[1:]
    return {int(row.split()[0]): row.split()[-1] for row in rows if row.strip()}


def roles_if(node: MixedNode, holds: Callable[[dict[int, str]], bool]) -> dict[int, str] | None:
    """:func:`replication_roles` when ``holds`` them, None otherwise or while the tool
    fails (during an election the controller names no active controller to ask)."""
    try:
        roles = replication_roles(node)
    except AssertionError:
        return None
    return roles if holds(roles) else None


def current_voters(node: MixedNode) -> list[int]:
    """The voter ids ``describe --status`` lists."""
    status = quorum_tool(node, "describe", "--status")
    voters = re.search(r"^CurrentVoters:\s+(.*)$", status, re.MULTILINE)
    assert voters, status
    return sorted(int(i) for i in re.findall(r'"id": (\d+)', voters.group(1)))


def add_and_remove_controller(leader: MixedNode, joining: MixedNode, observer: MixedNode, broker: MixedNode) -> None:
    """``add-controller`` makes ``joining`` a voter of ``leader``'s one-voter quorum (both
    sides' DescribeQuorum then list the two voters, and the quorum of two takes a topic),
    and ``remove-controller`` makes it an observer again; ``observer`` stays one."""
    # The tool reads node.id, the controller listener and the metadata directory's
    # directory.id from the joining controller's own properties (KIP-853).
    out = quorum_tool(leader, "--command-config", str(joining.directory / "server.properties"), "add-controller")
    assert f"Added controller {joining.node_id}" in out, out
    roles = until(f"controller {joining.node_id} a follower of leader {leader.node_id}",
                  lambda: (lambda r: r if r.get(joining.node_id) == "Follower" else None)(replication_roles(leader)))
    assert roles[leader.node_id] == "Leader" and roles[observer.node_id] == "Observer", roles
    two_voters = sorted([leader.node_id, joining.node_id])
    assert current_voters(leader) == current_voters(joining) == two_voters
    create_topic(broker.bootstrap_servers, "two-voters", partitions=1, replication_factor=1)
    directory_id = re.search(r"^directory\.id=(\S+)$", (joining.directory / "data" / "meta.properties").read_text(),
                             re.MULTILINE)
    assert directory_id
    out = quorum_tool(leader, "remove-controller", "--controller-id", str(joining.node_id),
                      "--controller-directory-id", directory_id.group(1))
    assert re.search(rf"Removed\s+KRaft controller {joining.node_id}", out), out  # (Kafka 4.1 prints two spaces)
    until(f"controller {joining.node_id} an observer again",
          lambda: (lambda r: r if r.get(joining.node_id) == "Observer" else None)(replication_roles(leader)))
    assert current_voters(leader) == [leader.node_id]
    create_topic(broker.bootstrap_servers, "one-voter-again", partitions=1, replication_factor=1)


def test_kafka_broker_finds_the_kafkapy_quorum_by_bootstrap_servers(cluster: MixedCluster):
    kafka = cluster.nodes[2]
    create_topic(kafka.bootstrap_servers, "dynamic", partitions=2, replication_factor=1)
    values = [f"dynamic-{i}".encode() for i in range(30)]
    produce(kafka.bootstrap_servers, "dynamic", values, acks="all")
    got = consume(kafka.bootstrap_servers, "dynamic", "dynamic-group", len(values))
    assert sorted(got) == sorted(values), describe_logs(cluster)


def test_kafka_controller_observes_the_kafkapy_quorum(cluster: MixedCluster):
    ours = cluster.nodes[1]
    roles = until("the Kafka controller and broker as observers",
                  lambda: (lambda r: r if r.get(2) == r.get(3) == "Observer" else None)(replication_roles(ours)))
    assert roles[1] == "Leader", roles
    assert current_voters(ours) == [1]


def test_kafka_controller_added_to_and_removed_from_a_kafkapy_led_quorum(cluster: MixedCluster):
    add_and_remove_controller(cluster.nodes[1], cluster.nodes[3], observer=cluster.nodes[2], broker=cluster.nodes[2])


def test_leadership_moves_in_a_dynamic_mixed_quorum(cluster: MixedCluster):
    if cluster.kafka_version != KAFKA_VERSION:
        # It passes with 4.4.0 too; at 45-70 s a release it is the module's longest test.
        pytest.skip(f"run with the reference Kafka {KAFKA_VERSION} only, to keep tests/mixed short")
    ours, kafka = cluster.nodes[1], cluster.nodes[2]
    for node_id in (3, 4):  # two Kafka controllers join the kafkapy voter: three voters
        out = quorum_tool(ours, "--command-config", str(cluster.nodes[node_id].directory / "server.properties"),
                          "add-controller")
        assert f"Added controller {node_id}" in out, out
        until(f"controller {node_id} a voter", lambda: node_id in current_voters(ours) or None)
    assert current_voters(ours) == [1, 3, 4]
    values = [f"before-{i}".encode() for i in range(10)]
    create_topic(kafka.bootstrap_servers, "three-voters", partitions=1, replication_factor=1)
    produce(kafka.bootstrap_servers, "three-voters", values, acks="all")
    cluster.kill_node(1)  # the kafkapy leader: a Kafka voter takes over
    survivor = cluster.nodes[3]
    until("a Kafka voter leading", lambda: roles_if(survivor, lambda r: "Leader" in (r.get(3), r.get(4))),
          timeout_s=90)
    create_topic(kafka.bootstrap_servers, "under-kafka", partitions=1, replication_factor=1)
    cluster.start_node(1)  # back as a follower of the Kafka leader, from its own log
    roles = until("the kafkapy voter following", lambda: roles_if(survivor, lambda r: r.get(1) == "Follower"),
                  timeout_s=90)
    leader = next(i for i, role in roles.items() if role == "Leader")
    assert cluster.nodes[leader].kind == "kafka" and current_voters(ours) == [1, 3, 4], roles
    more = [f"after-{i}".encode() for i in range(10)]
    produce(kafka.bootstrap_servers, "three-voters", more, acks="all")
    got = consume(kafka.bootstrap_servers, "three-voters", "three-voters", len(values) + len(more))
    assert sorted(got) == sorted(values + more), describe_logs(cluster)


@pytest.fixture(scope="module", params=KAFKA_VERSIONS)
def kafka_led(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixedCluster]:
    """Kafka controller 1 formatted --standalone; kafkapy controller 2 formatted
    --no-initial-controllers and kafkapy broker 3, both with the bootstrap servers only."""
    mixed = MixedCluster(tmp_path_factory.mktemp("kafka-led"), kafka_version=request.param, dynamic=True)
    try:
        mixed.add("kafka", 1, "controller")
        mixed.add("kafkapy", 2, "controller", initial="none")
        mixed.add("kafkapy", 3, "broker")
        mixed.start()
        yield mixed
    finally:
        mixed.stop()


def test_kafkapy_nodes_observe_a_kafka_quorum_by_bootstrap_servers(kafka_led: MixedCluster):
    theirs, broker = kafka_led.nodes[1], kafka_led.nodes[3]
    roles = until("the kafkapy controller and broker as observers",
                  lambda: (lambda r: r if r.get(2) == r.get(3) == "Observer" else None)(replication_roles(theirs)))
    assert roles[1] == "Leader", roles
    create_topic(broker.bootstrap_servers, "on-kafka-quorum", partitions=2, replication_factor=1)
    values = [f"kafka-led-{i}".encode() for i in range(30)]
    produce(broker.bootstrap_servers, "on-kafka-quorum", values, acks="all")
    got = consume(broker.bootstrap_servers, "on-kafka-quorum", "kafka-led-group", len(values))
    assert sorted(got) == sorted(values), describe_logs(kafka_led)


def test_kafkapy_controller_added_to_and_removed_from_a_kafka_led_quorum(kafka_led: MixedCluster):
    add_and_remove_controller(kafka_led.nodes[1], kafka_led.nodes[2], observer=kafka_led.nodes[3],
                              broker=kafka_led.nodes[3])
