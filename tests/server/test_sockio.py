"""The socket edge: partial sends, many buffers, error translation."""

from __future__ import annotations

import itertools
import socket
import tempfile

import pytest
import trio

from kafkapy.server import FileRegion, sockio

from .helpers import pattern


def _pair(sndbuf: int = 4096) -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    a.setblocking(False)
    return a, b


async def _drain(sock: socket.socket, n: int) -> bytes:
    tsock = trio.socket.from_stdlib_socket(sock)
    out = bytearray()
    while len(out) < n:
        out += await tsock.recv(min(1000, n - len(out)))
    return bytes(out)


async def test_partial_sends_of_many_buffers():
    a, b = _pair()
    data = pattern(3_000_000)
    view = memoryview(data)
    # More buffers than IOV_MAX, of uneven sizes, plus empty ones.
    cuts = list(range(0, len(data), 997)) + [len(data)]
    bufs = [view[i:j] for i, j in itertools.pairwise(cuts)] + [b""]
    assert len(bufs) > sockio.IOV_MAX
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sockio.send_chunks, a, bufs)
        assert await _drain(b, len(data)) == data
    a.close()
    b.close()


def test_small_buffers_are_joined_into_one_send():
    a, b = _pair(sndbuf=1 << 20)
    calls = []

    class Recording(socket.socket):
        def send(self, data, *args):
            calls.append(("send", bytes(data)))
            return super().send(data, *args)

    rec = Recording(fileno=a.detach())
    assert sockio.send_nowait(rec, [b"ab", b"cd", bytearray(b"ef")]) == []
    assert calls == [("send", b"abcdef")]
    assert b.recv(100) == b"abcdef"
    rec.close()
    b.close()


def test_advance():
    rest = sockio._advance([b"abc", b"de", b"f"], 4)
    assert [bytes(b) for b in rest] == [b"e", b"f"]
    assert sockio._advance([b"abc", b"de", b"f"], 5) == [b"f"]


async def test_socket_errors_become_connection_lost():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.close()
    with pytest.raises(sockio.ConnectionLost):
        for _ in range(100):
            await sockio.send_chunks(a, [b"x" * 65536])
    a.close()


def test_send_nowait_returns_what_the_socket_did_not_take():
    a, b = _pair(sndbuf=4096)
    with tempfile.TemporaryFile() as region_file, a, b:
        region_file.write(pattern(1 << 20))
        region_file.flush()
        chunks = [b"head", FileRegion(region_file.fileno(), 0, 1 << 20), b"tail"]
        rest = sockio.send_nowait(a, chunks)
        # The socket filled up inside the region: the rest starts where it stopped.
        assert isinstance(rest[0], FileRegion) and rest[-1] == b"tail"
        sent = (1 << 20) - rest[0].length
        assert rest[0].position == sent and sent > 0
        received = bytearray()
        while len(received) < 4 + sent:
            received += b.recv(65536)
        assert bytes(received) == b"head" + pattern(1 << 20)[:sent]
        assert chunks[0] == b"head"  # the input list is untouched
