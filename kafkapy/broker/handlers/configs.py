"""DescribeConfigs (key 32) v1-4, AlterConfigs (key 33) v0-2,
IncrementalAlterConfigs (key 44) v0-1.

DescribeConfigs answers from the config table (:mod:`kafkapy.config`): for a topic,
every topic config with its effective value, source and synonyms, resolved from the
topic's own configs, then this broker's dynamic configs, the cluster-wide dynamic
defaults, the static ``server.properties`` values and the default (Kafka's
``ConfigHelper``); for a broker (this node's id, or "" for the cluster-wide dynamic
defaults), every broker config the same way; for BROKER_LOGGER, this node's loggers
and their levels.

Alterations go through the controller as ConfigRecords, checked against the table
(:mod:`kafkapy.kraft.metadata.configuration_control`: INVALID_CONFIG for topics,
INVALID_REQUEST for brokers as Kafka's ``DynamicBrokerConfig`` answers); each resource
changes entirely or not at all. A dynamic broker config Kafka does not define is kept
and listed with no value, read-only, sensitive and of unknown type, as Kafka lists it.

Version notes:
    DescribeConfigs v1+: synonyms when asked; v3+: config type and documentation.
    AlterConfigs replaces every dynamic config of the resource (legacy semantics).
GROUP resources hold group configs (Kafka's ``GroupConfig``: the share group ones).
Not implemented: altering BROKER_LOGGER levels, CLIENT_METRICS resources
(INVALID_REQUEST). Authorization (DESCRIBE_CONFIGS / ALTER_CONFIGS on the topic, or on
the cluster for broker resources) happens before the handler
(:mod:`kafkapy.broker.request_authorization`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.config import (
    BROKER_CONFIGS,
    GROUP_CONFIGS,
    BrokerConfigs,
    ConfigDef,
    ConfigSource,
    ConfigSynonymEntry,
    ResolvedConfig,
    UpdateMode,
    describe_topic_configs,
)
from kafkapy.kraft.metadata.configuration_control import ConfigChange, ConfigResource
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.image import ConfigResourceType
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.alter_configs import (
        AlterConfigsRequest,
        AlterConfigsResponse,
    )
    from kafkapy.wire.messages.describe_configs import (
        DescribeConfigsRequest,
        DescribeConfigsResponse,
    )
    from kafkapy.wire.messages.incremental_alter_configs import (
        IncrementalAlterConfigsRequest,
        IncrementalAlterConfigsResponse,
    )

#: Kafka's ``ConfigDef.Type`` id for a logger level (STRING).
_STRING_TYPE = 2
_ALTERABLE = (ConfigResourceType.TOPIC, ConfigResourceType.BROKER, ConfigResourceType.GROUP)


def resolve_broker_config(definition: ConfigDef, sources: BrokerConfigs) -> ResolvedConfig:
    """A broker config as DescribeConfigs reports it: the most specific source wins."""
    layers = ((sources.dynamic_broker, ConfigSource.DYNAMIC_BROKER_CONFIG),
              (sources.dynamic_default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
              (sources.static, ConfigSource.STATIC_BROKER_CONFIG))
    synonyms = [ConfigSynonymEntry(definition.name, None if definition.sensitive else layer[definition.name], source)
                for layer, source in layers if definition.name in layer]
    if definition.default is not None:
        synonyms.append(ConfigSynonymEntry(definition.name, definition.format(definition.default),
                                           ConfigSource.DEFAULT_CONFIG))
    found = sources.lookup(definition.name)
    value = definition.parse(found[0]) if found is not None else definition.default
    source = synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG
    return ResolvedConfig(definition, value, source, tuple(synonyms))


def _entry(c: ResolvedConfig, read_only: bool, with_synonyms: bool,
           with_docs: bool) -> DescribeConfigsResponse.DescribeConfigsResourceResult:
    from kafkapy.wire.messages.describe_configs import DescribeConfigsResponse

    Synonym = DescribeConfigsResponse.DescribeConfigsSynonym
    return DescribeConfigsResponse.DescribeConfigsResourceResult(
        name=c.name,
        value=c.value_str,
        read_only=read_only,
        config_source=c.source,
        is_sensitive=c.definition.sensitive,
        synonyms=[Synonym(name=s.name, value=s.value, source=s.source) for s in c.synonyms] if with_synonyms else [],
        config_type=c.definition.type,
        documentation=c.definition.doc if with_docs else None,
    )


def _unknown_entry(name: str, source: ConfigSource,
                   with_synonyms: bool) -> DescribeConfigsResponse.DescribeConfigsResourceResult:
    """A dynamic broker config Kafka does not define, as Kafka shows one (AlterConfigs
    keeps it for plugins): no value, read-only, sensitive, of unknown type (0)."""
    from kafkapy.wire.messages.describe_configs import DescribeConfigsResponse

    R = DescribeConfigsResponse
    return R.DescribeConfigsResourceResult(
        name=name, value=None, read_only=True, config_source=source, is_sensitive=True,
        synonyms=[R.DescribeConfigsSynonym(name=name, value=None, source=source)] if with_synonyms else [],
        config_type=0, documentation=None)


@handles(ApiKey.DESCRIBE_CONFIGS, versions=(1, 4))
def handle_describe_configs(ctx: RequestContext, request: DescribeConfigsRequest) -> DescribeConfigsResponse:
    from kafkapy.wire.messages.describe_configs import DescribeConfigsResponse

    Result = DescribeConfigsResponse.DescribeConfigsResult
    Entry = DescribeConfigsResponse.DescribeConfigsResourceResult
    broker = ctx.broker
    image = broker.image
    with_synonyms = request.include_synonyms
    with_docs = ctx.version >= 3 and request.include_documentation
    results = []
    for res in request.resources:
        # Kafka leaves the message at its schema default "" unless an exception made the
        # error (an unknown topic is answered with the code alone).
        result = Result(error_code=ErrorCode.NONE, error_message="",
                        resource_type=res.resource_type, resource_name=res.resource_name)
        # No keys, null or empty, means every config (ConfigHelper's filter).
        keys = set(res.configuration_keys) if res.configuration_keys else None
        if res.resource_type == ConfigResourceType.TOPIC:
            if image.topic(res.resource_name) is None:
                result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                result.configs = [
                    _entry(c, False, with_synonyms, with_docs)
                    for c in describe_topic_configs(image.topic_configs(res.resource_name),
                                                    broker.broker_config_sources())
                    if keys is None or c.name in keys
                ]
        elif res.resource_type == ConfigResourceType.BROKER:
            error = _check_broker_name(res.resource_name, broker.node_id)
            if error is not None:
                result.error_code, result.error_message = ErrorCode.INVALID_REQUEST, error
            elif res.resource_name == "":
                # The cluster-wide default resource lists only what is set dynamically.
                dynamic = image.broker_configs("")
                sources = BrokerConfigs(dynamic_default=dynamic)
                result.configs = [
                    _entry(resolve_broker_config(BROKER_CONFIGS[name], sources),
                           BROKER_CONFIGS[name].read_only, with_synonyms, with_docs)
                    if name in BROKER_CONFIGS else
                    _unknown_entry(name, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, with_synonyms)
                    for name in sorted(dynamic) if keys is None or name in keys
                ]
            else:
                sources = broker.broker_config_sources()
                result.configs = [
                    _entry(resolve_broker_config(d, sources), d.update_mode is UpdateMode.READ_ONLY,
                           with_synonyms, with_docs)
                    for name, d in sorted(BROKER_CONFIGS.items())
                    if not d.internal and (keys is None or name in keys)
                ] + [
                    _unknown_entry(name, ConfigSource.DYNAMIC_BROKER_CONFIG, with_synonyms)
                    for name in sorted(sources.dynamic_broker)
                    if name not in BROKER_CONFIGS and (keys is None or name in keys)
                ]
        elif res.resource_type == ConfigResourceType.BROKER_LOGGER:
            error = _check_broker_name(res.resource_name, broker.node_id)
            if error is not None or res.resource_name == "":
                result.error_code = ErrorCode.INVALID_REQUEST
                result.error_message = error or "Broker logger resources need a broker id"
            else:
                result.configs = [
                    Entry(name=name, value=level, read_only=False, config_source=ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG,
                          config_type=_STRING_TYPE, documentation=None)
                    for name, level in _loggers() if keys is None or name in keys
                ]
        elif res.resource_type == ConfigResourceType.GROUP:
            result.configs = _group_entries(ctx, res.resource_name, keys, with_synonyms, with_docs)
        else:
            result.error_code = ErrorCode.INVALID_REQUEST
            result.error_message = f"Unsupported resource type {res.resource_type}"
        results.append(result)
    return DescribeConfigsResponse(results=results)


def _group_entries(ctx: RequestContext, group_id: str, keys: set[str] | None, with_synonyms: bool,
                   with_docs: bool) -> list:
    """A group's configs (Kafka's ``GroupConfig``): set ones as GROUP_CONFIG, the others
    at the broker's value (STATIC_BROKER_CONFIG when the broker sets it, else
    DEFAULT_CONFIG), as Kafka's ``ConfigHelper`` lists them. The synonyms are the
    group's value, then the broker config's (static, default), or the group config's
    own default where no broker config stands behind it."""
    from kafkapy.wire.messages.describe_configs import DescribeConfigsResponse

    Entry = DescribeConfigsResponse.DescribeConfigsResourceResult
    Synonym = DescribeConfigsResponse.DescribeConfigsSynonym
    config = ctx.broker.config
    dynamic = ctx.broker.image.configs.get((ConfigResourceType.GROUP, group_id), {})
    entries = []
    for name, d in sorted(GROUP_CONFIGS.items()):
        if keys is not None and name not in keys:
            continue
        synonym = BROKER_CONFIGS.get(d.synonyms[0].name) if d.synonyms else None
        synonyms = [Synonym(name=name, value=dynamic[name], source=ConfigSource.GROUP_CONFIG)] if name in dynamic else []
        if synonym is not None and synonym.name in config.broker_configs.static:
            synonyms.append(Synonym(name=synonym.name, value=d.format(getattr(config, synonym.field)),
                                    source=ConfigSource.STATIC_BROKER_CONFIG))
        default = synonym or d
        synonyms.append(Synonym(name=default.name, value=default.format(default.default),
                                source=ConfigSource.DEFAULT_CONFIG))
        entries.append(Entry(name=name, value=synonyms[0].value, read_only=False, config_source=synonyms[0].source,
                             is_sensitive=False, synonyms=synonyms if with_synonyms else [], config_type=d.type,
                             documentation=d.doc if with_docs else None))
    return entries


def _check_broker_name(name: str, node_id: int | None) -> str | None:
    """Kafka's ``ConfigAdminManager`` rule: "" or this broker's own id; any id (None) on
    the controller, which gets requests a broker checked and forwarded."""
    if name == "":
        return None
    try:
        broker_id = int(name)
    except ValueError:
        return f"Broker id must be an integer, but it is: {name}"
    if node_id is not None and broker_id != node_id:
        return f"Unexpected broker id, expected {node_id} or empty string, but received {name}"
    return None


def _loggers() -> list[tuple[str, str]]:
    """This process's kafkapy loggers and their effective levels, by name."""
    manager = logging.root.manager
    names = sorted(n for n in manager.loggerDict if n == "kafkapy" or n.startswith("kafkapy."))
    root = [("root", logging.getLevelName(logging.root.level))]
    return root + [(n, logging.getLevelName(logging.getLogger(n).getEffectiveLevel())) for n in names]


