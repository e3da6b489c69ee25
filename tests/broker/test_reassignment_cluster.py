"""Partition reassignment and leader elections on a 3-node cluster of ``kafkapy serve``
processes, through stock clients and Kafka's own tools.

* A replication-factor-1 partition moved from one node to another (KIP-455): the new
  replica fetches from the leader, the leader adds it to the ISR with AlterPartition,
  which completes the reassignment at the controller; leadership moves with it, the
  records are on the new node and the old copy is deleted.
* ElectLeaders PREFERRED brings leadership back to the first replica once it has
  rejoined the ISR; with ``auto.leader.rebalance.enable`` the controller does it by
  itself after ``leader.imbalance.check.interval.seconds``.
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import TopicPartition as KpTopicPartition
from kafka.admin import KafkaAdminClient

from compat_tests.brokers import tool_command
from kafkapy.testing import Cluster
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from tests.clustering import FAST_FAILOVER, until
from tests.reference import needs_reference
from tests.testing.clients import consume, produce

#: Reassignments move data between nodes: a longer wait than the clustering default.
_until = functools.partial(until, timeout_s=45, interval_s=0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    config = {**FAST_FAILOVER, "auto.leader.rebalance.enable": "false"}
    with Cluster(3, config, data_dir=str(tmp_path_factory.mktemp("reassignment")), timeout_s=60) as c:
        yield c


def _create(cluster: Cluster, name: str, assignment: dict[int, list[int]]) -> None:
    request = CreateTopicsRequest(timeout_ms=30_000, topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=-1, replication_factor=-1, assignments=[
            CreateTopicsRequest.CreatableReplicaAssignment(partition_index=p, broker_ids=r)
            for p, r in assignment.items()])])
    for node in cluster.nodes.values():  # the next one when a node is not the controller's way
        with KafkaConnection(node.bootstrap_servers, timeout_s=30) as conn:
            [answer] = conn.request(request, 7).topics
        if answer.error_code == 0:
            break
    assert answer.error_code == 0, answer
    assert _until(lambda: all(sorted(cluster.partition_state(name, p).isr) == sorted(r)
                              for p, r in assignment.items()))


def _log_dir(cluster: Cluster, node_id: int, topic: str, partition: int = 0) -> Path:
    return Path(cluster.nodes[node_id].directory, "data", f"{topic}-{partition}")


def _segment_bytes(cluster: Cluster, node_id: int, topic: str, partition: int = 0) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(_log_dir(cluster, node_id, topic, partition).glob("*.log")))


def test_move_a_replication_factor_1_partition(cluster):
    source, target = 1, 2
    _create(cluster, "moved", {0: [source]})
    values = [b"record-%d" % i for i in range(300)]
    reports = produce(cluster.bootstrap_servers, "moved", values, acks="all")
    assert [err for err, _ in reports if err is not None] == []
    before = _segment_bytes(cluster, source, "moved")
    assert before

    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        assert admin.alter_partition_reassignments({KpTopicPartition("moved", 0): [target]}) == {
            KpTopicPartition("moved", 0): None}
        # completes once the new replica caught up and joined the ISR
        assert _until(lambda: admin.list_partition_reassignments() == {}), admin.list_partition_reassignments()
    finally:
        admin.close()
    state = _until(lambda: (s := cluster.partition_state("moved")).replicas == [target] and s.leader == target and s)
    assert state, cluster.partition_state("moved")
    assert state.isr == [target]
    # the data is on the target, byte for byte, and read from it; the source copy is gone
    assert _until(lambda: _segment_bytes(cluster, target, "moved") == before)
    got = consume(cluster.bootstrap_servers, "moved", len(values))
    assert [m.value() for m in got] == values
    assert _until(lambda: not _log_dir(cluster, source, "moved").exists())
    # and it takes writes on its new leader
    reports = produce(cluster.bootstrap_servers, "moved", [b"after"], acks="all")
    assert reports == [(None, len(values))]


def test_preferred_leader_election_after_a_restart(cluster):
    _create(cluster, "preferred", {0: [3, 1, 2]})
    cluster.stop_node(3)  # controlled shutdown: leadership moves to 1
    assert _until(lambda: cluster.leader_of("preferred") in (1, 2))
    cluster.restart_node(3)
    assert _until(lambda: sorted(cluster.partition_state("preferred").isr) == [1, 2, 3])
    assert cluster.leader_of("preferred") != 3  # auto.leader.rebalance.enable=false here
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("preferred", 0)]).result(timeout=30)
    assert list(result.values()) == [None]
    assert _until(lambda: cluster.leader_of("preferred") == 3)
    again = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("preferred", 0)]).result(timeout=30)
    assert [e.name() for e in again.values()] == ["ELECTION_NOT_NEEDED"]


def _reassign_tool(cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(tool_command("reassign.ReassignPartitionsCommand", "--bootstrap-server",
                                       cluster.bootstrap_servers, *args), capture_output=True, text=True, timeout=120)


@needs_reference
def test_kafka_reassign_partitions_moves_a_replica(cluster, tmp_path):
    _create(cluster, "tool", {0: [2]})
    produce(cluster.bootstrap_servers, "tool", [b"x"] * 50, acks="all")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "tool", "partition": 0, "replicas": [3]}]}))

    def reassign(*args: str) -> str:
        done = _reassign_tool(cluster, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "Successfully started partition reassignment for tool-0" in reassign(
        "--execute", "--reassignment-json-file", str(plan))
    assert _until(lambda: "Reassignment of partition tool-0 is completed." in reassign(
        "--verify", "--preserve-throttles", "--reassignment-json-file", str(plan)), timeout_s=60)
    assert cluster.partition_state("tool").replicas == [3]
    assert len(consume(cluster.bootstrap_servers, "tool", 50)) == 50


@needs_reference
def test_kafka_reassign_partitions_verify_clears_throttles(cluster, tmp_path):
    _create(cluster, "throttled", {0: [1]})
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "throttled", "partition": 0, "replicas": [2]}]}))
    assert _reassign_tool(cluster, "--execute", "--reassignment-json-file", str(plan)).returncode == 0
    assert _until(lambda: cluster.partition_state("throttled").replicas == [2])
    done = _reassign_tool(cluster, "--verify", "--reassignment-json-file", str(plan))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Reassignment of partition throttled-0 is completed." in done.stdout


def test_controller_balances_leaders_by_itself(tmp_path):
    config = {**FAST_FAILOVER, "leader.imbalance.check.interval.seconds": "1"}
    with Cluster(3, config, data_dir=str(tmp_path), timeout_s=60) as cluster:
        _create(cluster, "balanced", {0: [2, 3, 1]})
        cluster.stop_node(2)
        assert _until(lambda: cluster.leader_of("balanced") in (1, 3))
        cluster.restart_node(2)
        # back in the ISR, then the controller's balancing run elects it again
        assert _until(lambda: cluster.leader_of("balanced") == 2, timeout_s=60), cluster.partition_state("balanced")
