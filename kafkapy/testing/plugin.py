"""pytest plugin (entry point ``pytest11: kafkapy``): real Kafka brokers as fixtures.

Fixtures:
    kafka_broker: a :class:`kafkapy.testing.Broker` on a free 127.0.0.1 port with
        memory storage, started for the test and stopped after it.
    kafka_broker_session: the same, one for the whole session (topics and faults
        persist between tests: use unique topic names, ``faults.clear()``).
    kafka_bootstrap: the ``host:port`` string of ``kafka_broker``, for any client.
    kafka_cluster: a :class:`kafkapy.testing.Cluster` of ``kafkapy serve`` processes
        forming one KRaft quorum (3 nodes unless the marker says otherwise), always
        on disk so that a killed node restarts on its data. Node faults:
        ``kill_node`` (SIGKILL), ``stop_node`` (controlled shutdown),
        ``restart_node``, ``isolate_node`` / ``rejoin_node`` (a network partition of
        the node from the others, quorum and replication traffic, ``from_nodes=``
        for a partial one; clients still reach it), ``pause_node`` / ``resume_node``
        (SIGSTOP / SIGCONT); and ``leader_of`` / ``partition_state`` (a partition's
        leader, epoch, ISR and replicas from a running node's Metadata).

Configuration, each layer over the previous one: the test defaults
(``kafkapy.config.TEST_PROPERTIES``: no initial rebalance delay, one partition for
``__consumer_offsets`` and ``__transaction_state``, replication factor 1), then the
ini options ``kafkapy_config`` (lines of ``key=value``), ``kafkapy_storage``
(memory|disk) and ``kafkapy_port``, then the same from the command line
(``--kafkapy-config key=value``, repeatable; ``--kafkapy-storage``;
``--kafkapy-port``), then per test ``@pytest.mark.kafkapy(config={...},
storage="disk", nodes=3)`` or a fixture parameter
(``@pytest.mark.parametrize("kafka_broker", [{"num.partitions": "3"}], indirect=True)``).
``@pytest.mark.kafkapy(sasl_users={"alice": "pw"})`` (and ``sasl_mechanisms=[...]``)
makes ``kafka_broker`` serve clients on a SASL_PLAINTEXT listener;
``kafka_broker.sasl_client_config("alice", "SCRAM-SHA-512")`` gives a client's settings.
``@pytest.mark.kafkapy(acls=[allow("User:alice", "READ", "TOPIC", "t")], super_users=[...])``
runs Kafka's StandardAuthorizer with those ACLs (:mod:`kafkapy.testing.acls`).
``@pytest.mark.kafkapy(tls=True)`` (and ``ssl_client_auth="required"``) serves clients
over TLS (SASL_SSL with ``sasl_users``), certificates made on the fly;
``kafka_broker.tls_client_config("librdkafka", client=...)`` gives a client's settings
(:mod:`kafkapy.testing.tls`).

The broker runs in a background thread, so tests may be written with trio, asyncio
or plain threads. The broker module is imported only when a fixture is used, so the
plugin costs nothing for test runs that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kafkapy.testing.broker import Broker
    from kafkapy.testing.cluster import Cluster

_MARKER = "kafkapy"
_STORAGES = ("memory", "disk")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kafkapy", "kafkapy broker fixtures")
    group.addoption("--kafkapy-storage", choices=_STORAGES, default=None,
                    help="where fixture brokers keep data (default: memory)")
    group.addoption("--kafkapy-port", type=int, default=None,
                    help="client port of kafka_broker/kafka_broker_session (default: a free port)")
    group.addoption("--kafkapy-config", action="append", default=[], metavar="KEY=VALUE",
                    help="a broker configuration key for fixture brokers; repeatable")
    parser.addini("kafkapy_storage", "where fixture brokers keep data: memory or disk", default="memory")
    parser.addini("kafkapy_port", "client port of fixture brokers (0: a free port)", default="0")
    parser.addini("kafkapy_config", "broker configuration for fixture brokers, key=value per line",
                  type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    _Settings(config)  # a bad option is a usage error at start-up, not in each test
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(config=None, storage=None, nodes=3): configure the kafka_broker / kafka_cluster "
        "fixtures of this test (broker config keys, memory|disk, cluster size)")


def _pairs(items: list[str], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise pytest.UsageError(f"{where}: expected key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


class _Settings:
    """The fixtures' configuration from ini, command line, marker and parameter."""

    def __init__(self, config: pytest.Config, marker: pytest.Mark | None = None, param: Any = None) -> None:
        self.properties = _pairs(config.getini("kafkapy_config"), "kafkapy_config")
        self.properties.update(_pairs(config.getoption("--kafkapy-config"), "--kafkapy-config"))
        self.storage = config.getoption("--kafkapy-storage") or config.getini("kafkapy_storage")
        self.port = config.getoption("--kafkapy-port")
        if self.port is None:
            self.port = int(config.getini("kafkapy_port") or 0)
        self.nodes = 3
        self.sasl: dict[str, Any] = {}
        if marker is not None:
            self.properties.update(marker.kwargs.get("config") or {})
            self.sasl = {k: marker.kwargs[k] for k in ("sasl_users", "sasl_mechanisms", "acls", "super_users",
                                                          "tls", "ssl_client_auth")
                         if k in marker.kwargs}
            self.storage = marker.kwargs.get("storage") or self.storage
            self.nodes = marker.kwargs.get("nodes", self.nodes)
        if isinstance(param, Mapping):
            self.properties.update(param)
        if self.storage not in _STORAGES:
            raise pytest.UsageError(f"kafkapy storage must be one of {_STORAGES}, not {self.storage!r}")

    def broker(self) -> Broker:
        from kafkapy.testing.broker import Broker, client_port_properties

        properties = dict(self.properties)
        if self.port:
            if self.sasl:
                raise pytest.UsageError("kafkapy_port cannot be combined with sasl_users or tls (the SASL or "
                                        "TLS listener takes a free port)")
            properties = {**client_port_properties(self.port), **properties}
        return Broker(properties, memory=self.storage == "memory", **self.sasl)


def _settings(request: pytest.FixtureRequest) -> _Settings:
    node = getattr(request, "node", None)
    marker = node.get_closest_marker(_MARKER) if node is not None and request.scope == "function" else None
    return _Settings(request.config, marker, getattr(request, "param", None))


@pytest.fixture
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A running in-process broker (memory storage, port 0), stopped after the test."""
    with _settings(request).broker() as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_broker_session(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """One in-process broker for the whole session."""
    with _settings(request).broker() as broker:
        yield broker


@pytest.fixture
def kafka_bootstrap(kafka_broker: Broker) -> str:
    """The ``host:port`` bootstrap address of :func:`kafka_broker`."""
    return kafka_broker.bootstrap_servers


@pytest.fixture
def kafka_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A KRaft cluster of ``kafkapy serve`` processes (``nodes`` from the marker or the
    fixture parameter, default 3), stopped after the test (paused nodes resumed first,
    every node stopped at once)."""
    from kafkapy.testing.cluster import Cluster

    settings = _settings(request)
    param = getattr(request, "param", None)
    nodes = param if isinstance(param, int) else settings.nodes
    with Cluster(nodes, settings.properties, data_dir=str(tmp_path_factory.mktemp("kafkapy-cluster"))) as cluster:
        yield cluster
