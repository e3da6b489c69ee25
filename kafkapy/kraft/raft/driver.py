"""The trio driver of the Raft core: the I/O loop around a :class:`RaftNode`.

Theory of operation. One task runs :meth:`RaftDriver.run`: tick the node with trio's
clock, handle its Ready (send what may go now, write the quorum state and the log,
send the rest, hand committed entries to the listener, ``advance()``), then wait for
the next inbound message until the node's next deadline (``trio.move_on_at``).
Handling a Ready never awaits, so no other task can reach the node between
``ready()`` and ``advance()``; that is what lets :meth:`propose` run in the caller's
task. Persistence is synchronous (the metadata log is small and must be durable before
votes and acks go out).

Between ``ready()`` and ``advance()`` the node takes no input, whatever happens:

- a listener that calls back into the driver (``step``, ``resign``) while a Ready is
  handled has its input queued and stepped once the Ready is advanced;
- a listener that raises is logged and the Ready is still advanced, its I/O being
  done (Kafka's ``MetadataLoader`` hands publisher faults to a fault handler and goes
  on; the Raft client never sees them);
- if writing the quorum state or the log fails, the Ready cannot be advanced: the
  driver stops for good (Kafka treats a metadata log I/O error as fatal). Its listeners
  hear that there is no leader, ``run`` raises the error, ``propose`` raises
  :class:`DriverStoppedError`, and other inputs are dropped, so a controlled shutdown
  that follows finds no controller and gives up instead of feeding the node.

The network is a :class:`Transport`: ``send`` is best effort and never blocks (a lost
message is the core's problem, which it solves with timeouts); inbound envelopes come
through a trio receive channel. :class:`MemoryNetwork` connects drivers in one process
for tests. Over the Kafka protocol (``kafkapy.kraft.raft.network``) requests arrive on
server connections that must answer them: :meth:`RaftDriver.handle_request` steps such
a request under a negative correlation id (the core numbers its own requests from 1,
and echoes the id in its answer) and waits for the answer, which the driver hands to
the waiting task instead of the transport. Responses to the node's own requests come
back through :meth:`RaftDriver.step`. Any input from another task wakes the loop, so
it recomputes its deadline.

Implements the ``RaftClient`` the metadata layer uses (``node_id``, ``register``,
``propose``) and calls its listener in log order.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import trio

from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.errors import RaftError, RaftInvariantError
from kafkapy.kraft.raft.log import PersistentRaftLog
from kafkapy.kraft.raft.messages import (
    DescribeQuorumResponse,
    Envelope,
    OffsetAndEpoch,
    RaftRequest,
    RaftResponse,
    ReplicaState,
)
from kafkapy.kraft.raft.node import RaftNode
from kafkapy.kraft.raft.quorum_store import QuorumStateStore
from kafkapy.kraft.raft.ready import Ready
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.kraft.raft.snapshot import SnapshotContent, SnapshotPolicy
from kafkapy.kraft.raft.voters import VoterSet
from kafkapy.wire.error_codes import ErrorCode

log = logging.getLogger(__name__)

#: After a snapshot failed to be written, how long before trying again.
_SNAPSHOT_RETRY_MS = 10_000


class Listener(Protocol):
    """Receives the committed log (the metadata layer's ``MetadataListener``)."""

    def handle_load_snapshot(self, end_offset: int, epoch: int, values: Sequence[bytes]) -> None: ...

    def handle_commit(self, entries: Sequence[LogEntry]) -> None: ...

    def handle_leader_change(self, leader_id: int | None, epoch: int) -> None: ...


class Transport(Protocol):
    def send(self, envelope: Envelope) -> None:
        """Queue ``envelope`` for its destination; drop it if that cannot be done now."""


class DriverStoppedError(RaftError):
    """The driver stopped after its log or quorum state could not be written."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"the Raft driver stopped: {cause!r}", ErrorCode.KAFKA_STORAGE_ERROR)


class NotLeaderError(RaftError):
    """A proposal reached a node that does not lead; ``leader_id`` is the known leader."""

    def __init__(self, leader_id: int | None, epoch: int) -> None:
        super().__init__(f"not the leader (leader {leader_id}, epoch {epoch})", ErrorCode.NOT_LEADER_OR_FOLLOWER)
        self.leader_id = leader_id


class RaftDriver:
    """Runs one node; build it inside ``trio.run`` (it reads trio's clock).

    Not thread-safe; any trio task of the run may call ``propose``.

    Args:
        config: the node's Raft settings.
        log: the persisted log (``MemoryLog`` or the file-backed log).
        store: where ``quorum-state`` lives.
        transport: how envelopes reach other nodes.
        inbox: envelopes addressed to this node.
        static_voters: ``controller.quorum.voters`` (without a VotersRecord in the log).
        snapshot_source: the state machine's data records as of the applied offset, to
            snapshot per ``snapshot_policy``; None takes no snapshots.
    """

    def __init__(self, config: RaftConfig, log: PersistentRaftLog, store: QuorumStateStore,
                 transport: Transport, inbox: trio.abc.ReceiveChannel[Envelope], *,
                 static_voters: VoterSet | None = None, rng: random.Random | None = None,
                 snapshot_source: Callable[[], Sequence[bytes]] | None = None,
                 snapshot_policy: SnapshotPolicy | None = None) -> None:
        self.config = config
        self._log = log
        self._store = store
        self._transport = transport
        self._inbox = inbox
        self._listeners: list[Listener] = []
        self._snapshot_source = snapshot_source
        self._policy = snapshot_policy or SnapshotPolicy(last_snapshot_ms=self._now())
        self.node = RaftNode(config, log, rng or random.Random(), self._now(),
                             election=store.read(), static_voters=static_voters)
        self._leader_and_epoch: tuple[int | None, int] | None = None
        #: correlation id (negative) -> [event, answer] of requests awaited in handle_request
        self._waiters: dict[int, list[Any]] = {}
        self._next_inbound_correlation = -1
        #: the run loop's wait, cancelled to wake it when another task stepped the node
        self._wait_scope: trio.CancelScope | None = None
        #: True while a Ready is being handled (between ``ready()`` and ``advance()``)
        self._in_ready = False
        #: inputs that arrived while a Ready was handled: envelopes, or None for resign
        self._deferred: list[Envelope | None] = []
        #: why the driver stopped (persistence failed with a Ready outstanding), if it did
        self._failure: BaseException | None = None
        #: no snapshot before this time (the last attempt failed)
        self._snapshot_retry_ms = 0

    @property
    def node_id(self) -> int:
        return self.config.node_id

    @staticmethod
    def _now() -> int:
        return int(trio.current_time() * 1000)

    def register(self, listener: Listener) -> None:
        """Deliver the latest snapshot now, then commits and leader changes as they happen."""
        self._listeners.append(listener)
        snapshot = self._log.latest_snapshot()
        if snapshot is not None:
            snapshot_id = snapshot.snapshot_id
            listener.handle_load_snapshot(snapshot_id.offset, snapshot_id.epoch, self._log.snapshot_records(snapshot))
        if self._leader_and_epoch is not None:
            listener.handle_leader_change(*self._leader_and_epoch)

    async def propose(self, values: Sequence[bytes]) -> int:
        """Append ``values`` as the leader; returns the last offset (committed later).

        Raises:
            NotLeaderError: this node does not lead.
        """
        if self._failure is not None:
            raise DriverStoppedError(self._failure)
        if self._in_ready:
            raise RaftInvariantError("propose from a listener while a Ready is handled")
        result = self.node.propose(values)
        if isinstance(result, ErrorCode):
            raise NotLeaderError(self.node.leader_id, self.node.epoch)
        self._handle_ready()
        self._wake()
        await trio.lowlevel.checkpoint()
        return result

    def resign(self) -> None:
        """Give up leadership gracefully (EndQuorumEpoch to the voters)."""
        if self._failure is not None:
            return
        if self._in_ready:
            self._deferred.append(None)
            return
        self.node.resign()
        self._handle_ready()
        self._wake()  # the run loop's deadline was a leader's; the resigned state has its own

    def describe_quorum(self) -> DescribeQuorumResponse:
        return self._wall_clock(self.node.describe_quorum())

    def _wall_clock(self, response: DescribeQuorumResponse) -> DescribeQuorumResponse:
        """``response`` with its fetch times on the wall clock: Kafka reports them as
        epoch milliseconds (``kafka-metadata-quorum`` subtracts them from the time of
        day), while the core counts on trio's clock; -1 (never) stays."""
        shift = time.time_ns() // 1_000_000 - self._now()

        def wall(ms: int) -> int:
            return ms + shift if ms >= 0 else ms

        def replicas(states: Sequence[ReplicaState]) -> tuple[ReplicaState, ...]:
            return tuple(r._replace(last_fetch_timestamp=wall(r.last_fetch_timestamp),
                                    last_caught_up_timestamp=wall(r.last_caught_up_timestamp))
                         for r in states)

        return response._replace(current_voters=replicas(response.current_voters),
                                 observers=replicas(response.observers))

    def step(self, envelope: Envelope) -> None:
        """Handle one inbound envelope now (the transport may call this instead of the inbox).

        Queued if a Ready is being handled (a listener called back), dropped if the
        driver stopped.
        """
        if self._failure is not None:
            log.debug("node %d: stopped, dropped %s", self.node_id, type(envelope.body).__name__)
            return
        if self._in_ready:
            self._deferred.append(envelope)
            return
        self.node.tick(self._now())
        self.node.step(envelope)
        self._handle_ready()
        self._wake()

    async def handle_request(self, source_id: int, body: RaftRequest, *, timeout_s: float) -> RaftResponse | None:
        """Step a request that arrived on a connection and wait for the node's answer.

        Args:
            source_id: the sender's replica id as the request names it (-1 if none).
            body: the request.
            timeout_s: how long to wait; a long-poll Fetch needs its max wait and more.
        Returns:
            The answer, or None if none came in time (the node dropped the request, e.g.
            a parked Fetch replaced by a newer one from the same replica).
        """
        if self._failure is not None:
            return None
        correlation_id = self._next_inbound_correlation
        self._next_inbound_correlation -= 1
        waiter: list[Any] = [trio.Event(), None]
        self._waiters[correlation_id] = waiter
        try:
            self.step(Envelope(source_id, self.node_id, correlation_id, body))
            with trio.move_on_after(timeout_s):
                await waiter[0].wait()
            return waiter[1]  # type: ignore[no-any-return]
        finally:
            self._waiters.pop(correlation_id, None)

    def _wake(self) -> None:
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The loop; runs until cancelled."""
        task_status.started()
        while True:
            if self._failure is not None:
                raise DriverStoppedError(self._failure) from self._failure
            self.node.tick(self._now())
            self._handle_ready()
            deadline = self.node.next_deadline_ms()
            envelope = None
            # A cancelled receive takes nothing from the channel (trio's guarantee).
            with trio.move_on_at(deadline / 1000 if math.isfinite(deadline) else math.inf) as scope:
                self._wait_scope = scope
                envelope = await self._inbox.receive()
            self._wait_scope = None
            if envelope is not None:
                self.step(envelope)

    def _handle_ready(self) -> None:
        """Handle every Ready the node has, then the inputs queued meanwhile."""
        if self._in_ready or self._failure is not None:
            return  # re-entered from a listener: the outer call goes on with what is new
        node = self.node
        self._in_ready = True
        try:
            while True:
                while node.has_ready():
                    ready = node.ready()
                    try:
                        self._persist_and_send(ready)
                    except BaseException as exc:
                        self._stop(exc)
                        raise
                    self._apply(ready)
                    node.advance(ready)
                if not self._deferred:
                    break
                deferred = self._deferred.pop(0)
                node.tick(self._now())
                if deferred is None:
                    node.resign()
                else:
                    node.step(deferred)
        finally:
            self._in_ready = False
        self._maybe_notify_leader_change()
        self._maybe_snapshot()

    def _persist_and_send(self, ready: Ready) -> None:
        """Steps 1-6 of a Ready: send, persist, install a snapshot, send after persisting."""
        for envelope in ready.messages:
            self._send(envelope)
        if ready.quorum_state is not None:
            self._store.write(ready.quorum_state)
        self._log.persist(ready)
        if ready.snapshot is not None:
            snapshot = self._log.latest_snapshot()
            assert snapshot is not None
            log.info("node %d: snapshot %s fetched from the leader, log restarts at %d", self.node_id,
                     ready.snapshot.snapshot_id, ready.snapshot.snapshot_id.offset)
            records = self._log.snapshot_records(snapshot)
            self._notify(lambda listener: listener.handle_load_snapshot(
                ready.snapshot.snapshot_id.offset, ready.snapshot.snapshot_id.epoch, records))
        for envelope in ready.messages_after_persist:
            self._send(envelope)

    def _apply(self, ready: Ready) -> None:
        """Step 7 of a Ready: the listeners apply what was committed."""
        # The listener learns of a new leader before the entries committed with it:
        # a single voter commits its epoch's first entry in the step that makes it
        # leader, and that commit is what activates its controller (Kafka fires
        # handleLeaderChange before the listener reads past the epoch start offset).
        self._maybe_notify_leader_change()
        if ready.committed:
            self._notify(lambda listener: listener.handle_commit(ready.committed))
            for entry in ready.committed:
                self._policy.record_applied(entry.size)

    def _notify(self, call: Callable[[Listener], object]) -> None:
        """Call every listener; one that raises is logged and the others still hear."""
        for listener in self._listeners:
            try:
                call(listener)
            except Exception:
                log.exception("node %d: listener %r failed; the Raft log goes on", self.node_id, listener)

    def _stop(self, exc: BaseException) -> None:
        """Persisting a Ready failed: the node is never stepped again (see the module doc)."""
        self._failure = exc
        self._deferred.clear()
        log.error("node %d: writing the metadata log or quorum state failed, the Raft driver stops: %r",
                  self.node_id, exc)
        for waiter in self._waiters.values():
            waiter[0].set()
        self._leader_and_epoch = (None, self.node.epoch)
        self._notify(lambda listener: listener.handle_leader_change(None, self.node.epoch))
        self._wake()

    def _send(self, envelope: Envelope) -> None:
        if isinstance(envelope.body, DescribeQuorumResponse):
            envelope = envelope._replace(body=self._wall_clock(envelope.body))
        if envelope.correlation_id < 0 and not envelope.is_request:
            # The answer to a handle_request: to its waiter, if it still waits.
            waiter = self._waiters.pop(envelope.correlation_id, None)
            if waiter is not None:
                waiter[1] = envelope.body
                waiter[0].set()
            return
        self._transport.send(envelope)

    def _maybe_notify_leader_change(self) -> None:
        resigned = self.node.state.name == "Resigned"
        current = (None if resigned else self.node.leader_id, self.node.epoch)
        if current != self._leader_and_epoch:
            self._leader_and_epoch = current
            self._notify(lambda listener: listener.handle_leader_change(*current))

    def _maybe_snapshot(self) -> None:
        now = self._now()
        if self._snapshot_source is None or now < self._snapshot_retry_ms or not self._policy.should_snapshot(now):
            return
        offset = self.node.applied_offset
        if offset <= self._log.log_start_offset:
            return
        snapshot_id = OffsetAndEpoch(offset, self.node.epoch_at(offset - 1))
        try:
            self._log.create_snapshot(SnapshotContent(
                snapshot_id, self.node.voters_at(offset - 1), tuple(self._snapshot_source()),
                self.config.kraft_version))
            removed = self._log.delete_before_snapshot()
        except OSError as exc:
            # Out of file descriptors or a disk error: the log is whole without it.
            self._snapshot_retry_ms = now + _SNAPSHOT_RETRY_MS
            log.warning("node %d: snapshot %s failed, trying again in %d s: %r", self.node_id, snapshot_id,
                        _SNAPSHOT_RETRY_MS // 1000, exc)
            return
        self._policy.snapshot_taken(self._now())
        log.info("node %d: snapshot %s, %d log entries deleted", self.node_id, snapshot_id, removed)


class MemoryNetwork:
    """Connects drivers in one process through trio memory channels (tests, benchmarks).

    ``cut(a, b)`` drops messages between two nodes; ``disconnect(n)`` drops all of
    ``n``'s, as a dead process would.
    """

    def __init__(self) -> None:
        self._inboxes: dict[int, trio.MemorySendChannel[Envelope]] = {}
        self.blocked: set[tuple[int, int]] = set()

    def connect(self, node_id: int, buffer: int = 1024) -> tuple[Transport, trio.MemoryReceiveChannel[Envelope]]:
        send, receive = trio.open_memory_channel[Envelope](buffer)
        self._inboxes[node_id] = send
        return _MemoryTransport(self), receive

    def disconnect(self, node_id: int) -> None:
        self._inboxes.pop(node_id, None)

    def deliver(self, envelope: Envelope) -> None:
        inbox = self._inboxes.get(envelope.destination_id)
        if inbox is None or (envelope.source_id, envelope.destination_id) in self.blocked:
            return
        try:
            inbox.send_nowait(envelope)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            pass


class _MemoryTransport:
    def __init__(self, network: MemoryNetwork) -> None:
        self._network = network

    def send(self, envelope: Envelope) -> None:
        self._network.deliver(envelope)

