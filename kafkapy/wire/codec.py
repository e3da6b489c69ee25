"""Sans-I/O framing and codecs: bytes in, messages out, and back (modelled on h11).

The caller owns the socket and the loop::

    decoder = RequestDecoder(max_request_size)
    decoder.receive_data(await stream.receive_some())    # b"" means EOF
    while (item := decoder.next_request()) is not NEED_DATA and item is not CLOSED:
        header, body = item
        ...
        chunks = encode_response(header, response)       # send with sendmsg/sendfile

Every frame is an int32 size then that many bytes. The size is checked against
the limit (Kafka's ``socket.request.max.bytes``) before anything is buffered for it;
a frame that arrived in one piece is handed out as a memoryview of that piece, with
no copy, and one spread over several pieces is joined once. Decoded RECORDS fields
are memoryviews of the frame. After any error the decoder is poisoned: every later
call raises the same WireError, and the caller closes the connection.

:class:`ClientCodec` is the other side (encode requests, decode responses), used by
the Raft driver and by tests.
"""

from __future__ import annotations

import struct
from collections import deque

from kafkapy.wire.apis import ApiKey, api_info
from kafkapy.wire.buffers import Chunk, Writer, chunks_length
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.headers import (
    RequestHeader,
    decode_request_header,
    decode_response_header,
    encode_request_header,
    encode_response_header,
)
from kafkapy.wire.message import Message, unsupported_version

__all__ = [
    "CLOSED",
    "DEFAULT_MAX_REQUEST_SIZE",
    "NEED_DATA",
    "ClientCodec",
    "FrameReader",
    "RequestDecoder",
    "decode_request_body",
    "encode_response",
]

#: Kafka's ``socket.request.max.bytes`` default (100 MiB).
DEFAULT_MAX_REQUEST_SIZE = 104857600

_u_i = struct.Struct(">i").unpack_from
_p_i = struct.Struct(">i").pack


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: More bytes are needed before the next item can be returned.
NEED_DATA = _Sentinel("NEED_DATA")
#: The peer closed the connection cleanly, between frames.
CLOSED = _Sentinel("CLOSED")


