"""DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31), v1-3 as Kafka 4.1
serves them (v0 removed by KIP-896): ``kafka-acls --add / --list / --remove``.

Create and Delete are controller operations (:mod:`kafkapy.kraft.metadata.acl_control`),
answered once their records are committed; a broker that is not the active controller
forwards them (``FORWARDED_APIS``), as Kafka 4 does (``ControllerApis.handleCreateAcls``).
Describe is answered by the broker from its metadata image, as ``AclApis`` answers it
from the authorizer's cache. Without an authorizer all three answer SECURITY_DISABLED,
as Kafka does. Authorization (CLUSTER ALTER / DESCRIBE) happens before the handler
(:mod:`kafkapy.broker.request_authorization`).

``AclApis.handleCreateAcls`` checks first, on the broker: a CLUSTER resource must be
named ``kafka-cluster`` and a resource name must not be empty (INVALID_REQUEST).
DescribeAcls groups the matching ACLs by resource pattern
(``DescribeAclsResponse.aclsResources``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.acl_control import describe_acls
from kafkapy.kraft.metadata.acls import (
    CLUSTER_NAME,
    AclFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
    StandardAcl,
)
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.create_acls import CreateAclsRequest, CreateAclsResponse
    from kafkapy.wire.messages.delete_acls import DeleteAclsRequest, DeleteAclsResponse
    from kafkapy.wire.messages.describe_acls import DescribeAclsRequest, DescribeAclsResponse

_NO_AUTHORIZER = "No Authorizer is configured on the broker"


def _filter(f: Any) -> AclFilter:
    """A DescribeAcls request or a DeleteAcls filter as an ``AclBindingFilter``."""
    return AclFilter(f.resource_type_filter, f.resource_name_filter, f.pattern_type_filter,
                     f.principal_filter, f.host_filter, f.operation, f.permission_type)


@handles(ApiKey.DESCRIBE_ACLS, versions=(1, 3))
def handle_describe_acls(ctx: RequestContext, request: DescribeAclsRequest) -> DescribeAclsResponse:
    from kafkapy.wire.messages.describe_acls import DescribeAclsResponse as R

    if ctx.broker.authorizer is None:
        return R(error_code=ErrorCode.SECURITY_DISABLED, error_message=_NO_AUTHORIZER)
    by_pattern: dict[tuple[int, str, int], list[StandardAcl]] = {}
    for acl in describe_acls(ctx.broker.image, _filter(request)):
        by_pattern.setdefault((acl.resource_type, acl.resource_name, acl.pattern_type), []).append(acl)
    return R(error_code=ErrorCode.NONE, error_message="", resources=[
        R.DescribeAclsResource(resource_type=rt, resource_name=name, pattern_type=pt, acls=[
            R.AclDescription(principal=a.principal, host=a.host, operation=a.operation,
                             permission_type=a.permission_type) for a in acls])
        for (rt, name, pt), acls in by_pattern.items()])


def _is_binding(acl: StandardAcl) -> bool:
    """Whether Kafka can build an ``AclBinding`` of it: no ANY resource type, ANY or
    MATCH pattern type, ANY operation or ANY permission (those are filter values)."""
    return (acl.resource_type != ResourceType.ANY and acl.pattern_type not in (PatternType.ANY, PatternType.MATCH)
            and acl.operation != AclOperation.ANY and acl.permission_type != AclPermissionType.ANY)


def _precheck(acl: StandardAcl) -> ApiError:
    """``AclApis.handleCreateAcls``'s checks before the controller's."""
    if acl.resource_type == ResourceType.CLUSTER and acl.resource_name != CLUSTER_NAME:
        return ApiError(ErrorCode.INVALID_REQUEST, f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}")
    if not acl.resource_name:
        return ApiError(ErrorCode.INVALID_REQUEST, "Invalid empty resource name")
    return NO_ERROR


@handles(ApiKey.CREATE_ACLS, versions=(1, 3))
async def handle_create_acls(ctx: RequestContext, request: CreateAclsRequest) -> CreateAclsResponse:
    from kafkapy.wire.messages.create_acls import CreateAclsResponse as R

    if ctx.broker.authorizer is None:
        return R(results=[R.AclCreationResult(error_code=ErrorCode.SECURITY_DISABLED,
                                              error_message="No Authorizer is configured.")
                          for _ in request.creations])
    acls = [StandardAcl(c.resource_type, c.resource_name, c.resource_pattern_type, c.principal, c.host,
                        c.operation, c.permission_type) for c in request.creations]
    if any(not _is_binding(a) for a in acls):
        # CreateAclsRequest.aclBinding: ResourcePattern and AccessControlEntry refuse
        # ANY/MATCH (IllegalArgumentException), which fails the whole request as
        # UNKNOWN_SERVER_ERROR without a message.
        return R(results=[R.AclCreationResult(error_code=ErrorCode.UNKNOWN_SERVER_ERROR, error_message=None)
                          for _ in request.creations])
    errors: list[ApiError | None] = [e if (e := _precheck(a)) is not NO_ERROR else None for a in acls]
    valid = [a for a, e in zip(acls, errors, strict=True) if e is None]
    try:
        created = iter(await ctx.broker.metadata.create_acls(valid) if valid else [])
    except NotControllerError as exc:
        error = ApiError(ErrorCode.NOT_CONTROLLER, str(exc) or None)
        created = iter([error] * len(valid))
    results = [e if e is not None else next(created) for e in errors]
    # a success carries an empty message, as the controller's answer does
    return R(results=[R.AclCreationResult(error_code=r.code, error_message=r.message if r.code else "")
                      for r in results])


@handles(ApiKey.DELETE_ACLS, versions=(1, 3))
async def handle_delete_acls(ctx: RequestContext, request: DeleteAclsRequest) -> DeleteAclsResponse:
    from kafkapy.wire.messages.delete_acls import DeleteAclsResponse as R

    if ctx.broker.authorizer is None:
        return R(filter_results=[R.DeleteAclsFilterResult(error_code=ErrorCode.SECURITY_DISABLED,
                                                          error_message="No Authorizer is configured.")
                                 for _ in request.filters])
    try:
        results = await ctx.broker.metadata.delete_acls([_filter(f) for f in request.filters])
    except NotControllerError as exc:
        return R(filter_results=[R.DeleteAclsFilterResult(error_code=ErrorCode.NOT_CONTROLLER,
                                                          error_message=str(exc) or None)
                                 for _ in request.filters])
    return R(filter_results=[R.DeleteAclsFilterResult(
        error_code=r.error.code, error_message=r.error.message, matching_acls=[
            R.DeleteAclsMatchingAcl(error_code=ErrorCode.NONE, error_message=None, resource_type=a.resource_type,
                                    resource_name=a.resource_name, pattern_type=a.pattern_type,
                                    principal=a.principal, host=a.host, operation=a.operation,
                                    permission_type=a.permission_type)
            for a in r.deleted]) for r in results])
