"""The transaction coordinator (Kafka's ``TransactionCoordinator`` + ``TransactionStateManager``).

Theory of operation:

* A transactional id belongs to one partition of ``__transaction_state``
  (:func:`~kafkapy.broker.groups.coordinator_topics.partition_for`); the leader of
  that partition is its coordinator, and the partition's leader epoch is the
  *coordinator epoch* written into every marker, so a deposed coordinator's markers are
  refused (TRANSACTION_COORDINATOR_FENCED).
* When this node becomes leader of such a partition (:meth:`on_metadata`, a metadata
  publisher) the partition is loaded: the newest record per transactional id is its
  state (:mod:`~kafkapy.broker.txn.log`). Transactions found in PrepareCommit or
  PrepareAbort get their markers written again and are then completed; transactions
  found Ongoing are aborted by the timeout task once their timeout has passed. So a
  restart never leaves a transaction half-visible. Losing leadership drops the
  partition's state.
* Every state change is written to the partition (acks=all) before it takes effect,
  in two steps (:mod:`~kafkapy.broker.txn.metadata`); meanwhile other requests for the
  id get CONCURRENT_TRANSACTIONS.
* EndTxn answers once PrepareCommit/PrepareAbort is written. The markers are then
  written by a background task (Kafka's ``TransactionMarkerChannelManager``), each to
  its partition's leader as the metadata image names it: in process for the partitions
  led here (:mod:`~kafkapy.broker.txn.markers`), as WriteTxnMarkers v1 requests to the
  other leaders' inter-broker endpoints (:mod:`~kafkapy.broker.txn.marker_channel`,
  one connection per broker); markers that failed for a retriable reason (the leader
  moved, no answer) are sent again to the leader looked up anew, until every partition
  has its marker, and CompleteCommit/CompleteAbort is written last.
* Partition leaders verify the first transactional batch of a producer with the
  coordinator of its transactional id (KIP-890, :meth:`verify_produce`): this node's
  coordinator in process, another broker's with AddPartitionsToTxn v4+
  (:mod:`~kafkapy.broker.txn.add_partitions_manager`).
* Two periodic tasks: transactions Ongoing for longer than their timeout are aborted
  with a bumped epoch (the producer is fenced), every
  ``transaction.abort.timed.out.transaction.cleanup.interval.ms``; idle transactional
  ids older than ``transactional.id.expiration.ms`` are tombstoned, every
  ``transaction.remove.expired.transaction.cleanup.interval.ms``.

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

Task-safety: trio thread only. A method reads and changes a transaction only between
awaits; whatever it learned before an await is checked again after it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import trio

from kafkapy.broker.errors import BrokerError
from kafkapy.broker.groups.coordinator_topics import (
    TRANSACTION_STATE_TOPIC,
    partition_for,
)
from kafkapy.broker.replica_manager import ReplicationTarget, TopicPartition
from kafkapy.broker.txn import log as txn_log
from kafkapy.broker.txn.add_partitions_manager import (
    AddPartitionsToTxnManager,
    TxnOperation,
    coordinator_answer,
    produce_error,
    produce_operation,
)
from kafkapy.broker.txn.marker_channel import TxnMarkerChannel, error_code
from kafkapy.broker.txn.markers import write_txn_markers
from kafkapy.broker.txn.metadata import (
    MAX_PRODUCER_EPOCH,
    TransactionMetadata,
    TxnState,
    TxnTransit,
)
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.features import TRANSACTION_VERSION
from kafkapy.storage.errors import StorageError
from kafkapy.storage.partition_log import AppendOrigin
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.messages.write_txn_markers import WriteTxnMarkersRequest
from kafkapy.wire.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    MAGIC_OFFSET,
    MAGIC_V2,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    TRANSACTIONAL_MASK,
    read_batch_header,
    validate_produce_records,
)

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.kraft.metadata.image import MetadataImage
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

#: How a failed append to ``__transaction_state`` is reported (``appendTransactionToLog``).
_APPEND_ERRORS = {
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_ENOUGH_REPLICAS: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.REQUEST_TIMED_OUT: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_LEADER_OR_FOLLOWER: ErrorCode.NOT_COORDINATOR,
    ErrorCode.KAFKA_STORAGE_ERROR: ErrorCode.NOT_COORDINATOR,
    ErrorCode.MESSAGE_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
    ErrorCode.RECORD_LIST_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
}


class InitProducerIdResult(NamedTuple):
    error: ErrorCode
    producer_id: int = -1
    producer_epoch: int = NO_PRODUCER_EPOCH


class EndTxnResult(NamedTuple):
    """EndTxn's answer; the producer id and epoch are the ones to go on with (v5+)."""

    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH


