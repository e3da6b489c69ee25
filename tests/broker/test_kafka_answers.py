"""Kafka's answers to requests that name what does not exist, on kafkapy and on Apache Kafka.

Each test runs the same requests over TCP against an in-process kafkapy broker and,
where the reference is installed (``tests/reference.py``), against Apache Kafka 4.4.0
started by ``compat_tests.brokers.start_reference``, and checks both against the same
expected answer, found by running the reference:

- OffsetCommit v2-9 (v10 takes topic ids) to a topic that does not exist, or
  to a partition beyond the topic's count, answers UNKNOWN_TOPIC_OR_PARTITION for that
  partition, whatever the group: simple (generation -1, as the Admin API's
  AlterConsumerGroupOffsets sends it), unknown with a generation, classic, KIP-848
  consumer group, a stale member epoch. The other partitions get the group's answer.
- TxnOffsetCommit v0-5 answers the same for such partitions; v0-4 from a producer whose
  transaction does not hold the group's offsets partition (no AddOffsetsToTxn) answer
  INVALID_TXN_STATE (v4: TRANSACTION_ABORTABLE), v5 adds the partition.
- A KIP-848 regex subscription matching ``__consumer_offsets`` is assigned it.
- DescribeConfigs of a broker and of a topic lists the same names, types and read-only
  flags, and the same defaults; IncrementalAlterConfigs of broker configs answers as
  ``DynamicBrokerConfig`` does (a config kafkapy knows but ignores, such as
  ``sasl.kerberos.min.time.before.relogin``, is accepted and shown).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.add_offsets_to_txn import AddOffsetsToTxnRequest
from kafkapy.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.describe_configs import DescribeConfigsRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
from kafkapy.wire.messages.init_producer_id import InitProducerIdRequest
from kafkapy.wire.messages.join_group import JoinGroupRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest
from kafkapy.wire.messages.sync_group import SyncGroupRequest
from kafkapy.wire.messages.txn_offset_commit import TxnOffsetCommitRequest
from tests.reference import needs_reference

C = OffsetCommitRequest
H = ConsumerGroupHeartbeatRequest
UNKNOWN = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.name
MISSING_TOPIC = "no-such-topic"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def kafkapy_bootstrap() -> Iterator[str]:
    with Broker({"group.initial.rebalance.delay.ms": "0"}) as b:
        yield b.bootstrap_servers


@pytest.fixture(scope="module")
def kafka_bootstrap() -> Iterator[str]:
    from compat_tests.brokers import start_reference

    broker = start_reference()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(params=["kafkapy", pytest.param("kafka", marks=needs_reference)])
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    """One broker under comparison, with a 2-partition topic and a connection."""
    bootstrap = request.getfixturevalue(f"{request.param}_bootstrap")
    with KafkaConnection(bootstrap, timeout_s=30) as conn:
        yield Side(conn, bootstrap)


class Side:
    """Requests to one broker, over one connection."""

    def __init__(self, conn: KafkaConnection, bootstrap: str = "") -> None:
        self.conn = conn
        self.bootstrap = bootstrap
        self.topic = unique("answers")
        created = conn.request(CreateTopicsRequest(timeout_ms=30_000, topics=[
            CreateTopicsRequest.CreatableTopic(name=self.topic, num_partitions=2, replication_factor=1)]), 5)
        assert created.topics[0].error_code == 0
        self._wait(lambda: self.topic_id(self.topic) is not None, "the topic's metadata")

    def topic_id(self, name: str) -> bytes | None:
        answer = self.conn.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=name)],
                                                   allow_auto_topic_creation=False), 12)
        t = answer.topics[0]
        return t.topic_id if t.error_code == 0 and t.partitions else None

    def _wait(self, done: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = done()
            if result:
                return result
            time.sleep(0.2)
        raise AssertionError(f"{what} not ready after {timeout_s} s")

    def coordinator_ready(self, group: str) -> None:
        """Ask until the group's coordinator takes a commit (it loads once created)."""
        def ready() -> bool:
            if self.conn.request(FindCoordinatorRequest(key=group, key_type=0), 3).error_code != 0:
                return False
            return self.commit(group, [(self.topic, 0)]) == [(self.topic, 0, "NONE")]
        self._wait(ready, f"the coordinator of {group}")

    def commit(self, group: str, partitions: list[tuple[str, int]], *, version: int = 9,
               generation: int = -1, member: str = "") -> list[tuple[str, int, str]]:
        """OffsetCommit; the answers as (topic, partition, error name), in response order."""
        topics: dict[str, list[int]] = {}
        for name, p in partitions:
            topics.setdefault(name, []).append(p)
        request = C(group_id=group, generation_id_or_member_epoch=generation, member_id=member, topics=[
            C.OffsetCommitRequestTopic(name=name, partitions=[
                C.OffsetCommitRequestPartition(partition_index=p, committed_offset=1) for p in ps])
            for name, ps in topics.items()])
        answer = self.conn.request(request, version)
        return [(t.name, p.partition_index, ErrorCode(p.error_code).name) for t in answer.topics for p in t.partitions]


