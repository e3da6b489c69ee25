"""The API versions Kafka 4.4 added that kafkapy serves, answered as Apache Kafka 4.4.0
answers them: the same requests to a kafkapy broker and to the reference 4.4.0, the
answers compared.

ApiVersions v5 (KIP-1242): cluster id and node id both or neither, REBOOTSTRAP_REQUIRED
for another node. ListOffsets v11 (KIP-1023): -6, earliest pending upload, -1 on a topic
that is not tiered, UNSUPPORTED_VERSION below v11. DeleteGroups v3: ErrorMessage null.
DescribeLogDirs v5: IsCordoned false (no directory is cordoned).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.brokers import DEPS, BrokerProcess, java, start_command, start_reference
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.delete_groups import DeleteGroupsRequest
from kafkapy.wire.messages.describe_log_dirs import DescribeLogDirsRequest
from kafkapy.wire.messages.list_offsets import ListOffsetsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from tests.requests import ask

KAFKA_4_4 = "4.4.0"

pytestmark = pytest.mark.skipif(
    not (DEPS / f"kafka-{KAFKA_4_4}" / "libs" / f"kafka_2.13-{KAFKA_4_4}.jar").exists() or shutil.which(java()) is None,
    reason=f"Apache Kafka {KAFKA_4_4} (compat_tests/install.sh) or java is missing")


@pytest.fixture(scope="module")
def brokers() -> Iterator[dict[str, BrokerProcess]]:
    with start_command() as kafkapy, start_reference(version=KAFKA_4_4, timeout=180) as kafka:
        for b in (kafkapy, kafka):
            _prepare(b.bootstrap)
        yield {"kafkapy": kafkapy, "kafka": kafka}


def _prepare(bootstrap: str) -> None:
    """A topic with three records and a group "g1" with a member."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic("t", 1, 1)]).values():
        f.result(60)
    producer = Producer({"bootstrap.servers": bootstrap})
    for _ in range(3):
        producer.produce("t", b"x")
    assert producer.flush(60) == 0


def _both(brokers: dict[str, BrokerProcess], fn) -> tuple[object, object]:
    return fn(brokers["kafkapy"].bootstrap), fn(brokers["kafka"].bootstrap)


@pytest.mark.parametrize("who", ["none", "this node", "cluster only", "node only", "other node", "other cluster"])
def test_api_versions_v5_checks_the_cluster_and_node(brokers, who: str) -> None:
    def answer(bootstrap: str) -> tuple:
        md = ask(bootstrap, MetadataRequest(topics=[]), 12)
        node = md.brokers[0].node_id
        cluster_id, node_id = {
            "none": (None, -1), "this node": (md.cluster_id, node), "cluster only": (md.cluster_id, -1),
            "node only": (None, node), "other node": (md.cluster_id, node + 5), "other cluster": ("x", node),
        }[who]
        r = ask(bootstrap, ApiVersionsRequest(client_software_name="t", client_software_version="1",
                                              cluster_id=cluster_id, node_id=node_id), 5)
        return ErrorCode(r.error_code), bool(r.api_keys)

    ours, kafkas = _both(brokers, answer)
    assert ours == kafkas
    assert ours[0] == {"none": ErrorCode.NONE, "this node": ErrorCode.NONE, "cluster only": ErrorCode.INVALID_REQUEST,
                       "node only": ErrorCode.INVALID_REQUEST, "other node": ErrorCode.REBOOTSTRAP_REQUIRED,
                       "other cluster": ErrorCode.REBOOTSTRAP_REQUIRED}[who]


@pytest.mark.parametrize("timestamp,version", [(-6, 11), (-6, 10), (-5, 11), (-2, 11), (-1, 11)])
def test_list_offsets_earliest_pending_upload(brokers, timestamp: int, version: int) -> None:
    def answer(bootstrap: str) -> tuple:
        r = ask(bootstrap, ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
            name="t", partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=timestamp)])]),
            version)
        p = r.topics[0].partitions[0]
        return ErrorCode(p.error_code), p.timestamp, p.offset, p.leader_epoch

    ours, kafkas = _both(brokers, answer)
    assert ours == kafkas
    if timestamp == -6:
        expected = ErrorCode.NONE if version >= 11 else ErrorCode.UNSUPPORTED_VERSION
        assert ours[0] == expected and ours[2] == -1  # "t" is not tiered


