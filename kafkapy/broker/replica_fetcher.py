"""Followers copying their leaders' logs (Kafka's ``ReplicaFetcherManager`` and ``ReplicaFetcherThread``).

Theory of operation:

* Every partition this node follows belongs to one fetcher, keyed by its leader and
  a fetcher index (``num.replica.fetchers``, partitions spread by a hash as Kafka
  does). A fetcher is a trio task with one connection to the leader's endpoint on the
  inter-broker listener (``inter.broker.listener.name``); it sends one Fetch at a time
  for all its partitions, as replica ``node.id`` with its broker epoch, each partition
  from its log end with the current leader epoch and the last epoch it fetched.
* The leader answers with whole batches, appended as they are (offsets, epochs and
  producer state the leader's), with the high watermark and log start offset, which
  the follower takes; the follower's next fetch tells the leader how far it got, and
  that moves the leader's high watermark. The leader long-polls an idle follower for
  ``replica.fetch.wait.max.ms``.
* Divergence after a leader change (KIP-101, KIP-279, KIP-320): the leader compares
  the follower's last fetched epoch with its own epoch history and answers a
  ``diverging_epoch`` instead of records; the follower truncates to where the logs
  agree (:func:`truncation_offset`) and fetches again, until they match.
* Tiered storage (KIP-405): a follower whose fetch offset is below the leader's local
  log start gets OFFSET_MOVED_TO_TIERED_STORAGE and builds its state from the remote
  tier's metadata (Kafka's ``TierStateMachine``): its log restarts empty just past
  the last offset copied (which the leader still holds locally), with the leader's log
  start offset and the leader epochs of the remote segments, and it fetches on from there.
* A partition error (fenced epoch, not the leader, storage error) pauses that
  partition for ``replica.fetch.backoff.ms``, a failed connection the whole fetcher;
  a new leadership from the metadata image moves the partition to another fetcher.

Task-safety: everything runs on the trio thread; the replica manager calls
:meth:`ReplicaFetcherManager.add_partition`/``remove_partition`` synchronously.
"""

from __future__ import annotations

import logging
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.fetch_session import FetchSessionHandler
from kafkapy.broker.replica_manager import Partition, TopicPartition
from kafkapy.broker.security.listener_security import inter_broker_sasl_client, inter_broker_ssl_context
from kafkapy.kraft.raft.network import Address, PeerConnection, PeerUnavailable
from kafkapy.storage.errors import StorageError
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.fetch import FetchRequest

if TYPE_CHECKING:
    from kafkapy.broker.replica_manager import ReplicaManager
    from kafkapy.config import BrokerConfig
    from kafkapy.storage.partition_log import PartitionLog

log = logging.getLogger(__name__)

#: Errors that mean "wait for the metadata image to say who leads now".
_LEADERSHIP_ERRORS = frozenset({
    ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.UNKNOWN_LEADER_EPOCH,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_ID, ErrorCode.LEADER_NOT_AVAILABLE,
})


#: Session errors: the next fetch is a full one, at once.
_SESSION_ERRORS = frozenset({ErrorCode.FETCH_SESSION_ID_NOT_FOUND, ErrorCode.INVALID_FETCH_SESSION_EPOCH,
                             ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR})


@dataclass(slots=True)
class FetchState:
    """One followed partition in its fetcher (Kafka's ``PartitionFetchState``)."""

    partition: Partition
    #: the leader epoch this state fetches in; answers for another are dropped
    leader_epoch: int
    #: monotonic time before which the partition is not fetched (after an error)
    delayed_until: float = -math.inf


def truncation_offset(log_: PartitionLog, diverging_epoch: int, diverging_end_offset: int) -> int:
    """Where a follower's log must be cut, given the leader's epoch and end offset for it
    (Kafka's ``AbstractFetcherThread.getOffsetTruncationState``).

    The follower finds its own end of that epoch: if it knows the epoch, the logs agree
    up to the smaller end; if its nearest epoch is an older one, it cuts at that epoch's
    end and the next fetch (now with the older epoch) narrows it further.
    """
    leo = log_.log_end_offset
    if diverging_end_offset < 0:
        return log_.high_watermark
    if diverging_epoch < 0:
        return min(diverging_end_offset, leo)
    epoch, end = log_.leader_epoch_cache.end_offset_for(diverging_epoch, leo)
    if end < 0:
        return min(diverging_end_offset, leo)
    if epoch != diverging_epoch:
        return min(end, leo)
    return min(end, diverging_end_offset, leo)


