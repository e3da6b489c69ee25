"""Apache Kafka brokers (4.4.0 and 4.1.2) on a kafkapy controller quorum (issue 17, first combination).

A ``kafkapy serve`` with ``process.roles=controller`` is the one voter of a static quorum;
a Kafka JVM with ``process.roles=broker`` follows its ``__cluster_metadata`` log (Raft
Fetch v17 as an observer), negotiates ``metadata.version`` from the controller's
ApiVersions (4.1-IV1, level 27: the highest Kafka 4.1.2 supports), registers
(BrokerRegistration v4) and heartbeats until unfenced. Clients then create a topic,
produce and consume through a group on the Kafka broker: the controller placed the
partition, wrote the TopicRecord and PartitionRecord the JVM applies, and the JVM's
group coordinator created ``__consumer_offsets`` through the kafkapy controller too
(CreateTopics in an Envelope), as its transaction coordinator creates
``__transaction_state`` and takes producer ids from it (AllocateProducerIds).
With a kafkapy broker next to the Kafka broker, a topic replicated on both survives
the death of either, and a Kafka leader takes the kafkapy broker back into its ISRs
(AlterPartition v3 to the kafkapy controller). The same on a Kafka controller: the
kafkapy broker's AlterPartition and registration go to the JVM. A Kafka broker that
starts after the kafkapy controller deleted its log up to a snapshot fetches that
snapshot (FetchSnapshot) and loads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.mixed_cluster import Kind, MixedCluster, MixedNode, describe_logs
from tests.mixed.conftest import KAFKA_VERSIONS
from tests.mixed.helpers import consume, create_topic, metadata, produce, until
from tests.reference import needs_reference

pytestmark = needs_reference


@pytest.mark.parametrize("kafka_version", KAFKA_VERSIONS)
def test_kafka_broker_registers_and_serves_clients(mixed: MixedCluster):
    mixed.add("kafkapy", 1, "controller")
    kafka = mixed.add("kafka", 2, "broker")
    mixed.start()
    answer = metadata(kafka.bootstrap_servers)
    assert answer.cluster_id == mixed.cluster_id  # the JVM took the kafkapy quorum's cluster id
    # (its Metadata names a broker as controller: KRaft brokers hide the controllers from clients)
    assert [(b.node_id, b.port) for b in answer.brokers] == [(2, kafka.client_port)]
    create_topic(kafka.bootstrap_servers, "on-kafka", partitions=2, replication_factor=1)
    leaders = until("the topic in the Kafka broker's image", lambda: (
        {p.leader_id for t in metadata(kafka.bootstrap_servers, "on-kafka").topics for p in t.partitions}
        or None))
    assert leaders == {2}, describe_logs(mixed)
    values = [f"record-{i}".encode() for i in range(50)]
    produce(kafka.bootstrap_servers, "on-kafka", values, acks="all")
    got = consume(kafka.bootstrap_servers, "on-kafka", "mixed-group", len(values))
    assert sorted(got) == sorted(values), describe_logs(mixed)
    # A transaction: the Kafka broker's producer ids come from the kafkapy controller
    # (AllocateProducerIds), __transaction_state is created through it (Envelope).
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "transactional.id": "mixed-txn"})
    producer.init_transactions(30)
    producer.begin_transaction()
    committed = [f"txn-{i}".encode() for i in range(10)]
    for value in committed:
        producer.produce("on-kafka", value, partition=0)
    producer.commit_transaction(30)
    read = consume(kafka.bootstrap_servers, "on-kafka", "mixed-txn-reader", len(values) + len(committed))
    assert sorted(read) == sorted(values + committed), describe_logs(mixed)


def test_kafka_broker_outlives_a_kafkapy_controller_crash(mixed: MixedCluster):
    mixed.add("kafkapy", 1, "controller")
    kafka = mixed.add("kafka", 2, "broker")
    mixed.start()
    create_topic(kafka.bootstrap_servers, "before-crash", partitions=1, replication_factor=1)
    values = [f"before-{i}".encode() for i in range(20)]
    produce(kafka.bootstrap_servers, "before-crash", values, acks="all")
    mixed.kill_node(1)  # SIGKILL: the one voter, so no controller until it is back
    produce(kafka.bootstrap_servers, "before-crash", [b"while-down"], acks="all")  # the data path goes on
    mixed.start_node(1)  # on its metadata log: the Kafka broker's registration and the topic are still there
    create_topic(kafka.bootstrap_servers, "after-crash", partitions=1, replication_factor=1)
    produce(kafka.bootstrap_servers, "after-crash", values, acks="all")
    assert sorted(consume(kafka.bootstrap_servers, "after-crash", "after-crash", len(values))) == sorted(values)
    got = consume(kafka.bootstrap_servers, "before-crash", "before-crash", len(values) + 1)
    assert sorted(got) == sorted([*values, b"while-down"]), describe_logs(mixed)
    assert mixed.brokers_seen(2) == [2]  # not fenced: its heartbeats reached the restarted controller


@pytest.mark.parametrize("controller_kind", ["kafkapy", "kafka"])
def test_a_partition_replicated_on_kafka_and_kafkapy_survives_either_broker(mixed: MixedCluster,
                                                                           controller_kind: Kind):
    mixed.add(controller_kind, 1, "controller")
    ours = mixed.add("kafkapy", 2, "broker")
    theirs = mixed.add("kafka", 3, "broker")
    mixed.start()
    until("both brokers in each broker's Metadata", lambda: mixed.brokers_seen(2) == mixed.brokers_seen(3) == [2, 3]
          or None)
    create_topic(theirs.bootstrap_servers, "both", partitions=2, replication_factor=2)

    def in_sync(topic: str, partitions: int):
        found = [p for t in metadata(ours.bootstrap_servers, topic).topics for p in t.partitions]
        full = len(found) == partitions and all(sorted(p.isr_nodes) == [2, 3] for p in found)
        return found if full else None

    found = until("both partitions with ISR [2, 3]", lambda: in_sync("both", 2))
    assert {p.leader_id for p in found} == {2, 3}, describe_logs(mixed)  # one leader of each kind
    values = [f"replicated-{i}".encode() for i in range(60)]
    produce(mixed.bootstrap_servers, "both", values, acks="all")
    # A first group while both run: __consumer_offsets gets its two replicas, one on each.
    assert sorted(consume(mixed.bootstrap_servers, "both", "both-alive", len(values))) == sorted(values)
    for victim, survivor in ((theirs, ours), (ours, theirs)):
        if victim is ours:  # the Kafka broker back on its data, caught up, before kafkapy's death
            mixed.start_node(theirs.node_id)
            until("the Kafka broker back in every ISR", lambda: in_sync("both", 2) and in_sync("__consumer_offsets", 1),
                  timeout_s=60)
        mixed.kill_node(victim.node_id)
        until(f"node {survivor.node_id} leading both partitions", lambda: (
            {p.leader_id for t in metadata(survivor.bootstrap_servers, "both").topics for p in t.partitions}
            == {survivor.node_id} or None), timeout_s=30)
        got = consume(survivor.bootstrap_servers, "both", f"after-{victim.kind}", len(values))
        assert sorted(got) == sorted(values), describe_logs(mixed)
    # The kafkapy broker back: the Kafka leader adds it to its ISRs (AlterPartition to the
    # kafkapy controller), and it fetches from the Kafka leader.
    mixed.start_node(ours.node_id)
    until("the kafkapy broker back in every ISR", lambda: in_sync("both", 2) and in_sync("__consumer_offsets", 1),
          timeout_s=60)


def snapshots(directory: Path) -> list[str]:
    """The ``__cluster_metadata`` snapshot files (``<offset>-<epoch>.checkpoint``) of a node."""
    return sorted(p.name for p in (directory / "data" / "__cluster_metadata-0").glob("*.checkpoint"))


def log_deleted_before_snapshot(node: MixedNode) -> bool:
    """Whether the kafkapy node deleted metadata log entries up to a snapshot of its own."""
    return "log entries deleted" in (node.directory / "serve.log").read_text(errors="replace")


def test_kafka_broker_loads_a_kafkapy_controller_snapshot(mixed: MixedCluster):
    # Small snapshots: the controller snapshots and deletes the log before its snapshot,
    # so a broker that starts later must FetchSnapshot and load kafkapy's snapshot.
    mixed.add("kafkapy", 1, "controller", {"metadata.log.max.record.bytes.between.snapshots": "2048"})
    ours = mixed.add("kafkapy", 2, "broker")
    theirs = mixed.add("kafka", 3, "broker")
    mixed.start(only=(1, 2))
    names: list[str] = []
    admin = AdminClient({"bootstrap.servers": ours.bootstrap_servers})
    while not log_deleted_before_snapshot(mixed.nodes[1]):
        batch = [f"topic-{len(names) + i:03d}" for i in range(10)]
        for future in admin.create_topics([NewTopic(n, 2, 1, config={"retention.ms": "123456"})
                                           for n in batch]).values():
            future.result(30)
        names += batch
        assert len(names) < 500, "the kafkapy controller deleted no metadata log before a snapshot"
    mixed.start_node(theirs.node_id)
    until("the Kafka broker registered", lambda: mixed.brokers_seen(2) == [2, 3] or None)
    listed = AdminClient({"bootstrap.servers": theirs.bootstrap_servers}).list_topics(timeout=30).topics
    assert set(listed) >= set(names), describe_logs(mixed)
    assert all(len(listed[n].partitions) == 2 for n in names)
    # Its log starts with the snapshot it fetched (FetchSnapshot) from the kafkapy controller.
    fetched = snapshots(theirs.directory)
    assert fetched and set(fetched) <= set(snapshots(mixed.nodes[1].directory)) | set(fetched), fetched
    assert int(fetched[0].split("-")[0]) > 0, fetched
    # A topic configuration from the snapshot, as the Kafka broker describes it.
    described = admin_describe_retention(theirs.bootstrap_servers, names[0])
    assert described == "123456"
    create_topic(theirs.bootstrap_servers, "after-snapshot", partitions=1, replication_factor=2)
    produce(theirs.bootstrap_servers, "after-snapshot", [b"a", b"b"], acks="all")
    assert sorted(consume(theirs.bootstrap_servers, "after-snapshot", "after-snapshot", 2)) == [b"a", b"b"]


def admin_describe_retention(bootstrap: str, topic: str) -> str:
    """``retention.ms`` of ``topic`` as DescribeConfigs answers it at ``bootstrap``."""
    from confluent_kafka.admin import ConfigResource

    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([resource])[resource].result(30)["retention.ms"].value
