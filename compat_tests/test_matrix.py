"""The compatibility matrix as pytest tests, one per (client family, scenario).

The broker under test is chosen by environment:
- KAFKAPY_COMPAT_BOOTSTRAP=HOST:PORT: a broker that is already running;
- KAFKAPY_COMPAT_REFERENCE=1: Apache Kafka 4.x started from Maven Central jars;
- KAFKAPY_COMPAT=1 (and kafkapy.cli importable): a kafkapy broker subprocess started
  with KAFKAPY_BROKER_COMMAND (default: compat_tests.brokers.DEFAULT_KAFKAPY_COMMAND).
Otherwise the module is skipped. Each client family's driver runs once, all scenarios
in one process (three families at a time) before the first test; the tests report the cells.
A client that is not installed skips its tests (compat_tests/install.sh installs all).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from compat_tests import brokers
from compat_tests.clients import CLIENTS, Client, ClientRun, run_client
from compat_tests.scenarios import SCENARIO_NAMES


def _broker_choice() -> str | None:
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
        "KAFKAPY_COMPAT_REFERENCE=1 (Apache Kafka) or KAFKAPY_COMPAT_BOOTSTRAP=HOST:PORT",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def compat_bootstrap() -> Iterator[str]:
    """Address of the broker under test, started for this module when needed."""
    if CHOICE == "bootstrap":
        yield os.environ["KAFKAPY_COMPAT_BOOTSTRAP"]
        return
    if CHOICE == "reference":
        broker = brokers.start_reference()
    else:
        broker = brokers.start_command(os.environ.get("KAFKAPY_BROKER_COMMAND", brokers.DEFAULT_KAFKAPY_COMMAND))
    with broker:
        yield broker.bootstrap


@pytest.fixture(scope="module")
def client_runs(compat_bootstrap: str) -> dict[str, ClientRun]:
    """Every client family's driver, run once, three at a time, before the first cell is read."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = pool.map(lambda c: run_client(c, compat_bootstrap, SCENARIO_NAMES, timeout=180), CLIENTS)
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
