"""Leader election, ISR and replica-set changes for one partition (Kafka's
``PartitionChangeBuilder``, ``PartitionReassignmentReplicas`` and
``PartitionReassignmentRevert``).

The controller states what it wants (an ISR without a fenced broker, the ISR a leader
asked for, a new replica set, an election type) and :func:`partition_change` works out
the PartitionChangeRecord, or None when nothing would change. The steps are Kafka's
``build()``, in its order:

1. **Complete a reassignment** when the target ISR holds every target replica (the
   adding replicas caught up): the removing replicas leave the replica set and the ISR,
   and adding/removing are cleared.
2. **Elect** (:class:`Election`). ONLINE keeps the current leader while it is in the ISR
   and active, else takes the first replica, in replica order, that is. PREFERRED takes
   the first replica if it is in the ISR and active, else behaves as ONLINE. UNCLEAN is
   ONLINE, then, if no ISR member can lead, the first active replica outside the ISR:
   the ISR becomes that replica alone and the leader recovery state RECOVERING
   (KIP-704), since records only the old ISR had may be lost.
3. **Bump the leader epoch** when the replica set loses a member, by naming the same
   leader again (``triggerLeaderEpochBumpForReplicaReassignmentIfNeeded``).
4. **Write the ISR** unless it would become empty: with ELR off the last member stays
   in the ISR, so the partition recovers cleanly when that broker returns.
5. **Write replicas, directories, adding, removing and the recovery state** where they
   differ. A replica keeps its directory; a new one gets its broker's only directory
   (or UNASSIGNED, KIP-858).

ELR (KIP-966) is not maintained: ``eligible.leader.replicas.version`` is not finalized,
so the record fields of PartitionChangeRecord v2 are never written.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import NamedTuple

from kafkapy.kraft.metadata.delta import NO_LEADER_CHANGE, NO_RECOVERY_STATE_CHANGE
from kafkapy.kraft.metadata.image import (
    DIRECTORY_UNASSIGNED,
    NO_LEADER,
    LeaderRecoveryState,
    PartitionRegistration,
    Uuid,
)
from kafkapy.kraft.metadata.records import PartitionChangeRecord


class Election(enum.Enum):
    """Kafka's ``PartitionChangeBuilder.Election``."""

    #: The first replica if it can lead, else as ONLINE.
    PREFERRED = "preferred"
    #: Keep the leader or pick one from the ISR.
    ONLINE = "online"
    #: As ONLINE, else any active replica (data may be lost).
    UNCLEAN = "unclean"


def _unassigned(broker_id: int) -> Uuid:
    return DIRECTORY_UNASSIGNED


class CompletedReassignment(NamedTuple):
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def is_reassigning(part: PartitionRegistration) -> bool:
    """Whether a reassignment is in progress (adding or removing replicas are set)."""
    return bool(part.adding_replicas or part.removing_replicas)


def reassignment_targets(current: Sequence[int], target: Sequence[int]
                         ) -> tuple[list[int], list[int], list[int]]:
    """(replicas, adding, removing) of a reassignment from ``current`` to ``target``.

    The replica set while it runs is the target followed by the replicas being removed;
    adding and removing are sorted (``PartitionReassignmentReplicas``).
    """
    removing = sorted(set(current) - set(target))
    adding = sorted(set(target) - set(current))
    return list(target) + removing, adding, removing


def maybe_complete_reassignment(replicas: Sequence[int], adding: Sequence[int],
                                removing: Sequence[int], isr: Sequence[int]) -> CompletedReassignment | None:
    """The replicas and ISR once a reassignment completes, or None while it cannot.

    It completes when the ISR without the removing replicas is not empty and holds every
    replica that stays (``PartitionReassignmentReplicas.maybeCompleteReassignment``).
    """
    if not adding and not removing:
        return None
    new_isr = [r for r in isr if r not in removing]
    new_replicas = [r for r in replicas if r not in removing]
    if not new_isr or not new_replicas:
        return None
    if not set(new_replicas) <= set(new_isr):
        return None
    return CompletedReassignment(tuple(new_replicas), tuple(new_isr))


class ReassignmentRevert(NamedTuple):
    """What cancelling a reassignment returns to (``PartitionReassignmentRevert``):
    the original replicas, the ISR without the adding replicas, and whether that needs
    an unclean election (every ISR member was an adding replica)."""

    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    unclean: bool

    @classmethod
    def of(cls, part: PartitionRegistration) -> ReassignmentRevert:
        replicas = tuple(r for r in part.replicas if r not in part.adding_replicas)
        isr = tuple(r for r in part.isr if r not in part.adding_replicas)
        if isr:
            return cls(replicas, isr, False)
        if not replicas:
            raise ValueError("Invalid replica assignment: addingReplicas contains all replicas.")
        return cls(replicas, (replicas[0],), True)


