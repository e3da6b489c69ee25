"""Replica placement for new partitions.

Round-robin over the usable brokers from a random start, as Kafka's rack-unaware
assignment does (``StripedReplicaPlacer`` without racks): partition ``p``'s first
replica is broker ``(start + p) mod n`` and its followers are the next brokers in
order, shifted by a random step per "round" of ``n`` partitions so that followers
spread too. Racks are ignored; a cluster with racks gets a valid, rack-unaware
placement.

As in Kafka, every registered broker that is not in controlled shutdown is usable, and
the replication factor is checked against all of them: a fenced broker may hold a
follower replica (it joins the ISR once it is back), but only once the unfenced
brokers are used up, and never the first replica (the leader). The errors are the
placer's messages; CreateTopics and CreatePartitions prefix them with "Unable to
replicate the partition N time(s): ".
"""

from __future__ import annotations

import random
from collections.abc import Sequence


class PlacementError(Exception):
    """The brokers available cannot hold the replicas asked for."""


def place_replicas(brokers: Sequence[int], *, start_partition: int, num_partitions: int,
                   replication_factor: int, rng: random.Random, fenced: Sequence[int] = ()) -> list[list[int]]:
    """Replica lists for partitions ``start_partition .. start_partition+num_partitions-1``.

    Args:
        brokers: ids of the unfenced brokers not in controlled shutdown.
        start_partition: index of the first new partition (0 for a new topic); it shifts
            the round-robin so added partitions continue the pattern.
        rng: the source of the random start; the controller seeds it.
        fenced: ids of registered brokers that are fenced but not shutting down; they
            fill follower places the unfenced brokers cannot.

    Raises:
        PlacementError: ``replication_factor`` is not positive, every broker is fenced,
            or it exceeds the number of usable brokers, fenced ones included.
    """
    n = len(brokers)
    total = n + len(fenced)
    if replication_factor <= 0:
        raise PlacementError(f"Invalid replication factor {replication_factor}: the replication "
                             "factor must be positive.")
    if n == 0:
        raise PlacementError("All brokers are currently fenced.")
    if replication_factor > total:
        # Kafka 4.4's StripedReplicaPlacer names cordoned log directories (KIP-1066) too.
        raise PlacementError(
            f"The target replication factor of {replication_factor} cannot be reached because "
            f"only {total} broker(s) are registered or some brokers have all their log directories cordoned.")
    if replication_factor > n:
        spare = sorted(fenced)
        lists = place_replicas(brokers, start_partition=start_partition, num_partitions=num_partitions,
                               replication_factor=n, rng=rng)
        extra = replication_factor - n
        return [r + [spare[(start_partition + i + j) % len(spare)] for j in range(extra)]
                for i, r in enumerate(lists)]
    ordered = sorted(brokers)
    first = rng.randrange(n)
    shift = rng.randrange(n)
    result = []
    for i in range(num_partitions):
        p = start_partition + i
        if p > 0 and p % n == 0:
            shift += 1
        leader = (first + p) % n
        replicas = [ordered[leader]]
        for j in range(replication_factor - 1):
            replicas.append(ordered[(leader + _follower_step(shift, j, n)) % n])
        result.append(replicas)
    return result


def _follower_step(shift: int, j: int, n: int) -> int:
    """Distance from the leader of follower ``j``: in 1..n-1, distinct for distinct j."""
    return 1 + (shift + j) % (n - 1)
