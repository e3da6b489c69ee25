"""The Raft driver's network over the Kafka protocol, on the controller listener.

Theory of operation. Nodes of the quorum talk as Kafka's do (``KafkaNetworkChannel``):
each node opens one client connection to every peer it sends requests to, and answers
the peers' requests on its own controller listener, so a pair of nodes shares two
connections, one per direction, and responses always come back on the connection of
their request.

Outbound, :class:`KafkaRaftTransport` is the driver's ``Transport``: ``send`` drops the
envelope into the destination's queue (never blocks; a full queue drops it, the core's
timeouts make up for it), and one task per peer takes envelopes in order, translates
them (``wire_translation.to_wire``), sends them on its :class:`PeerConnection` and feeds
the translated answer back with ``RaftDriver.step``, under the core's correlation id.
A connection that fails or times out is closed and dropped with the request; the
core's ``controller.quorum.request.timeout.ms`` resends it later on a new connection.

A peer of another cluster (its directories formatted with another ``cluster.id``) is
answered, and answers, INCONSISTENT_CLUSTER_ID, as Kafka's ``KafkaRaftClient`` does; the
quorum then never forms, so the transport logs it, once per peer and direction, at
ERROR (Kafka logs "Unexpected error INCONSISTENT_CLUSTER_ID in VOTE response" on every
response).

Inbound, :meth:`KafkaRaftTransport.handle` is what the broker's KRaft handlers call
with the decoded request: translate, ``RaftDriver.handle_request``, translate back.

Addresses: a node id resolves to the voter's endpoint of the controller listener in
the voter set in force (a ``VotersRecord``), else in ``controller.quorum.voters``, else
one learned from a response's ``NodeEndpoints`` (a leader the node was told about).

:class:`PeerConnection` is also the broker's channel to the active controller.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import trio

import kafkapy
from kafkapy.kraft.raft.errors import RaftError
from kafkapy.kraft.raft.messages import (
    AddRaftVoterRequest,
    BeginQuorumEpochRequest,
    EndQuorumEpochRequest,
    Envelope,
    FetchRequest,
    FetchSnapshotRequest,
    RaftRequest,
    VoteRequest,
)
from kafkapy.kraft.raft.records import Endpoint
from kafkapy.kraft.raft.wire_translation import from_wire, to_wire, wire_endpoints
from kafkapy.wire.apis import api_info
from kafkapy.wire.codec import CLOSED, NEED_DATA, ClientCodec
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.message import Message
from kafkapy.wire.messages.api_versions import ApiVersionsRequest

log = logging.getLogger(__name__)

#: Kafka's ``reconnect.backoff.ms`` and ``reconnect.backoff.max.ms``.
RECONNECT_BACKOFF_S = 0.05
RECONNECT_BACKOFF_MAX_S = 1.0
#: Envelopes waiting for one peer; more are dropped (the core resends on timeout).
_PEER_QUEUE = 16
_RECEIVE_BYTES = 65536

Address = tuple[str, int]
#: Authenticates a new connection (SASL, :mod:`kafkapy.broker.security.sasl_client`):
#: given a one-request exchange, returns the session lifetime in seconds or None, and
#: raises an OSError when the node refuses.
Authenticator = Callable[[Callable[[Message], Awaitable[Message]]], Awaitable[float | None]]


def parse_quorum_voters(entries: Sequence[str]) -> dict[int, Address]:
    """``controller.quorum.voters`` entries (``id@host:port``) by voter id.

    Raises:
        ValueError: an entry not in Kafka's form (``QuorumConfig.parseVoterConnections``).
    """
    voters: dict[int, Address] = {}
    for entry in entries:
        node, sep, address = entry.strip().partition("@")
        host, colon, port = address.rpartition(":")
        if not (sep and colon and node.strip().lstrip("-").isdigit() and port.isdigit() and host):
            raise ValueError(f"controller.quorum.voters entry {entry!r} is not id@host:port")
        voters[int(node)] = (host.strip("[]"), int(port))
    return voters


def parse_bootstrap_servers(entries: Sequence[str]) -> list[Address]:
    """``controller.quorum.bootstrap.servers`` entries (``host:port``).

    Raises:
        ValueError: an entry without a port.
    """
    out = []
    for entry in entries:
        host, colon, port = entry.strip().rpartition(":")
        if not (colon and port.isdigit() and host):
            raise ValueError(f"controller.quorum.bootstrap.servers entry {entry!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    return out


#: (peer, direction) pairs logged as of another cluster before the log goes quiet.
_MAX_FOREIGN_LOGGED = 64


class PeerUnavailable(RaftError):
    """A request could not be completed on a connection (refused, closed, timed out)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorCode.NETWORK_EXCEPTION)


