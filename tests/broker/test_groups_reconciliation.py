"""Properties of KIP-848 assignment and reconciliation, on the coordinator's pure parts.

The assignors give every partition of a subscribed topic to exactly one subscriber,
balanced; reconciliation never lets two members own a partition at once, whatever
order members heartbeat in, and brings every member to its target.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kafkapy.broker.groups.assignors import range_assignor, uniform
from kafkapy.broker.groups.consumer_group import (
    ConsumerGroup,
    ConsumerMember,
    MemberState,
    reconcile,
)

TOPICS = {bytes([i]) * 16: n for i, n in enumerate((1, 3, 4, 7), start=1)}

subscriptions = st.dictionaries(
    st.sampled_from([f"m{i}" for i in range(6)]),
    st.frozensets(st.sampled_from(sorted(TOPICS)), min_size=1),
    min_size=1,
)


def owners(assignment: dict) -> dict:
    out: dict = {}
    for member, a in assignment.items():
        for topic, ps in a.items():
            for p in ps:
                assert (topic, p) not in out, "a partition with two owners"
                out[(topic, p)] = member
    return out


@settings(max_examples=200, deadline=None)
@given(subs=subscriptions, previous_subs=subscriptions)
def test_assignors_give_each_subscribed_partition_to_one_subscriber(subs, previous_subs):
    previous = uniform(previous_subs, TOPICS, {})
    for assignor in (uniform, range_assignor):
        result = assignor(subs, TOPICS, previous)
        by_partition = owners(result)
        expected = {(t, p) for m, ts in subs.items() for t in ts for p in range(TOPICS[t])}
        assert set(by_partition) == expected
        assert all(tp[0] in subs[m] for tp, m in by_partition.items())


@settings(max_examples=200, deadline=None)
@given(subs=subscriptions, previous_subs=subscriptions)
def test_uniform_balances_homogeneous_groups_and_keeps_what_it_can(subs, previous_subs):
    topics = frozenset(TOPICS)
    same = dict.fromkeys(subs, topics)
    previous = uniform(dict.fromkeys(previous_subs, topics), TOPICS, {})
    result = uniform(same, TOPICS, previous)
    counts = [sum(len(ps) for ps in a.values()) for a in result.values()]
    assert max(counts) - min(counts) <= 1
    floor = sum(TOPICS.values()) // len(same)
    for m, before in previous.items():
        if m in same and sum(len(ps) for ps in before.values()) <= floor:
            assert all(ps <= result[m].get(t, frozenset()) for t, ps in before.items())


@settings(max_examples=150, deadline=None)
@given(first=subscriptions, second=subscriptions, order=st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=200))
def test_reconciliation_never_gives_a_partition_two_owners(first, second, order):
    """Members converge from the first target to the second, heartbeating in ``order``
    and revoking when told to (at once, or a heartbeat later); no partition ever has
    two owners."""
    group = ConsumerGroup("g")
    target1 = uniform(first, TOPICS, {})
    for m in first:
        group.put_member(ConsumerMember(m, member_epoch=1, assigned=target1[m]))
    group.target = uniform(second, TOPICS, target1)
    for m in set(first) - set(second):
        group.remove_member(m)
    for m in set(second) - set(first):
        group.put_member(ConsumerMember(m))
    members = sorted(second)

    def heartbeat(m: str, revoked: bool = True) -> None:
        member = group.members[m]
        # The client reports what it owns: with what it was told to revoke, until it has.
        owned = member.assigned if revoked else _owned(member)
        group.put_member(reconcile(member, 2, group.target.get(m, {}), group.owner_epoch, owned))
        owners({x.member_id: _owned(x) for x in group.members.values()})

    for i, revoked in order:
        heartbeat(members[i % len(members)], revoked)
    for _ in range(4):  # then everyone heartbeats until nothing moves
        for m in members:
            heartbeat(m)
    for m in members:
        member = group.members[m]
        assert (member.state, member.member_epoch) == (MemberState.STABLE, 2)
        assert member.assigned == {t: ps for t, ps in group.target.get(m, {}).items() if ps}


def _owned(member: ConsumerMember) -> dict:
    out: dict = {}
    for t, p in member.owned():
        out.setdefault(t, set()).add(p)
    return {t: frozenset(ps) for t, ps in out.items()}
