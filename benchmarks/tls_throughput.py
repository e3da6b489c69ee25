"""What TLS costs: produce and consume MB/s over PLAINTEXT, SSL and SASL_SSL
(SCRAM-SHA-512) on the same broker, and the broker's CPU seconds per GB moved, for
kafkapy and Apache Kafka 4.1.2 in the same run.

Each broker runs as its own process, data on disk (so kafkapy's PLAINTEXT fetches go
out by sendfile and its SSL ones are read and encrypted, as Kafka's are), with a
PLAINTEXT and an SSL listener (PEM key store from ``kafkapy.testing.tls``, TLS 1.3,
OpenSSL's or the JDK's default suite). For each listener: ``--count`` records of
``--size`` bytes produced with confluent-kafka (acks=all, linger.ms=5, one partition,
uncompressed), then consumed from offset 0; the figure is the median of ``--repeat``
runs on fresh topics. Broker CPU is user + system time from ``/proc/<pid>/stat`` over
the produce and the consume, per GB of record bytes.

Usage: ``python benchmarks/tls_throughput.py [--only kafkapy|kafka] [--count 20000]
[--size 10240] [--repeat 3]``; Apache Kafka needs ``compat_tests/install.sh``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from compat_tests.brokers import BrokerProcess, free_port, start_reference  # noqa: E402
from kafkapy.config import LISTENER_CONFIG_PREFIX, BrokerConfig  # noqa: E402
from kafkapy.testing.tls import TestCertificates, client_config  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (and its reaped children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / _TICKS


USER, PASSWORD, MECHANISM = "bench", "bench-secret", "SCRAM-SHA-512"


def broker_properties(certs: TestCertificates, ports: tuple[int, int, int, int], log_dir: str) -> dict[str, str]:
    """PLAINTEXT, SSL and SASL_SSL listeners (ports in that order, then the controller's)."""
    port, ssl_port, sasl_port, controller_port = ports
    name = BrokerConfig.field_name
    return {
        name("listeners"): f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port},"
                           f"SASL_SSL://127.0.0.1:{sasl_port},CONTROLLER://127.0.0.1:{controller_port}",
        name("advertised_listeners"): f"PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port},"
                                      f"SASL_SSL://127.0.0.1:{sasl_port}",
        name("controller_quorum_voters"): f"1@127.0.0.1:{controller_port}",
        name("listener_security_protocol_map"): "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL",
        name("inter_broker_listener_name"): "PLAINTEXT",
        name("ssl_keystore_type"): "PEM",
        name("ssl_keystore_location"): certs.broker.pem,
        name("sasl_enabled_mechanisms"): MECHANISM,
        # Kafka wants a login module for the mechanism (kafkapy reads SCRAM credentials only).
        f"{LISTENER_CONFIG_PREFIX}sasl_ssl.{MECHANISM.lower()}.{name('sasl_jaas_config')}":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        name("log_dirs"): log_dir,
    }


def _ports() -> tuple[int, int, int, int]:
    return free_port(), free_port(), free_port(), free_port()


