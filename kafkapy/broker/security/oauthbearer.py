"""SASL/OAUTHBEARER, server side (RFC 7628, KIP-255; Kafka's ``OAuthBearerSaslServer``).

The client's first message is ``n,[a=<authzid>],\\x01auth=Bearer <token>\\x01[<key>=<value>\\x01]*\\x01``
(``OAuthBearerClientInitialResponse``): the token and SASL extensions. A validator
turns the token into a principal name, a scope and a lifetime:

* :class:`UnsecuredValidator` (Kafka's default, ``OAuthBearerUnsecuredValidatorCallbackHandler``):
  an unsecured JWS (``alg: none``, empty signature) with options of the listener's
  ``OAuthBearerLoginModule`` JAAS entry (``unsecuredValidatorPrincipalClaimName``,
  ``...ScopeClaimName``, ``...RequiredScope``, ``...AllowableClockSkewMs``); for tests.
* :class:`kafkapy.broker.security.oauthbearer_jwks.JwksValidator`
  (``OAuthBearerValidatorCallbackHandler``, KIP-768): signed JWTs checked against the
  keys of ``sasl.oauthbearer.jwks.endpoint.url``.

A token that fails validation is not an error at once: the server answers the JSON
``{"status":"invalid_token"}`` (``insufficient_scope`` with the required scope), the
client acknowledges with ``\\x01``, and only then the exchange fails with that JSON as
the SASL_AUTHENTICATION_FAILED message, as Kafka's server does (RFC 7628 section 3.2.2).
Extensions are all accepted, as both of Kafka's validator callback handlers accept them.
The token's expiry bounds the session (``CREDENTIAL.LIFETIME.MS``, KIP-368).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafkapy.broker.security.plain import SaslAuthenticationError, SaslMechanismError

MECHANISM = "OAUTHBEARER"
#: ``OAuthBearerLoginModule``'s class name in JAAS configs.
LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
#: The server callback handlers kafkapy has (``listener.name.<l>.oauthbearer.sasl.server.callback.handler.class``).
UNSECURED_VALIDATOR_HANDLER = ("org.apache.kafka.common.security.oauthbearer.internals.unsecured."
                               "OAuthBearerUnsecuredValidatorCallbackHandler")
JWKS_VALIDATOR_HANDLER = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
#: The client's acknowledgement of the server's error answer.
CONTROL_A = b"\x01"

_SEP = "\x01"
_INITIAL = re.compile(r"n,(?:a=(?P<authzid>(?:[\x01-\x2B\x2D-\x3C\x3E-\x7F]|=2C|=3D)+))?,\x01"
                      r"(?P<kvpairs>(?:[A-Za-z]+=[\x21-\x7E \t\r\n]+\x01)*)\x01", re.DOTALL)
_AUTH = re.compile(r"(?P<scheme>\w+) +(?P<token>[-_.a-zA-Z0-9]+)")


class TokenValidationError(Exception):
    """A token that does not validate (Kafka's ``OAuthBearerIllegalTokenException`` /
    ``ValidateException``); logged, never sent: the client gets the JSON status.

    Attributes:
        failure_scope: the required scope, when the token lacked it (``insufficient_scope``).
    """

    def __init__(self, message: str, failure_scope: str | None = None) -> None:
        super().__init__(message)
        self.failure_scope = failure_scope


@dataclass(frozen=True, slots=True)
class OAuthBearerToken:
    """A validated token (Kafka's ``OAuthBearerToken``): times in epoch milliseconds."""

    value: str
    principal_name: str
    lifetime_ms: int
    scope: frozenset[str] = frozenset()
    start_time_ms: int | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)


class TokenValidator(Protocol):
    def validate(self, token: str, now_ms: int) -> OAuthBearerToken: ...


@dataclass(frozen=True, slots=True)
class ClientInitialResponse:
    authorization_id: str
    token: str
    extensions: Mapping[str, str]


def parse_client_initial_response(response: bytes) -> ClientInitialResponse:
    """The GS2 header, token and extensions of the client's message.

    Raises:
        SaslMechanismError: not an OAUTHBEARER client first message (Kafka's SaslException;
            the client gets the generic "invalid credentials" message).
    """
    text = response.decode("utf-8", errors="replace")
    match = _INITIAL.fullmatch(text)
    if match is None:
        raise SaslMechanismError("Invalid OAUTHBEARER client first message")
    pairs: dict[str, str] = {}
    for item in match.group("kvpairs").split(_SEP):
        if item:
            key, _, value = item.partition("=")
            pairs[key] = value
    auth = pairs.pop("auth", None)
    if auth is None:
        raise SaslMechanismError("Invalid OAUTHBEARER client first message: 'auth' not specified")
    auth_match = _AUTH.fullmatch(auth)
    if auth_match is None:
        raise SaslMechanismError("Invalid OAUTHBEARER client first message: invalid 'auth' format")
    if auth_match.group("scheme").lower() != "bearer":
        raise SaslMechanismError(f"Invalid scheme in OAUTHBEARER client first message: {auth_match.group('scheme')}")
    return ClientInitialResponse(match.group("authzid") or "", auth_match.group("token"), pairs)


