"""Produce (key 0), versions 3-13 (advertised 0-13, as Kafka 4.x: KAFKA-18659).

Each partition's batch is validated and appended by the replica manager
(:func:`~kafkapy.broker.replica_manager.append_to_leader`), in Kafka's check order,
and answered with its own error code. Record bytes go from the request frame to the
log without a copy and without decoding records.

acks:
    0: no response; any partition error closes the connection, so the client
       refreshes its metadata (Kafka's ``KafkaApis.handleProduceRequest``).
    1: answered once the leader has appended.
    -1 (all): waits in the produce purgatory until the high watermark passes each
       batch (all in-sync replicas have it) or ``timeout_ms`` runs out
       (REQUEST_TIMED_OUT); a partition that loses its leadership meanwhile answers
       NOT_LEADER_OR_FOLLOWER; an ISR shrunk below ``min.insync.replicas`` after the
       append answers NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    other: INVALID_REQUIRED_ACKS for every partition.

Version notes:
    v0-2 (message format v0/v1) are refused: Kafka 4.x accepts only magic 2.
    v5+: log_start_offset. v7+: zstd. v8+: error_message.
    v10+: current_leader on NOT_LEADER_OR_FOLLOWER (KIP-951).
    v13: topics by id (UNKNOWN_TOPIC_ID when unknown).
v8+: per-record ``record_errors``, only for records without a key sent to a compacted
topic, the one check for which Kafka (and kafkapy) decodes records. Client quotas
(``producer_byte_rate``) are applied by the dispatcher (:mod:`kafkapy.broker.quotas`).
Transactional batches are checked by the transaction coordinator first
(KIP-890 part 1 verification, :meth:`TransactionCoordinator.verify_produce`); from v12
(transaction version 2, KIP-890 part 2) that adds the partition to the transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.errors import CloseConnection
from kafkapy.broker.registry import handles
from kafkapy.broker.replica_manager import (
    AppendResult,
    ReplicaManager,
    ReplicationTarget,
    TopicPartition,
    append_to_leader,
)
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.produce import ProduceRequest, ProduceResponse

#: Kafka's admin client id, the one client allowed to write internal topics.
_ADMIN_CLIENT_ID = "__admin_client"


@handles(ApiKey.PRODUCE, versions=(3, 13), advertised_min=0)
async def handle_produce(ctx: RequestContext, request: ProduceRequest) -> ProduceResponse | None:
    from kafkapy.wire.messages.produce import ProduceResponse

    TopicResponse = ProduceResponse.TopicProduceResponse
    PartitionResponse = ProduceResponse.PartitionProduceResponse
    broker = ctx.broker
    replicas = broker.replicas
    version = ctx.version
    acks = request.acks
    now_ms = broker.clock_ms()
    internal_allowed = ctx.client_id == _ADMIN_CLIENT_ID
    image = broker.image
    by_id = version >= 13
    metrics = broker.metrics

    # (resolved topic name, topic response, [(partition response, result)]) in request
    # order; from v13 the request names topics by id only, so the name is resolved here.
    entries: list[tuple[str | None, ProduceResponse.TopicProduceResponse,
                        list[tuple[ProduceResponse.PartitionProduceResponse, AppendResult]]]] = []
    any_error = False
    for topic_data in request.topic_data:
        name = topic_data.name
        topic_response = TopicResponse(name=name, topic_id=topic_data.topic_id)
        if by_id:
            topic_image = image.topics_by_id.get(topic_data.topic_id)
            name = topic_image.name if topic_image is not None else None
        parts = []
        for pd in topic_data.partition_data:
            if acks not in (-1, 0, 1):
                result = AppendResult(ErrorCode.INVALID_REQUIRED_ACKS)
            elif name is None:
                result = AppendResult(ErrorCode.UNKNOWN_TOPIC_ID)
            elif (refused := await broker.txn_coordinator.verify_produce(
                    request.transactional_id, name, pd.index, pd.records, version)) is not None:
                result = AppendResult(refused)
            else:
                result = append_to_leader(replicas, name, pd.index, pd.records, produce_version=version,
                                          acks=acks, now_ms=now_ms, internal_allowed=internal_allowed)
            metrics.on_produce(name, len(pd.records) if pd.records is not None else 0, result.error,
                               result.next_offset - result.base_offset)
            any_error = any_error or result.error != ErrorCode.NONE
            parts.append((PartitionResponse(index=pd.index), result))
        entries.append((name, topic_response, parts))

    if acks == 0:
        if any_error:
            raise CloseConnection("acks=0 produce failed; closing so the client refreshes metadata")
        return None

    if acks == -1:
        await _wait_for_replication(replicas, entries, request.timeout_ms)

    responses = []
    for name, topic_response, parts in entries:
        for pr, result in parts:
            _fill(pr, result, ctx, name, version)
        topic_response.partition_responses = [pr for pr, _ in parts]
        responses.append(topic_response)
    return ProduceResponse(responses=responses)


def _fill(pr: ProduceResponse.PartitionProduceResponse, result: AppendResult, ctx: RequestContext,
          topic: str | None, version: int) -> None:
    from kafkapy.wire.messages.produce import ProduceResponse

    pr.error_code = result.error
    pr.base_offset = result.base_offset
    pr.log_append_time_ms = result.log_append_time_ms
    pr.log_start_offset = result.log_start_offset
    if result.error != ErrorCode.NONE:
        pr.error_message = result.message
        pr.record_errors = [ProduceResponse.BatchIndexAndErrorMessage(batch_index=i, batch_index_error_message=m)
                            for i, m in result.record_errors]
        if result.error == ErrorCode.NOT_LEADER_OR_FOLLOWER and version >= 10 and topic is not None:
            registration = ctx.broker.image.partition(topic, pr.index)
            if registration is not None:
                pr.current_leader = ProduceResponse.LeaderIdAndEpoch(
                    leader_id=registration.leader, leader_epoch=registration.leader_epoch)


async def _wait_for_replication(replicas: ReplicaManager,
                                entries: list[tuple[str | None, ProduceResponse.TopicProduceResponse,
                                                    list[tuple[ProduceResponse.PartitionProduceResponse, AppendResult]]]],
                                timeout_ms: int) -> None:
    """Hold an acks=all produce until every appended batch is below the high watermark.

    Kafka's ``DelayedProduce``: completion is checked per partition; on timeout the
    partitions not yet replicated answer REQUEST_TIMED_OUT.
    """
    targets: list[ReplicationTarget] = []
    slots = []
    for name, _, parts in entries:
        for i, (pr, result) in enumerate(parts):
            if result.error == ErrorCode.NONE and name is not None:
                partition = replicas.get(name, pr.index)
                epoch = partition.leader_epoch if partition is not None else -1
                targets.append(ReplicationTarget(TopicPartition(name, pr.index), epoch, result.next_offset))
                slots.append((parts, i))
    codes = await replicas.wait_for_replication(targets, timeout_ms)
    for (parts, i), code in zip(slots, codes, strict=True):
        if code != ErrorCode.NONE:
            pr, result = parts[i]
            parts[i] = (pr, result._replace(error=code, message=None))
