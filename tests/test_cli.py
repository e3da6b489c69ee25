"""The ``kafkapy`` command line: arguments and Kafka's ``.properties`` format."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from kafkapy.cli import build_parser, parse_override, parse_properties, serve_properties
from kafkapy.node import quickstart_properties


def test_properties_separators_comments_and_continuations():
    text = (
        "# comment\n"
        "! also a comment\n"
        "a=1\n"
        "b : 2\n"
        "c 3\n"
        "  d=with spaces  kept\n"
        "e=first \\\n"
        "    second\n"
        "f=\n"
        "g\n"
    )
    assert parse_properties(text) == {
        "a": "1", "b": "2", "c": "3", "d": "with spaces  kept", "e": "first second", "f": "", "g": "",
    }


def test_properties_escapes_and_last_key_wins():
    text = "key\\ with\\:colon=tab\\there\nu=\\u00e9\nx=1\nx=2\npath=C:\\\\dir\n"
    assert parse_properties(text) == {"key with:colon": "tab\there", "u": "é", "x": "2", "path": "C:\\dir"}


def test_override_parsing():
    assert parse_override("num.partitions=3") == ("num.partitions", "3")
    assert parse_override("listeners=PLAINTEXT://h:1,X://h:2") == ("listeners", "PLAINTEXT://h:1,X://h:2")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_override("no-equals")


def test_serve_arguments(tmp_path):
    config = tmp_path / "server.properties"
    config.write_text("num.partitions=2\nnode.id=7\n")
    args = build_parser().parse_args(["serve", "--memory", "--config", str(config),
                                      "--override", "num.partitions=5"])
    assert args.memory
    props = serve_properties(args.config, args.override)
    assert props == {"num.partitions": "5", "node.id": "7"}  # overrides win over the file


def test_quickstart_defaults_and_listener_override():
    props = quickstart_properties({})
    assert props["node.id"] == "1"
    assert props["process.roles"] == "broker,controller"
    assert "PLAINTEXT://127.0.0.1:9092" in props["listeners"]
    assert props["log.dirs"] == "./kafkapy-data"
    # Listeners given alone are advertised as given.
    props = quickstart_properties({"listeners": "PLAINTEXT://127.0.0.1:1234"})
    assert "advertised.listeners" not in props


def test_python_dash_m_help():
    out = subprocess.run([sys.executable, "-m", "kafkapy", "serve", "--help"],
                         check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "--override" in out.stdout and "--memory" in out.stdout and "--config" in out.stdout


def test_configs_prints_every_listed_config_with_its_default():
    from kafkapy.config import BROKER_CONFIGS, TOPIC_CONFIGS, Scope, config_names

    out = subprocess.run([sys.executable, "-m", "kafkapy", "configs"], capture_output=True, text=True, check=True).stdout
    rows = {line.split(" | ")[0].strip("| `"): line for line in out.splitlines() if line.startswith("| `")}
    broker, topic = set(config_names(Scope.BROKER)), set(config_names(Scope.TOPIC))
    assert set(rows) == broker | topic
    assert "| `retention.ms` | long | `604800000` |" in rows["retention.ms"]
    assert "| `node.id` |" in rows["node.id"] and "read-only" in rows["node.id"]
    assert not any(d.internal and d.name in rows for d in (*BROKER_CONFIGS.values(), *TOPIC_CONFIGS.values()))
    only_topic = subprocess.run([sys.executable, "-m", "kafkapy", "configs", "--scope", "topic"],
                                capture_output=True, text=True, check=True).stdout
    assert only_topic.count("\n| `") + only_topic.startswith("| `") == len(topic)


def test_version():
    import kafkapy

    out = subprocess.run([sys.executable, "-m", "kafkapy", "--version"], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, f"kafkapy {kafkapy.__version__}")


def test_serve_takes_the_properties_file_positionally(tmp_path):
    config = tmp_path / "server.properties"
    config.write_text("node.id=7\n")
    args = build_parser().parse_args(["serve", str(config), "--override", "num.partitions=5"])
    assert (args.properties, args.config) == (str(config), None)
    assert serve_properties(args.properties, args.override) == {"node.id": "7", "num.partitions": "5"}
    both = subprocess.run([sys.executable, "-m", "kafkapy", "serve", str(config), "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "once" in both.stderr


def test_quickstart_defaults_only_without_a_file(tmp_path):
    """``kafkapy serve --config f`` runs f over Kafka's defaults: without controller.quorum.voters
    (nor bootstrap servers) it stops with Kafka's message instead of taking the quick
    start's one-voter quorum."""
    config = tmp_path / "server.properties"
    config.write_text("process.roles=broker,controller\nnode.id=1\ncontroller.listener.names=CONTROLLER\n"
                      "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0\n"
                      "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
                      f"log.dirs={tmp_path / 'data'}\n")
    out = subprocess.run([sys.executable, "-m", "kafkapy", "serve", str(config)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1
    assert "controller.quorum.voters must contain a parseable set of controllers" in out.stderr
    assert "\tcontroller.quorum.voters = []" in out.stderr  # the values block, before the refusal


def test_storage_is_kafka_storage(tmp_path):
    out = subprocess.run([sys.executable, "-m", "kafkapy", "storage", "version-mapping"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.splitlines()[0] == "metadata.version=27 (4.1-IV1)"
    assert "transaction.version=2" in out.stdout.splitlines()
    bad = subprocess.run([sys.executable, "-m", "kafkapy", "storage", "nonsense"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1 and "invalid choice" in bad.stderr


def test_config_values_block_lists_every_config_and_hides_passwords():
    from kafkapy.config import BROKER_CONFIGS, ConfigType
    from kafkapy.config_dump import HIDDEN, config_values, config_values_block

    password = next(name for name, d in BROKER_CONFIGS.items() if d.type is ConfigType.PASSWORD)
    values = config_values({password: "s3cret", "node.id": "3", "process.roles": "broker,controller"})
    assert set(values) == set(BROKER_CONFIGS)
    assert values[password] == HIDDEN and values["node.id"] == "3"
    assert values["process.roles"] == "[broker, controller]"  # a list as Java prints it
    assert values["log.dirs"] == "null"  # no value
    block = config_values_block({password: "s3cret"})
    assert block.splitlines()[0] == "KafkaConfig values: "
    assert "s3cret" not in block and f"\t{password} = {HIDDEN}" in block.splitlines()


def test_quickstart_voters_give_way_to_bootstrap_servers():
    props = quickstart_properties({"controller.quorum.bootstrap.servers": "127.0.0.1:9093"})
    assert "controller.quorum.voters" not in props
    assert quickstart_properties({})["controller.quorum.voters"] == "1@127.0.0.1:9093"
