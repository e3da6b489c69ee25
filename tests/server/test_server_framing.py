"""Framing and in-order dispatch on one connection."""

from __future__ import annotations

import trio

from kafkapy.server import ServerSettings

from .helpers import assert_closed, command, connect, frame, read_response


async def test_echo_round_trip(run_server, dispatcher):
    address = await run_server(dispatcher)
    async with connect(address) as stream:
        for i in range(3):
            payload = b"E" + str(i).encode() * 20
            await stream.send_all(frame(payload))
            assert await read_response(stream) == payload
