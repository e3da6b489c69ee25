"""Group and transaction answers compared with Apache Kafka 4.4.0: the same raw requests to
a kafkapy broker and to the reference 4.4.0, the answers compared.

- Deleting a topic removes its committed offsets from every group (Kafka's
  ``GroupCoordinator.onPartitionsDeleted``); another topic's offsets stay.
- A classic group is stored (an empty GroupMetadata record) on its first JoinGroup, the
  one answered MEMBER_ID_REQUIRED, so ListGroups shows it Empty.
- The classic and consumer group APIs asked about a share or a streams group id answer
  as Kafka 4.4's ``GroupMetadataManager`` type checks do.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from compat_tests.brokers import DEPS, java, start_reference
from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from kafkapy.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.delete_topics import DeleteTopicsRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.heartbeat import HeartbeatRequest
from kafkapy.wire.messages.init_producer_id import InitProducerIdRequest
from kafkapy.wire.messages.join_group import JoinGroupRequest
from kafkapy.wire.messages.leave_group import LeaveGroupRequest
from kafkapy.wire.messages.list_groups import ListGroupsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest
from kafkapy.wire.messages.offset_delete import OffsetDeleteRequest
from kafkapy.wire.messages.offset_fetch import OffsetFetchRequest
from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest
from kafkapy.wire.messages.sync_group import SyncGroupRequest
from kafkapy.wire.messages.txn_offset_commit import TxnOffsetCommitRequest
from kafkapy.wire.messages.write_txn_markers import WriteTxnMarkersRequest
from kafkapy.wire.records import Record, build_batch
from tests.broker.test_bad_input import produce_request
from tests.requests import ask

VERSION = "4.4.0"

pytestmark = pytest.mark.skipif(
    not (DEPS / f"kafka-{VERSION}" / "libs" / f"kafka_2.13-{VERSION}.jar").exists() or shutil.which(java()) is None,
    reason=f"Apache Kafka {VERSION} (compat_tests/install.sh) or java is missing")


@pytest.fixture(scope="module")
def brokers() -> Iterator[dict[str, str]]:
    reference = start_reference(version=VERSION, timeout=180)
    try:
        with Broker() as ours:
            both = {"kafkapy": ours.bootstrap_servers, "kafka": reference.bootstrap}
            for bootstrap in both.values():
                _wait_for_coordinator(bootstrap)
            yield both
    finally:
        reference.stop()


def _both(brokers: dict[str, str], fn: Callable[[str], Any]) -> tuple[Any, Any]:
    return fn(brokers["kafkapy"]), fn(brokers["kafka"])


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _wait_for_coordinator(bootstrap: str, key_type: int = 0) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = ask(bootstrap, FindCoordinatorRequest(key_type=key_type, coordinator_keys=["any"]), 4)
        if r.coordinators[0].error_code == ErrorCode.NONE:
            return
        time.sleep(0.2)
    pytest.fail(f"no coordinator on {bootstrap}")


def _create(bootstrap: str, name: str, partitions: int) -> None:
    T = CreateTopicsRequest
    r = ask(bootstrap, T(topics=[T.CreatableTopic(name=name, num_partitions=partitions, replication_factor=1)],
                         timeout_ms=30_000), 7)
    assert r.topics[0].error_code == ErrorCode.NONE, r
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until this broker's metadata has every partition's leader
        md = ask(bootstrap, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=name)]), 12)
        if md.topics[0].error_code == ErrorCode.NONE and len(md.topics[0].partitions) == partitions:
            return
        time.sleep(0.1)
    pytest.fail(f"topic {name} has no leaders on {bootstrap}")


def _commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int], *, version: int = 9,
            generation: int = -1, member: str = "") -> list[ErrorCode]:
    C = OffsetCommitRequest
    by_topic: dict[str, list[C.OffsetCommitRequestPartition]] = {}
    for (topic, partition), offset in offsets.items():
        by_topic.setdefault(topic, []).append(C.OffsetCommitRequestPartition(partition_index=partition,
                                                                             committed_offset=offset))
    r = ask(bootstrap, C(group_id=group, generation_id_or_member_epoch=generation, member_id=member,
                         topics=[C.OffsetCommitRequestTopic(name=t, partitions=ps) for t, ps in by_topic.items()]),
            version)
    return [ErrorCode(p.error_code) for t in r.topics for p in t.partitions]


def _fetch(bootstrap: str, group: str, topics: list[tuple[str, list[int]]] | None = None) -> tuple:
    F = OffsetFetchRequest
    asked = None if topics is None else [F.OffsetFetchRequestTopics(name=t, partition_indexes=ps) for t, ps in topics]
    g = ask(bootstrap, F(groups=[F.OffsetFetchRequestGroup(group_id=group, topics=asked)]), 9).groups[0]
    return ErrorCode(g.error_code), sorted((t.name, p.partition_index, p.committed_offset, ErrorCode(p.error_code))
                                           for t in g.topics for p in t.partitions)


def _listed(bootstrap: str, group: str) -> list[tuple[str, str, str]]:
    return [(g.group_state, g.protocol_type, g.group_type) for g in ask(bootstrap, ListGroupsRequest(), 5).groups
            if g.group_id == group]


def _named(value: Any, names: dict[str, str]) -> Any:
    """``value`` with the run's unique names replaced by what they stand for."""
    if isinstance(value, str):
        for name, placeholder in names.items():
            value = value.replace(name, placeholder)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_named(v, names) for v in value)
    if isinstance(value, dict):
        return {k: _named(v, names) for k, v in value.items()}
    return value


