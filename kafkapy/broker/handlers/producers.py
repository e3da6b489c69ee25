"""DescribeProducers (key 61), version 0: the producer state of partitions led here (KIP-664).

For each partition: UNKNOWN_TOPIC_OR_PARTITION or NOT_LEADER_OR_FOLLOWER as for any
leader-only request, else every producer the partition's log keeps state for: epoch,
last sequence and timestamp, the coordinator epoch of its last marker and the first
offset of its open transaction (-1 when none). The admin client's
``describeProducers`` and ``kafka-transactions.sh find-hanging`` read this.
Authorization (TOPIC READ per topic) happens before the handler
(:mod:`kafkapy.broker.request_authorization`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.wire.apis import ApiKey

if TYPE_CHECKING:
    from kafkapy.wire.messages.describe_producers import (
        DescribeProducersRequest,
        DescribeProducersResponse,
    )


@handles(ApiKey.DESCRIBE_PRODUCERS, versions=(0, 0))
def handle_describe_producers(ctx: RequestContext, request: DescribeProducersRequest) -> DescribeProducersResponse:
    from kafkapy.wire.messages.describe_producers import (
        DescribeProducersResponse as Response,
    )

    replicas = ctx.broker.replicas
    topics = []
    for topic in request.topics:
        partitions = []
        for index in topic.partition_indexes:
            code, partition = replicas.leader_partition(topic.name, index)
            pr = Response.PartitionResponse(partition_index=index, error_code=code)
            if partition is not None:
                pr.active_producers = [
                    Response.ProducerState(
                        producer_id=e.producer_id, producer_epoch=e.producer_epoch, last_sequence=e.last_seq,
                        last_timestamp=e.last_timestamp, coordinator_epoch=e.coordinator_epoch,
                        current_txn_start_offset=-1 if e.current_txn_first_offset is None
                        else e.current_txn_first_offset)
                    for e in partition.log.producer_state.entries()]
            else:
                pr.error_message = code.message
            partitions.append(pr)
        topics.append(Response.TopicResponse(name=topic.name, partitions=partitions))
    return Response(topics=topics)
