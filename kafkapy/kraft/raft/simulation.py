"""A deterministic simulation of a KRaft quorum: nodes, a network and a clock in one process.

Theory of operation. :class:`Simulation` owns an event queue ordered by (time, sequence):
message deliveries and node timers. Every random choice (delays, drops, duplicates,
election jitter) comes from ``random.Random`` objects seeded from one seed, so a run is
a pure function of its seed and of the calls made on it. After every event the
simulation checks Kafka's invariants (``RaftEventSimulationTest``):

* election safety: at most one leader per epoch, ever;
* monotonic epochs per node (across restarts) and monotonic high watermarks per
  node incarnation;
* committed data: every entry a node applies equals the one every other node applied
  at that offset, and applied offsets are consecutive; a snapshot holds exactly the
  committed data before its end offset;
* leader completeness: a new leader's log holds every entry committed before it;
* log matching (checked every few events and on demand): two logs with an entry of
  the same offset and epoch agree on every entry up to it.

Each node persists exactly what its Ready says (``quorum-state`` and log are kept
across a crash, nothing else is), and snapshots its state machine per a
:class:`~kafkapy.kraft.raft.snapshot.SnapshotPolicy`.

Two modes: ``auto`` delivers messages after random delays on a shared clock (the
randomized schedules); ``manual`` queues them until ``deliver()`` and gives each node
its own clock (the scripted scenarios, in etcd's style).
"""

from __future__ import annotations

import heapq
import json
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.epoch_state import ElectionState
from kafkapy.kraft.raft.errors import RaftInvariantError
from kafkapy.kraft.raft.memory_log import MemoryLog
from kafkapy.kraft.raft.messages import (
    AddRaftVoterRequest,
    Envelope,
    OffsetAndEpoch,
    RemoveRaftVoterRequest,
)
from kafkapy.kraft.raft.node import RaftNode
from kafkapy.kraft.raft.records import Endpoint, LogEntry, Voter
from kafkapy.kraft.raft.snapshot import SnapshotContent, SnapshotPolicy
from kafkapy.kraft.raft.voters import VoterSet
from kafkapy.wire.error_codes import ErrorCode


class SimulationFailure(AssertionError):
    """An invariant broke; the message names the seed and the recent events."""


