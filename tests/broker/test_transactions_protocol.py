"""The transaction APIs request by request, over a raw socket against a live broker.

Each test drives the coordinator the way a client would, but with every field in
hand, so Kafka's answers can be checked exactly: epoch bumps and their retries
(KIP-360), fencing and its error per request version (KIP-588), CONCURRENT_TRANSACTIONS
while markers are written, the visibility of committed and aborted batches
(read_committed stops at the last stable offset and lists aborted transactions), and
the admin APIs (DescribeTransactions, ListTransactions, DescribeProducers).
"""

from __future__ import annotations

import time
import uuid
from typing import Self

import pytest

from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.add_offsets_to_txn import AddOffsetsToTxnRequest
from kafkapy.wire.messages.add_partitions_to_txn import AddPartitionsToTxnRequest
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.describe_producers import DescribeProducersRequest
from kafkapy.wire.messages.describe_transactions import DescribeTransactionsRequest
from kafkapy.wire.messages.end_txn import EndTxnRequest
from kafkapy.wire.messages.fetch import FetchRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.init_producer_id import InitProducerIdRequest
from kafkapy.wire.messages.list_transactions import ListTransactionsRequest
from kafkapy.wire.messages.write_txn_markers import WriteTxnMarkersRequest
from kafkapy.wire.records import (
    Record,
    build_batch,
    iter_absolute_records,
    scan_batches,
)
from tests.broker.test_bad_input import RawClient, produce_request
from tests.broker.test_idempotence import wait_for_topic


