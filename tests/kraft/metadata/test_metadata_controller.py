"""The pure controller, operation by operation, errors included."""

from __future__ import annotations

from kafkapy.kraft.metadata.cluster_control import BrokerHeartbeatRequest
from kafkapy.kraft.metadata.configuration_control import (
    AlterConfigOp,
    ConfigChange,
    ConfigResource,
)
from kafkapy.kraft.metadata.image import (
    METADATA_TOPIC_ID,
    ZERO_UUID,
    ConfigResourceType,
)
from kafkapy.kraft.metadata.records import ProducerIdsRecord
from kafkapy.kraft.metadata.replication_control import (
    NewPartitions,
    NewTopic,
    PartitionStateChange,
)
from kafkapy.wire.error_codes import ErrorCode as E

TOPIC = ConfigResourceType.TOPIC
BROKER = ConfigResourceType.BROKER


def codes(results):
    return [r.error.code for r in results]


# --- CreateTopics -----------------------------------------------------------------------


def test_create_topic_defaults_and_placement(cluster):
    for b in (1, 2, 3):
        cluster.add_broker(b)
    [res] = cluster.run(cluster.controller.create_topics(cluster.image, [NewTopic("orders", 6, 3)]))
    assert res.error.code == E.NONE and (res.num_partitions, res.replication_factor) == (6, 3)
    assert res.topic_id not in (ZERO_UUID, METADATA_TOPIC_ID) and len(res.topic_id) == 16
    topic = cluster.image.topic("orders")
    assert topic.id == res.topic_id and sorted(topic.partitions) == list(range(6))
    leaders = [p.leader for p in topic.partitions.values()]
    for p in topic.partitions.values():
        assert len(set(p.replicas)) == 3 and p.isr == p.replicas and p.leader == p.replicas[0]
        assert (p.leader_epoch, p.partition_epoch) == (0, 0)
    assert sorted(leaders) == [1, 1, 2, 2, 3, 3]  # round robin spreads leaders evenly
    [res] = cluster.run(cluster.controller.create_topics(cluster.image, [NewTopic("d")]))
    assert (res.num_partitions, res.replication_factor) == (1, 1)  # num.partitions, default.replication.factor


def test_create_topic_errors(cluster):
    cluster.add_broker(1)
    cluster.run(cluster.controller.create_topics(cluster.image, [NewTopic("exists"), NewTopic("a.b")]))
    results = cluster.controller.create_topics(cluster.image, [
        NewTopic("exists"), NewTopic(""), NewTopic("."), NewTopic("x" * 250), NewTopic("bad/name"),
        NewTopic("a_b"), NewTopic("zero", 0), NewTopic("rf0", 1, 0), NewTopic("rf2", 1, 2),
        NewTopic("cfg", configs={"cleanup.policy": "shred"}), NewTopic("cfg2", configs={"no.such": "1"}),
        NewTopic("cfg3", configs={"retention.ms": None}), NewTopic("dup"), NewTopic("dup"),
        NewTopic("ok" + "x" * 247),
    ])
    assert codes(results.response) == [
        E.TOPIC_ALREADY_EXISTS, E.INVALID_TOPIC_EXCEPTION, E.INVALID_TOPIC_EXCEPTION,
        E.INVALID_TOPIC_EXCEPTION, E.INVALID_TOPIC_EXCEPTION, E.INVALID_TOPIC_EXCEPTION,
        E.INVALID_PARTITIONS, E.INVALID_REPLICATION_FACTOR, E.INVALID_REPLICATION_FACTOR,
        E.INVALID_CONFIG, E.INVALID_CONFIG, E.INVALID_CONFIG, E.INVALID_REQUEST, E.INVALID_REQUEST,
        E.NONE,
    ]
    assert "collides with existing topic: a.b" in results.response[5].error.message
    # only the valid topic produced records
    assert {type(r).__name__ for r in results.records} == {"TopicRecord", "PartitionRecord"}


def test_create_topic_validate_only_writes_nothing(cluster):
    cluster.add_broker(1)
    result = cluster.controller.create_topics(cluster.image, [NewTopic("v", 2)], validate_only=True)
    assert result.records == [] and result.response[0].error.code == E.NONE
    assert result.response[0].num_partitions == 2


