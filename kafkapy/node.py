"""One kafkapy process: storage, metadata, broker and server wired together.

This is the top of the layer stack (with ``cli.py`` and ``testing/``): it alone
knows every layer. :func:`run_node` is a trio service in the usual shape —
``info = await nursery.start(run_node, properties)`` — and :func:`serve_forever` is
what ``kafkapy serve`` runs: it adds logging, signal handling and the ready line.

Start-up order: bind the listeners (so ports asked as 0 are known), start the
metadata service, open the logs, register the broker with the controller and wait to
be unfenced; only then is the node reported started. Shutdown runs the other way:
controlled shutdown, stop serving, close the logs (checkpoints written).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import trio

from kafkapy.config import (
    QUICKSTART_PROPERTIES,
    REMOTE_STORAGE_SYSTEM_ENABLED,
    TEST_PROPERTIES,
    BrokerConfig,
    BrokerConfigs,
    LogConfig,
)

log = logging.getLogger("kafkapy")

#: The names of ``listeners`` and ``advertised.listeners`` in the config table.
BROKER_CONFIGS_LISTENERS = (BrokerConfig.field_name("listeners"), BrokerConfig.field_name("advertised_listeners"))
_BROKER_ROLE = "broker"
_INTER_BROKER_LISTENER = BrokerConfig.field_name("inter_broker_listener_name")
_QUORUM_VOTERS = BrokerConfig.field_name("controller_quorum_voters")
_QUORUM_BOOTSTRAP = BrokerConfig.field_name("controller_quorum_bootstrap_servers")
#: How long a stopping node waits for the controller to fence it (controlled shutdown).
_CONTROLLED_SHUTDOWN_S = 5.0
#: The longest a starting node runs without cyclic garbage collection (kafkapy.cli).
_GC_OFF_AT_START_S = 30.0
#: How often a node waiting for its quorum says so.
_QUORUM_WAIT_LOG_S = 10.0
#: How often a stopping leader checks that a majority of its voters still fetches.
_QUORUM_CHECK_S = 0.05
_CONTROLLER_ROLE = "controller"
#: Kafka's KafkaConfig check when a node has neither kind of quorum configuration.
_NO_VOTERS = ("If using process.roles, either controller.quorum.bootstrap.servers must contain the set of "
              "bootstrap controllers or controller.quorum.voters must contain a parseable set of controllers.")
#: The security protocols Kafka knows, by name (``SecurityProtocol`` ids).
_SECURITY_PROTOCOLS = {"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}


@dataclasses.dataclass(frozen=True, slots=True)
class NodeInfo:
    """A started node: its id, its client bootstrap address and every bound address."""

    node_id: int
    cluster_id: str
    #: the first advertised broker listener; a controller-only node's controller listener
    bootstrap_servers: str
    #: listener name -> (host, port) as bound
    listeners: Mapping[str, tuple[str, int]]
    #: the broker's dispatcher (its request ``hooks`` and ``broker`` core), for
    #: in-process tests (``kafkapy.testing``) to reach
    dispatcher: Any = dataclasses.field(default=None, compare=False, repr=False)


def _over(defaults: Mapping[str, str], properties: Mapping[str, str]) -> dict[str, str]:
    """``properties`` over ``defaults``; listeners given without advertised listeners
    are advertised as they are, and without an inter-broker listener the first one
    serves (the defaults' describe their own listeners)."""
    merged = {**defaults, **properties}
    # A dynamic quorum (KIP-853) given by the caller replaces the defaults' static voters.
    if _QUORUM_BOOTSTRAP in properties and _QUORUM_VOTERS not in properties:
        merged.pop(_QUORUM_VOTERS, None)
    listeners, advertised = BROKER_CONFIGS_LISTENERS
    if listeners in properties:
        for derived in (advertised, _INTER_BROKER_LISTENER):
            if derived not in properties:
                merged.pop(derived, None)
    return merged


def quickstart_properties(properties: Mapping[str, str]) -> dict[str, str]:
    """``properties`` over the quick-start defaults of ``kafkapy serve``."""
    return _over(QUICKSTART_PROPERTIES, properties)


def test_properties(properties: Mapping[str, str]) -> dict[str, str]:
    """``properties`` over the in-process test broker's defaults (free ports)."""
    return _over(TEST_PROPERTIES, properties)


def _csv(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _controller_registration(config: BrokerConfig, quorum: Any, channel: Any, protocols: Mapping[str, str]) -> Any:
    """Kafka's ``ControllerRegistrationManager`` for this controller: its advertised
    controller listener endpoints and the features it supports."""
    from kafkapy.kraft.metadata.controller_registration import ControllerEndpoint, ControllerRegistrationManager
    from kafkapy.kraft.metadata.features import SUPPORTED_FEATURES

    def listeners() -> list[ControllerEndpoint]:
        return [ControllerEndpoint(e.name, e.host, e.port, _SECURITY_PROTOCOLS.get(protocols.get(e.name, e.name), 0))
                for e in quorum.transport.own_endpoints]

    return ControllerRegistrationManager(quorum.service, config.node_id, listeners,
                                         SUPPORTED_FEATURES, channel.send)


def _protocol_map(config: BrokerConfig) -> dict[str, str]:
    pairs = (item.split(":", 1) for item in _csv(config.listener_security_protocol_map))
    return {name.strip().upper(): proto.strip().upper() for name, proto in pairs}


class Shutdown:
    """How a node is asked to stop, and in which order it does (Kafka's
    ``KafkaRaftServer.shutdown``: the broker, then the controller, then the Raft client).

    Cancelling :func:`run_node` asks for it. Before the node has started (binding,
    waiting for the quorum, registering) it stops at once. Once started it stops
    gracefully: the broker's controlled shutdown moves its leaderships away and ends
    with it fenced, then the active controller resigns (EndQuorumEpoch to the other
    voters, KIP-595) and waits for one of them to lead, then everything stops and the
    logs are closed. Meanwhile the node keeps running its quorum, listeners and
    controller, as its own controlled-shutdown heartbeat needs them when it is the
    active controller. :meth:`force` stops it at once whatever it is doing (a second
    SIGTERM).
    """

    def __init__(self) -> None:
        self.started = False
        self.requested = trio.Event()
        self._scope: trio.CancelScope | None = None
        self._forced = False

    def stop(self) -> None:
        """Ask for a stop: graceful once started, at once before."""
        if self.started:
            self.requested.set()
        else:
            self.force()

    def force(self) -> None:
        """Stop at once: no controlled shutdown, no resignation."""
        self._forced = True
        if self._scope is not None:
            self._scope.cancel()

    async def _stop_when_cancelled(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.stop()


async def run_node(properties: Mapping[str, str], *, memory: bool = False, shutdown: Shutdown | None = None,
                   task_status: trio.TaskStatus[NodeInfo] = trio.TASK_STATUS_IGNORED) -> None:
    """Run a node until cancelled; report :class:`NodeInfo` once it serves clients.

    Cancelling it stops the node as :class:`Shutdown` says: the node's own work runs
    shielded from the cancellation until its graceful stop is done.

    Args:
        properties: the complete configuration (Kafka's names), e.g. from
            :func:`quickstart_properties`.
        memory: keep logs and metadata in memory only.
        shutdown: lets the caller force a stop (:meth:`Shutdown.force`).
    """
    shutdown = shutdown or Shutdown()
    try:
        async with trio.open_nursery() as guard:
            guard.start_soon(shutdown._stop_when_cancelled)
            with trio.CancelScope(shield=True) as scope:
                shutdown._scope = scope
                if shutdown._forced:
                    scope.cancel()
                await _run_node(properties, memory, shutdown, task_status)
            guard.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The guard adds a level of grouping around what the node raised; take it off.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    # Cancelled from outside: say so (nursery.start must not see a plain return).
    await trio.lowlevel.checkpoint_if_cancelled()


async def _run_node(properties: Mapping[str, str], memory: bool, shutdown: Shutdown,
                    task_status: trio.TaskStatus[NodeInfo]) -> None:
    from kafkapy.broker.controller_channel import ControllerChannel, forwarding_hook
    from kafkapy.broker.core import BrokerCore, broker_config_sources
    from kafkapy.broker.dispatcher import BrokerDispatcher
    from kafkapy.broker.handlers.controller import controller_handlers
    from kafkapy.broker.isr_changes import AlterPartitionManager, run_isr_expiration
    from kafkapy.broker.lifecycle import BrokerLifecycle
    from kafkapy.broker.log_tasks import run_log_tasks
    from kafkapy.broker.replica_fetcher import ReplicaFetcherManager
    from kafkapy.broker.replica_manager import ReplicaManager
    from kafkapy.broker.security.listener_security import (
        check_security,
        controller_sasl_client,
        controller_ssl_context,
    )
    from kafkapy.kraft.metadata.image import Endpoint
    from kafkapy.server.listeners import parse_listeners
    from kafkapy.server.quotas import ConnectionQuotas, follow_dynamic_configs, follow_ip_connection_rates
    from kafkapy.server.serve import serve
    from kafkapy.server.settings import ServerSettings
    from kafkapy.storage.log_manager import LogManager

    config = BrokerConfig.from_properties(properties)
    # The controller checks remote.storage.enable against this node's own setting
    # (KIP-405); the tasks started below inherit it.
    REMOTE_STORAGE_SYSTEM_ENABLED.set(config.remote_log_storage_system_enable)
    for key in config.unknown:
        log.warning("Ignoring unknown configuration %s", key)
    is_broker = _BROKER_ROLE in config.process_roles
    if not is_broker and _CONTROLLER_ROLE not in config.process_roles:
        raise ValueError(f"process.roles must name broker, controller or both, not {config.process_roles!r}")
    controller_names = set(config.controller_listeners)
    all_listeners = parse_listeners(config.listeners)
    listeners = [listener for listener in all_listeners if listener.name not in controller_names]
    controller_listeners = ([listener for listener in all_listeners if listener.name in controller_names]
                            if _CONTROLLER_ROLE in config.process_roles else [])
    if is_broker and not listeners:
        raise ValueError(f"no broker listener in listeners={','.join(config.listeners)}")
    if not is_broker and not controller_listeners:
        raise ValueError(f"a controller needs a listener of controller.listener.names in listeners={','.join(config.listeners)}")
    protocols = _protocol_map(config)
    # The listeners' limits: per-IP overrides, creation rates, queued.max.request.bytes.
    settings = ServerSettings.from_broker_config(config)

    def clock_ms() -> int:
        import time

        return time.time_ns() // 1_000_000

    if not memory and len(config.data_dirs) > 1:
        # JBOD (KIP-858): refused rather than leave every directory but the first unused.
        raise ValueError(f"kafkapy cannot honour log.dirs with {len(config.data_dirs)} directories: it keeps "
                         "all partitions in one data directory (no JBOD); give log.dirs a single directory")
    data_dir = None if memory else config.data_dirs[0]
    if not config.controller_quorum_voters and not config.controller_quorum_bootstrap_servers:
        raise ValueError(_NO_VOTERS)
    # Formatted directories (kafkapy storage format), or a lone voter's formatted now.
    storage = None
    if not memory:
        from kafkapy.tools.node_storage import load_node_storage

        storage = load_node_storage(config)
    cluster_id = storage.cluster_id if storage is not None else _new_cluster_id()
    logs: LogManager | None = None
    try:
        async with trio.open_nursery() as nursery:
            quorum = _Quorum(config, cluster_id, memory=memory, bootstrap=storage.bootstrap if storage else None,
                             directory_id=storage.metadata_directory_id if storage else None)
            metadata = quorum.service
            channel = ControllerChannel(metadata, quorum.transport.address_of, node_id=config.node_id,
                                        request_timeout_ms=config.controller_quorum_request_timeout_ms,
                                        ssl_context=controller_ssl_context(config),
                                        authenticate=controller_sasl_client(config))
            # The controller listener serves the quorum before this node has metadata
            # (the other voters need it to elect a leader), so the core exists before
            # the logs are open; its replica manager is set once they are.
            core = BrokerCore(config, channel, None, clock_ms=clock_ms)  # type: ignore[arg-type]
            # Every listener's security, built once (key stores loaded, a JWKS fetched)
            # for the controller and broker dispatchers both; refuses what it cannot honour.
            security = check_security(config)
            core.quorum = quorum.transport
            if config.metrics_listener is not None:
                await _start_metrics(nursery, core, config.metrics_listener)
            bound = []
            if controller_listeners:
                controller_dispatcher = _ServerEdge(BrokerDispatcher(core, handlers=controller_handlers(), security=security))
                bound += await nursery.start(lambda task_status: serve(
                    controller_listeners, controller_dispatcher, settings=settings,
                    tls=controller_dispatcher.inner.security.tls, task_status=task_status))
                quorum.advertise(bound)
            await quorum.start(nursery)
            if controller_listeners:  # KIP-919: this controller's listeners and features in the log
                await nursery.start(_controller_registration(config, quorum, channel, protocols).run)
            if not is_broker:
                # A controller-only node (KIP-500's dedicated controller): the quorum and
                # the controller APIs on its controller listener, no partitions, no broker
                # registration; clients reach it as Kafka's --bootstrap-controller does.
                first_bound = bound[0]
                shutdown.started = True
                task_status.started(NodeInfo(config.node_id, cluster_id, f"{first_bound.host}:{first_bound.port}",
                                             {a.listener: (a.host, a.port) for a in bound}, None))
                await shutdown.requested.wait()
                await _stop_gracefully(None, quorum)
                nursery.cancel_scope.cancel()
                return

            def broker_configs() -> BrokerConfigs:
                return broker_config_sources(config, metadata.image)

            logs = LogManager.open(
                data_dir, cluster_id=cluster_id, node_id=config.node_id, now_ms=clock_ms(),
                config_for=lambda topic: LogConfig.from_sources(metadata.image.topic_configs(topic), broker_configs()),
                producer_id_expiration_ms=config.producer_id_expiration_ms,
                recovery_threads=config.num_recovery_threads_per_data_dir)
            replicas = ReplicaManager(config.node_id, logs, broker_configs, clock_ms,
                                      replica_lag_time_max_ms=config.replica_lag_time_max_ms,
                                      rack_aware_reads=config.replica_selector_class is not None)
            core.replicas = replicas
            core.inter_broker_listener = _inter_broker_listener(config, listeners)
            replicas.fetchers = ReplicaFetcherManager(
                replicas, config, core.inter_broker_address, lambda: core.broker_epoch)
            replicas.isr_changes = AlterPartitionManager(channel, replicas, lambda: core.broker_epoch)
            # Kafka's LogDirFailureHandler: started before the first image is applied,
            # so a full disk found at start takes the directory offline, not the node.
            await nursery.start(replicas.run_log_dir_failure_handler)
            metadata.add_publisher(lambda old, new: replicas.apply_image(new))
            replicas.apply_image(metadata.image)
            await nursery.start(replicas.fetchers.run)
            await nursery.start(replicas.isr_changes.run)
            nursery.start_soon(run_isr_expiration, replicas)
            await nursery.start(core.run_coordinators)
            dispatcher = _ServerEdge(BrokerDispatcher(core, security=security))
            dispatcher.inner.hooks.append(forwarding_hook(channel))
            # Connection limits are dynamic (AlterConfigs): the broker listeners' quotas
            # follow the image's broker configs.
            quotas = ConnectionQuotas(settings)
            follow_limits = follow_dynamic_configs(quotas, config)
            follow_limits(None, metadata.image)
            metadata.add_publisher(follow_limits)
            # ... and the ip entities' connection_creation_rate client quotas (KIP-612).
            follow_ip_rates = follow_ip_connection_rates(quotas)
            follow_ip_rates(None, metadata.image)
            metadata.add_publisher(follow_ip_rates)
            # TLS listeners' contexts, replaced when AlterConfigs changes their key stores.
            tls = dict(dispatcher.inner.security.tls)
            if tls:
                from kafkapy.broker.security.ssl_reload import follow_dynamic_ssl

                follow_tls = follow_dynamic_ssl(config, tls)
                follow_tls(None, metadata.image)
                metadata.add_publisher(follow_tls)
            bound += await nursery.start(lambda task_status: serve(
                listeners, dispatcher, settings=settings, quotas=quotas, tls=tls, task_status=task_status))
            by_name = {address.listener: (address.host, address.port) for address in bound}
            endpoints = _advertised(config, by_name, protocols, controller_names, Endpoint)
            lifecycle = BrokerLifecycle(core, channel, endpoints)
            replicas.on_offline_dir = lifecycle.directory_failed  # KIP-858: heartbeat OfflineLogDirs
            await nursery.start(lifecycle.run)
            nursery.start_soon(functools.partial(run_log_tasks, logs, config, clock_ms,
                                                 retention=replicas.cleanup_logs))
            if config.remote_log_storage_system_enable:
                from kafkapy.broker.remote_log_manager import RemoteLogManager

                core.remote_logs = replicas.remote_logs = RemoteLogManager.create(core, config, clock_ms)
                await nursery.start(core.remote_logs.run)
            first = endpoints[0]
            shutdown.started = True
            task_status.started(NodeInfo(config.node_id, core.image.cluster_id or "",
                                         f"{first.host}:{first.port}", by_name, dispatcher.inner))
            await shutdown.requested.wait()
            await _stop_gracefully(lifecycle, quorum)
            nursery.cancel_scope.cancel()
    finally:
        if logs is not None:
            logs.close(clock_ms())


async def _start_metrics(nursery: trio.Nursery, core: Any, listener: str) -> None:
    """Serve /metrics where ``kafkapy.metrics.listener`` says (validated by the config
    table); an address that cannot be bound stops the node from starting."""
    from kafkapy.config import parse_metrics_listener
    from kafkapy.server.metrics_http import serve_metrics

    host, port = parse_metrics_listener(listener)  # type: ignore[misc]
    await nursery.start(functools.partial(serve_metrics, core, host, port))


async def _stop_gracefully(lifecycle: Any, quorum: _Quorum) -> None:
    """The broker's controlled shutdown, then the active controller's resignation.

    A controlled shutdown needs a controller that can commit: when this node leads a
    quorum whose majority is gone (the last node of a cluster being stopped), none can
    approve it, and the node stops without one instead of waiting out the bound.
    """
    if lifecycle is not None:
        with trio.move_on_after(_CONTROLLED_SHUTDOWN_S) as bound:
            async with trio.open_nursery() as nursery:
                # The leadership may come to this node while it waits (other nodes
                # stopping resign to it), so the quorum is watched throughout.
                nursery.start_soon(_unless_quorum_lost, quorum, nursery.cancel_scope)
                await lifecycle.controlled_shutdown()
                nursery.cancel_scope.cancel()
        if bound.cancelled_caught:
            log.warning("Controlled shutdown not approved within %.0f s; stopping without it",
                        _CONTROLLED_SHUTDOWN_S)
    await quorum.resign()


async def _unless_quorum_lost(quorum: _Quorum, scope: trio.CancelScope) -> None:
    """Cancel ``scope`` once this node leads a quorum without a live majority."""
    while quorum.has_live_majority():
        await trio.sleep(_QUORUM_CHECK_S)
    log.info("No quorum to approve a controlled shutdown; stopping without it")
    scope.cancel()


def _inter_broker_listener(config: BrokerConfig, listeners: Sequence[Any]) -> str:
    """The listener brokers reach each other on: ``inter.broker.listener.name`` (Kafka's
    default, the PLAINTEXT listener, is the first broker listener here); the addresses
    are :meth:`BrokerCore.inter_broker_address`.

    Raises:
        ValueError: the name is not one of this node's broker listeners.
    """
    name = config.inter_broker_listener_name or listeners[0].name
    if name not in {listener.name for listener in listeners}:
        raise ValueError(f"inter.broker.listener.name {name!r} is not a broker listener in listeners="
                         f"{','.join(config.listeners)}")
    return str(name)


def _advertised(config: BrokerConfig, bound: Mapping[str, tuple[str, int]], protocols: Mapping[str, str],
                controller_names: set[str], endpoint_cls: Any) -> list[Any]:
    """Advertised endpoints: ``advertised.listeners`` (else ``listeners``), with bound
    ports for port 0 and the bound host for an empty host."""
    from kafkapy.server.listeners import parse_listeners

    source = config.advertised_listeners or config.listeners
    out = []
    for listener in parse_listeners(source):
        if listener.name in controller_names or listener.name not in bound:
            continue
        bound_host, bound_port = bound[listener.name]
        host = listener.host or (bound_host if bound_host not in ("0.0.0.0", "::", "") else "localhost")
        port = listener.port or bound_port
        protocol = protocols.get(listener.name, listener.name)
        out.append(endpoint_cls(listener.name, host, port, _SECURITY_PROTOCOLS.get(protocol, 0)))
    if not out:
        raise ValueError("advertised.listeners names no broker listener")
    return out


class _Quorum:
    """This node's part of the ``__cluster_metadata`` quorum: the Raft driver, its
    network transport and the metadata service on it.

    The quorum is ``controller.quorum.voters`` (one voter, this node, if unset); a
    node not among the voters follows the log as an observer. A single voter elects
    itself with no network.
    """

    def __init__(self, config: BrokerConfig, cluster_id: str, *, memory: bool,
                 bootstrap: Sequence[Any] | None = None, directory_id: str | None = None) -> None:
        import math
        import os

        from kafkapy.broker.security.listener_security import controller_sasl_client, controller_ssl_context
        from kafkapy.kraft.metadata.bootstrap import bootstrap_records
        from kafkapy.kraft.metadata.controller import ControllerConfig
        from kafkapy.kraft.metadata.service import MetadataService
        from kafkapy.kraft.raft.batches import KafkaSnapshotCodec
        from kafkapy.kraft.raft.config import RaftConfig
        from kafkapy.kraft.raft.driver import RaftDriver
        from kafkapy.kraft.raft.file_log import METADATA_PARTITION, METADATA_TOPIC, FileRaftLog
        from kafkapy.kraft.raft.memory_log import MemoryLog
        from kafkapy.kraft.raft.network import KafkaRaftTransport, parse_bootstrap_servers, parse_quorum_voters
        from kafkapy.kraft.raft.quorum_store import FileQuorumStateStore, MemoryQuorumStateStore
        from kafkapy.kraft.raft.records import Endpoint, Voter
        from kafkapy.kraft.raft.snapshot import SnapshotPolicy
        from kafkapy.kraft.raft.voters import VoterSet

        self.config = config
        self.listener = (config.controller_listeners or ("CONTROLLER",))[0]
        voters = parse_quorum_voters(config.controller_quorum_voters)
        if len(voters) > 1 and config.node_id in voters and _CONTROLLER_ROLE not in config.process_roles:
            raise ValueError(f"node {config.node_id} is in controller.quorum.voters but process.roles "
                             f"has no controller")
        if memory:
            raft_log: Any = MemoryLog(KafkaSnapshotCodec())
            store: Any = MemoryQuorumStateStore()
        else:
            # __cluster_metadata-0 goes in the first data directory unless metadata.log.dir says otherwise.
            metadata_dir = config.metadata_log_dir or config.data_dirs[0]
            raft_log = FileRaftLog.open(metadata_dir)
            store = FileQuorumStateStore(os.path.join(metadata_dir, f"{METADATA_TOPIC}-{METADATA_PARTITION}"))
        # Without controller.quorum.voters (KIP-853's controller.quorum.bootstrap.servers), the
        # voters are those `kafkapy storage format --standalone/--initial-controllers` wrote.
        snapshot = raft_log.latest_snapshot()
        formatted = snapshot.voters if snapshot is not None else None
        bootstrap_servers = parse_bootstrap_servers(config.controller_quorum_bootstrap_servers)
        if not voters and (formatted is None or not formatted.ids) and not bootstrap_servers:
            raise ValueError(_NO_VOTERS)
        # Without voters of its own (formatted --no-initial-controllers, or a broker), a node
        # of a dynamic quorum is an observer that asks the bootstrap servers who leads, then
        # reads the voters from the leader's log (KIP-853); AddRaftVoter may make it a voter.
        bootstrap_ids = {-2 - i: address for i, address in enumerate(bootstrap_servers)} if not voters else {}
        voter_ids = set(voters) if voters else set(formatted.ids) if formatted is not None else set()
        single = bool(voter_ids) and voter_ids <= {config.node_id}
        static = VoterSet([Voter(i, None, (Endpoint(self.listener, host, port),)) for i, (host, port) in voters.items()]
                          if not single else [Voter(config.node_id)])
        self.transport = KafkaRaftTransport(config.node_id, self.listener, {**voters, **bootstrap_ids},
                                            request_timeout_ms=config.controller_quorum_request_timeout_ms,
                                            ssl_context=controller_ssl_context(config),
                                            authenticate=controller_sasl_client(config))
        _, inbox = trio.open_memory_channel[Any](0)  # everything arrives through the transport
        interval = config.metadata_log_max_snapshot_interval_ms
        service: MetadataService | None = None
        self.driver = RaftDriver(
            # A dynamic quorum's replica is its id and the metadata directory's id (KIP-853
            # ReplicaKey); a static quorum's voters have none, as Kafka's DescribeQuorum shows.
            RaftConfig(config.node_id, directory_id=None if voters else directory_id, cluster_id=cluster_id,
                       election_timeout_ms=config.controller_quorum_election_timeout_ms,
                       fetch_timeout_ms=config.controller_quorum_fetch_timeout_ms,
                       election_backoff_max_ms=config.controller_quorum_election_backoff_max_ms,
                       request_timeout_ms=config.controller_quorum_request_timeout_ms,
                       retry_backoff_ms=config.controller_quorum_retry_backoff_ms,
                       # A static quorum stays at kraft.version 0, as Kafka's (no KRaftVersionRecord
                       # nor VotersRecord in the log): Kafka brokers and voters of a mixed cluster
                       # take their voters from controller.quorum.voters, not from the log.
                       kraft_version=0 if voters else 1, bootstrap_ids=tuple(bootstrap_ids)),
            raft_log, store, self.transport, inbox, static_voters=static,
            snapshot_source=lambda: service.snapshot()[2] if service is not None else (),
            snapshot_policy=SnapshotPolicy(config.metadata_log_max_record_bytes_between_snapshots,
                                           interval if interval > 0 else math.inf,
                                           last_snapshot_ms=int(trio.current_time() * 1000)))
        self.transport.bind(self.driver)
        self.service = service = MetadataService(
            self.driver, cluster_id=cluster_id, config=ControllerConfig.from_broker_config(config),
            bootstrap=list(bootstrap) if bootstrap is not None else bootstrap_records())

    @property
    def is_single_voter(self) -> bool:
        """Whether this node is the only voter of the voter set in force: the formatted
        one at first, then the log's (a dynamic quorum grows and shrinks, KIP-853)."""
        ids = self.driver.node.voters.ids
        return bool(ids) and ids <= {self.config.node_id}

    def advertise(self, bound: Sequence[Any]) -> None:
        """Tell the transport where this node's controller listener is: its entry in
        ``advertised.listeners`` if it has one (KIP-853, Kafka's
        ``effectiveAdvertisedControllerListeners``), else as bound; port 0 and an empty
        host are the bound ones."""
        from kafkapy.kraft.raft.records import Endpoint
        from kafkapy.server.listeners import parse_listeners

        by_name = {a.listener: a for a in bound}
        if self.listener not in by_name:
            return
        address = by_name[self.listener]
        host = address.host if address.host not in ("0.0.0.0", "::", "") else "localhost"
        advertised = [a for a in parse_listeners(self.config.advertised_listeners or "") if a.name == self.listener]
        self.transport.own_endpoints = tuple(
            Endpoint(self.listener, a.host or host, a.port or address.port) for a in advertised
        ) or (Endpoint(self.listener, host, address.port),)

    async def start(self, nursery: trio.Nursery) -> None:
        """Run the transport, the driver and the service; return once this node's image
        holds the bootstrapped metadata and a leader is known. While there is none, say
        so every ``_QUORUM_WAIT_LOG_S`` (the peers down, or formatted for another cluster)."""
        service = self.service
        await nursery.start(self.transport.run)
        await nursery.start(self._run_driver)
        await nursery.start(service.run)
        while not (service.image.metadata_version > 0 and service.leader_id is not None
                   and (service.is_active_controller or not self.is_single_voter)):
            with trio.move_on_after(_QUORUM_WAIT_LOG_S) as waiting:
                await service.changed().wait()
            if waiting.cancelled_caught:
                log.info("Waiting for the metadata quorum: %s among voters %s; a majority of them must run, "
                         "formatted with this node's cluster id %s", "no leader elected yet"
                         if service.leader_id is None else f"leader {service.leader_id}, no metadata yet",
                         sorted(self.driver.node.voters.ids), self.driver.config.cluster_id)

    async def _run_driver(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The Raft driver; if it stops because the metadata log cannot be written (a
        full disk), the node goes on. Kafka halts the process there; issue 13 asks that
        no I/O error end it. The driver never steps its node again, so nothing it did
        not persist is acknowledged; the node keeps its metadata image for reads."""
        from kafkapy.kraft.raft.driver import DriverStoppedError

        try:
            await self.driver.run(task_status=task_status)
        except DriverStoppedError as exc:
            log.critical("Node %d: the metadata log in %s cannot be written (%s); this node takes no more "
                         "part in the metadata quorum and serves its last metadata until restarted with "
                         "space freed", self.config.node_id,
                         self.config.metadata_log_dir or self.config.data_dirs[0], exc.__cause__ or exc)
            await trio.sleep_forever()

    def has_live_majority(self) -> bool:
        """Whether the quorum can commit, as far as this node can tell: always when it
        does not lead (its controller channel finds out), and when it leads, if a
        majority of the voters, itself included, fetched within
        ``controller.quorum.fetch.timeout.ms`` (the check-quorum rule, KIP-595), or if
        it was elected, or last saw a majority fetch, less than
        ``controller.quorum.election.timeout.ms`` ago (followers fetch from a new
        leader at once)."""
        from kafkapy.kraft.raft.leader_state import LeaderState

        node = self.driver.node
        state = node.state
        if self.is_single_voter or not isinstance(state, LeaderState):
            return True
        config = self.config
        now_ms = int(trio.current_time() * 1000)
        voters = node.describe_quorum().current_voters
        recent = sum(1 for v in voters if v.replica_id != config.node_id and v.last_fetch_timestamp >= 0
                     and now_ms - v.last_fetch_timestamp <= config.controller_quorum_fetch_timeout_ms)
        if 2 * (recent + 1) > len(voters):
            return True
        # The check-quorum deadline runs from the election or the last majority round.
        last_majority_ms = state.deadline_ms - LeaderState.check_quorum_timeout_ms(self.driver.config)
        return now_ms - last_majority_ms < config.controller_quorum_election_timeout_ms

    async def resign(self) -> None:
        """The Raft client's graceful shutdown (Kafka's ``KafkaRaftClient.shutdown``):
        a leader resigns, sending EndQuorumEpoch so that its most caught-up follower
        stands at once instead of waiting out the fetch timeout, and waits until
        another voter leads. Kafka waits up to 5 s; an election that EndQuorumEpoch
        starts ends within one election timeout or not soon, so that bounds the wait,
        and without a live majority no election can end at all."""
        node = self.driver.node
        if self.is_single_voter or not node.is_leader:
            return
        live = self.has_live_majority()
        log.info("Node %d resigning as the quorum leader in epoch %d", self.config.node_id, node.epoch)
        self.driver.resign()
        if not live:
            return
        with trio.move_on_after(self.config.controller_quorum_election_timeout_ms / 1000):
            while self.service.leader_id in (None, self.config.node_id):
                await self.service.changed().wait()
        log.info("Quorum leader after resigning: %s", self.service.leader_id)


def _new_cluster_id() -> str:
    """A cluster id as ``kafka-storage random-uuid`` prints it: URL-safe base64, 22 chars."""
    import base64
    import uuid

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class _ServerEdge:
    """The broker's dispatcher as the server sees it: broker ``CloseConnection``
    becomes the server's own (the broker layer does not import the server)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def handle(self, conn: Any, frame: memoryview) -> Any:
        from kafkapy.broker.errors import CloseConnection as BrokerClose

        try:
            return await self.inner.handle(conn, frame)
        except BrokerClose as exc:
            from kafkapy.server.dispatch import CloseConnection

            raise CloseConnection(str(exc)) from None


def _collect_garbage() -> None:
    """Turn cyclic garbage collection back on (kafkapy.cli turns it off for the start),
    with what the start made frozen out of it (``gc.freeze``): modules, classes, the
    image and the open logs live as long as the node, and the first collections that
    walked them all took tens of milliseconds just as the first clients were answered."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


async def _collect_garbage_after(seconds: float) -> None:
    """Collect garbage again after ``seconds`` even when the node is not ready by then
    (a quorum still to form), so that waiting does not pile up garbage."""
    await trio.sleep(seconds)
    _collect_garbage()


def _leaves(group: BaseException) -> list[BaseException]:
    if isinstance(group, BaseExceptionGroup):
        return [leaf for exc in group.exceptions for leaf in _leaves(exc)]
    return [group]


def serve_forever(properties: Mapping[str, str], *, memory: bool = False, log_level: str = "INFO",
                  quickstart: bool = True) -> int:
    """Run a node in the foreground until SIGINT or SIGTERM; the ``kafkapy serve`` body.

    Args:
        quickstart: fill keys ``properties`` leaves unset from the quick-start defaults
            (``kafkapy serve`` without a ``server.properties``); else Kafka's defaults.

    Returns:
        The process exit status.
    """
    from kafkapy.config import ConfigError
    from kafkapy.config_dump import config_values_block

    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format="[%(asctime)s] %(levelname)s %(message)s (%(name)s)")
    props = quickstart_properties(properties) if quickstart else dict(properties)
    try:
        log.info("%s", config_values_block(props))
    except ConfigError:
        pass  # the node reports the bad value as it starts

    async def main() -> None:
        import signal

        shutdown = Shutdown()

        async def on_signals(signals: Any, scope: trio.CancelScope) -> None:
            # Watched from the start, so a signal stops the node in every phase: while
            # it binds, waits for the quorum or registers (at once), while it runs
            # (gracefully), and while it stops (a second signal: at once).
            async for signum in signals:
                if not scope.cancel_called:
                    log.info("Received %s, shutting down", signal.Signals(signum).name)
                    scope.cancel()
                else:
                    log.info("Received %s again, stopping at once", signal.Signals(signum).name)
                    shutdown.force()

        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            node_scope = trio.CancelScope()
            async with trio.open_nursery() as watcher:
                watcher.start_soon(on_signals, signals, node_scope)
                watcher.start_soon(_collect_garbage_after, _GC_OFF_AT_START_S)
                with node_scope:
                    async with trio.open_nursery() as nursery:
                        info: NodeInfo = await nursery.start(lambda task_status: run_node(
                            props, memory=memory, shutdown=shutdown, task_status=task_status))
                        log.info("kafkapy ready: node %d, bootstrap %s, cluster %s, %s storage",
                                 info.node_id, info.bootstrap_servers, info.cluster_id,
                                 "memory" if memory else "disk")
                        _collect_garbage()
                watcher.cancel_scope.cancel()

    failures: list[BaseException] = []
    try:
        trio.run(main)
    except* (ValueError, OSError) as group:
        failures = _leaves(group)
    for exc in failures:
        log.error("kafkapy failed: %s", exc)
    if failures:
        return 1
    log.info("kafkapy stopped")
    return 0
