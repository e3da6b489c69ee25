"""Kafka 4.4's consumer.* and streams.* group configs (``GroupConfig``), compared with
Apache Kafka 4.4.0 through the same raw requests to both brokers.

- IncrementalAlterConfigs on a GROUP resource takes them within the broker's
  min/max configs and with each session timeout over its heartbeat interval, and
  refuses the Kafka group configs kafkapy cannot honour (INVALID_CONFIG; Kafka takes
  those, so they are asked of kafkapy only).
- DescribeConfigs lists a group's own value, then the broker config behind it;
  ``kafka-configs --entity-type groups`` alters and describes them alike on both.
- The groups honour them: a consumer or streams group member is told the group's
  heartbeat interval and, silent, is removed after the group's session timeout (the
  broker's is 60 s); a streams group member waits out its group's initial rebalance
  delay and gets standby tasks by its num.standby.replicas.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from kafkapy.kraft.metadata.image import ConfigResourceType
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from kafkapy.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.describe_configs import DescribeConfigsRequest
from kafkapy.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeRequest
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest as Q
from tests.reference import kafka_tool, kafkapy_and_kafka, needs_kafka
from tests.streams_groups.conversation import joiner, wait_for_coordinator

VERSION = "4.4.0"
GROUP_RESOURCE = ConfigResourceType.GROUP
CONFIG = {
    "offsets.topic.num.partitions": "1",
    "group.consumer.min.session.timeout.ms": "1000",
    "group.consumer.min.heartbeat.interval.ms": "500",
    "group.consumer.session.timeout.ms": "60000",
    "group.streams.min.session.timeout.ms": "1000",
    "group.streams.min.heartbeat.interval.ms": "500",
    "group.streams.session.timeout.ms": "60000",
    "group.streams.initial.rebalance.delay.ms": "0",
}
#: Kafka computes each streams assignment at once otherwise, as kafkapy does.
ASSIGNMENT_DELAYED = 5  # StreamsGroupHeartbeatResponse.Status
KAFKA_ONLY = {"group.streams.assignment.interval.ms": "0", "group.streams.assignor.offload.enable": "false"}

pytestmark = needs_kafka(VERSION)
brokers = kafkapy_and_kafka(VERSION, CONFIG, KAFKA_ONLY)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _alter(conn: KafkaConnection, group: str, configs: dict[str, str]) -> ErrorCode:
    R = IncrementalAlterConfigsRequest
    answer = conn.request(R(resources=[R.AlterConfigsResource(
        resource_type=GROUP_RESOURCE, resource_name=group, configs=[
            R.AlterableConfig(name=k, config_operation=0, value=v) for k, v in configs.items()])]), 1)
    return ErrorCode(answer.responses[0].error_code)


def _describe(conn: KafkaConnection, group: str, names: list[str]) -> list[tuple[Any, ...]]:
    R = DescribeConfigsRequest
    answer = conn.request(R(resources=[R.DescribeConfigsResource(
        resource_type=GROUP_RESOURCE, resource_name=group, configuration_keys=names)], include_synonyms=True), 4)
    return sorted((c.name, c.value, c.config_source, [(s.name, s.value, s.source) for s in c.synonyms])
                  for c in answer.results[0].configs)


def _connected(bootstrap: str, group: str) -> KafkaConnection:
    conn = KafkaConnection(bootstrap, timeout_s=30)
    wait_for_coordinator(conn, group, time.monotonic() + 60)
    return conn


def _alter_and_describe(bootstrap: str) -> dict[str, Any]:
    group = _unique("cfg")
    with _connected(bootstrap, group) as conn:
        out: dict[str, Any] = {
            "consumer in range": _alter(conn, group, {"consumer.session.timeout.ms": "2000",
                                                      "consumer.heartbeat.interval.ms": "600"}),
            "consumer session over the broker's max": _alter(conn, group, {"consumer.session.timeout.ms": "70000"}),
            "consumer heartbeat under the broker's min": _alter(conn, group, {"consumer.heartbeat.interval.ms": "100"}),
            "consumer session not over its heartbeat": _alter(conn, group, {"consumer.session.timeout.ms": "1000",
                                                                            "consumer.heartbeat.interval.ms": "1000"}),
            "streams standby over the broker's max": _alter(conn, group, {"streams.num.standby.replicas": "3"}),
            "streams session under the broker's min": _alter(conn, group, {"streams.session.timeout.ms": "1000"}),
            "share session under the broker's min": _alter(conn, group, {"share.session.timeout.ms": "1000"}),
            "share record locks over the broker's max": _alter(conn, group,
                                                               {"share.partition.max.record.locks": "5000"}),
            "share delivery count under the broker's min": _alter(conn, group, {"share.delivery.count.limit": "1"}),
            "streams in range": _alter(conn, group, {"streams.num.standby.replicas": "1",
                                                     "streams.heartbeat.interval.ms": "6000",
                                                     "streams.initial.rebalance.delay.ms": "100"}),
        }
        out["described"] = _describe(conn, group, [
            "consumer.session.timeout.ms", "consumer.heartbeat.interval.ms", "streams.session.timeout.ms",
            "streams.heartbeat.interval.ms", "streams.num.standby.replicas", "streams.initial.rebalance.delay.ms"])
    return out


def test_consumer_and_streams_group_configs_are_set_and_described_as_kafka_4_4(brokers: dict[str, str]) -> None:
    ours, theirs = _alter_and_describe(brokers["kafkapy"]), _alter_and_describe(brokers["kafka"])
    assert ours == theirs
    assert ours["consumer in range"] == ErrorCode.NONE
    assert ours["streams standby over the broker's max"] == ErrorCode.INVALID_CONFIG
    assert ours["share session under the broker's min"] == ErrorCode.INVALID_CONFIG
    assert ("streams.num.standby.replicas", "1", 8, [("streams.num.standby.replicas", "1", 8),
                                                     ("group.streams.num.standby.replicas", "0", 5)]) \
        in ours["described"]


def test_kafka_group_configs_kafkapy_cannot_honour_are_refused(brokers: dict[str, str]) -> None:
    group = _unique("cfg")
    with _connected(brokers["kafkapy"], group) as conn:
        for name, value in (("consumer.assignment.interval.ms", "0"), ("streams.assignor.name", "sticky"),
                            ("errors.deadletterqueue.topic.name", "dlq")):
            assert _alter(conn, group, {name: value}) == ErrorCode.INVALID_CONFIG
        assert _describe(conn, group, ["consumer.assignment.interval.ms"]) == []


def _silent_member(bootstrap: str, kind: str) -> dict[str, Any]:
    """A consumer or streams group with its session timeout set to 2000 ms: its member,
    silent after joining, is gone well before the broker's session timeout (60 s)."""
    group, topic = _unique("silent"), _unique("t")
    out: dict[str, Any] = {}
    with _connected(bootstrap, group) as conn:
        conn.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
            name=topic, num_partitions=1, replication_factor=1)], timeout_ms=30000), 5)
        out["configs"] = _alter(conn, group, {f"{kind}.session.timeout.ms": "2000",
                                              f"{kind}.heartbeat.interval.ms": "600"})
        if kind == "consumer":
            joined = conn.request(ConsumerGroupHeartbeatRequest(
                group_id=group, member_id=uuid.uuid4().hex[:22], member_epoch=0, rebalance_timeout_ms=30000,
                subscribed_topic_names=[topic], topic_partitions=[]), 1)
            describe: Any = ConsumerGroupDescribeRequest(group_ids=[group])
        else:
            joined = joiner(conn, group, Q.Topology(epoch=0, subtopologies=[
                Q.Subtopology(subtopology_id="0", source_topics=[topic])]))("m1", "p1")
            describe = StreamsGroupDescribeRequest(group_ids=[group])
        out["join"] = (joined.error_code, joined.member_epoch, joined.heartbeat_interval_ms)
        deadline = time.monotonic() + 40
        while True:
            described = conn.request(describe, 1).groups[0]
            if not described.members or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        out["after the session"] = (described.group_state, len(described.members))
    return out


