"""A log directory that fails, as Kafka handles it (issue 13, "Full disk").

The disk is real: ``log.dirs`` is a small tmpfs mounted for the test (the tests skip
where mounting is not allowed), filled by producing until the broker answers
KAFKA_STORAGE_ERROR. The metadata log (``metadata.log.dir``) is on another filesystem
in some tests and on the full one in others (issue 13's case: only ``log.dirs`` set),
where its reserve (:mod:`kafkapy.kraft.raft.space_reserve`) gives it room. Clients are
real (kafka-python, confluent-kafka, and kafkapy's own codec for raw requests) over TCP.

Kafka's behaviour checked: the failed directory's partitions answer KAFKA_STORAGE_ERROR
to Produce, Fetch and ListOffsets (``ReplicaManager.getPartitionOrException`` on
``HostedPartition.Offline``); DescribeLogDirs lists the directory with
KAFKA_STORAGE_ERROR; nothing ends the process (the group coordinator answers its own
errors); DeleteTopics frees the space; a node starts on a full disk; on a cluster the
controller moves leadership away (KIP-858 ``OfflineLogDirs`` in BrokerHeartbeat) and
no acknowledged record is lost.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest

from kafkapy.config import TOPIC_CONFIGS, BrokerConfig
from kafkapy.kraft.raft.space_reserve import RESERVE_FILE
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.describe_log_dirs import DescribeLogDirsRequest
from kafkapy.wire.messages.fetch import FetchRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.list_offsets import ListOffsetsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.records import Record, build_batch
from tests.disks import mounted_tmpfs

LOG_DIRS = BrokerConfig.field_name("log_dirs")
METADATA_LOG_DIR = BrokerConfig.field_name("metadata_log_dir")
#: the broker default of ``file.delete.delay.ms`` (``log.segment.delete.delay.ms``)
DELETE_DELAY = next(d for d in TOPIC_CONFIGS.values() if d.field == "file_delete_delay_ms").synonyms[0].name
#: the tmpfs size: a few segments' worth
DISK_BYTES = 4 << 20
VALUE = b"x" * 20_000


@pytest.fixture
def small_disk(tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A 4 MB tmpfs for ``log.dirs``."""
    with mounted_tmpfs(str(tmp_path / "disk"), DISK_BYTES) as path:
        yield path


def disk_config(disk: str, tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {LOG_DIRS: disk, METADATA_LOG_DIR: str(tmp_path / "metadata")}


def metadata(conn: KafkaConnection, *topics: str):  # type: ignore[no-untyped-def]
    return conn.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=t) for t in topics],
                                        allow_auto_topic_creation=True), 12)


def produce(conn: KafkaConnection, topic: str, value: bytes = VALUE,  # type: ignore[no-untyped-def]
            *, partition: int = 0):
    batch = build_batch([Record(0, 0, None, value)], base_timestamp=int(time.time() * 1000))
    response = conn.request(ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=partition, records=batch)])]), 9)
    return response.responses[0].partition_responses[0]


def fetch(conn: KafkaConnection, topic: str, offset: int = 0):  # type: ignore[no-untyped-def]
    response = conn.request(FetchRequest(
        replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0, session_id=0,
        session_epoch=-1, topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
            FetchRequest.FetchPartition(partition=0, fetch_offset=offset, current_leader_epoch=-1,
                                        partition_max_bytes=1 << 20)])]), 12)
    return response.responses[0].partitions[0]


def list_offset(conn: KafkaConnection, topic: str, timestamp: int = -1):  # type: ignore[no-untyped-def]
    response = conn.request(ListOffsetsRequest(replica_id=-1, isolation_level=0, topics=[
        ListOffsetsRequest.ListOffsetsTopic(name=topic, partitions=[
            ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=timestamp)])]), 7)
    return response.topics[0].partitions[0]


def fill(conn: KafkaConnection, topic: str, limit: int = 2000) -> int:
    """Produce until the disk is full; returns the records acknowledged."""
    acknowledged = 0
    for _ in range(limit):
        answer = produce(conn, topic)
        if answer.error_code != ErrorCode.NONE:
            assert answer.error_code == ErrorCode.KAFKA_STORAGE_ERROR, ErrorCode(answer.error_code).name
            return acknowledged
        assert answer.base_offset == acknowledged
        acknowledged += 1
    raise AssertionError(f"the disk never filled after {limit} records")


