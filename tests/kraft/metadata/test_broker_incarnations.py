"""A broker registering again: a new incarnation (the process restarted) and the same
incarnation (its answer was lost), as Kafka 4.1's ``ClusterControlManager.registerBroker``."""

from __future__ import annotations

from kafkapy.kraft.metadata.cluster_control import BrokerHeartbeatRequest
from kafkapy.kraft.metadata.records import PartitionChangeRecord, RegisterBrokerRecord
from kafkapy.kraft.metadata.replication_control import NewTopic
from kafkapy.wire.error_codes import ErrorCode as E

#: broker.session.timeout.ms of ControllerConfig's defaults (Kafka's 9000).
SESSION_MS = 9000


def test_new_incarnation_is_refused_while_the_old_session_lives(cluster, make_registration):
    c = cluster.controller
    cluster.add_broker(1)  # unfenced, heard from at 0
    restarted = make_registration(1, incarnation_id=b"\x05" * 16)
    refused = c.register_broker(cluster.image, restarted, SESSION_MS - 1)
    assert refused.response.error.code == E.DUPLICATE_BROKER_REGISTRATION and refused.records == []
    accepted = c.register_broker(cluster.image, restarted, SESSION_MS)
    assert accepted.response.error.code == E.NONE


def test_new_incarnation_cleans_up_after_the_previous_one(cluster, make_registration):
    """The old process died without a controlled shutdown and its session expired, but
    the controller has not fenced it yet: the registration of the new process moves the
    old one's leaderships and ISR places first, in the same batch (Kafka's
    ``handleBrokerShutdown``), so no partition keeps a leader that is not there."""
    c = cluster.controller
    epochs = {b: cluster.add_broker(b) for b in (1, 2, 3)}
    cluster.run(c.create_topics(cluster.image, [NewTopic("t", 3, 3)]))
    led_by_1 = {i for i, p in cluster.image.topic("t").partitions.items() if p.leader == 1}
    assert led_by_1
    for b in (2, 3):
        cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(b, epochs[b], cluster.image.offset),
                                       SESSION_MS))
    assert not cluster.image.brokers[1].fenced

    result = c.register_broker(cluster.image, make_registration(1, incarnation_id=b"\x05" * 16), SESSION_MS + 1)
    *cleanup, register = result.records
    assert isinstance(register, RegisterBrokerRecord) and register.fenced
    assert cleanup and all(isinstance(r, PartitionChangeRecord) for r in cleanup)
    reply = cluster.run(result)
    assert reply.error.code == E.NONE and reply.broker_epoch > epochs[1]
    for index, p in cluster.image.topic("t").partitions.items():
        assert p.leader != 1 and 1 not in p.isr, (index, p)
    # the new incarnation catches up and is unfenced as usual
    hb = cluster.run(c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(
        1, reply.broker_epoch, cluster.image.offset), SESSION_MS + 2))
    assert not hb.is_fenced


def test_same_incarnation_amends_its_registration(cluster, make_registration):
    """A registration answered but not heard (the controller moved meanwhile) is sent
    again by the same process: Kafka amends it, the broker epoch and state stay."""
    c = cluster.controller
    epoch = cluster.add_broker(1)
    cluster.run(c.create_topics(cluster.image, [NewTopic("t", 1)]))
    again = c.register_broker(cluster.image, make_registration(1), 100)
    assert [type(r) for r in again.records] == [RegisterBrokerRecord]
    reply = cluster.run(again)
    assert (reply.error.code, reply.broker_epoch) == (E.NONE, epoch)
    assert not cluster.image.brokers[1].fenced and cluster.image.partition("t", 0).leader == 1
    hb = c.broker_heartbeat(cluster.image, BrokerHeartbeatRequest(1, epoch, cluster.image.offset), 200)
    assert hb.response.error.code == E.NONE and not hb.response.is_fenced