def test_create_topic_with_configs(cluster):
    cluster.add_broker(1)
    [res] = cluster.run(cluster.controller.create_topics(
        cluster.image, [NewTopic("c", configs={"cleanup.policy": "compact", "retention.ms": "1000"})]))
    assert res.configs == {"cleanup.policy": "compact", "retention.ms": "1000"}
    assert cluster.image.topic_configs("c") == {"cleanup.policy": "compact", "retention.ms": "1000"}


def test_create_topic_manual_assignment(cluster):
    for b in (1, 2, 3):
        cluster.add_broker(b)
    c = cluster.controller
    [res] = cluster.run(c.create_topics(cluster.image, [NewTopic("m", assignments={0: [3, 1], 1: [2, 3]})]))
    assert res.error.code == E.NONE and (res.num_partitions, res.replication_factor) == (2, 2)
    assert cluster.image.partition("m", 0).replicas == (3, 1) and cluster.image.partition("m", 0).leader == 3
    bad = c.create_topics(cluster.image, [
        NewTopic("a", assignments={0: [1]}, num_partitions=1),
        NewTopic("b", assignments={0: [1], 2: [2]}),
        NewTopic("c", assignments={0: [1, 1]}),
        NewTopic("d", assignments={0: [9]}),
        NewTopic("e", assignments={0: [1], 1: [1, 2]}),
    ]).response
    assert codes(bad) == [E.INVALID_REQUEST] + [E.INVALID_REPLICA_ASSIGNMENT] * 4
    assert "missing partition 1" in bad[1].error.message


def test_create_topic_with_fenced_brokers(cluster):
    """As Kafka's StripedReplicaPlacer: a registered, fenced broker counts towards the
    replication factor and may hold a follower (outside the ISR), never the leader."""
    cluster.add_broker(1)
    cluster.add_broker(2, unfence=False)
    [res] = cluster.run(cluster.controller.create_topics(cluster.image, [NewTopic("t", 2, 2)]))
    assert res.error.code == E.NONE
    assert all((p.replicas, p.isr, p.leader) == ((1, 2), (1,), 1)
               for p in cluster.image.topic("t").partitions.values())
    [res] = cluster.controller.create_topics(cluster.image, [NewTopic("u", 1, 3)]).response
    assert (res.error.code, res.error.message) == (
        E.INVALID_REPLICATION_FACTOR, "Unable to replicate the partition 3 time(s): The target "
        "replication factor of 3 cannot be reached because only 2 broker(s) are registered or some brokers "
        "have all their log directories cordoned.")
    [res] = cluster.controller.create_topics(cluster.image, [NewTopic("u", assignments={0: [2]})]).response
    assert (res.error.code, res.error.message) == (
        E.INVALID_REPLICA_ASSIGNMENT, "All brokers specified in the manual partition assignment for "
        "partition 0 are fenced or in controlled shutdown.")


# --- DeleteTopics / CreatePartitions ----------------------------------------------------


def test_delete_topics_by_name_and_id(cluster):
    cluster.add_broker(1)
    [_, b] = cluster.run(cluster.controller.create_topics(
        cluster.image, [NewTopic("a", configs={"retention.ms": "5"}), NewTopic("b")]))
    result = cluster.controller.delete_topics(cluster.image, ["a", "nope"], [b.topic_id, b"\x07" * 16])
    assert codes(result.response) == [E.NONE, E.UNKNOWN_TOPIC_OR_PARTITION, E.NONE, E.UNKNOWN_TOPIC_ID]
    assert result.response[2].name == "b"
    cluster.commit(result.records)
    assert cluster.image.topics_by_name == {} and cluster.image.topics_by_id == {}
    assert cluster.image.configs == {}  # a topic's configs go with it
    twice = cluster.controller.delete_topics(cluster.image, [], [])
    assert twice.records == []


def test_create_partitions(cluster):
    for b in (1, 2):
        cluster.add_broker(b)
    c = cluster.controller
    cluster.run(c.create_topics(cluster.image, [NewTopic("p", 2, 2)]))
    [res] = cluster.run(c.create_partitions(cluster.image, [NewPartitions("p", 5)]))
    assert res.error.code == E.NONE
    parts = cluster.image.topic("p").partitions
    assert sorted(parts) == [0, 1, 2, 3, 4] and all(len(p.replicas) == 2 for p in parts.values())
    results = c.create_partitions(cluster.image, [
        NewPartitions("p", 5), NewPartitions("p2", 3), NewPartitions("q", 1),
        NewPartitions("x", 2), NewPartitions("x", 3)]).response
    assert codes(results) == [E.INVALID_PARTITIONS, E.UNKNOWN_TOPIC_OR_PARTITION, E.UNKNOWN_TOPIC_OR_PARTITION,
                              E.INVALID_REQUEST, E.INVALID_REQUEST]
    assert results[0].error.message == "The topic p currently has 5 partition(s); 5 would not be an increase."
    results = c.create_partitions(cluster.image, [NewPartitions("p", 7, [[1, 2]])]).response
    assert codes(results) == [E.INVALID_REPLICA_ASSIGNMENT]
    results = c.create_partitions(cluster.image, [NewPartitions("p", 6, [[1]])]).response
    assert codes(results) == [E.INVALID_REPLICA_ASSIGNMENT]
    result = c.create_partitions(cluster.image, [NewPartitions("p", 6, [[2, 1]])], validate_only=True)
    assert codes(result.response) == [E.NONE] and result.records == []


