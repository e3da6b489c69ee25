"""The group protocols and group admin, answered by the group coordinator.

JoinGroup (key 11) v0-9, SyncGroup (key 14) v0-5, Heartbeat (key 12) v0-4,
LeaveGroup (key 13) v0-5, DescribeGroups (key 15) v0-6, ListGroups (key 16) v0-5,
DeleteGroups (key 42) v0-3, ConsumerGroupHeartbeat (key 68) v0-1,
ConsumerGroupDescribe (key 69) v0-1. The logic is
:mod:`kafkapy.broker.group_coordinator`'s (KIP-848 consumer groups:
:mod:`kafkapy.broker.groups.consumer_coordinator`); these functions translate versions.

Version notes:
    JoinGroup v1+ rebalance timeout (v0: the session timeout); v4+ a first join of a
    dynamic member is answered MEMBER_ID_REQUIRED (KIP-394); v5+ group instance id
    (KIP-345); v6+ flexible; v7+ protocol type in the answer; v8+ reason; v9+
    skip_assignment for a static leader rejoining a stable group (KIP-814).
    JoinGroup v0-1 are served for older librdkafka's feature detection (KAFKA-19444).
    SyncGroup v3+ group instance id; v5+ protocol type and name, checked against the
    group's (INCONSISTENT_GROUP_PROTOCOL).
    LeaveGroup v0-2 one member id; v3+ a batch of members by id or instance id; v5 reason.
    DescribeGroups v3+ authorized operations; v4+ instance ids; v6 GROUP_ID_NOT_FOUND
    for unknown groups (before: state Dead, no error).
    ListGroups v4+ state filter (KIP-518), v5+ type filter (KIP-848: "classic" or
    "consumer"; KIP-932: "share", listed from :mod:`kafkapy.broker.share`).
    DeleteGroups deletes an empty share group and its share-partition state. v3 adds a
        per-group ErrorMessage, which Kafka 4.4 leaves null (GROUP_ID_NOT_FOUND and
        NON_EMPTY_GROUP included), as here.
    DescribeGroups answers GROUP_ID_NOT_FOUND for a KIP-848 consumer group, and
    ConsumerGroupDescribe for a classic one, as Kafka does (admin clients try one,
    then the other).
    ConsumerGroupHeartbeat v1 (KIP-1082): the client generates its member id (v0: the
    coordinator does) and may subscribe with a regex.
    ConsumerGroupDescribe v1: member type (KIP-1099; always "consumer" here).
Not implemented: authorization, classic members of consumer groups.
"""

from __future__ import annotations

from kafkapy.broker.authorization import ResourceType, authorized_operations
from kafkapy.broker.context import RequestContext
from kafkapy.broker.groups.classic_group import protocols_of
from kafkapy.broker.registry import handles
from kafkapy.broker.share.service import SHARE_GROUP_TYPE
from kafkapy.broker.streams.service import STREAMS_GROUP_TYPE
from kafkapy.kraft.metadata.features import GROUP_VERSION
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.consumer_group_describe import (
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
)
from kafkapy.wire.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)
from kafkapy.wire.messages.delete_groups import (
    DeleteGroupsRequest,
    DeleteGroupsResponse,
)
from kafkapy.wire.messages.describe_groups import (
    DescribeGroupsRequest,
    DescribeGroupsResponse,
)
from kafkapy.wire.messages.heartbeat import HeartbeatRequest, HeartbeatResponse
from kafkapy.wire.messages.join_group import JoinGroupRequest, JoinGroupResponse
from kafkapy.wire.messages.leave_group import LeaveGroupRequest, LeaveGroupResponse
from kafkapy.wire.messages.list_groups import ListGroupsRequest, ListGroupsResponse
from kafkapy.wire.messages.sync_group import SyncGroupRequest, SyncGroupResponse

#: "Not requested": the authorized-operations default in the schema.
_OPS_NOT_REQUESTED = -(2**31)
#: The group's authorized operations come from ``authorization.authorized_operations``
#: (without an authorizer, every operation a group supports: READ, DELETE, DESCRIBE).


def client_host(ctx: RequestContext) -> str:
    """The member's host as Kafka shows it (``InetAddress.toString``: ``/127.0.0.1``)."""
    return "/" + str(ctx.conn.peer[0])


