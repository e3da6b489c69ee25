"""Streams group topology descriptions (KIP-1331) on kafkapy and on Apache Kafka 4.4,
compared.

Kafka 4.4 keeps a description only through a
``group.streams.topology.description.plugin.class``; kafkapy runs no Java plugin and
refuses that setting, so both brokers are compared as Kafka runs by default: ApiVersions
advertises StreamsGroupTopologyDescriptionUpdate v0, every update (unknown group,
unknown member, stale or current topology epoch, empty ids) answers UNSUPPORTED_VERSION
with the same message, the heartbeat never asks for a description, and a describe asking
for one answers NOT_STORED (``kafka-streams-groups --describe --topology``: "No topology
description is stored"). The epochs a plugin held (StreamsGroupMetadataValue's tagged
StoredDescriptionTopologyEpoch and FailedDescriptionTopologyEpoch, written by a Kafka
that ran one) are replayed and written back with the group's next epoch, as Kafka writes
the group's own.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from compat_tests.brokers import DEPS, free_port, java, start_command
from kafkapy.broker.streams.records import GROUP_METADATA, decode_streams_record, group_metadata_record
from kafkapy.config import BrokerConfig, CannotHonourError
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeRequest
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest as Q
from kafkapy.wire.messages.streams_group_topology_description_update import (
    StreamsGroupTopologyDescriptionUpdateRequest as U,
)
from kafkapy.wire.messages.update_features import UpdateFeaturesRequest as F
from tests.reference import kafkapy_and_kafka, needs_kafka

VERSION = "4.4.0"
LIBS = DEPS / f"kafka-{VERSION}" / "libs"
CONFIG = {"offsets.topic.num.partitions": "1"}
#: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE.
_LOADING = {ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE}

pytestmark = needs_kafka(VERSION)


brokers = kafkapy_and_kafka(VERSION, CONFIG)


def _description() -> U.TopologyDescription:
    """A source, a processor with a store and a sink: what Kafka Streams would push."""
    return U.TopologyDescription(subtopologies=[U.TopologyDescriptionSubtopology(subtopology_id="0", nodes=[
        U.TopologyDescriptionNode(name="KSTREAM-SOURCE-0000000000", node_type=1, source_topics=["in"],
                                  successors=["KSTREAM-AGGREGATE-0000000001"]),
        U.TopologyDescriptionNode(name="KSTREAM-AGGREGATE-0000000001", node_type=2, stores=["counts"],
                                  successors=["KSTREAM-SINK-0000000002"]),
        U.TopologyDescriptionNode(name="KSTREAM-SINK-0000000002", node_type=3, sink_topic="out")])])


def _find_coordinator(conn: KafkaConnection, group: str) -> None:
    """FindCoordinator until found (the first creates __consumer_offsets)."""
    deadline = time.monotonic() + 60
    while conn.request(FindCoordinatorRequest(key_type=0, coordinator_keys=[group]), 4) \
            .coordinators[0].error_code and time.monotonic() < deadline:
        time.sleep(0.3)


def _join(conn: KafkaConnection, group: str, member: str) -> Any:
    """A member's join, retried while the group's coordinator loads its partition."""
    join = Q(group_id=group, member_id=member, member_epoch=0, rebalance_timeout_ms=30000,
             topology=Q.Topology(epoch=3, subtopologies=[Q.Subtopology(subtopology_id="0", source_topics=["in"])]),
             process_id=f"p-{member}", active_tasks=[], standby_tasks=[], warmup_tasks=[])
    deadline = time.monotonic() + 60
    joined = conn.request(join, 1)
    while joined.error_code in _LOADING and time.monotonic() < deadline:
        time.sleep(0.3)  # a new __consumer_offsets partition is loaded after FindCoordinator found it
        joined = conn.request(join, 1)
    return joined


def _scenario(bootstrap: str) -> dict[str, Any]:
    group = f"app-{uuid.uuid4().hex[:6]}"
    out: dict[str, Any] = {}
    with KafkaConnection(bootstrap, timeout_s=30) as conn:
        versions = conn.request(ApiVersionsRequest(client_software_name="t", client_software_version="1"), 3)
        out["ApiVersions key 93"] = [(k.min_version, k.max_version) for k in versions.api_keys
                                     if k.api_key == ApiKey.STREAMS_GROUP_TOPOLOGY_DESCRIPTION_UPDATE]
        _find_coordinator(conn, group)

        def update(name: str, group_id: str, member: str, epoch: int) -> None:
            r = conn.request(U(group_id=group_id, member_id=member, topology_epoch=epoch,
                               topology_description=_description()), 0)
            out[name] = (r.error_code, r.error_message)

        update("unknown group", f"none-{group}", "m1", 3)
        joined = _join(conn, group, "m1")
        out["join"] = (joined.error_code, joined.topology_description_required)
        update("unknown member", group, "m9", 3)
        update("stale topology epoch", group, "m1", 2)
        update("newer topology epoch", group, "m1", 4)
        update("current topology epoch", group, "m1", 3)
        update("empty member id", group, "", 3)
        update("empty group id", "", "m1", 3)
        beat = conn.request(Q(group_id=group, member_id="m1", member_epoch=joined.member_epoch), 1)
        out["heartbeat after the update"] = (beat.error_code, beat.topology_description_required)
        for include in (False, True):
            d = conn.request(StreamsGroupDescribeRequest(group_ids=[group], include_topology_description=include),
                             1).groups[0]
            out[f"describe, description asked: {include}"] = (d.error_code, d.topology_description_status,
                                                              d.topology_description)
    return out


def test_topology_description_conversation_matches_kafka(brokers: dict[str, str]) -> None:
    ours, kafka = _scenario(brokers["kafkapy"]), _scenario(brokers["kafka"])
    assert ours == kafka
    assert ours["ApiVersions key 93"] == [(0, 0)]
    assert ours["current topology epoch"][0] != 0


def _describe_topology(bootstrap: str) -> tuple[int, str, str]:
    """Kafka 4.4's ``kafka-streams-groups --describe --topology`` of a group with one member."""
    group = f"app-{uuid.uuid4().hex[:6]}"
    with KafkaConnection(bootstrap, timeout_s=30) as conn:
        _find_coordinator(conn, group)
        assert _join(conn, group, "m1").error_code == ErrorCode.NONE
    done = subprocess.run([java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{LIBS}/*",
                           "org.apache.kafka.tools.streams.StreamsGroupCommand", "--bootstrap-server", bootstrap,
                           "--describe", "--topology", "--group", group],
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout.replace(group, "<group>"), done.stderr.replace(group, "<group>")


def test_kafka_streams_groups_describe_topology_matches_kafka(brokers: dict[str, str]) -> None:
    ours, kafka = _describe_topology(brokers["kafkapy"]), _describe_topology(brokers["kafka"])
    assert ours == kafka
    assert "No topology description is stored" in ours[1]


def _off_update(bootstrap: str) -> tuple[int, str | None]:
    """An update once the broker has ``streams.version`` 0 from its metadata log."""
    request = U(group_id="g", member_id="m1", topology_epoch=0, topology_description=_description())
    with KafkaConnection(bootstrap, timeout_s=30) as conn:
        deadline = time.monotonic() + 30
        answer = conn.request(request, 0)
        while answer.error_message is not None and time.monotonic() < deadline:
            time.sleep(0.3)
            answer = conn.request(request, 0)
    return answer.error_code, answer.error_message


def _set_streams_version(bootstrap: str, level: int) -> None:
    with KafkaConnection(bootstrap, timeout_s=30) as conn:
        r = conn.request(F(timeout_ms=30000, validate_only=False, feature_updates=[F.FeatureUpdateKey(
            feature="streams.version", max_version_level=level, upgrade_type=1 if level else 2)]), 2)
    assert r.error_code == ErrorCode.NONE, r  # v2 answers no per-feature results


def test_an_update_with_streams_groups_off_matches_kafka(brokers: dict[str, str], tmp_path: Path) -> None:
    """``streams.version`` 0 on a cluster formatted at Kafka 4.4's release (a new kafkapy
    cluster is at 4.1-IV1, where kafkapy serves streams groups as Kafka 4.1 did):
    UNSUPPORTED_VERSION without a message. The reference gets it by a downgrade, and
    ``streams.version`` 1 back afterwards."""
    port, controller = free_port(), free_port()
    config = tmp_path / "server.properties"
    config.write_text("\n".join([
        "process.roles=broker,controller", "node.id=1", f"log.dirs={tmp_path / 'data'}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "controller.listener.names=CONTROLLER", f"controller.quorum.voters=1@127.0.0.1:{controller}",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"]) + "\n")
    formatted = subprocess.run([sys.executable, "-m", "kafkapy", "storage", "format", "-t", "q1Sh-9_ISia_zwGINzRvyQ",
                                "-c", str(config), "-r", "4.4", "-f", "streams.version=0"],
                               capture_output=True, text=True, timeout=60)
    assert formatted.returncode == 0, formatted.stderr
    with start_command(f"{{python}} -m kafkapy serve {config}", port=port) as ours:
        kafkapy = _off_update(ours.bootstrap)
    _set_streams_version(brokers["kafka"], 0)
    try:
        kafka = _off_update(brokers["kafka"])
    finally:
        _set_streams_version(brokers["kafka"], 1)
    assert kafkapy == kafka == (ErrorCode.UNSUPPORTED_VERSION, None)


def test_a_description_plugin_is_refused_at_start() -> None:
    """Kafka loads the plugin class; kafkapy has none to run, and says so."""
    with pytest.raises(CannotHonourError, match="no Java plugin"):
        BrokerConfig.from_properties({"group.streams.topology.description.plugin.class":
                                      "org.apache.kafka.server.streams.InMemoryTopologyDescriptionPlugin"})


def _group_metadata(broker: Broker, group: str) -> list[Any]:
    """The group's StreamsGroupMetadataValue records in __consumer_offsets, in order."""
    records = [decode_streams_record(r.key, r.value) for r in broker.records("__consumer_offsets", 0)]
    return [r.value for r in records if r is not None and r.record_type == GROUP_METADATA and r.group_id == group]


def test_description_epochs_are_kept_through_replay_and_the_next_epoch(tmp_path: Any) -> None:
    group = f"app-{uuid.uuid4().hex[:6]}"
    with Broker({**CONFIG, "log.dirs": str(tmp_path)}, memory=False) as broker:
        with KafkaConnection(broker.bootstrap_servers, timeout_s=30) as conn:
            _find_coordinator(conn, group)
            assert _join(conn, group, "m1").error_code == ErrorCode.NONE
            epoch = conn.request(StreamsGroupDescribeRequest(group_ids=[group]), 1).groups[0].group_epoch
        # What a Kafka 4.4 with a description plugin would have written for the group
        # (producing to an internal topic is the admin client's, as in Kafka).
        key, value = group_metadata_record(group, epoch, 0, -1, description_epochs=(3, 2))
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "client.id": "__admin_client"})
        producer.produce("__consumer_offsets", key=key, value=value, partition=0)
        assert producer.flush(30) == 0
        broker.stop()
        broker.start()
        with KafkaConnection(broker.bootstrap_servers, timeout_s=30) as conn:
            _find_coordinator(conn, group)
            assert _join(conn, group, "m2").error_code == ErrorCode.NONE
        written = _group_metadata(broker, group)
    assert [(v.stored_description_topology_epoch, v.failed_description_topology_epoch) for v in written] == \
        [(-1, -1), (3, 2), (3, 2)]
    assert written[-1].epoch > epoch
