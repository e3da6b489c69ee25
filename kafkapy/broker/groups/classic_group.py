"""A classic group, its members and its offsets (Kafka's ``ClassicGroup``/``ClassicGroupMember``).

The group holds membership and generation state, the committed offsets and the
transactional offsets not yet committed. It answers questions (has every member
rejoined? which protocol wins the vote? is this member id valid?) and applies
changes, but never schedules timers or writes records: the coordinator does that.

A member blocked in JoinGroup or SyncGroup holds a :class:`Waiter`; the coordinator
completes it with the response when the phase ends. Whether anyone still listens is not
the group's concern (a client that hung up just never reads the answer).

Task-safety: used on the trio thread only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import trio

from kafkapy.broker.groups.group_offsets import (  # noqa: F401  (re-exported)
    GroupOffsets,
    OffsetAndMetadata,
    TopicPartitionKey,
)
from kafkapy.broker.groups.state import GroupEvent, GroupState, next_state
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError

T = TypeVar("T")

#: The protocol type of Kafka consumers (``ConsumerProtocol.PROTOCOL_TYPE``).
CONSUMER_PROTOCOL_TYPE = "consumer"
#: The member id a first JoinGroup carries (``JoinGroupRequest.UNKNOWN_MEMBER_ID``).
UNKNOWN_MEMBER_ID = ""

class Waiter(Generic[T]):
    """One response a blocked request waits for; completed at most once."""

    __slots__ = ("_event", "result")

    def __init__(self) -> None:
        self._event = trio.Event()
        self.result: T | None = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def complete(self, result: T) -> bool:
        """Hand ``result`` to the waiting request; False if it was already completed."""
        if self._event.is_set():
            return False
        self.result = result
        self._event.set()
        return True

    async def wait(self) -> T:
        await self._event.wait()
        assert self.result is not None
        return self.result


class Member:
    """One member of a classic group.

    ``protocols`` are the (name, metadata) pairs of the member's last JoinGroup in its
    order of preference; ``assignment`` is what the leader gave it for the current
    generation (empty until then).
    """

    __slots__ = ("member_id", "group_instance_id", "client_id", "client_host", "rebalance_timeout_ms",
                 "session_timeout_ms", "protocol_type", "protocols", "assignment", "join_waiter",
                 "sync_waiter", "is_new")

    def __init__(self, member_id: str, group_instance_id: str | None, client_id: str, client_host: str,
                 rebalance_timeout_ms: int, session_timeout_ms: int, protocol_type: str,
                 protocols: list[tuple[str, bytes]]) -> None:
        self.member_id = member_id
        self.group_instance_id = group_instance_id
        self.client_id = client_id
        self.client_host = client_host
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.session_timeout_ms = session_timeout_ms
        self.protocol_type = protocol_type
        self.protocols = protocols
        self.assignment = b""
        self.join_waiter: Waiter[Any] | None = None
        self.sync_waiter: Waiter[Any] | None = None
        #: Joined in the current rebalance and not yet answered (``ClassicGroupMember.isNew``).
        self.is_new = False

    @property
    def is_static(self) -> bool:
        return self.group_instance_id is not None

    @property
    def is_awaiting_join(self) -> bool:
        return self.join_waiter is not None and not self.join_waiter.done

    @property
    def is_awaiting_sync(self) -> bool:
        return self.sync_waiter is not None and not self.sync_waiter.done

    def has_satisfied_heartbeat(self) -> bool:
        """A member blocked in JoinGroup/SyncGroup cannot heartbeat, so its session
        expiry is ignored; a new member that never got its join answer is not."""
        if self.is_new:
            return False
        return self.is_awaiting_join or self.is_awaiting_sync

    def metadata_for(self, protocol: str) -> bytes:
        return next((meta for name, meta in self.protocols if name == protocol), b"")

    def matches(self, protocols: list[tuple[str, bytes]]) -> bool:
        """True if the member rejoins with the same protocols, in the same order."""
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among ``candidates``."""
        return next(name for name, _ in self.protocols if name in candidates)


