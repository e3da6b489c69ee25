"""The transaction coordinator (Kafka's ``TransactionCoordinator`` + ``TransactionStateManager``),
on the coordinator runtime.

Theory of operation:

* A transactional id belongs to one partition of ``__transaction_state``
  (``partitionFor`` with ``transaction.state.log.num.partitions``); the leader of that
  partition is its coordinator, and the partition's leader epoch is the *coordinator
  epoch* written into every marker, so a deposed coordinator's markers are refused
  (TRANSACTION_COORDINATOR_FENCED).
* The state of each partition led here is a
  :class:`~kafkapy.broker.txn.shard.TransactionShard` on a
  :class:`~kafkapy.broker.coordinator.runtime.CoordinatorRuntime`: loaded once when this
  node becomes its leader (``onElection``), dropped when it stops being it. Requests
  are operations on the shard, whose records the runtime writes (acks=all; refused
  below ``min.insync.replicas``) and replays before answering once they are committed.
  Transactions found in PrepareCommit or PrepareAbort on loading get their markers
  written again and are then completed; Ongoing ones are aborted by the shard's
  timeout timer once their timeout has passed. So a restart or a failover never
  leaves a transaction half-visible.
* This module is the shard's I/O: new producer ids (from the controller), and the
  markers. EndTxn answers once PrepareCommit/PrepareAbort is committed; the markers
  are then written by a background task (Kafka's ``TransactionMarkerChannelManager``),
  each to its partition's leader as the metadata image names it: in process for the
  partitions led here (:mod:`~kafkapy.broker.txn.markers`), as WriteTxnMarkers requests
  to the other leaders' inter-broker endpoints
  (:mod:`~kafkapy.broker.txn.marker_channel`, one connection per broker); markers that
  failed for a retriable reason (the leader moved, no answer) are sent again to the
  leader looked up anew, until every partition has its marker, and
  CompleteCommit/CompleteAbort is written last.
* Partition leaders verify the first transactional batch of a producer with the
  coordinator of its transactional id (KIP-890, :meth:`verify_produce`): this node's
  coordinator in process, another broker's with AddPartitionsToTxn v4+
  (:mod:`~kafkapy.broker.txn.add_partitions_manager`).

Transaction version 2 (KIP-890 part 2, the ``transaction.version`` feature at 2): the
version is the client's, told by the request versions it sends (EndTxn v5+, Produce
v12+, TxnOffsetCommit v5+), and kept on the transaction. A version 2 EndTxn bumps the
producer epoch (:meth:`TransactionMetadata.prepare_abort_or_commit`), answers the new
producer id and epoch, and the markers carry the bumped epoch, so a late request of the
ended transaction is fenced at every partition; an exhausted epoch moves the id to a
new producer id. Partitions are added by the partition leader on the transaction's
first produce to them (:meth:`verify_produce`) and the offsets partition by
TxnOffsetCommit, not by the client, through the coordinator wherever it is
(:meth:`add_or_verify`). Timed-out transactions are aborted at the cluster's
finalized version.

Error codes are Kafka's, PRODUCER_FENCED included; handlers translate them for old
request versions. Not implemented: two-phase commit (KIP-939); Kafka's verification
guard (a marker landing between a batch's verification and its append does not void
the verification).

Task-safety: trio thread only. What a task learned of a shard before an await is
checked again after it (the shard may be unloaded, the transaction changed).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING

import trio

from kafkapy.broker.coordinator.runtime import CoordinatorRuntime
from kafkapy.broker.coordinator.shard import CoordinatorError, CoordinatorResult, ShardContext
from kafkapy.broker.errors import BrokerError
from kafkapy.broker.groups.coordinator_topics import TRANSACTION_STATE_TOPIC
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.txn.add_partitions_manager import (
    AddPartitionsToTxnManager,
    TxnOperation,
    coordinator_answer,
    produce_error,
    produce_operation,
)
from kafkapy.broker.txn.marker_channel import TxnMarkerChannel, error_code
from kafkapy.broker.txn.markers import write_txn_markers
from kafkapy.broker.txn.metadata import TransactionMetadata, TxnState
from kafkapy.broker.txn.shard import ProducerIdNeeded, TransactionShard, TxnAnswer
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.messages.write_txn_markers import WriteTxnMarkersRequest
from kafkapy.wire.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    MAGIC_OFFSET,
    MAGIC_V2,
    TRANSACTIONAL_MASK,
    read_batch_header,
    validate_produce_records,
)

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.wire.messages.write_txn_markers import WriteTxnMarkersResponse

log = logging.getLogger(__name__)

#: Pause between rounds of markers that could not all be written (Kafka retries on
#: its next metadata update or request timeout).
MARKER_RETRY_S = 0.1
#: A partition leader adding a partition to a transaction retries CONCURRENT_TRANSACTIONS
#: (the previous transaction's markers being written) every 20 ms for up to 100 ms before
#: answering the producer a retriable error (Kafka's
#: ``add.partitions.to.txn.retry.backoff.ms`` and ``...backoff.max.ms`` defaults;
#: :meth:`TransactionCoordinator.add_or_verify`).
ADD_PARTITIONS_RETRY_S = 0.02
ADD_PARTITIONS_RETRY_MAX_S = 0.1

#: Marker errors worth another try (``TransactionMarkerRequestCompletionHandler``), with
#: the leader looked up again; LEADER_NOT_AVAILABLE stands for a partition without a
#: reachable leader, NETWORK_EXCEPTION for a request to a leader that got no answer
#: (Kafka queues both again).
_RETRIABLE_MARKER_ERRORS = frozenset({
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND, ErrorCode.REQUEST_TIMED_OUT, ErrorCode.KAFKA_STORAGE_ERROR,
    ErrorCode.LEADER_NOT_AVAILABLE, ErrorCode.NETWORK_EXCEPTION,
})
#: Marker errors after which the partition is given up (logged), as Kafka does.
_DROPPED_MARKER_ERRORS = frozenset({ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, ErrorCode.UNSUPPORTED_VERSION})
#: Marker errors saying a newer producer or coordinator took over: stop sending.
_FENCED_MARKER_ERRORS = frozenset({ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.TRANSACTION_COORDINATOR_FENCED})

#: An operation on a shard, given a new producer id once it asked for one.
_Op = Callable[[TransactionShard, "int | None"], CoordinatorResult[TxnAnswer]]


class TransactionCoordinator:
    """See the module doc. Start :meth:`run` in the node's nursery."""

    def __init__(self, broker: BrokerCore) -> None:
        self.broker = broker
        self.config = broker.config

        def shard(context: ShardContext) -> TransactionShard:
            return TransactionShard(context, markers_due=self._markers_due, write_due=self._write_due)

        #: the shards of the ``__transaction_state`` partitions led here
        self.runtime: CoordinatorRuntime[TransactionShard] = CoordinatorRuntime(
            broker, TRANSACTION_STATE_TOPIC, self.config.transaction_state_log_num_partitions, shard,
            write_timeout_ms=self.config.request_timeout_ms, check_min_isr=True)
        #: markers for partitions led by other brokers
        self.marker_channel = TxnMarkerChannel(broker)
        #: this broker's questions, as a partition leader, to other brokers' coordinators
        self.add_partitions_manager = AddPartitionsToTxnManager(broker)
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the senders of requests to other brokers, then the runtime (which loads
        the partitions led here and fires the shards' timers)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.marker_channel.run)
            await nursery.start(self.add_partitions_manager.run)
            await nursery.start(self.runtime.run)
            task_status.started()

    # --- lookups -------------------------------------------------------------------------

    def partition_index(self, transactional_id: str) -> int:
        """The ``__transaction_state`` partition of ``transactional_id`` (``partitionFor``,
        with the partition count FindCoordinator uses)."""
        return self.runtime.partition_for(transactional_id)

    def _shard(self, transactional_id: str) -> tuple[ErrorCode, TransactionShard | None]:
        """The shard coordinating the id here, else the error to answer: NOT_COORDINATOR,
        or COORDINATOR_LOAD_IN_PROGRESS (``TransactionStateManager.getTransactionState``
        knows no other)."""
        p = self.partition_index(transactional_id)
        error = self.runtime.coordinator_error(p)
        if error is not None:
            return (error if error == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS else ErrorCode.NOT_COORDINATOR), None
        return ErrorCode.NONE, self.runtime.shard(p)

    def coordinator_node(self, transactional_id: str) -> int | None:
        """The broker coordinating ``transactional_id`` in the current image: the leader of
        its ``__transaction_state`` partition, if it has one and is unfenced (Kafka's
        ``AddPartitionsToTxnManager.getTransactionCoordinator``); None otherwise."""
        image = self.broker.image
        registration = image.partition(TRANSACTION_STATE_TOPIC, self.partition_index(transactional_id))
        if registration is None or not registration.has_leader():
            return None
        leader = image.brokers.get(registration.leader)
        if leader is None or leader.fenced:
            return None
        return registration.leader

    # --- writing -------------------------------------------------------------------------

    async def _write(self, shard: TransactionShard, transactional_ids: Collection[str],
                     op: Callable[[TransactionShard], CoordinatorResult[TxnAnswer]]) -> TxnAnswer:
        """Run ``op`` on ``shard`` as a runtime write of ``transactional_ids``, then settle them."""
        p = shard.context.partition
        if self.runtime.shard(p) is not shard:
            return TxnAnswer(ErrorCode.NOT_COORDINATOR)
        try:
            return await self.runtime.write(p, op)
        except CoordinatorError as exc:
            log.warning("Writing %s to %s-%d failed: %s", ", ".join(map(repr, transactional_ids)),
                        TRANSACTION_STATE_TOPIC, p, exc.code.name)
            return TxnAnswer(exc.code)
        finally:
            if self.runtime.shard(p) is shard:
                shard.settle(transactional_ids)

    async def _operate(self, transactional_id: str, op: _Op) -> TxnAnswer:
        """Run ``op`` on the id's shard; once more with a new producer id if it asks for one
        (a second ask means the id changed meanwhile: CONCURRENT_TRANSACTIONS)."""
        producer_id: int | None = None
        while True:
            code, shard = self._shard(transactional_id)
            if shard is None:
                return TxnAnswer(code)
            try:
                return await self._write(shard, (transactional_id,), lambda s: op(s, producer_id))
            except ProducerIdNeeded:
                if producer_id is not None:
                    return TxnAnswer(ErrorCode.CONCURRENT_TRANSACTIONS)
                producer_id = await self._new_producer_id()

    def _write_due(self, shard: TransactionShard, transactional_ids: Collection[str],
                   op: Callable[[TransactionShard], CoordinatorResult[TxnAnswer]]) -> None:
        """A shard timer's write, run in the background."""
        assert self._nursery is not None
        self._nursery.start_soon(self._write, shard, transactional_ids, op)

    async def _new_producer_id(self) -> int:
        try:
            return await self.broker.producer_ids.generate_producer_id()
        except NotControllerError:
            raise BrokerError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) from None

    # --- InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn ---------------------

    async def init_producer_id(self, transactional_id: str | None, timeout_ms: int,
                               expected: tuple[int, int] | None = None) -> TxnAnswer:
        """InitProducerId (``handleInitProducerId``).

        Args:
            transactional_id: None for an idempotent producer: a new id at epoch 0.
            expected: (producer id, epoch) the producer has now (KIP-360, v3+), or None.
        """
        if transactional_id is None:
            return TxnAnswer(ErrorCode.NONE, await self._new_producer_id(), 0)
        if not transactional_id:
            return TxnAnswer(ErrorCode.INVALID_REQUEST)
        if not 0 < timeout_ms <= self.config.transaction_max_timeout_ms:
            return TxnAnswer(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        return await self._operate(transactional_id, lambda s, new_id: s.init_producer_id(
            transactional_id, timeout_ms, expected, new_id))

    async def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                             partitions: Iterable[TopicPartition], *, client_txn_version: int = 0) -> ErrorCode:
        """Add partitions to the producer's transaction, starting it if need be."""
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST
        partitions = list(partitions)
        answer = await self._operate(transactional_id, lambda s, _: s.add_partitions(
            transactional_id, producer_id, producer_epoch, partitions, client_txn_version))
        return answer.error

    def verify_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                          partitions: Iterable[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        """KIP-890 part 1 verification (AddPartitionsToTxn v4+ ``verify_only``): is each
        partition in the producer's open transaction? Nothing is changed."""
        partitions = list(partitions)
        code, shard = self._shard(transactional_id) if transactional_id else (ErrorCode.INVALID_REQUEST, None)
        if shard is None:
            return dict.fromkeys(partitions, code)
        return shard.verify_partitions(transactional_id, producer_id, producer_epoch, partitions)

    async def end_transaction(self, transactional_id: str, producer_id: int, producer_epoch: int,
                              commit: bool, *, client_txn_version: int = 0) -> TxnAnswer:
        """EndTxn from the producer (``handleEndTransaction``): answered once Prepare* is written."""
        if not transactional_id:
            return TxnAnswer(ErrorCode.INVALID_REQUEST)
        return await self._operate(transactional_id, lambda s, new_id: s.end_transaction(
            transactional_id, producer_id, producer_epoch, commit, client_txn_version, new_id))

    # --- produce verification ------------------------------------------------------------

    async def verify_produce(self, transactional_id: str | None, topic: str, index: int,
                             records: memoryview | None, produce_version: int) -> ErrorCode | None:
        """The partition leader's check of a transactional batch before it is appended
        (KIP-890 part 1, Kafka's ``ReplicaManager.maybeSendPartitionsToTransactionCoordinator``).

        The first batch of a transaction in a partition is appended only if the
        coordinator has the partition in the producer's open transaction, so a late
        batch of an ended transaction cannot open a transaction nobody will end (a
        hanging transaction). From Produce v12 (transaction version 2, KIP-890 part 2)
        the partition is added to the transaction instead of only verified: such clients
        send no AddPartitionsToTxn. The coordinator is asked where it is
        (:meth:`add_or_verify`). Returns the error to answer instead of appending
        (``ReplicaManager``'s translation, :func:`produce_error`), or None to go on (not
        transactional, not led here, already verified, or verified now).

        Only a magic 2 batch is transactional, as Kafka reads it (a legacy magic 0/1
        record has no such bit, and a higher magic is corrupt): anything else goes on
        to the batch checks, which answer INVALID_RECORD or CORRUPT_MESSAGE for the
        partition as Kafka 4.1 does. So does a transactional batch failing the checks
        of ``ProduceRequest.validateRecords`` (two batches, zstd before Produce v7),
        which ``KafkaApis`` runs before the verification.
        """
        if records is None or len(records) < BATCH_HEADER_SIZE or records[MAGIC_OFFSET] != MAGIC_V2 \
                or not records[ATTRIBUTES_OFFSET + 1] & TRANSACTIONAL_MASK:
            return None
        if transactional_id is None:
            # Kafka refuses transactional records without a transactional id as unauthorized.
            return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        try:
            validate_produce_records(records, produce_version=produce_version)
        except WireError:
            return None  # KafkaApis answers these checks before any verification: the append does
        partition = self.broker.replicas.get(topic, index)
        if partition is None or not partition.is_leader:
            return None
        header = read_batch_header(records)
        entry = partition.log.producer_state.producers.get(header.producer_id)
        if entry is not None and entry.current_txn_first_offset is not None \
                and entry.producer_epoch == header.producer_epoch:
            return None
        tp = TopicPartition(topic, index)
        codes = await self.add_or_verify(transactional_id, header.producer_id, header.producer_epoch, [tp],
                                         produce_operation(produce_version))
        return produce_error(codes[tp])

    async def add_or_verify(self, transactional_id: str, producer_id: int, producer_epoch: int,
                            partitions: Iterable[TopicPartition], operation: TxnOperation
                            ) -> dict[TopicPartition, ErrorCode]:
        """A partition leader's question to the id's coordinator: are ``partitions`` in the
        producer's open transaction (verify), or add them (``ADD_PARTITION``, transaction
        version 2)? In process when this node coordinates the id, else AddPartitionsToTxn
        through :attr:`add_partitions_manager`; the answer per partition as Kafka's
        ``AddPartitionsToTxnManager`` hands it on (:func:`coordinator_answer`).

        An add that meets CONCURRENT_TRANSACTIONS (the previous transaction's markers
        being written) is retried for a while (``ReplicaManager``'s
        ``maybeRetryOnConcurrentTransactions``), the coordinator looked up again each
        time. No coordinator known is COORDINATOR_NOT_AVAILABLE.
        """
        partitions = list(partitions)
        adding = operation is TxnOperation.ADD_PARTITION
        deadline = trio.current_time() + ADD_PARTITIONS_RETRY_MAX_S
        while True:
            coordinator = self.coordinator_node(transactional_id)
            if coordinator is None:
                codes = dict.fromkeys(partitions, ErrorCode.COORDINATOR_NOT_AVAILABLE)
            elif coordinator == self.broker.node_id:
                if adding:
                    code = await self.add_partitions(transactional_id, producer_id, producer_epoch, partitions,
                                                     client_txn_version=2)
                    codes = dict.fromkeys(partitions, code)
                else:
                    codes = self.verify_partitions(transactional_id, producer_id, producer_epoch, partitions)
                codes = {tp: coordinator_answer(code, operation) for tp, code in codes.items()}
            else:
                codes = await self.add_partitions_manager.add_or_verify(
                    coordinator, transactional_id, producer_id, producer_epoch, partitions, operation)
            if not adding or ErrorCode.CONCURRENT_TRANSACTIONS not in codes.values() \
                    or trio.current_time() >= deadline:
                return codes
            await trio.sleep(ADD_PARTITIONS_RETRY_S)

    # --- markers -------------------------------------------------------------------------

    def _markers_due(self, shard: TransactionShard, transactional_id: str) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(self._complete_transaction, shard, shard.txns[transactional_id])

    async def _complete_transaction(self, shard: TransactionShard, txn: TransactionMetadata) -> None:
        """Write the markers to every partition of the transaction, then Complete*.

        Kafka's ``TransactionMarkerChannelManager``: each round sends every marker still
        missing to its partition's leader as the metadata image names it now
        (:meth:`_send_markers`); partitions whose marker failed for a retriable reason
        (the leader moved, no answer, not enough replicas) are tried again, so the
        transaction stays Prepare* until every marker is written; a partition whose
        topic is gone is dropped; a fenced marker (newer producer or coordinator) ends
        the work.
        """
        p = shard.context.partition
        state = txn.state

        def current() -> bool:
            return self.runtime.shard(p) is shard and shard.txns.get(txn.transactional_id) is txn \
                and txn.state is state

        remaining = set(txn.partitions)
        while remaining:
            if not current():
                return  # the partition moved away: its next coordinator finishes the job
            codes = await self._send_markers(shard.coordinator_epoch, txn, state is TxnState.PREPARE_COMMIT,
                                             remaining)
            image = self.broker.image
            for tp, code in codes.items():
                if code == ErrorCode.NONE or image.partition(tp.topic, tp.partition) is None:
                    remaining.discard(tp)
                elif code in _FENCED_MARKER_ERRORS:
                    log.warning("Markers of %r stopped: %s on %s", txn.transactional_id, code.name, tp)
                    return
                elif code in _DROPPED_MARKER_ERRORS:
                    log.error("Marker of %r to %s dropped: %s", txn.transactional_id, tp, code.name)
                    remaining.discard(tp)
                elif code not in _RETRIABLE_MARKER_ERRORS:
                    log.error("Marker of %r to %s failed: %s; retrying", txn.transactional_id, tp, code.name)
            if remaining:
                await trio.sleep(MARKER_RETRY_S)
        while current():
            answer = await self._write(shard, (txn.transactional_id,), lambda s: s.complete(txn))
            if answer.error in (ErrorCode.NONE, ErrorCode.NOT_COORDINATOR):
                return
            await trio.sleep(MARKER_RETRY_S)

    async def _send_markers(self, coordinator_epoch: int, txn: TransactionMetadata, commit: bool,
                            partitions: Iterable[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        """One round of markers: grouped by the partitions' leaders in the image, appended
        in process for those led here (:func:`write_txn_markers`) and sent as
        WriteTxnMarkers to the others' leaders (:attr:`marker_channel`), all at once.
        The answer per partition; LEADER_NOT_AVAILABLE for one with no reachable leader."""
        image = self.broker.image
        codes: dict[TopicPartition, ErrorCode] = {}
        by_leader: dict[int, list[TopicPartition]] = {}
        for tp in sorted(partitions):
            registration = image.partition(tp.topic, tp.partition)
            if registration is None:
                codes[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif registration.leader == self.broker.node_id \
                    or self.broker.inter_broker_address(registration.leader) is not None:
                by_leader.setdefault(registration.leader, []).append(tp)
            else:
                codes[tp] = ErrorCode.LEADER_NOT_AVAILABLE

        def marker(tps: list[TopicPartition]) -> WriteTxnMarkersRequest.WritableTxnMarker:
            by_topic: dict[str, list[int]] = {}
            for tp in tps:
                by_topic.setdefault(tp.topic, []).append(tp.partition)
            return WriteTxnMarkersRequest.WritableTxnMarker(
                producer_id=txn.producer_id, producer_epoch=txn.producer_epoch, transaction_result=commit,
                coordinator_epoch=coordinator_epoch, transaction_version=txn.client_txn_version,
                topics=[WriteTxnMarkersRequest.WritableTxnMarkerTopic(name=topic, partition_indexes=indexes)
                        for topic, indexes in by_topic.items()])

        async def in_process(tps: list[TopicPartition]) -> None:
            response = await write_txn_markers(self.broker, WriteTxnMarkersRequest(markers=[marker(tps)]))
            codes.update(_marker_codes(response))

        async def remote(leader: int, tps: list[TopicPartition]) -> None:
            codes.update(await self.marker_channel.send(leader, marker(tps)))

        async with trio.open_nursery() as nursery:
            for leader, tps in by_leader.items():
                if leader == self.broker.node_id:
                    nursery.start_soon(in_process, tps)
                else:
                    nursery.start_soon(remote, leader, tps)
        return codes

    # --- DescribeTransactions / ListTransactions -----------------------------------------

    def describe(self, transactional_id: str) -> tuple[ErrorCode, TransactionMetadata | None]:
        """The id's metadata; TRANSACTIONAL_ID_NOT_FOUND if this coordinator has none."""
        code, shard = self._shard(transactional_id)
        if shard is None:
            return code, None
        txn = shard.txns.get(transactional_id)
        return (ErrorCode.NONE, txn) if txn is not None else (ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, None)

    def list_transactions(self, states: set[TxnState] | None, producer_ids: set[int], min_duration_ms: int,
                          pattern: re.Pattern[str] | None) -> list[TransactionMetadata]:
        """The transactions coordinated here that pass every filter (``listTransactionStates``).

        ``states`` None, an empty ``producer_ids``, ``min_duration_ms`` < 0 and
        ``pattern`` None filter nothing.
        """
        return [txn for shard in self.runtime.shards()
                for txn in shard.list_transactions(states, producer_ids, min_duration_ms, pattern)]


def _marker_codes(response: WriteTxnMarkersResponse) -> dict[TopicPartition, ErrorCode]:
    """Every partition's answer in a WriteTxnMarkers response."""
    return {TopicPartition(t.name, p.partition_index): error_code(p.error_code)
            for result in response.markers for t in result.topics for p in t.partitions}