class TxnClient(RawClient):
    """A raw connection with one method per transaction request."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def find_coordinator(self, transactional_id: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = self.request(FindCoordinatorRequest(key=transactional_id, key_type=1), 2)
            if r.error_code == ErrorCode.NONE:
                return
            time.sleep(0.05)
        raise AssertionError("no transaction coordinator")

    def init(self, transactional_id: str | None, *, timeout_ms: int = 60_000, version: int = 4,
             producer_id: int = -1, producer_epoch: int = -1):
        return self.request(InitProducerIdRequest(transactional_id=transactional_id,
                                                  transaction_timeout_ms=timeout_ms, producer_id=producer_id,
                                                  producer_epoch=producer_epoch), version)

    def add_partitions(self, transactional_id: str, pid: int, epoch: int, topic: str, partitions=(0,),
                       version: int = 3) -> dict[tuple[str, int], int]:
        r = self.request(AddPartitionsToTxnRequest(
            v3_and_below_transactional_id=transactional_id, v3_and_below_producer_id=pid,
            v3_and_below_producer_epoch=epoch, v3_and_below_topics=[
                AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=topic, partitions=list(partitions))]),
            version)
        return {(t.name, p.partition_index): p.partition_error_code
                for t in r.results_by_topic_v3_and_below for p in t.results_by_partition}

    def end(self, transactional_id: str, pid: int, epoch: int, commit: bool, version: int = 3) -> int:
        return self.request(EndTxnRequest(transactional_id=transactional_id, producer_id=pid,
                                          producer_epoch=epoch, committed=commit), version).error_code

    def end_until_done(self, transactional_id: str, pid: int, epoch: int, commit: bool) -> None:
        """EndTxn, then wait (by retrying it) until the markers are all written."""
        assert self.end(transactional_id, pid, epoch, commit) == ErrorCode.NONE
        wait_for_state(self, transactional_id, "CompleteCommit" if commit else "CompleteAbort")

    def describe(self, transactional_id: str):
        return self.request(DescribeTransactionsRequest(transactional_ids=[transactional_id]), 0).transaction_states[0]

    def produce_txn(self, transactional_id: str | None, topic: str, pid: int, epoch: int, sequence: int,
                    values: list[bytes], partition: int = 0, version: int = 9):
        data = build_batch([Record(i, 0, None, v) for i, v in enumerate(values)],
                           base_timestamp=int(time.time() * 1000), producer_id=pid, producer_epoch=epoch,
                           base_sequence=sequence, is_transactional=True)
        request = produce_request(topic, data)
        request.transactional_id = transactional_id
        request.topic_data[0].partition_data[0].index = partition
        return self.request(request, version).responses[0].partition_responses[0]

    def fetch(self, topic: str, *, committed: bool, partition: int = 0):
        request = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=10_000_000,
                               isolation_level=1 if committed else 0, topics=[
                                   FetchRequest.FetchTopic(topic=topic, partitions=[
                                       FetchRequest.FetchPartition(partition=partition, fetch_offset=0,
                                                                   partition_max_bytes=10_000_000)])])
        return self.request(request, 11).responses[0].partitions[0]


def values_of(pd) -> list[tuple[int, bytes, bool]]:
    """(offset, value, is control) of every record in a fetched partition."""
    data = bytes(pd.records)
    out = []
    for pos, header in scan_batches(data).batches:
        out.extend((r.offset, r.value, header.is_control) for r in iter_absolute_records(data, pos))
    return out


def wait_for_state(client: TxnClient, transactional_id: str, state: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if client.describe(transactional_id).transaction_state == state:
            return
        time.sleep(0.02)
    raise AssertionError(f"{transactional_id} never reached {state}: {client.describe(transactional_id)}")


@pytest.fixture
def client(broker, topic):
    c = TxnClient(broker.bootstrap_servers)
    wait_for_topic(c, topic)
    yield c
    c.close()


@pytest.fixture
def tid() -> str:
    t = f"tx-{uuid.uuid4().hex[:10]}"
    return t


def begin(client: TxnClient, tid: str, topic: str, **kw) -> tuple[int, int]:
    client.find_coordinator(tid)
    r = client.init(tid, **kw)
    assert r.error_code == ErrorCode.NONE
    assert client.add_partitions(tid, r.producer_id, r.producer_epoch, topic) == {(topic, 0): ErrorCode.NONE}
    return r.producer_id, r.producer_epoch


def test_commit_and_abort_are_visible_as_kafka_shows_them(client, topic, tid):
    pid, epoch = begin(client, tid, topic)
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"a1", b"a2"]).base_offset == 0
    # Open transaction: read_committed stops at its first offset; read_uncommitted sees it.
    pd = client.fetch(topic, committed=True)
    assert (pd.last_stable_offset, pd.high_watermark, values_of(pd)) == (0, 2, [])
    assert [v for _, v, _ in values_of(client.fetch(topic, committed=False))] == [b"a1", b"a2"]
    client.end_until_done(tid, pid, epoch, commit=False)  # ABORT marker at offset 2

    assert client.add_partitions(tid, pid, epoch, topic) == {(topic, 0): ErrorCode.NONE}
    assert client.produce_txn(tid, topic, pid, epoch, 2, [b"c1"]).base_offset == 3
    client.end_until_done(tid, pid, epoch, commit=True)  # COMMIT marker at offset 4

    pd = client.fetch(topic, committed=True)
    assert pd.last_stable_offset == pd.high_watermark == 5
    assert [(t.producer_id, t.first_offset) for t in pd.aborted_transactions] == [(pid, 0)]
    # Data and markers are all returned; the client drops the aborted ones and the markers.
    assert [(offset, control or value) for offset, value, control in values_of(pd)] == [
        (0, b"a1"), (1, b"a2"), (2, True), (3, b"c1"), (4, True)]
    assert client.fetch(topic, committed=False).aborted_transactions is None


def test_init_producer_id_bumps_the_epoch_and_recognises_retries(client, tid):
    client.find_coordinator(tid)
    first = client.init(tid, version=4)
    assert (first.error_code, first.producer_epoch) == (ErrorCode.NONE, 0)
    second = client.init(tid, version=4)
    assert (second.producer_id, second.producer_epoch) == (first.producer_id, 1)
    # KIP-360: naming the current producer bumps again; a retry of that bump (its
    # answer lost) names the previous epoch and gets the same epoch back.
    bumped = client.init(tid, version=4, producer_id=first.producer_id, producer_epoch=1)
    assert (bumped.error_code, bumped.producer_epoch) == (ErrorCode.NONE, 2)
    retry = client.init(tid, version=4, producer_id=first.producer_id, producer_epoch=1)
    assert (retry.error_code, retry.producer_epoch) == (ErrorCode.NONE, 2)
    # A stale epoch is fenced: PRODUCER_FENCED from v4, INVALID_PRODUCER_EPOCH before.
    assert client.init(tid, version=4, producer_id=first.producer_id, producer_epoch=0).error_code == \
        ErrorCode.PRODUCER_FENCED
    assert client.init(tid, version=3, producer_id=first.producer_id, producer_epoch=0).error_code == \
        ErrorCode.INVALID_PRODUCER_EPOCH
    assert client.init(tid, version=4, producer_id=first.producer_id + 1, producer_epoch=2).error_code == \
        ErrorCode.PRODUCER_FENCED
    assert client.init(tid, version=4, producer_id=first.producer_id).error_code == ErrorCode.INVALID_REQUEST


def test_transaction_timeout_is_bounded(client, tid):
    client.find_coordinator(tid)
    assert client.init(tid, timeout_ms=900_001).error_code == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert client.init(tid, timeout_ms=0).error_code == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert client.init("", timeout_ms=1000).error_code == ErrorCode.INVALID_REQUEST
    assert client.init(tid, timeout_ms=900_000).error_code == ErrorCode.NONE


def test_new_producer_fences_the_old_one_and_aborts_its_transaction(client, topic, tid):
    pid, epoch = begin(client, tid, topic)
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"zombie"]).error_code == ErrorCode.NONE
    # The new producer's InitProducerId aborts the open transaction with a bumped
    # epoch first and asks it to retry meanwhile.
    r = client.init(tid)
    assert r.error_code == ErrorCode.CONCURRENT_TRANSACTIONS
    wait_for_state(client, tid, "CompleteAbort")
    assert client.describe(tid).producer_epoch == epoch + 1
    r = client.init(tid)
    assert (r.error_code, r.producer_id, r.producer_epoch) == (ErrorCode.NONE, pid, epoch + 2)
    # The zombie is fenced everywhere: by the coordinator and by the partition.
    assert client.add_partitions(tid, pid, epoch, topic) == {(topic, 0): ErrorCode.PRODUCER_FENCED}
    assert client.add_partitions(tid, pid, epoch, topic, version=1) == {(topic, 0): ErrorCode.INVALID_PRODUCER_EPOCH}
    assert client.end(tid, pid, epoch, True) == ErrorCode.PRODUCER_FENCED
    assert client.end(tid, pid, epoch, True, version=1) == ErrorCode.INVALID_PRODUCER_EPOCH
    assert client.produce_txn(tid, topic, pid, epoch, 1, [b"late"]).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    pd = client.fetch(topic, committed=True)
    assert [(t.producer_id, t.first_offset) for t in pd.aborted_transactions] == [(pid, 0)]
    assert [v for _, v, control in values_of(pd) if not control] == [b"zombie"]  # returned, marked aborted


def test_requests_out_of_turn(client, topic, tid):
    client.find_coordinator(tid)
    r = client.init(tid)
    pid, epoch = r.producer_id, r.producer_epoch
    assert client.end(tid, pid, epoch, True) == ErrorCode.INVALID_TXN_STATE  # nothing to end
    assert client.end(tid, pid + 1, epoch, True) == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    assert client.end("never-initialised", pid, epoch, True) in (ErrorCode.INVALID_PRODUCER_ID_MAPPING,
                                                                 ErrorCode.NOT_COORDINATOR)
    # An unknown partition fails the request before the coordinator is asked.
    assert client.add_partitions(tid, pid, epoch, topic, partitions=(0, 7)) == {
        (topic, 0): ErrorCode.OPERATION_NOT_ATTEMPTED, (topic, 7): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    assert client.describe(tid).transaction_state == "Empty"
    assert client.add_partitions(tid, pid, epoch, topic) == {(topic, 0): ErrorCode.NONE}
    assert client.end(tid, pid, epoch, True) == ErrorCode.NONE
    # A retried EndTxn is answered as the first was; the opposite outcome is refused.
    wait_for_state(client, tid, "CompleteCommit")
    assert client.end(tid, pid, epoch, True) == ErrorCode.NONE
    assert client.end(tid, pid, epoch, False) == ErrorCode.INVALID_TXN_STATE


def test_describe_and_list_transactions(client, topic, tid):
    pid, epoch = begin(client, tid, topic)
    d = client.describe(tid)
    assert (d.error_code, d.transaction_state, d.producer_id, d.producer_epoch, d.transaction_timeout_ms) == (
        ErrorCode.NONE, "Ongoing", pid, epoch, 60_000)
    assert [(t.topic, t.partitions) for t in d.topics] == [(topic, [0])]
    assert d.transaction_start_time_ms > 0
    unknown = client.describe("nobody-" + tid)
    assert unknown.error_code in (ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, ErrorCode.NOT_COORDINATOR)

    def listed(version=2, **kw):
        r = client.request(ListTransactionsRequest(**kw), version)
        assert r.error_code == ErrorCode.NONE
        return r, {(t.transactional_id, t.producer_id, t.transaction_state) for t in r.transaction_states}

    _, everything = listed()
    assert (tid, pid, "Ongoing") in everything
    _, ongoing = listed(state_filters=["Ongoing"], producer_id_filters=[pid])
    assert ongoing == {(tid, pid, "Ongoing")}
    r, none = listed(state_filters=["Bogus"])
    assert (none, r.unknown_state_filters) == (set(), ["Bogus"])
    assert listed(state_filters=["CompleteCommit"], producer_id_filters=[pid])[1] == set()
    assert listed(version=2, transactional_id_pattern=f"{tid[:6]}.*", producer_id_filters=[pid])[1] == ongoing
    assert listed(version=2, transactional_id_pattern="nomatch.*")[1] == set()
    assert listed(version=1, duration_filter=3_600_000, producer_id_filters=[pid])[1] == set()
    assert client.request(ListTransactionsRequest(transactional_id_pattern="("), 2).error_code == \
        ErrorCode.INVALID_REGULAR_EXPRESSION


def test_describe_producers(client, topic, tid):
    pid, epoch = begin(client, tid, topic)
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"x", b"y"]).base_offset == 0
    r = client.request(DescribeProducersRequest(topics=[
        DescribeProducersRequest.TopicRequest(name=topic, partition_indexes=[0, 9])]), 0)
    p0, p9 = r.topics[0].partitions
    assert p9.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert p0.error_code == ErrorCode.NONE
    (state,) = [s for s in p0.active_producers if s.producer_id == pid]
    assert (state.producer_epoch, state.last_sequence, state.current_txn_start_offset) == (epoch, 1, 0)
    client.end_until_done(tid, pid, epoch, commit=True)
    r = client.request(DescribeProducersRequest(topics=[
        DescribeProducersRequest.TopicRequest(name=topic, partition_indexes=[0])]), 0)
    (state,) = [s for s in r.topics[0].partitions[0].active_producers if s.producer_id == pid]
    assert state.current_txn_start_offset == -1


def test_add_offsets_to_txn_and_verification(client, topic, tid):
    pid, epoch = begin(client, tid, topic)
    assert client.request(AddOffsetsToTxnRequest(transactional_id=tid, producer_id=pid, producer_epoch=epoch,
                                                 group_id="g-" + tid), 3).error_code == ErrorCode.NONE
    d = client.describe(tid)
    assert {t.topic for t in d.topics} == {topic, "__consumer_offsets"}
    # KIP-890 part 1: brokers ask whether a partition is in the transaction (v4+).
    r = client.request(AddPartitionsToTxnRequest(transactions=[
        AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction(
            transactional_id=tid, producer_id=pid, producer_epoch=epoch, verify_only=True, topics=[
                AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=topic, partitions=[0, 1])])]), 5)
    (result,) = r.results_by_transaction
    codes = {p.partition_index: p.partition_error_code for t in result.topic_results for p in t.results_by_partition}
    assert codes == {0: ErrorCode.NONE, 1: ErrorCode.TRANSACTION_ABORTABLE}
    assert {t.topic for t in client.describe(tid).topics} == {topic, "__consumer_offsets"}  # unchanged
    client.end_until_done(tid, pid, epoch, commit=False)


def test_write_txn_markers_from_another_coordinator(client, topic, tid):
    """WriteTxnMarkers v1 as another broker's coordinator sends it."""
    pid, epoch = begin(client, tid, topic, timeout_ms=900_000)
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"t"]).error_code == ErrorCode.NONE
    assert client.fetch(topic, committed=True).last_stable_offset == 0

    def markers(coordinator_epoch: int) -> int:
        r = client.request(WriteTxnMarkersRequest(markers=[WriteTxnMarkersRequest.WritableTxnMarker(
            producer_id=pid, producer_epoch=epoch, transaction_result=True, coordinator_epoch=coordinator_epoch,
            topics=[WriteTxnMarkersRequest.WritableTxnMarkerTopic(name=topic, partition_indexes=[0])])]), 1)
        return r.markers[0].topics[0].partitions[0].error_code

    assert markers(1000) == ErrorCode.NONE
    pd = client.fetch(topic, committed=True)
    assert pd.last_stable_offset == 2 and values_of(pd)[0][1] == b"t"
    assert markers(999) == ErrorCode.TRANSACTION_COORDINATOR_FENCED  # an older coordinator


