"""The configuration table: parsing, validation, and DescribeConfigs-style resolution."""

import dataclasses

import pytest

from kafkapy.config import (
    BROKER_CONFIGS,
    DEFAULT_LOG_CONFIG,
    TOPIC_CONFIGS,
    BrokerConfigs,
    ConfigError,
    ConfigSource,
    ConfigType,
    LogConfig,
    Scope,
    config_names,
    describe_topic_configs,
    format_value,
    log_config_name,
    parse_value,
    resolve_topic_config,
    validate_topic_configs,
)

# Kafka 4.4's topic configs listed by `kafka-configs --describe --all` (LogConfig).
KAFKA_4_TOPIC_CONFIGS = {
    "cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
    "compression.zstd.level", "delete.retention.ms", "errors.deadletterqueue.group.enable",
    "file.delete.delay.ms", "flush.messages",
    "flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
    "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
    "max.compaction.lag.ms", "max.decompressed.message.bytes", "max.message.bytes", "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms", "message.timestamp.type", "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms", "min.insync.replicas", "preallocate", "remote.copy.lag.bytes",
    "remote.copy.lag.ms", "remote.log.copy.disable",
    "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes", "retention.ms",
    "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable",
}


def test_topic_config_names_are_kafka_4s():
    assert set(config_names(Scope.TOPIC)) == KAFKA_4_TOPIC_CONFIGS
    assert "message.downconversion.enable" not in TOPIC_CONFIGS  # removed in 4.0
    assert "message.format.version" not in TOPIC_CONFIGS


@pytest.mark.parametrize(
    "name, default",
    [
        ("segment.bytes", 1073741824), ("segment.ms", 604800000), ("retention.ms", 604800000),
        ("retention.bytes", -1), ("max.message.bytes", 1048588), ("index.interval.bytes", 4096),
        ("segment.index.bytes", 10485760), ("flush.messages", 2**63 - 1), ("flush.ms", 2**63 - 1),
        ("delete.retention.ms", 86400000), ("min.cleanable.dirty.ratio", 0.5),
        ("cleanup.policy", ("delete",)), ("message.timestamp.type", "CreateTime"),
        ("message.timestamp.after.max.ms", 3600000), ("file.delete.delay.ms", 60000),
        ("compression.type", "producer"), ("local.retention.ms", -2), ("preallocate", False),
    ],
)
def test_defaults(name, default):
    assert TOPIC_CONFIGS[name].default == default
    assert resolve_topic_config(name, {}).value == default


def test_parse_rules_follow_configdef():
    assert parse_value("x", ConfigType.LIST, " compact , delete ") == ("compact", "delete")
    assert parse_value("x", ConfigType.LIST, "  ") == ()
    assert parse_value("x", ConfigType.BOOLEAN, " TRUE ") is True
    assert parse_value("x", ConfigType.LONG, " 42 ") == 42
    assert parse_value("x", ConfigType.DOUBLE, "0.25") == 0.25
    for type_, raw in [(ConfigType.BOOLEAN, "yes"), (ConfigType.INT, "1.5"), (ConfigType.INT, str(2**31)),
                       (ConfigType.LONG, "abc"), (ConfigType.DOUBLE, "half")]:
        with pytest.raises(ConfigError):
            parse_value("x", type_, raw)


