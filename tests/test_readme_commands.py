"""README.md's first-five-minutes commands, replayed as a new user would from a fresh
clone: ``make test`` (its real virtualenv and install, a handful of tests selected
through PYTEST_ADDOPTS), ``make run`` and the client commands shown for it (the
Python clients in .venv, kcat, Kafka's console tools), and the three-node cluster by
hand (random-uuid, node-N.properties, storage format, serve).

The commands are read from README.md's code blocks, not copied here, so this test
breaks when the README drifts from what the code does. The quick start and the
cluster use the README's fixed ports (9092-9097); they run in a network namespace of
their own (``unshare --net``, as root) so that nothing else on the machine holds those
ports, or, where no namespace can be made, on the host when those ports are free.
Takes about two minutes on a 2-core machine, a third of it the new virtualenv's ``pip install``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import Namespace, namespace_for
from tests.readme import README, command, readme_block, readme_prose, sections

ROOT = Path(__file__).resolve().parents[1]
#: What is cloned: this checkout (its HEAD) unless KAFKAPY_README_REPO names another
#: repository or URL git can clone.
SOURCE = os.environ.get("KAFKAPY_README_REPO", str(ROOT))
#: Set in the clone's own test run, which must not replay the README again.
NESTED = "KAFKAPY_README_REPLAY"
#: The tests ``make test`` runs in the clone: quick ones, through the Makefile's pytest.
INNER_TESTS = "tests/test_cli.py tests/test_config.py"
#: The ports the README's quick start and cluster use.
README_PORTS = range(9092, 9098)

pytestmark = [
    pytest.mark.skipif(bool(os.environ.get(NESTED)), reason="inside the README replay's own make test"),
    pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None,
                       reason="needs a git checkout of kafkapy to clone"),
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]


# -- the new user's machine ----------------------------------------------------------

def user_env(clone: Path | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without its virtualenv or pytest settings, plus the
    clone's .venv/bin first on PATH when given (as after ``source .venv/bin/activate``)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not k.startswith("PYTEST_")}
    outer = str(ROOT / ".venv")
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(outer)]
    if clone is not None:
        path.insert(0, str(clone / ".venv" / "bin"))
    env["PATH"] = os.pathsep.join(path)
    env[NESTED] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def netns() -> Iterator[Namespace]:
    with namespace_for(README_PORTS) as ns:
        yield ns


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh clone of this repository's HEAD."""
    where = tmp_path_factory.mktemp("readme") / "kafkapy"
    subprocess.run(["git", "clone", "--quiet", SOURCE, str(where)], check=True, timeout=120)
    return where


@pytest.fixture(scope="module")
def make_test(clone: Path) -> subprocess.CompletedProcess:
    assert readme_block("make test").strip() == "make test"
    # The Makefile's pytest reads PYTEST_ADDOPTS: a handful of tests, not the suite.
    return subprocess.run(shlex.split(readme_block("make test")), cwd=clone, capture_output=True, text=True,
                          timeout=600, check=False, env=user_env(PYTEST_ADDOPTS=INNER_TESTS))


def test_make_test_sets_up_a_virtualenv_and_runs_the_tests(clone: Path, make_test):
    assert make_test.returncode == 0, make_test.stdout[-3000:] + make_test.stderr[-3000:]
    assert re.search(r"^\d+ passed", make_test.stdout, re.M), make_test.stdout[-2000:]
    venv_python = clone / ".venv" / "bin" / "python"
    assert venv_python.exists() and (clone / ".venv" / "bin" / "kafkapy").exists()
    # A real virtualenv of its own, not this one's.
    assert not venv_python.resolve().is_relative_to(ROOT)
    version = subprocess.run(["kafkapy", "--version"], env=user_env(clone), capture_output=True, text=True,
                             timeout=60, check=True)
    assert "kafkapy --version" in readme_block("kafkapy serve --memory")
    assert version.stdout.startswith("kafkapy ")


# -- make run and its clients ----------------------------------------------------------

