"""The share-group and streams-group corpus of the oracle (``--share-streams``).

Played against Apache Kafka 4.4.0 (the first release that finalizes share.version and
streams.version on a new cluster) and kafkapy, both started with :data:`CONFIG`.
kafka-python has no classes for these APIs: the requests are kafkapy's generated
messages (Kafka 4.4's JSON schemas), wrapped in :class:`~compat_tests.oracle.Native`.
Member ids are chosen by the client (KIP-932, KIP-1071), so both brokers see the same;
topic ids differ and are taken from each broker's own CreateTopics answer.

A share group goes through its life: group configs, heartbeats (join, assignment,
invalid, fenced, unknown member, a topic that does not exist), the describe APIs on it,
a share session (open, acknowledge ACCEPT/RELEASE/REJECT, a record not acquired, the
released record redelivered, a bad session epoch, an unknown topic id, close), the
offsets APIs while it has a member and once it is empty, and the share-state APIs of
the share coordinator. A streams group joins with a topology whose changelog topic is
missing, has it created (its metadata and configs compared), gets its tasks, is fenced,
describes, and leaves.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from kafka.protocol.admin import DescribeConfigsRequest, IncrementalAlterConfigsRequest

from compat_tests.native_requests import Native
from compat_tests.oracle import (
    Step,
    _coordinator_ready,
    _describe_configs,
    _find_coordinator,
    _group_coordinator_answered,
    _metadata,
    _produce,
    _topic_listed,
    build,
)
from kafkapy.wire.messages.alter_share_group_offsets import AlterShareGroupOffsetsRequest
from kafkapy.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from kafkapy.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.delete_share_group_offsets import DeleteShareGroupOffsetsRequest
from kafkapy.wire.messages.delete_share_group_state import DeleteShareGroupStateRequest
from kafkapy.wire.messages.describe_groups import DescribeGroupsRequest
from kafkapy.wire.messages.describe_share_group_offsets import DescribeShareGroupOffsetsRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.initialize_share_group_state import InitializeShareGroupStateRequest
from kafkapy.wire.messages.list_groups import ListGroupsRequest
from kafkapy.wire.messages.read_share_group_state import ReadShareGroupStateRequest
from kafkapy.wire.messages.read_share_group_state_summary import ReadShareGroupStateSummaryRequest
from kafkapy.wire.messages.share_acknowledge import ShareAcknowledgeRequest
from kafkapy.wire.messages.share_fetch import ShareFetchRequest
from kafkapy.wire.messages.share_group_describe import ShareGroupDescribeRequest
from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest
from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeRequest
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest as Streams
from kafkapy.wire.messages.write_share_group_state import WriteShareGroupStateRequest

#: The first Apache Kafka release that finalizes share.version and streams.version on a new cluster.
VERSION = "4.4.0"
#: Settings of both brokers: no initial delay before a new streams group's first assignment.
CONFIG: dict[str, str] = {"offsets.topic.num.partitions": "1", "group.streams.initial.rebalance.delay.ms": "0"}
#: Kafka's own settings: a share or streams assignment is computed in the heartbeat that
#: needs it, as kafkapy does (kafkapy has no assignment interval or offloaded assignor
#: to configure).
KAFKA_ONLY = {"group.share.assignment.interval.ms": "0", "group.share.assignor.offload.enable": "false",
              "group.streams.assignment.interval.ms": "0", "group.streams.assignor.offload.enable": "false"}

SHARE_TOPIC, MISSING_TOPIC = "oracle-share", "oracle-share-nowhere"
SHARE_GROUP, SHARE_OTHER, STATE_GROUP = "oracle-share-group", "oracle-share-other", "oracle-share-state"
CONSUMER_GROUP, UNKNOWN_GROUP = "oracle-consumer-group", "oracle-unknown-group"
SOURCE_TOPIC, STREAMS_GROUP = "oracle-streams-source", "oracle-streams-app"
STREAMS_CONFIGURED = "oracle-streams-configured"  # streams.* group configs set
CHANGELOG = f"{STREAMS_GROUP}-store-changelog"
# Client-chosen member ids, in the form of Kafka's Uuid.toString (22 url-safe base64 characters).
MEMBER, OTHER_MEMBER, GHOST = "oracleShareMember00001", "oracleShareMember00002", "oracleGhostMember00009"
CONSUMER_MEMBER, STREAMS_MEMBER = "oracleConsumerMember01", "oracleStreamsMember001"
#: A topic id neither broker has.
UNKNOWN_TOPIC_ID = bytes(range(1, 17))
#: ConfigResource.Type.GROUP; ShareFetch AcknowledgeType ACCEPT, RELEASE, REJECT (KIP-932).
_GROUP_RESOURCE, _ACCEPT, _RELEASE, _REJECT = 32, 1, 2, 3


def _step(name: str, request: Callable[[dict], Any], keep: Callable[[dict, dict], None] | None = None,
          **kwargs: Any) -> Step:
    """A step whose request reads the broker's context (see ``Step.keep``)."""
    return Step(name, request, keep=keep or (lambda response, context: None), **kwargs)


