"""Elections of the controller, image in, records out: unclean elections driven by the
topic's effective config (Kafka's PartitionChangeBuilder UNCLEAN), ElectLeaders
(ReplicationControlManager.electLeaders) and the periodic preferred-leader balancing
and unclean elections (QuorumController.maybeBalancePartitionLeaders /
maybeElectUncleanLeaders)."""

from __future__ import annotations

import pytest

from kafkapy.config import BrokerConfig, log_config_name
from kafkapy.kraft.metadata.cluster_control import BrokerHeartbeatRequest
from kafkapy.kraft.metadata.configuration_control import AlterConfigOp, ConfigChange, ConfigResource
from kafkapy.kraft.metadata.controller import ControllerConfig
from kafkapy.kraft.metadata.elections import LeaderIndex, balance_partition_leaders
from kafkapy.kraft.metadata.image import ConfigResourceType, LeaderRecoveryState
from kafkapy.kraft.metadata.records import PartitionChangeRecord, PartitionRecord, RemoveTopicRecord
from kafkapy.kraft.metadata.replication_control import NewTopic, PartitionStateChange
from kafkapy.kraft.metadata.topic_configs import TopicConfigView
from kafkapy.wire.error_codes import ErrorCode as E

UNCLEAN = log_config_name("unclean_leader_election_enable")
RECOVERING, RECOVERED = LeaderRecoveryState.RECOVERING, LeaderRecoveryState.RECOVERED
PREFERRED_TYPE, UNCLEAN_TYPE = 0, 1


def make_topic(cluster, name: str, assignments: dict) -> bytes:
    [res] = cluster.run(cluster.controller.create_topics(cluster.image, [NewTopic(name, assignments=assignments)]))
    assert res.error.code == E.NONE, res
    return res.topic_id


def set_config(cluster, resource_type: int, resource: str, name: str, value: str | None) -> None:
    op = AlterConfigOp.SET if value is not None else AlterConfigOp.DELETE
    [res] = cluster.run(cluster.controller.incremental_alter_configs(
        cluster.image, [(ConfigResource(resource_type, resource), [ConfigChange(name, op, value)])]))
    assert res.error.code == E.NONE, res


def fence(cluster, broker_id: int, epoch: int) -> None:
    hb = cluster.run(cluster.controller.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(
        broker_id, epoch, cluster.image.offset, want_fence=True), cluster.now_ms))
    assert hb.is_fenced


def shrink_isr(cluster, topic_id: bytes, leader: int, epoch: int, isr: list[int]) -> None:
    p = cluster.image.topics_by_id[topic_id].partitions[0]
    error, [r] = cluster.run(cluster.controller.alter_partition(cluster.image, leader, epoch, {
        topic_id: [PartitionStateChange(0, p.leader_epoch, isr, p.partition_epoch)]}))
    assert (error.code, r.error.code) == (E.NONE, E.NONE), r


@pytest.fixture
def two_brokers(cluster):
    """Brokers 1 and 2, topic "t" with replicas [1, 2] and its ISR shrunk to [1]."""
    epochs = {b: cluster.add_broker(b) for b in (1, 2)}
    tid = make_topic(cluster, "t", {0: [1, 2]})
    shrink_isr(cluster, tid, 1, epochs[1], [1])
    return epochs, tid


# --- unclean.leader.election.enable ------------------------------------------------------


def test_clean_election_leaves_the_partition_offline(cluster, two_brokers):
    epochs, _ = two_brokers
    fence(cluster, 1, epochs[1])
    p = cluster.image.partition("t", 0)
    assert (p.leader, p.isr, p.leader_recovery_state) == (-1, (1,), RECOVERED)


