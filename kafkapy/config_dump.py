"""The effective configuration as a node logs it at start (Kafka's ``AbstractConfig.logAll``).

Kafka logs one INFO block, ``KafkaConfig values:`` then a tab-indented ``name = value``
line for every config it defines, sorted by name, values as Java prints them (lists as
``[a, b]``, no value as ``null``) and passwords as ``[hidden]``. An operator reads in it
what a node actually runs with, defaults included; kafkapy logs the same block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafkapy.config import BROKER_CONFIGS, ConfigDef, ConfigType, format_value

HIDDEN = "[hidden]"


def _java(definition: ConfigDef, value: Any) -> str:
    if value is None:
        return "null"
    if definition.type is ConfigType.PASSWORD:
        return HIDDEN
    if definition.type is ConfigType.LIST:
        return "[" + ", ".join(value) + "]"
    return format_value(definition.type, value) or "null"


def config_values(properties: Mapping[str, str]) -> dict[str, str]:
    """Every broker config's effective value as the dump shows it, by name.

    Raises:
        ConfigError: a value that does not parse (the node refuses it anyway).
    """
    out = {}
    for name in sorted(BROKER_CONFIGS):
        definition = BROKER_CONFIGS[name]
        value = definition.parse(properties[name]) if name in properties else definition.default
        out[name] = _java(definition, value)
    return out


def config_values_block(properties: Mapping[str, str], title: str = "KafkaConfig") -> str:
    """The logged block: ``KafkaConfig values:`` and one ``\\tname = value`` line per config."""
    lines = [f"{title} values: "]
    lines += [f"\t{name} = {value}" for name, value in config_values(properties).items()]
    return "\n".join(lines)


__all__ = ["HIDDEN", "config_values", "config_values_block"]
