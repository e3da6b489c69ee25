"""Envelope (API key 58) v0: admin requests an Apache Kafka broker forwards (KIP-590).

A Kafka broker in KRaft mode sends the admin requests of its clients (CreateTopics,
DeleteTopics, AlterConfigs, ... and the CreateTopics of ``__consumer_offsets``) to
the active controller wrapped in an Envelope: the client's request header and body
whole, the client's principal (``DefaultKafkaPrincipalBuilder.serialize``: int16
version, then ``DefaultPrincipalData`` v0) and address. The controller runs the inner
request as the forwarded principal and answers the inner response, header included,
in ``response_data`` (``ControllerApis.handleEnvelopeRequest``, ``EnvelopeUtils``).
kafkapy brokers forward the same way (``controller_channel.forwarding_hook``), so the
controller counts a client's controller mutations (KIP-599) under the client's own
principal and client id whichever broker it reached, as Kafka's ``ControllerApis``;
the throttle time goes back in the inner response (the broker mutes its client's
channel), the channel of the forwarding broker is never muted.

Errors, as Kafka's: an inner request that does not parse, or one whose API the
controller listener does not serve, fails the envelope with INVALID_REQUEST; an
unsupported inner version with UNSUPPORTED_VERSION; an unreadable principal with
PRINCIPAL_DESERIALIZATION_FAILURE. NOT_CONTROLLER travels in the inner response,
where the Kafka broker's ``ForwardingManager`` looks for it.
"""

from __future__ import annotations

from typing import Any

from kafkapy.broker.context import RequestContext
from kafkapy.broker.handlers.controller import controller_only
from kafkapy.wire.apis import ApiKey, api_info
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.headers import decode_request_header
from kafkapy.wire.primitives import r_cstr, r_skip_tags


class _ForwardedConnection:
    """The sending broker's connection seen with the forwarded client's principal.

    Attributes:
        forwarded: True: quotas count the forwarded client, and never mute this channel.
    """

    forwarded = True

    def __init__(self, conn: Any, principal: Any) -> None:
        from kafkapy.broker.security.principal import PRINCIPAL_KEY

        self._conn = conn
        self.state = {**(getattr(conn, "state", None) or {}), PRINCIPAL_KEY: principal}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def read_principal(data: bytes | memoryview) -> Any:
    """The principal of ``DefaultKafkaPrincipalBuilder.serialize``.

    Raises:
        WireError: not a version 0 ``DefaultPrincipalData``.
    """
    from kafkapy.broker.security.principal import KafkaPrincipal

    buf = memoryview(data)
    if len(buf) < 3 or int.from_bytes(buf[0:2], "big", signed=True) != 0:
        raise WireError("unknown principal data version")
    principal_type, pos = r_cstr(buf, 2)
    name, pos = r_cstr(buf, pos)
    if pos >= len(buf):
        raise WireError("principal data ends early")
    r_skip_tags(buf, pos + 1)  # token_authenticated, then the tagged fields
    return KafkaPrincipal(principal_type, name)


def write_principal(principal: Any) -> bytes:
    """``DefaultKafkaPrincipalBuilder.serialize``: int16 version 0, then
    ``DefaultPrincipalData`` v0 (type, name, token_authenticated false, no tags)."""
    from kafkapy.wire.primitives import w_cstr

    out = bytearray(b"\0\0")
    w_cstr(out, principal.principal_type)
    w_cstr(out, principal.name)
    out += b"\0\0"
    return bytes(out)


def _answer(code: int, data: bytes | None = None) -> Any:
    from kafkapy.wire.messages.envelope import EnvelopeResponse

    return EnvelopeResponse(response_data=data, error_code=code)


@controller_only(ApiKey.ENVELOPE, versions=(0, 0))
async def handle_envelope(ctx: RequestContext, request: Any) -> Any:
    from kafkapy.broker.error_response import error_response
    from kafkapy.broker.request_authorization import authorize_request
    from kafkapy.wire.codec import encode_response

    frame = memoryview(bytes(request.request_data))
    try:
        header, pos = decode_request_header(frame, 0)
    except WireError:
        return _answer(ErrorCode.INVALID_REQUEST)
    key, version = header.request_api_key, header.request_api_version
    handler = ctx.handlers.get(key)
    info = api_info(key)
    if handler is None or info is None or key == ApiKey.ENVELOPE:
        return _answer(ErrorCode.INVALID_REQUEST)
    if not handler.min_version <= version <= handler.max_version:
        return _answer(ErrorCode.UNSUPPORTED_VERSION)
    try:
        inner = info.request_class.decode(frame, pos, version)[0]  # type: ignore[union-attr]
    except WireError:
        return _answer(ErrorCode.INVALID_REQUEST)
    conn: Any = ctx.conn
    if request.request_principal is not None:
        try:
            conn = _ForwardedConnection(ctx.conn, read_principal(request.request_principal))
        except (WireError, IndexError, UnicodeDecodeError):
            return _answer(ErrorCode.PRINCIPAL_DESERIALIZATION_FAILURE)
    inner_ctx = RequestContext(header, conn, ctx.broker, ctx.handlers)
    response = None
    if ctx.broker.authorizer is not None:
        verdict = authorize_request(inner_ctx, inner)
        if verdict.refuse is not None:
            response = error_response(key, version, inner, *verdict.refuse)
            if response is None:
                return _answer(ErrorCode.INVALID_REQUEST)
    if response is None:
        response = await handler.fn(inner_ctx, inner) if handler.is_async else handler.fn(inner_ctx, inner)
        if ctx.broker.authorizer is not None and verdict.merge is not None:
            verdict.merge(response)
    chunks = encode_response(header, response)
    return _answer(ErrorCode.NONE, b"".join(bytes(c) for c in chunks)[4:])
