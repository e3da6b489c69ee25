"""A kafkapy data directory read by Apache Kafka's own ``kafka-dump-log`` (DumpLogSegments).

A broker writing to disk takes records from confluent-kafka in every codec, a
committed and an aborted transaction, and a consumer group's commit; then it stops
and the reference Kafka's tool reads what it left: the partition's ``.log`` with deep
iteration (every record's offset, key and value; every batch valid; the transaction
markers), the ``.index`` and ``.timeindex`` checked against the log, the producer
``.snapshot`` and the aborted-transaction ``.txnindex``, ``__consumer_offsets``
through the offsets decoder, ``__transaction_state`` through the transaction log
decoder, and ``__cluster_metadata`` (log and snapshot) through the metadata decoder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from kafkapy.testing import Broker
from tests.broker.test_groups import unique
from tests.reference import kafka_tool, needs_reference

pytestmark = needs_reference

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_CODEC = 60
VALUE = b"v" * 150  # large enough for several sparse index entries (index.interval.bytes 4096)


def dump(files: list[Path], *options: str) -> str:
    """Kafka's DumpLogSegments on ``files``: its output."""
    return kafka_tool("DumpLogSegments", "--files", ",".join(map(str, files)), *options)


def files(directory: Path, suffix: str) -> list[Path]:
    found = sorted(directory.glob(f"*{suffix}"))
    assert found, f"no {suffix} file in {directory}"
    return found


class Written:
    """What the broker was given, and where it keeps it."""

    def __init__(self, data_dir: Path, topic: str, group: str, txn_id: str) -> None:
        self.data_dir = data_dir
        self.topic = topic
        self.group = group
        self.txn_id = txn_id

    def partition_dir(self, name: str) -> Path:
        return self.data_dir / name

    def internal_dirs(self, topic: str) -> list[Path]:
        return sorted(p for p in self.data_dir.glob(f"{topic}-*") if any(p.glob("*.log")))


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Iterator[Written]:
    data_dir = tmp_path_factory.mktemp("data")
    topic, group, txn_id = unique("dumped"), unique("dump-group"), unique("dump-txn")
    config = {"log.dirs": str(data_dir), "group.initial.rebalance.delay.ms": "0",
              "metadata.log.max.record.bytes.between.snapshots": "512"}  # a metadata snapshot too
    with Broker(config, memory=False) as broker:
        bootstrap = broker.bootstrap_servers
        broker.create_topics(topic, partitions=1)
        for codec in CODECS:
            producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 5})
            for i in range(PER_CODEC):
                producer.produce(topic, key=f"{codec}-{i}".encode(), value=VALUE, headers=[("codec", codec.encode())])
            assert producer.flush(30) == 0
        txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id})
        txn.init_transactions(30)
        for outcome in ("commit", "abort"):
            txn.begin_transaction()
            for i in range(5):
                txn.produce(topic, key=f"txn-{outcome}-{i}".encode(), value=outcome.encode())
            assert txn.flush(30) == 0  # an abort would drop what is still queued
            if outcome == "commit":
                txn.commit_transaction(30)
            else:
                txn.abort_transaction(30)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                             "enable.auto.commit": False, "isolation.level": "read_committed"})
        try:
            consumer.subscribe([topic])
            read = 0
            for _ in range(400):
                m = consumer.poll(0.1)
                read += m is not None and m.error() is None
                if read == len(CODECS) * PER_CODEC + 5:
                    break
            assert read == len(CODECS) * PER_CODEC + 5
            consumer.commit(asynchronous=False)
        finally:
            consumer.close()
    yield Written(data_dir, topic, group, txn_id)


RECORD = re.compile(r"\| offset: (\d+) .*?keySize: (-?\d+) .*?key: (\S*) payload: (\S*)")


