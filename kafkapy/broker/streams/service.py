"""Streams groups wired to the broker: the streams part of the group coordinator's
``__consumer_offsets`` shards and the creation of the internal topics a topology needs.

:class:`StreamsGroups` reaches its :class:`~kafkapy.broker.streams.group_shard.StreamsGroupShard`
parts through a :class:`~kafkapy.broker.coordinator.parts.PartView` of the group
coordinator's runtime, and runs the topic creations in its own nursery (``run``).
The shard is pure, so a heartbeat hands back the repartition and
changelog topics that are missing; the service creates them in the background (Kafka's
group coordinator asks the controller through ``autoTopicCreationManager``) and the
member's next heartbeat, seeing them in the image, gets its tasks.

Task-safety: trio thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from kafkapy.broker.coordinator.parts import PartView
from kafkapy.broker.coordinator.shard import CoordinatorError
from kafkapy.broker.groups.coordinator_topics import InternalTopic
from kafkapy.broker.streams.group_shard import StreamsGroupShard
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore

log = logging.getLogger(__name__)

#: ListGroups' group type and protocol type of a streams group (``StreamsGroup.PROTOCOL_TYPE``).
STREAMS_GROUP_TYPE = "streams"


class StreamsGroups:
    """Streams groups of this node (see the module doc)."""

    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        #: The streams part of the group coordinator's ``__consumer_offsets`` shards.
        self.groups: PartView[StreamsGroupShard] = PartView(core.groups.runtime, lambda shard: shard.streams)
        self._nursery: trio.Nursery | None = None
        self._creating: set[str] = set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def group_partition(self, group_id: str) -> int:
        return self.groups.partition_for(group_id)

    def find_group(self, group_id: str) -> StreamsGroupShard | None:
        """The shard holding ``group_id`` if this node coordinates it and it is a streams group."""
        shard = self.groups.shard(self.group_partition(group_id))
        return shard if shard is not None and group_id in shard.groups else None

    def list_groups(self, states: Sequence[str] = (), types: Sequence[str] = ()) -> list[tuple[str, str]]:
        """ListGroups: (group id, state) of the streams groups of the loaded partitions."""
        if types and STREAMS_GROUP_TYPE not in {t.lower() for t in types}:
            return []
        wanted = {s.lower() for s in states}
        return [(group_id, group.state) for shard in self.groups.shards() for group_id, group in shard.groups.items()
                if not states or group.state.lower() in wanted]

    async def delete_group(self, group_id: str) -> ErrorCode:
        """DeleteGroups of an empty streams group: its records become tombstones; its
        committed offsets are the group coordinator's and go with them there."""
        shard = self.find_group(group_id)
        if shard is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        try:
            return await self.groups.write(self.group_partition(group_id), lambda s: s.delete(group_id))
        except CoordinatorError as exc:
            return exc.code

    def validate_offset_commit(self, group_id: str, member_id: str, member_epoch: int,
                               partitions: Sequence[tuple[str, int]] = ()) -> ErrorCode | None:
        """None when ``group_id`` is not a streams group here or the commit is allowed."""
        shard = self.find_group(group_id)
        return None if shard is None else shard.validate_offset_commit(group_id, member_id, member_epoch,
                                                                       partitions)

    def create_internal_topics(self, topics: Sequence[InternalTopic]) -> None:
        """Create missing repartition and changelog topics in the background, once each."""
        if self._nursery is None:
            return
        for topic in topics:
            if topic.name in self._creating:
                continue
            self._creating.add(topic.name)
            replication = topic.replication_factor if topic.replication_factor > 0 \
                else self.core.config.default_replication_factor
            self._nursery.start_soon(self._create, topic._replace(replication_factor=replication))

    async def _create(self, topic: InternalTopic) -> None:
        try:
            created = await self.core.groups.internal_topics.ensure(topic)
            log.info("Streams internal topic %s (%d partitions): %s", topic.name, topic.num_partitions,
                     "created" if created else "not created yet")
        except Exception as exc:  # noqa: BLE001 - the next heartbeat asks again
            log.warning("Could not create streams internal topic %s: %s", topic.name, exc)
        finally:
            self._creating.discard(topic.name)
