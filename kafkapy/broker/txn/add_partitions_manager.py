"""A partition leader asking another broker's transaction coordinator about its partitions
(Kafka's ``AddPartitionsToTxnManager``, KIP-890).

Before the first transactional batch of a producer is appended to a partition, the
leader checks with the transactional id's coordinator that the partition is in the
producer's open transaction (``verify_only``, part 1), or, for a transaction version 2
client (Produce v12+, TxnOffsetCommit v5+), adds it (part 2). When the coordinator is
another broker the question travels as AddPartitionsToTxn v4+ to its endpoint on the
inter-broker listener, client id ``broker-<id>-AddPartitionsManager``.

Questions for one coordinator are batched by transactional id while a request to it is
in flight, as Kafka does. A second question for an id already queued replaces it: the
queued one is answered INVALID_PRODUCER_EPOCH if the newcomer's epoch is higher (it is
fenced) or NETWORK_EXCEPTION if it is the same (a retry of the producer; the client
retries again); a newcomer with a lower epoch is answered INVALID_PRODUCER_EPOCH at
once.

Answers are per partition. As Kafka's handler does: no answer (no connection, the
timeout) is NETWORK_EXCEPTION for every partition, a top-level error goes to every
partition (CLUSTER_AUTHORIZATION_FAILED as INVALID_TXN_STATE), PRODUCER_FENCED becomes
INVALID_PRODUCER_EPOCH, and TRANSACTION_ABORTABLE becomes INVALID_TXN_STATE for
clients that predate it (Produce v10 and below). What a produce answers then is
:func:`produce_error` (``ReplicaManager``'s translation).

Task-safety: trio thread only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.inter_broker import InterBrokerSender
from kafkapy.broker.security.listener_security import inter_broker_sasl_client, inter_broker_ssl_context
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.txn.marker_channel import error_code
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.add_partitions_to_txn import AddPartitionsToTxnRequest

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.wire.message import Message


class TxnOperation(enum.Enum):
    """What a request's version lets a leader do (Kafka's ``TransactionSupportedOperation``)."""

    #: verify; the client knows neither TRANSACTION_ABORTABLE (Produce v10 and below)
    DEFAULT_ERROR = "defaultError"
    #: verify; the client handles TRANSACTION_ABORTABLE (Produce v11)
    GENERIC_ERROR_SUPPORTED = "genericErrorSupported"
    #: add the partition on the client's behalf (transaction version 2: Produce v12+,
    #: TxnOffsetCommit v5+)
    ADD_PARTITION = "addPartition"


def produce_operation(produce_version: int) -> TxnOperation:
    """``produceRequestVersionToTransactionSupportedOperation``."""
    if produce_version > 11:
        return TxnOperation.ADD_PARTITION
    if produce_version > 10:
        return TxnOperation.GENERIC_ERROR_SUPPORTED
    return TxnOperation.DEFAULT_ERROR


def coordinator_answer(code: ErrorCode, operation: TxnOperation) -> ErrorCode:
    """A coordinator's per-partition answer as the manager passes it on (its
    ``AddPartitionsToTxnHandler``): producers expect INVALID_PRODUCER_EPOCH rather than
    PRODUCER_FENCED here, and old ones INVALID_TXN_STATE for TRANSACTION_ABORTABLE."""
    if code == ErrorCode.PRODUCER_FENCED:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    if code == ErrorCode.TRANSACTION_ABORTABLE and operation is TxnOperation.DEFAULT_ERROR:
        return ErrorCode.INVALID_TXN_STATE
    return code


#: Verification errors a produce answers NOT_ENOUGH_REPLICAS instead: retriable for
#: every client version, and no metadata refresh (``ReplicaManager``).
_RETRY_AS_NOT_ENOUGH_REPLICAS = frozenset({
    ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.NETWORK_EXCEPTION, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR,
})


def produce_error(code: ErrorCode) -> ErrorCode | None:
    """What a produce answers for a partition whose verification answered ``code`` (after
    :func:`coordinator_answer`); None to append."""
    if code == ErrorCode.NONE:
        return None
    if code in _RETRY_AS_NOT_ENOUGH_REPLICAS:
        return ErrorCode.NOT_ENOUGH_REPLICAS
    return code


class _Question:
    """One transactional id's partitions waiting for the coordinator's answer."""

    __slots__ = ("codes", "done", "operation", "partitions", "transaction")

    def __init__(self, transaction: AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction,
                 partitions: list[TopicPartition], operation: TxnOperation) -> None:
        self.transaction = transaction
        self.partitions = partitions
        self.operation = operation
        self.codes: dict[TopicPartition, ErrorCode] = {}
        self.done = trio.Event()

    def answer(self, codes: dict[TopicPartition, ErrorCode]) -> None:
        self.codes = {tp: codes.get(tp, ErrorCode.NONE) for tp in self.partitions}
        self.done.set()

    def answer_all(self, code: ErrorCode) -> None:
        self.answer(dict.fromkeys(self.partitions, code))


class AddPartitionsToTxnManager(InterBrokerSender):
    """See the module doc. Start :meth:`run` in the coordinator's nursery."""

    def __init__(self, broker: BrokerCore) -> None:
        super().__init__(broker.node_id, "AddPartitionsManager", broker.inter_broker_address,
                         timeout_s=lambda: broker.config.request_timeout_ms / 1000,
                         ssl_context=inter_broker_ssl_context(broker.config),
                         authenticate=inter_broker_sasl_client(broker.config))
        #: coordinator broker id -> transactional id -> its queued question
        self._queues: dict[int, dict[str, _Question]] = {}

    async def add_or_verify(self, coordinator: int, transactional_id: str, producer_id: int, producer_epoch: int,
                            partitions: Iterable[TopicPartition], operation: TxnOperation
                            ) -> dict[TopicPartition, ErrorCode]:
        """Ask ``coordinator`` (``addOrVerifyTransaction``); the answer per partition,
        NONE for those in (or now added to) the producer's transaction."""
        partitions = list(partitions)
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        question = _Question(AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction(
            transactional_id=transactional_id, producer_id=producer_id, producer_epoch=producer_epoch,
            verify_only=operation is not TxnOperation.ADD_PARTITION,
            topics=[AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=topic, partitions=indexes)
                    for topic, indexes in by_topic.items()]), partitions, operation)
        queue = self._queues.setdefault(coordinator, {})
        queued = queue.get(transactional_id)
        if queued is not None:
            if queued.transaction.producer_epoch > producer_epoch:
                return dict.fromkeys(partitions, ErrorCode.INVALID_PRODUCER_EPOCH)
            queued.answer_all(ErrorCode.INVALID_PRODUCER_EPOCH if queued.transaction.producer_epoch < producer_epoch
                              else ErrorCode.NETWORK_EXCEPTION)
        queue[transactional_id] = question
        self.wakeup(coordinator)
        try:
            await question.done.wait()
        finally:
            live = self._queues.get(coordinator, {})
            if live.get(transactional_id) is question:  # cancelled before it was sent
                del live[transactional_id]
        return question.codes

    def generate(self, broker_id: int) -> tuple[Message, Any] | None:
        queue = self._queues.get(broker_id)
        if not queue:
            return None
        self._queues[broker_id] = {}
        questions = list(queue.values())
        return AddPartitionsToTxnRequest(transactions=[q.transaction for q in questions]), questions

    def complete(self, broker_id: int, context: Any, response: Message | None, failure: str | None) -> None:
        questions: list[_Question] = context
        if response is None:
            for question in questions:
                question.answer_all(ErrorCode.NETWORK_EXCEPTION)
            return
        top = error_code(response.error_code)  # type: ignore[attr-defined]
        if top != ErrorCode.NONE:
            # The client is not to see CLUSTER_AUTHORIZATION_FAILED: the verification did not complete.
            code = ErrorCode.INVALID_TXN_STATE if top == ErrorCode.CLUSTER_AUTHORIZATION_FAILED else top
            for question in questions:
                question.answer_all(code)
            return
        results = {r.transactional_id: r for r in response.results_by_transaction}  # type: ignore[attr-defined]
        for question in questions:
            result = results.get(question.transaction.transactional_id)
            if result is None:
                question.answer_all(ErrorCode.NETWORK_EXCEPTION)
                continue
            question.answer({
                TopicPartition(t.name, p.partition_index): coordinator_answer(error_code(p.partition_error_code),
                                                                               question.operation)
                for t in result.topic_results for p in t.results_by_partition})
