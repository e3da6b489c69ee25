"""The one authorization helper handlers call (Kafka's ``AuthHelper``).

A broker with ``authorizer.class.name`` set to Kafka's StandardAuthorizer checks every
request as ``KafkaApis`` does; without it everything is allowed, as in Kafka. Handlers
ask through their :class:`~kafkapy.broker.context.RequestContext`:

* :func:`authorize` one (operation, resource type, name);
* :func:`filter_by_authorized` names, keeping those allowed (``filterByAuthorized``);
* :func:`authorized_operations`, the ``*_authorized_operations`` bit fields of
  Metadata, DescribeGroups, DescribeCluster and DescribeTopicPartitions
  (``AuthHelper.authorizedOperations``: each supported operation asked, the allowed
  ones' bits set);
* :func:`authorize_by_resource_type` (InitProducerId without a transactional id).

The principal is the connection's (``User:ANONYMOUS`` on PLAINTEXT listeners, the
authenticated user on SASL ones) and the host its peer address.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kafkapy.broker.security.authorizer import STANDARD_AUTHORIZER, StandardAuthorizer, parse_super_users
from kafkapy.broker.security.principal import principal_of
from kafkapy.kraft.metadata.acls import CLUSTER_NAME, AclOperation, ResourceType

if TYPE_CHECKING:
    from kafkapy.config import BrokerConfig

log = logging.getLogger("kafkapy.authorizer")

__all__ = [
    "CLUSTER_NAME",
    "AclOperation",
    "ResourceType",
    "authorize",
    "authorize_by_resource_type",
    "authorized_operations",
    "authorizer_from_config",
    "filter_by_authorized",
]

#: ``AclEntry.supportedOperations``: what each resource type's authorized-operations
#: field lists.
SUPPORTED_OPERATIONS: dict[int, tuple[int, ...]] = {
    ResourceType.TOPIC: (AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE,
                         AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE_CONFIGS,
                         AclOperation.ALTER_CONFIGS),
    ResourceType.GROUP: (AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE),
    ResourceType.CLUSTER: (AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
                           AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER,
                           AclOperation.DESCRIBE, AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS),
    ResourceType.TRANSACTIONAL_ID: (AclOperation.DESCRIBE, AclOperation.WRITE),
    ResourceType.DELEGATION_TOKEN: (AclOperation.DESCRIBE,),
    ResourceType.USER: (AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS),
}


def authorizer_from_config(config: BrokerConfig) -> StandardAuthorizer | None:
    """The broker's authorizer: None unless ``authorizer.class.name`` names Kafka's
    StandardAuthorizer (anything else refused to start, ``listener_security``)."""
    if (config.authorizer_class_name or "").strip() != STANDARD_AUTHORIZER:
        return None
    return StandardAuthorizer(parse_super_users(config.super_users), config.allow_everyone_if_no_acl_found)


def _who(ctx: Any) -> tuple[str, str]:
    peer = getattr(ctx.conn, "peer", None)
    return str(principal_of(ctx.conn)), (peer[0] if peer else "")


def authorize(ctx: Any, operation: int, resource_type: int, name: str = CLUSTER_NAME) -> bool:
    """Whether the request's principal may do ``operation`` on a resource (the CLUSTER
    resource, ``kafka-cluster``, when no name is given)."""
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return True
    principal, host = _who(ctx)
    allowed = authorizer.authorize(ctx.broker.image.acls, principal, host, operation, resource_type, name)
    if not allowed:
        _log_denied(principal, host, operation, resource_type, name)
    return allowed


def _log_denied(principal: str, host: str, operation: int, resource_type: int, name: str) -> None:
    """Kafka's ``kafka.authorizer.logger`` line for a denial, at DEBUG (a client can
    cause any number of them)."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug("Principal = %s is Denied operation = %s from host = %s on resource = %s:LITERAL:%s",
                  principal, AclOperation(operation).name, host, ResourceType(resource_type).name.title(), name)


def filter_by_authorized(ctx: Any, operation: int, resource_type: int, names: Iterable[str]) -> set[str]:
    """The names (each asked once) the principal may do ``operation`` on."""
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return set(names)
    principal, host = _who(ctx)
    acls = ctx.broker.image.acls
    allowed = set()
    for n in set(names):
        if authorizer.authorize(acls, principal, host, operation, resource_type, n):
            allowed.add(n)
        else:
            _log_denied(principal, host, operation, resource_type, n)
    return allowed


def authorized_operations(ctx: Any, resource_type: int, name: str = CLUSTER_NAME) -> int:
    """The 32-bit field of the operations allowed on a resource (``Utils.to32BitField``)."""
    ops = SUPPORTED_OPERATIONS[resource_type]
    authorizer = ctx.broker.authorizer
    if authorizer is not None:
        principal, host = _who(ctx)
        acls = ctx.broker.image.acls
        ops = tuple(op for op in ops if authorizer.authorize(acls, principal, host, op, resource_type, name))
    return sum(1 << op for op in ops)


def authorize_by_resource_type(ctx: Any, operation: int, resource_type: int) -> bool:
    """``Authorizer.authorizeByResourceType``: whether any resource of the type allows it."""
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return True
    principal, host = _who(ctx)
    return authorizer.authorize_by_resource_type(ctx.broker.image.acls, principal, host, operation, resource_type)
