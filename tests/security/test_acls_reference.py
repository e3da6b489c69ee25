"""ACLs against Apache Kafka 4.4.0 run with the same StandardAuthorizer and SASL settings.

Both brokers: a SASL_PLAINTEXT client listener (PLAIN users alice, bob and admin), a
PLAINTEXT inter-broker listener, ``authorizer.class.name`` = StandardAuthorizer,
``super.users=User:admin;User:ANONYMOUS`` (the plaintext inter-broker listener is a
super user, as Kafka's documentation configures it) and
``allow.everyone.if.no.acl.found`` left at false.

* ``kafka-acls`` adds, lists and removes ACLs on kafkapy (over the PLAINTEXT listener,
  as ANONYMOUS) and what it lists equals what it lists on the reference broker.
* Raw answers, compared field by field: DescribeAcls and CreateAcls of admin (valid and
  invalid bindings), DeleteAcls; and bob's unauthorized Produce, Fetch, ListOffsets,
  Metadata (named and all topics), OffsetCommit, FindCoordinator, JoinGroup,
  CreateTopics, DeleteTopics, DescribeConfigs, DescribeAcls and CreateAcls; alice's
  authorized ones where a topic ACL allows only some of what she asks.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.testing.sasl import plain_jaas_config
from kafkapy.wire.message import Message
from kafkapy.wire.messages.create_acls import CreateAclsRequest
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.delete_acls import DeleteAclsRequest
from kafkapy.wire.messages.delete_topics import DeleteTopicsRequest
from kafkapy.wire.messages.describe_acls import DescribeAclsRequest
from kafkapy.wire.messages.describe_configs import DescribeConfigsRequest
from kafkapy.wire.messages.fetch import FetchRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.join_group import JoinGroupRequest
from kafkapy.wire.messages.list_offsets import ListOffsetsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest
from kafkapy.wire.records import Record, build_batch
from tests.reference import kafka_tool, needs_reference
from tests.security.reference import reference_with_sasl

pytestmark = needs_reference

USERS = {"alice": "alice-secret", "bob": "bob-secret", "admin": "admin-secret"}
SUPER_USERS = "User:admin;User:ANONYMOUS"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
TOPIC, SECRET, GROUP = "acl-orders", "acl-secret", "acl-group"
# ResourceType TOPIC 2, GROUP 3, CLUSTER 4; PatternType ANY 1, MATCH 2, LITERAL 3, PREFIXED 4;
# AclOperation ANY 1, ALL 2, READ 3, WRITE 4, DESCRIBE 8; permission ANY 1, DENY 2, ALLOW 3.
TOPIC_T, GROUP_T, CLUSTER_T = 2, 3, 4
ANY, MATCH, LITERAL, PREFIXED = 1, 2, 3, 4
READ, WRITE, DESCRIBE, ALL = 3, 4, 8, 2
DENY, ALLOW = 2, 3


@pytest.fixture(scope="module")
def kafkapy_broker() -> Iterator[tuple[str, str]]:
    """(SASL bootstrap, PLAINTEXT bootstrap) of kafkapy with the StandardAuthorizer."""
    with Broker(sasl_users=USERS, sasl_mechanisms=["PLAIN"], super_users=SUPER_USERS.split(";")) as broker:
        host, port = broker.info.listeners["PLAINTEXT"]
        yield broker.bootstrap_servers, f"{host}:{port}"


@pytest.fixture(scope="module")
def reference_broker() -> Iterator[tuple[str, str]]:
    with reference_with_sasl({
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas_config(USERS),
        "authorizer.class.name": AUTHORIZER,
        "super.users": SUPER_USERS,
    }) as addresses:
        yield addresses


# --- helpers ---------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A message as nested dicts and lists, for readable comparisons."""
    if isinstance(value, Message):
        return {name: plain(getattr(value, name)) for name in value.__slots__}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return value


def login(address: str, user: str) -> KafkaConnection:
    conn = KafkaConnection(address)
    conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    answer = conn.request(SaslAuthenticateRequest(auth_bytes=f"\0{user}\0{USERS[user]}".encode()), 2)
    assert answer.error_code == 0, answer
    return conn


def acls_tool(plaintext: str, *args: str) -> str:
    return kafka_tool("org.apache.kafka.tools.AclCommand", "--bootstrap-server", plaintext, *args)


