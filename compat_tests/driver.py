"""Harness shared by the Python drivers: the command line and JSON-line protocol.

Every driver, in any language, takes ``--bootstrap HOST:PORT --scenarios a,b|all``
and prints one JSON object per scenario on its own line:
``{"scenario": ..., "status": "pass"|"fail"|"n/a", "detail": ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from compat_tests.scenarios import CODECS, SCENARIO_NAMES


class Failed(AssertionError):
    """A scenario check did not hold."""


def expect(condition: bool, message: str) -> None:
    """Fail the scenario with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Failed(message)


def expect_eq(actual: Any, expected: Any, what: str) -> None:
    """Fail the scenario unless ``actual == expected``, showing both."""
    if actual != expected:
        raise Failed(f"{what}: got {_short(actual)}, expected {_short(expected)}")


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


@dataclass
class Context:
    """What a scenario needs: the broker address and unique names."""

    bootstrap: str
    client: str
    scenario: str

    def name(self, kind: str) -> str:
        """A topic/group/transactional id unique to this run of this scenario."""
        return f"compat-{self.client}-{self.scenario}-{kind}-{uuid.uuid4().hex[:8]}"


Scenario = Callable[[Context], "str | None"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run compatibility scenarios")
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the broker")
    parser.add_argument("--scenarios", default="all", help="comma-separated, or 'all'")
    args = parser.parse_args(argv)
    wanted = SCENARIO_NAMES if args.scenarios == "all" else args.scenarios.split(",")
    unknown = [s for s in wanted if s not in SCENARIO_NAMES]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    args.scenario_list = wanted
    return args


def emit(scenario: str, status: str, detail: str = "") -> None:
    print(json.dumps({"scenario": scenario, "status": status, "detail": detail}), flush=True)


def scenario_table(namespace: dict[str, Any], codec: Callable[[str], Scenario],
                   not_applicable: dict[str, str] | None = None) -> dict[str, Scenario | str]:
    """A driver's scenarios: ``codec(c)`` for each codec, the module function named like
    each other scenario, and the reason for each scenario the client cannot express."""
    table: dict[str, Scenario | str] = {f"codec_{c}": codec(c) for c in CODECS}
    for name in SCENARIO_NAMES:
        if not name.startswith("codec_"):
            table[name] = (not_applicable or {}).get(name) or namespace[name]
    return table


def run_driver(client: str, version: str, impls: dict[str, Scenario | str], argv: list[str] | None = None) -> None:
    """Run the requested scenarios; a ``str`` entry is the reason a scenario is n/a."""
    args = parse_args(argv)
    print(json.dumps({"version": version}), flush=True)
    for scenario in args.scenario_list:
        impl = impls.get(scenario, "not implemented for this client")
        if isinstance(impl, str):
            emit(scenario, "n/a", impl)
            continue
        started = time.monotonic()
        try:
            detail = impl(Context(args.bootstrap, client, scenario)) or ""
        except Failed as exc:
            emit(scenario, "fail", str(exc))
        except Exception as exc:  # a client error is a failed cell, not a crashed driver
            tb = traceback.format_exception(exc)
            sys.stderr.write("".join(tb))
            emit(scenario, "fail", f"{type(exc).__name__}: {exc}"[:500])
        else:
            took = time.monotonic() - started
            emit(scenario, "pass", f"{detail} ({took:.1f}s)".strip())