class ReplicaFetcherManager:
    """The fetchers of this node, by (leader, fetcher index).

    Args:
        replicas: the replica manager, whose partition logs the fetchers append to.
        config: the broker config (``replica.fetch.*``, ``num.replica.fetchers``,
            ``inter.broker.listener.name``).
        leader_address: where a broker's inter-broker endpoint is, or None if unknown.
        broker_epoch: this broker's current epoch (sent in ``replica_state``).
    """

    def __init__(self, replicas: ReplicaManager, config: BrokerConfig,
                 leader_address: Callable[[int], Address | None], broker_epoch: Callable[[], int]) -> None:
        self.replicas = replicas
        self.config = config
        #: TLS to the leaders when the inter-broker listener is SSL (raises at start-up
        #: on TLS settings kafkapy cannot honour).
        self.ssl_context = inter_broker_ssl_context(config)
        #: SASL to the leaders when the inter-broker listener is SASL_PLAINTEXT or SASL_SSL.
        self.sasl_client = inter_broker_sasl_client(config)
        self.leader_address = leader_address
        self.broker_epoch = broker_epoch
        self.fetchers: dict[tuple[int, int], ReplicaFetcher] = {}
        self._owner: dict[TopicPartition, tuple[int, int]] = {}
        self._nursery: trio.Nursery | None = None
        self._pending: list[Partition] = []

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the fetcher tasks until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            pending, self._pending = self._pending, []
            for partition in pending:
                self.add_partition(partition)
            task_status.started()
            await trio.sleep_forever()

    def add_partition(self, partition: Partition) -> None:
        """Fetch ``partition`` from the leader its registration names (moving it if it
        was fetched from another)."""
        self.remove_partition(partition.tp)
        leader = partition.registration.leader
        if leader < 0 or leader == self.replicas.node_id:
            return
        if self._nursery is None:
            self._pending.append(partition)
            return
        key = (leader, zlib.crc32(f"{partition.tp.topic}-{partition.tp.partition}".encode())
               % self.config.num_replica_fetchers)
        fetcher = self.fetchers.get(key)
        if fetcher is None:
            fetcher = self.fetchers[key] = ReplicaFetcher(self, *key)
            self._nursery.start_soon(fetcher.run)
        fetcher.add(partition)
        self._owner[partition.tp] = key

    def remove_partition(self, tp: TopicPartition) -> None:
        self._pending = [p for p in self._pending if p.tp != tp]
        key = self._owner.pop(tp, None)
        if key is not None:
            fetcher = self.fetchers.get(key)
            if fetcher is not None:
                fetcher.remove(tp)

    def _retire(self, fetcher: ReplicaFetcher) -> None:
        if self.fetchers.get(fetcher.key) is fetcher:
            del self.fetchers[fetcher.key]


