"""ListConfigResources (key 74) v0-1 (KIP-1142; v0 was ListClientMetricsResources,
KIP-714): the names ``kafka-configs --describe --entity-type client-metrics`` (or
``groups``, ``topics``, ``brokers``, ``broker-loggers``) lists when no name is given.

Answered by the broker from its metadata image, as Kafka's ``KafkaApis`` answers it:
CLUSTER DESCRIBE_CONFIGS (else CLUSTER_AUTHORIZATION_FAILED, checked before the
handler); v0 lists client metrics resources only; v1 the types asked for, or all five
when none is named, and a type outside them is UNSUPPORTED_VERSION for the whole
request. Groups and client metrics resources are those with dynamic configs; brokers
and broker loggers every registered broker with an endpoint on this listener; topics
every topic, internal ones included.
"""

from __future__ import annotations

from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.image import ConfigResourceType as T
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

#: ``ListConfigResourcesRequest.supportedResourceTypes`` by version, in the order Kafka lists them.
_SUPPORTED = {0: (T.CLIENT_METRICS,), 1: (T.GROUP, T.CLIENT_METRICS, T.BROKER_LOGGER, T.BROKER, T.TOPIC)}


def _names(image: MetadataImage, resource_type: int, listener: str) -> list[str]:
    if resource_type in (T.GROUP, T.CLIENT_METRICS):
        return sorted(name for kind, name in image.configs if kind == resource_type and name)
    if resource_type in (T.BROKER, T.BROKER_LOGGER):
        return [str(b) for b in sorted(image.brokers) if listener in image.brokers[b].endpoints]
    return sorted(image.topics_by_name)


@handles(ApiKey.LIST_CONFIG_RESOURCES, versions=(0, 1))
def handle_list_config_resources(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.wire.messages.list_config_resources import ListConfigResourcesResponse as Response

    supported = _SUPPORTED[min(ctx.version, 1)]
    wanted = list(request.resource_types) if ctx.version >= 1 and request.resource_types else list(supported)
    if any(t not in supported for t in wanted):
        return Response(error_code=ErrorCode.UNSUPPORTED_VERSION)
    image, listener = ctx.broker.image, ctx.conn.listener_name
    return Response(error_code=ErrorCode.NONE, config_resources=[
        Response.ConfigResource(resource_name=name, resource_type=kind)
        for kind in supported if kind in wanted for name in _names(image, kind, listener)])
