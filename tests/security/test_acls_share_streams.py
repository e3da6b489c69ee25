"""ACLs on share groups (KIP-932) and streams groups (KIP-1071), over SASL_PLAINTEXT
against an in-process kafkapy broker with Kafka's StandardAuthorizer.

alice may READ group ``queue-group`` and READ topic ``queue``; bob may READ the topic
but not the group; carol may READ the group but has no ACL on the topic; admin is a
super user. confluent-kafka's ShareConsumer as alice consumes, as bob gets
GROUP_AUTHORIZATION_FAILED and as carol TOPIC_AUTHORIZATION_FAILED, as a Kafka 4.4
broker answers them (``KafkaApis.handleShareGroupHeartbeat``, ``handleShareFetchRequest``).
Raw requests check the answers' shapes: ShareFetch of a topic without READ, the share
coordinator's state APIs without CLUSTER_ACTION, StreamsGroupHeartbeat, Describe and
TopologyDescriptionUpdate without GROUP ACLs, a streams topology naming a topic the principal may not describe
or internal topics it may not create.
"""

from __future__ import annotations

import base64
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer, ShareConsumer

from compat_tests.brokers import DEPS, free_port, java, start_reference
from kafkapy.testing import Broker
from kafkapy.testing.acls import allow
from kafkapy.testing.client import KafkaConnection
from kafkapy.testing.sasl import plain_jaas_config
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.message import Message
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest

USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret", "admin": "admin-secret"}
TOPIC, GROUP = "queue", "queue-group"
STREAMS_GROUP, STREAMS_TOPIC = "app", "words"
ACLS = [allow("User:alice", "READ", "GROUP", GROUP), allow("User:alice", "READ", "TOPIC", TOPIC),
        allow("User:bob", "READ", "TOPIC", TOPIC), allow("User:carol", "READ", "GROUP", GROUP),
        # the streams application: its group and input topic, no CREATE anywhere
        allow("User:alice", "READ", "GROUP", STREAMS_GROUP), allow("User:alice", "DESCRIBE", "TOPIC", STREAMS_TOPIC)]


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker(sasl_users=USERS, acls=ACLS, super_users=["User:admin", "User:ANONYMOUS"]) as b:
        b.create_topics(TOPIC, partitions=1)
        b.create_topics(STREAMS_TOPIC, partitions=1)
        yield b


def _share_consumer(broker: Broker, user: str) -> ShareConsumer:
    c = ShareConsumer({**broker.sasl_client_config(user, "SCRAM-SHA-256"), "group.id": GROUP,
                       "share.acknowledgement.mode": "implicit"})
    c.subscribe([TOPIC])
    return c


