"""The states of a transactional id and every transition between them.

Everything that changes a transaction's state goes through
:meth:`TransactionMetadata.prepare_transition` and :meth:`~TransactionMetadata.complete_transition`;
the table :data:`VALID_PREVIOUS_STATES` is the whole state machine (h11's ``_state.py``
layout). Names, ids and rules are Kafka's ``TransactionState`` and
``TransactionMetadata``. Each transaction remembers the transaction version its
client speaks (``client_txn_version``, KIP-890): below 2 the epoch is bumped only by
InitProducerId and by fencing; at 2 every EndTxn bumps it too (Prepare* carries the
bumped epoch, so the markers fence every request of the transaction just ended), and
when that would exhaust the epoch a new producer id is taken at Complete*
(``next_producer_id``).

Theory of operation::

    Empty/CompleteCommit/CompleteAbort --AddPartitions--> Ongoing --EndTxn--> PrepareCommit --markers--> CompleteCommit
                                                            |  ^                                              (or the
                                                            |  +--AddPartitions                               Abort pair)
                                                            +--EndTxn(abort), timeout, fencing--> PrepareAbort --markers--> CompleteAbort

- A transition is two steps, as in Kafka. ``prepare_transition`` checks the table and
  returns a :class:`TxnTransit`, the metadata as it will be; it sets ``pending`` so
  that no other transition starts meanwhile. The coordinator's shard
  (:mod:`~kafkapy.broker.txn.shard`) writes the transit to ``__transaction_state``;
  replaying the appended record, ``complete_transition`` makes it the current state,
  and the answer waits until it is replicated. A failed append calls
  ``abort_pending`` and leaves the state as it was.
- PrepareCommit/PrepareAbort stay until the COMMIT/ABORT markers are in every
  partition of the transaction; the move to Complete* is prepared as soon as the
  Prepare* record is applied, so requests keep getting CONCURRENT_TRANSACTIONS until
  the markers are done.
- Fencing (InitProducerId during a transaction, or the transaction timing out) aborts
  with the epoch bumped, so the old producer's next request is fenced. Kafka passes
  through the in-memory PrepareEpochFence state; here the bumped epoch travels in the
  PrepareAbort transit itself, which has the same effect on the log and on clients.

An illegal transition is a coordinator bug, never a client error:
:class:`IllegalTxnTransition` is raised and never mapped to an error code.
Task-safety: trio thread only; a transaction is changed only between awaits.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable

from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.wire.records import NO_PRODUCER_EPOCH, NO_PRODUCER_ID

#: Kafka's Short.MaxValue: a producer epoch cannot go higher.
MAX_PRODUCER_EPOCH = 32767


class TxnState(enum.IntEnum):
    """A transaction's state; the value is the ``TransactionStatus`` byte of the log value."""

    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def kafka_name(self) -> str:
        """The name DescribeTransactions and ListTransactions use ("PrepareCommit")."""
        return _NAMES[self]

    @classmethod
    def from_kafka_name(cls, name: str) -> TxnState | None:
        return _BY_NAME.get(name)


_NAMES = {
    TxnState.EMPTY: "Empty",
    TxnState.ONGOING: "Ongoing",
    TxnState.PREPARE_COMMIT: "PrepareCommit",
    TxnState.PREPARE_ABORT: "PrepareAbort",
    TxnState.COMPLETE_COMMIT: "CompleteCommit",
    TxnState.COMPLETE_ABORT: "CompleteAbort",
    TxnState.DEAD: "Dead",
    TxnState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}
_BY_NAME = {name: state for state, name in _NAMES.items()}

S = TxnState
_COMPLETED = frozenset({S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT})

