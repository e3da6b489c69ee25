"""A restart in the middle of a transaction, with data on disk.

After a restart the coordinator rebuilds its state from ``__transaction_state``: a
transaction whose PrepareCommit was logged is completed (its markers written), an
open one is aborted once its timeout has passed. Either way read_committed consumers
see all of it or none of it, never part.
"""

from __future__ import annotations

import os
import signal

from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.txn.metadata import TxnState, TxnTransit
from kafkapy.storage.checkpoint import META_PROPERTIES, read_meta_properties
from kafkapy.storage.log_manager import LogManager
from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from tests.broker.conftest import ServeProcess, free_port
from tests.broker.test_idempotence import wait_for_topic
from tests.broker.test_transactions import read_all, txn_producer
from tests.broker.test_transactions_protocol import (
    TxnClient,
    begin,
    values_of,
    wait_for_state,
)
from tests.broker.test_transactions_state import loaded, state_batch

QUICK_ABORTS = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "100"}


def test_open_transaction_is_aborted_after_restart(tmp_path, topic):
    config = {"log.dirs": str(tmp_path / "data"), **QUICK_ABORTS}
    tid = f"tx-{topic}"
    with Broker(config, memory=False) as b:
        p = txn_producer(b.bootstrap_servers, tid, **{"transaction.timeout.ms": 1000})
        p.begin_transaction()
        for i in range(5):
            p.produce(topic, b"open-%d" % i)
        p.flush(30)
    del p
    with Broker(config, memory=False) as b:
        with TxnClient(b.bootstrap_servers) as client:
            wait_for_state(client, tid, "CompleteAbort")
        assert read_all(b.bootstrap_servers, topic, committed=True) == []
        assert read_all(b.bootstrap_servers, topic, committed=False) == [b"open-%d" % i for i in range(5)]
        # The id works on: a new producer commits after the aborted transaction.
        p = txn_producer(b.bootstrap_servers, tid)
        p.begin_transaction()
        p.produce(topic, b"after")
        p.commit_transaction(30)
        assert read_all(b.bootstrap_servers, topic, committed=True) == [b"after"]


def test_logged_prepare_commit_is_completed_after_restart(tmp_path, topic):
    """The node stops after PrepareCommit is in the log but before any marker is
    written (the record is appended to the stopped node's log by hand)."""
    data = str(tmp_path / "data")
    config = {"log.dirs": data, **QUICK_ABORTS}
    tid = f"tx-{topic}"
    with Broker(config, memory=False) as b, TxnClient(b.bootstrap_servers) as client:
        wait_for_topic(client, topic)
        pid, epoch = begin(client, tid, topic)
        assert client.produce_txn(tid, topic, pid, epoch, 0, [b"x", b"y", b"z"]).error_code == ErrorCode.NONE
        ongoing = client.describe(tid)
        assert ongoing.transaction_state == "Ongoing"

    cluster_id = read_meta_properties(os.path.join(data, META_PROPERTIES))["cluster.id"]
    logs = LogManager.open(data, cluster_id=cluster_id, node_id=1, now_ms=ongoing.transaction_start_time_ms)
    state_log = logs.get_log("__transaction_state", 0)
    assert loaded(state_log)[tid].state is TxnState.ONGOING
    prepare = TxnTransit(producer_id=pid, prev_producer_id=-1, producer_epoch=epoch, last_producer_epoch=-1,
                         timeout_ms=60_000, state=TxnState.PREPARE_COMMIT,
                         partitions=frozenset({TopicPartition(topic, 0)}),
                         start_ms=ongoing.transaction_start_time_ms, update_ms=ongoing.transaction_start_time_ms + 1)
    state_log.append(state_batch(tid, prepare, prepare.update_ms),
                     leader_epoch=state_log.leader_epoch_cache.latest_epoch or 0, now_ms=prepare.update_ms)
    logs.close(prepare.update_ms)

    with Broker(config, memory=False) as b, TxnClient(b.bootstrap_servers) as client:
        wait_for_state(client, tid, "CompleteCommit")
        pd = client.fetch(topic, committed=True)
        assert pd.last_stable_offset == pd.high_watermark == 4
        assert [v for _, v, control in values_of(pd) if not control] == [b"x", b"y", b"z"]
        assert pd.aborted_transactions == []
        assert read_all(b.bootstrap_servers, topic, committed=True) == [b"x", b"y", b"z"]


def test_serve_killed_mid_transaction(tmp_path, topic):
    """``kafkapy serve`` is SIGKILLed while a transaction is open, and restarted."""
    port = free_port()
    args = [arg for key, value in QUICK_ABORTS.items() for arg in ("--override", f"{key}={value}")]
    tid = f"tx-{topic}"
    first = ServeProcess(args, port, str(tmp_path))
    try:
        p = txn_producer(first.bootstrap_servers, tid, **{"transaction.timeout.ms": 2000})
        p.begin_transaction()
        p.produce(topic, b"committed")
        p.commit_transaction(30)
        p.begin_transaction()
        for i in range(3):
            p.produce(topic, b"lost-%d" % i)
        p.flush(30)
    finally:
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    del p
    second = ServeProcess(args, port, str(tmp_path))
    try:
        with TxnClient(second.bootstrap_servers) as client:
            wait_for_state(client, tid, "CompleteAbort")
        assert read_all(second.bootstrap_servers, topic, committed=True) == [b"committed"]
        assert read_all(second.bootstrap_servers, topic, committed=False) == \
            [b"committed"] + [b"lost-%d" % i for i in range(3)]
    finally:
        assert second.stop() == 0