# --- configs ----------------------------------------------------------------------------


def test_incremental_alter_configs(cluster):
    cluster.add_broker(1)
    c = cluster.controller
    cluster.run(c.create_topics(cluster.image, [NewTopic("t")]))
    res = cluster.run(c.incremental_alter_configs(cluster.image, [
        (ConfigResource(TOPIC, "t"), [ConfigChange("retention.ms", AlterConfigOp.SET, "100"),
                                      ConfigChange("cleanup.policy", AlterConfigOp.APPEND, "compact")]),
        (ConfigResource(BROKER, ""), [ConfigChange("min.insync.replicas", AlterConfigOp.SET, "2")]),
        (ConfigResource(BROKER, "1"), [ConfigChange("log.retention.bytes", AlterConfigOp.SET, "10")]),
    ]))
    assert codes(res) == [E.NONE] * 3
    assert cluster.image.topic_configs("t") == {"retention.ms": "100", "cleanup.policy": "delete,compact"}
    assert cluster.image.broker_configs("") == {"min.insync.replicas": "2"}
    assert cluster.image.broker_configs(1) == {"log.retention.bytes": "10"}
    res = cluster.run(c.incremental_alter_configs(cluster.image, [
        (ConfigResource(TOPIC, "t"), [ConfigChange("retention.ms", AlterConfigOp.DELETE),
                                      ConfigChange("cleanup.policy", AlterConfigOp.SUBTRACT, "delete")]),
    ]))
    assert codes(res) == [E.NONE]
    assert cluster.image.topic_configs("t") == {"cleanup.policy": "compact"}


def test_incremental_alter_configs_errors(cluster):
    cluster.add_broker(1)
    c = cluster.controller
    cluster.run(c.create_topics(cluster.image, [NewTopic("t")]))
    result = c.incremental_alter_configs(cluster.image, [
        (ConfigResource(TOPIC, "missing"), [ConfigChange("retention.ms", AlterConfigOp.SET, "1")]),
        (ConfigResource(TOPIC, "t"), [ConfigChange("retention.ms", AlterConfigOp.SET, "soon")]),
        (ConfigResource(TOPIC, "t"), [ConfigChange("no.such.config", AlterConfigOp.SET, "1")]),
        (ConfigResource(TOPIC, "t"), [ConfigChange("retention.ms", AlterConfigOp.APPEND, "1")]),
        (ConfigResource(TOPIC, "t"), [ConfigChange("retention.ms", AlterConfigOp.SET, "1"),
                                      ConfigChange("retention.ms", AlterConfigOp.DELETE)]),
        (ConfigResource(TOPIC, "t"), [ConfigChange("min.compaction.lag.ms", AlterConfigOp.SET, "10"),
                                      ConfigChange("max.compaction.lag.ms", AlterConfigOp.SET, "5")]),
        (ConfigResource(BROKER, "abc"), [ConfigChange("min.insync.replicas", AlterConfigOp.SET, "2")]),
        (ConfigResource(BROKER, "7"), [ConfigChange("min.insync.replicas", AlterConfigOp.SET, "2")]),
        (ConfigResource(BROKER, ""), [ConfigChange("node.id", AlterConfigOp.SET, "2")]),
        (ConfigResource(ConfigResourceType.GROUP, "g"), [ConfigChange("x", AlterConfigOp.SET, "1")]),
    ], validate_only=False)
    assert codes(result.response) == [
        E.UNKNOWN_TOPIC_OR_PARTITION, E.INVALID_CONFIG, E.INVALID_CONFIG, E.INVALID_CONFIG,
        E.INVALID_REQUEST, E.INVALID_CONFIG, E.INVALID_REQUEST, E.BROKER_ID_NOT_REGISTERED,
        E.INVALID_REQUEST,  # a read-only broker config: DynamicBrokerConfig's INVALID_REQUEST
        E.INVALID_CONFIG,  # an unknown group config: GroupConfig.validate (KIP-848, KIP-932)
    ]
    assert result.records == []


