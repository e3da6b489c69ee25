"""StreamsGroupHeartbeat and StreamsGroupDescribe against a running kafkapy broker over TCP.

A member joins with a topology whose changelog topic does not exist: the coordinator
answers MISSING_INTERNAL_TOPICS and creates it with the topology's configs; the next
heartbeat gets every task. A second member joins: the first gives tasks up before the
second gets them (revocation first), both end at the same epoch with disjoint tasks.
Offsets are committed with the member epoch (a stale one is refused), the group is
listed as ``streams``, survives a broker restart (records replayed), and is deleted
once empty.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from kafkapy.testing.broker import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.delete_groups import DeleteGroupsRequest
from kafkapy.wire.messages.describe_configs import DescribeConfigsRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.list_groups import ListGroupsRequest
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest
from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeRequest
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest as Q

MISSING_SOURCE_TOPICS, MISSING_INTERNAL_TOPICS, SHUTDOWN_APPLICATION = 1, 3, 4


def _topology(source: str, changelog: str) -> Q.Topology:
    return Q.Topology(epoch=0, subtopologies=[Q.Subtopology(
        subtopology_id="0", source_topics=[source],
        state_changelog_topics=[Q.TopicInfo(name=changelog, topic_configs=[
            Q.KeyValue(key="cleanup.policy", value="compact")])])])


def _join(conn: KafkaConnection, group: str, member: str, topology: Q.Topology, process: str) -> Any:
    return conn.request(Q(group_id=group, member_id=member, member_epoch=0, rebalance_timeout_ms=30000,
                          topology=topology, process_id=process, active_tasks=[], standby_tasks=[],
                          warmup_tasks=[]), 1)


def _beat(conn: KafkaConnection, group: str, member: str, epoch: int, active: Any = None) -> Any:
    tasks = None if active is None else [Q.TaskIds(subtopology_id=s, partitions=sorted(ps))
                                         for s, ps in sorted(active.items()) if ps]
    return conn.request(Q(group_id=group, member_id=member, member_epoch=epoch, active_tasks=tasks,
                          standby_tasks=None if active is None else [],
                          warmup_tasks=None if active is None else []), 1)


def _tasks(response_tasks: Any) -> dict[str, set[int]]:
    return {t.subtopology_id: set(t.partitions) for t in response_tasks or []}


def _coordinator_ready(conn: KafkaConnection, group: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = conn.request(FindCoordinatorRequest(key_type=0, coordinator_keys=[group]), 4)
        if r.coordinators[0].error_code == ErrorCode.NONE:
            return
        time.sleep(0.2)
    pytest.fail("no group coordinator")


@pytest.fixture
def broker(tmp_path: Any) -> Any:
    with Broker({"log.dirs": str(tmp_path)}, memory=False) as b:
        yield b


def test_join_internal_topics_revocation_commit_list_restart_delete(broker: Broker) -> None:
    source, group = f"words-{uuid.uuid4().hex[:6]}", f"app-{uuid.uuid4().hex[:6]}"
    changelog = f"{group}-counts-changelog"
    topology = _topology(source, changelog)
    with KafkaConnection(broker.bootstrap_servers) as conn:
        _coordinator_ready(conn, group)
        r = _join(conn, group, "m1", topology, "p1")
        assert r.error_code == ErrorCode.NONE
        assert [s.status_code for s in r.status] == [MISSING_SOURCE_TOPICS]
        assert r.member_epoch == 2 and _tasks(r.active_tasks) == {}  # a new group starts at 1, as Kafka 4.4
        broker.create_topics(source, partitions=4)
        deadline, epoch = time.monotonic() + 30, r.member_epoch
        codes = []
        while time.monotonic() < deadline:
            r = _beat(conn, group, "m1", epoch)
            assert r.error_code == ErrorCode.NONE
            epoch = r.member_epoch
            codes.append([s.status_code for s in r.status])
            if r.active_tasks:
                break
            time.sleep(0.2)
        assert [MISSING_INTERNAL_TOPICS] in codes  # the changelog was missing, then created
        assert _tasks(r.active_tasks) == {"0": {0, 1, 2, 3}} and r.status == []
        assert broker.topics()[changelog] == 4
        configs = conn.request(DescribeConfigsRequest(resources=[DescribeConfigsRequest.DescribeConfigsResource(
            resource_type=2, resource_name=changelog, configuration_keys=["cleanup.policy"])]), 4)
        assert configs.results[0].configs[0].value == "compact"
        m1_epoch = epoch

        # A second member: m1 must revoke two tasks before m2 gets them.
        r2 = _join(conn, group, "m2", topology, "p2")
        assert r2.error_code == ErrorCode.NONE and _tasks(r2.active_tasks) == {}
        m2_epoch = r2.member_epoch
        r1 = _beat(conn, group, "m1", m1_epoch)
        kept = _tasks(r1.active_tasks)
        assert r1.member_epoch == m1_epoch and len(kept["0"]) == 2  # revoke first, same epoch
        r2 = _beat(conn, group, "m2", m2_epoch)
        assert _tasks(r2.active_tasks) == {}  # not released yet
        r1 = _beat(conn, group, "m1", m1_epoch, kept)  # m1 says it owns only the kept tasks
        assert r1.member_epoch > m1_epoch
        m1_epoch = r1.member_epoch
        r2 = _beat(conn, group, "m2", r2.member_epoch)
        assert r2.member_epoch == m1_epoch
        assert _tasks(r2.active_tasks)["0"] == {0, 1, 2, 3} - kept["0"]
        m2_epoch = r2.member_epoch

        d = conn.request(StreamsGroupDescribeRequest(group_ids=[group]), 0).groups[0]
        assert d.error_code == ErrorCode.NONE and d.group_state == "Stable"
        assert d.group_epoch == d.assignment_epoch == m1_epoch
        assert [m.member_id for m in d.members] == ["m1", "m2"]
        assert d.topology.subtopologies[0].source_topics == [source]
        assert d.topology.subtopologies[0].state_changelog_topics[0].name == changelog

        # Offsets committed with the member epoch; an older epoch only for tasks held
        # since then (each task's assignment epoch), as Kafka 4.4.
        def commit(member: str, epoch: int, partition: int) -> int:
            C = OffsetCommitRequest
            resp = conn.request(C(group_id=group, generation_id_or_member_epoch=epoch, member_id=member,
                                  topics=[C.OffsetCommitRequestTopic(name=source, partitions=[
                                      C.OffsetCommitRequestPartition(partition_index=partition,
                                                                     committed_offset=5)])]), 9)
            return resp.topics[0].partitions[0].error_code

        old, moved = min(kept["0"]), min({0, 1, 2, 3} - kept["0"])
        assert commit("m1", m1_epoch, old) == ErrorCode.NONE
        assert commit("m1", m1_epoch - 1, old) == ErrorCode.NONE  # m1 has held it since before
        assert commit("m2", m2_epoch - 1, moved) == ErrorCode.STALE_MEMBER_EPOCH  # m2 got it at m2_epoch
        assert commit("m1", m1_epoch - 1, moved) == ErrorCode.STALE_MEMBER_EPOCH  # m1 no longer holds it
        assert commit("m1", m1_epoch + 1, old) == ErrorCode.STALE_MEMBER_EPOCH
        assert commit("nobody", m1_epoch, old) == ErrorCode.UNKNOWN_MEMBER_ID

        listed = conn.request(ListGroupsRequest(types_filter=["streams"]), 5).groups
        assert [(g.group_id, g.group_type, g.group_state) for g in listed] == [(group, "streams", "Stable")]
        assert conn.request(DeleteGroupsRequest(groups_names=[group]), 2).results[0].error_code \
            == ErrorCode.NON_EMPTY_GROUP

    broker.stop()
    broker.start()
    with KafkaConnection(broker.bootstrap_servers) as conn:
        _coordinator_ready(conn, group)
        d = conn.request(StreamsGroupDescribeRequest(group_ids=[group]), 0).groups[0]
        assert d.error_code == ErrorCode.NONE and d.group_epoch == m1_epoch
        assert {m.member_id: _tasks(m.assignment.active_tasks) for m in d.members} == {
            "m1": kept, "m2": {"0": {0, 1, 2, 3} - kept["0"]}}
        assert broker.committed_offsets(group) == {(source, old): 5}
        for member, epoch in (("m1", m1_epoch), ("m2", m2_epoch)):
            assert _beat(conn, group, member, -1).error_code == ErrorCode.NONE
        d = conn.request(StreamsGroupDescribeRequest(group_ids=[group]), 0).groups[0]
        assert d.group_state == "Empty" and d.members == []
        assert conn.request(DeleteGroupsRequest(groups_names=[group]), 2).results[0].error_code == ErrorCode.NONE
        d = conn.request(StreamsGroupDescribeRequest(group_ids=[group]), 0).groups[0]
        assert d.error_code == ErrorCode.GROUP_ID_NOT_FOUND
        assert broker.committed_offsets(group) == {}


def test_validation_and_fencing(broker: Broker) -> None:
    group = f"app-{uuid.uuid4().hex[:6]}"
    broker.create_topics("src", partitions=2)
    topology = Q.Topology(epoch=0, subtopologies=[Q.Subtopology(subtopology_id="0", source_topics=["src"])])
    with KafkaConnection(broker.bootstrap_servers) as conn:
        _coordinator_ready(conn, group)
        assert conn.request(Q(group_id=group, member_id="", member_epoch=0), 1).error_code \
            == ErrorCode.INVALID_REQUEST
        no_topology = conn.request(Q(group_id=group, member_id="m", member_epoch=0, rebalance_timeout_ms=1000,
                                     process_id="p"), 1)
        assert no_topology.error_code == ErrorCode.INVALID_REQUEST
        assert _beat(conn, group, "m", 3).error_code == ErrorCode.GROUP_ID_NOT_FOUND  # no such group yet
        r = _join(conn, group, "m", topology, "p")
        assert r.error_code == ErrorCode.NONE and _tasks(r.active_tasks) == {"0": {0, 1}}
        assert _beat(conn, group, "m", r.member_epoch + 5).error_code == ErrorCode.FENCED_MEMBER_EPOCH
        assert _beat(conn, group, "m", r.member_epoch, {"9": {0}}).error_code == ErrorCode.INVALID_REQUEST
        assert _beat(conn, group, "m", r.member_epoch, {"0": {2}}).error_code == ErrorCode.INVALID_REQUEST
        assert _beat(conn, group, "m", r.member_epoch, {"0": {0, 1}}).error_code == ErrorCode.NONE
        newer = Q.Topology(epoch=1, subtopologies=topology.subtopologies)
        assert _beat(conn, group, "x", r.member_epoch).error_code == ErrorCode.UNKNOWN_MEMBER_ID
        assert _join(conn, group, "other", newer, "p2").error_code == ErrorCode.INVALID_REQUEST  # no updates yet
        d = conn.request(StreamsGroupDescribeRequest(group_ids=[group, "nope"]), 1).groups
        assert d[0].error_code == ErrorCode.NONE and d[0].assignor_name == "sticky"
        assert d[1].error_code == ErrorCode.GROUP_ID_NOT_FOUND


def test_a_member_that_does_not_revoke_is_removed_and_shutdown_reaches_everyone(broker: Broker) -> None:
    group = f"app-{uuid.uuid4().hex[:6]}"
    broker.create_topics(f"src-{group}", partitions=2)
    topology = Q.Topology(epoch=0, subtopologies=[Q.Subtopology(subtopology_id="0", source_topics=[f"src-{group}"])])
    with KafkaConnection(broker.bootstrap_servers) as conn:
        _coordinator_ready(conn, group)
        r1 = conn.request(Q(group_id=group, member_id="slow", member_epoch=0, rebalance_timeout_ms=1000,
                            topology=topology, process_id="p1", active_tasks=[], standby_tasks=[],
                            warmup_tasks=[]), 1)
        assert _tasks(r1.active_tasks) == {"0": {0, 1}}
        r2 = _join(conn, group, "m2", topology, "p2")
        assert _tasks(_beat(conn, group, "slow", r1.member_epoch).active_tasks) == {"0": {0}}  # give 1 up
        # "slow" never reports it gave the task up: after its 1 s rebalance timeout it is removed.
        deadline, tasks = time.monotonic() + 30, {}
        while time.monotonic() < deadline and tasks != {"0": {0, 1}}:
            r2 = _beat(conn, group, "m2", r2.member_epoch)
            tasks = _tasks(r2.active_tasks) if r2.active_tasks is not None else tasks
            time.sleep(0.3)
        assert tasks == {"0": {0, 1}}
        d = conn.request(StreamsGroupDescribeRequest(group_ids=[group]), 0).groups[0]
        assert [m.member_id for m in d.members] == ["m2"]
        assert _beat(conn, group, "slow", r1.member_epoch).error_code == ErrorCode.UNKNOWN_MEMBER_ID

        r3 = _join(conn, group, "m3", topology, "p3")
        shutdown = conn.request(Q(group_id=group, member_id="m3", member_epoch=r3.member_epoch,
                                  shutdown_application=True), 1)
        assert SHUTDOWN_APPLICATION in [s.status_code for s in shutdown.status]
        assert SHUTDOWN_APPLICATION in [s.status_code for s in _beat(conn, group, "m2", r2.member_epoch).status]
