"""The configuration table: every config kafkapy knows, with Kafka's names and rules.

One table, :data:`DEFINITIONS`, holds each configuration's name, type, default,
validator, one-line documentation, importance, scope (topic or broker), how it may be
updated, and for topic configs the broker configs that supply its default (Kafka's
"synonyms"). ``kafkapy serve``, DescribeConfigs/AlterConfigs, the pytest plugin and the
log store all read it; no configuration name is spelled anywhere else.

The rules follow Apache Kafka 4.x: the types and parsing of ``ConfigDef`` (a LIST is
comma separated, booleans are ``true``/``false`` in any case, numbers are trimmed), the
topic definitions of ``LogConfig``, the broker defaults of ``ServerLogConfigs`` and the
synonym order of ``ServerTopicConfigSynonyms`` (``retention.ms`` <- ``log.retention.ms``,
``log.retention.minutes``, ``log.retention.hours``; the first one set wins, hours and
minutes converted to milliseconds).

:func:`resolve_topic_config` reproduces how Kafka's DescribeConfigs reports a topic
config: the effective value, its source (DYNAMIC_TOPIC_CONFIG, DYNAMIC_BROKER_CONFIG,
DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG) and the synonyms,
listed by source, then by synonym order (Kafka's ``ConfigHelper.configSynonyms``).
:class:`LogConfig` is the typed view the log store uses.
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
_INT_RANGES = {"INT": (-(2**31), 2**31 - 1), "SHORT": (-(2**15), 2**15 - 1), "LONG": (-(2**63), 2**63 - 1)}

_MINUTES_MS = 60_000
_HOURS_MS = 3_600_000


class ConfigError(ValueError):
    """A configuration value that does not parse or validate (Kafka's ConfigException).

    Carries the config name and the offending value; AlterConfigs/CreateTopics report it as
    INVALID_CONFIG.
    """

    def __init__(self, name: str, value: object, reason: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"Invalid value {value} for configuration {name}: {reason}")


class ConfigType(enum.IntEnum):
    """``ConfigDef.Type``; the numbers are DescribeConfigs' ``config_type`` ids (KIP-569)."""

    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigSource(enum.IntEnum):
    """DescribeConfigs' ``config_source`` ids (``DescribeConfigsResponse.ConfigSource``)."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8


class Importance(enum.Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Scope(enum.Enum):
    TOPIC = "topic"
    BROKER = "broker"
    #: Group configs (Kafka's ``GroupConfig``): set on GROUP resources, not in DEFINITIONS.
    GROUP = "group"


class UpdateMode(enum.Enum):
    """How a config may change at run time (Kafka's docs: "Update Mode").

    Topic configs are always altered per topic (DYNAMIC); broker configs are read-only,
    per-broker or cluster-wide (``DynamicBrokerConfig``).
    """

    READ_ONLY = "read-only"
    PER_BROKER = "per-broker"
    CLUSTER_WIDE = "cluster-wide"
    DYNAMIC = "dynamic"


class Support(enum.Enum):
    """What kafkapy does with a config (the "kafkapy" column of ``kafkapy configs``).

    Every config Apache Kafka defines is known to the table, so a stock
    ``server.properties`` loads and AlterConfigs answers as Kafka does, but kafkapy acts
    on only some. No silent failure: a config kafkapy cannot honour refuses to start
    (and AlterConfigs refuses it) when set to anything but Kafka's default.
    """

    ACTED_ON = "acted on"
    #: Known, accepted, shown by DescribeConfigs, no effect: tuning with no meaning here
    #: (thread counts, buffer sizes, metrics sampling, Kerberos relogin timing, ...).
    IGNORED = "ignored"
    #: Known; any value but Kafka's default refuses to start (plugins, TLS, policies).
    DEFAULT_ONLY = "default only"


# --- validators: each returns None when the (parsed) value is fine, else the reason ---

Validator = Callable[[Any], "str | None"]


def at_least(low: float) -> Validator:
    """``ConfigDef.Range.atLeast``; None (no value) always passes, as in Kafka."""

    def check(value: Any) -> str | None:
        return None if value is None or value >= low else f"Value must be at least {_java_str(low)}"

    check.description = f"[{_java_str(low)},...]"  # type: ignore[attr-defined]
    return check


def between(low: float, high: float) -> Validator:
    """``ConfigDef.Range.between``, both ends inclusive."""

    def check(value: Any) -> str | None:
        if value is None or low <= value <= high:
            return None
        return f"Value must be between {_java_str(low)} and {_java_str(high)}"

    check.description = f"[{_java_str(low)},...,{_java_str(high)}]"  # type: ignore[attr-defined]
    return check


#: The replica selector of KIP-392 that kafkapy implements (``replica.selector.class``).
RACK_AWARE_REPLICA_SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


def one_of(*allowed: str) -> Validator:
    """``ConfigDef.ValidString.in``: exact, case-sensitive match."""

    def check(value: Any) -> str | None:
        return None if value is None or value in allowed else f"String must be one of: {', '.join(allowed)}"

    check.description = f"[{', '.join(allowed)}]"  # type: ignore[attr-defined]
    return check


def list_of(*allowed: str) -> Validator:
    """``ConfigDef.ValidList.in``: every element must be one of ``allowed``, no duplicates."""

    def check(value: Any) -> str | None:
        if value is None:
            return None
        for item in value:
            if item not in allowed:
                return f"Invalid value {item} for configuration: String must be one of: {', '.join(allowed)}"
        if len(set(value)) != len(value):
            return "Values must not be duplicated"
        return None

    check.description = f"[{', '.join(allowed)}]"  # type: ignore[attr-defined]
    return check


#: kafkapy's remote tiers (kafkapy.storage.remote) by the names
#: ``remote.log.storage.manager.class.name`` takes; Kafka's LocalTieredStorage class
#: names the ``local`` tier, whose layout it shares.
REMOTE_STORAGE_MANAGERS: Mapping[str, str] = {
    "local": "local",
    "org.apache.kafka.server.log.remote.storage.LocalTieredStorage": "local",
    "s3": "s3",
}


def _remote_storage_manager(value: Any) -> str | None:
    if value is None or value in REMOTE_STORAGE_MANAGERS:
        return None
    return (f"kafkapy runs no Java plugin classes; its remote tiers are: {', '.join(REMOTE_STORAGE_MANAGERS)}")


_remote_storage_manager.description = "[local, s3]"  # type: ignore[attr-defined]


def _gzip_level(value: Any) -> str | None:
    # GzipCompression: Deflater.DEFAULT_COMPRESSION (-1) or 1..9.
    return None if value is None or value == -1 or 1 <= value <= 9 else "Value must be -1 or between 1 and 9"


_gzip_level.description = "[1,...,9] or -1"  # type: ignore[attr-defined]

_THROTTLED_ENTRY = re.compile(r"^\d+:\d+$")


def _throttled_replicas(value: Any) -> str | None:
    # ThrottledReplicaListValidator: "*" alone, or "partition:broker" entries.
    if value is None or list(value) == ["*"]:
        return None
    if all(_THROTTLED_ENTRY.match(item.strip()) for item in value):
        return None
    return "must be the literal '*' or a list of replicas in the format [PartitionId]:[BrokerId],..."


_throttled_replicas.description = "[partitionId]:[brokerId],[partitionId]:[brokerId],..."  # type: ignore[attr-defined]


#: kafkapy's Prometheus endpoint (``kafkapy.metrics.listener``), the one config Kafka lacks.
METRICS_LISTENER = "kafkapy.metrics.listener"
_METRICS_LISTENER_FORM = re.compile(r"^http://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\s\[\]]+):(?P<port>\d{1,5})/?$")


def parse_metrics_listener(value: str) -> tuple[str, int] | None:
    """``http://HOST:PORT`` -> (host, port); None when it is not of that form."""
    match = _METRICS_LISTENER_FORM.match(value.strip())
    if match is None or int(match["port"]) > 65535:
        return None
    return match["host"].strip("[]"), int(match["port"])


def _metrics_listener(value: Any) -> str | None:
    if value is None or parse_metrics_listener(value) is not None:
        return None
    return "Expected http://HOST:PORT (port 0-65535, 0 for any free port)"


_metrics_listener.description = "http://HOST:PORT"  # type: ignore[attr-defined]


# --- parsing and formatting by type (ConfigDef.parseType / convertToString) ---

_LIST_SPLIT = re.compile(r"\s*,\s*")


def parse_value(name: str, type_: ConfigType, raw: object) -> Any:
    """Parse a config value given as a string (or already typed) by Kafka's rules.

    Returns the typed value: bool, str, int, float, or a tuple of str for LIST; None stays
    None (no value). Raises ConfigError when the text does not parse as ``type_``.
    """
    if raw is None:
        return None
    if not isinstance(raw, str):
        return _check_typed(name, type_, raw)
    text = raw.strip()
    if type_ is ConfigType.BOOLEAN:
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ConfigError(name, raw, "Expected value to be either true or false")
    if type_ in (ConfigType.STRING, ConfigType.CLASS):
        return text
    if type_ is ConfigType.PASSWORD:
        return raw
    if type_ in (ConfigType.INT, ConfigType.SHORT, ConfigType.LONG):
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ConfigError(name, raw, f"Not a number of type {type_.name}")
        return _check_typed(name, type_, int(text))
    if type_ is ConfigType.DOUBLE:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(name, raw, "Not a number of type DOUBLE") from None
    if type_ is ConfigType.LIST:
        return () if not text else tuple(_LIST_SPLIT.split(text))
    raise AssertionError(f"unknown config type {type_!r}")


def _check_typed(name: str, type_: ConfigType, value: object) -> Any:
    if type_ is ConfigType.BOOLEAN and isinstance(value, bool):
        return value
    if type_ in (ConfigType.INT, ConfigType.SHORT, ConfigType.LONG) and isinstance(value, int) and not isinstance(value, bool):
        low, high = _INT_RANGES[type_.name]
        if not low <= value <= high:
            raise ConfigError(name, value, f"Not a number of type {type_.name}")
        return value
    if type_ is ConfigType.DOUBLE and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type_ is ConfigType.LIST and isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    if type_ in (ConfigType.STRING, ConfigType.CLASS, ConfigType.PASSWORD) and isinstance(value, str):
        return value
    raise ConfigError(name, value, f"Expected a value of type {type_.name}")


def _java_str(value: Any) -> str:
    """A number as Java's ``toString`` prints it (0.5, 1.0E-4, 9223372036854775807)."""
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e7):
            mantissa, exponent = f"{value:.16E}".split("E")
            mantissa = mantissa.rstrip("0")
            mantissa = mantissa + "0" if mantissa.endswith(".") else mantissa
            return f"{float(mantissa)!r}E{int(exponent)}"
        return repr(value)
    return str(value)


def format_value(type_: ConfigType, value: Any) -> str | None:
    """Render a typed value as DescribeConfigs shows it (``ConfigDef.convertToString``)."""
    if value is None:
        return None
    if type_ is ConfigType.BOOLEAN:
        return "true" if value else "false"
    if type_ is ConfigType.LIST:
        return ",".join(value)
    return _java_str(value)


# --- the table ---


class Synonym(NamedTuple):
    """A broker config that supplies a topic config's default, and its unit factor.

    ``factor`` converts the broker value to the topic's unit: ``log.retention.hours`` has
    factor 3_600_000 for ``retention.ms``.
    """

    name: str
    factor: int = 1


class ConfigDef(NamedTuple):
    """One configuration: Kafka's ``ConfigDef.ConfigKey`` plus scope and update mode.

    ``default`` is the typed default, or None when the config has no default (Kafka's
    ``null``). ``field`` names the :class:`LogConfig` attribute a topic config fills.
    ``internal`` configs are accepted but never listed (Kafka's ``defineInternal``).
    ``support`` says whether kafkapy acts on it (:class:`Support`).
    """

    name: str
    type: ConfigType
    default: Any
    doc: str
    scope: Scope
    importance: Importance = Importance.MEDIUM
    validator: Validator | None = None
    update_mode: UpdateMode = UpdateMode.DYNAMIC
    synonyms: tuple[Synonym, ...] = ()
    field: str | None = None
    internal: bool = False
    support: Support = Support.ACTED_ON

    @property
    def sensitive(self) -> bool:
        """PASSWORD values are never shown (DescribeConfigs returns null for them)."""
        return self.type is ConfigType.PASSWORD

    @property
    def read_only(self) -> bool:
        return self.update_mode is UpdateMode.READ_ONLY

    @property
    def valid_values(self) -> str:
        """The "Valid Values" column of Kafka's config docs."""
        return getattr(self.validator, "description", "")

    def parse(self, raw: object) -> Any:
        """Parse and validate one value of this config; raises ConfigError."""
        value = parse_value(self.name, self.type, raw)
        if self.validator is not None:
            reason = self.validator(value)
            if reason is not None:
                raise ConfigError(self.name, raw, reason)
        return value

    def format(self, value: Any) -> str | None:
        return None if self.sensitive else format_value(self.type, value)


_T, _B = Scope.TOPIC, Scope.BROKER
_BOOL, _STR, _INT, _LONG, _DOUBLE, _LIST = (
    ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.LONG, ConfigType.DOUBLE, ConfigType.LIST,
)
_HIGH, _MED, _LOW = Importance.HIGH, Importance.MEDIUM, Importance.LOW
_RO, _CW = UpdateMode.READ_ONLY, UpdateMode.CLUSTER_WIDE
_PB = UpdateMode.PER_BROKER

_ONE_GIB = 1024 * 1024 * 1024
_ONE_WEEK_MS = 7 * 24 * _HOURS_MS
_COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
_TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
_CLEANUP_POLICIES = ("compact", "delete")
_MAX_MESSAGE_BYTES = 1024 * 1024 + 12  # 1 MiB + Records.LOG_OVERHEAD
_INDEX_BYTES = 10 * 1024 * 1024


def _syn(*names: str | tuple[str, int]) -> tuple[Synonym, ...]:
    return tuple(Synonym(n) if isinstance(n, str) else Synonym(*n) for n in names)


DEFINITIONS: tuple[ConfigDef, ...] = (
    # ---- topic configs (LogConfig, Kafka 4.x; all MEDIUM, all dynamic per topic) ----
    ConfigDef("cleanup.policy", _LIST, ("delete",), "Retention policy for old segments: delete, compact, or both.",
              _T, validator=list_of(*_CLEANUP_POLICIES), synonyms=_syn("log.cleanup.policy"), field="cleanup_policy"),
    ConfigDef("compression.type", _STR, "producer", "Final compression of the topic's batches; 'producer' keeps the producer's codec.",
              _T, validator=one_of(*_COMPRESSION_TYPES), synonyms=_syn("compression.type"), field="compression_type"),
    ConfigDef("compression.gzip.level", _INT, -1, "Compression level used when compression.type is gzip.",
              _T, validator=_gzip_level, synonyms=_syn("compression.gzip.level"), field="compression_gzip_level"),
    ConfigDef("compression.lz4.level", _INT, 9, "Compression level used when compression.type is lz4.",
              _T, validator=between(1, 17), synonyms=_syn("compression.lz4.level"), field="compression_lz4_level"),
    ConfigDef("compression.zstd.level", _INT, 3, "Compression level used when compression.type is zstd.",
              _T, validator=between(-131072, 22), synonyms=_syn("compression.zstd.level"), field="compression_zstd_level"),
    ConfigDef("delete.retention.ms", _LONG, 86_400_000, "How long tombstones stay in a compacted log.",
              _T, validator=at_least(0), synonyms=_syn("log.cleaner.delete.retention.ms"), field="delete_retention_ms"),
    ConfigDef("file.delete.delay.ms", _LONG, 60_000, "Delay before a deleted segment's files are removed from disk.",
              _T, validator=at_least(0), synonyms=_syn("log.segment.delete.delay.ms"), field="file_delete_delay_ms"),
    ConfigDef("flush.messages", _LONG, LONG_MAX, "Force an fsync after this many messages (1 = after every append).",
              _T, validator=at_least(1), synonyms=_syn("log.flush.interval.messages"), field="flush_messages"),
    ConfigDef("flush.ms", _LONG, LONG_MAX, "Force an fsync when unflushed data is older than this.",
              _T, validator=at_least(0), synonyms=_syn("log.flush.interval.ms", "log.flush.scheduler.interval.ms"), field="flush_ms"),
    ConfigDef("follower.replication.throttled.replicas", _LIST, (), "Replicas whose follower-side replication is throttled.",
              _T, validator=_throttled_replicas, field="follower_replication_throttled_replicas"),
    ConfigDef("index.interval.bytes", _INT, 4096, "Bytes of log between two offset index entries.",
              _T, validator=at_least(0), synonyms=_syn("log.index.interval.bytes"), field="index_interval_bytes"),
    ConfigDef("leader.replication.throttled.replicas", _LIST, (), "Replicas whose leader-side replication is throttled.",
              _T, validator=_throttled_replicas, field="leader_replication_throttled_replicas"),
    ConfigDef("local.retention.bytes", _LONG, -2, "Local bytes kept when tiered storage is on; -2 means retention.bytes.",
              _T, validator=at_least(-2), synonyms=_syn("log.local.retention.bytes"), field="local_retention_bytes"),
    ConfigDef("local.retention.ms", _LONG, -2, "Local time kept when tiered storage is on; -2 means retention.ms.",
              _T, validator=at_least(-2), synonyms=_syn("log.local.retention.ms"), field="local_retention_ms"),
    ConfigDef("max.compaction.lag.ms", _LONG, LONG_MAX, "Longest time a record stays ineligible for compaction.",
              _T, validator=at_least(1), synonyms=_syn("log.cleaner.max.compaction.lag.ms"), field="max_compaction_lag_ms"),
    ConfigDef("max.message.bytes", _INT, _MAX_MESSAGE_BYTES, "Largest record batch the topic accepts, after compression.",
              _T, validator=at_least(0), synonyms=_syn("message.max.bytes"), field="max_message_bytes"),
    ConfigDef("message.timestamp.after.max.ms", _LONG, 3_600_000, "How far in the future a CreateTime timestamp may be.",
              _T, validator=at_least(0), synonyms=_syn("log.message.timestamp.after.max.ms"), field="message_timestamp_after_max_ms"),
    ConfigDef("message.timestamp.before.max.ms", _LONG, LONG_MAX, "How far in the past a CreateTime timestamp may be.",
              _T, validator=at_least(0), synonyms=_syn("log.message.timestamp.before.max.ms"), field="message_timestamp_before_max_ms"),
    ConfigDef("message.timestamp.type", _STR, "CreateTime", "Record timestamps are the producer's (CreateTime) or the broker's (LogAppendTime).",
              _T, validator=one_of(*_TIMESTAMP_TYPES), synonyms=_syn("log.message.timestamp.type"), field="message_timestamp_type"),
    ConfigDef("min.cleanable.dirty.ratio", _DOUBLE, 0.5, "Share of uncleaned log that makes a compacted log eligible for cleaning.",
              _T, validator=between(0, 1), synonyms=_syn("log.cleaner.min.cleanable.ratio"), field="min_cleanable_dirty_ratio"),
    ConfigDef("min.compaction.lag.ms", _LONG, 0, "Shortest time a record stays uncompacted.",
              _T, validator=at_least(0), synonyms=_syn("log.cleaner.min.compaction.lag.ms"), field="min_compaction_lag_ms"),
    ConfigDef("min.insync.replicas", _INT, 1, "In-sync replicas needed to acknowledge an acks=all write.",
              _T, validator=at_least(1), synonyms=_syn("min.insync.replicas"), field="min_insync_replicas"),
    ConfigDef("preallocate", _BOOL, False, "Preallocate segment files to segment.bytes when they are created.",
              _T, synonyms=_syn("log.preallocate"), field="preallocate"),
    ConfigDef("remote.log.copy.disable", _BOOL, False, "Stop copying segments to tiered storage while keeping remote data readable.",
              _T, field="remote_log_copy_disable"),
    ConfigDef("remote.log.delete.on.disable", _BOOL, False, "Delete remote data when tiered storage is turned off for the topic.",
              _T, field="remote_log_delete_on_disable"),
    ConfigDef("remote.storage.enable", _BOOL, False, "Tier the topic's segments to remote storage.",
              _T, field="remote_storage_enable"),
    # KIP-1241 (Kafka 4.4): a closed segment is copied once either lag is reached; 0
    # copies at once, -1 waits for the local retention (time or size). Accepted but not
    # listed (internal), as kafkapy describes Kafka 4.1's configs.
    # KIP-1241, listed from Kafka 4.4 (LogConfig): the byte lag defaults to -1, the time lag to 0.
    ConfigDef("remote.copy.lag.bytes", _LONG, -1, "Bytes of closed segments kept local before copying; -1 means local.retention.bytes.",
              _T, validator=at_least(-1), synonyms=_syn("log.remote.copy.lag.bytes"), field="remote_copy_lag_bytes"),
    ConfigDef("remote.copy.lag.ms", _LONG, 0, "Age of a closed segment's newest record before copying; -1 means local.retention.ms.",
              _T, validator=at_least(-1), synonyms=_syn("log.remote.copy.lag.ms"), field="remote_copy_lag_ms"),
    ConfigDef("retention.bytes", _LONG, -1, "Largest size of a partition before old segments are deleted; -1 for no limit.",
              _T, synonyms=_syn("log.retention.bytes"), field="retention_bytes"),
    ConfigDef("retention.ms", _LONG, _ONE_WEEK_MS, "Longest time a segment is kept before deletion; -1 for no limit.",
              _T, validator=at_least(-1),
              synonyms=_syn("log.retention.ms", ("log.retention.minutes", _MINUTES_MS), ("log.retention.hours", _HOURS_MS)),
              field="retention_ms"),
    ConfigDef("segment.bytes", _INT, _ONE_GIB, "Size at which the active segment is rolled.",
              _T, validator=at_least(1024 * 1024), synonyms=_syn("log.segment.bytes"), field="segment_bytes"),
    ConfigDef("segment.index.bytes", _INT, _INDEX_BYTES, "Preallocated size of a segment's offset and time indexes.",
              _T, validator=at_least(4), synonyms=_syn("log.index.size.max.bytes"), field="segment_index_bytes"),
    ConfigDef("segment.jitter.ms", _LONG, 0, "Largest random time subtracted from segment.ms to spread rolls.",
              _T, validator=at_least(0), synonyms=_syn("log.roll.jitter.ms", ("log.roll.jitter.hours", _HOURS_MS)),
              field="segment_jitter_ms"),
    ConfigDef("segment.ms", _LONG, _ONE_WEEK_MS, "Age at which the active segment is rolled even if not full.",
              _T, validator=at_least(1), synonyms=_syn("log.roll.ms", ("log.roll.hours", _HOURS_MS)), field="segment_ms"),
    ConfigDef("unclean.leader.election.enable", _BOOL, False, "Allow a replica outside the ISR to become leader, losing data.",
              _T, synonyms=_syn("unclean.leader.election.enable"), field="unclean_leader_election_enable"),
    # Kafka's LogConfig.INTERNAL_SEGMENT_BYTES_CONFIG: tests may roll segments below 1 MiB.
    ConfigDef("internal.segment.bytes", _INT, None, "Segment size overriding segment.bytes, for tests only.",
              _T, field="internal_segment_bytes", internal=True),
    # ---- broker configs that are synonyms of topic configs (ServerLogConfigs & co.) ----
    ConfigDef("log.cleanup.policy", _LIST, ("delete",), "Default cleanup.policy of topics.",
              _B, _MED, list_of(*_CLEANUP_POLICIES), _CW),
    ConfigDef("compression.type", _STR, "producer", "Default compression.type of topics.",
              _B, _HIGH, one_of(*_COMPRESSION_TYPES), _CW),
    ConfigDef("compression.gzip.level", _INT, -1, "Default compression.gzip.level of topics.", _B, _MED, _gzip_level, _CW),
    ConfigDef("compression.lz4.level", _INT, 9, "Default compression.lz4.level of topics.", _B, _MED, between(1, 17), _CW),
    ConfigDef("compression.zstd.level", _INT, 3, "Default compression.zstd.level of topics.",
              _B, _MED, between(-131072, 22), _CW),
    ConfigDef("log.cleaner.delete.retention.ms", _LONG, 86_400_000, "Default delete.retention.ms of topics.",
              _B, _MED, at_least(0), _CW),
    ConfigDef("log.segment.delete.delay.ms", _LONG, 60_000, "Default file.delete.delay.ms of topics.",
              _B, _HIGH, at_least(0), _CW),
    ConfigDef("log.flush.interval.messages", _LONG, LONG_MAX, "Default flush.messages of topics.",
              _B, _HIGH, at_least(1), _CW),
    ConfigDef("log.flush.interval.ms", _LONG, None, "Default flush.ms of topics; unset means log.flush.scheduler.interval.ms.",
              _B, _HIGH, None, _CW),
    ConfigDef("log.flush.scheduler.interval.ms", _LONG, LONG_MAX, "How often the flusher checks whether a log needs an fsync.",
              _B, _HIGH, None, _RO, field="log_flush_scheduler_interval_ms"),
    ConfigDef("log.index.interval.bytes", _INT, 4096, "Default index.interval.bytes of topics.", _B, _MED, at_least(0), _CW),
    ConfigDef("log.local.retention.bytes", _LONG, -2, "Default local.retention.bytes of topics.", _B, _MED, at_least(-2), _CW),
    ConfigDef("log.local.retention.ms", _LONG, -2, "Default local.retention.ms of topics.", _B, _MED, at_least(-2), _CW),
    ConfigDef("log.remote.copy.lag.bytes", _LONG, -1, "Default remote.copy.lag.bytes of topics.", _B, _MED, at_least(-1), _CW),
    ConfigDef("log.remote.copy.lag.ms", _LONG, 0, "Default remote.copy.lag.ms of topics.", _B, _MED, at_least(-1), _CW),
    # Tiered storage (KIP-405, Kafka's RemoteLogManagerConfig). The storage manager is
    # one of kafkapy's tiers (kafkapy.storage.remote), not a Java class.
    ConfigDef("remote.log.storage.system.enable", _BOOL, False, "Enable tiered storage on this broker (KIP-405).",
              _B, _MED, None, _RO, field="remote_log_storage_system_enable"),
    ConfigDef("remote.log.storage.manager.class.name", _STR, None,
              "The remote tier: 'local' (a directory, rsm.config.dir) or 's3' (rsm.config.s3.*).",
              _B, _MED, _remote_storage_manager, _RO, field="remote_log_storage_manager_class_name"),
    ConfigDef("remote.log.storage.manager.impl.prefix", _STR, "rsm.config.", "Prefix of the remote tier's own properties.",
              _B, _MED, None, _RO, field="remote_log_storage_manager_impl_prefix"),
    ConfigDef("remote.log.metadata.manager.impl.prefix", _STR, "rlmm.config.",
              "Prefix of the remote log metadata manager's own properties.",
              _B, _MED, None, _RO, field="remote_log_metadata_manager_impl_prefix"),
    ConfigDef("remote.log.manager.task.interval.ms", _LONG, 30_000, "How often each leader copies and expires remote segments.",
              _B, _MED, at_least(1), _RO, field="remote_log_manager_task_interval_ms"),
    ConfigDef("remote.log.manager.copier.thread.pool.size", _INT, 10, "Segment copies in flight at once.",
              _B, _MED, at_least(1), _CW, field="remote_log_manager_copier_thread_pool_size"),
    ConfigDef("remote.log.reader.threads", _INT, 10, "Remote reads in flight at once.",
              _B, _MED, at_least(1), _CW, field="remote_log_reader_threads"),
    ConfigDef("remote.log.index.file.cache.total.size.bytes", _LONG, _ONE_GIB, "Bytes of remote indexes cached locally.",
              _B, _LOW, at_least(1), _CW, field="remote_log_index_file_cache_total_size_bytes"),
    ConfigDef("remote.log.manager.task.retry.backoff.ms", _LONG, 500, "First back-off of a failed copy or expiration.",
              _B, _LOW, at_least(1), _RO, internal=True, field="remote_log_manager_task_retry_backoff_ms"),
    ConfigDef("remote.log.manager.task.retry.backoff.max.ms", _LONG, 30_000, "Longest back-off of a failed copy or expiration.",
              _B, _LOW, at_least(1), _RO, internal=True, field="remote_log_manager_task_retry_backoff_max_ms"),
    ConfigDef("remote.fetch.max.wait.ms", _INT, 500, "Longest wait of a fetch served from the remote tier.",
              _B, _MED, at_least(1), _CW, field="remote_fetch_max_wait_ms"),
    ConfigDef("log.cleaner.max.compaction.lag.ms", _LONG, LONG_MAX, "Default max.compaction.lag.ms of topics.",
              _B, _MED, at_least(1), _CW),
    ConfigDef("message.max.bytes", _INT, _MAX_MESSAGE_BYTES, "Default max.message.bytes of topics.",
              _B, _HIGH, at_least(0), _CW),
    ConfigDef("log.message.timestamp.after.max.ms", _LONG, 3_600_000, "Default message.timestamp.after.max.ms of topics.",
              _B, _MED, at_least(0), _CW),
    ConfigDef("log.message.timestamp.before.max.ms", _LONG, LONG_MAX, "Default message.timestamp.before.max.ms of topics.",
              _B, _MED, at_least(0), _CW),
    ConfigDef("log.message.timestamp.type", _STR, "CreateTime", "Default message.timestamp.type of topics.",
              _B, _MED, one_of(*_TIMESTAMP_TYPES), _CW),
    ConfigDef("log.cleaner.min.cleanable.ratio", _DOUBLE, 0.5, "Default min.cleanable.dirty.ratio of topics.",
              _B, _MED, between(0, 1), _CW),
    ConfigDef("log.cleaner.min.compaction.lag.ms", _LONG, 0, "Default min.compaction.lag.ms of topics.",
              _B, _MED, at_least(0), _CW),
    ConfigDef("min.insync.replicas", _INT, 1, "Default min.insync.replicas of topics.", _B, _HIGH, at_least(1), _CW),
    ConfigDef("log.preallocate", _BOOL, False, "Default preallocate of topics.", _B, _MED, None, _CW),
    ConfigDef("log.retention.bytes", _LONG, -1, "Default retention.bytes of topics.", _B, _HIGH, None, _CW),
    ConfigDef("log.retention.ms", _LONG, None, "Default retention.ms of topics; unset means log.retention.minutes.",
              _B, _HIGH, None, _CW),
    ConfigDef("log.retention.minutes", _INT, None, "Default retention in minutes; unset means log.retention.hours.",
              _B, _HIGH, None, _RO),
    ConfigDef("log.retention.hours", _INT, 168, "Default retention in hours, after log.retention.ms and .minutes.",
              _B, _HIGH, None, _RO),
    ConfigDef("log.segment.bytes", _INT, _ONE_GIB, "Default segment.bytes of topics.", _B, _HIGH, at_least(1024 * 1024), _CW),
    ConfigDef("log.index.size.max.bytes", _INT, _INDEX_BYTES, "Default segment.index.bytes of topics.",
              _B, _MED, at_least(4), _CW),
    ConfigDef("log.roll.jitter.ms", _LONG, None, "Default segment.jitter.ms of topics; unset means log.roll.jitter.hours.",
              _B, _HIGH, None, _CW),
    ConfigDef("log.roll.jitter.hours", _INT, 0, "Default segment jitter in hours, after log.roll.jitter.ms.",
              _B, _HIGH, at_least(0), _RO),
    ConfigDef("log.roll.ms", _LONG, None, "Default segment.ms of topics; unset means log.roll.hours.", _B, _HIGH, None, _CW),
    ConfigDef("log.roll.hours", _INT, 168, "Default segment roll time in hours, after log.roll.ms.",
              _B, _HIGH, at_least(1), _RO),
    ConfigDef("unclean.leader.election.enable", _BOOL, False, "Default unclean.leader.election.enable of topics.",
              _B, _HIGH, None, _CW),
    # ---- other broker configs (KRaftConfigs, SocketServerConfigs, ServerConfigs, ...) ----
    ConfigDef("node.id", _INT, -1, "This node's id in the cluster (broker and controller roles alike).",
              _B, _HIGH, None, _RO, field="node_id"),
    ConfigDef("process.roles", _LIST, (), "The roles this node plays: broker, controller, or both.",
              _B, _HIGH, list_of("broker", "controller"), _RO, field="process_roles"),
    # Kafka 4.4 types listeners, advertised.listeners, controller.listener.names,
    # log.dirs and log.dir as LIST (DescribeConfigs shows configType LIST).
    ConfigDef("listeners", _LIST, ("PLAINTEXT://:9092",), "Comma-separated listener URIs (NAME://host:port) to bind.",
              _B, _HIGH, None, UpdateMode.PER_BROKER, field="listeners"),
    ConfigDef("advertised.listeners", _LIST, None, "Listeners published to clients; unset means listeners.",
              _B, _HIGH, None, _RO, field="advertised_listeners"),
    ConfigDef("listener.security.protocol.map", _STR,
              "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
              "Listener name to security protocol.", _B, _LOW, None, UpdateMode.PER_BROKER,
              field="listener_security_protocol_map"),
    ConfigDef("inter.broker.listener.name", _STR, None, "Listener brokers use to talk to each other.",
              _B, _MED, None, _RO, field="inter_broker_listener_name"),
    ConfigDef("controller.listener.names", _LIST, None, "Comma-separated names of the listeners the controller uses.",
              _B, _HIGH, None, _RO, field="controller_listener_names"),
    ConfigDef("controller.quorum.voters", _LIST, (), "Static quorum voters as id@host:port.",
              _B, _HIGH, None, _RO, field="controller_quorum_voters"),
    ConfigDef("controller.quorum.bootstrap.servers", _LIST, (), "host:port of controllers to discover the quorum from (KIP-853).",
              _B, _HIGH, None, _RO, field="controller_quorum_bootstrap_servers"),
    # QuorumConfig (KIP-595) and the metadata log's snapshot settings (KIP-630).
    ConfigDef("controller.quorum.election.timeout.ms", _INT, 1000,
              "Time without a leader before a voter starts an election; each wait adds up to as much again.",
              _B, _HIGH, at_least(1), _RO, field="controller_quorum_election_timeout_ms"),
    ConfigDef("controller.quorum.fetch.timeout.ms", _INT, 2000,
              "Time without a successful fetch from the leader before a voter stands for election.",
              _B, _HIGH, at_least(1), _RO, field="controller_quorum_fetch_timeout_ms"),
    ConfigDef("controller.quorum.election.backoff.max.ms", _INT, 1000,
              "Largest backoff before a voter that lost an election (or was told to) stands again.",
              _B, _HIGH, at_least(0), _RO, field="controller_quorum_election_backoff_max_ms"),
    ConfigDef("controller.quorum.request.timeout.ms", _INT, 2000,
              "How long a quorum request waits for its answer before it is sent again.",
              _B, _MED, at_least(1), _RO, field="controller_quorum_request_timeout_ms"),
    ConfigDef("controller.quorum.retry.backoff.ms", _INT, 20, "Wait before retrying a failed quorum request.",
              _B, _LOW, at_least(0), _RO, field="controller_quorum_retry_backoff_ms"),
    ConfigDef("metadata.log.max.record.bytes.between.snapshots", _LONG, 20 * 1024 * 1024,
              "Metadata log bytes applied since the last snapshot that make a node take a new one.",
              _B, _HIGH, at_least(1), _RO, field="metadata_log_max_record_bytes_between_snapshots"),
    ConfigDef("metadata.log.max.snapshot.interval.ms", _LONG, 3_600_000,
              "Time since the last snapshot after which a node snapshots new metadata; 0 disables it.",
              _B, _HIGH, at_least(0), _RO, field="metadata_log_max_snapshot_interval_ms"),
    ConfigDef("broker.rack", _STR, None, "Rack of the broker, for rack-aware replica assignment.",
              _B, _MED, None, _RO, field="broker_rack"),
    ConfigDef("replica.selector.class", _STR, None,
              "Replica selector for consumers that may fetch from followers (KIP-392); kafkapy has Kafka's "
              "rack-aware one.", _B, _MED, one_of(RACK_AWARE_REPLICA_SELECTOR), _RO, field="replica_selector_class"),
    ConfigDef("log.dirs", _LIST, None, "Comma-separated data directories; unset means log.dir.",
              _B, _HIGH, None, _RO, field="log_dirs"),
    ConfigDef("log.dir", _LIST, ("/tmp/kafka-logs",), "The data directory, used when log.dirs is unset.",
              _B, _HIGH, None, _RO, field="log_dir"),
    ConfigDef("metadata.log.dir", _STR, None, "Directory of the __cluster_metadata log; unset means the first data directory.",
              _B, _HIGH, None, _RO, field="metadata_log_dir"),
    ConfigDef("num.partitions", _INT, 1, "Partitions of an auto-created topic, or of CreateTopics without a count.",
              _B, _MED, at_least(1), _RO, field="num_partitions"),
    ConfigDef("default.replication.factor", _INT, 1, "Replication factor of auto-created topics and CreateTopics without one.",
              _B, _MED, None, _RO, field="default_replication_factor"),
    ConfigDef("auto.create.topics.enable", _BOOL, True, "Create a topic when Metadata asks for an unknown one.",
              _B, _HIGH, None, _RO, field="auto_create_topics_enable"),
    ConfigDef("delete.topic.enable", _BOOL, True, "Allow DeleteTopics.", _B, _HIGH, None, _RO, field="delete_topic_enable"),
    ConfigDef("offsets.topic.num.partitions", _INT, 50, "Partitions of __consumer_offsets.",
              _B, _HIGH, at_least(1), _RO, field="offsets_topic_num_partitions"),
    ConfigDef("offsets.topic.replication.factor", ConfigType.SHORT, 3, "Replication factor of __consumer_offsets.",
              _B, _HIGH, at_least(1), _RO, field="offsets_topic_replication_factor"),
    ConfigDef("offsets.topic.segment.bytes", _INT, 104_857_600, "Segment size of __consumer_offsets.",
              _B, _HIGH, at_least(1), _RO, field="offsets_topic_segment_bytes"),
    ConfigDef("transaction.state.log.num.partitions", _INT, 50, "Partitions of __transaction_state.",
              _B, _HIGH, at_least(1), _RO, field="transaction_state_log_num_partitions"),
    ConfigDef("transaction.state.log.replication.factor", ConfigType.SHORT, 3, "Replication factor of __transaction_state.",
              _B, _HIGH, at_least(1), _RO, field="transaction_state_log_replication_factor"),
    ConfigDef("transaction.state.log.min.isr", _INT, 2, "min.insync.replicas of __transaction_state.",
              _B, _HIGH, at_least(1), _RO, field="transaction_state_log_min_isr"),
    ConfigDef("transaction.state.log.segment.bytes", _INT, 104_857_600, "Segment size of __transaction_state.",
              _B, _HIGH, at_least(1), _RO, field="transaction_state_log_segment_bytes"),
    ConfigDef("transaction.max.timeout.ms", _INT, 900_000, "Largest transaction.timeout.ms a producer may ask for.",
              _B, _HIGH, at_least(1), _RO, field="transaction_max_timeout_ms"),
    ConfigDef("transactional.id.expiration.ms", _INT, 604_800_000, "A transactional id idle this long is forgotten.",
              _B, _HIGH, at_least(1), _RO, field="transactional_id_expiration_ms"),
    ConfigDef("transaction.abort.timed.out.transaction.cleanup.interval.ms", _INT, 10_000,
              "How often transactions past their timeout are aborted.",
              _B, _LOW, at_least(1), _RO, field="transaction_abort_timed_out_transaction_cleanup_interval_ms"),
    ConfigDef("transaction.remove.expired.transaction.cleanup.interval.ms", _INT, 3_600_000,
              "How often expired transactional ids are removed.",
              _B, _LOW, at_least(1), _RO, field="transaction_remove_expired_transaction_cleanup_interval_ms"),
    ConfigDef("group.initial.rebalance.delay.ms", _INT, 3000, "How long a new classic group waits for more members before its first rebalance.",
              _B, _MED, None, _RO, field="group_initial_rebalance_delay_ms"),
    ConfigDef("group.min.session.timeout.ms", _INT, 6000, "Smallest session timeout a classic group member may ask for.",
              _B, _MED, None, _RO, field="group_min_session_timeout_ms"),
    ConfigDef("group.max.session.timeout.ms", _INT, 1_800_000, "Largest session timeout a classic group member may ask for.",
              _B, _MED, None, _RO, field="group_max_session_timeout_ms"),
    ConfigDef("group.max.size", _INT, INT_MAX, "Most members a classic group may have.",
              _B, _MED, at_least(1), _RO, field="group_max_size"),
    ConfigDef("group.consumer.heartbeat.interval.ms", _INT, 5000, "Heartbeat interval a KIP-848 consumer group member is told to keep.",
              _B, _MED, at_least(1), _RO, field="group_consumer_heartbeat_interval_ms"),
    ConfigDef("group.consumer.session.timeout.ms", _INT, 45_000, "A KIP-848 consumer group member without a heartbeat for this long is removed.",
              _B, _MED, at_least(1), _RO, field="group_consumer_session_timeout_ms"),
    ConfigDef("group.consumer.assignors", _LIST, ("uniform", "range"), "Server-side assignors of KIP-848 consumer groups; the first is the default.",
              _B, _MED, None, _RO, field="group_consumer_assignors"),
    ConfigDef("group.consumer.max.size", _INT, INT_MAX, "Most members a KIP-848 consumer group may have.",
              _B, _MED, at_least(1), _RO, field="group_consumer_max_size"),
    # The range a consumer group's own consumer.* configs may take (GroupConfig.validate).
    ConfigDef("group.consumer.min.session.timeout.ms", _INT, 45_000, "Smallest consumer.session.timeout.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_consumer_min_session_timeout_ms"),
    ConfigDef("group.consumer.max.session.timeout.ms", _INT, 60_000, "Largest consumer.session.timeout.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_consumer_max_session_timeout_ms"),
    ConfigDef("group.consumer.min.heartbeat.interval.ms", _INT, 5000, "Smallest consumer.heartbeat.interval.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_consumer_min_heartbeat_interval_ms"),
    ConfigDef("group.consumer.max.heartbeat.interval.ms", _INT, 15_000, "Largest consumer.heartbeat.interval.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_consumer_max_heartbeat_interval_ms"),
    # Share groups (KIP-932, Kafka's ShareGroupConfig and GroupCoordinatorConfig).
    ConfigDef("group.share.session.timeout.ms", _INT, 45_000, "A share group member without a heartbeat for this long is removed.",
              _B, _MED, at_least(1), _RO, field="group_share_session_timeout_ms"),
    ConfigDef("group.share.heartbeat.interval.ms", _INT, 5000, "Heartbeat interval a share group member is told to keep.",
              _B, _MED, at_least(1), _RO, field="group_share_heartbeat_interval_ms"),
    ConfigDef("group.share.max.size", _INT, 200, "Most members a share group may have.",
              _B, _MED, between(1, 1000), _RO, field="group_share_max_size"),
    ConfigDef("group.share.assignors", _LIST, ("simple",), "Server-side assignors of share groups; the first is the default.",
              _B, _MED, list_of("simple"), _RO, field="group_share_assignors"),
    ConfigDef("group.share.record.lock.duration.ms", _INT, 30_000, "How long a share consumer holds the records it acquired.",
              _B, _MED, between(1000, 3_600_000), _RO, field="group_share_record_lock_duration_ms"),
    ConfigDef("group.share.min.record.lock.duration.ms", _INT, 15_000, "Smallest share.record.lock.duration.ms a group may set.",
              _B, _MED, between(1000, 30_000), _RO, field="group_share_min_record_lock_duration_ms"),
    ConfigDef("group.share.max.record.lock.duration.ms", _INT, 60_000, "Largest share.record.lock.duration.ms a group may set.",
              _B, _MED, between(30_000, 3_600_000), _RO, field="group_share_max_record_lock_duration_ms"),
    ConfigDef("group.share.delivery.count.limit", _INT, 5, "Deliveries of a record to a share group before it is archived.",
              _B, _MED, between(2, 10), _RO, field="group_share_delivery_count_limit"),
    ConfigDef("group.share.partition.max.record.locks", _INT, 2000, "Most records of one share-partition in flight at once.",
              _B, _MED, between(100, 10_000), _RO, field="group_share_partition_max_record_locks"),
    ConfigDef("group.share.max.share.sessions", _INT, 2000, "Most share sessions a broker keeps.",
              _B, _MED, at_least(1), _RO, field="group_share_max_share_sessions"),
    # The range a share group's own share.* configs may take (GroupConfig.validateValues).
    ConfigDef("group.share.min.session.timeout.ms", _INT, 45_000, "Smallest share.session.timeout.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_share_min_session_timeout_ms"),
    ConfigDef("group.share.max.session.timeout.ms", _INT, 60_000, "Largest share.session.timeout.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_share_max_session_timeout_ms"),
    ConfigDef("group.share.min.heartbeat.interval.ms", _INT, 5000, "Smallest share.heartbeat.interval.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_share_min_heartbeat_interval_ms"),
    ConfigDef("group.share.max.heartbeat.interval.ms", _INT, 15_000, "Largest share.heartbeat.interval.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_share_max_heartbeat_interval_ms"),
    ConfigDef("group.share.min.delivery.count.limit", _INT, 2, "Smallest share.delivery.count.limit a group may set.",
              _B, _MED, between(2, 5), _RO, field="group_share_min_delivery_count_limit"),
    ConfigDef("group.share.max.delivery.count.limit", _INT, 10, "Largest share.delivery.count.limit a group may set.",
              _B, _MED, between(5, 25), _RO, field="group_share_max_delivery_count_limit"),
    ConfigDef("group.share.min.partition.max.record.locks", _INT, 100,
              "Smallest share.partition.max.record.locks a group may set.",
              _B, _MED, between(100, 2000), _RO, field="group_share_min_partition_max_record_locks"),
    ConfigDef("group.share.max.partition.max.record.locks", _INT, 4000,
              "Largest share.partition.max.record.locks a group may set.",
              _B, _MED, between(2000, 10_000), _RO, field="group_share_max_partition_max_record_locks"),
    # Streams groups (KIP-1071), Kafka 4.4's GroupCoordinatorConfig names and defaults; the
    # two Kafka 4.1 does not have are accepted but not listed (internal), as kafkapy
    # describes Kafka 4.1's configs.
    ConfigDef("group.streams.session.timeout.ms", _INT, 45_000, "A streams group member without a heartbeat for this long is removed.",
              _B, _MED, at_least(1), _RO, field="group_streams_session_timeout_ms"),
    ConfigDef("group.streams.heartbeat.interval.ms", _INT, 5000, "Heartbeat interval a streams group member is told to keep.",
              _B, _MED, at_least(1), _RO, field="group_streams_heartbeat_interval_ms"),
    ConfigDef("group.streams.max.size", _INT, 2_147_483_647, "Most members a streams group may have.",
              _B, _MED, at_least(1), _RO, field="group_streams_max_size"),
    ConfigDef("group.streams.num.standby.replicas", _INT, 0, "Standby replicas of each stateful task of a streams group.",
              _B, _MED, at_least(0), _RO, field="group_streams_num_standby_replicas"),
    ConfigDef("group.streams.min.session.timeout.ms", _INT, 45_000, "Smallest streams.session.timeout.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_streams_min_session_timeout_ms"),
    ConfigDef("group.streams.max.session.timeout.ms", _INT, 60_000, "Largest streams.session.timeout.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_streams_max_session_timeout_ms"),
    ConfigDef("group.streams.min.heartbeat.interval.ms", _INT, 5000, "Smallest streams.heartbeat.interval.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_streams_min_heartbeat_interval_ms"),
    ConfigDef("group.streams.max.heartbeat.interval.ms", _INT, 15_000, "Largest streams.heartbeat.interval.ms a group may set.",
              _B, _MED, at_least(1), _RO, field="group_streams_max_heartbeat_interval_ms"),
    ConfigDef("group.streams.max.standby.replicas", _INT, 2, "Most streams.num.standby.replicas a group may set.",
              _B, _MED, at_least(0), _RO, field="group_streams_max_standby_replicas"),
    ConfigDef("group.streams.initial.rebalance.delay.ms", _INT, 3000,
              "How long the coordinator waits for more streams clients to join a new group before its first assignment.",
              _B, _MED, at_least(0), _RO, field="group_streams_initial_rebalance_delay_ms"),
    ConfigDef("group.streams.task.offset.interval.ms", _INT, 60_000,
              "How often a streams group member reports its task offsets.",
              _B, _MED, at_least(1), _RO, field="group_streams_task_offset_interval_ms", internal=True),
    ConfigDef("group.streams.acceptable.recovery.lag", ConfigType.LONG, 10_000,
              "Lag behind a changelog's end under which a streams task counts as caught up.",
              _B, _MED, at_least(0), _RO, field="group_streams_acceptable_recovery_lag", internal=True),
    ConfigDef("share.coordinator.state.topic.num.partitions", _INT, 50, "Partitions of __share_group_state.",
              _B, _HIGH, at_least(1), _RO, field="share_coordinator_state_topic_num_partitions"),
    ConfigDef("share.coordinator.state.topic.replication.factor", ConfigType.SHORT, 3, "Replication factor of __share_group_state.",
              _B, _HIGH, at_least(1), _RO, field="share_coordinator_state_topic_replication_factor"),
    ConfigDef("share.coordinator.state.topic.min.isr", ConfigType.SHORT, 2, "min.insync.replicas of __share_group_state.",
              _B, _HIGH, at_least(1), _RO, field="share_coordinator_state_topic_min_isr"),
    ConfigDef("share.coordinator.state.topic.segment.bytes", _INT, 104_857_600, "Segment size of __share_group_state.",
              _B, _HIGH, at_least(1), _RO, field="share_coordinator_state_topic_segment_bytes"),
    ConfigDef("share.coordinator.snapshot.update.records.per.snapshot", _INT, 500,
              "Update records the share coordinator writes for a share-partition between two snapshots.",
              _B, _MED, at_least(0), _RO, field="share_coordinator_snapshot_update_records_per_snapshot"),
    ConfigDef("share.coordinator.write.timeout.ms", _INT, 5000, "How long a share-state write waits for its replicas.",
              _B, _HIGH, at_least(1), _RO, field="share_coordinator_write_timeout_ms"),
    ConfigDef("offsets.retention.minutes", _INT, 10080, "Committed offsets of a group without members are kept this long.",
              _B, _HIGH, at_least(1), _RO, field="offsets_retention_minutes"),
    ConfigDef("offsets.retention.check.interval.ms", _LONG, 600_000, "How often expired offsets are looked for.",
              _B, _HIGH, at_least(1), _RO, field="offsets_retention_check_interval_ms"),
    ConfigDef("offsets.commit.timeout.ms", _INT, 5000, "How long an offset commit waits for its replicas before it fails.",
              _B, _HIGH, at_least(1), _RO, field="offsets_commit_timeout_ms"),
    ConfigDef("offset.metadata.max.bytes", _INT, 4096, "Largest metadata string an offset commit may carry.",
              _B, _HIGH, None, _RO, field="offset_metadata_max_bytes"),
    ConfigDef("socket.request.max.bytes", _INT, 104_857_600, "Largest request the broker reads; a larger size header closes the connection.",
              _B, _HIGH, at_least(1), _RO, field="socket_request_max_bytes"),
    ConfigDef("socket.listen.backlog.size", _INT, 50, "Pending connections the listen queue holds.",
              _B, _MED, at_least(1), _RO, field="socket_listen_backlog_size"),
    ConfigDef("connections.max.idle.ms", _LONG, 600_000, "Idle connections are closed after this long.",
              _B, _MED, None, _RO, field="connections_max_idle_ms"),
    ConfigDef("max.connections", _INT, INT_MAX, "Connections the broker accepts across all listeners.",
              _B, _MED, at_least(0), _CW, field="max_connections"),
    ConfigDef("max.connections.per.ip", _INT, INT_MAX, "Connections accepted from one IP address.",
              _B, _MED, at_least(0), _CW, field="max_connections_per_ip"),
    ConfigDef("max.connections.per.ip.overrides", _STR, "", "Per-IP or per-host overrides of max.connections.per.ip (ip:count,...).",
              _B, _MED, None, _CW, field="max_connections_per_ip_overrides"),
    ConfigDef("max.connection.creation.rate", _INT, INT_MAX,
              "New connections accepted per second across the broker's listeners (KIP-612); accepting waits when over.",
              _B, _MED, at_least(0), _CW, field="max_connection_creation_rate"),
    ConfigDef("queued.max.request.bytes", _LONG, -1,
              "Bytes of requests read but not yet handled before the broker stops reading more; -1 for no bound.",
              _B, _MED, None, _RO, field="queued_max_request_bytes"),
    ConfigDef("fetch.max.bytes", _INT, 57_671_680, "Largest Fetch response the broker returns (55 MiB).",
              _B, _MED, at_least(1024), _RO, field="fetch_max_bytes"),
    ConfigDef("max.incremental.fetch.session.cache.slots", _INT, 1000,
              "Most incremental fetch sessions (KIP-227) the broker keeps, split evenly among 8 cache shards.",
              _B, _MED, at_least(0), _RO, field="max_incremental_fetch_session_cache_slots"),
    ConfigDef("replica.lag.time.max.ms", _LONG, 30_000, "A follower that has not caught up for this long leaves the ISR.",
              _B, _HIGH, None, _RO, field="replica_lag_time_max_ms"),
    ConfigDef("replica.fetch.max.bytes", _INT, 1_048_576, "Bytes a follower asks of each partition per fetch.",
              _B, _MED, at_least(0), _RO, field="replica_fetch_max_bytes"),
    ConfigDef("replica.fetch.min.bytes", _INT, 1, "Bytes a follower fetch waits for before the leader answers.",
              _B, _HIGH, None, _RO, field="replica_fetch_min_bytes"),
    ConfigDef("replica.fetch.wait.max.ms", _INT, 500, "Longest a follower fetch waits at the leader for data.",
              _B, _HIGH, None, _RO, field="replica_fetch_wait_max_ms"),
    ConfigDef("replica.fetch.backoff.ms", _INT, 1000, "Pause of a follower after a partition's fetch failed.",
              _B, _MED, at_least(0), _RO, field="replica_fetch_backoff_ms"),
    ConfigDef("replica.fetch.response.max.bytes", _INT, 10_485_760, "Largest follower fetch response asked for.",
              _B, _MED, at_least(0), _RO, field="replica_fetch_response_max_bytes"),
    ConfigDef("replica.socket.timeout.ms", _INT, 30_000, "Network timeout of follower fetch requests.",
              _B, _HIGH, None, _RO, field="replica_socket_timeout_ms"),
    ConfigDef("num.replica.fetchers", _INT, 1, "Fetcher connections a follower opens to each leader broker.",
              _B, _HIGH, at_least(1), _CW, field="num_replica_fetchers"),
    ConfigDef("broker.session.timeout.ms", _INT, 9000, "A broker that sends no heartbeat for this long is fenced.",
              _B, _MED, None, _RO, field="broker_session_timeout_ms"),
    ConfigDef("broker.heartbeat.interval.ms", _INT, 2000, "Interval of broker heartbeats to the controller.",
              _B, _MED, None, _RO, field="broker_heartbeat_interval_ms"),
    # ReplicationConfigs: the active controller's leader balancing (QuorumController).
    ConfigDef("auto.leader.rebalance.enable", _BOOL, True,
              "The active controller moves leadership back to preferred replicas every leader.imbalance.check.interval.seconds.",
              _B, _HIGH, None, _RO, field="auto_leader_rebalance_enable"),
    ConfigDef("leader.imbalance.check.interval.seconds", _LONG, 300, "How often the controller checks for leaders that are not the preferred replica.",
              _B, _HIGH, at_least(1), _RO, field="leader_imbalance_check_interval_seconds"),
    ConfigDef("leader.imbalance.per.broker.percentage", _INT, 10,
              "Leader imbalance allowed per broker; Kafka 4.x's KRaft controller does not read it, nor does kafkapy.",
              _B, _HIGH, None, _RO, field="leader_imbalance_per_broker_percentage", internal=True),
    ConfigDef("unclean.leader.election.interval.ms", _LONG, 300_000,
              "How often the controller tries unclean elections for leaderless partitions of topics that allow them.",
              _B, _MED, at_least(1), _RO, field="unclean_leader_election_interval_ms", internal=True),
    ConfigDef("request.timeout.ms", _INT, 30_000, "Timeout of requests the broker sends to other nodes.",
              _B, _HIGH, None, _RO, field="request_timeout_ms"),
    ConfigDef("log.retention.check.interval.ms", _LONG, 300_000, "How often logs are checked for segments to delete.",
              _B, _MED, at_least(1), _RO, field="log_retention_check_interval_ms"),
    ConfigDef("log.flush.offset.checkpoint.interval.ms", _INT, 60_000, "How often the recovery-point and other offset checkpoints are written.",
              _B, _HIGH, at_least(0), _RO, field="log_flush_offset_checkpoint_interval_ms"),
    ConfigDef("num.recovery.threads.per.data.dir", _INT, 2,
              "Threads per data directory opening (and recovering) the logs at start-up; read at start.",
              _B, _HIGH, at_least(1), _CW, field="num_recovery_threads_per_data_dir"),
    ConfigDef("log.cleaner.enable", _BOOL, True, "Run the log cleaner (compaction) on compacted topics.",
              _B, _MED, None, _RO, field="log_cleaner_enable"),
    ConfigDef("log.cleaner.backoff.ms", _LONG, 15_000, "Sleep of the log cleaner when no log needs cleaning.",
              _B, _MED, at_least(0), _CW, field="log_cleaner_backoff_ms"),
    ConfigDef("producer.id.expiration.ms", _INT, 86_400_000, "Producer state is dropped after this long without writes.",
              _B, _LOW, at_least(1), _CW, field="producer_id_expiration_ms"),
    # ---- security (BrokerSecurityConfigs, SaslConfigs, SslConfigs; KIP-43, KIP-554, KIP-368) ----
    # Per-listener forms (``listener.name.<l>.<name>``, and for JAAS configs
    # ``listener.name.<l>.<mechanism>.<name>``) are read through listener_config().
    ConfigDef("sasl.enabled.mechanisms", _LIST, ("GSSAPI",),
              "SASL mechanisms the broker's SASL listeners accept; kafkapy serves PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER.",
              _B, _MED, None, UpdateMode.PER_BROKER, field="sasl_enabled_mechanisms"),
    ConfigDef("sasl.jaas.config", ConfigType.PASSWORD, None,
              "JAAS login context of SASL listeners (PlainLoginModule user_<name>=\"<password>\" entries).",
              _B, _MED, None, UpdateMode.PER_BROKER, field="sasl_jaas_config"),
    ConfigDef("sasl.mechanism.inter.broker.protocol", _STR, "GSSAPI", "SASL mechanism brokers use with each other.",
              _B, _MED, None, UpdateMode.PER_BROKER, field="sasl_mechanism_inter_broker_protocol"),
    ConfigDef("sasl.mechanism.controller.protocol", _STR, "GSSAPI", "SASL mechanism used to reach the controllers.",
              _B, _HIGH, None, _RO, field="sasl_mechanism_controller_protocol"),
    ConfigDef("sasl.server.callback.handler.class", ConfigType.CLASS, None,
              "Server callback handler of SASL listeners; kafkapy has only Kafka's default ones.",
              _B, _MED, None, _RO, field="sasl_server_callback_handler_class"),
    ConfigDef("security.inter.broker.protocol", _STR, "PLAINTEXT",
              "Security protocol brokers use with each other, when inter.broker.listener.name is unset.",
              _B, _MED, one_of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"), _RO,
              field="security_inter_broker_protocol"),
    ConfigDef("connection.failed.authentication.delay.ms", _INT, 100,
              "Delay before a connection that failed authentication is answered and closed.",
              _B, _LOW, at_least(0), _RO, field="connection_failed_authentication_delay_ms"),
    ConfigDef("connections.max.reauth.ms", _LONG, 0,
              "Longest session of a SASL connection before the client must re-authenticate (KIP-368); 0 means never.",
              _B, _MED, None, _RO, field="connections_max_reauth_ms"),
    # OAUTHBEARER with OAuthBearerValidatorCallbackHandler (KIP-768, SaslConfigs); also read as
    # listener.name.<l>.oauthbearer.<name> (kafkapy.broker.security.oauthbearer_jwks).
    ConfigDef("sasl.oauthbearer.jwks.endpoint.url", _STR, None,
              "URL (https://, http:// or file://) of the JWKS whose keys sign OAUTHBEARER tokens.",
              _B, _MED, None, _RO, field="sasl_oauthbearer_jwks_endpoint_url"),
    ConfigDef("sasl.oauthbearer.jwks.endpoint.refresh.ms", _LONG, 3_600_000,
              "How often the JWKS is fetched again.",
              _B, _LOW, None, _RO, field="sasl_oauthbearer_jwks_endpoint_refresh_ms"),
    ConfigDef("sasl.oauthbearer.expected.audience", _LIST, (),
              "Audiences an OAUTHBEARER token's aud claim must name one of.",
              _B, _LOW, None, _RO, field="sasl_oauthbearer_expected_audience"),
    ConfigDef("sasl.oauthbearer.expected.issuer", _STR, None,
              "The iss claim OAUTHBEARER tokens must carry.",
              _B, _LOW, None, _RO, field="sasl_oauthbearer_expected_issuer"),
    ConfigDef("sasl.oauthbearer.sub.claim.name", _STR, "sub",
              "Claim of an OAUTHBEARER token that names its principal.",
              _B, _LOW, None, _RO, field="sasl_oauthbearer_sub_claim_name"),
    ConfigDef("sasl.oauthbearer.scope.claim.name", _STR, "scope",
              "Claim of an OAUTHBEARER token that holds its scope.",
              _B, _LOW, None, _RO, field="sasl_oauthbearer_scope_claim_name"),
    ConfigDef("sasl.oauthbearer.clock.skew.seconds", _INT, 30,
              "Leeway between the identity provider's clock and the broker's for exp and iat.",
              _B, _LOW, None, _RO, field="sasl_oauthbearer_clock_skew_seconds"),
    ConfigDef("authorizer.class.name", _STR, "",
              "Authorizer of requests: empty (none) or Kafka's StandardAuthorizer (ACLs in the metadata log, KIP-801).",
              _B, _LOW, None, _RO, field="authorizer_class_name"),
    # StandardAuthorizer's own settings (``StandardAuthorizer.configure``): Kafka reads them from
    # the broker's originals and DescribeConfigs does not list them, hence internal rows.
    ConfigDef("super.users", _STR, "", "Principals allowed everything, separated by ';' (User:admin;User:ANONYMOUS).",
              _B, _LOW, None, _RO, field="super_users", internal=True),
    ConfigDef("allow.everyone.if.no.acl.found", _BOOL, False,
              "Whether a resource no ACL matches is open to everyone (StandardAuthorizer; Kafka's default false).",
              _B, _LOW, None, _RO, field="allow_everyone_if_no_acl_found", internal=True),
    # Client quotas (Kafka's ClientQuotaManagerConfig; kafkapy.broker.quotas).
    ConfigDef("quota.window.num", _INT, 11, "Number of samples kept in memory for client quotas.",
              _B, _LOW, at_least(1), _RO, field="quota_window_num"),
    ConfigDef("quota.window.size.seconds", _INT, 1, "Time span of each sample of client quotas.",
              _B, _LOW, at_least(1), _RO, field="quota_window_size_seconds"),
    ConfigDef("controller.quota.window.num", _INT, 11,
              "Number of samples kept for controller mutation quotas (KIP-599).",
              _B, _LOW, at_least(1), _RO, field="controller_quota_window_num"),
    ConfigDef("controller.quota.window.size.seconds", _INT, 1,
              "Time span of each sample of controller mutation quotas (KIP-599).",
              _B, _LOW, at_least(1), _RO, field="controller_quota_window_size_seconds"),
    ConfigDef("principal.builder.class", ConfigType.CLASS,
              "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder",
              "Builds a connection's principal; kafkapy has only Kafka's default one.",
              _B, _MED, None, _RO, field="principal_builder_class"),
    # kafkapy's own: where /metrics is served in Prometheus' text format (Kafka has JMX
    # instead); internal, as DescribeConfigs lists only Kafka's names.
    ConfigDef(METRICS_LISTENER, _STR, None,
              "http://HOST:PORT serving /metrics (Prometheus text format, JMX-exporter names); unset: none.",
              _B, _LOW, _metrics_listener, _RO, field="metrics_listener", internal=True),
    # SslConfigs as Kafka defines them: TLS listeners (kafkapy/broker/security/ssl_factory.py,
    # which refuses the values it cannot honour). The key and trust store settings are per-broker
    # dynamic as in Kafka (AlterConfigs reloads them: kafkapy/broker/security/ssl_reload.py); the
    # others, which Kafka also lists per-broker, are read-only here: kafkapy does not apply them
    # to running listeners, so AlterConfigs refuses them rather than store what would not take effect.
    *(ConfigDef(name, type_, default, doc, _B, importance, None, mode, field=name.replace(".", "_"))
      for name, type_, default, importance, mode, doc in (
        ("ssl.keystore.location", _STR, None, _HIGH, _PB, "Key store of TLS listeners."),
        ("ssl.keystore.type", _STR, "JKS", _MED, _PB,
         "Format of the key store: PEM or PKCS12 (JKS is refused: convert it to PKCS12)."),
        ("ssl.keystore.password", ConfigType.PASSWORD, None, _HIGH, _PB,
         "Password of the key store."),
        ("ssl.keystore.key", ConfigType.PASSWORD, None, _HIGH, _PB,
         "PEM private key of TLS listeners."),
        ("ssl.keystore.certificate.chain", ConfigType.PASSWORD, None, _HIGH, _PB,
         "PEM certificate chain of TLS listeners."),
        ("ssl.key.password", ConfigType.PASSWORD, None, _HIGH, _PB,
         "Password of the private key in the key store."),
        ("ssl.truststore.location", _STR, None, _HIGH, _PB, "Trust store of TLS listeners."),
        ("ssl.truststore.type", _STR, "JKS", _MED, _PB,
         "Format of the trust store: PEM or PKCS12 (JKS is refused: convert it to PKCS12)."),
        ("ssl.truststore.password", ConfigType.PASSWORD, None, _HIGH, _PB,
         "Password of the trust store."),
        ("ssl.truststore.certificates", ConfigType.PASSWORD, None, _HIGH, _PB,
         "PEM trusted certificates."),
        ("ssl.client.auth", _STR, "none", _MED, _RO,
         "Whether TLS listeners ask for client certificates: none, requested or required."),
        ("ssl.enabled.protocols", _LIST, ("TLSv1.2", "TLSv1.3"), _MED, _RO,
         "TLS versions of TLS listeners."),
        ("ssl.protocol", _STR, "TLSv1.3", _MED, _RO,
         "TLS protocol of TLS listeners' SSLContext (TLSv1.2, TLSv1.3 or TLS)."),
        ("ssl.cipher.suites", _LIST, (), _LOW, _RO,
         "Cipher suites of TLS listeners, by their Java (IANA) names; empty: OpenSSL's defaults."),
        ("ssl.endpoint.identification.algorithm", _STR, "https", _LOW, _RO,
         "Host name verification of TLS peers (https or empty)."),
        ("ssl.principal.mapping.rules", _STR, "DEFAULT", _LOW, _RO,
         "Rules mapping certificate subject names to principals (RULE:pattern/replacement/[LU], DEFAULT)."),
    )),
)

#: Kafka's SslConfigs all start so; those without a row above (ssl.provider,
#: ssl.engine.factory.class, ...) refuse values other than their defaults.
SSL_CONFIG_PREFIX = "ssl."
#: The one principal builder kafkapy has (``principal.builder.class``'s default).
DEFAULT_PRINCIPAL_BUILDER = "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"
#: Kafka's ``ListenerName.CONFIG_STATIC_PREFIX``: ``listener.name.<listener, lower case>.<config>``.
LISTENER_CONFIG_PREFIX = "listener.name."


# ---- every other config Apache Kafka defines (kafkapy/config_kafka.py, generated) ----

#: Why kafkapy cannot honour a config at anything but Kafka's default, by name; any
#: other CLASS config, and the ``ssl.`` ones, are refused the same way (see _support).
_DEFAULT_ONLY_REASONS: Mapping[str, str] = {
    "metric.reporters": "kafkapy runs no Java metrics reporters",
    "kafka.metrics.reporters": "kafkapy runs no Java metrics reporters",
    "security.providers": "kafkapy loads no Java security providers",
    "delegation.token.secret.key": "kafkapy has no delegation tokens",
    "cordoned.log.dirs": "kafkapy does not cordon log directories (KIP-1066)",
    "remote.log.storage.manager.class.path": "kafkapy has no tiered storage",
    "remote.log.metadata.manager.class.name": "kafkapy has no tiered storage",
    "remote.log.metadata.manager.class.path": "kafkapy has no tiered storage",
    "transaction.two.phase.commit.enable": "kafkapy has no two-phase commit transactions (KIP-939)",
    "group.coordinator.rebalance.protocols": "kafkapy always serves the classic, consumer, share and streams protocols",
    "security.inter.broker.protocol": "name the inter-broker listener (any protocol) in inter.broker.listener.name",
}
_CLASS_REASON = "kafkapy runs no Java plugin classes"
_TLS_REASON = "kafkapy's TLS listeners run on OpenSSL (Python's ssl module), with no Java providers or factories"


def _one_of_ignoring_case(*allowed: str) -> Validator:
    """``ConfigDef.CaseInsensitiveValidString.in``."""
    lowered = {a.lower() for a in allowed}

    def check(value: Any) -> str | None:
        if value is None or value.lower() in lowered:
            return None
        return f"String must be one of (case insensitive): {', '.join(allowed)}"

    check.description = f"[{', '.join(allowed)}]"  # type: ignore[attr-defined]
    return check


def _generated_validator(spec: tuple | None, valid_values: str) -> Validator | None:
    if spec is None:
        return None
    kind, *args = spec
    if kind == "range":
        low, high = args
        check = at_least(low) if high is None else between(-float("inf") if low is None else low, high)
    elif kind == "in_list":
        check = list_of(*args)
    elif kind == "in_ignoring_case":
        check = _one_of_ignoring_case(*args)
    else:
        check = one_of(*args)
    if valid_values:
        check.description = valid_values  # type: ignore[attr-defined]
    return check


def _support(name: str, type_: ConfigType) -> Support:
    """Harmless to ignore, unless a value other than the default asks for what kafkapy lacks."""
    if name in _DEFAULT_ONLY_REASONS or type_ is ConfigType.CLASS or name.startswith("ssl."):
        return Support.DEFAULT_ONLY
    return Support.IGNORED


def _kafka_definitions(hand_written: Iterable[ConfigDef]) -> tuple[ConfigDef, ...]:
    """A row for each config Kafka defines that has no hand-written row: Kafka's type,
    default, validator, importance, update mode and documentation, with its support."""
    from kafkapy import config_kafka

    have = {(d.scope, d.name) for d in hand_written}
    rows = []
    for scope, entries in ((Scope.BROKER, config_kafka.BROKER), (Scope.TOPIC, config_kafka.TOPIC)):
        for name, type_name, default, importance, mode, valid, spec, internal, doc in entries:
            if (scope, name) in have:
                continue
            type_ = ConfigType[type_name]
            rows.append(ConfigDef(
                name, type_, None if default is None or type_ is ConfigType.PASSWORD else parse_value(name, type_, default),
                doc, scope, Importance[importance], _generated_validator(spec, valid),
                UpdateMode.DYNAMIC if scope is Scope.TOPIC else UpdateMode(mode),
                internal=internal, support=_support(name, type_)))
    return tuple(rows)


DEFINITIONS = DEFINITIONS + _kafka_definitions(DEFINITIONS)


class CannotHonourError(ConfigError):
    """Settings of configs kafkapy knows (Kafka defines them) but cannot honour; ``kafkapy
    serve`` refuses to start with them rather than run without what they ask for."""

    def __init__(self, problems: list[str], name: str = "") -> None:
        ValueError.__init__(self, "; ".join(problems))
        self.name = name
        self.value = None
        self.problems = problems


def cannot_honour(definition: ConfigDef, value: Any) -> str | None:
    """Why kafkapy cannot run with ``value`` (parsed) for a DEFAULT_ONLY config, else None."""
    if definition.support is not Support.DEFAULT_ONLY:
        return None
    name = definition.name
    if name == "group.coordinator.rebalance.protocols":
        protocols = set(value or ())
        if {"classic", "consumer"} <= protocols:
            return None
    elif value == definition.default or (value in ("", ()) and definition.default is None):
        return None
    elif definition.type is ConfigType.LIST and set(value) <= set(definition.default or ()):
        return None  # fewer plugins than the default (metric.reporters=) asks for nothing
    reason = _DEFAULT_ONLY_REASONS.get(name) or (_TLS_REASON if name.startswith("ssl.") else _CLASS_REASON)
    default = "unset" if definition.default is None else repr(definition.format(definition.default))
    return f"kafkapy cannot honour {name}: {reason}; remove it or leave it at Kafka's default ({default})"


def cannot_honour_properties(properties: Mapping[str, str]) -> list[str]:
    """Why ``kafkapy serve`` must refuse these properties: settings of configs it knows but
    cannot honour (empty when it can run with them). Values are parsed first (ConfigError)."""
    problems = []
    for name, raw in sorted(properties.items()):
        definition = BROKER_CONFIGS.get(name)
        if definition is not None:
            problem = cannot_honour(definition, definition.parse(raw))
            if problem is not None:
                problems.append(problem)
    broker_id = properties.get("broker.id", "-1").strip()
    node_id = properties.get("node.id", "-1").strip()
    if broker_id not in ("-1", node_id):
        # KafkaConfig: "If KRaft mode is enabled, node.id and broker.id must be the same".
        problems.append(f"broker.id={broker_id} differs from node.id={node_id}; Kafka refuses it too")
    return problems


TOPIC_CONFIGS: Mapping[str, ConfigDef] = {d.name: d for d in DEFINITIONS if d.scope is Scope.TOPIC}
BROKER_CONFIGS: Mapping[str, ConfigDef] = {d.name: d for d in DEFINITIONS if d.scope is Scope.BROKER}


# --- group configs: IncrementalAlterConfigs on GROUP resources (Kafka's GroupConfig) ---

_SHARE_RESETS = ("earliest", "latest")


def _share_auto_offset_reset(value: Any) -> str | None:
    """``ShareGroupAutoOffsetResetStrategy``: earliest, latest or ``by_duration:<ISO-8601>``."""
    if value is None or value in _SHARE_RESETS or (isinstance(value, str) and value.startswith("by_duration:")):
        return None
    return "Invalid value for share.auto.offset.reset: " + str(value)


_share_auto_offset_reset.description = "[earliest, latest, by_duration:<duration>]"  # type: ignore[attr-defined]
_G = Scope.GROUP

#: A group config's default is the broker config of the same role (``GroupConfig``'s
#: defaults come from ``GroupCoordinatorConfig``/``ShareGroupConfig``), given by
#: ``synonyms``; the range a group may set is the broker's min/max configs.
GROUP_DEFINITIONS: tuple[ConfigDef, ...] = (
    ConfigDef("share.auto.offset.reset", _STR, "latest", "Where a share-partition without state starts.",
              _G, _MED, _share_auto_offset_reset, field="share_auto_offset_reset"),
    ConfigDef("share.isolation.level", _STR, "read_uncommitted", "Whether a share group is given uncommitted transactional records.",
              _G, _MED, one_of("read_committed", "read_uncommitted"), field="share_isolation_level"),
    ConfigDef("share.record.lock.duration.ms", _INT, 30_000, "How long a share consumer of this group holds the records it acquired.",
              _G, _MED, at_least(1), synonyms=_syn("group.share.record.lock.duration.ms"),
              field="share_record_lock_duration_ms"),
    ConfigDef("share.delivery.count.limit", _INT, 5, "Deliveries of a record to this group before it is archived.",
              _G, _MED, at_least(1), synonyms=_syn("group.share.delivery.count.limit"),
              field="share_delivery_count_limit"),
    ConfigDef("share.session.timeout.ms", _INT, 45_000, "A member of this share group without a heartbeat for this long is removed.",
              _G, _MED, at_least(1), synonyms=_syn("group.share.session.timeout.ms"), field="share_session_timeout_ms"),
    ConfigDef("share.heartbeat.interval.ms", _INT, 5000, "Heartbeat interval of this share group's members.",
              _G, _MED, at_least(1), synonyms=_syn("group.share.heartbeat.interval.ms"),
              field="share_heartbeat_interval_ms"),
    ConfigDef("share.partition.max.record.locks", _INT, 2000, "Most records of one share-partition of this group in flight.",
              _G, _MED, at_least(1), synonyms=_syn("group.share.partition.max.record.locks"),
              field="share_partition_max_record_locks"),
    ConfigDef("consumer.session.timeout.ms", _INT, 45_000, "A member of this consumer group without a heartbeat for this long is removed.",
              _G, _MED, at_least(1), synonyms=_syn("group.consumer.session.timeout.ms"), field="consumer_session_timeout_ms"),
    ConfigDef("consumer.heartbeat.interval.ms", _INT, 5000, "Heartbeat interval of this consumer group's members.",
              _G, _MED, at_least(1), synonyms=_syn("group.consumer.heartbeat.interval.ms"),
              field="consumer_heartbeat_interval_ms"),
    ConfigDef("streams.session.timeout.ms", _INT, 45_000, "A member of this streams group without a heartbeat for this long is removed.",
              _G, _MED, at_least(1), synonyms=_syn("group.streams.session.timeout.ms"), field="streams_session_timeout_ms"),
    ConfigDef("streams.heartbeat.interval.ms", _INT, 5000, "Heartbeat interval of this streams group's members.",
              _G, _MED, at_least(1), synonyms=_syn("group.streams.heartbeat.interval.ms"),
              field="streams_heartbeat_interval_ms"),
    ConfigDef("streams.num.standby.replicas", _INT, 0, "Standby replicas of each stateful task of this streams group.",
              _G, _MED, at_least(0), synonyms=_syn("group.streams.num.standby.replicas"),
              field="streams_num_standby_replicas"),
    ConfigDef("streams.initial.rebalance.delay.ms", _INT, 3000,
              "How long this streams group, new, waits for more members before its first assignment.",
              _G, _MED, at_least(0), synonyms=_syn("group.streams.initial.rebalance.delay.ms"),
              field="streams_initial_rebalance_delay_ms"),
)
GROUP_CONFIGS: Mapping[str, ConfigDef] = {d.name: d for d in GROUP_DEFINITIONS}
#: A group config -> the broker configs bounding what a group may set (min, max; None
#: where Kafka's ``GroupConfig.validateValues`` checks one side only).
GROUP_CONFIG_BOUNDS: Mapping[str, tuple[str | None, str | None]] = {
    "share.record.lock.duration.ms": ("group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"),
    "share.delivery.count.limit": ("group.share.min.delivery.count.limit", "group.share.max.delivery.count.limit"),
    "share.session.timeout.ms": ("group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"),
    "share.heartbeat.interval.ms": ("group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"),
    "share.partition.max.record.locks": ("group.share.min.partition.max.record.locks",
                                         "group.share.max.partition.max.record.locks"),
    "consumer.session.timeout.ms": ("group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"),
    "consumer.heartbeat.interval.ms": ("group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"),
    "streams.session.timeout.ms": ("group.streams.min.session.timeout.ms", "group.streams.max.session.timeout.ms"),
    "streams.heartbeat.interval.ms": ("group.streams.min.heartbeat.interval.ms", "group.streams.max.heartbeat.interval.ms"),
    "streams.num.standby.replicas": (None, "group.streams.max.standby.replicas"),
}
#: A group's session timeout must exceed its heartbeat interval, each the group's own
#: or the broker's (``GroupConfig.validateSessionExceedsHeartbeat``).
_SESSION_OVER_HEARTBEAT = (("consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"),
                           ("share.session.timeout.ms", "share.heartbeat.interval.ms"),
                           ("streams.session.timeout.ms", "streams.heartbeat.interval.ms"))
#: Kafka 4.4's other GroupConfig names: kafkapy has no assignment intervals, assignor
#: offloading or choice of streams assignor, rack-aware standby placement, RENEW
#: acknowledgements switch or share-group dead-letter queues, so a group cannot set them.
GROUP_CONFIGS_NOT_HONOURED = frozenset((
    "consumer.assignment.interval.ms", "consumer.assignor.offload.enable", "share.renew.acknowledge.enable",
    "share.assignment.interval.ms", "share.assignor.offload.enable", "streams.assignment.interval.ms",
    "streams.rack.aware.assignment.tags", "streams.assignor.offload.enable", "streams.task.offset.interval.ms",
    "streams.num.warmup.replicas", "streams.acceptable.recovery.lag", "streams.assignor.name",
    "errors.deadletterqueue.topic.name", "errors.deadletterqueue.copy.record.enable"))


def _node_value(broker: "BrokerConfig | None", name: str) -> Any:
    """A broker config's value on this node (its default without a node); None if kafkapy
    does not define it."""
    d = BROKER_CONFIGS.get(name)
    if d is None:
        return None
    return getattr(broker, d.field) if broker is not None and d.field else d.default


def group_setting(broker: "BrokerConfig", group: Mapping[str, str], name: str) -> Any:
    """A group config's effective value: the group's own, else the broker config behind
    it (``GroupMetadataManager.consumerGroupSessionTimeoutMs(groupId)`` and alike)."""
    d = GROUP_CONFIGS[name]
    if name in group:
        return d.parse(group[name])
    return _node_value(broker, d.synonyms[0].name) if d.synonyms else d.default


class ShareGroupSettings(NamedTuple):
    """A share group's effective settings: its group configs over the broker's defaults."""

    share_auto_offset_reset: str
    share_isolation_level: str
    share_record_lock_duration_ms: int
    share_delivery_count_limit: int
    share_session_timeout_ms: int
    share_heartbeat_interval_ms: int
    share_partition_max_record_locks: int

    @classmethod
    def from_sources(cls, broker: "BrokerConfig", group: Mapping[str, str]) -> "ShareGroupSettings":
        return cls(**{d.field: group_setting(broker, group, d.name)  # type: ignore[misc]
                      for d in GROUP_DEFINITIONS if d.field in cls._fields})


def validate_group_configs(configs: Mapping[str, str], broker: "BrokerConfig | None" = None) -> None:
    """Kafka's ``GroupConfig.validate``: known names, values that parse, within the
    broker's min/max where one bounds them, and each session timeout over its heartbeat
    interval; a Kafka group config kafkapy cannot honour is refused, not stored unused.

    Raises:
        ConfigError: the first config that fails.
    """
    values = {}
    for name, raw in configs.items():
        d = GROUP_CONFIGS.get(name)
        if d is None:
            if name in GROUP_CONFIGS_NOT_HONOURED:
                raise ConfigError(name, raw, f"Group config {name} is not supported by kafkapy")
            raise ConfigError(name, raw, "Unknown group config name: " + name)
        value = values[name] = d.parse(raw)
        low_name, high_name = GROUP_CONFIG_BOUNDS.get(name, (None, None))
        low = _node_value(broker, low_name) if low_name else None
        high = _node_value(broker, high_name) if high_name else None
        if low is not None and high is not None and not low <= value <= high:
            raise ConfigError(name, raw, f"{name} must be in the range {low} to {high} inclusive.")
        if high is not None and value > high:
            raise ConfigError(name, raw, f"{name} must be less than or equal to {high}")
        if low is not None and value < low:
            raise ConfigError(name, raw, f"{name} must be greater than or equal to {low}")
    for session, heartbeat in _SESSION_OVER_HEARTBEAT:
        if session in values or heartbeat in values:
            session_ms = values.get(session, _node_value(broker, GROUP_CONFIGS[session].synonyms[0].name))
            heartbeat_ms = values.get(heartbeat, _node_value(broker, GROUP_CONFIGS[heartbeat].synonyms[0].name))
            if session_ms <= heartbeat_ms:
                raise ConfigError(session, configs.get(session, str(session_ms)),
                                  f"{session} must be greater than {heartbeat}")


def _check_table() -> None:
    """Every definition must be unique per scope, and every synonym a broker config."""
    names = [(d.scope, d.name) for d in DEFINITIONS]
    assert len(names) == len(set(names)), "duplicate config definition"
    for d in TOPIC_CONFIGS.values():
        for s in d.synonyms:
            assert s.name in BROKER_CONFIGS, f"synonym {s.name} of {d.name} is not defined"


_check_table()


# --- resolving a topic config from its sources ---


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerConfigs:
    """The broker-side sources of config values, as strings, most specific first.

    ``dynamic_broker`` is this broker's dynamic config (DYNAMIC_BROKER_CONFIG),
    ``dynamic_default`` the cluster-wide dynamic default (DYNAMIC_DEFAULT_BROKER_CONFIG),
    ``static`` the server.properties / command line values (STATIC_BROKER_CONFIG).
    """

    static: Mapping[str, str] = dataclasses.field(default_factory=dict)
    dynamic_default: Mapping[str, str] = dataclasses.field(default_factory=dict)
    dynamic_broker: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def _layers(self) -> tuple[tuple[Mapping[str, str], ConfigSource], ...]:
        return (
            (self.dynamic_broker, ConfigSource.DYNAMIC_BROKER_CONFIG),
            (self.dynamic_default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
            (self.static, ConfigSource.STATIC_BROKER_CONFIG),
        )

    def lookup(self, name: str) -> tuple[str, ConfigSource] | None:
        """The raw value of a broker config from its most specific source, or None."""
        for layer, source in self._layers():
            if name in layer:
                return layer[name], source
        return None


class ConfigSynonymEntry(NamedTuple):
    """One DescribeConfigs synonym: a name, its value as shown, and where it comes from."""

    name: str
    value: str | None
    source: ConfigSource


class ResolvedConfig(NamedTuple):
    """A config as DescribeConfigs reports it."""

    definition: ConfigDef
    value: Any
    source: ConfigSource
    synonyms: tuple[ConfigSynonymEntry, ...]

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def value_str(self) -> str | None:
        return self.definition.format(self.value)


def topic_config_def(name: str) -> ConfigDef:
    """The definition of a topic config; raises ConfigError for an unknown name."""
    try:
        return TOPIC_CONFIGS[name]
    except KeyError:
        raise ConfigError(name, None, f"Unknown topic config name: {name}") from None


#: Whether the node whose tasks run in this context has ``remote.log.storage.system.enable``
#: (the controller validates topic configs against its own node's setting, as Kafka's
#: ``ControllerConfigurationValidator``); set by the node for the tasks it starts.
REMOTE_STORAGE_SYSTEM_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "remote_storage_system_enabled", default=False)


def validate_topic_configs(overrides: Mapping[str, object]) -> dict[str, Any]:
    """Parse and validate topic config overrides (CreateTopics / AlterConfigs).

    Returns the typed values. Raises ConfigError for an unknown name, a bad value,
    ``min.compaction.lag.ms`` > ``max.compaction.lag.ms`` (``LogConfig.validateValues``),
    and Kafka 4.x's tiered storage rules (``LogConfig.validate``): ``remote.storage.enable``
    only on a broker with ``remote.log.storage.system.enable`` and only with
    ``cleanup.policy=delete``; local retention within total retention; copy lags within
    local retention (KIP-1241); with ``remote.log.copy.disable`` the local and total
    retentions equal.
    """
    parsed = {name: topic_config_def(name).parse(raw) for name, raw in overrides.items()}
    lag = {f: parsed.get(n, TOPIC_CONFIGS[n].default) for n, f in
           (("min.compaction.lag.ms", "min"), ("max.compaction.lag.ms", "max"))}
    if lag["min"] > lag["max"]:
        raise ConfigError("min.compaction.lag.ms", lag["min"], "must not exceed max.compaction.lag.ms")
    if parsed.get("remote.storage.enable"):
        _validate_remote_storage(parsed)
    return parsed


def _validate_remote_storage(parsed: Mapping[str, Any]) -> None:
    def value(name: str) -> Any:
        return parsed.get(name, TOPIC_CONFIGS[name].default)

    if not REMOTE_STORAGE_SYSTEM_ENABLED.get():
        # LogConfig.validateRemoteStorageOnlyIfSystemEnabled
        raise CannotHonourError(["Tiered Storage functionality is disabled in the broker. "
                                 "Topic cannot be configured with remote log storage."], "remote.storage.enable")
    if set(value("cleanup.policy")) - {"delete"}:
        raise ConfigError("cleanup.policy", ",".join(value("cleanup.policy")),
                          "Remote log storage only supports topics with cleanup.policy=delete "
                          "or cleanup.policy being an empty list.")
    effective_local = {}
    for local_name, total_name in (("local.retention.ms", "retention.ms"), ("local.retention.bytes", "retention.bytes")):
        local, total = value(local_name), value(total_name)
        effective_local[local_name] = total if local == -2 else local
        if local == -2:
            continue
        if local == -1 and total != -1:
            raise ConfigError(local_name, local, f"Value must not be -1 as {total_name} value is set as {total}.")
        if total != -1 and local > total:
            raise ConfigError(local_name, local, f"Value must not be more than {total_name} property value: {total}")
    for lag_name, local_name in (("remote.copy.lag.ms", "local.retention.ms"),
                                 ("remote.copy.lag.bytes", "local.retention.bytes")):
        lag_value, bound = value(lag_name), effective_local[local_name]
        if lag_value > 0 and bound != -1 and lag_value > bound:
            raise ConfigError(lag_name, lag_value, f"Value must not exceed {local_name} (effective value: {bound})")
    if value("remote.log.copy.disable"):
        for local_name, total_name, unit in (("local.retention.bytes", "retention.bytes", "bytes"),
                                             ("local.retention.ms", "retention.ms", "ms")):
            if value(local_name) not in (-2, value(total_name)):
                raise ConfigError(local_name, value(local_name),
                                  f"When `remote.log.copy.disable` is set to true, the `{local_name}` and "
                                  f"`{total_name}` must be set to the identical value because there will be "
                                  "no more logs copied to the remote storage.")


def validate_turning_off_remote_storage(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """``LogConfig.validateTurningOffRemoteStorageWithDelete``: a topic's remote storage
    goes off only with ``remote.log.delete.on.disable`` (its remote data deleted)."""
    was = old.get("remote.storage.enable", False)
    if was and not new.get("remote.storage.enable", False) and not new.get("remote.log.delete.on.disable", False):
        # Kafka's InvalidConfigurationException: the message alone.
        raise CannotHonourError(["It is invalid to disable remote storage without deleting remote data. If you "
                                 "want to keep the remote data and turn to read only, please set "
                                 "`remote.storage.enable=true,remote.log.copy.disable=true`. If you want to disable "
                                 "remote storage and delete all remote data, please set "
                                 "`remote.storage.enable=false,remote.log.delete.on.disable=true`."],
                                "remote.storage.enable")


def _broker_value(definition: ConfigDef, broker: BrokerConfigs) -> tuple[Any, ConfigSource] | None:
    """The topic value supplied by the first synonym set on the broker (KafkaConfig order)."""
    for synonym in definition.synonyms:
        found = broker.lookup(synonym.name)
        if found is not None:
            raw, source = found
            value = BROKER_CONFIGS[synonym.name].parse(raw)
            if value is not None:
                return (value * synonym.factor if synonym.factor != 1 else value), source
    for synonym in definition.synonyms:
        default = BROKER_CONFIGS[synonym.name].default
        if default is not None:
            return (default * synonym.factor if synonym.factor != 1 else default), ConfigSource.DEFAULT_CONFIG
    return None


def _broker_synonyms(definition: ConfigDef, broker: BrokerConfigs) -> list[ConfigSynonymEntry]:
    """Kafka's ``ConfigHelper.configSynonyms``: by source first, then by synonym order."""
    entries: list[ConfigSynonymEntry] = []
    for layer, source in broker._layers():
        for synonym in definition.synonyms:
            if synonym.name in layer:
                entries.append(ConfigSynonymEntry(synonym.name, _shown(synonym.name, layer[synonym.name]), source))
    for synonym in definition.synonyms:
        broker_def = BROKER_CONFIGS[synonym.name]
        if broker_def.default is not None:
            entries.append(ConfigSynonymEntry(synonym.name, broker_def.format(broker_def.default), ConfigSource.DEFAULT_CONFIG))
    return entries


def _shown(name: str, raw: str) -> str | None:
    return None if BROKER_CONFIGS[name].sensitive else raw


def resolve_topic_config(
    name: str, topic_overrides: Mapping[str, object], broker: BrokerConfigs | None = None
) -> ResolvedConfig:
    """One topic config as DescribeConfigs reports it: value, source and synonyms.

    Args:
        name: a topic config name.
        topic_overrides: the topic's own configs (DYNAMIC_TOPIC_CONFIG), raw or typed.
        broker: the broker's config sources; None means nothing is set on the broker.
    """
    definition = topic_config_def(name)
    broker = broker or BrokerConfigs()
    synonyms = _broker_synonyms(definition, broker)
    if name in topic_overrides:
        value = definition.parse(topic_overrides[name])
        synonyms.insert(0, ConfigSynonymEntry(name, definition.format(value), ConfigSource.DYNAMIC_TOPIC_CONFIG))
    else:
        from_broker = _broker_value(definition, broker)
        value = definition.default if from_broker is None else from_broker[0]
    source = synonyms[0].source if synonyms else ConfigSource.DEFAULT_CONFIG
    return ResolvedConfig(definition, value, source, tuple(synonyms))


def describe_topic_configs(
    topic_overrides: Mapping[str, object], broker: BrokerConfigs | None = None
) -> list[ResolvedConfig]:
    """Every listed (non-internal) topic config, sorted by name as Kafka lists them."""
    return [
        resolve_topic_config(name, topic_overrides, broker)
        for name in sorted(TOPIC_CONFIGS)
        if not TOPIC_CONFIGS[name].internal
    ]


# --- the typed view the log store uses ---


@dataclasses.dataclass(frozen=True, slots=True)
class LogConfig:
    """A topic's effective configuration, typed (Kafka's ``LogConfig``).

    Build it with :meth:`from_sources` (or :data:`DEFAULT_LOG_CONFIG` and
    ``dataclasses.replace`` in tests); every field is filled from the table row whose
    ``field`` names it.
    """

    cleanup_policy: tuple[str, ...]
    compression_type: str
    compression_gzip_level: int
    compression_lz4_level: int
    compression_zstd_level: int
    delete_retention_ms: int
    file_delete_delay_ms: int
    flush_messages: int
    flush_ms: int
    follower_replication_throttled_replicas: tuple[str, ...]
    index_interval_bytes: int
    leader_replication_throttled_replicas: tuple[str, ...]
    local_retention_bytes: int
    local_retention_ms: int
    max_compaction_lag_ms: int
    max_message_bytes: int
    message_timestamp_after_max_ms: int
    message_timestamp_before_max_ms: int
    message_timestamp_type: str
    min_cleanable_dirty_ratio: float
    min_compaction_lag_ms: int
    min_insync_replicas: int
    preallocate: bool
    remote_log_copy_disable: bool
    remote_log_delete_on_disable: bool
    remote_storage_enable: bool
    remote_copy_lag_bytes: int
    remote_copy_lag_ms: int
    retention_bytes: int
    retention_ms: int
    segment_bytes: int
    segment_index_bytes: int
    segment_jitter_ms: int
    segment_ms: int
    unclean_leader_election_enable: bool
    internal_segment_bytes: int | None

    @classmethod
    def from_sources(
        cls, topic_overrides: Mapping[str, object] | None = None, broker: BrokerConfigs | None = None
    ) -> LogConfig:
        """The effective config of a topic from its overrides and the broker's settings."""
        overrides = topic_overrides or {}
        values = {
            d.field: resolve_topic_config(d.name, overrides, broker).value
            for d in TOPIC_CONFIGS.values()
            if d.field is not None
        }
        return cls(**values)

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @property
    def log_append_time(self) -> bool:
        """True when the broker stamps batches with LogAppendTime."""
        return self.message_timestamp_type == "LogAppendTime"

    @property
    def effective_segment_bytes(self) -> int:
        """``segment.bytes``, unless the internal test override is set (``LogConfig.segmentSize``)."""
        return self.segment_bytes if self.internal_segment_bytes is None else self.internal_segment_bytes

    @property
    def max_segment_ms(self) -> int:
        """Roll time; compacted logs also roll by max.compaction.lag.ms (``LogConfig.maxSegmentMs``)."""
        if self.compact and self.max_compaction_lag_ms > 0:
            return min(self.max_compaction_lag_ms, self.segment_ms)
        return self.segment_ms

    @property
    def effective_local_retention_ms(self) -> int:
        return self.retention_ms if self.local_retention_ms == -2 else self.local_retention_ms

    @property
    def effective_local_retention_bytes(self) -> int:
        return self.retention_bytes if self.local_retention_bytes == -2 else self.local_retention_bytes


def _fields_match_table() -> None:
    fields = {f.name for f in dataclasses.fields(LogConfig)}
    table = {d.field for d in TOPIC_CONFIGS.values() if d.field is not None}
    assert fields == table, f"LogConfig fields differ from the table: {fields ^ table}"


_fields_match_table()

DEFAULT_LOG_CONFIG = LogConfig.from_sources()


def log_config_name(field: str) -> str:
    """The config name behind a :class:`LogConfig` field, for messages that name it."""
    return next(d.name for d in TOPIC_CONFIGS.values() if d.field == field)


def config_names(scope: Scope, *, include_internal: bool = False) -> Iterable[str]:
    """The names of a scope's configs, sorted."""
    table = TOPIC_CONFIGS if scope is Scope.TOPIC else BROKER_CONFIGS
    return sorted(n for n, d in table.items() if include_internal or not d.internal)


# --- the broker's own settings ---


# __init__, eq and repr as a dataclass's own, written out: generated for 155 fields,
# they cost milliseconds of every node's start to compile (issue 18).
@dataclasses.dataclass(frozen=True, slots=True, init=False, eq=False, repr=False)
class BrokerConfig:
    """A node's static configuration, typed: every broker config whose row names a field.

    Build it with :meth:`from_properties` from ``server.properties`` and command-line
    values (strings). Keys the table does not know are kept in ``unknown`` (Kafka logs
    and ignores them, so that a stock ``server.properties`` loads).
    """

    node_id: int
    process_roles: tuple[str, ...]
    listeners: tuple[str, ...]
    advertised_listeners: tuple[str, ...] | None
    listener_security_protocol_map: str
    inter_broker_listener_name: str | None
    controller_listener_names: tuple[str, ...] | None
    controller_quorum_voters: tuple[str, ...]
    controller_quorum_bootstrap_servers: tuple[str, ...]
    controller_quorum_election_timeout_ms: int
    controller_quorum_fetch_timeout_ms: int
    controller_quorum_election_backoff_max_ms: int
    controller_quorum_request_timeout_ms: int
    controller_quorum_retry_backoff_ms: int
    metadata_log_max_record_bytes_between_snapshots: int
    metadata_log_max_snapshot_interval_ms: int
    broker_rack: str | None
    replica_selector_class: str | None
    log_dirs: tuple[str, ...] | None
    log_dir: tuple[str, ...]
    metadata_log_dir: str | None
    num_partitions: int
    default_replication_factor: int
    auto_create_topics_enable: bool
    delete_topic_enable: bool
    offsets_topic_num_partitions: int
    offsets_topic_replication_factor: int
    offsets_topic_segment_bytes: int
    transaction_state_log_num_partitions: int
    transaction_state_log_replication_factor: int
    transaction_state_log_min_isr: int
    transaction_state_log_segment_bytes: int
    transaction_max_timeout_ms: int
    transactional_id_expiration_ms: int
    transaction_abort_timed_out_transaction_cleanup_interval_ms: int
    transaction_remove_expired_transaction_cleanup_interval_ms: int
    group_initial_rebalance_delay_ms: int
    group_min_session_timeout_ms: int
    group_max_session_timeout_ms: int
    group_max_size: int
    group_consumer_heartbeat_interval_ms: int
    group_consumer_session_timeout_ms: int
    group_consumer_assignors: tuple[str, ...]
    group_consumer_max_size: int
    group_consumer_min_session_timeout_ms: int
    group_consumer_max_session_timeout_ms: int
    group_consumer_min_heartbeat_interval_ms: int
    group_consumer_max_heartbeat_interval_ms: int
    group_share_session_timeout_ms: int
    group_share_heartbeat_interval_ms: int
    group_share_max_size: int
    group_share_assignors: tuple[str, ...]
    group_share_record_lock_duration_ms: int
    group_share_min_record_lock_duration_ms: int
    group_share_max_record_lock_duration_ms: int
    group_share_delivery_count_limit: int
    group_share_partition_max_record_locks: int
    group_share_max_share_sessions: int
    group_share_min_session_timeout_ms: int
    group_share_max_session_timeout_ms: int
    group_share_min_heartbeat_interval_ms: int
    group_share_max_heartbeat_interval_ms: int
    group_share_min_delivery_count_limit: int
    group_share_max_delivery_count_limit: int
    group_share_min_partition_max_record_locks: int
    group_share_max_partition_max_record_locks: int
    group_streams_session_timeout_ms: int
    group_streams_heartbeat_interval_ms: int
    group_streams_max_size: int
    group_streams_num_standby_replicas: int
    group_streams_min_session_timeout_ms: int
    group_streams_max_session_timeout_ms: int
    group_streams_min_heartbeat_interval_ms: int
    group_streams_max_heartbeat_interval_ms: int
    group_streams_max_standby_replicas: int
    group_streams_initial_rebalance_delay_ms: int
    group_streams_task_offset_interval_ms: int
    group_streams_acceptable_recovery_lag: int
    share_coordinator_state_topic_num_partitions: int
    share_coordinator_state_topic_replication_factor: int
    share_coordinator_state_topic_min_isr: int
    share_coordinator_state_topic_segment_bytes: int
    share_coordinator_snapshot_update_records_per_snapshot: int
    share_coordinator_write_timeout_ms: int
    offsets_retention_minutes: int
    offsets_retention_check_interval_ms: int
    offsets_commit_timeout_ms: int
    offset_metadata_max_bytes: int
    socket_request_max_bytes: int
    socket_listen_backlog_size: int
    connections_max_idle_ms: int
    max_connections: int
    max_connections_per_ip: int
    max_connections_per_ip_overrides: str
    max_connection_creation_rate: int
    queued_max_request_bytes: int
    fetch_max_bytes: int
    max_incremental_fetch_session_cache_slots: int
    replica_lag_time_max_ms: int
    replica_fetch_max_bytes: int
    replica_fetch_min_bytes: int
    replica_fetch_wait_max_ms: int
    replica_fetch_backoff_ms: int
    replica_fetch_response_max_bytes: int
    replica_socket_timeout_ms: int
    num_replica_fetchers: int
    broker_session_timeout_ms: int
    broker_heartbeat_interval_ms: int
    auto_leader_rebalance_enable: bool
    leader_imbalance_check_interval_seconds: int
    leader_imbalance_per_broker_percentage: int
    unclean_leader_election_interval_ms: int
    request_timeout_ms: int
    log_retention_check_interval_ms: int
    log_flush_scheduler_interval_ms: int
    log_flush_offset_checkpoint_interval_ms: int
    num_recovery_threads_per_data_dir: int
    log_cleaner_enable: bool
    log_cleaner_backoff_ms: int
    remote_log_storage_system_enable: bool
    remote_log_storage_manager_class_name: str | None
    remote_log_storage_manager_impl_prefix: str
    remote_log_metadata_manager_impl_prefix: str
    remote_log_manager_task_interval_ms: int
    remote_log_manager_copier_thread_pool_size: int
    remote_log_manager_task_retry_backoff_ms: int
    remote_log_manager_task_retry_backoff_max_ms: int
    remote_log_reader_threads: int
    remote_log_index_file_cache_total_size_bytes: int
    remote_fetch_max_wait_ms: int
    producer_id_expiration_ms: int
    sasl_enabled_mechanisms: tuple[str, ...]
    sasl_jaas_config: str | None
    sasl_mechanism_inter_broker_protocol: str
    sasl_mechanism_controller_protocol: str
    sasl_server_callback_handler_class: str | None
    security_inter_broker_protocol: str
    connection_failed_authentication_delay_ms: int
    connections_max_reauth_ms: int
    sasl_oauthbearer_jwks_endpoint_url: str | None
    sasl_oauthbearer_jwks_endpoint_refresh_ms: int
    sasl_oauthbearer_expected_audience: tuple[str, ...] | None
    sasl_oauthbearer_expected_issuer: str | None
    sasl_oauthbearer_sub_claim_name: str
    sasl_oauthbearer_scope_claim_name: str
    sasl_oauthbearer_clock_skew_seconds: int
    authorizer_class_name: str
    super_users: str
    allow_everyone_if_no_acl_found: bool
    quota_window_num: int
    quota_window_size_seconds: int
    controller_quota_window_num: int
    controller_quota_window_size_seconds: int
    principal_builder_class: str
    metrics_listener: str | None
    ssl_keystore_location: str | None
    ssl_keystore_type: str
    ssl_keystore_password: str | None
    ssl_keystore_key: str | None
    ssl_keystore_certificate_chain: str | None
    ssl_key_password: str | None
    ssl_truststore_location: str | None
    ssl_truststore_type: str
    ssl_truststore_password: str | None
    ssl_truststore_certificates: str | None
    ssl_client_auth: str
    ssl_enabled_protocols: tuple[str, ...]
    ssl_protocol: str
    ssl_cipher_suites: tuple[str, ...]
    ssl_endpoint_identification_algorithm: str
    ssl_principal_mapping_rules: str
    #: The raw properties it was built from, for BrokerConfigs.static and DescribeConfigs.
    properties: Mapping[str, str] = dataclasses.field(default_factory=dict)
    unknown: tuple[str, ...] = ()

    def __init__(self, **values: Any) -> None:
        values.setdefault("properties", {})
        values.setdefault("unknown", ())
        if values.keys() != self.__dataclass_fields__.keys():
            raise TypeError(f"BrokerConfig() missing {sorted(self.__dataclass_fields__.keys() - values.keys())}, "
                            f"unexpected {sorted(values.keys() - self.__dataclass_fields__.keys())}")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__dataclass_fields__)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__dataclass_fields__)
        return f"{type(self).__qualname__}({shown})"

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> BrokerConfig:
        """Parse and validate a node's properties; raises ConfigError on a bad value, and
        CannotHonourError for settings kafkapy knows but cannot honour (no silent failure)."""
        problems = cannot_honour_properties(properties)
        if problems:
            raise CannotHonourError(problems)
        values: dict[str, Any] = {}
        for d in BROKER_CONFIGS.values():
            if d.field is not None:
                values[d.field] = d.parse(properties[d.name]) if d.name in properties else d.default
        # The remote tier's and its metadata manager's own properties (KIP-405) are theirs.
        plugin_prefixes = tuple(values[f] for f in ("remote_log_storage_manager_impl_prefix",
                                                    "remote_log_metadata_manager_impl_prefix"))
        unknown = tuple(sorted(k for k in properties if k not in BROKER_CONFIGS and k not in TOPIC_CONFIGS
                               and split_listener_config(k) is None and not k.startswith(plugin_prefixes)))
        return cls(**values, properties=dict(properties), unknown=unknown)

    @property
    def data_dirs(self) -> tuple[str, ...]:
        """The data directories: ``log.dirs``, else ``log.dir`` (``KafkaConfig.logDirs``)."""
        return tuple(d for d in (self.log_dirs if self.log_dirs is not None else self.log_dir) if d)

    @property
    def controller_listeners(self) -> tuple[str, ...]:
        """``controller.listener.names``, upper-cased as listener names are compared
        (``KafkaConfig.controllerListenerNames``); the first is the one the quorum uses."""
        return tuple(n.upper() for n in self.controller_listener_names or () if n)

    @property
    def broker_configs(self) -> BrokerConfigs:
        """These properties as the STATIC_BROKER_CONFIG source of topic configs."""
        return BrokerConfigs(static={k: v for k, v in self.properties.items() if k in BROKER_CONFIGS})

    def listener_config(self, listener: str, field: str, mechanism: str | None = None) -> str | None:
        """The raw value of a broker config for one listener: ``listener.name.<l>.<mech>.<name>``
        (with ``mechanism``), then ``listener.name.<l>.<name>``, then the plain name; None when
        none is set (Kafka's ``ListenerName.configPrefix`` / ``saslMechanismPrefix``)."""
        name = BrokerConfig.field_name(field)
        prefix = LISTENER_CONFIG_PREFIX + listener.lower() + "."
        keys = ([prefix + mechanism.lower() + "." + name] if mechanism else []) + [prefix + name, name]
        return next((self.properties[k] for k in keys if k in self.properties), None)

    @staticmethod
    def field_name(field: str) -> str:
        """The config name behind a field, for code that handles raw properties."""
        return next(d.name for d in BROKER_CONFIGS.values() if d.field == field)

    def with_overrides(self, overrides: Mapping[str, str]) -> BrokerConfig:
        """A copy with some properties replaced (validated as ``from_properties`` does)."""
        return BrokerConfig.from_properties({**self.properties, **overrides})


