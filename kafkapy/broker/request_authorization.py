"""Authorization of each request before its handler, as ``KafkaApis`` does it per API.

The dispatcher calls :func:`authorize_request` on every decoded request when the broker
has an authorizer (``authorizer.class.name``), before the fault hooks and the
forwarding to the controller, so that a forwarded request carries only what its
principal may do (Kafka forwards the principal in an Envelope and the controller
checks; kafkapy checks on the broker that received it and forwards the part that
passed). A rule per API returns a :class:`Verdict`:

* ``refuse``: the whole request fails with one error in its own shape
  (:mod:`kafkapy.broker.error_response`): CLUSTER_AUTHORIZATION_FAILED for the cluster
  APIs, GROUP_AUTHORIZATION_FAILED for a group, TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
* ``merge``: the rule took the unauthorized items (topics, partitions, groups,
  resources) out of the request and adds their errors to the handler's response, as
  Kafka adds ``unauthorizedTopicResponses`` to what the replica manager answered.

Which operation each API needs (``KafkaApis``, ``ControllerApis``, ``AclApis``):

* Produce: TRANSACTIONAL_ID WRITE for a transactional producer, TOPIC WRITE.
* Fetch: CLUSTER CLUSTER_ACTION from a follower (each partition TOPIC_AUTHORIZATION_FAILED
  otherwise), TOPIC READ from a consumer. ListOffsets: TOPIC DESCRIBE.
* OffsetCommit: GROUP READ, TOPIC READ. TxnOffsetCommit: TRANSACTIONAL_ID WRITE, then the
  same. OffsetFetch: GROUP DESCRIBE, TOPIC DESCRIBE (unauthorized topics left out of an
  all-topics answer). OffsetDelete: GROUP DELETE, TOPIC READ.
* JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ConsumerGroupHeartbeat: GROUP READ.
  DescribeGroups, ConsumerGroupDescribe: GROUP DESCRIBE per group. DeleteGroups: GROUP
  DELETE per group. ListGroups: CLUSTER DESCRIBE, else the groups with GROUP DESCRIBE.
* FindCoordinator: GROUP DESCRIBE or TRANSACTIONAL_ID DESCRIBE per key.
* InitProducerId: TRANSACTIONAL_ID WRITE; without a transactional id, CLUSTER
  IDEMPOTENT_WRITE or WRITE on some topic (``authorizeByResourceType``, KIP-679).
  AddPartitionsToTxn: TRANSACTIONAL_ID WRITE and TOPIC WRITE (v4+ from brokers: CLUSTER
  CLUSTER_ACTION). AddOffsetsToTxn: TRANSACTIONAL_ID WRITE, GROUP READ. EndTxn:
  TRANSACTIONAL_ID WRITE.
* CreateTopics: CLUSTER CREATE or TOPIC CREATE. DeleteTopics: TOPIC DELETE.
  CreatePartitions: TOPIC ALTER. DeleteRecords: TOPIC DELETE.
* DescribeConfigs: DESCRIBE_CONFIGS; AlterConfigs, IncrementalAlterConfigs: ALTER_CONFIGS;
  on the topic, the group for group resources, or on the cluster for the others
  (broker, broker logger, client metrics).
* OffsetForLeaderEpoch: CLUSTER CLUSTER_ACTION from a follower, TOPIC DESCRIBE otherwise.
  DescribeProducers: TOPIC READ. DescribeTransactions: TRANSACTIONAL_ID DESCRIBE;
  ListTransactions lists only those.
* Share groups (KIP-932): ShareGroupHeartbeat GROUP READ and TOPIC DESCRIBE on the
  subscription; ShareFetch, ShareAcknowledge GROUP READ and TOPIC READ per partition;
  ShareGroupDescribe, StreamsGroupDescribe GROUP DESCRIBE per group (a group using a topic
  without DESCRIBE is TOPIC_AUTHORIZATION_FAILED); DescribeShareGroupOffsets GROUP and
  TOPIC DESCRIBE; AlterShareGroupOffsets GROUP READ, DeleteShareGroupOffsets GROUP DELETE,
  both TOPIC READ; the share coordinator's state APIs CLUSTER CLUSTER_ACTION.
* StreamsGroupHeartbeat (KIP-1071): GROUP READ, TOPIC DESCRIBE on every topology topic,
  and CLUSTER CREATE or TOPIC CREATE to create its missing internal topics.
  StreamsGroupTopologyDescriptionUpdate (KIP-1331): GROUP READ.
* The cluster APIs (:data:`CLUSTER_OPERATIONS`): ACLs and SCRAM credentials (ALTER /
  DESCRIBE), reassignments, elections, features, log dirs, quotas, unregistering a broker
  or controller (ALTER), listing config resources (DESCRIBE_CONFIGS), and the inter-node
  APIs (CLUSTER_ACTION).

Metadata, DescribeCluster and DescribeTopicPartitions are authorized in their handler
(unauthorized topics are left out, auto-creation needs CREATE, the authorized-operations
fields), as is the group coordinator's ``authorized_operations``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafkapy.broker.authorization import authorize, authorize_by_resource_type, filter_by_authorized
from kafkapy.kraft.metadata.acls import AclOperation as Op
from kafkapy.kraft.metadata.acls import ResourceType as Res
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

#: Config resource types (``ConfigResource.Type``): TOPIC 2, BROKER 4, BROKER_LOGGER 8,
#: CLIENT_METRICS 16, GROUP 32.
_CONFIG_TOPIC, _CONFIG_GROUP = 2, 32


@dataclass(frozen=True, slots=True)
class Verdict:
    """What authorization decided: refuse the whole request with ``refuse`` (an error
    code and message), or run it and ``merge`` the refused items into the answer."""

    refuse: tuple[int, str | None] | None = None
    merge: Callable[[Any], None] | None = None


ALLOWED = Verdict()

#: Whole-request cluster checks (``authorizeClusterOperation``).
CLUSTER_OPERATIONS: dict[int, int] = {
    ApiKey.CREATE_ACLS: Op.ALTER, ApiKey.DELETE_ACLS: Op.ALTER, ApiKey.DESCRIBE_ACLS: Op.DESCRIBE,
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS: Op.ALTER, ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS: Op.DESCRIBE,
    ApiKey.ELECT_LEADERS: Op.ALTER, ApiKey.ALTER_PARTITION_REASSIGNMENTS: Op.ALTER,
    ApiKey.LIST_PARTITION_REASSIGNMENTS: Op.DESCRIBE, ApiKey.UPDATE_FEATURES: Op.ALTER,
    ApiKey.DESCRIBE_QUORUM: Op.DESCRIBE, ApiKey.DESCRIBE_LOG_DIRS: Op.DESCRIBE,
    ApiKey.ALTER_REPLICA_LOG_DIRS: Op.ALTER, ApiKey.ALTER_CLIENT_QUOTAS: Op.ALTER_CONFIGS,
    ApiKey.DESCRIBE_CLIENT_QUOTAS: Op.DESCRIBE_CONFIGS, ApiKey.UNREGISTER_BROKER: Op.ALTER,
    ApiKey.UNREGISTER_CONTROLLER: Op.ALTER, ApiKey.LIST_CONFIG_RESOURCES: Op.DESCRIBE_CONFIGS,
    ApiKey.ADD_RAFT_VOTER: Op.ALTER, ApiKey.REMOVE_RAFT_VOTER: Op.ALTER,
    # inter-node APIs (Kafka's ControllerApis and KafkaApis: CLUSTER_ACTION)
    ApiKey.ALLOCATE_PRODUCER_IDS: Op.CLUSTER_ACTION, ApiKey.ALTER_PARTITION: Op.CLUSTER_ACTION,
    ApiKey.BROKER_REGISTRATION: Op.CLUSTER_ACTION, ApiKey.BROKER_HEARTBEAT: Op.CLUSTER_ACTION,
    ApiKey.WRITE_TXN_MARKERS: Op.CLUSTER_ACTION, ApiKey.VOTE: Op.CLUSTER_ACTION,
    ApiKey.BEGIN_QUORUM_EPOCH: Op.CLUSTER_ACTION, ApiKey.END_QUORUM_EPOCH: Op.CLUSTER_ACTION,
    ApiKey.FETCH_SNAPSHOT: Op.CLUSTER_ACTION, ApiKey.UPDATE_RAFT_VOTER: Op.CLUSTER_ACTION,
    ApiKey.CONTROLLER_REGISTRATION: Op.CLUSTER_ACTION, ApiKey.ASSIGN_REPLICAS_TO_DIRS: Op.CLUSTER_ACTION,
    # a Kafka broker forwarding its clients' requests; the inner request is then
    # authorized as the forwarded principal (``handlers/envelope.py``)
    ApiKey.ENVELOPE: Op.CLUSTER_ACTION,
}

_TOPIC_DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED
_GROUP_DENIED = ErrorCode.GROUP_AUTHORIZATION_FAILED
_TXN_DENIED = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
_CLUSTER_DENIED = ErrorCode.CLUSTER_AUTHORIZATION_FAILED

Rule = Callable[[Any, Any], Verdict]
_RULES: dict[int, Rule] = {}


def _rule(*keys: int) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for key in keys:
            _RULES[int(key)] = fn
        return fn
    return register


def authorize_request(ctx: Any, request: Any) -> Verdict:
    """The verdict on ``request``; it may take unauthorized items out of it."""
    key = ctx.header.request_api_key
    op = CLUSTER_OPERATIONS.get(key)
    if op is not None:
        if authorize(ctx, op, Res.CLUSTER):
            return ALLOWED
        # AuthHelper.authorizeClusterOperation: "Request <the request> needs <op> permission."
        request_text = (f"Request(api={ApiKey(key).name}, version={ctx.version}, principal={ctx.principal}, "
                        f"listenerName=ListenerName({ctx.conn.listener_name}))")
        return Verdict(refuse=(_CLUSTER_DENIED, f"Request {request_text} needs {Op(op).name} permission."))
    rule = _RULES.get(key)
    return ALLOWED if rule is None else rule(ctx, request)


# --- helpers --------------------------------------------------------------------------


def _split(ctx: Any, items: list, op: int, resource_type: int, name_of: Callable[[Any], str | None]) -> list:
    """Remove from ``items`` (in place) those whose resource is not authorized; return
    them. Items whose name cannot be resolved (unknown topic ids) stay for the handler."""
    names = {n for n in map(name_of, items) if n is not None}
    allowed = filter_by_authorized(ctx, op, resource_type, names)
    denied = [i for i in items if (n := name_of(i)) is not None and n not in allowed]
    if denied:
        items[:] = [i for i in items if (n := name_of(i)) is None or n in allowed]
    return denied


def _topic_name(ctx: Any, by_id: bool) -> Callable[[Any], str | None]:
    """A request topic's name: its ``name`` (or ``topic``), or from its topic id (Fetch and
    Produce v13, OffsetCommit and OffsetFetch v10)."""
    if not by_id:
        return lambda t: getattr(t, "name", None) if hasattr(t, "name") else t.topic
    topics = ctx.broker.image.topics_by_id

    def name_of(t: Any) -> str | None:
        image = topics.get(bytes(t.topic_id))
        return None if image is None else image.name
    return name_of


def _appending(field: str, make: Callable[[Any], Any], denied: list) -> Verdict:
    if not denied:
        return ALLOWED

    def merge(response: Any) -> None:
        getattr(response, field).extend(make(item) for item in denied)
    return Verdict(merge=merge)


# --- produce and fetch ----------------------------------------------------------------


@_rule(ApiKey.PRODUCE)
def _produce(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.produce import ProduceResponse as R

    if request.transactional_id is not None and not authorize(ctx, Op.WRITE, Res.TRANSACTIONAL_ID,
                                                              request.transactional_id):
        return Verdict(refuse=(_TXN_DENIED, None))
    denied = _split(ctx, request.topic_data, Op.WRITE, Res.TOPIC, _topic_name(ctx, ctx.version >= 13))
    return _appending("responses", lambda t: R.TopicProduceResponse(
        name=t.name, topic_id=t.topic_id, partition_responses=[R.PartitionProduceResponse(
            index=p.index, error_code=_TOPIC_DENIED, base_offset=-1, log_append_time_ms=-1, log_start_offset=-1)
            for p in t.partition_data]), denied)


def _fetch_partitions_denied(t: Any) -> Any:
    from kafkapy.wire.messages.fetch import FetchResponse as R

    return R.FetchableTopicResponse(topic=t.topic, topic_id=t.topic_id, partitions=[R.PartitionData(
        partition_index=p.partition, error_code=_TOPIC_DENIED, high_watermark=-1, last_stable_offset=-1,
        log_start_offset=-1, records=b"") for p in t.partitions])


@_rule(ApiKey.FETCH)
def _fetch(ctx: Any, request: Any) -> Verdict:
    replica_id = request.replica_state.replica_id if ctx.version >= 15 else request.replica_id
    if replica_id >= 0:
        if authorize(ctx, Op.CLUSTER_ACTION, Res.CLUSTER):
            return ALLOWED
        denied = list(request.topics)
        request.topics[:] = []
    else:
        denied = _split(ctx, request.topics, Op.READ, Res.TOPIC, _topic_name(ctx, ctx.version >= 13))
        if request.session_epoch > 0:  # incremental: the session's partitions are not in the request
            return Verdict(merge=_scrub_session_fetch(ctx, denied))
    return _appending("responses", _fetch_partitions_denied, denied)


def _scrub_session_fetch(ctx: Any, denied: list) -> Callable[[Any], None]:
    """An incremental fetch answers partitions of its session that this request does
    not name: each is authorized again (an ACL may have been removed since the session
    began), as ``KafkaApis`` authorizes every partition of a fetch context."""
    name_of = _topic_name(ctx, ctx.version >= 13)

    def merge(response: Any) -> None:
        names = {n for n in map(name_of, response.responses) if n is not None}
        allowed = filter_by_authorized(ctx, Op.READ, Res.TOPIC, names)
        for t in response.responses:
            name = name_of(t)
            if name is not None and name not in allowed:
                for p in t.partitions:
                    p.error_code, p.records = _TOPIC_DENIED, b""
                    p.high_watermark = p.last_stable_offset = p.log_start_offset = -1
                    p.aborted_transactions = None
        response.responses.extend(_fetch_partitions_denied(t) for t in denied)
    return merge


@_rule(ApiKey.LIST_OFFSETS)
def _list_offsets(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.list_offsets import ListOffsetsResponse as R

    denied = _split(ctx, request.topics, Op.DESCRIBE, Res.TOPIC, lambda t: t.name)
    return _appending("topics", lambda t: R.ListOffsetsTopicResponse(name=t.name, partitions=[
        R.ListOffsetsPartitionResponse(partition_index=p.partition_index, error_code=_TOPIC_DENIED)
        for p in t.partitions]), denied)


# --- groups and offsets ---------------------------------------------------------------


def _commit_verdict(ctx: Any, request: Any, response_class: Any, prefix: str, by_id: bool = False) -> Verdict:
    """``by_id``: OffsetCommit v10 names topics by id (KIP-848); KafkaApis resolves them
    to names before authorizing, and answers a denied one by its id."""
    denied = _split(ctx, request.topics, Op.READ, Res.TOPIC, _topic_name(ctx, by_id))
    topic_cls = getattr(response_class, prefix + "Topic")
    partition_cls = getattr(response_class, prefix + "Partition")
    return _appending("topics", lambda t: topic_cls(
        name=t.name, **({"topic_id": t.topic_id} if by_id else {}), partitions=[
            partition_cls(partition_index=p.partition_index, error_code=_TOPIC_DENIED) for p in t.partitions]), denied)


@_rule(ApiKey.OFFSET_COMMIT)
def _offset_commit(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.offset_commit import OffsetCommitResponse as R

    if not authorize(ctx, Op.READ, Res.GROUP, request.group_id):
        return Verdict(refuse=(_GROUP_DENIED, None))
    return _commit_verdict(ctx, request, R, "OffsetCommitResponse", by_id=ctx.version >= 10)


@_rule(ApiKey.TXN_OFFSET_COMMIT)
def _txn_offset_commit(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.txn_offset_commit import TxnOffsetCommitResponse as R

    if not authorize(ctx, Op.WRITE, Res.TRANSACTIONAL_ID, request.transactional_id):
        return Verdict(refuse=(_TXN_DENIED, None))
    if not authorize(ctx, Op.READ, Res.GROUP, request.group_id):
        return Verdict(refuse=(_GROUP_DENIED, None))
    return _commit_verdict(ctx, request, R, "TxnOffsetCommitResponse", by_id=ctx.version >= 6)


def _offset_fetch_topics(ctx: Any, topics: list | None, response_topics: Callable[[Any], list],
                         topic_cls: Any, partition_cls: Any, partitions_of: Callable[[Any], list]) -> Callable | None:
    """OffsetFetch's topic check for one group: named unauthorized topics answer
    TOPIC_AUTHORIZATION_FAILED; in an all-topics answer they are left out. v10 names
    topics by id (KIP-848): they are resolved to names before authorizing, as KafkaApis does."""
    name_of = _topic_name(ctx, ctx.version >= 10)
    if topics is None:
        def drop(group_response: Any) -> None:
            listed = response_topics(group_response)
            allowed = filter_by_authorized(ctx, Op.DESCRIBE, Res.TOPIC, [name_of(t) for t in listed])
            listed[:] = [t for t in listed if name_of(t) in allowed]
        return drop
    denied = _split(ctx, topics, Op.DESCRIBE, Res.TOPIC, name_of)
    if not denied:
        return None

    def add(group_response: Any) -> None:
        response_topics(group_response).extend(topic_cls(
            name=t.name, **({"topic_id": t.topic_id} if ctx.version >= 10 else {}), partitions=[
                partition_cls(partition_index=p, committed_offset=-1, error_code=_TOPIC_DENIED)
                for p in partitions_of(t)]) for t in denied)
    return add


@_rule(ApiKey.OFFSET_FETCH)
def _offset_fetch(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.offset_fetch import OffsetFetchResponse as R

    if ctx.version < 8:
        if not authorize(ctx, Op.DESCRIBE, Res.GROUP, request.group_id):
            return Verdict(refuse=(_GROUP_DENIED, None))
        fix = _offset_fetch_topics(ctx, request.topics, lambda r: r.topics, R.OffsetFetchResponseTopic,
                                   R.OffsetFetchResponsePartition, lambda t: t.partition_indexes)
        return ALLOWED if fix is None else Verdict(merge=fix)
    denied_groups = _split(ctx, request.groups, Op.DESCRIBE, Res.GROUP, lambda g: g.group_id)
    fixes: dict[str, Callable] = {}
    for g in request.groups:
        fix = _offset_fetch_topics(ctx, g.topics, lambda r: r.topics, R.OffsetFetchResponseTopics,
                                   R.OffsetFetchResponsePartitions, lambda t: t.partition_indexes)
        if fix is not None:
            fixes[g.group_id] = fix
    if not denied_groups and not fixes:
        return ALLOWED

    def merge(response: Any) -> None:
        for group in response.groups:
            fix = fixes.get(group.group_id)
            if fix is not None and group.error_code == ErrorCode.NONE:
                fix(group)
        response.groups.extend(R.OffsetFetchResponseGroup(group_id=g.group_id, error_code=_GROUP_DENIED)
                               for g in denied_groups)
    return Verdict(merge=merge)


@_rule(ApiKey.OFFSET_DELETE)
def _offset_delete(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.offset_delete import OffsetDeleteResponse as R

    if not authorize(ctx, Op.DELETE, Res.GROUP, request.group_id):
        return Verdict(refuse=(_GROUP_DENIED, None))
    denied = _split(ctx, request.topics, Op.READ, Res.TOPIC, lambda t: t.name)
    return _appending("topics", lambda t: R.OffsetDeleteResponseTopic(name=t.name, partitions=[
        R.OffsetDeleteResponsePartition(partition_index=p.partition_index, error_code=_TOPIC_DENIED)
        for p in t.partitions]), denied)


@_rule(ApiKey.JOIN_GROUP, ApiKey.SYNC_GROUP, ApiKey.HEARTBEAT, ApiKey.LEAVE_GROUP)
def _group_member(ctx: Any, request: Any) -> Verdict:
    return ALLOWED if authorize(ctx, Op.READ, Res.GROUP, request.group_id) else Verdict(refuse=(_GROUP_DENIED, None))


@_rule(ApiKey.CONSUMER_GROUP_HEARTBEAT)
def _consumer_group_heartbeat(ctx: Any, request: Any) -> Verdict:
    if not authorize(ctx, Op.READ, Res.GROUP, request.group_id):
        return Verdict(refuse=(_GROUP_DENIED, None))
    names = request.subscribed_topic_names or []
    if names and len(filter_by_authorized(ctx, Op.DESCRIBE, Res.TOPIC, names)) < len(set(names)):
        return Verdict(refuse=(_TOPIC_DENIED, None))
    return ALLOWED


@_rule(ApiKey.DESCRIBE_GROUPS)
def _describe_groups(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.describe_groups import DescribeGroupsResponse as R

    denied = _split(ctx, request.groups, Op.DESCRIBE, Res.GROUP, lambda g: g)
    return _appending("groups", lambda g: R.DescribedGroup(
        group_id=g, error_code=_GROUP_DENIED, group_state="", protocol_type="", protocol_data=""), denied)


@_rule(ApiKey.CONSUMER_GROUP_DESCRIBE)
def _consumer_group_describe(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.consumer_group_describe import ConsumerGroupDescribeResponse as R

    denied = _split(ctx, request.group_ids, Op.DESCRIBE, Res.GROUP, lambda g: g)
    return _appending("groups", lambda g: R.DescribedGroup(group_id=g, error_code=_GROUP_DENIED), denied)


@_rule(ApiKey.DELETE_GROUPS)
def _delete_groups(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.delete_groups import DeleteGroupsResponse as R

    denied = _split(ctx, request.groups_names, Op.DELETE, Res.GROUP, lambda g: g)
    return _appending("results", lambda g: R.DeletableGroupResult(group_id=g, error_code=_GROUP_DENIED), denied)


@_rule(ApiKey.LIST_GROUPS)
def _list_groups(ctx: Any, request: Any) -> Verdict:
    if authorize(ctx, Op.DESCRIBE, Res.CLUSTER):
        return ALLOWED

    def merge(response: Any) -> None:
        allowed = filter_by_authorized(ctx, Op.DESCRIBE, Res.GROUP, [g.group_id for g in response.groups])
        response.groups[:] = [g for g in response.groups if g.group_id in allowed]
    return Verdict(merge=merge)


@_rule(ApiKey.FIND_COORDINATOR)
def _find_coordinator(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.find_coordinator import FindCoordinatorResponse as R

    resource, code = (Res.TRANSACTIONAL_ID, _TXN_DENIED) if request.key_type == 1 else (Res.GROUP, _GROUP_DENIED)
    if ctx.version < 4:
        return ALLOWED if authorize(ctx, Op.DESCRIBE, resource, request.key) else Verdict(refuse=(code, None))
    denied = _split(ctx, request.coordinator_keys, Op.DESCRIBE, resource, lambda k: k)
    return _appending("coordinators", lambda k: R.Coordinator(
        key=k, node_id=-1, host="", port=-1, error_code=code), denied)


# --- transactions ---------------------------------------------------------------------


@_rule(ApiKey.INIT_PRODUCER_ID)
def _init_producer_id(ctx: Any, request: Any) -> Verdict:
    if request.transactional_id is not None:
        if authorize(ctx, Op.WRITE, Res.TRANSACTIONAL_ID, request.transactional_id):
            return ALLOWED
        return Verdict(refuse=(_TXN_DENIED, None))
    if authorize(ctx, Op.IDEMPOTENT_WRITE, Res.CLUSTER) or authorize_by_resource_type(ctx, Op.WRITE, Res.TOPIC):
        return ALLOWED
    return Verdict(refuse=(_CLUSTER_DENIED, None))


@_rule(ApiKey.ADD_PARTITIONS_TO_TXN)
def _add_partitions_to_txn(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.add_partitions_to_txn import AddPartitionsToTxnResponse as R

    if ctx.version >= 4:
        return ALLOWED if authorize(ctx, Op.CLUSTER_ACTION, Res.CLUSTER) else Verdict(refuse=(_CLUSTER_DENIED, None))
    if not authorize(ctx, Op.WRITE, Res.TRANSACTIONAL_ID, request.v3_and_below_transactional_id):
        return Verdict(refuse=(_TXN_DENIED, None))
    topics = request.v3_and_below_topics
    allowed = filter_by_authorized(ctx, Op.WRITE, Res.TOPIC, [t.name for t in topics])
    if all(t.name in allowed for t in topics):
        return ALLOWED
    # Kafka fails the whole request: TOPIC_AUTHORIZATION_FAILED where denied,
    # OPERATION_NOT_ATTEMPTED elsewhere.
    results = [R.AddPartitionsToTxnTopicResult(name=t.name, results_by_partition=[
        R.AddPartitionsToTxnPartitionResult(partition_index=p, partition_error_code=(
            ErrorCode.OPERATION_NOT_ATTEMPTED if t.name in allowed else _TOPIC_DENIED)) for p in t.partitions])
        for t in topics]
    topics[:] = []

    def merge(response: Any) -> None:
        response.results_by_topic_v3_and_below = results
    return Verdict(merge=merge)


@_rule(ApiKey.ADD_OFFSETS_TO_TXN)
def _add_offsets_to_txn(ctx: Any, request: Any) -> Verdict:
    if not authorize(ctx, Op.WRITE, Res.TRANSACTIONAL_ID, request.transactional_id):
        return Verdict(refuse=(_TXN_DENIED, None))
    if not authorize(ctx, Op.READ, Res.GROUP, request.group_id):
        return Verdict(refuse=(_GROUP_DENIED, None))
    return ALLOWED


@_rule(ApiKey.END_TXN)
def _end_txn(ctx: Any, request: Any) -> Verdict:
    if authorize(ctx, Op.WRITE, Res.TRANSACTIONAL_ID, request.transactional_id):
        return ALLOWED
    return Verdict(refuse=(_TXN_DENIED, None))


# --- topics and configs ---------------------------------------------------------------


@_rule(ApiKey.CREATE_TOPICS)
def _create_topics(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.create_topics import CreateTopicsResponse as R

    if authorize(ctx, Op.CREATE, Res.CLUSTER):
        denied: list = []
    else:
        denied = _split(ctx, request.topics, Op.CREATE, Res.TOPIC, lambda t: t.name)
    # A created topic's configs, partition count and replication factor are shown only
    # with DESCRIBE_CONFIGS on it (KIP-525): otherwise topic_config_error_code says
    # TOPIC_AUTHORIZATION_FAILED and the counts are -1.
    describable = filter_by_authorized(ctx, Op.DESCRIBE_CONFIGS, Res.TOPIC, [t.name for t in request.topics])
    if not denied and len(describable) == len({t.name for t in request.topics}):
        return ALLOWED

    def merge(response: Any) -> None:
        for result in response.topics:
            if result.name not in describable and result.error_code == ErrorCode.NONE:
                result.topic_config_error_code = _TOPIC_DENIED
                result.configs = []
                result.num_partitions = result.replication_factor = -1
        response.topics.extend(R.CreatableTopicResult(
            name=t.name, error_code=_TOPIC_DENIED, error_message="Authorization failed.",
            num_partitions=-1, replication_factor=-1, configs=[]) for t in denied)
    return Verdict(merge=merge)


@_rule(ApiKey.DELETE_TOPICS)
def _delete_topics(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.delete_topics import DeleteTopicsResponse as R

    if ctx.version < 6:
        denied = _split(ctx, request.topic_names, Op.DELETE, Res.TOPIC, lambda n: n)
        return _appending("responses", lambda n: R.DeletableTopicResult(
            name=n, error_code=_TOPIC_DENIED, error_message=_TOPIC_DENIED.message), denied)
    by_id = ctx.broker.image.topics_by_id

    def name_of(t: Any) -> str | None:
        if t.name is not None:
            return t.name
        image = by_id.get(bytes(t.topic_id))
        return None if image is None else image.name
    denied = _split(ctx, request.topics, Op.DELETE, Res.TOPIC, name_of)
    return _appending("responses", lambda t: R.DeletableTopicResult(
        name=t.name, topic_id=t.topic_id, error_code=_TOPIC_DENIED, error_message=_TOPIC_DENIED.message), denied)


@_rule(ApiKey.CREATE_PARTITIONS)
def _create_partitions(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.create_partitions import CreatePartitionsResponse as R

    denied = _split(ctx, request.topics, Op.ALTER, Res.TOPIC, lambda t: t.name)
    return _appending("results", lambda t: R.CreatePartitionsTopicResult(
        name=t.name, error_code=_TOPIC_DENIED, error_message=None), denied)


@_rule(ApiKey.DELETE_RECORDS)
def _delete_records(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.delete_records import DeleteRecordsResponse as R

    denied = _split(ctx, request.topics, Op.DELETE, Res.TOPIC, lambda t: t.name)
    return _appending("topics", lambda t: R.DeleteRecordsTopicResult(name=t.name, partitions=[
        R.DeleteRecordsPartitionResult(partition_index=p.partition_index, low_watermark=-1,
                                       error_code=_TOPIC_DENIED) for p in t.partitions]), denied)


def _config_resources(ctx: Any, request: Any, op: int, make: Callable[[Any, int], Any], field: str) -> Verdict:
    cluster_ok: bool | None = None
    denied: list[tuple[Any, int]] = []
    kept = []
    for r in request.resources:
        if r.resource_type == _CONFIG_TOPIC:
            ok, code = authorize(ctx, op, Res.TOPIC, r.resource_name), _TOPIC_DENIED
        elif r.resource_type == _CONFIG_GROUP:
            ok, code = authorize(ctx, op, Res.GROUP, r.resource_name), _GROUP_DENIED
        else:
            if cluster_ok is None:
                cluster_ok = authorize(ctx, op, Res.CLUSTER)
            ok, code = cluster_ok, _CLUSTER_DENIED
        if ok:
            kept.append(r)
        else:
            denied.append((r, code))
    if not denied:
        return ALLOWED
    request.resources[:] = kept

    def merge(response: Any) -> None:
        getattr(response, field).extend(make(r, code) for r, code in denied)
    return Verdict(merge=merge)


@_rule(ApiKey.DESCRIBE_CONFIGS)
def _describe_configs(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.describe_configs import DescribeConfigsResponse as R

    return _config_resources(ctx, request, Op.DESCRIBE_CONFIGS, lambda r, code: R.DescribeConfigsResult(
        error_code=code, error_message=ErrorCode(code).message, resource_type=r.resource_type,
        resource_name=r.resource_name), "results")


@_rule(ApiKey.ALTER_CONFIGS, ApiKey.INCREMENTAL_ALTER_CONFIGS)
def _alter_configs(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.alter_configs import AlterConfigsResponse
    from kafkapy.wire.messages.incremental_alter_configs import IncrementalAlterConfigsResponse

    R = AlterConfigsResponse if ctx.header.request_api_key == ApiKey.ALTER_CONFIGS else IncrementalAlterConfigsResponse
    # Kafka 4.4's ConfigAdminManager.preprocess throws ClusterAuthorizationException with
    # the default message, which ApiError.fromThrowable then leaves out (null).
    return _config_resources(ctx, request, Op.ALTER_CONFIGS, lambda r, code: R.AlterConfigsResourceResponse(
        error_code=code, error_message=None if code == _CLUSTER_DENIED else ErrorCode(code).message,
        resource_type=r.resource_type, resource_name=r.resource_name), "responses")


# --- describe-only APIs -----------------------------------------------------------------


@_rule(ApiKey.OFFSET_FOR_LEADER_EPOCH)
def _offset_for_leader_epoch(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.offset_for_leader_epoch import OffsetForLeaderEpochResponse as R

    def refused(t: Any) -> Any:
        return R.OffsetForLeaderTopicResult(topic=t.topic, partitions=[R.EpochEndOffset(
            error_code=_TOPIC_DENIED, partition=p.partition, leader_epoch=-1, end_offset=-1) for p in t.partitions])

    if ctx.version >= 3 and request.replica_id >= 0:  # a follower: CLUSTER_ACTION
        if authorize(ctx, Op.CLUSTER_ACTION, Res.CLUSTER):
            return ALLOWED
        denied = list(request.topics)
        request.topics[:] = []
        return _appending("topics", refused, denied)
    return _appending("topics", refused, _split(ctx, request.topics, Op.DESCRIBE, Res.TOPIC, lambda t: t.topic))


@_rule(ApiKey.DESCRIBE_PRODUCERS)
def _describe_producers(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.describe_producers import DescribeProducersResponse as R

    denied = _split(ctx, request.topics, Op.READ, Res.TOPIC, lambda t: t.name)
    return _appending("topics", lambda t: R.TopicResponse(name=t.name, partitions=[R.PartitionResponse(
        partition_index=p, error_code=_TOPIC_DENIED, error_message=_TOPIC_DENIED.message)
        for p in t.partition_indexes]), denied)


@_rule(ApiKey.DESCRIBE_TRANSACTIONS)
def _describe_transactions(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.describe_transactions import DescribeTransactionsResponse as R

    denied = _split(ctx, request.transactional_ids, Op.DESCRIBE, Res.TRANSACTIONAL_ID, lambda i: i)
    return _appending("transaction_states", lambda i: R.TransactionState(
        error_code=_TXN_DENIED, transactional_id=i), denied)


@_rule(ApiKey.LIST_TRANSACTIONS)
def _list_transactions(ctx: Any, request: Any) -> Verdict:
    """Only the transactional ids with TRANSACTIONAL_ID DESCRIBE are listed."""
    def merge(response: Any) -> None:
        states = response.transaction_states
        allowed = filter_by_authorized(ctx, Op.DESCRIBE, Res.TRANSACTIONAL_ID, [s.transactional_id for s in states])
        states[:] = [s for s in states if s.transactional_id in allowed]
    return Verdict(merge=merge)


# --- share groups (KIP-932) -------------------------------------------------------------


def _share_groups_on(ctx: Any) -> bool:
    """Kafka answers UNSUPPORTED_VERSION before authorizing when share groups are off
    (``isShareGroupProtocolEnabled``); the handler does that."""
    from kafkapy.broker.handlers.share_groups import share_groups_enabled

    return share_groups_enabled(ctx.broker.image)


def _group_read(ctx: Any, request: Any) -> Verdict | None:
    """GROUP READ on the request's group, else GROUP_AUTHORIZATION_FAILED as a whole."""
    if authorize(ctx, Op.READ, Res.GROUP, request.group_id or ""):
        return None
    return Verdict(refuse=(_GROUP_DENIED, None))