def test_offset_commit_of_a_simple_group_to_unknown_partitions(side: Side) -> None:
    group = unique("simple")
    side.coordinator_ready(group)
    asked = [(MISSING_TOPIC, 0), (side.topic, 0), (side.topic, 1), (side.topic, 5)]
    for version in range(2, 10):
        # The unknown partitions come first, each under its topic, then the group's answers.
        assert side.commit(group, asked, version=version) == [
            (MISSING_TOPIC, 0, UNKNOWN), (side.topic, 5, UNKNOWN), (side.topic, 0, "NONE"), (side.topic, 1, "NONE")]


def test_offset_commit_naming_only_unknown_partitions_never_reaches_the_group(side: Side) -> None:
    # An unknown group with a generation would answer ILLEGAL_GENERATION / GROUP_ID_NOT_FOUND.
    group = unique("unknown")
    side.coordinator_ready(unique("warm"))
    for version in (2, 8, 9):
        assert side.commit(group, [(MISSING_TOPIC, 0), (side.topic, 7)], version=version, generation=3,
                           member="m") == [(MISSING_TOPIC, 0, UNKNOWN), (side.topic, 7, UNKNOWN)]
    expected = {2: "ILLEGAL_GENERATION", 8: "ILLEGAL_GENERATION", 9: "GROUP_ID_NOT_FOUND"}
    for version, error in expected.items():
        assert side.commit(group, [(MISSING_TOPIC, 0), (side.topic, 0)], version=version, generation=3,
                           member="m") == [(MISSING_TOPIC, 0, UNKNOWN), (side.topic, 0, error)]


def test_offset_commit_of_a_classic_group_member_to_unknown_partitions(side: Side) -> None:
    group = unique("classic")
    side.coordinator_ready(group)
    J = JoinGroupRequest
    protocols = [J.JoinGroupRequestProtocol(name="range", metadata=b"")]
    joined = side.conn.request(J(group_id=group, session_timeout_ms=30_000, rebalance_timeout_ms=30_000,
                                 protocol_type="consumer", protocols=protocols), 5)
    assert joined.error_code == ErrorCode.MEMBER_ID_REQUIRED
    joined = side.conn.request(J(group_id=group, session_timeout_ms=30_000, rebalance_timeout_ms=30_000,
                                 member_id=joined.member_id, protocol_type="consumer", protocols=protocols), 5)
    assert joined.error_code == 0
    synced = side.conn.request(SyncGroupRequest(
        group_id=group, generation_id=joined.generation_id, member_id=joined.member_id,
        assignments=[SyncGroupRequest.SyncGroupRequestAssignment(member_id=joined.member_id, assignment=b"")]), 3)
    assert synced.error_code == 0
    asked = [(MISSING_TOPIC, 0), (side.topic, 0), (side.topic, 5)]
    for version in (2, 7, 8, 9):
        assert side.commit(group, asked, version=version, generation=joined.generation_id,
                           member=joined.member_id) == [(MISSING_TOPIC, 0, UNKNOWN), (side.topic, 5, UNKNOWN),
                                                        (side.topic, 0, "NONE")]
        assert side.commit(group, asked, version=version, generation=joined.generation_id + 7,
                           member=joined.member_id) == [(MISSING_TOPIC, 0, UNKNOWN), (side.topic, 5, UNKNOWN),
                                                        (side.topic, 0, "ILLEGAL_GENERATION")]