def split_listener_config(key: str) -> tuple[str, str | None, str] | None:
    """``listener.name.<l>[.<mechanism>].<config>`` -> (listener upper-cased, mechanism
    upper-cased or None, broker config name), or None for any other key or an unknown config."""
    if not key.startswith(LISTENER_CONFIG_PREFIX):
        return None
    parts = key[len(LISTENER_CONFIG_PREFIX):].split(".")
    for start in (1, 2):
        name = ".".join(parts[start:])
        if name in BROKER_CONFIGS and len(parts) > start:
            return parts[0].upper(), parts[1].upper() if start == 2 else None, name
    return None


def _broker_fields_match_table() -> None:
    fields = {f.name for f in dataclasses.fields(BrokerConfig)} - {"properties", "unknown"}
    table = {d.field for d in BROKER_CONFIGS.values() if d.field is not None}
    assert fields == table, f"BrokerConfig fields differ from the table: {fields ^ table}"


_broker_fields_match_table()

#: What ``kafkapy serve`` runs with, without a ``server.properties``, for keys no
#: ``--override`` sets (with a file, Kafka's defaults apply): Kafka's KRaft quick
#: start (``config/server.properties``: a combined node, one-replica internal topics)
#: on 127.0.0.1, data in ``./kafkapy-data``, and no initial rebalance delay, as
#: Kafka's development configs have it.
QUICKSTART_PROPERTIES: Mapping[str, str] = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
    "advertised.listeners": "PLAINTEXT://127.0.0.1:9092",
    "inter.broker.listener.name": "PLAINTEXT",
    "controller.listener.names": "CONTROLLER",
    "controller.quorum.voters": "1@127.0.0.1:9093",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
                                      "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
    "log.dirs": "./kafkapy-data",
    "num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    # A test broker takes bursts of connections (a CI job's clients all at once): at
    # Kafka's default of 50 (KIP-764) the kernel drops SYNs and clients retry a second
    # later. A node started from a server.properties file keeps Kafka's 50.
    "socket.listen.backlog.size": "1024",
}

#: The in-process test broker's settings on top of the quick start: free ports on
#: 127.0.0.1 (port 0) and small internal topics, so a fresh broker is ready at once, and
#: no initial streams rebalance delay (as the classic one), so a streams group assigns at once.
TEST_PROPERTIES: Mapping[str, str] = {
    **QUICKSTART_PROPERTIES,
    "listeners": "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
    "advertised.listeners": "PLAINTEXT://127.0.0.1:0",
    "controller.quorum.voters": "1@127.0.0.1:0",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.num.partitions": "1",
    "group.streams.initial.rebalance.delay.ms": "0",
}
