"""The group coordinator: consumer groups and their offsets, stored in ``__consumer_offsets``.

Theory of operation (Kafka 4's ``GroupMetadataManager`` + ``OffsetMetadataManager``; the
groups are loaded, kept, written and timed by the coordinator runtime's shards, while
their operations are still methods here that mutate the groups and then write their
records, not shard operations). ``groups`` holds both kinds of group by id:
classic groups (below) and KIP-848 consumer groups, whose protocol lives in
:mod:`~kafkapy.broker.groups.consumer_coordinator` (``self.consumer``). Offsets,
deletion, expiry and listing serve both. A classic JoinGroup for a consumer group with
members answers INCONSISTENT_GROUP_PROTOCOL, a ConsumerGroupHeartbeat for a classic
group with members GROUP_ID_NOT_FOUND; an empty group is converted to the other
protocol, keeping its offsets.

* **Ownership.** A group lives in partition ``partition_for(group_id)`` of
  ``__consumer_offsets``; this node coordinates the groups of the partitions it leads.
  ``self.runtime`` (:class:`~kafkapy.broker.coordinator.runtime.CoordinatorRuntime`)
  keeps one :class:`~kafkapy.broker.groups.shard.GroupCoordinatorShard` per partition
  this node leads, loaded by one replay of the log for every group kind. The classic
  and consumer groups it replays (membership, generation, committed and pending
  transactional offsets) are the shard's, seen here as one mapping (``self.groups``,
  :class:`~kafkapy.broker.groups.shard.ShardGroups`), and go with it when leadership
  moves (blocked requests answer NOT_COORDINATOR). Share and streams groups are the
  shard's own parts. Requests for other groups answer NOT_COORDINATOR, or
  COORDINATOR_NOT_AVAILABLE while the topic does not exist yet.
* **Membership** (:mod:`~kafkapy.broker.groups.state` holds the state table). JoinGroup
  parks its request on a :class:`~kafkapy.broker.groups.classic_group.Waiter` until the
  join phase ends: when every known member has rejoined, or at the largest rebalance
  timeout; a new group waits ``group.initial.rebalance.delay.ms``, extended while new
  members keep arriving (Kafka's InitialDelayedJoin). SyncGroup parks followers until
  the leader's assignment is stored. Heartbeats push the member's session deadline;
  a missed deadline removes the member and starts a rebalance. Static members
  (KIP-345) keep their place across restarts: a rejoin with a new member id replaces
  the old one without a rebalance when nothing else changed.
* **Timers** are keys on the shard timer of the group's partition
  (:class:`~kafkapy.broker.groups.shard.GroupTimers`): ``("heartbeat", group, member)``,
  ``("join", group)`` and ``("sync", group)``.
* **Storage.** Every change worth keeping is a record appended to the group's
  partition through the runtime (:meth:`CoordinatorRuntime.append
  <kafkapy.broker.coordinator.runtime.CoordinatorRuntime.append>`, the one write path
  of every group kind; formats in :mod:`~kafkapy.broker.groups.records`): the group's metadata
  when a generation starts or its assignment is stored, each committed offset,
  tombstones on deletion and expiry. Requests that need durability (SyncGroup of the
  leader, OffsetCommit, DeleteGroups) answer once the high watermark covers their
  records. In-memory state follows the log order: it is updated when a record is
  appended, so reads never go back in time.
* **Transactions.** :meth:`GroupCoordinator.stage_txn_offsets` writes a producer's
  offsets in a transactional batch; they stay invisible (OffsetFetch with
  ``require_stable`` answers UNSTABLE_OFFSET_COMMIT) until
  :meth:`GroupCoordinator.complete_txn_offsets` writes the COMMIT or ABORT marker.

Task-safety: everything runs on the trio thread. Methods without ``await`` run
atomically; ``async`` ones re-check the group after each await.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import trio

from kafkapy.broker.coordinator.parts import PartTimer
from kafkapy.broker.coordinator.runtime import CoordinatorRuntime, append_error
from kafkapy.broker.coordinator.shard import CoordinatorError
from kafkapy.broker.groups.classic_group import (
    CONSUMER_PROTOCOL_TYPE,
    UNKNOWN_MEMBER_ID,
    ClassicGroup,
    Member,
    OffsetAndMetadata,
    TopicPartitionKey,
    Waiter,
)
from kafkapy.broker.groups.consumer_coordinator import ConsumerGroupCoordinator
from kafkapy.broker.groups.consumer_group import ConsumerGroup
from kafkapy.broker.groups.consumer_records import (
    group_tombstones as consumer_group_tombstones,
)
from kafkapy.broker.groups.coordinator_topics import (
    GROUP_METADATA_TOPIC,
    InternalTopics,
    partition_for,
)
from kafkapy.broker.groups.records import (
    KeyValue,
    group_metadata_record,
    group_tombstone,
    offset_commit_record,
)
from kafkapy.broker.groups.shard import GroupCoordinatorShard, GroupTimers, ShardGroups
from kafkapy.broker.groups.state import (
    CAN_REBALANCE,
    GroupEvent,
    GroupState,
)
from kafkapy.broker.share.group_shard import ShareGroupShard
from kafkapy.broker.streams.group_shard import StreamsGroupShard
from kafkapy.storage.errors import StorageError
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.describe_groups import DescribeGroupsResponse
from kafkapy.wire.messages.join_group import JoinGroupResponse
from kafkapy.wire.messages.sync_group import SyncGroupResponse

if TYPE_CHECKING:
    from kafkapy.broker.coordinator.shard import ShardContext
    from kafkapy.broker.core import BrokerCore
    from kafkapy.broker.replica_manager import Partition
    from kafkapy.kraft.metadata.image import MetadataImage

log = logging.getLogger(__name__)

#: How long a new member's JoinGroup may stay parked (Kafka's NewMemberJoinTimeoutMs).
NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000
_CLASSIC = "classic"
_CONSUMER = "consumer"

S = GroupState


class CommitOffset(NamedTuple):
    """One partition's offset as OffsetCommit and TxnOffsetCommit carry it."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""


class FetchedOffset(NamedTuple):
    """One partition's answer to OffsetFetch."""

    partition: int
    offset: int
    leader_epoch: int
    metadata: str
    error: ErrorCode = ErrorCode.NONE


class ListedGroup(NamedTuple):
    group_id: str
    protocol_type: str
    state: str
    group_type: str


def join_error(member_id: str, code: ErrorCode) -> JoinGroupResponse:
    return JoinGroupResponse(error_code=code, generation_id=-1, member_id=member_id, protocol_name=None,
                             protocol_type=None, leader="")


