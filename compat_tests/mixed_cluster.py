"""Mixed KRaft clusters: kafkapy nodes and Apache Kafka 4.x nodes in one cluster (issue 17).

Each node is a process of its own with a chosen ``process.roles``: a ``kafkapy serve``
(:class:`KafkapyProcess`, a :class:`kafkapy.testing.cluster.NodeProcess`) or a Kafka JVM (``kafka.Kafka``,
:class:`compat_tests.reference_cluster.ReferenceNode`). All of them share one cluster
id (Kafka's ``StorageTool format -t`` for the JVMs, kafkapy's formatter for the others)
and one static quorum (``controller.quorum.voters``: kraft.version 0), so a Kafka broker
registers with a kafkapy controller, or a kafkapy broker with a Kafka controller, exactly
as with one of its own kind. ``dynamic=True`` makes it a KIP-853 dynamic quorum instead:
every node has ``controller.quorum.bootstrap.servers``, the first controller is formatted
``--standalone`` (with ``kafka-storage`` or ``kafkapy storage``) and the others
``--no-initial-controllers``, to be added with ``kafka-metadata-quorum add-controller``.
``kafka_version`` picks the Kafka release of the JVMs (:data:`REFERENCE_VERSIONS`). Listeners: PLAINTEXT (clients and, as
``inter.broker.listener.name``, follower fetches) on a broker, CONTROLLER on a controller;
no forwarders, the nodes reach each other directly on 127.0.0.1.

Usage::

    with MixedCluster(tmp_path) as cluster:
        cluster.add("kafkapy", 1, "controller")
        cluster.add("kafka", 2, "broker")
        cluster.start()

Faults: :meth:`MixedCluster.kill_node` (SIGKILL), :meth:`MixedCluster.stop_node`
(SIGTERM: a broker's controlled shutdown), :meth:`MixedCluster.start_node` (again, on
its data). What failed on the wire is in the nodes' own logs: Kafka's
``<directory>/server.log`` (log4j2 at INFO, :data:`KAFKA_LOG4J2`), kafkapy's
``<directory>/serve.log`` (``kafkapy_log_level="DEBUG"`` says why a connection was
closed); :func:`describe_logs` gathers their tails for an assertion message.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from compat_tests.brokers import DEPS, KAFKA_VERSION, LOG4J2, free_port, java, reference_libs
from compat_tests.reference_cluster import ReferenceNode
from kafkapy.storage.checkpoint import new_directory_id
from kafkapy.testing.cluster import NodeProcess
from kafkapy.testing.container import format_storage

Kind = Literal["kafkapy", "kafka"]
Roles = Literal["controller", "broker", "broker,controller"]
#: How a controller is formatted in a dynamic quorum (KIP-853): the one voter it starts
#: with (``--standalone``) or an observer to be added later (``--no-initial-controllers``).
Initial = Literal["standalone", "none"]

#: The Apache Kafka releases a mixed cluster is tried with (compat_tests/install.sh).
REFERENCE_VERSIONS = ("4.1.2", "4.4.0")


def reference_installed(version: str) -> bool:
    """Whether the jars of Kafka ``version`` are in compat_tests/.deps (broker and tools)."""
    libs = DEPS / f"kafka-{version}" / "libs"
    return all((libs / jar).exists() for jar in (f"kafka_2.13-{version}.jar", f"kafka-tools-{version}.jar"))

#: Settings every node shares: fast Raft timeouts and broker sessions (as the kafkapy
#: process clusters of tests/kraft use), small internal topics, no rebalance delay.
COMMON_PROPERTIES: Mapping[str, str] = {
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "controller.quorum.election.timeout.ms": "1000",
    "controller.quorum.fetch.timeout.ms": "2000",
    "controller.quorum.request.timeout.ms": "2000",
    "broker.session.timeout.ms": "6000",
    "broker.heartbeat.interval.ms": "500",
    "num.partitions": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.num.partitions": "1",
    "group.initial.rebalance.delay.ms": "0",
}


#: Kafka's log at INFO: what a mixed cluster finds is in the JVM's words.
KAFKA_LOG4J2 = LOG4J2.replace("level = warn", "level = info")


#: Kafka 4.1's StorageTool finalises eligible.leader.replicas.version 1 (KIP-966) by
#: default; kafkapy does not implement ELR, and a Kafka controller refuses the
#: BrokerRegistration of a broker that does not support a finalised level
#: (UNSUPPORTED_VERSION). A mixed cluster is formatted without it, as kafkapy's quorum is.
#: And at the metadata.version a new kafkapy cluster starts at (4.1-IV1, level 27), so
#: that Kafka 4.1 nodes can join: Kafka 4.4 formats at its own latest (4.4-IV2, 33) by
#: default, which kafkapy supports but Kafka 4.1 does not.
KAFKA_FORMAT_FEATURES = ("--release-version", "4.1-IV1", "--feature", "eligible.leader.replicas.version=0")


class KafkapyProcess(NodeProcess):
    """A ``kafkapy serve`` node process at a chosen ``--log-level`` (DEBUG logs why a
    connection from a Kafka node was closed)."""

    def __init__(self, node_id: int, directory: str, client_port: int, log_level: str = "INFO") -> None:
        super().__init__(node_id, directory, client_port)
        self.log_level = log_level

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"node {self.node_id} is running")
        self._log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.paused = False
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kafkapy", "serve", "--log-level", self.log_level, "--config",
                 os.path.join(self.directory, "server.properties")],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)


class MixedNode:
    """One node of a :class:`MixedCluster`: its kind, id, roles, ports and process."""

    def __init__(self, kind: Kind, node_id: int, roles: Roles, directory: Path, client_port: int,
                 controller_port: int | None, extra: Mapping[str, str] | None = None,
                 initial: Initial | None = None) -> None:
        self.kind = kind
        #: a dynamic quorum's controller: formatted as its one voter, or as an observer
        self.initial = initial
        #: server properties of this node only, over the cluster's
        self.extra = dict(extra or {})
        self.node_id = node_id
        self.roles = roles
        self.directory = directory
        self.client_port = client_port
        self.controller_port = controller_port
        self.bootstrap_servers = f"127.0.0.1:{client_port}"
        self.process: NodeProcess | ReferenceNode | None = None

    @property
    def is_broker(self) -> bool:
        return "broker" in self.roles

    @property
    def is_controller(self) -> bool:
        return "controller" in self.roles

    @property
    def controller_address(self) -> str:
        return f"127.0.0.1:{self.controller_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the node's own log (Kafka's server.log and stdout, or serve.log)."""
        names = ("serve.log",) if self.kind == "kafkapy" else ("server.log", "stdout.log")
        text = ""
        for name in names:
            try:
                text += (self.directory / name).read_text(errors="replace")
            except OSError:
                pass
        return "\n".join(text.splitlines()[-lines:])


