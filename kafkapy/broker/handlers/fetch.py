"""Fetch (key 1), versions 4-18.

Reads whole batches from each partition's log, from the batch holding the fetch
offset, as file regions (sent with ``os.sendfile``) or memoryviews: never copied,
never decoded. Consumers read up to the high watermark (read_uncommitted) or the last
stable offset (read_committed, with the aborted transactions of the range);
followers (``replica_id`` >= 0) read up to the log end and report their progress,
which moves the high watermark.

Limits (KIP-74): ``partition_max_bytes`` per partition and ``max_bytes`` overall
(capped by the broker's ``fetch.max.bytes``); the first batch returned is always
whole, even when larger than the limits, so a consumer always progresses.

Long poll: when fewer than ``min_bytes`` are readable, the request waits in the fetch
purgatory, woken at once by an append or high-watermark move on any of its
partitions (or a leadership change), and answers after ``max_wait_ms`` at the latest.

Sessions (KIP-227, :mod:`kafkapy.broker.fetch_session`): a full fetch with epoch 0
creates a session when the cache (``max.incremental.fetch.session.cache.slots``) has
room; an incremental fetch names only the partitions that changed and is answered with
only those that have records, an error or new offsets (high watermark, last stable
offset, log start offset). Session errors (FETCH_SESSION_ID_NOT_FOUND,
INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR) answer with no partitions
and session id 0. A session partition whose topic id is unknown answers UNKNOWN_TOPIC_ID
until the topic appears, one whose topic was recreated INCONSISTENT_TOPIC_ID. The replica
manager reports partition changes (``ReplicaManager.partition_listeners``), so an
incremental fetch reads and waits on only the session partitions that may have
something to say: idle partitions cost nothing (Kafka reads them all).

Version notes:
    v4+: isolation level, last stable offset, aborted transactions.
    v5+: log start offset. v7+: sessions. v9+: current leader epoch fencing
    (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH). v11+: preferred read replica (always -1).
    v12+: flexible. v13+: topics by id (UNKNOWN_TOPIC_ID). v15+: replica state.
    v18 (KIP-1166): a follower's own high watermark, a tagged field left unread. An
    Apache Kafka 4.1 follower fetches at v18 without negotiating: its ReplicaFetcher
    takes the version from metadata.version (4.1-IV1), so a mixed cluster needs it.
Followers (``replica_id`` >= 0, from v15 ``replica_state``): the leader checks the
follower's last fetched epoch against its own epoch history and answers a
``diverging_epoch`` instead of records when their logs differ (KIP-320); otherwise it
records the follower's position first (moving the high watermark this answer
carries), and a waiting follower fetch also answers when the high watermark moves.
Consumers (KIP-392): from v11 a consumer may fetch from a follower (up to the
follower's high watermark); with ``replica.selector.class`` set to Kafka's
rack-aware selector, the leader answers a consumer whose ``rack_id`` matches the
``broker.rack`` of an in-sync follower holding its fetch offset with that follower's
id as ``preferred_read_replica`` and no records (unless the leader is in the rack).
Tiered storage (KIP-405): a consumer's fetch offset below the leader's local log start
(the log answers OFFSET_MOVED_TO_TIERED_STORAGE) is read from the remote tier by the
broker's remote log manager, in worker threads, all such partitions at once, while
the others' answers are ready (Kafka's ``DelayedRemoteFetch``). The answer comes within
``remote.fetch.max.wait.ms`` (and the request's ``max_wait_ms``): a read still running
then answers REQUEST_TIMED_OUT, one the store failed KAFKA_STORAGE_ERROR, with no
records; the other partitions are not held back. A fetch with a remote read does not
wait for ``min_bytes``. Followers get OFFSET_MOVED_TO_TIERED_STORAGE itself and rebuild
their log start from the remote tier.
Not implemented: quotas.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.fetch_session import (
    INVALID_SESSION_ID,
    CachedPartition,
    FetchSession,
    FetchSessionCache,
    FullContext,
    IncrementalContext,
    PartitionKey,
    RequestedPartition,
    SessionErrorContext,
)
from kafkapy.broker.registry import handles
from kafkapy.broker.replica_manager import Partition, ReplicaManager, TopicPartition
from kafkapy.storage.partition_log import FetchIsolation
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.buffers import chunk_length, chunks_length
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.primitives import ZERO_UUID

if TYPE_CHECKING:
    from collections.abc import Callable

    from kafkapy.broker.core import BrokerCore
    from kafkapy.kraft.metadata.image import MetadataImage
    from kafkapy.wire.messages.fetch import FetchRequest, FetchResponse

#: FetchRequest.isolation_level values.
READ_UNCOMMITTED, READ_COMMITTED = 0, 1
#: Each broker's fetch session cache, made on its first Fetch.
_SESSION_CACHES: weakref.WeakKeyDictionary[BrokerCore, FetchSessionCache] = weakref.WeakKeyDictionary()


class _Wanted:
    """One partition of the request, resolved: what to read and where to answer.

    ``cached`` is the session partition an incremental fetch reads (whose topic id the
    hosted partition must still have), None for a partition of the request itself.
    """

    __slots__ = ("cached", "request", "response", "tp")

    def __init__(self, tp: TopicPartition | None, request: FetchRequest.FetchPartition,
                 response: FetchResponse.PartitionData, cached: CachedPartition | None = None) -> None:
        self.tp = tp
        self.request = request
        self.response = response
        self.cached = cached


def session_cache(broker: BrokerCore) -> FetchSessionCache:
    """The broker's fetch session cache, made on first use.

    The replica manager's ``partition_listeners`` are called with a topic-partition on
    every append, high-watermark or log-start move, leadership change and removal: the
    cache keeps its sessions' dirty sets with them, and a long poll on a session is
    woken through the session itself.
    """
    cache = _SESSION_CACHES.get(broker)
    if cache is None:
        cache = FetchSessionCache(broker.config.max_incremental_fetch_session_cache_slots, tracks_changes=True)
        purgatory = broker.replicas.purgatories.fetch
        tracker = cache

        def on_partition_change(tp: TopicPartition) -> None:
            for session in tracker.partition_changed(tp):
                purgatory.check_and_complete(session)

        broker.replicas.partition_listeners.append(on_partition_change)
        _SESSION_CACHES[broker] = cache
    return cache


@handles(ApiKey.FETCH, versions=(4, 18))
async def handle_fetch(ctx: RequestContext, request: FetchRequest) -> FetchResponse:
    from kafkapy.wire.messages.fetch import FetchResponse

    version = ctx.version
    broker = ctx.broker
    replicas = broker.replicas
    replica_id = request.replica_state.replica_id if version >= 15 else request.replica_id
    image = broker.image
    by_id = version >= 13

    requested, topics, wanted = _resolve(request, image, by_id)
    cache = session_cache(broker)
    context = cache.new_context(version, request.session_id, request.session_epoch, privileged=replica_id >= 0,
                                now_ms=broker.clock_ms(), requested=requested,
                                forgotten=_forgotten(request, by_id), name_of=_name_of(image))
    if isinstance(context, SessionErrorContext):
        return FetchResponse(error_code=context.error_code, session_id=INVALID_SESSION_ID)
    # An incremental fetch reads its session's partitions; with tracked changes only
    # those that may have something to say, and its long poll waits on the session.
    session = context.session if isinstance(context, IncrementalContext) else None
    tracked = session if session is not None and session.tracks_changes else None
    if session is not None:
        wanted = _session_wanted(session)

    max_bytes = min(request.max_bytes, broker.config.fetch_max_bytes)
    if replica_id < 0 and (window := broker.quotas.fetch_window_bytes(ctx)) is not None:
        max_bytes = min(max_bytes, window)  # a consumer quota's window (kafkapy.broker.quotas)
    isolation = request.isolation_level if replica_id < 0 else READ_UNCOMMITTED
    # KIP-392: from v11 a consumer may fetch from a follower, and the leader may send it
    # to a replica in its rack.
    rack = (request.rack_id or "") if version >= 11 and replica_id < 0 else None
    read_size = _read_all(replicas, wanted, max_bytes, isolation, replica_id, version, rack)
    remote = [w for w in wanted if w.response.error_code == ErrorCode.OFFSET_MOVED_TO_TIERED_STORAGE] \
        if replica_id < 0 else []
    if remote:
        await _read_remote(broker, remote, max(max_bytes - read_size, 0), isolation, request.max_wait_ms)
    elif read_size < request.min_bytes and request.max_wait_ms > 0 and not _any_error(wanted):
        def try_complete() -> bool:
            if tracked is not None:
                wanted[:] = _session_wanted(tracked)  # partitions changed meanwhile join
            return _available(replicas, wanted, max_bytes, isolation, replica_id, rack) >= request.min_bytes

        keys: list[object] = [tracked] if tracked is not None else [w.tp for w in wanted if w.tp is not None]
        await replicas.purgatories.fetch.wait(try_complete, keys, request.max_wait_ms / 1000)
        if tracked is not None:
            wanted[:] = _session_wanted(tracked)
        # Completed or timed out: answer with what is readable now.
        _read_all(replicas, wanted, max_bytes, isolation, replica_id, version, rack)
    _count_fetched(broker, wanted, replica_id >= 0)
    if isinstance(context, IncrementalContext):
        return _incremental_response(context, wanted, replicas, isolation, replica_id >= 0)
    session_id = INVALID_SESSION_ID
    if isinstance(context, FullContext):
        pending = (_pending(replicas, w, isolation, replica_id >= 0) if cache.tracks_changes else False
                   for w in wanted)
        session_id = cache.maybe_create_session(
            context, broker.clock_ms(), zip(requested, (w.response for w in wanted), pending))
    return FetchResponse(session_id=session_id, responses=topics)


def _resolve(request: FetchRequest, image: MetadataImage, by_id: bool,
             ) -> tuple[list[RequestedPartition], list[FetchResponse.FetchableTopicResponse], list[_Wanted]]:
    """The request's partitions, their answers in request order, and what to read.

    From v13 topics are named by id; an unknown id is UNKNOWN_TOPIC_ID (name None).
    """
    from kafkapy.wire.messages.fetch import FetchResponse

    TopicResponse = FetchResponse.FetchableTopicResponse
    PartitionData = FetchResponse.PartitionData
    requested: list[RequestedPartition] = []
    topics: list[FetchResponse.FetchableTopicResponse] = []
    wanted: list[_Wanted] = []
    for ft in request.topics:
        name: str | None = ft.topic
        if by_id:
            topic_image = image.topics_by_id.get(ft.topic_id)
            name = topic_image.name if topic_image is not None else None
        topic_key = ft.topic_id if by_id else ft.topic
        tr = TopicResponse(topic=ft.topic, topic_id=ft.topic_id)
        for fp in ft.partitions:
            pd = PartitionData(partition_index=fp.partition, records=b"")
            if name is None:
                pd.error_code = ErrorCode.UNKNOWN_TOPIC_ID
                wanted.append(_Wanted(None, fp, pd))
            else:
                wanted.append(_Wanted(TopicPartition(name, fp.partition), fp, pd))
            requested.append(RequestedPartition((topic_key, fp.partition), name, ft.topic_id, fp.partition, fp))
            tr.partitions.append(pd)
        topics.append(tr)
    return requested, topics, wanted


def _forgotten(request: FetchRequest, by_id: bool) -> list[PartitionKey]:
    """The session keys of the request's ``forgotten_topics_data`` (v7+)."""
    return [(ft.topic_id if by_id else ft.topic, p) for ft in request.forgotten_topics_data for p in ft.partitions]


