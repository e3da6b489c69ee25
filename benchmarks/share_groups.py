"""Records per second through a share group (KIP-932) of 1, 2 and 4 consumers on one
partition, on kafkapy and on Apache Kafka 4.4.

A topic of one partition is filled with ``--records`` records of 100 bytes; the group is
set to ``share.auto.offset.reset=earliest``, then 1, 2 or 4 librdkafka share consumers
(confluent-kafka's ShareConsumer, implicit acknowledgement, each in its own thread)
read it until every record has been delivered (once: a record delivered twice fails
the run). Measured on the client: from the consumers' subscribe to the last record
received. Every record is acknowledged
(ACCEPT) with the next fetch, so the broker writes share-partition state as it goes.

``--reference`` runs the same against Apache Kafka 4.4 (the jars under
compat_tests/.deps/kafka-4.4.0, installed by ``compat_tests/install.sh``).

Run: .venv/bin/python benchmarks/share_groups.py [--records 20000] [--reference]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from kafkapy.testing import Broker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # compat_tests, next to benchmarks/
from compat_tests.brokers import start_reference  # noqa: E402

VERSION = "4.4.0"


def one_run(bootstrap: str, consumers: int, records: int) -> float:
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
    assert producer.flush(60) == 0
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
    assert len(seen) >= records, f"only {len(seen)} of {records} records delivered"
    assert sum(deliveries) == len(seen), f"{sum(deliveries) - len(seen)} records delivered twice"
    return records / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--reference", action="store_true", help="also run against Apache Kafka 4.4")
    args = parser.parse_args()
    brokers = ["kafkapy", "kafka 4.4"] if args.reference else ["kafkapy"]
    print(f"{'consumers':>9}  " + "  ".join(f"{b + ' rec/s':>16}" for b in brokers))
    results: dict[str, list[float]] = {}
    with Broker() as ours:
        results["kafkapy"] = [one_run(ours.bootstrap_servers, n, args.records) for n in (1, 2, 4)]
    if args.reference:
        reference = start_reference(version=VERSION, full_jit=True)
        try:
            results["kafka 4.4"] = [one_run(reference.bootstrap, n, args.records) for n in (1, 2, 4)]
        finally:
            reference.stop()
    for i, n in enumerate((1, 2, 4)):
        print(f"{n:>9}  " + "  ".join(f"{results[b][i]:>16,.0f}" for b in brokers))


if __name__ == "__main__":
    main()
