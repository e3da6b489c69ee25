"""Transactions with the Java client (kafka-clients 4.1) over TCP.

The steps run in ``compat_tests/java`` (``kafkapy.compat.Transactions``), one JVM per
step, so a producer can be SIGKILLed in the middle of a transaction. What the client
must see is what Apache Kafka shows it: a read_committed consumer gets exactly the
committed records, a read_uncommitted one every record; a second producer with the
same transactional.id fences the first (ProducerFencedException); consume-transform-
produce with ``sendOffsetsToTransaction`` is exactly-once across a killed producer.

Each test runs with ``transaction.version`` 2 finalized (a new cluster's level, KIP-890
part 2: the client sends no AddPartitionsToTxn or AddOffsetsToTxn and every EndTxn
bumps its epoch) and with it downgraded to 0 (the classic protocol).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from kafkapy.testing import Broker
from tests.broker.test_transactions_features import finalized, set_transaction_version
from tests.broker.test_transactions_protocol import TxnClient, wait_for_state

JAVA_TARGET = Path(__file__).resolve().parents[2] / "compat_tests" / "java" / "target"
JAR = JAVA_TARGET / "compat-java.jar"

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="java not installed"),
    pytest.mark.skipif(not JAR.exists(), reason="Java driver not built (bash compat_tests/install.sh)"),
]


def java(*args: str) -> list[str]:
    return ["java", "-XX:TieredStopAtLevel=1", "-cp", f"{JAR}{os.pathsep}{JAVA_TARGET / 'lib'}/*",
            "kafkapy.compat.Transactions", *args]


def run(*args: str) -> list[str]:
    done = subprocess.run(java(*args), check=False, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.splitlines()


def read(bootstrap: str, topic: str, *, committed: bool, partitions: int = 1) -> list[str]:
    lines = run("read", bootstrap, topic, str(partitions), "read_committed" if committed else "read_uncommitted")
    assert lines[-1] == "END"
    return lines[:-1]


@pytest.fixture(scope="module", params=[2, 0], ids=["tv2", "tv0"])
def txn_broker(request):
    """A new cluster (``transaction.version`` 2), or one downgraded to 0 (the client then
    speaks the protocol of transaction version 1)."""
    with Broker() as b:
        set_transaction_version(b.bootstrap_servers, request.param)
        yield b


def test_java_commit_and_abort(txn_broker, topic):
    bootstrap = txn_broker.bootstrap_servers
    tid = f"tx-{topic}"
    assert run("commit-abort", bootstrap, topic, tid) == ["done"]
    with TxnClient(bootstrap) as client:
        wait_for_state(client, tid, "CompleteCommit")
        # Transaction version 2: each of the three EndTxn bumped the epoch InitProducerId
        # gave (0); below 2 the epoch stays.
        tv2 = finalized(bootstrap).get("transaction.version", 0) >= 2
        assert client.describe(tid).producer_epoch == (3 if tv2 else 0)
    committed = [f"c{i}" for i in range(10)] + ["last"]
    assert read(bootstrap, topic, committed=True) == committed
    assert read(bootstrap, topic, committed=False) == committed[:10] + [f"a{i}" for i in range(10)] + ["last"]


def test_java_zombie_is_fenced(txn_broker, topic):
    bootstrap = txn_broker.bootstrap_servers
    assert run("fence", bootstrap, topic, f"tx-{topic}") == ["fenced ProducerFencedException"]
    assert read(bootstrap, topic, committed=True) == ["live"]
    assert read(bootstrap, topic, committed=False) == ["zombie-1", "live"]


def test_java_consume_transform_produce_is_exactly_once_across_a_killed_producer(txn_broker):
    """10,000 records copied in transactions with their input offsets; the copier's JVM
    is SIGKILLed with a transaction open halfway and a new one (same transactional.id)
    finishes."""
    bootstrap = txn_broker.bootstrap_servers
    run_id = uuid.uuid4().hex[:8]
    source, sink, group, tid = f"in-{run_id}", f"out-{run_id}", f"copier-{run_id}", f"copier-{run_id}"
    txn_broker.create_topics(source, sink, partitions=3)
    total = 10_000
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(total):
        p.produce(source, b"%d" % i, partition=i % 3)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0

    copier = subprocess.Popen(java("copy", bootstrap, source, sink, group, tid, str(total), "--die-at", "5000"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert copier.stdout is not None
        for line in copier.stdout:
            if line.startswith("open"):
                break
        else:
            pytest.fail(f"the copier ended before its open transaction: {copier.stderr.read()[-4000:]}")
        with TxnClient(bootstrap) as client:
            state = client.describe(tid)
            assert state.transaction_state == "Ongoing"
            assert {t.topic for t in state.topics} >= {sink}
    finally:
        copier.send_signal(signal.SIGKILL)
        copier.communicate(timeout=30)

    lines = run("copy", bootstrap, source, sink, group, tid, str(total))
    assert lines[-1].startswith("finished")
    got = read(bootstrap, sink, committed=True, partitions=3)
    assert len(got) == total
    assert sorted(got) == sorted(f"copy-{i}" for i in range(total))
    everything = read(bootstrap, sink, committed=False, partitions=3)
    assert len(everything) > total  # the killed transaction's copies are in the log, aborted
