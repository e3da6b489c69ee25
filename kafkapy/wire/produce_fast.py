"""Hand-tuned Produce codec: the request decoder and the response encoder.

Same results as the generated ``ProduceRequest.decode`` and ``encode_response`` on
a ``ProduceResponse`` (tests compare them byte for byte and value for value), with
the per-field function calls of the generic path inlined. Records stay memoryviews
of the request frame. Any input the inlined decoder does not accept is handed to
the generic decoder, which raises the precise WireError (field path, offset).
"""

from __future__ import annotations

import struct

from kafkapy.wire.buffers import Chunk, Writer, write_uvarint
from kafkapy.wire.headers import RequestHeader
from kafkapy.wire.message import new
from kafkapy.wire.messages.produce import ProduceRequest, ProduceResponse
from kafkapy.wire.primitives import (
    MAX_COLLECTION_SIZE,
    ZERO_UUID,
    Malformed,
    r_skip_tags,
    r_uv,
    w_cstr,
    w_ncstr,
    w_nstr,
    w_str,
)

__all__ = ["decode_produce_request", "encode_produce_response"]

_u_hi = struct.Struct(">hi").unpack_from
_u_i = struct.Struct(">i").unpack_from
_u_iB = struct.Struct(">iB").unpack_from
_u_h = struct.Struct(">h").unpack_from
_p_i = struct.Struct(">i").pack
_p_ihqq = struct.Struct(">ihqq").pack
_p_ihqqq = struct.Struct(">ihqqq").pack
_p_ii = struct.Struct(">ii").pack

_MAX_COMPACT = MAX_COLLECTION_SIZE + 1  # compact counts are stored plus one
_Topic = ProduceRequest.TopicProduceData
_Partition = ProduceRequest.PartitionProduceData


def decode_produce_request(buf: memoryview, pos: int, version: int) -> tuple[ProduceRequest, int]:
    """Decode a Produce request body at ``pos``; as ``ProduceRequest.decode``.

    Raises:
        WireError: as the generated decoder does, for the same inputs.
    """
    try:
        if 9 <= version <= 13:
            return _decode_flexible(buf, pos, version)
        if 3 <= version <= 8:
            return _decode_classic(buf, pos)
    except Exception:  # noqa: BLE001, S110  # malformed: the generic decoder says exactly where
        pass
    return ProduceRequest.decode(buf, pos, version)


def _decode_flexible(buf: memoryview, pos: int, version: int) -> tuple[ProduceRequest, int]:
    size = len(buf)
    n = buf[pos]
    if n < 0x80:
        pos += 1
    else:
        n, pos = r_uv(buf, pos)
    if n:
        end = pos + n - 1
        if end > size:
            raise Malformed("transactional_id", pos)
        transactional_id = str(buf[pos:end], "utf-8")
        pos = end
    else:
        transactional_id = None
    acks, timeout_ms = _u_hi(buf, pos)
    pos += 6
    n = buf[pos]
    if n < 0x80:
        pos += 1
    else:
        n, pos = r_uv(buf, pos)
    if n == 0 or n - 1 > size - pos or n > _MAX_COMPACT:
        raise Malformed("topic_data", pos)
    topics = []
    for _ in range(n - 1):
        t = new(_Topic)
        if version < 13:
            m = buf[pos]
            if m < 0x80:
                pos += 1
            else:
                m, pos = r_uv(buf, pos)
            end = pos + m - 1
            if m == 0 or end > size:
                raise Malformed("name", pos)
            t.name = str(buf[pos:end], "utf-8")
            t.topic_id = ZERO_UUID
            pos = end
        else:
            t.name = ""
            t.topic_id = bytes(buf[pos:pos + 16])
            if len(t.topic_id) != 16:
                raise Malformed("topic_id", pos)
            pos += 16
        m = buf[pos]
        if m < 0x80:
            pos += 1
        else:
            m, pos = r_uv(buf, pos)
        if m == 0 or m - 1 > size - pos or m > _MAX_COMPACT:
            raise Malformed("partition_data", pos)
        t.partition_data = parts = []
        for _ in range(m - 1):
            p = new(_Partition)
            p.index, k = _u_iB(buf, pos)
            pos += 5
            if k >= 0x80:  # records longer than 126 bytes: a multi-byte varint
                c = buf[pos]
                k = (k & 0x7F) | ((c & 0x7F) << 7)
                if c < 0x80:
                    pos += 1
                else:
                    c = buf[pos + 1]
                    if c < 0x80:  # up to 2 MB
                        k |= c << 14
                        pos += 2
                    else:
                        k, pos = r_uv(buf, pos - 1)
            if k:
                end = pos + k - 1
                if end > size:
                    raise Malformed("records", pos)
                p.records = buf[pos:end]
                pos = end
            else:
                p.records = None
            if buf[pos]:
                pos = r_skip_tags(buf, pos)
            else:
                pos += 1
            parts.append(p)
        if buf[pos]:
            pos = r_skip_tags(buf, pos)
        else:
            pos += 1
        topics.append(t)
    if buf[pos]:
        pos = r_skip_tags(buf, pos)
    else:
        pos += 1
    req = new(ProduceRequest)
    req.transactional_id = transactional_id
    req.acks = acks
    req.timeout_ms = timeout_ms
    req.topic_data = topics
    return req, pos