def test_offset_commit_of_a_consumer_group_member_to_unknown_partitions(side: Side) -> None:
    group = unique("kip848")
    side.coordinator_ready(unique("warm"))
    side.conn.request(FindCoordinatorRequest(key=group, key_type=0), 3)
    member = uuid.uuid4().hex[:22]
    joined = side.conn.request(H(group_id=group, member_id=member, member_epoch=0, rebalance_timeout_ms=30_000,
                                 subscribed_topic_names=[side.topic], topic_partitions=[]), 1)
    # A new consumer group is at epoch 1, its first member joins at 2 (Kafka 4.4's ModernGroup).
    assert joined.error_code == 0 and joined.member_epoch == 2
    epoch = joined.member_epoch
    asked = [(MISSING_TOPIC, 0), (side.topic, 0), (side.topic, 5)]
    assert side.commit(group, asked, generation=epoch, member=member) == [
        (MISSING_TOPIC, 0, UNKNOWN), (side.topic, 5, UNKNOWN), (side.topic, 0, "NONE")]
    assert side.commit(group, asked, generation=epoch + 5, member=member) == [
        (MISSING_TOPIC, 0, UNKNOWN), (side.topic, 5, UNKNOWN), (side.topic, 0, "STALE_MEMBER_EPOCH")]


