"""``connection_creation_rate`` client quotas of ``ip`` entities (KIP-612), enforced where
connections are accepted, as Kafka's ``ConnectionQuotas.recordIpConnectionMaybeThrottle``:
a connection over its IP's rate is closed unanswered (after the throttle time), one
within it is served; a named IP's quota wins over the default IP entity's, and removing
the quotas lifts the limit. Quotas are set on one admin connection opened before them
(a new one would be throttled as well); no timing is asserted.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from kafkapy.kraft.metadata.quota_control import CONNECTION_CREATION_RATE, IP
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.alter_client_quotas import AlterClientQuotasRequest as Alter
from kafkapy.wire.messages.describe_client_quotas import DescribeClientQuotasRequest as Describe

#: ApiVersions v0, correlation id 1, client id "ip-quota".
_API_VERSIONS = struct.pack(">hhih", 18, 0, 1, 8) + b"ip-quota"
_CONNECTIONS = 12


@pytest.fixture
def broker() -> Iterator[Broker]:
    with Broker() as started:
        yield started


def _set(admin: KafkaConnection, ip: str | None, rate: float | None) -> None:
    answer = admin.request(Alter(entries=[Alter.EntryData(
        entity=[Alter.EntityData(entity_type=IP, entity_name=ip)],
        ops=[Alter.OpData(key=CONNECTION_CREATION_RATE, value=rate or 0.0, remove=rate is None)])],
        validate_only=False), 1)
    assert [e.error_code for e in answer.entries] == [0], answer


def _described(admin: KafkaConnection) -> dict[str | None, float]:
    answer = admin.request(Describe(components=[], strict=False), 1)  # every entity
    assert answer.error_code == 0, answer
    return {e.entity[0].entity_name: v.value for e in answer.entries for v in e.values
            if [d.entity_type for d in e.entity] == [IP] and v.key == CONNECTION_CREATION_RATE}


def _answered(address: tuple[str, int]) -> bool:
    """Whether a new connection's ApiVersions is answered (else the broker closed it)."""
    with socket.create_connection(address, timeout=10) as sock:
        try:
            sock.sendall(struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS)
            return len(sock.recv(4)) == 4
        except (ConnectionError, TimeoutError):
            return False


def _burst(address: tuple[str, int]) -> list[bool]:
    return [_answered(address) for _ in range(_CONNECTIONS)]


def _until(address: tuple[str, int], refused: bool, what: str, deadline_s: float = 20.0) -> list[bool]:
    """The quotas reach the acceptor through the metadata image just after the answer:
    bursts until one has a refused connection (``refused``) or none."""
    deadline = time.monotonic() + deadline_s
    while True:
        answers = _burst(address)
        if (not all(answers)) == refused:
            return answers
        assert time.monotonic() < deadline, what
        time.sleep(1.1)  # a full bucket again


def test_an_ip_over_its_connection_rate_is_refused(broker: Broker) -> None:
    host, port = broker.bootstrap_servers.rsplit(",", 1)[0].rsplit(":", 1)
    address = (host, int(port))
    assert all(_burst(address))  # no quota: every connection served
    with KafkaConnection(broker.bootstrap_servers) as admin:
        _set(admin, "127.0.0.1", 1)
        assert _described(admin) == {"127.0.0.1": 1.0}
        limited = _until(address, True, "the IP quota never applied")
        # Within the rate some are served; a refused one is closed only after its throttle time,
        # so the client's next attempt may be within the rate again.
        assert any(limited) and not all(limited)

        # The named IP's quota wins over the default IP entity's.
        _set(admin, None, 1)
        _set(admin, "127.0.0.1", 10_000)
        assert _described(admin) == {None: 1.0, "127.0.0.1": 10_000.0}
        _until(address, False, "the named IP's higher quota never applied")

        # Without its own quota the IP falls under the default's.
        _set(admin, "127.0.0.1", None)
        _until(address, True, "the default IP quota never applied")

        _set(admin, None, None)
        assert _described(admin) == {}
        _until(address, False, "removing the quotas never lifted the limit")
