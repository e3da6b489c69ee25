"""Share groups on a three-node cluster of ``kafkapy serve`` processes.

The share-partition leaders, the share-group coordinator and the share coordinators of
``__share_group_state`` are spread over the nodes, so state goes between brokers as
Read/WriteShareGroupState. When a partition leader is killed, the new leader reads the
share-partition's state back: accepted records are not delivered again.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from kafkapy.testing.cluster import Cluster


def _poll(consumers: list[ShareConsumer], want: int, timeout_s: float) -> list[tuple[int, int, bytes]]:
    got: list[tuple[int, int, bytes]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        for c in consumers:
            for m in c.poll(0.3) or []:
                if m.error() is None:
                    got.append((m.partition(), m.offset(), m.value()))
    return got


def test_share_consumers_across_brokers_and_a_leader_failover() -> None:
    topic, group = f"q-{uuid.uuid4().hex[:8]}", f"sg-{uuid.uuid4().hex[:8]}"
    with Cluster(3) as cluster:
        cluster.create_topics(topic, partitions=3, replication_factor=3)
        bootstrap = cluster.bootstrap_servers
        admin = AdminClient({"bootstrap.servers": bootstrap})
        resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
            ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(timeout=30)
        producer = Producer({"bootstrap.servers": bootstrap})
        for i in range(30):
            producer.produce(topic, value=f"a{i}".encode(), partition=i % 3)
        assert producer.flush(30) == 0
        consumers = [ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group}) for _ in range(2)]
        for c in consumers:
            c.subscribe([topic])
        first = _poll(consumers, 30, 60)
        for c in consumers:
            c.poll(0.5)  # carries the implicit acknowledgement of the last records
        assert sorted(first) == sorted((i % 3, i // 3, f"a{i}".encode()) for i in range(30))
        leader = cluster.leader_of(topic, 0)
        cluster.kill_node(leader)
        for i in range(30, 60):
            producer.produce(topic, value=f"a{i}".encode(), partition=i % 3)
        assert producer.flush(60) == 0
        second = _poll(consumers, 30, 90)
        # Every new record once; none of the accepted ones again.
        assert sorted(second) == sorted((i % 3, i // 3, f"a{i}".encode()) for i in range(30, 60))
        for c in consumers:
            c.close()