class PeerConnection:
    """One client connection to a node, opened on demand, one request at a time.

    Requests wait their turn (Kafka answers a connection's requests in order anyway,
    and a Raft node has at most one request in flight per peer). On connecting it
    asks ApiVersions and sends each request in the highest version both sides know.
    Any failure, and any request that outlives its timeout, closes the connection;
    reconnecting backs off from 50 ms to 1 s, as Kafka's clients do.

    Args:
        address: where the node listens now (None: unknown, requests fail at once);
            asked before every request, and a new answer means a new connection.
        client_id: the request header's client id.
        ssl_context: connect over TLS with this client context (an SSL or SASL_SSL
            listener), verifying the node's certificate for the address's host.
        authenticate: authenticate each new connection after ApiVersions (a SASL
            listener); a session lifetime it returns (KIP-368) is honoured by
            reconnecting before it ends.
    """

    def __init__(self, address: Callable[[], Address | None], *, client_id: str,
                 ssl_context: ssl.SSLContext | None = None, authenticate: Authenticator | None = None) -> None:
        self._address = address
        self._client_id = client_id
        self._ssl_context = ssl_context
        self._authenticate = authenticate
        self._session_ends = math.inf
        self._lock = trio.Lock()
        self._stream: trio.SocketStream | None = None
        self._codec: ClientCodec | None = None
        self._connected_to: Address | None = None
        self._versions: dict[int, tuple[int, int]] = {}
        self._backoff_s = 0.0
        self._next_attempt = -math.inf

    async def request(self, message: Message, *, timeout_s: float, version: int | None = None) -> Message:
        """Send ``message`` and return the response.

        Args:
            message: a generated request message.
            timeout_s: the whole round trip's bound, connecting included.
            version: the version to send; the highest both sides support if None.
        Raises:
            PeerUnavailable: no connection, an I/O or decoding error, or the timeout.
        """
        async with self._lock:
            with trio.move_on_after(timeout_s):
                try:
                    stream, codec = await self._connected()
                    return await self._round_trip(stream, codec, message, version)
                except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, WireError) as exc:
                    await self._close()
                    raise PeerUnavailable(f"{self._address()}: {exc}") from None
            await self._close()
            raise PeerUnavailable(f"{self._address()}: no answer in {timeout_s:.1f}s")

    async def aclose(self) -> None:
        async with self._lock:
            await self._close()

    async def _close(self) -> None:
        stream, self._stream, self._codec = self._stream, None, None
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _connected(self) -> tuple[trio.SocketStream, ClientCodec]:
        address = self._address()
        if self._stream is not None and self._codec is not None:
            if address == self._connected_to and trio.current_time() < self._session_ends:
                return self._stream, self._codec
            await self._close()  # the node moved (the channel follows another node), or the session ends
        if address is None:
            raise OSError("address unknown")
        now = trio.current_time()
        if now < self._next_attempt:
            raise OSError(f"reconnect backoff ({self._next_attempt - now:.2f}s left)")
        # Backoff grows with every attempt and resets once a connection answers.
        self._backoff_s = min(RECONNECT_BACKOFF_MAX_S, max(RECONNECT_BACKOFF_S, self._backoff_s * 2))
        self._next_attempt = now + self._backoff_s
        stream: Any = await trio.open_tcp_stream(*address)
        if self._ssl_context is not None:
            stream = trio.SSLStream(stream, self._ssl_context, server_hostname=address[0])
            try:
                await stream.do_handshake()
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
        codec = ClientCodec(self._client_id)
        self._stream, self._codec, self._connected_to = stream, codec, address
        response = await self._round_trip(stream, codec, ApiVersionsRequest(
            client_software_name="kafkapy", client_software_version=kafkapy.__version__), 3)
        if response.error_code == ErrorCode.NONE:  # type: ignore[attr-defined]
            self._versions = {k.api_key: (k.min_version, k.max_version)
                              for k in response.api_keys}  # type: ignore[attr-defined]
        self._session_ends = math.inf
        if self._authenticate is not None:
            lifetime_s = await self._authenticate(lambda message: self._round_trip(stream, codec, message, None))
            if lifetime_s is not None:  # reconnect at 90% of it, as Kafka's clients re-authenticate early
                self._session_ends = trio.current_time() + lifetime_s * 0.9
        self._backoff_s = 0.0
        self._next_attempt = -math.inf
        return stream, codec

    def _version(self, message: Message) -> int:
        info = api_info(type(message).API_KEY)  # type: ignore[attr-defined]
        assert info is not None
        theirs = self._versions.get(info.key)
        if theirs is None:
            if self._versions:
                raise OSError(f"the peer does not serve {info.name}")
            return info.max_version
        version = min(info.max_version, theirs[1])
        if version < max(info.min_version, theirs[0]):
            raise OSError(f"no common version of {info.name}")
        return version

    async def _round_trip(self, stream: trio.SocketStream, codec: ClientCodec, message: Message,
                          version: int | None) -> Message:
        _, chunks = codec.encode_request(message, self._version(message) if version is None else version)
        await stream.send_all(b"".join(chunks))
        while True:
            item = codec.next_response()
            if item is NEED_DATA:
                data = await stream.receive_some(_RECEIVE_BYTES)
                if not data:
                    raise trio.BrokenResourceError("connection closed by the peer")
                codec.receive_data(data)
            elif item is CLOSED:
                raise trio.BrokenResourceError("connection closed by the peer")
            else:
                return item[1]  # type: ignore[index,no-any-return]