def _wait_for_log(proc: subprocess.Popen, log: Path, pattern: str, timeout_s: float = 90) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while True:
        text = log.read_text(errors="replace")
        if match := re.search(pattern, text):
            return match
        assert proc.poll() is None, f"exited {proc.returncode}:\n{text[-3000:]}"
        assert time.monotonic() < deadline, f"no {pattern!r} within {timeout_s}s:\n{text[-3000:]}"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen, timeout_s: float = 60) -> int:
    """SIGTERM to the process group we started it in (make and its kafkapy child)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        raise


def _sh(netns: Namespace, clone: Path, script: str, *, cwd: Path | None = None, stdin: str | None = None,
        timeout_s: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(netns.wrap(["bash", "-c", script]), cwd=cwd or clone, env=user_env(clone),
                          input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False)


@pytest.fixture(scope="class")
def quickstart(clone: Path, make_test, netns: Namespace) -> Iterator[Path]:
    """The README's ``make run`` in the clone, serving on localhost:9092 until the class ends."""
    assert make_test.returncode == 0, "make test failed in the clone"
    run = readme_block("make run").strip()
    assert run == "make run"
    log = clone / "make-run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(netns.wrap(shlex.split(run)), cwd=clone, env=user_env(),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_log(proc, log, r"kafkapy ready: node 1, bootstrap 127\.0\.0\.1:9092")
        yield clone
    finally:
        _stop(proc)
    assert "Traceback" not in log.read_text()


class TestQuickStart:
    """``make run``, then the commands README.md shows to connect to it."""

    def test_quick_start_defaults(self, quickstart: Path):
        # "data in ./kafkapy-data", the node formatted by itself.
        assert "(data in `./kafkapy-data`)" in README.read_text()
        assert (quickstart / "kafkapy-data" / "meta.properties").exists()
        assert "Awaiting socket connections on 127.0.0.1:9093 (CONTROLLER)" in (
            quickstart / "make-run.log").read_text()

    def test_python_clients_in_the_venv(self, quickstart: Path, netns: Namespace):
        script = sections(readme_block("from confluent_kafka import Producer, Consumer"))[
            "the Python clients are in .venv already"]
        out = _sh(netns, quickstart, script)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == "b'world'"

    def test_kcat(self, quickstart: Path, netns: Namespace):
        if shutil.which("kcat") is None:
            pytest.skip("kcat is not installed (apt install kcat, or compat_tests/install.sh)")
        produce, consume = sections(readme_block("kcat -b localhost:9092"))["kcat (apt install kcat)"].splitlines()
        assert _sh(netns, quickstart, produce).returncode == 0
        out = _sh(netns, quickstart, consume)
        assert out.returncode == 0, out.stderr
        assert "world" in out.stdout.splitlines()

    def test_kafka_console_tools(self, quickstart: Path, netns: Namespace):
        from compat_tests.brokers import DEPS, KAFKA_VERSION, tool_command

        if not (DEPS / f"kafka-{KAFKA_VERSION}" / "libs" / f"kafka-tools-{KAFKA_VERSION}.jar").exists():
            pytest.skip("Kafka's tools are not installed (compat_tests/install.sh)")
        block = sections(readme_block("kafka-console-producer.sh"))
        producer, consumer = next(v for k, v in block.items() if k.startswith("Kafka's own tools")).splitlines()
        # bin/<script> as Kafka's scripts run it: kafka-run-class.sh with the tool's class.
        classes = {"bin/kafka-console-producer.sh": "ConsoleProducer",
                   "bin/kafka-console-consumer.sh": "consumer.ConsoleConsumer"}
        script, *args = shlex.split(producer)
        produced = subprocess.run(netns.wrap(tool_command(classes[script], *args)), input="from-console-tools\n",
                                  capture_output=True, text=True, timeout=120, check=False)
        assert produced.returncode == 0, produced.stderr
        script, *args = shlex.split(consumer)
        # The README's consumer runs until Ctrl-C; here it stops 10 s after the last record.
        consumed = subprocess.run(netns.wrap(tool_command(classes[script], *args, "--timeout-ms", "10000")),
                                  capture_output=True, text=True, timeout=120, check=False)
        assert "from-console-tools" in consumed.stdout.splitlines(), consumed.stdout + consumed.stderr


# -- a three-node cluster by hand --------------------------------------------------------

