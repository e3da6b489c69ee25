"""A small dispatcher over raw frames, and client helpers, for the server's tests.

Frame layout: one command byte, then arguments. Every frame is padded to at least
the server's minimum request size.

    E...   echo the frame back
    W<k>   wait until gate k is opened, then echo
    N      no response
    C      raise CloseConnection
    X      raise RuntimeError (a dispatcher bug)
    F      answer with the test file's region given by two int64s (position, length)
    B<n>   answer with n bytes of a known pattern, in 64 KiB chunks (n an int64)
    P      overwrite the frame in place with 'p's, then echo it (frame is writable)
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from kafkapy.server import BoundAddress, CloseConnection, ConnectionContext, FileRegion
from kafkapy.server.connection import MIN_REQUEST_BYTES

_I32 = struct.Struct(">i")
_Q = struct.Struct(">q")


def pattern(n: int) -> bytes:
    """n bytes of a pattern that catches reordered or dropped chunks."""
    unit = bytes(range(251))
    return (unit * (n // len(unit) + 1))[:n]


def frame(payload: bytes) -> bytes:
    """A size-prefixed request frame, padded to the minimum request size."""
    payload = payload.ljust(MIN_REQUEST_BYTES, b".")
    return _I32.pack(len(payload)) + payload


def command(cmd: bytes, *ints: int) -> bytes:
    return frame(cmd + b"".join(_Q.pack(i) for i in ints))


@dataclass
class RawDispatcher:
    """Handles the commands above; records the frames it saw, per connection."""

    file_fd: int = -1
    gates: dict[int, trio.Event] = field(default_factory=dict)
    seen: list[tuple[str, bytes]] = field(default_factory=list)
    started: dict[int, trio.Event] = field(default_factory=dict)

    def gate(self, key: int) -> trio.Event:
        return self.gates.setdefault(key, trio.Event())

    def arrived(self, key: int) -> trio.Event:
        return self.started.setdefault(key, trio.Event())

    async def handle(self, conn: ConnectionContext, frame: memoryview) -> list | None:
        data = bytes(frame)
        self.seen.append((conn.connection_id, data))
        cmd = data[:1]
        if cmd == b"E":
            return [_I32.pack(len(frame)), data]
        if cmd == b"W":
            key = _Q.unpack_from(data, 1)[0]
            self.arrived(key).set()
            await self.gate(key).wait()
            return [_I32.pack(len(data)), data]
        if cmd == b"N":
            return None
        if cmd == b"C":
            raise CloseConnection("asked to close")
        if cmd == b"X":
            raise RuntimeError("dispatcher bug")
        if cmd == b"F":
            position, length = struct.unpack_from(">qq", data, 1)
            return [_I32.pack(length), FileRegion(self.file_fd, position, length)]
        if cmd == b"B":
            n = _Q.unpack_from(data, 1)[0]
            body = memoryview(pattern(n))
            return [_I32.pack(n)] + [body[i : i + 65536] for i in range(0, n, 65536)]
        if cmd == b"P":
            frame[:] = b"p" * len(frame)
            return [_I32.pack(len(frame)), bytes(frame)]
        raise AssertionError(f"unknown test command {cmd!r}")


async def read_exactly(stream: trio.SocketStream, n: int) -> bytes:
    """n bytes from stream; fewer only if it hits EOF."""
    chunks = []
    while n:
        data = await stream.receive_some(min(n, 1 << 20))
        if not data:
            break
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


async def read_response(stream: trio.SocketStream) -> bytes | None:
    """The next response frame's payload, or None at EOF."""
    head = await read_exactly(stream, 4)
    if len(head) < 4:
        return None
    (size,) = _I32.unpack(head)
    body = await read_exactly(stream, size)
    assert len(body) == size, "response cut short"
    return body


async def assert_closed(stream: trio.SocketStream) -> None:
    """The server closed the connection: EOF (or a reset) with nothing more to read."""
    try:
        data = await stream.receive_some(65536)
    except trio.BrokenResourceError:
        return
    assert data == b"", f"expected EOF, got {data[:40]!r}"


@asynccontextmanager
async def connect(address: BoundAddress) -> AsyncIterator[trio.SocketStream]:
    stream = await trio.open_tcp_stream(address.host, address.port)
    async with stream:
        yield stream