@handles(ApiKey.JOIN_GROUP, versions=(0, 9))
async def handle_join_group(ctx: RequestContext, request: JoinGroupRequest) -> JoinGroupResponse:
    v = ctx.version
    instance_id = request.group_instance_id if v >= 5 else None
    response = await ctx.broker.groups.join_group(
        group_id=request.group_id,
        member_id=request.member_id,
        group_instance_id=instance_id,
        protocol_type=request.protocol_type,
        protocols=protocols_of(request.protocols),
        session_timeout_ms=request.session_timeout_ms,
        rebalance_timeout_ms=request.rebalance_timeout_ms if v >= 1 else request.session_timeout_ms,
        client_id=ctx.client_id,
        client_host=client_host(ctx),
        require_known_member_id=v >= 4 and instance_id is None,
        supports_skip_assignment=v >= 9,
    )
    if v < 7 and response.protocol_name is None:
        response.protocol_name = ""
    return response


@handles(ApiKey.SYNC_GROUP, versions=(0, 5))
async def handle_sync_group(ctx: RequestContext, request: SyncGroupRequest) -> SyncGroupResponse:
    v = ctx.version
    response = await ctx.broker.groups.sync_group(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=request.group_instance_id if v >= 3 else None,
        protocol_type=request.protocol_type if v >= 5 else None,
        protocol_name=request.protocol_name if v >= 5 else None,
        assignments={a.member_id: bytes(a.assignment) for a in request.assignments},
    )
    if response.assignment is None:
        response.assignment = b""
    return response


@handles(ApiKey.HEARTBEAT, versions=(0, 4))
def handle_heartbeat(ctx: RequestContext, request: HeartbeatRequest) -> HeartbeatResponse:
    return HeartbeatResponse(error_code=ctx.broker.groups.heartbeat(
        group_id=request.group_id,
        generation_id=request.generation_id,
        member_id=request.member_id,
        group_instance_id=request.group_instance_id if ctx.version >= 3 else None,
    ))


@handles(ApiKey.LEAVE_GROUP, versions=(0, 5))
async def handle_leave_group(ctx: RequestContext, request: LeaveGroupRequest) -> LeaveGroupResponse:
    groups = ctx.broker.groups
    if ctx.version < 3:
        error, results = groups.leave_group(request.group_id, [(request.member_id, None)])
        await groups.wait_written(request.group_id)
        return LeaveGroupResponse(error_code=error if error != ErrorCode.NONE else results[0])
    members = [(m.member_id, m.group_instance_id) for m in request.members]
    error, results = groups.leave_group(request.group_id, members)
    await groups.wait_written(request.group_id)
    if error != ErrorCode.NONE:
        return LeaveGroupResponse(error_code=error)
    return LeaveGroupResponse(members=[
        LeaveGroupResponse.MemberResponse(member_id=member_id, group_instance_id=instance_id, error_code=code)
        for (member_id, instance_id), code in zip(members, results, strict=True)
    ])


@handles(ApiKey.DESCRIBE_GROUPS, versions=(0, 6))
def handle_describe_groups(ctx: RequestContext, request: DescribeGroupsRequest) -> DescribeGroupsResponse:
    with_ops = ctx.version >= 3 and request.include_authorized_operations
    groups = []
    for group_id in request.groups:
        described = ctx.broker.groups.describe_group(group_id)
        if ctx.broker.streams.find_group(group_id) is not None:
            # A streams group (KIP-1071) is not a classic group: Dead, as Kafka answers.
            described = DescribeGroupsResponse.DescribedGroup(
                error_code=ErrorCode.GROUP_ID_NOT_FOUND, group_id=group_id, group_state="Dead", protocol_type="",
                protocol_data="", error_message=f"Group {group_id} is not a classic group.")
        if described.error_code == ErrorCode.GROUP_ID_NOT_FOUND:
            if ctx.version >= 6:
                described.error_message = described.error_message or f"Group {group_id} not found."
            else:
                described.error_code = ErrorCode.NONE
        described.authorized_operations = (authorized_operations(ctx, ResourceType.GROUP, group_id) if with_ops
                                           else _OPS_NOT_REQUESTED)
        groups.append(described)
    return DescribeGroupsResponse(groups=groups)


