"""ListOffsets (key 2) v1-11 and OffsetForLeaderEpoch (key 23) v2-4.

ListOffsets, per partition, from the leader (``Partition.fetchOffsetForTimestamp``):
    -2 earliest: the log start offset; -4 earliest local (KIP-405): the first offset
       held locally, the log start offset unless the topic is tiered.
    -1 latest: the high watermark (read_uncommitted) or the last stable offset
       (read_committed), with the current leader epoch.
    -3 max timestamp (KIP-734): the record with the largest timestamp.
    -5 latest tiered (KIP-1005): the last offset copied to the remote tier, -1 if none
       (or the topic is not tiered).
    -6 earliest pending upload (KIP-1023, v11+; UNSUPPORTED_VERSION below): the first
       offset not yet copied to the remote tier (UnifiedLog.fetchEarliestPendingUploadOffset):
       the log start offset while nothing is copied, -1 for a topic that is not tiered
       (or whose copies this leader does not know yet).
    t >= 0: the first record with a timestamp >= t (in a tiered topic, the remote tier
       first, then the local log); none: offset -1, timestamp -1.
    Found offsets at or past the fetchable bound are not reported (as Kafka).
    OFFSET_NOT_AVAILABLE for -1 (and a timestamp found past the bound) while a new
    leader's high watermark is below the start of its epoch.
    A partition named twice in one request answers INVALID_REQUEST.

OffsetForLeaderEpoch: the largest epoch <= the one asked and where it ends (from the
leader epoch cache), used by consumers to detect truncation (Java: v3+, librdkafka:
v2). Unknown: epoch -1, end offset -1.

Version notes: ListOffsets v2+ isolation level; v4+ current leader epoch (fencing) and
leader epoch in answers; v6+ flexible; v8 max timestamp; v9 earliest local; v10
timeout_ms (unused: the leader answers at once); v11 earliest pending upload.
Not implemented: answering from followers (replica id -2 debug requests are served
only by the leader).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.storage.partition_log import (
    EARLIEST_LOCAL_TIMESTAMP,
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    TimestampAndOffset,
)
from kafkapy.storage.remote.storage_manager import RemoteStorageError
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.list_offsets import (
        ListOffsetsRequest,
        ListOffsetsResponse,
    )
    from kafkapy.wire.messages.offset_for_leader_epoch import (
        OffsetForLeaderEpochRequest,
        OffsetForLeaderEpochResponse,
    )

#: ListOffsetsRequest.LATEST_TIERED_TIMESTAMP.
LATEST_TIERED_TIMESTAMP = -5
#: ListOffsetsRequest.EARLIEST_PENDING_UPLOAD_TIMESTAMP (KIP-1023), from v11.
EARLIEST_PENDING_UPLOAD_TIMESTAMP = -6
_READ_COMMITTED = 1
_NO_TIMESTAMP = -1


@handles(ApiKey.LIST_OFFSETS, versions=(1, 11))
async def handle_list_offsets(ctx: RequestContext, request: ListOffsetsRequest) -> ListOffsetsResponse:
    from kafkapy.wire.messages.list_offsets import ListOffsetsResponse as R

    replicas = ctx.broker.replicas
    committed = ctx.version >= 2 and request.isolation_level == _READ_COMMITTED
    topics = []
    for t in request.topics:
        indexes = [p.partition_index for p in t.partitions]
        partitions = []
        for p in t.partitions:
            out = R.ListOffsetsPartitionResponse(partition_index=p.partition_index)
            partitions.append(out)
            if indexes.count(p.partition_index) > 1:
                out.error_code = ErrorCode.INVALID_REQUEST
                continue
            if p.timestamp == EARLIEST_PENDING_UPLOAD_TIMESTAMP and ctx.version < 11:
                # ReplicaManager.isListOffsetsTimestampUnsupported
                out.error_code = ErrorCode.UNSUPPORTED_VERSION
                continue
            code, partition = replicas.leader_partition(t.name, p.partition_index,
                                                        p.current_leader_epoch if ctx.version >= 4 else -1)
            if partition is None:
                out.error_code = code
                continue
            log_ = partition.log
            bound = log_.last_stable_offset if committed else log_.high_watermark
            # A new leader whose high watermark has not reached the start of its epoch
            # does not know yet how far the log is committed (Kafka's
            # Partition.fetchOffsetForTimestamp): clients retry.
            epoch_start = log_.leader_epoch_cache.start_offset_of(partition.leader_epoch)
            not_yet = epoch_start is not None and epoch_start > log_.high_watermark
            ts = p.timestamp
            found: TimestampAndOffset | None
            if ts == LATEST_TIMESTAMP:
                if not_yet:
                    out.error_code = ErrorCode.OFFSET_NOT_AVAILABLE
                    continue
                found = TimestampAndOffset(_NO_TIMESTAMP, bound, partition.leader_epoch)
            elif ts == LATEST_TIERED_TIMESTAMP:
                # UnifiedLog.fetchOffsetByTimestamp: the highest offset in remote
                # storage and its epoch, -1 when nothing was copied.
                highest = log_.highest_offset_in_remote_storage if log_.remote_log_enabled else -1
                epoch = log_.leader_epoch_cache.epoch_for_offset(highest) if highest >= 0 else None
                found = TimestampAndOffset(_NO_TIMESTAMP, highest, epoch if epoch is not None else -1)
            elif ts == EARLIEST_PENDING_UPLOAD_TIMESTAMP:
                found = _earliest_pending_upload(log_)
            elif ts in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
                found = log_.fetch_offset_by_timestamp(ts)
            else:
                found = None
                manager = ctx.broker.remote_logs
                if ts >= 0 and manager is not None and log_.remote_log_enabled:
                    # UnifiedLog.fetchOffsetByTimestamp: the remote tier first.
                    try:
                        remote = await manager.find_offset_by_timestamp(partition, ts)
                    except RemoteStorageError:
                        out.error_code = ErrorCode.KAFKA_STORAGE_ERROR
                        continue
                    if remote is not None:
                        found = TimestampAndOffset(remote[0], remote[1],
                                                   log_.leader_epoch_cache.epoch_for_offset(remote[1]))
                if found is None:
                    found = log_.fetch_offset_by_timestamp(ts)
                if found is not None and found.offset >= bound:
                    found = None
                if found is None and not_yet:
                    out.error_code = ErrorCode.OFFSET_NOT_AVAILABLE
                    continue
            if found is not None:
                out.timestamp = found.timestamp
                out.offset = found.offset
                out.leader_epoch = found.leader_epoch if found.leader_epoch is not None else -1
        topics.append(R.ListOffsetsTopicResponse(name=t.name, partitions=partitions))
    return R(topics=topics)


def _earliest_pending_upload(log_) -> TimestampAndOffset | None:
    """Kafka's ``UnifiedLog.fetchEarliestPendingUploadOffset`` (KIP-1023)."""
    if not log_.remote_log_enabled:
        return TimestampAndOffset(_NO_TIMESTAMP, -1, -1)
    highest = log_.highest_offset_in_remote_storage
    if highest == -1:
        if log_.local_log_start_offset == log_.log_start_offset:  # nothing copied yet
            return log_.fetch_offset_by_timestamp(EARLIEST_TIMESTAMP)
        return TimestampAndOffset(_NO_TIMESTAMP, -1, -1)  # copies this leader does not know yet
    pending = max(highest + 1, log_.log_start_offset)
    return TimestampAndOffset(_NO_TIMESTAMP, pending, log_.leader_epoch_cache.epoch_for_offset(pending))


@handles(ApiKey.OFFSET_FOR_LEADER_EPOCH, versions=(2, 4))
def handle_offset_for_leader_epoch(ctx: RequestContext,
                                   request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse:
    from kafkapy.wire.messages.offset_for_leader_epoch import (
        OffsetForLeaderEpochResponse as R,
    )

    replicas = ctx.broker.replicas
    topics = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            out = R.EpochEndOffset(partition=p.partition)
            partitions.append(out)
            code, partition = replicas.leader_partition(t.topic, p.partition, p.current_leader_epoch)
            if partition is None:
                out.error_code = code
                continue
            found = partition.log.end_offset_for_epoch(p.leader_epoch)
            if found is not None:
                out.leader_epoch, out.end_offset = found
        topics.append(R.OffsetForLeaderTopicResult(topic=t.topic, partitions=partitions))
    return R(topics=topics)
