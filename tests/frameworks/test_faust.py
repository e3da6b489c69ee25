"""Faust (faust-streaming) against the plugin's broker: an agent counting into a Table,
run as a worker process, stopped, and restarted with its table recovered.

The app is tests/frameworks/faust_counter.py, started as Faust's own worker
(``python faust_counter.py worker``) in a process of its own, as it is deployed.
What it relies on: consumer groups (its agent's and the table's partition
assignment), offset commits, a changelog topic it creates, transactions not used.
A restart proves two things at once: the consumer resumes after its committed offset
(no view counted twice) and the in-memory table is rebuilt from its changelog topic
(counts continue, they are not reset).
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

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from kafkapy.testing import Broker

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


def _produce(bootstrap: str, topic: str, pages: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i, page in enumerate(pages):
        producer.produce(topic, key=page.encode(), value=f"user-{i}".encode())
    assert producer.flush(30) == 0


def _topic_config(bootstrap: str, topic: str, name: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_configs([resource])[resource].result(30)
    return described[name].value


def _latest_counts(broker: Broker, topic: str) -> tuple[int, dict[str, int]]:
    """How many counts the agent published, and the last one per page."""
    try:
        records = broker.records(topic)
    except ValueError:  # not created yet
        return 0, {}
    return len(records), {r.key.decode(): int(r.value) for r in records}


def test_faust_table_counts_and_recovers_from_changelog(kafka_broker: Broker, tmp_path: Path) -> None:
    app_id, views, counts = "pageviews", "page-views", "page-view-counts"
    kafka_broker.create_topics(views, counts)
    env = {"KAFKAPY_BOOTSTRAP": kafka_broker.bootstrap_servers, "FAUST_APP_ID": app_id,
           "FAUST_DATADIR": str(tmp_path / "faust-data"), "FAUST_VIEWS_TOPIC": views,
           "FAUST_COUNTS_TOPIC": counts}
    log = tmp_path / "worker.log"
    changelog = f"{app_id}-views_per_page-changelog"

    _produce(kafka_broker.bootstrap_servers, views, ["home", "docs", "home", "home", "docs"])
    with _worker(env, log) as proc:
        _wait_for("the first 5 views counted", lambda: _latest_counts(kafka_broker, counts)[0] >= 5, proc, log)
    assert proc.returncode == 0, log.read_text()[-4000:]  # a graceful stop
    assert _latest_counts(kafka_broker, counts) == (5, {"home": 3, "docs": 2})
    # the table's changes are in its changelog topic (JSON keys and values), which Faust
    # created compacted, as Kafka Streams creates its changelogs
    assert {json.loads(r.key): json.loads(r.value) for r in kafka_broker.records(changelog)} == \
        {"home": 3, "docs": 2}
    assert _topic_config(kafka_broker.bootstrap_servers, changelog, "cleanup.policy") == "compact"
    assert kafka_broker.committed_offsets(app_id)[(views, 0)] == 5

    # while the worker is down, more views; the restarted worker recovers the table
    # from the changelog and goes on from the committed offset
    _produce(kafka_broker.bootstrap_servers, views, ["home", "blog", "docs", "home"])
    with _worker(env, log) as proc:
        _wait_for("the next 4 views counted", lambda: _latest_counts(kafka_broker, counts)[0] >= 9, proc, log)
        time.sleep(1)  # a view counted twice would show as a tenth count
    assert proc.returncode == 0, log.read_text()[-4000:]
    assert _latest_counts(kafka_broker, counts) == (9, {"home": 5, "docs": 3, "blog": 1})
    assert kafka_broker.committed_offsets(app_id)[(views, 0)] == 9
