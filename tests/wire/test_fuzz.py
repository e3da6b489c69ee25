"""Hostile input: mutated, truncated and oversized encodings of every message and
version raise nothing but WireError, and never allocate what a length claims."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkapy.wire.codec import NEED_DATA, ClientCodec, RequestDecoder
from kafkapy.wire.errors import WireError
from tests.wire.message_strategies import (
    all_versions,
    filled_message,
    message_class,
    message_strategy,
)

ALL = all_versions(("request", "response", "data", "metadata", "coordinator-key", "coordinator-value"))
IDS = [f"{n}-v{v}" for n, v in ALL]


def _decode_or_wire_error(cls: type, data: bytes, version: int) -> None:
    try:
        cls.from_bytes(data, version)
    except WireError:
        pass


@pytest.mark.parametrize("name,version", ALL, ids=IDS)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_and_truncated(name: str, version: int, data: st.DataObject) -> None:
    msg = data.draw(message_strategy(name, version))
    encoded = bytearray(msg.to_bytes(version))
    cls = type(msg)
    cut = data.draw(st.integers(0, max(0, len(encoded) - 1)))
    _decode_or_wire_error(cls, bytes(encoded[:cut]), version)
    if encoded:
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(encoded) - 1))
            encoded[i] = data.draw(st.integers(0, 255))
        _decode_or_wire_error(cls, bytes(encoded), version)


@pytest.mark.parametrize("name,version", ALL, ids=IDS)
def test_huge_lengths_allocate_nothing(name: str, version: int) -> None:
    """Every 4-byte window set to 0x7fffffff, every byte to 0xff: a claimed 2**31
    bytes must be refused before anything of that size exists."""
    cls = message_class(name)
    base = filled_message(name, version).to_bytes(version) + b"\x00" * 8
    tracemalloc.start()
    try:
        for i in range(len(base)):
            for patch in (b"\x7f\xff\xff\xff", b"\xff", b"\xff\xff\xff\xff\x07"):
                mutated = base[:i] + patch + base[i + len(patch):]
                tracemalloc.reset_peak()
                _decode_or_wire_error(cls, mutated, version)
                assert tracemalloc.get_traced_memory()[1] < 1 << 20, (i, patch)
    finally:
        tracemalloc.stop()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_frames(frame: bytes) -> None:
    broker = RequestDecoder()
    broker.receive_data(len(frame).to_bytes(4, "big") + frame)
    try:
        broker.next_request()
    except WireError:
        pass


def test_frame_claiming_2_31_bytes_buffers_nothing() -> None:
    tracemalloc.start()
    try:
        broker = RequestDecoder(max_request_size=2**31 - 1)
        broker.receive_data(b"\x7f\xff\xff\xff" + b"\x00\x00")
        assert broker.next_request() is NEED_DATA
        client = ClientCodec(max_response_size=2**31 - 1)
        client.receive_data(b"\x7f\xff\xff\xff")
        assert client.next_response() is NEED_DATA
        assert tracemalloc.get_traced_memory()[1] < 1 << 16
    finally:
        tracemalloc.stop()
