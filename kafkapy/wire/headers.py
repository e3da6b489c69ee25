"""Request and response headers (Kafka's RequestHeader.json / ResponseHeader.json).

Hand-written rather than generated, for two reasons: the header is decoded before
the API is known, in place and without copies; and ``client_id`` is a classic
int16-length nullable string even in header v2, so that any broker can read the
header of any ApiVersions request (KIP-482). A null client_id reads as "" as in
Kafka's ``RequestHeader.parse``.

Request header v1: api_key int16, api_version int16, correlation_id int32,
client_id nullable string. v2 = v1 + a tagged-field section (no known tags).
Response header v0: correlation_id int32. v1 = v0 + a tagged-field section.
"""

from __future__ import annotations

import struct

from kafkapy.wire.apis import api_info
from kafkapy.wire.errors import WireError
from kafkapy.wire.message import decode_error
from kafkapy.wire.messages._apis import API_TABLE
from kafkapy.wire.primitives import r_skip_tags

__all__ = [
    "RequestHeader",
    "decode_request_header",
    "decode_response_header",
    "encode_request_header",
    "encode_response_header",
]

_u_hhih = struct.Struct(">hhih").unpack_from
_p_hhih = struct.Struct(">hhih").pack
_u_i = struct.Struct(">i").unpack_from
_p_i = struct.Struct(">i").pack

# api key -> first flexible request version (header v2 from there); 2**15 if never
_HEADER_V2_FROM = {key: (row[5] if row[5] is not None else 1 << 15) for key, row in API_TABLE.items()}

_TRACE_FIELDS = True  # decode errors are located by the '# @field' comments


class RequestHeader:
    """A decoded request header; ``header_version`` is 1 or 2 (0 is ZooKeeper-era only)."""

    __slots__ = (
        "client_id",
        "correlation_id",
        "header_version",
        "request_api_key",
        "request_api_version",
    )

    def __init__(self, request_api_key: int, request_api_version: int, correlation_id: int,
                 client_id: str = "", header_version: int = 1) -> None:
        self.request_api_key = request_api_key
        self.request_api_version = request_api_version
        self.correlation_id = correlation_id
        self.client_id = client_id
        self.header_version = header_version

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestHeader):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"RequestHeader(api_key={self.request_api_key}, api_version={self.request_api_version}, "
                f"correlation_id={self.correlation_id}, client_id={self.client_id!r}, "
                f"header_version={self.header_version})")


def decode_request_header(buf: memoryview, pos: int = 0) -> tuple[RequestHeader, int]:
    """Decode the header at ``pos``; returns it and where the body starts.

    The header version follows from the API key and version: v2 iff that request
    version is flexible. For an API key no schema defines the header is read as v1
    (the caller rejects the key anyway).

    Raises:
        WireError: truncated header, bad client_id length or UTF-8.
    """
    try:
        key, version, correlation_id, n = _u_hhih(buf, pos); pos += 10  # @api_key..client_id
        if n >= 0:
            end = pos + n
            if end > len(buf):
                raise WireError(f"client_id length {n} exceeds the {len(buf) - pos} bytes remaining",
                                field="client_id", offset=pos - 2)
            client_id = str(buf[pos:end], "utf-8"); pos = end  # @client_id
        elif n == -1:
            client_id = ""
        else:
            raise WireError(f"client_id has length {n}", field="client_id", offset=pos - 2)
        header_version = 2 if version >= _HEADER_V2_FROM.get(key, 1 << 15) else 1
        if header_version == 2:
            pos = r_skip_tags(buf, pos)  # @_tagged_fields
    except Exception as exc:  # noqa: BLE001  # every failure of a decoder is bad input
        raise decode_error(exc, "RequestHeader", None) from None
    return RequestHeader(key, version, correlation_id, client_id, header_version), pos


def encode_request_header(out: bytearray, api_key: int, api_version: int, correlation_id: int,
                          client_id: str | None) -> None:
    """Append a request header (v1 or v2 as the API version requires) to ``out``."""
    info = api_info(api_key)
    if client_id is None:
        out += _p_hhih(api_key, api_version, correlation_id, -1)
    else:
        e = client_id.encode()
        out += _p_hhih(api_key, api_version, correlation_id, len(e))
        out += e
    if info is not None and info.request_header_version(api_version) == 2:
        out.append(0)


def encode_response_header(out: bytearray, correlation_id: int, header_version: int) -> None:
    """Append a response header, v0 or v1 (v1 adds an empty tagged-field section)."""
    out += _p_i(correlation_id)
    if header_version:
        out.append(0)


def decode_response_header(buf: memoryview, pos: int, header_version: int) -> tuple[int, int]:
    """The correlation id at ``pos`` and where the body starts."""
    try:
        correlation_id, = _u_i(buf, pos); pos += 4  # @correlation_id
        if header_version:
            pos = r_skip_tags(buf, pos)  # @_tagged_fields
    except Exception as exc:  # noqa: BLE001  # every failure of a decoder is bad input
        raise decode_error(exc, "ResponseHeader", None) from None
    return correlation_id, pos
