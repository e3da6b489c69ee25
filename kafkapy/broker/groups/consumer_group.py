"""A KIP-848 consumer group, its members and their reconciliation.

Kafka's ``ConsumerGroup``, ``ConsumerGroupMember`` and ``CurrentAssignmentBuilder``
(KIP-848, "The Next Generation of the Consumer Rebalance Protocol"). Three epochs
drive everything:

* the **group epoch** is bumped whenever what the assignment depends on changes: a
  member joins, leaves or changes its subscription, or a subscribed topic changes;
* the **assignment epoch** is the group epoch the target assignment was computed
  for (the target is recomputed by the server-side assignor when the group epoch
  moves ahead of it);
* each **member epoch** moves to the assignment epoch once the member has converged
  towards its target: it first revokes what the target takes away (state
  UNREVOKED_PARTITIONS, epoch unchanged), then gets what the target adds, but only
  partitions no other member still owns (state UNRELEASED_PARTITIONS until they are
  released). A partition thus never has two owners.

The group answers questions and applies changes; the coordinator
(:mod:`kafkapy.broker.groups.consumer_coordinator`) writes the records and runs the
timers.

Task-safety: used on the trio thread only.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping

from kafkapy.broker.groups.group_offsets import GroupOffsets

#: topic id -> partition indexes
Assignment = Mapping[bytes, frozenset[int]]

#: The member epoch a leaving member sends (``ConsumerGroupHeartbeatRequest.LEAVE_GROUP_MEMBER_EPOCH``).
LEAVE_GROUP_MEMBER_EPOCH = -1
#: The member epoch a static member sends when it stops for now and will come back.
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2
#: The protocol type a consumer group reports (ListGroups, DescribeGroups).
CONSUMER_PROTOCOL_TYPE = "consumer"


class MemberState(enum.IntEnum):
    """A member's reconciliation state; values as stored in ``ConsumerGroupCurrentMemberAssignmentValue``."""

    STABLE = 0
    UNREVOKED_PARTITIONS = 1
    UNRELEASED_PARTITIONS = 2


