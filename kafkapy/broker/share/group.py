"""A share group's durable state, rebuilt by replaying its records, and the simple assignor.

Kafka's ``ShareGroup`` and ``ShareGroupMember``. A share group has no partition
revocation: a member's assignment is its target as soon as the target changes, and
its member epoch is the assignment epoch (KIP-932). States are ``Empty`` (no members),
``Stable`` (members) and ``Dead`` (deleted).

The assignor is Kafka's ``SimpleAssignor`` in shape (KIP-932): partitions of the
subscribed topics are spread over the members subscribed to them, one member per
partition while there are at least as many partitions as members; with more members
than partitions each partition is shared by several members, so every member gets
work and every partition is consumed. Members are taken in member-id order, so the
target is the same on every coordinator that computes it.

Task-safety: trio thread only; changed only by :func:`replay`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kafkapy.broker.share.group_records import (
    CURRENT_MEMBER_ASSIGNMENT,
    GROUP_METADATA,
    MEMBER_METADATA,
    STATE_PARTITION_METADATA,
    TARGET_ASSIGNMENT_MEMBER,
    TARGET_ASSIGNMENT_METADATA,
    ShareRecord,
)

if TYPE_CHECKING:
    from kafkapy.kraft.metadata.image import MetadataImage

#: topic id -> partitions
Assignment = dict[bytes, frozenset[int]]
SIMPLE_ASSIGNOR = "simple"


@dataclasses.dataclass(frozen=True, slots=True)
class ShareMember:
    member_id: str
    member_epoch: int = 0
    previous_member_epoch: int = 0
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    assigned: Mapping[bytes, frozenset[int]] = dataclasses.field(default_factory=dict)


class ShareGroup:
    """One share group (see the module doc)."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.group_epoch = 0
        self.metadata_hash = 0
        self.assignment_epoch = 0
        self.members: dict[str, ShareMember] = {}
        self.target: dict[str, Assignment] = {}
        #: topic id -> (name, partitions) whose share-partition state was initialized
        self.initialized: dict[bytes, tuple[str, frozenset[int]]] = {}

    @property
    def state(self) -> str:
        return "Stable" if self.members else "Empty"

    def subscribed_topics(self) -> set[str]:
        return {t for m in self.members.values() for t in m.subscribed_topic_names}


def _assignment(items: Iterable[Any]) -> Assignment:
    return {t.topic_id: frozenset(t.partitions) for t in items if t.partitions}


def replay(groups: dict[str, ShareGroup], rec: ShareRecord) -> None:
    """Apply one share-group record (Kafka's ``GroupMetadataManager.replay`` for them)."""
    group = groups.get(rec.group_id)
    v = rec.value
    if rec.record_type == GROUP_METADATA:
        if v is None:
            groups.pop(rec.group_id, None)
            return
        if group is None:
            group = groups[rec.group_id] = ShareGroup(rec.group_id)
        group.group_epoch, group.metadata_hash = v.epoch, v.metadata_hash
        return
    if group is None:
        if v is None:
            return
        group = groups[rec.group_id] = ShareGroup(rec.group_id)
    member_id = rec.member_id or ""
    if rec.record_type == TARGET_ASSIGNMENT_METADATA:
        if v is not None:
            group.assignment_epoch = v.assignment_epoch
    elif rec.record_type == TARGET_ASSIGNMENT_MEMBER:
        if v is None:
            group.target.pop(member_id, None)
        else:
            group.target[member_id] = _assignment(v.topic_partitions)
    elif rec.record_type == MEMBER_METADATA:
        if v is None:
            group.members.pop(member_id, None)
            return
        base = group.members.get(member_id) or ShareMember(member_id)
        group.members[member_id] = dataclasses.replace(
            base, rack_id=v.rack_id, client_id=v.client_id, client_host=v.client_host,
            subscribed_topic_names=tuple(v.subscribed_topic_names))
    elif rec.record_type == CURRENT_MEMBER_ASSIGNMENT:
        if v is None:
            return
        base = group.members.get(member_id) or ShareMember(member_id)
        group.members[member_id] = dataclasses.replace(
            base, member_epoch=v.member_epoch, previous_member_epoch=v.previous_member_epoch,
            assigned=_assignment(v.assigned_partitions))
    elif rec.record_type == STATE_PARTITION_METADATA:
        group.initialized = {} if v is None else {
            t.topic_id: (t.topic_name, frozenset(t.partitions)) for t in v.initialized_topics}


def metadata_hash(image: MetadataImage, topics: Iterable[str]) -> int:
    """A 64-bit hash of the subscribed topics as the image has them (names, ids,
    partition counts): Kafka's metadata hash role (KIP-1101), compared only with itself."""
    names = sorted(set(topics))
    if not names:
        return 0
    h = hashlib.blake2b(digest_size=8)
    for name in names:
        t = image.topic(name)
        if t is not None:
            h.update(f"{name}\0{t.id.hex()}\0{len(t.partitions)}\0".encode())
    return int.from_bytes(h.digest(), "big", signed=True)


def simple_assign(members: Mapping[str, ShareMember], image: MetadataImage) -> dict[str, Assignment]:
    """The target assignment of the simple assignor (see the module doc)."""
    target: dict[str, dict[bytes, set[int]]] = {m: {} for m in members}
    topics = sorted({t for m in members.values() for t in m.subscribed_topic_names})
    for name in topics:
        topic = image.topic(name)
        if topic is None:
            continue
        subscribers = sorted(m for m, member in members.items() if name in member.subscribed_topic_names)
        partitions = sorted(topic.partitions)
        if not subscribers or not partitions:
            continue
        if len(partitions) >= len(subscribers):
            for i, p in enumerate(partitions):
                target[subscribers[i % len(subscribers)]].setdefault(topic.id, set()).add(p)
        else:
            for i, m in enumerate(subscribers):
                target[m].setdefault(topic.id, set()).add(partitions[i % len(partitions)])
    return {m: {t: frozenset(ps) for t, ps in a.items()} for m, a in target.items()}