class MixedCluster:
    """kafkapy and Apache Kafka nodes in one KRaft cluster, each a process.

    Add every node (:meth:`add`) before :meth:`start`: the static voters list names all
    the controllers. Nodes start controllers first; brokers are ready once they answer
    Metadata listing themselves (registered and unfenced).
    """

    def __init__(self, root: Path, config: Mapping[str, str] | None = None, *, timeout_s: float = 60.0,
                 kafka_heap: str = "512m", kafkapy_log_level: str = "INFO", kafka_version: str = KAFKA_VERSION,
                 dynamic: bool = False) -> None:
        self.root = Path(root)
        #: the Apache Kafka release of the JVM nodes (and of the tools run against them)
        self.kafka_version = kafka_version
        #: a KIP-853 dynamic quorum: controller.quorum.bootstrap.servers, and the voters
        #: in the log (formatted --standalone, then AddRaftVoter), instead of controller.quorum.voters
        self.dynamic = dynamic
        self.config = dict(config or {})
        self.timeout_s = timeout_s
        self.kafka_heap = kafka_heap
        self.kafkapy_log_level = kafkapy_log_level
        self.cluster_id = new_directory_id()
        self.nodes: dict[int, MixedNode] = {}
        self._prepared = False

    def add(self, kind: Kind, node_id: int, roles: Roles, config: Mapping[str, str] | None = None,
            *, initial: Initial | None = None) -> MixedNode:
        """Declare a node; ``config`` adds or replaces server properties of this node only.
        In a dynamic quorum the first controller declared is formatted ``--standalone``
        and the others ``--no-initial-controllers`` unless ``initial`` says otherwise."""
        if self._prepared:
            raise RuntimeError("nodes are declared before the cluster starts")
        directory = self.root / f"{kind}-{node_id}"
        directory.mkdir(parents=True, exist_ok=True)
        if self.dynamic and "controller" in roles and initial is None:
            initial = "none" if any(n.is_controller for n in self.nodes.values()) else "standalone"
        node = MixedNode(kind, node_id, roles, directory, free_port(),
                         free_port() if "controller" in roles else None, config, initial)
        self.nodes[node_id] = node
        return node

    @property
    def voters(self) -> str:
        """``controller.quorum.voters`` of the cluster."""
        return ",".join(f"{n.node_id}@{n.controller_address}" for n in self.nodes.values() if n.is_controller)

    @property
    def bootstrap_controllers(self) -> str:
        """``controller.quorum.bootstrap.servers`` of a dynamic quorum: every controller."""
        return ",".join(n.controller_address for n in self.nodes.values() if n.is_controller)

    @property
    def brokers(self) -> list[MixedNode]:
        return [n for n in self.nodes.values() if n.is_broker]

    @property
    def bootstrap_servers(self) -> str:
        """Every running broker's client address, comma separated."""
        return ",".join(n.bootstrap_servers for n in self.brokers if n.running)

    def properties(self, node: MixedNode) -> dict[str, str]:
        """The server properties of ``node``."""
        listeners = []
        if node.is_broker:
            listeners.append(f"PLAINTEXT://{node.bootstrap_servers}")
        if node.is_controller:
            listeners.append(f"CONTROLLER://{node.controller_address}")
        props = {
            **COMMON_PROPERTIES,
            "process.roles": node.roles,
            "node.id": str(node.node_id),
            **({"controller.quorum.bootstrap.servers": self.bootstrap_controllers} if self.dynamic
               else {"controller.quorum.voters": self.voters}),
            "listeners": ",".join(listeners),
            "log.dirs": str(node.directory / "data"),
        }
        if node.is_broker:
            props["advertised.listeners"] = f"PLAINTEXT://{node.bootstrap_servers}"
        # Internal topics over every broker, up to Kafka's default of 3 (a Kafka broker asks
        # the controller for its own offsets.topic.replication.factor when it creates them).
        replicas = str(max(1, min(3, len(self.brokers))))
        props.update({"offsets.topic.replication.factor": replicas,
                      "transaction.state.log.replication.factor": replicas,
                      "transaction.state.log.min.isr": "1"})
        return {**props, **self.config, **node.extra}

    def _prepare(self) -> None:
        """Write every node's properties and format its storage for the cluster id."""
        if self._prepared:
            return
        self._prepared = True
        formats: list[tuple[MixedNode, subprocess.Popen[bytes]]] = []
        for node in self.nodes.values():
            props = self.properties(node)
            path = node.directory / "server.properties"
            path.write_text("".join(f"{k}={v}\n" for k, v in props.items()), encoding="latin-1")
            quorum_flag = {"standalone": ["--standalone"], "none": ["--no-initial-controllers"], None: []}[node.initial]
            if node.kind == "kafkapy":
                if self.dynamic:  # as an operator would: kafkapy's kafka-storage.sh
                    subprocess.run([sys.executable, "-m", "kafkapy", "storage", "format", "-t", self.cluster_id,
                                    "-c", str(path), *quorum_flag], check=True, stdout=subprocess.DEVNULL)
                else:
                    format_storage(props["log.dirs"], self.cluster_id, node.node_id)
                node.process = KafkapyProcess(node.node_id, str(node.directory), node.client_port,
                                              self.kafkapy_log_level)
                continue
            log4j = node.directory / "log4j2.properties"
            log4j.write_text(KAFKA_LOG4J2.format(log_file=node.directory / "server.log"))
            jvm = [f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={node.directory}",
                   "-cp", f"{reference_libs(self.kafka_version)}/*"]
            formats.append((node, subprocess.Popen(
                [java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", *jvm, "kafka.tools.StorageTool", "format",
                 "-t", self.cluster_id, "-c", str(path), *KAFKA_FORMAT_FEATURES, *quorum_flag],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
            argv = [java(), "-Xms256m", f"-Xmx{self.kafka_heap}", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
                    *jvm, "kafka.Kafka", str(path)]
            node.process = ReferenceNode(node.node_id, str(node.directory), node.client_port, argv)
        for node, done in formats:
            _, err = done.communicate(timeout=self.timeout_s)
            if done.returncode:
                raise RuntimeError(f"Kafka StorageTool format of node {node.node_id} failed: "
                                   f"{err.decode(errors='replace')}")

    def start(self, only: Collection[int] | None = None) -> Self:
        """Start every node (or the nodes ``only`` names; :meth:`start_node` starts the
        others later), controllers first; returns once every started broker serves."""
        self._prepare()
        ordered = sorted((n for n in self.nodes.values() if only is None or n.node_id in only),
                         key=lambda n: (not n.is_controller, n.node_id))
        for node in ordered:
            self.start_node(node.node_id, wait=False)
        deadline = time.monotonic() + self.timeout_s
        for node in ordered:
            self.wait_ready(node.node_id, deadline)
        return self

    def start_node(self, node_id: int, *, wait: bool = True) -> None:
        """Start (or restart, on its data) one node."""
        self._prepare()
        node = self.nodes[node_id]
        assert node.process is not None
        if node.running:
            raise RuntimeError(f"node {node_id} is running")
        node.process.start()
        if wait:
            self.wait_ready(node_id, time.monotonic() + self.timeout_s)

    def wait_ready(self, node_id: int, deadline: float) -> None:
        """Wait until a broker answers Metadata listing itself, a controller's listener
        accepts connections (kafkapy: its ready line).

        Raises:
            RuntimeError: the node exited or was not ready by ``deadline`` (monotonic).
        """
        node = self.nodes[node_id]
        while time.monotonic() < deadline:
            if not node.running:
                raise RuntimeError(f"{node.kind} node {node_id} exited:\n{node.log_tail()}")
            if self._ready(node):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{node.kind} node {node_id} not ready in time:\n{node.log_tail()}")

    def _ready(self, node: MixedNode) -> bool:
        if node.is_broker:
            from kafkapy.testing.client import KafkaConnection
            from kafkapy.wire.messages.metadata import MetadataRequest

            try:
                with KafkaConnection(node.bootstrap_servers, timeout_s=2) as conn:
                    answer = conn.request(MetadataRequest(topics=[], allow_auto_topic_creation=False), 12)
            except (OSError, ConnectionError):
                return False
            return node.node_id in {b.node_id for b in answer.brokers}
        if node.kind == "kafkapy":
            assert isinstance(node.process, NodeProcess)
            return "kafkapy ready" in node.process.output()
        try:  # a Kafka controller refuses Metadata: its listener accepting is enough
            socket.create_connection(("127.0.0.1", node.controller_port or 0), timeout=1).close()
        except OSError:
            return False
        return True

    def brokers_seen(self, node_id: int) -> list[int]:
        """The broker ids node ``node_id``'s Metadata lists."""
        from kafkapy.testing.client import KafkaConnection
        from kafkapy.wire.messages.metadata import MetadataRequest

        with KafkaConnection(self.nodes[node_id].bootstrap_servers, timeout_s=5) as conn:
            answer = conn.request(MetadataRequest(topics=[], allow_auto_topic_creation=False), 12)
        return sorted(b.node_id for b in answer.brokers)

    def kill_node(self, node_id: int) -> None:
        """SIGKILL the node: no controlled shutdown, as a crash."""
        process = self.nodes[node_id].process
        if process is not None:
            process.stop(signal.SIGKILL)

    def stop_node(self, node_id: int) -> None:
        """Stop the node cleanly (SIGTERM: a broker's controlled shutdown)."""
        process = self.nodes[node_id].process
        if process is not None:
            process.stop()

    def stop(self) -> None:
        """Stop the brokers, then the controllers (as Kafka's docs advise): a Kafka
        broker's controlled shutdown waits for the controller's answer, so the
        controllers outlive it. Each group is signalled at once, then waited for."""
        for group in ([n for n in self.nodes.values() if n.is_broker],
                      [n for n in self.nodes.values() if not n.is_broker]):
            for node in group:
                if node.process is not None:
                    node.process.send_signal(signal.SIGTERM)
            for node in group:
                if node.process is not None:
                    node.process.stop(timeout_s=20)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def describe_logs(cluster: MixedCluster) -> str:
    """Every node's log tail, for an assertion message."""
    return "\n".join(f"--- {n.kind} node {n.node_id} ({n.roles}) ---\n{n.log_tail()}"
                     for n in cluster.nodes.values() if os.path.isdir(n.directory))
