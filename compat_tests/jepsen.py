"""A Jepsen-style check of partition replication, for kafkapy and Apache Kafka alike.

Workload (:class:`Workload`): a topic of a few partitions with replication factor 3 and
``min.insync.replicas=2`` on a 3-node cluster. Idempotent producers
(``enable.idempotence``, acks=all) write unique values ``p<producer>.<incarnation>-<seq>``
round robin over the partitions and record every acknowledged (partition, offset,
value); a producer that hits a fatal error is replaced by a new incarnation. A
read_committed consumer reads every partition from the start for the whole run and
remembers each value it saw at each offset; a monitor asks ListOffsets (latest,
read_uncommitted: the high watermark) of every partition's leader every 100 ms and
keeps (leader epoch, high watermark).

Faults (:func:`run_cycles`), in turn: SIGKILL the leader of a partition then restart
it; cut the leader off from the other nodes (quorum and replication) then heal; pause
the leader (SIGSTOP) then resume it; cut the leader from one follower only, both still
reaching the third node (a bridge: the follower leaves the ISR, or the leader is fenced
when that follower is the active controller), then heal. Each fault holds until another
node leads the partition (the follower left the ISR), then a little longer under load;
each cycle ends once every partition's ISR is whole again.

Checks (:func:`check`), after healing everything, draining the producers and reading
every partition to its high watermark with a fresh read_committed consumer:

* lost: an acknowledged value is not at its acknowledged offset in the final log
  (acks=all with ``min.insync.replicas=2`` and no unclean election promises it is);
* duplicated: a value more than once in the final log (idempotence promises not);
* reordered: one producer incarnation's values out of sequence order in a partition.
  Both only for producers none of whose deliveries timed out (the default
  ``message.timeout.ms`` of 60 s outlasts every fault): after a timeout librdkafka bumps
  the producer epoch and sends again, under new sequence numbers, records the broker
  may already hold, and Apache Kafka shows duplicates and reordering then too; those
  are counted apart, not as violations;
* phantom reads: the consumer saw a value at an offset that the final log holds
  differently or not at all (a consumer never reads above the high watermark, and
  nothing below it is ever truncated);
* high-watermark regressions: ListOffsets answered, by a leader of the same or a later
  epoch, a high watermark below one answered before, or one above the final log end.
  An older epoch's leader may still answer with its stale watermark (a client with
  old metadata reaches it); that is allowed, as in Kafka (KIP-207 holds a new leader's
  answer back, OFFSET_NOT_AVAILABLE, until its watermark reaches its epoch's start);
* replica divergence: once the replicas caught up, the record batches of a partition
  on each node's disk (``<log dir>/<topic>-<partition>/*.log``, Kafka's segment format
  for both brokers) differ byte for byte, or their log end offsets differ.

Run: ``python -m compat_tests.jepsen --target kafkapy|kafka|both --cycles 10``; the
result is a side-by-side table. Kafka runs from the reference jars of
``compat_tests/install.sh`` (:mod:`compat_tests.reference_cluster`) with the same
timeouts as kafkapy (:data:`SHARED_SETTINGS`).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import re
import struct
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer, IsolationLevel, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from compat_tests.reference_cluster import FaultCluster, ReferenceCluster, partition_state_at
from kafkapy.config import BrokerConfig, log_config_name

#: Timeouts both clusters of a comparison run with: a node is fenced 3 s after its
#: last heartbeat, a follower leaves the ISR 5 s after it last caught up, and the
#: quorum's election and fetch timeouts are Kafka's defaults, written out.
SHARED_SETTINGS: Mapping[str, str] = {
    BrokerConfig.field_name("broker_session_timeout_ms"): "3000",
    BrokerConfig.field_name("broker_heartbeat_interval_ms"): "300",
    BrokerConfig.field_name("replica_lag_time_max_ms"): "5000",
    BrokerConfig.field_name("controller_quorum_election_timeout_ms"): "1000",
    BrokerConfig.field_name("controller_quorum_fetch_timeout_ms"): "2000",
}


#: The topic the workload writes: RF 3 with min.insync.replicas=2.
TOPIC_SETTINGS: Mapping[str, str] = {log_config_name("min_insync_replicas"): "2",
                                     log_config_name("unclean_leader_election_enable"): "false"}

_VALUE = re.compile(rb"^p(\d+)\.(\d+)-(\d+)$")


def _writer(value: bytes) -> tuple[int, int] | None:
    """The (producer, incarnation) that wrote a workload value, None for another value."""
    m = _VALUE.match(value)
    return (int(m[1]), int(m[2])) if m else None

FAULTS = ("kill", "isolate", "pause", "bridge")


# --- what the clients saw ------------------------------------------------------------------


@dataclass
class History:
    """Everything the workload's clients observed; written by its threads under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: partition -> offset -> values acknowledged there (more than one is a loss)
    acked: dict[int, dict[int, set[bytes]]] = field(default_factory=lambda: defaultdict(dict))
    #: acknowledged without an offset (the delivery report had none): partition, value
    acked_without_offset: list[tuple[int, bytes]] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    #: value -> the error its delivery report carried (its outcome is unknown)
    failures: dict[bytes, str] = field(default_factory=dict)
    incarnations: int = 0
    #: partition -> offset -> values the continuous consumer read there
    reads: dict[int, dict[int, set[bytes]]] = field(default_factory=lambda: defaultdict(dict))
    read_count: int = 0
    #: partition -> [(leader epoch, high watermark)] in the order ListOffsets answered
    watermarks: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    #: one line per fault cycle
    cycles: list[str] = field(default_factory=list)
    #: seconds from each fault to another node leading the partition
    failovers: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return sum(len(vs) for offsets in self.acked.values() for vs in offsets.values()) \
            + len(self.acked_without_offset)


