"""The broker's side of the server edge: request frame in, response chunks out.

Order of checks, as Kafka's ``SocketServer``/``RequestChannel`` does them:

1. Decode the request header. A header that does not decode closes the connection.
2. Find the handler. An API key this broker does not implement, or a version outside
   the registered range, closes the connection (``InvalidRequestException`` in
   Kafka), with one exception: an ApiVersions request newer than we know is answered
   with a v0 body carrying UNSUPPORTED_VERSION and our ApiVersions range (KIP-511).
3. Decode the body. Bad bytes close the connection (Kafka cannot answer a request it
   cannot parse).
4. Run the request hooks (the fault-injection point at the server→broker edge),
   then the handler, and encode its response in the request's version.

A handler returning None sends nothing (acks=0 produce); raising ``CloseConnection``
closes the connection after earlier responses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.errors import CloseConnection
from kafkapy.broker.registry import Handler, load_handlers
from kafkapy.wire.apis import ApiKey, api_info
from kafkapy.wire.codec import encode_response
from kafkapy.wire.errors import WireError
from kafkapy.wire.headers import decode_request_header

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
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
    """

    def __init__(self, broker: BrokerCore, handlers: dict[int, Handler] | None = None) -> None:
        self.broker = broker
        self.handlers = load_handlers() if handlers is None else handlers
        self.hooks: list[RequestHook] = []

    async def handle(self, conn: Any, frame: memoryview) -> list[Chunk] | None:
        try:
            header, pos = decode_request_header(frame, 0)
        except WireError as exc:
            raise CloseConnection(f"bad request header: {exc}") from None
        key = header.request_api_key
        version = header.request_api_version
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
        info = api_info(key)
        try:
            request = info.request_class.decode(frame, pos, version)[0]  # type: ignore[union-attr]
        except WireError as exc:
            raise CloseConnection(f"request does not decode: {exc}") from None
        ctx = RequestContext(header, conn, self.broker, self.handlers)
        response = None
        for hook in self.hooks:
            response = await hook(ctx, request)
            if response is not None:
                break
        if response is None:
            response = await handler.fn(ctx, request) if handler.is_async else handler.fn(ctx, request)
            if response is None:
                return None
        return encode_response(header, response)
