"""Metadata (key 3) v0-13, DescribeCluster (key 60) v0-2, DescribeTopicPartitions (key 75) v0.

Answered from the current metadata image: alive brokers with an endpoint on the
listener the request came in on, and the asked-for topics (all of them when the list
is null, or empty in v0) with partition leaders, leader epochs, replicas, ISR and
offline replicas. ``controller_id`` is a live broker, as KRaft brokers report it
(clients cannot reach the controller directly).

Auto-creation (Kafka's ``AutoTopicCreationManager``): an unknown, valid, non-internal
topic name is created when ``auto.create.topics.enable`` holds and the request allows
it (``allow_auto_topic_creation``, v4+; always in v0-3). Kafka answers
LEADER_NOT_AVAILABLE while the controller creates it; here the creation is awaited
(bounded), so a client usually gets the new topic's leaders in the same answer.

Version notes:
    v1+: null topic list = all; controller id, rack, is_internal.
    v2+: cluster id. v5+: offline replicas. v7+: leader epoch.
    v8-10: authorized operations (no authorizer: every supported operation).
    v10+: topic ids; v12+: topics asked for by id (unknown id: UNKNOWN_TOPIC_ID).

With an authorizer (``KafkaApis.handleTopicMetadataRequest``): topics without TOPIC
DESCRIBE are left out of an all-topics answer and answered TOPIC_AUTHORIZATION_FAILED
when named; auto-creation needs CLUSTER CREATE or TOPIC CREATE; the authorized-operations
fields list what the principal may do. DescribeCluster needs nothing (its cluster
operations field says what is allowed); DescribeTopicPartitions lists only topics with
TOPIC DESCRIBE.
Not implemented: rack-filtered brokers.
"""

from __future__ import annotations

import trio

from kafkapy.broker.authorization import AclOperation, ResourceType, authorized_operations
from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.image import ZERO_UUID, MetadataImage, PartitionRegistration, TopicImage
from kafkapy.kraft.metadata.replication_control import NewTopic, directory_is_online, replica_directory
from kafkapy.kraft.metadata.topic_names import is_internal, topic_name_error
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.describe_cluster import (
    DescribeClusterRequest,
    DescribeClusterResponse,
)
from kafkapy.wire.messages.describe_topic_partitions import (
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
)
from kafkapy.wire.messages.metadata import MetadataRequest, MetadataResponse

Broker = MetadataResponse.MetadataResponseBroker
Topic = MetadataResponse.MetadataResponseTopic
Partition = MetadataResponse.MetadataResponsePartition

#: "Not requested": the authorized-operations default in the schema.
_OPS_NOT_REQUESTED = -(2**31)
#: Without an authorizer Kafka reports every operation a resource supports
#: (``AclOperation`` codes: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
#: CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12,
#: CREATE_TOKENS 13, DESCRIBE_TOKENS 14).
_TOPIC_OPS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))
#: How long a Metadata request waits for auto-created topics before answering
#: LEADER_NOT_AVAILABLE.
_AUTO_CREATE_WAIT_S = 5.0


def alive_brokers(image: MetadataImage, listener: str) -> list[Broker]:
    """Unfenced brokers with an endpoint on ``listener``, by id (``MetadataCache.getAliveBrokerNodes``)."""
    out = []
    for broker_id in sorted(image.brokers):
        b = image.brokers[broker_id]
        if b.fenced:
            continue
        endpoint = b.endpoints.get(listener)
        if endpoint is not None:
            out.append(Broker(node_id=b.id, host=endpoint.host, port=endpoint.port, rack=b.rack))
    return out


def offline_replicas(image: MetadataImage, p: PartitionRegistration) -> list[int]:
    """Replicas on a broker that is unknown, fenced, or whose directory for this replica
    failed (Kafka's ``KRaftMetadataCache.getOfflineReplicas``, KIP-858)."""
    brokers = image.brokers
    return [r for r in p.replicas if r not in brokers or brokers[r].fenced
            or not directory_is_online(replica_directory(p, r), brokers[r].log_dirs)]


