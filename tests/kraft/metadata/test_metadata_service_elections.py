"""The active controller's own elections on QuorumController's schedule, in virtual time:
a balancing run ``leader.imbalance.check.interval.seconds`` after a partition is led by
another replica than its first (``auto.leader.rebalance.enable``), and an unclean
election ``unclean.leader.election.interval.ms`` after a partition went offline, for a
topic whose config allows it."""

from __future__ import annotations

import random

import trio
from metadata_doubles import SingleVoterLog

from kafkapy.config import log_config_name
from kafkapy.kraft.metadata.bootstrap import bootstrap_records
from kafkapy.kraft.metadata.cluster_control import BrokerHeartbeatRequest
from kafkapy.kraft.metadata.configuration_control import AlterConfigOp, ConfigChange, ConfigResource
from kafkapy.kraft.metadata.controller import ControllerConfig
from kafkapy.kraft.metadata.image import ConfigResourceType
from kafkapy.kraft.metadata.replication_control import NewTopic, PartitionStateChange
from kafkapy.kraft.metadata.service import MetadataService
from kafkapy.wire.error_codes import ErrorCode as E

_NEVER_EXPIRES = 10**9


async def _service(nursery, **config) -> MetadataService:
    log = SingleVoterLog(node_id=1)
    service = MetadataService(log, cluster_id="test-cluster", rng=random.Random(7),
                              config=ControllerConfig(broker_session_timeout_ms=_NEVER_EXPIRES, **config))
    nursery.start_soon(log.run)
    log.elect()
    await service.submit(bootstrap_records())
    await nursery.start(service.run)
    return service


async def _broker(service, make_registration, broker_id: int) -> int:
    reply = await service.register_broker(make_registration(broker_id))
    hb = await service.broker_heartbeat(BrokerHeartbeatRequest(broker_id, reply.broker_epoch, service.image.offset))
    assert not hb.is_fenced
    return reply.broker_epoch


async def _heartbeat(service, broker_id: int, epoch: int, **flags) -> None:
    hb = await service.broker_heartbeat(BrokerHeartbeatRequest(broker_id, epoch, service.image.offset, **flags))
    assert hb.error.code == E.NONE


async def test_leaders_move_back_to_preferred_replicas(autojump_clock, nursery, make_registration):
    service = await _service(nursery, leader_imbalance_check_interval_ms=5000)
    epochs = {b: await _broker(service, make_registration, b) for b in (1, 2)}
    [res] = await service.create_topics([NewTopic("t", assignments={0: [1, 2]})])
    await _heartbeat(service, 1, epochs[1], want_fence=True)  # 2 leads
    await _heartbeat(service, 1, epochs[1])  # back, but not in the ISR
    p = service.image.partition("t", 0)
    assert (p.leader, p.isr) == (2, (2,))
    await trio.sleep(60)
    assert service.image.partition("t", 0).leader == 2  # 1 cannot lead: not in the ISR
    # the leader takes 1 back into the ISR: imbalanced from now on
    await service.alter_partition(2, epochs[2], {res.topic_id: [
        PartitionStateChange(0, p.leader_epoch, [2, 1], p.partition_epoch)]})
    # the next run, at most one interval away, elects the preferred replica
    with trio.fail_after(5.5):
        while service.image.partition("t", 0).leader != 1:
            await service.changed().wait()
    assert service.image.partition("t", 0).isr == (2, 1)


async def test_no_balancing_when_disabled(autojump_clock, nursery, make_registration):
    service = await _service(nursery, auto_leader_rebalance_enable=False, leader_imbalance_check_interval_ms=1000)
    epochs = {b: await _broker(service, make_registration, b) for b in (1, 2)}
    [res] = await service.create_topics([NewTopic("t", assignments={0: [1, 2]})])
    await _heartbeat(service, 1, epochs[1], want_fence=True)
    await _heartbeat(service, 1, epochs[1])
    p = service.image.partition("t", 0)
    await service.alter_partition(2, epochs[2], {res.topic_id: [
        PartitionStateChange(0, p.leader_epoch, [2, 1], p.partition_epoch)]})
    await trio.sleep(30)
    assert service.image.partition("t", 0).leader == 2


async def test_offline_partition_elected_uncleanly_once_its_topic_allows_it(autojump_clock, nursery,
                                                                              make_registration):
    service = await _service(nursery, unclean_leader_election_interval_ms=10_000)
    epochs = {b: await _broker(service, make_registration, b) for b in (1, 2)}
    [res] = await service.create_topics([NewTopic("t", assignments={0: [1, 2]})])
    p = service.image.partition("t", 0)
    await service.alter_partition(1, epochs[1], {res.topic_id: [
        PartitionStateChange(0, p.leader_epoch, [1], p.partition_epoch)]})
    await _heartbeat(service, 1, epochs[1], want_fence=True)
    assert service.image.partition("t", 0).leader == -1
    await trio.sleep(30)
    assert service.image.partition("t", 0).leader == -1  # unclean elections not allowed
    [changed] = await service.incremental_alter_configs([(ConfigResource(ConfigResourceType.TOPIC, "t"), [
        ConfigChange(log_config_name("unclean_leader_election_enable"), AlterConfigOp.SET, "true")])])
    assert changed.error.code == E.NONE
    with trio.fail_after(25):
        while service.image.partition("t", 0).leader != 2:
            await service.changed().wait()
    p = service.image.partition("t", 0)
    assert p.isr == (2,) and p.leader_recovery_state == 1
