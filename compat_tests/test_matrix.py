"""The compatibility matrix as pytest tests, one per (client family, scenario).

The broker under test is chosen by environment:
- KAFKAPY_COMPAT_BOOTSTRAP=HOST:PORT: a broker that is already running;
- KAFKAPY_COMPAT_REFERENCE=1: Apache Kafka 4.x started from Maven Central jars;
- KAFKAPY_COMPAT=1 (and kafkapy.cli importable): a kafkapy broker subprocess started
  with KAFKAPY_BROKER_COMMAND (default: compat_tests.brokers.DEFAULT_KAFKAPY_COMMAND);
- KAFKAPY_COMPAT_CLUSTER=kafkapy|reference: a 3-node cluster (compat_tests/clusters.py),
  topics of replication factor 3, and the failover scenario killing its partition's leader.
Otherwise the module is skipped. Each client family's driver runs once, all scenarios
in one process (three families at a time; on a cluster the failover scenario afterwards,
one family at a time) before the first test; the tests report the cells.
A client that is not installed skips its tests (compat_tests/install.sh installs all).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from compat_tests import brokers, clusters
from compat_tests.clients import CLIENTS, Client, ClientRun
from compat_tests.matrix import Target, run_matrix
from compat_tests.scenarios import SCENARIO_NAMES

CLUSTER_KINDS = ("kafkapy", "reference")


def _broker_choice() -> str | None:
    if os.environ.get("KAFKAPY_COMPAT_CLUSTER") in CLUSTER_KINDS:
        return "cluster"
    if os.environ.get("KAFKAPY_COMPAT_BOOTSTRAP"):
        return "bootstrap"
    if os.environ.get("KAFKAPY_COMPAT_REFERENCE") == "1":
        return "reference"
    if os.environ.get("KAFKAPY_COMPAT") == "1":
        if not brokers.kafkapy_available():
            pytest.skip("kafkapy broker not available yet (kafkapy.cli missing)", allow_module_level=True)
        return "kafkapy"
    return None


CHOICE = _broker_choice()
if CHOICE is None:
    pytest.skip(
        "compatibility matrix not requested: set KAFKAPY_COMPAT=1 (kafkapy broker), "
        "KAFKAPY_COMPAT_REFERENCE=1 (Apache Kafka), KAFKAPY_COMPAT_CLUSTER=kafkapy|reference "
        "(3 nodes) or KAFKAPY_COMPAT_BOOTSTRAP=HOST:PORT",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def compat_target() -> Iterator[Target]:
    """The broker or cluster under test, started for this module when needed."""
    if CHOICE == "bootstrap":
        yield Target(os.environ["KAFKAPY_COMPAT_BOOTSTRAP"])
        return
    if CHOICE == "cluster":
        with clusters.start_cluster(os.environ["KAFKAPY_COMPAT_CLUSTER"]) as cluster:
            yield Target(cluster.bootstrap_servers, clusters.CLUSTER_REPLICATION_FACTOR, clusters.Failover(cluster))
        return
    if CHOICE == "reference":
        broker = brokers.start_reference()
    else:
        broker = brokers.start_command(os.environ.get("KAFKAPY_BROKER_COMMAND", brokers.DEFAULT_KAFKAPY_COMMAND))
    with broker:
        yield Target(broker.bootstrap)


@pytest.fixture(scope="module")
def client_runs(compat_target: Target) -> dict[str, ClientRun]:
    """Every client family's driver, run once, three at a time, before the first cell is read."""
    runs = run_matrix(compat_target, CLIENTS, SCENARIO_NAMES, jobs=3, timeout=240)
    return {run.client: run for run in runs}


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
@pytest.mark.parametrize("client", CLIENTS, ids=[c.name for c in CLIENTS])
def test_scenario(client: Client, scenario: str, client_runs: dict[str, ClientRun]) -> None:
    cell = client_runs[client.name].cells[scenario]
    if cell.status == "not installed":
        pytest.skip(f"{client.name} not installed: {cell.detail}")
    if cell.status == "n/a":
        pytest.skip(f"n/a for {client.name}: {cell.detail}")
    assert cell.status == "pass", f"{client.name} / {scenario}: {cell.detail}"
