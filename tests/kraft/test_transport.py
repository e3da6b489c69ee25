"""The Raft driver over real TCP connections speaking the Kafka protocol.

Three drivers in one trio run, each with a :class:`KafkaRaftTransport` and a minimal
controller listener (the wire codec and ``transport.handle``; the broker's dispatcher
is tested with the whole node in ``test_cluster.py``). Real clock, 127.0.0.1, port 0,
``fail_after`` on everything.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
import trio

from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.driver import NotLeaderError, RaftDriver
from kafkapy.kraft.raft.memory_log import MemoryLog
from kafkapy.kraft.raft.network import (
    KafkaRaftTransport,
    PeerConnection,
    PeerUnavailable,
    parse_bootstrap_servers,
    parse_quorum_voters,
)
from kafkapy.kraft.raft.quorum_store import MemoryQuorumStateStore
from kafkapy.kraft.raft.records import Endpoint, LogEntry
from kafkapy.kraft.raft.simulation import JsonSnapshotCodec
from kafkapy.kraft.raft.snapshot import SnapshotPolicy
from kafkapy.kraft.raft.voters import VoterSet
from kafkapy.kraft.raft.wire_translation import METADATA_TOPIC
from kafkapy.wire.codec import CLOSED, NEED_DATA, RequestDecoder, encode_response
from kafkapy.wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkapy.wire.messages.describe_quorum import DescribeQuorumRequest
from kafkapy.wire.messages.metadata import MetadataRequest

LISTENER = "CONTROLLER"
RAFT_KEYS = (1, 52, 53, 54, 55, 59, 80, 81, 82)


def test_parse_quorum_voters() -> None:
    assert parse_quorum_voters(["1@localhost:9093", " 2@[::1]:9094", "3@10.0.0.1:1"]) == {
        1: ("localhost", 9093), 2: ("::1", 9094), 3: ("10.0.0.1", 1)}
    for bad in ("1@localhost", "x@h:1", "localhost:9093", "1@:9093"):
        with pytest.raises(ValueError):
            parse_quorum_voters([bad])
    assert parse_bootstrap_servers(["a:1", "[::1]:2"]) == [("a", 1), ("::1", 2)]
    with pytest.raises(ValueError):
        parse_bootstrap_servers(["a"])


async def serve_controller(transport: KafkaRaftTransport, task_status: trio.TaskStatus[int]) -> None:
    """A controller listener with ApiVersions and the KRaft RPCs, one connection per task."""

    async def connection(stream: trio.SocketStream) -> None:
        decoder = RequestDecoder()
        async with stream:
            while True:
                item = decoder.next_request()
                if item is NEED_DATA:
                    data = await stream.receive_some(65536)
                    decoder.receive_data(data)
                    continue
                if item is CLOSED:
                    return
                header, body = item  # type: ignore[misc]
                if isinstance(body, ApiVersionsRequest):
                    response = ApiVersionsResponse(api_keys=[
                        ApiVersionsResponse.ApiVersion(api_key=k, min_version=0, max_version=99)
                        for k in (18, *RAFT_KEYS)])
                else:
                    response = await transport.handle(body)
                    if response is None:
                        return
                await stream.send_all(b"".join(encode_response(header, response)))

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(connection, listeners)


class Recorder:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def handle_load_snapshot(self, end_offset: int, epoch: int, values: Sequence[bytes]) -> None:
        self.values = list(values)

    def handle_commit(self, entries: Sequence[LogEntry]) -> None:
        self.values += [e.value for e in entries if isinstance(e.value, bytes)]

    def handle_leader_change(self, leader_id: int | None, epoch: int) -> None:
        pass


class Node:
    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.log = MemoryLog(JsonSnapshotCodec())
        self.store = MemoryQuorumStateStore()
        self.recorder = Recorder()
        self.driver: RaftDriver | None = None
        self.transport: KafkaRaftTransport | None = None
        self.scope = trio.CancelScope()

    async def start(self, nursery: trio.Nursery, port: int, voters: dict[int, tuple[str, int]]) -> None:
        transport = self.transport = KafkaRaftTransport(
            self.node_id, LISTENER, voters, request_timeout_ms=500,
            own_endpoints=[Endpoint(LISTENER, "127.0.0.1", port)])
        _, inbox = trio.open_memory_channel(0)
        self.recorder = Recorder()
        self.driver = RaftDriver(
            RaftConfig(self.node_id, cluster_id="c", election_timeout_ms=300, fetch_timeout_ms=600,
                       request_timeout_ms=500, fetch_max_wait_ms=100),
            self.log, self.store, transport, inbox, static_voters=VoterSet.of_ids(voters),
            rng=random.Random(self.node_id), snapshot_source=lambda: list(self.recorder.values),
            snapshot_policy=SnapshotPolicy(max_bytes=1))
        self.driver.register(self.recorder)
        transport.bind(self.driver)
        self.scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            assert self.driver is not None
            with self.scope:
                async with trio.open_nursery() as inner:
                    await inner.start(transport.run)
                    await inner.start(self.driver.run)
                    task_status.started()

        await nursery.start(run)

    def kill(self) -> None:
        self.scope.cancel()
        self.driver = None


async def leader_of(nodes: dict[int, Node]) -> int:
    while True:
        for node_id, node in nodes.items():
            if node.driver is not None and node.driver.node.is_leader:
                return node_id
        await trio.sleep(0.02)


async def commit(nodes: dict[int, Node], value: bytes) -> None:
    while True:
        driver = nodes[await leader_of(nodes)].driver
        assert driver is not None
        try:
            await driver.propose([value])
            break
        except NotLeaderError:
            await trio.sleep(0.05)
    while not all(value in n.recorder.values for n in nodes.values() if n.driver is not None):
        await trio.sleep(0.02)


async def test_three_drivers_over_tcp_elect_replicate_and_catch_up_by_snapshot() -> None:
    nodes = {i: Node(i) for i in (1, 2, 3)}
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            ports: dict[int, int] = {}
            for node in nodes.values():
                ports[node.node_id] = await nursery.start(
                    lambda task_status, n=node: serve_controller(_LateTransport(n), task_status))
            voters = {i: ("127.0.0.1", port) for i, port in ports.items()}
            for node in nodes.values():
                await node.start(nursery, ports[node.node_id], voters)
            first = await leader_of(nodes)
            await commit(nodes, b"a")

            # DescribeQuorum over the wire, as a tool would send it, to the leader.
            connection = PeerConnection(lambda: voters[first], client_id="test")
            described = await connection.request(DescribeQuorumRequest(topics=[DescribeQuorumRequest.TopicData(
                topic_name=METADATA_TOPIC, partitions=[DescribeQuorumRequest.PartitionData(partition_index=0)])]),
                timeout_s=5)
            partition = described.topics[0].partitions[0]  # type: ignore[attr-defined]
            assert (partition.error_code, partition.leader_id) == (0, first)
            assert sorted(v.replica_id for v in partition.current_voters) == [1, 2, 3]
            assert partition.high_watermark > 0
            assert {n.node_id: [(e.name, e.port) for e in n.listeners]
                    for n in described.nodes} == {i: [(LISTENER, p)] for i, p in ports.items()}  # type: ignore[attr-defined]
            # An API the peer does not serve fails without a round trip.
            with pytest.raises(PeerUnavailable):
                await connection.request(MetadataRequest(), timeout_s=5)
            await connection.aclose()

            # The leader dies; the others elect one of themselves and go on committing.
            nodes[first].kill()
            survivors = {i: n for i, n in nodes.items() if i != first}
            second = await leader_of(survivors)
            assert second != first
            for i in range(5):
                await commit(survivors, b"b%d" % i)
            # Every commit took a snapshot and deleted the log before it: the node that
            # was down is behind the log start and must catch up by FetchSnapshot.
            leader_log = survivors[second].log
            assert leader_log.log_start_offset > nodes[first].log.end_offset
            await nodes[first].start(nursery, ports[first], voters)
            await commit(nodes, b"c")
            assert nodes[first].recorder.values == nodes[second].recorder.values
            assert nodes[first].recorder.values[-6:] == [b"b0", b"b1", b"b2", b"b3", b"b4", b"c"]
            assert nodes[first].log.latest_snapshot() is not None
            nursery.cancel_scope.cancel()


class _LateTransport:
    """The listener outlives the node's transport (a restart makes a new one)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def handle(self, message: object) -> object:
        if self.node.transport is None or self.node.driver is None:
            return None
        return await self.node.transport.handle(message)  # type: ignore[arg-type]


