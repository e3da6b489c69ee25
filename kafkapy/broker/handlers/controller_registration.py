"""ControllerRegistration (API key 70) v0, on the controller listener (KIP-919).

An Apache Kafka controller of a mixed quorum registers with the active controller so
that its listeners reach the log (``kafkapy.kraft.metadata.controller_registration``);
a follower controller answers NOT_CONTROLLER and the Kafka node retries with the
leader it learns of (``ControllerRegistrationManager``).
"""

from __future__ import annotations

from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.handlers.controller import controller_only
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode


@controller_only(ApiKey.CONTROLLER_REGISTRATION, versions=(0, 0))
async def handle_controller_registration(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.kraft.metadata.controller_registration import (
        ControllerEndpoint,
        ControllerRegistrationRequest,
    )
    from kafkapy.wire.messages.controller_registration import ControllerRegistrationResponse

    registration = ControllerRegistrationRequest(
        request.controller_id, bytes(request.incarnation_id), request.zk_migration_ready,
        tuple(ControllerEndpoint(e.name, e.host, e.port, e.security_protocol) for e in request.listeners),
        {f.name: (f.min_supported_version, f.max_supported_version) for f in request.features})
    try:
        error = await ctx.broker.metadata.register_controller(registration)
    except NotControllerError:
        return ControllerRegistrationResponse(throttle_time_ms=0, error_code=ErrorCode.NOT_CONTROLLER,
                                              error_message=None)
    return ControllerRegistrationResponse(throttle_time_ms=0, error_code=error.code, error_message=error.message)
