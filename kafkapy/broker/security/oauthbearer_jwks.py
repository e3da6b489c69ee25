"""Signed OAUTHBEARER tokens checked against a JWKS (KIP-768; Kafka's
``OAuthBearerValidatorCallbackHandler`` with ``BrokerJwtValidator``).

Selected by ``listener.name.<l>.oauthbearer.sasl.server.callback.handler.class=
org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler``, with
``sasl.oauthbearer.jwks.endpoint.url`` naming the keys: ``file://`` (Kafka's
``JwksFileVerificationKeyResolver``), ``https://`` or ``http://`` (``RefreshingHttpsJwksVerificationKeyResolver``;
Kafka's ``ConfigurationUtils.validateUrl`` allows exactly these three schemes). The
checks are jose4j's as ``BrokerJwtValidator`` configures it: a signature by a key of
the set (never ``alg: none``), ``exp`` and ``iat`` required, ``aud`` one of
``sasl.oauthbearer.expected.audience`` (and no ``aud`` at all when none is expected),
``iss`` equal to ``sasl.oauthbearer.expected.issuer``, ``sasl.oauthbearer.clock.skew.seconds``
of leeway; the principal is the ``sasl.oauthbearer.sub.claim.name`` claim and the scope
the ``sasl.oauthbearer.scope.claim.name`` one. Signatures are verified with PyJWT on
``cryptography`` (RS256/384/512, PS256/384/512, ES256/384/512).

An ``https://`` JWKS is fetched with TLS settings from the ``OAuthBearerLoginModule``
JAAS options, as Kafka's ``JaasOptionsUtils.maybeCreateSslResource`` reads client
``ssl.*`` configs there: ``ssl.truststore.location`` or ``ssl.truststore.certificates``
of type PEM, ``ssl.endpoint.identification.algorithm`` (empty: no host name check);
without them the system's CAs. Other ``ssl.*`` options (JKS/PKCS12 trust stores, a
client key store) are refused (:func:`jwks_ssl_context`).

Keys are fetched once when the node starts (it refuses to start if they cannot be
read, as Kafka's resolver ``init`` fails), then again, off the trio loop
(``trio.to_thread``), when a SaslAuthenticate finds them older than
``sasl.oauthbearer.jwks.endpoint.refresh.ms`` or names a ``kid`` the set lacks (the
same unknown ``kid`` at most every :data:`MISSING_KID_REFRESH_MS`, as Kafka's
``RefreshingHttpsJwks.maybeExpediteRefresh`` does). A failed refresh keeps the keys it had.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from kafkapy.broker.security.oauthbearer import OAuthBearerToken, TokenValidationError, scope_of

log = logging.getLogger(__name__)

#: Least time between two refreshes for the same unknown ``kid``, how many such kids are
#: remembered and the longest considered (``RefreshingHttpsJwks.MISSING_KEY_ID_*``).
MISSING_KID_REFRESH_MS = 60_000
MISSING_KID_MAX_ENTRIES = 16
MISSING_KID_MAX_LENGTH = 1000
#: Timeout of one JWKS HTTP request.
FETCH_TIMEOUT_S = 10.0
#: URL schemes Kafka's ``ConfigurationUtils.validateUrl`` accepts.
URL_SCHEMES = ("file", "http", "https")
_ALGORITHMS = {"RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "EC": ("ES256", "ES384", "ES512")}


class JwksError(ValueError):
    """The JWKS cannot be read or parsed (at start: the node refuses to start)."""


def _jwt() -> Any:
    try:
        import jwt
    except ImportError:  # pragma: no cover - a dependency of kafkapy
        raise JwksError("validating OAUTHBEARER tokens against a JWKS needs PyJWT[crypto] (pip install "
                        "'PyJWT[crypto]')") from None
    return jwt


def check_url(url: str, setting: str) -> None:
    """Raises JwksError for a URL Kafka would refuse (``ConfigurationUtils.validateUrl``)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if not scheme:
        raise JwksError(f"The OAuth configuration option {setting} contains a URL ({url}) that is missing the "
                        "protocol")
    if scheme not in URL_SCHEMES:
        raise JwksError(f"The OAuth configuration option {setting} contains a URL ({url}) that contains an invalid "
                        f"protocol ({scheme}); only \"http\", \"https\", and \"file\" protocol are supported")


