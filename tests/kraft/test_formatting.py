"""Formatted directories at start (issue 13, "Starting a cluster by hand").

Every case runs ``kafkapy serve server.properties`` processes, as an operator starts
them. A voter of a quorum of several refuses unformatted directories with Kafka's
message and how to format them; a one-node quick start formats its own. A cluster
formatted by hand (``kafkapy storage random-uuid``, then ``format`` on each node) forms
its quorum and serves a client; a node formatted for another cluster is logged once
per peer (INCONSISTENT_CLUSTER_ID). Directories formatted by Apache Kafka's own
``kafka-storage`` start kafkapy, and a ``--standalone`` dynamic quorum (KIP-853) starts
from the voter set its format wrote.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.brokers import free_port, tool_command
from kafkapy.kraft.metadata.features import METADATA_VERSION_LATEST
from kafkapy.kraft.raft.file_log import METADATA_TOPIC
from kafkapy.tools.versions import release_name
from kafkapy.wire.error_codes import ErrorCode
from tests.kraft.test_cluster_processes import describe_quorum, until
from tests.reference import needs_reference

READY = "kafkapy ready"
#: How the Kafka-formatted cases run Kafka 4.4's tool: at the newest metadata.version
#: kafkapy supports, and without eligible.leader.replicas.version (KIP-966), which
#: kafkapy does not implement: Kafka 4.4 writes the bootstrap records into the first
#: snapshot, which kafkapy replays as it stands (compat_tests/mixed_cluster.py formats so too).
KAFKA_FORMAT = ("--release-version", release_name(METADATA_VERSION_LATEST),
                "--feature", "eligible.leader.replicas.version=0")
#: Small quorum timeouts keep the cases short (Kafka's names).
QUICK = {
    "controller.quorum.election.timeout.ms": "500",
    "controller.quorum.fetch.timeout.ms": "1000",
    "controller.quorum.request.timeout.ms": "1000",
    "broker.session.timeout.ms": "2000",
    "broker.heartbeat.interval.ms": "200",
}


def storage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kafkapy", "storage", *args], capture_output=True, text=True,
                          timeout=60)


class Serve:
    """``kafkapy serve <dir>/server.properties`` with its output in ``<dir>/serve.log``."""

    def __init__(self, directory: Path, properties: dict[str, str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.config = directory / "server.properties"
        self.config.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        self.log_path = directory / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Serve:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "kafkapy", "serve", str(self.config)],
                                         stdout=out, stderr=subprocess.STDOUT, cwd=self.directory)
        return self

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout_s: float = 60) -> None:
        proc = self.proc
        assert proc is not None

        def ready() -> bool | None:
            if READY in self.output:
                return True
            assert proc.poll() is None, f"{self.directory.name} exited:\n{self.output}"
            return None

        until(f"{self.directory.name} ready", ready, timeout_s)

    def stop(self, timeout_s: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def node_properties(node_id: int, client_port: int, controller_port: int, data: Path, **extra: str) -> dict[str, str]:
    """What Kafka's docs put in each node's ``server.properties`` for a combined node."""
    return {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "listeners": f"PLAINTEXT://127.0.0.1:{client_port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{client_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data),
        **QUICK,
        **extra,
    }


@pytest.fixture
def nodes() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for node in started:
        node.stop()


def three_node_configs(root: Path) -> list[Serve]:
    ports = [(free_port(), free_port()) for _ in range(3)]
    voters = ",".join(f"{i}@127.0.0.1:{c}" for i, (_, c) in enumerate(ports, start=1))
    return [Serve(root / f"node-{i}", node_properties(i, client, controller, root / f"node-{i}" / "data",
                                                      **{"controller.quorum.voters": voters}))
            for i, (client, controller) in enumerate(ports, start=1)]


def test_a_voter_of_several_refuses_unformatted_directories(tmp_path):
    node = three_node_configs(tmp_path)[0]
    done = subprocess.run([sys.executable, "-m", "kafkapy", "serve", str(node.config)], capture_output=True,
                          text=True, timeout=60, cwd=node.directory)
    assert done.returncode == 1
    error = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(error) == 1, done.stderr
    assert "No readable meta.properties files found" in error[0]
    assert "kafkapy storage format --cluster-id" in error[0] and "kafkapy storage random-uuid" in error[0]
    assert not (node.directory / "data" / "meta.properties").exists()


def test_a_dynamic_quorum_node_refuses_unformatted_directories_and_a_quorum_of_one(tmp_path):
    client, controller = free_port(), free_port()
    data = tmp_path / "data"
    node = Serve(tmp_path, node_properties(1, client, controller, data, **{
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}"}))
    done = subprocess.run([sys.executable, "-m", "kafkapy", "serve", str(node.config)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and "No readable meta.properties files found" in done.stderr
    # Formatted without initial controllers, it has no voters to start from: an observer
    # asking its bootstrap server (itself) who leads, as Kafka's, instead of electing
    # itself a quorum of one; it says so while it waits.
    assert storage("format", "-t", "sI31yP6KRQGgo43wJQVVWw", "-c", str(node.config), "-N").returncode == 0
    log = tmp_path / "observer.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kafkapy", "serve", str(node.config)], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        waiting = until("the waiting line", lambda: re.search(
            r"Waiting for the metadata quorum: no leader elected yet among voters \[\]", log.read_text()), timeout_s=60)
        assert waiting and proc.poll() is None and "kafkapy ready" not in log.read_text()
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_lone_voter_formats_its_own_directory(tmp_path, nodes):
    client, controller = free_port(), free_port()
    data = tmp_path / "data"
    node = Serve(tmp_path / "node", node_properties(1, client, controller, data, **{
        "controller.quorum.voters": f"1@127.0.0.1:{controller}"}))
    nodes.append(node.start())
    node.wait_ready()
    meta = dict(line.split("=", 1) for line in (data / "meta.properties").read_text().splitlines()[2:])
    assert f"cluster {meta['cluster.id']}" in node.output
    assert (data / "bootstrap.checkpoint").exists()
    assert node.stop() == 0


def test_three_nodes_formatted_by_hand_form_a_quorum_and_serve_a_client(tmp_path, nodes):
    cluster_id = storage("random-uuid").stdout.strip()
    configs = three_node_configs(tmp_path)
    for node in configs:
        done = storage("format", "--cluster-id", cluster_id, "--config", str(node.config))
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1].startswith("Formatting metadata directory")
    for node in configs:
        nodes.append(node.start())
    for node in configs:
        node.wait_ready()
        assert f"cluster {cluster_id}" in node.output
    bootstrap = ",".join(n.config.read_text().split("advertised.listeners=PLAINTEXT://")[1].split("\n")[0]
                         for n in configs)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("by-hand", 1, 3)])["by-hand"].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(10):
        producer.produce("by-hand", f"record-{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "by-hand", "auto.offset.reset": "earliest"})
    consumer.subscribe(["by-hand"])
    got: list[bytes] = []
    deadline = time.monotonic() + 60
    while len(got) < 10 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got.append(message.value())
    consumer.close()
    assert got == [f"record-{i}".encode() for i in range(10)]
    # The quorum has every node as a voter, one leader.
    controller = configs[0].config.read_text().split("CONTROLLER://")[1].split("\n")[0]
    partition = describe_quorum(controller, topic=METADATA_TOPIC).topics[0].partitions[0]
    if partition.error_code == ErrorCode.NONE:
        assert sorted(v.replica_id for v in partition.current_voters) == [1, 2, 3]
    for node in reversed(configs):
        assert node.stop() == 0


def test_a_node_of_another_cluster_is_logged_once_per_peer(tmp_path, nodes):
    configs = three_node_configs(tmp_path)
    for node, cluster_id in zip(configs, ["sI31yP6KRQGgo43wJQVVWw"] * 2 + ["MvDxzVmcRsaTz33bUuRU6A"]):
        assert storage("format", "-t", cluster_id, "-c", str(node.config)).returncode == 0
    for node in configs:
        nodes.append(node.start())
    configs[0].wait_ready()
    configs[1].wait_ready()  # two of three voters are a majority

    def logged() -> bool | None:
        return True if all("INCONSISTENT_CLUSTER_ID" in n.output for n in configs) else None

    until("INCONSISTENT_CLUSTER_ID logged by every node", logged, 30)
    time.sleep(3)  # several more election rounds, which must not log again
    foreign = [line for line in configs[2].output.splitlines() if "INCONSISTENT_CLUSTER_ID" in line]
    peers = [re.search(r": node (\d+) (answered|sent)", line).groups() for line in foreign]  # type: ignore[union-attr]
    assert len(peers) == len(set(peers)) and {p for p, _ in peers} == {"1", "2"}, foreign
    for node in configs[:2]:
        lines = [line for line in node.output.splitlines() if "INCONSISTENT_CLUSTER_ID" in line]
        assert 1 <= len(lines) <= 2 and all("node 3" in line for line in lines), lines
    assert READY not in configs[2].output
    # The node left out says what it waits for, and with which cluster id.
    until("node 3 waiting", lambda: True if "Waiting for the metadata quorum" in configs[2].output else None, 20)
    assert "cluster id MvDxzVmcRsaTz33bUuRU6A" in configs[2].output


def test_a_standalone_dynamic_quorum_starts_from_its_formatted_voter(tmp_path, nodes):
    client, controller = free_port(), free_port()
    data = tmp_path / "node" / "data"
    node = Serve(tmp_path / "node", node_properties(1, client, controller, data, **{
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}"}))
    done = storage("format", "-t", "sI31yP6KRQGgo43wJQVVWw", "-c", str(node.config), "--standalone")
    assert done.returncode == 0, done.stderr
    nodes.append(node.start())
    node.wait_ready()
    partition = until("a quorum leader", lambda: (
        p if (p := describe_quorum(f"127.0.0.1:{controller}").topics[0].partitions[0]).error_code == 0 else None))
    assert partition.leader_id == 1 and [v.replica_id for v in partition.current_voters] == [1]
    assert node.stop() == 0


@needs_reference
def test_kafkapy_starts_on_directories_kafka_formatted(tmp_path, nodes):
    client, controller = free_port(), free_port()
    data, meta = tmp_path / "node" / "data", tmp_path / "node" / "metadata"
    node = Serve(tmp_path / "node", node_properties(1, client, controller, data, **{
        "controller.quorum.voters": f"1@127.0.0.1:{controller}", "metadata.log.dir": str(meta),
        "offsets.topic.replication.factor": "1"}))
    done = subprocess.run(tool_command("kafka.tools.StorageTool", "format", "-t", "sI31yP6KRQGgo43wJQVVWw",
                                       "-c", str(node.config), *KAFKA_FORMAT),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before = {d: (d / "meta.properties").read_text() for d in (data, meta)}
    nodes.append(node.start())
    node.wait_ready()
    assert "cluster sI31yP6KRQGgo43wJQVVWw" in node.output
    metadata = AdminClient({"bootstrap.servers": f"127.0.0.1:{client}"}).list_topics(timeout=10)
    assert metadata.cluster_id == "sI31yP6KRQGgo43wJQVVWw"
    assert node.stop() == 0
    assert {d: (d / "meta.properties").read_text() for d in (data, meta)} == before
    assert os.path.isdir(meta / f"{METADATA_TOPIC}-0")


def test_three_controllers_formatted_with_initial_controllers_form_a_dynamic_quorum(tmp_path, nodes):
    """Kafka 4's way (KIP-853): controller.quorum.bootstrap.servers, and every node
    formatted with the same --initial-controllers (id@host:port:directory-id)."""
    ports = [(free_port(), free_port()) for _ in range(3)]
    directory_ids = [storage("random-uuid").stdout.strip() for _ in ports]
    initial = ",".join(f"{i}@127.0.0.1:{c}:{d}" for i, ((_, c), d) in enumerate(zip(ports, directory_ids), start=1))
    bootstrap = ",".join(f"127.0.0.1:{c}" for _, c in ports)
    configs = [Serve(tmp_path / f"node-{i}", node_properties(i, client, controller, tmp_path / f"node-{i}" / "data",
                                                             **{"controller.quorum.bootstrap.servers": bootstrap}))
               for i, (client, controller) in enumerate(ports, start=1)]
    for node in configs:
        done = storage("format", "-t", "sI31yP6KRQGgo43wJQVVWw", "-c", str(node.config), "-I", initial)
        assert done.returncode == 0, done.stderr
    for node in configs:
        nodes.append(node.start())
    for node in configs:
        node.wait_ready()

    def agreed() -> object | None:
        answers = [describe_quorum(f"127.0.0.1:{c}").topics[0].partitions[0] for _, c in ports]
        leaders = [p for p in answers if p.error_code == ErrorCode.NONE]
        return leaders[0] if len(leaders) == 1 else None

    partition = until("one quorum leader", agreed)
    voters = {v.replica_id: v.replica_directory_id for v in partition.current_voters}
    assert sorted(voters) == [1, 2, 3]
    assert [base64.urlsafe_b64encode(voters[i]).decode().rstrip("=") for i in (1, 2, 3)] == directory_ids
    for node in reversed(configs):
        assert node.stop() == 0


@needs_reference
def test_kafkapy_starts_on_a_standalone_quorum_kafka_formatted(tmp_path, nodes):
    client, controller = free_port(), free_port()
    data = tmp_path / "node" / "data"
    node = Serve(tmp_path / "node", node_properties(1, client, controller, data, **{
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}", "offsets.topic.replication.factor": "1"}))
    done = subprocess.run(tool_command("kafka.tools.StorageTool", "format", "-t", "sI31yP6KRQGgo43wJQVVWw",
                                       "-c", str(node.config), "--standalone", *KAFKA_FORMAT),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    directory_id = dict(line.split("=", 1) for line in (data / "meta.properties").read_text().splitlines()[2:])[
        "directory.id"]
    nodes.append(node.start())
    node.wait_ready()
    partition = until("a quorum leader", lambda: (
        p if (p := describe_quorum(f"127.0.0.1:{controller}").topics[0].partitions[0]).error_code == 0 else None))
    (voter,) = partition.current_voters
    assert voter.replica_id == 1 and base64.urlsafe_b64encode(voter.replica_directory_id).decode() == \
        directory_id + "=="
    assert node.stop() == 0
