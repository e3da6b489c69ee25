"""The image docker/Dockerfile builds, run as a container: a broker a client reaches,
the HEALTHCHECK, the non-root user, a clean stop, and a 3-node KRaft cluster of three
containers configured as docker/compose.yaml configures it.

The image is built by ``bash docker/build_image.sh`` (buildah, from Debian's packages;
no Docker engine runs here). Containers run with podman on the host's network, each
listener on a free loopback port, since this machine reaches nothing but loopback.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from kafkapy.testing.ports import free_ports
from kafkapy.testing.probe import probe
from tests.clustering import until
from tests.netns import namespace_for
from tests.readme import command, readme_block
from tests.testing.clients import consume, produce

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("KAFKAPY_IMAGE", "localhost/kafkapy:latest")
#: The stand-in for python:3.11-slim that docker/build_image.sh makes.
BASE = re.search(r'^BASE="([^"]+)"', (ROOT / "docker" / "build_image.sh").read_text(), re.M).group(1)
#: The cluster id docker/compose.yaml formats its three volumes with.
COMPOSE_CLUSTER_ID = "4L6g3nShT-eMCtK--X86sw"


def _image_present() -> bool:
    if shutil.which("podman") is None:
        return False
    return subprocess.run(["podman", "image", "exists", IMAGE], check=False,
                          capture_output=True, timeout=60).returncode == 0


pytestmark = pytest.mark.skipif(not _image_present(),
                                reason=f"no image {IMAGE}: build it with bash docker/build_image.sh")

#: podman's run options on this kind of machine: runc, since crun refuses a host with
#: cgroup v1 controllers and a cgroup2 mount side by side ("hybrid mode"); limits no
#: higher than the host's, since podman's defaults raise them and that needs
#: CAP_SYS_RESOURCE, which this sandbox withholds; the host's network, loopback only.
RUN_OPTIONS = ("--runtime", "runc", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
               "--network", "host")


def _podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)


@contextmanager
def _containers(environments: Mapping[str, Mapping[str, str]], image: str = IMAGE,
                wrap=lambda args: args) -> Iterator[dict[str, str]]:
    """Start one container per name with its environment; removed on the way out."""
    names = {name: f"kafkapy-test-{os.getpid()}-{name}" for name in environments}
    try:
        for name, env in environments.items():
            env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
            started = subprocess.run(wrap(["podman", "run", "-d", "--name", names[name], *RUN_OPTIONS,
                                           *env_args, image]),
                                     capture_output=True, text=True, timeout=60, check=False)
            assert started.returncode == 0, started.stderr
        yield names
    finally:
        for container in names.values():
            _podman("rm", "-f", "-t", "5", container)


def _logs(container: str) -> str:
    out = _podman("logs", container)
    return out.stdout + out.stderr


def _wait_healthy(container: str, timeout_s: float = 60, wrap=lambda args: args) -> None:
    """The image's own HEALTHCHECK (ApiVersions through kafkapy.testing.probe), run by
    podman; ``wrap`` runs it in the network namespace the container shares (host
    networking gives the container none of its own, so its exec'd check runs in podman's)."""
    deadline = time.monotonic() + timeout_s
    while subprocess.run(wrap(["podman", "healthcheck", "run", container]), capture_output=True,
                         timeout=60, check=False).returncode != 0:
        state = _podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip()
        assert state == "running", f"{container} is {state}:\n{_logs(container)}"
        assert time.monotonic() < deadline, _logs(container)
        time.sleep(0.5)


def test_one_broker_from_the_image():
    port, controller = free_ports(2)
    env = {
        # The image's defaults, with loopback listeners: the host's network is shared.
        "KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@127.0.0.1:{controller}",
        "KAFKAPY_PROBE_ADDRESS": f"127.0.0.1:{port}",
    }
    with _containers({"single": env}) as names:
        container = names["single"]
        _wait_healthy(container)
        address = f"127.0.0.1:{port}"
        produce(address, "from-image", [b"a", b"b"])
        assert [m.value() for m in consume(address, "from-image", 2)] == [b"a", b"b"]
        # The Dockerfile's non-root user, and the broker's data on the volume.
        assert _podman("exec", container, "id", "-u").stdout.strip() == "1000"
        listing = _podman("exec", container, "ls", "/var/lib/kafkapy/data").stdout.split()
        assert "meta.properties" in listing and "from-image-0" in listing
        # `docker stop` sends SIGTERM to the entrypoint's exec'd python: a clean shutdown.
        assert _podman("stop", "-t", "30", container).returncode == 0
        assert _podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip() == "0"
        assert "kafkapy ready: node 1" in _logs(container)


def test_three_node_cluster_of_containers():
    """docker/compose.yaml's environment for three combined nodes, on loopback ports."""
    ports = free_ports(6)
    clients, controllers = ports[:3], ports[3:]
    voters = ",".join(f"{n}@127.0.0.1:{controllers[n - 1]}" for n in (1, 2, 3))
    common = {
        "CLUSTER_ID": COMPOSE_CLUSTER_ID,
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": voters,
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "3",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "3",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "2",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    envs = {
        f"node{n}": {
            **common,
            "KAFKA_NODE_ID": str(n),
            "KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{clients[n - 1]},CONTROLLER://127.0.0.1:{controllers[n - 1]}",
            "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{clients[n - 1]}",
            "KAFKAPY_PROBE_ADDRESS": f"127.0.0.1:{clients[n - 1]}",
        }
        for n in (1, 2, 3)
    }
    with _containers(envs) as names:
        for container in names.values():
            _wait_healthy(container, timeout_s=90)
        bootstrap = ",".join(f"127.0.0.1:{p}" for p in clients)
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("replicated", 1, 3)])["replicated"].result(30)
        md = until(lambda: (m := admin.list_topics("replicated", timeout=10)).topics["replicated"]
                   .partitions[0].isrs and len(m.topics["replicated"].partitions[0].isrs) == 3 and m, 60)
        assert md, "the partition's ISR never reached the three containers"
        assert sorted(md.brokers) == [1, 2, 3]
        produce(bootstrap, "replicated", [b"x"], acks="all")
        assert [m.value() for m in consume(bootstrap, "replicated", 1)] == [b"x"]
        for n in (1, 2, 3):
            assert probe(f"127.0.0.1:{clients[n - 1]}") is None
            assert f"cluster {COMPOSE_CLUSTER_ID}" in _logs(names[f"node{n}"])


