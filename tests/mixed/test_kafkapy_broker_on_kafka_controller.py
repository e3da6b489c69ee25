"""A kafkapy broker-only node on an Apache Kafka 4.4.0 or 4.1.2 controller (issue 17, second combination).

The Kafka JVM (``process.roles=controller``) is the one voter; ``kafkapy serve`` with
``process.roles=broker`` follows its ``__cluster_metadata`` log as an observer (the
records of Kafka's controller, its bootstrap metadata transaction and its
RegisterControllerRecord included), registers and heartbeats until unfenced, and
serves clients: a topic created through it (CreateTopics forwarded to the Kafka
controller) is produced to and consumed through a group, ``__consumer_offsets``
created the same way. Kafka's own ``kafka-metadata-quorum`` lists the kafkapy broker
as an observer caught up with the leader. The Kafka nodes are formatted with
``eligible.leader.replicas.version=0`` (kafkapy has no ELR: see
``compat_tests.mixed_cluster.KAFKA_FORMAT_FEATURES``). A transaction commits through the
kafkapy broker with producer ids from the Kafka controller.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from compat_tests.mixed_cluster import MixedCluster, describe_logs
from tests.mixed.conftest import KAFKA_VERSIONS
from tests.mixed.helpers import consume, create_topic, metadata, produce, until
from tests.reference import kafka_tool, needs_reference

pytestmark = needs_reference


@pytest.mark.parametrize("kafka_version", KAFKA_VERSIONS)
def test_kafkapy_broker_follows_a_kafka_controller_and_serves_clients(mixed: MixedCluster):
    controller = mixed.add("kafka", 1, "controller")
    ours = mixed.add("kafkapy", 2, "broker")
    mixed.start()
    answer = metadata(ours.bootstrap_servers)
    assert answer.cluster_id == mixed.cluster_id
    assert [(b.node_id, b.port) for b in answer.brokers] == [(2, ours.client_port)]
    create_topic(ours.bootstrap_servers, "on-kafkapy", partitions=3, replication_factor=1)
    leaders = until("the topic in the kafkapy broker's image", lambda: (
        {p.leader_id for t in metadata(ours.bootstrap_servers, "on-kafkapy").topics for p in t.partitions}
        or None))
    assert leaders == {2}, describe_logs(mixed)
    values = [f"record-{i}".encode() for i in range(50)]
    produce(ours.bootstrap_servers, "on-kafkapy", values, acks="all")
    got = consume(ours.bootstrap_servers, "on-kafkapy", "group-on-kafka-controller", len(values))
    assert sorted(got) == sorted(values), describe_logs(mixed)
    # A transaction: producer ids from the Kafka controller (AllocateProducerIds), and
    # __transaction_state created through it.
    producer = Producer({"bootstrap.servers": ours.bootstrap_servers, "transactional.id": "txn-on-kafka-controller"})
    producer.init_transactions(30)
    producer.begin_transaction()
    committed = [f"txn-{i}".encode() for i in range(10)]
    for value in committed:
        producer.produce("on-kafkapy", value, partition=0)
    producer.commit_transaction(30)
    read = consume(ours.bootstrap_servers, "on-kafkapy", "txn-reader", len(values) + len(committed))
    assert sorted(read) == sorted(values + committed), describe_logs(mixed)

    def observer_caught_up():
        rows = kafka_tool("MetadataQuorumCommand", "--bootstrap-controller", controller.controller_address,
                          "describe", "--replication").splitlines()[1:]
        table = {int(r.split()[0]): (int(r.split()[2]), r.split()[-1]) for r in rows if r.strip()}
        leader_end = table.get(1, (-1, ""))[0]
        return table if table.get(2) == (leader_end, "Observer") else None

    table = until("the kafkapy broker an observer at the leader's log end", observer_caught_up)
    assert table[1][1] == "Leader"
