"""SCRAM-SHA-256 and SCRAM-SHA-512, server side (RFC 5802, RFC 7677; Kafka's
``ScramSaslServer``, ``ScramFormatter`` and ``ScramMessages``).

Credentials are what ``UserScramCredentialRecord`` stores: salt, StoredKey, ServerKey
and the iteration count, never the password::

    SaltedPassword = Hi(password, salt, i)          (PBKDF2 with HMAC-H)
    ClientKey      = HMAC(SaltedPassword, "Client Key")
    StoredKey      = H(ClientKey)
    ServerKey      = HMAC(SaltedPassword, "Server Key")

The exchange, two client messages::

    client-first  n,[a=authzid],n=user,r=cnonce[,ext]
    server-first  r=cnonce+snonce,s=base64(salt),i=iterations
    client-final  c=base64(gs2-header),r=cnonce+snonce,p=base64(ClientProof)
    server-final  v=base64(HMAC(ServerKey, AuthMessage))

with ``AuthMessage = client-first-bare + "," + server-first + "," + client-final-without-proof``
and ``ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)``. Extensions (Kafka's
``tokenauth`` for delegation tokens) are ignored: kafkapy has no delegation tokens.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from kafkapy.broker.security.plain import SaslAuthenticationError, SaslMechanismError

#: ``ScramMechanism.minIterations`` of both mechanisms (RFC 7677 asks for 4096 at least).
MIN_ITERATIONS = 4096
#: ``ScramControlManager.MAX_ITERATIONS``.
MAX_ITERATIONS = 16384


class ScramMechanism(enum.IntEnum):
    """The SCRAM mechanisms and their type ids in records and admin APIs
    (``org.apache.kafka.clients.admin.ScramMechanism``)."""

    UNKNOWN = 0
    SCRAM_SHA_256 = 1
    SCRAM_SHA_512 = 2

    @property
    def mechanism_name(self) -> str:
        return self.name.replace("_", "-")

    @property
    def hash_name(self) -> str:
        return {ScramMechanism.SCRAM_SHA_256: "sha256", ScramMechanism.SCRAM_SHA_512: "sha512"}[self]

    @classmethod
    def from_type(cls, type_id: int) -> ScramMechanism:
        try:
            return cls(type_id)
        except ValueError:
            return cls.UNKNOWN

    @classmethod
    def from_mechanism_name(cls, name: str) -> ScramMechanism:
        return next((m for m in cls if m and m.mechanism_name == name), cls.UNKNOWN)


#: The SASL mechanism names of SCRAM.
MECHANISM_NAMES = frozenset(m.mechanism_name for m in ScramMechanism if m)


@dataclass(frozen=True, slots=True)
class ScramCredential:
    """One user's credential for one mechanism (Kafka's ``ScramCredential``)."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


def _hmac(mechanism: ScramMechanism, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, mechanism.hash_name).digest()


def salted_password(mechanism: ScramMechanism, password: str, salt: bytes, iterations: int) -> bytes:
    """``Hi(password, salt, i)``: PBKDF2 with HMAC of the mechanism's hash."""
    return hashlib.pbkdf2_hmac(mechanism.hash_name, password.encode("utf-8"), salt, iterations)


def credential_from_salted_password(mechanism: ScramMechanism, salt: bytes, salted: bytes,
                                    iterations: int) -> ScramCredential:
    """StoredKey and ServerKey from a salted password, as the controller derives them
    from AlterUserScramCredentials (``ScramControlManager.finishUpsertion``)."""
    client_key = _hmac(mechanism, salted, b"Client Key")
    stored_key = hashlib.new(mechanism.hash_name, client_key).digest()
    server_key = _hmac(mechanism, salted, b"Server Key")
    return ScramCredential(salt, stored_key, server_key, iterations)


def generate_credential(mechanism: ScramMechanism, password: str, iterations: int = MIN_ITERATIONS,
                        salt: bytes | None = None) -> ScramCredential:
    """A new credential with a random salt (``ScramFormatter.generateCredential``)."""
    salt = salt if salt is not None else secrets.token_bytes(32)
    return credential_from_salted_password(mechanism, salt, salted_password(mechanism, password, salt, iterations),
                                           iterations)


def _username(saslname: str) -> str:
    """RFC 5802's saslname decoding: ``=2C`` is a comma, ``=3D`` an equals sign."""
    return saslname.replace("=2C", ",").replace("=3D", "=")


_CLIENT_FIRST = re.compile(r"(?P<gs2>[ny]),(?:a=(?P<authzid>[^,]*))?,"
                           r"(?P<bare>n=(?P<saslname>[^,]*),r=(?P<nonce>[^,]*)(?P<extensions>(?:,[^,]*)*))")
_CLIENT_FINAL = re.compile(r"(?P<without_proof>c=(?P<channel>[a-zA-Z0-9+/=]*),r=(?P<nonce>[\x21-\x2b\x2d-\x7e]+)"
                           r"(?:,[^,]*)*?),p=(?P<proof>[a-zA-Z0-9+/=]+)")


