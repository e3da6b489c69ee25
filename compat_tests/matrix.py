"""Run the compatibility matrix and print it: rows are scenarios, columns client families.

    python -m compat_tests.matrix --bootstrap HOST:PORT     # a broker already running
    python -m compat_tests.matrix --start-reference         # Apache Kafka 4.x from Maven Central
    python -m compat_tests.matrix --start-kafkapy [--broker-command CMD]
    python -m compat_tests.matrix --start-kafkapy-cluster [--nodes 3]   # kafkapy.testing.Cluster
    python -m compat_tests.matrix --start-reference-cluster [--nodes 3] # Apache Kafka, 3 nodes
    python -m compat_tests.matrix --start-kafkapy --security sasl_ssl_scram512|mtls [--start-reference]

With --security the broker (kafkapy or, with --start-reference, Apache Kafka with the same
properties) serves clients over SASL_SSL with SCRAM-SHA-512 or over mTLS, runs the
StandardAuthorizer, and every family's principal holds exactly the ACLs of each scenario;
the negative scenarios (wrong password, missing ACLs) join the set (compat_tests/security.py).

On a cluster the drivers create their topics with replication factor 3 (--replication-factor),
the internal topics have it too (compat_tests/clusters.py), and the failover scenario runs
last, one client family at a time, with the harness killing its partition's leader.

Exit status 1 if any cell failed (and, with --require-installed, if any client is not
installed); 0 otherwise. n/a cells name what the client cannot express.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from compat_tests import brokers, clusters, security
from compat_tests.clients import Cell, Client, ClientRun, FaultHandler, merge, resolve, resolve_scenarios, run_client
from compat_tests.scenarios import SCENARIO_NAMES, SECURITY_SCENARIO_NAMES, SHARE_BROKER_CONFIG

SHORT = {"pass": "pass", "fail": "FAIL", "n/a": "n/a", "not installed": "-"}
#: Scenarios that ask the harness for a fault: they run last, one family at a time on a
#: cluster, all together on one broker (:class:`Restart`).
FAULT_SCENARIOS = ("failover", "share_restart")
#: The kafkapy broker the matrix starts: on disk, so that the share_restart scenario's
#: restart keeps the share-group state, and with the share-group settings of the scenarios.
KAFKAPY_COMMAND = brokers.DEFAULT_KAFKAPY_COMMAND.replace(" --memory", " --override log.dirs={data}") + "".join(
    f" --override {key}={value}" for key, value in SHARE_BROKER_CONFIG.items())


class Restart:
    """Answers the share_restart scenario's fault requests by restarting the one broker the
    harness started (SIGTERM, then the same command, data kept); the failover scenario
    needs a cluster. The families run the scenario together: the requests of the
    ``gather``-ed families meet, and the broker restarts once for all of them (a family
    that fails before asking breaks the meeting; each waiting one then has its own)."""

    #: How long the first request waits for the other families'.
    GATHER_S = 90.0

    def __init__(self, broker: brokers.BrokerProcess, log: Callable[[str], None] = lambda line: None) -> None:
        self.broker = broker
        self.log = log
        self._barrier = threading.Barrier(1)
        self._lock = threading.Lock()
        self._answer: dict[str, str] = {}

    def gather(self, families: int) -> None:
        """The next ``families`` requests are answered by one restart."""
        self._barrier = threading.Barrier(max(1, families), action=self._restart)

    def _restart(self) -> None:
        took = self.broker.restart()
        self.log(f"# share_restart: broker restarted, answering again after {took:.1f}s")
        self._answer = {"fault": "done", "detail": f"broker restarted (answering again after {took:.1f}s)"}

    def __call__(self, request: Mapping[str, Any]) -> dict[str, str]:
        if request.get("fault") != "restart":
            return {"fault": "none", "reason": "needs a cluster (--start-kafkapy-cluster or --start-reference-cluster)"}
        if "--memory" in self.broker.argv:
            return {"fault": "none", "reason": "the broker keeps its data in memory (--memory): a restart loses it"}
        try:
            self._barrier.wait(self.GATHER_S)
        except threading.BrokenBarrierError:
            with self._lock:
                self._restart()
        return self._answer


@dataclass
class Target:
    """The broker or cluster under test: where clients connect, what replication factor
    their topics get, and who answers fault requests (None: no one can)."""

    bootstrap: str
    replication_factor: int | None = None
    faults: FaultHandler | None = None
    #: a secured run's broker: the families' --security files and the mode's n/a cells
    secured: security.SecuredBroker | None = None


@contextlib.contextmanager
def broker_for(args: argparse.Namespace) -> Iterator[Target]:
    """Yield the broker under test, starting it if asked."""
    if args.bootstrap:
        yield Target(args.bootstrap, args.replication_factor)
        return
    started = time.monotonic()
    if args.security != "plaintext":
        if not (args.start_kafkapy or args.start_reference):
            raise SystemExit("--security needs --start-kafkapy or --start-reference (one broker it configures)")
        kind = "reference" if args.start_reference else "kafkapy"
        with security.start(args.security, kind, [c.name for c in args.client_list], args.scenario_list) as secured:
            label = f"Apache Kafka {brokers.KAFKA_VERSION}" if kind == "reference" else "kafkapy serve --memory"
            print(f"# broker: {label} at {secured.bootstrap}, {security.describe(args.security)},"
                  f" ready in {time.monotonic() - started:.1f}s", flush=True)
            yield Target(secured.bootstrap, args.replication_factor, secured=secured)
        return
    if args.start_kafkapy_cluster or args.start_reference_cluster:
        kind = "kafkapy" if args.start_kafkapy_cluster else "reference"
        label = f"{'kafkapy' if kind == 'kafkapy' else f'Apache Kafka {brokers.KAFKA_VERSION}'}" \
                f" cluster of {args.nodes} nodes (KRaft, combined nodes)"
        with clusters.start_cluster(kind, args.nodes) as cluster:
            print(f"# broker: {label} at {cluster.bootstrap_servers}, ready in {time.monotonic() - started:.1f}s",
                  flush=True)
            rf = args.replication_factor or min(args.nodes, clusters.CLUSTER_REPLICATION_FACTOR)
            yield Target(cluster.bootstrap_servers, rf, clusters.Failover(cluster, log=lambda line: print(line, flush=True)))
        return
    if args.start_reference:
        broker = brokers.start_reference(version=args.kafka_version, overrides=SHARE_BROKER_CONFIG)
        label = f"Apache Kafka {args.kafka_version} (KRaft, combined node)"
    else:
        broker = brokers.start_command(args.broker_command)
        label = f"kafkapy ({args.broker_command.split(' --')[0]})"
    print(f"# broker: {label} at {broker.bootstrap}, ready in {time.monotonic() - started:.1f}s", flush=True)
    try:
        yield Target(broker.bootstrap, args.replication_factor, Restart(broker, lambda line: print(line, flush=True)))
    finally:
        broker.stop()


def run_matrix(target: Target, clients: list[Client], scenarios: list[str], jobs: int,
               timeout: float) -> list[ClientRun]:
    """Every client family over ``scenarios``, ``jobs`` families at a time; with a fault
    handler, the fault scenarios run afterwards: one family at a time on a cluster (see
    clusters.py), all families together on one broker (:class:`Restart`)."""
    with_faults = [s for s in scenarios if s in FAULT_SCENARIOS] if target.faults else []
    plain = [s for s in scenarios if s not in with_faults]

    decided: dict[str, Cell] = {}
    if target.secured is not None:
        reasons = {**security.NOT_SECURED, **security.NOT_APPLICABLE.get(target.secured.mode, {})}
        decided = {s: Cell("n/a", reasons[s]) for s in scenarios if s in reasons}

    def run(client: Client, names: list[str], faults: FaultHandler | None) -> ClientRun:
        if target.secured is None:
            return run_client(client, target.bootstrap, names, timeout,
                              replication_factor=target.replication_factor, faults=faults)
        todo = [s for s in names if s not in decided]
        one = run_client(client, target.bootstrap, todo, timeout, replication_factor=target.replication_factor,
                         security_file=target.secured.settings_file(client.name)) if todo else ClientRun(client.name)
        return merge([one, ClientRun(client.name, cells=dict(decided))])

    runs: list[ClientRun] = []
    if plain:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            runs = list(pool.map(lambda c: run(c, plain, None), clients))
    if with_faults:
        if isinstance(target.faults, Restart):
            # One broker: the families restart it together (the failover scenario is n/a).
            target.faults.gather(sum(1 for c in clients if "share_restart" in with_faults
                                     and "share_restart" not in c.lacks and not c.missing()))
            with ThreadPoolExecutor(max_workers=max(1, len(clients))) as pool:
                later = list(pool.map(lambda c: run(c, with_faults, target.faults), clients))
        else:
            later = [run(c, with_faults, target.faults) for c in clients]
        runs = [merge([a, b]) for a, b in zip(runs, later)] if runs else later
    for one in runs:
        one.cells = {s: one.cells[s] for s in scenarios}
    return runs


def disagreements(ours: dict[str, ClientRun], theirs: dict[str, ClientRun],
                  once_more: Callable[[str, str, str], Cell]) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """kafkapy's and Apache Kafka's runs of one matrix (family -> run) compared: the cells
    whose status differs, and those failing on Kafka too. A cell that differs or failed is
    first run once more on both (``once_more(kind, family, scenario)``, kind "kafkapy" or
    "reference"): two cores shared by every family at once make a rare timing failure."""
    cells = {(family, scenario): (cell, theirs[family].cells[scenario])
             for family, run in ours.items() for scenario, cell in run.cells.items()}
    for (family, scenario), (a, b) in list(cells.items()):
        if a.status != b.status or "fail" in (a.status, b.status):
            cells[family, scenario] = (once_more("kafkapy", family, scenario), once_more("reference", family, scenario))
    differ = {key: f"kafkapy {a.status} ({a.detail[:150]}) vs Kafka {b.status} ({b.detail[:150]})"
              for key, (a, b) in cells.items() if a.status != b.status}
    failed = {key: b.detail for key, (_, b) in cells.items() if b.status == "fail"}
    return differ, failed


def render(runs: list[ClientRun], scenarios: list[str]) -> str:
    """The matrix as a fixed-width table, then one note per cell that did not pass."""
    notes: list[str] = []
    marks: dict[tuple[str, str], str] = {}
    for scenario in scenarios:
        for run in runs:
            cell = run.cells[scenario]
            mark = SHORT.get(cell.status, cell.status)
            if cell.status != "pass":
                notes.append(f"  [{len(notes) + 1}] {run.client} / {scenario}: {cell.status}: {cell.detail}")
                mark = f"{mark}[{len(notes)}]"
            marks[run.client, scenario] = mark
    width = max(len(s) for s in scenarios)
    cols = [max(len(r.client), *(len(marks[r.client, s]) for s in scenarios)) for r in runs]
    lines = [" | ".join([" " * width, *(r.client.ljust(w) for r, w in zip(runs, cols))]).rstrip()]
    lines.append("-+-".join(["-" * width, *("-" * w for w in cols)]))
    for scenario in scenarios:
        row = [scenario.ljust(width), *(marks[r.client, scenario].ljust(w) for r, w in zip(runs, cols))]
        lines.append(" | ".join(row).rstrip())
    lines.append("")
    lines.append("clients: " + "; ".join(f"{r.client}={r.version or '?'} ({r.seconds:.0f}s)" for r in runs))
    if notes:
        lines.append("notes (- = not installed):")
        lines.extend(notes)
    return "\n".join(lines)


def render_compared(sides: dict[str, list[ClientRun]], scenarios: list[str]) -> tuple[str, int]:
    """Two brokers' runs side by side, each cell ``kafkapy/reference``; then one note per
    cell where they differ or that failed. Also returns how many cells differ."""
    (left, lruns), (right, rruns) = sides.items()
    notes: list[str] = []
    marks: dict[tuple[str, str], str] = {}
    differ = 0
    for scenario in scenarios:
        for a, b in zip(lruns, rruns):
            ca, cb = a.cells[scenario], b.cells[scenario]
            mark = f"{SHORT.get(ca.status, ca.status)}/{SHORT.get(cb.status, cb.status)}"
            if ca.status != cb.status:
                differ += 1
                notes.append(f"  [{len(notes) + 1}] {a.client} / {scenario}: DIFFERS: {left}: {ca.status} {ca.detail}"
                             f" | {right}: {cb.status} {cb.detail}")
                mark = f"{mark}[{len(notes)}]"
            elif ca.status == "fail":
                notes.append(f"  [{len(notes) + 1}] {a.client} / {scenario}: {left}: {ca.detail}"
                             f" | {right}: {cb.detail}")
                mark = f"{mark}[{len(notes)}]"
            marks[a.client, scenario] = mark
    width = max(len(s) for s in scenarios)
    cols = [max(len(r.client), *(len(marks[r.client, s]) for s in scenarios)) for r in lruns]
    lines = [f"cells: {left}/{right}",
             " | ".join([" " * width, *(r.client.ljust(w) for r, w in zip(lruns, cols))]).rstrip(),
             "-+-".join(["-" * width, *("-" * w for w in cols)])]
    for scenario in scenarios:
        lines.append(" | ".join([scenario.ljust(width), *(marks[r.client, scenario].ljust(w)
                                                          for r, w in zip(lruns, cols))]).rstrip())
    lines.append("")
    lines.append("clients: " + "; ".join(f"{r.client}={r.version or '?'}" for r in lruns))
    if notes:
        lines.append("notes (- = not installed):")
        lines.extend(notes)
    return "\n".join(lines), differ


def summary(runs: list[ClientRun]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "n/a": 0, "not installed": 0}
    for run in runs:
        for cell in run.cells.values():
            counts[cell.status] = counts.get(cell.status, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat_tests.matrix", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--bootstrap", help="HOST:PORT of a running broker")
    where.add_argument("--start-reference", action="store_true", help="start Apache Kafka from Maven Central jars")
    where.add_argument("--start-kafkapy", action="store_true", help="start a kafkapy broker with --broker-command")
    where.add_argument("--start-kafkapy-cluster", action="store_true",
                       help="start a kafkapy.testing.Cluster of --nodes nodes (RF 3, failover)")
    where.add_argument("--start-reference-cluster", action="store_true",
                       help="start an Apache Kafka cluster of --nodes nodes from the reference jars")
    parser.add_argument("--nodes", type=int, default=3, help="nodes of a started cluster (default 3)")
    parser.add_argument("--replication-factor", type=int, default=None,
                        help="of the topics the drivers create; -1 for the broker default"
                             " (default: 3 on a started cluster, else the drivers' 1)")
    parser.add_argument("--broker-command", default=os.environ.get("KAFKAPY_BROKER_COMMAND", KAFKAPY_COMMAND),
                        help="command template with {python}, {port} and {data} (default: %(default)s)")
    parser.add_argument("--kafka-version", default=brokers.KAFKA_VERSION, help="reference Kafka version")
    parser.add_argument("--clients", default="all", help="comma-separated client families, or all")
    parser.add_argument("--scenarios", default="all",
                        help="comma-separated scenarios, all, or core (a secured run's: compat_tests/security.py)")
    parser.add_argument("--jobs", type=int, default=3, help="client families run at once (default 3)")
    parser.add_argument("--client-timeout", type=float, default=180, help="seconds one client family may take (a healthy run takes under 20)")
    parser.add_argument("--require-installed", action="store_true", help="a client that is not installed fails the run")
    parser.add_argument("--security", choices=security.MODES, default="plaintext",
                        help="client listener and ACLs of a started broker (compat_tests/security.py)")
    parser.add_argument("--compare-reference", action="store_true",
                        help="with --start-kafkapy: run the same matrix on Apache Kafka with the same settings"
                             " too, and print both side by side (exit 1 if a cell differs)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.compare_reference and not args.start_kafkapy:
        parser.error("--compare-reference needs --start-kafkapy")
    if args.security != "plaintext" and args.scenarios == "all":
        args.scenarios = ",".join([*SCENARIO_NAMES, *SECURITY_SCENARIO_NAMES])
    elif args.scenarios == "core":
        args.scenarios = ",".join(security.CORE_SCENARIOS)
    clients, scenarios = resolve(args.clients), resolve_scenarios(args.scenarios)
    args.client_list, args.scenario_list = clients, scenarios

    started = time.monotonic()
    if args.compare_reference:
        sides: dict[str, list[ClientRun]] = {}
        for kind in ("kafkapy", "reference"):
            args.start_kafkapy, args.start_reference = kind == "kafkapy", kind == "reference"
            with broker_for(args) as target:
                sides[kind] = run_matrix(target, clients, scenarios, args.jobs, args.client_timeout)
        table, differ = render_compared(sides, scenarios)
        print(table)
        counts = summary(sides["kafkapy"])
        print(f"matrix: kafkapy {counts['pass']} passed, {counts['fail']} failed, {counts['n/a']} n/a;"
              f" {differ} cells differ from Apache Kafka's, in {time.monotonic() - started:.0f}s")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({kind: {r.client: {s: vars(c) for s, c in r.cells.items()} for r in runs}
                           for kind, runs in sides.items()}, f, indent=1)
        missing = args.require_installed and counts["not installed"]
        return 1 if differ or counts["fail"] or summary(sides["reference"])["fail"] or missing else 0
    with broker_for(args) as target:
        runs = run_matrix(target, clients, scenarios, args.jobs, args.client_timeout)
    print(render(runs, scenarios))
    counts = summary(runs)
    print(f"matrix: {counts['pass']} passed, {counts['fail']} failed, {counts['n/a']} n/a, "
          f"{counts['not installed']} not installed in {time.monotonic() - started:.0f}s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({r.client: {"version": r.version, "seconds": round(r.seconds, 1),
                                  "cells": {s: vars(c) for s, c in r.cells.items()}} for r in runs}, f, indent=1)
    failed = counts["fail"] or (args.require_installed and counts["not installed"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
