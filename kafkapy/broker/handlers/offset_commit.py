"""OffsetCommit (key 8) v2-10, OffsetFetch (key 9) v1-10, OffsetDelete (key 47) v0.

Offsets live in the group coordinator (:mod:`kafkapy.broker.group_coordinator`) and in
``__consumer_offsets``; a commit is answered once its records are replicated.

OffsetCommit: a partition of a topic that does not exist, or beyond the topic's
partition count, answers UNKNOWN_TOPIC_OR_PARTITION before the group is looked at, for
every version and every kind of group (simple, classic, KIP-848), as Kafka 4.1's
``KafkaApis.handleOffsetCommitRequest`` does; those partitions come first in the
response, each under its topic, and a request naming only such partitions never
reaches the coordinator. The Admin API's AlterConsumerGroupOffsets is an OffsetCommit
with generation -1, so it answers the same.
The others: a group member commits with its generation and member id (checked:
UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS);
generation -1 without a member commits for a group with no members (``assign()``
consumers, admin clients) and creates it if needed. Metadata strings longer than
``offset.metadata.max.bytes`` answer OFFSET_METADATA_TOO_LARGE for their partition.

OffsetFetch: unknown partitions (and unknown groups) answer offset -1, leader epoch
-1, metadata "". With ``require_stable`` (v7+) a partition with offsets of an open
transaction answers UNSTABLE_OFFSET_COMMIT.

Version notes:
    OffsetCommit v2-4 retention time (an expire timestamp on the record); v6+
    committed leader epoch; v7+ group instance id; v8+ flexible; v9 (KIP-848) answers
    GROUP_ID_NOT_FOUND, not ILLEGAL_GENERATION, for an unknown group with a generation.
    OffsetFetch v2+ request-level error and null topics = all; v5+ leader epoch; v6+
    flexible; v7+ require_stable; v8+ several groups; v9 member id/epoch (checked only
    for KIP-848 consumer groups: UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH).
    OffsetCommit to a KIP-848 consumer group: the generation field carries the member
    epoch (STALE_MEMBER_EPOCH when it is not the member's); its members must use v9+
    (UNSUPPORTED_VERSION), an empty group takes commits without a member.
    OffsetCommit and OffsetFetch v10 (KIP-848) name topics by id, not by name, in
    requests and answers: an id the metadata does not know answers UNKNOWN_TOPIC_ID
    for each of its partitions (a commit lists those first, with the unknown
    partitions); fetching all of a group's offsets lists only topics that exist.
    OffsetDelete: GROUP_SUBSCRIBED_TO_TOPIC for a topic a member of a non-empty
    consumer group subscribes to; NON_EMPTY_GROUP for non-empty groups of other
    protocol types.
Not implemented: authorization.
"""

from __future__ import annotations

from kafkapy.broker.context import RequestContext
from kafkapy.broker.group_coordinator import CommitOffset, FetchedOffset
from kafkapy.broker.registry import handles
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.offset_commit import (
    OffsetCommitRequest,
    OffsetCommitResponse,
)
from kafkapy.wire.messages.offset_delete import (
    OffsetDeleteRequest,
    OffsetDeleteResponse,
)
from kafkapy.wire.messages.offset_fetch import OffsetFetchRequest, OffsetFetchResponse


