"""The transaction APIs; the logic is the coordinator's (:mod:`kafkapy.broker.txn_coordinator`).

AddPartitionsToTxn (key 24), versions 0-5:
    v0-3 (clients): one transaction; a partition unknown to the metadata answers
    UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, without asking
    the coordinator. v4+ (brokers, KIP-890): a batch of transactions from a partition
    leader's ``AddPartitionsToTxnManager``, each either only verified (``verify_only``,
    part 1) or added on a transaction version 2 client's behalf (part 2), answered at
    once (the leader retries CONCURRENT_TRANSACTIONS).
AddOffsetsToTxn (key 25), versions 0-4: adds the group's ``__consumer_offsets``
    partition to the transaction (transaction version 0 semantics, as Kafka: version 2
    clients do not send it).
TxnOffsetCommit (key 28), versions 0-6: offsets staged in the group coordinator until
    the transaction's marker reaches that partition. v5 (transaction version 2) adds the
    offsets partition to the transaction first, in place of AddOffsetsToTxn; v0-4 verify
    with the id's coordinator that it is in the producer's open transaction (KIP-890
    part 1, as Kafka 4.1's group coordinator does: without AddOffsetsToTxn, v0-3 answer
    INVALID_TXN_STATE and v4 TRANSACTION_ABORTABLE). A topic or partition that does not
    exist answers UNKNOWN_TOPIC_OR_PARTITION before any of it. v6 (KIP-1319) names
    topics by id in the request and the answer (UNKNOWN_TOPIC_ID for an id the metadata
    does not know) and answers GROUP_ID_NOT_FOUND for an unknown group committing with a
    generation and STALE_MEMBER_EPOCH for a consumer group member's old epoch, where
    earlier versions answer ILLEGAL_GENERATION (Kafka 4.4's
    ``OffsetMetadataManager.validateTransactionalOffsetCommit``).
EndTxn (key 26), versions 0-5. v5 (transaction version 2): the coordinator bumps the
    epoch and answers the producer id and epoch to go on with.
WriteTxnMarkers (key 27), versions 1-2: markers from another broker's coordinator
    (:mod:`kafkapy.broker.txn.markers`). v2 (KIP-1228) gives each marker's transaction
    version: the leader checks a version 2 marker's epoch strictly (above the
    producer's, each such transaction ending with an epoch bump).
DescribeTransactions (key 65), version 0. ListTransactions (key 66), versions 0-2
    (v1: duration filter, v2: transactional id pattern).

Version notes: PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH to versions that
predate it (KIP-588: InitProducerId < 4, AddPartitionsToTxn/AddOffsetsToTxn/EndTxn < 2,
TxnOffsetCommit < 3); TRANSACTION_ABORTABLE is answered INVALID_TXN_STATE below
AddPartitionsToTxn v5 / AddOffsetsToTxn v4.
Authorization (TRANSACTIONAL_ID WRITE, TOPIC WRITE, GROUP READ, CLUSTER IDEMPOTENT_WRITE)
happens before the handler (:mod:`kafkapy.broker.request_authorization`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.groups.coordinator_topics import GROUP_METADATA_TOPIC
from kafkapy.broker.registry import handles
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.broker.txn.add_partitions_manager import TxnOperation
from kafkapy.broker.txn.markers import write_txn_markers
from kafkapy.broker.txn.metadata import TxnState
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.add_offsets_to_txn import (
        AddOffsetsToTxnRequest,
        AddOffsetsToTxnResponse,
    )
    from kafkapy.wire.messages.add_partitions_to_txn import (
        AddPartitionsToTxnRequest,
        AddPartitionsToTxnResponse,
    )
    from kafkapy.wire.messages.describe_transactions import (
        DescribeTransactionsRequest,
        DescribeTransactionsResponse,
    )
    from kafkapy.wire.messages.end_txn import EndTxnRequest, EndTxnResponse
    from kafkapy.wire.messages.list_transactions import (
        ListTransactionsRequest,
        ListTransactionsResponse,
    )
    from kafkapy.wire.messages.txn_offset_commit import (
        TxnOffsetCommitRequest,
        TxnOffsetCommitResponse,
    )
    from kafkapy.wire.messages.write_txn_markers import (
        WriteTxnMarkersRequest,
        WriteTxnMarkersResponse,
    )


def for_version(code: ErrorCode, *, fenced_since: int, abortable_since: int | None, version: int) -> ErrorCode:
    """``code`` as a request ``version`` understands it (see the module doc)."""
    if code == ErrorCode.PRODUCER_FENCED and version < fenced_since:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    if code == ErrorCode.TRANSACTION_ABORTABLE and (abortable_since is None or version < abortable_since):
        return ErrorCode.INVALID_TXN_STATE
    return code


@handles(ApiKey.ADD_PARTITIONS_TO_TXN, versions=(0, 5))
async def handle_add_partitions_to_txn(ctx: RequestContext, request: AddPartitionsToTxnRequest
                                       ) -> AddPartitionsToTxnResponse:
    from kafkapy.wire.messages.add_partitions_to_txn import (
        AddPartitionsToTxnResponse as Response,
    )

    coordinator = ctx.broker.txn_coordinator
    version = ctx.version
    if version <= 3:
        partitions = [TopicPartition(t.name, p) for t in request.v3_and_below_topics for p in t.partitions]
        image = ctx.broker.image
        unknown = {tp for tp in partitions if image.partition(tp.topic, tp.partition) is None}
        if unknown:
            codes = {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else ErrorCode.OPERATION_NOT_ATTEMPTED
                     for tp in partitions}
        else:
            code = await coordinator.add_partitions(request.v3_and_below_transactional_id,
                                                    request.v3_and_below_producer_id,
                                                    request.v3_and_below_producer_epoch, partitions)
            codes = dict.fromkeys(partitions, for_version(code, fenced_since=2, abortable_since=5, version=version))
        return Response(results_by_topic_v3_and_below=_topic_results(codes))
    results = []
    for txn in request.transactions:
        partitions = [TopicPartition(t.name, p) for t in txn.topics for p in t.partitions]
        if txn.verify_only:
            codes = coordinator.verify_partitions(txn.transactional_id, txn.producer_id, txn.producer_epoch,
                                                  partitions)
        else:
            # Answered at once, CONCURRENT_TRANSACTIONS included: the asking leader retries.
            code = await coordinator.add_partitions(txn.transactional_id, txn.producer_id, txn.producer_epoch,
                                                    partitions, client_txn_version=2)
            codes = dict.fromkeys(partitions, code)
        codes = {tp: for_version(c, fenced_since=2, abortable_since=5, version=version) for tp, c in codes.items()}
        results.append(Response.AddPartitionsToTxnResult(transactional_id=txn.transactional_id,
                                                         topic_results=_topic_results(codes)))
    return Response(results_by_transaction=results)


def _topic_results(codes: dict[TopicPartition, ErrorCode]) -> list:
    from kafkapy.wire.messages.add_partitions_to_txn import (
        AddPartitionsToTxnResponse as Response,
    )

    by_topic: dict[str, list] = {}
    for tp, code in codes.items():
        by_topic.setdefault(tp.topic, []).append(
            Response.AddPartitionsToTxnPartitionResult(partition_index=tp.partition, partition_error_code=code))
    return [Response.AddPartitionsToTxnTopicResult(name=name, results_by_partition=results)
            for name, results in by_topic.items()]


@handles(ApiKey.ADD_OFFSETS_TO_TXN, versions=(0, 4))
async def handle_add_offsets_to_txn(ctx: RequestContext, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse:
    from kafkapy.wire.messages.add_offsets_to_txn import AddOffsetsToTxnResponse

    code = await ctx.broker.txn_coordinator.add_partitions(
        request.transactional_id, request.producer_id, request.producer_epoch,
        [TopicPartition(GROUP_METADATA_TOPIC, ctx.broker.groups.partition_for(request.group_id))])
    return AddOffsetsToTxnResponse(error_code=for_version(code, fenced_since=2, abortable_since=4,
                                                          version=ctx.version))


@handles(ApiKey.TXN_OFFSET_COMMIT, versions=(0, 6))
async def handle_txn_offset_commit(ctx: RequestContext, request: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse:
    from kafkapy.broker.group_coordinator import CommitOffset
    from kafkapy.wire.messages.txn_offset_commit import (
        TxnOffsetCommitResponse as Response,
    )

    v = ctx.version
    image = ctx.broker.image
    # Answers by (topic key, partition): the key is the topic's name, its id from v6.
    codes: dict[tuple[str | bytes, int], ErrorCode] = {}
    key_of: dict[str, str | bytes] = {}  # topic name -> its key in the answer
    offsets = []
    for t in request.topics:
        key: str | bytes = t.topic_id if v >= 6 else t.name
        if v >= 6:
            topic = image.topics_by_id.get(t.topic_id)
            if topic is None:
                for p in t.partitions:
                    codes[(key, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_ID
                continue
            name = topic.name
        else:
            name = t.name
        key_of[name] = key
        for p in t.partitions:
            if image.partition(name, p.partition_index) is None:
                codes[(key, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                offsets.append(CommitOffset(name, p.partition_index, p.committed_offset, p.committed_leader_epoch,
                                            p.committed_metadata))
    if offsets:
        # Transaction version 2 (v5+): the offsets partition joins the transaction here;
        # before it, it must already be in it (verified). Through the id's coordinator
        # wherever it is (Kafka's CoordinatorPartitionWriter).
        operation = _txn_offset_commit_operation(v)
        offsets_tp = TopicPartition(GROUP_METADATA_TOPIC, ctx.broker.groups.partition_for(request.group_id))
        added = (await ctx.broker.txn_coordinator.add_or_verify(
            request.transactional_id, request.producer_id, request.producer_epoch, [offsets_tp],
            operation))[offsets_tp]
        if added != ErrorCode.NONE:
            error = _txn_offset_commit_error(added) if operation is TxnOperation.ADD_PARTITION else added
            for o in offsets:
                codes[(key_of[o.topic], o.partition)] = for_version(error, fenced_since=3, abortable_since=4,
                                                                    version=v)
            offsets = []
    if offsets:
        staged = await ctx.broker.groups.stage_txn_offsets(
            request.group_id, request.producer_id, request.producer_epoch, offsets,
            member_id=request.member_id, group_instance_id=request.group_instance_id,
            generation_id=request.generation_id_or_member_epoch, version=v)
        for o, code in zip(offsets, staged, strict=True):
            codes[(key_of[o.topic], o.partition)] = for_version(code, fenced_since=3, abortable_since=None, version=v)
    # v6: the ids the metadata does not know come first, as Kafka 4.4's answer lists them.
    topics = sorted(request.topics, key=lambda t: t.topic_id in image.topics_by_id) if v >= 6 else request.topics
    return Response(topics=[
        Response.TxnOffsetCommitResponseTopic(**({"topic_id": t.topic_id} if v >= 6 else {"name": t.name}), partitions=[
            Response.TxnOffsetCommitResponsePartition(
                partition_index=p.partition_index,
                error_code=codes[(t.topic_id if v >= 6 else t.name, p.partition_index)])
            for p in t.partitions])
        for t in topics])


def _txn_offset_commit_operation(version: int) -> TxnOperation:
    """Kafka's ``txnOffsetCommitRequestVersionToTransactionSupportedOperation``."""
    if version >= 5:
        return TxnOperation.ADD_PARTITION
    if version == 4:
        return TxnOperation.GENERIC_ERROR_SUPPORTED
    return TxnOperation.DEFAULT_ERROR


