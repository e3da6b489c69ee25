"""A streams group's durable state, rebuilt by replaying its records (Kafka's
``StreamsGroup`` and ``StreamsGroupMember``).

States as ``StreamsGroup.StreamsGroupState``: ``Empty`` (no members), ``NotReady``
(the topology is not configured: source or internal topics missing),
``Assigning`` (the target is newer than a member's epoch), ``Reconciling``
(members still move to the target) and ``Stable``; ``Dead`` is a deleted group.

Member states as Kafka's ``MemberState``: 0 STABLE, 1 UNREVOKED_TASKS (the member must
give tasks up before it moves to the new epoch), 2 UNRELEASED_TASKS (it waits for tasks
another member still owns).

Task-safety: trio thread only; changed only by :func:`replay` (the one replay of
:mod:`kafkapy.broker.groups.modern_records`, with the topology and the validated
topology epoch as the streams group's own).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kafkapy.broker.groups.modern_records import GroupReplay, ModernRecord
from kafkapy.broker.streams.records import STREAMS_RECORDS, TOPOLOGY, Tasks, task_set
from kafkapy.wire.messages.streams_group_current_member_assignment_value import (
    StreamsGroupCurrentMemberAssignmentValue,
)
from kafkapy.wire.messages.streams_group_member_metadata_value import StreamsGroupMemberMetadataValue
from kafkapy.wire.messages.streams_group_topology_value import StreamsGroupTopologyValue

STABLE, UNREVOKED_TASKS, UNRELEASED_TASKS = 0, 1, 2
MEMBER_STATES = {STABLE: "STABLE", UNREVOKED_TASKS: "UNREVOKED_TASKS", UNRELEASED_TASKS: "UNRELEASED_TASKS"}
EMPTY_TASKS = Tasks({}, {}, {})


@dataclasses.dataclass(frozen=True, slots=True)
class StreamsMember:
    member_id: str
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: int = STABLE
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    rebalance_timeout_ms: int = -1
    topology_epoch: int = 0
    process_id: str = ""
    user_endpoint: tuple[str, int] | None = None
    client_tags: tuple[tuple[str, str], ...] = ()
    assigned: Tasks = EMPTY_TASKS
    pending_revocation: Tasks = EMPTY_TASKS
    #: (subtopology, partition) -> the member epoch its active task was assigned at
    active_epochs: Mapping[tuple[str, int], int] = dataclasses.field(default_factory=dict)

    def identity(self) -> tuple[Any, ...]:
        """What MemberMetadata holds: a change is a record."""
        return (self.instance_id, self.rack_id, self.client_id, self.client_host, self.rebalance_timeout_ms,
                self.topology_epoch, self.process_id, self.user_endpoint, self.client_tags)


class StreamsGroup:
    """One streams group (see the module doc)."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        # Kafka 4.4's StreamsGroup starts at group epoch 1 and target assignment epoch 1
        # (TargetAssignmentMetadata.INITIAL): a first member's join bumps the group to 2,
        # and a member waiting out the initial rebalance delay is at epoch 1.
        self.group_epoch = 1
        self.metadata_hash = 0
        self.validated_topology_epoch = -1
        self.assignment_epoch = 1
        self.topology: StreamsGroupTopologyValue | None = None
        self.members: dict[str, StreamsMember] = {}
        self.target: dict[str, Tasks] = {}
        #: the configured topology is ready (no missing source or internal topics); transient
        self.ready = False
        #: the topology epochs a KIP-1331 description plugin holds and rejected
        #: (StreamsGroupMetadataValue tags 2 and 3): kafkapy runs no plugin, so they stay as
        #: replayed and are written back, as Kafka writes the group's own with each epoch
        self.description_epochs = (-1, -1)

    @property
    def state(self) -> str:
        """``StreamsGroup.state``."""
        if not self.members:
            return "Empty"
        if self.topology is None or not self.ready:
            return "NotReady"
        if self.group_epoch > self.assignment_epoch:
            return "Assigning"
        if any(m.member_epoch != self.assignment_epoch or m.state != STABLE for m in self.members.values()):
            return "Reconciling"
        return "Stable"

    def subscribed_topics(self) -> set[str]:
        """The topics OffsetDelete refuses (GROUP_SUBSCRIBED_TO_TOPIC): while the group has
        members, its topology's source and repartition source topics (Kafka 4.4's
        ``StreamsGroup.isSubscribedToTopic`` over ``StreamsTopology.sourceTopicMap``)."""
        if not self.members or self.topology is None:
            return set()
        return {topic for s in self.topology.subtopologies
                for topic in [*s.source_topics, *(i.name for i in s.repartition_source_topics)]}

    def put_member(self, member: StreamsMember) -> None:
        self.members[member.member_id] = member

    def remove_member(self, member_id: str) -> StreamsMember | None:
        return self.members.pop(member_id, None)

    def active_owners(self, exclude: str) -> dict[tuple[str, int], str]:
        """Active tasks owned (assigned or pending revocation) by members other than ``exclude``."""
        owners: dict[tuple[str, int], str] = {}
        for m in self.members.values():
            if m.member_id == exclude:
                continue
            for tasks in (m.assigned.active, m.pending_revocation.active):
                for s, ps in tasks.items():
                    for p in ps:
                        owners[(s, p)] = m.member_id
        return owners


def _tasks(active: Any, standby: Any, warmup: Any) -> Tasks:
    return Tasks(task_set(active), task_set(standby), task_set(warmup))


def _member_metadata(v: StreamsGroupMemberMetadataValue) -> dict[str, Any]:
    return dict(instance_id=v.instance_id, rack_id=v.rack_id, client_id=v.client_id, client_host=v.client_host,
                rebalance_timeout_ms=v.rebalance_timeout_ms, topology_epoch=v.topology_epoch, process_id=v.process_id,
                user_endpoint=None if v.user_endpoint is None else (v.user_endpoint.host, v.user_endpoint.port),
                client_tags=tuple((kv.key, kv.value) for kv in v.client_tags))


def _current_assignment(v: StreamsGroupCurrentMemberAssignmentValue) -> dict[str, Any]:
    epochs = {(t.subtopology_id, p): (e if t.assignment_epochs is not None else v.member_epoch)
              for t in v.active_tasks
              for p, e in zip(t.partitions, t.assignment_epochs or [v.member_epoch] * len(t.partitions),
                              strict=False)}
    return dict(member_epoch=v.member_epoch, previous_member_epoch=v.previous_member_epoch, state=v.state,
                active_epochs=epochs,
                assigned=_tasks(v.active_tasks, v.standby_tasks, v.warmup_tasks),
                pending_revocation=_tasks(v.active_tasks_pending_revocation, v.standby_tasks_pending_revocation,
                                          v.warmup_tasks_pending_revocation))


def _replay_topology(group: StreamsGroup, rec: ModernRecord) -> None:
    if rec.record_type == TOPOLOGY:
        group.topology = rec.value


#: Apply one streams-group record (``GroupMetadataManager.replay`` of the Streams* records).
replay: GroupReplay[StreamsGroup] = GroupReplay(
    STREAMS_RECORDS, new_group=StreamsGroup, new_member=StreamsMember,
    target=lambda v: _tasks(v.active_tasks, v.standby_tasks, v.warmup_tasks),
    member_metadata=_member_metadata, current_assignment=_current_assignment,
    group_metadata=lambda v: dict(validated_topology_epoch=v.validated_topology_epoch, description_epochs=(
        v.stored_description_topology_epoch, v.failed_description_topology_epoch)),
    other=_replay_topology)
