"""AlterReplicaLogDirs (key 34) v1-2: move a replica to another ``log.dirs`` entry of
this broker (``kafka-reassign-partitions --reassignment-json-file`` with ``log_dirs``).

Answered per partition as Kafka's ``ReplicaManager.alterReplicaLogDirs``: a path that
is not one of this broker's data directories is LOG_DIR_NOT_FOUND (a node with memory
storage has none), an offline one KAFKA_STORAGE_ERROR, a topic name too long for the
``-future`` directory INVALID_TOPIC_EXCEPTION, a partition unknown to the cluster
UNKNOWN_TOPIC_OR_PARTITION and one this broker does not host REPLICA_NOT_AVAILABLE.
A replica already in the directory named is left as it is (NONE).

Not implemented: moving a replica between directories. kafkapy keeps its partitions in
one data directory (the first of ``log.dirs``), so every hosted replica is already in
the only directory it could be asked to move to; DescribeLogDirs never shows a future
replica (``IsFutureKey`` false).

Authorization (CLUSTER ALTER, else CLUSTER_AUTHORIZATION_FAILED for every partition)
happens before the handler (:mod:`kafkapy.broker.request_authorization`).
"""

from __future__ import annotations

import os
from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

#: ``UnifiedLog.logFutureDirName``: ``<topic>-<partition>.<32 hex>-future``, at most 255 bytes.
_FUTURE_SUFFIX_LENGTH = 1 + 32 + len("-future")


def _move_error(ctx: RequestContext, path: str, tp: TopicPartition) -> ErrorCode:
    replicas = ctx.broker.replicas
    if len(f"{tp.topic}-{tp.partition}".encode()) + _FUTURE_SUFFIX_LENGTH > 255:
        return ErrorCode.INVALID_TOPIC_EXCEPTION
    data_dir = replicas.logs.data_dir
    if data_dir is None or os.path.abspath(data_dir) != path:
        return ErrorCode.LOG_DIR_NOT_FOUND
    if replicas.logs.offline:
        return ErrorCode.KAFKA_STORAGE_ERROR
    if tp not in replicas.partitions:
        topic = ctx.broker.image.topic(tp.topic)
        known = topic is not None and tp.partition in topic.partitions
        return ErrorCode.REPLICA_NOT_AVAILABLE if known else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return ErrorCode.NONE


@handles(ApiKey.ALTER_REPLICA_LOG_DIRS, versions=(1, 2))
def handle_alter_replica_log_dirs(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.wire.messages.alter_replica_log_dirs import AlterReplicaLogDirsResponse as R

    # Kafka's request keeps the last directory asked for a partition (partitionDirs).
    wanted = {TopicPartition(t.name, p): d.path for d in request.dirs for t in d.topics for p in t.partitions}
    by_topic: dict[str, list] = {}
    for tp, path in wanted.items():
        by_topic.setdefault(tp.topic, []).append(R.AlterReplicaLogDirPartitionResult(
            partition_index=tp.partition, error_code=_move_error(ctx, path, tp)))
    return R(results=[R.AlterReplicaLogDirTopicResult(topic_name=name, partitions=parts)
                      for name, parts in by_topic.items()])