#: state -> the states it may be entered from (``TransactionState.validPreviousStates``).
VALID_PREVIOUS_STATES: dict[TxnState, frozenset[TxnState]] = {
    S.EMPTY: _COMPLETED,
    S.ONGOING: _COMPLETED | {S.ONGOING},
    S.PREPARE_COMMIT: frozenset({S.ONGOING}),
    # From a completed state only with transaction version 2: an abort with nothing added.
    S.PREPARE_ABORT: _COMPLETED | {S.ONGOING, S.PREPARE_EPOCH_FENCE},
    S.COMPLETE_COMMIT: frozenset({S.PREPARE_COMMIT}),
    S.COMPLETE_ABORT: frozenset({S.PREPARE_ABORT}),
    S.DEAD: _COMPLETED,
    S.PREPARE_EPOCH_FENCE: frozenset({S.ONGOING}),
}

#: Prepare* -> the Complete* state its markers lead to.
COMPLETION = {S.PREPARE_COMMIT: S.COMPLETE_COMMIT, S.PREPARE_ABORT: S.COMPLETE_ABORT}


class IllegalTxnTransition(Exception):
    """A transition the table forbids: a bug in the coordinator."""


@dataclasses.dataclass(frozen=True, slots=True)
class TxnTransit:
    """The metadata a transition leads to (Kafka's ``TxnTransitMetadata``): what is logged."""

    producer_id: int
    prev_producer_id: int
    producer_epoch: int
    last_producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: frozenset[TopicPartition]
    start_ms: int
    update_ms: int
    next_producer_id: int = NO_PRODUCER_ID
    client_txn_version: int = 0


