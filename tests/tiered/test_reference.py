"""The same tiered scenario on kafkapy's ``local`` tier and on Apache Kafka 4.1.2 with its
``LocalTieredStorage`` (from Kafka's ``kafka-storage`` test jar on Maven Central, loaded
through ``remote.log.storage.manager.class.path``), compared.

Batching differs between runs, so segment boundaries (and the offsets where the tiers
meet) may too; what is compared is each broker's answers' shape: ListOffsets -2 / -4 /
-5 / -1 and their order, a fetch from offset 0 (served from the remote tier), every
record read back from 0, -5 on a topic without tiering, and the remote directory's
layout (directory and file names, the fileset of a segment).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from compat_tests.brokers import start_reference
from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from tests.reference import needs_reference
from tests.requests import ask
from tests.tiered.clients import (
    EARLIEST,
    EARLIEST_LOCAL,
    LATEST,
    LATEST_TIERED,
    consume,
    create_topic,
    list_offset,
    produce,
)
from tests.tiered.conftest import local_tier, tiered_properties, wait_for

#: Kafka's LocalTieredStorage ships in its storage module's test jar (compat_tests/install.sh)
#: up to 4.1.2; Kafka 4.4.0's test jar no longer holds it, so this comparison stays on 4.1.2.
TIERED_REFERENCE = "4.1.2"
TEST_JAR = (Path.home() / ".m2/repository/org/apache/kafka/kafka-storage" / TIERED_REFERENCE
            / f"kafka-storage-{TIERED_REFERENCE}-test.jar")
LOCAL_TIERED_STORAGE = "org.apache.kafka.server.log.remote.storage.LocalTieredStorage"

pytestmark = [needs_reference, pytest.mark.skipif(not TEST_JAR.exists(), reason=f"{TEST_JAR} is missing "
                                                  "(compat_tests/install.sh fetches it from Maven Central)")]

COUNT = 8000
TOPIC_CONFIG = {"remote.storage.enable": "true", "segment.bytes": str(1024 * 1024),
                "local.retention.bytes": str(2 * 1024 * 1024)}
FILE = re.compile(r"^\d{20}-[A-Za-z0-9_-]{22}(\.[a-z_]+)$")


def _scenario(bootstrap: str, remote: Path) -> dict[str, object]:
    create_topic(bootstrap, "tiered", TOPIC_CONFIG)
    create_topic(bootstrap, "plain", {})
    produce(bootstrap, "tiered", COUNT, size=1000)
    produce(bootstrap, "plain", 10)

    def settled() -> tuple[int, int] | None:
        local_start = list_offset(bootstrap, "tiered", EARLIEST_LOCAL)[1]
        tiered = list_offset(bootstrap, "tiered", LATEST_TIERED)[1]
        # Every closed segment copied, and local retention applied.
        return (local_start, tiered) if local_start > 0 and tiered >= COUNT - 1100 else None

    local_start, tiered = wait_for(settled, timeout_s=90, what="tiering to settle")
    from kafkapy.wire.messages.fetch import FetchRequest as R

    fetch = ask(bootstrap, R(replica_id=-1, max_wait_ms=500, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                             topics=[R.FetchTopic(topic="tiered", partitions=[
                                 R.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])]), 12)
    pd = fetch.responses[0].partitions[0]
    directory = next((remote / "kafka-tiered-storage").iterdir())
    files = os.listdir(directory)
    values = [int(v.rstrip(b".")) for _, v in consume(bootstrap, "tiered", COUNT, timeout_s=120)]
    return {
        "earliest": list_offset(bootstrap, "tiered", EARLIEST),
        "order": 0 < local_start <= tiered + 1 < COUNT,
        "latest": list_offset(bootstrap, "tiered", LATEST)[:2],
        "fetch from 0": (ErrorCode(pd.error_code), bytes(pd.records or b"")[:8] == bytes(8), pd.log_start_offset),
        "values": values == list(range(COUNT)),
        "plain -5": list_offset(bootstrap, "plain", LATEST_TIERED),
        "plain -4": list_offset(bootstrap, "plain", EARLIEST_LOCAL),
        "directory": re.fullmatch(r"tiered-0-[A-Za-z0-9_-]{22}", directory.name) is not None,
        "names": all(FILE.match(f) for f in files),
        "fileset": sorted({FILE.match(f).group(1) for f in files if FILE.match(f)}),  # type: ignore[union-attr]
    }


def test_tiered_answers_match_kafka_local_tiered_storage(tmp_path: Path) -> None:
    with Broker(tiered_properties(tmp_path / "data", local_tier(tmp_path / "remote")), memory=False) as broker:
        ours = _scenario(broker.bootstrap_servers, tmp_path / "remote")
    kafka_remote = tmp_path / "kafka-remote"
    reference = start_reference(version=TIERED_REFERENCE, overrides={
        "remote.log.storage.system.enable": "true",
        "remote.log.storage.manager.class.name": LOCAL_TIERED_STORAGE,
        "remote.log.storage.manager.class.path": str(TEST_JAR),
        "rsm.config.dir": str(kafka_remote),
        "remote.log.metadata.manager.listener.name": "PLAINTEXT",
        "rlmm.config.remote.log.metadata.topic.replication.factor": "1",
        "rlmm.config.remote.log.metadata.topic.num.partitions": "3",
        "remote.log.manager.task.interval.ms": "200",
        "log.retention.check.interval.ms": "200",
        "file.delete.delay.ms": "0",
    })
    try:
        theirs = _scenario(f"127.0.0.1:{reference.port}", kafka_remote)
    finally:
        reference.stop()
    assert ours == theirs
    assert ours["fileset"] == [".index", ".leader_epoch_checkpoint", ".log", ".snapshot", ".timeindex"]
