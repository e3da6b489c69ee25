"""Replication: acks=all with replication factor 3 on 3 local nodes, kafkapy against Apache Kafka 4.1, same run.

Both clusters are three combined broker+controller nodes on this machine, on disk, with
the same session, ISR and election settings (``compat_tests.jepsen.SHARED_SETTINGS``:
broker.session.timeout.ms=3000, broker.heartbeat.interval.ms=300,
replica.lag.time.max.ms=5000, Kafka's quorum election and fetch timeouts): kafkapy's
:class:`kafkapy.testing.Cluster` and :class:`compat_tests.reference_cluster.ReferenceCluster`
from the reference jars of ``compat_tests/install.sh``, whose JVMs run with their full
JIT, as ``benchmarks/kafka_perf.py`` runs Kafka. The topics have one partition,
replication factor 3 and ``min.insync.replicas=2``. The client is confluent-kafka for
both, idempotent (``enable.idempotence``, acks=all). For each cluster:

* throughput: one producer (linger.ms=5) writes ``--records`` x 100 B and a fiftieth as
  many x 10 KB records, timed from the first produce to the last acknowledgement (the
  producer connected first), the median of ``--repeat`` runs;
* latency: p50/p99 from produce to its acks=all acknowledgement, one record in flight,
  ``--samples`` records of 100 B and of 10 KB;
* failover: a producer writes a record every 5 ms; the partition's leader is SIGKILLed,
  and the figure is the time from the kill to the acknowledgement of the first record
  produced after it (only the successor can have taken it); the node is restarted and
  the ISR made whole before the next of ``--failovers`` kills (the median is shown);
* lost: after each measurement every acknowledged record is read back (read_committed)
  and compared with what was acknowledged at its offset; any difference is a lost
  record (the count must be 0).

The producers run in a child process: the cluster's forwarders (which let the Jepsen
checker cut a node off) pump the replication traffic in a thread of the benchmark's
process, for both clusters alike. On a 2-core machine the client, the forwarders and all
three nodes share the CPUs, which favours the cluster that needs less of them. Both
clusters are warmed up by one run of each throughput case before anything is measured
(Kafka's JIT needs it).

Usage: ``python benchmarks/replication.py [--records 100000] [--repeat 3] [--samples 100]
[--failovers 3] [--only kafkapy|kafka]``.
Prints one table with the kafkapy/Kafka ratios (for throughput >1 means kafkapy is
faster, for latencies and failover times <1 means kafkapy is faster).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import multiprocessing
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # compat_tests, next to benchmarks/

from compat_tests.jepsen import SHARED_SETTINGS, TOPIC_SETTINGS, wait_healthy  # noqa: E402
from compat_tests.reference_cluster import FaultCluster, ReferenceCluster  # noqa: E402

PRODUCER = {"acks": "all", "enable.idempotence": True, "linger.ms": 5,
            "queue.buffering.max.messages": 1_000_000, "queue.buffering.max.kbytes": 2_000_000,
            "batch.size": 1_000_000, "message.max.bytes": 1_000_000}


def value(i: int, size: int) -> bytes:
    """Record ``i`` of a run: ``size`` bytes that name its sequence number."""
    head = f"{i:012d}".encode()
    return head + b"." * (size - len(head))


def _index(v: bytes) -> int:
    return int(v[:12])


# --- the client side, in its own process ---------------------------------------------------
# The cluster's forwarders pump the replication traffic in a thread of this process; a
# client busy in the same interpreter would slow them down (one GIL), so the producers
# run in a child process (spawned: it shares nothing with this one).


def produce_all(bootstrap: str, topic: str, count: int, size: int) -> tuple[float, dict[int, int]]:
    """Seconds to produce ``count`` records of ``size`` bytes until all are acknowledged,
    and the acknowledged offsets (offset -> record number)."""
    acked: dict[int, int] = {}
    failed: list[KafkaError] = []

    def report(err: KafkaError | None, msg: Message) -> None:
        if err is None:
            acked[msg.offset()] = _index(msg.value())
        else:
            failed.append(err)

    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER})
    records = [value(i, size) for i in range(count)]
    # connected, with the partition's leader known, before the clock starts
    producer.produce(topic, value(count, size), partition=0, on_delivery=report)
    producer.flush(60)
    start = time.perf_counter()
    for record in records:
        while True:
            try:
                producer.produce(topic, record, partition=0, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.001)
        producer.poll(0)
    remaining = producer.flush(300)
    elapsed = time.perf_counter() - start
    if remaining or failed:
        raise RuntimeError(f"{topic}: {remaining} unanswered, {len(failed)} failed: {failed[:3]}")
    return elapsed, acked


def produce_one_by_one(bootstrap: str, topic: str, count: int, size: int) -> tuple[list[float], dict[int, int]]:
    """Seconds from each produce() to its acknowledgement, one record in flight (20 more
    first, not counted), and the acknowledged offsets."""
    acked: dict[int, int] = {}
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER, "linger.ms": 0})
    samples: list[float] = []
    for i in range(count + 20):
        done: list[bool] = []

        def report(err: KafkaError | None, msg: Message, done: list[bool] = done) -> None:
            if err is None:
                acked[msg.offset()] = _index(msg.value())
            done.append(True)

        start = time.perf_counter()
        producer.produce(topic, value(i, size), partition=0, on_delivery=report)
        while not done:
            producer.poll(0.1)  # returns at the delivery report
        samples.append(time.perf_counter() - start)
    producer.flush(10)
    return samples[20:], acked


def produce_steadily(bootstrap: str, topic: str, stop: Any, results: Any) -> None:
    """Produce a 100 B record every 5 ms until ``stop`` is set; puts on ``results`` the
    produce time of each record and its (offset, acknowledgement time) if acknowledged."""
    sent: list[float] = []
    acked: dict[int, tuple[int, float]] = {}

    def report(err: KafkaError | None, msg: Message) -> None:
        if err is None:
            acked[_index(msg.value())] = (msg.offset(), time.perf_counter())

    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER, "linger.ms": 0,
                         "message.timeout.ms": 60_000, "request.timeout.ms": 5000})
    while not stop.is_set():
        producer.produce(topic, value(len(sent), 100), partition=0, on_delivery=report)
        sent.append(time.perf_counter())
        producer.poll(0.005)
    producer.flush(60)
    results.put((sent, acked))


# --- the cluster side ----------------------------------------------------------------------


def lost(bootstrap: str, topic: str, acked: dict[int, int], size: int, timeout_s: float = 120.0) -> int:
    """Acknowledged records not at their acknowledged offset, read back read_committed."""
    if not acked:
        return 0
    last = max(acked)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-replication", "enable.auto.commit": False,
                         "isolation.level": "read_committed", "queued.min.messages": 1_000_000})
    seen: dict[int, bytes] = {}
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and last not in seen:
            for msg in consumer.consume(1000, 1.0):
                if msg.error() is None and msg.offset() in acked:
                    seen[msg.offset()] = msg.value()
    finally:
        consumer.close()
    return sum(1 for offset, i in acked.items() if seen.get(offset) != value(i, size))


def create(cluster: FaultCluster, topic: str) -> None:
    cluster.create_topics(topic, partitions=1, replication_factor=3, config=TOPIC_SETTINGS)
    if not wait_healthy(cluster, topic, 1):
        raise RuntimeError(f"{topic}: no leader with a whole ISR")


def failover(cluster: FaultCluster, topic: str, kills: int, context: Any) -> tuple[list[float], dict[int, int]]:
    """Seconds from each SIGKILL of the leader to the acknowledgement of the first record
    produced after it, records produced every 5 ms throughout by a child process; and the
    acknowledged offsets."""
    create(cluster, topic)
    stop, results = context.Event(), context.Queue()
    writer = context.Process(target=produce_steadily, args=(cluster.bootstrap_servers, topic, stop, results))
    writer.start()
    killed_at: list[float] = []
    try:
        for _ in range(kills):
            time.sleep(3)
            leader = cluster.leader_of(topic, 0)
            killed_at.append(time.perf_counter())  # CLOCK_MONOTONIC: the child's clock too
            cluster.kill_node(leader)
            deadline = time.monotonic() + 60
            while cluster.leader_of(topic, 0) in (leader, -1) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2)  # load on the new leader
            cluster.restart_node(leader)
            if not wait_healthy(cluster, topic, 1):
                raise RuntimeError(f"{topic}: the ISR was not whole again after restarting node {leader}")
    finally:
        stop.set()
        sent, acked = results.get(timeout=120)
        writer.join(30)
    times = []
    for t in killed_at:
        after = (acked[i][1] for i, at in enumerate(sent) if at > t and i in acked)
        first = min(after, default=None)
        if first is not None:
            times.append(first - t)
    return times, {offset: i for i, (offset, _) in acked.items()}


def measure(cluster: FaultCluster, records: int, repeat: int, samples: int, kills: int) -> dict[str, float]:
    out: dict[str, float] = {}
    bootstrap = cluster.bootstrap_servers
    context = multiprocessing.get_context("spawn")
    cases = (("100 B", records, 100), ("10 KB", records // 50, 10_240))
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as client:
        for label, count, size in cases:  # the JIT, caches, connections
            topic = f"warm-up-{label.replace(' ', '')}"
            create(cluster, topic)
            client.submit(produce_all, bootstrap, topic, count, size).result()
        for label, count, size in cases:
            runs, lost_records = [], 0
            for attempt in range(repeat):
                topic = f"bench-{label.replace(' ', '')}-{attempt}"
                create(cluster, topic)
                seconds, acked = client.submit(produce_all, bootstrap, topic, count, size).result()
                runs.append(seconds)
                lost_records += lost(bootstrap, topic, acked, size)
            seconds = statistics.median(runs)
            out[f"{label} acks=all (msg/s)"] = count / seconds
            out[f"{label} acks=all (MB/s)"] = count * size / seconds / 1e6
            out[f"{label} acks=all lost"] = lost_records
            topic = f"bench-{label.replace(' ', '')}"
            create(cluster, f"{topic}-latency")
            latencies, acked = client.submit(produce_one_by_one, bootstrap, f"{topic}-latency", samples, size).result()
            ordered = sorted(latencies)
            out[f"{label} ack latency p50 (ms)"] = ordered[len(ordered) // 2] * 1000
            out[f"{label} ack latency p99 (ms)"] = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
            out[f"{label} ack latency lost"] = lost(bootstrap, f"{topic}-latency", acked, size)
    times, acked = failover(cluster, "bench-failover", kills, context)
    out["failover, SIGKILL to first ack (s), median"] = statistics.median(times) if times else float("nan")
    out["failover max (s)"] = max(times) if times else float("nan")
    out["failover acknowledged"] = len(acked)
    out["failover lost"] = lost(bootstrap, "bench-failover", acked, 100)
    return out


@contextlib.contextmanager
def kafkapy() -> Iterator[FaultCluster]:
    from kafkapy.testing import Cluster

    with Cluster(3, SHARED_SETTINGS, timeout_s=120) as cluster:
        yield cluster


@contextlib.contextmanager
def kafka() -> Iterator[FaultCluster]:
    with ReferenceCluster(3, SHARED_SETTINGS, full_jit=True, heap="1g") as cluster:
        yield cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="records of 100 B (a fiftieth as many of 10 KB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each throughput case (the median is shown)")
    parser.add_argument("--samples", type=int, default=100, help="records for each latency figure")
    parser.add_argument("--failovers", type=int, default=3, help="leader kills (the median is shown)")
    parser.add_argument("--only", choices=["kafkapy", "kafka"])
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for name, start in (("kafkapy", kafkapy), ("Kafka 4.1", kafka)):
        if args.only in (None, name.split()[0].lower()):
            with start() as cluster:
                results[name] = measure(cluster, args.records, args.repeat, args.samples, args.failovers)
    names = list(results)
    rows = list(next(iter(results.values())))
    width = max(map(len, rows)) + 2
    print("".ljust(width) + "".join(n.rjust(12) for n in names) + ("ratio".rjust(8) if len(names) == 2 else ""))
    for row in rows:
        values = [results[n][row] for n in names]
        counted = row.endswith(("lost", "acknowledged"))
        line = row.ljust(width) + "".join(f"{v:12.0f}" if counted else f"{v:12.1f}" for v in values)
        if len(names) == 2 and not counted and values[1]:
            line += f"{values[0] / values[1]:8.2f}"
        print(line)


if __name__ == "__main__":
    main()
