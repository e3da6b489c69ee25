"""ACLs in the metadata log (KIP-801; Kafka's ``AclControlManager``).

CreateAcls writes one AccessControlEntryRecord per new binding, with a fresh random id;
a binding that already exists succeeds and writes nothing. DeleteAcls writes one
RemoveAccessControlEntryRecord per ACL any filter matches (an ACL two filters match is
removed once and listed in both answers). Validation and messages are Kafka's
(``validateNewAcl``, ``validateFilter``): INVALID_REQUEST for an UNKNOWN or ANY resource
type or operation, a pattern type other than LITERAL/PREFIXED, a permission other than
ALLOW/DENY, an empty name or host; a CIDR block as host needs metadata.version
4.4-IV1 (UNSUPPORTED_VERSION below it) and Kafka's notation (:mod:`cidr`); and for a
filter with an UNKNOWN code. Pure functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

from kafkapy.kraft.metadata.acls import (
    AclFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
    StandardAcl,
)
from kafkapy.kraft.metadata.cidr import cidr_error
from kafkapy.kraft.metadata.features import METADATA_VERSION, METADATA_VERSION_4_4_IV1
from kafkapy.kraft.metadata.image import MetadataImage, Uuid
from kafkapy.kraft.metadata.records import AccessControlEntryRecord, RemoveAccessControlEntryRecord
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.wire.error_codes import ErrorCode

#: ``QuorumController.MAX_RECORDS_PER_USER_OP``.
MAX_RECORDS_PER_USER_OP = 10_000


class AclDeleteResult(NamedTuple):
    """One filter's answer: an error, or the ACLs it removed."""

    error: ApiError = NO_ERROR
    deleted: tuple[StandardAcl, ...] = ()


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_REQUEST, message)


def validate_new_acl(acl: StandardAcl, cidr_supported: bool) -> ApiError:
    """``AclControlManager.validateNewAcl``; ``cidr_supported`` from metadata.version 4.4-IV1."""
    if acl.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY) or not _known(ResourceType, acl.resource_type):
        return _invalid(f"Invalid resourceType {_name(ResourceType, acl.resource_type)}")
    if acl.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        return _invalid(f"Invalid patternType {_name(PatternType, acl.pattern_type)}")
    if acl.operation in (AclOperation.UNKNOWN, AclOperation.ANY) or not _known(AclOperation, acl.operation):
        return _invalid(f"Invalid operation {_name(AclOperation, acl.operation)}")
    if acl.permission_type not in (AclPermissionType.DENY, AclPermissionType.ALLOW):
        return _invalid(f"Invalid permissionType {_name(AclPermissionType, acl.permission_type)}")
    if not acl.resource_name:
        return _invalid("Resource name should not be empty")
    return _validate_host_pattern(acl.host, cidr_supported)


def _validate_host_pattern(host: str | None, cidr_supported: bool) -> ApiError:
    """``AclControlManager.validateHostPattern`` (Kafka 4.4): a CIDR block needs 4.4-IV1."""
    if not host:
        return _invalid("Host pattern cannot be null or empty")
    if host == "*" or "/" not in host:
        return NO_ERROR
    if not cidr_supported:
        return ApiError(ErrorCode.UNSUPPORTED_VERSION,
                        "CIDR-based ACL host patterns require metadata version 4.4-IV1 or higher.")
    error = cidr_error(host)
    return NO_ERROR if error is None else _invalid(f"Invalid CIDR notation '{host}': {error}")


def _known(enum_type: type, code: int) -> bool:
    return code in enum_type._value2member_map_  # type: ignore[attr-defined]


def _name(enum_type: type, code: int) -> str:
    try:
        return enum_type(code).name
    except ValueError:
        return "UNKNOWN"


def _random_id() -> Uuid:
    return os.urandom(16)


def create_acls(image: MetadataImage, acls: Sequence[StandardAcl],
                new_id: Callable[[], Uuid] = _random_id) -> ControllerResult[list[ApiError]]:
    """CreateAcls: one answer per binding, in request order."""
    cidr_supported = image.features.get(METADATA_VERSION, 0) >= METADATA_VERSION_4_4_IV1
    existing = set(image.acls.values())
    ids = set(image.acls)
    records: list = []
    results: list[ApiError] = []
    for acl in acls:
        error = validate_new_acl(acl, cidr_supported)
        if error is not NO_ERROR:
            results.append(error)
            continue
        if acl not in existing:
            existing.add(acl)
            acl_id = new_id()
            while acl_id in ids:
                acl_id = new_id()
            ids.add(acl_id)
            records.append(AccessControlEntryRecord(
                id=acl_id, resource_type=acl.resource_type, resource_name=acl.resource_name,
                pattern_type=acl.pattern_type, principal=acl.principal, host=acl.host,
                operation=acl.operation, permission_type=acl.permission_type))
        results.append(NO_ERROR)
    return ControllerResult(records, results)


def delete_acls(image: MetadataImage, filters: Sequence[AclFilter]) -> ControllerResult[list[AclDeleteResult]]:
    """DeleteAcls: one answer per filter, the matching ACLs removed atomically."""
    removed: dict[Uuid, None] = {}
    results: list[AclDeleteResult] = []
    for f in filters:
        if f.unknown_pattern:
            results.append(AclDeleteResult(_invalid("Unknown patternFilter.")))
            continue
        if f.unknown_entry:
            results.append(AclDeleteResult(_invalid("Unknown entryFilter.")))
            continue
        deleted = []
        too_many = False
        for acl_id, acl in image.acls.items():
            if f.matches(acl):
                deleted.append(acl)
                removed[acl_id] = None
                if len(removed) > MAX_RECORDS_PER_USER_OP:
                    too_many = True
                    break
        if too_many:
            results.append(AclDeleteResult(ApiError(
                ErrorCode.UNKNOWN_SERVER_ERROR,
                f"Cannot remove more than {MAX_RECORDS_PER_USER_OP} acls in a single delete operation.")))
            continue
        results.append(AclDeleteResult(NO_ERROR, tuple(deleted)))
    return ControllerResult([RemoveAccessControlEntryRecord(id=i) for i in removed], results)


def describe_acls(image: MetadataImage, f: AclFilter) -> list[StandardAcl]:
    """The image's ACLs ``f`` matches (``StandardAuthorizer.acls``)."""
    return [acl for acl in image.acls.values() if f.matches(acl)]
