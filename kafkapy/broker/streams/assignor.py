"""The broker-side task assignor of streams groups: Kafka's ``StickyTaskAssignor``
(``org.apache.kafka.coordinator.group.streams.assignor``, KIP-1071), in shape.

A task is (subtopology id, partition); a subtopology has as many tasks as its
configured topology says. Members are grouped by process (a Kafka Streams instance);
a process's capacity is its number of members.

Active tasks, in three passes, never more than ``ceil(tasks / members)`` per member:

1. each task stays with the member that owned it (its current active or pending
   revocation), so a rebalance moves as few tasks as possible; tasks are taken
   partition by partition (then subtopology), so a member keeps the same partitions of
   every subtopology together;
2. a task still without owner goes to the least loaded member that held it as
   standby (its state is warm there);
3. the rest go to the least loaded process (load over capacity), and within it to its
   least loaded member; ties by process and member id, so every coordinator computes
   the same target.

Standby tasks (``group.streams.num.standby.replicas``, only for stateful subtopologies,
those with changelog topics): each task gets up to that many, each on a process that
does not already host the task, preferring a member that held it as standby before,
else the least loaded. Warm-up tasks are not assigned.

Pure: members and the topology in, a target out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from kafkapy.broker.streams.group import StreamsMember
from kafkapy.broker.streams.records import Tasks

STICKY_ASSIGNOR = "sticky"
Task = tuple[str, int]


def _owned(tasks: Mapping[str, frozenset[int]]) -> set[Task]:
    return {(s, p) for s, ps in tasks.items() for p in ps}


def _as_tasks(active: set[Task], standby: set[Task]) -> Tasks:
    def group(tasks: set[Task]) -> dict[str, frozenset[int]]:
        out: dict[str, set[int]] = {}
        for s, p in tasks:
            out.setdefault(s, set()).add(p)
        return {s: frozenset(ps) for s, ps in out.items()}

    return Tasks(group(active), group(standby), {})


def assign(members: Mapping[str, StreamsMember], partitions: Mapping[str, int], stateful: set[str],
           num_standby_replicas: int) -> dict[str, Tasks]:
    """The target assignment (see the module doc).

    Args:
        members: the group's members after this heartbeat, with their current tasks.
        partitions: subtopology id -> task count (the configured topology).
        stateful: subtopologies with state (changelog topics).
        num_standby_replicas: standby replicas per stateful task.
    """
    if not members:
        return {}
    tasks = sorted((s, p) for s, n in partitions.items() for p in range(n))
    ids = sorted(members)
    process_of = {m: members[m].process_id or m for m in ids}
    capacity: dict[str, int] = {}
    for m in ids:
        capacity[process_of[m]] = capacity.get(process_of[m], 0) + 1
    quota = max(1, math.ceil(len(tasks) / len(ids)))
    active: dict[str, set[Task]] = {m: set() for m in ids}
    owner: dict[Task, str] = {}

    def give(task: Task, m: str) -> None:
        active[m].add(task)
        owner[task] = m

    previous: dict[Task, str] = {}
    standby_holders: dict[Task, list[str]] = {}
    for m in ids:
        member = members[m]
        for task in _owned(member.assigned.active) | _owned(member.pending_revocation.active):
            previous[task] = m
        for task in _owned(member.assigned.standby):
            standby_holders.setdefault(task, []).append(m)
    # Sticky passes go partition by partition, so a member keeps the same partitions of
    # every subtopology together (Kafka sorts by partition, then subtopology).
    by_partition = sorted(tasks, key=lambda t: (t[1], t[0]))
    for task in by_partition:  # 1. stickiness to the previous active owner
        m = previous.get(task)
        if m is not None and len(active[m]) < quota:
            give(task, m)
    for task in by_partition:  # 2. previous standby holders, least loaded first
        holders = [m for m in standby_holders.get(task, ()) if len(active[m]) < quota]
        if task not in owner and holders:
            give(task, min(holders, key=lambda m: (len(active[m]), m)))

    def process_load(process: str) -> float:
        return sum(len(active[m]) for m in ids if process_of[m] == process) / capacity[process]

    for task in tasks:  # 3. least loaded process, then member
        if task in owner:
            continue
        candidates = [m for m in ids if len(active[m]) < quota] or ids
        best = min(candidates, key=lambda m: (process_load(process_of[m]), len(active[m]), process_of[m], m))
        give(task, best)

    standby: dict[str, set[Task]] = {m: set() for m in ids}
    if num_standby_replicas > 0:
        for task in tasks:
            if task[0] not in stateful:
                continue
            hosts = {process_of[owner[task]]}
            for _ in range(num_standby_replicas):
                candidates = [m for m in ids if process_of[m] not in hosts]
                if not candidates:
                    break
                best = min(candidates, key=lambda m: (task not in _owned(members[m].assigned.standby),
                                                      len(standby[m]) + len(active[m]), process_of[m], m))
                standby[best].add(task)
                hosts.add(process_of[best])
    return {m: _as_tasks(active[m], standby[m]) for m in ids}