@_rule(ApiKey.SHARE_GROUP_HEARTBEAT)
def _share_group_heartbeat(ctx: Any, request: Any) -> Verdict:
    """``handleShareGroupHeartbeat``: GROUP READ, then TOPIC DESCRIBE on every subscribed topic."""
    if not _share_groups_on(ctx):
        return ALLOWED
    return _consumer_group_heartbeat(ctx, request)


def _described_group_verdict(ctx: Any, request: Any, response_class: Any, topics_of: Callable[[Any], set[str]],
                             refused: Callable[[Any], Any]) -> Verdict:
    """Share and streams group describes (``handleShareGroupDescribe``,
    ``handleStreamsGroupDescribe``): GROUP DESCRIBE per group (the refused ones answered
    first), the group's operations when asked, and a group using a topic the principal
    may not DESCRIBE answered TOPIC_AUTHORIZATION_FAILED without its members."""
    denied = _split(ctx, request.group_ids, Op.DESCRIBE, Res.GROUP, lambda g: g)
    with_ops = request.include_authorized_operations

    def merge(response: Any) -> None:
        from kafkapy.broker.authorization import authorized_operations

        if with_ops:
            for g in response.groups:
                if g.error_code == ErrorCode.NONE:
                    g.authorized_operations = authorized_operations(ctx, Res.GROUP, g.group_id)
        response.groups[:0] = [response_class.DescribedGroup(group_id=g, error_code=_GROUP_DENIED) for g in denied]
        used = {g.group_id: topics_of(g) for g in response.groups}
        allowed = filter_by_authorized(ctx, Op.DESCRIBE, Res.TOPIC, set().union(*used.values()))
        response.groups[:] = [refused(g) if used[g.group_id] - allowed else g for g in response.groups]
    return Verdict(merge=merge)


