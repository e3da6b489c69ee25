"""ShareFetch and ShareAcknowledge on the partition leader: share sessions, share-partitions,
acquisition locks and persistence (Kafka's ``SharePartitionManager`` and ``ShareSessionCache``).

Theory of operation.

* **Share sessions** (KIP-932) are keyed by (group, member). ShareFetch epoch 0 opens
  one with the request's partitions (replacing the member's earlier session; what the
  member holds stays acquired by it); later requests carry the next epoch (else
  INVALID_SHARE_SESSION_EPOCH; no session: SHARE_SESSION_NOT_FOUND), add partitions,
  and forget ``ForgottenTopicsData``; epoch -1 (ShareFetch or ShareAcknowledge) applies
  its acknowledgements, closes the session and releases what the member still holds.
  At most ``group.share.max.share.sessions`` sessions (SHARE_SESSION_LIMIT_REACHED).
  A session belongs to the connection that opened it: when that connection ends, the
  session closes and the member's records are released at once, not at their lock
  timeout (Kafka's ``ShareSessionCache.ClientConnectionDisconnectListener`` calling
  ``SharePartitionManager.releaseSession``); a session opened again on another
  connection no longer belongs to the first.
* **Share-partitions** (:class:`~kafkapy.broker.share.partition.SharePartition`) are
  made on the first fetch of a (group, topic, partition) this node leads: the state is
  read from the share coordinator (:mod:`.service`); a share-partition never
  initialized starts at ``share.auto.offset.reset`` (latest: the high watermark;
  earliest: the log start offset; ``by_duration:PT1H``: the first record at most that
  old) and that start is written back.
* **Fetch**: piggy-backed acknowledgements first, then every partition of the session
  acquires whole batches read from the log (no record is decoded: batch headers say
  which offsets a batch holds) up to ``MaxRecords``; nothing acquired waits up to
  ``MaxWaitMs`` for an append, a high-watermark move or a released record.
* **Acknowledgements** change the share-partition, then its state is written to the
  share coordinator before the answer (an answer means the state is durable).
* **Acquisition locks** time out on one :class:`~kafkapy.broker.groups.timer.DeadlineTimer`
  key per share-partition, set to its earliest lock; expired records become available
  (or archived at the delivery count limit) and the state is written in the background.

Group settings (lock duration, delivery count limit, reset, isolation, record locks)
are the group's configs over the broker's ``group.share.*`` defaults.

With ``share.isolation.level=read_committed`` reads stop at the last stable offset and
the batches of aborted transactions are archived, never delivered.

ShareFetch v2's ``ShareAcquireMode`` (KIP-1206): batch-optimized (0) acquires whole
batches, record-limit (1, the client's ``share.acquire.mode=record_limit``) never
more than ``MaxRecords`` offsets, splitting a batch; the response carries the whole
batches either way and the client delivers only the acquired offsets.

Task-safety: trio thread only; each share-partition changes without awaiting between
reading it and changing it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.groups.timer import DeadlineTimer
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.share.coordinator import ShareKey, ShareState
from kafkapy.broker.share.partition import AckBatch, AcquiredRange, SharePartition
from kafkapy.config import GROUP_CONFIGS, ShareGroupSettings
from kafkapy.kraft.metadata.image import ConfigResourceType
from kafkapy.storage.partition_log import FetchIsolation
from kafkapy.wire.buffers import FileRegion
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.records import iter_batches

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.broker.replica_manager import Partition
    from kafkapy.broker.share.service import ShareGroups
    from kafkapy.kraft.metadata.image import MetadataImage

log = logging.getLogger(__name__)

INITIAL_EPOCH = 0
FINAL_EPOCH = -1
_READ_COMMITTED = "read_committed"
_LATEST = "latest"
_BY_DURATION = "by_duration:"
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.IGNORECASE)
#: One fetch reads at most this much of a partition's log when MaxBytes allows more.
_MAX_READ = 8 * 1024 * 1024
TP = tuple[bytes, int]


@dataclass
class ShareSession:
    """One member's share session: the partitions it fetches and the next epoch it must send."""

    group_id: str
    member_id: str
    epoch: int = 1
    partitions: dict[TP, None] = field(default_factory=dict)
    #: the connection that opened it (Kafka's ``ShareSession.connectionId``)
    connection_id: str | None = None


