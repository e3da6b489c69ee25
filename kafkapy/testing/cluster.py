"""A KRaft cluster of ``kafkapy serve`` processes for tests: ``with Cluster(3) as c:``.

Each node is a combined broker+controller in its own process, with its own data
directory formatted for one shared cluster id (``kafka-storage format``) and every
node listed in ``controller.quorum.voters``. Each node's controller listener is
reached through a forwarder owned by the cluster (the address in the voters list and
in the node's advertised CONTROLLER listener, KIP-853), which tells the connecting
node by its client id, so that a test can cut a node off from the quorum
(:meth:`Cluster.isolate_node`) while clients still reach it, and join it again
(:meth:`Cluster.rejoin_node`). :meth:`Cluster.kill_node` sends
SIGKILL (no controlled shutdown) and :meth:`Cluster.restart_node` starts the node
again on its data.

The cluster is always on disk: a node that lost its metadata log could not rejoin a
Raft quorum safely.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import trio

from kafkapy.config import TEST_PROPERTIES, BrokerConfig

#: What a node prints once it serves clients (``kafkapy.node.serve_forever``).
_READY_LINE = "kafkapy ready"
_LISTENERS = BrokerConfig.field_name("listeners")
_ADVERTISED = BrokerConfig.field_name("advertised_listeners")
_VOTERS = BrokerConfig.field_name("controller_quorum_voters")
_NODE_ID = BrokerConfig.field_name("node_id")
_LOG_DIRS = BrokerConfig.field_name("log_dirs")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeProcess:
    """One ``kafkapy serve`` process of a cluster; its output goes to ``<dir>/serve.log``."""

    def __init__(self, node_id: int, directory: str, client_port: int) -> None:
        self.node_id = node_id
        self.directory = directory
        self.client_port = client_port
        self.bootstrap_servers = f"127.0.0.1:{client_port}"
        self.log_path = os.path.join(directory, "serve.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the process (``wait_ready`` waits for it to serve)."""
        if self.running:
            raise RuntimeError(f"node {self.node_id} is running")
        self._log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
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

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int | None:
        """Signal the process and wait for it (idempotent); returns its exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode


#: Client ids of the connections nodes open to each other's controller listener, as
#: Kafka names them: the KRaft client (``raft-client-<id>``) and the broker's channel
#: to the controller (``broker-<id>-...``).
_PEER_CLIENT_ID = re.compile(r"^(?:raft-client-(\d+)|broker-(\d+)-)")
#: Request header up to the client id's length: size, api key, version, correlation id.
_HEADER = struct.Struct(">ihhih")


class _Forwarders:
    """One TCP forwarder in front of each node's controller listener; a node can be cut off.

    Runs its own trio loop in a background thread. The forwarder of node ``dst`` learns
    which node connects from the client id of the connection's first request (Kafka's
    names, :data:`_PEER_CLIENT_ID`); while ``dst`` or that node is isolated it closes
    the connection, and isolating a node closes the connections it is part of.
    """

    def __init__(self, targets: Mapping[int, int]) -> None:
        self._targets = dict(targets)
        self.ports: dict[int, int] = {}
        self.isolated: set[int] = set()
        #: open connections: (source node or None, destination node, cancel scope)
        self._open: set[tuple[int | None, int, trio.CancelScope]] = set()
        self._token: trio.lowlevel.TrioToken | None = None
        self._done: trio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafkapy-forwarders", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or len(self.ports) != len(self._targets):
            raise RuntimeError("the controller forwarders did not start")

    def _run(self) -> None:
        try:
            trio.run(self._main)
        finally:
            self._ready.set()

    def _cut(self, src: int | None, dst: int) -> bool:
        return dst in self.isolated or src in self.isolated

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._done = trio.Event()
        async with trio.open_nursery() as nursery:
            for node_id, port in self._targets.items():
                listeners = await nursery.start(functools.partial(
                    trio.serve_tcp, self._forwarder(node_id, port), 0, host="127.0.0.1"))
                self.ports[node_id] = listeners[0].socket.getsockname()[1]
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

    def set_isolated(self, node_id: int, isolated: bool) -> None:
        def apply() -> None:
            (self.isolated.add if isolated else self.isolated.discard)(node_id)
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
        if len(data) >= _HEADER.size:
            length = _HEADER.unpack_from(data)[4]
            if length < 0 or len(data) >= _HEADER.size + length:
                client_id = data[_HEADER.size:_HEADER.size + max(length, 0)].decode(errors="replace")
                match = _PEER_CLIENT_ID.match(client_id)
                return (int(match.group(1) or match.group(2)) if match else None), data
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
        data_dir: where the nodes' directories go (a temporary one by default).
        timeout_s: how long start-up and restarts may take.
    """

    def __init__(self, size: int = 3, config: Mapping[str, str] | None = None, *,
                 data_dir: str | None = None, timeout_s: float = 60.0) -> None:
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
        controller_ports = {i: _free_port() for i in ids}
        self._forwarders = _Forwarders(controller_ports)
        forwarded = self._forwarders.ports
        self.nodes: dict[int, NodeProcess] = {}
        for i in ids:
            directory = os.path.join(self.data_dir, f"node-{i}")
            node = NodeProcess(i, directory, _free_port())
            voters = ",".join(f"{j}@127.0.0.1:{forwarded[j]}" for j in ids)
            properties = {
                **TEST_PROPERTIES,
                _NODE_ID: str(i),
                _LISTENERS: f"PLAINTEXT://127.0.0.1:{node.client_port},CONTROLLER://127.0.0.1:{controller_ports[i]}",
                _ADVERTISED: f"PLAINTEXT://127.0.0.1:{node.client_port},CONTROLLER://127.0.0.1:{forwarded[i]}",
                _VOTERS: voters,
                _LOG_DIRS: os.path.join(directory, "data"),
                **(config or {}),
            }
            _write_node_config(directory, properties, self.cluster_id, i)
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

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
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

    def isolate_node(self, node_id: int) -> None:
        """Cut the node off from the quorum: the connections it opens to other nodes'
        controllers and theirs to its controller are closed and refused; its clients
        still reach it."""
        self._forwarders.set_isolated(node_id, True)

    def rejoin_node(self, node_id: int) -> None:
        """Undo :meth:`isolate_node`."""
        self._forwarders.set_isolated(node_id, False)


def _write_node_config(directory: str, properties: Mapping[str, str], cluster_id: str, node_id: int) -> None:
    from kafkapy.testing.container import format_storage

    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "server.properties"), "w", encoding="latin-1") as f:
        f.writelines(f"{key}={value}\n" for key, value in properties.items())
    format_storage(properties[_LOG_DIRS], cluster_id, node_id)