def _join(bootstrap: str, group: str, member_id: str = "") -> Any:
    J = JoinGroupRequest
    return ask(bootstrap, J(group_id=group, session_timeout_ms=30_000, rebalance_timeout_ms=30_000, member_id=member_id,
                            protocol_type="consumer", protocols=[J.JoinGroupRequestProtocol(name="range", metadata=b"")]),
               9)


# --- 1. topic deletion ----------------------------------------------------------------------


def test_deleting_a_topic_removes_its_offsets_from_every_group(brokers: dict[str, str]) -> None:
    def answer(bootstrap: str) -> dict[str, Any]:
        gone, kept = _unique("gone"), _unique("kept")
        _create(bootstrap, gone, 2)
        _create(bootstrap, kept, 1)
        groups = [_unique("g"), _unique("g")]
        for i, group in enumerate(groups):
            assert _commit(bootstrap, group, {(gone, 0): 5 + i, (gone, 1): 7, (kept, 0): 3}) == [ErrorCode.NONE] * 3
        r = ask(bootstrap, DeleteTopicsRequest(topics=[DeleteTopicsRequest.DeleteTopicState(name=gone)],
                                               timeout_ms=30_000), 6)
        assert r.responses[0].error_code == ErrorCode.NONE
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(gone in {o[0] for o in _fetch(bootstrap, g)[1]} for g in groups):
            time.sleep(0.2)  # Kafka's brokers drop them once the deletion reaches their metadata
        return {
            "all": [_fetch(bootstrap, g)[1] for g in groups],
            "asked": [_fetch(bootstrap, g, [(gone, [0, 1]), (kept, [0])])[1] for g in groups],
            "listed": [_listed(bootstrap, g) for g in groups],
        }

    ours, kafkas = _both(brokers, answer)
    names = lambda answers: [[(o[1], o[2], o[3]) for o in per_group] for per_group in answers]  # noqa: E731
    assert names(ours["all"]) == names(kafkas["all"]) == [[(0, 3, ErrorCode.NONE)]] * 2
    assert names(ours["asked"]) == names(kafkas["asked"])
    assert [[o[2] for o in g] for g in ours["asked"]] == [[-1, -1, 3]] * 2
    assert ours["listed"] == kafkas["listed"] == [[("Empty", "", "classic")]] * 2


# --- 2. ListGroups after MEMBER_ID_REQUIRED -------------------------------------------------


