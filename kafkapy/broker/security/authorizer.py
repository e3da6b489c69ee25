"""Kafka's StandardAuthorizer over the metadata image's ACLs (KIP-801), sans I/O.

``authorize(principal, host, operation, resource type, name)`` answers as
``StandardAuthorizerData.authorize`` does:

1. A principal listed in ``super.users`` may do anything.
2. The ACLs that apply to the resource are those of its type whose pattern matches the
   name: LITERAL with the same name, LITERAL ``*``, and PREFIXED with a prefix of the
   name. If there are none (for any principal), the answer is
   ``allow.everyone.if.no.acl.found`` (Kafka's default: false, so denied).
3. Among them, an ACL counts when its principal is the caller's or ``User:*`` and its
   host is the caller's address, ``*``, or a CIDR block holding the address (Kafka 4.4,
   ``CidrUtils.isInRange``). A DENY whose operation is the one asked, or
   ALL, denies (deny wins, whatever else allows). An ALLOW whose operation is the one
   asked, or ALL, or one that implies it, allows: READ, WRITE, DELETE and ALTER imply
   DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS (``findResult``). DENY implies
   nothing.
4. Otherwise denied.

``authorize_by_resource_type`` is the ``Authorizer.authorizeByResourceType`` default
method Kafka uses for InitProducerId without a transactional id (KIP-679: WRITE on any
topic also grants idempotent production).

Speed: ACLs are indexed once per image (the image's ``acls`` mapping is replaced
only when an ACL changes) by resource type, then literal name and prefix; a check is a
few dict lookups, one per distinct prefix length, whatever the number of ACLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from kafkapy.kraft.metadata.acls import (
    WILDCARD,
    WILDCARD_PRINCIPAL,
    AclOperation,
    AclPermissionType,
    PatternType,
    StandardAcl,
)
from kafkapy.kraft.metadata.cidr import in_block

#: The ``authorizer.class.name`` kafkapy implements.
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

#: ``StandardAuthorizerData.IMPLIES_DESCRIBE`` / ``IMPLIES_DESCRIBE_CONFIGS``.
_IMPLIES = {
    AclOperation.DESCRIBE: frozenset({AclOperation.DESCRIBE, AclOperation.READ, AclOperation.WRITE,
                                      AclOperation.DELETE, AclOperation.ALTER}),
    AclOperation.DESCRIBE_CONFIGS: frozenset({AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}),
}


@dataclass(slots=True)
class _TypeIndex:
    literal: dict[str, list[StandardAcl]] = field(default_factory=dict)
    prefixed: dict[str, list[StandardAcl]] = field(default_factory=dict)
    prefix_lengths: list[int] = field(default_factory=list)


def _index(acls: Iterable[StandardAcl]) -> dict[int, _TypeIndex]:
    by_type: dict[int, _TypeIndex] = {}
    for acl in acls:
        ti = by_type.setdefault(acl.resource_type, _TypeIndex())
        if acl.pattern_type == PatternType.PREFIXED:
            ti.prefixed.setdefault(acl.resource_name, []).append(acl)
        else:
            ti.literal.setdefault(acl.resource_name, []).append(acl)
    for ti in by_type.values():
        ti.prefix_lengths = sorted({len(p) for p in ti.prefixed})
    return by_type


def parse_super_users(value: str | None) -> frozenset[str]:
    """``super.users``: principals separated by ';' (``StandardAuthorizer.getConfiguredSuperUsers``)."""
    return frozenset(p.strip() for p in (value or "").split(";") if p.strip())


def _host_matches(acl_host: str, host: str) -> bool:
    return acl_host == WILDCARD or acl_host == host or in_block(acl_host, host)


def _operation_matches(acl: StandardAcl, operation: int) -> bool:
    """``StandardAuthorizerData.findResult``'s operation test."""
    if acl.operation == AclOperation.ALL:
        return True
    if acl.permission_type == AclPermissionType.ALLOW:
        implied = _IMPLIES.get(operation)  # type: ignore[call-overload]
        return acl.operation in implied if implied is not None else acl.operation == operation
    return acl.operation == operation


