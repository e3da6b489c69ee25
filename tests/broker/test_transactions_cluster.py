"""Transactions whose partitions are led by different brokers of a 3-node cluster.

The transaction coordinator (the leader of the transactional id's ``__transaction_state``
partition) writes the markers of partitions it does not lead with WriteTxnMarkers to
their leaders, and a leader that is not the coordinator asks it with AddPartitionsToTxn
(KIP-890) before it appends a producer's first transactional batch. Checked with a
stock transactional producer and read_committed consumer, and request by request
where the exact errors matter.
"""

from __future__ import annotations

import shutil
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Cluster
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.init_producer_id import InitProducerIdRequest
from tests.broker.test_transactions import read_all
from tests.broker.test_transactions_java import JAR
from tests.broker.test_transactions_java import run as run_java
from tests.broker.test_transactions_protocol import TxnClient, values_of, wait_for_state
from tests.clustering import FAST_FAILOVER, until

TXN_STATE = "__transaction_state"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with Cluster(3, FAST_FAILOVER, data_dir=str(tmp_path_factory.mktemp("txn-cluster")), timeout_s=60) as c:
        yield c


def _coordinator(cluster: Cluster, transactional_id: str) -> int:
    """The node coordinating ``transactional_id`` (one ``__transaction_state`` partition
    in tests), once FindCoordinator has had the topic created."""
    with TxnClient(cluster.nodes[1].bootstrap_servers) as client:
        client.find_coordinator(transactional_id)
    leader = until(lambda: max(cluster.leader_of(TXN_STATE), 0))
    assert leader in cluster.nodes, "no transaction coordinator"
    return leader


def _spread(cluster: Cluster, topic: str, leaders: list[int], replication_factor: int) -> None:
    """A topic whose partition p is led by ``leaders[p]`` (a manual replica assignment)."""
    others = sorted(cluster.nodes)
    assignment = [[leader, *[n for n in others if n != leader][:replication_factor - 1]] for leader in leaders]
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    admin.create_topics([NewTopic(topic, len(assignment), replica_assignment=assignment)])[topic].result(30)
    for p, leader in enumerate(leaders):
        assert until(lambda p=p, leader=leader: (s := cluster.partition_state(topic, p)).leader == leader
                      and len(s.isr) == replication_factor), f"{topic}-{p} never led by {leader} with a full ISR"


def _stable(cluster: Cluster, topic: str, partition: int) -> tuple[int, int]:
    """(last stable offset, high watermark) of a partition, from its leader."""
    leader = cluster.leader_of(topic, partition)
    with TxnClient(cluster.nodes[leader].bootstrap_servers) as client:
        pd = client.fetch(topic, committed=True, partition=partition)
    return pd.last_stable_offset, pd.high_watermark


def _assert_committed(cluster: Cluster, node: int, topic: str, values: list[bytes]) -> None:
    """Partition 0 of ``topic``, read committed from ``node``, holds ``values`` then the
    commit marker, and is stable to its end."""
    with TxnClient(cluster.nodes[node].bootstrap_servers) as client:
        pd = client.fetch(topic, committed=True)
    assert [v for _, v, control in values_of(pd) if not control] == values
    assert pd.last_stable_offset == pd.high_watermark == len(values) + 1


def test_a_transaction_over_three_leaders_commits_and_the_next_aborts(cluster):
    """A confluent-kafka transactional producer writes to partitions led by each of the
    three nodes: the coordinator writes one marker in process and sends the two others;
    a read_committed consumer reads exactly the committed records, and every partition's
    last stable offset reaches its high watermark (no transaction left hanging)."""
    tid = f"spread-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "transactional.id": tid,
                         "linger.ms": 1})
    producer.init_transactions(30)
    coordinator = _coordinator(cluster, tid)
    topic = "spread"
    _spread(cluster, topic, [1, 2, 3], replication_factor=3)  # the coordinator leads one of three

    def transaction(prefix: bytes, commit: bool) -> list[bytes]:
        values = [b"%s-%d-%d" % (prefix, p, i) for p in range(3) for i in range(5)]
        producer.begin_transaction()
        for v in values:
            producer.produce(topic, v, partition=int(v.split(b"-")[1]))
        if commit:
            producer.commit_transaction(30)
        else:
            assert producer.flush(30) == 0  # in the logs, then aborted
            producer.abort_transaction(30)
        return values

    committed = transaction(b"first", True)
    aborted = transaction(b"aborted", False)
    committed += transaction(b"third", True)

    assert until(lambda: all(lso == hw for lso, hw in (_stable(cluster, topic, p) for p in range(3)))), \
        [_stable(cluster, topic, p) for p in range(3)]
    # 5 + 5 + 5 records and three markers per partition
    assert [_stable(cluster, topic, p)[1] for p in range(3)] == [18, 18, 18]
    got = read_all(cluster.bootstrap_servers, topic, committed=True, partitions=3)
    assert sorted(got) == sorted(committed)
    assert not set(got) & set(aborted)
    uncommitted = read_all(cluster.bootstrap_servers, topic, committed=False, partitions=3)
    assert sorted(uncommitted) == sorted(committed + aborted)
    with TxnClient(cluster.nodes[coordinator].bootstrap_servers) as client:
        assert client.describe(tid).transaction_state == "CompleteCommit"