def describe_topic(image: MetadataImage, topic: TopicImage, listener: str, with_ops: bool) -> Topic:
    """One topic of the answer, partitions by index."""
    partitions = []
    brokers = image.brokers
    for index in sorted(topic.partitions):
        p = topic.partitions[index]
        offline = offline_replicas(image, p)
        leader = p.leader
        leader_broker = brokers.get(leader)
        if leader < 0 or leader_broker is None or listener not in leader_broker.endpoints:
            error, leader = ErrorCode.LEADER_NOT_AVAILABLE, -1
        else:
            error = ErrorCode.NONE
        partitions.append(Partition(
            error_code=error,
            partition_index=index,
            leader_id=leader,
            leader_epoch=p.leader_epoch,
            replica_nodes=list(p.replicas),
            isr_nodes=list(p.isr),
            offline_replicas=offline,
        ))
    return Topic(
        error_code=ErrorCode.NONE,
        name=topic.name,
        topic_id=topic.id,
        is_internal=is_internal(topic.name),
        partitions=partitions,
        topic_authorized_operations=_TOPIC_OPS if with_ops else _OPS_NOT_REQUESTED,
    )


@handles(ApiKey.METADATA, versions=(0, 13))
async def handle_metadata(ctx: RequestContext, request: MetadataRequest) -> MetadataResponse:
    broker = ctx.broker
    listener = ctx.conn.listener_name
    version = ctx.version
    with_ops = version >= 8 and request.include_topic_authorized_operations
    requested = request.topics
    all_topics = requested is None or (version == 0 and not requested)

    if not all_topics and version < 12 and any(t.name is None or t.topic_id != ZERO_UUID for t in requested):
        # KafkaApis.handleTopicMetadataRequest: "Topic IDs are not supported for versions
        # 10 and 11. Topic names can not be null in these versions." (InvalidRequestException),
        # answered by MetadataRequest.getErrorResponse: each topic INVALID_REQUEST, null as "".
        return MetadataResponse(topics=[Topic(error_code=ErrorCode.INVALID_REQUEST, name=t.name or "",
                                              topic_id=t.topic_id) for t in requested])

    image = broker.image
    creating: set[str] = set()
    refused: list[Topic] = []
    if not all_topics:
        allow_create = (version < 4 or request.allow_auto_topic_creation) and broker.config.auto_create_topics_enable
        if broker.authorizer is not None:
            requested, refused = _authorize_requested(ctx, image, requested, allow_create)
        missing = [t.name for t in requested
                   if t.name and image.topic(t.name) is None and topic_name_error(t.name) is None
                   and not is_internal(t.name)]
        if missing and allow_create:
            creating = set(missing)
            image = await _auto_create(ctx, list(dict.fromkeys(missing)))

    topics: list[Topic] = refused
    if all_topics:
        names = sorted(image.topics_by_name)
        if broker.authorizer is not None:
            allowed = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, names)
            names = [n for n in names if n in allowed]
        for name in names:
            topics.append(describe_topic(image, image.topics_by_name[name], listener, with_ops))
    else:
        for t in requested:
            topics.append(_describe_requested(image, t, listener, with_ops, creating))
    if with_ops and broker.authorizer is not None:
        for topic in topics:
            if topic.topic_authorized_operations != _OPS_NOT_REQUESTED:
                topic.topic_authorized_operations = authorized_operations(ctx, ResourceType.TOPIC, topic.name)

    brokers = alive_brokers(image, listener)
    return MetadataResponse(
        brokers=brokers,
        cluster_id=image.cluster_id,
        controller_id=broker.node_id if any(b.node_id == broker.node_id for b in brokers)
        else (brokers[0].node_id if brokers else -1),
        topics=topics,
        cluster_authorized_operations=(
            authorized_operations(ctx, ResourceType.CLUSTER)
            if 8 <= version <= 10 and request.include_cluster_authorized_operations
            else _OPS_NOT_REQUESTED
        ),
    )


def _authorize_requested(ctx: RequestContext, image: MetadataImage, requested: list, allow_create: bool,
                         ) -> tuple[list, list[Topic]]:
    """The requested topics the principal may see, and the answers for the others
    (``KafkaApis.handleTopicMetadataRequest``): TOPIC DESCRIBE, and for a topic to be
    auto-created CLUSTER CREATE or TOPIC CREATE. The refused come first in the answer,
    those refused for creation before those refused for describing; a topic asked by
    id is refused with its id and a null name (ids are not secret, names are)."""
    def name_of(t: MetadataRequest.MetadataRequestTopic) -> str | None:
        if t.name:
            return t.name
        topic = image.topics_by_id.get(t.topic_id)
        return None if topic is None else topic.name

    named = [n for n in map(name_of, requested) if n is not None]
    allowed = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, named)
    if allow_create and not ctx.authorize(AclOperation.CREATE, ResourceType.CLUSTER):
        missing = [n for n in allowed if image.topic(n) is None]
        may_create = ctx.authorized(AclOperation.CREATE, ResourceType.TOPIC, missing)
        no_create = {n for n in missing if n not in may_create}
    else:
        no_create = set()
    kept: list = []
    refused_create: dict[str, Topic] = {}
    refused_describe: dict[str, Topic] = {}
    for t in requested:
        name = name_of(t)
        if name is None or (name in allowed and name not in no_create):
            kept.append(t)
        elif name in no_create:
            refused_create[name] = Topic(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, name=name,
                                         is_internal=is_internal(name))
        elif t.name:
            refused_describe[name] = Topic(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, name=name)
        else:
            refused_describe[name] = Topic(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, name=None,
                                           topic_id=t.topic_id)
    return kept, [*refused_create.values(), *refused_describe.values()]


