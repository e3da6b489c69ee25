"""Writing responses: file regions by sendfile, partial sends, slow readers."""

from __future__ import annotations

import errno
import tempfile

import pytest
import trio

from kafkapy.server import sockio

from .helpers import (
    RawDispatcher,
    assert_closed,
    command,
    connect,
    frame,
    pattern,
    read_exactly,
    read_response,
)

FILE_BYTES = 3 * 1024 * 1024 + 17


@pytest.fixture
def file_dispatcher():
    with tempfile.TemporaryFile() as f:
        f.write(pattern(FILE_BYTES))
        f.flush()
        yield RawDispatcher(file_fd=f.fileno())


async def test_file_region_arrives_byte_exact(run_server, file_dispatcher):
    address = await run_server(file_dispatcher)
    expected = pattern(FILE_BYTES)
    regions = [(0, 10), (12345, 2 * 1024 * 1024 + 7), (FILE_BYTES - 1, 1), (100, 0)]
    async with connect(address) as stream:
        # Pipelined, mixed with plain responses, so buffers and regions interleave.
        await stream.send_all(
            b"".join(command(b"F", pos, n) + frame(b"Emid") for pos, n in regions)
        )
        for pos, n in regions:
            assert await read_response(stream) == expected[pos : pos + n]
            assert await read_response(stream) == b"Emid...."


async def test_sendfile_refused_falls_back_to_pread(
    run_server, file_dispatcher, monkeypatch
):
    def refuse(*args):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(sockio.os, "sendfile", refuse)
    address = await run_server(file_dispatcher)
    async with connect(address) as stream:
        await stream.send_all(command(b"F", 5, 1_000_000))
        assert await read_response(stream) == pattern(FILE_BYTES)[5:1_000_005]


async def test_region_past_end_of_file_closes_with_an_error(
    run_server, file_dispatcher, caplog
):
    address = await run_server(file_dispatcher)
    async with connect(address) as stream:
        await stream.send_all(command(b"F", FILE_BYTES - 10, 100))
        head = await read_exactly(stream, 4 + 10)
        assert head[4:] == pattern(FILE_BYTES)[-10:]
        await assert_closed(stream)
    assert any(
        "past the end" in str(r.exc_info[1]) for r in caplog.records if r.exc_info
    )


async def test_large_responses_to_a_slow_reader(run_server, file_dispatcher):
    """Responses far larger than the socket buffers: partial sends and sendfiles."""
    address = await run_server(file_dispatcher)
    big = 16 * 1024 * 1024
    async with connect(address) as slow, connect(address) as other:
        await slow.send_all(
            command(b"B", big) + command(b"F", 1, FILE_BYTES - 1) + frame(b"Eend")
        )
        # The server is stuck writing to `slow`; another connection is unaffected.
        await trio.sleep(0.05)
        await other.send_all(frame(b"Eother"))
        assert await read_response(other) == b"Eother.."
        received = bytearray()
        while len(received) < 4 + big:
            received += await slow.receive_some(min(4096, 4 + big - len(received)))
            if len(received) % (1 << 20) < 4096:
                await trio.sleep(0.001)
        assert bytes(received[4:]) == pattern(big)
        assert await read_response(slow) == pattern(FILE_BYTES)[1:]
        assert await read_response(slow) == b"Eend...."


async def test_peer_reset_while_sending_closes_quietly(run_server, dispatcher, caplog):
    address = await run_server(dispatcher)
    async with connect(address) as stream:
        await stream.send_all(command(b"B", 32 * 1024 * 1024))
        await stream.receive_some(1000)
    # The server sees a broken pipe or a reset on its next send: that is the peer's
    # doing, not a failure worth an error line, and the server keeps serving.
    async with connect(address) as stream:
        await stream.send_all(frame(b"Eagain"))
        assert await read_response(stream) == b"Eagain.."
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
