"""The purgatory: delayed operations woken by notifications, never by polling."""

from __future__ import annotations

import trio
import trio.testing

from kafkapy.broker.purgatory import Purgatory


async def test_completes_at_once_without_waiting():
    p = Purgatory("t")
    assert await p.wait(lambda: True, ["a"], 10.0)
    assert len(p) == 0


async def test_times_out_and_unwatches(autojump_clock):
    p = Purgatory("t")
    start = trio.current_time()
    assert not await p.wait(lambda: False, ["a", "b"], 5.0)
    assert trio.current_time() - start == 5.0
    assert len(p) == 0
    assert p.check_and_complete("a") == 0


async def test_zero_timeout_never_registers():
    p = Purgatory("t")
    assert not await p.wait(lambda: False, ["a"], 0)
    assert len(p) == 0


async def test_notification_wakes_only_satisfied_operations(autojump_clock):
    p = Purgatory("t")
    state = {"a": 0}
    results: dict[str, bool] = {}

    async def waiter(name: str, needed: int) -> None:
        results[name] = await p.wait(lambda: state["a"] >= needed, ["a"], 100.0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter, "one", 1)
        nursery.start_soon(waiter, "two", 2)
        await trio.testing.wait_all_tasks_blocked()
        assert len(p) == 2
        state["a"] = 1
        assert p.check_and_complete("a") == 1
        await trio.testing.wait_all_tasks_blocked()
        assert results == {"one": True}
        assert p.check_and_complete("b") == 0  # nobody watches b
        state["a"] = 2
        assert p.check_and_complete("a") == 1
    assert results == {"one": True, "two": True}
    assert len(p) == 0


async def test_operation_on_several_keys_is_woken_once(autojump_clock):
    p = Purgatory("t")
    woken = []

    async def waiter() -> None:
        woken.append(await p.wait(lambda: ready[0], ["x", "y"], 100.0))

    ready = [False]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        ready[0] = True
        assert p.check_and_complete("y") == 1
        assert p.check_and_complete("x") == 0  # already completed and unwatched
    assert woken == [True]


async def test_complete_all_wakes_regardless_of_predicate(autojump_clock):
    p = Purgatory("t")
    outcome = []

    async def waiter() -> None:
        outcome.append(await p.wait(lambda: False, ["k"], 100.0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert p.complete_all("k") == 1
    assert outcome == [True]
