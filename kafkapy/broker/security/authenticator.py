"""A connection's SASL state machine, sans-I/O (Kafka's ``SaslServerAuthenticator``).

Theory of operation. A connection on a SASL listener starts unauthenticated. Before
authentication Kafka's authenticator, not ``KafkaApis``, reads the requests, and only
these pass (the table :data:`ALLOWED`):

==========================  =========================================================
state                       requests served
==========================  =========================================================
HANDSHAKE_OR_VERSIONS       ApiVersions (once), SaslHandshake
HANDSHAKE                   SaslHandshake
AUTHENTICATE                SaslAuthenticate (after a v1 handshake); after a v0
                            handshake, raw size-prefixed SASL tokens with no header
COMPLETE                    everything (the handlers); a SaslHandshake here starts a
                            re-authentication (KIP-368) when the client can
FAILED                      nothing: the connection closes
==========================  =========================================================

Any other request before authentication closes the connection without an answer
(Kafka: ``InvalidRequestException`` "Unexpected Kafka request of type X during SASL
handshake."); one in the middle of the exchange (state AUTHENTICATE) is answered
ILLEGAL_SASL_STATE in the request's own shape after the failure delay, then the
connection closes (the dispatcher, with :mod:`kafkapy.broker.error_response`). A refused mechanism (UNSUPPORTED_SASL_MECHANISM, with the enabled list)
and failed credentials (SASL_AUTHENTICATION_FAILED) are answered after
``connection.failed.authentication.delay.ms``, then the connection closes.

Re-authentication (KIP-368): with ``connections.max.reauth.ms`` > 0, or an OAUTHBEARER
token (whose ``exp`` bounds the session: ``SaslServerAuthenticator.ReauthInfo`` takes the
smaller of the two, the token's remaining lifetime alone when the setting is 0), the
session lifetime goes back in the final SaslAuthenticate (v1+). The client re-authenticates
with SaslHandshake + SaslAuthenticate on the same connection before it ends, with the
same mechanism and principal; a connection whose session expired gets no other
request through: it is closed, as Kafka's ``KafkaChannel.serverAuthenticationSessionExpired``.

Not task-safe: one per connection, used by that connection's requests, one at a time.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kafkapy.broker.security.plain import (
    MECHANISM as PLAIN,
)
from kafkapy.broker.security.plain import (
    PlainServer,
    SaslAuthenticationError,
    SaslMechanismError,
)
from kafkapy.broker.security.principal import USER_TYPE, KafkaPrincipal
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.broker.security.listener_security import SaslListenerConfig
    from kafkapy.broker.security.oauthbearer import OAuthBearerServer
    from kafkapy.broker.security.scram import ScramCredential, ScramMechanism, ScramServer

#: Key of a connection's authenticator in ``ConnectionContext.state``.
AUTHENTICATOR_KEY = "sasl_authenticator"
#: Least time between two re-authentications of a connection (``KafkaChannel.MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS``).
MIN_REAUTH_INTERVAL_MS = 1000


class SaslState(enum.Enum):
    HANDSHAKE_OR_VERSIONS = "HANDSHAKE_OR_VERSIONS"
    HANDSHAKE = "HANDSHAKE"
    AUTHENTICATE = "AUTHENTICATE"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


#: Requests each state lets through before authentication.
ALLOWED: dict[SaslState, frozenset[int]] = {
    SaslState.HANDSHAKE_OR_VERSIONS: frozenset({ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE}),
    SaslState.HANDSHAKE: frozenset({ApiKey.SASL_HANDSHAKE}),
    SaslState.AUTHENTICATE: frozenset({ApiKey.SASL_AUTHENTICATE}),
    SaslState.FAILED: frozenset(),
}


def java_hash_set_order(names: list[str]) -> list[str]:
    """``names`` in the iteration order of a Java ``HashSet`` built from them: Kafka
    lists the enabled mechanisms as ``new ArrayList<>(new HashSet<>(enabled))``, so
    its SaslHandshake answers list them in this order, not the configured one.

    ``String.hashCode`` (UTF-16 units, int32), spread as ``HashMap.hash`` does
    (``h ^ (h >>> 16)``), in a table of ``tableSizeFor(max(n / 0.75 + 1, 16))``
    buckets; one bucket keeps insertion order.
    """
    unique = list(dict.fromkeys(names))
    size = 16
    while size < int(len(unique) / 0.75 + 1):
        size *= 2

    def bucket(name: str) -> int:
        h = 0
        for unit in name.encode("utf-16-be").hex(" ", 2).split():
            h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (size - 1)

    return sorted(unique, key=bucket)  # sorted() is stable: a bucket keeps insertion order


@dataclass(frozen=True, slots=True)
class AuthenticateResult:
    """One SaslAuthenticate (or v0 raw token) step's outcome.

    ``error_code`` NONE with ``auth_bytes`` the server's token; on failure the code and
    Kafka's message, and the connection closes after the delay.
    """

    error_code: ErrorCode
    error_message: str | None = None
    auth_bytes: bytes = b""
    session_lifetime_ms: int = 0


class SaslAuthenticator:
    """The SASL state of one connection.

    Args:
        config: the listener's SASL settings.
        scram_credentials: (user, mechanism) -> the user's credential in the current
            metadata image, or None.
    """

    def __init__(self, config: SaslListenerConfig,
                 scram_credentials: Callable[[str, ScramMechanism], ScramCredential | None]) -> None:
        self.config = config
        self._scram_credentials = scram_credentials
        self.state = SaslState.HANDSHAKE_OR_VERSIONS
        self.mechanism: str | None = None
        #: True after a v0 SaslHandshake: the tokens that follow have no request header.
        self.raw_tokens = False
        self.principal: KafkaPrincipal | None = None
        #: When the session ends (ms), with ``connections.max.reauth.ms``; None: never.
        self.session_expiry_ms: int | None = None
        #: The client sent SaslAuthenticate v1+, so it knows of re-authentication.
        self.client_supports_reauth = False
        self._reauthenticating = False
        self._server: PlainServer | ScramServer | OAuthBearerServer | None = None
        self._now_ms = 0
        self._last_reauth_start_ms: int | None = None

    # --- the gate ----------------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        return self.state is SaslState.COMPLETE

    def session_expired(self, now_ms: int) -> bool:
        return self.session_expiry_ms is not None and now_ms >= self.session_expiry_ms

    def admits(self, api_key: int) -> bool:
        """Whether a request of ``api_key`` may be handled now (before authentication
        only the state's allowed requests; after it, everything)."""
        if self.state is SaslState.COMPLETE:
            return True
        return api_key in ALLOWED[self.state]

    def note_api_versions(self) -> None:
        """An ApiVersions was answered: only SaslHandshake may follow."""
        if self.state is SaslState.HANDSHAKE_OR_VERSIONS:
            self.state = SaslState.HANDSHAKE

    def can_reauthenticate(self, now_ms: int | None = None) -> bool:
        """A SaslHandshake on an authenticated connection starts KIP-368 re-authentication
        when the session expires (``connections.max.reauth.ms`` or a token's lifetime:
        without an expiry re-authentication is disabled), the client said it knows of it
        (SaslAuthenticate v1+), and not within :data:`MIN_REAUTH_INTERVAL_MS` of the last
        one started (Kafka's ``KafkaChannel.maybeBeginServerReauthentication``; the
        handshake is then answered ILLEGAL_SASL_STATE as on any authenticated connection)."""
        if self.state is not SaslState.COMPLETE or not self.client_supports_reauth or self.raw_tokens \
                or self.session_expiry_ms is None:
            return False
        if now_ms is not None and self._last_reauth_start_ms is not None and \
                now_ms - self._last_reauth_start_ms < MIN_REAUTH_INTERVAL_MS:
            return False
        if now_ms is not None:
            self._last_reauth_start_ms = now_ms
        return True

    # --- SaslHandshake -----------------------------------------------------------------

    def handshake(self, mechanism: str, version: int) -> tuple[ErrorCode, list[str]]:
        """SaslHandshake: the mechanism the client asks for.

        Returns:
            NONE or UNSUPPORTED_SASL_MECHANISM, and the enabled mechanisms (both answers
            list them, as Kafka's do). On UNSUPPORTED_SASL_MECHANISM the state is FAILED.
        """
        # Imported on a SASL listener's first handshake: a node without one does not load them.
        from kafkapy.broker.security.oauthbearer import MECHANISM as OAUTHBEARER
        from kafkapy.broker.security.oauthbearer import OAuthBearerServer
        from kafkapy.broker.security.scram import ScramMechanism, ScramServer

        enabled = java_hash_set_order(list(self.config.mechanisms))
        if self.state is SaslState.COMPLETE:
            self._reauthenticating = True
        if mechanism not in enabled or (self._reauthenticating and mechanism != self.mechanism):
            self.state = SaslState.FAILED
            return ErrorCode.UNSUPPORTED_SASL_MECHANISM, enabled
        self.mechanism = mechanism
        self.raw_tokens = version == 0
        if mechanism == PLAIN:
            self._server = PlainServer(self.config.plain_users)
        elif mechanism == OAUTHBEARER and self.config.oauthbearer is not None:
            self._server = OAuthBearerServer(self.config.oauthbearer, lambda: self._now_ms)
        else:
            scram = ScramMechanism.from_mechanism_name(mechanism)
            self._server = ScramServer(scram, lambda user: self._scram_credentials(user, scram))
        self.state = SaslState.AUTHENTICATE
        return ErrorCode.NONE, enabled

    # --- SaslAuthenticate / raw tokens -------------------------------------------------

    def authenticate(self, token: bytes, now_ms: int, *, version: int = 0) -> AuthenticateResult:
        """One client token of the exchange (SaslAuthenticate ``auth_bytes`` or a v0 raw token)."""
        server = self._server
        if self.state is not SaslState.AUTHENTICATE or server is None:
            self.state = SaslState.FAILED
            return AuthenticateResult(ErrorCode.ILLEGAL_SASL_STATE,
                                      "Unexpected SaslAuthenticate request with the SASL state "
                                      f"{self.state.value}")
        if version > 0:
            self.client_supports_reauth = True
        text = "re-authentication" if self._reauthenticating else "authentication"
        self._now_ms = now_ms
        try:
            answer = server.evaluate(token)
        except SaslAuthenticationError as exc:
            self.state = SaslState.FAILED
            return AuthenticateResult(ErrorCode.SASL_AUTHENTICATION_FAILED, str(exc))
        except SaslMechanismError:
            # Kafka never tells the client why (it may say whether the user exists).
            self.state = SaslState.FAILED
            return AuthenticateResult(ErrorCode.SASL_AUTHENTICATION_FAILED,
                                      f"Authentication failed during {text} due to invalid credentials with "
                                      f"SASL mechanism {self.mechanism}")
        if not server.complete:
            return AuthenticateResult(ErrorCode.NONE, auth_bytes=answer)
        principal = KafkaPrincipal(USER_TYPE, server.authorization_id or "")
        if self._reauthenticating and principal != self.principal:
            self.state = SaslState.FAILED
            old = self.principal
            return AuthenticateResult(
                ErrorCode.SASL_AUTHENTICATION_FAILED,
                f"Cannot change principals during re-authentication from {old.principal_type}.{old.name}: "
                f"{principal.principal_type}.{principal.name}" if old else "Cannot change principals")
        self.principal = principal
        self.state = SaslState.COMPLETE
        self._server = None
        self._reauthenticating = False
        max_reauth = self.config.max_reauth_ms.get(self.mechanism or "", 0)
        credential_expiry = getattr(server, "credential_expiry_ms", None)
        if credential_expiry is None:
            lifetime = max(0, max_reauth)
            self.session_expiry_ms = now_ms + lifetime if lifetime > 0 else None
        else:
            remaining = credential_expiry - now_ms
            lifetime = max(0, min(remaining, max_reauth) if max_reauth > 0 else remaining)
            self.session_expiry_ms = now_ms + lifetime
        return AuthenticateResult(ErrorCode.NONE, auth_bytes=answer, session_lifetime_ms=lifetime)