class JsonSnapshotCodec:
    """A readable snapshot layout for in-memory logs (the file log uses Kafka's batches)."""

    def encode(self, content: SnapshotContent) -> bytes:
        voters = None
        if content.voters is not None:
            voters = [
                [v.voter_id, v.voter_directory_id, [[e.name, e.host, e.port] for e in v.endpoints],
                 list(v.kraft_version_feature)]
                for v in content.voters.to_record().voters
            ]
        doc = {
            "offset": content.snapshot_id.offset, "epoch": content.snapshot_id.epoch,
            "voters": voters, "records": [r.hex() for r in content.records],
            "kraft_version": content.kraft_version,
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def decode(self, data: bytes, snapshot_id: OffsetAndEpoch | None = None) -> SnapshotContent:
        doc = json.loads(data)
        voters = None
        if doc["voters"] is not None:
            voters = VoterSet(
                Voter(i, d, tuple(Endpoint(*e) for e in eps), tuple(kv))  # type: ignore[arg-type]
                for i, d, eps, kv in doc["voters"]
            )
        return SnapshotContent(OffsetAndEpoch(doc["offset"], doc["epoch"]), voters,
                               tuple(bytes.fromhex(r) for r in doc["records"]), doc["kraft_version"])


@dataclass
class SimNode:
    """One node's process (``raft``, None while crashed) and its durable state."""

    node_id: int
    log: MemoryLog
    election: ElectionState | None = None
    raft: RaftNode | None = None
    incarnation: int = 0
    clock: int = 0
    state_machine: list[bytes] = field(default_factory=list)
    applied_offset: int = 0
    policy: SnapshotPolicy = field(default_factory=SnapshotPolicy)
    max_epoch: int = 0
    max_high_watermark: int = -1
    leader_epoch_seen: int = -1
    timer_at: float = float("inf")
    snapshots_taken: int = 0
    snapshots_installed: int = 0


class Simulation:
    """Nodes, network and clock. Not task-safe; every method runs to completion."""

    def __init__(self, seed: int, voters: Iterable[int], observers: Iterable[int] = (), *,
                 mode: str = "auto", min_delay_ms: int = 1, max_delay_ms: int = 20,
                 drop_rate: float = 0.0, duplicate_rate: float = 0.0,
                 snapshot_max_bytes: int | None = None, kraft_version: int = 1,
                 election_timeout_ms: int = 1000, fetch_timeout_ms: int = 2000,
                 trace_events: int = 60) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.mode = mode
        self.now = 0
        self.min_delay_ms, self.max_delay_ms = min_delay_ms, max_delay_ms
        self.drop_rate, self.duplicate_rate = drop_rate, duplicate_rate
        self.snapshot_max_bytes = snapshot_max_bytes
        self.static_voters = VoterSet(Voter(i, f"dir-{i}") for i in sorted(voters))
        self.kraft_version = kraft_version
        self.election_timeout_ms = election_timeout_ms
        self.fetch_timeout_ms = fetch_timeout_ms
        self.codec = JsonSnapshotCodec()
        self.nodes: dict[int, SimNode] = {}
        self.blocked: set[tuple[int, int]] = set()
        self.pending: deque[tuple[Envelope, int]] = deque()
        self.committed: dict[int, LogEntry] = {}
        self.committed_end = 0
        self.leaders: dict[int, int] = {}
        self.responses: list[Envelope] = []
        self.events = 0
        self.trace: deque[str] = deque(maxlen=trace_events)
        self.on_message: Callable[[Envelope], None] | None = None
        self._queue: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        for node_id in sorted({*voters, *observers}):
            self.nodes[node_id] = SimNode(node_id, MemoryLog(self.codec))
            self.start(node_id)

    # --- failures -------------------------------------------------------------------

    def fail(self, message: str) -> SimulationFailure:
        recent = "\n  ".join(self.trace)
        return SimulationFailure(f"seed {self.seed} at t={self.now}ms: {message}\n  recent events:\n  {recent}")

    # --- node lifecycle -------------------------------------------------------------

    def config(self, node_id: int) -> RaftConfig:
        return RaftConfig(node_id, f"dir-{node_id}", "sim-cluster",
                          election_timeout_ms=self.election_timeout_ms,
                          fetch_timeout_ms=self.fetch_timeout_ms, kraft_version=self.kraft_version)

    def start(self, node_id: int) -> None:
        """Start (or restart) a node from its persisted log and quorum state."""
        sim = self.nodes[node_id]
        sim.incarnation += 1
        sim.clock = max(sim.clock, self.now)
        rng = random.Random(self.seed * 7919 + node_id * 104729 + sim.incarnation)
        try:
            sim.raft = RaftNode(self.config(node_id), sim.log, rng, sim.clock,
                                election=sim.election, static_voters=self.static_voters)
        except RaftInvariantError as e:
            raise self.fail(f"node {node_id} failed to start: {e}") from e
        snapshot = sim.log.latest_snapshot()
        if snapshot is not None:
            self._load_snapshot(sim, snapshot.data)
        else:
            sim.state_machine, sim.applied_offset = [], sim.log.log_start_offset
        sim.max_high_watermark = -1
        sim.policy = SnapshotPolicy(self.snapshot_max_bytes or SnapshotPolicy.max_bytes, last_snapshot_ms=sim.clock)
        sim.timer_at = float("inf")
        self.trace.append(f"t={self.now} start {node_id} (incarnation {sim.incarnation})")
        self._drain(sim)

    def crash(self, node_id: int) -> None:
        sim = self.nodes[node_id]
        sim.raft = None
        sim.timer_at = float("inf")
        self.trace.append(f"t={self.now} crash {node_id}")

    def alive(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.raft is not None]

    def isolate(self, group: Iterable[int]) -> None:
        """Cut every link between ``group`` and the other nodes, both ways."""
        group = set(group)
        for a in self.nodes:
            for b in self.nodes:
                if (a in group) != (b in group):
                    self.blocked.add((a, b))
        self.trace.append(f"t={self.now} partition {sorted(group)}")

    def heal(self) -> None:
        self.blocked.clear()
        self.trace.append(f"t={self.now} heal")

    # --- clients --------------------------------------------------------------------

    def leader(self) -> int | None:
        """The alive leader of the highest epoch, if any."""
        best = None
        for node_id in self.alive():
            raft = self.nodes[node_id].raft
            assert raft is not None
            if raft.is_leader and (best is None or raft.epoch > self.nodes[best].raft.epoch):  # type: ignore[union-attr]
                best = node_id
        return best

    def propose(self, node_id: int, values: list[bytes]) -> int | ErrorCode:
        sim = self.nodes[node_id]
        if sim.raft is None:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        self._sync_clock(sim)
        result = sim.raft.propose(values)
        self.trace.append(f"t={self.now} propose {node_id} {[v.decode(errors='replace') for v in values]} -> {result}")
        self._drain(sim)
        return result

    def request(self, node_id: int, body: Any, source_id: int = -100) -> None:
        """Send an admin request (AddRaftVoter, ...) to a node; its answer lands in ``responses``."""
        self._seq += 1
        self._send(Envelope(source_id, node_id, 1_000_000 + self._seq, body))

    def resign(self, node_id: int) -> None:
        sim = self.nodes[node_id]
        if sim.raft is not None:
            self._sync_clock(sim)
            sim.raft.resign()
            self._drain(sim)

    # --- running --------------------------------------------------------------------

    def _push(self, at: float, kind: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, kind, payload))

    def _send(self, envelope: Envelope) -> None:
        if self.on_message is not None:
            self.on_message(envelope)
        destination = self.nodes.get(envelope.destination_id)
        if destination is None:
            self.responses.append(envelope)
            return
        if self.mode == "manual":
            self.pending.append((envelope, destination.incarnation))
            return
        rng = self.rng
        if self.drop_rate and rng.random() < self.drop_rate:
            return
        copies = 2 if self.duplicate_rate and rng.random() < self.duplicate_rate else 1
        for _ in range(copies):
            delay = rng.randint(self.min_delay_ms, self.max_delay_ms)
            self._push(self.now + delay, 0, (envelope, destination.incarnation))

    def _deliver(self, envelope: Envelope, incarnation: int) -> bool:
        sim = self.nodes[envelope.destination_id]
        if sim.raft is None or sim.incarnation != incarnation:
            return False  # the connection died with the process
        if (envelope.source_id, envelope.destination_id) in self.blocked:
            return False
        self._sync_clock(sim)
        self.trace.append(f"t={self.now} {envelope.source_id}->{envelope.destination_id} {describe(envelope.body)}")
        try:
            sim.raft.step(envelope)
        except RaftInvariantError as e:
            raise self.fail(str(e)) from e
        self._drain(sim)
        return True

    def _sync_clock(self, sim: SimNode) -> None:
        if self.mode == "auto" and sim.raft is not None and sim.clock < self.now:
            sim.clock = self.now
            try:
                sim.raft.tick(self.now)
            except RaftInvariantError as e:
                raise self.fail(str(e)) from e

    def run_for(self, ms: int) -> None:
        """Run every event up to now + ``ms`` (auto mode)."""
        self.run_until(lambda: False, ms)

    def run_until(self, done: Callable[[], bool], timeout_ms: int) -> bool:
        end = self.now + timeout_ms
        queue = self._queue
        while queue and queue[0][0] <= end:
            if done():
                return True
            at, _, kind, payload = heapq.heappop(queue)
            self.now = max(self.now, int(at))
            self.events += 1
            if kind == 0:
                self._deliver(*payload)
            else:
                node_id, incarnation = payload
                sim = self.nodes[node_id]
                if sim.raft is None or sim.incarnation != incarnation or sim.timer_at != at:
                    continue
                sim.timer_at = float("inf")
                sim.clock = self.now
                try:
                    sim.raft.tick(self.now)
                except RaftInvariantError as e:
                    raise self.fail(str(e)) from e
                self._drain(sim)
            if self.events % 64 == 0:
                self.check_log_matching()
        self.now = max(self.now, end)
        return done()

    # --- manual mode ----------------------------------------------------------------

    def deliver(self) -> list[tuple[Envelope, bool]]:
        """Deliver the queued messages in order (manual mode), and those they cause.

        Returns:
            Every message taken off the queue, with whether it arrived (False: the link
            is cut or the destination crashed).
        """
        delivered = []
        while self.pending:
            envelope, incarnation = self.pending.popleft()
            delivered.append((envelope, self._deliver(envelope, incarnation)))
        return delivered

    def tick_node(self, node_id: int, ms: int) -> None:
        """Advance one node's own clock by ``ms`` (manual mode)."""
        sim = self.nodes[node_id]
        sim.clock += ms
        self.now = max(self.now, sim.clock)
        if sim.raft is not None:
            try:
                sim.raft.tick(sim.clock)
            except RaftInvariantError as e:
                raise self.fail(str(e)) from e
            self._drain(sim)

    # --- the Ready loop of one node -------------------------------------------------

    def _drain(self, sim: SimNode) -> None:
        raft = sim.raft
        assert raft is not None
        while raft.has_ready():
            ready = raft.ready()
            for envelope in ready.messages:
                self._send(envelope)
            if ready.quorum_state is not None:
                sim.election = ready.quorum_state
            try:
                sim.log.persist(ready)
            except RaftInvariantError as e:
                raise self.fail(f"node {sim.node_id}: {e}") from e
            if ready.snapshot is not None:
                self._load_snapshot(sim, ready.snapshot.data)
                sim.snapshots_installed += 1
            for envelope in ready.messages_after_persist:
                self._send(envelope)
            self._apply(sim, ready.committed)
            try:
                raft.advance(ready)
            except RaftInvariantError as e:
                raise self.fail(f"node {sim.node_id}: {e}") from e
            self._check_node(sim)
        self._maybe_snapshot(sim)
        if self.mode == "auto":
            deadline = raft.next_deadline_ms()
            if deadline < sim.timer_at:
                sim.timer_at = deadline
                self._push(deadline, 1, (sim.node_id, sim.incarnation))

    def _apply(self, sim: SimNode, entries: tuple[LogEntry, ...]) -> None:
        for entry in entries:
            if entry.offset != sim.applied_offset:
                raise self.fail(f"node {sim.node_id} applied {entry.offset}, expected {sim.applied_offset}")
            known = self.committed.get(entry.offset)
            if known is None:
                self.committed[entry.offset] = entry
                self.committed_end = max(self.committed_end, entry.offset + 1)
            elif known != entry:
                raise self.fail(f"node {sim.node_id} committed {entry} where {known} was committed")
            if isinstance(entry.value, bytes):
                sim.state_machine.append(entry.value)
                sim.policy.record_applied(entry.size)
            sim.applied_offset = entry.offset + 1

    def _committed_data_before(self, offset: int) -> list[bytes] | None:
        """The committed data values below ``offset``, or None if some offset is unknown."""
        values = []
        for o in range(offset):
            entry = self.committed.get(o)
            if entry is None:
                return None
            if isinstance(entry.value, bytes):
                values.append(entry.value)
        return values

    def _load_snapshot(self, sim: SimNode, data: bytes) -> None:
        content = self.codec.decode(data)
        expected = self._committed_data_before(content.snapshot_id.offset)
        if expected is not None and list(content.records) != expected:
            raise self.fail(f"node {sim.node_id}: snapshot {content.snapshot_id} differs from the committed data")
        sim.state_machine = list(content.records)
        sim.applied_offset = content.snapshot_id.offset

    def _maybe_snapshot(self, sim: SimNode) -> None:
        if self.snapshot_max_bytes is not None and sim.policy.should_snapshot(sim.clock):
            self.take_snapshot(sim.node_id)

    def take_snapshot(self, node_id: int) -> OffsetAndEpoch | None:
        """Snapshot a node's state machine at its applied offset and delete the log before it."""
        sim = self.nodes[node_id]
        raft = sim.raft
        offset = raft.applied_offset if raft is not None else 0
        if raft is None or offset <= sim.log.log_start_offset:
            return None
        snapshot_id = OffsetAndEpoch(offset, raft.epoch_at(offset - 1))
        sim.log.create_snapshot(SnapshotContent(
            snapshot_id, raft.voters_at(offset - 1), tuple(sim.state_machine), self.kraft_version))
        sim.log.delete_before_snapshot()
        sim.policy.snapshot_taken(sim.clock)
        sim.snapshots_taken += 1
        self.trace.append(f"t={self.now} node {sim.node_id} snapshot {snapshot_id.offset}-{snapshot_id.epoch}")
        return snapshot_id

    # --- invariants -----------------------------------------------------------------

    def _check_node(self, sim: SimNode) -> None:
        raft = sim.raft
        assert raft is not None
        if raft.epoch < sim.max_epoch:
            raise self.fail(f"node {sim.node_id} epoch went back from {sim.max_epoch} to {raft.epoch}")
        sim.max_epoch = raft.epoch
        hw = raft.high_watermark
        if hw is not None:
            if hw < sim.max_high_watermark:
                raise self.fail(f"node {sim.node_id} high watermark went back from {sim.max_high_watermark} to {hw}")
            sim.max_high_watermark = hw
        if raft.is_leader and sim.leader_epoch_seen != raft.epoch:
            sim.leader_epoch_seen = raft.epoch
            other = self.leaders.setdefault(raft.epoch, sim.node_id)
            if other != sim.node_id:
                raise self.fail(f"two leaders in epoch {raft.epoch}: {other} and {sim.node_id}")
            self.trace.append(f"t={self.now} node {sim.node_id} leads epoch {raft.epoch}")
            self._check_leader_completeness(sim)

    def _check_leader_completeness(self, sim: SimNode) -> None:
        log = sim.log
        if log.end_offset < self.committed_end:
            raise self.fail(f"leader {sim.node_id} log ends at {log.end_offset}, "
                            f"before the committed end {self.committed_end}")
        start = log.log_start_offset
        for entry in log.read(start, self.committed_end):
            if self.committed.get(entry.offset, entry) != entry:
                raise self.fail(f"leader {sim.node_id} has {entry}, committed {self.committed[entry.offset]}")

    def check_log_matching(self) -> None:
        """Two logs agreeing on (offset, epoch) agree on every entry before it."""
        nodes = list(self.nodes.values())
        for i, a in enumerate(nodes):
            for b in nodes[i + 1:]:
                start = max(a.log.log_start_offset, b.log.log_start_offset)
                end = min(a.log.end_offset, b.log.end_offset)
                if end <= start:
                    continue
                entries_a = a.log.read(start, end)
                entries_b = b.log.read(start, end)
                for k in range(len(entries_a) - 1, -1, -1):
                    if entries_a[k].epoch == entries_b[k].epoch:
                        if entries_a[:k + 1] != entries_b[:k + 1]:
                            raise self.fail(f"logs of {a.node_id} and {b.node_id} match at offset "
                                            f"{start + k} but differ before it")
                        break


