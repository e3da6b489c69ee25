"""Per-connection warnings a peer can cause are rate-limited (kafkapy.log_rate)."""

from __future__ import annotations

import logging
import struct

import trio

from kafkapy.server import ServerSettings

from .helpers import assert_closed, connect, frame, read_response

_I32 = struct.Struct(">i")


async def test_bad_size_headers_log_a_burst_not_a_line_each(run_server, dispatcher, caplog):
    caplog.set_level(logging.WARNING, logger="kafkapy.server")
    address = await run_server(dispatcher, ServerSettings(socket_request_max_bytes=1000))
    for _ in range(40):
        async with connect(address) as stream:
            await stream.send_all(_I32.pack(5000) + b"x" * 8)
            with trio.fail_after(10):
                await assert_closed(stream)
    # Each bad connection is still closed; a good one is still served.
    async with connect(address) as stream:
        await stream.send_all(frame(b"Efine"))
        assert await read_response(stream) == b"Efine..."
    warnings = [r for r in caplog.records if "invalid request size" in r.getMessage()]
    assert 1 <= len(warnings) <= 10
