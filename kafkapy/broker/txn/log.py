"""``__transaction_state`` records: Kafka's ``TransactionLog`` format.

A record's key is an int16 version (0) then ``TransactionLogKey`` (the transactional
id); its value is an int16 version then ``TransactionLogValue``, or null (a tombstone:
the id expired). Values are written at the version the finalized ``transaction.version``
asks for (``TransactionVersion.transactionLogValueVersion``): 0 below level 1, else 1,
whose tagged fields keep the previous and next producer ids and the client's
transaction version; both versions are read. The topic is compacted, so the newest
record per id is its state (:class:`~kafkapy.broker.txn.shard.TransactionShard` replays
them).
"""

from __future__ import annotations

import struct

from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.txn.metadata import TxnState, TxnTransit
from kafkapy.wire.errors import WireError
from kafkapy.wire.messages.transaction_log_key import TransactionLogKey
from kafkapy.wire.messages.transaction_log_value import TransactionLogValue

KEY_VERSION = 0
_VERSION = struct.Struct(">h")
_KNOWN_VALUE_VERSIONS = range(TransactionLogValue.VALID_VERSIONS[0], TransactionLogValue.VALID_VERSIONS[1] + 1)


def key_bytes(transactional_id: str) -> bytes:
    return _VERSION.pack(KEY_VERSION) + TransactionLogKey(transactional_id=transactional_id).to_bytes(KEY_VERSION)


def value_version(transaction_version: int) -> int:
    """The TransactionLogValue version written at a finalized ``transaction.version``."""
    return 1 if transaction_version >= 1 else 0


def value_bytes(transit: TxnTransit, version: int = 0) -> bytes | None:
    """The record value of ``transit`` at ``version``; None (a tombstone) for Dead."""
    if transit.state is TxnState.DEAD:
        return None
    by_topic: dict[str, list[int]] = {}
    for tp in sorted(transit.partitions):
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    value = TransactionLogValue(
        producer_id=transit.producer_id,
        producer_epoch=transit.producer_epoch,
        transaction_timeout_ms=transit.timeout_ms,
        transaction_status=int(transit.state),
        # Kafka writes a null partition list for Empty.
        transaction_partitions=None if transit.state is TxnState.EMPTY else [
            TransactionLogValue.PartitionsSchema(topic=topic, partition_ids=ids) for topic, ids in by_topic.items()],
        transaction_last_update_timestamp_ms=transit.update_ms,
        transaction_start_timestamp_ms=transit.start_ms,
        previous_producer_id=transit.prev_producer_id,
        next_producer_id=transit.next_producer_id,
        client_transaction_version=transit.client_txn_version,
    )
    return _VERSION.pack(version) + value.to_bytes(version)


def read_key(data: bytes) -> str | None:
    """The transactional id of a record key; None for a key version this broker does not know."""
    (version,) = _VERSION.unpack_from(data)
    if version != KEY_VERSION:
        return None
    return TransactionLogKey.from_bytes(memoryview(data)[_VERSION.size:], KEY_VERSION).transactional_id


def read_value(data: bytes) -> TxnTransit:
    """The state a record value holds.

    Raises:
        WireError: an unknown value version or a value that does not decode.
    """
    (version,) = _VERSION.unpack_from(data)
    if version not in _KNOWN_VALUE_VERSIONS:
        raise WireError(f"unknown TransactionLogValue version {version}")
    v = TransactionLogValue.from_bytes(memoryview(data)[_VERSION.size:], version)
    try:
        state = TxnState(v.transaction_status)
    except ValueError:
        raise WireError(f"unknown transaction status {v.transaction_status}") from None
    partitions = frozenset(TopicPartition(p.topic, i) for p in v.transaction_partitions or () for i in p.partition_ids)
    return TxnTransit(
        producer_id=v.producer_id,
        prev_producer_id=v.previous_producer_id,
        next_producer_id=v.next_producer_id,
        client_txn_version=v.client_transaction_version,
        producer_epoch=v.producer_epoch,
        last_producer_epoch=-1,
        timeout_ms=v.transaction_timeout_ms,
        state=state,
        partitions=partitions,
        start_ms=v.transaction_start_timestamp_ms,
        update_ms=v.transaction_last_update_timestamp_ms,
    )
