"""The metadata quorum of three ``kafkapy serve`` processes (issue 4, "Running it").

Three combined nodes (``process.roles=broker,controller``) on 127.0.0.1, each its own
process (:class:`kafkapy.testing.Cluster`). The quorum is observed only from outside,
as Kafka's tools observe it: DescribeQuorum (API 55) to the controller listeners and,
forwarded, to the broker listeners; Metadata and DescribeConfigs for the image; and,
once the processes are stopped, the ``__cluster_metadata`` logs on disk.

Small quorum timeouts keep each test short. The election time after a SIGKILL is
measured and printed (``pytest -s``); it is only checked against a generous bound.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kafkapy.kraft.metadata.records import ConfigRecord, TopicRecord, decode_record
from kafkapy.kraft.raft.file_log import METADATA_TOPIC, FileRaftLog
from kafkapy.kraft.raft.snapshot import parse_snapshot_file_name
from kafkapy.testing import Cluster
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.describe_configs import DescribeConfigsRequest
from kafkapy.wire.messages.describe_quorum import DescribeQuorumRequest
from kafkapy.wire.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest,
)
from kafkapy.wire.messages.metadata import MetadataRequest

T = TypeVar("T")

ELECTION_TIMEOUT_MS = 500
FETCH_TIMEOUT_MS = 1000
QUORUM_CONFIG = {
    "controller.quorum.election.timeout.ms": str(ELECTION_TIMEOUT_MS),
    "controller.quorum.fetch.timeout.ms": str(FETCH_TIMEOUT_MS),
    "controller.quorum.request.timeout.ms": "1000",
    "broker.session.timeout.ms": "2000",
    "broker.heartbeat.interval.ms": "200",
    # Relative to each node's directory (the process's working directory).
    "metadata.log.dir": "metadata",
}
#: Kafka's ``Uuid.ZERO_UUID``: voters of a static quorum (kraft.version 0) have no directory id.
ZERO_UUID = bytes(16)
TOPIC = 2  # ConfigResource.Type.TOPIC
SET = 0  # AlterConfigOp.OpType.SET


def until(what: str, probe: Callable[[], T | None], timeout_s: float = 30.0) -> T:
    """Poll ``probe`` (connection errors count as not yet) until it returns something
    other than None."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = probe()
        except (OSError, ConnectionError):
            found = None
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def controller_address(node: Any) -> str:
    """The node's own controller listener (its ``listeners`` entry, not the forwarder)."""
    props = Path(node.directory, "server.properties").read_text()
    port = re.search(r"^listeners=.*CONTROLLER://127\.0\.0\.1:(\d+)", props, re.MULTILINE)
    assert port is not None
    return f"127.0.0.1:{port.group(1)}"


def voter_ports(node: Any) -> dict[int, int]:
    """``controller.quorum.voters`` of the node's configuration, as id -> port."""
    props = Path(node.directory, "server.properties").read_text()
    voters = re.search(r"^controller\.quorum\.voters=(.*)$", props, re.MULTILINE)
    assert voters is not None
    return {int(v.split("@")[0]): int(v.rsplit(":", 1)[1]) for v in voters.group(1).split(",")}


def request(address: str, body: Any, version: int) -> Any:
    with KafkaConnection(address, timeout_s=10) as conn:
        return conn.request(body, version)


def describe_quorum(address: str, version: int = 2, topic: str = METADATA_TOPIC) -> Any:
    return request(address, DescribeQuorumRequest(topics=[DescribeQuorumRequest.TopicData(
        topic_name=topic, partitions=[DescribeQuorumRequest.PartitionData(partition_index=0)])]), version)


def leader_answer(address: str) -> Any | None:
    """The partition of a DescribeQuorum answered without error, else None."""
    partition = describe_quorum(address).topics[0].partitions[0]
    return partition if partition.error_code == ErrorCode.NONE else None


def hw_at_least(cluster: Cluster, leader: int, offset: int) -> Any | None:
    """The leader's DescribeQuorum partition once its high watermark is at ``offset`` or past it."""
    partition = describe_quorum(controller_address(cluster.nodes[leader])).topics[0].partitions[0]
    return partition if partition.error_code == ErrorCode.NONE and partition.high_watermark >= offset else None


