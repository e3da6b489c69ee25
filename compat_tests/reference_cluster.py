"""A 3-node Apache Kafka KRaft cluster from the reference jars (4.4.0), with node faults.

The counterpart of :class:`kafkapy.testing.Cluster` for comparisons (the Jepsen-style
checker, ``compat_tests/jepsen.py``, and ``benchmarks/replication.py``): the same
workload drives either through :class:`FaultCluster`.

Each node is a combined broker+controller JVM (``kafka.Kafka``) with its own data
directory, formatted with ``kafka.tools.StorageTool format`` for one cluster id, every
node a static voter (``controller.quorum.voters``). Three listeners per node: PLAINTEXT
for clients, REPLICATION (``inter.broker.listener.name``: follower fetches, transaction
markers) and CONTROLLER. The nodes reach each other's REPLICATION and CONTROLLER
listeners only through TCP forwarders (``kafkapy.testing.cluster._Forwarders``, the
ones kafkapy's Cluster uses): the voters list and the advertised REPLICATION endpoint
are the forwarders' ports. A forwarder learns which node connects from the client id
of its first request, as Kafka names them (``raft-client-<id>``, ``broker-<id>-fetcher-<n>``,
and a Kafka 4 broker's channel to the controller, the bare node id), so :meth:`ReferenceCluster.isolate_node` cuts a
node off from the others (quorum and replication both) while clients still reach it.

Faults: :meth:`~ReferenceCluster.kill_node` (SIGKILL), :meth:`~ReferenceCluster.restart_node`
(on its data), :meth:`~ReferenceCluster.pause_node` / :meth:`~ReferenceCluster.resume_node`
(SIGSTOP / SIGCONT), :meth:`~ReferenceCluster.isolate_node` / :meth:`~ReferenceCluster.rejoin_node`.

The JVMs run with a 512 MB heap and their full JIT, as ``benchmarks/kafka_perf.py``
runs the reference broker (``full_jit=False`` stops at the quick first tier, which
starts sooner: for correctness runs only).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from compat_tests.brokers import LOG4J2, free_port, java, probe, reference_libs

from kafkapy.storage.checkpoint import new_directory_id
from kafkapy.testing.cluster import (
    CLIENT_LISTENER,
    CONTROLLER_LISTENER,
    REPLICATION_LISTENER,
    PartitionState,
    _Forwarders,
)


class Node(Protocol):
    """What a fault workload reads of one node: kafkapy's ``NodeProcess`` has it."""

    node_id: int
    #: the node's directory; its log dir (``log.dirs``) is ``<directory>/data``
    directory: str
    bootstrap_servers: str

    @property
    def running(self) -> bool: ...


class FaultCluster(Protocol):
    """The interface :class:`kafkapy.testing.Cluster` and :class:`ReferenceCluster`
    share, which the Jepsen-style workload and the replication benchmark drive."""

    nodes: Mapping[int, Node]

    @property
    def bootstrap_servers(self) -> str: ...

    def create_topics(self, *names: str, partitions: int = 1, replication_factor: int = 1,
                      config: Mapping[str, str] | None = None) -> None: ...

    def kill_node(self, node_id: int) -> None: ...

    def restart_node(self, node_id: int) -> None: ...

    def pause_node(self, node_id: int) -> None: ...

    def resume_node(self, node_id: int) -> None: ...

    def isolate_node(self, node_id: int, *, from_nodes: Collection[int] | None = None) -> None: ...

    def rejoin_node(self, node_id: int, *, from_nodes: Collection[int] | None = None) -> None: ...

    def partition_state(self, topic: str, partition: int = 0) -> PartitionState: ...

    def leader_of(self, topic: str, partition: int = 0) -> int: ...

    def stop(self) -> None: ...