def _describe_requested(image: MetadataImage, t: MetadataRequest.MetadataRequestTopic, listener: str,
                        with_ops: bool, creating: set[str]) -> Topic:
    if t.name is None or (not t.name and t.topic_id != ZERO_UUID):
        topic = image.topics_by_id.get(t.topic_id)
        if topic is None:
            return Topic(error_code=ErrorCode.UNKNOWN_TOPIC_ID, name=None, topic_id=t.topic_id)
        return describe_topic(image, topic, listener, with_ops)
    topic = image.topic(t.name)
    if topic is not None:
        return describe_topic(image, topic, listener, with_ops)
    if topic_name_error(t.name) is not None:
        return Topic(error_code=ErrorCode.INVALID_TOPIC_EXCEPTION, name=t.name)
    # Kafka answers LEADER_NOT_AVAILABLE for a topic whose creation it requested.
    code = ErrorCode.LEADER_NOT_AVAILABLE if t.name in creating else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return Topic(error_code=code, name=t.name)


async def _auto_create(ctx: RequestContext, names: list[str]) -> MetadataImage:
    """Create ``names`` with the broker defaults and return the image that holds them."""
    broker = ctx.broker
    with trio.move_on_after(_AUTO_CREATE_WAIT_S):
        await broker.metadata.create_topics([NewTopic(name) for name in names], validate_only=False)
    return broker.image


# --- DescribeCluster (key 60), versions 0-2 ---------------------------------------------
#
# On a broker listener: brokers as Metadata lists them (v2: fenced ones too when asked,
# with is_fenced). On a controller listener (KIP-919, ``kafka-metadata-quorum
# --bootstrap-controller``): the quorum's voters at their controller endpoints and the
# active controller. Asking one for the other's endpoint type is answered as Kafka
# 4.1 answers it: MISMATCHED_ENDPOINT_TYPE (INVALID_REQUEST before v1, which cannot name
# a type) with nothing else filled in; an unknown type is UNSUPPORTED_ENDPOINT_TYPE.

_BROKERS_ENDPOINT_TYPE = 1
_CONTROLLERS_ENDPOINT_TYPE = 2
_ENDPOINT_TYPE_NAMES = {_BROKERS_ENDPOINT_TYPE: "BROKER", _CONTROLLERS_ENDPOINT_TYPE: "CONTROLLER"}


