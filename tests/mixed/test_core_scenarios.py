"""The compatibility matrix's core scenarios through every broker of each mixed combination,
and a kill of the active controller and of a broker without losing acknowledged records
(issue 17's proof).

Combinations, one cluster each (shared by the module's tests, in order):

- ``kafkapy-quorum``: a kafkapy controller, a Kafka broker and a kafkapy broker;
- ``kafka-quorum``: a Kafka controller, a kafkapy broker and a Kafka broker;
- ``mixed-voters``: kafkapy voter 1 and Kafka voters 2 and 3, a kafkapy and a Kafka broker;
- ``kafkapy-quorum-4.1``: the first with Kafka 4.1.2 (the others run the reference,
  Kafka 4.4.0), so that 4.1 nodes stay proven in a kafkapy cluster.

The scenarios are compat_tests' own (``compat_tests/scenarios.py``), run by the
confluent-kafka driver with each broker as its only bootstrap server and topics
replicated on both brokers. The kill test keeps an idempotent ``acks=all`` producer
running while the active controller is SIGKILLed and restarted, then the leader of the
partition; every record acknowledged is then read back exactly once, in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from compat_tests.clients import CLIENTS, run_client
from compat_tests.brokers import KAFKA_VERSION
from compat_tests.mixed_cluster import MixedCluster, describe_logs, reference_installed
from tests.mixed.helpers import create_topic, metadata, until
from tests.mixed.test_mixed_voters import quorum_leader
from tests.reference import needs_reference

pytestmark = needs_reference

#: The matrix's core: a plain round trip, a group, exactly-once production, transactions, admin.
CORE_SCENARIOS = ["codec_none", "group_commit_resume", "idempotent_producer", "transactions", "admin"]
CONFLUENT = next(c for c in CLIENTS if c.name == "confluent-kafka")

COMBINATIONS = {
    "kafkapy-quorum": [("kafkapy", 1, "controller"), ("kafka", 2, "broker"), ("kafkapy", 3, "broker")],
    "kafka-quorum": [("kafka", 1, "controller"), ("kafkapy", 2, "broker"), ("kafka", 3, "broker")],
    "mixed-voters": [("kafkapy", 1, "controller"), ("kafka", 2, "controller"), ("kafka", 3, "controller"),
                     ("kafkapy", 4, "broker"), ("kafka", 5, "broker")],
}
COMBINATIONS["kafkapy-quorum-4.1"] = COMBINATIONS["kafkapy-quorum"]
#: The Kafka release of each combination's JVMs (the reference's unless named).
RELEASES = {"kafkapy-quorum-4.1": "4.1.2"}


@pytest.fixture(scope="module", params=[pytest.param(name, marks=pytest.mark.skipif(
    not reference_installed(RELEASES.get(name, KAFKA_VERSION)),
    reason=f"Apache Kafka {RELEASES.get(name, KAFKA_VERSION)} is not in compat_tests/.deps")) for name in COMBINATIONS])
def combination(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixedCluster]:
    mixed = MixedCluster(tmp_path_factory.mktemp(request.param),
                         kafka_version=RELEASES.get(request.param, KAFKA_VERSION))
    try:
        for kind, node_id, roles in COMBINATIONS[request.param]:
            mixed.add(kind, node_id, roles)  # type: ignore[arg-type]
        mixed.start()
        ids = sorted(b.node_id for b in mixed.brokers)
        until("every broker in every broker's Metadata",
              lambda: all(mixed.brokers_seen(i) == ids for i in ids) or None)
        yield mixed
    finally:
        mixed.stop()


def test_core_scenarios_through_every_broker(combination: MixedCluster):
    failed = {}
    for broker in combination.brokers:
        run = run_client(CONFLUENT, broker.bootstrap_servers, CORE_SCENARIOS, timeout=240, replication_factor=2)
        assert set(run.cells) == set(CORE_SCENARIOS)
        failed.update({f"{broker.kind}-{broker.node_id}/{name}": cell.detail
                       for name, cell in run.cells.items() if cell.status != "pass"})
    assert not failed, (failed, describe_logs(combination))


class AckedProducer:
    """An idempotent ``acks=all`` producer sending ``seq-<n>`` to partition 0 every 10 ms
    in a thread; :attr:`acked` lists what the cluster acknowledged, in order."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.acked: list[bytes] = []
        self.errors: list[str] = []
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 5, "message.timeout.ms": 120000})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, err: object, msg: object) -> None:
        if err is None:
            self.acked.append(msg.value())  # type: ignore[attr-defined]
        else:
            self.errors.append(str(err))

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            self._producer.produce(self.topic, f"seq-{seq:06d}".encode(), partition=0, on_delivery=self._delivered)
            seq += 1
            self._producer.poll(0.01)

    def __enter__(self) -> AckedProducer:
        self._thread.start()
        return self

    def more(self, count: int, timeout_s: float = 60.0) -> None:
        """Wait until ``count`` more records are acknowledged."""
        target = len(self.acked) + count
        until(f"{count} more acknowledged records", lambda: len(self.acked) >= target or None, timeout_s=timeout_s)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._producer.flush(60)


def read_all(bootstrap: str, topic: str, count: int, timeout_s: float = 60.0) -> list[bytes]:
    """Partition 0 of ``topic`` from offset 0 (read_committed), until ``count`` records or the timeout."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    got: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                got.append(message.value())
    finally:
        consumer.close()
    return got


def active_controller(cluster: MixedCluster) -> int:
    broker = cluster.brokers[0]
    return until("an active controller", lambda: quorum_leader(broker.bootstrap_servers))


def partition_leader(cluster: MixedCluster, topic: str) -> int | None:
    for broker in cluster.brokers:
        if broker.running:
            try:
                found = [p for t in metadata(broker.bootstrap_servers, topic).topics for p in t.partitions]
            except (OSError, ConnectionError):
                continue
            if found and found[0].leader_id >= 0:
                return found[0].leader_id
    return None


def test_acknowledged_records_survive_a_controller_and_a_broker_kill(combination: MixedCluster):
    ids = sorted(b.node_id for b in combination.brokers)
    bootstrap = combination.bootstrap_servers
    create_topic(bootstrap, "durable", partitions=1, replication_factor=2)
    until("both replicas in sync", lambda: all(
        sorted(p.isr_nodes) == ids for t in metadata(combination.brokers[0].bootstrap_servers, "durable").topics
        for p in t.partitions) or None)
    with AckedProducer(bootstrap, "durable") as producer:
        producer.more(50)
        controller = active_controller(combination)
        combination.kill_node(controller)
        producer.more(50)  # the data path goes on without (that) controller
        combination.start_node(controller)
        until("an active controller again", lambda: quorum_leader(combination.brokers[0].bootstrap_servers))
        producer.more(50)
        leader = until("the partition's leader", lambda: partition_leader(combination, "durable"))
        combination.kill_node(leader)
        until("a new leader", lambda: (lambda now: now if now not in (None, leader) else None)(
            partition_leader(combination, "durable")), timeout_s=60)
        producer.more(50)
        combination.start_node(leader)
        producer.more(50)
    assert producer.errors == [], producer.errors[:5]
    acked = producer.acked
    got = read_all(combination.nodes[leader].bootstrap_servers, "durable", len(acked))
    assert len(got) == len(set(got)), "a record was read twice"
    assert set(acked) <= set(got), (f"{len(set(acked) - set(got))} acknowledged records lost", describe_logs(combination))
    assert got == sorted(got), "records out of order"