def test_legacy_alter_configs_replaces_everything(cluster):
    cluster.add_broker(1)
    c = cluster.controller
    cluster.run(c.create_topics(cluster.image, [NewTopic("t", configs={"retention.ms": "1", "segment.ms": "100000"})]))
    res = cluster.run(c.alter_configs(cluster.image, [(ConfigResource(TOPIC, "t"), {"retention.ms": "2"})]))
    assert codes(res) == [E.NONE]
    assert cluster.image.topic_configs("t") == {"retention.ms": "2"}
    res = c.alter_configs(cluster.image, [(ConfigResource(TOPIC, "t"), {"retention.ms": None})]).response
    assert codes(res) == [E.INVALID_REQUEST]
    result = c.alter_configs(cluster.image, [(ConfigResource(TOPIC, "t"), {})], validate_only=True)
    assert codes(result.response) == [E.NONE] and result.records == []


# --- brokers ----------------------------------------------------------------------------


def test_register_broker_and_unfence_when_caught_up(cluster, make_registration):
    c = cluster.controller
    reply = cluster.run(c.register_broker(cluster.image, make_registration(1), 0))
    assert reply.error.code == E.NONE and reply.broker_epoch > 0
    broker = cluster.image.brokers[1]
    assert broker.fenced and broker.endpoints["PLAINTEXT"].port == 9093
    registered_at = cluster.image.offset
    hb = c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, reply.broker_epoch, registered_at - 1), 1)
    assert (hb.response.is_caught_up, hb.response.is_fenced, hb.records) == (False, True, [])
    hb = c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, reply.broker_epoch, registered_at,
                                                                  want_fence=True), 1)
    assert hb.response.is_fenced and hb.records == []
    hb = cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, reply.broker_epoch, registered_at), 2))
    assert (hb.is_caught_up, hb.is_fenced) == (True, False)
    assert not cluster.image.brokers[1].fenced
    stale = c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, reply.broker_epoch + 1, 99), 3)
    assert stale.response.error.code == E.STALE_BROKER_EPOCH
    unknown = c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(5, 1, 99), 3)
    assert unknown.response.error.code == E.STALE_BROKER_EPOCH


def test_register_broker_errors(cluster, make_registration):
    c = cluster.controller
    cluster.add_broker(1)  # registered and unfenced at 0: a live session
    wrong_cluster = c.register_broker(cluster.image, make_registration(2, cluster_id="other"), 0)
    assert wrong_cluster.response.error.code == E.INCONSISTENT_CLUSTER_ID
    duplicate = c.register_broker(cluster.image, make_registration(1, incarnation_id=b"\x09" * 16), 1000)
    assert duplicate.response.error.code == E.DUPLICATE_BROKER_REGISTRATION
    old = c.register_broker(cluster.image, make_registration(3, features={"metadata.version": (1, 20)}), 0)
    assert old.response.error.code == E.UNSUPPORTED_VERSION
    # once the old incarnation's session expired, a new incarnation may take the id
    again = cluster.run(c.register_broker(cluster.image, make_registration(1, incarnation_id=b"\x09" * 16), 20_000))
    assert again.error.code == E.NONE and cluster.image.brokers[1].incarnation_id == b"\x09" * 16


def test_session_expiry_fences_and_moves_leaders(cluster, make_registration):
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2, 3)}
    cluster.run(c.create_topics(cluster.image, [NewTopic("t", 3, 3)]))
    before = dict(cluster.image.topic("t").partitions)
    cluster.now_ms = 5000
    for b in (2, 3):
        cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(b, epochs[b], cluster.image.offset), 5000))
    assert c.fence_stale_brokers(cluster.image, 8999).response == []
    fenced = cluster.run(c.fence_stale_brokers(cluster.image, 9000))
    assert fenced == [1] and cluster.image.brokers[1].fenced
    for index, p in cluster.image.topic("t").partitions.items():
        old = before[index]
        assert 1 not in p.isr and p.leader != 1
        assert p.partition_epoch == old.partition_epoch + 1
        assert p.leader_epoch == old.leader_epoch + (1 if old.leader == 1 else 0)
    # broker 1 comes back: re-registers, catches up, is unfenced; ISRs stay as leaders left them
    epoch = cluster.run(c.register_broker(cluster.image, make_registration(1), 9500)).broker_epoch
    hb = cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epoch, cluster.image.offset), 9600))
    assert not hb.is_fenced


