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
from typing import TYPE_CHECKING

from kafkapy.broker.groups.modern_records import GroupReplay, ModernRecord, assignment_of
from kafkapy.broker.share.group_records import SHARE_RECORDS, STATE_PARTITION_METADATA

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

    def put_member(self, member: ShareMember) -> None:
        self.members[member.member_id] = member

    def remove_member(self, member_id: str) -> ShareMember | None:
        return self.members.pop(member_id, None)


def _replay_state_partitions(group: ShareGroup, rec: ModernRecord) -> None:
    if rec.record_type == STATE_PARTITION_METADATA:
        v = rec.value
        group.initialized = {} if v is None else {
            t.topic_id: (t.topic_name, frozenset(t.partitions)) for t in v.initialized_topics}


#: Apply one share-group record (Kafka's ``GroupMetadataManager.replay`` for them).
replay: GroupReplay[ShareGroup] = GroupReplay(
    SHARE_RECORDS, new_group=ShareGroup, new_member=ShareMember,
    target=lambda v: assignment_of(v.topic_partitions),
    member_metadata=lambda v: dict(rack_id=v.rack_id, client_id=v.client_id, client_host=v.client_host,
                                   subscribed_topic_names=tuple(v.subscribed_topic_names)),
    current_assignment=lambda v: dict(member_epoch=v.member_epoch, previous_member_epoch=v.previous_member_epoch,
                                      assigned=assignment_of(v.assigned_partitions)),
    other=_replay_state_partitions)


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