async def _alter_resources(ctx: RequestContext, resources: list, response_type: type, incremental: bool,
                           validate_only: bool) -> list:
    """One response per resource, in request order, for both AlterConfigs flavours: the
    resources that may be altered go to the controller together, the others are refused."""
    responses: list = [None] * len(resources)
    changes = []
    forwarded = ctx.conn.listener_name in ctx.broker.config.controller_listeners
    own_id = None if forwarded else ctx.broker.node_id
    for i, res in enumerate(resources):
        error = _check_alterable(res.resource_type, res.resource_name, own_id)
        if error is not None:
            responses[i] = response_type(error_code=ErrorCode.INVALID_REQUEST, error_message=error,
                                         resource_type=res.resource_type, resource_name=res.resource_name)
            continue
        if incremental:
            change = [ConfigChange(c.name, c.config_operation, c.value) for c in res.configs]
        else:
            change = {c.name: c.value for c in res.configs}
        changes.append((i, (ConfigResource(res.resource_type, res.resource_name), change)))
    results = await _alter(ctx, [c for _, c in changes], validate_only, incremental=incremental)
    for (i, (resource, _)), (code, message) in zip(changes, results):
        responses[i] = response_type(error_code=code, error_message=message,
                                     resource_type=resource.type, resource_name=resource.name)
    return responses


