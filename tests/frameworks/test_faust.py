"""Faust (faust-streaming) against the plugin's broker: an agent counting into a Table,
run as a worker process, stopped, and restarted with its table recovered.

The app is tests/frameworks/faust_counter.py, started as Faust's own worker
(``python faust_counter.py worker``) in a process of its own, as it is deployed.
What it relies on: consumer groups (its agent's and the table's partition
assignment), offset commits, a changelog topic it creates compacted. A restart proves
two things at once: the consumer resumes after its committed offset (no view counted
twice) and the in-memory table is rebuilt from its changelog topic (counts continue,
they are not reset). The same scenario runs on Apache Kafka where it is installed
(compat_tests/install.sh), so a difference is kafkapy's, not Faust's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from kafkapy.testing import Broker
from tests.reference import needs_reference

_APP = Path(__file__).with_name("faust_counter.py")
#: Bound on a worker's processing of what the test produced (start-up and recovery included).
_PROCESS_S = 90
_STOP_S = 30


@contextmanager
def _worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Faust worker process; stopped with SIGTERM (Faust's graceful shutdown, which
    commits and leaves the group), killed if it does not exit in ``_STOP_S``."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, str(_APP), "worker", "--loglevel", "info"],
                                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                cwd=str(log.parent))
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(_STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for(what: str, done: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _PROCESS_S
    while not done():
        assert proc.poll() is None, f"the Faust worker exited ({proc.returncode}):\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {_PROCESS_S} s:\n{log.read_text()[-4000:]}"
        time.sleep(0.2)


def _ready_count(log: Path) -> int:
    """How many times a worker logged that it is ready: recovered, and its stream
    partitions moved to their committed offsets.

    Records are produced only after that: a faust-streaming 0.15.3 worker that finds
    records waiting while it recovers may count some twice (its stream is fetched
    before it seeks to the committed offset) or stall; with records produced before
    the worker started, 3 runs of 8 failed so on Apache Kafka 4.1.2, as on kafkapy.
    That would make this test about Faust's start-up, not the broker.
    """
    return log.read_text(errors="replace").count("[^Worker]: Ready")


def _produce(bootstrap: str, topic: str, pages: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i, page in enumerate(pages):
        producer.produce(topic, key=page.encode(), value=f"user-{i}".encode())
    assert producer.flush(30) == 0


def _read(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Every record of partition 0 of ``topic`` (key, value), read with a consumer."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-reader", "enable.auto.commit": False})
    try:
        try:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        except Exception:  # noqa: BLE001 - the topic does not exist yet
            return []
        consumer.assign([TopicPartition(topic, 0, 0)])
        out: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + 30
        while len(out) < high and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                out.append((msg.key(), msg.value()))
        assert len(out) == high, f"read {len(out)} of {high} records of {topic}"
        return out
    finally:
        consumer.close()


def _counts(bootstrap: str, topic: str) -> tuple[int, dict[str, int]]:
    """How many counts the agent published, and the last one per page."""
    records = _read(bootstrap, topic)
    return len(records), {k.decode(): int(v) for k, v in records}


def _topic_config(bootstrap: str, topic: str, name: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return admin.describe_configs([resource])[resource].result(30)[name].value


def _committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        consumer.close()


def _count_stop_restart(bootstrap: str, tmp_path: Path) -> None:
    app_id, views, counts = "pageviews", "page-views", "page-view-counts"
    env = {"KAFKAPY_BOOTSTRAP": bootstrap, "FAUST_APP_ID": app_id, "FAUST_DATADIR": str(tmp_path / "faust-data"),
           "FAUST_VIEWS_TOPIC": views, "FAUST_COUNTS_TOPIC": counts}
    log = tmp_path / "worker.log"
    changelog = f"{app_id}-views_per_page-changelog"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(views, 1, 1), NewTopic(counts, 1, 1)]).values():
        future.result(30)

    with _worker(env, log) as proc:
        _wait_for("the worker ready", lambda: _ready_count(log) == 1, proc, log)
        _produce(bootstrap, views, ["home", "docs", "home", "home", "docs"])
        _wait_for("the first 5 views counted", lambda: _counts(bootstrap, counts)[0] >= 5, proc, log)
    assert proc.returncode == 0, log.read_text()[-4000:]  # a graceful stop
    assert _counts(bootstrap, counts) == (5, {"home": 3, "docs": 2})
    # the table's changes are in its changelog topic (JSON keys and values), which Faust
    # created compacted, as Kafka Streams creates its changelogs
    assert {json.loads(k): json.loads(v) for k, v in _read(bootstrap, changelog)} == {"home": 3, "docs": 2}
    assert _topic_config(bootstrap, changelog, "cleanup.policy") == "compact"
    assert _committed(bootstrap, app_id, views) == 5

    # the restarted worker recovers the table from the changelog and goes on from the
    # committed offset
    with _worker(env, log) as proc:
        _wait_for("the worker ready again", lambda: _ready_count(log) == 2, proc, log)
        _produce(bootstrap, views, ["home", "blog", "docs", "home"])
        _wait_for("the next 4 views counted", lambda: _counts(bootstrap, counts)[0] >= 9, proc, log)
        time.sleep(1)  # a view counted twice would show as a tenth count
    assert proc.returncode == 0, log.read_text()[-4000:]
    assert _counts(bootstrap, counts) == (9, {"home": 5, "docs": 3, "blog": 1}), log.read_text()[-6000:]
    assert _committed(bootstrap, app_id, views) == 9


def test_faust_table_counts_and_recovers_from_changelog(kafka_broker: Broker, tmp_path: Path) -> None:
    _count_stop_restart(kafka_broker.bootstrap_servers, tmp_path)


@needs_reference
def test_faust_table_counts_and_recovers_on_apache_kafka(tmp_path: Path) -> None:
    from compat_tests.brokers import start_reference

    with start_reference() as reference:
        _count_stop_restart(f"127.0.0.1:{reference.port}", tmp_path)