class ClassicGroup(GroupOffsets):
    """A classic group's soft state (see the module doc).

    Invariants: ``leader_id`` is a member id or None; every static member's instance
    id maps to its member id in ``static_members``; a member id is in at most one of
    ``members`` and ``pending_members``.
    """

    def __init__(self, group_id: str, now_ms: int, state: GroupState = GroupState.EMPTY) -> None:
        super().__init__()
        self.group_id = group_id
        self.state = state
        self.previous_state = state
        self.current_state_timestamp: int | None = now_ms
        self.generation_id = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, Member] = {}
        self.static_members: dict[str, str] = {}
        #: Member ids handed out with MEMBER_ID_REQUIRED, not yet joined (KIP-394).
        self.pending_members: set[str] = set()
        #: Members that have not sent SyncGroup for the current generation.
        self.pending_sync_members: set[str] = set()
        #: A member joined during the initial delay (Kafka's ``newMemberAdded``).
        self.new_member_added = False

    def __repr__(self) -> str:
        return f"<ClassicGroup {self.group_id!r} {self.state.value} gen={self.generation_id} members={len(self.members)}>"

    # --- state ------------------------------------------------------------------------

    def transition(self, event: GroupEvent, now_ms: int) -> None:
        """Apply ``event`` through the state table (raises on an illegal transition)."""
        new = next_state(self.state, event)
        self.previous_state = self.state
        self.state = new
        self.current_state_timestamp = now_ms

    def is_in(self, *states: GroupState) -> bool:
        return self.state in states

    # --- membership -------------------------------------------------------------------

    @staticmethod
    def generate_member_id(client_id: str, group_instance_id: str | None) -> str:
        """``<instance id or client id>-<uuid>``, as Kafka forms member ids."""
        return f"{group_instance_id if group_instance_id is not None else client_id}-{uuid.uuid4()}"

    def has_member(self, member_id: str) -> bool:
        return member_id in self.members

    def add(self, member: Member, waiter: Waiter[Any] | None) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        self.pending_members.discard(member.member_id)
        member.join_waiter = waiter
        if self.leader_id is None:
            self.leader_id = member.member_id

    def remove(self, member_id: str) -> Member | None:
        """Remove a member (or a pending member id); a new leader is the first member left."""
        self.pending_members.discard(member_id)
        self.pending_sync_members.discard(member_id)
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        if member.group_instance_id is not None and self.static_members.get(member.group_instance_id) == member_id:
            del self.static_members[member.group_instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member

    def replace_static_member(self, instance_id: str, old_member_id: str, new_member_id: str) -> Member:
        """Give a static member a new member id (its rejoin with an unknown id, KIP-345).

        The old id's blocked JoinGroup/SyncGroup are answered FENCED_INSTANCE_ID by the
        caller before this; the member keeps its metadata and assignment.
        """
        member = self.members.pop(old_member_id)
        member.member_id = new_member_id
        self.members[new_member_id] = member
        self.static_members[instance_id] = new_member_id
        self.pending_sync_members.discard(old_member_id)
        if self.leader_id == old_member_id:
            self.leader_id = new_member_id
        return member

    def update_member(self, member: Member, protocols: list[tuple[str, bytes]], rebalance_timeout_ms: int,
                      session_timeout_ms: int, waiter: Waiter[Any] | None) -> None:
        member.protocols = protocols
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        member.join_waiter = waiter

    def validate_member(self, member_id: str, group_instance_id: str | None) -> ErrorCode | None:
        """UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID when the request's identity is not
        this group's (``ClassicGroup.validateMember``), else None."""
        if group_instance_id is not None:
            known = self.static_members.get(group_instance_id)
            if known is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if known != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
            return None
        return None if member_id in self.members else ErrorCode.UNKNOWN_MEMBER_ID

    @property
    def num_awaiting_join(self) -> int:
        return sum(1 for m in self.members.values() if m.is_awaiting_join)

    def has_all_members_joined(self) -> bool:
        return len(self.members) == self.num_awaiting_join and not self.pending_members

    def not_yet_rejoined(self) -> list[Member]:
        return [m for m in self.members.values() if not m.is_awaiting_join]

    def maybe_elect_new_joined_leader(self) -> bool:
        """Keep the leader if it rejoined, else pick a member that did; False if none did."""
        leader = self.members.get(self.leader_id) if self.leader_id is not None else None
        if leader is not None and leader.is_awaiting_join:
            return True
        joined = next((m for m in self.members.values() if m.is_awaiting_join), None)
        if joined is None:
            return False
        self.leader_id = joined.member_id
        return True

    @property
    def rebalance_timeout_ms(self) -> int:
        """The longest rebalance timeout among the members: the join phase's bound."""
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    # --- protocols --------------------------------------------------------------------

    def candidate_protocols(self) -> set[str]:
        """Protocols every member supports."""
        members = list(self.members.values())
        if not members:
            return set()
        common = {name for name, _ in members[0].protocols}
        for m in members[1:]:
            common &= {name for name, _ in m.protocols}
        return common

    def supports_protocols(self, protocol_type: str, protocols: list[tuple[str, bytes]]) -> bool:
        """Whether a member with these protocols may join (``ClassicGroup.supportsProtocols``)."""
        if self.state is GroupState.EMPTY or not self.members:
            return bool(protocol_type) and bool(protocols)
        names = {name for name, _ in protocols}
        return self.protocol_type == protocol_type and bool(names & self.candidate_protocols())

    def select_protocol(self) -> str:
        """Kafka's vote: each member votes for its first choice among the protocols all
        members support; the most votes win (ties to the protocol voted first)."""
        candidates = self.candidate_protocols()
        votes: dict[str, int] = {}
        for m in self.members.values():
            choice = m.vote(candidates)
            votes[choice] = votes.get(choice, 0) + 1
        return max(votes, key=lambda name: votes[name])

    def init_next_generation(self, now_ms: int) -> None:
        """Start the next generation: CompletingRebalance with a protocol, or Empty."""
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.transition(GroupEvent.JOIN_COMPLETE, now_ms)
        else:
            self.protocol_name = None
            self.transition(GroupEvent.JOIN_COMPLETE_EMPTY, now_ms)
        self.pending_sync_members = set()

    def subscribed_topics(self) -> set[str] | None:
        """Topics the members subscribe to, for consumer groups; None when unknown
        (another protocol type, or metadata that does not parse)."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or self.protocol_name is None:
            return None
        from kafkapy.wire.messages.consumer_protocol_subscription import (
            ConsumerProtocolSubscription,
        )

        topics: set[str] = set()
        for m in self.members.values():
            metadata = m.metadata_for(self.protocol_name)
            try:
                topics.update(decode_versioned(ConsumerProtocolSubscription, metadata).topics)
            except (WireError, ValueError):
                return None
        return topics

    def assignment_map(self) -> dict[str, bytes]:
        return {member_id: m.assignment for member_id, m in self.members.items()}

    # --- offsets ----------------------------------------------------------------------

    def is_empty_and_offsetless(self) -> bool:
        """Nothing left to keep: Empty, no committed and no pending offsets."""
        return self.state is GroupState.EMPTY and not self.has_offsets()


def decode_versioned(cls: Any, data: bytes) -> Any:
    """A message stored behind an int16 version (consumer protocol, coordinator records).

    Versions newer than the schema are read with the newest one, as Kafka's consumer
    protocol does (new fields are appended, so older readers stop before them).

    Raises:
        ValueError: fewer than two bytes.
        WireError: the message does not decode.
    """
    if len(data) < 2:
        raise ValueError("versioned message shorter than its version")
    version = int.from_bytes(data[:2], "big", signed=True)
    lo, hi = cls.VALID_VERSIONS
    version = min(max(version, lo), hi)
    return cls.decode(memoryview(data), 2, version)[0]


def protocols_of(items: Iterable[Any]) -> list[tuple[str, bytes]]:
    """JoinGroup protocols as (name, metadata bytes) pairs, in the member's order."""
    return [(p.name, bytes(p.metadata)) for p in items]
