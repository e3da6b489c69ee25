"""ElectLeaders (key 43) v0-2: preferred and unclean leader elections on request.

Served on the controller listener and forwarded by brokers to the active controller
(``FORWARDED_APIS``), as Kafka 4.x's ``ControllerApis.handleElectLeaders``; the
controller decides in ``kraft/metadata/elections.py`` (Kafka's
``ReplicationControlManager.electLeaders``) and answers once the records are
committed. Kafka's ``kafka-leader-election`` tool and the Admin clients'
``electLeaders`` use it.

Version notes:
    v0 has no election type (PREFERRED) and no request-level error code; v1 adds both;
    v2 is the flexible encoding.
    ``topic_partitions`` null elects every partition and leaves out of the answer
    those that need no election.
    A request the controller refuses as a whole (an unknown election type,
    NOT_CONTROLLER) is answered as Kafka's ``ElectLeadersRequest.getErrorResponse``:
    the code at the top and on every partition asked for.
Not implemented: ``timeout_ms`` (the answer waits for the commit only, not for the
new leaders to be known on every broker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.elect_leaders import (
        ElectLeadersRequest,
        ElectLeadersResponse,
    )


@handles(ApiKey.ELECT_LEADERS, versions=(0, 2))
async def handle_elect_leaders(ctx: RequestContext, request: ElectLeadersRequest) -> ElectLeadersResponse:
    from kafkapy.wire.messages.elect_leaders import ElectLeadersResponse

    Topic, Partition = ElectLeadersResponse.ReplicaElectionResult, ElectLeadersResponse.PartitionResult
    asked = (None if request.topic_partitions is None
             else [(t.topic, list(t.partitions)) for t in request.topic_partitions])
    election_type = request.election_type if ctx.version >= 1 else 0
    try:
        reply = await ctx.broker.metadata.elect_leaders(election_type, asked)
    except NotControllerError as exc:
        return _refused(request, ErrorCode.NOT_CONTROLLER, str(exc))
    if reply.error.code != ErrorCode.NONE:
        return _refused(request, reply.error.code, reply.error.message)
    return ElectLeadersResponse(replica_election_results=[
        Topic(topic=r.topic, partition_result=[
            Partition(partition_id=index, error_code=error.code, error_message=error.message)
            for index, error in r.partitions])
        for r in reply.results
    ])


def _refused(request: ElectLeadersRequest, code: ErrorCode, message: str | None) -> ElectLeadersResponse:
    from kafkapy.wire.messages.elect_leaders import ElectLeadersResponse

    Topic, Partition = ElectLeadersResponse.ReplicaElectionResult, ElectLeadersResponse.PartitionResult
    return ElectLeadersResponse(error_code=code, replica_election_results=[
        Topic(topic=t.topic, partition_result=[
            Partition(partition_id=p, error_code=code, error_message=message) for p in t.partitions])
        for t in request.topic_partitions or ()
    ])