def _decode_classic(buf: memoryview, pos: int) -> tuple[ProduceRequest, int]:
    size = len(buf)
    n = _u_h(buf, pos)[0]
    pos += 2
    if n >= 0:
        end = pos + n
        if end > size:
            raise Malformed("transactional_id", pos)
        transactional_id = str(buf[pos:end], "utf-8")
        pos = end
    elif n == -1:
        transactional_id = None
    else:
        raise Malformed("transactional_id", pos)
    acks, timeout_ms, n = struct.unpack_from(">hii", buf, pos)
    pos += 10
    if n < 0 or n > size - pos or n > MAX_COLLECTION_SIZE:
        raise Malformed("topic_data", pos)
    topics = []
    for _ in range(n):
        t = new(_Topic)
        m = _u_h(buf, pos)[0]
        end = pos + 2 + m
        if m < 0 or end > size:
            raise Malformed("name", pos)
        t.name = str(buf[pos + 2:end], "utf-8")
        t.topic_id = ZERO_UUID
        m = _u_i(buf, end)[0]
        pos = end + 4
        if m < 0 or m > size - pos or m > MAX_COLLECTION_SIZE:
            raise Malformed("partition_data", pos)
        t.partition_data = parts = []
        for _ in range(m):
            p = new(_Partition)
            p.index, k = struct.unpack_from(">ii", buf, pos)
            pos += 8
            if k >= 0:
                end = pos + k
                if end > size:
                    raise Malformed("records", pos)
                p.records = buf[pos:end]
                pos = end
            elif k == -1:
                p.records = None
            else:
                raise Malformed("records", pos)
            parts.append(p)
        topics.append(t)
    req = new(ProduceRequest)
    req.transactional_id = transactional_id
    req.acks = acks
    req.timeout_ms = timeout_ms
    req.topic_data = topics
    return req, pos


def encode_produce_response(header: RequestHeader, response: ProduceResponse,
                            version: int | None = None) -> list[Chunk]:
    """The response frame, as ``codec.encode_response(header, response, version)``."""
    if version is None:
        version = header.request_api_version
    if not 3 <= version <= 13:
        from kafkapy.wire.codec import encode_response
        return encode_response(header, response, version)
    flexible = version >= 9
    b = bytearray(b"\0\0\0\0")
    b += _p_i(header.correlation_id)
    if flexible:
        b.append(0)
    w = None
    topics = response.responses
    n = len(topics)
    if flexible:
        write_uvarint(b, n + 1)
    else:
        b += _p_i(n)
    for t in topics:
        if version >= 13:
            b += t.topic_id
        elif flexible:
            w_cstr(b, t.name)
        else:
            w_str(b, t.name)
        parts = t.partition_responses
        if flexible:
            write_uvarint(b, len(parts) + 1)
        else:
            b += _p_i(len(parts))
        for p in parts:
            if version >= 5:
                b += _p_ihqqq(p.index, p.error_code, p.base_offset, p.log_append_time_ms, p.log_start_offset)
            else:
                b += _p_ihqq(p.index, p.error_code, p.base_offset, p.log_append_time_ms)
            if version < 8:
                continue
            errors = p.record_errors
            if errors:
                w = w or Writer()
                enc = ProduceResponse.BatchIndexAndErrorMessage._encoders[version]
                if flexible:
                    write_uvarint(b, len(errors) + 1)
                else:
                    b += _p_i(len(errors))
                for e in errors:
                    b = enc(e, w, b)
            elif flexible:
                b.append(1)
            else:
                b += b"\0\0\0\0"
            if flexible:
                w_ncstr(b, p.error_message)
                leader = p.current_leader
                if version >= 10 and (leader.leader_id != -1 or leader.leader_epoch != -1):
                    b += b"\x01\x00\x09"  # one tagged field: tag 0 (CurrentLeader), 9 bytes
                    b += _p_ii(leader.leader_id, leader.leader_epoch)
                    b.append(0)  # CurrentLeader's own empty tag section
                else:
                    b.append(0)
            else:
                w_nstr(b, p.error_message)
        if flexible:
            b.append(0)
    b += _p_i(response.throttle_time_ms)
    if flexible:
        endpoints = response.node_endpoints
        if version >= 10 and endpoints:
            w = w or Writer()
            t = bytearray()
            write_uvarint(t, len(endpoints) + 1)
            enc = ProduceResponse.NodeEndpoint._encoders[version]
            for e in endpoints:
                t = enc(e, w, t)
            b += b"\x01\x00"
            write_uvarint(b, len(t))
            b += t
        else:
            b.append(0)
    b[0:4] = _p_i(len(b) - 4)
    return [b]

