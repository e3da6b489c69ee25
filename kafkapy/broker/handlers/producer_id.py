"""InitProducerId (key 22), versions 0-5.

Without a transactional id (the idempotent producer, the default of the Java client,
kafka-python and franz-go) every call gets a new producer id with epoch 0, as Kafka's
``TransactionCoordinator.handleInitProducerId`` does for a null transactional id;
ids come in blocks from the controller (:mod:`kafkapy.broker.producer_ids`).

Not implemented: transactional ids (answered COORDINATOR_NOT_AVAILABLE, retriable,
until a transaction coordinator exists), v6 two-phase commit (KIP-939).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.errors import BrokerError
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse


@handles(ApiKey.INIT_PRODUCER_ID, versions=(0, 5))
async def handle_init_producer_id(ctx: RequestContext, request: InitProducerIdRequest) -> InitProducerIdResponse:
    from kafkapy.wire.messages.init_producer_id import InitProducerIdResponse

    if request.transactional_id is not None:
        return InitProducerIdResponse(error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE)
    try:
        producer_id = await ctx.broker.producer_ids.generate_producer_id()
    except BrokerError as exc:
        return InitProducerIdResponse(error_code=exc.error_code)
    except NotControllerError:
        return InitProducerIdResponse(error_code=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
    return InitProducerIdResponse(producer_id=producer_id, producer_epoch=0)
