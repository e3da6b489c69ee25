"""Apache Kafka's own command-line tools against a kafkapy broker.

What people script around Kafka in CI, run from the reference Kafka 4.4.0 jars as
``bin/kafka-*.sh`` would run them: ``kafka-topics`` (create, alter, describe, list,
delete), ``kafka-configs`` (alter and describe a topic, describe a broker),
``kafka-console-producer`` and ``kafka-console-consumer`` with keys and a group,
``kafka-consumer-groups`` (list, describe with lag, reset offsets),
``kafka-get-offsets``, ``kafka-delete-records``, ``kafka-transactions`` and
``kafka-log-dirs``. Each tool must exit 0 and print what Kafka would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from kafkapy.testing import Broker
from tests.reference import kafka_tool, needs_reference

pytestmark = needs_reference

TOPIC = "cli-topic"
GROUP = "cli-group"


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    with Broker({"group.initial.rebalance.delay.ms": "0"}) as broker:
        yield broker.bootstrap_servers


def test_topics_configs_console_clients_and_groups(bootstrap: str, tmp_path) -> None:
    b = ["--bootstrap-server", bootstrap]
    assert f"Created topic {TOPIC}." in kafka_tool("TopicCommand", *b, "--create", "--topic", TOPIC,
                                                   "--partitions", "3")
    kafka_tool("TopicCommand", *b, "--alter", "--topic", TOPIC, "--partitions", "4")
    described = kafka_tool("TopicCommand", *b, "--describe", "--topic", TOPIC)
    assert re.search(rf"Topic: {TOPIC}\s+TopicId: \S+\s+PartitionCount: 4\s+ReplicationFactor: 1", described)
    assert len(re.findall(r"Partition: \d\s+Leader: 1\s+Replicas: 1\s+Isr: 1", described)) == 4, described

    kafka_tool("ConfigCommand", *b, "--alter", "--entity-type", "topics", "--entity-name", TOPIC,
               "--add-config", "retention.ms=3600000,max.message.bytes=500000")
    configs = kafka_tool("ConfigCommand", *b, "--describe", "--entity-type", "topics",
                         "--entity-name", TOPIC)
    assert "retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000" in configs
    assert "max.message.bytes=500000" in configs, configs
    broker_configs = kafka_tool("ConfigCommand", *b, "--describe", "--entity-type", "brokers",
                                "--entity-name", "1", "--all")
    assert "log.retention.hours=168 sensitive=false" in broker_configs, broker_configs

    kafka_tool("ConsoleProducer", *b, "--topic", TOPIC, "--property", "parse.key=true",
               "--property", "key.separator=:", stdin="k1:one\nk2:two\nk3:three\n")
    consumed = kafka_tool("consumer.ConsoleConsumer", *b, "--topic", TOPIC, "--from-beginning",
                          "--max-messages", "3", "--group", GROUP, "--property", "print.key=true")
    assert sorted(line for line in consumed.splitlines() if "\t" in line) == ["k1\tone", "k2\ttwo", "k3\tthree"]

    assert GROUP in kafka_tool("consumer.group.ConsumerGroupCommand", *b, "--list").split()
    lag = kafka_tool("consumer.group.ConsumerGroupCommand", *b, "--describe", "--group", GROUP)
    rows = [line.split() for line in lag.splitlines() if line.startswith(GROUP)]
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...: everything read, no lag
    assert sum(int(r[3]) for r in rows) == 3 and {r[5] for r in rows} == {"0"}, lag
    reset = kafka_tool("consumer.group.ConsumerGroupCommand", *b, "--reset-offsets", "--group", GROUP,
                       "--topic", TOPIC, "--to-earliest", "--execute")
    assert {line.split()[-1] for line in reset.splitlines() if line.startswith(GROUP)} == {"0"}, reset

    ends = dict(line.rsplit(":", 1) for line in kafka_tool("GetOffsetShell", *b, "--topic", TOPIC).split())
    assert sum(map(int, ends.values())) == 3 and len(ends) == 4, ends
    partition = next(int(tp.split(":")[1]) for tp, end in ends.items() if int(end) > 0)
    offsets = tmp_path / "delete.json"
    offsets.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": TOPIC, "partition": partition, "offset": 1}]}))
    deleted = kafka_tool("DeleteRecordsCommand", *b, "--offset-json-file", str(offsets))
    assert f"partition: {TOPIC}-{partition}\tlow_watermark: 1" in deleted, deleted

    log_dirs = kafka_tool("LogDirsCommand", *b, "--describe", "--topic-list", TOPIC)
    report = json.loads(log_dirs.splitlines()[-1])
    [broker] = report["brokers"]
    assert broker["broker"] == 1
    assert sorted(p["partition"] for d in broker["logDirs"] for p in d["partitions"]) == \
        [f"{TOPIC}-{i}" for i in range(4)]

    kafka_tool("TopicCommand", *b, "--delete", "--topic", TOPIC)
    assert TOPIC not in kafka_tool("TopicCommand", *b, "--list").split()


def test_transactions_tool(bootstrap: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "cli-txn"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce("cli-txn-topic", b"v")
    producer.commit_transaction(30)
    b = ["--bootstrap-server", bootstrap]
    listed = kafka_tool("TransactionsCommand", *b, "list")
    assert re.search(r"^cli-txn\s+1\s+\d+\s+CompleteCommit\s*$", listed, re.MULTILINE), listed
    described = kafka_tool("TransactionsCommand", *b, "describe", "--transactional-id", "cli-txn")
    assert re.search(r"\bCompleteCommit\b", described), described