def test_peers_of_other_clusters_are_logged_a_bounded_number_of_times(caplog: pytest.LogCaptureFixture) -> None:
    """Node ids in Raft requests are the sender's word: 200 made-up voters of another
    cluster get INCONSISTENT_CLUSTER_ID, but at most 64 ERROR lines and one saying so."""
    import logging

    from kafkapy.testing import Broker
    from kafkapy.testing.client import KafkaConnection
    from kafkapy.wire.error_codes import ErrorCode
    from kafkapy.wire.messages.vote import VoteRequest

    with Broker() as broker, caplog.at_level(logging.ERROR, logger="kafkapy.kraft.raft.network"):
        host, port = broker.info.listeners[LISTENER]  # type: ignore[union-attr]
        with KafkaConnection(f"{host}:{port}", timeout_s=10) as conn:
            for candidate in range(100, 300):
                answer = conn.request(VoteRequest(cluster_id="another-cluster", voter_id=broker.node_id, topics=[
                    VoteRequest.TopicData(topic_name=METADATA_TOPIC, partitions=[VoteRequest.PartitionData(
                        replica_epoch=1, replica_id=candidate, last_offset_epoch=0, last_offset=0)])]), 1)
                assert answer.error_code == ErrorCode.INCONSISTENT_CLUSTER_ID
            assert conn.request(ApiVersionsRequest(), 0).error_code == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "kafkapy.kraft.raft.network"]
    assert sum("INCONSISTENT_CLUSTER_ID" in line for line in lines) == 64
    assert sum("no more will be" in line for line in lines) == 1
