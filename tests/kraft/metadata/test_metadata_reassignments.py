"""Partition reassignment in the controller, image in, records out (Kafka's
ReplicationControlManager.alterPartitionReassignments / listPartitionReassignments,
PartitionReassignmentReplicas, PartitionReassignmentRevert), and its completion through
AlterPartition."""

from __future__ import annotations

import pytest

from kafkapy.config import log_config_name
from kafkapy.kraft.metadata.cluster_control import BrokerHeartbeatRequest
from kafkapy.kraft.metadata.configuration_control import AlterConfigOp, ConfigChange, ConfigResource
from kafkapy.kraft.metadata.image import ConfigResourceType
from kafkapy.kraft.metadata.partition_change import maybe_complete_reassignment, reassignment_targets
from kafkapy.kraft.metadata.reassignments import (
    OngoingReassignment,
    PartitionReassignment,
    list_partition_reassignments,
)
from kafkapy.kraft.metadata.replication_control import NewTopic, PartitionStateChange
from kafkapy.wire.error_codes import ErrorCode as E

UNCLEAN = log_config_name("unclean_leader_election_enable")


@pytest.fixture
def epochs(cluster):
    return {b: cluster.add_broker(b) for b in (1, 2, 3)}


def make_topic(cluster, assignments: dict, name: str = "t") -> bytes:
    [res] = cluster.run(cluster.controller.create_topics(cluster.image, [NewTopic(name, assignments=assignments)]))
    assert res.error.code == E.NONE, res
    return res.topic_id


def reassign(cluster, *targets, topic: str = "t", allow_rf_change: bool = True, commit: bool = True):
    """Reassign partitions of ``topic``: (index, replicas or None) pairs; the errors."""
    request = [(topic, [PartitionReassignment(i, r) for i, r in targets])]
    result = cluster.controller.alter_partition_reassignments(
        cluster.image, request, allow_replication_factor_change=allow_rf_change)
    if commit:
        cluster.commit(result.records)
    [topic_result] = result.response
    return [(e.code, e.message) for _, e in topic_result.partitions], result.records


def alter_isr(cluster, epochs, tid, leader, isr, *, version=3):
    p = cluster.image.topics_by_id[tid].partitions[0]
    error, [r] = cluster.run(cluster.controller.alter_partition(cluster.image, leader, epochs[leader], {
        tid: [PartitionStateChange(0, p.leader_epoch, isr, p.partition_epoch)]}, version=version))
    assert error.code == E.NONE
    return r


def test_replica_set_math():
    assert reassignment_targets([1, 2, 3], [4, 3, 1]) == ([4, 3, 1, 2], [4], [2])
    assert maybe_complete_reassignment([4, 3, 1, 2], [4], [2], [1, 2, 3]) is None  # 4 not caught up
    done = maybe_complete_reassignment([4, 3, 1, 2], [4], [2], [1, 2, 3, 4])
    assert (done.replicas, done.isr) == ((4, 3, 1), (1, 3, 4))
    assert maybe_complete_reassignment([2, 1], [2], [1], [1]) is None  # the ISR would be empty
    assert maybe_complete_reassignment([1, 2], [], [], [1, 2]) is None  # nothing in progress


