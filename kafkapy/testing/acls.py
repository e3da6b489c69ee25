"""ACLs for test brokers: ``Broker(acls=[allow("User:alice", "WRITE", "TOPIC", "orders")])``.

A test broker given ``acls`` or ``super_users`` runs Kafka's StandardAuthorizer
(``authorizer.class.name``) with ``allow.everyone.if.no.acl.found=false`` (Kafka's
default), ``super.users`` as given, and the ACLs created in the metadata log once it
has started, as ``kafka-acls --add`` would create them. With ``sasl_users`` the
broker's own PLAINTEXT listener (its inter-broker listener, which carries the
transaction markers it sends itself) is always a super user (``User:ANONYMOUS``), as
Kafka's documentation configures a plaintext inter-broker listener next to SASL client
listeners; without SASL every client is ANONYMOUS, so nobody is a super user unless
named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kafkapy.broker.security.authorizer import STANDARD_AUTHORIZER
from kafkapy.config import BrokerConfig
from kafkapy.kraft.metadata.acls import (
    CLUSTER_NAME,
    WILDCARD,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
    StandardAcl,
)

#: The principal of connections on a PLAINTEXT listener (``KafkaPrincipal.ANONYMOUS``).
ANONYMOUS = "User:ANONYMOUS"


@dataclass(frozen=True, slots=True)
class Acl:
    """One ACL binding, named as ``kafka-acls`` names it."""

    principal: str
    operation: str
    resource_type: str
    resource_name: str
    pattern_type: str = "LITERAL"
    permission: str = "ALLOW"
    host: str = WILDCARD

    def standard(self) -> StandardAcl:
        name = CLUSTER_NAME if self.resource_type.upper() == "CLUSTER" else self.resource_name
        return StandardAcl(ResourceType[self.resource_type.upper()], name, PatternType[self.pattern_type.upper()],
                           self.principal, self.host, AclOperation[self.operation.upper()],
                           AclPermissionType[self.permission.upper()])


def allow(principal: str, operation: str, resource_type: str, resource_name: str = CLUSTER_NAME, *,
          prefixed: bool = False, host: str = WILDCARD) -> Acl:
    """An ALLOW ACL (``kafka-acls --add --allow-principal``)."""
    return Acl(principal, operation, resource_type, resource_name, "PREFIXED" if prefixed else "LITERAL",
               "ALLOW", host)


def deny(principal: str, operation: str, resource_type: str, resource_name: str = CLUSTER_NAME, *,
         prefixed: bool = False, host: str = WILDCARD) -> Acl:
    """A DENY ACL (``kafka-acls --add --deny-principal``)."""
    return Acl(principal, operation, resource_type, resource_name, "PREFIXED" if prefixed else "LITERAL",
               "DENY", host)


def authorizer_properties(super_users: Iterable[str]) -> dict[str, str]:
    """Broker properties that turn on the StandardAuthorizer with ``super_users``."""
    name = BrokerConfig.field_name
    return {name("authorizer_class_name"): STANDARD_AUTHORIZER, name("super_users"): ";".join(super_users)}
