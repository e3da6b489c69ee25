"""``serve``: listeners, accept loops, connection limits, idle expiry, graceful shutdown.

Accepting drains the listen backlog before it sets connections up. The backlog
(``socket.listen.backlog.size``, 50 by default as in Kafka, KIP-764) overflows when
the acceptor falls behind, and the kernel then drops the SYN: the client retries only
after a second (its initial RTO). Accepting one connection, setting it up and
yielding to every runnable task before the next accept held a burst of connects to
~60 per second, and a loop that drains the backlog but runs between batches of other
tasks to ~40 per second: a thread accepts instead (:mod:`kafkapy.server.acceptor`).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence

import trio

from kafkapy.log_rate import RateLimitedLog
from kafkapy.server.acceptor import IGNORED_ERRNOS, Acceptor
from kafkapy.server.buffers import BufferPool
from kafkapy.server.connection import Connection
from kafkapy.server.connection import logger as connection_logger
from kafkapy.server.dispatch import Dispatcher
from kafkapy.server.listeners import BoundAddress, Listener, bind_all, bound_address
from kafkapy.server.memory import MemoryPool
from kafkapy.server.quotas import ConnectionQuotas
from kafkapy.server.settings import ServerSettings
from kafkapy.server.tls import TlsConnection, TlsEndpoint

logger = logging.getLogger("kafkapy.server.listener")

# Out of a resource: log, then retry after a pause (trio.serve_listeners does the same).
_ACCEPT_CAPACITY_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
)
_ACCEPT_RETRY_SLEEP = 0.1
# How often an accept loop held by a quota looks again (the acceptor thread pauses).
_QUOTA_RECHECK_S = 0.01
# Connections accepted in a row before they are set up and other tasks run.
_ACCEPT_BATCH = 256
# How often rate-limited log lines are summarised when a burst has stopped.
_LOG_FLUSH_INTERVAL = 10.0


async def serve(
    listeners: Sequence[Listener],
    dispatcher: Dispatcher,
    *,
    settings: ServerSettings | None = None,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    memory: MemoryPool | None = None,
    quotas: ConnectionQuotas | None = None,
    tls: Mapping[str, TlsEndpoint] | None = None,
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
        memory: the ``queued.max.request.bytes`` budget; a new one of
            ``settings.queued_max_request_bytes`` if None. Pass one to share it
            between servers or to read its accounting.
        quotas: the connection counts and limits; new ones from ``settings`` if None.
        tls: listener name -> its TLS endpoint (SSL and SASL_SSL listeners): their
            connections are :class:`kafkapy.server.tls.TlsConnection`; the others
            read and write the raw socket. Read at each accept, so the caller may
            replace an endpoint (a reloaded key store) while serving.

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
    server = _Server(dispatcher, settings, memory, quotas, tls)
    for listener, _ in bound:
        server.quotas.add_listener(listener.name)
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
                accept_nursery.start_soon(server.flush_logs)
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
    """The connections of one ``serve`` call, their limits and their memory budget.

    Not task-safe beyond trio's cooperative scheduling: used only by its own tasks.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        settings: ServerSettings,
        memory: MemoryPool | None = None,
        quotas: ConnectionQuotas | None = None,
        tls: Mapping[str, TlsEndpoint] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        # Read per accept (not copied): replacing an entry reconfigures the listener
        # for new connections (kafkapy.broker.security.ssl_reload).
        self.tls: Mapping[str, TlsEndpoint] = tls if tls is not None else {}
        self.settings = settings
        self.pool = BufferPool(min_size=settings.receive_buffer_bytes)
        self.memory = memory or MemoryPool(settings.queued_max_request_bytes)
        self.quotas = quotas or ConnectionQuotas(settings)
        self.connections: set[Connection] = set()
        # Per-connection lines a peer can cause at will, rate-limited.
        self.log = RateLimitedLog(logger)
        self.connection_log = RateLimitedLog(connection_logger)
        self._next_index = 0

    async def accept_loop(
        self, listener: Listener, lsock: socket.socket, nursery: trio.Nursery
    ) -> None:
        """Accept on one listening socket until cancelled.

        An :class:`~kafkapy.server.acceptor.Acceptor` thread drains the listen backlog
        (a burst of SYNs fills the 50-deep backlog in about a millisecond, and only an
        acceptor that empties it that fast keeps the kernel from dropping the rest);
        this loop takes what it accepted, up to ``_ACCEPT_BATCH`` connections or as
        many as the limits leave room for, and sets them up. While a quota says wait,
        the thread pauses and this loop accepts one connection at a time itself.
        """
        failing_since: float | None = None
        quotas = self.quotas
        name = listener.name
        acceptor = Acceptor(lsock, name, lambda: not quotas.needs_wait(name), limit=_ACCEPT_BATCH,
                            retry_s=_ACCEPT_RETRY_SLEEP)
        try:
            while True:
                direct = quotas.needs_wait(name)
                limit = 1 if direct else quotas.room(name, _ACCEPT_BATCH)
                taken = acceptor.take(limit)
                if not taken and direct:
                    # The thread pauses while a quota says wait: accept here, one at a time.
                    taken = _accept_now(lsock, limit)
                error: OSError | None = None
                accepted: list[tuple[socket.socket, tuple]] = []
                for item in taken:
                    if isinstance(item, OSError):
                        error = error or item
                    else:
                        accepted.append(item)
                if error is not None:
                    if error.errno not in _ACCEPT_CAPACITY_ERRNOS:
                        for sock, _ in accepted:
                            sock.close()
                        raise error
                    if failing_since is None:
                        failing_since = trio.current_time()
                        logger.error(
                            "accept on %s returned %s (%s); retrying every %s seconds",
                            listener.name,
                            errno.errorcode.get(error.errno or 0, error.errno),
                            error.strerror,
                            _ACCEPT_RETRY_SLEEP,
                        )
                if failing_since is not None and accepted and not isinstance(taken[-1], OSError):
                    logger.warning(
                        "accept on %s works again after %.1f seconds",
                        listener.name,
                        trio.current_time() - failing_since,
                    )
                    failing_since = None
                for i, (sock, peer) in enumerate(accepted):
                    if quotas.needs_wait(name):
                        # Kafka's acceptor blocks here (ConnectionQuotas.inc): this
                        # connection waits unserved, new ones wait in the listen backlog.
                        try:
                            await quotas.wait_for_slot(name)
                        except BaseException:
                            for rest, _ in accepted[i:]:
                                rest.close()
                            raise
                    self._admit(listener, sock, peer, nursery)
                if error is not None:
                    if direct:
                        await trio.sleep(_ACCEPT_RETRY_SLEEP)
                    else:
                        await trio.lowlevel.checkpoint()
                elif taken:
                    await trio.lowlevel.checkpoint()
                elif direct:
                    # Readable, or the quota lifted and the thread accepts again.
                    with trio.move_on_after(_QUOTA_RECHECK_S):
                        await trio.lowlevel.wait_readable(lsock)
                else:
                    await acceptor.wait()
        finally:
            acceptor.close()

    def _admit(
        self,
        listener: Listener,
        sock: socket.socket,
        peer: tuple,
        nursery: trio.Nursery,
    ) -> None:
        """Start serving an accepted socket, or close it if its IP is over its connection
        rate (after the throttle time) or at its cap (at once)."""
        ip = peer[0]
        name = listener.name
        quotas = self.quotas
        if quotas.ip_rates_enabled:
            delay = quotas.record_ip_connection(ip)
            if delay > 0:
                logger.debug("Delaying closing of connection from %s for %.0f ms (connection_creation_rate %s)",
                             ip, delay * 1000, quotas.ip_rate_for(ip))
                nursery.start_soon(_close_after, sock, delay)
                return
        if not quotas.inc(name, ip):
            self.log.info(
                "connection over the per-IP cap",
                "Rejected connection from %s, address already has the configured "
                "maximum of %d connections",
                ip,
                self.settings.max_connections_for(ip),
            )
            sock.close()
            return
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            local = sock.getsockname()[:2]
        except OSError as exc:
            logger.debug("connection from %s failed during setup: %s", ip, exc)
            quotas.dec(name, ip)
            sock.close()
            return
        index = self._next_index
        self._next_index += 1
        tls = self.tls.get(name)
        connection_class: type[Connection] = Connection
        extra: dict = {}
        if tls is not None:
            try:
                sock = tls.context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            except OSError as exc:
                logger.debug("connection from %s failed during TLS setup: %s", ip, exc)
                quotas.dec(name, ip)
                sock.close()
                return
            connection_class, extra = TlsConnection, {"tls": tls}
        conn = connection_class(
            sock,
            **extra,
            connection_id=f"{local[0]}:{local[1]}-{ip}:{peer[1]}-{index}",
            listener_name=name,
            peer=(ip, peer[1]),
            local=(local[0], local[1]),
            dispatcher=self.dispatcher,
            settings=self.settings,
            pool=self.pool,
            memory=self.memory,
            log=self.connection_log,
        )
        self.connections.add(conn)
        nursery.start_soon(self._run_connection, conn, name, ip)
        if self.settings.max_connections < quotas.total:
            self._close_excess_connection()

    def _close_excess_connection(self) -> None:
        """Kafka's ``Processor.closeExcessConnections``: over ``max.connections``
        because of the protected listener, close the least recently active
        connection of a listener that is not protected."""
        candidates = [
            conn
            for conn in self.connections
            if self.quotas.max_connections_exceeded(conn.context.listener_name)
        ]
        if candidates:
            victim = min(candidates, key=lambda conn: (conn.busy, conn.last_active))
            logger.info(
                "%s: closing to make room for an inter-broker connection "
                "(broker-wide cap of %d connections)",
                victim.connection_id,
                self.settings.max_connections,
            )
            victim.close()

    async def _run_connection(self, conn: Connection, listener: str, ip: str) -> None:
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
            self.quotas.dec(listener, ip)

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

    async def flush_logs(self) -> None:
        """Summarise rate-limited log lines whose burst has stopped."""
        while True:
            await trio.sleep(_LOG_FLUSH_INTERVAL)
            self.log.flush()
            self.connection_log.flush()


def _accept_now(lsock: socket.socket, most: int) -> list[tuple[socket.socket, tuple] | OSError]:
    """Up to ``most`` connections from the backlog, or an accept error last."""
    out: list[tuple[socket.socket, tuple] | OSError] = []
    while len(out) < most:
        try:
            out.append(lsock.accept())
        except BlockingIOError:
            break
        except OSError as exc:
            if exc.errno not in IGNORED_ERRNOS:
                out.append(exc)
                break
    return out


def _close_listening(bound: Sequence[tuple[Listener, socket.socket]]) -> None:
    for _, sock in bound:
        if sock.fileno() != -1:
            trio.lowlevel.notify_closing(sock)
            sock.close()


async def _close_after(sock: socket.socket, delay_s: float) -> None:
    """Close a connection refused for its IP's creation rate once its throttle time has
    passed (Kafka's acceptor keeps it in ``throttledSockets`` until then), so that the
    client does not reconnect at once; nothing is read from it meanwhile."""
    try:
        await trio.sleep(delay_s)
    finally:
        sock.close()
