"""A stand-in OAuth identity provider for tests: a signing key, its JWKS, and tokens.

``TokenIssuer`` makes an RSA (RS256) or EC (ES256) key, writes the public JWKS to a
file, and signs tokens, good or bad, as an identity provider would; a broker validates
them with Kafka's settings (:func:`jwks_broker_properties`)::

    issuer = TokenIssuer(tmp_path)
    with Broker(sasl_users={}, sasl_mechanisms=["OAUTHBEARER"],
                config=jwks_broker_properties(issuer.jwks_url, audience="kafka")) as broker:
        token = issuer.token("alice", audience="kafka")

Needs PyJWT[crypto] (a kafkapy dependency).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from kafkapy.broker.security.oauthbearer import JWKS_VALIDATOR_HANDLER
from kafkapy.config import LISTENER_CONFIG_PREFIX, BrokerConfig


class TokenIssuer:
    """One signing key and the JWKS that publishes it.

    Args:
        directory: where ``jwks.json`` is written.
        algorithm: ``RS256`` or ``ES256``.
        issuer: the ``iss`` of its tokens.
    """

    def __init__(self, directory: str | os.PathLike[str], algorithm: str = "RS256",
                 issuer: str = "https://issuer.test") -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        self.algorithm = algorithm
        self.issuer = issuer
        self.kid = uuid.uuid4().hex[:12]
        if algorithm.startswith("RS"):
            self._key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif algorithm == "ES256":
            self._key = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"unsupported algorithm {algorithm}: RS256 or ES256")
        self.jwks_path = Path(directory) / f"jwks-{self.kid}.json"
        self.jwks_path.write_text(json.dumps(self.jwks()))

    @property
    def jwks_url(self) -> str:
        """``file://`` URL of the JWKS."""
        return self.jwks_path.resolve().as_uri()

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document."""
        import jwt

        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        jwk = json.loads(algorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}]}

    def token(self, subject: str, *, audience: str | list[str] | None = None, lifetime_s: int = 3600,
              issued_at: float | None = None, issuer: str | None = None, kid: str | None = None,
              **claims: Any) -> str:
        """A signed JWT for ``subject``; ``lifetime_s`` < 0 makes an expired one."""
        import jwt

        now = time.time() if issued_at is None else issued_at
        body: dict[str, Any] = {"sub": subject, "iss": issuer or self.issuer, "iat": int(now),
                                "exp": int(now + lifetime_s), **claims}
        if lifetime_s < 0:
            body["iat"] = int(now + 2 * lifetime_s)
        if audience is not None:
            body["aud"] = audience
        return jwt.encode(body, self._key, algorithm=self.algorithm, headers={"kid": kid or self.kid})


def jwks_broker_properties(jwks_url: str, *, audience: str | None = None, issuer: str | None = None,
                           listener: str = "SASL_PLAINTEXT") -> dict[str, str]:
    """Broker properties for JWKS-validated OAUTHBEARER tokens on ``listener``, as Kafka
    configures them (KIP-768)."""
    name = BrokerConfig.field_name
    props = {
        f"{LISTENER_CONFIG_PREFIX}{listener.lower()}.oauthbearer.{name('sasl_server_callback_handler_class')}":
            JWKS_VALIDATOR_HANDLER,
        name("sasl_oauthbearer_jwks_endpoint_url"): jwks_url,
    }
    if audience is not None:
        props[name("sasl_oauthbearer_expected_audience")] = audience
    if issuer is not None:
        props[name("sasl_oauthbearer_expected_issuer")] = issuer
    return props
