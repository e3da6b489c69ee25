"""ElectLeaders and partition reassignment as Apache Kafka 4.4 answers them, and Kafka's
own tools against a kafkapy node.

The same requests go to a one-node Kafka 4.4.0 (the reference of ``compat_tests``) and
to a one-node kafkapy, each with the same topics; every answer must be equal field for
field, error messages included. Then ``kafka-leader-election`` and
``kafka-reassign-partitions`` (generate, execute, verify, list, cancel) run against
kafkapy as an operator would run them.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from compat_tests.brokers import start_reference, tool_command
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.alter_partition_reassignments import AlterPartitionReassignmentsRequest as Alter
from kafkapy.wire.messages.create_topics import CreateTopicsRequest as Create
from kafkapy.wire.messages.elect_leaders import ElectLeadersRequest as Elect
from kafkapy.wire.messages.list_partition_reassignments import ListPartitionReassignmentsRequest as List
from tests.reference import kafka_tool, needs_reference

pytestmark = needs_reference


def _partition(index: int, replicas: list[int] | None) -> Any:
    return Alter.ReassignablePartition(partition_index=index, replicas=replicas)


def _topics(*pairs: tuple[str, list[int]]) -> list[Any]:
    return [Elect.TopicPartitions(topic=t, partitions=p) for t, p in pairs]


#: (request, version); node 1 is the only broker on both sides.
REQUESTS: list[tuple[Any, int]] = [
    (Elect(election_type=0, topic_partitions=_topics(("t", [0, 5]), ("nope", [0]))), 2),
    (Elect(election_type=1, topic_partitions=_topics(("t", [1]))), 1),
    (Elect(topic_partitions=_topics(("t", [1]))), 0),
    (Elect(election_type=0, topic_partitions=None), 2),
    (Elect(election_type=0, topic_partitions=[]), 2),
    (Elect(election_type=3, topic_partitions=_topics(("t", [1]))), 2),
    (Alter(topics=[Alter.ReassignableTopic(name="t", partitions=[
        _partition(0, [2]), _partition(1, None), _partition(0, [1]), _partition(7, [1]), _partition(0, []),
        _partition(0, [1, 1])])]), 1),
    (Alter(allow_replication_factor_change=False, topics=[Alter.ReassignableTopic(name="t", partitions=[
        _partition(0, [1, 1]), _partition(1, [1])])]), 1),
    (Alter(topics=[Alter.ReassignableTopic(name="nope", partitions=[_partition(0, [1])])]), 0),
    (Alter(topics=[]), 1),
    (List(topics=None), 0),
    (List(topics=[List.ListPartitionReassignmentsTopics(name="t", partition_indexes=[0, 9]),
                  List.ListPartitionReassignmentsTopics(name="nope", partition_indexes=[0])]), 0),
    (List(topics=[]), 0),
]


def _answers(bootstrap: str) -> list[str]:
    with KafkaConnection(bootstrap, timeout_s=30) as conn:
        created = conn.request(Create(topics=[
            Create.CreatableTopic(name="t", num_partitions=2, replication_factor=1),
            Create.CreatableTopic(name="u", num_partitions=1, replication_factor=3)], timeout_ms=30_000), 7)
        answers = [repr(created.topics[1])]  # RF 3 on one broker: refused, same message
        assert created.topics[0].error_code == ErrorCode.NONE, created
        time.sleep(0.5)  # Kafka's CreateTopics answer does not wait for the leaders
        answers += [repr(conn.request(body, version)) for body, version in REQUESTS]
    return answers


def test_answers_match_the_reference():
    reference = start_reference()
    try:
        expected = _answers(reference.bootstrap)
    finally:
        reference.stop()
    with Broker() as broker:
        got = _answers(broker.bootstrap_servers)
    assert len(got) == len(expected)
    for request, want, have in zip(["CreateTopics"] + [repr(r) for r, _ in REQUESTS], expected, got, strict=True):
        assert have == want, request


def _reassign(bootstrap: str, *args: str, ok: bool = True) -> str:
    done = subprocess.run(tool_command("reassign.ReassignPartitionsCommand", "--bootstrap-server", bootstrap, *args),
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_kafka_leader_election(broker):
    broker.create_topics("elect", partitions=2)
    out = kafka_tool("LeaderElectionCommand", "--bootstrap-server", broker.bootstrap_servers,
                     "--election-type", "preferred", "--topic", "elect", "--partition", "1")
    assert "Valid replica already elected for partitions elect-1" in out
    out = kafka_tool("LeaderElectionCommand", "--bootstrap-server", broker.bootstrap_servers,
                     "--election-type", "unclean", "--all-topic-partitions")
    # every partition has its leader: nothing elected, nothing failed, nothing listed
    assert "Successfully completed" not in out and "Error" not in out


def test_kafka_reassign_partitions(broker, tmp_path: Path):
    broker.create_topics("moved", partitions=2)
    bootstrap = broker.bootstrap_servers
    topics = tmp_path / "topics.json"
    topics.write_text(json.dumps({"version": 1, "topics": [{"topic": "moved"}]}))
    out = _reassign(bootstrap, "--generate", "--topics-to-move-json-file", str(topics), "--broker-list", "1")
    proposed = json.loads(out.split("Proposed partition reassignment configuration")[1].strip().splitlines()[0])
    assert sorted((p["partition"], p["replicas"]) for p in proposed["partitions"]) == [(0, [1]), (1, [1])]

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(proposed))
    assert "Successfully started partition reassignments for moved-0,moved-1" in _reassign(
        bootstrap, "--execute", "--reassignment-json-file", str(plan))
    verified = _reassign(bootstrap, "--verify", "--reassignment-json-file", str(plan))
    assert "Reassignment of partition moved-0 is completed." in verified
    assert "Reassignment of partition moved-1 is completed." in verified
    assert "No partition reassignments found." in _reassign(bootstrap, "--list")
    assert "None of the specified partition reassignments are active." in _reassign(
        bootstrap, "--cancel", "--reassignment-json-file", str(plan))

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "partitions": [{"topic": "moved", "partition": 1, "replicas": [1, 2]}]}))
    assert "Unknown broker id 2" in _reassign(bootstrap, "--execute", "--reassignment-json-file", str(bad), ok=False)