def _create_topic(name: str, partitions: int) -> Native:
    return Native(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=1, assignments=[], configs=[])],
        timeout_ms=10000, validate_only=False), 7)


def _keep_topic_id(key: str) -> Callable[[dict, dict], None]:
    def keep(response: dict, context: dict) -> None:
        context[key] = response["topics"][0]["topic_id"]
    return keep


def _alter_group_configs(group: str, configs: dict[str, str]) -> Any:
    return build(IncrementalAlterConfigsRequest, {"resources": [
        {"resource_type": _GROUP_RESOURCE, "resource_name": group,
         "configs": [{"name": k, "config_operation": 0, "value": v} for k, v in configs.items()]}],
        "validate_only": False}, 1)


def _describe_group_configs(group: str, names: list[str] | None) -> Any:
    return build(DescribeConfigsRequest, {
        "resources": [{"resource_type": _GROUP_RESOURCE, "resource_name": group, "configuration_keys": names}],
        "include_synonyms": True, "include_documentation": False}, 4)


def _share_heartbeat(group: str, member: str, epoch: int, topics: list[str] | None = None) -> Native:
    return Native(ShareGroupHeartbeatRequest(group_id=group, member_id=member, member_epoch=epoch, rack_id=None,
                                             subscribed_topic_names=topics), 1)


def _keep_epoch(key: str) -> Callable[[dict, dict], None]:
    def keep(response: dict, context: dict) -> None:
        if response["error_code"] == 0:
            context[key] = response["member_epoch"]
    return keep


def _assigned(response: dict) -> bool:
    return response["error_code"] != 0 or bool(response["assignment"] and response["assignment"]["topic_partitions"])


def _share_fetch(context: dict, epoch: int, topic_id: bytes | None = None, max_wait_ms: int = 5000) -> Native:
    partition = ShareFetchRequest.FetchPartition(partition_index=0, partition_max_bytes=1 << 20,
                                                 acknowledgement_batches=[])
    return Native(ShareFetchRequest(
        group_id=SHARE_GROUP, member_id=MEMBER, share_session_epoch=epoch, max_wait_ms=max_wait_ms, min_bytes=1,
        max_bytes=1 << 20, max_records=500, batch_size=500, share_acquire_mode=0, is_renew_ack=False,
        topics=[ShareFetchRequest.FetchTopic(topic_id=topic_id or context["share_topic_id"], partitions=[partition])],
        forgotten_topics_data=[]), 2)


