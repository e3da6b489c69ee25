"""Delegation token APIs (KIP-48) next to Apache Kafka 4.4.0 without
``delegation.token.secret.key``, the only way kafkapy runs: the same requests from the
same principals (PLAINTEXT's ANONYMOUS, SASL/PLAIN users) with the StandardAuthorizer,
the answers compared field by field, and ``kafka-delegation-tokens`` on both.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compat_tests.brokers import QUICK_TOOL_JVM, DEPS, java
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.testing.sasl import plain_jaas_config
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.message import Message
from kafkapy.wire.messages.create_delegation_token import CreateDelegationTokenRequest as Create
from kafkapy.wire.messages.describe_delegation_token import DescribeDelegationTokenRequest as Describe
from kafkapy.wire.messages.expire_delegation_token import ExpireDelegationTokenRequest
from kafkapy.wire.messages.renew_delegation_token import RenewDelegationTokenRequest
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.security.reference import reference_with_sasl

KAFKA_4_4 = "4.4.0"
USERS = {"alice": "alice-secret", "admin": "admin-secret"}
SUPER_USERS = "User:admin;User:ANONYMOUS"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

pytestmark = pytest.mark.skipif(
    not (DEPS / f"kafka-{KAFKA_4_4}" / "libs" / f"kafka_2.13-{KAFKA_4_4}.jar").exists() or shutil.which(java()) is None,
    reason=f"Apache Kafka {KAFKA_4_4} (compat_tests/install.sh) or java is missing")


@pytest.fixture(scope="module")
def nodes() -> Iterator[dict[str, tuple[str, str]]]:
    """(SASL, PLAINTEXT) addresses of kafkapy and of Kafka 4.4.0."""
    with Broker(sasl_users=USERS, sasl_mechanisms=["PLAIN"], super_users=SUPER_USERS.split(";")) as broker, \
            reference_with_sasl({"sasl.enabled.mechanisms": "PLAIN",
                                 "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas_config(USERS),
                                 "authorizer.class.name": AUTHORIZER, "super.users": SUPER_USERS},
                                version=KAFKA_4_4) as kafka:
        host, port = broker.info.listeners["PLAINTEXT"]
        yield {"kafkapy": (broker.bootstrap_servers, f"{host}:{port}"), "kafka": kafka}


def _plain(value: Any) -> Any:
    if isinstance(value, Message):
        return {name: _plain(getattr(value, name)) for name in value.__slots__ if name != "throttle_time_ms"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else value


def _connect(address: str, user: str | None) -> KafkaConnection:
    conn = KafkaConnection(address)
    if user is not None:
        conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
        answer = conn.request(SaslAuthenticateRequest(auth_bytes=f"\0{user}\0{USERS[user]}".encode()), 2)
        assert answer.error_code == 0, answer
    return conn


REQUESTS = {
    "create": (Create(renewers=[], max_lifetime_ms=-1), 3),
    "create v1": (Create(renewers=[Create.CreatableRenewers(principal_type="User", principal_name="x")],
                         max_lifetime_ms=-1), 1),
    "create for admin": (Create(owner_principal_type="User", owner_principal_name="admin", renewers=[],
                                max_lifetime_ms=-1), 3),
    "create with a group renewer": (Create(renewers=[Create.CreatableRenewers(principal_type="Group",
                                                                             principal_name="g")],
                                           max_lifetime_ms=-1), 3),
    "renew": (RenewDelegationTokenRequest(hmac=b"x", renew_period_ms=-1), 2),
    "expire": (ExpireDelegationTokenRequest(hmac=b"x", expiry_time_period_ms=-1), 2),
    "describe": (Describe(owners=None), 3),
    "describe none": (Describe(owners=[]), 3),
}


@pytest.mark.parametrize("user", [None, "alice", "admin"])
@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_token_apis_answer_as_kafka_without_a_secret_key(nodes, user: str | None, name: str) -> None:
    request, version = REQUESTS[name]

    def answer(who: str) -> Any:
        sasl, plaintext = nodes[who]
        with _connect(plaintext if user is None else sasl, user) as conn:
            return _plain(conn.request(request, version))

    ours, kafkas = answer("kafkapy"), answer("kafka")
    assert ours == kafkas
    expected = (ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED if user is None
                else ErrorCode.DELEGATION_TOKEN_AUTHORIZATION_FAILED if (name, user) == ("create for admin", "alice")
                else ErrorCode.INVALID_PRINCIPAL_TYPE if name == "create with a group renewer"
                else ErrorCode.DELEGATION_TOKEN_AUTH_DISABLED)
    assert ours["error_code"] == expected


def test_kafka_delegation_tokens_tool(nodes, tmp_path: Path) -> None:
    config = tmp_path / "client.properties"
    config.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                      'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required '
                      'username="alice" password="alice-secret";\n')

    def run(who: str, *args: str) -> tuple[int, str]:
        done = subprocess.run(
            [java(), *QUICK_TOOL_JVM, "-cp", f"{DEPS / f'kafka-{KAFKA_4_4}' / 'libs'}/*",
             "org.apache.kafka.tools.DelegationTokenCommand", "--bootstrap-server", nodes[who][0],
             "--command-config", str(config), *args], capture_output=True, text=True, timeout=120)
        return done.returncode, (done.stdout + done.stderr).split("\n\tat ")[0]

    for args in (["--create", "--max-life-time-period", "-1"], ["--describe"]):
        ours, kafkas = run("kafkapy", *args), run("kafka", *args)
        assert ours == kafkas
        assert "DelegationTokenDisabledException" in ours[1]