def test_a_leader_refuses_a_batch_its_remote_coordinator_did_not_add(cluster):
    """KIP-890 part 1 over the network: the leader of a partition asks the coordinator on
    another node; a partition outside the producer's transaction is refused
    (INVALID_TXN_STATE, TRANSACTION_ABORTABLE from Produce v11), one added is taken, and
    a late batch after the commit cannot open a transaction nobody would end."""
    tid = f"verify-{uuid.uuid4().hex[:8]}"
    coordinator = _coordinator(cluster, tid)
    elsewhere = [n for n in sorted(cluster.nodes) if n != coordinator]
    topic = f"verified-{tid}"
    _spread(cluster, topic, [coordinator, *elsewhere], replication_factor=1)
    remote = 1  # partition 1 is led by a node that does not coordinate tid
    with TxnClient(cluster.nodes[coordinator].bootstrap_servers) as at_coordinator, \
            TxnClient(cluster.nodes[elsewhere[0]].bootstrap_servers) as at_leader:
        r = at_coordinator.init(tid)
        assert r.error_code == ErrorCode.NONE
        pid, epoch = r.producer_id, r.producer_epoch
        assert at_coordinator.add_partitions(tid, pid, epoch, topic, [0]) == {(topic, 0): ErrorCode.NONE}

        stray = at_leader.produce_txn(tid, topic, pid, epoch, 0, [b"stray"], partition=remote)
        assert stray.error_code == ErrorCode.INVALID_TXN_STATE
        assert at_leader.produce_txn(tid, topic, pid, epoch, 0, [b"stray"], partition=remote,
                                     version=11).error_code == ErrorCode.TRANSACTION_ABORTABLE
        assert at_leader.fetch(topic, committed=False, partition=remote).high_watermark == 0
        # Another epoch of the producer is fenced by the coordinator.
        assert at_leader.produce_txn(tid, topic, pid, epoch + 1, 0, [b"fenced"], partition=remote).error_code \
            == ErrorCode.INVALID_PRODUCER_EPOCH

        assert at_coordinator.add_partitions(tid, pid, epoch, topic, [remote]) == {(topic, remote): ErrorCode.NONE}
        assert at_leader.produce_txn(tid, topic, pid, epoch, 0, [b"added"], partition=remote).error_code \
            == ErrorCode.NONE
        at_coordinator.end_until_done(tid, pid, epoch, commit=True)

        # The markers reached the remote leader: committed, and the partition is stable.
        pd = at_leader.fetch(topic, committed=True, partition=remote)
        assert [v for _, v, control in values_of(pd) if not control] == [b"added"]
        assert pd.last_stable_offset == pd.high_watermark == 2
        # A late batch of the ended transaction is refused by the remote verification.
        late = at_leader.produce_txn(tid, topic, pid, epoch, 1, [b"late"], partition=remote)
        assert late.error_code == ErrorCode.INVALID_TXN_STATE
        assert at_leader.fetch(topic, committed=False, partition=remote).high_watermark == 2


