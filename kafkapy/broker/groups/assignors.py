"""Server-side assignors of KIP-848 consumer groups: ``uniform`` and ``range``.

``group.consumer.assignors`` lists the assignors a member may name in
``ServerAssignor``; the first is the default (Kafka: ``uniform,range``). Both take the
members' subscriptions as topic ids, the partition counts of the subscribed topics,
and the previous target assignment, and return the new target for every member.

* ``uniform`` (Kafka's ``UniformAssignor``): every member gets as many partitions as
  any other member subscribed to the same topics, give or take one, and a partition
  stays where it was whenever that keeps the balance (stickiness is what lets most
  members reconcile without revoking anything). Kafka has two builders, one for
  homogeneous and one for heterogeneous subscriptions; this one algorithm serves
  both: keep what is still valid, give each unassigned partition to the least loaded
  eligible member, then move partitions from the most to the least loaded eligible
  member until no move narrows the spread.
* ``range`` (Kafka's server-side ``RangeAssignor``): per topic, the subscribed
  members sorted by member id get consecutive ranges, the first ones one partition
  more when the count does not divide evenly, so that members subscribed to
  co-partitioned topics get the same partition numbers of each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kafkapy.broker.groups.consumer_group import Assignment

#: member id -> subscribed topic ids; topic id -> partition count; member id -> previous target
Assignor = Callable[[Mapping[str, frozenset[bytes]], Mapping[bytes, int], Mapping[str, Assignment]],
                    dict[str, Assignment]]


def _collect(owner: Mapping[tuple[bytes, int], str], members: Mapping[str, object]) -> dict[str, Assignment]:
    out: dict[str, dict[bytes, set[int]]] = {m: {} for m in members}
    for (topic_id, p), m in owner.items():
        out[m].setdefault(topic_id, set()).add(p)
    return {m: {t: frozenset(ps) for t, ps in a.items()} for m, a in out.items()}


def uniform(members: Mapping[str, frozenset[bytes]], topics: Mapping[bytes, int],
            previous: Mapping[str, Assignment]) -> dict[str, Assignment]:
    member_ids = sorted(members)
    subscribers = {t: [m for m in member_ids if t in members[m]] for t in sorted(topics)}
    counts = dict.fromkeys(member_ids, 0)
    owner: dict[tuple[bytes, int], str] = {}
    for m in member_ids:  # 1. stickiness: keep what is still subscribed and exists
        for topic_id, partitions in previous.get(m, {}).items():
            if topic_id in members[m] and topic_id in topics:
                for p in sorted(partitions):
                    if p < topics[topic_id] and (topic_id, p) not in owner:
                        owner[(topic_id, p)] = m
                        counts[m] += 1

    def least_loaded(topic_id: bytes) -> str:
        return min(subscribers[topic_id], key=lambda m: (counts[m], m))

    for topic_id, eligible in subscribers.items():  # 2. the unassigned partitions
        if not eligible:
            continue
        for p in range(topics[topic_id]):
            if (topic_id, p) not in owner:
                m = least_loaded(topic_id)
                owner[(topic_id, p)] = m
                counts[m] += 1
    moved = True
    while moved:  # 3. balance; each move lowers the sum of squared counts, so this ends
        moved = False
        for tp in sorted(owner):
            current = owner[tp]
            best = least_loaded(tp[0])
            if counts[current] - counts[best] > 1:
                owner[tp] = best
                counts[current] -= 1
                counts[best] += 1
                moved = True
    return _collect(owner, members)


def range_assignor(members: Mapping[str, frozenset[bytes]], topics: Mapping[bytes, int],
                   previous: Mapping[str, Assignment]) -> dict[str, Assignment]:
    owner: dict[tuple[bytes, int], str] = {}
    for topic_id in sorted(topics):
        subscribed = sorted(m for m in members if topic_id in members[m])
        if not subscribed:
            continue
        share, extra = divmod(topics[topic_id], len(subscribed))
        start = 0
        for i, m in enumerate(subscribed):
            count = share + (1 if i < extra else 0)
            for p in range(start, start + count):
                owner[(topic_id, p)] = m
            start += count
    return _collect(owner, members)


#: Assignors by the name members and ``group.consumer.assignors`` use.
ASSIGNORS: dict[str, Assignor] = {"uniform": uniform, "range": range_assignor}