def _acknowledge(context: dict, epoch: int, offset: int, kind: int) -> Native:
    batch = ShareAcknowledgeRequest.AcknowledgementBatch(first_offset=offset, last_offset=offset,
                                                         acknowledge_types=[kind])
    return Native(ShareAcknowledgeRequest(
        group_id=SHARE_GROUP, member_id=MEMBER, share_session_epoch=epoch, is_renew_ack=False,
        topics=[ShareAcknowledgeRequest.AcknowledgeTopic(topic_id=context["share_topic_id"], partitions=[
            ShareAcknowledgeRequest.AcknowledgePartition(partition_index=0, acknowledgement_batches=[batch])])]), 2)


def _describe_offsets(topics: tuple[str, ...] | None = (SHARE_TOPIC,)) -> Native:
    D = DescribeShareGroupOffsetsRequest
    wanted = None if topics is None else [D.DescribeShareGroupOffsetsRequestTopic(topic_name=t, partitions=[0])
                                          for t in topics]
    return Native(D(groups=[D.DescribeShareGroupOffsetsRequestGroup(group_id=SHARE_GROUP, topics=wanted),
                            D.DescribeShareGroupOffsetsRequestGroup(group_id=UNKNOWN_GROUP, topics=wanted)]), 1)


def _alter_offsets(start_offset: int) -> Native:
    A = AlterShareGroupOffsetsRequest
    return Native(A(group_id=SHARE_GROUP, topics=[A.AlterShareGroupOffsetsRequestTopic(topic_name=t, partitions=[
        A.AlterShareGroupOffsetsRequestPartition(partition_index=0, start_offset=start_offset)])
        for t in (SHARE_TOPIC, MISSING_TOPIC)]), 0)


def _delete_offsets() -> Native:
    D = DeleteShareGroupOffsetsRequest
    return Native(D(group_id=SHARE_GROUP, topics=[D.DeleteShareGroupOffsetsRequestTopic(topic_name=t)
                                                  for t in (SHARE_TOPIC, MISSING_TOPIC)]), 0)


def _share_state_key(context: dict) -> str:
    """The share coordinator's key of a share-partition: ``group:topicId:partition``
    (SharePartitionKey.asCoordinatorKey), the topic id as Uuid.toString prints it."""
    topic_id = base64.urlsafe_b64encode(context["share_topic_id"]).decode().rstrip("=")
    return f"{STATE_GROUP}:{topic_id}:0"


def _state_request(kind: str, context: dict) -> Native:
    """One of the share coordinator's state RPCs (KIP-932, sent by brokers; CLUSTER_ACTION)
    for partition 0 of the share topic in STATE_GROUP."""
    topic_id = context["share_topic_id"]
    if kind == "initialize":
        R: Any = InitializeShareGroupStateRequest
        return Native(R(group_id=STATE_GROUP, topics=[R.InitializeStateData(topic_id=topic_id, partitions=[
            R.PartitionData(partition=0, state_epoch=1, start_offset=0)])]), 0)
    if kind == "write":
        R = WriteShareGroupStateRequest
        return Native(R(group_id=STATE_GROUP, topics=[R.WriteStateData(topic_id=topic_id, partitions=[
            R.PartitionData(partition=0, state_epoch=1, leader_epoch=0, start_offset=1, delivery_complete_count=1,
                            state_batches=[R.StateBatch(first_offset=1, last_offset=2, delivery_state=2,
                                                        delivery_count=1)])])]), 1)
    if kind == "delete":
        R = DeleteShareGroupStateRequest
        return Native(R(group_id=STATE_GROUP, topics=[R.DeleteStateData(
            topic_id=topic_id, partitions=[R.PartitionData(partition=0)])]), 0)
    R = ReadShareGroupStateSummaryRequest if kind == "summary" else ReadShareGroupStateRequest
    data = R.ReadStateSummaryData if kind == "summary" else R.ReadStateData
    return Native(R(group_id=STATE_GROUP, topics=[data(topic_id=topic_id, partitions=[
        R.PartitionData(partition=0, leader_epoch=0)])]), 1 if kind == "summary" else 0)


def _list_groups(kind: str) -> Native:
    return Native(ListGroupsRequest(states_filter=[], types_filter=[kind]), 5)


