"""Share groups of one ``__consumer_offsets`` partition: a shard of the coordinator runtime.

Kafka's ``GroupMetadataManager.shareGroupHeartbeat`` and ``shareGroupDescribe``. One
ShareGroupHeartbeat, in order:

1. validate (INVALID_REQUEST): a group id and member id (v1: the client makes its
   member id), topics on a join (epoch 0), epoch -1 to leave;
2. a group id held by a classic or consumer group answers GROUP_ID_NOT_FOUND ("is not
   a share group"); epoch 0 creates the group, any other epoch of an unknown member
   is UNKNOWN_MEMBER_ID and an epoch that is neither the member's nor its previous
   one FENCED_MEMBER_EPOCH; a new member beyond ``group.share.max.size`` is
   GROUP_MAX_SIZE_REACHED;
3. a new member, a changed subscription or changed metadata of the subscribed topics
   (created, deleted, grown) bumps the group epoch and the simple assignor computes a
   new target (:mod:`.group`);
4. the member takes its target at once (share groups revoke nothing) with the
   assignment epoch as member epoch; the answer carries the assignment when it
   changed or on a full request.

Every change is records (:mod:`.group_records`) written by the runtime and applied by
:meth:`ShareGroupShard.replay`; the heartbeat is answered once they are committed.
Sessions (``share.session.timeout.ms`` of the group, else
``group.share.session.timeout.ms``) are shard timers; a member whose session
runs out is removed, as if it had left.

This is the share part of the partition's
:class:`~kafkapy.broker.groups.shard.GroupCoordinatorShard`, which replays it only the
share groups' records; classic and consumer groups of the same partition are the
:class:`~kafkapy.broker.group_coordinator.GroupCoordinator`'s. Group ids are one
namespace, checked both ways.

Not implemented: rack-aware assignment, the ``share.assignment.interval.ms`` batching
of assignments (each heartbeat that needs one computes it), the InitializeShareGroupState
round trip (the share-partition leader initializes a share-partition's state on its
first fetch; the group records which topics it subscribed in
ShareGroupStatePartitionMetadata). So a topic is assigned in the heartbeat that
subscribes it, where Kafka 4.4 assigns it in a later one, once the round trip has
bumped the group epoch again.

Task-safety: trio thread only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from kafkapy.broker.coordinator.shard import CoordinatorError, CoordinatorResult, KeyValue, ShardContext
from kafkapy.broker.groups.consumer_coordinator import new_member_id
from kafkapy.broker.share.group import (
    SIMPLE_ASSIGNOR,
    Assignment,
    ShareGroup,
    ShareMember,
    metadata_hash,
    replay,
    simple_assign,
)
from kafkapy.config import ShareGroupSettings
from kafkapy.broker.share.group_records import (
    current_assignment_record,
    decode_share_record,
    group_metadata_record,
    group_tombstones,
    member_metadata_record,
    member_tombstones,
    state_partition_metadata_record,
    target_epoch_record,
    target_member_record,
)
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.share_group_describe import ShareGroupDescribeResponse
from kafkapy.wire.messages.share_group_heartbeat import ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse

if TYPE_CHECKING:
    from kafkapy.kraft.metadata.image import MetadataImage

log = logging.getLogger(__name__)

LEAVE_GROUP_MEMBER_EPOCH = -1
Response = ShareGroupHeartbeatResponse


class ShareGroupShard:
    """The share groups of one ``__consumer_offsets`` partition (see the module doc).

    Args:
        context: the runtime's view for this partition.
        other_group: True when a classic or consumer group holds a group id.
    """

    def __init__(self, context: ShardContext, other_group: Callable[[str], bool] = lambda _: False,
                 settings: Callable[[str], ShareGroupSettings] | None = None) -> None:
        self.context = context
        self.other_group = other_group
        self.groups: dict[str, ShareGroup] = {}
        config = context.config
        self.settings = settings or (lambda _: ShareGroupSettings.from_sources(config, {}))
        self.max_size: int = config.group_share_max_size

    # --- the runtime's side -----------------------------------------------------------------

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        rec = decode_share_record(key, value)
        if rec is not None:
            replay(self.groups, rec)

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        pass

    def on_loaded(self) -> None:
        for group in self.groups.values():
            for member_id in group.members:
                self._schedule_session(group.group_id, member_id)

    def on_unloaded(self) -> None:
        self.groups.clear()

    # --- ShareGroupHeartbeat ------------------------------------------------------------------

    def heartbeat(self, r: ShareGroupHeartbeatRequest, client_id: str,
                  client_host: str) -> CoordinatorResult[Response]:
        """One heartbeat (see the module doc).

        Raises:
            CoordinatorError: the error to answer.
        """
        self._validate(r)
        if self.other_group(r.group_id):
            raise CoordinatorError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {r.group_id} is not a share group.")
        group = self.groups.get(r.group_id)
        if r.member_epoch == LEAVE_GROUP_MEMBER_EPOCH:
            member = group.members.get(r.member_id) if group is not None else None
            if group is None or member is None:
                raise CoordinatorError(ErrorCode.UNKNOWN_MEMBER_ID,
                                       f"Member {r.member_id} is not a member of group {r.group_id}.")
            log.info("Member %s left share group %s", r.member_id, r.group_id)
            self.context.timer.cancel(("share-session", r.group_id, r.member_id))
            # A leaving member is told no heartbeat interval (Kafka answers 0).
            return CoordinatorResult(self._remove(group, r.member_id),
                                     Response(error_code=ErrorCode.NONE, member_id=r.member_id,
                                              member_epoch=LEAVE_GROUP_MEMBER_EPOCH, heartbeat_interval_ms=0))
        if group is None:
            if r.member_epoch != 0:
                raise CoordinatorError(ErrorCode.UNKNOWN_MEMBER_ID, f"Group {r.group_id} not found.")
            # Kafka 4.4 creates a share group at epoch 1, so its first member's join
            # bumps it to 2 (the records hold only the bumped epoch).
            group = ShareGroup(r.group_id)
            group.group_epoch = 1
        member = self._member(group, r)
        is_new = member.member_id not in group.members
        if is_new and len(group.members) >= self.max_size:
            raise CoordinatorError(ErrorCode.GROUP_MAX_SIZE_REACHED,
                                   f"The share group has reached its maximum capacity of {self.max_size} members.")
        updated = dataclasses.replace(
            member, client_id=client_id, client_host=client_host,
            rack_id=member.rack_id if r.rack_id is None else r.rack_id,
            subscribed_topic_names=member.subscribed_topic_names if r.subscribed_topic_names is None
            else tuple(r.subscribed_topic_names))
        records: list[KeyValue] = []
        if is_new or (updated.rack_id, updated.client_id, updated.client_host, updated.subscribed_topic_names) \
                != (member.rack_id, member.client_id, member.client_host, member.subscribed_topic_names):
            records.append(member_metadata_record(group.group_id, updated.member_id, rack_id=updated.rack_id,
                                                  client_id=client_id, client_host=client_host,
                                                  topics=updated.subscribed_topic_names))
        members = {**group.members, updated.member_id: updated}
        bump = is_new or updated.subscribed_topic_names != member.subscribed_topic_names
        target, assignment_epoch = self._maybe_bump(group, members, records, force=bump)
        assigned = target.get(updated.member_id, {})
        if is_new or assignment_epoch != updated.member_epoch or assigned != dict(updated.assigned):
            records.append(current_assignment_record(group.group_id, updated.member_id, member_epoch=assignment_epoch,
                                                     previous_member_epoch=updated.member_epoch, assigned=assigned))
        self._schedule_session(group.group_id, updated.member_id)
        full = r.member_epoch == 0 or r.subscribed_topic_names is not None
        R = ShareGroupHeartbeatResponse
        answer_assignment = None
        if full or assigned != dict(updated.assigned):
            answer_assignment = R.Assignment(topic_partitions=[
                R.TopicPartitions(topic_id=t, partitions=sorted(ps)) for t, ps in sorted(assigned.items())])
        return CoordinatorResult(records, R(error_code=ErrorCode.NONE, member_id=updated.member_id,
                                            member_epoch=assignment_epoch,
                                            heartbeat_interval_ms=self.settings(group.group_id)
                                            .share_heartbeat_interval_ms,
                                            assignment=answer_assignment))

    @staticmethod
    def _validate(r: ShareGroupHeartbeatRequest) -> None:
        """``throwIfShareGroupHeartbeatRequestIsInvalid``."""
        def invalid(message: str) -> CoordinatorError:
            return CoordinatorError(ErrorCode.INVALID_REQUEST, message)

        if not r.group_id:
            raise invalid("GroupId can't be empty.")
        if r.rack_id == "":
            raise invalid("RackId can't be empty.")
        if not r.member_id:
            raise invalid("MemberId can't be empty.")
        if r.member_epoch == 0:
            if not r.subscribed_topic_names:
                raise invalid("SubscribedTopicNames must be set in first request.")
        elif r.member_epoch < LEAVE_GROUP_MEMBER_EPOCH:
            raise invalid(f"MemberEpoch is {r.member_epoch}, but must be greater than or equal to -1.")

    @staticmethod
    def _member(group: ShareGroup, r: ShareGroupHeartbeatRequest) -> ShareMember:
        existing = group.members.get(r.member_id)
        if r.member_epoch == 0:
            return existing or ShareMember(r.member_id or new_member_id())
        if existing is None:
            raise CoordinatorError(ErrorCode.UNKNOWN_MEMBER_ID,
                                   f"Member {r.member_id} is not a member of group {group.group_id}.")
        if r.member_epoch not in (existing.member_epoch, existing.previous_member_epoch):
            raise CoordinatorError(ErrorCode.FENCED_MEMBER_EPOCH,
                                   f"The share group member has a different epoch ({r.member_epoch}) "
                                   f"than the expected one ({existing.member_epoch}).")
        return existing

    def _maybe_bump(self, group: ShareGroup, members: dict[str, ShareMember], records: list[KeyValue], *,
                    force: bool) -> tuple[dict[str, Assignment], int]:
        """Bump the group epoch if asked or if the subscribed topics changed, then
        compute a new target; records are added to ``records``. Returns the target and
        the assignment epoch after the records."""
        image: MetadataImage = self.context.image()
        topics = {t for m in members.values() for t in m.subscribed_topic_names}
        new_hash = metadata_hash(image, topics)
        epoch = group.group_epoch
        if force or new_hash != group.metadata_hash:
            epoch += 1
            records.append(group_metadata_record(group.group_id, epoch, new_hash))
        if epoch <= group.assignment_epoch:
            return group.target, group.assignment_epoch
        target = simple_assign(members, image)
        for member_id, a in sorted(target.items()):
            if group.target.get(member_id) != a or member_id not in group.target:
                records.append(target_member_record(group.group_id, member_id, a))
        records.append(target_epoch_record(group.group_id, epoch, self.context.now_ms()))
        # Topics keep their share-partition state when nobody subscribes any more (only
        # DeleteShareGroupOffsets, deleting the group or the topic removes it).
        initialized = {t: v for t, v in group.initialized.items() if t in image.topics_by_id}
        for name in sorted(topics):
            topic = image.topic(name)
            if topic is not None:
                initialized[topic.id] = (name, frozenset(topic.partitions))
        if initialized != group.initialized:
            records.append(state_partition_metadata_record(group.group_id, initialized))
        log.info("Computed target assignment of share group %s at epoch %d", group.group_id, epoch)
        return target, epoch

    def _remove(self, group: ShareGroup, member_id: str) -> list[KeyValue]:
        records = member_tombstones(group.group_id, member_id)
        members = {m: v for m, v in group.members.items() if m != member_id}
        self._maybe_bump(group, members, records, force=True)
        return records

    # --- sessions ------------------------------------------------------------------------------

    def _schedule_session(self, group_id: str, member_id: str) -> None:
        def expire(shard: ShareGroupShard) -> CoordinatorResult[None] | None:
            group = shard.groups.get(group_id)
            if group is None or member_id not in group.members:
                return None
            log.info("Member %s of share group %s failed its session timeout; removing it", member_id, group_id)
            return CoordinatorResult(shard._remove(group, member_id), None)

        self.context.timer.schedule(("share-session", group_id, member_id),
                                    self.settings(group_id).share_session_timeout_ms, expire)

    # --- reads ---------------------------------------------------------------------------------

    def describe(self, group_id: str) -> ShareGroupDescribeResponse.DescribedGroup:
        D = ShareGroupDescribeResponse
        group = self.groups.get(group_id)
        if group is None:
            message = f"Group {group_id} is not a share group." if self.other_group(group_id) \
                else f"Group {group_id} not found."
            return D.DescribedGroup(error_code=ErrorCode.GROUP_ID_NOT_FOUND, error_message=message, group_id=group_id)
        image = self.context.image()

        def assignment(a: Assignment | dict) -> ShareGroupDescribeResponse.Assignment:
            parts = []
            for topic_id, ps in sorted(a.items()):
                topic = image.topics_by_id.get(topic_id)
                if topic is not None:
                    parts.append(D.TopicPartitions(topic_id=topic_id, topic_name=topic.name, partitions=sorted(ps)))
            return D.Assignment(topic_partitions=parts)

        members = [D.Member(member_id=m.member_id, rack_id=m.rack_id, member_epoch=m.member_epoch,
                            client_id=m.client_id, client_host=m.client_host,
                            subscribed_topic_names=list(m.subscribed_topic_names),
                            assignment=assignment(dict(m.assigned)))
                   for m in group.members.values()]
        return D.DescribedGroup(error_code=ErrorCode.NONE, group_id=group_id, group_state=group.state,
                                group_epoch=group.group_epoch, assignment_epoch=group.assignment_epoch,
                                assignor_name=SIMPLE_ASSIGNOR, members=members)

    def set_initialized(self, group_id: str, add: dict[bytes, tuple[str, frozenset[int]]],
                        remove: set[bytes]) -> CoordinatorResult[ErrorCode]:
        """Record which topics have share-partition state (Alter/DeleteShareGroupOffsets)."""
        group = self.groups.get(group_id)
        if group is None:
            return CoordinatorResult([], ErrorCode.GROUP_ID_NOT_FOUND)
        initialized = {t: v for t, v in group.initialized.items() if t not in remove}
        for topic_id, (name, partitions) in add.items():
            old = initialized.get(topic_id, (name, frozenset()))[1]
            initialized[topic_id] = (name, old | partitions)
        if initialized == group.initialized:
            return CoordinatorResult([], ErrorCode.NONE)
        return CoordinatorResult([state_partition_metadata_record(group_id, initialized)], ErrorCode.NONE)

    def delete(self, group_id: str) -> CoordinatorResult[ErrorCode]:
        """DeleteGroups of a share group: only an empty one (NON_EMPTY_GROUP)."""
        group = self.groups.get(group_id)
        if group is None:
            return CoordinatorResult([], ErrorCode.GROUP_ID_NOT_FOUND)
        if group.members:
            return CoordinatorResult([], ErrorCode.NON_EMPTY_GROUP)
        return CoordinatorResult(group_tombstones(group_id, list(group.members)), ErrorCode.NONE)
