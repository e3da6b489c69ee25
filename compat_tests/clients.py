"""The client families of the matrix: how to run each driver, and whether it is installed.

Every driver is a separate process speaking the protocol of compat_tests/driver.py,
so a hung or crashing client costs its own column, never the whole run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from compat_tests.scenarios import KNOWN_SCENARIO_NAMES, SCENARIO_NAMES, SHARE_SCENARIO_NAMES

HERE = Path(__file__).resolve().parent
BIN = HERE / ".deps" / "bin"
JS = HERE / "js"
JAVA = HERE / "java" / "target"
JAVA_41 = HERE / "java" / "target-4.1"


@dataclass
class Cell:
    """One (client, scenario) outcome: pass, fail, n/a or not installed."""

    status: str
    detail: str = ""


@dataclass
class ClientRun:
    """What one driver run produced."""

    client: str
    version: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class Client:
    name: str
    argv: Callable[[], list[str]]
    missing: Callable[[], str | None]  # why it cannot run here, or None
    #: scenario -> why the client cannot express it: an n/a cell without running the driver
    lacks: dict[str, str] = field(default_factory=dict)


def _python(module: str) -> Callable[[], list[str]]:
    return lambda: [sys.executable, "-m", f"compat_tests.python.{module}"]


def _needs_module(*modules: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        absent = [m for m in modules if importlib.util.find_spec(m) is None]
        return f"Python package {', '.join(absent)} not installed" if absent else None

    return missing


def _needs_path(path: Path, what: str) -> Callable[[], str | None]:
    return lambda: None if path.exists() else f"{what} not built ({path.relative_to(HERE)} missing)"


def _needs_node(package: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        if shutil.which("node") is None:
            return "node not installed"
        if not (JS / "node_modules" / package / "package.json").exists():
            return f"npm package {package} not installed (compat_tests/js)"
        return None

    return missing


def _needs_all(*checks: Callable[[], str | None]) -> Callable[[], str | None]:
    return lambda: next((reason for reason in (c() for c in checks) if reason), None)


NO_STREAMS = "Kafka Streams (and its streams group protocol, KIP-1071) is a Java library"


def _lacks(share: str | None, streams: str | None = NO_STREAMS) -> dict[str, str]:
    """The group scenarios a family cannot express, with why: the share ones and the
    streams one (None: it can)."""
    return {**({s: share for s in SHARE_SCENARIO_NAMES} if share else {}),
            **({"streams_group": streams} if streams else {})}


def _java(target: Path) -> Callable[[], list[str]]:
    return lambda: ["java", "-cp", f"{target / 'compat-java.jar'}{os.pathsep}{target / 'lib'}/*", "kafkapy.compat.Main"]


def _needs_java(target: Path) -> Callable[[], str | None]:
    return _needs_all(lambda: None if shutil.which("java") else "java not installed",
                      _needs_path(target / "compat-java.jar", "Java driver"))


CLIENTS: list[Client] = [
    Client("confluent-kafka", _python("confluent"), _needs_module("confluent_kafka"), _lacks(None)),
    Client("kafka-python", _python("kafka_python"), _needs_module("kafka", "snappy"),
           _lacks("kafka-python has no share consumer")),
    Client("aiokafka", _python("aiokafka_driver"), _needs_module("aiokafka"), _lacks("aiokafka has no share consumer")),
    Client("kcat", _python("kcat"), lambda: None if shutil.which("kcat") else "kcat not installed (apt-get install kcat)",
           _lacks("kcat 1.7 has no share-consumer mode, and its librdkafka (2.0, Debian) predates the share consumer")),
    Client("kafkajs", lambda: ["node", str(JS / "kafkajs.js")], _needs_node("kafkajs"),
           _lacks("kafkajs has no share consumer")),
    Client(
        "confluent-js",
        lambda: ["node", str(JS / "confluent.js")],
        _needs_all(
            _needs_node("@confluentinc/kafka-javascript"),
            _needs_path(JS / "node_modules/@confluentinc/kafka-javascript/build/Release", "native addon"),
        ),
        _lacks("@confluentinc/kafka-javascript 1.10 does not bind librdkafka's share consumer"),
    ),
    Client("java", _java(JAVA), _needs_java(JAVA)),
    # The same driver built against kafka-clients 4.1.2 (install.sh): older clients stay
    # proven over the classic scenarios.
    Client("java-4.1", _java(JAVA_41), _needs_java(JAVA_41),
           _lacks("share groups are run with kafka-clients 4.4 (the java column); this one keeps"
                  " the 4.1 client proven on the classic scenarios", "run with Kafka Streams 4.4 (the java column)")),
    Client("franz-go", lambda: [str(BIN / "franz")], _needs_path(BIN / "franz", "franz-go driver"), _lacks(None)),
    Client("sarama", lambda: [str(BIN / "sarama")], _needs_path(BIN / "sarama", "sarama driver"),
           _lacks("sarama has no share consumer")),
]
CLIENT_NAMES = [c.name for c in CLIENTS]


#: The answer to a fault request when the harness has no cluster to act on.
NO_FAULTS = {"fault": "none", "reason": "the harness makes no faults here: it runs against a broker"
             " it did not start (run the matrix with --start-kafkapy-cluster or --start-reference-cluster)"}

FaultHandler = Callable[[dict], dict]


def run_client(client: Client, bootstrap: str, scenarios: list[str], timeout: float, *,
               replication_factor: int | None = None, faults: FaultHandler | None = None,
               security_file: str | None = None) -> ClientRun:
    """Run one driver over ``scenarios``; every scenario gets a cell whatever happens.

    ``replication_factor`` is passed to the driver (the topics it creates); ``faults``
    answers the driver's fault requests (``compat_tests/driver.py``), else they are
    answered with :data:`NO_FAULTS`. ``security_file`` is the driver's ``--security``
    (compat_tests/security.py).
    """
    result = ClientRun(client.name)
    reason = client.missing()
    if reason:
        result.cells = {s: Cell("not installed", reason) for s in scenarios}
        return result
    result.cells = {s: Cell("n/a", client.lacks[s]) for s in scenarios if s in client.lacks}
    scenarios = [s for s in scenarios if s not in client.lacks]
    if not scenarios:
        return result
    started = time.monotonic()
    argv = [*client.argv(), "--bootstrap", bootstrap, "--scenarios", ",".join(scenarios)]
    if replication_factor is not None:
        argv += ["--replication-factor", str(replication_factor)]
    if security_file is not None:
        argv += ["--security", security_file]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=HERE.parent, env=env, start_new_session=True)
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr or ()), daemon=True)
    reader.start()
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    watchdog = threading.Timer(timeout, kill)
    watchdog.start()
    try:
        for line in proc.stdout or ():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if not isinstance(item, dict):
                continue
            if "version" in item:
                result.version = item["version"]
            elif "await" in item:
                answer = faults(item) if faults is not None else NO_FAULTS
                with contextlib.suppress(BrokenPipeError, OSError, ValueError):
                    assert proc.stdin is not None
                    proc.stdin.write(json.dumps(answer) + "\n")
                    proc.stdin.flush()
            elif item.get("scenario") in scenarios:
                result.cells[item["scenario"]] = Cell(item["status"], item.get("detail", ""))
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            kill()
            proc.wait()
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        reader.join(5)
    ended = f"killed after {timeout:.0f}s" if killed.is_set() else f"exited {proc.returncode}"
    result.seconds = time.monotonic() - started
    tail = " | ".join("".join(stderr).strip().splitlines()[-3:])[-300:]
    for scenario in scenarios:
        result.cells.setdefault(scenario, Cell("fail", f"no result: driver {ended}; {tail}".strip()))
    return result


def merge(runs: list[ClientRun]) -> ClientRun:
    """One family's runs (over disjoint scenarios) as one run."""
    merged = ClientRun(runs[0].client)
    for run in runs:
        merged.version = merged.version or run.version
        merged.cells.update(run.cells)
        merged.seconds += run.seconds
    return merged


def resolve(names: str) -> list[Client]:
    if names == "all":
        return list(CLIENTS)
    wanted = names.split(",")
    unknown = [n for n in wanted if n not in CLIENT_NAMES]
    if unknown:
        raise ValueError(f"unknown clients {unknown}; known: {CLIENT_NAMES}")
    return [c for c in CLIENTS if c.name in wanted]


def resolve_scenarios(names: str) -> list[str]:
    if names == "all":
        return list(SCENARIO_NAMES)
    wanted = names.split(",")
    unknown = [n for n in wanted if n not in KNOWN_SCENARIO_NAMES]
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}")
    return wanted
