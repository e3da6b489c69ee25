"""Hostile connections against a broker process, with a canary client that must not notice.

The cases of issue 13, each run while a canary (confluent-kafka: produce one record with
acks=all, consume it back, every 50 ms) keeps working:

* ``headers``: 20 connections each send only a 4-byte size header of 100 MB;
* ``dribble``: 10 connections announce 100 MB frames and dribble bytes into them;
* ``garbage``: thousands of mutated and random request frames on a few connections
  (a connection closed by the broker is opened again);
* ``idle``: 5,000 idle connections opened as fast as possible (non-blocking connects,
  256 in flight), then a new client's ApiVersions round trip while they are open.

For each case it prints the broker's peak RSS (sampled from /proc/<pid>/status every
20 ms, and VmHWM at the end), its RSS after the case, the canary's round trips, errors
and latency (p50/max), whether the canary noticed anything (an error, a lost record or
a round trip over 1 s), and the broker's WARNING/ERROR log lines during the case. For
``idle``: the connect rate and the new client's answer time.

Usage: ``python benchmarks/hostile.py [--broker kafkapy|reference|both] [--cases ...]
[--garbage 20000] [--idle 5000] [--override KEY=VALUE ...]``. Defaults run kafkapy only,
in about a minute; ``--broker both`` adds Apache Kafka 4.1.2 from compat_tests/.deps
(its RSS is the JVM's, with a 256 MiB minimum heap, so only its canary figures compare).
"""

from __future__ import annotations

import argparse
import os
import random
import selectors
import socket
import statistics
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from compat_tests.brokers import (  # noqa: E402
    DEFAULT_KAFKAPY_COMMAND,
    BrokerProcess,
    start_command,
    start_reference,
)

MiB = 1024 * 1024
_I32 = struct.Struct(">i")
CANARY_TOPIC = "canary"
NOTICE_MS = 1000.0


# ---- the broker process --------------------------------------------------------


def proc_status(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure in KiB (VmRSS, VmHWM), -1 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class RssSampler:
    """Samples a process's RSS every 20 ms in a thread; ``peak`` in KiB."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, proc_status(self.pid, "VmRSS"))

    def __enter__(self) -> RssSampler:
        self.peak = proc_status(self.pid, "VmRSS")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def log_problems(path: Path, offset: int) -> tuple[int, int]:
    """WARNING/ERROR lines (and the new end offset) of a broker log after ``offset``."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return 0, offset
    count = sum(1 for line in data.splitlines() if b" WARN" in line or b" ERROR" in line)
    return count, offset + len(data)


def log_of(broker: BrokerProcess) -> Path:
    if broker.workdir is not None and (broker.workdir / "server.log").exists():
        return broker.workdir / "server.log"
    return broker.log_path


# ---- the canary ------------------------------------------------------------------


class Canary:
    """Produces a record and consumes it back, every 50 ms, in a thread."""

    def __init__(self, bootstrap: str) -> None:
        from confluent_kafka import Consumer, Producer, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": bootstrap})
        futures = admin.create_topics([NewTopic(CANARY_TOPIC, 1, 1)])
        for future in futures.values():
            try:
                future.result(30)
            except Exception as exc:  # noqa: BLE001 - exists already is fine
                if "already exists" not in str(exc).lower():
                    raise
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": "canary", "enable.auto.commit": False,
            "fetch.wait.max.ms": 10, "auto.offset.reset": "latest",
        })
        self.consumer.assign([TopicPartition(CANARY_TOPIC, 0, -1)])  # OFFSET_END
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self.reset()
        # Warm up: the first round trip includes metadata and the consumer's offset.
        for _ in range(100):
            if self._round_trip(timeout=5.0) is not None:
                break

    def reset(self) -> None:
        with self._lock:
            self.latencies: list[float] = []
            self.errors: list[str] = []

    def _round_trip(self, timeout: float = NOTICE_MS / 1000 * 5) -> float | None:
        self._seq += 1
        value = b"canary-%d" % self._seq
        errors: list[str] = []
        start = time.perf_counter()
        self.producer.produce(CANARY_TOPIC, value, partition=0,
                              on_delivery=lambda err, msg: err and errors.append(str(err)))
        self.producer.flush(timeout)
        if errors:
            self.errors.append("produce: " + errors[0])
            return None
        deadline = start + timeout
        while time.perf_counter() < deadline:
            msg = self.consumer.poll(0.05)
            if msg is None:
                continue
            if msg.error():
                self.errors.append(f"consume: {msg.error()}")
                continue
            if msg.value() == value:
                return (time.perf_counter() - start) * 1000
        self.errors.append(f"record {self._seq} not consumed within {timeout:.0f} s")
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            latency = self._round_trip()
            if latency is not None:
                with self._lock:
                    self.latencies.append(latency)
            self._stop.wait(0.05)

    def start(self) -> None:
        self.reset()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, object]:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        lat = sorted(self.latencies)
        noticed = bool(self.errors) or not lat or lat[-1] > NOTICE_MS
        return {
            "round trips": len(lat),
            "errors": len(self.errors),
            "p50 ms": statistics.median(lat) if lat else float("nan"),
            "max ms": lat[-1] if lat else float("nan"),
            "noticed": "YES" if noticed else "no",
            "first error": self.errors[0] if self.errors else "",
        }

    def close(self) -> None:
        self.consumer.close()