def json_error(status: str, scope: str | None = None) -> str:
    """The server's error answer, formatted as ``OAuthBearerSaslServer.jsonErrorResponse``."""
    text = f'{{"status":"{status}"'
    if scope is not None:
        text += f', "scope":"{scope}"'
    return text + "}"


class OAuthBearerServer:
    """One OAUTHBEARER exchange: the client's first message, and its ``\\x01`` after an error.

    Args:
        validator: turns the token into an :class:`OAuthBearerToken` or raises.
        clock_ms: the time the token is checked against (epoch ms).
    """

    mechanism = MECHANISM

    def __init__(self, validator: TokenValidator, clock_ms: Callable[[], int]) -> None:
        self._validator = validator
        self._clock_ms = clock_ms
        self.complete = False
        self.authorization_id: str | None = None
        self.token: OAuthBearerToken | None = None
        self.extensions: Mapping[str, str] = {}
        self._error: str | None = None

    @property
    def credential_expiry_ms(self) -> int | None:
        """When the token expires: the session ends then at the latest (KIP-368)."""
        return self.token.lifetime_ms if self.token is not None else None

    def evaluate(self, response: bytes) -> bytes:
        """Returns the server's answer: empty on success, the JSON status on a bad token.

        Raises:
            SaslAuthenticationError: the client's ``\\x01`` after an error answer (the JSON
                is the message), or an authorization id other than the token's principal.
            SaslMechanismError: a malformed message.
        """
        if self.complete:
            raise SaslMechanismError("OAUTHBEARER exchange already complete")
        if response == CONTROL_A and self._error is not None:
            raise SaslAuthenticationError(self._error)
        self._error = None
        initial = parse_client_initial_response(response)
        try:
            token = self._validator.validate(initial.token, self._clock_ms())
        except TokenValidationError as exc:
            status = "insufficient_scope" if exc.failure_scope is not None else "invalid_token"
            self._error = json_error(status, exc.failure_scope)
            return self._error.encode()
        if initial.authorization_id and initial.authorization_id != token.principal_name:
            raise SaslAuthenticationError(
                f"Authentication failed: Client requested an authorization id ({initial.authorization_id}) "
                f"that is different from the token's principal name ({token.principal_name})")
        self.token = token
        self.extensions = dict(initial.extensions)
        self.authorization_id = token.principal_name
        self.complete = True
        return b""


# --- unsecured tokens (OAuthBearerUnsecuredJws, OAuthBearerUnsecuredValidatorCallbackHandler) ---

PRINCIPAL_CLAIM_OPTION = "unsecuredValidatorPrincipalClaimName"
SCOPE_CLAIM_OPTION = "unsecuredValidatorScopeClaimName"
REQUIRED_SCOPE_OPTION = "unsecuredValidatorRequiredScope"
CLOCK_SKEW_OPTION = "unsecuredValidatorAllowableClockSkewMs"


def decode_segment(segment: str) -> dict[str, Any]:
    """A JOSE header or claims segment as a JSON object.

    Kafka 4.4's ``OAuthBearerUnsecuredJws.toMap`` decodes with Java's
    ``Base64.getUrlDecoder()`` (4.1 used the basic one): padding optional, ``-`` and
    ``_`` taken, ``+`` and ``/`` refused; so does this, so a token Kafka refuses is
    refused here too.

    Raises:
        TokenValidationError: not Base64 or not a JSON object.
    """
    try:
        if "+" in segment or "/" in segment:
            raise ValueError(segment)
        raw = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise TokenValidationError("malformed Base64 URL encoded value") from None
    try:
        value = json.loads(raw)
    except ValueError:
        raise TokenValidationError("malformed JSON") from None
    if not isinstance(value, dict):
        raise TokenValidationError("malformed JSON")
    return value


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenValidationError(f"The '{name}' claim was not of type Number: {type(value).__name__}")
    return float(value)


def scope_of(claims: Mapping[str, Any], claim_name: str) -> frozenset[str]:
    """A string or string-list scope claim as a set (``OAuthBearerUnsecuredJws.calculateScope``)."""
    value = claims.get(claim_name)
    if isinstance(value, str):
        return frozenset({value.strip()}) if value.strip() else frozenset()
    if isinstance(value, list):
        return frozenset(str(v).strip() for v in value if str(v).strip())
    return frozenset()


