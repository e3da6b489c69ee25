"""A kafkapy controller and Apache Kafka 4.4.0 controllers in one static Raft quorum (issue 17, third combination).

Voters: kafkapy node 1 and Kafka nodes 2 and 3 (``process.roles=controller``, one
``controller.quorum.voters``), with a broker-only node 4 for clients, kafkapy or Kafka
(which then follows the quorum across leaders of both kinds). The
implementations elect each other (Vote), replicate ``__cluster_metadata`` to each other
(Fetch v17, BeginQuorumEpoch, EndQuorumEpoch on a leader's resignation) and replay each
other's records in their controllers. The kafkapy voter's election timeout is the
shorter, so it usually wins the first election; the test kills the leader until
leadership has been held by both implementations (at most three times), and after
every change clients create a topic, produce and consume. The Kafka voters register
with whichever controller leads (ControllerRegistration, KIP-919), and Kafka's
``kafka-metadata-quorum`` describes the mixed quorum through a Kafka controller.
"""

from __future__ import annotations

import re

import pytest

from compat_tests.mixed_cluster import Kind, MixedCluster, describe_logs
from tests.kraft.test_cluster_processes import describe_quorum
from tests.mixed.helpers import consume, create_topic, produce, until
from tests.reference import kafka_tool, needs_reference

pytestmark = needs_reference


def quorum_leader(address: str) -> int | None:
    """The leader DescribeQuorum names through the broker at ``address`` (forwarded to
    the active controller), None while there is none."""
    answer = describe_quorum(address)
    if answer.error_code != 0 or not answer.topics:  # the broker found no controller to forward to
        return None
    partition = answer.topics[0].partitions[0]
    return partition.leader_id if partition.error_code == 0 and partition.leader_id >= 0 else None


def round_trip(bootstrap: str, topic: str) -> None:
    create_topic(bootstrap, topic, partitions=1, replication_factor=1)
    values = [f"{topic}-{i}".encode() for i in range(20)]
    produce(bootstrap, topic, values, acks="all")
    assert sorted(consume(bootstrap, topic, f"group-{topic}", len(values))) == sorted(values)


@pytest.mark.parametrize("broker_kind", ["kafkapy", "kafka"])
def test_leadership_moves_between_kafkapy_and_kafka_voters(mixed: MixedCluster, broker_kind: Kind):
    mixed.add("kafkapy", 1, "controller", {"controller.quorum.election.timeout.ms": "500"})
    for node_id in (2, 3):
        mixed.add("kafka", node_id, "controller", {"controller.quorum.election.timeout.ms": "2000"})
    broker = mixed.add(broker_kind, 4, "broker")
    mixed.start()
    bootstrap = broker.bootstrap_servers
    leaders = [until("a quorum leader", lambda: quorum_leader(bootstrap))]
    round_trip(bootstrap, "under-leader-0")
    # Kill the leader until both implementations have led and a Kafka voter leads now (at
    # most four changes; usually one: kafkapy wins the first election, then only Kafka
    # voters remain). A killed voter comes back before the next kill keeps a majority.
    for change in range(1, 5):
        kinds = {mixed.nodes[i].kind for i in leaders}
        if kinds == {"kafka", "kafkapy"} and mixed.nodes[leaders[-1]].kind == "kafka":
            break
        for down in [i for i in (1, 2, 3) if not mixed.nodes[i].running]:
            mixed.start_node(down)
        old = leaders[-1]
        mixed.kill_node(old)
        new = until("a new leader", lambda: (lambda lead: lead if lead not in (None, old) else None)(
            quorum_leader(bootstrap)), timeout_s=30)
        leaders.append(new)
        round_trip(bootstrap, f"under-leader-{change}")
    assert {mixed.nodes[i].kind for i in leaders} == {"kafka", "kafkapy"}, (leaders, describe_logs(mixed))
    leader = mixed.nodes[leaders[-1]]
    assert leader.kind == "kafka"
    # Kafka's tool through the Kafka leader: DescribeCluster lists the controllers from
    # their RegisterControllerRecords (written while kafkapy or Kafka led), then
    # DescribeQuorum shows the mixed quorum and the kafkapy broker as an observer.
    status = kafka_tool("MetadataQuorumCommand", "--bootstrap-controller", leader.controller_address,
                        "describe", "--status")
    assert re.search(rf"^LeaderId:\s+{leader.node_id}$", status, re.MULTILINE), status
    voters = re.search(r"^CurrentVoters:\s+(.*)$", status, re.MULTILINE)
    assert voters and sorted(int(i) for i in re.findall(r'"id": (\d+)', voters.group(1))) == [1, 2, 3], status
    replication = kafka_tool("MetadataQuorumCommand", "--bootstrap-controller", leader.controller_address,
                             "describe", "--replication")
    roles = {int(row.split()[0]): row.split()[-1] for row in replication.splitlines()[1:] if row.strip()}
    assert roles[leader.node_id] == "Leader" and roles[4] == "Observer", replication
    assert {roles[i] for i in (1, 2, 3) if i != leader.node_id} == {"Follower"}, replication