class ConsumerGroupState(enum.Enum):
    """A consumer group's state, derived from its epochs (``ConsumerGroup.ConsumerGroupState``)."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


def parse_consumer_state(name: str) -> ConsumerGroupState | None:
    lowered = name.lower()
    return next((s for s in ConsumerGroupState if s.value.lower() == lowered), None)


@dataclasses.dataclass(slots=True)
class ConsumerMember:
    """One member: its subscription (``ConsumerGroupMemberMetadataValue``) and its
    epochs and partitions (``ConsumerGroupCurrentMemberAssignmentValue``)."""

    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    rebalance_timeout_ms: int = -1
    server_assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: MemberState = MemberState.STABLE
    assigned: Assignment = dataclasses.field(default_factory=dict)
    pending_revocation: Assignment = dataclasses.field(default_factory=dict)

    def owned(self) -> Iterable[tuple[bytes, int]]:
        """Every partition the member holds, pending revocation included."""
        for assignment in (self.assigned, self.pending_revocation):
            for topic_id, partitions in assignment.items():
                for p in partitions:
                    yield topic_id, p

    def assignment_fields(self) -> tuple[object, ...]:
        return (self.member_epoch, self.previous_member_epoch, self.state, self.assigned, self.pending_revocation)

    def subscription_fields(self) -> tuple[object, ...]:
        return (self.instance_id, self.rack_id, self.client_id, self.client_host, self.subscribed_topic_names,
                self.subscribed_topic_regex, self.rebalance_timeout_ms, self.server_assignor)


def normalized(assignment: Mapping[bytes, Iterable[int]]) -> dict[bytes, frozenset[int]]:
    """An assignment with frozensets and no empty topics (requests and records carry lists)."""
    return {t: frozenset(ps) for t, ps in assignment.items() if ps}


def is_subset(owned: Assignment | None, of: Assignment) -> bool:
    """True when ``owned`` is known and within ``of`` (the previous-epoch tolerance)."""
    return owned is not None and all(ps <= of.get(t, frozenset()) for t, ps in owned.items())


def _overlaps(owned: Assignment | None, revoking: Assignment) -> bool:
    """``ownsRevokedPartitions``: unknown ownership (null in the request) counts as owning."""
    if owned is None:
        return True
    return any(ps & owned.get(t, frozenset()) for t, ps in revoking.items())


def reconcile(member: ConsumerMember, target_epoch: int, target: Assignment,
              owner_epoch: Callable[[bytes, int], int], owned: Assignment | None) -> ConsumerMember:
    """The member's next state towards ``target`` (Kafka's ``CurrentAssignmentBuilder``).

    Args:
        owner_epoch: the epoch of the member owning a partition, or -1 if it is free.
        owned: the partitions the member says it owns, None when the request did not say.

    Returns:
        ``member`` itself when nothing changes, else an updated copy.
    """
    if member.state is MemberState.STABLE and member.member_epoch == target_epoch:
        return member
    if member.state is MemberState.UNREVOKED_PARTITIONS and _overlaps(owned, member.pending_revocation):
        return member  # still holds partitions it must give up
    return _next_assignment(member, target_epoch, target, owner_epoch, owned)


def _next_assignment(member: ConsumerMember, target_epoch: int, target: Assignment,
                     owner_epoch: Callable[[bytes, int], int], owned: Assignment | None) -> ConsumerMember:
    kept: dict[bytes, frozenset[int]] = {}
    revoking: dict[bytes, frozenset[int]] = {}
    adding: dict[bytes, frozenset[int]] = {}
    unreleased = False
    for topic_id in set(target) | set(member.assigned):
        want = target.get(topic_id, frozenset())
        have = member.assigned.get(topic_id, frozenset())
        both = have & want
        free = frozenset(p for p in want - both if owner_epoch(topic_id, p) == -1)
        unreleased = unreleased or len(free) < len(want - both)
        if both:
            kept[topic_id] = both
        if have - both:
            revoking[topic_id] = have - both
        if free:
            adding[topic_id] = free
    if revoking and _overlaps(owned, revoking):
        # Revoke first, keeping the epoch; the member moves on once it acknowledged.
        return dataclasses.replace(member, state=MemberState.UNREVOKED_PARTITIONS, assigned=kept,
                                   pending_revocation=revoking)
    for topic_id, ps in adding.items():
        kept[topic_id] = kept.get(topic_id, frozenset()) | ps
    return dataclasses.replace(
        member, state=MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE,
        previous_member_epoch=member.member_epoch, member_epoch=target_epoch, assigned=kept, pending_revocation={})


class ConsumerGroup(GroupOffsets):
    """A consumer group's soft state (see the module doc).

    Invariants: ``partition_epochs`` maps every partition some member owns (assigned
    or pending revocation) to that member's epoch; ``static_members`` maps the
    instance id of every static member to its member id.
    """

    protocol_type = CONSUMER_PROTOCOL_TYPE

    def __init__(self, group_id: str) -> None:
        super().__init__()
        self.group_id = group_id
        # Kafka 4.4's ModernGroup starts at group epoch 1 and target assignment epoch 1
        # (TargetAssignmentMetadata.INITIAL): a first member's join bumps the group to 2.
        self.group_epoch = 1
        self.assignment_epoch = 1
        #: Of the subscribed topics' metadata when the group epoch was last bumped.
        self.metadata_hash = 0
        self.members: dict[str, ConsumerMember] = {}
        self.static_members: dict[str, str] = {}
        self.target: dict[str, Assignment] = {}
        self.partition_epochs: dict[tuple[bytes, int], int] = {}
        self.dead = False
        #: regex -> (metadata image offset, topic names it matched there)
        self.resolved_regexes: dict[str, tuple[int, frozenset[str]]] = {}

    def __repr__(self) -> str:
        return f"<ConsumerGroup {self.group_id!r} {self.state.value} epoch={self.group_epoch} members={len(self.members)}>"

    @property
    def state(self) -> ConsumerGroupState:
        if self.dead:
            return ConsumerGroupState.DEAD
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        if any(m.state is not MemberState.STABLE or m.member_epoch != self.assignment_epoch
               for m in self.members.values()):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def snapshot(self) -> tuple[object, ...]:
        """What :meth:`restore` needs to undo changes (members are never mutated in place)."""
        return (self.group_epoch, self.assignment_epoch, self.metadata_hash, dict(self.members),
                dict(self.static_members), dict(self.target), dict(self.partition_epochs))

    def restore(self, saved: tuple[object, ...]) -> None:
        (self.group_epoch, self.assignment_epoch, self.metadata_hash, self.members, self.static_members,  # type: ignore[assignment]
         self.target, self.partition_epochs) = saved

    def is_empty(self) -> bool:
        return not self.members

    def is_empty_and_offsetless(self) -> bool:
        return not self.members and not self.has_offsets()

    def owner_epoch(self, topic_id: bytes, partition: int) -> int:
        return self.partition_epochs.get((topic_id, partition), -1)

    # --- membership -------------------------------------------------------------------

    def put_member(self, member: ConsumerMember) -> None:
        """Add or replace a member, keeping partition ownership in step."""
        old = self.members.get(member.member_id)
        if old is not None:
            self._release(old)
        self.members[member.member_id] = member
        if member.instance_id is not None:
            self.static_members[member.instance_id] = member.member_id
        for tp in member.owned():
            self.partition_epochs[tp] = member.member_epoch

    def remove_member(self, member_id: str) -> ConsumerMember | None:
        member = self.members.pop(member_id, None)
        self.target.pop(member_id, None)
        if member is None:
            return None
        self._release(member)
        if member.instance_id is not None and self.static_members.get(member.instance_id) == member_id:
            del self.static_members[member.instance_id]
        return member

    def _release(self, member: ConsumerMember) -> None:
        for tp in member.owned():
            if self.partition_epochs.get(tp) == member.member_epoch:
                del self.partition_epochs[tp]

    # --- subscriptions ----------------------------------------------------------------

    def subscribed_topics(self) -> set[str]:
        """Topic names some member subscribes to, by name or through a resolved regex."""
        topics: set[str] = set()
        for m in self.members.values():
            topics.update(m.subscribed_topic_names)
            if m.subscribed_topic_regex is not None and m.subscribed_topic_regex in self.resolved_regexes:
                topics.update(self.resolved_regexes[m.subscribed_topic_regex][1])
        return topics

    def preferred_assignor(self, default: str) -> str:
        """The server assignor most members ask for, else ``default`` (``ConsumerGroup.computePreferredServerAssignor``)."""
        counts: dict[str, int] = {}
        for m in self.members.values():
            if m.server_assignor is not None:
                counts[m.server_assignor] = counts.get(m.server_assignor, 0) + 1
        return max(sorted(counts), key=lambda name: counts[name]) if counts else default

