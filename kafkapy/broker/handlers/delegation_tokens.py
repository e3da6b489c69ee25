"""CreateDelegationToken (key 38) v1-3, RenewDelegationToken (39) v1-2,
ExpireDelegationToken (40) v1-2, DescribeDelegationToken (41) v1-3 (KIP-48).

Answered as Kafka 4.4 answers them when ``delegation.token.secret.key`` is not set,
the only way kafkapy runs (it refuses to start with the key set: it has no delegation
tokens). In Kafka's order (``KafkaApis.handleCreateTokenRequest`` and the others):
a request on a channel that may not manage tokens (PLAINTEXT, SSL without a client
certificate, or one authenticated with a token) is DELEGATION_TOKEN_REQUEST_NOT_ALLOWED;
a token for another owner without USER CREATE_TOKENS on that owner is
DELEGATION_TOKEN_AUTHORIZATION_FAILED; a renewer that is not a ``User`` is
INVALID_PRINCIPAL_TYPE; otherwise DELEGATION_TOKEN_AUTH_DISABLED. The answers carry
Kafka's timestamps: -1 when refused before the controller, 0 when disabled.

Not implemented: the tokens themselves (DelegationTokenRecord, SCRAM ``tokenauth``,
the DELEGATION_TOKEN resource's ACLs).
"""

from __future__ import annotations

from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.broker.security.listener_security import listener_protocols
from kafkapy.broker.security.principal import ANONYMOUS, USER_TYPE, KafkaPrincipal, principal_of
from kafkapy.kraft.metadata.acls import AclOperation, ResourceType
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

_NOT_ALLOWED = ErrorCode.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED
_DISABLED = ErrorCode.DELEGATION_TOKEN_AUTH_DISABLED


def _allow_token_requests(ctx: RequestContext) -> bool:
    """``KafkaApis.allowTokenRequests``: SASL channels, or SSL with a client principal."""
    protocol = listener_protocols(ctx.broker.config).get(ctx.conn.listener_name.upper(), "PLAINTEXT")
    return not (protocol == "PLAINTEXT" or (protocol == "SSL" and principal_of(ctx.conn) == ANONYMOUS))


@handles(ApiKey.CREATE_DELEGATION_TOKEN, versions=(1, 3))
def handle_create_delegation_token(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.wire.messages.create_delegation_token import CreateDelegationTokenResponse

    requester = principal_of(ctx.conn)
    owner = requester if not request.owner_principal_name else KafkaPrincipal(
        request.owner_principal_type, request.owner_principal_name)
    if not _allow_token_requests(ctx):
        error, timestamp = _NOT_ALLOWED, -1
    elif owner != requester and not ctx.authorize(AclOperation.CREATE_TOKENS, ResourceType.USER, str(owner)):
        error, timestamp = ErrorCode.DELEGATION_TOKEN_AUTHORIZATION_FAILED, -1
    elif any(r.principal_type != USER_TYPE for r in request.renewers):
        error, timestamp = ErrorCode.INVALID_PRINCIPAL_TYPE, -1
    else:  # DelegationTokenControlManager.createDelegationToken, no secret key
        error, timestamp = _DISABLED, 0
    return CreateDelegationTokenResponse(
        error_code=error, principal_type=owner.principal_type, principal_name=owner.name,
        token_requester_principal_type=requester.principal_type, token_requester_principal_name=requester.name,
        issue_timestamp_ms=timestamp, expiry_timestamp_ms=timestamp, max_timestamp_ms=timestamp,
        token_id="", hmac=b"")


@handles(ApiKey.RENEW_DELEGATION_TOKEN, versions=(1, 2))
def handle_renew_delegation_token(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.wire.messages.renew_delegation_token import RenewDelegationTokenResponse

    allowed = _allow_token_requests(ctx)
    return RenewDelegationTokenResponse(error_code=_DISABLED if allowed else _NOT_ALLOWED,
                                        expiry_timestamp_ms=0 if allowed else -1)


@handles(ApiKey.EXPIRE_DELEGATION_TOKEN, versions=(1, 2))
def handle_expire_delegation_token(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.wire.messages.expire_delegation_token import ExpireDelegationTokenResponse

    allowed = _allow_token_requests(ctx)
    return ExpireDelegationTokenResponse(error_code=_DISABLED if allowed else _NOT_ALLOWED,
                                         expiry_timestamp_ms=0 if allowed else -1)


@handles(ApiKey.DESCRIBE_DELEGATION_TOKEN, versions=(1, 3))
def handle_describe_delegation_token(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.wire.messages.describe_delegation_token import DescribeDelegationTokenResponse

    if not _allow_token_requests(ctx):
        return DescribeDelegationTokenResponse(error_code=_NOT_ALLOWED, tokens=[])
    return DescribeDelegationTokenResponse(error_code=_DISABLED, tokens=[])