_NO_DEFAULT = object()


def _fields(value: Any) -> list[tuple[str, Any]] | None:
    """(name, default) of each field of a message (a named tuple) or record (a
    dataclass); None for any other value."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return [(name, value._field_defaults.get(name, _NO_DEFAULT)) for name in value._fields]
    if is_dataclass(value) and not isinstance(value, type):
        return [(f.name, f.default) for f in fields(value)]
    return None


def describe(body: Any) -> str:
    """A one-line rendering of a message: its type and its non-default fields."""
    described = _fields(body)
    if described is None:
        return repr(body)
    parts = []
    for name, default in described:
        value = getattr(body, name)
        if name in ("cluster_id", "max_wait_ms", "max_bytes") or value in (None, (), b"", "") or (
                default is not None and value == default and name != "error_code"):
            continue
        if name.endswith("directory_id"):
            continue
        if isinstance(value, ErrorCode):
            value = value.name
        elif name == "records":
            value = "[" + " ".join(f"{e.offset}@{e.epoch}:{_value_repr(e.value)}" for e in value) + "]"
        elif (nested := _fields(value)) is not None:
            value = "(" + " ".join(f"{n}={getattr(value, n)}" for n, _ in nested) + ")"
        elif isinstance(value, bytes):
            value = f"<{len(value)} bytes>"
        parts.append(f"{name}={value}")
    return f"{type(body).__name__}({' '.join(parts)})"


def _value_repr(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return type(value).__name__


def run_random_schedule(seed: int, duration_ms: int = 6000, *, membership: bool = False) -> Simulation:
    """One randomized schedule: a workload with crashes, restarts, partitions, lossy links.

    With ``membership``, nodes 4 and 5 start as observers and the workload also sends
    AddRaftVoter / RemoveRaftVoter to the leader (KIP-853). After ``duration_ms`` the
    faults stop; the quorum must then elect a leader, commit a last proposal on every
    node and still satisfy every invariant.

    Raises:
        SimulationFailure: an invariant broke, or the healed quorum made no progress.
    """
    rng = random.Random(seed ^ 0x5EED)
    voters = (1, 2, 3) if membership or rng.random() < 0.6 else (1, 2, 3, 4, 5)
    sim = Simulation(
        seed, voters, (4, 5) if membership else (),
        drop_rate=rng.choice((0.0, 0.0, 0.02, 0.1)),
        duplicate_rate=rng.choice((0.0, 0.02, 0.1)),
        max_delay_ms=rng.choice((5, 20, 80)),
        snapshot_max_bytes=rng.choice((None, 16, 64)),
    )
    proposed = 0
    while sim.now < duration_ms:
        sim.run_for(rng.randint(20, 300))
        action = rng.random()
        alive = sim.alive()
        crashed = [i for i in sim.nodes if i not in alive]
        if membership and action < 0.15:
            leader = sim.leader()
            if leader is not None:
                current = sim.nodes[leader].raft.voters  # type: ignore[union-attr]
                if rng.random() < 0.5 and len(current) > 1:
                    sim.request(leader, RemoveRaftVoterRequest("sim-cluster", rng.choice(sorted(current.ids)), None))
                else:
                    others = sorted(set(sim.nodes) - current.ids)
                    if others:
                        new = rng.choice(others)
                        sim.request(leader, AddRaftVoterRequest("sim-cluster", 2000, new, f"dir-{new}", ()))
        elif action < 0.55:
            leader = sim.leader()
            target = leader if leader is not None and rng.random() < 0.8 else rng.choice(list(sim.nodes))
            values = [f"v{proposed + i}".encode() for i in range(rng.randint(1, 3))]
            if sim.propose(target, values) not in (ErrorCode.NOT_LEADER_OR_FOLLOWER,):
                proposed += len(values)
        elif action < 0.65 and len(alive) > 1:
            sim.crash(rng.choice(alive))
        elif action < 0.8 and crashed:
            sim.start(rng.choice(crashed))
        elif action < 0.88:
            nodes = list(sim.nodes)
            sim.isolate(rng.sample(nodes, rng.randint(1, len(nodes) // 2 + 1)))
        else:
            sim.heal()
    sim.heal()
    for node_id in sim.nodes:
        if sim.nodes[node_id].raft is None:
            sim.start(node_id)
    final = b"final"
    done = False
    for _ in range(40):
        if not sim.run_until(lambda: sim.leader() is not None, 5000):
            continue
        leader = sim.leader()
        assert leader is not None
        offset = sim.propose(leader, [final])
        if isinstance(offset, ErrorCode):
            continue
        target = offset + 1
        if sim.run_until(lambda t=target: all(n.applied_offset >= t for n in sim.nodes.values()), 10000):
            done = True
            break
    if not done:
        states = {i: (n.raft.state if n.raft else None, n.applied_offset) for i, n in sim.nodes.items()}
        raise sim.fail(f"no progress after healing: {states}")
    sim.check_log_matching()
    return sim
