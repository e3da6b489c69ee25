"""One ``__transaction_state`` partition as a coordinator shard: its transactional ids and
the operations on them (Kafka's ``TransactionStateManager`` cache of one partition and
``TransactionCoordinator``'s handlers), on the coordinator runtime
(:mod:`kafkapy.broker.coordinator`).

Theory of operation:

* State: transactional id -> :class:`~kafkapy.broker.txn.metadata.TransactionMetadata`,
  changed only by :meth:`TransactionShard.replay`. Loading replays the partition: the
  newest record of an id is its state, a tombstone removes it
  (``loadTransactionMetadata``).
* An operation (InitProducerId, AddPartitionsToTxn, EndTxn, the completion after the
  markers, the timeout abort, the expiration) checks the request in Kafka's order and
  prepares one transition (:meth:`TransactionMetadata.prepare_transition`, which marks
  it pending); its record goes to the runtime, whose replay of it completes the
  transition on the very metadata that prepared it. So what the log cannot hold (the
  last epoch of a KIP-360 retry; the tagged fields below value version 1) stays in
  memory after a write, and is lost on a reload, as in Kafka. The answer is a
  :class:`TxnAnswer`, given once the record is committed.
* An operation whose append failed leaves its transition pending: the coordinator calls
  :meth:`TransactionShard.settle` after every write, which forgets it
  (``abortPending``), as the write's own callback does in Kafka.
* PrepareCommit/PrepareAbort are followed at once by the pending Complete* transition
  (Kafka's ``prepareComplete``), so every request meanwhile is answered
  CONCURRENT_TRANSACTIONS; the markers are the coordinator's I/O
  (``markers_due``): asked for when the Prepare* write settles, and for every
  Prepare* transaction found on loading (``onElection``). The completion is written
  once every partition has its marker (:meth:`TransactionShard.complete`).
* Two shard timers scan the partition: transactions Ongoing past their timeout are
  aborted with the epoch bumped, every
  ``transaction.abort.timed.out.transaction.cleanup.interval.ms``; ids idle longer than
  ``transactional.id.expiration.ms`` are tombstoned, every
  ``transaction.remove.expired.transaction.cleanup.interval.ms``. Their writes go
  through the coordinator (``write_due``), which settles them.

An operation that needs a new producer id (a new transactional id, an exhausted epoch)
raises :class:`ProducerIdNeeded` without changing anything; the coordinator fetches one
(an await) and runs the operation again with it.

Task-safety: trio thread only; the runtime runs an operation, its append and the replay
without an await.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, NamedTuple

from kafkapy.broker.coordinator.shard import CoordinatorResult, ShardContext
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.txn import log as txn_log
from kafkapy.broker.txn.metadata import (
    COMPLETION,
    MAX_PRODUCER_EPOCH,
    TransactionMetadata,
    TxnState,
    TxnTransit,
)
from kafkapy.kraft.metadata.features import TRANSACTION_VERSION
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import NO_PRODUCER_EPOCH, NO_PRODUCER_ID

if TYPE_CHECKING:
    from kafkapy.broker.coordinator.shard import KeyValue

log = logging.getLogger(__name__)

_ABORT_TIMER = "abort-timed-out-transactions"
_EXPIRE_TIMER = "remove-expired-transactional-ids"
_PREPARED = frozenset(COMPLETION)
_IDLE = frozenset({TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT})

#: A write to run for a shard: (the shard, the ids it writes, the operation).
WriteDue = Callable[["TransactionShard", Collection[str], Callable[["TransactionShard"], CoordinatorResult]], None]


class TxnAnswer(NamedTuple):
    """An operation's answer; the producer id and epoch are the ones to go on with
    (InitProducerId, EndTxn v5+)."""

    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH


_NONE = TxnAnswer(ErrorCode.NONE)


class ProducerIdNeeded(Exception):
    """The operation needs a new producer id: run it again with one."""


def _answer(error: ErrorCode | TxnAnswer) -> CoordinatorResult[TxnAnswer]:
    return CoordinatorResult([], error if isinstance(error, TxnAnswer) else TxnAnswer(error))


class TransactionShard:
    """The transactional ids of one ``__transaction_state`` partition (see the module doc).

    Args:
        context: the runtime's view (partition, leader epoch = coordinator epoch, timer).
        markers_due: called with a transactional id whose markers are to be written.
        write_due: runs an operation as a coordinator write (the timers').
    """

    def __init__(self, context: ShardContext, *, markers_due: Callable[[TransactionShard, str], None],
                 write_due: WriteDue) -> None:
        self.context = context
        self.txns: dict[str, TransactionMetadata] = {}
        self._markers_due = markers_due
        self._write_due = write_due
        #: id -> (metadata, transit) of a record being appended: replay completes it
        self._writing: dict[str, tuple[TransactionMetadata, TxnTransit]] = {}
        #: id -> the Complete* transition pending while its markers are written
        self._completions: dict[str, TxnTransit] = {}
        #: ids whose Prepare* was just written: markers due once the write settles
        self._prepared: set[str] = set()

    @property
    def coordinator_epoch(self) -> int:
        """The epoch written into this coordinator's markers: its partition's leader epoch."""
        return self.context.leader_epoch

    @property
    def transaction_version(self) -> int:
        """The cluster's finalized ``transaction.version`` (0 when not finalized)."""
        return self.context.image().features.get(TRANSACTION_VERSION, 0)

    # --- the runtime's side -------------------------------------------------------------------

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        transactional_id = txn_log.read_key(key)
        if transactional_id is None:
            return  # a key version this broker does not know
        written = self._writing.pop(transactional_id, None)
        if value is None:
            self.txns.pop(transactional_id, None)
            self._completions.pop(transactional_id, None)
            return
        if written is None:  # loading
            self.txns[transactional_id] = TransactionMetadata.from_transit(transactional_id, txn_log.read_value(value))
            return
        txn, transit = written
        self.txns[transactional_id] = txn
        txn.complete_transition(transit)
        self._completions.pop(transactional_id, None)
        if transit.state in _PREPARED:
            self._completions[transactional_id] = txn.prepare_complete(self.context.now_ms())
            self._prepared.add(transactional_id)

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        """``__transaction_state`` holds no transactional records."""

    def on_loaded(self) -> None:
        now_ms = self.context.now_ms()
        for transactional_id, txn in self.txns.items():
            if txn.state in _PREPARED:
                self._completions[transactional_id] = txn.prepare_complete(now_ms)
                self._markers_due(self, transactional_id)
        self._schedule(_ABORT_TIMER)
        self._schedule(_EXPIRE_TIMER)

    def on_unloaded(self) -> None:
        """Nothing waits on the shard itself: the coordinator's writes see it gone."""

    def settle(self, transactional_ids: Iterable[str]) -> None:
        """After a write of these ids: forget a transition whose record was not appended
        (a pending completion stays, its markers' task retries it), and ask for the
        markers of a Prepare* just written."""
        for transactional_id in transactional_ids:
            written = self._writing.pop(transactional_id, None)
            if written is not None and written[1] is not self._completions.get(transactional_id):
                written[0].abort_pending()
            if transactional_id in self._prepared:
                self._prepared.discard(transactional_id)
                self._markers_due(self, transactional_id)

    def _write(self, txn: TransactionMetadata, transit: TxnTransit, answer: TxnAnswer) -> CoordinatorResult[TxnAnswer]:
        """The record of ``transit`` (prepared on ``txn``), answered ``answer`` once committed."""
        version = txn_log.value_version(max(self.transaction_version, transit.client_txn_version))
        self._writing[txn.transactional_id] = (txn, transit)
        return CoordinatorResult([(txn_log.key_bytes(txn.transactional_id), txn_log.value_bytes(transit, version))],
                                 answer)

    # --- InitProducerId -----------------------------------------------------------------------

    def init_producer_id(self, transactional_id: str, timeout_ms: int, expected: tuple[int, int] | None,
                         new_producer_id: int | None) -> CoordinatorResult[TxnAnswer]:
        """InitProducerId of a transactional producer (``handleInitProducerId``).

        Raises:
            ProducerIdNeeded: a new id or an exhausted epoch, and ``new_producer_id`` None.
        """
        now_ms = self.context.now_ms()
        txn = self.txns.get(transactional_id)
        if txn is None:
            if new_producer_id is None:
                raise ProducerIdNeeded
            txn = TransactionMetadata(transactional_id, new_producer_id, timeout_ms=timeout_ms, update_ms=now_ms)
        if txn.pending is not None or txn.state in _PREPARED:
            return _answer(ErrorCode.CONCURRENT_TRANSACTIONS)
        if expected is not None and not _is_valid_producer_id(txn, *expected):
            return _answer(ErrorCode.PRODUCER_FENCED)
        if txn.state is TxnState.ONGOING:
            # Fence the old producer: abort its transaction with a bumped epoch, and have
            # this one retry once the abort is complete.
            transit = txn.prepare_abort_or_commit(TxnState.PREPARE_ABORT, now_ms,
                                                  client_txn_version=txn.client_txn_version, fence=True)
            return self._write(txn, transit, TxnAnswer(ErrorCode.CONCURRENT_TRANSACTIONS))
        if txn.is_epoch_exhausted and (expected is None or expected[1] == txn.producer_epoch):
            if new_producer_id is None:
                raise ProducerIdNeeded
            transit = txn.prepare_producer_id_rotation(new_producer_id, timeout_ms, now_ms, expected is not None)
        else:
            prepared = txn.prepare_increment_epoch(timeout_ms, None if expected is None else expected[1], now_ms)
            if prepared is None:
                return _answer(ErrorCode.PRODUCER_FENCED)
            transit = prepared
        return self._write(txn, transit, TxnAnswer(ErrorCode.NONE, transit.producer_id, transit.producer_epoch))

    # --- AddPartitionsToTxn / AddOffsetsToTxn -------------------------------------------------

    def _check_producer(self, transactional_id: str, producer_id: int, producer_epoch: int
                        ) -> tuple[ErrorCode, TransactionMetadata | None]:
        """The checks every request of an open transaction starts with, in Kafka's order."""
        txn = self.txns.get(transactional_id)
        if txn is not None and txn.next_producer_id == producer_id != NO_PRODUCER_ID:
            # A version 2 producer that was told its new id while the markers of its last
            # transaction are written: the id becomes current at Complete*.
            return ErrorCode.CONCURRENT_TRANSACTIONS, None
        if txn is None or txn.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING, None
        if txn.producer_epoch != producer_epoch:
            return ErrorCode.PRODUCER_FENCED, None
        if txn.pending is not None or txn.state in _PREPARED:
            return ErrorCode.CONCURRENT_TRANSACTIONS, None
        return ErrorCode.NONE, txn

    def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                       partitions: Iterable[TopicPartition], client_txn_version: int) -> CoordinatorResult[TxnAnswer]:
        """Add partitions to the producer's transaction, starting it if need be."""
        code, txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        if txn is None:
            return _answer(code)
        wanted = set(partitions)
        if txn.state is TxnState.ONGOING and wanted <= txn.partitions:
            return _answer(ErrorCode.NONE)
        return self._write(txn, txn.prepare_add_partitions(wanted, self.context.now_ms(),
                                                           client_txn_version=client_txn_version), _NONE)

    def verify_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                          partitions: list[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        """KIP-890 part 1 verification (AddPartitionsToTxn v4+ ``verify_only``): is each
        partition in the producer's open transaction? A read."""
        code, txn = self._check_producer(transactional_id, producer_id, producer_epoch)
        if txn is None:
            return dict.fromkeys(partitions, code)
        return {tp: ErrorCode.NONE if txn.state is TxnState.ONGOING and tp in txn.partitions
                else ErrorCode.TRANSACTION_ABORTABLE for tp in partitions}

    # --- EndTxn -------------------------------------------------------------------------------

    def end_transaction(self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool,
                        client_txn_version: int, new_producer_id: int | None) -> CoordinatorResult[TxnAnswer]:
        """EndTxn from the producer (``handleEndTransaction``): answered once Prepare* is
        committed; version 2 (EndTxn v5+) follows KIP-890 part 2 (:meth:`_end_transaction_v2`).

        Raises:
            ProducerIdNeeded: a version 2 end at an exhausted epoch, ``new_producer_id`` None.
        """
        txn = self.txns.get(transactional_id)
        if client_txn_version >= 2:
            return self._end_transaction_v2(txn, producer_id, producer_epoch, commit, new_producer_id)
        if txn is None or txn.producer_id != producer_id:
            return _answer(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if producer_epoch != txn.producer_epoch:
            return _answer(ErrorCode.PRODUCER_FENCED)
        if txn.pending is not None:
            return _answer(ErrorCode.CONCURRENT_TRANSACTIONS)
        state = txn.state
        if state is TxnState.ONGOING:
            return self._prepare_end(txn, commit=commit, fence=False, client_txn_version=client_txn_version)
        if state is (TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT):
            # A retry of an EndTxn that completed.
            return _answer(TxnAnswer(ErrorCode.NONE, txn.producer_id, txn.producer_epoch))
        if state is (TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT):
            return _answer(ErrorCode.CONCURRENT_TRANSACTIONS)
        return _answer(ErrorCode.INVALID_TXN_STATE)

    def _end_transaction_v2(self, txn: TransactionMetadata | None, producer_id: int, producer_epoch: int,
                            commit: bool, new_producer_id: int | None) -> CoordinatorResult[TxnAnswer]:
        """EndTxn v5+ (Kafka's ``endTransaction`` for transaction version 2).

        Every EndTxn bumps the epoch, so the epoch alone tells a retry (the client's epoch
        is one below the current one, or the last of an id that was rotated) from the
        next transaction's EndTxn. An abort is allowed with no partition added: the
        client cannot know whether its produce requests added any.
        """
        if txn is None:
            return _answer(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        state = txn.state
        retry_on_overflow = (txn.prev_producer_id == producer_id and producer_epoch == MAX_PRODUCER_EPOCH - 1
                             and txn.producer_epoch == 0)
        retry_on_bump = txn.producer_epoch == producer_epoch + 1
        if txn.producer_id != producer_id and not retry_on_overflow:
            return _answer(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if state in _PREPARED:
            valid_epoch = retry_on_bump
        elif state in (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT):
            valid_epoch = retry_on_bump or retry_on_overflow or producer_epoch == txn.producer_epoch
        else:
            valid_epoch = producer_epoch == txn.producer_epoch
        if not valid_epoch:
            return _answer(ErrorCode.PRODUCER_FENCED)
        if txn.pending is not None:
            return _answer(ErrorCode.CONCURRENT_TRANSACTIONS)
        is_retry = retry_on_bump or retry_on_overflow
        completed = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        if state in _PREPARED:
            ours = state is (TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT)
            return _answer(ErrorCode.CONCURRENT_TRANSACTIONS if ours else ErrorCode.INVALID_TXN_STATE)
        if state is completed and is_retry:
            return _answer(TxnAnswer(ErrorCode.NONE, txn.producer_id, txn.producer_epoch))
        if state is not TxnState.ONGOING and (commit or is_retry):
            return _answer(ErrorCode.INVALID_TXN_STATE)
        # Ongoing, or an abort of a transaction that added nothing (Empty, Complete*).
        next_producer_id = NO_PRODUCER_ID
        if txn.is_epoch_exhausted:
            if new_producer_id is None:
                raise ProducerIdNeeded
            next_producer_id = new_producer_id
        result = self._prepare_end(txn, commit=commit, fence=False, client_txn_version=2,
                                   next_producer_id=next_producer_id)
        if next_producer_id != NO_PRODUCER_ID:
            result.response = TxnAnswer(ErrorCode.NONE, next_producer_id, 0)
        return result

    def _prepare_end(self, txn: TransactionMetadata, *, commit: bool, fence: bool, client_txn_version: int,
                     next_producer_id: int = NO_PRODUCER_ID) -> CoordinatorResult[TxnAnswer]:
        """PrepareCommit/PrepareAbort; its markers are asked for once it is written."""
        transit = txn.prepare_abort_or_commit(
            TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT, self.context.now_ms(),
            client_txn_version=client_txn_version, fence=fence, next_producer_id=next_producer_id)
        return self._write(txn, transit, TxnAnswer(ErrorCode.NONE, transit.producer_id, transit.producer_epoch))

    def complete(self, txn: TransactionMetadata) -> CoordinatorResult[TxnAnswer]:
        """Every marker of ``txn`` is written: CompleteCommit/CompleteAbort (nothing to do
        if the transaction is no longer the one whose markers were written)."""
        transit = self._completions.get(txn.transactional_id)
        if transit is None or self.txns.get(txn.transactional_id) is not txn:
            return _answer(ErrorCode.NONE)
        return self._write(txn, transit, _NONE)

    # --- timers -------------------------------------------------------------------------------

    def _schedule(self, key: str) -> None:
        config = self.context.config
        if key == _ABORT_TIMER:
            self.context.timer.schedule(key, config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
                                        TransactionShard._abort_timed_out_transactions)
        else:
            self.context.timer.schedule(key, config.transaction_remove_expired_transaction_cleanup_interval_ms,
                                        TransactionShard._remove_expired_transactional_ids)

    def _abort_timed_out_transactions(self) -> None:
        """Abort, with the epoch bumped, every transaction Ongoing past its timeout
        (``abortTimedOutTransactions``)."""
        self._schedule(_ABORT_TIMER)
        now_ms = self.context.now_ms()
        for transactional_id, txn in self.txns.items():
            if txn.state is TxnState.ONGOING and txn.pending is None and txn.start_ms + txn.timeout_ms < now_ms:
                log.info("Aborting transaction of %r (producer %d): timed out after %d ms",
                         transactional_id, txn.producer_id, txn.timeout_ms)
                self._write_due(self, (transactional_id,), lambda s, t=txn: s._abort_timed_out(t))

    def _abort_timed_out(self, txn: TransactionMetadata) -> CoordinatorResult[TxnAnswer]:
        if self.txns.get(txn.transactional_id) is not txn or txn.state is not TxnState.ONGOING \
                or txn.pending is not None:
            return _answer(ErrorCode.NONE)
        # Not a client's request: the cluster's transaction version applies.
        return self._prepare_end(txn, commit=False, fence=True, client_txn_version=self.transaction_version)

    def _remove_expired_transactional_ids(self) -> None:
        """Tombstone idle ids older than ``transactional.id.expiration.ms``
        (``removeExpiredTransactionalIds``)."""
        self._schedule(_EXPIRE_TIMER)
        now_ms = self.context.now_ms()
        expiration_ms = self.context.config.transactional_id_expiration_ms
        expired = [tid for tid, txn in self.txns.items()
                   if txn.pending is None and txn.state in _IDLE and txn.update_ms + expiration_ms <= now_ms]
        if expired:
            self._write_due(self, expired, lambda s: s._tombstone(expired))

    def _tombstone(self, transactional_ids: list[str]) -> CoordinatorResult[TxnAnswer]:
        records: list[KeyValue] = []
        now_ms = self.context.now_ms()
        for transactional_id in transactional_ids:
            txn = self.txns.get(transactional_id)
            if txn is not None and txn.pending is None and txn.state in _IDLE:
                self._writing[transactional_id] = (txn, txn.prepare_dead(now_ms))
                records.append((txn_log.key_bytes(transactional_id), None))
        return CoordinatorResult(records, _NONE)

    # --- DescribeTransactions / ListTransactions ----------------------------------------------

    def list_transactions(self, states: set[TxnState] | None, producer_ids: set[int], min_duration_ms: int,
                          pattern: re.Pattern[str] | None) -> list[TransactionMetadata]:
        """The transactions here that pass every filter (``listTransactionStates``)."""
        now_ms = self.context.now_ms()
        return [txn for txn in self.txns.values()
                if (states is None or txn.state in states)
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
