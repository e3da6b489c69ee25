"""Fetch (key 1), versions 4-17.

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

Sessions (KIP-227): always answered with session id 0, which makes every client fall
back to full fetches; an incremental fetch (epoch > 0) gets FETCH_SESSION_ID_NOT_FOUND.

Version notes:
    v4+: isolation level, last stable offset, aborted transactions.
    v5+: log start offset. v9+: current leader epoch fencing (FENCED_LEADER_EPOCH,
    UNKNOWN_LEADER_EPOCH). v11+: preferred read replica (always -1).
    v12+: flexible. v13+: topics by id (UNKNOWN_TOPIC_ID). v15+: replica state.
Followers (``replica_id`` >= 0, from v15 ``replica_state``): the leader checks the
follower's last fetched epoch against its own epoch history and answers a
``diverging_epoch`` instead of records when their logs differ (KIP-320); otherwise it
records the follower's position first (moving the high watermark this answer
carries), and a waiting follower fetch also answers when the high watermark moves.
Not implemented: fetch sessions, rack-aware follower fetching (KIP-392), quotas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.broker.replica_manager import Partition, ReplicaManager, TopicPartition
from kafkapy.storage.partition_log import FetchIsolation
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.fetch import FetchRequest, FetchResponse

#: FetchRequest.isolation_level values.
READ_UNCOMMITTED, READ_COMMITTED = 0, 1
#: FetchMetadata.INITIAL_EPOCH / FINAL_EPOCH: the epochs of a full (sessionless) fetch.
_FULL_FETCH_EPOCHS = (0, -1)


class _Wanted:
    """One partition of the request, resolved: what to read and where to answer."""

    __slots__ = ("request", "response", "tp")

    def __init__(self, tp: TopicPartition | None, request: FetchRequest.FetchPartition, response: FetchResponse.PartitionData) -> None:
        self.tp = tp
        self.request = request
        self.response = response


@handles(ApiKey.FETCH, versions=(4, 17))
async def handle_fetch(ctx: RequestContext, request: FetchRequest) -> FetchResponse:
    from kafkapy.wire.messages.fetch import FetchResponse

    TopicResponse = FetchResponse.FetchableTopicResponse
    PartitionData = FetchResponse.PartitionData
    version = ctx.version
    if request.session_epoch not in _FULL_FETCH_EPOCHS:
        code = ErrorCode.FETCH_SESSION_ID_NOT_FOUND if request.session_id else ErrorCode.INVALID_FETCH_SESSION_EPOCH
        return FetchResponse(error_code=code, session_id=0)
    broker = ctx.broker
    replicas = broker.replicas
    replica_id = request.replica_state.replica_id if version >= 15 else request.replica_id
    image = broker.image
    by_id = version >= 13

    topics: list[FetchResponse.FetchableTopicResponse] = []
    wanted: list[_Wanted] = []
    for ft in request.topics:
        name = ft.topic
        if by_id:
            topic_image = image.topics_by_id.get(ft.topic_id)
            name = topic_image.name if topic_image is not None else None
        tr = TopicResponse(topic=ft.topic, topic_id=ft.topic_id)
        for fp in ft.partitions:
            pd = PartitionData(partition_index=fp.partition, records=b"")
            if name is None:
                pd.error_code = ErrorCode.UNKNOWN_TOPIC_ID
                wanted.append(_Wanted(None, fp, pd))
            else:
                wanted.append(_Wanted(TopicPartition(name, fp.partition), fp, pd))
            tr.partitions.append(pd)
        topics.append(tr)

    max_bytes = min(request.max_bytes, broker.config.fetch_max_bytes)
    isolation = request.isolation_level if replica_id < 0 else READ_UNCOMMITTED
    read_size = _read_all(replicas, wanted, max_bytes, isolation, replica_id, version)
    if read_size < request.min_bytes and request.max_wait_ms > 0 and not _any_error(wanted):
        def try_complete() -> bool:
            return _available(replicas, wanted, max_bytes, isolation, replica_id) >= request.min_bytes

        keys = [w.tp for w in wanted if w.tp is not None]
        await replicas.purgatories.fetch.wait(try_complete, keys, request.max_wait_ms / 1000)
        # Completed or timed out: answer with what is readable now.
        _read_all(replicas, wanted, max_bytes, isolation, replica_id, version)
    return FetchResponse(session_id=0, responses=topics)


def _any_error(wanted: list[_Wanted]) -> bool:
    """An error or a diverging epoch: either is answered at once."""
    return any(w.response.error_code != ErrorCode.NONE or w.response.diverging_epoch.end_offset >= 0
               for w in wanted)


def _check(replicas: ReplicaManager, w: _Wanted) -> tuple[ErrorCode, Partition | None]:
    if w.tp is None:
        return ErrorCode.UNKNOWN_TOPIC_ID, None
    return replicas.leader_partition(w.tp.topic, w.tp.partition, w.request.current_leader_epoch)


def _read_all(replicas: ReplicaManager, wanted: list[_Wanted], max_bytes: int, isolation: int,
              replica_id: int, version: int) -> int:
    """Fill every partition's answer; returns the record bytes read (Kafka's ``readFromLocalLog``).

    A follower's fetch first records its position (which may move the high watermark
    this answer carries), unless its last fetched epoch shows that its log diverged
    from the leader's: then the answer is the diverging epoch and no records.
    """
    from kafkapy.wire.messages.fetch import FetchResponse

    follower = replica_id >= 0
    total = 0
    min_one_message = True
    for w in wanted:
        pd = w.response
        code, partition = _check(replicas, w)
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
               replica_id: int) -> int:
    """Bytes a fetch could return now (Kafka's ``DelayedFetch.tryComplete``); reads no data.

    A follower's fetch also answers as soon as the high watermark passes the one it was
    last sent, so followers learn it without waiting for data (Kafka's
    ``followerNeedsHwUpdate``).
    """
    total = 0
    for w in wanted:
        code, partition = _check(replicas, w)
        if partition is None:
            if code != w.response.error_code:
                return max_bytes  # the partition's state changed: answer now
            continue
        if replica_id >= 0:
            state = partition.replica_states.get(replica_id)
            if state is not None and state.last_sent_high_watermark < partition.log.high_watermark:
                return max_bytes
        info = partition.log.read(w.request.fetch_offset, w.request.partition_max_bytes,
                                  isolation=_isolation(isolation, False), min_one_message=True)
        if info.error_code != ErrorCode.NONE:
            return max_bytes
        total += info.size
    return total


def _isolation(isolation: int, follower: bool) -> FetchIsolation:
    if follower:
        return FetchIsolation.LOG_END
    return FetchIsolation.TXN_COMMITTED if isolation == READ_COMMITTED else FetchIsolation.HIGH_WATERMARK
