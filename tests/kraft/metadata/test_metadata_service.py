"""MetadataService over a one-voter quorum (the SingleVoterLog test double)."""

from __future__ import annotations

import random

import pytest
import trio
from metadata_doubles import SingleVoterLog

from kafkapy.kraft.metadata.bootstrap import bootstrap_records
from kafkapy.kraft.metadata.cluster_control import BrokerHeartbeatRequest
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.image import EMPTY_IMAGE
from kafkapy.kraft.metadata.replication_control import NewTopic
from kafkapy.kraft.metadata.service import MetadataService
from kafkapy.wire.error_codes import ErrorCode as E


@pytest.fixture
async def quorum(nursery):
    log = SingleVoterLog(node_id=1)
    service = MetadataService(log, cluster_id="test-cluster", rng=random.Random(7))
    nursery.start_soon(log.run)
    log.elect()
    await service.submit(bootstrap_records())
    return log, service


async def start_broker(service, make_registration, broker_id=1):
    reply = await service.register_broker(make_registration(broker_id))
    assert reply.error.code == E.NONE
    hb = await service.broker_heartbeat(BrokerHeartbeatRequest(broker_id, reply.broker_epoch, service.image.offset))
    assert not hb.is_fenced
    return reply.broker_epoch


async def test_create_topic_is_committed_before_the_answer(quorum, make_registration):
    log, service = quorum
    await start_broker(service, make_registration)
    seen = []
    service.add_publisher(lambda old, new: seen.append((old.offset, new.offset)))
    [res] = await service.create_topics([NewTopic("orders", 3)])
    assert res.error.code == E.NONE
    # the answer comes after the records are committed and applied
    topic = service.image.topic("orders")
    assert topic.id == res.topic_id and len(topic.partitions) == 3
    assert all(p.leader == 1 for p in topic.partitions.values())
    assert seen and seen[-1][1] == service.image.offset == len(log.entries) - 1
    [again] = await service.create_topics([NewTopic("orders", 3)])
    assert again.error.code == E.TOPIC_ALREADY_EXISTS