def test_admin_alter_consumer_group_offsets_to_unknown_partitions(side: Side) -> None:
    """The Admin API (librdkafka's AlterConsumerGroupOffsets) sees the partition's error."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": side.bootstrap})
    group = unique("admin")
    side.coordinator_ready(group)
    for asked in ([TopicPartition(MISSING_TOPIC, 0, 5)],
                  [TopicPartition(side.topic, 0, 5), TopicPartition(side.topic, 7, 5)]):
        done = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, asked)])[group].result()
        assert [(tp.topic, tp.partition, tp.error and tp.error.name()) for tp in done.topic_partitions] == [
            (tp.topic, tp.partition, None if tp.topic == side.topic and tp.partition == 0 else "UNKNOWN_TOPIC_OR_PART")
            for tp in asked]


def test_txn_offset_commit_to_unknown_partitions(side: Side) -> None:
    group = unique("txn")
    side.coordinator_ready(group)
    T = TxnOffsetCommitRequest
    for version in range(0, 6):
        answer = side.conn.request(T(transactional_id=unique("tx"), group_id=group, producer_id=123_456,
                                     producer_epoch=0, topics=[
                                         T.TxnOffsetCommitRequestTopic(name=name, partitions=[
                                             T.TxnOffsetCommitRequestPartition(partition_index=p, committed_offset=1)
                                             for p in ps])
                                         for name, ps in ((MISSING_TOPIC, [0]), (side.topic, [5]))]), version)
        assert [(t.name, p.partition_index, ErrorCode(p.error_code).name)
                for t in answer.topics for p in t.partitions] == [(MISSING_TOPIC, 0, UNKNOWN), (side.topic, 5, UNKNOWN)]


def test_regex_subscription_is_assigned_internal_topics(side: Side) -> None:
    group = unique("regex")
    side.coordinator_ready(unique("warm"))  # __consumer_offsets exists from here on
    offsets_id = side.topic_id("__consumer_offsets")
    assert offsets_id is not None
    side.conn.request(FindCoordinatorRequest(key=group, key_type=0), 3)
    member = uuid.uuid4().hex[:22]
    answer = side.conn.request(H(group_id=group, member_id=member, member_epoch=0, rebalance_timeout_ms=30_000,
                                 subscribed_topic_regex=f"__consumer_off.*|{side.topic}", topic_partitions=[]), 1)
    assert answer.error_code == 0
    topic_id = side.topic_id(side.topic)
    offsets_partitions = len(side.conn.request(MetadataRequest(
        topics=[MetadataRequest.MetadataRequestTopic(name="__consumer_offsets")]), 12).topics[0].partitions)
    expected = {offsets_id: list(range(offsets_partitions)), topic_id: [0, 1]}
    # Kafka resolves regexes in the background and may assign in steps: heartbeat
    # until the assignment is whole (or the deadline passes).
    assigned: dict[bytes, list[int]] = {}
    deadline = time.monotonic() + 30
    while True:
        if answer.assignment is not None:
            assigned = {tp.topic_id: sorted(tp.partitions) for tp in answer.assignment.topic_partitions}
        if assigned == expected or time.monotonic() > deadline:
            break
        time.sleep(0.3)
        answer = side.conn.request(H(group_id=group, member_id=member, member_epoch=answer.member_epoch), 1)
        assert answer.error_code == 0
    assert assigned == expected


# --- configs: DescribeConfigs and AlterConfigs of broker configs ---------------------------

NODE_ID = "1"  # both brokers run node.id=1
BROKER_RESOURCE, TOPIC_RESOURCE = 4, 2
DEFAULT_CONFIG = 5


def describe(conn: KafkaConnection, resource_type: int, name: str) -> dict[str, Any]:
    """DescribeConfigs v4 with synonyms and documentation: the entries by name."""
    D = DescribeConfigsRequest
    answer = conn.request(D(resources=[D.DescribeConfigsResource(resource_type=resource_type, resource_name=name,
                                                                 configuration_keys=None)],
                            include_synonyms=True, include_documentation=True), 4)
    assert answer.results[0].error_code == 0
    return {c.name: c for c in answer.results[0].configs}


def alter(conn: KafkaConnection, resource: str, name: str, value: str | None, *, op: int = 0,
          validate_only: bool = False) -> tuple[str, str | None]:
    """IncrementalAlterConfigs v1 of one broker config: (error name, message)."""
    A = IncrementalAlterConfigsRequest
    answer = conn.request(A(validate_only=validate_only, resources=[A.AlterConfigsResource(
        resource_type=BROKER_RESOURCE, resource_name=resource,
        configs=[A.AlterableConfig(name=name, config_operation=op, value=value)])]), 1)
    r = answer.responses[0]
    return ErrorCode(r.error_code).name, r.error_message


@needs_reference
@pytest.mark.parametrize("resource_type", [BROKER_RESOURCE, TOPIC_RESOURCE])
def test_describe_configs_lists_what_kafka_lists(kafkapy_bootstrap: str, kafka_bootstrap: str,
                                                 resource_type: int) -> None:
    """The same names, types and read-only flags, and the same value wherever both
    brokers report Kafka's default (what each sets in its properties differs)."""
    described = []
    for bootstrap in (kafkapy_bootstrap, kafka_bootstrap):
        with KafkaConnection(bootstrap, timeout_s=30) as conn:
            if resource_type == TOPIC_RESOURCE:
                side = Side(conn)
                described.append(describe(conn, TOPIC_RESOURCE, side.topic))
            else:
                described.append(describe(conn, BROKER_RESOURCE, NODE_ID))
    ours, kafka = described
    assert sorted(ours) == sorted(kafka)
    assert {n: c.config_type for n, c in ours.items()} == {n: c.config_type for n, c in kafka.items()}
    # kafkapy reloads only key and trust stores at run time; its other security settings are read-only.
    security = {n for n in ours if n.startswith("ssl.") or n == "principal.builder.class"}
    assert {n: c.read_only for n, c in ours.items() if n not in security} == \
        {n: c.read_only for n, c in kafka.items() if n not in security}
    both_default = [n for n in ours if ours[n].config_source == kafka[n].config_source == DEFAULT_CONFIG]
    assert len(both_default) > (250 if resource_type == BROKER_RESOURCE else 25)
    assert {n: ours[n].value for n in both_default} == {n: kafka[n].value for n in both_default}


#: (resource, config, value, error): validate-only IncrementalAlterConfigs of broker
#: configs, as Apache Kafka 4.4.0 answers them (DynamicBrokerConfig.validateConfigs).
ALTER_CASES = [
    (NODE_ID, "sasl.kerberos.min.time.before.relogin", "70000", "NONE"),  # known, not acted on by kafkapy
    (NODE_ID, "num.io.threads", "4", "NONE"),
    (NODE_ID, "no.such.config", "7", "NONE"),  # kept: plugins read configs Kafka does not define
    (NODE_ID, "num.network.threads", "abc", "INVALID_REQUEST"),
    (NODE_ID, "num.network.threads", "0", "INVALID_REQUEST"),
    (NODE_ID, "log.dirs", "/tmp/x", "INVALID_REQUEST"),
    (NODE_ID, "advertised.listeners", "PLAINTEXT://127.0.0.1:1", "INVALID_REQUEST"),
    (NODE_ID, "node.id", "5", "INVALID_REQUEST"),
    ("", "sasl.kerberos.min.time.before.relogin", "70000", "INVALID_REQUEST"),  # per-broker only
    ("", "log.retention.ms", "bad", "INVALID_REQUEST"),
    ("", "background.threads", "5", "NONE"),
    ("", "log.retention.ms", "-5", "NONE"),
]


