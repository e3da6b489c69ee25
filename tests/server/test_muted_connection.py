"""A muted connection (``ConnectionContext.muted_until``, set by the broker for a client
over its quota) is not read until the mute ends: its next request stays in the kernel's
receive queue, as Kafka leaves a muted channel's bytes unread. Virtual time (trio's
autojump clock), so nothing here depends on the machine's speed."""

from __future__ import annotations

import fcntl
import socket
import struct
import termios

import trio

from kafkapy.server import ServerSettings
from kafkapy.server.buffers import BufferPool
from kafkapy.server.connection import Connection

from .helpers import RawDispatcher, frame, read_response

MUTE_S = 5.0


class MutingDispatcher(RawDispatcher):
    """Echoes; the first request mutes its connection for MUTE_S seconds."""

    handled_at: list[float]

    async def handle(self, conn, data):
        self.handled_at = getattr(self, "handled_at", [])
        self.handled_at.append(trio.current_time())
        if len(self.handled_at) == 1:
            conn.muted_until = trio.current_time() + MUTE_S
        return await super().handle(conn, data)


async def test_a_muted_connection_is_not_read_until_the_mute_ends(nursery, autojump_clock):
    server_side, client_side = socket.socketpair()
    sock = socket.socket(fileno=server_side.detach())
    sock.setblocking(False)
    dispatcher = MutingDispatcher()
    conn = Connection(sock, connection_id="local-peer-0", listener_name="PLAINTEXT", peer=("peer", 0),
                      local=("local", 0), dispatcher=dispatcher, settings=ServerSettings(), pool=BufferPool())
    nursery.start_soon(conn.run)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(client_side))

    started = trio.current_time()
    await stream.send_all(frame(b"Efirst"))
    assert (await read_response(stream)).startswith(b"Efirst")  # the throttled answer goes out at once
    second = frame(b"Esecond")
    await stream.send_all(second)
    await trio.sleep(MUTE_S / 2)
    unread = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    assert unread == len(second), "the muted connection's next request is still in the kernel"
    assert (await read_response(stream)).startswith(b"Esecond")
    assert dispatcher.handled_at[1] >= started + MUTE_S
    await stream.aclose()