def wait_for(predicate, timeout_s: float = 20.0, what: str = "the condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def new_topic() -> str:
    return f"full-{uuid.uuid4().hex[:8]}"


def fill_with_kafka_python(bootstrap_servers: str, topic: str, limit: int = 2000) -> int:
    """Produce with kafka-python (retries off) until the disk is full: the send that
    fails raises the KAFKA_STORAGE_ERROR the broker answered. Returns the records acknowledged."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaStorageError

    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, retries=0, acks="all", linger_ms=0)
    try:
        for acknowledged in range(limit):
            try:
                metadata = producer.send(topic, VALUE, partition=0).get(timeout=20)
            except KafkaStorageError:
                return acknowledged
            assert metadata.offset == acknowledged
    finally:
        producer.close(timeout=5)
    raise AssertionError(f"the disk never filled after {limit} records")


def test_full_disk_answers_storage_error_to_produce_fetch_and_list_offsets(small_disk, tmp_path):
    topic = new_topic()
    with Broker(disk_config(small_disk, tmp_path), memory=False) as broker, \
            KafkaConnection(broker.bootstrap_servers) as conn:
        metadata(conn, topic)
        acknowledged = fill_with_kafka_python(broker.bootstrap_servers, topic)
        assert acknowledged > 10
        # The partition is offline: consumers get the error, not an empty answer.
        fetched = fetch(conn, topic)
        assert fetched.error_code == ErrorCode.KAFKA_STORAGE_ERROR and not fetched.records
        assert list_offset(conn, topic).error_code == ErrorCode.KAFKA_STORAGE_ERROR
        assert produce(conn, topic, b"small").error_code == ErrorCode.KAFKA_STORAGE_ERROR
        [result] = conn.request(DescribeLogDirsRequest(topics=None), 4).results
        assert (result.error_code, result.log_dir, result.topics) == (
            ErrorCode.KAFKA_STORAGE_ERROR, os.path.abspath(small_disk), [])
        # The controller heard of it (BrokerHeartbeat OfflineLogDirs): the replica is
        # offline and, with no other, the partition has no leader (Kafka's answer).
        def offline_in_metadata():  # type: ignore[no-untyped-def]
            [partition] = metadata(conn, topic).topics[0].partitions
            return partition.offline_replicas == [broker.node_id] and partition

        partition = wait_for(offline_in_metadata, what="the replica offline in Metadata")
        assert (partition.error_code, partition.leader_id) == (ErrorCode.LEADER_NOT_AVAILABLE, -1)
        # The process lives on: the group coordinator's topic cannot be created on the
        # failed directory, and the coordinator answers errors instead of ending it.
        assert_coordinator_errors(conn, topic)
        assert metadata(conn, topic).topics[0].name == topic  # still serving


def assert_coordinator_errors(conn: KafkaConnection, topic: str, *, may_succeed: bool = False) -> None:
    """FindCoordinator creates ``__consumer_offsets`` on the failed directory; the group
    coordinator answers its own errors (Kafka's: NOT_COORDINATOR for a storage error,
    COORDINATOR_NOT_AVAILABLE while no leader), and the process goes on. After a
    restart the directory is online again and the commit may find room (``may_succeed``)."""
    found = conn.request(FindCoordinatorRequest(key_type=0, coordinator_keys=["g"]), 4).coordinators[0]
    assert found.error_code in (ErrorCode.NONE, ErrorCode.COORDINATOR_NOT_AVAILABLE), ErrorCode(found.error_code)
    committed = conn.request(OffsetCommitRequest(group_id="g", generation_id_or_member_epoch=-1, member_id="", topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name=topic, partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0, committed_offset=1)])]), 8)
    error = committed.topics[0].partitions[0].error_code
    expected = {ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE} | ({ErrorCode.NONE} if may_succeed else set())
    assert error in expected, ErrorCode(error)


def usable_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@pytest.mark.parametrize("metadata_on_the_disk", [False, True], ids=["metadata-elsewhere", "metadata-on-the-disk"])
def test_start_on_a_full_disk_then_delete_a_topic_to_free_space(small_disk, tmp_path, metadata_on_the_disk):
    """Issue 13's case is ``metadata-on-the-disk``: only ``log.dirs`` set, so the metadata
    log shares the full disk; its reserve is what lets the node start and commit the
    deletion."""
    from kafka.admin import KafkaAdminClient

    topic, later = new_topic(), new_topic()
    config = {LOG_DIRS: small_disk} if metadata_on_the_disk else disk_config(small_disk, tmp_path)
    config[DELETE_DELAY] = "0"  # a topic deleted on an online directory goes at once too
    broker = Broker(config, memory=False).start()
    try:
        with KafkaConnection(broker.bootstrap_servers) as conn:
            metadata(conn, topic)
            acknowledged = fill(conn, topic)
        if metadata_on_the_disk:
            # The metadata log gave up its reserve (the controller recorded the failed
            # directory); that space, and only it, is what the next start has.
            wait_for(lambda: not os.path.exists(os.path.join(small_disk, RESERVE_FILE)), what="the reserve released")
        else:
            fill_to_the_last_byte(small_disk)
        broker.stop()
        # Start again on the full disk (issue 13: the node exited at once).
        broker.start()
        with KafkaConnection(broker.bootstrap_servers) as conn:
            assert metadata(conn, topic).topics[0].error_code == ErrorCode.NONE
            fetched = fetch(conn, topic)
            # Either the directory came back and what was acknowledged is readable, or
            # it failed again at start and says so; never an empty answer.
            assert (fetched.error_code, fetched.high_watermark) == (ErrorCode.NONE, acknowledged) \
                and fetched.records or fetched.error_code == ErrorCode.KAFKA_STORAGE_ERROR
            assert_coordinator_errors(conn, topic, may_succeed=True)
            free_before = usable_bytes(small_disk)
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
            try:
                admin.delete_topics([topic], timeout_ms=10_000)
            finally:
                admin.close()
            wait_for(lambda: usable_bytes(small_disk) > free_before + (DISK_BYTES // 3), what="space freed")
        # Kafka brings a failed directory back with a restart; then writes work again.
        broker.stop()
        broker.start()
        with KafkaConnection(broker.bootstrap_servers) as conn:
            metadata(conn, later)
            answer = wait_for(lambda: (a := produce(conn, later, b"after")).error_code == ErrorCode.NONE and a,
                              what="a produce to a new topic")
            assert answer.base_offset == 0
            assert fetch(conn, later).records
    finally:
        broker.stop()


def test_cluster_moves_leadership_from_a_broker_whose_log_dir_failed(tmp_path):
    """Node 1 leads a replication-factor-3 partition on a small tmpfs; an idempotent
    acks=all stream fills it. The produce that hits ENOSPC gets KAFKA_STORAGE_ERROR,
    node 1 tells the controller (OfflineLogDirs), leadership moves to an in-sync
    replica, and the client's retries land there: every acknowledged record is read
    back once, in order, at its acknowledged offset. Node 1 stays up."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from kafkapy.testing import Cluster
    from kafkapy.testing.container import format_storage
    from tests.clustering import FAST_FAILOVER, until
    from tests.testing.clients import consume, produce as produce_all

    disk = str(tmp_path / "node-1-disk")
    with mounted_tmpfs(disk, 2 * DISK_BYTES):
        cluster = None
        try:
            metadata_dir = str(tmp_path / "node-1-metadata")
            cluster = Cluster(3, FAST_FAILOVER, node_config={1: {LOG_DIRS: disk, METADATA_LOG_DIR: metadata_dir}},
                              data_dir=str(tmp_path / "cluster"), timeout_s=60)
            format_storage(metadata_dir, cluster.cluster_id, 1)
            cluster.start()
            topic = "failing-disk"
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
            admin.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2, 3]])])[topic].result(30)
            assert until(lambda: cluster.partition_state(topic).isr == [1, 2, 3] or
                         sorted(cluster.partition_state(topic).isr) == [1, 2, 3])
            assert cluster.leader_of(topic) == 1
            values = [b"%05d" % i + VALUE for i in range(500)]  # 10 MB into 8 MB
            reports = produce_all(cluster.bootstrap_servers, topic, values, acks="all",
                                  **{"enable.idempotence": True, "message.timeout.ms": 60_000})
            assert [err for err, _ in reports if err is not None] == []
            assert sorted(offset for _, offset in reports) == list(range(len(values)))
            assert "KAFKA_STORAGE_ERROR" in cluster.nodes[1].output() or "goes offline" in cluster.nodes[1].output()
            state = until(lambda: (s := cluster.partition_state(topic)).leader in (2, 3) and 1 not in s.isr and s)
            assert state, cluster.partition_state(topic)
            with KafkaConnection(cluster.nodes[2].bootstrap_servers) as conn:
                [partition] = wait_for(lambda: metadata(conn, topic).topics[0].partitions if
                                       metadata(conn, topic).topics[0].partitions[0].offline_replicas == [1] else None,
                                       what="node 1 offline in Metadata")
                assert partition.offline_replicas == [1]
            with KafkaConnection(cluster.nodes[1].bootstrap_servers) as conn:
                [result] = conn.request(DescribeLogDirsRequest(topics=None), 4).results
                assert result.error_code == ErrorCode.KAFKA_STORAGE_ERROR
                assert fetch(conn, topic).error_code == ErrorCode.KAFKA_STORAGE_ERROR
            got = consume(cluster.bootstrap_servers, topic, len(values))
            assert [m.offset() for m in got] == list(range(len(values)))
            by_offset = {offset: value for value, (_, offset) in zip(values, reports, strict=True)}
            assert [m.value() for m in got] == [by_offset[m.offset()] for m in got]
            assert [m.value()[:5] for m in got] == [b"%05d" % i for i in range(len(values))]  # in order, once each
            assert cluster.nodes[1].running
        finally:
            if cluster is not None:
                cluster.stop()


