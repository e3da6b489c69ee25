"""A minimal blocking Kafka client for test tooling: one request, one answer.

The probe, the fixtures' group queries and the cluster helpers talk to a broker
through Kafka's own protocol (``kafkapy.wire``'s client codec over a socket), so they
work the same against an in-process broker, a ``kafkapy serve`` process or a
container — and against Apache Kafka. Not a general client: no retries, no metadata
routing, requests sent to the one address given.
"""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Any, Self

from kafkapy.wire.codec import CLOSED, NEED_DATA, ClientCodec
from kafkapy.wire.message import Message


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as a (host, port) pair."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class KafkaConnection:
    """One blocking connection to a broker.

    Args:
        address: ``host:port``.
        timeout_s: bound on connecting and on each answer.

    Raises (from :meth:`request`):
        ConnectionError: the broker closed the connection (e.g. an API it does not
            serve) or could not be reached; ``TimeoutError`` when it did not answer.
    """

    def __init__(self, address: str, *, timeout_s: float = 10.0, client_id: str = "kafkapy-testing") -> None:
        self._sock = socket.create_connection(split_address(address), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._codec = ClientCodec(client_id)

    def request(self, body: Message, version: int) -> Any:
        """Send ``body`` in ``version`` and return the decoded response."""
        _, chunks = self._codec.encode_request(body, version)
        self._sock.sendall(b"".join(bytes(c) for c in chunks))  # type: ignore[arg-type]
        while True:
            item = self._codec.next_response()
            if item is CLOSED:
                raise ConnectionError("the broker closed the connection")
            if item is not NEED_DATA:
                return item[1]  # type: ignore[index]
            data = self._sock.recv(65536)
            self._codec.receive_data(data)
            if not data:
                raise ConnectionError("the broker closed the connection")

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
