"""SaslHandshake (key 17) v0-1 and SaslAuthenticate (key 36) v0-2 (KIP-43, KIP-152, KIP-368).

On a SASL listener these run before authentication, through the gate of the
dispatcher (``broker/dispatcher.py``), on the connection's
:class:`~kafkapy.broker.security.authenticator.SaslAuthenticator`:

* SaslHandshake names the mechanism; the answer lists the enabled mechanisms, with
  UNSUPPORTED_SASL_MECHANISM when the client's is not among them. v0 means the SASL
  tokens follow as raw size-prefixed frames (the dispatcher reads them), v1 that they
  come in SaslAuthenticate requests.
* SaslAuthenticate carries one client token and answers the server's. The last one
  sets the connection's principal (``User:<name>``) and, with
  ``connections.max.reauth.ms``, the session lifetime (v1+).

For OAUTHBEARER with a JWKS, SaslAuthenticate first refreshes the keys off the loop
when they are stale or the token names a key id they lack
(:mod:`kafkapy.broker.security.oauthbearer_jwks`).

Failures are answered after ``connection.failed.authentication.delay.ms`` and the
connection closes, as Kafka's ``Selector`` delays the close of a channel whose
authentication failed. On an authenticated or PLAINTEXT connection both answer
ILLEGAL_SASL_STATE (``KafkaApis``), except a SaslHandshake that starts a
re-authentication (KIP-368) on a SASL connection whose client supports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.broker.security.authenticator import AUTHENTICATOR_KEY, SaslAuthenticator, SaslState
from kafkapy.broker.security.oauthbearer import MECHANISM as OAUTHBEARER
from kafkapy.broker.security.oauthbearer import parse_client_initial_response
from kafkapy.broker.security.plain import SaslMechanismError
from kafkapy.broker.security.principal import PRINCIPAL_KEY
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest, SaslAuthenticateResponse
    from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest, SaslHandshakeResponse

#: ``KafkaApis.handleSaslAuthenticateRequest``'s answer on an authenticated connection.
AFTER_AUTHENTICATION = "SaslAuthenticate request received after successful authentication"


def authenticator_of(conn: Any) -> SaslAuthenticator | None:
    """The connection's SASL state; None on a listener without SASL."""
    state = getattr(conn, "state", None)
    return None if state is None else state.get(AUTHENTICATOR_KEY)


async def fail_authentication(ctx: RequestContext, delay_ms: int) -> None:
    """Wait ``connection.failed.authentication.delay.ms``, then have the connection
    close once the failure answer is sent (Kafka's delayed close, KIP-306)."""
    if delay_ms > 0:
        await trio.sleep(delay_ms / 1000)
    ctx.conn.close()


async def refresh_oauthbearer_keys(auth: SaslAuthenticator, token: bytes, now_ms: int) -> None:
    """Fetch the JWKS again (in a thread) before an OAUTHBEARER token is checked, when due."""
    refresh = getattr(auth.config.oauthbearer, "refresh", None)
    if refresh is None or auth.mechanism != OAUTHBEARER or auth.state is not SaslState.AUTHENTICATE:
        return
    try:
        initial = parse_client_initial_response(token)
    except SaslMechanismError:
        return  # the authenticator answers it
    await refresh(initial.token, now_ms)


@handles(ApiKey.SASL_HANDSHAKE, versions=(0, 1))
async def handle_sasl_handshake(ctx: RequestContext, request: SaslHandshakeRequest) -> SaslHandshakeResponse:
    from kafkapy.wire.messages.sasl_handshake import SaslHandshakeResponse as Response

    auth = authenticator_of(ctx.conn)
    if auth is None or (auth.authenticated and not auth.can_reauthenticate(ctx.broker.clock_ms())):
        return Response(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=[])
    code, mechanisms = auth.handshake(request.mechanism, ctx.version)
    if code != ErrorCode.NONE:
        await fail_authentication(ctx, auth.config.failed_authentication_delay_ms)
    return Response(error_code=code, mechanisms=mechanisms)


@handles(ApiKey.SASL_AUTHENTICATE, versions=(0, 2))
async def handle_sasl_authenticate(ctx: RequestContext,
                                   request: SaslAuthenticateRequest) -> SaslAuthenticateResponse:
    from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateResponse as Response

    auth = authenticator_of(ctx.conn)
    if auth is None or auth.authenticated:
        return Response(error_code=ErrorCode.ILLEGAL_SASL_STATE, error_message=AFTER_AUTHENTICATION, auth_bytes=b"")
    token = bytes(request.auth_bytes)
    await refresh_oauthbearer_keys(auth, token, ctx.broker.clock_ms())
    result = auth.authenticate(token, ctx.broker.clock_ms(), version=ctx.version)
    if result.error_code != ErrorCode.NONE:
        await fail_authentication(ctx, auth.config.failed_authentication_delay_ms)
        return Response(error_code=result.error_code, error_message=result.error_message, auth_bytes=b"")
    if auth.authenticated:
        ctx.conn.state[PRINCIPAL_KEY] = auth.principal
    return Response(error_code=ErrorCode.NONE, auth_bytes=result.auth_bytes,
                    session_lifetime_ms=result.session_lifetime_ms)
