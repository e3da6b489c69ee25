"""The coordinator runtime: one state machine per coordinator partition, loaded from
its log, writing records then applying them (Kafka 4's ``CoordinatorRuntime``).

Theory of operation. A runtime serves one internal topic (``__consumer_offsets`` for
the group coordinator's shard of every group kind, ``__share_group_state`` for the
share coordinator, ``__transaction_state`` for the transaction coordinator) and a
shard factory. A metadata-image publisher keeps one shard per
partition this node leads:

* **Election** (this node becomes leader of partition ``p`` at epoch ``e``): a new
  shard is made and every record of the partition is replayed into it, in log order,
  transactional records with their producer id and markers as
  :meth:`~kafkapy.broker.coordinator.shard.CoordinatorShard.replay_end_transaction`;
  then ``on_loaded`` starts its timers. Loading runs without awaiting (Kafka loads on
  a background thread and answers COORDINATOR_LOAD_IN_PROGRESS meanwhile; here no
  request can see a half-loaded shard).
* **Resignation** (another leader, another epoch, or the partition is gone): the shard
  is dropped, its timers cancelled and ``on_unloaded`` answers its waiters.
* **Writes** (:meth:`CoordinatorRuntime.write`): the operation runs on the shard; its
  records go to the partition in one batch (``AppendOrigin.COORDINATOR``) and are
  replayed into the shard at once, so the next operation sees them; the response is
  deferred until the high watermark covers the batch (Kafka's deferred event queue),
  and becomes NOT_COORDINATOR if leadership moved meanwhile, or
  COORDINATOR_NOT_AVAILABLE after the write timeout. Running the operation, appending
  and replaying happen without an await, so operations on a shard are serial.
* **Reads** (:meth:`CoordinatorRuntime.read`): a function of the shard, answered at once.
* **Timers**: each shard's :class:`_ShardTimer` keys live on the runtime's one
  :class:`~kafkapy.broker.groups.timer.DeadlineTimer` under ``(partition, epoch, key)``;
  a due one runs its operation as a write nobody waits for.

The shard is pure (records in, records and responses out); the runtime is the only
part that touches the log, the replica manager and trio.

Task-safety: trio thread only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import trio

from kafkapy.broker.coordinator.shard import (
    CoordinatorError,
    CoordinatorResult,
    CoordinatorShard,
    KeyValue,
    ShardContext,
)
from kafkapy.broker.groups.coordinator_topics import partition_for
from kafkapy.broker.groups.timer import DeadlineTimer
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.storage.errors import StorageError
from kafkapy.storage.partition_log import AppendOrigin
from kafkapy.wire.buffers import FileRegion
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.records import (
    NO_SEQUENCE,
    Record,
    build_batch,
    increment_sequence,
    iter_batches,
    iter_records,
    parse_end_txn_marker,
)

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.broker.replica_manager import Partition
    from kafkapy.kraft.metadata.image import MetadataImage

log = logging.getLogger(__name__)

S = TypeVar("S", bound=CoordinatorShard)
T = TypeVar("T")

#: How much of the log one read takes while loading.
_READ_CHUNK = 4 * 1024 * 1024


def append_error(code: ErrorCode) -> ErrorCode:
    """Kafka's ``CoordinatorRuntime`` error translation of a failed append."""
    if code in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.REQUEST_TIMED_OUT):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if code in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.INVALID_FETCH_SIZE):
        return ErrorCode.UNKNOWN_SERVER_ERROR
    return code


class _ShardTimer:
    """One shard's keys on the runtime's timer (the :class:`ShardTimer` protocol)."""

    def __init__(self, runtime: CoordinatorRuntime[Any], partition: int, epoch: int) -> None:
        self._runtime = runtime
        self._prefix = (partition, epoch)
        self._keys: set[Hashable] = set()

    def schedule(self, key: Hashable, delay_ms: int, op: Callable[[Any], CoordinatorResult[Any] | None]) -> None:
        self._keys.add(key)
        p, epoch = self._prefix
        full = (p, epoch, key)

        def fire() -> None:
            self._keys.discard(key)
            self._runtime.run_timer_op(p, epoch, op)

        self._runtime.timer.schedule(full, delay_ms, fire)

    def cancel(self, key: Hashable) -> None:
        self._keys.discard(key)
        self._runtime.timer.cancel((*self._prefix, key))

    def is_scheduled(self, key: Hashable) -> bool:
        return (*self._prefix, key) in self._runtime.timer

    def cancel_all(self) -> None:
        for key in list(self._keys):
            self.cancel(key)