def test_a_first_join_answered_member_id_required_lists_the_group_empty(brokers: dict[str, str]) -> None:
    def answer(bootstrap: str) -> tuple:
        group = _unique("first-join")
        first = _join(bootstrap, group)
        assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED and first.member_id
        deadline = time.monotonic() + 10
        listed = _listed(bootstrap, group)
        while not listed and time.monotonic() < deadline:
            time.sleep(0.1)  # Kafka answers before its empty group record is committed
            listed = _listed(bootstrap, group)
        return ErrorCode(first.error_code), listed

    ours, kafkas = _both(brokers, answer)
    assert ours == kafkas == (ErrorCode.MEMBER_ID_REQUIRED, [("Empty", "", "classic")])


# --- 3. classic and consumer group APIs on a share or streams group -------------------------


def _share_group(bootstrap: str, topic: str, group: str) -> None:
    r = ask(bootstrap, ShareGroupHeartbeatRequest(group_id=group, member_id=uuid.uuid4().hex[:22], member_epoch=0,
                                                  subscribed_topic_names=[topic]), 1)
    assert r.error_code == ErrorCode.NONE, r


def _streams_group(bootstrap: str, topic: str, group: str) -> None:
    Q = StreamsGroupHeartbeatRequest
    topology = Q.Topology(epoch=0, subtopologies=[Q.Subtopology(subtopology_id="0", source_topics=[topic])])
    r = ask(bootstrap, Q(group_id=group, member_id=uuid.uuid4().hex[:22], member_epoch=0, rebalance_timeout_ms=30_000,
                         topology=topology, process_id=uuid.uuid4().hex, active_tasks=[], standby_tasks=[],
                         warmup_tasks=[]), 1)
    assert r.error_code == ErrorCode.NONE, r


@pytest.mark.parametrize("kind", ["share", "streams"])
def test_classic_and_consumer_apis_on_a_group_of_another_type(brokers: dict[str, str], kind: str) -> None:
    def answer(bootstrap: str) -> dict[str, Any]:
        topic, group = _unique("typed"), _unique(kind)
        _create(bootstrap, topic, 1)
        (_share_group if kind == "share" else _streams_group)(bootstrap, topic, group)
        out: dict[str, Any] = {}
        for name, member in (("join", ""), ("join known member", "m-1")):
            r = _join(bootstrap, group, member)
            out[name] = (ErrorCode(r.error_code), r.member_id, r.generation_id)
        out["sync"] = ErrorCode(ask(bootstrap, SyncGroupRequest(group_id=group, generation_id=1, member_id="m-1",
                                                                assignments=[]), 5).error_code)
        out["heartbeat"] = ErrorCode(ask(bootstrap, HeartbeatRequest(group_id=group, generation_id=1,
                                                                     member_id="m-1"), 4).error_code)
        leave = ask(bootstrap, LeaveGroupRequest(group_id=group, members=[
            LeaveGroupRequest.MemberIdentity(member_id="m-1")]), 5)
        out["leave"] = (ErrorCode(leave.error_code), [ErrorCode(m.error_code) for m in leave.members])
        for version in (8, 9):
            for generation, member in ((-1, ""), (1, "m-1")):
                out[f"commit v{version} generation {generation}"] = _commit(
                    bootstrap, group, {(topic, 0): 1}, version=version, generation=generation, member=member)
        out["fetch all"] = _fetch(bootstrap, group)
        out["fetch asked"] = _fetch(bootstrap, group, [(topic, [0])])
        D = OffsetDeleteRequest
        r = ask(bootstrap, D(group_id=group, topics=[D.OffsetDeleteRequestTopic(
            name=topic, partitions=[D.OffsetDeleteRequestPartition(partition_index=0)])]), 0)
        out["offset delete"] = (ErrorCode(r.error_code), [ErrorCode(p.error_code) for t in r.topics for p in t.partitions])
        for epoch in (0, 3, -1):
            H = ConsumerGroupHeartbeatRequest
            r = ask(bootstrap, H(group_id=group, member_id=uuid.uuid4().hex[:22], member_epoch=epoch,
                                 rebalance_timeout_ms=30_000 if epoch == 0 else -1,
                                 subscribed_topic_names=[topic] if epoch == 0 else None,
                                 topic_partitions=[] if epoch == 0 else None), 1)
            out[f"consumer heartbeat epoch {epoch}"] = (ErrorCode(r.error_code), r.error_message)
        described = ask(bootstrap, ConsumerGroupDescribeRequest(group_ids=[group]), 1).groups[0]
        out["consumer describe"] = (ErrorCode(described.error_code), described.error_message)
        out["listed"] = [listed[1:] for listed in _listed(bootstrap, group)]  # the state is the group type's own
        return _named(out, {group: "<group>", topic: "<topic>"})

    ours, kafkas = _both(brokers, answer)
    if kind == "streams":
        # Kafka answers GROUP_SUBSCRIBED_TO_TOPIC for a source topic of the group's configured
        # topology (StreamsGroup.isSubscribedToTopic); kafkapy's streams groups do not say
        # yet which topics they consume.
        assert kafkas.pop("offset delete") == (ErrorCode.NONE, [ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC])
        ours.pop("offset delete")
    assert ours == kafkas
    assert ours["join"][:2] == (ErrorCode.INCONSISTENT_GROUP_PROTOCOL, "")
    assert ours["consumer heartbeat epoch 0"][0] == ErrorCode.GROUP_ID_NOT_FOUND
    assert ours["listed"] == [(kind, kind)]


