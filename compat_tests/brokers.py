"""Brokers the matrix runs against: the Apache Kafka reference and a kafkapy process.

The reference is Apache Kafka 4.x in KRaft combined mode (broker+controller, one node),
resolved from Maven Central by reference/pom.xml and started with ``kafka.Kafka``:
4.4.0 unless ``KAFKAPY_REFERENCE_VERSION`` names another installed release (4.1.2).
kafkapy is started from a configurable command line. Both are ready when a raw
Metadata request over TCP lists at least one broker.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from kafkapy.storage.checkpoint import new_directory_id
from kafkapy.testing.ports import free_port

HERE = Path(__file__).resolve().parent
DEPS = HERE / ".deps"
REFERENCE_POM = HERE / "reference" / "pom.xml"
#: The Apache Kafka releases compat_tests/install.sh installs side by side.
KAFKA_VERSIONS = ("4.1.2", "4.4.0")
#: The reference release tests compare with, and whose tools they run:
#: ``KAFKAPY_REFERENCE_VERSION`` chooses another installed one (e.g. ``4.1.2``).
KAFKA_VERSION = os.environ.get("KAFKAPY_REFERENCE_VERSION", "4.4.0")

# `{python}` is this interpreter, `{port}` a free port. Test-friendly defaults as Kafka's
# own test setups use them (no initial rebalance delay).
DEFAULT_KAFKAPY_COMMAND = (
    "{python} -m kafkapy serve --memory"
    " --override listeners=PLAINTEXT://127.0.0.1:{port}"
    " --override group.initial.rebalance.delay.ms=0"
)

# Single-node KRaft settings for the reference broker: the replication factors of the
# internal topics must fit one node (Kafka's config/server.properties does the same).
REFERENCE_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dir}
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
"""


def probe(host: str, port: int, timeout: float = 2.0) -> int:
    """Send Metadata v4 (all topics) and return how many brokers the answer lists."""
    client_id = b"kafkapy-compat-probe"
    body = struct.pack(">hhih", 3, 4, 7, len(client_id)) + client_id + struct.pack(">i?", -1, False)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        head = _recv_exact(sock, 4)
        frame = _recv_exact(sock, struct.unpack(">i", head)[0])
    correlation, _throttle, brokers = struct.unpack_from(">iii", frame)
    if correlation != 7:
        raise ConnectionError(f"unexpected correlation id {correlation}")
    return brokers


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


class BrokerProcess:
    """A broker subprocess; a context manager that stops it (and cleans up) on exit."""

    def __init__(self, argv: list[str], port: int, log_path: Path, workdir: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.log_path = log_path
        self.workdir = workdir
        self.argv = argv
        self._env = env
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def restart(self, timeout: float = 90.0) -> float:
        """Stop the broker (SIGTERM) and start the same command on the same port, with its
        data kept; return the seconds it took to answer again."""
        self._terminate()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self._env, start_new_session=True)
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> float:
        """Block until the broker answers Metadata with a broker; return seconds waited."""
        started = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}; log: {self.log_tail()}")
            try:
                if probe("127.0.0.1", self.port) > 0:
                    return time.monotonic() - started
            except OSError:
                pass
            if time.monotonic() - started > timeout:
                self.stop()
                raise TimeoutError(f"broker not ready after {timeout}s; log: {self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def stop(self) -> None:
        self._terminate()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> BrokerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reference_libs(version: str = KAFKA_VERSION) -> Path:
    """The directory of the reference broker's jars, resolved with Maven if missing."""
    libs = DEPS / f"kafka-{version}" / "libs"
    if not all((libs / jar).exists() for jar in (f"kafka_2.13-{version}.jar", f"kafka-tools-{version}.jar")):
        subprocess.run(
            ["mvn", "-q", "-B", "-f", str(REFERENCE_POM), f"-Dkafka.version={version}",
             "dependency:copy-dependencies", f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
            check=True,
        )
    return libs


def java() -> str:
    """The java launcher: ``$JAVA_HOME/bin/java``, else ``java`` from PATH."""
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


#: JVM options for a short-lived tool: a small heap, the quick first JIT tier.
QUICK_TOOL_JVM = ("-Xmx256m", "-XX:TieredStopAtLevel=1")


def tool_command(main_class: str, *args: str, jvm_options: Sequence[str] = QUICK_TOOL_JVM) -> list[str]:
    """The command running one of the reference Kafka's command-line tools.

    ``main_class`` is relative to ``org.apache.kafka.tools`` (where Kafka 4 keeps most of
    them) unless it starts with ``kafka.`` or ``org.``.
    """
    if not main_class.startswith(("kafka.", "org.")):
        main_class = "org.apache.kafka.tools." + main_class
    return [java(), *jvm_options, "-cp", f"{reference_libs()}/*", main_class, *args]


def start_reference(port: int | None = None, version: str = KAFKA_VERSION,
                    timeout: float = 90.0, overrides: Mapping[str, str] | None = None,
                    full_jit: bool = False) -> BrokerProcess:
    """Format a fresh KRaft log dir and start Apache Kafka on 127.0.0.1:``port``;
    ``overrides`` replace or add server properties (a later key wins in Java's Properties).
    The JVM stops at the quick first JIT tier (it starts faster) unless ``full_jit``, for
    measuring Kafka's throughput as it runs in production."""
    libs = reference_libs(version)
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="kafka-reference-"))
    props = workdir / "server.properties"
    extra = "".join(f"{key}={value}\n" for key, value in (overrides or {}).items())
    props.write_text(REFERENCE_PROPERTIES.format(
        port=port, controller_port=free_port(), log_dir=workdir / "data") + extra)
    log4j = workdir / "log4j2.properties"
    log4j.write_text(LOG4J2.format(log_file=workdir / "server.log"))
    classpath = f"{libs}/*"
    jit = [] if full_jit else ["-XX:TieredStopAtLevel=1"]
    jvm = [java(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", *jit,
           f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={workdir}", "-cp", classpath]
    cluster_id = new_directory_id()
    subprocess.run([*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
                   check=True, stdout=subprocess.DEVNULL)
    broker = BrokerProcess([*jvm, "kafka.Kafka", str(props)], port, workdir / "stdout.log", workdir)
    broker.wait_ready(timeout)
    return broker


def start_command(command: str = DEFAULT_KAFKAPY_COMMAND, port: int | None = None,
                  timeout: float = 30.0) -> BrokerProcess:
    """Start a broker from a command template with ``{python}`` and ``{port}`` fields, and
    ``{data}``, a fresh directory removed when the broker stops."""
    port = port or free_port()
    data = Path(tempfile.mkdtemp(prefix="kafkapy-data-")) if "{data}" in command else None
    argv = shlex.split(command.format(python=shlex.quote(sys.executable), port=port, data=data))
    log = Path(tempfile.mkstemp(prefix="kafkapy-broker-", suffix=".log")[1])
    broker = BrokerProcess(argv, port, log, data, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    broker.wait_ready(timeout)
    return broker


def kafkapy_available() -> bool:
    """True once the kafkapy package has its command-line entry point."""
    import importlib.util

    try:
        return importlib.util.find_spec("kafkapy.cli") is not None
    except ImportError:
        return False
