"""Quix Streams against the plugin's broker: an Application with a stateful operation.

The app (tests/frameworks/quix_running_sum.py) keeps a running sum per account in its
State and writes each payment with the account's total to an output topic. It runs
twice, as its own process from the Quix venv (quixstreams pins confluent-kafka < 2.13;
see tests/frameworks/install_quixstreams.sh); its local state directory is deleted
between the runs, so the second run's totals can only continue from the first's if
Quix recovered the State from its changelog topic on the broker.

With ``processing_guarantee="exactly-once"`` Quix uses a transactional producer and
commits the consumer's offsets inside the transaction (KIP-98, KIP-447), so the
transaction coordinator is exercised too. The same scenario runs on Apache Kafka
where it is installed (compat_tests/install.sh); results are read with a consumer,
so both runs check the same way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Broker
from tests.reference import needs_reference

_REPO = Path(__file__).resolve().parents[2]
_QUIX_PYTHON = _REPO / "compat_tests" / ".deps" / "quixstreams-venv" / "bin" / "python"
_APP = Path(__file__).with_name("quix_running_sum.py")
#: Bound on one run of the app (start-up, rebalance, recovery and processing).
_RUN_S = 120

pytestmark = pytest.mark.skipif(
    not _QUIX_PYTHON.exists(), reason="needs the Quix Streams venv: bash tests/frameworks/install_quixstreams.sh")


#: librdkafka refusing Quix's seek of a changelog partition it has just assigned, before
#: the partition is fetchable: a race inside the client (the app stops before it
#: commits anything, so the run can be repeated); the app is then run once more.
_SEEK_RACE = "Failed to seek to offset -2: Local: Erroneous state"


def _run_app(bootstrap: str, group: str, source: str, sink: str, state_dir: Path, guarantee: str,
             count: int, log: Path) -> None:
    for attempt in range(2):
        start = log.stat().st_size if log.exists() else 0
        with log.open("ab") as out:
            done = subprocess.run([str(_QUIX_PYTHON), str(_APP), bootstrap, group, source, sink,
                                   str(state_dir), guarantee, str(count)],
                                  stdout=out, stderr=subprocess.STDOUT, timeout=_RUN_S, cwd=str(log.parent))
        output = log.read_bytes()[start:].decode(errors="replace")
        if done.returncode == 0 or _SEEK_RACE not in output or attempt:
            break
    assert done.returncode == 0, f"the Quix app exited {done.returncode}:\n{output[-4000:]}"


def _produce(bootstrap: str, topic: str, payments: list[tuple[str, int]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for account, amount in payments:
        producer.produce(topic, key=account.encode(), value=json.dumps({"account": account, "amount": amount}))
    assert producer.flush(30) == 0


def _totals(bootstrap: str, topic: str, partitions: int) -> list[tuple[str, int, int]]:
    """(account, amount, total) in each account's order (a key stays on one partition),
    read with ``isolation.level=read_committed``: rows of aborted transactions would not
    count, and the read ends at each partition's last stable offset."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-reader", "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        rows: list[tuple[str, int, int]] = []
        at_end: set[int] = set()
        deadline = time.monotonic() + 30
        while len(at_end) < partitions:
            assert time.monotonic() < deadline, f"{topic}: no end of partitions {set(range(partitions)) - at_end}"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                at_end.add(msg.partition())
                continue
            value = json.loads(msg.value())
            rows.append((msg.key().decode(), value["amount"], value["total"]))
        return rows
    finally:
        consumer.close()


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """The group's committed offsets on ``topic``, added up."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in offsets)
    finally:
        consumer.close()


def _topic_partitions(bootstrap: str) -> dict[str, int]:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return {name: len(t.partitions) for name, t in metadata.topics.items()}


#: Payments of the first and second run, and the rows (account, amount, total) each must add.
_FIRST = [("alice", 10), ("bob", 5), ("alice", 7), ("carol", 1), ("bob", 20), ("alice", 3)]
_FIRST_ROWS = [("alice", 10, 10), ("bob", 5, 5), ("alice", 7, 17), ("carol", 1, 1), ("bob", 20, 25), ("alice", 3, 20)]
_SECOND = [("bob", 1), ("alice", 100), ("dave", 4)]
_SECOND_ROWS = [("bob", 1, 26), ("alice", 100, 120), ("dave", 4, 4)]
_GUARANTEES = ["at-least-once", "exactly-once"]


def _running_sum_twice(bootstrap: str, tmp_path: Path, guarantee: str) -> None:
    source, sink, group = f"payments-{guarantee}", f"totals-{guarantee}", f"ledger-{guarantee}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(source, 2, 1), NewTopic(sink, 2, 1)]).values():
        future.result(30)
    state_dir, log = tmp_path / "state", tmp_path / "app.log"

    _produce(bootstrap, source, _FIRST)
    _run_app(bootstrap, group, source, sink, state_dir, guarantee, len(_FIRST), log)
    rows = _totals(bootstrap, sink, 2)
    assert Counter(rows) == Counter(_FIRST_ROWS)
    for account in ("alice", "bob"):  # per key, in the order produced
        assert [t for a, _, t in rows if a == account] == [t for a, _, t in _FIRST_ROWS if a == account]
    topics = _topic_partitions(bootstrap)
    changelogs = [t for t in topics if t.startswith("changelog__") and group in t]
    assert changelogs, f"no changelog topic for {group} among {sorted(topics)}"
    assert topics[changelogs[0]] == 2  # one changelog partition per source partition
    assert _committed(bootstrap, group, source, 2) == len(_FIRST)

    # the local state is lost: the second run rebuilds it from the changelog topic
    shutil.rmtree(state_dir)
    _produce(bootstrap, source, _SECOND)
    _run_app(bootstrap, group, source, sink, state_dir, guarantee, len(_SECOND), log)
    # nothing reprocessed, and the totals go on from the first run's
    assert Counter(_totals(bootstrap, sink, 2)) == Counter(_FIRST_ROWS) + Counter(_SECOND_ROWS)
    assert _committed(bootstrap, group, source, 2) == len(_FIRST) + len(_SECOND)


@pytest.mark.parametrize("guarantee", _GUARANTEES)
def test_quixstreams_running_sum_with_state_recovered_from_changelog(
        kafka_broker: Broker, tmp_path: Path, guarantee: str) -> None:
    _running_sum_twice(kafka_broker.bootstrap_servers, tmp_path, guarantee)


@pytest.fixture(scope="module")
def apache_kafka() -> Iterator[str]:
    from compat_tests.brokers import start_reference

    with start_reference() as reference:
        yield f"127.0.0.1:{reference.port}"


@needs_reference
@pytest.mark.parametrize("guarantee", _GUARANTEES)
def test_quixstreams_running_sum_on_apache_kafka(apache_kafka: str, tmp_path: Path, guarantee: str) -> None:
    _running_sum_twice(apache_kafka, tmp_path, guarantee)