@handles(ApiKey.DESCRIBE_CLUSTER, versions=(0, 2))
def handle_describe_cluster(ctx: RequestContext, request: DescribeClusterRequest) -> DescribeClusterResponse:
    image = ctx.broker.image
    listener = ctx.conn.listener_name
    wanted = request.endpoint_type if ctx.version >= 1 else _BROKERS_ENDPOINT_TYPE
    on_controller = listener.upper() in ctx.broker.config.controller_listeners
    served = _CONTROLLERS_ENDPOINT_TYPE if on_controller else _BROKERS_ENDPOINT_TYPE
    if wanted not in _ENDPOINT_TYPE_NAMES:
        return DescribeClusterResponse(
            error_code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
            error_message=f"Unsupported endpoint type {wanted}", cluster_id="")
    if wanted != served:
        return DescribeClusterResponse(
            error_code=ErrorCode.MISMATCHED_ENDPOINT_TYPE if ctx.version >= 1 else ErrorCode.INVALID_REQUEST,
            error_message=f"The request was sent to an endpoint of type {_ENDPOINT_TYPE_NAMES[served]}, "
                          f"but we wanted an endpoint of type {_ENDPOINT_TYPE_NAMES[wanted]}",
            cluster_id="")
    operations = (authorized_operations(ctx, ResourceType.CLUSTER) if request.include_cluster_authorized_operations
                  else _OPS_NOT_REQUESTED)
    if served == _CONTROLLERS_ENDPOINT_TYPE:
        leader = ctx.broker.metadata.leader_id
        return DescribeClusterResponse(
            endpoint_type=served, cluster_id=image.cluster_id or "",
            controller_id=-1 if leader is None else leader,
            brokers=[DescribeClusterResponse.DescribeClusterBroker(broker_id=node_id, host=e.host, port=e.port)
                     for node_id, e in sorted(ctx.broker.quorum.voter_endpoints().items())],
            cluster_authorized_operations=operations)
    with_fenced = ctx.version >= 2 and request.include_fenced_brokers
    brokers = []
    for broker_id in sorted(image.brokers):
        b = image.brokers[broker_id]
        endpoint = b.endpoints.get(listener)
        if endpoint is None or (b.fenced and not with_fenced):
            continue
        brokers.append(DescribeClusterResponse.DescribeClusterBroker(
            broker_id=b.id, host=endpoint.host, port=endpoint.port, rack=b.rack, is_fenced=b.fenced))
    alive = [b.broker_id for b in brokers if not b.is_fenced]
    node_id = ctx.broker.node_id
    return DescribeClusterResponse(
        endpoint_type=served, cluster_id=image.cluster_id or "",
        controller_id=node_id if node_id in alive else (alive[0] if alive else -1),
        brokers=brokers, cluster_authorized_operations=operations)


# --- DescribeTopicPartitions (key 75), version 0 (KIP-966) -------------------------------
#
# Topics by name (all of them, sorted, when none are named), partitions in order, at
# most response_partition_limit partitions per answer; a cursor continues where the
# previous answer stopped. Partitions carry the eligible leader replicas (empty: ELR is
# not enabled).


@handles(ApiKey.DESCRIBE_TOPIC_PARTITIONS, versions=(0, 0))
def handle_describe_topic_partitions(ctx: RequestContext, request: DescribeTopicPartitionsRequest
                                     ) -> DescribeTopicPartitionsResponse:
    R = DescribeTopicPartitionsResponse
    image = ctx.broker.image
    listener = ctx.conn.listener_name
    names = sorted({t.name for t in request.topics}) if request.topics else sorted(image.topics_by_name)
    allowed = ctx.authorized(AclOperation.DESCRIBE, ResourceType.TOPIC, names)
    if not request.topics:
        names = [n for n in names if n in allowed]
    cursor = request.cursor
    if cursor is not None:
        names = [n for n in names if n >= cursor.topic_name]
    limit = max(request.response_partition_limit, 1)
    topics: list[DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic] = []
    next_cursor = None
    budget = limit
    for name in names:
        topic = image.topic(name)
        if name not in allowed:
            topics.append(R.DescribeTopicPartitionsResponseTopic(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                                                                 name=name))
            continue
        if topic is None:
            code = ErrorCode.INVALID_TOPIC_EXCEPTION if topic_name_error(name) else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            topics.append(R.DescribeTopicPartitionsResponseTopic(error_code=code, name=name))
            continue
        if budget == 0:
            next_cursor = R.Cursor(topic_name=name, partition_index=0)
            break
        described = describe_topic(image, topic, listener, with_ops=True)
        start = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        parts = [p for p in described.partitions if p.partition_index >= start]
        taken, rest = parts[:budget], parts[budget:]
        budget -= len(taken)
        topics.append(R.DescribeTopicPartitionsResponseTopic(
            error_code=ErrorCode.NONE, name=name, topic_id=topic.id, is_internal=described.is_internal,
            topic_authorized_operations=authorized_operations(ctx, ResourceType.TOPIC, name),
            partitions=[R.DescribeTopicPartitionsResponsePartition(
                error_code=p.error_code, partition_index=p.partition_index, leader_id=p.leader_id,
                leader_epoch=p.leader_epoch, replica_nodes=p.replica_nodes, isr_nodes=p.isr_nodes,
                eligible_leader_replicas=list(topic.partitions[p.partition_index].elr),
                last_known_elr=list(topic.partitions[p.partition_index].last_known_elr),
                offline_replicas=p.offline_replicas)
                for p in taken],
        ))
        if rest:
            next_cursor = R.Cursor(topic_name=name, partition_index=rest[0].partition_index)
            break
    return DescribeTopicPartitionsResponse(topics=topics, next_cursor=next_cursor)