# ---- hostile clients -----------------------------------------------------------------


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def case_headers(port: int, seconds: float = 3.0) -> dict[str, object]:
    """20 connections, each only a 4-byte size header of 100 MB."""
    socks = [_connect(port) for _ in range(20)]
    for s in socks:
        s.sendall(_I32.pack(100 * 1000 * 1000))
    time.sleep(seconds)
    for s in socks:
        s.close()
    return {}


def case_dribble(port: int, seconds: float = 5.0, chunk: int = 16 * 1024) -> dict[str, object]:
    """10 connections announcing 100 MB frames, each sending ``chunk`` bytes every 20 ms."""
    socks = [_connect(port) for _ in range(10)]
    for s in socks:
        s.sendall(_I32.pack(100 * 1000 * 1000) + struct.pack(">hhi", 0, 9, 1))
        s.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    payload = b"\x00" * chunk
    while time.monotonic() < deadline:
        for s in socks:
            try:
                sent += s.send(payload)
            except (BlockingIOError, OSError):
                pass
        time.sleep(0.02)
    for s in socks:
        s.close()
    return {"sent MiB": sent / MiB}


def _valid_requests() -> list[bytes]:
    """Seed frames (without size) to mutate: ApiVersions v3, Metadata v1, a Produce v3."""
    api_versions = struct.pack(">hhih", 18, 3, 1, 7) + b"hostile" + b"\x00" + b"\x02a\x021\x00"
    metadata = struct.pack(">hhih", 3, 1, 2, 7) + b"hostile" + struct.pack(">i", -1)
    records = (struct.pack(">qiib", 0, 49, 0, 2) + b"\x00" * 4 + struct.pack(">hiqqqhii", 0, 0, 0, 0, -1, -1, -1, 1)
               + b"\x0e\x00\x00\x00\x01\x02x\x00")
    produce = (struct.pack(">hhih", 0, 3, 3, 7) + b"hostile" + struct.pack(">hhii", -1, 1, 1000, 1)
               + struct.pack(">h", len(CANARY_TOPIC)) + CANARY_TOPIC.encode()
               + struct.pack(">iii", 1, 5, len(records)) + records)
    return [api_versions, metadata, produce]


def case_garbage(port: int, count: int, seed: int = 13) -> dict[str, object]:
    """``count`` mutated or random frames on 8 connections, reopened when closed."""
    rng = random.Random(seed)
    corpus = _valid_requests()
    socks: list[socket.socket | None] = [None] * 8
    reconnects = 0
    sent = 0
    while sent < count:
        i = sent % len(socks)
        base = bytearray(rng.choice(corpus))
        kind = rng.random()
        if kind < 0.1:
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(8, 64)))
        else:
            for _ in range(rng.randint(1, 4)):
                base[rng.randrange(len(base))] = rng.getrandbits(8)
            body = bytes(base)
        size = len(body) if rng.random() > 0.05 else rng.choice([-1, 0, 3, 1 << 30])
        s = socks[i]
        try:
            if s is None:
                s = socks[i] = _connect(port)
                s.setblocking(False)
                reconnects += 1
            s.send(_I32.pack(size) + body)
            try:
                while s.recv(65536):
                    pass
            except BlockingIOError:
                pass
        except OSError:
            if s is not None:
                s.close()
            socks[i] = None
            continue
        sent += 1
    for s in socks:
        if s is not None:
            s.close()
    return {"frames": sent, "connections": reconnects}