def test_produce_v12_adds_a_remote_partition_to_the_transaction(cluster):
    """KIP-890 part 2 over the network: a Produce v12 batch to a partition led by a node
    that does not coordinate the id adds the partition (AddPartitionsToTxn without
    ``verify_only``), and EndTxn v5's markers reach it."""
    tid = f"tv2-{uuid.uuid4().hex[:8]}"
    coordinator = _coordinator(cluster, tid)
    leader = next(n for n in sorted(cluster.nodes) if n != coordinator)
    topic = f"implicit-{tid}"
    _spread(cluster, topic, [leader], replication_factor=1)
    with TxnClient(cluster.nodes[coordinator].bootstrap_servers) as at_coordinator, \
            TxnClient(cluster.nodes[leader].bootstrap_servers) as at_leader:
        r = at_coordinator.request(InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=60_000,
                                                         producer_id=-1, producer_epoch=-1), 5)
        assert r.error_code == ErrorCode.NONE
        pid, epoch = r.producer_id, r.producer_epoch
        assert at_leader.produce_txn(tid, topic, pid, epoch, 0, [b"implicit"], version=12).error_code \
            == ErrorCode.NONE
        state = at_coordinator.describe(tid)
        assert state.transaction_state == "Ongoing"
        assert [(t.topic, list(t.partitions)) for t in state.topics] == [(topic, [0])]
        assert at_leader.fetch(topic, committed=True).last_stable_offset == 0  # open

        assert at_coordinator.end(tid, pid, epoch, True, version=5) == ErrorCode.NONE
        wait_for_state(at_coordinator, tid, "CompleteCommit")
        pd = at_leader.fetch(topic, committed=True)
        assert [v for _, v, control in values_of(pd) if not control] == [b"implicit"]
        assert pd.last_stable_offset == pd.high_watermark == 2
        # The ended transaction's epoch is fenced at the remote leader (EndTxn v5 bumped it).
        assert at_leader.produce_txn(tid, topic, pid, epoch, 1, [b"late"], version=12).error_code \
            == ErrorCode.INVALID_PRODUCER_EPOCH


def test_markers_wait_for_a_dead_leader_and_reach_it_when_it_returns(cluster):
    """A marker whose leader is down is retried until the leader is back: meanwhile the
    transaction stays PrepareCommit (the partitions that got their marker are already
    stable), then CompleteCommit once the restarted leader has its marker."""
    tid = f"wait-{uuid.uuid4().hex[:8]}"
    coordinator = _coordinator(cluster, tid)
    leader = next(n for n in sorted(cluster.nodes) if n != coordinator)
    topic = f"waiting-{tid}"
    _spread(cluster, topic, [leader, coordinator], replication_factor=1)
    with TxnClient(cluster.nodes[coordinator].bootstrap_servers) as at_coordinator:
        r = at_coordinator.init(tid)
        assert r.error_code == ErrorCode.NONE
        pid, epoch = r.producer_id, r.producer_epoch
        assert at_coordinator.add_partitions(tid, pid, epoch, topic, [0, 1]) == {
            (topic, 0): ErrorCode.NONE, (topic, 1): ErrorCode.NONE}
        with TxnClient(cluster.nodes[leader].bootstrap_servers) as at_leader:
            assert at_leader.produce_txn(tid, topic, pid, epoch, 0, [b"remote"]).error_code == ErrorCode.NONE
        assert at_coordinator.produce_txn(tid, topic, pid, epoch, 0, [b"local"], partition=1).error_code \
            == ErrorCode.NONE

        cluster.kill_node(leader)
        try:
            assert at_coordinator.end(tid, pid, epoch, True) == ErrorCode.NONE
            assert until(lambda: _stable(cluster, topic, 1) == (2, 2))  # its marker is in
            assert at_coordinator.describe(tid).transaction_state == "PrepareCommit"  # the other is not
        finally:
            cluster.restart_node(leader)
        wait_for_state(at_coordinator, tid, "CompleteCommit")
    assert until(lambda: cluster.leader_of(topic, 0) == leader)
    _assert_committed(cluster, leader, topic, [b"remote"])


def test_markers_follow_a_partition_to_its_new_leader(cluster):
    """The leader of a replicated partition dies with a transaction open in it: the
    coordinator's markers go to the replica elected in its place (the leader looked up
    again in the metadata), which then serves the committed record."""
    tid = f"move-{uuid.uuid4().hex[:8]}"
    coordinator = _coordinator(cluster, tid)
    leader, successor = [n for n in sorted(cluster.nodes) if n != coordinator]
    topic = f"moving-{tid}"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, replica_assignment=[[leader, successor, coordinator]])])[topic].result(30)
    assert until(lambda: (s := cluster.partition_state(topic)).leader == leader and len(s.isr) == 3)
    with TxnClient(cluster.nodes[coordinator].bootstrap_servers) as at_coordinator:
        r = at_coordinator.init(tid)
        assert r.error_code == ErrorCode.NONE
        pid, epoch = r.producer_id, r.producer_epoch
        assert at_coordinator.add_partitions(tid, pid, epoch, topic) == {(topic, 0): ErrorCode.NONE}
        with TxnClient(cluster.nodes[leader].bootstrap_servers) as at_leader:
            assert at_leader.produce_txn(tid, topic, pid, epoch, 0, [b"moved"]).error_code == ErrorCode.NONE

        cluster.kill_node(leader)
        try:
            assert at_coordinator.end(tid, pid, epoch, True) == ErrorCode.NONE
            wait_for_state(at_coordinator, tid, "CompleteCommit")
            assert cluster.leader_of(topic) == successor
            _assert_committed(cluster, successor, topic, [b"moved"])
        finally:
            cluster.restart_node(leader)