@handles(ApiKey.OFFSET_COMMIT, versions=(2, 10))
async def handle_offset_commit(ctx: RequestContext, request: OffsetCommitRequest) -> OffsetCommitResponse:
    v = ctx.version
    image = ctx.broker.image
    # Kafka's response builder keeps topics by name (v10: by id) in first-seen order:
    # the unknown partitions are added first, the coordinator's answers merged in after.
    answers: dict[str | bytes, list[tuple[int, int]]] = {}
    key_of: dict[str, str | bytes] = {}  # topic name -> its key in the answer
    offsets = []
    for t in request.topics:
        if v >= 10:
            topic = image.topics_by_id.get(t.topic_id)
            if topic is None:
                answers.setdefault(t.topic_id, []).extend(
                    (p.partition_index, ErrorCode.UNKNOWN_TOPIC_ID) for p in t.partitions)
                continue
            name = topic.name
            key_of[name] = t.topic_id
        else:
            name = key_of[t.name] = t.name
        for p in t.partitions:
            if image.partition(name, p.partition_index) is None:
                answers.setdefault(key_of[name], []).append((p.partition_index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
            else:
                offsets.append(CommitOffset(name, p.partition_index, p.committed_offset,
                                            p.committed_leader_epoch if v >= 6 else -1, p.committed_metadata))
    if offsets:
        errors = await ctx.broker.groups.commit_offsets(
            group_id=request.group_id,
            generation_id=request.generation_id_or_member_epoch,
            member_id=request.member_id,
            group_instance_id=request.group_instance_id if v >= 7 else None,
            retention_time_ms=request.retention_time_ms if v <= 4 else -1,
            offsets=offsets,
            version=v,
        )
        for o, error in zip(offsets, errors, strict=True):
            answers.setdefault(key_of[o.topic], []).append((o.partition, error))
    R = OffsetCommitResponse
    return R(topics=[
        R.OffsetCommitResponseTopic(**{"topic_id" if v >= 10 else "name": key}, partitions=[
            R.OffsetCommitResponsePartition(partition_index=partition, error_code=error)
            for partition, error in partitions
        ])
        for key, partitions in answers.items()
    ])


def _fetch_group(ctx: RequestContext, group_id: str, topics: list[tuple[str, list[int]]] | None,
                 require_stable: bool, member_id: str | None = None,
                 member_epoch: int = -1) -> tuple[ErrorCode, list[tuple[str, list[FetchedOffset]]]]:
    error, found = ctx.broker.groups.fetch_offsets(group_id, topics, require_stable=require_stable,
                                                   member_id=member_id, member_epoch=member_epoch)
    if error != ErrorCode.NONE and ctx.version < 2:
        # v0-1 have no request-level error: every partition carries it.
        found = [(t, [FetchedOffset(p, -1, -1, "", error) for p in ps]) for t, ps in topics or []]
    return error, found


@handles(ApiKey.OFFSET_FETCH, versions=(1, 10))
def handle_offset_fetch(ctx: RequestContext, request: OffsetFetchRequest) -> OffsetFetchResponse:
    R = OffsetFetchResponse
    v = ctx.version
    require_stable = v >= 7 and request.require_stable
    if v < 8:
        topics = None if request.topics is None else [(t.name, list(t.partition_indexes)) for t in request.topics]
        error, found = _fetch_group(ctx, request.group_id, topics, require_stable)
        return R(error_code=error, topics=[
            R.OffsetFetchResponseTopic(name=name, partitions=[
                R.OffsetFetchResponsePartition(partition_index=o.partition, committed_offset=o.offset,
                                               committed_leader_epoch=o.leader_epoch, metadata=o.metadata,
                                               error_code=o.error)
                for o in offsets])
            for name, offsets in found])
    groups = []
    for g in request.groups:
        member = (g.member_id, g.member_epoch) if v >= 9 else (None, -1)
        if v < 10:
            topics = None if g.topics is None else [(t.name, list(t.partition_indexes)) for t in g.topics]
            error, found = _fetch_group(ctx, g.group_id, topics, require_stable, *member)
            listed = [R.OffsetFetchResponseTopics(name=name, partitions=_partitions(offsets))
                      for name, offsets in found]
        else:
            error, listed = _fetch_group_by_ids(ctx, g, require_stable, member)
        groups.append(R.OffsetFetchResponseGroup(group_id=g.group_id, error_code=error, topics=listed))
    return R(groups=groups)


def _partitions(offsets: list[FetchedOffset]) -> list[OffsetFetchResponse.OffsetFetchResponsePartitions]:
    return [OffsetFetchResponse.OffsetFetchResponsePartitions(
        partition_index=o.partition, committed_offset=o.offset, committed_leader_epoch=o.leader_epoch,
        metadata=o.metadata, error_code=o.error) for o in offsets]


def _fetch_group_by_ids(ctx: RequestContext, g: OffsetFetchRequest.OffsetFetchRequestGroup, require_stable: bool,
                        member: tuple[str | None, int]) -> tuple[ErrorCode, list]:
    """One group of OffsetFetch v10: topics asked and answered by id, the known ones
    first, then those whose id the metadata does not know (as Kafka 4.4 lists them)."""
    R = OffsetFetchResponse
    image = ctx.broker.image
    if g.topics is None:
        error, found = _fetch_group(ctx, g.group_id, None, require_stable, *member)
        return error, [R.OffsetFetchResponseTopics(topic_id=image.topic(name).id, partitions=_partitions(offsets))
                       for name, offsets in found if image.topic(name) is not None]
    names = {t.topic_id: image.topics_by_id[t.topic_id].name for t in g.topics if t.topic_id in image.topics_by_id}
    known = [(names[t.topic_id], list(t.partition_indexes)) for t in g.topics if t.topic_id in names]
    error, found = _fetch_group(ctx, g.group_id, known, require_stable, *member)
    by_name = dict(found)
    listed = [R.OffsetFetchResponseTopics(topic_id=t.topic_id,
                                          partitions=_partitions(by_name.get(names[t.topic_id], [])))
              for t in g.topics if t.topic_id in names]
    listed += [R.OffsetFetchResponseTopics(topic_id=t.topic_id, partitions=_partitions(
        [FetchedOffset(p, -1, -1, "", ErrorCode.UNKNOWN_TOPIC_ID) for p in t.partition_indexes]))
        for t in g.topics if t.topic_id not in names]
    return error, listed


@handles(ApiKey.OFFSET_DELETE, versions=(0, 0))
async def handle_offset_delete(ctx: RequestContext, request: OffsetDeleteRequest) -> OffsetDeleteResponse:
    R = OffsetDeleteResponse
    topics = [(t.name, [p.partition_index for p in t.partitions]) for t in request.topics]
    error, results = await ctx.broker.groups.delete_offsets(request.group_id, topics)
    if error != ErrorCode.NONE:
        return R(error_code=error)
    return R(error_code=ErrorCode.NONE, topics=[
        R.OffsetDeleteResponseTopic(name=name, partitions=[
            R.OffsetDeleteResponsePartition(partition_index=p, error_code=code) for p, code in zip(partitions, row, strict=True)])
        for (name, partitions), row in zip(topics, results, strict=True)])
