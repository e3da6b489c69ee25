"""``serve``: listeners, accept loops, connection caps, idle expiry, graceful shutdown."""

from __future__ import annotations

import errno
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

import trio

from kafkapy.server.buffers import BufferPool
from kafkapy.server.connection import Connection
from kafkapy.server.dispatch import Dispatcher
from kafkapy.server.listeners import BoundAddress, Listener, bind_all, bound_address
from kafkapy.server.settings import ServerSettings

logger = logging.getLogger("kafkapy.server.listener")

# Out of a resource: log, then retry after a pause (trio.serve_listeners does the same).
_ACCEPT_CAPACITY_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
)
_ACCEPT_RETRY_SLEEP = 0.1
# The connection died before it was accepted: nothing to do (as trio's SocketListener).
_ACCEPT_IGNORED_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})


async def serve(
    listeners: Sequence[Listener],
    dispatcher: Dispatcher,
    *,
    settings: ServerSettings | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    task_status: trio.TaskStatus[list[BoundAddress]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections on ``listeners`` and serve their requests with ``dispatcher``.

    Binds every listener, reports the bound addresses with
    ``task_status.started(addresses)`` (so ``await nursery.start(serve, ...)`` returns
    them, with the real ports when port 0 was asked), then serves until cancelled or
    until ``shutdown_trigger()`` returns.

    Args:
        listeners: endpoints to bind; see :func:`kafkapy.server.parse_listeners`.
        dispatcher: turns request frames into responses; see :class:`Dispatcher`.
        settings: limits and timeouts; Kafka's defaults if None.
        shutdown_trigger: awaited after startup; when it returns, shut down
            gracefully: stop accepting, close idle connections, let requests being
            handled finish and their responses go out for up to
            ``settings.shutdown_grace_ms``, then cut what remains. Hypercorn's way:
            the deadline of the connections' cancel scope is the grace period.
            Without a trigger, the server runs until cancelled, which closes
            everything at once.

    Resource handling:
        Listening sockets and every connection's socket are closed on return, on
        cancellation and on failure. Each connection is one task in a nursery of the
        server's; a connection's failure is logged and ends only that connection.

    Error handling:
        EMFILE, ENFILE, ENOMEM and ENOBUFS from accept (out of file descriptors or
        memory) log one line when they start and one when accepting works again, and
        accept again every 100 ms meanwhile; the pending connections wait in the
        backlog. Bind errors and other accept errors propagate.
    """
    settings = settings or ServerSettings()
    bound = bind_all(listeners, settings.socket_listen_backlog_size)
    server = _Server(dispatcher, settings)
    try:
        async with trio.open_nursery() as connection_nursery:
            async with trio.open_nursery() as accept_nursery:
                addresses = []
                for listener, sock in bound:
                    address = bound_address(listener, sock)
                    addresses.append(address)
                    logger.info(
                        "Awaiting socket connections on %s:%d (%s)",
                        address.host,
                        address.port,
                        listener.name,
                    )
                    accept_nursery.start_soon(
                        server.accept_loop, listener, sock, connection_nursery
                    )
                accept_nursery.start_soon(server.expire_idle_connections)
                task_status.started(addresses)
                if shutdown_trigger is not None:
                    await shutdown_trigger()
                    accept_nursery.cancel_scope.cancel()
            _close_listening(bound)
            grace = settings.shutdown_grace_ms / 1000
            logger.info(
                "Shutting down: closing %d connection(s), up to %.1f s for requests in flight",
                len(server.connections),
                grace,
            )
            connection_nursery.cancel_scope.deadline = trio.current_time() + grace
            for conn in list(server.connections):
                conn.close()
    finally:
        _close_listening(bound)


class _Server:
    """The connections of one ``serve`` call and their per-IP counts.

    Not task-safe beyond trio's cooperative scheduling: used only by its own tasks.
    """

    def __init__(self, dispatcher: Dispatcher, settings: ServerSettings) -> None:
        self.dispatcher = dispatcher
        self.settings = settings
        self.pool = BufferPool(min_size=settings.receive_buffer_bytes)
        self.connections: set[Connection] = set()
        self.per_ip: Counter[str] = Counter()
        self._next_index = 0

    async def accept_loop(
        self, listener: Listener, lsock: socket.socket, nursery: trio.Nursery
    ) -> None:
        """Accept on one listening socket until cancelled."""
        failing_since: float | None = None
        while True:
            try:
                sock, peer = lsock.accept()
            except BlockingIOError:
                await trio.lowlevel.wait_readable(lsock)
                continue
            except OSError as exc:
                if exc.errno in _ACCEPT_IGNORED_ERRNOS:
                    continue
                if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                    raise
                if failing_since is None:
                    failing_since = trio.current_time()
                    logger.error(
                        "accept on %s returned %s (%s); retrying every %s seconds",
                        listener.name,
                        errno.errorcode.get(exc.errno or 0, exc.errno),
                        exc.strerror,
                        _ACCEPT_RETRY_SLEEP,
                    )
                await trio.sleep(_ACCEPT_RETRY_SLEEP)
                continue
            if failing_since is not None:
                logger.warning(
                    "accept on %s works again after %.1f seconds",
                    listener.name,
                    trio.current_time() - failing_since,
                )
                failing_since = None
            self._admit(listener, sock, peer, nursery)
            await trio.lowlevel.checkpoint()

    def _admit(
        self,
        listener: Listener,
        sock: socket.socket,
        peer: tuple,
        nursery: trio.Nursery,
    ) -> None:
        """Start serving an accepted socket, or close it if over a connection cap."""
        ip = peer[0]
        settings = self.settings
        # Kafka blocks accepting at max.connections (KIP-402); we close the new
        # connection instead, so that the client sees it at once and retries.
        if len(self.connections) >= settings.max_connections:
            logger.info(
                "Rejected connection from %s: broker already has the maximum of %d connections",
                ip,
                settings.max_connections,
            )
            sock.close()
            return
        cap = settings.max_connections_for(ip)
        if self.per_ip[ip] >= cap:
            logger.info(
                "Rejected connection from %s, address already has the configured maximum of %d connections",
                ip,
                cap,
            )
            sock.close()
            return
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            local = sock.getsockname()[:2]
        except OSError as exc:
            logger.debug("connection from %s failed during setup: %s", ip, exc)
            sock.close()
            return
        index = self._next_index
        self._next_index += 1
        conn = Connection(
            sock,
            connection_id=f"{local[0]}:{local[1]}-{ip}:{peer[1]}-{index}",
            listener_name=listener.name,
            peer=(ip, peer[1]),
            local=(local[0], local[1]),
            dispatcher=self.dispatcher,
            settings=settings,
            pool=self.pool,
        )
        self.connections.add(conn)
        self.per_ip[ip] += 1
        nursery.start_soon(self._run_connection, conn, ip)

    async def _run_connection(self, conn: Connection, ip: str) -> None:
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
            self.per_ip[ip] -= 1
            if not self.per_ip[ip]:
                del self.per_ip[ip]

    async def expire_idle_connections(self) -> None:
        """Close connections idle for ``connections.max.idle.ms``.

        Looks every tenth of that period (at most every 10 s), so a connection is
        closed between 1.0 and 1.2 times the period after its last activity.
        """
        max_idle = self.settings.connections_max_idle_ms / 1000
        interval = min(max_idle / 10, 10.0)
        while True:
            await trio.sleep(interval)
            now = trio.current_time()
            for conn in list(self.connections):
                conn.expire_if_idle(now, max_idle)


def _close_listening(bound: Sequence[tuple[Listener, socket.socket]]) -> None:
    for _, sock in bound:
        if sock.fileno() != -1:
            trio.lowlevel.notify_closing(sock)
            sock.close()
