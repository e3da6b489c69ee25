"""A KRaft cluster of ``kafkapy serve`` processes for tests: ``with Cluster(3) as c:``.

Each node is a combined broker+controller in its own process, with its own data
directory formatted for one shared cluster id (``kafka-storage format``) and every
node listed in ``controller.quorum.voters``. A node has three listeners: PLAINTEXT
for clients, CONTROLLER for the quorum and REPLICATION, its
``inter.broker.listener.name``, which followers fetch from. The CONTROLLER and
REPLICATION listeners are reached through forwarders owned by the cluster (the
addresses in the voters list and in the node's advertised listeners, KIP-853),
which tell the connecting node by its client id, so that a test can partition a node
from the others, quorum and replication alike (:meth:`Cluster.isolate_node`), while
clients still reach it, and heal it (:meth:`Cluster.rejoin_node`).
:meth:`Cluster.kill_node` sends SIGKILL (no controlled shutdown),
:meth:`Cluster.restart_node` starts the node again on its data, and
:meth:`Cluster.pause_node` / :meth:`Cluster.resume_node` freeze a node with
SIGSTOP / SIGCONT (its sockets stay open, nothing answers: a long GC pause or a
hung host). :meth:`Cluster.leader_of` and :meth:`Cluster.partition_state` ask a
running node's Metadata who leads a partition.

The cluster is always on disk: a node that lost its metadata log could not rejoin a
Raft quorum safely.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self

import trio

from kafkapy.config import TEST_PROPERTIES, BrokerConfig
from kafkapy.testing.ports import free_port

#: What a node prints once it serves clients (``kafkapy.node.serve_forever``).
_READY_LINE = "kafkapy ready"
_LISTENERS = BrokerConfig.field_name("listeners")
_ADVERTISED = BrokerConfig.field_name("advertised_listeners")
_VOTERS = BrokerConfig.field_name("controller_quorum_voters")
_NODE_ID = BrokerConfig.field_name("node_id")
_METRICS = BrokerConfig.field_name("metrics_listener")
_LOG_DIRS = BrokerConfig.field_name("log_dirs")
_INTER_BROKER = BrokerConfig.field_name("inter_broker_listener_name")
_PROTOCOL_MAP = BrokerConfig.field_name("listener_security_protocol_map")
#: Internal topics replicated as Kafka's cluster defaults have them (3 replicas, 2 in
#: sync for transactions), or over every node of a smaller cluster.
_INTERNAL_REPLICATION = (BrokerConfig.field_name("offsets_topic_replication_factor"),
                         BrokerConfig.field_name("transaction_state_log_replication_factor"))
_TXN_MIN_ISR = BrokerConfig.field_name("transaction_state_log_min_isr")

#: The listener names of a cluster node: clients, the quorum, and the listener brokers
#: talk to each other on (``inter.broker.listener.name``: follower fetches).
CLIENT_LISTENER = "PLAINTEXT"
CONTROLLER_LISTENER = "CONTROLLER"
REPLICATION_LISTENER = "REPLICATION"
#: The listeners reached through the cluster's forwarders, which can cut a node off.
_FORWARDED = (CONTROLLER_LISTENER, REPLICATION_LISTENER)
#: How long one node may take to answer the cluster's own Metadata requests.
_ASK_TIMEOUT_S = 5.0


class NodeProcess:
    """One ``kafkapy serve`` process of a cluster; its output goes to ``<dir>/serve.log``."""

    def __init__(self, node_id: int, directory: str, client_port: int) -> None:
        self.node_id = node_id
        self.directory = directory
        self.client_port = client_port
        self.bootstrap_servers = f"127.0.0.1:{client_port}"
        self.log_path = os.path.join(directory, "serve.log")
        self.proc: subprocess.Popen[bytes] | None = None
        #: ``host:port`` of the forwarder in front of each forwarded listener, by name:
        #: what the node advertises for CONTROLLER and REPLICATION.
        self.forwarded_addresses: dict[str, str] = {}
        #: Stopped with SIGSTOP (:meth:`pause`) and not resumed yet.
        self.paused = False
        #: Where the node serves /metrics (``kafkapy.metrics.listener``).
        self.metrics_url = ""
        self._log_offset = 0

    @property
    def controller_address(self) -> str:
        """Where other nodes reach this node's controller listener (its forwarder)."""
        return self.forwarded_addresses[CONTROLLER_LISTENER]

    @property
    def replication_address(self) -> str:
        """Where followers fetch from this node (its REPLICATION listener's forwarder)."""
        return self.forwarded_addresses[REPLICATION_LISTENER]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the process (``wait_ready`` waits for it to serve)."""
        if self.running:
            raise RuntimeError(f"node {self.node_id} is running")
        self._log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.paused = False
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kafkapy", "serve", "--config",
                 os.path.join(self.directory, "server.properties")],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)

    def output(self, *, since_start: bool = True) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset if since_start else 0)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, deadline: float) -> None:
        """Wait until the node reports ready.

        Raises:
            RuntimeError: it exited or did not get ready by ``deadline`` (monotonic).
        """
        while time.monotonic() < deadline:
            if _READY_LINE in self.output():
                return
            if not self.running:
                raise RuntimeError(f"node {self.node_id} exited:\n{self.output()}")
            time.sleep(0.02)
        raise RuntimeError(f"node {self.node_id} not ready in time:\n{self.output()}")

    def pause(self) -> None:
        """SIGSTOP the process: it keeps its sockets (connections are accepted by the
        kernel) but runs nothing, so no request is answered and no heartbeat sent."""
        if not self.running:
            raise RuntimeError(f"node {self.node_id} is not running")
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT a paused process (a no-op otherwise)."""
        if self.paused and self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` if the process runs; a paused one is resumed to act on it."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(sig)
            self.resume()  # SIGTERM stays pending in a stopped process until SIGCONT

    def wait(self, timeout_s: float = 20.0) -> int | None:
        """Wait for the process to exit, SIGKILL it after ``timeout_s``; its exit status."""
        proc = self.proc
        if proc is None:
            return None
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.paused = False
        return proc.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int | None:
        """Signal the process and wait for it (idempotent); returns its exit status."""
        self.send_signal(sig)
        return self.wait(timeout_s)


#: Client ids of the connections nodes open to each other, as Kafka names them: the
#: KRaft client (``raft-client-<id>``), the broker's channel to the controller
#: (``broker-<id>-...``; a Kafka 4 broker's ``NodeToControllerChannelManager`` uses the
#: bare node id) and a follower's fetcher (``broker-<id>-fetcher-<n>``,
#: ``ReplicaFetcherThread``).
_PEER_CLIENT_ID = re.compile(r"^(?:raft-client-(\d+)|broker-(\d+)-|(\d+)$)")
#: A TLS record of the handshake type opens a TLS connection (a Kafka frame would be a
#: request of more than 300 MB).
_TLS_HANDSHAKE = b"\x16"
#: Request header up to the client id's length: size, api key, version, correlation id.
_HEADER = struct.Struct(">ihhih")


class _Forwarders:
    """One TCP forwarder in front of each (node, listener) target; links can be cut.

    Runs its own trio loop in a background thread. The forwarder of node ``dst`` learns
    which node connects from the client id of the connection's first request (Kafka's
    names, :data:`_PEER_CLIENT_ID`); while ``dst`` or that node is isolated, or the
    link between the two is cut, it closes the connection, and cutting closes the
    open connections it applies to. A node's connections to itself (its broker to its
    own active controller) are never cut.
    """

    def __init__(self, targets: Mapping[tuple[int, str], int]) -> None:
        self._targets = dict(targets)
        self.ports: dict[tuple[int, str], int] = {}
        self.isolated: set[int] = set()
        #: Links cut in both directions, each a pair of node ids.
        self.cut_links: set[frozenset[int]] = set()
        #: open connections: (source node or None, destination node, cancel scope)
        self._open: set[tuple[int | None, int, trio.CancelScope]] = set()
        self._token: trio.lowlevel.TrioToken | None = None
        self._done: trio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafkapy-forwarders", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or len(self.ports) != len(self._targets):
            raise RuntimeError("the cluster's forwarders did not start")

    def _run(self) -> None:
        try:
            trio.run(self._main)
        finally:
            self._ready.set()

    def _cut(self, src: int | None, dst: int) -> bool:
        return src != dst and (dst in self.isolated or src in self.isolated
                               or (src is not None and frozenset((src, dst)) in self.cut_links))

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._done = trio.Event()
        async with trio.open_nursery() as nursery:
            for (node_id, listener), port in self._targets.items():
                listeners = await nursery.start(functools.partial(
                    trio.serve_tcp, self._forwarder(node_id, port), 0, host="127.0.0.1"))
                self.ports[node_id, listener] = listeners[0].socket.getsockname()[1]
            self._ready.set()
            await self._done.wait()
            nursery.cancel_scope.cancel()

    def _forwarder(self, dst: int, target_port: int) -> Any:
        async def forward(client: trio.SocketStream) -> None:
            async with client:
                first = await _read_client_id(client)
                if first is None:
                    return
                src, data = first
                if self._cut(src, dst):
                    return
                with trio.CancelScope() as scope:
                    entry = (src, dst, scope)
                    self._open.add(entry)
                    try:
                        server = await trio.open_tcp_stream("127.0.0.1", target_port)
                        async with server, trio.open_nursery() as nursery:
                            await server.send_all(data)
                            nursery.start_soon(_pump, client, server, nursery.cancel_scope)
                            nursery.start_soon(_pump, server, client, nursery.cancel_scope)
                    except (OSError, trio.BrokenResourceError):
                        pass
                    finally:
                        self._open.discard(entry)

        return forward

    def set_isolated(self, node_id: int, isolated: bool, peers: Collection[int] | None = None) -> None:
        """Cut (``isolated``) or heal the node's links: with every node, or with ``peers``
        only. Healing with every node also heals its cut links."""
        def apply() -> None:
            links = {frozenset((node_id, peer)) for peer in peers or () if peer != node_id}
            if isolated:
                if peers is None:
                    self.isolated.add(node_id)
                self.cut_links |= links
            elif peers is None:
                self.isolated.discard(node_id)
                self.cut_links = {link for link in self.cut_links if node_id not in link}
            else:
                self.cut_links -= links
            for src, dst, scope in list(self._open):
                if self._cut(src, dst):
                    scope.cancel()

        trio.from_thread.run_sync(apply, trio_token=self._token)

    def close(self) -> None:
        if self._token is not None and self._done is not None:
            try:
                trio.from_thread.run_sync(self._done.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(10)


async def _read_client_id(stream: trio.SocketStream) -> tuple[int | None, bytes] | None:
    """Read up to the first request's client id; returns (the node it names or None,
    the bytes read), or None if the peer closed first."""
    data = b""
    while True:
        if data[:1] == _TLS_HANDSHAKE:
            # A TLS listener (REPLICATION:SSL): the client id is encrypted, so the node
            # connecting is unknown and only isolate_node's cut of the destination applies.
            return None, data
        if len(data) >= _HEADER.size:
            length = _HEADER.unpack_from(data)[4]
            if length < 0 or len(data) >= _HEADER.size + length:
                client_id = data[_HEADER.size:_HEADER.size + max(length, 0)].decode(errors="replace")
                match = _PEER_CLIENT_ID.match(client_id)
                return (int(next(filter(None, match.groups()))) if match else None), data
        try:
            chunk = await stream.receive_some()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        if not chunk:
            return None
        data += chunk


async def _pump(src: trio.SocketStream, dst: trio.SocketStream, scope: trio.CancelScope) -> None:
    try:
        async for data in src:
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        scope.cancel()


class Cluster:
    """``size`` kafkapy nodes (ids 1..size) forming one KRaft quorum.

    Args:
        size: number of nodes, each a broker and a voter.
        config: Kafka configuration keys over the test defaults, for every node.
        node_config: keys for one node over ``config``, by node id (``broker.rack`` ...).
        data_dir: where the nodes' directories go (a temporary one by default).
        timeout_s: how long start-up and restarts may take.
        add_scram: ``kafkapy storage format --add-scram`` arguments for every node
            (``SCRAM-SHA-512=[name=broker,password=...]``): SCRAM users that exist from
            the first start, as a SCRAM inter-broker listener needs.
    """

    def __init__(self, size: int = 3, config: Mapping[str, str] | None = None, *,
                 node_config: Mapping[int, Mapping[str, str]] | None = None,
                 data_dir: str | None = None, timeout_s: float = 60.0, add_scram: Collection[str] = ()) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        import tempfile

        from kafkapy.storage.checkpoint import new_directory_id

        self.size = size
        self.timeout_s = timeout_s
        self.cluster_id = new_directory_id()  # Kafka's random Uuid, as ``kafka-storage random-uuid``
        self._owned_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="kafkapy-cluster-")
        ids = list(range(1, size + 1))
        bound = {(i, listener): free_port() for i in ids for listener in _FORWARDED}
        self._forwarders = _Forwarders(bound)
        forwarded = self._forwarders.ports
        voters = ",".join(f"{j}@127.0.0.1:{forwarded[j, CONTROLLER_LISTENER]}" for j in ids)
        self.nodes: dict[int, NodeProcess] = {}
        for i in ids:
            directory = os.path.join(self.data_dir, f"node-{i}")
            node = NodeProcess(i, directory, free_port())
            node.forwarded_addresses = {name: f"127.0.0.1:{forwarded[i, name]}" for name in _FORWARDED}
            client = f"{CLIENT_LISTENER}://127.0.0.1:{node.client_port}"
            properties = {
                **TEST_PROPERTIES,
                _NODE_ID: str(i),
                # Bound on the node's own ports, advertised at the forwarders' ports.
                _LISTENERS: ",".join([client, *(f"{name}://127.0.0.1:{bound[i, name]}" for name in _FORWARDED)]),
                _ADVERTISED: ",".join([client, *(f"{name}://{node.forwarded_addresses[name]}"
                                                 for name in _FORWARDED)]),
                _INTER_BROKER: REPLICATION_LISTENER,
                **{name: str(min(size, 3)) for name in _INTERNAL_REPLICATION},
                _TXN_MIN_ISR: str(min(size, 2)),
                _VOTERS: voters,
                _LOG_DIRS: os.path.join(directory, "data"),
                **(config or {}),
                **(node_config or {}).get(i, {}),
            }
            properties[_PROTOCOL_MAP] = _with_replication_protocol(properties[_PROTOCOL_MAP])
            # Each node serves /metrics on a port of its own, kept across restarts.
            properties.setdefault(_METRICS, f"http://127.0.0.1:{free_port()}")
            node.metrics_url = f"{properties[_METRICS].rstrip('/')}/metrics"
            _write_node_config(directory, properties, self.cluster_id, i, add_scram)
            self.nodes[i] = node

    @property
    def bootstrap_servers(self) -> str:
        """Every node's client address, comma separated, as clients take them."""
        return ",".join(node.bootstrap_servers for node in self.nodes.values())

    def start(self) -> Self:
        """Start every node and wait until all serve clients (a quorum must form)."""
        for node in self.nodes.values():
            node.start()
        deadline = time.monotonic() + self.timeout_s
        try:
            for node in self.nodes.values():
                node.wait_ready(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop every node (paused ones are resumed first), in parallel: SIGTERM to all,
        then wait for all, SIGKILL for any still running after ``timeout_s``."""
        for node in self.nodes.values():
            node.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for node in self.nodes.values():
            node.wait(max(0.0, deadline - time.monotonic()))
        self._forwarders.close()
        if self._owned_dir:
            import shutil

            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- topics ---------------------------------------------------------------------------

    def create_topics(self, *names: str, partitions: int = 1, replication_factor: int = 1,
                      config: Mapping[str, str] | None = None) -> None:
        """Create topics with a CreateTopics request to a running node (the next one
        when a node answers NOT_CONTROLLER).

        Raises:
            ValueError: the cluster refused a topic (the Kafka error name says why).
        """
        from kafkapy.testing.client import KafkaConnection
        from kafkapy.wire.error_codes import ErrorCode
        from kafkapy.wire.messages.create_topics import CreateTopicsRequest

        request = CreateTopicsRequest(timeout_ms=int(self.timeout_s * 1000), topics=[
            CreateTopicsRequest.CreatableTopic(
                name=name, num_partitions=partitions, replication_factor=replication_factor,
                configs=[CreateTopicsRequest.CreatableTopicConfig(name=k, value=v) for k, v in (config or {}).items()])
            for name in names])
        failed: list[str] = []
        for node in self.nodes.values():
            if not node.running:
                continue
            with KafkaConnection(node.bootstrap_servers, timeout_s=self.timeout_s) as conn:
                answer = conn.request(request, 7)
            failed = [f"{t.name}: {ErrorCode(t.error_code).name}" for t in answer.topics if t.error_code]
            if not any(t.error_code == ErrorCode.NOT_CONTROLLER for t in answer.topics):
                break
        if failed:
            raise ValueError("CreateTopics failed: " + "; ".join(failed))

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

    def isolate_node(self, node_id: int, *, from_nodes: Collection[int] | None = None) -> None:
        """Partition the node from the other nodes (or from ``from_nodes`` only): the
        connections between it and them, on the controller listeners (the quorum, the
        broker's channel to the controller) and on the REPLICATION listeners (follower
        fetches), are closed and refused both ways; its clients still reach it."""
        self._check_ids(node_id, *(from_nodes or ()))
        self._forwarders.set_isolated(node_id, True, None if from_nodes is None else list(from_nodes))

    def rejoin_node(self, node_id: int, *, from_nodes: Collection[int] | None = None) -> None:
        """Undo :meth:`isolate_node`: heal every cut of the node (or those with
        ``from_nodes`` only)."""
        self._check_ids(node_id, *(from_nodes or ()))
        self._forwarders.set_isolated(node_id, False, None if from_nodes is None else list(from_nodes))

    def pause_node(self, node_id: int) -> None:
        """SIGSTOP the node: its sockets stay open but it answers nothing and sends no
        heartbeat, as in a long GC pause; the quorum fences it after
        ``broker.session.timeout.ms``."""
        self.nodes[node_id].pause()

    def resume_node(self, node_id: int) -> None:
        """SIGCONT a node :meth:`pause_node` stopped."""
        self.nodes[node_id].resume()

    def _check_ids(self, *node_ids: int) -> None:
        unknown = [i for i in node_ids if i not in self.nodes]
        if unknown:
            raise KeyError(f"no node {unknown} in a cluster of {sorted(self.nodes)}")

    # --- what the cluster reports ---------------------------------------------------------

    def metrics(self, node_id: int) -> dict[str, float]:
        """A running node's /metrics, by sample as ``Broker.metrics()`` keys them
        (``name{label="v",...}``), process metrics included."""
        import urllib.request

        from kafkapy.broker.metrics_families import parse_exposition

        self._check_ids(node_id)
        with urllib.request.urlopen(self.nodes[node_id].metrics_url, timeout=_ASK_TIMEOUT_S) as answer:
            return parse_exposition(answer.read().decode())

    def partition_state(self, topic: str, partition: int = 0) -> PartitionState:
        """The partition's leader, leader epoch, ISR and replicas as a running node's
        Metadata (v12) reports them; leader -1 while none is known (no leader, or a
        topic or partition the node does not know yet).

        Nodes are asked in turn, those neither paused nor isolated first (an isolated
        node answers with the metadata it last had); a node that does not answer
        within a few seconds is skipped.

        Raises:
            ConnectionError: no node answered.
        """
        from kafkapy.testing.client import KafkaConnection
        from kafkapy.wire.messages.metadata import MetadataRequest

        request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                  allow_auto_topic_creation=False)
        isolated = self._forwarders.isolated
        candidates = sorted((n for n in self.nodes.values() if n.running and not n.paused),
                            key=lambda n: n.node_id in isolated)
        problems = []
        for node in candidates:
            try:
                with KafkaConnection(node.bootstrap_servers, timeout_s=min(self.timeout_s, _ASK_TIMEOUT_S)) as conn:
                    answer = conn.request(request, 12)
            except OSError as exc:  # ConnectionError, TimeoutError
                problems.append(f"node {node.node_id}: {exc!r}")
                continue
            for t in answer.topics:
                for p in t.partitions if t.name == topic else ():
                    if p.partition_index == partition:
                        return PartitionState(p.leader_id if p.leader_id >= 0 else -1, p.leader_epoch,
                                              list(p.isr_nodes), list(p.replica_nodes))
            return PartitionState(-1, -1, [], [])
        raise ConnectionError("no node answered Metadata: " + ("; ".join(problems) or "none running"))

    def leader_of(self, topic: str, partition: int = 0) -> int:
        """The partition's leader as a running node reports it, -1 while none is known
        (see :meth:`partition_state`)."""
        return self.partition_state(topic, partition).leader


class PartitionState(NamedTuple):
    """A partition as Metadata describes it (``MetadataResponsePartition``)."""

    leader: int
    leader_epoch: int
    isr: list[int]
    replicas: list[int]


def _with_replication_protocol(protocol_map: str) -> str:
    """``listener.security.protocol.map`` with REPLICATION (as PLAINTEXT) if it lacks it."""
    names = {item.split(":", 1)[0].strip().upper() for item in protocol_map.split(",") if item.strip()}
    if REPLICATION_LISTENER in names:
        return protocol_map
    entry = f"{REPLICATION_LISTENER}:PLAINTEXT"
    return f"{protocol_map},{entry}" if protocol_map.strip() else entry


def _write_node_config(directory: str, properties: Mapping[str, str], cluster_id: str, node_id: int,
                       add_scram: Collection[str] = ()) -> None:
    from kafkapy.testing.container import format_storage

    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "server.properties"), "w", encoding="latin-1") as f:
        f.writelines(f"{key}={value}\n" for key, value in properties.items())
    if not add_scram:
        format_storage(properties[_LOG_DIRS], cluster_id, node_id)
        return
    from kafkapy.tools.formatter import Formatter
    from kafkapy.tools.scram_arguments import parse_add_scram

    log_dir = properties[_LOG_DIRS]
    Formatter(node_id=node_id, cluster_id=cluster_id, directories=[log_dir], metadata_log_dir=log_dir,
              ignore_formatted=True, scram_records=parse_add_scram(add_scram), out=lambda line: None).run()
