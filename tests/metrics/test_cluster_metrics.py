"""A three-node cluster's /metrics through a follower's death and return.

Kafka's dashboards watch these numbers in exactly this story: the leader shrinks the
ISR (IsrShrinksPerSec, UnderReplicatedPartitions), the controller fences the dead
broker (FencedBrokerCount), and when it comes back it catches up and the ISR expands.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from kafkapy.testing import Cluster

#: Followers drop out of the ISR after this long without fetching (Kafka: 30 s), well
#: before the controller fences a silent broker (broker.session.timeout.ms, 9 s), so the
#: leader's own AlterPartition shrinks the ISR.
_LAG_MS = "2000"


def _until(what: str, check: Callable[[], bool], timeout_s: float = 45.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    with Cluster(3, {"replica.lag.time.max.ms": _LAG_MS}) as c:
        yield c


def _active_controller(cluster: Cluster) -> int:
    counts = {i: cluster.metrics(i)["kafka_controller_kafkacontroller_activecontrollercount"]
              for i, node in cluster.nodes.items() if node.running}
    active = [i for i, n in counts.items() if n == 1]
    assert sum(counts.values()) == 1 and len(active) == 1, counts
    return active[0]


def test_isr_shrink_fencing_and_expand_are_counted(cluster: Cluster) -> None:
    cluster.create_topics("watched", replication_factor=3)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all"})
    for _ in range(5):
        producer.produce("watched", b"v" * 10)
    assert producer.flush(30) == 0
    leader = cluster.leader_of("watched")
    follower = next(i for i in cluster.nodes if i != leader)
    before = cluster.metrics(leader)
    assert before["kafka_server_replicamanager_underreplicatedpartitions"] == 0
    assert before['kafka_server_brokertopicmetrics_messagesin_total{topic="watched"}'] == 5
    _until("one active controller", lambda: _active_controller(cluster) > 0)

    cluster.kill_node(follower)
    # A dead follower that holds the whole log is still in sync (Kafka's isCaughtUp): the
    # leader must move on for it to lag.
    more = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "1"})
    more.produce("watched", b"w" * 10)
    assert more.flush(30) == 0
    _until("the leader shrinks the ISR", lambda: cluster.metrics(leader)["kafka_server_replicamanager_isrshrinks_total"]
           > before["kafka_server_replicamanager_isrshrinks_total"])
    shrunk = cluster.metrics(leader)
    assert shrunk["kafka_server_replicamanager_underreplicatedpartitions"] >= 1
    _until("the controller fences the dead broker", lambda: cluster.metrics(_active_controller(cluster))
           ["kafka_controller_kafkacontroller_fencedbrokercount"] == 1)

    cluster.restart_node(follower)
    _until("the ISR expands again", lambda: cluster.metrics(leader)["kafka_server_replicamanager_isrexpands_total"]
           > shrunk["kafka_server_replicamanager_isrexpands_total"]
           and cluster.metrics(leader)["kafka_server_replicamanager_underreplicatedpartitions"] == 0)
    controller = cluster.metrics(_active_controller(cluster))
    assert controller["kafka_controller_kafkacontroller_fencedbrokercount"] == 0
    assert controller["kafka_controller_kafkacontroller_activebrokercount"] == 3
    # Replication shows as bytes out to followers on the leader, not as consumer bytes out.
    assert cluster.metrics(leader)["kafka_server_brokertopicmetrics_replicationbytesout_total"] > 0