class StandardAuthorizer:
    """Authorization decisions over an image's ACLs (``StandardAuthorizer``).

    Args:
        super_users: ``super.users`` principals (``User:admin``).
        allow_everyone_if_no_acl_found: the answer for a resource no ACL applies to.

    Task-safety: pure; the index is rebuilt when a newer image's ACLs are passed in.
    """

    def __init__(self, super_users: Iterable[str] = (), allow_everyone_if_no_acl_found: bool = False) -> None:
        self.super_users = frozenset(super_users)
        self.allow_everyone_if_no_acl_found = allow_everyone_if_no_acl_found
        self._indexed: Mapping | None = None
        self._index: dict[int, _TypeIndex] = {}

    def _index_of(self, acls: Mapping[bytes, StandardAcl]) -> dict[int, _TypeIndex]:
        if acls is not self._indexed:
            self._index = _index(acls.values())
            self._indexed = acls
        return self._index

    def authorize(self, acls: Mapping[bytes, StandardAcl], principal: str, host: str,
                  operation: int, resource_type: int, name: str) -> bool:
        """Whether ``principal`` from ``host`` may do ``operation`` on the LITERAL
        resource ``(resource_type, name)``, given the image's ``acls``."""
        if principal in self.super_users:
            return True
        ti = self._index_of(acls).get(resource_type)
        if ti is None:
            return self.allow_everyone_if_no_acl_found
        found = allowed = False
        for section in self._sections(ti, name):
            found = True
            for acl in section:
                if acl.principal != principal and acl.principal != WILDCARD_PRINCIPAL:
                    continue
                if not _host_matches(acl.host, host):
                    continue
                if not _operation_matches(acl, operation):
                    continue
                if acl.permission_type == AclPermissionType.DENY:
                    return False
                if acl.permission_type == AclPermissionType.ALLOW:
                    allowed = True
        return allowed if found else self.allow_everyone_if_no_acl_found

    @staticmethod
    def _sections(ti: _TypeIndex, name: str) -> Iterator[list[StandardAcl]]:
        """The ACL lists whose pattern matches ``name``: literal, ``*``, then prefixes."""
        section = ti.literal.get(name)
        if section:
            yield section
        if name != WILDCARD:
            section = ti.literal.get(WILDCARD)
            if section:
                yield section
        if ti.prefixed:
            size = len(name)
            for length in ti.prefix_lengths:
                if length > size:
                    break
                section = ti.prefixed.get(name[:length])
                if section:
                    yield section

    def authorize_by_resource_type(self, acls: Mapping[bytes, StandardAcl], principal: str, host: str,
                                   operation: int, resource_type: int) -> bool:
        """Whether some resource of ``resource_type`` allows ``operation``
        (``Authorizer.authorizeByResourceType``): an ALLOW (literal or prefixed) not
        dominated by a DENY of the same literal name or of a prefix of it; any wildcard
        DENY denies; super users and the no-ACL default pass through a check of a
        hard-coded name first, as Kafka does."""
        if self.authorize(acls, principal, host, operation, resource_type, "hardcode"):
            return True
        deny_literal: set[str] = set()
        deny_prefixed: set[str] = set()
        allow: list[tuple[int, str]] = []
        for acl in self._all_of_type(acls, resource_type):
            if not _host_matches(acl.host, host):
                continue
            if acl.principal != principal and acl.principal != WILDCARD_PRINCIPAL:
                continue
            if acl.operation != operation and acl.operation != AclOperation.ALL:
                continue
            if acl.permission_type == AclPermissionType.DENY:
                if acl.pattern_type == PatternType.LITERAL:
                    if acl.resource_name == WILDCARD:
                        return False
                    deny_literal.add(acl.resource_name)
                elif acl.pattern_type == PatternType.PREFIXED:
                    deny_prefixed.add(acl.resource_name)
            elif acl.permission_type == AclPermissionType.ALLOW:
                if acl.pattern_type == PatternType.LITERAL and acl.resource_name == WILDCARD:
                    return True
                allow.append((acl.pattern_type, acl.resource_name))
        for pattern_type, name in allow:
            if pattern_type == PatternType.LITERAL and name in deny_literal:
                continue
            if not any(name[:i] in deny_prefixed for i in range(1, len(name) + 1)):
                return True
        return False

    def _all_of_type(self, acls: Mapping[bytes, StandardAcl], resource_type: int) -> Iterable[StandardAcl]:
        ti = self._index_of(acls).get(resource_type)
        if ti is None:
            return ()
        return [acl for group in (*ti.literal.values(), *ti.prefixed.values()) for acl in group]
