"""Transaction version 2 (KIP-890 part 2) request by request, over a raw socket.

A new cluster finalizes ``transaction.version`` 2, and a client that sees it sends
EndTxn v5 (the coordinator bumps the epoch on every commit and abort and answers the
new one), Produce v12+ without AddPartitionsToTxn (the partition leader adds the
partition to the transaction) and TxnOffsetCommit v5 without AddOffsetsToTxn. Clients
of the older protocol keep working on the same cluster (test_transactions.py runs
librdkafka, kafka-python and aiokafka against it).
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.txn import log as txn_log
from kafkapy.broker.txn.metadata import (
    MAX_PRODUCER_EPOCH,
    TransactionMetadata,
    TxnState,
    TxnTransit,
)
from kafkapy.storage.checkpoint import META_PROPERTIES, read_meta_properties
from kafkapy.storage.log_manager import LogManager
from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.end_txn import EndTxnRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.txn_offset_commit import TxnOffsetCommitRequest
from kafkapy.wire.records import scan_batches
from tests.broker.test_idempotence import wait_for_topic
from tests.broker.test_transactions_protocol import TxnClient, values_of, wait_for_state
from tests.broker.test_transactions_state import state_batch


@pytest.fixture
def client(broker, topic):
    with TxnClient(broker.bootstrap_servers) as c:
        wait_for_topic(c, topic)
        yield c


@pytest.fixture
def tid() -> str:
    return f"tx-{uuid.uuid4().hex[:10]}"


def end_v5(c: TxnClient, transactional_id: str, pid: int, epoch: int, commit: bool):
    return c.request(EndTxnRequest(transactional_id=transactional_id, producer_id=pid, producer_epoch=epoch, committed=commit), 5)


def find_group_coordinator(c: TxnClient, group: str) -> None:
    deadline = time.monotonic() + 10
    while c.request(FindCoordinatorRequest(key=group, key_type=0), 2).error_code != ErrorCode.NONE:
        assert time.monotonic() < deadline, "no group coordinator"
        time.sleep(0.05)


def init(c: TxnClient, transactional_id: str) -> tuple[int, int]:
    c.find_coordinator(transactional_id)
    r = c.init(transactional_id, version=5)
    assert r.error_code == ErrorCode.NONE
    return r.producer_id, r.producer_epoch


def test_api_versions_reports_transaction_version_2(client):
    r = client.request(ApiVersionsRequest(client_software_name="t", client_software_version="1"), 4)
    supported = {f.name: (f.min_version, f.max_version) for f in r.supported_features}
    finalized = {f.name: f.max_version_level for f in r.finalized_features}
    assert supported["transaction.version"] == (0, 2)
    assert finalized["transaction.version"] == 2
    versions = {k.api_key: k.max_version for k in r.api_keys}
    assert versions[26] >= 5 and versions[28] >= 5 and versions[0] >= 12  # EndTxn, TxnOffsetCommit, Produce


def test_produce_adds_the_partition_and_end_txn_bumps_the_epoch(client, topic, tid):
    pid, epoch = init(client, tid)
    assert client.describe(tid).transaction_state == "Empty"
    # No AddPartitionsToTxn: the first transactional Produce v12 adds the partition.
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"one"], version=12).error_code == ErrorCode.NONE
    d = client.describe(tid)
    assert d.transaction_state == "Ongoing" and [(t.topic, t.partitions) for t in d.topics] == [(topic, [0])]
    r = end_v5(client, tid, pid, epoch, commit=True)
    assert (r.error_code, r.producer_id, r.producer_epoch) == (ErrorCode.NONE, pid, epoch + 1)
    wait_for_state(client, tid, "CompleteCommit")
    # A retry of that EndTxn (the old epoch) gets the same answer; the markers carry the new epoch.
    r = end_v5(client, tid, pid, epoch, commit=True)
    assert (r.error_code, r.producer_id, r.producer_epoch) == (ErrorCode.NONE, pid, epoch + 1)
    pd = client.fetch(topic, committed=True)
    data = bytes(pd.records)
    marker = [h for _, h in scan_batches(data).batches if h.is_control]
    assert [(h.producer_id, h.producer_epoch) for h in marker] == [(pid, epoch + 1)]
    # A late batch of the ended transaction is fenced by the bumped epoch.
    assert client.produce_txn(tid, topic, pid, epoch, 1, [b"late"], version=12).error_code == \
        ErrorCode.INVALID_PRODUCER_EPOCH
    # The next transaction runs at the new epoch, from sequence 0, and is aborted.
    assert client.produce_txn(tid, topic, pid, epoch + 1, 0, [b"two"], version=12).error_code == ErrorCode.NONE
    r = end_v5(client, tid, pid, epoch + 1, commit=False)
    assert (r.error_code, r.producer_epoch) == (ErrorCode.NONE, epoch + 2)
    wait_for_state(client, tid, "CompleteAbort")
    # The old epoch is fenced at the coordinator too.
    assert end_v5(client, tid, pid, epoch, commit=True).error_code == ErrorCode.PRODUCER_FENCED
    pd = client.fetch(topic, committed=True)
    records = [(o, v) for o, v, control in values_of(pd) if not control]
    assert [v for _, v in records] == [b"one", b"two"]
    # read_committed: the abort's marker is in place, and "two" is listed as aborted.
    assert [(a.producer_id, a.first_offset) for a in pd.aborted_transactions] == [(pid, records[1][0])]
    assert pd.last_stable_offset == pd.high_watermark


def test_abort_with_nothing_added(client, tid):
    """A version 2 client cannot know whether its produce requests added anything, so
    an abort of an empty transaction bumps the epoch; a commit of one is refused."""
    pid, epoch = init(client, tid)
    assert end_v5(client, tid, pid, epoch, commit=True).error_code == ErrorCode.INVALID_TXN_STATE
    r = end_v5(client, tid, pid, epoch, commit=False)
    assert (r.error_code, r.producer_id, r.producer_epoch) == (ErrorCode.NONE, pid, epoch + 1)
    wait_for_state(client, tid, "CompleteAbort")


def test_txn_offset_commit_v5_adds_the_offsets_partition(client, topic, tid):
    pid, epoch = init(client, tid)
    group = f"g-{tid}"
    find_group_coordinator(client, group)
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"x"], version=12).error_code == ErrorCode.NONE
    r = client.request(TxnOffsetCommitRequest(
        transactional_id=tid, group_id=group, producer_id=pid, producer_epoch=epoch,
        generation_id_or_member_epoch=-1, member_id="",
        topics=[TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic(name=topic, partitions=[
            TxnOffsetCommitRequest.TxnOffsetCommitRequestPartition(partition_index=0, committed_offset=7)])]), 5)
    assert r.topics[0].partitions[0].error_code == ErrorCode.NONE
    assert {t.topic for t in client.describe(tid).topics} == {topic, "__consumer_offsets"}
    r = end_v5(client, tid, pid, epoch, commit=True)
    assert r.error_code == ErrorCode.NONE
    wait_for_state(client, tid, "CompleteCommit")


def test_the_old_protocol_works_on_the_same_cluster(client, topic, tid):
    """EndTxn v4 and AddPartitionsToTxn v3: no epoch bump, as before KIP-890 part 2."""
    pid, epoch = init(client, tid)
    assert client.add_partitions(tid, pid, epoch, topic) == {(topic, 0): ErrorCode.NONE}
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"v1"]).error_code == ErrorCode.NONE
    r = client.request(EndTxnRequest(transactional_id=tid, producer_id=pid, producer_epoch=epoch, committed=True), 4)
    assert r.error_code == ErrorCode.NONE
    wait_for_state(client, tid, "CompleteCommit")
    assert client.describe(tid).producer_epoch == epoch


@pytest.mark.parametrize("state", [TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT])
def test_an_exhausted_epoch_moves_to_a_new_producer_id(state):
    """At the last epoch a version 2 EndTxn goes on with a new producer id at epoch 0;
    the markers are written with the old id at the highest epoch."""
    tp = TopicPartition("t", 0)
    t = TransactionMetadata("x", 5, producer_epoch=MAX_PRODUCER_EPOCH - 1, timeout_ms=1000, update_ms=0)
    t.complete_transition(t.prepare_add_partitions([tp], now_ms=1, client_txn_version=2))
    assert t.is_epoch_exhausted
    prepare = t.prepare_abort_or_commit(state, now_ms=2, client_txn_version=2, next_producer_id=9)
    assert (prepare.producer_id, prepare.producer_epoch, prepare.next_producer_id) == (5, MAX_PRODUCER_EPOCH, 9)
    t.complete_transition(prepare)
    complete = t.prepare_complete(now_ms=3)
    assert (complete.producer_id, complete.producer_epoch, complete.prev_producer_id, complete.next_producer_id) == \
        (9, 0, 5, -1)
    t.complete_transition(complete)
    assert t.state is (TxnState.COMPLETE_COMMIT if state is TxnState.PREPARE_COMMIT else TxnState.COMPLETE_ABORT)


def test_an_exhausted_epoch_end_to_end(tmp_path, topic):
    """A transactional id whose epoch is one bump from the last (its state written to
    ``__transaction_state`` by hand while the node is down): the next version 2 EndTxn
    goes on with a new producer id at epoch 0, a retry of it gets the same answer, and
    the new id runs the next transaction."""
    data = str(tmp_path / "data")
    config = {"log.dirs": data}
    tid = f"tx-{topic}"
    with Broker(config, memory=False) as b, TxnClient(b.bootstrap_servers) as c:
        wait_for_topic(c, topic)
        pid, _ = init(c, tid)
        start_ms = c.describe(tid).transaction_start_time_ms
    cluster_id = read_meta_properties(os.path.join(data, META_PROPERTIES))["cluster.id"]
    logs = LogManager.open(data, cluster_id=cluster_id, node_id=1, now_ms=0)
    state_log = logs.get_log("__transaction_state", 0)
    worn = TxnTransit(producer_id=pid, prev_producer_id=-1, producer_epoch=MAX_PRODUCER_EPOCH - 2,
                      last_producer_epoch=-1, timeout_ms=60_000, state=TxnState.EMPTY, partitions=frozenset(),
                      start_ms=start_ms, update_ms=1)
    state_log.append(state_batch(tid, worn, 1, txn_log.value_version(2)),
                     leader_epoch=state_log.leader_epoch_cache.latest_epoch or 0, now_ms=1)
    logs.close(1)

    with Broker(config, memory=False) as b, TxnClient(b.bootstrap_servers) as c:
        wait_for_topic(c, topic)
        pid2, epoch = init(c, tid)
        assert (pid2, epoch) == (pid, MAX_PRODUCER_EPOCH - 1)
        assert c.produce_txn(tid, topic, pid, epoch, 0, [b"last-of-old"], version=12).error_code == ErrorCode.NONE
        r = end_v5(c, tid, pid, epoch, commit=True)
        assert r.error_code == ErrorCode.NONE and r.producer_id != pid and r.producer_epoch == 0
        new_pid = r.producer_id
        wait_for_state(c, tid, "CompleteCommit")
        d = c.describe(tid)
        assert (d.producer_id, d.producer_epoch) == (new_pid, 0)
        retry = end_v5(c, tid, pid, epoch, commit=True)
        assert (retry.error_code, retry.producer_id, retry.producer_epoch) == (ErrorCode.NONE, new_pid, 0)
        # The marker went out under the old id at the highest epoch.
        markers = [h for _, h in scan_batches(bytes(c.fetch(topic, committed=True).records)).batches if h.is_control]
        assert [(h.producer_id, h.producer_epoch) for h in markers] == [(pid, MAX_PRODUCER_EPOCH)]
        assert c.produce_txn(tid, topic, new_pid, 0, 0, [b"first-of-new"], version=12).error_code == ErrorCode.NONE
        r = end_v5(c, tid, new_pid, 0, commit=True)
        assert (r.error_code, r.producer_id, r.producer_epoch) == (ErrorCode.NONE, new_pid, 1)
        wait_for_state(c, tid, "CompleteCommit")
        assert [v for _, v, control in values_of(c.fetch(topic, committed=True)) if not control] == \
            [b"last-of-old", b"first-of-new"]
