"""AlterPartitionReassignments (key 45) v0-1 and ListPartitionReassignments (key 46) v0.

Served on the controller listener and forwarded by brokers to the active controller
(``FORWARDED_APIS``), as Kafka 4.x's ``ControllerApis`` does; the controller's rules are
in ``kraft/metadata/reassignments.py`` (KIP-455). Kafka's ``kafka-reassign-partitions``
(``--execute``, ``--verify``, ``--list``, ``--cancel``) and the Admin clients'
``alterPartitionReassignments`` / ``listPartitionReassignments`` use them.

Version notes:
    AlterPartitionReassignments v1 (KIP-860): ``allow_replication_factor_change``
    false refuses a target of another size with INVALID_REPLICATION_FACTOR; the answer
    echoes the flag. An empty request is answered at once, as ``QuorumController`` does.
    The request-level error is used only for a refusal of the whole request
    (NOT_CONTROLLER), with the code repeated on every partition
    (``AlterPartitionReassignmentsRequest.getErrorResponse``).
    ListPartitionReassignments answers from this node's metadata image (Kafka answers
    it with a read of the controller's state); null topics list every reassignment.
Not implemented: ``timeout_ms`` (the answer waits for the commit only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.reassignments import PartitionReassignment
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.alter_partition_reassignments import (
        AlterPartitionReassignmentsRequest,
        AlterPartitionReassignmentsResponse,
    )
    from kafkapy.wire.messages.list_partition_reassignments import (
        ListPartitionReassignmentsRequest,
        ListPartitionReassignmentsResponse,
    )


@handles(ApiKey.ALTER_PARTITION_REASSIGNMENTS, versions=(0, 1))
async def handle_alter_partition_reassignments(
        ctx: RequestContext, request: AlterPartitionReassignmentsRequest) -> AlterPartitionReassignmentsResponse:
    from kafkapy.wire.messages.alter_partition_reassignments import AlterPartitionReassignmentsResponse as Response

    Topic, Partition = Response.ReassignableTopicResponse, Response.ReassignablePartitionResponse
    allow = request.allow_replication_factor_change if ctx.version >= 1 else True
    if not request.topics:
        return Response(allow_replication_factor_change=allow)
    topics = [(t.name, [PartitionReassignment(p.partition_index, None if p.replicas is None else list(p.replicas))
                        for p in t.partitions])
              for t in request.topics]
    try:
        results = await ctx.broker.metadata.alter_partition_reassignments(
            topics, allow_replication_factor_change=allow)
    except NotControllerError as exc:
        return Response(allow_replication_factor_change=allow, error_code=ErrorCode.NOT_CONTROLLER,
                        error_message=str(exc), responses=[
                            Topic(name=t.name, partitions=[
                                Partition(partition_index=p.partition_index, error_code=ErrorCode.NOT_CONTROLLER,
                                          error_message=str(exc)) for p in t.partitions])
                            for t in request.topics])
    return Response(allow_replication_factor_change=allow, error_message=None, responses=[
        Topic(name=r.name, partitions=[
            Partition(partition_index=index, error_code=error.code, error_message=error.message)
            for index, error in r.partitions])
        for r in results
    ])


@handles(ApiKey.LIST_PARTITION_REASSIGNMENTS, versions=(0, 0))
def handle_list_partition_reassignments(
        ctx: RequestContext, request: ListPartitionReassignmentsRequest) -> ListPartitionReassignmentsResponse:
    from kafkapy.wire.messages.list_partition_reassignments import ListPartitionReassignmentsResponse as Response

    Topic, Partition = Response.OngoingTopicReassignment, Response.OngoingPartitionReassignment
    if request.topics is not None and not request.topics:
        return Response(error_message=None)
    asked = None if request.topics is None else [(t.name, list(t.partition_indexes)) for t in request.topics]
    listed = ctx.broker.metadata.list_partition_reassignments(asked)
    return Response(error_message=None, topics=[
        Topic(name=name, partitions=[
            Partition(partition_index=o.partition_index, replicas=list(o.replicas),
                      adding_replicas=list(o.adding_replicas), removing_replicas=list(o.removing_replicas))
            for o in ongoing])
        for name, ongoing in listed
    ])
