"""Framing, size limits and in-order dispatch on one connection."""

from __future__ import annotations

import logging
import struct
import tracemalloc

import trio

from kafkapy.server import ServerSettings

from .helpers import (
    RawDispatcher,
    assert_closed,
    command,
    connect,
    frame,
    pattern,
    read_response,
)


async def test_echo_round_trip(run_server, dispatcher):
    address = await run_server(dispatcher)
    async with connect(address) as stream:
        for i in range(3):
            payload = b"E" + str(i).encode() * 20
            await stream.send_all(frame(payload))
            assert await read_response(stream) == payload


async def test_pipelined_requests_are_answered_in_order(run_server, dispatcher):
    # A small receive buffer makes frames straddle reads, and some frames larger than
    # the buffer take the large-frame path, in the middle of the pipeline.
    address = await run_server(dispatcher, ServerSettings(receive_buffer_bytes=4096))
    sizes = [10, 300, 4000, 4092, 4093, 20000, 17, 70000, 9, 4096] * 20
    payloads = [b"E%05d" % i + pattern(size) for i, size in enumerate(sizes)]
    async with connect(address) as stream, trio.open_nursery() as nursery:
        nursery.start_soon(stream.send_all, b"".join(frame(p) for p in payloads))
        for expected in payloads:
            assert await read_response(stream) == expected
    assert [data for _, data in dispatcher.seen] == payloads


async def test_frame_is_writable_and_large_frames_arrive_whole(run_server, dispatcher):
    address = await run_server(dispatcher)
    big = b"P" + pattern(1 << 20)
    async with connect(address) as stream:
        await stream.send_all(frame(big) + frame(b"P" * 100))
        assert await read_response(stream) == b"p" * len(big)
        assert await read_response(stream) == b"p" * 100
    assert dispatcher.seen[0][1] == big


async def test_frame_is_released_after_the_dispatcher_returns(run_server):
    kept = []

    class Keeper(RawDispatcher):
        async def handle(self, conn, frame):
            kept.append(frame)
            return await super().handle(conn, frame)

    address = await run_server(Keeper())
    async with connect(address) as stream:
        await stream.send_all(frame(b"Ehello"))
        assert await read_response(stream) == b"Ehello.."
    try:
        bytes(kept[0])
    except ValueError:
        pass
    else:
        raise AssertionError("a frame kept past handle() must not be readable")


async def test_no_response_is_sent_for_none(run_server, dispatcher):
    address = await run_server(dispatcher)
    async with connect(address) as stream:
        await stream.send_all(frame(b"N1") + frame(b"Eafter") + frame(b"N2"))
        assert await read_response(stream) == b"Eafter.."
        await stream.send_all(frame(b"Elast"))
        assert await read_response(stream) == b"Elast..."
    assert len(dispatcher.seen) == 4


async def test_slow_request_does_not_hold_back_earlier_responses(
    run_server, dispatcher
):
    address = await run_server(dispatcher)
    async with connect(address) as stream:
        await stream.send_all(
            frame(b"Eone") + frame(b"Etwo") + command(b"W", 1) + frame(b"Ethree")
        )
        with trio.fail_after(5):
            assert await read_response(stream) == b"Eone...."
            assert await read_response(stream) == b"Etwo...."
            await dispatcher.arrived(1).wait()
        # Later requests wait for the slow one: Kafka's order on a connection.
        assert [d[:6] for _, d in dispatcher.seen] == [
            b"Eone..",
            b"Etwo..",
            b"W" + bytes(5),
        ]
        dispatcher.gate(1).set()
        assert (await read_response(stream))[:1] == b"W"
        assert await read_response(stream) == b"Ethree.."


async def test_request_size_above_the_maximum_closes(run_server, dispatcher, caplog):
    settings = ServerSettings(socket_request_max_bytes=1000)
    address = await run_server(dispatcher, settings)
    async with connect(address) as stream:
        await stream.send_all(frame(b"E" * 1000))
        assert await read_response(stream) == b"E" * 1000
        await stream.send_all(frame(b"Ebefore") + struct.pack(">i", 1001) + b"E" * 1001)
        assert await read_response(stream) == b"Ebefore."
        await assert_closed(stream)
    assert len(dispatcher.seen) == 2
    messages = [
        r.getMessage() for r in caplog.records if r.name.startswith("kafkapy.server")
    ]
    assert any("invalid request size 1001" in m for m in messages)


async def test_2gib_size_header_closes_without_allocating(run_server, dispatcher):
    tracemalloc.start()
    try:
        address = await run_server(dispatcher)
        async with connect(address) as stream:
            await stream.send_all(struct.pack(">i", 2**31 - 1) + b"E" * 1000)
            await assert_closed(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak traced memory {peak} bytes"
    assert dispatcher.seen == []


async def test_negative_and_tiny_sizes_close(run_server, dispatcher):
    address = await run_server(dispatcher)
    for size in (-1, -(2**31), 0, 7):
        async with connect(address) as stream:
            await stream.send_all(struct.pack(">i", size) + b"E" * 16)
            await assert_closed(stream)
    assert dispatcher.seen == []


async def test_truncated_frames_then_close(run_server, dispatcher):
    address = await run_server(dispatcher, ServerSettings(receive_buffer_bytes=4096))
    # Cut inside the size header, inside a small frame, and inside a large frame.
    for partial in (b"\x00\x00", frame(b"E" * 100)[:50], frame(b"E" * 10000)[:6000]):
        async with connect(address) as stream:
            await stream.send_all(frame(b"Efirst") + partial)
            assert await read_response(stream) == b"Efirst.."
            await stream.send_eof()
            await assert_closed(stream)
    assert [data for _, data in dispatcher.seen] == [b"Efirst.."] * 3


async def test_close_connection_flushes_earlier_responses(
    run_server, dispatcher, caplog
):
    caplog.set_level(logging.DEBUG, logger="kafkapy.server")
    address = await run_server(dispatcher)
    async with connect(address) as stream:
        await stream.send_all(frame(b"Eone") + frame(b"C") + frame(b"Enever"))
        assert await read_response(stream) == b"Eone...."
        await assert_closed(stream)
    assert [data[:1] for _, data in dispatcher.seen] == [b"E", b"C"]
    assert any("asked to close" in r.getMessage() for r in caplog.records)


async def test_context_close_from_the_dispatcher_sends_the_response_first(run_server):
    class Closer(RawDispatcher):
        async def handle(self, conn, frame):
            conn.close()
            return await super().handle(conn, frame)

    address = await run_server(Closer())
    async with connect(address) as stream:
        await stream.send_all(frame(b"Ebye") + frame(b"Enever"))
        assert await read_response(stream) == b"Ebye...."
        await assert_closed(stream)