@pytest.mark.parametrize("where", ["topic", "cluster default", "controller node", "static"])
def test_unclean_election_when_the_isr_is_gone(cluster, two_brokers, where):
    """Broker 2 is outside the ISR: with unclean elections allowed it leads, alone in the
    ISR, RECOVERING (KIP-704), whichever level of config allows it."""
    epochs, _ = two_brokers
    if where == "topic":
        set_config(cluster, ConfigResourceType.TOPIC, "t", UNCLEAN, "true")
    elif where == "cluster default":
        set_config(cluster, ConfigResourceType.BROKER, "", UNCLEAN, "true")
    elif where == "controller node":
        cluster.controller.config = ControllerConfig(topic_configs=TopicConfigView(node_id=2))
        cluster.controller.cluster.topic_configs = cluster.controller.config.topic_configs
        set_config(cluster, ConfigResourceType.BROKER, "2", UNCLEAN, "true")
    else:
        view = TopicConfigView.from_broker_config(BrokerConfig.from_properties({UNCLEAN: "true"}))
        cluster.controller.config = ControllerConfig(topic_configs=view)
        cluster.controller.cluster.topic_configs = view
    before = cluster.image.partition("t", 0)
    fence(cluster, 1, epochs[1])
    p = cluster.image.partition("t", 0)
    assert (p.leader, p.isr, p.leader_recovery_state) == (2, (2,), RECOVERING)
    assert p.leader_epoch == before.leader_epoch + 1


def test_topic_false_overrides_cluster_default(cluster):
    view = TopicConfigView()
    cluster.add_broker(1)
    make_topic(cluster, "t", {0: [1]})
    set_config(cluster, ConfigResourceType.BROKER, "", UNCLEAN, "true")
    assert view.unclean_leader_election(cluster.image, "t")
    set_config(cluster, ConfigResourceType.TOPIC, "t", UNCLEAN, "false")
    assert not view.unclean_leader_election(cluster.image, "t")


def test_recovered_leader_reports_recovery_through_alter_partition(cluster, two_brokers):
    epochs, tid = two_brokers
    set_config(cluster, ConfigResourceType.TOPIC, "t", UNCLEAN, "true")
    fence(cluster, 1, epochs[1])
    p = cluster.image.partition("t", 0)
    c = cluster.controller
    # while RECOVERING, the ISR may hold the leader only; RECOVERED cannot go back
    _, [r] = c.alter_partition(cluster.image, 2, epochs[2], {tid: [PartitionStateChange(
        0, p.leader_epoch, [2, 1], p.partition_epoch, RECOVERING)]}).response
    assert r.error.code == E.INVALID_REQUEST
    _, [r] = cluster.run(c.alter_partition(cluster.image, 2, epochs[2], {tid: [PartitionStateChange(
        0, p.leader_epoch, [2], p.partition_epoch, RECOVERED)]}))
    assert (r.error.code, r.leader_recovery_state) == (E.NONE, RECOVERED)
    p = cluster.image.partition("t", 0)
    assert p.leader_recovery_state == RECOVERED
    _, [r] = c.alter_partition(cluster.image, 2, epochs[2], {tid: [PartitionStateChange(
        0, p.leader_epoch, [2], p.partition_epoch, RECOVERING)]}).response
    assert r.error.code == E.INVALID_REQUEST


def test_unfenced_broker_is_elected_uncleanly_where_allowed(cluster, two_brokers):
    """Both brokers fenced, broker 1 (the ISR) stays away; broker 2 returns: it leads a
    topic that allows unclean elections, not one that does not (handleBrokerUnfenced)."""
    epochs, _ = two_brokers
    make_topic(cluster, "clean", {0: [1, 2]})
    p = cluster.image.partition("clean", 0)
    tid = cluster.image.topic("clean").id
    cluster.run(cluster.controller.alter_partition(cluster.image, 1, epochs[1], {tid: [
        PartitionStateChange(0, p.leader_epoch, [1], p.partition_epoch)]}))
    set_config(cluster, ConfigResourceType.TOPIC, "t", UNCLEAN, "true")
    fence(cluster, 2, epochs[2])
    fence(cluster, 1, epochs[1])
    assert cluster.image.partition("t", 0).leader == -1 and cluster.image.partition("clean", 0).leader == -1
    hb = cluster.run(cluster.controller.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(
        2, epochs[2], cluster.image.offset), cluster.now_ms))
    assert not hb.is_fenced
    t, clean = cluster.image.partition("t", 0), cluster.image.partition("clean", 0)
    assert (t.leader, t.isr, t.leader_recovery_state) == (2, (2,), RECOVERING)
    assert (clean.leader, clean.isr) == (-1, (1,))