#: The JAAS ``ssl.*`` options :func:`jwks_ssl_context` honours.
_SSL_OPTIONS = frozenset({"ssl.truststore.location", "ssl.truststore.certificates", "ssl.truststore.type",
                          "ssl.endpoint.identification.algorithm"})


def jwks_ssl_context(options: Mapping[str, str]) -> ssl.SSLContext | None:
    """The TLS client context of an https JWKS from the login module's JAAS options;
    None (the system's CAs, host names checked) when they set none.

    Raises:
        JwksError: an ``ssl.*`` option kafkapy cannot honour.
    """
    ssl_options = {k: v for k, v in options.items() if k.startswith("ssl.")}
    if not ssl_options:
        return None
    unknown = sorted(set(ssl_options) - _SSL_OPTIONS)
    if unknown:
        raise JwksError(f"kafkapy cannot honour the OAUTHBEARER JAAS option(s) {', '.join(unknown)} for the JWKS "
                        "endpoint; it takes a PEM trust store (ssl.truststore.location or ssl.truststore.certificates)")
    kind = ssl_options.get("ssl.truststore.type", "PEM").upper()
    if kind != "PEM" and ("ssl.truststore.location" in ssl_options or "ssl.truststore.certificates" in ssl_options):
        raise JwksError(f"ssl.truststore.type={kind} in the OAUTHBEARER JAAS options: kafkapy reads PEM trust "
                        "stores only")
    context = ssl.create_default_context()
    try:
        if "ssl.truststore.location" in ssl_options:
            context = ssl.create_default_context(cafile=ssl_options["ssl.truststore.location"])
        elif "ssl.truststore.certificates" in ssl_options:
            context = ssl.create_default_context(cadata=ssl_options["ssl.truststore.certificates"])
    except (OSError, ssl.SSLError) as exc:
        raise JwksError(f"the OAUTHBEARER JAAS trust store cannot be read: {exc}") from None
    if ssl_options.get("ssl.endpoint.identification.algorithm", "https").strip() == "":
        context.check_hostname = False
    return context


