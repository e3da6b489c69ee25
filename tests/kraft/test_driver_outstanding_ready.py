"""The Raft driver never feeds its node between ``ready()`` and ``advance()``.

A one-voter quorum in process (driver, metadata service, controller) on trio's
autojump clock. Each test starts a shutdown, or another input, at the moment the
driver has a Ready outstanding: from a metadata publisher that fails with EMFILE while
the driver applies a commit, from a listener calling back into the driver, and after
the metadata log itself could not be written. Before the driver queued or refused
those inputs, each one raised ``RaftInvariantError("input between ready() and
advance()")``, which ended the node.
"""

from __future__ import annotations

import errno
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from kafkapy.kraft.metadata.bootstrap import bootstrap_records
from kafkapy.kraft.metadata.cluster_control import BrokerHeartbeatRequest
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.kraft.metadata.records import NoOpRecord, encode_record
from kafkapy.kraft.metadata.replication_control import NewTopic
from kafkapy.kraft.metadata.service import MetadataService
from kafkapy.kraft.raft.batches import KafkaSnapshotCodec
from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.driver import DriverStoppedError, MemoryNetwork, RaftDriver
from kafkapy.kraft.raft.memory_log import MemoryLog
from kafkapy.kraft.raft.messages import DescribeQuorumRequest, Envelope
from kafkapy.kraft.raft.quorum_store import MemoryQuorumStateStore
from kafkapy.kraft.raft.ready import Ready
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.kraft.raft.voters import VoterSet
from kafkapy.wire.error_codes import ErrorCode

sys.path.insert(0, str(Path(__file__).parent / "metadata"))
from conftest import registration  # noqa: E402  (tests/kraft/metadata/conftest.py)


NOOP = encode_record(NoOpRecord())


class FailingLog(MemoryLog):
    """A metadata log whose writes fail with EMFILE once ``failing`` is set."""

    failing = False

    def persist(self, ready: Ready) -> None:
        if self.failing and (ready.entries or ready.truncate_to is not None):
            raise OSError(errno.EMFILE, "Too many open files")
        super().persist(ready)


class Quorum:
    """Driver + metadata service of node 1, the only voter, run in ``nursery``."""

    def __init__(self) -> None:
        network = MemoryNetwork()
        transport, inbox = network.connect(1)
        self.log = FailingLog(KafkaSnapshotCodec())
        self.driver = RaftDriver(RaftConfig(1, cluster_id="test-cluster"), self.log, MemoryQuorumStateStore(),
                                 transport, inbox, static_voters=VoterSet.of_ids([1]), rng=random.Random(1))
        self.service = MetadataService(self.driver, cluster_id="test-cluster", rng=random.Random(7),
                                       bootstrap=bootstrap_records())
        self.driver_error: BaseException | None = None

    async def start(self, nursery: trio.Nursery) -> None:
        async def run_driver(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await self.driver.run(task_status=task_status)
            except DriverStoppedError as exc:
                self.driver_error = exc

        await nursery.start(run_driver)
        await nursery.start(self.service.run)
        with trio.fail_after(30):
            while not (self.service.is_active_controller and self.service.image.metadata_version > 0):
                await self.service.changed().wait()

    async def start_broker(self) -> int:
        reply = await self.service.register_broker(registration(1))
        assert reply.error.code == ErrorCode.NONE
        beat = await self.service.broker_heartbeat(BrokerHeartbeatRequest(1, reply.broker_epoch,
                                                                          self.service.image.offset))
        assert not beat.is_fenced
        return reply.broker_epoch

    async def controlled_shutdown(self, broker_epoch: int) -> bool:
        """The broker lifecycle's loop: heartbeat want_shutdown until told to shut down."""
        with trio.fail_after(60):
            while True:
                beat = await self.service.broker_heartbeat(BrokerHeartbeatRequest(
                    1, broker_epoch, self.service.image.offset, want_shutdown=True))
                if beat.error.code != ErrorCode.NONE:
                    return False
                if beat.should_shutdown:
                    return True
                await trio.sleep(0.5)


async def test_shutdown_after_a_publisher_failed_inside_a_ready(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        quorum = Quorum()
        await quorum.start(nursery)
        epoch = await quorum.start_broker()
        failures: list[int] = []

        def publisher(old: MetadataImage, new: MetadataImage) -> None:
            # Opening the new partitions' logs ran out of descriptors (issue 20).
            if new.topic("orders") is not None and not failures:
                failures.append(new.offset)
                raise OSError(errno.EMFILE, "Too many open files")

        quorum.service.add_publisher(publisher)
        [created] = await quorum.service.create_topics([NewTopic("orders", 2)])
        assert created.error.code == ErrorCode.NONE
        assert failures, "the publisher saw the topic and failed"
        assert quorum.driver.node.has_ready() is False  # the Ready was advanced
        # The node shuts down: its heartbeats go through the same driver.
        assert await quorum.controlled_shutdown(epoch)
        assert quorum.service.image.brokers[1].fenced
        assert quorum.driver_error is None
        nursery.cancel_scope.cancel()


async def test_inputs_from_a_listener_inside_a_ready_are_queued(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        quorum = Quorum()
        await quorum.start(nursery)
        driver = quorum.driver
        answers: list[object] = []
        seen: list[int] = []

        class CallsBack:
            """A listener that steps the driver and resigns while the commit is applied."""

            def handle_load_snapshot(self, end_offset: int, epoch: int, values: Sequence[bytes]) -> None:
                pass

            def handle_commit(self, entries: Sequence[LogEntry]) -> None:
                if seen:
                    return
                seen.append(entries[-1].offset)
                driver.step(Envelope(-1, 1, -1000, DescribeQuorumRequest()))
                driver.resign()
                answers.append(driver.node.state.name)  # nothing was stepped yet

            def handle_leader_change(self, leader_id: int | None, epoch: int) -> None:
                pass

        driver.register(CallsBack())
        epoch_before = driver.node.epoch
        await driver.propose([NOOP])
        assert seen and answers == ["Leader"]
        # After the Ready was advanced, the queued inputs ran: the node resigned, and
        # then (the only voter) won a new election.
        with trio.fail_after(30):
            while not (driver.node.is_leader and driver.node.epoch > epoch_before):
                await trio.sleep(0.1)
        offset = await driver.propose([NOOP])
        assert offset > seen[0]
        nursery.cancel_scope.cancel()


async def test_metadata_log_write_failure_stops_the_driver_and_the_shutdown_gives_up(
        autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        quorum = Quorum()
        await quorum.start(nursery)
        epoch = await quorum.start_broker()
        quorum.log.failing = True
        with pytest.raises(NotControllerError) as raised:  # as a node that is not the controller
            await quorum.service.create_topics([NewTopic("orders", 2)])
        assert isinstance(raised.value.__cause__, OSError) and raised.value.__cause__.errno == errno.EMFILE
        with trio.fail_after(5):
            while quorum.driver_error is None:
                await trio.sleep(0.1)
        assert quorum.service.leader_id is None  # the listener heard there is no leader
        # The controlled shutdown finds no controller and gives up; it never feeds the node.
        with pytest.raises(NotControllerError):
            await quorum.service.broker_heartbeat(BrokerHeartbeatRequest(1, epoch, quorum.service.image.offset,
                                                                         want_shutdown=True))
        with pytest.raises(DriverStoppedError):
            await quorum.driver.propose([NOOP])
        assert await quorum.driver.handle_request(-1, DescribeQuorumRequest(), timeout_s=1) is None
        nursery.cancel_scope.cancel()
