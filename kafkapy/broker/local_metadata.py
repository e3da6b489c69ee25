"""A metadata service with no log: controller results applied straight to the image.

It runs the same pure controller as the KRaft service (``kafkapy.kraft.metadata``)
and publishes images the same way, but keeps no ``__cluster_metadata`` log: a record
is "committed" the moment the controller produces it. It serves a single node whose
metadata need not survive a restart, and tests of the broker that want the
controller's behaviour without a quorum.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import trio

from kafkapy.kraft.metadata.bootstrap import bootstrap_records
from kafkapy.kraft.metadata.cluster_control import (
    BrokerHeartbeatReply,
    BrokerHeartbeatRequest,
    BrokerRegistrationReply,
    BrokerRegistrationRequest,
)
from kafkapy.kraft.metadata.configuration_control import AlterConfigsResult, ConfigChange, ConfigResource
from kafkapy.kraft.metadata.controller import Controller, ControllerConfig, ProducerIdsBlock
from kafkapy.kraft.metadata.image import EMPTY_IMAGE, MetadataImage, Uuid
from kafkapy.kraft.metadata.replication_control import (
    CreatePartitionsResult,
    CreateTopicResult,
    DeleteTopicResult,
    NewPartitions,
    NewTopic,
)
from kafkapy.kraft.metadata.results import ControllerResult


class LocalMetadataService:
    """Implements :class:`kafkapy.broker.core.MetadataService` in memory.

    Operations are serialized by a lock, as the quorum controller's event queue does,
    so each is computed on an image holding every record before it.
    """

    def __init__(self, config: ControllerConfig, *, cluster_id: str | None = None,
                 clock_ms: Callable[[], int], rng: random.Random | None = None) -> None:
        self._controller = Controller(config, rng=rng or random.Random())
        self._clock_ms = clock_ms
        self._publishers: list[Callable[[MetadataImage, MetadataImage], None]] = []
        self._lock = trio.Lock()
        image = EMPTY_IMAGE.apply(bootstrap_records(), offset=0, epoch=1)
        self._image = _with_cluster_id(image, cluster_id or _random_cluster_id())
        self._controller.activate(self._image, clock_ms())

    @property
    def image(self) -> MetadataImage:
        return self._image

    def add_publisher(self, publisher: Callable[[MetadataImage, MetadataImage], None]) -> None:
        self._publishers.append(publisher)

    async def _run(self, op: Callable[[MetadataImage], ControllerResult[Any]]) -> Any:
        async with self._lock:
            result = op(self._image)
            if result.records:
                old = self._image
                self._image = old.apply(result.records, offset=old.offset + len(result.records), epoch=old.epoch)
                for record_offset, record in enumerate(result.records, old.offset + 1):
                    self._controller.replay(record, record_offset)
                for publisher in self._publishers:
                    publisher(old, self._image)
            return result.response

    async def create_topics(self, topics: Sequence[NewTopic], *,
                            validate_only: bool = False) -> list[CreateTopicResult]:
        return await self._run(lambda image: self._controller.create_topics(image, topics, validate_only=validate_only))

    async def delete_topics(self, names: Iterable[str] = (), ids: Iterable[Uuid] = ()) -> list[DeleteTopicResult]:
        return await self._run(lambda image: self._controller.delete_topics(image, names, ids))

    async def create_partitions(self, topics: Sequence[NewPartitions], *,
                                validate_only: bool = False) -> list[CreatePartitionsResult]:
        return await self._run(
            lambda image: self._controller.create_partitions(image, topics, validate_only=validate_only))

    async def alter_configs(self, changes: Sequence[tuple[ConfigResource, Mapping[str, str | None]]], *,
                            validate_only: bool = False) -> list[AlterConfigsResult]:
        return await self._run(lambda image: self._controller.alter_configs(image, changes, validate_only=validate_only))

    async def incremental_alter_configs(self, changes: Sequence[tuple[ConfigResource, Sequence[ConfigChange]]], *,
                                        validate_only: bool = False) -> list[AlterConfigsResult]:
        return await self._run(
            lambda image: self._controller.incremental_alter_configs(image, changes, validate_only=validate_only))

    async def allocate_producer_ids(self, broker_id: int, broker_epoch: int) -> ProducerIdsBlock:
        return await self._run(lambda image: self._controller.allocate_producer_ids(image, broker_id, broker_epoch))

    async def register_broker(self, request: BrokerRegistrationRequest) -> BrokerRegistrationReply:
        return await self._run(lambda image: self._controller.register_broker(image, request, self._clock_ms()))

    async def broker_heartbeat(self, request: BrokerHeartbeatRequest) -> BrokerHeartbeatReply:
        return await self._run(lambda image: self._controller.broker_heartbeat(image, request, self._clock_ms()))


def _random_cluster_id() -> str:
    """A cluster id as ``kafka-storage random-uuid`` prints it: URL-safe base64, 22 chars."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _with_cluster_id(image: MetadataImage, cluster_id: str) -> MetadataImage:
    import dataclasses

    return dataclasses.replace(image, cluster_id=cluster_id)