#: Listener names of the reference nodes, those of kafkapy's cluster.
_CLIENT, _REPLICATION, _CONTROLLER = CLIENT_LISTENER, REPLICATION_LISTENER, CONTROLLER_LISTENER
#: The listeners peers reach through the forwarders.
_FORWARDED = (_CONTROLLER, _REPLICATION)

#: Settings of every reference node beyond the per-node ones: no initial rebalance
#: delay (as in Kafka's own test setups), small internal topics.
CLUSTER_PROPERTIES: Mapping[str, str] = {
    "process.roles": "broker,controller",
    "controller.listener.names": _CONTROLLER,
    "inter.broker.listener.name": _REPLICATION,
    "listener.security.protocol.map": f"{_CONTROLLER}:PLAINTEXT,{_CLIENT}:PLAINTEXT,{_REPLICATION}:PLAINTEXT",
    "num.partitions": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.num.partitions": "1",
    "group.initial.rebalance.delay.ms": "0",
}


def partition_state_at(address: str, topic: str, partition: int = 0, timeout_s: float = 5.0) -> PartitionState:
    """The partition as the node at ``address`` describes it in Metadata (v12); leader -1
    while it knows none (or not the partition).

    Raises:
        OSError: the node did not answer.
    """
    from kafkapy.testing.client import KafkaConnection
    from kafkapy.wire.messages.metadata import MetadataRequest

    request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                              allow_auto_topic_creation=False)
    with KafkaConnection(address, timeout_s=timeout_s) as conn:
        answer = conn.request(request, 12)
    for t in answer.topics:
        for p in t.partitions if t.name == topic else ():
            if p.partition_index == partition:
                return PartitionState(p.leader_id if p.leader_id >= 0 else -1, p.leader_epoch,
                                      list(p.isr_nodes), list(p.replica_nodes))
    return PartitionState(-1, -1, [], [])


