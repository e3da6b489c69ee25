"""The configuration reference: every config kafkapy accepts, as Kafka's docs list them.

``kafkapy configs`` prints it, so the reference is always the table the broker runs
with (:data:`kafkapy.config.DEFINITIONS`) and never a copy that drifts from it. Every
config Apache Kafka defines is listed; the "kafkapy" column says what kafkapy does with
it (:class:`kafkapy.config.Support`): acted on, ignored (accepted and shown, no effect),
or default only (any other value refuses to start).
"""

from __future__ import annotations

from kafkapy.config import BROKER_CONFIGS, TOPIC_CONFIGS, ConfigDef, Scope, config_names
from kafkapy.config_kafka import KAFKA_VERSION

_COLUMNS = ("name", "type", "default", "valid values", "importance", "update mode", "kafkapy", "description")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _row(d: ConfigDef) -> str:
    default = d.format(d.default)
    cells = (f"`{d.name}`", d.type.name.lower(), "null" if default is None else f"`{default}`" if default else '""',
             d.valid_values, d.importance.value, d.update_mode.value, d.support.value, d.doc)
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render(scope: Scope) -> str:
    """A Markdown table of one scope's configs, sorted by name (internal ones left out)."""
    table = TOPIC_CONFIGS if scope is Scope.TOPIC else BROKER_CONFIGS
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += [_row(table[name]) for name in config_names(scope)]
    return "\n".join(lines)


def render_all() -> str:
    """Both tables under their headings, as ``kafkapy configs`` prints them."""
    return (f"Every config Apache Kafka {KAFKA_VERSION} defines. kafkapy: *acted on*; *ignored* (accepted and shown "
            f"by DescribeConfigs, no effect); *default only* (kafkapy cannot honour another value: it refuses "
            f"to start with one, and AlterConfigs refuses it).\n\n"
            f"## Broker configs\n\n{render(Scope.BROKER)}\n\n"
            f"## Topic configs\n\nSet per topic (CreateTopics, AlterConfigs); a broker config of the "
            f"same meaning (its synonym) sets the default.\n\n{render(Scope.TOPIC)}\n")