def partition_change(topic_id: Uuid, partition_id: int, part: PartitionRegistration,
                     is_active: Callable[[int], bool], *,
                     target_isr: Sequence[int] | None = None,
                     target_replicas: Sequence[int] | None = None,
                     target_adding: Sequence[int] | None = None,
                     target_removing: Sequence[int] | None = None,
                     election: Election = Election.ONLINE,
                     target_leader_recovery_state: LeaderRecoveryState | None = None,
                     default_dir: Callable[[int], Uuid] = _unassigned) -> PartitionChangeRecord | None:
    """The record that moves ``part`` to the targets given, with the leader that follows.

    Args:
        is_active: whether a broker may lead (registered, unfenced, not shutting down).
        target_isr: the ISR wanted (may be empty: then the ISR is not written), or None
            to keep the current one.
        target_replicas, target_adding, target_removing: a new replica set and the
            reassignment state; None keeps the current one.
        election: how a leader is picked when the current one cannot stay.
        target_leader_recovery_state: the state the leader reports (AlterPartition), or
            None to keep it.
        default_dir: the log directory of a replica new to the partition.

    Returns:
        A PartitionChangeRecord carrying the changed fields, or None when nothing changes.
    """
    isr = tuple(part.isr if target_isr is None else target_isr)
    replicas = tuple(part.replicas if target_replicas is None else target_replicas)
    adding = tuple(part.adding_replicas if target_adding is None else target_adding)
    removing = tuple(part.removing_replicas if target_removing is None else target_removing)
    recovery = part.leader_recovery_state if target_leader_recovery_state is None else target_leader_recovery_state

    completed = maybe_complete_reassignment(replicas, adding, removing, isr)
    if completed is not None:
        replicas, isr, adding, removing = completed.replicas, completed.isr, (), ()

    record = PartitionChangeRecord(topic_id=topic_id, partition_id=partition_id)
    leader, unclean = _elect(part, replicas, isr, is_active, election)
    if leader != part.leader:
        record.leader = leader
        if unclean:
            record.isr = [leader]
            if part.leader_recovery_state != LeaderRecoveryState.RECOVERING:
                record.leader_recovery_state = int(LeaderRecoveryState.RECOVERING)
    if record.leader == NO_LEADER_CHANGE and not set(part.replicas) <= set(replicas):
        record.leader = part.leader  # a replica leaves: its fetches must be fenced
    if record.isr is None and isr and isr != part.isr:
        record.isr = list(isr)
    if replicas:
        directories = _directories(part, replicas, default_dir)
        if directories != part.directories:
            record.directories = list(directories)
        if replicas != part.replicas:
            record.replicas = list(replicas)
    if removing != part.removing_replicas:
        record.removing_replicas = list(removing)
    if adding != part.adding_replicas:
        record.adding_replicas = list(adding)
    if recovery != part.leader_recovery_state:
        record.leader_recovery_state = int(recovery)
    return None if _is_no_op(record) else record


def _elect(part: PartitionRegistration, replicas: Sequence[int], isr: Sequence[int],
           is_active: Callable[[int], bool], election: Election) -> tuple[int, bool]:
    """(leader, unclean) as ``PartitionChangeBuilder.electLeader`` picks it."""
    def valid(broker_id: int) -> bool:
        return broker_id in isr and is_active(broker_id)

    if election is Election.PREFERRED and replicas and valid(replicas[0]):
        return replicas[0], False
    if part.leader != NO_LEADER and valid(part.leader):
        return part.leader, False
    for replica in replicas:
        if valid(replica):
            return replica, False
    if election is Election.UNCLEAN:
        for replica in replicas:
            if is_active(replica):
                return replica, True
    return NO_LEADER, False


def _directories(part: PartitionRegistration, replicas: Sequence[int],
                 default_dir: Callable[[int], Uuid]) -> tuple[Uuid, ...]:
    known = dict(zip(part.replicas, part.directories)) if len(part.directories) == len(part.replicas) else {}
    return tuple(known[r] if r in known else default_dir(r) for r in replicas)


def _is_no_op(record: PartitionChangeRecord) -> bool:
    """Kafka's ``changeRecordIsNoOp``."""
    return (record.isr is None and record.leader == NO_LEADER_CHANGE and record.replicas is None
            and record.removing_replicas is None and record.adding_replicas is None
            and record.leader_recovery_state == NO_RECOVERY_STATE_CHANGE and record.directories is None)


def without_broker(part: PartitionRegistration, broker_id: int) -> tuple[int, ...]:
    """The ISR with ``broker_id`` removed (possibly empty: then it is not written)."""
    return tuple(r for r in part.isr if r != broker_id)