@handles(ApiKey.ALTER_CONFIGS, versions=(0, 2))
async def handle_alter_configs(ctx: RequestContext, request: AlterConfigsRequest) -> AlterConfigsResponse:
    from kafkapy.wire.messages.alter_configs import AlterConfigsResponse

    return AlterConfigsResponse(responses=await _alter_resources(
        ctx, request.resources, AlterConfigsResponse.AlterConfigsResourceResponse, False, request.validate_only))


@handles(ApiKey.INCREMENTAL_ALTER_CONFIGS, versions=(0, 1))
async def handle_incremental_alter_configs(ctx: RequestContext, request: IncrementalAlterConfigsRequest
                                           ) -> IncrementalAlterConfigsResponse:
    from kafkapy.wire.messages.incremental_alter_configs import (
        IncrementalAlterConfigsResponse,
    )

    return IncrementalAlterConfigsResponse(responses=await _alter_resources(
        ctx, request.resources, IncrementalAlterConfigsResponse.AlterConfigsResourceResponse, True,
        request.validate_only))


def _check_alterable(resource_type: int, name: str, node_id: int | None) -> str | None:
    if resource_type not in _ALTERABLE:
        return f"Altering resources of type {resource_type} is not supported"
    if resource_type == ConfigResourceType.BROKER:
        return _check_broker_name(name, node_id)
    return None


async def _alter(ctx: RequestContext, changes: list, validate_only: bool, *,
                 incremental: bool) -> list[tuple[ErrorCode, str | None]]:
    if not changes:
        return []
    metadata = ctx.broker.metadata
    try:
        if incremental:
            results = await metadata.incremental_alter_configs(changes, validate_only=validate_only)
        else:
            results = await metadata.alter_configs(changes, validate_only=validate_only)
    except NotControllerError as exc:
        return [(ErrorCode.NOT_CONTROLLER, str(exc))] * len(changes)
    return [(r.error.code, r.error.message) for r in results]