@dataclass(frozen=True, slots=True)
class UnsecuredValidator:
    """``alg: none`` tokens, as ``OAuthBearerUnsecuredValidatorCallbackHandler`` checks them:
    the principal claim present and a string, ``exp`` required, ``iat`` (if present) not
    after now plus the skew, now minus the skew before ``exp``, ``exp`` after ``iat``,
    and every required scope element in the token's scope."""

    principal_claim: str = "sub"
    scope_claim: str = "scope"
    required_scope: tuple[str, ...] = ()
    clock_skew_ms: int = 0

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> UnsecuredValidator:
        """From an ``OAuthBearerLoginModule`` JAAS entry's options.

        Raises:
            ValueError: a clock skew that is not a non-negative integer (Kafka's
                ``OAuthBearerConfigException``).
        """
        principal = (options.get(PRINCIPAL_CLAIM_OPTION) or "").strip() or "sub"
        scope = (options.get(SCOPE_CLAIM_OPTION) or "").strip() or "scope"
        required = tuple((options.get(REQUIRED_SCOPE_OPTION) or "").split())
        raw_skew = (options.get(CLOCK_SKEW_OPTION) or "").strip()
        try:
            skew = int(raw_skew) if raw_skew else 0
        except ValueError:
            raise ValueError(f"{CLOCK_SKEW_OPTION}: For input string: \"{raw_skew}\"") from None
        if skew < 0:
            raise ValueError(f"Allowable clock skew millis must not be negative: {raw_skew}")
        return cls(principal, scope, required, skew)

    def validate(self, token: str, now_ms: int) -> OAuthBearerToken:
        if ".." in token:
            raise TokenValidationError("Malformed compact serialization contains '..'")
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenValidationError("Unsecured JWS compact serializations must have 3 dot-separated "
                                       "Base64URL-encoded values")
        header, claims = decode_segment(parts[0]), decode_segment(parts[1])
        if header.get("alg") != "none":
            raise TokenValidationError("Unsecured JWS must have 'none' for an algorithm")
        if parts[2]:
            raise TokenValidationError("Unsecured JWS must not contain a digital signature")
        scope = scope_of(claims, self.scope_claim)
        exp = _number(claims, "exp")
        if exp is None:
            raise TokenValidationError("No expiration time in JWT")
        principal = claims.get(self.principal_claim)
        if principal is not None and not isinstance(principal, str):
            raise TokenValidationError(f"The '{self.principal_claim}' claim was not of type String: "
                                       f"{type(principal).__name__}")
        if not principal or not principal.strip():
            raise TokenValidationError(f"No principal name in JWT claim: {self.principal_claim}")
        iat = _number(claims, "iat")
        if iat is not None and 1000 * iat > now_ms + self.clock_skew_ms:
            raise TokenValidationError(f"The Issued At value ({iat:f} seconds) was after the indicated time "
                                       f"({now_ms} ms) plus allowable clock skew ({self.clock_skew_ms} ms)")
        if now_ms - self.clock_skew_ms >= 1000 * exp:
            raise TokenValidationError(f"The indicated time ({now_ms} ms) minus allowable clock skew "
                                       f"({self.clock_skew_ms} ms) was on or after the Expiration Time value "
                                       f"({exp:f} seconds)")
        if iat is not None and exp <= iat:
            raise TokenValidationError(f"The Expiration Time time ({exp:f} seconds) was not after the Issued At "
                                       f"time ({iat:f} seconds)")
        for element in self.required_scope:
            if element not in scope:
                raise TokenValidationError(
                    f"The provided scope ({sorted(scope)}) was missing a required scope ({element}).  All "
                    f"required scope elements: {list(self.required_scope)}",
                    failure_scope="[" + ", ".join(self.required_scope) + "]")
        return OAuthBearerToken(token, principal, round(exp * 1000), scope,
                                round(iat * 1000) if iat is not None else None, claims)


def unsecured_token(principal: str, *, lifetime_s: int = 3600, now_s: float | None = None,
                    scope: list[str] | None = None, **claims: Any) -> str:
    """An ``alg: none`` token for ``principal``, as ``OAuthBearerUnsecuredLoginCallbackHandler``
    and librdkafka's ``enable.sasl.oauthbearer.unsecure.jwt`` make them (for tests)."""
    import time

    now = time.time() if now_s is None else now_s

    def segment(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()

    body: dict[str, Any] = {"sub": principal, "iat": int(now), "exp": int(now + lifetime_s), **claims}
    if scope is not None:
        body["scope"] = scope
    return f"{segment({'alg': 'none'})}.{segment(body)}."


def client_initial_response(token: str, authorization_id: str = "",
                            extensions: Mapping[str, str] | None = None) -> bytes:
    """The client's first message (``OAuthBearerClientInitialResponse.toBytes``)."""
    ext = "".join(f"{_SEP}{k}={v}" for k, v in (extensions or {}).items())
    authzid = f"a={authorization_id}" if authorization_id else ""
    return f"n,{authzid},{_SEP}auth=Bearer {token}{ext}{_SEP}{_SEP}".encode()
