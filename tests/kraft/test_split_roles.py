"""A dedicated controller and two broker-only nodes (``process.roles`` split, KIP-500).

Node 1 runs ``process.roles=controller``: the one-voter quorum and the controller APIs
on its controller listener, nothing else. Nodes 2 and 3 run ``process.roles=broker``:
they follow ``__cluster_metadata`` as observers, register with the controller and serve
clients. Each is its own ``kafkapy serve`` process. Checked from outside: the
controller listener advertises no data-path API and describes the controllers (KIP-919), DescribeQuorum lists the brokers as
observers that catch up, a topic spread over both brokers takes records from
confluent-kafka and gives them back through a consumer group, and a broker that shuts
down leaves the brokers clients see. Apache Kafka's own command-line tools
(``kafka-metadata-quorum``, ``kafka-features``, ``kafka-cluster``, ``kafka-topics``)
describe the cluster through the controller and the brokers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.brokers import free_port
from kafkapy.storage.checkpoint import new_directory_id
from kafkapy.testing.cluster import NodeProcess
from kafkapy.testing.container import format_storage
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.describe_cluster import DescribeClusterRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from tests.kraft.test_cluster_processes import QUORUM_CONFIG, describe_quorum, request, until
from tests.reference import kafka_tool, needs_reference


class SplitCluster:
    """One controller-only node and broker-only nodes, as processes."""

    def __init__(self, root: Path, brokers: int) -> None:
        self.cluster_id = cluster_id = new_directory_id()
        self.controller_port = free_port()
        self.controller_address = f"127.0.0.1:{self.controller_port}"
        common = {**QUORUM_CONFIG, "controller.listener.names": "CONTROLLER",
                  "controller.quorum.voters": f"1@{self.controller_address}",
                  "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                  "offsets.topic.num.partitions": "1", "offsets.topic.replication.factor": "1",
                  "group.initial.rebalance.delay.ms": "0"}
        self.nodes: dict[int, NodeProcess] = {}
        roles = {1: "controller", **{i: "broker" for i in range(2, brokers + 2)}}
        for node_id, role in roles.items():
            directory = root / f"node-{node_id}"
            port = self.controller_port if role == "controller" else free_port()
            listener = f"CONTROLLER://{self.controller_address}" if role == "controller" \
                else f"PLAINTEXT://127.0.0.1:{port}"
            props = {**common, "process.roles": role, "node.id": str(node_id), "listeners": listener,
                     "log.dirs": str(directory / "data")}
            directory.mkdir(parents=True)
            (directory / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
            format_storage(props["log.dirs"], cluster_id, node_id)
            self.nodes[node_id] = NodeProcess(node_id, str(directory), port)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.bootstrap_servers for i, n in self.nodes.items() if i != 1)

    def start(self) -> None:
        deadline = time.monotonic() + 30
        for node in self.nodes.values():
            node.start()
            node.wait_ready(deadline)  # the controller first: brokers register with it

    def stop(self) -> None:
        for node_id in sorted(self.nodes, reverse=True):  # brokers first, as Kafka's docs advise
            self.nodes[node_id].stop()


@pytest.fixture
def split(tmp_path: Path) -> Iterator[SplitCluster]:
    cluster = SplitCluster(tmp_path, brokers=2)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def brokers_seen(address: str) -> list[int]:
    answer = request(address, MetadataRequest(topics=[], allow_auto_topic_creation=False), 12)
    return sorted(b.node_id for b in answer.brokers)


def test_controller_listener_serves_the_quorum_not_the_data_path(split):
    answer = request(split.controller_address, ApiVersionsRequest(client_software_name="kafkapy-tests",
                                                                   client_software_version="1"), 3)
    versions = {k.api_key for k in answer.api_keys}
    assert {52, 53, 54, 55} <= versions  # Vote, BeginQuorumEpoch, EndQuorumEpoch, DescribeQuorum
    assert {62, 63, 67} <= versions  # BrokerRegistration, BrokerHeartbeat, AllocateProducerIds
    assert not versions & {0, 3, 10, 11}  # Produce, Metadata, FindCoordinator, JoinGroup
    # KIP-919: what --bootstrap-controller tools ask first.
    cluster = request(split.controller_address, DescribeClusterRequest(endpoint_type=2), 1)
    assert (cluster.error_code, cluster.endpoint_type, cluster.controller_id) == (0, 2, 1)
    assert [(b.broker_id, f"{b.host}:{b.port}") for b in cluster.brokers] == [(1, split.controller_address)]


def test_brokers_follow_the_metadata_log_as_observers(split):
    until("both brokers registered", lambda: brokers_seen(split.nodes[2].bootstrap_servers) == [2, 3] or None)

    def caught_up():
        partition = describe_quorum(split.controller_address).topics[0].partitions[0]
        observers = {o.replica_id: o.log_end_offset for o in partition.observers}
        if partition.error_code or set(observers) != {2, 3}:
            return None
        return partition if all(end == partition.high_watermark for end in observers.values()) else None

    partition = until("observers at the high watermark", caught_up)
    assert partition.leader_id == 1
    assert [v.replica_id for v in partition.current_voters] == [1]


def test_clients_use_the_brokers_and_a_stopped_broker_leaves(split):
    bootstrap = split.bootstrap_servers
    until("both brokers registered", lambda: brokers_seen(split.nodes[2].bootstrap_servers) == [2, 3] or None)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("split", num_partitions=4, replication_factor=1)])["split"].result(30)

    def leaders() -> set[int] | None:  # brokers learn of the topic from the log, a moment after the controller
        partitions = admin.list_topics("split", timeout=10).topics["split"].partitions
        return {p.leader for p in partitions.values()} if len(partitions) == 4 else None

    assert until("the topic on the brokers", leaders) == {2, 3}  # the controller placed partitions on both brokers, none on itself
    producer = Producer({"bootstrap.servers": bootstrap})
    values = [f"v{i}".encode() for i in range(40)]
    for i, value in enumerate(values):
        producer.produce("split", value, partition=i % 4)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "split-group",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe(["split"])
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(got) < len(values) and time.monotonic() < deadline:
            m = consumer.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value())
        assert sorted(got) == sorted(values)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    split.nodes[3].stop()  # controlled shutdown: the controller fences it
    until("broker 3 gone from Metadata", lambda: brokers_seen(split.nodes[2].bootstrap_servers) == [2] or None)


@needs_reference
def test_kafka_command_line_tools_describe_the_cluster(split):
    controller, bootstrap = split.controller_address, split.nodes[2].bootstrap_servers
    until("both brokers registered", lambda: brokers_seen(bootstrap) == [2, 3] or None)
    status = kafka_tool("MetadataQuorumCommand", "--bootstrap-controller", controller, "describe", "--status")
    assert re.search(r"^LeaderId:\s+1$", status, re.MULTILINE), status
    assert f'"endpoints": ["CONTROLLER://{controller}"]' in status, status
    assert re.search(r'^CurrentObservers:\s+\[\{"id": [23]\}, \{"id": [23]\}\]$', status, re.MULTILINE), status
    replication = kafka_tool("MetadataQuorumCommand", "--bootstrap-controller", controller,
                             "describe", "--replication")
    roles = {int(row.split()[0]): row.split()[-1] for row in replication.splitlines()[1:] if row.strip()}
    assert roles == {1: "Leader", 2: "Observer", 3: "Observer"}, replication
    through_broker = kafka_tool("MetadataQuorumCommand", "--bootstrap-server", bootstrap, "describe", "--status")
    assert re.search(r"^LeaderId:\s+1$", through_broker, re.MULTILINE), through_broker  # forwarded to the controller
    features = kafka_tool("FeatureCommand", "--bootstrap-controller", controller, "describe")
    assert re.search(r"Feature: metadata.version\s.*FinalizedVersionLevel: 4\.1-IV1", features), features
    cluster_id = kafka_tool("ClusterTool", "cluster-id", "--bootstrap-controller", controller).strip()
    assert cluster_id == "Cluster ID: " + split.cluster_id
    kafka_tool("TopicCommand", "--bootstrap-server", bootstrap, "--create", "--topic", "by-kafka-tools",
               "--partitions", "2")
    described = kafka_tool("TopicCommand", "--bootstrap-server", bootstrap, "--describe", "--topic", "by-kafka-tools")
    assert re.search(r"Topic: by-kafka-tools\s+TopicId: \S+\s+PartitionCount: 2", described), described