def quorum_leader(cluster: Cluster) -> tuple[int, Any]:
    """The leader as every running node's controller listener tells it: the leader
    answers, every other voter answers NOT_LEADER_OR_FOLLOWER (as Kafka's do)."""

    def agreed() -> tuple[int, Any] | None:
        answers = {i: describe_quorum(controller_address(n)).topics[0].partitions[0]
                   for i, n in cluster.nodes.items() if n.running}
        leaders = {i: p for i, p in answers.items() if p.error_code == ErrorCode.NONE}
        if len(leaders) != 1:
            return None
        (leader, partition), = leaders.items()
        if partition.leader_id != leader:
            return None
        if any(p.error_code != ErrorCode.NOT_LEADER_OR_FOLLOWER for i, p in answers.items() if i != leader):
            return None
        return leader, partition

    return until("one quorum leader", agreed)


def create_topics(address: str, topics: dict[str, tuple[int, dict[str, str]]]) -> None:
    m = CreateTopicsRequest
    answer = request(address, m(timeout_ms=10000, topics=[
        m.CreatableTopic(name=name, num_partitions=partitions, replication_factor=1,
                         configs=[m.CreatableTopicConfig(name=k, value=v) for k, v in configs.items()])
        for name, (partitions, configs) in topics.items()]), 7)
    assert [(t.name, ErrorCode(t.error_code).name) for t in answer.topics] == [(n, "NONE") for n in topics]


def alter_topic_configs(address: str, configs: dict[str, dict[str, str]]) -> None:
    m = IncrementalAlterConfigsRequest
    answer = request(address, m(resources=[
        m.AlterConfigsResource(resource_type=TOPIC, resource_name=topic, configs=[
            m.AlterableConfig(name=k, config_operation=SET, value=v) for k, v in values.items()])
        for topic, values in configs.items()]), 1)
    assert [(r.resource_name, r.error_code) for r in answer.responses] == [(t, 0) for t in configs]


def topics_seen(address: str, names: list[str]) -> dict[str, tuple[bytes, int]]:
    """Topic name -> (topic id, partition count) as the node's Metadata lists them."""
    answer = request(address, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=n) for n in names],
                                              allow_auto_topic_creation=False), 12)
    return {t.name: (bytes(t.topic_id), len(t.partitions)) for t in answer.topics if t.error_code == 0}


def topic_configs(address: str, names: list[str], keys: list[str]) -> dict[str, dict[str, str]]:
    answer = request(address, DescribeConfigsRequest(resources=[
        DescribeConfigsRequest.DescribeConfigsResource(resource_type=TOPIC, resource_name=n, configuration_keys=keys)
        for n in names]), 4)
    assert all(r.error_code == 0 for r in answer.results)
    return {r.resource_name: {c.name: c.value for c in r.configs} for r in answer.results}


def seen_as(found: dict[str, Any], want: Any) -> dict[str, Any] | None:
    """``found`` once it names every topic of ``want`` (then compared in full), else None."""
    return found if set(found) >= set(want) else None


def caught_up(cluster: Cluster, leader: int) -> Any | None:
    """The leader's DescribeQuorum once every voter's log ends at the high watermark."""
    partition = leader_answer(controller_address(cluster.nodes[leader]))
    if partition is None or partition.leader_id != leader:
        return None
    if all(v.log_end_offset == partition.high_watermark for v in partition.current_voters):
        return partition
    return None


def metadata_dir(node: Any) -> str:
    return os.path.join(node.directory, "metadata")


def snapshot_files(node: Any) -> set[str]:
    directory = os.path.join(metadata_dir(node), f"{METADATA_TOPIC}-0")
    return {name for name in os.listdir(directory) if parse_snapshot_file_name(name) is not None}


def committed_entries(node: Any, end: int) -> tuple[int, list[Any]]:
    """(log start offset, the entries before ``end``) of a stopped node's metadata log."""
    log = FileRaftLog.open(metadata_dir(node))
    try:
        return log.log_start_offset, list(log.read(log.log_start_offset, end))
    finally:
        log.close()