def wait_for_acls(conn: KafkaConnection, count: int) -> None:
    """ACLs are applied from the metadata log: wait (bounded) until ``count`` are seen."""
    for _ in range(100):
        answer = conn.request(DescribeAclsRequest(
            resource_type_filter=ANY, resource_name_filter=None, pattern_type_filter=ANY, principal_filter=None,
            host_filter=None, operation=ANY, permission_type=ANY), 3)
        if sum(len(r.acls) for r in answer.resources) == count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{count} ACLs never became visible")


def describe_filter(**fields: Any) -> DescribeAclsRequest:
    base = {"resource_type_filter": ANY, "resource_name_filter": None, "pattern_type_filter": ANY,
            "principal_filter": None, "host_filter": None, "operation": ANY, "permission_type": ANY}
    return DescribeAclsRequest(**{**base, **fields})


def sorted_resources(answer: DescribeAclsRequest) -> dict[str, Any]:
    """DescribeAcls with its resources and ACLs sorted: Kafka groups them in hash maps."""
    out = plain(answer)
    for r in out["resources"]:
        r["acls"].sort(key=lambda a: tuple(map(str, a.values())))
    out["resources"].sort(key=lambda r: (r["resource_type"], r["resource_name"], r["pattern_type"]))
    return out


def batch() -> bytes:
    return build_batch([Record(0, 0, b"k", b"v")], base_timestamp=int(time.time() * 1000))


# --- the scenario, run on each broker ---------------------------------------------------


def setup_acls(plaintext: str) -> None:
    """What kafka-acls creates on each broker before the raw requests."""
    with KafkaConnection(plaintext) as conn:
        answer = conn.request(CreateTopicsRequest(topics=[
            CreateTopicsRequest.CreatableTopic(name=name, num_partitions=1, replication_factor=1)
            for name in (TOPIC, SECRET)], timeout_ms=30_000), 7)
        assert [t.error_code for t in answer.topics] == [0, 0]
    acls_tool(plaintext, "--add", "--allow-principal", "User:alice", "--operation", "Write", "--operation", "Read",
              "--topic", TOPIC)
    acls_tool(plaintext, "--add", "--allow-principal", "User:alice", "--operation", "Read", "--group", GROUP)
    acls_tool(plaintext, "--add", "--allow-principal", "User:alice", "--operation", "Describe",
              "--topic", "acl-", "--resource-pattern-type", "prefixed")
    acls_tool(plaintext, "--add", "--deny-principal", "User:alice", "--operation", "Describe", "--topic", SECRET)
    acls_tool(plaintext, "--add", "--allow-principal", "User:alice", "--operation", "Create", "--topic", "acl-made")


