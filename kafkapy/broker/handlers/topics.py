"""CreateTopics (key 19) v2-7, DeleteTopics (key 20) v1-6, CreatePartitions (key 37) v0-3.

Each request becomes one controller operation (``MetadataService``), which checks
it as Kafka's ``ReplicationControlManager`` does and answers once the records are
committed; the answer is per topic. On a node that is not the active controller every
topic answers NOT_CONTROLLER (the client retries).

Version notes:
    CreateTopics v5+: the created topic's configs (every topic config with its
    effective value and source), partition count and replication factor; v7+: topic id.
    DeleteTopics v6: topics by name or id; ``delete.topic.enable=false`` answers
    TOPIC_DELETION_DISABLED.
    CreatePartitions: explicit assignments for the new partitions only.
Controller mutation quotas (KIP-599, ``kafkapy.broker.quotas``): a topic over its
client's ``controller_mutation_rate`` answers THROTTLING_QUOTA_EXCEEDED with no message
(CreateTopics v6+, DeleteTopics v5+, CreatePartitions v3+: Kafka's
``ApiError.fromThrowable`` drops a message equal to the code's own), and the response
``throttle_time_ms``.
Not implemented: waiting for leaders to be known to every broker (``timeout_ms`` is
not used: the answer waits for the commit only), request forwarding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.config import describe_topic_configs
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.image import ZERO_UUID
from kafkapy.kraft.metadata.replication_control import NewPartitions, NewTopic
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.create_partitions import (
        CreatePartitionsRequest,
        CreatePartitionsResponse,
    )
    from kafkapy.wire.messages.create_topics import (
        CreateTopicsRequest,
        CreateTopicsResponse,
    )
    from kafkapy.wire.messages.delete_topics import (
        DeleteTopicsRequest,
        DeleteTopicsResponse,
    )


@handles(ApiKey.CREATE_TOPICS, versions=(2, 7))
async def handle_create_topics(ctx: RequestContext, request: CreateTopicsRequest) -> CreateTopicsResponse:
    from kafkapy.wire.messages.create_topics import CreateTopicsResponse

    TopicResult = CreateTopicsResponse.CreatableTopicResult
    TopicConfig = CreateTopicsResponse.CreatableTopicConfigs
    topics = [
        NewTopic(
            name=t.name,
            num_partitions=t.num_partitions,
            replication_factor=t.replication_factor,
            assignments={a.partition_index: list(a.broker_ids) for a in t.assignments} or None,
            configs={c.name: c.value for c in t.configs},
        )
        for t in request.topics
    ]
    # KIP-599: each topic's partitions against controller_mutation_rate (strict from v6)
    quota = ctx.broker.mutation_quotas.for_request(ctx, strict=ctx.version >= 6)
    throttled: list[str] = []
    if quota is not None:
        default = ctx.broker.config.num_partitions
        for t in topics:
            if not quota.admit(len(t.assignments) if t.assignments else t.num_partitions if t.num_partitions > 0
                               else default):
                throttled.append(t.name)
        topics = [t for t in topics if t.name not in throttled]
    try:
        results = await ctx.broker.metadata.create_topics(topics, validate_only=request.validate_only)
    except NotControllerError as exc:
        return CreateTopicsResponse(topics=[
            TopicResult(name=t.name, error_code=ErrorCode.NOT_CONTROLLER, error_message=str(exc),
                        num_partitions=-1, replication_factor=-1)
            for t in request.topics
        ])
    sources = ctx.broker.broker_config_sources()
    out = []
    for r in results:
        ok = r.error.code == ErrorCode.NONE
        result = TopicResult(
            name=r.name,
            topic_id=r.topic_id if ok else ZERO_UUID,
            error_code=r.error.code,
            error_message=r.error.message,
            num_partitions=r.num_partitions if ok else -1,
            replication_factor=r.replication_factor if ok else -1,
        )
        if ok and ctx.version >= 5:
            result.configs = [
                TopicConfig(name=c.name, value=c.value_str, read_only=False,
                            config_source=c.source, is_sensitive=c.definition.sensitive)
                for c in describe_topic_configs(r.configs, sources)
            ]
        out.append(result)
    out += [TopicResult(name=name, error_code=ErrorCode.THROTTLING_QUOTA_EXCEEDED,
                        error_message=None,
                        num_partitions=-1, replication_factor=-1) for name in throttled]
    return ctx.broker.mutation_quotas.finish(ctx, quota, CreateTopicsResponse(topics=out))


@handles(ApiKey.DELETE_TOPICS, versions=(1, 6))
async def handle_delete_topics(ctx: RequestContext, request: DeleteTopicsRequest) -> DeleteTopicsResponse:
    from kafkapy.wire.messages.delete_topics import DeleteTopicsResponse

    Result = DeleteTopicsResponse.DeletableTopicResult
    if ctx.version >= 6:
        names = [t.name for t in request.topics if t.name is not None and t.topic_id == ZERO_UUID]
        ids = [t.topic_id for t in request.topics if t.topic_id != ZERO_UUID]
    else:
        names, ids = list(request.topic_names), []
    if not ctx.broker.config.delete_topic_enable:
        return DeleteTopicsResponse(responses=[
            Result(name=n, error_code=ErrorCode.TOPIC_DELETION_DISABLED) for n in names
        ] + [Result(name=None, topic_id=i, error_code=ErrorCode.TOPIC_DELETION_DISABLED) for i in ids])
    quota = ctx.broker.mutation_quotas.for_request(ctx, strict=ctx.version >= 5)
    throttled: list[tuple[str | None, bytes]] = []
    if quota is not None:  # KIP-599: a known topic's partitions against controller_mutation_rate
        image = ctx.broker.image
        for n in list(names):
            t = image.topics_by_name.get(n)
            if t is not None and not quota.admit(len(t.partitions)):
                names.remove(n)
                throttled.append((n, ZERO_UUID))
        for i in list(ids):
            t = image.topics_by_id.get(i)
            if t is not None and not quota.admit(len(t.partitions)):
                ids.remove(i)
                throttled.append((None, i))
    try:
        results = await ctx.broker.metadata.delete_topics(names, ids)
    except NotControllerError as exc:
        return DeleteTopicsResponse(responses=[
            Result(name=n, error_code=ErrorCode.NOT_CONTROLLER, error_message=str(exc)) for n in names
        ] + [Result(name=None, topic_id=i, error_code=ErrorCode.NOT_CONTROLLER) for i in ids])
    return ctx.broker.mutation_quotas.finish(ctx, quota, DeleteTopicsResponse(responses=[
        Result(name=r.name, topic_id=r.topic_id, error_code=r.error.code, error_message=r.error.message)
        for r in results
    ] + [Result(name=n, topic_id=i, error_code=ErrorCode.THROTTLING_QUOTA_EXCEEDED,
                error_message=None) for n, i in throttled]))


@handles(ApiKey.CREATE_PARTITIONS, versions=(0, 3))
async def handle_create_partitions(ctx: RequestContext,
                                   request: CreatePartitionsRequest) -> CreatePartitionsResponse:
    from kafkapy.wire.messages.create_partitions import CreatePartitionsResponse

    Result = CreatePartitionsResponse.CreatePartitionsTopicResult
    topics = [
        NewPartitions(
            name=t.name,
            count=t.count,
            assignments=[list(a.broker_ids) for a in t.assignments] if t.assignments is not None else None,
        )
        for t in request.topics
    ]
    quota = ctx.broker.mutation_quotas.for_request(ctx, strict=ctx.version >= 3)
    throttled: list[str] = []
    if quota is not None:  # KIP-599: the partitions added against controller_mutation_rate
        image = ctx.broker.image
        for t in topics:
            known = image.topics_by_name.get(t.name)
            if known is not None and t.count > len(known.partitions) and not quota.admit(
                    t.count - len(known.partitions)):
                throttled.append(t.name)
        topics = [t for t in topics if t.name not in throttled]
    try:
        results = await ctx.broker.metadata.create_partitions(topics, validate_only=request.validate_only)
    except NotControllerError as exc:
        return CreatePartitionsResponse(results=[
            Result(name=t.name, error_code=ErrorCode.NOT_CONTROLLER, error_message=str(exc)) for t in request.topics
        ])
    return ctx.broker.mutation_quotas.finish(ctx, quota, CreatePartitionsResponse(results=[
        Result(name=r.name, error_code=r.error.code, error_message=r.error.message) for r in results
    ] + [Result(name=name, error_code=ErrorCode.THROTTLING_QUOTA_EXCEEDED,
                error_message=None) for name in throttled]))
