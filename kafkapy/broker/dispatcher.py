"""The broker's side of the server edge: request frame in, response chunks out.

Order of checks, as Kafka's ``SocketServer``/``RequestChannel`` does them:

0. On a SASL listener, the authentication gate (Kafka's ``SaslServerAuthenticator``,
   which reads a channel's requests until it is authenticated): before
   authentication only ApiVersions, SaslHandshake and SaslAuthenticate pass, in the
   order the connection's :class:`SaslAuthenticator` allows; any other request
   closes the connection unanswered ("Unexpected Kafka request of type X during SASL
   handshake"), or, in the middle of the exchange, is answered ILLEGAL_SASL_STATE in
   its own shape (``getErrorResponse``) before the connection closes. After a v0
   SaslHandshake the SASL tokens come as raw frames with no request header, answered
   here. A connection whose session expired
   (``connections.max.reauth.ms``, KIP-368) is closed unless it re-authenticates.
   Every connection's principal is kept in its state (``User:ANONYMOUS`` where there
   is no authentication).
1. Decode the request header. A header that does not decode closes the connection.
2. Find the handler. An API key this broker does not implement, or a version outside
   the registered range, closes the connection (``InvalidRequestException`` in
   Kafka), with one exception: an ApiVersions request newer than we know is answered
   with a v0 body carrying UNSUPPORTED_VERSION and our ApiVersions range (KIP-511).
3. Decode the body. Bad bytes close the connection (Kafka cannot answer a request it
   cannot parse).
4. With an authorizer, authorize the request as ``KafkaApis`` does
   (:mod:`kafkapy.broker.request_authorization`): a request refused as a whole is
   answered in its own shape (``getErrorResponse``); unauthorized topics, groups or
   resources are taken out and their errors merged into the handler's answer. This
   runs before the hooks, so forwarded admin requests carry only what is allowed.
5. Run the request hooks (the fault-injection point at the server→broker edge),
   then the handler, and encode its response in the request's version.
6. Produce and fetch under a client quota (:mod:`kafkapy.broker.quotas`): the
   response carries ``throttle_time_ms`` and the connection's next request waits
   until the throttle ends (Kafka mutes the channel).

A handler returning None sends nothing (acks=0 produce); raising ``CloseConnection``
closes the connection after earlier responses.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.context import RequestContext
from kafkapy.broker.errors import CloseConnection
from kafkapy.broker.quotas import QUOTA_APIS, wait_unmuted
from kafkapy.broker.error_response import error_response
from kafkapy.broker.registry import Handler, load_handlers
from kafkapy.broker.request_authorization import ALLOWED, authorize_request
from kafkapy.broker.security.authenticator import AUTHENTICATOR_KEY, SaslAuthenticator, SaslState
from kafkapy.broker.security.listener_security import ListenerSecurity, check_security
from kafkapy.broker.security.principal import ANONYMOUS, PRINCIPAL_KEY
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.apis import ApiKey, api_info
from kafkapy.wire.codec import encode_response
from kafkapy.wire.errors import WireError
from kafkapy.wire.headers import decode_request_header

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.broker.security.scram import ScramMechanism
    from kafkapy.wire.buffers import Chunk

log = logging.getLogger(__name__)

#: A request hook sees the context and the decoded request before the handler. It
#: returns None to let the request through, or a response message to answer with
#: instead; it may also sleep (delay) or raise CloseConnection (drop).
RequestHook = Callable[[RequestContext, Any], Awaitable[Any]]


class BrokerDispatcher:
    """Implements the server's ``Dispatcher`` protocol for one listener.

    Args:
        broker: the shared broker state handlers reach through their context.
        handlers: API key -> handler; the full registered table by default (a
            controller listener serves a smaller one).
        security: each listener's security; by default from the broker's config
            (which refuses what kafkapy cannot honour).
    """

    def __init__(self, broker: BrokerCore, handlers: dict[int, Handler] | None = None,
                 security: ListenerSecurity | None = None) -> None:
        self.broker = broker
        self.handlers = load_handlers() if handlers is None else handlers
        self.hooks: list[RequestHook] = []
        self.security = check_security(broker.config) if security is None else security

    def _scram_credential(self, user: str, mechanism: ScramMechanism) -> Any:
        return self.broker.image.scram_credential(user, int(mechanism))

    def _authenticator(self, conn: Any) -> SaslAuthenticator | None:
        """The connection's SASL state on a SASL listener (made on its first request);
        None elsewhere, where the principal is ANONYMOUS."""
        state = conn.state
        auth = state.get(AUTHENTICATOR_KEY)
        if auth is None:
            sasl = self.security.sasl_for(conn.listener_name)
            if sasl is None:
                state.setdefault(PRINCIPAL_KEY, ANONYMOUS)
                return None
            auth = state[AUTHENTICATOR_KEY] = SaslAuthenticator(sasl, self._scram_credential)
        return auth

    async def _raw_token(self, conn: Any, auth: SaslAuthenticator, frame: memoryview) -> list[Chunk]:
        """A SASL token after a v0 SaslHandshake: no header, the answer a bare
        size-prefixed token (Kafka's ``handleSaslToken`` without Kafka headers)."""
        result = auth.authenticate(bytes(frame), self.broker.clock_ms())
        if result.error_code != ErrorCode.NONE:
            await trio.sleep(auth.config.failed_authentication_delay_ms / 1000)
            raise CloseConnection(f"SASL authentication failed: {result.error_message}")
        if auth.authenticated:
            conn.state[PRINCIPAL_KEY] = auth.principal
        return [struct.pack(">i", len(result.auth_bytes)) + result.auth_bytes]

    async def handle(self, conn: Any, frame: memoryview) -> list[Chunk] | None:
        state = getattr(conn, "state", None)
        if getattr(conn, "muted_until", 0.0):
            await wait_unmuted(conn)  # a throttled channel (kafkapy.broker.quotas)
        started = time.perf_counter()  # TotalTimeMs (kafkapy.broker.metrics)
        auth = self._authenticator(conn) if state is not None else None
        if auth is not None and auth.raw_tokens and auth.state is SaslState.AUTHENTICATE:
            return await self._raw_token(conn, auth, frame)
        try:
            header, pos = decode_request_header(frame, 0)
        except WireError as exc:
            raise CloseConnection(f"bad request header: {exc}") from None
        key = header.request_api_key
        version = header.request_api_version
        if auth is not None:
            if not auth.admits(key):
                if auth.state is SaslState.AUTHENTICATE:
                    # Kafka answers ILLEGAL_SASL_STATE in the request's own shape after the
                    # failure delay, then closes (``SaslServerAuthenticator``).
                    await trio.sleep(auth.config.failed_authentication_delay_ms / 1000)
                    message = f"Unexpected Kafka request of type {key} during SASL authentication."
                    answer = self._error_answer(header, frame, pos, ErrorCode.ILLEGAL_SASL_STATE, message)
                    if answer is None:
                        raise CloseConnection(message)
                    conn.close()
                    return answer
                raise CloseConnection(f"Unexpected Kafka request of type {key} during SASL handshake.")
            if auth.authenticated and key != ApiKey.SASL_HANDSHAKE and auth.session_expired(self.broker.clock_ms()):
                raise CloseConnection("SASL session expired without re-authentication (KIP-368)")
        handler = self.handlers.get(key)
        if handler is None:
            raise CloseConnection(f"unknown or unsupported API key {key}")
        if not handler.min_version <= version <= handler.max_version:
            if key == ApiKey.API_VERSIONS and version > handler.max_version:
                from kafkapy.broker.handlers.api_versions import (
                    unsupported_version_response,
                )

                return encode_response(header, unsupported_version_response(handler), 0)
            raise CloseConnection(f"API key {key} version {version} is not supported")
        if auth is not None and key == ApiKey.API_VERSIONS and not auth.authenticated:
            auth.note_api_versions()  # a supported ApiVersions: only SaslHandshake may follow
        info = api_info(key)
        try:
            request = info.request_class.decode(frame, pos, version)[0]  # type: ignore[union-attr]
        except WireError as exc:
            raise CloseConnection(f"request does not decode: {exc}") from None
        ctx = RequestContext(header, conn, self.broker, self.handlers)
        verdict = ALLOWED if self.broker.authorizer is None else authorize_request(ctx, request)
        if verdict.refuse is not None:
            code, message = verdict.refuse
            answer = error_response(key, version, request, code, message)
            if answer is None or (key == ApiKey.PRODUCE and request.acks == 0):
                raise CloseConnection(f"API key {key} not authorized ({ErrorCode(code).name})")
            return encode_response(header, answer)
        timing = self.broker.request_quotas.begin(ctx)  # request_percentage (kafkapy.broker.quotas)
        response = None
        for hook in self.hooks:
            response = await hook(ctx, request)
            if response is not None:
                break
        if response is None:
            response = await handler.fn(ctx, request) if handler.is_async else handler.fn(ctx, request)
            if response is None:
                if verdict.merge is not None and key == ApiKey.PRODUCE:
                    raise CloseConnection("acks=0 produce to a topic not authorized")
                if key in QUOTA_APIS and self.broker.quotas.enabled:
                    self.broker.quotas.answer_none(ctx, len(frame))
                if timing is not None:
                    self.broker.request_quotas.end(ctx, timing, None)
                self.broker.metrics.on_request(key, version, request, None, started)
                return None
        if verdict.merge is not None:
            verdict.merge(response)
        if timing is not None:
            self.broker.request_quotas.end(ctx, timing, response)
        if key in QUOTA_APIS and self.broker.quotas.enabled:
            chunks = await self.broker.quotas.answer(ctx, request, response, len(frame))
        else:
            chunks = encode_response(header, response)
        self.broker.metrics.on_request(key, version, request, response, started)
        return chunks

    def _error_answer(self, header: Any, frame: memoryview, pos: int, code: int, message: str) -> list[Chunk] | None:
        """The request answered as a whole with ``code`` (``AbstractRequest.getErrorResponse``),
        or None when it does not decode or its shape is not known."""
        key, version = header.request_api_key, header.request_api_version
        handler = self.handlers.get(key)
        if handler is None or not handler.min_version <= version <= handler.max_version:
            return None
        try:
            request = api_info(key).request_class.decode(frame, pos, version)[0]  # type: ignore[union-attr]
        except WireError:
            return None
        answer = error_response(key, version, request, code, message)
        return None if answer is None else encode_response(header, answer)