def _name_of(image: MetadataImage) -> Callable[[bytes], str | None]:
    """Topic id -> name in ``image`` (None if unknown), for a session's unknown ids."""
    topics_by_id = image.topics_by_id

    def name_of(topic_id: bytes) -> str | None:
        topic = topics_by_id.get(topic_id)
        return topic.name if topic is not None else None

    return name_of


def _session_wanted(session: FetchSession) -> list[_Wanted]:
    """What an incremental fetch reads: :meth:`FetchSession.candidates`, fresh answers."""
    from kafkapy.wire.messages.fetch import FetchResponse

    PartitionData = FetchResponse.PartitionData
    return [_Wanted(TopicPartition(c.topic, c.partition) if c.topic is not None else None, c.params,
                    PartitionData(partition_index=c.partition, records=b""), c)
            for c in session.candidates()]


def _incremental_response(context: IncrementalContext, wanted: list[_Wanted], replicas: ReplicaManager,
                          isolation: int, follower: bool) -> FetchResponse:
    """The partitions of an incremental fetch that have something to say
    (``IncrementalFetchContext.updateAndGenerateResponseData``), grouped by topic in
    session order."""
    from kafkapy.wire.messages.fetch import FetchResponse

    session = context.session
    if not context.epoch_still_current:
        # Another request on the same session moved its epoch while this one waited.
        return FetchResponse(error_code=ErrorCode.INVALID_FETCH_SESSION_EPOCH, session_id=session.id)
    topics: list[FetchResponse.FetchableTopicResponse] = []
    current: FetchResponse.FetchableTopicResponse | None = None
    current_key: object = None
    tracks = session.tracks_changes
    for w in wanted:
        cached = w.cached
        assert cached is not None
        pd = w.response
        pending = tracks and _pending(replicas, w, isolation, follower)
        if not session.settle(cached, pd, _records_size(pd.records), pending):
            continue
        if current is None or cached.key[0] != current_key:
            current = FetchResponse.FetchableTopicResponse(topic=cached.topic or "", topic_id=cached.topic_id)
            current_key = cached.key[0]
            topics.append(current)
        current.partitions.append(pd)
    return FetchResponse(session_id=session.id, responses=topics)


