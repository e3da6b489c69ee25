"""Share groups wired to the broker: the share part of the group coordinator's
``__consumer_offsets`` shards, the share coordinator runtime on ``__share_group_state``,
and the persister between the share-partition leaders and the share coordinator.

* :class:`ShareGroups` reaches its groups through a
  :class:`~kafkapy.broker.coordinator.parts.PartView` of the group coordinator's runtime
  (one shard per partition for every group kind, loaded once), owns the share
  coordinator's :class:`~kafkapy.broker.coordinator.runtime.CoordinatorRuntime` and the
  :class:`~kafkapy.broker.share.manager.SharePartitionManager`, and runs those two in
  one nursery (``run``).
* The persister (Kafka's ``DefaultStatePersister``) reads and writes share-partition
  state through the share coordinator of its key: straight to this node's share
  coordinator runtime when it leads the state partition, else as
  Initialize/Read/Write/DeleteShareGroupState to the leader of that partition over the
  inter-broker listener (one connection per broker, as the transaction markers'
  channel does). Errors come back as codes; the share-partition retries on its next
  fetch.

``__share_group_state`` is created on first use, as ``__consumer_offsets`` is
(``ShareCoordinatorService``'s topic configs: compacted, ``min.insync.replicas`` from
``share.coordinator.state.topic.min.isr``).

Task-safety: trio thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.coordinator.parts import PartView
from kafkapy.broker.coordinator.runtime import CoordinatorRuntime
from kafkapy.broker.coordinator.shard import CoordinatorError
from kafkapy.broker.groups.coordinator_topics import InternalTopic
from kafkapy.broker.share.coordinator import ShareCoordinatorShard, ShareKey, ShareState, coordinator_key
from kafkapy.broker.share.group_shard import ShareGroupShard
from kafkapy.broker.share.partition import StateBatch
from kafkapy.kraft.raft.network import PeerConnection, PeerUnavailable
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.message import Message

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.config import BrokerConfig

log = logging.getLogger(__name__)

SHARE_GROUP_STATE_TOPIC = "__share_group_state"
#: ListGroups' group type and protocol type of a share group (``ShareGroup.PROTOCOL_TYPE``).
SHARE_GROUP_TYPE = "share"


def share_group_state_topic(config: BrokerConfig) -> InternalTopic:
    """``__share_group_state`` as Kafka creates it (``ShareCoordinatorService`` topic configs)."""
    return InternalTopic(SHARE_GROUP_STATE_TOPIC, config.share_coordinator_state_topic_num_partitions,
                         config.share_coordinator_state_topic_replication_factor,
                         {"cleanup.policy": "compact", "compression.type": "producer",
                          "min.insync.replicas": str(config.share_coordinator_state_topic_min_isr),
                          "segment.bytes": str(config.share_coordinator_state_topic_segment_bytes)})


class ShareGroups:
    """Share groups of this node (see the module doc)."""

    def __init__(self, core: BrokerCore) -> None:
        from kafkapy.broker.share.manager import SharePartitionManager

        self.core = core
        config = core.config

        #: The share part of the group coordinator's ``__consumer_offsets`` shards.
        self.groups: PartView[ShareGroupShard] = PartView(core.groups.runtime, lambda shard: shard.share)
        self.state: CoordinatorRuntime[ShareCoordinatorShard] = CoordinatorRuntime(
            core, SHARE_GROUP_STATE_TOPIC, config.share_coordinator_state_topic_num_partitions, ShareCoordinatorShard,
            write_timeout_ms=config.share_coordinator_write_timeout_ms)
        self.partitions = SharePartitionManager(core, self)
        #: broker id -> the connection to its share coordinator (remote persister calls)
        self._peers: dict[int, PeerConnection] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.state.run)
            await nursery.start(self.partitions.run)
            task_status.started()

    def group_partition(self, group_id: str) -> int:
        return self.groups.partition_for(group_id)

    def find_group(self, group_id: str) -> ShareGroupShard | None:
        """The shard holding ``group_id`` if this node coordinates it and it is a share group."""
        shard = self.groups.shard(self.group_partition(group_id))
        return shard if shard is not None and group_id in shard.groups else None

    def list_groups(self, states: Sequence[str] = (), types: Sequence[str] = ()) -> list[tuple[str, str]]:
        """ListGroups: (group id, state) of the share groups of the loaded partitions."""
        if types and SHARE_GROUP_TYPE not in {t.lower() for t in types}:
            return []
        wanted = {s.lower() for s in states}
        return [(group_id, group.state) for shard in self.groups.shards() for group_id, group in shard.groups.items()
                if not states or group.state.lower() in wanted]

    async def delete_group(self, group_id: str) -> ErrorCode:
        """DeleteGroups of a share group: an empty one loses its share-partition state,
        then its records (Kafka deletes the state through the share coordinator first)."""
        shard = self.find_group(group_id)
        if shard is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        group = shard.groups[group_id]
        if group.members:
            return ErrorCode.NON_EMPTY_GROUP
        for topic_id, (_, partitions) in list(group.initialized.items()):
            for p in sorted(partitions):
                key = ShareKey(group_id, topic_id, p)
                await self.delete_state(key)
                self.partitions.forget(key)
        try:
            return await self.groups.write(self.group_partition(group_id), lambda s: s.delete(group_id))
        except CoordinatorError as exc:
            return exc.code

    # --- the persister ------------------------------------------------------------------------

    def state_partition(self, key: ShareKey) -> int:
        return self.state.partition_for(coordinator_key(*key))

    def _remote_leader(self, p: int) -> int | None:
        """The broker leading state partition ``p`` when it is not this node."""
        if self.state.coordinator_error(p) != ErrorCode.NOT_COORDINATOR:
            return None
        registration = self.core.image.partition(SHARE_GROUP_STATE_TOPIC, p)
        if registration is None or registration.leader < 0 or registration.leader == self.core.node_id:
            return None
        return registration.leader

    async def _send(self, broker_id: int, message: Message) -> tuple[ErrorCode, Any]:
        """One request to broker ``broker_id``'s share coordinator; (error, response)."""
        peer = self._peers.get(broker_id)
        if peer is None:
            peer = self._peers[broker_id] = PeerConnection(lambda: self.core.inter_broker_address(broker_id),
                                                           client_id=f"share-persister-{self.core.node_id}")
        try:
            return ErrorCode.NONE, await peer.request(message, timeout_s=self.core.config.request_timeout_ms / 1000)
        except PeerUnavailable as exc:
            log.info("Share coordinator on broker %d not reachable: %s", broker_id, exc)
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, None

    @staticmethod
    def _result(response: Any) -> Any:
        return response.results[0].partitions[0]

    async def read_state(self, key: ShareKey, leader_epoch: int) -> tuple[ErrorCode, ShareState]:
        p = self.state_partition(key)
        remote = self._remote_leader(p)
        if remote is not None:
            from kafkapy.wire.messages.read_share_group_state import ReadShareGroupStateRequest as Q

            error, response = await self._send(remote, Q(group_id=key.group_id, topics=[Q.ReadStateData(
                topic_id=key.topic_id, partitions=[Q.PartitionData(partition=key.partition,
                                                                   leader_epoch=leader_epoch)])]))
            if error != ErrorCode.NONE:
                return error, ShareState()
            r = self._result(response)
            if r.error_code != ErrorCode.NONE:
                return ErrorCode(r.error_code), ShareState()
            return ErrorCode.NONE, ShareState(
                state_epoch=r.state_epoch, leader_epoch=leader_epoch, start_offset=r.start_offset,
                batches=[StateBatch(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count)
                         for b in r.state_batches])
        try:
            state = await self.state.write(p, lambda s: s.read(key, leader_epoch))
        except CoordinatorError as exc:
            return exc.code, ShareState()
        return ErrorCode.NONE, state

    async def initialize_state(self, key: ShareKey, state_epoch: int, start_offset: int) -> ErrorCode:
        p = self.state_partition(key)
        remote = self._remote_leader(p)
        if remote is not None:
            from kafkapy.wire.messages.initialize_share_group_state import InitializeShareGroupStateRequest as Q

            error, response = await self._send(remote, Q(group_id=key.group_id, topics=[Q.InitializeStateData(
                topic_id=key.topic_id, partitions=[Q.PartitionData(partition=key.partition, state_epoch=state_epoch,
                                                                   start_offset=start_offset)])]))
            return error if error != ErrorCode.NONE else ErrorCode(self._result(response).error_code)
        try:
            await self.state.write(p, lambda s: s.initialize(key, state_epoch, start_offset))
        except CoordinatorError as exc:
            return exc.code
        return ErrorCode.NONE

    async def write_state(self, key: ShareKey, *, state_epoch: int, leader_epoch: int, start_offset: int,
                          delivery_complete_count: int, batches: Sequence[StateBatch]) -> ErrorCode:
        p = self.state_partition(key)
        remote = self._remote_leader(p)
        if remote is not None:
            from kafkapy.wire.messages.write_share_group_state import WriteShareGroupStateRequest as Q

            error, response = await self._send(remote, Q(group_id=key.group_id, topics=[Q.WriteStateData(
                topic_id=key.topic_id, partitions=[Q.PartitionData(
                    partition=key.partition, state_epoch=state_epoch, leader_epoch=leader_epoch,
                    start_offset=start_offset, delivery_complete_count=delivery_complete_count,
                    state_batches=[Q.StateBatch(first_offset=b.first_offset, last_offset=b.last_offset,
                                                delivery_state=b.delivery_state, delivery_count=b.delivery_count)
                                   for b in batches])])]))
            return error if error != ErrorCode.NONE else ErrorCode(self._result(response).error_code)
        try:
            await self.state.write(p, lambda s: s.write(
                key, state_epoch=state_epoch, leader_epoch=leader_epoch, start_offset=start_offset,
                delivery_complete_count=delivery_complete_count, batches=batches))
        except CoordinatorError as exc:
            return exc.code
        return ErrorCode.NONE

    async def delete_state(self, key: ShareKey) -> ErrorCode:
        p = self.state_partition(key)
        remote = self._remote_leader(p)
        if remote is not None:
            from kafkapy.wire.messages.delete_share_group_state import DeleteShareGroupStateRequest as Q

            error, response = await self._send(remote, Q(group_id=key.group_id, topics=[Q.DeleteStateData(
                topic_id=key.topic_id, partitions=[Q.PartitionData(partition=key.partition)])]))
            return error if error != ErrorCode.NONE else ErrorCode(self._result(response).error_code)
        try:
            await self.state.write(p, lambda s: s.delete(key))
        except CoordinatorError as exc:
            return exc.code
        return ErrorCode.NONE

    async def state_summary(self, key: ShareKey) -> tuple[ErrorCode, ShareState | None]:
        """ReadShareGroupStateSummary: None when the share-partition has no state."""
        p = self.state_partition(key)
        remote = self._remote_leader(p)
        if remote is not None:
            from kafkapy.wire.messages.read_share_group_state_summary import ReadShareGroupStateSummaryRequest as Q

            error, response = await self._send(remote, Q(group_id=key.group_id, topics=[Q.ReadStateSummaryData(
                topic_id=key.topic_id, partitions=[Q.PartitionData(partition=key.partition, leader_epoch=-1)])]))
            if error != ErrorCode.NONE:
                return error, None
            r = self._result(response)
            if r.error_code != ErrorCode.NONE or r.start_offset < 0:
                return ErrorCode(r.error_code), None
            return ErrorCode.NONE, ShareState(state_epoch=r.state_epoch, leader_epoch=r.leader_epoch,
                                              start_offset=r.start_offset,
                                              delivery_complete_count=r.delivery_complete_count)
        try:
            return ErrorCode.NONE, self.state.read(p, lambda s: s.summary(key))
        except CoordinatorError as exc:
            return exc.code, None

    async def ensure_state_topic(self) -> bool:
        """Create ``__share_group_state`` unless it exists (FindCoordinator, first fetch)."""
        return await self.core.groups.internal_topics.ensure(share_group_state_topic(self.core.config))
