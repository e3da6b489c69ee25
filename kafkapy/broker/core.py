"""What every handler reaches through ``ctx.broker``: config, metadata, replicas.

The broker talks to the metadata layer through :class:`MetadataService`, the narrow
interface below: the current image, a callback on each newly published image, and
the controller operations as coroutines that return once their records are
committed. Handlers never touch the Raft log or the controller directly.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import trio

from kafkapy.broker.authorization import authorizer_from_config
from kafkapy.broker.metrics import BrokerMetrics
from kafkapy.broker.producer_ids import ProducerIdManager
from kafkapy.broker.quotas import ClientQuotas, ControllerMutationQuotas, RequestQuotas
from kafkapy.config import BrokerConfig, BrokerConfigs
from kafkapy.kraft.metadata.topic_names import INTERNAL_TOPICS

if TYPE_CHECKING:
    from kafkapy.broker.group_coordinator import GroupCoordinator
    from kafkapy.broker.replica_manager import ReplicaManager
    from kafkapy.kraft.metadata.configuration_control import AlterConfigsResult, ConfigChange, ConfigResource
    from kafkapy.kraft.metadata.controller import ProducerIdsBlock
    from kafkapy.kraft.metadata.feature_control import FeatureUpdate
    from kafkapy.kraft.metadata.image import MetadataImage, Uuid
    from kafkapy.kraft.metadata.replication_control import (
        CreatePartitionsResult,
        CreateTopicResult,
        DeleteTopicResult,
        NewPartitions,
        NewTopic,
    )
    from kafkapy.kraft.metadata.results import ApiError
    from kafkapy.broker.share.service import ShareGroups
    from kafkapy.broker.streams.service import StreamsGroups
    from kafkapy.broker.txn_coordinator import TransactionCoordinator


class MetadataService(Protocol):
    """The metadata layer as the broker uses it.

    ``image`` is the latest published image. Publishers added with ``add_publisher``
    are called synchronously, on the trio thread, with the old and the new image right
    after each change, in order (Kafka's ``MetadataPublisher``). The coroutines send the request to
    the active controller and return its per-item answers once the records are
    committed and applied to ``image``.
    """

    @property
    def image(self) -> "MetadataImage": ...

    def add_publisher(self, publisher: Callable[["MetadataImage", "MetadataImage"], None]) -> None: ...

    async def create_topics(self, topics: Sequence["NewTopic"], *,
                            validate_only: bool = False) -> list["CreateTopicResult"]: ...

    async def delete_topics(self, names: Iterable[str] = (),
                            ids: Iterable["Uuid"] = ()) -> list["DeleteTopicResult"]: ...

    async def create_partitions(self, topics: Sequence["NewPartitions"], *,
                                validate_only: bool = False) -> list["CreatePartitionsResult"]: ...

    async def alter_configs(self, changes: Sequence[tuple["ConfigResource", Mapping[str, str | None]]], *,
                            validate_only: bool = False) -> list["AlterConfigsResult"]: ...

    async def incremental_alter_configs(
        self, changes: Sequence[tuple["ConfigResource", Sequence["ConfigChange"]]], *,
        validate_only: bool = False,
    ) -> list["AlterConfigsResult"]: ...

    async def allocate_producer_ids(self, broker_id: int, broker_epoch: int) -> "ProducerIdsBlock": ...

    async def update_features(self, updates: Sequence["FeatureUpdate"], *,
                              validate_only: bool = False) -> dict[str, "ApiError"]: ...


class _Coordinator:
    """A coordinator attribute of :class:`BrokerCore`, built on first use: importing and
    building the coordinators is a quarter of a node's start (issue 18), and a new node
    needs none of them for its first answers (:meth:`BrokerCore.run_coordinators`)."""

    #: the attribute names of every coordinator, in the order they are built
    names: list[str] = []

    def __init__(self, module: str, cls: str) -> None:
        self.module, self.cls = module, cls

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        _Coordinator.names.append(name)

    def __get__(self, core: "BrokerCore | None", owner: type) -> Any:
        if core is None:
            return self
        core._build_coordinators()
        return core.__dict__[self.name]


class BrokerCore:
    """The broker's shared state. Task-safety: used on the trio thread only.

    Attributes:
        config: the node's static configuration.
        metadata: the metadata service (image, controller operations).
        replicas: the replica manager (partitions this node hosts).
        broker_epoch: this broker's epoch from its registration; -1 before.
        producer_ids: the producer id generator (InitProducerId).
        groups: the group coordinator (classic groups, committed offsets).
        txn_coordinator: the transaction coordinator (InitProducerId, transactions).
        share: share groups (KIP-932): their coordinator runtimes and share-partitions.
        streams: streams groups (KIP-1071): their coordinator runtime.
        quorum: the metadata quorum's network endpoint (``KafkaRaftTransport``) the
            KRaft RPC handlers answer through; None where no quorum runs.
        inter_broker_listener: the listener brokers reach each other on
            (``inter.broker.listener.name``, else the first broker listener), set by the
            node once its listeners are known; None where brokers never talk.
        clock_ms: wall-clock milliseconds (replaceable in tests).
        authorizer: the StandardAuthorizer when ``authorizer.class.name`` names it,
            else None (everything allowed); handlers ask ``kafkapy.broker.authorization``.
        metrics: the request, produce and fetch counters (``kafkapy.broker.metrics``).
        quotas: client byte-rate quotas, measured and enforced (``kafkapy.broker.quotas``).
        mutation_quotas: controller mutation quotas (KIP-599, ``kafkapy.broker.quotas``).
        request_quotas: request time quotas (``request_percentage``, ``kafkapy.broker.quotas``).
    """

    def __init__(self, config: BrokerConfig, metadata: MetadataService, replicas: "ReplicaManager",
                 *, clock_ms: Callable[[], int] | None = None) -> None:
        self.config = config
        self.node_id = config.node_id
        self.metadata = metadata
        self.replicas = replicas
        self.broker_epoch = -1
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.producer_ids = ProducerIdManager(self)
        self._coordinators: trio.Nursery | None = None
        self._coordinators_starting = False
        self._coordinators_running = trio.Event()
        self.quorum: Any = None
        self.inter_broker_listener: str | None = None
        self.authorizer = authorizer_from_config(config)
        self.metrics = BrokerMetrics()
        self.quotas = ClientQuotas(self, config)
        self.mutation_quotas = ControllerMutationQuotas(self, config)
        self.request_quotas = RequestQuotas(self, self.quotas)
        #: tiered storage (KIP-405), with remote.log.storage.system.enable
        self.remote_logs: Any = None

    groups: "GroupCoordinator" = _Coordinator(  # type: ignore[assignment]
        "kafkapy.broker.group_coordinator", "GroupCoordinator")
    txn_coordinator: "TransactionCoordinator" = _Coordinator(  # type: ignore[assignment]
        "kafkapy.broker.txn_coordinator", "TransactionCoordinator")
    share: "ShareGroups" = _Coordinator("kafkapy.broker.share.service", "ShareGroups")  # type: ignore[assignment]
    streams: "StreamsGroups" = _Coordinator(  # type: ignore[assignment]
        "kafkapy.broker.streams.service", "StreamsGroups")

    async def run_coordinators(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the group, transaction, share and streams coordinators.

        With an internal topic in the image (a restart) they start at once, as Kafka's
        do. Otherwise they are built and started together on first use, or once an
        image brings an internal topic (made by another node); FindCoordinator waits
        for them (:meth:`start_coordinators`) before it creates their topics.
        """
        async with trio.open_nursery() as nursery:
            self._coordinators = nursery
            if any(name in self.__dict__ for name in _Coordinator.names) or self._has_internal_topic(self.image):
                await self.start_coordinators()
            self.metadata.add_publisher(self._on_image)
            task_status.started()
            await trio.sleep_forever()  # open for the coordinators built later

    async def start_coordinators(self) -> None:
        """Build the coordinators if need be and return once they run, following the
        image: a request that makes their internal topics waits for it, so that they
        load their partitions as the topics appear (as when they start with the node)."""
        self._build_coordinators()
        if self._coordinators is not None:
            await self._coordinators_running.wait()

    def _build_coordinators(self) -> None:
        """Build every coordinator not built yet (they use each other), started once
        :meth:`run_coordinators` runs."""
        for name in _Coordinator.names:
            if name not in self.__dict__:  # building one may have built the next
                spec = vars(BrokerCore)[name]
                self.__dict__[name] = getattr(importlib.import_module(spec.module), spec.cls)(self)
        if self._coordinators is not None and not self._coordinators_starting:
            self._coordinators_starting = True
            self._coordinators.start_soon(self._start_coordinators)

    async def _start_coordinators(self) -> None:
        assert self._coordinators is not None
        for name in _Coordinator.names:
            await self._coordinators.start(self.__dict__[name].run)
        self._coordinators_running.set()

    @staticmethod
    def _has_internal_topic(image: "MetadataImage") -> bool:
        return any(image.topic(topic) is not None for topic in INTERNAL_TOPICS)

    def _on_image(self, old: "MetadataImage", new: "MetadataImage") -> None:
        """A metadata publisher: build the coordinators once an internal topic appears."""
        if _Coordinator.names[-1] not in self.__dict__ and self._has_internal_topic(new):
            self._build_coordinators()

    @property
    def image(self) -> "MetadataImage":
        """The latest published metadata image."""
        return self.metadata.image

    def inter_broker_address(self, broker_id: int) -> tuple[str, int] | None:
        """Where this node reaches broker ``broker_id`` (replica fetches, transaction
        markers, partition verification): its endpoint on the inter-broker listener in
        the current image; None while unknown."""
        broker = self.metadata.image.brokers.get(broker_id)
        endpoint = None if broker is None or self.inter_broker_listener is None \
            else broker.endpoints.get(self.inter_broker_listener)
        return None if endpoint is None else (endpoint.host, endpoint.port)

    def broker_config_sources(self) -> BrokerConfigs:
        """The broker-level sources of topic config values: static and dynamic (from the image)."""
        return broker_config_sources(self.config, self.metadata.image)


def broker_config_sources(config: BrokerConfig, image: "MetadataImage") -> BrokerConfigs:
    """A node's config sources: its static properties and the dynamic configs in ``image``."""
    return BrokerConfigs(
        static=config.broker_configs.static,
        dynamic_default=image.broker_configs(""),
        dynamic_broker=image.broker_configs(config.node_id),
    )
