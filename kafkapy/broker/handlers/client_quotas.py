"""DescribeClientQuotas (key 48) v0-1 and AlterClientQuotas (key 49) v0-1 (KIP-546):
``kafka-configs --entity-type users/clients/ips --alter/--describe``.

Alter is a controller operation (:mod:`kafkapy.kraft.metadata.quota_control`), answered
once its ClientQuotaRecords are committed; a broker that is not the active controller
forwards it (``FORWARDED_APIS``), as Kafka 4's ``ControllerApis.handleAlterClientQuotas``.
Describe is answered from the broker's image, as ``KafkaApis.handleDescribeClientQuotas``
answers it from ``ClientQuotasImage``; a refused filter answers the whole request with
its error and null entries. Authorization (CLUSTER ALTER_CONFIGS / DESCRIBE_CONFIGS)
happens before the handler (:mod:`kafkapy.broker.request_authorization`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.quota_control import (
    QuotaAlteration,
    QuotaFilterError,
    describe_client_quotas,
    entity_of,
)
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.alter_client_quotas import AlterClientQuotasRequest, AlterClientQuotasResponse
    from kafkapy.wire.messages.describe_client_quotas import (
        DescribeClientQuotasRequest,
        DescribeClientQuotasResponse,
    )


@handles(ApiKey.DESCRIBE_CLIENT_QUOTAS, versions=(0, 1))
def handle_describe_client_quotas(ctx: RequestContext,
                                  request: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse:
    from kafkapy.wire.messages.describe_client_quotas import DescribeClientQuotasResponse as Response

    components = [(c.entity_type, c.match_type, c.match) for c in request.components]
    try:
        found = describe_client_quotas(ctx.broker.image, components, bool(request.strict))
    except QuotaFilterError as exc:
        return Response(error_code=exc.code, error_message=str(exc), entries=None)
    return Response(error_code=ErrorCode.NONE, error_message="", entries=[
        Response.EntryData(
            entity=[Response.EntityData(entity_type=t, entity_name=n) for t, n in entity],
            values=[Response.ValueData(key=k, value=v) for k, v in keys.items()])
        for entity, keys in found])


@handles(ApiKey.ALTER_CLIENT_QUOTAS, versions=(0, 1))
async def handle_alter_client_quotas(ctx: RequestContext,
                                     request: AlterClientQuotasRequest) -> AlterClientQuotasResponse:
    from kafkapy.wire.messages.alter_client_quotas import AlterClientQuotasResponse as Response

    alterations = [QuotaAlteration(
        entity_of([(e.entity_type, e.entity_name) for e in entry.entity]),
        tuple((op.key, None if op.remove else op.value) for op in entry.ops)) for entry in request.entries]
    try:
        results = await ctx.broker.metadata.alter_client_quotas(alterations,
                                                                validate_only=bool(request.validate_only))
    except NotControllerError as exc:
        return Response(entries=[Response.EntryData(
            error_code=ErrorCode.NOT_CONTROLLER, error_message=str(exc) or None,
            entity=[Response.EntityData(entity_type=t, entity_name=n) for t, n in a.entity]) for a in alterations])
    return Response(entries=[Response.EntryData(
        error_code=error.code, error_message=error.message,
        entity=[Response.EntityData(entity_type=t, entity_name=n) for t, n in entity]) for entity, error in results])
