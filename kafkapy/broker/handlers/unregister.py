"""UnregisterBroker (key 64) v0 and UnregisterController (key 94) v0: removing a node's
registration from the metadata log (``kafka-cluster.sh unregister --id N``; Kafka 4.4's
``Admin.unregisterController``).

Both are controller operations answered once their records commit; a broker that is
not the active controller forwards them (``FORWARDED_APIS``), as Kafka's ``KafkaApis``
does, and both listeners serve them. UnregisterBroker takes the broker out of every
ISR and leadership first (``ReplicationControlManager.unregisterBroker``), and an
unknown id is BROKER_ID_NOT_REGISTERED. UnregisterController needs ``metadata.version``
4.4-IV2 (UNSUPPORTED_VERSION below it, with Kafka's message), and an unknown id is
CONTROLLER_ID_NOT_REGISTERED. Neither touches the Raft voter set (RemoveRaftVoter does).

Authorization (CLUSTER ALTER, Kafka's ``ControllerApis``) happens before the handler
(:mod:`kafkapy.broker.request_authorization`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.results import ApiError
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode


async def _unregister(operation: Callable[[], Awaitable[ApiError]], response: type) -> Any:
    try:
        error = await operation()
    except NotControllerError as exc:
        error = ApiError(ErrorCode.NOT_CONTROLLER, str(exc) or None)
    return response(error_code=error.code, error_message=error.message)


@handles(ApiKey.UNREGISTER_BROKER, versions=(0, 0))
async def handle_unregister_broker(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.wire.messages.unregister_broker import UnregisterBrokerResponse

    return await _unregister(lambda: ctx.broker.metadata.unregister_broker(request.broker_id),
                             UnregisterBrokerResponse)


@handles(ApiKey.UNREGISTER_CONTROLLER, versions=(0, 0))
async def handle_unregister_controller(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.wire.messages.unregister_controller import UnregisterControllerResponse

    return await _unregister(lambda: ctx.broker.metadata.unregister_controller(request.controller_id),
                             UnregisterControllerResponse)