@pytest.mark.parametrize("version, answer", [(3, E.NEW_LEADER_ELECTED), (1, E.FENCED_LEADER_EPOCH)])
def test_move_a_single_replica_completes_when_the_target_joins_the_isr(cluster, epochs, version, answer):
    tid = make_topic(cluster, {0: [1]})
    before = cluster.image.partition("t", 0)
    errors, [record] = reassign(cluster, (0, [2]))
    assert errors == [(E.NONE, None)]
    assert (record.replicas, record.adding_replicas, record.removing_replicas, record.isr, record.leader) == (
        [2, 1], [2], [1], None, -2)
    p = cluster.image.partition("t", 0)
    assert (p.replicas, p.isr, p.leader, p.leader_epoch) == ((2, 1), (1,), 1, before.leader_epoch)
    assert list_partition_reassignments(cluster.image, None) == [("t", [OngoingReassignment(0, (2, 1), (2,), (1,))])]
    assert list_partition_reassignments(cluster.image, [("t", [1]), ("nope", [0])]) == []

    # the leader (1) adds the caught-up replica 2: the reassignment completes, 1 leaves
    r = alter_isr(cluster, epochs, tid, 1, [1, 2], version=version)
    assert r.error.code == answer
    p = cluster.image.partition("t", 0)
    assert (p.replicas, p.isr, p.leader, p.adding_replicas, p.removing_replicas) == ((2,), (2,), 2, (), ())
    assert p.leader_epoch == before.leader_epoch + 1
    assert list_partition_reassignments(cluster.image, None) == []
    assert not cluster.controller.leaders.imbalanced


def test_adding_a_replica_keeps_the_leader(cluster, epochs):
    tid = make_topic(cluster, {0: [1]})
    errors, _ = reassign(cluster, (0, [1, 2]))
    assert errors == [(E.NONE, None)]
    p = cluster.image.partition("t", 0)
    assert (p.replicas, p.adding_replicas, p.removing_replicas) == ((1, 2), (2,), ())
    r = alter_isr(cluster, epochs, tid, 1, [1, 2])
    assert (r.error.code, r.leader_id, r.isr) == (E.NONE, 1, (1, 2))
    p = cluster.image.partition("t", 0)
    assert (p.replicas, p.isr, p.adding_replicas, p.leader_epoch) == ((1, 2), (1, 2), (), 0)


def test_reorder_and_shrink_complete_at_once(cluster, epochs):
    make_topic(cluster, {0: [1, 2, 3], 1: [1, 2, 3]})
    errors, records = reassign(cluster, (0, [2, 1, 3]), (1, [2, 3]))
    assert errors == [(E.NONE, None), (E.NONE, None)]
    reorder, shrink = records
    assert (reorder.replicas, reorder.leader, reorder.adding_replicas, reorder.removing_replicas) == (
        [2, 1, 3], -2, None, None)
    p0, p1 = cluster.image.partition("t", 0), cluster.image.partition("t", 1)
    assert (p0.replicas, p0.leader, p0.leader_epoch) == ((2, 1, 3), 1, 0)
    assert (p1.replicas, p1.isr, p1.leader, p1.adding_replicas, p1.removing_replicas) == ((2, 3), (2, 3), 2, (), ())
    # same replicas again: nothing to write
    errors, records = reassign(cluster, (0, [2, 1, 3]))
    assert errors == [(E.NONE, None)] and records == []


def test_removing_a_replica_bumps_the_leader_epoch(cluster, epochs):
    make_topic(cluster, {0: [1, 2, 3]})
    _, [record] = reassign(cluster, (0, [1, 2]))
    assert record.leader == 1  # the same leader again: a new leader epoch fences 3's fetches
    p = cluster.image.partition("t", 0)
    assert (p.replicas, p.isr, p.leader, p.leader_epoch) == ((1, 2), (1, 2), 1, 1)


def test_directories_follow_the_replicas(cluster, make_registration):
    c = cluster.controller
    cluster.add_broker(1)
    directory = b"\x42" * 16
    epoch = cluster.run(c.register_broker(cluster.image, make_registration(2, log_dirs=[directory]), 0)).broker_epoch
    cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(2, epoch, cluster.image.offset), 0))
    make_topic(cluster, {0: [1]})
    old = cluster.image.partition("t", 0).directories
    reassign(cluster, (0, [2]))
    assert cluster.image.partition("t", 0).directories == (directory,) + old


