"""The ``local`` tier end to end: a broker over TCP, confluent-kafka clients, files on disk.

Produce past ``local.retention.bytes``: closed segments are copied to the tier's
directory (Kafka's LocalTieredStorage layout) and only then deleted locally; the log
start stays at 0 while the local log start moves (ListOffsets -2 / -4 / -5); a consumer
reads everything from offset 0, through the remote tier and on into the local log,
again after a restart; total retention deletes remote segments and moves the log
start; deleting the topic deletes its remote data.
"""

from __future__ import annotations

import os
from pathlib import Path

from kafkapy.broker.metrics_families import as_dict, broker_families, sample_key
from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from tests.tiered.clients import (
    EARLIEST,
    EARLIEST_LOCAL,
    LATEST,
    LATEST_TIERED,
    consume,
    create_topic,
    create_topic_error,
    delete_topic,
    list_offset,
    produce,
    timestamps,
)
from tests.tiered.conftest import SEGMENT_BYTES, local_tier, tiered_properties, wait_for

COUNT = 2000
TIERED = {"remote.storage.enable": "true", "internal.segment.bytes": str(SEGMENT_BYTES),
          "local.retention.bytes": str(2 * SEGMENT_BYTES)}


def _remote_dir(root: Path, topic: str) -> Path | None:
    base = root / "kafka-tiered-storage"
    found = [base / d for d in os.listdir(base) if d.startswith(f"{topic}-0-")] if base.exists() else []
    return found[0] if found else None


def _remote_segments(root: Path, topic: str) -> list[str]:
    directory = _remote_dir(root, topic)
    return sorted(f for f in os.listdir(directory) if f.endswith(".log")) if directory else []


def _local_segments(data: Path, topic: str) -> list[str]:
    return sorted(f for f in os.listdir(data / f"{topic}-0") if f.endswith(".log"))


def _values(records: list[tuple[int, bytes]]) -> list[int]:
    return [int(value.rstrip(b".")) for _, value in records]


def test_segments_are_tiered_read_back_from_zero_and_deleted_with_the_topic(tmp_path: Path, topic: str) -> None:
    remote, data = tmp_path / "remote", tmp_path / "data"
    broker = Broker(tiered_properties(data, local_tier(remote)), memory=False).start()
    try:
        create_topic(broker.bootstrap_servers, topic, TIERED)
        produce(broker.bootstrap_servers, topic, COUNT)
        # Everything but the local retention's worth of closed segments (and the active
        # one) leaves the broker's disk, after its copy.
        # local.retention.bytes is two segments: the active one and at most two closed.
        wait_for(lambda: len(_local_segments(data, topic)) <= 3, what="local segments to go")
        remote_logs = _remote_segments(remote, topic)
        assert len(remote_logs) >= 6
        # The remote segments, as __remote_log_metadata describes them, follow each other.
        partition = broker.core.replicas.get(topic, 0)
        copied = broker.core.remote_logs.remote_segments(partition).copied()
        assert copied[0].start_offset == 0 and len(copied) == len(remote_logs)
        assert all(a.end_offset + 1 == b.start_offset for a, b in zip(copied, copied[1:]))
        # The fileset of each remote segment, named <offset>-<segment id><suffix>.
        files = os.listdir(_remote_dir(remote, topic))
        first = remote_logs[0][: -len(".log")]
        assert first.startswith("00000000000000000000-")
        # (no .txnindex: no transaction was aborted, as LocalTieredStorage writes none then)
        assert {f[len(first):] for f in files if f.startswith(first)} == {
            ".log", ".index", ".timeindex", ".snapshot", ".leader_epoch_checkpoint"}

        earliest = list_offset(broker.bootstrap_servers, topic, EARLIEST)
        local_start = list_offset(broker.bootstrap_servers, topic, EARLIEST_LOCAL)
        tiered = list_offset(broker.bootstrap_servers, topic, LATEST_TIERED)
        latest = list_offset(broker.bootstrap_servers, topic, LATEST)
        assert earliest == (ErrorCode.NONE, 0, 0)
        assert local_start[0] is ErrorCode.NONE and int(_local_segments(data, topic)[0][:20]) == local_start[1]
        assert tiered[0] is ErrorCode.NONE and local_start[1] - 1 <= tiered[1] < COUNT and tiered[2] == 0
        assert latest[:2] == (ErrorCode.NONE, COUNT)

        records = consume(broker.bootstrap_servers, topic, COUNT)
        assert [o for o, _ in records] == list(range(COUNT))
        assert _values(records) == list(range(COUNT))
        metrics = broker.call(lambda: as_dict(broker_families(broker.core)))
        prefix = "kafka_server_brokertopicmetrics_"
        assert metrics[prefix + "remotecopybytes_total"] >= sum(s.segment_size_in_bytes for s in copied)
        assert metrics[prefix + "remotefetchbytes_total"] > 0
        assert metrics[sample_key(prefix + "remotelogsizebytes", {"topic": topic})] > 0
        # ListOffsets by timestamp searches the remote tier first (then the local log).
        stamps = timestamps(broker.bootstrap_servers, topic, COUNT)
        for target in (stamps[0], stamps[500], stamps[-1]):
            expected = next(i for i, ts in enumerate(stamps) if ts >= target)
            assert list_offset(broker.bootstrap_servers, topic, target)[:2] == (ErrorCode.NONE, expected)
        # A read from the middle of a remote segment starts at the batch holding it.
        middle = consume(broker.bootstrap_servers, topic, 10, offset=257)
        assert [o for o, _ in middle] == list(range(257, 267))

        broker.stop()
        broker.start()
        assert list_offset(broker.bootstrap_servers, topic, EARLIEST)[:2] == (ErrorCode.NONE, 0)
        again = consume(broker.bootstrap_servers, topic, COUNT)
        assert _values(again) == list(range(COUNT))

        delete_topic(broker.bootstrap_servers, topic)
        wait_for(lambda: not _remote_segments(remote, topic), what="remote segments of the deleted topic to go")
        assert _remote_dir(remote, topic) is None
    finally:
        broker.stop()