# --- 4. TxnOffsetCommit v6 ------------------------------------------------------------------


def _api_range(bootstrap: str, key: int) -> tuple[int, int]:
    r = ask(bootstrap, ApiVersionsRequest(client_software_name="tests", client_software_version="1"), 3)
    return next((k.min_version, k.max_version) for k in r.api_keys if k.api_key == key)


def _transactional_producer(bootstrap: str, transactional_id: str) -> tuple[int, int]:
    _wait_for_coordinator(bootstrap, key_type=1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = ask(bootstrap, InitProducerIdRequest(transactional_id=transactional_id, transaction_timeout_ms=60_000,
                                                 producer_id=-1, producer_epoch=-1), 5)
        if r.error_code == ErrorCode.NONE:
            return r.producer_id, r.producer_epoch
        time.sleep(0.2)  # the transaction coordinator is still loading
    pytest.fail(f"no producer id for {transactional_id}")


def test_txn_offset_commit_v6_names_topics_by_id_and_answers_the_new_group_errors(brokers: dict[str, str]) -> None:
    def answer(bootstrap: str) -> dict[str, Any]:
        topic = _unique("txn-commit")
        _create(bootstrap, topic, 1)
        topic_id = ask(bootstrap, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]),
                       12).topics[0].topic_id
        transactional_id = _unique("txn")
        producer_id, epoch = _transactional_producer(bootstrap, transactional_id)
        share, consumer, member = _unique("share"), _unique("consumer"), uuid.uuid4().hex[:22]
        _share_group(bootstrap, topic, share)
        joined = ask(bootstrap, ConsumerGroupHeartbeatRequest(
            group_id=consumer, member_id=member, member_epoch=0, rebalance_timeout_ms=30_000,
            subscribed_topic_names=[topic], topic_partitions=[]), 1)
        assert joined.error_code == ErrorCode.NONE
        T = TxnOffsetCommitRequest

        def commit(version: int, group: str, generation: int = -1, member_id: str = "",
                   ids: tuple[bytes, ...] = (topic_id,)) -> list:
            r = ask(bootstrap, T(
                transactional_id=transactional_id, group_id=group, producer_id=producer_id, producer_epoch=epoch,
                generation_id_or_member_epoch=generation, member_id=member_id,
                topics=[T.TxnOffsetCommitRequestTopic(name="" if version >= 6 else topic, topic_id=i, partitions=[
                    T.TxnOffsetCommitRequestPartition(partition_index=0, committed_offset=1)]) for i in ids]), version)
            return [("id" if t.topic_id == topic_id else "other id" if version >= 6 else t.name == topic,
                     [ErrorCode(p.error_code) for p in t.partitions]) for t in r.topics]

        out: dict[str, Any] = {"versions": _api_range(bootstrap, 28)}
        for version in (5, 6):
            out[f"v{version} new group"] = commit(version, _unique("new"))
            out[f"v{version} unknown group with a generation"] = commit(version, _unique("unknown"), 5, "m-1")
            out[f"v{version} stale member epoch"] = commit(version, consumer, joined.member_epoch + 5, member)
            out[f"v{version} unknown member"] = commit(version, consumer, joined.member_epoch, "nobody")
            out[f"v{version} member"] = commit(version, consumer, joined.member_epoch, member)
            out[f"v{version} share group"] = commit(version, share)
        for name, ids in (("unknown id first", (uuid.uuid4().bytes, topic_id)),
                          ("unknown id last", (topic_id, uuid.uuid4().bytes))):
            out[f"v6 {name}"] = commit(6, _unique("new"), ids=ids)
        return out

    ours, kafkas = _both(brokers, answer)
    assert ours.pop("versions")[1] == kafkas.pop("versions")[1] == 6
    assert ours == kafkas
    assert ours["v6 unknown group with a generation"] == [("id", [ErrorCode.GROUP_ID_NOT_FOUND])]
    assert ours["v5 unknown group with a generation"] == [(True, [ErrorCode.ILLEGAL_GENERATION])]
    assert ours["v6 stale member epoch"] == [("id", [ErrorCode.STALE_MEMBER_EPOCH])]
    assert ours["v5 stale member epoch"] == [(True, [ErrorCode.ILLEGAL_GENERATION])]
    # Unknown ids are listed first, wherever the request names them.
    assert ours["v6 unknown id last"] == [("other id", [ErrorCode.UNKNOWN_TOPIC_ID]), ("id", [ErrorCode.NONE])]


