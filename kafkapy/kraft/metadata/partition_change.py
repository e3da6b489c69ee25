"""Leader election and ISR changes for one partition (Kafka's ``PartitionChangeBuilder``).

The controller states what it wants (an ISR without a fenced broker, the ISR a leader
asked for) and :func:`partition_change` works out the PartitionChangeRecord, or None
when nothing would change. Election is clean only (``unclean.leader.election.enable``
is false, Kafka's default): the current leader stays while it is in the ISR and active;
otherwise the first replica, in replica order, that is in the ISR and active leads; if
none is, the partition is left without a leader until one returns. The ISR never becomes
empty: when its last member goes, that member stays in it (Kafka keeps it, so the
partition can recover cleanly once the broker is back).

ELR (KIP-966) is not maintained: ``eligible.leader.replicas.version`` is not finalized.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kafkapy.kraft.metadata.image import NO_LEADER, PartitionRegistration, Uuid
from kafkapy.kraft.metadata.records import PartitionChangeRecord


def elect_leader(part: PartitionRegistration, isr: Sequence[int],
                 is_active: Callable[[int], bool]) -> int:
    """The leader ``part`` should have with ``isr``: keep it, else the first eligible replica."""
    if part.leader != NO_LEADER and part.leader in isr and is_active(part.leader):
        return part.leader
    for replica in part.replicas:
        if replica in isr and is_active(replica):
            return replica
    return NO_LEADER


def partition_change(topic_id: Uuid, partition_id: int, part: PartitionRegistration,
                     is_active: Callable[[int], bool], *,
                     target_isr: Sequence[int] | None = None) -> PartitionChangeRecord | None:
    """The record that moves ``part`` to ``target_isr`` and the leader that follows from it.

    Args:
        is_active: whether a broker may lead (registered, unfenced, not shutting down).
        target_isr: the ISR wanted (never empty), or None to keep the current one and
            only re-elect.

    Returns:
        A PartitionChangeRecord carrying the changed fields, or None when neither the
        ISR nor the leader would change.
    """
    isr = part.isr if target_isr is None else tuple(target_isr)
    if not isr:
        raise ValueError("a partition's ISR cannot become empty")
    leader = elect_leader(part, isr, is_active)
    changes: dict[str, object] = {}
    if isr != part.isr:
        changes["isr"] = list(isr)
    if leader != part.leader:
        changes["leader"] = leader
    if not changes:
        return None
    return PartitionChangeRecord(topic_id=topic_id, partition_id=partition_id, **changes)


def without_broker(part: PartitionRegistration, broker_id: int) -> tuple[int, ...]:
    """The ISR with ``broker_id`` removed; if it was the only member, unchanged."""
    isr = tuple(r for r in part.isr if r != broker_id)
    return isr if isr else part.isr