def _txn_offset_commit_error(code: ErrorCode) -> ErrorCode:
    """How TxnOffsetCommit v5 answers a failed add of the offsets partition: a
    transaction coordinator that is busy or away is an error the client retries."""
    if code in (ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR,
                ErrorCode.NETWORK_EXCEPTION):
        return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    return code


@handles(ApiKey.END_TXN, versions=(0, 5))
async def handle_end_txn(ctx: RequestContext, request: EndTxnRequest) -> EndTxnResponse:
    from kafkapy.wire.messages.end_txn import EndTxnResponse

    result = await ctx.broker.txn_coordinator.end_transaction(
        request.transactional_id, request.producer_id, request.producer_epoch, request.committed,
        client_txn_version=2 if ctx.version >= 5 else 0)
    return EndTxnResponse(error_code=for_version(result.error, fenced_since=2, abortable_since=None,
                                                 version=ctx.version),
                          producer_id=result.producer_id, producer_epoch=result.producer_epoch)


@handles(ApiKey.WRITE_TXN_MARKERS, versions=(1, 2))
async def handle_write_txn_markers(ctx: RequestContext, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse:
    return await write_txn_markers(ctx.broker, request)


@handles(ApiKey.DESCRIBE_TRANSACTIONS, versions=(0, 0))
def handle_describe_transactions(ctx: RequestContext, request: DescribeTransactionsRequest
                                 ) -> DescribeTransactionsResponse:
    from kafkapy.wire.messages.describe_transactions import (
        DescribeTransactionsResponse as Response,
    )

    states = []
    for transactional_id in request.transactional_ids:
        code, txn = ctx.broker.txn_coordinator.describe(transactional_id)
        state = Response.TransactionState(error_code=code, transactional_id=transactional_id)
        if txn is not None:
            by_topic: dict[str, list[int]] = {}
            for tp in sorted(txn.partitions):
                by_topic.setdefault(tp.topic, []).append(tp.partition)
            state.transaction_state = txn.state.kafka_name
            state.transaction_timeout_ms = txn.timeout_ms
            state.transaction_start_time_ms = txn.start_ms
            state.producer_id = txn.producer_id
            state.producer_epoch = txn.producer_epoch
            state.topics = [Response.TopicData(topic=topic, partitions=indexes) for topic, indexes in by_topic.items()]
        states.append(state)
    return Response(transaction_states=states)


@handles(ApiKey.LIST_TRANSACTIONS, versions=(0, 2))
def handle_list_transactions(ctx: RequestContext, request: ListTransactionsRequest) -> ListTransactionsResponse:
    from kafkapy.wire.messages.list_transactions import (
        ListTransactionsResponse as Response,
    )

    states = set()
    unknown = []
    for name in request.state_filters:
        state = TxnState.from_kafka_name(name)
        if state is None:
            unknown.append(name)
        else:
            states.add(state)
    pattern = None
    if request.transactional_id_pattern:
        try:
            pattern = re.compile(request.transactional_id_pattern)
        except re.error:
            return Response(error_code=ErrorCode.INVALID_REGULAR_EXPRESSION)
    txns = ctx.broker.txn_coordinator.list_transactions(states if request.state_filters else None,
                                                        set(request.producer_id_filters),
                                                        request.duration_filter, pattern)
    return Response(unknown_state_filters=unknown, transaction_states=[
        Response.TransactionState(transactional_id=t.transactional_id, producer_id=t.producer_id,
                                  transaction_state=t.state.kafka_name) for t in txns])