def fill_to_the_last_byte(directory: str) -> None:
    """Take what space a produce left on the filesystem, so the next write of any size fails."""
    try:
        fd = os.open(os.path.join(directory, "filler"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return  # not even an empty file fits
    try:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)


def test_metadata_log_on_a_full_disk_stops_the_quorum_but_not_the_node(small_disk, tmp_path):
    """The metadata log shares the full disk: Kafka halts. Here the Raft driver stops
    (nothing it did not persist is acknowledged), the node keeps serving what it has,
    and metadata writes answer as a node that is not the controller."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    retention = next(d.name for d in TOPIC_CONFIGS.values() if d.field == "retention_ms")
    topic = new_topic()
    with Broker({LOG_DIRS: small_disk}, memory=False) as broker, \
            KafkaConnection(broker.bootstrap_servers) as conn:
        metadata(conn, topic)
        fill(conn, topic)
        # The metadata log gives up its reserve once the disk is short (the controller
        # recorded the offline directory); then the test takes that space too.
        wait_for(lambda: not os.path.exists(os.path.join(small_disk, RESERVE_FILE)), what="the reserve released")
        fill_to_the_last_byte(small_disk)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        # Each config change is a metadata record; the metadata log's last page fills.
        accepted = 0
        for i in range(2000):
            if usable_bytes(small_disk) > 0:
                fill_to_the_last_byte(small_disk)  # keep it full, whatever else frees space
            resource = ConfigResource("topic", topic, set_config={retention: str(86_400_000 + i)})
            try:
                admin.alter_configs([resource], request_timeout=5)[resource].result(10)
            except Exception:  # the client reports NOT_CONTROLLER (or gives up)
                break
            accepted += 1
        else:
            raise AssertionError("the metadata log never filled")
        described = admin.describe_configs([ConfigResource("topic", topic)])
        value = next(iter(described.values())).result(10)[retention].value
        # What was acknowledged is what the node serves; the refused change is not applied.
        assert value == str(86_400_000 + accepted - 1)
        # Reads go on, and the offline partition still says why.
        assert metadata(conn, topic).topics[0].name == topic
        assert fetch(conn, topic).error_code == ErrorCode.KAFKA_STORAGE_ERROR
        assert broker.call(lambda: broker.core.quorum is not None)  # the node runs