def test_three_node_cluster_by_hand(clone: Path, make_test, netns: Namespace, tmp_path: Path):
    assert make_test.returncode == 0, "make test failed in the clone"
    env = user_env(clone)
    uuid_line = readme_block("kafkapy storage random-uuid").strip()
    example_id = re.search(r"e\.g\. (\S+)", uuid_line).group(1)
    cluster_id = subprocess.run(shlex.split(command(uuid_line)), env=env, capture_output=True, text=True,
                                timeout=60, check=True).stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), cluster_id

    # node-1.properties as shown; "nodes 2 and 3 change node.id, the ports and log.dirs".
    node1 = readme_block("node.id=1", "controller.quorum.voters=")
    props = dict(line.split("=", 1) for line in node1.splitlines() if "=" in line)
    voters = {int(v.split("@")[0]): int(v.rsplit(":", 1)[1]) for v in props["controller.quorum.voters"].split(",")}
    bootstrap = readme_prose(r"clients bootstrap from\s+`([^`]+)`").group(1)
    client_ports = [int(a.rsplit(":", 1)[1]) for a in bootstrap.split(",")]
    readme_dir = props["log.dirs"]
    data_root = tmp_path / "var-lib-kafkapy"  # the README's /var/lib/kafkapy, in a temporary place

    def node_properties(n: int) -> Path:
        text = node1
        for key in ("listeners", "advertised.listeners"):
            line = f"{key}={props[key]}"
            new = line.replace(f":{client_ports[0]}", f":{client_ports[n - 1]}").replace(
                f":{voters[1]}", f":{voters[n]}")
            text = text.replace(line + "\n", new + "\n")
        text = text.replace("node.id=1\n", f"node.id={n}\n")
        text = text.replace(f"log.dirs={readme_dir}", f"log.dirs={data_root}/node-{n}")
        path = tmp_path / f"node-{n}.properties"
        path.write_text(text)
        return path

    paths = {n: node_properties(n) for n in (1, 2, 3)}
    assert f"log.dirs={data_root}/node-3" in paths[3].read_text() and "node.id=3" in paths[3].read_text()

    steps = readme_block("kafkapy storage format --cluster-id").splitlines()
    format_line = command(next(s for s in steps if s.startswith("kafkapy storage format")))
    serve_line = command(next(s for s in steps if s.startswith("kafkapy serve")))
    formatted_comment = next(s for s in steps if s.startswith("# Formatting"))[2:]

    # "Without formatting, a voter of several refuses to start: ..."
    refusal = readme_prose(r"Without formatting, a voter of several refuses to start: \"(.+?)\"\.").group(1)
    unformatted = subprocess.run(netns.wrap(shlex.split(serve_line)), cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=60, check=False)
    assert unformatted.returncode != 0
    for fragment in (f.strip() for f in refusal.split("…")):
        assert fragment in unformatted.stdout + unformatted.stderr, fragment

    for n in (1, 2, 3):
        args = shlex.split(format_line.replace(example_id, cluster_id).replace("node-1", f"node-{n}"))
        out = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True)
        expected = formatted_comment.replace(readme_dir, f"{data_root}/node-{n}")
        assert expected in out.stdout + out.stderr

    ready = readme_prose(r"Each node logs `(kafkapy ready: node N, [^`]+)`").group(1)
    procs: dict[int, subprocess.Popen] = {}
    try:
        for n in (1, 2, 3):
            with open(tmp_path / f"node-{n}.log", "w") as out:
                procs[n] = subprocess.Popen(netns.wrap(shlex.split(serve_line.replace("node-1", f"node-{n}"))),
                                            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        for n in (1, 2, 3):
            pattern = re.escape(ready).replace("N", str(n)).replace("…", ".*?").replace(
                re.escape(example_id[:4]), re.escape(cluster_id[:4]))
            _wait_for_log(procs[n], tmp_path / f"node-{n}.log", pattern)
        client = f"""
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
b = {bootstrap!r}
a = AdminClient({{'bootstrap.servers': b}})
a.create_topics([NewTopic('by-hand', 1, 3)])['by-hand'].result(30)
p = Producer({{'bootstrap.servers': b, 'acks': 'all'}}); p.produce('by-hand', b'replicated'); assert p.flush(30) == 0
c = Consumer({{'bootstrap.servers': b, 'group.id': 'g'}}); c.assign([TopicPartition('by-hand', 0, 0)])
m = c.poll(30); print(m.value().decode()); c.close()
md = a.list_topics('by-hand', timeout=10)
print(sorted(md.brokers), sorted(md.topics['by-hand'].partitions[0].replicas))
"""
        out = subprocess.run(netns.wrap([str(clone / ".venv" / "bin" / "python"), "-c", client]),
                             env=env, capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["replicated", "[1, 2, 3] [1, 2, 3]"]
    finally:
        codes = {n: _stop(p) for n, p in procs.items()}
    # "Stop a node with Ctrl-C or SIGTERM (a controlled shutdown ...)"
    assert codes == {1: 0, 2: 0, 3: 0}, {n: (tmp_path / f"node-{n}.log").read_text()[-2000:] for n in codes}