def _poll_error(c: ShareConsumer, timeout_s: float = 30) -> int:
    """The first error code the share consumer reports (a message error or a raised one)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            for m in c.poll(0.5) or []:
                if m.error() is not None:
                    return m.error().code()
        except KafkaException as exc:
            return exc.args[0].code()
    raise AssertionError("no error reported")


def _connect(broker: Broker, user: str) -> KafkaConnection:
    conn = KafkaConnection(broker.bootstrap_servers)
    conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    answer = conn.request(SaslAuthenticateRequest(auth_bytes=f"\0{user}\0{USERS[user]}".encode()), 2)
    assert answer.error_code == ErrorCode.NONE
    return conn


def _ask(broker: Broker, user: str, body: Any, version: int) -> Any:
    with _connect(broker, user) as conn:
        return conn.request(body, version)


def _topic_id(broker: Broker, name: str) -> bytes:
    from kafkapy.wire.messages.metadata import MetadataRequest

    answer = _ask(broker, "admin", MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=name)]), 12)
    return bytes(answer.topics[0].topic_id)


def test_share_consumer_with_group_and_topic_read_consumes(broker: Broker) -> None:
    """The share-partition starts at the end (share.auto.offset.reset=latest), so records
    are produced until the consumer, once joined, gets some."""
    c = _share_consumer(broker, "alice")
    p = Producer(broker.sasl_client_config("admin", "PLAIN"))
    produced: list[bytes] = []
    got: list[bytes] = []
    try:
        deadline = time.monotonic() + 60
        while not got and time.monotonic() < deadline:
            value = uuid.uuid4().hex.encode()
            p.produce(TOPIC, value)
            assert p.flush(15) == 0
            produced.append(value)
            for m in c.poll(1.0) or []:
                assert m.error() is None, m.error()
                got.append(m.value())
        assert got and set(got) <= set(produced)
    finally:
        c.close()


def test_share_consumer_without_group_read_is_refused(broker: Broker) -> None:
    c = _share_consumer(broker, "bob")
    try:
        assert _poll_error(c) == ErrorCode.GROUP_AUTHORIZATION_FAILED
    finally:
        c.close()


def test_share_consumer_without_topic_acls_is_refused(broker: Broker) -> None:
    c = _share_consumer(broker, "carol")
    try:
        assert _poll_error(c) == ErrorCode.TOPIC_AUTHORIZATION_FAILED
    finally:
        c.close()


def test_share_group_heartbeat_answers(broker: Broker) -> None:
    from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest as Q

    def heartbeat(user: str) -> Any:
        return _ask(broker, user, Q(group_id=GROUP, member_id=str(uuid.uuid4()).replace("-", "")[:22],
                                    member_epoch=0, subscribed_topic_names=[TOPIC]), 1)
    assert heartbeat("bob").error_code == ErrorCode.GROUP_AUTHORIZATION_FAILED
    assert heartbeat("carol").error_code == ErrorCode.TOPIC_AUTHORIZATION_FAILED
    assert heartbeat("alice").error_code == ErrorCode.NONE


def test_share_fetch_of_a_topic_without_read_answers_its_partitions_refused(broker: Broker) -> None:
    """carol may read the group: the fetch is served, the topic's partition is refused
    (``handleFetchFromShareFetchRequest``), and an acknowledgement of it too."""
    from kafkapy.wire.messages.share_fetch import ShareFetchRequest as Q

    topic_id = _topic_id(broker, TOPIC)
    member_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    with _connect(broker, "carol") as conn:
        answer = conn.request(Q(group_id=GROUP, member_id=member_id, share_session_epoch=0, max_wait_ms=0,
                                min_bytes=1, max_bytes=1 << 20, max_records=10, batch_size=10, topics=[
                                    Q.FetchTopic(topic_id=topic_id, partitions=[Q.FetchPartition(partition_index=0)])]),
                              1)
        assert answer.error_code == ErrorCode.NONE
        assert [(bytes(t.topic_id), p.partition_index, p.error_code, p.acquired_records)
                for t in answer.responses for p in t.partitions] == [
            (topic_id, 0, ErrorCode.TOPIC_AUTHORIZATION_FAILED, [])]
    with _connect(broker, "bob") as conn:
        answer = conn.request(Q(group_id=GROUP, member_id=member_id, share_session_epoch=0, max_wait_ms=0,
                                min_bytes=1, max_bytes=1 << 20, max_records=10, batch_size=10, topics=[]), 1)
        assert answer.error_code == ErrorCode.GROUP_AUTHORIZATION_FAILED


def test_a_share_session_is_authorized_again_after_an_acl_is_removed(broker: Broker) -> None:
    """alice's share session keeps a partition whose READ was removed: each fetch answers
    it TOPIC_AUTHORIZATION_FAILED and acquires nothing, so a record produced meanwhile is
    delivered, for the first time, once READ is back."""
    from kafkapy.wire.messages.share_fetch import ShareFetchRequest as Q

    topic = f"queue-{uuid.uuid4().hex[:6]}"
    broker.create_topics(topic, partitions=1)
    read = allow("User:alice", "READ", "TOPIC", topic)
    broker.add_acls([read])
    topic_id = _topic_id(broker, topic)
    member_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()

    def fetch(conn: KafkaConnection, epoch: int, topics: list) -> list[tuple[int, list]]:
        answer = conn.request(Q(group_id=GROUP, member_id=member_id, share_session_epoch=epoch, max_wait_ms=0,
                                min_bytes=1, max_bytes=1 << 20, max_records=10, batch_size=10, topics=topics), 1)
        assert answer.error_code == ErrorCode.NONE
        return [(p.error_code, [(a.first_offset, a.delivery_count) for a in p.acquired_records])
                for t in answer.responses if bytes(t.topic_id) == topic_id for p in t.partitions]

    with _connect(broker, "alice") as conn:
        assert fetch(conn, 0, [Q.FetchTopic(topic_id=topic_id, partitions=[Q.FetchPartition(partition_index=0)])]) \
            in ([], [(ErrorCode.NONE, [])])
        broker.remove_acls([read])
        p = Producer(broker.sasl_client_config("admin", "PLAIN"))
        p.produce(topic, b"meanwhile")
        assert p.flush(15) == 0
        assert fetch(conn, 1, []) == [(ErrorCode.TOPIC_AUTHORIZATION_FAILED, [])]
        assert fetch(conn, 2, []) == [(ErrorCode.TOPIC_AUTHORIZATION_FAILED, [])]
        broker.add_acls([read])
        time.sleep(0.5)
        assert fetch(conn, 3, []) == [(ErrorCode.NONE, [(0, 1)])]


def test_share_group_describe_needs_group_describe(broker: Broker) -> None:
    from kafkapy.wire.messages.share_group_describe import ShareGroupDescribeRequest as Q

    answer = _ask(broker, "bob", Q(group_ids=[GROUP], include_authorized_operations=True), 1)
    assert [(g.group_id, g.error_code) for g in answer.groups] == [(GROUP, ErrorCode.GROUP_AUTHORIZATION_FAILED)]


def test_share_group_describe_of_a_group_using_a_topic_not_described(broker: Broker) -> None:
    """carol may describe the group but not its topic: the group is answered
    TOPIC_AUTHORIZATION_FAILED without its members; alice gets it with her operations."""
    from kafkapy.wire.messages.share_group_describe import ShareGroupDescribeRequest as Q

    broker.add_acls([allow("User:carol", "DESCRIBE", "GROUP", GROUP)])
    member = _share_consumer(broker, "alice")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            member.poll(0.5)
            seen = _ask(broker, "alice", Q(group_ids=[GROUP], include_authorized_operations=True), 1).groups[0]
            if seen.error_code == ErrorCode.NONE and any(m.assignment.topic_partitions for m in seen.members):
                break
        assert seen.error_code == ErrorCode.NONE and seen.members
        assert seen.authorized_operations == 1 << 3 | 1 << 8  # READ, and DESCRIBE which READ implies
        refused = _ask(broker, "carol", Q(group_ids=[GROUP], include_authorized_operations=True), 1).groups[0]
        assert (refused.group_id, refused.error_code, refused.members, refused.error_message) == (
            GROUP, ErrorCode.TOPIC_AUTHORIZATION_FAILED, [],
            "The group has described topic(s) that the client is not authorized to describe.")
    finally:
        member.close()


def test_share_state_apis_need_cluster_action(broker: Broker) -> None:
    """Inter-broker: every partition asked answers CLUSTER_AUTHORIZATION_FAILED
    (``ReadShareGroupStateResponse.toGlobalErrorResponse``)."""
    from kafkapy.wire.messages.read_share_group_state import ReadShareGroupStateRequest as Q

    topic_id = _topic_id(broker, TOPIC)
    answer = _ask(broker, "alice", Q(group_id=GROUP, topics=[Q.ReadStateData(
        topic_id=topic_id, partitions=[Q.PartitionData(partition=0, leader_epoch=0)])]), 0)
    assert [(bytes(r.topic_id), p.partition, p.error_code, p.error_message)
            for r in answer.results for p in r.partitions] == [
        (topic_id, 0, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, ErrorCode.CLUSTER_AUTHORIZATION_FAILED.message)]


def test_share_group_offsets_admin_needs_group_acls(broker: Broker) -> None:
    from kafkapy.wire.messages.alter_share_group_offsets import AlterShareGroupOffsetsRequest as A
    from kafkapy.wire.messages.delete_share_group_offsets import DeleteShareGroupOffsetsRequest as D
    from kafkapy.wire.messages.describe_share_group_offsets import DescribeShareGroupOffsetsRequest as S

    described = _ask(broker, "bob", S(groups=[S.DescribeShareGroupOffsetsRequestGroup(group_id=GROUP, topics=None)]), 0)
    assert [(g.group_id, g.error_code) for g in described.groups] == [(GROUP, ErrorCode.GROUP_AUTHORIZATION_FAILED)]
    altered = _ask(broker, "bob", A(group_id=GROUP, topics=[A.AlterShareGroupOffsetsRequestTopic(
        topic_name=TOPIC, partitions=[A.AlterShareGroupOffsetsRequestPartition(partition_index=0, start_offset=0)])]),
        0)
    assert (altered.error_code, altered.error_message) == (
        ErrorCode.GROUP_AUTHORIZATION_FAILED, ErrorCode.GROUP_AUTHORIZATION_FAILED.message)
    deleted = _ask(broker, "alice", D(group_id=GROUP, topics=[D.DeleteShareGroupOffsetsRequestTopic(
        topic_name=TOPIC)]), 0)
    assert deleted.error_code == ErrorCode.GROUP_AUTHORIZATION_FAILED  # DELETE, not READ


def _streams_heartbeat(topics: list[str], changelog: str | None = None) -> Any:
    from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest as Q

    changelogs = [] if changelog is None else [Q.TopicInfo(name=changelog, partitions=0, replication_factor=-1,
                                                            topic_configs=[])]
    return Q(group_id=STREAMS_GROUP, member_id=str(uuid.uuid4()), member_epoch=0, rebalance_timeout_ms=30_000,
             process_id=str(uuid.uuid4()), topology=Q.Topology(epoch=0, subtopologies=[Q.Subtopology(
                 subtopology_id="0", source_topics=topics, state_changelog_topics=changelogs,
                 repartition_sink_topics=[], repartition_source_topics=[], copartition_groups=[])]),
             active_tasks=[], standby_tasks=[], warmup_tasks=[])


def _topology_description_update() -> Any:
    from kafkapy.wire.messages.streams_group_topology_description_update import (
        StreamsGroupTopologyDescriptionUpdateRequest as U,
    )

    return U(group_id=STREAMS_GROUP, member_id="m1", topology_epoch=0, topology_description=U.TopologyDescription())


def test_streams_group_apis_without_group_acls_are_refused(broker: Broker) -> None:
    from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeRequest as D
    answer = _ask(broker, "bob", _topology_description_update(), 0)
    assert (answer.error_code, answer.error_message) == (ErrorCode.GROUP_AUTHORIZATION_FAILED, None)

    answer = _ask(broker, "bob", _streams_heartbeat([STREAMS_TOPIC]), 0)
    assert (answer.error_code, answer.error_message) == (ErrorCode.GROUP_AUTHORIZATION_FAILED, None)
    described = _ask(broker, "bob", D(group_ids=[STREAMS_GROUP], include_authorized_operations=False), 0)
    assert [(g.group_id, g.error_code) for g in described.groups] == [
        (STREAMS_GROUP, ErrorCode.GROUP_AUTHORIZATION_FAILED)]


def test_streams_topology_checks(broker: Broker) -> None:
    """A topic alice may not describe is TOPIC_AUTHORIZATION_FAILED; Kafka's internal
    topics in a topology are STREAMS_INVALID_TOPOLOGY, checked before the topic ACLs."""
    answer = _ask(broker, "alice", _streams_heartbeat([STREAMS_TOPIC, "secret-input"]), 0)
    assert answer.error_code == ErrorCode.TOPIC_AUTHORIZATION_FAILED
    answer = _ask(broker, "alice", _streams_heartbeat(["__consumer_offsets"]), 0)
    assert (answer.error_code, answer.error_message) == (
        ErrorCode.STREAMS_INVALID_TOPOLOGY,
        "Use of Kafka internal topics __consumer_offsets in a Kafka Streams topology is prohibited.")


def test_streams_internal_topics_need_create(broker: Broker) -> None:
    """alice may describe the changelog (a prefixed ACL) but not create it: the heartbeat
    says so in its MISSING_INTERNAL_TOPICS status and the topic is not created."""
    changelog = f"{STREAMS_GROUP}-store-changelog"
    broker.add_acls([allow("User:alice", "DESCRIBE", "TOPIC", changelog)])
    answer = _ask(broker, "alice", _streams_heartbeat([STREAMS_TOPIC], changelog), 0)
    assert answer.error_code == ErrorCode.NONE
    details = [s.status_detail for s in answer.status or () if s.status_code == 3]
    assert len(details) == 1 and details[0].endswith(f"Unauthorized to CREATE on topics {changelog}."), details
    time.sleep(1.0)
    assert changelog not in broker.topics()


# --- compared with Apache Kafka 4.4.0 ---------------------------------------------------

REFERENCE_VERSION = "4.4.0"
_REFERENCE_PRESENT = (DEPS / f"kafka-{REFERENCE_VERSION}" / "libs" / f"kafka_2.13-{REFERENCE_VERSION}.jar").exists()
needs_reference_4_4 = pytest.mark.skipif(not _REFERENCE_PRESENT or shutil.which(java()) is None,
                                         reason=f"Apache Kafka {REFERENCE_VERSION} or java is missing")
_CHANGELOG = f"{STREAMS_GROUP}-counts-changelog"
#: ResourceType TOPIC 2, GROUP 3; PatternType LITERAL 3; AclOperation READ 3; ALLOW 3.
_TOPIC_T, _GROUP_T, _LITERAL, _READ, _ALLOW = 2, 3, 3, 3, 3


@contextmanager
def _reference_with_sasl() -> Iterator[str]:
    """Kafka 4.4.0 with a SASL_PLAINTEXT client listener, the StandardAuthorizer and the
    same super users (tests/security/reference.py's settings, at this version)."""
    port, sasl_port, controller_port = free_port(), free_port(), free_port()
    overrides = {
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},"
                     f"CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas_config(USERS),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin;User:ANONYMOUS",
    }
    reference = start_reference(port, version=REFERENCE_VERSION, timeout=180, overrides=overrides)
    try:
        yield f"127.0.0.1:{sasl_port}"
    finally:
        reference.stop()


