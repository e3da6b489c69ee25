"""The 3-node clusters the matrix can run on, and the fault the failover scenario asks for.

On a cluster every topic the scenarios create has replication factor 3 (the drivers'
``--replication-factor``; auto-created ones get ``default.replication.factor``), the
internal topics too, with ``min.insync.replicas=2`` (Kafka's production advice for RF 3).
Both clusters, kafkapy's :class:`kafkapy.testing.Cluster` and Apache Kafka's
:class:`compat_tests.reference_cluster.ReferenceCluster`, run with the same settings
(:data:`CLUSTER_SETTINGS`).

:class:`Failover` answers a driver's fault request (``compat_tests/driver.py``): it
SIGKILLs the leader of the named partition, waits for another node to lead it, lets the
stream go on a moment under the new leader, restarts the killed node and waits until
every partition of the cluster has its whole replica set in the ISR again. Faults are
made one at a time, and the matrix runs the failover scenario one client family after
another, after the other scenarios: with a node down a topic of replication factor 3
cannot be created (INVALID_REPLICATION_FACTOR, as Kafka answers with fewer unfenced
brokers), so no other scenario may run meanwhile.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from compat_tests.jepsen import _until
from compat_tests.scenarios import SHARE_BROKER_CONFIG
from kafkapy.config import BrokerConfig, log_config_name

#: Settings of every node of a matrix cluster, kafkapy's and Kafka's. The session and
#: ISR timeouts are shorter than Kafka's defaults (9 s, 30 s) so that a failover takes
#: seconds, as the Jepsen-style checker runs them (compat_tests/jepsen.py).
CLUSTER_SETTINGS: Mapping[str, str] = {
    BrokerConfig.field_name("default_replication_factor"): "3",
    log_config_name("min_insync_replicas"): "2",
    BrokerConfig.field_name("offsets_topic_replication_factor"): "3",
    BrokerConfig.field_name("transaction_state_log_replication_factor"): "3",
    BrokerConfig.field_name("transaction_state_log_min_isr"): "2",
    # The scenarios create their multi-partition topics explicitly; kcat's auto-created
    # ones have one partition.
    BrokerConfig.field_name("num_partitions"): "1",
    BrokerConfig.field_name("group_initial_rebalance_delay_ms"): "0",
    BrokerConfig.field_name("broker_session_timeout_ms"): "3000",
    BrokerConfig.field_name("broker_heartbeat_interval_ms"): "300",
    BrokerConfig.field_name("replica_lag_time_max_ms"): "5000",
    # The share_lock_expiry scenario's 2 s group lock (compat_tests/scenarios.py).
    **SHARE_BROKER_CONFIG,
}
#: The replication factor the drivers give the topics they create on a cluster.
CLUSTER_REPLICATION_FACTOR = 3

#: How long the stream runs on the new leader before the killed node comes back.
LOAD_AFTER_FAILOVER_S = 1.5
#: Bounds on each wait of a fault.
FAILOVER_TIMEOUT_S = 30.0
HEAL_TIMEOUT_S = 60.0
#: How long the rest of the cluster may take to heal (every partition's ISR whole again).
CLUSTER_HEAL_TIMEOUT_S = 30.0


@contextlib.contextmanager
def start_cluster(kind: str, nodes: int = 3) -> Iterator[Any]:
    """Start a ``kind`` ("kafkapy" or "reference") cluster of ``nodes`` nodes with
    :data:`CLUSTER_SETTINGS`; yields it (``bootstrap_servers``, ``kill_node`` ...)."""
    if kind == "kafkapy":
        from kafkapy.testing.cluster import Cluster

        cluster: Any = Cluster(nodes, config=CLUSTER_SETTINGS)
    else:
        from compat_tests.reference_cluster import ReferenceCluster

        # The quick JIT tier: a correctness run, where start-up time matters more.
        cluster = ReferenceCluster(nodes, config=CLUSTER_SETTINGS, full_jit=False)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()




def under_replicated(cluster: Any) -> list[str]:
    """Partitions of every topic (internal ones too) without a leader or whose ISR lacks
    a replica, as a running node's Metadata reports them.

    Raises:
        ConnectionError: no node answered.
    """
    from kafkapy.testing.client import KafkaConnection
    from kafkapy.wire.messages.metadata import MetadataRequest

    problems: list[str] = []
    for node in cluster.nodes.values():
        if not node.running or getattr(node, "paused", False):
            continue
        try:
            with KafkaConnection(node.bootstrap_servers, timeout_s=5) as conn:
                answer = conn.request(MetadataRequest(topics=None, allow_auto_topic_creation=False), 12)
        except OSError as exc:
            problems.append(f"node {node.node_id}: {exc!r}")
            continue
        return [f"{t.name}-{p.partition_index} (leader {p.leader_id}, isr {list(p.isr_nodes)})"
                for t in answer.topics for p in t.partitions
                if p.leader_id < 0 or sorted(p.isr_nodes) != sorted(p.replica_nodes)]
    raise ConnectionError("no node answered Metadata: " + "; ".join(problems))


class Failover:
    """The harness's side of the failover scenario, for one cluster: called with a
    driver's fault request, returns the answer the driver reads (see module docstring).

    Args:
        cluster: a started kafkapy ``Cluster`` or ``ReferenceCluster``.
        log: where to tell what happened, one line per fault.
    """

    def __init__(self, cluster: Any, log: Callable[[str], None] = lambda line: None) -> None:
        self.cluster = cluster
        self.log = log
        self._lock = threading.Lock()

    def __call__(self, request: Mapping[str, Any]) -> dict[str, str]:
        topic, partition = request.get("topic"), int(request.get("partition", 0))
        if request.get("await") != "fault" or not isinstance(topic, str):
            return {"fault": "none", "reason": f"unknown request {dict(request)}"}
        with self._lock:
            try:
                detail = self._kill_leader(topic, partition)
            except Exception as exc:  # noqa: BLE001 - the driver reports it; the run goes on
                detail = f"the harness failed: {type(exc).__name__}: {exc}"
                self.log(f"# failover of {topic}-{partition}: {detail}")
                return {"fault": "done", "detail": detail}
        self.log(f"# failover of {topic}-{partition}: {detail}")
        return {"fault": "done", "detail": detail}

    def _kill_leader(self, topic: str, partition: int) -> str:
        cluster = self.cluster
        _until(lambda: cluster.leader_of(topic, partition) >= 0, FAILOVER_TIMEOUT_S)
        before = cluster.partition_state(topic, partition)
        leader = before.leader
        if leader < 0:
            return f"no leader of {topic}-{partition} to kill after {FAILOVER_TIMEOUT_S:.0f} s"
        started = time.monotonic()
        cluster.kill_node(leader)
        moved = _until(lambda: cluster.leader_of(topic, partition) not in (leader, -1), FAILOVER_TIMEOUT_S)
        took = time.monotonic() - started
        after = cluster.partition_state(topic, partition)
        time.sleep(LOAD_AFTER_FAILOVER_S)
        cluster.restart_node(leader)
        restarted = time.monotonic() - started
        rejoined = _until(lambda: leader in cluster.partition_state(topic, partition).isr, HEAL_TIMEOUT_S, 0.2)
        back = time.monotonic() - started
        whole = _until(lambda: not under_replicated(cluster), CLUSTER_HEAL_TIMEOUT_S, 0.2)
        parts = [f"killed leader {leader} (epoch {before.leader_epoch}, isr {before.isr})",
                 f"node {after.leader} led (epoch {after.leader_epoch}) after {took:.1f} s" if moved
                 else f"no other leader after {FAILOVER_TIMEOUT_S:.0f} s",
                 f"restarted at {restarted:.1f} s",
                 f"back in the isr at {back:.1f} s" if rejoined
                 else f"not back in the isr after {HEAL_TIMEOUT_S:.0f} s"]
        if not whole:
            parts.append("under-replicated partitions left: " + ", ".join(under_replicated(cluster)[:5]))
        return "; ".join(parts)