def fetch_jwks(url: str, ssl_context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """The JWKS document at ``url`` (blocking: call it from a thread once trio runs)."""
    parts = urllib.parse.urlsplit(url)
    try:
        if parts.scheme.lower() == "file":
            with open(urllib.request.url2pathname(parts.path), "rb") as f:
                raw = f.read()
        else:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S,  # noqa: S310 - http(s) checked
                                        context=ssl_context) as response:
                raw = response.read()
        document = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise JwksError(f"could not read the JWKS at {url}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError(f"the document at {url} is not a JWKS (no \"keys\" array)")
    return document


class JwksValidator:
    """Signed JWTs against the keys of one JWKS URL; see the module docstring.

    Not task-safe for :meth:`refresh` (the authenticator awaits it before validating,
    one connection's request at a time; two concurrent refreshes only fetch twice).
    """

    def __init__(self, url: str, *, refresh_ms: int = 3_600_000, expected_audience: Sequence[str] = (),
                 expected_issuer: str | None = None, sub_claim: str = "sub", scope_claim: str = "scope",
                 clock_skew_s: int = 30, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self.ssl_context = ssl_context
        self.refresh_ms = refresh_ms
        self.expected_audience = tuple(expected_audience)
        self.expected_issuer = expected_issuer
        self.sub_claim = sub_claim
        self.scope_claim = scope_claim
        self.clock_skew_s = clock_skew_s
        #: (kid, alg, kty, public key) of each signing key.
        self._keys: list[tuple[str | None, str | None, str, Any]] = []
        self.loaded_at_ms = 0
        self._last_attempt_ms = 0
        #: Unknown kids -> when they last caused a refresh.
        self._missing: dict[str, int] = {}

    # --- keys ----------------------------------------------------------------------------

    def load(self, now_ms: int | None = None) -> None:
        """Fetch and parse the key set (blocking). Raises JwksError."""
        jwt = _jwt()
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        self._last_attempt_ms = now
        document = fetch_jwks(self.url, self.ssl_context)
        keys = []
        for entry in document["keys"]:
            if entry.get("use", "sig") != "sig" or entry.get("kty") not in _ALGORITHMS:
                continue
            try:
                keys.append((entry.get("kid"), entry.get("alg"), entry["kty"], jwt.PyJWK.from_dict(entry).key))
            except (jwt.exceptions.PyJWKError, jwt.exceptions.InvalidKeyError, ValueError) as exc:
                log.warning("JWKS %s: skipping key %s: %s", self.url, entry.get("kid"), exc)
        if not keys:
            raise JwksError(f"the JWKS at {self.url} has no RSA or EC signing keys")
        self._keys = keys
        self.loaded_at_ms = now

    def _kid_known(self, kid: str | None) -> bool:
        return kid is None or any(key_id == kid for key_id, *_ in self._keys)

    def needs_refresh(self, token: str, now_ms: int) -> bool:
        """Whether to fetch the keys before validating ``token``."""
        if now_ms - self.loaded_at_ms >= self.refresh_ms and \
                now_ms - self._last_attempt_ms >= min(self.refresh_ms, MISSING_KID_REFRESH_MS):
            return True
        try:
            kid = _jwt().get_unverified_header(token).get("kid")
        except Exception:  # noqa: BLE001 - a malformed token fails in validate()
            return False
        if not isinstance(kid, str) or len(kid) > MISSING_KID_MAX_LENGTH or self._kid_known(kid):
            return False
        last = self._missing.get(kid)
        if last is not None and now_ms - last < MISSING_KID_REFRESH_MS:
            return False
        self._missing.pop(kid, None)
        self._missing[kid] = now_ms
        while len(self._missing) > MISSING_KID_MAX_ENTRIES:
            del self._missing[next(iter(self._missing))]
        return True

    async def refresh(self, token: str, now_ms: int) -> None:
        """Fetch the keys off the trio loop when :meth:`needs_refresh`; a failure keeps the old keys."""
        if not self.needs_refresh(token, now_ms):
            return
        import trio

        try:
            await trio.to_thread.run_sync(self.load, now_ms)
        except JwksError as exc:
            self._last_attempt_ms = now_ms
            log.warning("refreshing the OAUTHBEARER JWKS failed, keeping %d key(s): %s", len(self._keys), exc)

    # --- tokens --------------------------------------------------------------------------

    def validate(self, token: str, now_ms: int) -> OAuthBearerToken:
        jwt = _jwt()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.exceptions.PyJWTError as exc:
            raise TokenValidationError(f"Could not validate the access token: {exc}") from None
        alg, kid = header.get("alg"), header.get("kid")
        candidates = [key for key_id, key_alg, kty, key in self._keys
                      if (kid is None or key_id == kid) and alg in _ALGORITHMS[kty] and key_alg in (None, alg)]
        if not candidates:
            raise TokenValidationError(f"Could not validate the access token: no key in the JWKS for kid={kid} "
                                       f"alg={alg}")
        last: Exception | None = None
        for key in candidates:
            try:
                claims = jwt.decode(
                    token, key, algorithms=[alg], audience=list(self.expected_audience) or None,
                    issuer=self.expected_issuer, leeway=self.clock_skew_s,
                    options={"require": ["exp", "iat"], "verify_aud": True, "verify_iat": False},
                )
                break
            except jwt.exceptions.InvalidSignatureError as exc:
                last = exc
            except jwt.exceptions.PyJWTError as exc:
                raise TokenValidationError(f"Could not validate the access token: {exc}") from None
        else:
            raise TokenValidationError(f"Could not validate the access token: {last}")
        sub = claims.get(self.sub_claim)
        if not isinstance(sub, str) or not sub.strip():
            raise TokenValidationError(f"The {self.sub_claim} value must be non-null and non-empty")
        iat = claims["iat"]
        return OAuthBearerToken(token, sub.strip(), round(float(claims["exp"]) * 1000),
                                scope_of(claims, self.scope_claim), round(float(iat) * 1000), claims)