class ReplicaFetcher:
    """One connection to one leader, fetching a set of partitions (``ReplicaFetcherThread``)."""

    def __init__(self, manager: ReplicaFetcherManager, leader: int, index: int) -> None:
        self.manager = manager
        self.leader = leader
        self.key = (leader, index)
        self.states: dict[TopicPartition, FetchState] = {}
        #: partitions answered OFFSET_MOVED_TO_TIERED_STORAGE, rebuilt after the answer
        self._rebuilds: list[tuple[FetchState, Any]] = []
        self._changed = trio.Event()
        self._session = FetchSessionHandler()
        #: topic ids of the partitions the session may still hold (to forget them by id)
        self._topic_ids: dict[TopicPartition, bytes] = {}
        node_id = manager.replicas.node_id
        self._connection = PeerConnection(lambda: manager.leader_address(leader),
                                          client_id=f"broker-{node_id}-fetcher-{index}",
                                          ssl_context=manager.ssl_context, authenticate=manager.sasl_client)

    def add(self, partition: Partition) -> None:
        self.states[partition.tp] = FetchState(partition, partition.leader_epoch)
        self._changed.set()

    def remove(self, tp: TopicPartition) -> None:
        if self.states.pop(tp, None) is not None:
            self._changed.set()

    async def run(self) -> None:
        config = self.manager.config
        backoff_s = config.replica_fetch_backoff_ms / 1000
        try:
            while self.states:
                now = trio.current_time()
                ready = {tp: s for tp, s in self.states.items() if s.delayed_until <= now}
                if not ready:
                    self._changed = trio.Event()
                    with trio.move_on_at(min(s.delayed_until for s in self.states.values())):
                        await self._changed.wait()
                    continue
                request = self._request(ready)
                try:
                    response = await self._connection.request(
                        request, timeout_s=(config.replica_socket_timeout_ms + config.replica_fetch_wait_max_ms) / 1000)
                except PeerUnavailable as exc:
                    self._session.handle_error()
                    log.info("Fetcher of broker %d from leader %d: %s; retrying in %.1fs",
                             self.manager.replicas.node_id, self.leader, exc, backoff_s)
                    self._changed = trio.Event()
                    with trio.move_on_after(backoff_s):
                        await self._changed.wait()  # a leadership change may make this moot
                    continue
                self._process(request, response, backoff_s)
                while self._rebuilds:
                    await self._rebuild_from_remote(*self._rebuilds.pop(0), backoff_s)
        finally:
            self.manager._retire(self)
            with trio.CancelScope(shield=True):
                await self._connection.aclose()

    def _request(self, ready: dict[TopicPartition, FetchState]) -> FetchRequest:
        """The next Fetch of this fetcher's session (KIP-227): every ready partition in a
        full fetch, afterwards only those whose position or epoch changed, and the ones
        no longer fetched as forgotten; the leader keeps the rest."""
        config = self.manager.config
        node_id = self.manager.replicas.node_id
        wanted = {}
        for tp, state in ready.items():
            log_ = state.partition.log
            latest = log_.leader_epoch_cache.latest_epoch
            self._topic_ids[tp] = state.partition.topic_id
            wanted[tp] = FetchRequest.FetchPartition(
                partition=tp.partition, current_leader_epoch=state.leader_epoch, fetch_offset=log_.log_end_offset,
                last_fetched_epoch=-1 if latest is None else latest, log_start_offset=log_.log_start_offset,
                partition_max_bytes=config.replica_fetch_max_bytes)
        fetch = self._session.build(wanted)
        topics: dict[str, FetchRequest.FetchTopic] = {}
        for tp, fp in fetch.to_send:
            topic = topics.get(tp.topic)
            if topic is None:
                topic = topics[tp.topic] = FetchRequest.FetchTopic(topic=tp.topic, topic_id=self._topic_ids[tp])
            topic.partitions.append(fp)
        forgotten: dict[str, FetchRequest.ForgottenTopic] = {}
        for tp in fetch.to_forget:
            topic = forgotten.get(tp.topic)
            if topic is None:
                topic = forgotten[tp.topic] = FetchRequest.ForgottenTopic(topic=tp.topic,
                                                                          topic_id=self._topic_ids[tp])
            topic.partitions.append(tp.partition)
            if tp not in self.states:
                del self._topic_ids[tp]
        return FetchRequest(
            replica_id=node_id, replica_state=FetchRequest.ReplicaState(replica_id=node_id,
                                                                        replica_epoch=self.manager.broker_epoch()),
            max_wait_ms=config.replica_fetch_wait_max_ms, min_bytes=config.replica_fetch_min_bytes,
            max_bytes=config.replica_fetch_response_max_bytes, isolation_level=0, session_id=fetch.session_id,
            session_epoch=fetch.epoch, topics=list(topics.values()), forgotten_topics_data=list(forgotten.values()))

    def _process(self, request: FetchRequest, response: Any, backoff_s: float) -> None:
        names = {topic_id: tp.topic for tp, topic_id in self._topic_ids.items()}
        answered = [TopicPartition(t.topic or names.get(t.topic_id, ""), p.partition_index)
                    for t in response.responses for p in t.partitions]
        session_before = self._session.session_id
        if not self._session.handle_response(response.error_code, response.session_id, answered):
            if response.error_code != ErrorCode.NONE:
                log.info("Fetch from leader %d failed: %s", self.leader, ErrorCode(response.error_code).name)
            if response.error_code not in _SESSION_ERRORS:
                self._delay(self.states.values(), backoff_s)
            return
        if self._session.session_id not in (session_before, 0):
            log.info("Fetcher of broker %d: fetch session %d with leader %d", self.manager.replicas.node_id,
                     self._session.session_id, self.leader)
        # The session's partitions, as last sent: an incremental answer may carry any.
        asked = self._session.session_partitions
        replicas = self.manager.replicas
        for topic in response.responses:
            name = topic.topic or names.get(topic.topic_id, "")
            for pd in topic.partitions:
                tp = TopicPartition(name, pd.partition_index)
                state = self.states.get(tp)
                sent = asked.get(tp)
                # Drop answers for a partition that moved or was cut meanwhile.
                if (state is None or sent is None or state.leader_epoch != sent.current_leader_epoch
                        or state.partition.log.log_end_offset != sent.fetch_offset):
                    continue
                code = ErrorCode(pd.error_code)
                try:
                    if code == ErrorCode.NONE:
                        if self._take(state.partition, pd, replicas.clock_ms()):
                            replicas.on_follower_progress(state.partition)
                    elif code == ErrorCode.OFFSET_OUT_OF_RANGE:
                        self._out_of_range(state.partition, pd, replicas.clock_ms())
                    elif code == ErrorCode.OFFSET_MOVED_TO_TIERED_STORAGE:
                        self._delay((state,), backoff_s)  # until rebuilt, after this answer
                        self._rebuilds.append((state, pd))
                    else:
                        if code not in _LEADERSHIP_ERRORS:
                            log.warning("Partition %s: fetch from leader %d failed: %s", tp, self.leader, code.name)
                        self._delay((state,), backoff_s)
                except StorageError as exc:
                    log.error("Partition %s: follower append failed: %s", tp, exc)
                    self._delay((state,), backoff_s)

    def _take(self, partition: Partition, pd: Any, now_ms: int) -> bool:
        """Apply one partition's answer: truncate to a diverging epoch, or append the
        batches and take the leader's high watermark and log start; True if consumers
        reading from this follower may see more (KIP-392)."""
        log_ = partition.log
        diverging = pd.diverging_epoch
        if diverging.epoch >= 0 or diverging.end_offset >= 0:
            offset = truncation_offset(log_, diverging.epoch, diverging.end_offset)
            log.info("Partition %s: log diverged from leader %d at epoch %d (ends %d there); truncating %d -> %d",
                     partition.tp, self.leader, diverging.epoch, diverging.end_offset, log_.log_end_offset, offset)
            log_.truncate_to(offset, now_ms=now_ms)
            return False
        appended = False
        records = pd.records
        if records:
            info = log_.append_as_follower(records, now_ms=now_ms)
            if info.error_code != ErrorCode.NONE:
                raise StorageError(info.error_message or "follower append refused", error_code=info.error_code)
            appended = info.first_offset >= 0
        high_watermark = log_.high_watermark
        log_.update_high_watermark(min(pd.high_watermark, log_.log_end_offset))
        if pd.log_start_offset > log_.log_start_offset:
            log_.maybe_increment_log_start_offset(pd.log_start_offset)
        return appended or log_.high_watermark != high_watermark

    def _out_of_range(self, partition: Partition, pd: Any, now_ms: int) -> None:
        """OFFSET_OUT_OF_RANGE (Kafka's ``handleOutOfRangeError``): behind the leader's log
        start, restart the log there; otherwise ahead of what the leader has, cut back to
        the leader's high watermark (committed, so held by both) and fetch on."""
        log_ = partition.log
        if pd.log_start_offset > log_.log_end_offset:
            log.info("Partition %s: behind leader %d's log start %d; restarting the log there",
                     partition.tp, self.leader, pd.log_start_offset)
            log_.truncate_fully_and_start_at(pd.log_start_offset, now_ms=now_ms)
        else:
            target = min(pd.high_watermark, log_.log_end_offset)
            log.info("Partition %s: fetch offset %d out of range at leader %d; truncating to %d",
                     partition.tp, log_.log_end_offset, self.leader, target)
            log_.truncate_to(target, now_ms=now_ms)

    async def _rebuild_from_remote(self, state: FetchState, pd: Any, backoff_s: float) -> None:
        """OFFSET_MOVED_TO_TIERED_STORAGE (Kafka's ``TierStateMachine``): restart the log
        past the remote tier's last offset (the leader deletes nothing locally before it
        is copied, so it holds that offset locally), with the remote segments' leader
        epochs and the producer snapshot uploaded with the last remote segment (Kafka's
        ``buildRemoteLogAuxState``). While this node's metadata does not reach the
        leader's local log yet, or the store fails, the fetch is tried again after a
        back-off."""
        from kafkapy.storage.remote.storage_manager import IndexType, RemoteStorageError

        partition = state.partition
        manager = self.manager.replicas.remote_logs
        if manager is None:
            return
        manager.load_metadata()
        copied = manager.remote_segments(partition).copied()
        log_ = partition.log
        if not copied or copied[-1].end_offset + 1 <= log_.log_end_offset:
            return
        end, epoch = log_.log_end_offset, state.leader_epoch
        try:
            snapshot = await trio.to_thread.run_sync(manager.storage.fetch_index, copied[-1],
                                                     IndexType.PRODUCER_SNAPSHOT, abandon_on_cancel=True)
        except RemoteStorageError as exc:
            log.warning("Partition %s: producer snapshot from the remote tier failed: %s", partition.tp, exc)
            return
        if self.states.get(partition.tp) is not state or state.leader_epoch != epoch or log_.log_end_offset != end:
            return  # moved, or written, meanwhile
        self._restart_after_remote(partition, pd, copied, snapshot, self.manager.replicas.clock_ms())
        state.delayed_until = -math.inf

    def _restart_after_remote(self, partition: Partition, pd: Any, copied: list[Any], snapshot: bytes,
                              now_ms: int) -> None:
        log_ = partition.log
        start = copied[-1].end_offset + 1
        epochs: dict[int, int] = {}
        for segment in copied:
            for epoch, offset in segment.segment_leader_epochs.items():
                if epoch not in epochs or offset < epochs[epoch]:
                    epochs[epoch] = offset
        log.info("Partition %s: behind leader %d's local log; restarting at %d after the remote tier",
                 partition.tp, self.leader, start)
        log_.truncate_fully_and_start_at(start, now_ms=now_ms)
        log_.log_start_offset = min(max(pd.log_start_offset, copied[0].start_offset), start)
        log_.high_watermark = max(log_.log_start_offset, min(pd.high_watermark, start))
        log_.highest_offset_in_remote_storage = start - 1
        entries = sorted(epochs.items(), key=lambda e: (e[1], e[0]))
        in_force = [e for e, o in entries if o <= log_.log_start_offset]
        keep = ([(in_force[-1], log_.log_start_offset)] if in_force else []) + \
            [(e, o) for e, o in entries if log_.log_start_offset < o < start]
        for epoch, offset in keep:
            log_.leader_epoch_cache.assign(epoch, offset, flush=False)
        log_.leader_epoch_cache.write_if_unflushed()
        producers = log_.producer_state
        if snapshot and producers.directory is not None:
            path = producers.snapshot_path(start)
            with open(path + ".tmp", "wb") as f:
                f.write(snapshot)
            os.replace(path + ".tmp", path)
            producers.load_latest_snapshot(start, now_ms)

    @staticmethod
    def _delay(states: Any, backoff_s: float) -> None:
        until = trio.current_time() + backoff_s
        for state in states:
            state.delayed_until = until