def test_partition_log_records_read_back_by_kafka(written):
    out = dump(files(written.partition_dir(f"{written.topic}-0"), ".log"), "--deep-iteration", "--print-data-log")
    batches = [line for line in out.splitlines() if line.startswith("baseOffset:")]
    assert batches and all("isvalid: true" in line for line in batches), out
    codecs = {m.group(1) for line in batches if (m := re.search(r"compresscodec: (\w+)", line))}
    assert codecs == {"none", "gzip", "snappy", "lz4", "zstd"}
    records = {int(offset): (key, payload) for offset, _, key, payload in RECORD.findall(out)}
    expected_keys = [f"{codec}-{i}" for codec in CODECS for i in range(PER_CODEC)]
    expected_keys += [f"txn-{outcome}-{i}" for outcome in ("commit", "abort") for i in range(5)]
    data_records = [records[o] for o in sorted(records) if records[o][0] != ""]
    assert [key for key, _ in data_records] == expected_keys
    assert all(payload == VALUE.decode() for _, payload in data_records[: len(CODECS) * PER_CODEC])
    assert "endTxnMarker: COMMIT" in out and "endTxnMarker: ABORT" in out
    offsets = [int(o) for o in re.findall(r"^\| offset: (\d+)", out, re.MULTILINE)]
    assert offsets == list(range(len(expected_keys) + 2))  # dense from 0, the two markers included


def test_indexes_match_the_log_for_kafka(written):
    directory = written.partition_dir(f"{written.topic}-0")
    out = dump(files(directory, ".index") + files(directory, ".timeindex"), "--index-sanity-check")
    assert out.count("passed sanity check") == 2, out
    out = dump(files(directory, ".index") + files(directory, ".timeindex"))
    assert re.search(r"offset: \d+ position: \d+", out), out
    assert re.search(r"timestamp: \d+ offset: \d+", out), out
    assert "mismatch" not in out.lower() and "out of order" not in out.lower(), out


def test_producer_snapshot_and_aborted_index_read_by_kafka(written):
    directory = written.partition_dir(f"{written.topic}-0")
    aborted_first, aborted_last = len(CODECS) * PER_CODEC + 6, len(CODECS) * PER_CODEC + 11  # records, marker
    out = dump(files(directory, ".snapshot"))
    assert re.search(rf"producerId: \d+ producerEpoch: \d+ .* lastOffset: {aborted_last - 1} ", out), out
    out = dump(files(directory, ".txnindex"))
    assert re.search(rf"producerId: \d+ firstOffset: {aborted_first} lastOffset: {aborted_last} ", out), out


def test_consumer_offsets_decoded_by_kafka(written):
    logs = [f for d in written.internal_dirs("__consumer_offsets") for f in files(d, ".log")]
    out = dump(logs, "--offsets-decoder")
    commit = [line for line in out.splitlines() if written.group in line and '"offset"' in line]
    assert commit and f'"topic":"{written.topic}"' in commit[-1], out
    assert f'"offset":{len(CODECS) * PER_CODEC + 5}' in commit[-1]  # after the last committed record
    assert "Unknown" not in out and "Error" not in out, out


def test_transaction_state_decoded_by_kafka(written):
    logs = [f for d in written.internal_dirs("__transaction_state") for f in files(d, ".log")]
    out = dump(logs, "--transaction-log-decoder")
    # Kafka 4.4's decoder names the states (TransactionState); 4.1's printed their ids.
    states = re.findall(r'"transactionalId":"' + re.escape(written.txn_id) + r'".*?"transactionStatus":"(\w+)"', out)
    assert states == ["Empty", "Ongoing", "PrepareCommit", "CompleteCommit", "Ongoing", "PrepareAbort",
                      "CompleteAbort"], out


def test_cluster_metadata_decoded_by_kafka(written):
    directory = written.partition_dir("__cluster_metadata-0")
    out = dump(files(directory, ".log"), "--cluster-metadata-decoder")
    assert '"type":"TOPIC_RECORD"' in out and f'"name":"{written.topic}"' in out, out
    assert '"type":"REGISTER_BROKER_RECORD"' in out, out
    out = dump(files(directory, ".checkpoint"), "--cluster-metadata-decoder")
    assert "SnapshotHeader" in out and "SnapshotFooter" in out, out
    # A static quorum (controller.quorum.voters) stays at kraft.version 0: its snapshots
    # hold no voter records, as Kafka's do.
    assert "KRaftVoters" not in out, out
    assert '"type":"FEATURE_LEVEL_RECORD"' in out and '"type":"PARTITION_RECORD"' in out, out