def exchanges(sasl: str, plaintext: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with KafkaConnection(plaintext) as conn:  # the offsets topic exists before the group requests
        for _ in range(100):
            answer = conn.request(FindCoordinatorRequest(key_type=0, coordinator_keys=[GROUP]), 4)
            if answer.coordinators[0].error_code == 0:
                break
            time.sleep(0.1)
    with login(sasl, "admin") as admin:
        wait_for_acls(admin, 6)
        out["describe all"] = sorted_resources(admin.request(describe_filter(), 3))
        out["describe match"] = sorted_resources(admin.request(describe_filter(
            resource_type_filter=TOPIC_T, resource_name_filter=TOPIC, pattern_type_filter=MATCH), 3))
        out["describe literal"] = sorted_resources(admin.request(describe_filter(
            resource_type_filter=TOPIC_T, resource_name_filter=TOPIC, pattern_type_filter=LITERAL), 3))
        out["describe principal"] = sorted_resources(admin.request(describe_filter(
            principal_filter="User:alice", operation=READ), 2))
        creation = CreateAclsRequest.AclCreation
        out["create"] = plain(admin.request(CreateAclsRequest(creations=[
            creation(resource_type=TOPIC_T, resource_name="tmp", resource_pattern_type=LITERAL,
                     principal="User:carol", host="*", operation=READ, permission_type=ALLOW),
            creation(resource_type=CLUSTER_T, resource_name="not-the-cluster", resource_pattern_type=LITERAL,
                     principal="User:carol", host="*", operation=ALL, permission_type=ALLOW),
            creation(resource_type=TOPIC_T, resource_name="", resource_pattern_type=LITERAL,
                     principal="User:carol", host="*", operation=READ, permission_type=ALLOW),
        ]), 3))
        # a filter value (MATCH, ANY) in a binding fails the whole request
        out["create with a filter value"] = plain(admin.request(CreateAclsRequest(creations=[
            creation(resource_type=TOPIC_T, resource_name="tmp2", resource_pattern_type=LITERAL,
                     principal="User:carol", host="*", operation=READ, permission_type=ALLOW),
            creation(resource_type=TOPIC_T, resource_name="tmp", resource_pattern_type=MATCH,
                     principal="User:carol", host="*", operation=READ, permission_type=ALLOW)]), 3))
        wait_for_acls(admin, 6 + 1)
        deleted = admin.request(DeleteAclsRequest(filters=[DeleteAclsRequest.DeleteAclsFilter(
            resource_type_filter=ANY, resource_name_filter=None, pattern_type_filter=ANY,
            principal_filter="User:carol", host_filter=None, operation=ANY, permission_type=ANY),
            DeleteAclsRequest.DeleteAclsFilter(
            resource_type_filter=TOPIC_T, resource_name_filter="nothing-here", pattern_type_filter=LITERAL,
            principal_filter=None, host_filter=None, operation=ANY, permission_type=ANY)]), 3)
        out["delete"] = plain(deleted)
        # offsets of both topics in GROUP, for the OffsetFetch of every topic below
        answer = admin.request(OffsetCommitRequest(group_id=GROUP, generation_id_or_member_epoch=-1, member_id="",
                                                   topics=[OffsetCommitRequest.OffsetCommitRequestTopic(
                                                       name=name, partitions=[
                                                           OffsetCommitRequest.OffsetCommitRequestPartition(
                                                               partition_index=0, committed_offset=1)])
                                                       for name in (TOPIC, SECRET)]), 8)
        assert [p.error_code for t in answer.topics for p in t.partitions] == [0, 0]
        wait_for_acls(admin, 6)
    with KafkaConnection(sasl) as conn:  # a request in the middle of the SASL exchange
        conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
        out["metadata mid-exchange"] = plain(conn.request(MetadataRequest(topics=[
            MetadataRequest.MetadataRequestTopic(name=TOPIC)]), 12))
    with login(sasl, "bob") as bob:
        out.update(unauthorized(bob, "bob"))
        out.update(more_apis(bob, "bob"))
    with login(sasl, "alice") as alice:
        out.update(unauthorized(alice, "alice"))
        out.update(more_apis(alice, "alice"))
        made = plain(alice.request(CreateTopicsRequest(topics=[
            CreateTopicsRequest.CreatableTopic(name="acl-made", num_partitions=1, replication_factor=1)],
            timeout_ms=10_000), 7))
        for t in made["topics"]:
            t["topic_id"] = "set" if t["topic_id"] != bytes(16) else t["topic_id"]
        out["alice creates without describe configs"] = made
    return out


def unauthorized(conn: KafkaConnection, who: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    produce = ProduceRequest(acks=-1, timeout_ms=10_000, topic_data=[
        ProduceRequest.TopicProduceData(name=name, partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=batch())]) for name in (TOPIC, SECRET)])
    answer = plain(conn.request(produce, 9))
    for t in answer["responses"]:
        for p in t["partition_responses"]:
            if p["error_code"] == 0:
                p["base_offset"] = p["log_append_time_ms"] = "set"
    out[f"{who} produce"] = sorted(answer["responses"], key=lambda t: t["name"])
    fetch = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                         session_id=0, session_epoch=-1, topics=[
                             FetchRequest.FetchTopic(topic=name, partitions=[FetchRequest.FetchPartition(
                                 partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])
                             for name in (TOPIC, SECRET)])
    answer = plain(conn.request(fetch, 12))
    for t in answer["responses"]:
        for p in t["partitions"]:
            p["records"] = "some" if p["records"] else p["records"]
            if p["error_code"] == 0:
                p["high_watermark"] = p["last_stable_offset"] = "set"
    answer["responses"].sort(key=lambda t: t["topic"])
    answer["session_id"] = 0
    out[f"{who} fetch"] = answer
    out[f"{who} list offsets"] = sorted(plain(conn.request(ListOffsetsRequest(replica_id=-1, topics=[
        ListOffsetsRequest.ListOffsetsTopic(name=name, partitions=[
            ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=-2)])
        for name in (TOPIC, SECRET)]), 7))["topics"], key=lambda t: t["name"])
    metadata = plain(conn.request(MetadataRequest(topics=[
        MetadataRequest.MetadataRequestTopic(name=name) for name in (TOPIC, SECRET, "acl-new", "other-new")],
        allow_auto_topic_creation=True, include_topic_authorized_operations=True), 12))
    out[f"{who} metadata named"] = _metadata_view(metadata)
    metadata = plain(conn.request(MetadataRequest(topics=None, allow_auto_topic_creation=False,
                                                  include_topic_authorized_operations=True), 12))
    out[f"{who} metadata all"] = _metadata_view(metadata)
    commit = OffsetCommitRequest(group_id=GROUP, generation_id_or_member_epoch=-1, member_id="", topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name=name, partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0, committed_offset=0)])
        for name in (TOPIC, SECRET)])
    answer = plain(conn.request(commit, 8))
    out[f"{who} offset commit"] = sorted(answer["topics"], key=lambda t: t["name"])
    out[f"{who} find coordinator"] = plain(conn.request(FindCoordinatorRequest(
        key_type=0, coordinator_keys=[GROUP, "other-group"]), 4))["coordinators"]
    for c in out[f"{who} find coordinator"]:
        c["port"] = c["host"] = "set" if c["error_code"] == 0 else c["port"]
    out[f"{who} join other group"] = plain(conn.request(JoinGroupRequest(
        group_id="other-group", session_timeout_ms=10_000, rebalance_timeout_ms=10_000, member_id="",
        protocol_type="consumer", protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")]),
        7))
    out[f"{who} create topics"] = plain(conn.request(CreateTopicsRequest(topics=[
        CreateTopicsRequest.CreatableTopic(name="acl-created", num_partitions=1, replication_factor=1)],
        timeout_ms=10_000), 7))
    out[f"{who} delete topics"] = plain(conn.request(DeleteTopicsRequest(topic_names=[SECRET], timeout_ms=10_000), 5))
    out[f"{who} describe configs"] = plain(conn.request(DescribeConfigsRequest(resources=[
        DescribeConfigsRequest.DescribeConfigsResource(resource_type=2, resource_name=SECRET, configuration_keys=None),
        DescribeConfigsRequest.DescribeConfigsResource(resource_type=4, resource_name="1",
                                                       configuration_keys=None)]), 4))
    described = plain(conn.request(describe_filter(), 3))
    described["error_message"] = needs_permission(described["error_message"])
    out[f"{who} describe acls"] = described
    created = plain(conn.request(CreateAclsRequest(creations=[CreateAclsRequest.AclCreation(
        resource_type=TOPIC_T, resource_name="x", resource_pattern_type=LITERAL, principal="User:bob", host="*",
        operation=READ, permission_type=ALLOW)]), 3))
    for r in created["results"]:
        r["error_message"] = needs_permission(r["error_message"])
    out[f"{who} create acls"] = created
    return out


def more_apis(conn: KafkaConnection, who: str) -> dict[str, Any]:
    """Further APIs, each with its own check and its own error shape."""
    from kafkapy.wire.messages import (
        consumer_group_heartbeat,
        create_partitions,
        delete_groups,
        delete_records,
        describe_cluster,
        describe_groups,
        describe_producers,
        describe_transactions,
        elect_leaders,
        end_txn,
        incremental_alter_configs,
        init_producer_id,
        list_groups,
        list_partition_reassignments,
        offset_fetch,
        offset_for_leader_epoch,
    )

    def ask(name: str, request: Any, version: int) -> None:
        out[f"{who} {name}"] = without_request_dumps(plain(conn.request(request, version)))

    out: dict[str, Any] = {}
    m = init_producer_id.InitProducerIdRequest
    ask("init producer id idempotent", m(transactional_id=None, transaction_timeout_ms=60_000), 4)
    if out[f"{who} init producer id idempotent"]["error_code"] != 31:  # allowed: the rest is not about ACLs
        out[f"{who} init producer id idempotent"] = "authorized"
    ask("init producer id transactional", m(transactional_id="tx-1", transaction_timeout_ms=60_000), 4)
    ask("end txn", end_txn.EndTxnRequest(transactional_id="tx-1", producer_id=1, producer_epoch=0,
                                         committed=True), 3)
    ask("delete groups", delete_groups.DeleteGroupsRequest(groups_names=[GROUP, "other-group"]), 2)
    ask("describe groups", describe_groups.DescribeGroupsRequest(groups=["other-group"],
                                                                 include_authorized_operations=True), 5)
    ask("list groups", list_groups.ListGroupsRequest(), 4)
    of = offset_fetch.OffsetFetchRequest
    ask("offset fetch v7", of(group_id="other-group", topics=None), 7)
    ask("offset fetch v7 all topics", of(group_id=GROUP, topics=None), 7)
    ask("offset fetch v7 named", of(group_id=GROUP, topics=[
        of.OffsetFetchRequestTopic(name=name, partition_indexes=[0]) for name in (TOPIC, SECRET)]), 7)
    ask("offset fetch v8 all topics", of(groups=[of.OffsetFetchRequestGroup(group_id=GROUP, topics=None)]), 8)
    ask("offset fetch v8", of(groups=[of.OffsetFetchRequestGroup(group_id="other-group", topics=None)]), 8)
    dr = delete_records.DeleteRecordsRequest
    ask("delete records", dr(topics=[dr.DeleteRecordsTopic(name=SECRET, partitions=[
        dr.DeleteRecordsPartition(partition_index=0, offset=0)])], timeout_ms=10_000), 2)
    cp = create_partitions.CreatePartitionsRequest
    ask("create partitions", cp(topics=[cp.CreatePartitionsTopic(name=SECRET, count=2, assignments=None)],
                                timeout_ms=10_000), 3)
    ia = incremental_alter_configs.IncrementalAlterConfigsRequest
    ask("incremental alter configs", ia(resources=[
        ia.AlterConfigsResource(resource_type=2, resource_name=SECRET, configs=[
            ia.AlterableConfig(name="retention.ms", config_operation=0, value="1000")]),
        ia.AlterConfigsResource(resource_type=4, resource_name="", configs=[
            ia.AlterableConfig(name="log.cleaner.backoff.ms", config_operation=0, value="1000")])]), 1)
    el = elect_leaders.ElectLeadersRequest
    ask("elect leaders", el(election_type=0, topic_partitions=[el.TopicPartitions(topic=SECRET, partitions=[0])],
                            timeout_ms=10_000), 2)
    ask("list reassignments", list_partition_reassignments.ListPartitionReassignmentsRequest(
        timeout_ms=10_000, topics=None), 0)
    for asked in (True, False):
        answer = conn.request(describe_cluster.DescribeClusterRequest(include_cluster_authorized_operations=asked), 1)
        out[f"{who} describe cluster {asked}"] = (answer.error_code, answer.cluster_authorized_operations)
    ol = offset_for_leader_epoch.OffsetForLeaderEpochRequest
    ask("offset for leader epoch", ol(replica_id=-1, topics=[ol.OffsetForLeaderTopic(topic=SECRET, partitions=[
        ol.OffsetForLeaderPartition(partition=0, current_leader_epoch=-1, leader_epoch=0)])]), 4)
    ask("describe producers", describe_producers.DescribeProducersRequest(topics=[
        describe_producers.DescribeProducersRequest.TopicRequest(name=SECRET, partition_indexes=[0])]), 0)
    ask("describe transactions", describe_transactions.DescribeTransactionsRequest(transactional_ids=["tx-1"]), 0)
    hb = consumer_group_heartbeat.ConsumerGroupHeartbeatRequest
    for group in (GROUP, "other-group"):
        answer = without_request_dumps(plain(conn.request(hb(
            group_id=group, member_id=uuid.uuid4().hex[:22], member_epoch=0, rebalance_timeout_ms=30_000,
            subscribed_topic_names=[TOPIC, SECRET], topic_partitions=[]), 0)))
        if answer["error_code"] == 0:  # allowed: the assignment is not about ACLs
            answer = "authorized"
        out[f"{who} consumer group heartbeat {group}"] = answer
    return out


def without_request_dumps(value: Any) -> Any:
    """``value`` with every error message passed through :func:`needs_permission`."""
    if isinstance(value, dict):
        return {k: needs_permission(v) if k == "error_message" else without_request_dumps(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_request_dumps(v) for v in value]
    return value


def needs_permission(message: str | None) -> str | None:
    """A CLUSTER_AUTHORIZATION_FAILED message without the Java request dump Kafka puts
    in it: "Request Request(processor=4, ...) needs DESCRIBE permission." -> "needs
    DESCRIBE permission."."""
    match = re.fullmatch(r"Request .* (needs \w+ permission\.)", message or "", re.DOTALL)
    return match.group(1) if match else message


def _metadata_view(answer: dict[str, Any]) -> list[Any]:
    """The topics of a Metadata answer without what differs between any two clusters
    (ids, broker ids, internal topics), sorted by name, and only the test's topics."""
    topics = []
    for t in answer["topics"]:
        if t["name"] is not None and not t["name"].startswith("acl-") and not t["name"].startswith("other-"):
            continue
        topics.append({"name": t["name"], "error_code": t["error_code"], "is_internal": t["is_internal"],
                       "partitions": len(t["partitions"]), "ops": t["topic_authorized_operations"]})
    return sorted(topics, key=lambda t: t["name"] or "")


def test_kafka_acls_adds_lists_and_removes(kafkapy_broker: tuple[str, str],
                                           reference_broker: tuple[str, str]) -> None:
    listed = []
    for _, plaintext in (kafkapy_broker, reference_broker):
        acls_tool(plaintext, "--add", "--allow-principal", "User:carol", "--allow-host", "10.0.0.1",
                  "--operation", "Read", "--operation", "Describe", "--topic", "carol-", "--resource-pattern-type",
                  "prefixed")
        acls_tool(plaintext, "--add", "--deny-principal", "User:carol", "--operation", "Alter", "--cluster")
        out = acls_tool(plaintext, "--list", "--principal", "User:carol")
        listed.append(sorted(line.strip() for line in out.splitlines() if line.strip()))
        acls_tool(plaintext, "--remove", "--force", "--allow-principal", "User:carol", "--allow-host", "10.0.0.1",
                  "--operation", "Read", "--operation", "Describe", "--topic", "carol-", "--resource-pattern-type",
                  "prefixed")
        acls_tool(plaintext, "--remove", "--force", "--deny-principal", "User:carol", "--operation", "Alter",
                  "--cluster")
        assert "User:carol" not in acls_tool(plaintext, "--list")
    ours, theirs = listed
    assert any("(principal=User:carol, host=10.0.0.1, operation=READ, permissionType=ALLOW)" in line
               for line in ours), ours
    assert any("operation=ALTER, permissionType=DENY" in line for line in ours), ours
    assert ours == theirs


def test_acl_answers_match_apache_kafka(kafkapy_broker: tuple[str, str], reference_broker: tuple[str, str]) -> None:
    setup_acls(kafkapy_broker[1])
    setup_acls(reference_broker[1])
    ours, theirs = exchanges(*kafkapy_broker), exchanges(*reference_broker)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key] == theirs[key], key


def test_kafka_acls_producer_and_consumer_shortcuts(kafkapy_broker: tuple[str, str],
                                                    reference_broker: tuple[str, str]) -> None:
    """``--producer`` (WRITE, DESCRIBE, CREATE on the topic; with ``--transactional-id``
    WRITE and DESCRIBE on it; with ``--idempotent`` IDEMPOTENT_WRITE on the cluster) and
    ``--consumer`` (READ, DESCRIBE on the topic, READ on the group), listed per resource
    and removed with a resource filter, as on Apache Kafka."""
    listed = []
    for _, plaintext in (kafkapy_broker, reference_broker):
        acls_tool(plaintext, "--add", "--allow-principal", "User:dave", "--producer", "--topic", "dave-t",
                  "--transactional-id", "dave-tx", "--idempotent")
        acls_tool(plaintext, "--add", "--allow-principal", "User:dave", "--consumer", "--topic", "dave-t",
                  "--group", "dave-g")
        out = acls_tool(plaintext, "--list", "--topic", "dave-t")
        out += acls_tool(plaintext, "--list", "--principal", "User:dave")
        listed.append(sorted(line.strip() for line in out.splitlines() if line.strip()))
        for resource in (("--topic", "dave-t"), ("--group", "dave-g"), ("--transactional-id", "dave-tx"),
                         ("--cluster",)):
            acls_tool(plaintext, "--remove", "--force", *resource)
        assert "User:dave" not in acls_tool(plaintext, "--list")
    ours, theirs = listed
    for operation in ("WRITE", "CREATE", "READ", "IDEMPOTENT_WRITE"):
        assert any(f"operation={operation}, permissionType=ALLOW" in line for line in ours), (operation, ours)
    assert ours == theirs
