"""TLS connections (SSL and SASL_SSL listeners): Python's ssl module on the raw
non-blocking socket, driven through trio's ``wait_readable``/``wait_writable``.

A :class:`TlsConnection` is a :class:`~kafkapy.server.connection.Connection` whose
four transport methods go through an ``ssl.SSLSocket`` (wrapped with
``do_handshake_on_connect=False``); framing, dispatch, memory bounds and the flusher
are the plaintext connection's, unchanged, and PLAINTEXT connections never touch
this module.

Theory of operation
-------------------
Handshake: :meth:`TlsConnection._serve_requests` drives ``do_handshake`` until it
completes, waiting for readability on ``SSLWantReadError`` and writability on
``SSLWantWriteError``; then the listener's :class:`TlsEndpoint` sees the peer (the
broker stores the certificate's principal in the connection's state), and the
connection serves requests. A handshake that fails (a plaintext client, a client
that does not trust the broker, a missing client certificate under
``ssl.client.auth=required``) closes the connection with one rate-limited log line,
as Kafka's ``SslTransportLayer`` does ("SSL handshake failed"); nothing is ever
served in plaintext. A client that stalls mid-handshake is closed by the idle
reaper (``connections.max.idle.ms``).

Receive: ``SSLSocket.recv_into`` decrypts one record's worth at a time; the
connection calls it until it would block before it waits, so no decrypted bytes are
ever left in OpenSSL while the task sleeps (``pending()`` is checked anyway).

Send: no zero-copy over TLS (Kafka's ``SslTransportLayer.transferFrom`` also reads
file regions into a buffer to encrypt them): runs of buffers and file regions
(read with ``os.pread``) are gathered into pieces of up to ``_PIECE`` bytes, each
written with one ``SSLSocket.send``. OpenSSL writes a piece whole or raises
``SSLWantWriteError``, and then the same piece must be written again (the
``_InFlight`` marker at the head of what is left), not the bytes that follow.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Sequence
from typing import Any, Protocol

import trio

from kafkapy.server.connection import Connection
from kafkapy.server.dispatch import Chunk, ConnectionContext, FileRegion
from kafkapy.server.sockio import ConnectionLost

logger = logging.getLogger("kafkapy.server.tls")

# Bytes per SSLSocket.send: OpenSSL cuts them into 16 KiB records; larger pieces mean
# fewer calls, and a pread of a region's piece is one copy either way.
_PIECE = 256 * 1024
_BYTES_TYPES = (bytes, bytearray, memoryview)


class TlsEndpoint(Protocol):
    """What a TLS listener needs from the broker: its server context, and a look at
    each peer once its handshake is done."""

    context: ssl.SSLContext

    def on_handshake(self, conn: ConnectionContext, peer_certificate: dict[str, Any] | None) -> None:
        """Called once per connection after the handshake, with ``getpeercert()``
        (None without a client certificate); raising closes the connection."""


class _InFlight:
    """A piece OpenSSL has started to write: it must be written again as is."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class TlsConnection(Connection):
    """A connection on an SSL or SASL_SSL listener (see the module docstring)."""

    __slots__ = ("_tls", "_wants_write")

    def __init__(self, sock: ssl.SSLSocket, *, tls: TlsEndpoint, **kwargs: Any) -> None:
        super().__init__(sock, **kwargs)
        self._tls = tls
        # The last operation asked for writability (SSLWantWriteError) rather than data.
        self._wants_write = False

    async def _serve_requests(self) -> None:
        if not await self._handshake():
            return
        await super()._serve_requests()

    async def _handshake(self) -> bool:
        sock: ssl.SSLSocket = self.sock  # type: ignore[assignment]
        while True:
            try:
                sock.do_handshake()
                break
            except ssl.SSLWantReadError:
                await trio.lowlevel.wait_readable(sock)
            except ssl.SSLWantWriteError:
                await trio.lowlevel.wait_writable(sock)
            except (ssl.SSLError, OSError) as exc:
                self._log.info(
                    "TLS handshake failed",
                    "%s: failed authentication (SSL handshake failed): %s",
                    self.connection_id,
                    getattr(exc, "reason", None) or exc,
                )
                return False
            self.touched = True
        try:
            self._tls.on_handshake(self.context, sock.getpeercert() or None)
        except Exception as exc:  # noqa: BLE001 - a peer the broker refuses: one line, then close
            self._log.info(
                "TLS peer refused",
                "%s: failed authentication: %s",
                self.connection_id,
                exc,
            )
            return False
        logger.debug("%s: TLS %s established (%s)", self.connection_id, sock.version(), sock.cipher())
        return True

    def _recv_into_nowait(self, buf: memoryview) -> int | None:
        try:
            n: int = self.sock.recv_into(buf)
        except ssl.SSLWantReadError:
            self._wants_write = False
            return None
        except ssl.SSLWantWriteError:
            self._wants_write = True
            return None
        except ssl.SSLZeroReturnError:
            return 0
        except OSError as exc:
            raise ConnectionLost(f"TLS receive failed: {exc}") from exc
        return n

    async def _wait_readable(self) -> None:
        sock: ssl.SSLSocket = self.sock  # type: ignore[assignment]
        if sock.pending():
            await trio.lowlevel.checkpoint()
        elif self._wants_write:
            self._wants_write = False
            await trio.lowlevel.wait_writable(sock)
        else:
            await trio.lowlevel.wait_readable(sock)

    def _send_nowait(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        sock: ssl.SSLSocket = self.sock  # type: ignore[assignment]
        rest = list(chunks)
        while rest:
            head = rest[0]
            if isinstance(head, _InFlight):
                piece = head.data
                del rest[0]
            else:
                piece, rest = _next_piece(rest)
            try:
                sent = sock.send(piece)
            except ssl.SSLWantWriteError:
                self._wants_write = True
                return [_InFlight(piece), *rest]  # type: ignore[list-item]
            except ssl.SSLWantReadError:
                self._wants_write = False
                return [_InFlight(piece), *rest]  # type: ignore[list-item]
            except OSError as exc:
                raise ConnectionLost(f"TLS send failed: {exc}") from exc
            if sent < len(piece):  # only with SSL_MODE_ENABLE_PARTIAL_WRITE, which Python does not set
                rest.insert(0, memoryview(piece)[sent:])
        return []

    async def _send_all(self, rest: list[Chunk]) -> None:
        sock = self.sock
        while rest:
            if self._wants_write:
                await trio.lowlevel.wait_writable(sock)
            else:
                await trio.lowlevel.wait_readable(sock)
            rest = self._send_nowait(rest)


def _next_piece(chunks: list[Chunk]) -> tuple[bytes, list[Chunk]]:
    """Up to ``_PIECE`` bytes from the head of ``chunks`` (buffers copied, file regions
    read), and the chunks left after them (the tail of a cut chunk first)."""
    parts: list[Any] = []
    size = 0
    i, n = 0, len(chunks)
    tail: Chunk | None = None
    while i < n and size < _PIECE:
        chunk = chunks[i]
        room = _PIECE - size
        if isinstance(chunk, _BYTES_TYPES):
            length = len(chunk)
            if length > room:
                view = memoryview(chunk)
                parts.append(view[:room])
                tail = view[room:]
                size += room
                i += 1
                break
            parts.append(chunk)
            size += length
        else:
            fd, position, length = chunk.fd, chunk.position, chunk.length
            want = min(length, room)
            data = os.pread(fd, want, position)
            if len(data) < want:
                raise ValueError(
                    f"file region (fd={fd}, position={position}, length={length}) "
                    "extends past the end of its file"
                )
            parts.append(data)
            size += want
            if want < length:
                tail = FileRegion(fd, position + want, length - want)
                i += 1
                break
        i += 1
    piece = parts[0] if len(parts) == 1 and isinstance(parts[0], bytes) else b"".join(parts)
    rest = chunks[i:]
    if tail is not None:
        rest.insert(0, tail)
    return piece, rest
