"""A 3-node kafkapy cluster with the StandardAuthorizer, configured as Kafka's
documentation configures a plaintext inter-broker listener: ``super.users=User:ANONYMOUS``.

kafkapy's own inter-node connections (Raft, the controller channel, replica fetchers,
transaction markers) run on PLAINTEXT listeners as ``User:ANONYMOUS`` and are
authorized as Kafka authorizes them (CLUSTER CLUSTER_ACTION and friends), so without
that super user, or ACLs granting them, a Kafka cluster with an authorizer cannot
form either. With it: the quorum forms, followers replicate (a 3-replica topic keeps 3
in sync and serves acks=all), and ACLs created through any node (forwarded to the
active controller) are seen by every node's DescribeAcls.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from kafkapy.testing.client import KafkaConnection
from kafkapy.testing.cluster import Cluster
from kafkapy.wire.messages.create_acls import CreateAclsRequest
from kafkapy.wire.messages.describe_acls import DescribeAclsRequest

AUTHORIZER = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
              "super.users": "User:ANONYMOUS"}


def _acl_count(address: str) -> int:
    with KafkaConnection(address) as conn:
        answer = conn.request(DescribeAclsRequest(
            resource_type_filter=1, resource_name_filter=None, pattern_type_filter=1, principal_filter=None,
            host_filter=None, operation=1, permission_type=1), 3)
    assert answer.error_code == 0
    return sum(len(r.acls) for r in answer.resources)


def test_cluster_with_authorizer_replicates_and_shares_acls(tmp_path) -> None:
    with Cluster(3, AUTHORIZER, data_dir=str(tmp_path)) as cluster:
        topic = f"authz-{uuid.uuid4().hex[:6]}"
        cluster.create_topics(topic, replication_factor=3)
        producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all"})
        for i in range(5):
            producer.produce(topic, f"v{i}".encode())
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 30
        while sorted(cluster.partition_state(topic).isr) != [1, 2, 3] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(cluster.partition_state(topic).isr) == [1, 2, 3]
        consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": topic,
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        values = []
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                values.append(msg.value())
            if len(values) == 5:
                break
        consumer.close()
        assert values == [f"v{i}".encode() for i in range(5)]

        # one ACL through each node: at least two of them forward to the active controller
        for node_id, node in cluster.nodes.items():
            with KafkaConnection(node.bootstrap_servers) as conn:
                answer = conn.request(CreateAclsRequest(creations=[CreateAclsRequest.AclCreation(
                    resource_type=2, resource_name=f"from-node-{node_id}", resource_pattern_type=3,
                    principal="User:alice", host="*", operation=3, permission_type=3)]), 3)
            assert [(r.error_code, r.error_message) for r in answer.results] == [(0, "")]
        for node in cluster.nodes.values():
            deadline = time.monotonic() + 30
            while _acl_count(node.bootstrap_servers) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _acl_count(node.bootstrap_servers) == 3


def test_cluster_without_a_super_user_for_its_listeners_does_not_form(tmp_path) -> None:
    """As in Kafka: the nodes' PLAINTEXT requests to each other (``User:ANONYMOUS``) are
    refused CLUSTER_AUTHORIZATION_FAILED (Vote first), so no quorum forms and nothing serves."""
    refused = {**AUTHORIZER, "super.users": "User:admin"}
    cluster = Cluster(3, refused, data_dir=str(tmp_path), timeout_s=15)
    with pytest.raises(RuntimeError, match="not ready in time") as failure:
        cluster.start()
    assert "no leader elected" in str(failure.value)  # Vote is refused: the quorum cannot form
