"""The KRaft RPCs, answered by this node's Raft driver (KIP-595, KIP-630, KIP-853).

Vote (key 52) v0-2, BeginQuorumEpoch (53) v0-1, EndQuorumEpoch (54) v0-1,
FetchSnapshot (59) v0-1, UpdateRaftVoter (82) v0 and Fetch (1) v4-18 of
``__cluster_metadata``: controller listener only. DescribeQuorum (55) v0-2,
AddRaftVoter (80) v0-1 and RemoveRaftVoter (81) v0: both listeners; a broker that does
not lead the quorum forwards them to the leader (``controller_channel``), as Kafka
does, and the leader answers.

Each request goes through ``ctx.broker.quorum`` (the node's
:class:`~kafkapy.kraft.raft.network.KafkaRaftTransport`), which translates it, steps
the driver and waits for its answer. A request the quorum cannot read (not exactly one
``__cluster_metadata`` partition, or a Fetch of another topic on the controller
listener) closes the connection, as does one the node never answers (the requester
has timed out); a DescribeQuorum of another partition is answered
UNKNOWN_TOPIC_OR_PARTITION, as Kafka answers it.

Version notes:
    AddRaftVoter v1 (Kafka 4.4, KIP-853's auto-join): ``AckWhenCommitted`` false
    answers once the leader has appended the new VotersRecord, before it commits
    (``AddVoterHandler``); v0 always waits for the commit.
    Fetch v18 (KIP-1166): the fetching replica's high watermark; a newer one on the
    leader answers the fetch at once instead of parking it.
"""

from __future__ import annotations

from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.errors import CloseConnection
from kafkapy.broker.handlers.controller import controller_only
from kafkapy.broker.registry import handles
from kafkapy.kraft.raft.errors import RaftError
from kafkapy.kraft.raft.wire_translation import describe_quorum_error, is_metadata_fetch
from kafkapy.wire.apis import ApiKey


async def _answer(ctx: RequestContext, request: Any) -> Any:
    quorum = ctx.broker.quorum
    if quorum is None:
        raise CloseConnection("this node runs no metadata quorum")
    try:
        response = await quorum.handle(request)
    except RaftError as exc:
        raise CloseConnection(f"{type(request).__name__}: {exc}") from None
    if response is None:
        raise CloseConnection(f"{type(request).__name__}: no answer in time")
    return response


@controller_only(ApiKey.FETCH, versions=(4, 18))
async def handle_metadata_fetch(ctx: RequestContext, request: Any) -> Any:
    if not is_metadata_fetch(request):
        raise CloseConnection("the controller listener serves Fetch of __cluster_metadata only")
    return await _answer(ctx, request)


@handles(ApiKey.DESCRIBE_QUORUM, versions=(0, 2))
async def handle_describe_quorum(ctx: RequestContext, request: Any) -> Any:
    return describe_quorum_error(request) or await _answer(ctx, request)


controller_only(ApiKey.VOTE, versions=(0, 2))(_answer)
controller_only(ApiKey.BEGIN_QUORUM_EPOCH, versions=(0, 1))(_answer)
controller_only(ApiKey.END_QUORUM_EPOCH, versions=(0, 1))(_answer)
controller_only(ApiKey.FETCH_SNAPSHOT, versions=(0, 1))(_answer)
controller_only(ApiKey.UPDATE_RAFT_VOTER, versions=(0, 0))(_answer)
handles(ApiKey.ADD_RAFT_VOTER, versions=(0, 1))(_answer)
handles(ApiKey.REMOVE_RAFT_VOTER, versions=(0, 0))(_answer)
