"""The streams groups' sticky task assignor as a pure function: balance, stickiness,
standby replicas on other processes."""

from __future__ import annotations

from kafkapy.broker.streams.assignor import assign
from kafkapy.broker.streams.group import StreamsMember
from kafkapy.broker.streams.records import Tasks


def _member(member_id: str, process: str, active: dict[str, set[int]] | None = None,
            standby: dict[str, set[int]] | None = None) -> StreamsMember:
    return StreamsMember(member_id, process_id=process, assigned=Tasks(
        {s: frozenset(p) for s, p in (active or {}).items()}, {s: frozenset(p) for s, p in (standby or {}).items()},
        {}))


def _active(target: dict[str, Tasks], m: str) -> set[tuple[str, int]]:
    return {(s, p) for s, ps in target[m].active.items() for p in ps}


def test_every_task_once_and_balanced() -> None:
    members = {f"m{i}": _member(f"m{i}", f"p{i}") for i in range(3)}
    target = assign(members, {"0": 4, "1": 4}, set(), 0)
    everything = [t for m in members for t in _active(target, m)]
    assert sorted(everything) == sorted((s, p) for s in ("0", "1") for p in range(4))
    assert sorted(len(_active(target, m)) for m in members) == [2, 3, 3]
    assert all(not t.standby and not t.warmup for t in target.values())


def test_previous_owners_keep_their_tasks() -> None:
    members = {"a": _member("a", "pa", {"0": {0, 1, 2, 3}}), "b": _member("b", "pb")}
    target = assign(members, {"0": 4}, set(), 0)
    # a keeps two of its four (its share), b gets the other two; nothing else moves.
    assert _active(target, "a") <= {("0", p) for p in range(4)} and len(_active(target, "a")) == 2
    assert _active(target, "a") | _active(target, "b") == {("0", p) for p in range(4)}
    again = assign({"a": _member("a", "pa", {"0": {p for _, p in _active(target, "a")}}),
                    "b": _member("b", "pb", {"0": {p for _, p in _active(target, "b")}})}, {"0": 4}, set(), 0)
    assert again == target


def test_a_task_without_owner_goes_to_its_standby_holder() -> None:
    members = {"a": _member("a", "pa"), "b": _member("b", "pb", standby={"0": {1}})}
    target = assign(members, {"0": 2}, {"0"}, 0)
    assert ("0", 1) in _active(target, "b")


def test_standbys_only_for_stateful_subtopologies_and_never_on_the_active_process() -> None:
    members = {"a1": _member("a1", "pa"), "a2": _member("a2", "pa"), "b": _member("b", "pb")}
    target = assign(members, {"stateful": 3, "stateless": 3}, {"stateful"}, 1)
    process = {"a1": "pa", "a2": "pa", "b": "pb"}
    for s, p in [("stateful", i) for i in range(3)]:
        owner = next(m for m in members if (s, p) in _active(target, m))
        holders = [m for m in members if p in target[m].standby.get(s, frozenset())]
        assert len(holders) == 1 and process[holders[0]] != process[owner]
    assert all("stateless" not in t.standby for t in target.values())


def test_one_process_has_no_standby_elsewhere() -> None:
    members = {"a1": _member("a1", "pa"), "a2": _member("a2", "pa")}
    target = assign(members, {"0": 2}, {"0"}, 1)
    assert all(not t.standby for t in target.values())


def test_a_shrinking_owner_keeps_whole_partitions_across_subtopologies() -> None:
    members = {"a": _member("a", "pa", {"0": {0, 1}, "1": {0, 1}}), "b": _member("b", "pb")}
    target = assign(members, {"0": 2, "1": 2}, set(), 0)
    assert _active(target, "a") == {("0", 0), ("1", 0)}
    assert _active(target, "b") == {("0", 1), ("1", 1)}
