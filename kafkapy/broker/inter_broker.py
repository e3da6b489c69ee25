"""Requests a broker sends to other brokers (Kafka's ``InterBrokerSendThread``).

A subclass queues work per destination broker and turns a destination's queue into
one request when the connection to it is free (:meth:`InterBrokerSender.generate`);
the answer, or the failure, goes back to it (:meth:`InterBrokerSender.complete`).
So work that piles up while a request is in flight leaves in the next one, batched,
as Kafka's send threads batch it. Each destination has one connection
(:class:`~kafkapy.kraft.raft.network.PeerConnection`) to its endpoint on the
inter-broker listener, under the client id ``broker-<node id>-<name>``, and one task
that sends its requests one at a time.

Task-safety: trio thread only; :meth:`InterBrokerSender.wakeup` is synchronous.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

import trio

from kafkapy.kraft.raft.network import Address, Authenticator, PeerConnection, PeerUnavailable
from kafkapy.wire.message import Message

log = logging.getLogger(__name__)


class _Destination:
    """One destination broker: its connection and the event that wakes its sender."""

    __slots__ = ("broker_id", "connection", "failing", "wakeup")

    def __init__(self, broker_id: int, connection: PeerConnection) -> None:
        self.broker_id = broker_id
        self.connection = connection
        self.wakeup = trio.Event()
        #: whether the last request failed (its retries are logged at debug level)
        self.failing = False


class InterBrokerSender:
    """See the module doc. Start :meth:`run` in a nursery before calling :meth:`wakeup`.

    Args:
        node_id: this broker (in the client id).
        name: what the sender does, in the client id (Kafka's ``txn-marker-sender``).
        address: a broker's inter-broker endpoint, or None while unknown; asked before
            every request, so a broker that moved is reconnected to.
        timeout_s: how long one request may take, connecting included.
        version: the request version to send; None for the highest both sides know.
        ssl_context: TLS to the brokers (an SSL or SASL_SSL inter-broker listener), else None.
        authenticate: SASL to the brokers (a SASL inter-broker listener), else None.
    """

    def __init__(self, node_id: int, name: str, address: Callable[[int], Address | None], *,
                 timeout_s: Callable[[], float], version: int | None = None,
                 ssl_context: ssl.SSLContext | None = None, authenticate: Authenticator | None = None) -> None:
        self.client_id = f"broker-{node_id}-{name}"
        self._ssl_context = ssl_context
        self._authenticate = authenticate
        self._address = address
        self._timeout_s = timeout_s
        self._version = version
        self._destinations: dict[int, _Destination] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the per-destination senders until cancelled; then close their connections."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for destination in self._destinations.values():
                    nursery.start_soon(self._send_loop, destination)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                for destination in self._destinations.values():
                    await destination.connection.aclose()

    def wakeup(self, broker_id: int) -> None:
        """Tell the sender of ``broker_id`` (started on first use) that work is queued."""
        destination = self._destinations.get(broker_id)
        if destination is None:
            connection = PeerConnection(lambda: self._address(broker_id), client_id=self.client_id,
                                        ssl_context=self._ssl_context, authenticate=self._authenticate)
            destination = self._destinations[broker_id] = _Destination(broker_id, connection)
            if self._nursery is not None:
                self._nursery.start_soon(self._send_loop, destination)
        destination.wakeup.set()

    # --- what a subclass provides --------------------------------------------------------

    def generate(self, broker_id: int) -> tuple[Message, Any] | None:
        """The next request for ``broker_id`` from its queue, and what :meth:`complete`
        needs to answer it (taken off the queue); None when nothing is queued."""
        raise NotImplementedError

    def complete(self, broker_id: int, context: Any, response: Message | None, failure: str | None) -> None:
        """The answer to a request :meth:`generate` built: ``response``, or None and the
        reason (no connection, the timeout, a broken connection)."""
        raise NotImplementedError

    # --- the sender of one destination ---------------------------------------------------

    async def _send_loop(self, destination: _Destination) -> None:
        while True:
            item = self.generate(destination.broker_id)
            if item is None:
                destination.wakeup = trio.Event()
                await destination.wakeup.wait()
                continue
            request, context = item
            try:
                response = await destination.connection.request(request, timeout_s=self._timeout_s(),
                                                                version=self._version)
            except PeerUnavailable as exc:
                log.log(logging.DEBUG if destination.failing else logging.INFO, "%s to broker %d failed: %s",
                        type(request).__name__, destination.broker_id, exc)
                destination.failing = True
                self.complete(destination.broker_id, context, None, str(exc))
            else:
                if destination.failing:
                    log.info("%s to broker %d answered again", type(request).__name__, destination.broker_id)
                    destination.failing = False
                self.complete(destination.broker_id, context, response, None)
