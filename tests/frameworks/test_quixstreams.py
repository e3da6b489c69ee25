"""Quix Streams against the plugin's broker: an Application with a stateful operation.

The app (tests/frameworks/quix_running_sum.py) keeps a running sum per account in its
State and writes each payment with the account's total to an output topic. It runs
twice, as its own process from the Quix venv (quixstreams pins confluent-kafka < 2.13;
see tests/frameworks/install_quixstreams.sh); its local state directory is deleted
between the runs, so the second run's totals can only continue from the first's if
Quix recovered the State from its changelog topic on the broker.

With ``processing_guarantee="exactly-once"`` Quix uses a transactional producer and
commits the consumer's offsets inside the transaction (KIP-98, KIP-447), so the
transaction coordinator is exercised too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer

from kafkapy.testing import Broker

_REPO = Path(__file__).resolve().parents[2]
_QUIX_PYTHON = _REPO / "compat_tests" / ".deps" / "quixstreams-venv" / "bin" / "python"
_APP = Path(__file__).with_name("quix_running_sum.py")
#: Bound on one run of the app (start-up, rebalance, recovery and processing).
_RUN_S = 120

pytestmark = pytest.mark.skipif(
    not _QUIX_PYTHON.exists(), reason="needs the Quix Streams venv: bash tests/frameworks/install_quixstreams.sh")


def _run_app(broker: Broker, group: str, source: str, sink: str, state_dir: Path, guarantee: str,
             count: int, log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run([str(_QUIX_PYTHON), str(_APP), broker.bootstrap_servers, group, source, sink,
                               str(state_dir), guarantee, str(count)],
                              stdout=out, stderr=subprocess.STDOUT, timeout=_RUN_S, cwd=str(log.parent))
    assert done.returncode == 0, f"the Quix app exited {done.returncode}:\n{log.read_text()[-4000:]}"


def _produce(bootstrap: str, topic: str, payments: list[tuple[str, int]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for account, amount in payments:
        producer.produce(topic, key=account.encode(), value=json.dumps({"account": account, "amount": amount}))
    assert producer.flush(30) == 0


def _totals(broker: Broker, topic: str) -> list[tuple[str, int, int]]:
    """(account, amount, total) in each account's order (a key stays on one partition);
    read_committed, so rows of aborted transactions would not count."""
    return [(r.key.decode(), json.loads(r.value)["amount"], json.loads(r.value)["total"])
            for r in broker.records(topic, committed=True)]


#: Payments of the first and second run, and the rows (account, amount, total) each must add.
_FIRST = [("alice", 10), ("bob", 5), ("alice", 7), ("carol", 1), ("bob", 20), ("alice", 3)]
_FIRST_ROWS = [("alice", 10, 10), ("bob", 5, 5), ("alice", 7, 17), ("carol", 1, 1), ("bob", 20, 25), ("alice", 3, 20)]
_SECOND = [("bob", 1), ("alice", 100), ("dave", 4)]
_SECOND_ROWS = [("bob", 1, 26), ("alice", 100, 120), ("dave", 4, 4)]


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_quixstreams_running_sum_with_state_recovered_from_changelog(
        kafka_broker: Broker, tmp_path: Path, guarantee: str) -> None:
    source, sink, group = f"payments-{guarantee}", f"totals-{guarantee}", f"ledger-{guarantee}"
    kafka_broker.create_topics(source, sink, partitions=2)
    state_dir, log = tmp_path / "state", tmp_path / "app.log"

    _produce(kafka_broker.bootstrap_servers, source, _FIRST)
    _run_app(kafka_broker, group, source, sink, state_dir, guarantee, len(_FIRST), log)
    rows = _totals(kafka_broker, sink)
    assert Counter(rows) == Counter(_FIRST_ROWS)
    for account in ("alice", "bob"):  # per key, in the order produced
        assert [t for a, _, t in rows if a == account] == [t for a, _, t in _FIRST_ROWS if a == account]
    changelogs = [t for t in kafka_broker.topics() if t.startswith("changelog__") and group in t]
    assert changelogs, f"no changelog topic for {group} among {sorted(kafka_broker.topics())}"
    assert kafka_broker.topics()[changelogs[0]] == 2  # one changelog partition per source partition
    assert sum(kafka_broker.committed_offsets(group).get((source, p), 0) for p in range(2)) == len(_FIRST)

    # the local state is lost: the second run rebuilds it from the changelog topic
    shutil.rmtree(state_dir)
    _produce(kafka_broker.bootstrap_servers, source, _SECOND)
    _run_app(kafka_broker, group, source, sink, state_dir, guarantee, len(_SECOND), log)
    rows = _totals(kafka_broker, sink)
    # nothing reprocessed, and the totals go on from the first run's
    assert Counter(rows) == Counter(_FIRST_ROWS) + Counter(_SECOND_ROWS)
    assert sum(kafka_broker.committed_offsets(group).get((source, p), 0) for p in range(2)) == \
        len(_FIRST) + len(_SECOND)
