"""An in-process kafkapy node for tests: ``with Broker() as b: b.bootstrap_servers``.

The node runs under ``trio.run`` in a background thread, so it serves clients of any
kind from the test's own thread — plain threads, asyncio or trio — over real TCP on
127.0.0.1. By default it keeps its data in memory and binds free ports (port 0).

Besides serving clients, a :class:`Broker` answers the questions tests ask without a
client — what a topic holds, which groups exist and what they committed — and takes
faults at the level of intent through :attr:`Broker.faults` (fail, delay or drop
requests by API name; make a partition leaderless; move its leader). Calls from the
test's thread run on the broker's trio thread, where its state lives.
:meth:`Broker.metrics` gives the numbers ``/metrics`` serves as a dict; with
``kafkapy.metrics.listener`` set (``http://127.0.0.1:0``) :attr:`Broker.metrics_url`
is where Prometheus would scrape them.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self

import trio

from kafkapy.broker.faults import FaultInjector
from kafkapy.config import BrokerConfig
from kafkapy.node import NodeInfo, run_node, test_properties

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.testing.tls import CertificateFiles, TestCertificates
    from kafkapy.testing.topic_reader import ConsumedRecord

_LOG_DIRS = BrokerConfig.field_name("log_dirs")


def client_port_properties(port: int) -> dict[str, str]:
    """The listener properties of a test broker whose clients connect on ``port``
    (the controller listener keeps a free port)."""
    listeners, advertised = BrokerConfig.field_name("listeners"), BrokerConfig.field_name("advertised_listeners")
    return {listeners: f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:0",
            advertised: f"PLAINTEXT://127.0.0.1:{port}"}


def _outside_trio(fn: Callable[[], Any]) -> Any:
    """``fn()``, from a helper thread when this thread runs a trio loop of its own
    (``trio.from_thread`` refuses to block a trio thread)."""
    if not trio.lowlevel.in_trio_run():
        return fn()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


class GroupListing(NamedTuple):
    """One consumer group as ListGroups reports it."""

    group_id: str
    protocol_type: str
    state: str


class BrokerFaults(FaultInjector):
    """The broker's fault rules (see :mod:`kafkapy.broker.faults`) plus leadership
    faults, callable from the test's thread::

        broker.faults.fail("Produce", "NOT_LEADER_OR_FOLLOWER", count=2, topic="t", partition=0)
        broker.faults.delay("Fetch", ms=500)
        broker.faults.drop_connection("Metadata")
        broker.faults.make_leaderless("t", 0)
        broker.faults.move_leader("t", 0)       # a leader again, new leader epoch
    """

    def __init__(self, broker: Broker) -> None:
        super().__init__()
        self._broker = broker

    def make_leaderless(self, topic: str, partition: int = 0) -> None:
        """Leave the partition without a leader until :meth:`move_leader`."""
        from kafkapy.broker import faults

        self._broker.call(faults.make_leaderless, self._broker.core.metadata, topic, partition)

    def move_leader(self, topic: str, partition: int = 0, to: int | None = None) -> int:
        """Elect a leader (``to``, or the next in-sync replica) with a new leader epoch;
        returns its id."""
        from kafkapy.broker import faults

        return self._broker.call(faults.move_leader, self._broker.core.metadata, topic, partition, to)


class Broker:
    """A kafkapy node (broker + controller) in a background thread.

    Args:
        config: Kafka configuration keys that override the test defaults.
        memory: keep data in memory (default). False writes to ``log.dirs``, or to a
            temporary directory removed at :meth:`stop` when ``log.dirs`` is not given.
        sasl_users: user -> password: clients connect on a SASL_PLAINTEXT listener
            with ``sasl_mechanisms`` (PLAIN users in its JAAS config, SCRAM users
            in the metadata log); :meth:`sasl_client_config` gives their settings.
            See :mod:`kafkapy.testing.sasl`.
        acls: ACLs (:func:`kafkapy.testing.acls.allow` / ``deny``) created once the
            broker has started; giving ``acls`` or ``super_users`` runs Kafka's
            StandardAuthorizer. See :mod:`kafkapy.testing.acls`.
        super_users: ``super.users`` principals; with ``sasl_users``, ``User:ANONYMOUS``
            (the broker's own PLAINTEXT inter-broker listener, which carries its
            transaction markers) is always one of them.
        tls: clients connect over TLS: an SSL listener, SASL_SSL with ``sasl_users``;
            certificates are made on the fly (:attr:`certificates`), and
            :meth:`tls_client_config` gives each client family its settings. See
            :mod:`kafkapy.testing.tls`.
        ssl_client_auth: ``ssl.client.auth`` of the TLS listener (none, requested,
            required); client certificates come from ``certificates.client(name)``.

    Attributes:
        faults: the fault rules, kept across :meth:`stop`/:meth:`start`.

    Thread-safety: ``start``/``stop`` are called from one thread (the test's); the
    query and fault methods from any thread but the broker's own.
    """

    def __init__(self, config: Mapping[str, str] | None = None, *, memory: bool = True,
                 sasl_users: Mapping[str, str] | None = None,
                 sasl_mechanisms: Sequence[str] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
                 acls: Sequence[Any] | None = None, super_users: Sequence[str] | None = None,
                 tls: bool = False, ssl_client_auth: str = "none") -> None:
        user_config = config
        self.sasl_users = dict(sasl_users or {})
        self.sasl_mechanisms = tuple(sasl_mechanisms)
        self.acls = list(acls or [])
        if sasl_users is not None:
            from kafkapy.testing.sasl import sasl_properties

            config = {**sasl_properties(self.sasl_users, self.sasl_mechanisms), **(config or {})}
        self.certificates: TestCertificates | None = None
        if tls:
            from kafkapy.testing import tls as test_tls

            self.certificates = test_tls.TestCertificates()
            tls_props = test_tls.tls_properties(self.certificates, sasl=sasl_users is not None, client_auth=ssl_client_auth)
            # Over the SASL listener's properties, under the test's own.
            config = {**(config or {}), **{k: v for k, v in tls_props.items() if k not in (user_config or {})}}
        if acls is not None or super_users is not None:
            from kafkapy.testing.acls import ANONYMOUS, authorizer_properties

            super_users = list(super_users or [])
            if (sasl_users is not None or tls) and ANONYMOUS not in super_users:
                super_users.append(ANONYMOUS)  # the inter-broker listener (transaction markers)
            config = {**authorizer_properties(super_users), **(config or {})}
        self.properties = test_properties(config or {})
        self.memory = memory
        self._explicit_log_dirs = _LOG_DIRS in (config or {})
        self._temp_dir: str | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self.info: NodeInfo | None = None
        self.faults = BrokerFaults(self)

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of the client listener, as clients take it."""
        return self._info().bootstrap_servers

    @property
    def node_id(self) -> int:
        return self._info().node_id

    @property
    def core(self) -> BrokerCore:
        """The broker's state (metadata image, replica manager); touch it only through
        :meth:`call`, on the broker's thread."""
        return self._info().dispatcher.broker

    def _info(self) -> NodeInfo:
        if self.info is None:
            raise RuntimeError("the broker is not running")
        return self.info

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> Self:
        """Start the node and return once it answers requests.

        Raises:
            RuntimeError: if it did not start within ``timeout_s``, or failed to start.
        """
        if self._thread is not None:
            raise RuntimeError("already started")
        if not self.memory and not self._explicit_log_dirs:
            self._temp_dir = self._temp_dir or tempfile.mkdtemp(prefix="kafkapy-")
            self.properties[_LOG_DIRS] = self._temp_dir
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="kafkapy-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"broker did not start within {timeout_s} s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("broker failed to start") from self._error
        if self.sasl_users:
            self._create_scram_users()
        if self.acls:
            self.add_acls(self.acls)
        return self

    def add_acls(self, acls: Sequence[Any]) -> None:
        """Create ACLs (:class:`kafkapy.testing.acls.Acl`) in the metadata log, as
        ``kafka-acls --add`` does; returns once they are committed and applied."""
        results = self.call(self.core.metadata.create_acls, [acl.standard() for acl in acls])
        failed = [f"{acl}: {r.code.name} {r.message}" for acl, r in zip(acls, results, strict=True) if r.code]
        if failed:
            raise RuntimeError("creating ACLs failed: " + "; ".join(failed))

    def remove_acls(self, acls: Sequence[Any]) -> None:
        """Delete these exact ACLs (``kafka-acls --remove``); returns once committed."""
        from kafkapy.kraft.metadata.acls import AclFilter

        filters = [AclFilter(*acl.standard()) for acl in acls]
        results = self.call(self.core.metadata.delete_acls, filters)
        failed = [f"{acl}: {r.error.code.name}" for acl, r in zip(acls, results, strict=True) if r.error.code]
        if failed:
            raise RuntimeError("removing ACLs failed: " + "; ".join(failed))

    def _create_scram_users(self) -> None:
        from kafkapy.testing.sasl import scram_upsertions

        # One request per mechanism: Kafka refuses a user twice in one request.
        for mechanism in self.sasl_mechanisms:
            upsertions = scram_upsertions(self.sasl_users, [mechanism])
            if not upsertions:
                continue
            results = self.call(self.core.metadata.alter_user_scram_credentials, [], upsertions)
            failed = [f"{r.user}: {r.error.code.name}" for r in results if r.error.code]
            if failed:
                raise RuntimeError("creating SCRAM users failed: " + "; ".join(failed))

    def sasl_client_config(self, user: str, mechanism: str = "PLAIN", family: str = "librdkafka") -> dict[str, Any]:
        """A client family's settings (``librdkafka``, ``kafka-python``, ``java``) to
        connect as ``user`` (one of ``sasl_users``) with ``mechanism``."""
        from kafkapy.testing.sasl import client_config

        return client_config(self.bootstrap_servers, user, self.sasl_users.get(user, ""), mechanism, family)

    def tls_client_config(self, family: str = "librdkafka", *, client: CertificateFiles | None = None,
                          user: str | None = None, mechanism: str = "SCRAM-SHA-512") -> dict[str, Any]:
        """A client family's settings to reach the TLS listener: the CA file, the client
        certificate ``client`` (mTLS) if given, and over SASL_SSL ``user``'s credentials."""
        from kafkapy.testing.tls import client_config

        if self.certificates is None:
            raise RuntimeError("the broker was not started with tls=True")
        sasl = self.sasl_client_config(user, mechanism, family) if user is not None else None
        return client_config(self.bootstrap_servers, self.certificates.ca_file, family=family, client=client,
                             sasl=sasl)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Shut the node down cleanly (idempotent). A temporary data directory is kept
        until :meth:`close`, so a stopped broker can be started again on its data."""
        thread = self._thread
        if thread is None:
            return
        if self._token is not None and self._stop is not None and thread.is_alive():
            try:
                _outside_trio(lambda: trio.from_thread.run_sync(self._stop.set, trio_token=self._token))
            except trio.RunFinishedError:
                pass
        thread.join(timeout_s)
        self._thread = None
        self.info = None

    def close(self) -> None:
        """Stop, and remove the temporary data directory (and certificates) if made."""
        self.stop()
        if self.certificates is not None:
            self.certificates.cleanup()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # noqa: BLE001  (reported to start(); the thread must not die silently)
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            info: NodeInfo = await nursery.start(lambda task_status: run_node(
                self.properties, memory=self.memory, task_status=task_status
            ))
            info.dispatcher.hooks.append(self.faults.hook)
            self.info = info
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    # --- running code on the broker's thread ----------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the broker's trio thread and return its result;
        ``fn`` may be a coroutine function. Callable from a trio test too (the call
        then blocks that test's loop while it runs)."""
        self._info()
        import inspect

        def run() -> Any:
            if inspect.iscoroutinefunction(fn):
                return trio.from_thread.run(fn, *args, trio_token=self._token)
            return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

        return _outside_trio(run)

    # --- topics ---------------------------------------------------------------------------

    def create_topics(self, *names: str, partitions: int = 1, replication_factor: int = 1,
                      config: Mapping[str, str] | None = None) -> None:
        """Create topics through the controller, as CreateTopics does.

        Raises:
            ValueError: the controller refused one (the Kafka error name says why).
        """
        from kafkapy.kraft.metadata.replication_control import NewTopic

        topics = [NewTopic(name, partitions, replication_factor, configs=dict(config or {})) for name in names]
        results = self.call(self.core.metadata.create_topics, topics)
        failed = [f"{r.name}: {r.error.code.name} {r.error.message or ''}".rstrip()
                  for r in results if r.error.code]
        if failed:
            raise ValueError("CreateTopics failed: " + "; ".join(failed))

    def topics(self) -> dict[str, int]:
        """Topic name -> partition count, from the current metadata image (images are
        immutable, so reading one from another thread is safe)."""
        image = self.core.image
        return {name: len(t.partitions) for name, t in image.topics_by_name.items()}

    def leader(self, topic: str, partition: int = 0) -> int:
        """The partition's leader id (-1 when it has none)."""
        part = self.core.image.partition(topic, partition)
        if part is None:
            raise ValueError(f"unknown partition {topic}-{partition}")
        return part.leader

    def records(self, topic: str, partition: int | None = None, *,
                committed: bool = False) -> list[ConsumedRecord]:
        """What ``topic`` holds (one partition, or all in partition order), as a
        consumer from the beginning would see it.

        Args:
            committed: read_committed (aborted transactions left out) instead of
                read_uncommitted.
        """
        from kafkapy.testing.topic_reader import read_partition

        def read() -> list[ConsumedRecord]:
            known = self.core.image.topic(topic)
            if known is None:
                raise ValueError(f"unknown topic {topic!r}")
            indexes = sorted(known.partitions) if partition is None else [partition]
            out: list[ConsumedRecord] = []
            for index in indexes:
                hosted = self.core.replicas.get(topic, index)
                if hosted is None:
                    raise ValueError(f"{topic}-{index} is not hosted by broker {self.node_id}")
                out.extend(read_partition(hosted.log, committed=committed))
            return out

        return self.call(read)

    # --- groups ---------------------------------------------------------------------------

    def list_groups(self) -> list[GroupListing]:
        """The consumer groups the broker knows (ListGroups, over the wire).

        Raises:
            NotImplementedError: this broker has no group coordinator.
        """
        from kafkapy.wire.messages.list_groups import ListGroupsRequest

        version = self._group_api_version("ListGroups", 4)
        answer = self._request(ListGroupsRequest(), version)
        return [GroupListing(g.group_id, g.protocol_type, g.group_state) for g in answer.groups]

    def committed_offsets(self, group: str) -> dict[tuple[str, int], int]:
        """(topic, partition) -> committed offset of ``group`` (OffsetFetch for all
        topics, over the wire).

        Raises:
            NotImplementedError: this broker has no group coordinator.
            RuntimeError: the coordinator answered with an error.
        """
        from kafkapy.wire.error_codes import ErrorCode
        from kafkapy.wire.messages.offset_fetch import OffsetFetchRequest

        version = self._group_api_version("OffsetFetch", 8)
        if version >= 8:
            answer = self._request(OffsetFetchRequest(groups=[
                OffsetFetchRequest.OffsetFetchRequestGroup(group_id=group, topics=None)]), version)
            error, topics = answer.groups[0].error_code, answer.groups[0].topics
        else:
            answer = self._request(OffsetFetchRequest(group_id=group, topics=None), version)
            error, topics = answer.error_code, answer.topics
        if error:
            raise RuntimeError(f"OffsetFetch for {group!r}: {ErrorCode(error).name}")
        return {(t.name, p.partition_index): p.committed_offset
                for t in topics for p in t.partitions if p.committed_offset >= 0}

    def metrics(self) -> dict[str, float]:
        """The numbers ``/metrics`` serves, by sample: ``name`` or ``name{label="v",...}``
        with labels sorted, e.g. ``kafka_server_brokertopicmetrics_messagesin_total{topic="t"}``
        (read on the broker's thread; the process metrics are left out)."""
        from kafkapy.broker.metrics_families import as_dict, broker_families

        return self.call(lambda: as_dict(broker_families(self.core)))

    @property
    def metrics_url(self) -> str | None:
        """``http://host:port/metrics`` when ``kafkapy.metrics.listener`` is set, else None."""
        endpoint = self.core.metrics.endpoint
        return None if endpoint is None else f"http://{endpoint[0]}:{endpoint[1]}/metrics"

    def _group_api_version(self, api: str, highest: int) -> int:
        from kafkapy.broker.faults import api_key_by_name
        from kafkapy.broker.registry import load_handlers

        handler = load_handlers().get(api_key_by_name(api))
        if handler is None:
            raise NotImplementedError(f"this broker does not serve {api} yet (no group coordinator)")
        return min(handler.max_version, highest)

    def _request(self, body: Any, version: int) -> Any:
        from kafkapy.testing.client import KafkaConnection

        with KafkaConnection(self.bootstrap_servers) as conn:
            return conn.request(body, version)