@_rule(ApiKey.SHARE_GROUP_DESCRIBE)
def _share_group_describe(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.share_group_describe import ShareGroupDescribeResponse as R

    def topics_of(g: Any) -> set[str]:
        return {tp.topic_name for m in g.members or () if m.assignment is not None
                for tp in m.assignment.topic_partitions or ()}

    return _described_group_verdict(ctx, request, R, topics_of, lambda g: R.DescribedGroup(
        group_id=g.group_id, error_code=_TOPIC_DENIED, members=[],
        error_message="The group has described topic(s) that the client is not authorized to describe."))


def _share_topics_split(ctx: Any, topics: list) -> list:
    """The request's topics (by id) whose topic the principal may not READ, taken out."""
    return _split(ctx, topics, Op.READ, Res.TOPIC, _topic_name(ctx, True))


@_rule(ApiKey.SHARE_FETCH)
def _share_fetch(ctx: Any, request: Any) -> Verdict:
    """``handleShareFetchRequest``: GROUP READ, then TOPIC READ on each partition fetched
    or acknowledged; refused partitions answer TOPIC_AUTHORIZATION_FAILED, and their
    acknowledgements too (``handleFetchFromShareFetchRequest``, ``handleAcknowledgements``).

    As in Kafka, a refused partition still joins the share session; the handler skips
    the session partitions the principal may not read (:func:`unreadable_share_partitions`),
    so nothing is acquired for them on this or a later fetch. Their acknowledgements are
    taken out here."""
    from kafkapy.wire.messages.share_fetch import ShareFetchResponse as R

    if not _share_groups_on(ctx):
        return ALLOWED
    refused = _group_read(ctx, request)
    if refused is not None:
        return refused
    name_of = _topic_name(ctx, True)
    names = {n for n in map(name_of, request.topics) if n is not None}
    allowed = filter_by_authorized(ctx, Op.READ, Res.TOPIC, names)
    denied: dict[tuple[bytes, int], bool] = {}  # (topic id, partition) -> acknowledged
    for t in request.topics:
        name = name_of(t)
        if name is not None and name not in allowed:
            for p in t.partitions:
                denied[(bytes(t.topic_id), p.partition_index)] = bool(p.acknowledgement_batches)
                p.acknowledgement_batches = []
    if not denied:
        return ALLOWED

    def merge(response: Any) -> None:
        if response.error_code != ErrorCode.NONE:
            return
        answered = {(bytes(t.topic_id), p.partition_index): p for t in response.responses for p in t.partitions}
        by_topic = {bytes(t.topic_id): t for t in response.responses}
        for (topic_id, index), acknowledged in denied.items():
            p = answered.get((topic_id, index))
            if p is None:
                p = R.PartitionData(partition_index=index, error_code=_TOPIC_DENIED, records=b"")
                topic = by_topic.get(topic_id)
                if topic is None:
                    topic = by_topic[topic_id] = R.ShareFetchableTopicResponse(topic_id=topic_id, partitions=[])
                    response.responses.append(topic)
                topic.partitions.append(p)
            if acknowledged:
                p.acknowledge_error_code = _TOPIC_DENIED
    return Verdict(merge=merge)


def unreadable_share_partitions(ctx: Any, partitions: list[tuple[bytes, int]]) -> set[tuple[bytes, int]]:
    """Of a share session's (topic id, partition) pairs, those whose topic the principal
    may not READ (none without an authorizer): ``KafkaApis`` authorizes every partition of
    the share fetch context, so a READ removed since the session began takes effect."""
    if ctx.broker.authorizer is None or not partitions:
        return set()
    topics = ctx.broker.image.topics_by_id
    names = {tid: image.name for tid, _ in partitions if (image := topics.get(bytes(tid))) is not None}
    allowed = filter_by_authorized(ctx, Op.READ, Res.TOPIC, names.values())
    return {tp for tp in partitions if tp[0] in names and names[tp[0]] not in allowed}


@_rule(ApiKey.SHARE_ACKNOWLEDGE)
def _share_acknowledge(ctx: Any, request: Any) -> Verdict:
    """``handleShareAcknowledgeRequest``: GROUP READ, then TOPIC READ per topic acknowledged."""
    from kafkapy.wire.messages.share_acknowledge import ShareAcknowledgeResponse as R

    if not _share_groups_on(ctx):
        return ALLOWED
    refused = _group_read(ctx, request)
    if refused is not None:
        return refused
    denied = _share_topics_split(ctx, request.topics)
    if not denied:
        return ALLOWED

    def merge(response: Any) -> None:
        if response.error_code == ErrorCode.NONE:
            response.responses.extend(R.ShareAcknowledgeTopicResponse(topic_id=t.topic_id, partitions=[
                R.PartitionData(partition_index=p.partition_index, error_code=_TOPIC_DENIED)
                for p in t.partitions]) for t in denied)
    return Verdict(merge=merge)


@_rule(ApiKey.INITIALIZE_SHARE_GROUP_STATE, ApiKey.READ_SHARE_GROUP_STATE, ApiKey.WRITE_SHARE_GROUP_STATE,
       ApiKey.DELETE_SHARE_GROUP_STATE, ApiKey.READ_SHARE_GROUP_STATE_SUMMARY)
def _share_group_state(ctx: Any, request: Any) -> Verdict:
    """The share coordinator's APIs are inter-broker: CLUSTER CLUSTER_ACTION, else every
    partition asked answers CLUSTER_AUTHORIZATION_FAILED (``toGlobalErrorResponse``).
    The request is emptied, so the handler touches no state."""
    if authorize(ctx, Op.CLUSTER_ACTION, Res.CLUSTER):
        return ALLOWED
    asked = [(t.topic_id, [p.partition for p in t.partitions]) for t in request.topics]
    request.topics[:] = []

    def merge(response: Any) -> None:
        R = type(response)
        response.results = [_result_class(R)(topic_id=topic_id, partitions=[R.PartitionResult(
            partition=p, error_code=_CLUSTER_DENIED, error_message=_CLUSTER_DENIED.message) for p in partitions])
            for topic_id, partitions in asked]
    return Verdict(merge=merge)


def _result_class(response_class: Any) -> Any:
    """The per-topic result class of a share-state response (``InitializeStateResult``,
    ``ReadStateResult``, ``WriteStateResult``, ``DeleteStateResult``, ``ReadStateSummaryResult``)."""
    return next(getattr(response_class, n) for n in dir(response_class) if n.endswith("StateResult")
                or n.endswith("StateSummaryResult"))


@_rule(ApiKey.DESCRIBE_SHARE_GROUP_OFFSETS)
def _describe_share_group_offsets(ctx: Any, request: Any) -> Verdict:
    """``handleDescribeShareGroupOffsetsRequest``: GROUP DESCRIBE per group; TOPIC DESCRIBE
    per topic (named ones refused answer TOPIC_AUTHORIZATION_FAILED after the others, an
    all-topics answer leaves them out). Groups keep the request's order."""
    from kafkapy.wire.messages.describe_share_group_offsets import DescribeShareGroupOffsetsResponse as R

    if not _share_groups_on(ctx):
        return ALLOWED
    order = [g.group_id for g in request.groups]
    denied_groups = _split(ctx, request.groups, Op.DESCRIBE, Res.GROUP, lambda g: g.group_id)
    refused_topics = {g.group_id: _split(ctx, g.topics, Op.DESCRIBE, Res.TOPIC, lambda t: t.topic_name)
                      for g in request.groups if g.topics}
    all_topics = {g.group_id for g in request.groups if g.topics is None}
    if not denied_groups and not any(refused_topics.values()) and not all_topics:
        return ALLOWED

    def merge(response: Any) -> None:
        for group in response.groups:
            if group.error_code != ErrorCode.NONE:
                continue
            if group.group_id in all_topics:
                allowed = filter_by_authorized(ctx, Op.DESCRIBE, Res.TOPIC, [t.topic_name for t in group.topics])
                group.topics[:] = [t for t in group.topics if t.topic_name in allowed]
            group.topics.extend(R.DescribeShareGroupOffsetsResponseTopic(
                topic_name=t.topic_name, topic_id=bytes(16), partitions=[R.DescribeShareGroupOffsetsResponsePartition(
                    partition_index=p, start_offset=-1, error_code=_TOPIC_DENIED,
                    error_message=_TOPIC_DENIED.message) for p in t.partitions])
                for t in refused_topics.get(group.group_id, ()))
        response.groups.extend(R.DescribeShareGroupOffsetsResponseGroup(group_id=g.group_id, error_code=_GROUP_DENIED)
                               for g in denied_groups)
        rank = {group_id: i for i, group_id in reversed(list(enumerate(order)))}
        response.groups.sort(key=lambda g: rank.get(g.group_id, len(order)))
    return Verdict(merge=merge)


@_rule(ApiKey.ALTER_SHARE_GROUP_OFFSETS)
def _alter_share_group_offsets(ctx: Any, request: Any) -> Verdict:
    """``handleAlterShareGroupOffsetsRequest``: GROUP READ (refused with the error's
    message), TOPIC READ per topic; refused topics answer TOPIC_AUTHORIZATION_FAILED
    per partition, ahead of the others."""
    from kafkapy.wire.messages.alter_share_group_offsets import AlterShareGroupOffsetsResponse as R

    if not _share_groups_on(ctx):
        return ALLOWED
    if not authorize(ctx, Op.READ, Res.GROUP, request.group_id):
        return Verdict(refuse=(_GROUP_DENIED, _GROUP_DENIED.message))
    denied = _split(ctx, request.topics, Op.READ, Res.TOPIC, lambda t: t.topic_name)
    if not denied:
        return ALLOWED
    ids = ctx.broker.image.topic

    def merge(response: Any) -> None:
        if response.error_code != ErrorCode.NONE:
            return
        response.responses[:0] = [R.AlterShareGroupOffsetsResponseTopic(
            topic_name=t.topic_name, topic_id=(image.id if (image := ids(t.topic_name)) else bytes(16)),
            partitions=[R.AlterShareGroupOffsetsResponsePartition(
                partition_index=p.partition_index, error_code=_TOPIC_DENIED, error_message=_TOPIC_DENIED.message)
                for p in t.partitions]) for t in denied]
    return Verdict(merge=merge)


@_rule(ApiKey.DELETE_SHARE_GROUP_OFFSETS)
def _delete_share_group_offsets(ctx: Any, request: Any) -> Verdict:
    """``handleDeleteShareGroupOffsetsRequest``: GROUP DELETE (refused with the error's
    message), TOPIC READ per topic; refused topics answer TOPIC_AUTHORIZATION_FAILED
    ahead of the others."""
    from kafkapy.wire.messages.delete_share_group_offsets import DeleteShareGroupOffsetsResponse as R

    if not _share_groups_on(ctx):
        return ALLOWED
    if not authorize(ctx, Op.DELETE, Res.GROUP, request.group_id):
        return Verdict(refuse=(_GROUP_DENIED, _GROUP_DENIED.message))
    denied = _split(ctx, request.topics, Op.READ, Res.TOPIC, lambda t: t.topic_name)
    if not denied:
        return ALLOWED

    def merge(response: Any) -> None:
        if response.error_code == ErrorCode.NONE:
            response.responses[:0] = [R.DeleteShareGroupOffsetsResponseTopic(
                topic_name=t.topic_name, topic_id=bytes(16), error_code=_TOPIC_DENIED,
                error_message=_TOPIC_DENIED.message) for t in denied]
    return Verdict(merge=merge)


# --- streams groups (KIP-1071) ----------------------------------------------------------


def _topology_topics(subtopologies: Any) -> list[str]:
    """Every topic a topology names: source, repartition sink and source, changelog
    (in Kafka's order, each once)."""
    names: dict[str, None] = {}
    for s in subtopologies or ():
        for name in [*(s.source_topics or ()), *(s.repartition_sink_topics or ()),
                     *(t.name for t in s.repartition_source_topics or ()),
                     *(t.name for t in s.state_changelog_topics or ())]:
            names[name] = None
    return list(names)


def topology_refusal(request: Any) -> tuple[ErrorCode, str] | None:
    """STREAMS_INVALID_TOPOLOGY for a joining topology that names Kafka's internal
    topics or invalid topic names (``KafkaApis.handleStreamsGroupHeartbeat``, checked
    with or without an authorizer); None for any other request."""
    from kafkapy.kraft.metadata.topic_names import is_internal, topic_name_error

    if request.topology is None:
        return None
    required = _topology_topics(request.topology.subtopologies)
    internal = [n for n in required if is_internal(n)]
    if internal:
        return (ErrorCode.STREAMS_INVALID_TOPOLOGY, f"Use of Kafka internal topics "
                f"{','.join(internal)} in a Kafka Streams topology is prohibited.")
    invalid = [n for n in required if topic_name_error(n) is not None]
    if invalid:
        return ErrorCode.STREAMS_INVALID_TOPOLOGY, f"Topic names {','.join(invalid)} are not valid topic names."
    return None


@_rule(ApiKey.STREAMS_GROUP_HEARTBEAT)
def _streams_group_heartbeat(ctx: Any, request: Any) -> Verdict:
    """``handleStreamsGroupHeartbeat``: GROUP READ; a topology naming Kafka's internal
    topics or invalid names is STREAMS_INVALID_TOPOLOGY; TOPIC DESCRIBE on every topic
    it names. Creating the missing internal topics needs CREATE
    (:func:`refuse_internal_topic_creation`, called by the handler)."""
    from kafkapy.broker.handlers.streams_groups import streams_groups_enabled

    if not streams_groups_enabled(ctx.broker.image):
        return ALLOWED
    refused = _group_read(ctx, request)
    if refused is not None or request.topology is None:
        return refused or ALLOWED
    invalid = topology_refusal(request)
    if invalid is not None:
        return Verdict(refuse=invalid)
    required = _topology_topics(request.topology.subtopologies)
    if len(filter_by_authorized(ctx, Op.DESCRIBE, Res.TOPIC, required)) < len(required):
        return Verdict(refuse=(_TOPIC_DENIED, None))
    return ALLOWED


@_rule(ApiKey.STREAMS_GROUP_TOPOLOGY_DESCRIPTION_UPDATE)
def _streams_group_topology_description_update(ctx: Any, request: Any) -> Verdict:
    """``handleStreamsGroupTopologyDescriptionUpdate``: GROUP READ once streams groups are
    on (UNSUPPORTED_VERSION before, from the handler)."""
    from kafkapy.broker.handlers.streams_groups import streams_groups_enabled

    if not streams_groups_enabled(ctx.broker.image):
        return ALLOWED
    return _group_read(ctx, request) or ALLOWED


#: StreamsGroupHeartbeatResponse.Status.MISSING_INTERNAL_TOPICS.
_MISSING_INTERNAL_TOPICS = 3


def refuse_internal_topic_creation(ctx: Any, response: Any, names: list[str]) -> bool:
    """Whether the principal may not create the streams group's missing internal topics
    ``names`` (CLUSTER CREATE, else TOPIC CREATE on each), as ``handleStreamsGroupHeartbeat``:
    then none is created and the MISSING_INTERNAL_TOPICS status says which were refused."""
    if ctx.broker.authorizer is None or authorize(ctx, Op.CREATE, Res.CLUSTER):
        return False
    allowed = filter_by_authorized(ctx, Op.CREATE, Res.TOPIC, names)
    unauthorized = [n for n in names if n not in allowed]
    if not unauthorized:
        return False
    from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatResponse as R

    detail = f"Unauthorized to CREATE on topics {', '.join(unauthorized)}."
    if response.status is None:
        response.status = []
    missing = next((s for s in response.status if s.status_code == _MISSING_INTERNAL_TOPICS), None)
    if missing is not None:
        missing.status_detail = f"{missing.status_detail}; {detail}"
    else:
        response.status.append(R.Status(status_code=_MISSING_INTERNAL_TOPICS, status_detail=detail))
    return True


@_rule(ApiKey.STREAMS_GROUP_DESCRIBE)
def _streams_group_describe(ctx: Any, request: Any) -> Verdict:
    from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeResponse as R

    def topics_of(g: Any) -> set[str]:
        return set() if g.topology is None else set(_topology_topics(g.topology.subtopologies))

    return _described_group_verdict(ctx, request, R, topics_of, lambda g: R.DescribedGroup(
        group_id=g.group_id, error_code=_TOPIC_DENIED, members=[], topology=None,
        error_message="The described group uses topics that the client is not authorized to describe."))
