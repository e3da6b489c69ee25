"""The same streams-group conversation with kafkapy and with Apache Kafka 4.4, compared.

A raw StreamsGroupHeartbeat client (two members, no Kafka Streams, one standby replica
per stateful task) goes through a
group's life: invalid requests, a join before the source topic exists
(MISSING_SOURCE_TOPICS), the coordinator creating the changelog topic
(MISSING_INTERNAL_TOPICS), the first assignment, a second member and the revocation
before it gets tasks, offset commits with right and stale member epochs,
StreamsGroupDescribe, ListGroups, DescribeGroups and DeleteGroups of the group,
``kafka-streams-groups`` --list and --describe (members, state), leaving.
What each broker answers, with member ids and epochs kept, must be the same.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from typing import Any

from compat_tests.brokers import DEPS, java
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.delete_groups import DeleteGroupsRequest
from kafkapy.wire.messages.describe_groups import DescribeGroupsRequest
from kafkapy.wire.messages.list_groups import ListGroupsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest
from kafkapy.wire.messages.offset_delete import OffsetDeleteRequest
from kafkapy.wire.messages.offset_fetch import OffsetFetchRequest
from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeRequest
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest as Q
from tests.streams_groups.conversation import joiner, wait_for_coordinator
from tests.reference import kafkapy_and_kafka, needs_kafka

VERSION = "4.4.0"
LIBS = DEPS / f"kafka-{VERSION}" / "libs"
#: One partition of __consumer_offsets on both, no initial rebalance delay.
#: One partition of __consumer_offsets and one standby replica per stateful task on both;
#: Kafka computes each assignment at once, in the heartbeat that needs it, as kafkapy
#: does (no initial delay, no assignment interval, not offloaded to another thread).
CONFIG = {"offsets.topic.num.partitions": "1", "group.streams.num.standby.replicas": "1"}
KAFKA_ONLY = {"group.streams.initial.rebalance.delay.ms": "0", "group.streams.assignment.interval.ms": "0",
              "group.streams.assignor.offload.enable": "false"}

pytestmark = needs_kafka(VERSION)


brokers = kafkapy_and_kafka(VERSION, CONFIG, KAFKA_ONLY)


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Kafka 4.4's ``kafka-streams-groups`` (StreamsGroupCommand)."""
    return subprocess.run([java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{LIBS}/*",
                           "org.apache.kafka.tools.streams.StreamsGroupCommand", *args],
                          capture_output=True, text=True, timeout=120)


def _tasks(items: Any) -> Any:
    return None if items is None else {t.subtopology_id: sorted(t.partitions) for t in items}


def _hb(r: Any, base: int = 0) -> dict[str, Any]:
    """A heartbeat answer; member epochs counted from ``base`` (the first join's epoch,
    itself compared apart)."""
    epoch = r.member_epoch - base if r.member_epoch > 0 else r.member_epoch
    return {"error": r.error_code, "epoch": epoch, "status": [s.status_code for s in r.status or []],
            "active": _tasks(r.active_tasks), "standby": _tasks(r.standby_tasks), "warmup": _tasks(r.warmup_tasks),
            "interval": r.heartbeat_interval_ms}


def _scenario(bootstrap: str) -> dict[str, Any]:
    group = f"app-{uuid.uuid4().hex[:6]}"
    source, changelog = f"src-{group}", f"{group}-store-changelog"
    topology = Q.Topology(epoch=0, subtopologies=[Q.Subtopology(
        subtopology_id="0", source_topics=[source],
        state_changelog_topics=[Q.TopicInfo(name=changelog, topic_configs=[
            Q.KeyValue(key="cleanup.policy", value="compact")])])])
    out: dict[str, Any] = {}
    with KafkaConnection(bootstrap, timeout_s=30) as conn:
        deadline = time.monotonic() + 60
        wait_for_coordinator(conn, group, deadline)
        join = joiner(conn, group, topology)

        def beat(member: str, epoch: int, active: Any = None) -> Any:
            tasks = None if active is None else [Q.TaskIds(subtopology_id=s, partitions=ps) for s, ps in
                                                 sorted(active.items())]
            return conn.request(Q(group_id=group, member_id=member, member_epoch=epoch, active_tasks=tasks,
                                  standby_tasks=None if active is None else [],
                                  warmup_tasks=None if active is None else []), 1)

        out["invalid: empty member id"] = conn.request(Q(group_id=group, member_id="", member_epoch=0), 1).error_code
        out["invalid: no topology"] = conn.request(Q(group_id=group, member_id="m1", member_epoch=0,
                                                     rebalance_timeout_ms=1000, process_id="p"), 1).error_code
        # FindCoordinator may answer before the coordinator's partition is loaded (on
        # both brokers): COORDINATOR_LOAD_IN_PROGRESS until then.
        while (unknown := beat("m9", 3).error_code) == 14 and time.monotonic() < deadline:
            time.sleep(0.3)
        out["unknown member"] = unknown
        first = join("m1", "p1")
        base = first.member_epoch
        out["first member epoch"] = base
        out["join, no source topic"] = _hb(first, base)
        out["unknown member of the group"] = beat("m9", first.member_epoch).error_code
        out["fenced epoch"] = beat("m1", first.member_epoch + 7).error_code
        created = conn.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
            name=source, num_partitions=4, replication_factor=1)], timeout_ms=30000), 5)
        assert created.topics[0].error_code == 0
        epoch, beats = first.member_epoch, []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = beat("m1", epoch)
            beats.append(_hb(r, base))
            epoch = r.member_epoch
            if r.active_tasks:
                break
            time.sleep(0.5)
        # MISSING_INTERNAL_TOPICS was seen before the tasks came (Kafka may take a
        # heartbeat longer to see the new source topic).
        out["missing internal topics seen"] = any(3 in b["status"] for b in beats)
        out["assigned"] = beats[-1]
        meta = conn.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=changelog)]), 12)
        out["changelog partitions"] = len(meta.topics[0].partitions)
        m1 = epoch
        r2 = join("m2", "p2")
        out["second join"] = _hb(r2, base)
        r1 = beat("m1", m1)
        out["m1 told to revoke"] = _hb(r1, base)
        kept = _tasks(r1.active_tasks)
        out["m2 before release"] = _hb(beat("m2", r2.member_epoch), base)
        r1 = beat("m1", m1, kept)
        out["m1 after revoking"] = _hb(r1, base)
        out["m2 after release"] = _hb(beat("m2", r2.member_epoch), base)

        def commit(member: str, epoch: int) -> int:
            C = OffsetCommitRequest
            return conn.request(C(group_id=group, generation_id_or_member_epoch=epoch, member_id=member,
                                  topics=[C.OffsetCommitRequestTopic(name=source, partitions=[
                                      C.OffsetCommitRequestPartition(partition_index=0, committed_offset=1)])]),
                                9).topics[0].partitions[0].error_code

        def fetch(member: str | None, epoch: int) -> Any:
            F = OffsetFetchRequest
            g = conn.request(F(groups=[F.OffsetFetchRequestGroup(group_id=group, member_id=member, member_epoch=epoch,
                                                                  topics=None)]), 9).groups[0]
            return g.error_code, [(t.name, p.partition_index, p.committed_offset) for t in g.topics
                                  for p in t.partitions]

        def delete_offsets(topic: str) -> Any:
            D = OffsetDeleteRequest
            r = conn.request(D(group_id=group, topics=[D.OffsetDeleteRequestTopic(name=topic, partitions=[
                D.OffsetDeleteRequestPartition(partition_index=0)])]), 0)
            return r.error_code, [(t.name, p.partition_index, p.error_code) for t in r.topics for p in t.partitions]

        out["commit"] = commit("m1", r1.member_epoch)
        out["fetch, admin"] = fetch(None, -1)
        out["fetch, member epoch"] = fetch("m1", r1.member_epoch)
        out["fetch, stale member epoch"] = fetch("m1", r1.member_epoch - 1)
        out["fetch, unknown member"] = fetch("m9", r1.member_epoch)
        out["offset delete, source topic"] = delete_offsets(source)
        out["offset delete, other topic"] = delete_offsets(changelog)
        out["commit, older epoch of a task held since"] = commit("m1", r1.member_epoch - 1)
        out["commit, newer epoch"] = commit("m1", r1.member_epoch + 1)
        out["commit, unknown member"] = commit("m9", r1.member_epoch)
        d = conn.request(StreamsGroupDescribeRequest(group_ids=[group, "nope"]), 1).groups
        g = d[0]
        out["describe"] = {
            "error": g.error_code, "state": g.group_state, "epoch": g.group_epoch - base,
            "assignment epoch": g.assignment_epoch - base, "assignor": g.assignor_name,
            "topology": None if g.topology is None else (g.topology.epoch, [
                (s.subtopology_id, s.source_topics, s.repartition_sink_topics,
                 [(i.name, i.partitions, i.replication_factor, sorted((c.key, c.value) for c in i.topic_configs))
                  for i in s.state_changelog_topics],
                 [(i.name, i.partitions) for i in s.repartition_source_topics]) for s in g.topology.subtopologies]),
            "members": [(m.member_id, m.member_epoch - base, m.process_id, m.client_host, m.topology_epoch,
                         m.instance_id,
                         m.rack_id, _tasks(m.assignment.active_tasks), _tasks(m.assignment.standby_tasks),
                         _tasks(m.target_assignment.active_tasks), _tasks(m.target_assignment.standby_tasks),
                         m.is_classic) for m in sorted(g.members, key=lambda m: m.member_id)],
            "unknown": (d[1].error_code, d[1].error_message)}
        for name, args in (("tool --list", ["--list"]), ("tool --describe --members", ["--describe", "--members"]),
                           ("tool --describe --state", ["--describe", "--state"])):
            done = _tool("--bootstrap-server", bootstrap, *args, *(["--group", group] if len(args) > 1 else []))
            # The coordinator column names each broker's own address; rows in any order.
            out[name] = (done.returncode, sorted(re.sub(r"127\.0\.0\.1:\d+", "<address>", done.stdout).split("\n"))
                         if name != "tool --list" else group in done.stdout.split())
        listed = conn.request(ListGroupsRequest(types_filter=["streams"]), 5).groups
        out["list"] = [(x.group_id == group, x.protocol_type, x.group_state, x.group_type) for x in listed]
        described = conn.request(DescribeGroupsRequest(groups=[group]), 5).groups[0]
        out["describe groups v5"] = (described.error_code, described.group_state, described.protocol_type)
        v6 = conn.request(DescribeGroupsRequest(groups=[group]), 6).groups[0]
        out["describe groups v6"] = (v6.error_code, v6.group_state, v6.error_message)
        out["delete non-empty"] = conn.request(DeleteGroupsRequest(groups_names=[group]), 2).results[0].error_code
        out["leave m1"] = _hb(beat("m1", -1), base)
        out["leave m2"] = _hb(beat("m2", -1), base)
        out["offset delete, source topic of the empty group"] = delete_offsets(source)
        out["fetch after the delete"] = fetch(None, -1)
        out["delete empty"] = conn.request(DeleteGroupsRequest(groups_names=[group]), 2).results[0].error_code
        out["after delete"] = conn.request(StreamsGroupDescribeRequest(group_ids=[group]), 1).groups[0].error_code
    # Names made of the random group id are compared without it.
    return json.loads(json.dumps(out).replace(group, "<group>"))


def test_streams_group_conversation_matches_kafka_4_4(brokers: dict[str, str]) -> None:
    ours, theirs = _scenario(brokers["kafkapy"]), _scenario(brokers["kafka"])
    differing = {k: (ours[k], theirs.get(k)) for k in ours if ours[k] != theirs.get(k)}
    assert not differing, differing