async def test_wait_for_and_changed(quorum, make_registration):
    _, service = quorum
    target = service.image.offset + 2  # registration, then unfence

    async def waiter(task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        image = await service.wait_for(target)
        assert image.brokers[1].fenced is False

    async with trio.open_nursery() as n:
        await n.start(waiter)
        changed = service.changed()
        await start_broker(service, make_registration)
        assert changed.is_set()


async def test_concurrent_operations_are_serialized(quorum, make_registration):
    _, service = quorum
    await start_broker(service, make_registration)
    results = {}

    async def create(i):
        results[i] = await service.create_topics([NewTopic("same")])

    async with trio.open_nursery() as n:
        for i in range(5):
            n.start_soon(create, i)
    outcomes = sorted(r[0].error.code for r in results.values())
    assert outcomes == [E.NONE] + [E.TOPIC_ALREADY_EXISTS] * 4


async def test_not_controller(quorum, make_registration):
    log, service = quorum
    log.lose_leadership(new_leader=2)
    with pytest.raises(NotControllerError) as info:
        await service.create_topics([NewTopic("x")])
    assert info.value.leader_id == 2 and info.value.error_code == E.NOT_CONTROLLER
    assert not service.is_active_controller


async def test_leadership_lost_before_commit(nursery, make_registration):
    log = SingleVoterLog(node_id=1)
    service = MetadataService(log, cluster_id="test-cluster", rng=random.Random(7))
    log.elect()
    log.listener.handle_commit(log._receive.receive_nowait())  # commit the LeaderChange by hand
    assert service.is_active_controller

    async def depose_after_propose():
        await trio.testing.wait_all_tasks_blocked()
        log.lose_leadership(new_leader=3)

    nursery.start_soon(depose_after_propose)
    with pytest.raises(NotControllerError):
        await service.submit(bootstrap_records())
    assert service.image.metadata_version == 0  # nothing was applied


async def test_new_leader_waits_for_its_epoch_before_acting(nursery, make_registration):
    log = SingleVoterLog(node_id=1)
    service = MetadataService(log, cluster_id="test-cluster", rng=random.Random(7))
    log.elect()
    assert not service.is_active_controller  # LeaderChange not committed yet
    done = trio.Event()

    async def create():
        await service.register_broker(make_registration(1))
        done.set()

    nursery.start_soon(create)
    await trio.testing.wait_all_tasks_blocked()
    assert not done.is_set()
    nursery.start_soon(log.run)
    await done.wait()
    assert 1 in service.image.brokers


async def test_snapshot_load_replaces_the_image(quorum, make_registration):
    _, service = quorum
    await start_broker(service, make_registration)
    await service.create_topics([NewTopic("a", 2), NewTopic("b")])
    image = service.image
    end_offset, epoch, values = service.snapshot()
    assert (end_offset, epoch) == (image.offset + 1, image.epoch)
    other = MetadataService(SingleVoterLog(node_id=2), cluster_id="test-cluster")
    other.handle_load_snapshot(end_offset, epoch, values)
    assert other.image == image
    assert other.controller.cluster.registration_offsets == {1: image.offset}


async def test_session_expiry_fences_broker(autojump_clock, quorum, make_registration, nursery):
    _, service = quorum
    epoch = await start_broker(service, make_registration, 1)
    await start_broker(service, make_registration, 2)
    await service.create_topics([NewTopic("t", 2, 2)])
    await nursery.start(service.run)
    # broker 1 keeps heartbeating, broker 2 goes silent
    for _ in range(6):
        await trio.sleep(2)
        hb = await service.broker_heartbeat(BrokerHeartbeatRequest(1, epoch, service.image.offset))
        assert hb.error.code == E.NONE
    assert service.image.brokers[2].fenced and not service.image.brokers[1].fenced
    for p in service.image.topic("t").partitions.values():
        assert p.leader == 1 and p.isr == (1,)


async def test_publishers_see_old_and_new(quorum):
    _, service = quorum
    calls = []
    service.add_publisher(lambda old, new: calls.append((old, new)))
    block = await service.allocate_producer_ids(1, 1)
    assert block.error.code == E.STALE_BROKER_EPOCH and calls == []  # nothing written, nothing published
    assert EMPTY_IMAGE.metadata_version == 0 and service.image.metadata_version == 27


async def test_over_the_real_raft_core(make_registration):
    """The service on the sans-I/O RaftNode as a one-voter quorum: elect, commit, apply."""
    from metadata_doubles import OneVoterRaft

    raft = OneVoterRaft(node_id=1)
    service = MetadataService(raft, cluster_id="test-cluster", rng=random.Random(3))
    while not service.is_active_controller:
        raft.tick(100)
    assert service.leader_id == 1 and service.epoch >= 1
    await service.submit(bootstrap_records())
    epoch = await start_broker(service, make_registration)
    [res] = await service.create_topics([NewTopic("real", 2)])
    assert res.error.code == E.NONE
    block = await service.allocate_producer_ids(1, epoch)
    assert block.producer_id_start == 0
    # the image is at the end of the committed log, control records included
    assert service.image.offset == raft.node.high_watermark - 1 == raft.log.end_offset - 1
    assert len(service.image.topic("real").partitions) == 2 and service.image.next_producer_id == 1000


async def test_active_controller_writes_bootstrap_records_once(nursery):
    log = SingleVoterLog(node_id=1)
    service = MetadataService(log, cluster_id="c", bootstrap=bootstrap_records())
    nursery.start_soon(log.run)
    await nursery.start(service.run)
    log.elect()
    image = await service.wait_for(1)
    assert image.metadata_version == 27
    await trio.testing.wait_all_tasks_blocked()
    assert sum(1 for e in log.entries if isinstance(e.value, bytes)) == len(bootstrap_records())  # written once


async def test_first_operation_bootstraps_an_empty_log(nursery, make_registration):
    log = SingleVoterLog(node_id=1)
    service = MetadataService(log, cluster_id="test-cluster", bootstrap=bootstrap_records())
    nursery.start_soon(log.run)
    log.elect()
    reply = await service.register_broker(make_registration(1))
    assert reply.error.code == E.NONE and service.image.metadata_version == 27
