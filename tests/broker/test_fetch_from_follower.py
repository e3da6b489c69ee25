"""Fetch from the closest replica (KIP-392) on a 3-node cluster whose nodes stand in
racks a, b and c, with Kafka's rack-aware replica selector: the leader sends a
consumer of rack b to the follower in rack b, which serves it up to its own high
watermark; librdkafka with ``client.rack`` reads every record that way."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.config import RACK_AWARE_REPLICA_SELECTOR
from kafkapy.testing import Cluster
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.fetch import FetchRequest
from tests.testing.clients import produce

RACKS = {1: "a", 2: "b", 3: "c"}


@pytest.fixture(scope="module")
def racked(tmp_path_factory):
    with Cluster(3, {"replica.selector.class": RACK_AWARE_REPLICA_SELECTOR},
                 node_config={i: {"broker.rack": rack} for i, rack in RACKS.items()},
                 data_dir=str(tmp_path_factory.mktemp("racks")), timeout_s=60) as c:
        admin = AdminClient({"bootstrap.servers": c.bootstrap_servers})
        admin.create_topics([NewTopic("racked", num_partitions=1, replica_assignment=[[1, 2, 3]])])["racked"].result(30)
        deadline = time.monotonic() + 30
        while len(c.partition_state("racked").isr) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield c


def _fetch(address: str, rack: str, offset: int = 0) -> FetchRequest:
    with KafkaConnection(address) as conn:
        return conn.request(FetchRequest(
            replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, session_id=0, session_epoch=-1,
            rack_id=rack, topics=[FetchRequest.FetchTopic(topic="racked", partitions=[
                FetchRequest.FetchPartition(partition=0, fetch_offset=offset, current_leader_epoch=-1,
                                            partition_max_bytes=1 << 20)])]), 11)


def test_leader_names_the_follower_in_the_consumers_rack(racked):
    produce(racked.bootstrap_servers, "racked", [b"r%d" % i for i in range(10)], acks="all")
    assert racked.leader_of("racked") == 1
    leader = racked.nodes[1].bootstrap_servers
    answer = _fetch(leader, "b").responses[0].partitions[0]
    assert (answer.error_code, answer.preferred_read_replica, answer.high_watermark) == (ErrorCode.NONE, 2, 10)
    assert not answer.records
    # A consumer in the leader's rack, or in no known rack, reads from the leader.
    for rack in ("a", "z", ""):
        answer = _fetch(leader, rack).responses[0].partitions[0]
        assert answer.preferred_read_replica == -1 and answer.records
    # The follower serves the consumer up to its own high watermark.
    deadline = time.monotonic() + 10
    while True:
        served = _fetch(racked.nodes[2].bootstrap_servers, "b").responses[0].partitions[0]
        if served.high_watermark == 10 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (served.error_code, served.high_watermark, served.preferred_read_replica) == (ErrorCode.NONE, 10, -1)
    assert served.records


def test_librdkafka_with_client_rack_reads_everything(racked):
    values = [b"rack-%d" % i for i in range(100)]
    start = _end_offset(racked)
    produce(racked.bootstrap_servers, "racked", values, acks="all")
    consumer = Consumer({"bootstrap.servers": racked.bootstrap_servers, "group.id": "rack-b", "client.rack": "b",
                         "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition("racked", 0, start)])
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(got) < len(values) and time.monotonic() < deadline:
            m = consumer.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value())
        assert got == values
    finally:
        consumer.close()


def _end_offset(cluster: Cluster) -> int:
    answer = _fetch(cluster.nodes[1].bootstrap_servers, "a").responses[0].partitions[0]
    return answer.high_watermark
