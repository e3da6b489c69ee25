"""The compatibility matrix as pytest tests, one per (client family, scenario).

The share- and streams-group scenarios (``test_group_scenario``) always run: against a
kafkapy broker on disk that the harness restarts for the share_restart scenario (the
matrix's default command, ``matrix.KAFKAPY_COMMAND``), every family at once, three at a
time, before the first cell is read; a family without a share consumer or Kafka Streams
has n/a cells that skip with the reason. ``test_group_reference_agrees`` runs the same on
Apache Kafka 4.4.0 and asks for the same status in every cell. A cell that failed or
differs is run once more, alone, on a fresh broker before anything is concluded.

The whole matrix (``test_scenario``) runs against the broker chosen by environment:
- KAFKAPY_COMPAT_BOOTSTRAP=HOST:PORT: a broker that is already running;
- KAFKAPY_COMPAT_REFERENCE=1: Apache Kafka 4.x started from Maven Central jars;
- KAFKAPY_COMPAT=1 (and kafkapy.cli importable): a kafkapy broker subprocess started
  with KAFKAPY_BROKER_COMMAND (default: compat_tests.matrix.KAFKAPY_COMMAND);
- KAFKAPY_COMPAT_CLUSTER=kafkapy|reference: a 3-node cluster (compat_tests/clusters.py),
  topics of replication factor 3, and the failover scenario killing its partition's leader.
Otherwise those tests skip. Each client family's driver runs once, all scenarios
in one process (three families at a time; the fault scenarios afterwards, one family
at a time) before the first test; the tests report the cells.
A client that is not installed skips its tests (compat_tests/install.sh installs all).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from compat_tests import brokers, clusters
from compat_tests.clients import CLIENTS, Cell, Client, ClientRun
from compat_tests.matrix import KAFKAPY_COMMAND, Restart, Target, disagreements, run_matrix
from compat_tests.scenarios import GROUP_SCENARIO_NAMES, SCENARIO_NAMES, SHARE_BROKER_CONFIG
from tests.reference import needs_reference

CLUSTER_KINDS = ("kafkapy", "reference")
#: The Kafka release with share groups and streams groups as kafkapy serves them.
GROUP_REFERENCE = "4.4.0"


def _broker_choice() -> str | None:
    if os.environ.get("KAFKAPY_COMPAT_CLUSTER") in CLUSTER_KINDS:
        return "cluster"
    if os.environ.get("KAFKAPY_COMPAT_BOOTSTRAP"):
        return "bootstrap"
    if os.environ.get("KAFKAPY_COMPAT_REFERENCE") == "1":
        return "reference"
    if os.environ.get("KAFKAPY_COMPAT") == "1":
        return "kafkapy" if brokers.kafkapy_available() else None
    return None


CHOICE = _broker_choice()


def _start(kind: str, version: str = brokers.KAFKA_VERSION) -> brokers.BrokerProcess:
    """A kafkapy broker (KAFKAPY_BROKER_COMMAND, else the matrix's) or Apache Kafka
    ``version``, with the share-group settings of the scenarios."""
    if kind == "reference":
        return brokers.start_reference(version=version, overrides=SHARE_BROKER_CONFIG)
    return brokers.start_command(os.environ.get("KAFKAPY_BROKER_COMMAND", KAFKAPY_COMMAND))


@pytest.fixture(scope="module")
def compat_target() -> Iterator[Target]:
    """The broker or cluster under test, started for this module when needed."""
    if CHOICE is None:
        pytest.skip("compatibility matrix not requested: set KAFKAPY_COMPAT=1 (kafkapy broker), "
                    "KAFKAPY_COMPAT_REFERENCE=1 (Apache Kafka), KAFKAPY_COMPAT_CLUSTER=kafkapy|reference "
                    "(3 nodes) or KAFKAPY_COMPAT_BOOTSTRAP=HOST:PORT")
    if CHOICE == "bootstrap":
        yield Target(os.environ["KAFKAPY_COMPAT_BOOTSTRAP"])
        return
    if CHOICE == "cluster":
        with clusters.start_cluster(os.environ["KAFKAPY_COMPAT_CLUSTER"]) as cluster:
            yield Target(cluster.bootstrap_servers, clusters.CLUSTER_REPLICATION_FACTOR, clusters.Failover(cluster))
        return
    with _start(CHOICE) as broker:
        yield Target(broker.bootstrap, faults=Restart(broker))


@pytest.fixture(scope="module")
def client_runs(compat_target: Target) -> dict[str, ClientRun]:
    """Every client family's driver, run once, three at a time, before the first cell is read."""
    runs = run_matrix(compat_target, CLIENTS, SCENARIO_NAMES, jobs=3, timeout=240)
    return {run.client: run for run in runs}


def _conclude(client: Client, cell: Cell) -> None:
    if cell.status == "not installed":
        pytest.skip(f"{client.name} not installed: {cell.detail}")
    if cell.status == "n/a":
        pytest.skip(f"n/a for {client.name}: {cell.detail}")


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
@pytest.mark.parametrize("client", CLIENTS, ids=[c.name for c in CLIENTS])
def test_scenario(client: Client, scenario: str, client_runs: dict[str, ClientRun]) -> None:
    cell = client_runs[client.name].cells[scenario]
    _conclude(client, cell)
    assert cell.status == "pass", f"{client.name} / {scenario}: {cell.detail}"


#: broker kind -> family -> run of the group scenarios; each runs once per session.
_GROUP_RUNS: dict[str, dict[str, ClientRun]] = {}


def _group_matrix(kind: str, clients: list[Client], scenarios: list[str]) -> dict[str, ClientRun]:
    with _start(kind, GROUP_REFERENCE) as broker:
        runs = run_matrix(Target(broker.bootstrap, faults=Restart(broker)), clients, scenarios, jobs=3, timeout=300)
    return {run.client: run for run in runs}


def _group_runs(kind: str) -> dict[str, ClientRun]:
    if kind not in _GROUP_RUNS:
        _GROUP_RUNS[kind] = _group_matrix(kind, CLIENTS, GROUP_SCENARIO_NAMES)
    return _GROUP_RUNS[kind]


def _once_more(kind: str, family: str, scenario: str) -> Cell:
    """One cell run again on a fresh broker: a cell that failed under load (two cores
    shared by every family at once) is run once more before anything is concluded."""
    client = next(c for c in CLIENTS if c.name == family)
    return _group_matrix(kind, [client], [scenario])[family].cells[scenario]


@pytest.mark.parametrize("scenario", GROUP_SCENARIO_NAMES)
@pytest.mark.parametrize("client", CLIENTS, ids=[c.name for c in CLIENTS])
def test_group_scenario(client: Client, scenario: str) -> None:
    cell = _group_runs("kafkapy")[client.name].cells[scenario]
    _conclude(client, cell)
    if cell.status == "fail":
        first, cell = cell, _once_more("kafkapy", client.name, scenario)
        assert cell.status == "pass", f"{client.name} / {scenario}: {first.detail}; again: {cell.detail}"
    assert cell.status == "pass", f"{client.name} / {scenario}: {cell.detail}"


@needs_reference
@pytest.mark.skipif(not (brokers.DEPS / f"kafka-{GROUP_REFERENCE}" / "libs" / f"kafka_2.13-{GROUP_REFERENCE}.jar").exists(),
                    reason=f"Apache Kafka {GROUP_REFERENCE} not installed (compat_tests/install.sh)")
def test_group_reference_agrees() -> None:
    """Every share- and streams-group cell has the status Apache Kafka 4.4's has."""
    differ, failed = disagreements(_group_runs("kafkapy"), _group_runs("reference"), _once_more)
    assert not differ, differ
    assert not failed, f"cells failing on Apache Kafka too: {failed}"
