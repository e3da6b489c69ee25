"""AlterConfigs and IncrementalAlterConfigs for TOPIC, BROKER and GROUP resources (Kafka's
``ConfigurationControlManager``): ConfigRecords for the keys whose value changes.

Resources are checked as Kafka's ``ConfigResourceExistenceChecker`` does: a topic must
exist (UNKNOWN_TOPIC_OR_PARTITION); a broker resource is "" (the cluster default) or
the id of a registered broker (INVALID_REQUEST for a non-integer name,
BROKER_ID_NOT_REGISTERED for an unknown id); a group resource is any non-empty group id
(its configs are Kafka's ``GroupConfig``: names, values and the broker's min/max, else
INVALID_CONFIG). Names and values are checked against
:mod:`kafkapy.config` (INVALID_CONFIG); a topic's resulting configs are validated as a
whole, so ``min.compaction.lag.ms`` > ``max.compaction.lag.ms`` is refused.

Broker resources follow Kafka's ``DynamicBrokerConfig.validateConfigs``, answering
INVALID_REQUEST: a read-only config ("Cannot update these configs dynamically"), a
per-broker config on the cluster default "" ("Cannot update these configs at default
cluster level, broker id must be specified"), a value that does not parse. A name Kafka
does not define is kept, as Kafka keeps it (plugins read their own configs), and a
config kafkapy knows but does not act on is accepted and shown (``Support.IGNORED``);
one it cannot honour is refused unless at Kafka's default (``Support.DEFAULT_ONLY``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from kafkapy.config import (
    BROKER_CONFIGS,
    GROUP_CONFIGS,
    TOPIC_CONFIGS,
    BrokerConfig,
    ConfigDef,
    ConfigError,
    ConfigType,
    UpdateMode,
    cannot_honour,
    validate_group_configs,
    validate_topic_configs,
    validate_turning_off_remote_storage,
)
from kafkapy.kraft.metadata.image import ConfigResourceType, MetadataImage
from kafkapy.kraft.metadata.records import ConfigRecord
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.wire.error_codes import ErrorCode


class AlterConfigOp(enum.IntEnum):
    """IncrementalAlterConfigs' ``config_operation`` codes (Kafka's ``AlterConfigOp.OpType``)."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


class ConfigResource(NamedTuple):
    type: int
    name: str


class ConfigChange(NamedTuple):
    """One entry of an IncrementalAlterConfigs resource."""

    name: str
    op: int
    value: str | None = None


class AlterConfigsResult(NamedTuple):
    resource: ConfigResource
    error: ApiError = NO_ERROR


def incremental_alter_configs(image: MetadataImage,
                              changes: Sequence[tuple[ConfigResource, Sequence[ConfigChange]]], *,
                              validate_only: bool, broker: BrokerConfig | None = None,
                              ) -> ControllerResult[list[AlterConfigsResult]]:
    """IncrementalAlterConfigs: each resource changes entirely or not at all. ``broker``
    (the controller's configuration) bounds group configs, as Kafka's
    ``ControllerConfigurationValidator`` hands its KafkaConfig to ``GroupConfig.validate``."""
    records: list = []
    results = []
    for resource, ops in changes:
        error, new = _incremental(image, resource, ops, broker)
        results.append(AlterConfigsResult(resource, error))
        if error.code == ErrorCode.NONE and not validate_only:
            records += _records(image, resource, new)
    return ControllerResult(records, results)


def alter_configs(image: MetadataImage, changes: Sequence[tuple[ConfigResource, Mapping[str, str | None]]], *,
                  validate_only: bool, broker: BrokerConfig | None = None) -> ControllerResult[list[AlterConfigsResult]]:
    """AlterConfigs (legacy): the given configs replace every dynamic config of the resource."""
    records: list = []
    results = []
    for resource, configs in changes:
        error = _check_resource(image, resource)
        if error is None:
            nulls = [name for name, value in configs.items() if value is None]
            if nulls:
                error = ApiError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {nulls[0]}")
        new = dict(configs)  # type: ignore[arg-type]
        if error is None:
            error = _validate(resource, new, image.configs.get((resource.type, resource.name), {}), broker)
        results.append(AlterConfigsResult(resource, error or NO_ERROR))
        if error is None and not validate_only:
            records += _records(image, resource, new)
    return ControllerResult(records, results)


