"""Writing transaction markers: the partition leader's side of WriteTxnMarkers (key 27).

The coordinator ends a transaction by having a COMMIT or ABORT control batch appended
to every partition of it, by each partition's leader. This module is that append,
shaped as the WriteTxnMarkers request so that one code path serves both the RPC from
another broker's coordinator (``handlers/txn.py``; the coordinator's side of it is
:mod:`~kafkapy.broker.txn.marker_channel`) and this node's own coordinator, which
calls it in process for the partitions led here.

Per partition, in Kafka's order (``KafkaApis.handleWriteTxnMarkersRequest``): the
partition must be led here (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER), the
log checks the marker against the producer state (INVALID_PRODUCER_EPOCH for a stale
epoch, TRANSACTION_COORDINATOR_FENCED for a stale coordinator epoch), then the append
waits for acks=all like a produce. A marker of transaction version 2 (WriteTxnMarkers
v2, KIP-1228) is checked strictly first: every such transaction ends with an epoch
bump, so its marker's epoch must be above the producer's; the same epoch passes only
as the retry of a marker already written (Kafka 4.4's
``ProducerAppendInfo.checkProducerEpoch``). Versions 0 and 1 keep the older rule (not
below the producer's epoch). Once a marker is in a ``__consumer_offsets``
partition, the group coordinator makes the transaction's staged offsets visible
(commit) or drops them (abort).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kafkapy.broker.replica_manager import ReplicationTarget, TopicPartition
from kafkapy.kraft.metadata.topic_names import GROUP_METADATA_TOPIC
from kafkapy.storage.errors import StorageError
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.wire.messages.write_txn_markers import (
        WriteTxnMarkersRequest,
        WriteTxnMarkersResponse,
    )

log = logging.getLogger(__name__)

#: The highest producer epoch (Short.MAX_VALUE): a producer there cannot be bumped.
_LAST_EPOCH = 32767


async def write_txn_markers(broker: BrokerCore, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse:
    """Append every marker of ``request`` to its partitions; the answer per partition."""
    from kafkapy.wire.messages.write_txn_markers import WriteTxnMarkersResponse

    response = WriteTxnMarkersResponse()
    for marker in request.markers:
        codes = await _write_marker(broker, marker)
        result = WriteTxnMarkersResponse.WritableTxnMarkerResult(producer_id=marker.producer_id)
        for topic in marker.topics:
            result.topics.append(WriteTxnMarkersResponse.WritableTxnMarkerTopicResult(
                name=topic.name, partitions=[
                    WriteTxnMarkersResponse.WritableTxnMarkerPartitionResult(
                        partition_index=index, error_code=codes[TopicPartition(topic.name, index)])
                    for index in topic.partition_indexes]))
        response.markers.append(result)
    return response


async def _write_marker(broker: BrokerCore, marker: WriteTxnMarkersRequest.WritableTxnMarker
                        ) -> dict[TopicPartition, ErrorCode]:
    replicas = broker.replicas
    commit = bool(marker.transaction_result)
    now_ms = broker.clock_ms()
    codes: dict[TopicPartition, ErrorCode] = {}
    waiting: list[ReplicationTarget] = []
    for topic in marker.topics:
        for index in topic.partition_indexes:
            tp = TopicPartition(topic.name, index)
            code, partition = replicas.leader_partition(topic.name, index)
            if partition is not None:
                code = _check_strict_epoch(partition.log, marker)
            if partition is not None and code == ErrorCode.NONE:
                try:
                    info = partition.log.append_end_txn_marker(
                        marker.producer_id, marker.producer_epoch, marker.coordinator_epoch, commit,
                        leader_epoch=partition.leader_epoch, now_ms=now_ms)
                    code = info.error_code
                except StorageError as exc:
                    code = exc.error_code
                if code == ErrorCode.NONE:
                    replicas.on_append(partition)
                    waiting.append(ReplicationTarget(tp, partition.leader_epoch, info.last_offset + 1))
                else:
                    log.info("Marker for producer %d not written to %s: %s", marker.producer_id, tp, code.name)
            elif partition is not None:
                log.info("Marker for producer %d epoch %d not written to %s: %s", marker.producer_id,
                         marker.producer_epoch, tp, code.name)
            codes[tp] = code
    replicated = await replicas.wait_for_replication(waiting, broker.config.request_timeout_ms)
    for target, code in zip(waiting, replicated, strict=True):
        codes[target.tp] = code
    if any(tp.topic == GROUP_METADATA_TOPIC and code == ErrorCode.NONE for tp, code in codes.items()):
        await broker.groups.complete_txn_offsets(marker.producer_id, commit, write_markers=False)
    return codes


def _check_strict_epoch(log_: Any, marker: WriteTxnMarkersRequest.WritableTxnMarker) -> ErrorCode:
    """The transaction version 2 check of ``checkProducerEpoch`` (see the module doc):
    INVALID_PRODUCER_EPOCH for a marker not above the producer's epoch, unless it
    repeats the one that ended the producer's last transaction (none open now) or
    the producer is at the last epoch."""
    if marker.transaction_version < 2:
        return ErrorCode.NONE
    entry = log_.producer_state.producers.get(marker.producer_id)
    if entry is None or marker.producer_epoch > entry.producer_epoch:
        return ErrorCode.NONE
    if marker.producer_epoch == entry.producer_epoch and (
            entry.current_txn_first_offset is None or marker.producer_epoch == _LAST_EPOCH):
        return ErrorCode.NONE
    return ErrorCode.INVALID_PRODUCER_EPOCH