def _listed(group: str) -> Callable[[dict], bool]:
    return lambda response: any(g["group_id"] == group for g in response["groups"])


def _topology(changelog: str = CHANGELOG) -> Streams.Topology:
    return Streams.Topology(epoch=0, subtopologies=[Streams.Subtopology(
        subtopology_id="0", source_topics=[SOURCE_TOPIC], source_topic_regex=[], repartition_sink_topics=[],
        repartition_source_topics=[], copartition_groups=[],
        state_changelog_topics=[Streams.TopicInfo(name=changelog, partitions=0, replication_factor=0, topic_configs=[
            Streams.KeyValue(key="cleanup.policy", value="compact")])])])


def _streams_heartbeat(member: str, epoch: int, topology: Streams.Topology | None = None,
                       group: str = STREAMS_GROUP) -> Native:
    joining = epoch == 0
    return Native(Streams(
        group_id=group, member_id=member, member_epoch=epoch, endpoint_information_epoch=0, instance_id=None,
        rack_id=None, rebalance_timeout_ms=30000 if joining else -1, topology=topology,
        active_tasks=[] if joining else None, standby_tasks=[] if joining else None,
        warmup_tasks=[] if joining else None, process_id="oracle-process" if joining else None,
        user_endpoint=None, client_tags=[] if joining else None, task_offsets=None, task_end_offsets=None,
        shutdown_application=False), 0)


def _streams_tasks(response: dict) -> bool:
    return response["error_code"] != 0 or bool(response["active_tasks"])


def _groups(kind: str, ids: list[str]) -> Native:
    if kind == "share":
        return Native(ShareGroupDescribeRequest(group_ids=ids, include_authorized_operations=False), 1)
    if kind == "streams":
        return Native(StreamsGroupDescribeRequest(group_ids=ids, include_authorized_operations=False,
                                                  include_topology_description=False), 0)
    if kind == "consumer":
        return Native(ConsumerGroupDescribeRequest(group_ids=ids, include_authorized_operations=False), 1)
    return Native(DescribeGroupsRequest(groups=ids, include_authorized_operations=False), 6)


