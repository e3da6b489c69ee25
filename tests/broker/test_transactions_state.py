"""The transaction state machine (``txn.metadata``) and the ``__transaction_state`` format (``txn.log``).

Driven with states and transits only, no broker: every transition the table allows
and forbids, epoch bumps and their retries (KIP-360), fencing, and records that
round-trip through Kafka's TransactionLogKey/Value layout.
"""

from __future__ import annotations

import struct

import pytest

from kafkapy.broker.coordinator.runtime import iter_partition
from kafkapy.broker.coordinator.shard import ShardContext
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.txn import log as txn_log
from kafkapy.broker.txn.metadata import (
    MAX_PRODUCER_EPOCH,
    VALID_PREVIOUS_STATES,
    IllegalTxnTransition,
    TransactionMetadata,
    TxnState,
    TxnTransit,
)
from kafkapy.broker.txn.shard import TransactionShard
from kafkapy.config import DEFAULT_LOG_CONFIG, BrokerConfig
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.storage.partition_log import PartitionLog
from kafkapy.wire.messages.transaction_log_value import TransactionLogValue
from kafkapy.wire.records import Record, build_batch, build_end_txn_marker, iter_records

S = TxnState
TP = TopicPartition("orders", 0)


def txn(**kw) -> TransactionMetadata:
    return TransactionMetadata("tx", 1000, timeout_ms=60_000, update_ms=0, **kw)


def test_kafka_names_and_ids():
    assert [(s.value, s.kafka_name) for s in S] == [
        (0, "Empty"), (1, "Ongoing"), (2, "PrepareCommit"), (3, "PrepareAbort"), (4, "CompleteCommit"),
        (5, "CompleteAbort"), (6, "Dead"), (7, "PrepareEpochFence")]
    assert all(S.from_kafka_name(s.kafka_name) is s for s in S)
    assert S.from_kafka_name("Bogus") is None


@pytest.mark.parametrize("target", list(S))
@pytest.mark.parametrize("source", list(S))
def test_the_table_decides_every_transition(source, target):
    t = txn(state=source)
    if source in VALID_PREVIOUS_STATES[target]:
        transit = t.prepare_transition(target, update_ms=5)
        assert t.pending is target and t.state is source
        t.complete_transition(transit)
        assert t.state is target and t.pending is None and t.update_ms == 5
    else:
        with pytest.raises(IllegalTxnTransition):
            t.prepare_transition(target, update_ms=5)
        assert t.pending is None


def test_one_pending_transition_at_a_time():
    t = txn(producer_epoch=0)
    transit = t.prepare_add_partitions([TP], now_ms=10)
    with pytest.raises(IllegalTxnTransition):
        t.prepare_add_partitions([TP], now_ms=11)
    t.abort_pending()
    assert t.state is S.EMPTY and not t.partitions
    with pytest.raises(IllegalTxnTransition):
        t.complete_transition(transit)  # no longer pending


def test_a_commit_from_start_to_end():
    t = txn(producer_epoch=0)
    t.complete_transition(t.prepare_add_partitions([TP], now_ms=10))
    assert (t.state, t.partitions, t.start_ms) == (S.ONGOING, {TP}, 10)
    other = TopicPartition("orders", 1)
    t.complete_transition(t.prepare_add_partitions([other], now_ms=20))
    assert t.partitions == {TP, other} and t.start_ms == 10  # the transaction began at the first add
    t.complete_transition(t.prepare_abort_or_commit(S.PREPARE_COMMIT, now_ms=30))
    assert t.state is S.PREPARE_COMMIT and t.partitions == {TP, other}
    t.complete_transition(t.prepare_complete(now_ms=40))
    assert (t.state, t.partitions, t.producer_epoch) == (S.COMPLETE_COMMIT, set(), 0)
    # The next transaction starts afresh.
    t.complete_transition(t.prepare_add_partitions([other], now_ms=50))
    assert t.partitions == {other} and t.start_ms == 50


def test_fencing_abort_bumps_the_epoch():
    t = txn(producer_epoch=3, last_producer_epoch=2, state=S.ONGOING, partitions=[TP], start_ms=1)
    transit = t.prepare_abort_or_commit(S.PREPARE_ABORT, now_ms=9, fence=True)
    assert (transit.producer_epoch, transit.last_producer_epoch, transit.state) == (4, -1, S.PREPARE_ABORT)
    t.complete_transition(transit)
    t.complete_transition(t.prepare_complete(now_ms=10))
    assert (t.state, t.producer_epoch) == (S.COMPLETE_ABORT, 4)


def test_epoch_bump_and_its_retry():
    t = txn()  # a new transactional id: no epoch yet
    t.complete_transition(t.prepare_increment_epoch(60_000, None, now_ms=1))
    assert (t.producer_epoch, t.last_producer_epoch) == (0, -1)
    # KIP-360: the producer names its epoch; the bump remembers the previous one ...
    t.complete_transition(t.prepare_increment_epoch(60_000, 0, now_ms=2))
    assert (t.producer_epoch, t.last_producer_epoch) == (1, 0)
    # ... so a retry of that bump (the answer was lost) gets the same epoch again,
    retry = t.prepare_increment_epoch(60_000, 0, now_ms=3)
    assert (retry.producer_epoch, retry.last_producer_epoch) == (1, 0)
    t.abort_pending()
    # and any other epoch is fenced.
    assert t.prepare_increment_epoch(60_000, 7, now_ms=4) is None
    assert t.pending is None


