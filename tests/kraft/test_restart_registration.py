"""A node restarted on its data registers a new incarnation, as Kafka 4.1 lets it.

After a SIGTERM (controlled shutdown: the registration ends fenced) the new process
registers on its first attempt. After a SIGKILL the old registration is unfenced with a
live session: Kafka's controller refuses a new incarnation (DUPLICATE_BROKER_REGISTRATION)
until that session expires, ``broker.session.timeout.ms`` after the last heartbeat,
and Apache Kafka 4.1.2 waits for it too (``benchmarks/restart.py`` measures both);
the registration then replaces the old one and cleans up after it. No timing is
asserted.
"""

from __future__ import annotations

import signal

from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Cluster
from tests.kraft.test_cluster_processes import quorum_leader, until

DUPLICATE_LINE = "previous incarnation still registered"
NEW_INCARNATION = "Registering a new incarnation of broker"


def leaders(cluster: Cluster, topic: str) -> dict[int, int] | None:
    """Partition -> leader of ``topic`` from a running node's Metadata, once all have one."""
    node = next(n for n in cluster.nodes.values() if n.running)
    meta = AdminClient({"bootstrap.servers": node.bootstrap_servers}).list_topics(topic, timeout=10)
    found = {p.id: p.leader for p in meta.topics[topic].partitions.values()}
    return found if found and all(leader >= 0 for leader in found.values()) else None


def test_restart_after_sigterm_registers_at_once(tmp_path):
    with Cluster(3, data_dir=str(tmp_path)) as cluster:
        leader, _ = quorum_leader(cluster)
        victim = next(i for i in cluster.nodes if i != leader)
        node = cluster.nodes[victim]
        assert node.stop(signal.SIGTERM, timeout_s=10) == 0
        cluster.restart_node(victim)
        out = node.output()
        assert DUPLICATE_LINE not in out, out
        assert out.count("Registered broker") == 1, out


def test_restart_after_sigkill_waits_for_the_old_session_then_replaces_it(tmp_path):
    with Cluster(3, data_dir=str(tmp_path)) as cluster:
        cluster.create_topics("restarts", partitions=6, replication_factor=3)
        until("leaders for every partition", lambda: leaders(cluster, "restarts"))
        leader, _ = quorum_leader(cluster)
        victim = next(i for i in cluster.nodes if i != leader)
        node = cluster.nodes[victim]
        cluster.kill_node(victim)
        cluster.restart_node(victim)  # returns once it is registered and unfenced
        out = node.output()
        # refused while the killed process's session lived, then accepted
        assert DUPLICATE_LINE in out, out
        assert out.count("Registered broker") == 1, out
        controller = cluster.nodes[quorum_leader(cluster)[0]]
        assert f"{NEW_INCARNATION} {victim}." in controller.output(since_start=False)
        # the cluster serves every partition again, the restarted broker among the leaders' choices
        until("leaders for every partition", lambda: leaders(cluster, "restarts"))
