"""What the ``__consumer_offsets`` records of KIP-848 consumer groups, KIP-932 share
groups and KIP-1071 streams groups have in common, and their replay (Kafka's ``modern`` group package:
``ModernGroup``, ``ModernGroupMember`` and the ``GroupMetadataManager.replay``
methods, which are the same for each kind but for the classes).

Each kind writes five record types of one shape, each under its own key version:

============================  =============  ==========================================
record                        key            what replay does with it
============================  =============  ==========================================
GroupMetadata                 group          group epoch, metadata hash; a tombstone
                                             drops the group
MemberMetadata                group, member  the member's identity; a tombstone removes it
TargetAssignmentMetadata      group          the assignment epoch
TargetAssignmentMember        group, member  the member's target
CurrentMemberAssignment       group, member  member epochs and what the member holds
============================  =============  ==========================================

A key is its int16 type followed by the key message at version 0; a value is int16 0
followed by the value message at version 0, or null for a tombstone. A kind's other
record types (a share group's state-partition metadata, a streams group's topology)
go to its own callback.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from kafkapy.broker.coordinator.shard import KeyValue
from kafkapy.broker.groups.classic_group import decode_versioned

_VERSION = struct.Struct(">h")
_VALUE_VERSION = 0


class ModernRecord(NamedTuple):
    """A decoded record of a consumer, share or streams group; ``value`` None for a tombstone."""

    record_type: int
    group_id: str
    member_id: str | None
    value: Any


@dataclasses.dataclass(frozen=True, slots=True)
class RecordTypes:
    """One kind's record types: the key version of each, and its (key, value) classes.

    Attributes:
        group_extras: the kind's group-keyed types tombstoned between the target
            metadata and the group record when the group is deleted.
    """

    group_metadata: int
    member_metadata: int
    target_assignment_metadata: int
    target_assignment_member: int
    current_member_assignment: int
    classes: Mapping[int, tuple[Any, Any]]
    group_extras: tuple[int, ...] = ()

    def record(self, record_type: int, group_id: str, member_id: str | None, value: Any) -> KeyValue:
        """The key and value bytes of one record; ``value`` None is a tombstone."""
        key_cls, _ = self.classes[record_type]
        key = key_cls(group_id=group_id) if member_id is None else key_cls(group_id=group_id, member_id=member_id)
        key_bytes = _VERSION.pack(record_type) + key.to_bytes(0)
        if value is None:
            return key_bytes, None
        return key_bytes, _VERSION.pack(_VALUE_VERSION) + value.to_bytes(_VALUE_VERSION)

    def member_tombstones(self, group_id: str, member_id: str) -> list[KeyValue]:
        """A member's removal, in Kafka's order: current assignment, target, subscription."""
        return [self.record(t, group_id, member_id, None)
                for t in (self.current_member_assignment, self.target_assignment_member, self.member_metadata)]

    def group_tombstones(self, group_id: str, member_ids: Iterable[str]) -> list[KeyValue]:
        """Everything of a group but its offsets: members, target epoch, the kind's
        extras, then the group (Kafka's ``createGroupTombstoneRecords``)."""
        records = [r for member_id in member_ids for r in self.member_tombstones(group_id, member_id)]
        for t in (self.target_assignment_metadata, *self.group_extras, self.group_metadata):
            records.append(self.record(t, group_id, None, None))
        return records

    def decode(self, key: bytes, value: bytes | None) -> ModernRecord | None:
        """One of these records, or None for any other type of ``__consumer_offsets``.

        Raises:
            WireError, ValueError: the bytes do not decode.
        """
        if len(key) < 2:
            return None
        record_type = _VERSION.unpack_from(key)[0]
        classes = self.classes.get(record_type)
        if classes is None:
            return None
        key_cls, value_cls = classes
        k = key_cls.decode(memoryview(key), 2, 0)[0]
        return ModernRecord(record_type, k.group_id, getattr(k, "member_id", None),
                            None if value is None else decode_versioned(value_cls, value))


def topic_partitions(cls: Any, assignment: Mapping[bytes, Iterable[int]]) -> list[Any]:
    """An assignment as the records' ``TopicPartition(s)`` list, sorted."""
    return [cls(topic_id=t, partitions=sorted(ps)) for t, ps in sorted(assignment.items())]


def assignment_of(items: Iterable[Any]) -> dict[bytes, frozenset[int]]:
    """The records' ``TopicPartition(s)`` list as an assignment, without empty topics."""
    return {t.topic_id: frozenset(t.partitions) for t in items if t.partitions}


class ReplayedGroup(Protocol):
    """What replay changes on a group."""

    group_epoch: int
    metadata_hash: int
    assignment_epoch: int
    members: Mapping[str, Any]
    target: dict[str, Any]

    def put_member(self, member: Any) -> None: ...

    def remove_member(self, member_id: str) -> object: ...


G = TypeVar("G", bound=ReplayedGroup)


@dataclasses.dataclass(frozen=True, slots=True)
class GroupReplay(Generic[G]):
    """Replay of one kind's records into its groups; called as ``replay(groups, record)``.

    Attributes:
        new_group, new_member: an empty group or member for an id first seen.
        target: a TargetAssignmentMember value as the group's target entry.
        member_metadata, current_assignment: the member fields a MemberMetadata or a
            CurrentMemberAssignment value sets.
        group_metadata: the kind's own group fields a GroupMetadata value sets besides
            the epoch and hash (a streams group's validated topology epoch).
        other: the kind's other record types, given the group (created if absent).
    """

    types: RecordTypes
    new_group: Callable[[str], G]
    new_member: Callable[[str], Any]
    target: Callable[[Any], Any]
    member_metadata: Callable[[Any], dict[str, Any]]
    current_assignment: Callable[[Any], dict[str, Any]]
    group_metadata: Callable[[Any], dict[str, Any]] = lambda v: {}
    other: Callable[[G, ModernRecord], None] = lambda group, rec: None

    def __call__(self, groups: dict[str, G], rec: ModernRecord) -> None:
        """Apply one record to the groups being rebuilt from the log."""
        types = self.types
        group = groups.get(rec.group_id)
        v = rec.value
        if rec.record_type == types.group_metadata:
            if v is None:
                groups.pop(rec.group_id, None)
                return
            if group is None:
                group = groups[rec.group_id] = self.new_group(rec.group_id)
            group.group_epoch, group.metadata_hash = v.epoch, v.metadata_hash
            for name, field in self.group_metadata(v).items():
                setattr(group, name, field)
            return
        if group is None:
            if v is None:
                return
            group = groups[rec.group_id] = self.new_group(rec.group_id)
        member_id = rec.member_id or ""
        if rec.record_type == types.target_assignment_metadata:
            if v is not None:
                group.assignment_epoch = v.assignment_epoch
        elif rec.record_type == types.target_assignment_member:
            if v is None:
                group.target.pop(member_id, None)
            else:
                group.target[member_id] = self.target(v)
        elif rec.record_type == types.member_metadata:
            if v is None:
                group.remove_member(member_id)
            else:
                self._update_member(group, member_id, self.member_metadata(v))
        elif rec.record_type == types.current_member_assignment:
            if v is not None:
                self._update_member(group, member_id, self.current_assignment(v))
        else:
            self.other(group, rec)

    def _update_member(self, group: G, member_id: str, fields: dict[str, Any]) -> None:
        base = group.members.get(member_id) or self.new_member(member_id)
        group.put_member(dataclasses.replace(base, **fields))