def _login(address: str, user: str) -> KafkaConnection:
    conn = KafkaConnection(address, timeout_s=30)
    conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    assert conn.request(SaslAuthenticateRequest(auth_bytes=f"\0{user}\0{USERS[user]}".encode()), 2).error_code == 0
    return conn


def _prepare(address: str) -> None:
    """The topic and the ACLs of this module, made by admin's raw requests."""
    from kafkapy.wire.messages.create_acls import CreateAclsRequest as A
    from kafkapy.wire.messages.create_topics import CreateTopicsRequest as T
    from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest

    with _login(address, "admin") as conn:
        created = conn.request(T(topics=[T.CreatableTopic(name=name, num_partitions=1, replication_factor=1,
                                                          assignments=[], configs=[])
                                         for name in (TOPIC, STREAMS_TOPIC)],
                                 timeout_ms=30_000, validate_only=False), 7)
        assert [t.error_code for t in created.topics] == [0, 0]
        acls = conn.request(A(creations=[A.AclCreation(
            resource_type=rt, resource_name=name, resource_pattern_type=_LITERAL, principal=f"User:{user}",
            host="*", operation=_READ, permission_type=_ALLOW) for user, rt, name in [
                ("alice", _GROUP_T, GROUP), ("alice", _TOPIC_T, TOPIC), ("bob", _TOPIC_T, TOPIC),
                ("carol", _GROUP_T, GROUP), ("alice", _GROUP_T, STREAMS_GROUP), ("alice", _TOPIC_T, STREAMS_TOPIC),
                ("alice", _TOPIC_T, _CHANGELOG)]]), 3)
        assert [r.error_code for r in acls.results] == [0] * 7
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # __consumer_offsets made and led: group APIs answer
            found = conn.request(FindCoordinatorRequest(key_type=0, coordinator_keys=[STREAMS_GROUP, GROUP]), 4)
            if all(c.error_code == ErrorCode.NONE for c in found.coordinators):
                break
            time.sleep(0.2)
    time.sleep(1.0)  # the ACLs reach the authorizer through the metadata log