def test_transactional_batches_are_verified_with_the_coordinator(broker, client, tid):
    """KIP-890 part 1: a partition leader appends the first transactional batch of a
    producer only if the coordinator has the partition in its open transaction."""
    topic = f"two-{tid}"
    client.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=topic, num_partitions=2, replication_factor=1)], timeout_ms=10_000), 5)
    wait_for_topic(client, topic)
    pid, epoch = begin(client, tid, topic)  # partition 0 only
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"ok"]).error_code == ErrorCode.NONE
    stray = client.produce_txn(tid, topic, pid, epoch, 0, [b"stray"], partition=1)
    assert stray.error_code == ErrorCode.INVALID_TXN_STATE
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"stray"], partition=1, version=11).error_code == \
        ErrorCode.TRANSACTION_ABORTABLE  # v12+ adds the partition instead (test_transactions_v2.py)
    assert client.produce_txn(None, topic, pid, epoch, 1, [b"anonymous"]).error_code == \
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    client.end_until_done(tid, pid, epoch, commit=True)
    # A late batch of the ended transaction cannot open a new one nobody would end.
    assert client.produce_txn(tid, topic, pid, epoch, 1, [b"late"]).error_code == ErrorCode.INVALID_TXN_STATE
    assert client.fetch(topic, committed=False, partition=1).high_watermark == 0
    pd = client.fetch(topic, committed=True)
    assert [v for _, v, control in values_of(pd) if not control] == [b"ok"]
    assert pd.last_stable_offset == pd.high_watermark


