"""Bad input from the network against a live broker, while a well-behaved client works.

Each case gets what Kafka gives it: an error code in the response where the protocol
has one (a corrupt batch CRC: CORRUPT_MESSAGE), otherwise the connection is closed
(garbage, an unknown API key, an unsupported version, a 2 GiB size header, an acks=0
produce that fails). A second client on its own connections produces and consumes
throughout, and must see every one of its records.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
import uuid
from typing import Self

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from kafkapy.wire.codec import ClientCodec
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.records import CRC_OFFSET, Record, build_batch


class RawClient:
    """A blocking socket speaking the protocol through kafkapy's client codec."""

    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.codec = ClientCodec("raw-test")

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, body, version: int, *, expect_response: bool = True):
        _, chunks = self.codec.encode_request(body, version, expect_response=expect_response)
        self.sock.sendall(b"".join(bytes(c) for c in chunks))
        if not expect_response:
            return None
        return self.response()

    def response(self):
        while True:
            item = self.codec.next_response()
            if isinstance(item, tuple):
                return item[1]
            data = self.sock.recv(65536)
            self.codec.receive_data(data)
            if not data:
                raise ConnectionError("closed by the broker")

    def is_closed_by_peer(self) -> bool:
        """True once the broker has closed the connection (EOF within the timeout)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


class Bystander:
    """A confluent-kafka producer and consumer working in a thread the whole time."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.topic = f"bystander-{uuid.uuid4().hex[:8]}"
        self.sent = 0
        self.errors: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def _produce(self) -> None:
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 1, "acks": "all"})
        while not self._stop.is_set():
            p.produce(self.topic, b"%d" % self.sent,
                      on_delivery=lambda err, msg: err and self.errors.append(err))
            self.sent += 1
            p.poll(0)
            time.sleep(0.002)
        assert p.flush(30) == 0

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self.errors
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "unused", "enable.auto.commit": False})
        try:
            c.assign([TopicPartition(self.topic, 0, 0)])
            values = []
            deadline = time.monotonic() + 30
            while len(values) < self.sent and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and m.error() is None:
                    values.append(m.value())
        finally:
            c.close()
        assert values == [b"%d" % i for i in range(self.sent)]


@pytest.fixture
def bystander(broker):
    with Bystander(broker.bootstrap_servers) as b:
        yield b


def produce_request(topic: str, batch: bytes, acks: int = -1) -> ProduceRequest:
    return ProduceRequest(acks=acks, timeout_ms=10_000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=batch)])])


def good_batch() -> bytes:
    return build_batch([Record(0, 0, b"k", b"v")], base_timestamp=int(time.time() * 1000))


def test_corrupt_crc_is_answered_corrupt_message(broker, bystander, topic):
    client = RawClient(broker.bootstrap_servers)
    try:
        client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]), 12)
        batch = bytearray(good_batch())
        batch[CRC_OFFSET] ^= 0xFF
        response = client.request(produce_request(topic, bytes(batch)), 9)
        part = response.responses[0].partition_responses[0]
        assert part.error_code == ErrorCode.CORRUPT_MESSAGE
        # The connection stays usable, and a good batch is then appended at offset 0.
        response = client.request(produce_request(topic, good_batch()), 9)
        part = response.responses[0].partition_responses[0]
        assert (part.error_code, part.base_offset) == (ErrorCode.NONE, 0)
    finally:
        client.close()


def test_acks_zero_failure_closes_the_connection(broker, bystander, topic):
    client = RawClient(broker.bootstrap_servers)
    try:
        client.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]), 12)
        batch = bytearray(good_batch())
        batch[CRC_OFFSET] ^= 0xFF
        client.request(produce_request(topic, bytes(batch), acks=0), 9, expect_response=False)
        assert client.is_closed_by_peer()
    finally:
        client.close()


@pytest.mark.parametrize("payload", [
    pytest.param(struct.pack(">i", 2**31 - 1) + b"\x00" * 16, id="2GiB-size-header"),
    pytest.param(struct.pack(">i", -5) + b"\x00" * 16, id="negative-size"),
    pytest.param(struct.pack(">i", 24) + struct.pack(">hhih", 999, 0, 1, -1) + os.urandom(14), id="unknown-api-key"),
    pytest.param(struct.pack(">i", 10) + struct.pack(">hhih", 3, 99, 1, -1), id="unsupported-version"),
    pytest.param(struct.pack(">i", 3) + b"\x00\x03\x00", id="truncated-header"),
    pytest.param(struct.pack(">i", 64) + os.urandom(64), id="garbage"),
    pytest.param(struct.pack(">i", 40) + struct.pack(">hhih", 3, 12, 7, -1) + b"\xff" * 30, id="bad-body"),
])
def test_connection_closed_for_undecodable_requests(broker, bystander, payload):
    client = RawClient(broker.bootstrap_servers)
    try:
        client.send_bytes(payload)
        assert client.is_closed_by_peer()
    finally:
        client.close()


def test_truncated_frame_then_disconnect(broker, bystander):
    client = RawClient(broker.bootstrap_servers)
    client.send_bytes(struct.pack(">i", 1000) + b"\x00\x12\x00\x03" + b"\x00" * 20)
    client.close()
    # The broker still answers a fresh connection.
    other = RawClient(broker.bootstrap_servers)
    try:
        assert other.request(ApiVersionsRequest(), 0).error_code == ErrorCode.NONE
    finally:
        other.close()


def test_api_versions_newer_than_supported_gets_v0_error(broker):
    client = RawClient(broker.bootstrap_servers)
    try:
        # ApiVersions v99, header v2 (flexible), empty tagged fields and body.
        frame = struct.pack(">hhih", 18, 99, 42, 4) + b"test" + b"\x00" + b"\x00"
        client.send_bytes(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", client.sock.recv(4))[0]
        data = b""
        while len(data) < size:
            data += client.sock.recv(size - len(data))
        correlation_id, error_code, count = struct.unpack_from(">ihi", data)
        assert (correlation_id, error_code, count) == (42, ErrorCode.UNSUPPORTED_VERSION, 1)
        assert struct.unpack_from(">hhh", data, 10) == (18, 0, 5)
    finally:
        client.close()


def test_api_versions_advertises_kafka_41_minimums(broker):
    client = RawClient(broker.bootstrap_servers)
    try:
        response = client.request(ApiVersionsRequest(client_software_name="raw-test",
                                                     client_software_version="1.0"), 3)
        ranges = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
        assert ranges[0][0] == 0 and ranges[0][1] >= 7  # Produce: 0 for old librdkafka, zstd needs 7
        assert ranges[1][0] <= 4 and ranges[1][1] >= 10  # Fetch: librdkafka's MsgVer2 and ZSTD checks
        assert ranges[22][0] == 0  # InitProducerId v0: librdkafka's IdempotentProducer check
        assert ranges[2][0] <= 1  # ListOffsets: OffsetTime
        assert {f.name: f.max_version_level for f in response.finalized_features}["metadata.version"] == 27
        bad = client.request(ApiVersionsRequest(client_software_name="bad name!",
                                                client_software_version="1"), 3)
        assert bad.error_code == ErrorCode.INVALID_REQUEST
    finally:
        client.close()
