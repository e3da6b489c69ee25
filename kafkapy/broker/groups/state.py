"""The states of a classic group and every transition between them.

Everything that changes a group's state goes through :func:`next_state`; this file is
the whole state machine (h11's ``_state.py`` layout: a table, then the function that
reads it). Kafka's ``ClassicGroupState`` names and rules (KIP-848 leaves the classic
protocol as it was):

Theory of operation::

    Empty --REBALANCE--> PreparingRebalance --JOIN_COMPLETE--> CompletingRebalance
      ^                       |      ^                              |       |
      |               JOIN_COMPLETE_EMPTY                       REBALANCE  LEADER_SYNC
      |                       v      |                              |       v
      +------- (no members) Empty    +--------- REBALANCE ---------+-- Stable

- **Empty**: no members; the group may still hold committed offsets (a "simple" group
  that only commits, or a consumer group whose members all left). A first JoinGroup
  moves it to PreparingRebalance with the initial delay.
- **PreparingRebalance**: waiting for every known member to (re)join, bounded by the
  largest rebalance timeout of the members. When they have, or time is up, the join
  phase completes: a new generation starts with a protocol and a leader
  (CompletingRebalance), or with nobody left (Empty).
- **CompletingRebalance**: waiting for the leader's assignment in SyncGroup.
- **Stable**: the leader's assignment was stored and handed to every member.
- **Dead**: the group is gone (deleted, expired, or its partition moved away); requests
  for it answer as if it did not exist. No transition leaves Dead.

An event not allowed in the current state is a bug in the coordinator, never a client
error: :class:`IllegalGroupTransition` is raised, and never mapped to an error code.
"""

from __future__ import annotations

import enum


class GroupState(enum.Enum):
    """A classic group's state; ``value`` is the name DescribeGroups/ListGroups report."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


class GroupEvent(enum.Enum):
    """What moves a group from one state to another."""

    #: A member joined, left, failed or changed its metadata (Kafka's prepareRebalance).
    REBALANCE = "rebalance"
    #: The join phase ended with members: a new generation begins.
    JOIN_COMPLETE = "join_complete"
    #: The join phase ended with no member left.
    JOIN_COMPLETE_EMPTY = "join_complete_empty"
    #: The leader's assignment was stored.
    LEADER_SYNC = "leader_sync"
    #: The group is deleted (DeleteGroups, offset expiry) or unloaded.
    REMOVE = "remove"


E = GroupEvent
S = GroupState

#: TRANSITIONS[state][event] -> the new state. Absent pairs are illegal.
TRANSITIONS: dict[GroupState, dict[GroupEvent, GroupState]] = {
    S.EMPTY: {
        E.REBALANCE: S.PREPARING_REBALANCE,
        E.REMOVE: S.DEAD,
    },
    S.PREPARING_REBALANCE: {
        E.JOIN_COMPLETE: S.COMPLETING_REBALANCE,
        E.JOIN_COMPLETE_EMPTY: S.EMPTY,
        E.REMOVE: S.DEAD,
    },
    S.COMPLETING_REBALANCE: {
        E.REBALANCE: S.PREPARING_REBALANCE,
        E.LEADER_SYNC: S.STABLE,
        E.REMOVE: S.DEAD,
    },
    S.STABLE: {
        E.REBALANCE: S.PREPARING_REBALANCE,
        E.REMOVE: S.DEAD,
    },
    S.DEAD: {
        E.REMOVE: S.DEAD,
    },
}

#: States from which a rebalance may start (Kafka's ``canRebalance``).
CAN_REBALANCE = frozenset(s for s, events in TRANSITIONS.items() if E.REBALANCE in events)


class IllegalGroupTransition(RuntimeError):
    """A coordinator bug: an event the current state does not allow."""


def next_state(state: GroupState, event: GroupEvent) -> GroupState:
    """The state ``event`` leads to from ``state``.

    Raises:
        IllegalGroupTransition: the table has no such transition.
    """
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise IllegalGroupTransition(f"group in state {state.value} cannot take event {event.value}") from None


def parse_state(name: str) -> GroupState | None:
    """A state from its name as ListGroups filters give it (case-insensitive), or None."""
    lowered = name.lower()
    return next((s for s in GroupState if s.value.lower() == lowered), None)