def test_alter_broker_configs_answers_as_kafka(side: Side) -> None:
    for resource, name, value, error in ALTER_CASES:
        assert alter(side.conn, resource, name, value, validate_only=True)[0] == error, (resource, name, value)
    assert alter(side.conn, NODE_ID, "log.dirs", "/tmp/x", validate_only=True) == (
        "INVALID_REQUEST", "Cannot update these configs dynamically: [log.dirs]")
    assert alter(side.conn, "", "sasl.kerberos.min.time.before.relogin", "1", validate_only=True) == (
        "INVALID_REQUEST", "Cannot update these configs at default cluster level, broker id must be specified: "
                           "[sasl.kerberos.min.time.before.relogin]")
    assert alter(side.conn, NODE_ID, "num.network.threads", "abc", validate_only=True) == (
        "INVALID_REQUEST", "Invalid value abc for configuration num.network.threads: Not a number of type INT")


def test_an_altered_config_kafkapy_ignores_is_shown_as_kafka_shows_it(side: Side) -> None:
    name, unknown = "sasl.kerberos.min.time.before.relogin", f"no.such.config.{uuid.uuid4().hex[:6]}"
    assert alter(side.conn, NODE_ID, name, "70000") == ("NONE", None)
    assert alter(side.conn, NODE_ID, unknown, "7") == ("NONE", None)
    try:
        def shown() -> dict[str, Any] | None:
            configs = describe(side.conn, BROKER_RESOURCE, NODE_ID)
            return configs if configs.get(name) and configs[name].value == "70000" and unknown in configs else None
        configs = side._wait(shown, "the altered configs")
        c = configs[name]
        assert (c.config_source, c.read_only, c.is_sensitive, c.config_type) == (2, False, False, 5)
        assert [(s.name, s.value, s.source) for s in c.synonyms] == [(name, "70000", 2), (name, "60000", 5)]
        u = configs[unknown]
        assert (u.value, u.config_source, u.read_only, u.config_type) == (None, 2, True, 0)
        assert [(s.name, s.value, s.source) for s in u.synonyms] == [(unknown, None, 2)]
    finally:
        assert alter(side.conn, NODE_ID, name, None, op=1) == ("NONE", None)
        assert alter(side.conn, NODE_ID, unknown, None, op=1) == ("NONE", None)


def test_a_topic_with_remote_storage_is_refused(side: Side) -> None:
    """No tiered storage in the broker (kafkapy has none): Kafka's INVALID_CONFIG."""
    answer = side.conn.request(CreateTopicsRequest(timeout_ms=30_000, validate_only=True, topics=[
        CreateTopicsRequest.CreatableTopic(name=unique("tiered"), num_partitions=1, replication_factor=1, configs=[
            CreateTopicsRequest.CreatableTopicConfig(name="remote.storage.enable", value="true")])]), 5)
    assert (ErrorCode(answer.topics[0].error_code).name, answer.topics[0].error_message) == (
        "INVALID_CONFIG", "Tiered Storage functionality is disabled in the broker. "
                          "Topic cannot be configured with remote log storage.")


