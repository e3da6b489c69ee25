"""SASL, client side: how kafkapy's own connections to other nodes authenticate.

A node's outgoing connections (the Raft transport and the broker-to-controller channel
on the controller listener; replica fetchers, the transaction marker sender and the
AddPartitionsToTxn manager on the inter-broker listener) all open through
:class:`~kafkapy.kraft.raft.network.PeerConnection`. When that listener is
SASL_PLAINTEXT or SASL_SSL, the connection authenticates right after ApiVersions, as
Kafka's ``SaslClientAuthenticator`` does: SaslHandshake with the mechanism, then
SaslAuthenticate until the mechanism completes.

Which mechanism and which credentials, as Kafka takes them:

* the mechanism is ``sasl.mechanism.controller.protocol`` on the controller listener and
  ``sasl.mechanism.inter.broker.protocol`` on the inter-broker one;
* the credentials are the ``username`` / ``password`` options of the listener's JAAS
  entry for that mechanism (``listener.name.<l>.<mechanism>.sasl.jaas.config``, else
  ``sasl.jaas.config``: Kafka's ``JaasContext.loadServerContext``, the broker's
  ``KafkaServer`` section), ``PlainLoginModule`` for PLAIN and ``ScramLoginModule`` for
  SCRAM-SHA-256/512.

PLAIN and SCRAM are what kafkapy's clients speak; a SCRAM user must exist in the
metadata log of the node it connects to (``kafkapy storage format --add-scram`` for
the inter-broker user, as Kafka's documentation asks). A session lifetime the server
gives (KIP-368 ``connections.max.reauth.ms``) is honoured by reconnecting before it
ends rather than re-authenticating on the same connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kafkapy.broker.security.plain import MECHANISM as PLAIN
from kafkapy.broker.security.scram import ScramClient, ScramMechanism
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.message import Message
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest

log = logging.getLogger(__name__)

#: ``ScramLoginModule``'s class name in JAAS configs.
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
#: The mechanisms kafkapy's inter-node clients authenticate with.
CLIENT_MECHANISMS = (PLAIN, "SCRAM-SHA-256", "SCRAM-SHA-512")
#: How often one failing client logs its failure at ERROR (then at DEBUG).
_LOG_EVERY_S = 30.0

Exchange = Callable[[Message], Awaitable[Message]]


class SaslClientError(OSError):
    """The node refused our credentials or the exchange broke: the connection is closed
    and retried after the connection's backoff (an OSError, as any connection failure)."""


@dataclass(slots=True)
class SaslClient:
    """One listener's client credentials; callable as a ``PeerConnection`` authenticator.

    Attributes:
        listener: the listener the credentials are for (in log lines).
        mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
        username: the JAAS entry's ``username``.
        password: the JAAS entry's ``password``.
    """

    listener: str
    mechanism: str
    username: str
    password: str
    _last_logged: float = field(default=-_LOG_EVERY_S, init=False, compare=False, repr=False)

    async def __call__(self, exchange: Exchange) -> float | None:
        """Authenticate a new connection through ``exchange`` (one request, its answer).

        Returns:
            the session lifetime in seconds the server gave (KIP-368), None for none.
        Raises:
            SaslClientError: the mechanism is not enabled there, or authentication failed.
        """
        try:
            return await self._authenticate(exchange)
        except SaslClientError as exc:
            now = time.monotonic()
            if now - self._last_logged >= _LOG_EVERY_S:
                self._last_logged = now
                log.error("%s authentication as %s on listener %s failed: %s", self.mechanism, self.username,
                          self.listener, exc)
            else:
                log.debug("%s authentication on listener %s failed: %s", self.mechanism, self.listener, exc)
            raise

    async def _authenticate(self, exchange: Exchange) -> float | None:
        handshake = await exchange(SaslHandshakeRequest(mechanism=self.mechanism))
        code = handshake.error_code  # type: ignore[attr-defined]
        if code != ErrorCode.NONE:
            enabled = ", ".join(handshake.mechanisms)  # type: ignore[attr-defined]
            raise SaslClientError(f"{ErrorCode(code).name}: the node enables [{enabled}], not {self.mechanism}")
        if self.mechanism == PLAIN:
            answer = await self._step(exchange, f"\0{self.username}\0{self.password}".encode())
            return _lifetime(answer)
        scram = ScramClient(ScramMechanism.from_mechanism_name(self.mechanism), self.username, self.password)
        server_first = await self._step(exchange, scram.first_message())
        try:
            final = scram.final_message(server_first.auth_bytes)  # type: ignore[attr-defined]
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise SaslClientError(f"invalid SCRAM server-first message: {exc}") from None
        server_final = await self._step(exchange, final)
        if not scram.verify_server_final(server_final.auth_bytes):  # type: ignore[attr-defined]
            raise SaslClientError("the node's SCRAM server signature does not match (wrong credentials there)")
        return _lifetime(server_final)

    @staticmethod
    async def _step(exchange: Exchange, token: bytes) -> Message:
        answer = await exchange(SaslAuthenticateRequest(auth_bytes=token))
        code = answer.error_code  # type: ignore[attr-defined]
        if code != ErrorCode.NONE:
            raise SaslClientError(f"{ErrorCode(code).name}: {answer.error_message}")  # type: ignore[attr-defined]
        return answer


def _lifetime(answer: Message) -> float | None:
    lifetime_ms = getattr(answer, "session_lifetime_ms", 0)
    return lifetime_ms / 1000 if lifetime_ms > 0 else None
