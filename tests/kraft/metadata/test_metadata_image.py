"""The image and its delta: record semantics, structural sharing, snapshot round trips."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkapy.kraft.metadata.bootstrap import bootstrap_records
from kafkapy.kraft.metadata.cluster_control import (
    BrokerHeartbeatRequest,
    BrokerRegistrationRequest,
)
from kafkapy.kraft.metadata.configuration_control import (
    AlterConfigOp,
    ConfigChange,
    ConfigResource,
)
from kafkapy.kraft.metadata.controller import Controller, ControllerConfig
from kafkapy.kraft.metadata.errors import MetadataError
from kafkapy.kraft.metadata.features import SUPPORTED_FEATURES
from kafkapy.kraft.metadata.image import EMPTY_IMAGE, ConfigResourceType, Endpoint
from kafkapy.kraft.metadata.records import (
    ConfigRecord,
    PartitionChangeRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
    decode_record,
    encode_record,
)
from kafkapy.kraft.metadata.replication_control import (
    NewPartitions,
    NewTopic,
    PartitionStateChange,
)

A, B = b"\x0a" * 16, b"\x0b" * 16


def partition(topic_id, index, replicas=(1, 2, 3), leader=1):
    return PartitionRecord(partition_id=index, topic_id=topic_id, replicas=list(replicas), isr=list(replicas),
                           removing_replicas=[], adding_replicas=[], leader=leader, leader_epoch=0,
                           partition_epoch=0, directories=[bytes(16)] * len(replicas))


@pytest.fixture
def two_topics():
    return EMPTY_IMAGE.apply([TopicRecord(name="a", topic_id=A), partition(A, 0), partition(A, 1),
                              TopicRecord(name="b", topic_id=B), partition(B, 0)], offset=4, epoch=1)


def test_partition_change_semantics(two_topics):
    image = two_topics.apply([PartitionChangeRecord(topic_id=A, partition_id=0, isr=[1, 2])], offset=5, epoch=1)
    p = image.partition("a", 0)
    assert (p.isr, p.leader, p.leader_epoch, p.partition_epoch) == ((1, 2), 1, 0, 1)
    image = image.apply([PartitionChangeRecord(topic_id=A, partition_id=0, leader=2)], offset=6, epoch=2)
    p = image.partition("a", 0)
    assert (p.leader, p.leader_epoch, p.partition_epoch) == (2, 1, 2)
    # naming the same leader again still bumps the leader epoch (Kafka's merge)
    image = image.apply([PartitionChangeRecord(topic_id=A, partition_id=0, leader=2, replicas=[2, 1])])
    p = image.partition("a", 0)
    assert (p.leader, p.leader_epoch, p.replicas) == (2, 2, (2, 1))
    assert (image.offset, image.epoch) == (6, 2)  # unchanged without provenance


def test_structural_sharing(two_topics):
    image = two_topics.apply([PartitionChangeRecord(topic_id=A, partition_id=1, isr=[1])], offset=5, epoch=1)
    assert image.topic("b") is two_topics.topic("b")
    assert image.partition("a", 0) is two_topics.partition("a", 0)
    assert image.partition("a", 1) is not two_topics.partition("a", 1)
    assert image.brokers is two_topics.brokers and image.configs is two_topics.configs
    assert two_topics.partition("a", 1).isr == (1, 2, 3)  # the old image did not change


def test_remove_topic_drops_topic_and_configs(two_topics):
    image = two_topics.apply([
        ConfigRecord(resource_type=2, resource_name="a", name="retention.ms", value="1"),
        ConfigRecord(resource_type=2, resource_name="b", name="retention.ms", value="2"),
        RemoveTopicRecord(topic_id=A)])
    assert set(image.topics_by_name) == {"b"} and set(image.topics_by_id) == {B}
    assert image.topic_configs("a") == {} and image.topic_configs("b") == {"retention.ms": "2"}
    # a topic may be re-created under the same name in the same batch
    image = two_topics.apply([RemoveTopicRecord(topic_id=A), TopicRecord(name="a", topic_id=b"\x0c" * 16)])
    assert image.topic("a").id == b"\x0c" * 16 and image.topic("a").partitions == {}


def test_config_null_value_deletes(two_topics):
    image = two_topics.apply([ConfigRecord(resource_type=4, resource_name="", name="x", value="1"),
                              ConfigRecord(resource_type=4, resource_name="", name="x", value=None)])
    assert image.configs == {}


def test_records_for_unknown_things_raise(two_topics):
    with pytest.raises(MetadataError):
        two_topics.apply([partition(b"\x0f" * 16, 0)])
    with pytest.raises(MetadataError):
        two_topics.apply([PartitionChangeRecord(topic_id=A, partition_id=7, isr=[1])])
    with pytest.raises(MetadataError):
        two_topics.apply([TopicRecord(name="again", topic_id=A)])


# --- random histories: image == image rebuilt from its snapshot ------------------------

OPS = st.lists(st.tuples(st.sampled_from([
    "broker", "broker", "heartbeat", "heartbeat", "heartbeat", "fence", "topic", "topic", "topic", "delete",
    "partitions", "config", "config", "alter_isr", "pids", "expire",
]), st.integers(0, 2**31)), max_size=50)


def run_history(ops, seed):
    """Drive a controller with random operations; returns every record and the image."""
    controller = Controller(ControllerConfig(), rng=random.Random(seed))
    records = bootstrap_records()
    image = EMPTY_IMAGE.apply(records, offset=len(records) - 1, epoch=1)
    epochs: dict[int, int] = {}
    now = 0
    for op, n in ops:
        now += 100
        topics = sorted(image.topics_by_name)
        if op == "broker":
            b = n % 5
            result = controller.register_broker(image, BrokerRegistrationRequest(
                b, "c", bytes([b, n % 256]) * 8, [Endpoint("PLAINTEXT", "h", 9000 + b, 0)], SUPPORTED_FEATURES,
                rack=None if n % 2 else "r1"), now)
            epochs[b] = result.response.broker_epoch if result.records else epochs.get(b, -1)
        elif op in ("heartbeat", "fence") and epochs:
            b = sorted(epochs)[n % len(epochs)]
            result = controller.broker_heartbeat(image, BrokerHeartbeatRequest(
                b, epochs[b], image.offset + 1, want_fence=op == "fence", want_shutdown=n % 7 == 0), now)
        elif op == "topic":
            result = controller.create_topics(image, [NewTopic(f"t{n % 6}", 1 + n % 4, 1 + (n % 4 == 0),
                                                               configs={"retention.ms": str(n)} if n % 3 else {})])
        elif op == "delete" and topics:
            result = controller.delete_topics(image, [topics[n % len(topics)]])
        elif op == "partitions" and topics:
            t = topics[n % len(topics)]
            result = controller.create_partitions(image, [NewPartitions(t, len(image.topic(t).partitions) + 1)])
        elif op == "config" and topics:
            result = controller.incremental_alter_configs(image, [(ConfigResource(
                ConfigResourceType.TOPIC, topics[n % len(topics)]),
                [ConfigChange("cleanup.policy", AlterConfigOp.SET if n % 2 else AlterConfigOp.DELETE, "compact")])])
        elif op == "alter_isr" and topics:
            t = image.topic(topics[n % len(topics)])
            p = t.partitions[0]
            if p.leader < 0 or p.leader not in epochs:
                continue
            result = controller.alter_partition(image, p.leader, epochs[p.leader], {t.id: [PartitionStateChange(
                0, p.leader_epoch, [p.leader], p.partition_epoch)]})
        elif op == "pids" and epochs:
            b = sorted(epochs)[n % len(epochs)]
            result = controller.allocate_producer_ids(image, b, epochs[b])
        elif op == "expire":
            now += 10_000
            result = controller.fence_stale_brokers(image, now)
        else:
            continue
        if result.records:
            # every record survives its framed encoding unchanged
            wire = [decode_record(encode_record(r)) for r in result.records]
            assert wire == result.records
            for i, r in enumerate(result.records):
                controller.replay(r, image.offset + 1 + i)
            image = image.apply(result.records, offset=image.offset + len(result.records), epoch=1 + n % 3)
            records += result.records
    return records, image


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS, st.integers(0, 1000))
def test_snapshot_round_trip(ops, seed):
    records, image = run_history(ops, seed)
    assert EMPTY_IMAGE.apply(records, offset=image.offset, epoch=image.epoch) == image
    snapshot = [decode_record(encode_record(r)) for r in image.to_records()]
    rebuilt = EMPTY_IMAGE.apply(snapshot, offset=image.offset, epoch=image.epoch)
    assert rebuilt == image
    # the snapshot of the rebuilt image is the same list of records
    assert rebuilt.to_records() == image.to_records()
