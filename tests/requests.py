"""One raw request on a fresh connection, for tests of how the broker answers (or
refuses) a request: the answer, or None when the broker closed the connection."""

from __future__ import annotations

import socket
from typing import Any

from kafkapy.wire.codec import ClientCodec
from kafkapy.wire.message import Message


def ask(bootstrap: str, body: Message, version: int, *, client_id: str = "tests",
        timeout_s: float = 30) -> Any:
    """Send ``body`` at ``version`` on a new connection; its response, or None if the
    broker closed (or reset) the connection instead of answering."""
    host, port = bootstrap.rsplit(":", 1)
    codec = ClientCodec(client_id)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        _, chunks = codec.encode_request(body, version)
        sock.sendall(b"".join(bytes(c) for c in chunks))
        while True:
            item = codec.next_response()
            if isinstance(item, tuple):
                return item[1]
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            codec.receive_data(data)
