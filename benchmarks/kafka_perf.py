"""kafkapy against Apache Kafka 4.1 with Kafka's own perf tools, same machine, same run.

``kafka-producer-perf-test`` (ProducerPerformance) and ``kafka-consumer-perf-test``
(ConsumerPerformance) from the reference jars of compat_tests (``bash
compat_tests/install.sh`` fetches them) run against each broker in turn, both writing to
disk: ``kafkapy serve`` and Kafka in KRaft combined mode. The Java client is the same
for both, so the ratios are the brokers' (on a small machine the client shares the
CPUs with the broker, which favours the broker that needs less of them). Producer: acks=all, linger.ms=5, one
partition, 100 B records (and 1 KB), no throttle; consumer: the topic from the start.

Kafka runs with its JVM's full JIT, as in production. Latencies are those of an
unthrottled producer, so they measure its queue more than the broker.

Run: .venv/bin/python benchmarks/kafka_perf.py [--records 2000000]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # compat_tests, next to benchmarks/

from compat_tests.brokers import start_command, start_reference, tool_command  # noqa: E402

PRODUCED = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                      r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th")


def tool(main_class: str, *args: str) -> str:
    done = subprocess.run(tool_command(main_class, *args, jvm_options=("-Xmx1g",)),
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{main_class} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def measure(bootstrap: str, records: int, size: int) -> dict[str, float]:
    topic = f"perf-{size}"
    tool("TopicCommand", "--bootstrap-server", bootstrap, "--create", "--topic", topic, "--partitions", "1")
    out = tool("ProducerPerformance", "--topic", topic, "--num-records", str(records), "--record-size", str(size),
               "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all", "linger.ms=5")
    last = PRODUCED.findall(out)[-1]
    consumed = tool("ConsumerPerformance", "--bootstrap-server", bootstrap, "--topic", topic,
                    "--messages", str(records)).strip().splitlines()[-1].split(", ")
    return {"produce records/s": float(last[1]), "produce MB/s": float(last[2]),
            "produce latency p50 (ms)": float(last[5]), "produce latency p99 (ms)": float(last[7]),
            "consume records/s": float(consumed[5]), "consume MB/s": float(consumed[3])}


@contextlib.contextmanager
def kafkapy() -> Iterator[str]:
    data = tempfile.mkdtemp(prefix="kafkapy-perf-")
    command = ("{python} -m kafkapy serve --log-level WARNING"
               " --override listeners=PLAINTEXT://127.0.0.1:{port}"
               f" --override log.dirs={data}")
    with start_command(command) as broker:
        yield broker.bootstrap


@contextlib.contextmanager
def kafka() -> Iterator[str]:
    with start_reference(full_jit=True) as broker:
        yield broker.bootstrap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2_000_000, help="records of 100 B (a tenth as many of 1 KB)")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for name, start in (("kafkapy", kafkapy), ("Kafka 4.1", kafka)):
        with start() as bootstrap:
            for size, records in ((100, args.records), (1024, args.records // 10)):
                for key, value in measure(bootstrap, records, size).items():
                    results.setdefault(f"{size:>5} B {key}", {})[name] = value
    print(f"{'':34}{'kafkapy':>12}{'Kafka 4.1':>12}{'ratio':>8}")
    for row, values in results.items():
        ours, theirs = values["kafkapy"], values["Kafka 4.1"]
        print(f"{row:34}{ours:12.1f}{theirs:12.1f}{ours / theirs if theirs else float('nan'):8.2f}")


if __name__ == "__main__":
    main()