def add_scram_user(bootstrap: str) -> None:
    """The benchmark's SCRAM credential, as kafka-configs --add-config would create it."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    admin = AdminClient({"bootstrap.servers": bootstrap})
    upsert = UserScramCredentialUpsertion(USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                          PASSWORD.encode())
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(30)


def start_kafkapy(certs: TestCertificates) -> tuple[BrokerProcess, tuple[int, int, int, int]]:
    ports = _ports()
    workdir = Path(tempfile.mkdtemp(prefix="kafkapy-tls-bench-"))
    props = {**_quickstart(), **broker_properties(certs, ports, str(workdir / "data"))}
    overrides = [arg for key, value in props.items() for arg in ("--override", f"{key}={value}")]
    argv = [sys.executable, "-m", "kafkapy", "serve", "--log-level", "WARNING", *overrides]
    broker = BrokerProcess(argv, ports[0], workdir / "stdout.log", workdir,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    broker.wait_ready(60)
    return broker, ports


def _quickstart() -> dict[str, str]:
    from kafkapy.config import QUICKSTART_PROPERTIES

    return dict(QUICKSTART_PROPERTIES)


def start_kafka(certs: TestCertificates) -> tuple[BrokerProcess, tuple[int, int, int, int]]:
    ports = _ports()
    props = broker_properties(certs, ports, "")
    del props[BrokerConfig.field_name("log_dirs")]  # start_reference's own
    return start_reference(ports[0], overrides=props, full_jit=True), ports


def produce(config: dict[str, Any], topic: str, count: int, value: bytes) -> float:
    p = Producer({**config, "acks": "all", "linger.ms": 5, "batch.size": 1_000_000,
                  "queue.buffering.max.kbytes": 2_000_000, "message.max.bytes": 1_000_000})
    failures: list[Any] = []
    start = time.perf_counter()
    for _ in range(count):
        while True:
            try:
                p.produce(topic, value, on_delivery=lambda err, msg: failures.append(err) if err else None)
                break
            except BufferError:
                p.poll(0.001)
        p.poll(0)
    remaining = p.flush(120)
    elapsed = time.perf_counter() - start
    if remaining or failures:
        raise RuntimeError(f"produce failed: {remaining} unflushed, {failures[:3]}")
    return elapsed


def consume(config: dict[str, Any], topic: str, count: int) -> float:
    c = Consumer({**config, "group.id": "bench", "enable.auto.commit": False, "queued.min.messages": 1_000_000})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got, start = 0, time.perf_counter()
        deadline = start + 300
        while got < count and time.perf_counter() < deadline:
            got += sum(1 for m in c.consume(min(1000, count - got), 1.0) if m.error() is None)
        elapsed = time.perf_counter() - start
        if got < count:
            raise RuntimeError(f"consumed {got} of {count}")
        return elapsed
    finally:
        c.close()


def run(name: str, start: Callable[[TestCertificates], tuple[BrokerProcess, tuple[int, int, int, int]]],
        certs: TestCertificates, count: int, size: int, repeat: int) -> dict[str, float]:
    broker, (_, ssl_port, sasl_port, _) = start(certs)
    out: dict[str, float] = {}
    value = os.urandom(size)
    mb = count * size / 1e6
    try:
        add_scram_user(broker.bootstrap)
        sasl = {"sasl.mechanism": MECHANISM, "sasl.username": USER, "sasl.password": PASSWORD}
        for label, config in (
            ("PLAINTEXT", {"bootstrap.servers": broker.bootstrap}),
            ("SSL", client_config(f"127.0.0.1:{ssl_port}", certs.ca_file)),
            ("SASL_SSL", client_config(f"127.0.0.1:{sasl_port}", certs.ca_file, sasl=sasl)),
        ):
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            produced, consumed, cpu_p, cpu_c = [], [], [], []
            for attempt in range(repeat):
                topic = f"tls-bench-{label}-{attempt}"
                admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
                time.sleep(0.5)
                before = cpu_seconds(broker.proc.pid)
                produced.append(produce(config, topic, count, value))
                middle = cpu_seconds(broker.proc.pid)
                consumed.append(consume(config, topic, count))
                after = cpu_seconds(broker.proc.pid)
                cpu_p.append(middle - before)
                cpu_c.append(after - middle)
            out[f"produce {label} (MB/s)"] = mb / statistics.median(produced)
            out[f"consume {label} (MB/s)"] = mb / statistics.median(consumed)
            out[f"produce {label} broker CPU (s/GB)"] = statistics.median(cpu_p) / mb * 1000
            out[f"consume {label} broker CPU (s/GB)"] = statistics.median(cpu_c) / mb * 1000
    finally:
        broker.stop()
    print(f"{name}: done", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["kafkapy", "kafka"])
    parser.add_argument("--count", type=int, default=20_000, help="records per run (default 20,000)")
    parser.add_argument("--size", type=int, default=10_240, help="record size in bytes (default 10,240)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported (default 3)")
    args = parser.parse_args()
    certs = TestCertificates()
    try:
        brokers = {"kafkapy": start_kafkapy, "kafka": start_kafka}
        results = {name: run(name, start, certs, args.count, args.size, args.repeat)
                   for name, start in brokers.items() if args.only in (None, name)}
    finally:
        certs.cleanup()
    names = list(results)
    rows = list(next(iter(results.values())))
    width = max(map(len, rows)) + 2
    print(f"{args.count} x {args.size} B records, median of {args.repeat}")
    print("".ljust(width) + "".join(n.rjust(12) for n in names))
    for row in rows:
        print(row.ljust(width) + "".join(f"{results[n][row]:12.1f}" for n in names))


if __name__ == "__main__":
    main()