class ReferenceNode:
    """One Kafka JVM of a :class:`ReferenceCluster`; its output goes to ``<directory>/server.log``."""

    def __init__(self, node_id: int, directory: str, client_port: int, argv: list[str]) -> None:
        self.node_id = node_id
        self.directory = directory
        self.client_port = client_port
        self.bootstrap_servers = f"127.0.0.1:{client_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        #: Stopped with SIGSTOP and not resumed yet.
        self.paused = False
        self._argv = argv

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"node {self.node_id} is running")
        with open(os.path.join(self.directory, "stdout.log"), "ab") as out:
            self.proc = subprocess.Popen(self._argv, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.directory, start_new_session=True)
        self.paused = False

    def wait_ready(self, deadline: float, brokers: int = 1) -> None:
        """Wait until the node answers Metadata listing ``brokers`` brokers.

        Raises:
            RuntimeError: it exited or was not ready by ``deadline`` (monotonic).
        """
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"Kafka node {self.node_id} exited:\n{self.log_tail()}")
            try:
                if probe("127.0.0.1", self.client_port) >= brokers:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Kafka node {self.node_id} not ready in time:\n{self.log_tail()}")

    def pause(self) -> None:
        """SIGSTOP the JVM: it keeps its sockets but answers nothing."""
        if not self.running:
            raise RuntimeError(f"node {self.node_id} is not running")
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT a paused JVM (a no-op otherwise)."""
        if self.paused and self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` if the JVM runs; a paused one is resumed to act on it."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(sig)
            self.resume()

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        """Signal the JVM (a paused one is resumed to act on it) and wait for it; its
        exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            self.send_signal(sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.paused = False
        return proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("server.log", "stdout.log"):
            try:
                text += Path(self.directory, name).read_text(errors="replace")
            except OSError:
                pass
        return "\n".join(text.splitlines()[-lines:])


class ReferenceCluster:
    """``size`` Apache Kafka nodes (ids 1..size) in one KRaft quorum, each a broker and a voter.

    Args:
        size: number of nodes.
        config: server properties over :data:`CLUSTER_PROPERTIES`, for every node
            (the timeouts a comparison shares with kafkapy's cluster, for instance).
        data_dir: where the nodes' directories go (a temporary one, removed on stop,
            by default).
        timeout_s: how long start-up and restarts may take.
        full_jit: the JVMs' full JIT (as production, for measurements), else the quick
            first tier (starts sooner).
        heap: the JVMs' ``-Xmx``.
    """

    def __init__(self, size: int = 3, config: Mapping[str, str] | None = None, *,
                 data_dir: str | None = None, timeout_s: float = 120.0, full_jit: bool = True,
                 heap: str = "512m") -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.size = size
        self.timeout_s = timeout_s
        self.cluster_id = new_directory_id()  # Kafka's Uuid.randomUuid: never "-..."
        self._owned_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="kafka-reference-cluster-")
        ids = list(range(1, size + 1))
        bound = {(i, name): free_port() for i in ids for name in _FORWARDED}
        self._forwarders = _Forwarders(bound)
        forwarded = self._forwarders.ports
        voters = ",".join(f"{i}@127.0.0.1:{forwarded[i, _CONTROLLER]}" for i in ids)
        libs = reference_libs()
        self.nodes: dict[int, ReferenceNode] = {}
        formats: list[subprocess.Popen[bytes]] = []
        for i in ids:
            directory = os.path.join(self.data_dir, f"node-{i}")
            os.makedirs(directory, exist_ok=True)
            client_port = free_port()
            properties = {
                **CLUSTER_PROPERTIES,
                "node.id": str(i),
                "controller.quorum.voters": voters,
                # Bound on the node's own ports; peers reach them through the forwarders.
                "listeners": ",".join([f"{_CLIENT}://127.0.0.1:{client_port}",
                                       *(f"{name}://127.0.0.1:{bound[i, name]}" for name in _FORWARDED)]),
                # Advertised at the forwarders, CONTROLLER too: the Raft leader's endpoint
                # its followers fetch from comes from there (KIP-853), not the voters list.
                "advertised.listeners": ",".join([
                    f"{_CLIENT}://127.0.0.1:{client_port}",
                    *(f"{name}://127.0.0.1:{forwarded[i, name]}" for name in _FORWARDED)]),
                "log.dirs": os.path.join(directory, "data"),
                **(config or {}),
            }
            props = os.path.join(directory, "server.properties")
            with open(props, "w", encoding="latin-1") as f:
                f.writelines(f"{key}={value}\n" for key, value in properties.items())
            log4j = os.path.join(directory, "log4j2.properties")
            with open(log4j, "w") as f:
                f.write(LOG4J2.format(log_file=os.path.join(directory, "server.log")))
            jvm = [f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={directory}", "-cp", f"{libs}/*"]
            formats.append(subprocess.Popen(
                [java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", *jvm, "kafka.tools.StorageTool", "format",
                 "-t", self.cluster_id, "-c", props], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            heap_and_jit = ["-Xms256m", f"-Xmx{heap}", "-XX:+UseG1GC",
                            *([] if full_jit else ["-XX:TieredStopAtLevel=1"])]
            self.nodes[i] = ReferenceNode(i, directory, client_port,
                                          [java(), *heap_and_jit, *jvm, "kafka.Kafka", props])
        for done in formats:
            _, err = done.communicate(timeout=timeout_s)
            if done.returncode:
                self._forwarders.close()
                raise RuntimeError(f"kafka-storage format failed: {err.decode(errors='replace')}")

    @property
    def bootstrap_servers(self) -> str:
        """Every node's client address, comma separated, as clients take them."""
        return ",".join(node.bootstrap_servers for node in self.nodes.values())

    def start(self) -> Self:
        """Start every node; returns once each lists all brokers (the quorum formed and
        every broker registered)."""
        for node in self.nodes.values():
            node.start()
        deadline = time.monotonic() + self.timeout_s
        try:
            for node in self.nodes.values():
                node.wait_ready(deadline, brokers=self.size)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop every node in parallel: SIGTERM to all (paused ones resumed), then wait,
        SIGKILL for any still running after ``timeout_s``."""
        for node in self.nodes.values():
            node.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for node in self.nodes.values():
            node.stop(timeout_s=max(0.1, deadline - time.monotonic()))
        self._forwarders.close()
        if self._owned_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- topics and leaders ---------------------------------------------------------------

    def create_topics(self, *names: str, partitions: int = 1, replication_factor: int = 1,
                      config: Mapping[str, str] | None = None) -> None:
        """Create topics with the Admin client; returns once every partition has a leader.

        Raises:
            ValueError: the cluster refused a topic.
        """
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        futures = admin.create_topics([NewTopic(n, partitions, replication_factor, config=dict(config or {}))
                                       for n in names], request_timeout=self.timeout_s)
        try:
            for future in futures.values():
                future.result(self.timeout_s)
        except KafkaException as exc:
            raise ValueError(f"CreateTopics failed: {exc}") from exc
        deadline = time.monotonic() + self.timeout_s
        for name in names:
            for p in range(partitions):
                while self.leader_of(name, p) < 0 and time.monotonic() < deadline:
                    time.sleep(0.1)

    def partition_state(self, topic: str, partition: int = 0) -> PartitionState:
        """The partition's leader, leader epoch, ISR and replicas as a running node's
        Metadata (v12) reports them; leader -1 while none is known. Nodes neither paused
        nor isolated are asked first (an isolated node answers from the metadata it last had).

        Raises:
            ConnectionError: no node answered.
        """
        isolated = self._forwarders.isolated
        candidates = sorted((n for n in self.nodes.values() if n.running and not n.paused),
                            key=lambda n: n.node_id in isolated)
        problems = []
        for node in candidates:
            try:
                return partition_state_at(node.bootstrap_servers, topic, partition)
            except OSError as exc:
                problems.append(f"node {node.node_id}: {exc!r}")
        raise ConnectionError("no node answered Metadata: " + ("; ".join(problems) or "none running"))

    def leader_of(self, topic: str, partition: int = 0) -> int:
        """The partition's leader as a running node reports it, -1 while none is known."""
        return self.partition_state(topic, partition).leader

    # --- faults ---------------------------------------------------------------------------

    def kill_node(self, node_id: int) -> None:
        """SIGKILL the node: no controlled shutdown, as a crash."""
        self.nodes[node_id].stop(signal.SIGKILL)

    def stop_node(self, node_id: int) -> None:
        """Stop the node cleanly (SIGTERM: controlled shutdown)."""
        self.nodes[node_id].stop()

    def restart_node(self, node_id: int) -> None:
        """Start a killed or stopped node again on its data; returns once it serves."""
        node = self.nodes[node_id]
        node.stop()
        node.start()
        node.wait_ready(time.monotonic() + self.timeout_s)

    def pause_node(self, node_id: int) -> None:
        """SIGSTOP the node: it holds its connections but answers nothing and sends no
        heartbeat, as in a long GC pause."""
        self.nodes[node_id].pause()

    def resume_node(self, node_id: int) -> None:
        """SIGCONT a paused node."""
        self.nodes[node_id].resume()

    def isolate_node(self, node_id: int, *, from_nodes: Collection[int] | None = None) -> None:
        """Partition the node from the other nodes (or from ``from_nodes`` only), quorum
        and replication both; its clients still reach it."""
        self._forwarders.set_isolated(node_id, True, None if from_nodes is None else list(from_nodes))

    def rejoin_node(self, node_id: int, *, from_nodes: Collection[int] | None = None) -> None:
        """Undo :meth:`isolate_node` (every cut of the node, or those with ``from_nodes``)."""
        self._forwarders.set_isolated(node_id, False, None if from_nodes is None else list(from_nodes))