@handles(ApiKey.LIST_GROUPS, versions=(0, 5))
def handle_list_groups(ctx: RequestContext, request: ListGroupsRequest) -> ListGroupsResponse:
    states = request.states_filter if ctx.version >= 4 else []
    types = request.types_filter if ctx.version >= 5 else []
    listed = [ListGroupsResponse.ListedGroup(group_id=g.group_id, protocol_type=g.protocol_type, group_state=g.state,
                                             group_type=g.group_type)
              for g in ctx.broker.groups.list_groups(states, types)]
    # Share groups (KIP-932) live on the share-group shards of the coordinator runtime.
    listed += [ListGroupsResponse.ListedGroup(group_id=group_id, protocol_type=SHARE_GROUP_TYPE, group_state=state,
                                              group_type=SHARE_GROUP_TYPE)
               for group_id, state in ctx.broker.share.list_groups(states, types)]
    # Streams groups (KIP-1071) too; a streams group's committed offsets make the group
    # coordinator hold an offsets-only group of the same id: listed once, as streams.
    listed = [g for g in listed if ctx.broker.streams.find_group(g.group_id) is None]
    listed += [ListGroupsResponse.ListedGroup(group_id=group_id, protocol_type=STREAMS_GROUP_TYPE, group_state=state,
                                              group_type=STREAMS_GROUP_TYPE)
               for group_id, state in ctx.broker.streams.list_groups(states, types)]
    return ListGroupsResponse(error_code=ErrorCode.NONE, groups=listed)


@handles(ApiKey.DELETE_GROUPS, versions=(0, 3))
async def handle_delete_groups(ctx: RequestContext, request: DeleteGroupsRequest) -> DeleteGroupsResponse:
    names = list(request.groups_names)
    # A streams group (KIP-1071) loses its records first, then its committed offsets,
    # which the group coordinator keeps; a non-empty one keeps both (NON_EMPTY_GROUP).
    streams_errors: dict[str, ErrorCode] = {}
    for name in names:
        if ctx.broker.streams.find_group(name) is not None:
            streams_errors[name] = await ctx.broker.streams.delete_group(name)
    errors = await ctx.broker.groups.delete_groups([n for n in names if streams_errors.get(n, ErrorCode.NONE)
                                                    == ErrorCode.NONE])
    if streams_errors:
        by_name = dict(zip([n for n in names if streams_errors.get(n, ErrorCode.NONE) == ErrorCode.NONE], errors,
                           strict=True))
        errors = [streams_errors[n] if streams_errors.get(n, ErrorCode.NONE) != ErrorCode.NONE
                  else ErrorCode.NONE if n in streams_errors and by_name[n] == ErrorCode.GROUP_ID_NOT_FOUND
                  else by_name[n] for n in names]
    for i, name in enumerate(names):
        if errors[i] == ErrorCode.GROUP_ID_NOT_FOUND and ctx.broker.share.find_group(name) is not None:
            errors[i] = await ctx.broker.share.delete_group(name)
    return DeleteGroupsResponse(results=[
        DeleteGroupsResponse.DeletableGroupResult(group_id=name, error_code=code) for name, code in zip(names, errors, strict=True)
    ])


@handles(ApiKey.CONSUMER_GROUP_HEARTBEAT, versions=(0, 1))
async def handle_consumer_group_heartbeat(ctx: RequestContext,
                                          request: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse:
    if ctx.broker.image.features.get(GROUP_VERSION, 0) < 1:  # the consumer protocol is off (KIP-848)
        return ConsumerGroupHeartbeatResponse(error_code=ErrorCode.UNSUPPORTED_VERSION,
                                              error_message=ErrorCode.UNSUPPORTED_VERSION.message)
    return await ctx.broker.groups.consumer.heartbeat(request, version=ctx.version, client_id=ctx.client_id,
                                                      client_host=client_host(ctx))


@handles(ApiKey.CONSUMER_GROUP_DESCRIBE, versions=(0, 1))
def handle_consumer_group_describe(ctx: RequestContext,
                                   request: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse:
    groups = []
    for group_id in request.group_ids:
        described = ctx.broker.groups.consumer.describe(group_id)
        described.authorized_operations = (authorized_operations(ctx, ResourceType.GROUP, group_id)
                                           if request.include_authorized_operations else _OPS_NOT_REQUESTED)
        groups.append(described)
    return ConsumerGroupDescribeResponse(groups=groups)
