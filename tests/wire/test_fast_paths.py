"""The hand-tuned paths give exactly what the generated code gives: same values
decoded, same bytes encoded, same WireError on bad input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkapy.wire.buffers import FileRegion
from kafkapy.wire.codec import encode_response
from kafkapy.wire.errors import WireError
from kafkapy.wire.fetch_fast import encode_fetch_response
from kafkapy.wire.headers import RequestHeader
from kafkapy.wire.messages.fetch import FetchResponse
from kafkapy.wire.messages.metadata import MetadataResponse
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.metadata_fast import (
    MetadataEncoder,
    encode_metadata_response,
    encode_metadata_topic,
)
from kafkapy.wire.produce_fast import decode_produce_request, encode_produce_response
from tests.wire.message_strategies import message_strategy

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _bytes(chunks: list) -> list:
    """Chunks as comparable values (FileRegions stay as they are)."""
    out, cur = [], bytearray()
    for c in chunks:
        if isinstance(c, FileRegion):
            out += [bytes(cur), c]
            cur = bytearray()
        else:
            cur += c
    return out + [bytes(cur)]


@pytest.mark.parametrize("version", range(3, 14))
@SETTINGS
@given(data=st.data())
def test_produce_request_decode(version: int, data: st.DataObject) -> None:
    msg = data.draw(message_strategy("ProduceRequest", version))
    encoded = msg.to_bytes(version)
    prefix = data.draw(st.binary(max_size=3))
    buf = memoryview(prefix + encoded)
    fast = decode_produce_request(buf, len(prefix), version)
    assert fast == ProduceRequest.decode(buf, len(prefix), version)
    for records in (p.records for t in fast[0].topic_data for p in t.partition_data):
        assert records is None or (isinstance(records, memoryview) and records.obj is buf.obj)
    # corrupt input: the same outcome as the generic decoder, error for error
    mutated = bytearray(encoded)
    if mutated:
        for _ in range(data.draw(st.integers(1, 3))):
            mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    for bad in (memoryview(bytes(mutated)), memoryview(bytes(mutated[:cut]))):
        try:
            expected = ProduceRequest.decode(bad, 0, version)
        except WireError as e:
            with pytest.raises(WireError) as got:
                decode_produce_request(bad, 0, version)
            assert (got.value.field, got.value.offset, str(got.value)) == (e.field, e.offset, str(e))
        else:
            assert decode_produce_request(bad, 0, version) == expected


@pytest.mark.parametrize("version", range(3, 14))
@SETTINGS
@given(data=st.data())
def test_produce_response_encode(version: int, data: st.DataObject) -> None:
    resp = data.draw(message_strategy("ProduceResponse", version))
    header = RequestHeader(0, version, data.draw(st.integers(0, 2**31 - 1)), "c")
    assert _bytes(encode_produce_response(header, resp)) == _bytes(encode_response(header, resp))


_records = st.one_of(
    st.none(), st.binary(max_size=700), st.binary(max_size=700).map(memoryview),
    st.builds(FileRegion, st.integers(0, 100), st.integers(0, 1000), st.integers(0, 5000)),
    st.lists(st.one_of(st.binary(max_size=600), st.builds(FileRegion, st.just(3), st.just(0), st.integers(1, 900))),
             max_size=3),
)


@pytest.mark.parametrize("version", range(4, 19))
@SETTINGS
@given(data=st.data())
def test_fetch_response_encode(version: int, data: st.DataObject) -> None:
    resp = data.draw(message_strategy("FetchResponse", version))
    for t in resp.responses:
        for p in t.partitions:
            p.records = data.draw(_records)
    header = RequestHeader(1, version, 9, "c")
    assert _bytes(encode_fetch_response(header, resp)) == _bytes(encode_response(header, resp))



@pytest.mark.parametrize("version", range(14))
@SETTINGS
@given(data=st.data())
def test_metadata_response_encode(version: int, data: st.DataObject) -> None:
    resp = data.draw(message_strategy("MetadataResponse", version))
    header = RequestHeader(3, version, 5, "c")
    expected = _bytes(encode_response(header, resp))
    assert _bytes(encode_metadata_response(header, resp)) == expected
    fragments = [encode_metadata_topic(t, version) for t in resp.topics]
    assert _bytes(encode_metadata_response(header, resp, fragments)) == expected
    encoder = MetadataEncoder()
    assert _bytes(encoder.encode(header, resp)) == expected == _bytes(encoder.encode(header, resp))


def test_metadata_partition_with_many_replicas() -> None:
    part = MetadataResponse.MetadataResponsePartition(replica_nodes=list(range(300)), isr_nodes=[1],
                                                      offline_replicas=list(range(130)))
    resp = MetadataResponse(topics=[MetadataResponse.MetadataResponseTopic(name="t", partitions=[part])])
    for version in (8, 12):
        header = RequestHeader(3, version, 5, "c")
        assert _bytes(encode_metadata_response(header, resp)) == _bytes(encode_response(header, resp))


def test_fetch_records_are_not_copied() -> None:
    records = memoryview(bytes(16384))
    resp = FetchResponse(responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[
        FetchResponse.PartitionData(records=records)])])
    chunks = encode_fetch_response(RequestHeader(1, 12, 1, "c"), resp)
    assert any(c is records for c in chunks)


@pytest.mark.parametrize("size", [0, 126, 127, 128, 16383, 16384, 16430, 2**21 - 1, 2**21 + 5])
@pytest.mark.parametrize("version", [3, 9, 13])
def test_produce_request_decode_record_sizes(size: int, version: int) -> None:
    req = ProduceRequest(acks=-1, timeout_ms=5, topic_data=[ProduceRequest.TopicProduceData(
        name="t" if version < 13 else "", topic_id=bytes(16) if version < 13 else b"\x02" * 16,
        partition_data=[ProduceRequest.PartitionProduceData(index=i, records=bytes([i]) * size)
                        for i in range(2)])])
    buf = memoryview(req.to_bytes(version))
    fast, end = decode_produce_request(buf, 0, version)
    assert (fast, end) == ProduceRequest.decode(buf, 0, version) and end == len(buf)
    assert fast == req