def test_total_retention_deletes_remote_segments_and_moves_the_log_start(tmp_path: Path, topic: str) -> None:
    remote, data = tmp_path / "remote", tmp_path / "data"
    with Broker(tiered_properties(data, local_tier(remote)), memory=False) as broker:
        create_topic(broker.bootstrap_servers, topic, {**TIERED, "retention.bytes": str(6 * SEGMENT_BYTES)})
        produce(broker.bootstrap_servers, topic, COUNT)

        def settled() -> tuple[int, int] | None:
            # retention.bytes counts both tiers (and the local bytes not copied yet, so
            # while the copier catches up the remote tier may be emptied entirely).
            start = list_offset(broker.bootstrap_servers, topic, EARLIEST)[1]
            local_start = list_offset(broker.bootstrap_servers, topic, EARLIEST_LOCAL)[1]
            return (start, local_start) if 0 < start < local_start else None

        start, local_start = wait_for(settled, what="both tiers within retention.bytes")
        # The log start moves first, then the segments below it are deleted.
        wait_for(lambda: [int(f[:20]) for f in _remote_segments(remote, topic)][:1] == [start],
                 what="remote segments below the log start to go")
        records = consume(broker.bootstrap_servers, topic, COUNT - start, offset=start)
        assert _values(records) == list(range(start, COUNT))


def test_tiered_topic_configs_are_checked_as_kafka_does(tmp_path: Path, topic: str) -> None:
    with Broker(tiered_properties(tmp_path / "data", local_tier(tmp_path / "remote")), memory=False) as broker:
        bootstrap = broker.bootstrap_servers
        assert "cleanup.policy=delete" in create_topic_error(
            bootstrap, topic + "a", {"remote.storage.enable": "true", "cleanup.policy": "compact"})
        assert "Value must not be more than retention.bytes property value: 1000" in create_topic_error(
            bootstrap, topic + "b", {"remote.storage.enable": "true", "retention.bytes": "1000",
                                     "local.retention.bytes": "2000"})
        assert "Value must not be -1 as retention.ms value is set as 60000" in create_topic_error(
            bootstrap, topic + "c", {"remote.storage.enable": "true", "retention.ms": "60000",
                                     "local.retention.ms": "-1"})
        assert create_topic_error(bootstrap, topic + "d", {"remote.storage.enable": "true",
                                                           "local.retention.ms": "1000"}) == ""


def test_a_broker_without_the_remote_tier_still_refuses_tiered_topics(topic: str) -> None:
    with Broker() as broker:
        assert create_topic_error(broker.bootstrap_servers, topic, {"remote.storage.enable": "true"}) == (
            "Tiered Storage functionality is disabled in the broker. "
            "Topic cannot be configured with remote log storage.")


def _alter(bootstrap: str, topic: str, configs: dict[str, str]) -> str:
    """IncrementalAlterConfigs SET; the error message, empty when it was applied."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    resource = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(30)
    except KafkaException as exc:
        return exc.args[0].str()
    return ""


def test_turning_remote_storage_off_needs_its_data_deleted(tmp_path: Path, topic: str) -> None:
    remote, data = tmp_path / "remote", tmp_path / "data"
    with Broker(tiered_properties(data, local_tier(remote)), memory=False) as broker:
        bootstrap = broker.bootstrap_servers
        create_topic(bootstrap, topic, TIERED)
        produce(bootstrap, topic, COUNT)
        wait_for(lambda: len(_local_segments(data, topic)) <= 3, what="local segments to go")
        assert "invalid to disable remote storage without deleting remote data" in _alter(
            bootstrap, topic, {"remote.storage.enable": "false"})
        off = {"remote.storage.enable": "false", "remote.log.delete.on.disable": "true"}
        assert _alter(bootstrap, topic, off) == ""
        wait_for(lambda: not _remote_segments(remote, topic), what="the remote data to be deleted")
        local_start = list_offset(bootstrap, topic, EARLIEST_LOCAL)[1]
        assert local_start > 0 and list_offset(bootstrap, topic, EARLIEST)[1] == local_start
        records = consume(bootstrap, topic, COUNT - local_start, offset=local_start)
        assert _values(records) == list(range(local_start, COUNT))