def check_describe_quorum(partition: Any, answer: Any, version: int, leader: int, voters: dict[int, int],
                          since_ms: int) -> None:
    """DescribeQuorum field by field, as Kafka's leader fills it (``RaftUtil``)."""
    now_ms = int(time.time() * 1000)
    assert (answer.error_code, answer.topics[0].topic_name) == (0, METADATA_TOPIC)
    assert (partition.partition_index, partition.error_code, partition.leader_id) == (0, 0, leader)
    assert partition.leader_epoch >= 1
    assert partition.high_watermark > 0
    assert sorted(v.replica_id for v in partition.current_voters) == sorted(voters)
    leader_end = {v.replica_id: v for v in partition.current_voters}[leader].log_end_offset
    assert leader_end >= partition.high_watermark
    for voter in partition.current_voters:
        assert bytes(voter.replica_directory_id) == ZERO_UUID
        assert 0 < voter.log_end_offset <= leader_end  # lag = leader_end - log_end_offset >= 0
        if version == 0:  # the timestamps came with v1
            assert (voter.last_fetch_timestamp, voter.last_caught_up_timestamp) == (-1, -1)
        else:  # wall-clock milliseconds, as Kafka's tools read them
            assert since_ms <= voter.last_caught_up_timestamp <= voter.last_fetch_timestamp <= now_ms
    assert list(partition.observers) == []  # every node is a voter
    if version >= 2:  # KIP-853: the voters' endpoints
        assert sorted((n.node_id, [(e.name, e.host, e.port) for e in n.listeners]) for n in answer.nodes) == [
            (i, [("CONTROLLER", "127.0.0.1", port)]) for i, port in sorted(voters.items())]
    else:
        assert list(answer.nodes) == []


TOPICS = {"alpha": (3, {"cleanup.policy": "compact"}), "beta": (1, {}), "gamma": (2, {"retention.ms": "3600000"})}
ALTERED = {"alpha": {"retention.ms": "123456"}, "beta": {"max.message.bytes": "54321"}}
EXPECTED_CONFIGS = {
    "alpha": {"cleanup.policy": "compact", "retention.ms": "123456", "max.message.bytes": "1048588"},
    "beta": {"cleanup.policy": "delete", "retention.ms": "604800000", "max.message.bytes": "54321"},
    "gamma": {"cleanup.policy": "delete", "retention.ms": "3600000", "max.message.bytes": "1048588"},
}
CONFIG_KEYS = ["cleanup.policy", "retention.ms", "max.message.bytes"]


