"""TLS connections (kafkapy.server.tls): the plaintext framing and dispatch over an
SSLSocket, file regions read and encrypted, writes that must be retried whole, a
plaintext peer refused, the endpoint's handshake hook."""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trustme

from kafkapy.server import BoundAddress, Listener, serve
from kafkapy.server.tls import _PIECE, _next_piece
from kafkapy.wire.buffers import FileRegion

from .helpers import RawDispatcher, assert_closed, command, frame, pattern, read_exactly, read_response

FILE_BYTES = 3 * 1024 * 1024 + 17


class Endpoint:
    """A TLS endpoint recording the peers it saw; refuses them when told to."""

    def __init__(self, context: ssl.SSLContext, refuse: bool = False) -> None:
        self.context = context
        self.refuse = refuse
        self.peers: list[Any] = []

    def on_handshake(self, conn: Any, peer_certificate: Any) -> None:
        if self.refuse:
            raise ValueError("refused by the test")
        self.peers.append((conn.connection_id, peer_certificate))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def endpoint(ca: trustme.CA) -> Endpoint:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return Endpoint(context)


@pytest.fixture
def file_dispatcher() -> Iterator[RawDispatcher]:
    with tempfile.TemporaryFile() as f:
        f.write(pattern(FILE_BYTES))
        f.flush()
        yield RawDispatcher(file_fd=f.fileno())


@pytest.fixture
def run_tls_server(nursery: trio.Nursery):  # type: ignore[no-untyped-def]
    async def start(dispatcher: RawDispatcher, endpoint: Endpoint) -> BoundAddress:
        addresses = await nursery.start(lambda task_status: serve(
            [Listener("SSL", "127.0.0.1", 0)], dispatcher, tls={"SSL": endpoint}, task_status=task_status))
        return addresses[0]

    return start


@asynccontextmanager
async def tls_connect(address: BoundAddress, ca: trustme.CA) -> AsyncIterator[trio.SSLStream]:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    tcp = await trio.open_tcp_stream(address.host, address.port)
    stream = trio.SSLStream(tcp, context, server_hostname="127.0.0.1")
    async with stream:
        await stream.do_handshake()
        yield stream


async def test_requests_and_file_regions_over_tls(run_tls_server, file_dispatcher, endpoint, ca) -> None:
    address = await run_tls_server(file_dispatcher, endpoint)
    expected = pattern(FILE_BYTES)
    regions = [(0, 10), (12345, 2 * 1024 * 1024 + 7), (FILE_BYTES - 1, 1), (100, 0)]
    with trio.fail_after(30):
        async with tls_connect(address, ca) as stream:
            await stream.send_all(b"".join(command(b"F", pos, n) + frame(b"Emid") for pos, n in regions))
            for pos, n in regions:
                assert await read_response(stream) == expected[pos: pos + n]
                assert await read_response(stream) == b"Emid...."
            # A request larger than the receive buffer (read alone, grown as it arrives).
            big = b"E" + pattern(300_000)
            await stream.send_all(frame(big))
            assert await read_response(stream) == big
    assert len(endpoint.peers) == 1 and endpoint.peers[0][1] is None  # no client certificate


async def test_a_slow_reader_gets_every_byte(run_tls_server, endpoint, ca) -> None:
    """Responses far larger than the socket buffers: writes wait and are retried whole."""
    address = await run_tls_server(RawDispatcher(), endpoint)
    size = 8 * 1024 * 1024
    with trio.fail_after(60):
        async with tls_connect(address, ca) as stream:
            await stream.send_all(command(b"B", size) + frame(b"Eafter"))
            await trio.sleep(0.3)  # let the server fill the socket and wait to write
            head = await read_exactly(stream, 4)
            body = bytearray()
            while len(body) < size:
                body += await stream.receive_some(min(16384, size - len(body)))
                if len(body) % (1024 * 1024) < 16384:
                    await trio.sleep(0.01)
            assert int.from_bytes(head, "big") == size and bytes(body) == pattern(size)
            assert await read_response(stream) == b"Eafter.."


async def test_a_plaintext_request_is_never_answered(run_tls_server, endpoint) -> None:
    address = await run_tls_server(RawDispatcher(), endpoint)
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(address.host, address.port)
        async with stream:
            await stream.send_all(frame(b"Eplaintext"))
            received = b""
            try:
                while chunk := await stream.receive_some(4096):
                    received += chunk
            except trio.BrokenResourceError:
                pass
    assert b"Eplaintext" not in received and (received == b"" or received[0] == 21)  # at most a TLS alert
    assert endpoint.peers == []


async def test_a_peer_the_endpoint_refuses_is_closed(run_tls_server, ca) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    address = await run_tls_server(RawDispatcher(), Endpoint(context, refuse=True))
    with trio.fail_after(10):
        async with tls_connect(address, ca) as stream:
            try:
                await stream.send_all(frame(b"Eignored"))
            except trio.BrokenResourceError:
                return
            await assert_closed(stream)


def test_pieces_cut_buffers_and_regions_in_order() -> None:
    with tempfile.TemporaryFile() as f:
        data = pattern(3 * _PIECE)
        f.write(data)
        f.flush()
        chunks: list[Any] = [b"head", memoryview(data)[: _PIECE], FileRegion(f.fileno(), 0, 2 * _PIECE), b"tail"]
        out = b""
        while chunks:
            piece, chunks = _next_piece(chunks)
            assert 0 < len(piece) <= _PIECE
            out += piece
        assert out == b"head" + data[:_PIECE] + data[: 2 * _PIECE] + b"tail"