def test_cancel_reverts(cluster, epochs):
    make_topic(cluster, {0: [1]})
    assert reassign(cluster, (0, None))[0] == [(E.NO_REASSIGNMENT_IN_PROGRESS, None)]
    reassign(cluster, (0, [2, 3]))
    p = cluster.image.partition("t", 0)
    assert (p.replicas, p.adding_replicas, p.removing_replicas) == ((2, 3, 1), (2, 3), (1,))
    errors, [record] = reassign(cluster, (0, None))
    assert errors == [(E.NONE, None)]
    p = cluster.image.partition("t", 0)
    assert (p.replicas, p.isr, p.leader, p.adding_replicas, p.removing_replicas) == ((1,), (1,), 1, (), ())


def test_new_target_while_one_is_in_progress(cluster, epochs):
    make_topic(cluster, {0: [1]})
    reassign(cluster, (0, [2]))
    reassign(cluster, (0, [3]))
    p = cluster.image.partition("t", 0)
    # Kafka starts from the current replica set, which holds the first target too
    assert (p.replicas, p.adding_replicas, p.removing_replicas) == ((3, 1, 2), (3,), (1, 2))


def test_cancel_needing_an_unclean_election(cluster, epochs):
    """The ISR holds only an adding replica (1 was fenced and 2 elected uncleanly):
    reverting needs unclean.leader.election.enable on the topic."""
    c = cluster.controller
    make_topic(cluster, {0: [1]})
    reassign(cluster, (0, [2]))

    def set_unclean(value: str) -> None:
        [res] = cluster.run(c.incremental_alter_configs(cluster.image, [(
            ConfigResource(ConfigResourceType.TOPIC, "t"), [ConfigChange(UNCLEAN, AlterConfigOp.SET, value)])]))
        assert res.error.code == E.NONE

    set_unclean("true")
    cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epochs[1], cluster.image.offset,
                                                                         want_fence=True), 0))
    p = cluster.image.partition("t", 0)
    assert (p.replicas, p.isr, p.leader, p.adding_replicas) == ((2, 1), (2,), 2, (2,))
    set_unclean("false")
    assert reassign(cluster, (0, None), commit=False)[0] == [(
        E.INVALID_REPLICA_ASSIGNMENT,
        "Unable to revert partition assignment for t:0 because it would require an unclean leader election.")]
    set_unclean("true")
    errors, _ = reassign(cluster, (0, None))
    assert errors == [(E.NONE, None)]
    p = cluster.image.partition("t", 0)
    assert (p.replicas, p.isr, p.adding_replicas, p.removing_replicas) == ((1,), (1,), (), ())


def test_reassignment_errors(cluster, epochs):
    make_topic(cluster, {0: [1, 2]})
    errors, records = reassign(cluster, (0, [1, 9]), (0, []), (0, [2, 2]), (5, [1]), commit=False)
    assert records == []
    assert errors == [
        (E.INVALID_REPLICA_ASSIGNMENT,
         "The manual partition assignment includes broker 9, but no such broker is registered."),
        (E.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes an empty replica list."),
        (E.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes the broker 2 more than once."),
        (E.UNKNOWN_TOPIC_OR_PARTITION, "Unable to find partition t:5."),
    ]
    assert reassign(cluster, (0, [1]), topic="nope", commit=False)[0] == [
        (E.UNKNOWN_TOPIC_OR_PARTITION, "Unable to find a topic named nope.")]
    # KIP-860: the replication factor may not change when the request says so
    assert reassign(cluster, (0, [1, 2, 3]), allow_rf_change=False, commit=False)[0] == [
        (E.INVALID_REPLICATION_FACTOR, "The replication factor is changed from 2 to 3")]
    assert reassign(cluster, (0, [3, 1]), allow_rf_change=False)[0] == [(E.NONE, None)]
    # in progress: the replication factor is that of the target being reached
    assert reassign(cluster, (0, [3, 1, 2]), allow_rf_change=False, commit=False)[0] == [
        (E.INVALID_REPLICATION_FACTOR, "The replication factor is changed from 2 to 3")]