def test_requests_wait_while_markers_are_written(broker, client, topic, tid):
    """Until every partition has its marker, the transaction stays PrepareCommit and
    its producer's requests get CONCURRENT_TRANSACTIONS (the partition's disk fails,
    so its marker is retried until the disk is back)."""
    pid, epoch = begin(client, tid, topic)
    assert client.produce_txn(tid, topic, pid, epoch, 0, [b"held"]).error_code == ErrorCode.NONE
    log = broker.call(lambda: broker.core.replicas.get(topic, 0).log)

    def set_offline(offline: bool) -> None:
        log.offline = offline

    broker.call(set_offline, True)
    try:
        assert client.end(tid, pid, epoch, True) == ErrorCode.NONE  # PrepareCommit is logged
        assert client.describe(tid).transaction_state == "PrepareCommit"
        assert client.end(tid, pid, epoch, True) == ErrorCode.CONCURRENT_TRANSACTIONS
        assert client.add_partitions(tid, pid, epoch, topic) == {(topic, 0): ErrorCode.CONCURRENT_TRANSACTIONS}
        assert client.init(tid).error_code == ErrorCode.CONCURRENT_TRANSACTIONS
        # An offline log answers reads with KAFKA_STORAGE_ERROR, as Kafka's offline dir does.
        assert client.fetch(topic, committed=True).error_code == ErrorCode.KAFKA_STORAGE_ERROR
    finally:
        broker.call(set_offline, False)
    wait_for_state(client, tid, "CompleteCommit")
    pd = client.fetch(topic, committed=True)
    assert [v for _, v, control in values_of(pd) if not control] == [b"held"]
    assert pd.last_stable_offset == pd.high_watermark == 2


def test_idle_transactional_ids_expire():
    with Broker({"transactional.id.expiration.ms": "200",
                 "transaction.remove.expired.transaction.cleanup.interval.ms": "50"}) as b, \
            TxnClient(b.bootstrap_servers) as client:
        client.find_coordinator("short-lived")
        first = client.init("short-lived")
        assert first.error_code == ErrorCode.NONE
        deadline = time.monotonic() + 15
        while client.describe("short-lived").error_code == ErrorCode.NONE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.describe("short-lived").error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
        # Expired means forgotten: the id starts again with a new producer id.
        again = client.init("short-lived")
        assert (again.producer_epoch, again.producer_id != first.producer_id) == (0, True)