class ScramServer:
    """One SCRAM exchange (sans-I/O): :meth:`evaluate` each client message in turn.

    States: RECEIVE_CLIENT_FIRST_MESSAGE -> RECEIVE_CLIENT_FINAL_MESSAGE -> COMPLETE,
    or FAILED from either (Kafka's ``ScramSaslServer.State``).

    Args:
        mechanism: SCRAM-SHA-256 or SCRAM-SHA-512.
        credentials: looks a user's credential up (None: no such user).
        nonce: makes the server nonce (tests pin it).
    """

    def __init__(self, mechanism: ScramMechanism, credentials: Callable[[str], ScramCredential | None], *,
                 nonce: Callable[[], str] | None = None) -> None:
        self.mechanism = mechanism
        self._credentials = credentials
        self._nonce = nonce or (lambda: secrets.token_urlsafe(24))
        self.state = "RECEIVE_CLIENT_FIRST_MESSAGE"
        self.complete = False
        self.authorization_id: str | None = None
        self._credential: ScramCredential | None = None
        self._client_first_bare = ""
        self._server_first = ""
        self._full_nonce = ""

    def evaluate(self, response: bytes) -> bytes:
        """The server's answer to one client message.

        Raises:
            SaslAuthenticationError: an authorization id other than the user.
            SaslMechanismError: an unknown user, a malformed message, a wrong nonce or
                proof (the client is told only "invalid credentials").
        """
        try:
            if self.state == "RECEIVE_CLIENT_FIRST_MESSAGE":
                return self._client_first(response.decode("utf-8"))
            if self.state == "RECEIVE_CLIENT_FINAL_MESSAGE":
                return self._client_final(response.decode("utf-8"))
            raise SaslMechanismError(f"Unexpected SCRAM message in state {self.state}")
        except UnicodeDecodeError:
            self._fail()
            raise SaslMechanismError("Invalid SCRAM message: not UTF-8") from None
        except (SaslAuthenticationError, SaslMechanismError):
            self._fail()
            raise

    def _fail(self) -> None:
        self.state = "FAILED"
        self._credential = None

    def _client_first(self, message: str) -> bytes:
        m = _CLIENT_FIRST.fullmatch(message)
        if m is None:
            raise SaslMechanismError(f"Invalid SCRAM client first message format: {message}")
        username = _username(m["saslname"])
        credential = self._credentials(username)
        if credential is None:
            raise SaslMechanismError("Authentication failed: Invalid user credentials")
        authzid = m["authzid"] or ""
        if authzid and _username(authzid) != username:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is different from username")
        if credential.iterations < MIN_ITERATIONS:
            raise SaslMechanismError(f"Iterations {credential.iterations} is less than the minimum "
                                     f"{MIN_ITERATIONS} for {self.mechanism.mechanism_name}")
        self._credential = credential
        self.authorization_id = username
        self._client_first_bare = m["bare"]
        self._full_nonce = m["nonce"] + self._nonce()
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._full_nonce},s={salt},i={credential.iterations}"
        self.state = "RECEIVE_CLIENT_FINAL_MESSAGE"
        return self._server_first.encode()

    def _client_final(self, message: str) -> bytes:
        m = _CLIENT_FINAL.fullmatch(message)
        if m is None:
            raise SaslMechanismError(f"Invalid SCRAM client final message format: {message}")
        if m["nonce"] != self._full_nonce:
            raise SaslMechanismError("Invalid client nonce in the final client message.")
        credential = self._credential
        assert credential is not None
        auth_message = f"{self._client_first_bare},{self._server_first},{m['without_proof']}".encode()
        try:
            proof = base64.b64decode(m["proof"], validate=True)
        except ValueError:
            raise SaslMechanismError("Invalid client credentials") from None
        signature = _hmac(self.mechanism, credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise SaslMechanismError("Invalid client credentials")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.new(self.mechanism.hash_name, client_key).digest(), credential.stored_key):
            raise SaslMechanismError("Invalid client credentials")
        server_signature = _hmac(self.mechanism, credential.server_key, auth_message)
        self.state = "COMPLETE"
        self.complete = True
        self._credential = None
        return b"v=" + base64.b64encode(server_signature)


class ScramClient:
    """The client side, for tests and inter-node clients (Kafka's ``ScramSaslClient``)."""

    def __init__(self, mechanism: ScramMechanism, username: str, password: str, *, nonce: str | None = None) -> None:
        self.mechanism = mechanism
        self.username = username
        self.password = password
        self._nonce = nonce or secrets.token_urlsafe(24)
        self._client_first_bare = ""
        self._server_signature = b""

    def first_message(self) -> bytes:
        name = self.username.replace("=", "=3D").replace(",", "=2C")
        self._client_first_bare = f"n={name},r={self._nonce}"
        return f"n,,{self._client_first_bare}".encode()

    def final_message(self, server_first: bytes) -> bytes:
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        nonce, salt, iterations = fields["r"], base64.b64decode(fields["s"]), int(fields["i"])
        if not nonce.startswith(self._nonce):
            raise SaslMechanismError("Invalid server nonce: does not start with client nonce")
        salted = salted_password(self.mechanism, self.password, salt, iterations)
        client_key = _hmac(self.mechanism, salted, b"Client Key")
        stored_key = hashlib.new(self.mechanism.hash_name, client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._client_first_bare},{server_first.decode()},{without_proof}".encode()
        signature = _hmac(self.mechanism, stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = _hmac(self.mechanism, _hmac(self.mechanism, salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify_server_final(self, server_final: bytes) -> bool:
        return server_final == b"v=" + base64.b64encode(self._server_signature)
