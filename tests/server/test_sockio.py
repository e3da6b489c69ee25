"""The socket edge: partial sends, many buffers, error translation."""

from __future__ import annotations

import itertools
import socket

import pytest
import trio

from kafkapy.server import sockio

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
        nursery.start_soon(sockio.send_buffers, a, bufs)
        assert await _drain(b, len(data)) == data
    a.close()
    b.close()


async def test_small_buffers_are_joined_into_one_send():
    a, b = _pair(sndbuf=1 << 20)
    calls = []

    class Recording(socket.socket):
        def send(self, data, *args):
            calls.append(("send", bytes(data)))
            return super().send(data, *args)

    rec = Recording(fileno=a.detach())
    await sockio.send_responses(rec, [[b"ab", b"cd"], [bytearray(b"ef")]])
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
            await sockio.send_buffers(a, [b"x" * 65536])
    a.close()