def test_periodic_unclean_election_after_the_config_changes(cluster, two_brokers):
    """A topic made unclean after its partition went offline is elected by the periodic
    run (Kafka's maybeElectUncleanLeaders), not before."""
    epochs, _ = two_brokers
    c = cluster.controller
    fence(cluster, 1, epochs[1])
    tid = cluster.image.topic("t").id
    assert (tid, 0) in c.leaders.leaderless
    result = c.elect_unclean_leaders(cluster.image)
    assert result.records == [] and result.response is False
    set_config(cluster, ConfigResourceType.TOPIC, "t", UNCLEAN, "true")
    more = cluster.run(c.elect_unclean_leaders(cluster.image))
    assert more is False
    p = cluster.image.partition("t", 0)
    assert (p.leader, p.isr, p.leader_recovery_state) == (2, (2,), RECOVERING)
    assert not c.leaders.leaderless


# --- ElectLeaders ----------------------------------------------------------------------


def move_leadership_to_2(cluster, epochs, tid):
    """Leader 1 of [1, 2] is fenced and comes back; 2 leads and takes 1 back in the ISR."""
    fence(cluster, 1, epochs[1])
    assert cluster.image.partition("t", 0).leader == 2
    cluster.run(cluster.controller.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(
        1, epochs[1], cluster.image.offset), cluster.now_ms))
    shrink_isr(cluster, tid, 2, epochs[2], [2, 1])


def test_elect_preferred_leader(cluster):
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2)}
    tid = make_topic(cluster, "t", {0: [1, 2], 1: [2, 1]})
    reply = c.elect_leaders(cluster.image, PREFERRED_TYPE, [("t", [0, 1, 7]), ("nope", [0])]).response
    assert reply.error.code == E.NONE
    [t, nope] = reply.results
    assert [(i, e.code, e.message) for i, e in t.partitions] == [
        (0, E.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."),
        (1, E.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition."),
        (7, E.UNKNOWN_TOPIC_OR_PARTITION, "No such partition as t-7")]
    assert [(i, e.code, e.message) for i, e in nope.partitions] == [
        (0, E.UNKNOWN_TOPIC_OR_PARTITION, "No such topic as nope")]

    move_leadership_to_2(cluster, epochs, tid)
    before = cluster.image.partition("t", 0)
    assert before.leader == 2 and (tid, 0) in c.leaders.imbalanced
    result = c.elect_leaders(cluster.image, PREFERRED_TYPE, [("t", [0])])
    assert [(i, e.code, e.message) for i, e in result.response.results[0].partitions] == [(0, E.NONE, None)]
    [record] = result.records
    assert (record.leader, record.isr) == (1, None)
    cluster.commit(result.records)
    p = cluster.image.partition("t", 0)
    assert (p.leader, p.leader_epoch, p.isr) == (1, before.leader_epoch + 1, (2, 1))
    assert (tid, 0) not in c.leaders.imbalanced


def test_elect_preferred_leader_not_available(cluster):
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2)}
    tid = make_topic(cluster, "t", {0: [1, 2]})
    fence(cluster, 1, epochs[1])  # 2 leads; 1 is neither active nor in the ISR
    result = c.elect_leaders(cluster.image, PREFERRED_TYPE, [("t", [0])])
    [(_, error)] = result.response.results[0].partitions
    assert (error.code, error.message) == (E.PREFERRED_LEADER_NOT_AVAILABLE, "The preferred leader was not available.")
    assert result.records == []
    # unfenced but not yet back in the ISR: still not available
    cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epochs[1], cluster.image.offset), 0))
    [(_, error)] = c.elect_leaders(cluster.image, PREFERRED_TYPE, [("t", [0])]).response.results[0].partitions
    assert error.code == E.PREFERRED_LEADER_NOT_AVAILABLE
    assert tid


