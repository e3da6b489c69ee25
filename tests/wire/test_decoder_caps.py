"""Count caps of the decoders, as Kafka 4.4's message readers have them.

Kafka 4.4.0's upgrade notes: "Arrays and collections with more than 1,000,000
elements and flexible-version tagged-field sections with more than 10,000 fields are
rejected before allocation"; before that (KAFKA-14063) a count above the bytes
remaining was refused ("Tried to allocate a collection of size N, but there are only
M bytes remaining"). Each refusal is one WireError naming the API, version, field
path and byte offset, and nothing the count claims is built first.
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from kafkapy.wire.buffers import write_uvarint
from kafkapy.wire.codec import RequestDecoder, decode_request_body
from kafkapy.wire.errors import WireError
from kafkapy.wire.headers import decode_request_header
from kafkapy.wire.messages.broker_heartbeat import BrokerHeartbeatRequest
from kafkapy.wire.messages.describe_producers import DescribeProducersRequest
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.primitives import MAX_COLLECTION_SIZE, MAX_TAGGED_FIELDS
from kafkapy.wire.produce_fast import decode_produce_request

ONE_MB = 1 << 20


def _uv(n: int) -> bytes:
    b = bytearray()
    write_uvarint(b, n)
    return bytes(b)


def _describe_producers(count: int, *, claimed: int | None = None) -> bytes:
    """DescribeProducers v0 (flexible) with one topic of ``count`` int32 partitions,
    its compact count field set to ``claimed`` if given."""
    topic = DescribeProducersRequest.TopicRequest(name="t", partition_indexes=list(range(count)))
    data = DescribeProducersRequest(topics=[topic]).to_bytes(0)
    if claimed is None:
        return data
    head = 1 + 1 + len("t")  # topics count, name length, name
    return data[:head] + _uv(claimed + 1) + data[head + len(_uv(count + 1)):]


def test_a_collection_of_exactly_the_maximum_decodes() -> None:
    msg = DescribeProducersRequest.from_bytes(_describe_producers(MAX_COLLECTION_SIZE), 0)
    assert len(msg.topics[0].partition_indexes) == MAX_COLLECTION_SIZE


def test_a_collection_above_the_maximum_is_refused_with_its_place() -> None:
    data = _describe_producers(MAX_COLLECTION_SIZE + 1)
    assert len(data) > 4 * (MAX_COLLECTION_SIZE + 1)  # the bytes are all there: the cap refuses it
    with pytest.raises(WireError) as info:
        DescribeProducersRequest.from_bytes(data, 0)
    err = info.value
    assert (err.api, err.version, err.field, err.offset) == (
        "DescribeProducersRequest", 0, "topics.partition_indexes", 3)
    assert "exceeds the maximum of 1000000 elements" in str(err)


def test_a_count_above_the_bytes_remaining_is_refused_as_kafka_words_it() -> None:
    data = _describe_producers(3, claimed=1000)
    with pytest.raises(WireError) as info:
        DescribeProducersRequest.from_bytes(data, 0)
    assert "Tried to allocate a collection of size 1000, but there are only" in str(info.value)
    assert info.value.field == "topics.partition_indexes"


def test_fixed_width_elements_are_checked_against_their_bytes_before_unpacking() -> None:
    # 100 uuids claimed, 120 bytes present: below the one-byte-per-element bound, far
    # below 100 x 16 bytes. Refused before a struct format for 100 uuids is built.
    body = BrokerHeartbeatRequest(broker_id=1, broker_epoch=2, current_metadata_offset=3,
                                  offline_log_dirs=[bytes(16)]).to_bytes(1)
    start = body.index(_uv(2) + bytes(16))
    data = body[:start] + _uv(101) + bytes(120)
    with pytest.raises(WireError) as info:
        BrokerHeartbeatRequest.from_bytes(data, 1)
    assert info.value.field == "offline_log_dirs"
    assert "length 1600 exceeds the 120 bytes remaining" in str(info.value)


def _header_v2(tagged: bytes) -> bytes:
    """An ApiVersions v3 request header (v2: flexible) with the given tagged section."""
    return struct.pack(">hhih", 18, 3, 7, 4) + b"test" + tagged


@pytest.mark.parametrize("count,ok", [(MAX_TAGGED_FIELDS, True), (MAX_TAGGED_FIELDS + 1, False)])
def test_tagged_field_sections_are_capped(count: int, ok: bool) -> None:
    # every field an unknown tag 0 of size 0: two bytes each, all present
    frame = memoryview(_header_v2(_uv(count) + b"\x00\x00" * count))
    if ok:
        header, pos = decode_request_header(frame)
        assert (header.request_api_key, pos) == (18, len(frame))
        return
    with pytest.raises(WireError) as info:
        decode_request_header(frame)
    assert info.value.field == "_tagged_fields"
    assert f"{count} tagged fields exceed the maximum of {MAX_TAGGED_FIELDS}" in str(info.value)


def test_a_tagged_field_count_above_what_the_bytes_hold_is_refused() -> None:
    # CVE-2026-111115: 5,000 fields claimed, 100 bytes behind them (2 per field at least)
    frame = memoryview(_header_v2(_uv(5000) + b"\x00" * 100))
    with pytest.raises(WireError) as info:
        decode_request_header(frame)
    assert "5000 tagged fields cannot fit in the 100 bytes remaining" in str(info.value)


def test_a_known_tagged_section_in_a_body_is_capped_too() -> None:
    # Produce v12's body has no known tagged field at the top; Metadata v12 neither:
    # a struct with known tags is FetchRequest v12 (cluster_id, replica_state...).
    from kafkapy.wire.messages.fetch import FetchRequest

    body = FetchRequest(max_wait_ms=1, min_bytes=1, topics=[]).to_bytes(12)
    assert body.endswith(b"\x00")
    data = body[:-1] + _uv(MAX_TAGGED_FIELDS + 1) + b"\x00\x00" * (MAX_TAGGED_FIELDS + 1)
    with pytest.raises(WireError) as info:
        FetchRequest.from_bytes(data, 12)
    assert (info.value.api, info.value.field) == ("FetchRequest", "_tagged_fields")


@pytest.mark.parametrize("version", [3, 9])
def test_the_hand_tuned_produce_decoder_caps_as_the_generated_one(version: int) -> None:
    partition = ProduceRequest.PartitionProduceData(index=0, records=None)
    topic = ProduceRequest.TopicProduceData(name="t", partition_data=[partition])
    body = ProduceRequest(acks=1, timeout_ms=1, topic_data=[topic]).to_bytes(version)
    # the topic count claims MAX + 1 and the frame holds enough bytes for that many
    flexible = version >= 9
    count_at = 1 + 2 + 4 if flexible else 2 + 2 + 4  # transactional id (null), acks, timeout
    claimed = _uv(MAX_COLLECTION_SIZE + 2) if flexible else struct.pack(">i", MAX_COLLECTION_SIZE + 1)
    old = 1 if flexible else 4
    data = memoryview(body[:count_at] + claimed + body[count_at + old:] + bytes(2 * ONE_MB))
    errors = []
    for decode in (lambda: decode_produce_request(data, 0, version), lambda: ProduceRequest.decode(data, 0, version)):
        with pytest.raises(WireError) as info:
            decode()
        errors.append((info.value.api, info.value.field, info.value.offset, str(info.value)))
    assert errors[0] == errors[1]
    assert errors[0][1] == "topic_data" and "exceeds the maximum" in errors[0][3]


def test_huge_counts_in_a_frame_allocate_nothing_of_their_size() -> None:
    """A 3 MB Metadata request claiming 2,000,000 topics is refused without building
    a list of that size (16 MB of pointers alone), from the frame as the broker has it."""
    frame = struct.pack(">hhih", 3, 12, 1, -1) + b"\x00" + _uv(2_000_001) + bytes(3 * ONE_MB)
    decoder = RequestDecoder(max_request_size=8 * ONE_MB, decode_bodies=False)
    decoder.receive_data(struct.pack(">i", len(frame)) + frame)
    header, body = decoder.next_request()
    with pytest.raises(WireError):  # once first: importing the message module is not what is measured
        decode_request_body(header, body)
    tracemalloc.start()
    try:
        with pytest.raises(WireError) as info:
            decode_request_body(header, body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (info.value.api, info.value.version, info.value.field) == ("MetadataRequest", 12, "topics")
    assert peak < ONE_MB