def _retry(call: Callable[[], Any], busy: set[int], timeout_s: float = 30) -> Any:
    """``call()`` again while its error code says the coordinator is not ready yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = call()
        if answer.error_code not in busy or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


_LOADING = {ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.NOT_COORDINATOR,
            ErrorCode.CONCURRENT_TRANSACTIONS}


def test_txn_offset_commit_outside_the_transaction_is_refused(side: Side) -> None:
    """v0-4 are verified with the transaction coordinator (KIP-890 part 1): without
    AddOffsetsToTxn the offsets partition is not in the transaction; v5 adds it."""
    group = unique("txn-verify")
    side.coordinator_ready(group)
    T = TxnOffsetCommitRequest
    expected = {0: "INVALID_TXN_STATE", 3: "INVALID_TXN_STATE", 4: "TRANSACTION_ABORTABLE", 5: "NONE"}
    for version, error in expected.items():
        tid = unique("tx")
        _retry(lambda: side.conn.request(FindCoordinatorRequest(key=tid, key_type=1), 3), _LOADING)
        init = _retry(lambda: side.conn.request(InitProducerIdRequest(transactional_id=tid,
                                                                      transaction_timeout_ms=60_000), 4), _LOADING)
        assert init.error_code == 0

        def commit(v: int = version) -> Any:
            answer = side.conn.request(T(transactional_id=tid, group_id=group, producer_id=init.producer_id,
                                         producer_epoch=init.producer_epoch, topics=[T.TxnOffsetCommitRequestTopic(
                                             name=side.topic, partitions=[T.TxnOffsetCommitRequestPartition(
                                                 partition_index=0, committed_offset=1)])]), v)
            return SimpleNamespace(error_code=answer.topics[0].partitions[0].error_code)
        assert ErrorCode(_retry(commit, _LOADING).error_code).name == error, version
        if version < 5:
            added = _retry(lambda: side.conn.request(AddOffsetsToTxnRequest(
                transactional_id=tid, producer_id=init.producer_id, producer_epoch=init.producer_epoch,
                group_id=group), 3), _LOADING)
            assert added.error_code == 0
            assert ErrorCode(_retry(commit, _LOADING).error_code).name == "NONE", version


# --- operations too large for one metadata batch ------------------------------------------

TOO_MANY_PARTITIONS = (ErrorCode.POLICY_VIOLATION.name, "Excessively large number of partitions per request.")
TOO_MANY_ADDED = (ErrorCode.POLICY_VIOLATION.name, "Excessively large number of additional partitions per request.")
TOO_LARGE = (ErrorCode.POLICY_VIOLATION.name, "Unable to perform excessively large batch operation.")


def create(side: Side, topics: dict[str, int], *, validate_only: bool = False,
           with_config: bool = False) -> list[tuple[str, str, str | None]]:
    R = CreateTopicsRequest
    configs = [R.CreatableTopicConfig(name="retention.ms", value="86400000")] if with_config else []
    answer = side.conn.request(R(timeout_ms=30_000, validate_only=validate_only, topics=[
        R.CreatableTopic(name=name, num_partitions=n, replication_factor=1, configs=configs)
        for name, n in topics.items()]), 5)
    return [(t.name, ErrorCode(t.error_code).name, t.error_message) for t in answer.topics]


@pytest.mark.parametrize("validate_only", [True, False])
def test_create_topics_over_10000_partitions_fails_whole(side: Side, validate_only: bool) -> None:
    small, large = unique("small"), unique("large")
    assert create(side, {small: 1, large: 10_000}, validate_only=validate_only) \
        == [(small, *TOO_MANY_PARTITIONS), (large, *TOO_MANY_PARTITIONS)]
    assert side.topic_id(small) is None


def test_create_topics_of_2_31_partitions(side: Side) -> None:
    """Kafka 4.4 sums the partitions in a long (Kafka 4.1 wrapped the int and failed
    inside the controller, UNKNOWN_SERVER_ERROR)."""
    small, large = unique("small"), unique("large")
    assert create(side, {small: 1, large: 2**31 - 1}) == [(small, *TOO_MANY_PARTITIONS), (large, *TOO_MANY_PARTITIONS)]


def test_create_topics_of_10000_partitions_and_a_config_is_one_record_too_many(side: Side) -> None:
    """10,000 partitions pass the partition check; with the TopicRecord and a
    ConfigRecord the operation would write 10,002 records."""
    large = unique("large")
    assert create(side, {large: 10_000}, with_config=True) == [(large, *TOO_LARGE)]
    assert side.topic_id(large) is None


def test_create_partitions_over_10000_partitions_fails_whole(side: Side) -> None:
    """Kafka 4.4 counts the partitions a CreatePartitions request adds
    (``validateTotalNumberOfPartitions``); Kafka 4.1 failed it internally (UNKNOWN_SERVER_ERROR)."""
    from kafkapy.wire.messages.create_partitions import CreatePartitionsRequest

    answer = side.conn.request(CreatePartitionsRequest(timeout_ms=30_000, topics=[
        CreatePartitionsRequest.CreatePartitionsTopic(name=side.topic, count=10_003, assignments=None)]), 3)
    assert [(t.name, ErrorCode(t.error_code).name, t.error_message) for t in answer.results] \
        == [(side.topic, *TOO_MANY_ADDED)]