class Workload:
    """Producers, a continuous read_committed consumer and a high-watermark monitor,
    each a thread, until :meth:`stop`.

    Args:
        bootstrap: the cluster's bootstrap servers.
        topic: an existing topic of ``partitions`` partitions.
        producers: idempotent producers, each writing ``rate`` records a second.
        message_timeout_ms: how long a record may wait for its acknowledgement before
            the producer gives up on it (unknown outcome: it may be in the log or not).
    """

    def __init__(self, bootstrap: str, topic: str, partitions: int, *, producers: int = 2,
                 rate: float = 100.0, message_timeout_ms: int = 60_000) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.history = History()
        self._rate = rate
        self._message_timeout_ms = message_timeout_ms
        self._stop_producing = threading.Event()
        self._stop_reading = threading.Event()
        self._threads = [threading.Thread(target=self._produce, args=(i,), name=f"jepsen-producer-{i}", daemon=True)
                         for i in range(producers)]
        self._reader = threading.Thread(target=self._read, name="jepsen-reader", daemon=True)
        self._monitor = threading.Thread(target=self._watch, name="jepsen-watermarks", daemon=True)

    def start(self) -> None:
        for t in (*self._threads, self._reader, self._monitor):
            t.start()

    def stop_producers(self, timeout_s: float = 60.0) -> None:
        """Stop writing; each producer waits up to ``timeout_s`` for its last acknowledgements."""
        self._stop_producing.set()
        for t in self._threads:
            t.join(timeout_s + 10)

    def stop(self) -> None:
        self._stop_producing.set()
        self._stop_reading.set()
        for t in (*self._threads, self._reader, self._monitor):
            t.join(30)

    # --- producers ---

    def _produce(self, index: int) -> None:
        h = self.history
        seq = 0
        incarnation = 0
        period = 1.0 / self._rate
        while not self._stop_producing.is_set():
            fatal = threading.Event()
            with h.lock:
                h.incarnations += 1

            def delivered(err: KafkaError | None, msg: object) -> None:
                with h.lock:
                    if err is not None:
                        h.failed += 1
                        h.failures[msg.value()] = err.name()  # type: ignore[attr-defined]
                        if err.fatal():
                            fatal.set()
                        return
                    partition, offset, value = msg.partition(), msg.offset(), msg.value()  # type: ignore[attr-defined]
                    if offset is None or offset < 0:
                        h.acked_without_offset.append((partition, value))
                    else:
                        h.acked[partition].setdefault(offset, set()).add(value)

            producer = Producer({
                "bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all",
                "linger.ms": 5, "message.timeout.ms": self._message_timeout_ms,
                "request.timeout.ms": min(5000, self._message_timeout_ms),
                "socket.timeout.ms": 10_000, "topic.metadata.refresh.interval.ms": 1000,
                "error_cb": lambda err: fatal.set() if err.fatal() else None,
            })
            next_at = time.monotonic()
            while not self._stop_producing.is_set() and not fatal.is_set():
                value = f"p{index}.{incarnation}-{seq}".encode()
                try:
                    producer.produce(self.topic, value, partition=seq % self.partitions, on_delivery=delivered)
                except BufferError:
                    producer.poll(0.1)
                    continue
                with h.lock:
                    h.sent += 1
                seq += 1
                next_at += period
                producer.poll(max(0.0, next_at - time.monotonic()))
            left = producer.flush(60.0 if not fatal.is_set() else 1.0)
            if left:
                with h.lock:
                    h.notes.append(f"producer p{index}.{incarnation}: {left} records unanswered at its end")
            if fatal.is_set():
                with h.lock:
                    h.notes.append(f"producer p{index}.{incarnation} hit a fatal error; a new incarnation goes on")
            incarnation += 1

    # --- the continuous reader ---

    def _read(self) -> None:
        h = self.history
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": f"jepsen-reader-{os.getpid()}",
            "enable.auto.commit": False, "isolation.level": "read_committed", "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100, "socket.timeout.ms": 10_000, "topic.metadata.refresh.interval.ms": 1000,
        })
        try:
            consumer.assign([TopicPartition(self.topic, p, 0) for p in range(self.partitions)])
            while not self._stop_reading.is_set():
                for msg in consumer.consume(500, 0.2):
                    if msg.error() is not None:
                        continue
                    with h.lock:
                        h.reads[msg.partition()].setdefault(msg.offset(), set()).add(msg.value())
                        h.read_count += 1
        finally:
            consumer.close()

    def reader_position(self) -> dict[int, int]:
        """The next offset the continuous reader has not seen, by partition."""
        with self.history.lock:
            return {p: max(self.history.reads[p], default=-1) + 1 for p in range(self.partitions)}

    # --- the high-watermark monitor ---

    def _watch(self) -> None:
        h = self.history
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "topic.metadata.refresh.interval.ms": 1000})
        request = {TopicPartition(self.topic, p): OffsetSpec.latest() for p in range(self.partitions)}
        while not self._stop_reading.wait(0.1):
            try:
                futures = admin.list_offsets(request, isolation_level=IsolationLevel.READ_UNCOMMITTED,
                                             request_timeout=5)
            except Exception:  # noqa: BLE001 - a failed request is no observation
                continue
            for tp, future in futures.items():
                try:
                    info = future.result()
                except Exception:  # noqa: BLE001
                    continue
                if info.offset < 0:  # no answer (OFFSET_NOT_AVAILABLE while a new leader catches up)
                    continue
                epoch = -1 if info.leader_epoch is None else info.leader_epoch
                with h.lock:
                    h.watermarks[tp.partition].append((epoch, info.offset))


