"""How long Kafka Streams 4.4 on the streams rebalance protocol (KIP-1071) takes to
rebalance, on kafkapy and on Apache Kafka 4.4.

The word count of tests/streams_groups (``StreamsGroupWordCount.java``: a repartition
topic, a changelogged store, exactly_once_v2, ``group.protocol=streams``) runs as two
instances on 3-partition topics (six tasks). Measured from the test's side, on the
instances' own reports of their active tasks:

* ``start``: from launching both JVMs until they hold the six tasks between them;
* ``leave``: from closing one instance (it leaves the group) until the other holds all six;
* ``rejoin``: from starting it again until the two share the tasks again;
* ``kill``: from SIGKILL of one instance until the other holds all six (the broker's
  ``group.streams.session.timeout.ms``, 6000 ms here, dominates).

Both brokers run with Kafka's defaults otherwise, so Kafka 4.4 also applies its
``group.streams.initial.rebalance.delay.ms`` (3000) and ``assignment.interval.ms``
(1000), which kafkapy does not implement (it assigns in the heartbeat that needs it).

Needs kafka-streams 4.4.0 in the local Maven repository (see tests/streams_groups).
Run: .venv/bin/python benchmarks/streams_groups.py [--reference]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ and compat_tests/, next to benchmarks/
from compat_tests.brokers import java, start_reference  # noqa: E402
from kafkapy.testing import Broker  # noqa: E402
from tests.streams_groups.test_streams_java import (  # noqa: E402
    ALL_TASKS,
    CLASSPATH,
    DRIVER,
    LINES,
    Instance,
    _produce,
)

VERSION = "4.4.0"
CONFIG = {"group.streams.session.timeout.ms": "6000"}


def _timed(condition, limit_s: float = 120) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit_s:
            raise TimeoutError("no rebalance within the limit")
        time.sleep(0.05)
    return time.monotonic() - start


def run(bootstrap: str, create, classes: Path, work: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    suffix = uuid.uuid4().hex[:6]
    topics, app = (f"wc-in-{suffix}", f"wc-out-{suffix}"), f"wc-app-{suffix}"
    create(topics)
    _produce(bootstrap, topics[0], LINES * 20)
    figures: dict[str, float] = {}
    start = time.monotonic()
    a = Instance(classes, bootstrap, app, work / "a", topics)
    b = Instance(classes, bootstrap, app, work / "b", topics)
    try:
        def shared() -> bool:
            return bool(a.tasks() and b.tasks() and a.tasks() | b.tasks() == ALL_TASKS)

        _timed(shared)
        figures["start"] = time.monotonic() - start
        t0 = time.monotonic()
        b.stop()
        _timed(lambda: a.tasks() == ALL_TASKS)
        figures["leave"] = time.monotonic() - t0
        t0 = time.monotonic()
        b = Instance(classes, bootstrap, app, work / "b", topics)
        _timed(shared)
        figures["rejoin"] = time.monotonic() - t0
        t0 = time.monotonic()
        b.kill()
        _timed(lambda: a.tasks() == ALL_TASKS)
        figures["kill"] = time.monotonic() - t0
    finally:
        a.stop()
        b.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="also run against Apache Kafka 4.4")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        classes = Path(tmp) / "classes"
        subprocess.run([str(Path(java()).with_name("javac")), "-cp", CLASSPATH, "-d", str(classes), str(DRIVER)],
                       check=True)
        results: dict[str, dict[str, float]] = {}
        with Broker(CONFIG) as broker:
            results["kafkapy"] = run(broker.bootstrap_servers,
                                     lambda topics: broker.create_topics(*topics, partitions=3), classes,
                                     Path(tmp) / "kafkapy")
        if args.reference:
            from confluent_kafka.admin import AdminClient, NewTopic

            # Kafka checks the session timeout against its minimum (45 s by default).
            overrides = {**CONFIG, "group.streams.min.session.timeout.ms": "6000"}
            reference = start_reference(version=VERSION, overrides=overrides)
            try:
                admin = AdminClient({"bootstrap.servers": reference.bootstrap})

                def create(topics: tuple[str, str]) -> None:
                    for f in admin.create_topics([NewTopic(t, 3, 1) for t in topics]).values():
                        f.result(60)

                results[f"kafka {VERSION}"] = run(reference.bootstrap, create, classes, Path(tmp) / "kafka")
            finally:
                reference.stop()
    print(f"{'broker':<14}" + "".join(f"{k:>10}" for k in ("start", "leave", "rejoin", "kill")) + "   (seconds)")
    for name, figures in results.items():
        print(f"{name:<14}" + "".join(f"{figures[k]:>10.2f}" for k in ("start", "leave", "rejoin", "kill")))


if __name__ == "__main__":
    main()