def _incremental(image: MetadataImage, resource: ConfigResource, ops: Sequence[ConfigChange],
                 broker: BrokerConfig | None) -> tuple[ApiError, dict[str, str]]:
    error = _check_resource(image, resource)
    if error is not None:
        return error, {}
    names = [op.name for op in ops]
    if len(set(names)) != len(names):
        return ApiError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys"), {}
    table = _table(resource.type)
    new = dict(image.configs.get((resource.type, resource.name), {}))
    for op in ops:
        definition = table.get(op.name)
        if op.op == AlterConfigOp.SET:
            if op.value is None:
                return ApiError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {op.name}"), {}
            new[op.name] = op.value
        elif op.op == AlterConfigOp.DELETE:
            new.pop(op.name, None)
        elif op.op in (AlterConfigOp.APPEND, AlterConfigOp.SUBTRACT):
            if definition is None:
                return _unknown(resource, op.name), {}
            if definition.type is not ConfigType.LIST:
                verb = "APPEND to" if op.op == AlterConfigOp.APPEND else "SUBTRACT from"
                return ApiError(ErrorCode.INVALID_CONFIG,
                                f"Can't {verb} key {op.name} because its type is not LIST."), {}
            current = new[op.name] if op.name in new else definition.format(definition.default)
            items = [v for v in (current or "").split(",") if v]
            given = [v.strip() for v in (op.value or "").split(",") if v.strip()]
            if op.op == AlterConfigOp.APPEND:
                items += [v for v in given if v not in items]
            else:
                items = [v for v in items if v not in given]
            new[op.name] = ",".join(items)
        else:
            return ApiError(ErrorCode.INVALID_REQUEST, f"Unknown operation type {op.op}"), {}
    error = _validate(resource, new, image.configs.get((resource.type, resource.name), {}), broker)
    return (error or NO_ERROR), new


def _table(resource_type: int) -> Mapping[str, ConfigDef]:
    if resource_type == ConfigResourceType.GROUP:
        return GROUP_CONFIGS
    return TOPIC_CONFIGS if resource_type == ConfigResourceType.TOPIC else BROKER_CONFIGS


def _unknown(resource: ConfigResource, name: str) -> ApiError:
    kind = {ConfigResourceType.TOPIC: "topic", ConfigResourceType.GROUP: "group"}.get(resource.type, "broker")
    return ApiError(ErrorCode.INVALID_CONFIG, f"Unknown {kind} config name: {name}")


def _check_resource(image: MetadataImage, resource: ConfigResource) -> ApiError | None:
    if resource.type == ConfigResourceType.TOPIC:
        if resource.name not in image.topics_by_name:
            return ApiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                            f"The topic '{resource.name}' does not exist.")
        return None
    if resource.type == ConfigResourceType.BROKER:
        if resource.name == "":
            return None
        try:
            broker_id = int(resource.name)
        except ValueError:
            return ApiError(ErrorCode.INVALID_REQUEST,
                            f"Illegal non-integral BROKER resource type name: {resource.name}")
        if broker_id not in image.brokers:
            return ApiError(ErrorCode.BROKER_ID_NOT_REGISTERED, f"No node with id {broker_id} found.")
        return None
    if resource.type == ConfigResourceType.GROUP:
        # Kafka's group configs need no group to exist (they may be set before it is made).
        return None if resource.name else ApiError(ErrorCode.INVALID_REQUEST, "Group name must not be empty.")
    return ApiError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {resource.type}")


def _validate(resource: ConfigResource, configs: Mapping[str, str], old: Mapping[str, str] | None = None,
              broker: BrokerConfig | None = None) -> ApiError | None:
    """None when the resulting configs are acceptable. Topics: INVALID_CONFIG for an
    unknown name or a bad value. Brokers: INVALID_REQUEST as Kafka's
    ``DynamicBrokerConfig.validateConfigs`` answers (see the module's doc)."""
    if resource.type == ConfigResourceType.TOPIC:
        try:
            new = validate_topic_configs(configs)
            # KIP-405: a topic's remote storage goes off only with its remote data deleted.
            validate_turning_off_remote_storage(validate_topic_configs(old or {}), new)
        except ConfigError as e:
            return ApiError(ErrorCode.INVALID_CONFIG, str(e))
        return None
    if resource.type == ConfigResourceType.GROUP:
        try:
            validate_group_configs(configs, broker)
        except ConfigError as e:
            return ApiError(ErrorCode.INVALID_CONFIG, str(e))
        return None
    known = {name: BROKER_CONFIGS[name] for name in configs if name in BROKER_CONFIGS}
    checks = (
        ("Cannot update these configs dynamically", lambda d: d.read_only),
        ("Cannot update these configs at default cluster level, broker id must be specified",
         lambda d: resource.name == "" and d.update_mode is UpdateMode.PER_BROKER),
    )
    for message, refused in checks:
        names = sorted(name for name, d in known.items() if refused(d))
        if names:
            # Kafka 4.4's Java DynamicBrokerConfig.checkInvalidProps shows a java.util.Set.
            return ApiError(ErrorCode.INVALID_REQUEST, f"{message}: [{', '.join(names)}]")
    for name, definition in known.items():
        try:
            value = definition.parse(configs[name])
        except ConfigError as e:
            return ApiError(ErrorCode.INVALID_REQUEST, str(e))
        problem = cannot_honour(definition, value)
        if problem is not None:
            return ApiError(ErrorCode.INVALID_REQUEST, problem)
    return None


def _records(image: MetadataImage, resource: ConfigResource, new: Mapping[str, str]) -> list:
    """ConfigRecords turning the resource's current configs into ``new``."""
    old = image.configs.get((resource.type, resource.name), {})
    records = [ConfigRecord(resource_type=resource.type, resource_name=resource.name, name=name, value=None)
               for name in sorted(old) if name not in new]
    records += [ConfigRecord(resource_type=resource.type, resource_name=resource.name, name=name, value=value)
                for name, value in sorted(new.items()) if old.get(name) != value]
    return records
