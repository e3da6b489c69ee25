"""How long a new consumer group takes to start consuming, on kafkapy and on Apache Kafka.

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

``--reference`` runs the same setups against Apache Kafka 4.1 (the compat_tests
reference broker, installed by ``compat_tests/install.sh``), one fresh broker per setup.

Run: .venv/bin/python benchmarks/groups.py [--runs 3] [--reference]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Broker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # compat_tests, next to benchmarks/
from compat_tests.brokers import start_reference  # noqa: E402

SETUPS = [
    ("classic, group.initial.rebalance.delay.ms=3000 (Kafka default)",
     {"group.initial.rebalance.delay.ms": "3000"}, "classic"),
    ("classic, group.initial.rebalance.delay.ms=0", {"group.initial.rebalance.delay.ms": "0"}, "classic"),
    ("group.protocol=consumer (KIP-848), heartbeat interval 5000 ms", {}, "consumer"),
]


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


@contextlib.contextmanager
def kafkapy_broker(config: dict[str, str]) -> Iterator[str]:
    with Broker(config) as broker:
        yield broker.bootstrap_servers


@contextlib.contextmanager
def reference_broker(config: dict[str, str]) -> Iterator[str]:
    with start_reference(overrides=config) as broker:
        yield broker.bootstrap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="also measure Apache Kafka 4.1")
    args = parser.parse_args()
    print("New 2-member group, first subscribe -> both members fetched a record (confluent-kafka defaults)")
    brokers = [("kafkapy", kafkapy_broker)] + ([("Kafka 4.1", reference_broker)] if args.reference else [])
    for label, config, protocol in SETUPS:
        for name, start in brokers:
            with start(config) as bootstrap:
                times = [one_run(bootstrap, protocol) for _ in range(args.runs)]
            print(f"{name:<9} {label:<58} median {statistics.median(times):6.2f} s   "
                  f"min {min(times):6.2f} s   max {max(times):6.2f} s   ({args.runs} runs)", flush=True)


if __name__ == "__main__":
    main()