def open_idle(port: int, n: int, in_flight: int = 256, timeout: float = 90.0) -> tuple[list[socket.socket], float]:
    """Open ``n`` connections with non-blocking connects; (sockets, seconds taken)."""
    sel = selectors.DefaultSelector()
    done: list[socket.socket] = []
    pending = started = 0
    t0 = time.perf_counter()
    while len(done) < n and time.perf_counter() - t0 < timeout:
        while pending < in_flight and started < n:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_WRITE)
            pending += 1
            started += 1
        for key, _ in sel.select(1):
            s = key.fileobj  # type: ignore[assignment]
            sel.unregister(s)
            pending -= 1
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                done.append(s)
            else:
                s.close()
                started -= 1
    return done, time.perf_counter() - t0


def api_versions_round_trip_ms(port: int) -> float:
    """Connect and send ApiVersions v0; ms until the answer's first bytes arrive."""
    request = struct.pack(">hhih", 18, 0, 99, 1) + b"c"
    start = time.perf_counter()
    with _connect(port) as s:
        s.sendall(_I32.pack(len(request)) + request)
        if not s.recv(4):
            return float("nan")
    return (time.perf_counter() - start) * 1000


def case_idle(port: int, n: int) -> dict[str, object]:
    socks, seconds = open_idle(port, n)
    time.sleep(0.5)
    answer_ms = [api_versions_round_trip_ms(port) for _ in range(5)]
    for s in socks:
        s.close()
    return {
        "connected": len(socks),
        "connect s": seconds,
        "per s": len(socks) / seconds if seconds else float("nan"),
        "new client answered ms (max of 5)": max(answer_ms),
    }


# ---- the run ----------------------------------------------------------------------


def run_cases(name: str, broker: BrokerProcess, cases: list[str], args: argparse.Namespace) -> None:
    pid = broker.proc.pid
    log_path = log_of(broker)
    _, offset = log_problems(log_path, 0)
    canary = Canary(broker.bootstrap)
    bodies: dict[str, Callable[[], dict[str, object]]] = {
        "headers": lambda: case_headers(broker.port),
        "dribble": lambda: case_dribble(broker.port),
        "garbage": lambda: case_garbage(broker.port, args.garbage),
        "idle": lambda: case_idle(broker.port, args.idle),
    }
    print(f"\n== {name} (pid {pid}), idle RSS {proc_status(pid, 'VmRSS') / 1024:.0f} MiB")
    try:
        for case in cases:
            canary.start()
            started = time.perf_counter()
            with RssSampler(pid) as rss:
                extra = bodies[case]()
                time.sleep(0.5)
            seconds = time.perf_counter() - started
            result = canary.stop()
            problems, offset = log_problems(log_path, offset)
            row = {
                "case": case,
                "seconds": seconds,
                "peak RSS MiB": rss.peak / 1024,
                "RSS after MiB": proc_status(pid, "VmRSS") / 1024,
                **result,
                "log WARN/ERROR lines": problems,
                **extra,
            }
            print("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items() if v != ""))
            if broker.proc.poll() is not None:
                print(f"  broker exited with {broker.proc.returncode}")
                return
        print(f"  VmHWM (peak RSS of the whole run): {proc_status(pid, 'VmHWM') / 1024:.0f} MiB")
    finally:
        canary.close()


def _fmt(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", choices=["kafkapy", "reference", "both"], default="kafkapy")
    parser.add_argument("--cases", nargs="+", default=["headers", "dribble", "garbage", "idle"],
                        choices=["headers", "dribble", "garbage", "idle"])
    parser.add_argument("--garbage", type=int, default=20_000, help="garbage frames (default 20000)")
    parser.add_argument("--idle", type=int, default=5000, help="idle connections (default 5000)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a broker setting for both brokers (repeatable)")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.override)
    print(f"hostile.py: cases {' '.join(args.cases)}; garbage={args.garbage} idle={args.idle} "
          f"overrides={overrides or '{}'}; RLIMIT_NOFILE of this process "
          f"{__import__('resource').getrlimit(__import__('resource').RLIMIT_NOFILE)}")
    if args.broker in ("kafkapy", "both"):
        command = DEFAULT_KAFKAPY_COMMAND + "".join(f" --override {k}={v}" for k, v in overrides.items())
        with start_command(command) as broker:
            run_cases("kafkapy", broker, args.cases, args)
    if args.broker in ("reference", "both"):
        with start_reference(overrides=overrides) as broker:
            run_cases("Apache Kafka 4.1.2", broker, args.cases, args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