class GroupCoordinator:
    """Classic groups of the ``__consumer_offsets`` partitions this node leads.

    Args:
        core: the broker (config, metadata image, replica manager, clock).
    """

    def __init__(self, core: "BrokerCore") -> None:
        self.core = core
        self.config = core.config
        #: One shard per ``__consumer_offsets`` partition this node leads, all group kinds.
        self.runtime: CoordinatorRuntime[GroupCoordinatorShard] = CoordinatorRuntime(
            core, GROUP_METADATA_TOPIC, core.config.offsets_topic_num_partitions, self._new_shard,
            write_timeout_ms=core.config.offsets_commit_timeout_ms)
        #: The classic and consumer groups of every loaded partition, each in its shard.
        self.groups = ShardGroups(self.runtime, self.partition_for)
        #: Timer keys of classic and consumer groups, on their partition's shard timer.
        self.timer = GroupTimers(self.runtime, self.partition_for)
        #: groups of each partition adopted, partitions released, since the last image
        self._loaded: list[int] = []
        self._unloaded = 0
        #: producer id -> ids of the groups holding its staged offsets
        self._txn_groups: dict[int, set[str]] = {}
        self._txn_epochs: dict[int, int] = {}
        #: group id -> (offsets partition, next offset) of its last write nobody waited for
        self._unreplicated: dict[str, tuple[int, int]] = {}
        self.internal_topics = InternalTopics(core)
        #: The KIP-848 protocol, on the groups of this coordinator.
        self.consumer = ConsumerGroupCoordinator(self)

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the ``__consumer_offsets`` runtime until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.runtime.run)
            self.core.metadata.add_publisher(self.on_image)
            self.on_image(None, self.core.image)
            task_status.started()

    def on_image(self, old: "MetadataImage | None", new: "MetadataImage") -> None:
        """After the runtime's loads and unloads for this image: one INFO line sums up each
        kind (each partition at DEBUG), so a start leading 50 partitions logs two lines,
        not fifty; deleted topics lose their offsets."""
        unloaded, self._unloaded = self._unloaded, 0
        loaded, self._loaded = self._loaded, []
        if unloaded:
            log.info("Unloaded the groups of %d %s partitions", unloaded, GROUP_METADATA_TOPIC)
        if loaded:
            log.info("Loaded %d groups from %d %s partitions", sum(loaded), len(loaded), GROUP_METADATA_TOPIC)
        if old is not None and old.topics_by_id is not new.topics_by_id:
            deleted = old.topics_by_id.keys() - new.topics_by_id.keys()
            if deleted:
                self.on_topics_deleted({old.topics_by_id[t].name for t in deleted})

    def _new_shard(self, context: ShardContext) -> GroupCoordinatorShard:
        """The runtime's shard of one partition: the share and streams parts on its timer,
        the classic and consumer groups adopted here once loaded."""
        core = self.core

        def not_share(group_id: str) -> bool:
            return group_id in self.groups

        def not_streams(group_id: str) -> bool:
            # An empty classic group without a protocol only holds committed offsets
            # (a streams group's own commits live there): not another group.
            group = self.groups.get(group_id)
            if group is not None and (getattr(group, "members", None) or getattr(group, "protocol_type", "x")):
                return True
            return core.share.find_group(group_id) is not None

        share = ShareGroupShard(dataclasses.replace(context, timer=PartTimer(context.timer, lambda s: s.share)),
                                not_share, lambda group_id: core.share.partitions.settings(group_id))
        streams = StreamsGroupShard(dataclasses.replace(context, timer=PartTimer(context.timer, lambda s: s.streams)),
                                    not_streams)
        return GroupCoordinatorShard(context, share=share, streams=streams, adopt=self._adopt, release=self._release)

    def on_topics_deleted(self, topics: set[str]) -> int:
        """Deleted topics lose their offsets in every group of this coordinator: committed
        and staged ones, each through a tombstone (Kafka's ``GroupCoordinator.onPartitionsDeleted``,
        ``OffsetMetadataManager.onPartitionsDeleted``). A group left empty with no offsets
        goes at the next expiry check, as Kafka's ``cleanupGroupMetadata``. Returns the
        number of partitions tombstoned."""
        by_partition: dict[int, list[KeyValue]] = {}
        for group in self.groups.values():
            doomed = {tp for tp in group.offsets if tp[0] in topics}
            for staged in group.pending_txn_offsets.values():
                doomed.update(tp for tp in staged if tp[0] in topics)
            if not doomed:
                continue
            for tp in doomed:
                group.offsets.pop(tp, None)
                for staged in group.pending_txn_offsets.values():
                    staged.pop(tp, None)
            by_partition.setdefault(self.partition_for(group.group_id), []).extend(
                offset_commit_record(group.group_id, t, p, None) for t, p in sorted(doomed))
        for p, records in by_partition.items():
            error, _ = self._append(p, records)
            if error != ErrorCode.NONE:
                log.warning("Failed to write the offsets of deleted topics to %s-%d: %s", GROUP_METADATA_TOPIC, p,
                            error.name)
        count = sum(len(r) for r in by_partition.values())
        if count:
            log.info("Removed %d offsets of deleted topics %s", count, sorted(topics))
        return count

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.config.offsets_topic_num_partitions)

    def held_by_another_type(self, group_id: str) -> bool:
        """True when a share group (KIP-932) or a streams group (KIP-1071) of this node holds
        ``group_id``: Kafka 4.4's classic and consumer group APIs then refuse it, each as
        its typed lookup in ``GroupMetadataManager`` does (JoinGroup and SyncGroup
        INCONSISTENT_GROUP_PROTOCOL, ConsumerGroupHeartbeat GROUP_ID_NOT_FOUND)."""
        return self.core.share.find_group(group_id) is not None or self.core.streams.find_group(group_id) is not None

    def coordinator_error(self, group_id: str) -> ErrorCode | None:
        """None if this node coordinates ``group_id``, else the error to answer."""
        return self.runtime.coordinator_error(self.partition_for(group_id))

    def _now(self) -> int:
        return self.core.clock_ms()

    # --- loading and unloading -------------------------------------------------------------

    def _adopt(self, p: int, groups: dict[str, ClassicGroup | ConsumerGroup]) -> None:
        """Start the timers of the classic and consumer groups the runtime replayed from
        partition ``p``, and remember which hold a producer's staged offsets."""
        hosted = self.core.replicas.get(GROUP_METADATA_TOPIC, p)
        producers = hosted.log.producer_state.producers if hosted is not None else {}
        for g in groups.values():
            for producer_id in g.pending_txn_offsets:
                self._txn_groups.setdefault(producer_id, set()).add(g.group_id)
                entry = producers.get(producer_id)
                self._txn_epochs[producer_id] = entry.producer_epoch if entry is not None else 0
            if isinstance(g, ConsumerGroup):
                self.consumer.schedule_sessions(g)
            else:
                for member in g.members.values():
                    self._schedule_heartbeat(g, member)
        self._schedule_expiry(p)
        self._loaded.append(len(groups))
        log.debug("Loaded %d groups from %s-%d", len(groups), GROUP_METADATA_TOPIC, p)

    def _release(self, p: int, groups: dict[str, ClassicGroup | ConsumerGroup]) -> None:
        """The groups of partition ``p`` go with its shard: answer their parked requests
        NOT_COORDINATOR (the runtime has cancelled the shard's timers)."""
        self._unloaded += 1
        for group_id, group in groups.items():
            for producer_id in group.pending_txn_offsets:
                self._txn_groups.get(producer_id, set()).discard(group_id)
            if isinstance(group, ConsumerGroup):
                group.dead = True
                continue
            for member in group.members.values():
                if member.join_waiter is not None:
                    member.join_waiter.complete(join_error(member.member_id, ErrorCode.NOT_COORDINATOR))
                if member.sync_waiter is not None:
                    member.sync_waiter.complete(SyncGroupResponse(error_code=ErrorCode.NOT_COORDINATOR))
            group.transition(GroupEvent.REMOVE, self._now())
        log.debug("Unloaded the groups of %s-%d", GROUP_METADATA_TOPIC, p)

    # --- writing to the log -----------------------------------------------------------------

    def _leader_partition(self, p: int) -> "Partition | None":
        hosted = self.core.replicas.get(GROUP_METADATA_TOPIC, p)
        return hosted if hosted is not None and hosted.is_leader else None

    def _append(self, p: int, records: Sequence[KeyValue], *, producer_id: int = -1,
                producer_epoch: int = -1) -> tuple[ErrorCode, int]:
        """Append one batch of records to partition ``p`` through the runtime; returns
        (error, next offset)."""
        try:
            return ErrorCode.NONE, self.runtime.append(p, list(records), producer_id=producer_id,
                                                       producer_epoch=producer_epoch)
        except CoordinatorError as exc:
            return exc.code, -1

    async def _await_replicated(self, p: int, next_offset: int) -> ErrorCode:
        """Wait until the high watermark of ``p`` reaches ``next_offset``."""
        try:
            await self.runtime.committed(p, next_offset)
        except CoordinatorError as exc:
            return exc.code
        return ErrorCode.NONE

    async def _store(self, p: int, records: Sequence[KeyValue], **producer: int) -> ErrorCode:
        error, next_offset = self._append(p, records, **producer)
        if error != ErrorCode.NONE:
            return error
        return await self._await_replicated(p, next_offset)

    def _store_in_background(self, group: ClassicGroup) -> None:
        """Write the group's metadata without anyone waiting (timer-driven changes)."""
        self._append_in_background(group.group_id, [group_metadata_record(group)])

    def _append_in_background(self, group_id: str, records: Sequence[KeyValue]) -> None:
        p = self.partition_for(group_id)
        error, next_offset = self._append(p, records)
        if error != ErrorCode.NONE:
            log.warning("Failed to write records of group %s: %s", group_id, error.name)
        else:
            self._unreplicated[group_id] = (p, next_offset)

    async def wait_written(self, group_id: str) -> None:
        """Wait until what a request just wrote for ``group_id`` in the background is
        replicated: Kafka 4's coordinator answers a write (a LeaveGroup emptying the
        group) once its records are committed, so a new coordinator after a failover
        knows of it."""
        written = self._unreplicated.pop(group_id, None)
        if written is not None:
            await self._await_replicated(*written)

    def _classic(self, group_id: str) -> ClassicGroup | None:
        """The classic group ``group_id``, or None (absent, or a consumer group)."""
        group = self.groups.get(group_id)
        return group if isinstance(group, ClassicGroup) else None

    def replace_group(self, old: ClassicGroup | ConsumerGroup, new: ClassicGroup | ConsumerGroup) -> None:
        """Put ``new`` in the place of the empty group ``old`` of the other protocol."""
        if isinstance(old, ClassicGroup):
            self.timer.cancel(("join", old.group_id))
            self.timer.cancel(("sync", old.group_id))
            old.transition(GroupEvent.REMOVE, self._now())
        else:
            self.consumer.cancel_group_timers(old)
            old.dead = True
        self.groups[new.group_id] = new

    # --- timers -----------------------------------------------------------------------------

    def _schedule_heartbeat(self, group: ClassicGroup, member: Member, timeout_ms: int | None = None) -> None:
        group_id, member_id = group.group_id, member.member_id
        self.timer.schedule(("heartbeat", group_id, member_id),
                            member.session_timeout_ms if timeout_ms is None else timeout_ms,
                            lambda: self._expire_heartbeat(group_id, member_id))

    def _expire_heartbeat(self, group_id: str, member_id: str) -> None:
        group = self._classic(group_id)
        if group is None or group.state is S.DEAD:
            return
        if member_id in group.pending_members:
            log.info("Pending member %s of group %s expired", member_id, group_id)
            group.remove(member_id)
            if group.state is S.PREPARING_REBALANCE and group.has_all_members_joined():
                self._complete_join(group)
            return
        member = group.members.get(member_id)
        if member is not None and not member.has_satisfied_heartbeat():
            log.info("Member %s of group %s failed its session timeout; removing it", member_id, group_id)
            self._remove_member_and_update(group, member)

    def _remove_member_and_update(self, group: ClassicGroup, member: Member) -> None:
        if member.join_waiter is not None:
            member.join_waiter.complete(join_error(UNKNOWN_MEMBER_ID, ErrorCode.UNKNOWN_MEMBER_ID))
        if member.sync_waiter is not None:
            member.sync_waiter.complete(SyncGroupResponse(error_code=ErrorCode.UNKNOWN_MEMBER_ID))
        group.remove(member.member_id)
        self.timer.cancel(("heartbeat", group.group_id, member.member_id))
        if group.state in (S.STABLE, S.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance_or_complete_join(group)
        elif group.state is S.PREPARING_REBALANCE and group.has_all_members_joined():
            self._complete_join(group)

    # --- rebalancing ------------------------------------------------------------------------

    def _maybe_prepare_rebalance_or_complete_join(self, group: ClassicGroup) -> None:
        if group.state in CAN_REBALANCE:
            self._prepare_rebalance(group)
        else:
            self._maybe_complete_join_phase(group)

    def _maybe_complete_join_phase(self, group: ClassicGroup) -> None:
        """Complete the join phase if every member rejoined, except in an initial rebalance."""
        if group.state is S.PREPARING_REBALANCE and group.previous_state is not S.EMPTY \
                and group.has_all_members_joined():
            self._complete_join(group)

    def _prepare_rebalance(self, group: ClassicGroup) -> None:
        if group.state is S.COMPLETING_REBALANCE:
            for m in group.members.values():
                m.assignment = b""
            self._propagate_assignment(group, ErrorCode.REBALANCE_IN_PROGRESS)
        group.pending_sync_members = set()
        self.timer.cancel(("sync", group.group_id))
        initial = group.state is S.EMPTY
        group_id = group.group_id
        if initial:
            delay = self.config.group_initial_rebalance_delay_ms
            remaining = max(group.rebalance_timeout_ms - delay, 0)
            group.new_member_added = False
            self.timer.schedule(("join", group_id), delay,
                                lambda: self._try_complete_initial_rebalance(group_id, delay, remaining))
        log.info("Preparing to rebalance group %s in state %s with old generation %d",
                 group_id, group.state.value, group.generation_id)
        group.transition(GroupEvent.REBALANCE, self._now())
        if initial:
            return
        if group.has_all_members_joined():
            self._complete_join(group)
        else:
            self.timer.schedule(("join", group_id), group.rebalance_timeout_ms,
                                lambda: self._complete_join_by_id(group_id))

    def _try_complete_initial_rebalance(self, group_id: str, delay: int, remaining: int) -> None:
        """Kafka's InitialDelayedJoin: wait another delay while new members keep joining."""
        group = self._classic(group_id)
        if group is None:
            return
        if group.new_member_added and remaining != 0:
            group.new_member_added = False
            new_delay = min(self.config.group_initial_rebalance_delay_ms, remaining)
            new_remaining = max(remaining - delay, 0)
            self.timer.schedule(("join", group_id), new_delay,
                                lambda: self._try_complete_initial_rebalance(group_id, new_delay, new_remaining))
        else:
            self._complete_join(group)

    def _complete_join_by_id(self, group_id: str) -> None:
        group = self._classic(group_id)
        if group is not None:
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        """End the join phase: drop dynamic members that did not rejoin, start a generation."""
        if group.state is not S.PREPARING_REBALANCE:
            return
        group_id = group.group_id
        self.timer.cancel(("join", group_id))
        for failed in [m for m in group.not_yet_rejoined() if not m.is_static]:
            group.remove(failed.member_id)
            self.timer.cancel(("heartbeat", group_id, failed.member_id))
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Nobody rejoined: wait for the session timeouts to clear the members out.
            log.error("Group %s could not complete rebalance because no members rejoined", group_id)
            self.timer.schedule(("join", group_id), group.rebalance_timeout_ms,
                                lambda: self._complete_join_by_id(group_id))
            return
        group.init_next_generation(self._now())
        if group.state is S.EMPTY:
            log.info("Group %s with generation %d is now empty", group_id, group.generation_id)
            self._store_in_background(group)
            return
        log.info("Stabilized group %s generation %d (%s) with %d members", group_id, group.generation_id,
                 group.protocol_name, len(group.members))
        for member in list(group.members.values()):
            members = self._member_metadata(group) if member.member_id == group.leader_id else []
            if member.join_waiter is not None:
                member.join_waiter.complete(self._join_response(group, member.member_id, members))
            self._schedule_heartbeat(group, member)
            member.is_new = False
            group.pending_sync_members.add(member.member_id)
        generation = group.generation_id
        self.timer.schedule(("sync", group_id), group.rebalance_timeout_ms,
                            lambda: self._expire_pending_sync(group_id, generation))

    def _expire_pending_sync(self, group_id: str, generation: int) -> None:
        group = self._classic(group_id)
        if group is None or group.generation_id != generation:
            return
        if group.state in (S.COMPLETING_REBALANCE, S.STABLE) and group.pending_sync_members:
            missing = sorted(group.pending_sync_members)
            for member_id in missing:
                group.remove(member_id)
                self.timer.cancel(("heartbeat", group_id, member_id))
            log.info("Group %s removed members who did not send SyncGroup: %s", group_id, missing)
            self._prepare_rebalance(group)

    def _propagate_assignment(self, group: ClassicGroup, error: ErrorCode) -> None:
        ok = error == ErrorCode.NONE
        for member in group.members.values():
            waiter = member.sync_waiter
            if waiter is not None and waiter.complete(SyncGroupResponse(
                    error_code=error, assignment=member.assignment,
                    protocol_type=group.protocol_type if ok else None,
                    protocol_name=group.protocol_name if ok else None)):
                # A session may have expired while the member waited; start it afresh.
                self._schedule_heartbeat(group, member)

    def _member_metadata(self, group: ClassicGroup) -> list[JoinGroupResponse.JoinGroupResponseMember]:
        protocol = group.protocol_name or ""
        return [JoinGroupResponse.JoinGroupResponseMember(member_id=m.member_id, group_instance_id=m.group_instance_id,
                                                          metadata=m.metadata_for(protocol))
                for m in group.members.values()]

    @staticmethod
    def _join_response(group: ClassicGroup, member_id: str,
                       members: list[JoinGroupResponse.JoinGroupResponseMember],
                       *, skip_assignment: bool = False) -> JoinGroupResponse:
        return JoinGroupResponse(error_code=ErrorCode.NONE, generation_id=group.generation_id,
                                 protocol_type=group.protocol_type, protocol_name=group.protocol_name,
                                 leader=group.leader_id or "", skip_assignment=skip_assignment,
                                 member_id=member_id, members=members)

    # --- JoinGroup --------------------------------------------------------------------------

    async def join_group(self, *, group_id: str, member_id: str, group_instance_id: str | None,
                         protocol_type: str, protocols: list[tuple[str, bytes]], session_timeout_ms: int,
                         rebalance_timeout_ms: int, client_id: str, client_host: str,
                         require_known_member_id: bool, supports_skip_assignment: bool) -> JoinGroupResponse:
        """JoinGroup, in Kafka's check order; returns when the member's join phase ends.

        Args:
            require_known_member_id: v4+ without a group instance id: a first join is
                answered MEMBER_ID_REQUIRED with the id to join with (KIP-394).
            supports_skip_assignment: v9+ (KIP-814): a static leader rejoining a stable
                group gets the members with ``skip_assignment``.
        """
        error = self.coordinator_error(group_id)
        if error is None and not group_id:
            error = ErrorCode.INVALID_GROUP_ID
        if error is None and not (self.config.group_min_session_timeout_ms <= session_timeout_ms
                                  <= self.config.group_max_session_timeout_ms):
            error = ErrorCode.INVALID_SESSION_TIMEOUT
        if error is not None:
            return join_error(member_id, error)
        if self.held_by_another_type(group_id):
            return join_error(UNKNOWN_MEMBER_ID, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)  # classicGroupJoin
        is_unknown = member_id == UNKNOWN_MEMBER_ID
        group = self.groups.get(group_id)
        if isinstance(group, ConsumerGroup):
            if not group.is_empty():
                # Classic members in a consumer group (KIP-848's online migration) are not supported.
                return join_error(member_id, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
            log.info("Converting the empty consumer group %s to a classic group", group_id)
            error = await self._store(self.partition_for(group_id), consumer_group_tombstones(group))
            if error != ErrorCode.NONE:
                return join_error(member_id, error)
            if self.groups.get(group_id) is not group or not group.is_empty():
                return join_error(member_id, ErrorCode.COORDINATOR_NOT_AVAILABLE)
            classic = ClassicGroup(group_id, self._now())
            classic.take_offsets(group)
            self.replace_group(group, classic)
            group = classic
        if group is None:
            if not is_unknown:
                return join_error(member_id, ErrorCode.UNKNOWN_MEMBER_ID)
            group = self.groups[group_id] = ClassicGroup(group_id, self._now())
            # Kafka stores a new classic group at once, empty (``classicGroupJoinToClassicGroup``
            # appends ``newEmptyGroupMetadataRecord``), so ListGroups shows it Empty from the
            # first JoinGroup on, the one answered MEMBER_ID_REQUIRED included.
            error = await self._store(self.partition_for(group_id), [group_metadata_record(group)])
            if self.groups.get(group_id) is not group:
                return join_error(member_id, ErrorCode.NOT_COORDINATOR)
            if error != ErrorCode.NONE:
                if group.state is S.EMPTY and not group.members and not group.pending_members \
                        and not group.has_offsets():
                    self._remove_group(group)
                return join_error(member_id, error)
        if not self._accept_joining_member(group, member_id):
            group.remove(member_id)
            return join_error(UNKNOWN_MEMBER_ID, ErrorCode.GROUP_MAX_SIZE_REACHED)
        if group.state is S.DEAD:
            return join_error(member_id, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        if not group.supports_protocols(protocol_type, protocols):
            return join_error(member_id, ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        waiter: Waiter[JoinGroupResponse] = Waiter()
        request = _JoinRequest(member_id, group_instance_id, protocol_type, protocols, session_timeout_ms,
                               rebalance_timeout_ms, client_id, client_host)
        if is_unknown:
            new_member_id = ClassicGroup.generate_member_id(client_id, group_instance_id)
            if group_instance_id is not None:
                existing = group.static_members.get(group_instance_id)
                if existing is not None:
                    return await self._replace_static_member(group, request, existing, new_member_id,
                                                             waiter, supports_skip_assignment)
                self._add_member_and_rebalance(group, request, new_member_id, waiter)
            elif require_known_member_id:
                group.pending_members.add(new_member_id)
                self.timer.schedule(("heartbeat", group_id, new_member_id), session_timeout_ms,
                                    lambda: self._expire_heartbeat(group_id, new_member_id))
                return join_error(new_member_id, ErrorCode.MEMBER_ID_REQUIRED)
            else:
                self._add_member_and_rebalance(group, request, new_member_id, waiter)
        else:
            immediate = self._join_existing_member(group, request, waiter)
            if immediate is not None:
                return immediate
        return await waiter.wait()

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        max_size = self.config.group_max_size
        if group.state in (S.EMPTY, S.DEAD):
            return True
        if group.state is S.PREPARING_REBALANCE:
            member = group.members.get(member_id)
            return (member is not None and member.is_awaiting_join) or group.num_awaiting_join < max_size
        return member_id in group.members or len(group.members) < max_size

    def _add_member_and_rebalance(self, group: ClassicGroup, request: "_JoinRequest", member_id: str,
                                  waiter: Waiter[JoinGroupResponse]) -> None:
        member = Member(member_id, request.group_instance_id, request.client_id, request.client_host,
                        request.rebalance_timeout_ms, request.session_timeout_ms, request.protocol_type,
                        request.protocols)
        member.is_new = True
        if group.state is S.PREPARING_REBALANCE and group.previous_state is S.EMPTY:
            group.new_member_added = True
        group.add(member, waiter)
        # A new member cannot heartbeat before its first answer, and a parked request
        # cannot tell that its client left: bound the wait instead.
        self._schedule_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance_or_complete_join(group)

    def _join_existing_member(self, group: ClassicGroup, request: "_JoinRequest",
                              waiter: Waiter[JoinGroupResponse]) -> JoinGroupResponse | None:
        """A known (or pending) member id rejoins; returns an answer when it is not parked."""
        member_id = request.member_id
        if member_id in group.pending_members:
            self._add_member_and_rebalance(group, request, member_id, waiter)
            return None
        error = group.validate_member(member_id, request.group_instance_id)
        if error is not None:
            return join_error(member_id, error)
        member = group.members[member_id]
        if group.state is S.PREPARING_REBALANCE:
            self._update_member_and_rebalance(group, member, request, waiter)
        elif group.state is S.COMPLETING_REBALANCE:
            if not member.matches(request.protocols):
                self._update_member_and_rebalance(group, member, request, waiter)
            else:
                # The member lost its JoinGroup answer: repeat it for this generation.
                members = self._member_metadata(group) if member_id == group.leader_id else []
                return self._join_response(group, member_id, members)
        elif group.state is S.STABLE:
            if member_id == group.leader_id or not member.matches(request.protocols):
                # A leader's JoinGroup always rebalances: it may have seen metadata change.
                self._update_member_and_rebalance(group, member, request, waiter)
            else:
                return self._join_response(group, member_id, [])
        else:
            return join_error(member_id, ErrorCode.UNKNOWN_MEMBER_ID)
        return None

    def _update_member_and_rebalance(self, group: ClassicGroup, member: Member, request: "_JoinRequest",
                                     waiter: Waiter[JoinGroupResponse]) -> None:
        if member.join_waiter is not None and member.join_waiter is not waiter:
            member.join_waiter.complete(join_error(member.member_id, ErrorCode.REBALANCE_IN_PROGRESS))
        group.update_member(member, request.protocols, request.rebalance_timeout_ms, request.session_timeout_ms,
                            waiter)
        self._maybe_prepare_rebalance_or_complete_join(group)

    async def _replace_static_member(self, group: ClassicGroup, request: "_JoinRequest", old_member_id: str,
                                     new_member_id: str, waiter: Waiter[JoinGroupResponse],
                                     supports_skip_assignment: bool) -> JoinGroupResponse:
        """A static member rejoins with an unknown member id: the new id replaces the old
        one; in a stable group with the same selected protocol, without a rebalance."""
        instance_id = request.group_instance_id
        assert instance_id is not None
        old = group.members[old_member_id]
        if old.join_waiter is not None:
            old.join_waiter.complete(join_error(old_member_id, ErrorCode.FENCED_INSTANCE_ID))
        if old.sync_waiter is not None:
            old.sync_waiter.complete(SyncGroupResponse(error_code=ErrorCode.FENCED_INSTANCE_ID))
        self.timer.cancel(("heartbeat", group.group_id, old_member_id))
        member = group.replace_static_member(instance_id, old_member_id, new_member_id)
        self._schedule_heartbeat(group, member)
        saved = (member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms)
        group.update_member(member, request.protocols, request.rebalance_timeout_ms, request.session_timeout_ms,
                            waiter)
        if group.state is S.STABLE:
            if (group.protocol_name or "") == group.select_protocol():
                log.info("Static member %s of group %s rejoined as %s without a rebalance",
                         instance_id, group.group_id, new_member_id)
                leader_before = group.leader_id
                error = await self._store(self.partition_for(group.group_id), [group_metadata_record(group)])
                if error != ErrorCode.NONE:
                    if group.members.get(new_member_id) is member:
                        group.update_member(member, *saved, None)
                        group.replace_static_member(instance_id, new_member_id, old_member_id)
                        self._schedule_heartbeat(group, member)
                    response = join_error(UNKNOWN_MEMBER_ID, error)
                    response.leader = leader_before or ""
                    return response
                member.join_waiter = None
                is_leader = group.leader_id == new_member_id
                if supports_skip_assignment:
                    return self._join_response(group, new_member_id,
                                               self._member_metadata(group) if is_leader else [],
                                               skip_assignment=is_leader)
                return self._join_response(group, new_member_id, [])
            self._maybe_prepare_rebalance_or_complete_join(group)
        elif group.state is S.COMPLETING_REBALANCE:
            # The leader may already hold the old member id in its assignment.
            self._prepare_rebalance(group)
        else:
            self._maybe_complete_join_phase(group)
        return await waiter.wait()

    # --- SyncGroup --------------------------------------------------------------------------

    async def sync_group(self, *, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None,
                         protocol_type: str | None, protocol_name: str | None,
                         assignments: dict[str, bytes]) -> SyncGroupResponse:
        """SyncGroup: followers wait for the leader; the leader's assignment is stored,
        then handed to every member."""
        error = self.coordinator_error(group_id)
        if error is None and not group_id:
            error = ErrorCode.INVALID_GROUP_ID
        if error is None and self.held_by_another_type(group_id):
            error = ErrorCode.INCONSISTENT_GROUP_PROTOCOL  # classicGroupSync
        group = self._classic(group_id) if error is None else None
        if error is None and group is None:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        if error is None and group is not None:
            error = self._validate_sync(group, generation_id, member_id, group_instance_id, protocol_type,
                                        protocol_name)
        if error is not None:
            return SyncGroupResponse(error_code=error)
        assert group is not None
        if group.state is S.PREPARING_REBALANCE:
            return SyncGroupResponse(error_code=ErrorCode.REBALANCE_IN_PROGRESS)
        member = group.members[member_id]
        self._remove_pending_sync_member(group, member_id)
        if group.state is S.STABLE:
            self._schedule_heartbeat(group, member)
            return SyncGroupResponse(error_code=ErrorCode.NONE, protocol_type=group.protocol_type,
                                     protocol_name=group.protocol_name, assignment=member.assignment)
        if group.state is not S.COMPLETING_REBALANCE:
            return SyncGroupResponse(error_code=ErrorCode.UNKNOWN_MEMBER_ID)
        waiter: Waiter[SyncGroupResponse] = Waiter()
        member.sync_waiter = waiter
        if member_id == group.leader_id:
            log.info("Assignment received from leader %s for group %s generation %d",
                     member_id, group_id, group.generation_id)
            assignment = {m: assignments.get(m, b"") for m in group.members}
            generation = group.generation_id
            error = await self._store(self.partition_for(group_id), [group_metadata_record(group, assignment)])
            if group.state is S.COMPLETING_REBALANCE and group.generation_id == generation \
                    and self.groups.get(group_id) is group:
                if error != ErrorCode.NONE:
                    for m in group.members.values():
                        m.assignment = b""
                    self._propagate_assignment(group, error)
                    self._prepare_rebalance(group)
                else:
                    for m in group.members.values():
                        m.assignment = assignment.get(m.member_id, b"")
                    self._propagate_assignment(group, ErrorCode.NONE)
                    group.transition(GroupEvent.LEADER_SYNC, self._now())
        return await waiter.wait()

    @staticmethod
    def _validate_sync(group: ClassicGroup, generation_id: int, member_id: str, group_instance_id: str | None,
                       protocol_type: str | None, protocol_name: str | None) -> ErrorCode | None:
        if group.state is S.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(member_id, group_instance_id)
        if error is not None:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        for asked, actual in ((protocol_type, group.protocol_type), (protocol_name, group.protocol_name)):
            if asked is not None and actual is not None and asked != actual:
                return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        return None

    def _remove_pending_sync_member(self, group: ClassicGroup, member_id: str) -> None:
        group.pending_sync_members.discard(member_id)
        if group.state not in (S.COMPLETING_REBALANCE, S.STABLE) or not group.pending_sync_members:
            self.timer.cancel(("sync", group.group_id))

    # --- Heartbeat and LeaveGroup -----------------------------------------------------------

    def heartbeat(self, *, group_id: str, generation_id: int, member_id: str,
                  group_instance_id: str | None) -> ErrorCode:
        """Heartbeat: keeps the member's session; REBALANCE_IN_PROGRESS tells it to rejoin."""
        error = self.coordinator_error(group_id)
        if error is not None:
            return error
        group = self._classic(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.state is S.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(member_id, group_instance_id)
        if error is not None:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if group.state is S.EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        self._schedule_heartbeat(group, group.members[member_id])
        if group.state is S.PREPARING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave_group(self, group_id: str, members: Sequence[tuple[str, str | None]]) -> tuple[ErrorCode, list[ErrorCode]]:
        """LeaveGroup for (member id, group instance id) pairs.

        Returns:
            The request-level error (then nothing was done) and one error per member.
        """
        error = self.coordinator_error(group_id)
        if error is not None:
            return error, []
        group = self._classic(group_id)
        if group is None:
            # Kafka answers a group it does not find (or not a classic one) member by member.
            return ErrorCode.NONE, [ErrorCode.UNKNOWN_MEMBER_ID] * len(members)
        if group.state is S.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        results = []
        removed: list[Member] = []
        for member_id, instance_id in members:
            if instance_id is not None:
                known = group.static_members.get(instance_id)
                if known is None:
                    results.append(ErrorCode.UNKNOWN_MEMBER_ID)
                    continue
                if member_id != UNKNOWN_MEMBER_ID and member_id != known:
                    results.append(ErrorCode.FENCED_INSTANCE_ID)
                    continue
                member_id = known
            if member_id in group.pending_members:
                group.remove(member_id)
                self.timer.cancel(("heartbeat", group_id, member_id))
                results.append(ErrorCode.NONE)
                continue
            member = group.members.get(member_id)
            if member is None:
                results.append(ErrorCode.UNKNOWN_MEMBER_ID)
                continue
            log.info("Member %s is leaving group %s", member_id, group_id)
            removed.append(member)
            results.append(ErrorCode.NONE)
        for member in removed:
            self._remove_member_and_update(group, member)
        if not removed and group.state is S.PREPARING_REBALANCE and group.has_all_members_joined():
            self._complete_join(group)
        return ErrorCode.NONE, results

    # --- offsets ----------------------------------------------------------------------------

    def _validate_offset_commit(self, group: ClassicGroup, member_id: str, group_instance_id: str | None,
                                generation_id: int, *, transactional: bool) -> ErrorCode | None:
        """``ClassicGroup.validateOffsetCommit``."""
        if group.state is S.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and group.state is S.EMPTY:
            return None
        if generation_id >= 0 or member_id or group_instance_id is not None:
            error = group.validate_member(member_id, group_instance_id)
            if error is not None:
                return error
            if generation_id != group.generation_id:
                return ErrorCode.ILLEGAL_GENERATION
        elif not transactional and group.state is not S.EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if not transactional and group.state is S.COMPLETING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return None

    def _group_for_commit(self, group_id: str, member_id: str, group_instance_id: str | None, generation_id: int,
                          *, transactional: bool, version: int = 0, partitions: Sequence[tuple[str, int]] = ()
                          ) -> tuple[ErrorCode | None, ClassicGroup | ConsumerGroup | None]:
        error = self.coordinator_error(group_id)
        if error is None and not group_id:
            error = ErrorCode.INVALID_GROUP_ID
        if error is not None:
            return error, None
        if self.core.share.find_group(group_id) is not None:
            # ShareGroup.validateOffsetCommit: a share group has no committed offsets.
            return ErrorCode.GROUP_ID_NOT_FOUND, None
        group = self.groups.get(group_id)
        streams = self.core.streams.find_group(group_id)
        if streams is not None:
            # A streams group (KIP-1071): its shard checks the member epoch
            # (StreamsGroup.validateOffsetCommit); the offsets are kept here, in an
            # offsets-only group of the same id.
            error = streams.validate_offset_commit(group_id, member_id, generation_id, partitions)
            if transactional and version < 6 and error == ErrorCode.STALE_MEMBER_EPOCH:
                error = ErrorCode.ILLEGAL_GENERATION
            if error is None and group is None:
                group = self.groups[group_id] = ClassicGroup(group_id, self._now())
            return error, group
        if group is None:
            if generation_id >= 0:
                # OffsetCommit v9+ (KIP-848) and TxnOffsetCommit v6+ say so; older versions
                # kept ILLEGAL_GENERATION (TxnOffsetCommitRequest.supportsGroupIdNotFoundError).
                return (ErrorCode.GROUP_ID_NOT_FOUND if version >= (6 if transactional else 9)
                        else ErrorCode.ILLEGAL_GENERATION), None
            # A group that only commits offsets (assign() consumers, admin clients).
            group = self.groups[group_id] = ClassicGroup(group_id, self._now())
            return None, group
        if isinstance(group, ConsumerGroup):
            # For consumer groups the generation field carries the member epoch.
            error = self.consumer.validate_offset_commit(group, member_id, generation_id, transactional=transactional,
                                                         version=version)
            if transactional and version < 6 and error == ErrorCode.STALE_MEMBER_EPOCH:
                error = ErrorCode.ILLEGAL_GENERATION  # TxnOffsetCommit has STALE_MEMBER_EPOCH from v6 (Kafka maps it so)
            return error, group
        return self._validate_offset_commit(group, member_id, group_instance_id, generation_id,
                                            transactional=transactional), group

    def _offset_value(self, o: CommitOffset, now: int, expire_timestamp: int | None) -> OffsetAndMetadata | ErrorCode:
        metadata = o.metadata or ""
        if len(metadata.encode()) > self.config.offset_metadata_max_bytes:
            return ErrorCode.OFFSET_METADATA_TOO_LARGE
        return OffsetAndMetadata(o.offset, o.leader_epoch, metadata, now, expire_timestamp)

    async def commit_offsets(self, *, group_id: str, generation_id: int, member_id: str,
                             group_instance_id: str | None, retention_time_ms: int,
                             offsets: Sequence[CommitOffset], version: int) -> list[ErrorCode]:
        """OffsetCommit; returns one error per offset, in order, once the records are replicated."""
        error, group = self._group_for_commit(group_id, member_id, group_instance_id, generation_id,
                                              transactional=False, version=version,
                                              partitions=[(o.topic, o.partition) for o in offsets])
        if error is not None or group is None:
            return [error or ErrorCode.UNKNOWN_SERVER_ERROR] * len(offsets)
        now = self._now()
        expire = now + retention_time_ms if retention_time_ms >= 0 else None
        results: list[ErrorCode] = []
        records: list[KeyValue] = []
        values: list[tuple[TopicPartitionKey, OffsetAndMetadata]] = []
        for o in offsets:
            value = self._offset_value(o, now, expire)
            if isinstance(value, ErrorCode):
                results.append(value)
                continue
            results.append(ErrorCode.NONE)
            records.append(offset_commit_record(group_id, o.topic, o.partition, value))
            values.append(((o.topic, o.partition), value))
        if not records:
            return results
        p = self.partition_for(group_id)
        error, next_offset = self._append(p, records)
        if error == ErrorCode.NONE:
            group.offsets.update(values)
            error = await self._await_replicated(p, next_offset)
        if error != ErrorCode.NONE:
            results = [error if r == ErrorCode.NONE else r for r in results]
        return results

    def fetch_offsets(self, group_id: str, topics: Sequence[tuple[str, Sequence[int]]] | None, *,
                      require_stable: bool, member_id: str | None = None,
                      member_epoch: int = -1) -> tuple[ErrorCode, list[tuple[str, list[FetchedOffset]]]]:
        """OffsetFetch for one group: the asked partitions, or every committed one when
        ``topics`` is None. Unknown partitions answer offset -1. ``member_id`` and
        ``member_epoch`` (v9) are checked for consumer and streams groups (STALE_MEMBER_EPOCH,
        UNKNOWN_MEMBER_ID)."""
        error = self.coordinator_error(group_id)
        if error is not None:
            return error, []
        group = self.groups.get(group_id)
        checked = group if isinstance(group, ConsumerGroup) else None
        streams = self.core.streams.find_group(group_id)
        if streams is not None:
            # StreamsGroup.validateOffsetFetch is ConsumerGroup's check, on the streams
            # members (a streams group's offsets are kept here, in an offsets-only group).
            checked = streams.groups[group_id]
        if checked is not None:
            error = self.consumer.validate_offset_fetch(checked, member_id, member_epoch)
            if error is not None:
                return error, []
        offsets = group.offsets if group is not None and group.state is not S.DEAD else {}
        if topics is None:
            by_topic: dict[str, list[int]] = {}
            for topic, partition in sorted(offsets):
                by_topic.setdefault(topic, []).append(partition)
            topics = list(by_topic.items())
        out = []
        for topic, partitions in topics:
            answers = []
            for partition in partitions:
                if require_stable and group is not None and group.has_pending_txn_offsets((topic, partition)):
                    answers.append(FetchedOffset(partition, -1, -1, "", ErrorCode.UNSTABLE_OFFSET_COMMIT))
                    continue
                o = offsets.get((topic, partition))
                answers.append(FetchedOffset(partition, -1, -1, "") if o is None
                               else FetchedOffset(partition, o.offset, o.leader_epoch, o.metadata))
            out.append((topic, answers))
        return ErrorCode.NONE, out

    async def delete_offsets(self, group_id: str,
                             topics: Sequence[tuple[str, Sequence[int]]]) -> tuple[ErrorCode, list[list[ErrorCode]]]:
        """OffsetDelete: partitions of topics the group still consumes answer
        GROUP_SUBSCRIBED_TO_TOPIC; others lose their committed offset."""
        error = self.coordinator_error(group_id)
        group = self.groups.get(group_id) if error is None else None
        if error is None and (group is None or group.state is S.DEAD):
            error = ErrorCode.GROUP_ID_NOT_FOUND
        if error is None and group is not None and group.state is not S.EMPTY \
                and group.protocol_type != CONSUMER_PROTOCOL_TYPE:
            error = ErrorCode.NON_EMPTY_GROUP
        if error is not None or group is None:
            return error or ErrorCode.UNKNOWN_SERVER_ERROR, []
        subscribed = (group.subscribed_topics() or set()) if group.state is not S.EMPTY else set()
        streams = self.core.streams.find_group(group_id)
        if streams is not None:  # the offsets-only group of a streams group's commits
            subscribed = streams.groups[group_id].subscribed_topics()
        results: list[list[ErrorCode]] = []
        records: list[KeyValue] = []
        for topic, partitions in topics:
            row = []
            for partition in partitions:
                if topic in subscribed:
                    row.append(ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC)
                    continue
                row.append(ErrorCode.NONE)
                if group.offsets.pop((topic, partition), None) is not None:
                    records.append(offset_commit_record(group_id, topic, partition, None))
            results.append(row)
        if records:
            error = await self._store(self.partition_for(group_id), records)
            if error != ErrorCode.NONE:
                return error, []
        return ErrorCode.NONE, results

    # --- transactional offsets (for the transaction coordinator) ---------------------------

    async def stage_txn_offsets(self, group_id: str, producer_id: int, producer_epoch: int,
                                offsets: Sequence[CommitOffset], *, member_id: str = UNKNOWN_MEMBER_ID,
                                group_instance_id: str | None = None, generation_id: int = -1,
                                version: int = 0) -> list[ErrorCode]:
        """TxnOffsetCommit: stage ``offsets`` of a transaction; invisible until committed.

        The offsets are written to the group's ``__consumer_offsets`` partition in a
        transactional batch of ``producer_id``/``producer_epoch`` (as Kafka writes them)
        and kept as pending: OffsetFetch does not return them, and with
        ``require_stable`` answers UNSTABLE_OFFSET_COMMIT for their partitions, until
        :meth:`complete_txn_offsets` commits or aborts the producer's transaction. The
        member fields (TxnOffsetCommit v3+) are checked as Kafka checks them.

        Returns:
            One error per offset, in order: NONE, OFFSET_METADATA_TOO_LARGE, or the
            group-level error (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
            UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID, ...); from
            ``version`` 6 GROUP_ID_NOT_FOUND and STALE_MEMBER_EPOCH too.
        """
        error, group = self._group_for_commit(group_id, member_id, group_instance_id, generation_id, version=version,
                                              transactional=True, partitions=[(o.topic, o.partition) for o in offsets])
        if error is not None or group is None:
            return [error or ErrorCode.UNKNOWN_SERVER_ERROR] * len(offsets)
        now = self._now()
        results: list[ErrorCode] = []
        records: list[KeyValue] = []
        values: list[tuple[TopicPartitionKey, OffsetAndMetadata]] = []
        for o in offsets:
            value = self._offset_value(o, now, None)
            if isinstance(value, ErrorCode):
                results.append(value)
                continue
            results.append(ErrorCode.NONE)
            records.append(offset_commit_record(group_id, o.topic, o.partition, value))
            values.append(((o.topic, o.partition), value))
        if not records:
            return results
        p = self.partition_for(group_id)
        error, next_offset = self._append(p, records, producer_id=producer_id, producer_epoch=producer_epoch)
        if error == ErrorCode.NONE:
            group.pending_txn_offsets.setdefault(producer_id, {}).update(values)
            self._txn_groups.setdefault(producer_id, set()).add(group_id)
            self._txn_epochs[producer_id] = producer_epoch
            error = await self._await_replicated(p, next_offset)
        if error != ErrorCode.NONE:
            results = [error if r == ErrorCode.NONE else r for r in results]
        return results

    async def complete_txn_offsets(self, producer_id: int, commit: bool, *, producer_epoch: int | None = None,
                                   coordinator_epoch: int = 0, write_markers: bool = True) -> ErrorCode:
        """End a transaction's staged offsets: COMMIT makes them the committed offsets,
        ABORT drops them.

        Writes the transaction marker to every ``__consumer_offsets`` partition of this
        node holding offsets staged by ``producer_id`` (Kafka's WriteTxnMarkers to the
        offsets partitions followed by ``onTransactionCompleted``), unless
        ``write_markers`` is False because the caller appended those markers itself.
        A producer with nothing staged here is a no-op.

        Args:
            producer_epoch: the marker's epoch; the epoch of the staging by default.
            coordinator_epoch: the transaction coordinator's epoch, kept in the marker.

        Returns:
            NONE, or the first error writing a marker (the offsets are then left staged).
        """
        group_ids = self._txn_groups.get(producer_id, set())
        groups = [self.groups[g] for g in sorted(group_ids)
                  if g in self.groups and producer_id in self.groups[g].pending_txn_offsets]
        epoch = self._txn_epochs.get(producer_id, 0) if producer_epoch is None else producer_epoch
        waits: list[tuple[int, int]] = []
        if write_markers:
            now = self._now()
            for p in sorted({self.partition_for(g.group_id) for g in groups}):
                partition = self._leader_partition(p)
                if partition is None:
                    return ErrorCode.NOT_COORDINATOR
                try:
                    info = partition.log.append_end_txn_marker(producer_id, epoch, coordinator_epoch, commit,
                                                               leader_epoch=partition.leader_epoch, now_ms=now)
                except StorageError as exc:
                    return append_error(exc.error_code)
                if info.error_code != ErrorCode.NONE:
                    return append_error(info.error_code)
                self.core.replicas.on_append(partition)
                waits.append((p, info.last_offset + 1))
        for g in groups:
            staged = g.pending_txn_offsets.pop(producer_id)
            if commit:
                g.offsets.update(staged)
        self._txn_groups.pop(producer_id, None)
        self._txn_epochs.pop(producer_id, None)
        for p, next_offset in waits:
            error = await self._await_replicated(p, next_offset)
            if error != ErrorCode.NONE:
                return error
        return ErrorCode.NONE

    # --- expiry -----------------------------------------------------------------------------

    def _schedule_expiry(self, p: int) -> None:
        """Check partition ``p``'s offsets every ``offsets.retention.check.interval.ms`` on
        its shard's timer while it is loaded (``GroupCoordinatorShard.scheduleGroupMetadataExpiration``)."""
        shard = self.runtime.shard(p)
        if shard is not None:
            shard.context.timer.schedule(("offsets-expiry",), self.config.offsets_retention_check_interval_ms,
                                         lambda _shard: self._expire(p))

    def _expire(self, p: int) -> None:
        self._schedule_expiry(p)
        self.cleanup_expired_offsets(p)

    def cleanup_expired_offsets(self, p: int) -> int:
        """Tombstone the offsets of partition ``p``'s groups past ``offsets.retention.minutes``
        and delete groups left empty with no offsets (Kafka's ``cleanupGroupMetadata``).
        Returns the number of offsets expired."""
        now = self._now()
        retention_ms = self.config.offsets_retention_minutes * 60_000
        records: list[KeyValue] = []
        expired_count = 0
        for group in [g for g in self.groups.values() if self.partition_for(g.group_id) == p]:
            base = _expiration_base(group)
            expired = []
            if base is not None:
                keep = _kept_topics(group)
                for tp, o in group.offsets.items():
                    if tp[0] in keep or group.has_pending_txn_offsets(tp):
                        continue
                    if (now >= o.expire_timestamp) if o.expire_timestamp is not None \
                            else now - (base if base >= 0 else o.commit_timestamp) >= retention_ms:
                        expired.append(tp)
            for tp in expired:
                del group.offsets[tp]
                records.append(offset_commit_record(group.group_id, tp[0], tp[1], None))
            expired_count += len(expired)
            if group.is_empty_and_offsetless():
                log.info("Group %s is empty with no offsets left; deleting it", group.group_id)
                records.extend(_tombstones(group))
                self._remove_group(group)
        if records:
            error, _ = self._append(p, records)
            if error != ErrorCode.NONE:
                log.warning("Failed to write expired offsets of %s-%d: %s", GROUP_METADATA_TOPIC, p, error.name)
        return expired_count

    def _remove_group(self, group: ClassicGroup | ConsumerGroup) -> None:
        self.groups.pop(group.group_id, None)
        if isinstance(group, ConsumerGroup):
            self.consumer.cancel_group_timers(group)
            group.dead = True
            return
        group.transition(GroupEvent.REMOVE, self._now())
        self.timer.cancel(("join", group.group_id))
        self.timer.cancel(("sync", group.group_id))

    # --- admin ------------------------------------------------------------------------------

    def describe_group(self, group_id: str) -> DescribeGroupsResponse.DescribedGroup:
        """DescribeGroups for one group; an unknown group is Dead (the handler adds v6's error)."""
        D = DescribeGroupsResponse
        error = self.coordinator_error(group_id)
        if error is not None:
            return D.DescribedGroup(error_code=error, group_id=group_id, group_state="", protocol_type="",
                                    protocol_data="")
        group = self.groups.get(group_id)
        if isinstance(group, ConsumerGroup):
            return D.DescribedGroup(error_code=ErrorCode.GROUP_ID_NOT_FOUND, group_id=group_id,
                                    error_message=f"Group {group_id} is not a classic group.",
                                    group_state=S.DEAD.value, protocol_type="", protocol_data="")
        if group is None or group.state is S.DEAD:
            return D.DescribedGroup(error_code=ErrorCode.GROUP_ID_NOT_FOUND, group_id=group_id,
                                    group_state=S.DEAD.value, protocol_type="", protocol_data="")
        stable = group.state is S.STABLE
        protocol = group.protocol_name or ""
        members = [
            D.DescribedGroupMember(
                member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
                client_host=m.client_host,
                member_metadata=m.metadata_for(protocol) if stable else b"",
                member_assignment=m.assignment if stable else b"",
            )
            for m in group.members.values()
        ]
        return D.DescribedGroup(error_code=ErrorCode.NONE, group_id=group_id, group_state=group.state.value,
                                protocol_type=group.protocol_type or "", protocol_data=protocol if stable else "",
                                members=members)

    def list_groups(self, states: Sequence[str] = (), types: Sequence[str] = ()) -> list[ListedGroup]:
        """ListGroups over the loaded partitions; filters are case-insensitive (KIP-518, KIP-1043)."""
        wanted = {s.lower() for s in states}
        type_names = {t.lower() for t in types}
        out = []
        for group in self.groups.values():
            group_type = _CONSUMER if isinstance(group, ConsumerGroup) else _CLASSIC
            state = group.state.value
            if state == S.DEAD.value or (states and state.lower() not in wanted):
                continue
            if types and group_type not in type_names:
                continue
            out.append(ListedGroup(group.group_id, group.protocol_type or "", state, group_type))
        return out

    async def delete_groups(self, group_ids: Sequence[str]) -> list[ErrorCode]:
        """DeleteGroups: empty groups lose their offsets and metadata (tombstones)."""
        results = []
        by_partition: dict[int, list[KeyValue]] = {}
        for group_id in group_ids:
            error = self.coordinator_error(group_id)
            if error is None and not group_id:
                error = ErrorCode.INVALID_GROUP_ID
            group = self.groups.get(group_id) if error is None else None
            if error is None and (group is None or group.state is S.DEAD):
                error = ErrorCode.GROUP_ID_NOT_FOUND
            if error is None and group is not None and not _is_empty(group):
                error = ErrorCode.NON_EMPTY_GROUP
            if error is None and isinstance(group, ConsumerGroup) and group.dead:
                error = ErrorCode.GROUP_ID_NOT_FOUND
            if error is not None or group is None:
                results.append(error or ErrorCode.UNKNOWN_SERVER_ERROR)
                continue
            records = by_partition.setdefault(self.partition_for(group_id), [])
            records.extend(offset_commit_record(group_id, t, p, None) for t, p in group.offsets)
            records.extend(_tombstones(group))
            for producer_id in group.pending_txn_offsets:
                self._txn_groups.get(producer_id, set()).discard(group_id)
            self._remove_group(group)
            results.append(ErrorCode.NONE)
        errors: dict[int, ErrorCode] = {}
        for p, records in by_partition.items():
            errors[p] = await self._store(p, records)
        return [errors.get(self.partition_for(g), ErrorCode.NONE) if r == ErrorCode.NONE else r
                for g, r in zip(group_ids, results, strict=True)]


class _JoinRequest(NamedTuple):
    member_id: str
    group_instance_id: str | None
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    session_timeout_ms: int
    rebalance_timeout_ms: int
    client_id: str
    client_host: str


def _is_empty(group: ClassicGroup | ConsumerGroup) -> bool:
    return group.is_empty() if isinstance(group, ConsumerGroup) else group.state is S.EMPTY


def _tombstones(group: ClassicGroup | ConsumerGroup) -> list[KeyValue]:
    """The records deleting a group's membership (its offsets are tombstoned apart)."""
    if isinstance(group, ConsumerGroup):
        return consumer_group_tombstones(group)
    return [group_tombstone(group.group_id)]


def _kept_topics(group: ClassicGroup | ConsumerGroup) -> set[str]:
    """Topics whose offsets do not expire: those the members subscribe to."""
    if isinstance(group, ConsumerGroup):
        return group.subscribed_topics()
    return (group.subscribed_topics() or set()) if group.state is S.STABLE else set()


def _expiration_base(group: ClassicGroup | ConsumerGroup) -> int | None:
    """What an offset's age counts from (``ClassicGroup.offsetExpirationCondition``):
    -1 for its commit time, a timestamp for all of them, None when nothing expires.
    A consumer group's offsets age from their commit (``ConsumerGroup.offsetExpirationCondition``)."""
    if isinstance(group, ConsumerGroup):
        return -1
    if group.protocol_type:
        if group.state is S.EMPTY:
            return group.current_state_timestamp if group.current_state_timestamp is not None else -1
        if group.state is S.STABLE and group.subscribed_topics() is not None:
            return -1
        return None
    return -1

