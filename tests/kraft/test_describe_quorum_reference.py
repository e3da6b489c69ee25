"""DescribeQuorum of a one-node kafkapy quorum next to Apache Kafka's (the reference of
``compat_tests``, Kafka 4.4.0 in KRaft combined mode).

Both answer the same requests (v0, v1, v2; to the controller listener and, forwarded,
to the broker listener; one naming another partition) and the answers must have the
same shape: every field equal except those that differ by nature (the high watermark
and log end offsets count each side's own records; fetch times are each side's clock,
checked to be wall-clock milliseconds of now; ports).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kafkapy.testing import Cluster
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.describe_cluster import DescribeClusterRequest
from tests.kraft.test_cluster_processes import (
    controller_address,
    describe_quorum,
    request,
    voter_ports,
)
from tests.reference import needs_reference

pytestmark = needs_reference


class Side:
    """One broker under comparison: its broker and controller listeners and its voters."""

    def __init__(self, bootstrap: str, controller: str, voters: dict[int, int]) -> None:
        self.bootstrap = bootstrap
        self.controller = controller
        self.voters = voters


@pytest.fixture(scope="module")
def kafka() -> Iterator[Side]:
    from compat_tests.brokers import start_reference

    broker = start_reference()
    try:
        props = (broker.workdir / "server.properties").read_text()  # type: ignore[operator]
        port = int(re.search(r"CONTROLLER://127\.0\.0\.1:(\d+)", props).group(1))  # type: ignore[union-attr]
        yield Side(broker.bootstrap, f"127.0.0.1:{port}", {1: port})
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def kafkapy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    with Cluster(1, data_dir=str(tmp_path_factory.mktemp("kafkapy")), timeout_s=30) as cluster:
        node = cluster.nodes[1]
        yield Side(node.bootstrap_servers, controller_address(node), voter_ports(node))


def fields(message: Any) -> Any:
    """A decoded message as plain data (nested lists and dicts)."""
    if isinstance(message, list):
        return [fields(item) for item in message]
    if type(message).__module__.startswith("kafkapy.wire.messages"):
        return {name: fields(getattr(message, name)) for name in type(message).__slots__}
    return bytes(message) if isinstance(message, (bytearray, memoryview)) else message


def shape(answer: Any, side: Side) -> Any:
    """``answer`` with the values that differ by nature replaced by what they must be."""
    now_ms = int(time.time() * 1000)
    data = fields(answer)
    for topic in data["topics"]:
        for partition in topic["partitions"]:
            hw = partition["high_watermark"]
            if partition["error_code"] == 0:
                partition["high_watermark"] = "positive" if hw > 0 else hw
            for replica in partition["current_voters"] + partition["observers"]:
                replica["log_end_offset"] = ("at the high watermark" if replica["log_end_offset"] == hw
                                             else replica["log_end_offset"])
                for key in ("last_fetch_timestamp", "last_caught_up_timestamp"):
                    if replica[key] != -1:
                        replica[key] = "now" if now_ms - 60_000 <= replica[key] <= now_ms else replica[key]
    for node in data["nodes"]:
        for listener in node["listeners"]:
            if listener["port"] == side.voters.get(node["node_id"]):
                listener["port"] = "the voter's port"
    return data


@pytest.mark.parametrize("version", [0, 1, 2])
@pytest.mark.parametrize("listener", ["controller", "bootstrap"])
def test_describe_quorum_like_kafka(kafka: Side, kafkapy: Side, version: int, listener: str) -> None:
    ours = shape(describe_quorum(getattr(kafkapy, listener), version), kafkapy)
    theirs = shape(describe_quorum(getattr(kafka, listener), version), kafka)
    assert ours == theirs
    partition = ours["topics"][0]["partitions"][0]
    assert (partition["error_code"], partition["leader_id"], partition["high_watermark"]) == (0, 1, "positive")


def test_describe_quorum_of_another_partition_like_kafka(kafka: Side, kafkapy: Side) -> None:
    for topic in ("other", "__consumer_offsets"):
        ours = fields(describe_quorum(kafkapy.controller, 2, topic=topic))
        assert ours == fields(describe_quorum(kafka.controller, 2, topic=topic))
        assert ours["topics"][0]["partitions"][0]["error_code"] == 3  # UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.parametrize("listener", ["controller", "bootstrap"])
def test_describe_quorum_versions_like_kafka(kafka: Side, kafkapy: Side, listener: str) -> None:
    def versions(side: Side) -> tuple[int, int]:
        answer = request(getattr(side, listener), ApiVersionsRequest(
            client_software_name="kafkapy-tests", client_software_version="1"), 3)
        (key,) = [k for k in answer.api_keys if k.api_key == 55]
        return key.min_version, key.max_version

    assert versions(kafkapy) == versions(kafka) == (0, 2)


@pytest.mark.parametrize(("listener", "version", "endpoint_type"), [
    ("controller", 0, 1), ("controller", 1, 1), ("controller", 1, 2), ("controller", 2, 2),
    ("bootstrap", 1, 2), ("bootstrap", 2, 3), ("controller", 2, 3)])
def test_describe_cluster_endpoint_types_like_kafka(kafka: Side, kafkapy: Side, listener: str, version: int,
                                                    endpoint_type: int) -> None:
    """KIP-919: a controller listener describes the controllers; each listener refuses the other type."""

    def answer(side: Side) -> Any:
        data = fields(request(getattr(side, listener), DescribeClusterRequest(endpoint_type=endpoint_type), version))
        data["cluster_id"] = "<cluster id>" if data["cluster_id"] else ""
        for broker in data["brokers"]:
            if broker["port"] == side.voters.get(broker["broker_id"]):
                broker["port"] = "the voter's port"
        return data

    ours = answer(kafkapy)
    assert ours == answer(kafka)
    if (listener, endpoint_type) == ("controller", 2):
        assert (ours["error_code"], ours["controller_id"], [b["port"] for b in ours["brokers"]]) == \
            (0, 1, ["the voter's port"])
