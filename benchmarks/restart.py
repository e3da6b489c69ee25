"""How long a node takes to stop and to be ready again, on kafkapy and on Apache Kafka.

Both run as 3-node clusters of combined broker+controller nodes, every node a static
voter, with the same settings (Kafka's defaults: ``broker.session.timeout.ms`` 9000,
``broker.heartbeat.interval.ms`` 2000, ``controller.quorum.election.timeout.ms``
1000): kafkapy as a ``kafkapy.testing.Cluster``, Apache Kafka 4.1 from the
compat_tests reference jars as a ``compat_tests.reference_cluster.ReferenceCluster``.
Figures, measured from outside the processes:

  - stop: SIGTERM to process exit, of a follower and of the active controller (the
    broker's controlled shutdown, then the controller resigns: KIP-595's EndQuorumEpoch);
  - restart after SIGTERM / after SIGKILL: from starting the process again on its data
    to the node being registered and unfenced. Kafka opens its client listener only
    then (``BrokerServer`` waits for the unfence before enabling request processing),
    so for Kafka that is its first Metadata answer listing the node itself; kafkapy
    prints its ready line then. After a SIGKILL the old registration is unfenced with
    a live session, which a new incarnation cannot take over before the session
    expires (DUPLICATE_BROKER_REGISTRATION, on both); the retries are counted;
  - cold start: the whole cluster from fresh processes on formatted directories (what
    the runtimes cost: the JVM, Python's imports);
  - teardown: SIGTERM to every node at once until all exited.

Run: .venv/bin/python benchmarks/restart.py [--runs 2] [--no-reference]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # compat_tests, next to benchmarks/

from kafkapy.testing import Cluster  # noqa: E402
from kafkapy.testing.client import KafkaConnection  # noqa: E402
from kafkapy.wire.messages.describe_quorum import DescribeQuorumRequest  # noqa: E402
from kafkapy.wire.messages.metadata import MetadataRequest  # noqa: E402

METADATA_TOPIC = "__cluster_metadata"
#: What kafkapy logs each time the controller refuses a new incarnation.
KAFKAPY_DUPLICATE = "previous incarnation still registered"
#: What Kafka's BrokerLifecycleManager logs then (at INFO, enabled below).
KAFKA_DUPLICATE = "DUPLICATE_BROKER_REGISTRATION"
#: What ``kafkapy serve`` prints once it is registered and unfenced.
READY_LINE = "kafkapy ready"
#: log4j2 lines that let Kafka's lifecycle manager log its registration attempts.
KAFKA_LIFECYCLE_LOG = "logger.lifecycle.name = kafka.server.BrokerLifecycleManager\nlogger.lifecycle.level = info\n"


def lists_itself(address: str, node_id: int) -> bool:
    """Whether the node at ``address`` answers Metadata listing itself as a broker."""
    try:
        with KafkaConnection(address, timeout_s=2) as conn:
            answer = conn.request(MetadataRequest(topics=[]), 4)
    except (OSError, ConnectionError):
        return False
    return any(b.node_id == node_id for b in answer.brokers)


def quorum_leader(address: str) -> int | None:
    """The quorum leader (active controller) as the node at ``address`` knows it
    (DescribeQuorum, which a broker forwards to the controller)."""
    request = DescribeQuorumRequest(topics=[DescribeQuorumRequest.TopicData(
        topic_name=METADATA_TOPIC, partitions=[DescribeQuorumRequest.PartitionData(partition_index=0)])])
    try:
        with KafkaConnection(address, timeout_s=5) as conn:
            answer = conn.request(request, 1)
    except (OSError, ConnectionError):
        return None
    partition = answer.topics[0].partitions[0]
    return int(partition.leader_id) if answer.error_code == 0 and partition.error_code == 0 else None


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 120.0) -> Any:
    """Poll ``check`` every 20 ms until it returns something true; that value."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(0.02)
    return found


class Node:
    """One node of either cluster: its process, start on its data, readiness, its log."""

    def __init__(self, process: Any, *, ready: Callable[[], bool], log: Callable[[], str], duplicate: str) -> None:
        self.process = process
        self.node_id: int = process.node_id
        self.address: str = process.bootstrap_servers
        self.is_ready = ready
        self.log = log
        self.duplicate = duplicate

    def duplicates(self) -> int:
        return self.log().count(self.duplicate)