def _pending(replicas: ReplicaManager, w: _Wanted, isolation: int, follower: bool) -> bool:
    """Whether a partition just read has more to tell than its answer holds: an error,
    records past the fetch offset (beyond what fitted, or not yet taken by the client),
    or offsets that moved after they were read (a follower's own fetch moves the high
    watermark). Such a partition stays dirty in a tracked session."""
    pd = w.response
    if w.tp is None or pd.error_code != ErrorCode.NONE:
        return True
    partition = replicas.partitions.get(w.tp)
    if partition is None:
        return True
    log_ = partition.log
    if follower:
        end = log_.log_end_offset
    else:
        end = log_.last_stable_offset if isolation == READ_COMMITTED else log_.high_watermark
    return (w.request.fetch_offset < end or pd.high_watermark != log_.high_watermark
            or pd.last_stable_offset != log_.last_stable_offset or pd.log_start_offset != log_.log_start_offset)


def _records_size(records: object) -> int:
    if not records:
        return 0
    if isinstance(records, list):
        return chunks_length(records)
    return chunk_length(records)  # type: ignore[arg-type]


def _count_fetched(broker: BrokerCore, wanted: list[_Wanted], follower: bool) -> None:
    """Bytes out and failed fetches per topic (``kafkapy.broker.metrics``)."""
    metrics = broker.metrics
    for w in wanted:
        if w.tp is not None:
            pd = w.response
            metrics.on_fetch(w.tp.topic, _records_size(pd.records), pd.error_code, follower)


