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
from collections.abc import Sequence

import trio

from kafkapy.server.dispatch import Chunk, FileRegion

Buffer = bytes | bytearray | memoryview

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


def send_nowait(sock: socket.socket, chunks: Sequence[Chunk]) -> list[Chunk]:
    """Send ``chunks`` in order until the socket would block, without waiting.

    Each run of bytes-like chunks goes out in one call (joined below ``JOIN_BELOW``
    bytes, else one ``sendmsg``); file regions go out by ``os.sendfile``, or by pread
    and send where sendfile is refused. ``chunks`` is not modified.

    Returns:
        What is still to send, in order: [] when everything went out. Its first chunk
        may be the unsent tail of a buffer or of a region.

    Raises:
        ConnectionLost: the socket failed.
        OSError, ValueError: the file side of a region failed (see the module doc).
    """
    i, n = 0, len(chunks)
    while i < n:
        chunk = chunks[i]
        if isinstance(chunk, _BYTES_TYPES):
            j = i + 1
            while j < n and isinstance(chunks[j], _BYTES_TYPES):
                j += 1
            rest = _send_buffers_nowait(sock, chunks[i:j])
            if rest:
                return [*rest, *chunks[j:]]
            i = j
        else:
            rest = _send_region_nowait(sock, chunk)
            if rest:
                return [*rest, *chunks[i + 1 :]]
            i += 1
    return []


async def send_chunks(sock: socket.socket, chunks: Sequence[Chunk]) -> None:
    """Send all of ``chunks``, waiting through trio whenever the socket is full.

    Raises:
        As :func:`send_nowait`.
    """
    rest = send_nowait(sock, chunks)
    while rest:
        await trio.lowlevel.wait_writable(sock)
        rest = send_nowait(sock, rest)


def _send_buffers_nowait(sock: socket.socket, bufs: Sequence[Buffer]) -> list[Buffer]:
    """One run of buffers: what is left after sending until the socket is full."""
    total = sum(map(len, bufs))
    if len(bufs) > 1 and total < JOIN_BELOW:
        bufs = [b"".join(bufs)]
    while total:
        try:
            if len(bufs) == 1:
                sent = sock.send(bufs[0])
            else:
                sent = sock.sendmsg(bufs[:IOV_MAX] if len(bufs) > IOV_MAX else bufs)
        except BlockingIOError:
            return list(bufs)
        except OSError as exc:
            raise ConnectionLost(f"send failed: {exc}") from exc
        total -= sent
        if total:
            bufs = _advance(bufs, sent)
    return []


def _advance(bufs: Sequence[Buffer], sent: int) -> list[Buffer]:
    """What is left of ``bufs`` after ``sent`` bytes went out (a new list)."""
    i = 0
    while sent >= len(bufs[i]):
        sent -= len(bufs[i])
        i += 1
    rest = list(bufs[i:])
    if sent:
        rest[0] = memoryview(rest[0])[sent:]
    return rest


def _send_region_nowait(sock: socket.socket, region: FileRegion) -> list[Chunk]:
    """One file region: what is left of it after sending until the socket is full."""
    fd, position, remaining = region.fd, region.position, region.length
    while remaining > 0:
        try:
            sent = os.sendfile(sock.fileno(), fd, position, remaining)
        except BlockingIOError:
            break
        except OSError as exc:
            if exc.errno in _PEER_ERRNOS:
                raise ConnectionLost(f"sendfile failed: {exc}") from exc
            if exc.errno not in _SENDFILE_UNSUPPORTED:
                raise
            # Refused for this socket or file: send a piece by pread, then try again.
            data = os.pread(fd, min(remaining, _COPY_CHUNK), position)
            if not data:
                raise _past_end(fd, position, remaining) from None
            position += len(data)
            remaining -= len(data)
            rest = _send_buffers_nowait(sock, [data])
            if rest:
                return (
                    [*rest, FileRegion(fd, position, remaining)] if remaining else rest
                )
            continue
        if sent == 0:
            raise _past_end(fd, position, remaining)
        position += sent
        remaining -= sent
    return [FileRegion(fd, position, remaining)] if remaining > 0 else []


def _past_end(fd: int, position: int, remaining: int) -> ValueError:
    return ValueError(
        f"file region (fd={fd}, position={position}, length={remaining}) "
        "extends past the end of its file"
    )