@dataclass
class PartitionResult:
    """What one partition answers: acquired records, and errors of fetching and acknowledging."""

    error: ErrorCode = ErrorCode.NONE
    ack_error: ErrorCode | None = None
    records: list[bytes] = field(default_factory=list)
    acquired: list[AcquiredRange] = field(default_factory=list)
    leader_id: int = -1
    leader_epoch: int = -1


class SharePartitionManager:
    """Share sessions and share-partitions of this node (see the module doc)."""

    def __init__(self, core: BrokerCore, service: ShareGroups) -> None:
        self.core = core
        self.service = service
        self.partitions: dict[ShareKey, SharePartition] = {}
        self.sessions: dict[tuple[str, str], ShareSession] = {}
        #: connection id -> the session it opened last (Kafka's ``connectionIdToSessionMap``)
        self._by_connection: dict[str, tuple[str, str]] = {}
        self.timer = DeadlineTimer()
        self._loading: dict[ShareKey, trio.Event] = {}
        #: share-partition -> the hosted partition and leader epoch it was loaded under
        self._leaders: dict[ShareKey, tuple[Partition, int]] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.timer.run)
            self.core.metadata.add_publisher(self.on_image)
            task_status.started()

    def on_image(self, old: MetadataImage | None, new: MetadataImage) -> None:
        """Forget the share-partitions of partitions this node no longer leads, or at
        another leader epoch: their next leader reads the state from the share coordinator."""
        for key, (hosted, epoch) in list(self._leaders.items()):
            topic = new.topics_by_id.get(key.topic_id)
            current = None if topic is None else self.core.replicas.get(topic.name, key.partition)
            if current is not hosted or not hosted.is_leader or hosted.leader_epoch != epoch:
                self.forget(key)

    def settings(self, group_id: str) -> ShareGroupSettings:
        configs = self.core.image.configs.get((ConfigResourceType.GROUP, group_id), {})
        return ShareGroupSettings.from_sources(self.core.config,
                                               {k: v for k, v in configs.items() if k in GROUP_CONFIGS})

    # --- sessions -------------------------------------------------------------------------------

    def open_session(self, group_id: str, member_id: str, epoch: int,
                     conn: Any = None) -> tuple[ErrorCode, ShareSession | None]:
        """The session a request speaks in, opened, checked or advanced by its epoch; a
        session opened is bound to ``conn`` (the server's connection context), closed
        when that connection ends."""
        key = (group_id, member_id)
        session = self.sessions.get(key)
        if epoch == INITIAL_EPOCH:
            # A new session replaces the member's earlier one (Kafka's newContext); the
            # records the member holds stay its own, to be acknowledged in the new one.
            if session is None and len(self.sessions) >= self.core.config.group_share_max_share_sessions:
                return ErrorCode.SHARE_SESSION_LIMIT_REACHED, None
            session = self.sessions[key] = ShareSession(group_id, member_id)
            if conn is not None:
                self._bind(session, conn)
            return ErrorCode.NONE, session
        if session is None:
            return ErrorCode.SHARE_SESSION_NOT_FOUND, None
        if epoch == FINAL_EPOCH:
            return ErrorCode.NONE, session
        if epoch != session.epoch:
            return ErrorCode.INVALID_SHARE_SESSION_EPOCH, None
        session.epoch = epoch + 1 if epoch < 2**31 - 1 else 1
        return ErrorCode.NONE, session

    def _bind(self, session: ShareSession, conn: Any) -> None:
        connection_id = session.connection_id = conn.connection_id
        if connection_id not in self._by_connection:
            conn.on_close(lambda: self.connection_closed(connection_id))
        self._by_connection[connection_id] = (session.group_id, session.member_id)

    def connection_closed(self, connection_id: str) -> None:
        """A client connection ended: close the share session it opened, if that is
        still the member's session, releasing what the member holds."""
        key = self._by_connection.pop(connection_id, None)
        session = None if key is None else self.sessions.get(key)
        if session is not None and session.connection_id == connection_id:
            log.debug("Share session of member %s in group %s closed with its connection %s",
                      session.member_id, session.group_id, connection_id)
            self.close_session(session)

    def close_session(self, session: ShareSession) -> None:
        if self.sessions.get((session.group_id, session.member_id)) is session:
            del self.sessions[(session.group_id, session.member_id)]
        self._close(session)

    def _close(self, session: ShareSession) -> None:
        """Release every record the member holds in the session's share-partitions."""
        for topic_id, p in session.partitions:
            key = ShareKey(session.group_id, topic_id, p)
            sp = self.partitions.get(key)
            if sp is not None and sp.release_member(session.member_id):
                self._persist_in_background(key)
                self._wake(topic_id, p)

    # --- share-partitions -------------------------------------------------------------------

    def forget(self, key: ShareKey) -> None:
        """Drop a share-partition's cached state (its persisted state was replaced:
        AlterShareGroupOffsets, DeleteShareGroupOffsets; or leadership moved); the next
        fetch reads it anew."""
        self.partitions.pop(key, None)
        self._leaders.pop(key, None)
        self.timer.cancel(key)

    def leader(self, topic_id: bytes, partition: int) -> tuple[ErrorCode, Partition | None, str]:
        """This node's hosted partition when it leads it; else the error to answer
        (UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER)."""
        topic = self.core.image.topics_by_id.get(topic_id)
        if topic is None:
            return ErrorCode.UNKNOWN_TOPIC_ID, None, ""
        if partition not in topic.partitions:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None, topic.name
        hosted = self.core.replicas.get(topic.name, partition)
        if hosted is None or not hosted.is_leader:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER, None, topic.name
        return ErrorCode.NONE, hosted, topic.name

    async def share_partition(self, key: ShareKey, hosted: Partition) -> SharePartition | None:
        """The share-partition of ``key``, loaded from the share coordinator on first use;
        None while its state cannot be read (the next fetch tries again)."""
        while True:
            sp = self.partitions.get(key)
            if sp is not None:
                return sp
            loading = self._loading.get(key)
            if loading is None:
                break
            await loading.wait()
        done = self._loading[key] = trio.Event()
        try:
            return await self._load(key, hosted)
        finally:
            del self._loading[key]
            done.set()

    async def _load(self, key: ShareKey, hosted: Partition) -> SharePartition | None:
        if not await self.service.ensure_state_topic():
            return None
        error, state = await self.service.read_state(key, hosted.leader_epoch)
        if error == ErrorCode.INVALID_REQUEST:  # not initialized yet: the leader initializes it
            error, state = ErrorCode.NONE, ShareState()
        if error != ErrorCode.NONE:
            log.info("Share-partition %s: state not readable yet (%s)", key, error.name)
            return None
        settings = self.settings(key.group_id)
        sp = SharePartition(key.group_id, max_in_flight=settings.share_partition_max_record_locks,
                            delivery_count_limit=settings.share_delivery_count_limit)
        log_ = hosted.log
        if state.start_offset < 0:
            start = self._reset_offset(settings.share_auto_offset_reset, log_)
            error = await self.service.initialize_state(key, state.state_epoch, start)
            if error != ErrorCode.NONE:
                return None
            sp.load(start, [], state.state_epoch)
        else:
            sp.load(state.start_offset, state.batches, state.state_epoch)
        sp.maybe_move_start(log_.log_start_offset)
        self.partitions[key] = sp
        self._leaders[key] = (hosted, hosted.leader_epoch)
        log.info("Share-partition %s-%d of group %s starts at offset %d", hosted.tp.topic, key.partition,
                 key.group_id, sp.start_offset)
        return sp

    def _reset_offset(self, reset: str, log_: Any) -> int:
        """``share.auto.offset.reset``: earliest, latest (the high watermark), or
        ``by_duration:<ISO-8601 duration>``: the first record at most that old."""
        if reset == _LATEST:
            return log_.high_watermark
        duration_ms = parse_duration_ms(reset[len(_BY_DURATION):]) if reset.startswith(_BY_DURATION) else None
        if duration_ms is None:
            return log_.log_start_offset
        found = log_.fetch_offset_by_timestamp(self.core.clock_ms() - duration_ms)
        return log_.high_watermark if found is None else min(found.offset, log_.high_watermark)

    # --- acquiring ----------------------------------------------------------------------------

    def acquire(self, sp: SharePartition, key: ShareKey, hosted: Partition, member_id: str, *,
                max_records: int, max_bytes: int, settings: ShareGroupSettings,
                record_limit: bool = False) -> PartitionResult:
        """Acquire whole batches of one partition for ``member_id`` (with ``record_limit``,
        at most ``max_records`` offsets)."""
        result = PartitionResult(leader_id=self.core.node_id, leader_epoch=hosted.leader_epoch)
        log_ = hosted.log
        sp.maybe_move_start(log_.log_start_offset)
        committed = settings.share_isolation_level == _READ_COMMITTED
        end = log_.last_stable_offset if committed else log_.high_watermark
        offset = sp.fetch_offset()
        if offset >= end or max_records <= 0:
            return result
        isolation = FetchIsolation.TXN_COMMITTED if committed else FetchIsolation.HIGH_WATERMARK
        info = log_.read(offset, max(min(max_bytes, _MAX_READ), 1), isolation=isolation)
        if info.error_code != ErrorCode.NONE:
            return result
        data = b"".join(_piece_bytes(piece) for piece in info.records)
        headers = list(iter_batches(data))
        aborted = _aborted_batches([h for _, h in headers], info.aborted_transactions or [])
        batches = [(h.base_offset, h.base_offset + h.last_offset_delta, not h.is_control and i not in aborted)
                   for i, (_, h) in enumerate(headers)]
        now = self.core.clock_ms()
        acquired, used = sp.acquire(member_id, batches, max_records=max_records, now_ms=now,
                                    lock_duration_ms=settings.share_record_lock_duration_ms, end_offset=end,
                                    record_limit=record_limit)
        view = memoryview(data)
        result.records = [bytes(view[pos:pos + 12 + headers[i][1].batch_length]) for i in used
                          for pos in (headers[i][0],)]
        result.acquired = acquired
        if acquired:
            self._schedule_locks(key)
        return result

    # --- acknowledging -----------------------------------------------------------------------

    async def acknowledge(self, key: ShareKey, member_id: str, batches: Iterable[Any]) -> ErrorCode:
        """Apply one partition's acknowledgement batches and persist the new state."""
        error, hosted, _ = self.leader(key.topic_id, key.partition)
        if hosted is None:
            return error
        sp = self.partitions.get(key)
        if sp is None:
            return ErrorCode.INVALID_RECORD_STATE
        settings = self.settings(key.group_id)
        error = sp.acknowledge(member_id, [AckBatch(b.first_offset, b.last_offset, list(b.acknowledge_types))
                                           for b in batches],
                               now_ms=self.core.clock_ms(), lock_duration_ms=settings.share_record_lock_duration_ms)
        if error != ErrorCode.NONE:
            return error
        self._wake(key.topic_id, key.partition)
        return await self.persist(key)

    async def persist(self, key: ShareKey) -> ErrorCode:
        """Write a share-partition's state to its share coordinator."""
        sp = self.partitions.get(key)
        _, hosted, _ = self.leader(key.topic_id, key.partition)
        if sp is None or hosted is None:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        error = await self.service.write_state(
            key, state_epoch=sp.state_epoch, leader_epoch=hosted.leader_epoch, start_offset=sp.start_offset,
            delivery_complete_count=sp.delivery_complete_count(), batches=sp.state_batches())
        if error != ErrorCode.NONE:
            log.warning("Share-partition %s: state write failed: %s", key, error.name)
            return ErrorCode.UNKNOWN_SERVER_ERROR
        if self.partitions.get(key) is sp:
            sp.maybe_advance_start()
        return ErrorCode.NONE

    def _persist_in_background(self, key: ShareKey) -> None:
        if self._nursery is None:
            return
        try:
            self._nursery.start_soon(self.persist, key)
        except RuntimeError:  # the nursery closed: the broker stops (connections close last)
            log.debug("Share-partition %s: state not written, the broker is stopping", key)

    # --- locks ----------------------------------------------------------------------------------

    def _schedule_locks(self, key: ShareKey) -> None:
        sp = self.partitions.get(key)
        deadline = sp.next_lock_deadline() if sp is not None else None
        if deadline is None:
            self.timer.cancel(key)
            return
        if key in self.timer:
            return  # an earlier (or equal) deadline is already set: locks only get later
        self.timer.schedule(key, deadline - self.core.clock_ms(), lambda: self._expire(key))

    def _expire(self, key: ShareKey) -> None:
        sp = self.partitions.get(key)
        if sp is None:
            return
        if sp.expire_locks(self.core.clock_ms()):
            self._persist_in_background(key)
            self._wake(key.topic_id, key.partition)
        deadline = sp.next_lock_deadline()
        if deadline is not None:
            self.timer.schedule(key, deadline - self.core.clock_ms(), lambda: self._expire(key))

    def _wake(self, topic_id: bytes, partition: int) -> None:
        topic = self.core.image.topics_by_id.get(topic_id)
        if topic is not None:
            self.core.replicas.purgatories.fetch.check_and_complete(TopicPartition(topic.name, partition))

    async def wait_for_records(self, group_id: str, tps: list[TP], timeout_s: float) -> None:
        """Wait until one of ``tps`` could hand out records, or ``timeout_s``."""
        keys = []
        for topic_id, p in tps:
            topic = self.core.image.topics_by_id.get(topic_id)
            if topic is not None:
                keys.append(TopicPartition(topic.name, p))

        def ready() -> bool:
            for topic_id, p in tps:
                sp = self.partitions.get(ShareKey(group_id, topic_id, p))
                _, hosted, _ = self.leader(topic_id, p)
                if hosted is None:
                    return True
                if sp is None:
                    continue
                committed = self.settings(group_id).share_isolation_level == _READ_COMMITTED
                end = hosted.log.last_stable_offset if committed else hosted.log.high_watermark
                if sp.has_available(end):
                    return True
            return False

        if keys:
            await self.core.replicas.purgatories.fetch.wait(ready, keys, timeout_s)


def parse_duration_ms(text: str) -> int | None:
    """An ISO-8601 duration as Java's ``Duration.parse`` reads ``PnDTnHnMn.nS``; None if not one."""
    m = _DURATION.fullmatch(text.strip())
    if m is None or text.strip().upper() in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return int(((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000)


def _aborted_batches(headers: list[Any], aborted: list[Any]) -> set[int]:
    """Indexes of the batches of aborted transactions (read_committed), found as
    Kafka's consumers find them: a producer's batches are aborted from the transaction's
    first offset until its ABORT marker."""
    if not aborted:
        return set()
    starts = sorted(aborted, key=lambda a: a.first_offset)
    open_: set[int] = set()
    out: set[int] = set()
    k = 0
    for i, h in enumerate(headers):
        while k < len(starts) and starts[k].first_offset <= h.base_offset + h.last_offset_delta:
            open_.add(starts[k].producer_id)
            k += 1
        if h.is_control:
            open_.discard(h.producer_id)
        elif h.is_transactional and h.producer_id in open_:
            out.add(i)
    return out


def _piece_bytes(piece: object) -> bytes:
    if isinstance(piece, FileRegion):
        return os.pread(piece.fd, piece.length, piece.position)
    return bytes(piece)  # type: ignore[call-overload]
