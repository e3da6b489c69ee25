"""Requests built with kafkapy's generated message classes, for the oracle.

kafka-python has no classes for the share-group and streams-group APIs; these are
encoded and decoded with kafkapy.wire's classes (generated from Kafka 4.4's JSON
schemas) instead. Its own module, so that ``python -m compat_tests.oracle`` and the
corpus modules importing ``compat_tests.oracle`` see one class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafkapy.wire.codec import ClientCodec
from kafkapy.wire.message import Message


@dataclass
class Native:
    """A request encoded with kafkapy's generated classes (Kafka 4.4's JSON schemas), for
    the APIs kafka-python has no classes for (share and streams groups). The reference's
    answers validate the encoding; both brokers' responses are decoded with the same classes."""

    body: Message
    version: int
    codec: ClientCodec | None = None

    def frame(self) -> bytes:
        self.codec = ClientCodec("kafkapy-oracle")
        _, chunks = self.codec.encode_request(self.body, self.version)
        return b"".join(bytes(c) for c in chunks)  # type: ignore[arg-type]

    def decode(self, frame: bytes) -> dict:
        assert self.codec is not None, "decode before frame"
        self.codec.receive_data(frame)
        item = self.codec.next_response()
        return plain(item[1])  # type: ignore[index]


def plain(value: Any) -> Any:
    """A generated message as nested dicts of its fields (as kafka-python's ``to_dict``)."""
    if isinstance(value, Message):
        return {name: plain(getattr(value, name)) for name in value.__slots__}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, memoryview):
        return bytes(value)
    return value
