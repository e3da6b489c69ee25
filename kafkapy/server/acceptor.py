"""An acceptor thread per listening socket: the listen backlog drained while the
event loop is busy (Kafka's ``SocketServer.Acceptor``, a thread apart from the
``Processor`` threads that serve connections).

Why a thread: ``socket.listen.backlog.size`` is 50 by default (KIP-764), and a burst
of connects fills it in about a millisecond; the kernel then drops the SYNs and each
client waits out its SYN retransmission timer (1 s, then 3 s, 7 s ...). An accept loop
that is a trio task runs only between batches of other tasks (the connections it just
accepted, their first requests), tens of milliseconds apart under load, so a storm of
connects was accepted at a few dozen per second. The thread sleeps in ``poll`` and
``accept`` with the GIL released, so it empties the backlog within a GIL switch
interval (5 ms) of a SYN, however busy the loop is.

The thread only accepts: the sockets go through a deque to the trio accept loop, which
counts them against the connection quotas and sets them up as before. While a quota
says to wait (``max.connections`` reached, a connection creation rate configured) the
thread pauses and connections wait in the kernel's backlog, as they do before Kafka's
acceptor blocks in ``ConnectionQuotas.inc``. At most ``limit`` accepted sockets wait
in the deque, so a loop that cannot keep up leaves the rest in the backlog too.

Resource handling: :meth:`Acceptor.close` stops the thread (a byte on a pipe the
thread polls) and joins it, then closes any socket still waiting in the deque; call it
before closing the listening socket. Error handling: an accept error other than a
connection that died before it was accepted is handed to the loop as it is, in order,
and the thread pauses ``retry_s`` before accepting again (EMFILE and its kind).
"""

from __future__ import annotations

import collections
import errno
import os
import select
import socket
import threading
from collections.abc import Callable

import trio

# The connection died before it was accepted: nothing to do (as trio's SocketListener).
IGNORED_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})

#: What waits in the deque: an accepted (socket, peer) or an accept error.
Accepted = tuple[socket.socket, tuple] | OSError


class Acceptor:
    """Accepts on ``lsock`` from a thread while ``may_accept()`` says so; the loop
    takes the results with :meth:`take` and waits for more with :meth:`wait`."""

    def __init__(self, lsock: socket.socket, name: str, may_accept: Callable[[], bool], *,
                 limit: int = 256, retry_s: float = 0.1, pause_s: float = 0.01) -> None:
        self._lsock = lsock
        self._may_accept = may_accept
        self._limit = limit
        self._retry_ms = int(retry_s * 1000)
        self._pause_ms = int(pause_s * 1000)
        self._ready: collections.deque[Accepted] = collections.deque()
        self._token = trio.lowlevel.current_trio_token()
        self._wakeup: trio.Event | None = None
        self._notified = False
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"kafkapy-acceptor-{name}", daemon=True)
        self._thread.start()

    # ---- the thread ------------------------------------------------------------

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._lsock.fileno(), select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        stop = self._stop_r
        paused = False
        while True:
            full = len(self._ready) >= self._limit or not self._may_accept()
            if full and not paused:
                self._notify()  # the loop accepts by itself while a quota says wait
            paused = full
            # Paused: wake up now and then to see whether the loop made room.
            events = poller.poll(self._pause_ms if full else None)
            if any(fd == stop for fd, _ in events):
                return
            if full or not events:
                continue
            pause = False
            while len(self._ready) < self._limit:
                try:
                    self._ready.append(self._lsock.accept())
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno in IGNORED_ERRNOS:
                        continue
                    self._ready.append(exc)
                    pause = True
                    break
            self._notify()
            if pause and any(fd == stop for fd, _ in poller.poll(self._retry_ms)):
                return

    def _notify(self) -> None:
        if not self._notified:
            self._notified = True
            try:
                self._token.run_sync_soon(self._wake)
            except trio.RunFinishedError:
                pass

    # ---- the trio side ---------------------------------------------------------

    def _wake(self) -> None:
        self._notified = False
        if self._wakeup is not None:
            self._wakeup.set()

    def take(self, most: int) -> list[Accepted]:
        """Up to ``most`` accepted sockets (or errors), oldest first."""
        ready, out = self._ready, []
        while ready and len(out) < most:
            out.append(ready.popleft())
        return out

    async def wait(self) -> None:
        """Return once something is waiting to be taken (at once if it already is), or
        the thread has paused."""
        if self._ready:
            await trio.lowlevel.checkpoint()
            return
        self._wakeup = trio.Event()
        await self._wakeup.wait()

    def close(self) -> None:
        """Stop and join the thread; close what it accepted that nobody took."""
        if self._stop_w < 0:
            return
        os.write(self._stop_w, b"x")
        self._thread.join()
        for fd in (self._stop_r, self._stop_w):
            os.close(fd)
        self._stop_r = self._stop_w = -1
        while self._ready:
            item = self._ready.popleft()
            if not isinstance(item, OSError):
                item[0].close()