class FrameReader:
    """Splits a byte stream into size-prefixed frames.

    Not task-safe: one reader per connection, used by the connection's reader only.
    """

    __slots__ = ("_avail", "_chunks", "_eof", "_error", "_head", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_REQUEST_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._chunks: deque[bytes] = deque()
        self._head = 0      # bytes of _chunks[0] already consumed
        self._avail = 0     # bytes buffered and not consumed
        self._eof = False
        self._error: WireError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned in a frame."""
        return self._avail

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer closed its side."""
        if self._eof and data:
            raise RuntimeError("receive_data after EOF")
        if not data:
            self._eof = True
            return
        if not isinstance(data, bytes):
            data = bytes(data)  # frames are views of the pieces: they must not change
        self._chunks.append(data)
        self._avail += len(data)

    def fail(self, error: WireError) -> WireError:
        """Poison the reader with ``error`` (and return it, for ``raise``)."""
        self._error = error
        self._chunks.clear()
        self._avail = 0
        return error

    def next_frame(self) -> memoryview | _Sentinel:
        """The next complete frame (without its size), NEED_DATA or CLOSED.

        Raises:
            WireError: a size outside [0, max_frame_size], or EOF inside a frame.
        """
        if self._error is not None:
            raise self._error
        if self._avail < 4:
            if not self._eof:
                return NEED_DATA
            if self._avail == 0:
                return CLOSED
            raise self.fail(WireError("connection closed inside a frame size"))
        first = self._chunks[0]
        if len(first) - self._head >= 4:
            size = _u_i(first, self._head)[0]
        else:
            size = _u_i(self._peek(4))[0]
        if size < 0 or size > self.max_frame_size:
            # Kafka's InvalidReceiveException: checked before any byte of it is kept
            raise self.fail(WireError(
                f"frame size {size} is outside [0, {self.max_frame_size}]", offset=0,
            ))
        if self._avail < 4 + size:
            if self._eof:
                raise self.fail(WireError(
                    f"connection closed with {self._avail - 4} of {size} frame bytes"))
            return NEED_DATA
        return self._take(4 + size)[4:]

    def _peek(self, n: int) -> bytes:
        out = bytearray()
        head = self._head
        for c in self._chunks:
            out += c[head:head + n - len(out)]
            head = 0
            if len(out) == n:
                break
        return bytes(out)

    def _take(self, n: int) -> memoryview:
        chunks = self._chunks
        first = chunks[0]
        head = self._head
        self._avail -= n
        if len(first) - head >= n:
            view = memoryview(first)[head:head + n]
            if len(first) - head == n:
                chunks.popleft()
                self._head = 0
            else:
                self._head = head + n
            return view
        parts = []
        need = n
        while need:
            c = chunks[0]
            piece = memoryview(c)[head:head + need]
            parts.append(piece)
            need -= len(piece)
            if head + len(piece) == len(c):
                chunks.popleft()
                head = 0
            else:
                head += len(piece)
        self._head = head
        return memoryview(b"".join(parts))


class RequestDecoder:
    """The broker side of a connection: frames in, (RequestHeader, body) out.

    Args:
        max_request_size: the largest frame accepted (``socket.request.max.bytes``).
        decode_bodies: if False, ``next_request`` returns the body as a memoryview
            (checked for a known API key and version); decode it later with
            :func:`decode_request_body`.
    """

    __slots__ = ("_frames", "decode_bodies")

    def __init__(self, max_request_size: int = DEFAULT_MAX_REQUEST_SIZE, *,
                 decode_bodies: bool = True) -> None:
        self._frames = FrameReader(max_request_size)
        self.decode_bodies = decode_bodies

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes from the socket; ``b""`` means EOF."""
        self._frames.receive_data(data)

    def next_request(self) -> tuple[RequestHeader, Message | memoryview | None] | _Sentinel:
        """The next request, NEED_DATA, or CLOSED.

        Returns:
            ``(header, body)``. ``body`` is None only for an ApiVersions request newer
            than we know: Kafka answers it with an ApiVersions v0 response carrying
            UNSUPPORTED_VERSION and its supported range (KIP-511).
        Raises:
            WireError: bad framing, an unknown API key or unsupported version
                (Kafka closes the connection for these), or an undecodable body.
                The decoder stays poisoned.
        """
        frames = self._frames
        frame = frames.next_frame()
        if not isinstance(frame, memoryview):
            return frame
        try:
            header, pos = decode_request_header(frame, 0)
            info = api_info(header.request_api_key)
            if info is None:
                raise WireError(f"unknown API key {header.request_api_key}",
                                error_code=ErrorCode.INVALID_REQUEST)
            if not info.supports(header.request_api_version):
                if info.key == ApiKey.API_VERSIONS and header.request_api_version > info.max_version:
                    return header, None
                raise unsupported_version(info.name, header.request_api_version)
            if not self.decode_bodies:
                return header, frame[pos:]
            # decode within the frame, so error offsets count from the frame start
            return header, info.request_class.decode(frame, pos, header.request_api_version)[0]
        except WireError as exc:
            raise frames.fail(exc) from None


def decode_request_body(header: RequestHeader, body: memoryview) -> Message:
    """Decode a body returned by a ``RequestDecoder(decode_bodies=False)``."""
    info = api_info(header.request_api_key)
    if info is None:
        raise WireError(f"unknown API key {header.request_api_key}")
    return info.request_class.decode(body, 0, header.request_api_version)[0]


def encode_response(header: RequestHeader, body: Message, version: int | None = None) -> list[Chunk]:
    """The frame of a response: int32 size, response header, body, as chunks.

    Args:
        header: the request's header (API key, correlation id).
        body: the response message.
        version: the body's version; the request's version unless given (an
            ApiVersions error answer is v0 whatever was asked).
    Returns:
        Bytes-like chunks and FileRegions, in order; record pieces are not copied.
    """
    if version is None:
        version = header.request_api_version
    info = api_info(header.request_api_key)
    if info is None:
        raise ValueError(f"unknown API key {header.request_api_key}")
    w = Writer(b"\0\0\0\0")
    encode_response_header(w.buf, header.correlation_id, info.response_header_version(version))
    body.encode(version, w)
    chunks = w.finish()
    chunks[0][0:4] = _p_i(chunks_length(chunks) - 4)  # type: ignore[index]
    return chunks


class ClientCodec:
    """The client side of a connection: requests out, (correlation id, response) in.

    Correlation ids are assigned here, in order; responses must come back in the
    order requests were sent (Kafka's guarantee per connection).
    """

    __slots__ = ("_frames", "_inflight", "_next_id", "client_id")

    def __init__(self, client_id: str | None = "kafkapy", *,
                 max_response_size: int = 2**31 - 1) -> None:
        self.client_id = client_id
        self._frames = FrameReader(max_response_size)
        self._next_id = 0
        self._inflight: dict[int, tuple[int, int, type[Message]]] = {}

    def encode_request(self, body: Message, version: int, *,
                       expect_response: bool = True) -> tuple[int, list[Chunk]]:
        """Frame ``body`` as a request; returns (correlation id, chunks).

        ``expect_response=False`` is for Produce with acks=0, which gets no answer.
        """
        key = type(body).API_KEY  # type: ignore[attr-defined]
        info = api_info(key)
        if info is None or not info.supports(version):
            raise ValueError(f"{type(body).__name__} has no version {version}")
        correlation_id = self._next_id
        self._next_id = (self._next_id + 1) & 0x7FFFFFFF
        w = Writer(b"\0\0\0\0")
        encode_request_header(w.buf, key, version, correlation_id, self.client_id)
        body.encode(version, w)
        chunks = w.finish()
        chunks[0][0:4] = _p_i(chunks_length(chunks) - 4)  # type: ignore[index]
        if expect_response:
            self._inflight[correlation_id] = (key, version, info.response_class)
        return correlation_id, chunks

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        self._frames.receive_data(data)

    def next_response(self) -> tuple[int, Message] | _Sentinel:
        """The next response as (correlation id, message), NEED_DATA or CLOSED.

        Raises:
            WireError: bad framing, a correlation id we did not send, or a body
                that does not decode. The codec stays poisoned.
        """
        frames = self._frames
        frame = frames.next_frame()
        if not isinstance(frame, memoryview):
            return frame
        try:
            correlation_id, = _u_i(frame, 0) if len(frame) >= 4 else (None,)
            if correlation_id not in self._inflight:
                raise WireError(f"response with unexpected correlation id {correlation_id}")
            key, version, cls = self._inflight.pop(correlation_id)
            info = api_info(key)
            _, pos = decode_response_header(frame, 0, info.response_header_version(version))  # type: ignore[union-attr]
            return correlation_id, cls.decode(frame, pos, version)[0]
        except WireError as exc:
            raise frames.fail(exc) from None