@pytest.fixture(scope="module")
def both() -> Iterator[dict[str, str]]:
    with _reference_with_sasl() as kafka_address, \
            Broker(sasl_users=USERS, sasl_mechanisms=["PLAIN"], super_users=["User:admin", "User:ANONYMOUS"]) as ours:
        addresses = {"kafkapy": ours.bootstrap_servers, "kafka": kafka_address}
        for address in addresses.values():
            _prepare(address)
        yield addresses


def _plain(value: Any) -> Any:
    """A message as nested dicts, topic ids and member ids left out (they differ)."""
    if isinstance(value, Message):
        return {n: _plain(getattr(value, n)) for n in value.__slots__ if n not in ("topic_id", "member_id",
                                                                                   "throttle_time_ms")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return value


def _compare(both: dict[str, str], user: str, make: Any, version: int) -> Any:
    answers = {}
    for name, address in both.items():
        with _login(address, user) as conn:
            answers[name] = _plain(conn.request(make(conn, address), version))
    assert answers["kafkapy"] == answers["kafka"], answers
    return answers["kafkapy"]


@needs_reference_4_4
def test_refused_share_answers_as_kafka_4_4(both: dict[str, str]) -> None:
    from kafkapy.wire.messages.share_fetch import ShareFetchRequest as F
    from kafkapy.wire.messages.share_group_describe import ShareGroupDescribeRequest as D
    from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest as H

    member = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    answer = _compare(both, "bob", lambda conn, _: H(group_id=GROUP, member_id=member, member_epoch=0,
                                                      subscribed_topic_names=[TOPIC]), 1)
    assert answer["error_code"] == ErrorCode.GROUP_AUTHORIZATION_FAILED
    answer = _compare(both, "bob", lambda conn, _: D(group_ids=[GROUP], include_authorized_operations=True), 1)
    assert answer["groups"][0]["error_code"] == ErrorCode.GROUP_AUTHORIZATION_FAILED

    def carol_fetch(conn: KafkaConnection, address: str) -> Any:
        from kafkapy.wire.messages.metadata import MetadataRequest

        with _login(address, "admin") as admin:
            topic_id = admin.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=TOPIC)]),
                                     12).topics[0].topic_id
        return F(group_id=GROUP, member_id=base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode(),
                 share_session_epoch=0, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, max_records=10,
                 batch_size=10, topics=[F.FetchTopic(topic_id=topic_id, partitions=[F.FetchPartition(
                     partition_index=0)])])
    answer = _compare(both, "carol", carol_fetch, 1)
    assert answer["responses"][0]["partitions"][0]["error_code"] == ErrorCode.TOPIC_AUTHORIZATION_FAILED