def test_readme_docker_build_and_run():
    """README.md's ``docker build`` and ``docker run -p 9092:9092`` lines, with buildah
    and podman: the build with the stand-in base, the run in a network namespace of the
    test's own whose host network is the container's, so that its 9092 is the README's
    ``localhost:9092`` and the image's default listeners (0.0.0.0) reach nothing else."""
    lines = [command(line) for line in readme_block("docker build -f docker/Dockerfile").splitlines()]
    build = shlex.split(next(line for line in lines if line.startswith("docker build ")))[2:]
    run = shlex.split(next(line for line in lines if line.startswith("docker run ")))[2:]
    built = subprocess.run(["buildah", "bud", "--quiet", "--format", "docker", "--pull=never", "--from", BASE,
                            *build], cwd=ROOT, env={**os.environ, "BUILDAH_ISOLATION": "chroot"},
                           capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    published = [run[i + 1] for i, arg in enumerate(run) if arg == "-p"]
    assert published == ["9092:9092"]
    image = [arg for i, arg in enumerate(run) if arg != "-p" and (i == 0 or run[i - 1] != "-p")]
    assert len(image) == 1
    with namespace_for(range(9092, 9094)) as ns, _containers({"readme": {}}, image[0], ns.wrap) as names:
        _wait_healthy(names["readme"], wrap=ns.wrap)
        client = (
            "from tests.testing.clients import consume, produce\n"
            "produce('localhost:9092', 'readme-docker', [b'hello'])\n"
            "print([m.value() for m in consume('localhost:9092', 'readme-docker', 1)])\n"
        )
        out = subprocess.run(ns.wrap([sys.executable, "-c", client]), cwd=ROOT, capture_output=True, text=True,
                             timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[b'hello']"