def test_delete_groups_v3_leaves_the_error_message_null(brokers) -> None:
    def answer(bootstrap: str) -> list:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g1", "auto.offset.reset": "earliest"})
        consumer.subscribe(["t"])
        deadline = time.monotonic() + 60
        while consumer.poll(0.5) is None and time.monotonic() < deadline:
            pass
        busy = ask(bootstrap, DeleteGroupsRequest(groups_names=["nope", "g1"]), 3)
        consumer.close()
        done = ask(bootstrap, DeleteGroupsRequest(groups_names=["g1"]), 3)
        return [(r.group_id, ErrorCode(r.error_code), r.error_message) for r in (*busy.results, *done.results)]

    ours, kafkas = _both(brokers, answer)
    assert ours == kafkas
    assert ours == [("nope", ErrorCode.GROUP_ID_NOT_FOUND, None), ("g1", ErrorCode.NON_EMPTY_GROUP, None),
                    ("g1", ErrorCode.NONE, None)]


def test_describe_log_dirs_v5_says_no_directory_is_cordoned(brokers) -> None:
    r = ask(brokers["kafka"].bootstrap, DescribeLogDirsRequest(topics=None), 5)
    assert [d.is_cordoned for d in r.results] == [False] * len(r.results)
    ours = ask(brokers["kafkapy"].bootstrap, DescribeLogDirsRequest(topics=None), 5)
    assert ours.results
    assert all(d.error_code == ErrorCode.NONE and d.is_cordoned is False for d in ours.results)


def _offsets_by_id(bootstrap: str) -> tuple[list, list, list]:
    """OffsetCommit v10 then OffsetFetch v10 by id (an unknown id first) and for all
    topics, on group "ids"; topic ids shown as "t" / "unknown" / "zero"."""
    from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
    from kafkapy.wire.messages.offset_commit import OffsetCommitRequest as OC
    from kafkapy.wire.messages.offset_fetch import OffsetFetchRequest as OF

    t = ask(bootstrap, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="t")]), 12).topics[0].topic_id
    unknown = b"\x07" * 16
    names = {t: "t", unknown: "unknown", bytes(16): "zero"}
    deadline = time.monotonic() + 60
    while ask(bootstrap, FindCoordinatorRequest(key="ids", key_type=0), 3).error_code and time.monotonic() < deadline:
        time.sleep(0.2)
    committed = ask(bootstrap, OC(group_id="ids", generation_id_or_member_epoch=-1, member_id="", topics=[
        OC.OffsetCommitRequestTopic(topic_id=t, partitions=[
            OC.OffsetCommitRequestPartition(partition_index=0, committed_offset=2),
            OC.OffsetCommitRequestPartition(partition_index=9, committed_offset=2)]),
        OC.OffsetCommitRequestTopic(topic_id=unknown, partitions=[
            OC.OffsetCommitRequestPartition(partition_index=0, committed_offset=1)]),
        OC.OffsetCommitRequestTopic(topic_id=bytes(16), partitions=[
            OC.OffsetCommitRequestPartition(partition_index=0, committed_offset=1)]),
    ]), 10)
    fetched = ask(bootstrap, OF(groups=[OF.OffsetFetchRequestGroup(group_id="ids", topics=[
        OF.OffsetFetchRequestTopics(topic_id=unknown, partition_indexes=[0]),
        OF.OffsetFetchRequestTopics(topic_id=t, partition_indexes=[0, 3])])]), 10)
    everything = ask(bootstrap, OF(groups=[OF.OffsetFetchRequestGroup(group_id="ids", topics=None)]), 10)

    def shown(topics, partition) -> list:
        return [(x.name, names.get(x.topic_id, x.topic_id), [partition(p) for p in x.partitions]) for x in topics]

    return (shown(committed.topics, lambda p: (p.partition_index, ErrorCode(p.error_code))),
            [shown(g.topics, lambda p: (p.partition_index, p.committed_offset, ErrorCode(p.error_code)))
             for g in fetched.groups],
            [shown(g.topics, lambda p: (p.partition_index, p.committed_offset, ErrorCode(p.error_code)))
             for g in everything.groups])


def test_offset_commit_and_fetch_v10_name_topics_by_id(brokers) -> None:
    ours, kafkas = _both(brokers, _offsets_by_id)
    assert ours == kafkas
    committed, fetched, everything = ours
    assert committed == [
        ("", "t", [(9, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), (0, ErrorCode.NONE)]),
        ("", "unknown", [(0, ErrorCode.UNKNOWN_TOPIC_ID)]), ("", "zero", [(0, ErrorCode.UNKNOWN_TOPIC_ID)])]
    assert everything == [[("", "t", [(0, 2, ErrorCode.NONE)])]]
