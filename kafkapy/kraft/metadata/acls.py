"""ACLs as the metadata image keeps them (Kafka's ``StandardAcl``, ``AclsImage``) and the
filters that select them (``AclBindingFilter``, ``ResourcePatternFilter``,
``AccessControlEntryFilter``).

Codes are Kafka's, as the wire and AccessControlEntryRecord carry them: ``ResourceType``,
``PatternType``, ``AclOperation``, ``AclPermissionType``. Pure values, no I/O; the
authorizer (:mod:`kafkapy.broker.security.authorizer`) indexes the image's ACLs, the
controller (:mod:`kafkapy.kraft.metadata.acl_control`) writes them.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class ResourceType(enum.IntEnum):
    """``org.apache.kafka.common.resource.ResourceType``."""

    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(enum.IntEnum):
    """``org.apache.kafka.common.resource.PatternType``: ANY and MATCH only in filters."""

    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(enum.IntEnum):
    """``org.apache.kafka.common.acl.AclOperation``."""

    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class AclPermissionType(enum.IntEnum):
    """``org.apache.kafka.common.acl.AclPermissionType``."""

    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


#: ``ResourcePattern.WILDCARD_RESOURCE`` and ``AccessControlEntry.WILDCARD_HOST``.
WILDCARD = "*"
#: ``StandardAuthorizerData.WILDCARD_PRINCIPAL``.
WILDCARD_PRINCIPAL = "User:*"
#: ``Resource.CLUSTER_NAME``: the only name of the CLUSTER resource.
CLUSTER_NAME = "kafka-cluster"


class StandardAcl(NamedTuple):
    """One ACL binding: a resource pattern and an access control entry (Kafka's
    ``StandardAcl``; the principal as ``User:name``)."""

    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int


class AclFilter(NamedTuple):
    """``AclBindingFilter``: None names match any; ANY codes match any; a MATCH pattern
    type matches the literal name, the wildcard ``*`` and every prefix of the name."""

    resource_type: int = ResourceType.ANY
    resource_name: str | None = None
    pattern_type: int = PatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: int = AclOperation.ANY
    permission_type: int = AclPermissionType.ANY

    @property
    def unknown_pattern(self) -> bool:
        """``ResourcePatternFilter.isUnknown``."""
        return self.resource_type == ResourceType.UNKNOWN or self.pattern_type == PatternType.UNKNOWN

    @property
    def unknown_entry(self) -> bool:
        """``AccessControlEntryFilter.isUnknown``."""
        return self.operation == AclOperation.UNKNOWN or self.permission_type == AclPermissionType.UNKNOWN

    def matches_pattern(self, acl: StandardAcl) -> bool:
        """``ResourcePatternFilter.matches``."""
        if self.resource_type != ResourceType.ANY and self.resource_type != acl.resource_type:
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH) and self.pattern_type != acl.pattern_type:
            return False
        if self.resource_name is None:
            return True
        if self.pattern_type in (PatternType.ANY, acl.pattern_type):
            return self.resource_name == acl.resource_name
        if acl.pattern_type == PatternType.LITERAL:
            return self.resource_name == acl.resource_name or acl.resource_name == WILDCARD
        if acl.pattern_type == PatternType.PREFIXED:
            return self.resource_name.startswith(acl.resource_name)
        return False

    def matches_entry(self, acl: StandardAcl) -> bool:
        """``AccessControlEntryFilter.matches``."""
        return ((self.principal is None or self.principal == acl.principal)
                and (self.host is None or self.host == acl.host)
                and self.operation in (AclOperation.ANY, acl.operation)
                and self.permission_type in (AclPermissionType.ANY, acl.permission_type))

    def matches(self, acl: StandardAcl) -> bool:
        return self.matches_pattern(acl) and self.matches_entry(acl)