SHARE_CORPUS: list[Step] = [
    _step("share_create_topic", lambda c: _create_topic(SHARE_TOPIC, 1), keep=_keep_topic_id("share_topic_id")),
    Step("share_topic_metadata", lambda: _metadata(SHARE_TOPIC), until=_topic_listed),
    Step("share_produce", lambda: _produce(0, topic=SHARE_TOPIC)),
    Step("group_configs_share_valid", lambda: _alter_group_configs(SHARE_GROUP, {
        "share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "20000"})),
    Step("group_configs_share_out_of_range", lambda: _alter_group_configs(SHARE_OTHER, {
        "share.record.lock.duration.ms": "1000"})),
    Step("group_configs_streams_valid", lambda: _alter_group_configs(STREAMS_CONFIGURED, {
        "streams.num.standby.replicas": "1", "streams.heartbeat.interval.ms": "6000"})),
    Step("group_configs_streams_out_of_range", lambda: _alter_group_configs(STREAMS_CONFIGURED, {
        "streams.num.standby.replicas": "7"})),
    Step("describe_configs_share_group", lambda: _describe_group_configs(SHARE_GROUP, [
        "share.auto.offset.reset", "share.record.lock.duration.ms", "share.session.timeout.ms"])),
    Step("describe_configs_streams_group", lambda: _describe_group_configs(STREAMS_CONFIGURED, [
        "streams.num.standby.replicas", "streams.heartbeat.interval.ms", "streams.session.timeout.ms"])),
    Step("describe_configs_group_all", lambda: _describe_group_configs(SHARE_GROUP, None)),
    Step("find_coordinator_share_group", lambda: _find_coordinator(key=SHARE_GROUP), until=_coordinator_ready),
    Step("share_heartbeat_invalid_group_id", lambda: _share_heartbeat("", MEMBER, 0, [SHARE_TOPIC])),
    Step("share_heartbeat_unknown_group", lambda: _share_heartbeat(SHARE_GROUP, GHOST, 3),
         until=_group_coordinator_answered),
    _step("share_heartbeat_join", lambda c: _share_heartbeat(SHARE_GROUP, MEMBER, 0, [SHARE_TOPIC]),
          keep=_keep_epoch("share_epoch"), until=_group_coordinator_answered),
    _step("share_heartbeat_assignment", lambda c: _share_heartbeat(SHARE_GROUP, MEMBER, c["share_epoch"],
                                                                   [SHARE_TOPIC]),  # full: with the assignment
          keep=_keep_epoch("share_epoch"), until=_assigned),
    Step("share_heartbeat_topic_missing", lambda: _share_heartbeat(SHARE_OTHER, OTHER_MEMBER, 0, [MISSING_TOPIC])),
    Step("share_heartbeat_bad_epoch", lambda: _share_heartbeat(SHARE_GROUP, MEMBER, 99)),
    Step("share_heartbeat_unknown_member", lambda: _share_heartbeat(SHARE_GROUP, GHOST, 1)),
    Step("consumer_group_heartbeat_join", lambda: Native(ConsumerGroupHeartbeatRequest(
        group_id=CONSUMER_GROUP, member_id=CONSUMER_MEMBER, member_epoch=0, instance_id=None, rack_id=None,
        rebalance_timeout_ms=30000, subscribed_topic_names=[SHARE_TOPIC], subscribed_topic_regex=None,
        server_assignor=None, topic_partitions=[]), 1), until=_group_coordinator_answered),
    Step("share_group_describe", lambda: _groups("share", [SHARE_GROUP, UNKNOWN_GROUP, CONSUMER_GROUP])),
    Step("list_groups_share", lambda: _list_groups("share"), until=_listed(SHARE_OTHER)),
    Step("describe_groups_share_group", lambda: _groups("classic", [SHARE_GROUP])),
    Step("consumer_group_describe_share_group", lambda: _groups("consumer", [SHARE_GROUP])),
    _step("share_fetch_open_session", lambda c: _share_fetch(c, 0), kept_connection=True),
    _step("share_acknowledge_accept", lambda c: _acknowledge(c, 1, 0, _ACCEPT), kept_connection=True),
    _step("share_acknowledge_release", lambda c: _acknowledge(c, 2, 1, _RELEASE), kept_connection=True),
    _step("share_acknowledge_not_acquired", lambda c: _acknowledge(c, 3, 1, _ACCEPT), kept_connection=True),
    _step("share_acknowledge_reject", lambda c: _acknowledge(c, 4, 2, _REJECT), kept_connection=True),
    _step("share_acknowledge_below_start_offset", lambda c: _acknowledge(c, 5, 0, _ACCEPT), kept_connection=True),
    _step("share_fetch_redelivered", lambda c: _share_fetch(c, 6), kept_connection=True),
    _step("share_fetch_bad_session_epoch", lambda c: _share_fetch(c, 42, max_wait_ms=0), kept_connection=True),
    _step("share_fetch_unknown_topic_id", lambda c: _share_fetch(c, 7, UNKNOWN_TOPIC_ID, max_wait_ms=0),
          kept_connection=True),
    _step("share_acknowledge_close_session", lambda c: _acknowledge(c, -1, 1, _ACCEPT), kept_connection=True),
    _step("share_fetch_after_close", lambda c: _share_fetch(c, 8, max_wait_ms=0), kept_connection=True),
    Step("describe_share_group_offsets", lambda: _describe_offsets()),
    Step("describe_share_group_offsets_all_topics", lambda: _describe_offsets(None)),
    Step("alter_share_group_offsets_with_member", lambda: _alter_offsets(0)),
    Step("delete_share_group_offsets_with_member", _delete_offsets),
    _step("share_heartbeat_leave", lambda c: _share_heartbeat(SHARE_GROUP, MEMBER, -1)),
    Step("share_heartbeat_after_leave", lambda: _share_heartbeat(SHARE_GROUP, MEMBER, 1)),
    Step("alter_share_group_offsets", lambda: _alter_offsets(1)),
    Step("describe_share_group_offsets_altered", lambda: _describe_offsets()),
    Step("delete_share_group_offsets", _delete_offsets),
    Step("describe_share_group_offsets_deleted", lambda: _describe_offsets()),
    _step("find_coordinator_share_key_v4", lambda c: _find_coordinator(2, _share_state_key(c))),
    _step("find_coordinator_share_state", lambda c: Native(FindCoordinatorRequest(
        key_type=2, coordinator_keys=[_share_state_key(c)]), 6), until=_coordinator_ready),
    _step("read_share_group_state_uninitialized", lambda c: _state_request("read", c)),
    _step("initialize_share_group_state", lambda c: _state_request("initialize", c)),
    _step("write_share_group_state", lambda c: _state_request("write", c)),
    _step("read_share_group_state", lambda c: _state_request("read", c)),
    _step("read_share_group_state_summary", lambda c: _state_request("summary", c)),
    _step("delete_share_group_state", lambda c: _state_request("delete", c)),
    _step("read_share_group_state_deleted", lambda c: _state_request("read", c)),
]

#: The streams group's source topic, made first: a group coordinator sees a new topic
#: a little after the broker lists it in Metadata, and the share steps give it that time.
STREAMS_SOURCE: list[Step] = [
    Step("streams_create_source_topic", lambda: _create_topic(SOURCE_TOPIC, 2)),
    Step("streams_source_topic_metadata", lambda: _metadata(SOURCE_TOPIC), until=_topic_listed),
]

STREAMS_CORPUS: list[Step] = [
    Step("streams_heartbeat_invalid_topology", lambda: _streams_heartbeat(
        STREAMS_MEMBER, 0, _topology("oracle bad/changelog"), group="oracle-streams-invalid"),
         until=_group_coordinator_answered),
    Step("streams_heartbeat_unknown_group", lambda: _streams_heartbeat(STREAMS_MEMBER, 4)),
    _step("streams_heartbeat_join", lambda c: _streams_heartbeat(STREAMS_MEMBER, 0, _topology()),
          keep=_keep_epoch("streams_epoch"), until=_group_coordinator_answered),
    Step("streams_changelog_created", lambda: _metadata(CHANGELOG), until=_topic_listed),
    Step("streams_changelog_configs", lambda: _describe_configs(["cleanup.policy", "retention.ms", "segment.bytes"],
                                                                topic=CHANGELOG)),
    _step("streams_heartbeat_tasks", lambda c: _streams_heartbeat(STREAMS_MEMBER, c["streams_epoch"]),
          keep=_keep_epoch("streams_epoch"), until=_streams_tasks),
    Step("streams_heartbeat_fenced_epoch", lambda: _streams_heartbeat(STREAMS_MEMBER, 77)),
    Step("streams_heartbeat_unknown_member", lambda: _streams_heartbeat(GHOST, 1)),
    Step("streams_group_describe", lambda: _groups("streams", [STREAMS_GROUP, UNKNOWN_GROUP, SHARE_GROUP])),
    Step("list_groups_streams", lambda: _list_groups("streams"), until=_listed(STREAMS_GROUP)),
    Step("describe_groups_streams_group", lambda: _groups("classic", [STREAMS_GROUP])),
    Step("consumer_group_describe_streams_group", lambda: _groups("consumer", [STREAMS_GROUP])),
    _step("streams_heartbeat_leave", lambda c: _streams_heartbeat(STREAMS_MEMBER, -1)),
    Step("streams_group_describe_after_leave", lambda: _groups("streams", [STREAMS_GROUP])),
]

CORPUS: list[Step] = STREAMS_SOURCE + SHARE_CORPUS + STREAMS_CORPUS