@dataclass(slots=True)
class TxnPartition:
    """A ``__transaction_state`` partition this node leads, and the transactions in it."""

    index: int
    coordinator_epoch: int
    txns: dict[str, TransactionMetadata] = field(default_factory=dict)

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(TRANSACTION_STATE_TOPIC, self.index)


class TransactionCoordinator:
    """See the module doc. Start :meth:`run` in the node's nursery."""

    def __init__(self, broker: BrokerCore) -> None:
        self.broker = broker
        self.config = broker.config
        #: partition index -> the partition's state, for the partitions led here
        self.partitions: dict[int, TxnPartition] = {}
        #: markers for partitions led by other brokers
        self.marker_channel = TxnMarkerChannel(broker)
        #: this broker's questions, as a partition leader, to other brokers' coordinators
        self.add_partitions_manager = AddPartitionsToTxnManager(broker)
        self._nursery: trio.Nursery | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load the partitions led here, then run the timeout and expiration tasks and
        the senders of requests to other brokers."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.marker_channel.run)
            await nursery.start(self.add_partitions_manager.run)
            self.broker.metadata.add_publisher(lambda old, new: self.on_metadata(new))
            self.on_metadata(self.broker.image)
            nursery.start_soon(self._every, self.config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
                               self.abort_timed_out_transactions)
            nursery.start_soon(self._every, self.config.transaction_remove_expired_transaction_cleanup_interval_ms,
                               self.remove_expired_transactional_ids)
            task_status.started()
            await trio.sleep_forever()

    @staticmethod
    async def _every(interval_ms: int, fn: Callable[[], None]) -> None:
        while True:
            await trio.sleep(interval_ms / 1000)
            fn()

    def on_metadata(self, image: MetadataImage) -> None:
        """Load the partitions this node now leads, drop those it no longer leads
        (Kafka's ``onElection``/``onResignation``). A metadata publisher."""
        replicas = self.broker.replicas
        topic = image.topic(TRANSACTION_STATE_TOPIC)
        led: dict[int, int] = {}
        if topic is not None:
            for index in topic.partitions:
                partition = replicas.get(TRANSACTION_STATE_TOPIC, index)
                if partition is not None and partition.is_leader:
                    led[index] = partition.leader_epoch
        gone = [i for i, p in self.partitions.items() if led.get(i) != p.coordinator_epoch]
        for index in gone:
            log.debug("Transaction state partition %d is no longer led here", index)
            del self.partitions[index]
        if gone:
            log.info("%d %s partitions are no longer led here", len(gone), TRANSACTION_STATE_TOPIC)
        loaded = [index for index, epoch in led.items() if index not in self.partitions and self._load(index, epoch)]
        if loaded:
            log.info("Loaded %d transactional ids from %d %s partitions",
                     sum(len(self.partitions[i].txns) for i in loaded), len(loaded), TRANSACTION_STATE_TOPIC)

    def _load(self, index: int, coordinator_epoch: int) -> bool:
        """Load one partition's transactional ids; whether it loaded."""
        partition = self.broker.replicas.get(TRANSACTION_STATE_TOPIC, index)
        assert partition is not None
        try:
            states = txn_log.load_partition(partition.log)
        except WireError as exc:
            log.error("Transaction state partition %d does not load: %s", index, exc)
            return False
        part = TxnPartition(index, coordinator_epoch)
        now_ms = self.broker.clock_ms()
        for transactional_id, transit in states.items():
            txn = part.txns[transactional_id] = TransactionMetadata.from_transit(transactional_id, transit)
            if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
                self._start_markers(part, txn, now_ms)
        self.partitions[index] = part
        log.debug("Loaded %d transactional ids from %s (coordinator epoch %d)", len(part.txns), part.tp,
                  coordinator_epoch)
        return True

    # --- lookups -------------------------------------------------------------------------

    def partition_index(self, transactional_id: str) -> int:
        """The ``__transaction_state`` partition of ``transactional_id`` (``partitionFor``,
        with the partition count FindCoordinator uses)."""
        return partition_for(transactional_id, self.config.transaction_state_log_num_partitions)

    def _lookup(self, transactional_id: str) -> tuple[ErrorCode, TxnPartition | None, TransactionMetadata | None]:
        """NOT_COORDINATOR unless this node coordinates the id; else its metadata, if any."""
        part = self.partitions.get(self.partition_index(transactional_id))
        if part is None:
            return ErrorCode.NOT_COORDINATOR, None, None
        return ErrorCode.NONE, part, part.txns.get(transactional_id)

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

    @property
    def transaction_version(self) -> int:
        """The cluster's finalized ``transaction.version`` (0 when not finalized)."""
        return self.broker.image.features.get(TRANSACTION_VERSION, 0)

    def _is_current(self, part: TxnPartition, txn: TransactionMetadata) -> bool:
        """Whether ``part`` is still loaded and still holds ``txn`` (after an await)."""
        return self.partitions.get(part.index) is part and part.txns.get(txn.transactional_id) is txn

    # --- writing state -------------------------------------------------------------------

    async def _write(self, part: TxnPartition, txn: TransactionMetadata, transit: TxnTransit) -> ErrorCode:
        """Append ``transit`` to the partition (acks=all); on success it becomes current.

        On an error the transition stays pending: the caller retries or gives up with
        ``abort_pending``.
        """
        replicas = self.broker.replicas
        partition = replicas.get(*part.tp)
        if partition is None or not partition.is_leader or partition.leader_epoch != part.coordinator_epoch:
            return ErrorCode.NOT_COORDINATOR
        if len(partition.isr) < partition.log.config.min_insync_replicas:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        now_ms = self.broker.clock_ms()
        try:
            version = txn_log.value_version(max(self.transaction_version, transit.client_txn_version))
            info = partition.log.append(txn_log.record_batch(txn.transactional_id, transit, now_ms, version),
                                        leader_epoch=partition.leader_epoch, now_ms=now_ms,
                                        origin=AppendOrigin.COORDINATOR)
            code = info.error_code
        except StorageError as exc:
            code = exc.error_code
        if code == ErrorCode.NONE:
            replicas.on_append(partition)
            (code,) = await replicas.wait_for_replication(
                [ReplicationTarget(part.tp, partition.leader_epoch, info.last_offset + 1)],
                self.config.request_timeout_ms)
        if code != ErrorCode.NONE:
            log.warning("Writing %s of %r to %s failed: %s", transit.state.kafka_name, txn.transactional_id,
                        part.tp, code.name)
            return _APPEND_ERRORS.get(code, code)
        if not self._is_current(part, txn):
            return ErrorCode.NOT_COORDINATOR
        txn.complete_transition(transit)
        if transit.state is TxnState.DEAD:
            del part.txns[txn.transactional_id]
        return ErrorCode.NONE

    async def _write_or_abort(self, part: TxnPartition, txn: TransactionMetadata, transit: TxnTransit) -> ErrorCode:
        code = await self._write(part, txn, transit)
        if code != ErrorCode.NONE and txn.pending is transit.state:
            txn.abort_pending()
        return code

    # --- InitProducerId ------------------------------------------------------------------

    async def init_producer_id(self, transactional_id: str | None, timeout_ms: int,
                               expected: tuple[int, int] | None = None) -> InitProducerIdResult:
        """InitProducerId (``handleInitProducerId``).

        Args:
            transactional_id: None for an idempotent producer: a new id at epoch 0.
            expected: (producer id, epoch) the producer has now (KIP-360, v3+), or None.
        """
        if transactional_id is None:
            return InitProducerIdResult(ErrorCode.NONE, await self._new_producer_id(), 0)
        if not transactional_id:
            return InitProducerIdResult(ErrorCode.INVALID_REQUEST)
        if not 0 < timeout_ms <= self.config.transaction_max_timeout_ms:
            return InitProducerIdResult(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        code, part, txn = self._lookup(transactional_id)
        if part is None:
            return InitProducerIdResult(code)
        if txn is None:
            producer_id = await self._new_producer_id()
            code, part, txn = self._lookup(transactional_id)
            if part is None:
                return InitProducerIdResult(code)
            if txn is None:
                txn = part.txns[transactional_id] = TransactionMetadata(
                    transactional_id, producer_id, timeout_ms=timeout_ms, update_ms=self.broker.clock_ms())
        if txn.pending is not None or txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        if expected is not None and not _is_valid_producer_id(txn, *expected):
            return InitProducerIdResult(ErrorCode.PRODUCER_FENCED)
        if txn.state is TxnState.ONGOING:
            # Fence the old producer: abort its transaction with a bumped epoch, and have
            # this one retry once the abort is complete.
            code = await self._prepare_end(part, txn, commit=False, fence=True,
                                           client_txn_version=txn.client_txn_version)
            return InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS if code == ErrorCode.NONE else code)
        now_ms = self.broker.clock_ms()
        if txn.is_epoch_exhausted and (expected is None or expected[1] == txn.producer_epoch):
            producer_id = await self._new_producer_id()
            if not self._is_current(part, txn) or txn.pending is not None:
                return InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS)
            transit = txn.prepare_producer_id_rotation(producer_id, timeout_ms, now_ms, expected is not None)
        else:
            prepared = txn.prepare_increment_epoch(timeout_ms, None if expected is None else expected[1], now_ms)
            if prepared is None:
                return InitProducerIdResult(ErrorCode.PRODUCER_FENCED)
            transit = prepared
        code = await self._write_or_abort(part, txn, transit)
        if code != ErrorCode.NONE:
            return InitProducerIdResult(code)
        return InitProducerIdResult(ErrorCode.NONE, transit.producer_id, transit.producer_epoch)

    async def _new_producer_id(self) -> int:
        try:
            return await self.broker.producer_ids.generate_producer_id()
        except NotControllerError:
            raise BrokerError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) from None

    # --- AddPartitionsToTxn / AddOffsetsToTxn --------------------------------------------

    def _check_producer(self, transactional_id: str, producer_id: int, producer_epoch: int
                        ) -> tuple[ErrorCode, TxnPartition | None, TransactionMetadata | None]:
        """The checks every request of an open transaction starts with, in Kafka's order."""
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST, None, None
        code, part, txn = self._lookup(transactional_id)
        if part is None:
            return code, None, None
        if txn is not None and txn.next_producer_id == producer_id != NO_PRODUCER_ID:
            # A version 2 producer that was told its new id while the markers of its last
            # transaction are written: the id becomes current at Complete*.
            return ErrorCode.CONCURRENT_TRANSACTIONS, None, None
        if txn is None or txn.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING, None, None
        if txn.producer_epoch != producer_epoch:
            return ErrorCode.PRODUCER_FENCED, None, None
        if txn.pending is not None or txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return ErrorCode.CONCURRENT_TRANSACTIONS, None, None
        return ErrorCode.NONE, part, txn

    async def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                             partitions: Iterable[TopicPartition], *, client_txn_version: int = 0) -> ErrorCode:
        """Add partitions to the producer's transaction, starting it if need be."""
        code, part, txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        if part is None or txn is None:
            return code
        wanted = set(partitions)
        if txn.state is TxnState.ONGOING and wanted <= txn.partitions:
            return ErrorCode.NONE
        return await self._write_or_abort(part, txn, txn.prepare_add_partitions(
            wanted, self.broker.clock_ms(), client_txn_version=client_txn_version))

    def verify_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                          partitions: Iterable[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        """KIP-890 part 1 verification (AddPartitionsToTxn v4+ ``verify_only``): is each
        partition in the producer's open transaction? Nothing is changed."""
        partitions = list(partitions)
        code, _, txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        if txn is None:
            return dict.fromkeys(partitions, code)
        return {tp: ErrorCode.NONE if txn.state is TxnState.ONGOING and tp in txn.partitions
                else ErrorCode.TRANSACTION_ABORTABLE for tp in partitions}

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

    # --- EndTxn --------------------------------------------------------------------------

    async def end_transaction(self, transactional_id: str, producer_id: int, producer_epoch: int,
                              commit: bool, *, client_txn_version: int = 0) -> EndTxnResult:
        """EndTxn from the producer (``handleEndTransaction``): answered once Prepare* is written.

        ``client_txn_version`` 2 (EndTxn v5+) follows KIP-890 part 2: see
        :meth:`_end_transaction_v2`.
        """
        if not transactional_id:
            return EndTxnResult(ErrorCode.INVALID_REQUEST)
        code, part, txn = self._lookup(transactional_id)
        if part is None:
            return EndTxnResult(code)
        if client_txn_version >= 2:
            return await self._end_transaction_v2(part, txn, producer_id, producer_epoch, commit)
        if txn is None or txn.producer_id != producer_id:
            return EndTxnResult(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if producer_epoch != txn.producer_epoch:
            return EndTxnResult(ErrorCode.PRODUCER_FENCED)
        if txn.pending is not None:
            return EndTxnResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        state = txn.state
        if state is TxnState.ONGOING:
            code = await self._prepare_end(part, txn, commit=commit, fence=False, client_txn_version=client_txn_version)
        elif state is (TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT):
            code = ErrorCode.NONE  # a retry of an EndTxn that completed
        elif state is (TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT):
            code = ErrorCode.CONCURRENT_TRANSACTIONS
        else:
            code = ErrorCode.INVALID_TXN_STATE
        return EndTxnResult(code, txn.producer_id, txn.producer_epoch) if code == ErrorCode.NONE \
            else EndTxnResult(code)

    async def _end_transaction_v2(self, part: TxnPartition, txn: TransactionMetadata | None, producer_id: int,
                                  producer_epoch: int, commit: bool) -> EndTxnResult:
        """EndTxn v5+ (Kafka's ``endTransaction`` for transaction version 2).

        Every EndTxn bumps the epoch, so the epoch alone tells a retry (the client's epoch
        is one below the current one, or the last of an id that was rotated) from the
        next transaction's EndTxn. An abort is allowed with no partition added: the
        client cannot know whether its produce requests added any.
        """
        if txn is None:
            return EndTxnResult(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        state = txn.state
        retry_on_overflow = (txn.prev_producer_id == producer_id and producer_epoch == MAX_PRODUCER_EPOCH - 1
                             and txn.producer_epoch == 0)
        retry_on_bump = txn.producer_epoch == producer_epoch + 1
        if txn.producer_id != producer_id and not retry_on_overflow:
            return EndTxnResult(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            valid_epoch = retry_on_bump
        elif state in (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT):
            valid_epoch = retry_on_bump or retry_on_overflow or producer_epoch == txn.producer_epoch
        else:
            valid_epoch = producer_epoch == txn.producer_epoch
        if not valid_epoch:
            return EndTxnResult(ErrorCode.PRODUCER_FENCED)
        if txn.pending is not None:
            return EndTxnResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        is_retry = retry_on_bump or retry_on_overflow
        completed = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        if state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            ours = state is (TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT)
            return EndTxnResult(ErrorCode.CONCURRENT_TRANSACTIONS if ours else ErrorCode.INVALID_TXN_STATE)
        if state is completed and is_retry:
            return EndTxnResult(ErrorCode.NONE, txn.producer_id, txn.producer_epoch)
        if state is not TxnState.ONGOING and (commit or is_retry):
            return EndTxnResult(ErrorCode.INVALID_TXN_STATE)
        # Ongoing, or an abort of a transaction that added nothing (Empty, Complete*).
        next_producer_id = NO_PRODUCER_ID
        if txn.is_epoch_exhausted:
            next_producer_id = await self._new_producer_id()
            if not self._is_current(part, txn) or txn.pending is not None or txn.producer_id != producer_id \
                    or txn.producer_epoch != producer_epoch:
                return EndTxnResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        code = await self._prepare_end(part, txn, commit=commit, fence=False, client_txn_version=2,
                                       next_producer_id=next_producer_id)
        if code != ErrorCode.NONE:
            return EndTxnResult(code)
        if next_producer_id != NO_PRODUCER_ID:
            return EndTxnResult(ErrorCode.NONE, next_producer_id, 0)
        return EndTxnResult(ErrorCode.NONE, txn.producer_id, txn.producer_epoch)

    async def _prepare_end(self, part: TxnPartition, txn: TransactionMetadata, *, commit: bool, fence: bool,
                           client_txn_version: int, next_producer_id: int = NO_PRODUCER_ID) -> ErrorCode:
        """Write PrepareCommit/PrepareAbort, then have the markers written in the background."""
        state = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        code = await self._write_or_abort(part, txn, txn.prepare_abort_or_commit(
            state, self.broker.clock_ms(), client_txn_version=client_txn_version, fence=fence,
            next_producer_id=next_producer_id))
        if code == ErrorCode.NONE:
            self._start_markers(part, txn, self.broker.clock_ms())
        return code

    def _start_markers(self, part: TxnPartition, txn: TransactionMetadata, now_ms: int) -> None:
        complete = txn.prepare_complete(now_ms)
        assert self._nursery is not None
        self._nursery.start_soon(self._complete_transaction, part, txn, complete)

    async def _complete_transaction(self, part: TxnPartition, txn: TransactionMetadata, complete: TxnTransit) -> None:
        """Write the markers to every partition of the transaction, then Complete*.

        Kafka's ``TransactionMarkerChannelManager``: each round sends every marker still
        missing to its partition's leader as the metadata image names it now
        (:meth:`_send_markers`); partitions whose marker failed for a retriable reason
        (the leader moved, no answer, not enough replicas) are tried again, so the
        transaction stays Prepare* until every marker is written; a partition whose
        topic is gone is dropped; a fenced marker (newer producer or coordinator) ends
        the work.
        """
        commit = txn.state is TxnState.PREPARE_COMMIT
        remaining = set(txn.partitions)
        while remaining:
            if not self._is_current(part, txn):
                return  # the partition moved away: its next coordinator finishes the job
            codes = await self._send_markers(part, txn, commit, remaining)
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
        while self._is_current(part, txn):
            code = await self._write(part, txn, complete)
            if code in (ErrorCode.NONE, ErrorCode.NOT_COORDINATOR):
                return
            await trio.sleep(MARKER_RETRY_S)

    async def _send_markers(self, part: TxnPartition, txn: TransactionMetadata, commit: bool,
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
                coordinator_epoch=part.coordinator_epoch, transaction_version=txn.client_txn_version,
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

    # --- periodic tasks ------------------------------------------------------------------

    def abort_timed_out_transactions(self) -> None:
        """Abort, with the epoch bumped, every transaction Ongoing past its timeout."""
        now_ms = self.broker.clock_ms()
        assert self._nursery is not None
        for part, txn in self._all():
            if txn.state is TxnState.ONGOING and txn.pending is None and txn.start_ms + txn.timeout_ms < now_ms:
                log.info("Aborting transaction of %r (producer %d): timed out after %d ms",
                         txn.transactional_id, txn.producer_id, txn.timeout_ms)
                self._nursery.start_soon(self._abort_timed_out, part, txn)

    async def _abort_timed_out(self, part: TxnPartition, txn: TransactionMetadata) -> None:
        if self._is_current(part, txn) and txn.state is TxnState.ONGOING and txn.pending is None:
            # Not a client's request: the cluster's transaction version applies.
            await self._prepare_end(part, txn, commit=False, fence=True, client_txn_version=self.transaction_version)

    def remove_expired_transactional_ids(self) -> None:
        """Tombstone idle transactional ids older than ``transactional.id.expiration.ms``."""
        now_ms = self.broker.clock_ms()
        expiration_ms = self.config.transactional_id_expiration_ms
        assert self._nursery is not None
        for part, txn in self._all():
            if txn.pending is None and txn.state in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT,
                                                     TxnState.COMPLETE_ABORT) \
                    and txn.update_ms + expiration_ms <= now_ms:
                self._nursery.start_soon(self._write_or_abort, part, txn, txn.prepare_dead(now_ms))

    def _all(self) -> Iterator[tuple[TxnPartition, TransactionMetadata]]:
        for part in list(self.partitions.values()):
            for txn in list(part.txns.values()):
                yield part, txn

    # --- DescribeTransactions / ListTransactions -----------------------------------------

    def describe(self, transactional_id: str) -> tuple[ErrorCode, TransactionMetadata | None]:
        """The id's metadata; TRANSACTIONAL_ID_NOT_FOUND if this coordinator has none."""
        code, part, txn = self._lookup(transactional_id)
        if part is None:
            return code, None
        if txn is None or txn.state is TxnState.DEAD:
            return ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, None
        return ErrorCode.NONE, txn

    def list_transactions(self, states: set[TxnState] | None, producer_ids: set[int], min_duration_ms: int,
                          pattern: re.Pattern[str] | None) -> list[TransactionMetadata]:
        """The transactions coordinated here that pass every filter (``listTransactionStates``).

        ``states`` None, an empty ``producer_ids``, ``min_duration_ms`` < 0 and
        ``pattern`` None filter nothing.
        """
        now_ms = self.broker.clock_ms()
        return [txn for _, txn in self._all()
                if txn.state is not TxnState.DEAD
                and (states is None or txn.state in states)
                and (not producer_ids or txn.producer_id in producer_ids)
                and (min_duration_ms < 0 or now_ms - txn.start_ms > min_duration_ms)
                and (pattern is None or pattern.fullmatch(txn.transactional_id) is not None)]


def _is_valid_producer_id(txn: TransactionMetadata, producer_id: int, producer_epoch: int) -> bool:
    """Whether an InitProducerId that names its current producer may proceed (``isValidProducerId``).

    Yes if the id is new (no epoch yet), names the current producer id, or names the one
    before a rotation with its epoch exhausted (a retry of that rotation).
    """
    return (txn.producer_epoch == NO_PRODUCER_EPOCH or producer_id == txn.producer_id
            or (producer_id == txn.prev_producer_id and producer_epoch >= MAX_PRODUCER_EPOCH - 1))


def _marker_codes(response: WriteTxnMarkersResponse) -> dict[TopicPartition, ErrorCode]:
    """Every partition's answer in a WriteTxnMarkers response."""
    return {TopicPartition(t.name, p.partition_index): error_code(p.error_code)
            for result in response.markers for t in result.topics for p in t.partitions}