def test_restart_after_controlled_shutdown_reregisters_at_once(cluster, make_registration):
    c = cluster.controller
    epoch = cluster.add_broker(1)
    cluster.run(c.create_topics(cluster.image, [NewTopic("t", 1)]))
    for now in (100, 200):  # leaderships move away, then the broker is fenced and may stop
        hb = cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(
            1, epoch, cluster.image.offset, want_shutdown=True), now))
    assert (hb.is_fenced, hb.should_shutdown) == (True, True)
    # the restarted process has a new incarnation; well inside broker.session.timeout.ms
    # of its last heartbeat, the fenced registration does not hold the id
    restarted = make_registration(1, incarnation_id=b"\x07" * 16, previous_broker_epoch=epoch)
    reply = cluster.run(c.register_broker(cluster.image, restarted, 300))
    assert reply.error.code == E.NONE and reply.broker_epoch > epoch
    assert cluster.image.brokers[1].incarnation_id == b"\x07" * 16 and cluster.image.brokers[1].fenced
    hb = cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(
        1, reply.broker_epoch, cluster.image.offset), 400))
    assert not hb.is_fenced and cluster.image.partition("t", 0).leader == 1


def test_register_fenced_by_request_then_new_incarnation(cluster, make_registration):
    c = cluster.controller
    epoch = cluster.add_broker(1)
    cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(
        1, epoch, cluster.image.offset, want_fence=True), 10))
    assert cluster.image.brokers[1].fenced
    reply = c.register_broker(cluster.image, make_registration(1, incarnation_id=b"\x08" * 16), 20).response
    assert reply.error.code == E.NONE
    # an unfenced broker with a live session still holds its id against a new incarnation
    cluster.add_broker(2)
    dup = c.register_broker(cluster.image, make_registration(2, incarnation_id=b"\x08" * 16), 20).response
    assert dup.error.code == E.DUPLICATE_BROKER_REGISTRATION


def test_last_isr_member_fenced_leaves_partition_leaderless_then_recovers(cluster):
    c = cluster.controller
    epoch = cluster.add_broker(1)
    cluster.run(c.create_topics(cluster.image, [NewTopic("solo", 2)]))
    cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epoch, cluster.image.offset, want_fence=True), 1))
    for p in cluster.image.topic("solo").partitions.values():
        assert p.leader == -1 and p.isr == (1,) and p.leader_epoch == 1
    hb = cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epoch, cluster.image.offset), 2))
    assert not hb.is_fenced
    for p in cluster.image.topic("solo").partitions.values():
        assert p.leader == 1 and p.leader_epoch == 2


def test_controlled_shutdown(cluster):
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2)}
    cluster.run(c.create_topics(cluster.image, [NewTopic("t", assignments={0: [1, 2], 1: [2, 1]})]))
    hb = cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epochs[1], cluster.image.offset,
                                                                              want_shutdown=True), 1))
    assert (hb.is_fenced, hb.should_shutdown) == (False, False)
    assert cluster.image.brokers[1].in_controlled_shutdown
    assert cluster.image.partition("t", 0).leader == 2 and cluster.image.partition("t", 0).isr == (2,)
    hb = cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epochs[1], cluster.image.offset,
                                                                              want_shutdown=True), 2))
    assert (hb.is_fenced, hb.should_shutdown) == (True, True)
    assert cluster.image.brokers[1].fenced


# --- AlterPartition ---------------------------------------------------------------------


