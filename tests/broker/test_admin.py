"""Admin APIs through confluent-kafka's AdminClient against an in-process broker."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
)


@pytest.fixture
def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap_servers})


def wait(futures: dict) -> dict:
    return {k: f.result(timeout=30) for k, f in futures.items()}


def topic_config(admin: AdminClient, topic: str) -> dict:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return wait(admin.describe_configs([resource]))[resource]


def test_create_describe_delete_topic(admin, topic):
    wait(admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1,
                                       config={"cleanup.policy": "compact", "retention.ms": "3600000"})]))
    md = admin.list_topics(topic, timeout=10).topics[topic]
    assert md.error is None
    assert sorted(md.partitions) == [0, 1, 2, 3]
    assert all(p.leader == 1 and p.replicas == [1] and p.isrs == [1] for p in md.partitions.values())

    configs = topic_config(admin, topic)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["cleanup.policy"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["retention.ms"].value == "3600000"
    # Defaults come with their source, as Kafka reports them.
    assert configs["segment.bytes"].value == str(1024 ** 3)
    assert configs["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["max.message.bytes"].value == "1048588"

    wait(admin.delete_topics([topic]))
    assert topic not in admin.list_topics(timeout=10).topics


def test_create_topic_errors(admin, topic):
    wait(admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]))
    with pytest.raises(KafkaException) as exists:
        wait(admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]))
    assert exists.value.args[0].name() == "TOPIC_ALREADY_EXISTS"
    with pytest.raises(KafkaException) as bad_rf:
        wait(admin.create_topics([NewTopic(topic + "x", num_partitions=1, replication_factor=3)]))
    assert bad_rf.value.args[0].name() == "INVALID_REPLICATION_FACTOR"
    with pytest.raises(KafkaException) as bad_config:
        wait(admin.create_topics([NewTopic(topic + "y", num_partitions=1, replication_factor=1,
                                           config={"no.such.config": "1"})]))
    assert bad_config.value.args[0].name() == "INVALID_CONFIG"


def test_validate_only_creates_nothing(admin, topic):
    wait(admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)], validate_only=True))
    assert topic not in admin.list_topics(timeout=10).topics


def test_explicit_replica_assignment(admin, broker, topic):
    from kafka.admin import KafkaAdminClient
    from kafka.admin import NewTopic as KpNewTopic

    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        kp.create_topics([KpNewTopic(topic, num_partitions=-1, replication_factor=-1,
                                     replica_assignments={0: [1], 1: [1], 2: [1]})])
    finally:
        kp.close()
    assert sorted(admin.list_topics(topic, timeout=10).topics[topic].partitions) == [0, 1, 2]


def test_create_partitions(admin, topic):
    wait(admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]))
    wait(admin.create_partitions([NewPartitions(topic, 3)]))
    assert sorted(admin.list_topics(topic, timeout=10).topics[topic].partitions) == [0, 1, 2]
    with pytest.raises(KafkaException) as fewer:
        wait(admin.create_partitions([NewPartitions(topic, 2)]))
    assert fewer.value.args[0].name() == "INVALID_PARTITIONS"


def test_alter_and_incremental_alter_configs(admin, topic, broker):
    wait(admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]))
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic,
                              incremental_configs=[ConfigEntry("retention.ms", "12345",
                                                               incremental_operation=AlterConfigOpType.SET)])
    wait(admin.incremental_alter_configs([resource]))
    assert topic_config(admin, topic)["retention.ms"].value == "12345"

    bad = ConfigResource(ConfigResource.Type.TOPIC, topic,
                         incremental_configs=[ConfigEntry("retention.ms", "not-a-number",
                                                          incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as invalid:
        wait(admin.incremental_alter_configs([bad]))
    assert invalid.value.args[0].name() == "INVALID_CONFIG"

    delete = ConfigResource(ConfigResource.Type.TOPIC, topic,
                            incremental_configs=[ConfigEntry("retention.ms", None,
                                                             incremental_operation=AlterConfigOpType.DELETE)])
    wait(admin.incremental_alter_configs([delete]))
    assert topic_config(admin, topic)["retention.ms"].value == str(7 * 24 * 3600 * 1000)

    legacy = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"cleanup.policy": "compact"})
    wait(admin.alter_configs([legacy]))
    assert topic_config(admin, topic)["cleanup.policy"].value == "compact"


def test_broker_configs(admin, broker):
    resource = ConfigResource(ConfigResource.Type.BROKER, "1")
    configs = wait(admin.describe_configs([resource]))[resource]
    assert configs["node.id"].value == "1"
    assert configs["node.id"].is_read_only
    assert configs["num.partitions"].value == "1"
    assert configs["num.partitions"].source == ConfigSource.STATIC_BROKER_CONFIG.value
    assert configs["auto.create.topics.enable"].value == "true"

    # A dynamic broker config becomes the source of topic defaults.
    default = ConfigResource(ConfigResource.Type.BROKER, "1",
                             incremental_configs=[ConfigEntry("log.retention.ms", "86400000",
                                                              incremental_operation=AlterConfigOpType.SET)])
    wait(admin.incremental_alter_configs([default]))
    try:
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
        producer.produce("cfg-topic", b"x")
        producer.flush(10)
        topic = topic_config(admin, "cfg-topic")["retention.ms"]
        assert topic.value == "86400000"
        assert topic.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    finally:
        undo = ConfigResource(ConfigResource.Type.BROKER, "1",
                              incremental_configs=[ConfigEntry("log.retention.ms", None,
                                                               incremental_operation=AlterConfigOpType.DELETE)])
        wait(admin.incremental_alter_configs([undo]))


def test_delete_records_and_list_offsets(admin, broker, topic):
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 0})
    for i in range(10):
        producer.produce(topic, b"%d" % i, timestamp=1_700_000_000_000 + i)
    producer.flush(10)
    tp = TopicPartition(topic, 0, 4)
    result = wait(admin.delete_records([tp]))
    assert result[tp].low_watermark == 4
    offsets = wait(admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()}))
    assert offsets[TopicPartition(topic, 0)].offset == 4
    offsets = wait(admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.latest()}))
    assert offsets[TopicPartition(topic, 0)].offset == 10
    offsets = wait(admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.max_timestamp()}))
    assert offsets[TopicPartition(topic, 0)].offset == 9
    c = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "unused", "enable.auto.commit": False})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (4, 10)
    finally:
        c.close()


def test_describe_cluster(admin, broker):
    cluster = admin.describe_cluster().result(timeout=30)
    assert [n.id for n in cluster.nodes] == [1]
    assert f"{cluster.nodes[0].host}:{cluster.nodes[0].port}" == broker.bootstrap_servers
    assert cluster.controller.id == 1
    assert cluster.cluster_id


def test_describe_topics(admin, topic):
    from confluent_kafka import TopicCollection

    wait(admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]))
    described = wait(admin.describe_topics(TopicCollection([topic])))[topic]
    assert described.name == topic
    assert [p.id for p in described.partitions] == [0, 1]
    assert all(p.leader.id == 1 for p in described.partitions)