def test_leader_killed_new_leader_elected_and_metadata_intact(tmp_path: Path) -> None:
    started_ms = int(time.time() * 1000)
    with Cluster(3, QUORUM_CONFIG, data_dir=str(tmp_path), timeout_s=30) as cluster:
        voters = voter_ports(cluster.nodes[1])
        leader, _ = quorum_leader(cluster)
        for version in (0, 1, 2):
            answer = describe_quorum(controller_address(cluster.nodes[leader]), version)
            check_describe_quorum(answer.topics[0].partitions[0], answer, version, leader, voters, started_ms)
        # The other voters answer as Kafka's do (DescribeQuorumResponse.singletonErrorResponse).
        for i in (i for i in cluster.nodes if i != leader):
            other = describe_quorum(controller_address(cluster.nodes[i])).topics[0].partitions[0]
            assert (other.error_code, other.leader_id, other.leader_epoch, other.high_watermark,
                    other.current_voters, other.observers) == (ErrorCode.NOT_LEADER_OR_FOLLOWER, 0, 0, 0, [], [])
        # A broker forwards DescribeQuorum to the active controller (Kafka's KafkaApis).
        for node in cluster.nodes.values():
            answer = describe_quorum(node.bootstrap_servers)
            check_describe_quorum(answer.topics[0].partitions[0], answer, 2, leader, voters, started_ms)

        # Committed metadata: topics and topic configs, through a node that is not the leader.
        follower = cluster.nodes[next(i for i in cluster.nodes if i != leader)].bootstrap_servers
        create_topics(follower, TOPICS)
        alter_topic_configs(follower, ALTERED)
        before = until("every voter caught up", lambda: caught_up(cluster, leader))
        ids = until("the topics on a follower", lambda: seen_as(topics_seen(follower, list(TOPICS)), TOPICS))
        assert {name: count for name, (_, count) in ids.items()} == {n: p for n, (p, _) in TOPICS.items()}

        # SIGKILL the leader: the others elect one of themselves in a higher epoch.
        killed_at = time.monotonic()
        cluster.kill_node(leader)
        new_leader, after = quorum_leader(cluster)
        elapsed_ms = (time.monotonic() - killed_at) * 1000
        print(f"\nnew leader {new_leader} (epoch {before.leader_epoch} -> {after.leader_epoch}) "
              f"{elapsed_ms:.0f} ms after SIGKILL of leader {leader} "
              f"(election timeout {ELECTION_TIMEOUT_MS} ms, fetch timeout {FETCH_TIMEOUT_MS} ms)")
        assert new_leader != leader
        assert after.leader_epoch > before.leader_epoch
        # A new leader knows its high watermark (-1 until then, as in Kafka) once an entry
        # of its own epoch is committed.
        after = until("the new leader's high watermark", lambda: hw_at_least(cluster, new_leader, before.high_watermark))
        # Generous bound (not a performance figure): detection takes the fetch timeout,
        # an election up to twice the election timeout, all within ten times that.
        assert elapsed_ms < 10 * (FETCH_TIMEOUT_MS + 2 * ELECTION_TIMEOUT_MS)
        # The survivors' brokers forward to the new leader and agree with it.
        survivors = [i for i in cluster.nodes if i != leader]
        for i in survivors:
            forwarded = until("the new leader through a broker", lambda i=i: leader_answer(
                cluster.nodes[i].bootstrap_servers))
            assert (forwarded.leader_id, forwarded.leader_epoch) == (new_leader, after.leader_epoch)
            assert sorted(v.replica_id for v in forwarded.current_voters) == [1, 2, 3]
            dead = {v.replica_id: v for v in forwarded.current_voters}[leader]
            assert dead.log_end_offset == -1  # the new leader never heard from it
            # A follower applies what is committed once a fetch tells it the high watermark.
            address = cluster.nodes[i].bootstrap_servers
            assert until("the topics on a survivor", lambda a=address: seen_as(topics_seen(a, list(TOPICS)), ids)) == ids
            assert topic_configs(address, list(TOPICS), CONFIG_KEYS) == EXPECTED_CONFIGS
        # The new leader takes writes.
        create_topics(cluster.nodes[survivors[0]].bootstrap_servers, {"delta": (1, {})})

        # The killed node comes back as a follower with everything.
        cluster.restart_node(leader)
        back = cluster.nodes[leader].bootstrap_servers
        seen = until("the restarted node's image", lambda: seen_as(topics_seen(back, [*TOPICS, "delta"]),
                                                                   {*TOPICS, "delta"}))
        assert {n: v for n, v in seen.items() if n in TOPICS} == ids
        assert topic_configs(back, list(TOPICS), CONFIG_KEYS) == EXPECTED_CONFIGS
        final = until("every voter caught up after the restart", lambda: caught_up(cluster, new_leader))
        assert final.leader_epoch == after.leader_epoch  # the returning node did not disrupt the quorum

        # The committed log is the same on every node, and it kept every record of before the kill.
        for node_id in cluster.nodes:
            cluster.stop_node(node_id)
        logs = {i: committed_entries(n, final.high_watermark) for i, n in cluster.nodes.items()}
    assert {start for start, _ in logs.values()} == {0}
    entries = logs[leader][1]
    assert len(entries) == final.high_watermark
    assert all(other == entries for _, other in logs.values())
    records = [decode_record(e.value) for e in entries if isinstance(e.value, bytes)]
    assert {r.name for r in records if isinstance(r, TopicRecord)} == {*TOPICS, "delta"}
    altered = {(r.resource_name, r.name, r.value) for r in records if isinstance(r, ConfigRecord)}
    assert {(t, k, v) for t, kv in ALTERED.items() for k, v in kv.items()} <= altered
    assert ("alpha", "cleanup.policy", "compact") in altered
    assert max(e.epoch for e in entries) == after.leader_epoch


SNAPSHOT_BYTES = 2048


def snapshot_offset(node: Any) -> int:
    """The end offset of the node's latest snapshot (0 if none)."""
    return max((parse_snapshot_file_name(name).offset for name in snapshot_files(node)), default=0)  # type: ignore[union-attr]


