"""Graceful shutdown and cancellation."""

from __future__ import annotations

import trio

from kafkapy.server import Listener, ServerSettings, serve

from .helpers import (
    RawDispatcher,
    assert_closed,
    command,
    connect,
    frame,
    read_response,
)


async def _start(nursery, dispatcher, settings=None):
    stop = trio.Event()
    done = trio.Event()

    async def run(task_status):
        try:
            await serve(
                [Listener("PLAINTEXT", "127.0.0.1", 0)],
                dispatcher,
                settings=settings,
                shutdown_trigger=stop.wait,
                task_status=task_status,
            )
        finally:
            done.set()

    addresses = await nursery.start(run)
    return addresses[0], stop, done


async def test_graceful_shutdown_completes_requests_in_flight(nursery):
    dispatcher = RawDispatcher()
    address, stop, done = await _start(nursery, dispatcher)
    async with connect(address) as busy, connect(address) as idle:
        await idle.send_all(frame(b"Ehello"))
        assert await read_response(idle) == b"Ehello.."
        # Pipelined behind the slow request: read ahead, but not yet started.
        await busy.send_all(command(b"W", 1) + frame(b"Enot-started"))
        await dispatcher.arrived(1).wait()
        stop.set()
        with trio.fail_after(5):
            await assert_closed(idle)
        # No new connections once shutdown has begun.
        try:
            await trio.open_tcp_stream(address.host, address.port)
        except OSError:
            pass
        else:
            raise AssertionError("listener still open during shutdown")
        assert not done.is_set()
        dispatcher.gate(1).set()
        with trio.fail_after(5):
            assert (await read_response(busy))[:1] == b"W"
            await assert_closed(busy)
            await done.wait()
    assert [d[:1] for _, d in dispatcher.seen] == [b"E", b"W"]


async def test_grace_period_bounds_shutdown(autojump_clock, nursery):
    dispatcher = RawDispatcher()
    address, stop, done = await _start(
        nursery, dispatcher, ServerSettings(shutdown_grace_ms=2000)
    )
    async with connect(address) as stuck:
        await stuck.send_all(command(b"W", 1))
        await dispatcher.arrived(1).wait()
        began = trio.current_time()
        stop.set()
        await done.wait()
        assert trio.current_time() - began >= 2
        await assert_closed(stuck)


async def test_cancellation_closes_everything(nursery):
    dispatcher = RawDispatcher()
    scope = trio.CancelScope()

    async def run(task_status):
        with scope:
            await serve(
                [Listener("PLAINTEXT", "127.0.0.1", 0)],
                dispatcher,
                task_status=task_status,
            )

    (address,) = await nursery.start(run)
    async with connect(address) as stream:
        await stream.send_all(command(b"W", 1))
        await dispatcher.arrived(1).wait()
        scope.cancel()
        with trio.fail_after(5):
            await assert_closed(stream)