def test_alter_partition(cluster):
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2, 3)}
    [res] = cluster.run(c.create_topics(cluster.image, [NewTopic("t", assignments={0: [1, 2, 3]})]))
    tid = res.topic_id
    p = cluster.image.partition("t", 0)
    shrink = PartitionStateChange(0, p.leader_epoch, [1, 2], p.partition_epoch)
    error, [r] = cluster.run(c.alter_partition(cluster.image, 1, epochs[1], {tid: [shrink]}))
    assert error.code == E.NONE and r.error.code == E.NONE
    assert (r.leader_id, r.isr, r.partition_epoch, r.leader_epoch) == (1, (1, 2), 1, 0)
    assert cluster.image.partition("t", 0).isr == (1, 2)
    # the same request again is stale now
    _, [r] = c.alter_partition(cluster.image, 1, epochs[1], {tid: [shrink]}).response
    assert r.error.code == E.INVALID_UPDATE_VERSION
    p = cluster.image.partition("t", 0)
    cases = [
        # a newer epoch than the controller's: this controller is likely stale (Kafka's answer)
        (1, PartitionStateChange(0, p.leader_epoch + 1, [1], p.partition_epoch), E.NOT_CONTROLLER),
        (1, PartitionStateChange(0, p.leader_epoch - 1, [1], p.partition_epoch), E.FENCED_LEADER_EPOCH),
        (2, PartitionStateChange(0, p.leader_epoch, [2], p.partition_epoch), E.INVALID_REQUEST),
        (1, PartitionStateChange(0, p.leader_epoch, [2], p.partition_epoch), E.INVALID_REQUEST),
        (1, PartitionStateChange(0, p.leader_epoch, [1, 4], p.partition_epoch), E.INVALID_REQUEST),
        (1, PartitionStateChange(9, p.leader_epoch, [1], p.partition_epoch), E.UNKNOWN_TOPIC_OR_PARTITION),
    ]
    for broker, change, code in cases:
        _, [r] = c.alter_partition(cluster.image, broker, epochs[broker], {tid: [change]}).response
        assert r.error.code == code, (change, r)
    _, [r] = c.alter_partition(cluster.image, 1, epochs[1], {b"\x05" * 16: [shrink]}).response
    assert r.error.code == E.UNKNOWN_TOPIC_ID
    error, results = c.alter_partition(cluster.image, 1, epochs[1] + 5, {tid: [shrink]}).response
    assert error.code == E.STALE_BROKER_EPOCH and results == []
    # a fenced broker cannot join the ISR
    cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(3, epochs[3], cluster.image.offset, want_fence=True), 1))
    p = cluster.image.partition("t", 0)
    _, [r] = c.alter_partition(cluster.image, 1, epochs[1], {tid: [
        PartitionStateChange(0, p.leader_epoch, [1, 2, 3], p.partition_epoch)]}).response
    assert r.error.code == E.INELIGIBLE_REPLICA


def test_alter_partition_no_change_writes_nothing(cluster):
    c = cluster.controller
    epoch = cluster.add_broker(1)
    [res] = cluster.run(c.create_topics(cluster.image, [NewTopic("t")]))
    p = cluster.image.partition("t", 0)
    result = c.alter_partition(cluster.image, 1, epoch, {res.topic_id: [PartitionStateChange(0, 0, [1], 0)]})
    assert result.records == [] and result.response[1][0].isr == p.isr


# --- producer ids -----------------------------------------------------------------------


def test_allocate_producer_ids(cluster):
    c = cluster.controller
    epoch = cluster.add_broker(1)
    first = cluster.run(c.allocate_producer_ids(cluster.image, 1, epoch))
    second = cluster.run(c.allocate_producer_ids(cluster.image, 1, epoch))
    assert (first.producer_id_start, first.producer_id_len) == (0, 1000)
    assert (second.producer_id_start, second.producer_id_len) == (1000, 1000)
    assert cluster.image.next_producer_id == 2000
    stale = c.allocate_producer_ids(cluster.image, 1, epoch + 1)
    assert stale.response.error.code == E.STALE_BROKER_EPOCH and stale.records == []
    full = c.allocate_producer_ids(cluster.image.apply([ProducerIdsRecord(
        broker_id=1, broker_epoch=epoch, next_producer_id=2**63 - 10)]), 1, epoch)
    assert full.response.error.code == E.UNKNOWN_SERVER_ERROR


def test_unregister_broker_leaves_isrs_then_its_registration_goes(cluster):
    c = cluster.controller
    for b in (1, 2):
        cluster.add_broker(b)
    cluster.run(c.create_topics(cluster.image, [NewTopic("t", assignments={0: [2, 1]})]))
    assert cluster.run(c.cluster.unregister_broker(cluster.image, 7)).code == E.BROKER_ID_NOT_REGISTERED
    assert cluster.run(c.cluster.unregister_broker(cluster.image, 2)).code == E.NONE
    assert 2 not in cluster.image.brokers
    p = cluster.image.topic("t").partitions[0]
    assert p.leader == 1 and p.isr == (1,)
    assert type(cluster.records[-1]).__name__ == "UnregisterBrokerRecord"
