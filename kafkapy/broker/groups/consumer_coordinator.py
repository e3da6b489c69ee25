"""The KIP-848 consumer group protocol: ConsumerGroupHeartbeat, ConsumerGroupDescribe,
and the member checks of offset commits and fetches for consumer groups.

Kafka's ``GroupMetadataManager.consumerGroupHeartbeat``, on the state of
:mod:`~kafkapy.broker.groups.consumer_group`. One heartbeat, in order:

1. validate the request (INVALID_REQUEST, UNSUPPORTED_ASSIGNOR,
   INVALID_REGULAR_EXPRESSION) and find or create the group: member epoch 0 creates
   it, or converts an empty classic group of the same id (its offsets are kept);
2. find or create the member: epoch 0 joins (a static member whose instance id is
   held by a member that left with epoch -2 takes its place and assignment;
   UNRELEASED_INSTANCE_ID while that member has not left); otherwise the epoch must
   be the member's, or its previous one with owned partitions within its assignment
   (a lost response), else FENCED_MEMBER_EPOCH; an unknown member id is
   UNKNOWN_MEMBER_ID;
3. update the subscription; a new member, a changed subscription, or changed
   metadata of the subscribed topics (a topic created, deleted or grown; a regex
   matching other topics) bumps the group epoch;
4. when the group epoch is ahead of the assignment epoch, the group's assignor
   (``uniform`` or ``range``, :mod:`~kafkapy.broker.groups.assignors`) computes a new
   target assignment;
5. reconcile the member towards its target; the answer carries the member epoch, the
   heartbeat interval and, when it changed (or the request was a full one), the
   member's assignment.

Every change is a record appended to the group's ``__consumer_offsets`` partition
(:mod:`~kafkapy.broker.groups.consumer_records`); the heartbeat is answered once the
records are replicated. Leaving (epoch -1) removes the member and bumps the group
epoch; a static member's temporary leave (-2) keeps its partitions until its session
expires. Session timeouts (``group.consumer.session.timeout.ms``) and rebalance
timeouts (a member that does not revoke in time) fence the member out.

Timers are keys on the shard timer of the group's partition (the coordinator's
:class:`~kafkapy.broker.groups.shard.GroupTimers`): ``("consumer-session", group, member)``
and ``("consumer-rebalance", group, member)``.

Subscribed topic regexes: Kafka evaluates them with RE2/J; this broker uses Python's
``re`` with ``fullmatch``, which agrees on the common syntax (RE2 lacks
backreferences and lookarounds, which ``re`` accepts). They are resolved against the
metadata image, internal topics included (a regex that matches ``__consumer_offsets``
is assigned it, as Kafka 4.1's ``GroupMetadataManager`` resolves regexes against every
topic of the image), and re-resolved when the image changes.

Not implemented: classic-protocol members inside consumer groups and online
migration of a non-empty group between protocols (KIP-848's upgrade path: such
requests are refused), rack-aware assignment, client-side assignors (KIP-848
``ClientAssignors``, never shipped by Kafka either), group-level config overrides.

Task-safety: trio thread only; each heartbeat runs without awaiting until its
records are appended.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import uuid
from typing import TYPE_CHECKING

from kafkapy.broker.groups.assignors import ASSIGNORS
from kafkapy.broker.groups.consumer_group import (
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    Assignment,
    ConsumerGroup,
    ConsumerMember,
    MemberState,
    is_subset,
    normalized,
    reconcile,
)
from kafkapy.broker.groups.consumer_records import (
    KeyValue,
    current_assignment_record,
    group_epoch_record,
    member_metadata_record,
    member_tombstones,
    target_epoch_record,
    target_member_record,
)
from kafkapy.broker.groups.records import group_tombstone
from kafkapy.broker.groups.settings import group_value
from kafkapy.broker.groups.state import GroupState
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.consumer_group_describe import ConsumerGroupDescribeResponse
from kafkapy.wire.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)

if TYPE_CHECKING:
    from kafkapy.broker.group_coordinator import GroupCoordinator
    from kafkapy.kraft.metadata.image import MetadataImage

log = logging.getLogger(__name__)

#: ConsumerGroupDescribe v1's member type of a member speaking this protocol (KIP-1099).
MEMBER_TYPE_CONSUMER = 1

HeartbeatResponse = ConsumerGroupHeartbeatResponse


class HeartbeatError(Exception):
    """A heartbeat refused with ``code`` (Kafka's ApiException of that error)."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        super().__init__(message or code.name)
        self.code = code
        self.message = message


def new_member_id() -> str:
    """A member id as Kafka's ``Uuid.randomUuid().toString()`` forms it (22 base64url chars)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def validate_regex(regex: str) -> re.Pattern[str]:
    """Compile a subscription regex; INVALID_REGULAR_EXPRESSION if it does not."""
    try:
        return re.compile(regex)
    except re.error as exc:
        raise HeartbeatError(ErrorCode.INVALID_REGULAR_EXPRESSION,
                             f"SubscribedTopicRegex `{regex}` is not a valid regular expression: {exc}.") from None


def _metadata_hash(image: MetadataImage, topics: set[str]) -> int:
    """A 64-bit hash of the subscribed topics as the image has them (names, ids,
    partition counts), Kafka's ``MetadataHash`` role (KIP-1101; Kafka hashes with
    Murmur3, so the value is ours, and only ever compared with itself)."""
    h = hashlib.blake2b(digest_size=8)
    for name in sorted(topics):
        t = image.topic(name)
        if t is not None:
            h.update(f"{name}\0{t.id.hex()}\0{len(t.partitions)}\0".encode())
    return int.from_bytes(h.digest(), "big", signed=True) if topics else 0


class ConsumerGroupCoordinator:
    """KIP-848 groups of a :class:`~kafkapy.broker.group_coordinator.GroupCoordinator`,
    through which it reaches the groups (in their shards), the runtime's writes and the timers."""

    def __init__(self, coordinator: GroupCoordinator) -> None:
        self.c = coordinator
        config = coordinator.config
        self.max_size: int = config.group_consumer_max_size
        self.assignors = list(config.group_consumer_assignors)
        unknown = [a for a in self.assignors if a not in ASSIGNORS]
        if unknown or not self.assignors:
            raise ValueError(f"group.consumer.assignors: unknown assignors {unknown}; known: {sorted(ASSIGNORS)}")

    def _setting(self, group_id: str, name: str) -> int:
        """consumer.session.timeout.ms or consumer.heartbeat.interval.ms of a group."""
        return group_value(self.c.core.image, self.c.config, group_id, name)

    # --- ConsumerGroupHeartbeat -------------------------------------------------------------

    async def heartbeat(self, r: ConsumerGroupHeartbeatRequest, *, version: int, client_id: str,
                        client_host: str) -> HeartbeatResponse:
        """One ConsumerGroupHeartbeat (see the module doc); errors are in the answer.

        The group changes in memory first; if its records cannot be appended, the
        change is undone (Kafka's coordinator reverts to its last snapshot alike).
        """
        before = self.c.groups.get(r.group_id)
        saved = before.snapshot() if isinstance(before, ConsumerGroup) else None
        try:
            self._validate(r, version)
            error = self.c.coordinator_error(r.group_id)
            if error is not None:
                raise HeartbeatError(error)
            if self.c.held_by_another_type(r.group_id):
                raise HeartbeatError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {r.group_id} is not a consumer group.")
            if r.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
                group, records, response = self._leave(r)
            else:
                group, records, response = self._heartbeat(r, version, client_id, client_host)
        except HeartbeatError as exc:
            return HeartbeatResponse(error_code=exc.code, error_message=exc.message)
        if not records:
            return response
        p = self.c.partition_for(group.group_id)
        error, next_offset = self.c._append(p, records)
        if error != ErrorCode.NONE:
            if saved is not None and isinstance(before, ConsumerGroup):
                before.restore(saved)
            elif before is None and self.c.groups.get(r.group_id) is group:
                del self.c.groups[r.group_id]
            return HeartbeatResponse(error_code=error)
        error = await self.c._await_replicated(p, next_offset)
        return response if error == ErrorCode.NONE else HeartbeatResponse(error_code=error)

    def _validate(self, r: ConsumerGroupHeartbeatRequest, version: int) -> None:
        """``throwIfConsumerGroupHeartbeatRequestIsInvalid``."""
        def invalid(message: str) -> HeartbeatError:
            return HeartbeatError(ErrorCode.INVALID_REQUEST, message)

        if not r.group_id:
            raise invalid("GroupId can't be empty.")
        if r.instance_id == "":
            raise invalid("InstanceId can't be empty.")
        if r.rack_id == "":
            raise invalid("RackId can't be empty.")
        if not r.member_id and (version >= 1 or r.member_epoch != 0):
            raise invalid("MemberId can't be empty.")
        if r.member_epoch == 0:
            if r.rebalance_timeout_ms == -1:
                raise invalid("RebalanceTimeoutMs must be provided in first request.")
            if r.topic_partitions is None or r.topic_partitions:
                raise invalid("TopicPartitions must be empty when (re-)joining.")
            if r.subscribed_topic_names is None and r.subscribed_topic_regex is None:
                raise invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
        elif r.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            if r.instance_id is None:
                raise invalid("InstanceId can't be null.")
        elif r.member_epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise invalid("MemberEpoch is invalid.")
        if r.subscribed_topic_regex is not None:
            validate_regex(r.subscribed_topic_regex)
        if r.server_assignor is not None and r.server_assignor not in self.assignors:
            raise HeartbeatError(ErrorCode.UNSUPPORTED_ASSIGNOR,
                                 f"ServerAssignor {r.server_assignor} is not supported. "
                                 f"Supported assignors: {', '.join(self.assignors)}.")

    def _group_for_join(self, group_id: str, member_epoch: int) -> tuple[ConsumerGroup, list[KeyValue]]:
        """The consumer group of ``group_id``, created (or converted from an empty
        classic group) on a join."""
        existing = self.c.groups.get(group_id)
        if isinstance(existing, ConsumerGroup):
            return existing, []
        if existing is None:
            # Kafka answers GroupIdNotFound here; UNKNOWN_MEMBER_ID makes every client
            # rejoin with epoch 0, which is what a member of a deleted group must do.
            if member_epoch != 0:
                raise HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID, f"Group {group_id} not found.")
            group = ConsumerGroup(group_id)
            self.c.groups[group_id] = group
            return group, []
        if member_epoch != 0 or existing.state is not GroupState.EMPTY or existing.members:
            raise HeartbeatError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.")
        log.info("Converting the empty classic group %s to a consumer group", group_id)
        group = ConsumerGroup(group_id)
        group.take_offsets(existing)
        self.c.replace_group(existing, group)
        return group, [group_tombstone(group_id)]

    def _heartbeat(self, r: ConsumerGroupHeartbeatRequest, version: int, client_id: str,
                   client_host: str) -> tuple[ConsumerGroup, list[KeyValue], HeartbeatResponse]:
        group, records = self._group_for_join(r.group_id, r.member_epoch)
        owned = None if r.topic_partitions is None else normalized({t.topic_id: t.partitions for t in r.topic_partitions})
        member, replaced = self._member(group, r, records)
        if member.member_id not in group.members and len(group.members) >= self.max_size:
            raise HeartbeatError(ErrorCode.GROUP_MAX_SIZE_REACHED,
                                 f"The consumer group has reached its maximum capacity of {self.max_size} members.")
        is_new = member.member_id not in group.members or replaced
        before = group.members.get(member.member_id, member)
        updated = dataclasses.replace(
            member, client_id=client_id, client_host=client_host,
            rack_id=member.rack_id if r.rack_id is None else r.rack_id,
            rebalance_timeout_ms=member.rebalance_timeout_ms if r.rebalance_timeout_ms == -1 else r.rebalance_timeout_ms,
            subscribed_topic_names=member.subscribed_topic_names if r.subscribed_topic_names is None
            else tuple(r.subscribed_topic_names),
            subscribed_topic_regex=member.subscribed_topic_regex if version < 1 or r.subscribed_topic_regex is None
            else r.subscribed_topic_regex,
            server_assignor=member.server_assignor if r.server_assignor is None else r.server_assignor)
        # A static member replacing its earlier incarnation changes nothing by itself.
        bump = (is_new and not replaced) or (updated.subscribed_topic_names, updated.subscribed_topic_regex) \
            != (member.subscribed_topic_names, member.subscribed_topic_regex)
        if is_new or updated.subscription_fields() != member.subscription_fields():
            records.append(member_metadata_record(group.group_id, updated))
        group.put_member(updated)
        records.extend(self._maybe_bump_epoch(group, force=bump))
        target = group.target.get(updated.member_id, {})
        reconciled = reconcile(updated, group.assignment_epoch, target, group.owner_epoch, owned)
        if is_new or reconciled.assignment_fields() != updated.assignment_fields():
            group.put_member(reconciled)
            records.append(current_assignment_record(group.group_id, reconciled))
        self._schedule_timeouts(group, reconciled)
        full = r.member_epoch == 0 or (r.rebalance_timeout_ms != -1 and r.topic_partitions is not None and (
            r.subscribed_topic_names is not None or r.subscribed_topic_regex is not None))
        R = ConsumerGroupHeartbeatResponse
        assignment = None
        if full or reconciled.assigned != before.assigned:
            assignment = R.Assignment(topic_partitions=[
                R.TopicPartitions(topic_id=t, partitions=sorted(ps)) for t, ps in sorted(reconciled.assigned.items())])
        return group, records, R(error_code=ErrorCode.NONE, member_id=reconciled.member_id,
                                 member_epoch=reconciled.member_epoch, heartbeat_interval_ms=self._setting(
                                     group.group_id, "consumer.heartbeat.interval.ms"),
                                 assignment=assignment)

    def _member(self, group: ConsumerGroup, r: ConsumerGroupHeartbeatRequest,
                records: list[KeyValue]) -> tuple[ConsumerMember, bool]:
        """The member the request speaks for (a new one on a join); True when a static
        member replaced its earlier incarnation."""
        if r.member_epoch == 0:
            member_id = r.member_id or new_member_id()
            if r.instance_id is not None:
                held_by = group.static_members.get(r.instance_id)
                if held_by is not None and held_by != member_id:
                    old = group.members[held_by]
                    if old.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                        raise HeartbeatError(ErrorCode.UNRELEASED_INSTANCE_ID,
                                             f"Static member {held_by} with instance id {r.instance_id} "
                                             "is not released yet.")
                    # The new incarnation takes the old one's place, epoch and partitions.
                    records.extend(member_tombstones(group.group_id, held_by))
                    target = group.target.get(held_by, {})
                    group.remove_member(held_by)
                    self._cancel_timers(group.group_id, held_by)
                    group.target[member_id] = target
                    records.append(target_member_record(group.group_id, member_id, target))
                    return dataclasses.replace(old, member_id=member_id, member_epoch=old.previous_member_epoch), True
            existing = group.members.get(member_id)
            return (existing or ConsumerMember(member_id, instance_id=r.instance_id)), False
        member = group.members.get(r.member_id)
        if member is None:
            raise HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID,
                                 f"Member {r.member_id} is not a member of group {group.group_id}.")
        if r.instance_id is not None and member.instance_id != r.instance_id:
            raise HeartbeatError(ErrorCode.FENCED_INSTANCE_ID,
                                 f"Static member {r.member_id} with instance id {r.instance_id} is fenced.")
        owned = None if r.topic_partitions is None else normalized({t.topic_id: t.partitions for t in r.topic_partitions})
        if r.member_epoch > member.member_epoch or (r.member_epoch < member.member_epoch and not (
                r.member_epoch == member.previous_member_epoch and is_subset(owned, member.assigned))):
            raise HeartbeatError(ErrorCode.FENCED_MEMBER_EPOCH,
                                 f"The consumer group member has a different epoch ({r.member_epoch}) "
                                 f"than the expected one ({member.member_epoch}).")
        return member, False

    def _leave(self, r: ConsumerGroupHeartbeatRequest) -> tuple[ConsumerGroup, list[KeyValue], HeartbeatResponse]:
        group = self.c.groups.get(r.group_id)
        member = group.members.get(r.member_id) if isinstance(group, ConsumerGroup) else None
        if member is None or group is None or not isinstance(group, ConsumerGroup):
            raise HeartbeatError(ErrorCode.UNKNOWN_MEMBER_ID,
                                 f"Member {r.member_id} is not a member of group {r.group_id}.")
        if r.instance_id is not None and member.instance_id != r.instance_id:
            raise HeartbeatError(ErrorCode.FENCED_INSTANCE_ID,
                                 f"Static member {r.member_id} with instance id {r.instance_id} is fenced.")
        response = HeartbeatResponse(error_code=ErrorCode.NONE, member_id=r.member_id, member_epoch=r.member_epoch)
        if r.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            # Kept, partitions and all, until it rejoins or its session expires.
            log.info("Static member %s of group %s left temporarily", r.member_id, r.group_id)
            left = dataclasses.replace(member, member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH,
                                       previous_member_epoch=member.member_epoch)
            group.put_member(left)
            self.c.timer.cancel(("consumer-rebalance", group.group_id, member.member_id))
            return group, [current_assignment_record(group.group_id, left)], response
        log.info("Member %s left consumer group %s", r.member_id, r.group_id)
        return group, self._remove(group, member.member_id), response

    # --- epochs and assignment --------------------------------------------------------------

    def _remove(self, group: ConsumerGroup, member_id: str) -> list[KeyValue]:
        """Remove a member and bump the group epoch; the records to write."""
        group.remove_member(member_id)
        self._cancel_timers(group.group_id, member_id)
        return member_tombstones(group.group_id, member_id) + self._maybe_bump_epoch(group, force=True)

    def _maybe_bump_epoch(self, group: ConsumerGroup, *, force: bool) -> list[KeyValue]:
        """Bump the group epoch if asked or if the subscribed topics changed; then
        compute a new target assignment if the group epoch is ahead of it. A new group
        is at epoch 1, so its first member gets epoch 2, as Kafka 4.4.
        """
        image = self.c.core.image
        self._resolve_regexes(group, image)
        metadata_hash = _metadata_hash(image, group.subscribed_topics())
        records: list[KeyValue] = []
        if force or metadata_hash != group.metadata_hash:
            group.group_epoch += 1
            group.metadata_hash = metadata_hash
            records.append(group_epoch_record(group))
        if group.group_epoch > group.assignment_epoch:
            records.extend(self._update_target(group, image))
        return records

    def _resolve_regexes(self, group: ConsumerGroup, image: MetadataImage) -> None:
        regexes = {m.subscribed_topic_regex for m in group.members.values() if m.subscribed_topic_regex is not None}
        for regex in list(group.resolved_regexes):
            if regex not in regexes:
                del group.resolved_regexes[regex]
        for regex in regexes:
            cached = group.resolved_regexes.get(regex)
            if cached is not None and cached[0] == image.offset:
                continue
            try:
                pattern = re.compile(regex)
            except re.error:
                matched: frozenset[str] = frozenset()
            else:
                matched = frozenset(n for n in image.topics_by_name if pattern.fullmatch(n))
            group.resolved_regexes[regex] = (image.offset, matched)

    def _update_target(self, group: ConsumerGroup, image: MetadataImage) -> list[KeyValue]:
        subscriptions: dict[str, frozenset[bytes]] = {}
        partitions: dict[bytes, int] = {}
        for m in group.members.values():
            names = set(m.subscribed_topic_names)
            if m.subscribed_topic_regex is not None:
                names |= group.resolved_regexes.get(m.subscribed_topic_regex, (0, frozenset()))[1]
            ids = set()
            for name in names:
                topic = image.topic(name)
                if topic is not None:
                    ids.add(topic.id)
                    partitions[topic.id] = len(topic.partitions)
            subscriptions[m.member_id] = frozenset(ids)
        assignor = ASSIGNORS[group.preferred_assignor(self.assignors[0])]
        target = assignor(subscriptions, partitions, group.target)
        records = [target_member_record(group.group_id, member_id, a) for member_id, a in sorted(target.items())
                   if group.target.get(member_id, {}) != a or member_id not in group.target]
        group.target = target
        group.assignment_epoch = group.group_epoch
        records.append(target_epoch_record(group))
        log.info("Computed target assignment of consumer group %s at epoch %d", group.group_id, group.group_epoch)
        return records

    # --- timers -----------------------------------------------------------------------------

    def _schedule_timeouts(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        group_id, member_id = group.group_id, member.member_id
        self.c.timer.schedule(("consumer-session", group_id, member_id),
                              self._setting(group_id, "consumer.session.timeout.ms"),
                              lambda: self._fence(group_id, member_id, None, "its session expired"))
        key = ("consumer-rebalance", group_id, member_id)
        if member.state is MemberState.UNREVOKED_PARTITIONS:
            if key not in self.c.timer:
                epoch = member.member_epoch
                self.c.timer.schedule(key, max(member.rebalance_timeout_ms, 0),
                                      lambda: self._fence(group_id, member_id, epoch, "it did not revoke in time"))
        else:
            self.c.timer.cancel(key)

    def schedule_sessions(self, group: ConsumerGroup) -> None:
        """Start every member's session (a group just loaded from the log)."""
        for member in group.members.values():
            self._schedule_timeouts(group, member)

    def _cancel_timers(self, group_id: str, member_id: str) -> None:
        self.c.timer.cancel(("consumer-session", group_id, member_id))
        self.c.timer.cancel(("consumer-rebalance", group_id, member_id))

    def cancel_group_timers(self, group: ConsumerGroup) -> None:
        for member_id in group.members:
            self._cancel_timers(group.group_id, member_id)

    def _fence(self, group_id: str, member_id: str, unrevoked_epoch: int | None, why: str) -> None:
        group = self.c.groups.get(group_id)
        if not isinstance(group, ConsumerGroup):
            return
        member = group.members.get(member_id)
        if member is None:
            return
        if unrevoked_epoch is not None and (member.state is not MemberState.UNREVOKED_PARTITIONS
                                            or member.member_epoch != unrevoked_epoch):
            return
        log.info("Fencing member %s of consumer group %s: %s", member_id, group_id, why)
        self.c._append_in_background(group_id, self._remove(group, member_id))

    # --- offsets ----------------------------------------------------------------------------

    @staticmethod
    def validate_offset_commit(group: ConsumerGroup, member_id: str, member_epoch: int, *, transactional: bool,
                               version: int) -> ErrorCode | None:
        """``ConsumerGroup.validateOffsetCommit``: a member commits with its own epoch."""
        if member_epoch < 0 and not group.members:
            return None  # admin clients and assign() consumers, while the group is empty
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if not transactional and version < 9:
            return ErrorCode.UNSUPPORTED_VERSION
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return None

    @staticmethod
    def validate_offset_fetch(group: ConsumerGroup, member_id: str | None, member_epoch: int) -> ErrorCode | None:
        """``ConsumerGroup.validateOffsetFetch``: without a member id, anyone may fetch."""
        if member_id is None and member_epoch < 0:
            return None
        member = group.members.get(member_id or "")
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return None

    # --- ConsumerGroupDescribe --------------------------------------------------------------

    def describe(self, group_id: str) -> ConsumerGroupDescribeResponse.DescribedGroup:
        D = ConsumerGroupDescribeResponse
        error = self.c.coordinator_error(group_id)
        if error is not None:
            return D.DescribedGroup(error_code=error, group_id=group_id)
        group = self.c.groups.get(group_id)
        if not isinstance(group, ConsumerGroup) or group.dead:
            message = f"Group {group_id} not found." if group is None and not self.c.held_by_another_type(group_id) \
                else f"Group {group_id} is not a consumer group."
            return D.DescribedGroup(error_code=ErrorCode.GROUP_ID_NOT_FOUND, error_message=message, group_id=group_id)
        image = self.c.core.image

        def assignment(a: Assignment) -> ConsumerGroupDescribeResponse.Assignment:
            parts = []
            for topic_id, ps in sorted(a.items()):
                topic = image.topics_by_id.get(topic_id)
                if topic is not None:
                    parts.append(D.TopicPartitions(topic_id=topic_id, topic_name=topic.name, partitions=sorted(ps)))
            return D.Assignment(topic_partitions=parts)

        members = [
            D.Member(member_id=m.member_id, instance_id=m.instance_id, rack_id=m.rack_id, member_epoch=m.member_epoch,
                     client_id=m.client_id, client_host=m.client_host,
                     subscribed_topic_names=list(m.subscribed_topic_names),
                     subscribed_topic_regex=m.subscribed_topic_regex, assignment=assignment(m.assigned),
                     target_assignment=assignment(group.target.get(m.member_id, {})),
                     member_type=MEMBER_TYPE_CONSUMER)
            for m in group.members.values()
        ]
        return D.DescribedGroup(error_code=ErrorCode.NONE, group_id=group_id, group_state=group.state.value,
                                group_epoch=group.group_epoch, assignment_epoch=group.assignment_epoch,
                                assignor_name=group.preferred_assignor(self.assignors[0]), members=members)
