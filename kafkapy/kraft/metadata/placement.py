"""Replica placement for new partitions.

Round-robin over the usable brokers from a random start, as Kafka's rack-unaware
assignment does (``StripedReplicaPlacer`` without racks): partition ``p``'s first
replica is broker ``(start + p) mod n`` and its followers are the next brokers in
order, shifted by a random step per "round" of ``n`` partitions so that followers
spread too. Racks are ignored; a cluster with racks gets a valid, rack-unaware
placement.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


class PlacementError(Exception):
    """The brokers available cannot hold the replicas asked for."""


def place_replicas(brokers: Sequence[int], *, start_partition: int, num_partitions: int,
                   replication_factor: int, rng: random.Random) -> list[list[int]]:
    """Replica lists for partitions ``start_partition .. start_partition+num_partitions-1``.

    Args:
        brokers: ids of the brokers that may hold replicas (unfenced, not shutting down).
        start_partition: index of the first new partition (0 for a new topic); it shifts
            the round-robin so added partitions continue the pattern.
        rng: the source of the random start; the controller seeds it.

    Raises:
        PlacementError: ``replication_factor`` is not positive or exceeds ``len(brokers)``.
    """
    n = len(brokers)
    if replication_factor <= 0:
        raise PlacementError("Replication factor must be larger than 0.")
    if replication_factor > n:
        raise PlacementError(
            f"Unable to replicate the partition {replication_factor} time(s): The target "
            f"replication factor of {replication_factor} cannot be reached because only "
            f"{n} broker(s) are registered.")
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
