"""The edge between the server and the broker: what a dispatcher gets and returns.

The server only frames: it reads ``int32 size`` + frame and writes what it is given.
A :class:`Dispatcher` does the rest (request header, handler, response encoding, the
response's own size prefix). Fault injection wraps a dispatcher at this edge.

The frame contract:
    ``handle(conn, frame)`` receives the request frame (without its size prefix) as a
    WRITABLE memoryview into a pooled receive buffer. The log patches a batch's base
    offset in it in place, so record bytes are never copied. The view is valid only
    until ``handle`` returns (or raises): the server then releases it and reuses the
    buffer for later requests. Anything kept longer (a batch stored in memory, a
    response chunk) must be copied first, e.g. ``bytes(frame[a:b])``.

The response contract:
    ``handle`` returns a list of chunks, sent in order as one response: bytes-like
    chunks (``bytes``, ``bytearray``, byte-format ``memoryview``) and
    :class:`kafkapy.wire.buffers.FileRegion` pieces (any object with ``fd``,
    ``position`` and ``length`` will do), which are sent with ``os.sendfile``. The fd must stay open until the response is
    written. ``None`` means no response (a produce with acks=0).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Protocol, TypeAlias

from kafkapy.wire.buffers import Chunk, FileRegion

logger = logging.getLogger(__name__)

Address: TypeAlias = tuple[str, int]
#: One response: its chunks in order (see the module docstring).
Response: TypeAlias = Sequence[Chunk]

__all__ = [
    "Address",
    "Chunk",
    "CloseConnection",
    "ConnectionContext",
    "Dispatcher",
    "FileRegion",
    "Response",
]


class CloseConnection(Exception):
    """Raised by a dispatcher: flush the responses before this request, then close.

    Kafka closes the connection for an unknown API key or unsupported version
    (ApiVersions aside) and for any error on an acks=0 produce, which has no response
    to carry it. The message is logged at debug level.
    """


class ConnectionContext:
    """What a dispatcher knows of the connection a request came on.

    Attributes:
        connection_id: Kafka's form, ``local_ip:port-peer_ip:port-index``.
        listener_name: the name of the listener that accepted it (``PLAINTEXT``, ...).
        peer: the client's (host, port).
        local: the (host, port) the client connected to.
        state: per-connection state owned by the dispatcher (SASL, client software
            name from ApiVersions, ...); the server never reads it.
        muted_until: a ``trio.current_time()`` before which the server reads nothing
            more from the connection (Kafka's muted channel: a client over its quota);
            the dispatcher sets it, 0 when not muted.

    :meth:`on_close` registers what runs once the connection has ended (Kafka's
    ``ConnectionDisconnectListener``: a share session is closed with its connection).

    Task-safety: one request of a connection is handled at a time, so ``state`` needs
    no lock; ``close`` may be called from any task.
    """

    __slots__ = ("_close", "_on_close", "connection_id", "listener_name", "local", "muted_until", "peer", "state")

    def __init__(
        self,
        connection_id: str,
        listener_name: str,
        peer: Address,
        local: Address,
        close: Callable[[], None],
    ) -> None:
        self.connection_id = connection_id
        self.listener_name = listener_name
        self.peer = peer
        self.local = local
        self.state: MutableMapping[str, Any] = {}
        self.muted_until = 0.0
        self._close = close
        self._on_close: list[Callable[[], None]] | None = None

    def close(self) -> None:
        """Close the connection once the request being handled (if any) is answered.

        Called from inside ``handle``, the current response is still sent. Called from
        elsewhere on an idle connection, the connection closes at once.
        """
        self._close()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (synchronously, on the trio thread) when the connection ends."""
        if self._on_close is None:
            self._on_close = []
        self._on_close.append(callback)

    def closed(self) -> None:
        """The connection ended: run the :meth:`on_close` callbacks, each once; one that
        fails is logged and the others still run."""
        callbacks, self._on_close = self._on_close or [], None
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("%s: a close callback failed", self.connection_id)

    def __repr__(self) -> str:
        return f"<ConnectionContext {self.connection_id} on {self.listener_name}>"


class Dispatcher(Protocol):
    """Turns request frames into responses; implemented by the broker."""

    async def handle(
        self, conn: ConnectionContext, frame: memoryview
    ) -> Response | None:
        """Handle one request frame of ``conn``.

        Args:
            conn: the connection the request came on.
            frame: the request without its size prefix; writable, valid only until
                this call returns (see the module docstring).

        Returns:
            The response chunks, size prefix included, or None for no response.

        Raises:
            CloseConnection: to close the connection after earlier responses are sent.
                Any other exception is a bug: it is logged with its traceback and only
                this connection is closed.
        """
        ...
