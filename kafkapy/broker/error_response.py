"""The answer to a whole request that failed with one error, in that request's own
shape (Kafka's ``AbstractRequest.getErrorResponse``).

Kafka answers a request it refuses as a whole (CLUSTER_AUTHORIZATION_FAILED from
``AuthHelper.authorizeClusterOperation``, GROUP_AUTHORIZATION_FAILED for a group API,
ILLEGAL_SASL_STATE for a request in the middle of a SASL exchange) with the request's
error response: the top-level error code where the response has one, otherwise the
error on every item the request named (each topic, partition, resource, ACL creation
or filter), as each ``XxxRequest.getErrorResponse`` builds it.

:func:`error_response` returns that response message, or None for an API whose shape
is not known here (the caller then closes the connection, which is what kafkapy did
before for every such case).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafkapy.wire.apis import ApiKey, api_info

Builder = Callable[[Any, Any, int, int, "str | None"], Any]
_BUILDERS: dict[int, Builder] = {}


def _builds(*keys: int) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        for key in keys:
            _BUILDERS[int(key)] = fn
        return fn
    return register


def error_response(api_key: int, version: int, request: Any, code: int, message: str | None = None) -> Any:
    """``request`` (of ``api_key``, ``version``) answered with ``code`` everywhere, or None."""
    response_class = api_info(api_key).response_class
    if response_class is None:
        return None
    builder = _BUILDERS.get(int(api_key))
    if builder is not None:
        return builder(response_class, request, version, code, message)
    slots = response_class.__slots__
    if "error_code" in slots:
        response = response_class(error_code=code)
        if "error_message" in slots:
            response.error_message = message
        return response
    return None


def _topic_partitions(response_class: Any, topic_cls: str, partition_cls: str, topics: Any, *,
                      topic_name: str = "name", partitions_field: str = "partitions",
                      request_partitions: str = "partitions", index_field: str = "partition_index",
                      request_index: str = "partition_index", **partition_fields: Any) -> list:
    t_cls = getattr(response_class, topic_cls)
    p_cls = getattr(response_class, partition_cls)
    out = []
    for t in topics or ():
        parts = [p_cls(**{index_field: getattr(p, request_index) if not isinstance(p, int) else p},
                       **partition_fields) for p in getattr(t, request_partitions) or ()]
        out.append(t_cls(**{topic_name: t.name, partitions_field: parts}))
    return out


@_builds(ApiKey.PRODUCE)
def _produce(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    topics = [rc.TopicProduceResponse(name=t.name, topic_id=t.topic_id, partition_responses=[
        rc.PartitionProduceResponse(index=p.index, error_code=code, base_offset=-1, log_append_time_ms=-1,
                                    log_start_offset=-1)
        for p in t.partition_data]) for t in request.topic_data]
    return rc(responses=topics)


@_builds(ApiKey.FETCH)
def _fetch(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(error_code=code, responses=[])


@_builds(ApiKey.LIST_OFFSETS)
def _list_offsets(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(topics=_topic_partitions(rc, "ListOffsetsTopicResponse", "ListOffsetsPartitionResponse",
                                       request.topics, error_code=code))


@_builds(ApiKey.METADATA)
def _metadata(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(topics=[rc.MetadataResponseTopic(name=t.name, topic_id=t.topic_id, error_code=code)
                      for t in request.topics or ()])


@_builds(ApiKey.OFFSET_COMMIT, ApiKey.TXN_OFFSET_COMMIT)
def _offset_commit(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    prefix = "OffsetCommitResponse" if hasattr(rc, "OffsetCommitResponseTopic") else "TxnOffsetCommitResponse"
    return rc(topics=_topic_partitions(rc, prefix + "Topic", prefix + "Partition", request.topics, error_code=code))


@_builds(ApiKey.OFFSET_FETCH)
def _offset_fetch(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    if version >= 8:
        return rc(groups=[rc.OffsetFetchResponseGroup(group_id=g.group_id, error_code=code) for g in request.groups])
    if version >= 2:
        return rc(error_code=code)
    return rc(topics=_topic_partitions(rc, "OffsetFetchResponseTopic", "OffsetFetchResponsePartition",
                                       request.topics, request_partitions="partition_indexes",
                                       error_code=code, committed_offset=-1))


@_builds(ApiKey.FIND_COORDINATOR)
def _find_coordinator(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    if version >= 4:
        return rc(coordinators=[rc.Coordinator(key=k, node_id=-1, host="", port=-1, error_code=code,
                                               error_message=message) for k in request.coordinator_keys])
    return rc(error_code=code, error_message=message, node_id=-1, host="", port=-1)


@_builds(ApiKey.DELETE_GROUPS)
def _delete_groups(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(results=[rc.DeletableGroupResult(group_id=g, error_code=code) for g in request.groups_names])


@_builds(ApiKey.DESCRIBE_GROUPS)
def _describe_groups(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(groups=[rc.DescribedGroup(group_id=g, error_code=code, group_state="", protocol_type="",
                                        protocol_data="") for g in request.groups])


@_builds(ApiKey.CREATE_TOPICS)
def _create_topics(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(topics=[rc.CreatableTopicResult(name=t.name, error_code=code, error_message=message,
                                              num_partitions=-1, replication_factor=-1, configs=[])
                      for t in request.topics])


@_builds(ApiKey.DELETE_TOPICS)
def _delete_topics(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    if version >= 6:
        items = [(t.name, t.topic_id) for t in request.topics]
    else:
        items = [(name, bytes(16)) for name in request.topic_names]
    return rc(responses=[rc.DeletableTopicResult(name=name, topic_id=topic_id, error_code=code,
                                                 error_message=message) for name, topic_id in items])


@_builds(ApiKey.CREATE_PARTITIONS)
def _create_partitions(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(results=[rc.CreatePartitionsTopicResult(name=t.name, error_code=code, error_message=message)
                       for t in request.topics])


@_builds(ApiKey.DELETE_RECORDS)
def _delete_records(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(topics=_topic_partitions(rc, "DeleteRecordsTopicResult", "DeleteRecordsPartitionResult",
                                       request.topics, error_code=code, low_watermark=-1))


@_builds(ApiKey.DESCRIBE_CONFIGS)
def _describe_configs(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(results=[rc.DescribeConfigsResult(error_code=code, error_message=message,
                                                resource_type=r.resource_type, resource_name=r.resource_name)
                       for r in request.resources])


@_builds(ApiKey.ALTER_CONFIGS, ApiKey.INCREMENTAL_ALTER_CONFIGS)
def _alter_configs(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(responses=[rc.AlterConfigsResourceResponse(error_code=code, error_message=message,
                                                         resource_type=r.resource_type,
                                                         resource_name=r.resource_name)
                         for r in request.resources])


@_builds(ApiKey.CREATE_ACLS)
def _create_acls(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(results=[rc.AclCreationResult(error_code=code, error_message=message) for _ in request.creations])


@_builds(ApiKey.DELETE_ACLS)
def _delete_acls(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(filter_results=[rc.DeleteAclsFilterResult(error_code=code, error_message=message)
                              for _ in request.filters])


@_builds(ApiKey.ALTER_USER_SCRAM_CREDENTIALS)
def _alter_scram(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    users = dict.fromkeys([d.name for d in request.deletions] + [u.name for u in request.upsertions])
    return rc(results=[rc.AlterUserScramCredentialsResult(user=u, error_code=code, error_message=message)
                       for u in users])


@_builds(ApiKey.ALTER_CLIENT_QUOTAS)
def _alter_client_quotas(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(entries=[rc.EntryData(error_code=code, error_message=message, entity=[
        rc.EntityData(entity_type=e.entity_type, entity_name=e.entity_name) for e in entry.entity])
        for entry in request.entries])


@_builds(ApiKey.DESCRIBE_CLIENT_QUOTAS)
def _describe_client_quotas(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(error_code=code, error_message=message, entries=None)


@_builds(ApiKey.ELECT_LEADERS)
def _elect_leaders(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    results = [rc.ReplicaElectionResult(topic=t.topic, partition_result=[
        rc.PartitionResult(partition_id=p, error_code=code, error_message=message) for p in t.partitions])
        for t in request.topic_partitions or ()]
    return rc(error_code=code if version >= 1 else 0, replica_election_results=results)


@_builds(ApiKey.ADD_PARTITIONS_TO_TXN)
def _add_partitions_to_txn(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    if version >= 4:
        return rc(error_code=code)
    return rc(results_by_topic_v3_and_below=[rc.AddPartitionsToTxnTopicResult(name=t.name, results_by_partition=[
        rc.AddPartitionsToTxnPartitionResult(partition_index=p, partition_error_code=code) for p in t.partitions])
        for t in request.v3_and_below_topics])


@_builds(ApiKey.WRITE_TXN_MARKERS)
def _write_txn_markers(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(markers=[rc.WritableTxnMarkerResult(producer_id=m.producer_id, topics=[
        rc.WritableTxnMarkerTopicResult(name=t.name, partitions=[
            rc.WritableTxnMarkerPartitionResult(partition_index=p, error_code=code) for p in t.partition_indexes])
        for t in m.topics]) for m in request.markers])


@_builds(ApiKey.ALTER_REPLICA_LOG_DIRS)
def _alter_replica_log_dirs(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(results=[rc.AlterReplicaLogDirTopicResult(topic_name=t.name, partitions=[
        rc.AlterReplicaLogDirPartitionResult(partition_index=p, error_code=code) for p in t.partitions])
        for d in request.dirs for t in d.topics])


@_builds(ApiKey.JOIN_GROUP)
def _join_group(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    # JoinGroupRequest.getErrorResponse: protocolName null from v7, where it is nullable.
    return rc(error_code=code, generation_id=-1, member_id="", leader="",
              protocol_name=None if version >= 7 else "")


@_builds(ApiKey.INIT_PRODUCER_ID)
def _init_producer_id(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(error_code=code, producer_id=-1, producer_epoch=-1)


@_builds(ApiKey.LEAVE_GROUP)
def _leave_group(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(error_code=code)


@_builds(ApiKey.OFFSET_DELETE)
def _offset_delete(rc: Any, request: Any, version: int, code: int, message: str | None) -> Any:
    return rc(error_code=code)
