"""The transaction coordinator's shard as a pure state machine: operations give records and
answers, replaying a written record makes its transition current (as the runtime does
right after the append), a write that never reached the log is forgotten when it
settles, a Prepare* asks for its markers, and the timers hand their writes to the
coordinator."""

from __future__ import annotations

from typing import Any

import pytest

from kafkapy.broker.coordinator.shard import CoordinatorResult, ShardContext
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.txn.metadata import TxnState as S
from kafkapy.broker.txn.shard import ProducerIdNeeded, TransactionShard, TxnAnswer
from kafkapy.config import BrokerConfig
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.wire.error_codes import ErrorCode
from tests.share.test_shards import _Timer

TP = TopicPartition("orders", 0)
CONCURRENT = TxnAnswer(ErrorCode.CONCURRENT_TRANSACTIONS)


class Coordinator:
    """What the shard asks of its coordinator, recorded; and the clock."""

    def __init__(self) -> None:
        self.now_ms = 1000
        self.markers: list[str] = []
        self.writes: list[tuple[tuple[str, ...], Any]] = []
        self.log: list[tuple[bytes, bytes | None]] = []

    def shard(self) -> TransactionShard:
        config = BrokerConfig.from_properties({"node.id": "1", "process.roles": "broker,controller"})
        context = ShardContext(partition=0, leader_epoch=5, timer=_Timer(), now_ms=lambda: self.now_ms,
                               image=MetadataImage, config=config)
        return TransactionShard(context, markers_due=lambda _, tid: self.markers.append(tid),
                                write_due=lambda _, tids, op: self.writes.append((tuple(tids), op)))

    def write(self, shard: TransactionShard, result: CoordinatorResult[TxnAnswer]) -> TxnAnswer:
        """Append (here: keep) and replay the result's records, as the runtime does."""
        for key, value in result.records:
            self.log.append((key, value))
            shard.replay(len(self.log) - 1, -1, key, value)
        return result.response


def _ongoing(c: Coordinator, shard: TransactionShard) -> None:
    with pytest.raises(ProducerIdNeeded):  # a new id: nothing changes until it has a producer id
        shard.init_producer_id("tx", 60_000, None, None)
    assert shard.txns == {}
    assert c.write(shard, shard.init_producer_id("tx", 60_000, None, 7)) == TxnAnswer(ErrorCode.NONE, 7, 0)
    assert c.write(shard, shard.add_partitions("tx", 7, 0, [TP], 0)) == TxnAnswer(ErrorCode.NONE)
    shard.settle(["tx"])
    assert (shard.txns["tx"].state, shard.txns["tx"].pending) == (S.ONGOING, None)


def test_an_append_that_failed_is_forgotten_when_the_write_settles():
    c = Coordinator()
    shard = c.shard()
    assert c.write(shard, shard.init_producer_id("tx", 60_000, None, 7)).error == ErrorCode.NONE
    shard.add_partitions("tx", 7, 0, [TP], 0)  # prepared, its record never appended
    assert shard.add_partitions("tx", 7, 0, [TP], 0).response == CONCURRENT
    shard.settle(["tx"])
    t = shard.txns["tx"]
    assert (t.state, t.pending, t.partitions) == (S.EMPTY, None, set())
    assert c.write(shard, shard.add_partitions("tx", 7, 0, [TP], 0)) == TxnAnswer(ErrorCode.NONE)
    assert (t.state, t.partitions) == (S.ONGOING, {TP})


def test_prepare_commit_keeps_its_completion_pending_until_the_markers_are_written():
    c = Coordinator()
    shard = c.shard()
    _ongoing(c, shard)
    assert c.write(shard, shard.end_transaction("tx", 7, 0, True, 0, None)) == TxnAnswer(ErrorCode.NONE, 7, 0)
    t = shard.txns["tx"]
    assert (t.state, t.pending) == (S.PREPARE_COMMIT, S.COMPLETE_COMMIT)
    # Every request meanwhile is CONCURRENT_TRANSACTIONS, the opposite EndTxn included.
    assert shard.init_producer_id("tx", 60_000, None, None).response == CONCURRENT
    assert shard.add_partitions("tx", 7, 0, [TP], 0).response == CONCURRENT
    assert shard.end_transaction("tx", 7, 0, False, 0, None).response == CONCURRENT
    assert c.markers == []  # not before the write settles (its record committed)
    shard.settle(["tx"])
    assert c.markers == ["tx"]
    assert c.write(shard, shard.complete(t)) == TxnAnswer(ErrorCode.NONE)
    assert (t.state, t.pending, t.partitions) == (S.COMPLETE_COMMIT, None, set())
    # A retried EndTxn of the completed transaction is answered without a write.
    retry = shard.end_transaction("tx", 7, 0, True, 0, None)
    assert retry.records == [] and retry.response == TxnAnswer(ErrorCode.NONE, 7, 0)


def test_a_loaded_prepare_commit_asks_for_its_markers_and_starts_the_timers():
    c = Coordinator()
    shard = c.shard()
    _ongoing(c, shard)
    c.write(shard, shard.end_transaction("tx", 7, 0, True, 0, None))
    loaded = c.shard()
    for offset, (key, value) in enumerate(c.log):
        loaded.replay(offset, -1, key, value)
    assert c.markers == []
    loaded.on_loaded()
    t = loaded.txns["tx"]
    assert c.markers == ["tx"] and (t.state, t.pending, t.partitions) == (S.PREPARE_COMMIT, S.COMPLETE_COMMIT, {TP})
    assert set(loaded.context.timer.keys) == {"abort-timed-out-transactions",  # type: ignore[attr-defined]
                                              "remove-expired-transactional-ids"}
    assert c.write(loaded, loaded.complete(t)) == TxnAnswer(ErrorCode.NONE)
    assert t.state is S.COMPLETE_COMMIT


def test_the_timers_abort_a_timed_out_transaction_and_tombstone_an_expired_id():
    c = Coordinator()
    shard = c.shard()
    _ongoing(c, shard)
    shard.on_loaded()
    timers = shard.context.timer.keys  # type: ignore[attr-defined]
    timers["abort-timed-out-transactions"](shard)
    assert c.writes == []  # not timed out yet
    c.now_ms += 60_001
    timers["abort-timed-out-transactions"](shard)
    (tids, op), = c.writes
    assert tids == ("tx",)
    assert c.write(shard, op(shard)) == TxnAnswer(ErrorCode.NONE, 7, 1)  # the producer is fenced
    t = shard.txns["tx"]
    assert (t.state, t.producer_epoch) == (S.PREPARE_ABORT, 1)
    c.write(shard, shard.complete(t))
    c.writes.clear()
    c.now_ms += shard.context.config.transactional_id_expiration_ms
    timers["remove-expired-transactional-ids"](shard)
    (tids, op), = c.writes
    result = op(shard)
    assert tids == ("tx",) and [value for _, value in result.records] == [None]
    c.write(shard, result)
    assert shard.txns == {}
    assert {"abort-timed-out-transactions", "remove-expired-transactional-ids"} <= set(timers)  # rescheduled
