"""The transaction coordinator on the coordinator runtime: each ``__transaction_state``
partition this node leads is loaded once, when it becomes its leader, and its shard then
serves every later transaction through metadata changes; a restarted node loads each
partition once more from its log, with the transactions that were written to it."""

from __future__ import annotations

from kafkapy.broker.txn.metadata import TxnState
from kafkapy.broker.txn.shard import TransactionShard
from kafkapy.testing import Broker
from tests.broker.test_transactions import txn_producer
from tests.broker.test_transactions_protocol import TxnClient, wait_for_state

TIDS = [f"once-{i}" for i in range(6)]
PARTITIONS = 3


def _shards(b: Broker) -> dict[int, TransactionShard]:
    """The loaded shards of the transaction coordinator, by partition."""
    def shards() -> dict[int, TransactionShard]:
        runtime = b.core.txn_coordinator.runtime
        return {p: runtime.shard(p) for p in runtime.loaded_partitions()}

    return b.call(shards)


def _commit_each(b: Broker, topic: str, value: bytes) -> None:
    """A committed transaction of every id, its markers written."""
    for tid in TIDS:
        p = txn_producer(b.bootstrap_servers, tid)
        p.begin_transaction()
        p.produce(topic, value)
        p.commit_transaction(30)
    with TxnClient(b.bootstrap_servers) as client:
        for tid in TIDS:
            wait_for_state(client, tid, "CompleteCommit")


def test_transaction_state_partitions_are_loaded_once(tmp_path):
    config = {"log.dirs": str(tmp_path / "data"), "transaction.state.log.num.partitions": str(PARTITIONS)}
    with Broker(config, memory=False) as b:
        b.create_topics("once")
        _commit_each(b, "once", b"first")
        loaded = _shards(b)
        assert sorted(loaded) == list(range(PARTITIONS))
        b.create_topics("once-a", "once-b", partitions=2)  # more metadata images
        _commit_each(b, "once", b"second")
        after = _shards(b)
        assert sorted(after) == sorted(loaded) and all(after[p] is loaded[p] for p in loaded)
        states = b.call(lambda: {tid: shard.txns[tid].state for shard in after.values()
                                 for tid in TIDS if tid in shard.txns})
        assert states == dict.fromkeys(TIDS, TxnState.COMPLETE_COMMIT)

    with Broker(config, memory=False) as b:
        with TxnClient(b.bootstrap_servers) as client:
            for tid in TIDS:
                wait_for_state(client, tid, "CompleteCommit")  # loaded from the log
        reloaded = _shards(b)
        assert sorted(reloaded) == list(range(PARTITIONS))
        b.create_topics("once-c")
        _commit_each(b, "once", b"third")
        assert all(_shards(b)[p] is reloaded[p] for p in reloaded)