@pytest.mark.parametrize("kind", ["consumer", "streams"])
def test_group_member_leaves_after_the_group_session_timeout(brokers: dict[str, str], kind: str) -> None:
    ours, theirs = _silent_member(brokers["kafkapy"], kind), _silent_member(brokers["kafka"], kind)
    assert ours == theirs
    assert ours["join"] == (0, 2, 600)
    assert ours["after the session"] == ("Empty", 0)


def _streams(bootstrap: str) -> list[Any]:
    """A streams group with streams.heartbeat.interval.ms, streams.initial.rebalance.delay.ms
    and streams.num.standby.replicas set on it, two members, one stateful subtopology."""
    group = _unique("app")
    source = f"src-{group}"
    topology = Q.Topology(epoch=0, subtopologies=[Q.Subtopology(
        subtopology_id="0", source_topics=[source], state_changelog_topics=[
            Q.TopicInfo(name=f"{group}-store-changelog", partitions=0, replication_factor=0, topic_configs=[])])])
    out: list[Any] = []
    with _connected(bootstrap, group) as conn:
        created = conn.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
            name=source, num_partitions=2, replication_factor=1)], timeout_ms=30000), 5)
        assert created.topics[0].error_code == 0
        out.append(_alter(conn, group, {"streams.heartbeat.interval.ms": "6000", "streams.num.standby.replicas": "1",
                                        "streams.initial.rebalance.delay.ms": "3000"}))
        join = joiner(conn, group, topology)

        def beat(member: str, epoch: int) -> Any:
            return conn.request(Q(group_id=group, member_id=member, member_epoch=epoch), 1)

        def tasks(field: Any) -> int | None:
            return None if field is None else sum(len(t.partitions) for t in field)

        def seen(label: str, r: Any) -> None:
            # Whether the assignment is delayed; the topology's statuses are left out (Kafka's
            # coordinator sees a new source topic a moment after it is made).
            out.append((label, r.error_code, r.heartbeat_interval_ms,
                        ASSIGNMENT_DELAYED in [s.status_code for s in r.status or []],
                        tasks(r.active_tasks), tasks(r.standby_tasks)))

        deadline = time.monotonic() + 60
        first = join("m1", "p1")
        while first.error_code in (14, 15, 16) and time.monotonic() < deadline:  # the coordinator still loading
            time.sleep(0.3)
            first = join("m1", "p1")
        seen("join", first)
        second = join("m2", "p2")
        seen("second join", second)
        epochs = {"m1": first.member_epoch, "m2": second.member_epoch}
        totals = {}
        while time.monotonic() < deadline and totals != {"active": 2, "standby": 2}:
            time.sleep(0.5)
            owned = {}
            for member in ("m1", "m2"):
                r = beat(member, epochs[member])
                assert r.error_code == 0, r
                epochs[member] = r.member_epoch
                if r.active_tasks is not None:
                    owned[member] = (tasks(r.active_tasks), tasks(r.standby_tasks))
            if len(owned) == 2:
                totals = {"active": sum(a for a, _ in owned.values()), "standby": sum(s for _, s in owned.values())}
        out.append(("assigned", totals))
    return out


