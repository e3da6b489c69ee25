"""Harness shared by the Python drivers: the command line and JSON-line protocol.

Every driver, in any language, takes ``--bootstrap HOST:PORT --scenarios a,b|all
[--replication-factor N] [--security FILE]`` (the replication factor of the topics it
creates; -1 asks for the broker's ``default.replication.factor``, KIP-464; the client
security settings of a secured run, below) and prints one JSON object per
scenario on its own line: ``{"scenario": ..., "status": "pass"|"fail"|"n/a", "detail": ...}``.

A scenario that needs the harness to act on the brokers (the failover scenario: kill
a partition's leader) prints ``{"await": "fault", "scenario": ..., "topic": ...,
"partition": ...}`` and goes on with its work until the harness answers with one JSON
line on the driver's stdin: ``{"fault": "done", "detail": ...}`` once it is done, or
``{"fault": "none", "reason": ...}`` when it cannot (the scenario is then n/a).

``--security FILE`` names a JSON object of family-neutral client settings that every
client connection of the run uses (compat_tests/security.py writes it):
``security_protocol`` (SSL or SASL_SSL), ``ca_file`` (PEM), for mTLS ``cert_file``,
``key_file`` (PEM, PKCS#8) and ``keystore_pem`` (key and chain in one file, Java's PEM
key store), for SASL ``mechanism``, ``username``, ``password`` and ``wrong_password``
(the negative scenario's), for mTLS ``untrusted_cert_file``,
``untrusted_key_file`` and ``untrusted_keystore_pem`` (the same subject from a CA the
broker does not trust).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

from compat_tests.scenarios import CODECS, KNOWN_SCENARIO_NAMES, SCENARIO_NAMES


class Failed(AssertionError):
    """A scenario check did not hold."""


class NotApplicable(Exception):
    """The scenario cannot run here (the message says why): an n/a cell, not a failure."""


def expect(condition: bool, message: str) -> None:
    """Fail the scenario with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Failed(message)


def expect_eq(actual: Any, expected: Any, what: str) -> None:
    """Fail the scenario unless ``actual == expected``, showing both."""
    if actual != expected:
        raise Failed(f"{what}: got {_short(actual)}, expected {_short(expected)}")


def eventually(look: Callable[[], T], timeout: float = 15.0) -> T:
    """``look()`` once it returns without raising, retried for up to ``timeout`` seconds,
    then once more letting its error end the scenario. A broker of a cluster learns a
    metadata change (a new topic, an altered config) a moment after the controller
    acknowledged it, and admin clients may ask any broker: Kafka promises no
    read-your-writes across brokers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return look()
        except Exception:  # noqa: BLE001 - retried until the deadline, then raised below
            time.sleep(0.1)
    return look()


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


@dataclass
class Context:
    """What a scenario needs: the broker address and unique names."""

    bootstrap: str
    client: str
    scenario: str
    #: of the topics the scenario creates; -1 is the broker's default.replication.factor
    replication_factor: int = 1
    #: the client security settings of a secured run (module docstring); empty: PLAINTEXT
    security: dict[str, str] = field(default_factory=dict)

    def name(self, kind: str) -> str:
        """A topic/group/transactional id unique to this run of this scenario."""
        return f"compat-{self.client}-{self.scenario}-{kind}-{uuid.uuid4().hex[:8]}"


Scenario = Callable[[Context], "str | None"]


def librdkafka_security(ctx: Context) -> dict[str, str]:
    """The run's security settings as librdkafka names them (confluent-kafka, kcat)."""
    s = ctx.security
    if not s:
        return {}
    conf = {"security.protocol": s["security_protocol"], "ssl.ca.location": s["ca_file"]}
    if "cert_file" in s:
        conf.update({"ssl.certificate.location": s["cert_file"], "ssl.key.location": s["key_file"]})
    if "username" in s:
        conf.update({"sasl.mechanism": s["mechanism"], "sasl.username": s["username"], "sasl.password": s["password"]})
    return conf


def kafka_python_security(ctx: Context, ssl_context: bool = False) -> dict[str, Any]:
    """The run's security settings as kafka-python names them; aiokafka takes the same
    names with an ``ssl_context`` (``ssl_context=True``) instead of the file options."""
    s = ctx.security
    if not s:
        return {}
    conf: dict[str, Any] = {"security_protocol": s["security_protocol"]}
    if ssl_context:
        import ssl

        context = ssl.create_default_context(cafile=s["ca_file"])
        if "cert_file" in s:
            context.load_cert_chain(s["cert_file"], s["key_file"])
        conf["ssl_context"] = context
    else:
        conf["ssl_cafile"] = s["ca_file"]
        if "cert_file" in s:
            conf.update({"ssl_certfile": s["cert_file"], "ssl_keyfile": s["key_file"]})
    if "username" in s:
        conf.update({"sasl_mechanism": s["mechanism"], "sasl_plain_username": s["username"],
                     "sasl_plain_password": s["password"]})
    return conf


@contextlib.contextmanager
def captured_log(logger: str) -> Iterator[list[str]]:
    """The messages the client library's ``logger`` logs meanwhile, for a cause a client
    reports in its log only: kafka-python 3 and aiokafka retry a bootstrap that failed
    with SaslAuthenticationFailed, log it, and raise a timeout."""
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler, target = Keep(logging.DEBUG), logging.getLogger(logger)
    level = target.level
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        target.removeHandler(handler)
        target.setLevel(level)