@needs_reference_4_4
def test_refused_streams_answers_as_kafka_4_4(both: dict[str, str]) -> None:
    from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeRequest as D

    answer = _compare(both, "bob", lambda conn, _: _streams_heartbeat([TOPIC]), 0)
    assert answer["error_code"] == ErrorCode.GROUP_AUTHORIZATION_FAILED
    answer = _compare(both, "bob", lambda conn, _: D(group_ids=[STREAMS_GROUP], include_authorized_operations=True),
                      0)
    assert answer["groups"][0]["error_code"] == ErrorCode.GROUP_AUTHORIZATION_FAILED
    for user, error in (("bob", ErrorCode.GROUP_AUTHORIZATION_FAILED), ("alice", ErrorCode.UNSUPPORTED_VERSION)):
        answer = _compare(both, user, lambda conn, _: _topology_description_update(), 0)
        assert answer["error_code"] == error  # GROUP READ, then no description plugin


@needs_reference_4_4
def test_streams_internal_topics_without_create_as_kafka_4_4(both: dict[str, str]) -> None:
    """alice may read the group and the topics but create nothing: the missing changelog
    is not created and the MISSING_INTERNAL_TOPICS status says so, in Kafka's words (its
    first part, which topics are missing, is the topology's and is left out here; so is
    Kafka 4.4's ASSIGNMENT_DELAYED status)."""
    from kafkapy.wire.messages.metadata import MetadataRequest

    answers = {}
    for name, address in both.items():
        with _login(address, "alice") as conn:
            answer = conn.request(_streams_heartbeat([STREAMS_TOPIC], _CHANGELOG), 0)
        details = [s.status_detail for s in answer.status or () if s.status_code == 3]
        answers[name] = (answer.error_code, [d.split("; ", 1)[1] for d in details])
        time.sleep(1.0)
        with _login(address, "admin") as conn:
            listed = conn.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=_CHANGELOG)],
                                                  allow_auto_topic_creation=False), 12)
        assert listed.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name
    assert answers["kafkapy"] == answers["kafka"] == (0, [f"Unauthorized to CREATE on topics {_CHANGELOG}."])
