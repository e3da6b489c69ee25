"""The ``s3`` tier against a real S3-compatible server (moto's server mode, started by
the test on 127.0.0.1), and the object store failing under it.

- Segments become objects under ``rsm.config.s3.prefix``; a consumer reads everything
  from offset 0; deleting the topic deletes its objects.
- The store down: copies fail and are retried with back-off, no local segment is
  deleted; a fetch from the remote tier answers KAFKA_STORAGE_ERROR for that partition
  while another partition of the same request is served; with the store back, copying
  resumes and local retention follows.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from kafkapy.config import BrokerConfig
from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from tests.requests import ask
from tests.tiered.clients import (
    EARLIEST,
    EARLIEST_LOCAL,
    LATEST_TIERED,
    consume,
    create_topic,
    delete_topic,
    list_offset,
    produce,
)
from tests.tiered.conftest import SEGMENT_BYTES, S3Server, tiered_properties, wait_for

pytestmark = pytest.mark.usefixtures("env_free_of_aws")

COUNT = 2000
TIERED = {"remote.storage.enable": "true", "internal.segment.bytes": str(SEGMENT_BYTES),
          "local.retention.bytes": str(2 * SEGMENT_BYTES)}


def _topic_keys(server: S3Server, topic: str) -> list[str]:
    return [k for k in server.keys() if k.startswith(f"cluster-a/{topic}-0-")]


def _local_segments(data: Path, topic: str, partition: int = 0) -> int:
    return sum(1 for f in (data / f"{topic}-{partition}").iterdir() if f.name.endswith(".log"))


def test_segments_go_to_the_bucket_and_read_back(tmp_path: Path, s3_server: S3Server, topic: str) -> None:
    data = tmp_path / "data"
    with Broker(tiered_properties(data, s3_server.tier()), memory=False) as broker:
        create_topic(broker.bootstrap_servers, topic, TIERED)
        produce(broker.bootstrap_servers, topic, COUNT)
        wait_for(lambda: _local_segments(data, topic) <= 3, what="local segments to be copied and deleted")
        keys = _topic_keys(s3_server, topic)
        logs = [k for k in keys if k.endswith(".log")]
        assert len(logs) >= 6 and len(keys) == 5 * len(logs)  # each segment's fileset (no aborted txn)
        assert list_offset(broker.bootstrap_servers, topic, EARLIEST)[:2] == (ErrorCode.NONE, 0)
        records = consume(broker.bootstrap_servers, topic, COUNT)
        assert [int(v.rstrip(b".")) for _, v in records] == list(range(COUNT))
        delete_topic(broker.bootstrap_servers, topic)
        wait_for(lambda: not _topic_keys(s3_server, topic), what="the deleted topic's objects to go")


def _fetch(bootstrap: str, topic: str, offsets: dict[int, int]) -> dict[int, tuple[ErrorCode, int]]:
    """One Fetch v12 (a consumer's, read_uncommitted): partition -> (error, record bytes)."""
    from kafkapy.wire.messages.fetch import FetchRequest as R

    answer = ask(bootstrap, R(replica_id=-1, max_wait_ms=500, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                              topics=[R.FetchTopic(topic=topic, partitions=[
                                  R.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=1 << 20)
                                  for p, o in offsets.items()])]), 12)
    out = {}
    for pd in answer.responses[0].partitions:
        records = pd.records or b""
        out[pd.partition_index] = (ErrorCode(pd.error_code), len(records))
    return out


def test_the_store_down_and_back(tmp_path: Path, s3_server: S3Server, topic: str) -> None:
    data = tmp_path / "data"
    with Broker(tiered_properties(data, s3_server.tier()), memory=False) as broker:
        bootstrap = broker.bootstrap_servers
        create_topic(bootstrap, topic, TIERED, partitions=2)
        produce(bootstrap, topic, COUNT, partition=0)
        produce(bootstrap, topic, 10, partition=1)
        wait_for(lambda: _local_segments(data, topic) <= 3, what="the first records tiered")

        # Reads from the remote tier fail while the store is down; the other partition
        # of the same request is answered with its records.
        s3_server.stop()
        answer = _fetch(bootstrap, topic, {0: 0, 1: 0})
        assert answer[0] == (ErrorCode.KAFKA_STORAGE_ERROR, 0)
        assert answer[1][0] is ErrorCode.NONE and answer[1][1] > 0

        # Copies fail and are retried; no segment that is not copied is deleted locally.
        manager = broker.core.remote_logs
        errors = manager.copy_errors
        tiered_end = list_offset(bootstrap, topic, LATEST_TIERED)[1]
        produce(bootstrap, topic, COUNT, partition=0)
        wait_for(lambda: manager.copy_errors >= errors + 2, what="copies to fail and be retried")
        assert _local_segments(data, topic) > 6
        assert list_offset(bootstrap, topic, LATEST_TIERED)[1] == tiered_end
        local_start = list_offset(bootstrap, topic, EARLIEST_LOCAL)[1]
        assert local_start <= tiered_end + 1

        # The store is back (empty: moto keeps objects in memory): copying resumes from
        # where the metadata says it stopped, and local retention follows.
        s3_server.start()
        wait_for(lambda: _local_segments(data, topic) <= 3, timeout_s=60, what="copying to resume")
        assert list_offset(bootstrap, topic, EARLIEST_LOCAL)[1] > local_start
        tail = consume(bootstrap, topic, 100, offset=local_start)
        assert [o for o, _ in tail] == list(range(local_start, local_start + 100))


def test_a_hung_store_times_out_remote_reads_only(tmp_path: Path, s3_server: S3Server, topic: str) -> None:
    """The store stops answering (SIGSTOP: connections open, no reply): a fetch from the
    remote tier answers REQUEST_TIMED_OUT within remote.fetch.max.wait.ms, the request's
    other partition is served, and reads work again once the store answers."""
    data = tmp_path / "data"
    wait = {BrokerConfig.field_name("remote_fetch_max_wait_ms"): "300"}
    properties = tiered_properties(data, s3_server.tier(), **wait)
    with Broker(properties, memory=False) as broker:
        bootstrap = broker.bootstrap_servers
        create_topic(bootstrap, topic, TIERED, partitions=2)
        produce(bootstrap, topic, COUNT, partition=0)
        produce(bootstrap, topic, 10, partition=1)
        wait_for(lambda: _local_segments(data, topic) <= 3, what="records tiered")
        assert s3_server.process is not None
        s3_server.process.send_signal(signal.SIGSTOP)
        try:
            answer = _fetch(bootstrap, topic, {0: 0, 1: 0})
            assert answer[0] == (ErrorCode.REQUEST_TIMED_OUT, 0)
            assert answer[1][0] is ErrorCode.NONE and answer[1][1] > 0
        finally:
            s3_server.process.send_signal(signal.SIGCONT)
        answer = wait_for(lambda: (a := _fetch(bootstrap, topic, {0: 0}))[0][0] is ErrorCode.NONE and a,
                          what="remote reads to answer again")
        assert answer[0][1] > 0