class _Loaded(Generic[S]):
    __slots__ = ("shard", "epoch", "timer", "partition")

    def __init__(self, shard: S, epoch: int, timer: _ShardTimer, partition: Partition) -> None:
        self.shard = shard
        self.epoch = epoch
        self.timer = timer
        self.partition = partition


class CoordinatorRuntime(Generic[S]):
    """Shards of the partitions of ``topic`` this node leads (see the module doc).

    Args:
        core: the broker (replica manager, image, clock, config).
        topic: the internal topic whose partitions hold the shards' records.
        num_partitions: how many partitions the topic has (its config value).
        shard_factory: makes an empty shard for a partition.
        write_timeout_ms: how long a write waits for the high watermark
            (``offsets.commit.timeout.ms``, ``share.coordinator.write.timeout.ms``).
        check_min_isr: refuse a write (COORDINATOR_NOT_AVAILABLE) while the partition's
            ISR is below its ``min.insync.replicas``, as an acks=all append is refused
            NOT_ENOUGH_REPLICAS (``TransactionStateManager.appendTransactionToLog``).
    """

    def __init__(self, core: BrokerCore, topic: str, num_partitions: int,
                 shard_factory: Callable[[ShardContext], S], *, write_timeout_ms: int,
                 check_min_isr: bool = False) -> None:
        self.core = core
        self.topic = topic
        self.num_partitions = num_partitions
        self.shard_factory = shard_factory
        self.write_timeout_ms = write_timeout_ms
        self.check_min_isr = check_min_isr
        self.timer = DeadlineTimer()
        self._shards: dict[int, _Loaded[S]] = {}
        self._nursery: trio.Nursery | None = None

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the metadata image and fire timers until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.timer.run)
            self.core.metadata.add_publisher(self.on_image)
            self.on_image(self.core.image, self.core.image)
            task_status.started()

    def on_image(self, old: MetadataImage | None, new: MetadataImage) -> None:
        """Load the partitions this node now leads; unload those it no longer does."""
        leading: dict[int, Partition] = {}
        topic = new.topic(self.topic)
        if topic is not None:
            for index in topic.partitions:
                hosted = self.core.replicas.get(self.topic, index)
                if hosted is not None and hosted.is_leader:
                    leading[index] = hosted
        for p, loaded in list(self._shards.items()):
            hosted = leading.get(p)
            if hosted is None or hosted is not loaded.partition or hosted.leader_epoch != loaded.epoch:
                self._unload(p)
        for p, hosted in leading.items():
            if p not in self._shards:
                self._load(p, hosted)

    def _load(self, p: int, partition: Partition) -> None:
        epoch = partition.leader_epoch
        timer = _ShardTimer(self, p, epoch)
        context = ShardContext(partition=p, leader_epoch=epoch, timer=timer, now_ms=self.core.clock_ms,
                               image=lambda: self.core.image, config=self.core.config)
        shard = self.shard_factory(context)
        count = 0
        try:
            for item in iter_partition(partition.log):
                if item[0] == "marker":
                    shard.replay_end_transaction(item[1], item[2])
                else:
                    _, offset, producer_id, key, value = item
                    if key is not None:
                        shard.replay(offset, producer_id, key, value)
                        count += 1
        except (WireError, ValueError) as exc:
            log.error("Partition %s-%d: stopped loading at a record that does not decode: %s", self.topic, p, exc)
        self._shards[p] = _Loaded(shard, epoch, timer, partition)
        shard.on_loaded()
        # Per partition, as the group coordinator's loads: 50 lines at INFO on every start otherwise.
        log.debug("Loaded %s-%d at epoch %d: %d records replayed", self.topic, p, epoch, count)

    def _unload(self, p: int) -> None:
        loaded = self._shards.pop(p)
        loaded.timer.cancel_all()
        loaded.shard.on_unloaded()
        log.debug("Unloaded %s-%d", self.topic, p)

    # --- finding a shard --------------------------------------------------------------------

    def partition_for(self, key: str) -> int:
        """The partition owning ``key`` (Kafka's ``partitionFor``: Java hash modulo count)."""
        return partition_for(key, self.num_partitions)

    def shard(self, p: int) -> S | None:
        loaded = self._shards.get(p)
        return None if loaded is None else loaded.shard

    def loaded_partitions(self) -> list[int]:
        return sorted(self._shards)

    def shards(self) -> list[S]:
        return [loaded.shard for _, loaded in sorted(self._shards.items())]

    def coordinator_error(self, p: int) -> ErrorCode | None:
        """None if this node has partition ``p`` loaded, else the error to answer."""
        if p in self._shards:
            return None
        topic = self.core.image.topic(self.topic)
        if topic is None or p not in topic.partitions:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        hosted = self.core.replicas.get(self.topic, p)
        if hosted is not None and hosted.is_leader:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        return ErrorCode.NOT_COORDINATOR

    # --- operations -------------------------------------------------------------------------

    def read(self, p: int, fn: Callable[[S], T]) -> T:
        """``fn(shard)`` on partition ``p``'s shard.

        Raises:
            CoordinatorError: this node does not have ``p`` loaded.
        """
        error = self.coordinator_error(p)
        if error is not None:
            raise CoordinatorError(error)
        return fn(self._shards[p].shard)

    async def write(self, p: int, op: Callable[[S], CoordinatorResult[T]]) -> T:
        """Run ``op`` on partition ``p``'s shard, write and apply its records, and return
        its response once they are committed.

        Raises:
            CoordinatorError: the operation refused, this node is not the coordinator,
                or the records could not be written or committed (the code to answer).
        """
        error = self.coordinator_error(p)
        if error is not None:
            raise CoordinatorError(error)
        loaded = self._shards[p]
        result = op(loaded.shard)
        if not result.records:
            return result.response
        next_offset = self._append(loaded, result)
        await self._await_committed(p, loaded, next_offset)
        return result.response

    def append(self, p: int, records: list[KeyValue], *, producer_id: int = -1, producer_epoch: int = -1) -> int:
        """Write ``records`` to partition ``p`` as one batch and replay them into its shard,
        without waiting; the offset after them, for :meth:`committed`. (The group
        coordinator's classic and consumer groups, whose operations are not shard
        operations yet, write this way.)

        Raises:
            CoordinatorError: this node is not the coordinator, or the append failed.
        """
        error = self.coordinator_error(p)
        if error is not None:
            raise CoordinatorError(error)
        return self._append(self._shards[p], CoordinatorResult(records, None, producer_id, producer_epoch))

    async def committed(self, p: int, next_offset: int) -> None:
        """Wait until partition ``p``'s high watermark reaches ``next_offset``.

        Raises:
            CoordinatorError: NOT_COORDINATOR if ``p`` is (or gets) unloaded,
                COORDINATOR_NOT_AVAILABLE after the write timeout.
        """
        loaded = self._shards.get(p)
        if loaded is None:
            raise CoordinatorError(ErrorCode.NOT_COORDINATOR)
        await self._await_committed(p, loaded, next_offset)

    def write_in_background(self, p: int, op: Callable[[S], CoordinatorResult[Any] | None]) -> None:
        """Run ``op`` and write its records without waiting for them to commit
        (timers; answers nobody waits for). Failures are logged."""
        loaded = self._shards.get(p)
        if loaded is None:
            return
        try:
            result = op(loaded.shard)
            if result is not None and result.records:
                self._append(loaded, result)
        except CoordinatorError as exc:
            log.warning("%s-%d: background write refused: %s", self.topic, p, exc.code.name)

    def run_timer_op(self, p: int, epoch: int, op: Callable[[S], CoordinatorResult[Any] | None]) -> None:
        loaded = self._shards.get(p)
        if loaded is None or loaded.epoch != epoch:
            return
        self.write_in_background(p, op)

    def _append(self, loaded: _Loaded[S], result: CoordinatorResult[Any]) -> int:
        """Append the result's records as one batch, replay them; the next offset."""
        partition = loaded.partition
        hosted = self.core.replicas.get(self.topic, partition.tp.partition)
        if hosted is not partition or not partition.is_leader:
            raise CoordinatorError(ErrorCode.NOT_COORDINATOR)
        log_ = partition.log
        if self.check_min_isr and len(partition.isr) < log_.config.min_insync_replicas:
            raise CoordinatorError(append_error(ErrorCode.NOT_ENOUGH_REPLICAS))
        producer_id, producer_epoch = result.producer_id, result.producer_epoch
        sequence = NO_SEQUENCE
        if producer_id >= 0:
            entry = log_.producer_state.producers.get(producer_id)
            same_epoch = entry is not None and entry.producer_epoch == producer_epoch
            sequence = increment_sequence(entry.last_seq, 1) if same_epoch and entry.last_seq >= 0 else 0
        now = self.core.clock_ms()
        batch = bytearray(build_batch([Record(i, 0, k, v) for i, (k, v) in enumerate(result.records)],
                                      base_timestamp=now, producer_id=producer_id, producer_epoch=producer_epoch,
                                      base_sequence=sequence, is_transactional=producer_id >= 0))
        try:
            info = log_.append(batch, leader_epoch=partition.leader_epoch, now_ms=now,
                               origin=AppendOrigin.COORDINATOR)
        except StorageError as exc:
            raise CoordinatorError(append_error(exc.error_code)) from None
        if info.error_code != ErrorCode.NONE:
            raise CoordinatorError(append_error(info.error_code))
        self.core.replicas.on_append(partition)
        first = info.last_offset - len(result.records) + 1
        for i, (key, value) in enumerate(result.records):
            loaded.shard.replay(first + i, producer_id, key, value)
        return info.last_offset + 1

    async def _await_committed(self, p: int, loaded: _Loaded[S], next_offset: int) -> None:
        partition = loaded.partition
        replicas = self.core.replicas

        def done() -> bool:
            return self._shards.get(p) is not loaded or partition.log.high_watermark >= next_offset

        completed = await replicas.purgatories.produce.wait(
            done, [TopicPartition(self.topic, p)], self.write_timeout_ms / 1000)
        if self._shards.get(p) is not loaded:
            raise CoordinatorError(ErrorCode.NOT_COORDINATOR)
        if not completed:
            raise CoordinatorError(ErrorCode.COORDINATOR_NOT_AVAILABLE)