@pytest.mark.skipif(shutil.which("java") is None or not JAR.exists(),
                    reason="Java driver not built (bash compat_tests/install.sh)")
def test_java_consume_transform_produce_across_leaders(cluster):
    """Kafka 4.1's Java client (transaction version 2: no AddPartitionsToTxn, Produce v12,
    TxnOffsetCommit v5, EndTxn v5) copies a topic whose partitions are led by the three
    nodes into another, offsets committed in each transaction: every record is copied
    exactly once, read committed, and the group's offsets reached the end."""
    run_id = uuid.uuid4().hex[:8]
    source, sink, group, tid = f"jsrc-{run_id}", f"jsink-{run_id}", f"copier-{run_id}", f"jcopy-{run_id}"
    _coordinator(cluster, tid)
    _spread(cluster, source, [1, 2, 3], replication_factor=1)
    _spread(cluster, sink, [2, 3, 1], replication_factor=1)
    total = 3000
    p = Producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 5})
    for i in range(total):
        p.produce(source, b"%d" % i, partition=i % 3)
    assert p.flush(30) == 0

    lines = run_java("copy", cluster.bootstrap_servers, source, sink, group, tid, str(total))
    assert lines[-1] == f"finished {total}"
    got = read_all(cluster.bootstrap_servers, sink, committed=True, partitions=3)
    assert sorted(got) == sorted(b"copy-%d" % i for i in range(total))
    assert all(lso == hw for lso, hw in (_stable(cluster, sink, p) for p in range(3)))


def test_a_prepared_commit_is_completed_by_the_next_coordinator(cluster):
    """The coordinator dies with a transaction in PrepareCommit (its marker to a leader it
    cannot reach not yet written): the node elected leader of the ``__transaction_state``
    partition loads it, writes the marker and completes the transaction (Kafka's
    ``onElection``), and a read_committed fetch returns the record."""
    tid = f"failover-{uuid.uuid4().hex[:8]}"
    coordinator = _coordinator(cluster, tid)
    leader = next(n for n in sorted(cluster.nodes) if n != coordinator)
    topic = f"failover-{tid}"
    _spread(cluster, topic, [leader], replication_factor=1)
    try:
        with TxnClient(cluster.nodes[coordinator].bootstrap_servers) as at_coordinator:
            r = at_coordinator.init(tid)
            assert r.error_code == ErrorCode.NONE
            pid, epoch = r.producer_id, r.producer_epoch
            assert at_coordinator.add_partitions(tid, pid, epoch, topic, [0]) == {(topic, 0): ErrorCode.NONE}
            with TxnClient(cluster.nodes[leader].bootstrap_servers) as at_leader:
                assert at_leader.produce_txn(tid, topic, pid, epoch, 0, [b"prepared"]).error_code == ErrorCode.NONE
            cluster.isolate_node(leader, from_nodes=[coordinator])  # the marker cannot reach it
            try:
                assert at_coordinator.end(tid, pid, epoch, True) == ErrorCode.NONE
                assert at_coordinator.describe(tid).transaction_state == "PrepareCommit"
                cluster.kill_node(coordinator)
            finally:
                cluster.rejoin_node(leader, from_nodes=[coordinator])

        def state_at_new_coordinator() -> str | None:
            successor = cluster.leader_of(TXN_STATE)
            if successor not in cluster.nodes or successor == coordinator:
                return None
            with TxnClient(cluster.nodes[successor].bootstrap_servers) as client:
                return client.describe(tid).transaction_state

        assert until(lambda: state_at_new_coordinator() == "CompleteCommit", timeout_s=60), \
            state_at_new_coordinator()
        _assert_committed(cluster, leader, topic, [b"prepared"])
    finally:
        cluster.restart_node(coordinator)
