"""ISR changes of the partitions this node leads, on their way to the controller.

Kafka's ``AlterPartitionManager`` and the replica manager's ``isr-expiration`` task:

* The replica manager decides that a follower joins (it caught up) or leaves (it
  lagged more than ``replica.lag.time.max.ms``) and submits an
  :class:`~kafkapy.broker.replica_manager.IsrChange`, marking the partition's change
  pending so that only one is in flight per partition.
* :class:`AlterPartitionManager` sends everything submitted since its last request
  in one AlterPartition to the active controller (locally when this node is it), with
  this broker's epoch and each partition's leader and partition epochs, and hands
  every partition's answer back to the replica manager, which takes the committed
  ISR or, on an error, forgets the change so that it is asked again.
* :func:`run_isr_expiration` checks for lagging followers every half of
  ``replica.lag.time.max.ms``, as Kafka schedules it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from kafkapy.broker.replica_manager import IsrChange, ReplicaManager, TopicPartition
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.image import Uuid
from kafkapy.kraft.metadata.replication_control import PartitionStateChange
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.broker.controller_channel import ControllerChannel

log = logging.getLogger(__name__)

#: Pause after a failed AlterPartition round trip before the next one.
_RETRY_BACKOFF_S = 0.1


class AlterPartitionManager:
    """Batches ISR changes into AlterPartition requests to the active controller.

    Args:
        channel: the controller channel (local service or the wire).
        replicas: gets each change's answer (``on_isr_change_result``).
        broker_epoch: this broker's current epoch.
    """

    def __init__(self, channel: ControllerChannel, replicas: ReplicaManager, broker_epoch: Callable[[], int]) -> None:
        self.channel = channel
        self.replicas = replicas
        self.broker_epoch = broker_epoch
        self._queue: dict[TopicPartition, IsrChange] = {}
        self._wake = trio.Event()

    def submit(self, change: IsrChange) -> None:
        self._queue[change.tp] = change
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            if not self._queue:
                self._wake = trio.Event()
                await self._wake.wait()
            batch, self._queue = list(self._queue.values()), {}
            if not await self._send(batch):
                await trio.sleep(_RETRY_BACKOFF_S)

    async def _send(self, batch: list[IsrChange]) -> bool:
        """One AlterPartition for ``batch``; False if it failed as a whole."""
        topics: dict[Uuid, list[PartitionStateChange]] = {}
        for change in batch:
            topics.setdefault(change.topic_id, []).append(PartitionStateChange(
                change.tp.partition, change.leader_epoch, change.new_isr, change.partition_epoch))
        replicas = self.replicas
        try:
            error, results = await self.channel.alter_partition(replicas.node_id, self.broker_epoch(), topics)
        except NotControllerError as exc:
            log.info("AlterPartition of %d partition(s) not delivered: %s", len(batch), exc)
            error, results = None, []
        if error is None or error.code != ErrorCode.NONE:
            code = ErrorCode.NETWORK_EXCEPTION if error is None else error.code
            for change in batch:
                replicas.on_isr_change_result(change, code, (), -1)
            return False
        answers = {(r.topic_id, r.partition_index): r for r in results}
        for change in batch:
            answer = answers.get((change.topic_id, change.tp.partition))
            if answer is None:
                replicas.on_isr_change_result(change, ErrorCode.UNKNOWN_SERVER_ERROR, (), -1)
            else:
                replicas.on_isr_change_result(change, answer.error.code, answer.isr, answer.partition_epoch)
        return True


async def run_isr_expiration(replicas: ReplicaManager) -> None:
    """Shrink the ISRs of lagging followers every half ``replica.lag.time.max.ms``, until cancelled."""
    interval_s = replicas.replica_lag_time_max_ms / 2000
    while True:
        await trio.sleep(interval_s)
        replicas.maybe_shrink_isr()
