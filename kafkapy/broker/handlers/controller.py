"""The controller listener: its handler table, and the APIs brokers send the controller.

BrokerRegistration (key 62) v0-4, BrokerHeartbeat (key 63) v0-2, AllocateProducerIds
(key 67) v0, AlterPartition (key 56) v2-3, AssignReplicasToDirs (key 73) v0 (KIP-858,
``directory_assignment``): served only on the controller listener, as Kafka's ``ControllerApis``
serves them. Each runs the controller operation of the local metadata service when
this node is the active controller; otherwise the answer is NOT_CONTROLLER and the
broker retries with the controller it learns of.

The controller listener's table (:func:`controller_handlers`) is every registered API
whose Kafka schema lists the controller listener (ApiVersions, CreateTopics, ...,
DescribeQuorum) plus the controller-only handlers registered here with
:func:`controller_only` (these and the KRaft RPCs of ``raft.py``); its Fetch is the
``__cluster_metadata`` fetch of the quorum. The broker listener never sees them.

Version notes:
    BrokerRegistration v2+: log dirs; v3+: previous broker epoch; v4: no ZooKeeper
    migration flag. The response has no error message field.
    BrokerHeartbeat v1+: ``offline_log_dirs`` (KIP-858): the controller moves the
    replicas of a failed directory out of their ISRs and leaderships. v2 (Kafka 4.3+):
    ``cordoned_log_dirs`` (KIP-1066); not implemented: kafkapy's controller does not
    record a Kafka broker's cordoned directories (it never writes the 4.3-IV0 record
    versions that carry them), so it may still place new replicas on them.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.controller_channel import (
    alter_partition_from_wire,
    alter_partition_reply_to_wire,
    heartbeat_from_wire,
    heartbeat_reply_to_wire,
    producer_ids_to_wire,
    registration_from_wire,
    registration_reply_to_wire,
)
from kafkapy.broker.registry import Handler, load_handlers
from kafkapy.kraft.metadata.cluster_control import (
    BrokerHeartbeatReply,
    BrokerRegistrationReply,
)
from kafkapy.kraft.metadata.controller import ProducerIdsBlock
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.results import ApiError
from kafkapy.wire.apis import ApiKey, api_info
from kafkapy.wire.error_codes import ErrorCode

#: Handlers served on the controller listener only (KRaft RPCs, broker-to-controller APIs).
CONTROLLER_ONLY: dict[int, Handler] = {}

_NOT_CONTROLLER = ApiError(ErrorCode.NOT_CONTROLLER)


def controller_only(api_key: int, *, versions: tuple[int, int]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function for ``api_key`` on the controller listener only."""
    lo, hi = versions

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if int(api_key) in CONTROLLER_ONLY:
            raise ValueError(f"API key {api_key} already has a controller handler")
        CONTROLLER_ONLY[int(api_key)] = Handler(int(api_key), lo, hi, fn, inspect.iscoroutinefunction(fn), lo)
        return fn

    return register


def controller_handlers() -> dict[int, Handler]:
    """The controller listener's handler table (what its ApiVersions advertises)."""
    for module in ("controller_registration", "envelope", "raft"):  # they register on import
        importlib.import_module(f"kafkapy.broker.handlers.{module}")
    table = {}
    for key, handler in load_handlers().items():
        info = api_info(key)
        if info is not None and "controller" in info.listeners:
            table[key] = handler
    table.update(CONTROLLER_ONLY)
    return table


@controller_only(ApiKey.BROKER_REGISTRATION, versions=(0, 4))
async def handle_broker_registration(ctx: RequestContext, request: Any) -> Any:
    try:
        reply = await ctx.broker.metadata.register_broker(registration_from_wire(request))
    except NotControllerError:
        reply = BrokerRegistrationReply(_NOT_CONTROLLER)
    return registration_reply_to_wire(reply)


@controller_only(ApiKey.BROKER_HEARTBEAT, versions=(0, 2))
async def handle_broker_heartbeat(ctx: RequestContext, request: Any) -> Any:
    try:
        reply = await ctx.broker.metadata.broker_heartbeat(heartbeat_from_wire(request))
    except NotControllerError:
        reply = BrokerHeartbeatReply(_NOT_CONTROLLER)
    return heartbeat_reply_to_wire(reply)


@controller_only(ApiKey.ALLOCATE_PRODUCER_IDS, versions=(0, 0))
async def handle_allocate_producer_ids(ctx: RequestContext, request: Any) -> Any:
    try:
        block = await ctx.broker.metadata.allocate_producer_ids(request.broker_id, request.broker_epoch)
    except NotControllerError:
        block = ProducerIdsBlock(_NOT_CONTROLLER)
    return producer_ids_to_wire(block)


@controller_only(ApiKey.ASSIGN_REPLICAS_TO_DIRS, versions=(0, 0))
async def handle_assign_replicas_to_dirs(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.kraft.metadata.directory_assignment import AssignReplicasToDirsReply
    from kafkapy.wire.messages.assign_replicas_to_dirs import AssignReplicasToDirsResponse as R

    assignments = [(bytes(d.id), [(bytes(t.topic_id), [p.partition_index for p in t.partitions]) for t in d.topics])
                   for d in request.directories]
    try:
        reply = await ctx.broker.metadata.assign_replicas_to_dirs(request.broker_id, request.broker_epoch, assignments)
    except NotControllerError:
        reply = AssignReplicasToDirsReply(_NOT_CONTROLLER)
    return R(error_code=reply.error.code, directories=[R.DirectoryData(id=dir_id, topics=[
        R.TopicData(topic_id=topic_id, partitions=[R.PartitionData(partition_index=i, error_code=code) for i, code in parts])
        for topic_id, parts in topics]) for dir_id, topics in reply.directories or ()])


@controller_only(ApiKey.ALTER_PARTITION, versions=(2, 3))
async def handle_alter_partition(ctx: RequestContext, request: Any) -> Any:
    broker_id, broker_epoch, topics = alter_partition_from_wire(request, ctx.version)
    try:
        error, results = await ctx.broker.metadata.alter_partition(broker_id, broker_epoch, topics)
    except NotControllerError:
        error, results = _NOT_CONTROLLER, []
    return alter_partition_reply_to_wire(error, results)
