"""The container side: KAFKA_* environment mapping, storage formatting, the entrypoint
run for real (without Docker, which this machine lacks) and the ApiVersions probe."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kafkapy.config import BROKER_CONFIGS
from kafkapy.testing.container import (
    container_properties,
    env_properties,
    environment_variable,
    format_storage,
    property_name,
)
from kafkapy.testing.probe import probe
from kafkapy.testing.ports import free_port
from tests.testing.clients import consume, produce

DOCKER = Path(__file__).resolve().parents[2] / "docker"


@pytest.mark.parametrize(("variable", "name"), [
    # The apache/kafka image's own examples (docker/examples/README.md).
    ("KAFKA_ABC_DEF", "abc.def"),
    ("KAFKA_ABC___DEF", "abc-def"),
    ("KAFKA_ABC__DEF", "abc_def"),
    ("KAFKA_NODE_ID", "node.id"),
    ("KAFKA_LISTENERS", "listeners"),
    ("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "listener.security.protocol.map"),
    ("KAFKA_CONTROLLER_QUORUM_VOTERS", "controller.quorum.voters"),
])
def test_variable_to_property(variable, name):
    assert property_name(variable) == name
    assert environment_variable(name) == variable


def test_reserved_and_foreign_variables_are_not_properties():
    environ = {"KAFKA_HEAP_OPTS": "-Xmx1G", "KAFKA_OPTS": "-Dx", "KAFKA_LOG4J_LOGGERS": "a=INFO",
               "PATH": "/bin", "CLUSTER_ID": "abc", "KAFKA_": "x", "KAFKA_NUM_PARTITIONS": "3"}
    assert env_properties(environ) == {"num.partitions": "3"}


def _image_variables() -> set[str]:
    text = (DOCKER / "Dockerfile").read_text() + (DOCKER / "compose.yaml").read_text()
    return set(re.findall(r"\b(KAFKA_[A-Z0-9_]+)\b", text))


def test_every_variable_in_the_image_files_names_a_broker_config():
    variables = _image_variables()
    assert "KAFKA_NODE_ID" in variables and "KAFKA_CONTROLLER_QUORUM_VOTERS" in variables
    unknown = {v: property_name(v) for v in variables if property_name(v) not in BROKER_CONFIGS}
    assert unknown == {}


def test_mounted_file_under_the_environment(tmp_path):
    mounted = tmp_path / "server.properties"
    mounted.write_text("num.partitions=2\nlog.retention.ms=1000\n")
    props = container_properties({"KAFKA_NUM_PARTITIONS": "7"}, str(mounted))
    assert props == {"num.partitions": "7", "log.retention.ms": "1000"}
    assert container_properties({}, str(tmp_path / "absent")) == {}


def test_format_storage_once(tmp_path):
    from kafkapy.storage.checkpoint import read_meta_properties

    assert format_storage(str(tmp_path / "data"), "clusterid-1234567890ab", 3)
    meta = read_meta_properties(str(tmp_path / "data" / "meta.properties"))
    assert meta["cluster.id"] == "clusterid-1234567890ab" and meta["node.id"] == "3"
    assert meta["version"] == "1" and meta["directory.id"]
    assert not format_storage(str(tmp_path / "data"), "another", 3)  # formatted already


def test_entrypoint_runs_a_broker_from_the_environment(tmp_path):
    """docker/entrypoint.sh with the image's kind of environment, as a plain process."""
    port, controller = free_port(), free_port()
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(DOCKER.parent),
        "CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk",
        "KAFKA_NODE_ID": "4",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"4@127.0.0.1:{controller}",
        "KAFKA_LOG_DIRS": str(tmp_path / "data"),
        "KAFKA_NUM_PARTITIONS": "3",
    }
    with open(tmp_path / "out.log", "w") as log:
        proc = subprocess.Popen(["sh", str(DOCKER / "entrypoint.sh")], env=env, cwd=tmp_path,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while probe(address, timeout_s=1) is not None:
            assert proc.poll() is None, (tmp_path / "out.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "out.log").read_text()
            time.sleep(0.05)
        produce(address, "from-env", [b"x"])
        assert [m.value() for m in consume(address, "from-env", 1)] == [b"x"]
        from confluent_kafka.admin import AdminClient

        md = AdminClient({"bootstrap.servers": address}).list_topics("from-env", timeout=10)
        assert len(md.topics["from-env"].partitions) == 3  # KAFKA_NUM_PARTITIONS
        assert 4 in md.brokers  # KAFKA_NODE_ID
        meta = (tmp_path / "data" / "meta.properties").read_text()
        assert "cluster.id=MkU3OEVBNTcwNTJENDM2Qk" in meta  # CLUSTER_ID formatted the volume
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_probe_exit_status(kafka_bootstrap):
    ok = subprocess.run([sys.executable, "-m", "kafkapy.testing.probe", kafka_bootstrap],
                        capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    closed = f"127.0.0.1:{free_port()}"
    down = subprocess.run([sys.executable, "-m", "kafkapy.testing.probe", closed],
                          capture_output=True, text=True, timeout=60, check=False)
    assert down.returncode == 1 and "probe failed" in down.stderr
    assert probe(closed) is not None and probe(kafka_bootstrap) is None