# --- reading a partition back ---------------------------------------------------------------


def iter_partition(log_: Any) -> Iterator[tuple[Any, ...]]:
    """Every record of a coordinator partition, in log order, undecoded.

    Yields ``("record", offset, producer_id, key, value)`` (producer id -1 outside
    transactions) and ``("marker", producer_id, commit)`` for transaction markers.
    """
    offset = log_.log_start_offset
    end = log_.log_end_offset
    while offset < end:
        info = log_.read(offset, _READ_CHUNK)
        data = b"".join(_piece_bytes(piece) for piece in info.records)
        last = None
        for pos, header in iter_batches(data):
            last = header
            if header.base_offset + header.last_offset_delta < offset:
                continue
            if header.is_control:
                if header.is_transactional:
                    marker = parse_end_txn_marker(data, pos)
                    if marker is not None:
                        yield ("marker", header.producer_id, marker.commit)
                continue
            producer_id = header.producer_id if header.is_transactional else -1
            for r in iter_records(data, pos):
                yield ("record", header.base_offset + r.offset_delta, producer_id, r.key, r.value)
        if last is None:
            break
        offset = last.base_offset + last.last_offset_delta + 1


def _piece_bytes(piece: object) -> bytes:
    if isinstance(piece, FileRegion):
        return os.pread(piece.fd, piece.length, piece.position)
    return bytes(piece)  # type: ignore[call-overload]


__all__ = ["CoordinatorRuntime", "KeyValue", "append_error", "iter_partition"]
