"""Secured runs of the matrix: SASL_SSL with SCRAM-SHA-512, or mTLS, and ACLs.

``python -m compat_tests.matrix --start-kafkapy --security sasl_ssl_scram512`` (or
``mtls``; ``--start-reference`` for Apache Kafka 4.1.2) starts the broker with the same
properties for both implementations:

* a client listener SASL_SSL (``sasl.enabled.mechanisms=SCRAM-SHA-512``) or SSL with
  ``ssl.client.auth=required``, certificates made by trustme
  (:class:`kafkapy.testing.tls.TestCertificates`), PEM key and trust stores;
* a PLAINTEXT inter-broker listener whose principal, ``User:ANONYMOUS``, is the one super
  user: the harness sets up through it (SCRAM credentials with AlterUserScramCredentials,
  ACLs with CreateAcls, as ``kafka-configs`` and ``kafka-acls`` would), as Kafka's
  documentation configures a plaintext inter-broker listener next to secured client ones;
* ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``.

Every client family gets its own principal (``User:compat-<family>`` with SCRAM, the
subject of its certificate ``User:CN=compat-<family>,OU=tests,O=kafkapy`` with mTLS)
and, for each scenario, exactly the ACLs that scenario needs, PREFIXED on the names the
drivers make for it (``compat-<family>-<scenario>-``, :meth:`compat_tests.driver.Context.name`):
see :func:`scenario_acls`. Idempotent producers get no IDEMPOTENT_WRITE on the cluster:
since KIP-679 (Kafka 3.0) WRITE on a topic is enough for InitProducerId.

For the negative scenarios each family also gets a wrong password (SASL) or a
certificate of its own subject issued by a second CA the broker does not trust (mTLS);
the scenario that does not fit the mode is n/a (:data:`NOT_APPLICABLE`).

The drivers receive the client side as a JSON file (``--security``, the keys are listed
in compat_tests/driver.py) and map it to their own settings.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from compat_tests import brokers
from compat_tests.scenarios import GROUP_SCENARIO_NAMES, SECURITY_SCENARIO_NAMES

if TYPE_CHECKING:
    from kafkapy.testing.tls import TestCertificates

MODES = ("plaintext", "sasl_ssl_scram512", "mtls")
MECHANISM = "SCRAM-SHA-512"
#: Kafka's minimum SCRAM iterations (ScramMechanism.minIterations).
SCRAM_ITERATIONS = 4096
#: The scenarios of a secured run in CI: produce/consume, a consumer group, idempotence,
#: transactions, admin, and every negative scenario.
CORE_SCENARIOS = ["codec_none", "group_commit_resume", "idempotent_producer", "transactions", "admin",
                  *SECURITY_SCENARIO_NAMES]
#: Cells decided by the mode, without running a driver.
NOT_APPLICABLE = {
    "mtls": {"auth_wrong_password": "mTLS authenticates by certificate: there is no password to get wrong"},
    "sasl_ssl_scram512": {"auth_untrusted_certificate": "SASL_SSL clients present no certificate"
                                                        " (ssl.client.auth=none): they authenticate by password"},
}
#: The scenarios that need the harness to kill nodes cannot run on one secured broker.
NOT_SECURED = {"failover": "needs a cluster; secured runs use one broker",
               **{s: "the share and streams group scenarios run over PLAINTEXT only" for s in GROUP_SCENARIO_NAMES}}

_TOPIC_RW = ("CREATE", "DESCRIBE", "WRITE", "READ")
_ADMIN_TOPIC = ("CREATE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "DELETE")


def scenario_acls(scenario: str) -> list[tuple[str, str]]:
    """(resource type, operation) pairs a scenario needs on its own names (PREFIXED
    ``compat-<family>-<scenario>-``): what Kafka's KafkaApis checks for the requests the
    scenario makes, and no more."""
    if scenario in ("auth_wrong_password", "auth_untrusted_certificate"):
        return []
    if scenario == "admin":
        return [("TOPIC", op) for op in _ADMIN_TOPIC]
    if scenario == "acl_topic_write_denied":
        return [("TOPIC", "CREATE"), ("TOPIC", "DESCRIBE")]
    if scenario == "acl_group_read_denied":
        return [("TOPIC", op) for op in _TOPIC_RW]
    needs = [("TOPIC", op) for op in _TOPIC_RW] + [("GROUP", "READ")]
    if scenario == "transactions":
        needs.append(("TRANSACTIONAL_ID", "WRITE"))
    return needs


#: The client name a family's driver puts in the names it makes, where it is not the family's.
NAME_IN_RESOURCES = {"confluent-js": "confluent-kafka-javascript", "java-4.1": "java"}


def principal_name(family: str) -> str:
    """The SCRAM user, and the certificate's common name, of a client family."""
    return f"compat-{family}"


@dataclass
class SecuredBroker:
    """A started broker of a secured run: the client bootstrap, the setup bootstrap, and
    the files each family's driver is given."""

    mode: str
    bootstrap: str
    setup_bootstrap: str
    directory: str
    settings: dict[str, dict[str, str]] = field(default_factory=dict)

    def settings_file(self, family: str) -> str:
        """The ``--security`` file of ``family``'s driver."""
        return os.path.join(self.directory, f"client-{family}.json")


