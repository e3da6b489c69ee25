"""Fixture start-up and per-test overhead of the pytest plugin.

Prints:
  - cold start: a fresh interpreter importing kafkapy.testing and starting a broker
    (imports included), and the start alone after the imports;
  - warm start/stop of an in-process broker (median of many);
  - per-test wall time of generated suites run by pytest in a subprocess, one broker
    per test (``kafka_broker``, function scope), everything included (interpreter,
    pytest, imports, broker start and stop, clients):
      * ``fixture only``: the test just takes the fixture;
      * ``produce+consume``: each test creates a topic, produces one message with
        confluent-kafka and consumes it through a new consumer group (subscribe,
        commit) — or, on a broker without a group coordinator, with assign() and no
        group (printed as such); once with librdkafka's defaults, once with its
        connection backoff lowered and the start offset set on assignment (librdkafka
        spends ~150 ms of fixed client-side waits per test with its defaults).

Run: .venv/bin/python benchmarks/fixtures.py [--tests 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

_COLD = """
import time
t0 = time.perf_counter()
from kafkapy.testing import Broker
b = Broker()
t1 = time.perf_counter()
b.start()
t2 = time.perf_counter()
b.stop()
print((t2 - t0) * 1000, (t2 - t1) * 1000)
"""

_FIXTURE_ONLY = """
def test_{i}(kafka_broker):
    assert kafka_broker.bootstrap_servers
"""

_HEADER = """
from confluent_kafka import Consumer, Producer, TopicPartition

GROUPS = {groups}
TUNED = {tuned}
#: librdkafka waits out reconnect.backoff.ms (100 ms) between its first connections;
#: a new group with auto.offset.reset waits a fixed 100 ms before its first
#: ListOffsets. A tuned test lowers the first and starts the assigned partitions at a
#: known offset instead of resetting.
CLIENT = {{"reconnect.backoff.ms": 10}} if TUNED else {{}}


def start_at_zero(consumer, partitions):
    consumer.assign([TopicPartition(p.topic, p.partition, 0) for p in partitions])


def roundtrip(broker, topic, group):
    broker.create_topics(topic)
    p = Producer({{"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 0, **CLIENT}})
    p.produce(topic, b"payload")
    assert p.flush(30) == 0
    c = Consumer({{"bootstrap.servers": broker.bootstrap_servers, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "group.id": group, **CLIENT}})
    try:
        if GROUPS:
            c.subscribe([topic], **({{"on_assign": start_at_zero}} if TUNED else {{}}))
        else:
            c.assign([TopicPartition(topic, 0, 0)])
        while True:
            m = c.poll(0.05)
            if m is not None and m.error() is None:
                break
        assert m.value() == b"payload"
        if GROUPS:
            c.commit(message=m, asynchronous=False)
    finally:
        c.close()
"""

_ROUNDTRIP = """
def test_{i}(kafka_broker):
    roundtrip(kafka_broker, "t{i}", "g{i}")
"""


def cold_start(runs: int) -> tuple[list[float], list[float]]:
    totals, starts = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _COLD], capture_output=True, text=True, check=True)
        total, start = map(float, out.stdout.split())
        totals.append(total)
        starts.append(start)
    return totals, starts


def warm_start(runs: int) -> tuple[list[float], list[float]]:
    from kafkapy.testing import Broker

    Broker().start().stop()  # imports
    starts, stops = [], []
    for _ in range(runs):
        b = Broker()
        t0 = time.perf_counter()
        b.start()
        t1 = time.perf_counter()
        b.stop()
        t2 = time.perf_counter()
        starts.append((t1 - t0) * 1000)
        stops.append((t2 - t1) * 1000)
    return starts, stops


def run_suite(body: str, tests: int, header: str = "") -> float:
    """Wall ms per test of a generated suite run by pytest in a subprocess."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "test_generated.py"), "w") as f:
            f.write(header)
            f.writelines(textwrap.dedent(body).format(i=i) for i in range(tests))
        with open(os.path.join(d, "pytest.ini"), "w") as f:
            f.write("[pytest]\n")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", d],
                             capture_output=True, text=True, cwd=d, check=False)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            print(out.stdout[-3000:], out.stderr[-3000:])
            raise SystemExit("the generated suite failed")
    return wall * 1000 / tests


def has_group_coordinator() -> bool:
    from kafkapy.broker.registry import load_handlers
    from kafkapy.wire.apis import ApiKey

    return ApiKey.JOIN_GROUP in load_handlers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=200)
    args = parser.parse_args()

    totals, starts = cold_start(5)
    print(f"cold start, fresh interpreter: import+start {statistics.median(totals):.1f} ms median, "
          f"start after imports {statistics.median(starts):.1f} ms median (5 runs)")
    w_starts, w_stops = warm_start(50)
    print(f"warm broker start: {statistics.median(w_starts):.2f} ms median, "
          f"{max(w_starts):.2f} ms max; stop {statistics.median(w_stops):.2f} ms median (50 runs)")

    per_test = run_suite(_FIXTURE_ONLY, args.tests)
    print(f"suite of {args.tests} tests, fixture only: {per_test:.1f} ms per test, all included")
    groups = has_group_coordinator()
    how = "a new consumer group each (subscribe, commit)" if groups else "assign() without a group"
    for tuned, client in ((False, "librdkafka defaults"),
                          (True, "reconnect.backoff.ms=10, start offset set in on_assign")):
        per_test = run_suite(_ROUNDTRIP, args.tests, _HEADER.format(groups=groups, tuned=tuned))
        print(f"suite of {args.tests} tests, one broker each, produce+consume one message through {how}, "
              f"{client}: {per_test:.1f} ms per test, all included")

if __name__ == "__main__":
    main()