def test_streams_group_configs_are_honoured_as_kafka_4_4(brokers: dict[str, str]) -> None:
    ours, theirs = _streams(brokers["kafkapy"]), _streams(brokers["kafka"])
    assert ours == theirs
    assert ours[1][:4] == ("join", 0, 6000, True)  # delayed by the group's own initial delay
    assert ours[-1] == ("assigned", {"active": 2, "standby": 2})


def _configs_tool(bootstrap: str) -> tuple[str, str]:
    """``kafka-configs --entity-type groups``: alter, then describe, one group."""
    group = _unique("tool")
    common = ("--bootstrap-server", bootstrap, "--entity-type", "groups", "--entity-name", group)
    altered = kafka_tool("ConfigCommand", *common, "--alter", "--add-config",
                         "consumer.heartbeat.interval.ms=7000,streams.num.standby.replicas=1")
    described = kafka_tool("ConfigCommand", *common, "--describe")
    return altered.replace(group, "<group>"), described.replace(group, "<group>")


def test_kafka_configs_tool_on_groups_says_the_same(brokers: dict[str, str]) -> None:
    ours, theirs = _configs_tool(brokers["kafkapy"]), _configs_tool(brokers["kafka"])
    assert ours == theirs
    assert "consumer.heartbeat.interval.ms=7000" in ours[1] and "streams.num.standby.replicas=1" in ours[1]