def _any_error(wanted: list[_Wanted]) -> bool:
    """An error, a diverging epoch or a preferred read replica: each is answered at once."""
    return any(w.response.error_code != ErrorCode.NONE or w.response.diverging_epoch.end_offset >= 0
               or w.response.preferred_read_replica >= 0 for w in wanted)


def _check(replicas: ReplicaManager, w: _Wanted, rack: str | None = None) -> tuple[ErrorCode, Partition | None]:
    """The partition to read, in Kafka's check order; a consumer with client metadata
    (``rack`` not None, v11+) may read from a follower."""
    if w.tp is None:
        return ErrorCode.UNKNOWN_TOPIC_ID, None
    code, partition = replicas.leader_partition(w.tp.topic, w.tp.partition, w.request.current_leader_epoch,
                                                allow_follower=rack is not None)
    if partition is not None and w.cached is not None and w.cached.topic_id != ZERO_UUID \
            and partition.topic_id != w.cached.topic_id:
        # A session partition of a topic since deleted and created again under its name.
        return ErrorCode.INCONSISTENT_TOPIC_ID, None
    return code, partition


def _read_all(replicas: ReplicaManager, wanted: list[_Wanted], max_bytes: int, isolation: int,
              replica_id: int, version: int, rack: str | None = None) -> int:
    """Fill every partition's answer; returns the record bytes read (Kafka's ``readFromLocalLog``).

    A follower's fetch first records its position (which may move the high watermark
    this answer carries), unless its last fetched epoch shows that its log diverged
    from the leader's: then the answer is the diverging epoch and no records. A
    consumer the leader sends to a replica in its rack gets that replica's id and no
    records (KIP-392).
    """
    from kafkapy.wire.messages.fetch import FetchResponse

    follower = replica_id >= 0
    if follower:
        replicas.on_follower_request(replica_id)
    total = 0
    min_one_message = True
    for w in wanted:
        pd = w.response
        code, partition = _check(replicas, w, rack)
        if partition is not None and follower and replica_id not in partition.registration.replicas:
            code, partition = ErrorCode.NOT_LEADER_OR_FOLLOWER, None
        if partition is None:
            pd.error_code = code
            pd.records = b""
            continue
        log_ = partition.log
        fp = w.request
        if follower:
            code, diverging = _diverging_epoch(partition, fp, version)
            if code != ErrorCode.NONE or diverging is not None:
                _answer_without_records(pd, partition, code)
                if diverging is not None:
                    pd.diverging_epoch = FetchResponse.EpochEndOffset(epoch=diverging[0], end_offset=diverging[1])
                continue
            replicas.on_follower_fetch(partition, replica_id, fp.fetch_offset)
        elif rack is not None and partition.is_leader:
            preferred = replicas.preferred_read_replica(partition, rack, fp.fetch_offset)
            if preferred is not None:
                _answer_without_records(pd, partition, ErrorCode.NONE)
                pd.preferred_read_replica = preferred
                continue
        limit = max(min(fp.partition_max_bytes, max_bytes - total), 0)
        info = log_.read(fp.fetch_offset, limit, isolation=_isolation(isolation, follower),
                         min_one_message=min_one_message)
        pd.error_code = info.error_code
        pd.high_watermark = log_.high_watermark
        pd.last_stable_offset = log_.last_stable_offset
        pd.log_start_offset = log_.log_start_offset
        pd.preferred_read_replica = -1
        pd.aborted_transactions = (
            [FetchResponse.AbortedTransaction(producer_id=t.producer_id, first_offset=t.first_offset)
             for t in info.aborted_transactions or ()]
            if isolation == READ_COMMITTED else None
        )
        pd.records = info.records if info.error_code == ErrorCode.NONE else b""
        if info.error_code == ErrorCode.NONE:
            if info.size:
                min_one_message = False
            total += info.size
        if follower:
            state = partition.replica_states.get(replica_id)
            if state is not None:
                state.last_sent_high_watermark = pd.high_watermark
    return total