def broker_properties(mode: str, certs: TestCertificates, ports: dict[str, int]) -> dict[str, str]:
    """The properties both implementations run with in ``mode`` (module docstring)."""
    from kafkapy.config import LISTENER_CONFIG_PREFIX, BrokerConfig
    from kafkapy.testing.acls import ANONYMOUS, authorizer_properties
    from kafkapy.testing.tls import tls_properties

    name = BrokerConfig.field_name
    sasl = mode == "sasl_ssl_scram512"
    listener = "SASL_SSL" if sasl else "SSL"
    props = tls_properties(certs, sasl=sasl, client_auth="none" if sasl else "required")
    props.update({
        name("listeners"): f"PLAINTEXT://127.0.0.1:{ports['plain']},{listener}://127.0.0.1:{ports['client']},"
                           f"CONTROLLER://127.0.0.1:{ports['controller']}",
        name("advertised_listeners"): f"PLAINTEXT://127.0.0.1:{ports['plain']},"
                                      f"{listener}://127.0.0.1:{ports['client']}",
        name("controller_quorum_voters"): f"1@127.0.0.1:{ports['controller']}",
        name("controller_listener_names"): "CONTROLLER",
        name("listener_security_protocol_map"): f"CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,{listener}:{listener}",
        name("inter_broker_listener_name"): "PLAINTEXT",
        name("group_initial_rebalance_delay_ms"): "0",
        **authorizer_properties([ANONYMOUS]),
        name("allow_everyone_if_no_acl_found"): "false",
    })
    if sasl:
        props[name("sasl_enabled_mechanisms")] = MECHANISM
        # Kafka wants a login module for every enabled mechanism (kafkapy needs none for SCRAM).
        props[f"{LISTENER_CONFIG_PREFIX}sasl_ssl.{MECHANISM.lower()}.{name('sasl_jaas_config')}"] = \
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return props


def _client_settings(mode: str, family: str, certs: TestCertificates,
                     untrusted: TestCertificates) -> dict[str, str]:
    """A family's --security file: its CA, and its certificate (mTLS) or SCRAM user."""
    settings = {"security_protocol": "SASL_SSL" if mode == "sasl_ssl_scram512" else "SSL", "ca_file": certs.ca_file}
    if mode == "mtls":
        files, other = certs.client(principal_name(family)), untrusted.client(principal_name(family))
        settings.update({"cert_file": files.cert, "key_file": files.key, "keystore_pem": files.pem,
                         "principal": f"User:{files.subject}", "untrusted_cert_file": other.cert,
                         "untrusted_key_file": other.key, "untrusted_keystore_pem": other.pem})
    else:
        settings.update({"mechanism": MECHANISM, "username": principal_name(family),
                         "password": secrets.token_hex(12), "wrong_password": secrets.token_hex(12),
                         "principal": f"User:{principal_name(family)}"})
    return settings


def setup(broker: SecuredBroker, families: Sequence[str], scenarios: Sequence[str]) -> None:
    """SCRAM credentials and the scenarios' ACLs, through the super user's PLAINTEXT listener."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient({"bootstrap.servers": broker.setup_bootstrap})
    if broker.mode == "sasl_ssl_scram512":
        # 32-byte salts as Kafka's ScramFormatter makes them: librdkafka 2.0 (kcat) fails
        # the 64-byte salts librdkafka's AlterUserScramCredentials makes by default.
        upserts = [UserScramCredentialUpsertion(s["username"], ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512,
                                                                                   SCRAM_ITERATIONS),
                                                s["password"].encode(), secrets.token_bytes(32))
                   for s in broker.settings.values()]
        for future in admin.alter_user_scram_credentials(upserts).values():
            future.result(30)
    bindings = [
        AclBinding(ResourceType[resource], f"compat-{NAME_IN_RESOURCES.get(family, family)}-{scenario}-",
                   ResourcePatternType.PREFIXED,
                   broker.settings[family]["principal"], "*", AclOperation[operation], AclPermissionType.ALLOW)
        for family in families for scenario in dict.fromkeys(scenarios)
        for resource, operation in scenario_acls(scenario)
    ]
    if bindings:
        for future in admin.create_acls(bindings, request_timeout=30).values():
            future.result(30)


@contextmanager
def start(mode: str, kind: str, families: Sequence[str], scenarios: Sequence[str],
          broker_command: str | None = None) -> Iterator[SecuredBroker]:
    """Start kafkapy (``kind`` kafkapy, from ``broker_command``'s interpreter) or Apache Kafka
    (``reference``) in ``mode``, set up the families' principals and ACLs, write their files."""
    from kafkapy.testing.tls import TestCertificates

    certs = TestCertificates()
    untrusted = TestCertificates()  # another CA: the same subjects, not trusted by the broker
    directory = tempfile.mkdtemp(prefix="compat-security-")
    ports = {"plain": brokers.free_port(), "client": brokers.free_port(), "controller": brokers.free_port()}
    props = broker_properties(mode, certs, ports)
    process: brokers.BrokerProcess | None = None
    try:
        if kind == "reference":
            process = brokers.start_reference(ports["plain"], overrides=props)
        else:
            argv = [sys.executable, "-m", "kafkapy", "serve", "--memory"]
            for key, value in props.items():
                argv += ["--override", f"{key}={value}"]
            log = Path(directory) / "kafkapy.log"
            process = brokers.BrokerProcess(argv, ports["plain"], log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            process.wait_ready(60)
        broker = SecuredBroker(mode, f"127.0.0.1:{ports['client']}", f"127.0.0.1:{ports['plain']}", directory)
        for family in families:
            broker.settings[family] = _client_settings(mode, family, certs, untrusted)
            with open(broker.settings_file(family), "w") as f:
                json.dump(broker.settings[family], f)
        setup(broker, families, scenarios)
        yield broker
    finally:
        if process is not None:
            process.stop()
        certs.cleanup()
        untrusted.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


def describe(mode: str) -> str:
    """One line for the matrix header."""
    if mode == "sasl_ssl_scram512":
        return f"SASL_SSL {MECHANISM}, StandardAuthorizer, per-scenario PREFIXED ACLs"
    return "SSL with ssl.client.auth=required (mTLS), StandardAuthorizer, per-scenario PREFIXED ACLs"

