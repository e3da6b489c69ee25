"""DeleteRecords (key 21) v0-2 and DescribeLogDirs (key 35) v1-5.

DeleteRecords raises a partition's log start offset (offset -1: the high watermark);
offsets above the high watermark answer OFFSET_OUT_OF_RANGE. The answer carries the
new low watermark. Whole segments below it are deleted.

DescribeLogDirs lists each data directory with the partitions it holds, their sizes
and the directory's total and usable bytes (v4+). A node with memory storage has no
data directory and answers an empty list. A directory that failed (a full disk, an I/O
error) is listed with KAFKA_STORAGE_ERROR and no partitions, as Kafka lists it.
v5 adds IsCordoned (KIP-1066): kafkapy has no ``cordoned.log.dirs``, so no directory
is ever cordoned and the field keeps its default, false.

Not implemented: waiting for followers' log start offsets before answering
DeleteRecords (``DelayedDeleteRecords``); the leader answers once its own log moved.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.delete_records import (
        DeleteRecordsRequest,
        DeleteRecordsResponse,
    )
    from kafkapy.wire.messages.describe_log_dirs import (
        DescribeLogDirsRequest,
        DescribeLogDirsResponse,
    )

#: DeleteRecordsRequest.HIGH_WATERMARK: "up to the high watermark".
_HIGH_WATERMARK = -1


@handles(ApiKey.DELETE_RECORDS, versions=(0, 2))
def handle_delete_records(ctx: RequestContext, request: DeleteRecordsRequest) -> DeleteRecordsResponse:
    from kafkapy.wire.messages.delete_records import DeleteRecordsResponse as R

    broker = ctx.broker
    replicas = broker.replicas
    topics = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            out = R.DeleteRecordsPartitionResult(partition_index=p.partition_index, low_watermark=-1)
            partitions.append(out)
            code, partition = replicas.leader_partition(t.name, p.partition_index)
            if partition is None:
                out.error_code = code
                continue
            log_ = partition.log
            offset = log_.high_watermark if p.offset == _HIGH_WATERMARK else p.offset
            code, low_watermark = log_.delete_records_before(offset, now_ms=broker.clock_ms())
            out.error_code = code
            out.low_watermark = low_watermark if code == ErrorCode.NONE else -1
            if code == ErrorCode.NONE:
                replicas.on_log_start_moved(partition)
        topics.append(R.DeleteRecordsTopicResult(name=t.name, partitions=partitions))
    return R(topics=topics)


#: The one log directory a ``--memory`` broker reports. Kafka always has one, and its Admin
#: client reads an answer without any as a cluster authorization failure.
_MEMORY_LOG_DIR = "memory"


@handles(ApiKey.DESCRIBE_LOG_DIRS, versions=(1, 5))
def handle_describe_log_dirs(ctx: RequestContext, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse:
    from kafkapy.wire.messages.describe_log_dirs import DescribeLogDirsResponse as R

    replicas = ctx.broker.replicas
    wanted = None if request.topics is None else {(t.topic, p) for t in request.topics for p in t.partitions}
    root = replicas.logs.data_dir
    by_dir: dict[str, dict[str, list]] = {_MEMORY_LOG_DIR if root is None else os.path.abspath(root): {}}
    for tp, partition in sorted(replicas.partitions.items()):
        if wanted is not None and tp not in wanted:
            continue
        directory = partition.log.directory
        data_dir = _MEMORY_LOG_DIR if directory is None else os.path.dirname(os.path.abspath(directory))
        by_dir.setdefault(data_dir, {}).setdefault(tp.topic, []).append(
            R.DescribeLogDirsPartition(partition_index=tp.partition, partition_size=partition.log.size,
                                       offset_lag=0, is_future_key=False))
    results = []
    for data_dir, topics in sorted(by_dir.items()):
        if root is not None and replicas.logs.offline and data_dir == os.path.abspath(root):
            # Kafka's describeLogDirs: an offline directory is KAFKA_STORAGE_ERROR, no topics.
            results.append(R.DescribeLogDirsResult(error_code=ErrorCode.KAFKA_STORAGE_ERROR, log_dir=data_dir,
                                                   total_bytes=-1, usable_bytes=-1, topics=[]))
            continue
        total = usable = -1  # unknown, as Kafka reports it
        try:
            if data_dir != _MEMORY_LOG_DIR:
                st = os.statvfs(data_dir)
                total, usable = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        except OSError:
            pass
        results.append(R.DescribeLogDirsResult(
            error_code=ErrorCode.NONE, log_dir=data_dir, total_bytes=total, usable_bytes=usable,
            topics=[R.DescribeLogDirsTopic(name=name, partitions=parts) for name, parts in sorted(topics.items())],
        ))
    return R(results=results)
