"""Start-up and scale of one node, kafkapy next to Apache Kafka 4.1.2 in the same run (issue 18).

Figures, each measured from outside the broker process:

* start: process spawn to the first Metadata answer listing a broker, median of
  ``--runs`` starts: kafkapy ``--memory``, kafkapy on an empty data directory, Kafka on
  a freshly formatted one (its first answer comes once it is unfenced);
* partitions (``--partitions``, 10,000 by default, on disk): creating them as topics of
  ``--per-topic`` partitions in CreateTopics requests of at most ``--per-request``
  partitions (Kafka 4.1 refuses more than 10,000 in one request); one Metadata (v1, all
  topics) round trip, median of 5, and its size; the broker's RSS once idle; the
  broker's CPU while one consumer is assigned every partition and nothing is
  produced: librdkafka's (full fetches of every partition, it keeps no KIP-227 fetch
  session) and kafka-python's (incremental fetches in a fetch session); restart to ready after SIGTERM and
  after SIGKILL, "ready" being a Metadata answer with every partition led;
* connections (``--connections``, 10,000 by default, on a broker with no partitions):
  opened with non-blocking connects, each answered one ApiVersions (accepted and served,
  not only queued by the kernel); the rate; a new client's ApiVersions round trip while
  they are open (max of 5); RSS per idle connection. kafkapy runs with the quick start's
  ``socket.listen.backlog.size`` of 1024 and again with Kafka's default of 50, the
  reference with Kafka's default.

Kafka's RSS is the JVM's (``-Xms256m -Xmx1g``, the compat_tests launcher), so it says
what a JVM broker costs, not what its data structures do. The open-files limit is raised
to its hard limit (each idle connection is a descriptor on both sides).

Run: ``.venv/bin/python benchmarks/scale.py`` (a few minutes on 2 cores); scale down with
``--partitions 2000 --connections 2000 --runs 3``; ``--no-reference`` for kafkapy only;
``--only start,partitions,connections`` to pick sections.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from compat_tests.brokers import free_port, probe, start_reference  # noqa: E402

_I32 = struct.Struct(">i")


# ---- raw protocol ----------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def metadata_v1(sock: socket.socket) -> bytes:
    """Metadata v1 for all topics on an open socket; the response frame."""
    body = struct.pack(">hhih", 3, 1, 1, 1) + b"s" + _I32.pack(-1)
    sock.sendall(_I32.pack(len(body)) + body)
    return _recv_exact(sock, _I32.unpack(_recv_exact(sock, 4))[0])


def led_partitions(frame: bytes) -> tuple[int, int]:
    """(partitions, partitions with a leader and no error) of a Metadata v1 response."""
    pos = 4  # correlation id

    def i16() -> int:
        nonlocal pos
        pos += 2
        return struct.unpack_from(">h", frame, pos - 2)[0]

    def i32() -> int:
        nonlocal pos
        pos += 4
        return struct.unpack_from(">i", frame, pos - 4)[0]

    def string() -> None:
        nonlocal pos
        n = i16()
        pos += max(n, 0)

    for _ in range(i32()):  # brokers
        i32(), string(), i32(), string()
    i32()  # controller id
    total = led = 0
    for _ in range(i32()):
        i16(), string()
        pos += 1  # is_internal
        for _ in range(i32()):
            error, _, leader = i16(), i32(), i32()
            for _ in range(2):  # replicas, isr
                n = i32()
                pos += 4 * n
            total += 1
            led += error == 0 and leader >= 0
    return total, led


def wait_led(port: int, partitions: int, started: float, timeout: float = 600.0) -> float:
    """Seconds from ``started`` until Metadata shows at least ``partitions`` led."""
    while time.monotonic() - started < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                if led_partitions(metadata_v1(s))[1] >= partitions:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"fewer than {partitions} partitions led after {timeout} s")


def wait_first_answer(proc: subprocess.Popen, port: int, started: float, timeout: float = 600.0) -> float:
    """Seconds from ``started`` until a Metadata answer lists a broker."""
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        try:
            if probe("127.0.0.1", port) > 0:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.002)
    raise TimeoutError(f"no Metadata answer within {timeout} s")


# ---- the brokers -------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (and its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: The brokers' environment: bytecode written and read as an installed package's is
#: (with PYTHONDONTWRITEBYTECODE set, every start would compile each changed module).
_BROKER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


class Node:
    """A broker on a data directory that survives restarts; start() returns seconds to
    the first Metadata answer (``start_cpu_s``: the CPU seconds it had used by then)."""

    def __init__(self, name: str, argv: Callable[[], list[str]], port: int, workdir: Path) -> None:
        self.name, self._argv, self.port, self.workdir = name, argv, port, workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        self._log = open(self.workdir / f"{self.name}.out", "ab")
        started = time.monotonic()
        self.proc = subprocess.Popen(self._argv(), stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                     start_new_session=True, env=_BROKER_ENV)
        self.started = started
        first = wait_first_answer(self.proc, self.port, started)
        self.start_cpu_s = cpu_s(self.proc.pid)
        return first

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def kafkapy_node(memory: bool = False, overrides: tuple[str, ...] = ()) -> Node:
    workdir = Path(tempfile.mkdtemp(prefix="kafkapy-scale-"))
    port, cport = free_port(), free_port()
    props = [f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
             f"controller.quorum.voters=1@127.0.0.1:{cport}", f"log.dirs={workdir / 'data'}",
             "group.initial.rebalance.delay.ms=0", *overrides]
    argv = [sys.executable, "-m", "kafkapy", "serve", "--log-level", os.environ.get("SCALE_LOG_LEVEL", "WARNING"), *(["--memory"] if memory else []),
            *(arg for prop in props for arg in ("--override", prop))]
    return Node("kafkapy", lambda: argv, port, workdir)


def reference_node(overrides: dict[str, str] | None = None) -> tuple[Node, float]:
    """Apache Kafka on a formatted directory: (node, seconds to its first answer)."""
    started = time.monotonic()
    broker = start_reference(overrides=overrides, timeout=180)
    first = time.monotonic() - started  # includes kafka-storage format, measured apart below
    argv = list(broker.proc.args)
    workdir = broker.workdir
    broker.workdir = None  # keep the data directory
    broker.stop()
    assert workdir is not None
    node = Node("kafka", lambda: argv, broker.port, workdir)
    return node, first


# ---- the sections ------------------------------------------------------------------


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} (min {min(samples) * 1000:.0f})"


def section_start(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """Wall and CPU time to the first answer: on a loaded machine wall time measures the
    load, the process's CPU time what the start itself costs."""
    out: dict[str, dict[str, str]] = {}
    for label, memory in (("kafkapy --memory", True), ("kafkapy on an empty dir", False)):
        samples, cpu = [], []
        for _ in range(args.runs):
            node = kafkapy_node(memory)
            samples.append(node.start())
            cpu.append(node.start_cpu_s)
            node.stop()
        out[f"start to first Metadata, {label} (ms, median of {args.runs})"] = {"kafkapy": _ms(samples)}
        out[f"CPU to first Metadata, {label} (ms, median of {args.runs})"] = {"kafkapy": _ms(cpu)}
    # The floor under kafkapy's start: the interpreter with the editable install's path
    # finder, and trio's own import.
    for label, code in (("python -c pass", "pass"), ("python -c 'import trio'", "import trio")):
        samples, cpu = [], []
        for _ in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            subprocess.run([sys.executable, "-c", code], check=True, env=_BROKER_ENV)
            samples.append(time.monotonic() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        out[f"floor: {label} (ms, median of {args.runs})"] = {"kafkapy": _ms(samples)}
        out[f"floor CPU: {label} (ms, median of {args.runs})"] = {"kafkapy": _ms(cpu)}
    if args.reference:
        samples = []
        for _ in range(max(1, args.runs // 2)):
            node, _ = reference_node()
            samples.append(node.start())  # a formatted, empty directory: the format is not counted
            node.stop()
            subprocess.run(["rm", "-rf", str(node.workdir)], check=False)
        for key in out:
            if key.startswith("start to first"):
                out[key]["kafka"] = _ms(samples)
    return out


def create_partitions(port: int, total: int, per_topic: int, per_request: int) -> float:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    topics = [NewTopic(f"scale-{i:05d}", per_topic, 1) for i in range(total // per_topic)]
    step = max(1, per_request // per_topic)
    start = time.monotonic()
    for i in range(0, len(topics), step):
        futures = admin.create_topics(topics[i:i + step], request_timeout=600, operation_timeout=600)
        for future in futures.values():
            future.result(600)
    return time.monotonic() - start


def metadata_round_trips(port: int) -> tuple[float, int, int]:
    """(median ms of 5 Metadata-all round trips on one connection, bytes, led partitions)."""
    samples = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        metadata_v1(s)
        for _ in range(5):
            start = time.perf_counter()
            frame = metadata_v1(s)
            samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000, len(frame), led_partitions(frame)[1]


def idle_consumer_cpu(node: Node, total: int, per_topic: int, seconds: float) -> float:
    """Broker CPU % while one consumer is assigned every partition and fetches nothing."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{node.port}", "group.id": "scale-idle",
                         "enable.auto.commit": False, "auto.offset.reset": "latest"})
    consumer.assign([TopicPartition(f"scale-{i // per_topic:05d}", i % per_topic, -1) for i in range(total)])
    try:
        deadline = time.monotonic() + 10  # offsets resolved, fetch sessions set up
        while time.monotonic() < deadline:
            consumer.poll(0.2)
        before, start = cpu_s(node.pid), time.monotonic()
        while time.monotonic() - start < seconds:
            consumer.poll(0.2)
        return (cpu_s(node.pid) - before) / (time.monotonic() - start) * 100
    finally:
        consumer.close()


def idle_kafka_python_cpu(node: Node, total: int, per_topic: int, seconds: float) -> float:
    """The same with kafka-python, which keeps a KIP-227 fetch session (incremental fetches)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{node.port}", enable_auto_commit=False,
                             auto_offset_reset="latest", fetch_max_wait_ms=500)
    consumer.assign([TopicPartition(f"scale-{i // per_topic:05d}", i % per_topic) for i in range(total)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            consumer.poll(timeout_ms=200)
        before, start = cpu_s(node.pid), time.monotonic()
        while time.monotonic() - start < seconds:
            consumer.poll(timeout_ms=200)
        return (cpu_s(node.pid) - before) / (time.monotonic() - start) * 100
    finally:
        consumer.close()


def partitions_on(node: Node, args: argparse.Namespace) -> dict[str, str]:
    total, out = args.partitions, _Printing(node.name)
    start = time.monotonic()
    answered = create_partitions(node.port, total, args.per_topic, args.per_request)
    led = wait_led(node.port, total, start)  # Kafka answers before its broker has made the logs
    out["create"] = f"{led:.1f} s to all led (answered in {answered:.1f} s)"
    ms, size, led = metadata_round_trips(node.port)
    out["metadata"] = f"{ms:.0f} ms ({size / 1e6:.2f} MB, {led} led)"
    time.sleep(2)
    out["rss"] = f"{rss_mib(node.pid):.0f} MiB"
    before, start = cpu_s(node.pid), time.monotonic()
    time.sleep(args.idle_seconds)
    out["idle cpu"] = f"{(cpu_s(node.pid) - before) / (time.monotonic() - start) * 100:.1f} % CPU"
    out["idle consumer"] = f"{idle_consumer_cpu(node, total, args.per_topic, args.idle_seconds):.1f} % CPU"
    out["idle session"] = f"{idle_kafka_python_cpu(node, total, args.per_topic, args.idle_seconds):.1f} % CPU"
    for label, sig in (("restart after SIGTERM", signal.SIGTERM), ("restart after SIGKILL", signal.SIGKILL)):
        stop_start = time.monotonic()
        node.stop(sig)
        stop_s = time.monotonic() - stop_start
        try:
            first = node.start()
            ready = wait_led(node.port, total, node.started)
        except (TimeoutError, RuntimeError) as exc:
            out[label] = f"not ready: {exc}"
            break
        out[label] = f"first answer {first:.1f} s, all led {ready:.1f} s (stop {stop_s:.1f} s)"
    return out


class _Printing(dict):
    """A dict of figures that prints each as it is measured (a long run keeps what it has)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __setitem__(self, key: str, value: str) -> None:
        print(f"  {self.name}: {key}: {value}", flush=True)
        super().__setitem__(key, value)


def section_partitions(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    rows = {f"{args.partitions} partitions: create ({args.per_request} per request)": "create",
            "Metadata of all partitions (median of 5, v1)": "metadata",
            "broker RSS, partitions idle": "rss",
            f"broker CPU, no client ({args.idle_seconds:.0f} s)": "idle cpu",
            f"broker CPU, idle librdkafka consumer of all ({args.idle_seconds:.0f} s)": "idle consumer",
            "broker CPU, idle kafka-python consumer of all (fetch session)": "idle session",
            "restart after SIGTERM to ready": "restart after SIGTERM",
            "restart after SIGKILL to ready": "restart after SIGKILL"}
    figures: dict[str, dict[str, str]] = {}
    node = kafkapy_node()
    node.start()
    try:
        figures["kafkapy"] = partitions_on(node, args)
    finally:
        node.stop()
        subprocess.run(["rm", "-rf", str(node.workdir)], check=False)
    if args.reference:
        node, _ = reference_node()
        node.start()
        try:
            figures["kafka"] = partitions_on(node, args)
        finally:
            node.stop()
            subprocess.run(["rm", "-rf", str(node.workdir)], check=False)
    return {row: {name: f.get(key, "-") for name, f in figures.items()} for row, key in rows.items()}


def connections_on(port: int, pid: int, n: int, timeout: float = 60.0) -> dict[str, str]:
    import selectors

    from benchmarks.hostile import api_versions_round_trip_ms, open_idle

    before = rss_mib(pid)
    socks, connect_s = open_idle(port, n, in_flight=512)
    start = time.monotonic()
    # Each connection sends one ApiVersions and reads its answer: accepted and served.
    # The answers are awaited together, within ``timeout``: a connection the broker never
    # accepted (dropped from a full backlog) counts as not served.
    request = struct.pack(">hhih", 18, 0, 1, 1) + b"i"
    frame = _I32.pack(len(request)) + request
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(True)
        s.settimeout(5)
        try:
            s.sendall(frame)
        except OSError:
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    answered = 0
    pending = len(sel.get_map())
    while pending and time.monotonic() - start < timeout:
        for key, _ in sel.select(1):
            sock = key.fileobj
            try:
                data = sock.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            sel.unregister(sock)
            pending -= 1
            answered += bool(data)
    served_s = connect_s + time.monotonic() - start
    sel.close()
    time.sleep(1)
    after = rss_mib(pid)
    new_client = max(api_versions_round_trip_ms(port) for _ in range(5))
    for s in socks:
        s.close()
    return {"rate": f"{answered / served_s:.0f}/s ({answered} of {n} served in {served_s:.1f} s)",
            "new": f"{new_client:.1f} ms",
            "mem": f"{(after - before) * 1024 / max(answered, 1):.1f} KiB"}


def section_connections(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    rows = {f"{args.connections} idle connections: opened and served": "rate",
            "a new client's ApiVersions while they are open (max of 5)": "new",
            "broker memory per idle connection": "mem"}
    figures: dict[str, dict[str, str]] = {}
    for label, overrides in (("kafkapy", ()), ("kafkapy backlog 50", ("socket.listen.backlog.size=50",))):
        node = kafkapy_node(memory=True, overrides=overrides)
        node.start()
        try:
            figures[label] = connections_on(node.port, node.pid, args.connections)
            print(f"  {label}: {figures[label]}", flush=True)
        finally:
            node.stop()
            subprocess.run(["rm", "-rf", str(node.workdir)], check=False)
    if args.reference:
        node, _ = reference_node()
        node.start()
        try:
            figures["kafka"] = connections_on(node.port, node.pid, args.connections)
            print(f"  kafka: {figures['kafka']}", flush=True)
        finally:
            node.stop()
            subprocess.run(["rm", "-rf", str(node.workdir)], check=False)
    return {row: {name: f[key] for name, f in figures.items()} for row, key in rows.items()}


def print_table(rows: dict[str, dict[str, str]]) -> None:
    names: list[str] = []
    for cells in rows.values():
        names += [name for name in cells if name not in names]
    width = max(len(row) for row in rows) + 2
    print(f"{'':{width}}" + "".join(f"{name:>44}" for name in names))
    for row, cells in rows.items():
        print(f"{row:{width}}" + "".join(f"{cells.get(name, '-'):>44}" for name in names), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts per start figure (Kafka: half as many)")
    parser.add_argument("--partitions", type=int, default=10_000)
    parser.add_argument("--per-topic", type=int, default=100)
    parser.add_argument("--per-request", type=int, default=2_500)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--no-reference", dest="reference", action="store_false", help="kafkapy only")
    parser.add_argument("--only", default="start,partitions,connections")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the brokers inherit it
    print(f"open files limit {soft} -> {hard}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}", flush=True)
    sections = {"start": section_start, "partitions": section_partitions, "connections": section_connections}
    for name in args.only.split(","):
        print(f"\n== {name}", flush=True)
        print_table(sections[name](args))


if __name__ == "__main__":
    main()