def with_untrusted_certificate(ctx: Context) -> Context:
    """``ctx`` presenting the family's subject in a certificate of a CA the broker does not
    trust (the auth_untrusted_certificate scenario).

    Raises:
        NotApplicable: the run presents no client certificate.
    """
    if "untrusted_cert_file" not in ctx.security:
        raise NotApplicable(f"no client certificate ({ctx.security.get('security_protocol', 'PLAINTEXT')})")
    s = ctx.security
    return dataclasses.replace(ctx, security={**s, "cert_file": s["untrusted_cert_file"],
                                              "key_file": s["untrusted_key_file"],
                                              "keystore_pem": s["untrusted_keystore_pem"]})


def with_wrong_password(ctx: Context) -> Context:
    """``ctx`` with the security settings' wrong password (the auth_wrong_password scenario).

    Raises:
        NotApplicable: the run authenticates without a password (PLAINTEXT, mTLS).
    """
    if "wrong_password" not in ctx.security:
        raise NotApplicable(f"no SASL password to get wrong ({ctx.security.get('security_protocol', 'PLAINTEXT')})")
    return dataclasses.replace(ctx, security={**ctx.security, "password": ctx.security["wrong_password"]})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run compatibility scenarios")
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the broker")
    parser.add_argument("--scenarios", default="all", help="comma-separated, or 'all'")
    parser.add_argument("--replication-factor", type=int, default=1,
                        help="of the topics scenarios create; -1 for the broker default")
    parser.add_argument("--security", help="JSON file of client security settings (module docstring)")
    args = parser.parse_args(argv)
    args.security_settings = {}
    if args.security:
        with open(args.security) as f:
            args.security_settings = json.load(f)
    wanted = SCENARIO_NAMES if args.scenarios == "all" else args.scenarios.split(",")
    unknown = [s for s in wanted if s not in KNOWN_SCENARIO_NAMES]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    args.scenario_list = wanted
    return args


def emit(scenario: str, status: str, detail: str = "") -> None:
    print(json.dumps({"scenario": scenario, "status": status, "detail": detail}), flush=True)


class FaultRequest:
    """Asks the harness for a fault on ``topic``'s partition (the module docstring's
    'await' line) and reads its answer from stdin in the background, so that the
    scenario keeps producing while the harness acts."""

    def __init__(self, ctx: Context, topic: str, partition: int = 0, kind: str = "failover") -> None:
        """``kind``: failover (kill the partition's leader) or restart (the broker)."""
        self._answer: dict[str, Any] | None = None
        self._arrived = threading.Event()
        print(json.dumps({"await": "fault", "fault": kind, "scenario": ctx.scenario, "topic": topic,
                          "partition": partition}), flush=True)
        threading.Thread(target=self._read, name="fault-answer", daemon=True).start()

    def _read(self) -> None:
        line = sys.stdin.readline()
        try:
            answer = json.loads(line) if line.strip() else {"fault": "none", "reason": "the harness closed stdin"}
        except ValueError:
            answer = {"fault": "none", "reason": f"unreadable answer from the harness: {line.strip()[:100]}"}
        self._answer = answer if isinstance(answer, dict) else {"fault": "none", "reason": repr(answer)}
        self._arrived.set()

    @property
    def answered(self) -> bool:
        return self._arrived.is_set()

    def wait(self, timeout: float) -> bool:
        return self._arrived.wait(timeout)

    def result(self) -> str:
        """The harness's account of the fault.

        Raises:
            NotApplicable: the harness could not make the fault.
            Failed: no answer yet.
        """
        expect(self._answer is not None, "the harness did not answer the fault request in time")
        assert self._answer is not None
        if self._answer.get("fault") != "done":
            raise NotApplicable(str(self._answer.get("reason") or self._answer))
        return str(self._answer.get("detail", ""))


def scenario_table(namespace: dict[str, Any], codec: Callable[[str], Scenario],
                   not_applicable: dict[str, str] | None = None) -> dict[str, Scenario | str]:
    """A driver's scenarios: ``codec(c)`` for each codec, the module function named like
    each other scenario, and the reason for each scenario the client cannot express."""
    table: dict[str, Scenario | str] = {f"codec_{c}": codec(c) for c in CODECS}
    for name in KNOWN_SCENARIO_NAMES:
        if not name.startswith("codec_"):
            table[name] = (not_applicable or {}).get(name) or namespace.get(name, "not implemented for this client")
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
            detail = impl(Context(args.bootstrap, client, scenario, args.replication_factor,
                                          args.security_settings)) or ""
        except NotApplicable as exc:
            emit(scenario, "n/a", str(exc))
        except Failed as exc:
            emit(scenario, "fail", str(exc))
        except Exception as exc:  # a client error is a failed cell, not a crashed driver
            tb = traceback.format_exception(exc)
            sys.stderr.write("".join(tb))
            emit(scenario, "fail", f"{type(exc).__name__}: {exc}"[:500])
        else:
            took = time.monotonic() - started
            emit(scenario, "pass", f"{detail} ({took:.1f}s)".strip())
