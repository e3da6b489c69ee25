"""The socket edge: non-blocking socket calls, waiting through trio only when they
would block, and the one place where socket ``OSError``s become :class:`ConnectionLost`.

The hot path calls the standard library socket's non-blocking methods directly and
waits with ``trio.lowlevel.wait_readable``/``wait_writable`` only on
``BlockingIOError``: trio's ``SocketStream`` costs ~16 us per request here, this path
~4 us (research/ceilings.md).

Error handling:
    Any ``OSError`` from a socket call (reset, broken pipe, ...) raises
    :class:`ConnectionLost` with the ``OSError`` as its cause. Errors on the file side
    of a file region (a bad fd, an I/O error, a region past the end of its file) are not
    the peer's doing and propagate unchanged, to be logged as failures.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable

import trio

from kafkapy.server.dispatch import FileRegion, Response

# Below this total, a run of buffers is joined into one (one copy, one plain send);
# above it, the buffers go out uncopied through one sendmsg.
JOIN_BELOW = 16384
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
# sendfile is refused on sockets it cannot serve (TLS later, some file systems).
_SENDFILE_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})
# sendfile errors that are the peer's doing rather than the file's.
_PEER_ERRNOS = frozenset(
    {
        errno.EPIPE,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ENOTCONN,
        errno.ESHUTDOWN,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
    }
)
_COPY_CHUNK = 256 * 1024
_BYTES_TYPES = (bytes, bytearray, memoryview)


class ConnectionLost(Exception):
    """The peer went away or the socket failed; the connection cannot continue."""


def recv_into_nowait(sock: socket.socket, buf: memoryview) -> int | None:
    """Read what is available into ``buf``: the byte count, 0 at EOF, None if none yet."""
    try:
        return sock.recv_into(buf)
    except BlockingIOError:
        return None
    except OSError as exc:
        raise ConnectionLost(f"receive failed: {exc}") from exc


async def send_responses(sock: socket.socket, responses: Iterable[Response]) -> None:
    """Write responses in order: each run of buffers in one send, regions by sendfile.

    Args:
        sock: a connected non-blocking socket.
        responses: lists of chunks, bytes-like (byte-format) or file regions.

    Raises:
        ConnectionLost: the socket failed.
    """
    run: list[bytes | bytearray | memoryview] = []
    for response in responses:
        for chunk in response:
            if isinstance(chunk, _BYTES_TYPES):
                run.append(chunk)
            else:
                if run:
                    await send_buffers(sock, run)
                    run = []
                await send_region(sock, chunk)
    if run:
        await send_buffers(sock, run)


async def send_buffers(
    sock: socket.socket, bufs: list[bytes | bytearray | memoryview]
) -> None:
    """Send all of ``bufs``, joining small runs, handling partial sends.

    ``bufs`` is not modified.
    """
    total = sum(map(len, bufs))
    if total == 0:
        return
    if len(bufs) > 1 and total < JOIN_BELOW:
        bufs = [b"".join(bufs)]
    while True:
        try:
            if len(bufs) == 1:
                sent = sock.send(bufs[0])
            else:
                sent = sock.sendmsg(bufs[:IOV_MAX] if len(bufs) > IOV_MAX else bufs)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        except OSError as exc:
            raise ConnectionLost(f"send failed: {exc}") from exc
        total -= sent
        if total == 0:
            return
        bufs = _advance(bufs, sent)


def _advance(
    bufs: list[bytes | bytearray | memoryview], sent: int
) -> list[bytes | bytearray | memoryview]:
    """What is left of ``bufs`` after ``sent`` bytes went out (a new list)."""
    i = 0
    while sent >= len(bufs[i]):
        sent -= len(bufs[i])
        i += 1
    rest = bufs[i:]
    if sent:
        rest[0] = memoryview(rest[0])[sent:]
    return rest


async def send_region(sock: socket.socket, region: FileRegion) -> None:
    """Send a file region with ``os.sendfile``, or by pread+send where it is refused.

    Raises:
        ConnectionLost: the socket failed.
        OSError, ValueError: the file side failed (bad fd, I/O error, region past EOF).
    """
    out = sock.fileno()
    position, remaining = region.position, region.length
    while remaining > 0:
        try:
            sent = os.sendfile(out, region.fd, position, remaining)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        except OSError as exc:
            if exc.errno in _PEER_ERRNOS:
                raise ConnectionLost(f"sendfile failed: {exc}") from exc
            if exc.errno in _SENDFILE_UNSUPPORTED:
                await _send_region_by_copy(sock, region.fd, position, remaining)
                return
            raise
        if sent == 0:
            raise ValueError(
                f"file region {_describe(region)} extends past the end of its file"
            )
        position += sent
        remaining -= sent


async def _send_region_by_copy(
    sock: socket.socket, fd: int, position: int, remaining: int
) -> None:
    """The sendfile fallback: pread into one reused buffer, then send."""
    buf = memoryview(bytearray(min(remaining, _COPY_CHUNK)))
    while remaining > 0:
        n = os.preadv(fd, [buf[: min(remaining, len(buf))]], position)
        if n == 0:
            raise ValueError(f"file region of fd {fd} extends past the end of its file")
        await send_buffers(sock, [buf[:n]])
        position += n
        remaining -= n


def _describe(region: FileRegion) -> str:
    return f"(fd={region.fd}, position={region.position}, length={region.length})"
