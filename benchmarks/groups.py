"""Groups on kafkapy and on Apache Kafka: how long a new consumer group takes to start
consuming, and records per second through a share group.

A new group of two confluent-kafka consumers (librdkafka's defaults but for
``group.protocol``, and no auto-commit: a member that briefly owned both partitions
must not commit the other member's record away) subscribes to a topic of two
partitions holding a record each. Measured on the client: from the first member's
``subscribe`` to both members having received a record (each owns one partition by
then).

Three setups:
  - classic protocol, ``group.initial.rebalance.delay.ms=3000`` (Kafka's default):
    the first rebalance waits for more members, and waits again while they come;
  - classic protocol, ``group.initial.rebalance.delay.ms=0`` (Kafka's development
    configs and kafkapy's quick start);
  - ``group.protocol=consumer`` (KIP-848), ``group.consumer.heartbeat.interval.ms``
    at its default of 5000: the second member gets its partition once the first
    has revoked it, which both learn of at their next heartbeat.

Share groups (KIP-932): a topic of one partition is filled with ``--records``
records of 100 bytes; the group is set to ``share.auto.offset.reset=earliest``, then
1, 2 or 4 librdkafka share consumers (confluent-kafka's ShareConsumer, implicit
acknowledgement, each in its own thread) read it until every record has been
delivered (once: a record delivered twice fails the run). Measured on the client:
records per second from the consumers' subscribe to the last record received. Every
record is acknowledged (ACCEPT) with the next fetch, so the broker writes
share-partition state as it goes.

``--reference`` runs the same against Apache Kafka in the same run (the compat_tests
reference broker, installed by ``compat_tests/install.sh``): the startup setups against
the release ``KAFKAPY_REFERENCE_VERSION`` selects, one fresh broker per setup; the share
groups against Kafka 4.4, one broker with its JVM at full JIT, as in production.

Run: .venv/bin/python benchmarks/groups.py [--runs 3] [--records 20000] [--only startup|share] [--reference]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from kafkapy.testing import Broker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # compat_tests, next to benchmarks/
from compat_tests.brokers import KAFKA_VERSION, start_reference  # noqa: E402

SETUPS = [
    ("classic, group.initial.rebalance.delay.ms=3000 (Kafka default)",
     {"group.initial.rebalance.delay.ms": "3000"}, "classic"),
    ("classic, group.initial.rebalance.delay.ms=0", {"group.initial.rebalance.delay.ms": "0"}, "classic"),
    ("group.protocol=consumer (KIP-848), heartbeat interval 5000 ms", {}, "consumer"),
]


SHARE_GROUP_SIZES = (1, 2, 4)
#: Share groups need Kafka 4.2 or later (KIP-932 production-ready): compared with 4.4.
SHARE_REFERENCE_VERSION = "4.4.0"


def one_run(bootstrap: str, protocol: str) -> float:
    """Seconds from the first subscribe to both members holding a record."""
    topic, group = f"bench-{uuid.uuid4().hex[:8]}", f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap})
    delivered: list[Any] = []
    for p in (0, 1):
        producer.produce(topic, value=b"x", partition=p, on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(30)
    if delivered != [None, None]:
        raise RuntimeError(f"produce failed: {delivered}")
    members = [Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": protocol,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False}) for _ in range(2)]
    got = [False, False]
    try:
        start = time.monotonic()
        for c in members:
            c.subscribe([topic])
        deadline = start + 120
        while not all(got) and time.monotonic() < deadline:
            for i, c in enumerate(members):
                m = c.poll(0.01)
                if m is not None and m.error() is None:
                    got[i] = True
        if not all(got):
            raise RuntimeError(f"{protocol}: the group did not start within 120 s: {got} "
                               f"{[c.assignment() for c in members]}")
        return time.monotonic() - start
    finally:
        for c in members:
            c.close()


def share_run(bootstrap: str, consumers: int, records: int) -> float:
    """Records per second through a share group of ``consumers`` members."""
    topic, group = f"bench-{uuid.uuid4().hex[:8]}", f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for _ in range(records):
        producer.produce(topic, value=b"x" * 100)
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("produce did not finish")
    seen: set[int] = set()
    deliveries = [0] * consumers
    lock = threading.Lock()
    done = threading.Event()

    def consume(i: int) -> None:
        c = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group})
        c.subscribe([topic])
        deadline = time.monotonic() + 300
        while not done.is_set() and time.monotonic() < deadline:
            offsets = [m.offset() for m in c.poll(0.2) or [] if m.error() is None]
            with lock:
                deliveries[i] += len(offsets)
                seen.update(offsets)
                if len(seen) >= records:
                    done.set()
        # Acknowledge the last poll's records before leaving: a member's unacknowledged
        # records are released when its share session closes, and delivered again.
        c.commit_sync()
        c.close()

    start = time.monotonic()
    threads = [threading.Thread(target=consume, args=(i,)) for i in range(consumers)]
    for t in threads:
        t.start()
    done.wait(300)
    elapsed = time.monotonic() - start
    for t in threads:
        t.join()
    if len(seen) < records:
        raise RuntimeError(f"only {len(seen)} of {records} records delivered")
    if sum(deliveries) != len(seen):
        raise RuntimeError(f"{sum(deliveries) - len(seen)} records delivered twice")
    return records / elapsed


Start = Callable[..., contextlib.AbstractContextManager[str]]


@contextlib.contextmanager
def kafkapy_broker(config: dict[str, str], full_jit: bool = False) -> Iterator[str]:
    with Broker(config) as broker:
        yield broker.bootstrap_servers


def brokers(reference: str | None) -> list[tuple[str, Start]]:
    """kafkapy, and Apache Kafka ``reference`` (a version) unless None."""
    if reference is None:
        return [("kafkapy", kafkapy_broker)]

    @contextlib.contextmanager
    def reference_broker(config: dict[str, str], full_jit: bool = False) -> Iterator[str]:
        with start_reference(version=reference, overrides=config, full_jit=full_jit) as broker:
            yield broker.bootstrap

    return [("kafkapy", kafkapy_broker), (f"Kafka {reference.rsplit('.', 1)[0]}", reference_broker)]


def startup_table(brokers: list[tuple[str, Start]], runs: int) -> None:
    print("New 2-member group, first subscribe -> both members fetched a record (confluent-kafka defaults)")
    for label, config, protocol in SETUPS:
        for name, start in brokers:
            with start(config) as bootstrap:
                times = [one_run(bootstrap, protocol) for _ in range(runs)]
            print(f"{name:<9} {label:<58} median {statistics.median(times):6.2f} s   "
                  f"min {min(times):6.2f} s   max {max(times):6.2f} s   ({runs} runs)", flush=True)


def share_table(brokers: list[tuple[str, Start]], records: int) -> None:
    print(f"Share group on one partition, {records} records of 100 B, librdkafka share consumers (records/s)")
    results: dict[str, list[float]] = {}
    for name, start in brokers:
        with start({}, full_jit=True) as bootstrap:
            results[name] = [share_run(bootstrap, n, records) for n in SHARE_GROUP_SIZES]
    print(f"{'consumers':>9}  " + "  ".join(f"{name:>12}" for name, _ in brokers))
    for i, n in enumerate(SHARE_GROUP_SIZES):
        print(f"{n:>9}  " + "  ".join(f"{results[name][i]:>12,.0f}" for name, _ in brokers), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each group-startup setup")
    parser.add_argument("--records", type=int, default=20_000, help="records through each share group")
    parser.add_argument("--only", choices=("startup", "share"), help="one of the two measurements")
    parser.add_argument("--reference", action="store_true",
                        help=f"also measure Apache Kafka ({KAFKA_VERSION}; {SHARE_REFERENCE_VERSION} for share groups)")
    args = parser.parse_args()
    if args.only != "share":
        startup_table(brokers(KAFKA_VERSION if args.reference else None), args.runs)
    if args.only != "startup":
        share_table(brokers(SHARE_REFERENCE_VERSION if args.reference else None), args.records)


if __name__ == "__main__":
    main()
