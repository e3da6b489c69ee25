"""AlterReplicaLogDirs against Apache Kafka 4.4.0: the same requests to a kafkapy node
with a data directory and to the reference, each naming its own directory, the answers
compared; and ``kafka-reassign-partitions`` with ``log_dirs`` on both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.brokers import QUICK_TOOL_JVM, DEPS, BrokerProcess, java, start_command, start_reference
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.alter_replica_log_dirs import AlterReplicaLogDirsRequest as R
from kafkapy.wire.messages.describe_log_dirs import DescribeLogDirsRequest
from tests.requests import ask

KAFKA_4_4 = "4.4.0"
LONG = "x" * 240

pytestmark = pytest.mark.skipif(
    not (DEPS / f"kafka-{KAFKA_4_4}" / "libs" / f"kafka_2.13-{KAFKA_4_4}.jar").exists() or shutil.which(java()) is None,
    reason=f"Apache Kafka {KAFKA_4_4} (compat_tests/install.sh) or java is missing")


@pytest.fixture(scope="module")
def nodes() -> Iterator[dict[str, tuple[BrokerProcess, str]]]:
    data = Path(tempfile.mkdtemp(prefix="kafkapy-log-dirs-"))
    command = ("{python} -m kafkapy serve --override listeners=PLAINTEXT://127.0.0.1:{port}"
               f" --override log.dirs={data}")
    try:
        with start_command(command, timeout=60) as kafkapy, start_reference(version=KAFKA_4_4, timeout=180) as kafka:
            out = {"kafkapy": (kafkapy, str(data)), "kafka": (kafka, str(kafka.workdir / "data"))}
            for broker, _ in out.values():
                admin = AdminClient({"bootstrap.servers": broker.bootstrap})
                for f in admin.create_topics([NewTopic("t", 1, 1), NewTopic(LONG, 1, 1)]).values():
                    f.result(60)
            yield out
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _alter(bootstrap: str, moves: list[tuple[str, str, list[int]]], version: int) -> list:
    request = R(dirs=[R.AlterReplicaLogDir(path=path, topics=[R.AlterReplicaLogDirTopic(name=topic, partitions=parts)])
                      for path, topic, parts in moves])
    answer = ask(bootstrap, request, version)
    return sorted((t.topic_name, p.partition_index, ErrorCode(p.error_code)) for t in answer.results for p in t.partitions)


@pytest.mark.parametrize("version", [1, 2])
def test_alter_replica_log_dirs_answers_as_kafka(nodes, version: int) -> None:
    def answer(who: str) -> list:
        broker, data = nodes[who]
        return _alter(broker.bootstrap, [(data, "t", [0, 7]), (data, "nope", [0]), (data, LONG, [0]),
                                         ("/no/such/dir", "t2", [0])], version)

    ours, kafkas = answer("kafkapy"), answer("kafka")
    assert ours == kafkas
    assert ours == [("nope", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), ("t", 0, ErrorCode.NONE),
                    ("t", 7, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), ("t2", 0, ErrorCode.LOG_DIR_NOT_FOUND),
                    (LONG, 0, ErrorCode.INVALID_TOPIC_EXCEPTION)]


def test_reassign_partitions_with_log_dirs(nodes, tmp_path: Path) -> None:
    def run(who: str) -> tuple[str, list]:
        broker, data = nodes[who]
        plan = tmp_path / f"{who}.json"
        plan.write_text(json.dumps({"version": 1, "partitions": [
            {"topic": "t", "partition": 0, "replicas": [1], "log_dirs": [data]}]}))
        outputs = []
        for action in ("--execute", "--verify"):
            done = subprocess.run(
                [java(), *QUICK_TOOL_JVM, "-cp", f"{DEPS / f'kafka-{KAFKA_4_4}' / 'libs'}/*",
                 "org.apache.kafka.tools.reassign.ReassignPartitionsCommand", "--bootstrap-server", broker.bootstrap,
                 "--reassignment-json-file", str(plan), action], capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            outputs.append(done.stdout.replace(data, "DIR"))
        described = ask(broker.bootstrap, DescribeLogDirsRequest(topics=None), 4)
        dirs = [(r.log_dir == data, sorted(t.name for t in r.topics if not t.name.startswith("__")))
                for r in described.results]
        return "".join(outputs), dirs

    ours, kafkas = run("kafkapy"), run("kafka")
    assert ours == kafkas
    assert "Reassignment of replica t-0-1 completed successfully." in ours[0]