def _source_of(body: RaftRequest) -> int:
    """The sender's replica id as a request names it (-1 for tools and admin clients)."""
    if isinstance(body, (VoteRequest, FetchRequest, FetchSnapshotRequest)):
        return body.replica_id
    if isinstance(body, (BeginQuorumEpochRequest, EndQuorumEpochRequest)):
        return body.leader_id
    return -1


class KafkaRaftTransport:
    """The Raft driver's transport over Kafka connections, and its inbound entry point.

    Build it, build the driver with it, then :meth:`bind` the driver and start
    :meth:`run` in a nursery.

    Args:
        node_id: this node.
        listener: the controller listener's name (``controller.listener.names``, first).
        static_voters: ``controller.quorum.voters`` addresses by id.
        request_timeout_ms: ``controller.quorum.request.timeout.ms``.
        own_endpoints: this node's controller endpoints (advertised in responses).
        ssl_context: TLS to the other voters (an SSL or SASL_SSL controller listener), else None.
        authenticate: SASL to the other voters (a SASL controller listener), else None.
    """

    def __init__(self, node_id: int, listener: str, static_voters: Mapping[int, Address], *,
                 request_timeout_ms: int = 2000, own_endpoints: Sequence[Endpoint] = (),
                 ssl_context: ssl.SSLContext | None = None, authenticate: Authenticator | None = None) -> None:
        self.node_id = node_id
        self._ssl_context = ssl_context
        self._authenticate = authenticate
        self.listener = listener
        self._static = dict(static_voters)
        self._learned: dict[int, tuple[Endpoint, ...]] = {}
        self.own_endpoints: tuple[Endpoint, ...] = tuple(own_endpoints)
        self._timeout_s = request_timeout_ms / 1000
        self._driver: Any = None
        self._nursery: trio.Nursery | None = None
        self._queues: dict[int, trio.MemorySendChannel[Envelope]] = {}
        #: (peer, "request" | "response") pairs already logged as of another cluster
        self._foreign: set[tuple[int, str]] = set()

    def bind(self, driver: Any) -> None:
        """The ``RaftDriver`` responses go to and inbound requests are stepped into."""
        self._driver = driver

    # --- addresses ----------------------------------------------------------------------

    def endpoints(self) -> dict[int, tuple[Endpoint, ...]]:
        """Every known node's endpoints on the controller listener, by id."""
        found: dict[int, tuple[Endpoint, ...]] = dict(self._learned)
        for node_id, (host, port) in self._static.items():
            found[node_id] = (Endpoint(self.listener, host, port),)
        if self._driver is not None:
            voters = self._driver.node.voters
            for node_id in voters.ids:
                voter = voters.get(node_id)
                listed = tuple(e for e in voter.endpoints if e.name == self.listener) if voter else ()
                if listed:
                    found[node_id] = listed
        if self.own_endpoints:
            found[self.node_id] = self.own_endpoints
        return found

    def voter_endpoints(self) -> dict[int, Endpoint]:
        """The voters' first endpoints on the controller listener (where they are known)."""
        voters = self._driver.node.voters.ids if self._driver is not None else self._static
        known = self.endpoints()
        return {node_id: known[node_id][0] for node_id in voters if known.get(node_id)}

    def address_of(self, node_id: int) -> Address | None:
        """Where ``node_id``'s controller listener is, if known."""
        endpoints = self.endpoints().get(node_id)
        return (endpoints[0].host, endpoints[0].port) if endpoints else None

    # --- outbound -----------------------------------------------------------------------

    def send(self, envelope: Envelope) -> None:
        """Queue a request for its destination (the Transport protocol); drop it if full."""
        if not envelope.is_request or self._nursery is None:
            return
        queue = self._queues.get(envelope.destination_id)
        if queue is None:
            queue, receive = trio.open_memory_channel[Envelope](_PEER_QUEUE)
            self._queues[envelope.destination_id] = queue
            self._nursery.start_soon(self._run_peer, envelope.destination_id, receive)
        try:
            queue.send_nowait(envelope)
        except trio.WouldBlock:
            log.debug("node %d: queue to %d full, dropped %s", self.node_id, envelope.destination_id,
                      type(envelope.body).__name__)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the peers' sender tasks; runs until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def _run_peer(self, peer: int, queue: trio.MemoryReceiveChannel[Envelope]) -> None:
        connection = PeerConnection(lambda: self.address_of(peer), client_id=f"raft-client-{self.node_id}",
                                    ssl_context=self._ssl_context, authenticate=self._authenticate)
        try:
            async for envelope in queue:
                wire = to_wire(envelope.body, self.endpoints())
                timeout_s = self._timeout_s
                if isinstance(envelope.body, FetchRequest):
                    timeout_s += envelope.body.max_wait_ms / 1000
                try:
                    response = await connection.request(wire, timeout_s=timeout_s)
                    body = from_wire(response)
                except RaftError as exc:
                    log.debug("node %d: %s to %d failed: %s", self.node_id, type(envelope.body).__name__, peer, exc)
                    continue
                self._learn(response)
                if getattr(body, "error_code", None) == ErrorCode.INCONSISTENT_CLUSTER_ID:
                    self._log_foreign(peer, "response", type(envelope.body).__name__, None)
                self._driver.step(Envelope(peer, self.node_id, envelope.correlation_id, body))
        finally:
            await connection.aclose()

    def _log_foreign(self, peer: int, direction: str, kind: str, their_cluster: str | None) -> None:
        """Log, once per peer and direction, that ``peer`` belongs to another cluster."""
        if (peer, direction) in self._foreign:
            return
        if len(self._foreign) >= _MAX_FOREIGN_LOGGED:
            # Node ids on the controller listener are the sender's word: a flood of
            # made-up ids must not mean a flood of ERROR lines.
            if len(self._foreign) == _MAX_FOREIGN_LOGGED:
                self._foreign.add((-1, "more"))
                log.error("Node %d: %d peers and directions of other clusters logged; no more will be",
                          self.node_id, _MAX_FOREIGN_LOGGED)
            return
        self._foreign.add((peer, direction))
        own = self._driver.config.cluster_id
        if direction == "request":
            log.error("Node %d: node %d sent a %s for cluster %s, but this node's cluster is %s; answering "
                      "INCONSISTENT_CLUSTER_ID. Format every node of a cluster with the same --cluster-id "
                      "(kafkapy storage format)", self.node_id, peer, kind, their_cluster, own)
        else:
            log.error("Node %d: node %d answered a %s with INCONSISTENT_CLUSTER_ID: it belongs to another "
                      "cluster than %s. Format every node of a cluster with the same --cluster-id "
                      "(kafkapy storage format)", self.node_id, peer, kind, own)

    def _learn(self, message: Any) -> None:
        for node_id, endpoints in wire_endpoints(message, self.listener).items():
            if node_id >= 0 and node_id != self.node_id:
                self._learned[node_id] = endpoints

    # --- inbound ------------------------------------------------------------------------

    async def handle(self, message: Message) -> Message | None:
        """Answer a KRaft request that arrived on a connection, in Kafka's wire form.

        Returns:
            The response message, or None if the node gave no answer in time (the
            caller closes the connection, as the requester has given up on it).
        Raises:
            RaftError(INVALID_REQUEST): not one ``__cluster_metadata`` partition.
        """
        body = from_wire(message)
        self._learn(message)
        own = self._driver.config.cluster_id
        theirs = getattr(body, "cluster_id", None)
        if theirs is not None and own is not None and theirs != own:
            self._log_foreign(_source_of(body), "request", type(body).__name__, theirs)
        timeout_s = self._timeout_s
        if isinstance(body, FetchRequest):
            timeout_s += body.max_wait_ms / 1000
        elif isinstance(body, AddRaftVoterRequest):
            timeout_s += body.timeout_ms / 1000
        response = await self._driver.handle_request(_source_of(body), body, timeout_s=timeout_s)  # type: ignore[arg-type]
        return None if response is None else to_wire(response, self.endpoints())


__all__ = [
    "KafkaRaftTransport", "PeerConnection", "PeerUnavailable", "parse_bootstrap_servers",
    "parse_quorum_voters",
]
