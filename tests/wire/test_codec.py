"""Framing and the client/broker codec pair: a ClientCodec talks to a RequestDecoder
and the peer decodes what was sent; oversize frames, EOF, poisoning."""

from __future__ import annotations

import pytest

from kafkapy.wire.apis import ApiKey, api_info
from kafkapy.wire.buffers import FileRegion
from kafkapy.wire.codec import (
    CLOSED,
    NEED_DATA,
    ClientCodec,
    RequestDecoder,
    decode_request_body,
    encode_response,
)
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.headers import RequestHeader, decode_request_header
from kafkapy.wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkapy.wire.messages.produce import ProduceRequest, ProduceResponse
from kafkapy.wire.messages.vote import VoteRequest, VoteResponse


def _join(chunks: list) -> bytes:
    return b"".join(bytes(c) for c in chunks)


class CodecPair:
    """A client codec and a broker decoder wired back to back (h11's ConnectionPair)."""

    def __init__(self, **kw: object) -> None:
        self.client = ClientCodec("test-client")
        self.broker = RequestDecoder(**kw)  # type: ignore[arg-type]

    def request(self, body, version: int, split: int = 0):
        cid, chunks = self.client.encode_request(body, version)
        data = _join(chunks)
        step = split or len(data)
        for i in range(0, len(data), step):
            assert self.broker.next_request() is NEED_DATA
            self.broker.receive_data(data[i:i + step])
        header, got = self.broker.next_request()
        assert header.correlation_id == cid and got == body
        assert self.broker.next_request() is NEED_DATA
        return header

    def respond(self, header: RequestHeader, body, version: int | None = None):
        self.client.receive_data(_join(encode_response(header, body, version)))
        cid, got = self.client.next_response()
        assert cid == header.correlation_id and got == body
        return got


@pytest.mark.parametrize("version", [3, 8, 9, 11, 13])
def test_produce_both_ways(version: int) -> None:
    pair = CodecPair()
    req = ProduceRequest(acks=-1, timeout_ms=30000, topic_data=[ProduceRequest.TopicProduceData(
        name="t" if version < 13 else "", topic_id=bytes(16) if version < 13 else b"\x01" * 16,
        partition_data=[ProduceRequest.PartitionProduceData(index=0, records=b"r" * 3000)])])
    header = pair.request(req, version, split=1000)
    assert header.header_version == (2 if version >= 9 else 1)
    pair.respond(header, ProduceResponse(responses=[ProduceResponse.TopicProduceResponse(
        name="t" if version < 13 else "", topic_id=bytes(16) if version < 13 else b"\x01" * 16,
        partition_responses=[ProduceResponse.PartitionProduceResponse(index=0, base_offset=42)])]))


def test_vote_both_ways() -> None:
    pair = CodecPair()
    req = VoteRequest(cluster_id="c", voter_id=2, topics=[VoteRequest.TopicData(topic_name="__cluster_metadata",
        partitions=[VoteRequest.PartitionData(replica_epoch=3, replica_id=1, last_offset_epoch=2, last_offset=10,
                                              pre_vote=True)])])
    header = pair.request(req, 2)
    pair.respond(header, VoteResponse(topics=[VoteResponse.TopicData(topic_name="__cluster_metadata",
        partitions=[VoteResponse.PartitionData(leader_id=1, leader_epoch=3, vote_granted=True)])],
        node_endpoints=[VoteResponse.NodeEndpoint(node_id=1, host="h", port=9093)]))


def test_pipelined_requests_in_one_read() -> None:
    client, broker = ClientCodec(), RequestDecoder()
    bodies = [ApiVersionsRequest(client_software_name="x", client_software_version=str(i)) for i in range(3)]
    broker.receive_data(b"".join(_join(client.encode_request(b, 3)[1]) for b in bodies))
    got = [broker.next_request() for _ in range(3)]
    assert [g[1] for g in got] == bodies and [g[0].correlation_id for g in got] == [0, 1, 2]
    assert broker.next_request() is NEED_DATA
    broker.receive_data(b"")
    assert broker.next_request() is CLOSED


