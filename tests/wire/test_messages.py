"""Generated messages: round trips for every API and version, golden bytes both
ways, tagged fields, zero-copy records, errors naming field and offset."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkapy.wire.buffers import FileRegion, Writer
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkapy.wire.messages.fetch import FetchResponse
from kafkapy.wire.messages.heartbeat import HeartbeatRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.produce import ProduceRequest, ProduceResponse
from tests.wire.message_strategies import all_versions, message_strategy

ALL = all_versions(("request", "response", "data", "metadata", "coordinator-key", "coordinator-value"))


@pytest.mark.parametrize("name,version", ALL, ids=[f"{n}-v{v}" for n, v in ALL])
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_round_trip(name: str, version: int, data: st.DataObject) -> None:
    msg = data.draw(message_strategy(name, version))
    encoded = msg.to_bytes(version)
    decoded = type(msg).from_bytes(encoded, version)
    assert decoded == msg
    assert decoded.to_bytes(version) == encoded


def _p(msg, version):
    return (type(msg).__name__, version, msg)


# (message, version, bytes): checked both ways. Bytes written out by hand from the
# protocol guide's layouts.
CASES = [
    (HeartbeatRequest(group_id="g", generation_id=5, member_id="m"), 0,
     (b"\x00\x01g" b"\x00\x00\x00\x05" b"\x00\x01m")),
    (HeartbeatRequest(group_id="g", generation_id=5, member_id="m", group_instance_id=None), 4,
     # compact strings (length + 1), null compact string, empty tagged fields
     (b"\x02g" b"\x00\x00\x00\x05" b"\x02m" b"\x00" b"\x00")),
    (MetadataRequest(topics=None, allow_auto_topic_creation=True), 4,
     (b"\xff\xff\xff\xff" b"\x01")),
    (MetadataRequest(topics=[], allow_auto_topic_creation=False), 4,
     (b"\x00\x00\x00\x00" b"\x00")),
    (ApiVersionsRequest(client_software_name="k", client_software_version="1"), 3,
     (b"\x02k" b"\x021" b"\x00")),
    (ApiVersionsResponse(error_code=0, api_keys=[ApiVersionsResponse.ApiVersion(api_key=18, min_version=0, max_version=4)],
                         throttle_time_ms=0), 3,
     (b"\x00\x00" b"\x02" b"\x00\x12\x00\x00\x00\x04\x00" b"\x00\x00\x00\x00" b"\x00")),
    (ProduceResponse(responses=[ProduceResponse.TopicProduceResponse(name="t", partition_responses=[
        ProduceResponse.PartitionProduceResponse(index=0, base_offset=7, current_leader=ProduceResponse.LeaderIdAndEpoch(
            leader_id=1, leader_epoch=2))])]), 10,
     (b"\x02" b"\x02t" b"\x02" b"\x00\x00\x00\x00" b"\x00\x00" b"\x00\x00\x00\x00\x00\x00\x00\x07"
      b"\xff\xff\xff\xff\xff\xff\xff\xff" b"\xff\xff\xff\xff\xff\xff\xff\xff"
      b"\x01" b"\x00"  # empty record_errors, null error_message
      # one tagged field: tag 0 (CurrentLeader), 9 bytes: leader 1, epoch 2, no tags
      b"\x01" b"\x00\x09" b"\x00\x00\x00\x01\x00\x00\x00\x02\x00"
      b"\x00" b"\x00\x00\x00\x00" b"\x00")),
]


@pytest.mark.parametrize("msg,version,golden", CASES, ids=[f"{type(c[0]).__name__}-v{c[1]}" for c in CASES])
def test_golden(msg, version: int, golden: bytes) -> None:
    assert msg.to_bytes(version) == golden
    assert type(msg).from_bytes(golden, version) == msg


def test_unknown_tagged_fields_are_skipped() -> None:
    golden = b"\x02g" b"\x00\x00\x00\x05" b"\x02m" b"\x00"
    with_tags = golden + b"\x02" + b"\x05\x03abc" + b"\x7f\x00"
    msg = HeartbeatRequest.from_bytes(with_tags, 4)
    assert msg == HeartbeatRequest(group_id="g", generation_id=5, member_id="m")


def test_tagged_field_at_default_is_not_written() -> None:
    resp = ProduceResponse.PartitionProduceResponse(index=0)
    w = Writer()
    resp.encode(10, w)
    assert w.getvalue().endswith(b"\x00\x00")  # empty record_errors... no tags
    assert len(w.getvalue()) == len(ProduceResponse.PartitionProduceResponse(index=0).to_bytes(9))


def test_records_decode_is_a_view_of_the_input() -> None:
    batch = bytes(range(200)) * 10
    req = ProduceRequest(acks=1, timeout_ms=10, topic_data=[ProduceRequest.TopicProduceData(
        name="t", partition_data=[ProduceRequest.PartitionProduceData(index=3, records=batch)])])
    for v in (3, 9, 12):
        buf = memoryview(req.to_bytes(v))
        got, _ = ProduceRequest.decode(buf, 0, v)
        records = got.topic_data[0].partition_data[0].records
        assert isinstance(records, memoryview) and records.obj is buf.obj
        assert records == batch


def test_records_encode_passes_pieces_through() -> None:
    view = memoryview(bytes(4096))
    region = FileRegion(fd=7, position=100, length=5000)
    resp = FetchResponse(responses=[FetchResponse.FetchableTopicResponse(topic="t", partitions=[
        FetchResponse.PartitionData(partition_index=0, records=[view, region])])])
    for v in (4, 12, 16):
        w = Writer()
        resp.encode(v, w)
        chunks = w.finish()
        assert any(c is view for c in chunks) and region in chunks
        before = bytes(chunks[0])
        prefix = (9096 + 1).to_bytes(2, "big") if v >= 12 else (9096).to_bytes(4, "big")
        if v >= 12:  # unsigned varint 9097
            prefix = bytes([(9097 & 0x7F) | 0x80, 9097 >> 7])
        assert before.endswith(prefix)


def test_decode_error_names_field_and_offset() -> None:
    req = ProduceRequest(acks=1, timeout_ms=10, topic_data=[ProduceRequest.TopicProduceData(
        name="t", partition_data=[ProduceRequest.PartitionProduceData(index=3, records=b"x" * 10)])])
    data = bytearray(req.to_bytes(3))
    # v3: nullable string (2) acks (2) timeout (4) array (4) name (2+1) array (4) index (4) -> records length
    at = 2 + 2 + 4 + 4 + 3 + 4 + 4
    data[at:at + 4] = (2**31 - 1).to_bytes(4, "big")
    with pytest.raises(WireError) as e:
        ProduceRequest.from_bytes(bytes(data), 3)
    assert e.value.field == "topic_data.partition_data.records"
    assert e.value.offset == at
    assert e.value.api == "ProduceRequest" and e.value.version == 3
    assert e.value.error_code == ErrorCode.INVALID_REQUEST
    with pytest.raises(WireError) as e:
        ProduceRequest.from_bytes(bytes(data[:at + 2]), 3)
    assert e.value.field == "topic_data.partition_data.records" and "truncated" in str(e.value)


def test_bad_utf8_and_unknown_version() -> None:
    with pytest.raises(WireError) as e:
        HeartbeatRequest.from_bytes(b"\x00\x01\xff" b"\x00\x00\x00\x05" b"\x00\x01m", 0)
    assert e.value.field == "group_id" and e.value.offset == 0 and "UTF-8" in str(e.value)
    with pytest.raises(WireError) as e:
        HeartbeatRequest.from_bytes(b"", 99)
    assert e.value.error_code == ErrorCode.UNSUPPORTED_VERSION


def test_constructor_defaults_follow_the_schema() -> None:
    p = ProduceResponse.PartitionProduceResponse()
    assert (p.log_append_time_ms, p.log_start_offset, p.record_errors, p.error_message) == (-1, -1, [], None)
    assert p.current_leader == ProduceResponse.LeaderIdAndEpoch(leader_id=-1, leader_epoch=-1)
    a, b = ProduceRequest(), ProduceRequest()
    assert a.topic_data == [] and a.topic_data is not b.topic_data
    assert MetadataRequest().topics == [] and MetadataRequest(topics=None).topics is None
