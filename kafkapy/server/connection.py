"""One client connection: framing, in-order dispatch, batched responses.

Theory of operation
-------------------
A connection is one task, plus a helper (the flusher), started the first time a
request is dispatched with responses still queued, and idle unless a request takes a
while. The main task loops over batches:

1. Receive (:meth:`Connection._receive`): call ``recv_into`` on the raw non-blocking
   socket into a pooled buffer of ``receive_buffer_bytes`` until at least one whole
   frame is there, waiting through trio only on ``BlockingIOError``. Whatever else has
   arrived is read too (pipelined requests), but never more than the buffer holds:
   that is the read-ahead bound. The size header is checked first: a size below
   ``MIN_REQUEST_BYTES`` or above ``socket.request.max.bytes`` closes the connection
   with one (rate-limited) log line, as Kafka does.

   A frame larger than the buffer is read alone into a buffer that grows as its
   bytes arrive, never reserved from the size header (a header costs the sender four
   bytes and would otherwise cost the broker up to ``socket.request.max.bytes``).
   The receive buffer fills with the frame first; then the large buffer is sized for
   what has arrived plus what the kernel already holds (``FIONREAD``), at least
   ``_LARGE_FIRST`` (1 MiB), and doubles when full. A produce request of up to 1 MiB,
   or one already in the kernel, is still read once, straight into a buffer of its
   size; a sender that dribbles costs at most 1 MiB or twice what it has sent.
   A connection waiting with only a few bytes of a frame (at most ``_PARK_MAX``)
   keeps them in a small bytes object and gives its receive buffer back, so
   thousands of connections that send a size header and stop cost thousands of
   small objects, not thousands of buffers.

   Memory budget (``queued.max.request.bytes``, :mod:`kafkapy.server.memory`): the
   receive buffer is reserved from the server's pool while held, and a large frame
   reserves its whole size when its header is read, as Kafka's ``NetworkReceive``
   does. When the pool is spent the connection stops reading until bytes are given
   back (Kafka mutes the channel); it holds no buffer while it waits.
2. Dispatch (:meth:`Connection._dispatch_buffered`): hand each whole frame to the
   dispatcher, one at a time, in arrival order; responses are queued in that order.
3. Flush (:meth:`Connection._flush`): send all queued responses, one send per run of
   buffers, file regions by sendfile. Only then is the socket read again, so a client
   that does not read its responses stops being read (Kafka mutes such a channel).
   A connection the dispatcher muted (``ConnectionContext.muted_until``: a client over
   its quota, KIP-219) is read again only once that time has passed.

If a request blocks (an acks=all produce, a long-poll fetch) while responses of
earlier requests in the same batch are queued, those must not wait for it: before
each dispatch with a non-empty queue, the main task sets an event; the flusher,
waiting on it, runs only if the main task yields, and then sends what is queued.
When nothing blocks, the main task has sent everything itself by the time the
flusher runs, and the flusher finds nothing to do. One send is in progress at a
time (``_sending``), so responses never interleave.

Transport: the socket calls are four methods (``_recv_into_nowait``,
``_wait_readable``, ``_send_nowait``, ``_send_all``); PLAINTEXT uses the raw socket
functions of :mod:`kafkapy.server.sockio`, and
:class:`kafkapy.server.tls.TlsConnection` (SSL and SASL_SSL listeners) replaces the
four with ``ssl.SSLSocket`` calls, everything else unchanged.

Closing: :meth:`Connection.close` (from the dispatcher, the idle reaper, or a
graceful shutdown) cancels the connection at once if it is idle (waiting for a
request), or else lets the request being handled finish and its response go out.
The socket is closed only by :meth:`Connection.run`, when everything else is done.

Task-safety: ``close`` and ``expire_if_idle`` may be called from any task of the
same trio run; everything else belongs to the connection's own tasks.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
import termios
from collections.abc import Awaitable, Callable, Sequence

import trio

from kafkapy.log_rate import RateLimitedLog
from kafkapy.server.buffers import BufferPool
from kafkapy.server.dispatch import (
    Address,
    Chunk,
    CloseConnection,
    ConnectionContext,
    Dispatcher,
    Response,
)
from kafkapy.server.memory import MemoryPool
from kafkapy.server.settings import ServerSettings
from kafkapy.server.sockio import (
    ConnectionLost,
    recv_into_nowait,
    send_chunks,
    send_nowait,
)

logger = logging.getLogger("kafkapy.server.connection")

# The smallest request: api_key int16, api_version int16, correlation_id int32.
MIN_REQUEST_BYTES = 8
# Receives that found data at once, in a row, before the task yields to others.
_RECEIVES_PER_CHECKPOINT = 8
_SIZE = struct.Struct(">i")
# A waiting connection with at most this many bytes of a frame parks them in a bytes
# object and gives its receive buffer back.
_PARK_MAX = 4096
# The least a large frame's buffer starts at once its bytes keep coming (a full
# receive buffer of them, or more waiting in the kernel): most produce requests fit,
# and are read with no growth; a sender must send 64 KiB to make the broker hold 1 MiB.
_LARGE_FIRST = 1024 * 1024
_FIONREAD = termios.FIONREAD
_INT = struct.Struct("i")


def _bytes_ready(sock: socket.socket) -> int:
    """Bytes waiting in the socket's receive queue (``FIONREAD``); 0 if unknown."""
    try:
        return _INT.unpack(fcntl.ioctl(sock.fileno(), _FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


class _FrameError(Exception):
    """A size header the connection cannot accept."""


class _EndOfStream(Exception):
    """The peer closed its side."""


class Connection:
    """One accepted socket, served until EOF, close, failure or cancellation."""

    __slots__ = (
        "_buf",
        "_buffer_bytes",
        "_closing",
        "_dispatcher",
        "_end",
        "_failure",
        "_flush_wanted",
        "_flusher_nursery",
        "_large",
        "_large_buf",
        "_large_reserved",
        "_log",
        "_max_bytes",
        "_memory",
        "_parked",
        "_pending",
        "_pool",
        "_scope",
        "_send_done",
        "_sending",
        "_start",
        "_unyielded",
        "busy",
        "context",
        "last_active",
        "sock",
        "touched",
    )

    def __init__(
        self,
        sock: socket.socket,
        *,
        connection_id: str,
        listener_name: str,
        peer: Address,
        local: Address,
        dispatcher: Dispatcher,
        settings: ServerSettings,
        pool: BufferPool,
        memory: MemoryPool | None = None,
        log: RateLimitedLog | None = None,
    ) -> None:
        self.sock = sock
        self.context = ConnectionContext(
            connection_id, listener_name, peer, local, self.close
        )
        # Idle expiry: the reaper stamps last_active with its own clock reading when
        # it finds touched set (bytes received or responses sent since its last
        # look), which keeps clock reads off the per-request path.
        self.last_active = trio.current_time()
        self.touched = False
        # True from when a batch of frames is complete until its responses are sent.
        self.busy = False
        self._dispatcher = dispatcher
        self._max_bytes = settings.socket_request_max_bytes
        self._buffer_bytes = settings.receive_buffer_bytes
        self._pool = pool
        self._memory = memory if memory is not None else MemoryPool()
        self._log = log if log is not None else RateLimitedLog(logger)
        self._scope = trio.CancelScope()
        self._closing = False
        self._pending: list[Response] = []
        self._sending = False
        self._send_done: trio.Event | None = None
        self._flush_wanted = trio.Event()
        # Where the flusher is started, the first time it is needed (most connections
        # never pipeline behind a slow request, and a task per connection costs).
        self._flusher_nursery: trio.Nursery | None = None
        self._failure: Exception | None = None
        # Receive buffer: unconsumed bytes are _buf[_start:_end]; None while idle.
        self._buf: memoryview | None = None
        self._start = 0
        self._end = 0
        # Bytes of a partial frame kept while the connection holds no buffer.
        self._parked: bytes | None = None
        # A frame too large for _buf, read whole into _large_buf; its reservation.
        self._large: memoryview | None = None
        self._large_buf: memoryview | None = None
        self._large_reserved = 0
        self._unyielded = 0

    @property
    def connection_id(self) -> str:
        return self.context.connection_id

    def close(self) -> None:
        """Close now if idle, else once the request being handled is answered."""
        self._closing = True
        if not self.busy:
            self._scope.cancel()

    def expire_if_idle(self, now: float, max_idle: float) -> None:
        """Close the connection if it has been idle for ``max_idle`` seconds.

        Called periodically; activity since the previous call counts as activity now.
        """
        if self.busy or self.touched:
            self.touched = False
            self.last_active = now
        elif now - self.last_active >= max_idle:
            logger.debug(
                "%s: idle for %.0f ms; closing", self.connection_id, max_idle * 1000
            )
            self.close()

    async def run(self) -> None:
        """Serve requests until the connection ends; never raises but ``Cancelled``.

        Resource handling: the socket and the receive buffers are released on exit,
        whatever the cause.
        """
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._flusher_nursery = nursery
                    try:
                        await self._serve_requests()
                    except _EndOfStream as exc:
                        logger.debug("%s: peer closed%s", self.connection_id, exc)
                    except ConnectionLost as exc:
                        logger.debug("%s: %s", self.connection_id, exc)
                    except Exception:
                        self._log.error(
                            "unexpected failure",
                            "%s: unexpected failure; closing",
                            self.connection_id,
                            exc_info=True,
                        )
                    finally:
                        # Now, not after the nursery's exit (an await): thousands of
                        # connections closing at once must not each hold a buffer.
                        self._release_buffers()
                        nursery.cancel_scope.cancel()
            if isinstance(self._failure, ConnectionLost):
                logger.debug("%s: %s", self.connection_id, self._failure)
            elif self._failure is not None:
                self._log.error(
                    "sending failed",
                    "%s: sending failed; closing",
                    self.connection_id,
                    exc_info=self._failure,
                )
        finally:
            self._release_buffers()
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()
            self.context.closed()

    # The transport seam: PLAINTEXT reads and writes the raw socket (sockio: recv_into,
    # sendmsg, sendfile); kafkapy.server.tls.TlsConnection overrides these four.
    def _recv_into_nowait(self, buf: memoryview) -> int | None:
        """Bytes read into ``buf``, 0 at EOF, None when none are ready."""
        return recv_into_nowait(self.sock, buf)

    async def _wait_readable(self) -> None:
        await trio.lowlevel.wait_readable(self.sock)

    def _send_nowait(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        """Send until the socket is full; what is left (see ``sockio.send_nowait``)."""
        return send_nowait(self.sock, chunks)

    async def _send_all(self, rest: list[Chunk]) -> None:
        """Send what ``_send_nowait`` left, waiting as needed."""
        await send_chunks(self.sock, rest)

    async def _serve_requests(self) -> None:
        handle = self._dispatcher.handle
        context = self.context
        # A new connection has rarely sent anything yet: wait before taking a buffer.
        await self._wait_readable()
        while True:
            try:
                if context.muted_until:  # throttled: not read until the throttle ends
                    await trio.sleep_until(context.muted_until)
                    context.muted_until = 0.0
                await self._receive()
                self.busy = True
                await self._dispatch_buffered(handle, context)
            except _FrameError as exc:
                # Answer the requests before the bad header, then close.
                self._log.warning(
                    "invalid request size",
                    "%s: %s; closing connection",
                    self.connection_id,
                    exc,
                )
                self._closing = True
            self.busy = True
            await self._flush()
            self.busy = False
            if self._closing:
                return

    async def _receive(self) -> None:
        """Read until a whole frame is buffered (in ``_buf``, or alone in ``_large``).

        Raises:
            _FrameError: a bad size header.
            _EndOfStream: EOF (the message says whether a frame was cut short).
            ConnectionLost: the socket failed.
        """
        waited = False
        while True:
            buf = self._buf
            if buf is None:
                if self._parked is None and self._memory.try_reserve(self._buffer_bytes):
                    buf = self._buf = self._pool.acquire(self._buffer_bytes)
                    self._start = self._end = 0
                else:
                    buf = await self._acquire_buffer()
            start, end = self._start, self._end
            available = end - start
            if available >= 4:
                size = self._frame_size(buf, start)
                if available - 4 >= size:
                    break
                if size + 4 > len(buf) and (
                    available == len(buf) or _bytes_ready(self.sock) > 0
                ):
                    # Bytes of the frame keep coming: read the rest into its own buffer.
                    await self._receive_large(size)
                    return
            if start:
                # Move the partial frame to the front so it can be completed in place.
                buf[:available] = buf[start:end]
                self._start = 0
                self._end = end = available
            n = self._recv_into_nowait(buf[end:])
            if n is None:
                if available <= _PARK_MAX:
                    self._park_buffer()
                waited = True
                await self._wait_readable()
                continue
            if n == 0:
                raise _EndOfStream(" mid-frame" if available else "")
            self._end = end + n
            self.touched = True
        if waited:
            self._unyielded = 0
        else:
            self._unyielded += 1
            if self._unyielded >= _RECEIVES_PER_CHECKPOINT:
                self._unyielded = 0
                await trio.lowlevel.checkpoint()

    def _frame_size(self, buf: memoryview, start: int) -> int:
        size: int = _SIZE.unpack_from(buf, start)[0]
        if size < MIN_REQUEST_BYTES or size > self._max_bytes:
            # Kafka: InvalidReceiveException "Invalid receive (size = ... larger than ...)".
            raise _FrameError(
                f"invalid request size {size} (must be between {MIN_REQUEST_BYTES} and "
                f"socket.request.max.bytes={self._max_bytes})"
            )
        return size

    async def _acquire_buffer(self) -> memoryview:
        """A receive buffer, reserved from the memory pool (waiting while it is spent),
        holding the parked bytes if any."""
        size = self._buffer_bytes
        memory = self._memory
        if not memory.try_reserve(size):
            await memory.reserve(size)
        buf = self._buf = self._pool.acquire(size)
        parked = self._parked
        if parked is None:
            self._start = self._end = 0
        else:
            self._parked = None
            buf[: len(parked)] = parked
            self._start, self._end = 0, len(parked)
        return buf

    def _park_buffer(self) -> None:
        """Give the receive buffer back, keeping its few unconsumed bytes aside."""
        buf = self._buf
        if buf is None:
            return
        if self._end > self._start:
            self._parked = bytes(buf[self._start : self._end])
        self._buf = None
        self._start = self._end = 0
        self._pool.release(buf)
        self._memory.release(self._buffer_bytes)

    def _drop_buffer(self) -> None:
        """Give the receive buffer back, its bytes consumed."""
        self._start = self._end = 0
        self._park_buffer()

    async def _receive_large(self, size: int) -> None:
        """Read one frame larger than the receive buffer into a buffer of its own,
        grown as the frame's bytes arrive."""
        buf = self._buf
        assert buf is not None
        head = buf[self._start + 4 : self._end]
        have = len(head)
        memory = self._memory
        if memory.try_reserve(size):
            self._large_reserved = size
        else:
            # Wait for budget holding nothing reserved (no deadlock between frames).
            pending = bytes(head)
            head.release()
            self._drop_buffer()
            await memory.reserve(size)
            self._large_reserved = size
            head = memoryview(pending)
        big = self._large_buf = self._pool.acquire(self._grow_target(have, size))
        big[:have] = head
        head.release()
        self._drop_buffer()
        while have < size:
            if have == len(big):
                grown = self._pool.acquire(self._grow_target(have, size))
                grown[:have] = big[:have]
                self._pool.release(big)
                big = self._large_buf = grown
            n = self._recv_into_nowait(big[have : min(len(big), size)])
            if n is None:
                await self._wait_readable()
                continue
            if n == 0:
                raise _EndOfStream(" mid-frame")
            have += n
            self.touched = True
        self._large = big[:size]

    def _grow_target(self, have: int, size: int) -> int:
        """The next size of a large frame's buffer: what has arrived plus what the
        kernel holds, at least double what has arrived, at most the frame."""
        return min(size, max(2 * have, have + _bytes_ready(self.sock), _LARGE_FIRST))

    async def _dispatch_buffered(
        self,
        handle: Callable[[ConnectionContext, memoryview], Awaitable[Response | None]],
        context: ConnectionContext,
    ) -> None:
        """Dispatch every whole buffered frame, in order, queueing the responses."""
        unpack_size = _SIZE.unpack_from
        while not self._closing:
            frame = self._large
            if frame is None:
                # The next whole frame in _buf, if any (inlined: this runs per request).
                buf, start, end = self._buf, self._start, self._end
                if buf is None or end - start < 4:
                    break
                size = unpack_size(buf, start)[0]
                if size < MIN_REQUEST_BYTES or size > self._max_bytes:
                    self._frame_size(buf, start)  # raises _FrameError
                stop = start + 4 + size
                if stop > end:
                    break
                if stop == end:
                    self._start = self._end = 0
                else:
                    self._start = stop
                frame = buf[start + 4 : stop]
            if self._pending:
                if self._flusher_nursery is not None:
                    self._flusher_nursery.start_soon(self._flusher)
                    self._flusher_nursery = None
                self._flush_wanted.set()
            try:
                response = await handle(context, frame)
            except CloseConnection as exc:
                logger.debug(
                    "%s: closing at the dispatcher's request: %s",
                    self.connection_id,
                    exc,
                )
                self._closing = True
                return
            except Exception:
                self._log.error(
                    "request handling failed",
                    "%s: request handling failed; closing",
                    self.connection_id,
                    exc_info=True,
                )
                self._closing = True
                return
            finally:
                # The frame is valid only during handle(): make later use fail loudly.
                frame.release()
                if self._large is not None:
                    self._large = None
                    self._release_large()
            if response is not None:
                self._pending.append(response)

    async def _flush(self) -> None:
        """Send every queued response; return when they are all out."""
        while self._pending or self._sending:
            if self._sending:
                if self._send_done is None:
                    self._send_done = trio.Event()
                await self._send_done.wait()
                continue
            batch, self._pending = self._pending, []
            chunks = batch[0] if len(batch) == 1 else [c for r in batch for c in r]
            rest = self._send_nowait(chunks)
            if not rest:
                continue
            self._sending = True
            try:
                await self._send_all(rest)
            finally:
                self._sending = False
                done, self._send_done = self._send_done, None
                if done is not None:
                    done.set()
        self.touched = True

    async def _flusher(self) -> None:
        """Send queued responses while the main task waits on a slow request."""
        try:
            while True:
                await self._flush_wanted.wait()
                self._flush_wanted = trio.Event()
                await self._flush()
        except Exception as exc:  # noqa: BLE001 - reported by run(), which logs it
            self._failure = exc
            self._scope.cancel()

    def _release_large(self) -> None:
        if self._large_buf is not None:
            self._pool.release(self._large_buf)
            self._large_buf = None
        if self._large_reserved:
            self._memory.release(self._large_reserved)
            self._large_reserved = 0

    def _release_buffers(self) -> None:
        if self._large is not None:
            self._large.release()
            self._large = None
        self._release_large()
        self._park_buffer()
        self._parked = None