async def _read_remote(broker: BrokerCore, remote: list[_Wanted], budget: int, isolation: int,
                       max_wait_ms: int) -> None:
    """Fill the answers of partitions read from the remote tier; see the module doc."""
    import trio

    manager = broker.remote_logs
    if manager is None:  # no remote tier on this broker: Kafka's read is out of range
        for w in remote:
            w.response.error_code = ErrorCode.OFFSET_OUT_OF_RANGE
        return
    done: set[int] = set()
    share = max(budget // len(remote), 1)
    read_committed = isolation == READ_COMMITTED

    async def read_one(w: _Wanted) -> None:
        from kafkapy.wire.messages.fetch import FetchResponse

        assert w.tp is not None
        partition = broker.replicas.partitions.get(w.tp)
        pd = w.response
        if partition is None:
            pd.error_code = ErrorCode.NOT_LEADER_OR_FOLLOWER
        else:
            result = await manager.read(partition, w.request.fetch_offset, min(w.request.partition_max_bytes, share),
                                        True, read_committed=read_committed)
            pd.error_code = result.error
            pd.records = result.data if result.error == ErrorCode.NONE else b""
            if read_committed:
                pd.aborted_transactions = [
                    FetchResponse.AbortedTransaction(producer_id=t.producer_id, first_offset=t.first_offset)
                    for t in result.aborted or ()]
        done.add(id(w))

    timeout_ms = broker.config.remote_fetch_max_wait_ms
    if max_wait_ms > 0:
        timeout_ms = min(timeout_ms, max_wait_ms)
    with trio.move_on_after(timeout_ms / 1000):
        async with trio.open_nursery() as nursery:
            for w in remote:
                nursery.start_soon(read_one, w)
    for w in remote:
        if id(w) not in done:
            w.response.error_code = ErrorCode.REQUEST_TIMED_OUT
            w.response.records = b""


def _diverging_epoch(partition: Partition, fp: FetchRequest.FetchPartition,
                     version: int) -> tuple[ErrorCode, tuple[int, int] | None]:
    """Where a follower's log diverges from the leader's, if it does (Kafka's
    ``Partition.validateFetchOffsetAndMaybeGetDivergingEpoch``, KIP-320).

    The leader looks up the end of the follower's last fetched epoch in its own epoch
    history: if that epoch ended earlier than the follower's fetch offset, or the leader
    knows only an older epoch, the follower must truncate to that (epoch, end offset).
    An epoch the leader cannot place is OFFSET_OUT_OF_RANGE.
    """
    if version < 12 or fp.last_fetched_epoch < 0:
        return ErrorCode.NONE, None
    found = partition.log.end_offset_for_epoch(fp.last_fetched_epoch)
    if found is None:
        return ErrorCode.OFFSET_OUT_OF_RANGE, None
    epoch, end_offset = found
    if epoch < fp.last_fetched_epoch or end_offset < fp.fetch_offset:
        return ErrorCode.NONE, (epoch, end_offset)
    return ErrorCode.NONE, None


def _answer_without_records(pd: FetchResponse.PartitionData, partition: Partition, code: ErrorCode) -> None:
    log_ = partition.log
    pd.error_code = code
    pd.records = b""
    pd.high_watermark = log_.high_watermark
    pd.last_stable_offset = log_.last_stable_offset
    pd.log_start_offset = log_.log_start_offset


def _available(replicas: ReplicaManager, wanted: list[_Wanted], max_bytes: int, isolation: int,
               replica_id: int, rack: str | None = None) -> int:
    """Bytes a fetch could return now (Kafka's ``DelayedFetch.tryComplete``); reads no data.

    A follower's fetch also answers as soon as the high watermark passes the one it was
    last sent, so followers learn it without waiting for data (Kafka's
    ``followerNeedsHwUpdate``).
    """
    total = 0
    for w in wanted:
        code, partition = _check(replicas, w, rack)
        if partition is None:
            if code != w.response.error_code:
                return max_bytes  # the partition's state changed: answer now
            continue
        if replica_id >= 0:
            state = partition.replica_states.get(replica_id)
            if state is not None and state.last_sent_high_watermark < partition.log.high_watermark:
                return max_bytes
        info = partition.log.read(w.request.fetch_offset, w.request.partition_max_bytes,
                                  isolation=_isolation(isolation, replica_id >= 0), min_one_message=True)
        if info.error_code != ErrorCode.NONE:
            return max_bytes
        total += info.size
    return total


def _isolation(isolation: int, follower: bool) -> FetchIsolation:
    if follower:
        return FetchIsolation.LOG_END
    return FetchIsolation.TXN_COMMITTED if isolation == READ_COMMITTED else FetchIsolation.HIGH_WATERMARK