def image_seen(address: str, names: list[str]) -> dict[str, Any]:
    """What a node's Metadata says of ``names``: id, and per partition leader, replicas, ISR."""
    answer = request(address, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=n) for n in names],
                                              allow_auto_topic_creation=False), 12)
    return {t.name: (t.error_code, bytes(t.topic_id), sorted(
        (p.partition_index, p.leader_id, list(p.replica_nodes), list(p.isr_nodes)) for p in t.partitions))
        for t in answer.topics}


def test_follower_behind_the_log_start_catches_up_by_fetch_snapshot(tmp_path: Path) -> None:
    config = {**QUORUM_CONFIG, "metadata.log.max.record.bytes.between.snapshots": str(SNAPSHOT_BYTES)}
    with Cluster(3, config, data_dir=str(tmp_path), timeout_s=30) as cluster:
        leader, _ = quorum_leader(cluster)
        address = cluster.nodes[leader].bootstrap_servers
        create_topics(address, {"first": (1, {})})
        until("every voter caught up", lambda: caught_up(cluster, leader))
        follower_id = next(i for i in cluster.nodes if i != leader)
        follower = cluster.nodes[follower_id]
        cluster.kill_node(follower_id)
        # The leader's log end bounds what the follower had.
        described = leader_answer(controller_address(cluster.nodes[leader]))
        assert described is not None and described.leader_id == leader
        follower_end = {v.replica_id: v for v in described.current_voters}[leader].log_end_offset
        snapshots_before = snapshot_files(follower)

        # Metadata records until both survivors have snapshotted past the follower's
        # log end and deleted the log before their snapshots.
        names: list[str] = ["first"]
        survivors = [cluster.nodes[i] for i in cluster.nodes if i != follower_id]
        while min(snapshot_offset(n) for n in survivors) <= follower_end:
            batch = {f"topic-{len(names) + i:03d}": (2, {"retention.ms": str(60000 + len(names) + i)}) for i in range(5)}
            create_topics(address, batch)
            names += batch
            assert len(names) < 400, "no snapshot past the stopped follower's log end"
        until("the survivors caught up", lambda: caught_up_among(cluster, leader, survivors))
        for node in survivors:
            assert snapshot_offset(node) > follower_end
        print(f"\n{len(names)} topics; follower {follower_id} ended at offset {follower_end}, the survivors' "
              f"snapshots end at {[snapshot_offset(n) for n in survivors]}")

        restarted_at = time.monotonic()
        cluster.restart_node(follower_id)
        final = until("the restarted follower caught up", lambda: caught_up(cluster, leader), timeout_s=30)
        print(f"follower {follower_id} caught up to offset {final.high_watermark} "
              f"{(time.monotonic() - restarted_at) * 1000:.0f} ms after its restart began")
        assert final.leader_id == leader
        assert re.search(r"snapshot OffsetAndEpoch\(offset=\d+, epoch=\d+\) fetched from the leader",
                         follower.output()), follower.output()
        fetched = snapshot_files(follower) - snapshots_before
        assert fetched and all(parse_snapshot_file_name(n).offset > follower_end for n in fetched)  # type: ignore[union-attr]

        # The follower's image is the leader's: every topic, partition and config.
        leader_image = image_seen(address, names)
        assert all(code == 0 for code, _, _ in leader_image.values())
        assert until("the follower's image", lambda: image_seen(follower.bootstrap_servers, names)
                     if image_seen(follower.bootstrap_servers, names) == leader_image else None)
        keys = ["retention.ms", "cleanup.policy"]
        assert topic_configs(follower.bootstrap_servers, names, keys) == topic_configs(address, names, keys)

        for node_id in cluster.nodes:
            cluster.stop_node(node_id)
        start, _ = committed_entries(follower, final.high_watermark)
    # The records between the follower's old log end and the snapshot never reached its log.
    assert start > follower_end


def caught_up_among(cluster: Cluster, leader: int, nodes: list[Any]) -> Any | None:
    """The leader's DescribeQuorum once ``nodes`` end at the high watermark."""
    partition = leader_answer(controller_address(cluster.nodes[leader]))
    if partition is None or partition.leader_id != leader:
        return None
    ends = {v.replica_id: v.log_end_offset for v in partition.current_voters}
    return partition if all(ends[n.node_id] == partition.high_watermark for n in nodes) else None