# --- 5. WriteTxnMarkers v2 ------------------------------------------------------------------


def test_write_txn_markers_v2_checks_a_version_2_marker_epoch_strictly(brokers: dict[str, str]) -> None:
    """KIP-1228: the leader of a partition checks a transaction version 2 marker's epoch
    against the producer's strictly (each such transaction ends with an epoch bump)."""
    def answer(bootstrap: str) -> dict[str, Any]:
        topic, transactional_id = _unique("markers"), _unique("txn")
        _create(bootstrap, topic, 1)
        producer_id, epoch = _transactional_producer(bootstrap, transactional_id)
        batch = build_batch([Record(0, 0, None, b"open")], base_timestamp=int(time.time() * 1000),
                            producer_id=producer_id, producer_epoch=epoch, base_sequence=0, is_transactional=True)
        request = produce_request(topic, batch)
        request.transactional_id = transactional_id
        produced = ask(bootstrap, request, 12).responses[0].partition_responses[0]
        assert produced.error_code == ErrorCode.NONE  # Produce v12 adds the partition (transaction version 2)
        M = WriteTxnMarkersRequest

        def marker(version: int, marker_epoch: int, transaction_version: int) -> list[ErrorCode]:
            r = ask(bootstrap, M(markers=[M.WritableTxnMarker(
                producer_id=producer_id, producer_epoch=marker_epoch, transaction_result=False, coordinator_epoch=0,
                transaction_version=transaction_version,
                topics=[M.WritableTxnMarkerTopic(name=topic, partition_indexes=[0])])]), version)
            return [ErrorCode(p.error_code) for m in r.markers for t in m.topics for p in t.partitions]

        return {
            "versions": _api_range(bootstrap, 27),
            "v2 version 2 at the open transaction's epoch": marker(2, epoch, 2),
            "v2 version 2 at the next epoch": marker(2, epoch + 1, 2),
            "v2 version 2 repeated": marker(2, epoch + 1, 2),
            "v1 at the old epoch": marker(1, epoch, 0),
            "v2 version 0 at the same epoch": marker(2, epoch + 1, 0),
            "v2 version 2 at the same epoch, nothing open": marker(2, epoch + 1, 2),
        }

    ours, kafkas = _both(brokers, answer)
    assert ours == kafkas
    assert ours["versions"] == (1, 2)
    assert ours["v2 version 2 at the open transaction's epoch"] == [ErrorCode.INVALID_PRODUCER_EPOCH]
    assert ours["v2 version 2 at the next epoch"] == [ErrorCode.NONE]