# --- faults --------------------------------------------------------------------------------


def _until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():
                return True
        except (ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)


def wait_healthy(cluster: FaultCluster, topic: str, partitions: int, timeout_s: float = 60.0) -> bool:
    """Wait until every partition has a leader and its whole replica set in the ISR."""
    def whole() -> bool:
        for p in range(partitions):
            state = cluster.partition_state(topic, p)
            if state.leader < 0 or not state.replicas or sorted(state.isr) != sorted(state.replicas):
                return False
        return True

    return _until(whole, timeout_s, 0.2)


def run_cycles(cluster: FaultCluster, workload: Workload, cycles: int, *, load_s: float = 2.0,
               failover_timeout_s: float = 30.0, log: Callable[[str], None] = lambda line: None) -> None:
    """Apply ``cycles`` faults in turn (:data:`FAULTS`), each to the leader of one
    partition, with ``load_s`` of load before it and after the failover (or, for a
    bridge, after the follower left the ISR)."""
    h = workload.history
    topic = workload.topic
    for cycle in range(cycles):
        kind = FAULTS[cycle % len(FAULTS)]
        # every kind of fault comes to every partition's leader in turn
        partition = (cycle + cycle // len(FAULTS)) % workload.partitions
        time.sleep(load_s)
        state = cluster.partition_state(topic, partition)
        leader = state.leader
        if leader < 0:
            h.notes.append(f"cycle {cycle}: partition {partition} had no leader; skipped")
            continue
        started = time.monotonic()
        if kind == "bridge":
            follower, bridge = [r for r in state.replicas if r != leader][:2]
            cluster.isolate_node(leader, from_nodes=[follower])

            def settled() -> bool:
                # The bridge node reaches both sides and the active controller, wherever
                # it is: a node on one side of the cut may answer from stale metadata.
                now = partition_state_at(cluster.nodes[bridge].bootstrap_servers, topic, partition)
                return follower not in now.isr or now.leader not in (leader, -1)

            moved = _until(settled, failover_timeout_s)
            if moved:
                try:
                    now = partition_state_at(cluster.nodes[bridge].bootstrap_servers, topic, partition)
                    outcome = f"node {now.leader} leads" if now.leader != leader else f"ISR {now.isr}"
                except OSError:
                    outcome = "settled"
                what = f"cut from node {follower}: {outcome} in {time.monotonic() - started:.1f} s"
            else:
                what = (f"cut from node {follower}: still in the ISR under node {leader} "
                        f"after {failover_timeout_s:.0f} s")
            time.sleep(load_s)
            cluster.rejoin_node(leader, from_nodes=[follower])
        else:
            {"kill": cluster.kill_node, "isolate": cluster.isolate_node, "pause": cluster.pause_node}[kind](leader)
            moved = _until(lambda: cluster.leader_of(topic, partition) not in (leader, -1), failover_timeout_s)
            failover = time.monotonic() - started
            if moved:
                h.failovers.append(failover)
            what = f"new leader in {failover:.1f} s" if moved else f"no new leader in {failover_timeout_s:.0f} s"
            time.sleep(load_s)
            {"kill": cluster.restart_node, "isolate": cluster.rejoin_node, "pause": cluster.resume_node}[kind](leader)
        healed = wait_healthy(cluster, topic, workload.partitions)
        line = (f"cycle {cycle}: {kind} node {leader} (leader of {topic}-{partition}): {what}"
                + ("" if healed else "; ISR not whole again in 60 s"))
        h.cycles.append(line)
        log(line)


# --- the final state -----------------------------------------------------------------------


def high_watermarks(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
    futures = admin.list_offsets(request, isolation_level=IsolationLevel.READ_UNCOMMITTED, request_timeout=30)
    return {tp.partition: f.result().offset for tp, f in futures.items()}


def read_all(bootstrap: str, topic: str, ends: Mapping[int, int],
             timeout_s: float = 60.0) -> dict[int, dict[int, bytes]]:
    """Every record of each partition below ``ends``, read_committed from offset 0."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"jepsen-final-{os.getpid()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    out: dict[int, dict[int, bytes]] = {p: {} for p in ends}
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
        deadline = time.monotonic() + timeout_s
        pending = {p for p, end in ends.items() if end > 0}
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    out[msg.partition()][msg.offset()] = msg.value()
                    if msg.offset() >= ends[msg.partition()] - 1:
                        pending.discard(msg.partition())
    finally:
        consumer.close()
    return out


_BATCH_HEAD = struct.Struct(">qi")  # baseOffset, batchLength
_LAST_OFFSET_DELTA = struct.Struct(">i")  # at byte 23 of a v2 batch


def replica_batches(partition_dir: str) -> list[tuple[int, int, bytes]]:
    """The record batches of a partition directory's segments, as (base offset, last
    offset, bytes), in offset order; a batch cut short at a segment's end is left out."""
    batches: list[tuple[int, int, bytes]] = []
    for path in sorted(glob.glob(os.path.join(partition_dir, "*.log"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + _BATCH_HEAD.size <= len(data):
            base, length = _BATCH_HEAD.unpack_from(data, pos)
            end = pos + _BATCH_HEAD.size + length
            if length < 49 or end > len(data):
                break
            last = base + _LAST_OFFSET_DELTA.unpack_from(data, pos + 23)[0]
            batches.append((base, last, data[pos:end]))
            pos = end
    return batches


def replica_logs(cluster: FaultCluster, topic: str, partition: int) -> dict[int, list[tuple[int, int, bytes]]]:
    """Each node's batches of one partition (``<node dir>/data/<topic>-<partition>``)."""
    return {i: replica_batches(os.path.join(node.directory, "data", f"{topic}-{partition}"))
            for i, node in cluster.nodes.items()}


def _log_end(batches: list[tuple[int, int, bytes]]) -> int:
    return batches[-1][1] + 1 if batches else 0


# --- the checker ---------------------------------------------------------------------------


@dataclass
class Verdict:
    """Counts of each violation (all must be 0) and of what was done, with examples."""

    acknowledged: int = 0
    unacknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    #: by a producer one of whose deliveries timed out: the client's doing, not a violation
    duplicated_after_timeout: int = 0
    reordered_after_timeout: int = 0
    phantom_reads: int = 0
    hw_regressions: int = 0
    replica_divergence: int = 0
    final_read_short: int = 0
    fault_cycles: int = 0
    final_records: int = 0
    reads: int = 0
    hw_observations: int = 0
    stale_hw_answers: int = 0
    failover_s: float = 0.0
    examples: list[str] = field(default_factory=list)
    cycles: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    VIOLATIONS = ("lost", "duplicated", "reordered", "phantom_reads", "hw_regressions", "replica_divergence",
                  "final_read_short")

    @property
    def violations(self) -> int:
        return sum(getattr(self, name) for name in self.VIOLATIONS)

    def example(self, text: str) -> None:
        """Keep ``text`` (it starts with its kind, "lost: ..."), up to 5 of each kind."""
        kind = text.split(":", 1)[0]
        if sum(1 for e in self.examples if e.split(":", 1)[0] == kind) < 5:
            self.examples.append(text)


def check(history: History, final: Mapping[int, Mapping[int, bytes]], ends: Mapping[int, int],
          replicas: Mapping[int, Mapping[int, list[tuple[int, int, bytes]]]]) -> Verdict:
    """Judge a run: ``final`` is each partition's log as read at the end up to ``ends``
    (the high watermarks), ``replicas`` each partition's batches on each node."""
    v = Verdict(acknowledged=history.acknowledged, unacknowledged=history.failed,
                fault_cycles=len(history.cycles), reads=history.read_count, cycles=list(history.cycles),
                notes=list(history.notes),
                failover_s=sum(history.failovers) / len(history.failovers) if history.failovers else 0.0)
    v.final_records = sum(len(records) for records in final.values())
    for p, end in ends.items():
        missing = end - len(final.get(p, {}))
        if missing:
            v.final_read_short += missing
            v.example(f"final read short: partition {p} got {len(final.get(p, {}))} of {end} records")
    # lost: every acknowledged value at its offset
    where: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for p, records in final.items():
        for offset, value in records.items():
            where[value].append((p, offset))
    for p, offsets in history.acked.items():
        for offset, values in offsets.items():
            for value in values:
                if final.get(p, {}).get(offset) != value:
                    v.lost += 1
                    v.example(f"lost: {value.decode()} acknowledged at {p}:{offset}, final log has "
                              f"{final.get(p, {}).get(offset)!r} there and the value at {where.get(value, [])}")
    for p, value in history.acked_without_offset:
        if not where.get(value):
            v.lost += 1
            v.example(f"lost: {value.decode()} acknowledged (no offset) in partition {p}, not in the final log")
    # duplicated and reordered: idempotence promises neither, as long as no delivery of
    # the producer timed out (librdkafka then bumps the producer epoch and sends again,
    # under new sequence numbers, records the broker may already hold: Kafka shows it too)
    timed_out = {_writer(value) for value in history.failures}
    acked_at = {value: (p, o) for p, offsets in history.acked.items() for o, values in offsets.items()
                for value in values}
    for value, places in where.items():
        if len(places) > 1:
            status = (f"acknowledged at {acked_at[value]}" if value in acked_at
                      else f"reported {history.failures[value]}" if value in history.failures else "no report")
            if _writer(value) in timed_out:
                v.duplicated_after_timeout += len(places) - 1
                v.example(f"duplicated after a timeout: {value.decode()} at {sorted(places)}, {status}")
            else:
                v.duplicated += len(places) - 1
                v.example(f"duplicated: {value.decode()} at {sorted(places)}, {status}")
    for p, records in final.items():
        last_seq: dict[tuple[int, int], tuple[int, int]] = {}
        for offset in sorted(records):
            writer = _writer(records[offset])
            if writer is None:
                v.example(f"unexpected value: {records[offset]!r} at {p}:{offset}")
                continue
            seq = int(records[offset].rsplit(b"-", 1)[1])
            if writer in last_seq and seq <= last_seq[writer][0]:
                text = (f"{records[offset].decode()} at {p}:{offset} after seq "
                        f"{last_seq[writer][0]} at {p}:{last_seq[writer][1]}")
                if writer in timed_out:
                    v.reordered_after_timeout += 1
                    v.example(f"reordered after a timeout: {text}")
                else:
                    v.reordered += 1
                    v.example(f"reordered: {text}")
            last_seq[writer] = (seq, offset)
    # phantom reads
    for p, offsets in history.reads.items():
        for offset, values in offsets.items():
            for value in values:
                if final.get(p, {}).get(offset) != value:
                    v.phantom_reads += 1
                    v.example(f"phantom read: {value.decode()} read at {p}:{offset}, final log has "
                              f"{final.get(p, {}).get(offset)!r}")
    # the high watermark never goes back
    for p, observed in history.watermarks.items():
        best: dict[int, int] = {}  # epoch -> highest watermark answered at it so far
        v.hw_observations += len(observed)
        for epoch, hw in observed:
            if epoch >= 0 and any(e > epoch for e in best):
                v.stale_hw_answers += 1
            before = max((w for e, w in best.items() if epoch < 0 or e <= epoch), default=-1)
            if hw < before:
                v.hw_regressions += 1
                v.example(f"high-watermark regression: partition {p} went back from {before} to {hw} (epoch {epoch})")
            best[epoch] = max(best.get(epoch, -1), hw)
        top = max((hw for _, hw in observed), default=0)
        if top > ends.get(p, 0):
            v.hw_regressions += 1
            v.example(f"high-watermark regression: {top} of partition {p} was answered, the final log ends at "
                      f"{ends.get(p, 0)}")
    # replicas hold the same bytes
    for p, by_node in replicas.items():
        log_ends = {i: _log_end(b) for i, b in by_node.items()}
        common = min(log_ends.values(), default=0)
        streams = {i: [raw for _, last, raw in b if last < common] for i, b in by_node.items()}
        differing = {i for i, s in streams.items() if s != next(iter(streams.values()))}
        if differing or len(set(log_ends.values())) > 1:
            v.replica_divergence += 1
            v.example(f"replica divergence: partition {p}, log ends {log_ends}"
                      + (f", batches below {common} differ on nodes {sorted(differing)} from node "
                         f"{next(iter(streams))}" if differing else ""))
    return v


# --- one whole run -------------------------------------------------------------------------


@contextlib.contextmanager
def start_cluster(target: str, *, data_dir: str | None = None, timeout_s: float = 120.0) -> Iterator[FaultCluster]:
    """A 3-node cluster with :data:`SHARED_SETTINGS`: ``kafkapy`` or ``kafka`` (the
    reference); its nodes' directories are kept in ``data_dir`` if given."""
    if data_dir is not None:
        data_dir = os.path.join(data_dir, target)
        os.makedirs(data_dir, exist_ok=True)
    if target == "kafkapy":
        from kafkapy.testing import Cluster

        with Cluster(3, SHARED_SETTINGS, data_dir=data_dir, timeout_s=timeout_s) as cluster:
            yield cluster
    elif target == "kafka":
        with ReferenceCluster(3, SHARED_SETTINGS, data_dir=data_dir, timeout_s=timeout_s,
                              full_jit=False) as cluster:
            yield cluster
    else:
        raise ValueError(f"unknown target {target!r}")


def run(cluster: FaultCluster, *, cycles: int = 10, partitions: int = 3, producers: int = 2,
        rate: float = 100.0, load_s: float = 2.0, message_timeout_ms: int = 60_000, topic: str = "jepsen",
        log: Callable[[str], None] = lambda line: None) -> Verdict:
    """Create the topic, run the workload through ``cycles`` faults, heal, and check."""
    cluster.create_topics(topic, partitions=partitions, replication_factor=3, config=TOPIC_SETTINGS)
    if not wait_healthy(cluster, topic, partitions):
        raise RuntimeError(f"{topic} never had a leader and a whole ISR for every partition")
    workload = Workload(cluster.bootstrap_servers, topic, partitions, producers=producers, rate=rate,
                        message_timeout_ms=message_timeout_ms)
    workload.start()
    try:
        run_cycles(cluster, workload, cycles, load_s=load_s, log=log)
        time.sleep(load_s)
        workload.stop_producers()
        if not wait_healthy(cluster, topic, partitions):
            workload.history.notes.append("the ISR was not whole at the end")
        ends = high_watermarks(cluster.bootstrap_servers, topic, partitions)
        if not _until(lambda: all(workload.reader_position()[p] >= ends[p] for p in ends), 30):
            workload.history.notes.append("the continuous reader did not reach the high watermark")
    finally:
        workload.stop()
    final = read_all(cluster.bootstrap_servers, topic, ends)
    replicas: dict[int, dict[int, list[tuple[int, int, bytes]]]] = {}
    for p in range(partitions):
        # replicas catch up (and flush) shortly after the last write
        _until(lambda: all(_log_end(b) >= ends[p] for b in replica_logs(cluster, topic, p).values()), 30, 0.5)
        replicas[p] = replica_logs(cluster, topic, p)
    verdict = check(workload.history, final, ends, replicas)
    log(f"{verdict.violations} violations")
    return verdict


ROWS = (("acknowledged", "acknowledged"), ("unacknowledged (failed or unknown)", "unacknowledged"),
        ("records in the final log", "final_records"), ("records read while faulting", "reads"),
        ("lost", "lost"), ("duplicated", "duplicated"), ("reordered", "reordered"),
        ("  duplicated after a timeout (allowed)", "duplicated_after_timeout"),
        ("  reordered after a timeout (allowed)", "reordered_after_timeout"),
        ("phantom reads", "phantom_reads"), ("high-watermark regressions", "hw_regressions"),
        ("replica divergence (partitions)", "replica_divergence"), ("final read short", "final_read_short"),
        ("high-watermark answers", "hw_observations"), ("  of them from a stale leader", "stale_hw_answers"),
        ("fault cycles", "fault_cycles"), ("mean failover (s)", "failover_s"))


def summary(verdicts: Mapping[str, Verdict]) -> str:
    """The verdicts side by side, then their violation examples and notes."""
    names = list(verdicts)
    lines = [f"{'':36}" + "".join(f"{n:>14}" for n in names)]
    for label, attr in ROWS:
        cells = []
        for n in names:
            value = getattr(verdicts[n], attr)
            cells.append(f"{value:14.1f}" if isinstance(value, float) else f"{value:14d}")
        lines.append(f"{label:36}" + "".join(cells))
    lines.append(f"{'violations':36}" + "".join(f"{verdicts[n].violations:14d}" for n in names))
    for n in names:
        for text in verdicts[n].examples + verdicts[n].notes:
            lines.append(f"{n}: {text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=("kafkapy", "kafka", "both"), default="both")
    parser.add_argument("--cycles", type=int, default=10, help="fault cycles (kill, isolate, pause, bridge in turn)")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0, help="records a second per producer")
    parser.add_argument("--load-s", type=float, default=2.0, help="seconds of load before a fault and after failover")
    parser.add_argument("--message-timeout-ms", type=int, default=60_000,
                        help="producers' message.timeout.ms (shorter: records of unknown outcome)")
    parser.add_argument("--data-dir", help="keep the nodes' directories (logs, data) here")
    args = parser.parse_args(argv)
    targets = ("kafkapy", "kafka") if args.target == "both" else (args.target,)
    verdicts: dict[str, Verdict] = {}
    for target in targets:
        print(f"--- {target}", flush=True)
        with start_cluster(target, data_dir=args.data_dir) as cluster:
            verdicts[target] = run(cluster, cycles=args.cycles, partitions=args.partitions, producers=args.producers,
                                   rate=args.rate, load_s=args.load_s, message_timeout_ms=args.message_timeout_ms,
                                   log=lambda line, t=target: print(f"{t}: {line}", flush=True))
    from compat_tests.brokers import KAFKA_VERSION

    print(summary({"kafkapy" if t == "kafkapy" else f"Kafka {KAFKA_VERSION}": v for t, v in verdicts.items()}))
    return 1 if any(v.violations for v in verdicts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