class TransactionMetadata:
    """One transactional id's current state (Kafka's ``TransactionMetadata``).

    Attributes:
        producer_id, producer_epoch: the producer the id is mapped to now.
        prev_producer_id: the id before the last rotation (an exhausted epoch), so a
            retried InitProducerId of that rotation is recognised.
        last_producer_epoch: the epoch before the last bump, likewise for retries.
        next_producer_id: the id a transaction version 2 commit/abort moves to at
            Complete* because the epoch is exhausted, else -1.
        client_txn_version: the transaction version of the client's last request
            (0/1: the classic protocol, 2: KIP-890 part 2).
        partitions: the partitions of the open transaction (Ongoing, Prepare*).
        start_ms: when the open transaction began (its first AddPartitions); -1 if none.
        update_ms: when the state last changed.
        pending: the state a prepared transition leads to while its record is
            written, else None.
    """

    __slots__ = (
        "client_txn_version",
        "last_producer_epoch",
        "next_producer_id",
        "partitions",
        "pending",
        "prev_producer_id",
        "producer_epoch",
        "producer_id",
        "start_ms",
        "state",
        "timeout_ms",
        "transactional_id",
        "update_ms",
    )

    def __init__(self, transactional_id: str, producer_id: int, *, producer_epoch: int = NO_PRODUCER_EPOCH,
                 last_producer_epoch: int = NO_PRODUCER_EPOCH, prev_producer_id: int = NO_PRODUCER_ID,
                 next_producer_id: int = NO_PRODUCER_ID, timeout_ms: int, state: TxnState = TxnState.EMPTY,
                 partitions: Iterable[TopicPartition] = (), start_ms: int = -1, update_ms: int,
                 client_txn_version: int = 0) -> None:
        self.transactional_id = transactional_id
        self.producer_id = producer_id
        self.prev_producer_id = prev_producer_id
        self.next_producer_id = next_producer_id
        self.client_txn_version = client_txn_version
        self.producer_epoch = producer_epoch
        self.last_producer_epoch = last_producer_epoch
        self.timeout_ms = timeout_ms
        self.state = state
        self.partitions: set[TopicPartition] = set(partitions)
        self.start_ms = start_ms
        self.update_ms = update_ms
        self.pending: TxnState | None = None

    @classmethod
    def from_transit(cls, transactional_id: str, transit: TxnTransit) -> TransactionMetadata:
        """The metadata a loaded log record describes."""
        return cls(transactional_id, transit.producer_id, producer_epoch=transit.producer_epoch,
                   last_producer_epoch=transit.last_producer_epoch, prev_producer_id=transit.prev_producer_id,
                   next_producer_id=transit.next_producer_id, timeout_ms=transit.timeout_ms, state=transit.state,
                   partitions=transit.partitions, start_ms=transit.start_ms, update_ms=transit.update_ms,
                   client_txn_version=transit.client_txn_version)

    def __repr__(self) -> str:
        return (f"TransactionMetadata({self.transactional_id!r}, pid={self.producer_id}, "
                f"epoch={self.producer_epoch}, {self.state.kafka_name}, pending={self.pending}, "
                f"partitions={sorted(self.partitions)})")

    @property
    def is_epoch_exhausted(self) -> bool:
        """No room for another bump (and the fencing bump after it): a new id is due."""
        return self.producer_epoch >= MAX_PRODUCER_EPOCH - 1

    # --- the two steps of every transition ---

    def prepare_transition(self, state: TxnState, *, producer_id: int | None = None,
                           prev_producer_id: int | None = None, next_producer_id: int | None = None,
                           producer_epoch: int | None = None,
                           last_producer_epoch: int | None = None, timeout_ms: int | None = None,
                           partitions: Iterable[TopicPartition] | None = None, start_ms: int | None = None,
                           update_ms: int, client_txn_version: int | None = None) -> TxnTransit:
        """The transit to ``state`` (unnamed fields keep their values); marks it pending.

        Raises:
            IllegalTxnTransition: another transition is pending, or the table forbids it.
        """
        if self.pending is not None:
            raise IllegalTxnTransition(f"{self!r}: {state.kafka_name} while {self.pending.kafka_name} is pending")
        if self.state not in VALID_PREVIOUS_STATES[state]:
            raise IllegalTxnTransition(f"{self!r}: {self.state.kafka_name} -> {state.kafka_name} is not allowed")
        transit = TxnTransit(
            producer_id=self.producer_id if producer_id is None else producer_id,
            prev_producer_id=self.prev_producer_id if prev_producer_id is None else prev_producer_id,
            next_producer_id=self.next_producer_id if next_producer_id is None else next_producer_id,
            producer_epoch=self.producer_epoch if producer_epoch is None else producer_epoch,
            last_producer_epoch=self.last_producer_epoch if last_producer_epoch is None else last_producer_epoch,
            timeout_ms=self.timeout_ms if timeout_ms is None else timeout_ms,
            state=state,
            partitions=frozenset(self.partitions if partitions is None else partitions),
            start_ms=self.start_ms if start_ms is None else start_ms,
            update_ms=update_ms,
            client_txn_version=self.client_txn_version if client_txn_version is None else client_txn_version,
        )
        self.pending = state
        return transit

    def complete_transition(self, transit: TxnTransit) -> None:
        """Make ``transit`` current once its record is written (``completeTransitionTo``).

        Raises:
            IllegalTxnTransition: ``transit`` is not the pending transition.
        """
        if self.pending is not transit.state:
            raise IllegalTxnTransition(f"{self!r}: completing {transit.state.kafka_name}, which is not pending")
        self.producer_id = transit.producer_id
        self.prev_producer_id = transit.prev_producer_id
        self.next_producer_id = transit.next_producer_id
        self.client_txn_version = transit.client_txn_version
        self.producer_epoch = transit.producer_epoch
        self.last_producer_epoch = transit.last_producer_epoch
        self.timeout_ms = transit.timeout_ms
        self.state = transit.state
        self.partitions = set(transit.partitions)
        self.start_ms = transit.start_ms
        self.update_ms = transit.update_ms
        self.pending = None

    def abort_pending(self) -> None:
        """Forget the pending transition (its record could not be written)."""
        self.pending = None

    # --- the transitions, as Kafka names them ---

    def prepare_increment_epoch(self, timeout_ms: int, expected_epoch: int | None, now_ms: int) -> TxnTransit | None:
        """InitProducerId on an idle transaction: bump the epoch (``prepareIncrementProducerEpoch``).

        With ``expected_epoch`` (KIP-360, InitProducerId v3+) the request may be a retry
        of the bump it already got: then the current epoch is returned again. None
        means the expected epoch is neither: the caller is fenced.
        """
        bumped = self.producer_epoch + 1
        if expected_epoch is None:
            epoch, last = bumped, NO_PRODUCER_EPOCH
        elif self.producer_epoch == NO_PRODUCER_EPOCH or expected_epoch == self.producer_epoch:
            epoch, last = bumped, self.producer_epoch
        elif expected_epoch == self.last_producer_epoch:
            epoch, last = self.producer_epoch, self.last_producer_epoch
        else:
            return None
        return self.prepare_transition(S.EMPTY, producer_epoch=epoch, last_producer_epoch=last,
                                       timeout_ms=timeout_ms, partitions=(), start_ms=-1, update_ms=now_ms)

    def prepare_producer_id_rotation(self, new_producer_id: int, timeout_ms: int, now_ms: int,
                                     record_last_epoch: bool) -> TxnTransit:
        """A new producer id at epoch 0 once the epoch is exhausted (``prepareProducerIdRotation``)."""
        return self.prepare_transition(
            S.EMPTY, producer_id=new_producer_id,
            prev_producer_id=self.producer_id if record_last_epoch else NO_PRODUCER_ID,
            producer_epoch=0, last_producer_epoch=self.producer_epoch if record_last_epoch else NO_PRODUCER_EPOCH,
            timeout_ms=timeout_ms, partitions=(), start_ms=-1, update_ms=now_ms)

    def prepare_add_partitions(self, partitions: Iterable[TopicPartition], now_ms: int, *,
                               client_txn_version: int = 0) -> TxnTransit:
        """AddPartitionsToTxn/AddOffsetsToTxn, or a partition added implicitly (transaction
        version 2): the transaction is Ongoing with these added."""
        start_ms = now_ms if self.state in _COMPLETED else self.start_ms
        return self.prepare_transition(S.ONGOING, partitions=self.partitions | set(partitions),
                                       start_ms=start_ms, update_ms=now_ms, client_txn_version=client_txn_version)

    def prepare_abort_or_commit(self, state: TxnState, now_ms: int, *, client_txn_version: int = 0,
                                fence: bool = False, next_producer_id: int = NO_PRODUCER_ID) -> TxnTransit:
        """EndTxn: PrepareCommit or PrepareAbort (``prepareAbortOrCommit``).

        ``fence`` first bumps the epoch (timeout, InitProducerId), as Kafka's
        PrepareEpochFence does; transaction version 2 then bumps it once more, as every
        EndTxn does, keeping the epoch before it as ``last_producer_epoch`` so a retried
        EndTxn is recognised. ``next_producer_id`` is the id to move to at Complete*
        when that bump reaches the last epoch. An abort with nothing added (version 2
        only) starts and ends now.
        """
        epoch, last = self.producer_epoch, self.last_producer_epoch
        if fence:
            epoch, last = min(epoch + 1, MAX_PRODUCER_EPOCH), NO_PRODUCER_EPOCH
        if client_txn_version >= 2:
            epoch, last = min(epoch + 1, MAX_PRODUCER_EPOCH), epoch
        start_ms = now_ms if self.state in _COMPLETED else self.start_ms
        return self.prepare_transition(state, producer_epoch=epoch, last_producer_epoch=last,
                                       next_producer_id=next_producer_id, start_ms=start_ms, update_ms=now_ms,
                                       client_txn_version=client_txn_version)

    def prepare_complete(self, now_ms: int) -> TxnTransit:
        """The markers are written: CompleteCommit/CompleteAbort, no partitions left; with a
        ``next_producer_id`` (version 2, epoch exhausted) the id moves to it at epoch 0."""
        if self.next_producer_id != NO_PRODUCER_ID:
            return self.prepare_transition(COMPLETION[self.state], producer_id=self.next_producer_id,
                                           prev_producer_id=self.producer_id, next_producer_id=NO_PRODUCER_ID,
                                           producer_epoch=0, partitions=(), update_ms=now_ms)
        return self.prepare_transition(COMPLETION[self.state], partitions=(), update_ms=now_ms)

    def prepare_dead(self, now_ms: int) -> TxnTransit:
        """The transactional id expired (``transactional.id.expiration.ms``): tombstone it."""
        return self.prepare_transition(S.DEAD, partitions=(), update_ms=now_ms)