def test_exhausted_epoch_rotates_the_producer_id():
    t = txn(producer_epoch=MAX_PRODUCER_EPOCH - 1)
    assert t.is_epoch_exhausted
    t.complete_transition(t.prepare_producer_id_rotation(2000, 60_000, now_ms=1, record_last_epoch=True))
    assert (t.producer_id, t.prev_producer_id, t.producer_epoch, t.last_producer_epoch) == (
        2000, 1000, 0, MAX_PRODUCER_EPOCH - 1)


def test_log_records_round_trip():
    t = txn(producer_epoch=5, state=S.ONGOING, start_ms=100, partitions=[TP, TopicPartition("a", 3)])
    transit = t.prepare_abort_or_commit(S.PREPARE_COMMIT, now_ms=200)
    key = txn_log.key_bytes("tx")
    assert key[:2] == b"\x00\x00" and txn_log.read_key(key) == "tx"
    value = txn_log.value_bytes(transit)
    assert struct.unpack_from(">h", value)[0] == 0
    decoded = TransactionLogValue.from_bytes(memoryview(value)[2:], 0)
    assert (decoded.producer_id, decoded.producer_epoch, decoded.transaction_status) == (1000, 5, 2)
    assert decoded.transaction_timeout_ms == 60_000
    assert {(p.topic, tuple(p.partition_ids)) for p in decoded.transaction_partitions} == {("a", (3,)), ("orders", (0,))}
    back = txn_log.read_value(value)
    assert back == transit


def test_empty_state_has_null_partitions_and_dead_is_a_tombstone():
    t = txn()
    empty = t.prepare_increment_epoch(60_000, None, now_ms=1)
    decoded = TransactionLogValue.from_bytes(memoryview(txn_log.value_bytes(empty))[2:], 0)
    assert decoded.transaction_partitions is None
    t.complete_transition(empty)
    assert txn_log.value_bytes(t.prepare_dead(now_ms=2)) is None


def state_batch(transactional_id: str, transit: TxnTransit, now_ms: int, value_version: int = 0) -> bytearray:
    """The ``__transaction_state`` batch of one transition, as the coordinator writes it."""
    record = Record(0, 0, txn_log.key_bytes(transactional_id), txn_log.value_bytes(transit, value_version))
    return bytearray(build_batch([record], base_timestamp=now_ms))


def loaded(log: PartitionLog) -> dict[str, TransactionMetadata]:
    """The transactional ids a coordinator loads from ``log`` (replayed as the runtime does)."""
    config = BrokerConfig.from_properties({"node.id": "1", "process.roles": "broker,controller"})
    context = ShardContext(partition=0, leader_epoch=0, timer=None, now_ms=lambda: 0,  # type: ignore[arg-type]
                           image=MetadataImage, config=config)
    shard = TransactionShard(context, markers_due=lambda *_: None, write_due=lambda *_: None)
    for item in iter_partition(log):
        if item[0] == "record" and item[3] is not None:
            shard.replay(*item[1:])
    return shard.txns


def test_load_keeps_the_newest_state_per_id_and_skips_markers():
    log = PartitionLog.open(None, "__transaction_state", 0, DEFAULT_LOG_CONFIG, now_ms=0)
    a, b = txn(), TransactionMetadata("other", 7, timeout_ms=1000, update_ms=0)
    for t in (a, b, a):
        transit = t.prepare_increment_epoch(60_000, None, now_ms=0)
        log.append(state_batch(t.transactional_id, transit, now_ms=0), leader_epoch=0, now_ms=0)
        t.complete_transition(transit)
    log.append(bytearray(build_end_txn_marker(5, 0, 0, True, timestamp=0)), leader_epoch=0, now_ms=0)
    assert {tid: (t.producer_id, t.producer_epoch, t.state) for tid, t in loaded(log).items()} == {
        "tx": (1000, 1, S.EMPTY), "other": (7, 0, S.EMPTY)}
    # A tombstone removes the id.
    dead = b.prepare_dead(now_ms=9)
    log.append(state_batch("other", dead, now_ms=0), leader_epoch=0, now_ms=0)
    assert set(loaded(log)) == {"tx"}
    record = next(iter_records(bytes(state_batch("other", dead, now_ms=0))))
    assert record.value is None


def test_unknown_key_versions_are_skipped():
    log = PartitionLog.open(None, "__transaction_state", 0, DEFAULT_LOG_CONFIG, now_ms=0)
    log.append(bytearray(build_batch([Record(0, 0, b"\x00\x07future", b"\x00\x00")], base_timestamp=0)),
               leader_epoch=0, now_ms=0)
    assert loaded(log) == {}