def test_elect_all_partitions_leaves_out_those_not_needed(cluster):
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2)}
    tid = make_topic(cluster, "t", {0: [1, 2], 1: [2, 1]})
    make_topic(cluster, "u", {0: [2]})
    move_leadership_to_2(cluster, epochs, tid)
    result = cluster.run(c.elect_leaders(cluster.image, PREFERRED_TYPE, None))
    by_topic = {r.topic: [(i, e.code) for i, e in r.partitions] for r in result.results}
    assert by_topic == {"t": [(0, E.NONE)], "u": []}
    assert cluster.image.partition("t", 0).leader == 1
    # an empty (not null) list elects nothing
    empty = c.elect_leaders(cluster.image, PREFERRED_TYPE, [])
    assert empty.records == [] and empty.response.results == []


def test_elect_unclean(cluster, two_brokers):
    c = cluster.controller
    epochs, _ = two_brokers
    [(_, error)] = c.elect_leaders(cluster.image, UNCLEAN_TYPE, [("t", [0])]).response.results[0].partitions
    assert error.code == E.ELECTION_NOT_NEEDED  # it has a leader
    fence(cluster, 1, epochs[1])  # topic config false: offline
    assert cluster.image.partition("t", 0).leader == -1
    result = cluster.run(c.elect_leaders(cluster.image, UNCLEAN_TYPE, [("t", [0])]))
    assert [(i, e.code) for i, e in result.results[0].partitions] == [(0, E.NONE)]
    p = cluster.image.partition("t", 0)
    assert (p.leader, p.isr, p.leader_recovery_state) == (2, (2,), RECOVERING)
    fence(cluster, 2, epochs[2])
    [(_, error)] = c.elect_leaders(cluster.image, UNCLEAN_TYPE, [("t", [0])]).response.results[0].partitions
    assert error.code == E.ELIGIBLE_LEADERS_NOT_AVAILABLE


def test_elect_unknown_type(cluster):
    cluster.add_broker(1)
    reply = cluster.controller.elect_leaders(cluster.image, 7, None).response
    assert (reply.error.code, reply.error.message) == (E.INVALID_REQUEST, "Unknown election type 7")


# --- auto.leader.rebalance.enable --------------------------------------------------------


def test_balancing_moves_leaders_back_to_preferred_replicas(cluster):
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2)}
    tid = make_topic(cluster, "t", {0: [1, 2]})
    assert not c.leaders.imbalanced
    move_leadership_to_2(cluster, epochs, tid)
    assert c.leaders.imbalanced == {(tid, 0)}
    more = cluster.run(c.balance_partition_leaders(cluster.image))
    assert more is False and cluster.image.partition("t", 0).leader == 1
    assert not c.leaders.imbalanced
    assert c.balance_partition_leaders(cluster.image).records == []


def test_balancing_skips_partitions_whose_preferred_replica_cannot_lead(cluster):
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2)}
    make_topic(cluster, "t", {0: [1, 2]})
    fence(cluster, 1, epochs[1])
    assert c.leaders.imbalanced
    assert c.balance_partition_leaders(cluster.image).records == []


def test_balancing_stops_at_its_cap(cluster):
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2)}
    make_topic(cluster, "t", {i: [1, 2] for i in range(5)})
    fence(cluster, 1, epochs[1])
    cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epochs[1], cluster.image.offset), 0))
    tid = cluster.image.topic("t").id
    for index, p in cluster.image.topic("t").partitions.items():
        cluster.run(c.alter_partition(cluster.image, 2, epochs[2], {tid: [
            PartitionStateChange(index, p.leader_epoch, [2, 1], p.partition_epoch)]}))
    result = balance_partition_leaders(cluster.image, sorted(c.leaders.imbalanced), max_elections=3)
    assert len(result.records) == 3 and result.response is True


def test_leader_index_follows_records():
    index = LeaderIndex()
    tid = b"\x01" * 16
    index.replay(PartitionRecord(topic_id=tid, partition_id=0, replicas=[1, 2], isr=[1, 2], leader=2))
    assert index.imbalanced == {(tid, 0)} and not index.leaderless
    index.replay(PartitionChangeRecord(topic_id=tid, partition_id=0, leader=-1))
    assert index.leaderless == {(tid, 0)}
    index.replay(PartitionChangeRecord(topic_id=tid, partition_id=0, replicas=[2, 1], leader=2))
    assert not index.imbalanced and not index.leaderless
    index.replay(RemoveTopicRecord(topic_id=tid))
    assert not index.imbalanced and not index._state