def stop_time(node: Node, sig: int) -> float:
    """Seconds from ``sig`` to the process's exit (SIGKILL after 60 s: infinity)."""
    proc = node.process.proc
    start = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return float("inf")
    return time.monotonic() - start


def ready_time(node: Node) -> float:
    """Start the node again and return seconds until it is registered and unfenced."""
    start = time.monotonic()
    node.process.start()
    wait_for(f"node {node.node_id} ready", node.is_ready)
    return time.monotonic() - start


def measure(nodes: dict[int, Node], runs: int) -> dict[str, list[float]]:
    """Stops and restarts of a follower and of the active controller, ``runs`` times."""
    out: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        out.setdefault(key, []).append(value)

    def settle() -> int:
        """Every node ready; returns the quorum leader all running nodes agree on."""
        for n in nodes.values():
            wait_for(f"node {n.node_id} listed", lambda n=n: lists_itself(n.address, n.node_id))
        return int(wait_for("a quorum leader", lambda: quorum_leader(nodes[1].address)))

    for _ in range(runs):
        leader = settle()
        follower = nodes[min(i for i in nodes if i != leader)]
        add("stop, follower (SIGTERM)", stop_time(follower, signal.SIGTERM))
        before = follower.duplicates()
        add("restart after SIGTERM, follower", ready_time(follower))
        add("  refused registrations, follower after SIGTERM", follower.duplicates() - before)
        settle()
        stop_time(follower, signal.SIGKILL)
        before = follower.duplicates()
        add("restart after SIGKILL, follower", ready_time(follower))
        add("  refused registrations, follower after SIGKILL", follower.duplicates() - before)
        leader = settle()
        node = nodes[leader]
        add("stop, active controller (SIGTERM)", stop_time(node, signal.SIGTERM))
        before = node.duplicates()
        add("restart after SIGTERM, former controller", ready_time(node))
        add("  refused registrations, controller after SIGTERM", node.duplicates() - before)
        leader = settle()
        node = nodes[leader]
        stop_time(node, signal.SIGKILL)
        before = node.duplicates()
        add("restart after SIGKILL, active controller", ready_time(node))
        add("  refused registrations, controller after SIGKILL", node.duplicates() - before)
    settle()
    return out


def run_cluster(cluster: Any, nodes: Callable[[Any], dict[int, Node]], runs: int) -> dict[str, list[float]]:
    start = time.monotonic()
    cluster.start()
    figures = {"cold start, whole cluster": [time.monotonic() - start]}
    try:
        figures.update(measure(nodes(cluster), runs))
    finally:
        start = time.monotonic()
        cluster.stop()
        figures["teardown (SIGTERM to every node at once)"] = [time.monotonic() - start]
    return figures


def kafkapy_nodes(cluster: Cluster) -> dict[int, Node]:
    return {i: Node(p, ready=lambda p=p: READY_LINE in p.output(),
                    log=lambda p=p: p.output(since_start=False), duplicate=KAFKAPY_DUPLICATE)
            for i, p in cluster.nodes.items()}


def kafka_nodes(cluster: Any) -> dict[int, Node]:
    def log(p: Any) -> str:
        try:
            return Path(p.directory, "server.log").read_text(errors="replace")
        except OSError:
            return ""

    return {i: Node(p, ready=lambda p=p, i=i: lists_itself(p.bootstrap_servers, i), log=lambda p=p: log(p),
                    duplicate=KAFKA_DUPLICATE)
            for i, p in cluster.nodes.items()}


def reference_cluster() -> Any:
    from compat_tests.reference_cluster import ReferenceCluster

    cluster = ReferenceCluster(3)
    for node in cluster.nodes.values():
        with open(Path(node.directory, "log4j2.properties"), "a") as f:
            f.write(KAFKA_LIFECYCLE_LOG)
    return cluster


def report(title: str, figures: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    for key, values in figures.items():
        if key.startswith("  "):
            print(f"    {key.strip():<56} {' '.join(str(int(v)) for v in values)}")
        else:
            shown = " ".join(f"{v:.2f}" for v in values)
            print(f"  {key:<58} median {statistics.median(values):6.2f} s   ({shown})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--no-reference", action="store_true", help="kafkapy only")
    args = parser.parse_args()
    report("kafkapy, 3 nodes", run_cluster(Cluster(3), kafkapy_nodes, args.runs))
    if not args.no_reference:
        report("Apache Kafka 4.1.2, 3 nodes", run_cluster(reference_cluster(), kafka_nodes, args.runs))


if __name__ == "__main__":
    main()
