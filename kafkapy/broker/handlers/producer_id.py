"""InitProducerId (key 22), versions 0-5.

Answered by the transaction coordinator (:mod:`kafkapy.broker.txn_coordinator`).
Without a transactional id (the idempotent producer, the default of the Java client,
kafka-python and franz-go) every call gets a new producer id with epoch 0, as Kafka's
``TransactionCoordinator.handleInitProducerId`` does; ids come in blocks from the
controller (:mod:`kafkapy.broker.producer_ids`). With one, the id's epoch is bumped
(fencing older producers) and an open transaction of the old epoch is aborted first.

Version notes:
    v3+: the producer's current id and epoch (KIP-360), both set or both -1
    (else INVALID_REQUEST): a retried bump gets the same epoch back.
    v4+: PRODUCER_FENCED; older versions get INVALID_PRODUCER_EPOCH instead (KIP-588).
Not implemented: v6 two-phase commit (KIP-939).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.errors import BrokerError
from kafkapy.broker.handlers.txn import for_version
from kafkapy.broker.registry import handles
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import NO_PRODUCER_EPOCH, NO_PRODUCER_ID

if TYPE_CHECKING:
    from kafkapy.wire.messages.init_producer_id import (
        InitProducerIdRequest,
        InitProducerIdResponse,
    )


@handles(ApiKey.INIT_PRODUCER_ID, versions=(0, 5))
async def handle_init_producer_id(ctx: RequestContext, request: InitProducerIdRequest) -> InitProducerIdResponse:
    from kafkapy.wire.messages.init_producer_id import InitProducerIdResponse

    expected = None
    if request.producer_id != NO_PRODUCER_ID or request.producer_epoch != NO_PRODUCER_EPOCH:
        if request.producer_id == NO_PRODUCER_ID or request.producer_epoch == NO_PRODUCER_EPOCH:
            return InitProducerIdResponse(error_code=ErrorCode.INVALID_REQUEST, producer_id=-1, producer_epoch=-1)
        expected = (request.producer_id, request.producer_epoch)
    try:
        result = await ctx.broker.txn_coordinator.init_producer_id(
            request.transactional_id, request.transaction_timeout_ms, expected)
    except BrokerError as exc:
        return InitProducerIdResponse(error_code=exc.error_code, producer_id=-1, producer_epoch=-1)
    return InitProducerIdResponse(
        error_code=for_version(result.error, fenced_since=4, abortable_since=None, version=ctx.version),
        producer_id=result.producer_id, producer_epoch=result.producer_epoch)
