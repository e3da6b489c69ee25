"""The secured compatibility matrix as pytest tests (issue 14's proof).

Every installed client family runs the core scenarios (produce/consume, a consumer group,
idempotence, transactions, admin) and the negative ones (wrong password, a client
certificate from an untrusted CA, a topic without WRITE, a group without READ) against a kafkapy broker over SASL_SSL with SCRAM-SHA-512,
and over mTLS, with the StandardAuthorizer and per-scenario ACLs (compat_tests/security.py).
One test per (mode, family, scenario); the families run three at a time, once per mode,
before the first cell is read. A family that is not installed, or a cell the client
cannot express (n/a), skips with the reason. A cell that failed is run once more, alone,
on a fresh broker before the test concludes (kafka-python's group scenario meets a
rebalance now and then under load, on Apache Kafka as on kafkapy).

``test_reference_agrees`` runs the same matrix on Apache Kafka 4.1.2 with the same
settings and asks for the same status in every cell (skipped without the reference);
a cell that differs or failed is run once more on both.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compat_tests import security
from compat_tests.clients import CLIENTS, Cell, Client, ClientRun
from compat_tests.matrix import Target, disagreements, run_matrix
from tests.reference import needs_reference

SECURED_MODES = ("sasl_ssl_scram512", "mtls")
#: (broker kind, mode) -> family -> run; each matrix runs once per session.
_RUNS: dict[tuple[str, str], dict[str, ClientRun]] = {}


def _matrix(kind: str, mode: str, clients: list[Client], scenarios: list[str]) -> dict[str, ClientRun]:
    with security.start(mode, kind, [c.name for c in clients], scenarios) as broker:
        runs = run_matrix(Target(broker.bootstrap, secured=broker), clients, scenarios, jobs=3, timeout=240)
    return {run.client: run for run in runs}


def _runs(kind: str, mode: str) -> dict[str, ClientRun]:
    if (kind, mode) not in _RUNS:
        _RUNS[kind, mode] = _matrix(kind, mode, CLIENTS, security.CORE_SCENARIOS)
    return _RUNS[kind, mode]


def _once_more(kind: str, mode: str, family: str, scenario: str) -> Cell:
    """One cell run again on a fresh broker: a cell that failed under load (two cores
    shared by every family at once) is run once more before anything is concluded."""
    client = next(c for c in CLIENTS if c.name == family)
    return _matrix(kind, mode, [client], [scenario])[family].cells[scenario]


@pytest.fixture(scope="module", params=SECURED_MODES)
def kafkapy_runs(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, ClientRun]]]:
    yield request.param, _runs("kafkapy", request.param)


@pytest.mark.parametrize("scenario", security.CORE_SCENARIOS)
@pytest.mark.parametrize("client", CLIENTS, ids=[c.name for c in CLIENTS])
def test_secured_scenario(client: Client, scenario: str, kafkapy_runs: tuple[str, dict[str, ClientRun]]) -> None:
    mode, runs = kafkapy_runs
    cell = runs[client.name].cells[scenario]
    if cell.status == "not installed":
        pytest.skip(f"{client.name} not installed: {cell.detail}")
    if cell.status == "n/a":
        pytest.skip(f"n/a for {client.name} over {mode}: {cell.detail}")
    if cell.status == "fail":
        first, cell = cell, _once_more("kafkapy", mode, client.name, scenario)
        assert cell.status == "pass", f"{client.name} / {scenario} over {mode}: {first.detail}; again: {cell.detail}"
    assert cell.status == "pass", f"{client.name} / {scenario} over {mode}: {cell.detail}"


@needs_reference
@pytest.mark.parametrize("mode", SECURED_MODES)
def test_reference_agrees(mode: str) -> None:
    """Every cell has the status Apache Kafka's has, with the same settings and ACLs."""
    differ, failed = disagreements(_runs("kafkapy", mode), _runs("reference", mode),
                                   lambda kind, family, scenario: _once_more(kind, mode, family, scenario))
    assert not differ, differ
    assert not failed, f"cells failing on Apache Kafka too: {failed}"