def test_validators():
    assert validate_topic_configs({"cleanup.policy": "compact,delete"}) == {"cleanup.policy": ("compact", "delete")}
    bad = [
        {"cleanup.policy": "shred"}, {"cleanup.policy": "compact,compact"}, {"segment.bytes": "1000"},
        {"retention.ms": "-2"}, {"min.cleanable.dirty.ratio": "1.5"}, {"compression.type": "brotli"},
        {"message.timestamp.type": "createtime"}, {"compression.gzip.level": "0"}, {"no.such.config": "1"},
        {"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
        {"leader.replication.throttled.replicas": "0-1"},
    ]
    for overrides in bad:
        with pytest.raises(ConfigError):
            validate_topic_configs(overrides)
    assert validate_topic_configs({"leader.replication.throttled.replicas": "0:1, 1:2"})
    assert validate_topic_configs({"follower.replication.throttled.replicas": "*"})


def test_every_synonym_is_a_defined_broker_config_with_kafka_names():
    assert [s.name for s in TOPIC_CONFIGS["retention.ms"].synonyms] == [
        "log.retention.ms", "log.retention.minutes", "log.retention.hours"]
    assert [s.name for s in TOPIC_CONFIGS["segment.ms"].synonyms] == ["log.roll.ms", "log.roll.hours"]
    assert [s.name for s in TOPIC_CONFIGS["max.message.bytes"].synonyms] == ["message.max.bytes"]
    assert [s.name for s in TOPIC_CONFIGS["min.cleanable.dirty.ratio"].synonyms] == ["log.cleaner.min.cleanable.ratio"]
    assert TOPIC_CONFIGS["remote.storage.enable"].synonyms == ()
    for definition in TOPIC_CONFIGS.values():
        for synonym in definition.synonyms:
            assert synonym.name in BROKER_CONFIGS


def test_resolve_default_reports_default_synonyms():
    resolved = resolve_topic_config("retention.ms", {})
    assert resolved.source is ConfigSource.DEFAULT_CONFIG
    assert [(s.name, s.value, s.source) for s in resolved.synonyms] == [
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG)]


def test_resolve_static_broker_hours_converted_to_ms():
    broker = BrokerConfigs(static={"log.retention.hours": "2"})
    resolved = resolve_topic_config("retention.ms", {}, broker)
    assert resolved.value == 2 * 3_600_000
    assert resolved.source is ConfigSource.STATIC_BROKER_CONFIG
    assert [(s.name, s.source) for s in resolved.synonyms] == [
        ("log.retention.hours", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", ConfigSource.DEFAULT_CONFIG),
    ]


def test_resolve_first_synonym_wins_and_dynamic_beats_static():
    broker = BrokerConfigs(
        static={"log.retention.hours": "2", "log.retention.minutes": "3"},
        dynamic_default={"log.retention.ms": "1000"},
    )
    resolved = resolve_topic_config("retention.ms", {}, broker)
    assert resolved.value == 1000
    assert resolved.source is ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
    assert [s.name for s in resolved.synonyms] == [
        "log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.retention.hours"]
    broker = dataclasses.replace(broker, dynamic_broker={"log.retention.ms": "7"})
    assert resolve_topic_config("retention.ms", {}, broker).value == 7


def test_resolve_topic_override():
    resolved = resolve_topic_config("cleanup.policy", {"cleanup.policy": "compact"},
                                    BrokerConfigs(static={"log.cleanup.policy": "delete"}))
    assert resolved.value == ("compact",)
    assert resolved.value_str == "compact"
    assert resolved.source is ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert [(s.name, s.value, s.source) for s in resolved.synonyms] == [
        ("cleanup.policy", "compact", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("log.cleanup.policy", "delete", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.cleanup.policy", "delete", ConfigSource.DEFAULT_CONFIG),
    ]


def test_describe_lists_every_public_topic_config():
    described = describe_topic_configs({})
    assert [r.name for r in described] == sorted(KAFKA_4_TOPIC_CONFIGS)
    throttled = next(r for r in described if r.name == "leader.replication.throttled.replicas")
    assert throttled.value_str == "" and throttled.synonyms == () and throttled.source is ConfigSource.DEFAULT_CONFIG


def test_format_value_like_java():
    assert format_value(ConfigType.DOUBLE, 0.5) == "0.5"
    assert format_value(ConfigType.DOUBLE, 1e-4) == "1.0E-4"
    assert format_value(ConfigType.BOOLEAN, False) == "false"
    assert format_value(ConfigType.LIST, ("compact", "delete")) == "compact,delete"


def test_log_config_from_sources():
    config = LogConfig.from_sources({"flush.messages": "1", "cleanup.policy": "compact,delete"},
                                    BrokerConfigs(static={"log.roll.hours": "1"}))
    assert config.flush_messages == 1
    assert config.compact and config.delete
    assert config.segment_ms == 3_600_000
    assert DEFAULT_LOG_CONFIG.delete and not DEFAULT_LOG_CONFIG.compact
    assert not DEFAULT_LOG_CONFIG.log_append_time
    assert DEFAULT_LOG_CONFIG.effective_segment_bytes == 1 << 30
    assert dataclasses.replace(DEFAULT_LOG_CONFIG, internal_segment_bytes=4096).effective_segment_bytes == 4096
    assert log_config_name("max_message_bytes") == "max.message.bytes"