def test_api_versions_response_header_is_v0_and_newer_versions_are_answered() -> None:
    client, broker = ClientCodec(), RequestDecoder()
    broker.receive_data(_join(client.encode_request(ApiVersionsRequest(), 4)[1]))
    header, body = broker.next_request()
    chunks = encode_response(header, ApiVersionsResponse(), 4)
    assert _join(chunks)[4:8] == b"\x00\x00\x00\x00" and _join(chunks)[8:10] == b"\x00\x00"  # no tag byte
    # ApiVersions v9, unknown to us: header v2, body not decoded, answered with v0
    frame = b"\x00\x12\x00\x09\x00\x00\x00\x07\x00\x01c\x00" + b"\x00garbage"
    broker.receive_data(len(frame).to_bytes(4, "big") + frame)
    header, body = broker.next_request()
    assert body is None and header.correlation_id == 7 and header.header_version == 2


def test_null_client_id_reads_as_empty() -> None:
    header, pos = decode_request_header(memoryview(b"\x00\x03\x00\x01\x00\x00\x00\x09\xff\xff"))
    assert header.client_id == "" and pos == 10


def test_oversize_frame_is_refused_before_buffering() -> None:
    broker = RequestDecoder(max_request_size=1000)
    broker.receive_data(b"\x00\x00\x03\xe9")
    with pytest.raises(WireError, match="frame size 1001"):
        broker.next_request()
    with pytest.raises(WireError):  # poisoned
        broker.next_request()


def test_negative_frame_size() -> None:
    broker = RequestDecoder()
    broker.receive_data(b"\x80\x00\x00\x00")
    with pytest.raises(WireError):
        broker.next_request()


def test_eof_inside_frame() -> None:
    broker = RequestDecoder()
    broker.receive_data(b"\x00\x00\x00\x10abc")
    assert broker.next_request() is NEED_DATA
    broker.receive_data(b"")
    with pytest.raises(WireError, match="closed"):
        broker.next_request()


def test_unknown_key_and_unsupported_version_poison() -> None:
    for frame, code in ((b"\x03\xe7\x00\x00\x00\x00\x00\x01\xff\xff", ErrorCode.INVALID_REQUEST),
                        (b"\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff", ErrorCode.UNSUPPORTED_VERSION)):
        broker = RequestDecoder()
        broker.receive_data(len(frame).to_bytes(4, "big") + frame)
        with pytest.raises(WireError) as e:
            broker.next_request()
        assert e.value.error_code == code
        broker.receive_data(b"more")
        with pytest.raises(WireError):
            broker.next_request()


def test_decode_bodies_false_returns_the_body_view() -> None:
    client, broker = ClientCodec(), RequestDecoder(decode_bodies=False)
    req = ProduceRequest(acks=1, topic_data=[])
    broker.receive_data(_join(client.encode_request(req, 9)[1]))
    header, body = broker.next_request()
    assert isinstance(body, memoryview) and decode_request_body(header, body) == req


def test_frame_in_one_piece_is_not_copied() -> None:
    client, broker = ClientCodec(), RequestDecoder()
    records = bytes(5000)
    data = _join(client.encode_request(ProduceRequest(topic_data=[ProduceRequest.TopicProduceData(
        name="t", partition_data=[ProduceRequest.PartitionProduceData(records=records)])]), 9)[1])
    broker.receive_data(data)
    _, body = broker.next_request()
    assert body.topic_data[0].partition_data[0].records.obj is data


def test_response_chunks_carry_file_regions() -> None:
    from kafkapy.wire.messages.fetch import FetchResponse
    header = RequestHeader(ApiKey.FETCH, 12, 5, "c", 2)
    region = FileRegion(3, 0, 4000)
    chunks = encode_response(header, FetchResponse(responses=[FetchResponse.FetchableTopicResponse(
        topic="t", partitions=[FetchResponse.PartitionData(records=region)])]))
    assert region in chunks
    total = sum(c.length if isinstance(c, FileRegion) else len(c) for c in chunks)
    assert int.from_bytes(bytes(chunks[0][:4]), "big") == total - 4


def test_header_versions_follow_the_table() -> None:
    produce = api_info(ApiKey.PRODUCE)
    assert (produce.request_header_version(8), produce.request_header_version(9)) == (1, 2)
    assert (produce.response_header_version(8), produce.response_header_version(9)) == (0, 1)
    api_versions = api_info(ApiKey.API_VERSIONS)
    assert api_versions.response_header_version(4) == 0 and api_versions.request_header_version(3) == 2
    assert api_info(ApiKey.VOTE).flexible_since == 0 and api_info(ApiKey.VOTE).max_version == 2
