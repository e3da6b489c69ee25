"""AssignReplicasToDirs on the controller (KIP-858, Kafka's
``ReplicationControlManagerTest.testHandleAssignReplicasToDirs`` cases): directories of a
broker with two, per-partition errors, a stale epoch, an offline directory."""

from __future__ import annotations

from kafkapy.kraft.metadata.cluster_control import BrokerHeartbeatRequest
from kafkapy.kraft.metadata.directory_assignment import assign_replicas_to_dirs
from kafkapy.kraft.metadata.image import DIRECTORY_UNASSIGNED, MetadataImage
from kafkapy.kraft.metadata.replication_control import NewTopic
from kafkapy.wire.error_codes import ErrorCode as E

DIR_A, DIR_B, DIR_GONE = b"\x0a" * 16, b"\x0b" * 16, b"\x0c" * 16


def _two_dirs(cluster, registration) -> tuple[int, bytes]:
    """Broker 1 with directories A and B, broker 2 with none; topic "t" on [1, 2]."""
    c = cluster.controller
    epoch = cluster.run(c.register_broker(cluster.image, registration(1, log_dirs=(DIR_A, DIR_B)), 0)).broker_epoch
    cluster.add_broker(2)
    assert not cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epoch, cluster.image.offset),
                                              0)).is_fenced
    cluster.run(c.create_topics(cluster.image, [NewTopic("t", assignments={0: [1, 2]})]))
    return epoch, cluster.image.topic("t").id


def test_assigns_the_directory_of_each_replica(cluster, make_registration):
    epoch, topic_id = _two_dirs(cluster, make_registration)
    assert cluster.image.topic("t").partitions[0].directories[0] == DIRECTORY_UNASSIGNED
    reply = cluster.run(assign_replicas_to_dirs(cluster.image, 1, epoch, [
        (DIR_B, [(topic_id, [0, 5]), (b"\x07" * 16, [0])])]))
    assert reply.error.code == E.NONE
    assert reply.directories == [(DIR_B, [(topic_id, [(0, E.NONE), (5, E.UNKNOWN_TOPIC_OR_PARTITION)]),
                                          (b"\x07" * 16, [(0, E.UNKNOWN_TOPIC_ID)])])]
    part = cluster.image.topic("t").partitions[0]
    assert part.directories[0] == DIR_B and part.leader == 1
    again = assign_replicas_to_dirs(cluster.image, 1, epoch, [(DIR_B, [(topic_id, [0])])])
    assert again.records == []


def test_refusals(cluster, make_registration):
    epoch, topic_id = _two_dirs(cluster, make_registration)
    stale = assign_replicas_to_dirs(cluster.image, 1, epoch + 1, [(DIR_A, [(topic_id, [0])])])
    assert (stale.records, stale.response.error.code) == ([], E.STALE_BROKER_EPOCH)
    cluster.run(cluster.controller.create_topics(cluster.image, [NewTopic("other", assignments={0: [2]})]))
    other = cluster.image.topic("other").id
    reply = assign_replicas_to_dirs(cluster.image, 1, epoch, [(DIR_A, [(other, [0])])]).response
    assert reply.directories == [(DIR_A, [(other, [(0, E.NOT_LEADER_OR_FOLLOWER)])])]
    old = MetadataImage(features={"metadata.version": 16})
    assert assign_replicas_to_dirs(old, 1, epoch, []).response.error.code == E.UNSUPPORTED_VERSION


def test_a_replica_assigned_to_an_offline_directory_leaves_isr_and_leadership(cluster, make_registration):
    epoch, topic_id = _two_dirs(cluster, make_registration)
    cluster.run(assign_replicas_to_dirs(cluster.image, 1, epoch, [(DIR_GONE, [(topic_id, [0])])]))
    part = cluster.image.topic("t").partitions[0]
    assert part.directories[0] == DIR_GONE and part.isr == (2,) and part.leader == 2
